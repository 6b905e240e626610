/* Unit tests: the IM-1 routing decision for messages to a bare JID, as a
 * table (RFC 6121 §8.5.2), and the session registry it reads (BIND-2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"
#include "session.h"

#define MAXR 4
#define UNAV { false, 0 }

struct plan_case {
    const char *what;
    const char *type;             /* NULL: no type attribute (normal) */
    bool body;
    size_t n;
    struct route_candidate res[MAXR];
    enum bare_message_plan plan;
    bool deliver[MAXR];
};

/* IM-1 */
static const struct plan_case plan_table[] = {
    { "chat, one available", "chat", true, 1, { { true, 0 } }, PLAN_DELIVER, { true } },
    { "chat, highest priority wins", "chat", true, 3, { { true, 1 }, { true, 5 }, { true, 3 } }, PLAN_DELIVER, { false, true, false } },
    { "chat, equal highest all get it", "chat", true, 3, { { true, 5 }, { true, 5 }, { true, 1 } }, PLAN_DELIVER, { true, true, false } },
    { "normal (no type) like chat", NULL, true, 2, { { true, 2 }, { true, 1 } }, PLAN_DELIVER, { true, false } },
    { "negative priority never gets bare", "chat", true, 2, { { true, -1 }, { true, 0 } }, PLAN_DELIVER, { false, true } },
    { "only negative: offline", "chat", true, 1, { { true, -5 } }, PLAN_OFFLINE, { false } },
    { "unavailable resource: offline", "normal", true, 1, { UNAV }, PLAN_OFFLINE, { false } },
    { "no resources: offline", "chat", true, 0, { UNAV }, PLAN_OFFLINE, { false } },
    { "no body: dropped", "chat", false, 0, { UNAV }, PLAN_DROP, { false } },
    { "headline to all non-negative", "headline", true, 3, { { true, 1 }, { true, 0 }, { true, -1 } }, PLAN_DELIVER, { true, true, false } },
    { "headline nobody: dropped", "headline", true, 1, { { true, -1 } }, PLAN_DROP, { false } },
    { "error to one best only", "error", false, 2, { { true, 3 }, { true, 3 } }, PLAN_DELIVER, { true, false } },
    { "error nobody: dropped", "error", true, 0, { UNAV }, PLAN_DROP, { false } },
    { "groupchat never stored", "groupchat", true, 0, { UNAV }, PLAN_DROP, { false } },
    { "available zero beats unavailable high", "chat", true, 2, { { false, 9 }, { true, 0 } }, PLAN_DELIVER, { false, true } },
};

static void test_bare_message_plan_table(void **state)
{
    for (size_t i = 0; i < sizeof plan_table / sizeof plan_table[0]; i++) {
        const struct plan_case *c = &plan_table[i];
        bool deliver[MAXR] = { 0 };
        enum bare_message_plan p = router_plan_bare_message(c->type, c->body, c->res, c->n, deliver);
        if (p != c->plan) fail_msg("%s: plan %d, expected %d", c->what, p, c->plan);
        for (size_t k = 0; k < c->n; k++)
            if (deliver[k] != c->deliver[k]) fail_msg("%s: resource %zu deliver=%d", c->what, k, deliver[k]);
    }
}

/* BIND-1, BIND-2: the registry keeps resources per account, in bind order,
 * refuses a second identical full JID, and forgets an account's last one. */
static void test_session_registry(void **state)
{
    struct sessions *reg = sessions_new();
    struct session *a = sessions_add(reg, NULL, "alice", "example.com", "phone");
    struct session *b = sessions_add(reg, NULL, "alice", "example.com", "laptop");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(sessions_add(reg, NULL, "alice", "example.com", "phone"));
    assert_string_equal(a->full_jid, "alice@example.com/phone");
    assert_ptr_equal(sessions_of(reg, "alice@example.com"), a);
    assert_ptr_equal(a->next, b);
    assert_ptr_equal(sessions_find(reg, "alice@example.com/laptop"), b);
    assert_null(sessions_find(reg, "alice@example.com"));
    assert_int_equal(sessions_count_of(reg, "alice@example.com"), 2);
    /* the same lookups by parts, as routing makes them */
    assert_ptr_equal(sessions_of_account(reg, "alice", "example.com"), a);
    assert_ptr_equal(sessions_find_resource(reg, "alice", "example.com", "laptop"), b);
    assert_null(sessions_find_resource(reg, "alice", "example.com", "lap"));
    assert_null(sessions_of_account(reg, "alic", "example.com"));
    assert_null(sessions_of_account(reg, "alice", "example.co"));
    assert_null(sessions_of_account(reg, "alice@example.com", ""));
    assert_null(sessions_of(reg, "alice"));
    assert_null(sessions_of(reg, "alice@example.com@x"));
    assert_null(sessions_find(reg, "alice@example.co/phone"));
    session_add_directed(a, "bob@example.com");
    session_add_directed(a, "bob@example.com");
    assert_int_equal(a->n_directed, 1);
    sessions_remove(reg, a);
    assert_ptr_equal(sessions_of(reg, "alice@example.com"), b);
    sessions_remove(reg, b);
    assert_null(sessions_of(reg, "alice@example.com"));
    /* Many accounts: the table grows and still finds each. */
    char node[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(node, sizeof node, "u%d", i);
        assert_non_null(sessions_add(reg, NULL, node, "example.com", "r"));
    }
    assert_non_null(sessions_find(reg, "u2999@example.com/r"));
    assert_non_null(sessions_find(reg, "u0@example.com/r"));
    for (int i = 0; i < 3000; i += 7) {
        snprintf(node, sizeof node, "u%d", i);
        struct session *s = sessions_find_resource(reg, node, "example.com", "r");
        assert_non_null(s);
        assert_ptr_equal(sessions_of_account(reg, node, "example.com"), s);
        assert_string_equal(s->node, node);
    }
    sessions_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_message_plan_table),
        cmocka_unit_test(test_session_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
