/*
 * tests/integration/test_bench.c — lamina-bench against a real broker: run
 * the binary as a user would (subprocess, --state, --json) and check the
 * arithmetic of its report: percentiles of a handler that sleeps a known
 * time contain that time; the open loop keeps its schedule when it can and
 * shows coordinated omission when it cannot; errors land in their classes;
 * ratios are Lamina over baseline; cold starts are counted apart; the
 * queue mode's sends land in the queue, its receives and its latency
 * probes delete what they took.
 *
 * Timing bounds are containment checks with generous margins (the machine
 * is shared), never performance targets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

static lt_broker b;

static void start(void)
{
    static const char *const http[] = {"--http", "127.0.0.1:0", NULL}; /* the url mode */
    lt_broker_start(&b, http);
}

static void stop(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(bench, .init = start, .fini = stop, .timeout = 120);

static const char *bench_bin(void)
{
    static char path[1024];
    const char *root = getenv("LAMINA_BUILD_ROOT");
    cr_assert_not_null(root, "LAMINA_BUILD_ROOT is not set (run under meson test)");
    snprintf(path, sizeof(path), "%s/tools/lamina-bench", root);
    return path;
}

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no JSON written at %s", path);
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    cr_assert_not_null(j, "invalid JSON in %s", path);
    return j;
}

/* How bench() names the broker: --state <b.state>, unless a test points it
 * at --endpoint URL instead. */
static const char *target_flag = "--state";
static const char *target_url;

/* Run lamina-bench --state <broker> ARGS... --json <file>; returns the exit
 * status and, when it wrote one, the parsed report in *doc. */
static int bench(cJSON **doc, ...)
{
    const char *argv[48];
    char json[512];
    int n = 0;
    va_list ap;
    snprintf(json, sizeof(json), "%s/bench-%d.json", b.state, rand());
    argv[n++] = bench_bin();
    argv[n++] = target_flag;
    argv[n++] = target_url != NULL ? target_url : b.state;
    va_start(ap, doc);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        cr_assert_lt(n, 44);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n++] = "--json";
    argv[n++] = json;
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int status = lt_run(&b, argv, &out, &err);
    cr_log_info("lamina-bench exit %d\n%s", status, err != NULL ? err : "");
    struct stat st;
    *doc = stat(json, &st) == 0 ? read_json(json) : NULL;
    free(out);
    free(err);
    return status;
}

static double num(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        o = cJSON_GetObjectItemCaseSensitive(o, k);
    }
    cr_assert(cJSON_IsNumber(o), "no number at %s", path);
    return o->valuedouble;
}

static double error_count(const cJSON *doc, const char *cls)
{
    const cJSON *e =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "errors"), cls);
    return cJSON_IsNumber(e) ? e->valuedouble : 0.0;
}

Test(bench, sleep_handler_percentiles_contain_the_sleep)
{
    cJSON *d = NULL;
    lt_create(&b, "sleepy", "sleep", NULL);
    int rc = bench(&d, "invoke", "sleepy", "--payload", "{\"ms\":20}", "-c", "2", "-n", "40", "-w",
                   "300ms", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 40);
    cr_assert_eq(num(d, "requests"), 40);
    /* The sleep is a floor for every sample; 200 ms of slack above it. */
    cr_assert_geq(num(d, "latency_us.min"), 20000);
    cr_assert_geq(num(d, "latency_us.p50"), 20000);
    cr_assert_leq(num(d, "latency_us.p50"), 220000);
    cr_assert_geq(num(d, "latency_us.p99"), num(d, "latency_us.p50"));
    cr_assert_geq(num(d, "latency_us.max"), num(d, "latency_us.p99"));
    /* Two callers that each take >= 20 ms cannot exceed 100 per second. */
    cr_assert_leq(num(d, "throughput"), 101);
    cr_assert_gt(num(d, "throughput"), 0);
    /* Every request is in the histogram dump. */
    double sum = 0;
    const cJSON *bk;
    cJSON_ArrayForEach(bk, cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(d, "histogram"), "buckets"))
    {
        sum += cJSON_GetArrayItem(bk, 1)->valuedouble;
        cr_assert_geq(cJSON_GetArrayItem(bk, 0)->valuedouble, 20000);
    }
    cr_assert_eq(sum, 40);
    cJSON_Delete(d);
}

Test(bench, open_loop_achieves_the_requested_rate)
{
    cJSON *d = NULL;
    lt_create(&b, "echo", "echo", NULL);
    int rc = bench(&d, "invoke", "echo", "-R", "200", "-c", "8", "-d", "2s", "-w", "500ms", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "open_loop.target_rate"), 200);
    cr_assert_geq(num(d, "open_loop.achieved_rate"), 180);
    cr_assert_leq(num(d, "open_loop.achieved_rate"), 220);
    cr_assert_geq(num(d, "count"), 360);
    cr_assert_leq(num(d, "count"), 401);
    /* Measured from the intended send time, latency can only be longer. */
    cr_assert_geq(num(d, "latency_us.p50"), num(d, "open_loop.uncorrected_latency_us.p50"));
    cr_assert_geq(num(d, "latency_us.p99"), num(d, "open_loop.uncorrected_latency_us.p99"));
    cJSON_Delete(d);
}

Test(bench, open_loop_corrects_for_coordinated_omission)
{
    cJSON *d = NULL;
    /* One caller, 50 ms per request, 40 requests/s asked: the schedule
     * falls behind by 25 ms per request, and the corrected latency shows
     * the queueing that the uncorrected one hides. */
    lt_create(&b, "sleepy", "sleep", NULL);
    int rc = bench(&d, "invoke", "sleepy", "--payload", "{\"ms\":50}", "-R", "40", "-c", "1", "-d",
                   "2s", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_leq(num(d, "open_loop.achieved_rate"), 30);
    cr_assert_geq(num(d, "open_loop.uncorrected_latency_us.p50"), 50000);
    cr_assert_gt(num(d, "latency_us.p99"), 2 * num(d, "open_loop.uncorrected_latency_us.p99"));
    cr_assert_gt(num(d, "open_loop.late"), 0);
    cJSON_Delete(d);
}

Test(bench, handled_function_errors_are_classified)
{
    cJSON *d = NULL;
    lt_create(&b, "failing", "error", NULL);
    int rc = bench(&d, "invoke", "failing", "-n", "5", "-w", "0", "--fail-if", "errors>0", NULL);
    cr_assert_eq(rc, 3, "--fail-if errors>0 must set exit code 3");
    cr_assert_eq(error_count(d, "function_handled"), 5);
    cr_assert_eq(num(d, "count"), 0);
    cr_assert_eq(num(d, "requests"), 5);
    cr_assert_eq(num(d, "error_rate"), 1);
    cJSON_Delete(d);
}

Test(bench, timeouts_are_classified)
{
    cJSON *d = NULL;
    lt_create(&b, "slow", "sleep", "\"Timeout\":1");
    int rc = bench(&d, "invoke", "slow", "--payload", "{\"ms\":3000}", "-c", "2", "-n", "2", "-w",
                   "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(error_count(d, "timeout"), 2);
    cr_assert_eq(num(d, "count"), 0);
    cJSON_Delete(d);
}

Test(bench, unknown_function_is_an_invocation_error)
{
    cJSON *d = NULL;
    int rc = bench(&d, "invoke", "no-such-function", "-n", "3", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(error_count(d, "invocation:ResourceNotFoundException"), 3);
    cr_assert_eq(num(d, "count"), 0);
    cJSON_Delete(d);
}

Test(bench, clean_run_passes_fail_if)
{
    cJSON *d = NULL;
    lt_create(&b, "echo", "echo", NULL);
    int rc = bench(&d, "invoke", "echo", "-c", "4", "-n", "200", "-w", "200ms", "-s", "1k",
                   "--fail-if", "errors>0,p50>10s", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 200);
    cr_assert_eq(num(d, "shape.payload_bytes"), 1024);
    cJSON_Delete(d);
}

Test(bench, vs_baseline_reports_ratios_of_lamina_over_baseline)
{
    cJSON *d = NULL;
    lt_create(&b, "echo", "echo", NULL);
    int rc = bench(&d, "invoke", "echo", "-c", "4", "-d", "1s", "-w", "200ms", "--vs-baseline",
                   "--rounds", "2", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_gt(num(d, "count"), 0);
    cr_assert_gt(num(d, "baseline.count"), 0);
    cr_assert_eq(num(d, "baseline.requests"), num(d, "baseline.count"));
    cr_assert_eq(num(d, "baseline.rounds"), 2);
    double p50 = num(d, "latency_us.p50") / num(d, "baseline.latency_us.p50");
    double thr = num(d, "throughput") / num(d, "baseline.throughput");
    cr_assert_float_eq(num(d, "ratio.p50"), p50, 0.01 * p50 + 0.002);
    cr_assert_float_eq(num(d, "ratio.throughput"), thr, 0.01 * thr + 0.002);
    cr_assert_gt(num(d, "ratio.p99"), 0);
    cJSON_Delete(d);
}

Test(bench, cold_mode_counts_fresh_environments)
{
    cJSON *d = NULL;
    lt_create(&b, "echo", "echo", NULL);
    int rc = bench(&d, "cold", "echo", "-n", "5", "--vs-baseline", "--rounds", "1", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "cold.count"), 5, "every invoke after retire-workers is a cold start");
    cr_assert_eq(num(d, "warm.count"), 0);
    cr_assert_gt(num(d, "cold.init_us.p50"), 0);
    /* The invoke includes the init it reports. */
    cr_assert_geq(num(d, "cold.latency_us.max"), num(d, "cold.init_us.min"));
    cr_assert_eq(num(d, "baseline.count"), 5);
    cr_assert_gt(num(d, "baseline.latency_us.p50"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "baseline_kind")->valuestring, "fork-exec-connect");
    cJSON_Delete(d);
}

/* The template baseline: a template process forks a child per request that
 * dlopens the handler, installs a seccomp filter and answers over nng. */
Test(bench, cold_template_baseline_forks_children_that_load_the_handler)
{
    cJSON *d = NULL;
    lt_create(&b, "techo", "echo", NULL);
    char so[600];
    snprintf(so, sizeof(so), "%s", lt_handler("echo"));
    int rc = bench(&d, "cold", "techo", "-n", "4", "--vs-baseline", "--rounds", "1",
                   "--cold-baseline", "template", "--template-so", so, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "cold.count"), 4);
    cr_assert_eq(num(d, "baseline.count"), 4, "every template child answered");
    cr_assert_gt(num(d, "baseline.latency_us.p50"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "baseline_kind")->valuestring, "template-fork-connect");
    cJSON_Delete(d);
    /* a child that cannot load its .so never answers: the .so is really loaded */
    rc = bench(&d, "cold-baseline", "-n", "2", "--timeout", "300ms", "--cold-baseline", "template",
               "--template-so", "/nonexistent/handler.so", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 0);
    cr_assert_eq(error_count(d, "client_timeout"), 2);
    cJSON_Delete(d);
    d = NULL;
    cr_assert_eq(bench(&d, "invoke", "techo", "--cold-baseline", "template", NULL), 2);
    cr_assert_eq(bench(&d, "cold", "techo", "--template-so", so, NULL), 2);
    cr_assert_eq(bench(&d, "cold", "techo", "--cold-baseline", "zygote", NULL), 2);
    cr_assert_null(d);
}

Test(bench, async_mode_counts_every_accepted_event)
{
    cJSON *d = NULL;
    lt_create(&b, "echo", "echo", NULL);
    int rc = bench(&d, "invoke", "echo", "--async", "-n", "3", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "requests"), 3);
    /* every Event invoke is accepted (202) and counted; none is an error */
    cr_assert_eq(num(d, "count"), 3);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0,
                 "no error class is counted");
    cr_assert_gt(num(d, "latency_us.p50"), 0, "time to acceptance is measured");
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "shape"), "invocation")->valuestring, "Event");
    cJSON_Delete(d);
}

/* Event config of fn: OnSuccess dest (or none), MaximumRetryAttempts. */
static void event_config(const char *fn, const char *dest, int retries)
{
    char args[256];
    char *reply = NULL;
    lm_error e;
    snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\",\"MaximumRetryAttempts\":%d%s%s%s}", fn,
             retries,
             dest != NULL ? ",\"DestinationConfig\":{\"OnSuccess\":{\"Destination\":\"" : "",
             dest != NULL ? dest : "", dest != NULL ? "\"}}" : "");
    cr_assert_eq(lm_call(b.client, "event-config-put", args, NULL, 0, &reply, &e), LM_OK, "%s",
                 e.message);
    free(reply);
}

Test(bench, async_end_to_end_contains_the_event_and_its_destination)
{
    cJSON *d = NULL;
    /* Both runs sleep 40 ms (the record quotes the event, so the destination
     * sees "ms":40 too): every end-to-end sample holds 80 ms, and its
     * acceptance is part of it. */
    lt_create(&b, "first", "sleep", NULL);
    lt_create(&b, "then", "sleep", NULL);
    event_config("first", "then", 2);
    int rc = bench(&d, "invoke", "first", "--async", "--end-to-end", "--payload", "{\"ms\":40}",
                   "-c", "2", "-n", "20", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 20);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0);
    cr_assert_geq(num(d, "latency_us.min"), 80000, "both 40 ms runs are inside every sample");
    cr_assert_gt(num(d, "acceptance_latency_us.p50"), 0);
    cr_assert_leq(num(d, "acceptance_latency_us.p50"), num(d, "latency_us.p50"));
    cr_assert_leq(num(d, "acceptance_latency_us.max"), num(d, "latency_us.max"));
    cr_assert_lt(num(d, "acceptance_latency_us.min"), 40000, "the 202 does not wait for the run");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "shape"), "timed")->valuestring,
                     "end-to-end");
    cJSON_Delete(d);
}

Test(bench, async_end_to_end_classifies_failed_events_and_destinations)
{
    cJSON *d = NULL;
    lt_create(&b, "echo", "echo", NULL);
    lt_create(&b, "failing", "error", NULL);
    /* the event fails (no retries): its function error is the class */
    event_config("failing", "echo", 0);
    int rc = bench(&d, "invoke", "failing", "--async", "--end-to-end", "-n", "3", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(error_count(d, "function_handled"), 3);
    cr_assert_eq(num(d, "count"), 0);
    cJSON_Delete(d);
    /* the event succeeds, its destination fails */
    event_config("echo", "failing", 0);
    rc = bench(&d, "invoke", "echo", "--async", "--end-to-end", "-n", "3", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(error_count(d, "destination:RetriesExhausted"), 3);
    cJSON_Delete(d);
    /* not done within --timeout */
    lt_create(&b, "slow", "sleep", "\"Timeout\":30");
    event_config("slow", "echo", 0);
    rc = bench(&d, "invoke", "slow", "--async", "--end-to-end", "--payload", "{\"ms\":3000}",
               "--timeout", "200ms", "-n", "1", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(error_count(d, "async_pending"), 1);
    cJSON_Delete(d);
}

Test(bench, async_end_to_end_needs_a_success_destination)
{
    cJSON *d = NULL;
    lt_create(&b, "echo", "echo", NULL);
    cr_assert_eq(bench(&d, "invoke", "echo", "--async", "--end-to-end", "-n", "1", NULL), 1);
    cr_assert_null(d);
    cr_assert_eq(bench(&d, "invoke", "echo", "--end-to-end", "-n", "1", NULL), 2,
                 "--end-to-end without --async is a usage error");
}

Test(bench, warm_up_requests_are_sent_but_not_recorded)
{
    cJSON *d = NULL;
    /* one caller, 50 ms per request: 1 s of warm-up, then 1 s measured —
     * about 20 recorded, where recording the warm-up would give about 40 */
    lt_create(&b, "sleepy", "sleep", NULL);
    int rc = bench(&d, "invoke", "sleepy", "--payload", "{\"ms\":50}", "-c", "1", "-w", "1s", "-d",
                   "1s", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_geq(num(d, "count"), 10);
    cr_assert_leq(num(d, "count"), 25, "warm-up requests were recorded: %g", num(d, "count"));
    cr_assert_leq(num(d, "elapsed_s"), 1.5, "the measured window starts after the warm-up");
    cJSON_Delete(d);
}

Test(bench, payload_file_is_sent_as_read)
{
    cJSON *d = NULL;
    char path[400];
    snprintf(path, sizeof(path), "%s/event.json", b.state);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    const char *event = "{\"from\":\"a file\",\"n\":[1,2,3]}";
    fputs(event, f);
    fclose(f);
    lt_create(&b, "echo", "echo", NULL);
    int rc = bench(&d, "invoke", "echo", "--payload-file", path, "-n", "5", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 5);
    cr_assert_eq(num(d, "shape.payload_bytes"), (double)strlen(event),
                 "the file's bytes, not the 64-byte default");
    cJSON_Delete(d);
}

/* A TCP port nothing listens on now (the kernel's pick, released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

Test(bench, endpoint_reaches_a_broker_over_tcp)
{
    char url[64], dead[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
    snprintf(dead, sizeof(dead), "tcp://127.0.0.1:%d", free_port());
    lt_broker_stop(&b, false);
    const char *const listen[] = {"--listen", url, NULL};
    lt_broker_start(&b, listen);
    lt_create(&b, "echo", "echo", NULL);
    cJSON *d = NULL;
    target_flag = "--endpoint";
    target_url = url;
    int rc = bench(&d, "invoke", "echo", "-n", "20", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 20);
    cJSON_Delete(d);
    /* the endpoint is what is used: nothing listens there, so no run */
    target_url = dead;
    rc = bench(&d, "invoke", "echo", "-n", "1", "-w", "0", NULL);
    target_flag = "--state";
    target_url = NULL;
    cr_assert_eq(rc, 1, "an unreachable --endpoint is exit 1");
    cr_assert_null(d);
}

Test(bench, raw_baseline_echoes_every_request)
{
    cJSON *d = NULL;
    int rc = bench(&d, "baseline", "-c", "8", "-n", "500", "-w", "0", "-s", "4k", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 500);
    cr_assert_eq(num(d, "requests"), 500);
    cr_assert_gt(num(d, "latency_us.p50"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "target")->valuestring, "baseline");
    cJSON_Delete(d);
}

/* ApproximateNumberOfMessages (+ NotVisible + Delayed) of queue q. */
static double queue_messages(const char *q)
{
    char args[160];
    char *reply = NULL;
    lm_error e;
    snprintf(args, sizeof(args), "{\"QueueName\":\"%s\"}", q);
    cr_assert_eq(lm_call(b.client, "queue-get", args, NULL, 0, &reply, &e), LM_OK, "%s", e.message);
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "Attributes");
    double n = 0;
    const char *keys[] = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                          "ApproximateNumberOfMessagesDelayed"};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, keys[i]);
        cr_assert(cJSON_IsString(v), "no %s", keys[i]);
        n += atof(v->valuestring);
    }
    cJSON_Delete(j);
    return n;
}

static void assert_clean_queue_run(const cJSON *d, const char *op, double count)
{
    cr_assert_str_eq(cJSON_GetObjectItem(d, "mode")->valuestring, "queue");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "shape"), "op")->valuestring, op);
    cr_assert_eq(num(d, "count"), count);
    cr_assert_eq(num(d, "requests"), count);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0,
                 "no error class is counted (%s)", op);
    cr_assert_gt(num(d, "latency_us.p50"), 0);
    cr_assert_gt(num(d, "throughput"), 0);
}

Test(bench, queue_mode_sends_receives_and_times_messages)
{
    cJSON *d = NULL;
    /* send: the queue is created, and every acknowledged send is in it */
    int rc = bench(&d, "queue", "bq", "-c", "4", "-n", "20", "-w", "0", "-s", "100", NULL);
    cr_assert_eq(rc, 0);
    assert_clean_queue_run(d, "send", 20);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "queue")->valuestring, "bq");
    cr_assert_eq(num(d, "shape.payload_bytes"), 100);
    cr_assert_eq(queue_messages("bq"), 20);
    cJSON_Delete(d);
    /* latency refuses a queue holding messages (one ahead of ours would be
     * timed) */
    rc = bench(&d, "queue", "bq", "--op", "latency", "-n", "1", "-w", "0", NULL);
    cr_assert_eq(rc, 1);
    cr_assert_null(d);
    /* receive: 3 receives of up to 10 after a prefill to 30; what they got
     * is deleted, the rest stays */
    rc = bench(&d, "queue", "bq", "--op", "receive", "--prefill", "30", "-n", "3", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    assert_clean_queue_run(d, "receive", 3);
    double got = num(d, "messages");
    cr_assert_geq(got, 3);
    cr_assert_leq(got, 30);
    cr_assert_gt(num(d, "messages_per_s"), 0);
    cr_assert_eq(queue_messages("bq"), 30 - got, "received messages are deleted");
    cJSON_Delete(d);
    /* on an empty queue, each message is sent, received and deleted */
    rc = bench(&d, "queue", "bq-latency", "--op", "latency", "-n", "5", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    assert_clean_queue_run(d, "latency", 5);
    cr_assert_eq(queue_messages("bq-latency"), 0);
    cJSON_Delete(d);
    /* get, against the two-hop baseline, with ratios */
    rc = bench(&d, "queue", "bq", "--op", "get", "-n", "10", "-w", "0", "--vs-baseline", "--rounds",
               "1", NULL);
    cr_assert_eq(rc, 0);
    assert_clean_queue_run(d, "get", 10);
    cr_assert_eq(num(d, "baseline.count"), 10);
    cr_assert_gt(num(d, "ratio.p50"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "baseline_kind")->valuestring, "nng-ipc-two-hop");
    cJSON_Delete(d);
    cr_assert_eq(bench(&d, "queue", "q.fifo", "-n", "1", NULL), 2, "FIFO names are refused");
}

/* Records in stream s, all shards (4, as the bench creates it). */
static int stream_records(const char *s)
{
    int total = 0;
    for (int sh = 0; sh < 4; sh++) {
        char args[256];
        char *reply = NULL;
        lm_error e;
        snprintf(args, sizeof(args),
                 "{\"StreamName\":\"%s\",\"ShardId\":\"%d\",\"ShardIteratorType\":"
                 "\"TRIM_HORIZON\"}",
                 s, sh);
        cr_assert_eq(lm_call(b.client, "stream-iterator", args, NULL, 0, &reply, &e), LM_OK, "%s",
                     e.message);
        cJSON *j = cJSON_Parse(reply);
        free(reply);
        char *it_args = NULL;
        cr_assert(asprintf(&it_args, "{\"ShardIterator\":\"%s\"}",
                           cJSON_GetObjectItem(j, "ShardIterator")->valuestring) > 0);
        cJSON_Delete(j);
        cr_assert_eq(lm_call(b.client, "stream-get-records", it_args, NULL, 0, &reply, &e), LM_OK,
                     "%s", e.message);
        free(it_args);
        j = cJSON_Parse(reply);
        free(reply);
        total += cJSON_GetArraySize(cJSON_GetObjectItem(j, "Records"));
        cJSON_Delete(j);
    }
    return total;
}

Test(bench, stream_mode_puts_and_times_records)
{
    cJSON *d = NULL;
    /* put: the stream is created, and every acknowledged put is in it */
    int rc = bench(&d, "stream", "bs", "-c", "4", "-n", "20", "-w", "0", "-s", "100", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "mode")->valuestring, "stream");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "shape"), "op")->valuestring,
                     "put");
    cr_assert_eq(num(d, "count"), 20);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0);
    cr_assert_gt(num(d, "latency_us.p50"), 0);
    cr_assert_eq(stream_records("bs"), 20);
    cJSON_Delete(d);
    /* latency: each record is put and read back */
    rc = bench(&d, "stream", "bs", "--op", "latency", "-n", "5", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "shape"), "op")->valuestring,
                     "latency");
    cr_assert_eq(num(d, "count"), 5);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0);
    cr_assert_eq(stream_records("bs"), 25);
    cJSON_Delete(d);
}

/* ApproximateNumberOfMessages of queue q. */
static int queue_depth(const char *q)
{
    char args[256];
    snprintf(args, sizeof(args), "{\"QueueName\":\"%s\",\"AttributeNames\":[\"All\"]}", q);
    cJSON *j = lt_ok(&b, "queue-get", "%s", args);
    const cJSON *v =
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Attributes"), "ApproximateNumberOfMessages");
    cr_assert(cJSON_IsString(v));
    int n = atoi(v->valuestring);
    cJSON_Delete(j);
    return n;
}

Test(bench, bus_mode_routes_events_through_its_rules_to_a_queue)
{
    cJSON *d = NULL;
    /* put: the bus gets 5 rules, one of which routes each event to bb-q */
    int rc = bench(&d, "bus", "bb", "--rules", "5", "-c", "4", "-n", "20", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "mode")->valuestring, "bus");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "shape"), "op")->valuestring,
                     "put");
    cr_assert_eq(num(d, "count"), 20);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0);
    cr_assert_eq(queue_depth("bb-q"), 20, "every acknowledged event reached the target");
    cJSON *r = lt_ok(&b, "rule-list", "{\"EventBusName\":\"bb\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "Rules")), 5);
    cJSON_Delete(r);
    cJSON_Delete(d);
    /* latency: the queue is purged, then each event is received and deleted */
    rc = bench(&d, "bus", "bb", "--op", "latency", "-n", "5", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 5);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0);
    cr_assert_eq(queue_depth("bb-q"), 0);
    cJSON_Delete(d);
    /* --rules belongs to bus mode, and has a range */
    cr_assert_eq(bench(&d, "bus", "bb", "--rules", "0", NULL), 2);
    cr_assert_eq(bench(&d, "stream", "bs2", "--rules", "3", NULL), 2);
}

Test(bench, url_mode_posts_to_a_function_url_against_the_api_socket_or_a_bare_responder)
{
    lt_create(&b, "uecho", "echo", NULL);
    cJSON *d = NULL;
    int rc = bench(&d, "url", "uecho", "-c", "2", "-n", "60", "-w", "0", "--vs-baseline",
                   "--rounds", "1", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "mode")->valuestring, "url");
    cr_assert_eq(num(d, "count"), 60);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "errors")), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "baseline_kind")->valuestring, "api-socket-invoke");
    cr_assert_eq(num(cJSON_GetObjectItem(d, "baseline"), "count"), 60);
    cJSON_Delete(d);
    /* the URL was made (AuthType NONE) and is reused */
    cJSON *u = lt_ok(&b, "url-get", "{\"FunctionName\":\"uecho\"}");
    cr_assert_str_eq(cJSON_GetObjectItem(u, "AuthType")->valuestring, "NONE");
    cJSON_Delete(u);
    rc = bench(&d, "url", "uecho", "-n", "40", "-w", "0", "--vs-baseline", "--rounds", "1",
               "--url-baseline", "mhd", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "baseline_kind")->valuestring, "libmicrohttpd-echo");
    cr_assert_eq(num(d, "count"), 40);
    cr_assert_eq(num(cJSON_GetObjectItem(d, "baseline"), "count"), 40);
    cJSON_Delete(d);
    /* a function that fails: counted as http-502, not ok */
    lt_create(&b, "ufail", "error", NULL);
    rc = bench(&d, "url", "ufail", "-n", "5", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 0);
    cr_assert_eq(num(cJSON_GetObjectItem(d, "errors"), "http-502"), 5);
    cJSON_Delete(d);
    /* open loop over HTTP keeps its schedule */
    rc = bench(&d, "url", "uecho", "-c", "2", "-R", "200", "-d", "1s", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_float_eq(num(d, "open_loop.achieved_rate"), 200, 30);
    cr_assert_geq(num(d, "count"), 170);
    cJSON_Delete(d);
    cr_assert_eq(bench(&d, "invoke", "uecho", "--url-baseline", "mhd", NULL), 2);
}

Test(bench, one_hop_baseline_is_raw_reqrep)
{
    cJSON *d = NULL;
    int rc = bench(&d, "baseline", "--hops", "1", "-c", "4", "-n", "200", "-w", "0", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "count"), 200);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "baseline_kind")->valuestring, "nng-ipc-one-hop");
    cJSON_Delete(d);
}

Test(bench, usage_errors_exit_2)
{
    cJSON *d = NULL;
    cr_assert_eq(bench(&d, "invoke", NULL), 2);
    cr_assert_eq(bench(&d, "invoke", "echo", "-n", "5", "-d", "1s", NULL), 2);
    cr_assert_eq(bench(&d, "invoke", "echo", "--fail-if", "p99>50", NULL), 2);
    cr_assert_eq(bench(&d, "frobnicate", NULL), 2);
    cr_assert_null(d);
}

Test(bench, esm_mode_drains_a_queue_through_a_mapping_and_invokes_directly)
{
    lt_create(&b, "eb", "echo", NULL);
    cJSON *d = NULL;
    int rc = bench(&d, "esm", "eb", "--batch-size", "10", "-n", "200", NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(num(d, "batch_size"), 10);
    cr_assert_eq(num(d, "records"), 200);
    cr_assert_gt(num(d, "esm_records_s"), 0);
    cr_assert_gt(num(d, "direct_records_s"), 0);
    cr_assert_gt(num(d, "ratio"), 0);
    cr_assert_eq(num(d, "send_to_done_us.count"), 50);
    cr_assert_gt(num(d, "send_to_done_us.p50"), 0);
    cJSON_Delete(d);
    /* its queues and mappings are gone; the function ran the records */
    cJSON *l = lt_ok(&b, "esm-list", "{}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(l, "EventSourceMappings")), 0);
    cJSON_Delete(l);
    cJSON *s = lt_ok(&b, "status", "{}");
    cr_assert_geq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(s, "EventSourceMappings"), "Records")->valuedouble,
        250);
    cJSON_Delete(s);
    /* bad input: usage errors */
    cr_assert_eq(bench(&d, "esm", NULL), 2);
    cr_assert_eq(bench(&d, "esm", "eb", "--batch-size", "0", NULL), 2);
}

/* ---- --plot ---- */

/* Run argv (NULL-terminated); its exit status, stderr into *err. */
static int run_cmd(const char *const *argv, char **err)
{
    char *out = NULL;
    int rc = lt_run(&b, argv, &out, err);
    free(out);
    return rc;
}

static bool same_file(const char *a, const char *b2)
{
    FILE *x = fopen(a, "rb"), *y = fopen(b2, "rb");
    bool same = x != NULL && y != NULL;
    while (same) {
        int c = fgetc(x);
        same = c == fgetc(y);
        if (c == EOF) {
            break;
        }
    }
    if (x != NULL) {
        fclose(x);
    }
    if (y != NULL) {
        fclose(y);
    }
    return same;
}

/* --plot draws both sides in both panels: rendered by headless Chromium,
 * the PNG has Lamina's blue and the baseline's orange above and below the
 * panels' border; `lamina-bench plot RESULT.json` draws the same bytes. */
Test(bench, plot_draws_lamina_beside_the_baseline_and_renders_in_chromium, .timeout = 180)
{
    lt_create(&b, "pecho", "echo", NULL);
    char svg[600], svg2[600], png[600], json[600], prof[600], shot[700];
    snprintf(svg, sizeof(svg), "%s/plot.svg", b.state);
    snprintf(svg2, sizeof(svg2), "%s/again.svg", b.state);
    snprintf(png, sizeof(png), "%s/plot.png", b.state);
    snprintf(prof, sizeof(prof), "--user-data-dir=%s/chromium", b.state);
    snprintf(shot, sizeof(shot), "--screenshot=%s", png);
    cJSON *d = NULL;
    int rc = bench(&d, "invoke", "pecho", "-c", "2", "-n", "600", "-w", "0", "--vs-baseline",
                   "--rounds", "2", "--plot", svg, NULL);
    cr_assert_eq(rc, 0);
    /* the samples behind the time panel: every request of each side, in bins */
    cr_assert_eq(num(d, "series.kept"), num(d, "count"));
    cr_assert_eq(num(d, "baseline.series.kept"), num(d, "baseline.count"));
    const cJSON *pts = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "baseline"), "series"), "points");
    double in_bins = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, pts)
    {
        in_bins += cJSON_GetArrayItem(p, 1)->valuedouble;
        cr_assert_leq(cJSON_GetArrayItem(p, 2)->valuedouble, cJSON_GetArrayItem(p, 3)->valuedouble,
                      "p50 <= p99 in each bin");
    }
    cr_assert_eq(in_bins, num(d, "baseline.count"));
    /* the --json written beside it plots to the same bytes */
    snprintf(json, sizeof(json), "%s/result.json", b.state);
    FILE *f = fopen(json, "w");
    char *text = cJSON_Print(d);
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(d);
    const char *again[] = {bench_bin(), "plot", json, "-o", svg2, NULL};
    char *err = NULL;
    cr_assert_eq(run_cmd(again, &err), 0, "%s", err);
    free(err);
    cr_assert(same_file(svg, svg2), "plot RESULT.json drew another picture");
    /* render it as a browser would and look for both series in both panels */
    const char *chromium = getenv("LAMINA_CHROMIUM");
    chromium = chromium != NULL ? chromium : "/usr/bin/chromium-headless-shell";
    cr_assert_eq(access(chromium, X_OK), 0,
                 "%s is missing (tools/dev installs chromium-headless-shell)", chromium);
    char url[700];
    snprintf(url, sizeof(url), "file://%s", svg);
    const char *render[] = {chromium,
                            "--no-sandbox",
                            "--disable-gpu",
                            "--hide-scrollbars",
                            "--window-size=960,856",
                            prof,
                            shot,
                            url,
                            NULL};
    err = NULL;
    cr_assert_eq(run_cmd(render, &err), 0, "chromium: %s", err);
    free(err);
    const char *count[] = {"/usr/bin/python3", getenv("LAMINA_PLOT_PIXELS"), png, "456", NULL};
    char *out = NULL;
    err = NULL;
    cr_assert_eq(lt_run(&b, count, &out, &err), 0, "%s", err);
    long n[4] = {0};
    cr_assert_eq(sscanf(out, "%ld %ld %ld %ld", &n[0], &n[1], &n[2], &n[3]), 4, "%s", out);
    static const char *const what[] = {"Lamina by percentile", "the baseline by percentile",
                                       "Lamina over time", "the baseline over time"};
    for (int i = 0; i < 4; i++) { /* a legend swatch alone is ~100 pixels */
        cr_expect_gt(n[i], 300, "%s: %ld pixels of its colour", what[i], n[i]);
    }
    free(out);
    free(err);
}

Test(bench, plot_refuses_what_is_not_a_result)
{
    char bad[600], nohist[600], out[600];
    snprintf(bad, sizeof(bad), "%s/bad.json", b.state);
    snprintf(nohist, sizeof(nohist), "%s/nohist.json", b.state);
    snprintf(out, sizeof(out), "%s/x.svg", b.state);
    FILE *f = fopen(bad, "w");
    fputs("{not json", f);
    fclose(f);
    f = fopen(nohist, "w");
    fputs("{\"tool\":\"lamina-bench\",\"mode\":\"esm\"}", f);
    fclose(f);
    char *err = NULL;
    const char *a1[] = {bench_bin(), "plot", bad, "-o", out, NULL};
    cr_assert_eq(run_cmd(a1, &err), 1);
    cr_assert_not_null(strstr(err, "not a lamina-bench JSON result"), "%s", err);
    free(err);
    const char *a2[] = {bench_bin(), "plot", nohist, "-o", out, NULL};
    cr_assert_eq(run_cmd(a2, &err), 1);
    cr_assert_not_null(strstr(err, "no latency histogram"), "%s", err);
    free(err);
    const char *a3[] = {bench_bin(), "plot", NULL};
    cr_assert_eq(run_cmd(a3, &err), 2);
    free(err);
    struct stat st;
    cr_assert_neq(stat(out, &st), 0, "nothing is written for a bad result");
    cJSON *d = NULL;
    cr_assert_eq(bench(&d, "esm", "x", "--plot", out, NULL), 2, "--plot needs a single run");
}
