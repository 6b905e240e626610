/* conn: one TCP connection's bytes — reading, an optional TLS layer, a
 * bounded write queue, a read-rate limit and the TLS handshake deadline.
 * It knows nothing of XMPP. The owner (c2s) gets events through
 * conn_events; the conn owns its fd, its SSL and its buffers. A conn is
 * never freed under its owner's feet: conn_close only marks it, and the
 * free happens from the loop once the current callback has returned, after
 * the `closed` event (the owner's last use of the conn). Bytes queued on an
 * open conn are written once per loop iteration, before the loop waits
 * again (or at once past 16 KiB), so many stanzas cost one write. */
#ifndef IMREF_CONN_H
#define IMREF_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>
#include <openssl/ssl.h>

struct conn;

struct conn_events {
    /* Plaintext bytes arrived (borrowed for the call). */
    void (*read)(void *owner, const char *data, size_t len);
    /* The TLS handshake begun by conn_start_tls (or direct TLS) completed. */
    void (*tls_ready)(void *owner);
    /* The connection is gone (peer closed, I/O error, TLS failure, timeout, or
     * conn_close finished). `reason` is for logs. The owner must not use the
     * conn after this returns. Called exactly once. */
    void (*closed)(void *owner, const char *reason);
};

struct conn_limits {
    size_t out_queue_bytes;     /* write queue bound; 0: unbounded (tests) */
    size_t read_rate;           /* bytes/s; 0: no limit */
    size_t read_burst;          /* bucket size */
    double tls_handshake_timeout;
};

/* Takes ownership of fd (non-blocking). `ssl` non-NULL: direct TLS, the
 * handshake starts at once (ownership of ssl passes to the conn). */
struct conn *conn_new(struct ev_loop *loop, int fd, const struct sockaddr_storage *peer,
                      SSL *ssl, const struct conn_limits *limits,
                      const struct conn_events *events, void *owner);

/* Queues bytes. Returns 0, or -1 when the queue bound would be exceeded
 * (nothing queued; the caller decides, usually a policy-violation close). */
int conn_write(struct conn *c, const char *data, size_t len);
/* Queues bytes whatever the bound (a last stream error). */
void conn_write_force(struct conn *c, const char *data, size_t len);
/* STARTTLS: stop reading now; once the queue has drained (the <proceed/>),
 * start a server handshake with `ssl` (ownership passes). */
void conn_start_tls(struct conn *c, SSL *ssl);
/* An idle connection frees its empty write queue's storage (the next
 * write allocates again). */
void conn_release_idle(struct conn *c);
/* Closes after the queue drains, or after `max_wait` seconds (XML-6). */
void conn_close_after_flush(struct conn *c, double max_wait);
/* Closes now, dropping what is queued. */
void conn_close(struct conn *c, const char *reason);

bool conn_is_tls(const struct conn *c);
int conn_fd(const struct conn *c);
SSL *conn_ssl(const struct conn *c);           /* NULL before TLS */
const struct sockaddr_storage *conn_peer(const struct conn *c);
const char *conn_peer_ip(const struct conn *c);   /* "127.0.0.1", "::1" */
unsigned short conn_peer_port(const struct conn *c);
double conn_started(const struct conn *c);        /* ev_now at accept */

#endif
