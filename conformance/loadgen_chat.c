/* loadgen_chat: the chat profile. Pair p (global) is u(first+2p) ->
 * u(first+2p+1); each worker owns a contiguous range of pairs. An open-loop
 * ticker sends, every 100 microseconds, the messages whose intended send
 * time has come, round-robin over the pairs; each body starts with the
 * stamp "lgts=SS.<16 hex ns>." (step, time of the tick that sent it, on
 * CLOCK_MONOTONIC), which the receiving side finds with memmem: no parsing.
 * How late the tick was for each message's intended time is recorded
 * apart (the step's send lag), so a generator that falls behind shows as
 * such instead of as server latency. Each pair's
 * whole stanza is built once; a message writes its stamp in place and is
 * queued with one copy; nothing is allocated per message. The state is
 * owned by the worker's pdata, freed by the free hook. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "loadgen_conn.h"
#include "loadgen_tick.h"
#include "loadgen_worker.h"
#include "loadgen_xml.h"

#define TICK_NS 100000u         /* 100 us: groups of 16 messages at 160,000/s */
#define STAMP "lgts="
#define STAMP_LEN LG_STAMP_LEN       /* "lgts=" "SS." 16 hex "." */
#define MAX_BACKLOG (8u << 20)       /* unsent bytes on one sender: drop, count an error */

struct chat {
    struct lg_tick tick;
    ev_idle spin;                    /* --spin: active while sending, so the loop never blocks */
    unsigned npairs, cursor;
    char **stanza;                   /* per pair: "<message to='...' type='chat'><body>"
                                        stamp, padding, "</body></message>" */
    size_t *stanza_len;
    size_t *stamp_at;                /* offset of the stamp in stanza[pair] */
    unsigned step;                   /* current step, nsteps + 1 when over */
    uint64_t step_start, step_end, step_sent;
    double step_rate;                /* this worker's share, messages/s */
    uint64_t go_ns;
};

static const char suffix[] = "</body></message>";

static void build_stanzas(struct lg_worker *w, struct chat *ch)
{
    size_t n = ch->npairs ? ch->npairs : 1;
    ch->stanza = xcalloc(n, sizeof *ch->stanza);
    ch->stanza_len = xcalloc(n, sizeof *ch->stanza_len);
    ch->stamp_at = xcalloc(n, sizeof *ch->stamp_at);
    size_t pad_len = w->o->body > STAMP_LEN ? w->o->body - STAMP_LEN : 0;
    char node[64];
    for (unsigned p = 0; p < ch->npairs; p++) {
        snprintf(node, sizeof node, w->o->user_fmt, w->first_user + 2 * p + 1);
        struct buf prefix;
        buf_init(&prefix);
        buf_printf(&prefix, "<message to='%s@%s' type='chat'><body>", node, w->o->domain);
        size_t len = prefix.len + STAMP_LEN + pad_len + sizeof suffix - 1;
        char *stanza = xmalloc(len + 1);
        memcpy(stanza, prefix.data, prefix.len);
        /* the stamp (written per message), then the padding */
        memset(stanza + prefix.len, 'x', STAMP_LEN + pad_len);
        memcpy(stanza + len - (sizeof suffix - 1), suffix, sizeof suffix);
        ch->stamp_at[p] = prefix.len;
        ch->stanza_len[p] = len;
        ch->stanza[p] = stanza;
        buf_free(&prefix);
    }
}

/* An active idle watcher keeps libev from blocking in epoll_wait: the
 * worker polls instead of sleeping, so the server's sends never pay for
 * waking it (a cross-CPU wake-up, costly on a virtual machine) and a
 * message is read as soon as it lands. Only for a generator on its own CPU. */
static void keep_spinning(struct ev_loop *loop, ev_idle *idle, int revents)
{
    (void)loop; (void)idle; (void)revents;
}

static void chat_start(struct lg_worker *w)
{
    struct chat *ch = xcalloc(1, sizeof *ch);
    w->pdata = ch;
    lg_tick_init(&ch->tick);
    ev_idle_init(&ch->spin, keep_spinning);
    unsigned first = 0;
    lg_split(w->o->pairs, w->o->workers, w->index, &first, &ch->npairs);
    lg_worker_login_slots(w, w->o->first + 2 * first, 2 * ch->npairs);
    build_stanzas(w, ch);
}

static void chat_online(struct lg_worker *w, struct lg_conn *c)
{
    static const char presence[] = "<presence/>";
    if (!w->o->raw)
        lg_conn_send(c, presence, sizeof presence - 1);
}

static void put_hex16(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 14; i >= 0; i -= 2, v >>= 8) {
        out[i] = digits[v >> 4 & 15];
        out[i + 1] = digits[v & 15];
    }
}

void lg_put_stamp(char *out, unsigned step, uint64_t ns)
{
    memcpy(out, STAMP, 5);
    out[5] = (char)('0' + step / 10 % 10);
    out[6] = (char)('0' + step % 10);
    out[7] = '.';
    put_hex16(out + 8, ns);
    out[24] = '.';
}

static void send_message(struct lg_worker *w, struct chat *ch, unsigned pair, uint64_t intended,
                         uint64_t now)
{
    struct lg_step_stats *st = &w->stats->step[ch->step];
    struct lg_conn *c = w->slots[2 * pair];
    if (!c || c->state != LGC_ONLINE || lg_conn_backlog(c) > MAX_BACKLOG) {
        st->errors++;
        return;
    }
    lg_hist_record(&st->lag, now > intended ? now - intended : 0);
    lg_put_stamp(ch->stanza[pair] + ch->stamp_at[pair], ch->step, now);
    lg_conn_send(c, ch->stanza[pair], ch->stanza_len[pair]);
    st->sent++;
}

/* Enters step s (nsteps + 1: the end): its schedule and this worker's rate. */
static void enter_step(struct lg_worker *w, struct chat *ch, unsigned s)
{
    const struct lg_opts *o = w->o;
    ch->step = s;
    ch->step_sent = 0;
    ch->step_start = lg_step_start(o, ch->go_ns, s);
    ch->step_end = lg_step_start(o, ch->go_ns, s + 1);
    double rate = o->rates[s == 0 ? 0 : s - 1 < o->nrates ? s - 1 : o->nrates - 1];
    ch->step_rate = rate * ch->npairs / o->pairs;
}

/* Sends, at `now`, the current step's messages intended before `until`. */
static void send_due(struct lg_worker *w, struct chat *ch, uint64_t until, uint64_t now)
{
    if (ch->npairs == 0 || ch->step_rate <= 0)
        return;
    double interval = 1e9 / ch->step_rate;
    for (;;) {
        uint64_t intended = ch->step_start + (uint64_t)((double)ch->step_sent * interval);
        if (intended >= until || intended >= ch->step_end)
            return;
        send_message(w, ch, ch->cursor, intended, now);
        ch->cursor = (ch->cursor + 1) % ch->npairs;
        ch->step_sent++;
    }
}

static void chat_tick(struct lg_tick *t)
{
    struct lg_worker *w = t->data;
    struct chat *ch = w->pdata;
    uint64_t now = lg_now_ns();
    unsigned nsteps = lg_opts_steps(w->o);
    while (ch->step <= nsteps && now >= ch->step_end) {
        send_due(w, ch, ch->step_end, now);
        enter_step(w, ch, ch->step + 1);
    }
    if (ch->step > nsteps) {
        lg_tick_stop(&ch->tick, w->loop);
        ev_idle_stop(w->loop, &ch->spin);
        lg_worker_drain(w, 1);
        return;
    }
    send_due(w, ch, now + 1, now);
}

static void chat_go(struct lg_worker *w)
{
    struct chat *ch = w->pdata;
    ch->go_ns = lg_now_ns();
    enter_step(w, ch, w->o->warmup > 0 ? 0 : 1);
    if (w->o->spin)
        ev_idle_start(w->loop, &ch->spin);
    if (lg_tick_start(&ch->tick, w->loop, TICK_NS, chat_tick, w) < 0) {
        lg_worker_note(w, "cannot start the send tick: %s", strerror(errno));
        w->exit_status = 1;
        lg_worker_finish(w);
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The stamp at p (after "lgts="): 0 with *step and *ns, or -1. */
static int parse_stamp(const char *p, size_t avail, unsigned *step, uint64_t *ns)
{
    if (avail < STAMP_LEN - 5 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9'
        || p[2] != '.' || p[19] != '.')
        return -1;
    *step = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
    uint64_t v = 0;
    for (int i = 3; i < 19; i++) {
        int d = hex_digit(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *ns = v;
    return *step <= LG_MAX_STEPS ? 0 : -1;
}

/* The first "lgts=" in el[0..len), or NULL. Jumps from '=' to '=' (a
 * handful per stanza: its attributes, then the stamp) instead of memmem. */
static const char *find_stamp(const char *el, size_t len)
{
    if (len < 5)
        return NULL;
    const char *end = el + len, *p = el + 4;
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq)
            return NULL;
        if (memcmp(eq - 4, STAMP, 4) == 0)
            return eq - 4;
        p = eq + 1;
    }
    return NULL;
}

/* Records a stamped stanza's latency into its step; false if unstamped. */
bool lg_record_stamp(struct lg_worker *w, const char *el, size_t len)
{
    const char *hit = find_stamp(el, len);
    unsigned step = 0;
    uint64_t sent_ns = 0;
    if (!hit || parse_stamp(hit + 5, len - (size_t)(hit + 5 - el), &step, &sent_ns) < 0)
        return false;
    struct lg_step_stats *st = &w->stats->step[step];
    st->received++;
    lg_hist_record(&st->hist, w->now_ns > sent_ns ? w->now_ns - sent_ns : 0);
    return true;
}

static void chat_stanza(struct lg_worker *w, struct lg_conn *c, const char *el, size_t len)
{
    (void)c;
    if (len > 8 && memcmp(el, "<message", 8) == 0)
        lg_record_stamp(w, el, len);
}

static void chat_closed(struct lg_worker *w, struct lg_conn *c, bool ok)
{
    (void)w; (void)c; (void)ok;
}

static void chat_free(struct lg_worker *w)
{
    struct chat *ch = w->pdata;
    if (!ch)
        return;
    lg_tick_stop(&ch->tick, w->loop);
    ev_idle_stop(w->loop, &ch->spin);
    for (unsigned p = 0; ch->stanza && p < ch->npairs; p++)
        free(ch->stanza[p]);
    free(ch->stanza);
    free(ch->stanza_len);
    free(ch->stamp_at);
    free(ch);
}

const struct lg_profile lg_profile_chat = {
    .start = chat_start, .setup = lg_worker_ready, .go = chat_go, .online = chat_online,
    .stanza = chat_stanza, .closed = chat_closed, .free = chat_free,
};
