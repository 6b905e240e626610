/* presence: presence broadcast, probes answered locally, directed presence,
 * unavailable on disconnect, and the subscription flow on both accounts'
 * rosters (RFC 6121 §3-4, SPEC IM-2). State lives in the session registry
 * (who is available, with what presence) and the store (subscriptions);
 * this module keeps none of its own. */
#ifndef IMREF_PRESENCE_H
#define IMREF_PRESENCE_H

#include <stdbool.h>

#include "jid.h"
#include "subscription.h"
#include "xnode.h"

struct server;
struct session;

/* A presence stanza from a bound client (borrowed; 'from' already stamped,
 * 'to' prepared when `to` is non-NULL). */
void presence_outbound(struct server *srv, struct session *from, xnode *st, const struct jid *to);

/* The session is going away: unavailable to everyone who saw it available. */
void presence_session_ended(struct server *srv, struct session *s);

/* Each account's available resources send their current presence (or,
 * with available=false, unavailable) to the other's available resources:
 * colleague presence starting or ending between two accounts (ROST-5,
 * ROST-7, ROST-8). Both are prepared bare JIDs. */
void presence_exchange(struct server *srv, const char *a, const char *b, bool available);

/* The account `user` sends a subscription stanza (an OUT event) to
 * `contact` (both prepared bare JIDs); both rosters are updated and pushed.
 * `original` (may be NULL) is the stanza sent, whose extended content the
 * contact receives (RFC 6121 §3.1.3). */
void presence_subscription(struct server *srv, const char *user, const char *contact, enum sub_event ev,
                           const xnode *original);

/* S2S-3: a presence stanza from a remote JID to a local one (borrowed;
 * both addresses prepared): subscriptions, probes answered from the local
 * account's state, and presence delivered to its resources. */
void presence_inbound(struct server *srv, xnode *st, const struct jid *from, const struct jid *to);

#endif
