/* loadgen_hist: a log-bucketed latency histogram in nanoseconds (32 linear
 * sub-buckets per power of two: about 3% relative error), fixed size and
 * plain data, so it can live in memory shared between the bench workers
 * and their parent and be merged by adding. Nothing to allocate or free. */
#ifndef IMREF_LOADGEN_HIST_H
#define IMREF_LOADGEN_HIST_H

#include <stdint.h>

#define LG_HIST_SUB_BITS 5
#define LG_HIST_MAX_BITS 40   /* values of 2^40 ns (about 18 min) and more share the top bucket */
#define LG_HIST_BUCKETS ((LG_HIST_MAX_BITS - LG_HIST_SUB_BITS + 1) << LG_HIST_SUB_BITS)

struct lg_hist {
    uint64_t count;
    uint64_t max;                      /* exact, ns */
    uint64_t bucket[LG_HIST_BUCKETS];
};

void lg_hist_reset(struct lg_hist *h);
void lg_hist_record(struct lg_hist *h, uint64_t ns);
/* dst += src. */
void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src);
/* dst = a - b, where b is an earlier snapshot of a (max is a's). */
void lg_hist_delta(struct lg_hist *dst, const struct lg_hist *a, const struct lg_hist *b);
/* The p-th percentile (0 < p <= 100, nearest rank) in ns: the middle of the
 * value's bucket, never above the exact max; 0 when empty. */
uint64_t lg_hist_percentile(const struct lg_hist *h, double p);

/* The bucket of a value and the smallest value of a bucket (for the tests). */
unsigned lg_hist_bucket_of(uint64_t ns);
uint64_t lg_hist_bucket_low(unsigned bucket);

#endif
