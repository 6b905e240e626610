/* Unit tests: the resolver (S2S-1, ADM-6). srv_order is checked against
 * RFC 2782 with a scripted random source; the lookups run against a real
 * dnsmasq this file starts on a free loopback port, and against a UDP
 * socket of our own that never answers (timeouts). No other DNS server is
 * ever asked: every resolver here names its server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "resolver.h"

/* ---- srv_order with a scripted random source ---- */

struct script {
    const unsigned *values;   /* returned in turn */
    size_t nvalues, calls;
    unsigned bounds[16];      /* the bound of each call */
};

static unsigned scripted_rand(unsigned bound, void *ctx)
{
    struct script *s = ctx;
    assert_true(s->calls < s->nvalues);
    assert_true(s->calls < sizeof s->bounds / sizeof s->bounds[0]);
    s->bounds[s->calls] = bound;
    unsigned v = s->values[s->calls++];
    assert_true(v < bound);
    return v;
}

static void assert_targets(const struct srv_record *recs, size_t n, const char *const *expected)
{
    for (size_t i = 0; i < n; i++) assert_string_equal(recs[i].target, expected[i]);
}

/* S2S-1: ascending priority; equal weights (0) keep their input order
 * (every draw is over a sum of 0, so rand_fn(1) = 0 picks the first). */
static void test_srv_order_priorities(void **state)
{
    (void)state;
    struct srv_record recs[] = {
        {"p20", 20, 0, 1}, {"p10a", 10, 0, 2}, {"p30", 30, 0, 3}, {"p10b", 10, 0, 4},
    };
    const unsigned zeros[] = {0};
    struct script s = {zeros, 1, 0, {0}};
    srv_order(recs, 4, scripted_rand, &s);
    const char *const want[] = {"p10a", "p10b", "p20", "p30"};
    assert_targets(recs, 4, want);
    assert_int_equal(recs[0].port, 2);
    assert_int_equal(recs[3].port, 3);
    assert_int_equal(s.calls, 1);   /* one draw: the priority-10 pair */
    assert_int_equal(s.bounds[0], 1);
}

/* S2S-1, RFC 2782 within one priority. Input A(10) B(20) C(0) D(30).
 * Unordered list arranged weight 0 first, then by weight: C A B D.
 * Draw 1: sum 60, rand(61) -> 15; running sums C 0, A 10, B 30, D 60;
 *         first >= 15 is B.                      order: B
 * Draw 2: C A D, sum 40, rand(41) -> 40; sums 0, 10, 40: D.  order: B D
 * Draw 3: C A, sum 10, rand(11) -> 0; C's sum 0 >= 0: C.      order: B D C
 * A is left: B D C A, three draws. */
static void test_srv_order_weighted(void **state)
{
    (void)state;
    struct srv_record recs[] = {
        {"A", 5, 10, 1}, {"B", 5, 20, 2}, {"C", 5, 0, 3}, {"D", 5, 30, 4},
    };
    const unsigned values[] = {15, 40, 0};
    struct script s = {values, 3, 0, {0}};
    srv_order(recs, 4, scripted_rand, &s);
    const char *const want[] = {"B", "D", "C", "A"};
    assert_targets(recs, 4, want);
    assert_int_equal(s.calls, 3);
    assert_int_equal(s.bounds[0], 61);
    assert_int_equal(s.bounds[1], 41);
    assert_int_equal(s.bounds[2], 11);
}

/* S2S-1: a weight-0 record is drawn only when the random value is 0.
 * P(0) Q(5): sum 5, rand(6). 0 -> P's sum 0 >= 0: P Q. 1 -> P's 0 < 1,
 * Q's 5 >= 1: Q P. Two priorities: the group {C 5} needs no draw; group
 * {A 1, B 2}: sum 3, rand(4) -> 3; sums A 1, B 3: B. So C B A. */
static void test_srv_order_weight_zero(void **state)
{
    (void)state;
    const unsigned zero[] = {0}, one[] = {1}, three[] = {3};
    struct srv_record a[] = {{"Q", 0, 5, 1}, {"P", 0, 0, 2}};
    struct script s = {zero, 1, 0, {0}};
    srv_order(a, 2, scripted_rand, &s);
    const char *const want_a[] = {"P", "Q"};
    assert_targets(a, 2, want_a);
    assert_int_equal(s.bounds[0], 6);

    struct srv_record b[] = {{"Q", 0, 5, 1}, {"P", 0, 0, 2}};
    s = (struct script){one, 1, 0, {0}};
    srv_order(b, 2, scripted_rand, &s);
    const char *const want_b[] = {"Q", "P"};
    assert_targets(b, 2, want_b);

    struct srv_record c[] = {{"A", 1, 1, 1}, {"B", 1, 2, 2}, {"C", 0, 5, 3}};
    s = (struct script){three, 1, 0, {0}};
    srv_order(c, 3, scripted_rand, &s);
    const char *const want_c[] = {"C", "B", "A"};
    assert_targets(c, 3, want_c);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.bounds[0], 4);

    /* all weights 0: every draw is rand(1) = 0, input order kept */
    const unsigned zeros[] = {0, 0};
    struct srv_record d[] = {{"X", 3, 0, 1}, {"Y", 3, 0, 2}, {"Z", 3, 0, 3}};
    s = (struct script){zeros, 2, 0, {0}};
    srv_order(d, 3, scripted_rand, &s);
    const char *const want_d[] = {"X", "Y", "Z"};
    assert_targets(d, 3, want_d);
    assert_int_equal(s.calls, 2);
}

/* S2S-1: nothing to order, nothing drawn. */
static void test_srv_order_small(void **state)
{
    (void)state;
    struct script s = {NULL, 0, 0, {0}};
    srv_order(NULL, 0, scripted_rand, &s);
    struct srv_record one[] = {{"only", 7, 9, 5269}};
    srv_order(one, 1, scripted_rand, &s);
    assert_int_equal(s.calls, 0);
    assert_string_equal(one[0].target, "only");
    assert_int_equal(one[0].priority, 7);
    assert_int_equal(one[0].weight, 9);
    assert_int_equal(one[0].port, 5269);
}

/* ---- the live DNS fixture ---- */

struct dns_fixture {
    pid_t dnsmasq;
    unsigned short port;
    struct ev_loop *loop;
};

static struct dns_fixture fx;

static const char *const dnsmasq_records[] = {
    /* a.example: two plain targets, priorities out of order in the config */
    "--srv-host=_xmpp-server._tcp.a.example,x2.a.example,5270,20,0",
    "--srv-host=_xmpp-server._tcp.a.example,x1.a.example,5269,10,0",
    "--host-record=x1.a.example,127.0.0.11",
    "--host-record=x2.a.example,127.0.0.12,::12",
    /* b.example: direct TLS and plain, merged by priority */
    "--srv-host=_xmpps-server._tcp.b.example,t1.b.example,5223,5,0",
    "--srv-host=_xmpp-server._tcp.b.example,p1.b.example,5269,5,0",
    "--srv-host=_xmpp-server._tcp.b.example,p0.b.example,5300,1,0",
    "--host-record=t1.b.example,127.0.0.21",
    "--host-record=p1.b.example,127.0.0.22",
    "--host-record=p0.b.example,127.0.0.20",
    /* c.example: no SRV, A and AAAA */
    "--host-record=c.example,127.0.0.30,::30",
    /* d.example: "service decidedly not available", though it has an A */
    "--srv-host=_xmpp-server._tcp.d.example",
    "--host-record=d.example,127.0.0.40",
    /* e.example: an SRV target without addresses */
    "--srv-host=_xmpp-server._tcp.e.example,noaddr.e.example,5269,0,0",
};

/* A loopback port free for both UDP and TCP (dnsmasq binds both). */
static unsigned short free_port(void)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sin;
        if (u < 0 || bind(u, (struct sockaddr *)&sin, sizeof sin) != 0
            || getsockname(u, (struct sockaddr *)&sin, &len) != 0) {
            if (u >= 0) close(u);
            continue;
        }
        int t = socket(AF_INET, SOCK_STREAM, 0);
        bool tcp_free = t >= 0 && bind(t, (struct sockaddr *)&sin, sizeof sin) == 0;
        if (t >= 0) close(t);
        close(u);
        if (tcp_free) return ntohs(sin.sin_port);
    }
    return 0;
}

static pid_t start_dnsmasq(unsigned short port)
{
    char port_arg[32];
    snprintf(port_arg, sizeof port_arg, "--port=%u", port);
    const char *args[64] = {
        "/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
        "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1", port_arg,
        "--pid-file=", "--user=root", "--conf-file=/dev/null", "--local=/example/",
        "--log-facility=/dev/null",
    };
    size_t n = 13;
    for (size_t i = 0; i < sizeof dnsmasq_records / sizeof *dnsmasq_records; i++)
        args[n++] = dnsmasq_records[i];
    args[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);   /* never outlive the test */
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    return pid;
}

static void stop_dnsmasq(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static struct resolver *new_resolver(unsigned short port, unsigned timeout)
{
    struct buf err;
    buf_init(&err);
    struct resolver *r = resolver_new(fx.loop, "127.0.0.1", port, timeout, &err);
    if (!r) fprintf(stderr, "resolver_new: %s\n", err.data);
    buf_free(&err);
    assert_non_null(r);
    return r;
}

/* What a callback saw; the arrays are copies. */
struct seen {
    int calls;
    enum resolve_status st;
    size_t n;
    struct srv_record recs[8];
    char hosts[8][64];
    struct sockaddr_storage addrs[8];
    socklen_t addrlens[8];
    bool direct_tls[8];
};

static void on_srv(void *ctx, enum resolve_status st, const struct srv_record *recs, size_t n)
{
    struct seen *s = ctx;
    s->calls++;
    s->st = st;
    s->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        s->recs[i] = recs[i];
        snprintf(s->hosts[i], sizeof s->hosts[i], "%s", recs[i].target);
        s->recs[i].target = s->hosts[i];
    }
}

static void on_addrs(void *ctx, enum resolve_status st, const struct sockaddr_storage *addrs, size_t n)
{
    struct seen *s = ctx;
    s->calls++;
    s->st = st;
    s->n = n;
    for (size_t i = 0; i < n && i < 8; i++) s->addrs[i] = addrs[i];
}

static void on_targets(void *ctx, enum resolve_status st, const struct resolved_target *t, size_t n)
{
    struct seen *s = ctx;
    s->calls++;
    s->st = st;
    s->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(s->hosts[i], sizeof s->hosts[i], "%s", t[i].host);
        s->addrs[i] = t[i].addr;
        s->addrlens[i] = t[i].addrlen;
        s->direct_tls[i] = t[i].direct_tls;
    }
}

static int dns_setup(void **state)
{
    (void)state;
    fx.loop = ev_loop_new(EVFLAG_AUTO);
    fx.port = free_port();
    if (!fx.loop || !fx.port) return -1;
    fx.dnsmasq = start_dnsmasq(fx.port);
    if (fx.dnsmasq < 0) return -1;
    struct buf err;
    buf_init(&err);
    struct resolver *r = resolver_new(fx.loop, "127.0.0.1", fx.port, 1, &err);
    buf_free(&err);
    if (!r) return -1;
    /* until it answers: refused (not bound yet) comes back at once */
    bool ready = false;
    for (int attempt = 0; attempt < 100 && !ready; attempt++) {
        struct seen s = {0};
        resolver_addresses(r, "x1.a.example", on_addrs, &s);
        resolver_wait(r);
        ready = s.calls == 1 && s.st == RESOLVE_OK;
        if (!ready) usleep(50 * 1000);
        if (waitpid(fx.dnsmasq, NULL, WNOHANG) != 0) break;
    }
    resolver_free(r);
    if (!ready) {
        stop_dnsmasq(fx.dnsmasq);
        return -1;
    }
    return 0;
}

static int dns_teardown(void **state)
{
    (void)state;
    stop_dnsmasq(fx.dnsmasq);
    ev_loop_destroy(fx.loop);
    return 0;
}

/* After resolver_free nothing of the resolver is left in the loop. */
static void free_and_check_loop(struct resolver *r)
{
    resolver_free(r);
    assert_false(ev_run(fx.loop, EVRUN_NOWAIT));
}

static void assert_addr(const struct sockaddr_storage *ss, const char *ip, unsigned short port)
{
    char text[INET6_ADDRSTRLEN];
    const void *raw;
    unsigned short got_port;
    if (ss->ss_family == AF_INET) {
        raw = &((const struct sockaddr_in *)ss)->sin_addr;
        got_port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
    } else {
        assert_int_equal(ss->ss_family, AF_INET6);
        raw = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        got_port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    }
    assert_non_null(inet_ntop(ss->ss_family, raw, text, sizeof text));
    assert_string_equal(text, ip);
    assert_int_equal(got_port, port);
}

static void assert_target(const struct seen *s, size_t i, const char *host, const char *ip,
                          unsigned short port, bool direct_tls)
{
    assert_string_equal(s->hosts[i], host);
    assert_addr(&s->addrs[i], ip, port);
    assert_int_equal(s->addrlens[i], s->addrs[i].ss_family == AF_INET
                                         ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    assert_int_equal(s->direct_tls[i], direct_tls);
}

/* S2S-1: SRV records come back ordered by priority, without the dot. */
static void test_srv_by_priority(void **state)
{
    (void)state;
    struct resolver *r = new_resolver(fx.port, 2);
    struct seen s = {0};
    assert_non_null(resolver_srv(r, "_xmpp-server._tcp.a.example", on_srv, &s));
    assert_int_equal(s.calls, 0);   /* never from within the call */
    resolver_wait(r);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.st, RESOLVE_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.recs[0].target, "x1.a.example");
    assert_int_equal(s.recs[0].priority, 10);
    assert_int_equal(s.recs[0].port, 5269);
    assert_string_equal(s.recs[1].target, "x2.a.example");
    assert_int_equal(s.recs[1].priority, 20);
    assert_int_equal(s.recs[1].port, 5270);
    free_and_check_loop(r);
}

/* S2S-1, ADM-6: A before AAAA, ports 0; a missing name is NOT_FOUND. */
static void test_addresses(void **state)
{
    (void)state;
    struct resolver *r = new_resolver(fx.port, 2);
    struct seen s = {0}, missing = {0}, v4only = {0};
    resolver_addresses(r, "c.example", on_addrs, &s);
    resolver_addresses(r, "nothere.example", on_addrs, &missing);
    resolver_addresses(r, "x1.a.example", on_addrs, &v4only);
    resolver_wait(r);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.st, RESOLVE_OK);
    assert_int_equal(s.n, 2);
    assert_addr(&s.addrs[0], "127.0.0.30", 0);
    assert_addr(&s.addrs[1], "::30", 0);
    assert_int_equal(missing.calls, 1);
    assert_int_equal(missing.st, RESOLVE_NOT_FOUND);
    assert_int_equal(missing.n, 0);
    assert_int_equal(v4only.st, RESOLVE_OK);
    assert_int_equal(v4only.n, 1);
    assert_addr(&v4only.addrs[0], "127.0.0.11", 0);
    free_and_check_loop(r);
}

/* S2S-1: one entry per address, in SRV order, with the SRV port. */
static void test_targets_plain_srv(void **state)
{
    (void)state;
    struct resolver *r = new_resolver(fx.port, 2);
    struct seen s = {0};
    resolver_xmpp_targets(r, "a.example", "xmpp-server", "xmpps-server", 5269, on_targets, &s);
    resolver_wait(r);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.st, RESOLVE_OK);
    assert_int_equal(s.n, 3);
    assert_target(&s, 0, "x1.a.example", "127.0.0.11", 5269, false);
    assert_target(&s, 1, "x2.a.example", "127.0.0.12", 5270, false);
    assert_target(&s, 2, "x2.a.example", "::12", 5270, false);
    free_and_check_loop(r);
}

/* S2S-1 (XEP-0368): xmpps-server and xmpp-server merged by priority,
 * direct TLS first at equal priority. */
static void test_targets_merge_tls(void **state)
{
    (void)state;
    struct resolver *r = new_resolver(fx.port, 2);
    struct seen s = {0}, plain_only = {0};
    resolver_xmpp_targets(r, "b.example", "xmpp-server", "xmpps-server", 5269, on_targets, &s);
    resolver_xmpp_targets(r, "b.example.", "xmpp-server", NULL, 5269, on_targets, &plain_only);
    resolver_wait(r);
    assert_int_equal(s.st, RESOLVE_OK);
    assert_int_equal(s.n, 3);
    assert_target(&s, 0, "p0.b.example", "127.0.0.20", 5300, false);
    assert_target(&s, 1, "t1.b.example", "127.0.0.21", 5223, true);
    assert_target(&s, 2, "p1.b.example", "127.0.0.22", 5269, false);
    assert_int_equal(plain_only.st, RESOLVE_OK);
    assert_int_equal(plain_only.n, 2);
    assert_target(&plain_only, 0, "p0.b.example", "127.0.0.20", 5300, false);
    assert_target(&plain_only, 1, "p1.b.example", "127.0.0.22", 5269, false);
    free_and_check_loop(r);
}

/* S2S-1: no SRV record: the domain's own A/AAAA on the default port. */
static void test_targets_fallback(void **state)
{
    (void)state;
    struct resolver *r = new_resolver(fx.port, 2);
    struct seen s = {0};
    resolver_xmpp_targets(r, "c.example", "xmpp-server", "xmpps-server", 5269, on_targets, &s);
    resolver_wait(r);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.st, RESOLVE_OK);
    assert_int_equal(s.n, 2);
    assert_target(&s, 0, "c.example", "127.0.0.30", 5269, false);
    assert_target(&s, 1, "c.example", "::30", 5269, false);
    free_and_check_loop(r);
}

/* S2S-1: unknown names, a "." target (no fallback to the A record that
 * exists), and SRV targets without addresses are all NOT_FOUND. */
static void test_not_found(void **state)
{
    (void)state;
    struct resolver *r = new_resolver(fx.port, 2);
    struct seen srv_missing = {0}, srv_dot = {0}, t_missing = {0}, t_dot = {0}, t_noaddr = {0};
    resolver_srv(r, "_xmpp-server._tcp.nothere.example", on_srv, &srv_missing);
    resolver_srv(r, "_xmpp-server._tcp.d.example", on_srv, &srv_dot);
    resolver_xmpp_targets(r, "nothere.example", "xmpp-server", "xmpps-server", 5269,
                          on_targets, &t_missing);
    resolver_xmpp_targets(r, "d.example", "xmpp-server", "xmpps-server", 5269, on_targets, &t_dot);
    resolver_xmpp_targets(r, "e.example", "xmpp-server", "xmpps-server", 5269,
                          on_targets, &t_noaddr);
    resolver_wait(r);
    const struct seen *all[] = {&srv_missing, &srv_dot, &t_missing, &t_dot, &t_noaddr};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        assert_int_equal(all[i]->calls, 1);
        assert_int_equal(all[i]->st, RESOLVE_NOT_FOUND);
        assert_int_equal(all[i]->n, 0);
    }
    free_and_check_loop(r);
}

/* A loopback UDP socket nobody reads: queries to it time out. */
static int silent_socket(unsigned short *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* S2S-1: a server that never answers: TIMEOUT after the configured
 * timeout (1 s), for one query and for the whole targets lookup (SRV,
 * then the A/AAAA fallback: two rounds). */
static void test_timeout(void **state)
{
    (void)state;
    unsigned short port;
    int fd = silent_socket(&port);
    struct resolver *r = new_resolver(port, 1);
    struct seen s = {0};
    double start = now_seconds();
    resolver_srv(r, "_xmpp-server._tcp.a.example", on_srv, &s);
    resolver_wait(r);
    double took = now_seconds() - start;
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.st, RESOLVE_TIMEOUT);
    assert_true(took >= 0.9 && took < 3.0);

    struct seen t = {0};
    start = now_seconds();
    resolver_xmpp_targets(r, "a.example", "xmpp-server", "xmpps-server", 5269, on_targets, &t);
    resolver_wait(r);
    took = now_seconds() - start;
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.st, RESOLVE_TIMEOUT);
    assert_int_equal(t.n, 0);
    assert_true(took >= 1.8 && took < 5.0);
    free_and_check_loop(r);
    close(fd);
}

/* A name c-ares refuses at once (a 70-character label) is still reported
 * from the loop, never from within the call; RESOLVE_ERROR. */
static void test_immediate_failure(void **state)
{
    (void)state;
    unsigned short port;
    int fd = silent_socket(&port);
    struct resolver *r = new_resolver(port, 1);
    char name[128];
    memset(name, 'x', 70);
    strcpy(name + 70, ".example");
    struct seen s = {0}, t = {0};
    assert_non_null(resolver_srv(r, name, on_srv, &s));
    assert_non_null(resolver_xmpp_targets(r, name, "xmpp-server", NULL, 5269, on_targets, &t));
    assert_int_equal(s.calls + t.calls, 0);
    resolver_wait(r);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.st, RESOLVE_ERROR);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.st, RESOLVE_NOT_FOUND);   /* neither timeout nor records */
    free_and_check_loop(r);
    close(fd);
}

/* Cancels `victim` from another lookup's callback (unless it is done). */
struct canceller {
    struct seen seen;
    struct resolver_query *victim;
    const struct seen *victim_seen;
};

static void on_srv_cancel(void *ctx, enum resolve_status st, const struct srv_record *recs, size_t n)
{
    struct canceller *c = ctx;
    on_srv(&c->seen, st, recs, n);
    if (c->victim_seen->calls == 0) resolver_cancel(c->victim);
}

/* S2S-1: a cancelled lookup never calls back, at whatever point it is
 * cancelled; the resolver still drains. (1) At once. (2) From another
 * lookup's callback: the SRV question of that lookup is sent after the
 * targets lookup's two, so its answer is read after theirs, when the
 * address questions are in flight. (3) After 0..11 loop steps. */
static void test_cancel(void **state)
{
    (void)state;
    struct resolver *r = new_resolver(fx.port, 2);
    struct seen s = {0};
    resolver_cancel(resolver_srv(r, "_xmpp-server._tcp.a.example", on_srv, &s));
    resolver_wait(r);
    assert_int_equal(s.calls, 0);

    struct seen t = {0};
    struct canceller c = {.victim_seen = &t};
    c.victim = resolver_xmpp_targets(r, "b.example", "xmpp-server", "xmpps-server", 5269,
                                     on_targets, &t);
    resolver_srv(r, "_xmpp-server._tcp.a.example", on_srv_cancel, &c);
    resolver_wait(r);
    assert_int_equal(c.seen.calls, 1);
    assert_int_equal(c.seen.st, RESOLVE_OK);
    assert_int_equal(t.calls, 0);

    int cancelled_rounds = 0;
    for (int steps = 0; steps < 12; steps++) {
        struct seen u = {0};
        struct resolver_query *q = resolver_xmpp_targets(r, "b.example", "xmpp-server",
                                                         "xmpps-server", 5269, on_targets, &u);
        for (int i = 0; i < steps && u.calls == 0; i++) ev_run(fx.loop, EVRUN_ONCE);
        bool cancel = u.calls == 0;
        if (cancel) {
            resolver_cancel(q);
            cancelled_rounds++;
        }
        resolver_wait(r);
        assert_int_equal(u.calls, cancel ? 0 : 1);
        if (!cancel) assert_int_equal(u.n, 3);
    }
    assert_true(cancelled_rounds >= 1);
    free_and_check_loop(r);
}

/* resolver_free with lookups pending (in flight, cancelled, or failed at
 * once) calls none of them and leaks nothing (ASan, Valgrind). */
static void test_free_pending(void **state)
{
    (void)state;
    unsigned short port;
    int fd = silent_socket(&port);
    struct resolver *r = new_resolver(port, 1);
    struct seen a = {0}, b = {0}, c = {0}, d = {0};
    resolver_srv(r, "_xmpp-server._tcp.a.example", on_srv, &a);
    resolver_xmpp_targets(r, "a.example", "xmpp-server", "xmpps-server", 5269, on_targets, &b);
    resolver_cancel(resolver_addresses(r, "c.example", on_addrs, &c));
    char name[80];
    memset(name, 'y', 70);
    strcpy(name + 70, ".example");
    resolver_srv(r, name, on_srv, &d);
    free_and_check_loop(r);
    assert_int_equal(a.calls + b.calls + c.calls + d.calls, 0);
    close(fd);

    /* against dnsmasq, freed at each step of a targets lookup */
    for (int steps = 0; steps < 8; steps++) {
        struct resolver *r2 = new_resolver(fx.port, 2);
        struct seen t = {0};
        resolver_xmpp_targets(r2, "b.example", "xmpp-server", "xmpps-server", 5269, on_targets, &t);
        for (int i = 0; i < steps && t.calls == 0; i++) ev_run(fx.loop, EVRUN_ONCE);
        int before = t.calls;
        free_and_check_loop(r2);
        assert_int_equal(t.calls, before);
    }
}

/* Configuration errors are reported, not guessed around. */
static void test_new_errors(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err);
    assert_null(resolver_new(fx.loop, "dns.example", 53, 5, &err));
    assert_non_null(strstr(err.data, "numeric"));
    assert_null(resolver_new(fx.loop, "127.0.0.1", 53, 0, &err));
    assert_non_null(strstr(err.data, "timeout"));
    buf_free(&err);
    assert_string_equal(resolve_status_name(RESOLVE_TIMEOUT), "timeout");
    assert_string_equal(resolve_status_name(RESOLVE_NOT_FOUND), "not found");
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_srv_order_priorities),
        cmocka_unit_test(test_srv_order_weighted),
        cmocka_unit_test(test_srv_order_weight_zero),
        cmocka_unit_test(test_srv_order_small),
    };
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_srv_by_priority),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_targets_plain_srv),
        cmocka_unit_test(test_targets_merge_tls),
        cmocka_unit_test(test_targets_fallback),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_immediate_failure),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_free_pending),
        cmocka_unit_test(test_new_errors),
    };
    int failed = cmocka_run_group_tests_name("srv_order", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("resolver (dnsmasq)", live, dns_setup, dns_teardown);
    return failed;
}
