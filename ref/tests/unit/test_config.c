/* Unit tests for config: the typed view of mailserver.cfg (CFG-1), its
 * defaults, bad values warned and defaulted (CFG-4), services and listeners
 * (SVC-4, SVC-8), IP groups (ACC-2), the security policy (SEC-2, SEC-6),
 * MaximumRoster (ROST-2, ROST-4), limits (XML-4), access policies and their
 * reload (ACC-1, ACC-4, ADM-7), anti-hammering and lockout (SEC-7, SEC-8).
 * Run from the repository root (fixtures/config/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cfgfile.h"
#include "config.h"
#include "ipgroup.h"
#include "log.h"
#include "scratch.h"
#include "scram.h"

#define FIXTURES "fixtures/config/"


static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++) n += *text == '\n';
    return n;
}

/* Asserts that the log has a line containing every given fragment. */
static void assert_logged(const char *log, const char *fragment1, const char *fragment2)
{
    const char *line = log;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = xstrndup(line, len);
        bool found = strstr(copy, fragment1) && strstr(copy, fragment2);
        free(copy);
        if (found) return;
        line += len + (end ? 1 : 0);
    }
    print_error("no warning with '%s' and '%s' in:\n%s", fragment1, fragment2, log);
    fail();
}

static struct server_config *load_ok(const char *dir)
{
    struct server_config *cfg = NULL;
    struct buf err;
    buf_init(&err);
    int rc = config_load(dir, &cfg, &err);
    if (rc != 0) print_error("unexpected error: %s\n", err.data);
    assert_int_equal(rc, 0);
    buf_free(&err);
    return cfg;
}

static struct server_config *load_written(const struct scratch *s, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "%s/mailserver.cfg", s->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "<?xml version=\"1.0\"?>\n<config>\n%s\n</config>\n", body);
    fclose(f);
    return load_ok(s->dir);
}

static char *absolute(const char *dir, const char *file)
{
    char *real = realpath(dir, NULL);
    assert_non_null(real);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", real, file);
    free(real);
    return buf_steal(&b);
}

static void assert_path(const char *actual, const char *dir, const char *file)
{
    char *expected = absolute(dir, file);
    assert_string_equal(actual, expected);
    free(expected);
}

static void assert_default_limits(const struct limits_config *l)
{
    /* XML-4 defaults */
    assert_int_equal(l->stanza_bytes_pre_auth, 16384);
    assert_int_equal(l->stanza_bytes, 262144);
    assert_int_equal(l->stanza_bytes_s2s, 524288);
    assert_int_equal(l->elements_pre_auth, 32);
    assert_int_equal(l->elements, 2000);
    assert_int_equal(l->depth_pre_auth, 16);
    assert_int_equal(l->depth, 64);
    assert_int_equal(l->attrs, 32);
    assert_int_equal(l->negotiation_timeout, 60);
    assert_int_equal(l->tls_handshake_timeout, 15);
    assert_int_equal(l->idle_timeout, 300);
    assert_int_equal(l->ping_timeout, 60);
    assert_int_equal(l->resources_per_account, 10);
    assert_int_equal(l->out_queue_bytes, 1048576);
    assert_int_equal(l->read_rate, 102400);
    assert_int_equal(l->read_burst, 1048576);
    assert_int_equal(l->offline_messages, 1000);
}

static bool group_contains(const struct server_config *cfg, const char *group, const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    }
    return ipgroup_contains(cfg->ipgroups, group, (struct sockaddr *)&ss);
}

/* CFG-1, SVC-1..4: the documented example loads with no warning. */
static void test_example(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_ok(FIXTURES "example");
    assert_path(cfg->path, FIXTURES "example", "mailserver.cfg");
    assert_true(cfg->dir[0] == '/');
    assert_false(cfg->send_outside);
    assert_int_equal(cfg->maximum_roster, 300);
    assert_int_equal(cfg->security_policy, SECPOL_NO_RESTRICTIONS);
    assert_null(cfg->auth_exception_group);
    assert_null(cfg->encryption_exception_group);
    assert_int_equal(cfg->scram_iterations, 10000);
    assert_default_limits(&cfg->limits);
    assert_int_equal(cfg->n_domains, 1);
    assert_string_equal(cfg->domains[0].name, "localhost");
    assert_true(cfg->domains[0].im_enabled);
    assert_null(cfg->domains[0].cert_file);
    assert_null(cfg->domains[0].key_file);
    assert_int_equal(cfg->n_services, 3);
    static const struct { const char *id; unsigned short port; } services[] = {
        { "xmpp", 5222 }, { "xmpps", 5223 }, { "s2s", 5269 },
    };
    for (size_t i = 0; i < 3; i++) {
        const struct service_config *svc = config_find_service(cfg, services[i].id);
        assert_ptr_equal(svc, &cfg->services[i]);
        assert_int_equal(svc->startup, STARTUP_AUTOMATIC);
        assert_int_equal(svc->n_listen, 1);
        assert_string_equal(svc->listen[0].host, "127.0.0.1");
        assert_int_equal(svc->listen[0].port, services[i].port);
        assert_int_equal(svc->max_connections, 0);
        assert_null(svc->ip_group);
    }
    assert_true(group_contains(cfg, "Local", "127.0.0.1"));
    assert_false(group_contains(cfg, "Local", "127.0.0.2"));
    assert_non_null(cfg->file);
    char *log = scratch_warnings(s);
    assert_string_equal(log, "");
    free(log);
    config_free(cfg);
}

/* CFG-1: an empty <config> gives every default; paths are absolute,
 * relative to the directory; there are no services unless listed. */
static void test_defaults(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_ok(FIXTURES "minimal");
    assert_false(cfg->send_outside);                 /* DOM-1 */
    assert_int_equal(cfg->maximum_roster, 300);      /* ROST-2 */
    assert_int_equal(cfg->security_policy, SECPOL_NO_RESTRICTIONS);
    assert_int_equal(cfg->scram_iterations, 10000);  /* AUTH-2 */
    assert_default_limits(&cfg->limits);
    assert_path(cfg->users_path, FIXTURES "minimal", "users.cfg");
    assert_path(cfg->store_path, FIXTURES "minimal", "store");
    assert_path(cfg->log_path, FIXTURES "minimal", "logs");
    assert_path(cfg->cert_file, FIXTURES "minimal", "cert.pem");
    assert_path(cfg->key_file, FIXTURES "minimal", "key.pem");
    assert_path(cfg->control_socket, FIXTURES "minimal", "imrefd.sock");   /* ADM-1 */
    assert_false(cfg->debug_log);
    assert_int_equal(cfg->n_domains, 0);
    assert_int_equal(cfg->n_services, 0);
    assert_null(config_find_service(cfg, "xmpp"));
    assert_false(group_contains(cfg, "Local", "127.0.0.1"));
    char *log = scratch_warnings(s);
    assert_string_equal(log, "");
    free(log);
    config_free(cfg);
}

/* CFG-1, XML-4, SVC-4, SVC-8, ACC-2, SEC-6: every value read. */
static void test_full(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_ok(FIXTURES "full");
    assert_true(cfg->send_outside);
    assert_int_equal(cfg->maximum_roster, 0);        /* ROST-4: 0 disables, no warning */
    assert_int_equal(cfg->security_policy, SECPOL_ENCRYPTION_REQUIRED);
    assert_string_equal(cfg->auth_exception_group, "Office");
    assert_string_equal(cfg->encryption_exception_group, "Local");
    assert_int_equal(cfg->scram_iterations, 4096);
    const struct limits_config *l = &cfg->limits;
    assert_int_equal(l->stanza_bytes_pre_auth, 1001);
    assert_int_equal(l->stanza_bytes, 1002);
    assert_int_equal(l->stanza_bytes_s2s, 1003);
    assert_int_equal(l->elements_pre_auth, 1004);
    assert_int_equal(l->elements, 1005);
    assert_int_equal(l->depth_pre_auth, 1006);
    assert_int_equal(l->depth, 1007);
    assert_int_equal(l->attrs, 1008);
    assert_int_equal(l->negotiation_timeout, 1009);
    assert_int_equal(l->tls_handshake_timeout, 1010);
    assert_int_equal(l->idle_timeout, 1011);
    assert_int_equal(l->ping_timeout, 1012);
    assert_int_equal(l->resources_per_account, 1013);
    assert_int_equal(l->out_queue_bytes, 1014);
    assert_int_equal(l->read_rate, 0);               /* 0 turns the rate limit off */
    assert_int_equal(l->read_burst, 1016);
    assert_int_equal(l->offline_messages, 1017);
    assert_string_equal(cfg->users_path, "/etc/imref/accounts.cfg");
    assert_path(cfg->store_path, FIXTURES "full", "data/store");
    assert_string_equal(cfg->log_path, "/var/log/imref");
    assert_path(cfg->cert_file, FIXTURES "full", "tls/default.crt");
    assert_path(cfg->key_file, FIXTURES "full", "tls/default.key");
    assert_path(cfg->control_socket, FIXTURES "full", "run/ctl.sock");
    assert_true(cfg->debug_log);

    assert_int_equal(cfg->n_domains, 2);
    const struct domain_config *d = config_find_domain(cfg, "EXAMPLE.com");
    assert_ptr_equal(d, &cfg->domains[0]);
    assert_string_equal(d->name, "example.com");
    assert_true(d->im_enabled);
    assert_path(d->cert_file, FIXTURES "full", "tls/example.crt");
    assert_string_equal(d->key_file, "/srv/example.key");
    d = config_find_domain(cfg, "xn--bcher-kva.example");
    assert_null(d);                                  /* names are kept in Unicode form */
    d = config_find_domain(cfg, "b\xc3\xbc" "cher.example");
    assert_ptr_equal(d, &cfg->domains[1]);
    assert_string_equal(d->name, "b\xc3\xbc" "cher.example"); /* prepared from BÜCHER */
    assert_false(d->im_enabled);
    assert_null(config_find_domain(cfg, "example"));

    const struct service_config *svc = config_find_service(cfg, "xmpp");
    assert_non_null(svc);
    assert_int_equal(svc->startup, STARTUP_MANUAL);
    assert_int_equal(svc->n_listen, 3);
    assert_string_equal(svc->listen[0].host, "127.0.0.1");
    assert_int_equal(svc->listen[0].port, 15222);
    assert_string_equal(svc->listen[1].host, "::1");
    assert_int_equal(svc->listen[1].port, 15222);
    assert_string_equal(svc->listen[2].host, "0.0.0.0");
    assert_int_equal(svc->listen[2].port, 25222);
    assert_int_equal(svc->max_connections, 50);
    assert_string_equal(svc->ip_group, "Local");
    svc = config_find_service(cfg, "XMPPS");
    assert_non_null(svc);
    assert_int_equal(svc->startup, STARTUP_AUTOMATIC);
    assert_int_equal(svc->n_listen, 1);
    assert_string_equal(svc->listen[0].host, "2001:db8::7");
    assert_int_equal(svc->listen[0].port, 15223);
    assert_null(svc->ip_group);
    assert_null(config_find_service(cfg, "s2s"));

    assert_true(group_contains(cfg, "Local", "127.1.2.3"));
    assert_true(group_contains(cfg, "Local", "::1"));
    assert_true(group_contains(cfg, "Local", "::ffff:127.0.0.1"));
    assert_false(group_contains(cfg, "Local", "192.0.2.15"));
    assert_true(group_contains(cfg, "Office", "192.0.2.15"));
    assert_false(group_contains(cfg, "Office", "192.0.2.21"));
    char *log = scratch_warnings(s);
    assert_string_equal(log, "");
    free(log);
    config_free(cfg);
}

/* CFG-4, ROST-4, SVC-4, ACC-2: bad values are warned and defaulted; items
 * missing their key, duplicates and bad addresses are warned and skipped. */
static void test_bad_values(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_ok(FIXTURES "bad-values");
    char *file = absolute(FIXTURES "bad-values", "mailserver.cfg");
    assert_false(cfg->send_outside);
    assert_int_equal(cfg->maximum_roster, 300);
    assert_int_equal(cfg->security_policy, SECPOL_NO_RESTRICTIONS);
    assert_string_equal(cfg->auth_exception_group, "Nowhere"); /* kept: matches nobody */
    assert_int_equal(cfg->scram_iterations, 4096);
    assert_default_limits(&cfg->limits);
    assert_false(cfg->debug_log);
    assert_int_equal(cfg->n_domains, 1);
    assert_string_equal(cfg->domains[0].name, "localhost");
    assert_true(cfg->domains[0].im_enabled);
    assert_int_equal(cfg->n_services, 2);
    const struct service_config *svc = config_find_service(cfg, "xmpp");
    assert_int_equal(svc->startup, STARTUP_AUTOMATIC);
    assert_int_equal(svc->n_listen, 1);              /* all bad: the default */
    assert_string_equal(svc->listen[0].host, "127.0.0.1");
    assert_int_equal(svc->listen[0].port, 5222);
    assert_int_equal(svc->max_connections, 0);
    svc = config_find_service(cfg, "xmpps");
    assert_int_equal(svc->n_listen, 1);              /* the good one kept */
    assert_int_equal(svc->listen[0].port, 5223);
    assert_false(group_contains(cfg, "Local", "127.0.0.1"));
    assert_true(group_contains(cfg, "Local", "::1"));

    char *log = scratch_warnings(s);
    static const char *const expected[][2] = {
        { "\"yes\" for SendOutside", "table InstantMessaging" },
        { "\"-5\" for MaximumRoster", "the default 300" },
        { "\"Paranoid\" for SecurityPolicy", "the default NoRestrictions" },
        { "AuthenticationExceptionGroup (table Security) names \"Nowhere\"", "no IpAddressGroup" },
        { "\"1000\" for ScramIterations", "using 4096" },
        { "\"big\" for StanzaSize (table Limits)", "the default 262144" },
        { "\"-1\" for Depth (table Limits)", "the default 64" },
        { "\"0\" for IdleTimeout (table Limits)", "the default 300" },
        { "\"99999999999999999999\" for ResourcesPerAccount", "the default 10" },
        { "\"12k\" for ReadBurst", "the default 1048576" },
        { "\"2\" for Debug (table Log)", "the default 0" },
        { "Domain item 1 has no Name", "skipped" },
        { "\"true\" for IMEnabled (Domain localhost)", "the default 1" },
        { "Domain item 3 repeats", "skipped" },
        { "\"bad_domain!\" for Name (Domain item 4)", "skipped" },
        { "\"Sometimes\" for Startup (Service xmpp)", "the default Automatic" },
        { "\"localhost:5222\" for Listen (Service xmpp)", "" },
        { "\"127.0.0.1:0\" for Listen", "" },
        { "\"::1:5222\" for Listen", "" },
        { "\"127.0.0.1:65536\" for Listen", "" },
        { "for Listen (Service xmpp)", "the default 127.0.0.1:5222" },
        { "\"many\" for MaxConnections (Service xmpp)", "the default 0" },
        { "\"[::1]:x\" for Listen (Service xmpps)", "" },
        { "Service item 3 has no Id", "skipped" },
        { "Service item 4 repeats", "skipped" },
        { "\"127.0.0.300\" for Address (IpAddressGroup Local, item 1)", "skipped" },
        { "IpAddressGroup item 2 has no Name", "skipped" },
    };
    size_t n = sizeof expected / sizeof expected[0];
    for (size_t i = 0; i < n; i++) {
        assert_logged(log, expected[i][0], expected[i][1]);
        assert_logged(log, file, expected[i][0]);    /* every line names the file */
    }
    assert_int_equal(count_lines(log), n);
    free(log);
    free(file);
    config_free(cfg);
}

/* XML-4, CFG-4: every Limits variable has its own default when bad. */
static void test_every_limit_defaults_when_bad(void **state)
{
    struct scratch *s = *state;
    static const char *const names[] = {
        "StanzaSizePreAuth", "StanzaSize", "StanzaSizeS2S", "ElementsPreAuth", "Elements",
        "DepthPreAuth", "Depth", "AttributesPerElement", "NegotiationTimeout",
        "TlsHandshakeTimeout", "IdleTimeout", "PingTimeout", "ResourcesPerAccount",
        "OutputQueue", "ReadRate", "ReadBurst", "OfflineMessages",
    };
    struct buf body;
    buf_init(&body);
    buf_puts(&body, "<table name=\"Limits\">\n");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        buf_printf(&body, "<variable name=\"%s\">bad%zu</variable>\n", names[i], i);
    buf_puts(&body, "</table>");
    struct server_config *cfg = load_written(s, body.data);
    assert_default_limits(&cfg->limits);
    char *log = scratch_warnings(s);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char fragment[96];
        snprintf(fragment, sizeof fragment, "\"bad%zu\" for %s (table Limits)", i, names[i]);
        assert_logged(log, fragment, "the default");
    }
    assert_int_equal(count_lines(log), sizeof names / sizeof names[0]);
    free(log);
    buf_free(&body);
    config_free(cfg);
}

/* XML-4: values beyond the field's range are bad; blanks are defaults. */
static void test_limit_ranges(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_written(s,
        "<table name=\"Limits\">"
        "<variable name=\"Elements\">4294967296</variable>"
        "<variable name=\"Depth\">4294967295</variable>"
        "<variable name=\"OfflineMessages\">0</variable>"
        "<variable name=\"PingTimeout\"> 7 </variable>"
        "<variable name=\"IdleTimeout\"></variable>"
        "<variable name=\"AttributesPerElement\">+5</variable>"
        "</table>");
    assert_int_equal(cfg->limits.elements, 2000);
    assert_int_equal(cfg->limits.depth, UINT_MAX);
    assert_int_equal(cfg->limits.offline_messages, 0);
    assert_int_equal(cfg->limits.ping_timeout, 7);
    assert_int_equal(cfg->limits.idle_timeout, 300);
    assert_int_equal(cfg->limits.attrs, 32);
    char *log = scratch_warnings(s);
    assert_logged(log, "\"4294967296\" for Elements", "the default 2000");
    assert_logged(log, "\"+5\" for AttributesPerElement", "the default 32");
    assert_int_equal(count_lines(log), 2);
    free(log);
    config_free(cfg);
}

/* ROST-4: MaximumRoster 0 disables silently; negative or non-numeric is
 * a Warning and 300. AUTH-2: ScramIterations never below 4096. */
static void test_roster_and_iterations(void **state)
{
    struct scratch *s = *state;
    static const struct {
        const char *roster, *iterations;
        int expected_roster;
        unsigned expected_iterations;
        size_t warnings;
    } cases[] = {
        { "0", "4096", 0, 4096, 0 },
        { "1000", "20000", 1000, 20000, 0 },
        { "-1", "4095", 300, 4096, 2 },
        { "abc", "x", 300, 10000, 2 },
        { "2147483648", "", 300, 10000, 1 },
        { "3.5", "99999999999", 300, SCRAM_MAX_ITERATIONS, 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/warning.log", s->dir);
        unlink(path);
        assert_int_equal(log_open(s->dir, false), 0);
        char body[512];
        snprintf(body, sizeof body,
                 "<table name=\"InstantMessaging\"><variable name=\"MaximumRoster\">%s</variable></table>"
                 "<table name=\"Security\"><variable name=\"ScramIterations\">%s</variable></table>",
                 cases[i].roster, cases[i].iterations);
        struct server_config *cfg = load_written(s, body);
        assert_int_equal(cfg->maximum_roster, cases[i].expected_roster);
        assert_int_equal(cfg->scram_iterations, cases[i].expected_iterations);
        char *log = scratch_warnings(s);
        assert_int_equal(count_lines(log), cases[i].warnings);
        if (cases[i].expected_roster == 300) assert_logged(log, "MaximumRoster", cases[i].roster);
        free(log);
        config_free(cfg);
    }
}

/* CFG-4: a file that cannot be parsed stops the load with FILE:LINE:COL. */
static void test_broken_file(void **state)
{
    (void)state;
    struct server_config *cfg = (struct server_config *)1;
    struct buf err;
    buf_init(&err);
    assert_int_equal(config_load(FIXTURES "broken", &cfg, &err), -1);
    assert_null(cfg);
    char *file = absolute(FIXTURES "broken", "mailserver.cfg");
    char expected[4200];
    snprintf(expected, sizeof expected, "%s:9:5: mismatched tag", file);
    assert_string_equal(err.data, expected);
    free(file);

    assert_int_equal(config_load(FIXTURES "no-such-dir", &cfg, &err), -1);
    assert_string_equal(err.data, FIXTURES "no-such-dir: No such file or directory");
    assert_int_equal(config_load("fixtures", &cfg, &err), -1);
    assert_non_null(strstr(err.data, "/fixtures/mailserver.cfg: No such file or directory"));
    buf_free(&err);
}

/* SVC-4, SVC-8: listener syntax. */
static void test_parse_listen(void **state)
{
    (void)state;
    static const struct { const char *text, *host; unsigned short port; } good[] = {
        { "127.0.0.1:5222", "127.0.0.1", 5222 },
        { "0.0.0.0:1", "0.0.0.0", 1 },
        { "[::1]:5269", "::1", 5269 },
        { "[::]:65535", "::", 65535 },
        { "[2001:db8::1]:15223", "2001:db8::1", 15223 },
        { "[::ffff:127.0.0.1]:5222", "::ffff:127.0.0.1", 5222 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct listen_addr a;
        assert_int_equal(config_parse_listen(good[i].text, &a), 0);
        assert_string_equal(a.host, good[i].host);
        assert_int_equal(a.port, good[i].port);
        free(a.host);
    }
    static const char *const bad[] = {
        "", "127.0.0.1", "127.0.0.1:", ":5222", "localhost:5222", "127.0.0.1:0",
        "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:52x", "::1:5222", "[::1]5222",
        "[::1]:", "[127.0.0.1]:5222", "[::1:5222", "::1]:5222", "[]:5222", "1.2.3.4:+80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct listen_addr a;
        if (config_parse_listen(bad[i], &a) == 0) print_error("accepted '%s'\n", bad[i]);
        assert_int_equal(config_parse_listen(bad[i], &a), -1);
    }
}

/* SEC-2: policy names both ways. */
static void test_security_policy_names(void **state)
{
    (void)state;
    assert_string_equal(security_policy_name(SECPOL_NO_RESTRICTIONS), "NoRestrictions");
    assert_string_equal(security_policy_name(SECPOL_AUTH_REQUIRED), "AuthenticationRequired");
    assert_string_equal(security_policy_name(SECPOL_ENCRYPTION_REQUIRED), "EncryptionRequired");
    enum security_policy p;
    assert_int_equal(security_policy_parse("authenticationrequired", &p), 0);
    assert_int_equal(p, SECPOL_AUTH_REQUIRED);
    assert_int_equal(security_policy_parse("EncryptionRequired", &p), 0);
    assert_int_equal(p, SECPOL_ENCRYPTION_REQUIRED);
    assert_int_equal(security_policy_parse("Encryption", &p), -1);
}

static void assert_policy(const struct access_policy *p, const char *name, enum access_rule rule,
                          const char *ip_group)
{
    assert_non_null(p);
    assert_string_equal(p->name, name);
    assert_int_equal(p->rule, rule);
    if (ip_group) assert_string_equal(p->ip_group, ip_group);
    else assert_null(p->ip_group);
}

/* ACC-1, SEC-7, SEC-8: the AccessPolicy list, AntiHammering and
 * AccountLockout read; rules and names compare without case. */
static void test_access_policies(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_ok(FIXTURES "policy");
    assert_int_equal(cfg->n_access_policies, 4);
    assert_policy(&cfg->access_policies[0], "Open", ACCESS_ALLOWED, NULL);
    assert_policy(&cfg->access_policies[1], "Closed", ACCESS_DENIED, NULL);
    assert_policy(&cfg->access_policies[2], "Office only", ACCESS_IP_ALLOWED, "Office");
    assert_policy(&cfg->access_policies[3], "NotFromOffice", ACCESS_IP_DENIED, "Office");
    assert_ptr_equal(cfg->default_access_policy, &cfg->access_policies[2]);
    assert_ptr_equal(config_find_access_policy(cfg, "notfromoffice"), &cfg->access_policies[3]);
    assert_null(config_find_access_policy(cfg, "Office"));
    assert_true(cfg->antihammer.enabled);
    assert_int_equal(cfg->antihammer.failed_logins, 3);
    assert_int_equal(cfg->antihammer.check_time, 20);
    assert_int_equal(cfg->antihammer.block_time, 120);
    assert_string_equal(cfg->antihammer.safe_acl, "Office");
    assert_true(cfg->lockout.enabled);
    assert_int_equal(cfg->lockout.failed_logins, 4);
    assert_int_equal(cfg->lockout.lock_minutes, 15);
    assert_string_equal(access_rule_name(ACCESS_ALLOWED), "ServiceAllowed");
    assert_string_equal(access_rule_name(ACCESS_DENIED), "ServiceDenied");
    assert_string_equal(access_rule_name(ACCESS_IP_ALLOWED), "ServiceIpAllowed");
    assert_string_equal(access_rule_name(ACCESS_IP_DENIED), "ServiceIpDenied");
    char *log = scratch_warnings(s);
    assert_string_equal(log, "");
    free(log);
    config_free(cfg);
}

/* ACC-1 (no list: no policy, everyone allowed), SEC-7 (on: 10 in 60 s,
 * 300 s), SEC-8 (off by default: 5 failures, 30 minutes). */
static void test_policy_defaults(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_ok(FIXTURES "minimal");
    assert_int_equal(cfg->n_access_policies, 0);
    assert_null(cfg->default_access_policy);
    assert_null(config_find_access_policy(cfg, "Default"));
    assert_true(cfg->antihammer.enabled);
    assert_int_equal(cfg->antihammer.failed_logins, 10);
    assert_int_equal(cfg->antihammer.check_time, 60);
    assert_int_equal(cfg->antihammer.block_time, 300);
    assert_null(cfg->antihammer.safe_acl);
    assert_false(cfg->lockout.enabled);
    assert_int_equal(cfg->lockout.failed_logins, 5);
    assert_int_equal(cfg->lockout.lock_minutes, 30);
    char *log = scratch_warnings(s);
    assert_string_equal(log, "");
    free(log);
    config_free(cfg);
}

/* CFG-4, ACC-1, SEC-7, SEC-8: bad values warned and defaulted; a policy
 * without a Name or with a repeated one skipped; of two Default policies
 * the first wins; an unknown rule is ServiceAllowed. */
static void test_policy_bad_values(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_ok(FIXTURES "policy-bad");
    char *file = absolute(FIXTURES "policy-bad", "mailserver.cfg");
    assert_true(cfg->antihammer.enabled);
    assert_int_equal(cfg->antihammer.failed_logins, 10);
    assert_int_equal(cfg->antihammer.check_time, 60);
    assert_int_equal(cfg->antihammer.block_time, 300);
    assert_string_equal(cfg->antihammer.safe_acl, "Nowhere");   /* kept: matches nobody */
    assert_false(cfg->lockout.enabled);
    assert_int_equal(cfg->lockout.failed_logins, 5);
    assert_int_equal(cfg->lockout.lock_minutes, 30);
    assert_int_equal(cfg->n_access_policies, 4);
    assert_policy(&cfg->access_policies[0], "First", ACCESS_ALLOWED, NULL);
    assert_policy(&cfg->access_policies[1], "Second", ACCESS_DENIED, NULL);
    assert_policy(&cfg->access_policies[2], "NoGroup", ACCESS_IP_ALLOWED, NULL);
    assert_policy(&cfg->access_policies[3], "GhostGroup", ACCESS_IP_DENIED, "Nowhere");
    assert_ptr_equal(cfg->default_access_policy, &cfg->access_policies[0]);

    char *log = scratch_warnings(s);
    static const char *const expected[][2] = {
        { "\"on\" for Enabled (table AntiHammering)", "the default 1" },
        { "\"0\" for FailedLogins (table AntiHammering)", "the default 10" },
        { "\"1m\" for CheckTime (table AntiHammering)", "the default 60" },
        { "\"-300\" for BlockTime (table AntiHammering)", "the default 300" },
        { "SafeAcl (table AntiHammering) names \"Nowhere\"", "no IpAddressGroup" },
        { "\"yes\" for Enabled (table AccountLockout)", "the default 0" },
        { "\"1001\" for FailedLogins (table AccountLockout)", "the default 5" },
        { "\"0\" for LockTime (table AccountLockout)", "the default 30" },
        { "AccessPolicy item 1 has no Name", "skipped" },
        { "\"ServiceNever\" for Xmpp (AccessPolicy First)", "the default ServiceAllowed" },
        { "AccessPolicy Second is a second Default policy", "the first, First, is used" },
        { "AccessPolicy item 4 repeats", "skipped" },
        { "ServiceIpAllowed (AccessPolicy NoGroup) has no IpGroup", "matches no address" },
        { "\"maybe\" for Default (AccessPolicy NoGroup)", "the default 0" },
        { "IpGroup (AccessPolicy GhostGroup) names \"Nowhere\"", "no IpAddressGroup" },
    };
    size_t n = sizeof expected / sizeof expected[0];
    for (size_t i = 0; i < n; i++) {
        assert_logged(log, expected[i][0], expected[i][1]);
        assert_logged(log, file, expected[i][0]);
    }
    assert_int_equal(count_lines(log), n);
    free(log);
    free(file);
    config_free(cfg);
}

static void write_config(const struct scratch *s, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "%s/mailserver.cfg", s->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "<?xml version=\"1.0\"?>\n<config>\n%s\n</config>\n", body);
    fclose(f);
}

/* ACC-4, ADM-7: config_reload_access takes the edited policies and groups
 * (and the document, for later rewrites) and keeps every other value;
 * CFG-4: a file that does not parse leaves cfg exactly as it was. */
static void test_reload_access(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_written(s,
        "<table name=\"InstantMessaging\"><variable name=\"SendOutside\">1</variable></table>"
        "<list name=\"AccessPolicy\"><listitem><variable name=\"Name\">A</variable>"
        "<variable name=\"Default\">1</variable></listitem></list>"
        "<list name=\"IpAddressGroup\"><listitem><variable name=\"Name\">G</variable>"
        "<variable name=\"Address\">10.0.0.1</variable></listitem></list>");
    assert_int_equal(cfg->n_access_policies, 1);
    assert_true(group_contains(cfg, "G", "10.0.0.1"));

    write_config(s,
        "<table name=\"InstantMessaging\"><variable name=\"SendOutside\">0</variable></table>"
        "<list name=\"AccessPolicy\">"
        "<listitem><variable name=\"Name\">B</variable><variable name=\"Xmpp\">ServiceIpAllowed"
        "</variable><variable name=\"IpGroup\">H</variable></listitem>"
        "<listitem><variable name=\"Name\">C</variable><variable name=\"Xmpp\">ServiceDenied"
        "</variable><variable name=\"Default\">1</variable></listitem></list>"
        "<list name=\"IpAddressGroup\">"
        "<listitem><variable name=\"Name\">G</variable><variable name=\"Address\">10.0.0.2"
        "</variable></listitem>"
        "<listitem><variable name=\"Name\">H</variable><variable name=\"Address\">::1"
        "</variable></listitem></list>");
    struct buf err;
    buf_init(&err);
    assert_int_equal(config_reload_access(cfg, &err), 0);
    assert_true(cfg->send_outside);                               /* read at start only */
    assert_string_equal(cfgfile_get(cfg->file, "InstantMessaging", "SendOutside"), "0");
    assert_int_equal(cfg->n_access_policies, 2);
    assert_policy(&cfg->access_policies[0], "B", ACCESS_IP_ALLOWED, "H");
    assert_policy(&cfg->access_policies[1], "C", ACCESS_DENIED, NULL);
    assert_ptr_equal(cfg->default_access_policy, &cfg->access_policies[1]);
    assert_null(config_find_access_policy(cfg, "A"));
    assert_false(group_contains(cfg, "G", "10.0.0.1"));
    assert_true(group_contains(cfg, "G", "10.0.0.2"));
    assert_true(group_contains(cfg, "H", "::1"));
    char *log = scratch_warnings(s);
    assert_string_equal(log, "");                                 /* H defined: no warning */
    free(log);

    const struct access_policy *policies = cfg->access_policies;
    const struct ipgroup_set *groups = cfg->ipgroups;
    const struct cfgfile *document = cfg->file;
    write_config(s, "<list name=\"AccessPolicy\"><listitem></list>");
    assert_int_equal(config_reload_access(cfg, &err), -1);
    assert_non_null(strstr(err.data, "mailserver.cfg:3:"));
    assert_ptr_equal(cfg->access_policies, policies);
    assert_ptr_equal(cfg->ipgroups, groups);
    assert_ptr_equal(cfg->file, document);
    assert_int_equal(cfg->n_access_policies, 2);
    assert_ptr_equal(cfg->default_access_policy, &cfg->access_policies[1]);
    assert_true(group_contains(cfg, "G", "10.0.0.2"));
    buf_free(&err);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_example, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_defaults, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_full, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_every_limit_defaults_when_bad, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_limit_ranges, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_roster_and_iterations, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_access_policies, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_policy_defaults, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_policy_bad_values, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_reload_access, scratch_setup, scratch_teardown),
        cmocka_unit_test(test_broken_file),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_security_policy_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
