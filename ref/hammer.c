#include "hammer.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

#define TRACKER_BUCKETS HAMMER_MAX_ENTRIES
#define FIRST_RING_SLOTS 4

/* One address or account: the times of its recent failures (a ring, oldest
 * at `head`) and its block. */
struct entry {
    char *key;
    double *times;
    unsigned head, count, cap;
    bool blocked;
    double blocked_until;
    struct entry *hash_next;
    struct entry *older, *newer;    /* by last failure */
};

struct tracker {
    struct entry **buckets;         /* TRACKER_BUCKETS chains */
    size_t n;
    struct entry *oldest, *newest;
};

/* N failures within `window` seconds block for `block` seconds. */
struct rule {
    bool enabled;
    unsigned threshold;
    double window, block;
};

struct hammer {
    struct tracker ips, accounts;
    struct rule ip_rule, account_rule;
    double clock;                   /* the latest `now` seen */
};

/* ---- tracker: a bounded table of entries, least recently failed evicted -- */

static size_t key_bucket(const char *key)
{
    uint32_t h = 2166136261u;       /* FNV-1a over the ASCII-lowered key */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ (uint32_t)tolower(*p)) * 16777619u;
    return h % TRACKER_BUCKETS;
}

static struct entry *tracker_find(const struct tracker *t, const char *key)
{
    struct entry *e = t->buckets[key_bucket(key)];
    while (e && strcasecmp(e->key, key) != 0) e = e->hash_next;
    return e;
}

static void lru_unlink(struct tracker *t, struct entry *e)
{
    if (e->older) e->older->newer = e->newer;
    else t->oldest = e->newer;
    if (e->newer) e->newer->older = e->older;
    else t->newest = e->older;
    e->older = e->newer = NULL;
}

static void lru_push_newest(struct tracker *t, struct entry *e)
{
    e->older = t->newest;
    if (t->newest) t->newest->newer = e;
    else t->oldest = e;
    t->newest = e;
}

static void tracker_remove(struct tracker *t, struct entry *e)
{
    struct entry **link = &t->buckets[key_bucket(e->key)];
    while (*link != e) link = &(*link)->hash_next;
    *link = e->hash_next;
    lru_unlink(t, e);
    t->n--;
    free(e->key);
    free(e->times);
    free(e);
}

/* The entry for `key`, created if needed (forgetting the oldest when the
 * table is full), made the most recent. */
static struct entry *tracker_touch(struct tracker *t, const char *key)
{
    struct entry *e = tracker_find(t, key);
    if (e) {
        lru_unlink(t, e);
    } else {
        if (t->n == HAMMER_MAX_ENTRIES) tracker_remove(t, t->oldest);
        e = xcalloc(1, sizeof *e);
        e->key = xstrdup(key);
        size_t b = key_bucket(key);
        e->hash_next = t->buckets[b];
        t->buckets[b] = e;
        t->n++;
    }
    lru_push_newest(t, e);
    return e;
}

static void tracker_init(struct tracker *t)
{
    t->buckets = xcalloc(TRACKER_BUCKETS, sizeof *t->buckets);
}

static void tracker_clear(struct tracker *t)
{
    while (t->oldest) tracker_remove(t, t->oldest);
    free(t->buckets);
}

/* ---- failures of one entry ----------------------------------------------- */

static void ring_drop_oldest(struct entry *e)
{
    e->head = (e->head + 1) % e->cap;
    e->count--;
}

/* Appends `now`; the ring grows up to `limit` slots (count < limit). */
static void ring_push(struct entry *e, double now, unsigned limit)
{
    if (e->count == e->cap) {
        unsigned cap = e->cap ? e->cap * 2 : FIRST_RING_SLOTS;
        if (cap > limit) cap = limit;
        double *times = xmalloc(cap * sizeof *times);
        for (unsigned i = 0; i < e->count; i++) times[i] = e->times[(e->head + i) % e->cap];
        free(e->times);
        e->times = times;
        e->head = 0;
        e->cap = cap;
    }
    e->times[(e->head + e->count) % e->cap] = now;
    e->count++;
}

static bool entry_blocked(const struct entry *e, double now)
{
    return e->blocked && now < e->blocked_until;
}

/* Records a failure at `now`; true if it starts a block. Failures during a
 * block are not counted; after it counting starts afresh. */
static bool entry_fail(struct entry *e, const struct rule *r, double now)
{
    if (entry_blocked(e, now)) return false;
    if (e->blocked) {
        e->blocked = false;
        e->count = 0;
    }
    while (e->count > 0 && e->times[e->head] < now - r->window) ring_drop_oldest(e);
    while (e->count >= r->threshold) ring_drop_oldest(e);     /* threshold lowered */
    ring_push(e, now, r->threshold);
    if (e->count < r->threshold) return false;
    e->blocked = true;
    e->blocked_until = now + r->block;
    e->count = 0;
    return true;
}

/* ---- the public face ------------------------------------------------------ */

static struct rule rule_of(bool enabled, unsigned threshold, double window, double block)
{
    struct rule r = { enabled, threshold ? threshold : 1, window, block };
    return r;
}

void hammer_configure(struct hammer *h, const struct antihammer_config *ah,
                      const struct lockout_config *lo)
{
    h->ip_rule = rule_of(ah->enabled, ah->failed_logins, ah->check_time, ah->block_time);
    double lock_seconds = 60.0 * lo->lock_minutes;
    h->account_rule = rule_of(lo->enabled, lo->failed_logins, lock_seconds, lock_seconds);
}

struct hammer *hammer_new(const struct antihammer_config *ah, const struct lockout_config *lo)
{
    struct hammer *h = xcalloc(1, sizeof *h);
    tracker_init(&h->ips);
    tracker_init(&h->accounts);
    hammer_configure(h, ah, lo);
    return h;
}

void hammer_free(struct hammer *h)
{
    if (!h) return;
    tracker_clear(&h->ips);
    tracker_clear(&h->accounts);
    free(h);
}

static void advance_clock(struct hammer *h, double now)
{
    if (now > h->clock) h->clock = now;
}

unsigned hammer_failure(struct hammer *h, const char *ip, const char *account, double now)
{
    advance_clock(h, now);
    unsigned started = 0;
    if (ip && h->ip_rule.enabled
        && entry_fail(tracker_touch(&h->ips, ip), &h->ip_rule, now))
        started |= HAMMER_IP_BLOCKED;
    if (account && h->account_rule.enabled
        && entry_fail(tracker_touch(&h->accounts, account), &h->account_rule, now))
        started |= HAMMER_ACCOUNT_LOCKED;
    return started;
}

void hammer_success(struct hammer *h, const char *account)
{
    struct entry *e = account ? tracker_find(&h->accounts, account) : NULL;
    if (e && !entry_blocked(e, h->clock)) tracker_remove(&h->accounts, e);
}

bool hammer_ip_blocked(struct hammer *h, const char *ip, double now)
{
    advance_clock(h, now);
    const struct entry *e = tracker_find(&h->ips, ip);
    return h->ip_rule.enabled && e && entry_blocked(e, now);
}

bool hammer_account_locked(struct hammer *h, const char *account, double now)
{
    advance_clock(h, now);
    const struct entry *e = tracker_find(&h->accounts, account);
    return h->account_rule.enabled && e && entry_blocked(e, now);
}

bool hammer_unlock_account(struct hammer *h, const char *account)
{
    struct entry *e = tracker_find(&h->accounts, account);
    if (!e) return false;
    bool was_locked = entry_blocked(e, h->clock);
    tracker_remove(&h->accounts, e);
    return was_locked;
}

void hammer_counts(const struct hammer *h, size_t *ips, size_t *accounts)
{
    *ips = h->ips.n;
    *accounts = h->accounts.n;
}
