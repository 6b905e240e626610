/* xclient: one XMPP client connection for imconform (CONF-1..5): TCP to a
 * numeric address, RFC 6120 stream, STARTTLS or direct TLS (OpenSSL), SASL
 * through GNU SASL's client (SCRAM-SHA-256/-1 with or without -PLUS, PLAIN),
 * resource binding, then stanza exchange. The caller owns the struct xclient
 * (xclient_close frees it) and every xnode handed out in an event; options
 * are copied by xclient_connect; features and strings returned are borrowed
 * until xclient_close. */
#ifndef IMCONFORM_XCLIENT_H
#define IMCONFORM_XCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "xnode.h"

enum xclient_tls { XCLIENT_STARTTLS, XCLIENT_DIRECT_TLS, XCLIENT_PLAIN };

/* Where negotiation stops early, for raw tests (the .scs `login:` values
   no-stream and no-bind). XCLIENT_STOP_NONE (0, the default): as `login` says. */
enum xclient_stop {
    XCLIENT_STOP_NONE,
    XCLIENT_STOP_BEFORE_STREAM,  /* after TCP (and, for direct TLS, the handshake): nothing sent */
    XCLIENT_STOP_BEFORE_BIND,    /* with login: after SASL success and the restarted stream's
                                    features, before resource binding */
};

struct xclient_opts {
    const char *host;             /* numeric address, never resolved */
    unsigned short port;
    enum xclient_tls tls;
    const char *jid;              /* bare or full; node required unless login=false */
    const char *password;
    const char *resource;         /* NULL: let the server choose */
    const char *mechanism;        /* NULL: strongest offered among SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), PLAIN */
    const char *channel_binding;  /* "tls-exporter", "tls-unique", NULL/"none" */
    const char *sni;              /* NULL: the jid's domain */
    const char *ca_file;          /* NULL: do not verify the certificate */
    bool login;                   /* false: stop after the first stream features */
    enum xclient_stop stop;       /* BEFORE_STREAM overrides login; BEFORE_BIND needs it */
    double timeout;               /* per operation, seconds */
    const char *source;           /* numeric local address to bind before connecting
                                     ("127.0.0.2", "::1"); NULL: any */
};

enum xclient_failure_kind { XFAIL_NONE, XFAIL_CONNECT, XFAIL_TLS, XFAIL_SASL, XFAIL_STREAM_ERROR, XFAIL_BIND, XFAIL_CLOSED, XFAIL_TIMEOUT, XFAIL_PROTOCOL };

struct xclient_failure {
    enum xclient_failure_kind kind;
    char condition[64];           /* "not-authorized", "policy-violation", "refused", "tls-failure", ... */
    char text[256];               /* human detail */
};

struct xclient;

/* Connects and negotiates (stream, STARTTLS, SASL with GNU SASL's client, bind).
   NULL on failure with *fail filled (condition per the .scs rules). */
struct xclient *xclient_connect(const struct xclient_opts *o, struct xclient_failure *fail);
const char *xclient_full_jid(const struct xclient *c);    /* after bind; "" if not bound */
const xnode *xclient_features(const struct xclient *c);   /* the last <stream:features>; NULL before any */
int xclient_send(struct xclient *c, const void *data, size_t len);  /* 0 or -1 */

enum xclient_event_kind { XEV_STANZA, XEV_TIMEOUT, XEV_STREAM_ERROR, XEV_CLOSED };

struct xclient_event {
    enum xclient_event_kind kind;
    xnode *stanza;                /* XEV_STANZA: caller owns; also the <stream:error> element for XEV_STREAM_ERROR */
    char condition[64];           /* XEV_STREAM_ERROR */
};

/* Waits up to `timeout` seconds for the next top-level element. */
void xclient_next(struct xclient *c, double timeout, struct xclient_event *ev);
/* Sends </stream:stream>, waits briefly for the server's, frees. */
void xclient_close(struct xclient *c);
/* The connection's socket (non-blocking), to poll() several clients at once:
   readable means xclient_next(c, 0) may have a stanza; call it until
   XEV_TIMEOUT before polling again, as stanzas may already be buffered.
   Borrowed: never read, write or close it directly. */
int xclient_fd(const struct xclient *c);

/* --- additions beyond CONF_API.md (pure helpers, unit-tested) ---
 * Behaviour notes for callers:
 * - a full jid's resource is used when o->resource is NULL;
 * - sni "" sends no SNI at all; channel_binding "tls-unique" caps TLS at 1.2
 *   (tls-unique does not exist in TLS 1.3, RFC 9266);
 * - an explicit mechanism is sent even if the server does not offer it, and
 *   with none offered that fits SCRAM-SHA-256 is tried, so the server's own
 *   refusal (<invalid-mechanism/>, <encryption-required/>) is what is reported;
 * - a -PLUS mechanism without channel_binding uses tls-exporter on TLS 1.3 and
 *   tls-unique on TLS 1.2; non-PLUS SCRAM always sends gs2 flag "n" (GNU SASL
 *   2.2's client cannot produce "y": it fails when given binding data);
 * - failure conditions of our own: "refused", "tls-failure", "timeout",
 *   "closed" (EOF after the header), "protocol-error" (anything else the
 *   client could not cope with, e.g. a `source` it cannot bind to; see text); a bind/session iq error gives
 *   XFAIL_BIND with the stanza error condition ("conflict", ...);
 * - xclient_next: XML from the server that our parser rejects gives
 *   XEV_STREAM_ERROR with stanza NULL and condition "parse-error:<cond>". */

/* The mechanism to use: `wanted` if not NULL; otherwise the strongest the
   server offers in `features` (its urn:ietf:params:xml:ns:xmpp-sasl
   <mechanisms/>) among SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS (both only when
   `plus_allowed`: TLS is up and a channel binding was asked for),
   SCRAM-SHA-256, SCRAM-SHA-1, PLAIN. NULL if none fits. Returns `wanted` or
   a static string. features may be NULL. */
const char *xclient_choose_mechanism(const xnode *features, const char *wanted,
                                     bool plus_allowed);
/* The channel-binding type for `mechanism`: NULL unless it ends in "-PLUS";
   then `channel_binding` unless NULL/"none", else "tls-exporter" when
   `tls13`, "tls-unique" otherwise. Returns a static string or channel_binding. */
const char *xclient_binding_type(const char *mechanism, const char *channel_binding,
                                 bool tls13);
/* The condition of a SASL <failure/>, a <stream:error/> or a stanza
   <error/> element (or a stanza holding an <error/> child): the name of the
   first child element that is not <text/>. Borrowed from the node;
   "undefined-condition" if there is none. */
const char *xclient_error_condition(const xnode *failure_or_error);
/* True if stream features require the legacy session iq (RFC 3921): a
   urn:ietf:params:xml:ns:xmpp-session <session/> without <optional/>. */
bool xclient_session_required(const xnode *features);
/* The parts of a JID, malloc'd: node (before '@'), domain (between '@' and
   '/'), resource (after the first '/'); NULL when the part is absent/empty. */
char *xclient_jid_node(const char *jid);
char *xclient_jid_domain(const char *jid);
char *xclient_jid_resource(const char *jid);

#endif
