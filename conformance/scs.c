#include "scs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "match.h"

/* Scripts are small local files; anything bigger is a mistake. */
#define SCRIPT_MAX (16u * 1024 * 1024)

struct line {
    const char *s;   /* not NUL-terminated */
    size_t len;      /* without the line ending and trailing whitespace */
    unsigned no;     /* 1-based */
};

struct parser {
    const char *path;
    struct buf *err;
    struct scenario *sc;
    struct line *lines;
    size_t n_lines;
    size_t next;          /* index of the next line to read */
    bool in_steps;        /* the separator or a step was seen */
    bool seen_separator;
    bool seen_title;
    unsigned peer_use_line;   /* first line using the peer target; 0: none */
};

/* The body kinds a step may have. */
enum body { BODY_NONE, BODY_XML, BODY_RAW, BODY_CONDITION };

/* ---- small helpers --------------------------------------------------------- */

static bool is_hspace(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static const char *skip_hspace(const char *s, size_t *len)
{
    while (*len > 0 && is_hspace(*s)) s++, (*len)--;
    return s;
}

static size_t rtrim_len(const char *s, size_t len)
{
    while (len > 0 && is_hspace(s[len - 1])) len--;
    return len;
}

/* A malloc'd copy of s[0..len) with horizontal whitespace trimmed. */
static char *trimmed_dup(const char *s, size_t len)
{
    s = skip_hspace(s, &len);
    return xstrndup(s, rtrim_len(s, len));
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static bool is_blank(const struct line *l)
{
    return l->len == 0;
}

static bool is_indented(const struct line *l)
{
    return l->len > 0 && (l->s[0] == ' ' || l->s[0] == '\t');
}

static bool is_comment(const struct line *l)
{
    return l->len > 0 && l->s[0] == '#';
}

static bool is_client_header(const struct line *l)
{
    size_t n = strlen("[Client]");
    return starts_with(l->s, l->len, "[Client]") && (l->len == n || is_hspace(l->s[n]));
}

static bool is_separator(const struct line *l)
{
    if (l->len < 3) return false;
    for (size_t i = 0; i < l->len; i++)
        if (l->s[i] != '-') return false;
    return true;
}

static int error_at(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int error_at(struct parser *p, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *reason = xmalloc((size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(reason, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    va_end(ap);
    buf_printf(p->err, "%s:%u: %s", p->path, line, reason);
    free(reason);
    return -1;
}

static void add_word(char ***words, size_t *n, const char *s, size_t len)
{
    *words = xrealloc(*words, (*n + 1) * sizeof **words);
    (*words)[(*n)++] = xstrndup(s, len);
}

/* Adds the words of s[0..len) (separated by whitespace or commas). */
static void add_words(char ***words, size_t *n, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_hspace(s[i]) || s[i] == ',')) i++;
        size_t start = i;
        while (i < len && !is_hspace(s[i]) && s[i] != ',') i++;
        if (i > start) add_word(words, n, s + start, i - start);
    }
}

/* "# covers: ...", "# requires: ...", or the title (the first other
   comment before any client or step). */
static void read_comment(struct parser *p, const struct line *l)
{
    size_t len = l->len - 1;
    const char *s = skip_hspace(l->s + 1, &len);
    struct scenario *sc = p->sc;
    if (starts_with(s, len, "covers:")) {
        add_words(&sc->covers, &sc->n_covers, s + 7, len - 7);
    } else if (starts_with(s, len, "requires:")) {
        add_words(&sc->requires, &sc->n_requires, s + 9, len - 9);
    } else if (!p->seen_title && !p->in_steps && sc->n_clients == 0 && len > 0) {
        free(sc->title);
        sc->title = xstrndup(s, len);
        p->seen_title = true;
    }
}

/* Index of the first line after `from` that ends a block body: the next
   non-indented line that is neither blank nor a comment. */
static size_t body_end(const struct parser *p, size_t from)
{
    size_t i = from;
    while (i < p->n_lines) {
        const struct line *l = &p->lines[i];
        if (!is_blank(l) && !is_indented(l) && !is_comment(l)) break;
        i++;
    }
    return i;
}

static void note_peer_use(struct parser *p, unsigned line)
{
    if (!p->peer_use_line) p->peer_use_line = line;
}

/* ---- clients --------------------------------------------------------------- */

const struct scs_client *scs_find_client(const struct scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->n_clients; i++)
        if (strcmp(sc->clients[i].name, name) == 0) return &sc->clients[i];
    return NULL;
}

const char *scs_client_option(const struct scs_client *c, const char *key)
{
    for (size_t i = 0; i < c->n_options; i++)
        if (strcmp(c->options[i].key, key) == 0) return c->options[i].value;
    return NULL;
}

static int read_option(struct parser *p, struct scs_client *c, const struct line *l)
{
    const char *colon = memchr(l->s, ':', l->len);
    char *key = colon ? trimmed_dup(l->s, (size_t)(colon - l->s)) : NULL;
    if (!key || !*key) {
        free(key);
        return error_at(p, l->no, "expected 'key: value' in client '%s'", c->name);
    }
    if (scs_client_option(c, key)) {
        error_at(p, l->no, "duplicate option '%s' in client '%s'", key, c->name);
        free(key);
        return -1;
    }
    c->options = xrealloc(c->options, (c->n_options + 1) * sizeof *c->options);
    struct scs_option *o = &c->options[c->n_options++];
    o->key = key;
    o->value = trimmed_dup(colon + 1, l->len - (size_t)(colon + 1 - l->s));
    return 0;
}

static int parse_client(struct parser *p)
{
    const struct line *head = &p->lines[p->next];
    size_t tag = strlen("[Client]");
    char *name = trimmed_dup(head->s + tag, head->len - tag);
    int rc = 0;
    if (!*name) rc = error_at(p, head->no, "[Client] without a name");
    else if (p->in_steps) rc = error_at(p, head->no, "client '%s' declared after the steps began", name);
    else if (scs_find_client(p->sc, name)) rc = error_at(p, head->no, "duplicate client '%s'", name);
    if (rc) {
        free(name);
        return rc;
    }
    struct scenario *sc = p->sc;
    sc->clients = xrealloc(sc->clients, (sc->n_clients + 1) * sizeof *sc->clients);
    struct scs_client *c = &sc->clients[sc->n_clients++];
    *c = (struct scs_client){ .name = name, .line = head->no };
    size_t end = body_end(p, p->next + 1);
    for (size_t i = p->next + 1; i < end; i++) {
        const struct line *l = &p->lines[i];
        if (is_comment(l)) read_comment(p, l);
        else if (is_indented(l) && read_option(p, c, l)) return -1;
    }
    p->next = end;
    const char *jid = scs_client_option(c, "jid");
    if (!jid || !*jid) return error_at(p, head->no, "client '%s' has no jid", name);
    const char *target = scs_client_option(c, "target");
    if (target && strcmp(target, "peer") == 0) {
        c->peer = true;
        note_peer_use(p, head->no);
    } else if (target && strcmp(target, "main") != 0) {
        return error_at(p, head->no, "client '%s': target must be main or peer, not '%s'", name, target);
    }
    return 0;
}

/* ---- steps ----------------------------------------------------------------- */

static const struct {
    const char *suffix;     /* after the client name */
    enum scs_step_kind kind;
    enum body body;
} client_suffix_steps[] = {
    { " connects", SCS_CONNECTS, BODY_NONE },
    { " disconnects", SCS_DISCONNECTS, BODY_NONE },
    { " sends:", SCS_SENDS, BODY_XML },
    { " receives:", SCS_RECEIVES, BODY_XML },
    { " receives nothing", SCS_RECEIVES_NOTHING, BODY_NONE },
    { " sends raw:", SCS_SENDS_RAW, BODY_RAW },
    { " is disconnected", SCS_IS_DISCONNECTED, BODY_NONE },
};

static const struct {
    const char *infix;      /* between the client name and a <condition/> */
    enum scs_step_kind kind;
} client_condition_steps[] = {
    { " fails to connect with ", SCS_FAILS_TO_CONNECT },
    { " receives stream error ", SCS_RECEIVES_STREAM_ERROR },
};

static const char *const log_names[] = { "warning", "error", "security", "config", "archive" };

static struct scs_step *add_step(struct parser *p, enum scs_step_kind kind, unsigned line)
{
    struct scenario *sc = p->sc;
    sc->steps = xrealloc(sc->steps, (sc->n_steps + 1) * sizeof *sc->steps);
    struct scs_step *st = &sc->steps[sc->n_steps++];
    *st = (struct scs_step){ .kind = kind, .text = xstrdup(""), .line = line };
    return st;
}

static void set_text(struct scs_step *st, char *text, size_t len)
{
    free(st->text);
    st->text = text;
    st->text_len = len;
}

static const char *placeholder(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return "placeholder";
}

/* Every ${...} in text must be one of the four forms naming a declared
   client, or ${target:NAME} / ${peer:NAME}. */
static int check_variables(struct parser *p, const char *text, unsigned line)
{
    const char *s = text, *open;
    while ((open = strstr(s, "${")) != NULL) {
        const char *close = strchr(open + 2, '}');
        if (!close) return error_at(p, line, "unterminated ${");
        char *name = xstrndup(open + 2, (size_t)(close - open - 2));
        char *client = NULL;
        enum scs_var_kind kind;
        bool peer;
        const char *profile_var;
        bool known = scs_profile_var_split(name, &peer, &profile_var)
                  || (scs_var_split(name, &client, &kind) && scs_find_client(p->sc, client));
        if (known && !client && peer) note_peer_use(p, line);
        if (!known) error_at(p, line, "unknown variable ${%s}", name);
        free(client);
        free(name);
        if (!known) return -1;
        s = close + 1;
    }
    return 0;
}

/* The payload must be well-formed once variables have values. */
static int check_payload(struct parser *p, const char *xml, unsigned line)
{
    if (check_variables(p, xml, line)) return -1;
    struct buf why;
    buf_init(&why);
    char *sample = scs_expand(xml, placeholder, NULL, &why);
    xnode **nodes;
    size_t n;
    int rc = scs_parse_payload(sample, strlen(sample), "jabber:client", &nodes, &n, &why);
    if (rc) error_at(p, line, "payload is not well-formed XML (%s)", why.data);
    else scs_free_payload(nodes, n);
    free(sample);
    buf_free(&why);
    return rc;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends the line's bytes to out, decoding \n \r \t \\ \xNN. */
static int decode_raw(struct parser *p, const char *s, size_t len, unsigned line, struct buf *out)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            buf_append(out, &s[i], 1);
            continue;
        }
        char c = i + 1 < len ? s[i + 1] : '\0';
        char byte;
        if (c == 'n') byte = '\n';
        else if (c == 'r') byte = '\r';
        else if (c == 't') byte = '\t';
        else if (c == '\\') byte = '\\';
        else if (c == 'x' && i + 3 < len && hex_value(s[i + 2]) >= 0 && hex_value(s[i + 3]) >= 0)
            byte = (char)(hex_value(s[i + 2]) * 16 + hex_value(s[i + 3]));
        else {
            size_t want = c == 'x' ? 4 : 2;
            size_t shown = len - i < want ? len - i : want;
            return error_at(p, line, "bad escape '%.*s' in raw data", (int)shown, s + i);
        }
        buf_append(out, &byte, 1);
        i += c == 'x' ? 3 : 1;
    }
    return 0;
}

/* Reads the indented lines after the step line into st->text: XML lines
   joined with \n, or raw lines decoded and joined without separators
   (their ${...} checked like a payload's, left for run time). */
static int read_body(struct parser *p, struct scs_step *st, enum body body, const char *keyword)
{
    size_t end = body_end(p, p->next + 1);
    struct buf text;
    buf_init(&text);
    bool any = false;
    int rc = 0;
    for (size_t i = p->next + 1; i < end && rc == 0; i++) {
        const struct line *l = &p->lines[i];
        if (is_comment(l)) read_comment(p, l);
        if (!is_indented(l)) continue;
        size_t len = l->len;
        const char *s = skip_hspace(l->s, &len);
        if (body == BODY_RAW) {
            char *source = xstrndup(s, len);
            rc = check_variables(p, source, l->no);
            free(source);
            if (rc == 0) rc = decode_raw(p, s, len, l->no, &text);
        } else {
            if (any) buf_puts(&text, "\n");
            buf_append(&text, s, len);
        }
        any = true;
    }
    p->next = end;
    if (rc == 0 && !any) rc = error_at(p, st->line, "%s without payload", keyword);
    size_t len = text.len;
    set_text(st, buf_steal(&text), len);
    if (rc == 0 && body == BODY_XML) rc = check_payload(p, st->text, st->line);
    return rc;
}

/* "<not-authorized/>" -> "not-authorized". */
static int read_condition(struct parser *p, struct scs_step *st, const char *s, size_t len)
{
    s = skip_hspace(s, &len);
    bool ok = len > 3 && s[0] == '<' && ends_with(s, len, "/>");
    size_t name_len = 0;
    if (ok) {
        name_len = rtrim_len(s + 1, len - 3);
        for (size_t i = 0; i < name_len; i++) {
            char c = s[1 + i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) ok = false;
        }
    }
    if (!ok || name_len == 0)
        return error_at(p, st->line, "expected a condition such as <not-authorized/>, got '%.*s'",
                        (int)len, s);
    set_text(st, xstrndup(s + 1, name_len), name_len);
    return 0;
}

/* A step argument after "Admin runs:", "Admin fails:", "Admin output
   contains:" or "... log contains:". */
static int read_argument(struct parser *p, struct scs_step *st, const char *s, size_t len,
                         const char *keyword)
{
    char *arg = trimmed_dup(s, len);
    set_text(st, arg, strlen(arg));
    if (!*arg) return error_at(p, st->line, "%s without an argument", keyword);
    return check_variables(p, arg, st->line);
}

static const struct {
    const char *keyword;
    enum scs_step_kind kind;
    bool peer;
} admin_steps[] = {
    { "Admin runs:", SCS_ADMIN_RUNS, false },
    { "Admin fails:", SCS_ADMIN_FAILS, false },
    { "Admin output contains:", SCS_ADMIN_OUTPUT_CONTAINS, false },
    { "Peer admin runs:", SCS_ADMIN_RUNS, true },
    { "Peer admin fails:", SCS_ADMIN_FAILS, true },
};

static int parse_admin_or_log(struct parser *p, const struct line *l, bool *matched)
{
    *matched = true;
    for (size_t i = 0; i < sizeof admin_steps / sizeof admin_steps[0]; i++) {
        const char *keyword = admin_steps[i].keyword;
        if (!starts_with(l->s, l->len, keyword)) continue;
        struct scs_step *st = add_step(p, admin_steps[i].kind, l->no);
        st->peer = admin_steps[i].peer;
        if (st->peer) note_peer_use(p, l->no);
        p->next++;
        return read_argument(p, st, l->s + strlen(keyword), l->len - strlen(keyword), keyword);
    }
    static const char log_contains[] = " log contains:";
    const char *at = memmem(l->s, l->len, log_contains, strlen(log_contains));
    if (at) {
        size_t word_len = (size_t)(at - l->s);
        for (size_t i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
            if (word_len != strlen(log_names[i]) || strncasecmp(l->s, log_names[i], word_len) != 0)
                continue;
            struct scs_step *st = add_step(p, SCS_LOG_CONTAINS, l->no);
            st->log_name = xstrdup(log_names[i]);
            p->next++;
            size_t arg = word_len + strlen(log_contains);
            return read_argument(p, st, l->s + arg, l->len - arg, "log contains:");
        }
        return error_at(p, l->no, "unknown log '%.*s' (warning, error, security, config or archive)",
                        (int)word_len, l->s);
    }
    *matched = false;
    return 0;
}

static int begin_client_step(struct parser *p, const struct line *l, size_t name_len,
                             enum scs_step_kind kind, struct scs_step **out)
{
    char *name = xstrndup(l->s, name_len);
    if (!scs_find_client(p->sc, name)) {
        error_at(p, l->no, "undeclared client '%s'", name);
        free(name);
        return -1;
    }
    *out = add_step(p, kind, l->no);
    (*out)->client = name;
    return 0;
}

static int parse_client_step(struct parser *p, const struct line *l)
{
    struct scs_step *st;
    for (size_t i = 0; i < sizeof client_suffix_steps / sizeof client_suffix_steps[0]; i++) {
        const char *suffix = client_suffix_steps[i].suffix;
        size_t suffix_len = strlen(suffix);
        if (l->len <= suffix_len || !ends_with(l->s, l->len, suffix)) continue;
        if (begin_client_step(p, l, l->len - suffix_len, client_suffix_steps[i].kind, &st))
            return -1;
        enum body body = client_suffix_steps[i].body;
        if (body == BODY_NONE) {
            p->next++;
            return 0;
        }
        return read_body(p, st, body, suffix + 1);
    }
    for (size_t i = 0; i < sizeof client_condition_steps / sizeof client_condition_steps[0]; i++) {
        const char *infix = client_condition_steps[i].infix;
        const char *at = memmem(l->s, l->len, infix, strlen(infix));
        if (!at || at == l->s) continue;
        if (begin_client_step(p, l, (size_t)(at - l->s), client_condition_steps[i].kind, &st))
            return -1;
        p->next++;
        size_t arg = (size_t)(at - l->s) + strlen(infix);
        return read_condition(p, st, l->s + arg, l->len - arg);
    }
    return error_at(p, l->no, "unknown step '%.*s'", (int)l->len, l->s);
}

static int parse_step(struct parser *p)
{
    const struct line *l = &p->lines[p->next];
    p->in_steps = true;
    bool matched;
    int rc = parse_admin_or_log(p, l, &matched);
    return matched ? rc : parse_client_step(p, l);
}

/* ---- the script -------------------------------------------------------------- */

static int read_separator(struct parser *p)
{
    const struct line *l = &p->lines[p->next];
    if (p->seen_separator) return error_at(p, l->no, "a second separator line");
    if (p->in_steps) return error_at(p, l->no, "separator line after the steps began");
    p->seen_separator = p->in_steps = true;
    p->next++;
    return 0;
}

bool scs_requires_peer(const struct scenario *sc)
{
    for (size_t i = 0; i < sc->n_requires; i++)
        if (strcmp(sc->requires[i], "peer") == 0 || strncmp(sc->requires[i], "peer:", 5) == 0)
            return true;
    return false;
}

/* A script that uses the peer target must say so (it is skipped without one). */
static int check_peer_declared(struct parser *p)
{
    if (!p->peer_use_line || scs_requires_peer(p->sc)) return 0;
    return error_at(p, p->peer_use_line, "uses the peer target without '# requires: peer'");
}

static int parse_lines(struct parser *p)
{
    while (p->next < p->n_lines) {
        const struct line *l = &p->lines[p->next];
        int rc = 0;
        if (is_blank(l)) p->next++;
        else if (is_comment(l)) read_comment(p, l), p->next++;
        else if (is_indented(l)) rc = error_at(p, l->no, "indented line outside a client or a step");
        else if (is_client_header(l)) rc = parse_client(p);
        else if (is_separator(l)) rc = read_separator(p);
        else rc = parse_step(p);
        if (rc) return rc;
    }
    return 0;
}

/* Splits text into lines (\n or \r\n), trailing whitespace dropped. */
static int split_lines(struct parser *p, const char *text, size_t len)
{
    if (memchr(text, '\0', len)) {
        size_t at = (size_t)((const char *)memchr(text, '\0', len) - text);
        unsigned line = 1;
        for (size_t i = 0; i < at; i++) line += text[i] == '\n';
        return error_at(p, line, "NUL byte in the script");
    }
    size_t start = 0;
    unsigned no = 1;
    while (start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        p->lines = xrealloc(p->lines, (p->n_lines + 1) * sizeof *p->lines);
        p->lines[p->n_lines++] = (struct line){
            .s = text + start, .len = rtrim_len(text + start, end - start), .no = no++,
        };
        start = end + 1;
    }
    return 0;
}

int scs_parse(const char *text, size_t len, const char *path, struct scenario **out, struct buf *err)
{
    struct scenario *sc = xcalloc(1, sizeof *sc);
    sc->path = xstrdup(path);
    sc->title = xstrdup("");
    struct parser p = { .path = path, .err = err, .sc = sc };
    int rc = split_lines(&p, text, len);
    if (rc == 0) rc = parse_lines(&p);
    if (rc == 0) rc = check_peer_declared(&p);
    free(p.lines);
    if (rc) {
        scs_free(sc);
        return -1;
    }
    *out = sc;
    return 0;
}

int scs_load(const char *path, struct scenario **out, struct buf *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        buf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct buf text;
    buf_init(&text);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && text.len <= SCRIPT_MAX)
        buf_append(&text, chunk, n);
    bool failed = ferror(f);
    fclose(f);
    int rc = -1;
    if (failed) buf_printf(err, "%s: read error", path);
    else if (text.len > SCRIPT_MAX) buf_printf(err, "%s: larger than %u bytes", path, SCRIPT_MAX);
    else rc = scs_parse(text.data ? text.data : "", text.len, path, out, err);
    buf_free(&text);
    return rc;
}

static void free_words(char **words, size_t n)
{
    for (size_t i = 0; i < n; i++) free(words[i]);
    free(words);
}

void scs_free(struct scenario *sc)
{
    if (!sc) return;
    for (size_t i = 0; i < sc->n_clients; i++) {
        struct scs_client *c = &sc->clients[i];
        for (size_t j = 0; j < c->n_options; j++) {
            free(c->options[j].key);
            free(c->options[j].value);
        }
        free(c->options);
        free(c->name);
    }
    free(sc->clients);
    for (size_t i = 0; i < sc->n_steps; i++) {
        free(sc->steps[i].client);
        free(sc->steps[i].text);
        free(sc->steps[i].log_name);
    }
    free(sc->steps);
    free_words(sc->covers, sc->n_covers);
    free_words(sc->requires, sc->n_requires);
    free(sc->title);
    free(sc->path);
    free(sc);
}
