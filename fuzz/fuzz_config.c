/* The configuration reader (SPEC CFG-1..4, config.h, cfgfile.h): the input
 * is DIR/mailserver.cfg. config_load returns 0, or -1 with an error
 * "PATH:LINE:COL: reason" (LINE within the file) or "PATH: reason". On 0
 * every typed value is within its documented range, and the document
 * written back by cfgfile_serialize loads again to the same typed values
 * and serialises to the same bytes (CFG-3). Warnings go nowhere. */
#include "fuzz.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgfile.h"
#include "config.h"
#include "log.h"
#include "scram.h"

void fuzz_init(void)
{
    fuzz_silence_logs("config");
}

/* The directory of mailserver.cfg, /tmp/fuzz_config.PID, one per process,
 * made by its first input (under the AFL++ fork server fuzz_init runs once
 * in the parent) and removed at exit; a first input also removes those of
 * processes that no longer run (AFL++ kills some). */
#define DIR_PREFIX "fuzz_config."
static char dir[64], cfg_path[128];

static void remove_dir_of(const char *d)
{
    char file[400];
    snprintf(file, sizeof file, "%s/%s", d, CONFIG_FILE_NAME);
    unlink(file);
    rmdir(d);
}

static void cleanup(void)
{
    remove_dir_of(dir);
}

static void remove_stale_dirs(void)
{
    DIR *tmp = opendir("/tmp");
    if (!tmp) return;
    struct dirent *e;
    while ((e = readdir(tmp))) {
        if (strncmp(e->d_name, DIR_PREFIX, strlen(DIR_PREFIX)) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + strlen(DIR_PREFIX), &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char d[300];
        snprintf(d, sizeof d, "/tmp/%s", e->d_name);
        remove_dir_of(d);
    }
    closedir(tmp);
}

static void set_up(void)
{
    if (dir[0]) return;
    remove_stale_dirs();
    snprintf(dir, sizeof dir, "/tmp/" DIR_PREFIX "%ld", (long)getpid());
    if (mkdir(dir, 0700) != 0) abort();
    snprintf(cfg_path, sizeof cfg_path, "%s/%s", dir, CONFIG_FILE_NAME);
    atexit(cleanup);
}

static void write_file(const char *data, size_t len)
{
    int fd = open(cfg_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n <= 0) abort();
        off += (size_t)n;
    }
    close(fd);
}

/* ---- the error text --------------------------------------------------------- */

/* Lines as expat counts them: LF, CR and CRLF each end one. */
static unsigned long line_count(const char *data, size_t len)
{
    unsigned long lines = 1;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n'))) lines++;
    return lines;
}

static const char *number_then_colon(const char *s, unsigned long *out)
{
    if (!isdigit((unsigned char)*s)) return NULL;
    char *end;
    *out = strtoul(s, &end, 10);
    return *end == ':' ? end + 1 : NULL;
}

static void check_error(const char *err, const char *path, const char *data, size_t len)
{
    size_t plen = strlen(path);
    FUZZ_ASSERT(err && strncmp(err, path, plen) == 0 && err[plen] == ':');
    const char *rest = err + plen + 1;
    unsigned long line, col;
    const char *after_line = number_then_colon(rest, &line);
    if (after_line) {
        rest = number_then_colon(after_line, &col);
        FUZZ_ASSERT(rest != NULL);
        FUZZ_ASSERT(line >= 1 && line <= line_count(data, len));
    }
    FUZZ_ASSERT(rest[0] == ' ' && rest[1] != '\0' && !isspace((unsigned char)rest[1]));
}

/* ---- the typed values --------------------------------------------------------- */

static void check_listen(const struct listen_addr *a)
{
    FUZZ_ASSERT(a->host && *a->host);
    FUZZ_ASSERT(a->port >= 1);
}

static void check_path(const char *p, bool may_be_null)
{
    FUZZ_ASSERT(may_be_null || p);
    FUZZ_ASSERT(!p || p[0] == '/');
}

static void check_limits(const struct limits_config *l)
{
    FUZZ_ASSERT(l->stanza_bytes_pre_auth >= 1 && l->stanza_bytes >= 1 && l->stanza_bytes_s2s >= 1);
    FUZZ_ASSERT(l->elements_pre_auth >= 1 && l->elements >= 1);
    FUZZ_ASSERT(l->depth_pre_auth >= 1 && l->depth >= 1 && l->attrs >= 1);
    FUZZ_ASSERT(l->negotiation_timeout >= 1 && l->tls_handshake_timeout >= 1);
    FUZZ_ASSERT(l->idle_timeout >= 1 && l->ping_timeout >= 1);
    FUZZ_ASSERT(l->resources_per_account >= 1 && l->out_queue_bytes >= 1 && l->read_burst >= 1);
    FUZZ_ASSERT(l->s2s_connect_timeout >= 1 && l->s2s_idle_timeout >= 1);
}

static void check_ranges(const struct server_config *c)
{
    FUZZ_ASSERT(c->file != NULL);
    FUZZ_ASSERT(c->maximum_roster >= 0);
    FUZZ_ASSERT(c->scram_iterations >= SCRAM_MIN_ITERATIONS
                && c->scram_iterations <= SCRAM_MAX_ITERATIONS);
    FUZZ_ASSERT(c->security_policy == SECPOL_NO_RESTRICTIONS
                || c->security_policy == SECPOL_AUTH_REQUIRED
                || c->security_policy == SECPOL_ENCRYPTION_REQUIRED);
    FUZZ_ASSERT(!c->auth_exception_group || *c->auth_exception_group);
    FUZZ_ASSERT(!c->encryption_exception_group || *c->encryption_exception_group);
    check_limits(&c->limits);
    FUZZ_ASSERT(c->dns.timeout >= 1 && c->dns.timeout <= 3600);
    if (c->dns.server.host) check_listen(&c->dns.server);
    FUZZ_ASSERT(c->antihammer.failed_logins >= 1 && c->antihammer.failed_logins <= 1000);
    FUZZ_ASSERT(c->antihammer.check_time >= 1 && c->antihammer.block_time >= 1);
    FUZZ_ASSERT(c->lockout.failed_logins >= 1 && c->lockout.failed_logins <= 1000);
    FUZZ_ASSERT(c->lockout.lock_minutes >= 1 && c->lockout.lock_minutes <= UINT_MAX / 60);
    FUZZ_ASSERT(c->archive.on_failure == ARCHIVE_ON_FAILURE_REFUSE
                || c->archive.on_failure == ARCHIVE_ON_FAILURE_DELIVER);
    check_path(c->archive.path, false);
    check_path(c->users_path, false);
    check_path(c->store_path, false);
    check_path(c->log_path, false);
    check_path(c->cert_file, false);
    check_path(c->key_file, false);
    check_path(c->control_socket, false);
    check_path(c->ca_file, true);
    for (size_t i = 0; i < c->n_domains; i++) {
        FUZZ_ASSERT(c->domains[i].name && *c->domains[i].name);
        FUZZ_ASSERT(config_find_domain(c, c->domains[i].name) == &c->domains[i]);
        check_path(c->domains[i].cert_file, true);
        check_path(c->domains[i].key_file, true);
    }
    for (size_t i = 0; i < c->n_services; i++) {
        const struct service_config *s = &c->services[i];
        FUZZ_ASSERT(strcmp(s->id, "xmpp") == 0 || strcmp(s->id, "xmpps") == 0
                    || strcmp(s->id, "s2s") == 0);
        FUZZ_ASSERT(config_find_service(c, s->id) == s);
        FUZZ_ASSERT(s->startup == STARTUP_AUTOMATIC || s->startup == STARTUP_MANUAL);
        FUZZ_ASSERT(s->n_listen >= 1);
        for (size_t j = 0; j < s->n_listen; j++) check_listen(&s->listen[j]);
    }
    for (size_t i = 0; i < c->n_access_policies; i++) {
        const struct access_policy *p = &c->access_policies[i];
        FUZZ_ASSERT(p->name && *p->name);
        FUZZ_ASSERT(config_find_access_policy(c, p->name) == p);
        FUZZ_ASSERT(p->rule == ACCESS_ALLOWED || p->rule == ACCESS_DENIED
                    || p->rule == ACCESS_IP_ALLOWED || p->rule == ACCESS_IP_DENIED);
    }
    FUZZ_ASSERT(!c->default_access_policy
                || (c->default_access_policy >= c->access_policies
                    && c->default_access_policy < c->access_policies + c->n_access_policies));
}

/* Every typed value as text, to compare two loads. */
static void describe(const struct server_config *c, struct buf *out)
{
    const struct limits_config *l = &c->limits;
    buf_printf(out, "%d %d %u %d %s %s\n", c->send_outside, c->maximum_roster,
               c->scram_iterations, (int)c->security_policy,
               c->auth_exception_group ? c->auth_exception_group : "-",
               c->encryption_exception_group ? c->encryption_exception_group : "-");
    buf_printf(out, "%zu %zu %zu %u %u %u %u %u %u %u %u %u %u %zu %zu %zu %u %u %u\n",
               l->stanza_bytes_pre_auth, l->stanza_bytes, l->stanza_bytes_s2s,
               l->elements_pre_auth, l->elements, l->depth_pre_auth, l->depth, l->attrs,
               l->negotiation_timeout, l->tls_handshake_timeout, l->idle_timeout,
               l->ping_timeout, l->resources_per_account, l->out_queue_bytes, l->read_rate,
               l->read_burst, l->offline_messages, l->s2s_connect_timeout, l->s2s_idle_timeout);
    buf_printf(out, "dns %s %u %u\n", c->dns.server.host ? c->dns.server.host : "-",
               c->dns.server.port, c->dns.timeout);
    buf_printf(out, "ah %d %u %u %u %s lo %d %u %u\n", c->antihammer.enabled,
               c->antihammer.failed_logins, c->antihammer.check_time, c->antihammer.block_time,
               c->antihammer.safe_acl ? c->antihammer.safe_acl : "-", c->lockout.enabled,
               c->lockout.failed_logins, c->lockout.lock_minutes);
    buf_printf(out, "arch %d %s %d\n", c->archive.enabled, c->archive.path, (int)c->archive.on_failure);
    buf_printf(out, "paths %s %s %s %s %s %s %s %d\n", c->users_path, c->store_path, c->log_path,
               c->cert_file, c->key_file, c->ca_file ? c->ca_file : "-", c->control_socket,
               c->debug_log);
    for (size_t i = 0; i < c->n_domains; i++)
        buf_printf(out, "domain %s %d %s %s\n", c->domains[i].name, c->domains[i].im_enabled,
                   c->domains[i].cert_file ? c->domains[i].cert_file : "-",
                   c->domains[i].key_file ? c->domains[i].key_file : "-");
    for (size_t i = 0; i < c->n_services; i++) {
        const struct service_config *s = &c->services[i];
        buf_printf(out, "service %s %d %u %s", s->id, (int)s->startup, s->max_connections,
                   s->ip_group ? s->ip_group : "-");
        for (size_t j = 0; j < s->n_listen; j++)
            buf_printf(out, " %s:%u", s->listen[j].host, s->listen[j].port);
        buf_puts(out, "\n");
    }
    for (size_t i = 0; i < c->n_access_policies; i++)
        buf_printf(out, "policy %s %d %s %d\n", c->access_policies[i].name,
                   (int)c->access_policies[i].rule,
                   c->access_policies[i].ip_group ? c->access_policies[i].ip_group : "-",
                   c->default_access_policy == &c->access_policies[i]);
}

static void check_rewrite(const struct server_config *first)
{
    struct buf text, again, err, a, b;
    buf_init(&text), buf_init(&again), buf_init(&err), buf_init(&a), buf_init(&b);
    cfgfile_serialize(first->file, &text);
    write_file(text.data, text.len);
    struct server_config *second;
    FUZZ_ASSERT(config_load(dir, &second, &err) == 0);
    describe(first, &a);
    describe(second, &b);
    FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    cfgfile_serialize(second->file, &again);
    FUZZ_ASSERT(again.len == text.len && memcmp(again.data, text.data, text.len) == 0);
    config_free(second);
    buf_free(&text), buf_free(&again), buf_free(&err), buf_free(&a), buf_free(&b);
}

int fuzz_one(const uint8_t *data, size_t len)
{
    set_up();
    write_file((const char *)data, len);
    struct server_config *cfg = NULL;
    struct buf err;
    buf_init(&err);
    int rc = config_load(dir, &cfg, &err);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_ASSERT(cfg != NULL);
        check_ranges(cfg);
        check_rewrite(cfg);
        config_free(cfg);
    } else {
        FUZZ_ASSERT(cfg == NULL);
        char *real = realpath(cfg_path, NULL);
        FUZZ_ASSERT(real != NULL);
        check_error(err.data, real, (const char *)data, len);
        free(real);
    }
    buf_free(&err);
    return 0;
}
