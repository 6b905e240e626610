#include "colleagues.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include "buf.h"
#include "log.h"

/* One domain's list: its eligible users counted, the first `limit` kept. */
struct domain_list {
    const char *domain;                 /* borrowed from its first user */
    const struct dir_user **members;    /* file order */
    size_t n_members, cap_members;
    size_t eligible;
};

/* Domains in order of first appearance, found through an open-addressing
 * table of positions in `domains` (NO_DOMAIN: empty slot). Membership is a
 * flag per directory position: the directory's own index finds the user. */
struct colleagues {
    const struct directory *dir;
    struct domain_list *domains;
    size_t n_domains;
    size_t *slots;
    size_t mask;                        /* slot count - 1; a power of two */
    bool *member_at;                    /* by dir_user.order */
};

#define NO_DOMAIN SIZE_MAX
#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

/* FNV-1a over the ASCII-lowercased domain. */
static size_t domain_hash(const char *domain)
{
    uint64_t h = FNV_OFFSET;
    for (; *domain; domain++) h = (h ^ (unsigned char)tolower((unsigned char)*domain)) * FNV_PRIME;
    return (size_t)h;
}

/* The slot holding `domain`, or the empty slot where it would go. */
static size_t *domain_slot(const struct colleagues *c, const char *domain)
{
    size_t i = domain_hash(domain) & c->mask;
    while (c->slots[i] != NO_DOMAIN && strcasecmp(c->domains[c->slots[i]].domain, domain) != 0)
        i = (i + 1) & c->mask;
    return &c->slots[i];
}

/* The list of `domain`, or NULL when no eligible user has it. */
static const struct domain_list *find_domain(const struct colleagues *c, const char *domain)
{
    if (!c || c->n_domains == 0) return NULL;
    size_t position = *domain_slot(c, domain);
    return position == NO_DOMAIN ? NULL : &c->domains[position];
}

static struct domain_list *domain_for(struct colleagues *c, const char *domain)
{
    size_t *slot = domain_slot(c, domain);
    if (*slot == NO_DOMAIN) {
        *slot = c->n_domains;
        c->domains[c->n_domains++] = (struct domain_list){ .domain = domain };
    }
    return &c->domains[*slot];
}

static void add_member(struct colleagues *c, struct domain_list *list, const struct dir_user *user)
{
    if (list->n_members == list->cap_members) {
        list->cap_members = list->cap_members ? 2 * list->cap_members : 16;
        list->members = xrealloc(list->members, list->cap_members * sizeof *list->members);
    }
    list->members[list->n_members++] = user;
    c->member_at[user->order] = true;
}

/* Sizes the domain table for `n_users` domains (the most there can be), at
 * most half full. */
static void init_tables(struct colleagues *c, size_t n_users)
{
    size_t size = 8;
    while (size < 2 * n_users) size *= 2;
    c->slots = xmalloc(size * sizeof *c->slots);
    for (size_t i = 0; i < size; i++) c->slots[i] = NO_DOMAIN;
    c->mask = size - 1;
    c->domains = xcalloc(n_users ? n_users : 1, sizeof *c->domains);
    c->member_at = xcalloc(n_users ? n_users : 1, sizeof *c->member_at);
}

/* ROST-3 */
static void warn_incomplete(const struct colleagues *c, size_t limit)
{
    for (size_t i = 0; i < c->n_domains; i++) {
        const struct domain_list *list = &c->domains[i];
        if (list->eligible <= limit) continue;
        log_write(LOG_WARNING,
                  "IM: Automatic contact list for domain %s is incomplete: %zu users exceed the maximum of "
                  "%zu (MaximumRoster).", list->domain, list->eligible - limit, limit);
    }
}

struct colleagues *colleagues_build(const struct directory *dir, int maximum_roster)
{
    struct colleagues *c = xcalloc(1, sizeof *c);
    c->dir = dir;
    if (maximum_roster <= 0) return c;     /* ROST-4: disabled */
    size_t limit = (size_t)maximum_roster;
    size_t n_users = directory_user_count(dir);
    init_tables(c, n_users);
    for (size_t i = 0; i < n_users; i++) {
        const struct dir_user *user = directory_user_at(dir, i);
        if (!user->enabled || !user->publish_in_gal) continue;
        struct domain_list *list = domain_for(c, user->domain);
        list->eligible++;
        if (list->n_members < limit) add_member(c, list, user);
    }
    warn_incomplete(c, limit);
    return c;
}

void colleagues_free(struct colleagues *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_domains; i++) free(c->domains[i].members);
    free(c->domains);
    free(c->slots);
    free(c->member_at);
    free(c);
}

bool colleagues_is_member(const struct colleagues *c, const char *node, const char *domain)
{
    if (!c || !c->member_at) return false;
    const struct dir_user *user = directory_find_user(c->dir, node, domain);
    return user && c->member_at[user->order];
}

const struct dir_user *const *colleagues_members(const struct colleagues *c, const char *domain, size_t *n)
{
    const struct domain_list *list = find_domain(c, domain);
    *n = list ? list->n_members : 0;
    return list ? list->members : NULL;
}

/* Calls fn(user, added) for each member of `from` that is not one of `to`. */
static void report_missing(const struct colleagues *from, const struct colleagues *to, bool added,
                           void (*fn)(void *ctx, const struct dir_user *user, bool added), void *ctx)
{
    if (!from) return;
    for (size_t d = 0; d < from->n_domains; d++) {
        const struct domain_list *list = &from->domains[d];
        for (size_t i = 0; i < list->n_members; i++) {
            const struct dir_user *user = list->members[i];
            if (!colleagues_is_member(to, user->name, user->domain)) fn(ctx, user, added);
        }
    }
}

void colleagues_diff(const struct colleagues *old, const struct colleagues *new_,
                     void (*fn)(void *ctx, const struct dir_user *user, bool added), void *ctx)
{
    report_missing(old, new_, false, fn, ctx);
    report_missing(new_, old, true, fn, ctx);
}
