/*
 * tools/bench/hist.c — the log-linear histogram (see hist.h for the design).
 *
 * Index of a value v:
 *   v < 2048:      idx = v (exact)
 *   otherwise:     e = position of the top bit (11..41), shift = e - 10,
 *                  sub = v >> shift (1024..2047),
 *                  idx = 2048 + (shift - 1) * 1024 + (sub - 1024)
 * so bucket idx covers [sub << shift, ((sub + 1) << shift) - 1]: its width is
 * at most 1/1024 of its lowest value.
 */
#include "hist.h"

#include <stdlib.h>

int hist_init(hist *h)
{
    h->counts = calloc(HIST_NBUCKETS, sizeof(*h->counts));
    atomic_init(&h->total, 0);
    atomic_init(&h->sum, 0);
    atomic_init(&h->min, UINT64_MAX);
    atomic_init(&h->max, 0);
    atomic_init(&h->saturated, 0);
    return h->counts != NULL ? 0 : -1;
}

void hist_finish(hist *h)
{
    if (h == NULL) {
        return;
    }
    free((void *)h->counts);
    h->counts = NULL;
}

void hist_reset(hist *h)
{
    for (size_t i = 0; h->counts != NULL && i < HIST_NBUCKETS; i++) {
        atomic_store_explicit(&h->counts[i], 0, memory_order_relaxed);
    }
    atomic_store(&h->total, 0);
    atomic_store(&h->sum, 0);
    atomic_store(&h->min, UINT64_MAX);
    atomic_store(&h->max, 0);
    atomic_store(&h->saturated, 0);
}

size_t hist_index(uint64_t v)
{
    if (v > HIST_MAX_VALUE) {
        v = HIST_MAX_VALUE;
    }
    if (v < HIST_SUB_COUNT) {
        return (size_t)v;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - (HIST_SUB_BITS - 1);
    uint64_t sub = v >> shift;
    return HIST_SUB_COUNT + (size_t)(shift - 1) * HIST_HALF_COUNT + (size_t)(sub - HIST_HALF_COUNT);
}

uint64_t hist_bucket_low(size_t idx)
{
    if (idx < HIST_SUB_COUNT) {
        return idx;
    }
    size_t k = idx - HIST_SUB_COUNT;
    unsigned shift = (unsigned)(k / HIST_HALF_COUNT) + 1;
    uint64_t sub = HIST_HALF_COUNT + k % HIST_HALF_COUNT;
    return sub << shift;
}

uint64_t hist_bucket_high(size_t idx)
{
    if (idx < HIST_SUB_COUNT) {
        return idx;
    }
    unsigned shift = (unsigned)((idx - HIST_SUB_COUNT) / HIST_HALF_COUNT) + 1;
    return hist_bucket_low(idx) + (UINT64_C(1) << shift) - 1;
}

static void atomic_min_u64(_Atomic uint64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v < cur && !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

static void atomic_max_u64(_Atomic uint64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

void hist_record(hist *h, uint64_t v)
{
    if (v > HIST_MAX_VALUE) {
        atomic_fetch_add_explicit(&h->saturated, 1, memory_order_relaxed);
        v = HIST_MAX_VALUE;
    }
    atomic_fetch_add_explicit(&h->counts[hist_index(v)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
    atomic_min_u64(&h->min, v);
    atomic_max_u64(&h->max, v);
}

void hist_merge(hist *dst, const hist *src)
{
    if (hist_count(src) == 0) {
        return;
    }
    for (size_t i = 0; i < HIST_NBUCKETS; i++) {
        uint64_t n = atomic_load_explicit(&src->counts[i], memory_order_relaxed);
        if (n != 0) {
            atomic_fetch_add_explicit(&dst->counts[i], n, memory_order_relaxed);
        }
    }
    atomic_fetch_add(&dst->total, atomic_load(&src->total));
    atomic_fetch_add(&dst->sum, atomic_load(&src->sum));
    atomic_fetch_add(&dst->saturated, atomic_load(&src->saturated));
    atomic_min_u64(&dst->min, atomic_load(&src->min));
    atomic_max_u64(&dst->max, atomic_load(&src->max));
}

uint64_t hist_count(const hist *h)
{
    return atomic_load(&h->total);
}

double hist_mean(const hist *h)
{
    uint64_t n = hist_count(h);
    return n == 0 ? 0.0 : (double)atomic_load(&h->sum) / (double)n;
}

uint64_t hist_min(const hist *h)
{
    return hist_count(h) == 0 ? 0 : atomic_load(&h->min);
}

uint64_t hist_max(const hist *h)
{
    return atomic_load(&h->max);
}

uint64_t hist_percentile(const hist *h, double p)
{
    uint64_t n = hist_count(h);
    if (n == 0) {
        return 0;
    }
    if (p >= 100.0) {
        return hist_max(h);
    }
    double want_d = p / 100.0 * (double)n;
    uint64_t want = (uint64_t)want_d;
    if ((double)want < want_d || want == 0) {
        want++;
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_NBUCKETS; i++) {
        seen += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (seen >= want) {
            uint64_t v = hist_bucket_high(i);
            uint64_t lo = hist_min(h);
            uint64_t hi = hist_max(h);
            return v < lo ? lo : (v > hi ? hi : v);
        }
    }
    return hist_max(h);
}

int hist_next(const hist *h, size_t *cursor, uint64_t *high, uint64_t *count)
{
    for (size_t i = *cursor; i < HIST_NBUCKETS; i++) {
        uint64_t n = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (n != 0) {
            *cursor = i + 1;
            *high = hist_bucket_high(i);
            *count = n;
            return 1;
        }
    }
    *cursor = HIST_NBUCKETS;
    return 0;
}
