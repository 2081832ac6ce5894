/*
 * broker/invoke.c — the invoke router: validate an invoke request, resolve
 * the function, apply limits and throttling, hand the invocation to the
 * pool, and build the caller's reply (status, executed version, function
 * error, payload, log tail) when it ends.
 *
 * Invocation errors (bad parameters, payload not JSON or too large, unknown
 * function, throttled) are answered here and never reach a worker.  Names
 * follow Lambda's patterns (proto/names.c); a payload must be JSON text:
 * UTF-8, no raw NUL or control character in a string (proto/text.c), then
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
 * piece, and its last 4 KB, base64, to the caller when LogType is Tail.
 * A worker that dies mid-invocation sends no result: its record holds what
 * the runtime had pushed to the logs socket before it died.
 *
 * Event invokes are validated here (1 MiB cap) and handed to asyncq.c,
 * which stores them and answers 202.  When it runs them, it comes back
 * through invoke_start_internal(): the same queueing, pool and limits, but
 * the outcome goes to a callback instead of an api reply.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "broker.h"

#define TAIL_BYTES 4096

int invoke_parse_name(const char *fn, size_t fnlen, const char *q, size_t qlen,
                      char name[NAME_MAX_LEN + 1], char qual[130], lm_error *e)
{
    return proto_parse_function_ref(fn, fnlen, q, qlen, name, qual, e); /* proto/names.c */
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

/* Tell an internal invocation's owner how it ended.  B.mtx held. */
static void tell_done(invocation *inv, const outcome *o)
{
    invoke_outcome io = {.code = LM_OK,
                         .status = 200,
                         .version = inv->cfg->version,
                         .ferr = o->ferr,
                         .payload = o->payload,
                         .payload_len = o->payload_len};
    inv->done(inv->done_arg, &io);
}

/* Reply to the caller and free the invocation.  B.mtx held. */
static void finish(invocation *inv, const outcome *o)
{
    size_t loglen = 0;
    char *log = build_log(inv, o, &loglen);
    char *tail = NULL;
    if (inv->done != NULL) {
        if (log != NULL) {
            logs_write(inv->cfg->name, log, loglen);
        }
        free(log);
        tell_done(inv, o);
        B.inflight--;
        inv->state = INV_DONE;
        inv_free(inv);
        return;
    }
    if (log != NULL) {
        logs_write(inv->cfg->name, log, loglen);
        if (inv->tail) {
            size_t off = loglen > TAIL_BYTES ? loglen - TAIL_BYTES : 0;
            tail = base64_encode(log + off, loglen - off);
        }
    }
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, o->payload_len + 512 + (tail != NULL ? strlen(tail) : 0)) == 0) {
        nng_msg_clear(m);
        proto_writer w;
        proto_writer_init(&w, m);
        pw_map(&w, 9 + (tail != NULL));
        pw_header(&w, "result");
        pw_key(&w, "status");
        pw_int(&w, 200);
        pw_key(&w, "version");
        pw_str(&w, inv->cfg->version);
        pw_key(&w, "ferr");
        pw_str(&w, o->ferr);
        pw_key(&w, "rid");
        pw_str(&w, inv->rid);
        pw_key(&w, "payload");
        pw_bin(&w, o->payload, o->payload_len);
        pw_key(&w, "init_ms");
        pw_double(&w, o->init_ms);
        pw_key(&w, "dur_ms");
        pw_double(&w, o->dur_ms);
        if (tail != NULL) {
            pw_key(&w, "log");
            pw_str(&w, tail);
        }
        if (w.err != 0) {
            nng_msg_free(m);
            m = NULL;
        }
    }
    free(log);
    free(tail);
    B.inflight--;
    inv->state = INV_DONE;
    api_reply(inv->actx, m);
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
    o.dur_ms = inv->started_at > 0 ? now_ms() - inv->started_at : 0;
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
    B.inflight--;
    inv->state = INV_DONE;
    if (inv->done != NULL) {
        invoke_outcome io = {.code = e->code,
                             .status = e->status,
                             .version = "",
                             .payload = e->message,
                             .payload_len = strlen(e->message)};
        inv->done(inv->done_arg, &io);
    } else {
        api_reply_error(inv->actx, e);
    }
    inv_free(inv);
}

static nng_msg *dry_run_reply(const char *version)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return NULL;
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 4);
    pw_header(&w, "result");
    pw_key(&w, "status");
    pw_int(&w, 204);
    pw_key(&w, "version");
    pw_str(&w, version);
    return m;
}

static void enqueue(invocation *inv, fn_config *target, const char *name, const char *qual);

typedef struct invoke_req {
    const char *fn, *q, *cc;
    size_t fnlen, qlen, cclen;
    int64_t type;
    bool tail;
    const void *payload;
    size_t payload_len;
} invoke_req;

static int parse_request(const proto_doc *doc, invoke_req *r, lm_error *e)
{
    memset(r, 0, sizeof(*r));
    const msgpack_object *m = doc->root;
    int rc = proto_get_str(m, "fn", true, &r->fn, &r->fnlen, e);
    if (rc == LM_OK) {
        rc = proto_get_str(m, "q", false, &r->q, &r->qlen, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_int(m, "type", false, &r->type, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_bool(m, "tail", false, &r->tail, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_str(m, "cc", false, &r->cc, &r->cclen, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_bin(m, "payload", false, &r->payload, &r->payload_len, e);
    }
    if (rc != LM_OK) {
        /* a field of the wrong type is a bad parameter, as Lambda reports it */
        e->code = LM_E_INVALID_PARAMETER;
        e->status = proto_err_status(LM_E_INVALID_PARAMETER);
        snprintf(e->type, sizeof(e->type), "%s", proto_err_type(LM_E_INVALID_PARAMETER));
        return LM_E_INVALID_PARAMETER;
    }
    if (r->type < PROTO_INVOKE_REQUEST_RESPONSE || r->type > PROTO_INVOKE_DRY_RUN) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "InvocationType must be RequestResponse, Event or DryRun");
    }
    if (r->payload == NULL || r->payload_len == 0) {
        r->payload = "{}";
        r->payload_len = 2;
    }
    return LM_OK;
}

static int validate_request(const invoke_req *r, lm_error *e)
{
    if (r->type == PROTO_INVOKE_EVENT && r->payload_len > ASYNCQ_MAX_PAYLOAD) {
        return proto_error(e, LM_E_TOO_LARGE,
                           "%zu byte payload is too large for the Event invocation type "
                           "(limit %u bytes)",
                           r->payload_len, ASYNCQ_MAX_PAYLOAD);
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

void invoke_handle(api_ctx *actx, nng_msg *req, const proto_doc *doc)
{
    invoke_req r;
    lm_error e;
    char name[NAME_MAX_LEN + 1], qual[130];
    int rc = parse_request(doc, &r, &e);
    if (rc == LM_OK) {
        rc = invoke_parse_name(r.fn, r.fnlen, r.q, r.qlen, name, qual, &e);
    }
    if (rc == LM_OK && r.type != PROTO_INVOKE_DRY_RUN) {
        rc = validate_request(&r, &e);
    }
    invocation *inv = NULL;
    if (rc == LM_OK) {
        inv = calloc(1, sizeof(*inv));
        if (inv == NULL ||
            (r.cc != NULL && (inv->client_context = strndup(r.cc, r.cclen)) == NULL)) {
            rc = proto_error(&e, LM_E_NOMEM, NULL);
        }
    }
    if (rc != LM_OK) {
        if (inv != NULL) {
            free(inv);
        }
        nng_msg_free(req);
        api_reply_error(actx, &e);
        return;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *target = f != NULL ? registry_resolve(f, qual) : NULL;
    if (target == NULL) {
        rc = proto_error(&e, LM_E_NOT_FOUND, "Function not found: function:%s%s%s", name,
                         qual[0] != '\0' ? ":" : "", qual);
    } else if (B.stopping) {
        rc = proto_error(&e, LM_E_STOPPING, "the broker is stopping");
    } else if (r.type == PROTO_INVOKE_DRY_RUN) {
        nng_msg *dry = dry_run_reply(target->version); /* target is only safe under B.mtx */
        pthread_mutex_unlock(&B.mtx);
        free(inv->client_context);
        free(inv);
        nng_msg_free(req);
        api_reply(actx, dry);
        return;
    } else if (r.type == PROTO_INVOKE_EVENT) {
        /* durable enqueue and the 202 happen on the asyncq thread */
        pthread_mutex_unlock(&B.mtx);
        free(inv->client_context);
        free(inv);
        asyncq_submit(actx, req, name, qual, r.payload, r.payload_len);
        return;
    } else if (B.inflight >= B.opt.max_concurrency) {
        rc = proto_error(&e, LM_E_THROTTLED,
                         "Rate Exceeded. (Reason: ConcurrentInvocationLimitExceeded, limit %d)",
                         B.opt.max_concurrency);
    }
    if (rc != LM_OK) {
        pthread_mutex_unlock(&B.mtx);
        free(inv->client_context);
        free(inv);
        nng_msg_free(req);
        api_reply_error(actx, &e);
        return;
    }
    uuid4(inv->rid);
    inv->actx = actx;
    inv->req = req;
    inv->payload = r.payload;
    inv->payload_len = r.payload_len;
    inv->tail = r.tail;
    enqueue(inv, target, name, qual);
    pthread_mutex_unlock(&B.mtx);
}

int invoke_start_internal(const char *name, const char *qual, const char *rid, nng_msg *req,
                          const void *payload, size_t payload_len, invoke_done_fn done, void *arg,
                          lm_error *e)
{
    invocation *inv = calloc(1, sizeof(*inv));
    if (inv == NULL) {
        nng_msg_free(req);
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    int rc = LM_OK;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *target = f != NULL ? registry_resolve(f, qual) : NULL;
    if (target == NULL) {
        rc = proto_error(e, LM_E_NOT_FOUND, "Function not found: function:%s%s%s", name,
                         qual[0] != '\0' ? ":" : "", qual);
    } else if (B.stopping) {
        rc = proto_error(e, LM_E_STOPPING, "the broker is stopping");
    } else if (B.inflight >= B.opt.max_concurrency) {
        rc = proto_error(e, LM_E_THROTTLED,
                         "Rate Exceeded. (Reason: ConcurrentInvocationLimitExceeded, limit %d)",
                         B.opt.max_concurrency);
    }
    if (rc != LM_OK) {
        pthread_mutex_unlock(&B.mtx);
        free(inv);
        nng_msg_free(req);
        return rc;
    }
    snprintf(inv->rid, sizeof(inv->rid), "%s", rid);
    inv->req = req;
    inv->payload = payload;
    inv->payload_len = payload_len;
    inv->done = done;
    inv->done_arg = arg;
    enqueue(inv, target, name, qual);
    pthread_mutex_unlock(&B.mtx);
    return LM_OK;
}

int invoke_idle_count(const char *name, const char *qual)
{
    int idle = 0;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *target = f != NULL ? registry_resolve(f, qual) : NULL;
    for (worker *w = target != NULL ? target->idle : NULL; w != NULL; w = w->next_idle) {
        idle++;
    }
    int left = target != NULL ? idle - target->queued : 0;
    pthread_mutex_unlock(&B.mtx);
    return left > 0 ? left : 0;
}

/* Queue inv (rid and request set) on target and schedule it.  B.mtx held. */
static void enqueue(invocation *inv, fn_config *target, const char *name, const char *qual)
{
    inv->cfg = fncfg_ref(target);
    inv->state = INV_QUEUED;
    inv->enqueued_at = now_ms();
    snprintf(inv->arn, sizeof(inv->arn), "function:%s%s%s", name, qual[0] != '\0' ? ":" : "", qual);
    B.inflight++;
    B.invocations++;
    fn_config *cfg = inv->cfg;
    if (cfg->q_tail != NULL) {
        cfg->q_tail->next = inv;
    } else {
        cfg->q_head = inv;
    }
    cfg->q_tail = inv;
    cfg->queued++;
    pool_schedule(cfg);
}
