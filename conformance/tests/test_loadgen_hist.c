/* Unit tests: the load generator's log-bucketed histogram (issue 10:
 * p50/p99/p99.9/max within the bucket error, merge, delta). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "loadgen_hist.h"

static void test_buckets_are_monotonic_and_tight(void **state)
{
    (void)state;
    unsigned last = 0;
    for (uint64_t v = 0; v < 5000000; v += 1 + v / 7) {
        unsigned b = lg_hist_bucket_of(v);
        assert_true(b >= last);
        last = b;
        uint64_t low = lg_hist_bucket_low(b);
        assert_true(low <= v);
        assert_true(v - low <= v / 32 + 1);   /* about 3% */
    }
    assert_int_equal(lg_hist_bucket_of(31), 31);
    assert_int_equal(lg_hist_bucket_low(lg_hist_bucket_of(1000)), 992);
    assert_int_equal(lg_hist_bucket_of(UINT64_MAX), LG_HIST_BUCKETS - 1);
}

static void test_percentiles_of_uniform_values(void **state)
{
    (void)state;
    struct lg_hist *h = calloc(1, sizeof *h);
    for (uint64_t v = 1; v <= 100000; v++)
        lg_hist_record(h, v * 1000);        /* 1 us .. 100 ms */
    assert_int_equal(h->count, 100000);
    assert_int_equal(h->max, 100000000);
    uint64_t p50 = lg_hist_percentile(h, 50), p99 = lg_hist_percentile(h, 99);
    uint64_t p999 = lg_hist_percentile(h, 99.9);
    assert_true(p50 > 48500000 && p50 < 51500000);
    assert_true(p99 > 96000000 && p99 < 102000000);
    assert_true(p999 > 97000000 && p999 <= 100000000);
    assert_true(lg_hist_percentile(h, 100) == h->max);
    free(h);
}

static void test_merge_and_delta(void **state)
{
    (void)state;
    struct lg_hist *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    struct lg_hist *d = calloc(1, sizeof *d);
    assert_int_equal(lg_hist_percentile(a, 99), 0);
    for (int i = 0; i < 90; i++)
        lg_hist_record(a, 1000);
    *b = *a;                                  /* snapshot */
    for (int i = 0; i < 10; i++)
        lg_hist_record(a, 1000000);
    lg_hist_delta(d, a, b);
    assert_int_equal(d->count, 10);
    uint64_t p50 = lg_hist_percentile(d, 50);
    assert_true(p50 > 960000 && p50 <= 1000000);
    lg_hist_merge(b, d);
    assert_int_equal(b->count, 100);
    assert_int_equal(b->max, 1000000);
    assert_true(lg_hist_percentile(b, 50) < 1100);
    free(a); free(b); free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_are_monotonic_and_tight),
        cmocka_unit_test(test_percentiles_of_uniform_values),
        cmocka_unit_test(test_merge_and_delta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
