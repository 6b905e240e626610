/* relay: the "raw relay" baseline of scripts/bench (issue 10). A minimal
 * libev program that forwards bytes between paired TCP connections without
 * parsing them, so the report can show what one CPU does with the same
 * sockets and the same bytes when no XMPP work is done.
 *   relay --listen 127.0.0.1:PORT
 * Protocol (conformance/bench/README.md, BENCH_API.md "--raw"): every
 * accepted connection first sends the line "PAIR <k> <a|b>\n"; the two
 * connections with the same k and opposite sides are paired, then every
 * byte read from one is written to the other. Reads go until EAGAIN; each
 * connection gets at most one write() per loop turn (from an ev_prepare
 * watcher), as a server that batches its output would do. A connection that
 * closes, fails, sends a bad PAIR line or lets more than OUTPUT_LIMIT bytes
 * pile up closes its pair. SIGTERM/SIGINT: exit 0.
 * Ownership: the loop owns every struct relay_conn (freed in conn_close);
 * a conn's `out` holds the bytes waiting to be written to its socket. */
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"

enum { PAIR_LINE_MAX = 64 };            /* "PAIR <k> <a|b>\n", bytes */
enum { READ_CHUNK = 65536 };            /* bytes per read() call */
enum { OUTPUT_LIMIT = 16 * 1024 * 1024 }; /* bytes queued per connection */

struct relay_conn {
    int fd;
    ev_io read_watcher;
    ev_io write_watcher;
    struct buf pending;         /* before pairing: the PAIR line and what follows */
    struct buf out;             /* bytes to write to fd */
    unsigned long key;
    char side;                  /* 'a' or 'b' once the PAIR line is read, else 0 */
    struct relay_conn *peer;    /* set once paired */
    struct relay_conn *next_unpaired;
    struct relay_conn *next_dirty;
    struct relay_conn *prev_open, *next_open;   /* every open conn */
    bool dirty;                 /* on the dirty list: out to be written this turn */
};

static struct relay_conn *unpaired;     /* waiting for their other side */
static struct relay_conn *dirty_list;   /* conns with output to write this turn */
static struct relay_conn *open_list;    /* every open conn, for the exit */
static unsigned long connections_open;

static void conn_close(struct ev_loop *loop, struct relay_conn *c);

static void unpaired_remove(struct relay_conn *c)
{
    for (struct relay_conn **p = &unpaired; *p; p = &(*p)->next_unpaired) {
        if (*p == c) {
            *p = c->next_unpaired;
            return;
        }
    }
}

static void dirty_remove(struct relay_conn *c)
{
    if (!c->dirty)
        return;
    for (struct relay_conn **p = &dirty_list; *p; p = &(*p)->next_dirty) {
        if (*p == c) {
            *p = c->next_dirty;
            break;
        }
    }
    c->dirty = false;
}

static void mark_dirty(struct relay_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = dirty_list;
    dirty_list = c;
}

/* Closes c and, if paired, its peer. */
static void conn_close(struct ev_loop *loop, struct relay_conn *c)
{
    struct relay_conn *peer = c->peer;
    ev_io_stop(loop, &c->read_watcher);
    ev_io_stop(loop, &c->write_watcher);
    unpaired_remove(c);
    dirty_remove(c);
    if (c->prev_open)
        c->prev_open->next_open = c->next_open;
    else
        open_list = c->next_open;
    if (c->next_open)
        c->next_open->prev_open = c->prev_open;
    close(c->fd);
    buf_free(&c->pending);
    buf_free(&c->out);
    free(c);
    connections_open--;
    if (peer) {
        peer->peer = NULL;
        conn_close(loop, peer);
    }
}

/* Queues n bytes for c's socket; false if that would pass OUTPUT_LIMIT. */
static bool conn_queue(struct relay_conn *c, const char *data, size_t n)
{
    if (c->out.len + n > OUTPUT_LIMIT)
        return false;
    buf_append(&c->out, data, n);
    mark_dirty(c);
    return true;
}

/* Parses "PAIR <k> <a|b>" (line without its LF); false if malformed. */
static bool parse_pair_line(const char *line, unsigned long *key, char *side)
{
    char *end;
    if (strncmp(line, "PAIR ", 5) != 0 || line[5] < '0' || line[5] > '9')
        return false;
    errno = 0;
    *key = strtoul(line + 5, &end, 10);
    if (errno != 0 || end[0] != ' ' || (end[1] != 'a' && end[1] != 'b') || end[2] != '\0')
        return false;
    *side = end[1];
    return true;
}

/* Pairs c with its waiting other side, or makes c wait. The bytes that came
 * after the PAIR line go to the peer once there is one. */
static bool conn_pair(struct relay_conn *c)
{
    struct relay_conn *other = NULL;
    for (struct relay_conn *u = unpaired; u; u = u->next_unpaired) {
        if (u->key == c->key) {
            other = u;
            break;
        }
    }
    if (!other) {
        c->next_unpaired = unpaired;
        unpaired = c;
        return true;
    }
    if (other->side == c->side)
        return false;
    unpaired_remove(other);
    c->peer = other;
    other->peer = c;
    bool ok = conn_queue(other, c->pending.data, c->pending.len) &&
              conn_queue(c, other->pending.data, other->pending.len);
    buf_reset(&c->pending);
    buf_reset(&other->pending);
    return ok;
}

/* Before pairing: collects the PAIR line; false on a protocol error. */
static bool conn_take_pair_line(struct relay_conn *c, const char *data, size_t n)
{
    if (c->pending.len + n > OUTPUT_LIMIT)
        return false;
    buf_append(&c->pending, data, n);
    if (c->side)
        return true;    /* waiting for the other side; keep what follows */
    const char *lf = memchr(c->pending.data, '\n', c->pending.len);
    if (!lf)
        return c->pending.len <= PAIR_LINE_MAX;
    size_t line_len = (size_t)(lf - c->pending.data);
    if (line_len > PAIR_LINE_MAX)
        return false;
    char line[PAIR_LINE_MAX + 1];
    memcpy(line, c->pending.data, line_len);
    line[line_len] = '\0';
    if (!parse_pair_line(line, &c->key, &c->side))
        return false;
    buf_consume(&c->pending, line_len + 1);
    return conn_pair(c);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    static char chunk[READ_CHUNK];
    struct relay_conn *c = w->data;
    for (;;) {
        ssize_t n = read(c->fd, chunk, sizeof chunk);
        if (n > 0) {
            bool ok = c->peer ? conn_queue(c->peer, chunk, (size_t)n)
                              : conn_take_pair_line(c, chunk, (size_t)n);
            if (!ok) {
                conn_close(loop, c);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(loop, c);    /* EOF or error */
        return;
    }
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct relay_conn *c = w->data;
    ev_io_stop(loop, &c->write_watcher);
    mark_dirty(c);
}

/* Once per loop turn, before the loop waits: one write() per dirty conn. */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    while (dirty_list) {
        struct relay_conn *c = dirty_list;
        dirty_list = c->next_dirty;
        c->dirty = false;
        if (c->out.len == 0 || ev_is_active(&c->write_watcher))
            continue;
        ssize_t n = write(c->fd, c->out.data, c->out.len);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_close(loop, c);
            continue;
        }
        if (n > 0)
            buf_consume(&c->out, (size_t)n);
        if (c->out.len > 0)
            ev_io_start(loop, &c->write_watcher);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                fprintf(stderr, "relay: accept: %s (%lu connections open)\n",
                        strerror(errno), connections_open);
            return;     /* EAGAIN, or a transient error: wait for the next event */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct relay_conn *c = xcalloc(1, sizeof *c);
        c->fd = fd;
        buf_init(&c->pending);
        buf_init(&c->out);
        ev_io_init(&c->read_watcher, on_readable, fd, EV_READ);
        ev_io_init(&c->write_watcher, on_writable, fd, EV_WRITE);
        c->read_watcher.data = c;
        c->write_watcher.data = c;
        ev_io_start(loop, &c->read_watcher);
        c->next_open = open_list;
        if (open_list)
            open_list->prev_open = c;
        open_list = c;
        connections_open++;
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Parses "IPv4:PORT" into sa; false if malformed. */
static bool parse_listen(const char *arg, struct sockaddr_in *sa)
{
    const char *colon = strrchr(arg, ':');
    char host[INET_ADDRSTRLEN];
    char *end;
    if (!colon || (size_t)(colon - arg) >= sizeof host)
        return false;
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port == 0 || port > 65535)
        return false;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

static int listen_on(const struct sockaddr_in *sa, const char *arg)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        fprintf(stderr, "relay: socket: %s\n", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "relay: cannot listen on %s: %s\n", arg, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int usage(void)
{
    fprintf(stderr, "usage: relay --listen IPv4:PORT\n"
                    "  forwards bytes between connections paired by a first line \"PAIR <k> <a|b>\\n\"\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    if (argc != 3 || strcmp(argv[1], "--listen") != 0)
        return usage();
    if (!parse_listen(argv[2], &sa)) {
        fprintf(stderr, "relay: bad address %s (want IPv4:PORT, e.g. 127.0.0.1:5299)\n", argv[2]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(&sa, argv[2]);
    if (lfd < 0)
        return 1;
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    ev_io accept_watcher;
    ev_prepare prepare_watcher;
    ev_signal term_watcher, int_watcher;
    ev_io_init(&accept_watcher, on_accept, lfd, EV_READ);
    ev_prepare_init(&prepare_watcher, on_prepare);
    ev_signal_init(&term_watcher, on_signal, SIGTERM);
    ev_signal_init(&int_watcher, on_signal, SIGINT);
    ev_io_start(loop, &accept_watcher);
    ev_prepare_start(loop, &prepare_watcher);
    ev_signal_start(loop, &term_watcher);
    ev_signal_start(loop, &int_watcher);
    ev_run(loop, 0);
    while (open_list)
        conn_close(loop, open_list);
    ev_io_stop(loop, &accept_watcher);
    close(lfd);
    ev_loop_destroy(loop);
    return 0;
}
