/*
 * tests/integration/test_concurrency.c — Lambda's concurrency controls
 * (broker/admin/concurrency.c, core/invoke.c's admission, core/pool.c's
 * provisioned environments): a reservation caps a burst exactly and 429s
 * the rest with Lambda's Reason; reserved 0 throttles sync invokes and
 * sends async events straight to the failure destination without a retry
 * (on the test clock, which never moves here: a retry would never come);
 * reservations may not eat the unreserved minimum, and unreserved
 * functions share what is left; provisioned environments run LM_INIT
 * ahead, serve without an Init Duration, outlive the idle timeout, are
 * replaced after kill -9 and FAILED when their init fails; all of it
 * survives a restart, and an older store upgrades.
 *
 * Bursts use tests/handlers/gate.c, which holds each invoke until the
 * test creates a file, so "N at once" is a state the test waits for, not
 * a race; it needs --unsafe-no-sandbox to see the file.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "old_stores.h"

static lt_broker b;

static void down(void)
{
    if (b.pid != 0) {
        lt_broker_stop(&b, false);
    }
}

TestSuite(concurrency, .fini = down, .timeout = 120);

/* ---- helpers ---- */

static void start(const char *max, bool unsafe)
{
    const char *args[] = {"--max-concurrency", max, unsafe ? "--unsafe-no-sandbox" : NULL, NULL};
    lt_broker_start(&b, args);
}

/* The JSON of op's error, or of its reply: code into *rc. */
static cJSON *call(const char *op, const char *args, int *rc, lm_error *e)
{
    cJSON *out = NULL;
    *rc = lt_call(&b, op, args, &out, e);
    return out;
}

static void expect_refused(const char *op, const char *args, int code, const char *needle)
{
    lm_error e;
    int rc = 0;
    cJSON *r = call(op, args, &rc, &e);
    cr_assert_eq(rc, code, "%s %s: want %d, got %d (%s: %s)", op, args, code, rc, e.type,
                 e.message);
    cr_assert_not_null(strstr(e.message, needle), "%s: %s", op, e.message);
    cJSON_Delete(r);
}

static int num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(cJSON_IsNumber(v), "no number %s in %s", k, cJSON_PrintUnformatted(o));
    return v->valueint;
}

static const char *str(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return s != NULL ? s : "(missing)";
}

static cJSON *status_concurrency(void)
{
    cJSON *s = lt_ok(&b, "status", "{}");
    cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(s, "Concurrency");
    cJSON_Delete(s);
    cr_assert_not_null(c, "status has Concurrency");
    return c;
}

/* ---- a burst against a gate ---- */

typedef struct burst {
    const char *fn;
    char payload[300];
    int rc;
    lm_error e;
    lm_invoke_result r;
    pthread_t t;
} burst;

static pthread_mutex_t done_mtx = PTHREAD_MUTEX_INITIALIZER;

static void *burst_one(void *arg)
{
    burst *x = arg;
    lm_invoke_params p = {
        .function = x->fn, .payload = x->payload, .payload_len = strlen(x->payload)};
    lm_invoke_result r;
    lm_error e;
    int rc = lm_invoke(b.client, &p, &r, &e);
    pthread_mutex_lock(&done_mtx);
    x->r = r;
    x->e = e;
    x->rc = rc;
    pthread_mutex_unlock(&done_mtx);
    return NULL;
}

typedef struct waiting {
    burst *all;
    int n, want_throttled, want_running;
} waiting;

static int count_throttled(burst *all, int n)
{
    int k = 0;
    pthread_mutex_lock(&done_mtx);
    for (int i = 0; i < n; i++) {
        k += all[i].rc == LM_E_THROTTLED;
    }
    pthread_mutex_unlock(&done_mtx);
    return k;
}

/* Invocations running now, as status tells (Concurrency.Running counts
 * queued or running; Workers.Busy those on a worker). */
static int busy_workers(void)
{
    cJSON *s = lt_ok(&b, "status", "{}");
    int n = num(cJSON_GetObjectItemCaseSensitive(s, "Workers"), "Busy");
    cJSON_Delete(s);
    return n;
}

static bool burst_settled(void *arg)
{
    waiting *w = arg;
    return count_throttled(w->all, w->n) == w->want_throttled && busy_workers() == w->want_running;
}

/* Start n invokes of fn held at gate at once; wait until `running` run
 * and the rest were refused. */
static void burst_start(burst *all, int n, const char *fn, const char *gate, int running)
{
    for (int i = 0; i < n; i++) {
        all[i] = (burst){.fn = fn, .rc = -1};
        snprintf(all[i].payload, sizeof(all[i].payload), "{\"gate\":\"%s\"}", gate);
    }
    for (int i = 0; i < n; i++) {
        cr_assert_eq(pthread_create(&all[i].t, NULL, burst_one, &all[i]), 0);
    }
    waiting w = {.all = all, .n = n, .want_throttled = n - running, .want_running = running};
    cr_assert(lt_wait_until(burst_settled, &w, 30000),
              "%d of %d should run at once and the rest be throttled: %d throttled, %d busy",
              running, n, count_throttled(all, n), busy_workers());
}

/* Open the gate and collect: every invoke ran or was throttled with `reason`. */
static void burst_finish(burst *all, int n, const char *gate, const char *reason, int running)
{
    FILE *f = fopen(gate, "w");
    cr_assert_not_null(f);
    fclose(f);
    int ran = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(all[i].t, NULL);
        if (all[i].rc == LM_OK) {
            ran++;
            lm_invoke_result_finish(&all[i].r);
            continue;
        }
        cr_assert_eq(all[i].rc, LM_E_THROTTLED, "%s: %s", all[i].e.type, all[i].e.message);
        cr_expect_eq(all[i].e.status, 429);
        cr_expect_str_eq(all[i].e.type, "TooManyRequestsException");
        cr_expect_not_null(strstr(all[i].e.message, reason), "Reason %s in: %s", reason,
                           all[i].e.message);
    }
    cr_assert_eq(ran, running, "exactly %d ran", running);
    unlink(gate);
}

static void gate_path(char *out, size_t cap, const char *tag)
{
    snprintf(out, cap, "%s/gate-%s", b.state, tag);
}

/* ---- reserved concurrency ---- */

Test(concurrency, a_reservation_runs_exactly_n_of_a_burst_and_throttles_the_rest_with_the_reason)
{
    start("50", true);
    lt_create(&b, "g", "gate", NULL);
    cJSON *r = lt_ok(&b, "concurrency-put",
                     "{\"FunctionName\":\"g\","
                     "\"ReservedConcurrentExecutions\":3}");
    cr_assert_eq(num(r, "ReservedConcurrentExecutions"), 3);
    cJSON_Delete(r);
    char gate[400];
    gate_path(gate, sizeof(gate), "burst");
    burst all[5];
    burst_start(all, 5, "g", gate, 3);
    burst_finish(all, 5, gate, "Reason: ReservedFunctionConcurrentInvocationLimitExceeded", 3);

    /* the slots came back: a second burst gets the same three */
    gate_path(gate, sizeof(gate), "again");
    burst_start(all, 4, "g", gate, 3);
    burst_finish(all, 4, gate, "ReservedFunctionConcurrentInvocationLimitExceeded", 3);

    r = lt_ok(&b, "get", "{\"FunctionName\":\"g\"}");
    cr_assert_eq(
        num(cJSON_GetObjectItemCaseSensitive(r, "Concurrency"), "ReservedConcurrentExecutions"), 3,
        "get shows the reservation");
    cJSON_Delete(r);
}

Test(concurrency, reserved_zero_throttles_every_sync_invoke_until_deleted)
{
    start("50", false);
    lt_create(&b, "z", "echo", NULL);
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"z\","
                       "\"ReservedConcurrentExecutions\":0}"));
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "z", NULL, &r, &e), LM_E_THROTTLED);
    cr_expect_eq(e.status, 429);
    cr_expect_not_null(strstr(e.message, "ReservedFunctionConcurrentInvocationLimitExceeded"), "%s",
                       e.message);
    cJSON *g = lt_ok(&b, "concurrency-get", "{\"FunctionName\":\"z\"}");
    cr_assert_eq(num(g, "ReservedConcurrentExecutions"), 0);
    cJSON_Delete(g);
    cJSON_Delete(lt_ok(&b, "concurrency-delete", "{\"FunctionName\":\"z\"}"));
    g = lt_ok(&b, "concurrency-get", "{\"FunctionName\":\"z\"}");
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(g, "ReservedConcurrentExecutions"),
                   "unset after delete");
    cJSON_Delete(g);
    cr_assert_eq(lt_invoke(&b, "z", NULL, &r, &e), LM_OK, "%s", e.message);
    lm_invoke_result_finish(&r);
    expect_refused("concurrency-put",
                   "{\"FunctionName\":\"z\",\"ReservedConcurrentExecutions\":-1}",
                   LM_E_INVALID_PARAMETER, "ReservedConcurrentExecutions");
    expect_refused("concurrency-put",
                   "{\"FunctionName\":\"nope\",\"ReservedConcurrentExecutions\":1}", LM_E_NOT_FOUND,
                   "nope");
}

Test(concurrency, reserved_zero_sends_an_async_event_straight_to_on_failure_without_retries)
{
    const char *args[] = {"--test-clock", NULL};
    lt_broker_start(&b, args);
    lt_create(&b, "z", "record", NULL);
    lt_create(&b, "failures", "record", NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"dlq\"}"));
    cJSON_Delete(lt_ok(&b, "update-config",
                       "{\"FunctionName\":\"z\","
                       "\"DeadLetterConfig\":{\"TargetArn\":\"queue:dlq\"}}"));
    cJSON_Delete(lt_ok(&b, "event-config-put",
                       "{\"FunctionName\":\"z\",\"MaximumRetryAttempts\":2,"
                       "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"failures\"}}}"));
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"z\","
                       "\"ReservedConcurrentExecutions\":0}"));
    lm_invoke_params p = {
        .function = "z", .type = LM_INVOKE_EVENT, .payload = "{\"order\":7}", .payload_len = 11};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r.status, 202, "accepted, as Lambda does");
    char rid[40];
    snprintf(rid, sizeof(rid), "%s", r.request_id);
    lm_invoke_result_finish(&r);
    /* broker time never moves: only an event sent on at once gets there */
    lt_await_log(&b, "failures", "RetriesExhausted", 1);
    char *log = lt_function_log(&b, "failures");
    cr_assert_not_null(strstr(log, rid), "the record is of our event: %s", log);
    cr_assert_not_null(strstr(log, "\"approximateInvokeCount\":0"), "it never ran: %s", log);
    cr_assert_not_null(strstr(log, "\"order\":7"), "the original event: %s", log);
    free(log);
    log = lt_function_log(&b, "z");
    cr_assert_null(strstr(log, "START RequestId"), "z never ran: %s", log);
    free(log);
    /* and the dead-letter queue got the event itself, ErrorCode 429 */
    cJSON *m = lt_ok(&b, "queue-receive", "{\"QueueName\":\"dlq\",\"WaitTimeSeconds\":10}");
    const cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "Messages"), 0);
    cr_assert_not_null(msg, "a dead letter: %s", cJSON_PrintUnformatted(m));
    cr_assert_str_eq(str(msg, "Body"), "{\"order\":7}");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(msg, "MessageAttributes"), "ErrorCode");
    cr_assert_str_eq(str(code, "StringValue"), "429", "%s", cJSON_PrintUnformatted(msg));
    cJSON_Delete(m);
}

Test(concurrency, reservations_keep_the_unreserved_minimum_and_unreserved_functions_share_the_rest)
{
    start("20", true); /* min(100, 20 / 10) = 2 stay unreserved */
    lt_create(&b, "a", "echo", NULL);
    lt_create(&b, "bb", "echo", NULL);
    lt_create(&b, "free", "gate", NULL);
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"a\","
                       "\"ReservedConcurrentExecutions\":10}"));
    expect_refused("concurrency-put",
                   "{\"FunctionName\":\"bb\",\"ReservedConcurrentExecutions\":9}",
                   LM_E_INVALID_PARAMETER,
                   "decreases account's UnreservedConcurrentExecution below its minimum value of "
                   "[2]");
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"bb\","
                       "\"ReservedConcurrentExecutions\":8}"));
    /* a's own reservation may change within what it holds */
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"a\","
                       "\"ReservedConcurrentExecutions\":10}"));
    cJSON *c = status_concurrency();
    cr_assert_eq(num(c, "AccountLimit"), 20);
    cr_assert_eq(num(c, "UnreservedMinimum"), 2);
    cr_assert_eq(num(c, "Reserved"), 18);
    cr_assert_eq(num(c, "UnreservedConcurrentExecutions"), 2);
    cJSON_Delete(c);

    /* the unreserved function gets the 2 nobody reserved, not the account's 20 */
    char gate[400];
    gate_path(gate, sizeof(gate), "free");
    burst all[4];
    burst_start(all, 4, "free", gate, 2);
    burst_finish(all, 4, gate, "Reason: ConcurrentInvocationLimitExceeded", 2);

    /* freeing a reservation gives it back */
    cJSON_Delete(lt_ok(&b, "concurrency-delete", "{\"FunctionName\":\"bb\"}"));
    gate_path(gate, sizeof(gate), "more");
    burst_start(all, 4, "free", gate, 4);
    burst_finish(all, 4, gate, "-", 4);
}

/* ---- provisioned concurrency ---- */

static cJSON *provisioned_get(const char *fn, const char *qual)
{
    char args[200];
    snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\",\"Qualifier\":\"%s\"}", fn, qual);
    return lt_ok(&b, "provisioned-get", "%s", args);
}

typedef struct want_ready {
    const char *fn, *qual;
    int allocated;
    const char *status;
} want_ready;

static bool is_ready(void *arg)
{
    want_ready *w = arg;
    cJSON *p = provisioned_get(w->fn, w->qual);
    bool ok = num(p, "AllocatedProvisionedConcurrentExecutions") == w->allocated &&
              strcmp(str(p, "Status"), w->status) == 0;
    cJSON_Delete(p);
    return ok;
}

static void await_status(const char *fn, const char *qual, int allocated, const char *status)
{
    want_ready w = {fn, qual, allocated, status};
    if (!lt_wait_until(is_ready, &w, 30000)) {
        cJSON *p = provisioned_get(fn, qual);
        cr_assert_fail("%s:%s never reached %d %s: %s", fn, qual, allocated, status,
                       cJSON_PrintUnformatted(p));
    }
}

/* A counter function with version 1 and alias live -> 1. */
static void published(const char *fn, const char *handler)
{
    lt_create(&b, fn, handler, NULL);
    char args[200];
    snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\"}", fn);
    cJSON_Delete(lt_ok(&b, "publish", "%s", args));
    snprintf(args, sizeof(args),
             "{\"FunctionName\":\"%s\",\"Name\":\"live\",\"FunctionVersion\":\"1\"}", fn);
    cJSON_Delete(lt_ok(&b, "alias-create", "%s", args));
}

static void pids_of(const char *fn, const char *qual, long *pids, int *n)
{
    cJSON *p = provisioned_get(fn, qual);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "Pids"), *x;
    *n = 0;
    cJSON_ArrayForEach(x, a)
    {
        pids[(*n)++] = (long)x->valuedouble;
    }
    cJSON_Delete(p);
}

static int status_workers(void)
{
    cJSON *s = lt_ok(&b, "status", "{}");
    int n = num(cJSON_GetObjectItemCaseSensitive(s, "Workers"), "Total");
    cJSON_Delete(s);
    return n;
}

static bool one_worker_left_of_three(void *arg)
{
    (void)arg;
    return status_workers() == 2;
}

Test(concurrency, provisioned_environments_init_ahead_serve_without_init_duration_and_stay_warm)
{
    const char *args[] = {"--idle-timeout", "0.5", NULL};
    lt_broker_start(&b, args);
    published("p", "counter");
    expect_refused("provisioned-put",
                   "{\"FunctionName\":\"p\",\"Qualifier\":\"$LATEST\","
                   "\"ProvisionedConcurrentExecutions\":1}",
                   LM_E_INVALID_PARAMETER, "unpublished function versions");
    expect_refused("provisioned-put",
                   "{\"FunctionName\":\"p\",\"Qualifier\":\"9\","
                   "\"ProvisionedConcurrentExecutions\":1}",
                   LM_E_NOT_FOUND, "p:9");
    expect_refused("provisioned-get", "{\"FunctionName\":\"p\",\"Qualifier\":\"1\"}",
                   LM_E_PROVISIONED_NOT_FOUND, "No Provisioned Concurrency Config");
    cJSON *r = lt_ok(&b, "provisioned-put",
                     "{\"FunctionName\":\"p\",\"Qualifier\":\"live\","
                     "\"ProvisionedConcurrentExecutions\":2}");
    cr_assert_eq(num(r, "RequestedProvisionedConcurrentExecutions"), 2);
    cJSON_Delete(r);
    await_status("p", "live", 2, "READY"); /* allocated = initialised: LM_INIT has run */
    cr_assert_eq(status_workers(), 2, "nothing but the two started them");

    /* an invoke they serve: no Init Duration, LM_INIT ran once, before it */
    lm_invoke_params ip = {.function = "p", .qualifier = "live", .log_tail = 1};
    lm_invoke_result ir;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &ip, &ir, &e), LM_OK, "%s", e.message);
    cr_assert_eq(ir.init_duration_ms, 0, "served warm");
    cr_assert_not_null(strstr(ir.payload, "\"count\":1,\"inits\":1"), "%s", ir.payload);
    char *tail = lt_unbase64(ir.log_result, NULL);
    cr_assert_not_null(strstr(tail, "REPORT RequestId"), "%s", tail);
    cr_assert_null(strstr(tail, "Init Duration"), "no Init Duration: %s", tail);
    free(tail);
    lm_invoke_result_finish(&ir);
    /* the control: an on-demand environment ($LATEST) does report one */
    ip.qualifier = NULL;
    cr_assert_eq(lm_invoke(b.client, &ip, &ir, &e), LM_OK, "%s", e.message);
    tail = lt_unbase64(ir.log_result, NULL);
    cr_assert_not_null(strstr(tail, "Init Duration"), "a cold start has one: %s", tail);
    free(tail);
    lm_invoke_result_finish(&ir);

    /* the idle timeout reaps the on-demand one, never the provisioned */
    long before[8], after[8];
    int nb = 0, na = 0;
    pids_of("p", "live", before, &nb);
    cr_assert(lt_wait_until(one_worker_left_of_three, NULL, 20000), "the on-demand one goes");
    pids_of("p", "live", after, &na);
    cr_assert_eq(na, 2);
    cr_assert(memcmp(before, after, sizeof(long) * 2) == 0 ||
                  (before[0] == after[1] && before[1] == after[0]),
              "the same two environments");

    cJSON *s = status_concurrency();
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(s, "Provisioned");
    cr_assert_eq(cJSON_GetArraySize(list), 1);
    cr_assert_str_eq(str(cJSON_GetArrayItem(list, 0), "FunctionArn"), "function:p:live");
    cr_assert_str_eq(str(cJSON_GetArrayItem(list, 0), "Status"), "READY");
    cJSON_Delete(s);

    /* deleting it lets them go like any idle environment */
    cJSON_Delete(
        lt_ok(&b, "provisioned-delete", "{\"FunctionName\":\"p\",\"Qualifier\":\"live\"}"));
}

typedef struct replaced {
    long gone;
} replaced;

static bool killed_one_replaced(void *arg)
{
    replaced *x = arg;
    long pids[8];
    int n = 0;
    pids_of("p", "1", pids, &n);
    if (n != 2) {
        return false;
    }
    return pids[0] != x->gone && pids[1] != x->gone;
}

Test(concurrency, a_killed_provisioned_environment_is_replaced)
{
    lt_broker_start(&b, NULL);
    published("p", "counter");
    cJSON_Delete(lt_ok(&b, "provisioned-put",
                       "{\"FunctionName\":\"p\",\"Qualifier\":\"1\","
                       "\"ProvisionedConcurrentExecutions\":2}"));
    await_status("p", "1", 2, "READY");
    long pids[8];
    int n = 0;
    pids_of("p", "1", pids, &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(kill((pid_t)pids[0], SIGKILL), 0);
    replaced x = {.gone = pids[0]};
    cr_assert(lt_wait_until(killed_one_replaced, &x, 30000), "a new environment replaces %ld",
              pids[0]);
    await_status("p", "1", 2, "READY");
    /* the replacement was initialised ahead too */
    lm_invoke_params ip = {.function = "p", .qualifier = "1"};
    lm_invoke_result ir;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &ip, &ir, &e), LM_OK, "%s", e.message);
    cr_assert_eq(ir.init_duration_ms, 0);
    lm_invoke_result_finish(&ir);
}

typedef struct moved {
    long old_pid;
} moved;

static bool environment_moved(void *arg)
{
    moved *m = arg;
    long pids[8];
    int n = 0;
    pids_of("p", "live", pids, &n);
    return n == 1 && pids[0] != m->old_pid;
}

Test(concurrency, an_alias_pointed_at_another_version_takes_its_environments_along)
{
    lt_broker_start(&b, NULL);
    published("p", "counter");
    cJSON_Delete(lt_ok(&b, "provisioned-put",
                       "{\"FunctionName\":\"p\",\"Qualifier\":\"live\","
                       "\"ProvisionedConcurrentExecutions\":1}"));
    await_status("p", "live", 1, "READY");
    long pids[8];
    int n = 0;
    pids_of("p", "live", pids, &n);
    cJSON_Delete(lt_ok(&b, "update-config", "{\"FunctionName\":\"p\",\"Timeout\":9}"));
    cJSON_Delete(lt_ok(&b, "publish", "{\"FunctionName\":\"p\"}"));
    cJSON_Delete(lt_ok(&b, "alias-update",
                       "{\"FunctionName\":\"p\",\"Name\":\"live\","
                       "\"FunctionVersion\":\"2\"}"));
    moved m = {.old_pid = pids[0]};
    cr_assert(lt_wait_until(environment_moved, &m, 30000), "an environment of version 2");
    await_status("p", "live", 1, "READY");
    lm_invoke_params ip = {.function = "p", .qualifier = "live"};
    lm_invoke_result ir;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &ip, &ir, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(ir.executed_version, "2");
    cr_assert_eq(ir.init_duration_ms, 0, "served by the provisioned environment");
    lm_invoke_result_finish(&ir);
}

Test(concurrency, a_provisioned_environment_that_fails_init_is_FAILED_with_a_reason)
{
    lt_broker_start(&b, NULL);
    published("bad", "initfail");
    cJSON_Delete(lt_ok(&b, "provisioned-put",
                       "{\"FunctionName\":\"bad\",\"Qualifier\":\"1\","
                       "\"ProvisionedConcurrentExecutions\":1}"));
    await_status("bad", "1", 0, "FAILED");
    cJSON *p = provisioned_get("bad", "1");
    cr_assert_not_null(strstr(str(p, "StatusReason"), "FUNCTION_ERROR_INIT_FAILURE"), "%s",
                       str(p, "StatusReason"));
    cJSON_Delete(p);
}

Test(concurrency, provisioned_fits_inside_the_reservation_and_the_unreserved_minimum)
{
    start("20", false);
    published("p", "counter");
    published("q", "counter");
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"p\","
                       "\"ReservedConcurrentExecutions\":1}"));
    expect_refused("provisioned-put",
                   "{\"FunctionName\":\"p\",\"Qualifier\":\"1\","
                   "\"ProvisionedConcurrentExecutions\":2}",
                   LM_E_INVALID_PARAMETER,
                   "should not be greater than the "
                   "reservedConcurrentExecution");
    /* an unreserved function's provisioned comes out of the unreserved pool */
    expect_refused("provisioned-put",
                   "{\"FunctionName\":\"q\",\"Qualifier\":\"1\","
                   "\"ProvisionedConcurrentExecutions\":18}",
                   LM_E_INVALID_PARAMETER, "below its minimum value of [2]");
    cJSON_Delete(lt_ok(&b, "provisioned-put",
                       "{\"FunctionName\":\"q\",\"Qualifier\":\"1\","
                       "\"ProvisionedConcurrentExecutions\":1}"));
    cJSON *l = lt_ok(&b, "provisioned-list", "{\"FunctionName\":\"q\"}");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(l, "ProvisionedConcurrencyConfigs");
    cr_assert_eq(cJSON_GetArraySize(a), 1);
    cr_assert_str_eq(str(cJSON_GetArrayItem(a, 0), "FunctionArn"), "function:q:1");
    cJSON_Delete(l);
}

/* ---- durability ---- */

Test(concurrency, settings_survive_a_restart_and_provisioned_environments_come_back)
{
    lt_broker_start(&b, NULL);
    published("p", "counter");
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"p\","
                       "\"ReservedConcurrentExecutions\":5}"));
    cJSON_Delete(lt_ok(&b, "provisioned-put",
                       "{\"FunctionName\":\"p\",\"Qualifier\":\"live\","
                       "\"ProvisionedConcurrentExecutions\":1}"));
    await_status("p", "live", 1, "READY");
    /* replacing $LATEST's row must not drop the function's settings */
    cJSON_Delete(lt_ok(&b, "update-config", "{\"FunctionName\":\"p\",\"Timeout\":7}"));
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, NULL);
    cJSON *g = lt_ok(&b, "concurrency-get", "{\"FunctionName\":\"p\"}");
    cr_assert_eq(num(g, "ReservedConcurrentExecutions"), 5);
    cJSON_Delete(g);
    await_status("p", "live", 1, "READY");
    /* the alias's config goes with the alias */
    cJSON_Delete(lt_ok(&b, "alias-delete", "{\"FunctionName\":\"p\",\"Name\":\"live\"}"));
    expect_refused("provisioned-get", "{\"FunctionName\":\"p\",\"Qualifier\":\"live\"}",
                   LM_E_PROVISIONED_NOT_FOUND, "No Provisioned");
    /* and a version's with the version */
    cJSON_Delete(lt_ok(&b, "provisioned-put",
                       "{\"FunctionName\":\"p\",\"Qualifier\":\"1\","
                       "\"ProvisionedConcurrentExecutions\":1}"));
    await_status("p", "1", 1, "READY");
    cJSON_Delete(lt_ok(&b, "delete", "{\"FunctionName\":\"p\",\"Qualifier\":\"1\"}"));
    expect_refused("provisioned-get", "{\"FunctionName\":\"p\",\"Qualifier\":\"1\"}",
                   LM_E_PROVISIONED_NOT_FOUND, "No Provisioned");
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, NULL);
    expect_refused("provisioned-get", "{\"FunctionName\":\"p\",\"Qualifier\":\"live\"}",
                   LM_E_PROVISIONED_NOT_FOUND, "No Provisioned");
    expect_refused("provisioned-get", "{\"FunctionName\":\"p\",\"Qualifier\":\"1\"}",
                   LM_E_PROVISIONED_NOT_FOUND, "No Provisioned");
    g = lt_ok(&b, "concurrency-get", "{\"FunctionName\":\"p\"}");
    cr_assert_eq(num(g, "ReservedConcurrentExecutions"), 5, "the function's own setting stays");
    cJSON_Delete(g);
    /* the function's go with the function */
    cJSON_Delete(lt_ok(&b, "delete", "{\"FunctionName\":\"p\"}"));
    lt_create(&b, "p", "counter", NULL);
    g = lt_ok(&b, "concurrency-get", "{\"FunctionName\":\"p\"}");
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(g, "ReservedConcurrentExecutions"));
    cJSON_Delete(g);
    cJSON *c = status_concurrency();
    cr_assert_eq(num(c, "Reserved"), 0, "the reservation went with the function");
    cJSON_Delete(c);
}

Test(concurrency, a_schema_2_store_upgrades_and_keeps_a_reservation)
{
    char state[300], db[400];
    lt_old_store(LT_SCHEMA2_TABLES "INSERT INTO meta(key, value) VALUES('schema', '2');", state,
                 sizeof(state), db, sizeof(db));
    lt_broker_start_in(&b, state, NULL);
    lt_create(&b, "f", "echo", NULL);
    cJSON_Delete(lt_ok(&b, "concurrency-put",
                       "{\"FunctionName\":\"f\","
                       "\"ReservedConcurrentExecutions\":0}"));
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "f", NULL, &r, &e), LM_E_THROTTLED, "still reserved at 0");
}

/* ---- the CLI ---- */

Test(concurrency, the_cli_puts_gets_and_deletes_both)
{
    lt_broker_start(&b, NULL);
    published("p", "counter");
    const char *cli = getenv("LAMINA_CLI_BIN");
    char *out = NULL, *err = NULL;
    const char *put[] = {cli, "concurrency", "put", "p", "4", NULL};
    cr_assert_eq(lt_run(&b, put, &out, &err), 0, "%s%s", out, err);
    cr_assert_not_null(strstr(out, "ReservedConcurrentExecutions"), "%s", out);
    free(out);
    free(err);
    const char *get[] = {cli, "-o", "json", "concurrency", "get", "p", NULL};
    cr_assert_eq(lt_run(&b, get, &out, &err), 0, "%s%s", out, err);
    cr_assert_not_null(strstr(out, "\"ReservedConcurrentExecutions\":\t4"), "%s", out);
    free(out);
    free(err);
    const char *prov[] = {cli, "provisioned", "put", "p:live", "1", NULL};
    cr_assert_eq(lt_run(&b, prov, &out, &err), 0, "%s%s", out, err);
    free(out);
    free(err);
    await_status("p", "live", 1, "READY");
    const char *pget[] = {cli, "provisioned", "get", "p:live", NULL};
    cr_assert_eq(lt_run(&b, pget, &out, &err), 0, "%s%s", out, err);
    cr_assert_not_null(strstr(out, "READY"), "%s", out);
    free(out);
    free(err);
    const char *latest[] = {cli, "provisioned", "put", "p:$LATEST", "1", NULL};
    cr_assert_neq(lt_run(&b, latest, &out, &err), 0, "refused");
    cr_assert_not_null(strstr(err, "unpublished"), "%s", err);
    free(out);
    free(err);
    const char *del[] = {cli, "concurrency", "delete", "p", NULL};
    cr_assert_eq(lt_run(&b, del, &out, &err), 0, "%s%s", out, err);
    free(out);
    free(err);
}
