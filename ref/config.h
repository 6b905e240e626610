/* config: the typed server configuration read from DIR/mailserver.cfg
 * (SPEC CFG-1, CFG-4) through cfgfile: domains, services and listeners
 * (SVC-4, SVC-8), IP address groups (ACC-2), the security policy (SEC-2,
 * SEC-6), IM settings (DOM-1, ROST-2, ROST-4), limits (XML-4) and paths.
 * A server_config owns every string, array, the ipgroup set and the parsed
 * document (`file`, kept for rewrites); config_free releases them all. */
#ifndef IMREF_CONFIG_H
#define IMREF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct cfgfile;
struct ipgroup_set;

#define CONFIG_FILE_NAME "mailserver.cfg"

enum security_policy { SECPOL_NO_RESTRICTIONS, SECPOL_AUTH_REQUIRED, SECPOL_ENCRYPTION_REQUIRED };
enum startup_mode { STARTUP_AUTOMATIC, STARTUP_MANUAL };

struct listen_addr {
    char *host;             /* numeric IPv4 or IPv6 (no brackets) */
    unsigned short port;
};

struct service_config {
    char *id;               /* "xmpp", "xmpps" or "s2s" */
    enum startup_mode startup;
    struct listen_addr *listen;
    size_t n_listen;        /* at least 1 */
    unsigned max_connections; /* 0: unlimited */
    char *ip_group;         /* NULL: anyone */
};

struct domain_config {
    char *name;             /* prepared as a JID domain (jid_prep_domain) */
    bool im_enabled;
    char *cert_file;
    char *key_file;         /* absolute paths, or NULL: default */
};

struct limits_config {
    size_t stanza_bytes_pre_auth, stanza_bytes, stanza_bytes_s2s;
    unsigned elements_pre_auth, elements, depth_pre_auth, depth, attrs;
    unsigned negotiation_timeout, tls_handshake_timeout, idle_timeout, ping_timeout; /* seconds */
    unsigned resources_per_account;
    size_t out_queue_bytes, read_rate, read_burst;   /* read_rate 0: unlimited */
    unsigned offline_messages;
};

struct server_config {
    char *dir;              /* directory of mailserver.cfg, absolute */
    char *path;             /* mailserver.cfg, absolute */
    struct domain_config *domains;
    size_t n_domains;
    struct service_config *services;
    size_t n_services;
    struct ipgroup_set *ipgroups;
    enum security_policy security_policy;
    char *auth_exception_group, *encryption_exception_group; /* NULL if empty */
    bool send_outside;
    int maximum_roster;     /* 0: no automatic contact list */
    unsigned scram_iterations;
    struct limits_config limits;
    char *users_path, *store_path, *log_path, *cert_file, *key_file; /* absolute */
    char *control_socket;      /* Admin/ControlSocket, absolute (default imrefd.sock) */
    bool debug_log;
    struct cfgfile *file;   /* the parsed document, kept for rewrites */
};

/* Loads DIR/mailserver.cfg. Returns 0, or -1 with err = "FILE:LINE:COL: reason"
 * ("PATH: reason" when the file cannot be read). A bad value is a Warning-log
 * line naming the file, the variable and the value, and its default is used;
 * a list item lacking its key (Domain Name, Service Id, group Name), with
 * a bad key or a repeated one, or a bad IP address entry is a Warning and
 * skipped (CFG-4). */
int config_load(const char *dir, struct server_config **out, struct buf *err);
void config_free(struct server_config *cfg);

/* Case-insensitive lookups; NULL if absent. */
const struct domain_config *config_find_domain(const struct server_config *cfg, const char *name);
const struct service_config *config_find_service(const struct server_config *cfg, const char *id);

/* "NoRestrictions", "AuthenticationRequired", "EncryptionRequired" (SEC-2). */
const char *security_policy_name(enum security_policy p);
/* The inverse (case-insensitive): 0, or -1 for an unknown name. */
int security_policy_parse(const char *name, enum security_policy *out);

/* Parses one listener, "127.0.0.1:5222" or "[::1]:5222" (numeric hosts,
 * port 1-65535). Returns 0 and fills *out (host malloc'd), or -1. */
int config_parse_listen(const char *text, struct listen_addr *out);

#endif
