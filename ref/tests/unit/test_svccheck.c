/* Unit tests for svccheck: the pure judgements of Check Service
 * Accessibility (ADM-6): which SRV answers reach a listener of this server,
 * the record to add, the certificate's verdict, the server's state read
 * from the control replies, and the report as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "svccheck.h"

#define NOW 1767225600LL    /* 2026-01-01 00:00:00 UTC */
#define DAY 86400LL
#define D "example.com"

/* ---- fixtures ----------------------------------------------------------------- */

static struct sockaddr_storage ip(const char *text)
{
    struct sockaddr_storage a;
    memset(&a, 0, sizeof a);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) v6->sin6_family = AF_INET6;
    else fail_msg("bad address %s", text);
    return a;
}

/* A server from control replies, as imrefctl builds it. */
static void server(struct svccheck_server *srv, const char *services, int send_outside)
{
    char settings[64];
    snprintf(settings, sizeof settings, "{\"SendOutside\":%d}", send_outside);
    struct json *s = json_parse(services, strlen(services), NULL), *t = json_parse(settings, strlen(settings), NULL);
    struct buf err;
    buf_init(&err);
    if (svccheck_server_from_json(s, t, srv, &err) != 0) fail_msg("%s", err.data);
    json_free(s);
    json_free(t);
    buf_free(&err);
}

#define RUNNING_ALL "[{\"id\":\"xmpp\",\"running\":true,\"listeners\":[\"127.0.0.1:5222\"]}," \
                    "{\"id\":\"xmpps\",\"running\":true,\"listeners\":[\"127.0.0.1:5223\"]}," \
                    "{\"id\":\"s2s\",\"running\":true,\"listeners\":[\"127.0.0.1:5269\"]}]"

static void set_addrs(struct svccheck_addrs *a, enum resolve_status st, const char *address)
{
    a->status = st;
    if (!address) return;
    a->list = xrealloc(a->list, (a->n + 1) * sizeof *a->list);
    a->list[a->n++] = ip(address);
}

/* An SRV record of `kind`: target:port, the target's address (NULL: none). */
static void add_srv(struct svccheck_dns *dns, enum svccheck_srv_kind kind, const char *target,
                    unsigned short port, const char *address)
{
    struct svccheck_srv *s = &dns->srv[kind];
    s->status = RESOLVE_OK;
    s->targets = xrealloc(s->targets, (s->n + 1) * sizeof *s->targets);
    s->targets[s->n] = (struct svccheck_target){ .host = xstrdup(target), .port = port };
    set_addrs(&s->targets[s->n].addrs, address ? RESOLVE_OK : RESOLVE_NOT_FOUND, address);
    s->n++;
}

/* Nothing in DNS: every lookup NOT_FOUND. */
static void empty_dns(struct svccheck_dns *dns)
{
    *dns = (struct svccheck_dns){ .addrs.status = RESOLVE_NOT_FOUND };
    for (size_t k = 0; k < SVCCHECK_N_SRV; k++) dns->srv[k].status = RESOLVE_NOT_FOUND;
}

/* The one result of a judgement, checked and freed. */
static void expect(struct svccheck_report *rep, enum svccheck_status status, bool required,
                   const char *detail, const char *hint)
{
    assert_int_equal(rep->n, 1);
    const struct svccheck_result *r = &rep->results[0];
    if (r->status != status) fail_msg("status %s, detail %s", svccheck_status_name(r->status), r->detail);
    assert_int_equal(r->required, required);
    assert_string_equal(r->domain, D);
    assert_string_equal(r->detail, detail);
    if (hint) assert_string_equal(r->hint, hint);
    else assert_null(r->hint);
    svccheck_report_free(rep);
}

/* ---- listeners ------------------------------------------------------------------ */

/* ADM-6 (b): a record reaches a listener at its own address, or a
 * wildcard listener on a local address of the same family. */
static void test_listener_reached(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, "[]", 0);
    struct listen_addr exact = { "127.0.0.1", 5222 }, any4 = { "0.0.0.0", 5222 }, any6 = { "::", 5222 },
                       v6 = { "2001:db8::1", 5222 };
    struct sockaddr_storage lo = ip("127.0.0.1"), lo2 = ip("127.0.0.2"), lan = ip("192.0.2.10"),
                            lo6 = ip("::1"), net6 = ip("2001:db8::1");
    assert_true(svccheck_listener_reached(&exact, &lo, 5222, &srv));
    assert_false(svccheck_listener_reached(&exact, &lo, 5223, &srv));      /* the wrong port */
    assert_false(svccheck_listener_reached(&exact, &lo2, 5222, &srv));     /* another address */
    assert_true(svccheck_listener_reached(&any4, &lo2, 5222, &srv));       /* wildcard, loopback */
    assert_false(svccheck_listener_reached(&any4, &lan, 5222, &srv));      /* not this machine's */
    assert_false(svccheck_listener_reached(&any4, &lo6, 5222, &srv));      /* other family */
    assert_true(svccheck_listener_reached(&any6, &lo6, 5222, &srv));
    assert_true(svccheck_listener_reached(&v6, &net6, 5222, &srv));
    assert_false(svccheck_listener_reached(&v6, &lo6, 5222, &srv));
    srv.local = xmalloc(sizeof *srv.local);
    srv.local[srv.n_local++] = ip("192.0.2.10");
    assert_true(svccheck_listener_reached(&any4, &lan, 5222, &srv));       /* wildcard, local address */
    assert_false(svccheck_listener_reached(&exact, &lan, 5222, &srv));
    svccheck_server_free(&srv);
}

/* ADM-2 replies as imrefctl receives them; malformed ones refused. */
static void test_server_from_json(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, "[{\"id\":\"xmpp\",\"running\":true,\"listeners\":[\"127.0.0.1:5222\",\"[::1]:5222\"]},"
                 "{\"id\":\"xmpps\",\"running\":false,\"listeners\":[\"0.0.0.0:5223\"]}]", 1);
    assert_true(srv.send_outside);
    assert_int_equal(srv.n_services, 2);
    assert_int_equal(srv.services[0].n_listen, 2);
    assert_string_equal(srv.services[0].listen[1].host, "::1");
    assert_int_equal(srv.services[0].listen[1].port, 5222);
    assert_non_null(svccheck_running_service(&srv, "xmpp"));
    assert_null(svccheck_running_service(&srv, "xmpps"));   /* stopped */
    assert_null(svccheck_running_service(&srv, "s2s"));     /* absent */
    svccheck_server_free(&srv);

    static const char *const bad[][2] = {
        { "[{\"id\":\"xmpp\",\"running\":true,\"listeners\":[\"nowhere:5222\"]}]", "{\"SendOutside\":0}" },
        { "[{\"id\":\"xmpp\",\"listeners\":[]}]", "{\"SendOutside\":0}" },
        { "[]", "{\"SecurityPolicy\":\"NoRestrictions\"}" },
        { "{}", "{\"SendOutside\":0}" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct json *s = json_parse(bad[i][0], strlen(bad[i][0]), NULL);
        struct json *t = json_parse(bad[i][1], strlen(bad[i][1]), NULL);
        struct buf err;
        buf_init(&err);
        assert_int_equal(svccheck_server_from_json(s, t, &srv, &err), -1);
        assert_true(err.len > 0);
        assert_int_equal(srv.n_services, 0);
        buf_free(&err);
        json_free(s);
        json_free(t);
    }
}

/* ---- (a) address ------------------------------------------------------------------ */

/* ADM-6 (a): without SRV records the domain's own A/AAAA; with them,
 * every target's. */
static void test_address(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, RUNNING_ALL, 0);
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svccheck_dns dns;

    empty_dns(&dns);
    set_addrs(&dns.addrs, RESOLVE_OK, "127.0.0.1");
    set_addrs(&dns.addrs, RESOLVE_OK, "::1");
    svccheck_judge_address(D, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_OK, true, "example.com: 127.0.0.1, ::1", NULL);
    svccheck_dns_free(&dns);

    empty_dns(&dns);
    svccheck_judge_address(D, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no A/AAAA record for example.com (DNS: not found)",
           "add: example.com. IN A 127.0.0.1");
    svccheck_dns_free(&dns);

    /* The targets count, the domain's own address does not. */
    empty_dns(&dns);
    set_addrs(&dns.addrs, RESOLVE_OK, "127.0.0.1");
    add_srv(&dns, SVCCHECK_CLIENT_SRV, "xmpp.example.com", 5222, "127.0.0.1");
    add_srv(&dns, SVCCHECK_XMPPS_SRV, "xmpp.example.com", 5223, "127.0.0.1");
    add_srv(&dns, SVCCHECK_SERVER_SRV, "s2s.example.com", 5269, NULL);
    svccheck_judge_address(D, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no A/AAAA record for s2s.example.com (DNS: not found)",
           "add: s2s.example.com. IN A 127.0.0.1");
    svccheck_dns_free(&dns);

    empty_dns(&dns);
    dns.addrs.status = RESOLVE_TIMEOUT;
    svccheck_judge_address(D, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no A/AAAA record for example.com (DNS: timeout)",
           "fix: check the DNS server (table DNS, Server and Timeout, in mailserver.cfg)");
    svccheck_dns_free(&dns);
    svccheck_server_free(&srv);
}

/* ADM-6 (a): the address to add for wildcard listeners is one of the
 * machine's own, IPv6 as AAAA; a placeholder when there is none. */
static void test_address_hint(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, "[{\"id\":\"xmpp\",\"running\":true,\"listeners\":[\"[::]:5222\"]}]", 0);
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svccheck_dns dns;
    empty_dns(&dns);
    svccheck_judge_address(D, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no A/AAAA record for example.com (DNS: not found)",
           "add: example.com. IN A <this server's address>");
    srv.local = xcalloc(2, sizeof *srv.local);
    srv.local[srv.n_local++] = ip("::1");
    srv.local[srv.n_local++] = ip("2001:db8::7");
    svccheck_judge_address(D, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no A/AAAA record for example.com (DNS: not found)",
           "add: example.com. IN AAAA 2001:db8::7");
    svccheck_dns_free(&dns);
    svccheck_server_free(&srv);
}

/* ---- (b), (c) SRV records -------------------------------------------------------------- */

/* ADM-6 (b): _xmpp-client._tcp found and reaching the xmpp listener;
 * missing; or pointing at the wrong port. */
static void test_client_srv(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, RUNNING_ALL, 0);
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svccheck_dns dns;

    empty_dns(&dns);
    add_srv(&dns, SVCCHECK_CLIENT_SRV, "far.example.org", 5222, "192.0.2.1");
    add_srv(&dns, SVCCHECK_CLIENT_SRV, "xmpp.example.com", 5222, "127.0.0.1");
    svccheck_judge_srv(D, SVCCHECK_CLIENT_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_OK, true,
           "_xmpp-client._tcp.example.com -> xmpp.example.com:5222 (127.0.0.1) reaches the xmpp listener "
           "127.0.0.1:5222", NULL);
    svccheck_dns_free(&dns);

    /* Missing: the target suggested is a host that resolves to us. */
    empty_dns(&dns);
    add_srv(&dns, SVCCHECK_XMPPS_SRV, "chat.example.com", 5223, "127.0.0.1");
    svccheck_judge_srv(D, SVCCHECK_CLIENT_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no SRV record _xmpp-client._tcp.example.com",
           "add: _xmpp-client._tcp.example.com. IN SRV 0 5 5222 chat.example.com.");
    svccheck_dns_free(&dns);

    /* ... or the domain itself. */
    empty_dns(&dns);
    svccheck_judge_srv(D, SVCCHECK_CLIENT_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no SRV record _xmpp-client._tcp.example.com",
           "add: _xmpp-client._tcp.example.com. IN SRV 0 5 5222 example.com.");
    svccheck_dns_free(&dns);

    empty_dns(&dns);
    add_srv(&dns, SVCCHECK_CLIENT_SRV, "xmpp.example.com", 5999, "127.0.0.1");
    add_srv(&dns, SVCCHECK_CLIENT_SRV, "gone.example.com", 5222, NULL);
    svccheck_judge_srv(D, SVCCHECK_CLIENT_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true,
           "_xmpp-client._tcp.example.com points to xmpp.example.com:5999 (127.0.0.1), gone.example.com:5222 "
           "(no A/AAAA: not found), not to a running xmpp listener (127.0.0.1:5222)",
           "add: _xmpp-client._tcp.example.com. IN SRV 0 5 5222 xmpp.example.com.");
    svccheck_dns_free(&dns);

    empty_dns(&dns);
    dns.srv[SVCCHECK_CLIENT_SRV].status = RESOLVE_TIMEOUT;
    svccheck_judge_srv(D, SVCCHECK_CLIENT_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "DNS lookup of _xmpp-client._tcp.example.com failed: timeout",
           "fix: check the DNS server (table DNS, Server and Timeout, in mailserver.cfg)");
    svccheck_dns_free(&dns);
    svccheck_server_free(&srv);
}

/* ADM-6 (b): with the xmpp service stopped no record can be right. */
static void test_client_srv_service_stopped(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, "[{\"id\":\"xmpp\",\"running\":false,\"listeners\":[\"127.0.0.1:5222\"]}]", 0);
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svccheck_dns dns;
    empty_dns(&dns);
    add_srv(&dns, SVCCHECK_CLIENT_SRV, "xmpp.example.com", 5222, "127.0.0.1");
    svccheck_judge_srv(D, SVCCHECK_CLIENT_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true,
           "service xmpp is not running: no listener for _xmpp-client._tcp.example.com to point to",
           "fix: imrefctl service start xmpp");
    svccheck_dns_free(&dns);
    svccheck_server_free(&srv);
}

/* ADM-6, XEP-0368: _xmpps-client._tcp is optional: a WARNING, never a
 * failure; SKIPPED when xmpps does not run. */
static void test_xmpps_srv_optional(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, RUNNING_ALL, 0);
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svccheck_dns dns;
    empty_dns(&dns);
    svccheck_judge_srv(D, SVCCHECK_XMPPS_SRV, &dns, &srv, &rep);
    assert_int_equal(svccheck_report_failed(&rep), 0);
    expect(&rep, SVCCHECK_WARNING, false, "no SRV record _xmpps-client._tcp.example.com",
           "add: _xmpps-client._tcp.example.com. IN SRV 0 5 5223 example.com.");
    svccheck_server_free(&srv);

    server(&srv, "[{\"id\":\"xmpps\",\"running\":false,\"listeners\":[\"127.0.0.1:5223\"]}]", 0);
    svccheck_judge_srv(D, SVCCHECK_XMPPS_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_SKIPPED, false, "service xmpps is not running", NULL);
    svccheck_dns_free(&dns);
    svccheck_server_free(&srv);
}

/* ADM-6 (c), DOM-1: _xmpp-server._tcp is required only with SendOutside=1. */
static void test_server_srv(void **state)
{
    (void)state;
    struct svccheck_server srv;
    server(&srv, RUNNING_ALL, 0);
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svccheck_dns dns;
    empty_dns(&dns);
    svccheck_judge_srv(D, SVCCHECK_SERVER_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_SKIPPED, false, "SendOutside is 0: no federation, no record needed", NULL);
    svccheck_server_free(&srv);

    server(&srv, RUNNING_ALL, 1);
    svccheck_judge_srv(D, SVCCHECK_SERVER_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true, "no SRV record _xmpp-server._tcp.example.com",
           "add: _xmpp-server._tcp.example.com. IN SRV 0 5 5269 example.com.");
    add_srv(&dns, SVCCHECK_SERVER_SRV, "example.com", 5269, "127.0.0.1");
    svccheck_judge_srv(D, SVCCHECK_SERVER_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_OK, true,
           "_xmpp-server._tcp.example.com -> example.com:5269 (127.0.0.1) reaches the s2s listener 127.0.0.1:5269",
           NULL);
    svccheck_server_free(&srv);

    /* SVC-3: SendOutside=1 but no s2s listener. */
    server(&srv, "[{\"id\":\"xmpp\",\"running\":true,\"listeners\":[\"127.0.0.1:5222\"]}]", 1);
    svccheck_judge_srv(D, SVCCHECK_SERVER_SRV, &dns, &srv, &rep);
    expect(&rep, SVCCHECK_FAILED, true,
           "service s2s is not running: no listener for _xmpp-server._tcp.example.com to point to",
           "fix: imrefctl service start s2s");
    svccheck_dns_free(&dns);
    svccheck_server_free(&srv);
}

/* ---- (d) probes and certificates ------------------------------------------------------------ */

static struct svcprobe_result probe_with(long long not_after, bool valid_for_domain, long verify_code)
{
    return (struct svcprobe_result){
        .tls_version = xstrdup("TLSv1.3"),
        .cert = { .not_after = not_after, .valid_for_domain = valid_for_domain,
                  .names = xstrdup(valid_for_domain ? D : "other.example"), .verify_code = verify_code,
                  .verify_reason = xstrdup(X509_verify_cert_error_string(verify_code)) },
    };
}

static void judge(struct svccheck_report *rep, struct svcprobe_result probe)
{
    svccheck_judge_probe(D, "service xmpp 127.0.0.1:5222", &probe, NOW, "/srv/cert.pem", rep);
    assert_string_equal(rep->results[0].check, "service xmpp 127.0.0.1:5222");
    svcprobe_result_free(&probe);
}

/* ADM-6 (d): a certificate valid for the domain, trusted, and valid for
 * more than 30 days; the first reason it is not. */
static void test_certificate_verdict(void **state)
{
    (void)state;
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    const char *renew = "fix: renew /srv/cert.pem (valid for more than 30 days)";

    judge(&rep, probe_with(NOW + 365 * DAY, true, X509_V_OK));
    expect(&rep, SVCCHECK_OK, true, "TLSv1.3, certificate for example.com valid until 2027-01-01 (365 days)", NULL);
    judge(&rep, probe_with(NOW + 30 * DAY + 1, true, X509_V_OK));
    expect(&rep, SVCCHECK_OK, true, "TLSv1.3, certificate for example.com valid until 2026-01-31 (31 days)", NULL);
    judge(&rep, probe_with(NOW + 30 * DAY, true, X509_V_OK));
    expect(&rep, SVCCHECK_FAILED, true, "certificate for example.com expires on 2026-01-31 (in 30 days)", renew);
    judge(&rep, probe_with(NOW + 10 * DAY - 60, true, X509_V_OK));
    expect(&rep, SVCCHECK_FAILED, true, "certificate for example.com expires on 2026-01-10 (in 10 days)", renew);
    judge(&rep, probe_with(NOW + DAY / 2, true, X509_V_OK));
    expect(&rep, SVCCHECK_FAILED, true, "certificate for example.com expires on 2026-01-01 (in 1 day)", renew);
    judge(&rep, probe_with(NOW - 2 * DAY, true, X509_V_ERR_CERT_HAS_EXPIRED));
    expect(&rep, SVCCHECK_FAILED, true, "certificate for example.com expired on 2025-12-30", renew);
    judge(&rep, probe_with(NOW + 365 * DAY, false, X509_V_OK));
    expect(&rep, SVCCHECK_FAILED, true, "certificate not valid for example.com (it names other.example)",
           "fix: put a certificate for example.com (subjectAltName DNS:example.com) in /srv/cert.pem");
    /* Trust comes first, then the name. */
    judge(&rep, probe_with(NOW + 365 * DAY, false, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT));
    expect(&rep, SVCCHECK_FAILED, true, "certificate for example.com not trusted: self-signed certificate",
           "fix: put a certificate for example.com from a CA its clients trust in /srv/cert.pem");
    judge(&rep, probe_with(NOW + 365 * DAY, true, X509_V_ERR_CERT_NOT_YET_VALID));
    expect(&rep, SVCCHECK_FAILED, true, "certificate for example.com is not valid yet",
           "fix: put a certificate for example.com valid from today in /srv/cert.pem");
}

/* ADM-6 (d): a service that does not answer as it should. */
static void test_probe_failure(void **state)
{
    (void)state;
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svcprobe_result probe = { .failure = xstrdup("STARTTLS: no <starttls/> in the stream features") };
    judge(&rep, probe);
    expect(&rep, SVCCHECK_FAILED, true, "STARTTLS: no <starttls/> in the stream features", NULL);
}

/* ---- the report ----------------------------------------------------------------------------- */

/* ADM-6 --json: every result, and "failed" counting required failures only. */
static void test_report_json(void **state)
{
    (void)state;
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    svccheck_report_add(&rep, D, "address", SVCCHECK_OK, true, "example.com: 127.0.0.1", NULL);
    svccheck_report_add(&rep, D, "client-srv", SVCCHECK_FAILED, true, "no SRV record", "add: x");
    svccheck_report_add(&rep, D, "xmpps-srv", SVCCHECK_WARNING, false, "no SRV record", "add: y");
    svccheck_report_add(&rep, D, "server-srv", SVCCHECK_SKIPPED, false, "SendOutside is 0", NULL);
    assert_int_equal(svccheck_report_failed(&rep), 1);
    struct buf out;
    buf_init(&out);
    struct jsonw w;
    jsonw_init(&w, &out);
    svccheck_report_json(&rep, &w);
    assert_string_equal(out.data,
        "{\"checks\":["
        "{\"domain\":\"example.com\",\"check\":\"address\",\"status\":\"ok\",\"required\":true,"
        "\"detail\":\"example.com: 127.0.0.1\",\"hint\":null},"
        "{\"domain\":\"example.com\",\"check\":\"client-srv\",\"status\":\"failed\",\"required\":true,"
        "\"detail\":\"no SRV record\",\"hint\":\"add: x\"},"
        "{\"domain\":\"example.com\",\"check\":\"xmpps-srv\",\"status\":\"warning\",\"required\":false,"
        "\"detail\":\"no SRV record\",\"hint\":\"add: y\"},"
        "{\"domain\":\"example.com\",\"check\":\"server-srv\",\"status\":\"skipped\",\"required\":false,"
        "\"detail\":\"SendOutside is 0\",\"hint\":null}],"
        "\"failed\":1}");
    buf_free(&out);
    svccheck_report_free(&rep);
    assert_int_equal(rep.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listener_reached),
        cmocka_unit_test(test_server_from_json),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_address_hint),
        cmocka_unit_test(test_client_srv),
        cmocka_unit_test(test_client_srv_service_stopped),
        cmocka_unit_test(test_xmpps_srv_optional),
        cmocka_unit_test(test_server_srv),
        cmocka_unit_test(test_certificate_verdict),
        cmocka_unit_test(test_probe_failure),
        cmocka_unit_test(test_report_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
