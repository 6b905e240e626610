#include "session.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* An account's entry: its bare JID and its list of resources. */
struct account {
    char *bare_jid;
    struct session *resources;
    struct account *next;      /* hash chain */
};

struct sessions {
    struct account **buckets;
    size_t n_buckets, n_accounts;
};

#define FNV_OFFSET 1469598103934665603ULL

static uint64_t hash_bytes(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;   /* FNV-1a */
    return h;
}

/* An account's key "node@domain", given as its two parts (not NUL-terminated). */
struct bare_key {
    const char *node, *domain;
    size_t node_len, domain_len;
};

static uint64_t hash_key(const struct bare_key *k)
{
    uint64_t h = hash_bytes(FNV_OFFSET, k->node, k->node_len);
    h = hash_bytes(h, "@", 1);
    return hash_bytes(h, k->domain, k->domain_len);
}

static bool key_matches(const char *bare_jid, const struct bare_key *k)
{
    return strncmp(bare_jid, k->node, k->node_len) == 0 && bare_jid[k->node_len] == '@' &&
           strncmp(bare_jid + k->node_len + 1, k->domain, k->domain_len) == 0 &&
           bare_jid[k->node_len + 1 + k->domain_len] == '\0';
}

/* The key of "node@domain" (up to `end`, or the NUL); no '@': an empty node,
 * which no account has. */
static struct bare_key key_of(const char *bare, const char *end)
{
    size_t len = end ? (size_t)(end - bare) : strlen(bare);
    const char *at = memchr(bare, '@', len);
    if (!at) return (struct bare_key){ "", bare, 0, len };
    return (struct bare_key){ bare, at + 1, (size_t)(at - bare), len - (size_t)(at + 1 - bare) };
}

static void session_destroy(struct session *s)
{
    free(s->full_jid); free(s->node); free(s->domain); free(s->resource);
    xnode_free(s->presence);
    for (size_t k = 0; k < s->n_directed; k++) free(s->directed[k]);
    free(s->directed);
    free(s);
}

struct sessions *sessions_new(void)
{
    struct sessions *reg = xcalloc(1, sizeof *reg);
    reg->n_buckets = 64;
    reg->buckets = xcalloc(reg->n_buckets, sizeof *reg->buckets);
    return reg;
}

void sessions_free(struct sessions *reg)
{
    if (!reg) return;
    for (size_t i = 0; i < reg->n_buckets; i++) {
        struct account *a = reg->buckets[i];
        while (a) {
            struct account *next = a->next;
            while (a->resources) {
                struct session *s = a->resources;
                a->resources = s->next;
                session_destroy(s);
            }
            free(a->bare_jid);
            free(a);
            a = next;
        }
    }
    free(reg->buckets);
    free(reg);
}

static struct account **key_slot(const struct sessions *reg, const struct bare_key *k)
{
    struct account **pp = &reg->buckets[hash_key(k) % reg->n_buckets];
    while (*pp && !key_matches((*pp)->bare_jid, k)) pp = &(*pp)->next;
    return pp;
}

static struct account **account_slot(const struct sessions *reg, const char *bare)
{
    struct bare_key k = key_of(bare, NULL);
    return key_slot(reg, &k);
}

static void grow(struct sessions *reg)
{
    size_t n = reg->n_buckets * 2;
    struct account **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < reg->n_buckets; i++) {
        struct account *a = reg->buckets[i];
        while (a) {
            struct account *next = a->next;
            struct bare_key key = key_of(a->bare_jid, NULL);
            size_t k = hash_key(&key) % n;
            a->next = b[k];
            b[k] = a;
            a = next;
        }
    }
    free(reg->buckets);
    reg->buckets = b;
    reg->n_buckets = n;
}

static struct session *resources_of(const struct sessions *reg, const struct bare_key *k)
{
    struct account *a = *key_slot(reg, k);
    return a ? a->resources : NULL;
}

static struct session *resource_named(struct session *list, const char *resource)
{
    for (struct session *s = list; s; s = s->next)
        if (strcmp(s->resource, resource) == 0) return s;
    return NULL;
}

struct session *sessions_of(const struct sessions *reg, const char *bare_jid)
{
    struct bare_key k = key_of(bare_jid, NULL);
    return resources_of(reg, &k);
}

struct session *sessions_of_account(const struct sessions *reg, const char *node, const char *domain)
{
    struct bare_key k = { node, domain, strlen(node), strlen(domain) };
    return resources_of(reg, &k);
}

size_t sessions_count_of(const struct sessions *reg, const char *bare_jid)
{
    size_t n = 0;
    for (struct session *s = sessions_of(reg, bare_jid); s; s = s->next) n++;
    return n;
}

struct session *sessions_find(const struct sessions *reg, const char *full_jid)
{
    const char *slash = strchr(full_jid, '/');
    if (!slash) return NULL;
    struct bare_key k = key_of(full_jid, slash);
    return resource_named(resources_of(reg, &k), slash + 1);
}

struct session *sessions_find_resource(const struct sessions *reg, const char *node,
                                       const char *domain, const char *resource)
{
    return resource_named(sessions_of_account(reg, node, domain), resource);
}

struct session *sessions_add(struct sessions *reg, struct c2s *c2s, const char *node,
                             const char *domain, const char *resource)
{
    struct buf bare, full;
    buf_init(&bare);
    buf_printf(&bare, "%s@%s", node, domain);
    buf_init(&full);
    buf_printf(&full, "%s/%s", bare.data, resource);
    if (sessions_find(reg, full.data)) {
        buf_free(&bare);
        buf_free(&full);
        return NULL;
    }
    struct account **slot = account_slot(reg, bare.data);
    struct account *a = *slot;
    if (!a) {
        if (reg->n_accounts + 1 > reg->n_buckets) {
            grow(reg);
            slot = account_slot(reg, bare.data);
        }
        a = xcalloc(1, sizeof *a);
        a->bare_jid = xstrdup(bare.data);
        *slot = a;
        reg->n_accounts++;
    }
    struct session *s = xcalloc(1, sizeof *s);
    s->c2s = c2s;
    s->full_jid = buf_steal(&full);
    s->bare_jid = a->bare_jid;
    s->node = xstrdup(node);
    s->domain = xstrdup(domain);
    s->resource = xstrdup(resource);
    /* Append, so resources keep their bind order. */
    struct session **pp = &a->resources;
    while (*pp) pp = &(*pp)->next;
    *pp = s;
    buf_free(&bare);
    return s;
}

void sessions_remove(struct sessions *reg, struct session *s)
{
    struct account **slot = account_slot(reg, s->bare_jid);
    struct account *a = *slot;
    if (!a) return;
    for (struct session **pp = &a->resources; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    session_destroy(s);
    if (!a->resources) {
        *slot = a->next;
        free(a->bare_jid);
        free(a);
        reg->n_accounts--;
    }
}

void session_set_presence(struct session *s, const xnode *presence)
{
    xnode_free(s->presence);
    s->presence = presence ? xnode_copy(presence, "jabber:client") : NULL;
}

void session_add_directed(struct session *s, const char *jid)
{
    for (size_t i = 0; i < s->n_directed; i++)
        if (strcmp(s->directed[i], jid) == 0) return;
    s->directed = xrealloc(s->directed, (s->n_directed + 1) * sizeof *s->directed);
    s->directed[s->n_directed++] = xstrdup(jid);
}

void session_remove_directed(struct session *s, const char *jid)
{
    for (size_t i = 0; i < s->n_directed; i++) {
        if (strcmp(s->directed[i], jid) != 0) continue;
        free(s->directed[i]);
        s->directed[i] = s->directed[--s->n_directed];
        return;
    }
}
