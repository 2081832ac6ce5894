/*
 * tools/bench/run.c — execute one bench_spec (see bench.h).
 *
 * Rounds: the run's requests or duration are split into `rounds` equal
 * parts per side, and sides alternate (Lamina, baseline, Lamina, ...) so
 * that drift of the machine (placement on vCPUs, other tenants) hits both
 * alike; each round has its own warm-up, and a side's rounds are merged
 * into one histogram before percentiles are taken.
 *
 * Queue mode: the Lamina side is the queue target (queue.c); for receive,
 * each Lamina round starts by topping the queue up (queue_prefill, not
 * timed) to the spec's prefill depth or, by default, 10 messages per
 * request of a -n round, or 30,000 per second of a -d round, plus 30,000
 * per second of warm-up (above what this machine's broker drains).
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#include "baseline.h"
#include "lamina.h"
#include "report.h"

typedef struct sides {
    lamina_target lt;
    bool lt_open;
    queue_target qt;
    bool qt_open;
    stream_target stt;
    bool stt_open;
    bus_target bt;
    bool bt_open;
    url_target ut; /* url mode: the function's URL */
    bool ut_open;
    url_target ubase; /* url mode vs the responder */
    bool ubase_open;
    url_responder *responder;
    baseline *base;
    load_stats lamina;
    load_stats baseline;
} sides;

const char *bench_mode_name(bench_mode m)
{
    switch (m) {
    case BENCH_INVOKE: return "invoke";
    case BENCH_BASELINE: return "baseline";
    case BENCH_COLD: return "cold";
    case BENCH_COLD_BASELINE: return "cold-baseline";
    case BENCH_QUEUE: return "queue";
    case BENCH_STREAM: return "stream";
    case BENCH_BUS: return "bus";
    case BENCH_URL: return "url";
    }
    return "?";
}

static bool has_lamina(const bench_spec *s)
{
    return s->mode == BENCH_INVOKE || s->mode == BENCH_COLD || s->mode == BENCH_QUEUE ||
           s->mode == BENCH_STREAM || s->mode == BENCH_BUS || s->mode == BENCH_URL;
}

static int hops(const bench_spec *s)
{
    return s->baseline_hops == 1 ? 1 : 2;
}

static bool has_baseline(const bench_spec *s)
{
    return (s->vs_baseline && s->mode != BENCH_URL) || s->mode == BENCH_BASELINE ||
           s->mode == BENCH_COLD_BASELINE;
}

/* The url mode's sides: the URL, and with --vs-baseline the api-socket
 * invoke of the same function or the libmicrohttpd responder. */
static int open_url(const bench_spec *s, sides *sd, char *err, size_t errlen)
{
    if (url_target_open_function(&sd->ut, s->state_dir, s->endpoint, s->function, s->payload,
                                 s->payload_len, s->timeout_ms, err, errlen) != 0) {
        return -1;
    }
    sd->ut_open = true;
    if (!s->vs_baseline) {
        return 0;
    }
    if (s->url_vs == URL_VS_API) {
        if (lamina_target_open(&sd->lt, s->state_dir, s->endpoint, s->function, s->payload,
                               s->payload_len, false, false, false, s->timeout_ms, err,
                               errlen) != 0) {
            return -1;
        }
        sd->lt_open = true;
        return 0;
    }
    int port = 0;
    if ((sd->responder = url_responder_start(&port, err, errlen)) == NULL ||
        url_target_open_addr(&sd->ubase, "mhd-echo", "127.0.0.1", port, "/", s->payload,
                             s->payload_len, s->timeout_ms, err, errlen) != 0) {
        return -1;
    }
    sd->ubase_open = true;
    return 0;
}

static bool is_cold(const bench_spec *s)
{
    return s->mode == BENCH_COLD || s->mode == BENCH_COLD_BASELINE;
}

static int open_sides(const bench_spec *s, sides *sd, char *err, size_t errlen)
{
    if (s->mode == BENCH_URL) {
        return open_url(s, sd, err, errlen);
    }
    if (s->mode == BENCH_QUEUE) {
        if (queue_target_open(&sd->qt, s->state_dir, s->endpoint, s->function, s->queue_op,
                              s->payload_len, s->timeout_ms, err, errlen) != 0) {
            return -1;
        }
        sd->qt_open = true;
    } else if (s->mode == BENCH_STREAM) {
        if (stream_target_open(&sd->stt, s->state_dir, s->endpoint, s->function, s->stream_op,
                               s->payload_len, s->timeout_ms, err, errlen) != 0) {
            return -1;
        }
        sd->stt_open = true;
    } else if (s->mode == BENCH_BUS) {
        if (bus_target_open(&sd->bt, s->state_dir, s->endpoint, s->function, s->bus_op,
                            s->bus_rules > 0 ? s->bus_rules : 1, s->payload_len, s->timeout_ms, err,
                            errlen) != 0) {
            return -1;
        }
        sd->bt_open = true;
    } else if (has_lamina(s)) {
        if (lamina_target_open(&sd->lt, s->state_dir, s->endpoint, s->function, s->payload,
                               s->payload_len, s->async, is_cold(s), s->end_to_end, s->timeout_ms,
                               err, errlen) != 0) {
            return -1;
        }
        sd->lt_open = true;
    }
    if (has_baseline(s)) {
        sd->base = is_cold(s) && s->cold_template
                       ? baseline_start_template(s->template_so, s->payload, s->payload_len,
                                                 s->timeout_ms, err, errlen)
                   : is_cold(s)
                       ? baseline_start_cold(s->payload, s->payload_len, s->timeout_ms, err, errlen)
                       : baseline_start_warm(s->shape.concurrency, hops(s), s->payload,
                                             s->payload_len, s->timeout_ms, err, errlen);
        if (sd->base == NULL) {
            return -1;
        }
    }
    return 0;
}

static void close_sides(sides *sd)
{
    if (sd->lt_open) {
        lamina_target_close(&sd->lt);
    }
    if (sd->qt_open) {
        queue_target_close(&sd->qt);
    }
    if (sd->stt_open) {
        stream_target_close(&sd->stt);
    }
    if (sd->bt_open) {
        bus_target_close(&sd->bt);
    }
    if (sd->ut_open) {
        url_target_close(&sd->ut);
    }
    if (sd->ubase_open) {
        url_target_close(&sd->ubase);
    }
    url_responder_stop(sd->responder);
    baseline_stop(sd->base);
    load_stats_finish(&sd->lamina);
    load_stats_finish(&sd->baseline);
}

/* The shape of one round: an equal share of the requests or the time. */
static load_shape round_shape(const bench_spec *s, int i)
{
    load_shape r = s->shape;
    uint64_t k = (uint64_t)s->rounds;
    if (r.requests != 0) {
        r.requests = s->shape.requests / k + ((uint64_t)i < s->shape.requests % k ? 1 : 0);
    } else {
        r.duration_ns = s->shape.duration_ns / k;
    }
    return r;
}

static int one_round(const load_target *t, const load_shape *shape, load_stats *into, char *err,
                     size_t errlen)
{
    load_stats st;
    int rc = -1;
    if (load_stats_init(&st) != 0 ||
        (into->samples != NULL && load_stats_keep_samples(&st, into->samples_cap) != 0)) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (shape->requests == 0 && shape->duration_ns == 0) {
        rc = 0;
        goto cleanup;
    }
    if (load_run(t, shape, &st, err, errlen) != 0) {
        goto cleanup;
    }
    load_stats_merge(into, &st);
    rc = 0;
cleanup:
    load_stats_finish(&st);
    return rc;
}

/* Queue receive: the depth to fill to before a round of this shape. */
static uint64_t prefill_depth(const bench_spec *s, const load_shape *shape)
{
    if (s->prefill != 0) {
        return s->prefill;
    }
    double per_s = 30000.0;
    double d = per_s * (double)shape->warmup_ns / 1e9;
    d += shape->requests != 0 ? 10.0 * (double)shape->requests
                              : per_s * (double)shape->duration_ns / 1e9;
    return (uint64_t)d;
}

static int run_rounds(const bench_spec *s, sides *sd, char *err, size_t errlen)
{
    load_target lam = {0}, base = {0};
    if (sd->lt_open) {
        lam = lamina_target_view(&sd->lt);
    }
    if (sd->qt_open) {
        lam = queue_target_view(&sd->qt);
    }
    if (sd->stt_open) {
        lam = stream_target_view(&sd->stt);
    }
    if (sd->bt_open) {
        lam = bus_target_view(&sd->bt);
    }
    if (sd->base != NULL) {
        base = baseline_target(sd->base);
    }
    if (sd->ut_open) { /* the URL first, its baseline (if any) second */
        base = lam;
        lam = url_target_view(&sd->ut);
        if (sd->ubase_open) {
            base = url_target_view(&sd->ubase);
        }
    }
    bool has_base = base.send_one != NULL;
    for (int i = 0; i < s->rounds; i++) {
        load_shape shape = round_shape(s, i);
        if (i == 0 && s->first_warmup_ns != 0) {
            shape.warmup_ns = s->first_warmup_ns;
        }
        if (sd->qt_open && s->queue_op == QUEUE_RECEIVE &&
            queue_prefill(&sd->qt, prefill_depth(s, &shape), err, errlen) != 0) {
            return -1;
        }
        if (lam.send_one != NULL && one_round(&lam, &shape, &sd->lamina, err, errlen) != 0) {
            return -1;
        }
        if (has_base && one_round(&base, &shape, &sd->baseline, err, errlen) != 0) {
            return -1;
        }
    }
    sd->lamina.rounds = s->rounds;
    sd->baseline.rounds = s->rounds;
    return 0;
}

static void describe(const bench_spec *s, sides *sd, report_run *r)
{
    memset(r, 0, sizeof(*r));
    r->mode = bench_mode_name(s->mode);
    bool named = s->mode == BENCH_QUEUE || s->mode == BENCH_STREAM || s->mode == BENCH_BUS;
    r->function = has_lamina(s) && !named ? s->function : NULL;
    r->queue = named ? s->function : NULL; /* the queue's, stream's or bus's name */
    r->queue_op = s->mode == BENCH_QUEUE    ? queue_op_name(s->queue_op)
                  : s->mode == BENCH_STREAM ? stream_op_name(s->stream_op)
                  : s->mode == BENCH_BUS    ? bus_op_name(s->bus_op)
                                            : NULL;
    r->items = s->mode == BENCH_QUEUE && s->queue_op == QUEUE_RECEIVE;
    r->shape = &s->shape;
    r->rounds = s->rounds;
    r->first_warmup_ns = s->first_warmup_ns;
    r->payload_bytes = s->payload_len;
    r->async = s->async;
    r->end_to_end = s->async && s->end_to_end;
    r->baseline_kind = is_cold(s) && s->cold_template ? "template-fork-connect"
                       : is_cold(s)                   ? "fork-exec-connect"
                       : hops(s) == 1                 ? "nng-ipc-one-hop"
                                                      : "nng-ipc-two-hop";
    if (s->mode == BENCH_URL) {
        r->baseline_kind = s->url_vs == URL_VS_API ? "api-socket-invoke" : "libmicrohttpd-echo";
    }
    if (has_lamina(s)) {
        r->primary_label = "lamina";
        r->primary = &sd->lamina;
        r->baseline = sd->base != NULL || sd->ubase_open || (sd->ut_open && sd->lt_open)
                          ? &sd->baseline
                          : NULL;
    } else {
        r->primary_label = "baseline";
        r->primary = &sd->baseline;
    }
}

int bench_execute(const bench_spec *s, cJSON **doc, bench_figures *fig, char *err, size_t errlen)
{
    sides sd;
    report_run r;
    int rc = -1;
    memset(&sd, 0, sizeof(sd));
    *doc = NULL;
    if (load_stats_init(&sd.lamina) != 0 || load_stats_init(&sd.baseline) != 0 ||
        (s->samples && (load_stats_keep_samples(&sd.lamina, BENCH_SAMPLES_MAX) != 0 ||
                        load_stats_keep_samples(&sd.baseline, BENCH_SAMPLES_MAX) != 0))) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (open_sides(s, &sd, err, errlen) != 0 || run_rounds(s, &sd, err, errlen) != 0) {
        goto cleanup;
    }
    describe(s, &sd, &r);
    if (!s->quiet) {
        report_human(stderr, &r);
    }
    report_run_figures(&r, fig);
    *doc = report_json(&r);
    if (*doc == NULL) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    rc = 0;
cleanup:
    close_sides(&sd);
    return rc;
}
