/* loadgen_hist: see loadgen_hist.h. Bucket b < 32 holds the value b; above,
 * group g = msb - SUB_BITS + 1 holds [2^msb, 2^(msb+1)) in 32 equal parts. */
#include "loadgen_hist.h"

#include <math.h>
#include <string.h>

#define SUB_COUNT (1u << LG_HIST_SUB_BITS)

void lg_hist_reset(struct lg_hist *h)
{
    memset(h, 0, sizeof *h);
}

unsigned lg_hist_bucket_of(uint64_t ns)
{
    if (ns < SUB_COUNT)
        return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    if (msb >= LG_HIST_MAX_BITS)
        return LG_HIST_BUCKETS - 1;
    unsigned group = msb - LG_HIST_SUB_BITS + 1;
    unsigned sub = (unsigned)(ns >> (msb - LG_HIST_SUB_BITS)) & (SUB_COUNT - 1);
    return group * SUB_COUNT + sub;
}

uint64_t lg_hist_bucket_low(unsigned bucket)
{
    if (bucket < SUB_COUNT)
        return bucket;
    unsigned group = bucket / SUB_COUNT, sub = bucket % SUB_COUNT;
    unsigned msb = group + LG_HIST_SUB_BITS - 1;
    return ((uint64_t)(SUB_COUNT + sub)) << (msb - LG_HIST_SUB_BITS);
}

/* The width of a bucket: 1 in the linear part, 2^(msb-SUB_BITS) above. */
static uint64_t bucket_width(unsigned bucket)
{
    if (bucket < SUB_COUNT)
        return 1;
    return (uint64_t)1 << (bucket / SUB_COUNT - 1);
}

void lg_hist_record(struct lg_hist *h, uint64_t ns)
{
    h->bucket[lg_hist_bucket_of(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src)
{
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

void lg_hist_delta(struct lg_hist *dst, const struct lg_hist *a, const struct lg_hist *b)
{
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
        dst->bucket[i] = a->bucket[i] - b->bucket[i];
    dst->count = a->count - b->count;
    dst->max = a->max;
}

uint64_t lg_hist_percentile(const struct lg_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (rank < 1)
        rank = 1;
    if (rank >= h->count)
        return h->max;   /* the top rank is the exact max */
    uint64_t seen = 0;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t mid = lg_hist_bucket_low(i) + bucket_width(i) / 2;
            return mid < h->max ? mid : h->max;
        }
    }
    return h->max;
}
