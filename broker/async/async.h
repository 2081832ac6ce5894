/*
 * broker/async/async.h — the async layer: the durable queue of Event
 * invokes, its dispatcher, retries and destinations (asyncq.c), and
 * event-wait (asyncwait.c).  Calls the core and the store; never a way in,
 * never admin/.
 */
#ifndef BROKER_ASYNC_ASYNC_H
#define BROKER_ASYNC_ASYNC_H

#include "core/core.h"
#include "lib/completion.h"

/* ---- asyncq.c: InvocationType Event (see the head of asyncq.c) ---- */
#define ASYNCQ_MAX_PAYLOAD INVOKE_MAX_EVENT_PAYLOAD /* core/core.h */
#define ASYNCQ_MAX_DEPTH 100000 /* events waiting at once; past it: 429 */
int asyncq_start(const char *db_path);
/* Commit what was accepted, wait for running async invocations' outcomes
 * (call after pool_stop), stop the thread.  Pending events stay stored. */
void asyncq_stop(void);
/* Queue an accepted Event invoke: the asyncq thread stores it durably and
 * then completes done with the 202 reply.  key (key_len bytes, already valid: see
 * proto_idempotency_key_problem) is its IdempotencyKey, or NULL: a repeat
 * of (name, key) within ASYNCQ_KEY_TTL_MS of broker time gets the first
 * 202, or 400 IdempotentParameterMismatch for another qualifier or payload.
 * Takes ownership of req (payload and key point into it).  Never blocks. */
#define ASYNCQ_KEY_TTL_MS (24LL * 3600 * 1000)
void asyncq_submit(completion done, nng_msg *req, const char *name, const char *qual,
                   const void *payload, size_t payload_len, const char *key, size_t key_len);
/* Records and dead-letter messages that could not be delivered to a queue
 * or topic (gone, too long for it, not a queue or topic): dropped, counted
 * (status: DestinationDeliveryFailures, DeadLetterErrors). */
void asyncq_delivery_counts(int64_t *dest_failures, int64_t *dlq_errors);
/* The messaging thread's hooks (messaging/service.h, wired by main.c): a
 * topic's delivery to a function becomes an async event stored on db in
 * the publish's transaction; after it, the committed events are counted
 * and the asyncq thread woken; close before the service closes db. */
struct sqlite3;
struct mq_delivery;
int asyncq_sns_invoke(struct sqlite3 *db, const struct mq_delivery *d, lm_error *e);
void asyncq_sns_after(bool committed);
void asyncq_sns_close(void);
/* Events stored and not yet finished, and how many are running now. */
void asyncq_counts(int64_t *queued, int *running);
/* When (broker time, ms) the oldest stored event was enqueued; 0 if none.
 * Kept after each of the thread's commits. */
int64_t asyncq_oldest_ms(void);
/* event-wait: complete done once event rid is done (asyncwait.c), or with
 * its status after timeout_ms. */
#define ASYNCWAIT_DEFAULT_TIMEOUT_MS 30000
#define ASYNCWAIT_MAX_TIMEOUT_MS 900000 /* Lambda's longest function timeout */
void asyncq_wait(completion done, const char *rid, int64_t timeout_ms);

/* ---- asyncwait.c: the event-wait call (see the head of asyncwait.c) ---- */
/* Register a waiter (caller's side); true when the asyncq thread must look
 * the id up (asyncwait_service).  Completes at once when the event is known
 * to be done. */
bool asyncwait_add(completion done, const char *rid, int64_t deadline_epoch_ms);
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
