/*
 * Integration: the synchronous invoke path against a real broker and real
 * runtimes — results, log tails, warm reuse, concurrency, throttling.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static lt_broker b;

static void up(void)
{
    lt_broker_start(&b, NULL);
}
static void down(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(invoke, .init = up, .fini = down, .timeout = 60);

static cJSON *payload_json(const lm_invoke_result *r)
{
    cJSON *j = cJSON_ParseWithLength(r->payload, r->payload_len);
    cr_assert_not_null(j, "payload is not JSON: %s", r->payload);
    return j;
}

Test(invoke, echo_returns_the_event_with_status_200_and_latest)
{
    lt_create(&b, "echo", "echo", NULL);
    lm_invoke_result r;
    lm_error e;
    const char *ev = "{\"a\":[1,2,3],\"s\":\"h\\u00e9llo\"}";
    cr_assert_eq(lt_invoke(&b, "echo", ev, &r, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.executed_version, "$LATEST");
    cr_assert_str_eq(r.function_error, "");
    cr_assert_str_eq(r.payload, ev);
    cr_assert_eq(strlen(r.request_id), 36, "request id is a UUID: %s", r.request_id);
    cr_assert_null(r.log_result, "no tail unless asked");
    lm_invoke_result_finish(&r);
}

Test(invoke, an_empty_response_is_null)
{
    lt_create(&b, "empty", "empty", NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "empty", "{}", &r, &e), LM_OK);
    cr_assert_str_eq(r.payload, "null");
    cr_assert_str_eq(r.function_error, "");
    lm_invoke_result_finish(&r);
}

Test(invoke, request_context_and_client_context_reach_the_handler)
{
    lt_create(&b, "ctx", "ctx", "\"MemorySize\":256,\"Timeout\":7");
    lm_invoke_params p = {.function = "function:ctx:$LATEST",
                          .payload = "{}",
                          .payload_len = 2,
                          .client_context = "{\"custom\":{\"k\":\"v\"}}"};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    cJSON *j = payload_json(&r);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "function")->valuestring, "ctx");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "version")->valuestring, "$LATEST");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "arn")->valuestring, "function:ctx:$LATEST");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "request_id")->valuestring, r.request_id);
    cr_assert_eq(cJSON_GetObjectItem(j, "memory")->valueint, 256);
    double left = cJSON_GetObjectItem(j, "remaining_ms")->valuedouble;
    cr_assert(left > 5000 && left <= 7000, "remaining_ms %f within the 7 s timeout", left);
    cJSON *cc = cJSON_GetObjectItem(j, "client_context");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cc, "custom"), "k")->valuestring, "v");
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
}

Test(invoke, environment_variables_reach_the_handler)
{
    lt_create(&b, "env", "env", "\"Environment\":{\"Variables\":{\"GREETING\":\"hi there\"}}");
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "env", "{\"name\":\"GREETING\"}", &r, &e), LM_OK);
    cr_assert_str_eq(r.payload, "{\"value\":\"hi there\"}");
    lm_invoke_result_finish(&r);
    cr_assert_eq(lt_invoke(&b, "env", "{\"name\":\"AWS_LAMBDA_FUNCTION_NAME\"}", &r, &e), LM_OK);
    cr_assert_str_eq(r.payload, "{\"value\":\"env\"}");
    lm_invoke_result_finish(&r);
    cr_assert_eq(lt_invoke(&b, "env", "{\"name\":\"LAMINA_TOKEN\"}", &r, &e), LM_OK);
    cr_assert_str_eq(r.payload, "{\"value\":null}", "the worker token is hidden from handlers");
    lm_invoke_result_finish(&r);
}

Test(invoke, warm_environment_is_reused_and_init_runs_once)
{
    lt_create(&b, "counter", "counter", NULL);
    int pid = 0;
    for (int i = 1; i <= 5; i++) {
        lm_invoke_result r;
        lm_error e;
        cr_assert_eq(lt_invoke(&b, "counter", "{}", &r, &e), LM_OK);
        cJSON *j = payload_json(&r);
        cr_assert_eq(cJSON_GetObjectItem(j, "count")->valueint, i);
        cr_assert_eq(cJSON_GetObjectItem(j, "inits")->valueint, 1);
        if (i == 1) {
            pid = cJSON_GetObjectItem(j, "pid")->valueint;
            cr_assert(r.init_duration_ms > 0, "the first invoke is a cold start");
        } else {
            cr_assert_eq(cJSON_GetObjectItem(j, "pid")->valueint, pid);
            cr_assert(r.init_duration_ms == 0, "later invokes are warm");
        }
        cJSON_Delete(j);
        lm_invoke_result_finish(&r);
    }
}

Test(invoke, dry_run_returns_204_without_running_anything)
{
    lt_create(&b, "counter", "counter", NULL);
    lm_invoke_params p = {.function = "counter", .type = LM_INVOKE_DRY_RUN};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r.status, 204);
    lm_invoke_result_finish(&r);
    cr_assert_eq(lt_invoke(&b, "counter", "{}", &r, &e), LM_OK);
    cJSON *j = payload_json(&r);
    cr_assert_eq(cJSON_GetObjectItem(j, "count")->valueint, 1, "dry run did not run the handler");
    cr_assert(r.init_duration_ms > 0, "dry run did not start an environment");
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
    p.function = "missing";
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_E_NOT_FOUND, "dry run still validates");
}

Test(invoke, log_tail_holds_the_last_4KB_of_a_5KB_log)
{
    lt_create(&b, "chatty", "logtail", NULL);
    lm_invoke_params p = {.function = "chatty", .log_tail = 1};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK);
    cr_assert_str_eq(r.payload, "{\"lines\":100}");
    cr_assert_not_null(r.log_result);
    size_t n = 0;
    char *log = lt_unbase64(r.log_result, &n);
    cr_assert(n <= 4096 && n > 3500, "tail is the last 4 KB, got %zu bytes", n);
    cr_assert_null(strstr(log, "START RequestId"), "the 5 KB log's head is cut off");
    cr_assert_null(strstr(log, "line 000"), "the first handler lines are cut off");
    cr_assert_not_null(strstr(log, "stdout line 099"), "stdout is captured");
    cr_assert_not_null(strstr(log, "stderr line 097"), "stderr is captured");
    cr_assert_not_null(strstr(log, "INFO\tlm_log line 098"), "lm_log lines are captured");
    char want[128];
    snprintf(want, sizeof(want), "END RequestId: %s\n", r.request_id);
    cr_assert_not_null(strstr(log, want));
    snprintf(want, sizeof(want), "REPORT RequestId: %s\tDuration: ", r.request_id);
    cr_assert_not_null(strstr(log, want), "REPORT line: %s", log);
    cr_assert_not_null(strstr(log, "Billed Duration: "));
    cr_assert_not_null(strstr(log, "Memory Size: 128 MB\tMax Memory Used: "));
    cr_assert_not_null(strstr(log, "Init Duration: "), "first invoke reports Init Duration");
    free(log);
    lm_invoke_result_finish(&r);
}

Test(invoke, short_log_tail_starts_with_START_and_shows_every_stream)
{
    lt_create(&b, "talk", "stdio", NULL);
    lm_invoke_params p = {.function = "talk", .log_tail = 1};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK);
    size_t n = 0;
    char *log = lt_unbase64(r.log_result, &n);
    char want[128];
    snprintf(want, sizeof(want), "START RequestId: %s Version: $LATEST\n", r.request_id);
    cr_assert_eq(strncmp(log, want, strlen(want)), 0, "log: %s", log);
    cr_assert_not_null(strstr(log, "via-printf\n"));
    cr_assert_not_null(strstr(log, "via-stderr\n"));
    cr_assert_not_null(strstr(log, "via-write\n"));
    cr_assert_not_null(strstr(log, "via-lm_log\n"));
    free(log);
    lm_invoke_result_finish(&r);
}

typedef struct par {
    int i;
    int ok;
    int pid;
} par;

static void *par_invoke(void *arg)
{
    par *t = arg;
    char ev[64];
    snprintf(ev, sizeof(ev), "{\"ms\":20,\"i\":%d}", t->i);
    lm_invoke_result r;
    lm_error e;
    if (lt_invoke(&b, "counter", ev, &r, &e) == LM_OK && r.function_error[0] == '\0') {
        cJSON *j = cJSON_ParseWithLength(r.payload, r.payload_len);
        cJSON *event = j != NULL ? cJSON_GetObjectItem(j, "event") : NULL;
        t->ok = event != NULL && cJSON_GetObjectItem(event, "i") != NULL &&
                cJSON_GetObjectItem(event, "i")->valueint == t->i;
        t->pid = j != NULL ? cJSON_GetObjectItem(j, "pid")->valueint : 0;
        cJSON_Delete(j);
    }
    lm_invoke_result_finish(&r);
    return NULL;
}

Test(invoke, two_hundred_concurrent_invokes_spread_over_workers_all_answered, .timeout = 120)
{
    lt_create(&b, "counter", "counter", NULL);
    enum { N = 200 };
    static par t[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        t[i] = (par){.i = i};
        cr_assert_eq(pthread_create(&th[i], NULL, par_invoke, &t[i]), 0);
    }
    int ok = 0, distinct = 0;
    int pids[N];
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += t[i].ok;
        bool seen = false;
        for (int k = 0; k < distinct; k++) {
            seen = seen || pids[k] == t[i].pid;
        }
        if (!seen && t[i].pid != 0) {
            pids[distinct++] = t[i].pid;
        }
    }
    cr_assert_eq(ok, N, "every invoke got its own event back (%d of %d)", ok, N);
    cr_assert(distinct > 1, "concurrent invokes ran in several environments (%d)", distinct);
}

static void *slow_invoke(void *arg)
{
    lm_invoke_result r;
    lm_error e;
    *(int *)arg = lt_invoke(&b, "slow", "{\"ms\":1500}", &r, &e);
    lm_invoke_result_finish(&r);
    return NULL;
}

static bool one_busy(void *arg)
{
    (void)arg;
    char *reply = NULL;
    lm_error e;
    if (lm_call(b.client, "status", NULL, NULL, 0, &reply, &e) != LM_OK) {
        return false;
    }
    bool busy = strstr(reply, "\"Busy\":1") != NULL;
    free(reply);
    return busy;
}

static void up_one(void)
{
    const char *args[] = {"--max-concurrency", "1", NULL};
    lt_broker_start(&b, args);
}

Test(invoke_limits, invokes_over_max_concurrency_are_throttled_with_429, .init = up_one,
     .fini = down, .timeout = 60)
{
    lt_create(&b, "slow", "sleep", NULL);
    pthread_t th;
    int first = -1;
    pthread_create(&th, NULL, slow_invoke, &first);
    cr_assert(lt_wait_until(one_busy, NULL, 10000), "the first invoke is running");
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "slow", "{\"ms\":1}", &r, &e), LM_E_THROTTLED);
    cr_assert_eq(e.status, 429);
    cr_assert_str_eq(e.type, "TooManyRequestsException");
    pthread_join(th, NULL);
    cr_assert_eq(first, LM_OK);
    cr_assert_eq(lt_invoke(&b, "slow", "{\"ms\":1}", &r, &e), LM_OK, "capacity is back");
    lm_invoke_result_finish(&r);
}

typedef struct log_wait {
    char path[1200];
    char want[256];
} log_wait;

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool log_has(void *arg)
{
    log_wait *lw = arg;
    char *t = read_text(lw->path);
    bool ok = t != NULL && strstr(t, lw->want) != NULL;
    free(t);
    return ok;
}

Test(invoke, the_function_log_file_keeps_each_invocation_in_order)
{
    lt_create(&b, "talk", "stdio", NULL);
    lt_create(&b, "quiet", "echo", NULL);
    char rid[2][40];
    for (int i = 0; i < 2; i++) {
        lm_invoke_result r;
        lm_error e;
        cr_assert_eq(lt_invoke(&b, "talk", "{}", &r, &e), LM_OK);
        snprintf(rid[i], sizeof(rid[i]), "%s", r.request_id);
        lm_invoke_result_finish(&r);
    }
    log_wait lw;
    snprintf(lw.path, sizeof(lw.path), "%s/logs/talk.log", b.state);
    snprintf(lw.want, sizeof(lw.want), "REPORT RequestId: %s", rid[1]);
    cr_assert(lt_wait_until(log_has, &lw, 5000), "the log file gets the second REPORT");
    char *t = read_text(lw.path);
    char k[6][128];
    snprintf(k[0], sizeof(k[0]), "START RequestId: %s Version: $LATEST", rid[0]);
    snprintf(k[1], sizeof(k[1]), "via-printf");
    snprintf(k[2], sizeof(k[2]), "END RequestId: %s", rid[0]);
    snprintf(k[3], sizeof(k[3]), "REPORT RequestId: %s", rid[0]);
    snprintf(k[4], sizeof(k[4]), "START RequestId: %s", rid[1]);
    snprintf(k[5], sizeof(k[5]), "END RequestId: %s", rid[1]);
    const char *at = t;
    for (int i = 0; i < 6; i++) {
        const char *p = strstr(at, k[i]);
        cr_assert_not_null(p, "'%s' follows in the log:\n%s", k[i], t);
        at = p + strlen(k[i]);
    }
    free(t);
    /* a silent invocation still gets its whole record */
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "quiet", "{}", &r, &e), LM_OK);
    snprintf(lw.path, sizeof(lw.path), "%s/logs/quiet.log", b.state);
    snprintf(lw.want, sizeof(lw.want), "START RequestId: %s Version: $LATEST\nEND RequestId: %s",
             r.request_id, r.request_id);
    lm_invoke_result_finish(&r);
    cr_assert(lt_wait_until(log_has, &lw, 5000), "START and END of a silent invocation");
}

/* The client keeps a call's context for the next call (sdk/src/client.c);
 * a call that timed out must not hand its late reply to the call after it. */
Test(invoke, a_client_call_after_a_timeout_gets_its_own_reply)
{
    lt_create(&b, "nap", "sleep", NULL);
    lt_create(&b, "echo2", "echo", NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "echo2", "{\"warm\":1}", &r, &e), LM_OK, "%s", e.message);
    lm_invoke_result_finish(&r);
    lm_client_set_timeout(b.client, 200);
    lm_invoke_params p = {.function = "nap", .payload = "{\"ms\":600}", .payload_len = 10};
    memset(&r, 0, sizeof(r));
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_E_TIMEOUT, "%s", e.message);
    lm_invoke_result_finish(&r);
    lm_client_set_timeout(b.client, 10000);
    for (int i = 0; i < 20; i++) {
        char ev[32];
        snprintf(ev, sizeof(ev), "{\"i\":%d}", i);
        cr_assert_eq(lt_invoke(&b, "echo2", ev, &r, &e), LM_OK, "%s", e.message);
        cr_assert_str_eq(r.payload, ev, "call %d got another call's reply", i);
        lm_invoke_result_finish(&r);
    }
}
