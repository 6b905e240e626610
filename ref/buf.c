#include "buf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(void)
{
    fputs("imref: out of memory\n", stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) out_of_memory();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory();
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static void buf_grow(struct buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

/* Inlined into the appends, which call it every time. */
static inline void ensure_room(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need > b->cap) buf_grow(b, need);
}

void buf_reserve(struct buf *b, size_t extra)
{
    ensure_room(b, extra);
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    ensure_room(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    ensure_room(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The replacement of each byte buf_append_xml_escaped escapes, NULL for the
 * others. XML end-of-line handling reads a raw CR as LF, and attribute
 * normalisation reads CR, LF and TAB as spaces: references keep them. */
static const char *const xml_escapes[256] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&apos;",
    ['\r'] = "&#13;", ['\n'] = "&#10;", ['\t'] = "&#9;",
};

static bool escaped(char c)
{
    return xml_escapes[(unsigned char)c] != NULL;
}

/* The index of the first byte of s[from..n) to escape, or n; four bytes a
 * step while there are four (most text has nothing to escape). */
static size_t next_escaped(const char *s, size_t from, size_t n)
{
    size_t i = from;
    while (i + 4 <= n && !(escaped(s[i]) | escaped(s[i + 1]) | escaped(s[i + 2]) | escaped(s[i + 3])))
        i += 4;
    while (i < n && !escaped(s[i]))
        i++;
    return i;
}

void buf_append_xml_escaped(struct buf *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = next_escaped(s, 0, n); i < n; i = next_escaped(s, start, n)) {
        buf_append(b, s + start, i - start);
        buf_puts(b, xml_escapes[(unsigned char)s[i]]);
        start = i + 1;
    }
    buf_append(b, s + start, n - start);
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *buf_steal(struct buf *b)
{
    char *p = b->data ? b->data : xstrdup("");
    buf_init(b);
    return p;
}
