/* scram: see scram.h. */
#include "scram.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "buf.h"

#define STORED_FIELDS 7
#define FAKE_SECRET_LEN 32

static const EVP_MD *digest(bool sha256)
{
    return sha256 ? EVP_sha256() : EVP_sha1();
}

static size_t digest_len(bool sha256)
{
    return sha256 ? SCRAM_SHA256_LEN : SCRAM_SHA1_LEN;
}

/* ---- base64 ---------------------------------------------------------- */

char *scram_base64_encode(const void *data, size_t len)
{
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        abort(); /* callers encode keys and bounded SASL messages only */
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static bool base64_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Shape check: length a multiple of 4, alphabet only, '=' only as the last
 * one or two characters. Returns the number of padding characters or -1. */
static int base64_padding(const char *in, size_t len)
{
    if (len % 4 != 0)
        return -1;
    int pad = 0;
    while (pad < 2 && len > 0 && in[len - 1 - (size_t)pad] == '=')
        pad++;
    for (size_t i = 0; i < len - (size_t)pad; i++)
        if (!base64_alphabet(in[i]))
            return -1;
    return pad;
}

int scram_base64_decode(const char *in, size_t in_len, unsigned char **out,
                        size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int pad = base64_padding(in, in_len);
    if (pad < 0 || in_len > INT_MAX)
        return -1;
    unsigned char *data = xmalloc(in_len / 4 * 3 + 1);
    int n = EVP_DecodeBlock(data, (const unsigned char *)in, (int)in_len);
    if (n < 0) {
        free(data);
        return -1;
    }
    size_t len = (size_t)n - (size_t)pad;
    /* Re-encoding must give the input back: rejects non-zero spare bits. */
    char *again = scram_base64_encode(data, len);
    bool canonical = strlen(again) == in_len && memcmp(again, in, in_len) == 0;
    free(again);
    if (!canonical) {
        free(data);
        return -1;
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    return 0;
}

/* ---- primitives ------------------------------------------------------ */

void scram_hmac(bool sha256, const unsigned char *key, size_t key_len,
                const void *data, size_t data_len, unsigned char *out)
{
    unsigned int len = 0;
    if (!HMAC(digest(sha256), key, (int)key_len, data, data_len, out, &len))
        abort(); /* only on OpenSSL internal failure */
}

int scram_salted_password(bool sha256, const char *prepped_password,
                          const unsigned char *salt, size_t salt_len,
                          unsigned iterations, unsigned char *out)
{
    if (iterations == 0 || iterations > INT_MAX || salt_len > INT_MAX)
        return -1;
    return PKCS5_PBKDF2_HMAC(prepped_password, (int)strlen(prepped_password),
                             salt, (int)salt_len, (int)iterations,
                             digest(sha256), (int)digest_len(sha256), out) == 1
        ? 0 : -1;
}

void scram_keys_from_salted(bool sha256, const unsigned char *salted,
                            unsigned char *stored_key, unsigned char *server_key,
                            unsigned char *client_key)
{
    size_t len = digest_len(sha256);
    unsigned char ckey[SCRAM_SHA256_LEN];
    scram_hmac(sha256, salted, len, "Client Key", 10, ckey);
    scram_hmac(sha256, salted, len, "Server Key", 10, server_key);
    if (EVP_Digest(ckey, len, stored_key, NULL, digest(sha256), NULL) != 1)
        abort();
    if (client_key)
        memcpy(client_key, ckey, len);
    OPENSSL_cleanse(ckey, sizeof ckey);
}

/* SASLprep as a stored string (RFC 5802 2.2: unassigned code points refused);
 * the empty password is refused too. */
static char *saslprep_password(const char *password)
{
    char *prepped = NULL;
    if (stringprep_profile(password, &prepped, "SASLprep",
                           STRINGPREP_NO_UNASSIGNED) != STRINGPREP_OK)
        return NULL;
    if (prepped[0] == '\0') {
        free(prepped);
        return NULL;
    }
    return prepped;
}

static void free_secret_string(char *s)
{
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/* ---- records --------------------------------------------------------- */

static int derive_keys(bool sha256, const char *prepped, const unsigned char *salt,
                       unsigned iterations, unsigned char *stored_key,
                       unsigned char *server_key)
{
    unsigned char salted[SCRAM_SHA256_LEN];
    if (scram_salted_password(sha256, prepped, salt, SCRAM_SALT_LEN, iterations,
                              salted) != 0)
        return -1;
    scram_keys_from_salted(sha256, salted, stored_key, server_key, NULL);
    OPENSSL_cleanse(salted, sizeof salted);
    return 0;
}

int scram_derive_record(const char *password, const unsigned char *salt,
                        unsigned iterations, struct scram_record *out)
{
    memset(out, 0, sizeof *out);
    char *prepped = saslprep_password(password);
    if (!prepped)
        return -1;
    out->iterations = iterations;
    memcpy(out->salt, salt, SCRAM_SALT_LEN);
    int rc = derive_keys(false, prepped, salt, iterations, out->sha1_stored_key,
                         out->sha1_server_key);
    if (rc == 0)
        rc = derive_keys(true, prepped, salt, iterations, out->sha256_stored_key,
                         out->sha256_server_key);
    free_secret_string(prepped);
    return rc;
}

static unsigned clamp_iterations(unsigned iterations)
{
    if (iterations < SCRAM_MIN_ITERATIONS)
        return SCRAM_MIN_ITERATIONS;
    if (iterations > SCRAM_MAX_ITERATIONS)
        return SCRAM_MAX_ITERATIONS;
    return iterations;
}

int scram_make_record(const char *password, unsigned iterations,
                      struct scram_record *out)
{
    unsigned char salt[SCRAM_SALT_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1)
        abort(); /* no randomness: nothing safe to do */
    return scram_derive_record(password, salt, clamp_iterations(iterations), out);
}

static void append_base64(struct buf *b, const unsigned char *data, size_t len)
{
    char *text = scram_base64_encode(data, len);
    buf_printf(b, "$%s", text);
    free(text);
}

char *scram_format_record(const struct scram_record *rec)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "SCRAM$%u", rec->iterations);
    append_base64(&b, rec->salt, sizeof rec->salt);
    append_base64(&b, rec->sha1_stored_key, sizeof rec->sha1_stored_key);
    append_base64(&b, rec->sha1_server_key, sizeof rec->sha1_server_key);
    append_base64(&b, rec->sha256_stored_key, sizeof rec->sha256_stored_key);
    append_base64(&b, rec->sha256_server_key, sizeof rec->sha256_server_key);
    return buf_steal(&b);
}

char *scram_hash_password(const char *password, unsigned iterations)
{
    struct scram_record rec;
    if (scram_make_record(password, iterations, &rec) != 0)
        return NULL;
    char *stored = scram_format_record(&rec);
    OPENSSL_cleanse(&rec, sizeof rec);
    return stored;
}

/* Plain decimal without sign or leading zero, within the allowed range. */
static int parse_iterations(const char *s, size_t len, unsigned *out)
{
    if (len == 0 || len > 9 || s[0] == '0')
        return -1;
    unsigned value = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        value = value * 10 + (unsigned)(s[i] - '0');
    }
    if (value < SCRAM_MIN_ITERATIONS || value > SCRAM_MAX_ITERATIONS)
        return -1;
    *out = value;
    return 0;
}

static int parse_fixed_base64(const char *s, size_t len, unsigned char *out,
                              size_t want)
{
    unsigned char *data;
    size_t data_len;
    if (scram_base64_decode(s, len, &data, &data_len) != 0)
        return -1;
    int rc = data_len == want ? 0 : -1;
    if (rc == 0)
        memcpy(out, data, want);
    OPENSSL_cleanse(data, data_len);
    free(data);
    return rc;
}

int scram_parse_record(const char *stored, struct scram_record *out)
{
    memset(out, 0, sizeof *out);
    const char *field[STORED_FIELDS];
    size_t len[STORED_FIELDS];
    const char *p = stored;
    for (int i = 0; i < STORED_FIELDS; i++) {
        field[i] = p;
        len[i] = strcspn(p, "$");
        p += len[i];
        if (i < STORED_FIELDS - 1) {
            if (*p != '$')
                return -1;
            p++;
        }
    }
    int rc = -1;
    if (*p == '\0' && len[0] == 5 && memcmp(field[0], "SCRAM", 5) == 0
        && parse_iterations(field[1], len[1], &out->iterations) == 0
        && parse_fixed_base64(field[2], len[2], out->salt, sizeof out->salt) == 0
        && parse_fixed_base64(field[3], len[3], out->sha1_stored_key,
                              sizeof out->sha1_stored_key) == 0
        && parse_fixed_base64(field[4], len[4], out->sha1_server_key,
                              sizeof out->sha1_server_key) == 0
        && parse_fixed_base64(field[5], len[5], out->sha256_stored_key,
                              sizeof out->sha256_stored_key) == 0
        && parse_fixed_base64(field[6], len[6], out->sha256_server_key,
                              sizeof out->sha256_server_key) == 0)
        rc = 0;
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

bool scram_verify_plain(const struct scram_record *rec, const char *password)
{
    char *prepped = saslprep_password(password);
    if (!prepped)
        return false;
    unsigned char stored_key[SCRAM_SHA256_LEN];
    unsigned char server_key[SCRAM_SHA256_LEN];
    int rc = derive_keys(true, prepped, rec->salt, rec->iterations, stored_key,
                         server_key);
    free_secret_string(prepped);
    bool match = rc == 0
        && CRYPTO_memcmp(stored_key, rec->sha256_stored_key, sizeof stored_key) == 0;
    OPENSSL_cleanse(stored_key, sizeof stored_key);
    OPENSSL_cleanse(server_key, sizeof server_key);
    return match;
}

/* ---- records for unknown users (AUTH-3) ------------------------------ */

static unsigned char fake_secret[FAKE_SECRET_LEN];
static bool fake_secret_ready;
static unsigned fake_iterations = SCRAM_DEFAULT_ITERATIONS;

void scram_set_fake_iterations(unsigned iterations)
{
    fake_iterations = clamp_iterations(iterations);
}

/* HMAC-SHA-256(secret, label "\0" username), truncated to `len` bytes. */
static void fake_value(const char *label, const char *username,
                       unsigned char *out, size_t len)
{
    if (!fake_secret_ready) {
        if (RAND_bytes(fake_secret, sizeof fake_secret) != 1)
            abort();
        fake_secret_ready = true;
    }
    struct buf input;
    buf_init(&input);
    buf_append(&input, label, strlen(label) + 1);
    buf_puts(&input, username);
    unsigned char mac[SCRAM_SHA256_LEN];
    scram_hmac(true, fake_secret, sizeof fake_secret, input.data, input.len, mac);
    buf_free(&input);
    memcpy(out, mac, len);
}

void scram_fake_record(const char *username, struct scram_record *out)
{
    out->iterations = fake_iterations;
    fake_value("salt", username, out->salt, sizeof out->salt);
    fake_value("sha1 stored", username, out->sha1_stored_key,
               sizeof out->sha1_stored_key);
    fake_value("sha1 server", username, out->sha1_server_key,
               sizeof out->sha1_server_key);
    fake_value("sha256 stored", username, out->sha256_stored_key,
               sizeof out->sha256_stored_key);
    fake_value("sha256 server", username, out->sha256_server_key,
               sizeof out->sha256_server_key);
}
