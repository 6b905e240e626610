#include "server.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "config.h"
#include "directory.h"
#include "log.h"
#include "policy.h"

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

int server_reload_users(struct server *srv, struct buf *err)
{
    struct directory *dir = NULL;
    if (directory_load(srv->cfg->users_path, &dir, err) < 0) return -1;
    directory_free(srv->dir);
    srv->dir = dir;
    policy_warn_unknown_access(srv->cfg, dir);
    log_write(LOG_CONFIG, "reload: %s: %zu users", srv->cfg->users_path, directory_user_count(dir));
    return 0;
}

int server_reload(struct server *srv, struct buf *err)
{
    if (config_reload_access(srv->cfg, err) < 0) return -1;
    return server_reload_users(srv, err);
}
