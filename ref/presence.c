#include "presence.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "directory.h"
#include "offline.h"
#include "roster.h"
#include "rosterview.h"
#include "colleagues.h"
#include "router.h"
#include "server.h"
#include "session.h"
#include "s2s.h"
#include "store.h"

static bool sub_has_from(enum sub_state s) { return s == SUB_FROM || s == SUB_BOTH; }
static bool sub_has_to(enum sub_state s) { return s == SUB_TO || s == SUB_BOTH; }

/* Is the (prepared) JID's domain hosted elsewhere? Bare JIDs, the common
 * case in broadcasts, are split without a copy. */
static bool is_remote(struct server *srv, const char *jid)
{
    const char *slash = strchr(jid, '/');
    const char *end = slash ? slash : jid + strlen(jid);
    const char *at = memchr(jid, '@', (size_t)(end - jid));
    const char *domain = at ? at + 1 : jid;
    if (!slash) return !server_hosts_domain(srv, domain);
    char *d = xstrndup(domain, (size_t)(end - domain));
    bool remote = !server_hosts_domain(srv, d);
    free(d);
    return remote;
}

/* S2S-4: one copy to a remote JID (bare or full), through its server. */
static void send_remote(struct server *srv, const char *jid, xnode *st)
{
    xnode_set_attr(st, "to", jid);
    s2s_send(srv, st);
}

/* Sends `st` to every available resource of `bare`, 'to' set per resource;
 * for a remote account, one copy to its server. */
static void send_to_available(struct server *srv, const char *bare, xnode *st)
{
    if (is_remote(srv, bare)) {
        send_remote(srv, bare, st);
        return;
    }
    for (struct session *s = sessions_of(srv->sessions, bare); s; s = s->next) {
        if (!s->available) continue;
        xnode_set_attr(st, "to", s->full_jid);
        router_send(s, st);
    }
}

/* Delivers a subscription stanza from the bare JID FROM to the account TO,
 * addressed to TO's bare JID as the sender wrote it: a request to every
 * available resource (RFC 6121 §3.1.3), the other three kinds to every
 * interested resource, one that has requested the roster (§3.1.6, §3.2.3,
 * §3.3.3). `original` (may be NULL) keeps the request's extended content. */
static void send_subscription_stanza(struct server *srv, const char *to, const char *from,
                                     const char *type, const xnode *original)
{
    xnode *st = original ? xnode_copy(original, "jabber:client") : xnode_new("presence", "jabber:client");
    xnode_set_attr(st, "type", type);
    xnode_set_attr(st, "from", from);
    xnode_set_attr(st, "to", to);
    bool request = strcmp(type, "subscribe") == 0;
    for (struct session *s = sessions_of(srv->sessions, to); s; s = s->next)
        if (request ? s->available : s->interested) router_send(s, st);
    xnode_free(st);
}

static bool is_local_account(struct server *srv, const char *bare)
{
    const char *at = strchr(bare, '@');
    if (!at) return false;
    char *node = xstrndup(bare, (size_t)(at - bare));
    bool found = directory_find_user(srv->dir, node, at + 1) != NULL;
    free(node);
    return found;
}

/* Sends `st` (from one of `from`'s resources) to the contacts subscribed to
 * the account and to the account's available resources. */
/* DOM-4: presence crosses the domain boundary only where stanzas may.
 * `contact` is a bare JID from the store, already prepared: it is split,
 * not prepared again (this runs for every contact of every broadcast). */
static bool may_exchange(struct server *srv, const struct session *s, const char *contact)
{
    const char *at = strchr(contact, '@');
    struct jid to = {
        .node = at ? xstrndup(contact, (size_t)(at - contact)) : NULL,
        .domain = xstrdup(at ? at + 1 : contact),
    };
    bool ok = router_domain_allows(srv, s->node, s->domain, &to);
    jid_clear(&to);
    return ok;
}

/* Calls fn for each colleague of the session's account with an available
 * resource, between whom presence flows (ROST-5). */
static void foreach_present_colleague(struct server *srv, const struct session *me,
                                      void (*fn)(struct server *srv, const char *bare, void *ctx), void *ctx)
{
    if (!srv->colleagues || !colleagues_is_member(srv->colleagues, me->node, me->domain)) return;
    size_t n = 0;
    const struct dir_user *const *members = colleagues_members(srv->colleagues, me->domain, &n);
    struct buf bare;
    buf_init(&bare);
    for (size_t i = 0; i < n; i++) {
        buf_reset(&bare);
        buf_printf(&bare, "%s@%s", members[i]->name, members[i]->domain);
        bool available = false;
        for (struct session *s = sessions_of(srv->sessions, bare.data); s && !available; s = s->next)
            available = s->available;
        if (available && rosterview_colleague_presence(srv, me->node, me->domain, bare.data)) fn(srv, bare.data, ctx);
    }
    buf_free(&bare);
}

static void send_to_colleague(struct server *srv, const char *bare, void *ctx)
{
    send_to_available(srv, bare, ctx);
}

static void broadcast(struct server *srv, struct session *from, xnode *st)
{
    struct roster_item *items = NULL;
    size_t n = 0;
    unsigned long long ver;
    if (store_roster_get(srv->store, from->bare_jid, &items, &n, &ver) == 0) {
        for (size_t i = 0; i < n; i++)
            if (sub_has_from(items[i].state.sub) && may_exchange(srv, from, items[i].jid) &&
                !rosterview_colleague(srv, from->node, from->domain, items[i].jid))
                send_to_available(srv, items[i].jid, st);
    }
    foreach_present_colleague(srv, from, send_to_colleague, st);
    roster_items_free(items, n);
    /* RFC 6121 §4.2.2, §4.4.2: every available resource of the account,
     * the sending one included. */
    send_to_available(srv, from->bare_jid, st);
}

/* The current presence of every available resource of `bare` to `me`. */
static void send_presence_to_me(struct server *srv, const char *bare, void *ctx)
{
    struct session *me = ctx;
    for (struct session *s = sessions_of(srv->sessions, bare); s; s = s->next) {
        if (!s->available || !s->presence) continue;
        xnode_set_attr(s->presence, "to", me->full_jid);
        router_send(me, s->presence);
    }
}

/* RFC 6121 §4.3: ask a remote contact's server for its presence. */
static void send_probe(struct server *srv, const char *from, const char *to)
{
    xnode *probe = xnode_new("presence", "jabber:client");
    xnode_set_attr(probe, "type", "probe");
    xnode_set_attr(probe, "from", from);
    send_remote(srv, to, probe);
    xnode_free(probe);
}

/* Initial presence: the presence of everyone the account is subscribed to
 * (a probe answered from local state), and pending subscription requests. */
static void probe_contacts(struct server *srv, struct session *me)
{
    struct roster_item *items = NULL;
    size_t n = 0;
    unsigned long long ver;
    if (store_roster_get(srv->store, me->bare_jid, &items, &n, &ver) < 0) return;
    for (size_t i = 0; i < n; i++) {
        if (!may_exchange(srv, me, items[i].jid)) continue;
        bool colleague = rosterview_colleague(srv, me->node, me->domain, items[i].jid) != NULL;
        if (sub_has_to(items[i].state.sub) && !colleague) {
            if (is_remote(srv, items[i].jid)) send_probe(srv, me->bare_jid, items[i].jid);
            else send_presence_to_me(srv, items[i].jid, me);
        }
        if (items[i].state.pending_in) {
            xnode *req = xnode_new("presence", "jabber:client");
            xnode_set_attr(req, "type", "subscribe");
            xnode_set_attr(req, "from", items[i].jid);
            xnode_set_attr(req, "to", me->bare_jid);
            router_send(me, req);
            xnode_free(req);
        }
    }
    roster_items_free(items, n);
    foreach_present_colleague(srv, me, send_presence_to_me, me);
    for (struct session *s = sessions_of(srv->sessions, me->bare_jid); s; s = s->next) {
        if (s == me || !s->available || !s->presence) continue;
        xnode_set_attr(s->presence, "to", me->full_jid);
        router_send(me, s->presence);
    }
}

static int presence_priority(const xnode *st)
{
    char *text = xnode_child_text(st, "priority", NULL);
    if (!text) return 0;
    long p = strtol(text, NULL, 10);
    free(text);
    if (p < -128) p = -128;
    if (p > 127) p = 127;
    return (int)p;
}

static void unavailable_to_directed(struct server *srv, struct session *s, xnode *unavail)
{
    for (size_t i = 0; i < s->n_directed; i++) {
        const char *target = s->directed[i];
        if (is_remote(srv, target)) {
            send_remote(srv, target, unavail);
        } else if (strchr(target, '/')) {
            struct session *t = sessions_find(srv->sessions, target);
            if (t) {
                xnode_set_attr(unavail, "to", target);
                router_send(t, unavail);
            }
        } else {
            send_to_available(srv, target, unavail);
        }
    }
}

static void broadcast_available(struct server *srv, struct session *from, xnode *st)
{
    bool initial = !from->available;
    from->available = true;
    from->priority = presence_priority(st);
    xnode_set_attr(st, "to", NULL);
    session_set_presence(from, st);
    broadcast(srv, from, st);
    if (!initial) return;
    probe_contacts(srv, from);
    if (from->priority >= 0) offline_deliver(srv, from);
}

static void broadcast_unavailable(struct server *srv, struct session *from, xnode *st)
{
    if (!from->available && from->n_directed == 0) return;
    xnode_set_attr(st, "to", NULL);
    if (from->available) broadcast(srv, from, st);
    unavailable_to_directed(srv, from, st);
    from->available = false;
    session_set_presence(from, NULL);
    for (size_t i = 0; i < from->n_directed; i++) free(from->directed[i]);
    from->n_directed = 0;
}

void presence_session_ended(struct server *srv, struct session *s)
{
    xnode *un = xnode_new("presence", "jabber:client");
    xnode_set_attr(un, "type", "unavailable");
    xnode_set_attr(un, "from", s->full_jid);
    broadcast_unavailable(srv, s, un);
    xnode_free(un);
}

static void directed(struct server *srv, struct session *from, xnode *st, const struct jid *to, bool available)
{
    char *target = to->resource ? jid_full(to) : jid_bare(to);
    if (available) session_add_directed(from, target);
    else session_remove_directed(from, target);
    if (!server_hosts_domain(srv, to->domain)) {
        send_remote(srv, target, st);
    } else if (to->resource) {
        struct session *t = sessions_find(srv->sessions, target);
        if (t) router_send(t, st);
    } else {
        send_to_available(srv, target, st);
    }
    free(target);
}

/* ---- subscriptions ------------------------------------------------------ */

static const char *const event_types[] = {
    [SUB_EV_OUT_SUBSCRIBE] = "subscribe", [SUB_EV_OUT_SUBSCRIBED] = "subscribed",
    [SUB_EV_OUT_UNSUBSCRIBE] = "unsubscribe", [SUB_EV_OUT_UNSUBSCRIBED] = "unsubscribed",
    [SUB_EV_IN_SUBSCRIBE] = "subscribe", [SUB_EV_IN_SUBSCRIBED] = "subscribed",
    [SUB_EV_IN_UNSUBSCRIBE] = "unsubscribe", [SUB_EV_IN_UNSUBSCRIBED] = "unsubscribed",
};

static enum sub_event inbound_of(enum sub_event out)
{
    return (enum sub_event)(out + SUB_EV_IN_SUBSCRIBE);
}

/* Applies `ev` to `owner`'s record for `peer`: stores the change (a record
 * without a roster item keeps a pending inbound request) and pushes what the
 * roster shows. */
static struct sub_outcome apply_event(struct server *srv, const char *owner, const char *peer, enum sub_event ev)
{
    struct roster_item it = { 0 };
    int found = store_roster_get_item(srv->store, owner, peer, &it);
    struct sub_item_state cur = { 0 };
    if (found > 0) cur = it.state;
    struct sub_outcome out = subscription_apply(cur, ev);
    if (found < 0 || !out.state_changed) {
        roster_item_clear(&it);
        return out;
    }
    unsigned long long version = 0;
    if (sub_record_needed(out.next)) {
        if (!found) it.jid = xstrdup(peer);
        it.state = out.next;
        if (store_roster_put(srv->store, owner, &it, &version) == 0 && out.roster_push && out.next.exists)
            roster_push(srv, owner, &it, version, false);
    } else if (found) {
        store_roster_delete(srv->store, owner, peer, &version);
    }
    roster_item_clear(&it);
    return out;
}

/* A subscription stanza from the local account `user` to a remote one. */
static void send_subscription_remote(struct server *srv, const char *user, const char *contact,
                                     const char *type, const xnode *original)
{
    xnode *st = original ? xnode_copy(original, "jabber:client") : xnode_new("presence", "jabber:client");
    xnode_set_attr(st, "type", type);
    xnode_set_attr(st, "from", user);
    send_remote(srv, contact, st);
    xnode_free(st);
}

static void send_presence_of(struct server *srv, const char *user, const char *contact, bool available)
{
    for (struct session *s = sessions_of(srv->sessions, user); s; s = s->next) {
        if (!s->available) continue;
        xnode *p;
        if (available && s->presence) {
            p = xnode_copy(s->presence, "jabber:client");
        } else {
            p = xnode_new("presence", "jabber:client");
            xnode_set_attr(p, "type", "unavailable");
        }
        xnode_set_attr(p, "from", s->full_jid);
        send_to_available(srv, contact, p);
        xnode_free(p);
    }
}

void presence_exchange(struct server *srv, const char *a, const char *b, bool available)
{
    send_presence_of(srv, a, b, available);
    send_presence_of(srv, b, a, available);
}

void presence_subscription(struct server *srv, const char *user, const char *contact, enum sub_event ev,
                           const xnode *original)
{
    struct sub_outcome out = apply_event(srv, user, contact, ev);
    if (!out.route) return;
    if (out.send_presence) send_presence_of(srv, user, contact, true);
    if (out.send_unavailable) send_presence_of(srv, user, contact, false);
    if (!is_local_account(srv, contact)) {
        /* RFC 6121 §3.1.3: a hosted domain's unknown account answers a
         * subscription request with unsubscribed. Remote ones: S2S (later). */
        const char *at = strchr(contact, '@');
        if (at && !server_hosts_domain(srv, at + 1)) {
            send_subscription_remote(srv, user, contact, event_types[ev], original);   /* S2S-4 */
        } else if (ev == SUB_EV_OUT_SUBSCRIBE && at) {
            struct sub_outcome back = apply_event(srv, user, contact, SUB_EV_IN_UNSUBSCRIBED);
            if (back.route) {
                send_subscription_stanza(srv, user, contact, "unsubscribed", NULL);
            }
        }
        return;
    }
    struct sub_outcome in = apply_event(srv, contact, user, inbound_of(ev));
    if (in.route) {
        send_subscription_stanza(srv, contact, user, event_types[ev], original);
    }
    if (in.auto_subscribed) {
        /* The contact had approved already (pre-approval, or 'from'): the
         * server answers for it, as if it had sent <presence type='subscribed'/>. */
        struct sub_outcome back = apply_event(srv, user, contact, SUB_EV_IN_SUBSCRIBED);
        if (back.route) {
            send_subscription_stanza(srv, user, contact, "subscribed", NULL);
        }
        if (in.send_presence) send_presence_of(srv, contact, user, true);
    }
    /* RFC 6121 §3.3.3: an unsubscribe that removes the contact's 'from'
     * ends the user's view of the contact's presence. */
    if (in.send_unavailable) send_presence_of(srv, contact, user, false);
}

static int subscription_event(const char *type, enum sub_event *ev)
{
    for (int e = SUB_EV_OUT_SUBSCRIBE; e <= SUB_EV_OUT_UNSUBSCRIBED; e++) {
        if (strcmp(type, event_types[e]) == 0) {
            *ev = (enum sub_event)e;
            return 0;
        }
    }
    return -1;
}

void presence_outbound(struct server *srv, struct session *from, xnode *st, const struct jid *to)
{
    const char *type = xnode_attr(st, "type");
    enum sub_event ev;
    if (type && subscription_event(type, &ev) == 0) {
        if (!to || !to->node) return;
        char *contact = jid_bare(to);
        if (strcmp(contact, from->bare_jid) != 0) presence_subscription(srv, from->bare_jid, contact, ev, st);
        free(contact);
        return;
    }
    bool available = !type;
    bool unavailable = type && strcmp(type, "unavailable") == 0;
    if (type && !unavailable && strcmp(type, "probe") != 0 && strcmp(type, "error") != 0) {
        router_bounce(srv, from, st, "modify", "bad-request", "unknown presence type");  /* RFC 6120 §8.3.3.1 */
        return;
    }
    if (!available && !unavailable) return;     /* probe, error: nothing to do */
    if (to) {
        directed(srv, from, st, to, available);
    } else if (available) {
        broadcast_available(srv, from, st);
    } else {
        broadcast_unavailable(srv, from, st);
    }
}

/* ---- from other servers (S2S-3) ---------------------------------------------- */

/* A subscription stanza from the remote account `remote` to the local one. */
static void subscription_inbound(struct server *srv, const char *local, const char *remote, enum sub_event out_ev,
                                 const xnode *original)
{
    struct sub_outcome in = apply_event(srv, local, remote, inbound_of(out_ev));
    if (in.route) send_subscription_stanza(srv, local, remote, event_types[out_ev], original);
    if (in.auto_subscribed) {
        send_subscription_remote(srv, local, remote, "subscribed", NULL);
        if (in.send_presence) send_presence_of(srv, local, remote, true);
    }
    if (in.send_unavailable) send_presence_of(srv, local, remote, false);
}

void presence_inbound(struct server *srv, xnode *st, const struct jid *from, const struct jid *to)
{
    if (!to->node) return;
    const char *type = xnode_attr(st, "type");
    char *local = jid_bare(to), *remote = jid_bare(from);
    enum sub_event ev;
    if (type && subscription_event(type, &ev) == 0) {
        subscription_inbound(srv, local, remote, ev, st);
    } else if (type && strcmp(type, "probe") == 0) {
        struct roster_item it = { 0 };
        if (store_roster_get_item(srv->store, local, remote, &it) > 0 && sub_has_from(it.state.sub))
            send_presence_of(srv, local, remote, true);
        roster_item_clear(&it);
    } else if (to->resource) {
        char *full = jid_full(to);
        struct session *t = sessions_find(srv->sessions, full);
        if (t) router_send(t, st);
        free(full);
    } else {
        send_to_available(srv, local, st);
    }
    free(local);
    free(remote);
}
