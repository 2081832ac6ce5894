/*
 * broker/messaging/service.h — the messaging layer's service: the thread
 * that owns the broker's queues and topics (the engine of mq.h on one
 * SQLite connection of its own) and runs their api operations.
 *
 * Rank: beside the core (tests/layers/check_layers.py): it includes only
 * lib/ and its own folder.  Ways in (front/ops.c) submit operations with a
 * completion; the async layer delivers destination records and DLQ messages
 * through its own engine instance on its own connection (mq.h allows
 * several) and tells this thread with mqsvc_notify_ready().  Topic
 * deliveries to functions go through an invoke hook that main.c sets (the
 * async layer stores them), so this folder never includes async/.
 *
 * Threads and locks: one thread (the messaging thread) runs every
 * operation; S.mtx (a leaf) guards only the hand-over lists.  Operations
 * waiting at one time run in one transaction (group commit: N sends, one
 * fsync) and are answered after its COMMIT; a receive with a wait
 * (WaitTimeSeconds, or the queue's ReceiveMessageWaitTimeSeconds) that
 * finds nothing is parked, not polled: it runs again when a commit makes a
 * message of its queue available (the engine's ready hook, or
 * mqsvc_notify_ready), when broker time reaches the queue's next wake
 * (mq_next_wake_ms: a delay or visibility timeout ending; a test clock
 * advance wakes it too), and a last time at its deadline (real time).  A
 * bus-tail with a wait is parked the same way, on its bus, until a COMMIT
 * puts an event there.  S.mtx also guards the copy of the bus counters
 * that status reads.
 */
#ifndef BROKER_MESSAGING_SERVICE_H
#define BROKER_MESSAGING_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <nng/nng.h>

#include "lib/completion.h"
#include "messaging/mq.h"
#include "proto.h"

/* One call of an operation on the messaging thread. */
typedef struct mqsvc_call {
    const cJSON *args; /* the request's "args" as JSON ({} when absent) */
    int64_t now_ms; /* broker time of this run */
    bool may_wait; /* a receive or a bus-tail may ask to be parked */
    int wait_s; /* out: a receive that found nothing asks to wait this long */
    char queue[MQ_QUEUE_NAME_MAX + 1]; /* out, with wait_s: on which queue */
    char bus[MQ_BUS_NAME_MAX + 1]; /* out, with wait_s: a bus-tail waits on this bus */
} mqsvc_call;

/* An operation: the whole reply, or NULL with *e set; or NULL with
 * e->code LM_OK and c->wait_s > 0 to be parked (receive and bus-tail).  Runs in
 * the service's transaction: what it wrote is undone if the COMMIT fails. */
typedef nng_msg *(*mqsvc_op_fn)(mq *m, mqsvc_call *c, lm_error *e);

/* What the layers above (async/ and esm/, wired by main.c) do, on the
 * messaging thread: invoke stores a topic delivery to a function in the
 * publish's transaction on db; after runs after every transaction
 * (committed or not); close runs before db is closed; ready is told after
 * a commit that a queue may have messages to receive (ours or another
 * instance's, through mqsvc_notify_ready), or with NULL that records were
 * put into streams: the event source mappings' pollers look again.  Any
 * may be NULL (without invoke, function deliveries fail). */
struct sqlite3;
typedef struct mqsvc_hooks {
    int (*invoke)(struct sqlite3 *db, const mq_delivery *d, lm_error *e);
    void (*after)(bool committed);
    void (*close)(void);
    void (*ready)(const char *queue);
} mqsvc_hooks;

/* Open db_path (the state dir's database), apply the engine's schema and
 * start the thread.  0, or -1 after logging why. */
int mqsvc_start(const char *db_path, const mqsvc_hooks *hooks);
/* Answer everything queued or parked with LM_E_STOPPING and stop. */
void mqsvc_stop(void);
/* Run fn on the messaging thread for request msg (taken; args is its
 * "args" map or NULL).  done exactly once. */
void mqsvc_submit(nng_msg *msg, const msgpack_object *args, mqsvc_op_fn fn, completion done);
/* Another engine instance committed messages that queue can deliver
 * (any thread, any lock but S.mtx's callers: a leaf). */
void mqsvc_notify_ready(const char *queue);

/* Receives parked now (status). */
int mqsvc_waiting(void);
/* Another engine instance (async/'s) committed an event on bus (an
 * mq_event_fn for mq_set_event_hook): copied, it joins the bus's tail ring
 * on this thread and wakes its parked tails.  Best-effort: dropped when
 * MQSVC_MAX_EVENT_NOTES wait.  Any thread. */
void mqsvc_notify_event(const char *bus, const char *text);
/* Add what another instance's bus counters moved by (after - before) to
 * status's Messaging.Buses.  Any thread. */
void mqsvc_count_bus(const mq_bus_stats *before, const mq_bus_stats *after);
/* status's "Messaging" value: {WaitingReceives, WaitingTails, Buses:
 * {EventsPut, Deliveries, FailedDeliveries, Retries, DeadLettered,
 * Dropped, Archived, Replayed}} (the messaging thread's engine counters
 * plus mqsvc_count_bus's, committed work since the broker started).  Any
 * thread. */
void mqsvc_write_status(proto_writer *w);

/* An "ok" reply whose body is j (taken; NULL: out of memory, *e set), for
 * the ops of ops.c, stream_ops.c and bus_ops.c. */
nng_msg *mqops_reply_json(cJSON *j, lm_error *e);

/* The operations (front/ops.c's table; QUEUE-OPS in <lamina/client.h>). */
nng_msg *mqops_queue_create(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_set(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_purge(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_delete(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_send(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_send_batch(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_receive(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_delete_message(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_queue_change_visibility(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_create(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_delete(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_subscribe(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_unsubscribe(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_subscriptions(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_topic_publish(mq *m, mqsvc_call *c, lm_error *e);

/* ==== streams (stream_ops.c; STREAM-OPS in <lamina/client.h>) ==== */
nng_msg *mqops_stream_create(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_delete(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_put(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_put_batch(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_iterator(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_get_records(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_split(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_stream_merge(mq *m, mqsvc_call *c, lm_error *e);
/* ==== end of streams ==== */
/* ---- buses (bus_ops.c; EventBridge's field names) ----
 *   "bus-create" {Name} -> {EventBusArn}      "bus-delete" {Name} -> {}
 *   "bus-list" {} -> {EventBuses:[{Name, Arn}]}
 *   "rule-put" {Name, EventBusName?, EventPattern | ScheduleExpression, State?}
 *        -> {RuleArn}
 *   "rule-delete" {Name, EventBusName?, Force?} -> {} (refused while the rule
 *        has targets, unless Force)
 *   "rule-targets-put" {Rule, EventBusName?, Targets:[{Id, Arn, Input? |
 *        InputPath? | InputTransformer?, RetryPolicy?, DeadLetterConfig?,
 *        SqsParameters?{MessageGroupId}}]} -> {FailedEntryCount,
 *        FailedEntries:[{TargetId, ErrorCode, ErrorMessage}]} (per target)
 *   "bus-put-events" {Entries:[{Source, DetailType, Detail, Resources?,
 *        EventBusName?}]} -> {FailedEntryCount, Entries:[{EventId} |
 *        {ErrorCode, ErrorMessage}]} */
nng_msg *mqops_bus_create(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_bus_delete(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_bus_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_put(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_delete(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_targets_put(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_bus_put_events(mq *m, mqsvc_call *c, lm_error *e);
/*   "bus-get" {Name?} -> {Name, Arn, Rules}
 *   "rule-get" {Name, EventBusName?} -> {Name, Arn, EventBusName, EventPattern, State, Targets}
 *   "rule-list" {EventBusName?} -> {Rules:[…]}
 *   "rule-enable" / "rule-disable" {Name, EventBusName?} -> {}
 *   "rule-targets-list" {Rule, EventBusName?} -> {Targets:[{Id, Arn, Input?, InputPath?,
 *        InputTransformer?}]}
 *   "rule-targets-remove" {Rule, EventBusName?, Ids:[…]} -> {Removed} */
nng_msg *mqops_bus_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_enable(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_disable(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_targets_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_rule_targets_remove(mq *m, mqsvc_call *c, lm_error *e);
/*   "bus-tail" {EventBusName?, Cursor?, WaitTimeSeconds? (0-20, default 0),
 *        Limit? (1-100, default 100)} -> {Events:[envelope, …], NextCursor,
 *        Missed?, Reset?}.  Without Cursor: no events and the cursor of
 *        "now"; with one, the events put on the bus since, or, when there
 *        are none and WaitTimeSeconds > 0, parked until an event is put on
 *        the bus (its COMMIT) or the wait ends.  Best-effort: an in-memory
 *        ring per bus (mq.h MQ_TAIL_*), not durable. */
nng_msg *mqops_bus_tail(mq *m, mqsvc_call *c, lm_error *e);
/*   "archive-create" {ArchiveName, EventSourceArn (bus name or ARN),
 *        EventPattern?, Description?, RetentionDays? (0 forever, default)}
 *        -> {ArchiveArn, State}
 *   "archive-delete" / "archive-get" {ArchiveName}    -> {} / {ArchiveName,
 *        ArchiveArn, EventSourceArn, EventPattern?, Description, State,
 *        RetentionDays, CreationTime, EventCount, SizeBytes}
 *   "archive-list" {EventSourceArn?} -> {Archives:[…]}
 *   "replay-start" {ReplayName, EventSourceArn (archive name or ARN),
 *        EventStartTime, EventEndTime (RFC 3339 UTC or epoch seconds),
 *        Destination?{Arn (the archive's bus), FilterArns?}} -> {ReplayArn, State}
 *   "replay-get" {ReplayName} -> {ReplayName, …, State, EventsReplayed, …}
 *   "replay-list" {} -> {Replays:[…]}
 * A replay runs on the messaging thread after its start is committed, in
 * batches between other work (mqsvc: replays). */
nng_msg *mqops_archive_create(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_archive_delete(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_archive_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_archive_list(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_replay_start(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_replay_get(mq *m, mqsvc_call *c, lm_error *e);
nng_msg *mqops_replay_list(mq *m, mqsvc_call *c, lm_error *e);
/* ---- end of buses ---- */

#endif
