#include "c2s.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "directory.h"
#include "hammer.h"
#include "ipgroup.h"
#include "jid.h"
#include "log.h"
#include "policy.h"
#include "presence.h"
#include "router.h"
#include "sasl.h"
#include "server.h"
#include "service.h"
#include "session.h"
#include "tls.h"
#include "xmlstream.h"

#define MAX_SASL_FAILURES 5
#define CLOSE_DRAIN_SECONDS 5.0
/* A bound stream silent this long (at most half the IdleTimeout) gives back
 * its parser and its write queue's storage until it speaks again. */
#define REST_AFTER_SECONDS 1.0
/* What resting streams free lies inside glibc's heap, between long-lived
 * blocks, still counted against the process: this long after the first
 * such release, malloc_trim gives the whole free pages back to the system. */
#define TRIM_AFTER_SECONDS 1.0

enum restart { RESTART_NONE, RESTART_AFTER_TLS, RESTART_AFTER_SASL };

/* The idle timer of a bound stream: after the last bytes received it
 * fires at the rest delay, then at the IdleTimeout (a ping, XML-4), then
 * at the PingTimeout. */
enum idle_phase { IDLE_ACTIVE, IDLE_RESTING, IDLE_PINGED };

struct c2s {
    struct server *srv;
    struct service *svc;
    struct conn *conn;
    xmlstream *xs;
    bool header_sent;          /* our header for the current stream */
    bool authenticated;
    bool closing;
    enum restart restart;
    char *domain;              /* prepared stream domain (from 'to') */
    char stream_id[48];
    char *peer_jid;            /* the client's header 'from', prepared, echoed as 'to' */
    struct sasl_server *sasl;
    unsigned sasl_failures;
    char *node;                /* the authenticated account */
    char *mech;                /* the SASL mechanism it used */
    struct session *session;   /* while bound */
    unsigned char cb_unique[64], cb_exporter[32];
    size_t cb_unique_len, cb_exporter_len;
    ev_timer negotiation_timer;
    ev_timer idle_timer;
    enum idle_phase idle;
    struct c2s *prev, *next;   /* every live stream, for shutdown */
};

static struct c2s *all_streams;

/* Sends <stream:error><condition/>[<text/>]</stream:error></stream:stream>
 * and closes once written (XML-6). */
static void c2s_stream_error(struct c2s *c, const char *condition, const char *text);

/* ---- debug log (LOG-2) ------------------------------------------------ */

/* Writes a stanza to the Debug log; SASL elements keep their name and
 * attributes but never their payload (passwords, proofs, challenges). */
static void c2s_debug_stanza(const struct c2s *c, const char *direction, const xnode *st)
{
    if (!log_debug_enabled()) return;
    struct buf line;
    buf_init(&line);
    const char *ns = xnode_ns(st);
    if (ns && strcmp(ns, NS_SASL) == 0) {
        buf_printf(&line, "<%s xmlns='" NS_SASL "'", st->name);
        const char *mech = xnode_attr(st, "mechanism");
        if (mech) buf_printf(&line, " mechanism='%s'", mech);
        buf_puts(&line, st->children ? ">[masked]</...>" : "/>");
    } else {
        xnode_serialize(st, NS_CLIENT, &line);
    }
    log_write(LOG_DEBUG, "c2s %s:%u %s %s", conn_peer_ip(c->conn), conn_peer_port(c->conn),
              direction, line.data);
    buf_free(&line);
}

/* ---- output ---------------------------------------------------------- */

static void c2s_write(struct c2s *c, const char *s, size_t len)
{
    if (c->closing) return;
    if (conn_write(c->conn, s, len) < 0) {
        char text[96];
        snprintf(text, sizeof text, "output queue exceeds %zu bytes",
                 c->srv->cfg->limits.out_queue_bytes);
        c2s_stream_error(c, "policy-violation", text);
    }
}

/* Where c2s_send serialises: one buffer reused from stanza to stanza (no
 * allocation per delivery), given back when a large stanza grew it; a
 * nested call, should one ever come, gets a buffer of its own. */
#define SEND_SCRATCH_KEEP 65536
static struct buf send_scratch;
static bool send_scratch_busy;

int c2s_send(struct c2s *c, const xnode *stanza)
{
    if (c->closing) return -1;
    c2s_debug_stanza(c, "OUT", stanza);
    struct buf own, *out = &send_scratch;
    if (send_scratch_busy) {
        buf_init(&own);
        out = &own;
    }
    send_scratch_busy = true;
    buf_reset(out);
    xnode_serialize(stanza, NS_CLIENT, out);
    c2s_write(c, out->data, out->len);
    if (out == &own) {
        buf_free(&own);
    } else {
        send_scratch_busy = false;
        if (send_scratch.cap > SEND_SCRATCH_KEEP) buf_free(&send_scratch);
    }
    return c->closing ? -1 : 0;
}

int c2s_send_raw_stanzas(struct c2s *c, const char *xml, size_t len)
{
    c2s_write(c, xml, len);
    return c->closing ? -1 : 0;
}

static void c2s_send_header(struct c2s *c)
{
    struct buf h;
    buf_init(&h);
    buf_puts(&h, "<?xml version='1.0'?><stream:stream xmlns='" NS_CLIENT "' xmlns:stream='" NS_STREAMS "' id='");
    buf_puts(&h, c->stream_id);
    buf_puts(&h, "' from='");
    const char *from = c->domain ? c->domain : c->srv->cfg->n_domains ? c->srv->cfg->domains[0].name : "localhost";
    buf_append_xml_escaped(&h, from, strlen(from));
    if (c->peer_jid) {
        buf_puts(&h, "' to='");
        buf_append_xml_escaped(&h, c->peer_jid, strlen(c->peer_jid));
    }
    buf_puts(&h, "' version='1.0' xml:lang='en'>");
    c2s_write(c, h.data, h.len);
    buf_free(&h);
    c->header_sent = true;
}

static void c2s_stream_error(struct c2s *c, const char *condition, const char *text)
{
    if (c->closing) return;
    if (!c->header_sent) c2s_send_header(c);
    struct buf e;
    buf_init(&e);
    xmlstream_error_xml(&e, condition, text);
    conn_write_force(c->conn, e.data, e.len);
    buf_free(&e);
    log_write(LOG_DEBUG, "c2s %s: stream error %s%s%s", conn_peer_ip(c->conn), condition,
              text ? ": " : "", text ? text : "");
    c->closing = true;
    conn_close_after_flush(c->conn, CLOSE_DRAIN_SECONDS);
}

static void c2s_send_raw(struct c2s *c, const char *xml)
{
    c2s_write(c, xml, strlen(xml));
}

/* ---- policy ------------------------------------------------------------ */

static bool peer_in_group(const struct c2s *c, const char *group)
{
    return group && ipgroup_contains(c->srv->cfg->ipgroups, group,
                                     (const struct sockaddr *)conn_peer(c->conn));
}

/* SEC-5/SEC-6: must this stream negotiate TLS before anything else? */
static bool encryption_required(const struct c2s *c)
{
    return c->srv->cfg->security_policy == SECPOL_ENCRYPTION_REQUIRED &&
           !peer_in_group(c, c->srv->cfg->encryption_exception_group);
}

/* SEC-3/4/6: may PLAIN be offered and used on this stream? */
static bool plain_allowed(const struct c2s *c)
{
    if (conn_is_tls(c->conn)) return true;
    switch (c->srv->cfg->security_policy) {
    case SECPOL_NO_RESTRICTIONS: return true;
    case SECPOL_AUTH_REQUIRED: return peer_in_group(c, c->srv->cfg->auth_exception_group);
    case SECPOL_ENCRYPTION_REQUIRED: return peer_in_group(c, c->srv->cfg->encryption_exception_group);
    }
    return false;
}

static void c2s_channel_binding(const struct c2s *c, struct sasl_channel_binding *cb)
{
    memset(cb, 0, sizeof *cb);
    if (c->cb_unique_len) {
        cb->tls_unique = c->cb_unique;
        cb->tls_unique_len = c->cb_unique_len;
    }
    if (c->cb_exporter_len) {
        cb->tls_exporter = c->cb_exporter;
        cb->tls_exporter_len = c->cb_exporter_len;
    }
}

/* ---- features ---------------------------------------------------------- */

static void c2s_send_features(struct c2s *c)
{
    struct buf f;
    buf_init(&f);
    buf_puts(&f, "<stream:features>");
    bool tls = conn_is_tls(c->conn);
    if (c->authenticated) {
        buf_puts(&f, "<bind xmlns='" NS_BIND "'/><session xmlns='" NS_SESSION "'><optional/></session>"
                     "<ver xmlns='urn:xmpp:features:rosterver'/>");
    } else if (!tls && encryption_required(c)) {
        buf_puts(&f, "<starttls xmlns='" NS_TLS "'><required/></starttls>");
    } else {
        if (!tls) buf_puts(&f, "<starttls xmlns='" NS_TLS "'/>");
        struct sasl_channel_binding cb;
        c2s_channel_binding(c, &cb);
        const char *mechs[8];
        size_t n = sasl_offered_mechanisms(plain_allowed(c), &cb, mechs, 8);
        buf_puts(&f, "<mechanisms xmlns='" NS_SASL "'>");
        for (size_t i = 0; i < n; i++) buf_printf(&f, "<mechanism>%s</mechanism>", mechs[i]);
        buf_puts(&f, "</mechanisms>");
        if (cb.tls_exporter || cb.tls_unique) {
            /* XEP-0440: the channel-binding types -PLUS may use here. */
            buf_puts(&f, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
            if (cb.tls_exporter) buf_puts(&f, "<channel-binding type='tls-exporter'/>");
            if (cb.tls_unique) buf_puts(&f, "<channel-binding type='tls-unique'/>");
            buf_puts(&f, "</sasl-channel-binding>");
        }
    }
    buf_puts(&f, "</stream:features>");
    c2s_write(c, f.data, f.len);
    buf_free(&f);
}

/* ---- stream header ---------------------------------------------------- */

static void c2s_on_open(void *ctx, const xnode *header)
{
    struct c2s *c = ctx;
    server_new_id(c->srv, c->stream_id, sizeof c->stream_id);
    const char *to = xnode_attr(header, "to");
    char *domain = NULL;
    if (!to || jid_prep_domain(to, &domain) < 0 || !server_hosts_domain(c->srv, domain)) {
        free(domain);
        c2s_stream_error(c, "host-unknown", "this server does not serve that domain");
        return;
    }
    if (c->domain && strcmp(c->domain, domain) != 0) {
        /* A restarted stream must address the same domain. */
        free(domain);
        c2s_stream_error(c, "host-unknown", "the domain changed on stream restart");
        return;
    }
    free(c->domain);
    c->domain = domain;
    /* RFC 6120 §4.7.2: echo a valid 'from' as 'to'; an invalid one is ignored. */
    free(c->peer_jid);
    c->peer_jid = NULL;
    struct jid from = { 0 };
    const char *from_attr = xnode_attr(header, "from");
    if (from_attr && jid_parse(from_attr, &from) == 0) c->peer_jid = jid_full(&from);
    jid_clear(&from);
    const char *content_ns = xmlstream_content_ns(c->xs);
    if (!content_ns || strcmp(content_ns, NS_CLIENT) != 0) {
        c2s_stream_error(c, "invalid-namespace", "the stream's content namespace must be jabber:client");
        return;
    }
    const char *version = xnode_attr(header, "version");
    c2s_send_header(c);
    if (xmlstream_major_version(version) != 1) {
        c2s_stream_error(c, "unsupported-version", "version 1.0 is required");
        return;
    }
    c2s_send_features(c);
}

/* ---- STARTTLS ----------------------------------------------------------- */

static void c2s_handle_starttls(struct c2s *c)
{
    if (conn_is_tls(c->conn)) {
        c2s_send_raw(c, "<failure xmlns='" NS_TLS "'/></stream:stream>");
        c->closing = true;
        conn_close_after_flush(c->conn, CLOSE_DRAIN_SECONDS);
        return;
    }
    SSL *ssl = tls_server_session(c->srv->tls, conn_fd(c->conn));
    if (!ssl) {
        c2s_send_raw(c, "<failure xmlns='" NS_TLS "'/></stream:stream>");
        c->closing = true;
        conn_close_after_flush(c->conn, CLOSE_DRAIN_SECONDS);
        return;
    }
    c2s_send_raw(c, "<proceed xmlns='" NS_TLS "'/>");
    conn_start_tls(c->conn, ssl);
    /* XML-5: whatever follows <starttls/> in this read is dropped, and the
     * stream restarts once the parser has returned. */
    c->restart = RESTART_AFTER_TLS;
    xmlstream_pause(c->xs);
}

static void c2s_on_tls_ready(void *owner)
{
    struct c2s *c = owner;
    SSL *ssl = conn_ssl(c->conn);
    c->cb_exporter_len = tls_channel_binding(ssl, "tls-exporter", c->cb_exporter, sizeof c->cb_exporter);
    c->cb_unique_len = tls_channel_binding(ssl, "tls-unique", c->cb_unique, sizeof c->cb_unique);
}

/* ---- SASL --------------------------------------------------------------- */

static const char *c2s_lookup_password(void *ctx, const char *node, const char *domain)
{
    struct c2s *c = ctx;
    const struct dir_user *u = directory_find_user(c->srv->dir, node, domain);
    return u ? u->password : NULL;
}

/* SEC-7: is the peer in the anti-hammering exemption group (SafeAcl)? */
static bool peer_exempt_from_hammering(const struct c2s *c)
{
    return peer_in_group(c, c->srv->cfg->antihammer.safe_acl);
}

/* SEC-7, SEC-8: a counted failure feeds the per-address and per-account
 * bookkeeping, which may start a block or a lockout. */
static void c2s_count_failure(struct c2s *c, const char *attempted_node)
{
    if (peer_exempt_from_hammering(c)) return;
    /* The lockout key is the prepared bare JID, so every spelling of one
     * account counts against it; a name that is no account here locks
     * nothing (SEC-8 locks accounts). */
    char *node = NULL;
    struct buf account;
    buf_init(&account);
    if (attempted_node && jid_prep_node(attempted_node, &node) == 0 &&
        directory_find_user(c->srv->dir, node, c->domain))
        buf_printf(&account, "%s@%s", node, c->domain);
    free(node);
    const char *ip = conn_peer_ip(c->conn);
    unsigned started = hammer_failure(c->srv->hammer, ip, account.len ? account.data : NULL,
                                      ev_now(c->srv->loop));
    const struct server_config *cfg = c->srv->cfg;
    if (started & HAMMER_IP_BLOCKED)
        log_write(LOG_SECURITY, "Anti-hammering: IP address %s blocked for %u seconds after %u failed logins.",
                  ip, cfg->antihammer.block_time, cfg->antihammer.failed_logins);
    if (started & HAMMER_ACCOUNT_LOCKED)
        log_write(LOG_SECURITY, "XMPP: Account %s locked for %u minutes after %u failed logins.", account.data,
                  cfg->lockout.lock_minutes, cfg->lockout.failed_logins);
    buf_free(&account);
}

/* Sends a SASL <failure> and ends the exchange. A failure that `counts`
 * (wrong credentials, bad data: not a policy refusal) goes to the Security
 * log (AUTH-5) and to anti-hammering (SEC-7, SEC-8). */
static void c2s_sasl_failure(struct c2s *c, const char *condition, const char *text, const char *mech,
                             bool counts)
{
    struct buf f;
    buf_init(&f);
    buf_printf(&f, "<failure xmlns='" NS_SASL "'><%s/>", condition);
    if (text) {
        buf_puts(&f, "<text xml:lang='en'>");
        buf_append_xml_escaped(&f, text, strlen(text));
        buf_puts(&f, "</text>");
    }
    buf_puts(&f, "</failure>");
    c2s_write(c, f.data, f.len);
    buf_free(&f);
    char *attempted = c->sasl && sasl_server_attempted_node(c->sasl) ? xstrdup(sasl_server_attempted_node(c->sasl))
                                                                       : NULL;
    sasl_server_free(c->sasl);
    c->sasl = NULL;
    if (counts) {
        log_write(LOG_SECURITY, "Failed %s login from %s with SASL method %s.",
                  service_protocol(c->svc), conn_peer_ip(c->conn), mech ? mech : "unknown");
        c2s_count_failure(c, attempted);
        if (++c->sasl_failures >= MAX_SASL_FAILURES)
            c2s_stream_error(c, "not-authorized", "too many failed authentication attempts");
    }
    free(attempted);
}

/* The password was right: may the account log in from here? AUTH-4 (a
 * disabled account or domain), SEC-8 (a locked account), ACC-3 (the user's
 * access policy; not counted by anti-hammering). On a refusal the SASL
 * failure has been sent and the Security log written. */
static bool c2s_login_allowed(struct c2s *c, const char *node, const char *mech)
{
    struct server *srv = c->srv;
    const struct dir_user *u = directory_find_user(srv->dir, node, c->domain);
    const struct domain_config *d = config_find_domain(srv->cfg, c->domain);
    const char *ip = conn_peer_ip(c->conn);
    struct buf account;     /* node is the prepared name SASL authenticated */
    buf_init(&account);
    buf_printf(&account, "%s@%s", node, c->domain);
    bool allowed = false;
    if (!u || !u->enabled || !d || !d->im_enabled) {
        log_write(LOG_SECURITY, "XMPP: Login of disabled account %s from %s refused.", account.data, ip);
        c2s_sasl_failure(c, "account-disabled", NULL, mech, false);
    } else if (hammer_account_locked(srv->hammer, account.data, ev_now(srv->loop))) {
        log_write(LOG_SECURITY, "XMPP: Login to locked account %s from %s refused.", account.data, ip);
        c2s_sasl_failure(c, "not-authorized", NULL, mech, false);
    } else if (!policy_access_allowed(srv->cfg, u, (const struct sockaddr *)conn_peer(c->conn))) {
        log_write(LOG_SECURITY, "XMPP: User %s is not allowed to use this service. Attempt from IP address %s.",
                  account.data, ip);
        c2s_sasl_failure(c, "not-authorized", POLICY_ACCESS_TEXT, mech, false);
    } else {
        hammer_success(srv->hammer, account.data);
        allowed = true;
    }
    buf_free(&account);
    return allowed;
}

static void c2s_sasl_step(struct c2s *c, const char *in_b64)
{
    char *out = NULL;
    const char *mech = sasl_server_mech(c->sasl);
    enum sasl_step_result r = sasl_server_step(c->sasl, in_b64, &out);
    struct buf reply;
    buf_init(&reply);
    switch (r) {
    case SASL_CONTINUE:
        buf_printf(&reply, "<challenge xmlns='" NS_SASL "'>%s</challenge>", out ? out : "");
        c2s_write(c, reply.data, reply.len);
        break;
    case SASL_SUCCESS: {
        const char *node = sasl_server_node(c->sasl);
        if (!c2s_login_allowed(c, node, mech)) break;
        c->node = xstrdup(node);
        c->mech = xstrdup(mech);
        c->authenticated = true;
        if (out) buf_printf(&reply, "<success xmlns='" NS_SASL "'>%s</success>", out);
        else buf_puts(&reply, "<success xmlns='" NS_SASL "'/>");
        c2s_write(c, reply.data, reply.len);
        sasl_server_free(c->sasl);
        c->sasl = NULL;
        c->restart = RESTART_AFTER_SASL;
        xmlstream_pause(c->xs);
        break;
    }
    case SASL_FAIL_MALFORMED: c2s_sasl_failure(c, "malformed-request", NULL, mech, true); break;
    case SASL_FAIL_INCORRECT_ENCODING: c2s_sasl_failure(c, "incorrect-encoding", NULL, mech, true); break;
    case SASL_FAIL_INVALID_MECHANISM: c2s_sasl_failure(c, "invalid-mechanism", NULL, mech, true); break;
    case SASL_FAIL_INVALID_AUTHZID: c2s_sasl_failure(c, "invalid-authzid", NULL, mech, true); break;
    case SASL_FAIL_NOT_AUTHORIZED: c2s_sasl_failure(c, "not-authorized", NULL, mech, true); break;
    }
    free(out);
    buf_free(&reply);
}

static void c2s_handle_auth(struct c2s *c, const xnode *auth)
{
    const char *mech = xnode_attr(auth, "mechanism");
    if (!conn_is_tls(c->conn) && encryption_required(c)) {
        c2s_sasl_failure(c, "encryption-required", NULL, mech, false);     /* SEC-5 */
        return;
    }
    if (mech && strcmp(mech, "PLAIN") == 0 && !plain_allowed(c)) {
        c2s_sasl_failure(c, "encryption-required", NULL, mech, false);     /* SEC-4 */
        return;
    }
    if (c->sasl) sasl_server_free(c->sasl);
    struct sasl_channel_binding cb;
    c2s_channel_binding(c, &cb);
    c->sasl = mech ? sasl_server_start(mech, c->domain, &cb, c2s_lookup_password, c) : NULL;
    if (!c->sasl) {
        c2s_sasl_failure(c, "invalid-mechanism", NULL, mech, true);
        return;
    }
    char *text = xnode_text_dup(auth);
    c2s_sasl_step(c, auth->children ? text : NULL);
    free(text);
}

static void c2s_handle_sasl(struct c2s *c, const xnode *el)
{
    if (strcmp(el->name, "auth") == 0) {
        c2s_handle_auth(c, el);
    } else if (strcmp(el->name, "response") == 0 && c->sasl) {
        char *text = xnode_text_dup(el);
        c2s_sasl_step(c, text);
        free(text);
    } else if (strcmp(el->name, "abort") == 0) {
        c2s_sasl_failure(c, "aborted", NULL, NULL, false);
    } else {
        c2s_sasl_failure(c, "malformed-request", NULL, c->sasl ? sasl_server_mech(c->sasl) : NULL, true);
    }
}

/* ---- binding -------------------------------------------------------------- */

static void c2s_iq_reply(struct c2s *c, const xnode *iq, xnode *child)
{
    xnode *r = xnode_new("iq", NS_CLIENT);
    xnode_set_attr(r, "type", "result");
    const char *id = xnode_attr(iq, "id");
    if (id) xnode_set_attr(r, "id", id);
    if (child) xnode_append_copy(r, child);
    c2s_send(c, r);
    xnode_free(r);
}

static void c2s_iq_error(struct c2s *c, const xnode *iq, const char *type, const char *condition)
{
    xnode *r = stanza_error_reply(iq, type, condition, NULL);
    c2s_send(c, r);
    xnode_free(r);
}

static void c2s_restart_idle_timer(struct c2s *c);

static void c2s_handle_bind(struct c2s *c, const xnode *iq, const xnode *bind)
{
    char *resource = NULL;
    char *requested = xnode_child_text(bind, "resource", NS_BIND);
    if (requested && *requested) {
        if (jid_prep_resource(requested, &resource) < 0) {
            free(requested);
            c2s_iq_error(c, iq, "modify", "bad-request");
            return;
        }
    } else {
        char id[48];
        server_new_id(c->srv, id, sizeof id);
        resource = xstrdup(id);
    }
    free(requested);

    char bare[3200];
    snprintf(bare, sizeof bare, "%s@%s", c->node, c->domain);
    char full[4300];
    snprintf(full, sizeof full, "%s/%s", bare, resource);
    struct session *old = sessions_find(c->srv->sessions, full);
    if (old) {
        /* BIND-2: the newer session wins. */
        struct c2s *loser = old->c2s;
        c2s_stream_error(loser, "conflict", "replaced by a new session with the same resource");
        presence_session_ended(c->srv, old);
        sessions_remove(c->srv->sessions, old);
        loser->session = NULL;
    } else if (sessions_count_of(c->srv->sessions, bare) >= c->srv->cfg->limits.resources_per_account) {
        free(resource);
        c2s_iq_error(c, iq, "wait", "resource-constraint");
        return;
    }
    c->session = sessions_add(c->srv->sessions, c, c->node, c->domain, resource);
    free(resource);

    xnode *b = xnode_new("bind", NS_BIND);
    xnode *j = xnode_add_child(b, "jid", NULL);
    xnode_add_text(j, c->session->full_jid, strlen(c->session->full_jid));
    c2s_iq_reply(c, iq, b);
    xnode_free(b);
    ev_timer_stop(c->srv->loop, &c->negotiation_timer);
    c2s_restart_idle_timer(c);
}

/* ---- stanzas ----------------------------------------------------------- */

static bool is_iq_with(const xnode *st, const char *type, const char *child, const char *ns)
{
    if (strcmp(st->name, "iq") != 0) return false;
    const char *t = xnode_attr(st, "type");
    return t && strcmp(t, type) == 0 && xnode_child(st, child, ns);
}

static void c2s_on_stanza_unauthenticated(struct c2s *c, xnode *st)
{
    const char *ns = xnode_ns(st);
    if (ns && strcmp(ns, NS_TLS) == 0 && strcmp(st->name, "starttls") == 0) {
        c2s_handle_starttls(c);
    } else if (ns && strcmp(ns, NS_SASL) == 0) {
        c2s_handle_sasl(c, st);
    } else if (!conn_is_tls(c->conn) && encryption_required(c)) {
        c2s_stream_error(c, "policy-violation", "TLS is required before anything else");   /* SEC-5 */
    } else {
        c2s_stream_error(c, "not-authorized", "authenticate first");
    }
}

static void c2s_on_stanza(void *ctx, xnode *st)
{
    struct c2s *c = ctx;
    if (c->closing) {
        xnode_free(st);
        return;
    }
    c2s_debug_stanza(c, "IN", st);
    if (!c->authenticated) {
        c2s_on_stanza_unauthenticated(c, st);
        xnode_free(st);
        return;
    }
    const char *ns = xnode_ns(st);
    bool stanza_kind = strcmp(st->name, "message") == 0 || strcmp(st->name, "presence") == 0 ||
                       strcmp(st->name, "iq") == 0;
    if (!stanza_kind || !ns || strcmp(ns, NS_CLIENT) != 0) {
        xnode_free(st);
        c2s_stream_error(c, "unsupported-stanza-type", NULL);
        return;
    }
    if (is_iq_with(st, "set", "session", NS_SESSION)) {
        c2s_iq_reply(c, st, NULL);                       /* BIND-1: legacy session */
        xnode_free(st);
        return;
    }
    if (!c->session) {
        xnode *bind = is_iq_with(st, "set", "bind", NS_BIND) ? xnode_child(st, "bind", NS_BIND) : NULL;
        if (bind) c2s_handle_bind(c, st, bind);
        else c2s_stream_error(c, "not-authorized", "bind a resource first");
        xnode_free(st);
        return;
    }
    router_route(c->srv, c->session, st);
}

static void c2s_on_close(void *ctx)
{
    struct c2s *c = ctx;
    if (c->closing) return;
    if (!c->header_sent) c2s_send_header(c);
    conn_write_force(c->conn, "</stream:stream>", 16);
    c->closing = true;
    conn_close_after_flush(c->conn, CLOSE_DRAIN_SECONDS);
}

static void c2s_on_parse_error(void *ctx, const char *condition, const char *text)
{
    c2s_stream_error(ctx, condition, text);
}

static const struct xmlstream_callbacks c2s_parser_events = {
    .open = c2s_on_open,
    .stanza = c2s_on_stanza,
    .close = c2s_on_close,
    .error = c2s_on_parse_error,
};

static void c2s_set_limits(struct c2s *c)
{
    const struct limits_config *l = &c->srv->cfg->limits;
    struct xmlstream_limits lim = {
        .max_stanza_bytes = c->authenticated ? l->stanza_bytes : l->stanza_bytes_pre_auth,
        .max_elements = c->authenticated ? l->elements : l->elements_pre_auth,
        .max_depth = c->authenticated ? l->depth : l->depth_pre_auth,
        .max_attrs = l->attrs,
    };
    xmlstream_set_limits(c->xs, &lim);
}

/* ---- bytes in ------------------------------------------------------------ */

static void c2s_on_read(void *owner, const char *data, size_t len)
{
    struct c2s *c = owner;
    if (c->session) c2s_restart_idle_timer(c);
    while (len > 0 && !c->closing) {
        size_t used = len;
        enum xmlstream_status st = xmlstream_feed(c->xs, data, len, &used);
        if (st != XS_PAUSED) return;
        data += used;
        len -= used;
        enum restart r = c->restart;
        c->restart = RESTART_NONE;
        if (r == RESTART_NONE) continue;
        xmlstream_restart(c->xs);
        c->header_sent = false;
        if (r == RESTART_AFTER_TLS) return;    /* XML-5: the rest is dropped */
        c2s_set_limits(c);                     /* authenticated limits */
    }
}

/* ---- timers ---------------------------------------------------------------- */

static void c2s_on_negotiation_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    c2s_stream_error(w->data, "connection-timeout", "negotiation took too long");
}

static double c2s_rest_delay(const struct c2s *c)
{
    double idle = c->srv->cfg->limits.idle_timeout;
    return idle < 2 * REST_AFTER_SECONDS ? idle / 2 : REST_AFTER_SECONDS;
}

static void c2s_on_trim(struct ev_loop *loop, ev_timer *w, int revents)
{
    malloc_trim(0);
}

/* One pending trim for all streams, on the loop that started it. */
static ev_timer heap_trim;
static struct ev_loop *heap_trim_loop;

static void c2s_trim_heap_soon(struct ev_loop *loop)
{
    if (ev_is_active(&heap_trim)) return;
    ev_timer_init(&heap_trim, c2s_on_trim, TRIM_AFTER_SECONDS, 0.);
    ev_timer_start(loop, &heap_trim);
    heap_trim_loop = loop;
}

/* The stream is quiet: free what it only needs while stanzas arrive. */
static void c2s_rest(struct c2s *c, ev_timer *w)
{
    c->idle = IDLE_RESTING;
    if (xmlstream_release_idle(c->xs)) c2s_trim_heap_soon(c->srv->loop);
    conn_release_idle(c->conn);
    w->repeat = c->srv->cfg->limits.idle_timeout - c2s_rest_delay(c);
    ev_timer_again(c->srv->loop, w);
}

static void c2s_on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct c2s *c = w->data;
    if (c->idle == IDLE_ACTIVE) {
        c2s_rest(c, w);
        return;
    }
    if (c->idle == IDLE_PINGED) {
        c2s_stream_error(c, "connection-timeout", "no answer to ping");
        return;
    }
    /* XML-4: a silent stream gets an XEP-0199 ping, then PingTimeout to answer. */
    c->idle = IDLE_PINGED;
    char id[48];
    server_new_id(c->srv, id, sizeof id);
    struct buf p;
    buf_init(&p);
    buf_printf(&p, "<iq type='get' id='%s' from='%s' to='", id, c->domain);
    buf_append_xml_escaped(&p, c->session->full_jid, strlen(c->session->full_jid));
    buf_puts(&p, "'><ping xmlns='urn:xmpp:ping'/></iq>");
    c2s_write(c, p.data, p.len);
    buf_free(&p);
    w->repeat = c->srv->cfg->limits.ping_timeout;
    ev_timer_again(loop, w);
}

static void c2s_restart_idle_timer(struct c2s *c)
{
    c->idle = IDLE_ACTIVE;
    c->idle_timer.repeat = c2s_rest_delay(c);
    ev_timer_again(c->srv->loop, &c->idle_timer);
}

/* ---- life cycle ------------------------------------------------------------ */

static void c2s_on_closed(void *owner, const char *reason)
{
    struct c2s *c = owner;
    if (c->session) {
        presence_session_ended(c->srv, c->session);
        sessions_remove(c->srv->sessions, c->session);
        c->session = NULL;
    }
    ev_timer_stop(c->srv->loop, &c->negotiation_timer);
    ev_timer_stop(c->srv->loop, &c->idle_timer);
    service_connection_closed(c->svc);
    if (c->prev) c->prev->next = c->next;
    else all_streams = c->next;
    if (c->next) c->next->prev = c->prev;
    xmlstream_free(c->xs);
    sasl_server_free(c->sasl);
    free(c->domain);
    free(c->peer_jid);
    free(c->node);
    free(c->mech);
    free(c);
}

static const struct conn_events c2s_conn_events = {
    .read = c2s_on_read,
    .tls_ready = c2s_on_tls_ready,
    .closed = c2s_on_closed,
};

void c2s_accept(struct server *srv, struct service *svc, int fd,
                const struct sockaddr_storage *peer, bool over_limit)
{
    struct c2s *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->svc = svc;
    const struct limits_config *l = &srv->cfg->limits;
    struct conn_limits cl = {
        .out_queue_bytes = l->out_queue_bytes,
        .read_rate = l->read_rate,
        .read_burst = l->read_burst,
        .tls_handshake_timeout = l->tls_handshake_timeout,
    };
    SSL *ssl = service_direct_tls(svc) ? tls_server_session(srv->tls, fd) : NULL;
    c->conn = conn_new(srv->loop, fd, peer, ssl, &cl, &c2s_conn_events, c);
    c->xs = xmlstream_new(&c2s_parser_events, c, &(struct xmlstream_limits){ 0 });
    c2s_set_limits(c);
    server_new_id(srv, c->stream_id, sizeof c->stream_id);
    ev_timer_init(&c->negotiation_timer, c2s_on_negotiation_timeout, l->negotiation_timeout, 0.);
    c->negotiation_timer.data = c;
    ev_timer_start(srv->loop, &c->negotiation_timer);
    ev_init(&c->idle_timer, c2s_on_idle);
    c->idle_timer.data = c;
    c->next = all_streams;
    if (all_streams) all_streams->prev = c;
    all_streams = c;
    if (hammer_ip_blocked(srv->hammer, conn_peer_ip(c->conn), ev_now(srv->loop)) &&
        !peer_exempt_from_hammering(c)) {
        /* SEC-7: a blocked address is refused at once. */
        log_write(LOG_SECURITY, "Anti-hammering: connection from %s refused (address blocked).",
                  conn_peer_ip(c->conn));
        c2s_stream_error(c, "policy-violation", "too many failed logins from this address");
    } else if (over_limit) {
        c2s_stream_error(c, "resource-constraint", "too many connections to this service");
    }
}

void c2s_shutdown_all(void)
{
    for (struct c2s *c = all_streams; c; c = c->next)
        c2s_stream_error(c, "system-shutdown", NULL);
}

void c2s_abort_all(void)
{
    for (struct c2s *c = all_streams; c; c = c->next) {
        c->closing = true;
        conn_close(c->conn, "shutdown");
    }
    if (ev_is_active(&heap_trim)) ev_timer_stop(heap_trim_loop, &heap_trim);
}

bool c2s_any(void)
{
    return all_streams != NULL;
}

void c2s_foreach(void (*fn)(const struct c2s_info *info, void *ctx), void *ctx)
{
    for (struct c2s *c = all_streams; c; c = c->next) {
        if (c->closing) continue;
        SSL *ssl = conn_is_tls(c->conn) ? conn_ssl(c->conn) : NULL;
        struct c2s_info info = {
            .protocol = service_protocol(c->svc),
            .secure = ssl != NULL,
            .started = conn_started(c->conn),
            .ip = conn_peer_ip(c->conn),
            .port = conn_peer_port(c->conn),
            .node = c->authenticated ? c->node : NULL,
            .domain = c->authenticated ? c->domain : NULL,
            .resource = c->session ? c->session->resource : NULL,
            .tls_version = ssl ? SSL_get_version(ssl) : NULL,
            .cipher = ssl ? SSL_get_cipher_name(ssl) : NULL,
            .sasl = c->authenticated ? c->mech : NULL,
        };
        fn(&info, ctx);
    }
}

void c2s_shutdown_service(const struct service *svc)
{
    for (struct c2s *c = all_streams; c; c = c->next)
        if (c->svc == svc) c2s_stream_error(c, "system-shutdown", "the service was stopped");
}

size_t c2s_end_user_streams(const char *node, const char *domain, const char *condition,
                            const char *text)
{
    size_t n = 0;
    for (struct c2s *c = all_streams; c; c = c->next) {
        if (c->closing || !c->authenticated || strcmp(c->node, node) != 0 || strcmp(c->domain, domain) != 0)
            continue;
        c2s_stream_error(c, condition, text);
        n++;
    }
    return n;
}
