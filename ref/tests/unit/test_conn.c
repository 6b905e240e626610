/* Unit tests for conn's write path (issue "Performance": one write per
 * connection per loop turn, no storage kept by drained or idle queues;
 * SPEC XML-4 for the queue bound). The peer end
 * is a SOCK_SEQPACKET socket, so every write the conn makes arrives as one
 * packet and the packets can be counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "conn.h"

struct fixture {
    struct ev_loop *loop;
    struct conn *conn;
    int peer;                  /* our end of the socketpair */
    bool closed;
    unsigned writes_per_turn;  /* what the timer callback queues */
    const char *piece;
};

static void on_read(void *owner, const char *data, size_t len) { (void)owner, (void)data, (void)len; }
static void on_tls_ready(void *owner) { (void)owner; }
static void on_closed(void *owner, const char *reason)
{
    (void)reason;
    ((struct fixture *)owner)->closed = true;
}

static const struct conn_events events = { on_read, on_tls_ready, on_closed };

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
    fx->loop = ev_loop_new(EVFLAG_AUTO);
    struct sockaddr_storage peer = { .ss_family = AF_UNIX };
    struct conn_limits limits = { .out_queue_bytes = 1 << 20, .tls_handshake_timeout = 5 };
    fx->conn = conn_new(fx->loop, sv[0], &peer, NULL, &limits, &events, fx);
    fx->peer = sv[1];
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (!fx->closed) conn_close(fx->conn, "test over");
    ev_run(fx->loop, EVRUN_NOWAIT);   /* the reaper frees the conn */
    assert_true(fx->closed);
    close(fx->peer);
    ev_loop_destroy(fx->loop);
    free(fx);
    return 0;
}

/* The packets waiting at the peer: their count, and their bytes in `all`. */
static unsigned drain_packets(int fd, char *all, size_t size, size_t *total)
{
    unsigned packets = 0;
    *total = 0;
    for (;;) {
        ssize_t n = recv(fd, all + *total, size - *total, MSG_DONTWAIT);
        if (n <= 0) return packets;
        *total += (size_t)n;
        packets++;
    }
}

static void queue_pieces(struct fixture *fx)
{
    for (unsigned i = 0; i < fx->writes_per_turn; i++)
        assert_int_equal(conn_write(fx->conn, fx->piece, strlen(fx->piece)), 0);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    queue_pieces(w->data);
}

/* Stanzas queued by the callbacks of one loop iteration leave in one write,
 * in order, before the loop waits again. */
static void test_one_write_per_loop_turn(void **state)
{
    struct fixture *fx = *state;
    fx->writes_per_turn = 100;
    fx->piece = "<message to='a@b'><body>hi</body></message>";
    ev_timer timer;
    ev_timer_init(&timer, on_timer, 0., 0.);
    timer.data = fx;
    ev_timer_start(fx->loop, &timer);
    ev_run(fx->loop, EVRUN_ONCE);   /* the timer fires: all queued */
    static char got[1 << 16];
    size_t total;
    assert_int_equal(drain_packets(fx->peer, got, sizeof got, &total), 0);
    ev_run(fx->loop, EVRUN_NOWAIT);   /* the next iteration writes before it polls */
    unsigned packets = drain_packets(fx->peer, got, sizeof got, &total);
    assert_int_equal(packets, 1);
    assert_int_equal(total, 100 * strlen(fx->piece));
    assert_memory_equal(got, fx->piece, strlen(fx->piece));
}

/* A queue reaching 16 KiB is written at once, not held to the end of the
 * iteration. */
static void test_large_queue_written_at_once(void **state)
{
    struct fixture *fx = *state;
    static char piece[4097];
    memset(piece, 'x', sizeof piece - 1);
    fx->piece = piece;
    fx->writes_per_turn = 8;   /* 32 KiB: two writes of 16 KiB */
    queue_pieces(fx);
    static char got[1 << 16];
    size_t total;
    unsigned packets = drain_packets(fx->peer, got, sizeof got, &total);
    assert_int_equal(packets, 2);
    assert_int_equal(total, 8 * 4096);
}

static void on_other_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    queue_pieces(w->data);
    ev_prepare_stop(loop, w);
}

/* Bytes queued by another prepare watcher (the archive releases messages
 * from one) are written in the same iteration, before the loop blocks. */
static void test_flush_after_other_prepare_watchers(void **state)
{
    struct fixture *fx = *state;
    fx->writes_per_turn = 3;
    fx->piece = "<presence/>";
    ev_prepare other;
    ev_prepare_init(&other, on_other_prepare);
    other.data = fx;
    ev_prepare_start(fx->loop, &other);
    ev_run(fx->loop, EVRUN_NOWAIT);
    static char got[256];
    size_t total;
    assert_int_equal(drain_packets(fx->peer, got, sizeof got, &total), 1);
    assert_int_equal(total, 3 * strlen(fx->piece));
}

/* A conn closed with bytes still queued is dropped from the batch; the
 * other conns of the loop still get theirs. */
static void test_closed_conn_leaves_batch(void **state)
{
    struct fixture *fx = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
    struct sockaddr_storage peer = { .ss_family = AF_UNIX };
    struct conn_limits limits = { .out_queue_bytes = 1 << 20, .tls_handshake_timeout = 5 };
    struct fixture other = { .loop = fx->loop };
    other.conn = conn_new(fx->loop, sv[0], &peer, NULL, &limits, &events, &other);
    assert_int_equal(conn_write(other.conn, "gone", 4), 0);
    assert_int_equal(conn_write(fx->conn, "kept", 4), 0);
    conn_close(other.conn, "test");
    ev_run(fx->loop, EVRUN_NOWAIT);
    assert_true(other.closed);
    char got[16];
    size_t total;
    assert_int_equal(drain_packets(fx->peer, got, sizeof got, &total), 1);
    assert_memory_equal(got, "kept", 4);
    assert_int_equal(drain_packets(sv[1], got, sizeof got, &total), 0);
    close(sv[1]);
}

/* Bytes the allocator has handed out; skips the test where a sanitizer's
 * allocator replaces glibc's and mallinfo2 does not see it. */
static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}

static void skip_without_mallinfo(void)
{
    size_t before = heap_in_use();
    void *volatile probe = malloc(1 << 16);   /* volatile: not optimised away */
    bool counted = heap_in_use() >= before + (1 << 16);
    free(probe);
    if (!counted) skip();
}

/* A drained queue does not keep the storage of a burst (32 KiB here). */
static void test_drained_burst_storage_released(void **state)
{
    struct fixture *fx = *state;
    skip_without_mallinfo();
    static char piece[4097];
    memset(piece, 'x', sizeof piece - 1);
    fx->piece = piece;
    fx->writes_per_turn = 8;
    size_t before = heap_in_use();
    queue_pieces(fx);   /* written at once, 16 KiB at a time */
    static char got[1 << 16];
    size_t total;
    assert_int_equal(drain_packets(fx->peer, got, sizeof got, &total), 2);
    assert_int_equal(total, 8 * 4096);
    assert_true(heap_in_use() <= before);
}

/* Writes `text` through the conn and checks that the peer got it. */
static void write_through(struct fixture *fx, const char *text)
{
    assert_int_equal(conn_write(fx->conn, text, strlen(text)), 0);
    ev_run(fx->loop, EVRUN_NOWAIT);
    char got[64];
    size_t total;
    assert_int_equal(drain_packets(fx->peer, got, sizeof got, &total), 1);
    assert_int_equal(total, strlen(text));
    assert_memory_equal(got, text, total);
}

/* An idle conn frees its empty queue; one with bytes waiting keeps them.
 * (2000 bytes: a queue kept after draining, and a block too big for
 * glibc's per-thread cache, which would still count it as in use.) */
static void test_release_idle_frees_empty_queue(void **state)
{
    struct fixture *fx = *state;
    skip_without_mallinfo();
    static char piece[2001];
    memset(piece, 'y', sizeof piece - 1);
    write_through(fx, "<a/>");   /* the loop's own first-run allocations */
    conn_release_idle(fx->conn);
    size_t before = heap_in_use();
    assert_int_equal(conn_write(fx->conn, piece, strlen(piece)), 0);
    conn_release_idle(fx->conn);   /* not written yet: kept */
    ev_run(fx->loop, EVRUN_NOWAIT);
    static char got[4096];
    size_t total;
    assert_int_equal(drain_packets(fx->peer, got, sizeof got, &total), 1);
    assert_int_equal(total, strlen(piece));
    assert_true(heap_in_use() >= before + 2000);   /* kept between writes */
    conn_release_idle(fx->conn);
    assert_true(heap_in_use() <= before);
    write_through(fx, "<b/>");   /* and works again */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_write_per_loop_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_queue_written_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_after_other_prepare_watchers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_conn_leaves_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drained_burst_storage_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_idle_frees_empty_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
