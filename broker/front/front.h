/*
 * broker/front/front.h — the ways in: the api socket (api.c), over the one
 * op table (ops.c), and HTTP (http.c: function URLs).  A way in decodes a request, looks its op
 * up, and calls the layers below with a completion that encodes and sends
 * the answer; nothing below includes this header or knows who is waiting.
 */
#ifndef BROKER_FRONT_FRONT_H
#define BROKER_FRONT_FRONT_H

#include "core/core.h"

#include "admin/admin.h"
#include "esm/esm.h"
#include "lib/completion.h"
#include "messaging/service.h"

/* ---- api.c: the api socket ---- */
int api_start(void);
void api_stop(void);

/* ---- http.c: the HTTP front end (function URLs, /healthz) ----
 * Serve on addr ("HOST:PORT", port 0: any) with the request deadlines
 * header_s (headers, from the connection's start or its last response)
 * and body_s (body, from the headers).  Writes <state>/http.url.  0, or
 * -1 after logging why.  api_auth: the Lambda REST API requires SigV4
 * (false: --http-auth none, for loopback development).  http_stop waits up to 5 s for running
 * invocations (call it after pool_stop). */
int http_start(const char *addr, double header_s, double body_s, bool api_auth);
void http_stop(void);
const char *http_base(void); /* "http://127.0.0.1:9001" */

/* ---- lambda_api.c: Lambda's REST API (http.c routes to it) ---- */
#include "lib/urlmap.h"

/* What the REST API answers (the callee owns body and log_result). */
typedef struct lapi_answer {
    int status;
    const char *ctype; /* NULL: application/json */
    char *body;
    size_t len;
    char error_type[64]; /* x-amzn-ErrorType, "" on success */
    char function_error[16]; /* X-Amz-Function-Error (invoke) */
    char executed_version[16]; /* X-Amz-Executed-Version (invoke) */
    char request_id[40];
    char *log_result; /* X-Amz-Log-Result (invoke with Tail) */
} lapi_answer;
typedef void (*lapi_done_fn)(void *arg, lapi_answer *a);

/* Is this one of the Lambda API's paths (/2015-03-31/…, /2019-09-25/…,
 * /2021-10-31/…)? */
bool lapi_match(const char *path);
/* Run a whole, authorised request; done(arg, answer) exactly once, maybe
 * before this returns, else from another thread.  Everything is borrowed
 * for the call. */
void lapi_start(const char *method, const char *path, const char *query, const urlmap_header *h,
                size_t nh, const void *body, size_t len, lapi_done_fn done, void *arg);

/* ---- ops.c: the one op table ---- */
typedef enum op_where {
    OP_INLINE, /* in the way in's callback: must not block */
    OP_ADMIN, /* on the admin thread, one at a time */
    OP_MESSAGING, /* on the messaging thread, grouped into one commit */
    OP_ESM /* on the esm thread (event source mappings: it owns them) */
} op_where;

typedef enum op_args {
    OP_ARGS_NONE, /* the op's fields are at the top level */
    OP_ARGS_OPTIONAL, /* an "args" map, if present, must be a map */
    OP_ARGS_REQUIRED
} op_args;

/* An inline op: takes msg (the request; doc points into it, and args into
 * doc); done exactly once. */
typedef void (*op_run_fn)(nng_msg *msg, const proto_doc *doc, const msgpack_object *args,
                          completion done);

typedef struct op_def {
    const char *name;
    op_where where;
    op_args args;
    op_run_fn run; /* OP_INLINE */
    admin_op_fn admin; /* OP_ADMIN */
    mqsvc_op_fn mq; /* OP_MESSAGING, and OP_ESM (run on the esm thread's own engine) */
} op_def;

/* The op named op (n bytes), or NULL. */
const op_def *ops_find(const char *op, size_t n);
/* The whole table (n entries), for listing. */
const op_def *ops_table(size_t *n);
/* Run a looked-up op on a decoded request: check args, then run it inline
 * or queue it to the admin thread.  Takes msg; done exactly once. */
void ops_run(const op_def *d, nng_msg *msg, const proto_doc *doc, completion done);

#endif
