/* roster: the jabber:iq:roster handler (RFC 6121 §2, SPEC IM-3) — get with
 * versioning, set, remove, and pushes to the account's interested resources.
 * Items live in the store; this module owns no state of its own. */
#ifndef IMREF_ROSTER_H
#define IMREF_ROSTER_H

#include "store.h"
#include "xnode.h"

struct server;
struct session;

void roster_handle_iq(struct server *srv, struct session *from, const xnode *iq);

/* Sends a roster push of `item` (or of its removal) to every resource of
 * `user` that has requested the roster. */
void roster_push(struct server *srv, const char *user, const struct roster_item *item,
                 unsigned long long version, bool removed);

struct colleagues;
/* ROST-8: the Colleagues lists changed from `old` to `now` (both borrowed,
 * with their directories alive): pushes the added and removed items to the
 * online users concerned. Call after srv->colleagues is `now` and the
 * generation was bumped. */
void roster_colleagues_changed(struct server *srv, const struct colleagues *old, const struct colleagues *now);

/* ROST-7, ADM-5: discards the user's changes to Colleagues items (contacts
 * the user added stay) and pushes the restored items. Returns how many
 * changes were discarded, or -1 on a storage error. */
int roster_restore_colleagues(struct server *srv, const char *node, const char *domain);

#endif
