/* directory: an immutable snapshot of users.cfg (SPEC CFG-2): users and
 * groups, looked up by (name, domain) ASCII case-insensitively through hash
 * tables, users also by position in the file (ROST-1 order). A directory
 * owns every user, group and string in it; directory_free releases them.
 * Pointers it returns are borrowed for the life of the directory; to change
 * the directory, edit users.cfg and load a new snapshot (ADM-7). */
#ifndef IMREF_DIRECTORY_H
#define IMREF_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define USERS_FILE_NAME "users.cfg"

struct dir_user {
    char *name;
    char *domain;
    char *fullname;         /* "" if none */
    char *email;            /* "" if none */
    char *password;         /* stored SCRAM form (scram.h); "" if none */
    bool enabled;           /* default 1 */
    bool publish_in_gal;    /* default 1 */
    bool domain_restriction; /* default 0 (DOM-3) */
    char *access_policy;    /* "" : the default policy (ACC-1) */
    char **groups;          /* group names, trimmed, in file order */
    size_t n_groups;
    size_t order;           /* position in users.cfg: directory_user_at(order) */
};

struct dir_group {
    char *name;
    char *domain;
    bool domain_restriction; /* default 0 (DOM-3) */
};

struct directory;

/* Loads users.cfg. Returns 0, or -1 with err = "FILE:LINE:COL: reason"
 * ("FILE: reason" if it cannot be read). A missing file is an empty
 * directory. A user or group without Name or Domain, a repeated one (the
 * first wins) or a bad boolean is a Warning-log line naming the file (CFG-4). */
int directory_load(const char *users_cfg_path, struct directory **out, struct buf *err);
void directory_free(struct directory *dir);

/* ASCII case-insensitive; O(1) on average. NULL if absent. */
const struct dir_user *directory_find_user(const struct directory *dir, const char *name,
                                           const char *domain);
size_t directory_group_count(const struct directory *dir);
const struct dir_group *directory_group_at(const struct directory *dir, size_t i);  /* file order */
const struct dir_group *directory_find_group(const struct directory *dir, const char *name,
                                             const char *domain);

/* Users in file order, i < directory_user_count. */
size_t directory_user_count(const struct directory *dir);
const struct dir_user *directory_user_at(const struct directory *dir, size_t i);

struct cfgfile;
/* Appends an account to a users.cfg document (CFG-2), with the defaults of a
 * new account (enabled, published, unrestricted). `stored_password` is the
 * SCRAM form. Returns 0, or -1 if a value is not text XML can carry. */
int directory_append_user(struct cfgfile *users, const char *node, const char *domain,
                          const char *full_name, const char *email, const char *stored_password);

#endif
