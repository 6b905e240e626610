/* buf: a growable byte buffer.
 * The buffer owns `data`; buf_free releases it. Callers may read data[0..len)
 * and must not keep `data` across a call that appends (it may move).
 * Allocation failure aborts (inputs are bounded by callers instead). */
#ifndef IMREF_BUF_H
#define IMREF_BUF_H

#include <stddef.h>

struct buf {
    char *data;   /* always NUL-terminated when len > 0 or cap > 0 */
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);                 /* len = 0, memory kept */
/* Makes room for `extra` more bytes (and the NUL) at once. */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s with the five XML special characters escaped, and CR, LF and
 * TAB as character references (so text and attribute values read back
 * unchanged). */
void buf_append_xml_escaped(struct buf *b, const char *s, size_t n);
void buf_consume(struct buf *b, size_t n);     /* drops n bytes from the front */
/* Returns the data as a malloc'd NUL-terminated string; the buffer is left empty. */
char *buf_steal(struct buf *b);

/* Small helpers every module wants; abort on allocation failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
