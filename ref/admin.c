#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <ev.h>

#include "c2s.h"
#include "s2s.h"
#include "cfgfile.h"
#include "config.h"
#include "directory.h"
#include "hammer.h"
#include "dirjson.h"
#include "jid.h"
#include "json.h"
#include "log.h"
#include "roster.h"
#include "server.h"
#include "service.h"
#include "usersedit.h"

/* One request being handled. */
struct admin_call {
    struct server *srv;
    const struct json *req;
    struct jsonw *out;        /* the result value */
    struct buf *err;          /* the error message, when the handler fails */
};

typedef int (*admin_fn)(struct admin_call *call);

/* ---- arguments ------------------------------------------------------------ */

static const char *arg(const struct admin_call *call, const char *name)
{
    return json_string(json_get(call->req, name));
}

/* The argument, or NULL after setting the error. */
static const char *need(struct admin_call *call, const char *name)
{
    const char *v = arg(call, name);
    if (!v || !*v) buf_printf(call->err, "missing argument '%s'", name);
    return v && *v ? v : NULL;
}

/* ---- connections and services (ADM-1, ADM-2, SVC-5) ------------------------- */

static void write_connection(const struct c2s_info *info, void *ctx)
{
    struct admin_call *call = ctx;
    struct jsonw *w = call->out;
    char text[600];
    jsonw_object_begin(w);
    jsonw_key(w, "protocol");
    jsonw_string(w, info->protocol);
    jsonw_key(w, "secure");
    jsonw_bool(w, info->secure);
    jsonw_key(w, "time");
    jsonw_int(w, (long long)(ev_now(call->srv->loop) - info->started));
    jsonw_key(w, "from");
    snprintf(text, sizeof text, strchr(info->ip, ':') ? "[%s]:%u" : "%s:%u", info->ip, info->port);
    jsonw_string(w, text);
    jsonw_key(w, "user");
    snprintf(text, sizeof text, "%s%s%s", info->node ? info->node : "", info->node ? "@" : "",
             info->node ? info->domain : "");
    jsonw_string(w, text);
    jsonw_key(w, "description");
    jsonw_string(w, info->resource ? info->resource : "");
    jsonw_key(w, "tls_version");
    jsonw_string(w, info->tls_version ? info->tls_version : "");
    jsonw_key(w, "cipher");
    jsonw_string(w, info->cipher ? info->cipher : "");
    jsonw_key(w, "sasl");
    jsonw_string(w, info->sasl ? info->sasl : "");
    jsonw_object_end(w);
}

static int act_connections(struct admin_call *call)
{
    jsonw_array_begin(call->out);
    c2s_foreach(write_connection, call);
    s2s_foreach(write_connection, call);
    jsonw_array_end(call->out);
    return 0;
}

static void write_service(struct jsonw *w, const struct service *svc)
{
    const struct service_config *sc = service_config_of(svc);
    jsonw_object_begin(w);
    jsonw_key(w, "id");
    jsonw_string(w, sc->id);
    jsonw_key(w, "name");
    jsonw_string(w, service_display_name(svc));
    jsonw_key(w, "running");
    jsonw_bool(w, service_running(svc));
    jsonw_key(w, "startup");
    jsonw_string(w, sc->startup == STARTUP_AUTOMATIC ? "Automatic" : "Manual");
    jsonw_key(w, "listeners");
    jsonw_array_begin(w);
    for (size_t i = 0; i < sc->n_listen; i++) {
        char text[300];
        const char *h = sc->listen[i].host;
        snprintf(text, sizeof text, strchr(h, ':') ? "[%s]:%u" : "%s:%u", h, sc->listen[i].port);
        jsonw_string(w, text);
    }
    jsonw_array_end(w);
    jsonw_key(w, "connections");
    jsonw_int(w, service_connections(svc));
    jsonw_object_end(w);
}

static int act_services(struct admin_call *call)
{
    jsonw_array_begin(call->out);
    for (size_t i = 0; i < call->srv->n_services; i++) write_service(call->out, call->srv->services[i]);
    jsonw_array_end(call->out);
    return 0;
}

static struct service *find_service(struct admin_call *call)
{
    const char *name = need(call, "name");
    if (!name) return NULL;
    for (size_t i = 0; i < call->srv->n_services; i++)
        if (strcmp(service_id(call->srv->services[i]), name) == 0) return call->srv->services[i];
    buf_printf(call->err, "no service '%s'", name);
    return NULL;
}

static bool is_s2s(const struct service *svc)
{
    return strcmp(service_id(svc), "s2s") == 0;
}

static void stop_service(struct admin_call *call, struct service *svc)
{
    if (is_s2s(svc)) call->srv->s2s_wanted = false;
    service_stop(svc);
    c2s_shutdown_service(svc);     /* SVC-5 */
    s2s_sync_listener(call->srv);  /* SVC-3: s2s follows xmpp/xmpps */
}

static int start_service(struct admin_call *call, struct service *svc)
{
    if (is_s2s(svc)) {
        /* SVC-3: open only while SendOutside is on and a client service runs. */
        call->srv->s2s_wanted = true;
        s2s_sync_listener(call->srv);
        if (!service_running(svc)) {
            buf_printf(call->err, "service s2s stays closed: %s",
                       call->srv->cfg->send_outside ? "no client service (xmpp, xmpps) runs, or it could not listen"
                                                    : "SendOutside is 0");
            return -1;
        }
        write_service(call->out, svc);
        return 0;
    }
    if (service_start(svc) > 0) s2s_sync_listener(call->srv);
    else {
        buf_printf(call->err, "service %s could not listen (see the Error log)", service_id(svc));
        return -1;
    }
    write_service(call->out, svc);
    return 0;
}

static int act_service_stop(struct admin_call *call)
{
    struct service *svc = find_service(call);
    if (!svc) return -1;
    stop_service(call, svc);
    write_service(call->out, svc);
    return 0;
}

static int act_service_start(struct admin_call *call)
{
    struct service *svc = find_service(call);
    return svc ? start_service(call, svc) : -1;
}

static int act_service_restart(struct admin_call *call)
{
    struct service *svc = find_service(call);
    if (!svc) return -1;
    stop_service(call, svc);
    return start_service(call, svc);
}

/* ---- settings (ADM-3) ------------------------------------------------------ */

static void write_settings(struct jsonw *w, const struct server_config *cfg)
{
    jsonw_object_begin(w);
    jsonw_key(w, "SendOutside");
    jsonw_int(w, cfg->send_outside);
    jsonw_key(w, "SecurityPolicy");
    jsonw_string(w, security_policy_name(cfg->security_policy));
    jsonw_key(w, "XmppArchive");
    jsonw_int(w, cfg->archive.enabled);
    jsonw_key(w, "ArchivePath");
    jsonw_string(w, cfg->archive.path);
    jsonw_key(w, "ArchiveFailurePolicy");
    jsonw_string(w, archive_failure_name(cfg->archive.on_failure));
    jsonw_object_end(w);
}

static int act_settings_get(struct admin_call *call)
{
    write_settings(call->out, call->srv->cfg);
    return 0;
}

/* Writes table/variable=value to mailserver.cfg atomically; on a failure the
 * document keeps its previous value. */
static int persist_setting(struct admin_call *call, const char *table, const char *name, const char *value)
{
    struct server_config *cfg = call->srv->cfg;
    const char *prev = cfgfile_get(cfg->file, table, name);
    char *old = prev ? xstrdup(prev) : NULL;
    int rc = cfgfile_set(cfg->file, table, name, value);
    if (rc == 0) rc = cfgfile_save(cfg->file, cfg->path, call->err);
    else buf_printf(call->err, "%s is not valid text", name);
    if (rc != 0 && old) cfgfile_set(cfg->file, table, name, old);
    free(old);
    return rc;
}

/* ---- the settings an admin may change (ADM-3, DOM-6, ARCH-1) ---------------- */

/* Validates `value` into the form stored in mailserver.cfg (`stored`),
 * or fails with err. */
typedef int (*setting_check_fn)(const char *name, const char *value, struct buf *stored, struct buf *err);
/* Applies the stored form to the running server. */
typedef void (*setting_apply_fn)(struct server *srv, const char *stored);

static int check_flag(const char *name, const char *value, struct buf *stored, struct buf *err)
{
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
        buf_printf(err, "%s must be 0 or 1", name);
        return -1;
    }
    buf_puts(stored, value);
    return 0;
}

static void apply_send_outside(struct server *srv, const char *stored)
{
    srv->cfg->send_outside = stored[0] == '1';
    s2s_sync_listener(srv);          /* DOM-6, SVC-3 */
}

static int check_security_policy(const char *name, const char *value, struct buf *stored, struct buf *err)
{
    enum security_policy p;
    if (security_policy_parse(value, &p) < 0) {
        buf_puts(err, "SecurityPolicy must be NoRestrictions, AuthenticationRequired or EncryptionRequired");
        return -1;
    }
    buf_puts(stored, security_policy_name(p));
    return 0;
}

static void apply_security_policy(struct server *srv, const char *stored)
{
    security_policy_parse(stored, &srv->cfg->security_policy);
}

static void apply_archive(struct server *srv, const char *stored)
{
    srv->cfg->archive.enabled = stored[0] == '1';
}

static int check_archive_path(const char *name, const char *value, struct buf *stored, struct buf *err)
{
    if (!*value) {
        buf_puts(err, "ArchivePath must not be empty");
        return -1;
    }
    buf_puts(stored, value);
    return 0;
}

static void apply_archive_path(struct server *srv, const char *stored)
{
    struct server_config *cfg = srv->cfg;
    free(cfg->archive.path);
    if (stored[0] == '/') {
        cfg->archive.path = xstrdup(stored);
    } else {
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "%s/%s", cfg->dir, stored);
        cfg->archive.path = buf_steal(&b);
    }
    server_configure_archive(srv);
}

static int check_archive_failure(const char *name, const char *value, struct buf *stored, struct buf *err)
{
    enum archive_failure_mode mode;
    if (archive_failure_parse(value, &mode) < 0) {
        buf_puts(err, "ArchiveFailurePolicy must be refuse or deliver");
        return -1;
    }
    buf_puts(stored, archive_failure_name(mode));
    return 0;
}

static void apply_archive_failure(struct server *srv, const char *stored)
{
    archive_failure_parse(stored, &srv->cfg->archive.on_failure);
    server_configure_archive(srv);
}

static const struct setting {
    const char *name, *table;
    setting_check_fn check;
    setting_apply_fn apply;
} settings[] = {
    { "SendOutside", "InstantMessaging", check_flag, apply_send_outside },
    { "SecurityPolicy", "Security", check_security_policy, apply_security_policy },
    { "XmppArchive", "Archive", check_flag, apply_archive },
    { "ArchivePath", "Archive", check_archive_path, apply_archive_path },
    { "ArchiveFailurePolicy", "Archive", check_archive_failure, apply_archive_failure },
};

static int act_settings_set(struct admin_call *call)
{
    const char *name = need(call, "name");
    const char *value = name ? need(call, "value") : NULL;
    if (!value) return -1;
    const struct setting *setting = NULL;
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (strcmp(settings[i].name, name) == 0) setting = &settings[i];
    if (!setting) {
        buf_printf(call->err, "unknown setting '%s' (SendOutside, SecurityPolicy, XmppArchive, ArchivePath, "
                              "ArchiveFailurePolicy)", name);
        return -1;
    }
    struct buf stored;
    buf_init(&stored);
    int rc = setting->check(name, value, &stored, call->err);
    if (rc == 0) rc = persist_setting(call, setting->table, name, stored.data);
    if (rc == 0) {
        setting->apply(call->srv, stored.data);
        write_settings(call->out, call->srv->cfg);
    }
    buf_free(&stored);
    return rc;
}

/* ---- users and groups (ADM-4, ADM-7) ----------------------------------------- */

/* After a successful edit of users.cfg: the new snapshot for new logins. */
static int reload_after_edit(struct admin_call *call)
{
    return server_reload_users(call->srv, call->err);
}


/* The prepared JID of an account (node@domain); -1 after setting the error. */
static int user_jid(struct admin_call *call, const char *text, struct jid *out)
{
    if (jid_parse(text, out) == 0 && out->node) return 0;
    jid_clear(out);
    buf_printf(call->err, "'%s' is not a user JID", text);
    return -1;
}

/* Ends a user's streams; the count, or -1 for a malformed JID. */
static long end_streams(struct admin_call *call, const char *jid_text, const char *text)
{
    struct jid j = { 0 };
    if (user_jid(call, jid_text, &j) < 0) return -1;
    size_t n = c2s_end_user_streams(j.node, j.domain, "policy-violation", text);
    jid_clear(&j);
    return (long)n;
}

static int act_user_add(struct admin_call *call)
{
    const char *jid = need(call, "jid");
    const char *password = jid ? need(call, "password") : NULL;
    if (!password) return -1;
    const char *name = arg(call, "name"), *email = arg(call, "email");
    if (usersedit_add_user(call->srv->cfg->users_path, jid, password, name ? name : "", email ? email : "",
                           call->srv->cfg->scram_iterations, call->err) < 0 ||
        reload_after_edit(call) < 0)
        return -1;
    dirjson_jid_result(call->out, jid);
    return 0;
}

static int act_user_remove(struct admin_call *call)
{
    const char *jid = need(call, "jid");
    if (!jid || usersedit_remove_user(call->srv->cfg->users_path, jid, call->err) < 0 ||
        reload_after_edit(call) < 0)
        return -1;
    end_streams(call, jid, "the account was removed");
    dirjson_jid_result(call->out, jid);
    return 0;
}

static int set_user_field(struct admin_call *call, const char *field, const char *value)
{
    const char *jid = need(call, "jid");
    if (!jid || usersedit_set_user(call->srv->cfg->users_path, jid, field, value, call->err) < 0 ||
        reload_after_edit(call) < 0)
        return -1;
    dirjson_jid_result(call->out, jid);
    return 0;
}

static int act_user_enable(struct admin_call *call) { return set_user_field(call, "Enabled", "1"); }
static int act_user_disable(struct admin_call *call) { return set_user_field(call, "Enabled", "0"); }

static int act_user_set(struct admin_call *call)
{
    const char *field = need(call, "field");
    const char *value = field ? arg(call, "value") : NULL;
    if (field && !value) buf_puts(call->err, "missing argument 'value'");
    return value ? set_user_field(call, field, value) : -1;
}

static int act_user_passwd(struct admin_call *call)
{
    const char *jid = need(call, "jid");
    const char *password = jid ? need(call, "password") : NULL;
    if (!password ||
        usersedit_set_password(call->srv->cfg->users_path, jid, password, call->srv->cfg->scram_iterations,
                               call->err) < 0 ||
        reload_after_edit(call) < 0)
        return -1;
    dirjson_jid_result(call->out, jid);
    return 0;
}

static int act_user_kick(struct admin_call *call)
{
    const char *jid = need(call, "jid");
    long n = jid ? end_streams(call, jid, "disconnected by the administrator") : -1;
    if (n < 0) return -1;
    jsonw_object_begin(call->out);
    jsonw_key(call->out, "jid");
    jsonw_string(call->out, jid);
    jsonw_key(call->out, "sessions");
    jsonw_int(call->out, n);
    jsonw_object_end(call->out);
    return 0;
}



/* ROST-7, ADM-5: Restore IM Contact List, for one or more users (JIDs
 * separated by spaces or commas). */
static int act_user_restore_contacts(struct admin_call *call)
{
    const char *list = need(call, "jid");
    if (!list) return -1;
    char *copy = xstrdup(list), *save = NULL;
    int rc = 0;
    jsonw_array_begin(call->out);
    for (char *tok = strtok_r(copy, " ,", &save); tok && rc == 0; tok = strtok_r(NULL, " ,", &save)) {
        struct jid j = { 0 };
        if (jid_parse(tok, &j) < 0 || !j.node || !directory_find_user(call->srv->dir, j.node, j.domain)) {
            buf_printf(call->err, "no such user %s", tok);
            rc = -1;
        } else {
            int discarded = roster_restore_colleagues(call->srv, j.node, j.domain);
            if (discarded < 0) {
                buf_printf(call->err, "cannot restore the contact list of %s (see the Error log)", tok);
                rc = -1;
            } else {
                char *bare = jid_bare(&j);
                jsonw_object_begin(call->out);
                jsonw_key(call->out, "jid");
                jsonw_string(call->out, bare);
                jsonw_key(call->out, "discarded");
                jsonw_int(call->out, discarded);
                jsonw_object_end(call->out);
                free(bare);
            }
        }
        jid_clear(&j);
    }
    jsonw_array_end(call->out);
    free(copy);
    return rc;
}

/* SEC-8: lifts an account lockout. */
static int act_user_unlock(struct admin_call *call)
{
    const char *jid_text = need(call, "jid");
    if (!jid_text) return -1;
    struct jid j = { 0 };
    if (user_jid(call, jid_text, &j) < 0) return -1;
    char *bare = jid_bare(&j);
    jid_clear(&j);
    bool was_locked = hammer_unlock_account(call->srv->hammer, bare);
    jsonw_object_begin(call->out);
    jsonw_key(call->out, "jid");
    jsonw_string(call->out, bare);
    jsonw_key(call->out, "was_locked");
    jsonw_bool(call->out, was_locked);
    jsonw_object_end(call->out);
    free(bare);
    return 0;
}

static int act_user_list(struct admin_call *call)
{
    dirjson_users(call->out, call->srv->dir, arg(call, "domain"));
    return 0;
}



static int act_group_list(struct admin_call *call)
{
    dirjson_groups(call->out, call->srv->dir, arg(call, "domain"));
    return 0;
}

/* Arguments name and domain; NULL after setting the error. */
static const char *group_args(struct admin_call *call, const char **domain)
{
    const char *name = need(call, "name");
    *domain = name ? need(call, "domain") : NULL;
    return *domain ? name : NULL;
}


static int act_group_add(struct admin_call *call)
{
    const char *domain, *name = group_args(call, &domain);
    if (!name || usersedit_add_group(call->srv->cfg->users_path, name, domain, call->err) < 0 ||
        reload_after_edit(call) < 0)
        return -1;
    dirjson_group_result(call->out, call->srv->dir, name, domain);
    return 0;
}

static int act_group_remove(struct admin_call *call)
{
    const char *domain, *name = group_args(call, &domain);
    if (!name || usersedit_remove_group(call->srv->cfg->users_path, name, domain, call->err) < 0 ||
        reload_after_edit(call) < 0)
        return -1;
    dirjson_group_result(call->out, call->srv->dir, name, domain);
    return 0;
}

static int act_group_set(struct admin_call *call)
{
    const char *domain, *name = group_args(call, &domain);
    const char *field = name ? need(call, "field") : NULL;
    const char *value = field ? need(call, "value") : NULL;
    if (!value || usersedit_set_group(call->srv->cfg->users_path, name, domain, field, value, call->err) < 0 ||
        reload_after_edit(call) < 0)
        return -1;
    dirjson_group_result(call->out, call->srv->dir, name, domain);
    return 0;
}

static int act_group_members(struct admin_call *call)
{
    const char *domain, *name = group_args(call, &domain);
    if (!name) return -1;
    const char *add = arg(call, "add"), *remove = arg(call, "remove");
    const char *path = call->srv->cfg->users_path;
    if ((add && usersedit_group_member(path, name, domain, add, true, call->err) < 0) ||
        (remove && usersedit_group_member(path, name, domain, remove, false, call->err) < 0) ||
        ((add || remove) && reload_after_edit(call) < 0))
        return -1;
    dirjson_group_result(call->out, call->srv->dir, name, domain);
    return 0;
}

/* ADM-7, ACC-4: users.cfg, and the access policies and IP groups of
 * mailserver.cfg. */
static int act_reload(struct admin_call *call)
{
    if (server_reload(call->srv, call->err) < 0) return -1;
    jsonw_object_begin(call->out);
    jsonw_key(call->out, "users");
    jsonw_int(call->out, (long long)directory_user_count(call->srv->dir));
    jsonw_object_end(call->out);
    return 0;
}

/* ---- the table ------------------------------------------------------------- */

static const struct admin_action {
    const char *name;
    admin_fn fn;
} admin_actions[] = {
    { "connections", act_connections },
    { "services", act_services },
    { "service.stop", act_service_stop },
    { "service.start", act_service_start },
    { "service.restart", act_service_restart },
    { "settings.get", act_settings_get },
    { "settings.set", act_settings_set },
    { "user.list", act_user_list },
    { "user.add", act_user_add },
    { "user.remove", act_user_remove },
    { "user.enable", act_user_enable },
    { "user.disable", act_user_disable },
    { "user.passwd", act_user_passwd },
    { "user.set", act_user_set },
    { "user.kick", act_user_kick },
    { "user.unlock", act_user_unlock },
    { "user.restore-contacts", act_user_restore_contacts },
    { "group.list", act_group_list },
    { "group.add", act_group_add },
    { "group.remove", act_group_remove },
    { "group.set", act_group_set },
    { "group.members", act_group_members },
    { "reload", act_reload },
};

#define N_ACTIONS (sizeof admin_actions / sizeof admin_actions[0])

size_t admin_action_count(void) { return N_ACTIONS; }
const char *admin_action_name(size_t i) { return i < N_ACTIONS ? admin_actions[i].name : NULL; }

static const struct admin_action *find_action(const char *name)
{
    for (size_t i = 0; name && i < N_ACTIONS; i++)
        if (strcmp(admin_actions[i].name, name) == 0) return &admin_actions[i];
    return NULL;
}

/* "name=value ..." of the request's arguments for the Config log; secrets masked. */
static void describe_args(const struct json *req, struct buf *out)
{
    for (size_t i = 0; i < json_object_len(req); i++) {
        const char *key = json_object_key_at(req, i);
        if (strcmp(key, "action") == 0) continue;
        const char *value = json_string(json_object_value_at(req, i));
        bool secret = strcmp(key, "password") == 0;
        buf_printf(out, " %s=%s", key, secret ? "***" : value ? value : "(not a string)");
    }
}

static void reply_error(struct buf *reply, const char *message)
{
    struct jsonw w;
    jsonw_init(&w, reply);
    jsonw_object_begin(&w);
    jsonw_key(&w, "ok");
    jsonw_bool(&w, false);
    jsonw_key(&w, "error");
    jsonw_string(&w, message);
    jsonw_object_end(&w);
    buf_puts(reply, "\n");
}

void admin_handle(struct server *srv, const char *line, size_t len, const char *who, struct buf *reply)
{
    struct buf err, result, args;
    buf_init(&err);
    buf_init(&result);
    buf_init(&args);
    struct json *req = json_parse(line, len, &err);
    const char *name = req ? json_string(json_get(req, "action")) : NULL;
    const struct admin_action *action = find_action(name);
    if (!req) {
        struct buf msg;
        buf_init(&msg);
        buf_printf(&msg, "malformed request: %s", err.data ? err.data : "not JSON");
        reply_error(reply, msg.data);
        log_write(LOG_CONFIG, "Admin %s: malformed request refused", who);
        buf_free(&msg);
    } else if (!action) {
        buf_printf(&args, name ? "unknown action '%s'" : "the request has no action", name);
        reply_error(reply, args.data);
        log_write(LOG_CONFIG, "Admin %s: %s", who, args.data);
    } else {
        describe_args(req, &args);
        struct jsonw out;
        jsonw_init(&out, &result);
        struct admin_call call = { .srv = srv, .req = req, .out = &out, .err = &err };
        buf_reset(&err);
        if (action->fn(&call) == 0) {
            buf_puts(reply, "{\"ok\":true,\"result\":");
            buf_append(reply, result.data ? result.data : "null", result.len ? result.len : 4);
            buf_puts(reply, "}\n");
            log_write(LOG_CONFIG, "Admin %s: %s%s: done", who, name, args.data ? args.data : "");
        } else {
            reply_error(reply, err.len ? err.data : "failed");
            log_write(LOG_CONFIG, "Admin %s: %s%s: failed: %s", who, name, args.data ? args.data : "",
                      err.len ? err.data : "failed");
        }
    }
    json_free(req);
    buf_free(&err);
    buf_free(&result);
    buf_free(&args);
}
