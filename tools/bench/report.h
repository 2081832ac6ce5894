/*
 * tools/bench/report.h — what a run prints: the human summary (stderr),
 * the JSON document (--json), and the figures --fail-if is checked against.
 *
 * JSON shape of one side (Lamina, or the baseline under "baseline"):
 *   count, requests, throughput (successful per s), request_rate, elapsed_s,
 *   error_rate, latency_us{p50,p90,p99,p999,p9999,max,min,mean},
 *   errors{class: count}, warm{count,latency_us}, cold{count,latency_us,
 *   init_us}, open_loop{target_rate,achieved_rate,late,uncorrected_latency_us}
 *   (open loop only), acceptance_latency_us (end-to-end async only: send to
 *   202), histogram{unit:"us", buckets:[[highest_us,count]...]}.
 * Queue receive runs add messages and messages_per_s (messages received
 * and deleted; throughput counts receive requests).
 * The document adds tool, version, mode, function (or queue, with shape.op
 * in place of shape.invocation), date, machine, shape,
 * and with a baseline: baseline{...}, baseline_kind and ratio{p50,p99,
 * throughput} (Lamina over baseline).
 */
#ifndef TOOLS_BENCH_REPORT_H
#define TOOLS_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "load.h"
#include "opts.h"

typedef struct report_run {
    const char *mode; /* "invoke", "baseline", "cold", "cold-baseline" */
    const char *function; /* NULL for baseline-only and queue modes */
    const char *queue; /* queue mode: the queue's name */
    const char *queue_op; /* queue mode: "send", "receive", "latency", "get" */
    bool items; /* report load_stats.items as messages (queue receive) */
    const load_shape *shape;
    int rounds;
    uint64_t first_warmup_ns; /* 0: as shape->warmup_ns */
    size_t payload_bytes;
    bool async;
    bool end_to_end; /* async timed until the destination ran */
    const char *primary_label; /* "lamina" or "baseline" */
    const load_stats *primary;
    const load_stats *baseline; /* NULL unless compared */
    const char *baseline_kind; /* "nng-ipc-two-hop", "nng-ipc-one-hop" or
                                  "fork-exec-connect" */
} report_run;

/* Figures of one side (ratios unset). */
void report_figures(const load_stats *st, bench_figures *f);
/* The figures --fail-if sees: the primary side, with ratios when compared. */
void report_run_figures(const report_run *r, bench_figures *f);

/* The whole JSON document; NULL when out of memory.  Caller deletes. */
cJSON *report_json(const report_run *r);
/* Write a JSON document to path ("-" is stdout); 0 or -1 with err. */
int report_write(const char *path, const cJSON *doc, char *err, size_t errlen);
/* The human summary. */
void report_human(FILE *out, const report_run *r);

/* "2026-11-28T18:15:16Z" (UTC, now). */
void report_date(char *buf, size_t len);
/* {hostname, cpus, kernel, cpu_model} */
cJSON *report_machine(void);

#endif
