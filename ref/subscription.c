#include "subscription.h"

#include <string.h>

/* The nine states of RFC 6121 A.1. */
enum rfc_state { NONE, NONE_PO, NONE_PI, NONE_POI, TO, TO_PI, FROM, FROM_PO, BOTH, RFC_STATE_COUNT };

struct transition {
    bool route;          /* ROUTE? (outbound) / DELIVER? (inbound) */
    enum rfc_state next; /* equal to the row's state: "no state change" */
};

#define EVENT_COUNT (SUB_EV_IN_UNSUBSCRIBED + 1)

/* RFC 6121 Appendix A.2 (outbound) and A.3 (inbound), one table per event,
 * rows in the order of enum rfc_state. Outbound subscribe and unsubscribe
 * are always routed (A.2.1, A.2.2). The "no *" rows of inbound subscribe
 * (A.3.1) are auto-answered; pre-approval (3.4) is applied on top in
 * subscription_apply. */
static const struct transition tables[EVENT_COUNT][RFC_STATE_COUNT] = {
    [SUB_EV_OUT_SUBSCRIBE] = {      /* A.2.1 */
        [NONE] = { true, NONE_PO },  [NONE_PO] = { true, NONE_PO },  [NONE_PI] = { true, NONE_POI },
        [NONE_POI] = { true, NONE_POI }, [TO] = { true, TO },        [TO_PI] = { true, TO_PI },
        [FROM] = { true, FROM_PO },  [FROM_PO] = { true, FROM_PO },  [BOTH] = { true, BOTH },
    },
    [SUB_EV_OUT_UNSUBSCRIBE] = {    /* A.2.2 */
        [NONE] = { true, NONE },     [NONE_PO] = { true, NONE },     [NONE_PI] = { true, NONE_PI },
        [NONE_POI] = { true, NONE_PI }, [TO] = { true, NONE },       [TO_PI] = { true, NONE_PI },
        [FROM] = { true, FROM },     [FROM_PO] = { true, FROM },     [BOTH] = { true, FROM },
    },
    [SUB_EV_OUT_SUBSCRIBED] = {     /* A.2.3 */
        [NONE] = { false, NONE },    [NONE_PO] = { false, NONE_PO }, [NONE_PI] = { true, FROM },
        [NONE_POI] = { true, FROM_PO }, [TO] = { false, TO },        [TO_PI] = { true, BOTH },
        [FROM] = { false, FROM },    [FROM_PO] = { false, FROM_PO }, [BOTH] = { false, BOTH },
    },
    [SUB_EV_OUT_UNSUBSCRIBED] = {   /* A.2.4 */
        [NONE] = { false, NONE },    [NONE_PO] = { false, NONE_PO }, [NONE_PI] = { true, NONE },
        [NONE_POI] = { true, NONE_PO }, [TO] = { false, TO },        [TO_PI] = { true, TO },
        [FROM] = { true, NONE },     [FROM_PO] = { true, NONE_PO },  [BOTH] = { true, TO },
    },
    [SUB_EV_IN_SUBSCRIBE] = {       /* A.3.1 */
        [NONE] = { true, NONE_PI },  [NONE_PO] = { true, NONE_POI }, [NONE_PI] = { false, NONE_PI },
        [NONE_POI] = { false, NONE_POI }, [TO] = { true, TO_PI },    [TO_PI] = { false, TO_PI },
        [FROM] = { false, FROM },    [FROM_PO] = { false, FROM_PO }, [BOTH] = { false, BOTH },
    },
    [SUB_EV_IN_UNSUBSCRIBE] = {     /* A.3.2 */
        [NONE] = { false, NONE },    [NONE_PO] = { false, NONE_PO }, [NONE_PI] = { true, NONE },
        [NONE_POI] = { true, NONE_PO }, [TO] = { false, TO },        [TO_PI] = { true, TO },
        [FROM] = { true, NONE },     [FROM_PO] = { true, NONE_PO },  [BOTH] = { true, TO },
    },
    [SUB_EV_IN_SUBSCRIBED] = {      /* A.3.3 */
        [NONE] = { false, NONE },    [NONE_PO] = { true, TO },       [NONE_PI] = { false, NONE_PI },
        [NONE_POI] = { true, TO_PI }, [TO] = { false, TO },          [TO_PI] = { false, TO_PI },
        [FROM] = { false, FROM },    [FROM_PO] = { true, BOTH },     [BOTH] = { false, BOTH },
    },
    [SUB_EV_IN_UNSUBSCRIBED] = {    /* A.3.4 */
        [NONE] = { false, NONE },    [NONE_PO] = { true, NONE },     [NONE_PI] = { false, NONE_PI },
        [NONE_POI] = { true, NONE_PI }, [TO] = { true, NONE },       [TO_PI] = { true, NONE_PI },
        [FROM] = { false, FROM },    [FROM_PO] = { true, FROM },     [BOTH] = { true, FROM },
    },
};

static bool has_from(enum rfc_state s) { return s == FROM || s == FROM_PO || s == BOTH; }

static enum rfc_state to_rfc_state(struct sub_item_state s)
{
    switch (s.sub) {
    case SUB_TO: return s.pending_in ? TO_PI : TO;
    case SUB_FROM: return s.ask_out ? FROM_PO : FROM;
    case SUB_BOTH: return BOTH;
    case SUB_NONE: break;
    }
    if (s.ask_out) return s.pending_in ? NONE_POI : NONE_PO;
    return s.pending_in ? NONE_PI : NONE;
}

/* Writes an RFC state into the fields it covers; keeps exists/preapproved. */
static void set_rfc_state(struct sub_item_state *s, enum rfc_state r)
{
    static const struct { enum sub_state sub; bool ask_out, pending_in; } fields[RFC_STATE_COUNT] = {
        [NONE] = { SUB_NONE, false, false }, [NONE_PO] = { SUB_NONE, true, false },
        [NONE_PI] = { SUB_NONE, false, true }, [NONE_POI] = { SUB_NONE, true, true },
        [TO] = { SUB_TO, false, false },     [TO_PI] = { SUB_TO, false, true },
        [FROM] = { SUB_FROM, false, false }, [FROM_PO] = { SUB_FROM, true, false },
        [BOTH] = { SUB_BOTH, false, false },
    };
    s->sub = fields[r].sub;
    s->ask_out = fields[r].ask_out;
    s->pending_in = fields[r].pending_in;
}

/* A record without a roster item only remembers an inbound request. */
static struct sub_item_state normalise(struct sub_item_state s)
{
    if (!s.exists) {
        s.sub = SUB_NONE;
        s.ask_out = false;
        s.preapproved = false;
    }
    return s;
}

/* RFC 6121 3.4: the user's 'subscribed' without a pending request from the
 * contact pre-approves; 'unsubscribed' withdraws a pre-approval silently. */
static bool apply_preapproval(enum sub_event ev, enum rfc_state r, struct sub_outcome *o)
{
    if (has_from(r) || o->next.pending_in) return false;
    if (ev == SUB_EV_OUT_SUBSCRIBED) {
        o->next.preapproved = true;
        o->next.exists = true;
        return true;
    }
    if (ev == SUB_EV_OUT_UNSUBSCRIBED && o->next.preapproved) {
        o->next.preapproved = false;
        return true;
    }
    if (ev == SUB_EV_IN_SUBSCRIBE && o->next.preapproved) {
        set_rfc_state(&o->next, r == TO ? BOTH : r == NONE_PO ? FROM_PO : FROM);
        o->next.preapproved = false;
        o->auto_subscribed = true;
        o->send_presence = true;
        return true;
    }
    return false;
}

static void apply_table(enum sub_event ev, enum rfc_state r, struct sub_outcome *o)
{
    const struct transition *t = &tables[ev][r];
    o->route = t->route;
    set_rfc_state(&o->next, t->next);
    bool from_before = has_from(r), from_after = has_from(t->next);
    if (ev == SUB_EV_IN_SUBSCRIBE && from_before) o->auto_subscribed = true;
    if (!from_before && from_after) {
        o->send_presence = true;      /* an approval (OUT subscribed) */
        o->next.preapproved = false;  /* pre-approval has no meaning past 'from' */
    }
    if (from_before && !from_after) o->send_unavailable = true;
    /* RFC 6121 3.1.2 and 3.1.5: subscribing and approving create the item. */
    if (ev == SUB_EV_OUT_SUBSCRIBE || (ev == SUB_EV_OUT_SUBSCRIBED && o->send_presence)) o->next.exists = true;
}

static bool visible_change(struct sub_item_state a, struct sub_item_state b)
{
    return a.exists != b.exists || a.sub != b.sub || a.ask_out != b.ask_out || a.preapproved != b.preapproved;
}

static bool same_state(struct sub_item_state a, struct sub_item_state b)
{
    return !visible_change(a, b) && a.pending_in == b.pending_in;
}

struct sub_outcome subscription_apply(struct sub_item_state cur, enum sub_event ev)
{
    struct sub_outcome o;
    memset(&o, 0, sizeof o);
    cur = normalise(cur);
    o.next = cur;
    if ((unsigned)ev >= EVENT_COUNT) return o;
    enum rfc_state r = to_rfc_state(cur);
    if (!apply_preapproval(ev, r, &o)) apply_table(ev, r, &o);
    o.state_changed = !same_state(cur, o.next);
    o.roster_push = o.next.exists && visible_change(cur, o.next);
    return o;
}

bool sub_record_needed(struct sub_item_state s)
{
    return s.exists || s.pending_in;
}

static const char *const state_names[] = { "none", "to", "from", "both" };

const char *sub_state_name(enum sub_state s)
{
    if ((unsigned)s > SUB_BOTH) return "none";
    return state_names[s];
}

int sub_state_parse(const char *name, enum sub_state *out)
{
    for (unsigned i = 0; i <= SUB_BOTH; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum sub_state)i;
            return 0;
        }
    }
    return -1;
}
