/* colleagues: the automatic contact list per domain (ROST-1..4), built
 * from a directory snapshot: the domain's enabled users with PublishInGAL,
 * in users.cfg order, the first MaximumRoster of them. Immutable once built;
 * owns its arrays (the dir_user pointers are borrowed from the directory,
 * which must outlive it). Linear in the number of users. */
#ifndef IMREF_COLLEAGUES_H
#define IMREF_COLLEAGUES_H

#include <stdbool.h>
#include <stddef.h>

#include "directory.h"

#define COLLEAGUES_GROUP "Colleagues"

struct colleagues;

/* maximum_roster: 0 disables the list (no warning). Writes the ROST-3
 * Warning-log line once per domain whose eligible users exceed the limit:
 * "IM: Automatic contact list for domain <d> is incomplete: <n> users exceed the maximum of <m> (MaximumRoster)."
 * where n = eligible - m. */
struct colleagues *colleagues_build(const struct directory *dir, int maximum_roster);
void colleagues_free(struct colleagues *c);

/* Is this user in its domain's list? (false when disabled) */
bool colleagues_is_member(const struct colleagues *c, const char *node, const char *domain);

/* The members of `domain` in list order (n = 0 when none or disabled);
 * a member's own list is the others. */
const struct dir_user *const *colleagues_members(const struct colleagues *c, const char *domain, size_t *n);

/* ROST-8: the members added and removed between two builds, per domain,
 * calling fn for each change. */
/* (Removed users are old's pointers, added ones new_'s: both directories
 * must still be alive. Either build may be NULL: no members.) */
void colleagues_diff(const struct colleagues *old, const struct colleagues *new_,
                     void (*fn)(void *ctx, const struct dir_user *user, bool added), void *ctx);

#endif
