/* rosterview: the roster a user sees (ROST-1, ROST-5, ROST-6): the stored
 * items (contacts the user added, subscriptions) and the automatic
 * Colleagues items, each changed by the user's overrides, removed ones left
 * out. A colleague's stored item is hidden behind the Colleagues item. The
 * version string combines the user's store version and the server's
 * Colleagues generation. Borrows the server; returned items are malloc'd. */
#ifndef IMREF_ROSTERVIEW_H
#define IMREF_ROSTERVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct server;
struct dir_user;

/* The directory entry of `contact` (a prepared bare JID) when it is an
 * automatic colleague of node@domain (both in the domain's list, not the
 * same account); NULL otherwise. Overrides are not considered. */
const struct dir_user *rosterview_colleague(const struct server *srv, const char *node, const char *domain,
                                            const char *contact);

/* Does colleague presence flow between the two accounts (colleagues, and
 * neither removed the other)? ROST-5. */
bool rosterview_colleague_presence(struct server *srv, const char *node, const char *domain,
                                   const char *contact);

/* The Colleagues item for `colleague` as the override `ov` (may be NULL)
 * changes it; out is filled with malloc'd strings (roster_item_clear). */
void rosterview_colleague_item(const struct dir_user *colleague, const struct colleague_override *ov,
                               struct roster_item *out);

/* The version string for a store version (out >= 48 bytes). */
void rosterview_version(const struct server *srv, unsigned long long store_version, char *out, size_t n);

/* The whole roster of node@domain; 0, or -1 on a storage error. */
int rosterview_load(struct server *srv, const char *node, const char *domain, struct roster_item **items,
                    size_t *n, char *ver, size_t verlen);

#endif
