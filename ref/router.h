/* router: the one place that decides where a stanza from a bound client
 * goes (RFC 6121 §8, SPEC IM-1, IM-5): iq handlers of the server and the
 * account, local sessions, offline storage, or an error reply. It takes
 * ownership of the stanza it is given and frees it. */
#ifndef IMREF_ROUTER_H
#define IMREF_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "xnode.h"

struct server;
struct session;

void router_route(struct server *srv, struct session *from, xnode *stanza);

/* Replies to `stanza` with an error to its sender (from a local session),
 * unless the stanza is itself an error. */
void router_bounce(struct server *srv, struct session *sender, const xnode *stanza,
                   const char *type, const char *condition, const char *text);

/* IM-1 as a pure decision, for a message to a bare JID: which of the
 * account's resources get it (deliver[i]), or what happens instead. */
struct route_candidate {
    bool available;
    int priority;
};
enum bare_message_plan { PLAN_DELIVER, PLAN_OFFLINE, PLAN_DROP };
enum bare_message_plan router_plan_bare_message(const char *type, bool has_body,
                                                const struct route_candidate *res, size_t n,
                                                bool *deliver);

struct jid;
/* DOM-1..4: may the local account from_node@from_domain exchange stanzas
 * with `to` under the current settings (both directions are checked: the
 * sender's and the recipient's restrictions)? */
bool router_domain_allows(struct server *srv, const char *from_node, const char *from_domain,
                          const struct jid *to);

/* S2S-3, S2S-5: a stanza from a remote server, 'from' and 'to' parsed (the
 * stream has authenticated from's domain for to's). DOM rules for the local
 * recipient, then delivery as for local stanzas; errors go back through
 * S2S. Takes ownership. */
void router_route_inbound(struct server *srv, xnode *stanza, const struct jid *from,
                          const struct jid *to);

/* A stanza the server made for a local JID (a bounce from S2S): to that
 * session, or for a message to a bare JID as IM-1 says. Takes ownership. */
void router_deliver_local(struct server *srv, xnode *stanza);

/* ARCH-3: the archive hands back a message whose line is durable
 * (deliver), or that it could not archive under the refuse policy (the
 * sender gets <resource-constraint/>). An archive_release_fn; owner is
 * the server; sender the local full JID, "" for a remote one. */
void router_archive_released(void *owner, xnode *msg, const char *sender, bool deliver);

/* Writes `stanza` to one session (its 'to' is left as it is). */
void router_send(struct session *s, const xnode *stanza);

#endif
