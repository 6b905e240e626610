/* loadgen_opts: see loadgen_opts.h. */
#include "loadgen_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static const char usage_text[] =
    "usage: imconform bench --profile idle|chat|login|presence|churn\n"
    "    --host 127.0.0.1 --port 5222 --domain DOMAIN [--tls starttls|none] [--ca FILE]\n"
    "    [--user FORMAT] [--password PW] [--first N] [--register] [--source A[,B...]]\n"
    "    [--workers N] [--cpu LIST] [--csv FILE] [--ready-file FILE] [--quiet]\n"
    "  idle:     --sessions N [--hold SECONDS] [--login-rate R]\n"
    "  chat:     --pairs N --rate R1[,R2,...] [--step SECONDS] [--body BYTES] [--warmup SECONDS] [--raw] [--spin]\n"
    "  login:    --rate R --duration SECONDS [--users N]\n"
    "  presence: --users N --roster K [--rate R] [--duration SECONDS] [--setup-timeout SECONDS]\n"
    "  churn:    --cycles N [--concurrency C] [--users N]\n";

void lg_opts_usage(FILE *out)
{
    fputs(usage_text, out);
}

static int usage(const char *problem, const char *arg)
{
    if (problem)
        fprintf(stderr, "imconform bench: %s%s%s\n", problem, arg ? ": " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return 2;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    if (*s < '0' || *s > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

/* A numeric loopback address (127.0.0.0/8 or ::1) with `port`. */
static bool parse_loopback(const char *s, unsigned short port, struct sockaddr_storage *ss,
                           socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof *v4;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof *v6;
        return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    }
    return false;
}

/* Splits a comma list into at most max items handed to `each`; false on a bad one. */
static bool for_each_item(const char *list, size_t max, bool (*each)(struct lg_opts *, const char *),
                          struct lg_opts *o)
{
    char *copy = xstrdup(list), *save = NULL;
    bool ok = true;
    size_t n = 0;
    for (char *item = strtok_r(copy, ",", &save); item && ok; item = strtok_r(NULL, ",", &save))
        ok = ++n <= max && each(o, item);
    free(copy);
    return ok && n > 0;
}

static bool add_rate(struct lg_opts *o, const char *item)
{
    return parse_double(item, 0.001, 1e9, &o->rates[o->nrates++]);
}

static bool add_cpu(struct lg_opts *o, const char *item)
{
    unsigned cpu = 0;
    if (!parse_unsigned(item, 0, 4095, &cpu))
        return false;
    o->cpus = xrealloc(o->cpus, (o->ncpus + 1) * sizeof *o->cpus);
    o->cpus[o->ncpus++] = (int)cpu;
    return true;
}

static bool add_source(struct lg_opts *o, const char *item)
{
    o->sources = xrealloc(o->sources, (o->nsources + 1) * sizeof *o->sources);
    socklen_t len = 0;
    return parse_loopback(item, 0, &o->sources[o->nsources++], &len);
}

/* Exactly one %u and otherwise only %% conversions. */
static bool valid_user_format(const char *fmt)
{
    unsigned conversions = 0;
    for (const char *p = strchr(fmt, '%'); p; p = strchr(p + 2, '%')) {
        if (p[1] == 'u')
            conversions++;
        else if (p[1] != '%')
            return false;
    }
    return conversions == 1;
}

enum {
    OPT_PROFILE = 256, OPT_HOST, OPT_PORT, OPT_DOMAIN, OPT_TLS, OPT_CA, OPT_USER, OPT_PASSWORD,
    OPT_FIRST, OPT_REGISTER, OPT_SOURCE, OPT_WORKERS, OPT_CPU, OPT_CSV, OPT_READY, OPT_QUIET,
    OPT_SESSIONS, OPT_HOLD, OPT_LOGIN_RATE, OPT_PAIRS, OPT_RATE, OPT_STEP, OPT_BODY, OPT_WARMUP,
    OPT_DURATION, OPT_USERS, OPT_ROSTER, OPT_CYCLES, OPT_CONCURRENCY, OPT_RAW, OPT_SPIN, OPT_SETUP_TIMEOUT,
};

static const struct option long_options[] = {
    { "profile", required_argument, NULL, OPT_PROFILE },
    { "host", required_argument, NULL, OPT_HOST },
    { "port", required_argument, NULL, OPT_PORT },
    { "domain", required_argument, NULL, OPT_DOMAIN },
    { "tls", required_argument, NULL, OPT_TLS },
    { "ca", required_argument, NULL, OPT_CA },
    { "user", required_argument, NULL, OPT_USER },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "first", required_argument, NULL, OPT_FIRST },
    { "register", no_argument, NULL, OPT_REGISTER },
    { "source", required_argument, NULL, OPT_SOURCE },
    { "workers", required_argument, NULL, OPT_WORKERS },
    { "cpu", required_argument, NULL, OPT_CPU },
    { "csv", required_argument, NULL, OPT_CSV },
    { "ready-file", required_argument, NULL, OPT_READY },
    { "quiet", no_argument, NULL, OPT_QUIET },
    { "sessions", required_argument, NULL, OPT_SESSIONS },
    { "hold", required_argument, NULL, OPT_HOLD },
    { "login-rate", required_argument, NULL, OPT_LOGIN_RATE },
    { "pairs", required_argument, NULL, OPT_PAIRS },
    { "rate", required_argument, NULL, OPT_RATE },
    { "step", required_argument, NULL, OPT_STEP },
    { "body", required_argument, NULL, OPT_BODY },
    { "warmup", required_argument, NULL, OPT_WARMUP },
    { "duration", required_argument, NULL, OPT_DURATION },
    { "users", required_argument, NULL, OPT_USERS },
    { "roster", required_argument, NULL, OPT_ROSTER },
    { "cycles", required_argument, NULL, OPT_CYCLES },
    { "concurrency", required_argument, NULL, OPT_CONCURRENCY },
    { "raw", no_argument, NULL, OPT_RAW },
    { "spin", no_argument, NULL, OPT_SPIN },
    { "setup-timeout", required_argument, NULL, OPT_SETUP_TIMEOUT },
    { NULL, 0, NULL, 0 },
};

static bool set_profile(struct lg_opts *o, const char *name)
{
    static const char *const names[] = { "idle", "chat", "login", "presence", "churn" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            o->profile = (enum lg_profile_kind)i;
            o->profile_name = names[i];
            return true;
        }
    }
    return false;
}

/* One option; false when its argument is bad. */
static bool take_option(struct lg_opts *o, int opt, const char *arg, unsigned *port)
{
    switch (opt) {
    case OPT_PROFILE: return set_profile(o, arg);
    case OPT_HOST: o->host = arg; return true;
    case OPT_PORT: return parse_unsigned(arg, 1, 65535, port);
    case OPT_DOMAIN: o->domain = arg; return *arg != '\0';
    case OPT_TLS: o->tls = strcmp(arg, "starttls") == 0; return o->tls || strcmp(arg, "none") == 0;
    case OPT_CA: o->ca = arg; return true;
    case OPT_USER: o->user_fmt = arg; return valid_user_format(arg);
    case OPT_PASSWORD: o->password = arg; return *arg != '\0';
    case OPT_FIRST: return parse_unsigned(arg, 0, 1000000000, &o->first);
    case OPT_REGISTER: o->reg = true; return true;
    case OPT_SOURCE: return for_each_item(arg, 1024, add_source, o);
    case OPT_WORKERS: return parse_unsigned(arg, 1, LG_MAX_WORKERS, &o->workers);
    case OPT_CPU: return for_each_item(arg, LG_MAX_WORKERS, add_cpu, o);
    case OPT_CSV: o->csv = arg; return true;
    case OPT_READY: o->ready_file = arg; return true;
    case OPT_QUIET: o->quiet = true; return true;
    case OPT_SESSIONS: return parse_unsigned(arg, 1, 10000000, &o->sessions);
    case OPT_HOLD: return parse_double(arg, 0, 1e6, &o->hold);
    case OPT_LOGIN_RATE: return parse_double(arg, 0, 1e7, &o->login_rate);
    case OPT_PAIRS: return parse_unsigned(arg, 1, 5000000, &o->pairs);
    case OPT_RATE: o->nrates = 0; return for_each_item(arg, LG_MAX_STEPS, add_rate, o);
    case OPT_STEP: return parse_double(arg, 0.1, 1e6, &o->step);
    case OPT_BODY: return parse_unsigned(arg, 0, 1000000, &o->body);
    case OPT_WARMUP: return parse_double(arg, 0, 1e6, &o->warmup);
    case OPT_DURATION: return parse_double(arg, 0.1, 1e6, &o->duration);
    case OPT_USERS: return parse_unsigned(arg, 1, 10000000, &o->users);
    case OPT_ROSTER: return parse_unsigned(arg, 0, 100000, &o->roster);
    case OPT_CYCLES: return parse_unsigned(arg, 1, 1000000000, &o->cycles);
    case OPT_CONCURRENCY: return parse_unsigned(arg, 1, 1000000, &o->concurrency);
    case OPT_RAW: o->raw = true; return true;
    case OPT_SPIN: o->spin = true; return true;
    case OPT_SETUP_TIMEOUT: return parse_double(arg, 1, 1e6, &o->setup_timeout);
    default: return false;
    }
}

static void set_defaults(struct lg_opts *o)
{
    memset(o, 0, sizeof *o);
    o->profile = (enum lg_profile_kind)-1;
    o->host = "127.0.0.1";
    o->tls = true;
    o->user_fmt = "u%u";
    o->password = "password";
    o->first = 1;
    o->workers = 1;
    o->hold = 10;
    o->step = 10;
    o->setup_timeout = 120;
    o->body = 100;
    o->duration = 10;
}

/* Profile-specific requirements and defaults; NULL or the problem. */
static const char *check_profile(struct lg_opts *o)
{
    switch (o->profile) {
    case LG_IDLE:
        return o->sessions ? NULL : "idle needs --sessions N";
    case LG_CHAT:
        return !o->pairs ? "chat needs --pairs N" : !o->nrates ? "chat needs --rate R1[,R2...]" : NULL;
    case LG_LOGIN:
        if (!o->nrates)
            return "login needs --rate R";
        o->rate = o->rates[0];
        o->users = o->users ? o->users : 100;
        return NULL;
    case LG_PRESENCE:
        o->rate = o->nrates ? o->rates[0] : 100;
        if (!o->users || o->roster >= o->users)
            return "presence needs --users N and --roster K with K < N";
        return o->roster % 2 ? "--roster K must be even (K/2 contacts each side)" : NULL;
    case LG_CHURN:
        o->concurrency = o->concurrency ? o->concurrency : 10;
        o->users = o->users ? o->users : 100;
        return o->cycles ? NULL : "churn needs --cycles N";
    }
    return "--profile idle|chat|login|presence|churn is required";
}

int lg_opts_parse(struct lg_opts *o, int argc, char **argv)
{
    set_defaults(o);
    unsigned port = 0;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        if (opt == '?' || opt == ':')
            return usage("unknown option or missing argument", argv[optind - 1]);
        if (!take_option(o, opt, optarg, &port))
            return usage("bad value for an option", argv[optind - 1]);
    }
    if (optind < argc)
        return usage("unexpected argument", argv[optind]);
    const char *problem = check_profile(o);
    if (problem)
        return usage(problem, NULL);
    if (!port || !o->domain)
        return usage("--port and --domain are required", NULL);
    o->port = (unsigned short)port;
    if (!parse_loopback(o->host, o->port, &o->server, &o->server_len))
        return usage("--host must be a numeric loopback address", o->host);
    for (size_t i = 0; i < o->nsources; i++)
        if (o->sources[i].ss_family != o->server.ss_family)
            return usage("--source addresses must be of --host's family (127.0.0.0/8 or ::1)", NULL);
    if (o->raw && o->profile != LG_CHAT)
        return usage("--raw is for the chat profile only", NULL);
    if (o->spin && o->profile != LG_CHAT)
        return usage("--spin is for the chat profile only", NULL);
    return 0;
}

void lg_opts_free(struct lg_opts *o)
{
    free(o->sources);
    free(o->cpus);
    o->sources = NULL;
    o->cpus = NULL;
}

void lg_split(unsigned total, unsigned workers, unsigned k, unsigned *first, unsigned *count)
{
    unsigned base = total / workers, extra = total % workers;
    *first = k * base + (k < extra ? k : extra);
    *count = base + (k < extra ? 1 : 0);
}

unsigned lg_opts_steps(const struct lg_opts *o)
{
    return o->profile == LG_CHAT ? (unsigned)o->nrates : 1;
}
