/* Unit tests for scram: key derivation against the RFC 5802 / RFC 7677 test
 * vectors, the stored password form, PLAIN verification, fake records
 * (AUTH-2, AUTH-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scram.h"

struct rfc_vector {
    bool sha256;
    const char *password;
    const char *salt_b64;
    unsigned iterations;
    const char *auth_message;
    const char *client_proof_b64;
    const char *server_signature_b64;
};

/* RFC 5802 section 5 (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256). */
static const struct rfc_vector rfc5802 = {
    false, "pencil", "QSXCR+Q6sek8bf92", 4096,
    "n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
    "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const struct rfc_vector rfc7677 = {
    true, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096,
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

/* ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage);
 * ServerSignature = HMAC(ServerKey, AuthMessage). Both base64, malloc'd. */
static void proof_and_signature(bool sha256, const unsigned char *stored_key,
                                const unsigned char *server_key,
                                const unsigned char *client_key,
                                const char *auth_message, char **proof_b64,
                                char **signature_b64)
{
    size_t len = sha256 ? SCRAM_SHA256_LEN : SCRAM_SHA1_LEN;
    unsigned char signature[SCRAM_SHA256_LEN];
    unsigned char proof[SCRAM_SHA256_LEN];
    scram_hmac(sha256, stored_key, len, auth_message, strlen(auth_message), signature);
    for (size_t i = 0; i < len; i++)
        proof[i] = client_key[i] ^ signature[i];
    *proof_b64 = scram_base64_encode(proof, len);
    scram_hmac(sha256, server_key, len, auth_message, strlen(auth_message), signature);
    *signature_b64 = scram_base64_encode(signature, len);
}

static void check_rfc_vector(const struct rfc_vector *v)
{
    unsigned char *salt;
    size_t salt_len;
    assert_int_equal(scram_base64_decode(v->salt_b64, strlen(v->salt_b64), &salt,
                                         &salt_len), 0);
    unsigned char salted[SCRAM_SHA256_LEN];
    unsigned char stored_key[SCRAM_SHA256_LEN], server_key[SCRAM_SHA256_LEN];
    unsigned char client_key[SCRAM_SHA256_LEN];
    assert_int_equal(scram_salted_password(v->sha256, v->password, salt, salt_len,
                                           v->iterations, salted), 0);
    scram_keys_from_salted(v->sha256, salted, stored_key, server_key, client_key);
    char *proof, *signature;
    proof_and_signature(v->sha256, stored_key, server_key, client_key,
                        v->auth_message, &proof, &signature);
    assert_string_equal(proof, v->client_proof_b64);
    assert_string_equal(signature, v->server_signature_b64);
    free(proof);
    free(signature);
    free(salt);
}

static void test_rfc5802_sha1_vector_auth2(void **state)
{
    (void)state;
    check_rfc_vector(&rfc5802);
}

static void test_rfc7677_sha256_vector_auth2(void **state)
{
    (void)state;
    check_rfc_vector(&rfc7677);
}

/* AUTH-2: a record derived with the RFC 7677 salt (16 bytes) holds keys
 * that reproduce the RFC's ServerSignature, and verifies "pencil". */
static void test_derive_record_matches_rfc7677_auth2(void **state)
{
    (void)state;
    unsigned char *salt;
    size_t salt_len;
    assert_int_equal(scram_base64_decode(rfc7677.salt_b64, strlen(rfc7677.salt_b64),
                                         &salt, &salt_len), 0);
    assert_int_equal(salt_len, SCRAM_SALT_LEN);
    struct scram_record rec;
    assert_int_equal(scram_derive_record("pencil", salt, 4096, &rec), 0);
    unsigned char signature[SCRAM_SHA256_LEN];
    scram_hmac(true, rec.sha256_server_key, SCRAM_SHA256_LEN, rfc7677.auth_message,
               strlen(rfc7677.auth_message), signature);
    char *b64 = scram_base64_encode(signature, sizeof signature);
    assert_string_equal(b64, rfc7677.server_signature_b64);
    free(b64);
    assert_true(scram_verify_plain(&rec, "pencil"));
    assert_false(scram_verify_plain(&rec, "pencil2"));
    free(salt);
}

/* AUTH-2: the stored form, default and minimum iterations, random salt. */
static void test_hash_password_stored_form_auth2(void **state)
{
    (void)state;
    char *stored = scram_hash_password("s3cret", SCRAM_DEFAULT_ITERATIONS);
    assert_non_null(stored);
    assert_memory_equal(stored, "SCRAM$10000$", 12);
    int dollars = 0;
    for (const char *p = stored; *p; p++)
        dollars += *p == '$';
    assert_int_equal(dollars, 6);

    struct scram_record rec;
    assert_int_equal(scram_parse_record(stored, &rec), 0);
    assert_int_equal(rec.iterations, 10000);
    assert_true(scram_verify_plain(&rec, "s3cret"));
    assert_false(scram_verify_plain(&rec, "s3cret "));
    assert_false(scram_verify_plain(&rec, "S3cret"));
    assert_false(scram_verify_plain(&rec, ""));

    char *again = scram_format_record(&rec);
    assert_string_equal(again, stored);
    free(again);

    char *other = scram_hash_password("s3cret", SCRAM_DEFAULT_ITERATIONS);
    assert_string_not_equal(other, stored); /* fresh salt each time */
    free(other);
    free(stored);

    stored = scram_hash_password("x", 1000); /* raised to the minimum */
    assert_memory_equal(stored, "SCRAM$4096$", 11);
    free(stored);
    stored = scram_hash_password("x", 0);
    assert_memory_equal(stored, "SCRAM$4096$", 11);
    free(stored);

    assert_null(scram_hash_password("", SCRAM_DEFAULT_ITERATIONS));
    assert_null(scram_hash_password("\x07", SCRAM_DEFAULT_ITERATIONS)); /* control char */
}

/* AUTH-2: both hashes' keys come from the same salt and count: recompute. */
static void test_record_keys_consistent_auth2(void **state)
{
    (void)state;
    struct scram_record rec;
    assert_int_equal(scram_make_record("correct horse", 4096, &rec), 0);
    for (int h = 0; h < 2; h++) {
        bool sha256 = h == 1;
        unsigned char salted[SCRAM_SHA256_LEN], stored[SCRAM_SHA256_LEN], server[SCRAM_SHA256_LEN];
        assert_int_equal(scram_salted_password(sha256, "correct horse", rec.salt,
                                               SCRAM_SALT_LEN, 4096, salted), 0);
        scram_keys_from_salted(sha256, salted, stored, server, NULL);
        if (sha256) {
            assert_memory_equal(stored, rec.sha256_stored_key, SCRAM_SHA256_LEN);
            assert_memory_equal(server, rec.sha256_server_key, SCRAM_SHA256_LEN);
        } else {
            assert_memory_equal(stored, rec.sha1_stored_key, SCRAM_SHA1_LEN);
            assert_memory_equal(server, rec.sha1_server_key, SCRAM_SHA1_LEN);
        }
    }
}

/* AUTH-2: SASLprep is applied before hashing. */
static void test_saslprep_applied_auth2(void **state)
{
    (void)state;
    struct scram_record rec;
    assert_int_equal(scram_make_record("I\xe2\x85\xa8", 4096, &rec), 0); /* "IⅨ" */
    assert_true(scram_verify_plain(&rec, "IIX"));
    assert_int_equal(scram_make_record("pencil", 4096, &rec), 0);
    assert_true(scram_verify_plain(&rec, "pen\xc2\xad" "cil")); /* soft hyphen */
    assert_true(scram_verify_plain(&rec, "pencil"));
    assert_false(scram_verify_plain(&rec, "Pencil"));
    assert_false(scram_verify_plain(&rec, "pen\xff" "cil"));
}

static char *valid_stored(void)
{
    return scram_hash_password("pw", 4096);
}

/* AUTH-2: strict parse of the stored form. */
static void test_parse_rejects_auth2(void **state)
{
    (void)state;
    char *good = valid_stored();
    struct scram_record rec;
    assert_int_equal(scram_parse_record(good, &rec), 0);

    /* fields of the good record, to rebuild broken variants */
    char *fields[7];
    char *copy = strdup(good);
    char *save = NULL;
    int n = 0;
    for (char *f = strtok_r(copy, "$", &save); f && n < 7; f = strtok_r(NULL, "$", &save))
        fields[n++] = f;
    assert_int_equal(n, 7);

    char bad[64];
    const char *cases[24];
    size_t count = 0;
    static char storage[24][512];
#define CASE(...)                                                     \
    do {                                                              \
        snprintf(storage[count], sizeof storage[count], __VA_ARGS__); \
        cases[count] = storage[count];                                \
        count++;                                                      \
    } while (0)
    CASE("%s", "");
    CASE("SCRAM");
    CASE("SCRAM$4096$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5]); /* 6 fields */
    CASE("%s$%s", good, fields[6]);                                            /* 8 fields */
    CASE("%s$", good);                                                         /* trailing $ */
    CASE("PBKDF2$4096$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("scram$4096$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$4095$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$04096$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$+4096$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$4096x$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$99999999$%s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    /* keys swapped: wrong lengths */
    CASE("SCRAM$4096$%s$%s$%s$%s$%s", fields[2], fields[5], fields[6], fields[3], fields[4]);
    /* salt of 12 bytes */
    CASE("SCRAM$4096$QSXCR+Q6sek8bf92$%s$%s$%s$%s", fields[3], fields[4], fields[5], fields[6]);
    /* bad base64: illegal char, missing padding, whitespace */
    CASE("SCRAM$4096$!%s$%s$%s$%s$%s", fields[2] + 1, fields[3], fields[4], fields[5], fields[6]);
    snprintf(bad, sizeof bad, "%s", fields[2]);
    bad[strlen(bad) - 2] = '\0'; /* drop "==" */
    CASE("SCRAM$4096$%s$%s$%s$%s$%s", bad, fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$4096$ %s$%s$%s$%s$%s", fields[2], fields[3], fields[4], fields[5], fields[6]);
    CASE("SCRAM$4096$%s$%s$%s$%s$%s\n", fields[2], fields[3], fields[4], fields[5], fields[6]);
#undef CASE

    for (size_t i = 0; i < count; i++) {
        memset(&rec, 0x55, sizeof rec);
        if (scram_parse_record(cases[i], &rec) != -1)
            fail_msg("AUTH-2: stored form accepted: '%s'", cases[i]);
        assert_int_equal(rec.iterations, 0);
    }
    free(copy);
    free(good);
}

/* Strict base64, as used by the stored form and the SASL layer. */
static void test_base64_strict_auth3(void **state)
{
    (void)state;
    static const struct { const char *in; int rc; const char *out; } cases[] = {
        { "", 0, "" },
        { "YQ==", 0, "a" },
        { "YWI=", 0, "ab" },
        { "YWJj", 0, "abc" },
        { "YQ", -1, NULL },
        { "YQ=", -1, NULL },
        { "YR==", -1, NULL },   /* non-zero spare bits */
        { "Y Q==", -1, NULL },
        { "YQ==\n", -1, NULL },
        { "Y===", -1, NULL },
        { "=", -1, NULL },
        { "YQ==YQ==", -1, NULL },
        { "!!!!", -1, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *out = (unsigned char *)"x";
        size_t len = 99;
        int rc = scram_base64_decode(cases[i].in, strlen(cases[i].in), &out, &len);
        if (rc != cases[i].rc)
            fail_msg("base64 '%s': rc %d", cases[i].in, rc);
        if (rc == 0) {
            assert_int_equal(len, strlen(cases[i].out));
            assert_memory_equal(out, cases[i].out, len);
            free(out);
        } else {
            assert_null(out);
        }
    }
    char *enc = scram_base64_encode("\0\xff", 2);
    assert_string_equal(enc, "AP8=");
    free(enc);
}

/* AUTH-3: fake records are deterministic per user, distinct between users,
 * use the configured iteration count, and match no password. */
static void test_fake_record_auth3(void **state)
{
    (void)state;
    struct scram_record a1, a2, b;
    scram_fake_record("nobody@example.com", &a1);
    scram_fake_record("nobody@example.com", &a2);
    scram_fake_record("someone@example.com", &b);
    assert_memory_equal(&a1, &a2, sizeof a1);
    assert_memory_not_equal(a1.salt, b.salt, SCRAM_SALT_LEN);
    assert_memory_not_equal(a1.sha256_stored_key, b.sha256_stored_key, SCRAM_SHA256_LEN);
    assert_int_equal(a1.iterations, SCRAM_DEFAULT_ITERATIONS);
    static const unsigned char zero[SCRAM_SHA256_LEN];
    assert_memory_not_equal(a1.sha1_server_key, zero, SCRAM_SHA1_LEN);

    scram_set_fake_iterations(20000);
    scram_fake_record("nobody@example.com", &a2);
    assert_int_equal(a2.iterations, 20000);
    assert_memory_equal(a1.salt, a2.salt, SCRAM_SALT_LEN);
    scram_set_fake_iterations(1);
    scram_fake_record("nobody@example.com", &a2);
    assert_int_equal(a2.iterations, SCRAM_MIN_ITERATIONS);
    assert_false(scram_verify_plain(&a2, "pencil"));
    assert_false(scram_verify_plain(&a2, "nobody"));
    scram_set_fake_iterations(SCRAM_DEFAULT_ITERATIONS);

    /* the stored form of a fake record parses like a real one */
    char *stored = scram_format_record(&a1);
    struct scram_record parsed;
    assert_int_equal(scram_parse_record(stored, &parsed), 0);
    assert_memory_equal(&parsed, &a1, sizeof a1);
    free(stored);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5802_sha1_vector_auth2),
        cmocka_unit_test(test_rfc7677_sha256_vector_auth2),
        cmocka_unit_test(test_derive_record_matches_rfc7677_auth2),
        cmocka_unit_test(test_hash_password_stored_form_auth2),
        cmocka_unit_test(test_record_keys_consistent_auth2),
        cmocka_unit_test(test_saslprep_applied_auth2),
        cmocka_unit_test(test_parse_rejects_auth2),
        cmocka_unit_test(test_base64_strict_auth3),
        cmocka_unit_test(test_fake_record_auth3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
