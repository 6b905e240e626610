/* Unit tests: buf and xnode (the stanza tree and its serialiser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "xnode.h"

static char *serialize(const xnode *n, const char *ctx)
{
    struct buf b;
    buf_init(&b);
    xnode_serialize(n, ctx, &b);
    return buf_steal(&b);
}

static void test_buf_escape_and_consume(void **state)
{
    struct buf b;
    buf_init(&b);
    buf_append_xml_escaped(&b, "a<b>&'\"c", 8);
    assert_string_equal(b.data, "a&lt;b&gt;&amp;&apos;&quot;c");
    buf_consume(&b, 5);
    assert_string_equal(b.data, "b&gt;&amp;&apos;&quot;c");
    buf_printf(&b, "%d-%s", 42, "x");
    assert_int_equal(b.len, strlen(b.data));
    assert_non_null(strstr(b.data, "42-x"));
    buf_free(&b);
}

/* XML-1: stanzas are written in the stream's default namespace without
 * repeating it; a child in another namespace declares its own. */
static void test_serialize_namespaces(void **state)
{
    xnode *iq = xnode_new("iq", "jabber:client");
    xnode_set_attr(iq, "type", "result");
    xnode_set_attr(iq, "id", "a'b");
    xnode *q = xnode_add_child(iq, "query", "jabber:iq:roster");
    xnode *item = xnode_add_child(q, "item", NULL);
    xnode_set_attr(item, "jid", "bob@example.com");
    xnode *g = xnode_add_child(item, "group", NULL);
    xnode_add_text(g, "Friends & <Co>", 14);
    char *s = serialize(iq, "jabber:client");
    assert_string_equal(s, "<iq type='result' id='a&apos;b'><query xmlns='jabber:iq:roster'>"
                           "<item jid='bob@example.com'><group>Friends &amp; &lt;Co&gt;</group>"
                           "</item></query></iq>");
    free(s);
    s = serialize(iq, "jabber:server");
    assert_true(strncmp(s, "<iq xmlns='jabber:client'", 25) == 0);
    free(s);
    xnode_free(iq);
}

static void test_attributes_replace_remove_and_xml_lang(void **state)
{
    xnode *m = xnode_new("message", "jabber:client");
    xnode_set_attr(m, "to", "a@b");
    xnode_set_attr(m, "to", "c@d");
    xnode_set_attr_ns(m, XMLNS_XML, "lang", "en");
    assert_string_equal(xnode_attr(m, "to"), "c@d");
    assert_string_equal(xnode_attr_ns(m, XMLNS_XML, "lang"), "en");
    xnode_set_attr(m, "to", NULL);
    assert_null(xnode_attr(m, "to"));
    char *s = serialize(m, "jabber:client");
    assert_string_equal(s, "<message xml:lang='en'/>");
    free(s);
    xnode_free(m);
}

static void test_text_merge_copy_and_unlink(void **state)
{
    xnode *m = xnode_new("message", "jabber:client");
    xnode *body = xnode_add_child(m, "body", NULL);
    xnode_add_text(body, "hel", 3);
    xnode_add_text(body, "lo", 2);
    char *t = xnode_child_text(m, "body", NULL);
    assert_string_equal(t, "hello");
    free(t);
    xnode *thread = xnode_add_child(m, "thread", NULL);
    assert_int_equal(xnode_count_children(m), 2);

    xnode *copy = xnode_copy(m, NULL);
    xnode_unlink(thread);
    assert_int_equal(xnode_count_children(m), 1);
    assert_int_equal(xnode_count_children(copy), 2);
    assert_string_equal(xnode_ns(xnode_child(copy, "body", NULL)), "jabber:client");
    char *a = serialize(m, "jabber:client");
    assert_string_equal(a, "<message><body>hello</body></message>");
    free(a);
    xnode_free(m);           /* the copy lives in its own arena */
    char *b = serialize(copy, "jabber:client");
    assert_string_equal(b, "<message><body>hello</body><thread/></message>");
    free(b);
    xnode_free(copy);
}

static void test_child_lookup_by_namespace(void **state)
{
    xnode *p = xnode_new("presence", "jabber:client");
    xnode_add_child(p, "x", "vcard-temp:x:update");
    xnode_add_child(p, "x", "http://jabber.org/protocol/muc");
    assert_non_null(xnode_child(p, "x", "http://jabber.org/protocol/muc"));
    assert_null(xnode_child(p, "x", "urn:other"));
    xnode *first = xnode_child(p, "x", NULL);
    assert_string_equal(first->ns, "vcard-temp:x:update");
    assert_non_null(xnode_next_child(p, first, "x", NULL));
    xnode_free(p);
}

/* Many nodes in one arena: grows across chunks, frees at once. */
static void test_large_tree(void **state)
{
    xnode *root = xnode_new("query", "jabber:iq:roster");
    char jid[64];
    for (int i = 0; i < 5000; i++) {
        xnode *it = xnode_add_child(root, "item", NULL);
        snprintf(jid, sizeof jid, "user%d@example.com", i);
        xnode_set_attr(it, "jid", jid);
    }
    assert_int_equal(xnode_count_children(root), 5000);
    assert_string_equal(xnode_attr(root->last_child, "jid"), "user4999@example.com");
    xnode_free(root);
}

/* Text added in many small pieces merges into one node in linear space:
 * 64 KiB in 1-byte pieces stays far below the quadratic 2 GiB. */
static void test_text_pieces_linear(void **state)
{
    xnode *body = xnode_new("body", "jabber:client");
    for (int i = 0; i < 65536; i++) xnode_add_text(body, i % 2 ? "b" : "a", 1);
    assert_ptr_equal(body->children, body->last_child);
    assert_int_equal(body->children->text_len, 65536);
    assert_int_equal(body->children->text[65535], 'b');
    assert_int_equal(strlen(body->children->text), 65536);
    xnode_free(body);
}

/* CR, LF and TAB survive a reader's end-of-line and attribute handling. */
static void test_serialize_control_whitespace(void **state)
{
    (void)state;
    xnode *m = xnode_new("message", "jabber:client");
    xnode_set_attr(m, "id", "a\nb\tc");
    xnode *body = xnode_add_child(m, "body", NULL);
    xnode_add_text(body, "one\r\ntwo\tthree", 14);
    struct buf out;
    buf_init(&out);
    xnode_serialize(m, "jabber:client", &out);
    assert_string_equal(out.data, "<message id='a&#10;b&#9;c'><body>one&#13;&#10;two&#9;three</body></message>");
    buf_free(&out);
    xnode_free(m);
}

/* XML-1: every byte escapes as it should wherever it stands (the escaper
 * scans four bytes a step), checked against a byte-by-byte reference. */
static const char *reference_escape(char c)
{
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&apos;";
    case '\r': return "&#13;";
    case '\n': return "&#10;";
    case '\t': return "&#9;";
    default: return NULL;
    }
}

static void test_escape_every_byte_every_position(void **state)
{
    (void)state;
    char in[9];
    struct buf got, want;
    buf_init(&got);
    buf_init(&want);
    for (int c = 1; c < 256; c++) {
        for (size_t len = 1; len <= sizeof in; len++) {
            for (size_t pos = 0; pos < len; pos++) {
                memset(in, 'x', sizeof in);
                in[pos] = (char)c;
                in[len - 1] = len > 1 && pos != len - 1 ? '&' : in[len - 1];
                buf_reset(&got);
                buf_reset(&want);
                buf_append_xml_escaped(&got, in, len);
                for (size_t i = 0; i < len; i++) {
                    const char *rep = reference_escape(in[i]);
                    if (rep) buf_puts(&want, rep);
                    else buf_append(&want, &in[i], 1);
                }
                assert_int_equal(got.len, want.len);
                assert_memory_equal(got.data, want.data, want.len);
            }
        }
    }
    buf_free(&got);
    buf_free(&want);
}

/* A freed tree's memory serves the next tree (the pool), and a reused
 * arena starts empty. XML-4: big trees still free all they took. */
static void test_freed_arena_reused(void **state)
{
    (void)state;
    xnode *a = xnode_new("message", "jabber:client");
    xnode_set_attr(a, "to", "bob@example.com");
    xnode_add_text(xnode_add_child(a, "body", NULL), "hi", 2);
    xnode_free(a);
    xnode *b = xnode_new("iq", NULL);
#if !defined(__SANITIZE_ADDRESS__)   /* ASan builds keep no pool */
    assert_ptr_equal(a, b);
#endif
    assert_string_equal(b->name, "iq");
    assert_null(b->ns);
    assert_null(b->attrs);
    assert_null(b->children);
    assert_null(xnode_attr(b, "to"));
    /* a big tree spans several chunks; freeing it and building again works */
    for (int round = 0; round < 3; round++) {
        xnode *big = xnode_new("query", NULL);
        for (int i = 0; i < 2000; i++) xnode_set_attr(xnode_add_child(big, "item", NULL), "n", "v");
        assert_int_equal(xnode_count_children(big), 2000);
        xnode_free(big);
    }
    xnode_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serialize_control_whitespace),
        cmocka_unit_test(test_escape_every_byte_every_position),
        cmocka_unit_test(test_freed_arena_reused),
        cmocka_unit_test(test_buf_escape_and_consume),
        cmocka_unit_test(test_serialize_namespaces),
        cmocka_unit_test(test_attributes_replace_remove_and_xml_lang),
        cmocka_unit_test(test_text_merge_copy_and_unlink),
        cmocka_unit_test(test_child_lookup_by_namespace),
        cmocka_unit_test(test_large_tree),
        cmocka_unit_test(test_text_pieces_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
