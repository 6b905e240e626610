#include "target.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARGET_MAX_BYTES (1u << 20)   /* a profile is a few hundred bytes */

struct line_ctx {
    const char *path;
    unsigned line;
    struct buf *err;
};

static int line_error(const struct line_ctx *lc, const char *reason, const char *detail)
{
    buf_printf(lc->err, "%s:%u: %s%s", lc->path, lc->line, reason, detail ? detail : "");
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks at both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s)) { (*s)++; (*n)--; }
    while (*n && is_blank((*s)[*n - 1])) (*n)--;
}

/* Length of the value before a trailing comment (a '#' after a blank). */
static size_t strip_comment(const char *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] == '#' && is_blank(v[i - 1])) return i;
    return n;
}

/* Replaces ${NAME} by the environment's NAME. malloc'd, or NULL with err. */
static char *expand_env(const char *v, size_t n, const struct line_ctx *lc)
{
    struct buf out;
    buf_init(&out);
    buf_puts(&out, "");
    size_t i = 0;
    while (i < n) {
        if (v[i] == '$' && i + 1 < n && v[i + 1] == '{') {
            const char *close = memchr(v + i + 2, '}', n - i - 2);
            if (!close) {
                buf_free(&out);
                line_error(lc, "unterminated ${ in value", NULL);
                return NULL;
            }
            char *name = xstrndup(v + i + 2, (size_t)(close - (v + i + 2)));
            const char *val = name[0] ? getenv(name) : NULL;
            if (!val) {
                buf_printf(lc->err, "%s:%u: environment variable %s is not set",
                           lc->path, lc->line, name[0] ? name : "(empty name)");
                free(name);
                buf_free(&out);
                return NULL;
            }
            free(name);
            buf_puts(&out, val);
            i = (size_t)(close - v) + 1;
        } else {
            buf_append(&out, v + i, 1);
            i++;
        }
    }
    return buf_steal(&out);
}

static int parse_port(const char *v, unsigned short *out, bool zero_ok, const struct line_ctx *lc)
{
    char *end;
    errno = 0;
    long p = strtol(v, &end, 10);
    if (!*v || *end || errno || p < (zero_ok ? 0 : 1) || p > 65535)
        return line_error(lc, "not a port number: ", v);
    *out = (unsigned short)p;
    return 0;
}

static int parse_seconds(const char *v, double *out, bool zero_ok, const struct line_ctx *lc)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || d < 0 || (!zero_ok && d == 0) || d > 86400)
        return line_error(lc, "not a number of seconds: ", v);
    *out = d;
    return 0;
}

static void add_capabilities(struct target *t, const char *v)
{
    const char *p = v;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        size_t n = strcspn(p, " \t");
        t->capabilities = xrealloc(t->capabilities, (t->n_capabilities + 1) * sizeof *t->capabilities);
        t->capabilities[t->n_capabilities++] = xstrndup(p, n);
        p += n;
    }
}

static int add_skip(struct target *t, const char *v, const struct line_ctx *lc)
{
    const char *sep = strstr(v, ": ");
    if (!sep || sep == v) return line_error(lc, "skip needs 'PATH: reason'", NULL);
    const char *reason = sep + 2;
    while (*reason == ' ' || *reason == '\t') reason++;
    if (!*reason) return line_error(lc, "skip needs a reason: ", v);
    t->skips = xrealloc(t->skips, (t->n_skips + 1) * sizeof *t->skips);
    t->skips[t->n_skips].scenario = xstrndup(v, (size_t)(sep - v));
    t->skips[t->n_skips].reason = xstrdup(reason);
    t->n_skips++;
    return 0;
}

static bool is_var_name(const char *name)
{
    if (!*name) return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
              || *c == '-' || *c == '_' || *c == '.'))
            return false;
    return true;
}

/* var-NAME: value. */
static int add_var(struct target *t, const char *name, const char *value, const struct line_ctx *lc)
{
    if (!is_var_name(name))
        return line_error(lc, "bad variable name (letters, digits, '-', '_', '.'): var-", name);
    if (target_var(t, name)) return line_error(lc, "duplicate key: var-", name);
    t->vars = xrealloc(t->vars, (t->n_vars + 1) * sizeof *t->vars);
    t->vars[t->n_vars].name = xstrdup(name);
    t->vars[t->n_vars].value = xstrdup(value);
    t->n_vars++;
    return 0;
}

/* Single-valued string keys: their slot in the target. */
static char **string_slot(struct target *t, const char *key)
{
    static const struct { const char *key; size_t offset; } slots[] = {
        { "name", offsetof(struct target, name) },
        { "host", offsetof(struct target, host) },
        { "domain", offsetof(struct target, domain) },
        { "ca-file", offsetof(struct target, ca_file) },
        { "setup", offsetof(struct target, setup) },
        { "teardown", offsetof(struct target, teardown) },
        { "admin", offsetof(struct target, admin) },
        { "log", offsetof(struct target, log) },
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        if (strcmp(key, slots[i].key) == 0)
            return (char **)((char *)t + slots[i].offset);
    return NULL;
}

struct seen {   /* single-valued numeric keys already given */
    bool port, direct_tls_port, quiet_period, receive_timeout, scenario_timeout;
};

static int set_once(bool *seen, const char *key, const struct line_ctx *lc)
{
    if (*seen) return line_error(lc, "duplicate key: ", key);
    *seen = true;
    return 0;
}

static int apply_key(struct target *t, struct seen *seen, const char *key, const char *value,
                     const struct line_ctx *lc)
{
    char **slot = string_slot(t, key);
    if (slot) {
        if (*slot) return line_error(lc, "duplicate key: ", key);
        *slot = xstrdup(value);
        return 0;
    }
    if (strcmp(key, "port") == 0)
        return set_once(&seen->port, key, lc) ? -1 : parse_port(value, &t->port, false, lc);
    if (strcmp(key, "direct-tls-port") == 0)
        return set_once(&seen->direct_tls_port, key, lc) ? -1
             : parse_port(value, &t->direct_tls_port, true, lc);
    if (strcmp(key, "quiet-period") == 0)
        return set_once(&seen->quiet_period, key, lc) ? -1
             : parse_seconds(value, &t->quiet_period, true, lc);
    if (strcmp(key, "receive-timeout") == 0)
        return set_once(&seen->receive_timeout, key, lc) ? -1
             : parse_seconds(value, &t->receive_timeout, false, lc);
    if (strcmp(key, "scenario-timeout") == 0)
        return set_once(&seen->scenario_timeout, key, lc) ? -1
             : parse_seconds(value, &t->scenario_timeout, false, lc);
    if (strcmp(key, "capabilities") == 0) {
        add_capabilities(t, value);
        return 0;
    }
    if (strcmp(key, "skip") == 0) return add_skip(t, value, lc);
    if (strncmp(key, "var-", 4) == 0) return add_var(t, key + 4, value, lc);
    return line_error(lc, "unknown key: ", key);
}

static int parse_line(struct target *t, struct seen *seen, const char *s, size_t n,
                      const struct line_ctx *lc)
{
    trim(&s, &n);
    if (n == 0 || s[0] == '#') return 0;
    const char *colon = memchr(s, ':', n);
    if (!colon) return line_error(lc, "expected 'key: value'", NULL);
    const char *k = s;
    size_t kn = (size_t)(colon - s);
    trim(&k, &kn);
    if (kn == 0) return line_error(lc, "empty key", NULL);
    const char *v = colon + 1;
    size_t vn = strip_comment(v, (size_t)(s + n - v));
    trim(&v, &vn);
    char *value = expand_env(v, vn, lc);
    if (!value) return -1;
    char *key = xstrndup(k, kn);
    int rc = apply_key(t, seen, key, value, lc);
    free(key);
    free(value);
    return rc;
}

static void set_default_name(struct target *t)
{
    const char *base = strrchr(t->path, '/');
    base = base ? base + 1 : t->path;
    const char *dot = strrchr(base, '.');
    t->name = dot && dot != base ? xstrndup(base, (size_t)(dot - base)) : xstrdup(base);
}

/* Defaults and required keys after the last line. */
static int finish(struct target *t, const struct seen *seen, struct buf *err)
{
    if (!t->host) { buf_printf(err, "%s:0: missing key: host", t->path); return -1; }
    if (!seen->port) { buf_printf(err, "%s:0: missing key: port", t->path); return -1; }
    if (!t->name || !t->name[0]) { free(t->name); set_default_name(t); }
    if (!t->domain || !t->domain[0]) { free(t->domain); t->domain = xstrdup("localhost"); }
    if (t->ca_file && !t->ca_file[0]) { free(t->ca_file); t->ca_file = NULL; }
    if (!seen->quiet_period) t->quiet_period = 0.5;
    if (!seen->receive_timeout) t->receive_timeout = 5;
    if (!seen->scenario_timeout) t->scenario_timeout = 30;
    return 0;
}

int target_parse(const char *text, size_t len, const char *path,
                 struct target **out, struct buf *err)
{
    struct target *t = xcalloc(1, sizeof *t);
    t->path = xstrdup(path);
    struct seen seen = { 0 };
    struct line_ctx lc = { .path = path, .line = 0, .err = err };
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lc.line++;
        if (memchr(text + pos, '\0', n)) {
            line_error(&lc, "NUL byte in line", NULL);
            target_free(t);
            return -1;
        }
        if (parse_line(t, &seen, text + pos, n, &lc) != 0) {
            target_free(t);
            return -1;
        }
        pos += n + (nl ? 1 : 0);
    }
    if (finish(t, &seen, err) != 0) {
        target_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int target_load(const char *path, struct target **out, struct buf *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        buf_printf(err, "%s:0: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct buf text;
    buf_init(&text);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(&text, chunk, n);
        if (text.len > TARGET_MAX_BYTES) break;
    }
    bool read_error = ferror(f);
    fclose(f);
    if (read_error || text.len > TARGET_MAX_BYTES) {
        buf_printf(err, "%s:0: %s", path, read_error ? "read error" : "file too large");
        buf_free(&text);
        return -1;
    }
    int rc = target_parse(text.data ? text.data : "", text.len, path, out, err);
    buf_free(&text);
    return rc;
}

void target_free(struct target *t)
{
    if (!t) return;
    free(t->path); free(t->name); free(t->host); free(t->domain); free(t->ca_file);
    for (size_t i = 0; i < t->n_capabilities; i++) free(t->capabilities[i]);
    free(t->capabilities);
    free(t->setup); free(t->teardown); free(t->admin); free(t->log);
    for (size_t i = 0; i < t->n_skips; i++) {
        free(t->skips[i].scenario);
        free(t->skips[i].reason);
    }
    free(t->skips);
    for (size_t i = 0; i < t->n_vars; i++) {
        free(t->vars[i].name);
        free(t->vars[i].value);
    }
    free(t->vars);
    free(t);
}

bool target_has(const struct target *t, const char *capability)
{
    for (size_t i = 0; i < t->n_capabilities; i++)
        if (strcmp(t->capabilities[i], capability) == 0) return true;
    return false;
}

static bool path_suffix_match(const char *path, const char *suffix)
{
    size_t pn = strlen(path), sn = strlen(suffix);
    if (sn == 0 || sn > pn) return false;
    if (strcmp(path + pn - sn, suffix) != 0) return false;
    return sn == pn || path[pn - sn - 1] == '/';
}

const char *target_skip_reason(const struct target *t, const char *scenario_path)
{
    for (size_t i = 0; i < t->n_skips; i++)
        if (path_suffix_match(scenario_path, t->skips[i].scenario)) return t->skips[i].reason;
    return NULL;
}

const char *target_var(const struct target *t, const char *name)
{
    for (size_t i = 0; i < t->n_vars; i++)
        if (strcmp(t->vars[i].name, name) == 0) return t->vars[i].value;
    return NULL;
}
