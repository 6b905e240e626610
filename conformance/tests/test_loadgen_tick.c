/* Unit tests: loadgen_tick, the sub-millisecond send tick of the chat
 * profile (issue 10: messages leave in small groups, not one burst per
 * millisecond). A started tick fires and counts every elapsed interval,
 * stopping it closes its timerfd, and misuse is refused. No timing is
 * asserted beyond "it eventually fires". */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "loadgen_tick.h"

struct counter {
    unsigned calls, stop_after;
    struct ev_loop *loop;
};

static void count_and_maybe_stop(struct lg_tick *t)
{
    struct counter *c = t->data;
    if (++c->calls >= c->stop_after) {
        lg_tick_stop(t, c->loop);
        ev_break(c->loop, EVBREAK_ALL);
    }
}

static void test_fires_until_stopped(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct lg_tick t;
    lg_tick_init(&t);
    assert_false(lg_tick_active(&t));
    struct counter c = { .stop_after = 5, .loop = loop };
    assert_int_equal(lg_tick_start(&t, loop, 100000, count_and_maybe_stop, &c), 0);
    assert_true(lg_tick_active(&t));
    int fd = t.io.fd;
    ev_run(loop, 0);                  /* returns once the callback stopped it */
    assert_int_equal(c.calls, 5);
    assert_true(t.expirations >= 5);  /* intervals missed between calls count too */
    assert_false(lg_tick_active(&t));
    assert_int_equal(fcntl(fd, F_GETFD), -1);   /* the timerfd was closed */
    assert_int_equal(errno, EBADF);
    ev_loop_destroy(loop);
}

static void test_missed_intervals_are_counted(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct lg_tick t;
    lg_tick_init(&t);
    struct counter c = { .stop_after = 1, .loop = loop };
    assert_int_equal(lg_tick_start(&t, loop, 100000, count_and_maybe_stop, &c), 0);
    struct timespec pause = { 0, 5000000 };    /* 5 ms without running the loop: 50 intervals */
    nanosleep(&pause, NULL);
    ev_run(loop, 0);
    assert_int_equal(c.calls, 1);
    assert_true(t.expirations >= 50);
    ev_loop_destroy(loop);
}

static void test_stop_is_idempotent_and_zero_interval_refused(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct lg_tick t;
    lg_tick_init(&t);
    lg_tick_stop(&t, loop);            /* never started: nothing to do */
    errno = 0;
    assert_int_equal(lg_tick_start(&t, loop, 0, count_and_maybe_stop, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(lg_tick_active(&t));
    assert_int_equal(lg_tick_start(&t, loop, 1000000, count_and_maybe_stop, NULL), 0);
    lg_tick_stop(&t, loop);
    lg_tick_stop(&t, loop);
    assert_false(lg_tick_active(&t));
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_until_stopped),
        cmocka_unit_test(test_missed_intervals_are_counted),
        cmocka_unit_test(test_stop_is_idempotent_and_zero_interval_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
