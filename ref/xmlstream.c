#include "xmlstream.h"

#include <expat.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* expat reports names as "uri SEP local [SEP prefix]". 0xFF never occurs in
 * UTF-8, so it cannot be part of a URI, a local name or a prefix. */
#define NS_SEP '\xFF'

#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"

enum stream_state {
    ST_PROLOG,   /* before the stream header */
    ST_PRIMING,  /* a resumed parser reading our synthetic header */
    ST_STREAM,   /* inside the stream */
    ST_CLOSING,  /* the header was <stream:stream/> and a pause came first */
    ST_CLOSED,   /* </stream:stream> seen: later bytes are ignored */
    ST_FAILED,   /* the error callback was called: nothing more is parsed */
};

/* Bytes are counted in the current parser's input (the synthetic header
 * included after a pause), the unit of XML_GetCurrentByteIndex. */
struct xmlstream {
    struct xmlstream_callbacks cb;
    void *ctx;
    struct xmlstream_limits limits;
    XML_Parser parser;
    enum stream_state state;
    bool halted;            /* expat was told to stop: ignore late callbacks */
    bool pause_requested;
    bool header_empty;      /* the header was an empty-element tag: the stream ends with it */
    uint64_t fed;           /* bytes handed to the parser */
    uint64_t mark;          /* end of the header, the last stanza or stream-level whitespace */
    uint64_t pause_end;     /* end of the event that paused */
    xnode *stanza;          /* the stanza being received (owned), NULL between stanzas */
    xnode *cur;             /* its innermost open element */
    unsigned depth;         /* depth of cur, the stanza element being 1 */
    unsigned elements;      /* elements of the stanza so far */
    unsigned ns_decls;      /* namespace declarations of the element about to start */
    struct buf text;        /* character data not yet added to cur */
    struct buf name;        /* scratch for split_name */
    struct buf header_decls;/* the header's namespace declarations, as XML */
    char *prime;            /* synthetic header that resumes the stream after a pause */
    char *content_ns;
};

struct qname {
    const char *ns;         /* NULL: no namespace */
    const char *local;
    const char *prefix;     /* NULL: none */
};

/* Splits an expat name into `scratch` (valid until the next split). */
static struct qname split_name(struct buf *scratch, const char *expat_name)
{
    buf_reset(scratch);
    buf_puts(scratch, expat_name);
    char *s = scratch->data;
    struct qname q = { NULL, s, NULL };
    char *sep = strchr(s, NS_SEP);
    if (!sep) return q;
    *sep = '\0';
    q.ns = s;
    q.local = sep + 1;
    sep = strchr(sep + 1, NS_SEP);
    if (sep) {
        *sep = '\0';
        q.prefix = sep + 1;
    }
    return q;
}

static uint64_t event_end(const xmlstream *xs)
{
    return (uint64_t)XML_GetCurrentByteIndex(xs->parser)
         + (uint64_t)XML_GetCurrentByteCount(xs->parser);
}

static uint64_t pending_bytes(const xmlstream *xs)
{
    return xs->fed - xs->mark;
}

static void drop_stanza(xmlstream *xs)
{
    xnode_free(xs->stanza);
    xs->stanza = xs->cur = NULL;
    xs->depth = xs->elements = 0;
    buf_reset(&xs->text);
}

/* Reports the stream error (once) and frees the partial stanza. */
static void fail(xmlstream *xs, const char *condition, const char *text)
{
    if (xs->state == ST_FAILED) return;
    xs->state = ST_FAILED;
    drop_stanza(xs);
    xs->cb.error(xs->ctx, condition, text);
}

/* Stops expat after the current callback (only from inside XML_Parse). */
static void halt(xmlstream *xs)
{
    xs->halted = true;
    XML_StopParser(xs->parser, XML_FALSE);
}

static void refuse(xmlstream *xs, const char *condition, const char *text)
{
    fail(xs, condition, text);
    halt(xs);
}

static void fail_limit(xmlstream *xs, const char *subject, unsigned long long limit,
                       const char *unit)
{
    struct buf text;
    buf_init(&text);
    buf_printf(&text, "%s exceeds %llu %s", subject, limit, unit);
    fail(xs, "policy-violation", text.data);
    buf_free(&text);
}

static void refuse_limit(xmlstream *xs, const char *subject, unsigned long long limit,
                         const char *unit)
{
    fail_limit(xs, subject, limit, unit);
    halt(xs);
}

/* After an open or stanza callback: honour xmlstream_pause. */
static void after_event(xmlstream *xs)
{
    if (!xs->pause_requested || xs->halted) return;
    xs->pause_end = event_end(xs);
    halt(xs);
}

static void flush_text(xmlstream *xs)
{
    if (xs->text.len == 0) return;
    xnode_add_text(xs->cur, xs->text.data, xs->text.len);
    buf_reset(&xs->text);
}

static size_t count_attrs(const XML_Char **atts)
{
    size_t n = 0;
    while (atts[2 * n]) n++;
    return n;
}

static bool attrs_within_limit(xmlstream *xs, const XML_Char **atts, unsigned decls)
{
    if (count_attrs(atts) + decls <= xs->limits.max_attrs) return true;
    refuse_limit(xs, "element", xs->limits.max_attrs, "attributes");
    return false;
}

static void copy_attrs(xmlstream *xs, xnode *n, const XML_Char **atts)
{
    for (size_t i = 0; atts[i]; i += 2) {
        struct qname q = split_name(&xs->name, atts[i]);
        xnode_set_attr_ns(n, q.ns, q.local, atts[i + 1]);
    }
}

/* An attribute value that expat's normalisation gives back unchanged. */
static void append_attr_value(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '\'': buf_puts(b, "&apos;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\t': case '\n': case '\r': buf_printf(b, "&#%d;", *s); break;
        default: buf_append(b, s, 1); break;
        }
    }
}

static void record_header_decl(xmlstream *xs, const char *prefix, const char *uri)
{
    if (!uri) return; /* xmlns='' on the header: no content namespace */
    buf_puts(&xs->header_decls, " xmlns");
    if (prefix) {
        buf_puts(&xs->header_decls, ":");
        buf_puts(&xs->header_decls, prefix);
    }
    buf_puts(&xs->header_decls, "='");
    append_attr_value(&xs->header_decls, uri);
    buf_puts(&xs->header_decls, "'");
    if (!prefix) {
        free(xs->content_ns);
        xs->content_ns = xstrdup(uri);
    }
}

/* The start tag that puts a fresh parser where this stream is between
 * stanzas: same qualified name, same namespace declarations. */
static void build_prime(xmlstream *xs, const char *prefix)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<");
    if (prefix) {
        buf_puts(&b, prefix);
        buf_puts(&b, ":");
    }
    buf_puts(&b, "stream");
    buf_append(&b, xs->header_decls.data, xs->header_decls.len);
    buf_puts(&b, ">");
    free(xs->prime);
    xs->prime = buf_steal(&b);
}

static bool is_content_ns(const char *ns)
{
    return ns && (strcmp(ns, NS_CLIENT) == 0 || strcmp(ns, NS_SERVER) == 0);
}

static void fail_size(xmlstream *xs)
{
    fail_limit(xs, xs->state == ST_PROLOG ? "stream header" : "stanza",
               xs->limits.max_stanza_bytes, "bytes");
}

/* At the end of the header or a stanza: the bytes since the mark, which the
 * feed loop lets reach max_stanza_bytes + 1 only. */
static bool size_within_limit(xmlstream *xs)
{
    if (event_end(xs) - xs->mark <= xs->limits.max_stanza_bytes) return true;
    fail_size(xs);
    halt(xs);
    return false;
}

/* Inside a start handler: is the tag an empty-element tag ("<x .../>")?
 * expat then calls the end handler at once, unless a pause halted it. */
static bool event_is_empty_tag(const xmlstream *xs)
{
    int offset = 0, size = 0;
    const char *context = XML_GetInputContext(xs->parser, &offset, &size);
    int count = XML_GetCurrentByteCount(xs->parser);
    return context && count >= 2 && offset + count <= size && context[offset + count - 2] == '/' &&
           context[offset + count - 1] == '>';
}

static void open_stream(xmlstream *xs, const XML_Char *name, const XML_Char **atts,
                        unsigned decls)
{
    if (!size_within_limit(xs) || !attrs_within_limit(xs, atts, decls)) return;
    struct qname q = split_name(&xs->name, name);
    if (!q.ns || strcmp(q.ns, XMLNS_STREAMS) != 0 || strcmp(q.local, "stream") != 0) {
        refuse(xs, "invalid-namespace", "the root element is not stream in " XMLNS_STREAMS);
        return;
    }
    if (!is_content_ns(xs->content_ns)) {
        free(xs->content_ns);
        xs->content_ns = NULL;
        refuse(xs, "invalid-namespace",
               "the stream's default namespace is not " NS_CLIENT " or " NS_SERVER);
        return;
    }
    build_prime(xs, q.prefix);
    xs->header_empty = event_is_empty_tag(xs);
    xs->state = ST_STREAM;
    xs->mark = event_end(xs);
    xnode *header = xnode_new("stream", XMLNS_STREAMS);
    copy_attrs(xs, header, atts);
    xs->cb.open(xs->ctx, header);
    xnode_free(header);
    after_event(xs);
}

static void start_element(xmlstream *xs, const XML_Char *name, const XML_Char **atts,
                          unsigned decls)
{
    if (!attrs_within_limit(xs, atts, decls)) return;
    if (xs->depth >= xs->limits.max_depth) {
        refuse_limit(xs, "stanza nesting", xs->limits.max_depth, "levels");
        return;
    }
    if (xs->elements >= xs->limits.max_elements) {
        refuse_limit(xs, "stanza", xs->limits.max_elements, "elements");
        return;
    }
    struct qname q = split_name(&xs->name, name);
    const char *ns = q.ns ? q.ns : "";
    if (!xs->cur && strcmp(ns, XMLNS_STREAMS) == 0 && strcmp(q.local, "stream") == 0) {
        /* a restart the owner did not ask for (it makes a new parser when
           one is due): as a top-level element it would swallow the stream */
        refuse(xs, "unsupported-stanza-type", "a stream header inside the stream; no restart is due");
        return;
    }
    if (xs->cur) {
        flush_text(xs);
        xs->cur = xnode_add_child(xs->cur, q.local, ns);
    } else {
        xs->cur = xs->stanza = xnode_new(q.local, ns);
    }
    xs->depth++;
    xs->elements++;
    copy_attrs(xs, xs->cur, atts);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xmlstream *xs = ud;
    if (xs->halted) return;
    unsigned decls = xs->ns_decls;
    xs->ns_decls = 0;
    if (xs->state == ST_PRIMING) xs->state = ST_STREAM;
    else if (xs->state == ST_PROLOG) open_stream(xs, name, atts, decls);
    else start_element(xs, name, atts, decls);
}

static void close_stream(xmlstream *xs)
{
    xs->state = ST_CLOSED;
    halt(xs);
    xs->cb.close(xs->ctx);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    xmlstream *xs = ud;
    if (xs->halted) return;
    if (xs->depth == 0) {
        close_stream(xs);
        return;
    }
    flush_text(xs);
    xs->depth--;
    if (xs->depth > 0) {
        xs->cur = xs->cur->parent;
        return;
    }
    if (!size_within_limit(xs)) return;
    xnode *stanza = xs->stanza;
    xs->stanza = xs->cur = NULL;
    xs->elements = 0;
    xs->mark = event_end(xs);
    xs->cb.stanza(xs->ctx, stanza);
    after_event(xs);
}

static bool is_xml_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    xmlstream *xs = ud;
    if (xs->halted) return;
    if (xs->depth > 0) {
        buf_append(&xs->text, s, (size_t)len);
        return;
    }
    if (!is_xml_space(s, (size_t)len)) {
        refuse(xs, "bad-format", "character data between stanzas");
        return;
    }
    xs->mark = event_end(xs);
}

static void XMLCALL on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    xmlstream *xs = ud;
    if (xs->halted) return;
    xs->ns_decls++;
    if (xs->state == ST_PROLOG) record_header_decl(xs, prefix, uri);
}

static void restrict_xml(xmlstream *xs, const char *text)
{
    if (!xs->halted) refuse(xs, "restricted-xml", text);
}

/* Called before expat reads an internal subset, so no entity is ever declared. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    restrict_xml(ud, "document type declarations are not allowed");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    restrict_xml(ud, "processing instructions are not allowed");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    restrict_xml(ud, "comments are not allowed");
}

static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    (void)version, (void)standalone;
    xmlstream *xs = ud;
    if (!xs->halted && encoding && strcasecmp(encoding, "UTF-8") != 0)
        refuse(xs, "unsupported-encoding", "only UTF-8 is supported");
}

/* A new expat parser at the start of a document; the stream state goes with it. */
static void start_parser(xmlstream *xs)
{
    if (xs->parser) XML_ParserFree(xs->parser);
    xs->parser = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!xs->parser) {
        fputs("imref: out of memory\n", stderr);
        abort();
    }
    XML_Parser p = xs->parser;
    XML_SetUserData(p, xs);
    XML_SetReturnNSTriplet(p, XML_TRUE);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
    /* Deferral would delay events past the bytes that complete them. */
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartNamespaceDeclHandler(p, on_ns_decl);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetCommentHandler(p, on_comment);
    XML_SetXmlDeclHandler(p, on_xml_decl);
    xs->state = ST_PROLOG;
    xs->halted = xs->pause_requested = false;
    xs->fed = xs->mark = 0;
    xs->ns_decls = 0;
    drop_stanza(xs);
    buf_reset(&xs->header_decls);
}

/* A fresh parser that continues the stream between stanzas: it first reads
 * the synthetic header (after a pause, or after xmlstream_release_idle). */
static void prime_parser(xmlstream *xs)
{
    start_parser(xs);
    xs->state = ST_PRIMING;
    size_t len = strlen(xs->prime);
    xs->fed = xs->mark = len;
    if (XML_Parse(xs->parser, xs->prime, (int)len, XML_FALSE) != XML_STATUS_OK)
        fail(xs, "internal-server-error", "the stream parser cannot resume");
}

/* expat cannot un-read the bytes it was given after the event that paused,
 * so a pause ends the parser; a fresh one reads the synthetic header and
 * then continues from exactly the byte after that event. */
static void resume_after_pause(xmlstream *xs)
{
    xs->pause_requested = false;
    if (xs->state == ST_STREAM && xs->header_empty && !xs->stanza && xs->depth == 0 && xs->mark == xs->pause_end) {
        xs->state = ST_CLOSING;      /* the halt swallowed the header's own end */
        return;
    }
    prime_parser(xs);
}

xmlstream *xmlstream_new(const struct xmlstream_callbacks *cb, void *ctx,
                         const struct xmlstream_limits *limits)
{
    xmlstream *xs = xcalloc(1, sizeof *xs);
    xs->cb = *cb;
    xs->ctx = ctx;
    xs->limits = *limits;
    buf_init(&xs->text);
    buf_init(&xs->name);
    buf_init(&xs->header_decls);
    start_parser(xs);
    return xs;
}

void xmlstream_free(xmlstream *xs)
{
    if (!xs) return;
    XML_ParserFree(xs->parser);
    drop_stanza(xs);
    buf_free(&xs->text);
    buf_free(&xs->name);
    buf_free(&xs->header_decls);
    free(xs->prime);
    free(xs->content_ns);
    free(xs);
}

bool xmlstream_release_idle(xmlstream *xs)
{
    if (!xs->parser || xs->state != ST_STREAM || xs->stanza || xs->fed != xs->mark) return false;
    XML_ParserFree(xs->parser);
    xs->parser = NULL;
    buf_free(&xs->text);
    buf_free(&xs->name);
    buf_free(&xs->header_decls);
    return true;
}

void xmlstream_set_limits(xmlstream *xs, const struct xmlstream_limits *limits)
{
    xs->limits = *limits;
}

void xmlstream_pause(xmlstream *xs)
{
    xs->pause_requested = true;
}

void xmlstream_restart(xmlstream *xs)
{
    free(xs->content_ns);
    xs->content_ns = NULL;
    start_parser(xs);
}

const char *xmlstream_content_ns(const xmlstream *xs)
{
    return xs->content_ns;
}

/* The most bytes expat may get now: the pending stanza reaches at most
 * max_stanza_bytes + 1, which is enough to tell that it is too big. */
static size_t chunk_size(const xmlstream *xs, size_t left)
{
    size_t room = xs->limits.max_stanza_bytes - (size_t)pending_bytes(xs);
    if (room < SIZE_MAX) room++;
    if (room > INT_MAX) room = INT_MAX;
    return left < room ? left : room;
}

/* Whatever encoding it was told, expat switches to UTF-16 on a BOM or a NUL
 * in the first two bytes of a document; RFC 6120 11.6 allows UTF-8 only. */
static bool starts_utf16(const xmlstream *xs, const char *chunk, size_t len)
{
    for (size_t i = 0; i < len && xs->fed + i < 2; i++) {
        unsigned char c = (unsigned char)chunk[i];
        if (c == 0x00 || (xs->fed + i == 0 && (c == 0xFE || c == 0xFF))) return true;
    }
    return false;
}

enum xmlstream_status xmlstream_feed(xmlstream *xs, const char *data, size_t len,
                                     size_t *consumed)
{
    if (!xs->parser) prime_parser(xs);   /* released while idle */
    const uint64_t start = xs->fed;
    size_t handed = 0;
    enum xmlstream_status status;
    xs->pause_requested = false;
    for (;;) {
        if (xs->state == ST_FAILED) {
            status = XS_ERROR;
            break;
        }
        if (xs->state == ST_CLOSING) {
            xs->state = ST_CLOSED;
            xs->cb.close(xs->ctx);
            continue;
        }
        if (xs->state == ST_CLOSED) {
            handed = len;
            status = XS_OK;
            break;
        }
        if (xs->pause_requested) {
            handed = (size_t)(xs->pause_end - start);
            resume_after_pause(xs);
            status = XS_PAUSED;
            break;
        }
        if (pending_bytes(xs) > xs->limits.max_stanza_bytes) {
            fail_size(xs);
            continue;
        }
        if (handed == len) {
            status = XS_OK;
            break;
        }
        size_t chunk = chunk_size(xs, len - handed);
        if (starts_utf16(xs, data + handed, chunk)) {
            fail(xs, "unsupported-encoding", "only UTF-8 is supported");
            continue;
        }
        xs->fed += chunk;
        enum XML_Status rc = XML_Parse(xs->parser, data + handed, (int)chunk, XML_FALSE);
        handed += chunk;
        if (rc == XML_STATUS_ERROR && !xs->halted)
            fail(xs, "not-well-formed", XML_ErrorString(XML_GetErrorCode(xs->parser)));
    }
    if (consumed) *consumed = handed;
    return status;
}

void xmlstream_error_xml(struct buf *out, const char *condition, const char *text)
{
    buf_printf(out, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", condition);
    if (text) {
        buf_puts(out, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
        buf_append_xml_escaped(out, text, strlen(text));
        buf_puts(out, "</text>");
    }
    buf_puts(out, "</stream:error></stream:stream>");
}

int xmlstream_major_version(const char *version)
{
    if (!version) return -1;
    const char *dot = strchr(version, '.');
    if (!dot || dot == version || !dot[1]) return -1;
    if (strspn(version, "0123456789") != (size_t)(dot - version) || strspn(dot + 1, "0123456789") != strlen(dot + 1))
        return -1;
    while (*version == '0' && version + 1 < dot) version++;   /* leading zeros are ignored */
    if (dot - version > 4) return -1;   /* no such version; keeps the number small */
    return atoi(version);
}
