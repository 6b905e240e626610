/* resolver: c-ares queries driven by libev (SPEC S2S-1, ADM-6).
 *
 * Every lookup is a resolver_query holding the DNS questions it has in
 * flight (`in_flight`, one per ares_query callback still to come, plus a
 * hold while questions are being launched). The query is freed when that
 * count reaches zero, whether or not it was cancelled, so c-ares never
 * calls back into freed memory; a cancelled query just skips the user
 * callback. A lookup never completes inside the call that started it: if
 * c-ares fails every question at once, a zero timer delivers the result
 * from the loop. */
#include "resolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

/* Bounds on what a DNS answer makes us do (peer-controlled counts). */
#define MAX_ADDRS_PER_FAMILY 16   /* A or AAAA records kept per host */
#define MAX_TARGET_HOSTS 16       /* SRV targets whose addresses we look up */

struct sock_watch {               /* one socket c-ares has open */
    ev_io io;
    struct resolver *r;
    struct sock_watch *next;
};

struct resolver {
    struct ev_loop *loop;
    ares_channel channel;
    ev_timer timer;               /* ares_timeout() of the channel */
    struct sock_watch *socks;
    struct resolver_query *queries;   /* not yet freed, cancelled included */
};

struct srv_answer {               /* one SRV name */
    char *name;                   /* "_xmpp-server._tcp.example.com" */
    enum resolve_status status;
    bool unavailable;             /* a single "." target (RFC 2782) */
    struct srv_record *recs;
    size_t n;
};

enum { FAMILY_V4, FAMILY_V6, FAMILIES };

struct host_answer {              /* A and AAAA of one host */
    char *name;
    unsigned short port;
    bool direct_tls;
    enum resolve_status status[FAMILIES];
    struct sockaddr_storage *addrs[FAMILIES];
    size_t naddrs[FAMILIES];
};

enum query_kind { QUERY_SRV, QUERY_ADDRESSES, QUERY_TARGETS };
enum { SRV_PLAIN, SRV_TLS };

struct resolver_query {
    struct resolver *r;
    struct resolver_query *prev, *next;
    enum query_kind kind;
    unsigned in_flight;
    bool cancelled;
    bool hosts_launched;          /* QUERY_TARGETS: second phase started */
    ev_timer deferred;            /* delivers a result c-ares gave at once */
    union {
        resolver_srv_fn srv;
        resolver_addr_fn addr;
        resolver_targets_fn targets;
    } cb;
    void *ctx;
    char *domain;                 /* QUERY_TARGETS: without a trailing dot */
    unsigned short default_port;
    struct srv_answer srv[2];     /* SRV_PLAIN, SRV_TLS */
    size_t nsrv;
    struct host_answer *hosts;
    size_t nhosts;
};

struct question {                 /* the `arg` of one ares_query */
    struct resolver_query *query;
    int type;                     /* T_SRV: srv[index]; T_A, T_AAAA: hosts[index] */
    size_t index;
};

const char *resolve_status_name(enum resolve_status st)
{
    switch (st) {
    case RESOLVE_OK: return "ok";
    case RESOLVE_NOT_FOUND: return "not found";
    case RESOLVE_TIMEOUT: return "timeout";
    case RESOLVE_ERROR: return "error";
    }
    return "?";
}

/* ---- RFC 2782 ordering ---- */

static unsigned default_rand(unsigned bound, void *ctx)
{
    (void)ctx;
    return (unsigned)random() % bound;
}

/* Stable insertion sort; `before(a, b)` true when a must precede b. */
static void sort_records(struct srv_record *recs, size_t n,
                         bool (*before)(const struct srv_record *, const struct srv_record *))
{
    for (size_t i = 1; i < n; i++) {
        struct srv_record cur = recs[i];
        size_t j = i;
        while (j > 0 && before(&cur, &recs[j - 1])) {
            recs[j] = recs[j - 1];
            j--;
        }
        recs[j] = cur;
    }
}

static bool lower_priority_value(const struct srv_record *a, const struct srv_record *b)
{
    return a->priority < b->priority;
}

static bool lower_weight(const struct srv_record *a, const struct srv_record *b)
{
    return a->weight < b->weight;
}

/* One priority group: recs[0..n) become the RFC 2782 weighted order. The
 * records not yet drawn are kept weight 0 first, then by ascending weight;
 * each draw picks r in [0, sum of weights] and takes the first record whose
 * running sum is >= r. */
static void order_by_weight(struct srv_record *recs, size_t n,
                            unsigned (*rand_fn)(unsigned, void *), void *ctx)
{
    sort_records(recs, n, lower_weight);
    for (size_t done = 0; done + 1 < n; done++) {
        unsigned sum = 0;
        for (size_t i = done; i < n; i++) sum += recs[i].weight;
        unsigned pick = rand_fn(sum + 1, ctx);
        size_t chosen = n - 1;
        unsigned running = 0;
        for (size_t i = done; i < n; i++) {
            running += recs[i].weight;
            if (running >= pick) {
                chosen = i;
                break;
            }
        }
        struct srv_record taken = recs[chosen];
        memmove(&recs[done + 1], &recs[done], (chosen - done) * sizeof *recs);
        recs[done] = taken;
    }
}

void srv_order(struct srv_record *recs, size_t n,
               unsigned (*rand_fn)(unsigned bound, void *ctx), void *ctx)
{
    if (!rand_fn) rand_fn = default_rand;
    sort_records(recs, n, lower_priority_value);
    size_t start = 0;
    while (start < n) {
        size_t end = start + 1;
        while (end < n && recs[end].priority == recs[start].priority) end++;
        order_by_weight(recs + start, end - start, rand_fn, ctx);
        start = end;
    }
}

/* ---- the c-ares channel in the libev loop ---- */

static void update_timer(struct resolver *r)
{
    struct timeval tv;
    ev_timer_stop(r->loop, &r->timer);
    if (!ares_timeout(r->channel, NULL, &tv)) return;
    ev_timer_set(&r->timer, (ev_tstamp)tv.tv_sec + (ev_tstamp)tv.tv_usec / 1e6, 0.);
    ev_timer_start(r->loop, &r->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct resolver *r = w->data;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    update_timer(r);
}

static void on_socket(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct resolver *r = ((struct sock_watch *)w->data)->r;
    ares_socket_t fd = w->fd;
    /* may close the socket and free w */
    ares_process_fd(r->channel, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    update_timer(r);
}

static struct sock_watch **find_sock(struct resolver *r, ares_socket_t fd)
{
    struct sock_watch **p = &r->socks;
    while (*p && (*p)->io.fd != fd) p = &(*p)->next;
    return p;
}

/* c-ares's ARES_OPT_SOCK_STATE_CB: what to watch on fd; (0, 0) before it
 * closes fd. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = data;
    struct sock_watch **p = find_sock(r, fd);
    struct sock_watch *s = *p;
    if (!readable && !writable) {
        if (!s) return;
        ev_io_stop(r->loop, &s->io);
        *p = s->next;
        free(s);
        return;
    }
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->r = r;
        ev_init(&s->io, on_socket);
        s->io.data = s;
        s->next = r->socks;
        r->socks = s;
    } else {
        ev_io_stop(r->loop, &s->io);
    }
    ev_io_set(&s->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    ev_io_start(r->loop, &s->io);
}

/* Only server_host:server_port, UDP and TCP. */
static int use_only_server(ares_channel channel, const char *host, unsigned short port,
                           struct buf *err)
{
    struct ares_addr_port_node server = {.udp_port = port, .tcp_port = port};
    if (inet_pton(AF_INET, host, &server.addr.addr4) == 1) {
        server.family = AF_INET;
    } else if (inet_pton(AF_INET6, host, &server.addr.addr6) == 1) {
        server.family = AF_INET6;
    } else {
        buf_reset(err);
        buf_printf(err, "DNS server \"%s\" is not a numeric IPv4 or IPv6 address", host);
        return -1;
    }
    int rc = ares_set_servers_ports(channel, &server);
    if (rc != ARES_SUCCESS) {
        buf_reset(err);
        buf_printf(err, "DNS server %s: %s", host, ares_strerror(rc));
        return -1;
    }
    return 0;
}

/* Two tries per query, the second with twice the first's wait (c-ares
 * doubles it per round), together `timeout` seconds. */
static void timing_options(struct ares_options *o, unsigned timeout)
{
    o->tries = 2;
    o->timeout = (int)(timeout * 1000u / 3u);
}

struct resolver *resolver_new(struct ev_loop *loop, const char *server_host,
                              unsigned short server_port, unsigned timeout, struct buf *err)
{
    if (timeout == 0 || timeout > 3600) {
        buf_reset(err);
        buf_printf(err, "DNS timeout %u: must be 1 to 3600 seconds", timeout);
        return NULL;
    }
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        buf_reset(err);
        buf_printf(err, "c-ares: %s", ares_strerror(rc));
        return NULL;
    }
    struct resolver *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    ev_init(&r->timer, on_timer);
    r->timer.data = r;
    char lookups[] = "b";
    struct ares_options o = {
        .flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES,
        .lookups = lookups,
        .sock_state_cb = on_sock_state,
        .sock_state_cb_data = r,
    };
    timing_options(&o, timeout);
    int mask = ARES_OPT_FLAGS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB
               | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    rc = ares_init_options(&r->channel, &o, mask);
    if (rc != ARES_SUCCESS) {
        buf_reset(err);
        buf_printf(err, "c-ares: %s", ares_strerror(rc));
        free(r);
        ares_library_cleanup();
        return NULL;
    }
    if (server_host && use_only_server(r->channel, server_host, server_port, err) != 0) {
        ares_destroy(r->channel);
        free(r);
        ares_library_cleanup();
        return NULL;
    }
    return r;
}

/* ---- queries ---- */

static void free_srv_answer(struct srv_answer *a)
{
    free(a->name);
    for (size_t i = 0; i < a->n; i++) free(a->recs[i].target);
    free(a->recs);
}

static void query_free(struct resolver_query *q)
{
    struct resolver *r = q->r;
    ev_timer_stop(r->loop, &q->deferred);
    if (q->prev) q->prev->next = q->next;
    else r->queries = q->next;
    if (q->next) q->next->prev = q->prev;
    for (size_t i = 0; i < q->nsrv; i++) free_srv_answer(&q->srv[i]);
    for (size_t i = 0; i < q->nhosts; i++) {
        free(q->hosts[i].name);
        for (int f = 0; f < FAMILIES; f++) free(q->hosts[i].addrs[f]);
    }
    free(q->hosts);
    free(q->domain);
    free(q);
}

static void on_deferred(struct ev_loop *loop, ev_timer *w, int revents);

static struct resolver_query *query_new(struct resolver *r, enum query_kind kind, void *ctx)
{
    struct resolver_query *q = xcalloc(1, sizeof *q);
    q->r = r;
    q->kind = kind;
    q->ctx = ctx;
    ev_timer_init(&q->deferred, on_deferred, 0., 0.);
    q->deferred.data = q;
    q->next = r->queries;
    if (r->queries) r->queries->prev = q;
    r->queries = q;
    return q;
}

static enum resolve_status status_from_ares(int status)
{
    switch (status) {
    case ARES_SUCCESS: return RESOLVE_OK;
    case ARES_ENODATA:
    case ARES_ENOTFOUND: return RESOLVE_NOT_FOUND;
    case ARES_ETIMEOUT: return RESOLVE_TIMEOUT;
    default: return RESOLVE_ERROR;
    }
}

static void add_srv_record(struct srv_answer *a, const struct ares_srv_reply *rep, size_t *cap)
{
    size_t len = strlen(rep->host);
    if (len > 0 && rep->host[len - 1] == '.') len--;
    if (len == 0) return;   /* "." among other records: nothing there */
    if (a->n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        a->recs = xrealloc(a->recs, *cap * sizeof *a->recs);
    }
    a->recs[a->n++] = (struct srv_record){
        .target = xstrndup(rep->host, len),
        .priority = rep->priority, .weight = rep->weight, .port = rep->port,
    };
}

static void parse_srv(struct srv_answer *a, int status, const unsigned char *abuf, int alen)
{
    struct ares_srv_reply *reply = NULL;
    if (status == ARES_SUCCESS) status = ares_parse_srv_reply(abuf, alen, &reply);
    a->status = status_from_ares(status);
    if (a->status != RESOLVE_OK) return;
    size_t cap = 0, total = 0;
    for (const struct ares_srv_reply *rep = reply; rep; rep = rep->next, total++)
        add_srv_record(a, rep, &cap);
    ares_free_data(reply);
    if (a->n == 0) {
        a->status = RESOLVE_NOT_FOUND;
        a->unavailable = total == 1;
        return;
    }
    srv_order(a->recs, a->n, NULL, NULL);
}

static void parse_addresses(struct host_answer *h, int family, int status,
                            const unsigned char *abuf, int alen)
{
    int n = MAX_ADDRS_PER_FAMILY;
    struct ares_addrttl v4[MAX_ADDRS_PER_FAMILY];
    struct ares_addr6ttl v6[MAX_ADDRS_PER_FAMILY];
    if (status == ARES_SUCCESS) {
        status = family == FAMILY_V4 ? ares_parse_a_reply(abuf, alen, NULL, v4, &n)
                                     : ares_parse_aaaa_reply(abuf, alen, NULL, v6, &n);
        if (status == ARES_SUCCESS && n <= 0) status = ARES_ENODATA;
    }
    h->status[family] = status_from_ares(status);
    if (h->status[family] != RESOLVE_OK) return;
    h->addrs[family] = xcalloc((size_t)n, sizeof(struct sockaddr_storage));
    h->naddrs[family] = (size_t)n;
    for (int i = 0; i < n; i++) {
        struct sockaddr_storage *ss = &h->addrs[family][i];
        if (family == FAMILY_V4) {
            struct sockaddr_in *sin = (struct sockaddr_in *)ss;
            sin->sin_family = AF_INET;
            sin->sin_addr = v4[i].ipaddr;
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
            sin6->sin6_family = AF_INET6;
            memcpy(&sin6->sin6_addr, &v6[i].ip6addr, sizeof sin6->sin6_addr);
        }
    }
}

static void advance(struct resolver_query *q);

/* One question fewer in flight; the last one moves the query on. */
static void release(struct resolver_query *q)
{
    if (--q->in_flight == 0) advance(q);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct question *qn = arg;
    struct resolver_query *q = qn->query;
    if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) q->cancelled = true;
    if (!q->cancelled) {
        if (qn->type == T_SRV) parse_srv(&q->srv[qn->index], status, abuf, alen);
        else parse_addresses(&q->hosts[qn->index], qn->type == T_A ? FAMILY_V4 : FAMILY_V6,
                             status, abuf, alen);
    }
    free(qn);
    release(q);
}

static void ask(struct resolver_query *q, const char *name, int type, size_t index)
{
    if (q->cancelled) return;
    struct question *qn = xmalloc(sizeof *qn);
    *qn = (struct question){.query = q, .type = type, .index = index};
    q->in_flight++;
    ares_query(q->r->channel, name, C_IN, type, on_answer, qn);
}

static void ask_addresses(struct resolver_query *q, size_t index)
{
    ask(q, q->hosts[index].name, T_A, index);
    ask(q, q->hosts[index].name, T_AAAA, index);
}

static void on_deferred(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct resolver_query *q = w->data;
    struct resolver *r = q->r;
    release(q);
    update_timer(r);
}

/* Starts the questions of a new query with a hold on it; if c-ares has
 * answered them all already, the hold is released from the loop. */
static struct resolver_query *launch(struct resolver_query *q,
                                     void (*ask_all)(struct resolver_query *))
{
    q->in_flight = 1;
    ask_all(q);
    if (q->in_flight == 1) ev_timer_start(q->r->loop, &q->deferred);
    else q->in_flight--;
    update_timer(q->r);
    return q;
}

static struct host_answer *add_host(struct resolver_query *q, const char *name,
                                    unsigned short port, bool direct_tls)
{
    q->hosts = xrealloc(q->hosts, (q->nhosts + 1) * sizeof *q->hosts);
    struct host_answer *h = &q->hosts[q->nhosts++];
    *h = (struct host_answer){.name = xstrdup(name), .port = port, .direct_tls = direct_tls};
    return h;
}

/* Both SRV lists merged by priority, direct TLS first at equal priority. */
static void hosts_from_srv(struct resolver_query *q)
{
    const struct srv_answer *plain = &q->srv[SRV_PLAIN];
    const struct srv_answer *tls = q->nsrv > SRV_TLS ? &q->srv[SRV_TLS] : NULL;
    size_t i = 0, j = 0, ntls = tls ? tls->n : 0;
    while ((i < ntls || j < plain->n) && q->nhosts < MAX_TARGET_HOSTS) {
        bool take_tls = i < ntls
                        && (j == plain->n || tls->recs[i].priority <= plain->recs[j].priority);
        const struct srv_record *rec = take_tls ? &tls->recs[i++] : &plain->recs[j++];
        add_host(q, rec->target, rec->port, take_tls);
    }
}

static bool any_srv_unavailable(const struct resolver_query *q)
{
    for (size_t i = 0; i < q->nsrv; i++)
        if (q->srv[i].unavailable) return true;
    return false;
}

static void start_host_lookups(struct resolver_query *q)
{
    for (size_t i = 0; i < q->nhosts; i++) ask_addresses(q, i);
}

/* QUERY_TARGETS after its SRV answers: the hosts to look up, SRV targets
 * or (no SRV record, no "." answer) the domain itself. */
static void choose_hosts(struct resolver_query *q)
{
    hosts_from_srv(q);
    if (q->nhosts == 0 && !any_srv_unavailable(q)) add_host(q, q->domain, q->default_port, false);
}

static size_t address_count(const struct host_answer *h)
{
    return h->naddrs[FAMILY_V4] + h->naddrs[FAMILY_V6];
}

static bool any_timeout(const struct resolver_query *q)
{
    for (size_t i = 0; i < q->nsrv; i++)
        if (q->srv[i].status == RESOLVE_TIMEOUT) return true;
    for (size_t i = 0; i < q->nhosts; i++)
        for (int f = 0; f < FAMILIES; f++)
            if (q->hosts[i].status[f] == RESOLVE_TIMEOUT) return true;
    return false;
}

static socklen_t sockaddr_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void set_port(struct sockaddr_storage *ss, unsigned short port)
{
    if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static void deliver_targets(struct resolver_query *q)
{
    size_t total = 0;
    for (size_t i = 0; i < q->nhosts; i++) total += address_count(&q->hosts[i]);
    struct resolved_target *targets = xcalloc(total ? total : 1, sizeof *targets);
    size_t n = 0;
    for (size_t i = 0; i < q->nhosts; i++) {
        const struct host_answer *h = &q->hosts[i];
        for (int f = 0; f < FAMILIES; f++) {
            for (size_t k = 0; k < h->naddrs[f]; k++) {
                struct resolved_target *t = &targets[n++];
                t->host = h->name;
                t->addr = h->addrs[f][k];
                t->addrlen = sockaddr_len(&t->addr);
                set_port(&t->addr, h->port);
                t->direct_tls = h->direct_tls;
            }
        }
    }
    enum resolve_status st = n ? RESOLVE_OK : any_timeout(q) ? RESOLVE_TIMEOUT : RESOLVE_NOT_FOUND;
    q->cb.targets(q->ctx, st, targets, n);
    free(targets);
}

/* A and AAAA together: OK with any address, else the worse failure. */
static enum resolve_status host_status(const struct host_answer *h)
{
    if (address_count(h) > 0) return RESOLVE_OK;
    enum resolve_status a = h->status[FAMILY_V4], b = h->status[FAMILY_V6];
    if (a == RESOLVE_TIMEOUT || b == RESOLVE_TIMEOUT) return RESOLVE_TIMEOUT;
    if (a == RESOLVE_ERROR || b == RESOLVE_ERROR) return RESOLVE_ERROR;
    return RESOLVE_NOT_FOUND;
}

static void deliver_addresses(struct resolver_query *q)
{
    const struct host_answer *h = &q->hosts[0];
    size_t n4 = h->naddrs[FAMILY_V4], n6 = h->naddrs[FAMILY_V6];
    struct sockaddr_storage *addrs = xcalloc(n4 + n6 ? n4 + n6 : 1, sizeof *addrs);
    if (n4) memcpy(addrs, h->addrs[FAMILY_V4], n4 * sizeof *addrs);
    if (n6) memcpy(addrs + n4, h->addrs[FAMILY_V6], n6 * sizeof *addrs);
    q->cb.addr(q->ctx, host_status(h), addrs, n4 + n6);
    free(addrs);
}

static void deliver(struct resolver_query *q)
{
    switch (q->kind) {
    case QUERY_SRV:
        q->cb.srv(q->ctx, q->srv[0].status, q->srv[0].recs, q->srv[0].n);
        break;
    case QUERY_ADDRESSES:
        deliver_addresses(q);
        break;
    case QUERY_TARGETS:
        deliver_targets(q);
        break;
    }
}

/* Every question of the current phase answered: start the next phase or
 * finish (the user callback unless cancelled, then free). */
static void advance(struct resolver_query *q)
{
    if (!q->cancelled && q->kind == QUERY_TARGETS && !q->hosts_launched) {
        q->hosts_launched = true;
        choose_hosts(q);
        q->in_flight = 1;   /* hold while launching */
        start_host_lookups(q);
        release(q);
        return;
    }
    if (!q->cancelled) deliver(q);
    query_free(q);
}

static void ask_srv_names(struct resolver_query *q)
{
    for (size_t i = 0; i < q->nsrv; i++) ask(q, q->srv[i].name, T_SRV, i);
}

struct resolver_query *resolver_srv(struct resolver *r, const char *name,
                                    resolver_srv_fn cb, void *ctx)
{
    struct resolver_query *q = query_new(r, QUERY_SRV, ctx);
    q->cb.srv = cb;
    q->nsrv = 1;
    q->srv[0].name = xstrdup(name);
    return launch(q, ask_srv_names);
}

static void ask_host0(struct resolver_query *q)
{
    ask_addresses(q, 0);
}

struct resolver_query *resolver_addresses(struct resolver *r, const char *host,
                                          resolver_addr_fn cb, void *ctx)
{
    struct resolver_query *q = query_new(r, QUERY_ADDRESSES, ctx);
    q->cb.addr = cb;
    add_host(q, host, 0, false);
    return launch(q, ask_host0);
}

static char *domain_without_root_dot(const char *domain)
{
    size_t len = strlen(domain);
    if (len > 0 && domain[len - 1] == '.') len--;
    return xstrndup(domain, len);
}

static char *srv_name(const char *service, const char *domain)
{
    struct buf name;
    buf_init(&name);
    buf_printf(&name, "_%s._tcp.%s", service, domain);
    return buf_steal(&name);
}

struct resolver_query *resolver_xmpp_targets(struct resolver *r, const char *domain,
                                             const char *plain_service,
                                             const char *tls_service,
                                             unsigned short default_port,
                                             resolver_targets_fn cb, void *ctx)
{
    struct resolver_query *q = query_new(r, QUERY_TARGETS, ctx);
    q->cb.targets = cb;
    q->domain = domain_without_root_dot(domain);
    q->default_port = default_port;
    q->nsrv = tls_service ? 2 : 1;
    q->srv[SRV_PLAIN].name = srv_name(plain_service, q->domain);
    if (tls_service) q->srv[SRV_TLS].name = srv_name(tls_service, q->domain);
    return launch(q, ask_srv_names);
}

void resolver_cancel(struct resolver_query *q)
{
    q->cancelled = true;
}

void resolver_wait(struct resolver *r)
{
    while (r->queries) ev_run(r->loop, EVRUN_ONCE);
}

void resolver_free(struct resolver *r)
{
    if (!r) return;
    for (struct resolver_query *q = r->queries; q; q = q->next) q->cancelled = true;
    ares_destroy(r->channel);   /* answers every question: ARES_EDESTRUCTION */
    while (r->queries) query_free(r->queries);   /* those waiting on `deferred` */
    ev_timer_stop(r->loop, &r->timer);
    while (r->socks) {
        struct sock_watch *s = r->socks;
        ev_io_stop(r->loop, &s->io);
        r->socks = s->next;
        free(s);
    }
    free(r);
    ares_library_cleanup();
}
