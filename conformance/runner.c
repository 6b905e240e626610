#include "runner.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "match.h"

#define CONTENT_NS "jabber:client"
#define LOG_POLL_INTERVAL 0.2   /* seconds between log hook runs */

/* One [Client] of the scenario while it runs. */
struct client_state {
    const struct scs_client *def;
    const struct target *target;   /* the main target, or the peer ("target: peer") */
    char *jid;        /* configured jid after domain mapping */
    char *bare, *domain, *resource;                 /* from jid (resource may be NULL) */
    void *conn;       /* driver handle; NULL when not connected */
    char *full_jid, *bound_bare, *bound_domain, *bound_resource;   /* after bind */
};

struct run {
    const struct scenario *sc;
    const struct target *t;
    const struct target *peer;        /* NULL unless the scenario requires peer */
    const struct runner_driver *d;
    struct client_state *clients;     /* sc->n_clients */
    char *accounts;                   /* IMCONFORM_ACCOUNTS of the main target's hooks */
    char *peer_accounts;              /* ... and of the peer's (its clients only) */
    const struct scs_step *step;      /* the step running */
    bool admin_ran;                   /* an Admin runs:/fails: step has run */
    struct buf admin_output;          /* its output (the most recent one's) */
    bool failed;
    char *message;
    struct buf diag;
    bool want_transcript;
    struct buf transcript;
};

/* ---- JIDs ---------------------------------------------------------------- */

/* Splits node@domain/resource: bare (node@domain), domain, resource (NULL
   if none). All malloc'd. */
static void split_jid(const char *jid, char **bare, char **domain, char **resource)
{
    const char *slash = strchr(jid, '/');
    size_t bare_len = slash ? (size_t)(slash - jid) : strlen(jid);
    const char *at = memchr(jid, '@', bare_len);
    const char *dom = at ? at + 1 : jid;
    *bare = xstrndup(jid, bare_len);
    *domain = xstrndup(dom, (size_t)(jid + bare_len - dom));
    *resource = slash ? xstrdup(slash + 1) : NULL;
}

/* The jid with a "localhost" domain replaced by the target's domain. */
static char *map_domain(const char *jid, const char *target_domain)
{
    char *bare, *domain, *resource;
    split_jid(jid, &bare, &domain, &resource);
    char *out;
    if (strcasecmp(domain, "localhost") != 0 || strcasecmp(target_domain, "localhost") == 0) {
        out = xstrdup(jid);
    } else {
        struct buf b;
        buf_init(&b);
        const char *at = strchr(bare, '@');
        if (at) buf_append(&b, bare, (size_t)(at - bare + 1));
        buf_puts(&b, target_domain);
        if (resource) buf_printf(&b, "/%s", resource);
        out = buf_steal(&b);
    }
    free(bare); free(domain); free(resource);
    return out;
}

static void client_clear_bound(struct client_state *c)
{
    free(c->full_jid); free(c->bound_bare); free(c->bound_domain); free(c->bound_resource);
    c->full_jid = c->bound_bare = c->bound_domain = c->bound_resource = NULL;
}

static void client_set_bound(struct client_state *c, const char *full)
{
    client_clear_bound(c);
    if (!full || !full[0]) return;
    c->full_jid = xstrdup(full);
    split_jid(full, &c->bound_bare, &c->bound_domain, &c->bound_resource);
}

/* Each client's target (a peer client needs r->peer, which the skip on
   `requires: peer` guarantees) and the accounts each target's hooks get. */
static void clients_init(struct run *r)
{
    r->clients = xcalloc(r->sc->n_clients, sizeof *r->clients);
    struct buf acc, peer_acc;
    buf_init(&acc);
    buf_init(&peer_acc);
    buf_puts(&acc, "");
    buf_puts(&peer_acc, "");
    for (size_t i = 0; i < r->sc->n_clients; i++) {
        struct client_state *c = &r->clients[i];
        c->def = &r->sc->clients[i];
        c->target = c->def->peer && r->peer ? r->peer : r->t;
        const char *jid = scs_client_option(c->def, "jid");
        c->jid = map_domain(jid ? jid : "", c->target->domain);
        split_jid(c->jid, &c->bare, &c->domain, &c->resource);
        const char *password = scs_client_option(c->def, "password");
        buf_printf(c->target == r->t ? &acc : &peer_acc, "%s %s\n", c->jid, password ? password : "");
    }
    r->accounts = buf_steal(&acc);
    r->peer_accounts = buf_steal(&peer_acc);
}

static void clients_close(struct run *r)
{
    for (size_t i = 0; i < r->sc->n_clients; i++) {
        struct client_state *c = &r->clients[i];
        if (c->conn) r->d->close(r->d->ctx, c->conn);
        c->conn = NULL;
    }
}

static void clients_free(struct run *r)
{
    for (size_t i = 0; i < r->sc->n_clients; i++) {
        struct client_state *c = &r->clients[i];
        client_clear_bound(c);
        free(c->jid); free(c->bare); free(c->domain); free(c->resource);
    }
    free(r->clients);
    free(r->accounts);
    free(r->peer_accounts);
}

static struct client_state *find_client(struct run *r, const char *name, size_t name_len)
{
    for (size_t i = 0; i < r->sc->n_clients; i++) {
        const char *n = r->clients[i].def->name;
        if (strlen(n) == name_len && memcmp(n, name, name_len) == 0) return &r->clients[i];
    }
    return NULL;
}

/* ---- variables ----------------------------------------------------------- */

/* "Romeo's full JID" etc., "target:NAME" and "peer:NAME" (the profiles'
   var-NAME); NULL if unknown or not yet known. */
static const char *lookup_var(void *ctx, const char *name)
{
    struct run *r = ctx;
    bool peer;
    const char *profile_var;
    if (scs_profile_var_split(name, &peer, &profile_var)) {
        const struct target *t = peer ? r->peer : r->t;
        return t ? target_var(t, profile_var) : NULL;
    }
    const char *sep = strstr(name, "'s ");
    if (!sep) return NULL;
    struct client_state *c = find_client(r, name, (size_t)(sep - name));
    if (!c) return NULL;
    const char *what = sep + 3;
    if (strcasecmp(what, "full JID") == 0) return c->full_jid;
    if (strcasecmp(what, "JID") == 0) return c->bound_bare ? c->bound_bare : c->bare;
    if (strcasecmp(what, "domain") == 0) return c->bound_domain ? c->bound_domain : c->domain;
    if (strcasecmp(what, "resource") == 0)
        return c->bound_resource ? c->bound_resource : c->resource;
    return NULL;
}

/* ---- failures and transcript --------------------------------------------- */

static void describe_step(const struct scs_step *s, struct buf *out)
{
    switch (s->kind) {
    case SCS_CONNECTS: buf_printf(out, "%s connects", s->client); break;
    case SCS_DISCONNECTS: buf_printf(out, "%s disconnects", s->client); break;
    case SCS_SENDS: buf_printf(out, "%s sends:", s->client); break;
    case SCS_RECEIVES: buf_printf(out, "%s receives:", s->client); break;
    case SCS_RECEIVES_NOTHING: buf_printf(out, "%s receives nothing", s->client); break;
    case SCS_SENDS_RAW: buf_printf(out, "%s sends raw:", s->client); break;
    case SCS_FAILS_TO_CONNECT:
        buf_printf(out, "%s fails to connect with <%s/>", s->client, s->text); break;
    case SCS_RECEIVES_STREAM_ERROR:
        buf_printf(out, "%s receives stream error <%s/>", s->client, s->text); break;
    case SCS_IS_DISCONNECTED: buf_printf(out, "%s is disconnected", s->client); break;
    case SCS_ADMIN_RUNS: buf_printf(out, "%s runs: %s", s->peer ? "Peer admin" : "Admin", s->text); break;
    case SCS_ADMIN_FAILS: buf_printf(out, "%s fails: %s", s->peer ? "Peer admin" : "Admin", s->text); break;
    case SCS_ADMIN_OUTPUT_CONTAINS: buf_printf(out, "Admin output contains: %s", s->text); break;
    case SCS_LOG_CONTAINS: {
        const char *n = s->log_name ? s->log_name : "";
        buf_printf(out, "%c%s log contains: %s",
                   n[0] >= 'a' && n[0] <= 'z' ? n[0] - 'a' + 'A' : n[0], n[0] ? n + 1 : "", s->text);
        break;
    }
    }
}

/* Marks the run failed at the current step (or `where` when no step runs);
   details follow in r->diag. Returns -1 for `return fail(...)`. */
static int fail(struct run *r, const char *message, const char *where)
{
    if (r->failed) return -1;
    r->failed = true;
    r->message = xstrdup(message);
    if (r->step) {
        buf_printf(&r->diag, "at %s:%u: ", r->sc->path, r->step->line);
        describe_step(r->step, &r->diag);
        buf_puts(&r->diag, "\n");
    } else {
        buf_printf(&r->diag, "at %s: %s\n", r->sc->path, where);
    }
    return -1;
}

/* Appends `text` to the diagnostic with every line indented by `indent`. */
static void append_indented(struct buf *out, const char *text, size_t len, const char *indent)
{
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        buf_puts(out, indent);
        buf_append(out, text + pos, n);
        buf_puts(out, "\n");
        pos += n + 1;
    }
}

static void append_element(struct buf *out, const char *label, const xnode *n)
{
    struct buf pretty;
    buf_init(&pretty);
    scs_pretty(n, &pretty);
    buf_printf(out, "%s:\n", label);
    append_indented(out, pretty.data ? pretty.data : "", pretty.len, "  ");
    buf_free(&pretty);
}

static void append_elements(struct buf *out, const char *label, xnode **nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) append_element(out, label, nodes[i]);
}

static void trace_step(struct run *r)
{
    if (!r->want_transcript) return;
    buf_printf(&r->transcript, "%s:%u: ", r->sc->path, r->step->line);
    describe_step(r->step, &r->transcript);
    buf_puts(&r->transcript, "\n");
}

static void trace_text(struct run *r, const char *label, const char *text, size_t len)
{
    if (!r->want_transcript) return;
    if (label) buf_printf(&r->transcript, "  %s:\n", label);
    append_indented(&r->transcript, text, len, "    ");
}

/* ---- hooks --------------------------------------------------------------- */

static void keep_tail(struct buf *out, size_t max)
{
    if (out->len > max) buf_consume(out, out->len - max);
}

static void describe_status(int status, struct buf *out)
{
    if (WIFEXITED(status)) buf_printf(out, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) buf_printf(out, "killed by signal %d", WTERMSIG(status));
    else buf_printf(out, "status %d", status);
}

static void exec_hook(const struct run *r, const struct target *t, const char *cmd, int out_fd)
{
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    setenv("IMCONFORM_SCENARIO", r->sc->path, 1);
    setenv("IMCONFORM_TARGET", t->path, 1);
    setenv("IMCONFORM_ACCOUNTS", t == r->t ? r->accounts : r->peer_accounts, 1);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
}

/* Reads the hook's output until it exits (and its output is drained; a
   background grandchild keeping the pipe open does not hold us). */
static int collect_hook(pid_t pid, int fd, struct buf *out, size_t max)
{
    bool exited = false, eof = false;
    int status = 0;
    char chunk[4096];
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n = eof ? 0 : poll(&pfd, 1, exited ? 0 : 100);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            ssize_t k = read(fd, chunk, sizeof chunk);
            if (k > 0) {
                buf_append(out, chunk, (size_t)k);
                if (out->len > 2 * max) keep_tail(out, max);
                continue;
            }
            if (k < 0 && errno == EINTR) continue;
            eof = true;
        }
        if (!exited) {
            pid_t w = waitpid(pid, &status, eof ? 0 : WNOHANG);
            if (w == pid) exited = true;
            else if (w < 0 && errno != EINTR) { exited = true; status = -1; }
            continue;
        }
        break;
    }
    keep_tail(out, max);
    return status;
}

/* Runs cmd, a hook of target t (the main one or the peer), with /bin/sh -c
   and the IMCONFORM_* environment of t; output (its last `max` bytes) in
   *out. Returns the wait status, or -1 if it could not start. */
static int run_hook(const struct run *r, const struct target *t, const char *cmd,
                    struct buf *out, size_t max)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        buf_printf(out, "pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        buf_printf(out, "fork: %s\n", strerror(errno));
        close(p[0]); close(p[1]);
        return -1;
    }
    if (pid == 0) exec_hook(r, t, cmd, p[1]);
    close(p[1]);
    int status = collect_hook(pid, p[0], out, max);
    close(p[0]);
    return status;
}

static bool hook_ok(int status)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* "LABEL:" and the output indented, at most its last RUNNER_HOOK_OUTPUT_MAX
   bytes; nothing if it is empty. */
static void append_output(struct buf *diag, const char *label, const struct buf *out)
{
    if (!out->len) return;
    size_t shown = out->len > RUNNER_HOOK_OUTPUT_MAX ? RUNNER_HOOK_OUTPUT_MAX : out->len;
    if (shown < out->len) buf_printf(diag, "%s (last %zu of %zu bytes):\n", label, shown, out->len);
    else buf_printf(diag, "%s:\n", label);
    append_indented(diag, out->data + out->len - shown, shown, "  ");
}

static void append_hook_output(struct buf *diag, const char *cmd, int status, const struct buf *out)
{
    buf_printf(diag, "hook: %s\n", cmd);
    if (status != -1) {
        buf_puts(diag, "hook result: ");
        describe_status(status, diag);
        buf_puts(diag, "\n");
    }
    append_output(diag, "hook output", out);
}

/* Runs the setup or teardown hook of target t; fails the run with
   `message` unless it exits 0. */
static int run_checked_hook(struct run *r, const struct target *t, const char *hook,
                            const char *message, const char *where)
{
    struct buf cmd, out;
    buf_init(&cmd);
    buf_init(&out);
    buf_puts(&cmd, hook);
    int status = run_hook(r, t, cmd.data, &out, RUNNER_HOOK_OUTPUT_MAX);
    int rc = 0;
    if (!hook_ok(status)) {
        if (!r->failed) {
            fail(r, message, where);
        } else {
            buf_printf(&r->diag, "%s too:\n", message);
        }
        append_hook_output(&r->diag, cmd.data, status, &out);
        rc = -1;
    } else if (r->want_transcript && out.len) {
        trace_text(r, "hook output", out.data, out.len);
    }
    buf_free(&cmd);
    buf_free(&out);
    return rc;
}

/* ---- steps --------------------------------------------------------------- */

static struct client_state *step_client(struct run *r)
{
    return find_client(r, r->step->client, strlen(r->step->client));
}

static struct client_state *connected_client(struct run *r)
{
    struct client_state *c = step_client(r);
    if (!c) { fail(r, "step for an undeclared client", NULL); return NULL; }
    if (!c->conn) {
        fail(r, "client is not connected", NULL);
        buf_printf(&r->diag, "%s has not connected (or was disconnected)\n", c->def->name);
        return NULL;
    }
    return c;
}

/* The expanded step text, or NULL after failing the run. */
static char *expand(struct run *r, const char *text)
{
    struct buf err;
    buf_init(&err);
    char *out = scs_expand(text, lookup_var, r, &err);
    if (!out) {
        fail(r, "cannot expand variables", NULL);
        buf_printf(&r->diag, "%s\n", err.data ? err.data : "unknown variable");
    }
    buf_free(&err);
    return out;
}

static bool option_is(const char *v, const char *a, const char *b)
{
    return strcasecmp(v, a) == 0 || strcasecmp(v, b) == 0;
}

/* A TCP port number 1..65535, written in decimal. */
static bool parse_port(const char *v, unsigned short *port)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || end == v || *end || n == 0 || n > 65535) return false;
    *port = (unsigned short)n;
    return true;
}

/* An IPv4 or IPv6 address written numerically (IPv6 optionally in brackets). */
static bool is_numeric_address(const char *v)
{
    unsigned char addr[sizeof(struct in6_addr)];
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '[' && v[len - 1] == ']') {
        char *bare = xstrndup(v + 1, len - 2);
        bool ok = inet_pton(AF_INET6, bare, addr) == 1;
        free(bare);
        return ok;
    }
    return inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1;
}

/* The `login:` values: yes, no (stop at the first features), no-stream
   (send nothing), no-bind (stop after SASL and the restart); false if none. */
static bool parse_login(const char *v, struct xclient_opts *o)
{
    bool yes = option_is(v, "yes", "true"), no = option_is(v, "no", "false");
    bool no_stream = strcasecmp(v, "no-stream") == 0, no_bind = strcasecmp(v, "no-bind") == 0;
    if (!yes && !no && !no_stream && !no_bind) return false;
    o->login = yes || no_bind;
    o->stop = no_stream ? XCLIENT_STOP_BEFORE_STREAM
            : no_bind ? XCLIENT_STOP_BEFORE_BIND : XCLIENT_STOP_NONE;
    return true;
}

/* Fills opts from the client block and the target; -1 after failing. */
static int build_opts(struct run *r, const struct client_state *c, struct xclient_opts *o)
{
    bool explicit_port = false;
    const struct target *t = c->target;
    *o = (struct xclient_opts){ .host = t->host, .port = t->port, .tls = XCLIENT_STARTTLS,
                                .jid = c->jid, .ca_file = t->ca_file, .login = true,
                                .timeout = RUNNER_CONNECT_TIMEOUT };
    for (size_t i = 0; i < c->def->n_options; i++) {
        const char *k = c->def->options[i].key, *v = c->def->options[i].value;
        if (strcmp(k, "jid") == 0 || strcmp(k, "target") == 0) continue;
        else if (strcmp(k, "password") == 0) o->password = v;
        else if (strcmp(k, "resource") == 0) o->resource = v;
        else if (strcmp(k, "sasl") == 0) o->mechanism = v;
        else if (strcmp(k, "channel-binding") == 0) o->channel_binding = v;
        else if (strcmp(k, "sni") == 0) o->sni = v;
        else if (strcmp(k, "login") == 0 && parse_login(v, o)) continue;
        else if (strcmp(k, "tls") == 0 && strcmp(v, "starttls") == 0) o->tls = XCLIENT_STARTTLS;
        else if (strcmp(k, "tls") == 0 && strcmp(v, "direct-tls") == 0) o->tls = XCLIENT_DIRECT_TLS;
        else if (strcmp(k, "tls") == 0 && strcmp(v, "plain") == 0) o->tls = XCLIENT_PLAIN;
        else if (strcmp(k, "port") == 0 && parse_port(v, &o->port)) explicit_port = true;
        else if (strcmp(k, "ca-file") == 0) o->ca_file = option_is(v, "none", "no") ? NULL : v;
        else if (strcmp(k, "source-address") == 0 && is_numeric_address(v)) o->source = v;
        else {
            fail(r, "bad client option", NULL);
            buf_printf(&r->diag, "%s:%u: [Client] %s: unknown option or value '%s: %s'\n",
                       r->sc->path, c->def->line, c->def->name, k, v);
            return -1;
        }
    }
    if (o->tls == XCLIENT_DIRECT_TLS && !explicit_port) {
        if (!t->direct_tls_port) {
            fail(r, t == r->t ? "target has no direct-tls-port" : "peer target has no direct-tls-port", NULL);
            return -1;
        }
        o->port = t->direct_tls_port;
    }
    return 0;
}

static const char *failure_kind_name(enum xclient_failure_kind k)
{
    switch (k) {
    case XFAIL_NONE: return "none";
    case XFAIL_CONNECT: return "connect";
    case XFAIL_TLS: return "tls";
    case XFAIL_SASL: return "sasl";
    case XFAIL_STREAM_ERROR: return "stream error";
    case XFAIL_BIND: return "bind";
    case XFAIL_CLOSED: return "closed";
    case XFAIL_TIMEOUT: return "timeout";
    case XFAIL_PROTOCOL: return "protocol";
    }
    return "?";
}

static void append_failure(struct buf *out, const struct xclient_failure *f)
{
    buf_printf(out, "connection failed (%s): <%s/>%s%s\n", failure_kind_name(f->kind),
               f->condition[0] ? f->condition : "?", f->text[0] ? " " : "", f->text);
}

/* Connects c; on failure leaves it unconnected and fills *f. */
static void *open_client(struct run *r, struct client_state *c, struct xclient_failure *f, int *rc)
{
    struct xclient_opts o;
    *rc = build_opts(r, c, &o);
    if (*rc != 0) return NULL;
    memset(f, 0, sizeof *f);
    void *conn = r->d->connect(r->d->ctx, &o, f);
    if (conn) {
        c->conn = conn;
        client_set_bound(c, r->d->full_jid(r->d->ctx, conn));
        if (r->want_transcript && c->full_jid)
            buf_printf(&r->transcript, "  bound %s\n", c->full_jid);
    }
    return conn;
}

static struct client_state *unconnected_client(struct run *r)
{
    struct client_state *c = step_client(r);
    if (!c) { fail(r, "step for an undeclared client", NULL); return NULL; }
    if (c->conn) {
        fail(r, "client is already connected", NULL);
        return NULL;
    }
    return c;
}

static int step_connects(struct run *r)
{
    struct client_state *c = unconnected_client(r);
    if (!c) return -1;
    struct xclient_failure f;
    int rc;
    if (open_client(r, c, &f, &rc)) return 0;
    if (rc != 0) return -1;
    fail(r, "cannot connect", NULL);
    append_failure(&r->diag, &f);
    return -1;
}

static int step_fails_to_connect(struct run *r)
{
    struct client_state *c = unconnected_client(r);
    if (!c) return -1;
    struct xclient_failure f;
    int rc;
    if (open_client(r, c, &f, &rc)) {
        fail(r, "connected, but a failure was expected", NULL);
        buf_printf(&r->diag, "expected: <%s/>\nbound: %s\n", r->step->text,
                   c->full_jid ? c->full_jid : "(no JID)");
        r->d->close(r->d->ctx, c->conn);
        c->conn = NULL;
        return -1;
    }
    if (rc != 0) return -1;
    if (strcmp(f.condition, r->step->text) == 0) {
        if (r->want_transcript) append_failure(&r->transcript, &f);
        return 0;
    }
    fail(r, "connection failed with another condition", NULL);
    buf_printf(&r->diag, "expected: <%s/>\nreceived: ", r->step->text);
    append_failure(&r->diag, &f);
    return -1;
}

static void drop_connection(struct run *r, struct client_state *c)
{
    r->d->close(r->d->ctx, c->conn);
    c->conn = NULL;
}

static int step_disconnects(struct run *r)
{
    struct client_state *c = connected_client(r);
    if (!c) return -1;
    drop_connection(r, c);
    return 0;
}

static int send_bytes(struct run *r, struct client_state *c, const char *data, size_t len)
{
    trace_text(r, NULL, data, len);
    if (r->d->send(r->d->ctx, c->conn, data, len) == 0) return 0;
    fail(r, "send failed (connection lost)", NULL);
    return -1;
}

static int step_sends(struct run *r)
{
    struct client_state *c = connected_client(r);
    if (!c) return -1;
    char *text = expand(r, r->step->text);
    if (!text) return -1;
    int rc = send_bytes(r, c, text, strlen(text));
    free(text);
    return rc;
}

static int step_sends_raw(struct run *r)
{
    struct client_state *c = connected_client(r);
    if (!c) return -1;
    const struct scs_step *s = r->step;
    if (memchr(s->text, '\0', s->text_len)) return send_bytes(r, c, s->text, s->text_len);
    char *text = expand(r, s->text);
    if (!text) return -1;
    int rc = send_bytes(r, c, text, strlen(text));
    free(text);
    return rc;
}

/* Describes a non-stanza event (stream error, close, timeout) in the diag. */
static void append_event(struct buf *out, const struct xclient_event *ev)
{
    switch (ev->kind) {
    case XEV_STANZA: append_element(out, "received", ev->stanza); break;
    case XEV_TIMEOUT: buf_puts(out, "received: nothing\n"); break;
    case XEV_CLOSED: buf_puts(out, "received: end of stream\n"); break;
    case XEV_STREAM_ERROR:
        if (ev->stanza) append_element(out, "received stream error", ev->stanza);
        else buf_printf(out, "received: stream error <%s/>\n", ev->condition);
        break;
    }
}

static void next_event(struct run *r, struct client_state *c, double timeout, struct xclient_event *ev)
{
    memset(ev, 0, sizeof *ev);
    r->d->next(r->d->ctx, c->conn, timeout, ev);
    if (r->want_transcript && ev->kind != XEV_TIMEOUT) {
        struct buf text;
        buf_init(&text);
        append_event(&text, ev);
        append_indented(&r->transcript, text.data, text.len, "  ");
        buf_free(&text);
    }
}

static void event_free(struct xclient_event *ev)
{
    if (ev->stanza) xnode_free(ev->stanza);
    ev->stanza = NULL;
}

/* Matches one expected element against the next event; -1 after failing. */
static int receive_one(struct run *r, struct client_state *c, const xnode *expected)
{
    struct xclient_event ev;
    next_event(r, c, r->t->receive_timeout, &ev);
    int rc = 0;
    if (ev.kind == XEV_STANZA) {
        struct buf why;
        buf_init(&why);
        if (!scs_match(expected, ev.stanza, &why)) {
            fail(r, "unexpected stanza", NULL);
            buf_printf(&r->diag, "mismatch: %s\n", why.data ? why.data : "");
            append_element(&r->diag, "expected", expected);
            append_element(&r->diag, "received", ev.stanza);
            rc = -1;
        }
        buf_free(&why);
    } else {
        fail(r, ev.kind == XEV_TIMEOUT ? "missing stanza"
              : ev.kind == XEV_CLOSED ? "stream closed instead of the expected stanza"
              : "stream error instead of the expected stanza", NULL);
        if (ev.kind == XEV_TIMEOUT) buf_printf(&r->diag, "nothing received within %g s\n", r->t->receive_timeout);
        append_element(&r->diag, "expected", expected);
        if (ev.kind != XEV_TIMEOUT) append_event(&r->diag, &ev);
        if (ev.kind != XEV_TIMEOUT) drop_connection(r, c);
        rc = -1;
    }
    event_free(&ev);
    return rc;
}

static int step_receives(struct run *r)
{
    struct client_state *c = connected_client(r);
    if (!c) return -1;
    char *text = expand(r, r->step->text);
    if (!text) return -1;
    xnode **expected = NULL;
    size_t n = 0;
    struct buf err;
    buf_init(&err);
    int rc = scs_parse_payload(text, strlen(text), CONTENT_NS, &expected, &n, &err);
    if (rc != 0) {
        fail(r, "expected payload is not well-formed after expansion", NULL);
        buf_printf(&r->diag, "%s\npayload:\n", err.data ? err.data : "");
        append_indented(&r->diag, text, strlen(text), "  ");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = receive_one(r, c, expected[i]);
        if (rc != 0 && i + 1 < n) append_elements(&r->diag, "then expected", expected + i + 1, n - i - 1);
    }
    scs_free_payload(expected, n);
    buf_free(&err);
    free(text);
    return rc;
}

static int step_receives_nothing(struct run *r)
{
    struct client_state *c = connected_client(r);
    if (!c) return -1;
    struct xclient_event ev;
    next_event(r, c, r->t->quiet_period, &ev);
    if (ev.kind == XEV_TIMEOUT) return 0;
    fail(r, ev.kind == XEV_STANZA ? "unexpected stanza (expected nothing)"
          : "stream ended (expected nothing)", NULL);
    buf_printf(&r->diag, "expected: nothing within %g s\n", r->t->quiet_period);
    append_event(&r->diag, &ev);
    if (ev.kind != XEV_STANZA) drop_connection(r, c);
    event_free(&ev);
    return -1;
}

static int step_receives_stream_error(struct run *r)
{
    struct client_state *c = connected_client(r);
    if (!c) return -1;
    struct xclient_event ev;
    next_event(r, c, r->t->receive_timeout, &ev);
    if (ev.kind != XEV_STREAM_ERROR || strcmp(ev.condition, r->step->text) != 0) {
        fail(r, ev.kind == XEV_STREAM_ERROR ? "stream error with another condition"
              : "missing stream error", NULL);
        buf_printf(&r->diag, "expected: stream error <%s/>\n", r->step->text);
        append_event(&r->diag, &ev);
        event_free(&ev);
        return -1;
    }
    event_free(&ev);
    next_event(r, c, r->t->receive_timeout, &ev);
    int rc = 0;
    if (ev.kind != XEV_CLOSED) {
        fail(r, "stream did not end after the stream error", NULL);
        append_event(&r->diag, &ev);
        rc = -1;
    }
    event_free(&ev);
    drop_connection(r, c);
    return rc;
}

static int step_is_disconnected(struct run *r)
{
    struct client_state *c = connected_client(r);
    if (!c) return -1;
    struct xclient_event ev;
    next_event(r, c, r->t->receive_timeout, &ev);
    int rc = 0;
    if (ev.kind != XEV_CLOSED) {
        fail(r, ev.kind == XEV_TIMEOUT ? "still connected" : "not disconnected", NULL);
        buf_printf(&r->diag, "expected: end of stream within %g s\n", r->t->receive_timeout);
        append_event(&r->diag, &ev);
        rc = -1;
    }
    event_free(&ev);
    if (rc == 0 || ev.kind == XEV_STREAM_ERROR) drop_connection(r, c);
    return rc;
}

/* Runs the admin hook with the step's arguments, keeping its output for
   `Admin output contains:`; the step passes if the hook exits 0 (Admin
   runs:) or exits non-zero (Admin fails:). */
static int run_admin_step(struct run *r, bool expect_failure)
{
    const struct target *t = r->step->peer ? r->peer : r->t;
    if (!t || !t->admin)
        return fail(r, r->step->peer ? "peer target has no admin hook" : "target has no admin hook", NULL);
    char *args = expand(r, r->step->text);
    if (!args) return -1;
    struct buf cmd;
    buf_init(&cmd);
    buf_puts(&cmd, t->admin);
    if (args[0]) buf_printf(&cmd, " %s", args);
    buf_reset(&r->admin_output);
    int status = run_hook(r, t, cmd.data, &r->admin_output, RUNNER_ADMIN_OUTPUT_MAX);
    r->admin_ran = true;
    int rc = 0;
    if (status == -1 || hook_ok(status) == expect_failure) {
        fail(r, status == -1 ? "admin hook could not run"
              : expect_failure ? "admin hook succeeded, but a failure was expected"
              : "admin hook failed", NULL);
        append_hook_output(&r->diag, cmd.data, status, &r->admin_output);
        rc = -1;
    } else if (r->want_transcript && r->admin_output.len) {
        trace_text(r, "hook output", r->admin_output.data, r->admin_output.len);
    }
    buf_free(&cmd);
    free(args);
    return rc;
}

static int step_admin_output_contains(struct run *r)
{
    if (!r->admin_ran) {
        fail(r, "no admin output to check", NULL);
        buf_puts(&r->diag, "no Admin runs: or Admin fails: step ran before this one\n");
        return -1;
    }
    char *text = expand(r, r->step->text);
    if (!text) return -1;
    const struct buf *out = &r->admin_output;
    int rc = 0;
    if (!out->len || !memmem(out->data, out->len, text, strlen(text))) {
        fail(r, "admin output does not contain the text", NULL);
        buf_printf(&r->diag, "expected text: %s\n", text);
        if (out->len) append_output(&r->diag, "admin output", out);
        else buf_puts(&r->diag, "admin output: (empty)\n");
        rc = -1;
    }
    free(text);
    return rc;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
    struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static int step_log_contains(struct run *r)
{
    if (!r->t->log) return fail(r, "target has no log hook", NULL);
    char *text = expand(r, r->step->text);
    if (!text) return -1;
    struct buf cmd, out;
    buf_init(&cmd);
    buf_init(&out);
    buf_printf(&cmd, "%s %s", r->t->log, r->step->log_name);
    double deadline = now_seconds() + r->t->receive_timeout;
    int status, rc = -1;
    for (;;) {
        buf_reset(&out);
        status = run_hook(r, r->t, cmd.data, &out, RUNNER_HOOK_OUTPUT_MAX);
        if (!hook_ok(status)) break;
        if (out.len && memmem(out.data, out.len, text, strlen(text))) { rc = 0; break; }
        if (now_seconds() >= deadline) break;
        sleep_seconds(LOG_POLL_INTERVAL);
    }
    if (rc != 0) {
        fail(r, hook_ok(status) ? "log does not contain the text" : "log hook failed", NULL);
        buf_printf(&r->diag, "expected text: %s\n", text);
        append_hook_output(&r->diag, cmd.data, status, &out);
    }
    buf_free(&cmd);
    buf_free(&out);
    free(text);
    return rc;
}

static int run_step(struct run *r)
{
    trace_step(r);
    switch (r->step->kind) {
    case SCS_CONNECTS: return step_connects(r);
    case SCS_DISCONNECTS: return step_disconnects(r);
    case SCS_SENDS: return step_sends(r);
    case SCS_RECEIVES: return step_receives(r);
    case SCS_RECEIVES_NOTHING: return step_receives_nothing(r);
    case SCS_SENDS_RAW: return step_sends_raw(r);
    case SCS_FAILS_TO_CONNECT: return step_fails_to_connect(r);
    case SCS_RECEIVES_STREAM_ERROR: return step_receives_stream_error(r);
    case SCS_IS_DISCONNECTED: return step_is_disconnected(r);
    case SCS_ADMIN_RUNS: return run_admin_step(r, false);
    case SCS_ADMIN_FAILS: return run_admin_step(r, true);
    case SCS_ADMIN_OUTPUT_CONTAINS: return step_admin_output_contains(r);
    case SCS_LOG_CONTAINS: return step_log_contains(r);
    }
    return fail(r, "unknown step kind", NULL);
}

/* ---- the scenario -------------------------------------------------------- */

/* Why a `requires:` word is not met, malloc'd, or NULL if it is. */
static char *unmet_requirement(const char *word, const struct target *t, const struct target *peer)
{
    struct buf b;
    buf_init(&b);
    bool peer_word = strcmp(word, "peer") == 0 || strncmp(word, "peer:", 5) == 0;
    if (peer_word && !peer)
        buf_printf(&b, "requires %s, and imconform runs without --peer", word);
    else if (peer_word && word[4] == ':' && !target_has(peer, word + 5))
        buf_printf(&b, "requires %s, which peer target %s lacks", word, peer->name);
    else if (!peer_word && !target_has(t, word))
        buf_printf(&b, "requires %s, which target %s lacks", word, t->name);
    else
        return NULL;
    return buf_steal(&b);
}

/* The reason to skip, malloc'd, or NULL. */
static char *skip_reason(const struct scenario *sc, const struct target *t, const struct target *peer)
{
    const char *listed = target_skip_reason(t, sc->path);
    if (!listed && peer && scs_requires_peer(sc)) listed = target_skip_reason(peer, sc->path);
    if (listed) return xstrdup(listed);
    for (size_t i = 0; i < sc->n_requires; i++) {
        char *why = unmet_requirement(sc->requires[i], t, peer);
        if (why) return why;
    }
    return NULL;
}

static void run_steps(struct run *r)
{
    if (r->t->setup && run_checked_hook(r, r->t, r->t->setup, "setup hook failed", "setup") != 0)
        return;
    if (r->peer && r->peer->setup
        && run_checked_hook(r, r->peer, r->peer->setup, "peer setup hook failed", "peer setup") != 0)
        return;
    for (size_t i = 0; i < r->sc->n_steps; i++) {
        r->step = &r->sc->steps[i];
        if (run_step(r) != 0) break;
    }
    r->step = NULL;
}

void runner_run(const struct scenario *sc, const struct target *t, const struct target *peer,
                const struct runner_driver *d, bool transcript,
                struct runner_result *result)
{
    *result = (struct runner_result){ .outcome = RUNNER_PASS };
    char *skip = skip_reason(sc, t, peer);
    if (skip) {
        result->outcome = RUNNER_SKIP;
        result->message = skip;
        return;
    }
    struct run r = { .sc = sc, .t = t, .peer = scs_requires_peer(sc) ? peer : NULL, .d = d,
                     .want_transcript = transcript };
    buf_init(&r.diag);
    buf_init(&r.admin_output);
    buf_init(&r.transcript);
    buf_puts(&r.transcript, "");
    clients_init(&r);
    run_steps(&r);
    clients_close(&r);
    if (t->teardown)
        run_checked_hook(&r, t, t->teardown, "teardown hook failed", "teardown");
    if (r.peer && r.peer->teardown)
        run_checked_hook(&r, r.peer, r.peer->teardown, "peer teardown hook failed", "peer teardown");
    clients_free(&r);
    if (r.failed) {
        result->outcome = RUNNER_FAIL;
        result->message = r.message;
        result->diagnostic = buf_steal(&r.diag);
    }
    buf_free(&r.diag);
    buf_free(&r.admin_output);
    if (transcript) result->transcript = buf_steal(&r.transcript);
    buf_free(&r.transcript);
}

void runner_result_free(struct runner_result *r)
{
    free(r->message);
    free(r->diagnostic);
    free(r->transcript);
    r->message = r->diagnostic = r->transcript = NULL;
}

/* ---- result transport ---------------------------------------------------- */

static const char outcome_letters[] = { [RUNNER_PASS] = 'P', [RUNNER_FAIL] = 'F', [RUNNER_SKIP] = 'S' };

static void encode_string(const char *s, struct buf *out)
{
    if (!s) { buf_puts(out, "-"); return; }
    buf_printf(out, "%zu:", strlen(s));
    buf_puts(out, s);
}

/* Encoding: outcome letter, then message, diagnostic, transcript, each "-"
   (NULL) or "LEN:" followed by LEN bytes. */
void runner_result_encode(const struct runner_result *r, struct buf *out)
{
    buf_append(out, &outcome_letters[r->outcome], 1);
    encode_string(r->message, out);
    encode_string(r->diagnostic, out);
    encode_string(r->transcript, out);
}

static int decode_string(const char **p, const char *end, char **out)
{
    *out = NULL;
    if (*p >= end) return -1;
    if (**p == '-') { (*p)++; return 0; }
    size_t n = 0;
    const char *q = *p;
    while (q < end && *q >= '0' && *q <= '9') {
        if (n > (size_t)(end - *p)) return -1;
        n = n * 10 + (size_t)(*q - '0');
        q++;
    }
    if (q == *p || q >= end || *q != ':' || n > (size_t)(end - q - 1)) return -1;
    if (memchr(q + 1, '\0', n)) return -1;
    *out = xstrndup(q + 1, n);
    *p = q + 1 + n;
    return 0;
}

int runner_result_decode(const char *data, size_t len, struct runner_result *r)
{
    *r = (struct runner_result){ 0 };
    if (len < 1) return -1;
    const char *p = data + 1, *end = data + len;
    if (data[0] == 'P') r->outcome = RUNNER_PASS;
    else if (data[0] == 'F') r->outcome = RUNNER_FAIL;
    else if (data[0] == 'S') r->outcome = RUNNER_SKIP;
    else return -1;
    if (decode_string(&p, end, &r->message) != 0 || decode_string(&p, end, &r->diagnostic) != 0
        || decode_string(&p, end, &r->transcript) != 0 || p != end) {
        runner_result_free(r);
        return -1;
    }
    return 0;
}

/* ---- the production driver ----------------------------------------------- */

static void *xc_connect(void *ctx, const struct xclient_opts *o, struct xclient_failure *f)
{
    (void)ctx;
    return xclient_connect(o, f);
}

static int xc_send(void *ctx, void *conn, const void *data, size_t len)
{
    (void)ctx;
    return xclient_send(conn, data, len);
}

static void xc_next(void *ctx, void *conn, double timeout, struct xclient_event *ev)
{
    (void)ctx;
    xclient_next(conn, timeout, ev);
}

static const char *xc_full_jid(void *ctx, void *conn)
{
    (void)ctx;
    return xclient_full_jid(conn);
}

static void xc_close(void *ctx, void *conn)
{
    (void)ctx;
    xclient_close(conn);
}

const struct runner_driver runner_xclient_driver = {
    .ctx = NULL, .connect = xc_connect, .send = xc_send, .next = xc_next,
    .full_jid = xc_full_jid, .close = xc_close,
};
