#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

static const char *const log_names[LOG_KIND_COUNT] = {
    "warning.log", "error.log", "security.log", "config.log", "debug.log",
};

static int log_fds[LOG_KIND_COUNT] = { -1, -1, -1, -1, -1 };
static bool debug_on;
/* Before the first log_open lines are kept for the files; once closed,
 * they only go to stderr. */
static enum { LOGS_NOT_YET_OPEN, LOGS_OPEN, LOGS_CLOSED } log_state = LOGS_NOT_YET_OPEN;

/* Lines written before log_open (the configuration's warnings, read before
 * the log directory is known): kept, bounded, and written to their files
 * when they open, so CFG-4's Warnings land in warning.log too. */
#define EARLY_LINES_MAX 1000
struct early_line {
    enum log_kind kind;
    char *text;
};
static struct early_line early_lines[EARLY_LINES_MAX];
static size_t n_early_lines;

static void write_line(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
}

static void flush_early_lines(void)
{
    for (size_t i = 0; i < n_early_lines; i++) {
        struct early_line *e = &early_lines[i];
        if (log_fds[e->kind] >= 0) write_line(log_fds[e->kind], e->text, strlen(e->text));
        free(e->text);
    }
    n_early_lines = 0;
}

void log_format_stamp(time_t t, char *out, size_t outlen)
{
    static const char *const months[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    localtime_r(&t, &tm);
    snprintf(out, outlen, "[%02d/%s/%04d %02d:%02d:%02d] ", tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int log_open(const char *dir, bool debug_enabled)
{
    log_close();
    debug_on = debug_enabled;
    for (int k = 0; k < LOG_KIND_COUNT; k++) {
        if (k == LOG_DEBUG && !debug_enabled) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, log_names[k]);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) {
            int saved = errno;
            log_close();
            errno = saved;
            return -1;
        }
        log_fds[k] = fd;
    }
    log_state = LOGS_OPEN;
    flush_early_lines();
    return 0;
}

void log_close(void)
{
    for (int k = 0; k < LOG_KIND_COUNT; k++) {
        if (log_fds[k] >= 0) close(log_fds[k]);
        log_fds[k] = -1;
    }
    if (log_state == LOGS_OPEN) log_state = LOGS_CLOSED;
}

bool log_debug_enabled(void)
{
    return debug_on;
}

void log_write(enum log_kind kind, const char *fmt, ...)
{
    if (kind == LOG_DEBUG && !debug_on) return;
    char stamp[32];
    log_format_stamp(time(NULL), stamp, sizeof stamp);
    struct buf line;
    buf_init(&line);
    buf_puts(&line, stamp);
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        buf_append(&line, small, (size_t)n);
    } else if (n >= 0) {
        char *big = xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        buf_append(&line, big, (size_t)n);
        free(big);
    }
    va_end(ap2);
    va_end(ap);
    /* One record is one line: fold any newline the caller's data carried. */
    for (size_t i = strlen(stamp); i < line.len; i++)
        if (line.data[i] == '\n' || line.data[i] == '\r') line.data[i] = ' ';
    buf_append(&line, "\n", 1);
    if (log_state == LOGS_OPEN) {
        if (log_fds[kind] >= 0) write_line(log_fds[kind], line.data, line.len);
    } else {
        write_line(STDERR_FILENO, line.data, line.len);
        if (log_state == LOGS_NOT_YET_OPEN && n_early_lines < EARLY_LINES_MAX)
            early_lines[n_early_lines++] = (struct early_line){ kind, xstrdup(line.data) };
    }
    buf_free(&line);
}
