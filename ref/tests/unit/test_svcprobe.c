/* Unit tests for svcprobe: the stream and TLS probe of one listener
 * (ADM-6 d) against a scripted fake server in a child process: STARTTLS
 * and direct TLS with the certificate read back, and each way a server
 * can fail to answer (refused, silent, no STARTTLS, stream error,
 * malformed XML). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "scratch.h"
#include "svcprobe.h"
#include "tls.h"

#define D "example.com"
#define HEADER "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
               "xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='x' version='1.0'>"
#define FEATURES_TLS "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
#define FEATURES_PLAIN "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>"
#define PROCEED "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"

/* One step of the fake server: read until `text` has arrived, write it,
 * start TLS (server side), or wait (say nothing) for a while. */
enum step_op { READ, WRITE, START_TLS, STALL };
struct step {
    enum step_op op;
    const char *text;
};

struct fake {
    struct scratch *scratch;
    struct tls_server *tls;
};

static int group_setup(void **state)
{
    if (scratch_setup(state) != 0) return -1;
    struct fake *f = xcalloc(1, sizeof *f);
    f->scratch = *state;
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", f->scratch->dir);
    snprintf(key, sizeof key, "%s/key.pem", f->scratch->dir);
    struct buf err;
    buf_init(&err);
    if (tls_make_self_signed(D, cert, key, 100, &err) == 0) f->tls = tls_server_new(cert, key, NULL, 0, &err);
    buf_free(&err);
    signal(SIGPIPE, SIG_IGN);
    *state = f;
    return f->tls ? 0 : -1;
}

static int group_teardown(void **state)
{
    struct fake *f = *state;
    tls_server_free(f->tls);
    void *scratch = f->scratch;
    free(f);
    return scratch_teardown(&scratch);
}

/* The child's side of one connection: 0 when every step was done. */
static int serve(struct tls_server *ts, int fd, const struct step *steps)
{
    SSL *ssl = NULL;
    struct buf got;
    buf_init(&got);
    int rc = 0;
    for (; !rc && (steps->op != READ || steps->text); steps++) {
        if (steps->op == WRITE && (ssl ? SSL_write(ssl, steps->text, (int)strlen(steps->text))
                                       : (int)write(fd, steps->text, strlen(steps->text))) <= 0)
            rc = 1;
        if (steps->op == STALL) sleep(3);
        if (steps->op == START_TLS && (!(ssl = tls_server_session(ts, fd)) || SSL_accept(ssl) != 1)) rc = 2;
        while (!rc && steps->op == READ && !(got.data && strstr(got.data, steps->text))) {
            char chunk[4096];
            int n = ssl ? SSL_read(ssl, chunk, sizeof chunk) : (int)read(fd, chunk, sizeof chunk);
            if (n <= 0) rc = 3;
            else buf_append(&got, chunk, (size_t)n);
        }
        if (steps->op == READ) buf_reset(&got);
    }
    SSL_free(ssl);
    close(fd);
    buf_free(&got);
    return rc;
}

/* Runs the probe against a fake server following `steps` (a READ with
 * NULL text ends them); fills *out. */
static void probe(struct fake *f, const struct step *steps, enum svcprobe_kind kind, struct svcprobe_result *out)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = accept(lfd, NULL, NULL);
        _exit(serve(f->tls, fd, steps));
    }
    close(lfd);
    struct sockaddr_storage addr;
    memcpy(&addr, &a, sizeof a);
    SSL_CTX *ctx = svcprobe_tls_context(NULL, NULL);
    assert_non_null(ctx);
    svcprobe_run(ctx, &addr, sizeof a, D, kind, 2, out);
    SSL_CTX_free(ctx);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void expect_failure(const struct svcprobe_result *r, const char *want)
{
    if (!r->failure) fail_msg("the probe succeeded; wanted \"%s\"", want);
    if (strncmp(r->failure, want, strlen(want)) != 0) fail_msg("failure \"%s\", wanted \"%s...\"", r->failure, want);
    assert_null(r->tls_version);
}

/* ADM-6 (d), SVC-1: header, features with <starttls/>, <proceed/>, TLS
 * with SNI, header again; the self-signed certificate read back. */
static void test_starttls(void **state)
{
    static const struct step steps[] = {
        { READ, "version='1.0'>" }, { WRITE, HEADER FEATURES_TLS }, { READ, "<starttls" }, { WRITE, PROCEED },
        { START_TLS, NULL }, { READ, "version='1.0'>" }, { WRITE, HEADER FEATURES_PLAIN },
        { READ, "</stream:stream>" }, { READ, NULL },
    };
    struct svcprobe_result r;
    probe(*state, steps, SVCPROBE_CLIENT_STARTTLS, &r);
    if (r.failure) fail_msg("%s", r.failure);
    assert_string_equal(r.tls_version, "TLSv1.3");
    assert_true(r.cert.valid_for_domain);
    assert_string_equal(r.cert.names, D);
    assert_int_equal(r.cert.verify_code, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    long long days = (r.cert.not_after - (long long)time(NULL)) / 86400;
    assert_true(days >= 99 && days <= 100);
    svcprobe_result_free(&r);
}

/* SVC-2: TLS from the first byte. */
static void test_direct_tls(void **state)
{
    static const struct step steps[] = {
        { START_TLS, NULL }, { READ, "version='1.0'>" }, { WRITE, HEADER FEATURES_PLAIN }, { READ, NULL },
    };
    struct svcprobe_result r;
    probe(*state, steps, SVCPROBE_CLIENT_DIRECT_TLS, &r);
    if (r.failure) fail_msg("%s", r.failure);
    assert_true(r.cert.valid_for_domain);
    svcprobe_result_free(&r);
}

/* ADM-6 (d): the reasons a listener fails, each named with its stage. */
static void test_failures(void **state)
{
    static const struct step no_starttls[] = {
        { READ, "version='1.0'>" }, { WRITE, HEADER FEATURES_PLAIN }, { STALL, NULL }, { READ, NULL },
    };
    static const struct step stream_error[] = {
        { READ, "jabber:server" }, { WRITE, HEADER "<stream:error><host-unknown "
                                            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>" },
        { STALL, NULL }, { READ, NULL },
    };
    static const struct step malformed[] = {
        { READ, "version='1.0'>" }, { WRITE, "<stream:stream xmlns='jabber:client'>" }, { STALL, NULL },
        { READ, NULL },
    };
    static const struct step silent[] = { { STALL, NULL }, { READ, NULL } };
    static const struct step refused_tls[] = {
        { READ, "version='1.0'>" }, { WRITE, HEADER FEATURES_TLS }, { READ, "<starttls" },
        { WRITE, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" }, { STALL, NULL }, { READ, NULL },
    };
    static const struct step closed[] = { { READ, NULL } };
    static const struct {
        const struct step *steps;
        enum svcprobe_kind kind;
        const char *want;
    } cases[] = {
        { no_starttls, SVCPROBE_CLIENT_STARTTLS, "STARTTLS: no <starttls/> in the stream features" },
        { stream_error, SVCPROBE_SERVER_STARTTLS, "stream features: stream error <host-unknown/>" },
        { malformed, SVCPROBE_CLIENT_STARTTLS, "stream header: malformed XML (" },
        { silent, SVCPROBE_CLIENT_STARTTLS, "stream header: no answer within 2 s" },
        { refused_tls, SVCPROBE_CLIENT_STARTTLS, "STARTTLS: the server answered <failure/>" },
        { closed, SVCPROBE_CLIENT_DIRECT_TLS, "TLS handshake: " },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct svcprobe_result r;
        probe(*state, cases[i].steps, cases[i].kind, &r);
        expect_failure(&r, cases[i].want);
        svcprobe_result_free(&r);
    }
}

/* ADM-6 (d): nobody listening. */
static void test_refused(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);   /* the port is free: nothing listens there */
    struct sockaddr_storage addr;
    memcpy(&addr, &a, sizeof a);
    SSL_CTX *ctx = svcprobe_tls_context(NULL, NULL);
    struct svcprobe_result r;
    svcprobe_run(ctx, &addr, sizeof a, D, SVCPROBE_CLIENT_STARTTLS, 2, &r);
    expect_failure(&r, "connect: Connection refused");
    svcprobe_result_free(&r);
    SSL_CTX_free(ctx);
}

/* A CAFile that cannot be read is a configuration error naming it. */
static void test_bad_ca_file(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err);
    assert_null(svcprobe_tls_context("/nonexistent/ca.pem", &err));
    assert_non_null(strstr(err.data, "/nonexistent/ca.pem: cannot load the trusted CA certificates"));
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_direct_tls),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bad_ca_file),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
