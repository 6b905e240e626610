/* Outbound S2S streams (S2S-1, S2S-2, S2S-4): resolve, connect to each
 * target in turn, STARTTLS, then SASL EXTERNAL or dialback; or, for a
 * VERIFY stream, one <db:verify/> to the authoritative server. */
#include "s2s_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "c2s.h"
#include "config.h"
#include "conn.h"
#include "dialback.h"
#include "log.h"
#include "s2s.h"
#include "server.h"
#include "tls.h"
#include "xmlstream.h"

static void try_next_target(struct s2s_stream *st);

/* Ends the stream before it is up; `condition` is the bounce for its queue. */
static void out_fail(struct s2s_stream *st, const char *condition, const char *why)
{
    if (!st->failure) st->failure = condition;
    log_write(LOG_WARNING, "S2S: cannot %s %s from %s: %s.",
              st->purpose == S2S_ROUTE ? "deliver to" : "verify a dialback key with", st->remote,
              st->local, why);
    if (st->conn) s2s_stream_close(st);
    else s2s_stream_discard(st);
}

/* ---- resolving and connecting ------------------------------------------------- */

static void on_connected(struct ev_loop *loop, ev_io *w, int revents)
{
    struct s2s_stream *st = w->data;
    ev_io_stop(loop, w);
    int fd = st->connect_fd, err = 0;
    socklen_t len = sizeof err;
    st->connect_fd = -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        close(fd);
        try_next_target(st);
        return;
    }
    const struct resolved_target *t = &st->targets[st->next_target - 1];
    SSL *ssl = NULL;
    if (t->direct_tls) {
        ssl = tls_client_session(st->srv->tls, fd, st->remote, st->local);
        if (!ssl) {
            close(fd);
            try_next_target(st);
            return;
        }
    }
    s2s_stream_attach(st, fd, &t->addr, ssl);
    if (!t->direct_tls) s2s_stream_send_header(st);
}

static void try_next_target(struct s2s_stream *st)
{
    while (st->next_target < st->n_targets) {
        const struct resolved_target *t = &st->targets[st->next_target++];
        int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 && errno != EINPROGRESS) {
            close(fd);
            continue;
        }
        st->connect_fd = fd;
        ev_io_init(&st->connect_watcher, on_connected, fd, EV_WRITE);
        st->connect_watcher.data = st;
        ev_io_start(st->srv->loop, &st->connect_watcher);
        return;
    }
    out_fail(st, "remote-server-not-found", "no target accepted a connection");
}

static void on_targets(void *ctx, enum resolve_status status, const struct resolved_target *targets, size_t n)
{
    struct s2s_stream *st = ctx;
    st->query = NULL;
    if (status != RESOLVE_OK) {
        out_fail(st, status == RESOLVE_TIMEOUT ? "remote-server-timeout" : "remote-server-not-found",
                 status == RESOLVE_TIMEOUT ? "DNS timeout" : "no DNS record");
        return;
    }
    st->targets = xcalloc(n, sizeof *st->targets);
    for (size_t i = 0; i < n; i++) {
        st->targets[i] = targets[i];
        st->targets[i].host = xstrdup(targets[i].host);
    }
    st->n_targets = n;
    try_next_target(st);
}

struct s2s_stream *s2s_out_start(struct server *srv, const char *local, const char *remote,
                                 enum s2s_purpose purpose)
{
    struct s2s_stream *st = s2s_stream_new(srv, S2S_OUT);
    st->local = xstrdup(local);
    st->remote = xstrdup(remote);
    st->purpose = purpose;
    s2s_stream_arm(st, srv->cfg->limits.s2s_connect_timeout);
    st->query = resolver_xmpp_targets(srv->resolver, remote, "xmpp-server", "xmpps-server", 5269,
                                      on_targets, st);
    return st;
}

/* ---- negotiation ------------------------------------------------------------------ */

void s2s_out_open(struct s2s_stream *st, const xnode *header)
{
    const char *id = xnode_attr(header, "id");
    const char *ns = xmlstream_content_ns(st->xs);
    if (!ns || strcmp(ns, NS_SERVER) != 0) {
        s2s_stream_error(st, "invalid-namespace", "the content namespace must be jabber:server");
        return;
    }
    if (!id || strlen(id) >= sizeof st->stream_id) {
        out_fail(st, "remote-server-not-found", "the peer's stream header has no usable id");
        return;
    }
    strcpy(st->stream_id, id);
}

void s2s_out_tls_ready(struct s2s_stream *st)
{
    s2s_stream_send_header(st);     /* after STARTTLS, or on a direct TLS connection */
}

static void send_starttls(struct s2s_stream *st)
{
    s2s_stream_write(st, "<starttls xmlns='" NS_TLS "'/>", strlen("<starttls xmlns='" NS_TLS "'/>"));
}

static void send_db_result(struct s2s_stream *st)
{
    char key[DIALBACK_KEY_LEN + 1];
    dialback_key(s2s_secret(), st->remote, st->local, st->stream_id, key);
    xnode *r = xnode_new("result", NS_DIALBACK);
    xnode_set_attr(r, "from", st->local);
    xnode_set_attr(r, "to", st->remote);
    xnode_add_text(r, key, DIALBACK_KEY_LEN);
    s2s_stream_send(st, r);
    xnode_free(r);
    st->authenticating = true;
    st->auth_method = "dialback";
}

static void send_db_verify(struct s2s_stream *st)
{
    xnode *v = xnode_new("verify", NS_DIALBACK);
    xnode_set_attr(v, "from", st->local);
    xnode_set_attr(v, "to", st->remote);
    xnode_set_attr(v, "id", st->verify_id);
    xnode_add_text(v, st->verify_key, strlen(st->verify_key));
    s2s_stream_send(st, v);
    xnode_free(v);
    st->authenticating = true;
}

static void send_auth_external(struct s2s_stream *st)
{
    /* XEP-0178 §2: the authorization identity is the sending domain. */
    size_t n = strlen(st->local);
    char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)st->local, (int)n);
    struct buf a;
    buf_init(&a);
    buf_printf(&a, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>", b64);
    s2s_stream_write(st, a.data, a.len);
    buf_free(&a);
    free(b64);
    st->authenticating = true;
    st->auth_method = "EXTERNAL";
}

static bool offers_external(const xnode *features)
{
    const xnode *mechs = xnode_child(features, "mechanisms", NS_SASL);
    for (const xnode *m = mechs ? xnode_child(mechs, "mechanism", NULL) : NULL; m;
         m = xnode_next_child(mechs, m, "mechanism", NULL)) {
        char *name = xnode_text_dup(m);
        bool ext = strcmp(name, "EXTERNAL") == 0;
        free(name);
        if (ext) return true;
    }
    return false;
}

static void on_features(struct s2s_stream *st, const xnode *features)
{
    if (st->ready) return;
    if (st->auth_method && !st->authenticating) {          /* after SASL: the restarted stream */
        s2s_route_ready(st);
        return;
    }
    bool starttls = xnode_child(features, "starttls", NS_TLS) != NULL;
    if (!st->tls && starttls) {
        send_starttls(st);
        return;
    }
    if (!st->tls && st->srv->cfg->security_policy == SECPOL_ENCRYPTION_REQUIRED) {
        out_fail(st, "remote-server-not-found", "the peer does not offer STARTTLS (EncryptionRequired)");
        return;
    }
    if (st->purpose == S2S_VERIFY) send_db_verify(st);
    else if (st->tls && offers_external(features)) send_auth_external(st);
    else send_db_result(st);
}

static void on_proceed(struct s2s_stream *st)
{
    SSL *ssl = tls_client_session(st->srv->tls, conn_fd(st->conn), st->remote, st->local);
    if (!ssl) {
        out_fail(st, "remote-server-not-found", "cannot start TLS");
        return;
    }
    conn_start_tls(st->conn, ssl);
    st->restart = S2S_RESTART_AFTER_TLS;
    xmlstream_pause(st->xs);
}

static void on_db_result(struct s2s_stream *st, const xnode *el)
{
    const char *type = xnode_attr(el, "type");
    if (!st->authenticating || st->purpose != S2S_ROUTE || !type) return;
    st->authenticating = false;
    if (strcmp(type, "valid") == 0) s2s_route_ready(st);
    else out_fail(st, "remote-server-not-found", "the peer refused our dialback key");
}

static void on_db_verify(struct s2s_stream *st, const xnode *el)
{
    const char *type = xnode_attr(el, "type");
    const char *id = xnode_attr(el, "id");
    if (st->purpose != S2S_VERIFY || !st->authenticating || !type || !id || strcmp(id, st->verify_id) != 0)
        return;
    st->authenticating = false;
    s2s_in_dialback_done(st->verify_for, st->local, st->remote, strcmp(type, "valid") == 0);
    st->verify_for = 0;
    s2s_stream_close(st);
}

static void on_sasl(struct s2s_stream *st, const xnode *el)
{
    if (!st->authenticating) return;
    st->authenticating = false;
    if (strcmp(el->name, "success") == 0) {
        st->restart = S2S_RESTART_AFTER_SASL;      /* a new header once the parser returns */
        xmlstream_pause(st->xs);
        return;
    }
    /* EXTERNAL refused: dialback may still work on a new stream; here it fails. */
    out_fail(st, "remote-server-not-found", "the peer refused SASL EXTERNAL");
}

void s2s_out_element(struct s2s_stream *st, xnode *el)
{
    if (s2s_is(el, "features", NS_STREAMS)) on_features(st, el);
    else if (s2s_is(el, "proceed", NS_TLS)) on_proceed(st);
    else if (s2s_is(el, "failure", NS_TLS)) out_fail(st, "remote-server-not-found", "STARTTLS failed");
    else if (s2s_is(el, "result", NS_DIALBACK)) on_db_result(st, el);
    else if (s2s_is(el, "verify", NS_DIALBACK)) on_db_verify(st, el);
    else if (xnode_ns(el) && strcmp(xnode_ns(el), NS_SASL) == 0) on_sasl(st, el);
    /* stanzas never come back on an outbound stream (RFC 6120 §4.2.2) */
    xnode_free(el);
}

void s2s_out_closed(struct s2s_stream *st)
{
    if (st->query) resolver_cancel(st->query);
    st->query = NULL;
    if (st->connect_fd >= 0) {
        ev_io_stop(st->srv->loop, &st->connect_watcher);
        close(st->connect_fd);
        st->connect_fd = -1;
    }
    if (st->purpose == S2S_ROUTE) s2s_route_bounce(st, st->failure ? st->failure : "remote-server-not-found");
    if (st->verify_for) s2s_in_dialback_done(st->verify_for, st->local, st->remote, false);
    for (size_t i = 0; i < st->n_targets; i++) free(st->targets[i].host);
    free(st->targets);
    free(st->verify_id);
    free(st->verify_key);
}
