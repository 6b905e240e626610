/* config: the typed server configuration read from DIR/mailserver.cfg
 * (SPEC CFG-1, CFG-4) through cfgfile: domains, services and listeners
 * (SVC-4, SVC-8), IP address groups (ACC-2), access policies (ACC-1), the
 * security policy (SEC-2, SEC-6), anti-hammering and account lockout
 * (SEC-7, SEC-8), IM settings (DOM-1, ROST-2, ROST-4), limits (XML-4), paths.
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

/* ACC-1: the XMPP rule of an access policy. */
enum access_rule { ACCESS_ALLOWED, ACCESS_DENIED, ACCESS_IP_ALLOWED, ACCESS_IP_DENIED };

struct access_policy {
    char *name;
    enum access_rule rule;
    char *ip_group;         /* NULL if none (used by the two Ip rules) */
};

/* SEC-7: table AntiHammering. */
struct antihammer_config {
    bool enabled;           /* default 1 */
    unsigned failed_logins; /* default 10, >= 1 */
    unsigned check_time;    /* seconds, default 60, >= 1 */
    unsigned block_time;    /* seconds, default 300, >= 1 */
    char *safe_acl;         /* IP group exempt; NULL: none */
};

/* SEC-8: table AccountLockout. */
struct lockout_config {
    bool enabled;           /* default 0 */
    unsigned failed_logins; /* default 5, >= 1 */
    unsigned lock_minutes;  /* LockTime, default 30, >= 1 */
};

struct limits_config {
    size_t stanza_bytes_pre_auth, stanza_bytes, stanza_bytes_s2s;
    unsigned elements_pre_auth, elements, depth_pre_auth, depth, attrs;
    unsigned negotiation_timeout, tls_handshake_timeout, idle_timeout, ping_timeout; /* seconds */
    unsigned resources_per_account;
    size_t out_queue_bytes, read_rate, read_burst;   /* read_rate 0: unlimited */
    unsigned offline_messages;
    unsigned s2s_connect_timeout;   /* S2S-4: DNS, connect and negotiation, seconds */
    unsigned s2s_idle_timeout;      /* an S2S stream silent this long is closed */
};

/* ARCH-1: table Archive. */
enum archive_failure_mode { ARCHIVE_ON_FAILURE_REFUSE, ARCHIVE_ON_FAILURE_DELIVER };
struct archive_config {
    bool enabled;               /* XmppArchive, default 0 */
    char *path;                 /* ArchivePath, absolute (default DIR/archive) */
    enum archive_failure_mode on_failure;   /* ArchiveFailurePolicy refuse|deliver */
};

/* S2S-1, ADM-6: table DNS. */
struct dns_config {
    struct listen_addr server;  /* host NULL: the system's resolv.conf */
    unsigned timeout;           /* seconds per query, default 5 */
};

struct server_config {
    char *dir;              /* directory of mailserver.cfg, absolute */
    char *path;             /* mailserver.cfg, absolute */
    struct domain_config *domains;
    size_t n_domains;
    struct service_config *services;
    size_t n_services;
    struct ipgroup_set *ipgroups;
    struct access_policy *access_policies;  /* ACC-1, file order, names unique */
    size_t n_access_policies;
    /* the default policy, into access_policies; NULL: everyone allowed */
    const struct access_policy *default_access_policy;
    struct antihammer_config antihammer;
    struct lockout_config lockout;
    enum security_policy security_policy;
    char *auth_exception_group, *encryption_exception_group; /* NULL if empty */
    bool send_outside;
    int maximum_roster;     /* 0: no automatic contact list */
    unsigned scram_iterations;
    struct limits_config limits;
    struct dns_config dns;
    struct archive_config archive;
    char *ca_file;          /* Paths/CAFile: CAs trusted for peer servers; NULL: system */
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

/* ADM-7, ACC-4: re-reads the AccessPolicy and IpAddressGroup lists of
 * mailserver.cfg from disk into cfg (the rest of the typed values is kept as
 * it is: the product reads mailserver.cfg at start). The parsed document
 * (`file`) is replaced by the one read, so a later rewrite keeps the edits.
 * Returns 0, or -1 with err as for config_load and cfg unchanged. Pointers
 * into the old policies, groups and document are invalid after a reload. */
int config_reload_access(struct server_config *cfg, struct buf *err);

/* ACC-1: the policy named `name` (case-insensitive), NULL if none. */
const struct access_policy *config_find_access_policy(const struct server_config *cfg,
                                                      const char *name);
/* "ServiceAllowed", "ServiceDenied", "ServiceIpAllowed", "ServiceIpDenied". */
const char *access_rule_name(enum access_rule rule);

/* Case-insensitive lookups; NULL if absent. */
const struct domain_config *config_find_domain(const struct server_config *cfg, const char *name);
const struct service_config *config_find_service(const struct server_config *cfg, const char *id);

/* ArchiveFailurePolicy: "refuse" | "deliver" and back; parse gives 0 or -1. */
int archive_failure_parse(const char *text, enum archive_failure_mode *out);
const char *archive_failure_name(enum archive_failure_mode mode);

/* "NoRestrictions", "AuthenticationRequired", "EncryptionRequired" (SEC-2). */
const char *security_policy_name(enum security_policy p);
/* The inverse (case-insensitive): 0, or -1 for an unknown name. */
int security_policy_parse(const char *name, enum security_policy *out);

/* Parses one listener, "127.0.0.1:5222" or "[::1]:5222" (numeric hosts,
 * port 1-65535). Returns 0 and fills *out (host malloc'd), or -1. */
int config_parse_listen(const char *text, struct listen_addr *out);

#endif
