#include "s2s_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "c2s.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "s2s.h"
#include "server.h"
#include "service.h"
#include "xmlstream.h"

#define CLOSE_DRAIN_SECONDS 5.0

struct s2s_stream *s2s_streams;
static unsigned long long next_serial = 1;

bool s2s_is(const xnode *el, const char *name, const char *ns)
{
    const char *el_ns = xnode_ns(el);
    return strcmp(el->name, name) == 0 && el_ns && strcmp(el_ns, ns) == 0;
}

void s2s_stream_debug(const struct s2s_stream *st, const char *direction, const xnode *el)
{
    if (!log_debug_enabled()) return;
    struct buf line;
    buf_init(&line);
    xnode_serialize(el, NS_SERVER, &line);
    log_write(LOG_DEBUG, "s2s %s %s %s %s", st->dir == S2S_IN ? "in" : "out",
              st->remote ? st->remote : "?", direction, line.data);
    buf_free(&line);
}

/* ---- output -------------------------------------------------------------- */

void s2s_stream_write(struct s2s_stream *st, const char *data, size_t len)
{
    if (st->closing || !st->conn) return;
    if (conn_write(st->conn, data, len) < 0) {
        char text[96];
        snprintf(text, sizeof text, "output queue exceeds %zu bytes", st->srv->cfg->limits.out_queue_bytes);
        s2s_stream_error(st, "policy-violation", text);
    }
}

void s2s_stream_send(struct s2s_stream *st, const xnode *stanza)
{
    s2s_stream_debug(st, "OUT", stanza);
    struct buf out;
    buf_init(&out);
    xnode_serialize(stanza, NS_SERVER, &out);
    s2s_stream_write(st, out.data, out.len);
    buf_free(&out);
}

static void put_attr(struct buf *b, const char *name, const char *value)
{
    if (!value) return;
    buf_printf(b, " %s='", name);
    buf_append_xml_escaped(b, value, strlen(value));
    buf_puts(b, "'");
}

void s2s_stream_send_header(struct s2s_stream *st)
{
    struct buf h;
    buf_init(&h);
    buf_puts(&h, "<?xml version='1.0'?><stream:stream xmlns='" NS_SERVER "' xmlns:stream='" NS_STREAMS
                 "' xmlns:db='" NS_DIALBACK "'");
    put_attr(&h, "from", st->local);
    put_attr(&h, "to", st->remote);
    if (st->dir == S2S_IN) put_attr(&h, "id", st->stream_id);
    buf_puts(&h, " version='1.0' xml:lang='en'>");
    s2s_stream_write(st, h.data, h.len);
    buf_free(&h);
    st->header_sent = true;
}

void s2s_stream_error(struct s2s_stream *st, const char *condition, const char *text)
{
    if (st->closing || !st->conn) return;
    if (!st->header_sent) s2s_stream_send_header(st);
    struct buf e;
    buf_init(&e);
    xmlstream_error_xml(&e, condition, text);
    conn_write_force(st->conn, e.data, e.len);
    buf_free(&e);
    log_write(LOG_DEBUG, "s2s %s %s %s: stream error %s%s%s", st->dir == S2S_IN ? "in" : "out",
              st->remote ? st->remote : "?", conn_peer_ip(st->conn), condition, text ? ": " : "",
              text ? text : "");
    st->closing = true;
    conn_close_after_flush(st->conn, CLOSE_DRAIN_SECONDS);
}

void s2s_stream_close(struct s2s_stream *st)
{
    if (st->closing || !st->conn) return;
    if (!st->header_sent) s2s_stream_send_header(st);
    conn_write_force(st->conn, "</stream:stream>", 16);
    st->closing = true;
    conn_close_after_flush(st->conn, CLOSE_DRAIN_SECONDS);
}

/* ---- parser events --------------------------------------------------------- */

static void on_open(void *ctx, const xnode *header)
{
    struct s2s_stream *st = ctx;
    if (st->dir == S2S_IN) s2s_in_open(st, header);
    else s2s_out_open(st, header);
}

static void on_element(void *ctx, xnode *el)
{
    struct s2s_stream *st = ctx;
    if (st->closing) {
        xnode_free(el);
        return;
    }
    s2s_stream_debug(st, "IN", el);
    if (s2s_is(el, "error", NS_STREAMS)) {
        xnode *cond = el->children && el->children->kind == XNODE_ELEMENT ? el->children : NULL;
        log_write(LOG_WARNING, "S2S: %s stream %s %s ended with stream error %s.",
                  st->dir == S2S_IN ? "inbound" : "outbound", st->dir == S2S_IN ? "from" : "to",
                  st->remote ? st->remote : "?", cond ? cond->name : "(none)");
        xnode_free(el);
        st->closing = true;
        conn_close_after_flush(st->conn, CLOSE_DRAIN_SECONDS);
        return;
    }
    if (st->dir == S2S_IN) s2s_in_element(st, el);
    else s2s_out_element(st, el);
}

static void on_close(void *ctx)
{
    s2s_stream_close(ctx);
}

static void on_parse_error(void *ctx, const char *condition, const char *text)
{
    s2s_stream_error(ctx, condition, text);
}

static const struct xmlstream_callbacks parser_events = {
    .open = on_open,
    .stanza = on_element,
    .close = on_close,
    .error = on_parse_error,
};

void s2s_stream_set_limits(struct s2s_stream *st, bool authenticated)
{
    const struct limits_config *l = &st->srv->cfg->limits;
    struct xmlstream_limits lim = {
        .max_stanza_bytes = authenticated ? l->stanza_bytes_s2s : l->stanza_bytes_pre_auth,
        .max_elements = authenticated ? l->elements : l->elements_pre_auth,
        .max_depth = authenticated ? l->depth : l->depth_pre_auth,
        .max_attrs = l->attrs,
    };
    xmlstream_set_limits(st->xs, &lim);
}

/* ---- connection events ------------------------------------------------------ */

static void on_read(void *owner, const char *data, size_t len)
{
    struct s2s_stream *st = owner;
    if (st->ready || st->pairs)
        s2s_stream_arm(st, st->srv->cfg->limits.s2s_idle_timeout);
    while (len > 0 && !st->closing) {
        size_t used = len;
        if (xmlstream_feed(st->xs, data, len, &used) != XS_PAUSED) return;
        data += used;
        len -= used;
        enum s2s_restart r = st->restart;
        st->restart = S2S_RESTART_NONE;
        if (r == S2S_RESTART_NONE) continue;
        xmlstream_restart(st->xs);
        st->header_sent = false;
        if (r == S2S_RESTART_AFTER_TLS) return;     /* XML-5: the rest is dropped */
        if (st->dir == S2S_OUT) s2s_stream_send_header(st);
    }
}

static void on_tls_ready(void *owner)
{
    struct s2s_stream *st = owner;
    st->tls = true;
    if (st->dir == S2S_IN) s2s_in_tls_ready(st);
    else s2s_out_tls_ready(st);
}

static void stream_free(struct s2s_stream *st)
{
    ev_timer_stop(st->srv->loop, &st->deadline);
    if (st->dir == S2S_IN) s2s_in_closed(st);
    else s2s_out_closed(st);
    if (st->prev) st->prev->next = st->next;
    else s2s_streams = st->next;
    if (st->next) st->next->prev = st->prev;
    if (st->xs) xmlstream_free(st->xs);
    free(st->local);
    free(st->remote);
    free(st);
}

static void on_closed(void *owner, const char *reason)
{
    struct s2s_stream *st = owner;
    log_write(LOG_DEBUG, "s2s %s %s closed: %s", st->dir == S2S_IN ? "in" : "out",
              st->remote ? st->remote : "?", reason);
    st->conn = NULL;
    stream_free(st);
}

static const struct conn_events conn_events = {
    .read = on_read,
    .tls_ready = on_tls_ready,
    .closed = on_closed,
};

/* ---- life cycle ---------------------------------------------------------------- */

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct s2s_stream *st = w->data;
    if (st->dir == S2S_OUT && !st->ready) {
        st->failure = "remote-server-timeout";
        if (!st->conn) {
            s2s_stream_discard(st);
            return;
        }
        s2s_stream_error(st, "connection-timeout", "the stream was not set up in time");
    } else if (st->ready || st->pairs) {
        s2s_stream_close(st);          /* idle */
    } else {
        s2s_stream_error(st, "connection-timeout", "negotiation took too long");
    }
}

void s2s_stream_arm(struct s2s_stream *st, double seconds)
{
    st->deadline.repeat = seconds;
    ev_timer_again(st->srv->loop, &st->deadline);
}

struct s2s_stream *s2s_stream_new(struct server *srv, enum s2s_dir dir)
{
    struct s2s_stream *st = xcalloc(1, sizeof *st);
    st->srv = srv;
    st->dir = dir;
    st->serial = next_serial++;
    st->connect_fd = -1;
    st->xs = xmlstream_new(&parser_events, st, &(struct xmlstream_limits){ 0 });
    s2s_stream_set_limits(st, false);
    ev_init(&st->deadline, on_deadline);
    st->deadline.data = st;
    st->next = s2s_streams;
    if (s2s_streams) s2s_streams->prev = st;
    s2s_streams = st;
    return st;
}

void s2s_stream_attach(struct s2s_stream *st, int fd, const struct sockaddr_storage *peer, void *ssl)
{
    const struct limits_config *l = &st->srv->cfg->limits;
    struct conn_limits cl = {
        .out_queue_bytes = l->out_queue_bytes,
        .read_rate = l->read_rate,
        .read_burst = l->read_burst,
        .tls_handshake_timeout = l->tls_handshake_timeout,
    };
    st->conn = conn_new(st->srv->loop, fd, peer, ssl, &cl, &conn_events, st);
}

void s2s_stream_discard(struct s2s_stream *st)
{
    stream_free(st);
}

struct s2s_stream *s2s_stream_find(unsigned long long serial)
{
    for (struct s2s_stream *st = s2s_streams; st; st = st->next)
        if (st->serial == serial) return st;
    return NULL;
}
