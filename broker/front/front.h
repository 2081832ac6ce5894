/*
 * broker/front/front.h — the ways in.  Today one: the api socket (api.c),
 * over the one op table (ops.c).  A way in decodes a request, looks its op
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
