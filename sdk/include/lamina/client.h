/*
 * lamina/client.h — call a Lamina broker from a C program.
 *
 * The CLI (`lamina`) and the load harness (`lamina-bench`) are built on this.
 *
 *     lm_client *c; lm_error err;
 *     if (lm_client_open(&c, NULL, NULL, &err) != 0) { ... err.message ... }
 *     lm_invoke_params p = { .function = "hello", .payload = "{}", .payload_len = 2 };
 *     lm_invoke_result r;
 *     if (lm_invoke(c, &p, &r, &err) == 0) { fwrite(r.payload, 1, r.payload_len, stdout); }
 *     lm_invoke_result_finish(&r);
 *     lm_client_destroy(c);
 *
 * Contract:
 * - Every call returns 0 (LM_OK) or an lm_err code, and then fills *err (if
 *   err is non-NULL) with the code, HTTP-like status, wire type and message.
 * - A client may be used from several threads at once: each call runs on its
 *   own nng context.
 * - Transport: `ipc://<state>/api.sock` by default (state dir from the
 *   argument, else $LAMINA_STATE, else ./.lamina), or any nng URL given as
 *   `endpoint` (e.g. tcp://127.0.0.1:7070).  The broker never gets a request
 *   resent behind the caller's back (req resend is disabled): an invoke
 *   runs at most once per call.  The one exception is an Event invoke whose
 *   connection was reset before its 202: it is sent again with the same
 *   idempotency key, which the broker answers with the first 202 (see
 *   lm_invoke_options).
 */
#ifndef LAMINA_CLIENT_H
#define LAMINA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <lamina/error.h>
#include <lamina/handler.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lm_client lm_client;

/* Connect.  state_dir and endpoint may be NULL (see above).  On success *out
 * owns a client to release with lm_client_destroy().  Fails with
 * LM_E_UNREACHABLE when no broker listens there.
 *
 * Blocks while the broker is too busy to take the connection: a full accept
 * backlog (EAGAIN) or a connection reset or aborted while connecting is
 * tried again after a back-off doubling from 1 ms to 100 ms, each wait a
 * random 50-100% of that (jitter), and no new attempt starts 5 s after the
 * first; then the error says how many attempts were made.  "No broker
 * there" is never retried and returns at once: no socket file at
 * ipc://<state>/api.sock (message "no socket there"), or a socket nobody
 * listens on, as a killed broker leaves behind ("nothing listens on it";
 * nng reports both as connection refused, so a refused tcp:// endpoint
 * fails at once too).  A connection that was made but does not answer the
 * open's ping (see broker/listen.h) is dialled again, up to 3 times. */
LM_EXPORT int lm_client_open(lm_client **out, const char *state_dir, const char *endpoint,
                             lm_error *err);
/* Release a client; accepts NULL.  No call may be running on it. */
LM_EXPORT void lm_client_destroy(lm_client *c);
/* Per-call reply timeout in ms (default 960000: longer than any function
 * timeout plus init).  Expiry gives LM_E_TIMEOUT. */
LM_EXPORT void lm_client_set_timeout(lm_client *c, int timeout_ms);

typedef enum lm_invocation_type {
    LM_INVOKE_REQUEST_RESPONSE = 0, /* sync: wait for the result */
    LM_INVOKE_EVENT = 1, /* async: 202 and a request id once stored durably (payload
                            <= 1 MiB); it runs later, retried per "event-config" */
    LM_INVOKE_DRY_RUN = 2 /* validate only: 204, nothing runs */
} lm_invocation_type;

typedef struct lm_invoke_params {
    const char *function; /* NAME, NAME:QUALIFIER or function:NAME[:QUALIFIER] */
    const char *qualifier; /* optional: "$LATEST", a version or an alias */
    lm_invocation_type type;
    int log_tail; /* non-zero: LogType Tail (last 4 KB of the log, base64) */
    const char *client_context; /* optional JSON text handed to the handler */
    const void *payload; /* JSON bytes; NULL/0 means "{}" */
    size_t payload_len;
} lm_invoke_params;

typedef struct lm_invoke_result {
    int status; /* 200 sync, 202 event, 204 dry run */
    char executed_version[32]; /* "$LATEST" or a version number */
    char function_error[16]; /* "" or "Handled" / "Unhandled" */
    char request_id[40];
    char *log_result; /* base64 log tail when asked for, else NULL (owned) */
    char *payload; /* result bytes, NUL-terminated (owned); "null" if empty */
    size_t payload_len;
    double init_duration_ms; /* > 0 when this invoke started a new environment */
    double duration_ms; /* handler duration as measured by the runtime */
} lm_invoke_result;

/* Invoke a function.  On 0, *out holds the result (release it with
 * lm_invoke_result_finish).  A function error is still 0: look at
 * out->function_error.  Invocation errors (bad input, unknown function,
 * throttled ...) return their code.  Same as lm_invoke_with(c, p, NULL, ...). */
LM_EXPORT int lm_invoke(lm_client *c, const lm_invoke_params *p, lm_invoke_result *out,
                        lm_error *err);

/* Options of lm_invoke_with.  Zero it and set size = sizeof(lm_invoke_options):
 * the library reads only the fields that size covers, so a program built
 * with this header keeps working when later versions add fields at the end.
 *
 * Idempotency (Event invokes): every Event invoke carries an IdempotencyKey.
 * Within 24 hours of broker time, a repeat of (function name, key) is
 * answered with the first 202 and its RequestId and queues nothing; a
 * repeat with another payload or qualifier fails with
 * LM_E_IDEMPOTENT_MISMATCH (400 IdempotentParameterMismatchException).  When
 * idempotency_key is NULL the library makes one for the call
 * (lm_idempotency_key_new).  Either way, an Event invoke
 * whose connection is reset before the reply (the broker may have stored
 * the event) is sent again with the same key, up to 3 times in all, so a
 * reset does not run it twice.  A caller that retries on its own passes
 * the same key each time (lm_idempotency_key_new makes one). */
typedef struct lm_invoke_options {
    size_t size; /* sizeof(lm_invoke_options) */
    const char *idempotency_key; /* Event only; 1-128 characters 0x21-0x7e; NULL: random */
} lm_invoke_options;

/* lm_invoke with options (o may be NULL).  A key on a non-Event invoke, or
 * one that breaks the rule above, is LM_E_INVALID_PARAMETER before anything
 * is sent. */
LM_EXPORT int lm_invoke_with(lm_client *c, const lm_invoke_params *p, const lm_invoke_options *o,
                             lm_invoke_result *out, lm_error *err);

/* A fresh idempotency key: 32 lowercase hex digits and a NUL — 48 bits of
 * wall-clock milliseconds, then 80 random bits from getrandom (a UUIDv7's
 * layout: keys made later sort later).  0, or LM_E_INTERNAL when no randomness is to be had. */
#define LM_IDEMPOTENCY_KEY_NEW_LEN 33
LM_EXPORT int lm_idempotency_key_new(char out[LM_IDEMPOTENCY_KEY_NEW_LEN]);
/* Free what a result owns; the struct may be reused.  Accepts a zeroed one. */
LM_EXPORT void lm_invoke_result_finish(lm_invoke_result *r);

/* Generic admin call.  op is one of the operations below; args_json is a
 * JSON object of Lambda-style fields (or NULL for {}); code/code_len an
 * optional binary attachment (a handler .so for "create").  On 0, *reply_json
 * (if non-NULL) receives a malloc'd JSON object the caller frees.
 *
 * Operations:
 *   "status"  {}                                   -> broker version, uptime, counts
 *   "create"  {FunctionName, Timeout?, MemorySize?, Environment?{Variables{}},
 *              Description?} + code                -> function configuration
 *   "get"     {FunctionName, Qualifier?}           -> {Configuration{...}, Code{...},
 *              Versions:[...], Aliases:[...]} (the last two when unqualified;
 *              NAME:7 shows version 7, NAME:ALIAS the version it points to;
 *              Concurrency{ReservedConcurrentExecutions} and
 *              ProvisionedConcurrencyConfigs when set, NAME:Q its
 *              ProvisionedConcurrency)
 *   "list"    {}                                   -> {Functions:[{..., Versions:["1"],
 *              Aliases:["live"]}]}
 *   "delete"  {FunctionName, Qualifier?}           -> {} (unqualified: the function with
 *              its versions, aliases and unused code; NAME:N: version N only,
 *              409 ResourceConflictException while an alias uses it)
 *   "retire-workers" {FunctionName}               -> {Retired: n} (ends warm
 *              environments of the function: the next invoke is a cold start)
 *   "update-code"   {FunctionName, RevisionId?} + code -> $LATEST configuration
 *   "update-config" {FunctionName, Timeout?, MemorySize?, Environment?{Variables{}},
 *              Description?, DeadLetterConfig?{TargetArn}, RevisionId?}
 *                                                  -> $LATEST configuration
 *              (fields left out keep their value; Environment replaces all vars)
 *   "publish" {FunctionName, Description?, CodeSha256?, RevisionId?}
 *                                                  -> the version's configuration
 *              (Version "N"; unchanged since the last version: that version;
 *              CodeSha256 not $LATEST's: 409; RevisionId is $LATEST's)
 *   "versions" {FunctionName}                      -> {Versions:[$LATEST, 1, 2 ...]}
 *   "alias-create" / "alias-update" {FunctionName, Name, FunctionVersion,
 *              Description?, RoutingConfig?{AdditionalVersionWeights{"N": w}},
 *              RevisionId? (update only)}      -> {AliasArn, Name, FunctionVersion,
 *              Description, RevisionId, RoutingConfig?} (update: fields left out
 *              keep their value; an empty AdditionalVersionWeights clears routing)
 *   "alias-get"    {FunctionName, Name}            -> alias configuration
 *   "alias-list"   {FunctionName}                  -> {Aliases:[...]}
 *   "alias-delete" {FunctionName, Name}            -> {}
 *   "event-config-put" {FunctionName, MaximumRetryAttempts? (0-2, default 2),
 *              MaximumEventAgeInSeconds? (60-21600, default 21600),
 *              DestinationConfig?{OnSuccess?{Destination}, OnFailure?{Destination}}}
 *                                                  -> the config (replaces the whole
 *              config; a destination is a function: NAME, NAME:Q, function:NAME or
 *              an ARN ending so; a queue: queue:NAME or an SQS ARN; or a topic:
 *              topic:NAME or an SNS ARN)
 *   "event-config-get"    {FunctionName}           -> {FunctionArn, MaximumRetryAttempts,
 *              MaximumEventAgeInSeconds, DestinationConfig, LastModified} (404 if none)
 *   "event-config-delete" {FunctionName}           -> {}
 *   "event-wait" {RequestId, TimeoutMs? (0-900000, default 30000)}
 *                   -> {RequestId, Status "Done"|"Pending", Condition?,
 *                       Destination?{RequestId, Status, Condition?}}
 *                   waits until an async event is done: finished (Condition
 *                   Success, RetriesExhausted or EventAgeExceeded) and, when
 *                   a record went to a destination, that run finished too;
 *                   "Pending" when TimeoutMs passed first.  404 for an id the
 *                   broker never stored or finished long ago (it remembers
 *                   the last 16,384 finished events, since it started)
 *   "concurrency-put" {FunctionName, ReservedConcurrentExecutions (0-limit)}
 *                   -> {ReservedConcurrentExecutions} (400 InvalidParameterValue
 *                   when less than min(100, --max-concurrency / 10) would stay
 *                   unreserved, or less than the function's provisioned total)
 *   "concurrency-get" {FunctionName}   -> {ReservedConcurrentExecutions} or {}
 *   "concurrency-delete" {FunctionName} -> {}
 *   "provisioned-put" {FunctionName, Qualifier (a version or an alias, not
 *              $LATEST), ProvisionedConcurrentExecutions (1-limit)}
 *                   -> {RequestedProvisionedConcurrentExecutions,
 *                       AllocatedProvisionedConcurrentExecutions,
 *                       AvailableProvisionedConcurrentExecutions, Status
 *                       IN_PROGRESS|READY|FAILED, StatusReason?, LastModified,
 *                       Pids:[the environments' process ids]}
 *   "provisioned-get" / "provisioned-delete" {FunctionName, Qualifier}
 *                   -> the same / {} (404 ProvisionedConcurrencyConfigNotFound)
 *   "provisioned-list" {FunctionName}
 *                   -> {ProvisionedConcurrencyConfigs:[{FunctionArn, ...}]}
 *   "clock-advance" {Ms (1-31622400000)}          -> {BrokerTimeMs, OffsetMs}
 *                   tests only: moves broker time (async retry delays, event
 *                   age, idempotency-key expiry) forward by Ms and wakes what
 *                   waits on it; 400 UnknownOperationException unless the
 *                   broker runs with --test-clock
 * FunctionName may be NAME, NAME:QUALIFIER, function:NAME[:QUALIFIER] or an
 * ARN ending so; operations on a whole function refuse a qualifier (400).
 * Queues (SQS's fields and semantics; QueueName is a name or a queue ARN
 * arn:lamina:sqs:local:000000000000:NAME; attribute values are strings, as
 * in SQS; errors are SQS's codes 32-48 of lamina/error.h):
 *   "queue-create" {QueueName, Attributes?{VisibilityTimeout, MessageRetentionPeriod,
 *              DelaySeconds, MaximumMessageSize, ReceiveMessageWaitTimeSeconds,
 *              RedrivePolicy (JSON text {"deadLetterTargetArn":ARN,"maxReceiveCount":N}),
 *              FifoQueue "true", ContentBasedDeduplication "true"}}
 *                                                  -> {QueueName, QueueArn}
 *              (a FIFO queue's name ends in .fifo)
 *   "queue-list"   {QueueNamePrefix?}              -> {Queues:[{QueueName, QueueArn}]}
 *   "queue-get"    {QueueName, AttributeNames?:["All"]}
 *                   -> {QueueName, Attributes:{the attributes above, QueueArn,
 *                       ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
 *                       ApproximateNumberOfMessagesDelayed, CreatedTimestamp,
 *                       LastModifiedTimestamp}}
 *   "queue-set"    {QueueName, Attributes{...}}    -> {} (attributes left out keep
 *              their value; RedrivePolicy "" removes the policy)
 *   "queue-purge"  {QueueName}                     -> {} (deletes every message)
 *   "queue-delete" {QueueName}                     -> {}
 *   "queue-send"   {QueueName, MessageBody, DelaySeconds?, MessageAttributes?{NAME:
 *              {DataType, StringValue|BinaryValue}}, MessageGroupId?,
 *              MessageDeduplicationId?}
 *                   -> {MessageId, MD5OfMessageBody, MD5OfMessageAttributes?,
 *                       SequenceNumber? (FIFO)} (answered once the message is on disk)
 *   "queue-send-batch" {QueueName, Entries:[{Id, MessageBody, DelaySeconds?,
 *              MessageAttributes?, MessageGroupId?, MessageDeduplicationId?}] (1-10)}
 *                   -> {Successful:[{Id, MessageId, MD5OfMessageBody,
 *                       MD5OfMessageAttributes?, SequenceNumber?}],
 *                       Failed:[{Id, Code, Message, SenderFault}]} (per entry, as SQS)
 *   "queue-receive" {QueueName, MaxNumberOfMessages? (1-10), WaitTimeSeconds? (0-20;
 *              default the queue's ReceiveMessageWaitTimeSeconds), VisibilityTimeout?}
 *                   -> {Messages:[{MessageId, ReceiptHandle, MD5OfBody, Body,
 *                       Attributes{ApproximateReceiveCount, SentTimestamp,
 *                       ApproximateFirstReceiveTimestamp, SequenceNumber?,
 *                       MessageGroupId?, MessageDeduplicationId?},
 *                       MD5OfMessageAttributes?, MessageAttributes?}]}
 *                   (long poll: waits up to WaitTimeSeconds for a message)
 *   "queue-delete-message" {QueueName, ReceiptHandle} -> {} (the handle of the
 *              message's latest receive)
 *   "queue-change-visibility" {QueueName, ReceiptHandle, VisibilityTimeout}
 *                                                  -> {}
 * Topics (SNS's fields; TopicArn is a topic name or ARN; errors are SNS's
 * codes 49-52 of lamina/error.h):
 *   "topic-create" {Name}                          -> {TopicArn}
 *   "topic-list"   {}                              -> {Topics:[{TopicArn, Name}]}
 *   "topic-get"    {TopicArn}                      -> {Attributes:{TopicArn, Owner,
 *              DisplayName, SubscriptionsConfirmed, SubscriptionsPending,
 *              SubscriptionsDeleted, CreatedTimestamp}}
 *   "topic-delete" {TopicArn}                      -> {}
 *   "topic-subscribe" {TopicArn, Protocol "sqs"|"lambda", Endpoint (a queue or a
 *              function), Attributes?{RawMessageDelivery "true", FilterPolicy (JSON
 *              text), FilterPolicyScope "MessageAttributes"|"MessageBody"}}
 *                                                  -> {SubscriptionArn}
 *   "topic-unsubscribe" {SubscriptionArn}          -> {}
 *   "topic-subscriptions" {TopicArn}               -> {Subscriptions:[{SubscriptionArn,
 *              TopicArn, Protocol, Endpoint, Owner, RawMessageDelivery,
 *              FilterPolicy?, FilterPolicyScope?}]}
 *   "topic-publish" {TopicArn, Message, Subject?, MessageAttributes?{NAME:{DataType,
 *              StringValue|BinaryValue}}}          -> {MessageId}
 *
 * Streams (Kinesis Data Streams' fields; StreamName is a name or a kinesis
 * ARN; errors: ResourceNotFoundException (5), codes 53-56 of lamina/error.h;
 * Data is base64 text; times are epoch seconds):
 *   "stream-create" {StreamName, ShardCount (1-500), RetentionPeriodHours?
 *              (24-8760, default 24)}              -> {StreamName, StreamARN}
 *   "stream-list"  {}                              -> {StreamNames:[…], HasMoreStreams,
 *              StreamSummaries:[{StreamName, StreamARN, StreamStatus,
 *              StreamCreationTimestamp}]}
 *   "stream-get"   {StreamName}                    -> {StreamDescription:{StreamName,
 *              StreamARN, StreamStatus, RetentionPeriodHours, StreamCreationTimestamp,
 *              EncryptionType, HasMoreShards, Shards:[{ShardId, ParentShardId?,
 *              AdjacentParentShardId?, HashKeyRange{StartingHashKey, EndingHashKey},
 *              SequenceNumberRange{StartingSequenceNumber, EndingSequenceNumber?}}]}}
 *   "stream-delete" {StreamName}                   -> {}
 *   "stream-put"   {StreamName, PartitionKey, Data, ExplicitHashKey?}
 *                                                  -> {ShardId, SequenceNumber, EncryptionType}
 *              (answered once the record's commit is on disk)
 *   "stream-put-batch" {StreamName, Records:[{PartitionKey, Data, ExplicitHashKey?}]
 *              (1-500, 5 MiB)}                     -> {FailedRecordCount, Records:
 *              [{SequenceNumber, ShardId} | {ErrorCode, ErrorMessage}], EncryptionType}
 *   "stream-iterator" {StreamName, ShardId, ShardIteratorType TRIM_HORIZON|LATEST|
 *              AT_SEQUENCE_NUMBER|AFTER_SEQUENCE_NUMBER|AT_TIMESTAMP,
 *              StartingSequenceNumber?, Timestamp?} -> {ShardIterator} (valid 5 min)
 *   "stream-get-records" {ShardIterator, Limit? (1-10000)}
 *                                                  -> {Records:[{SequenceNumber,
 *              ApproximateArrivalTimestamp, Data, PartitionKey}], NextShardIterator
 *              (null past a closed shard's end), MillisBehindLatest, ChildShards?}
 *   "stream-split" {StreamName, ShardToSplit, NewStartingHashKey} -> {}
 *   "stream-merge" {StreamName, ShardToMerge, AdjacentShardToMerge} -> {}
 *
 * Event buses (EventBridge's fields; EventBusName defaults to "default";
 * errors: ResourceNotFoundException (5), codes 56 and 60-64 of
 * lamina/error.h; broker/messaging/README.md "Event buses" has the rules):
 *   "bus-create"   {Name}                          -> {EventBusArn}
 *   "bus-delete"   {Name} (not "default")          -> {}
 *   "bus-list"     {}                              -> {EventBuses:[{Name, Arn}]}
 *   "bus-get"      {Name}                          -> {Name, Arn, Rules (count)}
 *   "bus-put-events" {Entries:[{Source, DetailType, Detail (JSON object text),
 *              Resources?, Time?, EventBusName?}] (1-10, 256 KiB)}
 *                                                  -> {FailedEntryCount, Entries:
 *              [{EventId} | {ErrorCode, ErrorMessage}]} (answered after the commit
 *              that stored every matched target's delivery)
 *   "rule-put"     {Name, EventBusName?, EventPattern (JSON text) |
 *              ScheduleExpression (rate(...)/cron(...), default bus only),
 *              State? ENABLED|DISABLED}             -> {RuleArn} (an upsert)
 *   "rule-get" / "rule-enable" / "rule-disable" {Name, EventBusName?}
 *   "rule-delete"  {Name, EventBusName?, Force? (bool)} -> {} (a rule with
 *              targets: ValidationException "Rule can't be deleted since it
 *              has targets." unless Force, which removes them too)
 *   "rule-list"    {EventBusName?}                 -> {Rules:[…]}
 *   "rule-targets-put" {Rule, EventBusName?, Targets:[{Id, Arn, Input? |
 *              InputPath? | InputTransformer?{InputPathsMap, InputTemplate},
 *              RetryPolicy?{MaximumRetryAttempts, MaximumEventAgeInSeconds},
 *              DeadLetterConfig?{Arn}, SqsParameters?{MessageGroupId} (a FIFO
 *              queue target: required)}] (1-5; at most 5 per rule)}
 *                                                  -> {FailedEntryCount, FailedEntries:
 *              [{TargetId, ErrorCode, ErrorMessage}]} (per target: the valid
 *              ones are stored, each invalid one is listed)
 *   "rule-targets-list" {Rule, EventBusName?}      -> {Targets:[…]}
 *   "rule-targets-remove" {Rule, EventBusName?, Ids:[…]} -> {Removed, …}
 *   "bus-tail"     {EventBusName?, Cursor?, WaitTimeSeconds? 0-20, Limit? 1-100}
 *                                                  -> {Events:[envelope…], NextCursor,
 *              Missed?, Reset?} (no Cursor: none, and the cursor of now; with
 *              one: the events since, or a wait for the next; best-effort, an
 *              in-memory ring per bus, lost on restart)
 *   "archive-create" {ArchiveName, EventSourceArn (bus), EventPattern?,
 *              Description?, RetentionDays? (0: forever)} -> {ArchiveArn, State}
 *   "archive-get" / "archive-delete" {ArchiveName}  -> {ArchiveName, ArchiveArn,
 *              EventSourceArn, EventPattern?, Description, State, RetentionDays,
 *              CreationTime, EventCount, SizeBytes} / {}
 *   "archive-list" {EventSourceArn?}               -> {Archives:[…]}
 *   "replay-start" {ReplayName, EventSourceArn (archive), EventStartTime,
 *              EventEndTime (RFC 3339 UTC or epoch seconds), Destination?{Arn
 *              (the archive's bus), FilterArns? (rules)}} -> {ReplayArn, State}
 *              (runs in the background; replayed envelopes carry replay-name)
 *   "replay-get"   {ReplayName}                    -> {ReplayName, ReplayArn,
 *              EventSourceArn, Destination, State STARTING|RUNNING|COMPLETED|
 *              FAILED, StateReason?, EventStartTime, EventEndTime,
 *              ReplayStartTime, ReplayEndTime?, EventsReplayed, Deliveries}
 *   "replay-list"  {}                              -> {Replays:[…]}
 *
 * A function configuration is Lambda's FunctionConfiguration: FunctionName,
 * FunctionArn, Runtime, Version, CodeSha256, CodeSize, Description, Timeout,
 * MemorySize, LastModified, State, RevisionId, DeadLetterConfig?,
 * Environment.  RevisionId is a UUID: $LATEST gets a new one on create and
 * on every update-code / update-config (not on publish, invoke or get); a
 * published version gets its own when published and keeps it; an alias
 * gets a new one on every create/update.  All survive restarts.
 * RevisionId? on update-code, update-config, publish and alias-update is a
 * precondition (optimistic locking): if it is not the current RevisionId of
 * $LATEST (publish too) or of the alias, the call fails with
 * LM_E_PRECONDITION_FAILED (412 PreconditionFailedException, "The Revision
 * Id provided does not match the latest Revision Id. Call the
 * GetFunction/GetAlias API to retrieve the latest Revision Id") and changes
 * nothing.  Left out, nothing is checked.  A non-string or one over 64
 * characters is 400. */
LM_EXPORT int lm_call(lm_client *c, const char *op, const char *args_json, const void *code,
                      size_t code_len, char **reply_json, lm_error *err);

/* Convenience: read a whole file (a handler .so) into memory.  0 or an lm_err
 * code; *data is malloc'd. */
LM_EXPORT int lm_read_file(const char *path, void **data, size_t *len, lm_error *err);

/* Name of an lm_err code, e.g. "LM_E_NOT_FOUND". */
LM_EXPORT const char *lm_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif /* LAMINA_CLIENT_H */
