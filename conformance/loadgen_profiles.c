/* loadgen_profiles: the idle, login and churn profiles (chat and presence
 * have their own files). Their state is a struct owned by the worker's
 * pdata, freed by the profile's free hook. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "loadgen_conn.h"
#include "loadgen_worker.h"
#include "loadgen_xml.h"

#define TICK 0.001
#define DONE_TAG 1   /* lg_conn.tag: the login (or cycle) completed */

static const char initial_presence[] = "<presence/>";
static const char presence_and_ping[] =
    "<presence/><iq type='get' id='lgping'><ping xmlns='urn:xmpp:ping'/></iq>";

static void nothing(struct lg_worker *w) { (void)w; }
static void no_stanza(struct lg_worker *w, struct lg_conn *c, const char *el, size_t len)
{
    (void)w; (void)c; (void)el; (void)len;
}
static void no_close(struct lg_worker *w, struct lg_conn *c, bool ok) { (void)w; (void)c; (void)ok; }

/* ---- idle: log in, hold, log out ------------------------------------------ */

static void idle_start(struct lg_worker *w)
{
    unsigned first = 0, count = 0;
    lg_split(w->o->sessions, w->o->workers, w->index, &first, &count);
    lg_worker_login_slots(w, w->o->first + first, count);
}

static void idle_online(struct lg_worker *w, struct lg_conn *c)
{
    (void)w;
    lg_conn_send(c, initial_presence, sizeof initial_presence - 1);
}

static void idle_hold_over(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop; (void)revents;
    struct lg_worker *w = t->data;
    w->stats->end_ns = lg_now_ns();
    lg_worker_finish(w);
}

static void idle_go(struct lg_worker *w)
{
    ev_timer *hold = xcalloc(1, sizeof *hold);
    w->pdata = hold;
    ev_timer_init(hold, idle_hold_over, w->o->hold, 0);
    hold->data = w;
    ev_timer_start(w->loop, hold);
}

static void idle_free(struct lg_worker *w)
{
    if (w->pdata)
        ev_timer_stop(w->loop, w->pdata);
    free(w->pdata);
}

const struct lg_profile lg_profile_idle = {
    .start = idle_start, .setup = lg_worker_ready, .go = idle_go, .online = idle_online,
    .stanza = no_stanza, .closed = no_close, .free = idle_free,
};

/* ---- login and churn: full logins, open loop or C at a time ------------- */

struct logins {
    ev_timer tick;
    uint64_t go_ns;
    unsigned started, in_flight, target;   /* churn: target cycles of this worker */
    unsigned concurrency;
    bool over;                             /* no more logins to start */
};

static unsigned next_user(struct lg_worker *w, struct logins *l)
{
    return w->o->first + (w->index + l->started * w->o->workers) % w->o->users;
}

static void start_one(struct lg_worker *w, struct logins *l)
{
    struct lg_conn *c = lg_conn_start(w, next_user(w, l), -1, 0, 0);
    l->started++;
    w->stats->step[1].sent++;
    if (c)
        l->in_flight++;
    else
        w->stats->step[1].errors++;
}

static void logins_maybe_done(struct lg_worker *w, struct logins *l)
{
    if (l->over && l->in_flight == 0)
        lg_worker_finish(w);
}

static void logins_start(struct lg_worker *w)
{
    struct logins *l = xcalloc(1, sizeof *l);
    w->pdata = l;
    ev_init(&l->tick, NULL);
    lg_worker_ready(w);
}

static void logins_online(struct lg_worker *w, struct lg_conn *c)
{
    (void)w;
    lg_conn_send(c, presence_and_ping, sizeof presence_and_ping - 1);
}

/* The answer to our ping (result or error: either proves the presence was
 * processed) completes the login. */
static void logins_stanza(struct lg_worker *w, struct lg_conn *c, const char *el, size_t len)
{
    size_t ilen = 0;
    const char *id = lg_xml_attr(el, len, "id", &ilen);
    if (c->tag == DONE_TAG || !lg_xml_named(el, len, "iq") || !id || ilen != 6
        || memcmp(id, "lgping", 6) != 0)
        return;
    c->tag = DONE_TAG;
    if (w->o->profile == LG_LOGIN) {
        w->stats->step[1].received++;
        lg_hist_record(&w->stats->step[1].hist, w->now_ns - c->started_ns);
    }
    lg_conn_close(c);
}

static void login_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop; (void)revents;
    struct lg_worker *w = t->data;
    struct logins *l = w->pdata;
    uint64_t now = lg_now_ns();
    double elapsed = (double)(now - l->go_ns) / 1e9;
    double end = w->o->duration;
    double rate = w->o->rate / w->o->workers;
    uint64_t due = (uint64_t)floor((elapsed < end ? elapsed : end) * rate) + 1;
    if ((double)(due - 1) >= end * rate)
        due = (uint64_t)ceil(end * rate);
    while (l->started < due)
        start_one(w, l);
    if (elapsed >= end) {
        ev_timer_stop(w->loop, &l->tick);
        w->stats->end_ns = now;
        l->over = true;
        logins_maybe_done(w, l);
    }
}

static void login_go(struct lg_worker *w)
{
    struct logins *l = w->pdata;
    l->go_ns = lg_now_ns();
    ev_timer_init(&l->tick, login_tick, 0, TICK);
    l->tick.data = w;
    ev_timer_start(w->loop, &l->tick);
}

static void login_closed(struct lg_worker *w, struct lg_conn *c, bool ok)
{
    struct logins *l = w->pdata;
    (void)ok;
    l->in_flight--;
    if (c->tag != DONE_TAG)
        w->stats->step[1].errors++;
    logins_maybe_done(w, l);
}

static void logins_free(struct lg_worker *w)
{
    struct logins *l = w->pdata;
    if (l)
        ev_timer_stop(w->loop, &l->tick);
    free(l);
}

const struct lg_profile lg_profile_login = {
    .start = logins_start, .setup = nothing, .go = login_go, .online = logins_online,
    .stanza = logins_stanza, .closed = login_closed, .free = logins_free,
};

static void churn_fill(struct lg_worker *w, struct logins *l)
{
    while (l->started < l->target && l->in_flight < l->concurrency && !w->finishing)
        start_one(w, l);
    if (l->started >= l->target && !l->over) {
        l->over = true;
    }
    if (l->over && l->in_flight == 0) {
        w->stats->end_ns = lg_now_ns();
        lg_worker_finish(w);
    }
}

static void churn_go(struct lg_worker *w)
{
    struct logins *l = w->pdata;
    unsigned first = 0;
    lg_split(w->o->cycles, w->o->workers, w->index, &first, &l->target);
    lg_split(w->o->concurrency, w->o->workers, w->index, &first, &l->concurrency);
    if (l->concurrency == 0)
        l->concurrency = 1;
    l->go_ns = lg_now_ns();
    churn_fill(w, l);
}

/* A cycle is complete when the logout completed too. */
static void churn_closed(struct lg_worker *w, struct lg_conn *c, bool ok)
{
    struct logins *l = w->pdata;
    l->in_flight--;
    if (c->tag == DONE_TAG && ok) {
        w->stats->step[1].received++;
        lg_hist_record(&w->stats->step[1].hist, lg_now_ns() - c->started_ns);
    } else {
        w->stats->step[1].errors++;
    }
    churn_fill(w, l);
}

const struct lg_profile lg_profile_churn = {
    .start = logins_start, .setup = nothing, .go = churn_go, .online = logins_online,
    .stanza = logins_stanza, .closed = churn_closed, .free = logins_free,
};
