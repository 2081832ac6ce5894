/*
 * sdk/src/sdk_internal.h — layouts of the opaque handler-API types, shared by
 * liblamina and lamina-runtime only (never installed).  The runtime fills an
 * lm_request per invocation and reads the lm_response back; handlers see
 * only the accessors in <lamina/handler.h>.  Changing these layouts does not
 * change the handler ABI: handlers never see the fields.
 */
#ifndef SDK_SRC_SDK_INTERNAL_H
#define SDK_SRC_SDK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <lamina/handler.h>

/* Appends one complete log line (with its trailing newline) to the
 * invocation's log.  Called on the handler's thread. */
typedef void (*lm_log_sink_fn)(void *arg, const char *line, size_t len);

struct lm_request {
    const char *payload; /* NUL-terminated copy owned by the runtime */
    size_t payload_len;
    const char *request_id;
    const char *function_name;
    const char *function_version;
    const char *invoked_arn;
    const char *client_context; /* NULL when none */
    int64_t deadline_ms; /* CLOCK_REALTIME epoch ms */
    uint32_t memory_mb;
    lm_log_sink_fn log_sink;
    void *log_arg;
};

/* Sends one piece of a streamed response (prelude: the prelude JSON with
 * the first piece, else NULL) and waits until the broker took it.
 * LM_STREAM_OK or LM_STREAM_CLOSED.  Called on the handler's thread. */
typedef int (*lm_stream_fn)(void *arg, const char *prelude, size_t prelude_len, const void *data,
                            size_t len);

struct lm_response {
    char *data; /* malloc'd, NUL-terminated */
    size_t len;
    size_t cap; /* of data, while pieces are appended (buffered writes) */
    int has_data;
    int is_error;
    char *error_type; /* malloc'd */
    char *error_message; /* malloc'd */
    /* Written in pieces (lm_response_write).  stream is set by the runtime
     * for RESPONSE_STREAM invocations; NULL: the pieces are appended to
     * data. */
    lm_stream_fn stream;
    void *stream_arg;
    char *prelude; /* malloc'd, until sent */
    size_t prelude_len;
    int started; /* lm_response_stream_start or a write happened */
    int sent; /* something went to the broker (stream != NULL) */
    size_t written; /* bytes of body written */
    int failed; /* 0, or the LM_STREAM_* every later write returns */
};

struct lm_env {
    const char *function_name;
    const char *function_version;
    uint32_t memory_mb;
};

/* Free what a response owns and zero it (runtime side). */
LM_EXPORT void lm_internal_response_reset(lm_response *res);

#endif
