#include "directory.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cfgfile.h"
#include "log.h"

/* An open-addressing hash table from (name, domain) to a position in the
 * users or groups array. The keys are borrowed from the entries. */
struct index_slot {
    const char *name, *domain;   /* NULL: empty slot */
    size_t position;
};

struct name_index {
    struct index_slot *slots;
    size_t mask;            /* slot count - 1; the count is a power of two */
};

struct directory {
    struct dir_user *users;
    size_t n_users;
    struct dir_group *groups;
    size_t n_groups;
    struct name_index user_index, group_index;
};

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv1a_lower(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (unsigned char)tolower((unsigned char)*s)) * FNV_PRIME;
    return h;
}

/* FNV-1a over the ASCII-lowercased name, a separator, the domain. */
static size_t key_hash(const char *name, const char *domain)
{
    uint64_t h = fnv1a_lower(FNV_OFFSET, name);
    h = (h ^ '@') * FNV_PRIME;
    return (size_t)fnv1a_lower(h, domain);
}

/* Sizes the table for `count` entries, at most half full. */
static void index_init(struct name_index *ix, size_t count)
{
    size_t size = 8;
    while (size < 2 * count) size *= 2;
    ix->slots = xcalloc(size, sizeof *ix->slots);
    ix->mask = size - 1;
}

/* The slot holding (name, domain), or the empty slot where it would go. */
static struct index_slot *index_probe(const struct name_index *ix, const char *name,
                                      const char *domain)
{
    size_t i = key_hash(name, domain) & ix->mask;
    while (ix->slots[i].name && (strcasecmp(ix->slots[i].name, name) != 0
                                 || strcasecmp(ix->slots[i].domain, domain) != 0))
        i = (i + 1) & ix->mask;
    return &ix->slots[i];
}

static void index_put(struct index_slot *slot, const char *name, const char *domain,
                      size_t position)
{
    slot->name = name;
    slot->domain = domain;
    slot->position = position;
}

/* ---- reading values ----------------------------------------------------- */

static char *trimmed_n(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1])) len--;
    return xstrndup(s, len);
}

/* The trimmed value, "" if absent (malloc'd). */
static char *item_string(const struct cfgnode *item, const char *variable)
{
    const char *raw = cfgfile_item_get(item, variable);
    return raw ? trimmed_n(raw, strlen(raw)) : xstrdup("");
}

static bool item_bool(const char *path, const char *what, const struct cfgnode *item,
                      const char *variable, bool def)
{
    char *value = item_string(item, variable);
    bool v = def;
    if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0)
        v = value[0] == '1';
    else if (*value)
        log_write(LOG_WARNING, "Configuration %s: invalid value \"%s\" for %s (%s); using the "
                  "default %d.", path, value, variable, what, def);
    free(value);
    return v;
}

/* Splits "sales, support" into trimmed, non-empty names. */
static void split_groups(const char *list, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    while (*list) {
        size_t len = strcspn(list, ",");
        char *name = trimmed_n(list, len);
        if (*name) {
            *out = xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = name;
        } else {
            free(name);
        }
        list += len;
        if (*list == ',') list++;
    }
}

/* Name and Domain of an item, or false (with a Warning) if either is missing. */
static bool item_key(const char *path, const char *list, size_t index, const struct cfgnode *item,
                     char **name, char **domain)
{
    *name = item_string(item, "Name");
    *domain = item_string(item, "Domain");
    if (**name && **domain) return true;
    log_write(LOG_WARNING, "Configuration %s: %s item %zu has no %s; skipped.", path, list, index,
              **name ? "Domain" : "Name");
    free(*name);
    free(*domain);
    return false;
}

static void warn_repeat(const char *path, const char *list, size_t index, const char *name,
                        const char *domain)
{
    log_write(LOG_WARNING, "Configuration %s: %s item %zu repeats %s@%s; the first one is used.",
              path, list, index, name, domain);
}

static size_t count_items(const struct cfgfile *cf, const char *list)
{
    size_t n = 0;
    for (struct cfgnode *it = cfgfile_items(cf, list); it; it = cfgfile_item_next(it)) n++;
    return n;
}

/* CFG-2: the User list. */
static void load_users(struct directory *dir, const struct cfgfile *cf, const char *path)
{
    size_t total = count_items(cf, "User");
    dir->users = xcalloc(total, sizeof *dir->users);
    index_init(&dir->user_index, total);
    size_t index = 0;
    for (struct cfgnode *it = cfgfile_items(cf, "User"); it; it = cfgfile_item_next(it)) {
        index++;
        char *name, *domain;
        if (!item_key(path, "User", index, it, &name, &domain)) continue;
        struct index_slot *slot = index_probe(&dir->user_index, name, domain);
        if (slot->name) {
            warn_repeat(path, "User", index, name, domain);
            free(name);
            free(domain);
            continue;
        }
        struct buf what;
        buf_init(&what);
        buf_printf(&what, "User %s@%s", name, domain);
        struct dir_user *u = &dir->users[dir->n_users];
        u->name = name;
        u->domain = domain;
        u->fullname = item_string(it, "FullName");
        u->email = item_string(it, "Email");
        u->password = item_string(it, "Password");
        u->access_policy = item_string(it, "AccessPolicy");
        u->enabled = item_bool(path, what.data, it, "Enabled", true);
        u->publish_in_gal = item_bool(path, what.data, it, "PublishInGAL", true);
        u->domain_restriction = item_bool(path, what.data, it, "DomainRestriction", false);
        char *groups = item_string(it, "Groups");
        split_groups(groups, &u->groups, &u->n_groups);
        free(groups);
        u->order = dir->n_users++;
        index_put(slot, u->name, u->domain, u->order);
        buf_free(&what);
    }
}

/* CFG-2, DOM-3: the Group list. */
static void load_groups(struct directory *dir, const struct cfgfile *cf, const char *path)
{
    size_t total = count_items(cf, "Group");
    dir->groups = xcalloc(total, sizeof *dir->groups);
    index_init(&dir->group_index, total);
    size_t index = 0;
    for (struct cfgnode *it = cfgfile_items(cf, "Group"); it; it = cfgfile_item_next(it)) {
        index++;
        char *name, *domain;
        if (!item_key(path, "Group", index, it, &name, &domain)) continue;
        struct index_slot *slot = index_probe(&dir->group_index, name, domain);
        if (slot->name) {
            warn_repeat(path, "Group", index, name, domain);
            free(name);
            free(domain);
            continue;
        }
        struct buf what;
        buf_init(&what);
        buf_printf(&what, "Group %s@%s", name, domain);
        index_put(slot, name, domain, dir->n_groups);
        struct dir_group *g = &dir->groups[dir->n_groups++];
        g->name = name;
        g->domain = domain;
        g->domain_restriction = item_bool(path, what.data, it, "DomainRestriction", false);
        buf_free(&what);
    }
}

int directory_load(const char *users_cfg_path, struct directory **out, struct buf *err)
{
    *out = NULL;
    struct cfgfile *cf = NULL;
    struct stat st;
    if (stat(users_cfg_path, &st) != 0 && errno == ENOENT) cf = cfgfile_new();
    else if (cfgfile_load(users_cfg_path, &cf, err) != 0) return -1;
    struct directory *dir = xcalloc(1, sizeof *dir);
    load_users(dir, cf, users_cfg_path);
    load_groups(dir, cf, users_cfg_path);
    cfgfile_free(cf);
    *out = dir;
    return 0;
}

void directory_free(struct directory *dir)
{
    if (!dir) return;
    for (size_t i = 0; i < dir->n_users; i++) {
        struct dir_user *u = &dir->users[i];
        free(u->name);
        free(u->domain);
        free(u->fullname);
        free(u->email);
        free(u->password);
        free(u->access_policy);
        for (size_t j = 0; j < u->n_groups; j++) free(u->groups[j]);
        free(u->groups);
    }
    free(dir->users);
    for (size_t i = 0; i < dir->n_groups; i++) {
        free(dir->groups[i].name);
        free(dir->groups[i].domain);
    }
    free(dir->groups);
    free(dir->user_index.slots);
    free(dir->group_index.slots);
    free(dir);
}

const struct dir_user *directory_find_user(const struct directory *dir, const char *name,
                                           const char *domain)
{
    const struct index_slot *slot = index_probe(&dir->user_index, name, domain);
    return slot->name ? &dir->users[slot->position] : NULL;
}

const struct dir_group *directory_find_group(const struct directory *dir, const char *name,
                                             const char *domain)
{
    const struct index_slot *slot = index_probe(&dir->group_index, name, domain);
    return slot->name ? &dir->groups[slot->position] : NULL;
}

size_t directory_user_count(const struct directory *dir)
{
    return dir->n_users;
}

const struct dir_user *directory_user_at(const struct directory *dir, size_t i)
{
    return i < dir->n_users ? &dir->users[i] : NULL;
}

int directory_append_user(struct cfgfile *users, const char *node, const char *domain,
                          const char *full_name, const char *email, const char *stored_password)
{
    struct cfgnode *u = cfgfile_item_append(users, "User");
    if (!u) return -1;
    const char *values[][2] = {
        { "Name", node }, { "Domain", domain }, { "FullName", full_name },
        { "Email", email }, { "Password", stored_password }, { "Enabled", "1" },
        { "PublishInGAL", "1" }, { "DomainRestriction", "0" }, { "AccessPolicy", "" },
        { "Groups", "" },
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (cfgfile_item_set(u, values[i][0], values[i][1]) != 0) return -1;
    return 0;
}

size_t directory_group_count(const struct directory *dir)
{
    return dir->n_groups;
}

const struct dir_group *directory_group_at(const struct directory *dir, size_t i)
{
    return i < dir->n_groups ? &dir->groups[i] : NULL;
}
