/* xnode: the stanza tree (elements, attributes, text) and its serialiser.
 * A tree lives in one arena owned by its root: every node, attribute and
 * string of the tree is allocated there and freed at once by xnode_free(root).
 * Nodes of one tree never point into another; to keep part of a tree past
 * its root's life, xnode_copy it. Names are local names; `ns` is the
 * namespace URI (NULL: inherit the parent's). Freed arena memory is kept
 * in a small process-wide pool for the next trees (not thread-safe). */
#ifndef IMREF_XNODE_H
#define IMREF_XNODE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define XMLNS_XML "http://www.w3.org/XML/1998/namespace"

struct xarena;

typedef struct xattr {
    const char *ns;      /* NULL for unqualified attributes */
    const char *name;
    const char *value;
    struct xattr *next;
} xattr;

typedef enum { XNODE_ELEMENT, XNODE_TEXT } xnode_kind;

typedef struct xnode {
    xnode_kind kind;
    const char *name;    /* element local name; NULL for text */
    const char *ns;      /* element namespace URI; NULL inherits */
    const char *text;    /* text nodes: the characters, NUL-terminated */
    size_t text_len;
    xattr *attrs;
    struct xnode *parent, *children, *last_child, *next;
    struct xarena *arena;
} xnode;

/* A new root element in a new arena; the caller owns it (xnode_free). */
xnode *xnode_new(const char *name, const char *ns);
void xnode_free(xnode *root);

/* Children and attributes are allocated in the parent's arena. */
xnode *xnode_add_child(xnode *parent, const char *name, const char *ns);
xnode *xnode_add_text(xnode *parent, const char *text, size_t len);
/* Sets (or replaces) an attribute; value NULL removes it. */
void xnode_set_attr(xnode *n, const char *name, const char *value);
void xnode_set_attr_ns(xnode *n, const char *ns, const char *name, const char *value);
const char *xnode_attr(const xnode *n, const char *name);
const char *xnode_attr_ns(const xnode *n, const char *ns, const char *name);
/* Appends a deep copy of `src` (from any tree) under `parent`. */
xnode *xnode_append_copy(xnode *parent, const xnode *src);
/* A deep copy of `src` as a new root; `inherited_ns` fills a NULL ns. */
xnode *xnode_copy(const xnode *src, const char *inherited_ns);
/* Every element of the tree in namespace `from` moves to `to`, which must
 * outlive the tree (a string literal): jabber:client stanzas become
 * jabber:server ones on an S2S stream, and back. */
void xnode_rename_ns(xnode *root, const char *from, const char *to);
/* Removes `child` from its parent (its memory stays in the arena). */
void xnode_unlink(xnode *child);

/* First child element with this name and ns (either NULL: any). */
xnode *xnode_child(const xnode *n, const char *name, const char *ns);
/* Next sibling element after `after` (NULL: the first) with that name/ns. */
xnode *xnode_next_child(const xnode *n, const xnode *after, const char *name, const char *ns);
/* The element's namespace, resolved through its parents. */
const char *xnode_ns(const xnode *n);
/* Concatenated text of direct text children, malloc'd (caller frees). */
char *xnode_text_dup(const xnode *n);
/* Text of a child element, e.g. <body>; NULL if absent. malloc'd. */
char *xnode_child_text(const xnode *n, const char *name, const char *ns);
/* Number of element children. */
size_t xnode_count_children(const xnode *n);

/* Serialises `n` as XML. `context_ns` is the default namespace in force
 * where it is written (e.g. "jabber:client"); an xmlns attribute is written
 * only where the element's namespace differs. Attributes in other
 * namespaces get prefixes (xml: for XMLNS_XML). */
void xnode_serialize(const xnode *n, const char *context_ns, struct buf *out);

#endif
