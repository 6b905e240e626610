/* s2s: federation with other servers (SPEC S2S-1..5, SVC-3, ADM-1):
 * outbound streams found through DNS (SRV, then A/AAAA), inbound streams on
 * the s2s service, STARTTLS, SASL EXTERNAL or Server Dialback, queues while
 * a stream comes up and bounces when it cannot. The module owns every S2S
 * stream and every stanza queued on one; callers lend it their stanzas. */
#ifndef IMREF_S2S_H
#define IMREF_S2S_H

#include <stdbool.h>
#include <sys/socket.h>

#include "xnode.h"

struct server;
struct service;
struct c2s_info;

#define NS_SERVER "jabber:server"
#define NS_DIALBACK "jabber:server:dialback"

/* Once, at start: the dialback secret. */
void s2s_init(void);

/* S2S-4: a stanza from a local JID ('from' stamped) to a JID of a domain
 * this server does not host (jabber:client, borrowed: it is copied). It
 * goes out on the stream from the sender's domain to the recipient's,
 * which is set up if needed; stanzas wait in order meanwhile. If the
 * stream cannot be set up, messages and iq requests come back to the
 * sender as <remote-server-not-found/> or <remote-server-timeout/>. */
void s2s_send(struct server *srv, const xnode *stanza);

/* The s2s service accepted a connection (service_accept_fn). */
void s2s_accept(struct server *srv, struct service *svc, int fd,
                const struct sockaddr_storage *peer, bool over_limit);

/* ADM-1: one row per S2S stream (protocol XMPP-S2S; the description says
 * the direction and the remote domain). */
void s2s_foreach(void (*fn)(const struct c2s_info *info, void *ctx), void *ctx);

/* Ends every S2S stream with <system-shutdown/>; queued stanzas bounce. */
void s2s_shutdown_all(const char *text);
/* Drops every S2S stream at once (the shutdown grace time is over). */
void s2s_abort_all(void);
/* True while any S2S stream still exists. */
bool s2s_any(void);

/* SVC-3, DOM-6: opens the s2s listener exactly while SendOutside is on,
 * the service is wanted (Automatic, or started by the admin) and xmpp or
 * xmpps runs; closes it (and ends the S2S streams) otherwise. Called at
 * start and after every change of those. */
void s2s_sync_listener(struct server *srv);

#endif
