#include "roster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "colleagues.h"
#include "directory.h"
#include "jid.h"
#include "log.h"
#include "presence.h"
#include "rosterview.h"
#include "router.h"
#include "server.h"
#include "session.h"
#include "subscription.h"

#define NS_ROSTER "jabber:iq:roster"
#define ROSTER_TEXT_MAX 1023   /* bytes of an item's name or of a group (the server-configured limit of RFC 6121 2.3.3) */

/* Appends <item/> for `it` under `query`. */
static void roster_item_to_xml(xnode *query, const struct roster_item *it, bool removed)
{
    xnode *item = xnode_add_child(query, "item", NULL);
    xnode_set_attr(item, "jid", it->jid);
    if (removed) {
        xnode_set_attr(item, "subscription", "remove");
        return;
    }
    if (it->name && *it->name) xnode_set_attr(item, "name", it->name);
    xnode_set_attr(item, "subscription", sub_state_name(it->state.sub));
    if (it->state.ask_out) xnode_set_attr(item, "ask", "subscribe");
    if (it->state.preapproved) xnode_set_attr(item, "approved", "true");   /* RFC 6121 §3.4 */
    for (size_t i = 0; i < it->n_groups; i++) {
        xnode *g = xnode_add_child(item, "group", NULL);
        xnode_add_text(g, it->groups[i], strlen(it->groups[i]));
    }
}


void roster_push(struct server *srv, const char *user, const struct roster_item *item,
                 unsigned long long version, bool removed)
{
    xnode *iq = xnode_new("iq", "jabber:client");
    xnode_set_attr(iq, "type", "set");
    xnode *q = xnode_add_child(iq, "query", NS_ROSTER);
    char ver[48];
    rosterview_version(srv, version, ver, sizeof ver);
    xnode_set_attr(q, "ver", ver);
    roster_item_to_xml(q, item, removed);
    for (struct session *s = sessions_of(srv->sessions, user); s; s = s->next) {
        if (!s->interested) continue;
        char id[48];
        server_new_id(srv, id, sizeof id);
        xnode_set_attr(iq, "id", id);
        xnode_set_attr(iq, "to", s->full_jid);
        router_send(s, iq);
    }
    xnode_free(iq);
}

static void roster_result(struct session *from, const xnode *iq, xnode *query)
{
    xnode *r = xnode_new("iq", "jabber:client");
    xnode_set_attr(r, "type", "result");
    const char *id = xnode_attr(iq, "id");
    if (id) xnode_set_attr(r, "id", id);
    xnode_set_attr(r, "to", from->full_jid);
    if (query) xnode_append_copy(r, query);
    router_send(from, r);
    xnode_free(r);
}

static void roster_get(struct server *srv, struct session *from, const xnode *iq, const xnode *q)
{
    struct roster_item *items = NULL;
    size_t n = 0;
    char ver[48];
    if (rosterview_load(srv, from->node, from->domain, &items, &n, ver, sizeof ver) < 0) {
        router_bounce(srv, from, iq, "wait", "internal-server-error", NULL);
        return;
    }
    from->interested = true;
    const char *client_ver = xnode_attr(q, "ver");
    if (client_ver && strcmp(client_ver, ver) == 0) {
        roster_result(from, iq, NULL);   /* RFC 6121 §2.6.3: up to date */
    } else {
        xnode *query = xnode_new("query", NS_ROSTER);
        xnode_set_attr(query, "ver", ver);
        for (size_t i = 0; i < n; i++) roster_item_to_xml(query, &items[i], false);
        roster_result(from, iq, query);
        xnode_free(query);
    }
    roster_items_free(items, n);
}

/* Reads the groups of a roster set item; -1 if one is empty or repeated. */
/* Reads the item's groups into `out`. NULL, or the stanza error condition
 * RFC 6121 2.3.3 gives: bad-request for a duplicate group, not-acceptable
 * for an empty one or one longer than ROSTER_TEXT_MAX. */
static const char *read_groups(const xnode *item, struct roster_item *out)
{
    for (xnode *g = xnode_child(item, "group", NULL); g; g = xnode_next_child(item, g, "group", NULL)) {
        char *name = xnode_text_dup(g);
        if (!*name || strlen(name) > ROSTER_TEXT_MAX) {
            free(name);
            return "not-acceptable";
        }
        for (size_t i = 0; i < out->n_groups; i++) {
            if (strcmp(out->groups[i], name) == 0) {
                free(name);
                return "bad-request";
            }
        }
        out->groups = xrealloc(out->groups, (out->n_groups + 1) * sizeof *out->groups);
        out->groups[out->n_groups++] = name;
    }
    return NULL;
}

/* The item's name attribute, or NULL; *refused is set when it is longer
 * than ROSTER_TEXT_MAX (not-acceptable, RFC 6121 2.3.3). */
static const char *read_name(const xnode *item, bool *refused)
{
    const char *name = xnode_attr(item, "name");
    *refused = name && strlen(name) > ROSTER_TEXT_MAX;
    return name;
}

/* ROST-6: the user's change to a Colleagues item is kept as an override;
 * the item (or its removal) is pushed. */
static void colleague_change(struct server *srv, struct session *from, const xnode *iq,
                             const struct dir_user *colleague, struct colleague_override *ov)
{
    unsigned long long version = 0;
    if (store_override_put(srv->store, from->bare_jid, ov, &version) < 0) {
        router_bounce(srv, from, iq, "wait", "internal-server-error", NULL);
        return;
    }
    roster_result(from, iq, NULL);
    struct roster_item it;
    rosterview_colleague_item(colleague, ov, &it);
    roster_push(srv, from->bare_jid, &it, version, ov->removed);
    /* ROST-5: removing a colleague ends the pair's presence both ways. */
    if (ov->removed) presence_exchange(srv, from->bare_jid, it.jid, false);
    roster_item_clear(&it);
}

static void roster_remove(struct server *srv, struct session *from, const xnode *iq, const char *contact)
{
    const struct dir_user *colleague = rosterview_colleague(srv, from->node, from->domain, contact);
    struct colleague_override prev = { 0 };
    bool already_removed = colleague && store_override_get(srv->store, from->bare_jid, contact, &prev) > 0 &&
                           prev.removed;
    colleague_override_clear(&prev);
    if (colleague && !already_removed) {
        struct colleague_override ov = { .contact = (char *)contact, .removed = true };
        colleague_change(srv, from, iq, colleague, &ov);
        return;
    }
    struct roster_item cur = { 0 };
    int found = store_roster_get_item(srv->store, from->bare_jid, contact, &cur);
    if (found > 0 && !cur.state.exists) found = 0;   /* only a pending request */
    if (found <= 0) {
        roster_item_clear(&cur);
        router_bounce(srv, from, iq, "cancel", found < 0 ? "internal-server-error" : "item-not-found", NULL);
        return;
    }
    /* RFC 6121 §2.5.2: cancel both directions before the item goes. */
    if (cur.state.sub == SUB_TO || cur.state.sub == SUB_BOTH || cur.state.ask_out)
        presence_subscription(srv, from->bare_jid, contact, SUB_EV_OUT_UNSUBSCRIBE, NULL);
    if (cur.state.sub == SUB_FROM || cur.state.sub == SUB_BOTH || cur.state.pending_in)
        presence_subscription(srv, from->bare_jid, contact, SUB_EV_OUT_UNSUBSCRIBED, NULL);
    unsigned long long version = 0;
    if (store_roster_delete(srv->store, from->bare_jid, contact, &version) < 0) {
        roster_item_clear(&cur);
        router_bounce(srv, from, iq, "wait", "internal-server-error", NULL);
        return;
    }
    roster_result(from, iq, NULL);
    roster_push(srv, from->bare_jid, &cur, version, true);
    roster_item_clear(&cur);
}

static void roster_set(struct server *srv, struct session *from, const xnode *iq, const xnode *q)
{
    const xnode *item = xnode_child(q, "item", NULL);
    if (!item || xnode_next_child(q, item, "item", NULL)) {
        router_bounce(srv, from, iq, "modify", "bad-request", NULL);
        return;
    }
    struct jid contact = { 0 };
    const char *jid_attr = xnode_attr(item, "jid");
    if (!jid_attr || jid_parse(jid_attr, &contact) < 0) {
        router_bounce(srv, from, iq, "modify", "bad-request", NULL);
        return;
    }
    char *bare = jid_bare(&contact);
    jid_clear(&contact);
    const char *sub = xnode_attr(item, "subscription");
    if (sub && strcmp(sub, "remove") == 0) {
        roster_remove(srv, from, iq, bare);
        free(bare);
        return;
    }
    const struct dir_user *colleague = rosterview_colleague(srv, from->node, from->domain, bare);
    if (colleague) {
        /* A new name or groups for a Colleagues item (ROST-6). */
        struct roster_item groups = { 0 };
        bool long_name;
        const char *name = read_name(item, &long_name);
        const char *refused = long_name ? "not-acceptable" : read_groups(item, &groups);
        if (refused) {
            roster_item_clear(&groups);
            free(bare);
            router_bounce(srv, from, iq, "modify", refused, NULL);
            return;
        }
        struct colleague_override ov = { .contact = bare, .name = (char *)name, .groups = groups.groups,
                                         .n_groups = groups.n_groups, .has_groups = true };
        colleague_change(srv, from, iq, colleague, &ov);
        roster_item_clear(&groups);
        free(bare);
        return;
    }
    struct roster_item it = { 0 };
    int found = store_roster_get_item(srv->store, from->bare_jid, bare, &it);
    if (found < 0) {
        free(bare);
        router_bounce(srv, from, iq, "wait", "internal-server-error", NULL);
        return;
    }
    if (!found) it.jid = xstrdup(bare);
    it.state.exists = true;
    free(bare);
    /* Only name and groups are the client's to set (RFC 6121 §2.1.2.5). */
    free(it.name);
    bool long_name;
    const char *name = read_name(item, &long_name);
    it.name = name ? xstrdup(name) : NULL;
    for (size_t i = 0; i < it.n_groups; i++) free(it.groups[i]);
    free(it.groups);
    it.groups = NULL;
    it.n_groups = 0;
    const char *refused = long_name ? "not-acceptable" : read_groups(item, &it);
    if (refused) {
        roster_item_clear(&it);
        router_bounce(srv, from, iq, "modify", refused, NULL);
        return;
    }
    unsigned long long version = 0;
    if (store_roster_put(srv->store, from->bare_jid, &it, &version) < 0) {
        roster_item_clear(&it);
        router_bounce(srv, from, iq, "wait", "internal-server-error", NULL);
        return;
    }
    roster_result(from, iq, NULL);
    roster_push(srv, from->bare_jid, &it, version, false);
    roster_item_clear(&it);
}

void roster_handle_iq(struct server *srv, struct session *from, const xnode *iq)
{
    const xnode *q = xnode_child(iq, "query", NS_ROSTER);
    const char *type = xnode_attr(iq, "type");
    if (type && strcmp(type, "get") == 0) roster_get(srv, from, iq, q);
    else if (type && strcmp(type, "set") == 0) roster_set(srv, from, iq, q);
}

/* ---- Colleagues changes (ROST-7, ROST-8) ---------------------------------- */

static bool online_interested(struct server *srv, const char *bare)
{
    for (struct session *s = sessions_of(srv->sessions, bare); s; s = s->next)
        if (s->interested) return true;
    return false;
}

/* Pushes to `owner` the Colleagues item for `colleague` (with the owner's
 * override) or its removal. */
static void push_colleague(struct server *srv, const char *owner, const struct dir_user *colleague, bool removed)
{
    if (!online_interested(srv, owner)) return;
    struct buf jid;
    buf_init(&jid);
    buf_printf(&jid, "%s@%s", colleague->name, colleague->domain);
    struct colleague_override ov = { 0 };
    int has = store_override_get(srv->store, owner, jid.data, &ov);
    unsigned long long version = 0;
    if (has >= 0 && !(has && ov.removed && !removed) && store_roster_version(srv->store, owner, &version) == 0) {
        struct roster_item it;
        rosterview_colleague_item(colleague, has > 0 ? &ov : NULL, &it);
        roster_push(srv, owner, &it, version, removed);
        roster_item_clear(&it);
    }
    if (has > 0) colleague_override_clear(&ov);
    buf_free(&jid);
}

struct change_ctx {
    struct server *srv;
    const struct colleagues *old, *now;
};

/* One user joined or left its domain's list: every other member (of the
 * list the user is in now, or was in) gets the item or its removal, and
 * the user gets theirs. */
static void on_colleague_change(void *ctx, const struct dir_user *user, bool added)
{
    struct change_ctx *cc = ctx;
    size_t n = 0;
    const struct dir_user *const *members = colleagues_members(added ? cc->now : cc->old, user->domain, &n);
    struct buf bare;
    buf_init(&bare);
    buf_printf(&bare, "%s@%s", user->name, user->domain);
    struct buf other;
    buf_init(&other);
    for (size_t i = 0; i < n; i++) {
        const struct dir_user *m = members[i];
        if (m == user || (strcasecmp(m->name, user->name) == 0 && strcasecmp(m->domain, user->domain) == 0))
            continue;
        buf_reset(&other);
        buf_printf(&other, "%s@%s", m->name, m->domain);
        push_colleague(cc->srv, other.data, user, !added);
        push_colleague(cc->srv, bare.data, m, !added);
        /* Presence starts or ends with the list (ROST-5, ROST-8). */
        if (!added || rosterview_colleague_presence(cc->srv, user->name, user->domain, other.data))
            presence_exchange(cc->srv, bare.data, other.data, added);
    }
    buf_free(&other);
    buf_free(&bare);
}

void roster_colleagues_changed(struct server *srv, const struct colleagues *old, const struct colleagues *now)
{
    struct change_ctx cc = { srv, old, now };
    colleagues_diff(old, now, on_colleague_change, &cc);
}

int roster_restore_colleagues(struct server *srv, const char *node, const char *domain)
{
    struct buf bare;
    buf_init(&bare);
    buf_printf(&bare, "%s@%s", node, domain);
    struct colleague_override *ovs = NULL;
    size_t n = 0;
    unsigned long long version = 0;
    int cleared = -1;
    if (store_override_list(srv->store, bare.data, &ovs, &n) == 0 &&
        (cleared = store_override_clear(srv->store, bare.data, &version)) > 0) {
        for (size_t i = 0; i < n; i++) {
            const struct dir_user *c = rosterview_colleague(srv, node, domain, ovs[i].contact);
            if (!c) continue;                 /* no longer a colleague: nothing to show */
            struct roster_item it;
            rosterview_colleague_item(c, NULL, &it);
            roster_push(srv, bare.data, &it, version, false);
            if (ovs[i].removed && rosterview_colleague_presence(srv, node, domain, it.jid))
                presence_exchange(srv, bare.data, it.jid, true);     /* ROST-5 again */
            roster_item_clear(&it);
        }
    }
    colleague_overrides_free(ovs, n);
    buf_free(&bare);
    return cleared;
}
