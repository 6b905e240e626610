/* offline: messages for accounts with no available resource (XEP-0160,
 * SPEC IM-4), kept durably in the store with an XEP-0203 delay stamp and
 * delivered in order at the next available presence of non-negative
 * priority. Owns no state; the store owns the messages. */
#ifndef IMREF_OFFLINE_H
#define IMREF_OFFLINE_H

#include "xnode.h"

struct server;
struct session;

/* Stores a copy of `msg` for `bare`. 0 stored, 1 the account's store is
 * full, -1 storage error (Error log). */
int offline_store(struct server *srv, const char *bare, const xnode *msg);

/* Delivers and then deletes everything held for the session's account. */
void offline_deliver(struct server *srv, struct session *s);

#endif
