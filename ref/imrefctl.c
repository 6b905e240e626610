/* imrefctl: the administrator's command (SPEC ADM-1..4, ADM-6, ADM-7, AUTH-2).
 * A client of imrefd's control socket: one JSON request line, one reply
 * line, the result shown as a table or line (or --json). The commands, their
 * arguments and how results look are the table in ctlcmd.c; this file runs
 * them: over the socket, or, for user and group commands while imrefd is not
 * running, on users.cfg directly through usersedit (the same results).
 * `hash-password` runs locally; `check` (ADM-6) asks imrefd for its
 * services and settings and checks DNS and the listeners itself (svccheck);
 * `archive list|export` (ARCH-4) read the day files (archivectl).
 * Exit status: 0 done, 1 refused or failed (check: a required check
 * failed), 2 usage error (check: also a configuration error). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "archivectl.h"
#include "buf.h"
#include "config.h"
#include "ctlcmd.h"
#include "directory.h"
#include "dirjson.h"
#include "json.h"
#include "log.h"
#include "scram.h"
#include "svccheck.h"
#include "usersedit.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

#define REPLY_TIMEOUT_MS 10000
#define MAX_REPLY_BYTES (64u * 1024 * 1024)
#define DEFAULT_SOCKET_NAME "imrefd.sock"
#define DEFAULT_LOG_DIR "logs"

/* ---- the server's settings ---------------------------------------------- */

/* What the commands need from DIR/mailserver.cfg (defaults without it). */
struct settings {
    struct server_config *cfg;  /* NULL: no --dir or no mailserver.cfg */
    unsigned scram_iterations;
    char *users_path;           /* NULL without --dir */
    char *socket_path;          /* NULL without --dir and --socket */
    char *log_dir;              /* the server's logs; NULL without --dir */
};

static int settings_load(const struct ctl_invocation *inv, struct settings *out)
{
    *out = (struct settings){ .scram_iterations = SCRAM_DEFAULT_ITERATIONS };
    struct buf path;
    buf_init(&path);
    int rc = 0;
    if (inv->dir) {
        buf_printf(&path, "%s/%s", inv->dir, CONFIG_FILE_NAME);
        struct stat st;
        bool have_config = stat(path.data, &st) == 0;
        buf_reset(&path);
        if (have_config && config_load(inv->dir, &out->cfg, &path) != 0) {
            fprintf(stderr, "imrefctl: %s\n", path.data);
            rc = -1;
        } else if (have_config) {
            out->scram_iterations = out->cfg->scram_iterations;
            out->users_path = xstrdup(out->cfg->users_path);
            out->socket_path = xstrdup(out->cfg->control_socket);
            out->log_dir = xstrdup(out->cfg->log_path);
        } else {
            buf_printf(&path, "%s/%s", inv->dir, USERS_FILE_NAME);
            out->users_path = buf_steal(&path);
            buf_printf(&path, "%s/%s", inv->dir, DEFAULT_SOCKET_NAME);
            out->socket_path = buf_steal(&path);
            buf_printf(&path, "%s/%s", inv->dir, DEFAULT_LOG_DIR);
            out->log_dir = buf_steal(&path);
        }
    }
    if (inv->socket) {
        free(out->socket_path);
        out->socket_path = xstrdup(inv->socket);
    }
    buf_free(&path);
    return rc;
}

static void settings_free(struct settings *s)
{
    config_free(s->cfg);
    free(s->users_path);
    free(s->socket_path);
    free(s->log_dir);
}

/* ---- local commands -------------------------------------------------------- */

/* AUTH-2 */
static int run_hash_password(const struct ctl_invocation *inv, const struct settings *s)
{
    char *stored = scram_hash_password(ctlcmd_arg(inv, "password"), s->scram_iterations);
    if (!stored) {
        fputs("imrefctl: the password is not valid (it is empty or fails SASLprep)\n", stderr);
        return EXIT_FAILED;
    }
    puts(stored);
    free(stored);
    return 0;
}

/* ---- offline: users.cfg directly (ADM-4 with the server stopped) ------------ */

/* Writes the result the server would send; 0, or -1 with err. */
typedef int (*offline_fn)(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w,
                          struct buf *err);

static const char *arg(const struct ctl_invocation *inv, const char *key)
{
    const char *v = ctlcmd_arg(inv, key);
    return v ? v : "";
}







static int off_user_list(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    struct directory *dir;
    if (directory_load(s->users_path, &dir, err) != 0) return -1;
    dirjson_users(w, dir, ctlcmd_arg(inv, "domain"));
    directory_free(dir);
    return 0;
}

static int off_group_list(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    struct directory *dir;
    if (directory_load(s->users_path, &dir, err) != 0) return -1;
    dirjson_groups(w, dir, ctlcmd_arg(inv, "domain"));
    directory_free(dir);
    return 0;
}

static int off_user_add(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    const char *jid = arg(inv, "jid"), *at = strrchr(jid, '@');
    if (s->cfg && at && !config_find_domain(s->cfg, at + 1))
        fprintf(stderr, "imrefctl: note: domain %s is not in %s\n", at + 1, s->cfg->path);
    if (usersedit_add_user(s->users_path, jid, arg(inv, "password"), arg(inv, "name"), arg(inv, "email"),
                           s->scram_iterations, err) != 0)
        return -1;
    dirjson_jid_result(w, jid);
    return 0;
}

static int off_user_remove(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    if (usersedit_remove_user(s->users_path, arg(inv, "jid"), err) != 0) return -1;
    dirjson_jid_result(w, arg(inv, "jid"));
    return 0;
}

static int set_user_field(const struct ctl_invocation *inv, const struct settings *s, const char *field,
                          const char *value, struct jsonw *w, struct buf *err)
{
    if (usersedit_set_user(s->users_path, arg(inv, "jid"), field, value, err) != 0) return -1;
    dirjson_jid_result(w, arg(inv, "jid"));
    return 0;
}

static int off_user_enable(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    return set_user_field(inv, s, "Enabled", "1", w, err);
}

static int off_user_disable(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    return set_user_field(inv, s, "Enabled", "0", w, err);
}

static int off_user_set(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    return set_user_field(inv, s, arg(inv, "field"), arg(inv, "value"), w, err);
}

static int off_user_passwd(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    if (usersedit_set_password(s->users_path, arg(inv, "jid"), arg(inv, "password"), s->scram_iterations, err) != 0)
        return -1;
    dirjson_jid_result(w, arg(inv, "jid"));
    return 0;
}

/* {"name":..,"members":[..]} as the server answers group commands. */
static int write_group_result(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w,
                              struct buf *err)
{
    struct directory *dir;
    if (directory_load(s->users_path, &dir, err) != 0) return -1;
    dirjson_group_result(w, dir, arg(inv, "name"), arg(inv, "domain"));
    directory_free(dir);
    return 0;
}

static int off_group_add(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    if (usersedit_add_group(s->users_path, arg(inv, "name"), arg(inv, "domain"), err) != 0) return -1;
    return write_group_result(inv, s, w, err);
}

static int off_group_remove(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    if (usersedit_remove_group(s->users_path, arg(inv, "name"), arg(inv, "domain"), err) != 0) return -1;
    return write_group_result(inv, s, w, err);
}

static int off_group_set(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    if (usersedit_set_group(s->users_path, arg(inv, "name"), arg(inv, "domain"), arg(inv, "field"),
                            arg(inv, "value"), err) != 0)
        return -1;
    return write_group_result(inv, s, w, err);
}

static int off_group_members(const struct ctl_invocation *inv, const struct settings *s, struct jsonw *w, struct buf *err)
{
    const char *add = ctlcmd_arg(inv, "add"), *remove = ctlcmd_arg(inv, "remove");
    const char *name = arg(inv, "name"), *domain = arg(inv, "domain");
    if ((add && usersedit_group_member(s->users_path, name, domain, add, true, err) != 0) ||
        (remove && usersedit_group_member(s->users_path, name, domain, remove, false, err) != 0))
        return -1;
    return write_group_result(inv, s, w, err);
}

/* The actions that work without imrefd. */
static const struct offline_action {
    const char *action;
    offline_fn run;
    bool edits;         /* changes users.cfg (else only reads it) */
} offline_actions[] = {
    { "user.list", off_user_list, false },       { "user.add", off_user_add, true },
    { "user.remove", off_user_remove, true },    { "user.enable", off_user_enable, true },
    { "user.disable", off_user_disable, true },  { "user.passwd", off_user_passwd, true },
    { "user.set", off_user_set, true },          { "group.list", off_group_list, false },
    { "group.add", off_group_add, true },        { "group.remove", off_group_remove, true },
    { "group.set", off_group_set, true },        { "group.members", off_group_members, true },
};

static const struct offline_action *find_offline(const char *action)
{
    for (size_t i = 0; i < sizeof offline_actions / sizeof offline_actions[0]; i++)
        if (strcmp(offline_actions[i].action, action) == 0) return &offline_actions[i];
    return NULL;
}

/* Shows a result (text or --json) on stdout. */
static void show_result(const struct ctl_invocation *inv, const struct json *result)
{
    struct buf out;
    buf_init(&out);
    ctlcmd_render(inv, result, &out);
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    buf_free(&out);
}

static int fail(const char *message)
{
    fprintf(stderr, "imrefctl: %s\n", message);
    return EXIT_FAILED;
}

/* ADM-4, LOG-2: offline actions go to the server's Config log too, like
 * the server's own admin lines (secrets masked). */
static bool offline_log_open(const struct settings *s)
{
    if (mkdir(s->log_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "imrefctl: note: no Config log line (%s: %s)\n", s->log_dir, strerror(errno));
        return false;
    }
    if (log_open(s->log_dir, false) == 0) return true;
    fprintf(stderr, "imrefctl: note: no Config log line (%s: %s)\n", s->log_dir, strerror(errno));
    return false;
}

/* Writes the line for the action (failure: its reason) and closes the logs. */
static void offline_log_close(const struct ctl_invocation *inv, const char *failure)
{
    struct buf args;
    buf_init(&args);
    for (size_t i = 0; i < inv->n_args; i++) {
        bool secret = strcmp(inv->args[i].key, "password") == 0;
        buf_printf(&args, " %s=%s", inv->args[i].key, secret ? "***" : inv->args[i].value);
    }
    log_write(LOG_CONFIG, "Admin uid %u pid %ld (imrefctl, imrefd not running): %s%s: %s%s", (unsigned)getuid(),
              (long)getpid(), ctlcmd_action(inv->command), args.data ? args.data : "",
              failure ? "failed: " : "done", failure ? failure : "");
    log_close();
    buf_free(&args);
}

static int run_offline(const struct ctl_invocation *inv, const struct settings *s)
{
    const struct offline_action *off = find_offline(ctlcmd_action(inv->command));
    struct buf msg;
    buf_init(&msg);
    buf_printf(&msg, "imrefd is not running (no control socket at %s)", s->socket_path);
    if (off && !s->users_path) buf_puts(&msg, "; give --dir DIR to use users.cfg directly");
    if (!off || !s->users_path) {
        int rc = fail(msg.data);
        buf_free(&msg);
        return rc;
    }
    bool edits = off->edits && !(strcmp(off->action, "group.members") == 0 && !ctlcmd_arg(inv, "add")
                                 && !ctlcmd_arg(inv, "remove"));
    fprintf(stderr, "imrefctl: imrefd is not running: %s users.cfg directly\n", edits ? "editing" : "reading");
    buf_reset(&msg);
    struct buf result;
    buf_init(&result);
    struct jsonw w;
    jsonw_init(&w, &result);
    bool logging = offline_log_open(s);
    int rc = off->run(inv, s, &w, &msg) == 0 ? 0 : fail(msg.data);
    if (logging) offline_log_close(inv, rc == 0 ? NULL : msg.data);
    if (rc == 0) {
        struct json *doc = json_parse(result.data, result.len, NULL);
        show_result(inv, doc);
        json_free(doc);
    }
    buf_free(&result);
    buf_free(&msg);
    return rc;
}

/* ---- the control socket ----------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline: 0 ready, -1 timed out or failed. */
static int wait_for(int fd, short events, long long deadline, struct buf *err)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            buf_puts(err, "no reply from imrefd within 10 s");
            return -1;
        }
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)left);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) {
            buf_printf(err, "poll: %s", strerror(errno));
            return -1;
        }
    }
}

/* Connects to the control socket: 0 with *fd, 1 if imrefd is not running
 * (no socket, or nobody listening), -1 with err. */
static int control_connect(const char *path, int *fd, struct buf *err)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path) {
        buf_printf(err, "control socket path too long: %s", path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0) {
        buf_printf(err, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(*fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);   /* the exchange has a deadline */
        return 0;
    }
    int saved = errno;
    close(*fd);
    *fd = -1;
    if (saved == ENOENT || saved == ECONNREFUSED) return 1;
    buf_printf(err, "cannot connect to %s: %s", path, strerror(saved));
    return -1;
}

/* Sends the request and reads one reply line (without its '\n') within
 * REPLY_TIMEOUT_MS. 0, or -1 with err. */
static int control_exchange(int fd, const struct buf *request, struct buf *reply, struct buf *err)
{
    long long deadline = now_ms() + REPLY_TIMEOUT_MS;
    for (size_t sent = 0; sent < request->len;) {
        ssize_t n = send(fd, request->data + sent, request->len - sent, MSG_NOSIGNAL);
        if (n > 0) sent += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            buf_printf(err, "sending the request: %s", strerror(errno));
            return -1;
        } else if (wait_for(fd, POLLOUT, deadline, err) < 0) {
            return -1;
        }
    }
    char chunk[65536];
    for (;;) {
        char *nl = reply->len ? memchr(reply->data, '\n', reply->len) : NULL;
        if (nl) {
            reply->len = (size_t)(nl - reply->data);
            reply->data[reply->len] = '\0';
            return 0;
        }
        if (reply->len > MAX_REPLY_BYTES) {
            buf_puts(err, "the reply from imrefd is too long");
            return -1;
        }
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) buf_append(reply, chunk, (size_t)n);
        else if (n == 0) {
            buf_puts(err, "imrefd closed the connection without a reply");
            return -1;
        } else if (errno != EAGAIN && errno != EINTR) {
            buf_printf(err, "reading the reply: %s", strerror(errno));
            return -1;
        } else if (wait_for(fd, POLLIN, deadline, err) < 0) {
            return -1;
        }
    }
}

/* {"ok":true,"result":..} shown, {"ok":false,"error":..} on stderr. */
static int handle_reply(const struct ctl_invocation *inv, const struct buf *reply)
{
    struct buf err;
    buf_init(&err);
    struct json *doc = json_parse(reply->data ? reply->data : "", reply->len, &err);
    bool ok = false;
    int rc = EXIT_FAILED;
    if (!doc || !json_bool(json_get(doc, "ok"), &ok)) {
        fprintf(stderr, "imrefctl: malformed reply from imrefd%s%s\n", doc ? "" : ": ", doc ? "" : err.data);
    } else if (!ok) {
        const char *message = json_string(json_get(doc, "error"));
        fail(message ? message : "failed (no reason given)");
    } else {
        show_result(inv, json_get(doc, "result"));
        rc = 0;
    }
    json_free(doc);
    buf_free(&err);
    return rc;
}

static int run_remote(const struct ctl_invocation *inv, const struct settings *s)
{
    if (!s->socket_path) {
        fprintf(stderr, "imrefctl: %s needs --dir DIR or --socket PATH\n", ctlcmd_title(inv->command));
        return EXIT_USAGE;
    }
    struct buf err, request, reply;
    buf_init(&err);
    buf_init(&request);
    buf_init(&reply);
    int fd = -1, rc;
    int connected = control_connect(s->socket_path, &fd, &err);
    if (connected == 1) {
        rc = run_offline(inv, s);
    } else if (connected < 0) {
        rc = fail(err.data);
    } else {
        ctlcmd_request(inv, &request);
        rc = control_exchange(fd, &request, &reply, &err) == 0 ? handle_reply(inv, &reply) : fail(err.data);
        close(fd);
    }
    buf_free(&err);
    buf_free(&request);
    buf_free(&reply);
    return rc;
}

/* ---- check (ADM-6) ------------------------------------------------------------- */

/* One action without arguments over the control socket: 0 with *doc the
 * whole reply (the caller json_frees it), 1 if imrefd is not running, -1
 * with err. */
static int control_call(const char *socket_path, const char *action, struct json **doc, struct buf *err)
{
    *doc = NULL;
    int fd = -1;
    int rc = control_connect(socket_path, &fd, err);
    if (rc != 0) return rc;
    struct buf request, reply;
    buf_init(&request);
    buf_init(&reply);
    struct jsonw w;
    jsonw_init(&w, &request);
    jsonw_object_begin(&w);
    jsonw_key(&w, "action");
    jsonw_string(&w, action);
    jsonw_object_end(&w);
    buf_puts(&request, "\n");
    rc = control_exchange(fd, &request, &reply, err);
    close(fd);
    bool ok = false;
    if (rc == 0) {
        *doc = json_parse(reply.data ? reply.data : "", reply.len, NULL);
        if (!json_bool(json_get(*doc, "ok"), &ok)) buf_printf(err, "malformed reply from imrefd to %s", action);
        else if (!ok) buf_printf(err, "imrefd refused %s: %s", action, json_string(json_get(*doc, "error")));
        rc = ok ? 0 : -1;
    }
    if (rc != 0) {
        json_free(*doc);
        *doc = NULL;
    }
    buf_free(&request);
    buf_free(&reply);
    return rc;
}

/* The running server's services and SendOutside: 0, or -1 with err. */
static int ask_server(const struct settings *s, struct svccheck_server *srv, struct buf *err)
{
    struct json *services = NULL, *settings = NULL;
    int rc = control_call(s->socket_path, "services", &services, err);
    if (rc == 0) rc = control_call(s->socket_path, "settings.get", &settings, err);
    if (rc == 1) buf_printf(err, "imrefd is not running (no control socket at %s)", s->socket_path);
    if (rc == 0)
        rc = svccheck_server_from_json(json_get(services, "result"), json_get(settings, "result"), srv, err);
    json_free(services);
    json_free(settings);
    return rc == 0 ? 0 : -1;
}

/* The domains to check: those named (each must be IM-enabled in cfg), or
 * every IM-enabled one. The names point into cfg. 0, or -1 (message shown). */
static int check_domains(const struct ctl_invocation *inv, const struct server_config *cfg, const char ***out,
                         size_t *n)
{
    *out = xcalloc(cfg->n_domains + inv->n_args + 1, sizeof **out);
    *n = 0;
    for (size_t i = 0; i < inv->n_args; i++) {
        const struct domain_config *d = config_find_domain(cfg, inv->args[i].value);
        if (!d || !d->im_enabled) {
            fprintf(stderr, "imrefctl: %s is not %s in %s\n", inv->args[i].value,
                    d ? "IM-enabled (IMEnabled=0)" : "a domain", cfg->path);
            return -1;
        }
        (*out)[(*n)++] = d->name;
    }
    for (size_t i = 0; inv->n_args == 0 && i < cfg->n_domains; i++)
        if (cfg->domains[i].im_enabled) (*out)[(*n)++] = cfg->domains[i].name;
    if (*n == 0) fprintf(stderr, "imrefctl: no domain with IMEnabled=1 in %s\n", cfg->path);
    return *n ? 0 : -1;
}

static void show_report(const struct ctl_invocation *inv, const struct svccheck_report *rep)
{
    struct buf text;
    buf_init(&text);
    struct jsonw w;
    jsonw_init(&w, &text);
    svccheck_report_json(rep, &w);
    struct json *doc = json_parse(text.data, text.len, NULL);
    show_result(inv, doc);
    json_free(doc);
    buf_free(&text);
}

static int run_check(const struct ctl_invocation *inv, const struct settings *s)
{
    if (!s->cfg && !inv->dir) {
        fputs("imrefctl: check needs --dir DIR (the server's " CONFIG_FILE_NAME ")\n", stderr);
        return EXIT_USAGE;
    }
    if (!s->cfg) {
        fprintf(stderr, "imrefctl: %s/%s: no such file (check needs the server's configuration)\n", inv->dir,
                CONFIG_FILE_NAME);
        return EXIT_USAGE;
    }
    const char **domains;
    size_t n;
    if (check_domains(inv, s->cfg, &domains, &n) != 0) {
        free(domains);
        return EXIT_USAGE;
    }
    struct svccheck_report rep;
    svccheck_report_init(&rep);
    struct svccheck_server srv;
    struct buf err;
    buf_init(&err);
    int rc = 0;
    if (ask_server(s, &srv, &err) != 0) {
        struct buf hint;
        buf_init(&hint);
        buf_printf(&hint, "fix: start imrefd --dir %s", s->cfg->dir);
        svccheck_report_add(&rep, "*", "imrefd", SVCCHECK_FAILED, true, err.data, hint.data);
        buf_free(&hint);
    } else {
        svccheck_server_add_local_addresses(&srv);
        if (svccheck_run(s->cfg, domains, n, &srv, &rep, &err) != 0) {
            fprintf(stderr, "imrefctl: %s\n", err.data);
            rc = EXIT_USAGE;
        }
        svccheck_server_free(&srv);
    }
    if (rc == 0) {
        show_report(inv, &rep);
        rc = svccheck_report_failed(&rep) ? EXIT_FAILED : 0;
    }
    svccheck_report_free(&rep);
    buf_free(&err);
    free(domains);
    return rc;
}

/* ---- archive (ARCH-4): the day files, read directly ---------------------------- */

/* Shows a JSON result built here as the server's would be; `to` is where
 * the text goes. */
static void show_local_result(const struct ctl_invocation *inv, const struct buf *json_text, FILE *to)
{
    struct json *doc = json_parse(json_text->data, json_text->len, NULL);
    struct buf out;
    buf_init(&out);
    ctlcmd_render(inv, doc, &out);
    fwrite(out.data ? out.data : "", 1, out.len, to);
    buf_free(&out);
    json_free(doc);
}

static int run_archive(const struct ctl_invocation *inv, const struct settings *s, bool export)
{
    if (!s->cfg) {
        fprintf(stderr, "imrefctl: %s needs --dir DIR (the server's " CONFIG_FILE_NAME ")\n",
                ctlcmd_title(inv->command));
        return EXIT_USAGE;
    }
    struct buf text, err;
    buf_init(&text);
    buf_init(&err);
    struct jsonw w;
    jsonw_init(&w, &text);
    bool usage = false;
    const char *output = ctlcmd_arg(inv, "output");
    int rc = export ? archivectl_export(s->cfg->archive.path, ctlcmd_arg(inv, "from"), ctlcmd_arg(inv, "to"),
                                        output, stdout, &w, &usage, &err)
                    : archivectl_list(s->cfg->archive.path, &w, &err);
    if (rc == 0) show_local_result(inv, &text, export && !output ? stderr : stdout);
    else fprintf(stderr, "imrefctl: %s\n", err.data);
    buf_free(&text);
    buf_free(&err);
    return rc == 0 ? 0 : usage ? EXIT_USAGE : EXIT_FAILED;
}

/* The commands imrefctl runs itself rather than as one control action. */
static int run_local(const struct ctl_invocation *inv, const struct settings *s)
{
    const char *name = ctlcmd_action(inv->command);
    if (strcmp(name, "check") == 0) return run_check(inv, s);
    if (strcmp(name, "archive list") == 0) return run_archive(inv, s, false);
    if (strcmp(name, "archive export") == 0) return run_archive(inv, s, true);
    return run_hash_password(inv, s);
}

/* ---- main ------------------------------------------------------------------- */

static int show_help(const struct ctl_invocation *inv)
{
    struct buf out;
    buf_init(&out);
    ctlcmd_help(inv->command, inv->help_family, &out);
    fputs(out.data, stdout);
    buf_free(&out);
    return 0;
}

int main(int argc, char **argv)
{
    struct ctl_invocation inv;
    struct buf err;
    buf_init(&err);
    int rc;
    if (ctlcmd_parse(argc, argv, &inv, &err) != 0) {
        fprintf(stderr, "imrefctl: %s\n(imrefctl --help lists the commands)\n", err.data);
        rc = EXIT_USAGE;
    } else if (inv.help) {
        rc = show_help(&inv);
    } else {
        struct settings s;
        bool check = strcmp(ctlcmd_action(inv.command), "check") == 0;
        if (settings_load(&inv, &s) != 0) rc = check ? EXIT_USAGE : EXIT_FAILED;
        else if (ctlcmd_is_local(inv.command)) rc = run_local(&inv, &s);
        else rc = run_remote(&inv, &s);
        settings_free(&s);
    }
    ctlcmd_invocation_free(&inv);
    buf_free(&err);
    return rc;
}
