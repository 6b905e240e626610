/* dirjson: the user directory as the admin interface shows it in JSON —
 * user lists, group lists, group members, and the small results of user
 * and group actions. Written by imrefd's admin actions and by imrefctl when
 * it reads users.cfg itself, so both answer alike. Borrows everything. */
#ifndef IMREF_DIRJSON_H
#define IMREF_DIRJSON_H

#include "directory.h"
#include "json.h"

/* Arrays of every user / group, or only those of `domain` (NULL or "": all). */
void dirjson_users(struct jsonw *w, const struct directory *dir, const char *domain);
void dirjson_groups(struct jsonw *w, const struct directory *dir, const char *domain);
/* {"jid":JID} */
void dirjson_jid_result(struct jsonw *w, const char *jid);
/* {"name":NAME,"members":[the JIDs of users of `domain` whose Groups name it]} */
void dirjson_group_result(struct jsonw *w, const struct directory *dir, const char *name, const char *domain);

#endif
