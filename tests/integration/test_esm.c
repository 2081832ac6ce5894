/*
 * Integration: event source mappings (issue 14) through the real api
 * socket, a real broker and real sandboxed runtimes: every parameter's
 * checks, persistence across restarts, queue sources (batch size, window
 * and 6 MB flushing, filters on JSON and plain bodies, deletes, the
 * visibility timeout and redrive after errors, ReportBatchItemFailures and
 * its malformed responses, FIFO group order, scaling limits), stream
 * sources (order, checkpoints, retries, bisect, partial failures, record
 * age, on-failure records field by field, starting positions, resharding,
 * disable/enable and restart resuming from the checkpoint) and kill -9
 * during a run.  The handler is tests/handlers/batch.c: it logs "REC
 * <data>" per record and "BATCH n=N" per batch, and answers as its MODE
 * says.  Time moves only with the test clock.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <sqlite3.h>

#include "harness.h"
#include "old_stores.h"

static lt_broker b;

static const char *const clock_args[] = {"--test-clock", NULL};

static void start(void)
{
    lt_broker_start(&b, clock_args);
}

static void stop(void)
{
    if (b.pid != 0) {
        lt_broker_stop(&b, false);
    }
}

TestSuite(esm, .init = start, .fini = stop, .timeout = 120);

/* A function of the batch handler with MODE (NULL: ok). */
static void fn(const char *name, const char *mode)
{
    char extra[512];
    snprintf(extra, sizeof(extra),
             "\"Timeout\":10,\"Environment\":{\"Variables\":{\"MODE\":\"%s\"}}",
             mode != NULL ? mode : "ok");
    lt_create(&b, name, "batch", extra);
}

static void queue(const char *name, const char *attrs)
{
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"%s\",\"Attributes\":{%s}}", name,
                       attrs != NULL ? attrs : ""));
}

static void send(const char *q, const char *body)
{
    cJSON_Delete(lt_ok(&b, "queue-send", "{\"QueueName\":\"%s\",\"MessageBody\":\"%s\"}", q, body));
}

static void send_json(const char *q, const char *body_json)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "QueueName", q);
    cJSON_AddStringToObject(a, "MessageBody", body_json);
    char *t = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    lm_error e;
    cr_assert_eq(lt_call(&b, "queue-send", t, NULL, &e), LM_OK, "%s", e.message);
    free(t);
}

static void send_fifo(const char *q, const char *group, const char *body)
{
    cJSON_Delete(lt_ok(&b, "queue-send",
                       "{\"QueueName\":\"%s\",\"MessageBody\":\"%s\",\"MessageGroupId\":\"%s\","
                       "\"MessageDeduplicationId\":\"%s\"}",
                       q, body, group, body));
}

/* Create a mapping from args (JSON); its UUID into uuid. */
static cJSON *esm_create(char uuid[37], const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    cJSON *j = lt_ok(&b, "esm-create", "%s", args);
    const cJSON *u = cJSON_GetObjectItem(j, "UUID");
    cr_assert(cJSON_IsString(u));
    snprintf(uuid, 37, "%s", u->valuestring);
    return j;
}

static cJSON *esm_get(const char *uuid)
{
    return lt_ok(&b, "esm-get", "{\"UUID\":\"%s\"}", uuid);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    cr_assert(cJSON_IsNumber(v), "no number %s", key);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    cr_assert(cJSON_IsString(v), "no string %s", key);
    return v->valuestring;
}

static int64_t qattr(const char *q, const char *name)
{
    cJSON *g = lt_ok(&b, "queue-get", "{\"QueueName\":\"%s\"}", q);
    int64_t v = atoll(str(cJSON_GetObjectItem(g, "Attributes"), name));
    cJSON_Delete(g);
    return v;
}

static int64_t qtotal(const char *q)
{
    return qattr(q, "ApproximateNumberOfMessages") +
           qattr(q, "ApproximateNumberOfMessagesNotVisible") +
           qattr(q, "ApproximateNumberOfMessagesDelayed");
}

typedef struct qwant {
    const char *q;
    int64_t visible, inflight; /* -1: any */
} qwant;

static bool q_is(void *arg)
{
    qwant *w = arg;
    return (w->visible < 0 || qattr(w->q, "ApproximateNumberOfMessages") == w->visible) &&
           (w->inflight < 0 || qattr(w->q, "ApproximateNumberOfMessagesNotVisible") == w->inflight);
}

static void await_queue(const char *q, int64_t visible, int64_t inflight)
{
    qwant w = {q, visible, inflight};
    cr_assert(lt_wait_until(q_is, &w, 30000), "queue %s never had %lld visible, %lld in flight", q,
              (long long)visible, (long long)inflight);
}

typedef struct bwant {
    const char *uuid;
    double batches;
} bwant;

static bool batches_done(void *arg)
{
    bwant *w = arg;
    cJSON *g = esm_get(w->uuid);
    bool ok = num(g, "Batches") >= w->batches;
    cJSON_Delete(g);
    return ok;
}

/* Wait until the mapping recorded n outcomes. */
static void await_batches(const char *uuid, int n)
{
    bwant w = {uuid, n};
    cr_assert(lt_wait_until(batches_done, &w, 30000), "mapping %s never finished %d batches", uuid,
              n);
}

static int log_count(const char *f, const char *needle)
{
    char *l = lt_function_log(&b, f);
    int n = lt_count(l, needle);
    free(l);
    return n;
}

/* Position of needle in f's log (-1 when absent). */
static long log_pos(const char *f, const char *needle)
{
    char *l = lt_function_log(&b, f);
    const char *p = strstr(l, needle);
    long r = p != NULL ? p - l : -1;
    free(l);
    return r;
}

static void expect_error(const char *args, const char *type, const char *needle)
{
    lm_error e;
    int rc = lt_call(&b, "esm-create", args, NULL, &e);
    cr_assert_neq(rc, LM_OK, "esm-create %s should fail", args);
    cr_assert_str_eq(e.type, type, "esm-create %s: %s (%s), expected %s", args, e.type, e.message,
                     type);
    if (needle != NULL) {
        cr_assert(strstr(e.message, needle) != NULL, "esm-create %s: \"%s\" lacks \"%s\"", args,
                  e.message, needle);
    }
}

/* ---- parameters ---- */

Test(esm, create_checks_every_parameter_with_lambdas_ranges_per_source)
{
    fn("f", NULL);
    queue("q", NULL);
    queue("q.fifo", "\"FifoQueue\":\"true\"");
    cJSON_Delete(lt_ok(&b, "stream-create", "{\"StreamName\":\"s\",\"ShardCount\":1}"));
    const char *IPV = "InvalidParameterValueException";
    struct {
        const char *args, *type, *needle;
    } cases[] = {
        {"{\"EventSourceArn\":\"queue:q\"}", IPV, "FunctionName"},
        {"{\"FunctionName\":\"f\"}", IPV, "EventSourceArn"},
        {"{\"FunctionName\":\"nope\",\"EventSourceArn\":\"queue:q\"}", "ResourceNotFoundException",
         NULL},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:missing\"}", IPV, "does not exist"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:missing\",\"StartingPosition\":"
         "\"LATEST\"}",
         IPV, "does not exist"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"bucket:x\"}", IPV, "EventSourceArn"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"BatchSize\":0}", IPV,
         "BatchSize"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"BatchSize\":10001,"
         "\"MaximumBatchingWindowInSeconds\":1}",
         IPV, "BatchSize"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"BatchSize\":2.5}", IPV,
         "integer"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"BatchSize\":11}", IPV,
         "MaximumBatchingWindowInSeconds"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q.fifo\",\"BatchSize\":11,"
         "\"MaximumBatchingWindowInSeconds\":1}",
         IPV, "BatchSize"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
         "\"MaximumBatchingWindowInSeconds\":301}",
         IPV, "MaximumBatchingWindowInSeconds"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
         "\"MaximumBatchingWindowInSeconds\":-1}",
         IPV, "MaximumBatchingWindowInSeconds"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"StartingPosition\":\"LATEST\"}",
         IPV, "StartingPosition"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"MaximumRetryAttempts\":1}", IPV,
         "MaximumRetryAttempts"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"BisectBatchOnFunctionError\":"
         "true}",
         IPV, "Bisect"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"DestinationConfig\":{"
         "\"OnFailure\":{\"Destination\":\"queue:q\"}}}",
         IPV, "DestinationConfig"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"ScalingConfig\":{"
         "\"MaximumConcurrency\":1}}",
         IPV, "MaximumConcurrency"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"ScalingConfig\":{"
         "\"MaximumConcurrency\":1001}}",
         IPV, "MaximumConcurrency"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FunctionResponseTypes\":["
         "\"Other\"]}",
         IPV, "ReportBatchItemFailures"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"Enabled\":\"yes\"}", IPV,
         "Enabled"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"Tumbling\":1}", IPV,
         "Unknown parameter"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FilterCriteria\":{\"Filters\":["
         "{\"Pattern\":\"{not json\"}]}}",
         IPV, "pattern"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FilterCriteria\":{\"Filters\":["
         "{\"Pattern\":\"{}\"},{\"Pattern\":\"{}\"},{\"Pattern\":\"{}\"},{\"Pattern\":\"{}\"},"
         "{\"Pattern\":\"{}\"},{\"Pattern\":\"{}\"}]}}",
         IPV, "filters"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\"}", IPV, "StartingPosition"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":"
         "\"AT_TIMESTAMP\"}",
         IPV, "StartingPositionTimestamp"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":"
         "\"AT_SEQUENCE_NUMBER\"}",
         IPV, "StartingPosition"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
         "\"MaximumRetryAttempts\":10001}",
         IPV, "MaximumRetryAttempts"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
         "\"MaximumRecordAgeInSeconds\":59}",
         IPV, "MaximumRecordAgeInSeconds"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
         "\"MaximumRecordAgeInSeconds\":604801}",
         IPV, "MaximumRecordAgeInSeconds"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
         "\"ParallelizationFactor\":11}",
         IPV, "ParallelizationFactor"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
         "\"ScalingConfig\":{\"MaximumConcurrency\":5}}",
         IPV, "ScalingConfig"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
         "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"f\"}}}",
         IPV, "destination"},
        {"{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
         "\"FilterCriteria\":{\"Filters\":[{\"Pattern\":\"{\\\"data\\\":[\\\"x\\\"]}\"}]}}",
         IPV, "JSON object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_error(cases[i].args, cases[i].type, cases[i].needle);
    }
    /* defaults, Lambda's names */
    char u[37];
    cJSON *j = esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\"}");
    cr_assert_eq(num(j, "BatchSize"), 10);
    cr_assert_eq(num(j, "MaximumBatchingWindowInSeconds"), 0);
    cr_assert_str_eq(str(j, "State"), "Enabled");
    cr_assert_str_eq(str(j, "StateTransitionReason"), "USER_INITIATED");
    cr_assert_str_eq(str(j, "LastProcessingResult"), "No records processed");
    cr_assert_str_eq(str(j, "EventSourceArn"), "arn:lamina:sqs:local:000000000000:q");
    cr_assert_str_eq(str(j, "FunctionArn"), "arn:lamina:lambda:local:000000000000:function:f");
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "FilterCriteria")));
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "FunctionResponseTypes")));
    cr_assert_null(cJSON_GetObjectItem(j, "StartingPosition"));
    cJSON_Delete(j);
    /* the same function and source again */
    expect_error("{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\"}",
                 "ResourceConflictException", u);
    j = esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                      "\"StartingPosition\":\"TRIM_HORIZON\"}");
    cr_assert_eq(num(j, "BatchSize"), 100);
    cr_assert_eq(num(j, "MaximumRetryAttempts"), -1);
    cr_assert_eq(num(j, "MaximumRecordAgeInSeconds"), -1);
    cr_assert_eq(num(j, "ParallelizationFactor"), 1);
    cr_assert_str_eq(str(j, "StartingPosition"), "TRIM_HORIZON");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "BisectBatchOnFunctionError")));
    cJSON_Delete(j);
    /* the FIFO queue's limit is 10, a standard queue's 10,000 with a window */
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q.fifo\","
                               "\"BatchSize\":10}"));
    fn("g", NULL);
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"g\",\"EventSourceArn\":\"queue:q\","
                               "\"BatchSize\":10000,\"MaximumBatchingWindowInSeconds\":1}"));
}

Test(esm, ten_filters_only_with_the_broker_option)
{
    lt_broker_stop(&b, false);
    const char *const args[] = {"--test-clock", "--esm-max-filters", "10", NULL};
    lt_broker_start(&b, args);
    fn("f", NULL);
    queue("q", NULL);
    char f10[2048] = "", u[37];
    for (int i = 0; i < 10; i++) {
        strcat(f10, i > 0 ? ",{\"Pattern\":\"{}\"}" : "{\"Pattern\":\"{}\"}");
    }
    cJSON_Delete(esm_create(u,
                            "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                            "\"FilterCriteria\":{\"Filters\":[%s]}}",
                            f10));
    char args11[2100];
    snprintf(args11, sizeof(args11),
             "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q2\",\"FilterCriteria\":{"
             "\"Filters\":[%s,{\"Pattern\":\"{}\"}]}}",
             f10);
    queue("q2", NULL);
    expect_error(args11, "InvalidParameterValueException", "10 allowed");
}

Test(esm, mappings_update_disable_list_and_delete_and_survive_a_restart)
{
    fn("f", NULL);
    fn("g", NULL);
    queue("q", NULL);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                               "\"BatchSize\":5,\"FunctionResponseTypes\":["
                               "\"ReportBatchItemFailures\"],\"FilterCriteria\":{\"Filters\":[{"
                               "\"Pattern\":\"{\\\"body\\\":{\\\"k\\\":[1]}}\"}]}}"));
    cJSON *j = lt_ok(&b, "esm-update",
                     "{\"UUID\":\"%s\",\"FunctionName\":\"g\",\"BatchSize\":50,"
                     "\"MaximumBatchingWindowInSeconds\":2,\"ScalingConfig\":{"
                     "\"MaximumConcurrency\":3}}",
                     u);
    cr_assert_eq(num(j, "BatchSize"), 50);
    cr_assert_str_eq(str(j, "FunctionArn"), "arn:lamina:lambda:local:000000000000:function:g");
    cJSON_Delete(j);
    lm_error e;
    char bad[256];
    snprintf(bad, sizeof(bad), "{\"UUID\":\"%s\",\"MaximumBatchingWindowInSeconds\":0}", u);
    cr_assert_neq(lt_call(&b, "esm-update", bad, NULL, &e), LM_OK, "window 0 with batch 50");
    cr_assert_str_eq(e.type, "InvalidParameterValueException");
    snprintf(bad, sizeof(bad), "{\"UUID\":\"%s\",\"EventSourceArn\":\"queue:q\"}", u);
    cr_assert_neq(lt_call(&b, "esm-update", bad, NULL, &e), LM_OK);
    cJSON_Delete(lt_ok(&b, "esm-disable", "{\"UUID\":\"%s\"}", u));
    /* restart: everything as it was */
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, clock_args);
    j = esm_get(u);
    cr_assert_str_eq(str(j, "State"), "Disabled");
    cr_assert_eq(num(j, "BatchSize"), 50);
    cr_assert_eq(num(j, "MaximumBatchingWindowInSeconds"), 2);
    cr_assert_eq(num(cJSON_GetObjectItem(j, "ScalingConfig"), "MaximumConcurrency"), 3);
    cr_assert_str_eq(
        cJSON_GetArrayItem(cJSON_GetObjectItem(j, "FunctionResponseTypes"), 0)->valuestring,
        "ReportBatchItemFailures");
    const cJSON *p = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "FilterCriteria"), "Filters"), 0);
    cr_assert_str_eq(str(p, "Pattern"), "{\"body\":{\"k\":[1]}}");
    cJSON_Delete(j);
    j = lt_ok(&b, "esm-list", "{\"FunctionName\":\"g\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "EventSourceMappings")), 1);
    cJSON_Delete(j);
    j = lt_ok(&b, "esm-list", "{\"FunctionName\":\"f\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "EventSourceMappings")), 0);
    cJSON_Delete(j);
    j = lt_ok(&b, "esm-delete", "{\"UUID\":\"%s\"}", u);
    cr_assert_str_eq(str(j, "State"), "Deleting");
    cJSON_Delete(j);
    snprintf(bad, sizeof(bad), "{\"UUID\":\"%s\"}", u);
    cr_assert_eq(lt_call(&b, "esm-get", bad, NULL, &e), LM_E_NOT_FOUND);
    cr_assert_str_eq(e.type, "ResourceNotFoundException");
    cr_assert_eq(lt_call(&b, "esm-get", "{}", NULL, &e), LM_E_INVALID_PARAMETER);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, clock_args);
    cr_assert_eq(lt_call(&b, "esm-get", bad, NULL, &e), LM_E_NOT_FOUND);
}

/* ---- queues ---- */

Test(esm, queue_messages_arrive_as_sqs_records_in_batches_and_are_deleted)
{
    fn("f", NULL);
    queue("q", NULL);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                               "\"BatchSize\":5,\"Enabled\":false}"));
    cJSON_Delete(
        lt_ok(&b, "queue-send-batch",
              "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"m0\"},"
              "{\"Id\":\"b\",\"MessageBody\":\"m1\"},{\"Id\":\"c\",\"MessageBody\":\"m2\"},"
              "{\"Id\":\"d\",\"MessageBody\":\"m3\"},{\"Id\":\"e\",\"MessageBody\":\"m4\"},"
              "{\"Id\":\"f\",\"MessageBody\":\"m5\"},{\"Id\":\"g\",\"MessageBody\":\"m6\"}]}"));
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 2);
    await_queue("q", 0, 0);
    cr_assert_eq(log_count("f", "BATCH n=5"), 1);
    cr_assert_eq(log_count("f", "BATCH n=2"), 1);
    for (int i = 0; i < 7; i++) {
        char m[16];
        snprintf(m, sizeof(m), "REC m%d\n", i);
        cr_assert_eq(log_count("f", m), 1, "%s", m);
    }
    cJSON *j = esm_get(u);
    cr_assert_str_eq(str(j, "LastProcessingResult"), "OK");
    cr_assert_eq(num(cJSON_GetObjectItem(j, "Lag"), "MessagesWaiting"), 0);
    cJSON_Delete(j);
    j = lt_ok(&b, "status", "{}");
    const cJSON *s = cJSON_GetObjectItem(j, "EventSourceMappings");
    cr_assert_geq(num(s, "Batches"), 2);
    cr_assert_geq(num(s, "Records"), 7);
    cJSON_Delete(j);
}

/* The event's shape: a recording handler gets {"Records":[…]} as it is. */
Test(esm, the_event_is_lambdas_sqs_shape)
{
    lt_create(&b, "rec", "record", NULL);
    queue("q", NULL);
    cJSON_Delete(lt_ok(&b, "queue-send",
                       "{\"QueueName\":\"q\",\"MessageBody\":\"hello\",\"MessageAttributes\":{"
                       "\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}"));
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"rec\",\"EventSourceArn\":\"queue:q\"}"));
    lt_await_log(&b, "rec", "EVENT {\"Records\":[", 1);
    char *l = lt_function_log(&b, "rec");
    char *p = strstr(l, "EVENT ");
    char *end = strchr(p, '\n');
    *end = '\0';
    cJSON *ev = cJSON_Parse(p + 6);
    cr_assert_not_null(ev, "%s", p);
    cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "Records"), 0);
    cr_assert_str_eq(str(r, "body"), "hello");
    cr_assert_str_eq(str(r, "eventSource"), "aws:sqs");
    cr_assert_str_eq(str(r, "eventSourceARN"), "arn:lamina:sqs:local:000000000000:q");
    cr_assert_str_eq(str(r, "awsRegion"), "local");
    cr_assert_str_eq(str(r, "md5OfBody"), "5d41402abc4b2a76b9719d911017c592");
    cr_assert_eq(strlen(str(r, "messageId")), 36);
    cr_assert_gt(strlen(str(r, "receiptHandle")), 10);
    const cJSON *a = cJSON_GetObjectItem(r, "attributes");
    cr_assert_str_eq(str(a, "ApproximateReceiveCount"), "1");
    str(a, "SentTimestamp");
    str(a, "ApproximateFirstReceiveTimestamp");
    const cJSON *ma = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "messageAttributes"), "k");
    cr_assert_str_eq(str(ma, "stringValue"), "v");
    cr_assert_str_eq(str(ma, "dataType"), "String");
    cJSON_Delete(ev);
    free(l);
}

Test(esm, a_window_holds_a_batch_until_it_ends_on_the_broker_clock)
{
    fn("f", NULL);
    queue("q", "\"VisibilityTimeout\":\"600\"");
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                               "\"BatchSize\":100,\"MaximumBatchingWindowInSeconds\":60}"));
    send("q", "w1");
    send("q", "w2");
    send("q", "w3");
    await_queue("q", 0, 3); /* received into the batch being gathered */
    cr_assert_eq(log_count("f", "BATCH"), 0, "flushed before the window ended");
    lt_clock_advance(&b, 59000);
    send("q", "w4");
    await_queue("q", 0, 4);
    cr_assert_eq(log_count("f", "BATCH"), 0, "flushed before the window ended");
    lt_clock_advance(&b, 1500);
    lt_await_log(&b, "f", "BATCH n=4", 1);
    await_queue("q", 0, 0);
}

Test(esm, a_batch_is_cut_before_the_record_that_would_pass_6_mb, .timeout = 180)
{
    fn("f", NULL);
    queue("q", "\"MaximumMessageSize\":\"1048576\"");
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                               "\"BatchSize\":10,\"Enabled\":false}"));
    size_t n = 1000000;
    char *body = malloc(n + 16);
    for (int i = 0; i < 7; i++) {
        memset(body, 'a' + i, n);
        body[n] = '\0';
        send_json("q", body);
    }
    free(body);
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 2);
    await_queue("q", 0, 0);
    /* six records of 1,000,000 bytes and their metadata fit in 6 MB, seven do not */
    cr_assert_eq(log_count("f", "BATCH n=6"), 1);
    cr_assert_eq(log_count("f", "BATCH n=1"), 1);
}

Test(esm, filters_follow_the_body_rules_and_drop_what_matches_none)
{
    fn("f", NULL);
    queue("q", NULL);
    char u[37];
    /* JSON pattern on body; plain pattern on body; metadata-only pattern */
    cJSON_Delete(esm_create(
        u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"Enabled\":false,"
           "\"FilterCriteria\":{\"Filters\":["
           "{\"Pattern\":\"{\\\"body\\\":{\\\"kind\\\":[\\\"a\\\"]}}\"},"
           "{\"Pattern\":\"{\\\"body\\\":[\\\"plain-yes\\\"]}\"},"
           "{\"Pattern\":\"{\\\"messageAttributes\\\":{\\\"tag\\\":{\\\"stringValue\\\":["
           "\\\"keep\\\"]}}}\"}]}}"));
    send_json("q", "{\"kind\":\"a\",\"n\":1}"); /* JSON, matches filter 1 */
    send_json("q", "{\"kind\":\"b\",\"n\":2}"); /* JSON, no match */
    send_json("q", "plain-yes"); /* plain, matches filter 2 */
    send_json("q", "plain-no"); /* plain, no match */
    send_json("q", "{\"kind\":[\"plain-yes\"]}"); /* JSON vs plain pattern: dropped */
    send_json("q", "kind a"); /* plain vs JSON pattern: dropped */
    cJSON_Delete(lt_ok(&b, "queue-send", /* metadata only: any body */
                       "{\"QueueName\":\"q\",\"MessageBody\":\"meta\",\"MessageAttributes\":{"
                       "\"tag\":{\"DataType\":\"String\",\"StringValue\":\"keep\"}}}"));
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 1);
    await_queue("q", 0, 0); /* the dropped ones are deleted too */
    cr_assert_eq(log_count("f", "REC {\\\"kind\\\":\\\"a\\\",\\\"n\\\":1}"), 1);
    cr_assert_eq(log_count("f", "REC plain-yes\n"), 1);
    cr_assert_eq(log_count("f", "REC meta\n"), 1);
    cr_assert_eq(log_count("f", "REC "), 3, "only three records match");
    cJSON *s = lt_ok(&b, "status", "{}");
    cr_assert_eq(num(cJSON_GetObjectItem(s, "EventSourceMappings"), "FilteredOut"), 4);
    cJSON_Delete(s);
}

Test(esm, a_failed_batch_comes_back_after_the_visibility_timeout_and_the_redrive_applies)
{
    fn("f", "fail");
    queue("dlq", NULL);
    queue("q", "\"VisibilityTimeout\":\"30\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":"
               "\\\"arn:lamina:sqs:local:000000000000:dlq\\\",\\\"maxReceiveCount\\\":2}\"");
    char u[37];
    send("q", "x1");
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\"}"));
    await_batches(u, 1);
    await_queue("q", 0, 1); /* still there, invisible */
    cJSON *j = esm_get(u);
    cr_assert_str_eq(str(j, "LastProcessingResult"), "PROBLEM: Function call failed");
    cr_assert(strstr(str(j, "LastError"), "failing as MODE says") != NULL, "%s",
              str(j, "LastError"));
    cJSON_Delete(j);
    cr_assert_eq(log_count("f", "REC x1"), 1);
    lt_clock_advance(&b, 31000);
    await_batches(u, 2);
    cr_assert_eq(log_count("f", "REC x1"), 2);
    /* received twice: the third receive moves it to the dead-letter queue */
    lt_clock_advance(&b, 31000);
    await_queue("dlq", 1, 0);
    await_queue("q", 0, 0);
    cr_assert_eq(log_count("f", "REC x1"), 2);
    cJSON *s = lt_ok(&b, "status", "{}");
    cr_assert_geq(num(cJSON_GetObjectItem(s, "EventSourceMappings"), "FailedBatches"), 2);
    cJSON_Delete(s);
}

Test(esm, report_batch_item_failures_returns_only_the_listed_messages)
{
    fn("f", "bif");
    queue("q", "\"VisibilityTimeout\":\"30\"");
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                               "\"FunctionResponseTypes\":[\"ReportBatchItemFailures\"],"
                               "\"Enabled\":false}"));
    cJSON_Delete(lt_ok(&b, "queue-send-batch",
                       "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"ok1\"},"
                       "{\"Id\":\"b\",\"MessageBody\":\"bad1\"},{\"Id\":\"c\",\"MessageBody\":"
                       "\"ok2\"}]}"));
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 1);
    await_queue("q", 0, 1);
    lt_clock_advance(&b, 31000);
    await_batches(u, 2);
    cr_assert_eq(log_count("f", "REC bad1"), 2);
    cr_assert_eq(log_count("f", "REC ok1"), 1);
    cr_assert_eq(log_count("f", "BATCH n=1"), 1);
}

/* Each malformed or empty response of §5.4, on a batch of two. */
Test(esm, partial_batch_responses_full_success_and_full_failure_cases, .timeout = 240)
{
    struct {
        const char *resp;
        bool success;
    } cases[] = {
        {"", true},
        {"null", true},
        {"{}", true},
        {"{\\\"batchItemFailures\\\":[]}", true},
        {"{\\\"batchItemFailures\\\":null}", true},
        {"not json", false},
        {"{\\\"batchItemFailures\\\":[{\\\"itemIdentifier\\\":\\\"\\\"}]}", false},
        {"{\\\"batchItemFailures\\\":[{\\\"itemIdentifier\\\":null}]}", false},
        {"{\\\"batchItemFailures\\\":[{\\\"wrongKey\\\":\\\"x\\\"}]}", false},
        {"{\\\"batchItemFailures\\\":[{\\\"itemIdentifier\\\":\\\"not-in-batch\\\"}]}", false},
        {"{\\\"batchItemFailures\\\":\\\"x\\\"}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char f[16], q[16], mode[256], u[37];
        snprintf(f, sizeof(f), "f%zu", i);
        snprintf(q, sizeof(q), "q%zu", i);
        snprintf(mode, sizeof(mode), "raw:%s", cases[i].resp);
        fn(f, mode);
        queue(q, "\"VisibilityTimeout\":\"600\"");
        cJSON_Delete(lt_ok(&b, "queue-send-batch",
                           "{\"QueueName\":\"%s\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":"
                           "\"one\"},{\"Id\":\"b\",\"MessageBody\":\"two\"}]}",
                           q));
        cJSON_Delete(esm_create(u,
                                "{\"FunctionName\":\"%s\",\"EventSourceArn\":\"queue:%s\","
                                "\"FunctionResponseTypes\":[\"ReportBatchItemFailures\"]}",
                                f, q));
        await_batches(u, 1);
        cJSON *j = esm_get(u);
        const char *want = cases[i].success ? "OK" : "PROBLEM: Function call failed";
        cr_assert_str_eq(str(j, "LastProcessingResult"), want, "response \"%s\"", cases[i].resp);
        cJSON_Delete(j);
        await_queue(q, 0, cases[i].success ? 0 : 2);
        cJSON_Delete(lt_ok(&b, "esm-delete", "{\"UUID\":\"%s\"}", u));
    }
}

Test(esm, fifo_keeps_group_order_through_failures_and_other_groups_go_on)
{
    fn("f", "failbad");
    queue("dlq.fifo", "\"FifoQueue\":\"true\"");
    queue("q.fifo", "\"FifoQueue\":\"true\",\"VisibilityTimeout\":\"30\",\"RedrivePolicy\":"
                    "\"{\\\"deadLetterTargetArn\\\":\\\"arn:lamina:sqs:local:000000000000:dlq."
                    "fifo\\\",\\\"maxReceiveCount\\\":2}\"");
    send_fifo("q.fifo", "g1", "g1-1");
    send_fifo("q.fifo", "g1", "g1-bad2");
    send_fifo("q.fifo", "g1", "g1-3");
    send_fifo("q.fifo", "g2", "g2-1");
    send_fifo("q.fifo", "g2", "g2-2");
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q.fifo\","
                               "\"BatchSize\":1}"));
    /* g2 runs to its end while g1 waits behind its failed message */
    lt_await_log(&b, "f", "REC g2-2", 1);
    lt_await_log(&b, "f", "REC g1-bad2", 1);
    await_queue("q.fifo", 1, 1); /* g1-3 visible, but behind g1-bad2 */
    cr_assert_eq(log_count("f", "REC g1-3"), 0, "g1-3 ran before g1-bad2 was done");
    lt_clock_advance(&b, 31000);
    lt_await_log(&b, "f", "REC g1-bad2", 2);
    cr_assert_eq(log_count("f", "REC g1-3"), 0, "g1-3 ran before g1-bad2 was done");
    lt_clock_advance(&b, 31000); /* received twice: to the DLQ, and g1 goes on */
    lt_await_log(&b, "f", "REC g1-3", 1);
    await_queue("dlq.fifo", 1, 0);
    cr_assert_lt(log_pos("f", "REC g1-1"), log_pos("f", "REC g1-bad2"));
    cr_assert_lt(log_pos("f", "REC g2-1"), log_pos("f", "REC g2-2"));
}

/* The most batches running at once, from the handler's START/END lines. */
static int max_overlap(const char *f)
{
    char *l = lt_function_log(&b, f);
    long ev[4096];
    int n = 0;
    for (char *p = l; (p = strstr(p, "START ")) != NULL && n < 4096; p += 6) {
        ev[n++] = strtol(p + 6, NULL, 10) * 2 + 1; /* starts after ends at the same ms */
    }
    for (char *p = l; (p = strstr(p, "END ")) != NULL && n < 4096; p += 4) {
        ev[n++] = strtol(p + 4, NULL, 10) * 2;
    }
    free(l);
    for (int i = 1; i < n; i++) { /* insertion sort: a few hundred events */
        long v = ev[i];
        int j = i - 1;
        for (; j >= 0 && ev[j] > v; j--) {
            ev[j + 1] = ev[j];
        }
        ev[j + 1] = v;
    }
    int cur = 0, most = 0;
    for (int i = 0; i < n; i++) {
        cur += (ev[i] & 1) ? 1 : -1;
        most = cur > most ? cur : most;
    }
    return most;
}

Test(esm, a_queue_mapping_starts_at_five_batches_and_maximum_concurrency_caps_it, .timeout = 180)
{
    fn("f", "sleep:300");
    fn("g", "sleep:300");
    queue("q", NULL);
    queue("q2", NULL);
    char u[37], u2[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                               "\"BatchSize\":1,\"Enabled\":false}"));
    cJSON_Delete(esm_create(u2, "{\"FunctionName\":\"g\",\"EventSourceArn\":\"queue:q2\","
                                "\"BatchSize\":1,\"Enabled\":false,\"ScalingConfig\":{"
                                "\"MaximumConcurrency\":2}}"));
    for (int i = 0; i < 20; i++) {
        char m[16];
        snprintf(m, sizeof(m), "m%d", i);
        send("q", m);
        send("q2", m);
    }
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u2));
    await_batches(u, 20);
    await_batches(u2, 20);
    int most = max_overlap("f"), most2 = max_overlap("g");
    cr_assert_leq(most, 5, "%d batches at once (start: 5)", most);
    cr_assert_geq(most, 3, "only %d batches at once", most);
    cr_assert_leq(most2, 2, "%d batches at once (MaximumConcurrency 2)", most2);
    cr_assert_eq(most2, 2, "%d batches at once", most2);
    /* a minute busy with messages waiting: it grows past five */
    fn("h", "sleep:500");
    queue("q3", NULL);
    char u3[37];
    cJSON_Delete(esm_create(u3, "{\"FunctionName\":\"h\",\"EventSourceArn\":\"queue:q3\","
                                "\"BatchSize\":1,\"Enabled\":false}"));
    for (int i = 0; i < 40; i++) {
        char m[16];
        snprintf(m, sizeof(m), "m%d", i);
        send("q3", m);
    }
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u3));
    lt_await_log(&b, "h", "START", 5);
    lt_clock_advance(&b, 61000);
    await_batches(u3, 40);
    int most3 = max_overlap("h");
    cr_assert_gt(most3, 5, "still %d batches at once after a busy minute", most3);
}

/* ---- streams ---- */

/* Put data (text) with key into stream s; its sequence number into seq
 * (may be NULL). */
static void put(const char *s, const char *key, const char *data, char seq[32])
{
    char d[1024];
    lt_base64(data, d);
    cJSON *r = lt_ok(&b, "stream-put",
                     "{\"StreamName\":\"%s\",\"PartitionKey\":\"%s\",\"Data\":\"%s\"}", s, key, d);
    if (seq != NULL) {
        snprintf(seq, 32, "%s", str(r, "SequenceNumber"));
    }
    cJSON_Delete(r);
}

static void stream(const char *name, int shards)
{
    cJSON_Delete(
        lt_ok(&b, "stream-create", "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name, shards));
}

/* The first message of queue q (its body parsed), waiting for it. */
static cJSON *first_message(const char *q)
{
    await_queue(q, 1, 0);
    cJSON *r = lt_ok(&b, "queue-receive",
                     "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":1,\"WaitTimeSeconds\":0}", q);
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "Messages"), 0);
    cr_assert_not_null(m);
    cJSON *body = cJSON_Parse(str(m, "Body"));
    cr_assert_not_null(body);
    cJSON_Delete(r);
    return body;
}

Test(esm, stream_records_arrive_in_order_as_kinesis_records_and_resume_after_a_restart)
{
    fn("f", NULL);
    lt_create(&b, "rec", "record", NULL);
    stream("s", 1);
    char u[37], u2[37], seq0[32];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":10}"));
    for (int i = 0; i < 25; i++) {
        char d[16];
        snprintf(d, sizeof(d), "r%02d", i);
        put("s", "k", d, i == 0 ? seq0 : NULL);
    }
    lt_await_log(&b, "f", "REC r24", 1);
    long last = -1;
    for (int i = 0; i < 25; i++) {
        char d[16];
        snprintf(d, sizeof(d), "REC r%02d\n", i);
        cr_assert_eq(log_count("f", d), 1, "%s", d);
        long p = log_pos("f", d);
        cr_assert_gt(p, last, "%s out of order", d);
        last = p;
    }
    /* the event's shape */
    cJSON_Delete(esm_create(u2, "{\"FunctionName\":\"rec\",\"EventSourceArn\":"
                                "\"arn:aws:kinesis:us-east-1:123456789012:stream/s\","
                                "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":1}"));
    lt_await_log(&b, "rec", "EVENT {\"Records\":[", 1);
    char *l = lt_function_log(&b, "rec");
    char *p = strstr(l, "EVENT ");
    *strchr(p, '\n') = '\0';
    cJSON *ev = cJSON_Parse(p + 6);
    cr_assert_not_null(ev);
    cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "Records"), 0);
    cJSON *k = cJSON_GetObjectItem(r, "kinesis");
    cr_assert_str_eq(str(k, "kinesisSchemaVersion"), "1.0");
    cr_assert_str_eq(str(k, "partitionKey"), "k");
    cr_assert_str_eq(str(k, "sequenceNumber"), seq0);
    cr_assert_str_eq(str(k, "data"), "cjAw"); /* base64 of r00 */
    cr_assert_gt(num(k, "approximateArrivalTimestamp"), 1e9);
    cr_assert_str_eq(str(r, "eventSource"), "aws:kinesis");
    cr_assert_str_eq(str(r, "eventVersion"), "1.0");
    cr_assert_str_eq(str(r, "eventName"), "aws:kinesis:record");
    char eid[64];
    snprintf(eid, sizeof(eid), "shardId-000000000000:%s", seq0);
    cr_assert_str_eq(str(r, "eventID"), eid);
    cr_assert_str_eq(str(r, "eventSourceARN"), "arn:lamina:kinesis:local:000000000000:stream/s");
    cr_assert_str_eq(str(r, "awsRegion"), "local");
    str(r, "invokeIdentityArn");
    cJSON_Delete(ev);
    free(l);
    cJSON_Delete(lt_ok(&b, "esm-delete", "{\"UUID\":\"%s\"}", u2));
    await_batches(u, 3);
    cJSON *g = esm_get(u);
    cr_assert_eq(num(cJSON_GetObjectItem(g, "Lag"), "MillisBehindLatest"), 0);
    cr_assert_str_eq(str(g, "LastProcessingResult"), "OK");
    cJSON_Delete(g);
    /* restart: on from the checkpoint */
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, clock_args);
    put("s", "k", "r25", NULL);
    lt_await_log(&b, "f", "REC r25", 1);
    cr_assert_eq(log_count("f", "REC r00\n"), 1, "read again after the restart");
    cr_assert_eq(log_count("f", "REC r24\n"), 1, "read again after the restart");
}

Test(esm, a_failing_stream_batch_blocks_its_shard_and_is_retried_then_reported)
{
    fn("f", "failbad");
    queue("of", NULL);
    stream("s", 1);
    char u[37], s1[32], s3[32];
    cJSON_Delete(
        esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                      "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":10,"
                      "\"MaximumRetryAttempts\":2,\"Enabled\":false,"
                      "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"queue:of\"}}}"));
    put("s", "k", "a1", s1);
    put("s", "k", "bad2", NULL);
    put("s", "k", "a3", s3);
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 1);
    put("s", "k", "a4", NULL); /* waits behind the failing batch */
    lt_clock_advance(&b, 1500);
    await_batches(u, 2);
    lt_clock_advance(&b, 2500);
    await_batches(u, 3); /* the third run: retries spent */
    lt_await_log(&b, "f", "REC a4", 1);
    cr_assert_eq(log_count("f", "BATCH n=3"), 3, "the same three records each time");
    cr_assert_eq(log_count("f", "REC a4"), 1);
    cr_assert_gt(log_pos("f", "REC a4"), 0);
    cJSON *r = first_message("of");
    cJSON *rq = cJSON_GetObjectItem(r, "requestContext");
    cr_assert_str_eq(str(rq, "condition"), "RetryAttemptsExhausted");
    cr_assert_eq(num(rq, "approximateInvokeCount"), 3);
    cr_assert_str_eq(str(rq, "functionArn"), "arn:lamina:lambda:local:000000000000:function:f");
    cr_assert_eq(strlen(str(rq, "requestId")), 36);
    cJSON *rs = cJSON_GetObjectItem(r, "responseContext");
    cr_assert_eq(num(rs, "statusCode"), 200);
    cr_assert_str_eq(str(rs, "executedVersion"), "$LATEST");
    cr_assert_str_eq(str(rs, "functionError"), "Handled");
    cr_assert_str_eq(str(r, "version"), "1.0");
    cr_assert(strchr(str(r, "timestamp"), 'T') != NULL);
    cr_assert_null(cJSON_GetObjectItem(r, "Records"), "records are not included");
    cJSON *kb = cJSON_GetObjectItem(r, "KinesisBatchInfo");
    cr_assert_str_eq(str(kb, "shardId"), "shardId-000000000000");
    cr_assert_str_eq(str(kb, "startSequenceNumber"), s1);
    cr_assert_str_eq(str(kb, "endSequenceNumber"), s3);
    cr_assert_eq(num(kb, "batchSize"), 3);
    cr_assert_str_eq(str(kb, "streamArn"), "arn:lamina:kinesis:local:000000000000:stream/s");
    cr_assert(strchr(str(kb, "approximateArrivalOfFirstRecord"), 'Z') != NULL);
    cr_assert(strchr(str(kb, "approximateArrivalOfLastRecord"), 'Z') != NULL);
    cJSON_Delete(r);
}

Test(esm, bisect_splits_a_failed_batch_without_spending_retries)
{
    fn("f", "failbad");
    stream("s", 1);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":10,"
                               "\"MaximumRetryAttempts\":0,\"BisectBatchOnFunctionError\":true,"
                               "\"Enabled\":false}"));
    put("s", "k", "a", NULL);
    put("s", "k", "b", NULL);
    put("s", "k", "bad", NULL);
    put("s", "k", "d", NULL);
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 5);
    lt_await_log(&b, "f", "BATCH", 5);
    /* [a b bad d] fails, [a b] passes, [bad d] fails, [bad] fails and is
     * discarded (no retries), [d] passes */
    char *l = lt_function_log(&b, "f");
    const char *want[] = {"BATCH n=4", "BATCH n=2", "BATCH n=2", "BATCH n=1", "BATCH n=1"};
    const char *p = l;
    for (int i = 0; i < 5; i++) {
        p = strstr(p, want[i]);
        cr_assert_not_null(p, "%s missing in order: %s", want[i], l);
        p += 6;
    }
    cr_assert_eq(lt_count(l, "REC bad"), 3);
    cr_assert_eq(lt_count(l, "REC d\n"), 3); /* in [a b bad d], [bad d] and [d] */
    free(l);
}

Test(esm, a_partial_stream_failure_checkpoints_before_the_lowest_reported_record)
{
    fn("f", "bif");
    stream("s", 1);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":10,"
                               "\"MaximumRetryAttempts\":1,\"FunctionResponseTypes\":["
                               "\"ReportBatchItemFailures\"],\"Enabled\":false}"));
    put("s", "k", "a", NULL);
    put("s", "k", "bad", NULL);
    put("s", "k", "c", NULL);
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 1);
    lt_clock_advance(&b, 1500);
    await_batches(u, 2); /* [bad c]: its first record failed again, retries spent */
    put("s", "k", "e", NULL);
    lt_await_log(&b, "f", "REC e", 1);
    cr_assert_eq(log_count("f", "REC a\n"), 1, "a was done: not read again");
    cr_assert_eq(log_count("f", "REC bad\n"), 2);
    cr_assert_eq(log_count("f", "REC c\n"), 2);
    cr_assert_eq(log_count("f", "BATCH n=3"), 1);
    cr_assert_eq(log_count("f", "BATCH n=2"), 1);
}

Test(esm, a_record_older_than_the_maximum_age_is_reported_and_passed)
{
    fn("f", "fail");
    queue("of", NULL);
    stream("s", 1);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":10,"
                               "\"MaximumRecordAgeInSeconds\":60,\"DestinationConfig\":{"
                               "\"OnFailure\":{\"Destination\":\"queue:of\"}}}"));
    put("s", "k", "old", NULL);
    await_batches(u, 1);
    lt_clock_advance(&b, 61000); /* the retry finds it too old: reported, not run again */
    cJSON *r = first_message("of");
    cr_assert_str_eq(str(cJSON_GetObjectItem(r, "requestContext"), "condition"),
                     "RecordAgeExceeded");
    cr_assert_eq(num(cJSON_GetObjectItem(r, "requestContext"), "approximateInvokeCount"), 1);
    cr_assert_eq(num(cJSON_GetObjectItem(r, "KinesisBatchInfo"), "batchSize"), 1);
    cJSON_Delete(r);
    cJSON *g = esm_get(u);
    cr_assert_str_eq(str(g, "LastProcessingResult"), "PROBLEM: Function call failed");
    cJSON_Delete(g);
}

Test(esm, a_record_already_too_old_when_read_is_reported_without_an_invoke)
{
    fn("f", "ok");
    queue("of2", NULL);
    stream("s2", 1);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s2\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"Enabled\":false,"
                               "\"MaximumRecordAgeInSeconds\":60,\"DestinationConfig\":{"
                               "\"OnFailure\":{\"Destination\":\"queue:of2\"}}}"));
    put("s2", "k", "stale", NULL);
    lt_clock_advance(&b, 61000);
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    cJSON *r = first_message("of2");
    const cJSON *rq = cJSON_GetObjectItem(r, "requestContext");
    cr_assert_str_eq(str(rq, "condition"), "RecordAgeExceeded");
    cr_assert_eq(num(rq, "approximateInvokeCount"), 0);
    cr_assert_null(cJSON_GetObjectItem(r, "responseContext"), "it never ran");
    cr_assert_eq(num(cJSON_GetObjectItem(r, "KinesisBatchInfo"), "batchSize"), 1);
    cJSON_Delete(r);
    /* a fresh record after it goes to the function: the stale one was passed over */
    put("s2", "k", "fresh", NULL);
    await_batches(u, 1);
    lt_await_log(&b, "f", "REC fresh", 1);
    cr_assert_eq(log_count("f", "REC stale"), 0, "the stale record reached the function");
}

Test(esm, starting_positions_trim_horizon_latest_and_at_timestamp)
{
    fn("th", NULL);
    fn("la", NULL);
    fn("at", NULL);
    stream("s", 1);
    put("s", "k", "before1", NULL);
    int64_t t = lt_clock_advance(&b, 10000);
    put("s", "k", "before2", NULL);
    lt_clock_advance(&b, 10000);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"th\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\"}"));
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"la\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"LATEST\"}"));
    cJSON_Delete(esm_create(u,
                            "{\"FunctionName\":\"at\",\"EventSourceArn\":\"stream:s\","
                            "\"StartingPosition\":\"AT_TIMESTAMP\","
                            "\"StartingPositionTimestamp\":%.3f}",
                            (double)t / 1000.0));
    put("s", "k", "after", NULL);
    lt_await_log(&b, "th", "REC after", 1);
    lt_await_log(&b, "la", "REC after", 1);
    lt_await_log(&b, "at", "REC after", 1);
    cr_assert_eq(log_count("th", "REC before1"), 1);
    cr_assert_eq(log_count("th", "REC before2"), 1);
    cr_assert_eq(log_count("la", "REC before"), 0);
    cr_assert_eq(log_count("at", "REC before1"), 0);
    cr_assert_eq(log_count("at", "REC before2"), 1);
}

Test(esm, a_resharded_stream_is_read_parent_before_children)
{
    fn("f", NULL);
    stream("s", 1);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":2,"
                               "\"Enabled\":false}"));
    for (int i = 0; i < 6; i++) {
        char k[16], d[16];
        snprintf(k, sizeof(k), "key-%d", i);
        snprintf(d, sizeof(d), "p%d", i);
        put("s", k, d, NULL);
    }
    cJSON_Delete(lt_ok(&b, "stream-split",
                       "{\"StreamName\":\"s\",\"ShardToSplit\":\"shardId-000000000000\","
                       "\"NewStartingHashKey\":\"170141183460469231731687303715884105728\"}"));
    for (int i = 0; i < 6; i++) {
        char k[16], d[16];
        snprintf(k, sizeof(k), "key-%d", i);
        snprintf(d, sizeof(d), "c%d", i);
        put("s", k, d, NULL);
    }
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    for (int i = 0; i < 6; i++) {
        char d[16];
        snprintf(d, sizeof(d), "REC c%d", i);
        lt_await_log(&b, "f", d, 1);
    }
    long last_parent = log_pos("f", "REC p5");
    cr_assert_geq(last_parent, 0);
    for (int i = 0; i < 6; i++) {
        char d[16];
        snprintf(d, sizeof(d), "REC c%d", i);
        cr_assert_gt(log_pos("f", d), last_parent, "%s before the parent's end", d);
    }
}

Test(esm, stream_filters_pass_over_records_and_a_disabled_mapping_resumes_at_its_checkpoint)
{
    fn("f", NULL);
    stream("s", 1);
    char u[37];
    cJSON_Delete(
        esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                      "\"StartingPosition\":\"TRIM_HORIZON\",\"FilterCriteria\":{\"Filters\":["
                      "{\"Pattern\":\"{\\\"data\\\":{\\\"t\\\":[\\\"x\\\"]}}\"},"
                      "{\"Pattern\":\"{\\\"partitionKey\\\":[\\\"vip\\\"]}\"}]}}"));
    put("s", "k", "{\"t\":\"x\",\"n\":1}", NULL);
    put("s", "k", "{\"t\":\"y\",\"n\":2}", NULL);
    put("s", "k", "not json x", NULL);
    put("s", "vip", "plain vip", NULL);
    lt_await_log(&b, "f", "REC plain vip", 1);
    cr_assert_eq(log_count("f", "REC "), 2, "only two records match");
    cJSON_Delete(lt_ok(&b, "esm-disable", "{\"UUID\":\"%s\"}", u));
    put("s", "vip", "while disabled", NULL);
    cJSON *g = esm_get(u);
    cr_assert_str_eq(str(g, "State"), "Disabled");
    cJSON_Delete(g);
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    lt_await_log(&b, "f", "REC while disabled", 1);
    cr_assert_eq(log_count("f", "REC plain vip"), 1, "read again after enabling");
}

/* ---- kill -9 ---- */

#define KILL_QUEUE_N 6000
#define KILL_STREAM_N 4000

/* Count each "REC <prefix>NNNNN" of f's log into seen[NNNNN]; the order of
 * first appearances into first (when not NULL). */
static void scan(const char *f, const char *prefix, int *seen, int n, int *first, int *n_first)
{
    char *l = lt_function_log(&b, f);
    char pat[16];
    snprintf(pat, sizeof(pat), "REC %s", prefix);
    size_t pl = strlen(pat);
    for (char *p = l; (p = strstr(p, pat)) != NULL; p += pl) {
        char *end;
        long id = strtol(p + pl, &end, 10);
        cr_assert(*end == '\n' && id >= 0 && id < n, "a record nobody sent: %.20s", p);
        if (seen[id]++ == 0 && first != NULL) {
            first[(*n_first)++] = (int)id;
        }
    }
    free(l);
}

static bool enough_batches(void *arg)
{
    (void)arg;
    return log_count("fq", "BATCH") >= 40 && log_count("fs", "BATCH") >= 5;
}

Test(esm, kill9_during_a_run_loses_and_skips_no_record, .timeout = 300)
{
    fn("fq", "slow:30"); /* logs after the sleep: a run the kill cut leaves no line */
    fn("fs", "slow:50");
    queue("q", NULL);
    stream("s", 1);
    /* the queue gets its ids in an order only this test knows */
    static int order[KILL_QUEUE_N];
    for (int i = 0; i < KILL_QUEUE_N; i++) {
        order[i] = i;
    }
    srand(14);
    for (int i = KILL_QUEUE_N - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < KILL_QUEUE_N; i += 10) {
        char args[2048];
        size_t o = (size_t)snprintf(args, sizeof(args), "{\"QueueName\":\"q\",\"Entries\":[");
        for (int k = 0; k < 10; k++) {
            o += (size_t)snprintf(args + o, sizeof(args) - o,
                                  "%s{\"Id\":\"e%d\",\"MessageBody\":\"q%05d\"}", k ? "," : "", k,
                                  order[i + k]);
        }
        snprintf(args + o, sizeof(args) - o, "]}");
        cJSON_Delete(lt_ok(&b, "queue-send-batch", "%s", args));
    }
    for (int i = 0; i < KILL_STREAM_N; i += 500) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "StreamName", "s");
        cJSON *rs = cJSON_AddArrayToObject(a, "Records");
        for (int k = 0; k < 500; k++) {
            char d[16], e64[32];
            snprintf(d, sizeof(d), "s%05d", i + k);
            lt_base64(d, e64);
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "Data", e64);
            cJSON_AddStringToObject(r, "PartitionKey", "k");
            cJSON_AddItemToArray(rs, r);
        }
        char *t = cJSON_PrintUnformatted(a);
        cJSON_Delete(a);
        lm_error e;
        cr_assert_eq(lt_call(&b, "stream-put-batch", t, NULL, &e), LM_OK, "%s", e.message);
        free(t);
    }
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"fq\",\"EventSourceArn\":\"queue:q\"}"));
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"fs\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":20}"));
    cr_assert(lt_wait_until(enough_batches, NULL, 60000));
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    lt_broker_kill(&b);
    int before = log_count("fq", "BATCH");
    cr_assert_lt(before * 10, KILL_QUEUE_N, "the run ended before the kill");
    cr_assert_lt(log_count("fs", "BATCH") * 20, KILL_STREAM_N, "the run ended before the kill");
    lt_broker_start_in(&b, state, clock_args);
    /* messages received before the kill come back after their timeout */
    lt_clock_advance(&b, 120000);
    await_queue("q", 0, 0);
    static int seen_q[KILL_QUEUE_N], seen_s[KILL_STREAM_N], first[KILL_STREAM_N];
    char last[16];
    snprintf(last, sizeof(last), "REC s%05d", KILL_STREAM_N - 1);
    lt_await_log(&b, "fs", last, 1);
    lt_await_log(&b, "fq", "BATCH", 1); /* the log is readable */
    await_queue("q", 0, 0);
    cr_assert_eq(qtotal("q"), 0);
    memset(seen_q, 0, sizeof(seen_q));
    scan("fq", "q", seen_q, KILL_QUEUE_N, NULL, NULL);
    for (int i = 0; i < KILL_QUEUE_N; i++) {
        cr_assert_geq(seen_q[i], 1, "queue message q%05d was never processed", i);
    }
    int n_first = 0;
    memset(seen_s, 0, sizeof(seen_s));
    scan("fs", "s", seen_s, KILL_STREAM_N, first, &n_first);
    cr_assert_eq(n_first, KILL_STREAM_N, "only %d of the stream's records were processed", n_first);
    for (int i = 0; i < KILL_STREAM_N; i++) {
        cr_assert_eq(first[i], i, "record s%05d processed first at place %d: one was skipped",
                     first[i], i);
    }
}

/* ---- the CLI ---- */

/* `lamina esm ARGS…`: its exit status; stdout into *out (freed by the caller). */
static int cli(char **out, const char *const *args)
{
    const char *argv[32] = {getenv("LAMINA_CLI_BIN")};
    int n = 1;
    for (; args[n - 1] != NULL && n < 31; n++) {
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    char *err = NULL;
    int rc = lt_run(&b, argv, out, &err);
    free(err);
    return rc;
}

Test(esm, the_cli_creates_lists_updates_and_deletes_mappings_with_typed_exit_codes)
{
    fn("f", NULL);
    queue("q", NULL);
    queue("of", NULL);
    stream("s", 1);
    char *out = NULL;
    int rc = cli(&out, (const char *const[]){
                           "-o", "json", "esm", "create", "--function", "f", "--source", "queue:q",
                           "--batch-size", "5", "--filter", "{\"body\":{\"k\":[1]}}",
                           "--report-batch-item-failures", "--max-concurrency", "4", NULL});
    cr_assert_eq(rc, 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    free(out);
    cr_assert_not_null(j);
    char u[37];
    snprintf(u, sizeof(u), "%s", str(j, "UUID"));
    cr_assert_eq(num(j, "BatchSize"), 5);
    cr_assert_eq(num(cJSON_GetObjectItem(j, "ScalingConfig"), "MaximumConcurrency"), 4);
    cJSON_Delete(j);
    rc = cli(&out, (const char *const[]){"esm", "create", "--function", "f", "--source", "stream:s",
                                         "--starting-position", "LATEST", "--max-retries", "3",
                                         "--bisect", "--on-failure", "queue:of", "--max-record-age",
                                         "3600", NULL});
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "BisectBatchOnFunctionError") != NULL, "%s", out);
    free(out);
    rc = cli(&out, (const char *const[]){"esm", "list", "--function", "f", NULL});
    cr_assert_eq(rc, 0);
    cr_assert_eq(lt_count(out, "\n"), 3, "a header and two mappings: %s", out);
    free(out);
    rc = cli(&out, (const char *const[]){"esm", "update", u, "--batch-size", "7", "--no-filters",
                                         "--disabled", NULL});
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    j = esm_get(u);
    cr_assert_eq(num(j, "BatchSize"), 7);
    cr_assert_str_eq(str(j, "State"), "Disabled");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "FilterCriteria"), "Filters"));
    cJSON_Delete(j);
    rc = cli(&out, (const char *const[]){"esm", "enable", u, NULL});
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "Enabled") != NULL, "%s", out);
    free(out);
    /* usage errors (2), the broker's checks (9), unknown mappings (3) */
    cr_assert_eq(cli(&out, (const char *const[]){"esm", "create", "--function", "f", NULL}), 2);
    free(out);
    cr_assert_eq(cli(&out, (const char *const[]){"esm", "get", NULL}), 2);
    free(out);
    cr_assert_eq(cli(&out, (const char *const[]){"esm", "frob", NULL}), 2);
    free(out);
    cr_assert_eq(cli(&out, (const char *const[]){"esm", "update", u, "--batch-size", "x", NULL}),
                 2);
    free(out);
    cr_assert_eq(
        cli(&out, (const char *const[]){"esm", "update", u, "--batch-size", "20000", NULL}), 9);
    free(out);
    cr_assert_eq(cli(&out, (const char *const[]){"esm", "get",
                                                 "00000000-0000-4000-8000-000000000000", NULL}),
                 3);
    free(out);
    cr_assert_eq(cli(&out, (const char *const[]){"esm", "delete", u, NULL}), 0);
    free(out);
    cr_assert_eq(cli(&out, (const char *const[]){"esm", "get", u, NULL}), 3);
    free(out);
}

Test(esm, malformed_arguments_get_typed_errors_and_the_broker_goes_on)
{
    fn("f", NULL);
    queue("q", NULL);
    stream("s", 1);
    const char *bad[] = {
        "{\"FunctionName\":5,\"EventSourceArn\":\"queue:q\"}",
        "{\"FunctionName\":\"\",\"EventSourceArn\":\"queue:q\"}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":7}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:\"}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:\",\"StartingPosition\":\"LATEST\"}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"arn:aws:kinesis:x:1:nostream\"}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FilterCriteria\":\"x\"}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FilterCriteria\":{\"Filters\":5}"
        "}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FilterCriteria\":{\"Filters\":[5]"
        "}}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FilterCriteria\":{\"Filters\":[{"
        "\"Pattern\":5}]}}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FilterCriteria\":{\"Filters\":[{"
        "\"Pattern\":\"[1,2]\"}]}}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FunctionResponseTypes\":\"x\"}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"FunctionResponseTypes\":[1]}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"ScalingConfig\":[]}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"ScalingConfig\":{"
        "\"MaximumConcurrency\":\"5\"}}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"BatchSize\":1e300}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\",\"BatchSize\":null}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":5}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":"
        "\"AT_TIMESTAMP\",\"StartingPositionTimestamp\":\"now\"}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
        "\"DestinationConfig\":5}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
        "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":5}}}",
        "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\",\"StartingPosition\":\"LATEST\","
        "\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"queue:\"}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_error(bad[i], "InvalidParameterValueException", NULL);
    }
    lm_error e;
    cr_assert_neq(lt_call(&b, "esm-create", NULL, NULL, &e), LM_OK);
    cr_assert_neq(lt_call(&b, "esm-update", "{\"UUID\":5}", NULL, &e), LM_OK);
    cr_assert_str_eq(e.type, "InvalidParameterValueException");
    cr_assert_eq(lt_call(&b, "esm-list", "{\"FunctionName\":7}", NULL, &e), LM_E_INVALID_PARAMETER);
    cr_assert_eq(lt_call(&b, "esm-list", "{\"EventSourceArn\":\"bucket:x\"}", NULL, &e),
                 LM_E_INVALID_PARAMETER);
    /* still serving */
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\"}"));
    send("q", "alive");
    lt_await_log(&b, "f", "REC alive", 1);
}

static bool in_flight(void *uuid)
{
    cJSON *g = esm_get(uuid);
    bool r = num(g, "BatchesInFlight") > 0;
    cJSON_Delete(g);
    return r;
}

Test(esm, parallelization_runs_lanes_of_a_shard_at_once_and_keeps_each_keys_order, .timeout = 180)
{
    fn("f", "sleep:300");
    stream("s", 1);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"stream:s\","
                               "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":1,"
                               "\"ParallelizationFactor\":4,\"Enabled\":false}"));
    for (int j = 0; j < 3; j++) {
        for (int k = 0; k < 8; k++) {
            char key[8], d[16];
            snprintf(key, sizeof(key), "k%d", k);
            snprintf(d, sizeof(d), "k%d-%d", k, j);
            put("s", key, d, NULL);
        }
    }
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    await_batches(u, 24);
    int most = max_overlap("f");
    cr_assert_geq(most, 2, "the shard's lanes never ran at once");
    cr_assert_leq(most, 4, "%d batches of one shard at once (ParallelizationFactor 4)", most);
    for (int k = 0; k < 8; k++) {
        long last = -1;
        for (int j = 0; j < 3; j++) {
            char d[24];
            snprintf(d, sizeof(d), "REC k%d-%d\n", k, j);
            cr_assert_eq(log_count("f", d), 1, "%s", d);
            long p = log_pos("f", d);
            cr_assert_gt(p, last, "key k%d out of order at %d", k, j);
            last = p;
        }
    }
    /* a batch running: the factor cannot change */
    fn("g", "sleep:3000");
    stream("s2", 1);
    char u2[37], args2[128];
    cJSON_Delete(esm_create(u2, "{\"FunctionName\":\"g\",\"EventSourceArn\":\"stream:s2\","
                                "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":1,"
                                "\"ParallelizationFactor\":2}"));
    put("s2", "k0", "slow", NULL);
    cr_assert(lt_wait_until(in_flight, u2, 30000), "the batch never ran");
    snprintf(args2, sizeof(args2), "{\"UUID\":\"%s\",\"ParallelizationFactor\":1}", u2);
    lm_error e;
    cr_assert_eq(lt_call(&b, "esm-update", args2, NULL, &e), LM_E_RESOURCE_IN_USE);
    cr_assert_str_eq(e.type, "ResourceInUseException");
    await_batches(u2, 1);
    cJSON_Delete(lt_ok(&b, "esm-update", "%s", args2));
    char args[128];
    snprintf(args, sizeof(args), "{\"UUID\":\"%s\",\"ParallelizationFactor\":1}", u);
    /* back to one lane: on from where the lanes were, nothing again */
    cJSON *j = lt_ok(&b, "esm-update", "%s", args);
    cr_assert_eq(num(j, "ParallelizationFactor"), 1);
    cJSON_Delete(j);
    put("s", "k5", "after", NULL);
    lt_await_log(&b, "f", "REC after", 1);
    cr_assert_eq(log_count("f", "REC k0-0\n"), 1, "read again after the factor changed");
    cr_assert_eq(log_count("f", "REC k7-2\n"), 1, "read again after the factor changed");
    /* and after a restart */
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, clock_args);
    put("s", "k6", "restarted", NULL);
    lt_await_log(&b, "f", "REC restarted", 1);
    cr_assert_eq(log_count("f", "REC after\n"), 1, "read again after the restart");
}

Test(esm, a_mapping_deleted_with_batches_running_leaves_their_messages_to_the_queue)
{
    fn("f", "sleep:1000");
    fn("g", NULL);
    queue("q", "\"VisibilityTimeout\":\"60\"");
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\","
                               "\"BatchSize\":1,\"Enabled\":false}"));
    for (int i = 0; i < 5; i++) {
        char m[8];
        snprintf(m, sizeof(m), "d%d", i);
        send("q", m);
    }
    cJSON_Delete(lt_ok(&b, "esm-enable", "{\"UUID\":\"%s\"}", u));
    cr_assert(lt_wait_until(in_flight, u, 30000));
    cJSON_Delete(lt_ok(&b, "esm-delete", "{\"UUID\":\"%s\"}", u));
    lt_await_log(&b, "f", "END", 5); /* the five batches ran to their end */
    cJSON *l = lt_ok(&b, "esm-list", "{}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(l, "EventSourceMappings")), 0);
    cJSON_Delete(l);
    /* nothing was deleted for a mapping that is gone: a new one gets them */
    char u2[37];
    cJSON_Delete(esm_create(u2, "{\"FunctionName\":\"g\",\"EventSourceArn\":\"queue:q\"}"));
    lt_clock_advance(&b, 61000);
    await_queue("q", 0, 0);
    for (int i = 0; i < 5; i++) {
        char m[16];
        snprintf(m, sizeof(m), "REC d%d\n", i);
        cr_assert_eq(log_count("g", m), 1, "%s", m);
    }
}

/* A store as an older broker left it (schema 2, before mappings): migrated in
 * place, and mappings work on it. */
Test(esm, an_older_store_gains_the_mapping_tables_on_start)
{
    lt_broker_stop(&b, false);
    char state[300], db_path[400];
    lt_old_store(LT_SCHEMA2_TABLES "INSERT INTO meta(key, value) VALUES('schema', '2');", state,
                 sizeof(state), db_path, sizeof(db_path));
    memset(&b, 0, sizeof(b));
    lt_broker_start_in(&b, state, clock_args);
    fn("f", NULL);
    queue("q", NULL);
    char u[37];
    cJSON_Delete(esm_create(u, "{\"FunctionName\":\"f\",\"EventSourceArn\":\"queue:q\"}"));
    lt_broker_stop(&b, true);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT (SELECT value FROM meta WHERE key='schema'),"
                                    " (SELECT count(*) FROM esm_mappings WHERE uuid=?1)",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, u, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "8");
    cr_assert_eq(sqlite3_column_int(st, 1), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    lt_broker_start_in(&b, state, clock_args);
    cJSON_Delete(esm_get(u));
}
