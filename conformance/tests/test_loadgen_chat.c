/* Unit tests: the chat profile's message stamps (issue 10: per message
 * latency, no parsing of the stanza): written in place by lg_put_stamp,
 * found and recorded by lg_record_stamp wherever the stanza carries it,
 * rejected when absent or malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "loadgen_shared.h"
#include "loadgen_worker.h"

static struct lg_worker_stats stats;

static struct lg_worker worker_at(uint64_t now_ns)
{
    memset(&stats, 0, sizeof stats);
    struct lg_worker w = { .stats = &stats, .now_ns = now_ns };
    return w;
}

static void test_stamp_format(void **state)
{
    (void)state;
    char out[LG_STAMP_LEN + 1] = { 0 };
    lg_put_stamp(out, 7, 0x0123456789abcdefull);
    assert_string_equal(out, "lgts=07.0123456789abcdef.");
    lg_put_stamp(out, 12, 5);
    assert_string_equal(out, "lgts=12.0000000000000005.");
}

/* The stamp is found after attributes full of '=' and its latency lands
 * in its step. */
static void test_record_finds_stamp_after_attributes(void **state)
{
    (void)state;
    char el[256];
    char stamp[LG_STAMP_LEN + 1] = { 0 };
    lg_put_stamp(stamp, 3, 1000000);
    snprintf(el, sizeof el, "<message to='u2@d' type='chat' from='u1@d/r=x'><body>%sxxxx</body></message>",
             stamp);
    struct lg_worker w = worker_at(1250000);
    assert_true(lg_record_stamp(&w, el, strlen(el)));
    assert_int_equal(stats.step[3].received, 1);
    assert_int_equal(stats.step[3].hist.count, 1);
    assert_int_equal(stats.step[3].hist.max, 250000);
    assert_int_equal(stats.step[1].received, 0);
}

static void test_stamp_at_the_very_start_and_end(void **state)
{
    (void)state;
    char el[LG_STAMP_LEN + 1] = { 0 };
    lg_put_stamp(el, 1, 10);
    struct lg_worker w = worker_at(30);
    assert_true(lg_record_stamp(&w, el, LG_STAMP_LEN));
    assert_int_equal(stats.step[1].hist.max, 20);
    /* cut short: the stamp is incomplete */
    assert_false(lg_record_stamp(&w, el, LG_STAMP_LEN - 2));
    assert_int_equal(stats.step[1].received, 1);
}

static void test_unstamped_or_malformed(void **state)
{
    (void)state;
    struct lg_worker w = worker_at(100);
    const char *none = "<message to='a=b' x='lgts'><body>lgts</body></message>";
    assert_false(lg_record_stamp(&w, none, strlen(none)));
    const char *bad_hex = "<message><body>lgts=01.00000000000000zz.</body></message>";
    assert_false(lg_record_stamp(&w, bad_hex, strlen(bad_hex)));
    const char *bad_step = "<message><body>lgts=x1.0000000000000001.</body></message>";
    assert_false(lg_record_stamp(&w, bad_step, strlen(bad_step)));
    const char *equals_first = "=lgts=";
    assert_false(lg_record_stamp(&w, equals_first, strlen(equals_first)));
    for (unsigned s = 0; s <= LG_MAX_STEPS; s++)
        assert_int_equal(stats.step[s].received, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stamp_format),
        cmocka_unit_test(test_record_finds_stamp_after_attributes),
        cmocka_unit_test(test_stamp_at_the_very_start_and_end),
        cmocka_unit_test(test_unstamped_or_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
