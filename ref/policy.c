#include "policy.h"

#include <strings.h>

#include "config.h"
#include "directory.h"
#include "ipgroup.h"
#include "log.h"

/* DOM-3 */
bool policy_user_restricted(bool send_outside, const struct dir_user *u,
                            const struct directory *dir)
{
    if (!send_outside || u->domain_restriction) return true;
    for (size_t i = 0; dir && i < u->n_groups; i++) {
        const struct dir_group *g = directory_find_group(dir, u->groups[i], u->domain);
        if (g && g->domain_restriction) return true;
    }
    return false;
}

static bool restricted_account(const struct policy_end *end)
{
    return end->local_account && end->restricted;
}

/* DOM-2, DOM-4 */
enum policy_verdict policy_domain(const struct policy_end *from, const struct policy_end *to,
                                  bool to_hosted)
{
    /* own domain (the own account included) */
    if (strcasecmp(from->domain, to->domain) == 0) return POLICY_ALLOW;
    if (!to->has_node && to_hosted) return POLICY_ALLOW;                  /* server services */
    if (restricted_account(from) || restricted_account(to)) return POLICY_REFUSE;
    return POLICY_ALLOW;
}

/* ACC-1: the user's policy, or the default one (NULL: none). */
static const struct access_policy *user_policy(const struct server_config *cfg,
                                               const struct dir_user *u)
{
    const struct access_policy *p = NULL;
    if (u->access_policy && u->access_policy[0])
        p = config_find_access_policy(cfg, u->access_policy);
    return p ? p : cfg->default_access_policy;
}

/* ACC-1..3 */
bool policy_access_allowed(const struct server_config *cfg, const struct dir_user *u,
                           const struct sockaddr *addr)
{
    const struct access_policy *p = user_policy(cfg, u);
    if (!p) return true;
    switch (p->rule) {
    case ACCESS_DENIED: return false;
    case ACCESS_IP_ALLOWED:
        return p->ip_group && ipgroup_contains(cfg->ipgroups, p->ip_group, addr);
    case ACCESS_IP_DENIED:
        return !(p->ip_group && ipgroup_contains(cfg->ipgroups, p->ip_group, addr));
    case ACCESS_ALLOWED: break;
    }
    return true;
}

/* ACC-1 */
size_t policy_warn_unknown_access(const struct server_config *cfg, const struct directory *dir)
{
    const struct access_policy *def = cfg->default_access_policy;
    size_t unknown = 0;
    for (size_t i = 0; i < directory_user_count(dir); i++) {
        const struct dir_user *u = directory_user_at(dir, i);
        if (!u->access_policy[0] || config_find_access_policy(cfg, u->access_policy)) continue;
        unknown++;
        log_write(LOG_WARNING, "User %s@%s: AccessPolicy \"%s\" is not defined in %s; %s%s.",
                  u->name, u->domain, u->access_policy, cfg->path,
                  def ? "the default policy applies: " : "access is allowed (no default policy)",
                  def ? def->name : "");
    }
    return unknown;
}
