/*
 * tools/bench/esm.c — the event source mapping bench (see esm.h).  Each run
 * uses queues and a mapping of its own (names carry the pid and the batch
 * size) and deletes them afterwards.  Latency samples are nanoseconds
 * (hist.h), reported in microseconds; throughput is records per second.
 */
#include "esm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lamina/client.h>

#include "hist.h"
#include "load.h"

#define ESM_DIRECT_CALLERS 5 /* a mapping's starting concurrency */
#define ESM_DRAIN_TIMEOUT_NS UINT64_C(300000000000)

typedef struct esm_ctx {
    lm_client *c;
    const char *function;
    char *err;
    size_t errlen;
} esm_ctx;

static int call(esm_ctx *x, const char *op, const char *args, cJSON **out)
{
    lm_error e;
    char *reply = NULL;
    if (lm_call(x->c, op, args, NULL, 0, &reply, &e) != 0) {
        snprintf(x->err, x->errlen, "%s: %s: %.300s", op, e.type, e.message);
        return -1;
    }
    if (out != NULL) {
        *out = cJSON_Parse(reply);
    }
    free(reply);
    return 0;
}

/* Messages the queue still holds (visible, in flight or delayed); -1 on error. */
static long long held(esm_ctx *x, const char *q)
{
    char args[160];
    cJSON *r = NULL;
    snprintf(args, sizeof(args), "{\"QueueName\":\"%s\"}", q);
    if (call(x, "queue-get", args, &r) != 0) {
        return -1;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "Attributes");
    const char *names[] = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                           "ApproximateNumberOfMessagesDelayed"};
    long long n = 0;
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, names[i]);
        n += cJSON_IsString(v) ? atoll(v->valuestring) : 0;
    }
    cJSON_Delete(r);
    return n;
}

static int drain(esm_ctx *x, const char *q)
{
    uint64_t until = load_now_ns() + ESM_DRAIN_TIMEOUT_NS;
    long long n;
    while ((n = held(x, q)) != 0) {
        if (n < 0) {
            return -1;
        }
        if (load_now_ns() > until) {
            snprintf(x->err, x->errlen, "queue %s still holds %lld messages", q, n);
            return -1;
        }
        /* 1 ms: each look is a queue-get, which takes the store's write lock */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static char *body_of(size_t len, int i)
{
    char *b = malloc(len + 32);
    if (b != NULL) {
        int n = snprintf(b, len + 32, "m%08d-", i);
        memset(b + n, 'x', len > (size_t)n ? len - (size_t)n : 0);
        b[len > (size_t)n ? len : (size_t)n] = '\0';
    }
    return b;
}

static int fill(esm_ctx *x, const char *q, int records, size_t body_len)
{
    for (int i = 0; i < records; i += 10) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "QueueName", q);
        cJSON *en = cJSON_AddArrayToObject(a, "Entries");
        for (int k = 0; k < 10 && i + k < records; k++) {
            char id[16], *body = body_of(body_len, i + k);
            snprintf(id, sizeof(id), "e%d", k);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "Id", id);
            cJSON_AddStringToObject(o, "MessageBody", body != NULL ? body : "x");
            cJSON_AddItemToArray(en, o);
            free(body);
        }
        char *t = cJSON_PrintUnformatted(a);
        cJSON_Delete(a);
        int rc = t != NULL ? call(x, "queue-send-batch", t, NULL) : -1;
        free(t);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* Create queue q and a mapping of batch onto it (disabled when asked);
 * its UUID into uuid. */
static int setup(esm_ctx *x, const char *q, int batch, bool enabled, char uuid[40])
{
    char args[512];
    cJSON *r = NULL;
    snprintf(args, sizeof(args),
             "{\"QueueName\":\"%s\",\"Attributes\":{\"VisibilityTimeout\":"
             "\"120\"}}",
             q);
    if (call(x, "queue-create", args, NULL) != 0) {
        return -1;
    }
    snprintf(args, sizeof(args),
             "{\"FunctionName\":\"%s\",\"EventSourceArn\":\"queue:%s\",\"BatchSize\":%d,"
             "\"MaximumBatchingWindowInSeconds\":%d,\"Enabled\":%s}",
             x->function, q, batch, batch > 10 ? 1 : 0, enabled ? "true" : "false");
    if (call(x, "esm-create", args, &r) != 0) {
        return -1;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(r, "UUID");
    snprintf(uuid, 40, "%s", cJSON_IsString(u) ? u->valuestring : "");
    cJSON_Delete(r);
    return 0;
}

static void teardown(esm_ctx *x, const char *q, const char *uuid)
{
    char args[160];
    char *save = x->err;
    char scratch[256];
    x->err = scratch; /* best effort: keep the run's error */
    snprintf(args, sizeof(args), "{\"UUID\":\"%s\"}", uuid);
    call(x, "esm-delete", args, NULL);
    snprintf(args, sizeof(args), "{\"QueueName\":\"%s\"}", q);
    call(x, "queue-delete", args, NULL);
    x->err = save;
}

static double through_mapping(esm_ctx *x, int batch, int records, size_t body_len)
{
    char q[96], uuid[40], args[96];
    snprintf(q, sizeof(q), "bench-esm-%d-b%d", (int)getpid(), batch);
    if (setup(x, q, batch, false, uuid) != 0 || fill(x, q, records, body_len) != 0) {
        return -1;
    }
    snprintf(args, sizeof(args), "{\"UUID\":\"%s\"}", uuid);
    uint64_t t0 = load_now_ns();
    int rc = call(x, "esm-enable", args, NULL);
    rc = rc == 0 ? drain(x, q) : rc;
    uint64_t t1 = load_now_ns();
    teardown(x, q, uuid);
    return rc == 0 ? (double)records / ((double)(t1 - t0) / 1e9) : -1;
}

/* ---- directly: the same batches as sync invokes ---- */

typedef struct direct {
    esm_ctx *x;
    const char *payload;
    size_t len;
    atomic_int left;
    atomic_int failed;
} direct;

static void *direct_caller(void *arg)
{
    direct *d = arg;
    while (atomic_fetch_sub(&d->left, 1) > 0) {
        lm_invoke_params p = {
            .function = d->x->function, .payload = d->payload, .payload_len = d->len};
        lm_invoke_result r;
        lm_error e;
        if (lm_invoke(d->x->c, &p, &r, &e) != 0) {
            atomic_fetch_add(&d->failed, 1);
            continue;
        }
        lm_invoke_result_finish(&r);
    }
    return NULL;
}

/* {"Records":[…]} of batch SQS-shaped records with the bench's bodies. */
static char *direct_event(int batch, size_t body_len)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON *rs = cJSON_AddArrayToObject(ev, "Records");
    for (int i = 0; i < batch; i++) {
        char *body = body_of(body_len, i);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "messageId", "8f0e2c54-6a3b-4c1d-9e7f-0a1b2c3d4e5f");
        cJSON_AddStringToObject(r, "receiptHandle",
                                "AQEB0123456789abcdef0123456789abcdef0123456789abcdef01234567");
        cJSON_AddStringToObject(r, "body", body != NULL ? body : "x");
        cJSON *a = cJSON_AddObjectToObject(r, "attributes");
        cJSON_AddStringToObject(a, "ApproximateReceiveCount", "1");
        cJSON_AddStringToObject(a, "SentTimestamp", "1765090000000");
        cJSON_AddStringToObject(a, "SenderId", "000000000000");
        cJSON_AddStringToObject(a, "ApproximateFirstReceiveTimestamp", "1765090000001");
        cJSON_AddObjectToObject(r, "messageAttributes");
        cJSON_AddStringToObject(r, "md5OfBody", "0123456789abcdef0123456789abcdef");
        cJSON_AddStringToObject(r, "eventSource", "aws:sqs");
        cJSON_AddStringToObject(r, "eventSourceARN", "arn:lamina:sqs:local:000000000000:bench");
        cJSON_AddStringToObject(r, "awsRegion", "local");
        cJSON_AddItemToArray(rs, r);
        free(body);
    }
    char *t = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    return t;
}

static double directly(esm_ctx *x, int batch, int records, size_t body_len)
{
    direct d = {.x = x, .payload = direct_event(batch, body_len)};
    if (d.payload == NULL) {
        snprintf(x->err, x->errlen, "out of memory");
        return -1;
    }
    d.len = strlen(d.payload);
    int invokes = (records + batch - 1) / batch;
    atomic_init(&d.left, invokes);
    atomic_init(&d.failed, 0);
    pthread_t t[ESM_DIRECT_CALLERS];
    uint64_t t0 = load_now_ns();
    int started = 0;
    for (; started < ESM_DIRECT_CALLERS; started++) {
        if (pthread_create(&t[started], NULL, direct_caller, &d) != 0) {
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
    }
    uint64_t t1 = load_now_ns();
    free((char *)d.payload);
    if (started == 0 || atomic_load(&d.failed) > 0) {
        snprintf(x->err, x->errlen, "%d of %d direct invokes failed", atomic_load(&d.failed),
                 invokes);
        return -1;
    }
    return (double)invokes * batch / ((double)(t1 - t0) / 1e9);
}

/* ---- latency ---- */

static int latency(esm_ctx *x, int samples, size_t body_len, hist *h)
{
    char q[96], uuid[40];
    snprintf(q, sizeof(q), "bench-esm-%d-lat", (int)getpid());
    if (setup(x, q, 1, true, uuid) != 0) {
        return -1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < samples; i++) {
        char *body = body_of(body_len, i);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "QueueName", q);
        cJSON_AddStringToObject(a, "MessageBody", body != NULL ? body : "x");
        char *t = cJSON_PrintUnformatted(a);
        cJSON_Delete(a);
        free(body);
        uint64_t t0 = load_now_ns();
        rc = t != NULL ? call(x, "queue-send", t, NULL) : -1;
        free(t);
        rc = rc == 0 ? drain(x, q) : rc;
        if (rc == 0) {
            hist_record(h, load_now_ns() - t0);
        }
    }
    teardown(x, q, uuid);
    return rc;
}

int esm_bench_run(const char *state, const char *endpoint, const char *function, int batch,
                  int records, size_t body_len, int latency_samples, cJSON **out, char *err,
                  size_t errlen)
{
    esm_ctx x = {.function = function, .err = err, .errlen = errlen};
    lm_error e;
    *out = NULL;
    if (batch < 1 || batch > 10000 || records < batch) {
        snprintf(err, errlen, "batch size 1-10000 and at least one batch of records");
        return -1;
    }
    if (lm_client_open(&x.c, state, endpoint, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    lm_client_set_timeout(x.c, 60000);
    hist h;
    int rc = hist_init(&h);
    double esm = -1, dir = -1;
    if (rc == 0) {
        esm = through_mapping(&x, batch, records, body_len);
    }
    if (esm > 0) {
        dir = directly(&x, batch, records, body_len);
    }
    if (dir > 0 && latency_samples > 0) {
        rc = latency(&x, latency_samples, body_len, &h);
    }
    if (esm > 0 && dir > 0 && rc == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "function", function);
        cJSON_AddNumberToObject(o, "batch_size", batch);
        cJSON_AddNumberToObject(o, "records", records);
        cJSON_AddNumberToObject(o, "body_bytes", (double)body_len);
        cJSON_AddNumberToObject(o, "esm_records_s", esm);
        cJSON_AddNumberToObject(o, "direct_records_s", dir);
        cJSON_AddNumberToObject(o, "ratio", esm / dir);
        cJSON_AddNumberToObject(o, "direct_callers", ESM_DIRECT_CALLERS);
        cJSON *l = cJSON_AddObjectToObject(o, "send_to_done_us");
        cJSON_AddNumberToObject(l, "count", (double)hist_count(&h));
        cJSON_AddNumberToObject(l, "p50", (double)hist_percentile(&h, 50.0) / 1000.0);
        cJSON_AddNumberToObject(l, "p99", (double)hist_percentile(&h, 99.0) / 1000.0);
        cJSON_AddNumberToObject(l, "max", (double)hist_max(&h) / 1000.0);
        *out = o;
    }
    hist_finish(&h);
    lm_client_destroy(x.c);
    return *out != NULL ? 0 : -1;
}
