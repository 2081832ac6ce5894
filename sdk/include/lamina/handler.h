/*
 * lamina/handler.h — write a Lamina function handler in C.
 *
 * A handler is a shared object built against this header and liblamina:
 *
 *     #include <lamina/handler.h>
 *
 *     static int hello(const lm_request *req, lm_response *res) {
 *         size_t n;
 *         const char *event = lm_request_payload(req, &n);
 *         lm_log(req, "got %zu bytes", n);
 *         return lm_response_printf(res, "{\"echo\":%.*s}", (int)n, event);
 *     }
 *     LM_HANDLER(hello);
 *
 *     cc -shared -fPIC hello.c $(pkg-config --cflags --libs lamina) -o hello.so
 *
 * Contract:
 * - The handler runs in its own sandboxed worker process (one execution
 *   environment), one invocation at a time.  Globals survive between warm
 *   invocations of the same environment; nothing is shared between
 *   environments.
 * - Return 0 with a response set (or nothing set: the result is `null`).
 *   lm_response_error() or a non-zero return is a "Handled" function error.
 * - The response must be valid JSON and at most 6291556 bytes; otherwise the
 *   caller gets an "Unhandled" Runtime.InvalidResponse or
 *   Function.ResponseSizeTooLarge error.
 * - Everything the handler writes to stdout/stderr, and every lm_log() line,
 *   goes to the invocation's log.
 * - Request data (payload, ids, names) is valid only during the call.
 * - A response may instead be written in pieces (lm_response_write, below),
 *   streamed to the client by RESPONSE_STREAM function URLs.
 */
#ifndef LAMINA_HANDLER_H
#define LAMINA_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LM_EXPORT __attribute__((visibility("default")))
#define LM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LM_EXPORT
#define LM_PRINTF(f, a)
#endif

/* ABI version of the handler <-> runtime contract.  Bumped when the layout
 * or meaning of anything below changes incompatibly; the runtime refuses a
 * handler stamped with another version (Runtime.InvalidEntrypoint). */
#define LM_ABI_VERSION 1u

typedef struct lm_request lm_request; /* opaque, read-only, owned by the runtime */
typedef struct lm_response lm_response; /* opaque, owned by the runtime */
typedef struct lm_env lm_env; /* opaque, passed to the init function */

typedef int (*lm_handler_fn)(const lm_request *req, lm_response *res);
typedef int (*lm_init_fn)(const lm_env *env);

/* Symbol names the runtime looks up with dlsym(). */
#define LM_SYM_ABI "lamina_abi_version"
#define LM_SYM_HANDLER "lamina_handler"
#define LM_SYM_INIT "lamina_init"

/* LM_HANDLER(fn); at file scope: exports fn as the entry point and stamps
 * the SDK ABI version into the .so. */
#define LM_HANDLER(fn)                                                            \
    LM_EXPORT const uint32_t lamina_abi_version = LM_ABI_VERSION;                 \
    LM_EXPORT int lamina_handler(const lm_request *lm_req_, lm_response *lm_res_) \
    {                                                                             \
        return fn(lm_req_, lm_res_);                                              \
    }                                                                             \
    extern int lamina_handler_defined_once_

/* LM_INIT(fn); at file scope, optional: fn runs once per execution
 * environment, before the first invocation.  A non-zero return fails the
 * environment (the invoke gets Runtime.InitError). */
#define LM_INIT(fn)                                  \
    LM_EXPORT int lamina_init(const lm_env *lm_env_) \
    {                                                \
        return fn(lm_env_);                          \
    }                                                \
    extern int lamina_init_defined_once_

/* ---- request (read-only; pointers valid until the handler returns) ---- */

/* The event payload (JSON bytes, not NUL-terminated in general but always
 * followed by a NUL for convenience).  *len receives its length if non-NULL. */
LM_EXPORT const char *lm_request_payload(const lm_request *req, size_t *len);
/* Request id, a UUID string. */
LM_EXPORT const char *lm_request_id(const lm_request *req);
LM_EXPORT const char *lm_function_name(const lm_request *req);
/* "$LATEST" or a published version number. */
LM_EXPORT const char *lm_function_version(const lm_request *req);
/* The ARN-like name the function was invoked as, e.g. "function:hello:$LATEST". */
LM_EXPORT const char *lm_invoked_function_arn(const lm_request *req);
/* The caller's ClientContext (JSON text) or NULL when none was given. */
LM_EXPORT const char *lm_client_context(const lm_request *req);
/* Milliseconds left before the broker times this invocation out. */
LM_EXPORT int64_t lm_remaining_ms(const lm_request *req);
LM_EXPORT uint32_t lm_memory_limit_mb(const lm_request *req);

/* Append one line to the invocation's log, formatted like Lambda's managed
 * runtimes: "<ISO time>\t<request id>\tINFO\t<message>". */
LM_EXPORT void lm_log(const lm_request *req, const char *fmt, ...) LM_PRINTF(2, 3);

/* ---- response ---- */

/* Set the response payload to a copy of data[0..len).  0 or -1 (ENOMEM). */
LM_EXPORT int lm_response_set(lm_response *res, const void *data, size_t len);
/* Set the response payload from a format.  0 or -1. */
LM_EXPORT int lm_response_printf(lm_response *res, const char *fmt, ...) LM_PRINTF(2, 3);
/* Report a handled function error: the caller gets FunctionError "Handled"
 * and {"errorType": error_type, "errorMessage": <formatted>}.  Returns -1 so
 * that `return lm_response_error(...)` reads naturally. */
LM_EXPORT int lm_response_error(lm_response *res, const char *error_type, const char *fmt, ...)
    LM_PRINTF(3, 4);

/* ---- streamed responses ----
 *
 * A handler may write its response in pieces instead of setting it whole.
 * Invoked through a function URL whose InvokeMode is RESPONSE_STREAM, each
 * piece goes to the HTTP client as it is written (a chunked response), and
 * a write blocks until the broker has passed the previous piece on: a slow
 * client slows the handler down, nothing piles up.  Invoked any other way
 * (the api socket, a BUFFERED URL, an async event), the pieces are joined
 * and the whole is the response, as if set by lm_response_set() — but, as
 * a stream's body is any bytes, it need not be JSON (still at most
 * 6291556 bytes there).
 *
 *     static int handler(const lm_request *req, lm_response *res) {
 *         lm_response_stream_start(res, "{\"statusCode\":200,"
 *                                       "\"headers\":{\"content-type\":\"text/plain\"}}");
 *         for (int i = 0; i < 3; i++) {
 *             if (lm_response_write(res, "tick\n", 5) != 0) {
 *                 break; // the client went away, or the stream is full
 *             }
 *         }
 *         return 0;
 *     }
 *
 * - lm_response_stream_start() sets the status and headers, before any
 *   write: prelude_json is Lambda's prelude for streamed function URL
 *   responses, {"statusCode": 201, "headers": {"name": "value", ...},
 *   "cookies": ["a=b; Max-Age=60", ...]}, every field optional (status 200,
 *   Content-Type application/octet-stream by default); NULL means all
 *   defaults.  At most 65536 bytes; a prelude that is not such an object
 *   gets the client a 502.  Without a call, the first write sends the
 *   defaults.
 * - A streamed response is at most 20 MiB (20971520 bytes, Lambda's cap):
 *   the write that would pass it fails with LM_STREAM_TOO_LARGE, nothing of
 *   it is sent, and the response ends with the error
 *   Function.ResponseSizeTooLarge.
 * - An error after the first piece (lm_response_error(), a non-zero return,
 *   a crash, the timeout) cannot change the status already sent: the
 *   chunked response ends with the HTTP trailers
 *   Lambda-Runtime-Function-Error-Type (the errorType) and
 *   Lambda-Runtime-Function-Error-Body (base64 of {"errorType":…,
 *   "errorMessage":…}), the names Lambda's runtime interface uses.
 * - A handler that only sets its response (lm_response_set) works through a
 *   RESPONSE_STREAM URL too: its result is sent as the body, status 200.
 * - A response is either set whole or written in pieces: lm_response_set()
 *   and lm_response_printf() after a write fail with -1, and
 *   lm_response_stream_start() or lm_response_write() after a set fail
 *   with LM_STREAM_ERROR.
 */
#define LM_STREAM_OK 0
#define LM_STREAM_ERROR (-1) /* out of memory, a bad argument, or used out of order */
#define LM_STREAM_CLOSED (-2) /* the HTTP client went away (or the broker refused): stop */
#define LM_STREAM_TOO_LARGE (-3) /* the 20 MiB cap: nothing more can be sent */
#define LM_STREAM_MAX_BYTES 20971520u

/* Set the status, headers and cookies of a streamed response (a copy of
 * prelude_json; NULL: defaults).  Before the first write, once.
 * LM_STREAM_OK or LM_STREAM_ERROR. */
LM_EXPORT int lm_response_stream_start(lm_response *res, const char *prelude_json);
/* Write the next piece of the response (data[0..len) is copied or sent
 * before the call returns; len 0 is a no-op).  Blocks while the client
 * is slow.  Once it fails, every later write fails the same way.
 * LM_STREAM_OK, LM_STREAM_ERROR, LM_STREAM_CLOSED or LM_STREAM_TOO_LARGE. */
LM_EXPORT int lm_response_write(lm_response *res, const void *data, size_t len);

/* ---- init environment ---- */
LM_EXPORT const char *lm_env_function_name(const lm_env *env);
LM_EXPORT const char *lm_env_function_version(const lm_env *env);
LM_EXPORT uint32_t lm_env_memory_limit_mb(const lm_env *env);

#ifdef __cplusplus
}
#endif
#endif /* LAMINA_HANDLER_H */
