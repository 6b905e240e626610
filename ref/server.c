#include "server.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "archive.h"
#include "colleagues.h"
#include "config.h"
#include "directory.h"
#include "log.h"
#include "policy.h"
#include "roster.h"

void server_new_id(struct server *srv, char *out, size_t outlen)
{
    unsigned char r[6];
    if (RAND_bytes(r, sizeof r) != 1) abort();
    snprintf(out, outlen, "imref-%llu-%02x%02x%02x%02x%02x%02x", ++srv->id_counter,
             r[0], r[1], r[2], r[3], r[4], r[5]);
}

bool server_hosts_domain(const struct server *srv, const char *domain)
{
    return config_find_domain(srv->cfg, domain) != NULL;
}

static void count_change(void *ctx, const struct dir_user *user, bool added)
{
    (void)user;
    (void)added;
    (*(size_t *)ctx)++;
}

void server_set_directory(struct server *srv, struct directory *dir)
{
    struct directory *old_dir = srv->dir;
    struct colleagues *old_colleagues = srv->colleagues;
    srv->dir = dir;
    policy_warn_unknown_access(srv->cfg, dir);
    srv->colleagues = colleagues_build(dir, srv->cfg->maximum_roster);   /* ROST-3 at each build */
    if (old_dir) {
        size_t changes = 0;
        colleagues_diff(old_colleagues, srv->colleagues, count_change, &changes);
        if (changes) {
            srv->colleagues_generation++;
            roster_colleagues_changed(srv, old_colleagues, srv->colleagues);   /* ROST-8 */
        }
    }
    colleagues_free(old_colleagues);
    directory_free(old_dir);
}

int server_reload_users(struct server *srv, struct buf *err)
{
    struct directory *dir = NULL;
    if (directory_load(srv->cfg->users_path, &dir, err) < 0) return -1;
    server_set_directory(srv, dir);
    log_write(LOG_CONFIG, "reload: %s: %zu users", srv->cfg->users_path, directory_user_count(dir));
    return 0;
}

int server_reload(struct server *srv, struct buf *err)
{
    if (config_reload_access(srv->cfg, err) < 0) return -1;
    return server_reload_users(srv, err);
}

void server_configure_archive(struct server *srv)
{
    if (srv->archive) archive_configure(srv->archive, srv->cfg->archive.path, srv->cfg->archive.on_failure);
}
