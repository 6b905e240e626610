/* loadgen_xml: a cheap scanner for the load generator's incoming XMPP
 * bytes: it splits the stream into the header, top-level elements and the
 * close tag by counting tags (quotes and CDATA respected), without building
 * anything, and reads a start tag's attributes and an element's text in
 * place. Pointers returned point into the caller's buffer; nothing is
 * allocated. */
#ifndef IMREF_LOADGEN_XML_H
#define IMREF_LOADGEN_XML_H

#include <stdbool.h>
#include <stddef.h>

enum lg_xml_kind {
    LGX_MORE,      /* no complete item yet; *used bytes (whitespace, PIs) may be dropped */
    LGX_HEADER,    /* the <stream:stream ...> start tag */
    LGX_ELEMENT,   /* a complete top-level element */
    LGX_CLOSE,     /* an end tag at the top level: </stream:stream> */
};

/* The next item of p[0..n): `stream_open` says whether the header was seen.
 * *start is the offset of the item's '<', *used the bytes it ends at
 * (everything before may be dropped once it is handled). */
enum lg_xml_kind lg_xml_next(const char *p, size_t n, bool stream_open, size_t *start,
                             size_t *used);

/* True when the element's qualified name (e.g. "stream:features") is `name`. */
bool lg_xml_named(const char *el, size_t len, const char *name);
/* The raw (still escaped) value of a start-tag attribute, or NULL. */
const char *lg_xml_attr(const char *el, size_t len, const char *name, size_t *vlen);
/* The element's content between its start and its end tag (empty for a
 * self-closed one); *clen receives its length. */
const char *lg_xml_content(const char *el, size_t len, size_t *clen);
/* True when needle occurs in the element's bytes. */
bool lg_xml_contains(const char *el, size_t len, const char *needle);

#endif
