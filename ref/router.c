#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "config.h"
#include "directory.h"
#include "iqinfo.h"
#include "jid.h"
#include "offline.h"
#include "policy.h"
#include "presence.h"
#include "archive.h"
#include "roster.h"
#include "s2s.h"
#include "server.h"
#include "session.h"

void router_send(struct session *s, const xnode *stanza)
{
    c2s_send(s->c2s, stanza);
}

/* A stanza the server made, to its 'to': the local session `sender` when
 * known, else a remote server (S2S). Takes ownership. */
static void reply(struct server *srv, struct session *sender, xnode *st)
{
    struct jid to = { 0 };
    const char *to_attr = xnode_attr(st, "to");
    bool local = !sender && to_attr && jid_parse(to_attr, &to) == 0 && server_hosts_domain(srv, to.domain);
    jid_clear(&to);
    if (sender) {
        router_send(sender, st);
    } else if (local) {
        router_deliver_local(srv, st);       /* a local sender whose session has gone */
        return;
    } else {
        s2s_send(srv, st);
    }
    xnode_free(st);
}

void router_bounce(struct server *srv, struct session *sender, const xnode *stanza,
                   const char *type, const char *condition, const char *text)
{
    const char *t = xnode_attr(stanza, "type");
    if (t && strcmp(t, "error") == 0) return;
    if (strcmp(stanza->name, "iq") == 0 && t && (strcmp(t, "result") == 0)) return;
    xnode *err = stanza_error_reply(stanza, type, condition, text);
    if (!xnode_attr(err, "from") && sender) xnode_set_attr(err, "from", sender->domain);
    reply(srv, sender, err);
}

static bool type_is(const xnode *st, const char *type)
{
    const char *t = xnode_attr(st, "type");
    if (!t) return strcmp(type, "normal") == 0 && strcmp(st->name, "message") == 0;
    return strcmp(t, type) == 0;
}

enum bare_message_plan router_plan_bare_message(const char *type, bool has_body,
                                                const struct route_candidate *res, size_t n,
                                                bool *deliver)
{
    if (!type) type = "normal";
    int best = -1;     /* highest non-negative priority among available resources */
    for (size_t i = 0; i < n; i++)
        if (res[i].available && res[i].priority >= 0 && res[i].priority > best) best = res[i].priority;
    bool headline = strcmp(type, "headline") == 0;
    bool error = strcmp(type, "error") == 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        bool eligible = res[i].available && res[i].priority >= 0;
        /* headline: every non-negative resource; error: just one of the best. */
        deliver[i] = eligible && (headline || res[i].priority == best) && !(error && any);
        any = any || deliver[i];
    }
    if (any) return PLAN_DELIVER;
    if (headline || error || !has_body) return PLAN_DROP;
    if (strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0) return PLAN_DROP;
    return PLAN_OFFLINE;
}

/* Message delivery to a local bare JID (IM-1): the available resources of
 * highest non-negative priority, else offline storage for chat/normal with a
 * body. `sender` (may be NULL) gets the error if the store is full. */
/* Resources of one account on the stack; more than this many take the heap. */
#define CANDIDATES_ON_STACK 16

static void router_deliver_message_bare(struct server *srv, struct session *sender, const struct jid *to,
                                 xnode *msg)
{
    struct session *list = sessions_of_account(srv->sessions, to->node, to->domain);
    size_t n = 0;
    for (struct session *s = list; s; s = s->next) n++;
    struct route_candidate res_stack[CANDIDATES_ON_STACK] = { { 0 } };
    bool deliver_stack[CANDIDATES_ON_STACK] = { 0 };
    bool on_heap = n > CANDIDATES_ON_STACK;
    struct route_candidate *res = on_heap ? xcalloc(n, sizeof *res) : res_stack;
    bool *deliver = on_heap ? xcalloc(n, sizeof *deliver) : deliver_stack;
    size_t i = 0;
    for (struct session *s = list; s; s = s->next, i++)
        res[i] = (struct route_candidate){ .available = s->available, .priority = s->priority };
    enum bare_message_plan plan = router_plan_bare_message(
        xnode_attr(msg, "type"), xnode_child(msg, "body", NULL) != NULL, res, n, deliver);
    i = 0;
    for (struct session *s = list; s && plan == PLAN_DELIVER; s = s->next, i++)
        if (deliver[i]) router_send(s, msg);
    if (on_heap) {
        free(res);
        free(deliver);
    }
    if (plan != PLAN_OFFLINE) return;
    char *bare = jid_bare(to);
    int r = offline_store(srv, bare, msg);
    free(bare);
    if (r != 0 && sender)
        router_bounce(srv, sender, msg, r > 0 ? "wait" : "cancel",
                      r > 0 ? "service-unavailable" : "internal-server-error",
                      r > 0 ? "the recipient's offline storage is full" : NULL);
}

static const struct dir_user *local_user(struct server *srv, const struct jid *to)
{
    if (!to->node) return NULL;
    return directory_find_user(srv->dir, to->node, to->domain);
}

/* A message already accepted (policy checked, recipient valid): to the
 * remote server (when it comes from a local account), the addressed
 * session, or the account (IM-1). `from` (may be NULL) gets the errors.
 * Borrows msg. */
static void deliver_message(struct server *srv, struct session *from, bool from_local, xnode *msg,
                            const struct jid *to)
{
    if (!server_hosts_domain(srv, to->domain)) {
        if (from_local) s2s_send(srv, msg);                /* S2S-4 */
        return;
    }
    if (to->resource) {
        struct session *target = sessions_find_resource(srv->sessions, to->node, to->domain, to->resource);
        if (target) {
            router_send(target, msg);
        } else if (type_is(msg, "chat") || type_is(msg, "normal")) {
            router_deliver_message_bare(srv, from, to, msg);   /* RFC 6121 §8.5.3.2.1 */
        }
    } else {
        router_deliver_message_bare(srv, from, to, msg);
    }
}

/* ARCH-1: a message with a body goes through the archive when it is on. */
static bool archived(const struct server *srv, const xnode *msg)
{
    return srv->cfg->archive.enabled && srv->archive && !type_is(msg, "error") &&
           xnode_child(msg, "body", NULL) != NULL;
}

static void route_message(struct server *srv, struct session *from, xnode *msg, const struct jid *to)
{
    if (!server_hosts_domain(srv, to->domain)) {
        if (!from) return;                                 /* remote to remote: not ours */
    } else if (!to->node || !local_user(srv, to) || type_is(msg, "groupchat")) {
        router_bounce(srv, from, msg, "cancel", "service-unavailable", NULL);   /* IM-5 */
        return;
    }
    if (archived(srv, msg)) {
        /* ARCH-3: delivered once its line is durable (router_archive_released) */
        archive_submit(srv->archive, xnode_copy(msg, NS_CLIENT), from ? from->full_jid : "");
        return;
    }
    deliver_message(srv, from, from != NULL, msg, to);
}

void router_archive_released(void *owner, xnode *msg, const char *sender, bool deliver)
{
    struct server *srv = owner;
    bool from_local = sender[0] != '\0';
    struct session *from = from_local ? sessions_find(srv->sessions, sender) : NULL;
    struct jid to = { 0 };
    const char *to_attr = xnode_attr(msg, "to");
    if (to_attr && jid_parse(to_attr, &to) == 0) {
        if (deliver) deliver_message(srv, from, from_local, msg, &to);
        else router_bounce(srv, from, msg, "wait", "resource-constraint", "the message archive cannot be written");
    }
    jid_clear(&to);
    xnode_free(msg);
}

static bool iq_is_request(const xnode *iq)
{
    return type_is(iq, "get") || type_is(iq, "set");
}

/* Answers an informational iq (iqinfo) addressed to `to` (a domain or an
 * account's bare JID); a request nobody answers gets service-unavailable. */
static void answer_info_iq(struct server *srv, struct session *from, xnode *iq, const char *to,
                           const struct dir_user *user)
{
    const char *requester = from ? from->full_jid : xnode_attr(iq, "from");
    xnode *answer = iq_is_request(iq) ? iqinfo_answer(iq, requester, to, user, &srv->info) : NULL;
    if (answer) reply(srv, from, answer);
    else if (iq_is_request(iq)) router_bounce(srv, from, iq, "cancel", "service-unavailable", NULL);
}

/* An iq the server answers for the account itself (no 'to', or own bare JID). */
static void route_iq_to_self(struct server *srv, struct session *from, xnode *iq)
{
    if (xnode_child(iq, "query", "jabber:iq:roster")) {
        roster_handle_iq(srv, from, iq);
        return;
    }
    if (type_is(iq, "get") && xnode_child(iq, "ping", "urn:xmpp:ping")) {
        xnode *pong = xnode_new("iq", "jabber:client");     /* XEP-0199 §4.3 */
        xnode_set_attr(pong, "type", "result");
        xnode_set_attr(pong, "id", xnode_attr(iq, "id"));
        xnode_set_attr(pong, "to", from->full_jid);
        router_send(from, pong);
        xnode_free(pong);
        return;
    }
    const struct dir_user *me = directory_find_user(srv->dir, from->node, from->domain);
    char *bare = xstrdup(from->bare_jid);
    xnode_set_attr(iq, "to", NULL);
    answer_info_iq(srv, from, iq, bare, me);
    free(bare);
}

static bool iq_well_formed(struct server *srv, struct session *from, xnode *iq)
{
    if (!type_is(iq, "get") && !type_is(iq, "set") && !type_is(iq, "result") && !type_is(iq, "error")) {
        router_bounce(srv, from, iq, "modify", "bad-request", NULL);
        return false;
    }
    if (!xnode_attr(iq, "id") || (iq_is_request(iq) && xnode_count_children(iq) != 1)) {
        router_bounce(srv, from, iq, "modify", "bad-request", NULL);   /* RFC 6120 §8.1.3, §8.2.3 */
        return false;
    }
    return true;
}

/* An iq to a hosted domain, an account or a resource; `from` is NULL when
 * it came from a remote server. */
static void route_iq_to_local(struct server *srv, struct session *from, xnode *iq, const struct jid *to)
{
    if (!to->node && !to->resource) {                  /* the server itself */
        char *dom = jid_bare(to);
        answer_info_iq(srv, from, iq, dom, NULL);
        free(dom);
        return;
    }
    const struct dir_user *user = local_user(srv, to);
    if (!user) {
        if (iq_is_request(iq)) router_bounce(srv, from, iq, "cancel", "service-unavailable", NULL);
        return;
    }
    if (!to->resource) {
        if (from && strcmp(from->node, to->node) == 0 && strcmp(from->domain, to->domain) == 0) {
            route_iq_to_self(srv, from, iq);
            return;
        }
        char *bare = jid_bare(to);
        answer_info_iq(srv, from, iq, bare, user);
        free(bare);
        return;
    }
    struct session *target = sessions_find_resource(srv->sessions, to->node, to->domain, to->resource);
    if (target) router_send(target, iq);
    else if (iq_is_request(iq)) router_bounce(srv, from, iq, "cancel", "service-unavailable", NULL);
}

static void route_iq(struct server *srv, struct session *from, xnode *iq, const struct jid *to)
{
    if (!iq_well_formed(srv, from, iq)) return;
    if (!to) {
        route_iq_to_self(srv, from, iq);
        return;
    }
    if (!server_hosts_domain(srv, to->domain)) {
        s2s_send(srv, iq);                                 /* S2S-4 */
        return;
    }
    route_iq_to_local(srv, from, iq, to);
}

bool router_domain_allows(struct server *srv, const char *from_node, const char *from_domain,
                          const struct jid *to)
{
    const struct dir_user *fu = directory_find_user(srv->dir, from_node, from_domain);
    const struct dir_user *tu = to->node ? directory_find_user(srv->dir, to->node, to->domain) : NULL;
    bool send_outside = srv->cfg->send_outside;
    struct policy_end a = {
        .domain = from_domain, .has_node = true, .local_account = true,
        /* an account removed while logged in counts as restricted */
        .restricted = !fu || policy_user_restricted(send_outside, fu, srv->dir),
    };
    struct policy_end b = {
        .domain = to->domain, .has_node = to->node != NULL, .local_account = tu != NULL,
        .restricted = tu && policy_user_restricted(send_outside, tu, srv->dir),
    };
    return policy_domain(&a, &b, server_hosts_domain(srv, to->domain)) == POLICY_ALLOW;
}

/* DOM-4, DOM-5: may this stanza cross the domain boundary? A refused
 * message, iq or subscription request gets the error; other presence is
 * dropped silently. Nothing refused is delivered or stored. */
static bool domain_check(struct server *srv, struct session *from, const xnode *st, const struct jid *to)
{
    if (router_domain_allows(srv, from->node, from->domain, to)) return true;
    const char *type = xnode_attr(st, "type");
    bool presence = strcmp(st->name, "presence") == 0;
    if (!presence || (type && strcmp(type, "subscribe") == 0))
        router_bounce(srv, from, st, "cancel", "not-allowed", POLICY_DOMAIN_TEXT);
    return false;
}

/* Memory router_route reuses from stanza to stanza: the prepared 'to' (its
 * parts, and as text). Nothing routing calls routes another client stanza
 * today; should a call ever re-enter, it gets buffers of its own. */
static struct buf reused_parts, reused_text;
static bool routing;

static void route_prepared(struct server *srv, struct session *from, xnode *st, struct buf *to_parts,
                           struct buf *to_text)
{
    /* RFC 6120 §8.1.2.1: the server stamps the sender's full JID. */
    xnode_set_attr(st, "from", from->full_jid);
    const char *to_attr = xnode_attr(st, "to");
    struct jid to = { 0 };
    bool has_to = to_attr != NULL;
    if (has_to && jid_parse_into(to_attr, &to, to_parts) < 0) {
        router_bounce(srv, from, st, "modify", "jid-malformed", NULL);      /* BIND-3 */
        return;
    }
    if (has_to) {
        buf_reset(to_text);
        jid_append_full(&to, to_text);
        if (strcmp(to_text->data, to_attr) != 0) xnode_set_attr(st, "to", to_text->data);
    }
    if (has_to && !domain_check(srv, from, st, &to)) {
        /* refused: nothing more */
    } else if (strcmp(st->name, "presence") == 0) {
        presence_outbound(srv, from, st, has_to ? &to : NULL);
    } else if (strcmp(st->name, "message") == 0) {
        if (!has_to) {
            jid_parse_into(from->bare_jid, &to, to_parts);
            xnode_set_attr(st, "to", from->bare_jid);
        }
        route_message(srv, from, st, &to);
    } else {
        route_iq(srv, from, st, has_to ? &to : NULL);
    }
}

void router_route(struct server *srv, struct session *from, xnode *st)
{
    if (!routing) {
        routing = true;
        route_prepared(srv, from, st, &reused_parts, &reused_text);
        routing = false;
    } else {
        struct buf parts, text;
        buf_init(&parts);
        buf_init(&text);
        route_prepared(srv, from, st, &parts, &text);
        buf_free(&parts);
        buf_free(&text);
    }
    xnode_free(st);
}

/* ---- from other servers (S2S-3, S2S-5) ------------------------------------ */

void router_route_inbound(struct server *srv, xnode *st, const struct jid *from, const struct jid *to)
{
    char *norm = jid_full(to);
    xnode_set_attr(st, "to", norm);
    free(norm);
    norm = jid_full(from);
    xnode_set_attr(st, "from", norm);
    free(norm);
    const char *type = xnode_attr(st, "type");
    bool presence = strcmp(st->name, "presence") == 0;
    bool account = to->node && local_user(srv, to);     /* else: service-unavailable below */
    if (account && !router_domain_allows(srv, to->node, to->domain, from)) {
        /* DOM-5 across servers: the local recipient may not hear from outside. */
        if (!presence || (type && strcmp(type, "subscribe") == 0))
            router_bounce(srv, NULL, st, "cancel", "not-allowed", POLICY_DOMAIN_TEXT);
    } else if (presence) {
        presence_inbound(srv, st, from, to);
    } else if (strcmp(st->name, "message") == 0) {
        route_message(srv, NULL, st, to);
    } else if (iq_well_formed(srv, NULL, st)) {
        route_iq_to_local(srv, NULL, st, to);
    }
    xnode_free(st);
}

void router_deliver_local(struct server *srv, xnode *st)
{
    struct jid to = { 0 };
    const char *t = xnode_attr(st, "to");
    if (t && jid_parse(t, &to) == 0 && server_hosts_domain(srv, to.domain) && to.node) {
        struct session *target =
            to.resource ? sessions_find_resource(srv->sessions, to.node, to.domain, to.resource) : NULL;
        if (target) router_send(target, st);
        else if (strcmp(st->name, "message") == 0) router_deliver_message_bare(srv, NULL, &to, st);
    }
    jid_clear(&to);
    xnode_free(st);
}
