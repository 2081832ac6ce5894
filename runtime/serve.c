/*
 * runtime/serve.c — the worker's NEXT/result loop, Lambda's Runtime API long
 * poll over nng req/rep.
 *
 * Each request we send is NEXT, carrying the previous invocation's result
 * (and, the first time, the init report).  The broker holds that request
 * until it has an invocation for this execution environment and answers
 * with it, or with "shutdown".  So the worker only ever gets work when it is
 * idle, and results can never overtake each other.
 *
 * The response rules applied here: a handler error (lm_response_error or a
 * non-zero return) is "Handled"; a response over PROTO_MAX_RESPONSE is
 * Function.ResponseSizeTooLarge and one that is not JSON is
 * Runtime.InvalidResponse (both "Unhandled"); no response is `null`.
 *
 * Streamed responses (lm_response_write).  An invocation whose invoke
 * message carries `stream: true` (a RESPONSE_STREAM function URL) sends
 * each piece as its own request while the handler runs — CHUNK {token,
 * pid, rid, data, prelude (first piece only)} — and blocks until the
 * broker answers `ack` (the piece was passed on to the HTTP client) or
 * `gone` (the client left: the write and every later one fail with
 * LM_STREAM_CLOSED).  The final NEXT then carries the result as usual; for
 * a streamed response its payload is `null` and only its error, if any,
 * matters (the broker sends it as trailers).  So there is still one
 * request outstanding at a time, and the broker holds at most one piece
 * per invocation.  Without `stream`, the pieces are joined into the
 * response (no JSON check: a stream's body is any bytes; the 6 MiB cap
 * still holds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../sdk/src/sdk_internal.h"
#include "proto.h"
#include "runtime.h"
#include "wire.h"

typedef struct rt_result {
    char rid[64];
    const char *ferr; /* NULL, "Handled" or "Unhandled" */
    char *payload; /* malloc'd */
    size_t payload_len;
    double dur_ms;
} rt_result;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The process's peak RSS.  Linux reports the process-wide peak (the mm's
 * high-water mark) for RUSAGE_THREAD too, and that call does not walk every
 * thread for CPU times as RUSAGE_SELF does: with nng's and log capture's
 * 15 threads it costs half as much (2.5 vs 4.9 us measured on this VM). */
static uint32_t max_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (uint32_t)((ru.ru_maxrss + 1023) / 1024);
}

/* {"errorType": type, "errorMessage": msg} as a malloc'd string. */
static char *error_json(const char *type, const char *msg, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "errorType", type);
    cJSON_AddStringToObject(o, "errorMessage", msg != NULL ? msg : "");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *len = s != NULL ? strlen(s) : 0;
    return s;
}

static bool is_json(const char *p, size_t n)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    bool ok = j != NULL && end == p + n;
    if (ok) {
        cJSON_Delete(j);
        return true;
    }
    /* trailing whitespace is fine */
    if (j != NULL) {
        while (end < p + n && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')) {
            end++;
        }
        ok = end == p + n;
        cJSON_Delete(j);
    }
    return ok;
}

static void classify_response(rt_result *r, lm_response *res, int rc)
{
    char msg[256];
    if (res->failed == LM_STREAM_TOO_LARGE) {
        r->ferr = "Unhandled";
        snprintf(msg, sizeof(msg),
                 "Response payload size exceeded maximum allowed payload size (%u bytes).",
                 PROTO_MAX_STREAM_RESPONSE);
        r->payload = error_json("Function.ResponseSizeTooLarge", msg, &r->payload_len);
        return;
    }
    if (res->is_error || rc != 0) {
        r->ferr = "Handled";
        if (!res->is_error) {
            snprintf(msg, sizeof(msg), "handler returned %d", rc);
        }
        r->payload = error_json(res->is_error ? res->error_type : "HandlerError",
                                res->is_error ? res->error_message : msg, &r->payload_len);
        return;
    }
    if (res->sent || !res->has_data || res->len == 0) { /* streamed: nothing kept */
        r->payload = strdup("null");
        r->payload_len = 4;
        return;
    }
    if (res->len > PROTO_MAX_RESPONSE) {
        r->ferr = "Unhandled";
        snprintf(msg, sizeof(msg),
                 "Response payload size (%zu bytes) exceeded maximum allowed payload size "
                 "(%u bytes).",
                 res->len, PROTO_MAX_RESPONSE);
        r->payload = error_json("Function.ResponseSizeTooLarge", msg, &r->payload_len);
        return;
    }
    if (res->written == 0 && !is_json(res->data, res->len)) { /* pieces: any bytes */
        r->ferr = "Unhandled";
        r->payload = error_json("Runtime.InvalidResponse",
                                "Unable to marshal response: the handler's response is not "
                                "valid JSON",
                                &r->payload_len);
        return;
    }
    r->payload = res->data; /* take it over */
    r->payload_len = res->len;
    res->data = NULL;
}

/* What a streamed write needs to reach the broker. */
typedef struct rt_stream {
    wire *work;
    const rt_config *cfg;
    const char *rid;
} rt_stream;

/* lm_stream_fn: one CHUNK request, then wait for its answer. */
static int send_chunk(void *arg, const char *prelude, size_t prelude_len, const void *data,
                      size_t len)
{
    rt_stream *st = arg;
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, len + prelude_len + 256) != 0) {
        return LM_STREAM_ERROR;
    }
    nng_msg_clear(m);
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, prelude != NULL ? 7 : 6); /* the header is two */
    pw_header(&w, "chunk");
    pw_key(&w, "token");
    pw_str(&w, st->cfg->token);
    pw_key(&w, "pid");
    pw_int(&w, (int64_t)st->cfg->pid);
    pw_key(&w, "rid");
    pw_str(&w, st->rid);
    pw_key(&w, "data");
    pw_bin(&w, data, len);
    if (prelude != NULL) {
        pw_key(&w, "prelude");
        pw_bin(&w, prelude, prelude_len);
    }
    int rv = w.err != 0 ? -1 : wire_send(st->work, nng_msg_body(m), nng_msg_len(m));
    nng_msg_free(m);
    nng_msg *ans = NULL;
    if (rv != 0 || wire_recv(st->work, &ans, -1) != 0) {
        fprintf(stderr, "lamina-runtime: lm_response_write: the broker went away\n");
        return LM_STREAM_CLOSED; /* the next NEXT fails and the loop exits */
    }
    proto_doc doc;
    const char *op = "";
    size_t oplen = 0;
    bool ok = proto_decode(nng_msg_body(ans), nng_msg_len(ans), &doc, NULL) == LM_OK &&
              proto_get_str(doc.root, "op", true, &op, &oplen, NULL) == LM_OK && oplen == 3 &&
              memcmp(op, "ack", 3) == 0;
    proto_doc_finish(&doc);
    nng_msg_free(ans);
    return ok ? LM_STREAM_OK : LM_STREAM_CLOSED;
}

static void run_invocation(wire *work, const rt_config *cfg, const rt_handler *h,
                           const msgpack_object *inv, rt_result *r)
{
    const char *rid = "", *arn = "", *cc = NULL, *ver = cfg->version;
    size_t rl = 0, al = 0, cl = 0, vl = strlen(cfg->version);
    const void *payload = NULL;
    size_t plen = 0;
    int64_t deadline = 0;
    proto_get_str(inv, "rid", true, &rid, &rl, NULL);
    proto_get_str(inv, "arn", false, &arn, &al, NULL);
    proto_get_str(inv, "cc", false, &cc, &cl, NULL);
    proto_get_str(inv, "version", false, &ver, &vl, NULL);
    proto_get_bin(inv, "payload", false, &payload, &plen, NULL);
    proto_get_int(inv, "deadline_ms", false, &deadline, NULL);
    bool stream = false;
    proto_get_bool(inv, "stream", false, &stream, NULL);

    snprintf(r->rid, sizeof(r->rid), "%.*s", (int)rl, rid);
    char *pl = malloc(plen + 1);
    char *arn_s = strndup(arn, al);
    char *cc_s = cc != NULL ? strndup(cc, cl) : NULL;
    char *ver_s = strndup(ver, vl);
    if (pl == NULL || arn_s == NULL || ver_s == NULL) {
        fprintf(stderr, "lamina-runtime: out of memory\n");
        _exit(70);
    }
    if (plen > 0) {
        memcpy(pl, payload, plen);
    }
    pl[plen] = '\0';

    lm_request req = {
        .payload = pl,
        .payload_len = plen,
        .request_id = r->rid,
        .function_name = cfg->function,
        .function_version = ver_s,
        .invoked_arn = arn_s,
        .client_context = cc_s,
        .deadline_ms = deadline,
        .memory_mb = cfg->memory_mb,
        .log_sink = logcap_sink,
        .log_arg = NULL,
    };
    lm_response res;
    memset(&res, 0, sizeof(res));
    rt_stream st = {.work = work, .cfg = cfg, .rid = r->rid};
    if (stream) {
        res.stream = send_chunk;
        res.stream_arg = &st;
    }
    logcap_begin(r->rid);
    double t0 = now_ms();
    int rc = h->handler(&req, &res);
    if (stream && rc == 0 && !res.is_error && res.failed == 0 && res.prelude != NULL && !res.sent) {
        /* a prelude and no body: send the prelude alone */
        if (send_chunk(&st, res.prelude, res.prelude_len, "", 0) == LM_STREAM_OK) {
            res.sent = 1;
        }
    }
    r->dur_ms = now_ms() - t0;
    logcap_end();
    classify_response(r, &res, rc);
    lm_internal_response_reset(&res);
    free(pl);
    free(arn_s);
    free(cc_s);
    free(ver_s);
}

/* The log copied into each NEXT (only the main thread sends NEXT). */
static char logbuf[RT_LOG_CAP_PER_INVOKE];

static int send_next(wire *work, const rt_config *cfg, const rt_init_report *init,
                     const rt_result *r)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return -1;
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 5);
    pw_header(&w, "next");
    pw_key(&w, "token");
    pw_str(&w, cfg->token);
    pw_key(&w, "pid");
    pw_int(&w, (int64_t)cfg->pid);
    if (init != NULL) {
        size_t ll = logcap_copy(logbuf, sizeof(logbuf));
        pw_key(&w, "init");
        pw_map(&w, 4);
        pw_key(&w, "log");
        pw_bin(&w, logbuf, ll);
        pw_key(&w, "ok");
        pw_bool(&w, init->ok);
        pw_key(&w, "type");
        pw_str(&w, init->ok ? "" : init->error_type);
        pw_key(&w, "message");
        pw_str(&w, init->message);
    } else if (r != NULL) {
        size_t tl = logcap_copy(logbuf, sizeof(logbuf));
        pw_key(&w, "result");
        pw_map(&w, 6);
        pw_key(&w, "rid");
        pw_str(&w, r->rid);
        pw_key(&w, "ferr");
        pw_str(&w, r->ferr);
        pw_key(&w, "payload");
        pw_bin(&w, r->payload != NULL ? r->payload : "null",
               r->payload != NULL ? r->payload_len : 4);
        pw_key(&w, "log");
        pw_bin(&w, logbuf, tl);
        pw_key(&w, "dur_ms");
        pw_double(&w, r->dur_ms);
        pw_key(&w, "maxrss_mb");
        pw_int(&w, max_rss_mb());
    } else {
        pw_key(&w, "idle");
        pw_bool(&w, true);
    }
    int rv = w.err != 0 ? -1 : wire_send(work, nng_msg_body(m), nng_msg_len(m));
    nng_msg_free(m);
    return rv != 0 ? -1 : 0;
}

int serve_loop(wire *work, const rt_config *cfg, const rt_handler *h, const rt_init_report *init)
{
    rt_result r;
    bool have_result = false;
    bool first = true;
    memset(&r, 0, sizeof(r));
    for (;;) {
        int s = send_next(work, cfg, first ? init : NULL, have_result ? &r : NULL);
        free(r.payload);
        memset(&r, 0, sizeof(r));
        have_result = false;
        first = false;
        if (s != 0) {
            return 71;
        }
        nng_msg *m = NULL;
        if (wire_recv(work, &m, -1) != 0) {
            return 72; /* broker went away */
        }
        proto_doc doc;
        const char *op = "";
        size_t oplen = 0;
        lm_error e;
        if (proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, &e) != LM_OK ||
            proto_get_str(doc.root, "op", true, &op, &oplen, &e) != LM_OK) {
            fprintf(stderr, "lamina-runtime: bad message from broker: %s\n", e.message);
            proto_doc_finish(&doc);
            nng_msg_free(m);
            return 73;
        }
        if (oplen == 6 && memcmp(op, "invoke", 6) == 0 && init->ok && h->handler != NULL) {
            run_invocation(work, cfg, h, doc.root, &r);
            have_result = true;
        } else {
            proto_doc_finish(&doc);
            nng_msg_free(m);
            return 0; /* "shutdown" (or nothing we can run) */
        }
        proto_doc_finish(&doc);
        nng_msg_free(m);
    }
}
