#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfgfile.h"
#include "ipgroup.h"
#include "jid.h"
#include "log.h"
#include "scram.h"

#define DEFAULT_MAXIMUM_ROSTER 300
#define DEFAULT_LISTEN_HOST "127.0.0.1"

/* ---- values ------------------------------------------------------------ */

/* value[0..len) with surrounding whitespace removed, malloc'd. */
static char *trimmed_n(const char *value, size_t len)
{
    while (len > 0 && isspace((unsigned char)*value)) value++, len--;
    while (len > 0 && isspace((unsigned char)value[len - 1])) len--;
    return xstrndup(value, len);
}

/* A value with surrounding whitespace removed, malloc'd; NULL if absent. */
static char *trimmed(const char *value)
{
    return value ? trimmed_n(value, strlen(value)) : NULL;
}

static void ascii_lower(char *s)
{
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

/* CFG-4: one Warning line per bad value, naming file, place, variable, value. */
static void warn_value(const struct server_config *cfg, const char *where, const char *variable,
                       const char *value, const char *used)
{
    log_write(LOG_WARNING, "Configuration %s: invalid value \"%s\" for %s (%s); using %s.",
              cfg->path, value, variable, where, used);
}

/* Decimal digits only, no sign; 0 and the value if it is <= max, else -1. */
static int parse_decimal(const char *text, unsigned long long max, unsigned long long *out)
{
    if (!isdigit((unsigned char)text[0])) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end || errno == ERANGE || v > max) return -1;
    *out = v;
    return 0;
}

struct value_source {
    const struct server_config *cfg;
    const char *where;      /* "table Limits", "Service xmpp", ... */
    const char *table;      /* NULL: read from item */
    const struct cfgnode *item;
};

/* The trimmed value, or NULL if absent or empty (then the default applies). */
static char *source_value(const struct value_source *src, const char *variable)
{
    const char *raw = src->item ? cfgfile_item_get(src->item, variable)
                                : cfgfile_get(src->cfg->file, src->table, variable);
    char *value = trimmed(raw);
    if (value && !*value) {
        free(value);
        return NULL;
    }
    return value;
}

static unsigned long long read_number(const struct value_source *src, const char *variable,
                                      unsigned long long def, unsigned long long min,
                                      unsigned long long max)
{
    char *value = source_value(src, variable);
    unsigned long long v = def;
    if (value && (parse_decimal(value, max, &v) != 0 || v < min)) {
        char used[32];
        snprintf(used, sizeof used, "the default %llu", def);
        warn_value(src->cfg, src->where, variable, value, used);
        v = def;
    }
    free(value);
    return v;
}

static bool read_bool(const struct value_source *src, const char *variable, bool def)
{
    char *value = source_value(src, variable);
    bool v = def;
    if (value && strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
        warn_value(src->cfg, src->where, variable, value, def ? "the default 1" : "the default 0");
    else if (value)
        v = value[0] == '1';
    free(value);
    return v;
}

/* An absolute path: the value relative to the configuration directory, or
 * `def` (relative) if absent; NULL if absent and no default. */
static char *read_path(const struct value_source *src, const char *variable, const char *def)
{
    char *value = source_value(src, variable);
    const char *chosen = value ? value : def;
    char *path = NULL;
    if (chosen && chosen[0] == '/') {
        path = xstrdup(chosen);
    } else if (chosen) {
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "%s/%s", src->cfg->dir, chosen);
        path = buf_steal(&b);
    }
    free(value);
    return path;
}

/* ---- tables ------------------------------------------------------------ */

const char *security_policy_name(enum security_policy p)
{
    switch (p) {
    case SECPOL_AUTH_REQUIRED: return "AuthenticationRequired";
    case SECPOL_ENCRYPTION_REQUIRED: return "EncryptionRequired";
    case SECPOL_NO_RESTRICTIONS: break;
    }
    return "NoRestrictions";
}

int security_policy_parse(const char *name, enum security_policy *out)
{
    static const enum security_policy all[] = { SECPOL_NO_RESTRICTIONS, SECPOL_AUTH_REQUIRED,
                                                SECPOL_ENCRYPTION_REQUIRED };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcasecmp(name, security_policy_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

/* An IP group name (NULL if empty); a Warning if no such group is defined
 * (the name is kept: it then matches no address). */
static char *read_group_name(const struct value_source *src, const char *variable)
{
    char *name = source_value(src, variable);
    if (name && !ipgroup_exists(src->cfg->ipgroups, name))
        log_write(LOG_WARNING,
                  "Configuration %s: %s (%s) names \"%s\", which no IpAddressGroup defines; "
                  "it matches no address.", src->cfg->path, variable, src->where, name);
    return name;
}

/* SEC-2, SEC-6, AUTH-2 */
static void load_security(struct server_config *cfg)
{
    struct value_source src = { cfg, "table Security", "Security", NULL };
    char *policy = source_value(&src, "SecurityPolicy");
    cfg->security_policy = SECPOL_NO_RESTRICTIONS;
    if (policy && security_policy_parse(policy, &cfg->security_policy) != 0)
        warn_value(cfg, src.where, "SecurityPolicy", policy, "the default NoRestrictions");
    free(policy);
    cfg->auth_exception_group = read_group_name(&src, "AuthenticationExceptionGroup");
    cfg->encryption_exception_group = read_group_name(&src, "EncryptionExceptionGroup");

    char *iterations = source_value(&src, "ScramIterations");
    unsigned long long v = SCRAM_DEFAULT_ITERATIONS;
    char used[48];
    if (iterations && parse_decimal(iterations, ULLONG_MAX, &v) != 0) {
        v = SCRAM_DEFAULT_ITERATIONS;
        snprintf(used, sizeof used, "the default %llu", v);
        warn_value(cfg, src.where, "ScramIterations", iterations, used);
    } else if (iterations && (v < SCRAM_MIN_ITERATIONS || v > SCRAM_MAX_ITERATIONS)) {
        v = v < SCRAM_MIN_ITERATIONS ? SCRAM_MIN_ITERATIONS : SCRAM_MAX_ITERATIONS;
        snprintf(used, sizeof used, "%llu", v);
        warn_value(cfg, src.where, "ScramIterations", iterations, used);
    }
    cfg->scram_iterations = (unsigned)v;
    free(iterations);
}

/* DOM-1, ROST-2, ROST-4 */
static void load_instant_messaging(struct server_config *cfg)
{
    struct value_source src = { cfg, "table InstantMessaging", "InstantMessaging", NULL };
    cfg->send_outside = read_bool(&src, "SendOutside", false);
    cfg->maximum_roster = (int)read_number(&src, "MaximumRoster", DEFAULT_MAXIMUM_ROSTER, 0, INT_MAX);
}

/* ARCH-1: "refuse" or "deliver" (case-insensitive); 0, or -1. */
int archive_failure_parse(const char *text, enum archive_failure_mode *out)
{
    if (strcasecmp(text, "refuse") == 0) *out = ARCHIVE_ON_FAILURE_REFUSE;
    else if (strcasecmp(text, "deliver") == 0) *out = ARCHIVE_ON_FAILURE_DELIVER;
    else return -1;
    return 0;
}

const char *archive_failure_name(enum archive_failure_mode mode)
{
    return mode == ARCHIVE_ON_FAILURE_DELIVER ? "deliver" : "refuse";
}

/* ARCH-1 */
static void load_archive(struct server_config *cfg)
{
    struct value_source src = { cfg, "table Archive", "Archive", NULL };
    cfg->archive.enabled = read_bool(&src, "XmppArchive", false);
    cfg->archive.path = read_path(&src, "ArchivePath", "archive");
    char *mode = source_value(&src, "ArchiveFailurePolicy");
    cfg->archive.on_failure = ARCHIVE_ON_FAILURE_REFUSE;
    if (mode && archive_failure_parse(mode, &cfg->archive.on_failure) != 0)
        warn_value(cfg, src.where, "ArchiveFailurePolicy", mode, "the default refuse");
    free(mode);
}

/* S2S-1: the resolver federation and `imrefctl check` use. */
static void load_dns(struct server_config *cfg)
{
    struct value_source src = { cfg, "table DNS", "DNS", NULL };
    char *server = source_value(&src, "Server");
    if (server && config_parse_listen(server, &cfg->dns.server) != 0) {
        warn_value(cfg, src.where, "Server", server, "the system's resolver");
        cfg->dns.server.host = NULL;
    }
    free(server);
    cfg->dns.timeout = (unsigned)read_number(&src, "Timeout", 5, 1, 3600);
}

/* SEC-7: failures are timed one by one, so FailedLogins is capped to keep
 * the per-address memory of hammer.c small. */
#define MAX_FAILED_LOGINS 1000

/* SEC-7, SEC-8 */
static void load_antihammer_and_lockout(struct server_config *cfg)
{
    struct value_source ah = { cfg, "table AntiHammering", "AntiHammering", NULL };
    cfg->antihammer.enabled = read_bool(&ah, "Enabled", true);
    cfg->antihammer.failed_logins = (unsigned)read_number(&ah, "FailedLogins", 10, 1,
                                                          MAX_FAILED_LOGINS);
    cfg->antihammer.check_time = (unsigned)read_number(&ah, "CheckTime", 60, 1, UINT_MAX);
    cfg->antihammer.block_time = (unsigned)read_number(&ah, "BlockTime", 300, 1, UINT_MAX);
    cfg->antihammer.safe_acl = read_group_name(&ah, "SafeAcl");
    struct value_source lo = { cfg, "table AccountLockout", "AccountLockout", NULL };
    cfg->lockout.enabled = read_bool(&lo, "Enabled", false);
    cfg->lockout.failed_logins = (unsigned)read_number(&lo, "FailedLogins", 5, 1,
                                                       MAX_FAILED_LOGINS);
    cfg->lockout.lock_minutes = (unsigned)read_number(&lo, "LockTime", 30, 1, UINT_MAX / 60);
}

/* XML-4: every limit, its default and its smallest sensible value. */
static const struct limit_spec {
    const char *name;
    size_t offset;
    bool is_size;           /* size_t field, else unsigned */
    unsigned long long def, min;
} limit_specs[] = {
#define SIZE_LIMIT(name, field, def, min) { name, offsetof(struct limits_config, field), true, def, min }
#define UINT_LIMIT(name, field, def, min) { name, offsetof(struct limits_config, field), false, def, min }
    SIZE_LIMIT("StanzaSizePreAuth", stanza_bytes_pre_auth, 16384, 1),
    SIZE_LIMIT("StanzaSize", stanza_bytes, 262144, 1),
    SIZE_LIMIT("StanzaSizeS2S", stanza_bytes_s2s, 524288, 1),
    UINT_LIMIT("ElementsPreAuth", elements_pre_auth, 32, 1),
    UINT_LIMIT("Elements", elements, 2000, 1),
    UINT_LIMIT("DepthPreAuth", depth_pre_auth, 16, 1),
    UINT_LIMIT("Depth", depth, 64, 1),
    UINT_LIMIT("AttributesPerElement", attrs, 32, 1),
    UINT_LIMIT("NegotiationTimeout", negotiation_timeout, 60, 1),
    UINT_LIMIT("TlsHandshakeTimeout", tls_handshake_timeout, 15, 1),
    UINT_LIMIT("IdleTimeout", idle_timeout, 300, 1),
    UINT_LIMIT("PingTimeout", ping_timeout, 60, 1),
    UINT_LIMIT("ResourcesPerAccount", resources_per_account, 10, 1),
    SIZE_LIMIT("OutputQueue", out_queue_bytes, 1048576, 1),
    SIZE_LIMIT("ReadRate", read_rate, 102400, 0),
    SIZE_LIMIT("ReadBurst", read_burst, 1048576, 1),
    UINT_LIMIT("OfflineMessages", offline_messages, 1000, 0),
    UINT_LIMIT("S2SConnectTimeout", s2s_connect_timeout, 15, 1),
    UINT_LIMIT("S2SIdleTimeout", s2s_idle_timeout, 600, 1),
#undef SIZE_LIMIT
#undef UINT_LIMIT
};

static void load_limits(struct server_config *cfg)
{
    struct value_source src = { cfg, "table Limits", "Limits", NULL };
    for (size_t i = 0; i < sizeof limit_specs / sizeof limit_specs[0]; i++) {
        const struct limit_spec *spec = &limit_specs[i];
        char *field = (char *)&cfg->limits + spec->offset;
        unsigned long long max = spec->is_size ? SIZE_MAX : UINT_MAX;
        unsigned long long v = read_number(&src, spec->name, spec->def, spec->min, max);
        if (spec->is_size) *(size_t *)field = (size_t)v;
        else *(unsigned *)field = (unsigned)v;
    }
}

static void load_paths_and_log(struct server_config *cfg)
{
    struct value_source paths = { cfg, "table Paths", "Paths", NULL };
    cfg->users_path = read_path(&paths, "UsersFile", "users.cfg");
    cfg->store_path = read_path(&paths, "StorePath", "store");
    cfg->log_path = read_path(&paths, "LogPath", "logs");
    cfg->cert_file = read_path(&paths, "Certificate", "cert.pem");
    cfg->key_file = read_path(&paths, "PrivateKey", "key.pem");
    cfg->ca_file = read_path(&paths, "CAFile", NULL);
    struct value_source log = { cfg, "table Log", "Log", NULL };
    cfg->debug_log = read_bool(&log, "Debug", false);
    struct value_source admin = { cfg, "table Admin", "Admin", NULL };
    cfg->control_socket = read_path(&admin, "ControlSocket", "imrefd.sock");
}

/* ---- lists ------------------------------------------------------------- */

static void warn_item(const struct server_config *cfg, const char *list, size_t index,
                      const char *problem)
{
    log_write(LOG_WARNING, "Configuration %s: %s item %zu %s; skipped.", cfg->path, list, index,
              problem);
}

/* ACC-2: one item per address; items sharing a Name form a group. */
static void load_ipgroups(struct server_config *cfg)
{
    cfg->ipgroups = ipgroup_set_new();
    size_t index = 0;
    for (struct cfgnode *it = cfgfile_items(cfg->file, "IpAddressGroup"); it;
         it = cfgfile_item_next(it)) {
        index++;
        struct value_source src = { cfg, "IpAddressGroup", NULL, it };
        char *name = source_value(&src, "Name");
        char *address = source_value(&src, "Address");
        struct ip_range range;
        if (!name) {
            warn_item(cfg, "IpAddressGroup", index, "has no Name");
        } else if (!address || ipgroup_parse_entry(address, &range) != 0) {
            log_write(LOG_WARNING,
                      "Configuration %s: invalid value \"%s\" for Address (IpAddressGroup %s, "
                      "item %zu); skipped.", cfg->path, address ? address : "", name, index);
        } else {
            ipgroup_set_add(cfg->ipgroups, name, &range);
        }
        free(name);
        free(address);
    }
}

const char *access_rule_name(enum access_rule rule)
{
    switch (rule) {
    case ACCESS_DENIED: return "ServiceDenied";
    case ACCESS_IP_ALLOWED: return "ServiceIpAllowed";
    case ACCESS_IP_DENIED: return "ServiceIpDenied";
    case ACCESS_ALLOWED: break;
    }
    return "ServiceAllowed";
}

/* ACC-1: the Xmpp rule (case-insensitive); a bad one is a Warning and
 * ServiceAllowed. */
static enum access_rule read_access_rule(const struct value_source *src)
{
    static const enum access_rule all[] = { ACCESS_ALLOWED, ACCESS_DENIED, ACCESS_IP_ALLOWED,
                                            ACCESS_IP_DENIED };
    char *value = source_value(src, "Xmpp");
    enum access_rule rule = ACCESS_ALLOWED;
    bool known = !value;
    for (size_t i = 0; value && i < sizeof all / sizeof all[0]; i++) {
        if (strcasecmp(value, access_rule_name(all[i])) == 0) {
            rule = all[i];
            known = true;
        }
    }
    if (!known) warn_value(src->cfg, src->where, "Xmpp", value, "the default ServiceAllowed");
    free(value);
    return rule;
}

/* ACC-1: one policy from its item; false (and a Warning) if it is skipped. */
static bool read_access_policy(struct server_config *cfg, const struct cfgnode *item, size_t index,
                               struct access_policy *out, bool *is_default)
{
    struct value_source src = { cfg, "AccessPolicy", NULL, item };
    char *name = source_value(&src, "Name");
    if (!name || config_find_access_policy(cfg, name)) {
        warn_item(cfg, "AccessPolicy", index,
                  name ? "repeats an earlier policy's Name" : "has no Name");
        free(name);
        return false;
    }
    struct buf where;
    buf_init(&where);
    buf_printf(&where, "AccessPolicy %s", name);
    src.where = where.data;
    out->name = name;
    out->rule = read_access_rule(&src);
    out->ip_group = read_group_name(&src, "IpGroup");
    bool uses_group = out->rule == ACCESS_IP_ALLOWED || out->rule == ACCESS_IP_DENIED;
    if (uses_group && !out->ip_group)
        log_write(LOG_WARNING, "Configuration %s: %s (%s) has no IpGroup; it matches no address.",
                  cfg->path, access_rule_name(out->rule), src.where);
    *is_default = read_bool(&src, "Default", false);
    buf_free(&where);
    return true;
}

/* ACC-1: the AccessPolicy list; at most one default (the first wins). */
static void load_access_policies(struct server_config *cfg)
{
    size_t index = 0, default_index = 0;
    bool have_default = false;
    for (struct cfgnode *it = cfgfile_items(cfg->file, "AccessPolicy"); it;
         it = cfgfile_item_next(it)) {
        index++;
        struct access_policy policy;
        bool is_default;
        if (!read_access_policy(cfg, it, index, &policy, &is_default)) continue;
        if (is_default && have_default)
            log_write(LOG_WARNING, "Configuration %s: AccessPolicy %s is a second Default policy; "
                      "the first, %s, is used.", cfg->path, policy.name,
                      cfg->access_policies[default_index].name);
        else if (is_default)
            default_index = cfg->n_access_policies, have_default = true;
        cfg->access_policies = xrealloc(cfg->access_policies,
                                        (cfg->n_access_policies + 1) * sizeof policy);
        cfg->access_policies[cfg->n_access_policies++] = policy;
    }
    cfg->default_access_policy = have_default ? &cfg->access_policies[default_index] : NULL;
}

static void free_access_policies(struct server_config *cfg)
{
    for (size_t i = 0; i < cfg->n_access_policies; i++) {
        free(cfg->access_policies[i].name);
        free(cfg->access_policies[i].ip_group);
    }
    free(cfg->access_policies);
    cfg->access_policies = NULL;
    cfg->n_access_policies = 0;
    cfg->default_access_policy = NULL;
}

const struct access_policy *config_find_access_policy(const struct server_config *cfg,
                                                      const char *name)
{
    for (size_t i = 0; i < cfg->n_access_policies; i++)
        if (strcasecmp(cfg->access_policies[i].name, name) == 0) return &cfg->access_policies[i];
    return NULL;
}

/* SEC-1, AUTH-4: the hosted domains. */
static void load_domains(struct server_config *cfg)
{
    size_t index = 0;
    for (struct cfgnode *it = cfgfile_items(cfg->file, "Domain"); it; it = cfgfile_item_next(it)) {
        index++;
        struct value_source src = { cfg, "Domain", NULL, it };
        char *name = source_value(&src, "Name");
        if (!name) {
            warn_item(cfg, "Domain", index, "has no Name");
            continue;
        }
        char *prepared;
        if (jid_prep_domain(name, &prepared) != 0) {
            log_write(LOG_WARNING, "Configuration %s: invalid value \"%s\" for Name (Domain item "
                      "%zu); skipped.", cfg->path, name, index);
            free(name);
            continue;
        }
        free(name);
        name = prepared;
        if (config_find_domain(cfg, name)) {
            warn_item(cfg, "Domain", index, "repeats an earlier domain's Name");
            free(name);
            continue;
        }
        struct buf where;
        buf_init(&where);
        buf_printf(&where, "Domain %s", name);
        src.where = where.data;
        cfg->domains = xrealloc(cfg->domains, (cfg->n_domains + 1) * sizeof *cfg->domains);
        struct domain_config *d = &cfg->domains[cfg->n_domains++];
        d->name = name;
        d->im_enabled = read_bool(&src, "IMEnabled", true);
        d->cert_file = read_path(&src, "Certificate", NULL);
        d->key_file = read_path(&src, "PrivateKey", NULL);
        buf_free(&where);
    }
}

int config_parse_listen(const char *text, struct listen_addr *out)
{
    const char *colon = strrchr(text, ':');
    if (!colon) return -1;
    char *host;
    int family;
    if (text[0] == '[') {
        if (colon == text || colon[-1] != ']') return -1;
        host = xstrndup(text + 1, (size_t)(colon - text - 2));
        family = AF_INET6;
    } else {
        host = xstrndup(text, (size_t)(colon - text));
        family = AF_INET;
    }
    unsigned char addr[16];
    unsigned long long port;
    if (inet_pton(family, host, addr) != 1 || parse_decimal(colon + 1, 65535, &port) != 0
        || port == 0) {
        free(host);
        return -1;
    }
    out->host = host;
    out->port = (unsigned short)port;
    return 0;
}

static unsigned short default_port(const char *service_id)
{
    if (strcmp(service_id, "xmpps") == 0) return 5223;
    if (strcmp(service_id, "s2s") == 0) return 5269;
    return 5222;
}

static void add_listener(struct service_config *svc, struct listen_addr addr)
{
    svc->listen = xrealloc(svc->listen, (svc->n_listen + 1) * sizeof *svc->listen);
    svc->listen[svc->n_listen++] = addr;
}

/* SVC-4, SVC-8: "addr:port, [v6]:port"; bad entries are warned and
 * skipped; with none left the service listens on 127.0.0.1:<its port>. */
static void load_listeners(const struct value_source *src, struct service_config *svc)
{
    char *value = source_value(src, "Listen");
    const char *p = value;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        char *one = trimmed_n(p, len);
        struct listen_addr addr;
        if (*one && config_parse_listen(one, &addr) == 0)
            add_listener(svc, addr);
        else if (*one)
            warn_value(src->cfg, src->where, "Listen", one, "the other listeners only");
        free(one);
        p += len;
        if (*p == ',') p++;
    }
    if (svc->n_listen == 0) {
        struct listen_addr addr = { xstrdup(DEFAULT_LISTEN_HOST), default_port(svc->id) };
        if (value) {
            char used[64];
            snprintf(used, sizeof used, "the default %s:%u", addr.host, (unsigned)addr.port);
            warn_value(src->cfg, src->where, "Listen", value, used);
        }
        add_listener(svc, addr);
    }
    free(value);
}

static bool known_service_id(const char *id)
{
    return strcmp(id, "xmpp") == 0 || strcmp(id, "xmpps") == 0 || strcmp(id, "s2s") == 0;
}

/* SVC-1..4: the services the file lists (none otherwise). */
static void load_services(struct server_config *cfg)
{
    size_t index = 0;
    for (struct cfgnode *it = cfgfile_items(cfg->file, "Service"); it; it = cfgfile_item_next(it)) {
        index++;
        struct value_source src = { cfg, "Service", NULL, it };
        char *id = source_value(&src, "Id");
        if (id) ascii_lower(id);
        if (!id || !known_service_id(id)) {
            warn_item(cfg, "Service", index, "has no Id xmpp, xmpps or s2s");
            free(id);
            continue;
        }
        if (config_find_service(cfg, id)) {
            warn_item(cfg, "Service", index, "repeats an earlier service's Id");
            free(id);
            continue;
        }
        struct buf where;
        buf_init(&where);
        buf_printf(&where, "Service %s", id);
        src.where = where.data;
        cfg->services = xrealloc(cfg->services, (cfg->n_services + 1) * sizeof *cfg->services);
        struct service_config *svc = &cfg->services[cfg->n_services++];
        memset(svc, 0, sizeof *svc);
        svc->id = id;
        char *startup = source_value(&src, "Startup");
        if (startup && strcasecmp(startup, "Manual") == 0) svc->startup = STARTUP_MANUAL;
        else if (startup && strcasecmp(startup, "Automatic") != 0)
            warn_value(cfg, src.where, "Startup", startup, "the default Automatic");
        free(startup);
        load_listeners(&src, svc);
        svc->max_connections = (unsigned)read_number(&src, "MaxConnections", 0, 0, UINT_MAX);
        svc->ip_group = read_group_name(&src, "IpGroup");
        buf_free(&where);
    }
}

/* ---- the whole ---------------------------------------------------------- */

int config_load(const char *dir, struct server_config **out, struct buf *err)
{
    *out = NULL;
    char *abs_dir = realpath(dir, NULL);
    if (!abs_dir) {
        buf_reset(err);
        buf_printf(err, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct server_config *cfg = xcalloc(1, sizeof *cfg);
    cfg->dir = abs_dir;
    struct buf path;
    buf_init(&path);
    buf_printf(&path, "%s/%s", abs_dir, CONFIG_FILE_NAME);
    cfg->path = buf_steal(&path);
    if (cfgfile_load(cfg->path, &cfg->file, err) != 0) {
        config_free(cfg);
        return -1;
    }
    load_ipgroups(cfg);
    load_access_policies(cfg);
    load_security(cfg);
    load_antihammer_and_lockout(cfg);
    load_instant_messaging(cfg);
    load_dns(cfg);
    load_archive(cfg);
    load_limits(cfg);
    load_paths_and_log(cfg);
    load_domains(cfg);
    load_services(cfg);
    *out = cfg;
    return 0;
}

int config_reload_access(struct server_config *cfg, struct buf *err)
{
    struct server_config fresh = *cfg;
    if (cfgfile_load(cfg->path, &fresh.file, err) != 0) return -1;
    fresh.access_policies = NULL;
    fresh.n_access_policies = 0;
    load_ipgroups(&fresh);
    load_access_policies(&fresh);
    ipgroup_set_free(cfg->ipgroups);
    free_access_policies(cfg);
    cfgfile_free(cfg->file);
    *cfg = fresh;
    return 0;
}

void config_free(struct server_config *cfg)
{
    if (!cfg) return;
    for (size_t i = 0; i < cfg->n_domains; i++) {
        free(cfg->domains[i].name);
        free(cfg->domains[i].cert_file);
        free(cfg->domains[i].key_file);
    }
    free(cfg->domains);
    for (size_t i = 0; i < cfg->n_services; i++) {
        struct service_config *svc = &cfg->services[i];
        for (size_t j = 0; j < svc->n_listen; j++) free(svc->listen[j].host);
        free(svc->listen);
        free(svc->id);
        free(svc->ip_group);
    }
    free(cfg->services);
    ipgroup_set_free(cfg->ipgroups);
    free_access_policies(cfg);
    free(cfg->antihammer.safe_acl);
    free(cfg->auth_exception_group);
    free(cfg->encryption_exception_group);
    free(cfg->users_path);
    free(cfg->store_path);
    free(cfg->log_path);
    free(cfg->control_socket);
    free(cfg->cert_file);
    free(cfg->key_file);
    free(cfg->ca_file);
    free(cfg->archive.path);
    free(cfg->dns.server.host);
    cfgfile_free(cfg->file);
    free(cfg->dir);
    free(cfg->path);
    free(cfg);
}

const struct domain_config *config_find_domain(const struct server_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_domains; i++)
        if (strcasecmp(cfg->domains[i].name, name) == 0) return &cfg->domains[i];
    return NULL;
}

const struct service_config *config_find_service(const struct server_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_services; i++)
        if (strcasecmp(cfg->services[i].id, id) == 0) return &cfg->services[i];
    return NULL;
}
