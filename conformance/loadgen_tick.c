/* loadgen_tick: a timerfd-driven periodic tick on a libev loop. */
#include "loadgen_tick.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>

void lg_tick_init(struct lg_tick *t)
{
    *t = (struct lg_tick){ 0 };
    ev_io_init(&t->io, NULL, -1, EV_READ);
}

static void on_timerfd(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    struct lg_tick *t = io->data;
    uint64_t n = 0;
    if (read(io->fd, &n, sizeof n) != (ssize_t)sizeof n)
        return;             /* EAGAIN: another reader or a spurious wake-up */
    t->expirations += n;
    t->fn(t);
}

int lg_tick_start(struct lg_tick *t, struct ev_loop *loop, uint64_t interval_ns,
                  lg_tick_fn *fn, void *data)
{
    if (interval_ns == 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return -1;
    struct timespec every = { (time_t)(interval_ns / 1000000000u), (long)(interval_ns % 1000000000u) };
    struct itimerspec spec = { .it_interval = every, .it_value = every };
    if (timerfd_settime(fd, 0, &spec, NULL) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    t->fn = fn;
    t->data = data;
    t->expirations = 0;
    ev_io_init(&t->io, on_timerfd, fd, EV_READ);
    t->io.data = t;
    ev_io_start(loop, &t->io);
    return 0;
}

void lg_tick_stop(struct lg_tick *t, struct ev_loop *loop)
{
    if (t->io.fd < 0)
        return;
    ev_io_stop(loop, &t->io);
    close(t->io.fd);
    t->io.fd = -1;
}

bool lg_tick_active(const struct lg_tick *t)
{
    return t->io.fd >= 0;
}
