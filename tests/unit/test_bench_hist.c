/*
 * tests/unit/test_bench_hist.c — lamina-bench's arithmetic without a broker:
 * the log-linear histogram (bucket geometry, percentiles, mean, merge,
 * clamping), duration/size parsing, --fail-if conditions, and the error
 * classes of an invoke outcome.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "classify.h"
#include "hist.h"
#include "opts.h"

static hist h;

static void setup(void)
{
    cr_assert_eq(hist_init(&h), 0);
}

static void teardown(void)
{
    hist_finish(&h);
}

TestSuite(bench_hist, .init = setup, .fini = teardown);

Test(bench_hist, small_values_are_exact)
{
    for (uint64_t v = 0; v < HIST_SUB_COUNT; v++) {
        cr_assert_eq(hist_index(v), v);
        cr_assert_eq(hist_bucket_low(v), v);
        cr_assert_eq(hist_bucket_high(v), v);
    }
}

Test(bench_hist, every_bucket_holds_its_values_within_one_in_1024)
{
    /* Walk every bucket: contiguous, ordered, and no wider than low/1024. */
    for (size_t i = 1; i < HIST_NBUCKETS; i++) {
        uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
        cr_assert_eq(lo, hist_bucket_high(i - 1) + 1, "gap before bucket %zu", i);
        cr_assert_eq(hist_index(lo), i);
        cr_assert_eq(hist_index(hi), i);
        cr_assert_leq((double)(hi - lo + 1), (double)lo / 1024.0 + 1.0);
    }
    cr_assert_eq(hist_bucket_high(HIST_NBUCKETS - 1), HIST_MAX_VALUE);
    cr_assert_eq(hist_index(HIST_MAX_VALUE), HIST_NBUCKETS - 1);
}

Test(bench_hist, one_hour_in_ns_fits_and_larger_values_are_clamped)
{
    uint64_t hour = UINT64_C(3600) * 1000000000u;
    cr_assert_lt(hour, HIST_MAX_VALUE);
    hist_record(&h, hour);
    cr_assert_eq(h.saturated, 0);
    hist_record(&h, UINT64_MAX);
    cr_assert_eq(h.saturated, 1);
    cr_assert_eq(hist_max(&h), HIST_MAX_VALUE);
}

Test(bench_hist, percentiles_of_uniform_values_within_three_digits)
{
    /* 1..100000 µs in ns: the true pXX is XX% of 100 ms. */
    for (uint64_t us = 1; us <= 100000; us++) {
        hist_record(&h, us * 1000u);
    }
    const double ps[] = {50, 90, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double want = ps[i] / 100.0 * 100000.0 * 1000.0;
        double got = (double)hist_percentile(&h, ps[i]);
        cr_assert_geq(got, want, "p%g: %g below %g", ps[i], got, want);
        cr_assert_leq(got, want * (1.0 + 1.0 / 1024.0), "p%g: %g vs %g", ps[i], got, want);
    }
    cr_assert_eq(hist_percentile(&h, 100), 100000u * 1000u);
    cr_assert_eq(hist_min(&h), 1000u);
    cr_assert_eq(hist_count(&h), 100000u);
}

Test(bench_hist, mean_and_extremes_are_exact)
{
    hist_record(&h, 1000);
    hist_record(&h, 3000);
    hist_record(&h, 123456789);
    cr_assert_float_eq(hist_mean(&h), (1000.0 + 3000.0 + 123456789.0) / 3.0, 1e-6);
    cr_assert_eq(hist_min(&h), 1000u);
    cr_assert_eq(hist_max(&h), 123456789u);
}

Test(bench_hist, percentile_never_exceeds_max_nor_falls_below_min)
{
    hist_record(&h, 1000001);
    cr_assert_eq(hist_percentile(&h, 50), 1000001u);
    cr_assert_eq(hist_percentile(&h, 99.99), 1000001u);
    cr_assert_eq(hist_percentile(&h, 0.001), 1000001u);
}

Test(bench_hist, empty_histogram_reports_zeros)
{
    cr_assert_eq(hist_count(&h), 0);
    cr_assert_eq(hist_percentile(&h, 99), 0);
    cr_assert_eq(hist_min(&h), 0);
    cr_assert_eq(hist_max(&h), 0);
    cr_assert_float_eq(hist_mean(&h), 0.0, 1e-12);
}

Test(bench_hist, bimodal_percentiles_pick_the_right_mode)
{
    /* 90 % at 100 µs, 10 % at 10 ms: p50 and p90 in the first mode, p99 in
     * the second. */
    for (int i = 0; i < 900; i++) {
        hist_record(&h, 100000);
    }
    for (int i = 0; i < 100; i++) {
        hist_record(&h, 10000000);
    }
    cr_assert_lt(hist_percentile(&h, 50), 100200u);
    cr_assert_lt(hist_percentile(&h, 90), 100200u);
    cr_assert_geq(hist_percentile(&h, 90.1), 10000000u);
    cr_assert_geq(hist_percentile(&h, 99), 10000000u);
}

Test(bench_hist, merge_equals_recording_everything_in_one)
{
    hist a, all;
    cr_assert_eq(hist_init(&a), 0);
    cr_assert_eq(hist_init(&all), 0);
    for (uint64_t v = 1; v < 50000; v += 7) {
        hist_record(v % 2 ? &h : &a, v * 13);
        hist_record(&all, v * 13);
    }
    hist_merge(&h, &a);
    cr_assert_eq(hist_count(&h), hist_count(&all));
    cr_assert_eq(hist_min(&h), hist_min(&all));
    cr_assert_eq(hist_max(&h), hist_max(&all));
    cr_assert_float_eq(hist_mean(&h), hist_mean(&all), 1e-9);
    for (double p = 1; p < 100; p += 0.5) {
        cr_assert_eq(hist_percentile(&h, p), hist_percentile(&all, p), "p%g", p);
    }
    hist_finish(&a);
    hist_finish(&all);
}

Test(bench_hist, iteration_visits_non_empty_buckets_in_order)
{
    hist_record(&h, 5);
    hist_record(&h, 5);
    hist_record(&h, 5000000);
    size_t cur = 0;
    uint64_t high = 0, n = 0, total = 0, prev = 0;
    int buckets = 0;
    while (hist_next(&h, &cur, &high, &n)) {
        cr_assert_gt(high, prev);
        prev = high;
        total += n;
        buckets++;
    }
    cr_assert_eq(buckets, 2);
    cr_assert_eq(total, 3);
}

Test(bench_opts, durations_sizes_and_counts)
{
    uint64_t v = 0;
    cr_assert_eq(opts_duration_ns("10s", &v), 0);
    cr_assert_eq(v, UINT64_C(10000000000));
    cr_assert_eq(opts_duration_ns("250ms", &v), 0);
    cr_assert_eq(v, UINT64_C(250000000));
    cr_assert_eq(opts_duration_ns("1.5", &v), 0);
    cr_assert_eq(v, UINT64_C(1500000000));
    cr_assert_eq(opts_duration_ns("2m", &v), 0);
    cr_assert_eq(v, UINT64_C(120000000000));
    cr_assert_eq(opts_duration_ns("40us", &v), 0);
    cr_assert_eq(v, 40000u);
    cr_assert_neq(opts_duration_ns("10 parsecs", &v), 0);
    cr_assert_neq(opts_duration_ns("-1s", &v), 0);
    cr_assert_eq(opts_size("4k", &v), 0);
    cr_assert_eq(v, 4096u);
    cr_assert_eq(opts_size("64", &v), 0);
    cr_assert_eq(v, 64u);
    cr_assert_neq(opts_size("1.5", &v), 0);
    cr_assert_eq(opts_count("10k", &v), 0);
    cr_assert_eq(v, 10000u);
    cr_assert_neq(opts_count("0", &v), 0);
}

static bench_figures figures(void)
{
    bench_figures f;
    memset(&f, 0, sizeof(f));
    f.p50_us = 300;
    f.p99_us = 40000; /* 40 ms */
    f.requests = 1000;
    f.errors = 2;
    f.error_rate = 0.002;
    f.throughput = 5000;
    return f;
}

Test(bench_opts, fail_if_parses_and_triggers_on_the_right_side)
{
    failif fi;
    char err[256], msg[512];
    bench_figures f = figures();
    cr_assert_eq(failif_parse("p99>50ms,errors>0.1%", &fi, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(fi.n, 2);
    cr_assert_float_eq(fi.c[0].value, 50000.0, 1e-9);
    cr_assert(fi.c[1].percent);
    /* p99 40 ms is under 50 ms; 0.2 % errors is over 0.1 %: one holds. */
    cr_assert_eq(failif_eval(&fi, &f, msg, sizeof(msg)), 1);
    cr_assert(strstr(msg, "errors>0.1%") != NULL, "%s", msg);
    f.p99_us = 60000;
    f.errors = 0;
    f.error_rate = 0;
    cr_assert_eq(failif_eval(&fi, &f, msg, sizeof(msg)), 1);
    cr_assert(strstr(msg, "p99>50ms") != NULL, "%s", msg);
    f.p99_us = 1000;
    cr_assert_eq(failif_eval(&fi, &f, msg, sizeof(msg)), 0);
}

Test(bench_opts, fail_if_counts_throughput_and_ratios)
{
    failif fi;
    char err[256], msg[512];
    bench_figures f = figures();
    cr_assert_eq(failif_parse("throughput<6000,errors>=2,ratio.p50>1.25", &fi, err, sizeof(err)), 0,
                 "%s", err);
    /* Without a baseline, a ratio condition cannot pass silently. */
    cr_assert_eq(failif_eval(&fi, &f, msg, sizeof(msg)), 3);
    f.has_ratio = true;
    f.ratio_p50 = 1.1;
    f.throughput = 7000;
    f.errors = 1;
    cr_assert_eq(failif_eval(&fi, &f, msg, sizeof(msg)), 0);
}

Test(bench_opts, fail_if_rejects_nonsense)
{
    failif fi;
    char err[256];
    cr_assert_neq(failif_parse("p99>50", &fi, err, sizeof(err)), 0); /* no unit */
    cr_assert_neq(failif_parse("p42>5ms", &fi, err, sizeof(err)), 0);
    cr_assert_neq(failif_parse("p99=5ms", &fi, err, sizeof(err)), 0);
    cr_assert_neq(failif_parse("", &fi, err, sizeof(err)), 0);
    cr_assert_neq(failif_parse("errors>x", &fi, err, sizeof(err)), 0);
}

static load_outcome classify(int rc, int code_type, const char *ferr, const char *payload,
                             double init_ms)
{
    lm_error e;
    lm_invoke_result r;
    load_outcome o;
    memset(&e, 0, sizeof(e));
    memset(&r, 0, sizeof(r));
    memset(&o, 0, sizeof(o));
    e.code = rc;
    if (code_type) {
        strcpy(e.type, "ResourceNotFoundException");
    }
    r.status = 200;
    strcpy(r.function_error, ferr);
    r.payload = (char *)payload;
    r.payload_len = payload != NULL ? strlen(payload) : 0;
    r.init_duration_ms = init_ms;
    classify_invoke(rc, &e, &r, 200, &o);
    return o;
}

Test(bench_classify, outcomes_fall_into_their_classes)
{
    load_outcome o = classify(0, 0, "", "{}", 0);
    cr_assert(o.ok);
    cr_assert_not(o.cold);
    o = classify(0, 0, "", "{}", 12.5);
    cr_assert(o.ok);
    cr_assert(o.cold);
    o = classify(0, 0, "Handled", "{\"errorType\":\"Boom\"}", 0);
    cr_assert_str_eq(o.err_class, "function_handled");
    o = classify(0, 0, "Unhandled", "{\"errorType\":\"Runtime.ExitError\"}", 0);
    cr_assert_str_eq(o.err_class, "function_unhandled");
    o = classify(0, 0, "Unhandled",
                 "{\"errorMessage\":\"Task timed out after 1.00 seconds\","
                 " \"errorType\" : \"Sandbox.Timedout\"}",
                 0);
    cr_assert_str_eq(o.err_class, "timeout");
    o = classify(LM_E_NOT_FOUND, 1, "", NULL, 0);
    cr_assert_not(o.ok);
    cr_assert_str_eq(o.err_class, "invocation:ResourceNotFoundException");
    o = classify(LM_E_THROTTLED, 0, "", NULL, 0);
    cr_assert_str_eq(o.err_class, "throttled");
    o = classify(LM_E_UNREACHABLE, 0, "", NULL, 0);
    cr_assert_str_eq(o.err_class, "transport");
    o = classify(LM_E_TIMEOUT, 0, "", NULL, 0);
    cr_assert_str_eq(o.err_class, "client_timeout");
}

static load_outcome classify_wait(int rc, const char *reply)
{
    lm_error e;
    load_outcome o;
    memset(&e, 0, sizeof(e));
    memset(&o, 0, sizeof(o));
    e.code = rc;
    classify_event_wait(rc, &e, reply, &o);
    return o;
}

Test(bench_classify, end_to_end_outcomes_fall_into_their_classes)
{
    const char *done = "{\"RequestId\":\"a\",\"Status\":\"Done\",\"Condition\":\"Success\","
                       "\"Destination\":{\"RequestId\":\"b\",\"Status\":\"Done\","
                       "\"Condition\":\"Success\"}}";
    load_outcome o = classify_wait(0, done);
    cr_assert(o.ok, "%s", o.err_class);
    o = classify_wait(0, "{\"Status\":\"Done\",\"Condition\":\"RetriesExhausted\","
                         "\"FunctionError\":\"Handled\",\"ErrorType\":\"Boom\"}");
    cr_assert_str_eq(o.err_class, "function_handled");
    o = classify_wait(0, "{\"Status\":\"Done\",\"Condition\":\"RetriesExhausted\","
                         "\"FunctionError\":\"Unhandled\",\"ErrorType\":\"Sandbox.Timedout\"}");
    cr_assert_str_eq(o.err_class, "timeout");
    o = classify_wait(0, "{\"Status\":\"Done\",\"Condition\":\"RetriesExhausted\","
                         "\"FunctionError\":\"Unhandled\",\"ErrorType\":\"Runtime.ExitError\"}");
    cr_assert_str_eq(o.err_class, "function_unhandled");
    o = classify_wait(0, "{\"Status\":\"Done\",\"Condition\":\"RetriesExhausted\","
                         "\"ErrorType\":\"ResourceNotFoundException\"}");
    cr_assert_str_eq(o.err_class, "invocation:ResourceNotFoundException");
    o = classify_wait(0, "{\"Status\":\"Done\",\"Condition\":\"EventAgeExceeded\"}");
    cr_assert_str_eq(o.err_class, "async:EventAgeExceeded");
    o = classify_wait(0, "{\"Status\":\"Pending\",\"Condition\":\"Success\","
                         "\"Destination\":{\"RequestId\":\"b\",\"Status\":\"Pending\"}}");
    cr_assert_str_eq(o.err_class, "async_pending");
    o = classify_wait(0, "{\"Status\":\"Pending\"}");
    cr_assert_str_eq(o.err_class, "async_pending");
    o = classify_wait(0, "{\"Status\":\"Done\",\"Condition\":\"Success\"}");
    cr_assert_str_eq(o.err_class, "async:no-destination");
    o = classify_wait(0, "{\"Status\":\"Done\",\"Condition\":\"Success\",\"Destination\":"
                         "{\"Status\":\"Done\",\"Condition\":\"RetriesExhausted\"}}");
    cr_assert_str_eq(o.err_class, "destination:RetriesExhausted");
    o = classify_wait(0, "not json");
    cr_assert_not(o.ok);
    cr_assert_str_eq(o.err_class, "invocation:bad-reply");
    o = classify_wait(LM_E_TIMEOUT, NULL);
    cr_assert_str_eq(o.err_class, "client_timeout");
}
