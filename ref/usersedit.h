/* usersedit: the changes an administrator makes to users.cfg (SPEC ADM-4,
 * CFG-2, CFG-3): each call loads the file, checks, changes and saves it
 * atomically (cfgfile_save), preserving everything else. Used by imrefd's
 * admin actions (which then reload the directory) and by imrefctl with the
 * server stopped. Errors: -1 with a message in err ("no such user
 * alice@example.com", "user alice@example.com exists", "PublishInGAL must be
 * 0 or 1", ...). JIDs are prepared with jid_parse; users are matched like
 * directory_find_user. The caller owns every argument and `err`. */
#ifndef IMREF_USERSEDIT_H
#define IMREF_USERSEDIT_H

#include <stdbool.h>

#include "buf.h"

int usersedit_add_user(const char *users_path, const char *jid, const char *password,
                       const char *full_name, const char *email, unsigned iterations, struct buf *err);
int usersedit_remove_user(const char *users_path, const char *jid, struct buf *err);
int usersedit_set_password(const char *users_path, const char *jid, const char *password,
                           unsigned iterations, struct buf *err);
/* field: Enabled, FullName, Email, PublishInGAL, DomainRestriction, AccessPolicy, Groups */
int usersedit_set_user(const char *users_path, const char *jid, const char *field, const char *value, struct buf *err);
int usersedit_add_group(const char *users_path, const char *name, const char *domain, struct buf *err);
int usersedit_remove_group(const char *users_path, const char *name, const char *domain, struct buf *err); /* also drops it from members' Groups */
int usersedit_set_group(const char *users_path, const char *name, const char *domain, const char *field, const char *value, struct buf *err); /* DomainRestriction */
int usersedit_group_member(const char *users_path, const char *name, const char *domain, const char *jid, bool add, struct buf *err); /* the group must exist */

#endif
