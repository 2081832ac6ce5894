/*
 * tools/bench/opts.h — parsing of the command line's values (durations,
 * sizes, counts) and of --fail-if conditions, and their evaluation against
 * a run's figures.  No I/O, so the unit tests cover it without a broker.
 */
#ifndef TOOLS_BENCH_OPTS_H
#define TOOLS_BENCH_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "10s", "500ms", "250us", "2m", "1h", "1.5s"; a bare number is seconds.
 * 0 on success, -1 if malformed or negative. */
int opts_duration_ns(const char *s, uint64_t *out);
/* "64", "4k"/"4KiB" (x1024), "1m"/"1MiB"; 0 or -1. */
int opts_size(const char *s, uint64_t *out);
/* A positive decimal count (with optional k/m suffix, x1000); 0 or -1. */
int opts_count(const char *s, uint64_t *out);

/* The figures a --fail-if condition can name (latencies in µs). */
typedef struct bench_figures {
    double p50_us, p90_us, p99_us, p999_us, p9999_us, max_us, mean_us;
    double count; /* successful requests */
    double requests; /* all measured requests */
    double throughput; /* successful per second */
    double errors; /* failed requests */
    double error_rate; /* failed / requests, 0..1 */
    bool has_ratio; /* --vs-baseline: Lamina over baseline */
    double ratio_p50, ratio_p99, ratio_throughput;
} bench_figures;

#define FAILIF_MAX 16

typedef enum failif_op { FAILIF_GT, FAILIF_GE, FAILIF_LT, FAILIF_LE } failif_op;

typedef struct failif_cond {
    char metric[24]; /* p50 p90 p99 p999 p9999 max mean count requests throughput
                        errors ratio.p50 ratio.p99 ratio.throughput */
    failif_op op;
    double value; /* µs for latencies; a fraction for "errors>0.1%" */
    bool percent; /* errors given as a rate */
    char text[64]; /* the condition as written */
} failif_cond;

typedef struct failif {
    int n;
    failif_cond c[FAILIF_MAX];
} failif;

/* Parse "p99>50ms,errors>0.1%".  0, or -1 with a message in err. */
int failif_parse(const char *expr, failif *out, char *err, size_t errlen);
/* How many conditions hold for fig; each one that holds is described in
 * msg (one per line, truncated to msglen).  A ratio condition without
 * ratios (no --vs-baseline) holds: the check could not be made. */
int failif_eval(const failif *f, const bench_figures *fig, char *msg, size_t msglen);

#endif
