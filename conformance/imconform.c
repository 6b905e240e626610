/* imconform: runs .scs scenarios against a target (SPEC CONF-1..5).
 * Each scenario runs in its own child process (its own process group), at
 * most -j at once, scheduled by a libev loop in the parent (ev_child for
 * exits, ev_io for the result pipe, ev_timer for the scenario-timeout, on
 * expiry the group gets SIGKILL). Results are printed as TAP in scenario
 * order as soon as every earlier one is in. Exit: 0 all passed (skips
 * allowed unless --strict), 1 failures (or skips with --strict), 2 usage,
 * target or I/O errors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "buf.h"
#include "loadgen.h"
#include "report.h"
#include "runner.h"
#include "scs.h"
#include "target.h"

#define MAX_JOBS 256
#define MAX_RESULT_BYTES (16u << 20)   /* an encoded result from a child */

#define USAGE_LINE "usage: imconform --target FILE [--peer FILE] [-j N] [--junit FILE] [--strict] [--verbose] PATH...\n" \
                   "       imconform bench --profile NAME ... (the load generator; imconform bench --help)\n"

static const char usage_text[] =
    USAGE_LINE
    "Runs scansion-style .scs scenarios against the server a target profile names.\n"
    "  PATH            a .scs file, or a directory (every *.scs below it, sorted)\n"
    "  --target FILE   the target profile (host, ports, domain, hooks, skips)\n"
    "  --peer FILE     a second server's profile, for scenarios that require\n"
    "                  peer (federation): their \"target: peer\" clients use it\n"
    "  -j, --jobs N    run up to N scenarios at once (default 1); each runs in its\n"
    "                  own process, killed after the target's scenario-timeout\n"
    "  --junit FILE    also write the results as JUnit XML to FILE\n"
    "  --strict        skipped scenarios make the exit status 1\n"
    "  -v, --verbose   print every scenario's step transcript as TAP comments\n"
    "  -h, --help      this text\n"
    "Output: TAP on stdout, last line \"N passed, N failed, N skipped\".\n"
    "Exit status: 0 all passed, 1 failures (or skips with --strict), 2 usage or\n"
    "target errors.\n";

struct options {
    const char *target_path, *peer_path, *junit_path;
    unsigned jobs;
    bool strict, verbose;
};

/* One scenario and, while it runs, its child. */
struct job {
    char *path;
    struct scenario *sc;           /* NULL if the script did not parse */
    char *load_error;
    pid_t pid;
    int fd;                        /* read end of the result pipe */
    ev_child child_w;
    ev_io io_w;
    ev_timer timer_w;
    struct buf output;             /* encoded result read so far */
    bool reaped, eof, timed_out, done;
    int status;
    double started;
    double seconds;
    struct runner_result result;
    struct sched *sched;
};

struct sched {
    struct ev_loop *loop;
    const struct target *target;
    const struct target *peer;     /* NULL without --peer */
    const struct options *opts;
    struct job *jobs;
    size_t n_jobs, next_start, next_report, running;
    struct report *report;
    ev_signal sigint_w, sigterm_w;
};

/* ---- scenario list ------------------------------------------------------- */

struct path_list { char **items; size_t n; };

static void path_list_add(struct path_list *l, char *path)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = path;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_scs_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".scs") == 0;
}

static char *join_path(const char *dir, const char *name)
{
    struct buf b;
    buf_init(&b);
    size_t n = strlen(dir);
    buf_printf(&b, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
    return buf_steal(&b);
}

/* Collects every *.scs below dir (hidden entries skipped); -1 on error. */
static int collect_dir(const char *dir, struct path_list *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "imconform: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *p = join_path(dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) {
            fprintf(stderr, "imconform: %s: %s\n", p, strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = collect_dir(p, out);
        } else if (S_ISREG(st.st_mode) && has_scs_suffix(e->d_name)) {
            path_list_add(out, p);
            p = NULL;
        }
        free(p);
    }
    closedir(d);
    return rc;
}

static int collect_paths(char **args, int n, struct path_list *out)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0) {
            fprintf(stderr, "imconform: %s: %s\n", args[i], strerror(errno));
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            path_list_add(out, xstrdup(args[i]));
            continue;
        }
        size_t first = out->n;
        if (collect_dir(args[i], out) != 0) return -1;
        if (out->n == first) fprintf(stderr, "imconform: no *.scs scenarios in %s\n", args[i]);
        qsort(out->items + first, out->n - first, sizeof *out->items, compare_paths);
    }
    return 0;
}

/* ---- results ------------------------------------------------------------- */

static void set_failure(struct runner_result *r, const char *message, const char *diagnostic)
{
    runner_result_free(r);
    r->outcome = RUNNER_FAIL;
    r->message = xstrdup(message);
    r->diagnostic = diagnostic ? xstrdup(diagnostic) : NULL;
}

/* Prints every finished result whose predecessors are printed. */
static void report_ready(struct sched *s)
{
    while (s->next_report < s->n_jobs && s->jobs[s->next_report].done) {
        struct job *j = &s->jobs[s->next_report++];
        struct report_entry e = {
            .path = j->path, .title = j->sc ? j->sc->title : NULL,
            .covers = j->sc ? j->sc->covers : NULL, .n_covers = j->sc ? j->sc->n_covers : 0,
            .result = &j->result, .seconds = j->seconds,
        };
        report_add(s->report, &e);
        runner_result_free(&j->result);
    }
}

/* The result of a child that exited (or was killed) and whose pipe ended. */
static void settle_result(struct job *j)
{
    const struct target *t = j->sched->target;
    struct buf msg;
    buf_init(&msg);
    if (j->timed_out) {
        buf_printf(&msg, "timed out after %g s", t->scenario_timeout);
        set_failure(&j->result, msg.data, "the scenario's process was killed at the target's scenario-timeout");
    } else if (WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0
               && runner_result_decode(j->output.data ? j->output.data : "", j->output.len,
                                       &j->result) == 0) {
        /* the child's own result */
    } else {
        if (WIFSIGNALED(j->status))
            buf_printf(&msg, "scenario process killed by signal %d", WTERMSIG(j->status));
        else
            buf_printf(&msg, "scenario process exited with status %d without a result",
                       WIFEXITED(j->status) ? WEXITSTATUS(j->status) : j->status);
        set_failure(&j->result, msg.data, NULL);
    }
    buf_free(&msg);
}

static void start_more(struct sched *s);

static void maybe_finish(struct job *j)
{
    if (!j->reaped || !j->eof || j->done) return;
    struct sched *s = j->sched;
    ev_timer_stop(s->loop, &j->timer_w);
    close(j->fd);
    j->fd = -1;
    j->seconds = ev_time() - j->started;
    settle_result(j);
    buf_free(&j->output);
    j->done = true;
    s->running--;
    report_ready(s);
    start_more(s);
}

/* ---- child process ------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

static void run_child(const struct job *j, int fd)
{
    signal(SIGCHLD, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    setpgid(0, 0);
    struct runner_result r;
    runner_run(j->sc, j->sched->target, j->sched->peer, &runner_xclient_driver, j->sched->opts->verbose, &r);
    struct buf enc;
    buf_init(&enc);
    runner_result_encode(&r, &enc);
    write_all(fd, enc.data, enc.len);
    _exit(0);
}

/* ---- parent: watchers ---------------------------------------------------- */

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct job *j = w->data;
    ev_child_stop(loop, w);
    j->status = w->rstatus;
    j->reaped = true;
    maybe_finish(j);
}

static void on_output(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct job *j = w->data;
    char chunk[65536];
    for (;;) {
        ssize_t k = read(j->fd, chunk, sizeof chunk);
        if (k > 0) {
            if (j->output.len + (size_t)k <= MAX_RESULT_BYTES) buf_append(&j->output, chunk, (size_t)k);
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        break;   /* EOF or error */
    }
    ev_io_stop(loop, w);
    j->eof = true;
    maybe_finish(j);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    struct job *j = w->data;
    j->timed_out = true;
    kill(-j->pid, SIGKILL);
    kill(j->pid, SIGKILL);
}

static void fail_without_running(struct job *j, const char *message, const char *diagnostic)
{
    set_failure(&j->result, message, diagnostic);
    j->done = true;
}

static void start_job(struct sched *s, struct job *j)
{
    if (!j->sc) {
        fail_without_running(j, "script error", j->load_error);
        return;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        fail_without_running(j, "cannot start the scenario", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    j->started = ev_time();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]); close(p[1]);
        fail_without_running(j, "cannot start the scenario", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(p[0]);
        run_child(j, p[1]);
    }
    setpgid(pid, pid);   /* also done by the child: whichever runs first */
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    j->pid = pid;
    j->fd = p[0];
    buf_init(&j->output);
    ev_child_init(&j->child_w, on_child, pid, 0);
    ev_io_init(&j->io_w, on_output, p[0], EV_READ);
    ev_timer_init(&j->timer_w, on_timeout, s->target->scenario_timeout, 0);
    j->child_w.data = j->io_w.data = j->timer_w.data = j;
    ev_child_start(s->loop, &j->child_w);
    ev_io_start(s->loop, &j->io_w);
    ev_timer_start(s->loop, &j->timer_w);
    s->running++;
}

static void start_more(struct sched *s)
{
    while (s->running < s->opts->jobs && s->next_start < s->n_jobs)
        start_job(s, &s->jobs[s->next_start++]);
    report_ready(s);
}

/* SIGINT/SIGTERM: kill every running scenario's process group, then die. */
static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop; (void)revents;
    struct sched *s = w->data;
    for (size_t i = 0; i < s->n_jobs; i++) {
        struct job *j = &s->jobs[i];
        if (j->pid > 0 && !j->reaped) {
            kill(-j->pid, SIGKILL);
            kill(j->pid, SIGKILL);
        }
    }
    fprintf(stderr, "imconform: interrupted by signal %d\n", w->signum);
    _exit(2);
}

/* ---- main ---------------------------------------------------------------- */

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "target", required_argument, NULL, 't' },
        { "peer", required_argument, NULL, 'p' },
        { "jobs", required_argument, NULL, 'j' },
        { "junit", required_argument, NULL, 'J' },
        { "strict", no_argument, NULL, 's' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct options){ .jobs = 1 };
    int c;
    while ((c = getopt_long(argc, argv, "t:j:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 't': o->target_path = optarg; break;
        case 'p': o->peer_path = optarg; break;
        case 'J': o->junit_path = optarg; break;
        case 's': o->strict = true; break;
        case 'v': o->verbose = true; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        case 'j': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || n < 1 || n > MAX_JOBS) {
                fprintf(stderr, "imconform: -j needs a number from 1 to %d\n", MAX_JOBS);
                return -1;
            }
            o->jobs = (unsigned)n;
            break;
        }
        default: return -1;
        }
    }
    if (!o->target_path) { fputs("imconform: --target is required\n", stderr); return -1; }
    if (optind >= argc) { fputs("imconform: no scenario PATH given\n", stderr); return -1; }
    return 0;
}

static void load_jobs(struct sched *s, const struct path_list *paths)
{
    s->n_jobs = paths->n;
    s->jobs = xcalloc(paths->n ? paths->n : 1, sizeof *s->jobs);
    for (size_t i = 0; i < paths->n; i++) {
        struct job *j = &s->jobs[i];
        j->path = paths->items[i];
        j->sched = s;
        j->fd = -1;
        struct buf err;
        buf_init(&err);
        if (scs_load(j->path, &j->sc, &err) != 0) {
            j->sc = NULL;
            j->load_error = buf_steal(&err);
        }
        buf_free(&err);
    }
}

static void free_jobs(struct sched *s)
{
    for (size_t i = 0; i < s->n_jobs; i++) {
        scs_free(s->jobs[i].sc);
        free(s->jobs[i].load_error);
        free(s->jobs[i].path);
    }
    free(s->jobs);
}

static void run_all(struct sched *s)
{
    s->loop = ev_default_loop(0);
    ev_signal_init(&s->sigint_w, on_signal, SIGINT);
    ev_signal_init(&s->sigterm_w, on_signal, SIGTERM);
    s->sigint_w.data = s->sigterm_w.data = s;
    ev_signal_start(s->loop, &s->sigint_w);
    ev_signal_start(s->loop, &s->sigterm_w);
    ev_unref(s->loop);   /* the signal watchers alone do not keep the loop running */
    ev_unref(s->loop);
    start_more(s);
    ev_run(s->loop, 0);
    ev_ref(s->loop);
    ev_ref(s->loop);
    ev_signal_stop(s->loop, &s->sigint_w);
    ev_signal_stop(s->loop, &s->sigterm_w);
    ev_loop_destroy(s->loop);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return loadgen_main(argc - 1, argv + 1);
    struct options opts;
    if (parse_options(argc, argv, &opts) != 0) {
        fputs(USAGE_LINE "(imconform --help explains)\n", stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);   /* a server closing a socket is a step failure, not death */
    struct buf err;
    buf_init(&err);
    struct target *t, *peer = NULL;
    if (target_load(opts.target_path, &t, &err) != 0) {
        fprintf(stderr, "imconform: %s\n", err.data);
        buf_free(&err);
        return 2;
    }
    if (opts.peer_path && target_load(opts.peer_path, &peer, &err) != 0) {
        fprintf(stderr, "imconform: %s\n", err.data);
        target_free(t);
        buf_free(&err);
        return 2;
    }
    struct path_list paths = { 0 };
    if (collect_paths(argv + optind, argc - optind, &paths) != 0) {
        for (size_t i = 0; i < paths.n; i++) free(paths.items[i]);
        free(paths.items);
        target_free(t);
        target_free(peer);
        buf_free(&err);
        return 2;
    }
    struct sched s = { .target = t, .peer = peer, .opts = &opts };
    load_jobs(&s, &paths);
    free(paths.items);
    s.report = report_new(stdout, s.n_jobs, opts.verbose);
    run_all(&s);
    report_summary(s.report);
    int rc = report_count(s.report, RUNNER_FAIL) ? 1
           : opts.strict && report_count(s.report, RUNNER_SKIP) ? 1 : 0;
    if (opts.junit_path && report_write_junit(s.report, t->name, opts.junit_path, &err) != 0) {
        fprintf(stderr, "imconform: cannot write JUnit XML: %s\n", err.data);
        rc = 2;
    }
    report_free(s.report);
    free_jobs(&s);
    target_free(t);
    target_free(peer);
    buf_free(&err);
    return rc;
}
