/* Unit tests: payload parsing, ${...} expansion, CONF-2 stanza matching
 * and the pretty printer used in CONF-4 failure reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "match.h"

/* One element parsed from xml in jabber:client (caller frees). */
static xnode *xml1(const char *xml)
{
    struct buf err;
    buf_init(&err);
    xnode **nodes = NULL;
    size_t n = 0;
    int rc = scs_parse_payload(xml, strlen(xml), "jabber:client", &nodes, &n, &err);
    if (rc != 0) print_error("%s: %s\n", xml, err.data);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    xnode *node = nodes[0];
    free(nodes);
    buf_free(&err);
    return node;
}

static void expect_match(const char *expected, const char *received)
{
    xnode *e = xml1(expected), *r = xml1(received);
    struct buf why;
    buf_init(&why);
    bool ok = scs_match(e, r, &why);
    if (!ok) print_error("unexpected mismatch: %s\n", why.data);
    assert_true(ok);
    assert_int_equal(why.len, 0);
    buf_free(&why);
    xnode_free(e);
    xnode_free(r);
}

static void expect_mismatch(const char *expected, const char *received, const char *reason)
{
    xnode *e = xml1(expected), *r = xml1(received);
    struct buf why;
    buf_init(&why);
    assert_false(scs_match(e, r, &why));
    assert_string_equal(why.data, reason);
    assert_false(scs_match(e, r, NULL));
    buf_free(&why);
    xnode_free(e);
    xnode_free(r);
}

/* CONF-2: attributes: missing, different, {scansion:any}, extra ignored,
 * xml:lang as an attribute in the XML namespace. */
static void test_match_attributes(void **state)
{
    (void)state;
    expect_match("<iq type='result' id='1'/>", "<iq id='1' type='result'/>");
    expect_mismatch("<iq type='result' id='1'/>", "<iq type='result'/>", "/iq: attribute id missing");
    expect_mismatch("<iq type='result' id='1'/>", "<iq type='result' id='2'/>",
                    "/iq: attribute id is '2', expected '1'");
    expect_match("<iq id='{scansion:any}'/>", "<iq id='anything'/>");
    expect_match("<iq id='{scansion:any}'/>", "<iq id=''/>");
    expect_mismatch("<iq id='{scansion:any}'/>", "<iq type='get'/>", "/iq: attribute id missing");
    expect_match("<presence/>", "<presence from='a@b/c' xml:lang='en' id='x'/>");
    expect_match("<message xml:lang='en'/>", "<message xml:lang='en' to='a@b'/>");
    expect_mismatch("<message xml:lang='en'/>", "<message xml:lang='fr'/>",
                    "/message: attribute xml:lang is 'fr', expected 'en'");
    expect_mismatch("<message xml:lang='en'/>", "<message lang='en'/>",
                    "/message: attribute xml:lang missing");
    expect_mismatch("<x xmlns:p='urn:p' p:a='1'/>", "<x a='1'/>", "/x: attribute {urn:p}a missing");
    expect_match("<x xmlns:p='urn:p' p:a='1'/>", "<x xmlns:q='urn:p' q:a='1'/>");
}

/* CONF-2: element names and namespace URIs; prefixes do not matter. */
static void test_match_names_and_namespaces(void **state)
{
    (void)state;
    expect_mismatch("<iq/>", "<message/>",
                    "/iq: expected <iq xmlns='jabber:client'>, got <message xmlns='jabber:client'>");
    expect_mismatch("<iq><query xmlns='jabber:iq:roster'/></iq>",
                    "<iq><query xmlns='jabber:iq:private'/></iq>",
                    "/iq/query: expected <query xmlns='jabber:iq:roster'>, "
                    "got <query xmlns='jabber:iq:private'>");
    expect_match("<iq><query xmlns='jabber:iq:roster'><item/></query></iq>",
                 "<iq xmlns:r='jabber:iq:roster'><r:query><r:item/></r:query></iq>");
    expect_match("<iq xmlns:r='jabber:iq:roster'><r:query/></iq>",
                 "<iq><query xmlns='jabber:iq:roster'/></iq>");
    expect_match("<iq/>", "<c:iq xmlns:c='jabber:client'/>");
    expect_mismatch("<iq><query xmlns='jabber:iq:roster'/></iq>", "<iq><query/></iq>",
                    "/iq/query: expected <query xmlns='jabber:iq:roster'>, got <query xmlns='jabber:client'>");
    expect_mismatch("<x><y xmlns=''/></x>", "<x><y/></x>",
                    "/x/y: expected <y xmlns=''>, got <y xmlns='jabber:client'>");

    /* A tree built in memory: children with a NULL ns inherit (xnode_ns). */
    xnode *r = xnode_new("iq", "jabber:client");
    xnode *q = xnode_add_child(r, "query", "jabber:iq:roster");
    xnode_set_attr(xnode_add_child(q, "item", NULL), "jid", "a@b");
    xnode *e = xml1("<iq><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>");
    assert_true(scs_match(e, r, NULL));
    xnode_free(e);
    e = xml1("<iq><query xmlns='jabber:iq:roster'><item xmlns='jabber:client'/></query></iq>");
    assert_false(scs_match(e, r, NULL));
    xnode_free(e);
    xnode_free(r);
}

/* CONF-2: text compared after trimming; {scansion:any}; no text constraint
 * when the expected text is whitespace only. */
static void test_match_text(void **state)
{
    (void)state;
    expect_match("<message><body>hi there</body></message>", "<message><body>hi there</body></message>");
    expect_mismatch("<message><body>hi</body></message>", "<message><body>ho</body></message>",
                    "/message/body: text 'ho', expected 'hi'");
    expect_match("<message><body>hi</body></message>", "<message><body>\n  hi \t</body></message>");
    expect_match("<message><body>\n\t\thi\n\t</body></message>", "<message><body>hi</body></message>");
    expect_mismatch("<message><body>hi</body></message>", "<message><body>h i</body></message>",
                    "/message/body: text 'h i', expected 'hi'");
    expect_mismatch("<message><body>hi</body></message>", "<message><body/></message>",
                    "/message/body: text '', expected 'hi'");
    expect_mismatch("<m><b>hi</b></m>", "<m><b>a\nb</b></m>", "/m/b: text 'a\\nb', expected 'hi'");
    expect_match("<message><body>{scansion:any}</body></message>", "<message><body>what</body></message>");
    expect_match("<message><body> </body></message>", "<message><body>what</body></message>");
    expect_match("<iq>\n\t<query xmlns='q'/>\n</iq>", "<iq><query xmlns='q'/></iq>");
}

/* CONF-2: children in order against a subsequence of the received ones. */
static void test_match_children(void **state)
{
    (void)state;
    expect_match("<x><a/><b/></x>", "<x><c/><a/><d/><b/><e/></x>");
    expect_mismatch("<x><a/><b/></x>", "<x><b/><a/></x>", "/x/b: element found only out of order");
    expect_mismatch("<iq><query xmlns='jabber:iq:roster'><item jid='n@l'/></query></iq>",
                    "<iq><query xmlns='jabber:iq:roster'/></iq>",
                    "/iq/query/item: element <item xmlns='jabber:iq:roster'> missing");
    /* A childless expected element matches any content. */
    expect_match("<iq type='result'><query xmlns='jabber:iq:roster'/></iq>",
                 "<iq type='result'><query xmlns='jabber:iq:roster' ver='3'>"
                 "<item jid='a@b'/>text<item jid='c@d'/></query></iq>");
    /* Each received child serves one expected child. */
    expect_mismatch("<q><item/><item/></q>", "<q><item/></q>",
                    "/q/item[2]: element <item xmlns='jabber:client'> missing");
    expect_mismatch("<q><item jid='a'/><item jid='b'/></q>", "<q><item jid='a'/><item jid='c'/></q>",
                    "/q/item[2]: attribute jid is 'c', expected 'b'");
    /* The first matching received child is taken, later ones stay usable. */
    expect_match("<q><i k='1'/><i k='2'/></q>", "<q><i k='1'/><i k='1'/><i k='2'/></q>");
    expect_match("<q><i/><i k='2'/></q>", "<q><i k='1'/><i k='2'/></q>");
    /* scansion:strict='false' (undeclared prefix, as in Prosody's scripts):
       any order, and the directive itself is not compared. */
    expect_match("<x scansion:strict='false'><b/><a/></x>", "<x><a/><c/><b/></x>");
    expect_mismatch("<x scansion:strict='false'><b/><b/></x>", "<x><b/><a/></x>",
                    "/x/b[2]: element <b xmlns='jabber:client'> missing");
}

/* CONF-2, CONF-4: a mismatch deep down names the whole path; why is appended. */
static void test_match_deep(void **state)
{
    (void)state;
    const char *expected = "<a><b xmlns='urn:b'><c><d><e><f v='1'>t</f></e></d></c></b></a>";
    expect_match(expected, "<a><b xmlns='urn:b'><z/><c><d><e><f v='1' w='2'> t </f></e></d></c></b></a>");
    expect_mismatch(expected, "<a><b xmlns='urn:b'><c><d><e><f v='2'>t</f></e></d></c></b></a>",
                    "/a/b/c/d/e/f: attribute v is '2', expected '1'");
    expect_mismatch(expected, "<a><b xmlns='urn:b'><c><d><e><f v='1'>u</f></e></d></c></b></a>",
                    "/a/b/c/d/e/f: text 'u', expected 't'");
    expect_mismatch(expected, "<a><b xmlns='urn:b'><c><d><e/></d></c></b></a>",
                    "/a/b/c/d/e/f: element <f xmlns='urn:b'> missing");

    xnode *e = xml1("<iq id='1'/>"), *r = xml1("<iq/>");
    struct buf why;
    buf_init(&why);
    buf_puts(&why, "step 3: ");
    assert_false(scs_match(e, r, &why));
    assert_string_equal(why.data, "step 3: /iq: attribute id missing");
    buf_free(&why);
    xnode_free(e);
    xnode_free(r);
}

static const char *lookup(void *ctx, const char *name)
{
    static const char *const vars[][2] = {
        { "Romeo's full JID", "romeo@localhost/balcony" },
        { "Romeo's JID", "romeo@localhost" },
        { "Romeo's resource", "balcony" },
        { "Romeo's domain", "localhost" },
    };
    int *calls = ctx;
    (*calls)++;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strcmp(vars[i][0], name) == 0) return vars[i][1];
    return NULL;
}

/* CONF-2: the four variable forms; '$' alone is kept; errors. */
static void test_expand(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err);
    int calls = 0;
    char *s = scs_expand("<m to='${Romeo's full JID}' b='${Romeo's JID}'>${Romeo's resource}@${Romeo's domain}</m>",
                         lookup, &calls, &err);
    assert_string_equal(s, "<m to='romeo@localhost/balcony' b='romeo@localhost'>balcony@localhost</m>");
    assert_int_equal(calls, 4);
    free(s);
    s = scs_expand("costs $5, $$, {x} and $", lookup, &calls, &err);
    assert_string_equal(s, "costs $5, $$, {x} and $");
    free(s);
    s = scs_expand("", lookup, &calls, &err);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(calls, 4);
    assert_int_equal(err.len, 0);

    assert_null(scs_expand("to ${Tybalt's JID}!", lookup, &calls, &err));
    assert_string_equal(err.data, "unknown variable ${Tybalt's JID}");
    buf_reset(&err);
    assert_null(scs_expand("to ${Romeo's JID", lookup, &calls, &err));
    assert_string_equal(err.data, "unterminated ${");
    buf_free(&err);
}

static void test_var_split(void **state)
{
    (void)state;
    static const struct {
        const char *var, *client;
        enum scs_var_kind kind;
    } cases[] = {
        { "Romeo's full JID", "Romeo", SCS_VAR_FULL_JID },
        { "Romeo's JID", "Romeo", SCS_VAR_BARE_JID },
        { "Romeo's resource", "Romeo", SCS_VAR_RESOURCE },
        { "Romeo's domain", "Romeo", SCS_VAR_DOMAIN },
        { "Juliet's phone's full JID", "Juliet's phone", SCS_VAR_FULL_JID },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *client;
        enum scs_var_kind kind;
        assert_true(scs_var_split(cases[i].var, &client, &kind));
        assert_string_equal(client, cases[i].client);
        assert_int_equal(kind, cases[i].kind);
        free(client);
    }
    static const char *const bad[] = { "Romeo's nick", "'s JID", "Romeo", "Romeo's full jid" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *client = (char *)"sentinel";
        enum scs_var_kind kind;
        assert_false(scs_var_split(bad[i], &client, &kind));
        assert_null(client);
    }
}

static char *payload_error(const char *xml)
{
    struct buf err;
    buf_init(&err);
    xnode **nodes = NULL;
    size_t n = 0;
    assert_int_equal(scs_parse_payload(xml, strlen(xml), "jabber:client", &nodes, &n, &err), -1);
    return buf_steal(&err);
}

/* CONF-2: payloads of several elements, namespaces, and errors. */
static void test_parse_payload(void **state)
{
    (void)state;
    static const char two[] = "<presence/>\n<message to='a@b' xml:lang='en'><body>x</body></message>";
    struct buf err;
    buf_init(&err);
    xnode **nodes;
    size_t n;
    assert_int_equal(scs_parse_payload(two, strlen(two), "jabber:client", &nodes, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0]->name, "presence");
    assert_string_equal(xnode_ns(nodes[0]), "jabber:client");
    assert_string_equal(nodes[1]->name, "message");
    assert_string_equal(xnode_attr_ns(nodes[1], XMLNS_XML, "lang"), "en");
    assert_null(xnode_attr(nodes[1], "lang"));
    char *body = xnode_child_text(nodes[1], "body", "jabber:client");
    assert_string_equal(body, "x");
    free(body);
    scs_free_payload(nodes, n);

    static const char server[] = "<db:result xmlns:db='jabber:server:dialback'/><iq/>";
    assert_int_equal(scs_parse_payload(server, strlen(server), "jabber:server", &nodes, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(xnode_ns(nodes[0]), "jabber:server:dialback");
    assert_string_equal(xnode_ns(nodes[1]), "jabber:server");
    scs_free_payload(nodes, n);
    assert_int_equal(err.len, 0);
    buf_free(&err);

    static const char *const bad[][2] = {
        { "<iq><query></iq>", "not-well-formed: mismatched tag" },
        { "<iq>", "not-well-formed: mismatched tag" },
        { "<iq/></stream:stream><iq/>", "the payload closes the stream" },
        { "<iq/><!-- x", "the payload is incomplete" },
        { "  \n ", "the payload holds no element" },
        { "<iq/>hello", "bad-format: character data between stanzas" },
        { "<iq a='1' a='2'/>", "not-well-formed: duplicate attribute" },
        { "<p:iq/>", "not-well-formed: unbound prefix" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *got = payload_error(bad[i][0]);
        assert_string_equal(got, bad[i][1]);
        free(got);
    }
}

/* CONF-4: failure reports show stanzas indented, one element per line. */
static void test_pretty(void **state)
{
    (void)state;
    xnode *n = xml1("<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='7'>"
                    "<item jid='a@b' name='A &amp; B'>\n  <group>Friends</group>\n</item>"
                    "<item jid='c@d'/></query><x xmlns=''/></iq>");
    struct buf out;
    buf_init(&out);
    scs_pretty(n, &out);
    assert_string_equal(out.data,
                        "<iq type='result' id='r1'>\n"
                        "  <query xmlns='jabber:iq:roster' ver='7'>\n"
                        "    <item jid='a@b' name='A &amp; B'>\n"
                        "      <group>Friends</group>\n"
                        "    </item>\n"
                        "    <item jid='c@d'/>\n"
                        "  </query>\n"
                        "  <x xmlns=''/>\n"
                        "</iq>\n");
    xnode_free(n);

    buf_reset(&out);
    n = xml1("<message xmlns='jabber:server' xml:lang='en' xmlns:p='urn:p' p:a='1'>"
             "hello <b>x</b> world</message>");
    scs_pretty(n, &out);
    assert_string_equal(out.data,
                        "<message xmlns='jabber:server' xml:lang='en' xmlns:ns1='urn:p' ns1:a='1'>\n"
                        "  hello\n"
                        "  <b>x</b>\n"
                        "  world\n"
                        "</message>\n");
    xnode_free(n);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_attributes),
        cmocka_unit_test(test_match_names_and_namespaces),
        cmocka_unit_test(test_match_text),
        cmocka_unit_test(test_match_children),
        cmocka_unit_test(test_match_deep),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_var_split),
        cmocka_unit_test(test_parse_payload),
        cmocka_unit_test(test_pretty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
