/*
 * tools/bench/queue.c — the queue target (see queue.h).  Request bodies
 * are 'x' padding (valid SQS characters, no JSON escaping needed); the
 * latency body starts "lamina-bench NONCE SEND_NS " so a receiver can tell
 * this run's messages and their send time (CLOCK_MONOTONIC of this
 * process, so only this process's callers can read it).  Replies are
 * parsed with cJSON; receipt handles are put back into JSON by cJSON too.
 */
#include "queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "classify.h"

#define QUEUE_LONG_POLL_S 20
#define QUEUE_FILL_CALLERS 16
#define QUEUE_HEADER_MAX 96 /* "lamina-bench NONCE SEND_NS ": about 50 bytes */

static const char *const op_names[] = {"send", "receive", "latency", "get"};

int queue_op_parse(const char *s, queue_op *op)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, op_names[i]) == 0) {
            *op = (queue_op)i;
            return 0;
        }
    }
    return -1;
}

const char *queue_op_name(queue_op op)
{
    return (unsigned)op < 4 ? op_names[op] : "?";
}

bool queue_name_valid(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= QUEUE_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* A string attribute of queue-get's reply as a count (SQS gives strings). */
static uint64_t attr_count(const cJSON *attrs, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    if (cJSON_IsString(v)) {
        return strtoull(v->valuestring, NULL, 10);
    }
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

/* Visible (and, with all, in flight and delayed) messages; -1 on error. */
static int queue_depth(queue_target *qt, bool all, uint64_t *out, char *err, size_t errlen)
{
    char *reply = NULL;
    lm_error e;
    if (lm_call(qt->client, "queue-get", qt->name_args, NULL, 0, &reply, &e) != 0) {
        snprintf(err, errlen, "queue-get %s: %s", qt->name, e.message);
        return -1;
    }
    cJSON *j = cJSON_Parse(reply);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "Attributes");
    *out = attr_count(a, "ApproximateNumberOfMessages");
    if (all) {
        *out += attr_count(a, "ApproximateNumberOfMessagesNotVisible") +
                attr_count(a, "ApproximateNumberOfMessagesDelayed");
    }
    cJSON_Delete(j);
    free(reply);
    return 0;
}

static int create_queue(queue_target *qt, char *err, size_t errlen)
{
    lm_error e;
    int rc = lm_call(qt->client, "queue-create", qt->name_args, NULL, 0, NULL, &e);
    if (rc != 0 && rc != LM_E_QUEUE_ALREADY_EXISTS) {
        snprintf(err, errlen, "queue-create %s: %s", qt->name, e.message);
        return -1;
    }
    return 0;
}

/* {"QueueName":"NAME","MessageBody":"xxx..."} with a body of len bytes. */
static char *send_args(const char *name, size_t len)
{
    char *p = malloc(len + QUEUE_NAME_MAX + 64);
    if (p == NULL) {
        return NULL;
    }
    int k = sprintf(p, "{\"QueueName\":\"%s\",\"MessageBody\":\"", name);
    memset(p + k, 'x', len);
    strcpy(p + (size_t)k + len, "\"}");
    return p;
}

int queue_target_open(queue_target *qt, const char *state_dir, const char *endpoint,
                      const char *name, queue_op op, size_t body_len, int timeout_ms, char *err,
                      size_t errlen)
{
    lm_error e;
    uint64_t depth = 0;
    memset(qt, 0, sizeof(*qt));
    if (!queue_name_valid(name)) {
        snprintf(err, errlen, "'%s' is not a standard queue name (1-80 of A-Z a-z 0-9 _ -)", name);
        return -1;
    }
    if (lm_client_open(&qt->client, state_dir, endpoint, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    /* A long poll must be able to run its 20 s before the client gives up. */
    int floor_ms = (QUEUE_LONG_POLL_S + 5) * 1000;
    lm_client_set_timeout(qt->client,
                          op == QUEUE_LATENCY && timeout_ms < floor_ms ? floor_ms : timeout_ms);
    snprintf(qt->name, sizeof(qt->name), "%s", name);
    qt->op = op;
    qt->body_len = body_len < 1 ? 1 : body_len;
    qt->timeout_ms = timeout_ms;
    snprintf(qt->name_args, sizeof(qt->name_args), "{\"QueueName\":\"%s\"}", name);
    snprintf(qt->recv_args, sizeof(qt->recv_args),
             "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":%d,\"WaitTimeSeconds\":%d}", name,
             op == QUEUE_LATENCY ? 1 : 10, op == QUEUE_LATENCY ? QUEUE_LONG_POLL_S : 0);
    snprintf(qt->nonce, sizeof(qt->nonce), "%ld-%" PRIu64, (long)getpid(), load_now_ns());
    if (create_queue(qt, err, errlen) != 0) {
        goto fail;
    }
    if (op == QUEUE_SEND && (qt->send_args = send_args(name, qt->body_len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (op == QUEUE_LATENCY) {
        if (queue_depth(qt, true, &depth, err, errlen) != 0) {
            goto fail;
        }
        if (depth != 0) {
            snprintf(err, errlen,
                     "queue %s holds %" PRIu64 " messages; --op latency needs it empty (a "
                     "message ahead of ours would be timed): purge it or name another queue",
                     name, depth);
            goto fail;
        }
    }
    return 0;
fail:
    queue_target_close(qt);
    return -1;
}

void queue_target_close(queue_target *qt)
{
    lm_client_destroy(qt->client);
    qt->client = NULL;
    free(qt->send_args);
    qt->send_args = NULL;
}

/* ---- requests ----------------------------------------------------------- */

static int delete_message(queue_target *qt, const cJSON *msg, load_outcome *o)
{
    lm_error e;
    const cJSON *rh = cJSON_GetObjectItemCaseSensitive(msg, "ReceiptHandle");
    if (!cJSON_IsString(rh)) {
        snprintf(o->err_class, sizeof(o->err_class), "queue:bad-reply");
        return -1;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "QueueName", qt->name);
    cJSON_AddStringToObject(a, "ReceiptHandle", rh->valuestring);
    char *args = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    int rc = args != NULL ? lm_call(qt->client, "queue-delete-message", args, NULL, 0, NULL, &e)
                          : LM_E_NOMEM;
    free(args);
    if (rc != 0) {
        classify_call_error(rc, &e, "queue_delete", o);
        return -1;
    }
    return 0;
}

/* queue-receive; the parsed reply in *out (caller deletes), or -1 with
 * the class in o. */
static int receive(queue_target *qt, cJSON **out, load_outcome *o)
{
    char *reply = NULL;
    lm_error e;
    int rc = lm_call(qt->client, "queue-receive", qt->recv_args, NULL, 0, &reply, &e);
    if (rc != 0) {
        classify_call_error(rc, &e, "queue", o);
        return -1;
    }
    *out = cJSON_Parse(reply);
    free(reply);
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(*out, "Messages"))) {
        cJSON_Delete(*out);
        *out = NULL;
        snprintf(o->err_class, sizeof(o->err_class), "queue:bad-reply");
        return -1;
    }
    return 0;
}

static void queue_send(void *arg, load_outcome *o)
{
    queue_target *qt = arg;
    lm_error e;
    int rc = lm_call(qt->client, "queue-send", qt->send_args, NULL, 0, NULL, &e);
    if (rc != 0) {
        classify_call_error(rc, &e, "queue", o);
        return;
    }
    o->ok = true;
}

static void queue_get(void *arg, load_outcome *o)
{
    queue_target *qt = arg;
    lm_error e;
    char *reply = NULL;
    int rc = lm_call(qt->client, "queue-get", qt->name_args, NULL, 0, &reply, &e);
    free(reply);
    if (rc != 0) {
        classify_call_error(rc, &e, "queue", o);
        return;
    }
    o->ok = true;
}

static void queue_receive(void *arg, load_outcome *o)
{
    queue_target *qt = arg;
    cJSON *j = NULL;
    if (receive(qt, &j, o) != 0) {
        return;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "Messages");
    const cJSON *m;
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) {
        snprintf(o->err_class, sizeof(o->err_class), "queue_empty");
        goto cleanup;
    }
    cJSON_ArrayForEach(m, msgs)
    {
        if (delete_message(qt, m, o) != 0) {
            goto cleanup;
        }
    }
    o->ok = true;
    o->items = (uint32_t)n;
cleanup:
    cJSON_Delete(j);
}

/* The send time in a latency body of this run; 0 if it is not one. */
static uint64_t body_send_ns(const queue_target *qt, const cJSON *msg)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(msg, "Body");
    char nonce[sizeof(qt->nonce)];
    uint64_t t = 0;
    if (!cJSON_IsString(b) ||
        sscanf(b->valuestring, "lamina-bench %31s %" SCNu64, nonce, &t) != 2 ||
        strcmp(nonce, qt->nonce) != 0) {
        return 0;
    }
    return t;
}

/* Long-poll until a message arrives or the request timeout runs out. */
static void queue_latency(void *arg, load_outcome *o)
{
    queue_target *qt = arg;
    lm_error e;
    char body[QUEUE_HEADER_MAX];
    char *args = malloc(qt->body_len + QUEUE_NAME_MAX + QUEUE_HEADER_MAX + 64);
    cJSON *j = NULL;
    if (args == NULL) {
        snprintf(o->err_class, sizeof(o->err_class), "out_of_memory");
        return;
    }
    uint64_t t0 = load_now_ns();
    int h = snprintf(body, sizeof(body), "lamina-bench %s %" PRIu64 " ", qt->nonce, t0);
    size_t pad = qt->body_len > (size_t)h ? qt->body_len - (size_t)h : 0;
    int k = sprintf(args, "{\"QueueName\":\"%s\",\"MessageBody\":\"%s", qt->name, body);
    memset(args + k, 'x', pad);
    strcpy(args + (size_t)k + pad, "\"}");
    int rc = lm_call(qt->client, "queue-send", args, NULL, 0, NULL, &e);
    if (rc != 0) {
        classify_call_error(rc, &e, "queue", o);
        goto cleanup;
    }
    for (;;) {
        if (receive(qt, &j, o) != 0) {
            goto cleanup;
        }
        uint64_t t1 = load_now_ns();
        const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "Messages"), 0);
        if (m != NULL) {
            uint64_t sent = body_send_ns(qt, m);
            if (sent == 0) {
                snprintf(o->err_class, sizeof(o->err_class), "queue:foreign-message");
                goto cleanup;
            }
            if (delete_message(qt, m, o) == 0) {
                o->ok = true;
                o->latency_ns = t1 > sent ? t1 - sent : 1;
            }
            goto cleanup;
        }
        cJSON_Delete(j);
        j = NULL;
        if (t1 - t0 >= (uint64_t)qt->timeout_ms * 1000000u) {
            snprintf(o->err_class, sizeof(o->err_class), "queue:no-message");
            goto cleanup;
        }
    }
cleanup:
    cJSON_Delete(j);
    free(args);
}

load_target queue_target_view(queue_target *qt)
{
    load_target t = {.label = "lamina", .arg = qt};
    switch (qt->op) {
    case QUEUE_SEND: t.send_one = queue_send; break;
    case QUEUE_RECEIVE: t.send_one = queue_receive; break;
    case QUEUE_LATENCY: t.send_one = queue_latency; break;
    case QUEUE_GET: t.send_one = queue_get; break;
    }
    return t;
}

/* ---- prefill ------------------------------------------------------------ */

typedef struct fill {
    queue_target *qt;
    char *args; /* queue-send-batch of 10 */
} fill;

static void fill_one(void *arg, load_outcome *o)
{
    fill *f = arg;
    lm_error e;
    char *reply = NULL;
    int rc = lm_call(f->qt->client, "queue-send-batch", f->args, NULL, 0, &reply, &e);
    if (rc != 0) {
        classify_call_error(rc, &e, "queue", o);
        return;
    }
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    o->ok = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "Failed")) == 0;
    if (!o->ok) {
        snprintf(o->err_class, sizeof(o->err_class), "queue:batch-entry-failed");
    }
    cJSON_Delete(j);
}

static char *batch_args(const queue_target *qt)
{
    char *p = malloc(10 * (qt->body_len + 64) + QUEUE_NAME_MAX + 64);
    if (p == NULL) {
        return NULL;
    }
    size_t k = (size_t)sprintf(p, "{\"QueueName\":\"%s\",\"Entries\":[", qt->name);
    for (int i = 0; i < 10; i++) {
        k += (size_t)sprintf(p + k, "%s{\"Id\":\"m%d\",\"MessageBody\":\"", i ? "," : "", i);
        memset(p + k, 'x', qt->body_len);
        k += qt->body_len;
        k += (size_t)sprintf(p + k, "\"}");
    }
    strcpy(p + k, "]}");
    return p;
}

int queue_prefill(queue_target *qt, uint64_t depth, char *err, size_t errlen)
{
    uint64_t have = 0;
    load_stats st;
    fill f = {.qt = qt};
    int rc = -1;
    if (queue_depth(qt, false, &have, err, errlen) != 0) {
        return -1;
    }
    if (have >= depth) {
        return 0;
    }
    if (load_stats_init(&st) != 0 || (f.args = batch_args(qt)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    load_target t = {.label = "prefill", .arg = &f, .send_one = fill_one};
    load_shape s = {.concurrency = QUEUE_FILL_CALLERS, .requests = (depth - have + 9) / 10};
    if (load_run(&t, &s, &st, err, errlen) != 0) {
        goto cleanup;
    }
    if (st.failed != 0) {
        snprintf(err, errlen, "prefill of %s: %" PRIu64 " of %" PRIu64 " send-batch calls failed",
                 qt->name, st.failed, st.requests);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(f.args);
    load_stats_finish(&st);
    return rc;
}
