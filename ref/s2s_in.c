/* Inbound S2S streams (S2S-2, S2S-3): features, STARTTLS, SASL EXTERNAL
 * for a peer whose certificate is valid for its domain, dialback (keys are
 * accepted only once the authoritative server has verified them), and
 * stanzas, each checked against the domain pairs authenticated here. */
#include "s2s_stream.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "c2s.h"
#include "config.h"
#include "conn.h"
#include "dialback.h"
#include "jid.h"
#include "log.h"
#include "router.h"
#include "s2s.h"
#include "server.h"
#include "service.h"
#include "tls.h"
#include "xmlstream.h"

static bool encryption_required(const struct s2s_stream *st)
{
    return st->srv->cfg->security_policy == SECPOL_ENCRYPTION_REQUIRED;      /* SEC-5 */
}

static bool pair_authenticated(const struct s2s_stream *st, const char *remote, const char *local)
{
    for (const struct s2s_pair *p = st->pairs; p; p = p->next)
        if (strcmp(p->remote, remote) == 0 && strcmp(p->local, local) == 0) return true;
    return false;
}

static void add_pair(struct s2s_stream *st, const char *remote, const char *local, const char *method)
{
    if (pair_authenticated(st, remote, local)) return;
    struct s2s_pair *p = xcalloc(1, sizeof *p);
    p->remote = xstrdup(remote);
    p->local = xstrdup(local);
    p->next = st->pairs;
    st->pairs = p;
    st->auth_method = method;
    s2s_stream_set_limits(st, true);
    s2s_stream_arm(st, st->srv->cfg->limits.s2s_idle_timeout);
    log_write(LOG_DEBUG, "s2s in %s: %s authenticated for %s by %s", conn_peer_ip(st->conn), remote, local,
              method);
}

/* The peer's certificate is trusted and names the domain of its header. */
static bool peer_certificate_valid(const struct s2s_stream *st)
{
    if (!st->tls || !st->remote) return false;
    struct buf why;
    buf_init(&why);
    bool ok = tls_peer_valid_for(conn_ssl(st->conn), st->remote, &why);
    if (!ok) log_write(LOG_DEBUG, "s2s in %s: %s: %s", conn_peer_ip(st->conn), st->remote, why.data);
    buf_free(&why);
    return ok;
}

static void send_features(struct s2s_stream *st)
{
    struct buf f;
    buf_init(&f);
    buf_puts(&f, "<stream:features>");
    if (!st->tls) {
        buf_puts(&f, encryption_required(st) ? "<starttls xmlns='" NS_TLS "'><required/></starttls>"
                                             : "<starttls xmlns='" NS_TLS "'/>");
    }
    if (!st->pairs && st->tls && peer_certificate_valid(st))
        buf_puts(&f, "<mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL</mechanism></mechanisms>");
    if (st->tls || !encryption_required(st))
        buf_puts(&f, "<dialback xmlns='" NS_DIALBACK_FEATURE "'><errors/></dialback>");
    buf_puts(&f, "</stream:features>");
    s2s_stream_write(st, f.data, f.len);
    buf_free(&f);
}

void s2s_in_open(struct s2s_stream *st, const xnode *header)
{
    server_new_id(st->srv, st->stream_id, sizeof st->stream_id);
    const char *to = xnode_attr(header, "to");
    char *local = NULL;
    if (to && (jid_prep_domain(to, &local) < 0 || !server_hosts_domain(st->srv, local))) {
        free(local);
        s2s_stream_error(st, "host-unknown", "this server does not serve that domain");
        return;
    }
    free(st->local);
    st->local = local;
    const char *from = xnode_attr(header, "from");
    char *remote = NULL;
    if (from && jid_prep_domain(from, &remote) == 0) {
        free(st->remote);
        st->remote = remote;
    } else {
        free(remote);
    }
    const char *ns = xmlstream_content_ns(st->xs);
    s2s_stream_send_header(st);
    if (!ns || strcmp(ns, NS_SERVER) != 0) {
        s2s_stream_error(st, "invalid-namespace", "the content namespace must be jabber:server");
        return;
    }
    const char *version = xnode_attr(header, "version");
    if (xmlstream_major_version(version) != 1) {
        s2s_stream_error(st, "unsupported-version", "version 1.0 is required");
        return;
    }
    send_features(st);
}

void s2s_in_tls_ready(struct s2s_stream *st)
{
    (void)st;
}

static void handle_starttls(struct s2s_stream *st)
{
    SSL *ssl = st->tls ? NULL : tls_s2s_server_session(st->srv->tls, conn_fd(st->conn));
    if (!ssl) {
        const char *f = "<failure xmlns='" NS_TLS "'/></stream:stream>";
        s2s_stream_write(st, f, strlen(f));
        st->closing = true;
        conn_close_after_flush(st->conn, 5.0);
        return;
    }
    const char *p = "<proceed xmlns='" NS_TLS "'/>";
    s2s_stream_write(st, p, strlen(p));
    conn_start_tls(st->conn, ssl);
    st->restart = S2S_RESTART_AFTER_TLS;
    xmlstream_pause(st->xs);
}

static void sasl_failure(struct s2s_stream *st, const char *condition)
{
    struct buf f;
    buf_init(&f);
    buf_printf(&f, "<failure xmlns='" NS_SASL "'><%s/></failure>", condition);
    s2s_stream_write(st, f.data, f.len);
    buf_free(&f);
}

/* The authorization identity of an EXTERNAL <auth/>: "" when absent, NULL
 * when the base64 is bad or decodes to something with a NUL in it. */
static char *external_authzid(const xnode *auth)
{
    char *text = xnode_text_dup(auth);
    size_t n = strlen(text);
    if (n == 0 || strcmp(text, "=") == 0) {
        text[0] = '\0';
        return text;
    }
    size_t padding = n % 4 == 0 ? (text[n - 1] == '=') + (n > 1 && text[n - 2] == '=') : 0;
    unsigned char *out = xmalloc(n + 1);
    int len = n % 4 == 0 ? EVP_DecodeBlock(out, (const unsigned char *)text, (int)n) : -1;
    free(text);
    if (len < 0) {
        free(out);
        return NULL;
    }
    len -= (int)padding;
    out[len] = '\0';
    if (strlen((char *)out) != (size_t)len) {
        free(out);
        return NULL;
    }
    return (char *)out;
}

/* RFC 6120 §6.4, XEP-0178: SASL EXTERNAL for the domain of the header. */
static void handle_auth(struct s2s_stream *st, const xnode *auth)
{
    const char *mech = xnode_attr(auth, "mechanism");
    if (!mech || strcmp(mech, "EXTERNAL") != 0 || st->pairs) {
        sasl_failure(st, "invalid-mechanism");
        return;
    }
    if (!st->local || !peer_certificate_valid(st)) {
        sasl_failure(st, "not-authorized");
        return;
    }
    char *authzid = auth->children ? external_authzid(auth) : xstrdup("");
    char *prepared = NULL;
    bool ok = authzid && (authzid[0] == '\0' ||
                          (jid_prep_domain(authzid, &prepared) == 0 && strcmp(prepared, st->remote) == 0));
    free(authzid);
    free(prepared);
    if (!ok) {
        sasl_failure(st, "invalid-authzid");
        return;
    }
    add_pair(st, st->remote, st->local, "EXTERNAL");
    const char *s = "<success xmlns='" NS_SASL "'/>";
    s2s_stream_write(st, s, strlen(s));
    st->restart = S2S_RESTART_AFTER_SASL;
    xmlstream_pause(st->xs);
}

static void db_reply(struct s2s_stream *st, const char *name, const char *from, const char *to,
                     const char *id, const char *type, const char *error)
{
    xnode *r = xnode_new(name, NS_DIALBACK);
    xnode_set_attr(r, "from", from);
    xnode_set_attr(r, "to", to);
    if (id) xnode_set_attr(r, "id", id);
    xnode_set_attr(r, "type", type);
    if (error) {
        xnode *e = xnode_add_child(r, "error", NS_DIALBACK);
        xnode_set_attr(e, "type", strcmp(error, "resource-constraint") == 0 ? "wait" : "cancel");
        xnode_add_child(e, error, NS_STANZA_ERRORS);
    }
    s2s_stream_send(st, r);
    xnode_free(r);
}

/* Prepared 'from' and 'to' domains of a dialback element; false (and an
 * error sent) when unusable. */
static bool db_domains(struct s2s_stream *st, const xnode *el, char **from, char **to)
{
    *from = *to = NULL;
    const char *f = xnode_attr(el, "from"), *t = xnode_attr(el, "to");
    if (!f || !t || jid_prep_domain(f, from) < 0 || jid_prep_domain(t, to) < 0) {
        free(*from);
        free(*to);
        s2s_stream_error(st, "improper-addressing", "dialback needs valid from and to domains");
        return false;
    }
    return true;
}

#define MAX_PENDING_VERIFICATIONS 8

static size_t pending_verifications(const struct s2s_stream *st)
{
    size_t n = 0;
    for (const struct s2s_stream *v = s2s_streams; v; v = v->next)
        if (v->dir == S2S_OUT && v->purpose == S2S_VERIFY && v->verify_for == st->serial) n++;
    return n;
}

/* XEP-0220 §2.1: an originating server asks to send from `from` to `to`;
 * its key is checked with the authoritative server of `from`. */
static void handle_db_result(struct s2s_stream *st, const xnode *el)
{
    char *from, *to;
    if (!db_domains(st, el, &from, &to)) return;
    char *key = xnode_text_dup(el);
    if (!server_hosts_domain(st->srv, to)) {
        db_reply(st, "result", to, from, NULL, "error", "item-not-found");
    } else if (!st->srv->cfg->send_outside) {
        db_reply(st, "result", to, from, NULL, "error", "policy-violation");
    } else if (pair_authenticated(st, from, to)) {
        db_reply(st, "result", to, from, NULL, "valid", NULL);
    } else if (pending_verifications(st) >= MAX_PENDING_VERIFICATIONS) {
        /* each key costs a DNS lookup and a connection: bound them per stream */
        db_reply(st, "result", to, from, NULL, "error", "resource-constraint");
    } else {
        struct s2s_stream *v = s2s_out_start(st->srv, to, from, S2S_VERIFY);
        v->verify_for = st->serial;
        v->verify_id = xstrdup(st->stream_id);
        v->verify_key = xstrdup(key);
    }
    free(key);
    free(from);
    free(to);
}

/* XEP-0220 §2.1.3: we are the authoritative server: is this our key? */
static void handle_db_verify(struct s2s_stream *st, const xnode *el)
{
    char *from, *to;
    if (!db_domains(st, el, &from, &to)) return;
    const char *id = xnode_attr(el, "id");
    char *key = xnode_text_dup(el);
    if (!id || !server_hosts_domain(st->srv, to)) {
        db_reply(st, "verify", to, from, id, "error", "item-not-found");
    } else {
        bool valid = dialback_key_valid(s2s_secret(), from, to, id, key);
        db_reply(st, "verify", to, from, id, valid ? "valid" : "invalid", NULL);
    }
    free(key);
    free(from);
    free(to);
}

void s2s_in_dialback_done(unsigned long long serial, const char *local, const char *remote, bool valid)
{
    struct s2s_stream *st = s2s_stream_find(serial);
    if (!st || st->closing || st->dir != S2S_IN) return;
    if (valid) add_pair(st, remote, local, "dialback");
    else log_write(LOG_SECURITY, "S2S: dialback key of %s for %s from %s refused by its authoritative server.",
                   remote, local, conn_peer_ip(st->conn));
    db_reply(st, "result", local, remote, NULL, valid ? "valid" : "invalid", NULL);
}

/* S2S-3: a stanza from a remote domain authenticated on this stream. */
static void handle_stanza(struct s2s_stream *st, xnode *el)
{
    const char *from_attr = xnode_attr(el, "from"), *to_attr = xnode_attr(el, "to");
    struct jid from = { 0 }, to = { 0 };
    if (!from_attr || !to_attr || jid_parse(from_attr, &from) < 0 || jid_parse(to_attr, &to) < 0) {
        jid_clear(&from);
        jid_clear(&to);
        xnode_free(el);
        s2s_stream_error(st, "improper-addressing", "a stanza needs valid from and to addresses");
        return;
    }
    if (!pair_authenticated(st, from.domain, to.domain)) {
        log_write(LOG_SECURITY, "S2S: stanza from %s to %s on a stream from %s not authenticated for them.",
                  from.domain, to.domain, conn_peer_ip(st->conn));
        jid_clear(&from);
        jid_clear(&to);
        xnode_free(el);
        s2s_stream_error(st, "not-authorized", "that domain pair is not authenticated on this stream");
        return;
    }
    xnode_rename_ns(el, NS_SERVER, NS_CLIENT);
    router_route_inbound(st->srv, el, &from, &to);
    jid_clear(&from);
    jid_clear(&to);
}

void s2s_in_element(struct s2s_stream *st, xnode *el)
{
    const char *ns = xnode_ns(el);
    bool stanza = ns && strcmp(ns, NS_SERVER) == 0 &&
                  (strcmp(el->name, "message") == 0 || strcmp(el->name, "presence") == 0 ||
                   strcmp(el->name, "iq") == 0);
    if (s2s_is(el, "starttls", NS_TLS)) {
        handle_starttls(st);
    } else if (!st->tls && encryption_required(st)) {
        s2s_stream_error(st, "policy-violation", "TLS is required before anything else");   /* SEC-5 */
    } else if (s2s_is(el, "auth", NS_SASL)) {
        handle_auth(st, el);
    } else if (s2s_is(el, "result", NS_DIALBACK)) {
        handle_db_result(st, el);
    } else if (s2s_is(el, "verify", NS_DIALBACK)) {
        handle_db_verify(st, el);
    } else if (stanza) {
        handle_stanza(st, el);
        return;                         /* el passed on */
    } else {
        s2s_stream_error(st, "unsupported-stanza-type", NULL);
    }
    xnode_free(el);
}

void s2s_in_closed(struct s2s_stream *st)
{
    service_connection_closed(st->svc);
    while (st->pairs) {
        struct s2s_pair *p = st->pairs;
        st->pairs = p->next;
        free(p->remote);
        free(p->local);
        free(p);
    }
}

void s2s_accept(struct server *srv, struct service *svc, int fd, const struct sockaddr_storage *peer,
                bool over_limit)
{
    struct s2s_stream *st = s2s_stream_new(srv, S2S_IN);
    st->svc = svc;
    s2s_stream_attach(st, fd, peer, NULL);
    s2s_stream_arm(st, srv->cfg->limits.negotiation_timeout);
    if (over_limit) s2s_stream_error(st, "resource-constraint", "too many connections to this service");
}
