/*
 * tools/bench/report.c — summaries, JSON and the human table (see report.h).
 *
 * Histograms hold nanoseconds; everything printed or written is in µs
 * (one decimal) so figures read the same as perf-limits.md.
 */
#include "report.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define US(ns) ((double)(ns) / 1e3)

static double elapsed_s(const load_stats *st)
{
    return (double)st->elapsed_ns / 1e9;
}

static double per_s(uint64_t n, const load_stats *st)
{
    double s = elapsed_s(st);
    return s > 0 ? (double)n / s : 0.0;
}

void report_figures(const load_stats *st, bench_figures *f)
{
    memset(f, 0, sizeof(*f));
    const hist *h = &st->ok;
    f->p50_us = US(hist_percentile(h, 50));
    f->p90_us = US(hist_percentile(h, 90));
    f->p99_us = US(hist_percentile(h, 99));
    f->p999_us = US(hist_percentile(h, 99.9));
    f->p9999_us = US(hist_percentile(h, 99.99));
    f->max_us = US(hist_max(h));
    f->mean_us = hist_mean(h) / 1e3;
    f->count = (double)hist_count(h);
    f->requests = (double)st->requests;
    f->throughput = per_s(hist_count(h), st);
    f->errors = (double)st->failed;
    f->error_rate = st->requests > 0 ? (double)st->failed / (double)st->requests : 0.0;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0.0;
}

void report_run_figures(const report_run *r, bench_figures *f)
{
    report_figures(r->primary, f);
    if (r->baseline != NULL) {
        bench_figures b;
        report_figures(r->baseline, &b);
        f->has_ratio = true;
        f->ratio_p50 = ratio(f->p50_us, b.p50_us);
        f->ratio_p99 = ratio(f->p99_us, b.p99_us);
        f->ratio_throughput = ratio(f->throughput, b.throughput);
    }
}

/* ---- JSON -------------------------------------------------------------- */

static double round1(double v)
{
    return (double)(long long)(v * 10.0 + (v >= 0 ? 0.5 : -0.5)) / 10.0;
}

static double round3(double v)
{
    return (double)(long long)(v * 1000.0 + (v >= 0 ? 0.5 : -0.5)) / 1000.0;
}

static cJSON *latency_json(const hist *h)
{
    cJSON *o = cJSON_CreateObject();
    const struct {
        const char *k;
        double p;
    } ps[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}, {"p9999", 99.99}};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        cJSON_AddNumberToObject(o, ps[i].k, round1(US(hist_percentile(h, ps[i].p))));
    }
    cJSON_AddNumberToObject(o, "max", round1(US(hist_max(h))));
    cJSON_AddNumberToObject(o, "min", round1(US(hist_min(h))));
    cJSON_AddNumberToObject(o, "mean", round1(hist_mean(h) / 1e3));
    return o;
}

static cJSON *errors_json(const load_errors *e)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < e->n; i++) {
        cJSON_AddNumberToObject(o, e->e[i].name, (double)e->e[i].count);
    }
    if (e->overflow != 0) {
        cJSON_AddNumberToObject(o, "other", (double)e->overflow);
    }
    return o;
}

static cJSON *histogram_json(const hist *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *b = cJSON_AddArrayToObject(o, "buckets");
    cJSON_AddStringToObject(o, "unit", "us");
    cJSON_AddStringToObject(o, "bucket", "[highest value in bucket, count]");
    size_t cur = 0;
    uint64_t high, n;
    while (hist_next(h, &cur, &high, &n)) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(US(high)));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)n));
        cJSON_AddItemToArray(b, pair);
    }
    return o;
}

/* ---- latency over time (--plot) ---- */

#define SERIES_BINS 100

static int by_time(const void *a, const void *b)
{
    const load_sample *x = a, *y = b;
    return x->t_ns < y->t_ns ? -1 : x->t_ns > y->t_ns;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile of n sorted values (nearest rank). */
static uint64_t rank(const uint64_t *v, size_t n, double p)
{
    size_t k = (size_t)((p / 100.0) * (double)n + 0.999999);
    return v[k == 0 ? 0 : (k > n ? n : k) - 1];
}

/* The kept samples in SERIES_BINS bins of whole milliseconds over the
 * window: [end of bin s, requests, p50 µs, p99 µs, max µs] per non-empty
 * bin.  NULL when no samples were kept. */
static cJSON *series_json(const load_stats *st)
{
    uint64_t offered = atomic_load(&st->n_samples);
    size_t n = offered < st->samples_cap ? (size_t)offered : st->samples_cap;
    if (st->samples == NULL || n == 0) {
        return NULL;
    }
    load_sample *v = malloc(n * sizeof(*v));
    uint64_t *lat = malloc(n * sizeof(*lat));
    cJSON *o = v != NULL && lat != NULL ? cJSON_CreateObject() : NULL;
    if (o == NULL) {
        free(v);
        free(lat);
        return NULL;
    }
    memcpy(v, st->samples, n * sizeof(*v));
    qsort(v, n, sizeof(*v), by_time);
    uint64_t span = v[n - 1].t_ns + 1;
    uint64_t bin = (span / SERIES_BINS + 999999) / 1000000 * 1000000; /* whole ms */
    bin = bin > 0 ? bin : 1000000;
    cJSON_AddNumberToObject(o, "bin_ms", (double)(bin / 1000000));
    cJSON_AddNumberToObject(o, "kept", (double)n);
    cJSON_AddNumberToObject(o, "offered", (double)offered);
    cJSON_AddStringToObject(o, "point", "[end of bin s, requests, p50 us, p99 us, max us]");
    cJSON *pts = cJSON_AddArrayToObject(o, "points");
    for (size_t i = 0; i < n;) {
        uint64_t b = v[i].t_ns / bin;
        size_t k = 0;
        for (; i < n && v[i].t_ns / bin == b; i++) {
            lat[k++] = v[i].lat_ns;
        }
        qsort(lat, k, sizeof(*lat), by_value);
        cJSON *pt = cJSON_CreateArray();
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(round3((double)((b + 1) * bin) / 1e9)));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber((double)k));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(round1(US(rank(lat, k, 50)))));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(round1(US(rank(lat, k, 99)))));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(round1(US(lat[k - 1]))));
        cJSON_AddItemToArray(pts, pt);
    }
    free(v);
    free(lat);
    return o;
}

static cJSON *subset_json(const hist *h, const hist *init)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)hist_count(h));
    cJSON_AddItemToObject(o, "latency_us", latency_json(h));
    if (init != NULL) {
        cJSON_AddItemToObject(o, "init_us", latency_json(init));
    }
    return o;
}

static cJSON *side_json(const load_stats *st, const load_shape *shape, bool items)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)hist_count(&st->ok));
    cJSON_AddNumberToObject(o, "requests", (double)st->requests);
    cJSON_AddNumberToObject(o, "throughput", round1(per_s(hist_count(&st->ok), st)));
    cJSON_AddNumberToObject(o, "request_rate", round1(per_s(st->requests, st)));
    cJSON_AddNumberToObject(o, "elapsed_s", round3(elapsed_s(st)));
    cJSON_AddNumberToObject(o, "rounds", st->rounds);
    if (items) {
        cJSON_AddNumberToObject(o, "messages", (double)st->items);
        cJSON_AddNumberToObject(o, "messages_per_s", round1(per_s(st->items, st)));
    }
    cJSON_AddNumberToObject(o, "error_rate",
                            st->requests ? (double)st->failed / (double)st->requests : 0.0);
    cJSON_AddItemToObject(o, "latency_us", latency_json(&st->ok));
    cJSON_AddItemToObject(o, "errors", errors_json(&st->errors));
    cJSON_AddItemToObject(o, "warm", subset_json(&st->warm, NULL));
    cJSON_AddItemToObject(o, "cold", subset_json(&st->cold, &st->init));
    if (shape->rate > 0) {
        cJSON *ol = cJSON_AddObjectToObject(o, "open_loop");
        cJSON_AddNumberToObject(ol, "target_rate", shape->rate);
        cJSON_AddNumberToObject(ol, "achieved_rate", round1(per_s(st->requests, st)));
        cJSON_AddNumberToObject(ol, "late", (double)st->late);
        cJSON_AddItemToObject(ol, "uncorrected_latency_us", latency_json(&st->uncorrected));
    }
    if (hist_count(&st->accept) != 0) {
        cJSON_AddItemToObject(o, "acceptance_latency_us", latency_json(&st->accept));
    }
    cJSON_AddItemToObject(o, "histogram", histogram_json(&st->ok));
    cJSON *series = series_json(st);
    if (series != NULL) {
        cJSON_AddItemToObject(o, "series", series);
    }
    return o;
}

static cJSON *shape_json(const report_run *r)
{
    const load_shape *s = r->shape;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "loop", s->rate > 0 ? "open" : "closed");
    cJSON_AddNumberToObject(o, "concurrency", s->concurrency);
    if (s->requests != 0) {
        cJSON_AddNumberToObject(o, "requests", (double)s->requests);
    } else {
        cJSON_AddNumberToObject(o, "duration_s", (double)s->duration_ns / 1e9);
    }
    if (s->rate > 0) {
        cJSON_AddNumberToObject(o, "rate", s->rate);
    }
    cJSON_AddNumberToObject(o, "warmup_s", (double)s->warmup_ns / 1e9);
    if (r->first_warmup_ns != 0) {
        cJSON_AddNumberToObject(o, "first_warmup_s", (double)r->first_warmup_ns / 1e9);
    }
    cJSON_AddNumberToObject(o, "rounds", r->rounds);
    cJSON_AddNumberToObject(o, "payload_bytes", (double)r->payload_bytes);
    if (r->queue_op != NULL) {
        cJSON_AddStringToObject(o, "op", r->queue_op);
    } else {
        cJSON_AddStringToObject(o, "invocation", r->async ? "Event" : "RequestResponse");
    }
    if (r->async) {
        cJSON_AddStringToObject(o, "timed", r->end_to_end ? "end-to-end" : "acceptance");
    }
    return o;
}

void report_date(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void cpu_model(char *buf, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    snprintf(buf, len, "unknown");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            snprintf(buf, len, "%s", colon + 2);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
}

cJSON *report_machine(void)
{
    cJSON *o = cJSON_CreateObject();
    struct utsname u;
    char host[256] = "unknown", model[256];
    gethostname(host, sizeof(host) - 1);
    cpu_model(model, sizeof(model));
    cJSON_AddStringToObject(o, "hostname", host);
    cJSON_AddNumberToObject(o, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(o, "cpu_model", model);
    if (uname(&u) == 0) {
        cJSON_AddStringToObject(o, "kernel", u.release);
    }
    return o;
}

cJSON *report_json(const report_run *r)
{
    char date[32];
    cJSON *doc = cJSON_CreateObject();
    if (doc == NULL) {
        return NULL;
    }
    report_date(date, sizeof(date));
    cJSON_AddStringToObject(doc, "tool", "lamina-bench");
    cJSON_AddStringToObject(doc, "mode", r->mode);
    if (r->function != NULL) {
        cJSON_AddStringToObject(doc, "function", r->function);
    }
    if (r->queue != NULL) {
        cJSON_AddStringToObject(doc, "queue", r->queue);
    }
    cJSON_AddStringToObject(doc, "target", r->primary_label);
    cJSON_AddStringToObject(doc, "date", date);
    cJSON_AddItemToObject(doc, "machine", report_machine());
    cJSON_AddItemToObject(doc, "shape", shape_json(r));
    cJSON *side = side_json(r->primary, r->shape, r->items);
    for (cJSON *it = side->child; it != NULL;) {
        cJSON *next = it->next;
        cJSON_AddItemToObject(doc, it->string, cJSON_DetachItemViaPointer(side, it));
        it = next;
    }
    cJSON_Delete(side);
    if (r->baseline == NULL && strcmp(r->primary_label, "baseline") == 0 &&
        strcmp(r->mode, "baseline") == 0) {
        cJSON_AddStringToObject(doc, "baseline_kind", r->baseline_kind);
    }
    if (r->baseline != NULL) {
        bench_figures f;
        report_run_figures(r, &f);
        cJSON_AddStringToObject(doc, "baseline_kind", r->baseline_kind);
        cJSON_AddItemToObject(doc, "baseline", side_json(r->baseline, r->shape, false));
        cJSON *ra = cJSON_AddObjectToObject(doc, "ratio");
        cJSON_AddNumberToObject(ra, "p50", round3(f.ratio_p50));
        cJSON_AddNumberToObject(ra, "p99", round3(f.ratio_p99));
        cJSON_AddNumberToObject(ra, "throughput", round3(f.ratio_throughput));
    }
    return doc;
}

int report_write(const char *path, const cJSON *doc, char *err, size_t errlen)
{
    char *text = cJSON_Print(doc);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    int rc = -1;
    if (f == NULL) {
        snprintf(err, errlen, "cannot write %s", path);
        goto cleanup;
    }
    if (fprintf(f, "%s\n", text) < 0 || (!to_stdout && fclose(f) != 0)) {
        snprintf(err, errlen, "cannot write %s", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(text);
    return rc;
}

/* ---- human summary ----------------------------------------------------- */

static const char *fmt_us(double us, char *buf, size_t len)
{
    if (us >= 1e6) {
        snprintf(buf, len, "%.2fs", us / 1e6);
    } else if (us >= 1e4) {
        snprintf(buf, len, "%.1fms", us / 1e3);
    } else if (us >= 1e3) {
        snprintf(buf, len, "%.2fms", us / 1e3);
    } else {
        snprintf(buf, len, "%.0fus", us);
    }
    return buf;
}

static void human_row(FILE *out, const char *label, const bench_figures *f)
{
    char b[7][24];
    fprintf(out, "%-9s %9.0f %10.1f %9s %9s %9s %9s %9s %9s %9s\n", label, f->count, f->throughput,
            fmt_us(f->p50_us, b[0], 24), fmt_us(f->p90_us, b[1], 24), fmt_us(f->p99_us, b[2], 24),
            fmt_us(f->p999_us, b[3], 24), fmt_us(f->p9999_us, b[4], 24),
            fmt_us(f->max_us, b[5], 24), fmt_us(f->mean_us, b[6], 24));
}

static void human_errors(FILE *out, const char *label, const load_stats *st)
{
    if (st->failed == 0) {
        return;
    }
    fprintf(out, "errors (%s): %llu of %llu", label, (unsigned long long)st->failed,
            (unsigned long long)st->requests);
    for (int i = 0; i < st->errors.n; i++) {
        fprintf(out, "%s %s %llu", i == 0 ? ":" : ",", st->errors.e[i].name,
                (unsigned long long)st->errors.e[i].count);
    }
    fprintf(out, "\n");
}

static void human_extras(FILE *out, const char *label, const load_stats *st, const load_shape *s,
                         bool items)
{
    char b[3][24];
    human_errors(out, label, st);
    if (items) {
        fprintf(out, "messages (%s): %llu received and deleted, %.1f/s\n", label,
                (unsigned long long)st->items, per_s(st->items, st));
    }
    if (hist_count(&st->cold) != 0) {
        fprintf(out, "cold starts (%s): %llu, p50 %s", label,
                (unsigned long long)hist_count(&st->cold),
                fmt_us(US(hist_percentile(&st->cold, 50)), b[0], 24));
        if (hist_count(&st->init) != 0) {
            fprintf(out, " (init p50 %s)", fmt_us(US(hist_percentile(&st->init, 50)), b[1], 24));
        }
        fprintf(out, "; warm: %llu\n", (unsigned long long)hist_count(&st->warm));
    }
    if (hist_count(&st->accept) != 0) {
        fprintf(out, "acceptance (%s, send to 202): p50 %s p99 %s\n", label,
                fmt_us(US(hist_percentile(&st->accept, 50)), b[0], 24),
                fmt_us(US(hist_percentile(&st->accept, 99)), b[2], 24));
    }
    if (s->rate > 0) {
        fprintf(out,
                "open loop (%s): target %.1f/s, achieved %.1f/s, %llu sent late; "
                "uncorrected p50 %s p99 %s\n",
                label, s->rate, per_s(st->requests, st), (unsigned long long)st->late,
                fmt_us(US(hist_percentile(&st->uncorrected, 50)), b[0], 24),
                fmt_us(US(hist_percentile(&st->uncorrected, 99)), b[2], 24));
    }
}

static void human_head(FILE *out, const report_run *r)
{
    const load_shape *s = r->shape;
    const char *name = r->function != NULL ? r->function : r->queue;
    fprintf(out, "lamina-bench %s%s%s%s%s: %s loop, c=%d", r->mode, name ? " " : "",
            name ? name : "", r->queue_op ? " --op " : "", r->queue_op ? r->queue_op : "",
            s->rate > 0 ? "open" : "closed", s->concurrency);
    if (s->rate > 0) {
        fprintf(out, ", %.1f req/s", s->rate);
    }
    if (s->requests != 0) {
        fprintf(out, ", %llu requests", (unsigned long long)s->requests);
    } else {
        fprintf(out, ", %.1fs", (double)s->duration_ns / 1e9);
    }
    fprintf(out, " in %d round%s (+%.1fs warm-up each), payload %zu B%s\n", r->rounds,
            r->rounds == 1 ? "" : "s", (double)s->warmup_ns / 1e9, r->payload_bytes,
            !r->async       ? ""
            : r->end_to_end ? ", async (Event), end to end through the OnSuccess destination"
                            : ", async (Event), time to acceptance");
    fprintf(out, "%-9s %9s %10s %9s %9s %9s %9s %9s %9s %9s\n", "", "ok", "ok/s", "p50", "p90",
            "p99", "p99.9", "p99.99", "max", "mean");
}

void report_human(FILE *out, const report_run *r)
{
    bench_figures f;
    report_run_figures(r, &f);
    human_head(out, r);
    human_row(out, r->primary_label, &f);
    if (r->baseline != NULL) {
        bench_figures b;
        report_figures(r->baseline, &b);
        human_row(out, "baseline", &b);
        fprintf(out, "%-9s %9s %9.2fx %8.2fx %9s %8.2fx   (%s over baseline: %s)\n", "ratio", "",
                f.ratio_throughput, f.ratio_p50, "", f.ratio_p99, r->primary_label,
                r->baseline_kind);
    }
    human_extras(out, r->primary_label, r->primary, r->shape, r->items);
    if (r->baseline != NULL) {
        human_errors(out, "baseline", r->baseline);
    }
}
