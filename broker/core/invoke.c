/*
 * broker/core/invoke.c — starting invocations and finishing them: resolve
 * the function, apply limits and throttling, hand the invocation to the
 * pool, and when it ends write its log record and tell the owner how it
 * ended (invoke_outcome: status, executed version, function error,
 * payload, durations, log tail).  Who the owner is — an api caller through
 * front/ops.c, an async event through async/asyncq.c — is not known here:
 * every invocation has a completion (invoke_done_fn), and the way in
 * encodes its own reply from the outcome.
 *
 * Concurrency (admit): a function's reserved concurrency caps its
 * invocations queued or running (function.inflight) and throttles past it
 * with Lambda's Reason ReservedFunctionConcurrentInvocationLimitExceeded;
 * functions without one share --max-concurrency less what is reserved
 * (B.unreserved_inflight), and past that or the limit itself the Reason is
 * ConcurrentInvocationLimitExceeded.  Each invocation remembers which pool
 * it took from, so changing a reservation while it runs frees the right one.
 *
 * invoke_validate holds the rules a request must meet before anything
 * runs (bad parameters, payload not JSON or too large).  Names follow
 * Lambda's patterns (proto/names.c); a payload must be JSON text: UTF-8,
 * no raw NUL or control character in a string (proto/text.c), then
 * cJSON's syntax check — for Event invokes as for RequestResponse.  The
 * request message is kept alive for the whole invocation: the payload is
 * used in place (msgpack strings point into it), never copied.
 *
 * Log of an invocation (Lambda's text format):
 *   START RequestId: <id> Version: <v>
 *   <handler output>
 *   END RequestId: <id>
 *   REPORT RequestId: <id>\tDuration: …\tBilled Duration: …\tMemory Size: …
 *          \tMax Memory Used: …\t[Init Duration: …\t]
 * The runtime sends the handler's output (capped at 256 KB) with its
 * result, so the whole record goes to <state>/logs/<function>.log in one
 * piece, and its last 4 KB, base64, to the owner when opts.tail asks.
 * A worker that dies mid-invocation sends no result: its record holds what
 * the runtime had pushed to the logs socket before it died.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/core.h"

#define TAIL_BYTES 4096

int invoke_parse_name(const char *fn, size_t fnlen, const char *q, size_t qlen,
                      char name[NAME_MAX_LEN + 1], char qual[130], lm_error *e)
{
    return proto_parse_function_ref(fn, fnlen, q, qlen, name, qual, e); /* proto/names.c */
}

/* The invocation is ending: its owner's handle goes, and a CHUNK still
 * waiting for its ack is released (the worker is dead or dying).  B.mtx
 * held, before done is called. */
static void stream_end(invocation *inv)
{
    if (inv->handle != NULL) {
        *inv->handle = NULL;
        inv->handle = NULL;
    }
    if (inv->chunk_ctx != NULL) {
        work_release(inv->chunk_ctx);
        inv->chunk_ctx = NULL;
    }
}

bool invoke_stream_chunk(invocation *inv, work_ctx *ctx, const void *prelude, size_t prelude_len,
                         const void *data, size_t len)
{
    if (inv->chunk == NULL || inv->chunk_ctx != NULL || len > PROTO_STREAM_CHUNK_MAX ||
        prelude_len > PROTO_STREAM_PRELUDE_MAX || (prelude != NULL && inv->streamed > 0) ||
        len > PROTO_MAX_STREAM_RESPONSE - inv->streamed) {
        return false;
    }
    inv->streamed += len;
    if (inv->chunk(inv->done_arg, inv->cfg->version, prelude, prelude_len, data, len) == 0) {
        inv->chunk_ctx = ctx; /* answered by invoke_stream_ack */
        return true;
    }
    nng_msg *gone = proto_op_msg("gone");
    work_reply(ctx, gone); /* NULL: released, and the runtime's timeout ends it */
    return true;
}

void invoke_stream_ack(invocation *const *handle, bool more)
{
    pthread_mutex_lock(&B.mtx);
    invocation *inv = *handle;
    if (inv != NULL && inv->chunk_ctx != NULL) {
        work_ctx *c = inv->chunk_ctx;
        inv->chunk_ctx = NULL;
        work_reply(c, proto_op_msg(more ? "ack" : "gone"));
    }
    pthread_mutex_unlock(&B.mtx);
}

static void inv_free(invocation *inv)
{
    nng_msg_free(inv->req);
    free(inv->client_context);
    fncfg_unref(inv->cfg);
    free(inv);
}

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*buf == NULL) {
        return;
    }
    if (*len + n + 1 > *cap) {
        size_t nc = (*len + n + 1) * 2;
        char *nb = realloc(*buf, nc);
        if (nb == NULL) {
            free(*buf);
            *buf = NULL;
            return;
        }
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

typedef struct outcome {
    const char *ferr; /* NULL, "Handled", "Unhandled" */
    const void *payload;
    size_t payload_len;
    const char *handler_log;
    size_t handler_log_len;
    const char *platform_error; /* extra log line for platform errors */
    double dur_ms;
    int64_t maxrss_mb;
    double init_ms; /* 0 when warm */
} outcome;

/* The invocation's whole log text (malloc'd). */
static char *build_log(const invocation *inv, const outcome *o, size_t *len)
{
    size_t cap = 512 + o->handler_log_len, n = 0;
    char *buf = malloc(cap);
    char line[512];
    if (buf == NULL) {
        return NULL;
    }
    buf[0] = '\0';
    int k = snprintf(line, sizeof(line), "START RequestId: %s Version: %s\n", inv->rid,
                     inv->cfg->version);
    append(&buf, &n, &cap, line, (size_t)k);
    append(&buf, &n, &cap, o->handler_log, o->handler_log_len);
    if (o->handler_log_len > 0 && o->handler_log[o->handler_log_len - 1] != '\n') {
        append(&buf, &n, &cap, "\n", 1);
    }
    if (o->platform_error != NULL) {
        append(&buf, &n, &cap, o->platform_error, strlen(o->platform_error));
        append(&buf, &n, &cap, "\n", 1);
    }
    k = snprintf(line, sizeof(line), "END RequestId: %s\n", inv->rid);
    append(&buf, &n, &cap, line, (size_t)k);
    k = snprintf(line, sizeof(line),
                 "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\t"
                 "Memory Size: %u MB\tMax Memory Used: %lld MB\t",
                 inv->rid, o->dur_ms, ceil(o->dur_ms), inv->cfg->memory_mb,
                 (long long)o->maxrss_mb);
    append(&buf, &n, &cap, line, (size_t)k);
    if (o->init_ms > 0) {
        k = snprintf(line, sizeof(line), "Init Duration: %.2f ms\t", o->init_ms);
        append(&buf, &n, &cap, line, (size_t)k);
    }
    if (B.opt.unsafe_no_sandbox) {
        const char *u = "Sandbox: DISABLED (unsafe)\t";
        append(&buf, &n, &cap, u, strlen(u));
    }
    append(&buf, &n, &cap, "\n", 1);
    *len = n;
    return buf;
}

const double fn_duration_bounds[FN_DURATION_BUCKETS - 1] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300};

/* The counters of the invocation's function (B.mtx held), or NULL when it
 * is gone. */
static fn_stats *stats_of(const invocation *inv)
{
    function *f = inv->cfg != NULL ? registry_find(inv->cfg->name) : NULL;
    return f != NULL ? &f->stats : NULL;
}

static void count_finish(invocation *inv, const outcome *o)
{
    fn_stats *s = stats_of(inv);
    if (s == NULL) {
        return;
    }
    if (inv->state == INV_RUNNING && s->running > 0) {
        s->running--;
    }
    s->invocations++;
    if (o->ferr != NULL && strcmp(o->ferr, "Handled") == 0) {
        s->errors_handled++;
    } else if (o->ferr != NULL) {
        s->errors_unhandled++;
        if (o->platform_error != NULL && strstr(o->platform_error, "Sandbox.Timedout") != NULL) {
            s->timeouts++;
        }
    }
    if (o->init_ms > 0) {
        s->cold_starts++;
    }
    double d = o->dur_ms / 1000.0;
    int b = 0;
    while (b < FN_DURATION_BUCKETS - 1 && d > fn_duration_bounds[b]) {
        b++;
    }
    s->dur_buckets[b]++;
    s->dur_sum_s += d;
}

/* Give back the concurrency an invocation held (B.mtx held). */
static void release_slot(const invocation *inv)
{
    function *f = inv->cfg != NULL ? registry_find(inv->cfg->name) : NULL;
    if (f != NULL && f->inflight > 0) {
        f->inflight--;
    }
    if (inv->unreserved && B.unreserved_inflight > 0) {
        B.unreserved_inflight--;
    }
    B.inflight--;
}

/* Tell the invocation's owner how it ended and free it.  B.mtx held. */
static void finish(invocation *inv, const outcome *o)
{
    count_finish(inv, o);
    size_t loglen = 0;
    char *log = build_log(inv, o, &loglen);
    char *tail = NULL;
    if (log != NULL) {
        fnlog_write(inv->cfg->name, log, loglen);
        if (inv->tail) {
            size_t off = loglen > TAIL_BYTES ? loglen - TAIL_BYTES : 0;
            tail = util_base64(log + off, loglen - off);
        }
    }
    free(log);
    invoke_outcome io = {.code = LM_OK,
                         .status = 200,
                         .version = inv->cfg->version,
                         .ferr = o->ferr,
                         .payload = o->payload,
                         .payload_len = o->payload_len,
                         .rid = inv->rid,
                         .init_ms = o->init_ms,
                         .dur_ms = o->dur_ms,
                         .log_tail = tail,
                         .dead_letter = inv->cfg->dead_letter != NULL ? inv->cfg->dead_letter : ""};
    release_slot(inv);
    inv->state = INV_DONE;
    stream_end(inv);
    inv->done(inv->done_arg, &io);
    free(tail);
    inv_free(inv);
}

void invoke_complete_result(invocation *inv, const msgpack_object *res, worker *w)
{
    outcome o = {0};
    proto_result r; /* proto/workmsg.c: a worker's bytes, read with defaults */
    proto_read_result(res, &r);
    o.ferr = r.ferr;
    o.payload = r.payload;
    o.payload_len = r.payload_len;
    o.handler_log = r.log;
    o.handler_log_len = r.log_len;
    o.dur_ms = r.dur_ms;
    o.maxrss_mb = r.maxrss_mb;
    w->maxrss_mb = o.maxrss_mb;
    if (!w->init_reported) {
        o.init_ms = w->init_ms;
        w->init_reported = true;
    }
    finish(inv, &o);
}

static char *error_payload(const char *type, const char *msg, size_t *len)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "errorType", type);
    cJSON_AddStringToObject(j, "errorMessage", msg);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    *len = s != NULL ? strlen(s) : 0;
    return s;
}

void invoke_fail_unhandled(invocation *inv, const char *type, const char *msg)
{
    outcome o = {0};
    size_t plen = 0;
    char *payload = error_payload(type, msg, &plen);
    char line[600];
    snprintf(line, sizeof(line), "%s\t%s", msg, type);
    o.ferr = "Unhandled";
    o.payload = payload != NULL ? payload : "null";
    o.payload_len = payload != NULL ? plen : 4;
    o.handler_log = inv->logbuf;
    o.handler_log_len = inv->loglen;
    o.platform_error = line;
    o.dur_ms = inv->started_at > 0 ? clk_mono_ms() - inv->started_at : 0;
    o.maxrss_mb = inv->w != NULL ? inv->w->maxrss_mb : 0; /* best known peak */
    if (inv->w != NULL && !inv->w->init_reported && inv->w->init_ms > 0) {
        o.init_ms = inv->w->init_ms;
        inv->w->init_reported = true;
    }
    finish(inv, &o);
    free(payload);
}

void invoke_fail_error(invocation *inv, const lm_error *e)
{
    fn_stats *s = stats_of(inv);
    if (s != NULL && inv->state == INV_RUNNING && s->running > 0) {
        s->running--;
    }
    if (s != NULL && e->code == LM_E_THROTTLED) {
        s->throttles++;
    }
    release_slot(inv);
    inv->state = INV_DONE;
    invoke_outcome io = {.err = e,
                         .code = e->code,
                         .status = e->status,
                         .version = "",
                         .payload = e->message,
                         .payload_len = strlen(e->message),
                         .rid = inv->rid,
                         .dead_letter = inv->cfg != NULL && inv->cfg->dead_letter != NULL
                                            ? inv->cfg->dead_letter
                                            : ""};
    stream_end(inv);
    inv->done(inv->done_arg, &io);
    inv_free(inv);
}

static void enqueue(invocation *inv, fn_config *target, const char *name, const char *qual);

/* Concurrency (B.mtx held): a function with reserved concurrency runs at
 * most that many invocations at once (0: none); the others share what no
 * function reserved, and the account limit caps them all. */
static int admit(const function *f, lm_error *e)
{
    if (f->reserved >= 0 && f->inflight >= f->reserved) {
        return proto_error(
            e, LM_E_THROTTLED,
            "Rate Exceeded. (Reason: ReservedFunctionConcurrentInvocationLimitExceeded,"
            " reserved %d)",
            f->reserved);
    }
    if (B.inflight >= B.opt.max_concurrency ||
        (f->reserved < 0 && B.unreserved_inflight >= B.opt.max_concurrency - B.reserved_total)) {
        return proto_error(e, LM_E_THROTTLED,
                           "Rate Exceeded. (Reason: ConcurrentInvocationLimitExceeded, limit %d)",
                           B.opt.max_concurrency);
    }
    return LM_OK;
}

/* What invoke_validate reads. */
typedef struct invoke_in {
    int64_t type;
    const void *payload;
    size_t payload_len;
    size_t cclen;
} invoke_in;

int invoke_validate(int64_t type, const void *payload, size_t payload_len, size_t cc_len,
                    lm_error *e)
{
    const invoke_in in = {
        .type = type, .payload = payload, .payload_len = payload_len, .cclen = cc_len};
    const invoke_in *r = &in;
    if (r->type == PROTO_INVOKE_EVENT && r->payload_len > INVOKE_MAX_EVENT_PAYLOAD) {
        return proto_error(e, LM_E_TOO_LARGE,
                           "%zu byte payload is too large for the Event invocation type "
                           "(limit %u bytes)",
                           r->payload_len, INVOKE_MAX_EVENT_PAYLOAD);
    }
    if (r->payload_len > PROTO_MAX_SYNC_PAYLOAD) {
        return proto_error(e, LM_E_TOO_LARGE,
                           "Request must be smaller than %u bytes for the InvokeFunction "
                           "operation",
                           PROTO_MAX_SYNC_PAYLOAD);
    }
    if (r->cclen > PROTO_MAX_CLIENT_CONTEXT) {
        return proto_error(e, LM_E_INVALID_PARAMETER, "ClientContext must be at most %u bytes",
                           PROTO_MAX_CLIENT_CONTEXT);
    }
    size_t bad = 0;
    const char *why = NULL;
    if (!proto_json_text_ok(r->payload, r->payload_len, &bad, &why)) {
        return proto_error(e, LM_E_INVALID_CONTENT,
                           "Could not parse request body into json: %s at byte %zu", why, bad);
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(r->payload, r->payload_len, &end, 0);
    bool ok = j != NULL;
    if (ok) {
        while (end < (const char *)r->payload + r->payload_len &&
               (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')) {
            end++;
        }
        ok = end == (const char *)r->payload + r->payload_len;
    }
    cJSON_Delete(j);
    if (!ok) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at != NULL && at >= (const char *)r->payload &&
                             at <= (const char *)r->payload + r->payload_len
                         ? (size_t)(at - (const char *)r->payload)
                         : 0;
        return proto_error(e, LM_E_INVALID_CONTENT,
                           "Could not parse request body into json: unexpected input at byte "
                           "%zu",
                           off);
    }
    return LM_OK;
}

/* The checks every invoke starts with: the target exists, the broker is
 * not stopping.  B.mtx held. */
static fn_config *target_of(const char *name, const char *qual, lm_error *e)
{
    function *f = registry_find(name);
    fn_config *target = f != NULL ? registry_resolve(f, qual) : NULL;
    if (target == NULL) {
        proto_error(e, LM_E_NOT_FOUND, "Function not found: function:%s%s%s", name,
                    qual[0] != '\0' ? ":" : "", qual);
        return NULL;
    }
    if (B.stopping) {
        proto_error(e, LM_E_STOPPING, "the broker is stopping");
        return NULL;
    }
    return target;
}

int invoke_check(const char *name, const char *qual, char version[VERSION_MAX_LEN + 1], lm_error *e)
{
    pthread_mutex_lock(&B.mtx);
    fn_config *target = target_of(name, qual, e);
    if (target != NULL && version != NULL) {
        snprintf(version, VERSION_MAX_LEN + 1, "%s", target->version);
    }
    pthread_mutex_unlock(&B.mtx);
    return target != NULL ? LM_OK : e->code;
}

int invoke_start(const char *name, const char *qual, nng_msg *req, const void *payload,
                 size_t payload_len, const invoke_opts *o, invoke_done_fn done, void *arg,
                 lm_error *e)
{
    invocation *inv = calloc(1, sizeof(*inv));
    if (inv == NULL || (o->client_context != NULL &&
                        (inv->client_context = strndup(o->client_context, o->cc_len)) == NULL)) {
        free(inv);
        nng_msg_free(req);
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    int rc = LM_OK;
    pthread_mutex_lock(&B.mtx);
    fn_config *target = target_of(name, qual, e);
    function *f = target != NULL ? registry_find(target->name) : NULL;
    if (target == NULL) {
        rc = e->code;
    } else {
        rc = admit(f, e);
    }
    if (rc == LM_E_THROTTLED) {
        f->stats.throttles++;
    }
    if (rc != LM_OK) {
        pthread_mutex_unlock(&B.mtx);
        free(inv->client_context);
        free(inv);
        nng_msg_free(req);
        return rc;
    }
    if (o->rid != NULL) {
        snprintf(inv->rid, sizeof(inv->rid), "%s", o->rid);
    } else {
        util_uuid4(inv->rid);
    }
    inv->req = req;
    inv->payload = payload;
    inv->payload_len = payload_len;
    inv->tail = o->tail;
    inv->chunk = o->chunk;
    inv->handle = o->handle;
    if (inv->handle != NULL) {
        *inv->handle = inv;
    }
    inv->done = done;
    inv->done_arg = arg;
    f->inflight++; /* the concurrency it holds until release_slot */
    inv->unreserved = f->reserved < 0;
    B.unreserved_inflight += inv->unreserved;
    enqueue(inv, target, name, qual);
    pthread_mutex_unlock(&B.mtx);
    return LM_OK;
}

void invoke_dead_letter(const char *name, const char *qual, char *out, size_t cap)
{
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *target = f != NULL ? registry_resolve(f, qual) : NULL;
    snprintf(out, cap, "%s",
             target != NULL && target->dead_letter != NULL ? target->dead_letter : "");
    pthread_mutex_unlock(&B.mtx);
}

int invoke_idle_count(const char *name, const char *qual)
{
    int idle = 0;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *target = f != NULL ? registry_resolve(f, qual) : NULL;
    if (target != NULL) {
        idle = (int)list_count(&target->idle);
    }
    int left = target != NULL ? idle - target->queued : 0;
    pthread_mutex_unlock(&B.mtx);
    return left > 0 ? left : 0;
}

int invoke_reserved(const char *name)
{
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    int n = f != NULL ? f->reserved : -1;
    pthread_mutex_unlock(&B.mtx);
    return n;
}

/* Queue inv (rid and request set) on target and schedule it.  B.mtx held. */
static void enqueue(invocation *inv, fn_config *target, const char *name, const char *qual)
{
    inv->cfg = fncfg_ref(target);
    inv->state = INV_QUEUED;
    inv->enqueued_at = clk_mono_ms();
    snprintf(inv->arn, sizeof(inv->arn), "function:%s%s%s", name, qual[0] != '\0' ? ":" : "", qual);
    B.inflight++;
    B.invocations++;
    fn_config *cfg = inv->cfg;
    list_push_back(&cfg->queue, &inv->qnode);
    cfg->queued++;
    pool_schedule(cfg);
}
