/* Unit tests for sasl: full exchanges of our server against a GNU SASL
 * client in the same process, for every mechanism, with channel binding,
 * wrong and unknown credentials, authcid/authzid forms, malformed input
 * (AUTH-1, AUTH-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <gsasl.h>

#include "sasl.h"
#include "scram.h"

#define DOMAIN "localhost"
#define ALICE_PASSWORD "c0rrect h\xc3\xb6rse"
#define TEST_ITERATIONS 4096

static Gsasl *client_ctx;
static char *alice_stored;

/* ---- the user table behind sasl_lookup_fn ---------------------------- */

static const char *lookup_user(void *ctx, const char *node, const char *domain)
{
    int *calls = ctx;
    if (calls)
        (*calls)++;
    if (strcmp(domain, DOMAIN) != 0)
        return NULL;
    if (strcmp(node, "alice") == 0)
        return alice_stored;
    if (strcmp(node, "bob") == 0)
        return "SCRAM$4096$not-a-record";
    return NULL;
}

static const unsigned char exporter_data[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char unique_data[12] = "finished-msg";
static const unsigned char other_data[32] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static const struct sasl_channel_binding cb_both = {
    unique_data, sizeof unique_data, exporter_data, sizeof exporter_data
};
static const struct sasl_channel_binding cb_exporter = {
    NULL, 0, exporter_data, sizeof exporter_data
};
static const struct sasl_channel_binding cb_unique = {
    unique_data, sizeof unique_data, NULL, 0
};
static const struct sasl_channel_binding cb_none = { NULL, 0, NULL, 0 };

/* ---- one exchange: gsasl client <-> sasl_server ----------------------- */

struct client_opts {
    const char *mech;
    const char *authcid;
    const char *password;
    const char *authzid;                      /* NULL: none */
    const struct sasl_channel_binding *client_cb; /* NULL: none */
    bool no_initial_response;
};

struct outcome {
    enum sasl_step_result result;
    int server_steps;
    bool client_verified_server; /* the client accepted <success> data */
    char *first_challenge;       /* decoded, malloc'd; NULL if none */
    char *node;                  /* sasl_server_node after the exchange */
    char *attempted_node;
};

static void set_client_binding(Gsasl_session *c, Gsasl_property prop,
                               const unsigned char *data, size_t len)
{
    if (!data)
        return;
    char *b64 = scram_base64_encode(data, len);
    assert_int_equal(gsasl_property_set(c, prop, b64), GSASL_OK);
    free(b64);
}

static char *decode_text(const char *b64)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = scram_base64_decode(b64, strlen(b64), &data, &len);
    assert_int_equal(rc, 0);
    char *text = strndup((const char *)data, len);
    free(data);
    return text;
}

static struct outcome run_exchange(const struct client_opts *o,
                                   const struct sasl_channel_binding *server_cb)
{
    struct outcome res = { SASL_FAIL_INVALID_MECHANISM, 0, false, NULL, NULL, NULL };
    Gsasl_session *c = NULL;
    assert_int_equal(gsasl_client_start(client_ctx, o->mech, &c), GSASL_OK);
    gsasl_property_set(c, GSASL_AUTHID, o->authcid);
    gsasl_property_set(c, GSASL_PASSWORD, o->password);
    if (o->authzid)
        gsasl_property_set(c, GSASL_AUTHZID, o->authzid);
    if (o->client_cb) {
        set_client_binding(c, GSASL_CB_TLS_UNIQUE, o->client_cb->tls_unique,
                           o->client_cb->tls_unique_len);
        set_client_binding(c, GSASL_CB_TLS_EXPORTER, o->client_cb->tls_exporter,
                           o->client_cb->tls_exporter_len);
    }
    struct sasl_server *s = sasl_server_start(o->mech, DOMAIN, server_cb, lookup_user, NULL);
    assert_non_null(s);
    assert_string_equal(sasl_server_mech(s), o->mech);

    char *server_out = NULL;
    if (o->no_initial_response) {
        res.result = sasl_server_step(s, NULL, &server_out);
        res.server_steps++;
        assert_int_equal(res.result, SASL_CONTINUE);
        assert_string_equal(server_out, "");
    }
    char *client_out = NULL;
    int crc = gsasl_step64(c, server_out ? server_out : "", &client_out);
    free(server_out);
    assert_true(crc == GSASL_OK || crc == GSASL_NEEDS_MORE);

    for (;;) {
        server_out = NULL;
        res.result = sasl_server_step(s, client_out, &server_out);
        res.server_steps++;
        free(client_out);
        client_out = NULL;
        if (res.result == SASL_SUCCESS) {
            if (server_out)
                crc = gsasl_step64(c, server_out, &client_out);
            res.client_verified_server = crc == GSASL_OK;
        }
        if (res.result != SASL_CONTINUE)
            break;
        assert_non_null(server_out);
        if (!res.first_challenge)
            res.first_challenge = decode_text(server_out);
        crc = gsasl_step64(c, server_out, &client_out);
        free(server_out);
        assert_true(crc == GSASL_OK || crc == GSASL_NEEDS_MORE);
        assert_true(res.server_steps < 5);
    }
    if (res.result != SASL_SUCCESS)
        assert_null(server_out);
    free(server_out);
    free(client_out);
    if (sasl_server_node(s))
        res.node = strdup(sasl_server_node(s));
    if (sasl_server_attempted_node(s))
        res.attempted_node = strdup(sasl_server_attempted_node(s));
    assert_int_equal(sasl_server_step(s, "YQ==", &server_out), SASL_FAIL_MALFORMED);
    assert_null(server_out);
    sasl_server_free(s);
    gsasl_finish(c);
    return res;
}

static void outcome_free(struct outcome *o)
{
    free(o->first_challenge);
    free(o->node);
    free(o->attempted_node);
}

static const char *const all_mechs[] = {
    "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"
};

static bool is_plus(const char *mech)
{
    return strstr(mech, "-PLUS") != NULL;
}

static struct outcome login(const char *mech, const char *authcid, const char *password)
{
    struct client_opts o = { mech, authcid, password, NULL,
                             is_plus(mech) ? &cb_exporter : NULL, false };
    return run_exchange(&o, is_plus(mech) ? &cb_exporter : &cb_none);
}

/* ---- tests ----------------------------------------------------------- */

/* AUTH-1: every offered mechanism authenticates alice; SCRAM's server
 * signature is accepted by the client (the stored keys are fed right). */
static void test_every_mechanism_succeeds_auth1(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_mechs / sizeof all_mechs[0]; i++) {
        struct outcome r = login(all_mechs[i], "alice", ALICE_PASSWORD);
        if (r.result != SASL_SUCCESS)
            fail_msg("AUTH-1: %s failed with %d", all_mechs[i], r.result);
        assert_true(r.client_verified_server);
        assert_string_equal(r.node, "alice");
        assert_int_equal(r.server_steps, strcmp(all_mechs[i], "PLAIN") == 0 ? 1 : 2);
        outcome_free(&r);
    }
}

/* AUTH-1: -PLUS with tls-unique (TLS 1.2) and with tls-exporter (TLS 1.3). */
static void test_plus_binding_types_auth1(void **state)
{
    (void)state;
    static const struct {
        const struct sasl_channel_binding *client, *server;
        enum sasl_step_result want;
    } cases[] = {
        { &cb_unique, &cb_unique, SASL_SUCCESS },     /* p=tls-unique */
        { &cb_exporter, &cb_exporter, SASL_SUCCESS }, /* p=tls-exporter */
        { &cb_unique, &cb_both, SASL_SUCCESS },
        { &cb_both, &cb_both, SASL_SUCCESS },         /* client picks tls-exporter */
        { &cb_both, &cb_unique, SASL_FAIL_NOT_AUTHORIZED }, /* asks exporter, server has none */
        { &cb_unique, &cb_exporter, SASL_FAIL_NOT_AUTHORIZED },
    };
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct client_opts o = { all_mechs[m], "alice", ALICE_PASSWORD, NULL,
                                     cases[i].client, false };
            struct outcome r = run_exchange(&o, cases[i].server);
            if (r.result != cases[i].want)
                fail_msg("AUTH-1: %s case %zu gave %d", all_mechs[m], i, r.result);
            outcome_free(&r);
        }
    }
}

/* AUTH-1: a client bound to a different channel (MITM) fails. */
static void test_plus_binding_mismatch_auth1(void **state)
{
    (void)state;
    const struct sasl_channel_binding client_cb = { NULL, 0, other_data, sizeof other_data };
    const struct sasl_channel_binding client_unique = { other_data, 12, NULL, 0 };
    for (int m = 0; m < 2; m++) {
        struct client_opts o = { all_mechs[m], "alice", ALICE_PASSWORD, NULL, &client_cb, false };
        struct outcome r = run_exchange(&o, &cb_exporter);
        assert_int_equal(r.result, SASL_FAIL_NOT_AUTHORIZED);
        assert_null(r.node);
        outcome_free(&r);
        o.client_cb = &client_unique;
        r = run_exchange(&o, &cb_unique);
        assert_int_equal(r.result, SASL_FAIL_NOT_AUTHORIZED);
        outcome_free(&r);
    }
}

/* AUTH-1: a client that could bind but says "y" while we offer -PLUS is a
 * downgrade; without binding data on our side "y" is fine. */
static void test_scram_downgrade_refused_auth1(void **state)
{
    (void)state;
    char *first = scram_base64_encode("y,,n=alice,r=abcdefghijkl", 25);
    char *out = NULL;
    struct sasl_server *s = sasl_server_start("SCRAM-SHA-256", DOMAIN, &cb_exporter,
                                              lookup_user, NULL);
    assert_int_equal(sasl_server_step(s, first, &out), SASL_FAIL_NOT_AUTHORIZED);
    assert_null(out);
    sasl_server_free(s);
    s = sasl_server_start("SCRAM-SHA-256", DOMAIN, &cb_none, lookup_user, NULL);
    assert_int_equal(sasl_server_step(s, first, &out), SASL_CONTINUE);
    assert_non_null(out);
    free(out);
    sasl_server_free(s);
    free(first);
}

/* AUTH-3: a wrong password fails with not-authorized on every mechanism. */
static void test_wrong_password_auth3(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_mechs / sizeof all_mechs[0]; i++) {
        struct outcome r = login(all_mechs[i], "alice", "wrong");
        assert_int_equal(r.result, SASL_FAIL_NOT_AUTHORIZED);
        assert_null(r.node);
        assert_string_equal(r.attempted_node, "alice");
        outcome_free(&r);
    }
}

/* Iteration count and decoded salt length from a SCRAM server-first. */
static void parse_server_first(const char *msg, unsigned *iterations, size_t *salt_len,
                               char **salt_b64)
{
    const char *s = strstr(msg, ",s=");
    const char *i = strstr(msg, ",i=");
    assert_non_null(s);
    assert_non_null(i);
    *salt_b64 = strndup(s + 3, (size_t)(i - s - 3));
    *iterations = (unsigned)strtoul(i + 3, NULL, 10);
    unsigned char *salt;
    assert_int_equal(scram_base64_decode(*salt_b64, strlen(*salt_b64), &salt, salt_len), 0);
    free(salt);
}

/* AUTH-3: an unknown user goes through SCRAM like a known one (same
 * iteration count, a 16-byte salt stable across attempts) and fails at the
 * proof, at the same step and with the same result as a wrong password. */
static void test_unknown_user_like_wrong_password_auth3(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof all_mechs / sizeof all_mechs[0]; m++) {
        struct outcome wrong = login(all_mechs[m], "alice", "wrong");
        struct outcome unknown = login(all_mechs[m], "mallory", "wrong");
        struct outcome unknown2 = login(all_mechs[m], "mallory@" DOMAIN, "other");
        assert_int_equal(unknown.result, wrong.result);
        assert_int_equal(unknown.server_steps, wrong.server_steps);
        assert_int_equal(unknown2.result, wrong.result);
        assert_string_equal(unknown.attempted_node, "mallory");
        if (wrong.first_challenge) {
            unsigned it_wrong, it_unknown, it_unknown2;
            size_t salt_wrong, salt_unknown, salt_unknown2;
            char *b64_wrong, *b64_unknown, *b64_unknown2;
            parse_server_first(wrong.first_challenge, &it_wrong, &salt_wrong, &b64_wrong);
            parse_server_first(unknown.first_challenge, &it_unknown, &salt_unknown, &b64_unknown);
            parse_server_first(unknown2.first_challenge, &it_unknown2, &salt_unknown2, &b64_unknown2);
            assert_int_equal(it_unknown, it_wrong);
            assert_int_equal(salt_unknown, salt_wrong);
            assert_int_equal(salt_unknown, SCRAM_SALT_LEN);
            assert_string_equal(b64_unknown, b64_unknown2); /* "mallory" either way */
            assert_string_not_equal(b64_unknown, b64_wrong);
            free(b64_wrong);
            free(b64_unknown);
            free(b64_unknown2);
        }
        outcome_free(&wrong);
        outcome_free(&unknown);
        outcome_free(&unknown2);
    }
}

static double seconds_for_login(const char *mech, const char *authcid, int rounds)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < rounds; i++) {
        struct outcome r = login(mech, authcid, "wrong");
        assert_int_equal(r.result, SASL_FAIL_NOT_AUTHORIZED);
        outcome_free(&r);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* AUTH-3: PLAIN for an unknown user costs about as much as for a known
 * user with a wrong password (the fake record runs the same PBKDF2). */
static void test_plain_unknown_user_timing_auth3(void **state)
{
    (void)state;
    double known = seconds_for_login("PLAIN", "alice", 5);
    double unknown = seconds_for_login("PLAIN", "mallory", 5);
    if (unknown < known / 3 || unknown > known * 3)
        fail_msg("AUTH-3: PLAIN known %.4fs vs unknown %.4fs", known, unknown);
}

/* AUTH-3: a stored value that is not a SCRAM record never authenticates. */
static void test_corrupt_stored_record_auth3(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_mechs / sizeof all_mechs[0]; i++) {
        struct outcome r = login(all_mechs[i], "bob", "SCRAM$4096$not-a-record");
        assert_int_equal(r.result, SASL_FAIL_NOT_AUTHORIZED);
        outcome_free(&r);
    }
}

/* AUTH-1: "alice" (the stream's domain) and "alice@localhost" both work,
 * prepared; another domain or a resource does not. */
static void test_authcid_forms_auth1(void **state)
{
    (void)state;
    static const struct { const char *authcid; enum sasl_step_result want; } cases[] = {
        { "alice", SASL_SUCCESS },
        { "alice@" DOMAIN, SASL_SUCCESS },
        { "ALICE@LocalHost", SASL_SUCCESS },
        { "Alice", SASL_SUCCESS },
        { "alice@example.org", SASL_FAIL_NOT_AUTHORIZED },
        { "alice@" DOMAIN "/res", SASL_FAIL_NOT_AUTHORIZED },
        { "al&ice", SASL_FAIL_NOT_AUTHORIZED },
        { "@" DOMAIN, SASL_FAIL_NOT_AUTHORIZED },
    };
    for (size_t m = 0; m < sizeof all_mechs / sizeof all_mechs[0]; m++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct outcome r = login(all_mechs[m], cases[i].authcid, ALICE_PASSWORD);
            if (r.result != cases[i].want)
                fail_msg("AUTH-1: %s as '%s' gave %d", all_mechs[m], cases[i].authcid, r.result);
            if (r.result == SASL_SUCCESS)
                assert_string_equal(r.node, "alice");
            outcome_free(&r);
        }
    }
}

/* AUTH-1: an authzid other than the user's own JID fails with
 * <invalid-authzid/> (RFC 6120 §6.5.6). */
static void test_authzid_auth1(void **state)
{
    (void)state;
    static const struct { const char *authzid; enum sasl_step_result want; } cases[] = {
        { "alice@" DOMAIN, SASL_SUCCESS },
        { "Alice@LOCALHOST", SASL_SUCCESS },
        { "bob@" DOMAIN, SASL_FAIL_INVALID_AUTHZID },
        { "alice@" DOMAIN "/res", SASL_FAIL_INVALID_AUTHZID },
        { DOMAIN, SASL_FAIL_INVALID_AUTHZID },
        { "alice@example.org", SASL_FAIL_INVALID_AUTHZID },
    };
    for (size_t m = 0; m < sizeof all_mechs / sizeof all_mechs[0]; m++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            bool plus = is_plus(all_mechs[m]);
            struct client_opts o = { all_mechs[m], "alice", ALICE_PASSWORD, cases[i].authzid,
                                     plus ? &cb_exporter : NULL, false };
            struct outcome r = run_exchange(&o, plus ? &cb_exporter : &cb_none);
            if (r.result != cases[i].want)
                fail_msg("AUTH-1: %s authzid '%s' gave %d", all_mechs[m], cases[i].authzid,
                         r.result);
            outcome_free(&r);
        }
    }
}

/* AUTH-1: <auth/> without an initial response gets an empty challenge. */
static void test_no_initial_response_auth1(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof all_mechs / sizeof all_mechs[0]; m++) {
        bool plus = is_plus(all_mechs[m]);
        struct client_opts o = { all_mechs[m], "alice", ALICE_PASSWORD, NULL,
                                 plus ? &cb_exporter : NULL, true };
        struct outcome r = run_exchange(&o, plus ? &cb_exporter : &cb_none);
        assert_int_equal(r.result, SASL_SUCCESS);
        outcome_free(&r);
    }
}

static enum sasl_step_result one_step(const char *mech, const char *in_b64)
{
    struct sasl_server *s = sasl_server_start(mech, DOMAIN, &cb_none, lookup_user, NULL);
    assert_non_null(s);
    char *out = NULL;
    enum sasl_step_result r = sasl_server_step(s, in_b64, &out);
    if (r != SASL_CONTINUE && r != SASL_SUCCESS)
        assert_null(out);
    free(out);
    sasl_server_free(s);
    return r;
}

static enum sasl_step_result one_step_raw(const char *mech, const char *data, size_t len)
{
    char *b64 = scram_base64_encode(data, len);
    enum sasl_step_result r = one_step(mech, b64);
    free(b64);
    return r;
}

/* AUTH-3: bad base64 is incorrect-encoding; empty or garbage messages are
 * malformed-request. */
static void test_malformed_first_messages_auth3(void **state)
{
    (void)state;
    for (size_t m = 2; m < sizeof all_mechs / sizeof all_mechs[0]; m++) {
        const char *mech = all_mechs[m];
        assert_int_equal(one_step(mech, "!!!!"), SASL_FAIL_INCORRECT_ENCODING);
        assert_int_equal(one_step(mech, "YWJj\n"), SASL_FAIL_INCORRECT_ENCODING);
        assert_int_equal(one_step(mech, "YWJ"), SASL_FAIL_INCORRECT_ENCODING);
        assert_int_equal(one_step(mech, "YW Jj"), SASL_FAIL_INCORRECT_ENCODING);
        assert_int_equal(one_step(mech, "="), SASL_FAIL_MALFORMED);
        assert_int_equal(one_step(mech, ""), SASL_FAIL_MALFORMED);
        assert_int_equal(one_step_raw(mech, "garbage", 7), SASL_FAIL_MALFORMED);
    }
    for (size_t m = 2; m < 4; m++) {
        const char *mech = all_mechs[m];
        assert_int_equal(one_step_raw(mech, "n,,", 3), SASL_FAIL_MALFORMED);
        assert_int_equal(one_step_raw(mech, "n,,n=alice", 10), SASL_FAIL_MALFORMED);
        assert_int_equal(one_step_raw(mech, "x,,n=alice,r=abc", 16), SASL_FAIL_MALFORMED);
        assert_int_equal(one_step_raw(mech, "n,,n=alice,r=abc", 16), SASL_CONTINUE);
    }
    assert_int_equal(one_step_raw("PLAIN", "\0alice", 6), SASL_FAIL_MALFORMED);
    assert_int_equal(one_step_raw("PLAIN", "a\0b\0c\0d", 7), SASL_FAIL_MALFORMED);

    size_t big = SASL_MAX_MESSAGE + 3;
    char *huge = calloc(1, big);
    memset(huge, 'a', big);
    assert_int_equal(one_step_raw("PLAIN", huge, big), SASL_FAIL_MALFORMED);
    free(huge);
}

/* Runs a SCRAM-SHA-256 client-first for alice and returns the server's
 * combined nonce (malloc'd); *s is the server, ready for client-final. */
static char *scram_start_alice(struct sasl_server **s)
{
    *s = sasl_server_start("SCRAM-SHA-256", DOMAIN, &cb_none, lookup_user, NULL);
    char *first = scram_base64_encode("n,,n=alice,r=clientnonce", 24);
    char *out = NULL;
    assert_int_equal(sasl_server_step(*s, first, &out), SASL_CONTINUE);
    free(first);
    char *msg = decode_text(out);
    free(out);
    const char *r = strstr(msg, "r=");
    assert_non_null(r);
    char *nonce = strndup(r + 2, strcspn(r + 2, ","));
    free(msg);
    return nonce;
}

/* AUTH-3: a garbage client-final is malformed-request; a wrong proof (or
 * nonce) is not-authorized. */
static void test_malformed_client_final_auth3(void **state)
{
    (void)state;
    struct { const char *fmt; enum sasl_step_result want; } cases[] = {
        { "nonsense", SASL_FAIL_MALFORMED },
        { "c=biws,r=%s", SASL_FAIL_MALFORMED },              /* no proof */
        { "c=biws,r=%s,p=AAAA", SASL_FAIL_MALFORMED },       /* short proof */
        { "c=biws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", SASL_FAIL_NOT_AUTHORIZED },
        { "c=biws,r=wrong%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", SASL_FAIL_NOT_AUTHORIZED },
        { "c=eSws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", SASL_FAIL_NOT_AUTHORIZED },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sasl_server *s;
        char *nonce = scram_start_alice(&s);
        char final[256];
        snprintf(final, sizeof final, cases[i].fmt, nonce);
        char *b64 = scram_base64_encode(final, strlen(final));
        char *out = NULL;
        enum sasl_step_result r = sasl_server_step(s, b64, &out);
        if (r != cases[i].want)
            fail_msg("AUTH-3: client-final '%s' gave %d", final, r);
        assert_null(out);
        assert_null(sasl_server_node(s));
        free(b64);
        free(nonce);
        sasl_server_free(s);
    }
    /* and bad base64 at the second step */
    struct sasl_server *s;
    char *nonce = scram_start_alice(&s);
    char *out = NULL;
    assert_int_equal(sasl_server_step(s, "c=biws", &out), SASL_FAIL_INCORRECT_ENCODING);
    assert_int_equal(sasl_server_step(s, NULL, &out), SASL_FAIL_MALFORMED); /* finished */
    free(nonce);
    sasl_server_free(s);
    /* an empty response where client-final is due */
    nonce = scram_start_alice(&s);
    assert_int_equal(sasl_server_step(s, "=", &out), SASL_FAIL_MALFORMED);
    free(nonce);
    sasl_server_free(s);
    nonce = scram_start_alice(&s);
    assert_int_equal(sasl_server_step(s, NULL, &out), SASL_FAIL_MALFORMED);
    free(nonce);
    sasl_server_free(s);
}

/* AUTH-1: offered list, strongest first; PLAIN and -PLUS as asked. */
static void test_offered_mechanisms_auth1(void **state)
{
    (void)state;
    const char *out[8];
    size_t n = sasl_offered_mechanisms(true, &cb_exporter, out, 8);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out[i], all_mechs[i]);

    n = sasl_offered_mechanisms(true, &cb_none, out, 8);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "SCRAM-SHA-256");
    assert_string_equal(out[1], "SCRAM-SHA-1");
    assert_string_equal(out[2], "PLAIN");

    n = sasl_offered_mechanisms(false, NULL, out, 8);
    assert_int_equal(n, 2);
    assert_string_equal(out[0], "SCRAM-SHA-256");
    assert_string_equal(out[1], "SCRAM-SHA-1");

    n = sasl_offered_mechanisms(false, &cb_unique, out, 2);
    assert_int_equal(n, 2);
    assert_string_equal(out[0], "SCRAM-SHA-256-PLUS");
    assert_string_equal(out[1], "SCRAM-SHA-1-PLUS");
}

/* AUTH-1: unknown or unofferable mechanisms cannot be started. */
static void test_start_rejects_auth1(void **state)
{
    (void)state;
    assert_null(sasl_server_start("DIGEST-MD5", DOMAIN, &cb_both, lookup_user, NULL));
    assert_null(sasl_server_start("CRAM-MD5", DOMAIN, &cb_both, lookup_user, NULL));
    assert_null(sasl_server_start("ANONYMOUS", DOMAIN, &cb_both, lookup_user, NULL));
    assert_null(sasl_server_start("scram-sha-1", DOMAIN, &cb_both, lookup_user, NULL));
    assert_null(sasl_server_start("SCRAM-SHA-256-PLUS", DOMAIN, &cb_none, lookup_user, NULL));
    assert_null(sasl_server_start("SCRAM-SHA-1-PLUS", DOMAIN, NULL, lookup_user, NULL));
    struct sasl_server *s = sasl_server_start("PLAIN", DOMAIN, NULL, lookup_user, NULL);
    assert_non_null(s);
    assert_null(sasl_server_node(s));
    assert_null(sasl_server_attempted_node(s));
    sasl_server_free(s);
}

/* AUTH-1: PLAIN passes the SASLprep'd password check and looks the user up
 * once per attempt; the lookup sees the prepared node. */
static void test_lookup_calls_auth1(void **state)
{
    (void)state;
    int calls = 0;
    struct sasl_server *s = sasl_server_start("PLAIN", DOMAIN, NULL, lookup_user, &calls);
    char msg[64];
    size_t len = (size_t)snprintf(msg, sizeof msg, "%cALICE%c%s", 0, 0, "c0rrect h\xc3\xb6rse");
    char *b64 = scram_base64_encode(msg, len);
    char *out = NULL;
    assert_int_equal(sasl_server_step(s, b64, &out), SASL_SUCCESS);
    assert_null(out);
    assert_int_equal(calls, 1);
    assert_string_equal(sasl_server_node(s), "alice");
    free(b64);
    sasl_server_free(s);
}

static int setup(void **state)
{
    (void)state;
    if (sasl_global_init() != 0 || gsasl_init(&client_ctx) != GSASL_OK)
        return -1;
    alice_stored = scram_hash_password(ALICE_PASSWORD, TEST_ITERATIONS);
    scram_set_fake_iterations(TEST_ITERATIONS); /* as the config would */
    return alice_stored ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(alice_stored);
    gsasl_done(client_ctx);
    sasl_global_done();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_mechanism_succeeds_auth1),
        cmocka_unit_test(test_plus_binding_types_auth1),
        cmocka_unit_test(test_plus_binding_mismatch_auth1),
        cmocka_unit_test(test_scram_downgrade_refused_auth1),
        cmocka_unit_test(test_wrong_password_auth3),
        cmocka_unit_test(test_unknown_user_like_wrong_password_auth3),
        cmocka_unit_test(test_plain_unknown_user_timing_auth3),
        cmocka_unit_test(test_corrupt_stored_record_auth3),
        cmocka_unit_test(test_authcid_forms_auth1),
        cmocka_unit_test(test_authzid_auth1),
        cmocka_unit_test(test_no_initial_response_auth1),
        cmocka_unit_test(test_malformed_first_messages_auth3),
        cmocka_unit_test(test_malformed_client_final_auth3),
        cmocka_unit_test(test_offered_mechanisms_auth1),
        cmocka_unit_test(test_start_rejects_auth1),
        cmocka_unit_test(test_lookup_calls_auth1),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
