/* Unit tests of the XMPP stream parser: XML-1 (stream, stanzas, pause,
 * restart), XML-2 (restricted XML), XML-3 (not well-formed, namespaces),
 * XML-4 (byte, element, depth and attribute limits), XML-5 (after close). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xmlstream.h"
#include "xnode.h"

#define HEADER "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

static const struct xmlstream_limits big_limits = { 16384, 32, 16, 32 };

/* Records every event as one line of `log`. */
struct rec {
    xmlstream *xs;
    struct buf log;
    int events;          /* open and stanza events */
    int pause_at;        /* pause at this event (0: open), -1: never */
    bool pause_always;
    int opens, stanzas, closes, errors;
    char *condition, *text;
    char *content_ns_at_open;
    const struct xmlstream_limits *limits_after_first_stanza;
};

static void maybe_pause(struct rec *r)
{
    if (r->pause_always || r->events == r->pause_at) xmlstream_pause(r->xs);
    r->events++;
}

static void on_open(void *ctx, const xnode *header)
{
    struct rec *r = ctx;
    r->opens++;
    const char *ns = xmlstream_content_ns(r->xs);
    free(r->content_ns_at_open);
    r->content_ns_at_open = ns ? xstrdup(ns) : NULL;
    buf_puts(&r->log, "OPEN ");
    xnode_serialize(header, NULL, &r->log);
    buf_puts(&r->log, "\n");
    maybe_pause(r);
}

static void on_stanza(void *ctx, xnode *stanza)
{
    struct rec *r = ctx;
    r->stanzas++;
    buf_puts(&r->log, "STANZA ");
    xnode_serialize(stanza, NULL, &r->log);
    buf_puts(&r->log, "\n");
    xnode_free(stanza);
    if (r->stanzas == 1 && r->limits_after_first_stanza)
        xmlstream_set_limits(r->xs, r->limits_after_first_stanza);
    maybe_pause(r);
}

static void on_close(void *ctx)
{
    struct rec *r = ctx;
    r->closes++;
    buf_puts(&r->log, "CLOSE\n");
}

static void on_error(void *ctx, const char *condition, const char *text)
{
    struct rec *r = ctx;
    r->errors++;
    free(r->condition);
    free(r->text);
    r->condition = xstrdup(condition);
    r->text = xstrdup(text);
    buf_printf(&r->log, "ERROR %s\n", condition);
}

static const struct xmlstream_callbacks callbacks = { on_open, on_stanza, on_close, on_error };

static void rec_init(struct rec *r, const struct xmlstream_limits *limits)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->log);
    r->pause_at = -1;
    r->xs = xmlstream_new(&callbacks, r, limits);
}

static void rec_free(struct rec *r)
{
    xmlstream_free(r->xs);
    buf_free(&r->log);
    free(r->condition);
    free(r->text);
    free(r->content_ns_at_open);
}

static const char *log_of(const struct rec *r)
{
    return r->log.data ? r->log.data : "";
}

/* Feeds `len` bytes in pieces of `piece` bytes (0: all at once) until an
 * error or a pause; checks consumed. Returns the last status and adds the
 * bytes consumed to *total when total is not NULL. */
static enum xmlstream_status feed_pieces(struct rec *r, const char *in, size_t len,
                                         size_t piece, size_t *total)
{
    size_t off = 0;
    enum xmlstream_status st = XS_OK;
    while (off < len) {
        size_t n = piece == 0 || len - off < piece ? len - off : piece;
        size_t consumed = SIZE_MAX;
        st = xmlstream_feed(r->xs, in + off, n, &consumed);
        assert_true(consumed <= n);
        if (total) *total += consumed;
        if (st == XS_OK) assert_int_equal(consumed, n);
        if (st != XS_OK) break;
        off += n;
    }
    return st;
}

/* Runs `in` through a new parser in pieces; the caller frees r. */
static enum xmlstream_status run(struct rec *r, const char *in, size_t len,
                                 const struct xmlstream_limits *limits, size_t piece)
{
    rec_init(r, limits);
    return feed_pieces(r, in, len, piece, NULL);
}

/* ---------------------------------------------------------------- XML-1 */

/* A realistic client stream; each event ends at the end of a piece. */
static const char *const client_pieces[] = {
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    " to='example.com' version='1.0' xml:lang='en'>",
    "\n  ",
    "<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony</resource></bind></iq>",
    "\r\n",
    "<presence><show>away</show><status xml:lang='de'>Bin weg &amp; so &lt;3 caf\xc3\xa9"
    " &#x263A; &#9731;</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://psi-im.org'"
    " ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>",
    "<message to='juliet@example.com/balcony' type=\"chat\" id='m1' xml:lang='en'>"
    "<body>Wherefore art thou,\r\nRomeo? \"q\" 'a' &gt; &quot;</body>"
    "<thread>t&#x31;</thread><active xmlns='http://jabber.org/protocol/chatstates'/>"
    "<x:data xmlns:x='jabber:x:data' x:type='form'><x:field var='a'><x:value>1</x:value>"
    "</x:field></x:data></message>",
    " ",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>",
    "<iq type='result' id='empty'/>",
    "\n",
    "</stream:stream>",
};
#define N_PIECES (sizeof client_pieces / sizeof client_pieces[0])
/* Indices of the pieces whose end is the end of an open or stanza event. */
static const size_t event_pieces[] = { 0, 2, 4, 5, 7, 8 };
#define N_EVENTS (sizeof event_pieces / sizeof event_pieces[0])

static const char client_expected[] =
    "OPEN <stream xmlns='http://etherx.jabber.org/streams' to='example.com' version='1.0'"
    " xml:lang='en'/>\n"
    "STANZA <iq xmlns='jabber:client' type='set' id='bind_1'>"
    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>\n"
    "STANZA <presence xmlns='jabber:client'><show>away</show><status xml:lang='de'>"
    "Bin weg &amp; so &lt;3 caf\xc3\xa9 \xe2\x98\xba \xe2\x98\x83</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://psi-im.org'"
    " ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>\n"
    "STANZA <message xmlns='jabber:client' to='juliet@example.com/balcony' type='chat' id='m1'"
    " xml:lang='en'><body>Wherefore art thou,&#10;Romeo? &quot;q&quot; &apos;a&apos; &gt; &quot;"
    "</body><thread>t1</thread><active xmlns='http://jabber.org/protocol/chatstates'/>"
    "<data xmlns='jabber:x:data' xmlns:ns1='jabber:x:data' ns1:type='form'><field var='a'>"
    "<value>1</value></field></data></message>\n"
    "STANZA <iq xmlns='jabber:client' type='get' id='r1'>"
    "<query xmlns='jabber:iq:roster' ver=''/></iq>\n"
    "STANZA <iq xmlns='jabber:client' type='result' id='empty'/>\n"
    "CLOSE\n";

static char *client_stream(size_t *len)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < N_PIECES; i++) buf_puts(&b, client_pieces[i]);
    *len = b.len;
    return buf_steal(&b);
}

/* Byte offset of the end of event k in client_stream(). */
static size_t event_end_offset(size_t k)
{
    size_t off = 0;
    for (size_t i = 0; i <= event_pieces[k]; i++) off += strlen(client_pieces[i]);
    return off;
}

/* Length of the expected log up to and including event k (a text may hold
 * a newline, so events are found by the word starting their line). */
static size_t expected_log_prefix(size_t k)
{
    const char *p = client_expected;
    for (size_t i = 0; i <= k; i++) {
        const char *stanza = strstr(p, "\nSTANZA "), *close = strstr(p, "\nCLOSE\n");
        p = (stanza && stanza < close ? stanza : close) + 1;
    }
    return (size_t)(p - client_expected);
}

/* XML-1: header, stanzas with nested children, attributes, xml:lang,
 * escaped text, namespaces; whitespace between stanzas not delivered. */
static void test_client_stream_whole(void **state)
{
    (void)state;
    size_t len;
    char *in = client_stream(&len);
    struct rec r;
    assert_int_equal(run(&r, in, len, &big_limits, 0), XS_OK);
    assert_string_equal(log_of(&r), client_expected);
    assert_string_equal(r.content_ns_at_open, "jabber:client");
    assert_string_equal(xmlstream_content_ns(r.xs), "jabber:client");
    assert_int_equal(r.errors, 0);
    rec_free(&r);
    free(in);
}

/* XML-1: the same events for every split in two pieces and byte by byte. */
static void test_client_stream_every_split(void **state)
{
    (void)state;
    size_t len;
    char *in = client_stream(&len);
    for (size_t cut = 0; cut <= len; cut++) {
        struct rec r;
        rec_init(&r, &big_limits);
        assert_int_equal(feed_pieces(&r, in, cut, 0, NULL), XS_OK);
        assert_int_equal(feed_pieces(&r, in + cut, len - cut, 0, NULL), XS_OK);
        assert_string_equal(log_of(&r), client_expected);
        rec_free(&r);
    }
    struct rec r;
    assert_int_equal(run(&r, in, len, &big_limits, 1), XS_OK);
    assert_string_equal(log_of(&r), client_expected);
    rec_free(&r);
    free(in);
}

/* XML-1: the header's content namespace is NULL before the header. */
static void test_content_ns(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, &big_limits);
    assert_null(xmlstream_content_ns(r.xs));
    const char *s2s = "<stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
        "to='a.example' version='1.0'><db:result from='b.example' to='a.example'>key</db:result>";
    assert_int_equal(feed_pieces(&r, s2s, strlen(s2s), 0, NULL), XS_OK);
    assert_string_equal(xmlstream_content_ns(r.xs), "jabber:server");
    assert_string_equal(log_of(&r),
        "OPEN <stream xmlns='http://etherx.jabber.org/streams' to='a.example' version='1.0'/>\n"
        "STANZA <result xmlns='jabber:server:dialback' from='b.example' to='a.example'>key"
        "</result>\n");
    rec_free(&r);
}

/* XML-1: a stanza in another default namespace is passed up; elements in
 * no namespace get ns "". */
static void test_foreign_stanza_namespace(void **state)
{
    (void)state;
    const char in[] = HEADER "<message xmlns='jabber:server'><x xmlns=''/></message>";
    struct rec r;
    assert_int_equal(run(&r, in, strlen(in), &big_limits, 0), XS_OK);
    assert_int_equal(r.stanzas, 1);
    assert_non_null(strstr(log_of(&r),
        "STANZA <message xmlns='jabber:server'><x xmlns=''/></message>\n"));
    rec_free(&r);
}

/* XML-1: pausing at each event gives consumed = the event's end; feeding
 * the rest (whole or byte by byte) completes the same stream. */
static void test_pause_consumed_exact(void **state)
{
    (void)state;
    size_t len;
    char *in = client_stream(&len);
    for (size_t k = 0; k < N_EVENTS; k++) {
        for (size_t piece = 0; piece <= 1; piece++) {
            struct rec r;
            rec_init(&r, &big_limits);
            r.pause_at = (int)k;
            size_t consumed = SIZE_MAX;
            assert_int_equal(xmlstream_feed(r.xs, in, len, &consumed), XS_PAUSED);
            assert_int_equal(consumed, event_end_offset(k));
            assert_int_equal(r.log.len, expected_log_prefix(k));
            assert_memory_equal(r.log.data, client_expected, r.log.len);
            assert_int_equal(feed_pieces(&r, in + consumed, len - consumed, piece, NULL), XS_OK);
            assert_string_equal(log_of(&r), client_expected);
            rec_free(&r);
        }
    }
    free(in);
}

/* XML-1: fed byte by byte, the byte that completes the event pauses with
 * consumed = 1; pausing at every event and feeding the rest each time. */
static void test_pause_bytewise_and_every_event(void **state)
{
    (void)state;
    size_t len;
    char *in = client_stream(&len);
    struct rec r;
    rec_init(&r, &big_limits);
    r.pause_always = true;
    size_t paused_at[N_EVENTS], n_paused = 0;
    for (size_t i = 0; i < len; i++) {
        size_t consumed = SIZE_MAX;
        enum xmlstream_status st = xmlstream_feed(r.xs, in + i, 1, &consumed);
        assert_int_equal(consumed, 1);
        if (st == XS_PAUSED) {
            assert_true(n_paused < N_EVENTS);
            paused_at[n_paused++] = i + 1;
        } else {
            assert_int_equal(st, XS_OK);
        }
    }
    assert_int_equal(n_paused, N_EVENTS);
    for (size_t k = 0; k < N_EVENTS; k++) assert_int_equal(paused_at[k], event_end_offset(k));
    assert_string_equal(log_of(&r), client_expected);
    rec_free(&r);

    rec_init(&r, &big_limits);
    r.pause_always = true;
    size_t off = 0, pauses = 0;
    for (;;) {
        size_t consumed;
        enum xmlstream_status st = xmlstream_feed(r.xs, in + off, len - off, &consumed);
        off += consumed;
        if (st == XS_OK) break;
        assert_int_equal(st, XS_PAUSED);
        assert_int_equal(off, event_end_offset(pauses));
        pauses++;
    }
    assert_int_equal(pauses, N_EVENTS);
    assert_int_equal(off, len);
    assert_string_equal(log_of(&r), client_expected);
    rec_free(&r);
    free(in);
}

/* XML-1: after a pause the stream keeps every namespace the header bound
 * (any prefix, URIs with characters that need escaping). */
static void test_pause_keeps_header_namespaces(void **state)
{
    (void)state;
    const char header[] = "<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams'"
        " xmlns:db='jabber:server:dialback' xmlns:odd='urn:a&amp;b&#10;&#9;c&lt;&apos;&quot;'"
        " version='1.0'>";
    const char rest[] = "<db:result from='b.example'>k</db:result><odd:x odd:y='1'/>\n</s:stream>";
    const char expected[] =
        "OPEN <stream xmlns='http://etherx.jabber.org/streams' version='1.0'/>\n"
        "STANZA <result xmlns='jabber:server:dialback' from='b.example'>k</result>\n"
        "STANZA <x xmlns='urn:a&amp;b&#10;&#9;c&lt;&apos;&quot;' "
        "xmlns:ns1='urn:a&amp;b&#10;&#9;c&lt;&apos;&quot;' ns1:y='1'/>\n"
        "CLOSE\n";
    struct buf in;
    buf_init(&in);
    buf_puts(&in, header);
    buf_puts(&in, rest);
    for (size_t piece = 0; piece <= 1; piece++) {
        struct rec r;
        rec_init(&r, &big_limits);
        r.pause_at = 0;
        size_t consumed;
        assert_int_equal(xmlstream_feed(r.xs, in.data, in.len, &consumed), XS_PAUSED);
        assert_int_equal(consumed, strlen(header));
        assert_string_equal(xmlstream_content_ns(r.xs), "jabber:server");
        assert_int_equal(feed_pieces(&r, rest, strlen(rest), piece, NULL), XS_OK);
        assert_string_equal(log_of(&r), expected);
        rec_free(&r);
    }
    struct rec whole;
    assert_int_equal(run(&whole, in.data, in.len, &big_limits, 0), XS_OK);
    assert_string_equal(log_of(&whole), expected);
    rec_free(&whole);
    buf_free(&in);
}

/* XML-1, XML-5: STARTTLS-like restart: pause on the stanza, discard the
 * rest (injected bytes), restart, a new stream with its own header. */
static void test_restart_after_pause(void **state)
{
    (void)state;
    const char first[] = "<?xml version='1.0'?>" HEADER
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    const char injected[] = "<iq type='set' id='injected'><query/></iq>";
    const char in[] = "<?xml version='1.0'?>" HEADER
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        "<iq type='set' id='injected'><query/></iq>";
    assert_int_equal(strlen(first) + strlen(injected), strlen(in));
    struct rec r;
    rec_init(&r, &big_limits);
    r.pause_at = 1;
    size_t consumed;
    assert_int_equal(xmlstream_feed(r.xs, in, strlen(in), &consumed), XS_PAUSED);
    assert_int_equal(consumed, strlen(first));
    xmlstream_restart(r.xs);
    assert_null(xmlstream_content_ns(r.xs));
    const char second[] = "<?xml version='1.0'?>\n<s:stream xmlns='jabber:client' "
        "xmlns:s='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
        "<iq type='get' id='after'/></s:stream>";
    assert_int_equal(feed_pieces(&r, second, strlen(second), 0, NULL), XS_OK);
    assert_string_equal(log_of(&r),
        "OPEN <stream xmlns='http://etherx.jabber.org/streams' to='example.com' version='1.0'/>\n"
        "STANZA <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
        "OPEN <stream xmlns='http://etherx.jabber.org/streams' to='example.com' version='1.0'/>\n"
        "STANZA <iq xmlns='jabber:client' type='get' id='after'/>\n"
        "CLOSE\n");
    assert_null(strstr(log_of(&r), "injected"));
    assert_int_equal(r.opens, 2);
    rec_free(&r);
}

/* ------------------------------------------------------- XML-2, XML-3 */

struct refused_case {
    const char *input;
    const char *condition;
    int opens;           /* open events before the error */
};

/* Every case is refused with `condition`, fed whole, in 7-byte pieces and
 * byte by byte, with the same events each time, and no stanza delivered. */
static void check_refused(const struct refused_case *cases, size_t n)
{
    static const size_t pieces[] = { 0, 7, 1 };
    for (size_t i = 0; i < n; i++) {
        const struct refused_case *c = &cases[i];
        char *first_log = NULL;
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            struct rec r;
            enum xmlstream_status st = run(&r, c->input, strlen(c->input), &big_limits, pieces[p]);
            if (st != XS_ERROR || !r.condition || strcmp(r.condition, c->condition) != 0)
                fail_msg("case %zu (%s): status %d condition %s, expected %s", i, c->input,
                         (int)st, r.condition ? r.condition : "(none)", c->condition);
            assert_int_equal(r.errors, 1);
            assert_int_equal(r.opens, c->opens);
            assert_int_equal(r.stanzas, 0);
            /* Nothing more is parsed and no second error is reported. */
            size_t consumed = SIZE_MAX;
            assert_int_equal(xmlstream_feed(r.xs, "<a/>", 4, &consumed), XS_ERROR);
            assert_int_equal(consumed, 0);
            assert_int_equal(r.errors, 1);
            if (!first_log) first_log = xstrdup(log_of(&r));
            else assert_string_equal(log_of(&r), first_log);
            rec_free(&r);
        }
        free(first_log);
    }
}

/* XML-2: DTD, internal subset, entity declarations, PIs and comments, before
 * the header, between stanzas and inside a stanza. A DOCTYPE or entity
 * declaration inside content is not well-formed XML at all. */
static void test_restricted_xml(void **state)
{
    (void)state;
    static const struct refused_case cases[] = {
        { "<?xml version='1.0'?><!DOCTYPE stream:stream>" HEADER, "restricted-xml", 0 },
        { "<!DOCTYPE s [<!ENTITY e 'x'>]>" HEADER "<message>&e;</message>", "restricted-xml", 0 },
        { "<!DOCTYPE s [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>" HEADER "<message>&e;</message>",
          "restricted-xml", 0 },
        { "<!DOCTYPE s [<!ENTITY % pe 'x'> %pe;]>" HEADER, "restricted-xml", 0 },
        { "<!DOCTYPE s SYSTEM 'http://example.com/x.dtd'>" HEADER, "restricted-xml", 0 },
        { "<?xml version='1.0'?><?xml-stylesheet href='a.xsl'?>" HEADER, "restricted-xml", 0 },
        { "<!-- hello -->" HEADER, "restricted-xml", 0 },
        { HEADER "<!-- hello --><message/>", "restricted-xml", 1 },
        { HEADER "<?target data?><message/>", "restricted-xml", 1 },
        { HEADER "<message><body>a<!-- x -->b</body></message>", "restricted-xml", 1 },
        { HEADER "<message><?target data?></message>", "restricted-xml", 1 },
        { HEADER "<message><!DOCTYPE x></message>", "not-well-formed", 1 },
        { HEADER "<message><!ENTITY e 'x'></message>", "not-well-formed", 1 },
        { HEADER "<!DOCTYPE x><message/>", "not-well-formed", 1 },
    };
    check_refused(cases, sizeof cases / sizeof cases[0]);
}

/* XML-2: the billion laughs never expands: refused at the DOCTYPE. */
static void test_billion_laughs(void **state)
{
    (void)state;
    static const struct refused_case cases[] = {
        { "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
          "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
          "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>"
          "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
          "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
          "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
          "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
          "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
          "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
          "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>]>"
          HEADER "<message><body>&lol9;</body></message>", "restricted-xml", 0 },
        /* Without a DTD the reference is simply undefined. */
        { HEADER "<message><body>&lol9;</body></message>", "not-well-formed", 1 },
    };
    check_refused(cases, sizeof cases / sizeof cases[0]);
}

/* XML-3: malformed XML, invalid UTF-8, unbound prefixes, undefined entities. */
static void test_not_well_formed(void **state)
{
    (void)state;
    static const struct refused_case cases[] = {
        { HEADER "<message><body></message>", "not-well-formed", 1 },
        { HEADER "<message></body></message>", "not-well-formed", 1 },
        { HEADER "<message id='1' id='2'/>", "not-well-formed", 1 },
        { HEADER "<message id=1/>", "not-well-formed", 1 },
        { HEADER "<message><body>a < b</body></message>", "not-well-formed", 1 },
        { HEADER "<message><body>\xff</body></message>", "not-well-formed", 1 },
        { HEADER "<message><body>\xc0\x80</body></message>", "not-well-formed", 1 },
        { HEADER "<message><body>\xed\xa0\x80</body></message>", "not-well-formed", 1 },
        { HEADER "<message><body>\xc3(</body></message>", "not-well-formed", 1 },
        { HEADER "<message><body>\xf4\x90\x80\x80</body></message>", "not-well-formed", 1 },
        { HEADER "<message id='\xfe'/>", "not-well-formed", 1 },
        { HEADER "<mess\xc3" "age/>", "not-well-formed", 1 },
        { "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
          " to='\xff'>", "not-well-formed", 0 },
        { HEADER "<message><body>&#0;</body></message>", "not-well-formed", 1 },
        { HEADER "<foo:message/>", "not-well-formed", 1 },
        { HEADER "<message foo:id='1'/>", "not-well-formed", 1 },
        { "<stream:stream xmlns='jabber:client' to='example.com'>", "not-well-formed", 0 },
        { HEADER "<message><body>&nbsp;</body></message>", "not-well-formed", 1 },
        { HEADER "<message><body>&amp</body></message>", "not-well-formed", 1 },
        { HEADER "<?xml version='1.0'?><message/>", "not-well-formed", 1 },
        { "hello" HEADER, "not-well-formed", 0 },
        { "<?xml version='1.0' encoding='ISO-8859-1'?>" HEADER, "unsupported-encoding", 0 },
        { HEADER "hello<message/>", "bad-format", 1 },
    };
    check_refused(cases, sizeof cases / sizeof cases[0]);
}

/* XML-3: expat would switch to UTF-16 on a BOM or NUL bytes, even told
 * UTF-8; such a stream is refused before expat sees its second byte. */
static void test_utf16_refused(void **state)
{
    (void)state;
    static const char le_bom[] = "\xff\xfe<\0s\0t\0r\0e\0a\0m\0";
    static const char be_bom[] = "\xfe\xff\0<\0s\0t\0r\0e\0a\0m";
    static const char le[] = "<\0s\0t\0r\0e\0a\0m\0";
    static const char be[] = "\0<\0s\0t\0r\0e\0a\0m";
    static const struct { const char *data; size_t len; } cases[] = {
        { le_bom, sizeof le_bom - 1 }, { be_bom, sizeof be_bom - 1 },
        { le, sizeof le - 1 }, { be, sizeof be - 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t piece = 0; piece <= 1; piece++) {
            struct rec r;
            size_t total = 0;
            rec_init(&r, &big_limits);
            assert_int_equal(feed_pieces(&r, cases[i].data, cases[i].len, piece, &total), XS_ERROR);
            assert_string_equal(r.condition, "unsupported-encoding");
            assert_int_equal(r.opens, 0);
            assert_true(total < 2);
            rec_free(&r);
        }
    }
}

/* XML-3: wrong stream namespace, root name or content namespace. */
static void test_invalid_namespace(void **state)
{
    (void)state;
    static const struct refused_case cases[] = {
        { "<stream:stream xmlns='jabber:client' xmlns:stream='http://example.com/streams'>",
          "invalid-namespace", 0 },
        { "<stream xmlns='jabber:client'>", "invalid-namespace", 0 },
        { "<stream xmlns='http://etherx.jabber.org/streams'>", "invalid-namespace", 0 },
        { "<stream:features xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams'>", "invalid-namespace", 0 },
        { "<stream:stream xmlns='jabber:wrong' xmlns:stream='http://etherx.jabber.org/streams'>",
          "invalid-namespace", 0 },
        { "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
          "invalid-namespace", 0 },
    };
    check_refused(cases, sizeof cases / sizeof cases[0]);
}

/* ---------------------------------------------------------------- XML-4 */

/* Runs `in` whole and byte by byte; both must agree. Returns the whole run's
 * status; r holds the whole run (caller frees). */
static enum xmlstream_status run_both(struct rec *r, const char *in,
                                      const struct xmlstream_limits *limits)
{
    enum xmlstream_status st = run(r, in, strlen(in), limits, 0);
    struct rec bytewise;
    assert_int_equal(run(&bytewise, in, strlen(in), limits, 1), st);
    assert_string_equal(log_of(&bytewise), log_of(r));
    rec_free(&bytewise);
    return st;
}

static void assert_limit_refused(const char *in, const struct xmlstream_limits *limits,
                                 const char *text)
{
    struct rec r;
    assert_int_equal(run_both(&r, in, limits), XS_ERROR);
    assert_int_equal(r.errors, 1);
    assert_string_equal(r.condition, "policy-violation");
    assert_string_equal(r.text, text);
    assert_int_equal(r.stanzas, 0);
    rec_free(&r);
}

static void assert_passes(const char *in, const struct xmlstream_limits *limits, int stanzas)
{
    struct rec r;
    assert_int_equal(run_both(&r, in, limits), XS_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.stanzas, stanzas);
    rec_free(&r);
}

/* A stanza of exactly `size` bytes. */
static char *stanza_of_size(size_t size)
{
    const char *head = "<message><body>", *tail = "</body></message>";
    size_t fixed = strlen(head) + strlen(tail);
    assert_true(size >= fixed);
    char *s = xmalloc(size + 1);
    strcpy(s, head);
    memset(s + strlen(head), 'a', size - fixed);
    strcpy(s + size - strlen(tail), tail);
    assert_int_equal(strlen(s), size);
    return s;
}

/* XML-1: an idle stream gives its parser back between stanzas (and only
 * there); cut anywhere, released where it may, the stream gives the same
 * events, byte by byte as well. */
static void test_release_idle_same_events(void **state)
{
    (void)state;
    size_t len;
    char *in = client_stream(&len);
    size_t close_at = len - strlen("</stream:stream>");
    for (size_t cut = 0; cut <= len; cut++) {
        struct rec r;
        rec_init(&r, &big_limits);
        assert_int_equal(feed_pieces(&r, in, cut, 0, NULL), XS_OK);
        bool between = false;
        for (size_t k = 0; k < N_EVENTS; k++) between |= cut == event_end_offset(k);
        bool released = xmlstream_release_idle(r.xs);
        if (between) assert_true(released);
        if (cut == 0 || cut == len) assert_false(released);
        if (released) assert_false(xmlstream_release_idle(r.xs));   /* already */
        assert_int_equal(feed_pieces(&r, in + cut, len - cut, 0, NULL), XS_OK);
        assert_string_equal(log_of(&r), client_expected);
        rec_free(&r);
    }
    struct rec r;
    rec_init(&r, &big_limits);
    unsigned releases = 0;
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(xmlstream_feed(r.xs, in + i, 1, NULL), XS_OK);
        if (i + 1 < close_at && xmlstream_release_idle(r.xs)) releases++;
    }
    assert_string_equal(log_of(&r), client_expected);
    assert_true(releases >= N_EVENTS);
    rec_free(&r);
    free(in);
}

/* XML-1: a released s2s stream keeps its header's prefix and namespaces. */
static void test_release_idle_keeps_header_namespaces(void **state)
{
    (void)state;
    const char header[] = "<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams'"
        " xmlns:db='jabber:server:dialback' version='1.0'>";
    const char rest[] = "<db:result from='b.example'>k</db:result></s:stream>";
    struct rec r;
    rec_init(&r, &big_limits);
    assert_int_equal(feed_pieces(&r, header, strlen(header), 0, NULL), XS_OK);
    assert_true(xmlstream_release_idle(r.xs));
    assert_string_equal(xmlstream_content_ns(r.xs), "jabber:server");
    assert_int_equal(feed_pieces(&r, rest, strlen(rest), 0, NULL), XS_OK);
    assert_string_equal(log_of(&r),
        "OPEN <stream xmlns='http://etherx.jabber.org/streams' version='1.0'/>\n"
        "STANZA <result xmlns='jabber:server:dialback' from='b.example'>k</result>\n"
        "CLOSE\n");
    assert_false(xmlstream_release_idle(r.xs));   /* closed */
    rec_free(&r);
}

/* XML-4: the limits hold across a release; a failed stream is not released. */
static void test_release_idle_keeps_limits(void **state)
{
    (void)state;
    char *stanza = stanza_of_size(300);
    struct xmlstream_limits limits = big_limits;
    limits.max_stanza_bytes = 299;
    struct rec r;
    rec_init(&r, &limits);
    assert_int_equal(feed_pieces(&r, HEADER, strlen(HEADER), 0, NULL), XS_OK);
    assert_true(xmlstream_release_idle(r.xs));
    assert_int_equal(feed_pieces(&r, stanza, 200, 0, NULL), XS_OK);
    assert_false(xmlstream_release_idle(r.xs));   /* mid-stanza */
    assert_int_equal(feed_pieces(&r, stanza + 200, strlen(stanza) - 200, 0, NULL), XS_ERROR);
    assert_string_equal(r.condition, "policy-violation");
    assert_string_equal(r.text, "stanza exceeds 299 bytes");
    assert_false(xmlstream_release_idle(r.xs));
    rec_free(&r);
    free(stanza);
}

/* XML-4: a stanza of exactly max_stanza_bytes passes, one byte more fails;
 * stanza ends and whitespace between stanzas reset the count. */
static void test_limit_stanza_bytes(void **state)
{
    (void)state;
    const size_t size = 300;
    char *stanza = stanza_of_size(size);
    struct buf in;
    buf_init(&in);
    buf_printf(&in, "%s%s\n%s %s%s", HEADER, stanza, stanza, stanza, stanza);
    struct xmlstream_limits limits = big_limits;
    limits.max_stanza_bytes = size;
    assert_passes(in.data, &limits, 4);
    limits.max_stanza_bytes = size - 1;
    assert_limit_refused(in.data, &limits, "stanza exceeds 299 bytes");
    buf_free(&in);
    free(stanza);
}

/* XML-4: the prolog and stream header count against the byte limit. */
static void test_limit_header_bytes(void **state)
{
    (void)state;
    const char in[] = "<?xml version='1.0'?>\n" HEADER;
    struct xmlstream_limits limits = big_limits;
    limits.max_stanza_bytes = strlen(in);
    struct rec r;
    assert_int_equal(run_both(&r, in, &limits), XS_OK);
    assert_int_equal(r.opens, 1);
    rec_free(&r);
    limits.max_stanza_bytes = strlen(in) - 1;
    struct buf text;
    buf_init(&text);
    buf_printf(&text, "stream header exceeds %zu bytes", strlen(in) - 1);
    assert_limit_refused(in, &limits, text.data);
    buf_free(&text);
}

/* XML-4: elements per stanza, the stanza element included. */
static void test_limit_elements(void **state)
{
    (void)state;
    const char in[] = HEADER "<message><a/><b><c/></b></message><message><a/><b/><c/></message>";
    struct xmlstream_limits limits = big_limits;
    limits.max_elements = 4;
    assert_passes(in, &limits, 2);
    limits.max_elements = 3;
    assert_limit_refused(in, &limits, "stanza exceeds 3 elements");
}

/* XML-4: nesting depth, the stanza element being depth 1. */
static void test_limit_depth(void **state)
{
    (void)state;
    const char in[] = HEADER "<message><a><b><c>text</c></b></a><d/></message>";
    struct xmlstream_limits limits = big_limits;
    limits.max_depth = 4;
    assert_passes(in, &limits, 1);
    limits.max_depth = 3;
    assert_limit_refused(in, &limits, "stanza nesting exceeds 3 levels");
}

/* XML-4: attributes per element (namespace declarations count), on the
 * stanza element and on a child. */
static void test_limit_attrs(void **state)
{
    (void)state;
    const char on_stanza[] = HEADER
        "<message a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' xmlns:x='urn:x' x:a7='7'/>";
    const char on_child[] = HEADER
        "<message><x a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' xmlns:x='urn:x' x:a7='7'/></message>";
    struct xmlstream_limits limits = big_limits;
    limits.max_attrs = 8;
    assert_passes(on_stanza, &limits, 1);
    assert_passes(on_child, &limits, 1);
    limits.max_attrs = 7;
    assert_limit_refused(on_stanza, &limits, "element exceeds 7 attributes");
    assert_limit_refused(on_child, &limits, "element exceeds 7 attributes");
}

/* XML-4: new limits from a callback (after authentication) apply to the
 * next stanza. */
static void test_set_limits(void **state)
{
    (void)state;
    char *big = stanza_of_size(1000);
    struct buf in;
    buf_init(&in);
    buf_printf(&in, "%s<auth/>%s", HEADER, big);
    struct xmlstream_limits pre = big_limits, post = big_limits;
    pre.max_stanza_bytes = 500;
    post.max_stanza_bytes = 1000;
    struct rec r;
    assert_int_equal(run(&r, in.data, in.len, &pre, 0), XS_ERROR);
    assert_string_equal(r.text, "stanza exceeds 500 bytes");
    rec_free(&r);
    for (size_t piece = 0; piece <= 1; piece++) {
        rec_init(&r, &pre);
        r.limits_after_first_stanza = &post;
        assert_int_equal(feed_pieces(&r, in.data, in.len, piece, NULL), XS_OK);
        assert_int_equal(r.stanzas, 2);
        assert_int_equal(r.errors, 0);
        rec_free(&r);
    }
    buf_free(&in);
    free(big);
}

/* XML-4: a one-megabyte element with 120,000 attributes is refused after
 * expat got exactly the header and max_stanza_bytes + 1 bytes of it. */
static void test_huge_attribute_element(void **state)
{
    (void)state;
    struct buf in;
    buf_init(&in);
    buf_puts(&in, HEADER "<message");
    for (int i = 0; i < 120000; i++) buf_printf(&in, " a%d=''", i);
    buf_puts(&in, "/>");
    assert_true(in.len > 1000000);
    struct xmlstream_limits limits = big_limits;
    limits.max_stanza_bytes = 4096;
    const size_t expat_max = strlen(HEADER) + limits.max_stanza_bytes + 1;

    struct rec r;
    rec_init(&r, &limits);
    size_t consumed = SIZE_MAX;
    assert_int_equal(xmlstream_feed(r.xs, in.data, in.len, &consumed), XS_ERROR);
    assert_int_equal(consumed, expat_max);
    assert_string_equal(r.condition, "policy-violation");
    assert_string_equal(r.text, "stanza exceeds 4096 bytes");
    rec_free(&r);

    /* Fed in 1000-byte pieces: the bytes handed on add up to the same. */
    rec_init(&r, &limits);
    size_t total = 0;
    assert_int_equal(feed_pieces(&r, in.data, in.len, 1000, &total), XS_ERROR);
    assert_int_equal(total, expat_max);
    assert_int_equal(r.errors, 1);
    rec_free(&r);
    buf_free(&in);
}

/* XML-4: an error or free in the middle of a stanza frees the partial tree
 * (checked by valgrind / ASan). */
static void test_partial_stanza_freed(void **state)
{
    (void)state;
    const char in[] = HEADER "<message><body>partial<x a='1'><y/>";
    struct rec r;
    assert_int_equal(run(&r, in, strlen(in), &big_limits, 0), XS_OK);
    assert_int_equal(r.stanzas, 0);
    rec_free(&r);
    struct xmlstream_limits limits = big_limits;
    limits.max_depth = 2;
    assert_int_equal(run(&r, in, strlen(in), &limits, 0), XS_ERROR);
    assert_string_equal(r.text, "stanza nesting exceeds 2 levels");
    rec_free(&r);
}

/* ---------------------------------------------------------------- XML-5 */

/* XML-5: </stream:stream> closes; bytes after it (even garbage) are ignored. */
static void test_close_then_ignored(void **state)
{
    (void)state;
    const char in[] = HEADER "<message/></stream:stream><garbage>&&&\xff<";
    struct rec r;
    assert_int_equal(run_both(&r, in, &big_limits), XS_OK);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.errors, 0);
    size_t consumed = 0;
    assert_int_equal(xmlstream_feed(r.xs, "<more>", 6, &consumed), XS_OK);
    assert_int_equal(consumed, 6);
    assert_string_equal(log_of(&r),
        "OPEN <stream xmlns='http://etherx.jabber.org/streams' to='example.com' version='1.0'/>\n"
        "STANZA <message xmlns='jabber:client'/>\n"
        "CLOSE\n");
    rec_free(&r);
}

/* XML-1: a header written as an empty-element tag ends the stream, also
 * when the open callback pauses (found by the stream fuzz target: the
 * resumed parser used to take what followed as stanzas). */
static void test_empty_header_with_pause(void **state)
{
    (void)state;
    const char header[] = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>";
    const char rest[] = "<presence/>";
    struct buf in;
    buf_init(&in);
    buf_puts(&in, header);
    buf_puts(&in, rest);
    struct rec r;
    rec_init(&r, &big_limits);
    r.pause_at = 0;
    size_t consumed;
    assert_int_equal(xmlstream_feed(r.xs, in.data, in.len, &consumed), XS_PAUSED);
    assert_int_equal(consumed, strlen(header));
    assert_int_equal(xmlstream_feed(r.xs, in.data + consumed, in.len - consumed, &consumed), XS_OK);
    assert_int_equal(r.opens, 1);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.stanzas, 0);
    rec_free(&r);
    buf_free(&in);
}

/* XML-6: the stream error and the stream close, the text escaped. */
/* XML-1: a restart is due only after STARTTLS and SASL success, and then
 * the owner makes a new parser; a stream header inside the stream is
 * refused at its start tag (it would otherwise swallow every later stanza
 * as its children), with no end tag ever needed. */
static void test_unexpected_stream_header(void **state)
{
    (void)state;
    static const struct refused_case cases[] = {
        { HEADER "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
          " to='example.com' version='1.0'>", "unsupported-stanza-type", 1 },
        { HEADER "<message/><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
          "<message/>", "unsupported-stanza-type", 1 },
        { HEADER "<s:stream xmlns:s='http://etherx.jabber.org/streams'/>", "unsupported-stanza-type", 1 },
    };
    check_refused(cases + 0, 1);
    check_refused(cases + 2, 1);
    /* after a stanza: that one is delivered, then the header is refused */
    struct rec r;
    assert_int_equal(run(&r, cases[1].input, strlen(cases[1].input), &big_limits, 0), XS_ERROR);
    assert_int_equal(r.stanzas, 1);
    assert_string_equal(r.condition, "unsupported-stanza-type");
    rec_free(&r);
    /* as a child it is only a foreign element */
    static const char nested[] = HEADER "<message><stream:stream xmlns:stream='http://etherx.jabber.org/streams'/></message>";
    assert_int_equal(run(&r, nested, strlen(nested), &big_limits, 0), XS_OK);
    assert_int_equal(r.stanzas, 1);
    rec_free(&r);
}

/* XML-1, RFC 6120 4.7.5: "major.minor", leading zeros ignored. */
static void test_major_version(void **state)
{
    (void)state;
    static const struct { const char *version; int major; } cases[] = {
        { "1.0", 1 }, { "1.1", 1 }, { "01.0", 1 }, { "001.00", 1 }, { "1.10", 1 },
        { "2.0", 2 }, { "10.0", 10 }, { "0.9", 0 }, { "00.9", 0 },
        { NULL, -1 }, { "", -1 }, { "1", -1 }, { "1.", -1 }, { ".0", -1 }, { "1.0.1", -1 },
        { "1.0 ", -1 }, { " 1.0", -1 }, { "+1.0", -1 }, { "1.-0", -1 }, { "a.0", -1 },
        { "99999.0", -1 }, { "0000000000001.0", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (xmlstream_major_version(cases[i].version) != cases[i].major)
            fail_msg("version \"%s\": %d, expected %d", cases[i].version ? cases[i].version : "(none)",
                     xmlstream_major_version(cases[i].version), cases[i].major);
}

static void test_error_xml(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    xmlstream_error_xml(&b, "not-authorized", "a <b> & 'c'");
    assert_string_equal(b.data, "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>a &lt;b&gt; &amp; &apos;c&apos;"
                                "</text></stream:error></stream:stream>");
    buf_reset(&b);
    xmlstream_error_xml(&b, "system-shutdown", NULL);
    assert_string_equal(b.data, "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                "</stream:error></stream:stream>");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_stream_whole),
        cmocka_unit_test(test_client_stream_every_split),
        cmocka_unit_test(test_content_ns),
        cmocka_unit_test(test_foreign_stanza_namespace),
        cmocka_unit_test(test_pause_consumed_exact),
        cmocka_unit_test(test_pause_bytewise_and_every_event),
        cmocka_unit_test(test_pause_keeps_header_namespaces),
        cmocka_unit_test(test_restart_after_pause),
        cmocka_unit_test(test_restricted_xml),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_not_well_formed),
        cmocka_unit_test(test_utf16_refused),
        cmocka_unit_test(test_invalid_namespace),
        cmocka_unit_test(test_limit_stanza_bytes),
        cmocka_unit_test(test_limit_header_bytes),
        cmocka_unit_test(test_limit_elements),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_attrs),
        cmocka_unit_test(test_set_limits),
        cmocka_unit_test(test_huge_attribute_element),
        cmocka_unit_test(test_partial_stanza_freed),
        cmocka_unit_test(test_close_then_ignored),
        cmocka_unit_test(test_error_xml),
        cmocka_unit_test(test_unexpected_stream_header),
        cmocka_unit_test(test_major_version),
        cmocka_unit_test(test_empty_header_with_pause),
        cmocka_unit_test(test_release_idle_same_events),
        cmocka_unit_test(test_release_idle_keeps_header_namespaces),
        cmocka_unit_test(test_release_idle_keeps_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
