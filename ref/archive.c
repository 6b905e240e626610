#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "log.h"
#include "xmlstream.h"

#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"
#define STAMP_LEN 23            /* "[DD/Mon/YYYY HH:MM:SS] " */
#define DAY_NAME_LEN 14         /* "YYYY-MM-DD.log" */
#define READ_CHUNK 65536

static const char *const month_names[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* ---- the line format ------------------------------------------------------ */

/* Appends xml with CR, LF and TAB as character references. */
static void append_one_line(struct buf *out, const char *xml, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *ref;
        switch (xml[i]) {
        case '\r': ref = "&#13;"; break;
        case '\n': ref = "&#10;"; break;
        case '\t': ref = "&#9;"; break;
        default: continue;
        }
        buf_append(out, xml + start, i - start);
        buf_puts(out, ref);
        start = i + 1;
    }
    buf_append(out, xml + start, len - start);
}

void archive_format_line(time_t t, const xnode *stanza, struct buf *out)
{
    char stamp[32];
    log_format_stamp(t, stamp, sizeof stamp);
    buf_puts(out, stamp);
    /* A stanza received over S2S is in jabber:server: written without an
       xmlns, it reads back as the same stanza in jabber:client. */
    const char *context = stanza->ns && strcmp(stanza->ns, NS_SERVER) == 0 ? NS_SERVER : NS_CLIENT;
    struct buf xml;
    buf_init(&xml);
    xnode_serialize(stanza, context, &xml);
    append_one_line(out, xml.data, xml.len);
    buf_free(&xml);
    buf_puts(out, "\n");
}

void archive_day_file_name(time_t t, char out[16])
{
    struct tm tm;
    localtime_r(&t, &tm);
    /* Only a year beyond 9999 does not fit: an empty name, which no file has. */
    if (strftime(out, 16, "%Y-%m-%d.log", &tm) != DAY_NAME_LEN) out[0] = '\0';
}

/* Reads n digits at s; -1 if any is not a digit. */
static int parse_digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int parse_month(const char *s)
{
    for (int m = 0; m < 12; m++)
        if (memcmp(s, month_names[m], 3) == 0) return m;
    return -1;
}

static bool stamp_punctuation_ok(const char *s)
{
    return s[0] == '[' && s[3] == '/' && s[7] == '/' && s[12] == ' ' && s[15] == ':'
        && s[18] == ':' && s[21] == ']' && s[22] == ' ';
}

/* "[DD/Mon/YYYY HH:MM:SS] " (local time) to time_t; -1 if malformed. */
static int parse_stamp(const char *s, time_t *t)
{
    if (!stamp_punctuation_ok(s)) return -1;
    int day = parse_digits(s + 1, 2), month = parse_month(s + 4);
    int year = parse_digits(s + 8, 4), hour = parse_digits(s + 13, 2);
    int minute = parse_digits(s + 16, 2), second = parse_digits(s + 19, 2);
    if (day < 1 || day > 31 || month < 0 || year < 0 || hour < 0 || hour > 23
        || minute < 0 || minute > 59 || second < 0 || second > 60)
        return -1;
    struct tm tm = { .tm_mday = day, .tm_mon = month, .tm_year = year - 1900,
                     .tm_hour = hour, .tm_min = minute, .tm_sec = second, .tm_isdst = -1 };
    time_t v = mktime(&tm);
    if (v == (time_t)-1 || tm.tm_mday != day || tm.tm_mon != month || tm.tm_year != year - 1900)
        return -1;   /* e.g. 31/Feb */
    *t = v;
    return 0;
}

/* What the parser saw of one line inside a synthetic stream. */
struct line_parse {
    xnode *stanza;
    unsigned stanzas;
    bool closed, failed;
};

static void on_line_open(void *ctx, const xnode *header)
{
    (void)ctx, (void)header;
}

static void on_line_stanza(void *ctx, xnode *stanza)
{
    struct line_parse *p = ctx;
    p->stanzas++;
    if (p->stanza) xnode_free(p->stanza);
    p->stanza = stanza;
}

static void on_line_close(void *ctx)
{
    ((struct line_parse *)ctx)->closed = true;
}

static void on_line_error(void *ctx, const char *condition, const char *text)
{
    (void)condition, (void)text;
    ((struct line_parse *)ctx)->failed = true;
}

static const char line_stream_open[] =
    "<stream:stream xmlns='" NS_CLIENT "' xmlns:stream='" XMLNS_STREAMS "'>";
static const char line_stream_close[] = "</stream:stream>";

/* The one element of xml, which must be a <message/> in jabber:client and
 * all there is (a close tag after it fails if anything is left open). */
static xnode *parse_message_element(const char *xml, size_t len)
{
    static const struct xmlstream_callbacks cb = { on_line_open, on_line_stanza,
                                                   on_line_close, on_line_error };
    /* The line bounds everything; the parser needs no tighter limits. */
    struct xmlstream_limits limits = { len + sizeof line_stream_open, UINT_MAX, UINT_MAX,
                                       UINT_MAX };
    struct line_parse p = { 0 };
    xmlstream *xs = xmlstream_new(&cb, &p, &limits);
    xmlstream_feed(xs, line_stream_open, sizeof line_stream_open - 1, NULL);
    xmlstream_feed(xs, xml, len, NULL);
    xmlstream_feed(xs, line_stream_close, sizeof line_stream_close - 1, NULL);
    xmlstream_free(xs);
    bool ok = !p.failed && p.closed && p.stanzas == 1 && strcmp(p.stanza->name, "message") == 0
           && p.stanza->ns && strcmp(p.stanza->ns, NS_CLIENT) == 0;
    if (!ok && p.stanza) {
        xnode_free(p.stanza);
        return NULL;
    }
    return p.stanza;
}

int archive_parse_line(const char *line, size_t len, time_t *t, xnode **stanza)
{
    time_t when;
    if (len <= STAMP_LEN || parse_stamp(line, &when) != 0) return -1;
    xnode *msg = parse_message_element(line + STAMP_LEN, len - STAMP_LEN);
    if (!msg) return -1;
    *t = when;
    *stanza = msg;
    return 0;
}

/* ---- the reader ------------------------------------------------------------ */

static bool line_is_archive_line(const char *line, size_t len)
{
    time_t t;
    xnode *stanza;
    if (archive_parse_line(line, len, &t, &stanza) != 0) return false;
    xnode_free(stanza);
    return true;
}

/* Hands each complete line of `pending` to fn (or counts it) and drops it. */
static void take_complete_lines(struct buf *pending, void (*fn)(const char *, size_t, void *),
                                void *ctx, size_t *skipped)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(pending->data + start, '\n', pending->len - start);
        if (!nl) break;
        size_t len = (size_t)(nl - (pending->data + start));
        *nl = '\0';
        if (line_is_archive_line(pending->data + start, len)) fn(pending->data + start, len, ctx);
        else (*skipped)++;
        start += len + 1;
    }
    buf_consume(pending, start);
}

int archive_read_file(const char *path, void (*fn)(const char *line, size_t len, void *ctx),
                      void *ctx, size_t *skipped)
{
    size_t skipped_here = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct buf pending;
    buf_init(&pending);
    char *chunk = xmalloc(READ_CHUNK);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, READ_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0) break;
        buf_append(&pending, chunk, (size_t)n);
        take_complete_lines(&pending, fn, ctx, &skipped_here);
    }
    int saved = errno;
    if (rc == 0 && pending.len > 0) skipped_here++;   /* a torn last line */
    free(chunk);
    buf_free(&pending);
    close(fd);
    if (skipped) *skipped = skipped_here;
    errno = saved;
    return rc;
}

/* ---- the writer ------------------------------------------------------------ */

struct archive_entry {
    char *line;            /* with its '\n' */
    size_t len;
    char day[16];          /* its day file's name */
    xnode *msg;
    char *sender;
    bool deliver;
};

struct archive {
    struct ev_loop *loop;
    char *dir;
    enum archive_failure_mode policy;
    archive_release_fn release;
    void *owner;
    struct archive_entry *entries;   /* the pending batch, in submit order */
    size_t n, cap;
    ev_prepare flush_watcher;        /* flushes at the end of the loop iteration */
    ev_idle wake_watcher;            /* keeps the loop from blocking while entries wait */
    int fd;                          /* the open day file, -1 if none */
    char fd_day[16];
    bool flushing;
};

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop, (void)revents;
    archive_flush(w->data);
}

/* Nothing to do: while the idle watcher is active the loop polls without
 * blocking, so entries submitted after this iteration's prepare watchers
 * ran (e.g. from a release) are flushed in the next iteration. */
static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop, (void)w, (void)revents;
}

struct archive *archive_new(struct ev_loop *loop, const char *dir,
                            enum archive_failure_mode policy,
                            archive_release_fn release, void *owner)
{
    struct archive *a = xcalloc(1, sizeof *a);
    a->loop = loop;
    a->dir = xstrdup(dir);
    a->policy = policy;
    a->release = release;
    a->owner = owner;
    a->fd = -1;
    ev_prepare_init(&a->flush_watcher, on_prepare);
    a->flush_watcher.data = a;
    ev_idle_init(&a->wake_watcher, on_idle);
    return a;
}

static void close_day_file(struct archive *a)
{
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    a->fd_day[0] = '\0';
}

void archive_free(struct archive *a)
{
    if (!a) return;
    while (a->n > 0) archive_flush(a);   /* a release may submit again */
    ev_prepare_stop(a->loop, &a->flush_watcher);
    ev_idle_stop(a->loop, &a->wake_watcher);
    close_day_file(a);
    free(a->entries);
    free(a->dir);
    free(a);
}

void archive_configure(struct archive *a, const char *dir, enum archive_failure_mode policy)
{
    a->policy = policy;
    if (strcmp(dir, a->dir) == 0) return;
    free(a->dir);
    a->dir = xstrdup(dir);
    close_day_file(a);
}

void archive_submit(struct archive *a, xnode *msg, const char *sender)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->entries = xrealloc(a->entries, a->cap * sizeof *a->entries);
    }
    struct archive_entry *e = &a->entries[a->n++];
    time_t now = time(NULL);
    struct buf line;
    buf_init(&line);
    archive_format_line(now, msg, &line);
    e->len = line.len;
    e->line = buf_steal(&line);
    archive_day_file_name(now, e->day);
    e->msg = msg;
    e->sender = sender ? xstrdup(sender) : NULL;
    e->deliver = false;
    ev_prepare_start(a->loop, &a->flush_watcher);
    ev_idle_start(a->loop, &a->wake_watcher);
}

/* Creates path (0750) if missing; *created tells whether it did. */
static int ensure_dir(const char *path, bool *created)
{
    *created = false;
    if (mkdir(path, 0750) == 0) {
        *created = true;
        return 0;
    }
    return errno == EEXIST ? 0 : -1;
}

/* The directory containing path ("." for a bare name), malloc'd. */
static char *parent_dir(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    while (len > 0 && path[len - 1] != '/') len--;
    while (len > 1 && path[len - 1] == '/') len--;
    return len == 0 ? xstrdup(".") : xstrndup(path, len);
}

/* dir and dir/xmpp exist, and their new entries are durable. */
static int ensure_archive_dirs(const char *dir, const char *xmpp_dir)
{
    bool dir_created, xmpp_created;
    if (ensure_dir(dir, &dir_created) != 0) return -1;
    if (dir_created) {
        char *parent = parent_dir(dir);
        int rc = durable_sync_dir(parent);
        free(parent);
        if (rc != 0) return -1;
    }
    if (ensure_dir(xmpp_dir, &xmpp_created) != 0) return -1;
    if (xmpp_created && durable_sync_dir(dir) != 0) return -1;
    return 0;
}

/* After a crash mid-line the file ends in a fragment: end it, so that the
 * next line starts on its own (readers skip the fragment). */
static int end_torn_line(int fd, off_t size)
{
    char last;
    ssize_t n;
    do n = pread(fd, &last, 1, size - 1);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    if (n == 1 && last == '\n') return 0;
    return durable_write_all(fd, "\n", 1) != 0 || fdatasync(fd) != 0 ? -1 : 0;
}

/* Opens dir/xmpp/day for appending, durable as an entry if new. */
static int open_day_file(const char *dir, const char *path, const char *day_dir)
{
    if (ensure_archive_dirs(dir, day_dir) != 0) return -1;
    /* Read access for the last byte of an existing file (end_torn_line). */
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && st.st_size == 0) rc = durable_sync_dir(day_dir);   /* new (or still empty) */
    else if (rc == 0) rc = end_torn_line(fd, st.st_size);
    if (rc != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Writes entries [from, to) (one day file) and syncs them; -1 with errno. */
static int write_group(struct archive *a, const struct archive_entry *batch, size_t from,
                       size_t to, const char *path, const char *day_dir)
{
    const char *day = batch[from].day;
    if (a->fd >= 0 && strcmp(a->fd_day, day) != 0) close_day_file(a);
    if (a->fd < 0) {
        a->fd = open_day_file(a->dir, path, day_dir);
        if (a->fd < 0) return -1;
        snprintf(a->fd_day, sizeof a->fd_day, "%s", day);
    }
    for (size_t i = from; i < to; i++)
        if (durable_write_all(a->fd, batch[i].line, batch[i].len) != 0) return -1;
    return fdatasync(a->fd);
}

static void archive_group(struct archive *a, struct archive_entry *batch, size_t from, size_t to)
{
    struct buf day_dir, path;
    buf_init(&day_dir);
    buf_init(&path);
    buf_printf(&day_dir, "%s/%s", a->dir, ARCHIVE_SUBDIR);
    buf_printf(&path, "%s/%s", day_dir.data, batch[from].day);
    bool ok = write_group(a, batch, from, to, path.data, day_dir.data) == 0;
    if (!ok) {
        int err = errno;
        close_day_file(a);   /* reopened (and a torn tail ended) next time */
        log_write(LOG_ERROR, "Archive: cannot write %s: %s; %u message(s) %s.", path.data,
                  strerror(err), (unsigned)(to - from),
                  a->policy == ARCHIVE_ON_FAILURE_REFUSE ? "refused" : "delivered unarchived");
    }
    for (size_t i = from; i < to; i++)
        batch[i].deliver = ok || a->policy == ARCHIVE_ON_FAILURE_DELIVER;
    buf_free(&day_dir);
    buf_free(&path);
}

void archive_flush(struct archive *a)
{
    if (a->flushing) return;
    a->flushing = true;
    struct archive_entry *batch = a->entries;
    size_t n = a->n;
    a->entries = NULL;
    a->n = a->cap = 0;
    for (size_t from = 0, to; from < n; from = to) {
        for (to = from + 1; to < n && strcmp(batch[to].day, batch[from].day) == 0; to++) {}
        archive_group(a, batch, from, to);
    }
    /* Only now, with the whole batch durable, may its messages go on; a
       release may submit again (a new batch for the next iteration). */
    for (size_t i = 0; i < n; i++) {
        free(batch[i].line);
        a->release(a->owner, batch[i].msg, batch[i].sender, batch[i].deliver);
        free(batch[i].sender);
    }
    free(batch);
    if (a->n == 0) {
        ev_prepare_stop(a->loop, &a->flush_watcher);
        ev_idle_stop(a->loop, &a->wake_watcher);
    }
    a->flushing = false;
}

/* ---- listing ----------------------------------------------------------------- */

static bool is_day_file_name(const char *name)
{
    static const char shape[] = "dddd-dd-dd.log";
    if (strlen(name) != DAY_NAME_LEN) return false;
    for (size_t i = 0; i < DAY_NAME_LEN; i++) {
        if (shape[i] == 'd' ? (name[i] < '0' || name[i] > '9') : name[i] != shape[i])
            return false;
    }
    return true;
}

static int compare_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

int archive_list_files(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    struct buf path;
    buf_init(&path);
    buf_printf(&path, "%s/%s", dir, ARCHIVE_SUBDIR);
    DIR *d = opendir(path.data);
    buf_free(&path);
    if (!d) return errno == ENOENT ? 0 : -1;
    size_t cap = 0;
    struct dirent *de;
    for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
        if (!is_day_file_name(de->d_name)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *names = xrealloc(*names, cap * sizeof **names);
        }
        (*names)[(*n)++] = xstrdup(de->d_name);
    }
    int read_error = errno;
    closedir(d);
    if (read_error != 0) {
        free_names(*names, *n);
        *names = NULL;
        *n = 0;
        errno = read_error;
        return -1;
    }
    if (*n > 0) qsort(*names, *n, sizeof **names, compare_names);
    return 0;
}
