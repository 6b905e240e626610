/* resolver: non-blocking DNS through c-ares, driven by a libev loop
 * (SPEC S2S-1, ADM-6): SRV records, A/AAAA addresses, and the whole
 * "where do I connect for this XMPP domain" lookup with RFC 2782 ordering.
 * A resolver owns its c-ares channel and its watchers. Each lookup's
 * callback is called exactly once (results borrowed for the call), unless
 * the lookup is cancelled first; resolver_free cancels what is pending. */
#ifndef IMREF_RESOLVER_H
#define IMREF_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#include "buf.h"

struct resolver;
struct resolver_query;

enum resolve_status {
    RESOLVE_OK,
    RESOLVE_NOT_FOUND,   /* NXDOMAIN, no such record, SRV target ".", no address */
    RESOLVE_TIMEOUT,     /* the DNS server did not answer in time */
    RESOLVE_ERROR,       /* anything else (refused, malformed answer ...) */
};
const char *resolve_status_name(enum resolve_status st);   /* "ok", "not found", ... */

/* `server_host` NULL: the system's resolv.conf; else every query goes to
 * server_host:server_port only (numeric IPv4/IPv6), never elsewhere. No
 * search domains, no hosts file. `timeout` seconds per query in all.
 * NULL with err on failure. */
struct resolver *resolver_new(struct ev_loop *loop, const char *server_host,
                              unsigned short server_port, unsigned timeout, struct buf *err);
/* Not from within a resolver callback (c-ares is running then). */
void resolver_free(struct resolver *r);

struct srv_record {
    char *target;        /* without the trailing dot */
    unsigned short priority, weight, port;
};

/* RFC 2782 order, in place: ascending priority; within one priority a
 * weighted random order (weight 0 records first in the draw as the RFC
 * says, then by weight). `rand_fn` returns a uniform value in [0, bound)
 * (NULL: random()). Pure: no I/O. */
void srv_order(struct srv_record *recs, size_t n,
               unsigned (*rand_fn)(unsigned bound, void *ctx), void *ctx);

/* One SRV name ("_xmpp-client._tcp.example.com"). OK with n >= 1 records
 * (ordered by srv_order); NOT_FOUND for NXDOMAIN, no SRV data, or a
 * single "." target. */
typedef void (*resolver_srv_fn)(void *ctx, enum resolve_status st,
                                const struct srv_record *recs, size_t n);
struct resolver_query *resolver_srv(struct resolver *r, const char *name,
                                    resolver_srv_fn cb, void *ctx);

/* A and AAAA of one host, IPv4 first. Ports in the addresses are 0. */
typedef void (*resolver_addr_fn)(void *ctx, enum resolve_status st,
                                 const struct sockaddr_storage *addrs, size_t n);
struct resolver_query *resolver_addresses(struct resolver *r, const char *host,
                                          resolver_addr_fn cb, void *ctx);

/* S2S-1: where to connect for an XMPP server (or client) domain. Queries
 * `_<tls_service>._tcp.DOMAIN` (XEP-0368, may be NULL) and
 * `_<plain_service>._tcp.DOMAIN` SRV in parallel, orders each by
 * srv_order, merges them by priority (at equal priority direct TLS
 * first), resolves every target's A/AAAA, and reports one entry per
 * address in that order. When neither SRV name has records, the domain's
 * own A/AAAA with `default_port`, plain. Status: OK with n >= 1; else the
 * worst reason: TIMEOUT if any query timed out, NOT_FOUND otherwise. */
struct resolved_target {
    char *host;                     /* the SRV target or the domain */
    struct sockaddr_storage addr;   /* with the port set */
    socklen_t addrlen;
    bool direct_tls;                /* from the tls_service SRV */
};
typedef void (*resolver_targets_fn)(void *ctx, enum resolve_status st,
                                    const struct resolved_target *targets, size_t n);
struct resolver_query *resolver_xmpp_targets(struct resolver *r, const char *domain,
                                             const char *plain_service,
                                             const char *tls_service,
                                             unsigned short default_port,
                                             resolver_targets_fn cb, void *ctx);

/* The callback of q will not be called. q is invalid afterwards. Must not
 * be called from within q's own callback (q is done then). */
void resolver_cancel(struct resolver_query *q);

/* Runs `loop` until no lookup of r is pending (for imrefctl). */
void resolver_wait(struct resolver *r);

#endif
