#include "report.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What the report keeps of one result. */
struct report_item {
    char *path, *description;          /* description: unescaped, for JUnit */
    enum runner_outcome outcome;
    char *message, *diagnostic;        /* either may be NULL */
    double seconds;
};

struct report {
    FILE *tap;
    bool verbose;
    struct report_item *items;
    size_t n_items;
};

struct report *report_new(FILE *tap, size_t planned, bool verbose)
{
    struct report *r = xcalloc(1, sizeof *r);
    r->tap = tap;
    r->verbose = verbose;
    fprintf(tap, "1..%zu\n", planned);
    fflush(tap);
    return r;
}

/* Appends s on one line, with TAP's description escapes if `tap`. */
static void append_desc_text(struct buf *out, const char *s, bool tap)
{
    for (; *s; s++) {
        if (tap && (*s == '#' || *s == '\\')) buf_printf(out, "\\%c", *s);
        else if (*s == '\n' || *s == '\r') buf_puts(out, " ");
        else buf_append(out, s, 1);
    }
}

static char *describe(const struct report_entry *e, bool tap)
{
    struct buf b;
    buf_init(&b);
    append_desc_text(&b, e->path, tap);
    if (e->title && e->title[0]) {
        buf_puts(&b, ": ");
        append_desc_text(&b, e->title, tap);
    }
    if (e->n_covers) {
        buf_puts(&b, " [");
        for (size_t i = 0; i < e->n_covers; i++) {
            if (i) buf_puts(&b, " ");
            append_desc_text(&b, e->covers[i], tap);
        }
        buf_puts(&b, "]");
    }
    return buf_steal(&b);
}

/* Prints text as "# " lines. */
static void print_comment_lines(FILE *f, const char *text)
{
    if (!text) return;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n == 0) fputs("#\n", f);
        else fprintf(f, "# %.*s\n", (int)n, p);
        p += n;
        if (*p == '\n') p++;
    }
}

static void print_one_line(FILE *f, const char *s)
{
    for (; *s; s++) fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
}

void report_add(struct report *r, const struct report_entry *e)
{
    const struct runner_result *res = e->result;
    r->items = xrealloc(r->items, (r->n_items + 1) * sizeof *r->items);
    struct report_item *it = &r->items[r->n_items++];
    *it = (struct report_item){
        .path = xstrdup(e->path), .description = describe(e, false), .outcome = res->outcome,
        .message = res->message ? xstrdup(res->message) : NULL,
        .diagnostic = res->diagnostic ? xstrdup(res->diagnostic) : NULL,
        .seconds = e->seconds,
    };
    char *tap_description = describe(e, true);
    fprintf(r->tap, "%s %zu - %s", res->outcome == RUNNER_FAIL ? "not ok" : "ok",
            r->n_items, tap_description);
    free(tap_description);
    if (res->outcome == RUNNER_SKIP) {
        fputs(" # SKIP ", r->tap);
        print_one_line(r->tap, res->message ? res->message : "");
    }
    fputc('\n', r->tap);
    if (res->outcome == RUNNER_FAIL) {
        print_comment_lines(r->tap, res->message ? res->message : "failed");
        print_comment_lines(r->tap, res->diagnostic);
    }
    if (r->verbose) print_comment_lines(r->tap, res->transcript);
    fflush(r->tap);
}

size_t report_count(const struct report *r, enum runner_outcome outcome)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_items; i++)
        if (r->items[i].outcome == outcome) n++;
    return n;
}

void report_summary(const struct report *r)
{
    fprintf(r->tap, "%zu passed, %zu failed, %zu skipped\n", report_count(r, RUNNER_PASS),
            report_count(r, RUNNER_FAIL), report_count(r, RUNNER_SKIP));
    fflush(r->tap);
}

/* ---- JUnit --------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s (at most n bytes) holding a character
   XML 1.0 allows, or 0. */
static size_t xml_char_len(const unsigned char *s, size_t n)
{
    uint32_t c;
    size_t len;
    if (s[0] < 0x80) { c = s[0]; len = 1; }
    else if ((s[0] & 0xE0) == 0xC0) { c = s[0] & 0x1Fu; len = 2; }
    else if ((s[0] & 0xF0) == 0xE0) { c = s[0] & 0x0Fu; len = 3; }
    else if ((s[0] & 0xF8) == 0xF0) { c = s[0] & 0x07u; len = 4; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    static const uint32_t min_for_len[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < min_for_len[len]) return 0;                       /* overlong */
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return 0;
    if ((c >= 0xD800 && c <= 0xDFFF) || c == 0xFFFE || c == 0xFFFF || c > 0x10FFFF) return 0;
    return len;
}

/* Appends s escaped for XML text (attr false) or an attribute value. */
static void append_xml(struct buf *out, const char *s, bool attr)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    while (n) {
        size_t len = xml_char_len(p, n);
        if (len == 0) { buf_puts(out, "\xEF\xBF\xBD"); len = 1; }
        else if (*p == '&') buf_puts(out, "&amp;");
        else if (*p == '<') buf_puts(out, "&lt;");
        else if (*p == '>') buf_puts(out, "&gt;");
        else if (attr && *p == '"') buf_puts(out, "&quot;");
        else if (attr && *p == '\'') buf_puts(out, "&apos;");
        else if (attr && *p == '\n') buf_puts(out, "&#10;");
        else if (attr && *p == '\r') buf_puts(out, "&#13;");
        else if (attr && *p == '\t') buf_puts(out, "&#9;");
        else if (*p == '\r') buf_puts(out, "&#13;");
        else buf_append(out, p, len);
        p += len;
        n -= len;
    }
}

static void append_attr(struct buf *out, const char *name, const char *value)
{
    buf_printf(out, " %s=\"", name);
    append_xml(out, value, true);
    buf_puts(out, "\"");
}

static void append_testcase(struct buf *out, const char *classname, const struct report_item *it)
{
    buf_puts(out, "  <testcase");
    append_attr(out, "classname", classname);
    append_attr(out, "name", it->description);
    append_attr(out, "file", it->path);
    buf_printf(out, " time=\"%.3f\"", it->seconds);
    if (it->outcome == RUNNER_PASS) {
        buf_puts(out, "/>\n");
        return;
    }
    buf_puts(out, ">\n");
    if (it->outcome == RUNNER_SKIP) {
        buf_puts(out, "    <skipped");
        append_attr(out, "message", it->message);
        buf_puts(out, "/>\n");
    } else {
        buf_puts(out, "    <failure");
        append_attr(out, "message", it->message ? it->message : "failed");
        buf_puts(out, ">");
        append_xml(out, it->diagnostic, false);
        buf_puts(out, "</failure>\n");
    }
    buf_puts(out, "  </testcase>\n");
}

void report_junit(const struct report *r, const char *target_name, struct buf *out)
{
    struct buf classname;
    buf_init(&classname);
    buf_printf(&classname, "imconform.%s", target_name);
    double total = 0;
    for (size_t i = 0; i < r->n_items; i++) total += r->items[i].seconds;
    buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite");
    append_attr(out, "name", classname.data);
    buf_printf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n",
               r->n_items, report_count(r, RUNNER_FAIL), report_count(r, RUNNER_SKIP), total);
    for (size_t i = 0; i < r->n_items; i++) append_testcase(out, classname.data, &r->items[i]);
    buf_puts(out, "</testsuite>\n");
    buf_free(&classname);
}

int report_write_junit(const struct report *r, const char *target_name, const char *path,
                       struct buf *err)
{
    struct buf doc;
    buf_init(&doc);
    report_junit(r, target_name, &doc);
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f || fwrite(doc.data, 1, doc.len, f) != doc.len) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    if (rc != 0) buf_printf(err, "%s: %s", path, strerror(errno));
    buf_free(&doc);
    return rc;
}

void report_free(struct report *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_items; i++) {
        free(r->items[i].path);
        free(r->items[i].description);
        free(r->items[i].message);
        free(r->items[i].diagnostic);
    }
    free(r->items);
    free(r);
}
