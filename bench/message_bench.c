/* message_bench: routed-message throughput and latency of a running imrefd,
 * as `make bench` measures it with archiving off and on (SPEC ARCH-1..3;
 * scripts/bench-archive starts the servers). --pairs pairs of users of one
 * domain (PREFIX1 sends to PREFIX2, PREFIX3 to PREFIX4, ...) log in with
 * blocking imconform clients (conformance/xclient.h) over STARTTLS on
 * 127.0.0.1; then every sender sends --messages chat messages with a body to
 * its partner's full JID, pipelined with at most --window of them in flight
 * per pair (written together, so the server reads them in batches). From
 * the first send to the last receipt it measures messages per second, and
 * the median and 99th percentile of a message's latency (send to receipt).
 * Every message must arrive exactly once, in order, unchanged; a message
 * bounced to a sender, a lost connection, a stall of STALL_SECONDS or a
 * late extra message is an error.
 * Prints one line on stdout,
 *   messages=20000 seconds=1.234 rate=16207 p50_ms=1.10 p99_ms=4.00
 * progress and problems on stderr. Exit status 0, 1 on any error, 2 on bad
 * arguments. Everything it allocates is its own. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"
#include "buf.h"
#include "xclient.h"
#include "xnode.h"

#define STALL_SECONDS 10.0      /* no message received for this long: lost */
#define QUIET_SECONDS 0.3       /* no traffic for this long: drained */

struct bench {
    const char *host, *domain, *prefix, *password;
    unsigned short port;
    size_t pairs, messages, window;
};

/* One sender and its partner; sent_at[k] is when message k was written. */
struct pair {
    size_t index;
    struct xclient *sender, *receiver;
    size_t sent, received;
    double *sent_at;
};

static void usage(void)
{
    fprintf(stderr, "usage: message_bench --port PORT --domain DOMAIN [--pairs 10] [--messages 2000]\n"
                    "                     [--window 50] [--prefix u] [--password password]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, struct bench *b)
{
    *b = (struct bench){ .host = "127.0.0.1", .prefix = "u", .password = "password",
                         .pairs = 10, .messages = 2000, .window = 50 };
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) usage();
        const char *opt = argv[i], *val = argv[i + 1];
        if (strcmp(opt, "--port") == 0) b->port = (unsigned short)bench_parse_count(val, 1, 65535, usage);
        else if (strcmp(opt, "--domain") == 0) b->domain = val;
        else if (strcmp(opt, "--pairs") == 0) b->pairs = bench_parse_count(val, 1, 10000, usage);
        else if (strcmp(opt, "--messages") == 0) b->messages = bench_parse_count(val, 1, 1000000, usage);
        else if (strcmp(opt, "--window") == 0) b->window = bench_parse_count(val, 1, 10000, usage);
        else if (strcmp(opt, "--prefix") == 0) b->prefix = val;
        else if (strcmp(opt, "--password") == 0) b->password = val;
        else usage();
    }
    if (!b->port || !b->domain) usage();
}

/* Logs user number `index` (1-based, users.cfg order) in. Without
   TCP_NODELAY, Nagle holds a refill back until the server's delayed ACK
   (40 ms): the server never answers a sender. */
static struct xclient *login(const struct bench *b, size_t index)
{
    struct xclient *c = bench_login(b->host, b->port, b->prefix, index, b->domain, b->password);
    int one = 1;
    if (setsockopt(xclient_fd(c), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        bench_fail("TCP_NODELAY: %s", strerror(errno));
    return c;
}

/* The body of message k of pair p, as sent and as it must arrive. */
static void format_body(struct buf *out, size_t pair, size_t k)
{
    buf_printf(out, "imref message_bench: pair %zu, message %zu; the quick brown fox jumps over the lazy dog", pair, k);
}

static void format_id(struct buf *out, size_t k)
{
    buf_printf(out, "m%zu", k);
}

/* Writes, in one go, as many of pair p's next messages as its window allows. */
static void refill(const struct bench *b, struct pair *p, struct buf *scratch)
{
    buf_reset(scratch);
    size_t first = p->sent;
    while (p->sent < b->messages && p->sent - p->received < b->window) {
        buf_puts(scratch, "<message type='chat' to='");
        buf_append_xml_escaped(scratch, xclient_full_jid(p->receiver), strlen(xclient_full_jid(p->receiver)));
        buf_puts(scratch, "' id='");
        format_id(scratch, p->sent);
        buf_puts(scratch, "'><body>");
        format_body(scratch, p->index, p->sent);
        buf_puts(scratch, "</body></message>");
        p->sent++;
    }
    if (p->sent == first) return;
    double t = bench_now();
    for (size_t k = first; k < p->sent; k++) p->sent_at[k] = t;
    bench_send(p->sender, scratch->data, scratch->len);
}

static bool attr_is(const xnode *st, const char *name, const char *want)
{
    const char *v = xnode_attr(st, name);
    return v && strcmp(v, want) == 0;
}

/* Checks that `st` is pair p's next message, unchanged; exits otherwise. */
static void check_message(struct pair *p, const xnode *st, struct buf *scratch)
{
    buf_reset(scratch);
    format_id(scratch, p->received);
    bool ok = !attr_is(st, "type", "error") && attr_is(st, "id", scratch->data) &&
              attr_is(st, "from", xclient_full_jid(p->sender));
    const xnode *body = xnode_child(st, "body", NULL);
    char *text = body ? xnode_text_dup(body) : NULL;
    buf_reset(scratch);
    format_body(scratch, p->index, p->received);
    ok = ok && text && strcmp(text, scratch->data) == 0;
    free(text);
    if (ok) return;
    const char *id = xnode_attr(st, "id"), *type = xnode_attr(st, "type"), *from = xnode_attr(st, "from");
    bench_fail("pair %zu expected message %zu from %s, got id '%s' type '%s' from '%s' "
         "(lost, duplicated, reordered or altered)", p->index, p->received, xclient_full_jid(p->sender),
         id ? id : "", type ? type : "", from ? from : "");
}

/* Takes in what pair p's receiver has; latencies (ms) into `latency`.
   Returns how many messages arrived. */
static size_t take_receipts(struct pair *p, struct bench_samples *latency, struct buf *scratch, const struct bench *b)
{
    size_t before = p->received;
    xnode *st;
    while ((st = bench_next_stanza(p->receiver, 0)) != NULL) {
        if (strcmp(st->name, "message") == 0) {
            if (p->received >= b->messages)
                bench_fail("%s received a message after the last one", xclient_full_jid(p->receiver));
            check_message(p, st, scratch);
            latency->v[latency->n++] = (bench_now() - p->sent_at[p->received]) * 1e3;
            p->received++;
        }
        xnode_free(st);
    }
    return p->received - before;
}

/* Whatever a sender gets is dropped, except a message: a bounce. */
static void check_sender(struct xclient *c)
{
    xnode *st;
    while ((st = bench_next_stanza(c, 0)) != NULL) {
        if (strcmp(st->name, "message") == 0) {
            const char *cond = xclient_error_condition(st);
            const char *type = xnode_attr(st, "type");
            bench_fail("%s: a message came back (type '%s', %s)", xclient_full_jid(c), type ? type : "", cond);
        }
        xnode_free(st);
    }
}

/* Logs every pair in; each client sends its initial presence. */
static struct pair *login_pairs(const struct bench *b)
{
    struct pair *pairs = xcalloc(b->pairs, sizeof *pairs);
    for (size_t i = 0; i < b->pairs; i++) {
        struct pair *p = &pairs[i];
        p->index = i + 1;
        p->sender = login(b, 2 * i + 1);
        p->receiver = login(b, 2 * i + 2);
        p->sent_at = xcalloc(b->messages, sizeof *p->sent_at);
        bench_send(p->sender, "<presence/>", strlen("<presence/>"));
        bench_send(p->receiver, "<presence/>", strlen("<presence/>"));
    }
    return pairs;
}

/* Polls every client of every pair for up to `timeout` seconds; the
   number of ready ones (0: nothing came). */
static int poll_pairs(struct pair *pairs, size_t n, struct pollfd *fds, double timeout)
{
    for (size_t i = 0; i < n; i++) {
        fds[2 * i] = (struct pollfd){ .fd = xclient_fd(pairs[i].sender), .events = POLLIN };
        fds[2 * i + 1] = (struct pollfd){ .fd = xclient_fd(pairs[i].receiver), .events = POLLIN };
    }
    int ready = poll(fds, 2 * n, (int)ceil(timeout * 1000));
    return ready < 0 ? 0 : ready;
}

/* Reads what is there until nothing has come for QUIET_SECONDS; messages
   are checked as receipts (so an extra one is an error). */
static void drain_until_quiet(const struct bench *b, struct pair *pairs, struct pollfd *fds,
                              struct bench_samples *latency, struct buf *scratch)
{
    do {
        for (size_t i = 0; i < b->pairs; i++) {
            check_sender(pairs[i].sender);
            take_receipts(&pairs[i], latency, scratch, b);
        }
    } while (poll_pairs(pairs, b->pairs, fds, QUIET_SECONDS) > 0);
}

/* Nothing arrived for STALL_SECONDS: says where each pair stands; exits. */
__attribute__((noreturn)) static void report_stall(const struct bench *b, const struct pair *pairs, size_t received)
{
    for (size_t i = 0; i < b->pairs; i++)
        if (pairs[i].received < b->messages)
            fprintf(stderr, "message_bench: pair %zu: %zu sent, %zu received\n", pairs[i].index,
                    pairs[i].sent, pairs[i].received);
    bench_fail("nothing arrived for %.0f s; %zu of %zu messages received", STALL_SECONDS, received,
         b->pairs * b->messages);
}

/* The exchange: returns the time from the first send to the last receipt. */
static double exchange(const struct bench *b, struct pair *pairs, struct pollfd *fds,
                       struct bench_samples *latency, struct buf *scratch)
{
    size_t total = b->pairs * b->messages, received = 0;
    double start = bench_now(), last = start;
    for (size_t i = 0; i < b->pairs; i++) refill(b, &pairs[i], scratch);
    while (received < total) {
        double left = last + STALL_SECONDS - bench_now();
        if (left <= 0) report_stall(b, pairs, received);
        if (poll_pairs(pairs, b->pairs, fds, left) == 0) continue;
        for (size_t i = 0; i < b->pairs; i++) {
            if (fds[2 * i].revents) check_sender(pairs[i].sender);
            if (!fds[2 * i + 1].revents) continue;
            size_t got = take_receipts(&pairs[i], latency, scratch, b);
            if (!got) continue;
            received += got;
            last = bench_now();
            refill(b, &pairs[i], scratch);
        }
    }
    return last - start;
}



int main(int argc, char **argv)
{
    bench_program = "message_bench";
    struct bench b;
    parse_args(argc, argv, &b);
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t total = b.pairs * b.messages;
    struct bench_samples latency = { .v = xcalloc(total, sizeof *latency.v) };
    struct pollfd *fds = xcalloc(2 * b.pairs, sizeof *fds);
    struct buf scratch;
    buf_init(&scratch);

    double t0 = bench_now();
    struct pair *pairs = login_pairs(&b);
    drain_until_quiet(&b, pairs, fds, &latency, &scratch);
    fprintf(stderr, "message_bench: %zu pairs logged in and available in %.1f s\n", b.pairs, bench_now() - t0);

    double seconds = exchange(&b, pairs, fds, &latency, &scratch);
    drain_until_quiet(&b, pairs, fds, &latency, &scratch);
    printf("messages=%zu seconds=%.3f rate=%.0f p50_ms=%.2f p99_ms=%.2f\n", total, seconds,
           seconds > 0 ? (double)total / seconds : 0.0, bench_percentile(&latency, 50), bench_percentile(&latency, 99));

    for (size_t i = 0; i < b.pairs; i++) {
        xclient_close(pairs[i].sender);
        xclient_close(pairs[i].receiver);
        free(pairs[i].sent_at);
    }
    free(pairs);
    free(fds);
    free(latency.v);
    buf_free(&scratch);
    return 0;
}
