/* loadgen_xml: see loadgen_xml.h. '<' is always markup in XML, and '>' may
 * appear unescaped only in text and attribute values, so tracking quotes
 * inside tags is enough to find every tag's end. */
#include "loadgen_xml.h"

#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The index of the '>' closing the tag opened at p[i] ('<'), or n. Names
 * and spaces go byte by byte (they are short); each quoted value is
 * skipped with one memchr. */
static size_t tag_end(const char *p, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++) {
        char c = p[j];
        if (c == '>')
            return j;
        if (c == '"' || c == '\'') {
            const char *close = memchr(p + j + 1, c, n - j - 1);
            if (!close)
                return n;
            j = (size_t)(close - p);
        }
    }
    return n;
}

/* The index just past `term` searched from p[i], or 0 when absent. */
static size_t past(const char *p, size_t n, size_t i, const char *term)
{
    size_t tlen = strlen(term);
    const char *hit = i < n ? memmem(p + i, n - i, term, tlen) : NULL;
    return hit ? (size_t)(hit - p) + tlen : 0;
}

/* Skips a PI, comment or CDATA section opened at p[i]: the index after it,
 * or 0 when incomplete. */
static size_t skip_special(const char *p, size_t n, size_t i)
{
    if (p[i + 1] == '?')
        return past(p, n, i + 2, "?>");
    if (n - i >= 4 && memcmp(p + i, "<!--", 4) == 0)
        return past(p, n, i + 4, "-->");
    if (n - i >= 9 && memcmp(p + i, "<![CDATA[", 9) == 0)
        return past(p, n, i + 9, "]]>");
    if (n - i < 9)
        return 0;
    size_t e = tag_end(p, n, i);   /* <!DOCTYPE ...> */
    return e < n ? e + 1 : 0;
}

/* The end (index after '>') of the element whose start tag ends at p[e]
 * ('>'), or 0 when incomplete. */
static size_t element_end(const char *p, size_t n, size_t e)
{
    if (p[e - 1] == '/')
        return e + 1;
    size_t depth = 1, j = e + 1;
    while (j < n) {
        const char *lt = memchr(p + j, '<', n - j);
        if (!lt || (size_t)(lt - p) + 1 >= n)
            return 0;
        j = (size_t)(lt - p);
        char next = p[j + 1];
        if (next == '?' || next == '!') {
            j = skip_special(p, n, j);
            if (j == 0)
                return 0;
            continue;
        }
        size_t end = tag_end(p, n, j);
        if (end >= n)
            return 0;
        if (next == '/') {
            if (--depth == 0)
                return end + 1;
        } else if (p[end - 1] != '/') {
            depth++;
        }
        j = end + 1;
    }
    return 0;
}

enum lg_xml_kind lg_xml_next(const char *p, size_t n, bool stream_open, size_t *start,
                             size_t *used)
{
    size_t i = 0;
    *used = 0;
    for (;;) {
        const char *lt = i < n ? memchr(p + i, '<', n - i) : NULL;
        if (!lt) {
            *used = n;   /* text between top-level elements: whitespace pings */
            return LGX_MORE;
        }
        i = (size_t)(lt - p);
        *used = i;
        if (i + 1 >= n)
            return LGX_MORE;
        if (p[i + 1] != '?' && p[i + 1] != '!')
            break;
        size_t after = skip_special(p, n, i);
        if (after == 0)
            return LGX_MORE;
        i = after;
    }
    *start = i;
    size_t e = tag_end(p, n, i);
    if (e >= n)
        return LGX_MORE;
    if (p[i + 1] == '/') {
        *used = e + 1;
        return LGX_CLOSE;
    }
    if (!stream_open) {
        *used = e + 1;
        return LGX_HEADER;
    }
    size_t end = element_end(p, n, e);
    if (end == 0)
        return LGX_MORE;
    *used = end;
    return LGX_ELEMENT;
}

/* The qualified name of the start tag at el[0] ('<'). */
static const char *tag_name(const char *el, size_t len, size_t *nlen)
{
    size_t i = 1;
    while (i < len && !is_space(el[i]) && el[i] != '>' && el[i] != '/')
        i++;
    *nlen = i - 1;
    return el + 1;
}

bool lg_xml_named(const char *el, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    if (len < nlen + 1 || memcmp(el + 1, name, nlen) != 0)
        return false;
    if (len == nlen + 1)
        return true;
    char after = el[nlen + 1];
    return is_space(after) || after == '>' || after == '/';
}

const char *lg_xml_attr(const char *el, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name), end = tag_end(el, len, 0);
    size_t i = 0;
    tag_name(el, len, &i);
    i += 1;
    while (i < end) {
        while (i < end && is_space(el[i]))
            i++;
        size_t key = i;
        while (i < end && el[i] != '=' && !is_space(el[i]) && el[i] != '/')
            i++;
        size_t key_len = i - key;
        while (i < end && (is_space(el[i]) || el[i] == '='))
            i++;
        if (i >= end || (el[i] != '"' && el[i] != '\''))
            return NULL;
        char quote = el[i++];
        const char *q = memchr(el + i, quote, end - i);
        if (!q)
            return NULL;
        if (key_len == nlen && memcmp(el + key, name, nlen) == 0) {
            *vlen = (size_t)(q - (el + i));
            return el + i;
        }
        i = (size_t)(q - el) + 1;
    }
    return NULL;
}

const char *lg_xml_content(const char *el, size_t len, size_t *clen)
{
    size_t e = tag_end(el, len, 0);
    *clen = 0;
    if (e >= len || el[e - 1] == '/')
        return el + len;
    size_t close = len;
    while (close > e + 1 && el[close - 1] != '<')
        close--;
    /* close - 1 is the '<' of the end tag */
    *clen = close - 1 > e + 1 ? close - 1 - (e + 1) : 0;
    return el + e + 1;
}

bool lg_xml_contains(const char *el, size_t len, const char *needle)
{
    return memmem(el, len, needle, strlen(needle)) != NULL;
}
