#include "cfgfile.h"

#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"

/* Files larger than this are refused rather than read into memory. */
#define CFGFILE_MAX_BYTES (64u * 1024 * 1024)
/* Elements nested deeper than this are refused (the tree code recurses). */
#define CFGFILE_MAX_DEPTH 64
#define INDENT_STEP 2

enum node_kind { NODE_DOCUMENT, NODE_ELEMENT, NODE_TEXT, NODE_COMMENT, NODE_PI };

/* What an element means in the CFG-1 shape; ROLE_OTHER is kept, not read. */
enum node_role { ROLE_OTHER, ROLE_CONFIG, ROLE_TABLE, ROLE_LIST, ROLE_ITEM, ROLE_VARIABLE };

struct cfgnode {
    enum node_kind kind;
    enum node_role role;
    char *name;     /* element name, PI target */
    char *text;     /* text, comment, PI data; variables: their value */
    char **attrs;   /* elements: name, value, ..., NULL */
    struct cfgnode *parent, *first, *last, *prev, *next;
};

struct cfgfile {
    struct cfgnode doc;   /* NODE_DOCUMENT: comments, PIs and <config> */
};

/* ---- the tree ---------------------------------------------------------- */

static struct cfgnode *node_new(enum node_kind kind)
{
    struct cfgnode *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    return n;
}

static void node_free_children(struct cfgnode *n);

static void node_free(struct cfgnode *n)
{
    node_free_children(n);
    free(n->name);
    free(n->text);
    if (n->attrs)
        for (char **a = n->attrs; *a; a++) free(*a);
    free(n->attrs);
    free(n);
}

static void node_free_children(struct cfgnode *n)
{
    struct cfgnode *c = n->first;
    while (c) {
        struct cfgnode *next = c->next;
        node_free(c);
        c = next;
    }
    n->first = n->last = NULL;
}

static void node_insert_before(struct cfgnode *parent, struct cfgnode *child, struct cfgnode *before)
{
    child->parent = parent;
    child->next = before;
    child->prev = before ? before->prev : parent->last;
    if (child->prev) child->prev->next = child;
    else parent->first = child;
    if (before) before->prev = child;
    else parent->last = child;
}

static void node_append(struct cfgnode *parent, struct cfgnode *child)
{
    node_insert_before(parent, child, NULL);
}

static void node_unlink(struct cfgnode *n)
{
    struct cfgnode *parent = n->parent;
    if (n->prev) n->prev->next = n->next;
    else parent->first = n->next;
    if (n->next) n->next->prev = n->prev;
    else parent->last = n->prev;
    n->parent = n->prev = n->next = NULL;
}

static const char *node_attr(const struct cfgnode *n, const char *name)
{
    if (!n->attrs) return NULL;
    for (char **a = n->attrs; *a; a += 2)
        if (strcmp(a[0], name) == 0) return a[1];
    return NULL;
}

static bool node_is(const struct cfgnode *n, enum node_role role, const char *name)
{
    if (n->kind != NODE_ELEMENT || n->role != role) return false;
    const char *attr = node_attr(n, "name");
    return attr && strcmp(attr, name) == 0;
}

static enum node_role role_for(const struct cfgnode *parent, const char *name)
{
    enum node_role p = parent->kind == NODE_DOCUMENT ? ROLE_OTHER : parent->role;
    if (parent->kind == NODE_DOCUMENT && strcmp(name, "config") == 0) return ROLE_CONFIG;
    if (p == ROLE_CONFIG && strcmp(name, "table") == 0) return ROLE_TABLE;
    if (p == ROLE_CONFIG && strcmp(name, "list") == 0) return ROLE_LIST;
    if (p == ROLE_LIST && strcmp(name, "listitem") == 0) return ROLE_ITEM;
    if ((p == ROLE_TABLE || p == ROLE_ITEM) && strcmp(name, "variable") == 0) return ROLE_VARIABLE;
    return ROLE_OTHER;
}

static struct cfgnode *element_new(struct cfgnode *parent, const char *name, const char **attrs)
{
    struct cfgnode *n = node_new(NODE_ELEMENT);
    n->name = xstrdup(name);
    n->role = role_for(parent, name);
    size_t count = 0;
    while (attrs[count]) count++;
    n->attrs = xcalloc(count + 1, sizeof *n->attrs);
    for (size_t i = 0; i < count; i++) n->attrs[i] = xstrdup(attrs[i]);
    return n;
}

static struct cfgnode *text_new(enum node_kind kind, const char *s, size_t len)
{
    struct cfgnode *n = node_new(kind);
    n->text = xstrndup(s, len);
    return n;
}

static struct cfgnode *config_root(const struct cfgfile *cf)
{
    for (struct cfgnode *n = cf->doc.first; n; n = n->next)
        if (n->kind == NODE_ELEMENT && n->role == ROLE_CONFIG) return n;
    return NULL;
}

/* ---- values ------------------------------------------------------------ */

/* A variable's value: the concatenation of its text children. */
static void variable_refresh_value(struct cfgnode *var)
{
    struct buf b;
    buf_init(&b);
    for (struct cfgnode *c = var->first; c; c = c->next)
        if (c->kind == NODE_TEXT) buf_puts(&b, c->text);
    free(var->text);
    var->text = buf_steal(&b);
}

static void variable_set_value(struct cfgnode *var, const char *value)
{
    struct cfgnode *c = var->first;
    while (c) {
        struct cfgnode *next = c->next;
        if (c->kind == NODE_TEXT) {
            node_unlink(c);
            node_free(c);
        }
        c = next;
    }
    if (*value) node_insert_before(var, text_new(NODE_TEXT, value, strlen(value)), var->first);
    free(var->text);
    var->text = xstrdup(value);
}

static struct cfgnode *find_child(const struct cfgnode *parent, enum node_role role, const char *name)
{
    for (struct cfgnode *c = parent->first; c; c = c->next)
        if (node_is(c, role, name)) return c;
    return NULL;
}

/* ---- formatted insertion ----------------------------------------------- */

static size_t node_depth(const struct cfgnode *n)
{
    size_t depth = 0;
    while (n->parent && n->parent->kind != NODE_DOCUMENT) {
        depth++;
        n = n->parent;
    }
    return depth;
}

static struct cfgnode *indent_new(size_t depth)
{
    size_t len = 1 + depth * INDENT_STEP;
    char *s = xmalloc(len + 1);
    s[0] = '\n';
    memset(s + 1, ' ', len - 1);
    s[len] = '\0';
    struct cfgnode *n = node_new(NODE_TEXT);
    n->text = s;
    return n;
}

static bool is_blank_text(const struct cfgnode *n)
{
    return n && n->kind == NODE_TEXT && strspn(n->text, " \t\r\n") == strlen(n->text);
}

/* Appends `child` to `parent` in the style of the file: on its own line,
 * indented, if the parent's children are laid out that way (or it has none). */
static void append_formatted(struct cfgnode *parent, struct cfgnode *child)
{
    size_t depth = node_depth(parent);
    struct cfgnode *last = parent->last;
    if (!last) {
        node_append(parent, indent_new(depth + 1));
        node_append(parent, child);
        node_append(parent, indent_new(depth));
    } else if (is_blank_text(last)) {
        node_insert_before(parent, indent_new(depth + 1), last);
        node_insert_before(parent, child, last);
    } else {
        node_append(parent, child);
    }
}

static struct cfgnode *named_element_new(struct cfgnode *parent, const char *tag, const char *name)
{
    const char *attrs[] = { "name", name, NULL };
    struct cfgnode *n = element_new(parent, tag, name ? attrs : attrs + 2);
    if (n->role == ROLE_VARIABLE) n->text = xstrdup("");
    append_formatted(parent, n);
    return n;
}

/* ---- public accessors -------------------------------------------------- */

struct cfgfile *cfgfile_new(void)
{
    struct cfgfile *cf = xcalloc(1, sizeof *cf);
    cf->doc.kind = NODE_DOCUMENT;
    const char *no_attrs[] = { NULL };
    node_append(&cf->doc, element_new(&cf->doc, "config", no_attrs));
    return cf;
}

void cfgfile_free(struct cfgfile *cf)
{
    if (!cf) return;
    node_free_children(&cf->doc);
    free(cf);
}

const char *cfgfile_get(const struct cfgfile *cf, const char *table, const char *variable)
{
    const struct cfgnode *root = config_root(cf);
    for (struct cfgnode *t = root->first; t; t = t->next) {
        if (!node_is(t, ROLE_TABLE, table)) continue;
        struct cfgnode *var = find_child(t, ROLE_VARIABLE, variable);
        if (var) return var->text;
    }
    return NULL;
}

int cfgfile_set(struct cfgfile *cf, const char *table, const char *variable, const char *value)
{
    if (!cfgfile_valid_text(table) || !cfgfile_valid_text(variable) || !cfgfile_valid_text(value))
        return -1;
    struct cfgnode *root = config_root(cf);
    struct cfgnode *first_table = NULL;
    for (struct cfgnode *t = root->first; t; t = t->next) {
        if (!node_is(t, ROLE_TABLE, table)) continue;
        struct cfgnode *var = find_child(t, ROLE_VARIABLE, variable);
        if (var) {
            variable_set_value(var, value);
            return 0;
        }
        if (!first_table) first_table = t;
    }
    if (!first_table) first_table = named_element_new(root, "table", table);
    variable_set_value(named_element_new(first_table, "variable", variable), value);
    return 0;
}

static struct cfgnode *first_item_from(const struct cfgnode *list, const char *name)
{
    for (; list; list = list->next) {
        if (!node_is(list, ROLE_LIST, name)) continue;
        for (struct cfgnode *c = list->first; c; c = c->next)
            if (c->kind == NODE_ELEMENT && c->role == ROLE_ITEM) return c;
    }
    return NULL;
}

struct cfgnode *cfgfile_items(const struct cfgfile *cf, const char *list)
{
    return first_item_from(config_root(cf)->first, list);
}

struct cfgnode *cfgfile_item_next(const struct cfgnode *item)
{
    for (struct cfgnode *c = item->next; c; c = c->next)
        if (c->kind == NODE_ELEMENT && c->role == ROLE_ITEM) return c;
    const struct cfgnode *list = item->parent;
    return first_item_from(list->next, node_attr(list, "name"));
}

const char *cfgfile_item_get(const struct cfgnode *item, const char *variable)
{
    struct cfgnode *var = find_child(item, ROLE_VARIABLE, variable);
    return var ? var->text : NULL;
}

int cfgfile_item_set(struct cfgnode *item, const char *variable, const char *value)
{
    if (!cfgfile_valid_text(variable) || !cfgfile_valid_text(value)) return -1;
    struct cfgnode *var = find_child(item, ROLE_VARIABLE, variable);
    if (!var) var = named_element_new(item, "variable", variable);
    variable_set_value(var, value);
    return 0;
}

struct cfgnode *cfgfile_item_append(struct cfgfile *cf, const char *list)
{
    if (!cfgfile_valid_text(list)) return NULL;
    struct cfgnode *root = config_root(cf);
    struct cfgnode *target = NULL;
    for (struct cfgnode *c = root->first; c; c = c->next)
        if (node_is(c, ROLE_LIST, list)) target = c;
    if (!target) target = named_element_new(root, "list", list);
    return named_element_new(target, "listitem", NULL);
}

void cfgfile_item_remove(struct cfgnode *item)
{
    if (is_blank_text(item->prev)) {
        struct cfgnode *indent = item->prev;
        node_unlink(indent);
        node_free(indent);
    }
    node_unlink(item);
    node_free(item);
}

/* ---- text validity ----------------------------------------------------- */

/* Length of the UTF-8 sequence at s holding an XML 1.0 Char, 0 if none. */
static size_t xml_char_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || c > 0xF4) return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const unsigned min_for_len[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min_for_len[len] || cp > 0x10FFFF) return 0;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return 0;
    return len;
}

bool cfgfile_valid_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = xml_char_len(p);
        if (len == 0) return false;
        p += len;
    }
    return true;
}

/* ---- parsing ----------------------------------------------------------- */

struct parse_ctx {
    XML_Parser parser;
    struct cfgnode *cur;     /* element being filled, or the document */
    size_t depth;
    struct buf text;         /* character data not yet made a node */
    const char *data;        /* the input */
    const char *name;
    struct buf *err;
    bool failed;
};

/* Records the first error and stops the parser (a no-op once it stopped). */
static void parse_fail_at(struct parse_ctx *ctx, unsigned long line, unsigned long column,
                          const char *reason)
{
    if (ctx->failed) return;
    ctx->failed = true;
    buf_reset(ctx->err);
    buf_printf(ctx->err, "%s:%lu:%lu: %s", ctx->name, line, column, reason);
    XML_StopParser(ctx->parser, XML_FALSE);
}

/* Fails at the start of the current event (expat's columns are 0-based). */
static void parse_fail(struct parse_ctx *ctx, const char *reason)
{
    parse_fail_at(ctx, XML_GetCurrentLineNumber(ctx->parser),
                  XML_GetCurrentColumnNumber(ctx->parser) + 1, reason);
}

/* Line and column (1-based, in characters) of byte `offset` of the input. */
static void offset_position(const char *data, size_t offset, unsigned long *line,
                            unsigned long *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        bool line_end = data[i] == '\n' || (data[i] == '\r' && data[i + 1] != '\n');
        if (line_end) {
            ++*line;
            *column = 1;
        } else if (data[i] != '\r' && ((unsigned char)data[i] & 0xC0) != 0x80) {
            ++*column;
        }
    }
}

static void flush_text(struct parse_ctx *ctx)
{
    if (ctx->text.len == 0) return;
    node_append(ctx->cur, text_new(NODE_TEXT, ctx->text.data, ctx->text.len));
    buf_reset(&ctx->text);
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct parse_ctx *ctx = data;
    flush_text(ctx);
    struct cfgnode *n = element_new(ctx->cur, name, attrs);
    if (++ctx->depth > CFGFILE_MAX_DEPTH) {
        parse_fail(ctx, "elements nested too deeply");
    } else if (ctx->cur->kind == NODE_DOCUMENT && n->role != ROLE_CONFIG) {
        struct buf reason;
        buf_init(&reason);
        buf_printf(&reason, "root element is <%s>, expected <config>", name);
        parse_fail(ctx, reason.data);
        buf_free(&reason);
    } else if (ctx->cur->role == ROLE_VARIABLE) {
        parse_fail(ctx, "a <variable> holds text only, not elements");
    } else if ((n->role == ROLE_TABLE || n->role == ROLE_LIST || n->role == ROLE_VARIABLE)
               && !node_attr(n, "name")) {
        parse_fail(ctx, "element has no name attribute");
    }
    node_append(ctx->cur, n);
    ctx->cur = n;
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
    (void)name;
    struct parse_ctx *ctx = data;
    flush_text(ctx);
    if (ctx->cur->role == ROLE_VARIABLE) variable_refresh_value(ctx->cur);
    ctx->cur = ctx->cur->parent;
    ctx->depth--;
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
    struct parse_ctx *ctx = data;
    buf_append(&ctx->text, s, (size_t)len);
}

static void XMLCALL on_comment(void *data, const XML_Char *s)
{
    struct parse_ctx *ctx = data;
    flush_text(ctx);
    node_append(ctx->cur, text_new(NODE_COMMENT, s, strlen(s)));
}

static void XMLCALL on_pi(void *data, const XML_Char *target, const XML_Char *pi_data)
{
    struct parse_ctx *ctx = data;
    flush_text(ctx);
    struct cfgnode *n = text_new(NODE_PI, pi_data, strlen(pi_data));
    n->name = xstrdup(target);
    node_append(ctx->cur, n);
}

static void XMLCALL on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    /* expat reports the position after the DOCTYPE's name; point at its start. */
    struct parse_ctx *ctx = data;
    size_t offset = (size_t)XML_GetCurrentByteIndex(ctx->parser);
    size_t start = offset;
    while (start > 0 && strncmp(ctx->data + start, "<!DOCTYPE", 9) != 0) start--;
    unsigned long line, column;
    offset_position(ctx->data, start, &line, &column);
    parse_fail_at(ctx, line, column, "DOCTYPE declarations are not allowed");
}

int cfgfile_parse(const char *data, size_t len, const char *name, struct cfgfile **out,
                  struct buf *err)
{
    *out = NULL;
    if (len > CFGFILE_MAX_BYTES) {
        buf_reset(err);
        buf_printf(err, "%s:1:1: file larger than %u bytes", name, CFGFILE_MAX_BYTES);
        return -1;
    }
    struct cfgfile *cf = xcalloc(1, sizeof *cf);
    cf->doc.kind = NODE_DOCUMENT;
    struct parse_ctx ctx = { .cur = &cf->doc, .data = data, .name = name, .err = err };
    buf_init(&ctx.text);
    ctx.parser = XML_ParserCreate(NULL);
    if (!ctx.parser) abort();
    XML_SetUserData(ctx.parser, &ctx);
    XML_SetElementHandler(ctx.parser, on_start, on_end);
    XML_SetCharacterDataHandler(ctx.parser, on_text);
    XML_SetCommentHandler(ctx.parser, on_comment);
    XML_SetProcessingInstructionHandler(ctx.parser, on_pi);
    XML_SetStartDoctypeDeclHandler(ctx.parser, on_doctype);
    if (XML_Parse(ctx.parser, data, (int)len, XML_TRUE) != XML_STATUS_OK && !ctx.failed) {
        parse_fail(&ctx, XML_ErrorString(XML_GetErrorCode(ctx.parser)));
    }
    XML_ParserFree(ctx.parser);
    buf_free(&ctx.text);
    if (ctx.failed) {
        cfgfile_free(cf);
        return -1;
    }
    *out = cf;
    return 0;
}

static int read_file(const char *path, struct buf *content, struct buf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) goto fail;
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto fail;
        if (n == 0) break;
        buf_append(content, chunk, (size_t)n);
        if (content->len > CFGFILE_MAX_BYTES) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0) close(fd);
    buf_reset(err);
    buf_printf(err, "%s: %s", path, strerror(saved));
    errno = saved;
    return -1;
}

int cfgfile_load(const char *path, struct cfgfile **out, struct buf *err)
{
    *out = NULL;
    struct buf content;
    buf_init(&content);
    int rc = read_file(path, &content, err);
    if (rc == 0) rc = cfgfile_parse(content.data ? content.data : "", content.len, path, out, err);
    buf_free(&content);
    return rc;
}

/* ---- writing ----------------------------------------------------------- */

/* Escapes what XML requires and what would not survive a re-read: '>' only
 * where it would close "]]>", whitespace in attributes (normalised away
 * otherwise) and carriage returns (folded into newlines otherwise). */
static void write_escaped(struct buf *out, const char *text, bool in_attribute)
{
    for (const char *s = text; *s; s++) {
        bool ends_cdata_close = s - text >= 2 && s[-1] == ']' && s[-2] == ']';
        switch (*s) {
        case '&': buf_puts(out, "&amp;"); break;
        case '<': buf_puts(out, "&lt;"); break;
        case '>': buf_puts(out, !in_attribute && ends_cdata_close ? "&gt;" : ">"); break;
        case '"': buf_puts(out, in_attribute ? "&quot;" : "\""); break;
        case '\r': buf_puts(out, "&#13;"); break;
        case '\n': buf_puts(out, in_attribute ? "&#10;" : "\n"); break;
        case '\t': buf_puts(out, in_attribute ? "&#9;" : "\t"); break;
        default: buf_append(out, s, 1); break;
        }
    }
}

static void write_node(const struct cfgnode *n, struct buf *out)
{
    switch (n->kind) {
    case NODE_TEXT:
        write_escaped(out, n->text, false);
        break;
    case NODE_COMMENT:
        buf_printf(out, "<!--%s-->", n->text);
        break;
    case NODE_PI:
        buf_printf(out, "<?%s%s%s?>", n->name, *n->text ? " " : "", n->text);
        break;
    case NODE_ELEMENT:
        buf_printf(out, "<%s", n->name);
        for (char **a = n->attrs; *a; a += 2) {
            buf_printf(out, " %s=\"", a[0]);
            write_escaped(out, a[1], true);
            buf_puts(out, "\"");
        }
        buf_puts(out, ">");
        for (const struct cfgnode *c = n->first; c; c = c->next) write_node(c, out);
        buf_printf(out, "</%s>", n->name);
        break;
    case NODE_DOCUMENT:
        break;
    }
}

void cfgfile_serialize(const struct cfgfile *cf, struct buf *out)
{
    buf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    for (const struct cfgnode *n = cf->doc.first; n; n = n->next) {
        write_node(n, out);
        buf_puts(out, "\n");
    }
}

/* Writes `content` to a new, uniquely named file beside the target (its
 * name replaces the XXXXXX of `tmp`), so that concurrent saves never share
 * one temporary file. On a failure nothing is left behind. */
static int write_temp(char *tmp, mode_t mode, const struct buf *content)
{
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return -1;
    if (fchmod(fd, mode) < 0 || durable_write_all(fd, content->data, content->len) < 0 || fsync(fd) < 0 ||
        close(fd) < 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

int cfgfile_save(const struct cfgfile *cf, const char *path, struct buf *err)
{
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0600;
    struct buf content, tmp;
    buf_init(&content);
    buf_init(&tmp);
    cfgfile_serialize(cf, &content);
    buf_printf(&tmp, "%s.tmp-XXXXXX", path);
    int rc = 0;
    const char *step = NULL;
    if (write_temp(tmp.data, mode, &content) < 0) {
        step = "writing the temporary file";
    } else if (rename(tmp.data, path) < 0) {
        step = "renaming the temporary file";
        int saved = errno;
        unlink(tmp.data);
        errno = saved;
    } else if (durable_sync_parent(path) < 0) {
        step = "syncing the directory";
    }
    if (step) {
        int saved = errno;
        buf_reset(err);
        buf_printf(err, "%s: %s: %s", path, step, strerror(saved));
        rc = -1;
    }
    buf_free(&content);
    buf_free(&tmp);
    return rc;
}
