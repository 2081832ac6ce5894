/*
 * broker/async/async.h — the async layer: the durable queue of Event
 * invokes, its dispatcher, retries and destinations (asyncq.c), and
 * event-wait (asyncwait.c).  Calls the core and the store; never a way in,
 * never admin/.
 */
#ifndef BROKER_ASYNC_ASYNC_H
#define BROKER_ASYNC_ASYNC_H

#include "core/core.h"

/* ---- asyncq.c: InvocationType Event (see the head of asyncq.c) ---- */
#define ASYNCQ_MAX_PAYLOAD 1048576u /* async payload cap (Lambda: 1 MB since Oct 2025) */
#define ASYNCQ_MAX_DEPTH 100000 /* events waiting at once; past it: 429 */
int asyncq_start(const char *db_path);
/* Commit what was accepted, wait for running async invocations' outcomes
 * (call after pool_stop), stop the thread.  Pending events stay stored. */
void asyncq_stop(void);
/* Queue an accepted Event invoke: the asyncq thread stores it durably and
 * then replies 202 on actx.  key (key_len bytes, already valid: see
 * proto_idempotency_key_problem) is its IdempotencyKey, or NULL: a repeat
 * of (name, key) within ASYNCQ_KEY_TTL_MS of broker time gets the first
 * 202, or 400 IdempotentParameterMismatch for another qualifier or payload.
 * Takes ownership of req (payload and key point into it).  Never blocks. */
#define ASYNCQ_KEY_TTL_MS (24LL * 3600 * 1000)
void asyncq_submit(api_ctx *actx, nng_msg *req, const char *name, const char *qual,
                   const void *payload, size_t payload_len, const char *key, size_t key_len);
/* Events stored and not yet finished, and how many are running now. */
void asyncq_counts(int64_t *queued, int *running);
/* event-wait: answer on actx once event rid is done (asyncwait.c), or with
 * its status after timeout_ms. */
void asyncq_wait(api_ctx *actx, const char *rid, int64_t timeout_ms);

/* ---- asyncwait.c: the event-wait call (see the head of asyncwait.c) ---- */
/* The api request {RequestId, TimeoutMs?}: validate, then asyncq_wait. */
void asyncwait_handle(api_ctx *actx, const proto_doc *doc);
/* Register a waiter (api side); true when the asyncq thread must look the
 * id up (asyncwait_service).  Answers at once when the event is known to be done. */
bool asyncwait_add(api_ctx *actx, const char *rid, int64_t deadline_epoch_ms);
/* asyncq thread, after the COMMIT that finished event rid with cond; record
 * is the request id of the invocation record sent to a destination, or "";
 * ferr/etype the last run's FunctionError and errorType ("" if none). */
void asyncwait_finished(const char *rid, const char *cond, const char *record, const char *ferr,
                        const char *etype);
/* asyncq thread: look up new waiters' ids with stored(), answer those past
 * their deadline; returns the next deadline (epoch ms, INT64_MAX if none). */
int64_t asyncwait_service(int64_t now_epoch_ms, bool (*stored)(const char *rid));
/* Answer every waiter "stopping" and forget everything (broker stop). */
void asyncwait_stop(void);

#endif
