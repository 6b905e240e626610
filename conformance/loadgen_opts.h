/* loadgen_opts: the command line of `imconform bench` (BENCH_API.md)
 * parsed into struct lg_opts. lg_opts_parse fills it from argv (the
 * strings point into argv; the arrays are malloc'd and released by
 * lg_opts_free). lg_split shares a count between the workers. */
#ifndef IMREF_LOADGEN_OPTS_H
#define IMREF_LOADGEN_OPTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/socket.h>

#define LG_MAX_STEPS 32
#define LG_MAX_WORKERS 256

enum lg_profile_kind { LG_IDLE, LG_CHAT, LG_LOGIN, LG_PRESENCE, LG_CHURN };

struct lg_opts {
    enum lg_profile_kind profile;
    const char *profile_name;
    const char *host, *domain, *ca, *user_fmt, *password, *csv, *ready_file;
    unsigned short port;
    struct sockaddr_storage server;
    socklen_t server_len;
    struct sockaddr_storage *sources;   /* malloc'd; port 0 */
    size_t nsources;
    bool tls, reg, quiet, raw;
    bool spin;                           /* chat: never sleep while sending (own core) */
    unsigned first, workers;
    int *cpus;                           /* malloc'd */
    size_t ncpus;
    /* idle */
    unsigned sessions;
    double hold, login_rate;             /* login_rate 0: as fast as the server answers */
    /* chat */
    unsigned pairs, body;
    double rates[LG_MAX_STEPS];
    size_t nrates;
    double step, warmup;
    /* login, presence */
    double rate, duration;
    unsigned users;                      /* login/churn: accounts cycled through */
    /* presence */
    unsigned roster;
    double setup_timeout;                /* seconds for the roster set-up (120) */
    /* churn */
    unsigned cycles, concurrency;
};

/* The usage text (for --help). */
void lg_opts_usage(FILE *out);

/* 0, or 2 after printing the problem (and the usage) on stderr. */
int lg_opts_parse(struct lg_opts *o, int argc, char **argv);
void lg_opts_free(struct lg_opts *o);

/* Worker k's share of total: [*first, *first + *count). */
void lg_split(unsigned total, unsigned workers, unsigned k, unsigned *first, unsigned *count);

/* How many measured steps the profile has (chat: one per rate). */
unsigned lg_opts_steps(const struct lg_opts *o);

#endif
