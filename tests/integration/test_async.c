/*
 * Integration: asynchronous invoke (InvocationType Event) against a real
 * broker and real runtimes — the 202, the durable queue, retries, on-success
 * and on-failure destinations, kill -9, typed errors, event invoke configs.
 *
 * Effects are observed in the functions' logs (<state>/logs/NAME.log): the
 * `record` handler writes "EVENT <json>" for every event it gets, and the
 * sandbox lets handlers write nowhere else.  The broker runs with
 * --test-clock: Lambda's real retry delays (1 min, 2 min; 1 s .. 5 min when
 * throttled) and event ages are counted in broker time, which the tests move
 * forward with clock-advance.  That a retry is not made early is shown from
 * the store (the event's row: its runs and when it is next due, in broker
 * time) after settle() has let the queue look at the current broker time.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "harness.h"
#include "old_stores.h"

static lt_broker b;
static int64_t offset; /* how far this test moved broker time (the broker keeps it too) */

static void up(void)
{
    lt_broker_start(&b, lt_test_clock);
}
static void down(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(async, .init = up, .fini = down, .timeout = 90);

/* ---- helpers ---- */

static int invoke_event(const char *fn, const char *payload, size_t len, lm_invoke_result *r,
                        lm_error *e)
{
    lm_invoke_params p = {
        .function = fn, .type = LM_INVOKE_EVENT, .payload = payload, .payload_len = len};
    return lm_invoke(b.client, &p, r, e);
}

/* Invoke as an Event, assert the 202, return the request id. */
static void accept_event(const char *fn, const char *payload, char rid[40])
{
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(invoke_event(fn, payload, strlen(payload), &r, &e), LM_OK, "%s: %s", e.type,
                 e.message);
    cr_assert_eq(r.status, 202);
    cr_assert_eq(strlen(r.request_id), 36, "request id is a UUID: %s", r.request_id);
    cr_assert_eq(r.payload_len, 0, "a 202 has an empty payload");
    snprintf(rid, 40, "%s", r.request_id);
    lm_invoke_result_finish(&r);
}

static void put_config(const char *args)
{
    lm_error e;
    char *reply = NULL;
    cr_assert_eq(lm_call(b.client, "event-config-put", args, NULL, 0, &reply, &e), LM_OK, "%s",
                 e.message);
    free(reply);
}

/* The JSON of the n-th (0-based) "EVENT " line of fn's log. */
static cJSON *logged_event(const char *fn, int n)
{
    char *s = lt_function_log(&b, fn);
    const char *p = s;
    for (int i = 0; i <= n; i++) {
        p = strstr(p, "EVENT ");
        cr_assert_not_null(p, "%s.log has fewer than %d events", fn, n + 1);
        p += 6;
    }
    const char *end = strchr(p, '\n');
    cJSON *j = cJSON_ParseWithLength(p, end != NULL ? (size_t)(end - p) : strlen(p));
    cr_assert_not_null(j, "logged event is not JSON: %.200s", p);
    free(s);
    return j;
}

static const char *str_at(const cJSON *o, const char *a, const char *k)
{
    const cJSON *x = a != NULL ? cJSON_GetObjectItemCaseSensitive(o, a) : o;
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, k));
    return s != NULL ? s : "(missing)";
}

/* A number in status: section.key. */
static int64_t status_count(const char *section, const char *key)
{
    lm_error e;
    char *reply = NULL;
    cr_assert_eq(lm_call(b.client, "status", NULL, NULL, 0, &reply, &e), LM_OK);
    cJSON *j = cJSON_Parse(reply);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, section);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(q, key);
    cr_assert(cJSON_IsNumber(d), "status has %s.%s: %s", section, key, reply);
    int64_t n = (int64_t)d->valuedouble;
    cJSON_Delete(j);
    free(reply);
    return n;
}

static int64_t status_depth(void)
{
    return status_count("AsyncQueue", "Depth");
}

static bool queue_empty(void *arg)
{
    (void)arg;
    return status_depth() == 0;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The broker's time: real time plus what the test advanced. */
static int64_t broker_ms(void)
{
    return real_ms() + offset;
}

static void advance(int64_t ms)
{
    lt_clock_advance(&b, ms);
    offset += ms;
}

/* Advance broker time to t (nothing when it is there already). */
static void advance_to(int64_t t)
{
    int64_t d = t - broker_ms();
    if (d > 0) {
        advance(d);
    }
}

/* The stored event with request id rid: runs that ended in a function
 * error (invokes), enqueued_at and next_at (broker time).  False when it
 * is no longer stored. */
typedef struct stored_event {
    int invokes, throttles; /* runs that failed; runs refused (throttled) */
    int64_t enqueued_at, next_at;
} stored_event;

static bool load_event(const char *rid, stored_event *ev)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/lamina.db", b.state);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    cr_assert_eq(
        sqlite3_prepare_v2(db,
                           "SELECT invokes, enqueued_at, next_at, throttles FROM async_events"
                           " WHERE request_id=?1",
                           -1, &st, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        ev->invokes = sqlite3_column_int(st, 0);
        ev->enqueued_at = sqlite3_column_int64(st, 1);
        ev->next_at = sqlite3_column_int64(st, 2);
        ev->throttles = sqlite3_column_int(st, 3);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

typedef struct runs_wait {
    const char *rid;
    int invokes;
    stored_event ev;
} runs_wait;

static bool has_runs(void *arg)
{
    runs_wait *w = arg;
    return load_event(w->rid, &w->ev) && w->ev.invokes >= w->invokes;
}

/* Wait until event rid is stored with `invokes` failed runs recorded (the
 * outcome committed, the retry scheduled); its row goes to *ev. */
static void await_runs(const char *rid, int invokes, stored_event *ev)
{
    runs_wait w = {rid, invokes, {0}};
    cr_assert(lt_wait_until(has_runs, &w, 30000), "event %s never had %d failed run(s)", rid,
              invokes);
    *ev = w.ev;
}

/* event-wait's reply, or NULL with *rc and *e set on an error. */
static cJSON *event_wait(const char *args, int *rc, lm_error *e)
{
    char *reply = NULL;
    *rc = lm_call(b.client, "event-wait", args, NULL, 0, &reply, e);
    cJSON *j = *rc == LM_OK ? cJSON_Parse(reply) : NULL;
    cr_assert(*rc != LM_OK || j != NULL, "reply is JSON: %s", reply);
    free(reply);
    return j;
}

static cJSON *wait_for(const char *rid, int timeout_ms)
{
    char args[160];
    int rc;
    lm_error e;
    snprintf(args, sizeof(args), "{\"RequestId\":\"%s\",\"TimeoutMs\":%d}", rid, timeout_ms);
    cJSON *j = event_wait(args, &rc, &e);
    cr_assert_eq(rc, LM_OK, "event-wait %s: %s: %s", rid, e.type, e.message);
    return j;
}

static bool nothing_running(void *arg)
{
    (void)arg;
    return status_count("AsyncQueue", "Running") == 0;
}

/* Let the queue look at the current broker time: an event to "probe"
 * (created on first use) is accepted, has run, and then nothing is
 * running.  Due events start in next_at order, so one that was due when
 * the probe was accepted has started no later than the probe, and Running
 * is 0 only once its run has ended and been recorded: after settle(), the
 * store shows every retry that was due. */
static void settle(void)
{
    static bool made;
    if (!made) {
        lt_create(&b, "probe", "record", NULL);
        made = true;
    }
    char rid[40];
    accept_event("probe", "{\"probe\":true}", rid);
    cJSON *j = wait_for(rid, 30000);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "Status")), "Done");
    cJSON_Delete(j);
    cr_assert(lt_wait_until(nothing_running, NULL, 30000), "the queue has nothing running");
}

/* Event rid has had `runs` failed runs, the last one planned no earlier
 * than `since` (broker time): its retry is due `delay` ms after that run
 * (next_at, checked against the window the run could have ended in), it is
 * not made 10 s before then, and broker time is left where it is due.
 * Returns when it is due. */
static int64_t expect_retry(const char *rid, int runs, int64_t since, int64_t delay)
{
    stored_event ev, later = {0};
    await_runs(rid, runs, &ev);
    int64_t seen = broker_ms();
    cr_assert_eq(ev.invokes, runs);
    cr_assert(ev.next_at >= since + delay && ev.next_at <= seen + delay,
              "after run %d the retry is due %lld ms later: next_at %lld not in [%lld, %lld]", runs,
              (long long)delay, (long long)ev.next_at, (long long)(since + delay),
              (long long)(seen + delay));
    advance_to(ev.next_at - 10000);
    settle();
    cr_assert(load_event(rid, &later) && later.invokes == runs,
              "no retry 10 s before it is due (stored: %d, %d run(s))", load_event(rid, &later),
              later.invokes);
    advance_to(ev.next_at);
    return ev.next_at;
}

Test(async, event_is_accepted_with_202_and_a_request_id_then_runs)
{
    lt_create(&b, "rec", "record", NULL);
    char rid[40], start[80];
    accept_event("rec", "{\"n\":1}", rid);
    lt_await_log(&b, "rec", "EVENT {\"n\":1}", 1);
    snprintf(start, sizeof(start), "START RequestId: %s", rid);
    lt_await_log(&b, "rec", start, 1);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000), "the finished event leaves the queue");
}

Test(async, failing_function_is_retried_max_attempts_then_goes_to_on_failure)
{
    lt_create(&b, "flaky", "record", NULL);
    lt_create(&b, "failures", "record", NULL);
    put_config("{\"FunctionName\":\"flaky\",\"MaximumRetryAttempts\":1,"
               "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":"
               "\"arn:aws:lambda:us-east-1:123456789012:function:failures\"}}}");
    char rid[40], start[80];
    accept_event("flaky", "{\"fail\":true,\"order\":\"o-17\"}", rid);
    stored_event ev;
    await_runs(rid, 1, &ev);
    expect_retry(rid, 1, ev.enqueued_at, 60000); /* the second run: 1 min after the first */
    lt_await_log(&b, "failures", "RetriesExhausted", 1);
    snprintf(start, sizeof(start), "START RequestId: %s", rid);
    char *log = lt_function_log(&b, "flaky");
    cr_assert_eq(lt_count(log, start), 2, "one run and exactly one retry, same request id:\n%s",
                 log);
    free(log);
    cJSON *rec = logged_event("failures", 0);
    cr_assert_str_eq(str_at(rec, NULL, "version"), "1.0");
    cr_assert_str_eq(str_at(rec, "requestContext", "condition"), "RetriesExhausted");
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), rid);
    cr_assert_str_eq(str_at(rec, "requestContext", "functionArn"), "function:flaky:$LATEST");
    const cJSON *rc = cJSON_GetObjectItem(rec, "requestContext");
    cr_assert_eq(cJSON_GetObjectItem(rc, "approximateInvokeCount")->valueint, 2);
    cr_assert_str_eq(str_at(rec, "requestPayload", "order"), "o-17", "the original event");
    cr_assert_str_eq(str_at(rec, "responseContext", "functionError"), "Handled");
    cr_assert_str_eq(str_at(rec, "responseContext", "executedVersion"), "$LATEST");
    cr_assert_str_eq(str_at(rec, "responsePayload", "errorType"), "AsyncFailure");
    cJSON_Delete(rec);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
}

Test(async, default_config_retries_twice)
{
    lt_create(&b, "flaky", "record", NULL);
    lt_create(&b, "failures", "record", NULL);
    put_config("{\"FunctionName\":\"flaky\","
               "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"failures\"}}}");
    char rid[40], start[80];
    accept_event("flaky", "{\"fail\":true}", rid);
    stored_event ev;
    await_runs(rid, 1, &ev);
    int64_t due = expect_retry(rid, 1, ev.enqueued_at, 60000); /* 1 min, then 2 min */
    expect_retry(rid, 2, due, 120000);
    lt_await_log(&b, "failures", "RetriesExhausted", 1);
    snprintf(start, sizeof(start), "START RequestId: %s", rid);
    char *log = lt_function_log(&b, "flaky");
    cr_assert_eq(lt_count(log, start), 3, "MaximumRetryAttempts defaults to 2:\n%s", log);
    free(log);
}

Test(async, zero_retries_runs_once_and_discards_without_destination)
{
    lt_create(&b, "once", "record", NULL);
    put_config("{\"FunctionName\":\"once\",\"MaximumRetryAttempts\":0}");
    char rid[40], start[80];
    accept_event("once", "{\"fail\":true}", rid);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000), "the event is discarded");
    snprintf(start, sizeof(start), "START RequestId: %s", rid);
    lt_await_log(&b, "once", start, 1);
    char *log = lt_function_log(&b, "once");
    cr_assert_eq(lt_count(log, start), 1, "no retry:\n%s", log);
    free(log);
}

Test(async, success_goes_to_on_success_destination)
{
    lt_create(&b, "good", "record", NULL);
    lt_create(&b, "successes", "record", NULL);
    put_config("{\"FunctionName\":\"good\","
               "\"DestinationConfig\":{\"OnSuccess\":{\"Destination\":\"function:successes\"}}}");
    char rid[40];
    accept_event("good", "{\"item\":\"x9\"}", rid);
    lt_await_log(&b, "successes", "\"condition\":\"Success\"", 1);
    cJSON *rec = logged_event("successes", 0);
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), rid);
    const cJSON *rc = cJSON_GetObjectItem(rec, "requestContext");
    cr_assert_eq(cJSON_GetObjectItem(rc, "approximateInvokeCount")->valueint, 1);
    cr_assert_str_eq(str_at(rec, "requestPayload", "item"), "x9");
    const cJSON *resp = cJSON_GetObjectItem(rec, "responseContext");
    cr_assert_eq(cJSON_GetObjectItem(resp, "statusCode")->valueint, 200);
    cr_assert_null(cJSON_GetObjectItem(resp, "functionError"), "no functionError on success");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "responsePayload"), "ok")));
    cJSON_Delete(rec);
}

Test(async, a_retry_later_than_the_event_age_limit_sends_event_age_exceeded)
{
    /* the first retry would be 60 s after the first run, which is past a
     * 60 s MaximumEventAgeInSeconds, so the event ends at once */
    lt_create(&b, "stale", "record", NULL);
    lt_create(&b, "failures", "record", NULL);
    put_config("{\"FunctionName\":\"stale\",\"MaximumEventAgeInSeconds\":60,"
               "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"failures\"}}}");
    char rid[40];
    accept_event("stale", "{\"fail\":true,\"n\":5}", rid);
    lt_await_log(&b, "failures", "EventAgeExceeded", 1);
    cJSON *rec = logged_event("failures", 0);
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), rid);
    const cJSON *rc = cJSON_GetObjectItem(rec, "requestContext");
    cr_assert_eq(cJSON_GetObjectItem(rc, "approximateInvokeCount")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "requestPayload"), "n")->valueint, 5);
    cJSON_Delete(rec);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
}

Test(async, event_age_is_counted_in_broker_time)
{
    /* a retry due 1 min after the first run, inside a 2 min age; when
     * broker time is past the age at the retry, it is not run */
    lt_create(&b, "aging", "record", NULL);
    lt_create(&b, "failures", "record", NULL);
    put_config("{\"FunctionName\":\"aging\",\"MaximumEventAgeInSeconds\":120,"
               "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"failures\"}}}");
    char rid[40], start[80];
    accept_event("aging", "{\"fail\":true,\"n\":6}", rid);
    stored_event ev;
    await_runs(rid, 1, &ev);
    cr_assert_lt(ev.next_at, ev.enqueued_at + 120000, "the retry is within the age");
    advance_to(ev.enqueued_at + 120001);
    lt_await_log(&b, "failures", "EventAgeExceeded", 1);
    cJSON *rec = logged_event("failures", 0);
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), rid);
    const cJSON *rc = cJSON_GetObjectItem(rec, "requestContext");
    cr_assert_eq(cJSON_GetObjectItem(rc, "approximateInvokeCount")->valueint, 1, "no second run");
    cJSON_Delete(rec);
    snprintf(start, sizeof(start), "START RequestId: %s", rid);
    char *log = lt_function_log(&b, "aging");
    cr_assert_eq(lt_count(log, start), 1, "the old event did not run again:\n%s", log);
    free(log);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
}

typedef struct blocker {
    const char *state;
    const char *payload; /* for sleepy */
} blocker;

/* Occupies the only execution slot until the broker dies. */
static void *block_slot(void *arg)
{
    blocker *bl = arg;
    lm_client *c = NULL;
    lm_error e;
    if (lm_client_open(&c, bl->state, NULL, &e) != LM_OK) {
        return NULL;
    }
    lm_client_set_timeout(c, 20000);
    lm_invoke_params p = {
        .function = "sleepy", .payload = bl->payload, .payload_len = strlen(bl->payload)};
    lm_invoke_result r;
    if (lm_invoke(c, &p, &r, &e) == LM_OK) {
        lm_invoke_result_finish(&r);
    }
    lm_client_destroy(c);
    return NULL;
}

static bool one_busy(void *arg)
{
    (void)arg;
    lm_error e;
    char *reply = NULL;
    if (lm_call(b.client, "status", NULL, NULL, 0, &reply, &e) != LM_OK) {
        return false;
    }
    bool busy = strstr(reply, "\"Busy\":1") != NULL;
    free(reply);
    return busy;
}

Test(async, stored_event_runs_after_kill_9)
{
    lt_broker_stop(&b, false);
    const char *const one_slot[] = {"--max-concurrency", "1", "--test-clock", NULL};
    lt_broker_start(&b, one_slot);
    lt_create(&b, "sleepy", "sleep", "\"Timeout\":60");
    lt_create(&b, "rec", "record", NULL);
    blocker bl = {b.state, "{\"ms\":20000}"};
    pthread_t thr;
    cr_assert_eq(pthread_create(&thr, NULL, block_slot, &bl), 0);
    cr_assert(lt_wait_until(one_busy, NULL, 15000), "the sync invoke holds the only slot");
    char rid[40];
    accept_event("rec", "{\"k\":\"survivor\"}", rid);
    char *log = lt_function_log(&b, "rec");
    cr_assert_eq(lt_count(log, "survivor"), 0, "it cannot have run: the slot is taken");
    free(log);
    lt_broker_kill(&b);
    pthread_join(thr, NULL);
    lt_broker_start_in(&b, b.state, lt_test_clock);
    advance(300000); /* past any throttle delay it was given before the kill */
    lt_await_log(&b, "rec", "EVENT {\"k\":\"survivor\"}", 1);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
}

static bool refused(void *rid)
{
    stored_event ev;
    return load_event(rid, &ev) && ev.throttles > 0;
}

Test(async, throttled_event_waits_for_a_slot_without_using_its_retries)
{
    lt_broker_stop(&b, false);
    const char *const one_slot[] = {"--max-concurrency", "1", "--test-clock", NULL};
    lt_broker_start(&b, one_slot);
    lt_create(&b, "sleepy", "sleep", "\"Timeout\":60");
    lt_create(&b, "rec", "record", NULL);
    put_config("{\"FunctionName\":\"rec\",\"MaximumRetryAttempts\":0}");
    blocker bl = {b.state, "{\"ms\":1500}"};
    pthread_t thr;
    cr_assert_eq(pthread_create(&thr, NULL, block_slot, &bl), 0);
    cr_assert(lt_wait_until(one_busy, NULL, 15000), "the sync invoke holds the only slot");
    char rid[40];
    accept_event("rec", "{\"k\":\"patient\"}", rid);
    char *log = lt_function_log(&b, "rec");
    cr_assert_eq(lt_count(log, "patient"), 0, "it cannot run while the slot is taken");
    free(log);
    stored_event ev;
    cr_assert(lt_wait_until(refused, rid, 15000), "the event was refused while the slot is taken");
    cr_assert(load_event(rid, &ev));
    cr_assert_eq(ev.invokes, 0, "a refusal is not a run: no retry used");
    pthread_join(thr, NULL);
    advance(300000); /* the longest throttle delay */
    lt_await_log(&b, "rec", "EVENT {\"k\":\"patient\"}", 1);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
}

Test(async, bad_requests_get_typed_errors_and_nothing_is_queued)
{
    lt_create(&b, "rec", "record", NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(invoke_event("nosuch", "{}", 2, &r, &e), LM_E_NOT_FOUND);
    cr_assert_str_eq(e.type, "ResourceNotFoundException");
    cr_assert_eq(invoke_event("rec", "{nope", 5, &r, &e), LM_E_INVALID_CONTENT);
    cr_assert_eq(e.status, 400);
    size_t big = 1048576 + 100;
    char *p = malloc(big + 1);
    memset(p, ' ', big);
    p[0] = '[';
    p[big - 1] = ']';
    p[big] = '\0';
    cr_assert_eq(invoke_event("rec", p, big, &r, &e), LM_E_TOO_LARGE);
    cr_assert_eq(e.status, 413);
    cr_assert_str_eq(e.message,
                     "1048676 byte payload is too large for the Event invocation type (limit "
                     "1048576 bytes)");
    cr_assert_eq(status_depth(), 0, "nothing was queued");
    /* exactly at the limit is accepted */
    p[1048576 - 1] = ']';
    cr_assert_eq(invoke_event("rec", p, 1048576, &r, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r.status, 202);
    lm_invoke_result_finish(&r);
    free(p);
    cr_assert(lt_wait_until(queue_empty, NULL, 20000));
}

Test(async, event_invoke_config_is_validated_stored_and_deleted)
{
    lt_create(&b, "cfg", "record", NULL);
    lm_error e;
    char *reply = NULL;
    const char *bad[] = {
        "{\"FunctionName\":\"cfg\",\"MaximumRetryAttempts\":3}",
        "{\"FunctionName\":\"cfg\",\"MaximumEventAgeInSeconds\":59}",
        "{\"FunctionName\":\"cfg\",\"MaximumEventAgeInSeconds\":21601}",
        /* queues and topics are destinations since issue 12; malformed ones are not */
        "{\"FunctionName\":\"cfg\",\"DestinationConfig\":{\"OnFailure\":{\"Destination\":"
        "\"arn:aws:sqs:us-east-1:123456789012:bad name\"}}}",
        "{\"FunctionName\":\"cfg\",\"DestinationConfig\":{\"OnFailure\":{\"Destination\":"
        "\"topic:\"}}}",
        "{\"FunctionName\":\"cfg:1\"}",
        "{\"FunctionName\":\"cfg\",\"MaximumRetryAttempts\":\"two\"}",
        "{\"FunctionName\":\"cfg\",\"DestinationConfig\":\"rec\"}",
        "{\"FunctionName\":\"cfg\",\"DestinationConfig\":{\"OnSuccess\":7}}",
        "{\"FunctionName\":\"cfg\",\"DestinationConfig\":{\"OnSuccess\":{\"Destination\":[]}}}",
        "{\"FunctionName\":\"cfg\",\"DestinationConfig\":{\"OnSuccess\":{\"Destination\":"
        "\"no spaces allowed\"}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(lm_call(b.client, "event-config-put", bad[i], NULL, 0, &reply, &e),
                     LM_E_INVALID_PARAMETER, "%s", bad[i]);
    }
    cr_assert_eq(
        lm_call(b.client, "event-config-put", "{\"FunctionName\":\"ghost\"}", NULL, 0, &reply, &e),
        LM_E_NOT_FOUND);
    cr_assert_eq(
        lm_call(b.client, "event-config-get", "{\"FunctionName\":\"cfg\"}", NULL, 0, &reply, &e),
        LM_E_NOT_FOUND, "no config yet");
    put_config("{\"FunctionName\":\"cfg\",\"MaximumRetryAttempts\":0,"
               "\"MaximumEventAgeInSeconds\":60,"
               "\"DestinationConfig\":{\"OnSuccess\":{\"Destination\":\"rec\"}}}");
    cr_assert_eq(
        lm_call(b.client, "event-config-get", "{\"FunctionName\":\"cfg\"}", NULL, 0, &reply, &e),
        LM_OK);
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    cr_assert_eq(cJSON_GetObjectItem(j, "MaximumRetryAttempts")->valueint, 0);
    cr_assert_eq(cJSON_GetObjectItem(j, "MaximumEventAgeInSeconds")->valueint, 60);
    cr_assert_str_eq(
        str_at(cJSON_GetObjectItem(j, "DestinationConfig"), "OnSuccess", "Destination"), "rec");
    cr_assert_str_eq(str_at(j, NULL, "FunctionArn"), "function:cfg:$LATEST");
    cJSON_Delete(j);
    cr_assert_eq(
        lm_call(b.client, "event-config-delete", "{\"FunctionName\":\"cfg\"}", NULL, 0, &reply, &e),
        LM_OK);
    free(reply);
    cr_assert_eq(
        lm_call(b.client, "event-config-get", "{\"FunctionName\":\"cfg\"}", NULL, 0, &reply, &e),
        LM_E_NOT_FOUND);
}

Test(async, cli_invoke_async_prints_the_request_id_and_status_shows_the_queue)
{
    lt_create(&b, "rec", "record", NULL);
    const char *cli = getenv("LAMINA_CLI_BIN");
    const char *inv[] = {cli, "invoke", "rec", "--async", "{\"via\":\"cli\"}", NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(lt_run(&b, inv, &out, &err), 0, "%s", err);
    cr_assert_eq(strlen(out), 37, "one request id line: %s", out);
    char start[80];
    snprintf(start, sizeof(start), "START RequestId: %.36s", out);
    free(out);
    free(err);
    lt_await_log(&b, "rec", start, 1);
    const char *st[] = {cli, "status", NULL};
    cr_assert_eq(lt_run(&b, st, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "AsyncQueue") != NULL, "%s", out);
    free(out);
    free(err);
    const char *put[] = {cli, "event-config", "put", "rec", "--max-retries",
                         "1", "--on-failure", "rec", NULL};
    cr_assert_eq(lt_run(&b, put, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "MaximumRetryAttempts       1") != NULL, "%s", out);
    free(out);
    free(err);
}

/* ---- event-wait ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

Test(async, event_wait_answers_once_the_event_and_its_destination_ran)
{
    lt_create(&b, "src", "record", NULL);
    lt_create(&b, "dst", "record", NULL);
    put_config("{\"FunctionName\":\"src\",\"DestinationConfig\":{\"OnSuccess\":"
               "{\"Destination\":\"dst\"}}}");
    char rid[40], line[80];
    accept_event("src", "{\"n\":7}", rid);
    cJSON *j = wait_for(rid, 30000);
    cr_assert_str_eq(str_at(j, NULL, "RequestId"), rid);
    cr_assert_str_eq(str_at(j, NULL, "Status"), "Done");
    cr_assert_str_eq(str_at(j, NULL, "Condition"), "Success");
    cr_assert_null(cJSON_GetObjectItem(j, "FunctionError"));
    cr_assert_str_eq(str_at(j, "Destination", "Status"), "Done");
    cr_assert_str_eq(str_at(j, "Destination", "Condition"), "Success");
    /* The destination's run is the one named: its log has that request id,
     * and the record it got reports on our event. */
    char drid[40];
    snprintf(drid, sizeof(drid), "%s", str_at(j, "Destination", "RequestId"));
    cr_assert_eq(strlen(drid), 36, "%s", drid);
    cr_assert_str_neq(drid, rid);
    snprintf(line, sizeof(line), "END RequestId: %s", drid);
    lt_await_log(&b, "dst", line, 1);
    cJSON *rec = logged_event("dst", 0);
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), rid);
    cJSON_Delete(rec);
    /* Asked again after the fact: the same answer, from memory. */
    cJSON *again = wait_for(rid, 0);
    cr_assert_str_eq(str_at(again, NULL, "Status"), "Done");
    cr_assert_str_eq(str_at(again, "Destination", "RequestId"), drid);
    cJSON_Delete(again);
    cJSON_Delete(j);
    /* The CLI prints the same. */
    const char *cli = getenv("LAMINA_CLI_BIN");
    const char *argv[] = {cli, "event-wait", rid, NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(lt_run(&b, argv, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Status       Done") != NULL, "%s", out);
    cr_assert(strstr(out, drid) != NULL, "%s", out);
    free(out);
    free(err);
}

Test(async, event_wait_names_a_failure_and_answers_pending_when_time_runs_out)
{
    lt_create(&b, "rec", "record", NULL);
    put_config("{\"FunctionName\":\"rec\",\"MaximumRetryAttempts\":0}");
    char rid[40];
    accept_event("rec", "{\"fail\":true}", rid);
    cJSON *j = wait_for(rid, 30000);
    cr_assert_str_eq(str_at(j, NULL, "Status"), "Done");
    cr_assert_str_eq(str_at(j, NULL, "Condition"), "RetriesExhausted");
    cr_assert_str_eq(str_at(j, NULL, "FunctionError"), "Handled");
    cr_assert_str_eq(str_at(j, NULL, "ErrorType"), "AsyncFailure");
    cr_assert_null(cJSON_GetObjectItem(j, "Destination"), "no destination was configured");
    cJSON_Delete(j);

    lt_create(&b, "slow", "sleep", "\"Timeout\":30");
    accept_event("slow", "{\"ms\":4000}", rid);
    uint64_t t0 = now_ms();
    j = wait_for(rid, 300);
    cr_assert_geq(now_ms() - t0, 300, "the wait lasts its TimeoutMs");
    cr_assert_str_eq(str_at(j, NULL, "Status"), "Pending");
    cr_assert_null(cJSON_GetObjectItem(j, "Condition"), "not finished yet");
    cJSON_Delete(j);
    /* still stored: a longer wait sees it through */
    j = wait_for(rid, 30000);
    cr_assert_str_eq(str_at(j, NULL, "Status"), "Done");
    cr_assert_str_eq(str_at(j, NULL, "Condition"), "Success");
    cJSON_Delete(j);
}

Test(async, event_wait_rejects_unknown_ids_and_bad_arguments)
{
    int rc;
    lm_error e;
    cr_assert_null(event_wait("{\"RequestId\":\"00000000-0000-4000-8000-000000000000\"}", &rc, &e));
    cr_assert_eq(rc, LM_E_NOT_FOUND, "%s", e.message);
    cr_assert_str_eq(e.type, "ResourceNotFoundException");
    cr_assert_null(event_wait("{}", &rc, &e));
    cr_assert_eq(e.status, 400, "missing RequestId: %d %s", rc, e.message);
    cr_assert_null(event_wait("{\"RequestId\":\"x\",\"TimeoutMs\":-1}", &rc, &e));
    cr_assert_eq(rc, LM_E_INVALID_PARAMETER, "%s", e.message);
    cr_assert_null(event_wait("{\"RequestId\":\"x\",\"TimeoutMs\":\"soon\"}", &rc, &e));
    cr_assert_eq(e.status, 400, "%s", e.message);
    cr_assert_null(event_wait("{\"RequestId\":\"\"}", &rc, &e));
    cr_assert_eq(rc, LM_E_INVALID_PARAMETER, "%s", e.message);
    /* the broker still serves */
    lt_create(&b, "rec", "record", NULL);
    char rid[40];
    accept_event("rec", "{}", rid);
    cJSON *j = wait_for(rid, 30000);
    cr_assert_str_eq(str_at(j, NULL, "Status"), "Done");
    cJSON_Delete(j);
}

/* Sends `n` events of 8 KiB to "big" (thread body). */
static void *send_big(void *arg)
{
    int n = *(int *)arg;
    static char payload[8200];
    if (payload[0] == '\0') {
        memset(payload, 'x', sizeof(payload) - 1);
        memcpy(payload, "{\"pad\":\"", 8);
        memcpy(payload + sizeof(payload) - 3, "\"}", 3);
    }
    for (int i = 0; i < n; i++) {
        lm_invoke_result r;
        lm_error e;
        if (invoke_event("big", payload, strlen(payload), &r, &e) == LM_OK) {
            lm_invoke_result_finish(&r);
        }
    }
    return NULL;
}

Test(async, the_wal_starts_over_under_a_steady_stream_of_events)
{
    lt_create(&b, "big", "echo", NULL);
    /* 3,200 events of 8 KiB: 26 MB through the WAL while events are
     * written, run and deleted all along */
    int each = 800;
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, send_big, &each), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    cr_assert(lt_wait_until(queue_empty, NULL, 60000), "the events ran");
    char path[600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/lamina.db-wal", b.state);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_lt(st.st_size, 16 << 20, "the WAL reached %lld bytes", (long long)st.st_size);
}

/* A store written by the schema-2 broker (before async invoke). */
static const char *schema2 =
    LT_SCHEMA2_TABLES "INSERT INTO meta(key, value) VALUES('schema', '2');";

static char *schema_version(const char *db_path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema'", -1, &st, NULL),
                 SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

Test(async, a_schema_2_store_is_migrated_to_the_current_schema)
{
    lt_broker_stop(&b, false);
    char state[300], db_path[400];
    lt_old_store(schema2, state, sizeof(state), db_path, sizeof(db_path));
    memset(&b, 0, sizeof(b));
    lt_broker_start_in(&b, state, lt_test_clock);
    char *v = schema_version(db_path);
    cr_assert_str_eq(v, "8");
    free(v);
    lt_create(&b, "rec", "record", NULL);
    char rid[40];
    accept_event("rec", "{\"after\":\"migration\"}", rid);
    lt_await_log(&b, "rec", "EVENT {\"after\":\"migration\"}", 1);
}

/* A sync invoke of fn that sleeps 300 ms (thread body). */
static void *sync_nap(void *arg)
{
    lm_invoke_result r;
    lm_error e;
    if (lt_invoke(&b, arg, "{\"ms\":300}", &r, &e) == LM_OK) {
        lm_invoke_result_finish(&r);
    }
    return NULL;
}

Test(async, idle_environments_of_another_function_do_not_let_events_start_cold_at_once)
{
    lt_create(&b, "warm", "sleep", NULL);
    lt_create(&b, "cold", "sleep", NULL);
    pthread_t th[24];
    for (int i = 0; i < 24; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, sync_nap, "warm"), 0);
    }
    for (int i = 0; i < 24; i++) {
        pthread_join(th[i], NULL);
    }
    cr_assert_geq(status_count("Workers", "Idle"), 24, "24 environments of warm are idle");
    char rid[40];
    for (int i = 0; i < 64; i++) {
        accept_event("cold", "{\"ms\":200}", rid);
    }
    /* cold has no idle environment: its events take the 8 cold-start slots,
     * however many environments of warm sit idle */
    int most = 0;
    while (status_depth() > 0) {
        int starting = (int)status_count("Workers", "Starting");
        most = starting > most ? starting : most;
    }
    cr_assert_leq(most, 8, "%d environments were starting at once", most);
}

/* Queued events are not waiting callers: a backlog scales out gradually
 * (at most 8 environments starting at once, idle ones reused) instead of
 * one new environment per event.  300 events of 100 ms pile up behind a
 * single slot; after a restart with the default 1,000 they would all start
 * at once without the pacing. */
Test(async, a_backlog_of_events_scales_out_gradually)
{
    lt_broker_stop(&b, false);
    const char *const one_slot[] = {"--max-concurrency", "1", "--test-clock", NULL};
    lt_broker_start(&b, one_slot);
    lt_create(&b, "sleepy", "sleep", "\"Timeout\":60");
    lt_create(&b, "napper", "sleep", "\"Timeout\":60");
    blocker bl = {b.state, "{\"ms\":30000}"};
    pthread_t thr;
    cr_assert_eq(pthread_create(&thr, NULL, block_slot, &bl), 0);
    cr_assert(lt_wait_until(one_busy, NULL, 15000), "the sync invoke holds the only slot");
    char rid[40];
    for (int i = 0; i < 300; i++) {
        accept_event("napper", "{\"ms\":100}", rid);
    }
    lt_broker_kill(&b);
    pthread_join(thr, NULL);
    lt_broker_start_in(&b, b.state, lt_test_clock);
    advance(300000); /* every event refused before the kill is due at once */
    cr_assert(lt_wait_until(queue_empty, NULL, 120000), "the backlog drains");
    int total = (int)status_count("Workers", "Total");
    cr_assert_leq(total, 150, "300 queued 100 ms events ran on %d environments", total);
}

/* ---- the test clock (clock-advance) ---- */

Test(async, clock_advance_is_refused_without_test_clock)
{
    lt_broker_stop(&b, false);
    lt_broker_start(&b, NULL);
    lm_error e;
    char *reply = NULL;
    cr_assert_eq(lm_call(b.client, "clock-advance", "{\"Ms\":60000}", NULL, 0, &reply, &e),
                 LM_E_UNKNOWN_OP);
    cr_assert_null(reply);
    cr_assert_eq(e.status, 400);
    cr_assert_str_eq(e.type, "UnknownOperationException");
    cr_assert_not_null(strstr(e.message, "--test-clock"), "%s", e.message);
    /* the retry of a failed event stays a real minute away */
    lt_create(&b, "flaky", "record", NULL);
    char rid[40];
    accept_event("flaky", "{\"fail\":true}", rid);
    stored_event ev;
    await_runs(rid, 1, &ev);
    cr_assert_geq(ev.next_at, real_ms() + 30000, "the retry is still far off in real time");
}

Test(async, clock_advance_checks_ms_and_moves_broker_time_forward_across_restarts)
{
    lm_error e;
    char *reply = NULL;
    const char *bad[] = {
        "{}",           "{\"Ms\":0}",           "{\"Ms\":-5}",  "{\"Ms\":\"soon\"}",
        "{\"Ms\":1.5}", "{\"Ms\":31622400001}", "{\"Ms\":null}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(lm_call(b.client, "clock-advance", bad[i], NULL, 0, &reply, &e),
                     LM_E_INVALID_PARAMETER, "%s: %s", bad[i], e.message);
        cr_assert_eq(e.status, 400);
        cr_assert_not_null(strstr(e.message, "Ms must be an integer from 1 to"), "%s", e.message);
    }
    int64_t before = real_ms();
    cr_assert_eq(lm_call(b.client, "clock-advance", "{\"Ms\":3600000}", NULL, 0, &reply, &e), LM_OK,
                 "%s", e.message);
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    cr_assert_eq((int64_t)cJSON_GetObjectItem(j, "OffsetMs")->valuedouble, 3600000,
                 "refused calls did not move it");
    cr_assert_geq((int64_t)cJSON_GetObjectItem(j, "BrokerTimeMs")->valuedouble, before + 3600000);
    cJSON_Delete(j);
    /* a whole year in one call is allowed */
    lt_clock_advance(&b, 31622400000);
    /* the offset is kept in the state dir: a restarted test broker goes on from it */
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, b.state, lt_test_clock);
    cr_assert_eq(lm_call(b.client, "clock-advance", "{\"Ms\":1}", NULL, 0, &reply, &e), LM_OK, "%s",
                 e.message);
    j = cJSON_Parse(reply);
    free(reply);
    cr_assert_eq((int64_t)cJSON_GetObjectItem(j, "OffsetMs")->valuedouble,
                 3600000 + 31622400000 + 1);
    cJSON_Delete(j);
}
