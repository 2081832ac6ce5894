/*
 * tools/bench/hist.h — a log-linear (HDR-style) latency histogram.
 *
 * Values are unsigned 64-bit integers (lamina-bench records nanoseconds).
 * Values below 2048 get one counter each; above that, every power of two is
 * split into 1024 equal sub-buckets, so any recorded value is known to within
 * 1/1024 of itself (3 significant decimal digits), from 1 ns up to
 * HIST_MAX_VALUE (2^42 - 1 ns, about 73 minutes).  Larger values are clamped
 * into the top bucket and counted in `saturated`; min, max, sum and count are
 * kept exactly, so mean and max are exact whatever the bucketing.
 *
 * Counters are C11 atomics so the load generator's threads can record into
 * one shared histogram without a lock (relaxed order: a histogram is only
 * read after the threads that record into it have been joined).
 */
#ifndef TOOLS_BENCH_HIST_H
#define TOOLS_BENCH_HIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 11 /* 2048 exact values */
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS) /* 2048 */
#define HIST_HALF_COUNT (HIST_SUB_COUNT / 2) /* 1024 */
#define HIST_TOP_BIT 42 /* values < 2^42 */
#define HIST_MAX_VALUE ((UINT64_C(1) << HIST_TOP_BIT) - 1)
#define HIST_NBUCKETS (HIST_SUB_COUNT + (HIST_TOP_BIT - HIST_SUB_BITS) * HIST_HALF_COUNT)

typedef struct hist {
    _Atomic uint64_t *counts; /* HIST_NBUCKETS counters */
    _Atomic uint64_t total;
    _Atomic uint64_t sum;
    _Atomic uint64_t min; /* UINT64_MAX while empty */
    _Atomic uint64_t max;
    _Atomic uint64_t saturated; /* values above HIST_MAX_VALUE (clamped) */
} hist;

/* Allocate the counters of a caller-owned struct.  0, or -1 when out of
 * memory (then *h is left empty and hist_finish is still safe). */
int hist_init(hist *h);
/* Free the counters; accepts a zeroed or finished struct. */
void hist_finish(hist *h);
/* Forget every value (keeps the allocation). */
void hist_reset(hist *h);

/* Record one value; thread-safe, lock-free. */
void hist_record(hist *h, uint64_t v);
/* Add every value of src into dst (src unchanged).  Not atomic as a whole:
 * neither histogram may be recorded into meanwhile. */
void hist_merge(hist *dst, const hist *src);

uint64_t hist_count(const hist *h);
/* Exact mean of the recorded (clamped) values; 0 when empty. */
double hist_mean(const hist *h);
/* Exact extremes; 0 when empty. */
uint64_t hist_min(const hist *h);
uint64_t hist_max(const hist *h);
/* Value at percentile p (0 < p <= 100): the smallest recorded bucket whose
 * cumulative count reaches ceil(p/100 * count), reported as the highest value
 * that bucket can hold, clamped to [min, max].  So the answer is never below
 * the true percentile and exceeds it by at most 1/1024 of itself.  0 when
 * empty. */
uint64_t hist_percentile(const hist *h, double p);

/* Bucket geometry, exposed for tests and for the JSON dump. */
size_t hist_index(uint64_t v);
uint64_t hist_bucket_low(size_t idx);
uint64_t hist_bucket_high(size_t idx);
/* Iterate the non-empty buckets in value order (for the JSON dump): start
 * with *cursor = 0; each call returning 1 gives the next bucket's highest
 * value and count; 0 means no more. */
int hist_next(const hist *h, size_t *cursor, uint64_t *high, uint64_t *count);

#endif
