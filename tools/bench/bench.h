/*
 * tools/bench/bench.h — one benchmark run as a value (bench_spec), and the
 * function that executes it: connect, start the baseline helpers if asked,
 * alternate Lamina and baseline rounds, merge, report.  main.c builds a spec
 * from the command line; standard.c builds the standard set's specs.
 * The queue mode (queue.h) runs through the same rounds, with its queue in
 * `function`'s place.
 */
#ifndef TOOLS_BENCH_BENCH_H
#define TOOLS_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "load.h"
#include "opts.h"
#include "queue.h"
#include "bus.h"
#include "stream.h"
#include "url.h"

typedef enum bench_mode {
    BENCH_INVOKE, /* warm sync or async invokes of a function */
    BENCH_BASELINE, /* the raw two-hop nng path only */
    BENCH_COLD, /* first invokes of fresh environments */
    BENCH_COLD_BASELINE, /* fork+exec+connect only */
    BENCH_QUEUE, /* queue-send / receive+delete / send→receive / get of a queue */
    BENCH_STREAM, /* stream-put / put→get-records of a stream */
    BENCH_BUS, /* bus-put-events / put→receive through a rule to a queue */
    BENCH_URL, /* POSTs to a function URL over HTTP keep-alive */
} bench_mode;

/* The url mode's baseline (--url-baseline). */
typedef enum url_vs {
    URL_VS_API, /* the same function invoked over the api socket (lm_invoke) */
    URL_VS_MHD /* a trivial libmicrohttpd responder echoing each POST */
} url_vs;

typedef struct bench_spec {
    bench_mode mode;
    const char *state_dir; /* or endpoint; both may be NULL (SDK default) */
    const char *endpoint;
    const char *function; /* invoke and cold modes; the queue's name in queue mode */
    queue_op queue_op; /* queue mode */
    stream_op stream_op; /* stream mode (the stream's name in function) */
    bus_op bus_op; /* bus mode (the bus's name in function) */
    int bus_rules; /* bus mode: rules on the bus (0 means 1) */
    url_vs url_vs; /* url mode with --vs-baseline: what the URL is compared with */
    uint64_t prefill; /* queue receive: visible messages before each round (0: auto) */
    int baseline_hops; /* warm baseline: 2 (default, 0 means 2) or 1 (raw req/rep) */
    load_shape shape; /* the whole run; rounds split it */
    int rounds; /* per side, alternating Lamina, baseline, ... */
    uint64_t first_warmup_ns; /* warm-up of each side's first round (0: shape's);
                                 lets a pool grow to -c workers before measuring */
    bool vs_baseline;
    bool async;
    bool end_to_end; /* async: time each event until its destination ran */
    const void *payload;
    size_t payload_len;
    int timeout_ms; /* per request */
    bool quiet; /* no human summary */
    bool samples; /* keep per-request samples (--plot's latency over time) */
    bool cold_template; /* cold modes: the template (zygote) baseline, not fork+exec */
    const char *template_so; /* the .so its children dlopen (NULL: none) */
} bench_spec;

/* Samples kept per side for the latency-over-time plot (16 bytes each). */
#define BENCH_SAMPLES_MAX ((size_t)1 << 20)

/* Run it.  On 0, *doc holds the JSON document (caller deletes) and *fig the
 * figures for --fail-if.  -1 with a message in err when the run could not
 * be made at all (broker unreachable, helpers failed); request errors are
 * results, not failures. */
int bench_execute(const bench_spec *s, cJSON **doc, bench_figures *fig, char *err, size_t errlen);

const char *bench_mode_name(bench_mode m);

/* The standard set (standard.c): see tools/bench/README.md. */
int standard_run(const char *state_dir, const char *endpoint, const char *handler_dir,
                 const char *json_path, bool quiet);

#endif
