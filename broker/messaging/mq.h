/*
 * broker/messaging/mq.h — the engine of the broker's own queues (SQS
 * standard and FIFO) and topics (SNS standard): the contract the broker's
 * layers call.  broker/messaging/README.md describes the behaviour for
 * users and the wiring plan; the head of each .c file says how its part
 * works.
 *
 * What the engine is: pure state transitions over one SQLite connection.
 * No threads, no sockets, no clock of its own: every call that depends on
 * time takes `now_ms`, the broker time (epoch ms; the broker clock may be
 * a test clock that only moves forward).  The engine never sleeps and never
 * waits; a long poll is the caller's: it asks mq_next_wake_ms() when a
 * receive could next succeed and is told by the ready hook when a commit
 * made messages available.
 *
 * Transactions.  Every operation is atomic: it either does all it says or
 * writes nothing and returns an error (a batch is one operation whose
 * entries may fail one by one, each entry atomic).  An operation called
 * outside a transaction runs in its own (BEGIN IMMEDIATE … COMMIT, so it is
 * durable on return when the connection has synchronous=FULL).  Between
 * mq_begin() and mq_commit() the caller groups any number of operations into
 * one commit — group commit: N sends, one fsync — and each operation runs
 * in a savepoint of its own, so one that fails leaves the others and the
 * transaction intact.  Answer callers only after mq_commit() returned
 * LM_OK; if it fails, none of the grouped operations happened.
 *
 * Threading.  An mq instance belongs to one connection and is used by one
 * thread at a time; it holds prepared statements and a cache of compiled
 * filter policies.  Several instances on several connections to the same
 * file may run at once (SQLite serialises their writes): every fact is in
 * the database, and the policy cache is checked against a generation
 * number stored with each topic.
 *
 * Errors are lm_error with SQS's and SNS's error names (lamina/error.h
 * 32-52: QueueDoesNotExist, ReceiptHandleIsInvalid, InvalidParameterValue,
 * NotFound, ...), and LM_E_IO for a failing store.
 *
 * Ownership.  Strings and cJSON trees passed in are borrowed for the call.
 * Returned cJSON trees and mq_msg arrays belong to the caller.
 */
#ifndef BROKER_MESSAGING_MQ_H
#define BROKER_MESSAGING_MQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <lamina/error.h>

/* ---- limits (SQS's and SNS's; each has its own error) ---- */
#define MQ_NEVER INT64_MAX /* mq_next_wake_ms: nothing will become available */
#define MQ_QUEUE_NAME_MAX 80 /* [A-Za-z0-9_-], FIFO: + ".fifo" (counted) */
#define MQ_TOPIC_NAME_MAX 256 /* [A-Za-z0-9_-] */
#define MQ_ARN_MAX 384
#define MQ_RECEIPT_MAX 72 /* a receipt handle's length + NUL */
#define MQ_BATCH_MAX 10 /* entries in a batch request */
#define MQ_BATCH_ID_MAX 80 /* a batch entry Id: [A-Za-z0-9_-]{1,80} */
#define MQ_RECEIVE_MAX 10 /* MaxNumberOfMessages */
#define MQ_MSG_ATTRS_MAX 10 /* message attributes per message */
#define MQ_ATTR_NAME_MAX 256
#define MQ_ATTR_TYPE_MAX 256
#define MQ_GROUP_ID_MAX 128 /* MessageGroupId, MessageDeduplicationId */
#define MQ_MSG_SIZE_MIN 1024 /* MaximumMessageSize range */
#define MQ_MSG_SIZE_MAX 1048576
#define MQ_MSG_SIZE_DEFAULT 262144
#define MQ_BATCH_BYTES_MAX MQ_MSG_SIZE_MAX /* all entries of a batch together */
#define MQ_VISIBILITY_MAX 43200 /* s; default 30 */
#define MQ_RETENTION_MIN 60 /* s; max 14 days, default 4 days */
#define MQ_RETENTION_MAX 1209600
#define MQ_DELAY_MAX 900 /* s */
#define MQ_WAIT_MAX 20 /* s, ReceiveMessageWaitTimeSeconds */
#define MQ_MAX_RECEIVES_MAX 1000 /* RedrivePolicy maxReceiveCount 1-1000 */
#define MQ_DEDUP_WINDOW_MS 300000 /* FIFO deduplication interval: 5 min */
#define MQ_PURGE_INTERVAL_MS 60000 /* one PurgeQueue per 60 s */
#define MQ_INFLIGHT_MAX 120000 /* standard queue: received, not deleted */
#define MQ_INFLIGHT_MAX_FIFO 20000
#define MQ_QUEUE_MESSAGES_MAX 10000000 /* Lamina's own cap on a queue's depth */
#define MQ_QUEUES_MAX 10000 /* Lamina's own caps */
#define MQ_TOPICS_MAX 10000
#define MQ_SUBSCRIPTIONS_MAX 10000 /* per topic */
#define MQ_SNS_MESSAGE_MAX 262144 /* Publish: message + attributes */
#define MQ_SNS_SUBJECT_MAX 100
#define MQ_POLICY_KEYS_MAX 5 /* SNS: attribute names (leaf keys) in a policy */
#define MQ_POLICY_COMBINATIONS_MAX 150 /* SNS: value combinations in a policy */
#define MQ_REDRIVE_MOVES_MAX 100 /* messages moved to a DLQ by one receive */

/* ---- ARNs: one scheme for functions, queues and topics ----
 *   arn:lamina:lambda:local:000000000000:function:NAME[:QUALIFIER]
 *   arn:lamina:sqs:local:000000000000:QUEUE
 *   arn:lamina:sns:local:000000000000:TOPIC
 *   arn:lamina:sns:local:000000000000:TOPIC:SUBSCRIPTION-UUID
 * The region also fills events' awsRegion.  ARNs given to the engine may
 * use any partition, region and account (arn:aws:sqs:us-east-1:123…:q is
 * the queue q): the broker has one namespace. */
#define MQ_ARN_PARTITION "lamina"
#define MQ_ARN_REGION "local"
#define MQ_ARN_ACCOUNT "000000000000"

typedef struct mq mq;

/* ---- schema and instances ---- */

/* Create or upgrade the engine's tables (mq_*) in db and record their
 * version in meta('messaging_schema').  Idempotent.  Inside a transaction
 * of the caller it joins it (the store's migration calls it there); else it
 * runs in one of its own.  LM_OK or LM_E_IO. */
int mq_schema_apply(sqlite3 *db, lm_error *e);

/* An engine on db (borrowed: it must outlive the instance; the schema must
 * be applied).  NULL with *e filled on failure.  Caller owns the result. */
mq *mq_create(sqlite3 *db, lm_error *e);
/* Finalize statements, drop caches.  Accepts NULL.  Not inside a
 * transaction of the caller. */
void mq_destroy(mq *m);

/* After each successful commit, called once per queue that the committed
 * operations gave a message that may be received at or after at_ms (a
 * send, a publish, a change of visibility, a redrive into a DLQ): what a
 * long-poll waiter or a poller needs to look again.  Runs on the calling
 * thread, after COMMIT; must not call back into this instance.  queue ""
 * means "any queue" (a transaction that touched more than MQ_READY_MAX,
 * 64, queues); a note may also be for nothing (a rolled-back savepoint's):
 * a waiter that finds nothing waits again. */
typedef void (*mq_ready_fn)(void *arg, const char *queue, int64_t at_ms);
void mq_set_ready_hook(mq *m, mq_ready_fn fn, void *arg);

/* A topic's delivery to a function subscription, built by mq_publish.
 * All strings borrowed for the call. */
typedef struct mq_delivery {
    const char *function; /* the endpoint as parsed: NAME */
    const char *qualifier; /* "" or the qualifier of the endpoint */
    const char *function_arn; /* arn:…:function:NAME[:QUALIFIER] */
    const char *subscription_arn;
    const char *topic_arn;
    const char *message_id;
    const char *event; /* {"Records":[{"EventSource":"aws:sns",…}]} */
    size_t event_len;
} mq_delivery;
/* Called by mq_publish inside its transaction, on this connection, once per
 * matching function subscription: the async layer stores an async invoke of
 * d->event there (same commit as the publish).  LM_OK, or an error: that
 * delivery counts as failed (mq_published.failed), the publish goes on.
 * Without a hook, function deliveries fail. */
typedef int (*mq_invoke_fn)(void *arg, const mq_delivery *d, lm_error *e);
void mq_set_invoke_hook(mq *m, mq_invoke_fn fn, void *arg);

/* ---- caller-managed transactions (group commit) ---- */
int mq_begin(mq *m, lm_error *e); /* BEGIN IMMEDIATE; not nested */
int mq_commit(mq *m, lm_error *e); /* COMMIT, then the ready hooks; on error rolled back */
void mq_rollback(mq *m); /* nothing of the transaction stays; no hooks */
bool mq_in_transaction(const mq *m);
/* The caller's own transaction: after the caller ran BEGIN on the
 * connection itself, mq_join makes the operations that follow run in
 * savepoints of it, as between mq_begin and mq_commit; after the caller's
 * COMMIT (committed true) or ROLLBACK, mq_leave ends that and fires the
 * ready hooks of a commit.  The async layer delivers destination records
 * and dead-letter messages this way, in the transaction that finishes the
 * event. */
void mq_join(mq *m);
void mq_leave(mq *m, bool committed);

/* ---- names and ARNs ---- */
/* Write a queue's / topic's / function's ARN into out (MQ_ARN_MAX). */
void mq_queue_arn(const char *name, char out[MQ_ARN_MAX]);
void mq_topic_arn(const char *name, char out[MQ_ARN_MAX]);
void mq_function_arn(const char *name, const char *qualifier, char out[MQ_ARN_MAX]);
/* A queue reference (NAME or an sqs ARN) to its name.  LM_OK or
 * LM_E_MQ_INVALID_PARAMETER. */
int mq_queue_ref(const char *ref, char name[MQ_QUEUE_NAME_MAX + 1], lm_error *e);

/* ---- queues ---- */

/* Create a queue.  attributes: SQS's Attributes map (NULL or an object of
 * name → string; integers and booleans are accepted for convenience):
 * DelaySeconds, MaximumMessageSize, MessageRetentionPeriod,
 * ReceiveMessageWaitTimeSeconds, VisibilityTimeout, RedrivePolicy (JSON
 * text {"deadLetterTargetArn":ARN,"maxReceiveCount":N}), FifoQueue,
 * ContentBasedDeduplication.  A FIFO queue's name ends in ".fifo" and it
 * has FifoQueue "true"; other names must not.  Creating an existing queue
 * with the same attributes returns it (as SQS); with others,
 * QueueAlreadyExists.  arn (may be NULL) gets the queue's ARN. */
int mq_queue_create(mq *m, const char *name, const cJSON *attributes, int64_t now_ms,
                    char arn[MQ_ARN_MAX], lm_error *e);
/* Change attributes (the same names but FifoQueue; RedrivePolicy "" removes
 * it).  Nothing changes if any is invalid. */
int mq_queue_set(mq *m, const char *queue, const cJSON *attributes, int64_t now_ms, lm_error *e);
/* The attributes with SQS's names, as an object of strings: the above plus
 * ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
 * ApproximateNumberOfMessagesDelayed, CreatedTimestamp,
 * LastModifiedTimestamp (epoch seconds), QueueArn.  names: NULL or an
 * array of attribute names ("All" for all; an unknown name is
 * InvalidAttributeName).  Reads maintained counters: cost independent of
 * the queue's depth.  Caller owns the result. */
cJSON *mq_queue_get(mq *m, const char *queue, const cJSON *names, int64_t now_ms, lm_error *e);
/* [{"QueueName":…,"QueueArn":…}, …] by name, those starting with prefix
 * (NULL or "" for all).  Caller owns the result. */
cJSON *mq_queue_list(mq *m, const char *prefix, lm_error *e);
/* Remove every message (PurgeQueueInProgress if purged < 60 s ago).
 * Constant time: the messages are detached and removed by mq_sweep. */
int mq_queue_purge(mq *m, const char *queue, int64_t now_ms, lm_error *e);
/* Delete the queue; its messages go as for purge. */
int mq_queue_delete(mq *m, const char *queue, int64_t now_ms, lm_error *e);

typedef struct mq_counts {
    int64_t visible; /* ApproximateNumberOfMessages */
    int64_t not_visible; /* in flight: received, visibility not over */
    int64_t delayed; /* sent, delay not over */
} mq_counts;
int mq_queue_counts(mq *m, const char *queue, int64_t now_ms, mq_counts *c, lm_error *e);

/* When could a receive on queue next return a message?  *at_ms = now_ms if
 * one is available now, the time the earliest delayed or in-flight message
 * (FIFO: the earliest blocked group) becomes available, or MQ_NEVER when
 * the queue is empty.  An index lookup; writes only what expiry removes. */
int mq_next_wake_ms(mq *m, const char *queue, int64_t now_ms, int64_t *at_ms, lm_error *e);

/* Background work, bounded: remove expired messages and deduplication
 * entries of every queue, and up to `budget` rows of purged or deleted
 * queues.  *more (may be NULL) says whether detached rows remain.  Call it
 * now and then (e.g. every few seconds) on the messaging thread. */
int mq_sweep(mq *m, int64_t now_ms, size_t budget, bool *more, lm_error *e);

/* ---- messages ---- */

typedef struct mq_send_entry {
    const char *id; /* batch entry Id; NULL for mq_send */
    const char *body; /* MessageBody: 1+ characters of SQS's allowed set */
    size_t body_len;
    int delay_s; /* DelaySeconds 0-900, or -1: the queue's (FIFO: -1 only) */
    const cJSON *attributes; /* MessageAttributes (see mq_attributes_md5) or NULL */
    const char *group_id; /* FIFO: MessageGroupId (required); else NULL */
    const char *dedup_id; /* FIFO: MessageDeduplicationId, or NULL */
} mq_send_entry;

typedef struct mq_sent {
    char id[MQ_BATCH_ID_MAX + 1]; /* the entry's Id (batch) */
    char message_id[37];
    char md5_body[33];
    char md5_attributes[33]; /* "" without message attributes */
    char sequence[24]; /* FIFO SequenceNumber, "" for standard queues */
    bool duplicate; /* FIFO: deduplicated; the ids are the original's */
    lm_error err; /* batch: this entry's error (err.code LM_OK if sent) */
} mq_sent;

/* Send one message.  LM_OK with *out filled, or an error and nothing sent. */
int mq_send(mq *m, const char *queue, const mq_send_entry *en, int64_t now_ms, mq_sent *out,
            lm_error *e);
/* SendMessageBatch: 1-10 entries with distinct valid Ids, bodies together
 * at most MQ_BATCH_BYTES_MAX.  Request-level errors (EmptyBatchRequest,
 * TooManyEntriesInBatchRequest, BatchEntryIdsNotDistinct,
 * InvalidBatchEntryId, BatchRequestTooLong, QueueDoesNotExist) send
 * nothing; otherwise LM_OK and out[i] (n entries) tells each entry's
 * result; entries that failed sent nothing, the others are in the queue.
 * *failed (may be NULL) counts the failed entries. */
int mq_send_batch(mq *m, const char *queue, const mq_send_entry *en, size_t n, int64_t now_ms,
                  mq_sent *out, size_t *failed, lm_error *e);

typedef struct mq_receive_opts {
    int max; /* MaxNumberOfMessages 1-10 (0: 1) */
    int visibility_s; /* VisibilityTimeout 0-43200, or -1: the queue's */
} mq_receive_opts;

/* A received message; strings owned by the array (mq_msgs_free). */
typedef struct mq_msg {
    char message_id[37];
    char receipt[MQ_RECEIPT_MAX]; /* ReceiptHandle of this receive */
    char md5_body[33];
    char md5_attributes[33]; /* "" without message attributes */
    char *body;
    size_t body_len;
    char *attributes; /* MessageAttributes as JSON text, or NULL */
    int64_t sent_ms; /* SentTimestamp */
    int64_t first_receive_ms; /* ApproximateFirstReceiveTimestamp */
    int receive_count; /* ApproximateReceiveCount, this receive included */
    char group_id[MQ_GROUP_ID_MAX + 1]; /* FIFO, else "" */
    char dedup_id[MQ_GROUP_ID_MAX + 1]; /* FIFO: the id used (explicit or SHA-256) */
    char sequence[24]; /* FIFO, else "" */
} mq_msg;

/* ReceiveMessage, without waiting: up to max available messages, each made
 * invisible for the visibility timeout with a new receipt handle.  FIFO:
 * messages of a group in order, none from a group that has one in flight.
 * A message already received maxReceiveCount times (RedrivePolicy) moves
 * to the dead-letter queue instead, in this transaction.  *out is NULL
 * when *n is 0.  Caller frees with mq_msgs_free. */
int mq_receive(mq *m, const char *queue, const mq_receive_opts *o, int64_t now_ms, mq_msg **out,
               size_t *n, lm_error *e);
void mq_msgs_free(mq_msg *v, size_t n);
/* SQS's ReceiveMessage Message object: MessageId, ReceiptHandle, MD5OfBody,
 * Body, Attributes (all strings), MD5OfMessageAttributes and
 * MessageAttributes when there are any.  Caller owns the result. */
cJSON *mq_msg_json(const mq_msg *msg);
/* The record of Lambda's SQS event for this message (messageId,
 * receiptHandle, body, attributes, messageAttributes, md5OfBody,
 * eventSource, eventSourceARN, awsRegion): what event source mappings
 * put in {"Records":[…]}.  Caller owns the result. */
cJSON *mq_msg_lambda_record(const mq_msg *msg, const char *queue);

/* DeleteMessage.  A receipt handle that is not one this queue could have
 * issued is ReceiptHandleIsInvalid.  A well-formed one that is not the
 * message's latest (received again since) or whose message is gone
 * succeeds without deleting anything, as SQS does: *deleted (may be NULL)
 * says whether a message was deleted. */
int mq_delete_message(mq *m, const char *queue, const char *receipt, int64_t now_ms, bool *deleted,
                      lm_error *e);
/* ChangeMessageVisibility: the message becomes visible timeout_s (0-43200)
 * from now, at most 12 h after its latest receive.  Needs the latest
 * receipt handle (else ReceiptHandleIsInvalid) of a message in flight
 * (else MessageNotInflight). */
int mq_change_visibility(mq *m, const char *queue, const char *receipt, int timeout_s,
                         int64_t now_ms, lm_error *e);

/* ---- decoders (untrusted input; fuzzed by tests/fuzz/fuzz_messaging.c) ---- */

/* Check SQS MessageAttributes ({"NAME":{"DataType":"String|Number|Binary[.label]",
 * "StringValue":…|"BinaryValue":base64}}, at most 10, SQS's name rules)
 * and compute MD5OfMessageAttributes as SQS documents it (md5 may be NULL;
 * "" for NULL or {}).  *bytes (may be NULL) gets the size they add to the
 * message (names, types, values).  sns: SNS's types instead (String,
 * String.Array, Number, Binary; no labels).  LM_OK or
 * InvalidParameterValue (SQS) / InvalidParameter (SNS) naming the problem. */
int mq_attributes_check(const cJSON *attrs, bool sns, char md5[33], size_t *bytes, lm_error *e);

/* SendMessageBatch's Entries as JSON text: [{"Id":…,"MessageBody":…,
 * "DelaySeconds":N,"MessageAttributes":{…},"MessageGroupId":…,
 * "MessageDeduplicationId":…}, …].  Fills b (whose tree the entries point
 * into) after checking the shape; the values are checked by mq_send_batch.
 * Request-level errors as mq_send_batch.  Free with mq_batch_finish (also
 * after a failure). */
typedef struct mq_batch {
    cJSON *root;
    size_t n;
    mq_send_entry en[MQ_BATCH_MAX];
} mq_batch;
int mq_batch_parse(const char *json, size_t len, mq_batch *b, lm_error *e);
void mq_batch_finish(mq_batch *b);

/* Check an SNS filter policy (JSON text) for a scope ("MessageAttributes",
 * the default when NULL, or "MessageBody"): the filter engine's grammar,
 * SNS's limits (5 keys, 150 combinations) and, for attributes, a flat
 * object.  LM_OK or InvalidParameter naming the problem. */
int mq_filter_policy_check(const char *policy, size_t len, const char *scope, lm_error *e);

/* ---- topics ---- */

/* CreateTopic: [A-Za-z0-9_-]{1,256}; an existing topic is returned as it
 * is.  arn (may be NULL) gets its ARN. */
int mq_topic_create(mq *m, const char *name, int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e);
/* DeleteTopic with its subscriptions.  A topic that does not exist is
 * NotFound (SNS itself succeeds; a CLI user wants to know). */
int mq_topic_delete(mq *m, const char *topic, lm_error *e);
/* {"TopicArn","Owner","DisplayName","SubscriptionsConfirmed",
 * "SubscriptionsPending","SubscriptionsDeleted","CreatedTimestamp"} as
 * strings.  topic: NAME or ARN.  Caller owns the result. */
cJSON *mq_topic_get(mq *m, const char *topic, lm_error *e);
/* [{"TopicArn":…,"Name":…}, …] by name.  Caller owns the result. */
cJSON *mq_topic_list(mq *m, lm_error *e);

typedef struct mq_sub_spec {
    const char *protocol; /* "sqs" or "lambda" */
    const char *endpoint; /* a queue (name or ARN) / a function (name, NAME:Q or ARN) */
    bool raw; /* RawMessageDelivery (sqs only) */
    const char *filter_policy; /* JSON text or NULL */
    const char *filter_scope; /* "MessageAttributes" (default) or "MessageBody" */
} mq_sub_spec;
/* Subscribe (confirmed at once: both protocols are the broker's own).  An
 * sqs endpoint must be an existing standard queue.  The same topic,
 * protocol and endpoint again returns the existing subscription if its
 * attributes are the same, else InvalidParameter.  arn gets the
 * subscription's ARN. */
int mq_subscribe(mq *m, const char *topic, const mq_sub_spec *s, int64_t now_ms,
                 char arn[MQ_ARN_MAX], lm_error *e);
/* Unsubscribe by subscription ARN (NotFound if there is none). */
int mq_unsubscribe(mq *m, const char *subscription_arn, lm_error *e);
/* [{"SubscriptionArn","TopicArn","Protocol","Endpoint","Owner",
 * "RawMessageDelivery","FilterPolicy","FilterPolicyScope"}, …] in order
 * of subscribing.  Caller owns the result. */
cJSON *mq_subscriptions(mq *m, const char *topic, lm_error *e);

typedef struct mq_publish_in {
    const char *message; /* 1+ bytes of UTF-8 */
    size_t len;
    const char *subject; /* NULL or 1-100 printable ASCII characters */
    const cJSON *attributes; /* SNS MessageAttributes or NULL */
} mq_publish_in;

typedef struct mq_published {
    char message_id[37];
    size_t matched; /* subscriptions whose filter policy matched */
    size_t delivered; /* of those, stored (queue message or invoke) */
    size_t failed; /* of those, not stored (queue gone or too small, no hook, …) */
} mq_published;

/* Publish: in one transaction, one delivery per subscription whose filter
 * policy matches: for sqs, a message in the queue (SNS's notification
 * envelope as the body, or the raw message with its attributes); for
 * lambda, the invoke hook with SNS's Lambda event.  Subscriptions are
 * matched with compiled filter sets cached per topic (no per-publish
 * policy parsing, no scan of other topics).  LM_OK also when some
 * deliveries failed (counted in *out); an error stores nothing. */
int mq_publish(mq *m, const char *topic, const mq_publish_in *in, int64_t now_ms, mq_published *out,
               lm_error *e);

/* ==== streams (Kinesis Data Streams; stream.c, README.md "## Streams") ====
 *
 * A stream is a set of shards, each an ordered, retained log of records.
 * A record's partition key's MD5, read as a 128-bit big-endian unsigned
 * integer (or an explicit hash key), picks the open shard whose hash-key
 * range holds it.  Sequence numbers are decimal text, MQ_STREAM_SEQ_LEN
 * digits zero-padded (text order is numeric order), taken from one counter
 * of the store: they increase within a shard, and every child of a reshard
 * starts above all of its parents' records.  A record whose arrival is older
 * than the stream's retention is never returned and the sweep removes it.
 * Errors use Kinesis's names: ResourceNotFoundException (LM_E_NOT_FOUND),
 * ResourceInUseException, InvalidArgumentException, ExpiredIteratorException,
 * LimitExceededException. */
#define MQ_STREAM_NAME_MAX 128 /* [A-Za-z0-9_.-]{1,128} */
#define MQ_STREAMS_MAX 10000 /* Lamina's own cap */
#define MQ_STREAM_SHARDS_MAX 500 /* open shards of one stream (create, split) */
#define MQ_STREAM_RETENTION_MIN_H 24
#define MQ_STREAM_RETENTION_MAX_H 8760
#define MQ_STREAM_PKEY_MAX 256 /* partition key: 1-256 Unicode characters */
#define MQ_STREAM_RECORD_MAX 1048576 /* data + partition key bytes */
#define MQ_STREAM_BATCH_MAX 500 /* PutRecords */
#define MQ_STREAM_BATCH_BYTES_MAX 5242880
#define MQ_STREAM_GET_MAX 10000 /* GetRecords Limit; the default */
/* Data one GetRecords returns: Kinesis allows 10 MiB, but the reply (data
 * in base64 JSON, 4/3 as large) must fit the SDK client's reply limit
 * (PROTO_WORK_RECVMAX + 64 KiB, about 7 MiB), so 4 MiB; a reader follows
 * NextShardIterator for the rest.  A single record (1 MiB) always fits. */
#define MQ_STREAM_GET_BYTES_MAX 4194304
#define MQ_STREAM_ITERATOR_TTL_MS 300000 /* 5 minutes of broker time */
#define MQ_STREAM_SEQ_LEN 20 /* digits of a sequence number */
#define MQ_STREAM_ITERATOR_MAX 256 /* a shard iterator's length + NUL */
#define MQ_STREAM_SHARD_ID_LEN 20 /* "shardId-000000000000" */
#define MQ_HASH_KEY_MAX 40 /* a 128-bit decimal + NUL */

/* Create a stream of `shards` shards (1-MQ_STREAM_SHARDS_MAX) splitting
 * 0..2^128-1 evenly, retention 24-8760 hours.  An existing name is
 * ResourceInUseException.  arn (may be NULL) gets
 * arn:lamina:kinesis:REGION:ACCOUNT:stream/NAME. */
int mq_stream_create(mq *m, const char *name, int shards, int retention_h, int64_t now_ms,
                     char arn[MQ_ARN_MAX], lm_error *e);
/* Delete a stream (NAME or ARN): constant in its records, which the sweep
 * removes. */
int mq_stream_delete(mq *m, const char *stream, lm_error *e);
/* ListStreams: {"StreamNames":[…],"HasMoreStreams":false,"StreamSummaries":
 * [{StreamName,StreamARN,StreamStatus,StreamCreationTimestamp}]} by name.
 * Caller owns the result. */
cJSON *mq_stream_list(mq *m, lm_error *e);
/* DescribeStream's StreamDescription: StreamName, StreamARN, StreamStatus
 * ("ACTIVE"), RetentionPeriodHours, StreamCreationTimestamp (epoch s),
 * HasMoreShards, EncryptionType, Shards[{ShardId, ParentShardId?,
 * AdjacentParentShardId?, HashKeyRange{StartingHashKey,EndingHashKey},
 * SequenceNumberRange{StartingSequenceNumber, EndingSequenceNumber?}}] (closed
 * shards until their records expired).  Caller owns the result. */
cJSON *mq_stream_describe(mq *m, const char *stream, int64_t now_ms, lm_error *e);

typedef struct mq_record_in {
    const char *pkey; /* PartitionKey, NUL-terminated */
    const unsigned char *data; /* borrowed */
    size_t len;
    const char *explicit_hash; /* ExplicitHashKey (decimal 0..2^128-1) or NULL */
} mq_record_in;

typedef struct mq_record_out {
    char shard_id[MQ_STREAM_SHARD_ID_LEN + 1];
    char seq[MQ_STREAM_SEQ_LEN + 1];
    lm_error err; /* put-batch: this record's error (LM_OK if stored) */
} mq_record_out;

/* PutRecord: LM_OK with *out filled, or an error and nothing stored. */
int mq_stream_put(mq *m, const char *stream, const mq_record_in *r, int64_t now_ms,
                  mq_record_out *out, lm_error *e);
/* PutRecords: 1-500 records of at most 5 MiB together (data and keys), else
 * InvalidArgumentException and nothing stored; otherwise LM_OK and out[i]
 * tells each record's result (a record that fails its own checks fails
 * alone).  Records of one call keep their order within each shard.
 * *failed (may be NULL) counts the failed records. */
int mq_stream_put_batch(mq *m, const char *stream, const mq_record_in *r, size_t n, int64_t now_ms,
                        mq_record_out *out, size_t *failed, lm_error *e);

typedef enum mq_iter_type {
    MQ_ITER_TRIM_HORIZON,
    MQ_ITER_LATEST,
    MQ_ITER_AT_SEQUENCE,
    MQ_ITER_AFTER_SEQUENCE,
    MQ_ITER_AT_TIMESTAMP
} mq_iter_type;
/* "TRIM_HORIZON", … to the type; -1 when it is none of them. */
int mq_iter_type_parse(const char *s);
/* GetShardIterator: shard "shardId-NNNNNNNNNNNN" (or its number); seq for
 * AT_/AFTER_SEQUENCE_NUMBER; ts_ms for AT_TIMESTAMP.  out gets an opaque
 * iterator valid MQ_STREAM_ITERATOR_TTL_MS of broker time. */
int mq_stream_iterator(mq *m, const char *stream, const char *shard, mq_iter_type type,
                       const char *seq, int64_t ts_ms, int64_t now_ms,
                       char out[MQ_STREAM_ITERATOR_MAX], lm_error *e);

typedef struct mq_record {
    char seq[MQ_STREAM_SEQ_LEN + 1];
    int64_t arrival_ms;
    char *pkey;
    unsigned char *data;
    size_t len;
} mq_record;

typedef struct mq_records {
    mq_record *v;
    size_t n;
    char next[MQ_STREAM_ITERATOR_MAX]; /* NextShardIterator, "" past a closed shard's end */
    int64_t behind_ms; /* MillisBehindLatest */
    cJSON *children; /* ChildShards when a closed shard was read to its end, else NULL */
} mq_records;
/* GetRecords: up to limit (1-10,000) records, at most MQ_STREAM_GET_BYTES_MAX, from the
 * iterator's position, in sequence order.  Malformed iterators are
 * InvalidArgumentException, old ones ExpiredIteratorException.  Free *out
 * with mq_records_finish (also after an error). */
int mq_stream_get_records(mq *m, const char *iterator, int limit, int64_t now_ms, mq_records *out,
                          lm_error *e);
void mq_records_finish(mq_records *r);

/* SplitShard: the open shard closes and two children share its range at
 * new_start (decimal, start < new_start <= end).  MergeShards: two open
 * adjacent shards close and one child covers both.  Parents stay readable
 * until their records expire. */
int mq_stream_split(mq *m, const char *stream, const char *shard, const char *new_start,
                    int64_t now_ms, lm_error *e);
int mq_stream_merge(mq *m, const char *stream, const char *shard, const char *adjacent,
                    int64_t now_ms, lm_error *e);
/* Remove expired records, closed shards whose records all expired, and up
 * to budget rows of deleted streams.  *more (may be NULL): rows remain. */
int mq_stream_sweep(mq *m, int64_t now_ms, size_t budget, bool *more, lm_error *e);

/* The hash key of a partition key: MD5 as a 128-bit big-endian decimal. */
void mq_stream_hash_key(const char *pkey, size_t n, char out[MQ_HASH_KEY_MAX]);

/* The decoder of PutRecords' Records JSON: [{"Data":BASE64,"PartitionKey":…,
 * "ExplicitHashKey":…?}, …].  Shape and base64 are checked here (1-500
 * entries, InvalidArgumentException); the rest by mq_stream_put_batch.
 * Free with mq_stream_batch_finish (also after a failure). */
typedef struct mq_stream_batch {
    cJSON *root;
    size_t n;
    mq_record_in r[MQ_STREAM_BATCH_MAX];
    unsigned char *bytes[MQ_STREAM_BATCH_MAX]; /* decoded Data, owned */
} mq_stream_batch;
int mq_stream_batch_parse(const char *json, size_t len, mq_stream_batch *b, lm_error *e);
void mq_stream_batch_finish(mq_stream_batch *b);
/* ==== end of streams ==== */
/* ==== buses: EventBridge-style event buses, rules and targets (bus.c;
 * README.md "Event buses") ====
 *
 * PutEvents builds each entry's envelope, matches it once against every
 * enabled pattern rule of its bus (one compiled filter_set per bus, cached
 * and rebuilt when the bus's generation changes) and delivers it to each
 * matching rule's targets in the same transaction: a function (the invoke
 * hook, as a topic's), a queue (a message), a topic (a publish) or another
 * bus (routed again, at most MQ_BUS_HOPS_MAX hops).  The bus "default" always
 * exists.  Errors are EventBridge's (lamina/error.h 60-64,
 * ResourceNotFoundException). */
#define MQ_BUS_NAME_MAX 256 /* [A-Za-z0-9._-/] */
#define MQ_BUSES_MAX 100 /* custom buses (EventBridge's quota) */
#define MQ_RULE_NAME_MAX 64 /* [A-Za-z0-9._-] */
#define MQ_RULES_MAX 10000 /* per bus (Lamina's cap) */
#define MQ_TARGETS_MAX 5 /* per rule */
#define MQ_TARGET_ID_MAX 64 /* [A-Za-z0-9._-] */
#define MQ_PUT_EVENTS_MAX 10 /* entries per PutEvents */
#define MQ_PUT_EVENTS_BYTES 262144 /* all entries of a PutEvents */
#define MQ_INPUT_MAX 8192 /* Input, InputTemplate */
#define MQ_BUS_HOPS_MAX 4 /* bus -> bus target hops: a loop stops here */
#define MQ_INPUT_PATHS_MAX 100 /* InputPathsMap entries */
#define MQ_JSONPATH_MAX 256 /* InputPath, an InputPathsMap value */

void mq_bus_arn(const char *name, char out[MQ_ARN_MAX]);
/* A rule's ARN: rule/NAME on the default bus, rule/BUS/NAME elsewhere. */
void mq_rule_arn(const char *bus, const char *rule, char out[MQ_ARN_MAX]);
/* CreateEventBus (ResourceAlreadyExistsException when it exists). */
int mq_bus_create(mq *m, const char *name, int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e);
/* DeleteEventBus with its rules and targets ("default" cannot go). */
int mq_bus_delete(mq *m, const char *bus, lm_error *e);
/* [{"Name","Arn"}, …] by name.  Caller owns the result. */
cJSON *mq_bus_list(mq *m, lm_error *e);
/* PutRule with an EventPattern: create or replace (its targets stay).
 * bus NULL: default. */
int mq_rule_put(mq *m, const char *bus, const char *name, const char *pattern, bool enabled,
                int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e);
/* PutRule with a ScheduleExpression (rate(…) or cron(…), lib/sched.h),
 * on the default bus only, as EventBridge: create or replace (a rate
 * restarts from now_ms).  The first firing is the schedule's first after
 * now_ms. */
int mq_rule_put_schedule(mq *m, const char *name, const char *schedule, bool enabled,
                         int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e);
/* Fire every enabled scheduled rule due at now_ms (at most budget), as one
 * operation: its targets get {"detail-type":"Scheduled Event","source":
 * "aws.events","resources":[RULE_ARN],"detail":{}} (time: the firing's).
 * The next firing is the first after now_ms, so firings missed while the
 * broker was down fire once, not once per period.  *fired may be NULL. */
int mq_bus_fire(mq *m, int64_t now_ms, size_t budget, size_t *fired, lm_error *e);
/* DeleteRule.  A rule that still has targets is refused as EventBridge
 * does (ValidationException "Rule can't be deleted since it has
 * targets.") unless force, which removes them with it. */
int mq_rule_delete(mq *m, const char *bus, const char *rule, bool force, lm_error *e);
/* InputPath / InputPathsMap paths: "$", then .KEY or [N] steps (KEY: any
 * characters but . [ ] and blanks).  The value at path in ev, or NULL. */
bool mq_jsonpath_ok(const char *path);
const cJSON *mq_jsonpath_get(const cJSON *ev, const char *path);
/* Apply an InputTransformer to the event ev: <name> in tmpl becomes the
 * value of paths[name] (or aws.events.rule-arn, aws.events.rule-name,
 * aws.events.event.json).  Inside a JSON string of the template a string
 * value goes in raw (JSON-escaped, no quotes), other values as their JSON
 * text escaped; outside, the value's JSON text (strings quoted).  A path
 * that matches nothing gives null outside a string, nothing inside.
 * malloc'd text, NULL on ENOMEM. */
char *mq_input_transform(const cJSON *ev, const cJSON *paths, const char *tmpl,
                         const char *rule_name, const char *rule_arn);
/* PutTargets: targets (a cJSON array of 1-MQ_TARGETS_MAX {"Id","Arn",
 * "Input"? | "InputPath"? | "InputTransformer"?{InputPathsMap?,
 * InputTemplate}, "RetryPolicy"?, "DeadLetterConfig"?, "SqsParameters"?
 * {MessageGroupId}}) added or replaced by Id, each on its own, as
 * EventBridge: a target that fails its checks is left out and described in
 * failed[*nfailed] (the array has room for MQ_TARGETS_MAX), the others are
 * stored.  A FIFO queue target needs SqsParameters.MessageGroupId; it is
 * refused on any other target.  Request-level errors (not a list, no such
 * bus or rule) store nothing, and so does going over MQ_TARGETS_MAX on the
 * rule (LimitExceededException). */
typedef struct mq_target_fail {
    char id[MQ_TARGET_ID_MAX + 1]; /* the target's Id as given ("" if none) */
    lm_error err; /* its ErrorCode (err.type) and ErrorMessage */
} mq_target_fail;
int mq_targets_put(mq *m, const char *bus, const char *rule, const cJSON *targets,
                   mq_target_fail *failed, size_t *nfailed, lm_error *e);

/* A bus reference (NULL/"" default, a name, an events ARN) to the name of
 * a bus that exists: ValidationException, ResourceNotFoundException. */
int mq_bus_name(mq *m, const char *ref, char name[MQ_BUS_NAME_MAX + 1], lm_error *e);
/* {"Name","Arn","Rules"(count)}.  Caller owns the result. */
cJSON *mq_bus_get(mq *m, const char *bus, lm_error *e);
/* {"Name","Arn","EventBusName","EventPattern","State","Targets"(count)};
 * list: an array of those by name. */
cJSON *mq_rule_get(mq *m, const char *bus, const char *rule, lm_error *e);
cJSON *mq_rule_list(mq *m, const char *bus, lm_error *e);
/* EnableRule / DisableRule. */
int mq_rule_set_state(mq *m, const char *bus, const char *rule, bool enabled, lm_error *e);
/* [{"Id","Arn","Input"?,"InputPath"?,"InputTransformer"?}, …] by Id. */
cJSON *mq_targets_list(mq *m, const char *bus, const char *rule, lm_error *e);
/* RemoveTargets by Id (an array of 1-100 strings); unknown ids are
 * ignored, *removed counts those removed. */
int mq_targets_remove(mq *m, const char *bus, const char *rule, const cJSON *ids, size_t *removed,
                      lm_error *e);

/* Retries.  A target delivery that fails waits in mq_bus_retries; its
 * next attempt is due MQ_BUS_BACKOFF_FIRST_MS after the failure, doubling
 * to MQ_BUS_BACKOFF_MAX_MS, on the broker clock.  After the target's
 * MaximumRetryAttempts retries (0-185, default 185) or once the event is
 * older than MaximumEventAgeInSeconds (60-86400, default 86400), it goes
 * to the target's DeadLetterConfig queue with EventBridge's attributes
 * ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN, or is dropped. */
#define MQ_RETRY_DEFAULT 185
#define MQ_EVENT_AGE_MIN 60
#define MQ_EVENT_AGE_MAX 86400
#define MQ_BUS_BACKOFF_FIRST_MS 1000
#define MQ_BUS_BACKOFF_MAX_MS 300000
typedef struct mq_retry_counts {
    size_t delivered, rescheduled, dead_lettered, dropped;
} mq_retry_counts;
/* Run the retries due at now_ms (at most budget) as one operation. */
int mq_bus_retry(mq *m, int64_t now_ms, size_t budget, mq_retry_counts *c, lm_error *e);
/* The broker time the next retry or scheduled firing is due, or MQ_NEVER
 * (two index reads). */
int64_t mq_bus_next_wake_ms(mq *m);

typedef struct mq_event_out {
    char id[37]; /* EventId, "" when the entry failed */
    lm_error err; /* err.code LM_OK, or the entry's ErrorCode/ErrorMessage */
    size_t matched, delivered, failed; /* target deliveries; failed ones wait for a retry */
} mq_event_out;
/* PutEvents: entries (a cJSON array of {Source, DetailType, Detail,
 * Resources?, EventBusName?}, 1-10, at most 256 KiB) each checked,
 * enveloped and routed in a savepoint of its own.  *failed counts failed
 * entries. */
int mq_put_events(mq *m, const cJSON *entries, int64_t now_ms, mq_event_out *out, size_t *n,
                  size_t *failed, lm_error *e);

/* Archives and replays (bus_archive.c; README.md "Event buses").  An
 * archive stores every event that arrives on its bus and matches its
 * pattern (none: all) in the put's own transaction; events older than
 * RetentionDays (0: forever, counted from when they were archived, broker
 * time) are never replayed and are swept.  A replay re-sends the archived
 * events whose envelope time is in [from, to] through the bus's rules (or
 * only FilterArns), with "replay-name" added to each envelope, in the
 * background of the caller (mq_replay_run); replayed events are not
 * archived again. */
#define MQ_ARCHIVE_NAME_MAX 48 /* [A-Za-z0-9._-] */
#define MQ_ARCHIVES_MAX 100 /* in the store (Lamina's cap) */
#define MQ_REPLAY_NAME_MAX 64 /* [A-Za-z0-9._-] */
#define MQ_REPLAYS_ACTIVE_MAX 10 /* STARTING or RUNNING at once */
#define MQ_RETENTION_DAYS_MAX 36500
typedef struct mq_archive_in {
    const char *name, *bus; /* bus: a name or ARN (NULL: default) */
    const char *pattern; /* JSON text or NULL */
    const char *description; /* or NULL */
    int retention_days; /* 0: forever */
} mq_archive_in;
/* CreateArchive: ValidationException, InvalidEventPatternException,
 * ResourceAlreadyExistsException, ResourceNotFoundException (the bus),
 * LimitExceededException. */
int mq_archive_create(mq *m, const mq_archive_in *in, int64_t now_ms, char arn[MQ_ARN_MAX],
                      lm_error *e);
/* DeleteArchive (name or ARN): the archive goes now, its events with the sweep. */
int mq_archive_delete(mq *m, const char *archive, lm_error *e);
/* {ArchiveName, ArchiveArn, EventSourceArn, EventPattern?, Description,
 * State, RetentionDays, CreationTime, EventCount, SizeBytes}; list: an
 * array of those by name, of bus (NULL: every bus).  Caller owns them. */
cJSON *mq_archive_get(mq *m, const char *archive, lm_error *e);
cJSON *mq_archive_list(mq *m, const char *bus, lm_error *e);
/* Remove up to budget archived events past their retention or of deleted
 * archives, and replays finished over 90 days ago; *more: rows remain. */
int mq_archive_sweep(mq *m, int64_t now_ms, size_t budget, bool *more, lm_error *e);
typedef struct mq_replay_in {
    const char *name, *archive; /* archive: a name or ARN */
    int64_t from_ms, to_ms; /* envelope times, from < to <= now */
    const cJSON *rules; /* FilterArns: rule ARNs or names of the archive's bus, or NULL */
} mq_replay_in;
/* StartReplay, in state STARTING: ValidationException,
 * ResourceAlreadyExistsException, ResourceNotFoundException (archive or a
 * rule), LimitExceededException (MQ_REPLAYS_ACTIVE_MAX). */
int mq_replay_start(mq *m, const mq_replay_in *in, int64_t now_ms, char arn[MQ_ARN_MAX],
                    lm_error *e);
/* {ReplayName, ReplayArn, EventSourceArn, Destination{Arn, FilterArns?},
 * State (STARTING, RUNNING, COMPLETED, FAILED), StateReason?,
 * EventStartTime, EventEndTime, EventLastReplayedTime?, ReplayStartTime,
 * ReplayEndTime?, EventsReplayed, Deliveries}; list: by start time. */
cJSON *mq_replay_get(mq *m, const char *replay, lm_error *e);
cJSON *mq_replay_list(mq *m, lm_error *e);
/* An entry's or envelope's time (absent: now_ms; epoch seconds; RFC 3339
 * UTC "…Z") in epoch ms, -1 when it is none of these. */
int64_t mq_event_time(const cJSON *v, int64_t now_ms);
/* Whether a replay is STARTING or RUNNING (one index probe). */
bool mq_replay_active(mq *m);
/* Send up to budget events of the oldest active replay, with its new
 * position, as one operation.  *sent may be NULL. */
int mq_replay_run(mq *m, int64_t now_ms, size_t budget, size_t *sent, lm_error *e);

/* Counters of what this instance did with buses, committed work only
 * (bus_tail.c).  The messaging thread's instance is the broker's status. */
typedef struct mq_bus_stats {
    uint64_t events_put; /* PutEvents entries accepted */
    uint64_t deliveries; /* target deliveries stored (first attempts, retries, replays) */
    uint64_t failed; /* first attempts that failed (each then waits for a retry) */
    uint64_t retries; /* retry attempts run */
    uint64_t dead_lettered; /* deliveries out of attempts, sent to their DLQ */
    uint64_t dropped; /* out of attempts without a DLQ (or the DLQ refused) */
    uint64_t archived; /* events stored in archives */
    uint64_t replayed; /* archived events sent again by replays */
} mq_bus_stats;
void mq_bus_stats_get(const mq *m, mq_bus_stats *out);

/* Tail (bus_tail.c): an instance that calls this keeps, in memory, the
 * recent events of each bus (at most MQ_TAIL_EVENTS and MQ_TAIL_BYTES per
 * bus; best-effort: not durable, lost on restart; events this instance
 * routed, and those other instances forward, mq_tail_push).  fn(arg, bus)
 * runs after each COMMIT that put events on bus (may be NULL). */
#define MQ_TAIL_EVENTS 1024
#define MQ_TAIL_BYTES (4 << 20)
#define MQ_TAIL_TOTAL_BYTES (32 << 20) /* all buses' rings together */
#define MQ_TAIL_LIMIT_MAX 100 /* events per mq_bus_tail */
#define MQ_TAIL_REPLY_BYTES (1 << 20) /* envelopes' text per mq_bus_tail (at least one) */
#define MQ_TAIL_CURSOR_MAX 40
typedef void (*mq_tail_fn)(void *arg, const char *bus);
int mq_set_tail_hook(mq *m, mq_tail_fn fn, void *arg, lm_error *e);
/* An instance that keeps no rings can forward: fn(arg, bus, envelope)
 * runs after each COMMIT, once per event it put on a bus (text borrowed
 * for the call).  The rings' owner adds such an event with mq_tail_push
 * (its own thread; the tail hook then runs for the bus). */
typedef void (*mq_event_fn)(void *arg, const char *bus, const char *text);
int mq_set_event_hook(mq *m, mq_event_fn fn, void *arg, lm_error *e);
void mq_tail_push(mq *m, const char *bus, const char *text);
typedef struct mq_tail_out {
    cJSON *events; /* the envelopes, oldest first (caller owns) */
    size_t n;
    char cursor[MQ_TAIL_CURSOR_MAX]; /* NextCursor: where the next call goes on */
    uint64_t missed; /* events that fell out of the ring since the cursor */
    bool reset; /* the cursor was of an earlier run: read from the oldest kept */
} mq_tail_out;
/* The events put on bus since cursor (NULL: none, and the cursor of "now"),
 * at most limit.  ResourceNotFoundException for a bus that does not
 * exist, ValidationException for a cursor this instance never gave. */
int mq_bus_tail(mq *m, const char *bus, const char *cursor, size_t limit, mq_tail_out *out,
                lm_error *e);
/* ==== end of buses ==== */

#endif
