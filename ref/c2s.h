/* c2s: one client stream (RFC 6120) from accept to close — stream headers
 * and features, STARTTLS, SASL, resource binding, the security policy
 * (SEC-2..6), deadlines and stream errors. After binding, stanzas go to the
 * router. A c2s owns its conn, its parser, its SASL exchange and, while
 * bound, its entry in the session registry; it frees itself when its conn
 * reports `closed`. */
#ifndef IMREF_C2S_H
#define IMREF_C2S_H

#include <stdbool.h>
#include <sys/socket.h>

#include "xnode.h"

struct server;
struct service;
struct c2s;

#define NS_CLIENT "jabber:client"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZA_ERRORS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

/* A service accepted a connection (service_accept_fn). */
void c2s_accept(struct server *srv, struct service *svc, int fd,
                const struct sockaddr_storage *peer, bool over_limit);

/* Writes a stanza to the client. Returns 0, or -1 if the stream is closing
 * or its output queue overflowed (it is then closed with policy-violation). */
int c2s_send(struct c2s *c, const xnode *stanza);

/* Writes already-serialised stanzas (jabber:client) as they are; 0 or -1. */
int c2s_send_raw_stanzas(struct c2s *c, const char *xml, size_t len);

/* What the admin's connection list shows of one stream (ADM-1); borrowed. */
struct c2s_info {
    const char *protocol;      /* "XMPP" or "XMPPS" */
    bool secure;               /* TLS is up */
    double started;            /* ev_now at accept */
    const char *ip;
    unsigned short port;
    const char *node, *domain; /* NULL before authentication */
    const char *resource;      /* NULL before binding */
    const char *tls_version, *cipher;   /* NULL without TLS */
    const char *sasl;          /* the mechanism used, NULL before authentication */
};
void c2s_foreach(void (*fn)(const struct c2s_info *info, void *ctx), void *ctx);

/* SVC-5: ends the streams accepted by `svc` with <system-shutdown/>. */
void c2s_shutdown_service(const struct service *svc);

/* Ends every stream authenticated as node@domain with `condition` and
 * `text`; returns how many. */
size_t c2s_end_user_streams(const char *node, const char *domain, const char *condition,
                            const char *text);

/* Ends every client stream with <system-shutdown/> (engine stop). */
void c2s_shutdown_all(void);
/* Drops every client stream at once (the shutdown grace time is over). */
void c2s_abort_all(void);
/* True while any client stream still exists (closed ones are freed from the loop). */
bool c2s_any(void);

#endif
