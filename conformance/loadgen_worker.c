/* loadgen_worker: see loadgen_worker.h. */
#include "loadgen_worker.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "loadgen_conn.h"

#define SCRATCH_SIZE (64u * 1024)
#define MAX_LOGINS_IN_FLIGHT 200    /* per worker, when no --login-rate limits them */
#define RAMP_TICK 0.001
#define GO_POLL 0.001
#define FINISH_GRACE 5.0
#define NOTES_SHOWN 10
#define DRAIN_TIMEOUT 5.0
#define DRAIN_POLL 0.01

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void lg_worker_note(struct lg_worker *w, const char *fmt, ...)
{
    if (w->failures_logged++ >= NOTES_SHOWN) {
        if (w->failures_logged == NOTES_SHOWN + 1)
            fprintf(stderr, "bench: worker %u: further failures not shown\n", w->index);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: worker %u: ", w->index);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t lg_step_start(const struct lg_opts *o, uint64_t go_ns, unsigned s)
{
    if (s == 0 || o->profile != LG_CHAT)
        return go_ns;
    return go_ns + (uint64_t)((o->warmup + (double)(s - 1) * o->step) * 1e9);
}

void lg_global_counts(const struct lg_shared *sh, unsigned s, uint64_t *sent, uint64_t *received)
{
    *sent = *received = 0;
    for (unsigned k = 0; k < sh->nworkers; k++) {
        *sent += lg_load(&sh->w[k].step[s].sent);
        *received += lg_load(&sh->w[k].step[s].received);
    }
}

/* ---- the login ramp of the slots ------------------------------------------ */

static void check_resolved(struct lg_worker *w)
{
    if (w->set_up || w->next_slot < w->nslots || w->resolved < w->nslots)
        return;
    w->set_up = true;
    w->profile->setup(w);
}

static void ramp_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct lg_worker *w = t->data;
    uint64_t now = lg_now_ns();
    unsigned share = w->o->workers;
    uint64_t allowed = w->nslots;
    if (w->o->login_rate > 0) {
        double elapsed = (double)(now - w->ramp_start_ns) / 1e9;
        allowed = (uint64_t)floor(elapsed * w->o->login_rate / share) + 1;
    }
    while (w->next_slot < w->nslots && w->next_slot < allowed
           && w->stats->in_progress < MAX_LOGINS_IN_FLIGHT) {
        unsigned slot = w->next_slot++;
        unsigned user = w->first_user + slot;
        /* --raw (chat): slot 2p is pair p's sender 'a', 2p+1 its receiver 'b' */
        char side = w->o->raw ? (slot % 2 ? 'b' : 'a') : 0;
        w->slots[slot] = lg_conn_start(w, user, (int)slot, side, (user - w->o->first) / 2);
        if (!w->slots[slot]) {
            w->stats->login_failures++;
            w->resolved++;
        }
    }
    if (w->next_slot >= w->nslots) {
        ev_timer_stop(w->loop, &w->ramp_watcher);
        check_resolved(w);
    }
}

void lg_worker_login_slots(struct lg_worker *w, unsigned first_user, unsigned count)
{
    w->slots = xcalloc(count ? count : 1, sizeof *w->slots);
    w->nslots = count;
    w->first_user = first_user;
    w->ramp_start_ns = lg_now_ns();
    ev_timer_init(&w->ramp_watcher, ramp_cb, 0, RAMP_TICK);
    w->ramp_watcher.data = w;
    ev_timer_start(w->loop, &w->ramp_watcher);
}

void lg_worker_conn_online(struct lg_worker *w, struct lg_conn *c)
{
    w->stats->in_progress--;
    if (c->slot >= 0) {
        w->stats->online++;
        w->stats->logins++;
        lg_hist_record(&w->stats->login_hist, c->online_ns - c->started_ns);
        w->resolved++;
    }
    w->profile->online(w, c);
    if (c->slot >= 0)
        check_resolved(w);
}

void lg_worker_conn_closed(struct lg_worker *w, struct lg_conn *c, bool ok, bool was_online)
{
    if (c->slot >= 0) {
        w->slots[c->slot] = NULL;
        if (was_online) {
            w->stats->online--;
            if (!w->finishing)
                w->stats->lost++;
        } else {
            w->stats->login_failures++;
            w->resolved++;
        }
    }
    w->profile->closed(w, c, ok);
    if (c->slot >= 0 && !was_online)
        check_resolved(w);
}

/* ---- ready, go, finish ------------------------------------------------------ */

static void go_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct lg_worker *w = t->data;
    int64_t go = __atomic_load_n(&w->shared->go_ns, __ATOMIC_ACQUIRE);
    if (go <= 0 || (uint64_t)go > lg_now_ns())
        return;
    ev_timer_stop(w->loop, &w->go_watcher);
    w->profile->go(w);
}

void lg_worker_ready(struct lg_worker *w)
{
    if (w->ready)
        return;
    w->ready = true;
    __atomic_store_n(&w->stats->ready, 1, __ATOMIC_RELEASE);
    ev_timer_init(&w->go_watcher, go_cb, 0, GO_POLL);
    w->go_watcher.data = w;
    ev_timer_start(w->loop, &w->go_watcher);
}

static void finish_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    (void)t;
    ev_break(loop, EVBREAK_ALL);
}

void lg_worker_finish(struct lg_worker *w)
{
    if (w->finishing)
        return;
    w->finishing = true;
    ev_timer_stop(w->loop, &w->ramp_watcher);
    for (struct lg_conn *c = w->live, *next; c; c = next) {
        next = c->next_live;
        lg_conn_close(c);
    }
    ev_timer_init(&w->finish_deadline, finish_deadline_cb, FINISH_GRACE, 0);
    ev_timer_start(w->loop, &w->finish_deadline);
}

static bool all_received(const struct lg_worker *w)
{
    for (unsigned s = 0; s <= lg_opts_steps(w->o); s++) {
        uint64_t sent = 0, received = 0;
        lg_global_counts(w->shared, s, &sent, &received);
        if (received < sent * w->drain_fanout)
            return false;
    }
    return true;
}

static void drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct lg_worker *w = t->data;
    if (lg_now_ns() < w->drain_deadline_ns && !all_received(w))
        return;
    ev_timer_stop(w->loop, &w->drain_watcher);
    lg_worker_finish(w);
}

void lg_worker_drain(struct lg_worker *w, unsigned fanout)
{
    w->stats->end_ns = lg_now_ns();
    w->drain_fanout = fanout;
    w->drain_deadline_ns = w->stats->end_ns + (uint64_t)(DRAIN_TIMEOUT * 1e9);
    ev_timer_set(&w->drain_watcher, 0, DRAIN_POLL);
    w->drain_watcher.data = w;
    ev_timer_start(w->loop, &w->drain_watcher);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)revents;
    struct lg_worker *w = p->data;
    lg_conn_flush_all(w);
    lg_conn_reap(w);
    if (w->finishing && w->nlive == 0)
        ev_break(loop, EVBREAK_ALL);
}

/* ---- set-up and tear-down ------------------------------------------------- */

static SSL_CTX *make_ssl_ctx(const struct lg_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(ctx, 1);   /* one recv for several records */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o->ca) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

static const struct lg_profile *profile_of(enum lg_profile_kind kind)
{
    switch (kind) {
    case LG_IDLE: return &lg_profile_idle;
    case LG_CHAT: return &lg_profile_chat;
    case LG_LOGIN: return &lg_profile_login;
    case LG_PRESENCE: return &lg_profile_presence;
    case LG_CHURN: return &lg_profile_churn;
    }
    return &lg_profile_idle;
}

static void worker_release(struct lg_worker *w)
{
    ev_timer_stop(w->loop, &w->finish_deadline);
    ev_timer_stop(w->loop, &w->go_watcher);
    ev_timer_stop(w->loop, &w->ramp_watcher);
    ev_timer_stop(w->loop, &w->drain_watcher);
    w->finishing = true;
    while (w->live)
        lg_conn_abort(w->live, NULL);
    lg_conn_flush_all(w);
    lg_conn_reap(w);
    w->profile->free(w);
    ev_prepare_stop(w->loop, &w->flush_watcher);
    free(w->slots);
    free(w->scratch);
    lg_scram_cache_free(w->scram);
    SSL_CTX_free(w->ssl_ctx);
    ev_loop_destroy(w->loop);
}

int lg_worker_run(const struct lg_opts *o, struct lg_shared *shared, unsigned index)
{
    struct lg_worker w = { .o = o, .index = index, .shared = shared, .stats = &shared->w[index] };
    w.loop = ev_loop_new(EVFLAG_AUTO);
    w.ssl_ctx = make_ssl_ctx(o);
    if (!w.loop || !w.ssl_ctx) {
        fprintf(stderr, "bench: worker %u: cannot set up libev or TLS%s\n", index,
                o->ca ? " (--ca file?)" : "");
        if (w.loop)
            ev_loop_destroy(w.loop);
        return 1;
    }
    w.scram = lg_scram_cache_new();
    w.scratch_size = SCRATCH_SIZE;
    w.scratch = xmalloc(w.scratch_size);
    w.profile = profile_of(o->profile);
    ev_prepare_init(&w.flush_watcher, prepare_cb);
    w.flush_watcher.data = &w;
    ev_prepare_start(w.loop, &w.flush_watcher);
    ev_init(&w.go_watcher, go_cb);
    ev_init(&w.ramp_watcher, ramp_cb);
    ev_init(&w.finish_deadline, finish_deadline_cb);
    ev_init(&w.drain_watcher, drain_cb);
    w.profile->start(&w);
    ev_run(w.loop, 0);
    worker_release(&w);
    __atomic_store_n(&w.stats->finished, 1, __ATOMIC_RELEASE);
    return w.exit_status;
}
