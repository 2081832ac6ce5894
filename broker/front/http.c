/*
 * broker/front/http.c — the HTTP front end (lamina-broker --http
 * HOST:PORT): function URLs and /healthz, on GNU libmicrohttpd.
 *
 * Why libmicrohttpd: nng 1.5.2's HTTP server has no header timeout and
 * drops chunked request bodies; MHD parses HTTP/1.1 (keep-alive, chunked
 * bodies, pipelining) and bounds each connection's memory.
 *
 * Threads.  One MHD thread (epoll) runs every connection's state machine
 * and calls http_access for each request; it never blocks: a request is
 * read whole into its context, routed, turned into an event, and handed
 * to the core's invoke_start with the connection suspended
 * (MHD_suspend_connection), so a running function holds no thread.  The
 * invocation's completion (a work-socket thread, B.mtx held) copies the
 * outcome and queues the context for H's own thread ("http-keeper"),
 * which resumes the connection (MHD_resume_connection is never called
 * under B.mtx: MHD's locks and ours never nest).  MHD then calls
 * http_access again, which writes the response.  The keeper also enforces
 * the deadlines MHD lacks: a request's headers must arrive within
 * header_ms of the connection opening (or of the previous response on a
 * keep-alive connection), and its body within body_ms of its headers; a
 * connection that misses one is shut down (shutdown(2) on its socket,
 * under H.mtx, and MHD's close notification takes H.mtx before the
 * socket is closed, so the keeper never touches a socket that is gone).
 * H.mtx is a leaf.
 *
 * Limits (fixed here, documented in the README): 1024 connections, 256
 * per client address, 64 KiB of memory per connection for the request
 * line and headers, request bodies up to PROTO_MAX_SYNC_PAYLOAD (6 MiB):
 * a larger Content-Length is refused with 413 before any byte of the body
 * is read, and a chunked body that grows past it has its connection
 * closed (MHD cannot send a response in the middle of a request body).  Nothing reaches a worker before the request is
 * whole, its URL found and its event built.
 *
 * Routing: Lambda's REST API (/2015-03-31/…, /2019-09-25/…,
 * /2021-10-31/…; front/lambda_api.c), SigV4-verified unless --http-auth
 * none; GET /healthz; GET /metrics (Prometheus text: per function
 * invocations, errors by kind, timeouts, throttles, cold starts, a
 * duration histogram and concurrent executions; the broker's workers by
 * state, async queue depth and running events, listener replacements);
 * /url/<id>/<path> and, for a Host of
 * <id>.lambda-url.localhost[:port], /<path>, go to the function URL <id>.
 * What the URL answers (lambda-semantics.md §7.5): the function's mapped
 * response (lib/urlmap.c); a CORS preflight answered from the URL's Cors
 * without invoking; 404 {"Message":"Not Found"} for an unknown URL or
 * path; 413 for too large a request; 429 {"Message":"Rate Exceeded."} when
 * throttled; 502 "Internal Server Error" for a function error or a
 * malformed response; 504 {"Message":"Endpoint request timed out"} when the
 * function timed out (Sandbox.Timedout).
 *
 * RESPONSE_STREAM URLs.  The invocation gets a chunk callback (the core's
 * invoke_opts.chunk) and the request an http_stream shared with it.  The
 * first piece (or the prelude) resumes the connection and http_access
 * queues a chunked response (MHD_create_response_from_callback, size
 * unknown) with the prelude's status, headers and cookies; MHD's content
 * reader copies the piece out, acks it to the core (invoke_stream_ack: the
 * runtime's write returns and it may send the next) and, with nothing left
 * to send, suspends the connection until the next piece or the outcome
 * resumes it through the keeper.  So each invocation holds at most one
 * piece (256 KiB) here plus MHD's buffer, and a slow client stops the
 * acks, which stops the handler.  An error after the first piece ends the
 * body with the trailers Lambda-Runtime-Function-Error-Type and
 * Lambda-Runtime-Function-Error-Body (base64 of the error JSON).  A client
 * that leaves ends the request (request_done): the piece waiting is acked
 * "gone" and every later one refused, so the handler's writes fail and
 * it returns; the worker is reused.  An invocation that sends no piece (a
 * handler that sets its response whole, or fails first) is answered as a
 * whole: its result as the body (200, application/json), or the errors
 * above.  The reader suspends the connection before it looks for work
 * under H.mtx (and resumes it itself if there is some), so the keeper
 * never resumes a connection that is not suspended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "async/async.h"
#include "front/front.h"
#include "lib/listen.h"
#include "lib/clock.h"
#include "lib/list.h"
#include "lib/sigv4.h"
#include "lib/urlmap.h"
#include "lib/util.h"

#define HTTP_MAX_CONNECTIONS 1024
#define HTTP_MAX_PER_IP 256
#define HTTP_CONN_MEMORY (64 * 1024)
#define FORBIDDEN                                                                            \
    "{\"Message\":\"Forbidden. For troubleshooting Function URL authorization issues, see: " \
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html\"}"

/* One connection, as the keeper sees it. */
typedef enum conn_phase {
    PH_HEADERS, /* waiting for a request's headers (since `since`) */
    PH_BODY, /* reading its body */
    PH_RUNNING /* suspended while its function runs (no deadline) */
} conn_phase;

typedef struct http_conn {
    list_node node; /* H.conns */
    int fd;
    conn_phase phase;
    double since; /* monotonic ms */
} http_conn;

/* A streamed response (RESPONSE_STREAM), shared by the request, its MHD
 * response and the invocation (refs).  Fields under H.mtx, except inv:
 * the core's handle for invoke_stream_ack, written by the core under
 * B.mtx and never read here. */
typedef struct http_stream {
    list_node node; /* H.sresume while queued */
    int refs;
    invocation *inv;
    struct MHD_Connection *conn; /* NULL once the request is over */
    struct MHD_Response *resp; /* the chunked response, once queued */
    bool parked; /* the connection is suspended, waiting for a piece or the outcome */
    bool queued; /* on H.sresume */
    bool began; /* a piece (or the prelude) came: the answer is a stream */
    bool owed; /* the piece's ack is owed to the runtime */
    bool gone; /* the request is over (client left, or a bad prelude): refuse pieces */
    bool finished; /* the outcome is in */
    bool counted; /* H.inflight no longer counts it */
    char *prelude;
    size_t prelude_len;
    char *data; /* the piece MHD is copying out */
    size_t len, off;
    /* the outcome */
    int code;
    bool failed; /* a function error or an invocation error */
    bool timed_out;
    char version[VERSION_MAX_LEN + 1];
    char *payload; /* copied only when no piece was sent (the whole answer) */
    size_t payload_len;
    char err_type[128]; /* for the trailers */
    char *err_body; /* base64 */
} http_stream;

/* One request (MHD's con_cls; made by uri_log before the headers). */
typedef struct http_req {
    list_node node; /* H.resume while queued */
    struct MHD_Connection *conn;
    http_conn *hc;
    char *uri; /* as sent: path?query */
    const char *sigpath; /* the path as signed: the whole raw path (points into uri) */
    char *body;
    size_t len, cap;
    bool started; /* handed to invoke_start */
    bool done; /* outcome below is set */
    const admin_url *url;
    char origin[512];
    bool has_origin;
    char rid[40];
    /* outcome */
    int code;
    int status;
    bool ferr;
    bool timed_out;
    char *payload;
    size_t payload_len;
    char version[VERSION_MAX_LEN + 1];
    bool api; /* a Lambda REST API request: the answer is in ans */
    lapi_answer ans;
    http_stream *stream; /* a RESPONSE_STREAM URL's invocation, else NULL */
    bool replied; /* the stream's answer is queued */
} http_req;

static struct {
    struct MHD_Daemon *d;
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    list_head conns;
    list_head resume; /* requests whose invocation finished */
    list_head sresume; /* streams with news for their suspended connection */
    int inflight; /* requests handed to invoke_start and not yet resumed */
    bool stopping;
    bool keeper_on;
    pthread_t keeper;
    double header_ms, body_ms;
    double stop_deadline; /* monotonic ms */
    bool api_auth; /* the REST API needs SigV4 (--http-auth sigv4) */
    char base[160];
} H = {.mtx = PTHREAD_MUTEX_INITIALIZER};

/* ---- responses ---- */

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *ctype,
                                const char *body, size_t len, http_req *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    if (ctype != NULL) {
        MHD_add_response_header(resp, "Content-Type", ctype);
    }
    if (r != NULL && r->rid[0] != '\0') {
        MHD_add_response_header(resp, "x-amzn-RequestId", r->rid);
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, const char *json,
                                 http_req *r)
{
    return send_buf(c, status, "application/json", json, strlen(json), r);
}

/* A REST API answer (lambda_api.c). */
static enum MHD_Result send_api(http_req *r)
{
    lapi_answer *a = &r->ans;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        a->len, a->body != NULL ? a->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    if (a->len > 0) {
        MHD_add_response_header(resp, "Content-Type",
                                a->ctype != NULL ? a->ctype : "application/json");
    }
    if (a->error_type[0] != '\0') {
        MHD_add_response_header(resp, "x-amzn-ErrorType", a->error_type);
    }
    if (a->function_error[0] != '\0') {
        MHD_add_response_header(resp, "X-Amz-Function-Error", a->function_error);
    }
    if (a->executed_version[0] != '\0') {
        MHD_add_response_header(resp, "X-Amz-Executed-Version", a->executed_version);
    }
    if (a->log_result != NULL) {
        MHD_add_response_header(resp, "X-Amz-Log-Result", a->log_result);
    }
    MHD_add_response_header(resp, "x-amzn-RequestId",
                            a->request_id[0] != '\0' ? a->request_id : r->rid);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)a->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* The mapped response (or its failure) of a finished invocation. */
static enum MHD_Result send_outcome(http_req *r)
{
    if (r->api) {
        return send_api(r);
    }
    if (r->code != LM_OK) {
        if (r->code == LM_E_THROTTLED) {
            return send_json(r->conn, 429, "{\"Message\":\"Rate Exceeded.\"}", r);
        }
        if (r->code == LM_E_TOO_LARGE) {
            return send_json(r->conn, 413, "{\"Message\":\"Request Entity Too Large\"}", r);
        }
        if (r->code == LM_E_NOT_FOUND) {
            return send_json(r->conn, 404, "{\"Message\":\"Not Found\"}", r);
        }
        return send_json(r->conn, 502, "Internal Server Error", r);
    }
    if (r->timed_out) {
        return send_json(r->conn, 504, "{\"Message\":\"Endpoint request timed out\"}", r);
    }
    if (r->ferr) {
        return send_json(r->conn, 502, "Internal Server Error", r);
    }
    urlmap_response m;
    lm_error e;
    if (urlmap_response_map(r->payload, r->payload_len, &m, &e) != LM_OK) {
        blog(LOG_DEBUG, "url %s: %s", r->url->c.id, e.message);
        return send_json(r->conn, 502, "Internal Server Error", r);
    }
    if (!urlmap_cors_headers(r->url->cors, r->has_origin ? r->origin : NULL, false, m.headers)) {
        urlmap_response_finish(&m);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(m.body_len, m.body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        urlmap_response_finish(&m);
        return MHD_NO;
    }
    m.body = NULL; /* the response owns it */
    const cJSON *it;
    cJSON_ArrayForEach(it, m.headers)
    {
        MHD_add_response_header(resp, it->string, it->valuestring);
    }
    cJSON_ArrayForEach(it, m.cookies)
    {
        MHD_add_response_header(resp, "Set-Cookie", it->valuestring);
    }
    MHD_add_response_header(resp, "x-amzn-RequestId", r->rid);
    MHD_add_response_header(resp, "X-Amz-Executed-Version", r->version);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)m.status, resp);
    MHD_destroy_response(resp);
    urlmap_response_finish(&m);
    return ok;
}

/* ---- /metrics ---- */

typedef struct fn_snap {
    char name[NAME_MAX_LEN + 1];
    fn_stats s;
} fn_snap;

typedef struct snaps {
    fn_snap *v;
    size_t n, cap;
} snaps;

static void snap_one(function *f, void *arg)
{
    snaps *sn = arg;
    if (sn->n == sn->cap) {
        size_t cap = sn->cap == 0 ? 64 : 2 * sn->cap;
        fn_snap *v = realloc(sn->v, cap * sizeof(*v));
        if (v == NULL) {
            return;
        }
        sn->v = v;
        sn->cap = cap;
    }
    snprintf(sn->v[sn->n].name, sizeof(sn->v[sn->n].name), "%s", f->name);
    sn->v[sn->n].s = f->stats;
    sn->n++;
}

static int snap_cmp(const void *a, const void *b)
{
    return strcmp(((const fn_snap *)a)->name, ((const fn_snap *)b)->name);
}

typedef struct tbuf {
    char *p;
    size_t n, cap;
} tbuf;

static void tb_printf(tbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(tbuf *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = t->p != NULL ? vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap) : -1;
        va_end(ap);
        if (k >= 0 && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = t->cap == 0 ? 8192 : 2 * t->cap;
        while (k >= 0 && cap < t->n + (size_t)k + 1) {
            cap *= 2;
        }
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

/* Prometheus text format 0.0.4: per function counters, a duration
 * histogram and concurrent executions; the broker's workers by state, its
 * async queue and listener replacements. */
static char *metrics_text(size_t *len)
{
    snaps sn = {0};
    int total, idle, busy, spawning;
    pthread_mutex_lock(&B.mtx);
    registry_each(snap_one, &sn);
    pool_counts(&total, &idle, &busy, &spawning);
    uint64_t inv = B.invocations, cold = B.cold_starts;
    pthread_mutex_unlock(&B.mtx);
    int64_t aq = 0;
    int aq_running = 0;
    asyncq_counts(&aq, &aq_running);
    int64_t oldest = asyncq_oldest_ms();
    double age_s =
        oldest > 0 && clk_now_ms() > oldest ? (double)(clk_now_ms() - oldest) / 1000.0 : 0;
    if (sn.n > 1) {
        qsort(sn.v, sn.n, sizeof(*sn.v), snap_cmp);
    }
    tbuf t = {0};
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"lamina_function_invocations_total", "Invocations that ran (success or function error).",
         offsetof(fn_stats, invocations)},
        {"lamina_function_errors_handled_total", "Invocations that ended in FunctionError Handled.",
         offsetof(fn_stats, errors_handled)},
        {"lamina_function_errors_unhandled_total",
         "Invocations that ended in FunctionError Unhandled (crash, timeout, bad response).",
         offsetof(fn_stats, errors_unhandled)},
        {"lamina_function_timeouts_total", "Invocations ended by their timeout (Sandbox.Timedout).",
         offsetof(fn_stats, timeouts)},
        {"lamina_function_throttles_total", "Invocations refused with TooManyRequestsException.",
         offsetof(fn_stats, throttles)},
        {"lamina_function_cold_starts_total", "Invocations that started a new environment.",
         offsetof(fn_stats, cold_starts)},
    };
    for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
        tb_printf(&t, "# HELP %s %s\n# TYPE %s counter\n", counters[c].name, counters[c].help,
                  counters[c].name);
        for (size_t i = 0; i < sn.n; i++) {
            uint64_t v =
                *(const uint64_t *)(const void *)((const char *)&sn.v[i].s + counters[c].off);
            tb_printf(&t, "%s{function=\"%s\"} %llu\n", counters[c].name, sn.v[i].name,
                      (unsigned long long)v);
        }
    }
    tb_printf(&t, "# HELP lamina_function_concurrent_executions Invocations running now.\n"
                  "# TYPE lamina_function_concurrent_executions gauge\n");
    for (size_t i = 0; i < sn.n; i++) {
        tb_printf(&t, "lamina_function_concurrent_executions{function=\"%s\"} %d\n", sn.v[i].name,
                  sn.v[i].s.running);
    }
    tb_printf(&t, "# HELP lamina_function_duration_seconds How long invocations ran.\n"
                  "# TYPE lamina_function_duration_seconds histogram\n");
    for (size_t i = 0; i < sn.n; i++) {
        uint64_t cum = 0;
        for (int b = 0; b < FN_DURATION_BUCKETS; b++) {
            cum += sn.v[i].s.dur_buckets[b];
            if (b < FN_DURATION_BUCKETS - 1) {
                tb_printf(
                    &t, "lamina_function_duration_seconds_bucket{function=\"%s\",le=\"%g\"} %llu\n",
                    sn.v[i].name, fn_duration_bounds[b], (unsigned long long)cum);
            } else {
                tb_printf(
                    &t,
                    "lamina_function_duration_seconds_bucket{function=\"%s\",le=\"+Inf\"} %llu\n",
                    sn.v[i].name, (unsigned long long)cum);
            }
        }
        tb_printf(&t, "lamina_function_duration_seconds_sum{function=\"%s\"} %.6f\n", sn.v[i].name,
                  sn.v[i].s.dur_sum_s);
        tb_printf(&t, "lamina_function_duration_seconds_count{function=\"%s\"} %llu\n",
                  sn.v[i].name, (unsigned long long)cum);
    }
    tb_printf(&t,
              "# HELP lamina_workers Execution environments by state.\n"
              "# TYPE lamina_workers gauge\n"
              "lamina_workers{state=\"idle\"} %d\nlamina_workers{state=\"busy\"} %d\n"
              "lamina_workers{state=\"starting\"} %d\n"
              "# HELP lamina_invocations_total Invocations started, every function.\n"
              "# TYPE lamina_invocations_total counter\nlamina_invocations_total %llu\n"
              "# HELP lamina_cold_starts_total Environments started, every function.\n"
              "# TYPE lamina_cold_starts_total counter\nlamina_cold_starts_total %llu\n"
              "# HELP lamina_async_queue_depth Async events stored and not finished.\n"
              "# TYPE lamina_async_queue_depth gauge\nlamina_async_queue_depth %lld\n"
              "# HELP lamina_async_oldest_event_age_seconds Broker time since the oldest "
              "stored async event was accepted.\n"
              "# TYPE lamina_async_oldest_event_age_seconds gauge\n"
              "lamina_async_oldest_event_age_seconds %.3f\n"
              "# HELP lamina_async_running Async events running now.\n"
              "# TYPE lamina_async_running gauge\nlamina_async_running %d\n"
              "# HELP lamina_listener_replacements_total Listeners the watchdog replaced.\n"
              "# TYPE lamina_listener_replacements_total counter\n"
              "lamina_listener_replacements_total %u\n",
              idle, busy, spawning, (unsigned long long)inv, (unsigned long long)cold,
              (long long)aq, age_s, aq_running, listen_replacements());
    free(sn.v);
    *len = t.n;
    return t.p;
}

/* ---- the invocation ---- */

/* Did the function time out?  (The core's error payload names the type.) */
static bool is_timeout(const void *p, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(p, n);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "errorType");
    bool yes = cJSON_IsString(t) && strcmp(t->valuestring, "Sandbox.Timedout") == 0;
    cJSON_Delete(j);
    return yes;
}

static void queue_resume(http_req *r)
{
    pthread_mutex_lock(&H.mtx);
    r->done = true;
    list_push_back(&H.resume, &r->node);
    pthread_cond_signal(&H.cv);
    pthread_mutex_unlock(&H.mtx);
}

/* invoke_start's completion: B.mtx held, must not block. */
static void on_done(void *arg, const invoke_outcome *o)
{
    http_req *r = arg;
    r->code = o->code;
    r->status = o->status;
    r->ferr = o->ferr != NULL;
    snprintf(r->version, sizeof(r->version), "%s", o->version != NULL ? o->version : "");
    if (o->payload_len > 0 && (r->payload = malloc(o->payload_len)) != NULL) {
        memcpy(r->payload, o->payload, o->payload_len);
        r->payload_len = o->payload_len;
    } else if (o->payload_len > 0) {
        r->code = LM_E_NOMEM;
    }
    r->timed_out = r->ferr && r->payload != NULL && is_timeout(r->payload, r->payload_len);
    queue_resume(r);
}

/* ---- streamed responses (RESPONSE_STREAM) ---- */

#define STREAM_BLOCK (32 * 1024) /* MHD's buffer for the content reader */
#define TRAILER_TYPE "Lambda-Runtime-Function-Error-Type"
#define TRAILER_BODY "Lambda-Runtime-Function-Error-Body"

/* Drop a reference; the last one frees it.  H.mtx held. */
static void stream_unref(http_stream *st)
{
    if (--st->refs > 0) {
        return;
    }
    free(st->prelude);
    free(st->data);
    free(st->payload);
    free(st->err_body);
    free(st);
}

/* Resume st's connection if it is parked (H.mtx held; the keeper does it). */
static void stream_wake(http_stream *st)
{
    if (st->parked && !st->queued) {
        st->parked = false;
        st->queued = true;
        list_push_back(&H.sresume, &st->node);
        pthread_cond_signal(&H.cv);
    }
}

/* The request is over, or must not take more: refuse pieces from now on
 * and fail the runtime's waiting write.  Takes H.mtx, then B.mtx (for the
 * ack) with H.mtx released. */
static void stream_refuse(http_stream *st)
{
    pthread_mutex_lock(&H.mtx);
    st->gone = true;
    bool ack = st->owed;
    st->owed = false;
    free(st->data);
    st->data = NULL;
    st->len = st->off = 0;
    pthread_mutex_unlock(&H.mtx);
    if (ack) {
        invoke_stream_ack(&st->inv, false);
    }
}

/* invoke_chunk_fn: a piece from the runtime.  B.mtx held, must not block. */
static int on_chunk(void *arg, const char *version, const void *prelude, size_t plen,
                    const void *data, size_t len)
{
    http_stream *st = arg;
    char *copy = len > 0 ? malloc(len) : NULL;
    char *pre = prelude != NULL ? malloc(plen + 1) : NULL;
    if ((len > 0 && copy == NULL) || (prelude != NULL && pre == NULL)) {
        free(copy);
        free(pre);
        return -1;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    if (pre != NULL) {
        memcpy(pre, prelude, plen);
        pre[plen] = '\0';
    }
    pthread_mutex_lock(&H.mtx);
    if (st->gone || st->owed) { /* the client left (or a second piece: cannot happen) */
        pthread_mutex_unlock(&H.mtx);
        free(copy);
        free(pre);
        return -1;
    }
    if (!st->began) {
        snprintf(st->version, sizeof(st->version), "%s", version);
    }
    if (pre != NULL && !st->began) {
        st->prelude = pre;
        st->prelude_len = plen;
        pre = NULL;
    }
    st->began = true;
    st->data = copy;
    st->len = len;
    st->off = 0;
    st->owed = true;
    stream_wake(st);
    pthread_mutex_unlock(&H.mtx);
    free(pre);
    return 0;
}

/* The trailers of a stream that failed: the errorType and base64 of
 * {"errorType","errorMessage"}, the message cut to 2 KiB so that the
 * trailers fit MHD's buffer; control characters in the type become '_'. */
static void error_trailers(const invoke_outcome *o, char type[128], char **body)
{
    cJSON *j = o->code == LM_OK ? cJSON_ParseWithLength(o->payload, o->payload_len) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "errorType");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "errorMessage");
    char msg[2049];
    if (o->code != LM_OK) {
        snprintf(type, 128, "%s", o->err != NULL ? o->err->type : "ServiceException");
        snprintf(msg, sizeof(msg), "%s", o->err != NULL ? o->err->message : "");
    } else {
        snprintf(type, 128, "%s", cJSON_IsString(t) ? t->valuestring : "Runtime.Unknown");
        snprintf(msg, sizeof(msg), "%s", cJSON_IsString(m) ? m->valuestring : "");
    }
    cJSON_Delete(j);
    for (char *p = type; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '_';
        }
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "errorType", type);
    cJSON_AddStringToObject(e, "errorMessage", msg);
    char *js = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    *body = js != NULL ? util_base64(js, strlen(js)) : NULL;
    free(js);
}

/* invoke_start's completion for a streamed invocation: B.mtx held. */
static void on_stream_done(void *arg, const invoke_outcome *o)
{
    http_stream *st = arg;
    bool failed = o->code != LM_OK || o->ferr != NULL;
    pthread_mutex_lock(&H.mtx);
    bool began = st->began; /* only on_chunk sets it, under B.mtx too */
    pthread_mutex_unlock(&H.mtx);
    char *copy = NULL, *body = NULL;
    char type[128] = "";
    int code = o->code;
    if (!began && o->payload_len > 0 && (copy = malloc(o->payload_len)) == NULL) {
        code = LM_E_NOMEM;
    } else if (copy != NULL) {
        memcpy(copy, o->payload, o->payload_len);
    }
    if (began && failed) {
        error_trailers(o, type, &body);
    }
    bool to = o->code == LM_OK && o->ferr != NULL && is_timeout(o->payload, o->payload_len);
    pthread_mutex_lock(&H.mtx);
    st->finished = true;
    st->code = code;
    st->failed = failed;
    st->timed_out = to;
    snprintf(st->version, sizeof(st->version), "%s", o->version != NULL ? o->version : "");
    st->payload = copy;
    st->payload_len = copy != NULL ? o->payload_len : 0;
    snprintf(st->err_type, sizeof(st->err_type), "%s", type);
    st->err_body = body;
    st->owed = false; /* the core dropped the runtime's request with the invocation */
    if (st->parked) {
        stream_wake(st);
    } else if (!st->queued && !st->counted) {
        st->counted = true;
        H.inflight--;
    }
    stream_unref(st); /* the invocation's reference */
    pthread_mutex_unlock(&H.mtx);
}

/* MHD's content reader for a stream: copy out the piece, ack it once it is
 * all out; with nothing to send, park the connection until news come. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_stream *st = cls;
    pthread_mutex_lock(&H.mtx);
    for (;;) {
        if (st->off < st->len) {
            size_t n = st->len - st->off < max ? st->len - st->off : max;
            memcpy(buf, st->data + st->off, n);
            st->off += n;
            bool ack = false;
            if (st->off == st->len) {
                free(st->data);
                st->data = NULL;
                st->len = st->off = 0;
                ack = st->owed;
                st->owed = false;
            }
            pthread_mutex_unlock(&H.mtx);
            if (ack) {
                invoke_stream_ack(&st->inv, true);
            }
            return (ssize_t)n;
        }
        if (!st->owed) {
            break;
        }
        st->owed = false; /* an empty piece: the prelude alone */
        pthread_mutex_unlock(&H.mtx);
        invoke_stream_ack(&st->inv, true);
        pthread_mutex_lock(&H.mtx);
    }
    if (st->finished) {
        if (st->failed) {
            MHD_add_response_footer(st->resp, TRAILER_TYPE, st->err_type);
            if (st->err_body != NULL) {
                MHD_add_response_footer(st->resp, TRAILER_BODY, st->err_body);
            }
        }
        pthread_mutex_unlock(&H.mtx);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    struct MHD_Connection *c = st->conn;
    pthread_mutex_unlock(&H.mtx);
    /* suspend first, then look again: news that came in between resume it
     * at once, and the keeper only ever resumes a suspended connection */
    MHD_suspend_connection(c);
    pthread_mutex_lock(&H.mtx);
    bool news = st->off < st->len || st->owed || st->finished;
    st->parked = !news;
    pthread_mutex_unlock(&H.mtx);
    if (news) {
        MHD_resume_connection(c);
    }
    return 0;
}

static void stream_free_cb(void *cls)
{
    pthread_mutex_lock(&H.mtx);
    stream_unref(cls); /* the response's reference */
    pthread_mutex_unlock(&H.mtx);
}

/* The prelude as a response head: Lambda's {"statusCode","headers",
 * "cookies"}, checked by urlmap's full form (an empty body added);
 * application/octet-stream unless it names a content-type. */
static int prelude_map(const char *pre, size_t len, urlmap_response *m, lm_error *e)
{
    cJSON *j = pre != NULL ? cJSON_ParseWithLength(pre, len) : cJSON_CreateObject();
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return proto_error(e, LM_E_INVALID_PARAMETER, "the stream's prelude is not a JSON object");
    }
    if (!cJSON_HasObjectItem(j, "statusCode")) {
        cJSON_AddNumberToObject(j, "statusCode", 200);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "body");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "isBase64Encoded");
    cJSON_AddStringToObject(j, "body", "");
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    int rc = txt != NULL ? urlmap_response_map(txt, strlen(txt), m, e)
                         : proto_error(e, LM_E_NOMEM, NULL);
    free(txt);
    if (rc == LM_OK && !cJSON_HasObjectItem(m->headers, "content-type")) {
        cJSON_AddStringToObject(m->headers, "content-type", "application/octet-stream");
    }
    return rc;
}

/* A streamed invocation that sent no piece: its result is the body (200,
 * application/json), or its failure answered as a BUFFERED URL's is. */
static enum MHD_Result send_whole(http_req *r)
{
    if (r->code != LM_OK || r->timed_out || r->ferr) {
        return send_outcome(r);
    }
    cJSON *h = cJSON_CreateObject();
    if (h == NULL ||
        !urlmap_cors_headers(r->url->cors, r->has_origin ? r->origin : NULL, false, h)) {
        cJSON_Delete(h);
        return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->payload_len, r->payload != NULL ? r->payload : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        cJSON_Delete(h);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    const cJSON *it;
    cJSON_ArrayForEach(it, h)
    {
        MHD_add_response_header(resp, it->string, it->valuestring);
    }
    cJSON_Delete(h);
    MHD_add_response_header(resp, "x-amzn-RequestId", r->rid);
    MHD_add_response_header(resp, "X-Amz-Executed-Version", r->version);
    enum MHD_Result ok = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* A RESPONSE_STREAM URL's connection resumed for the first time: a piece
 * came (answer with a chunked stream) or the outcome did (answer whole). */
static enum MHD_Result send_stream(http_req *r)
{
    http_stream *st = r->stream;
    pthread_mutex_lock(&H.mtx);
    bool began = st->began, finished = st->finished;
    char *pre = st->prelude;
    size_t plen = st->prelude_len;
    st->prelude = NULL;
    snprintf(r->version, sizeof(r->version), "%s", st->version);
    if (!began && finished) {
        r->code = st->code;
        r->ferr = st->failed && st->code == LM_OK;
        r->timed_out = st->timed_out;
        r->payload = st->payload;
        r->payload_len = st->payload_len;
        st->payload = NULL;
        snprintf(r->version, sizeof(r->version), "%s", st->version);
    }
    pthread_mutex_unlock(&H.mtx);
    if (!began && !finished) {
        return MHD_YES; /* resumed without news: cannot happen */
    }
    r->replied = true;
    if (!began) {
        return send_whole(r);
    }
    urlmap_response m;
    lm_error e;
    int rc = prelude_map(pre, plen, &m, &e);
    free(pre);
    if (rc != LM_OK) {
        blog(LOG_DEBUG, "url %s: %s", r->url->c.id, e.message);
        stream_refuse(st); /* the handler's writes fail from now on */
        return send_json(r->conn, 502, "Internal Server Error", r);
    }
    struct MHD_Response *resp =
        urlmap_cors_headers(r->url->cors, r->has_origin ? r->origin : NULL, false, m.headers)
            ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st,
                                                stream_free_cb)
            : NULL;
    if (resp == NULL) {
        urlmap_response_finish(&m);
        stream_refuse(st);
        return MHD_NO;
    }
    pthread_mutex_lock(&H.mtx);
    st->refs++; /* the response's, dropped by stream_free_cb */
    st->resp = resp;
    pthread_mutex_unlock(&H.mtx);
    const cJSON *it;
    cJSON_ArrayForEach(it, m.headers)
    {
        MHD_add_response_header(resp, it->string, it->valuestring);
    }
    cJSON_ArrayForEach(it, m.cookies)
    {
        MHD_add_response_header(resp, "Set-Cookie", it->valuestring);
    }
    MHD_add_response_header(resp, "x-amzn-RequestId", r->rid);
    MHD_add_response_header(resp, "X-Amz-Executed-Version", r->version);
    MHD_add_response_header(resp, "Trailer", TRAILER_TYPE ", " TRAILER_BODY);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)m.status, resp);
    MHD_destroy_response(resp);
    urlmap_response_finish(&m);
    return ok;
}

/* Request headers, collected for the event. */
typedef struct hdr_list {
    urlmap_header *h;
    size_t n, cap;
} hdr_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    hdr_list *l = cls;
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 16 : 2 * l->cap;
        urlmap_header *h = realloc(l->h, cap * sizeof(*h));
        if (h == NULL) {
            return MHD_NO;
        }
        l->h = h;
        l->cap = cap;
    }
    l->h[l->n++] = (urlmap_header){.name = key, .value = value != NULL ? value : ""};
    return MHD_YES;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "0.0.0.0");
    if (ci == NULL || ci->client_addr == NULL) {
        return;
    }
    if (ci->client_addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr,
                  out, (socklen_t)cap);
    } else if (ci->client_addr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, out,
                  (socklen_t)cap);
    }
}

/* SigV4 (service lambda) over the whole request by one of the broker's
 * keys; on a refusal the reason goes to the log (and, at debug level, the
 * canonical request the broker computed). */
static bool verify_signature(const http_req *r, const char *method, const char *query,
                             const hdr_list *hl, sigv4_result *sv)
{
    sigv4_request sr = {.method = method,
                        .path = r->sigpath,
                        .query = query,
                        .headers = hl->h,
                        .n_headers = hl->n,
                        .body = r->body,
                        .body_len = r->len,
                        .service = "lambda",
                        .now_ms = clk_now_ms()};
    if (sigv4_verify(&sr, admin_key_secret, NULL, sv)) {
        return true;
    }
    blog(LOG_INFO, "http %s %s: signature refused: %s", method, r->sigpath, sv->why);
    if (blog_level >= LOG_DEBUG) {
        char *cr = sigv4_canonical_request(&sr, sv->signed_headers, sv->payload_hash);
        blog(LOG_DEBUG, "canonical request:\n%s", cr != NULL ? cr : "?");
        free(cr);
    }
    return false;
}

/* Build the event and start the invocation (the connection is suspended
 * first; on a refusal the request is finished with the error). */
static enum MHD_Result start_invoke(http_req *r, const char *method, const char *version,
                                    const char *path, const char *query, const char *domain)
{
    hdr_list hl = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &hl);
    char ip[64];
    client_ip(r->conn, ip, sizeof(ip));
    urlmap_request q = {.method = method,
                        .path = path,
                        .query = query,
                        .protocol = version,
                        .source_ip = ip,
                        .headers = hl.h,
                        .n_headers = hl.n,
                        .body = r->body,
                        .body_len = r->len,
                        .url_id = r->url->c.id,
                        .domain = domain,
                        .request_id = r->rid,
                        .time_ms = clk_wall_ms()};
    sigv4_result sv;
    if (strcmp(r->url->c.auth, "AWS_IAM") == 0) {
        if (!verify_signature(r, method, query, &hl, &sv)) {
            free(hl.h);
            return send_json(r->conn, 403, FORBIDDEN, r);
        }
        q.iam_key = sv.key_id;
    }
    lm_error e;
    size_t len = 0;
    char *ev = urlmap_event(&q, &len, &e);
    free(hl.h);
    nng_msg *req = NULL;
    if (ev == NULL || nng_msg_alloc(&req, 0) != 0 || nng_msg_append(req, ev, len) != 0) {
        free(ev);
        if (req != NULL) {
            nng_msg_free(req);
        }
        return send_json(r->conn, 500, "{\"Message\":\"Internal Server Error\"}", r);
    }
    free(ev);
    free(r->body); /* the event holds it now */
    r->body = NULL;
    r->len = r->cap = 0;
    http_stream *st = NULL;
    if (strcmp(r->url->c.mode, "RESPONSE_STREAM") == 0) {
        if ((st = calloc(1, sizeof(*st))) == NULL) {
            nng_msg_free(req);
            return send_json(r->conn, 500, "{\"Message\":\"Internal Server Error\"}", r);
        }
        st->refs = 2; /* the request's and the invocation's */
        st->conn = r->conn;
        r->stream = st;
    }
    pthread_mutex_lock(&H.mtx);
    H.inflight++;
    if (r->hc != NULL) {
        r->hc->phase = PH_RUNNING;
    }
    if (st != NULL) {
        st->parked = true; /* suspended just below, before anything can wake it */
    }
    pthread_mutex_unlock(&H.mtx);
    r->started = true;
    MHD_suspend_connection(r->conn);
    invoke_opts o = {.rid = r->rid,
                     .chunk = st != NULL ? on_chunk : NULL,
                     .handle = st != NULL ? &st->inv : NULL};
    const char *qual = strcmp(r->url->c.qual, "$LATEST") == 0 ? "" : r->url->c.qual;
    if (invoke_start(r->url->c.name, qual, req, nng_msg_body(req), len, &o,
                     st != NULL ? on_stream_done : on_done, st != NULL ? (void *)st : (void *)r,
                     &e) != LM_OK) {
        r->code = e.code;
        if (st == NULL) {
            queue_resume(r);
            return MHD_YES;
        }
        pthread_mutex_lock(&H.mtx);
        st->finished = true;
        st->failed = true;
        st->code = e.code;
        stream_wake(st);
        stream_unref(st); /* no invocation holds it */
        pthread_mutex_unlock(&H.mtx);
    }
    return MHD_YES;
}

/* lapi_start's completion (any thread, maybe before lapi_start returns). */
static void api_done(void *arg, lapi_answer *a)
{
    http_req *r = arg;
    r->ans = *a;
    queue_resume(r);
}

/* A Lambda REST API request: SigV4 unless --http-auth none, then the op. */
static enum MHD_Result start_api(http_req *r, const char *method, const char *path,
                                 const char *query)
{
    hdr_list hl = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &hl);
    util_uuid4(r->rid);
    if (H.api_auth) {
        sigv4_result sv;
        if (!verify_signature(r, method, query, &hl, &sv)) {
            free(hl.h);
            bool unknown = strcmp(sv.why, "unknown access key") == 0;
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "Type", "User");
            cJSON_AddStringToObject(j, "message",
                                    unknown ? "The security token included in the request is "
                                              "invalid."
                                            : sv.why);
            char *body = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            r->api = true;
            r->ans = (lapi_answer){.status = 403, .body = body, .len = body ? strlen(body) : 0};
            snprintf(r->ans.error_type, sizeof(r->ans.error_type), "%s",
                     unknown ? "UnrecognizedClientException" : "InvalidSignatureException");
            return send_api(r);
        }
    }
    r->api = true;
    r->started = true;
    pthread_mutex_lock(&H.mtx);
    H.inflight++;
    if (r->hc != NULL) {
        r->hc->phase = PH_RUNNING;
    }
    pthread_mutex_unlock(&H.mtx);
    MHD_suspend_connection(r->conn);
    lapi_start(method, path, query, hl.h, hl.n, r->body, r->len, api_done, r);
    free(hl.h);
    return MHD_YES;
}

/* Which URL a request is for: its id and the path below it, from the Host
 * (<id>.lambda-url.localhost) or the /url/<id> prefix.  false: neither. */
static bool route_url(struct MHD_Connection *c, const char *rawpath, char id[URL_ID_LEN + 1],
                      const char **sub, char *domain, size_t dcap)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    const char *suffix = ".lambda-url.localhost";
    if (host != NULL) {
        size_t hn = strcspn(host, ":");
        size_t sl = strlen(suffix);
        if (hn == URL_ID_LEN + sl && strncasecmp(host + URL_ID_LEN, suffix, sl) == 0) {
            for (size_t i = 0; i < URL_ID_LEN; i++) {
                id[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
            }
            id[URL_ID_LEN] = '\0';
            *sub = rawpath;
            snprintf(domain, dcap, "%.*s", (int)hn, host);
            return true;
        }
    }
    if (strncmp(rawpath, "/url/", 5) != 0) {
        return false;
    }
    const char *p = rawpath + 5;
    size_t n = strcspn(p, "/");
    if (n != URL_ID_LEN) {
        return false;
    }
    memcpy(id, p, URL_ID_LEN);
    id[URL_ID_LEN] = '\0';
    *sub = p[n] == '\0' ? "/" : p + n;
    snprintf(domain, dcap, "%s.lambda-url.localhost", id);
    return true;
}

/* A whole request: route it. */
static enum MHD_Result dispatch(http_req *r, const char *method, const char *version)
{
    char *raw = r->uri != NULL ? r->uri : "/";
    r->sigpath = raw;
    char *qm = strchr(raw, '?');
    const char *query = "";
    if (qm != NULL) {
        *qm = '\0';
        query = qm + 1;
    }
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(raw, "/healthz") == 0 && get) {
        return send_json(r->conn, 200, "{\"status\":\"ok\"}", NULL);
    }
    if (strcmp(raw, "/metrics") == 0 && get) {
        size_t len = 0;
        char *text = metrics_text(&len);
        if (text == NULL) {
            return MHD_NO;
        }
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
        enum MHD_Result ok = MHD_queue_response(r->conn, 200, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    if (lapi_match(raw)) {
        return start_api(r, method, raw, query);
    }
    char id[URL_ID_LEN + 1], domain[256];
    const char *sub = NULL;
    if (!route_url(r->conn, raw, id, &sub, domain, sizeof(domain)) ||
        (r->url = admin_url_ref(id)) == NULL) {
        return send_json(r->conn, 404, "{\"Message\":\"Not Found\"}", NULL);
    }
    util_uuid4(r->rid);
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (origin != NULL) {
        snprintf(r->origin, sizeof(r->origin), "%s", origin);
        r->has_origin = true;
    }
    const char *acrm =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
    if (r->url->cors != NULL && urlmap_is_preflight(method, origin, acrm)) {
        cJSON *h = cJSON_CreateObject();
        struct MHD_Response *resp =
            h != NULL && urlmap_cors_headers(r->url->cors, r->origin, true, h)
                ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
                : NULL;
        enum MHD_Result ok = MHD_NO;
        if (resp != NULL) {
            const cJSON *it;
            cJSON_ArrayForEach(it, h)
            {
                MHD_add_response_header(resp, it->string, it->valuestring);
            }
            MHD_add_response_header(resp, "x-amzn-RequestId", r->rid);
            ok = MHD_queue_response(r->conn, 200, resp);
            MHD_destroy_response(resp);
        }
        cJSON_Delete(h);
        return ok;
    }
    return start_invoke(r, method, version, sub, query, domain);
}

static bool method_ok(const char *m)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "HEAD", "OPTIONS", "PATCH", "DELETE"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(m, ok[i]) == 0) {
            return true;
        }
    }
    return false;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url; /* MHD's decoded path: the raw one is r->uri */
    http_req *r = *con_cls;
    if (r == NULL) {
        return MHD_NO; /* uri_log always makes one; out of memory there */
    }
    if (r->conn == NULL) { /* first call: the headers are in */
        r->conn = c;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->hc = ci != NULL ? ci->socket_context : NULL;
        pthread_mutex_lock(&H.mtx);
        if (r->hc != NULL) {
            r->hc->phase = PH_BODY;
            r->hc->since = clk_mono_ms();
        }
        pthread_mutex_unlock(&H.mtx);
        if (!method_ok(method)) {
            return send_json(c, 405, "{\"Message\":\"Method Not Allowed\"}", NULL);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > PROTO_MAX_SYNC_PAYLOAD) {
            return send_json(c, 413, "{\"Message\":\"Request Entity Too Large\"}", NULL);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->len + n > PROTO_MAX_SYNC_PAYLOAD) {
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            /* MHD cannot answer in the middle of a body: close the connection */
            blog(LOG_DEBUG, "http: a chunked body passed %u bytes: connection closed",
                 PROTO_MAX_SYNC_PAYLOAD);
            return MHD_NO;
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap == 0 ? 4096 : r->cap;
            while (cap < r->len + n) {
                cap *= 2;
            }
            if (cap > PROTO_MAX_SYNC_PAYLOAD) {
                cap = PROTO_MAX_SYNC_PAYLOAD;
            }
            char *b = realloc(r->body, cap);
            if (b == NULL) {
                return MHD_NO;
            }
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->stream != NULL && r->started) {
        return r->replied ? MHD_YES : send_stream(r);
    }
    if (r->done) {
        return send_outcome(r);
    }
    if (r->started) {
        return MHD_YES; /* resumed before the outcome (cannot happen) */
    }
    return dispatch(r, method, version);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request line's URI, before the headers;
 * its return value is the request's con_cls. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    http_req *r = calloc(1, sizeof(*r));
    if (r != NULL && (r->uri = strdup(uri != NULL ? uri : "/")) == NULL) {
        free(r);
        r = NULL;
    }
    return r;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    http_req *r = *con_cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    http_conn *hc = ci != NULL ? ci->socket_context : NULL;
    pthread_mutex_lock(&H.mtx);
    if (hc != NULL) {
        hc->phase = PH_HEADERS; /* the next request on this connection */
        hc->since = clk_mono_ms();
    }
    pthread_mutex_unlock(&H.mtx);
    if (r == NULL) {
        return;
    }
    if (r->stream != NULL) {
        /* done, or the client left mid-stream: later pieces are refused */
        http_stream *st = r->stream;
        stream_refuse(st);
        pthread_mutex_lock(&H.mtx);
        st->conn = NULL;
        stream_unref(st); /* the request's reference */
        pthread_mutex_unlock(&H.mtx);
    }
    if (r->url != NULL) {
        admin_url_release(r->url);
    }
    free(r->uri);
    free(r->body);
    free(r->payload);
    free(r->ans.body);
    free(r->ans.log_result);
    free(r);
    *con_cls = NULL;
}

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn *hc = calloc(1, sizeof(*hc));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (hc == NULL) {
            return;
        }
        hc->fd = ci != NULL ? ci->connect_fd : -1;
        hc->phase = PH_HEADERS;
        hc->since = clk_mono_ms();
        pthread_mutex_lock(&H.mtx);
        list_push_back(&H.conns, &hc->node);
        pthread_mutex_unlock(&H.mtx);
        *socket_context = hc;
    } else if (*socket_context != NULL) {
        http_conn *hc = *socket_context;
        pthread_mutex_lock(&H.mtx);
        list_remove(&H.conns, &hc->node);
        pthread_mutex_unlock(&H.mtx);
        free(hc);
        *socket_context = NULL;
    }
}

/* The keeper: resume connections whose invocation finished, and shut
 * down those past a deadline. */
static void *keeper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&H.mtx);
    /* on stop, it stays until the last invocation resumed, or 5 s */
    while (!H.stopping || (H.inflight > 0 && clk_mono_ms() < H.stop_deadline)) {
        while (!list_empty(&H.resume)) {
            http_req *r = list_entry(list_pop_front(&H.resume), http_req, node);
            H.inflight--;
            pthread_mutex_unlock(&H.mtx);
            MHD_resume_connection(r->conn);
            pthread_mutex_lock(&H.mtx);
        }
        while (!list_empty(&H.sresume)) {
            /* parked, so suspended: its request (and the stream) stays */
            http_stream *st = list_entry(list_pop_front(&H.sresume), http_stream, node);
            st->queued = false;
            if (st->finished && !st->counted) {
                st->counted = true;
                H.inflight--;
            }
            struct MHD_Connection *c = st->conn;
            pthread_mutex_unlock(&H.mtx);
            MHD_resume_connection(c);
            pthread_mutex_lock(&H.mtx);
        }
        double now = clk_mono_ms();
        LIST_EACH(hc, http_conn, node, &H.conns)
        {
            double limit = hc->phase == PH_HEADERS ? H.header_ms
                           : hc->phase == PH_BODY  ? H.body_ms
                                                   : 0;
            if (limit > 0 && hc->fd >= 0 && now - hc->since > limit) {
                shutdown(hc->fd, SHUT_RDWR);
                hc->fd = -1; /* once */
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (list_empty(&H.resume) && list_empty(&H.sresume)) {
            pthread_cond_timedwait(&H.cv, &H.mtx, &ts);
        }
    }
    pthread_mutex_unlock(&H.mtx);
    return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    }
    blog(LOG_DEBUG, "http: %s", buf);
}

/* "HOST:PORT" (IPv4) into sa. */
static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host[0] != '\0' ? host : "0.0.0.0", &sa->sin_addr) != 1) {
        return -1;
    }
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

int http_start(const char *addr, double header_s, double body_s, bool api_auth)
{
    H.api_auth = api_auth;
    struct sockaddr_in sa;
    if (parse_addr(addr, &sa) != 0) {
        blog(LOG_ERROR, "--http %s: give HOST:PORT with an IPv4 address (port 0: any)", addr);
        return -1;
    }
    H.header_ms = header_s * 1000.0;
    H.body_ms = body_s * 1000.0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&H.cv, &ca);
    H.d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        http_access, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(header_s + body_s + 1), MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_NOTIFY_CONNECTION, conn_notify,
        NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (H.d == NULL) {
        blog(LOG_ERROR, "--http %s: cannot listen (%s)", addr, strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(H.d, MHD_DAEMON_INFO_BIND_PORT);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    snprintf(H.base, sizeof(H.base), "http://%s:%u", ip, di != NULL ? di->port : 0);
    H.stopping = false;
    if (pthread_create(&H.keeper, NULL, keeper_main, NULL) != 0) {
        MHD_stop_daemon(H.d);
        H.d = NULL;
        return -1;
    }
    H.keeper_on = true;
    admin_urls_set_base(H.base);
    /* where tests and tools/dev find the server when the port was 0 */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/http.url", B.opt.state);
    char line[200];
    int n = snprintf(line, sizeof(line), "%s\n", H.base);
    if (util_write_file_atomic(path, line, (size_t)n, 0600) != 0) {
        blog(LOG_WARN, "cannot write %s", path);
    }
    blog(LOG_INFO, "http: serving function URLs on %s", H.base);
    return 0;
}

const char *http_base(void)
{
    return H.base;
}

void http_stop(void)
{
    if (H.d == NULL) {
        return;
    }
    MHD_quiesce_daemon(H.d);
    pthread_mutex_lock(&H.mtx);
    H.stopping = true;
    H.stop_deadline = clk_mono_ms() + 5000;
    pthread_cond_signal(&H.cv);
    pthread_mutex_unlock(&H.mtx);
    if (H.keeper_on) {
        pthread_join(H.keeper, NULL); /* after the last invocation resumed */
        H.keeper_on = false;
    }
    pthread_mutex_lock(&H.mtx);
    int left = H.inflight;
    pthread_mutex_unlock(&H.mtx);
    if (left > 0) { /* MHD cannot stop with suspended connections: leave it to the exit */
        blog(LOG_WARN, "http: %d requests still waiting for their function at stop", left);
        return;
    }
    MHD_stop_daemon(H.d);
    H.d = NULL;
}
