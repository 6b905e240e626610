/* loadgen_tick: a periodic tick finer than libev's timers, whose epoll
 * timeouts are rounded up to whole milliseconds. It is a CLOCK_MONOTONIC
 * timerfd watched by an ev_io. The open-loop senders use it so that a
 * rate's messages leave in small groups every interval, as independent
 * clients would send them, instead of one burst per millisecond that the
 * server then has to queue behind each other.
 * The caller owns the struct; lg_tick_start opens the descriptor and
 * lg_tick_stop closes it (stopping a tick that never started is a no-op). */
#ifndef IMREF_LOADGEN_TICK_H
#define IMREF_LOADGEN_TICK_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

struct lg_tick;
typedef void lg_tick_fn(struct lg_tick *t);

struct lg_tick {
    ev_io io;            /* io.fd is the timerfd, -1 when stopped */
    lg_tick_fn *fn;
    void *data;
    uint64_t expirations;   /* intervals elapsed since the start (missed ones counted) */
};

/* Sets t up stopped (so lg_tick_stop and lg_tick_active are safe on it). */
void lg_tick_init(struct lg_tick *t);
/* Calls fn(t) every interval_ns from now on; 0, or -1 with errno. */
int lg_tick_start(struct lg_tick *t, struct ev_loop *loop, uint64_t interval_ns,
                  lg_tick_fn *fn, void *data);
void lg_tick_stop(struct lg_tick *t, struct ev_loop *loop);
bool lg_tick_active(const struct lg_tick *t);

#endif
