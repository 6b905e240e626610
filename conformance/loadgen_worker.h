/* loadgen_worker: one bench worker process: its libev loop, TLS context,
 * SCRAM cache, the login ramp of its sessions, the ready/go barrier with
 * the parent, and the profile hooks. The worker owns its connections
 * (loadgen_conn.c frees a finished one at the next loop iteration) and
 * everything in struct lg_worker; lg_worker_run returns the process's exit
 * status after releasing it all. */
#ifndef IMREF_LOADGEN_WORKER_H
#define IMREF_LOADGEN_WORKER_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "loadgen_opts.h"
#include "loadgen_scram.h"
#include "loadgen_shared.h"

struct lg_conn;
struct lg_worker;

/* What a profile does with its connections (loadgen_profiles.c). */
struct lg_profile {
    /* The worker starts: log the sessions in (lg_worker_login_slots) or
     * go straight to lg_worker_ready. */
    void (*start)(struct lg_worker *w);
    /* After the sessions are online: set-up (roster), then lg_worker_ready. */
    void (*setup)(struct lg_worker *w);
    /* The measured phase starts (go_ns reached). */
    void (*go)(struct lg_worker *w);
    void (*online)(struct lg_worker *w, struct lg_conn *c);
    void (*stanza)(struct lg_worker *w, struct lg_conn *c, const char *el, size_t len);
    void (*closed)(struct lg_worker *w, struct lg_conn *c, bool ok);
    void (*free)(struct lg_worker *w);
};

struct lg_worker {
    struct ev_loop *loop;
    const struct lg_opts *o;
    unsigned index;
    struct lg_shared *shared;
    struct lg_worker_stats *stats;
    SSL_CTX *ssl_ctx;
    struct lg_scram_cache *scram;
    char *scratch;                 /* read buffer shared by the connections */
    size_t scratch_size;
    struct lg_conn *dirty;         /* connections with output to flush */
    struct lg_conn *dead;          /* finished connections to free */
    ev_prepare flush_watcher;
    ev_timer go_watcher;
    ev_timer ramp_watcher;
    uint64_t now_ns;
    unsigned next_source;
    unsigned failures_logged;
    struct lg_conn *live;          /* every connection not yet finished */
    unsigned nlive;
    bool finishing;                /* closing down: lost sessions are not errors */
    ev_timer finish_deadline;
    ev_timer drain_watcher;
    uint64_t drain_deadline_ns;
    unsigned drain_fanout;
    /* sessions held (idle, chat, presence): slot i is user first_user + i */
    struct lg_conn **slots;
    unsigned nslots, first_user, next_slot;
    uint64_t ramp_start_ns;
    bool ready, set_up;
    unsigned resolved;             /* slots online or failed */
    int exit_status;
    const struct lg_profile *profile;
    void *pdata;                   /* the profile's state */
};

/* CLOCK_MONOTONIC in ns. */
uint64_t lg_now_ns(void);
/* Runs worker `index` of o->workers; the process's exit status. */
int lg_worker_run(const struct lg_opts *o, struct lg_shared *shared, unsigned index);
/* The sessions are online and set up: tell the parent, wait for go. */
void lg_worker_ready(struct lg_worker *w);
/* Starts the ramp that logs in the worker's slots (idle, chat, presence). */
void lg_worker_login_slots(struct lg_worker *w, unsigned first_user, unsigned count);
/* The measured phase ended (end_ns noted): wait until every worker's
 * receivers got sent * fanout of every step (or a few seconds passed),
 * then lg_worker_finish. */
void lg_worker_drain(struct lg_worker *w, unsigned fanout);
/* The worker is done: stop the loop once connections have closed. */
void lg_worker_finish(struct lg_worker *w);
/* A failure worth a line on stderr (the first few only). */
void lg_worker_note(struct lg_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called by loadgen_conn: bookkeeping of the slots and the statistics,
 * then the profile's hook. */
void lg_worker_conn_online(struct lg_worker *w, struct lg_conn *c);
void lg_worker_conn_closed(struct lg_worker *w, struct lg_conn *c, bool ok, bool was_online);

/* The schedule shared with the parent: step s (1-based; 0 warm-up) of the
 * chat profile starts at lg_step_start(o, go, s). */
uint64_t lg_step_start(const struct lg_opts *o, uint64_t go_ns, unsigned s);
/* Sum over all workers (shared memory) of step s's sent and received. */
void lg_global_counts(const struct lg_shared *sh, unsigned s, uint64_t *sent, uint64_t *received);

/* Message stamps (loadgen_chat.c): "lgts=SS.<16 hex ns>." written into
 * out[LG_STAMP_LEN]; lg_record_stamp finds one in a received stanza and
 * records its latency in its step (false when there is none). */
#define LG_STAMP_LEN 25
void lg_put_stamp(char *out, unsigned step, uint64_t ns);
bool lg_record_stamp(struct lg_worker *w, const char *el, size_t len);

extern const struct lg_profile lg_profile_idle, lg_profile_chat, lg_profile_login,
    lg_profile_churn, lg_profile_presence;

#endif
