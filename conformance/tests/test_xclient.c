/* Unit tests of the conformance client (CONF-1, CONF-3): mechanism choice
 * (AUTH-1), channel-binding type, failure/stream-error conditions, the
 * legacy session rule (BIND-1), JID parts, and the client against scripted
 * fake servers on loopback (refused, stream errors, login=false, events). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "xclient.h"
#include "xmlstream.h"
#include "xnode.h"

#define STREAM_OPEN "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='localhost' id='t'>"

/* ---- parsing helper: the first top-level element of `xml` -------------- */

struct first { xnode *element; };

static void on_open(void *ctx, const xnode *h) { (void)ctx; (void)h; }
static void on_stanza(void *ctx, xnode *s)
{
    struct first *f = ctx;
    if (f->element) xnode_free(s); else f->element = s;
}
static void on_close(void *ctx) { (void)ctx; }
static void on_error(void *ctx, const char *c, const char *t) { (void)ctx; (void)c; (void)t; }

static xnode *parse(const char *xml)
{
    static const struct xmlstream_callbacks cb = { on_open, on_stanza, on_close, on_error };
    static const struct xmlstream_limits limits = { 65536, 1000, 50, 50 };
    struct first f = { NULL };
    xmlstream *xs = xmlstream_new(&cb, &f, &limits);
    assert_int_equal(xmlstream_feed(xs, STREAM_OPEN, strlen(STREAM_OPEN), NULL), XS_OK);
    assert_int_equal(xmlstream_feed(xs, xml, strlen(xml), NULL), XS_OK);
    xmlstream_free(xs);
    assert_non_null(f.element);
    return f.element;
}

#define ALL_MECHS "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" \
    "<mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism>" \
    "<mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism>" \
    "<mechanism>SCRAM-SHA-256-PLUS</mechanism></mechanisms></stream:features>"

/* AUTH-1, CONF-3: strongest first, -PLUS only when allowed. */
static void test_choose_strongest(void **state)
{
    (void)state;
    xnode *f = parse(ALL_MECHS);
    assert_string_equal(xclient_choose_mechanism(f, NULL, true), "SCRAM-SHA-256-PLUS");
    assert_string_equal(xclient_choose_mechanism(f, NULL, false), "SCRAM-SHA-256");
    xnode_free(f);
    f = parse("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
              "<mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1-PLUS</mechanism>"
              "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>");
    assert_string_equal(xclient_choose_mechanism(f, NULL, true), "SCRAM-SHA-1-PLUS");
    assert_string_equal(xclient_choose_mechanism(f, NULL, false), "SCRAM-SHA-1");
    xnode_free(f);
}

/* AUTH-1: PLAIN only; unknown mechanisms never picked; the namespace counts. */
static void test_choose_plain_and_unknown(void **state)
{
    (void)state;
    xnode *f = parse("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                     "<mechanism>DIGEST-MD5</mechanism><mechanism>PLAIN</mechanism>"
                     "</mechanisms></stream:features>");
    assert_string_equal(xclient_choose_mechanism(f, NULL, true), "PLAIN");
    xnode_free(f);
    f = parse("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
              "<mechanism>DIGEST-MD5</mechanism><mechanism>scram-sha-1</mechanism>"
              "</mechanisms></stream:features>");
    assert_null(xclient_choose_mechanism(f, NULL, true));
    xnode_free(f);
    f = parse("<stream:features><mechanisms xmlns='urn:other'><mechanism>PLAIN</mechanism>"
              "</mechanisms><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
              "</starttls></stream:features>");
    assert_null(xclient_choose_mechanism(f, NULL, false));
    xnode_free(f);
    assert_null(xclient_choose_mechanism(NULL, NULL, true));
}

/* CONF-3: an explicit mechanism is used as asked, offered or not. */
static void test_choose_wanted(void **state)
{
    (void)state;
    xnode *f = parse("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                     "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>");
    assert_string_equal(xclient_choose_mechanism(f, "PLAIN", false), "PLAIN");
    assert_string_equal(xclient_choose_mechanism(f, "SCRAM-SHA-1", true), "SCRAM-SHA-1");
    xnode_free(f);
}

/* AUTH-1, CONF-3: binding type follows the option, else the TLS version. */
static void test_binding_type(void **state)
{
    (void)state;
    assert_null(xclient_binding_type("SCRAM-SHA-256", "tls-exporter", true));
    assert_null(xclient_binding_type("PLAIN", NULL, true));
    assert_string_equal(xclient_binding_type("SCRAM-SHA-256-PLUS", "tls-unique", true), "tls-unique");
    assert_string_equal(xclient_binding_type("SCRAM-SHA-1-PLUS", "tls-exporter", false), "tls-exporter");
    assert_string_equal(xclient_binding_type("SCRAM-SHA-1-PLUS", NULL, true), "tls-exporter");
    assert_string_equal(xclient_binding_type("SCRAM-SHA-1-PLUS", "none", false), "tls-unique");
}

/* AUTH-3, CONF-3: the condition of a SASL failure, a stream error, a stanza error. */
static void test_error_condition(void **state)
{
    (void)state;
    xnode *e = parse("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><text>no</text>"
                     "<not-authorized/></failure>");
    assert_string_equal(xclient_error_condition(e), "not-authorized");
    xnode_free(e);
    e = parse("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><account-disabled/>"
              "<text>locked</text></failure>");
    assert_string_equal(xclient_error_condition(e), "account-disabled");
    xnode_free(e);
    e = parse("<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>x</text>"
              "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    assert_string_equal(xclient_error_condition(e), "policy-violation");
    xnode_free(e);
    e = parse("<iq type='error' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
              "<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
              "</error></iq>");
    assert_string_equal(xclient_error_condition(e), "conflict");
    xnode_free(e);
    e = parse("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    assert_string_equal(xclient_error_condition(e), "undefined-condition");
    xnode_free(e);
}

/* BIND-1: the session iq only when <session/> lacks <optional/>. */
static void test_session_required(void **state)
{
    (void)state;
    xnode *f = parse("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                     "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>");
    assert_true(xclient_session_required(f));
    xnode_free(f);
    f = parse("<stream:features><session xmlns='urn:ietf:params:xml:ns:xmpp-session'>"
              "<optional/></session></stream:features>");
    assert_false(xclient_session_required(f));
    xnode_free(f);
    f = parse("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>");
    assert_false(xclient_session_required(f));
    xnode_free(f);
    assert_false(xclient_session_required(NULL));
}

static void assert_part(char *got, const char *want)
{
    if (want) {
        assert_non_null(got);
        assert_string_equal(got, want);
    } else {
        assert_null(got);
    }
    free(got);
}

/* CONF-1: jid parts ('@' only counts before the first '/'). */
static void test_jid_parts(void **state)
{
    (void)state;
    assert_part(xclient_jid_node("romeo@localhost/balcony"), "romeo");
    assert_part(xclient_jid_domain("romeo@localhost/balcony"), "localhost");
    assert_part(xclient_jid_resource("romeo@localhost/balcony/x@y"), "balcony/x@y");
    assert_part(xclient_jid_node("localhost/a@b"), NULL);
    assert_part(xclient_jid_domain("localhost/a@b"), "localhost");
    assert_part(xclient_jid_resource("romeo@localhost"), NULL);
    assert_part(xclient_jid_resource("romeo@localhost/"), NULL);
    assert_part(xclient_jid_domain("romeo@"), NULL);
    assert_part(xclient_jid_node("@localhost"), NULL);
}

/* ---- scripted fake servers ---------------------------------------------- */

struct fake {
    int listener;
    unsigned short port;
    pid_t pid;
};

/* Starts a child that accepts one connection and, for each of the
   `n_replies` replies in turn, reads the client's next bytes and writes the
   reply; then keeps the socket open `linger_ms`. No replies: close at once. */
static void fake_start_script(struct fake *f, const char *const *replies, size_t n_replies,
                              int linger_ms)
{
    f->listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->listener >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(f->listener, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(f->listener, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(listen(f->listener, 1), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        int c = accept(f->listener, NULL, NULL);
        for (size_t i = 0; c >= 0 && i < n_replies; i++) {
            char in[4096];
            if (read(c, in, sizeof in) <= 0 || write(c, replies[i], strlen(replies[i])) < 0)
                _exit(1);
        }
        if (c >= 0 && n_replies > 0)
            usleep((useconds_t)linger_ms * 1000);
        _exit(0);
    }
    close(f->listener);
}

/* One reply to the client's first bytes; reply NULL: close at once. */
static void fake_start(struct fake *f, const char *reply, int linger_ms)
{
    fake_start_script(f, &reply, reply ? 1 : 0, linger_ms);
}

static void fake_stop(struct fake *f)
{
    int status;
    kill(f->pid, SIGTERM);
    waitpid(f->pid, &status, 0);
}

static struct xclient_opts fake_opts(const struct fake *f, bool login)
{
    struct xclient_opts o = {
        .host = "127.0.0.1", .port = f->port, .tls = XCLIENT_PLAIN, .jid = "romeo@localhost",
        .password = "pw", .login = login, .timeout = 2,
    };
    return o;
}

/* CONF-3: a server that closes before its header: <refused/>. */
static void test_fake_close_is_refused(void **state)
{
    (void)state;
    struct fake f;
    fake_start(&f, NULL, 0);
    struct xclient_opts o = fake_opts(&f, true);
    struct xclient_failure fail;
    assert_null(xclient_connect(&o, &fail));
    assert_int_equal(fail.kind, XFAIL_CONNECT);
    assert_string_equal(fail.condition, "refused");
    fake_stop(&f);
}

/* CONF-3: a refused TCP connect: <refused/>. */
static void test_closed_port_is_refused(void **state)
{
    (void)state;
    struct fake f;
    fake_start(&f, NULL, 0);
    fake_stop(&f); /* the port is free again */
    struct xclient_opts o = fake_opts(&f, true);
    struct xclient_failure fail;
    assert_null(xclient_connect(&o, &fail));
    assert_string_equal(fail.condition, "refused");
}

/* CONF-3, XML-1: a stream error during negotiation is reported by condition. */
static void test_fake_stream_error_in_negotiation(void **state)
{
    (void)state;
    struct fake f;
    fake_start(&f, STREAM_OPEN "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                   "</stream:error></stream:stream>", 200);
    struct xclient_opts o = fake_opts(&f, true);
    struct xclient_failure fail;
    assert_null(xclient_connect(&o, &fail));
    assert_int_equal(fail.kind, XFAIL_STREAM_ERROR);
    assert_string_equal(fail.condition, "host-unknown");
    fake_stop(&f);
}

/* CONF-3: login=false stops at the features; events come one by one:
   a stanza, the stream error, then the close. */
static void test_fake_login_false_events(void **state)
{
    (void)state;
    struct fake f;
    fake_start(&f, STREAM_OPEN "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                   "</stream:features><message><body>hi</body></message><stream:error>"
                   "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
                   "</stream:stream>", 500);
    struct xclient_opts o = fake_opts(&f, false);
    struct xclient_failure fail;
    struct xclient *c = xclient_connect(&o, &fail);
    assert_non_null(c);
    assert_string_equal(xclient_full_jid(c), "");
    assert_non_null(xnode_child(xclient_features(c), "starttls", "urn:ietf:params:xml:ns:xmpp-tls"));
    struct xclient_event ev;
    xclient_next(c, 1, &ev);
    assert_int_equal(ev.kind, XEV_STANZA);
    assert_string_equal(ev.stanza->name, "message");
    xnode_free(ev.stanza);
    xclient_next(c, 1, &ev);
    assert_int_equal(ev.kind, XEV_STREAM_ERROR);
    assert_string_equal(ev.condition, "conflict");
    xnode_free(ev.stanza);
    xclient_next(c, 1, &ev);
    assert_int_equal(ev.kind, XEV_CLOSED);
    assert_int_equal(xclient_send(c, "<presence/>", 11), -1);
    xclient_close(c);
    fake_stop(&f);
}

/* CONF-3: a silent server: XEV_TIMEOUT within the given time. */
static void test_fake_timeout(void **state)
{
    (void)state;
    struct fake f;
    fake_start(&f, STREAM_OPEN "<stream:features/>", 3000);
    struct xclient_opts o = fake_opts(&f, false);
    struct xclient_failure fail;
    struct xclient *c = xclient_connect(&o, &fail);
    assert_non_null(c);
    struct xclient_event ev;
    xclient_next(c, 0.2, &ev);
    assert_int_equal(ev.kind, XEV_TIMEOUT);
    assert_null(ev.stanza);
    xclient_close(c);
    fake_stop(&f);
}

/* CONF-3: a SASL <failure/> gives XFAIL_SASL with its condition. */
static void test_fake_sasl_failure(void **state)
{
    (void)state;
    struct fake f;
    /* One write answers both the header and the <auth/>: the client reads
       the failure after sending its <auth/>. */
    fake_start(&f, STREAM_OPEN "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                   "<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
                   "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><account-disabled/></failure>",
               500);
    struct xclient_opts o = fake_opts(&f, true);
    struct xclient_failure fail;
    assert_null(xclient_connect(&o, &fail));
    assert_int_equal(fail.kind, XFAIL_SASL);
    assert_string_equal(fail.condition, "account-disabled");
    fake_stop(&f);
}

/* CONF-3: stop XCLIENT_STOP_BEFORE_STREAM connects without sending a
   header (the fake answers only the client's first bytes, which here are
   the raw header the test sends), so the reply to that header comes as
   events: the server's header is skipped, its stream error delivered. */
static void test_fake_stop_before_stream(void **state)
{
    (void)state;
    struct fake f;
    fake_start(&f, STREAM_OPEN "<stream:error><invalid-namespace xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                   "</stream:error></stream:stream>", 500);
    struct xclient_opts o = fake_opts(&f, true);
    o.stop = XCLIENT_STOP_BEFORE_STREAM;
    o.jid = "localhost";   /* no node needed: no login */
    struct xclient_failure fail;
    struct xclient *c = xclient_connect(&o, &fail);
    assert_non_null(c);
    assert_null(xclient_features(c));
    assert_string_equal(xclient_full_jid(c), "");
    static const char header[] = "<stream:stream xmlns='foo' "
                                 "xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>";
    assert_int_equal(xclient_send(c, header, strlen(header)), 0);
    struct xclient_event ev;
    xclient_next(c, 1, &ev);
    assert_int_equal(ev.kind, XEV_STREAM_ERROR);
    assert_string_equal(ev.condition, "invalid-namespace");
    xnode_free(ev.stanza);
    xclient_close(c);
    fake_stop(&f);
}

/* CONF-3, BIND-1: stop XCLIENT_STOP_BEFORE_BIND runs SASL (PLAIN) and the
   restart, keeps the new features (with <bind/>) and sends no bind iq: the
   fake answers three writes only, so a bind iq would time out. */
static void test_fake_stop_before_bind(void **state)
{
    (void)state;
    static const char *const replies[] = {
        STREAM_OPEN "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        "<mechanism>PLAIN</mechanism></mechanisms></stream:features>",
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        STREAM_OPEN "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
    };
    struct fake f;
    fake_start_script(&f, replies, 3, 500);
    struct xclient_opts o = fake_opts(&f, true);
    o.stop = XCLIENT_STOP_BEFORE_BIND;
    struct xclient_failure fail;
    struct xclient *c = xclient_connect(&o, &fail);
    if (!c) fail_msg("connect failed: %s %s", fail.condition, fail.text);
    assert_string_equal(xclient_full_jid(c), "");
    assert_non_null(xnode_child(xclient_features(c), "bind", "urn:ietf:params:xml:ns:xmpp-bind"));
    xclient_close(c);
    fake_stop(&f);

    /* the same server without the stop: binding is attempted and times out */
    fake_start_script(&f, replies, 3, 3000);
    o = fake_opts(&f, true);
    o.timeout = 0.5;
    assert_null(xclient_connect(&o, &fail));
    assert_string_equal(fail.condition, "timeout");
    fake_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose_strongest),
        cmocka_unit_test(test_choose_plain_and_unknown),
        cmocka_unit_test(test_choose_wanted),
        cmocka_unit_test(test_binding_type),
        cmocka_unit_test(test_error_condition),
        cmocka_unit_test(test_session_required),
        cmocka_unit_test(test_jid_parts),
        cmocka_unit_test(test_fake_close_is_refused),
        cmocka_unit_test(test_closed_port_is_refused),
        cmocka_unit_test(test_fake_stream_error_in_negotiation),
        cmocka_unit_test(test_fake_login_false_events),
        cmocka_unit_test(test_fake_timeout),
        cmocka_unit_test(test_fake_sasl_failure),
        cmocka_unit_test(test_fake_stop_before_stream),
        cmocka_unit_test(test_fake_stop_before_bind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
