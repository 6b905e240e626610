/* loadgen_shared: the statistics the bench workers and their parent share
 * through one anonymous MAP_SHARED mapping (made by loadgen.c before the
 * fork, unmapped by it at the end). Each worker writes only its own
 * struct lg_worker_stats; the parent reads them (relaxed, for progress)
 * and merges them after the workers exited. go_ns is written by the parent
 * only: the common start of the measured phase. */
#ifndef IMREF_LOADGEN_SHARED_H
#define IMREF_LOADGEN_SHARED_H

#include <stdint.h>

#include "loadgen_hist.h"
#include "loadgen_opts.h"

/* Which mechanism the logins used (the last one seen). */
enum lg_mech { LG_MECH_NONE, LG_MECH_PLAIN, LG_MECH_SCRAM_SHA1, LG_MECH_SCRAM_SHA256 };

struct lg_step_stats {
    uint64_t sent, received, errors;
    struct lg_hist hist;       /* latency: received - stamped send time */
    struct lg_hist lag;        /* chat: send time - intended send time */
};

struct lg_worker_stats {
    int ready;                 /* sessions online (and set up): waiting for go */
    int finished;
    uint64_t online;           /* sessions online now */
    uint64_t logins, login_failures, lost;   /* lost: online sessions that ended */
    uint64_t in_progress;      /* logins under way */
    int mech;                  /* enum lg_mech */
    uint64_t end_ns;           /* when the worker's measured phase ended */
    struct lg_hist login_hist; /* login latency of the session set-up */
    struct lg_step_stats step[LG_MAX_STEPS + 1];   /* [0]: warm-up, not reported */
};

struct lg_shared {
    int64_t go_ns;             /* 0 until the parent starts the measured phase */
    unsigned nworkers;
    struct lg_worker_stats w[];
};

static inline uint64_t lg_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

#endif
