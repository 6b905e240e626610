#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "buf.h"

#define READ_CHUNK 16384
/* Queued output is written once per loop iteration (see struct flusher),
 * or at once when this much is queued: a full TLS record. */
#define FLUSH_NOW_BYTES 16384
/* A drained write queue keeps at most this much storage (a burst, e.g. a
 * roster, does not stay allocated); conn_release_idle frees the rest. */
#define OUT_KEEP_BYTES 4096

enum conn_state { CONN_OPEN, CONN_TLS_PENDING, CONN_TLS_HANDSHAKE, CONN_DRAINING, CONN_DEAD };

/* Output batching, one per loop that has connections: what the callbacks
 * of one loop iteration queue on an open connection is written by a single
 * ev_prepare watcher just before the loop waits again, so a connection that
 * receives many stanzas in one iteration costs one write (one TLS record)
 * instead of one per stanza. The watcher has the lowest priority, so it
 * runs after every other prepare watcher of the iteration (the archive's,
 * which releases messages) and sends what they queued. It does not keep
 * the loop alive (ev_unref). The flusher lives while its loop has conns. */
struct flusher {
    struct ev_loop *loop;
    ev_prepare watcher;
    struct conn *dirty;        /* open connections with queued bytes */
    size_t conns;              /* connections of this loop */
    struct flusher *next;
};
static struct flusher *flushers;

struct conn {
    struct ev_loop *loop;
    int fd;
    SSL *ssl;
    SSL *pending_ssl;                 /* STARTTLS: used once the queue drains */
    enum conn_state state;
    struct conn_limits limits;
    const struct conn_events *events;
    void *owner;
    struct sockaddr_storage peer;
    char peer_ip[INET6_ADDRSTRLEN];
    unsigned short peer_port;
    double started;

    struct buf out;                   /* plaintext (or TLS) bytes to write */
    ev_io read_watcher, write_watcher;
    ev_timer deadline;                /* TLS handshake, or drain on close */
    ev_timer rate_wait;               /* read paused by the rate limit */
    double tokens;                    /* read-rate bucket */
    double tokens_at;
    bool ssl_wants_write;             /* SSL_read needs the socket writable */
    bool drain_after_handshake;       /* closed during the handshake: finish it, flush, close */
    const char *close_reason;
    ev_timer reaper;                  /* frees the conn on the next loop iteration,
                                         outside any callback (even under load) */
    struct flusher *flusher;
    struct conn *dirty_prev, *dirty_next;   /* in flusher->dirty */
    bool dirty;
};

static void conn_io_read(struct ev_loop *loop, ev_io *w, int revents);
static void conn_io_write(struct ev_loop *loop, ev_io *w, int revents);
static void conn_on_deadline(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_on_rate_wait(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_reap(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_handshake(struct conn *c);
static void conn_flush(struct conn *c);

static void on_flush_turn(struct ev_loop *loop, ev_prepare *w, int revents);

static struct flusher *flusher_attach(struct ev_loop *loop)
{
    struct flusher *f = flushers;
    while (f && f->loop != loop) f = f->next;
    if (!f) {
        f = xcalloc(1, sizeof *f);
        f->loop = loop;
        ev_prepare_init(&f->watcher, on_flush_turn);
        f->watcher.data = f;
        ev_set_priority(&f->watcher, EV_MINPRI);
        ev_prepare_start(loop, &f->watcher);
        ev_unref(loop);
        f->next = flushers;
        flushers = f;
    }
    f->conns++;
    return f;
}

static void flusher_detach(struct flusher *f)
{
    if (--f->conns > 0) return;
    ev_ref(f->loop);
    ev_prepare_stop(f->loop, &f->watcher);
    struct flusher **link = &flushers;
    while (*link != f) link = &(*link)->next;
    *link = f->next;
    free(f);
}

static void mark_dirty(struct conn *c)
{
    if (c->dirty) return;
    c->dirty = true;
    c->dirty_prev = NULL;
    c->dirty_next = c->flusher->dirty;
    if (c->dirty_next) c->dirty_next->dirty_prev = c;
    c->flusher->dirty = c;
}

static void unmark_dirty(struct conn *c)
{
    if (!c->dirty) return;
    c->dirty = false;
    if (c->dirty_prev) c->dirty_prev->dirty_next = c->dirty_next;
    else c->flusher->dirty = c->dirty_next;
    if (c->dirty_next) c->dirty_next->dirty_prev = c->dirty_prev;
}

/* Writes every dirty connection; writing may queue more (a close's
 * consequences), which this loop then writes too. */
static void on_flush_turn(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct flusher *f = w->data;
    while (f->dirty) {
        struct conn *c = f->dirty;
        unmark_dirty(c);
        if (c->state == CONN_OPEN) conn_flush(c);
    }
}

static void peer_to_text(struct conn *c)
{
    if (c->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&c->peer;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], c->peer_ip, sizeof c->peer_ip);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, c->peer_ip, sizeof c->peer_ip);
        c->peer_port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&c->peer;
        inet_ntop(AF_INET, &s4->sin_addr, c->peer_ip, sizeof c->peer_ip);
        c->peer_port = ntohs(s4->sin_port);
    }
}

struct conn *conn_new(struct ev_loop *loop, int fd, const struct sockaddr_storage *peer,
                      SSL *ssl, const struct conn_limits *limits,
                      const struct conn_events *events, void *owner)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->fd = fd;
    c->limits = *limits;
    c->events = events;
    c->owner = owner;
    c->peer = *peer;
    c->started = ev_now(loop);
    c->tokens = (double)limits->read_burst;
    c->tokens_at = c->started;
    peer_to_text(c);
    buf_init(&c->out);
    ev_io_init(&c->read_watcher, conn_io_read, fd, EV_READ);
    ev_io_init(&c->write_watcher, conn_io_write, fd, EV_WRITE);
    ev_init(&c->deadline, conn_on_deadline);
    ev_init(&c->rate_wait, conn_on_rate_wait);
    ev_timer_init(&c->reaper, conn_reap, 0., 0.);
    c->read_watcher.data = c->write_watcher.data = c->deadline.data = c;
    c->rate_wait.data = c->reaper.data = c;
    c->flusher = flusher_attach(loop);
    if (ssl) {
        c->ssl = ssl;
        SSL_set_fd(ssl, fd);
        c->state = CONN_TLS_HANDSHAKE;
        c->deadline.repeat = limits->tls_handshake_timeout;
        ev_timer_again(loop, &c->deadline);
    } else {
        c->state = CONN_OPEN;
    }
    ev_io_start(loop, &c->read_watcher);
    return c;
}

/* Ends the connection: stops all I/O, tells the owner once, frees later. */
static void conn_die(struct conn *c, const char *reason)
{
    if (c->state == CONN_DEAD) return;
    c->state = CONN_DEAD;
    c->close_reason = reason;
    unmark_dirty(c);
    ev_io_stop(c->loop, &c->read_watcher);
    ev_io_stop(c->loop, &c->write_watcher);
    ev_timer_stop(c->loop, &c->deadline);
    ev_timer_stop(c->loop, &c->rate_wait);
    ev_timer_start(c->loop, &c->reaper);
}

static void conn_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;
    c->events->closed(c->owner, c->close_reason ? c->close_reason : "closed");
    if (c->ssl) SSL_free(c->ssl);
    if (c->pending_ssl) SSL_free(c->pending_ssl);
    close(c->fd);
    buf_free(&c->out);
    flusher_detach(c->flusher);
    free(c);
}

void conn_close(struct conn *c, const char *reason)
{
    conn_die(c, reason);
}

static void want_write(struct conn *c, bool on)
{
    if (on) ev_io_start(c->loop, &c->write_watcher);
    else ev_io_stop(c->loop, &c->write_watcher);
}

void conn_write_force(struct conn *c, const char *data, size_t len)
{
    if (c->state == CONN_DEAD) return;
    buf_append(&c->out, data, len);
    if (c->state == CONN_OPEN && c->out.len < FLUSH_NOW_BYTES)
        mark_dirty(c);
    else if (c->state == CONN_OPEN || c->state == CONN_DRAINING || c->state == CONN_TLS_PENDING)
        conn_flush(c);
}

int conn_write(struct conn *c, const char *data, size_t len)
{
    if (c->limits.out_queue_bytes && c->out.len + len > c->limits.out_queue_bytes) return -1;
    conn_write_force(c, data, len);
    return 0;
}

static void conn_after_drain(struct conn *c)
{
    if (c->state == CONN_DRAINING) {
        if (c->ssl) SSL_shutdown(c->ssl);
        conn_die(c, c->close_reason ? c->close_reason : "closed");
    } else if (c->state == CONN_TLS_PENDING) {
        c->ssl = c->pending_ssl;
        c->pending_ssl = NULL;
        SSL_set_fd(c->ssl, c->fd);
        c->state = CONN_TLS_HANDSHAKE;
        c->deadline.repeat = c->limits.tls_handshake_timeout;
        ev_timer_again(c->loop, &c->deadline);
        ev_io_start(c->loop, &c->read_watcher);
        conn_handshake(c);
    }
}

/* Writes as much of the queue as the socket takes. */
static void conn_flush(struct conn *c)
{
    unmark_dirty(c);
    while (c->out.len > 0) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->out.data, (int)(c->out.len > 1 << 30 ? 1 << 30 : c->out.len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    want_write(c, true);
                    return;
                }
                conn_die(c, "TLS write error");
                return;
            }
            n = r;
        } else {
            n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    want_write(c, true);
                    return;
                }
                conn_die(c, "write error");
                return;
            }
        }
        buf_consume(&c->out, (size_t)n);
    }
    if (c->out.cap > OUT_KEEP_BYTES) buf_free(&c->out);
    want_write(c, c->ssl_wants_write);
    conn_after_drain(c);
}

static void conn_handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        ev_timer_stop(c->loop, &c->deadline);
        c->state = CONN_OPEN;
        want_write(c, false);
        if (c->drain_after_handshake) {
            c->drain_after_handshake = false;
            conn_close_after_flush(c, c->limits.tls_handshake_timeout);
            return;
        }
        c->events->tls_ready(c->owner);
        if (c->state == CONN_OPEN && c->out.len) conn_flush(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        want_write(c, false);
    } else if (e == SSL_ERROR_WANT_WRITE) {
        want_write(c, true);
    } else {
        conn_die(c, "TLS handshake failed");
    }
}

/* Token bucket: how many bytes may be read now. */
static size_t conn_read_allowance(struct conn *c)
{
    if (!c->limits.read_rate) return READ_CHUNK;
    double now = ev_now(c->loop);
    c->tokens += (now - c->tokens_at) * (double)c->limits.read_rate;
    c->tokens_at = now;
    if (c->tokens > (double)c->limits.read_burst) c->tokens = (double)c->limits.read_burst;
    if (c->tokens < 1) return 0;
    return c->tokens < READ_CHUNK ? (size_t)c->tokens : READ_CHUNK;
}

static void conn_pause_for_rate(struct conn *c)
{
    ev_io_stop(c->loop, &c->read_watcher);
    double wait = (1.0 - c->tokens) / (double)c->limits.read_rate;
    ev_timer_set(&c->rate_wait, wait > 0.001 ? wait : 0.001, 0.);
    ev_timer_start(c->loop, &c->rate_wait);
}

static void conn_on_rate_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;
    if (c->state == CONN_OPEN || c->state == CONN_TLS_HANDSHAKE) ev_io_start(loop, &c->read_watcher);
}

static void conn_read_some(struct conn *c)
{
    char data[READ_CHUNK];
    /* Read until the socket is empty, the budget is spent, or a callback
     * changed the state (STARTTLS, close). */
    for (int rounds = 0; rounds < 4 && c->state == CONN_OPEN; rounds++) {
        size_t allowed = conn_read_allowance(c);
        if (allowed == 0) {
            conn_pause_for_rate(c);
            return;
        }
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, data, (int)allowed);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                c->ssl_wants_write = (e == SSL_ERROR_WANT_WRITE);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    if (c->ssl_wants_write) want_write(c, true);
                    return;
                }
                conn_die(c, e == SSL_ERROR_ZERO_RETURN ? "peer closed" : "TLS read error");
                return;
            }
            c->ssl_wants_write = false;
            n = r;
        } else {
            n = recv(c->fd, data, allowed, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
                conn_die(c, "read error");
                return;
            }
            if (n == 0) {
                conn_die(c, "peer closed");
                return;
            }
        }
        if (c->limits.read_rate) c->tokens -= (double)n;
        c->events->read(c->owner, data, (size_t)n);
        if (!c->ssl && (size_t)n < allowed) return;   /* socket drained */
    }
    /* TLS may hold decrypted bytes the socket will not signal again. */
    if (c->state == CONN_OPEN && (c->ssl ? SSL_pending(c->ssl) > 0 : false))
        ev_feed_event(c->loop, &c->read_watcher, EV_READ);
}

static void conn_io_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (c->state == CONN_TLS_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if (c->state == CONN_DRAINING) {
        /* Ignore what the peer still sends (XML-5, XML-6), but notice EOF. */
        char sink[4096];
        ssize_t n = c->ssl ? SSL_read(c->ssl, sink, sizeof sink) : recv(c->fd, sink, sizeof sink, 0);
        if (n == 0) conn_die(c, c->close_reason);
        return;
    }
    conn_read_some(c);
}

static void conn_io_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (c->state == CONN_TLS_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if (c->ssl_wants_write) {
        c->ssl_wants_write = false;
        conn_read_some(c);
        if (c->state == CONN_DEAD) return;
    }
    conn_flush(c);
}

static void conn_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;
    conn_die(c, c->state == CONN_TLS_HANDSHAKE ? "TLS handshake timeout" : "close timeout");
}

void conn_start_tls(struct conn *c, SSL *ssl)
{
    c->pending_ssl = ssl;
    c->state = CONN_TLS_PENDING;
    ev_io_stop(c->loop, &c->read_watcher);
    conn_flush(c);
}

void conn_release_idle(struct conn *c)
{
    if (c->out.len == 0) buf_free(&c->out);
}

void conn_close_after_flush(struct conn *c, double max_wait)
{
    if (c->state == CONN_DEAD || c->state == CONN_DRAINING) return;
    if (c->state == CONN_TLS_HANDSHAKE) {
        c->drain_after_handshake = true;   /* the peer still gets its stream error */
        return;
    }
    if (c->state == CONN_TLS_PENDING) {
        conn_die(c, "closed");
        return;
    }
    c->state = CONN_DRAINING;
    if (!c->close_reason) c->close_reason = "closed by server";
    ev_timer_stop(c->loop, &c->deadline);
    ev_timer_set(&c->deadline, max_wait, 0.);
    ev_timer_start(c->loop, &c->deadline);
    conn_flush(c);
}

int conn_fd(const struct conn *c) { return c->fd; }
bool conn_is_tls(const struct conn *c) { return c->ssl != NULL && c->state != CONN_TLS_HANDSHAKE; }
SSL *conn_ssl(const struct conn *c) { return c->ssl; }
const struct sockaddr_storage *conn_peer(const struct conn *c) { return &c->peer; }
const char *conn_peer_ip(const struct conn *c) { return c->peer_ip; }
unsigned short conn_peer_port(const struct conn *c) { return c->peer_port; }
double conn_started(const struct conn *c) { return c->started; }
