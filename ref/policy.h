/* policy: the Connect IM policy decisions as pure functions, called by the
 * router and the c2s: domain restriction (SPEC DOM-1..5) and user access
 * policies (ACC-1..3). No state and no I/O (but the load-time Warning of
 * policy_warn_unknown_access); every argument is borrowed, nothing is kept
 * or freed. */
#ifndef IMREF_POLICY_H
#define IMREF_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct dir_user;
struct directory;
struct server_config;
struct sockaddr;

/* DOM-3: restricted when !send_outside, or the user's DomainRestriction,
 * or any of the user's groups (defined in users.cfg for the user's domain)
 * has DomainRestriction. A group the directory does not define is ignored. */
bool policy_user_restricted(bool send_outside, const struct dir_user *u,
                            const struct directory *dir);

/* One end of a stanza, as the router sees it. */
struct policy_end {
    const char *domain;        /* prepared domain of the JID */
    bool has_node;             /* false: a domain (server) JID */
    bool local_account;        /* an account of this server (then `restricted` applies) */
    bool restricted;           /* policy_user_restricted, for local accounts */
};

enum policy_verdict { POLICY_ALLOW, POLICY_REFUSE };

/* DOM-2, DOM-4: a stanza between two ends passes when they are in the same
 * domain (case-insensitive), or the recipient is a domain JID hosted here
 * (server services) or the sender's own account, or neither local account
 * end is restricted. `to_hosted` says whether `to->domain` is a domain of
 * this server. */
enum policy_verdict policy_domain(const struct policy_end *from, const struct policy_end *to,
                                  bool to_hosted);
#define POLICY_DOMAIN_TEXT "Sending instant messages outside of the domain is not allowed"

/* ACC-1..3: may `u` use IM from `addr` (AF_INET or AF_INET6)? Looks up the
 * user's policy by name (an empty or unknown name: the default policy) in
 * cfg->access_policies and applies its rule with cfg->ipgroups; no default
 * policy (e.g. no AccessPolicy list): allowed. */
bool policy_access_allowed(const struct server_config *cfg, const struct dir_user *u,
                           const struct sockaddr *addr);
#define POLICY_ACCESS_TEXT "Access to instant messaging is not allowed"

/* ACC-1: one Warning-log line per user of `dir` whose AccessPolicy names no
 * policy of cfg (the default policy applies to them). Call after loading
 * users.cfg or the policies. Returns the number of such users. */
size_t policy_warn_unknown_access(const struct server_config *cfg, const struct directory *dir);

#endif
