/* xmlstream: the XMPP stream parser. Turns received bytes into stream events
 * (header, top-level stanzas as xnode trees, close, error) over expat, and
 * enforces restricted XML and the size/count/depth limits (SPEC XML-2..XML-4).
 * The caller owns the xmlstream (xmlstream_free) and each delivered stanza
 * (xnode_free); the header passed to `open` is borrowed for the call only.
 * The parser never keeps a pointer to fed data past xmlstream_feed. */
#ifndef IMREF_XMLSTREAM_H
#define IMREF_XMLSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "xnode.h"

#define XMLNS_STREAMS "http://etherx.jabber.org/streams"

typedef struct xmlstream xmlstream;

struct xmlstream_limits {
    size_t max_stanza_bytes;  /* raw bytes of one top-level stanza (and of the stream header) */
    unsigned max_elements;    /* elements in one stanza, the stanza element included */
    unsigned max_depth;       /* nesting depth inside a stanza; the stanza element is depth 1 */
    unsigned max_attrs;       /* attributes per element (namespace declarations count) */
};

/* All four callbacks are required. From inside a callback only
 * xmlstream_pause, xmlstream_set_limits and xmlstream_content_ns may be called. */
struct xmlstream_callbacks {
    /* <stream:stream ...> received: header is a childless element (ns
       XMLNS_STREAMS, name "stream", its attributes, e.g. to/from/version/id,
       xml:lang with ns XMLNS_XML), borrowed for the call only. */
    void (*open)(void *ctx, const xnode *header);
    /* A complete top-level child of the stream; the callee owns it (xnode_free).
       Every element's ns is set explicitly ("" for no namespace). */
    void (*stanza)(void *ctx, xnode *stanza);
    /* </stream:stream> received; later bytes are ignored (XML-5). */
    void (*close)(void *ctx);
    /* A stream-level error: condition is the RFC 6120 condition element name
       ("not-well-formed", "restricted-xml", "invalid-namespace",
       "policy-violation", "bad-format", "unsupported-encoding",
       "unsupported-stanza-type" for a stream header inside the stream: a
       due restart is a new parser), text a human
       reason (for limits it names the limit). At most once per stream. */
    void (*error)(void *ctx, const char *condition, const char *text);
};

enum xmlstream_status { XS_OK, XS_PAUSED, XS_ERROR };

xmlstream *xmlstream_new(const struct xmlstream_callbacks *cb, void *ctx,
                         const struct xmlstream_limits *limits);
/* Frees the parser and any partly received stanza. Never from a callback. */
void xmlstream_free(xmlstream *xs);
/* New limits (e.g. after authentication), effective from the next byte. */
void xmlstream_set_limits(xmlstream *xs, const struct xmlstream_limits *limits);
/* Feeds bytes.
 * XS_OK: all consumed (after the stream close they are ignored).
 * XS_PAUSED: a callback called xmlstream_pause; *consumed = bytes of `data`
 *   up to and including the event that paused. The caller feeds the rest
 *   later (in any pieces), or discards it and calls xmlstream_restart.
 * XS_ERROR: the error callback was called (now or earlier); nothing more is
 *   parsed; *consumed = bytes of `data` handed to expat in this call (never
 *   more than the byte limit allows).
 * consumed may be NULL. */
enum xmlstream_status xmlstream_feed(xmlstream *xs, const char *data, size_t len,
                                     size_t *consumed);
/* From the open or stanza callback: stop after the current event (STARTTLS
 * and SASL success, whose stream restarts are deferred until feed returns).
 * No effect from the close or error callback. */
void xmlstream_pause(xmlstream *xs);
/* Stream restart (RFC 6120 4.3.3): a fresh parser; the next bytes begin a
 * new stream (optional XML declaration, then the header). Not from a callback. */
void xmlstream_restart(xmlstream *xs);
/* An idle stream (inside the stream, between stanzas, no byte of the next
 * one received) gives back its expat parser and scratch buffers; the next
 * xmlstream_feed continues the stream with a fresh parser, as after a
 * pause. Returns whether it did (false mid-stanza, before the header, after
 * the close or an error, or when already released). Not from a callback. */
bool xmlstream_release_idle(xmlstream *xs);
/* The default namespace declared on the stream header ("jabber:client" or
 * "jabber:server"), NULL before the header. Borrowed. */
const char *xmlstream_content_ns(const xmlstream *xs);

/* The major number of a stream header's version attribute (RFC 6120
 * 4.7.5: "major.minor", two integers whose leading zeros are ignored), or
 * -1 when it is absent or not of that form. */
int xmlstream_major_version(const char *version);

/* Appends <stream:error><condition/>[<text/>]</stream:error></stream:stream>
 * (RFC 6120 §4.9), text escaped; for the c2s and s2s streams alike. */
void xmlstream_error_xml(struct buf *out, const char *condition, const char *text);

#endif
