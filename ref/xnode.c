#include "xnode.h"

#include <stdlib.h>
#include <string.h>

/* The arena: a list of chunks, bump-allocated. The struct xarena itself
 * lives at the start of the tree's first chunk. */
struct chunk {
    struct chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct xarena {
    struct chunk *head;
};

#define CHUNK_MIN 2048
/* Freed chunks of CHUNK_MIN bytes kept for the next trees, so a server
 * routing stanzas one after another reuses the same memory instead of
 * calling malloc for each. Process-wide: the server is one thread. Under
 * AddressSanitizer every chunk is freed, so a use after xnode_free is seen. */
#if defined(__SANITIZE_ADDRESS__)
static const size_t spare_chunks_max = 0;
#else
static const size_t spare_chunks_max = 32;
#endif

static struct chunk *spare_chunks;
static size_t n_spare_chunks;

static struct chunk *chunk_new(size_t size)
{
    struct chunk *c;
    if (size == CHUNK_MIN && spare_chunks) {
        c = spare_chunks;
        spare_chunks = c->next;
        n_spare_chunks--;
    } else {
        c = xmalloc(sizeof *c + size);
        c->size = size;
    }
    c->used = 0;
    return c;
}

static void chunk_release(struct chunk *c)
{
    if (c->size != CHUNK_MIN || n_spare_chunks >= spare_chunks_max) {
        free(c);
        return;
    }
    c->next = spare_chunks;
    spare_chunks = c;
    n_spare_chunks++;
}

static size_t arena_round(size_t n)
{
    return (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
}

static void *arena_alloc(struct xarena *a, size_t n)
{
    n = arena_round(n);
    struct chunk *c = a->head;
    if (c->size - c->used < n) {
        c = chunk_new(n > CHUNK_MIN ? n : CHUNK_MIN);
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* Grows the newest allocation `p` (of `old_size` bytes) by `extra` bytes in
 * place if it ends the current chunk and the chunk has room. */
static bool arena_extend_last(struct xarena *a, const char *p, size_t old_size, size_t extra)
{
    struct chunk *c = a->head;
    char *base = (char *)c->data;
    size_t old_rounded = arena_round(old_size);
    if (p < base || p + old_rounded != base + c->used) return false;
    size_t new_rounded = arena_round(old_size + extra);
    if (c->used - old_rounded + new_rounded > c->size) return false;
    c->used = c->used - old_rounded + new_rounded;
    return true;
}

/* Allocates a copy of s[0..len) in n's arena. */
static const char *xnode_strdup(xnode *n, const char *s, size_t len)
{
    char *p = arena_alloc(n->arena, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static const char *arena_str(struct xarena *a, const char *s)
{
    if (!s) return NULL;
    size_t len = strlen(s);
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len + 1);
    return p;
}

static xnode *node_alloc(struct xarena *a)
{
    xnode *n = arena_alloc(a, sizeof *n);
    memset(n, 0, sizeof *n);
    n->arena = a;
    return n;
}

xnode *xnode_new(const char *name, const char *ns)
{
    struct chunk *first = chunk_new(CHUNK_MIN);
    first->next = NULL;
    struct xarena *a = (struct xarena *)first->data;
    first->used = arena_round(sizeof *a);
    a->head = first;
    xnode *n = node_alloc(a);
    n->kind = XNODE_ELEMENT;
    n->name = arena_str(a, name);
    n->ns = arena_str(a, ns);
    return n;
}

void xnode_free(xnode *root)
{
    if (!root) return;
    struct chunk *c = root->arena->head;   /* the arena is in the last chunk */
    while (c) {
        struct chunk *next = c->next;
        chunk_release(c);
        c = next;
    }
}

static void link_child(xnode *parent, xnode *child)
{
    child->parent = parent;
    if (parent->last_child) parent->last_child->next = child;
    else parent->children = child;
    parent->last_child = child;
}

xnode *xnode_add_child(xnode *parent, const char *name, const char *ns)
{
    xnode *n = node_alloc(parent->arena);
    n->kind = XNODE_ELEMENT;
    n->name = arena_str(parent->arena, name);
    n->ns = arena_str(parent->arena, ns);
    link_child(parent, n);
    return n;
}

xnode *xnode_add_text(xnode *parent, const char *text, size_t len)
{
    xnode *last = parent->last_child;
    if (last && last->kind == XNODE_TEXT) {
        /* Merge adjacent text. When that text is the arena's newest
         * allocation it grows in place, so many small pieces cost linear
         * time and memory; otherwise it is copied once. */
        if (arena_extend_last(parent->arena, last->text, last->text_len + 1, len)) {
            char *t = (char *)last->text;
            memcpy(t + last->text_len, text, len);
            last->text_len += len;
            t[last->text_len] = '\0';
            return last;
        }
        char *p = arena_alloc(parent->arena, last->text_len + len + 1);
        memcpy(p, last->text, last->text_len);
        memcpy(p + last->text_len, text, len);
        p[last->text_len + len] = '\0';
        last->text = p;
        last->text_len += len;
        return last;
    }
    xnode *n = node_alloc(parent->arena);
    n->kind = XNODE_TEXT;
    n->text = xnode_strdup(parent, text, len);
    n->text_len = len;
    link_child(parent, n);
    return n;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

void xnode_set_attr_ns(xnode *n, const char *ns, const char *name, const char *value)
{
    xattr **pp = &n->attrs;
    while (*pp) {
        if (str_eq((*pp)->ns, ns) && strcmp((*pp)->name, name) == 0) {
            if (!value) {
                *pp = (*pp)->next;
            } else {
                (*pp)->value = arena_str(n->arena, value);
            }
            return;
        }
        pp = &(*pp)->next;
    }
    if (!value) return;
    xattr *a = arena_alloc(n->arena, sizeof *a);
    a->ns = arena_str(n->arena, ns);
    a->name = arena_str(n->arena, name);
    a->value = arena_str(n->arena, value);
    a->next = NULL;
    *pp = a;
}

void xnode_set_attr(xnode *n, const char *name, const char *value)
{
    xnode_set_attr_ns(n, NULL, name, value);
}

const char *xnode_attr_ns(const xnode *n, const char *ns, const char *name)
{
    if (!n) return NULL;
    for (const xattr *a = n->attrs; a; a = a->next)
        if (str_eq(a->ns, ns) && strcmp(a->name, name) == 0) return a->value;
    return NULL;
}

const char *xnode_attr(const xnode *n, const char *name)
{
    return xnode_attr_ns(n, NULL, name);
}

static void copy_into(xnode *dst, const xnode *src)
{
    for (const xattr *a = src->attrs; a; a = a->next)
        xnode_set_attr_ns(dst, a->ns, a->name, a->value);
    for (const xnode *c = src->children; c; c = c->next) {
        if (c->kind == XNODE_TEXT) {
            xnode_add_text(dst, c->text, c->text_len);
        } else {
            xnode *d = xnode_add_child(dst, c->name, c->ns);
            copy_into(d, c);
        }
    }
}

xnode *xnode_append_copy(xnode *parent, const xnode *src)
{
    if (src->kind == XNODE_TEXT) return xnode_add_text(parent, src->text, src->text_len);
    xnode *d = xnode_add_child(parent, src->name, xnode_ns(src));
    copy_into(d, src);
    return d;
}

xnode *xnode_copy(const xnode *src, const char *inherited_ns)
{
    const char *ns = xnode_ns(src);
    xnode *d = xnode_new(src->name, ns ? ns : inherited_ns);
    copy_into(d, src);
    return d;
}

void xnode_unlink(xnode *child)
{
    xnode *p = child->parent;
    if (!p) return;
    xnode *prev = NULL;
    for (xnode *c = p->children; c; prev = c, c = c->next) {
        if (c != child) continue;
        if (prev) prev->next = c->next;
        else p->children = c->next;
        if (p->last_child == c) p->last_child = prev;
        break;
    }
    child->parent = NULL;
    child->next = NULL;
}

const char *xnode_ns(const xnode *n)
{
    for (; n; n = n->parent)
        if (n->kind == XNODE_ELEMENT && n->ns) return n->ns;
    return NULL;
}

xnode *xnode_next_child(const xnode *n, const xnode *after, const char *name, const char *ns)
{
    if (!n) return NULL;
    for (xnode *c = after ? after->next : n->children; c; c = c->next) {
        if (c->kind != XNODE_ELEMENT) continue;
        if (name && strcmp(c->name, name) != 0) continue;
        if (ns && !str_eq(xnode_ns(c), ns)) continue;
        return c;
    }
    return NULL;
}

xnode *xnode_child(const xnode *n, const char *name, const char *ns)
{
    return xnode_next_child(n, NULL, name, ns);
}

char *xnode_text_dup(const xnode *n)
{
    struct buf b;
    buf_init(&b);
    for (const xnode *c = n->children; c; c = c->next)
        if (c->kind == XNODE_TEXT) buf_append(&b, c->text, c->text_len);
    return buf_steal(&b);
}

char *xnode_child_text(const xnode *n, const char *name, const char *ns)
{
    xnode *c = xnode_child(n, name, ns);
    return c ? xnode_text_dup(c) : NULL;
}

size_t xnode_count_children(const xnode *n)
{
    size_t count = 0;
    for (const xnode *c = n->children; c; c = c->next)
        if (c->kind == XNODE_ELEMENT) count++;
    return count;
}

/* Appends a string literal (no strlen at run time). */
#define APPEND_LITERAL(out, lit) buf_append((out), (lit), sizeof(lit) - 1)

static void append_escaped_str(struct buf *out, const char *s)
{
    buf_append_xml_escaped(out, s, strlen(s));
}

/* Prefixes for attribute namespaces other than xml: are declared on the
 * element that uses them, as ns1, ns2, ... (unique within the element). */
static void serialize_attrs(const xnode *n, struct buf *out)
{
    unsigned prefix_no = 0;
    for (const xattr *a = n->attrs; a; a = a->next) {
        APPEND_LITERAL(out, " ");
        if (a->ns && strcmp(a->ns, XMLNS_XML) == 0) {
            APPEND_LITERAL(out, "xml:");
        } else if (a->ns) {
            prefix_no++;
            buf_printf(out, "xmlns:ns%u='", prefix_no);
            append_escaped_str(out, a->ns);
            buf_printf(out, "' ns%u:", prefix_no);
        }
        buf_puts(out, a->name);
        APPEND_LITERAL(out, "='");
        append_escaped_str(out, a->value);
        APPEND_LITERAL(out, "'");
    }
}

void xnode_rename_ns(xnode *root, const char *from, const char *to)
{
    if (root->kind != XNODE_ELEMENT) return;
    if (root->ns && strcmp(root->ns, from) == 0) root->ns = to;
    for (xnode *c = root->children; c; c = c->next) xnode_rename_ns(c, from, to);
}

/* About the size of n's serialisation when nothing needs escaping (no
 * namespace declarations): reserved at once, it usually spares the buffer
 * growing step by step. */
static size_t unescaped_size(const xnode *n)
{
    if (n->kind == XNODE_TEXT) return n->text_len;
    size_t size = 2 * strlen(n->name) + sizeof "<></>";
    for (const xattr *a = n->attrs; a; a = a->next) size += strlen(a->name) + strlen(a->value) + 4;
    for (const xnode *c = n->children; c; c = c->next) size += unescaped_size(c);
    return size;
}

static void serialize_node(const xnode *n, const char *context_ns, struct buf *out)
{
    if (n->kind == XNODE_TEXT) {
        buf_append_xml_escaped(out, n->text, n->text_len);
        return;
    }
    const char *ns = n->ns ? n->ns : context_ns;
    APPEND_LITERAL(out, "<");
    buf_puts(out, n->name);
    if (ns && !str_eq(ns, context_ns)) {
        APPEND_LITERAL(out, " xmlns='");
        append_escaped_str(out, ns);
        APPEND_LITERAL(out, "'");
    }
    serialize_attrs(n, out);
    if (!n->children) {
        APPEND_LITERAL(out, "/>");
        return;
    }
    APPEND_LITERAL(out, ">");
    for (const xnode *c = n->children; c; c = c->next) serialize_node(c, ns, out);
    APPEND_LITERAL(out, "</");
    buf_puts(out, n->name);
    APPEND_LITERAL(out, ">");
}

void xnode_serialize(const xnode *n, const char *context_ns, struct buf *out)
{
    buf_reserve(out, unescaped_size(n));
    serialize_node(n, context_ns, out);
}
