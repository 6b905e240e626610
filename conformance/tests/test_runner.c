/* Unit tests for runner: step semantics against a fake driver (no server),
 * failure diagnostics (script line, expected and received stanzas),
 * variables, skips, hooks, the result encoding (CONF-1, CONF-2, CONF-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "match.h"
#include "runner.h"
#include "scs.h"
#include "target.h"

/* ---- the fake driver ----------------------------------------------------- */

#define FAKE_EVENTS 8

/* What one client (by the jid the runner connects with) gets. */
struct fake_plan {
    const char *jid;
    const char *full_jid;          /* NULL: the connection fails */
    const char *fail_condition;    /* the failure's condition */
    /* XML of a stanza, or "TIMEOUT", "CLOSED", "ERROR:condition";
       after the last, every wait times out. */
    const char *events[FAKE_EVENTS];
};

struct fake_conn {
    const struct fake_plan *plan;
    size_t next;
};

struct fake {
    const struct fake_plan *plans;
    size_t n_plans;
    struct buf sent;        /* "JID> bytes\n" per send */
    struct buf connects;    /* one line of options per connect */
    int open;               /* connections not closed */
    int n_next;
};

static const struct fake_plan *find_plan(struct fake *f, const char *jid)
{
    for (size_t i = 0; i < f->n_plans; i++)
        if (strcmp(f->plans[i].jid, jid) == 0) return &f->plans[i];
    return NULL;
}

static const char *or_dash(const char *s)
{
    return s ? s : "-";
}

static void *fake_connect(void *ctx, const struct xclient_opts *o, struct xclient_failure *fail)
{
    struct fake *f = ctx;
    buf_printf(&f->connects, "jid=%s pw=%s host=%s port=%u tls=%d login=%d res=%s sasl=%s cb=%s sni=%s ca=%s src=%s",
               o->jid, or_dash(o->password), o->host, o->port, (int)o->tls, (int)o->login,
               or_dash(o->resource), or_dash(o->mechanism), or_dash(o->channel_binding),
               or_dash(o->sni), or_dash(o->ca_file), or_dash(o->source));
    if (o->stop != XCLIENT_STOP_NONE) buf_printf(&f->connects, " stop=%d", (int)o->stop);
    buf_puts(&f->connects, "\n");
    const struct fake_plan *p = find_plan(f, o->jid);
    if (!p || !p->full_jid) {
        fail->kind = XFAIL_SASL;
        snprintf(fail->condition, sizeof fail->condition, "%s",
                 p && p->fail_condition ? p->fail_condition : "refused");
        snprintf(fail->text, sizeof fail->text, "fake failure");
        return NULL;
    }
    struct fake_conn *c = calloc(1, sizeof *c);
    c->plan = p;
    f->open++;
    return c;
}

static int fake_send(void *ctx, void *conn, const void *data, size_t len)
{
    struct fake *f = ctx;
    struct fake_conn *c = conn;
    buf_printf(&f->sent, "%s> ", c->plan->jid);
    buf_append(&f->sent, data, len);
    buf_puts(&f->sent, "\n");
    return 0;
}

static void fake_next(void *ctx, void *conn, double timeout, struct xclient_event *ev)
{
    struct fake *f = ctx;
    struct fake_conn *c = conn;
    (void)timeout;
    f->n_next++;
    const char *e = c->next < FAKE_EVENTS ? c->plan->events[c->next] : NULL;
    if (e) c->next++;
    ev->stanza = NULL;
    if (!e || strcmp(e, "TIMEOUT") == 0) {
        ev->kind = XEV_TIMEOUT;
    } else if (strcmp(e, "CLOSED") == 0) {
        ev->kind = XEV_CLOSED;
    } else if (strncmp(e, "ERROR:", 6) == 0) {
        ev->kind = XEV_STREAM_ERROR;
        snprintf(ev->condition, sizeof ev->condition, "%s", e + 6);
    } else {
        xnode **nodes;
        size_t n;
        struct buf err;
        buf_init(&err);
        if (scs_parse_payload(e, strlen(e), "jabber:client", &nodes, &n, &err) != 0 || n != 1)
            fail_msg("bad fake event %s: %s", e, err.data);
        buf_free(&err);
        ev->kind = XEV_STANZA;
        ev->stanza = nodes[0];
        free(nodes);
    }
}

static const char *fake_full_jid(void *ctx, void *conn)
{
    (void)ctx;
    return ((struct fake_conn *)conn)->plan->full_jid;
}

static void fake_close(void *ctx, void *conn)
{
    struct fake *f = ctx;
    f->open--;
    free(conn);
}

/* ---- helpers ------------------------------------------------------------- */

static struct scenario *scenario(const char *text)
{
    struct buf err;
    buf_init(&err);
    struct scenario *sc = NULL;
    if (scs_parse(text, strlen(text), "t.scs", &sc, &err) != 0) fail_msg("script: %s", err.data);
    buf_free(&err);
    return sc;
}

static struct target *target(const char *extra)
{
    struct buf text, err;
    buf_init(&text);
    buf_init(&err);
    buf_printf(&text, "name: fake\nhost: 127.0.0.2\nport: 5222\ndirect-tls-port: 5223\n"
                      "quiet-period: 0.1\ncapabilities: starttls\n%s", extra ? extra : "");
    struct target *t = NULL;
    if (target_parse(text.data, text.len, "fake.target", &t, &err) != 0) fail_msg("target: %s", err.data);
    buf_free(&text);
    buf_free(&err);
    return t;
}

struct outcome {
    struct runner_result r;
    struct fake f;
};

/* Runs the script against the fake target (plus target_extra lines) and,
   if peer_text is not NULL, the peer profile parsed from it. */
static void run_with_peer(const char *script, const char *target_extra, const char *peer_text,
                          const struct fake_plan *plans, size_t n_plans, struct outcome *o)
{
    struct scenario *sc = scenario(script);
    struct target *t = target(target_extra);
    struct target *peer = NULL;
    if (peer_text) {
        struct buf err;
        buf_init(&err);
        if (target_parse(peer_text, strlen(peer_text), "peer.target", &peer, &err) != 0)
            fail_msg("peer target: %s", err.data);
        buf_free(&err);
    }
    memset(o, 0, sizeof *o);
    o->f.plans = plans;
    o->f.n_plans = n_plans;
    buf_init(&o->f.sent);
    buf_init(&o->f.connects);
    buf_puts(&o->f.sent, "");
    buf_puts(&o->f.connects, "");
    struct runner_driver d = { .ctx = &o->f, .connect = fake_connect, .send = fake_send,
                               .next = fake_next, .full_jid = fake_full_jid, .close = fake_close };
    runner_run(sc, t, peer, &d, true, &o->r);
    assert_int_equal(o->f.open, 0);   /* every client closed at the end */
    scs_free(sc);
    target_free(t);
    target_free(peer);
}

static void run(const char *script, const char *target_extra, const struct fake_plan *plans,
                size_t n_plans, struct outcome *o)
{
    run_with_peer(script, target_extra, NULL, plans, n_plans, o);
}

static void outcome_free(struct outcome *o)
{
    runner_result_free(&o->r);
    buf_free(&o->f.sent);
    buf_free(&o->f.connects);
}

static void assert_failed_with(const struct outcome *o, const char *message)
{
    if (o->r.outcome != RUNNER_FAIL)
        fail_msg("expected failure '%s', got outcome %d", message, (int)o->r.outcome);
    if (strcmp(o->r.message, message) != 0)
        fail_msg("message '%s', want '%s'\n%s", o->r.message, message, o->r.diagnostic);
}

static void assert_diag_has(const struct outcome *o, const char *needle)
{
    if (!o->r.diagnostic || !strstr(o->r.diagnostic, needle))
        fail_msg("diagnostic lacks '%s':\n%s", needle, o->r.diagnostic ? o->r.diagnostic : "(none)");
}

static const char romeo_header[] =
    "# Romeo talks\n"                          /* 1 */
    "# covers: CONF-2\n"                       /* 2 */
    "\n"                                       /* 3 */
    "[Client] Romeo\n"                         /* 4 */
    "\tjid: romeo@localhost\n"                 /* 5 */
    "\tpassword: pw\n"                         /* 6 */
    "\n"                                       /* 7 */
    "---------\n"                              /* 8 */
    "\n"                                       /* 9 */
    "Romeo connects\n";                        /* 10 */

static char *with_header(const char *steps)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s%s", romeo_header, steps);
    return buf_steal(&b);
}

/* ---- tests --------------------------------------------------------------- */

/* CONF-2: a passing script; variables expanded in what is sent and expected. */
static void test_passing_script_conf2(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = { {
        .jid = "romeo@localhost", .full_jid = "romeo@localhost/balcony",
        .events = { "<presence from='romeo@localhost/balcony' xmlns='jabber:client'><x xmlns='urn:x'/></presence>",
                    "<message type='chat'><body> hi </body></message>", "TIMEOUT" },
    } };
    char *s = with_header(
        "Romeo sends:\n"                                   /* 11 */
        "\t<presence to=\"${Romeo's JID}\"/>\n"
        "Romeo receives:\n"
        "\t<presence from=\"${Romeo's full JID}\"/>\n"
        "\t<message type='{scansion:any}'><body>hi</body></message>\n"
        "Romeo receives nothing\n"
        "Romeo disconnects\n");
    struct outcome o;
    run(s, NULL, plans, 1, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    assert_null(o.r.message);
    assert_null(o.r.diagnostic);
    assert_string_equal(o.f.sent.data, "romeo@localhost> <presence to=\"romeo@localhost\"/>\n");
    assert_string_equal(o.f.connects.data,
        "jid=romeo@localhost pw=pw host=127.0.0.2 port=5222 tls=0 login=1 res=- sasl=- cb=- sni=- ca=- src=-\n");
    assert_non_null(strstr(o.r.transcript, "t.scs:11: Romeo sends:"));
    assert_non_null(strstr(o.r.transcript, "bound romeo@localhost/balcony"));
    outcome_free(&o);
    free(s);
}

/* CONF-4: a different stanza than expected: "unexpected stanza" with the
   script line, the expected and the received stanza. */
static void test_unexpected_stanza_conf4(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = { {
        .jid = "romeo@localhost", .full_jid = "romeo@localhost/r",
        .events = { "<message from='juliet@localhost'><body>hello</body></message>" },
    } };
    char *s = with_header("Romeo receives:\n\t<presence type='unavailable'/>\n");
    struct outcome o;
    run(s, NULL, plans, 1, &o);
    assert_failed_with(&o, "unexpected stanza");
    assert_diag_has(&o, "at t.scs:11: Romeo receives:");
    assert_diag_has(&o, "expected:\n  <presence");
    assert_diag_has(&o, "type='unavailable'");
    assert_diag_has(&o, "received:\n  <message");
    assert_diag_has(&o, "hello");
    outcome_free(&o);
    free(s);
}

/* CONF-4: nothing arrives within the time limit: "missing stanza". */
static void test_missing_stanza_conf4(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = { { .jid = "romeo@localhost", .full_jid = "romeo@localhost/r" } };
    char *s = with_header("\nRomeo receives:\n\t<iq type='result' id='1'/>\n");
    struct outcome o;
    run(s, "receive-timeout: 12\n", plans, 1, &o);
    assert_failed_with(&o, "missing stanza");
    assert_diag_has(&o, "at t.scs:12: Romeo receives:");
    assert_diag_has(&o, "expected:\n  <iq");
    assert_diag_has(&o, "nothing received within 12 s");
    outcome_free(&o);
    free(s);
}

/* CONF-3: `receives nothing` fails when a stanza arrives. */
static void test_receives_nothing_fails_conf3(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = { {
        .jid = "romeo@localhost", .full_jid = "romeo@localhost/r",
        .events = { "<message><body>surprise</body></message>" },
    } };
    char *s = with_header("Romeo receives nothing\n");
    struct outcome o;
    run(s, NULL, plans, 1, &o);
    assert_failed_with(&o, "unexpected stanza (expected nothing)");
    assert_diag_has(&o, "at t.scs:11: Romeo receives nothing");
    assert_diag_has(&o, "received:\n  <message");
    assert_diag_has(&o, "surprise");
    outcome_free(&o);
    free(s);
}

/* CONF-2 via the runner: a missing attribute, a wrong text and children out
   of order are each an unexpected stanza at the step's line. */
static void test_mismatch_kinds_conf2(void **state)
{
    (void)state;
    static const struct { const char *received, *expected, *shown; } cases[] = {
        { "<iq type='result' id='a1'><query xmlns='jabber:iq:roster'/></iq>",
          "<iq type='result' id='a1'><query xmlns='jabber:iq:roster' ver='{scansion:any}'/></iq>",
          "ver" },
        { "<message><body>goodbye</body></message>",
          "<message><body>hello</body></message>", "goodbye" },
        { "<iq type='result'><a xmlns='urn:t'/><b xmlns='urn:t'/></iq>",
          "<iq type='result'><b xmlns='urn:t'/><a xmlns='urn:t'/></iq>", "<b" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake_plan plans[] = { { .jid = "romeo@localhost", .full_jid = "romeo@localhost/r",
                                       .events = { cases[i].received } } };
        struct buf steps;
        buf_init(&steps);
        buf_printf(&steps, "Romeo sends:\n\t<presence/>\n\nRomeo receives:\n\t%s\n", cases[i].expected);
        char *s = with_header(steps.data);
        struct outcome o;
        run(s, NULL, plans, 1, &o);
        assert_failed_with(&o, "unexpected stanza");
        assert_diag_has(&o, "at t.scs:14: Romeo receives:");
        assert_diag_has(&o, "mismatch: ");
        assert_diag_has(&o, "expected:\n");
        assert_diag_has(&o, "received:\n");
        assert_diag_has(&o, cases[i].shown);
        outcome_free(&o);
        free(s);
        buf_free(&steps);
    }
}

static const char two_clients[] =
    "# Two\n"
    "[Client] Romeo\n"
    "\tjid: romeo@localhost\n"
    "\tpassword: r\n"
    "\tresource: balcony\n"
    "\tport: 6000\n"
    "\tca-file: none\n"
    "\tsource-address: 127.0.0.3\n"
    "[Client] Juliet\n"
    "\tjid: juliet@localhost\n"
    "\tpassword: j\n"
    "\ttls: direct-tls\n"
    "\tsasl: SCRAM-SHA-1\n"
    "\tchannel-binding: tls-exporter\n"
    "\tsni: sni.example\n"
    "\tsource-address: [::1]\n"
    "---------\n"
    "Romeo connects\n"
    "Romeo sends:\n"
    "\t<message to=\"${Juliet's JID}\" from=\"${Romeo's full JID}\">"
    "<body>${Juliet's domain} ${Romeo's resource}</body></message>\n"
    "Juliet connects\n"
    "Romeo sends:\n"
    "\t<message to=\"${Juliet's full JID}\"><body>${Juliet's resource} ${Juliet's JID}</body></message>\n"
    "Juliet sends raw:\n"
    "\t<presence\\n to='${Romeo's JID}'/>\n";

/* CONF-2: variables from the bound JIDs (full, bare, resource, domain);
   CONF-3: connection options from the client block and the target. */
static void test_variables_and_options_conf2(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = {
        { .jid = "romeo@localhost", .full_jid = "romeo@localhost/balcony" },
        { .jid = "juliet@localhost", .full_jid = "Juliet@LocalHost/srv-1" },
    };
    struct outcome o;
    run(two_clients, "ca-file: /ca.pem\n", plans, 2, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    /* before Juliet connects, her bare JID and domain come from her block;
       after, from the JID the server bound */
    assert_string_equal(o.f.sent.data,
        "romeo@localhost> <message to=\"juliet@localhost\" from=\"romeo@localhost/balcony\">"
        "<body>localhost balcony</body></message>\n"
        "romeo@localhost> <message to=\"Juliet@LocalHost/srv-1\"><body>srv-1 Juliet@LocalHost</body></message>\n"
        "juliet@localhost> <presence\n to='romeo@localhost'/>\n");
    assert_string_equal(o.f.connects.data,
        "jid=romeo@localhost pw=r host=127.0.0.2 port=6000 tls=0 login=1 res=balcony sasl=- cb=- sni=- ca=- src=127.0.0.3\n"
        "jid=juliet@localhost pw=j host=127.0.0.2 port=5223 tls=1 login=1 res=- sasl=SCRAM-SHA-1 cb=tls-exporter sni=sni.example ca=/ca.pem src=[::1]\n");
    outcome_free(&o);
}

/* CONF-2: a full JID is unknown before the client binds one. */
static void test_unbound_full_jid_conf2(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = { { .jid = "romeo@localhost", .full_jid = "romeo@localhost/r" } };
    const char *s =
        "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: r\n"
        "[Client] Juliet\n\tjid: juliet@localhost\n\tpassword: j\n"
        "Romeo connects\n"
        "Romeo sends:\n\t<message to=\"${Juliet's full JID}\"/>\n";
    struct outcome o;
    run(s, NULL, plans, 1, &o);
    assert_failed_with(&o, "cannot expand variables");
    assert_diag_has(&o, "at t.scs:8: Romeo sends:");
    assert_diag_has(&o, "Juliet's full JID");
    outcome_free(&o);
}

/* CONF-1: the target's domain replaces localhost in the client JIDs. */
static void test_domain_mapping_conf1(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = {
        { .jid = "romeo@example.org", .full_jid = "romeo@example.org/r" },
        { .jid = "juliet@other.example/x", .full_jid = "juliet@other.example/x" },
    };
    const char *s =
        "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: r\n"
        "[Client] Juliet\n\tjid: juliet@other.example/x\n\tpassword: j\n"
        "Romeo connects\nJuliet connects\n"
        "Romeo sends:\n\t<message to=\"${Romeo's domain}\"/>\n";
    struct outcome o;
    run(s, "domain: example.org\n", plans, 2, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    assert_string_equal(o.f.sent.data, "romeo@example.org> <message to=\"example.org\"/>\n");
    assert_non_null(strstr(o.f.connects.data, "jid=romeo@example.org "));
    assert_non_null(strstr(o.f.connects.data, "jid=juliet@other.example/x "));
    outcome_free(&o);
}

/* CONF-3: a required capability the target lacks, and the target's skip
   list, skip the scenario without connecting. */
static void test_skips_conf3(void **state)
{
    (void)state;
    const char *s = "# Needs TLS\n# requires: starttls direct-tls\n"
                    "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: r\nRomeo connects\n";
    struct outcome o;
    run(s, NULL, NULL, 0, &o);
    assert_int_equal(o.r.outcome, RUNNER_SKIP);
    assert_string_equal(o.r.message, "requires direct-tls, which target fake lacks");
    assert_int_equal(o.f.connects.len, 0);
    outcome_free(&o);

    run(s, "capabilities: direct-tls\nskip: t.scs: Prosody differs here\n", NULL, 0, &o);
    assert_int_equal(o.r.outcome, RUNNER_SKIP);
    assert_string_equal(o.r.message, "Prosody differs here");
    assert_int_equal(o.f.connects.len, 0);
    outcome_free(&o);
}

/* CONF-3: fails to connect with a condition; stream errors; disconnection. */
static void test_connection_failures_conf3(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = {
        { .jid = "romeo@localhost", .full_jid = NULL, .fail_condition = "not-authorized" },
        { .jid = "juliet@localhost", .full_jid = "juliet@localhost/j",
          .events = { "ERROR:policy-violation", "CLOSED" } },
        { .jid = "nurse@localhost", .full_jid = "nurse@localhost/n", .events = { "CLOSED" } },
    };
    const char *clients =
        "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: wrong\n"
        "[Client] Juliet\n\tjid: juliet@localhost\n\tpassword: j\n"
        "[Client] Nurse\n\tjid: nurse@localhost\n\tpassword: n\n\tlogin: no\n";
    struct buf s;
    buf_init(&s);
    buf_printf(&s, "%s%s", clients,
               "Romeo fails to connect with <not-authorized/>\n"
               "Juliet connects\n"
               "Juliet receives stream error <policy-violation/>\n"
               "Nurse connects\n"
               "Nurse is disconnected\n");
    struct outcome o;
    run(s.data, NULL, plans, 3, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    assert_non_null(strstr(o.f.connects.data, "jid=nurse@localhost pw=n host=127.0.0.2 port=5222 tls=0 login=0"));
    outcome_free(&o);

    buf_reset(&s);
    buf_printf(&s, "%s%s", clients, "Romeo fails to connect with <temporary-auth-failure/>\n");
    run(s.data, NULL, plans, 3, &o);
    assert_failed_with(&o, "connection failed with another condition");
    assert_diag_has(&o, "at t.scs:11: Romeo fails to connect with <temporary-auth-failure/>");
    assert_diag_has(&o, "<not-authorized/>");
    outcome_free(&o);

    buf_reset(&s);
    buf_printf(&s, "%s%s", clients, "Juliet fails to connect with <not-authorized/>\n");
    run(s.data, NULL, plans, 3, &o);
    assert_failed_with(&o, "connected, but a failure was expected");
    outcome_free(&o);

    buf_reset(&s);
    buf_printf(&s, "%s%s", clients, "Juliet connects\nJuliet receives stream error <conflict/>\n");
    run(s.data, NULL, plans, 3, &o);
    assert_failed_with(&o, "stream error with another condition");
    assert_diag_has(&o, "policy-violation");
    outcome_free(&o);

    buf_reset(&s);
    buf_printf(&s, "%s%s", clients, "Romeo connects\n");
    run(s.data, NULL, plans, 3, &o);
    assert_failed_with(&o, "cannot connect");
    assert_diag_has(&o, "not-authorized");
    outcome_free(&o);

    buf_reset(&s);
    buf_printf(&s, "%s%s", clients, "Nurse connects\nNurse receives nothing\n");
    run(s.data, NULL, plans, 3, &o);
    assert_failed_with(&o, "stream ended (expected nothing)");
    outcome_free(&o);
    buf_free(&s);
}

/* CONF-3: `login:` no-stream (nothing sent) and no-bind (stop before
   binding) reach the client as stops; an unknown value is refused. */
static void test_login_stops_conf3(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = {
        { .jid = "romeo@localhost", .full_jid = "" },
        { .jid = "juliet@localhost", .full_jid = "" },
        { .jid = "nurse@localhost", .full_jid = "nurse@localhost/n" },
    };
    const char *script =
        "[Client] Romeo\n\tjid: romeo@localhost\n\tlogin: no-stream\n"
        "[Client] Juliet\n\tjid: juliet@localhost\n\tpassword: j\n\tlogin: No-Bind\n"
        "[Client] Nurse\n\tjid: nurse@localhost\n\tpassword: n\n\tlogin: yes\n"
        "Romeo connects\nJuliet connects\nNurse connects\n"
        "Romeo sends raw:\n\t<stream:stream>\n";
    struct outcome o;
    run(script, NULL, plans, 3, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    char expected[160];
    snprintf(expected, sizeof expected, "jid=romeo@localhost pw=- host=127.0.0.2 port=5222 tls=0 login=0 "
             "res=- sasl=- cb=- sni=- ca=- src=- stop=%d\n", (int)XCLIENT_STOP_BEFORE_STREAM);
    assert_non_null(strstr(o.f.connects.data, expected));
    snprintf(expected, sizeof expected, "jid=juliet@localhost pw=j host=127.0.0.2 port=5222 tls=0 login=1 "
             "res=- sasl=- cb=- sni=- ca=- src=- stop=%d\n", (int)XCLIENT_STOP_BEFORE_BIND);
    assert_non_null(strstr(o.f.connects.data, expected));
    assert_non_null(strstr(o.f.connects.data, "jid=nurse@localhost pw=n host=127.0.0.2 port=5222 tls=0 "
                                              "login=1 res=- sasl=- cb=- sni=- ca=- src=-\n"));
    assert_non_null(strstr(o.f.sent.data, "romeo@localhost> <stream:stream>"));
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\n\tlogin: no-features\nRomeo connects\n",
        NULL, plans, 3, &o);
    assert_failed_with(&o, "bad client option");
    assert_diag_has(&o, "unknown option or value 'login: no-features'");
    outcome_free(&o);
}

/* CONF-3: steps on an unconnected client and unknown client options fail. */
static void test_client_state_errors_conf3(void **state)
{
    (void)state;
    static const struct fake_plan plans[] = { { .jid = "romeo@localhost", .full_jid = "romeo@localhost/r" } };
    struct outcome o;
    run("[Client] Romeo\n\tjid: romeo@localhost\nRomeo sends:\n\t<presence/>\n", NULL, plans, 1, &o);
    assert_failed_with(&o, "client is not connected");
    assert_diag_has(&o, "at t.scs:3: Romeo sends:");
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\n\tcolour: red\nRomeo connects\n", NULL, plans, 1, &o);
    assert_failed_with(&o, "bad client option");
    assert_diag_has(&o, "t.scs:1: [Client] Romeo: unknown option or value 'colour: red'");
    outcome_free(&o);

    /* source-address must be numeric: never resolved */
    run("[Client] Romeo\n\tjid: romeo@localhost\n\tsource-address: localhost\nRomeo connects\n",
        NULL, plans, 1, &o);
    assert_failed_with(&o, "bad client option");
    assert_diag_has(&o, "unknown option or value 'source-address: localhost'");
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\n\ttls: direct-tls\nRomeo connects\n",
        NULL, plans, 1, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    outcome_free(&o);
}

/* ---- hooks --------------------------------------------------------------- */

struct hook_dir {
    char dir[64];
    char record[128];
    char script[128];
};

/* A hook script that appends its arguments and IMCONFORM_* to a record
   file; "log" prints a line containing "marker" from its second call on;
   "admin fail" exits 3 after printing to stderr; "admin echo ARGS" prints
   ARGS. */
static void make_hook(struct hook_dir *h)
{
    snprintf(h->dir, sizeof h->dir, "/tmp/imconform-hook-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    snprintf(h->record, sizeof h->record, "%s/record", h->dir);
    snprintf(h->script, sizeof h->script, "%s/hook.sh", h->dir);
    FILE *f = fopen(h->script, "w");
    assert_non_null(f);
    fprintf(f,
        "d=%s\n"
        "printf '%%s|%%s|%%s|' \"$*\" \"$IMCONFORM_SCENARIO\" \"$IMCONFORM_TARGET\" >>$d/record\n"
        "printf '%%s' \"$IMCONFORM_ACCOUNTS\" | tr '\\n' ';' >>$d/record\n"
        "echo >>$d/record\n"
        "case \"$1 $2\" in\n"
        "  'log warning') n=$(cat $d/count 2>/dev/null || echo 0); echo $((n + 1)) >$d/count\n"
        "      [ \"$n\" -ge 1 ] && echo 'WARN: the marker text'; echo 'other line' ;;\n"
        "  'admin fail') echo 'admin said no' >&2; exit 3 ;;\n"
        "  'admin echo') shift 2; echo \"$*\" ;;\n"
        "esac\n"
        "exit 0\n", h->dir);
    fclose(f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return xstrdup("");
    struct buf b;
    buf_init(&b);
    char chunk[1024];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    buf_puts(&b, "");
    return buf_steal(&b);
}

static void remove_hook(struct hook_dir *h)
{
    char path[192];
    snprintf(path, sizeof path, "%s/count", h->dir);
    unlink(path);
    unlink(h->record);
    unlink(h->script);
    rmdir(h->dir);
}

static char *hook_target(const struct hook_dir *h)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "setup: sh %s setup\nteardown: sh %s teardown\nadmin: sh %s admin\nlog: sh %s log\n",
               h->script, h->script, h->script, h->script);
    return buf_steal(&b);
}

/* CONF-3: setup before the first step, admin and log hooks with their
   arguments, teardown last; IMCONFORM_* in their environment. */
static void test_hooks_conf3(void **state)
{
    (void)state;
    struct hook_dir h;
    make_hook(&h);
    char *extra = hook_target(&h);
    static const struct fake_plan plans[] = { { .jid = "romeo@example.org", .full_jid = "romeo@example.org/r" } };
    struct buf t;
    buf_init(&t);
    buf_printf(&t, "%sdomain: example.org\n", extra);
    const char *s =
        "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: secret\n"
        "[Client] Juliet\n\tjid: juliet@localhost\n\tpassword: j2\n"
        "Admin runs: user add '${Romeo's JID}' --name \"R M\"\n"
        "Romeo connects\n"
        "Warning log contains: marker\n";
    struct outcome o;
    run(s, t.data, plans, 1, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    char *rec = read_file(h.record);
    const char *accounts = "romeo@example.org secret;juliet@example.org j2;";
    struct buf want;
    buf_init(&want);
    buf_printf(&want,
        "setup|t.scs|fake.target|%s\n"
        "admin user add romeo@example.org --name R M|t.scs|fake.target|%s\n"
        "log warning|t.scs|fake.target|%s\n"
        "log warning|t.scs|fake.target|%s\n"
        "teardown|t.scs|fake.target|%s\n", accounts, accounts, accounts, accounts, accounts);
    assert_string_equal(rec, want.data);
    free(rec);
    outcome_free(&o);
    buf_free(&want);
    buf_free(&t);
    free(extra);
    remove_hook(&h);
}

/* CONF-3: a failing admin hook fails the step with its output; teardown
   still runs; a missing log text fails after the wait with the output. */
static void test_hook_failures_conf3(void **state)
{
    (void)state;
    struct hook_dir h;
    make_hook(&h);
    char *extra = hook_target(&h);
    static const struct fake_plan plans[] = { { .jid = "romeo@localhost", .full_jid = "romeo@localhost/r" } };
    struct outcome o;
    run("[Client] Romeo\n\tjid: romeo@localhost\nRomeo connects\nAdmin runs: fail now\nRomeo disconnects\n",
        extra, plans, 1, &o);
    assert_failed_with(&o, "admin hook failed");
    assert_diag_has(&o, "at t.scs:4: Admin runs: fail now");
    assert_diag_has(&o, "exit status 3");
    assert_diag_has(&o, "  admin said no");
    char *rec = read_file(h.record);
    assert_non_null(strstr(rec, "admin fail now|"));
    assert_non_null(strstr(rec, "\nteardown|"));
    free(rec);
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\nWarning log contains: never there\n", extra, plans, 1, &o);
    assert_failed_with(&o, "log does not contain the text");
    assert_diag_has(&o, "at t.scs:3: Warning log contains: never there");
    assert_diag_has(&o, "other line");
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\nAdmin runs: x\n", NULL, plans, 1, &o);
    assert_failed_with(&o, "target has no admin hook");
    outcome_free(&o);
    free(extra);
    remove_hook(&h);
}

/* CONF-3: "Admin output contains:" checks the output of the most recent
   admin step (expanded); "Admin fails:" passes on a non-zero exit. */
static void test_admin_output_conf3(void **state)
{
    (void)state;
    struct hook_dir h;
    make_hook(&h);
    char *extra = hook_target(&h);
    static const struct fake_plan plans[] = { { .jid = "romeo@localhost", .full_jid = "romeo@localhost/r1" } };
    struct outcome o;
    run("[Client] Romeo\n\tjid: romeo@localhost\nRomeo connects\n"
        "Admin runs: echo XMPPS yes ${Romeo's full JID} r1\n"
        "Admin output contains: yes ${Romeo's full JID}\n"
        "Admin output contains: XMPPS\n"
        "Admin fails: fail now\n"
        "Admin output contains: admin said no\n"
        "Romeo disconnects\n", extra, plans, 1, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    assert_non_null(strstr(o.r.transcript, "XMPPS yes romeo@localhost/r1 r1"));
    char *rec = read_file(h.record);
    assert_non_null(strstr(rec, "\nadmin echo XMPPS yes romeo@localhost/r1 r1|"));
    assert_non_null(strstr(rec, "\nadmin fail now|"));
    free(rec);
    outcome_free(&o);
    free(extra);
    remove_hook(&h);
}

/* CONF-3, CONF-4: the failing cases, each with its script line, the
   expected text and the output shown. */
static void test_admin_output_failures_conf3(void **state)
{
    (void)state;
    struct hook_dir h;
    make_hook(&h);
    char *extra = hook_target(&h);
    static const struct fake_plan plans[] = { { .jid = "romeo@localhost", .full_jid = "romeo@localhost/r1" } };
    struct outcome o;

    run("[Client] Romeo\n\tjid: romeo@localhost\nAdmin runs: echo abc def\n"
        "Admin output contains: ${Romeo's JID}\nRomeo connects\n", extra, plans, 1, &o);
    assert_failed_with(&o, "admin output does not contain the text");
    assert_diag_has(&o, "at t.scs:4: Admin output contains: ${Romeo's JID}\n");
    assert_diag_has(&o, "expected text: romeo@localhost\n");
    assert_diag_has(&o, "admin output:\n  abc def\n");
    assert_int_equal(o.f.connects.len, 0);    /* the steps after it do not run */
    outcome_free(&o);

    /* only the most recent admin step's output counts */
    run("[Client] Romeo\n\tjid: romeo@localhost\nAdmin runs: echo first\nAdmin runs: echo second\n"
        "Admin output contains: first\n", extra, plans, 1, &o);
    assert_failed_with(&o, "admin output does not contain the text");
    assert_diag_has(&o, "at t.scs:5: Admin output contains: first");
    assert_diag_has(&o, "admin output:\n  second\n");
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\nAdmin runs: quiet\nAdmin output contains: x\n",
        extra, plans, 1, &o);
    assert_failed_with(&o, "admin output does not contain the text");
    assert_diag_has(&o, "admin output: (empty)\n");
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\nRomeo connects\nAdmin output contains: x\n",
        extra, plans, 1, &o);
    assert_failed_with(&o, "no admin output to check");
    assert_diag_has(&o, "at t.scs:4: Admin output contains: x\n");
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\nAdmin fails: echo all fine\n", extra, plans, 1, &o);
    assert_failed_with(&o, "admin hook succeeded, but a failure was expected");
    assert_diag_has(&o, "at t.scs:3: Admin fails: echo all fine\n");
    assert_diag_has(&o, "exit status 0");
    assert_diag_has(&o, "hook output:\n  all fine\n");
    outcome_free(&o);

    run("[Client] Romeo\n\tjid: romeo@localhost\nAdmin fails: x\n", NULL, plans, 1, &o);
    assert_failed_with(&o, "target has no admin hook");
    outcome_free(&o);
    free(extra);
    remove_hook(&h);
}

/* CONF-3: a failing setup hook fails the scenario before any step. */
static void test_setup_failure_conf3(void **state)
{
    (void)state;
    struct outcome o;
    run("[Client] Romeo\n\tjid: romeo@localhost\nRomeo connects\n",
        "setup: echo cannot create accounts; exit 4\nteardown: exit 5\n", NULL, 0, &o);
    assert_failed_with(&o, "setup hook failed");
    assert_diag_has(&o, "at t.scs: setup");
    assert_diag_has(&o, "exit status 4");
    assert_diag_has(&o, "cannot create accounts");
    assert_diag_has(&o, "teardown hook failed too");
    assert_int_equal(o.f.connects.len, 0);
    outcome_free(&o);
}

/* CONF-1, CONF-3: a peer target. Peer clients map localhost to the peer's
   domain and connect to its host, port and CA; each target's setup and
   teardown hooks get their own profile path and only their own clients'
   accounts; Peer admin steps run the peer's admin hook; ${target:NAME} and
   ${peer:NAME} come from the profiles' var-NAME. */
static void test_peer_target_conf3(void **state)
{
    (void)state;
    struct hook_dir h;
    make_hook(&h);
    char *extra = hook_target(&h);
    struct buf main_extra, peer_text;
    buf_init(&main_extra);
    buf_init(&peer_text);
    buf_printf(&main_extra, "%sdomain: a.example\nca-file: /ca-a.pem\nvar-down: down.example\n", extra);
    buf_printf(&peer_text, "name: other\nhost: 127.0.0.9\nport: 6222\ndomain: b.example\n"
                           "ca-file: /ca-b.pem\nvar-greeting: hi\ncapabilities: admin\n%s", extra);
    static const struct fake_plan plans[] = {
        { .jid = "romeo@a.example", .full_jid = "romeo@a.example/r" },
        { .jid = "juliet@b.example", .full_jid = "juliet@b.example/j" },
    };
    const char *s =
        "# requires: peer peer:admin\n"
        "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: rpw\n"
        "[Client] Juliet\n\tjid: juliet@localhost\n\tpassword: jpw\n\ttarget: peer\n"
        "Peer admin runs: echo peer ${Juliet's JID}\n"
        "Admin output contains: peer juliet@b.example\n"
        "Romeo connects\nJuliet connects\n"
        "Romeo sends:\n\t<message to='${Juliet's full JID}' id='${peer:greeting}'>"
        "<body>x@${target:down}</body></message>\n";
    struct outcome o;
    run_with_peer(s, main_extra.data, peer_text.data, plans, 2, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    assert_string_equal(o.f.connects.data,
        "jid=romeo@a.example pw=rpw host=127.0.0.2 port=5222 tls=0 login=1 res=- sasl=- cb=- sni=- ca=/ca-a.pem src=-\n"
        "jid=juliet@b.example pw=jpw host=127.0.0.9 port=6222 tls=0 login=1 res=- sasl=- cb=- sni=- ca=/ca-b.pem src=-\n");
    assert_string_equal(o.f.sent.data,
        "romeo@a.example> <message to='juliet@b.example/j' id='hi'><body>x@down.example</body></message>\n");
    char *rec = read_file(h.record);
    assert_string_equal(rec,
        "setup|t.scs|fake.target|romeo@a.example rpw;\n"
        "setup|t.scs|peer.target|juliet@b.example jpw;\n"
        "admin echo peer juliet@b.example|t.scs|peer.target|juliet@b.example jpw;\n"
        "teardown|t.scs|fake.target|romeo@a.example rpw;\n"
        "teardown|t.scs|peer.target|juliet@b.example jpw;\n");
    free(rec);
    outcome_free(&o);

    /* without a peer, or with one lacking a required capability: skipped */
    run_with_peer(s, main_extra.data, NULL, plans, 2, &o);
    assert_int_equal(o.r.outcome, RUNNER_SKIP);
    assert_string_equal(o.r.message, "requires peer, and imconform runs without --peer");
    assert_int_equal(o.f.connects.len, 0);
    outcome_free(&o);
    run_with_peer(s, main_extra.data, "name: other\nhost: 127.0.0.9\nport: 6222\n", plans, 2, &o);
    assert_int_equal(o.r.outcome, RUNNER_SKIP);
    assert_string_equal(o.r.message, "requires peer:admin, which peer target other lacks");
    outcome_free(&o);
    run_with_peer(s, main_extra.data, "host: h\nport: 1\ncapabilities: admin\nskip: t.scs: not here\n",
                  plans, 2, &o);
    assert_int_equal(o.r.outcome, RUNNER_SKIP);
    assert_string_equal(o.r.message, "not here");
    outcome_free(&o);

    /* a scenario without the peer ignores it: no peer hooks */
    unlink(h.record);
    run_with_peer("[Client] Romeo\n\tjid: romeo@localhost\nRomeo connects\n", main_extra.data,
                  peer_text.data, plans, 2, &o);
    if (o.r.outcome != RUNNER_PASS) fail_msg("%s\n%s", o.r.message, o.r.diagnostic);
    rec = read_file(h.record);
    assert_null(strstr(rec, "peer.target"));
    free(rec);
    outcome_free(&o);

    /* an unknown profile variable fails the step that uses it */
    run_with_peer("# requires: peer\n[Client] Romeo\n\tjid: romeo@localhost\nRomeo connects\n"
                  "Romeo sends:\n\t<message to='${peer:nothing}'/>\n",
                  main_extra.data, peer_text.data, plans, 2, &o);
    assert_failed_with(&o, "cannot expand variables");
    assert_diag_has(&o, "at t.scs:5: Romeo sends:");
    assert_diag_has(&o, "unknown variable ${peer:nothing}");
    outcome_free(&o);

    buf_free(&main_extra);
    buf_free(&peer_text);
    free(extra);
    remove_hook(&h);
}

/* CONF-4: results survive the trip from the scenario's process. */
static void test_result_encoding_conf4(void **state)
{
    (void)state;
    struct runner_result in = { .outcome = RUNNER_FAIL, .message = "unexpected stanza",
                                .diagnostic = "at a.scs:3: x\n12:34", .transcript = NULL };
    struct buf enc;
    buf_init(&enc);
    runner_result_encode(&in, &enc);
    struct runner_result out;
    assert_int_equal(runner_result_decode(enc.data, enc.len, &out), 0);
    assert_int_equal(out.outcome, RUNNER_FAIL);
    assert_string_equal(out.message, in.message);
    assert_string_equal(out.diagnostic, in.diagnostic);
    assert_null(out.transcript);
    runner_result_free(&out);
    /* truncated, trailing garbage, bad letter, huge length */
    assert_int_equal(runner_result_decode(enc.data, enc.len - 1, &out), -1);
    buf_puts(&enc, "x");
    assert_int_equal(runner_result_decode(enc.data, enc.len, &out), -1);
    assert_int_equal(runner_result_decode("X---", 4, &out), -1);
    assert_int_equal(runner_result_decode("P99999999999999999999999:a--", 28, &out), -1);
    assert_int_equal(runner_result_decode("S3:abc--", 8, &out), 0);
    assert_int_equal(out.outcome, RUNNER_SKIP);
    assert_string_equal(out.message, "abc");
    runner_result_free(&out);
    buf_free(&enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passing_script_conf2),
        cmocka_unit_test(test_unexpected_stanza_conf4),
        cmocka_unit_test(test_missing_stanza_conf4),
        cmocka_unit_test(test_receives_nothing_fails_conf3),
        cmocka_unit_test(test_mismatch_kinds_conf2),
        cmocka_unit_test(test_variables_and_options_conf2),
        cmocka_unit_test(test_unbound_full_jid_conf2),
        cmocka_unit_test(test_domain_mapping_conf1),
        cmocka_unit_test(test_skips_conf3),
        cmocka_unit_test(test_connection_failures_conf3),
        cmocka_unit_test(test_client_state_errors_conf3),
        cmocka_unit_test(test_login_stops_conf3),
        cmocka_unit_test(test_hooks_conf3),
        cmocka_unit_test(test_hook_failures_conf3),
        cmocka_unit_test(test_admin_output_conf3),
        cmocka_unit_test(test_admin_output_failures_conf3),
        cmocka_unit_test(test_setup_failure_conf3),
        cmocka_unit_test(test_result_encoding_conf4),
        cmocka_unit_test(test_peer_target_conf3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
