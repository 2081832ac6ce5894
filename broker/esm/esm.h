/*
 * broker/esm/esm.h — event source mappings: the broker's pollers.  A
 * mapping joins one of the broker's queues (standard or FIFO) or streams
 * to a function; the esm thread reads the source, drops the records no
 * filter matches, gathers the rest into batches and invokes the function
 * synchronously with each (core/core.h's invoke_start), then deletes the
 * queue messages or moves the stream's checkpoint.  README.md in this
 * folder says what it does where Lambda is silent.
 *
 * Rank 3 (tests/layers/check_layers.py), beside admin/ and async/: it calls
 * the core (invoke_start), the messaging engine (its own mq instance on its
 * own store connection, as async/ does) and the store (store/esm.h); front/
 * runs its api ops through esm_submit.  Nothing below includes it: the
 * messaging thread tells it about new messages through the ready hook
 * main.c wires to esm_notify.
 *
 * Threads and locks: one thread (the esm thread) owns every mapping, its
 * connection and its engine instance.  E.mtx (a leaf, esm.c) guards only
 * the hand-over lists: submitted ops, finished invocations (their
 * completion runs under B.mtx and only copies the outcome) and wake-ups.
 */
#ifndef BROKER_ESM_ESM_H
#define BROKER_ESM_ESM_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <nng/nng.h>

#include "lib/completion.h"
#include "messaging/service.h"

/* Filters per mapping: Lambda's default quota, and the most the broker
 * option --esm-max-filters may raise it to. */
#define ESM_FILTERS_DEFAULT 5
#define ESM_FILTERS_MAX 10

/* An api op runs on the esm thread with the messaging layer's op
 * signature (mqsvc_op_fn): the esm thread's own engine instance, the call
 * (c->args: the request's "args", {} when absent; c->now_ms) and the whole
 * reply, or NULL with *e set.  So front/ops.c's table rows stay alike. */

/* Open db_path, load the mappings and start the thread (max_filters:
 * 5-10).  0, or -1 after logging why. */
int esm_start(const char *db_path, int max_filters);
/* Stop polling, wait (up to 10 s) for running batches, answer what is
 * queued with LM_E_STOPPING.  Batches whose outcome did not arrive stay in
 * the source: their messages become visible again, their checkpoint did
 * not move. */
void esm_stop(void);
/* Run fn on the esm thread for request msg (taken; args its "args" map or
 * NULL).  done exactly once. */
void esm_submit(nng_msg *msg, const msgpack_object *args, mqsvc_op_fn fn, completion done);
/* Messages may be available on queue (NULL or "": any queue or stream);
 * any thread, a leaf lock. */
void esm_notify(const char *queue);
/* For status: mappings, batches invoked, batches that failed, records
 * delivered to functions, records dropped by filters. */
typedef struct esm_counters {
    int64_t mappings, batches, failures, records, filtered;
} esm_counters;
void esm_counts(esm_counters *c);

/* The ops (front/ops.c's table), Lambda's field names:
 *   esm-create {FunctionName, EventSourceArn, …}  -> the mapping
 *   esm-list {FunctionName?, EventSourceArn?}      -> {EventSourceMappings:[…]}
 *   esm-get / esm-delete / esm-enable / esm-disable {UUID} -> the mapping
 *   esm-update {UUID, …}                           -> the mapping */
nng_msg *esm_op_create(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *esm_op_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *esm_op_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *esm_op_update(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *esm_op_delete(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *esm_op_enable(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *esm_op_disable(mq *m, mqsvc_call *c, lm_error *e);

#endif
