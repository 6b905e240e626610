/* subscription: the presence-subscription state machine of one roster item
 * (SPEC IM-2; RFC 6121 section 3 and Appendix A). A pure function: it takes
 * the item's state and one subscription stanza and says what the next state
 * is and what the caller (presence/roster handlers) must do. No allocation,
 * no I/O; everything is passed and returned by value, nobody owns anything. */
#ifndef IMREF_SUBSCRIPTION_H
#define IMREF_SUBSCRIPTION_H

#include <stdbool.h>

enum sub_state { SUB_NONE, SUB_TO, SUB_FROM, SUB_BOTH };

/* The user's record about one contact. A record with exists == false is an
 * inbound request from someone not in the roster: only pending_in counts
 * then (RFC 6121 3.1.3), the other fields are read as none/false. */
struct sub_item_state {
    enum sub_state sub;
    bool ask_out;     /* we sent subscribe, pending (roster ask='subscribe') */
    bool pending_in;  /* contact asked us, not yet answered */
    bool preapproved; /* roster approved='true' (RFC 6121 3.4) */
    bool exists;      /* a roster item exists */
};

/* "OUT" = the local user sends it; "IN" = it arrives for the local user. */
enum sub_event { SUB_EV_OUT_SUBSCRIBE, SUB_EV_OUT_SUBSCRIBED, SUB_EV_OUT_UNSUBSCRIBE, SUB_EV_OUT_UNSUBSCRIBED,
                 SUB_EV_IN_SUBSCRIBE, SUB_EV_IN_SUBSCRIBED, SUB_EV_IN_UNSUBSCRIBE, SUB_EV_IN_UNSUBSCRIBED };

struct sub_outcome {
    struct sub_item_state next;
    bool state_changed;   /* next differs from cur: store it */
    bool roster_push;     /* a visible attribute (existence, subscription, ask,
                             approved) changed and the item exists: push it to
                             the user's interested resources. pending_in alone
                             is not visible in the roster and is never pushed. */
    bool route;           /* OUT events: forward the stanza to the contact; IN events: deliver it to the user's resources */
    bool auto_subscribed; /* IN subscribe answered by the server with <presence type='subscribed'/>:
                             the contact already has 'from' (RFC 6121 3.1.3) or was pre-approved (3.4) */
    bool send_presence;   /* 'from' was just granted (OUT subscribed, or IN subscribe auto-approved
                             by pre-approval): send the user's current presence to the contact */
    bool send_unavailable;/* 'from' was removed (OUT unsubscribed, IN unsubscribe): send
                             unavailable from the user's available resources to the contact */
};

struct sub_outcome subscription_apply(struct sub_item_state cur, enum sub_event ev);

/* True while the record carries anything worth storing (an item, or an
 * inbound request from someone not in the roster); false: drop the record. */
bool sub_record_needed(struct sub_item_state s);

const char *sub_state_name(enum sub_state s);   /* "none","to","from","both" */
/* Parses one of those names; returns 0, or -1 for anything else. */
int sub_state_parse(const char *name, enum sub_state *out);

#endif
