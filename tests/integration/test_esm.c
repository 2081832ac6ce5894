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

#include "harness.h"

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
