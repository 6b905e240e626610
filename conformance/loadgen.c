/* loadgen: see loadgen.h. The parent maps the shared statistics, forks one
 * worker per --workers (pinned per --cpu), starts the measured phase when
 * all are ready (--ready-file), prints a progress line each second, and
 * after the workers exited merges their statistics into the result lines
 * (stdout, --csv). */
#include "loadgen.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "loadgen_opts.h"
#include "loadgen_shared.h"
#include "loadgen_worker.h"

#define POLL_NS 20000000ull      /* 20 ms */
#define GO_DELAY_NS 20000000ull

struct parent {
    const struct lg_opts *o;
    struct lg_shared *sh;
    size_t sh_size;
    pid_t pids[LG_MAX_WORKERS];
    bool exited[LG_MAX_WORKERS];
    int worker_failed;
    uint64_t start_ns, go_ns, ready_ns;
    /* progress: the previous second's totals */
    uint64_t last_sent, last_received, last_print_ns;
    unsigned last_step;
    struct lg_hist last_hist, merged, delta;
};

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void pin_cpu(const struct lg_opts *o, unsigned k)
{
    if (o->ncpus == 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o->cpus[k % o->ncpus], &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        fprintf(stderr, "bench: worker %u: cannot pin to CPU %d: %s\n", k, o->cpus[k % o->ncpus],
                strerror(errno));
}

static int fork_workers(struct parent *p)
{
    fflush(NULL);
    for (unsigned k = 0; k < p->o->workers; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "bench: fork: %s\n", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            signal(SIGPIPE, SIG_IGN);
            pin_cpu(p->o, k);
            int rc = lg_worker_run(p->o, p->sh, k);
            fflush(NULL);
            _exit(rc);
        }
        p->pids[k] = pid;
    }
    return 0;
}

/* Reaps exited workers; true when all have exited. */
static bool reap_workers(struct parent *p)
{
    bool all = true;
    for (unsigned k = 0; k < p->o->workers; k++) {
        if (p->exited[k] || p->pids[k] <= 0)
            continue;
        int status = 0;
        pid_t r = waitpid(p->pids[k], &status, WNOHANG);
        if (r == p->pids[k]) {
            p->exited[k] = true;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench: worker %u failed (status %d)\n", k, status);
                p->worker_failed = 1;
            }
        } else {
            all = false;
        }
    }
    return all;
}

static bool all_ready(const struct parent *p)
{
    for (unsigned k = 0; k < p->o->workers; k++)
        if (!p->exited[k] && !__atomic_load_n(&p->sh->w[k].ready, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

static void start_measuring(struct parent *p, uint64_t now)
{
    p->ready_ns = now;
    if (p->o->ready_file) {
        FILE *f = fopen(p->o->ready_file, "w");
        if (f)
            fclose(f);
        else
            fprintf(stderr, "bench: cannot create %s: %s\n", p->o->ready_file, strerror(errno));
    }
    p->go_ns = now + GO_DELAY_NS;
    __atomic_store_n(&p->sh->go_ns, (int64_t)p->go_ns, __ATOMIC_RELEASE);
}

/* ---- merging ---------------------------------------------------------------- */

struct totals {
    uint64_t online, logins, login_failures, lost, in_progress, end_ns;
    int mech;
};

static void sum_workers(const struct parent *p, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (unsigned k = 0; k < p->o->workers; k++) {
        const struct lg_worker_stats *w = &p->sh->w[k];
        t->online += lg_load(&w->online);
        t->logins += lg_load(&w->logins);
        t->login_failures += lg_load(&w->login_failures);
        t->lost += lg_load(&w->lost);
        t->in_progress += lg_load(&w->in_progress);
        if (lg_load(&w->end_ns) > t->end_ns)
            t->end_ns = lg_load(&w->end_ns);
        if (w->mech > t->mech)
            t->mech = w->mech;
    }
}

static void merge_step(const struct parent *p, unsigned s, struct lg_step_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned k = 0; k < p->o->workers; k++) {
        const struct lg_step_stats *st = &p->sh->w[k].step[s];
        out->sent += lg_load(&st->sent);
        out->received += lg_load(&st->received);
        out->errors += lg_load(&st->errors);
        lg_hist_merge(&out->hist, &st->hist);
        lg_hist_merge(&out->lag, &st->lag);
    }
}

/* ---- progress ---------------------------------------------------------------- */

static unsigned current_step(const struct parent *p, uint64_t now)
{
    unsigned n = lg_opts_steps(p->o), s = 0;
    while (s < n && now >= lg_step_start(p->o, p->go_ns, s + 1))
        s++;
    return s;
}

static void print_progress(struct parent *p, uint64_t now)
{
    const struct lg_opts *o = p->o;
    struct totals t;
    sum_workers(p, &t);
    if (!p->go_ns) {
        fprintf(stderr, "bench %s: logging in: online %llu failed %llu in progress %llu\n",
                o->profile_name, (unsigned long long)t.online,
                (unsigned long long)t.login_failures, (unsigned long long)t.in_progress);
        return;
    }
    if (o->profile == LG_IDLE) {
        fprintf(stderr, "bench idle: holding: online %llu/%u lost %llu\n",
                (unsigned long long)t.online, o->sessions, (unsigned long long)t.lost);
        return;
    }
    unsigned s = o->profile == LG_CHAT ? current_step(p, now) : 1;
    struct lg_step_stats *st = xmalloc(sizeof *st);
    merge_step(p, s, st);
    uint64_t since = p->last_print_ns;
    if (s != p->last_step) {
        p->last_sent = p->last_received = 0;
        lg_hist_reset(&p->last_hist);
        p->last_step = s;
        uint64_t step_start = lg_step_start(o, p->go_ns, s);
        since = step_start > since ? step_start : since;
    }
    double dt = now > since ? (double)(now - since) / 1e9 : 1;
    lg_hist_delta(&p->delta, &st->hist, &p->last_hist);
    double offered = o->profile == LG_CHAT ? o->rates[s ? s - 1 : 0] : o->rate;
    char step_text[32];
    step_text[0] = '\0';
    if (o->profile == LG_CHAT && s == 0)
        snprintf(step_text, sizeof step_text, "warm-up ");
    else if (o->profile == LG_CHAT)
        snprintf(step_text, sizeof step_text, "step %u/%u ", s, lg_opts_steps(o));
    fprintf(stderr, "bench %s: %soffered %.0f/s sent %.0f/s recv %.0f/s p99 %.2f ms errors %llu online %llu\n",
            o->profile_name, step_text, offered, (double)(st->sent - p->last_sent) / dt,
            (double)(st->received - p->last_received) / dt,
            (double)lg_hist_percentile(&p->delta, 99) / 1e6, (unsigned long long)st->errors,
            (unsigned long long)t.online);
    p->last_sent = st->sent;
    p->last_received = st->received;
    p->last_hist = st->hist;
    free(st);
}

/* ---- results ------------------------------------------------------------------ */

static const char *mech_name(const struct lg_opts *o, int mech)
{
    if (o->raw)
        return "none";
    static const char *const names[] = { "none", "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256" };
    return names[mech >= 0 && mech <= LG_MECH_SCRAM_SHA256 ? mech : 0];
}

struct row {
    unsigned step;
    double offered, seconds, rate;
    uint64_t sent, received, errors;
    const struct lg_hist *hist, *lag;   /* lag: NULL where nothing is scheduled */
};

static void print_row(FILE *out, const struct parent *p, const struct row *r, const char *mech,
                      bool csv)
{
    uint64_t p50 = lg_hist_percentile(r->hist, 50), p99 = lg_hist_percentile(r->hist, 99);
    uint64_t p999 = lg_hist_percentile(r->hist, 99.9), max = r->hist->max;
    uint64_t lag99 = r->lag ? lg_hist_percentile(r->lag, 99) : 0, lag_max = r->lag ? r->lag->max : 0;
    fprintf(out, csv ? "%s,%u,%.0f,%.2f,%llu,%llu,%llu,%.1f,%llu,%llu,%llu,%llu,%s,%llu,%llu\n"
                     : "profile=%s step=%u offered=%.0f seconds=%.2f sent=%llu received=%llu "
                       "errors=%llu rate=%.1f p50_us=%llu p99_us=%llu p999_us=%llu max_us=%llu "
                       "mechanism=%s send_lag_p99_us=%llu send_lag_max_us=%llu",
            p->o->profile_name, r->step, r->offered, r->seconds, (unsigned long long)r->sent,
            (unsigned long long)r->received, (unsigned long long)r->errors, r->rate,
            (unsigned long long)(p50 / 1000), (unsigned long long)(p99 / 1000),
            (unsigned long long)(p999 / 1000), (unsigned long long)(max / 1000), mech,
            (unsigned long long)(lag99 / 1000), (unsigned long long)(lag_max / 1000));
}

static FILE *open_csv(const char *path)
{
    struct stat sb;
    bool fresh = stat(path, &sb) != 0 || sb.st_size == 0;
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fresh)
        fputs("profile,step,offered,seconds,sent,received,errors,rate,p50_us,p99_us,p999_us,"
              "max_us,mechanism,send_lag_p99_us,send_lag_max_us\n", f);
    return f;
}

/* The row of measured step s; errors include what never arrived. */
static void step_row(const struct parent *p, const struct totals *t, unsigned s,
                     const struct lg_step_stats *st, struct row *r)
{
    const struct lg_opts *o = p->o;
    *r = (struct row){ .step = s, .sent = st->sent, .received = st->received,
                       .errors = st->errors, .hist = &st->hist, .lag = &st->lag };
    uint64_t fanout = o->profile == LG_CHAT ? 1 : o->profile == LG_PRESENCE ? o->roster : 0;
    if (fanout && st->received < st->sent * fanout)
        r->errors += st->sent * fanout - st->received;
    switch (o->profile) {
    case LG_CHAT: r->offered = o->rates[s - 1]; r->seconds = o->step; break;
    case LG_LOGIN: r->offered = o->rate; r->seconds = o->duration; break;
    case LG_PRESENCE: r->offered = o->rate; r->seconds = o->duration; break;
    case LG_CHURN:
        r->offered = o->cycles;
        r->seconds = t->end_ns > p->go_ns ? (double)(t->end_ns - p->go_ns) / 1e9 : 0;
        break;
    case LG_IDLE: break;
    }
    r->rate = r->seconds > 0 ? (double)r->received / r->seconds : 0;
}

static int report(struct parent *p)
{
    const struct lg_opts *o = p->o;
    struct totals t;
    sum_workers(p, &t);
    FILE *csv = o->csv ? open_csv(o->csv) : NULL;
    const char *mech = mech_name(o, t.mech);
    bool failed = p->worker_failed || t.login_failures > 0 || t.lost > 0 || !p->go_ns;
    struct lg_step_stats *st = xmalloc(sizeof *st);
    struct lg_hist *login_hist = xcalloc(1, sizeof *login_hist);
    for (unsigned k = 0; k < o->workers; k++)
        lg_hist_merge(login_hist, &p->sh->w[k].login_hist);
    double login_seconds = p->ready_ns ? (double)(p->ready_ns - p->start_ns) / 1e9 : 0;
    for (unsigned s = 1; s <= lg_opts_steps(o); s++) {
        struct row r;
        if (o->profile == LG_IDLE) {
            r = (struct row){ .step = 1, .offered = o->sessions, .seconds = login_seconds,
                              .sent = o->sessions, .received = t.logins,
                              .errors = t.login_failures + t.lost, .hist = login_hist };
            r.rate = login_seconds > 0 ? (double)t.logins / login_seconds : 0;
        } else {
            merge_step(p, s, st);
            step_row(p, &t, s, st, &r);
        }
        failed |= r.errors > 0;
        print_row(stdout, p, &r, mech, false);
        if (o->profile == LG_IDLE)
            printf(" sessions=%u login_seconds=%.2f hold=%.0f lost=%llu", o->sessions,
                   login_seconds, o->hold, (unsigned long long)t.lost);
        else if (o->profile != LG_LOGIN && o->profile != LG_CHURN)
            printf(" sessions=%llu login_seconds=%.2f", (unsigned long long)t.logins, login_seconds);
        putchar('\n');
        if (csv)
            print_row(csv, p, &r, mech, true);
    }
    fflush(stdout);
    if (csv)
        fclose(csv);
    free(st);
    free(login_hist);
    return failed ? 1 : 0;
}

static void supervise(struct parent *p)
{
    uint64_t next_print = p->start_ns + 1000000000ull;
    p->last_print_ns = p->start_ns;
    for (;;) {
        bool done = reap_workers(p);
        uint64_t now = lg_now_ns();
        if (!p->go_ns && all_ready(p))
            start_measuring(p, now);
        if (done)
            return;
        if (now >= next_print) {
            if (!p->o->quiet)
                print_progress(p, now);
            p->last_print_ns = now;
            next_print += 1000000000ull;
        }
        struct timespec ts = { 0, (long)POLL_NS };
        nanosleep(&ts, NULL);
    }
}

int loadgen_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            lg_opts_usage(stdout);
            return 0;
        }
    }
    struct lg_opts o;
    if (lg_opts_parse(&o, argc, argv) != 0) {
        lg_opts_free(&o);
        return 2;
    }
    raise_fd_limit();
    struct parent *p = xcalloc(1, sizeof *p);
    p->o = &o;
    p->sh_size = sizeof *p->sh + o.workers * sizeof p->sh->w[0];
    p->sh = mmap(NULL, p->sh_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int rc = 1;
    if (p->sh == MAP_FAILED) {
        fprintf(stderr, "bench: mmap: %s\n", strerror(errno));
    } else {
        p->sh->nworkers = o.workers;
        p->start_ns = lg_now_ns();
        if (fork_workers(p) == 0 || p->pids[0] > 0) {
            supervise(p);
            rc = report(p);
        }
        munmap(p->sh, p->sh_size);
    }
    free(p);
    lg_opts_free(&o);
    return rc;
}
