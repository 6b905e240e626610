#include "rosterview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "colleagues.h"
#include "directory.h"
#include "server.h"

const struct dir_user *rosterview_colleague(const struct server *srv, const char *node, const char *domain,
                                            const char *contact)
{
    if (!srv->colleagues || !colleagues_is_member(srv->colleagues, node, domain)) return NULL;
    const char *at = strchr(contact, '@');
    if (!at || strcasecmp(at + 1, domain) != 0) return NULL;
    char *cnode = xstrndup(contact, (size_t)(at - contact));
    const struct dir_user *u = NULL;
    if (strcasecmp(cnode, node) != 0 && colleagues_is_member(srv->colleagues, cnode, domain))
        u = directory_find_user(srv->dir, cnode, domain);
    free(cnode);
    return u;
}

bool rosterview_colleague_presence(struct server *srv, const char *node, const char *domain,
                                   const char *contact)
{
    if (!rosterview_colleague(srv, node, domain, contact)) return false;
    struct buf me;
    buf_init(&me);
    buf_printf(&me, "%s@%s", node, domain);
    bool cut = store_override_removed_either(srv->store, me.data, contact) != 0;
    buf_free(&me);
    return !cut;
}

static char **copy_strings(char *const *src, size_t n)
{
    char **out = xcalloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++) out[i] = xstrdup(src[i]);
    return out;
}

void rosterview_colleague_item(const struct dir_user *colleague, const struct colleague_override *ov,
                               struct roster_item *out)
{
    memset(out, 0, sizeof *out);
    struct buf jid;
    buf_init(&jid);
    buf_printf(&jid, "%s@%s", colleague->name, colleague->domain);
    out->jid = buf_steal(&jid);
    const char *name = ov && ov->name ? ov->name : *colleague->fullname ? colleague->fullname : colleague->name;
    out->name = xstrdup(name);
    out->state.sub = SUB_BOTH;
    out->state.exists = true;
    if (ov && ov->has_groups) {
        out->groups = copy_strings(ov->groups, ov->n_groups);
        out->n_groups = ov->n_groups;
    } else {
        char *def = COLLEAGUES_GROUP;
        out->groups = copy_strings(&def, 1);
        out->n_groups = 1;
    }
}

void rosterview_version(const struct server *srv, unsigned long long store_version, char *out, size_t n)
{
    snprintf(out, n, "%llu-%llu", store_version, srv->colleagues_generation);
}

static const struct colleague_override *find_override(const struct colleague_override *ovs, size_t n,
                                                      const char *contact)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ovs[i].contact, contact) == 0) return &ovs[i];
    return NULL;
}

static struct roster_item *grow(struct roster_item **items, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *items = xrealloc(*items, *cap * sizeof **items);
    }
    return &(*items)[(*n)++];
}

int rosterview_load(struct server *srv, const char *node, const char *domain, struct roster_item **items,
                    size_t *n, char *ver, size_t verlen)
{
    struct buf bare;
    buf_init(&bare);
    buf_printf(&bare, "%s@%s", node, domain);
    struct roster_item *stored = NULL;
    size_t n_stored = 0;
    unsigned long long version = 0;
    struct colleague_override *ovs = NULL;
    size_t n_ovs = 0;
    if (store_roster_get(srv->store, bare.data, &stored, &n_stored, &version) < 0 ||
        store_override_list(srv->store, bare.data, &ovs, &n_ovs) < 0) {
        roster_items_free(stored, n_stored);
        buf_free(&bare);
        return -1;
    }
    struct roster_item *out = NULL;
    size_t count = 0, cap = 0;
    size_t n_members = 0;
    const struct dir_user *const *members = NULL;
    if (srv->colleagues && colleagues_is_member(srv->colleagues, node, domain))
        members = colleagues_members(srv->colleagues, domain, &n_members);
    for (size_t i = 0; i < n_members; i++) {
        const struct dir_user *m = members[i];
        if (strcasecmp(m->name, node) == 0) continue;          /* never himself */
        struct buf jid;
        buf_init(&jid);
        buf_printf(&jid, "%s@%s", m->name, m->domain);
        const struct colleague_override *ov = find_override(ovs, n_ovs, jid.data);
        buf_free(&jid);
        if (ov && ov->removed) continue;
        rosterview_colleague_item(m, ov, grow(&out, &count, &cap));
    }
    for (size_t i = 0; i < n_stored; i++) {
        const struct colleague_override *ov = find_override(ovs, n_ovs, stored[i].jid);
        bool shown_as_colleague = rosterview_colleague(srv, node, domain, stored[i].jid) && !(ov && ov->removed);
        if (!stored[i].state.exists || shown_as_colleague) {
            roster_item_clear(&stored[i]);
            continue;
        }
        *grow(&out, &count, &cap) = stored[i];                 /* moved */
    }
    free(stored);
    colleague_overrides_free(ovs, n_ovs);
    rosterview_version(srv, version, ver, verlen);
    buf_free(&bare);
    *items = out;
    *n = count;
    return 0;
}
