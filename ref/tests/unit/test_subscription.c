/* Unit tests for subscription.c: the RFC 6121 Appendix A tables (IM-2).
 *
 * The table below is the expectation, written from the RFC, one row per
 * (state, event). States are words joined by '+': a base "none", "to",
 * "from" or "both", then "out" (ask_out: we asked), "in" (pending_in: the
 * contact asked), "pre" (pre-approved, RFC 6121 3.4), "noitem" (no roster
 * item, only a remembered inbound request). Outcome flags: "store"
 * (state_changed), "push" (roster_push), "route" (forward / deliver),
 * "auto" (server answers subscribed), "presence" (send the user's presence),
 * "unavail" (send unavailable); "-" for none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "subscription.h"

struct row {
    const char *cur;
    enum sub_event ev;
    const char *next;
    const char *flags;
};

#define OUT_SUB    SUB_EV_OUT_SUBSCRIBE
#define OUT_UNSUB  SUB_EV_OUT_UNSUBSCRIBE
#define OUT_SUBD   SUB_EV_OUT_SUBSCRIBED
#define OUT_UNSUBD SUB_EV_OUT_UNSUBSCRIBED
#define IN_SUB     SUB_EV_IN_SUBSCRIBE
#define IN_UNSUB   SUB_EV_IN_UNSUBSCRIBE
#define IN_SUBD    SUB_EV_IN_SUBSCRIBED
#define IN_UNSUBD  SUB_EV_IN_UNSUBSCRIBED

/* IM-2: RFC 6121 A.2.1 (outbound subscribe: always routed) */
static const struct row out_subscribe_rows[] = {
    { "none",           OUT_SUB, "none+out",       "store push route" },
    { "none+out",       OUT_SUB, "none+out",       "route" },
    { "none+in",        OUT_SUB, "none+out+in",    "store push route" },
    { "none+out+in",    OUT_SUB, "none+out+in",    "route" },
    { "to",             OUT_SUB, "to",             "route" },
    { "to+in",          OUT_SUB, "to+in",          "route" },
    { "from",           OUT_SUB, "from+out",       "store push route" },
    { "from+out",       OUT_SUB, "from+out",       "route" },
    { "both",           OUT_SUB, "both",           "route" },
    { "none+pre",       OUT_SUB, "none+out+pre",   "store push route" },
    { "none+out+pre",   OUT_SUB, "none+out+pre",   "route" },
    { "to+pre",         OUT_SUB, "to+pre",         "route" },
    { "none+noitem",    OUT_SUB, "none+out",       "store push route" },  /* 3.1.2: item created */
    { "none+in+noitem", OUT_SUB, "none+out+in",    "store push route" },
};

/* IM-2: RFC 6121 A.2.2 (outbound unsubscribe: always routed) */
static const struct row out_unsubscribe_rows[] = {
    { "none",           OUT_UNSUB, "none",           "route" },
    { "none+out",       OUT_UNSUB, "none",           "store push route" },
    { "none+in",        OUT_UNSUB, "none+in",        "route" },
    { "none+out+in",    OUT_UNSUB, "none+in",        "store push route" },
    { "to",             OUT_UNSUB, "none",           "store push route" },
    { "to+in",          OUT_UNSUB, "none+in",        "store push route" },
    { "from",           OUT_UNSUB, "from",           "route" },
    { "from+out",       OUT_UNSUB, "from",           "store push route" },
    { "both",           OUT_UNSUB, "from",           "store push route" },
    { "none+pre",       OUT_UNSUB, "none+pre",       "route" },
    { "none+out+pre",   OUT_UNSUB, "none+pre",       "store push route" },
    { "to+pre",         OUT_UNSUB, "none+pre",       "store push route" },
    { "none+noitem",    OUT_UNSUB, "none+noitem",    "route" },
    { "none+in+noitem", OUT_UNSUB, "none+in+noitem", "route" },
};

/* IM-2: RFC 6121 A.2.3 (outbound subscribed) with pre-approval (3.4) */
static const struct row out_subscribed_rows[] = {
    { "none",           OUT_SUBD, "none+pre",      "store push" },
    { "none+out",       OUT_SUBD, "none+out+pre",  "store push" },
    { "none+in",        OUT_SUBD, "from",          "store push route presence" },
    { "none+out+in",    OUT_SUBD, "from+out",      "store push route presence" },
    { "to",             OUT_SUBD, "to+pre",        "store push" },
    { "to+in",          OUT_SUBD, "both",          "store push route presence" },
    { "from",           OUT_SUBD, "from",          "-" },
    { "from+out",       OUT_SUBD, "from+out",      "-" },
    { "both",           OUT_SUBD, "both",          "-" },
    { "none+pre",       OUT_SUBD, "none+pre",      "-" },
    { "none+out+pre",   OUT_SUBD, "none+out+pre",  "-" },
    { "to+pre",         OUT_SUBD, "to+pre",        "-" },
    { "none+noitem",    OUT_SUBD, "none+pre",      "store push" },        /* 3.4: item created */
    { "none+in+noitem", OUT_SUBD, "from",          "store push route presence" },
};

/* IM-2: RFC 6121 A.2.4 (outbound unsubscribed); withdrawing a pre-approval (3.4) */
static const struct row out_unsubscribed_rows[] = {
    { "none",           OUT_UNSUBD, "none",        "-" },
    { "none+out",       OUT_UNSUBD, "none+out",    "-" },
    { "none+in",        OUT_UNSUBD, "none",        "store route" },
    { "none+out+in",    OUT_UNSUBD, "none+out",    "store route" },
    { "to",             OUT_UNSUBD, "to",          "-" },
    { "to+in",          OUT_UNSUBD, "to",          "store route" },
    { "from",           OUT_UNSUBD, "none",        "store push route unavail" },
    { "from+out",       OUT_UNSUBD, "none+out",    "store push route unavail" },
    { "both",           OUT_UNSUBD, "to",          "store push route unavail" },
    { "none+pre",       OUT_UNSUBD, "none",        "store push" },
    { "none+out+pre",   OUT_UNSUBD, "none+out",    "store push" },
    { "to+pre",         OUT_UNSUBD, "to",          "store push" },
    { "none+noitem",    OUT_UNSUBD, "none+noitem", "-" },
    { "none+in+noitem", OUT_UNSUBD, "none+noitem", "store route" },
};

/* IM-2: RFC 6121 A.3.1 (inbound subscribe), 3.1.3 auto-reply, 3.4 pre-approval */
static const struct row in_subscribe_rows[] = {
    { "none",           IN_SUB, "none+in",         "store route" },
    { "none+out",       IN_SUB, "none+out+in",     "store route" },
    { "none+in",        IN_SUB, "none+in",         "-" },
    { "none+out+in",    IN_SUB, "none+out+in",     "-" },
    { "to",             IN_SUB, "to+in",           "store route" },
    { "to+in",          IN_SUB, "to+in",           "-" },
    { "from",           IN_SUB, "from",            "auto" },
    { "from+out",       IN_SUB, "from+out",        "auto" },
    { "both",           IN_SUB, "both",            "auto" },
    { "none+pre",       IN_SUB, "from",            "store push auto presence" },
    { "none+out+pre",   IN_SUB, "from+out",        "store push auto presence" },
    { "to+pre",         IN_SUB, "both",            "store push auto presence" },
    { "none+noitem",    IN_SUB, "none+in+noitem",  "store route" },
    { "none+in+noitem", IN_SUB, "none+in+noitem",  "-" },
};

/* IM-2: RFC 6121 A.3.2 (inbound unsubscribe) */
static const struct row in_unsubscribe_rows[] = {
    { "none",           IN_UNSUB, "none",          "-" },
    { "none+out",       IN_UNSUB, "none+out",      "-" },
    { "none+in",        IN_UNSUB, "none",          "store route" },
    { "none+out+in",    IN_UNSUB, "none+out",      "store route" },
    { "to",             IN_UNSUB, "to",            "-" },
    { "to+in",          IN_UNSUB, "to",            "store route" },
    { "from",           IN_UNSUB, "none",          "store push route unavail" },
    { "from+out",       IN_UNSUB, "none+out",      "store push route unavail" },
    { "both",           IN_UNSUB, "to",            "store push route unavail" },
    { "none+pre",       IN_UNSUB, "none+pre",      "-" },
    { "none+out+pre",   IN_UNSUB, "none+out+pre",  "-" },
    { "to+pre",         IN_UNSUB, "to+pre",        "-" },
    { "none+noitem",    IN_UNSUB, "none+noitem",   "-" },
    { "none+in+noitem", IN_UNSUB, "none+noitem",   "store route" },  /* 3.3.3: record removed */
};

/* IM-2: RFC 6121 A.3.3 (inbound subscribed) */
static const struct row in_subscribed_rows[] = {
    { "none",           IN_SUBD, "none",           "-" },
    { "none+out",       IN_SUBD, "to",             "store push route" },
    { "none+in",        IN_SUBD, "none+in",        "-" },
    { "none+out+in",    IN_SUBD, "to+in",          "store push route" },
    { "to",             IN_SUBD, "to",             "-" },
    { "to+in",          IN_SUBD, "to+in",          "-" },
    { "from",           IN_SUBD, "from",           "-" },
    { "from+out",       IN_SUBD, "both",           "store push route" },
    { "both",           IN_SUBD, "both",           "-" },
    { "none+pre",       IN_SUBD, "none+pre",       "-" },
    { "none+out+pre",   IN_SUBD, "to+pre",         "store push route" },
    { "to+pre",         IN_SUBD, "to+pre",         "-" },
    { "none+noitem",    IN_SUBD, "none+noitem",    "-" },
    { "none+in+noitem", IN_SUBD, "none+in+noitem", "-" },
};

/* IM-2: RFC 6121 A.3.4 (inbound unsubscribed) */
static const struct row in_unsubscribed_rows[] = {
    { "none",           IN_UNSUBD, "none",           "-" },
    { "none+out",       IN_UNSUBD, "none",           "store push route" },
    { "none+in",        IN_UNSUBD, "none+in",        "-" },
    { "none+out+in",    IN_UNSUBD, "none+in",        "store push route" },
    { "to",             IN_UNSUBD, "none",           "store push route" },
    { "to+in",          IN_UNSUBD, "none+in",        "store push route" },
    { "from",           IN_UNSUBD, "from",           "-" },
    { "from+out",       IN_UNSUBD, "from",           "store push route" },
    { "both",           IN_UNSUBD, "from",           "store push route" },
    { "none+pre",       IN_UNSUBD, "none+pre",       "-" },
    { "none+out+pre",   IN_UNSUBD, "none+pre",       "store push route" },
    { "to+pre",         IN_UNSUBD, "none+pre",       "store push route" },
    { "none+noitem",    IN_UNSUBD, "none+noitem",    "-" },
    { "none+in+noitem", IN_UNSUBD, "none+in+noitem", "-" },
};

/* Parses the state notation above; fails the test on an unknown word. */
static struct sub_item_state parse_state(const char *text)
{
    struct sub_item_state s = { SUB_NONE, false, false, false, true };
    char copy[64];
    assert_true(strlen(text) < sizeof copy);
    strcpy(copy, text);
    char *save = NULL;
    for (char *w = strtok_r(copy, "+", &save); w; w = strtok_r(NULL, "+", &save)) {
        enum sub_state base;
        if (sub_state_parse(w, &base) == 0) s.sub = base;
        else if (strcmp(w, "out") == 0) s.ask_out = true;
        else if (strcmp(w, "in") == 0) s.pending_in = true;
        else if (strcmp(w, "pre") == 0) s.preapproved = true;
        else if (strcmp(w, "noitem") == 0) s.exists = false;
        else fail_msg("unknown state word '%s' in '%s'", w, text);
    }
    return s;
}

static bool has_flag(const char *flags, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(flags, word); p; p = strstr(p + 1, word)) {
        bool starts = p == flags || p[-1] == ' ';
        bool ends = p[n] == '\0' || p[n] == ' ';
        if (starts && ends) return true;
    }
    return false;
}

static const char *const event_names[] = {
    "OUT subscribe", "OUT subscribed", "OUT unsubscribe", "OUT unsubscribed",
    "IN subscribe", "IN subscribed", "IN unsubscribe", "IN unsubscribed",
};

static void check_flag(const struct row *r, const char *word, bool got)
{
    bool want = has_flag(r->flags, word);
    if (want != got)
        fail_msg("%s on '%s': flag %s is %d, expected %d", event_names[r->ev], r->cur, word, got, want);
}

static void check_row(const struct row *r)
{
    struct sub_item_state want = parse_state(r->next);
    struct sub_outcome o = subscription_apply(parse_state(r->cur), r->ev);
    if (o.next.sub != want.sub || o.next.ask_out != want.ask_out || o.next.pending_in != want.pending_in ||
        o.next.preapproved != want.preapproved || o.next.exists != want.exists)
        fail_msg("%s on '%s': got sub=%s out=%d in=%d pre=%d exists=%d, expected '%s'", event_names[r->ev],
                 r->cur, sub_state_name(o.next.sub), o.next.ask_out, o.next.pending_in, o.next.preapproved,
                 o.next.exists, r->next);
    check_flag(r, "store", o.state_changed);
    check_flag(r, "push", o.roster_push);
    check_flag(r, "route", o.route);
    check_flag(r, "auto", o.auto_subscribed);
    check_flag(r, "presence", o.send_presence);
    check_flag(r, "unavail", o.send_unavailable);
}

static void check_rows(const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) check_row(&rows[i]);
}

#define CHECK_TABLE(rows) check_rows(rows, sizeof rows / sizeof rows[0])

/* IM-2 */ static void test_im2_out_subscribe(void **state) { (void)state; CHECK_TABLE(out_subscribe_rows); }
/* IM-2 */ static void test_im2_out_unsubscribe(void **state) { (void)state; CHECK_TABLE(out_unsubscribe_rows); }
/* IM-2 */ static void test_im2_out_subscribed(void **state) { (void)state; CHECK_TABLE(out_subscribed_rows); }
/* IM-2 */ static void test_im2_out_unsubscribed(void **state) { (void)state; CHECK_TABLE(out_unsubscribed_rows); }
/* IM-2 */ static void test_im2_in_subscribe(void **state) { (void)state; CHECK_TABLE(in_subscribe_rows); }
/* IM-2 */ static void test_im2_in_unsubscribe(void **state) { (void)state; CHECK_TABLE(in_unsubscribe_rows); }
/* IM-2 */ static void test_im2_in_subscribed(void **state) { (void)state; CHECK_TABLE(in_subscribed_rows); }
/* IM-2 */ static void test_im2_in_unsubscribed(void **state) { (void)state; CHECK_TABLE(in_unsubscribed_rows); }

/* IM-2: every one of the 9 RFC states (and the pre-approved and item-less
 * variants) appears once per event, so no combination is left unchecked. */
static void test_im2_tables_cover_every_state(void **state)
{
    (void)state;
    static const char *const states[] = {
        "none", "none+out", "none+in", "none+out+in", "to", "to+in", "from", "from+out", "both",
        "none+pre", "none+out+pre", "to+pre", "none+noitem", "none+in+noitem",
    };
#define TABLE(rows) { rows, sizeof rows / sizeof rows[0] }
    const struct { const struct row *rows; size_t n; } tables[] = {
        TABLE(out_subscribe_rows), TABLE(out_subscribed_rows), TABLE(out_unsubscribe_rows),
        TABLE(out_unsubscribed_rows), TABLE(in_subscribe_rows), TABLE(in_subscribed_rows),
        TABLE(in_unsubscribe_rows), TABLE(in_unsubscribed_rows),
    };
#undef TABLE
    size_t n_states = sizeof states / sizeof states[0];
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        assert_int_equal(tables[t].n, n_states);
        for (size_t s = 0; s < n_states; s++) {
            assert_string_equal(tables[t].rows[s].cur, states[s]);
            assert_int_equal(tables[t].rows[s].ev, (enum sub_event)t);
        }
    }
}

/* IM-2: a full handshake between two local users, each side's record driven
 * by the stanzas the other sends, ends in 'both' on both sides. */
static void test_im2_handshake_reaches_both(void **state)
{
    (void)state;
    struct sub_item_state alice = { SUB_NONE, false, false, false, false }; /* alice's item for bob */
    struct sub_item_state bob = alice;                                      /* bob's item for alice */
    struct sub_outcome o;

    o = subscription_apply(alice, SUB_EV_OUT_SUBSCRIBE);   /* alice: subscribe to bob */
    assert_true(o.route);
    alice = o.next;
    o = subscription_apply(bob, SUB_EV_IN_SUBSCRIBE);
    assert_true(o.route);
    bob = o.next;
    o = subscription_apply(bob, SUB_EV_OUT_SUBSCRIBED);    /* bob approves */
    assert_true(o.route && o.send_presence);
    bob = o.next;
    o = subscription_apply(alice, SUB_EV_IN_SUBSCRIBED);
    assert_true(o.route);
    alice = o.next;
    o = subscription_apply(bob, SUB_EV_OUT_SUBSCRIBE);     /* bob subscribes back */
    bob = o.next;
    o = subscription_apply(alice, SUB_EV_IN_SUBSCRIBE);
    alice = o.next;
    o = subscription_apply(alice, SUB_EV_OUT_SUBSCRIBED);  /* alice approves */
    alice = o.next;
    o = subscription_apply(bob, SUB_EV_IN_SUBSCRIBED);
    bob = o.next;

    assert_int_equal(alice.sub, SUB_BOTH);
    assert_int_equal(bob.sub, SUB_BOTH);
    assert_false(alice.ask_out || alice.pending_in || bob.ask_out || bob.pending_in);
    assert_true(alice.exists && bob.exists);
}

/* IM-2: names and the record-needed rule. */
static void test_im2_names_and_records(void **state)
{
    (void)state;
    const char *names[] = { "none", "to", "from", "both" };
    for (int i = 0; i < 4; i++) {
        enum sub_state s;
        assert_string_equal(sub_state_name((enum sub_state)i), names[i]);
        assert_int_equal(sub_state_parse(names[i], &s), 0);
        assert_int_equal(s, i);
    }
    enum sub_state s;
    assert_int_equal(sub_state_parse("remove", &s), -1);
    assert_int_equal(sub_state_parse("", &s), -1);

    struct sub_item_state gone = { SUB_NONE, false, false, false, false };
    assert_false(sub_record_needed(gone));
    gone.pending_in = true;
    assert_true(sub_record_needed(gone));
    struct sub_item_state item = { SUB_NONE, false, false, false, true };
    assert_true(sub_record_needed(item));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_im2_out_subscribe),
        cmocka_unit_test(test_im2_out_unsubscribe),
        cmocka_unit_test(test_im2_out_subscribed),
        cmocka_unit_test(test_im2_out_unsubscribed),
        cmocka_unit_test(test_im2_in_subscribe),
        cmocka_unit_test(test_im2_in_unsubscribe),
        cmocka_unit_test(test_im2_in_subscribed),
        cmocka_unit_test(test_im2_in_unsubscribed),
        cmocka_unit_test(test_im2_tables_cover_every_state),
        cmocka_unit_test(test_im2_handshake_reaches_both),
        cmocka_unit_test(test_im2_names_and_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
