/* s2s: the routes to remote domains (one outbound stream per local/remote
 * pair, with its queue), bounces, the dialback secret, the listener rule
 * of SVC-3 and the admin's view of the streams. */
#include "s2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "buf.h"
#include "c2s.h"
#include "config.h"
#include "conn.h"
#include "jid.h"
#include "log.h"
#include "router.h"
#include "s2s_stream.h"
#include "server.h"
#include "service.h"
#include "tls.h"

static char secret[65];

void s2s_init(void)
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) abort();
    for (size_t i = 0; i < sizeof raw; i++) snprintf(secret + 2 * i, 3, "%02x", raw[i]);
}

const char *s2s_secret(void)
{
    return secret;
}

/* ---- routes (S2S-4) ------------------------------------------------------------- */

static struct s2s_stream *find_route(const char *local, const char *remote)
{
    for (struct s2s_stream *st = s2s_streams; st; st = st->next)
        if (st->dir == S2S_OUT && st->purpose == S2S_ROUTE && !st->closing && strcmp(st->local, local) == 0 &&
            strcmp(st->remote, remote) == 0)
            return st;
    return NULL;
}

static void write_stanza(struct s2s_stream *st, const xnode *stanza)
{
    s2s_stream_send(st, stanza);
    s2s_stream_arm(st, st->srv->cfg->limits.s2s_idle_timeout);
}

void s2s_route_ready(struct s2s_stream *st)
{
    st->ready = true;
    s2s_stream_set_limits(st, true);
    log_write(LOG_DEBUG, "s2s out %s: ready for %s (%s)", st->remote, st->local, st->auth_method);
    while (st->queue && !st->closing) {
        struct s2s_queued *q = st->queue;
        st->queue = q->next;
        write_stanza(st, q->stanza);
        xnode_free(q->stanza);
        free(q);
    }
    st->queue_tail = NULL;
    st->queued_bytes = 0;
    if (!st->closing) s2s_stream_arm(st, st->srv->cfg->limits.s2s_idle_timeout);
}

/* The error a stanza that could not be delivered brings back to its local
 * sender (messages and iq requests; presence is dropped). */
static void bounce_one(struct server *srv, xnode *stanza, const char *condition)
{
    xnode_rename_ns(stanza, NS_SERVER, NS_CLIENT);
    const char *type = xnode_attr(stanza, "type");
    bool presence = strcmp(stanza->name, "presence") == 0;
    bool answerless = type && (strcmp(type, "error") == 0 || strcmp(type, "result") == 0);
    if (presence || answerless) return;
    /* RFC 6120 §8.3.3: a timeout or a full queue may pass; the rest will not */
    bool transient = strcmp(condition, "remote-server-timeout") == 0 ||
                     strcmp(condition, "resource-constraint") == 0;
    xnode *err = stanza_error_reply(stanza, transient ? "wait" : "cancel", condition, NULL);
    router_deliver_local(srv, err);
}

void s2s_route_bounce(struct s2s_stream *st, const char *condition)
{
    while (st->queue) {
        struct s2s_queued *q = st->queue;
        st->queue = q->next;
        bounce_one(st->srv, q->stanza, condition);
        xnode_free(q->stanza);
        free(q);
    }
    st->queue_tail = NULL;
    st->queued_bytes = 0;
}

static size_t approximate_size(const xnode *n)
{
    struct buf b;
    buf_init(&b);
    xnode_serialize(n, NS_SERVER, &b);
    size_t len = b.len;
    buf_free(&b);
    return len;
}

void s2s_send(struct server *srv, const xnode *stanza)
{
    struct jid from = { 0 }, to = { 0 };
    const char *f = xnode_attr(stanza, "from"), *t = xnode_attr(stanza, "to");
    if (!f || !t || jid_parse(f, &from) < 0 || jid_parse(t, &to) < 0) {
        jid_clear(&from);
        jid_clear(&to);
        return;
    }
    xnode *copy = xnode_copy(stanza, NS_CLIENT);
    xnode_rename_ns(copy, NS_CLIENT, NS_SERVER);
    struct s2s_stream *st = find_route(from.domain, to.domain);
    if (!st) st = s2s_out_start(srv, from.domain, to.domain, S2S_ROUTE);
    jid_clear(&from);
    jid_clear(&to);
    if (st->ready) {
        write_stanza(st, copy);
        xnode_free(copy);
        return;
    }
    size_t size = approximate_size(copy);
    if (st->queued_bytes + size > srv->cfg->limits.out_queue_bytes) {
        bounce_one(srv, copy, "resource-constraint");
        xnode_free(copy);
        return;
    }
    struct s2s_queued *q = xcalloc(1, sizeof *q);
    q->stanza = copy;
    st->queued_bytes += size;
    if (st->queue_tail) st->queue_tail->next = q;
    else st->queue = q;
    st->queue_tail = q;
}

/* ---- admin, shutdown -------------------------------------------------------------- */

void s2s_foreach(void (*fn)(const struct c2s_info *info, void *ctx), void *ctx)
{
    for (struct s2s_stream *st = s2s_streams; st; st = st->next) {
        if (st->closing || !st->conn) continue;
        SSL *ssl = st->tls ? conn_ssl(st->conn) : NULL;
        char description[600];
        snprintf(description, sizeof description, "%s %s", st->dir == S2S_IN ? "from" : "to",
                 st->remote ? st->remote : "?");
        struct c2s_info info = {
            .protocol = "XMPP-S2S",
            .secure = ssl != NULL,
            .started = conn_started(st->conn),
            .ip = conn_peer_ip(st->conn),
            .port = conn_peer_port(st->conn),
            .resource = description,
            .tls_version = ssl ? SSL_get_version(ssl) : NULL,
            .cipher = ssl ? SSL_get_cipher_name(ssl) : NULL,
            .sasl = st->auth_method,
        };
        fn(&info, ctx);
    }
}

void s2s_shutdown_all(const char *text)
{
    for (struct s2s_stream *st = s2s_streams, *next; st; st = next) {
        next = st->next;
        if (st->dir == S2S_OUT && !st->failure) st->failure = "remote-server-not-found";
        if (st->conn) s2s_stream_error(st, "system-shutdown", text);
        else s2s_stream_discard(st);
    }
}

void s2s_abort_all(void)
{
    for (struct s2s_stream *st = s2s_streams, *next; st; st = next) {
        next = st->next;
        st->closing = true;
        if (st->conn) conn_close(st->conn, "shutdown");
        else s2s_stream_discard(st);
    }
}

bool s2s_any(void)
{
    return s2s_streams != NULL;
}

/* ---- the listener (SVC-3, DOM-6) ---------------------------------------------------- */

static bool client_service_running(const struct server *srv)
{
    for (size_t i = 0; i < srv->n_services; i++) {
        const char *id = service_id(srv->services[i]);
        if ((strcmp(id, "xmpp") == 0 || strcmp(id, "xmpps") == 0) && service_running(srv->services[i]))
            return true;
    }
    return false;
}

void s2s_sync_listener(struct server *srv)
{
    bool open = srv->s2s_wanted && srv->cfg->send_outside && client_service_running(srv);
    for (size_t i = 0; i < srv->n_services; i++) {
        struct service *svc = srv->services[i];
        if (strcmp(service_id(svc), "s2s") != 0) continue;
        if (open && !service_running(svc)) {
            if (service_start(svc) > 0) log_write(LOG_CONFIG, "S2S: the federation listener is open.");
        } else if (!open && service_running(svc)) {
            service_stop(svc);
            log_write(LOG_CONFIG, "S2S: the federation listener is closed.");
        }
    }
    if (!srv->cfg->send_outside || !srv->s2s_wanted) s2s_shutdown_all("federation is off");
}
