/*
 * tools/bench/load.h — the load generator shared by every target.
 *
 * One generator drives Lamina and the raw-nng baselines alike; only the
 * target's send_one() differs, so a ratio between two runs compares the
 * paths, not two harnesses.  Callers are threads, each calling the target's
 * blocking send_one() (which waits on its own nng context/aio, as the SDK
 * client does).
 *
 * Closed loop: `concurrency` callers each send their next request as soon as
 * the previous one returns, until `requests` measured requests were sent or
 * `duration` passed.
 *
 * Open loop: request i is due at t0 + i / rate, whatever happened before.
 * A free caller claims the next ticket, sleeps until its due time and sends.
 * Latency is measured from the due time (coordinated omission corrected,
 * as wrk2 does) and, separately, from the actual send; when every caller is
 * busy, tickets run late and the corrected figure shows it.
 *
 * Warm-up: requests due (open) or started (closed) before t0 + warmup are
 * sent but not recorded.  The measured window starts at t0 + warmup and
 * ends at the last measured completion.
 */
#ifndef TOOLS_BENCH_LOAD_H
#define TOOLS_BENCH_LOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define LOAD_MAX_CONCURRENCY 4096
#define LOAD_ERR_CLASSES 32
#define LOAD_CLASS_LEN 96

/* What one request came to. */
typedef struct load_outcome {
    bool ok; /* a successful reply */
    bool cold; /* it started a new execution environment */
    double init_ms; /* init duration reported for a cold start */
    uint64_t latency_ns; /* 0: the generator times the call; else the
                                   target's own measurement (cold modes time
                                   only part of send_one) */
    uint64_t accept_ns; /* end-to-end async: time from the send to the 202
                                   (0: not such a request) */
    uint32_t items; /* a successful request that moved several things (queue
                                   receive: messages received and deleted) */
    char err_class[LOAD_CLASS_LEN]; /* when !ok: "timeout", "throttled", ... */
} load_outcome;

/* A thing to send requests to.  thread_open runs once in each caller thread
 * (per-thread nng context, buffers ...); send_one must be blocking and
 * thread-safe across callers; it fills *out (zeroed by the caller). */
typedef struct load_target {
    const char *label; /* "lamina", "baseline", ... */
    void *arg;
    int (*thread_open)(void *arg, void **tls);
    void (*thread_close)(void *tls);
    void (*send_one)(void *tls, load_outcome *out);
} load_target;

typedef struct load_shape {
    int concurrency; /* callers, 1..LOAD_MAX_CONCURRENCY */
    uint64_t requests; /* measured requests; 0: run for duration_ns */
    uint64_t duration_ns; /* measured time when requests == 0 */
    double rate; /* open loop: requests per second; 0: closed loop */
    uint64_t warmup_ns; /* unrecorded lead-in */
    uint64_t limit_ns; /* 0, or: start no request after t0 + limit_ns
                             (bounds a -n run against a stuck target) */
} load_shape;

/* Error classes and their counts (small, lock-protected: errors are rare
 * next to successes, and each class is a string). */
typedef struct load_errors {
    pthread_mutex_t mu;
    int n;
    struct {
        char name[LOAD_CLASS_LEN];
        uint64_t count;
    } e[LOAD_ERR_CLASSES];
    uint64_t overflow; /* counted under "other" once the table is full */
} load_errors;

/* One successful request for the latency-over-time plot: when it ended
 * (ns into the measured window; merged rounds follow one another) and its
 * latency (ns). */
typedef struct load_sample {
    uint64_t t_ns;
    uint64_t lat_ns;
} load_sample;

/* Everything a run measured.  Histograms hold nanoseconds. */
typedef struct load_stats {
    hist ok; /* successful requests (open loop: from the due time) */
    hist uncorrected; /* open loop only: successful requests from the actual send */
    hist warm; /* the successful requests that were not cold starts */
    hist cold; /* the successful requests that were cold starts */
    hist init; /* init duration (ns) reported by those cold starts */
    hist accept; /* end-to-end async: send to 202 of the successful requests */
    load_errors errors;
    uint64_t requests; /* measured requests completed, ok or not */
    uint64_t failed; /* of which errors */
    uint64_t elapsed_ns; /* measured window (summed over merged rounds) */
    uint64_t late; /* open loop: tickets sent after their due time + 1 ms */
    uint64_t items; /* sum of load_outcome.items of the successful requests */
    int rounds; /* runs merged into this (1 for a single run) */
    /* Samples for --plot (NULL unless load_stats_keep_samples): the first
     * samples_cap successful requests; the rest are only counted. */
    load_sample *samples;
    size_t samples_cap;
    _Atomic uint64_t n_samples; /* offered: may exceed samples_cap */
} load_stats;

/* Caller-owned stats: 0 or -1 (out of memory; finish is still safe). */
int load_stats_init(load_stats *st);
void load_stats_finish(load_stats *st);
/* Keep up to cap samples of successful requests (for --plot): 0 or -1
 * (out of memory). */
int load_stats_keep_samples(load_stats *st, size_t cap);
/* Add src's figures into dst (rounds of the same side); src's samples are
 * appended after dst's window. */
void load_stats_merge(load_stats *dst, const load_stats *src);
void load_errors_add(load_errors *e, const char *cls, uint64_t count);

/* Run one shape against one target into *st (which should be fresh).
 * 0, or -1 with a message in errbuf (a caller thread could not start, or
 * thread_open failed). */
int load_run(const load_target *t, const load_shape *s, load_stats *st, char *errbuf,
             size_t errlen);

/* Monotonic clock in ns. */
uint64_t load_now_ns(void);

#endif
