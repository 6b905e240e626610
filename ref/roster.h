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

/* Appends <item/> for `it` under `query`. */
void roster_item_to_xml(xnode *query, const struct roster_item *it, bool removed);

#endif
