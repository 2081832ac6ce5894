/*
 * sdk/src/handler.c — the handler-side API of liblamina: request accessors,
 * logging and response building.  The runtime owns every object passed in;
 * these functions only read requests and fill responses (see handler.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "sdk_internal.h"

_Static_assert(LM_STREAM_MAX_BYTES == PROTO_MAX_STREAM_RESPONSE,
               "the SDK and the broker agree on the stream cap");

LM_EXPORT const char *lm_request_payload(const lm_request *req, size_t *len)
{
    if (len != NULL) {
        *len = req->payload_len;
    }
    return req->payload;
}

LM_EXPORT const char *lm_request_id(const lm_request *req)
{
    return req->request_id;
}
LM_EXPORT const char *lm_function_name(const lm_request *req)
{
    return req->function_name;
}
LM_EXPORT const char *lm_function_version(const lm_request *req)
{
    return req->function_version;
}
LM_EXPORT const char *lm_invoked_function_arn(const lm_request *req)
{
    return req->invoked_arn;
}
LM_EXPORT const char *lm_client_context(const lm_request *req)
{
    return req->client_context;
}
LM_EXPORT uint32_t lm_memory_limit_mb(const lm_request *req)
{
    return req->memory_mb;
}

LM_EXPORT int64_t lm_remaining_ms(const lm_request *req)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t left = req->deadline_ms - now;
    return left > 0 ? left : 0;
}

LM_EXPORT void lm_log(const lm_request *req, const char *fmt, ...)
{
    char line[8192];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\t%s\tINFO\t",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, req->request_id);
    if (n < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2; /* truncated: keep room for the newline */
    }
    line[len++] = '\n';
    if (req->log_sink != NULL) {
        req->log_sink(req->log_arg, line, len);
    } else {
        fwrite(line, 1, len, stderr);
    }
}

LM_EXPORT int lm_response_set(lm_response *res, const void *data, size_t len)
{
    if (res->written > 0 || res->sent) {
        return -1; /* the response is being written in pieces */
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return -1;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    copy[len] = '\0';
    free(res->data);
    res->data = copy;
    res->len = len;
    res->has_data = 1;
    return 0;
}

static char *vformat(const char *fmt, va_list ap, size_t *len)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) {
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL) {
        return NULL;
    }
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    *len = (size_t)n;
    return buf;
}

LM_EXPORT int lm_response_printf(lm_response *res, const char *fmt, ...)
{
    size_t len = 0;
    if (res->written > 0 || res->sent) {
        return -1; /* the response is being written in pieces */
    }
    va_list ap;
    va_start(ap, fmt);
    char *buf = vformat(fmt, ap, &len);
    va_end(ap);
    if (buf == NULL) {
        return -1;
    }
    free(res->data);
    res->data = buf;
    res->len = len;
    res->has_data = 1;
    return 0;
}

LM_EXPORT int lm_response_error(lm_response *res, const char *error_type, const char *fmt, ...)
{
    size_t len = 0;
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap, &len);
    va_end(ap);
    free(res->error_type);
    free(res->error_message);
    res->error_type = strdup(error_type != NULL ? error_type : "Error");
    res->error_message = msg;
    res->is_error = 1;
    return -1;
}

LM_EXPORT int lm_response_stream_start(lm_response *res, const char *prelude_json)
{
    if (res->started || res->is_error || res->has_data) {
        return LM_STREAM_ERROR; /* once, before the first write (and not after a set) */
    }
    size_t n = prelude_json != NULL ? strlen(prelude_json) : 0;
    if (n > PROTO_STREAM_PRELUDE_MAX) {
        return LM_STREAM_ERROR;
    }
    if (prelude_json != NULL && (res->prelude = strndup(prelude_json, n)) == NULL) {
        return LM_STREAM_ERROR;
    }
    res->prelude_len = n;
    res->started = 1;
    return LM_STREAM_OK;
}

/* Buffered: append to data (capped at the stream cap; the runtime then
 * applies the buffered response cap). */
static int append_piece(lm_response *res, const void *data, size_t len)
{
    if (res->len + len + 1 > res->cap) {
        size_t cap = res->cap == 0 ? 4096 : res->cap;
        while (cap < res->len + len + 1) {
            cap *= 2;
        }
        char *p = realloc(res->data, cap);
        if (p == NULL) {
            return LM_STREAM_ERROR;
        }
        res->data = p;
        res->cap = cap;
    }
    memcpy(res->data + res->len, data, len);
    res->len += len;
    res->data[res->len] = '\0';
    res->has_data = 1;
    return LM_STREAM_OK;
}

LM_EXPORT int lm_response_write(lm_response *res, const void *data, size_t len)
{
    if (res->failed != 0) {
        return res->failed;
    }
    if (data == NULL && len > 0) {
        return LM_STREAM_ERROR;
    }
    if (!res->started && res->has_data) {
        return LM_STREAM_ERROR; /* a whole response was set already */
    }
    res->started = 1;
    if (len == 0) {
        return LM_STREAM_OK;
    }
    if (len > LM_STREAM_MAX_BYTES - res->written) {
        res->failed = LM_STREAM_TOO_LARGE;
        return res->failed;
    }
    if (res->stream == NULL) {
        int rc = append_piece(res, data, len);
        if (rc == LM_STREAM_OK) {
            res->written += len;
        }
        return rc;
    }
    /* the broker takes pieces of PROTO_STREAM_CHUNK_MAX at most; the prelude
     * goes with the first */
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        size_t n = left > PROTO_STREAM_CHUNK_MAX ? PROTO_STREAM_CHUNK_MAX : left;
        int rc = res->stream(res->stream_arg, res->sent ? NULL : res->prelude,
                             res->sent ? 0 : res->prelude_len, p, n);
        if (rc != LM_STREAM_OK) {
            res->failed = rc;
            return rc;
        }
        res->sent = 1;
        res->written += n;
        p += n;
        left -= n;
    }
    return LM_STREAM_OK;
}

LM_EXPORT const char *lm_env_function_name(const lm_env *env)
{
    return env->function_name;
}
LM_EXPORT const char *lm_env_function_version(const lm_env *env)
{
    return env->function_version;
}
LM_EXPORT uint32_t lm_env_memory_limit_mb(const lm_env *env)
{
    return env->memory_mb;
}

LM_EXPORT void lm_internal_response_reset(lm_response *res)
{
    free(res->data);
    free(res->error_type);
    free(res->error_message);
    free(res->prelude);
    memset(res, 0, sizeof(*res));
}
