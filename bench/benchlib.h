/* benchlib: what the load clients of `make bench` share (roster_bench,
 * message_bench): the clock, argument counts, logging a numbered user in,
 * sending and reading through xclient, and percentiles. Every failure is
 * fatal: a message on stderr naming bench_program, exit 1 (usage: 2). The
 * caller owns the clients and the samples' array. */
#ifndef IMREF_BENCHLIB_H
#define IMREF_BENCHLIB_H

#include <stddef.h>

#include "xclient.h"
#include "xnode.h"

#define BENCH_CLIENT_TIMEOUT 10.0   /* seconds per xclient operation */

/* The program's name for messages ("roster_bench"); set by main. */
extern const char *bench_program;

_Noreturn void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/* A decimal count in [min, max]; anything else calls usage (which exits). */
size_t bench_parse_count(const char *s, size_t min, size_t max, void (*usage)(void));

/* Logs user PREFIX<index>@domain in over STARTTLS with its password. */
struct xclient *bench_login(const char *host, unsigned short port, const char *prefix, size_t index,
                            const char *domain, const char *password);

void bench_send(struct xclient *c, const char *text, size_t len);

/* The next stanza within `timeout` seconds (0: only what is there), NULL
 * on a timeout; the stream ending is fatal. The caller frees it. */
xnode *bench_next_stanza(struct xclient *c, double timeout);

struct bench_samples {
    double *v;
    size_t n;
};

/* The p-th percentile (0 < p <= 100), nearest rank; sorts the samples. */
double bench_percentile(struct bench_samples *s, double p);

#endif
