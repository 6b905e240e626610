/* Unit tests for iqinfo: IM-6 (disco#info/items, ping, version, last
 * activity, read-only vcard-temp from the directory) and IM-5 (stanza error
 * replies, exactly one reply to a get/set the server answers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory.h"
#include "iqinfo.h"

#define NS_CLIENT "jabber:client"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

#define DOMAIN "example.net"
#define ALICE_FULL "alice@example.net/home"
#define BOB "bob@example.net"

static const struct iqinfo_server srv_info = {"imref", "0.1", "Linux", 0};

static struct dir_user make_bob(char *fullname, char *email)
{
    struct dir_user u;
    memset(&u, 0, sizeof u);
    u.name = "bob";
    u.domain = DOMAIN;
    u.fullname = fullname;
    u.email = email;
    u.enabled = true;
    u.publish_in_gal = true;
    return u;
}

/* <iq type id from to><ELEMENT xmlns=NS/></iq>; the payload is returned in *payload. */
static xnode *make_iq(const char *type, const char *id, const char *to, const char *element,
                      const char *ns, xnode **payload)
{
    xnode *iq = xnode_new("iq", NS_CLIENT);
    xnode_set_attr(iq, "type", type);
    if (id) xnode_set_attr(iq, "id", id);
    xnode_set_attr(iq, "from", ALICE_FULL);
    if (to) xnode_set_attr(iq, "to", to);
    xnode *p = element ? xnode_add_child(iq, element, ns) : NULL;
    if (payload) *payload = p;
    return iq;
}

static void assert_addressed(const xnode *reply, const char *type, const char *id, const char *from,
                             const char *to)
{
    assert_non_null(reply);
    assert_string_equal(reply->name, "iq");
    assert_string_equal(xnode_ns(reply), NS_CLIENT);
    assert_string_equal(xnode_attr(reply, "type"), type);
    if (id) assert_string_equal(xnode_attr(reply, "id"), id);
    else assert_null(xnode_attr(reply, "id"));
    assert_string_equal(xnode_attr(reply, "from"), from);
    assert_string_equal(xnode_attr(reply, "to"), to);
}

/* The reply is <error type=TYPE><CONDITION xmlns=stanzas/>...</error>. */
static void assert_stanza_error(const xnode *reply, const char *type, const char *condition)
{
    const xnode *error = xnode_child(reply, "error", NS_CLIENT);
    assert_non_null(error);
    assert_string_equal(xnode_attr(error, "type"), type);
    const xnode *cond = xnode_child(error, NULL, NULL);
    assert_non_null(cond);
    assert_string_equal(cond->name, condition);
    assert_string_equal(xnode_ns(cond), NS_STANZAS);
}

static xnode *ask(const char *type, const char *to, const struct dir_user *user, const char *element,
                  const char *ns)
{
    xnode *iq = make_iq(type, "q1", to, element, ns, NULL);
    xnode *reply = iqinfo_answer(iq, ALICE_FULL, to, user, &srv_info);
    xnode_free(iq);
    return reply;
}

static size_t count_features(const xnode *query)
{
    size_t n = 0;
    for (const xnode *f = xnode_child(query, "feature", NULL); f;
         f = xnode_next_child(query, f, "feature", NULL))
        n++;
    return n;
}

static bool has_feature(const xnode *query, const char *var)
{
    for (const xnode *f = xnode_child(query, "feature", NULL); f;
         f = xnode_next_child(query, f, "feature", NULL))
        if (xnode_attr(f, "var") && strcmp(xnode_attr(f, "var"), var) == 0) return true;
    return false;
}

/* IM-6: disco#info on the domain: identity server/im and the features. */
static void test_domain_disco_info_IM_6(void **state)
{
    (void)state;
    xnode *reply = ask("get", DOMAIN, NULL, "query", NS_DISCO_INFO);
    assert_addressed(reply, "result", "q1", DOMAIN, ALICE_FULL);
    assert_int_equal(xnode_count_children(reply), 1);
    const xnode *query = xnode_child(reply, "query", NS_DISCO_INFO);
    assert_non_null(query);
    const xnode *identity = xnode_child(query, "identity", NS_DISCO_INFO);
    assert_non_null(identity);
    assert_string_equal(xnode_attr(identity, "category"), "server");
    assert_string_equal(xnode_attr(identity, "type"), "im");
    assert_string_equal(xnode_attr(identity, "name"), "imref");
    const char *expected[] = {NS_DISCO_INFO, NS_DISCO_ITEMS, "urn:xmpp:ping", "jabber:iq:version",
                              "jabber:iq:last", "vcard-temp", "msgoffline"};
    size_t n = sizeof expected / sizeof *expected;
    assert_int_equal(count_features(query), n);
    for (size_t i = 0; i < n; i++) assert_true(has_feature(query, expected[i]));
    assert_false(has_feature(query, "jabber:iq:roster"));
    xnode_free(reply);
}

/* IM-6: a disco node the server does not have. */
static void test_disco_unknown_node_IM_6(void **state)
{
    (void)state;
    const char *namespaces[] = {NS_DISCO_INFO, NS_DISCO_ITEMS};
    for (int i = 0; i < 2; i++) {
        xnode *payload;
        xnode *iq = make_iq("get", "n1", DOMAIN, "query", namespaces[i], &payload);
        xnode_set_attr(payload, "node", "http://example.org/caps#abc");
        xnode *reply = iqinfo_answer(iq, ALICE_FULL, DOMAIN, NULL, &srv_info);
        assert_addressed(reply, "error", "n1", DOMAIN, ALICE_FULL);
        assert_int_equal(xnode_count_children(reply), 1);
        assert_stanza_error(reply, "cancel", "item-not-found");
        xnode_free(reply);
        xnode_free(iq);
    }
}

/* IM-6: disco#items on the domain and on an account: empty. */
static void test_disco_items_empty_IM_6(void **state)
{
    (void)state;
    struct dir_user bob = make_bob("Bob", NULL);
    xnode *reply = ask("get", DOMAIN, NULL, "query", NS_DISCO_ITEMS);
    assert_addressed(reply, "result", "q1", DOMAIN, ALICE_FULL);
    const xnode *query = xnode_child(reply, "query", NS_DISCO_ITEMS);
    assert_non_null(query);
    assert_int_equal(xnode_count_children(query), 0);
    xnode_free(reply);

    reply = ask("get", BOB, &bob, "query", NS_DISCO_ITEMS);
    assert_addressed(reply, "result", "q1", BOB, ALICE_FULL);
    query = xnode_child(reply, "query", NS_DISCO_ITEMS);
    assert_non_null(query);
    assert_int_equal(xnode_count_children(query), 0);
    xnode_free(reply);
}

/* IM-6 (XEP-0199): ping to the domain: an empty result. */
static void test_domain_ping_IM_6(void **state)
{
    (void)state;
    xnode *reply = ask("get", DOMAIN, NULL, "ping", "urn:xmpp:ping");
    assert_addressed(reply, "result", "q1", DOMAIN, ALICE_FULL);
    assert_null(reply->children);
    xnode_free(reply);
}

/* IM-6 (XEP-0092): version with name, version and os; os may be withheld. */
static void test_domain_version_IM_6(void **state)
{
    (void)state;
    xnode *reply = ask("get", DOMAIN, NULL, "query", "jabber:iq:version");
    assert_addressed(reply, "result", "q1", DOMAIN, ALICE_FULL);
    const xnode *query = xnode_child(reply, "query", "jabber:iq:version");
    assert_non_null(query);
    assert_int_equal(xnode_count_children(query), 3);
    const char *fields[][2] = {{"name", "imref"}, {"version", "0.1"}, {"os", "Linux"}};
    for (int i = 0; i < 3; i++) {
        char *text = xnode_child_text(query, fields[i][0], "jabber:iq:version");
        assert_non_null(text);
        assert_string_equal(text, fields[i][1]);
        free(text);
    }
    xnode_free(reply);

    struct iqinfo_server discreet = {"imref", "0.2", NULL, 0};
    xnode *iq = make_iq("get", "v2", DOMAIN, "query", "jabber:iq:version", NULL);
    reply = iqinfo_answer(iq, ALICE_FULL, DOMAIN, NULL, &discreet);
    query = xnode_child(reply, "query", "jabber:iq:version");
    assert_non_null(query);
    assert_null(xnode_child(query, "os", NULL));
    char *version = xnode_child_text(query, "version", NULL);
    assert_string_equal(version, "0.2");
    free(version);
    xnode_free(reply);
    xnode_free(iq);
}

/* IM-6 (XEP-0012): last activity of the server is its uptime. */
static void test_domain_last_IM_6(void **state)
{
    (void)state;
    long long now = (long long)time(NULL);
    struct iqinfo_server started = {"imref", "0.1", NULL, now - 100};
    xnode *iq = make_iq("get", "l1", DOMAIN, "query", "jabber:iq:last", NULL);
    xnode *reply = iqinfo_answer(iq, ALICE_FULL, DOMAIN, NULL, &started);
    assert_addressed(reply, "result", "l1", DOMAIN, ALICE_FULL);
    const xnode *query = xnode_child(reply, "query", "jabber:iq:last");
    assert_non_null(query);
    const char *seconds = xnode_attr(query, "seconds");
    assert_non_null(seconds);
    long long s = strtoll(seconds, NULL, 10);
    assert_true(s >= 100 && s <= 102);
    xnode_free(reply);
    xnode_free(iq);
}

/* IM-6: disco#info on an account: identity account/registered. */
static void test_account_disco_info_IM_6(void **state)
{
    (void)state;
    struct dir_user bob = make_bob("Bob Builder", "bob@mail.example.net");
    xnode *reply = ask("get", BOB, &bob, "query", NS_DISCO_INFO);
    assert_addressed(reply, "result", "q1", BOB, ALICE_FULL);
    const xnode *query = xnode_child(reply, "query", NS_DISCO_INFO);
    assert_non_null(query);
    const xnode *identity = xnode_child(query, "identity", NULL);
    assert_non_null(identity);
    assert_string_equal(xnode_attr(identity, "category"), "account");
    assert_string_equal(xnode_attr(identity, "type"), "registered");
    assert_int_equal(count_features(query), 3);
    assert_true(has_feature(query, NS_DISCO_INFO));
    assert_true(has_feature(query, NS_DISCO_ITEMS));
    assert_true(has_feature(query, "vcard-temp"));
    assert_false(has_feature(query, "urn:xmpp:ping"));
    xnode_free(reply);
}

/* IM-6 (XEP-0054): the vCard of an account is FN and EMAIL from the directory. */
static void test_account_vcard_IM_6(void **state)
{
    (void)state;
    struct dir_user bob = make_bob("Bob <The> Builder", "bob@mail.example.net");
    xnode *reply = ask("get", BOB, &bob, "vCard", "vcard-temp");
    assert_addressed(reply, "result", "q1", BOB, ALICE_FULL);
    const xnode *vcard = xnode_child(reply, "vCard", "vcard-temp");
    assert_non_null(vcard);
    assert_int_equal(xnode_count_children(vcard), 2);
    char *fn = xnode_child_text(vcard, "FN", "vcard-temp");
    assert_string_equal(fn, "Bob <The> Builder");
    free(fn);
    const xnode *email = xnode_child(vcard, "EMAIL", "vcard-temp");
    assert_non_null(email);
    assert_non_null(xnode_child(email, "INTERNET", "vcard-temp"));
    char *userid = xnode_child_text(email, "USERID", "vcard-temp");
    assert_string_equal(userid, "bob@mail.example.net");
    free(userid);

    struct buf out;
    buf_init(&out);
    xnode_serialize(reply, NS_CLIENT, &out);
    assert_non_null(strstr(out.data, "<vCard xmlns='vcard-temp'><FN>Bob &lt;The&gt; Builder</FN>"));
    buf_free(&out);
    xnode_free(reply);

    struct dir_user anonymous = make_bob("", NULL);
    reply = ask("get", BOB, &anonymous, "vCard", "vcard-temp");
    vcard = xnode_child(reply, "vCard", "vcard-temp");
    assert_non_null(vcard);
    assert_int_equal(xnode_count_children(vcard), 0);
    xnode_free(reply);
}

/* IM-6: the vCard is read-only; get-only queries refuse a set. */
static void test_sets_refused_IM_6(void **state)
{
    (void)state;
    struct dir_user bob = make_bob("Bob", NULL);
    xnode *reply = ask("set", BOB, &bob, "vCard", "vcard-temp");
    assert_addressed(reply, "error", "q1", BOB, ALICE_FULL);
    assert_int_equal(xnode_count_children(reply), 1);
    assert_stanza_error(reply, "cancel", "not-allowed");
    xnode_free(reply);

    reply = ask("set", DOMAIN, NULL, "query", NS_DISCO_INFO);
    assert_addressed(reply, "error", "q1", DOMAIN, ALICE_FULL);
    assert_int_equal(xnode_count_children(reply), 1);
    assert_stanza_error(reply, "modify", "bad-request");
    xnode_free(reply);
}

/* IM-5, IM-6: what iqinfo does not answer is left to the router (NULL). */
static void test_not_ours_returns_null_IM_5(void **state)
{
    (void)state;
    struct dir_user bob = make_bob("Bob", "b@example.net");
    assert_null(ask("get", DOMAIN, NULL, "query", "jabber:iq:private"));
    assert_null(ask("get", DOMAIN, NULL, "query", "jabber:iq:roster"));
    assert_null(ask("get", DOMAIN, NULL, "vCard", "vcard-temp"));
    assert_null(ask("get", DOMAIN, NULL, "ping", NS_DISCO_INFO));     /* wrong element */
    assert_null(ask("get", DOMAIN, NULL, "query", "urn:xmpp:ping"));  /* wrong element */
    assert_null(ask("get", BOB, &bob, "ping", "urn:xmpp:ping"));
    assert_null(ask("get", BOB, &bob, "query", "jabber:iq:version"));
    assert_null(ask("get", BOB, &bob, "query", "jabber:iq:last"));
    assert_null(ask("result", DOMAIN, NULL, "query", NS_DISCO_INFO));
    assert_null(ask("error", DOMAIN, NULL, "query", NS_DISCO_INFO));
    assert_null(ask("get", DOMAIN, NULL, NULL, NULL));                 /* no payload */
    xnode *msg = xnode_new("message", NS_CLIENT);
    xnode_set_attr(msg, "type", "get");
    xnode_add_child(msg, "query", NS_DISCO_INFO);
    assert_null(iqinfo_answer(msg, ALICE_FULL, DOMAIN, NULL, &srv_info));
    xnode_free(msg);
}

/* IM-5: an iq error reply swaps the addresses, copies the id and drops the payload. */
static void test_error_reply_iq_IM_5(void **state)
{
    (void)state;
    xnode *iq = make_iq("get", "e1", BOB, "query", "jabber:iq:private", NULL);
    xnode *reply = stanza_error_reply(iq, "cancel", "service-unavailable", NULL);
    assert_addressed(reply, "error", "e1", BOB, ALICE_FULL);
    assert_int_equal(xnode_count_children(reply), 1);
    assert_stanza_error(reply, "cancel", "service-unavailable");
    const xnode *error = xnode_child(reply, "error", NULL);
    assert_int_equal(xnode_count_children(error), 1);

    struct buf out;
    buf_init(&out);
    xnode_serialize(reply, NS_CLIENT, &out);
    assert_non_null(strstr(out.data, "<error type='cancel'><service-unavailable "
                                     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    buf_free(&out);
    xnode_free(reply);
    xnode_free(iq);

    iq = make_iq("set", NULL, NULL, "query", "jabber:iq:private", NULL);
    reply = stanza_error_reply(iq, "modify", "bad-request", NULL);
    assert_string_equal(reply->name, "iq");
    assert_null(xnode_attr(reply, "id"));
    assert_null(xnode_attr(reply, "from"));
    assert_string_equal(xnode_attr(reply, "to"), ALICE_FULL);
    assert_stanza_error(reply, "modify", "bad-request");
    xnode_free(reply);
    xnode_free(iq);
}

/* IM-5: a message error keeps the original payload and carries the text. */
static void test_error_reply_message_IM_5(void **state)
{
    (void)state;
    xnode *msg = xnode_new("message", NS_CLIENT);
    xnode_set_attr(msg, "type", "chat");
    xnode_set_attr(msg, "id", "m7");
    xnode_set_attr(msg, "from", ALICE_FULL);
    xnode_set_attr(msg, "to", "carol@elsewhere.example");
    xnode *body = xnode_add_child(msg, "body", NULL);
    xnode_add_text(body, "hi", 2);
    const char *why = "Sending instant messages outside of the domain is not allowed";
    xnode *reply = stanza_error_reply(msg, "cancel", "not-allowed", why);
    assert_string_equal(reply->name, "message");
    assert_string_equal(xnode_ns(reply), NS_CLIENT);
    assert_string_equal(xnode_attr(reply, "type"), "error");
    assert_string_equal(xnode_attr(reply, "id"), "m7");
    assert_string_equal(xnode_attr(reply, "from"), "carol@elsewhere.example");
    assert_string_equal(xnode_attr(reply, "to"), ALICE_FULL);
    assert_int_equal(xnode_count_children(reply), 2);
    char *text = xnode_child_text(reply, "body", NS_CLIENT);
    assert_string_equal(text, "hi");
    free(text);
    assert_stanza_error(reply, "cancel", "not-allowed");
    const xnode *error = xnode_child(reply, "error", NULL);
    const xnode *text_node = xnode_child(error, "text", NS_STANZAS);
    assert_non_null(text_node);
    assert_string_equal(xnode_attr_ns(text_node, XMLNS_XML, "lang"), "en");
    text = xnode_text_dup(text_node);
    assert_string_equal(text, why);
    free(text);
    /* the body is written before the error */
    assert_string_equal(reply->children->name, "body");
    xnode_free(reply);
    xnode_free(msg);
}

/* IM-5: the stanza's own namespace is kept (e.g. jabber:server on S2S). */
static void test_error_reply_presence_server_ns_IM_5(void **state)
{
    (void)state;
    xnode *pres = xnode_new("presence", "jabber:server");
    xnode_set_attr(pres, "type", "subscribe");
    xnode_set_attr(pres, "from", "dave@remote.example");
    xnode_set_attr(pres, "to", BOB);
    xnode *reply = stanza_error_reply(pres, "cancel", "not-allowed", NULL);
    assert_string_equal(reply->name, "presence");
    assert_string_equal(xnode_ns(reply), "jabber:server");
    assert_string_equal(xnode_attr(reply, "from"), BOB);
    assert_string_equal(xnode_attr(reply, "to"), "dave@remote.example");
    const xnode *error = xnode_child(reply, "error", "jabber:server");
    assert_non_null(error);
    assert_null(xnode_child(error, "text", NULL));
    xnode_free(reply);
    xnode_free(pres);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_disco_info_IM_6),
        cmocka_unit_test(test_disco_unknown_node_IM_6),
        cmocka_unit_test(test_disco_items_empty_IM_6),
        cmocka_unit_test(test_domain_ping_IM_6),
        cmocka_unit_test(test_domain_version_IM_6),
        cmocka_unit_test(test_domain_last_IM_6),
        cmocka_unit_test(test_account_disco_info_IM_6),
        cmocka_unit_test(test_account_vcard_IM_6),
        cmocka_unit_test(test_sets_refused_IM_6),
        cmocka_unit_test(test_not_ours_returns_null_IM_5),
        cmocka_unit_test(test_error_reply_iq_IM_5),
        cmocka_unit_test(test_error_reply_message_IM_5),
        cmocka_unit_test(test_error_reply_presence_server_ns_IM_5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
