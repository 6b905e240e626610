/* log: the server's log files (SPEC LOG-1..3).
 * warning.log, error.log, security.log, config.log and debug.log in one
 * directory; each line starts "[DD/Mon/YYYY HH:MM:SS] " in local time.
 * The module owns the open file descriptors; every line is one write(2)
 * with O_APPEND, so nothing is buffered in the process and nothing is lost
 * on exit. Before the first log_open lines go to stderr and are also kept
 * (up to 1000) for log_open to write to their files (the configuration's
 * Warnings come before the log directory is known); after log_close they
 * go to stderr only. */
#ifndef IMREF_LOG_H
#define IMREF_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum log_kind { LOG_WARNING, LOG_ERROR, LOG_SECURITY, LOG_CONFIG, LOG_DEBUG, LOG_KIND_COUNT };

/* Opens (creating) the files in `dir`. Returns 0, or -1 with errno set. */
int log_open(const char *dir, bool debug_enabled);
void log_close(void);
bool log_debug_enabled(void);

void log_write(enum log_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "[DD/Mon/YYYY HH:MM:SS] " for `t` (local time) into out (>= 24 bytes). */
void log_format_stamp(time_t t, char *out, size_t outlen);

#endif
