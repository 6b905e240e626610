#include "dirjson.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool domain_wanted(const char *filter, const char *domain)
{
    return !filter || !*filter || strcasecmp(filter, domain) == 0;
}

static void write_strings(struct jsonw *w, char *const *items, size_t n)
{
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) jsonw_string(w, items[i]);
    jsonw_array_end(w);
}

static void write_user_jid(struct jsonw *w, const struct dir_user *u)
{
    struct buf jid;
    buf_init(&jid);
    buf_printf(&jid, "%s@%s", u->name, u->domain);
    jsonw_string(w, jid.data);
    buf_free(&jid);
}

static void write_user(struct jsonw *w, const struct dir_user *u)
{
    jsonw_object_begin(w);
    jsonw_key(w, "jid"); write_user_jid(w, u);
    jsonw_key(w, "name"); jsonw_string(w, u->fullname);
    jsonw_key(w, "email"); jsonw_string(w, u->email);
    jsonw_key(w, "enabled"); jsonw_bool(w, u->enabled);
    jsonw_key(w, "publish_in_gal"); jsonw_bool(w, u->publish_in_gal);
    jsonw_key(w, "domain_restriction"); jsonw_bool(w, u->domain_restriction);
    jsonw_key(w, "access_policy"); jsonw_string(w, u->access_policy);
    jsonw_key(w, "groups"); write_strings(w, u->groups, u->n_groups);
    jsonw_object_end(w);
}

void dirjson_users(struct jsonw *w, const struct directory *dir, const char *domain)
{
    jsonw_array_begin(w);
    for (size_t i = 0; i < directory_user_count(dir); i++) {
        const struct dir_user *u = directory_user_at(dir, i);
        if (domain_wanted(domain, u->domain)) write_user(w, u);
    }
    jsonw_array_end(w);
}

static void write_members(struct jsonw *w, const struct directory *dir, const char *group, const char *domain)
{
    jsonw_array_begin(w);
    for (size_t i = 0; i < directory_user_count(dir); i++) {
        const struct dir_user *u = directory_user_at(dir, i);
        if (strcasecmp(u->domain, domain) != 0) continue;
        for (size_t k = 0; k < u->n_groups; k++) {
            if (strcasecmp(u->groups[k], group) == 0) {
                write_user_jid(w, u);
                break;
            }
        }
    }
    jsonw_array_end(w);
}

void dirjson_groups(struct jsonw *w, const struct directory *dir, const char *domain)
{
    jsonw_array_begin(w);
    for (size_t i = 0; i < directory_group_count(dir); i++) {
        const struct dir_group *g = directory_group_at(dir, i);
        if (!domain_wanted(domain, g->domain)) continue;
        jsonw_object_begin(w);
        jsonw_key(w, "name"); jsonw_string(w, g->name);
        jsonw_key(w, "domain"); jsonw_string(w, g->domain);
        jsonw_key(w, "domain_restriction"); jsonw_bool(w, g->domain_restriction);
        jsonw_key(w, "members"); write_members(w, dir, g->name, g->domain);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
}

void dirjson_jid_result(struct jsonw *w, const char *jid)
{
    jsonw_object_begin(w);
    jsonw_key(w, "jid");
    jsonw_string(w, jid);
    jsonw_object_end(w);
}

void dirjson_group_result(struct jsonw *w, const struct directory *dir, const char *name, const char *domain)
{
    const struct dir_group *g = directory_find_group(dir, name, domain);
    jsonw_object_begin(w);
    jsonw_key(w, "name");
    jsonw_string(w, name);
    jsonw_key(w, "members");
    write_members(w, dir, g ? g->name : name, domain);
    jsonw_object_end(w);
}
