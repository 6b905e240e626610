/* loadgen_presence: the presence profile. Users u(first)..u(first+N-1),
 * each worker a contiguous range. Set-up: after login each user fetches
 * its roster; unless it already holds K items with subscription 'both' it
 * asks the K/2 users after it and the K/2 before it (mod N) to subscribe;
 * everyone approves every request, and a user is set up once it got K
 * 'subscribed' answers. Measured: online users change presence (status
 * carrying the lgts stamp) at R/s in total, round-robin; every delivered
 * stamped presence from someone else is recorded. The state is owned by
 * the worker's pdata, freed by the free hook. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "loadgen_conn.h"
#include "loadgen_worker.h"
#include "loadgen_xml.h"

#define TICK 0.001

struct presence {
    ev_timer tick, setup_deadline;
    unsigned *subscribed;        /* per slot: 'subscribed' answers received */
    bool *done;                  /* per slot: set up */
    unsigned ndone, cursor;
    uint64_t go_ns, sent;
    bool setup_phase;
};

static void presence_start(struct lg_worker *w)
{
    struct presence *ps = xcalloc(1, sizeof *ps);
    w->pdata = ps;
    ev_init(&ps->tick, NULL);
    ev_init(&ps->setup_deadline, NULL);
    unsigned first = 0, count = 0;
    lg_split(w->o->users, w->o->workers, w->index, &first, &count);
    ps->subscribed = xcalloc(count ? count : 1, sizeof *ps->subscribed);
    ps->done = xcalloc(count ? count : 1, sizeof *ps->done);
    lg_worker_login_slots(w, w->o->first + first, count);
}

/* Ready once every online slot is set up. */
static void check_setup(struct lg_worker *w, struct presence *ps)
{
    if (!ps->setup_phase || w->ready)
        return;
    if (ps->ndone >= w->stats->online) {
        ev_timer_stop(w->loop, &ps->setup_deadline);
        lg_worker_ready(w);
    }
}

static void setup_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop; (void)revents;
    struct lg_worker *w = t->data;
    struct presence *ps = w->pdata;
    lg_worker_note(w, "roster set-up: %u of %llu users set up after %.0f s", ps->ndone,
                   (unsigned long long)w->stats->online, w->o->setup_timeout);
    w->stats->login_failures += w->stats->online - ps->ndone;
    lg_worker_ready(w);
}

static void presence_setup(struct lg_worker *w)
{
    struct presence *ps = w->pdata;
    ps->setup_phase = true;
    ev_timer_init(&ps->setup_deadline, setup_timeout, w->o->setup_timeout, 0);
    ps->setup_deadline.data = w;
    ev_timer_start(w->loop, &ps->setup_deadline);
    check_setup(w, ps);
}

static void mark_done(struct lg_worker *w, struct presence *ps, int slot)
{
    if (slot < 0 || ps->done[slot])
        return;
    ps->done[slot] = true;
    ps->ndone++;
    check_setup(w, ps);
}

static void presence_online(struct lg_worker *w, struct lg_conn *c)
{
    static const char roster_get[] = "<iq type='get' id='lgroster'><query xmlns='jabber:iq:roster'/></iq>";
    (void)w;
    lg_conn_send(c, roster_get, sizeof roster_get - 1);
}

static unsigned count_both(const char *el, size_t len)
{
    unsigned n = 0;
    static const char *const forms[] = { "subscription='both'", "subscription=\"both\"" };
    for (size_t f = 0; f < 2; f++) {
        size_t flen = strlen(forms[f]);
        for (const char *p = el; (p = memmem(p, len - (size_t)(p - el), forms[f], flen)); p += flen)
            n++;
    }
    return n;
}

/* Sends `type` presence to user number `user`. */
static void send_presence_to(struct lg_conn *c, const char *type, unsigned user)
{
    char node[64];
    snprintf(node, sizeof node, c->w->o->user_fmt, user);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<presence type='%s' to='%s@%s'/>", type, node, c->w->o->domain);
    lg_conn_send(c, b.data, b.len);
    buf_free(&b);
}

static void on_roster(struct lg_worker *w, struct presence *ps, struct lg_conn *c,
                      const char *el, size_t len)
{
    static const char initial[] = "<presence/>";
    const struct lg_opts *o = w->o;
    lg_conn_send(c, initial, sizeof initial - 1);
    if (count_both(el, len) >= o->roster || o->roster == 0) {
        mark_done(w, ps, c->slot);
        return;
    }
    unsigned me = c->user - o->first, n = o->users;
    for (unsigned d = 1; d <= o->roster / 2; d++) {
        send_presence_to(c, "subscribe", o->first + (me + d) % n);
        send_presence_to(c, "subscribe", o->first + (me + n - d) % n);
    }
}

static bool attr_is(const char *el, size_t len, const char *name, const char *value)
{
    size_t vlen = 0;
    const char *v = lg_xml_attr(el, len, name, &vlen);
    return v && vlen == strlen(value) && memcmp(v, value, vlen) == 0;
}

static void on_presence(struct lg_worker *w, struct presence *ps, struct lg_conn *c,
                        const char *el, size_t len)
{
    size_t flen = 0;
    const char *from = lg_xml_attr(el, len, "from", &flen);
    if (!from || lg_conn_is_self(c, from, flen))
        return;
    if (attr_is(el, len, "type", "subscribe")) {
        const char *slash = memchr(from, '/', flen);
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "<presence type='subscribed' to=%c%.*s%c/>", from[-1],
                   (int)(slash ? (size_t)(slash - from) : flen), from, from[-1]);
        lg_conn_send(c, b.data, b.len);
        buf_free(&b);
    } else if (attr_is(el, len, "type", "subscribed")) {
        if (c->slot >= 0 && ++ps->subscribed[c->slot] >= w->o->roster)
            mark_done(w, ps, c->slot);
    } else if (!lg_xml_attr(el, len, "type", &flen)) {
        lg_record_stamp(w, el, len);
    }
}

static void presence_stanza(struct lg_worker *w, struct lg_conn *c, const char *el, size_t len)
{
    struct presence *ps = w->pdata;
    if (lg_xml_named(el, len, "presence")) {
        on_presence(w, ps, c, el, len);
    } else if (lg_xml_named(el, len, "iq") && attr_is(el, len, "id", "lgroster")) {
        if (attr_is(el, len, "type", "result"))
            on_roster(w, ps, c, el, len);
        else
            lg_conn_abort(c, "roster fetch failed");
    }
}

/* The next online, set-up user after the cursor, or NULL. */
static struct lg_conn *next_sender(struct lg_worker *w, struct presence *ps)
{
    for (unsigned i = 0; i < w->nslots; i++) {
        unsigned slot = (ps->cursor + i) % w->nslots;
        struct lg_conn *c = w->slots[slot];
        if (c && c->state == LGC_ONLINE) {
            ps->cursor = slot + 1;
            return c;
        }
    }
    return NULL;
}

static void send_change(struct lg_worker *w, struct presence *ps, uint64_t intended)
{
    struct lg_conn *c = next_sender(w, ps);
    ps->sent++;
    if (!c) {
        w->stats->step[1].errors++;
        return;
    }
    char stamp[LG_STAMP_LEN];
    lg_put_stamp(stamp, 1, intended);
    static const char head[] = "<presence><status>", tail[] = "</status></presence>";
    lg_conn_send(c, head, sizeof head - 1);
    lg_conn_send(c, stamp, sizeof stamp);
    lg_conn_send(c, tail, sizeof tail - 1);
    w->stats->step[1].sent++;
}

static void presence_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop; (void)revents;
    struct lg_worker *w = t->data;
    struct presence *ps = w->pdata;
    uint64_t now = lg_now_ns();
    uint64_t end = ps->go_ns + (uint64_t)(w->o->duration * 1e9);
    double rate = w->o->rate * w->nslots / w->o->users;
    if (rate > 0) {
        double interval = 1e9 / rate;
        for (;;) {
            uint64_t intended = ps->go_ns + (uint64_t)((double)ps->sent * interval);
            if (intended > now || intended >= end)
                break;
            send_change(w, ps, intended);
        }
    }
    if (now >= end) {
        ev_timer_stop(w->loop, &ps->tick);
        lg_worker_drain(w, w->o->roster);
    }
}

static void presence_go(struct lg_worker *w)
{
    struct presence *ps = w->pdata;
    ps->go_ns = lg_now_ns();
    ev_timer_init(&ps->tick, presence_tick, 0, TICK);
    ps->tick.data = w;
    ev_timer_start(w->loop, &ps->tick);
}

static void presence_closed(struct lg_worker *w, struct lg_conn *c, bool ok)
{
    (void)ok;
    struct presence *ps = w->pdata;
    if (c->slot >= 0 && ps->done[c->slot]) {
        ps->done[c->slot] = false;
        ps->ndone--;
    }
    check_setup(w, ps);
}

static void presence_free(struct lg_worker *w)
{
    struct presence *ps = w->pdata;
    if (!ps)
        return;
    ev_timer_stop(w->loop, &ps->tick);
    ev_timer_stop(w->loop, &ps->setup_deadline);
    free(ps->subscribed);
    free(ps->done);
    free(ps);
}

const struct lg_profile lg_profile_presence = {
    .start = presence_start, .setup = presence_setup, .go = presence_go,
    .online = presence_online, .stanza = presence_stanza, .closed = presence_closed,
    .free = presence_free,
};
