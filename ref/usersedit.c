#include "usersedit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cfgfile.h"
#include "directory.h"
#include "jid.h"
#include "scram.h"

static int fail(struct buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct buf *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) abort();
    va_end(ap);
    buf_reset(err);
    buf_puts(err, msg);
    free(msg);
    return -1;
}

/* ---- the file ------------------------------------------------------------ */

/* One change to the loaded document: 0, or -1 with err set (nothing saved). */
typedef int (*edit_fn)(struct cfgfile *users, void *ctx, struct buf *err);

/* Takes the exclusive lock PATH.lock that serialises edits of users.cfg
 * (imrefd's admin actions and any imrefctl editing it directly); the
 * descriptor to unlock_file, or -1 with err set. */
static int lock_file(const char *path, struct buf *err)
{
    struct buf lock;
    buf_init(&lock);
    buf_printf(&lock, "%s.lock", path);
    int fd = open(lock.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -1 : flock(fd, LOCK_EX);
    if (rc < 0) {
        buf_reset(err);
        buf_printf(err, "%s: %s", lock.data, strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    buf_free(&lock);
    return fd;
}

static void unlock_file(int fd)
{
    close(fd);     /* releases the flock */
}

/* Loads users.cfg (an empty document if it does not exist), applies `edit`
 * and saves the result atomically, all under the edit lock so that
 * concurrent editors never lose each other's changes. A file that fails to
 * parse is never rewritten (CFG-4). */
static int edit_file(const char *path, edit_fn edit, void *ctx, struct buf *err)
{
    int lock = lock_file(path, err);
    if (lock < 0) return -1;
    struct cfgfile *users = NULL;
    struct stat st;
    int rc = 0;
    if (stat(path, &st) != 0 && errno == ENOENT) users = cfgfile_new();
    else rc = cfgfile_load(path, &users, err);
    if (rc == 0) rc = edit(users, ctx, err);
    if (rc == 0) rc = cfgfile_save(users, path, err);
    cfgfile_free(users);
    unlock_file(lock);
    return rc;
}

/* ---- matching ------------------------------------------------------------ */

/* `raw` (a value as written) equals `want` ignoring surrounding white space
 * and ASCII case, as directory_load reads it. */
static bool value_matches(const char *raw, const char *want)
{
    if (!raw) return false;
    while (isspace((unsigned char)*raw)) raw++;
    size_t len = strlen(raw);
    while (len > 0 && isspace((unsigned char)raw[len - 1])) len--;
    return len == strlen(want) && strncasecmp(raw, want, len) == 0;
}

static bool item_is(const struct cfgnode *item, const char *name, const char *domain)
{
    return value_matches(cfgfile_item_get(item, "Name"), name)
        && value_matches(cfgfile_item_get(item, "Domain"), domain);
}

/* The first item of `list` for (name, domain): the one the directory uses. */
static struct cfgnode *find_item(const struct cfgfile *users, const char *list, const char *name,
                                 const char *domain)
{
    for (struct cfgnode *it = cfgfile_items(users, list); it; it = cfgfile_item_next(it))
        if (item_is(it, name, domain)) return it;
    return NULL;
}

/* Removes every item of `list` for (name, domain); how many there were. */
static size_t remove_items(struct cfgfile *users, const char *list, const char *name,
                           const char *domain)
{
    size_t removed = 0;
    struct cfgnode *it = cfgfile_items(users, list);
    while (it) {
        struct cfgnode *next = cfgfile_item_next(it);
        if (item_is(it, name, domain)) {
            cfgfile_item_remove(it);
            removed++;
        }
        it = next;
    }
    return removed;
}

/* ---- values -------------------------------------------------------------- */

/* One line of text XML can carry. */
static bool valid_line(const char *s)
{
    return cfgfile_valid_text(s) && !strpbrk(s, "\r\n");
}

static int check_bool(const char *field, const char *value, struct buf *err)
{
    if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0) return 0;
    return fail(err, "%s must be 0 or 1", field);
}

static int check_line(const char *field, const char *value, struct buf *err)
{
    if (valid_line(value)) return 0;
    return fail(err, "%s must be one line of UTF-8 text without control characters", field);
}

/* A comma-separated list of group names, trimmed, without empty or repeated
 * (ASCII case-insensitively) names. Owns the names. */
struct name_list {
    char **names;
    size_t n;
};

static ssize_t name_list_find(const struct name_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->names[i], name) == 0) return (ssize_t)i;
    return -1;
}

static void name_list_add(struct name_list *l, const char *name, size_t len)
{
    while (len > 0 && isspace((unsigned char)*name)) name++, len--;
    while (len > 0 && isspace((unsigned char)name[len - 1])) len--;
    char *copy = xstrndup(name, len);
    if (len == 0 || name_list_find(l, copy) >= 0) {
        free(copy);
        return;
    }
    l->names = xrealloc(l->names, (l->n + 1) * sizeof *l->names);
    l->names[l->n++] = copy;
}

static void name_list_split(struct name_list *l, const char *text)
{
    *l = (struct name_list){ 0 };
    if (!text) return;
    while (*text) {
        size_t len = strcspn(text, ",");
        name_list_add(l, text, len);
        text += len;
        if (*text == ',') text++;
    }
}

static void name_list_remove_at(struct name_list *l, size_t i)
{
    free(l->names[i]);
    memmove(l->names + i, l->names + i + 1, (l->n - i - 1) * sizeof *l->names);
    l->n--;
}

/* "a,b,c", malloc'd. */
static char *name_list_join(const struct name_list *l)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < l->n; i++) buf_printf(&b, "%s%s", i ? "," : "", l->names[i]);
    return buf_steal(&b);
}

static void name_list_free(struct name_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

/* Sets a user item's Groups to the list (0, or -1 if not valid text). */
static int item_set_groups(struct cfgnode *user, const struct name_list *groups)
{
    char *joined = name_list_join(groups);
    int rc = cfgfile_item_set(user, "Groups", joined);
    free(joined);
    return rc;
}

/* ---- keys ---------------------------------------------------------------- */

/* A user JID "node@domain", prepared; bare is "node@domain" for messages. */
struct user_key {
    struct jid jid;
    char *bare;
};

static int user_key_parse(const char *text, struct user_key *out, struct buf *err)
{
    *out = (struct user_key){ 0 };
    if (jid_parse(text, &out->jid) != 0 || !out->jid.node || out->jid.resource) {
        jid_clear(&out->jid);
        return fail(err, "'%s' is not a valid user JID (name@domain)", text);
    }
    out->bare = jid_bare(&out->jid);
    return 0;
}

static void user_key_clear(struct user_key *k)
{
    jid_clear(&k->jid);
    free(k->bare);
}

/* A group "name@domain": name trimmed, one line, no ','; domain prepared. */
struct group_key {
    char *name, *domain;
};

static int group_key_parse(const char *name, const char *domain, struct group_key *out,
                           struct buf *err)
{
    *out = (struct group_key){ 0 };
    size_t len = strlen(name);
    while (len > 0 && isspace((unsigned char)*name)) name++, len--;
    while (len > 0 && isspace((unsigned char)name[len - 1])) len--;
    out->name = xstrndup(name, len);
    if (len == 0 || strchr(out->name, ',') || !valid_line(out->name)) {
        fail(err, "'%s' is not a valid group name (one line of text without ',')", out->name);
    } else if (jid_prep_domain(domain, &out->domain) != 0) {
        fail(err, "'%s' is not a valid domain", domain);
    } else {
        return 0;
    }
    free(out->name);
    *out = (struct group_key){ 0 };
    return -1;
}

static void group_key_clear(struct group_key *k)
{
    free(k->name);
    free(k->domain);
}

static struct cfgnode *find_user(const struct cfgfile *users, const struct user_key *k,
                                 struct buf *err)
{
    struct cfgnode *it = find_item(users, "User", k->jid.node, k->jid.domain);
    if (!it) fail(err, "no such user %s", k->bare);
    return it;
}

static struct cfgnode *find_group(const struct cfgfile *users, const struct group_key *k,
                                  struct buf *err)
{
    struct cfgnode *it = find_item(users, "Group", k->name, k->domain);
    if (!it) fail(err, "no such group %s@%s", k->name, k->domain);
    return it;
}

/* The stored SCRAM form of a new password, malloc'd; NULL with err set. */
static char *hash_password(const char *password, unsigned iterations, struct buf *err)
{
    if (!password || !*password) {
        fail(err, "the password must not be empty");
        return NULL;
    }
    char *stored = scram_hash_password(password, iterations);
    if (!stored) fail(err, "the password is not valid (it fails SASLprep)");
    return stored;
}

/* ---- users --------------------------------------------------------------- */

struct user_edit {
    struct user_key key;
    const char *full_name, *email;
    char *stored_password;          /* the new Password (add, passwd) */
    const char *field, *value;      /* set */
};

static int do_add_user(struct cfgfile *users, void *ctx, struct buf *err)
{
    struct user_edit *e = ctx;
    if (find_item(users, "User", e->key.jid.node, e->key.jid.domain))
        return fail(err, "user %s exists", e->key.bare);
    if (directory_append_user(users, e->key.jid.node, e->key.jid.domain, e->full_name, e->email,
                              e->stored_password) != 0)
        return fail(err, "invalid FullName or Email");
    return 0;
}

/* ADM-4, CFG-2: appended at the end of the User list (ROST-1 order). */
int usersedit_add_user(const char *users_path, const char *jid, const char *password,
                       const char *full_name, const char *email, unsigned iterations, struct buf *err)
{
    struct user_edit e = { .full_name = full_name ? full_name : "", .email = email ? email : "" };
    if (user_key_parse(jid, &e.key, err) != 0) return -1;
    int rc = check_line("FullName", e.full_name, err);
    if (rc == 0) rc = check_line("Email", e.email, err);
    if (rc == 0) {
        e.stored_password = hash_password(password, iterations, err);
        rc = e.stored_password ? edit_file(users_path, do_add_user, &e, err) : -1;
    }
    free(e.stored_password);
    user_key_clear(&e.key);
    return rc;
}

static int do_remove_user(struct cfgfile *users, void *ctx, struct buf *err)
{
    struct user_edit *e = ctx;
    if (remove_items(users, "User", e->key.jid.node, e->key.jid.domain) == 0)
        return fail(err, "no such user %s", e->key.bare);
    return 0;
}

/* ADM-4: every item for the user goes (a repeated one would otherwise
 * become the user on the next load). */
int usersedit_remove_user(const char *users_path, const char *jid, struct buf *err)
{
    struct user_edit e = { 0 };
    if (user_key_parse(jid, &e.key, err) != 0) return -1;
    int rc = edit_file(users_path, do_remove_user, &e, err);
    user_key_clear(&e.key);
    return rc;
}

/* Sets one variable of the user's item to e->value (already checked). */
static int do_set_user_variable(struct cfgfile *users, void *ctx, struct buf *err)
{
    struct user_edit *e = ctx;
    struct cfgnode *user = find_user(users, &e->key, err);
    if (!user) return -1;
    if (cfgfile_item_set(user, e->field, e->value) != 0)
        return fail(err, "%s must be UTF-8 text without control characters", e->field);
    return 0;
}

/* ADM-4, AUTH-2: stored as SCRAM keys only. */
int usersedit_set_password(const char *users_path, const char *jid, const char *password,
                           unsigned iterations, struct buf *err)
{
    struct user_edit e = { .field = "Password" };
    if (user_key_parse(jid, &e.key, err) != 0) return -1;
    e.stored_password = hash_password(password, iterations, err);
    e.value = e.stored_password;
    int rc = e.stored_password ? edit_file(users_path, do_set_user_variable, &e, err) : -1;
    free(e.stored_password);
    user_key_clear(&e.key);
    return rc;
}

enum field_kind { FIELD_LINE, FIELD_BOOL, FIELD_GROUPS };

struct field_spec {
    const char *name;
    enum field_kind kind;
};

static const struct field_spec user_fields[] = {
    { "Enabled", FIELD_BOOL },          { "FullName", FIELD_LINE },
    { "Email", FIELD_LINE },            { "PublishInGAL", FIELD_BOOL },
    { "DomainRestriction", FIELD_BOOL }, { "AccessPolicy", FIELD_LINE },
    { "Groups", FIELD_GROUPS },
};

/* The field named `name` (ASCII case-insensitively), NULL if none. */
static const struct field_spec *find_field(const struct field_spec *fields, size_t n,
                                           const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(fields[i].name, name) == 0) return &fields[i];
    return NULL;
}

/* The value to store for the field (malloc'd: Groups normalised to
 * "a,b"), or NULL with err set. */
static char *field_value(const struct field_spec *f, const char *value, struct buf *err)
{
    if (f->kind == FIELD_BOOL && check_bool(f->name, value, err) != 0) return NULL;
    if (check_line(f->name, value, err) != 0) return NULL;
    if (f->kind != FIELD_GROUPS) return xstrdup(value);
    struct name_list groups;
    name_list_split(&groups, value);
    char *joined = name_list_join(&groups);
    name_list_free(&groups);
    return joined;
}

/* ADM-4: Enabled, FullName, Email, PublishInGAL, DomainRestriction (DOM-3),
 * AccessPolicy (ACC-1), Groups (a group need not be defined yet, as in the
 * product's users.cfg). */
int usersedit_set_user(const char *users_path, const char *jid, const char *field, const char *value, struct buf *err)
{
    const struct field_spec *f = find_field(user_fields, sizeof user_fields / sizeof user_fields[0], field);
    if (!f)
        return fail(err, "unknown user field '%s' (Enabled, FullName, Email, PublishInGAL, "
                    "DomainRestriction, AccessPolicy, Groups)", field);
    struct user_edit e = { .field = f->name };
    if (user_key_parse(jid, &e.key, err) != 0) return -1;
    char *stored = field_value(f, value, err);
    e.value = stored;
    int rc = stored ? edit_file(users_path, do_set_user_variable, &e, err) : -1;
    free(stored);
    user_key_clear(&e.key);
    return rc;
}

/* ---- groups -------------------------------------------------------------- */

struct group_edit {
    struct group_key key;
    const char *field, *value;  /* set */
    struct user_key member;     /* members */
    bool add;
};

static int do_add_group(struct cfgfile *users, void *ctx, struct buf *err)
{
    struct group_edit *e = ctx;
    if (find_item(users, "Group", e->key.name, e->key.domain))
        return fail(err, "group %s@%s exists", e->key.name, e->key.domain);
    struct cfgnode *g = cfgfile_item_append(users, "Group");
    if (!g || cfgfile_item_set(g, "Name", e->key.name) != 0
        || cfgfile_item_set(g, "Domain", e->key.domain) != 0
        || cfgfile_item_set(g, "DomainRestriction", "0") != 0)
        return fail(err, "group %s@%s cannot be stored", e->key.name, e->key.domain);
    return 0;
}

/* ADM-4, CFG-2 */
int usersedit_add_group(const char *users_path, const char *name, const char *domain, struct buf *err)
{
    struct group_edit e = { 0 };
    if (group_key_parse(name, domain, &e.key, err) != 0) return -1;
    int rc = edit_file(users_path, do_add_group, &e, err);
    group_key_clear(&e.key);
    return rc;
}

/* Adds the group to, or drops it from, a user's Groups. 0, or -1 if that
 * changes nothing (already / not a member). */
static int user_change_membership(struct cfgnode *user, const char *group, bool add)
{
    struct name_list groups;
    name_list_split(&groups, cfgfile_item_get(user, "Groups"));
    ssize_t at = name_list_find(&groups, group);
    int rc = -1;
    if (add && at < 0) {
        name_list_add(&groups, group, strlen(group));
        rc = item_set_groups(user, &groups);
    } else if (!add && at >= 0) {
        name_list_remove_at(&groups, (size_t)at);
        rc = item_set_groups(user, &groups);
    }
    name_list_free(&groups);
    return rc;
}

static int do_remove_group(struct cfgfile *users, void *ctx, struct buf *err)
{
    struct group_edit *e = ctx;
    if (remove_items(users, "Group", e->key.name, e->key.domain) == 0)
        return fail(err, "no such group %s@%s", e->key.name, e->key.domain);
    for (struct cfgnode *u = cfgfile_items(users, "User"); u; u = cfgfile_item_next(u))
        if (value_matches(cfgfile_item_get(u, "Domain"), e->key.domain))
            user_change_membership(u, e->key.name, false);
    return 0;
}

/* ADM-4: the group's members (its domain's users naming it) lose it. */
int usersedit_remove_group(const char *users_path, const char *name, const char *domain, struct buf *err)
{
    struct group_edit e = { 0 };
    if (group_key_parse(name, domain, &e.key, err) != 0) return -1;
    int rc = edit_file(users_path, do_remove_group, &e, err);
    group_key_clear(&e.key);
    return rc;
}

static int do_set_group(struct cfgfile *users, void *ctx, struct buf *err)
{
    struct group_edit *e = ctx;
    struct cfgnode *g = find_group(users, &e->key, err);
    if (!g) return -1;
    if (cfgfile_item_set(g, e->field, e->value) != 0) return fail(err, "%s is not valid", e->field);
    return 0;
}

/* ADM-4, DOM-3: DomainRestriction. */
int usersedit_set_group(const char *users_path, const char *name, const char *domain, const char *field, const char *value, struct buf *err)
{
    if (strcasecmp(field, "DomainRestriction") != 0)
        return fail(err, "unknown group field '%s' (DomainRestriction)", field);
    if (check_bool("DomainRestriction", value, err) != 0) return -1;
    struct group_edit e = { .field = "DomainRestriction", .value = value };
    if (group_key_parse(name, domain, &e.key, err) != 0) return -1;
    int rc = edit_file(users_path, do_set_group, &e, err);
    group_key_clear(&e.key);
    return rc;
}

static int do_group_member(struct cfgfile *users, void *ctx, struct buf *err)
{
    struct group_edit *e = ctx;
    if (!find_group(users, &e->key, err)) return -1;
    struct cfgnode *user = find_user(users, &e->member, err);
    if (!user) return -1;
    if (user_change_membership(user, e->key.name, e->add) == 0) return 0;
    return fail(err, "user %s is %s a member of group %s@%s", e->member.bare,
                e->add ? "already" : "not", e->key.name, e->key.domain);
}

/* ADM-4: membership is the user's Groups; a group holds users of its own
 * domain only. The group must be defined (usersedit_set_user's Groups, like
 * the product's users.cfg, may name one that is not). */
int usersedit_group_member(const char *users_path, const char *name, const char *domain, const char *jid, bool add, struct buf *err)
{
    struct group_edit e = { .add = add };
    if (group_key_parse(name, domain, &e.key, err) != 0) return -1;
    int rc = user_key_parse(jid, &e.member, err);
    if (rc == 0 && strcasecmp(e.member.jid.domain, e.key.domain) != 0)
        rc = fail(err, "user %s is not in the domain of group %s@%s", e.member.bare, e.key.name,
                  e.key.domain);
    if (rc == 0) rc = edit_file(users_path, do_group_member, &e, err);
    user_key_clear(&e.member);
    group_key_clear(&e.key);
    return rc;
}
