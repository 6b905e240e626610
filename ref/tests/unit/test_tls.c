/* Unit tests for tls: SEC-1 (versions, SNI certificate choice, no
 * renegotiation, no compression), AUTH-1 (channel bindings), CFG-5
 * (self-signed certificate), ADM-6 (certificate expiry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define DAY 86400LL

struct fixture {
    char dir[64];
    char cert[4][128], key[4][128];   /* 0: localhost (default), 1: a.example, 2: b.example, 3: IDN */
    struct tls_server *ts;
};

/* the IDN domain is configured in Unicode; certificates and SNI use A-labels */
#define IDN_UNICODE "b\xc3\xbc" "cher.example"
#define IDN_ASCII "xn--bcher-kva.example"
static const char *const domain_names[4] = {"localhost", "a.example", "b.example", IDN_UNICODE};
static const char *const cert_dns_names[4] = {"localhost", "a.example", "b.example", IDN_ASCII};
#define N_DOMAINS 4

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char dir[] = "/tmp/test_tls_XXXXXX";
    if (!mkdtemp(dir)) return -1;
    strcpy(f->dir, dir);
    struct buf err;
    buf_init(&err);
    for (int i = 0; i < N_DOMAINS; i++) {
        snprintf(f->cert[i], sizeof f->cert[i], "%s/%s.crt", dir, domain_names[i]);
        snprintf(f->key[i], sizeof f->key[i], "%s/%s.key", dir, domain_names[i]);
        if (tls_make_self_signed(domain_names[i], f->cert[i], f->key[i], 30, &err) != 0) {
            fprintf(stderr, "%s\n", err.data);
            return -1;
        }
    }
    struct tls_cert_spec specs[3] = {
        {"a.example", f->cert[1], f->key[1]},
        {"b.example", f->cert[2], f->key[2]},
        {IDN_UNICODE, f->cert[3], f->key[3]},
    };
    f->ts = tls_server_new(f->cert[0], f->key[0], specs, 3, &err);
    buf_free(&err);
    *state = f;
    return f->ts ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tls_server_free(f->ts);
    for (int i = 0; i < N_DOMAINS; i++) {
        unlink(f->cert[i]);
        unlink(f->key[i]);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* One client/server connection over a non-blocking socketpair. */
struct link {
    int fds[2];
    SSL_CTX *client_ctx;
    SSL *client, *server;
};

/* `max_version`: the client's highest protocol; `trust`: a certificate the
 * client verifies the server against (NULL: no verification). */
static void link_open(struct link *l, struct tls_server *ts, int min_version, int max_version,
                      const char *sni, const char *trust)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, l->fds), 0);
    for (int i = 0; i < 2; i++) fcntl(l->fds[i], F_SETFL, O_NONBLOCK);
    l->client_ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(l->client_ctx);
    SSL_CTX_set_min_proto_version(l->client_ctx, min_version);
    SSL_CTX_set_max_proto_version(l->client_ctx, max_version);
    if (min_version < TLS1_2_VERSION) {
        /* OpenSSL 3 refuses TLS 1.0/1.1 above security level 0. */
        SSL_CTX_set_cipher_list(l->client_ctx, "DEFAULT:@SECLEVEL=0");
    }
    if (trust) {
        assert_int_equal(SSL_CTX_load_verify_locations(l->client_ctx, trust, NULL), 1);
        SSL_CTX_set_verify(l->client_ctx, SSL_VERIFY_PEER, NULL);
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(l->client_ctx), X509_V_FLAG_X509_STRICT);
    }
    l->client = SSL_new(l->client_ctx);
    SSL_set_fd(l->client, l->fds[0]);
    SSL_set_connect_state(l->client);
    if (sni) SSL_set_tlsext_host_name(l->client, sni);
    l->server = tls_server_session(ts, l->fds[1]);
    assert_non_null(l->server);
}

static void link_close(struct link *l)
{
    SSL_shutdown(l->client);
    SSL_shutdown(l->server);
    SSL_free(l->client);
    SSL_free(l->server);
    SSL_CTX_free(l->client_ctx);
    close(l->fds[0]);
    close(l->fds[1]);
    ERR_clear_error();
}

/* Drives one step of SSL_do_handshake; returns 1 done, 0 again, -1 failed. */
static int handshake_step(SSL *ssl)
{
    int r = SSL_do_handshake(ssl);
    if (r == 1) return 1;
    int e = SSL_get_error(ssl, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
}

static bool link_handshake(struct link *l)
{
    int c = 0, s = 0;
    for (int i = 0; i < 100 && (c != 1 || s != 1); i++) {
        if (c == 0) c = handshake_step(l->client);
        if (s == 0) s = handshake_step(l->server);
        if (c < 0 || s < 0) return false;
    }
    return c == 1 && s == 1;
}

/* The first DNS subjectAltName of the certificate the server presented. */
static char *presented_dns_name(SSL *client)
{
    X509 *peer = SSL_get1_peer_certificate(client);
    assert_non_null(peer);
    GENERAL_NAMES *names = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    char *result = NULL;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !result; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type == GEN_DNS) {
            result = strndup((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
                             (size_t)ASN1_STRING_length(gn->d.dNSName));
        }
    }
    GENERAL_NAMES_free(names);
    X509_free(peer);
    return result;
}

/* A client sending `sni` is shown certificate number `idx`, which it verifies. */
static void expect_presented(struct fixture *f, const char *sni, int idx, const char *expect_sni)
{
    struct link l;
    const char *expect_domain = cert_dns_names[idx];
    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_3_VERSION, sni, f->cert[idx]);
    SSL_set1_host(l.client, expect_domain);
    bool ok = link_handshake(&l);
    if (!ok) ERR_print_errors_fp(stderr);
    assert_true(ok);
    char *name = presented_dns_name(l.client);
    assert_non_null(name);
    assert_string_equal(name, expect_domain);
    free(name);
    /* the client verified the chain and host name against that cert */
    assert_int_equal(SSL_get_verify_result(l.client), X509_V_OK);
    if (expect_sni) assert_string_equal(tls_session_sni(l.server), expect_sni);
    else assert_null(tls_session_sni(l.server));
    link_close(&l);
}

/* SEC-1: one certificate per domain chosen by SNI, the default otherwise. */
static void test_sni_selects_certificate_SEC_1(void **state)
{
    struct fixture *f = *state;
    expect_presented(f, "a.example", 1, "a.example");
    expect_presented(f, "b.example", 2, "b.example");
    expect_presented(f, "B.Example", 2, "B.Example");
    expect_presented(f, NULL, 0, NULL);
    expect_presented(f, "c.example", 0, "c.example");
    expect_presented(f, IDN_ASCII, 3, IDN_ASCII);
    expect_presented(f, "XN--BCHER-KVA.example", 3, "XN--BCHER-KVA.example");
}

/* SEC-1: TLS 1.3 is negotiated when offered; no compression. */
static void test_tls13_no_compression_SEC_1(void **state)
{
    struct fixture *f = *state;
    struct link l;
    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_3_VERSION, "a.example", NULL);
    assert_true(link_handshake(&l));
    assert_int_equal(SSL_version(l.server), TLS1_3_VERSION);
    assert_null(SSL_get_current_compression(l.server));
    uint64_t opts = SSL_get_options(l.server);
    assert_true(opts & SSL_OP_NO_COMPRESSION);
    assert_true(opts & SSL_OP_NO_RENEGOTIATION);
    assert_true(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
    link_close(&l);
}

/* Issue "Performance" (M6): a client offering OpenSSL's default TLS 1.3
 * suites (AES-256-GCM-SHA384 first) gets AES-128-GCM-SHA256, whose key
 * schedule is cheaper; a client offering only SHA-384 still gets it. */
static void test_tls13_prefers_aes128(void **state)
{
    struct fixture *f = *state;
    struct link l;
    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_3_VERSION, "a.example", NULL);
    assert_true(link_handshake(&l));
    assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(l.server)), "TLS_AES_128_GCM_SHA256");
    link_close(&l);
    link_open(&l, f->ts, TLS1_3_VERSION, TLS1_3_VERSION, "a.example", NULL);
    assert_int_equal(SSL_set_ciphersuites(l.client, "TLS_AES_256_GCM_SHA384"), 1);
    assert_true(link_handshake(&l));
    assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(l.server)), "TLS_AES_256_GCM_SHA384");
    link_close(&l);
}

/* Issue "Performance" (M1): an idle session keeps no TLS record buffers;
 * OpenSSL frees them once a read or write has nothing left over. */
static void test_idle_session_releases_buffers(void **state)
{
    struct fixture *f = *state;
    struct link l;
    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_3_VERSION, "a.example", NULL);
    assert_true(link_handshake(&l));
    assert_true(SSL_get_mode(l.server) & SSL_MODE_RELEASE_BUFFERS);
    link_close(&l);
}

/* Issue "Performance": the server sends its certificate file's chain as
 * it is, without searching the trust store (with the default paths, a scan
 * of the system's CA directory) on every handshake. */
static void test_chain_sent_as_configured(void **state)
{
    struct fixture *f = *state;
    struct buf err;
    buf_init(&err);
    assert_int_equal(tls_server_set_peer_ca(f->ts, NULL, &err), 0);
    buf_free(&err);
    struct link l;
    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_3_VERSION, "a.example", NULL);
    assert_true(link_handshake(&l));
    assert_true(SSL_get_mode(l.server) & SSL_MODE_NO_AUTO_CHAIN);
    assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(l.client)), 1);
    link_close(&l);
}

/* SEC-1: TLS 1.1 (and older) refused; the same client allowing 1.2 gets in. */
static void test_tls11_refused_SEC_1(void **state)
{
    struct fixture *f = *state;
    struct link l;
    link_open(&l, f->ts, TLS1_VERSION, TLS1_1_VERSION, "a.example", NULL);
    assert_int_equal(SSL_get_min_proto_version(l.server), TLS1_2_VERSION);
    assert_int_equal(SSL_get_max_proto_version(l.server), TLS1_3_VERSION);
    assert_false(link_handshake(&l));
    link_close(&l);

    link_open(&l, f->ts, TLS1_VERSION, TLS1_2_VERSION, "a.example", NULL);
    assert_true(link_handshake(&l));
    assert_int_equal(SSL_version(l.server), TLS1_2_VERSION);
    link_close(&l);
}

/* SEC-1: a client-initiated renegotiation on TLS 1.2 does not happen. */
static void test_tls12_renegotiation_refused_SEC_1(void **state)
{
    struct fixture *f = *state;
    struct link l;
    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_2_VERSION, "a.example", NULL);
    assert_true(link_handshake(&l));
    assert_int_equal(SSL_renegotiate(l.client), 1);
    int c = 0;
    char byte;
    for (int i = 0; i < 100 && c == 0; i++) {
        c = handshake_step(l.client);
        SSL_read(l.server, &byte, 1);   /* the server sees the new ClientHello */
    }
    assert_int_equal(c, -1);
    assert_int_equal(SSL_num_renegotiations(l.server), 0);
    link_close(&l);
}

/* AUTH-1: tls-exporter under TLS 1.3, the same on both sides; tls-unique
 * there is the client's Finished, as OpenSSL-based clients compute it. */
static void test_tls_exporter_tls13_AUTH_1(void **state)
{
    struct fixture *f = *state;
    struct link l;
    link_open(&l, f->ts, TLS1_3_VERSION, TLS1_3_VERSION, "b.example", NULL);
    unsigned char s[64], c[64];
    assert_int_equal(tls_channel_binding(l.server, "tls-exporter", s, sizeof s), 0); /* before */
    assert_true(link_handshake(&l));
    assert_int_equal(tls_channel_binding(l.server, "tls-exporter", s, sizeof s), 32);
    assert_int_equal(SSL_export_keying_material(l.client, c, 32, "EXPORTER-Channel-Binding", 24,
                                                NULL, 0, 0), 1);
    assert_memory_equal(s, c, 32);
    assert_int_equal(tls_channel_binding(l.client, "tls-exporter", c, sizeof c), 32);
    assert_memory_equal(s, c, 32);
    assert_int_equal(tls_channel_binding(l.server, "tls-exporter", s, 31), 0);
    size_t n = tls_channel_binding(l.server, "tls-unique", s, sizeof s);
    assert_true(n > 0);
    assert_int_equal(SSL_get_finished(l.client, c, sizeof c), n);
    assert_memory_equal(s, c, n);
    assert_int_equal(tls_channel_binding(l.server, "tls-server-end-point", s, sizeof s), 0);
    link_close(&l);
}

/* AUTH-1: tls-unique under TLS 1.2 is the client's Finished in a full
 * handshake and the server's in a resumption. */
static void test_tls_unique_tls12_AUTH_1(void **state)
{
    struct fixture *f = *state;
    struct link l;
    unsigned char s[64], c[64];
    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_2_VERSION, "a.example", NULL);
    assert_true(link_handshake(&l));
    size_t n = tls_channel_binding(l.server, "tls-unique", s, sizeof s);
    assert_int_equal(n, 12);
    assert_int_equal(SSL_get_finished(l.client, c, sizeof c), 12);
    assert_memory_equal(s, c, 12);
    assert_int_equal(tls_channel_binding(l.client, "tls-unique", c, sizeof c), 12);
    assert_memory_equal(s, c, 12);
    assert_int_equal(tls_channel_binding(l.server, "tls-unique", s, 11), 0);
    /* tls-exporter on 1.2 with the extended master secret */
    assert_int_equal(SSL_get_extms_support(l.server), 1);
    assert_int_equal(tls_channel_binding(l.server, "tls-exporter", s, sizeof s), 32);
    assert_int_equal(tls_channel_binding(l.client, "tls-exporter", c, sizeof c), 32);
    assert_memory_equal(s, c, 32);
    SSL_SESSION *session = SSL_get1_session(l.client);
    link_close(&l);

    link_open(&l, f->ts, TLS1_2_VERSION, TLS1_2_VERSION, "a.example", NULL);
    SSL_set_session(l.client, session);
    assert_true(link_handshake(&l));
    assert_true(SSL_session_reused(l.client));
    assert_true(SSL_session_reused(l.server));
    assert_int_equal(tls_channel_binding(l.server, "tls-unique", s, sizeof s), 12);
    assert_int_equal(SSL_get_peer_finished(l.client, c, sizeof c), 12);
    assert_memory_equal(s, c, 12);
    assert_int_equal(tls_channel_binding(l.client, "tls-unique", c, sizeof c), 12);
    assert_memory_equal(s, c, 12);
    SSL_SESSION_free(session);
    link_close(&l);
}

static bool contains(const char *haystack, const char *needle)
{
    return haystack && strstr(haystack, needle) != NULL;
}

/* SEC-1: a key that does not match its certificate, or a missing file, is
 * refused with the file named. */
static void test_bad_cert_or_key_named_SEC_1(void **state)
{
    struct fixture *f = *state;
    struct buf err;
    buf_init(&err);
    assert_null(tls_server_new(f->cert[0], f->key[1], NULL, 0, &err));
    assert_true(contains(err.data, f->key[1]));
    assert_true(contains(err.data, "does not match"));

    struct tls_cert_spec bad = {"a.example", f->cert[1], f->key[2]};
    assert_null(tls_server_new(f->cert[0], f->key[0], &bad, 1, &err));
    assert_true(strncmp(err.data, f->key[2], strlen(f->key[2])) == 0);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.crt", f->dir);
    assert_null(tls_server_new(missing, f->key[0], NULL, 0, &err));
    assert_true(strncmp(err.data, missing, strlen(missing)) == 0);
    assert_true(contains(err.data, "No such file or directory"));

    assert_null(tls_server_new(f->cert[0], f->cert[0], NULL, 0, &err)); /* a cert is no key */
    assert_true(strncmp(err.data, f->cert[0], strlen(f->cert[0])) == 0);
    buf_free(&err);
}

/* CFG-5: the key file is private; the certificate names the domain. */
static void test_self_signed_files_CFG_5(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->key[1], &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    FILE *fp = fopen(f->cert[1], "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    assert_int_equal(X509_check_host(x, "a.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "b.example", 0, 0, NULL), 0);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
    assert_int_equal(EVP_PKEY_get_bits(pub), 256);
    X509_free(x);

    struct buf err;
    buf_init(&err);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir.key", f->dir);
    assert_int_equal(tls_make_self_signed("x.example", f->cert[1], bad, 30, &err), -1);
    assert_true(strncmp(err.data, bad, strlen(bad)) == 0);
    assert_int_equal(tls_make_self_signed("a b.example", f->cert[1], f->key[1], 30, &err), -1);
    assert_true(contains(err.data, "a b.example: "));
    assert_int_equal(tls_make_self_signed("", f->cert[1], f->key[1], 30, &err), -1);
    buf_free(&err);
}

/* ADM-6: notAfter of a 30-day certificate. */
static void test_cert_not_after_ADM_6(void **state)
{
    struct fixture *f = *state;
    long long now = (long long)time(NULL);
    long long t = tls_cert_not_after(f->cert[0]);
    assert_true(t >= now + 30 * DAY - 120);
    assert_true(t <= now + 30 * DAY + 5);
    assert_int_equal(tls_cert_not_after(f->key[0]), -1);
    assert_int_equal(tls_cert_not_after("/nonexistent/cert.pem"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni_selects_certificate_SEC_1),
        cmocka_unit_test(test_tls13_no_compression_SEC_1),
        cmocka_unit_test(test_tls13_prefers_aes128),
        cmocka_unit_test(test_idle_session_releases_buffers),
        cmocka_unit_test(test_chain_sent_as_configured),
        cmocka_unit_test(test_tls11_refused_SEC_1),
        cmocka_unit_test(test_tls12_renegotiation_refused_SEC_1),
        cmocka_unit_test(test_tls_exporter_tls13_AUTH_1),
        cmocka_unit_test(test_tls_unique_tls12_AUTH_1),
        cmocka_unit_test(test_bad_cert_or_key_named_SEC_1),
        cmocka_unit_test(test_self_signed_files_CFG_5),
        cmocka_unit_test(test_cert_not_after_ADM_6),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
