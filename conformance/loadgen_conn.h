/* loadgen_conn: one client connection of the load generator, a
 * non-blocking state machine over libev: TCP (from a --source address),
 * STARTTLS with TLS 1.3 on the fd, optional XEP-0077 registration, SASL
 * (SCRAM-SHA-256, else SCRAM-SHA-1, else PLAIN), resource binding, then
 * "online": stanzas go to the worker's profile, iq get/set from the server
 * (pings, roster pushes) are answered. Incoming bytes are split with
 * loadgen_xml, never parsed into trees; output is batched and flushed once
 * per loop iteration. The worker owns the connection: lg_conn_start
 * allocates it, it frees itself (deferred) after the profile's closed hook.
 * In --raw mode it only sends "PAIR <k> <a|b>\n" and is online at once. */
#ifndef IMREF_LOADGEN_CONN_H
#define IMREF_LOADGEN_CONN_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "loadgen_scram.h"
#include "loadgen_worker.h"

enum lg_conn_state {
    LGC_CONNECTING, LGC_WAIT_FEATURES, LGC_WAIT_PROCEED, LGC_TLS_HANDSHAKE, LGC_WAIT_REGISTER,
    LGC_WAIT_CHALLENGE, LGC_WAIT_SUCCESS, LGC_WAIT_BIND, LGC_WAIT_SESSION, LGC_ONLINE,
    LGC_CLOSING, LGC_DEAD,
};

struct lg_conn {
    ev_io io;
    ev_timer timer;                /* negotiation, then closing deadline */
    struct lg_worker *w;
    int fd;
    SSL *ssl;
    enum lg_conn_state state;
    bool stream_open, authenticated, registered, session_required, tls_started;
    bool in_dirty;
    int mech;                      /* enum lg_mech */
    unsigned offered;              /* bit set of enum lg_mech */
    unsigned user;                 /* the account number (%u of --user) */
    int slot;                      /* worker slot, -1 for login/churn connections */
    unsigned raw_pair;             /* --raw: the pair number; raw_side 'a' or 'b' */
    char raw_side;
    char node[64];                 /* the account's node (from --user) */
    uint64_t started_ns;           /* lg_conn_start */
    uint64_t online_ns;
    uint64_t tag;                  /* the profile's */
    struct buf in, out;
    size_t out_sent;               /* bytes of out already written */
    struct lg_scram scram;
    struct lg_conn *next_dirty, *next_dead, *next_live, *prev_live;
};

/* Starts connecting as account `user`; NULL (after a note) when even the
 * socket failed. raw_side 0: XMPP; 'a'/'b': --raw pair raw_pair. */
struct lg_conn *lg_conn_start(struct lg_worker *w, unsigned user, int slot, char raw_side,
                              unsigned raw_pair);
/* Queues bytes (flushed before the loop next blocks). */
void lg_conn_send(struct lg_conn *c, const void *data, size_t len);
/* Pending output not yet written to the socket. */
size_t lg_conn_backlog(const struct lg_conn *c);
/* Sends </stream:stream> and closes when the server closes too (or after
 * a short grace); the closed hook then reports ok. */
void lg_conn_close(struct lg_conn *c);
/* Closes at once: the closed hook reports !ok; why (may be NULL) is noted. */
void lg_conn_abort(struct lg_conn *c, const char *why);
/* Flushes every connection with output; frees the finished ones. */
void lg_conn_flush_all(struct lg_worker *w);
void lg_conn_reap(struct lg_worker *w);
/* The account's bare JID node@domain matches the start of `jid`. */
bool lg_conn_is_self(const struct lg_conn *c, const char *jid, size_t len);

#endif
