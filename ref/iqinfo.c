#include "iqinfo.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "directory.h"

#define NS_JABBER_CLIENT "jabber:client"
#define NS_XMPP_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_LAST "jabber:iq:last"
#define NS_VCARD "vcard-temp"
#define FEATURE_OFFLINE "msgoffline" /* XEP-0160 §4: offline storage (IM-4) */

/* What the server implements on its domain (XEP-0030 §3.1). */
static const char *const domain_features[] = {
    NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, NS_LAST, NS_VCARD, FEATURE_OFFLINE,
};

/* What an account offers (answered by the server on its behalf). */
static const char *const account_features[] = {
    NS_DISCO_INFO, NS_DISCO_ITEMS, NS_VCARD,
};

struct query_ctx {
    const xnode *query;
    const struct dir_user *user;   /* NULL: the domain */
    const struct iqinfo_server *srv;
};

/* Fills the result's payload; returns NULL, or an error condition (cancel). */
typedef const char *build_fn(xnode *result, const struct query_ctx *q);

static bool is_empty(const char *s)
{
    return !s || !*s;
}

static void add_text_child(xnode *parent, const char *name, const char *text)
{
    xnode *child = xnode_add_child(parent, name, NULL);
    xnode_add_text(child, text, strlen(text));
}

static void add_features(xnode *query, const char *const *features, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xnode_set_attr(xnode_add_child(query, "feature", NULL), "var", features[i]);
}

static const char *build_disco_info(xnode *result, const struct query_ctx *q)
{
    if (xnode_attr(q->query, "node")) return "item-not-found";
    xnode *query = xnode_add_child(result, "query", NS_DISCO_INFO);
    xnode *identity = xnode_add_child(query, "identity", NULL);
    if (q->user) {
        xnode_set_attr(identity, "category", "account");
        xnode_set_attr(identity, "type", "registered");
        add_features(query, account_features, sizeof account_features / sizeof *account_features);
    } else {
        xnode_set_attr(identity, "category", "server");
        xnode_set_attr(identity, "type", "im");
        if (!is_empty(q->srv->name)) xnode_set_attr(identity, "name", q->srv->name);
        add_features(query, domain_features, sizeof domain_features / sizeof *domain_features);
    }
    return NULL;
}

static const char *build_disco_items(xnode *result, const struct query_ctx *q)
{
    if (xnode_attr(q->query, "node")) return "item-not-found";
    xnode_add_child(result, "query", NS_DISCO_ITEMS);
    return NULL;
}

static const char *build_ping(xnode *result, const struct query_ctx *q)
{
    (void)result;
    (void)q;
    return NULL;   /* XEP-0199 §4.2: an empty result */
}

static const char *build_version(xnode *result, const struct query_ctx *q)
{
    xnode *query = xnode_add_child(result, "query", NS_VERSION);
    add_text_child(query, "name", q->srv->name ? q->srv->name : "");
    add_text_child(query, "version", q->srv->version ? q->srv->version : "");
    if (q->srv->os) add_text_child(query, "os", q->srv->os);
    return NULL;
}

static const char *build_last(xnode *result, const struct query_ctx *q)
{
    long long uptime = (long long)time(NULL) - q->srv->started_unix;
    char seconds[24];
    snprintf(seconds, sizeof seconds, "%lld", uptime > 0 ? uptime : 0);
    xnode_set_attr(xnode_add_child(result, "query", NS_LAST), "seconds", seconds);
    return NULL;
}

/* XEP-0054 §3.1: FN and EMAIL/USERID from the directory; empty if neither. */
static const char *build_vcard(xnode *result, const struct query_ctx *q)
{
    xnode *vcard = xnode_add_child(result, "vCard", NS_VCARD);
    if (!is_empty(q->user->fullname)) add_text_child(vcard, "FN", q->user->fullname);
    if (!is_empty(q->user->email)) {
        xnode *email = xnode_add_child(vcard, "EMAIL", NULL);
        xnode_add_child(email, "INTERNET", NULL);
        xnode_add_child(email, "PREF", NULL);
        add_text_child(email, "USERID", q->user->email);
    }
    return NULL;
}

enum target { TO_DOMAIN = 1, TO_ACCOUNT = 2 };

struct handler {
    const char *element, *ns;
    unsigned targets;          /* enum target bits */
    const char *set_type, *set_condition;   /* the error for type='set' */
    build_fn *build;
};

static const struct handler handlers[] = {
    {"query", NS_DISCO_INFO, TO_DOMAIN | TO_ACCOUNT, "modify", "bad-request", build_disco_info},
    {"query", NS_DISCO_ITEMS, TO_DOMAIN | TO_ACCOUNT, "modify", "bad-request", build_disco_items},
    {"ping", NS_PING, TO_DOMAIN, "modify", "bad-request", build_ping},
    {"query", NS_VERSION, TO_DOMAIN, "modify", "bad-request", build_version},
    {"query", NS_LAST, TO_DOMAIN, "modify", "bad-request", build_last},
    {"vCard", NS_VCARD, TO_ACCOUNT, "cancel", "not-allowed", build_vcard},
};

static const struct handler *find_handler(const xnode *payload, enum target target)
{
    const char *ns = xnode_ns(payload);
    if (!ns) return NULL;
    for (size_t i = 0; i < sizeof handlers / sizeof *handlers; i++) {
        const struct handler *h = &handlers[i];
        if ((h->targets & target) && strcmp(h->element, payload->name) == 0 &&
            strcmp(h->ns, ns) == 0)
            return h;
    }
    return NULL;
}

static void address_reply(xnode *reply, const char *from_full, const char *to)
{
    xnode_set_attr(reply, "from", to);
    xnode_set_attr(reply, "to", from_full);
}

static xnode *error_answer(const xnode *iq, const char *from_full, const char *to,
                           const char *type, const char *condition)
{
    xnode *reply = stanza_error_reply(iq, type, condition, NULL);
    address_reply(reply, from_full, to);
    return reply;
}

xnode *iqinfo_answer(const xnode *iq, const char *from_full, const char *to,
                     const struct dir_user *to_user, const struct iqinfo_server *srv)
{
    const char *type = xnode_attr(iq, "type");
    if (strcmp(iq->name, "iq") != 0 || !type) return NULL;
    bool is_get = strcmp(type, "get") == 0;
    if (!is_get && strcmp(type, "set") != 0) return NULL;
    const xnode *payload = xnode_child(iq, NULL, NULL);
    const struct handler *h = payload ? find_handler(payload, to_user ? TO_ACCOUNT : TO_DOMAIN) : NULL;
    if (!h) return NULL;
    if (!is_get) return error_answer(iq, from_full, to, h->set_type, h->set_condition);
    xnode *reply = xnode_new("iq", NS_JABBER_CLIENT);
    xnode_set_attr(reply, "type", "result");
    xnode_set_attr(reply, "id", xnode_attr(iq, "id"));
    address_reply(reply, from_full, to);
    struct query_ctx q = {payload, to_user, srv};
    const char *condition = h->build(reply, &q);
    if (!condition) return reply;
    xnode_free(reply);
    return error_answer(iq, from_full, to, "cancel", condition);
}

xnode *stanza_error_reply(const xnode *stanza, const char *type, const char *condition,
                          const char *text)
{
    const char *ns = xnode_ns(stanza);
    xnode *reply = xnode_new(stanza->name, ns ? ns : NS_JABBER_CLIENT);
    xnode_set_attr(reply, "type", "error");
    xnode_set_attr(reply, "id", xnode_attr(stanza, "id"));
    xnode_set_attr(reply, "from", xnode_attr(stanza, "to"));
    xnode_set_attr(reply, "to", xnode_attr(stanza, "from"));
    if (strcmp(stanza->name, "iq") != 0) {
        for (const xnode *c = stanza->children; c; c = c->next) xnode_append_copy(reply, c);
    }
    xnode *error = xnode_add_child(reply, "error", NULL);
    xnode_set_attr(error, "type", type);
    xnode_add_child(error, condition, NS_XMPP_STANZAS);
    if (text) {
        xnode *text_node = xnode_add_child(error, "text", NS_XMPP_STANZAS);
        xnode_set_attr_ns(text_node, XMLNS_XML, "lang", "en");
        xnode_add_text(text_node, text, strlen(text));
    }
    return reply;
}
