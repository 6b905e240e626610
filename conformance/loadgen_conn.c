/* loadgen_conn: see loadgen_conn.h. Each state waits for one kind of
 * top-level element; handlers are small and named after what they answer. */
#include "loadgen_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadgen_xml.h"
#include "scram.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NEGOTIATION_TIMEOUT 30.0
#define CLOSE_GRACE 3.0
#define MAX_PENDING_INPUT (4u << 20)

static void conn_finish(struct lg_conn *c, bool ok);

static void conn_fail(struct lg_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void conn_fail(struct lg_conn *c, const char *fmt, ...)
{
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    lg_worker_note(c->w, "%s: %s", c->node, text);
    conn_finish(c, false);
}

/* Watches the fd for `events` (EV_READ, EV_WRITE or both). */
static void conn_watch(struct lg_conn *c, int events)
{
    if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(c->w->loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->w->loop, &c->io);
}

/* ---- output ------------------------------------------------------------ */

void lg_conn_send(struct lg_conn *c, const void *data, size_t len)
{
    if (c->state == LGC_DEAD)
        return;
    buf_append(&c->out, data, len);
    if (!c->in_dirty) {
        c->in_dirty = true;
        c->next_dirty = c->w->dirty;
        c->w->dirty = c;
    }
}

static void send_text(struct lg_conn *c, const char *text)
{
    lg_conn_send(c, text, strlen(text));
}

size_t lg_conn_backlog(const struct lg_conn *c)
{
    return c->out.len - c->out_sent;
}

/* One write: bytes written, 0 when the socket is full, -1 on an error. */
static ssize_t transport_write(struct lg_conn *c, const char *p, size_t len)
{
    if (!c->ssl) {
        ssize_t r = send(c->fd, p, len, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    }
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, len > (1u << 30) ? 1 << 30 : (int)len);
    if (r > 0)
        return r;
    int err = SSL_get_error(c->ssl, r);
    return err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ ? 0 : -1;
}

/* Writes until done or the socket is full; watches for writability then. */
static void conn_flush(struct lg_conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t r = transport_write(c, c->out.data + c->out_sent, c->out.len - c->out_sent);
        if (r < 0) {
            conn_fail(c, "write failed: %s", c->ssl ? "TLS error" : strerror(errno));
            return;
        }
        if (r == 0) {
            if (c->out_sent > c->out.len / 2 && !c->ssl) {
                buf_consume(&c->out, c->out_sent);
                c->out_sent = 0;
            }
            conn_watch(c, EV_READ | EV_WRITE);
            return;
        }
        c->out_sent += (size_t)r;
    }
    buf_reset(&c->out);
    c->out_sent = 0;
    if (c->state != LGC_CONNECTING && c->state != LGC_TLS_HANDSHAKE)
        conn_watch(c, EV_READ);
}

void lg_conn_flush_all(struct lg_worker *w)
{
    while (w->dirty) {
        struct lg_conn *c = w->dirty;
        w->dirty = c->next_dirty;
        c->in_dirty = false;
        if (c->state != LGC_DEAD && c->state != LGC_CONNECTING && c->state != LGC_TLS_HANDSHAKE)
            conn_flush(c);
    }
}

/* ---- negotiation ----------------------------------------------------------- */

static void send_header(struct lg_conn *c)
{
    struct buf h;
    buf_init(&h);
    buf_printf(&h, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='%s'>",
               c->w->o->domain);
    lg_conn_send(c, h.data, h.len);
    buf_free(&h);
    c->stream_open = false;
    c->state = LGC_WAIT_FEATURES;
}

static void send_auth(struct lg_conn *c, const char *mechanism, const char *initial)
{
    char *b64 = scram_base64_encode(initial, strlen(initial));
    struct buf a;
    buf_init(&a);
    buf_printf(&a, "<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>", mechanism, b64);
    lg_conn_send(c, a.data, a.len);
    buf_free(&a);
    free(b64);
}

static void start_plain(struct lg_conn *c)
{
    struct buf msg;
    buf_init(&msg);
    buf_append(&msg, "", 1);
    buf_puts(&msg, c->node);
    buf_append(&msg, "", 1);
    buf_puts(&msg, c->w->o->password);
    char *b64 = scram_base64_encode(msg.data, msg.len);
    struct buf a;
    buf_init(&a);
    buf_printf(&a, "<auth xmlns='" NS_SASL "' mechanism='PLAIN'>%s</auth>", b64);
    lg_conn_send(c, a.data, a.len);
    buf_free(&a);
    buf_free(&msg);
    free(b64);
    c->mech = LG_MECH_PLAIN;
    c->state = LGC_WAIT_SUCCESS;
}

/* The mechanisms offered, as a bit set of enum lg_mech. */
static unsigned offered_mechanisms(const char *features, size_t len)
{
    return (lg_xml_contains(features, len, ">SCRAM-SHA-256<") ? 1u << LG_MECH_SCRAM_SHA256 : 0)
           | (lg_xml_contains(features, len, ">SCRAM-SHA-1<") ? 1u << LG_MECH_SCRAM_SHA1 : 0)
           | (lg_xml_contains(features, len, ">PLAIN<") ? 1u << LG_MECH_PLAIN : 0);
}

static void start_auth(struct lg_conn *c)
{
    bool sha256 = c->offered & (1u << LG_MECH_SCRAM_SHA256);
    if (sha256 || (c->offered & (1u << LG_MECH_SCRAM_SHA1))) {
        char *first = lg_scram_client_first(&c->scram, sha256, c->node, NULL);
        send_auth(c, sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-1", first);
        free(first);
        c->mech = sha256 ? LG_MECH_SCRAM_SHA256 : LG_MECH_SCRAM_SHA1;
        c->state = LGC_WAIT_CHALLENGE;
    } else if (c->offered & (1u << LG_MECH_PLAIN)) {
        start_plain(c);
    } else {
        conn_fail(c, "no SASL mechanism in common (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN)");
    }
}

static void send_register(struct lg_conn *c)
{
    struct buf r;
    buf_init(&r);
    buf_puts(&r, "<iq type='set' id='lgreg'><query xmlns='jabber:iq:register'><username>");
    buf_append_xml_escaped(&r, c->node, strlen(c->node));
    buf_puts(&r, "</username><password>");
    buf_append_xml_escaped(&r, c->w->o->password, strlen(c->w->o->password));
    buf_puts(&r, "</password></query></iq>");
    lg_conn_send(c, r.data, r.len);
    buf_free(&r);
    c->state = LGC_WAIT_REGISTER;
}

static void start_tls(struct lg_conn *c)
{
    c->ssl = SSL_new(c->w->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_fail(c, "SSL_new failed");
        return;
    }
    SSL_set_tlsext_host_name(c->ssl, c->w->o->domain);
    if (c->w->o->ca)
        SSL_set1_host(c->ssl, c->w->o->domain);
    SSL_set_connect_state(c->ssl);
    c->tls_started = true;
    c->state = LGC_TLS_HANDSHAKE;
    buf_reset(&c->in);
}

static void on_features(struct lg_conn *c, const char *el, size_t len)
{
    const struct lg_opts *o = c->w->o;
    if (c->authenticated) {
        c->session_required = lg_xml_contains(el, len, "<session")
                              && !lg_xml_contains(el, len, "<optional");
        send_text(c, "<iq type='set' id='lgbind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        c->state = LGC_WAIT_BIND;
    } else if (o->tls && !c->ssl) {
        if (!lg_xml_contains(el, len, "<starttls")) {
            conn_fail(c, "the server does not offer STARTTLS");
            return;
        }
        send_text(c, "<starttls xmlns='" NS_TLS "'/>");
        c->state = LGC_WAIT_PROCEED;
    } else {
        c->offered = offered_mechanisms(el, len);
        if (o->reg && !c->registered)
            send_register(c);
        else
            start_auth(c);
    }
}

/* The element's text decoded from base64 into *out (malloc'd); -1 if bad. */
static int sasl_payload(const char *el, size_t len, unsigned char **out, size_t *out_len)
{
    size_t clen = 0;
    const char *text = lg_xml_content(el, len, &clen);
    if (clen == 1 && text[0] == '=')
        clen = 0;
    return scram_base64_decode(text, clen, out, out_len);
}

static void on_challenge(struct lg_conn *c, const char *el, size_t len)
{
    if (!lg_xml_named(el, len, "challenge")) {
        conn_fail(c, "SASL %.*s", (int)(len > 200 ? 200 : len), el);
        return;
    }
    unsigned char *server_first = NULL;
    size_t sf_len = 0;
    char *final = NULL;
    if (sasl_payload(el, len, &server_first, &sf_len) == 0)
        final = lg_scram_client_final(&c->scram, c->w->scram, c->w->o->password,
                                      (const char *)server_first, sf_len);
    free(server_first);
    if (!final) {
        conn_fail(c, "bad SCRAM server-first message");
        return;
    }
    char *b64 = scram_base64_encode(final, strlen(final));
    struct buf r;
    buf_init(&r);
    buf_printf(&r, "<response xmlns='" NS_SASL "'>%s</response>", b64);
    lg_conn_send(c, r.data, r.len);
    buf_free(&r);
    free(b64);
    free(final);
    c->state = LGC_WAIT_SUCCESS;
}

static void on_success(struct lg_conn *c, const char *el, size_t len)
{
    if (!lg_xml_named(el, len, "success")) {
        conn_fail(c, "SASL %.*s", (int)(len > 200 ? 200 : len), el);
        return;
    }
    if (c->mech != LG_MECH_PLAIN) {
        unsigned char *server_final = NULL;
        size_t sf_len = 0;
        bool ok = sasl_payload(el, len, &server_final, &sf_len) == 0
                  && lg_scram_verify_final(&c->scram, (const char *)server_final, sf_len);
        free(server_final);
        lg_scram_free(&c->scram);
        if (!ok) {
            conn_fail(c, "the server's SCRAM signature does not verify");
            return;
        }
    }
    c->authenticated = true;
    send_header(c);
}

static bool iq_is(const char *el, size_t len, const char *type, const char *id)
{
    size_t tlen = 0, ilen = 0;
    const char *t = lg_xml_attr(el, len, "type", &tlen);
    const char *i = lg_xml_attr(el, len, "id", &ilen);
    return lg_xml_named(el, len, "iq") && t && tlen == strlen(type) && memcmp(t, type, tlen) == 0
           && i && ilen == strlen(id) && memcmp(i, id, ilen) == 0;
}

static void go_online(struct lg_conn *c)
{
    c->state = LGC_ONLINE;
    c->online_ns = c->w->now_ns;
    ev_timer_stop(c->w->loop, &c->timer);
    c->w->stats->mech = c->mech;
    lg_worker_conn_online(c->w, c);
}

static void on_bind(struct lg_conn *c, const char *el, size_t len)
{
    if (!iq_is(el, len, "result", "lgbind")) {
        conn_fail(c, "bind failed: %.*s", (int)(len > 200 ? 200 : len), el);
        return;
    }
    if (c->session_required) {
        send_text(c, "<iq type='set' id='lgsess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
        c->state = LGC_WAIT_SESSION;
        return;
    }
    go_online(c);
}

static void on_register(struct lg_conn *c, const char *el, size_t len)
{
    if (!iq_is(el, len, "result", "lgreg") && !(iq_is(el, len, "error", "lgreg")
                                                && lg_xml_contains(el, len, "<conflict"))) {
        conn_fail(c, "registration failed: %.*s", (int)(len > 200 ? 200 : len), el);
        return;
    }
    c->registered = true;
    start_auth(c);
}

/* Answers an iq get/set from the server (ping, roster push) with a result. */
static void answer_iq(struct lg_conn *c, const char *el, size_t len)
{
    size_t tlen = 0, ilen = 0, flen = 0;
    const char *type = lg_xml_attr(el, len, "type", &tlen);
    if (!type || !((tlen == 3 && memcmp(type, "get", 3) == 0) || (tlen == 3 && memcmp(type, "set", 3) == 0)))
        return;
    const char *id = lg_xml_attr(el, len, "id", &ilen);
    const char *from = lg_xml_attr(el, len, "from", &flen);
    struct buf r;
    buf_init(&r);
    buf_puts(&r, "<iq type='result'");
    if (id)
        buf_printf(&r, " id=%c%.*s%c", id[-1], (int)ilen, id, id[-1]);
    if (from)
        buf_printf(&r, " to=%c%.*s%c", from[-1], (int)flen, from, from[-1]);
    buf_puts(&r, "/>");
    lg_conn_send(c, r.data, r.len);
    buf_free(&r);
}

static void on_element(struct lg_conn *c, const char *el, size_t len)
{
    if (lg_xml_named(el, len, "stream:error")) {
        conn_fail(c, "stream error: %.*s", (int)(len > 200 ? 200 : len), el);
        return;
    }
    switch (c->state) {
    case LGC_WAIT_FEATURES: on_features(c, el, len); break;
    case LGC_WAIT_PROCEED:
        if (lg_xml_named(el, len, "proceed"))
            start_tls(c);
        else
            conn_fail(c, "STARTTLS refused");
        break;
    case LGC_WAIT_REGISTER: on_register(c, el, len); break;
    case LGC_WAIT_CHALLENGE: on_challenge(c, el, len); break;
    case LGC_WAIT_SUCCESS: on_success(c, el, len); break;
    case LGC_WAIT_BIND: on_bind(c, el, len); break;
    case LGC_WAIT_SESSION:
        if (iq_is(el, len, "result", "lgsess"))
            go_online(c);
        else
            conn_fail(c, "session establishment failed");
        break;
    case LGC_ONLINE:
    case LGC_CLOSING:
        if (lg_xml_named(el, len, "iq"))
            answer_iq(c, el, len);
        c->w->profile->stanza(c->w, c, el, len);
        break;
    default: break;
    }
}

/* ---- input --------------------------------------------------------------- */

static void on_item(struct lg_conn *c, enum lg_xml_kind kind, const char *el, size_t len)
{
    if (kind == LGX_HEADER) {
        c->stream_open = true;
    } else if (kind == LGX_CLOSE) {
        if (c->state == LGC_CLOSING)
            conn_finish(c, true);
        else
            conn_fail(c, "the server closed the stream");
    } else {
        on_element(c, el, len);
    }
}

/* Handles the complete items of p[0..n); the bytes used. Stops when the
 * connection died or switched to TLS. */
static size_t scan_items(struct lg_conn *c, const char *p, size_t n)
{
    size_t off = 0;
    while (c->state != LGC_DEAD && c->state != LGC_TLS_HANDSHAKE) {
        size_t start = 0, used = 0;
        enum lg_xml_kind kind = lg_xml_next(p + off, n - off, c->stream_open, &start, &used);
        if (kind == LGX_MORE) {
            off += used;
            break;
        }
        on_item(c, kind, p + off + start, used - start);
        off += used;
    }
    return off;
}

static void conn_input(struct lg_conn *c, const char *data, size_t n)
{
    if (c->in.len == 0) {
        size_t used = scan_items(c, data, n);
        if (c->state != LGC_DEAD && c->state != LGC_TLS_HANDSHAKE && used < n)
            buf_append(&c->in, data + used, n - used);
    } else {
        buf_append(&c->in, data, n);
        size_t used = scan_items(c, c->in.data, c->in.len);
        if (c->state != LGC_DEAD && c->state != LGC_TLS_HANDSHAKE)
            buf_consume(&c->in, used);
    }
    if (c->in.len > MAX_PENDING_INPUT)
        conn_fail(c, "an element of more than %u bytes", MAX_PENDING_INPUT);
}

/* One read into the scratch buffer: bytes, 0 when nothing more now, -1 at
 * the end of the connection (EOF or error). */
static ssize_t transport_read(struct lg_conn *c)
{
    char *buf = c->w->scratch;
    size_t size = c->w->scratch_size;
    if (!c->ssl) {
        ssize_t r = recv(c->fd, buf, size, 0);
        if (r > 0)
            return r;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    }
    ERR_clear_error();
    int r = SSL_read(c->ssl, buf, (int)size);
    if (r > 0)
        return r;
    int err = SSL_get_error(c->ssl, r);
    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* True when a read of r bytes emptied what the connection had: a short
 * plaintext read drained the socket (the level-triggered watcher reports
 * more), so no further recv that would only say EAGAIN; TLS may still hold
 * decrypted or read-ahead bytes. */
static bool read_drained(const struct lg_conn *c, size_t r)
{
    if (r >= c->w->scratch_size)
        return false;
    return c->ssl ? !SSL_has_pending(c->ssl) : true;
}

/* Reads until the socket is drained. */
static void conn_read(struct lg_conn *c)
{
    while (c->state != LGC_DEAD && c->state != LGC_TLS_HANDSHAKE) {
        ssize_t r = transport_read(c);
        if (r == 0)
            return;
        if (r < 0) {
            if (c->state == LGC_CLOSING)
                conn_finish(c, true);
            else
                conn_fail(c, "the server closed the connection");
            return;
        }
        conn_input(c, c->w->scratch, (size_t)r);
        if (read_drained(c, (size_t)r))
            return;
    }
}

/* ---- connection and TLS handshake ------------------------------------------ */

static void handshake_step(struct lg_conn *c)
{
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        conn_watch(c, EV_READ);
        send_header(c);
        return;
    }
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ)
        conn_watch(c, EV_READ);
    else if (err == SSL_ERROR_WANT_WRITE)
        conn_watch(c, EV_READ | EV_WRITE);
    else {
        unsigned long e = ERR_peek_last_error();
        char text[200] = "connection closed";
        if (e)
            ERR_error_string_n(e, text, sizeof text);
        conn_fail(c, "TLS handshake: %s", text);
    }
}

static void on_connected(struct lg_conn *c)
{
    int so_error = 0;
    socklen_t slen = sizeof so_error;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &slen) < 0 || so_error) {
        conn_fail(c, "connect: %s", strerror(so_error ? so_error : errno));
        return;
    }
    conn_watch(c, EV_READ);
    if (c->raw_side) {
        char line[64];
        snprintf(line, sizeof line, "PAIR %u %c\n", c->raw_pair, c->raw_side);
        c->state = LGC_WAIT_FEATURES;   /* not CONNECTING, so it flushes */
        send_text(c, line);
        c->stream_open = true;
        go_online(c);
        return;
    }
    send_header(c);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    struct lg_conn *c = io->data;
    c->w->now_ns = lg_now_ns();
    if (c->state == LGC_CONNECTING) {
        on_connected(c);
        return;
    }
    if (c->state == LGC_TLS_HANDSHAKE) {
        handshake_step(c);
        return;
    }
    if (revents & EV_WRITE)
        conn_flush(c);
    if ((revents & EV_READ) && c->state != LGC_DEAD)
        conn_read(c);
    if (c->state == LGC_TLS_HANDSHAKE)
        handshake_step(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct lg_conn *c = t->data;
    if (c->state == LGC_CLOSING)
        conn_finish(c, true);
    else
        conn_fail(c, "timed out in negotiation (state %d)", (int)c->state);
}

/* Binds the next --source address (any port, chosen at connect time). */
static int bind_source(struct lg_conn *c)
{
    const struct lg_opts *o = c->w->o;
    if (o->nsources == 0)
        return 0;
    const struct sockaddr_storage *src = &o->sources[c->w->next_source++ % o->nsources];
    int one = 1;
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    socklen_t len = src->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    return bind(c->fd, (const struct sockaddr *)src, len);
}

static int open_socket(struct lg_conn *c)
{
    const struct lg_opts *o = c->w->o;
    c->fd = socket(o->server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind_source(c) < 0)
        return -1;
    if (connect(c->fd, (const struct sockaddr *)&o->server, o->server_len) < 0 && errno != EINPROGRESS)
        return -1;
    return 0;
}

struct lg_conn *lg_conn_start(struct lg_worker *w, unsigned user, int slot, char raw_side,
                              unsigned raw_pair)
{
    struct lg_conn *c = xcalloc(1, sizeof *c);
    c->w = w;
    c->user = user;
    c->slot = slot;
    c->raw_side = raw_side;
    c->raw_pair = raw_pair;
    c->started_ns = w->now_ns = lg_now_ns();
    snprintf(c->node, sizeof c->node, w->o->user_fmt, user);
    buf_init(&c->in);
    buf_init(&c->out);
    c->state = LGC_CONNECTING;
    if (open_socket(c) < 0) {
        lg_worker_note(w, "%s: connect: %s", c->node, strerror(errno));
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        return NULL;
    }
    ev_io_init(&c->io, conn_io_cb, c->fd, EV_WRITE);
    c->io.data = c;
    ev_io_start(w->loop, &c->io);
    ev_timer_init(&c->timer, conn_timer_cb, NEGOTIATION_TIMEOUT, 0);
    c->timer.data = c;
    ev_timer_start(w->loop, &c->timer);
    w->stats->in_progress++;
    c->next_live = w->live;
    if (w->live)
        w->live->prev_live = c;
    w->live = c;
    w->nlive++;
    return c;
}

/* ---- the end ------------------------------------------------------------- */

static void unlink_live(struct lg_conn *c)
{
    if (c->prev_live)
        c->prev_live->next_live = c->next_live;
    else
        c->w->live = c->next_live;
    if (c->next_live)
        c->next_live->prev_live = c->prev_live;
    c->w->nlive--;
}

static void conn_finish(struct lg_conn *c, bool ok)
{
    if (c->state == LGC_DEAD)
        return;
    struct lg_worker *w = c->w;
    bool was_online = c->state == LGC_ONLINE || c->state == LGC_CLOSING;
    if (!was_online)
        w->stats->in_progress--;
    c->state = LGC_DEAD;
    ev_io_stop(w->loop, &c->io);
    ev_timer_stop(w->loop, &c->timer);
    if (c->ssl) {
        if (ok)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    lg_scram_free(&c->scram);
    unlink_live(c);
    c->next_dead = w->dead;
    w->dead = c;
    lg_worker_conn_closed(w, c, ok, was_online);
}

void lg_conn_close(struct lg_conn *c)
{
    if (c->state == LGC_DEAD || c->state == LGC_CLOSING)
        return;
    if (c->state != LGC_ONLINE) {
        conn_finish(c, false);
        return;
    }
    if (c->raw_side) {
        conn_finish(c, true);
        return;
    }
    send_text(c, "</stream:stream>");
    c->state = LGC_CLOSING;
    ev_timer_stop(c->w->loop, &c->timer);
    ev_timer_set(&c->timer, CLOSE_GRACE, 0);
    ev_timer_start(c->w->loop, &c->timer);
}

void lg_conn_abort(struct lg_conn *c, const char *why)
{
    if (c->state == LGC_DEAD)
        return;
    if (why)
        conn_fail(c, "%s", why);
    else
        conn_finish(c, false);
}

/* Call after lg_conn_flush_all: no finished connection is on the dirty list. */
void lg_conn_reap(struct lg_worker *w)
{
    while (w->dead) {
        struct lg_conn *c = w->dead;
        w->dead = c->next_dead;
        buf_free(&c->in);
        buf_free(&c->out);
        free(c);
    }
}

bool lg_conn_is_self(const struct lg_conn *c, const char *jid, size_t len)
{
    size_t nlen = strlen(c->node), dlen = strlen(c->w->o->domain);
    return len >= nlen + 1 + dlen && memcmp(jid, c->node, nlen) == 0 && jid[nlen] == '@'
           && memcmp(jid + nlen + 1, c->w->o->domain, dlen) == 0
           && (len == nlen + 1 + dlen || jid[nlen + 1 + dlen] == '/');
}
