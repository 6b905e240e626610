#include "benchlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

const char *bench_program = "bench";

_Noreturn void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

size_t bench_parse_count(const char *s, size_t min, size_t max, void (*usage)(void))
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '-' || *end || end == s || v < min || v > max) usage();
    return (size_t)v;
}

struct xclient *bench_login(const char *host, unsigned short port, const char *prefix, size_t index,
                            const char *domain, const char *password)
{
    struct buf jid;
    buf_init(&jid);
    buf_printf(&jid, "%s%zu@%s", prefix, index, domain);
    struct xclient_opts o = { .host = host, .port = port, .tls = XCLIENT_STARTTLS, .jid = jid.data,
                              .password = password, .login = true, .timeout = BENCH_CLIENT_TIMEOUT };
    struct xclient_failure failure = { 0 };
    struct xclient *c = xclient_connect(&o, &failure);
    if (!c) bench_fail("%s cannot log in: %s (%s)", jid.data, failure.condition, failure.text);
    buf_free(&jid);
    return c;
}

void bench_send(struct xclient *c, const char *text, size_t len)
{
    if (xclient_send(c, text, len) < 0) bench_fail("%s: connection lost while sending", xclient_full_jid(c));
}

xnode *bench_next_stanza(struct xclient *c, double timeout)
{
    struct xclient_event ev;
    xclient_next(c, timeout, &ev);
    if (ev.kind == XEV_STANZA) return ev.stanza;
    if (ev.kind == XEV_TIMEOUT) return NULL;
    xnode_free(ev.stanza);
    bench_fail("%s: the stream ended (%s)", xclient_full_jid(c),
               ev.kind == XEV_STREAM_ERROR ? ev.condition : "closed");
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_percentile(struct bench_samples *s, double p)
{
    if (s->n == 0) return NAN;
    qsort(s->v, s->n, sizeof *s->v, compare_doubles);
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
    return s->v[rank ? rank - 1 : 0];
}
