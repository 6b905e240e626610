/* roster_bench: what the automatic contact list (SPEC ROST-1, ROST-5) costs a
 * running imrefd, as `make bench` measures it (scripts/bench-roster starts
 * the server). Against a domain whose users are PREFIX1..PREFIXn in
 * users.cfg order, all published, it measures with blocking imconform
 * clients (conformance/xclient.h) over STARTTLS on 127.0.0.1:
 *   - roster fetch: PREFIX1 logs in and sends --fetches roster gets (no ver),
 *     one at a time; the round trip of each, median and 99th percentile;
 *   - login fan-out: PREFIX1's colleagues (the rest of the first
 *     --max-roster users) log in and become available, then PREFIX1 logs in
 *     and sends its initial presence; the time until every colleague has
 *     received it, over --rounds logins (the median).
 * Prints one table row on stdout (scripts/bench-roster prints the header),
 * progress and problems on stderr. Exit status 0, or 1 when a client could
 * not log in or lost its connection. Everything it allocates is its own. */
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchlib.h"
#include "buf.h"
#include "xclient.h"
#include "xnode.h"

#define FANOUT_TIMEOUT 5.0      /* seconds for a presence to reach everyone */
#define QUIET_SECONDS 0.3       /* no traffic for this long: drained */
#define DRAIN_EVERY 32          /* logins between drains of the earlier clients */

struct bench {
    const char *host, *domain, *prefix, *password;
    unsigned short port;
    size_t users, max_roster, fetches, rounds;
};

static void usage(void)
{
    fprintf(stderr, "usage: roster_bench --port PORT --domain DOMAIN --users N --max-roster M\n"
                    "                    [--prefix u] [--password password] [--fetches 200] [--rounds 5]\n");
    exit(2);
}

/* CPU time of this process: the measuring clients' own share of a fan-out. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void parse_args(int argc, char **argv, struct bench *b)
{
    *b = (struct bench){ .host = "127.0.0.1", .prefix = "u", .password = "password",
                         .fetches = 200, .rounds = 5 };
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) usage();
        const char *opt = argv[i], *val = argv[i + 1];
        if (strcmp(opt, "--port") == 0) b->port = (unsigned short)bench_parse_count(val, 1, 1000000, usage);
        else if (strcmp(opt, "--domain") == 0) b->domain = val;
        else if (strcmp(opt, "--users") == 0) b->users = bench_parse_count(val, 2, 1000000, usage);
        else if (strcmp(opt, "--max-roster") == 0) b->max_roster = bench_parse_count(val, 0, 1000000, usage);
        else if (strcmp(opt, "--prefix") == 0) b->prefix = val;
        else if (strcmp(opt, "--password") == 0) b->password = val;
        else if (strcmp(opt, "--fetches") == 0) b->fetches = bench_parse_count(val, 1, 1000000, usage);
        else if (strcmp(opt, "--rounds") == 0) b->rounds = bench_parse_count(val, 1, 1000000, usage);
        else usage();
    }
    if (!b->port || !b->domain || !b->users) usage();
}

/* Logs user number `index` (1-based, users.cfg order) in. */
static struct xclient *login(const struct bench *b, size_t index)
{
    return bench_login(b->host, b->port, b->prefix, index, b->domain, b->password);
}

static void send_text(struct xclient *c, const char *text)
{
    bench_send(c, text, strlen(text));
}

/* The users in the Colleagues list: the first max_roster of the domain. */
static size_t listed_users(const struct bench *b)
{
    return b->users < b->max_roster ? b->users : b->max_roster;
}

/* Reads and drops whatever is already there, without waiting. */
static void drain_now(struct xclient *c)
{
    xnode *st;
    while ((st = bench_next_stanza(c, 0)) != NULL) xnode_free(st);
}

/* Drains every client until none has received anything for QUIET_SECONDS. */
static void drain_until_quiet(struct xclient **clients, size_t n)
{
    struct pollfd *fds = xcalloc(n ? n : 1, sizeof *fds);
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            drain_now(clients[i]);
            fds[i] = (struct pollfd){ .fd = xclient_fd(clients[i]), .events = POLLIN };
        }
        if (poll(fds, n, (int)(QUIET_SECONDS * 1000)) <= 0) break;
    }
    free(fds);
}

static size_t count_items(const xnode *iq)
{
    const xnode *q = xnode_child(iq, "query", "jabber:iq:roster");
    size_t n = 0;
    for (const xnode *it = q ? xnode_child(q, "item", NULL) : NULL; it; it = xnode_next_child(q, it, "item", NULL))
        n++;
    return n;
}

/* The answer to the iq with this id; other stanzas are dropped. */
static xnode *await_result(struct xclient *c, const char *id)
{
    for (;;) {
        xnode *st = bench_next_stanza(c, BENCH_CLIENT_TIMEOUT);
        if (!st) {
            fprintf(stderr, "roster_bench: no answer to iq %s within %.0fs\n", id, BENCH_CLIENT_TIMEOUT);
            exit(1);
        }
        const char *sid = xnode_attr(st, "id");
        if (strcmp(st->name, "iq") == 0 && sid && strcmp(sid, id) == 0) return st;
        xnode_free(st);
    }
}

/* (a) --fetches roster gets by user 1: round trips in µs into `rtt`; the
   number of items of the last result. */
static size_t measure_roster_fetch(const struct bench *b, struct bench_samples *rtt)
{
    struct xclient *c = login(b, 1);
    size_t items = 0;
    rtt->v = xcalloc(b->fetches, sizeof *rtt->v);
    char id[32], request[128];
    for (size_t i = 0; i < b->fetches; i++) {
        snprintf(id, sizeof id, "r%zu", i);
        snprintf(request, sizeof request, "<iq type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>", id);
        double t0 = bench_now();
        send_text(c, request);
        xnode *result = await_result(c, id);
        rtt->v[rtt->n++] = (bench_now() - t0) * 1e6;
        if (strcmp(xnode_attr(result, "type") ? xnode_attr(result, "type") : "", "result") != 0) {
            fprintf(stderr, "roster_bench: the roster get was answered with type '%s'\n",
                    xnode_attr(result, "type") ? xnode_attr(result, "type") : "");
            exit(1);
        }
        items = count_items(result);
        xnode_free(result);
    }
    xclient_close(c);
    return items;
}

/* Users 2..n+1 log in and send their initial presence; drained. */
static struct xclient **login_colleagues(const struct bench *b, size_t n)
{
    struct xclient **clients = xcalloc(n ? n : 1, sizeof *clients);
    for (size_t i = 0; i < n; i++) {
        clients[i] = login(b, i + 2);
        send_text(clients[i], "<presence/>");
        if ((i + 1) % DRAIN_EVERY == 0)
            for (size_t j = 0; j <= i; j++) drain_now(clients[j]);
    }
    drain_until_quiet(clients, n);
    return clients;
}

/* A presence from the full JID `from`: available, or of type unavailable. */
static bool is_presence_from(const xnode *st, const char *from, bool unavailable)
{
    const char *f = xnode_attr(st, "from"), *type = xnode_attr(st, "type");
    if (strcmp(st->name, "presence") != 0 || !f || strcmp(f, from) != 0) return false;
    return unavailable ? type && strcmp(type, "unavailable") == 0 : type == NULL;
}

/* Waits until every client has received the presence from `from`, or
   FANOUT_TIMEOUT after `t0`. Returns how many did; *last is the time of the
   last arrival. */
static size_t await_fanout(struct xclient **clients, size_t n, const char *from, bool unavailable,
                           double t0, double *last)
{
    bool *got = xcalloc(n ? n : 1, sizeof *got);
    struct pollfd *fds = xcalloc(n ? n : 1, sizeof *fds);
    size_t *who = xcalloc(n ? n : 1, sizeof *who);
    size_t reached = 0;
    *last = t0;
    while (reached < n) {
        double left = t0 + FANOUT_TIMEOUT - bench_now();
        if (left <= 0) break;
        size_t nfds = 0;
        for (size_t i = 0; i < n; i++) {
            if (got[i]) continue;
            fds[nfds] = (struct pollfd){ .fd = xclient_fd(clients[i]), .events = POLLIN };
            who[nfds++] = i;
        }
        if (poll(fds, nfds, (int)ceil(left * 1000)) <= 0) continue;
        for (size_t k = 0; k < nfds; k++) {
            if (!fds[k].revents) continue;
            size_t i = who[k];
            xnode *st;
            while ((st = bench_next_stanza(clients[i], 0)) != NULL) {
                if (!got[i] && is_presence_from(st, from, unavailable)) {
                    got[i] = true;
                    reached++;
                    *last = bench_now();
                }
                xnode_free(st);
            }
        }
    }
    free(who);
    free(fds);
    free(got);
    return reached;
}

/* (b) Rounds of user 1's login and initial presence with its colleagues
   available: fan-out times in µs into `times` for complete rounds, and the
   clients' own CPU time during them (receiving, decrypting, parsing) into
   `client_cpu`. Returns how many colleagues the last round reached. Stops
   after a round that reached nobody (there is no list to measure). */
static size_t measure_fanout(const struct bench *b, struct xclient **colleagues, size_t n,
                             struct bench_samples *times, struct bench_samples *client_cpu)
{
    times->v = xcalloc(b->rounds, sizeof *times->v);
    client_cpu->v = xcalloc(b->rounds, sizeof *client_cpu->v);
    size_t reached = 0;
    for (size_t r = 0; r < b->rounds; r++) {
        struct xclient *me = login(b, 1);
        char *from = xstrdup(xclient_full_jid(me));
        double t0 = bench_now(), cpu0 = cpu_seconds(), last;
        send_text(me, "<presence/>");
        reached = await_fanout(colleagues, n, from, false, t0, &last);
        if (reached == n) {
            times->v[times->n++] = (last - t0) * 1e6;
            client_cpu->v[client_cpu->n++] = (cpu_seconds() - cpu0) * 1e6;
        }
        else fprintf(stderr, "roster_bench: round %zu: the presence reached %zu of %zu colleagues\n",
                     r + 1, reached, n);
        drain_now(me);
        xclient_close(me);
        if (reached > 0) await_fanout(colleagues, n, from, true, bench_now(), &last);
        drain_until_quiet(colleagues, n);
        free(from);
        if (reached == 0) break;
    }
    return reached;
}

static void print_row(const struct bench *b, size_t items, struct bench_samples *rtt, size_t colleagues,
                      size_t reached, struct bench_samples *fanout)
{
    char items_cell[48], fanout_cell[64];
    snprintf(items_cell, sizeof items_cell, "%zu (of %zu)", items, listed_users(b) ? listed_users(b) - 1 : 0);
    double fetch_median = bench_percentile(rtt, 50), fetch_p99 = bench_percentile(rtt, 99);
    if (fanout->n > 0)
        snprintf(fanout_cell, sizeof fanout_cell, "%.0f µs to %zu", bench_percentile(fanout, 50), colleagues);
    else
        snprintf(fanout_cell, sizeof fanout_cell, "none: reached %zu of %zu", reached, colleagues);
    printf("%6zu  %-14s  %9.0f µs  %9.0f µs  %s\n", b->users, items_cell, fetch_median, fetch_p99, fanout_cell);
}

int main(int argc, char **argv)
{
    bench_program = "roster_bench";
    struct bench b;
    parse_args(argc, argv, &b);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct bench_samples rtt = { 0 }, fanout = { 0 }, client_cpu = { 0 };
    size_t items = measure_roster_fetch(&b, &rtt);
    size_t listed = listed_users(&b);
    size_t n = listed > 0 ? listed - 1 : 0;     /* user 1's colleagues */
    if (items != n)
        fprintf(stderr, "roster_bench: the roster has %zu items; the Colleagues list of %zu users would give %zu\n",
                items, listed, n);
    double t0 = bench_now();
    struct xclient **colleagues = login_colleagues(&b, n);
    fprintf(stderr, "roster_bench: %zu users: %zu colleagues logged in and available in %.1f s\n",
            b.users, n, bench_now() - t0);
    size_t reached = measure_fanout(&b, colleagues, n, &fanout, &client_cpu);
    if (client_cpu.n > 0)
        fprintf(stderr, "roster_bench: %zu users: the measuring clients' own CPU time in a fan-out: %.0f µs (median)\n",
                b.users, bench_percentile(&client_cpu, 50));
    print_row(&b, items, &rtt, n, reached, &fanout);
    for (size_t i = 0; i < n; i++) xclient_close(colleagues[i]);
    free(colleagues);
    free(rtt.v);
    free(fanout.v);
    free(client_cpu.v);
    return 0;
}
