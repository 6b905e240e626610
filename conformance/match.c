#include "match.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmlstream.h"

/* Longest piece of received text quoted in a mismatch reason. */
#define QUOTE_MAX 200

/* ---- variables ---------------------------------------------------------- */

static const struct {
    const char *suffix;
    enum scs_var_kind kind;
} var_forms[] = {
    { "'s full JID", SCS_VAR_FULL_JID },
    { "'s JID", SCS_VAR_BARE_JID },
    { "'s resource", SCS_VAR_RESOURCE },
    { "'s domain", SCS_VAR_DOMAIN },
};

bool scs_var_split(const char *var, char **client, enum scs_var_kind *kind)
{
    size_t len = strlen(var);
    for (size_t i = 0; i < sizeof var_forms / sizeof var_forms[0]; i++) {
        size_t suffix_len = strlen(var_forms[i].suffix);
        if (len > suffix_len && memcmp(var + len - suffix_len, var_forms[i].suffix, suffix_len) == 0) {
            *client = xstrndup(var, len - suffix_len);
            *kind = var_forms[i].kind;
            return true;
        }
    }
    *client = NULL;
    return false;
}

bool scs_profile_var_split(const char *var, bool *peer, const char **name)
{
    static const char target_prefix[] = "target:", peer_prefix[] = "peer:";
    if (strncmp(var, target_prefix, strlen(target_prefix)) == 0) {
        *peer = false;
        *name = var + strlen(target_prefix);
    } else if (strncmp(var, peer_prefix, strlen(peer_prefix)) == 0) {
        *peer = true;
        *name = var + strlen(peer_prefix);
    } else {
        return false;
    }
    return **name != '\0';
}

char *scs_expand(const char *text, scs_var_fn lookup, void *ctx, struct buf *err)
{
    struct buf out;
    buf_init(&out);
    const char *p = text;
    const char *open;
    while ((open = strstr(p, "${")) != NULL) {
        buf_append(&out, p, (size_t)(open - p));
        const char *close = strchr(open + 2, '}');
        if (!close) {
            buf_puts(err, "unterminated ${");
            buf_free(&out);
            return NULL;
        }
        char *name = xstrndup(open + 2, (size_t)(close - open - 2));
        const char *value = lookup(ctx, name);
        if (!value) {
            buf_printf(err, "unknown variable ${%s}", name);
            free(name);
            buf_free(&out);
            return NULL;
        }
        free(name);
        buf_puts(&out, value);
        p = close + 1;
    }
    buf_puts(&out, p);
    return buf_steal(&out);
}

/* ---- payloads ------------------------------------------------------------ */

struct payload {
    xnode **nodes;
    size_t n;
    bool closed;     /* </stream:stream> seen */
    bool failed;
    struct buf *err;
};

static void payload_open(void *ctx, const xnode *header)
{
    (void)ctx, (void)header;
}

static void payload_stanza(void *ctx, xnode *stanza)
{
    struct payload *p = ctx;
    p->nodes = xrealloc(p->nodes, (p->n + 1) * sizeof *p->nodes);
    p->nodes[p->n++] = stanza;
}

static void payload_close(void *ctx)
{
    struct payload *p = ctx;
    p->closed = true;
}

static void payload_error(void *ctx, const char *condition, const char *text)
{
    struct payload *p = ctx;
    p->failed = true;
    buf_printf(p->err, "%s: %s", condition, text);
}

void scs_free_payload(xnode **nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) xnode_free(nodes[i]);
    free(nodes);
}

static const struct xmlstream_callbacks payload_callbacks = {
    payload_open, payload_stanza, payload_close, payload_error,
};

/* Scripts are trusted local files: limits only keep the parser bounded. */
static const struct xmlstream_limits payload_limits = {
    .max_stanza_bytes = SIZE_MAX / 2,
    .max_elements = UINT_MAX / 2,
    .max_depth = 512,
    .max_attrs = 1024,
};

static void feed(xmlstream *xs, const char *data, size_t len)
{
    xmlstream_feed(xs, data, len, NULL);
}

int scs_parse_payload(const char *xml, size_t len, const char *default_ns, xnode ***out,
                      size_t *n, struct buf *err)
{
    struct payload p = { .err = err };
    xmlstream *xs = xmlstream_new(&payload_callbacks, &p, &payload_limits);
    struct buf header;
    buf_init(&header);
    buf_puts(&header, "<stream:stream xmlns='");
    buf_append_xml_escaped(&header, default_ns, strlen(default_ns));
    buf_puts(&header, "' xmlns:stream='" XMLNS_STREAMS "' xmlns:scansion='" SCS_NS_SCANSION "'>");
    feed(xs, header.data, header.len);
    buf_free(&header);
    feed(xs, xml, len);
    bool closed_early = p.closed;
    static const char trailer[] = "</stream:stream>";
    feed(xs, trailer, sizeof trailer - 1);
    xmlstream_free(xs);
    if (!p.failed) {
        if (closed_early) buf_puts(err, "the payload closes the stream");
        else if (!p.closed) buf_puts(err, "the payload is incomplete");
        else if (p.n == 0) buf_puts(err, "the payload holds no element");
    }
    if (p.failed || closed_early || !p.closed || p.n == 0) {
        scs_free_payload(p.nodes, p.n);
        return -1;
    }
    *out = p.nodes;
    *n = p.n;
    return 0;
}

/* ---- matching ------------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims XML whitespace from both ends of s[0..*len); returns the new start. */
static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && is_space(s[0])) s++, (*len)--;
    while (*len > 0 && is_space(s[*len - 1])) (*len)--;
    return s;
}

static const char *ns_of(const xnode *n)
{
    const char *ns = xnode_ns(n);
    return ns ? ns : "";
}

/* Appends s quoted, control characters escaped, at most QUOTE_MAX bytes. */
static void append_quoted(struct buf *b, const char *s, size_t len)
{
    buf_puts(b, "'");
    size_t shown = len > QUOTE_MAX ? QUOTE_MAX : len;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') buf_puts(b, "\\n");
        else if (c < 0x20 || c == 0x7f) buf_printf(b, "\\x%02x", c);
        else buf_append(b, &s[i], 1);
    }
    buf_puts(b, shown < len ? "'..." : "'");
}

static void append_attr_name(struct buf *b, const xattr *a)
{
    if (!a->ns) buf_puts(b, a->name);
    else if (strcmp(a->ns, XMLNS_XML) == 0) buf_printf(b, "xml:%s", a->name);
    else buf_printf(b, "{%s}%s", a->ns, a->name);
}

/* Starts a reason line "PATH: " in why; NULL when no reason is wanted. */
static struct buf *reason(struct buf *why, const struct buf *path)
{
    if (!why) return NULL;
    buf_append(why, path->data, path->len);
    buf_puts(why, ": ");
    return why;
}

/* Appends "/name" (with "[k]" when the expected parent has several
   children of that name) to path; returns the length to restore. */
static size_t push_segment(struct buf *path, const xnode *e)
{
    size_t old = path->len;
    buf_printf(path, "/%s", e->name);
    if (!e->parent) return old;
    unsigned position = 0, total = 0;
    for (const xnode *c = e->parent->children; c; c = c->next) {
        if (c->kind != XNODE_ELEMENT || strcmp(c->name, e->name) != 0) continue;
        total++;
        if (c == e) position = total;
    }
    if (total > 1) buf_printf(path, "[%u]", position);
    return old;
}

static void pop_segment(struct buf *path, size_t old)
{
    path->len = old;
    path->data[old] = '\0';
}

static bool same_name(const xnode *a, const xnode *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(ns_of(a), ns_of(b)) == 0;
}

static bool match_element(const xnode *exp, const xnode *rcv, struct buf *path, struct buf *why);

static bool match_name(const xnode *exp, const xnode *rcv, struct buf *path, struct buf *why)
{
    if (same_name(exp, rcv)) return true;
    struct buf *r = reason(why, path);
    if (r) buf_printf(r, "expected <%s xmlns='%s'>, got <%s xmlns='%s'>",
                      exp->name, ns_of(exp), rcv->name, ns_of(rcv));
    return false;
}

static bool is_directive(const xattr *a)
{
    return a->ns && strcmp(a->ns, SCS_NS_SCANSION) == 0;
}

static bool match_attrs(const xnode *exp, const xnode *rcv, struct buf *path, struct buf *why)
{
    for (const xattr *a = exp->attrs; a; a = a->next) {
        if (is_directive(a)) continue;
        const char *got = xnode_attr_ns(rcv, a->ns, a->name);
        if (got && (strcmp(a->value, SCS_ANY) == 0 || strcmp(a->value, got) == 0)) continue;
        struct buf *r = reason(why, path);
        if (r) {
            buf_puts(r, "attribute ");
            append_attr_name(r, a);
            if (got) {
                buf_puts(r, " is ");
                append_quoted(r, got, strlen(got));
                buf_puts(r, ", expected ");
                append_quoted(r, a->value, strlen(a->value));
            } else {
                buf_puts(r, " missing");
            }
        }
        return false;
    }
    return true;
}

static bool match_text(const xnode *exp, const xnode *rcv, struct buf *path, struct buf *why)
{
    char *want_all = xnode_text_dup(exp);
    size_t want_len = strlen(want_all);
    const char *want = trim(want_all, &want_len);
    bool ok = want_len == 0 || (want_len == strlen(SCS_ANY) && memcmp(want, SCS_ANY, want_len) == 0);
    if (!ok) {
        char *got_all = xnode_text_dup(rcv);
        size_t got_len = strlen(got_all);
        const char *got = trim(got_all, &got_len);
        ok = got_len == want_len && memcmp(got, want, want_len) == 0;
        struct buf *r = ok ? NULL : reason(why, path);
        if (r) {
            buf_puts(r, "text ");
            append_quoted(r, got, got_len);
            buf_puts(r, ", expected ");
            append_quoted(r, want, want_len);
        }
        free(got_all);
    }
    free(want_all);
    return ok;
}

static const xnode *next_element(const xnode *n)
{
    while (n && n->kind != XNODE_ELEMENT) n = n->next;
    return n;
}

static const xnode *first_element(const xnode *parent)
{
    return next_element(parent->children);
}

/* The first usable received child that `ec` could be meant for: same name
   and namespace, or (local_only) just the same local name. */
static const xnode *candidate(const xnode *ec, const xnode *rcv, const bool *usable, bool local_only)
{
    size_t i = 0;
    for (const xnode *rc = first_element(rcv); rc; rc = next_element(rc->next), i++) {
        bool named = local_only ? strcmp(ec->name, rc->name) == 0 : same_name(ec, rc);
        if (usable[i] && named) return rc;
    }
    return NULL;
}

/* Whether ec matches an unused received child that the order ruled out. */
static bool matches_out_of_order(const xnode *ec, const xnode *rcv, const bool *usable,
                                 const bool *used, struct buf *path)
{
    size_t i = 0;
    for (const xnode *rc = first_element(rcv); rc; rc = next_element(rc->next), i++)
        if (!usable[i] && !used[i] && match_element(ec, rc, path, NULL)) return true;
    return false;
}

/* Explains why expected child `ec` (path already pushed) matched no usable
   received child: the reason of a same-named candidate, "out of order" when
   only an unused child before the last match matches, a namespace
   mismatch, or "missing". */
static void explain_child(const xnode *ec, const xnode *rcv, const bool *usable,
                          const bool *used, struct buf *path, struct buf *why)
{
    const xnode *rc = candidate(ec, rcv, usable, false);
    if (rc) {
        match_element(ec, rc, path, why);
    } else if (matches_out_of_order(ec, rcv, usable, used, path)) {
        buf_puts(reason(why, path), "element found only out of order");
    } else if ((rc = candidate(ec, rcv, usable, true)) != NULL) {
        match_element(ec, rc, path, why);
    } else {
        buf_printf(reason(why, path), "element <%s xmlns='%s'> missing", ec->name, ns_of(ec));
    }
}

/* Marks in `usable` the received children ec may match: all unused ones
   (any order), or only those after the last match (in order). */
static void mark_usable(bool *usable, const bool *used, size_t n, size_t after, bool any_order)
{
    for (size_t i = 0; i < n; i++) usable[i] = !used[i] && (any_order || i >= after);
}

static bool any_order(const xnode *exp)
{
    const char *strict = xnode_attr_ns(exp, SCS_NS_SCANSION, "strict");
    return strict && strcmp(strict, "false") == 0;
}

/* Expected element children against a subsequence of received's (in order,
   unless scansion:strict='false'); each received child is used at most once. */
static bool match_children(const xnode *exp, const xnode *rcv, struct buf *path, struct buf *why)
{
    size_t n = xnode_count_children(rcv);
    bool *used = xcalloc(n, sizeof *used);
    bool *usable = xcalloc(n, sizeof *usable);
    bool unordered = any_order(exp);
    size_t after = 0; /* in order: the first received child still allowed */
    bool ok = true;
    for (const xnode *ec = first_element(exp); ec && ok; ec = next_element(ec->next)) {
        size_t old = push_segment(path, ec);
        mark_usable(usable, used, n, after, unordered);
        ok = false;
        size_t i = 0;
        for (const xnode *rc = first_element(rcv); rc; rc = next_element(rc->next), i++) {
            if (usable[i] && match_element(ec, rc, path, NULL)) {
                used[i] = ok = true;
                after = i + 1;
                break;
            }
        }
        if (!ok && why) explain_child(ec, rcv, usable, used, path, why);
        pop_segment(path, old);
    }
    free(used);
    free(usable);
    return ok;
}

static bool match_element(const xnode *exp, const xnode *rcv, struct buf *path, struct buf *why)
{
    return match_name(exp, rcv, path, why) && match_attrs(exp, rcv, path, why)
        && match_text(exp, rcv, path, why) && match_children(exp, rcv, path, why);
}

bool scs_match(const xnode *expected, const xnode *received, struct buf *why)
{
    struct buf path;
    buf_init(&path);
    buf_printf(&path, "/%s", expected->name);
    bool ok = match_element(expected, received, &path, why);
    buf_free(&path);
    return ok;
}

/* ---- pretty printer ------------------------------------------------------ */

#define PRETTY_CONTEXT_NS "jabber:client"

static void indent(struct buf *out, unsigned depth)
{
    for (unsigned i = 0; i < depth; i++) buf_puts(out, "  ");
}

static void pretty_attrs(const xnode *n, struct buf *out)
{
    unsigned prefix_no = 0;
    for (const xattr *a = n->attrs; a; a = a->next) {
        buf_puts(out, " ");
        if (a->ns && strcmp(a->ns, XMLNS_XML) == 0) {
            buf_puts(out, "xml:");
        } else if (is_directive(a)) {
            buf_puts(out, "scansion:");
        } else if (a->ns) {
            prefix_no++;
            buf_printf(out, "xmlns:ns%u='", prefix_no);
            buf_append_xml_escaped(out, a->ns, strlen(a->ns));
            buf_printf(out, "' ns%u:", prefix_no);
        }
        buf_printf(out, "%s='", a->name);
        buf_append_xml_escaped(out, a->value, strlen(a->value));
        buf_puts(out, "'");
    }
}

static void pretty_element(const xnode *n, const char *context_ns, unsigned depth, struct buf *out)
{
    const char *ns = ns_of(n);
    indent(out, depth);
    buf_printf(out, "<%s", n->name);
    if (strcmp(ns, context_ns) != 0) {
        buf_puts(out, " xmlns='");
        buf_append_xml_escaped(out, ns, strlen(ns));
        buf_puts(out, "'");
    }
    pretty_attrs(n, out);
    char *all = xnode_text_dup(n);
    size_t text_len = strlen(all);
    const char *text = trim(all, &text_len);
    if (!first_element(n)) {
        if (text_len == 0) {
            buf_puts(out, "/>\n");
        } else {
            buf_puts(out, ">");
            buf_append_xml_escaped(out, text, text_len);
            buf_printf(out, "</%s>\n", n->name);
        }
        free(all);
        return;
    }
    free(all);
    buf_puts(out, ">\n");
    for (const xnode *c = n->children; c; c = c->next) {
        if (c->kind == XNODE_ELEMENT) {
            pretty_element(c, ns, depth + 1, out);
            continue;
        }
        size_t len = c->text_len;
        const char *t = trim(c->text, &len);
        if (len == 0) continue;
        indent(out, depth + 1);
        buf_append_xml_escaped(out, t, len);
        buf_puts(out, "\n");
    }
    indent(out, depth);
    buf_printf(out, "</%s>\n", n->name);
}

void scs_pretty(const xnode *n, struct buf *out)
{
    pretty_element(n, PRETTY_CONTEXT_NS, 0, out);
}
