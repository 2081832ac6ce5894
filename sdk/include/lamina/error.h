/*
 * lamina/error.h — the one error table of Lamina.
 *
 * Codes travel between processes (broker, runtime, clients), so their numbers
 * are explicit and never renumbered; a retired code keeps its slot.  Each row
 * gives: enum name, number, HTTP-like status, the wire "type" string (AWS
 * Lambda's exception names where one exists) and a default message.
 * Numbers 18-31 are free for Lambda-side codes; 32-63 belong to the broker's
 * queues and topics (broker/messaging), whose types are SQS's and SNS's own
 * error codes (QueueDoesNotExist, NotFound, ...) so that a user who knows
 * those services reads the same names.  The table is kept out of
 * clang-format so that adding a row never re-aligns the others.
 */
#ifndef LAMINA_ERROR_H
#define LAMINA_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* clang-format off */
#define LM_ERROR_TABLE(X)                                                                    \
    X(LM_OK, 0, 200, "Success", "ok")                                                        \
    X(LM_E_INTERNAL, 1, 500, "ServiceException", "internal error")                           \
    X(LM_E_INVALID_PARAMETER, 2, 400, "InvalidParameterValueException", "invalid parameter") \
    X(LM_E_INVALID_CONTENT, 3, 400, "InvalidRequestContentException",                        \
      "could not parse request body into json")                                              \
    X(LM_E_TOO_LARGE, 4, 413, "RequestEntityTooLargeException", "request too large")         \
    X(LM_E_NOT_FOUND, 5, 404, "ResourceNotFoundException", "resource not found")             \
    X(LM_E_CONFLICT, 6, 409, "ResourceConflictException", "resource conflict")               \
    X(LM_E_THROTTLED, 7, 429, "TooManyRequestsException", "rate exceeded")                   \
    X(LM_E_MALFORMED, 8, 400, "MalformedRequestException", "malformed message")              \
    X(LM_E_UNREACHABLE, 9, 503, "BrokerUnreachableException", "broker unreachable")          \
    X(LM_E_TIMEOUT, 10, 504, "ClientTimeoutException", "timed out waiting for the broker")   \
    X(LM_E_NOMEM, 11, 500, "ServiceException", "out of memory")                              \
    X(LM_E_PROTO_VERSION, 12, 400, "UnsupportedProtocolVersionException",                    \
      "unsupported protocol version")                                                        \
    X(LM_E_IO, 13, 500, "ServiceException", "i/o error")                                     \
    X(LM_E_STOPPING, 14, 503, "ServiceUnavailableException", "broker is stopping")           \
    X(LM_E_UNKNOWN_OP, 15, 400, "UnknownOperationException", "unknown operation")            \
    X(LM_E_PRECONDITION_FAILED, 16, 412, "PreconditionFailedException",                      \
      "The Revision Id provided does not match the latest Revision Id. Call the "            \
      "GetFunction/GetAlias API to retrieve the latest Revision Id")                         \
    X(LM_E_IDEMPOTENT_MISMATCH, 17, 400, "IdempotentParameterMismatchException",             \
      "The idempotency key was already used with a different request")                       \
    /* 32-63: broker-owned queues and topics (broker/messaging); SQS/SNS names */            \
    X(LM_E_QUEUE_DOES_NOT_EXIST, 32, 400, "QueueDoesNotExist",                               \
      "The specified queue does not exist.")                                                 \
    X(LM_E_QUEUE_ALREADY_EXISTS, 33, 400, "QueueAlreadyExists",                              \
      "A queue with this name already exists with different attributes.")                    \
    X(LM_E_RECEIPT_HANDLE_INVALID, 34, 404, "ReceiptHandleIsInvalid",                        \
      "The specified receipt handle isn't valid.")                                           \
    X(LM_E_MQ_INVALID_PARAMETER, 35, 400, "InvalidParameterValue",                           \
      "A parameter has an invalid value.")                                                   \
    X(LM_E_MQ_MISSING_PARAMETER, 36, 400, "MissingParameter",                                \
      "A required parameter is missing.")                                                    \
    X(LM_E_INVALID_ATTRIBUTE_NAME, 37, 400, "InvalidAttributeName",                          \
      "The specified attribute doesn't exist.")                                              \
    X(LM_E_INVALID_ATTRIBUTE_VALUE, 38, 400, "InvalidAttributeValue",                        \
      "An attribute has an invalid value.")                                                  \
    X(LM_E_MESSAGE_TOO_LONG, 39, 400, "MessageTooLong",                                      \
      "The message is longer than the queue allows.")                                        \
    X(LM_E_INVALID_MESSAGE_CONTENTS, 40, 400, "InvalidMessageContents",                      \
      "The message contains characters outside the allowed set.")                            \
    X(LM_E_MESSAGE_NOT_INFLIGHT, 41, 400, "MessageNotInflight",                              \
      "The specified message isn't in flight.")                                              \
    X(LM_E_BATCH_IDS_NOT_DISTINCT, 42, 400, "BatchEntryIdsNotDistinct",                      \
      "Two or more batch entries in the request have the same Id.")                          \
    X(LM_E_TOO_MANY_ENTRIES, 43, 400, "TooManyEntriesInBatchRequest",                        \
      "The batch request contains more entries than permissible.")                           \
    X(LM_E_EMPTY_BATCH, 44, 400, "EmptyBatchRequest",                                        \
      "The batch request doesn't contain any entries.")                                      \
    X(LM_E_INVALID_BATCH_ENTRY_ID, 45, 400, "InvalidBatchEntryId",                           \
      "The Id of a batch entry doesn't abide by the specification.")                         \
    X(LM_E_BATCH_TOO_LONG, 46, 400, "BatchRequestTooLong",                                   \
      "The length of all the messages put together is more than the limit.")                 \
    X(LM_E_PURGE_IN_PROGRESS, 47, 403, "PurgeQueueInProgress",                               \
      "The queue was purged within the last 60 seconds.")                                    \
    X(LM_E_OVER_LIMIT, 48, 403, "OverLimit",                                                 \
      "The request would exceed a limit.")                                                   \
    X(LM_E_SNS_NOT_FOUND, 49, 404, "NotFound",                                               \
      "The requested resource does not exist.")                                              \
    X(LM_E_SNS_INVALID_PARAMETER, 50, 400, "InvalidParameter",                               \
      "A request parameter does not comply with the associated constraints.")                \
    X(LM_E_SUBSCRIPTION_LIMIT, 51, 403, "SubscriptionLimitExceeded",                         \
      "The topic has the maximum number of subscriptions.")                                  \
    X(LM_E_TOPIC_LIMIT, 52, 403, "TopicLimitExceeded",                                       \
      "The maximum number of topics exists.")                                                \
    /* 53-59: the broker's streams (Kinesis's names; a missing stream or shard */           \
    /* is LM_E_NOT_FOUND, ResourceNotFoundException, as in Kinesis) */                      \
    X(LM_E_RESOURCE_IN_USE, 53, 400, "ResourceInUseException",                               \
      "The resource is in use (a stream of that name exists).")                              \
    X(LM_E_STREAM_INVALID_ARGUMENT, 54, 400, "InvalidArgumentException",                     \
      "A parameter is not valid.")                                                           \
    X(LM_E_EXPIRED_ITERATOR, 55, 400, "ExpiredIteratorException",                            \
      "The shard iterator has expired.")                                                     \
    /* one code for Kinesis's and EventBridge's LimitExceededException (63 unused) */       \
    X(LM_E_LIMIT_EXCEEDED, 56, 400, "LimitExceededException",                                \
      "A limit on streams, shards, buses, rules or targets was reached.")                   \
    /* 60-69: event buses (EventBridge's names; not found is 5) */                           \
    X(LM_E_EV_ALREADY_EXISTS, 60, 400, "ResourceAlreadyExistsException",                     \
      "The resource already exists.")                                                        \
    X(LM_E_EV_INVALID_PATTERN, 61, 400, "InvalidEventPatternException",                      \
      "The event pattern is not valid.")                                                     \
    X(LM_E_EV_VALIDATION, 62, 400, "ValidationException",                                    \
      "The input fails to satisfy the constraints specified.")                               \
    X(LM_E_EV_CONCURRENT, 64, 409, "ConcurrentModificationException",                        \
      "There is concurrent modification on a resource.")                                    \
    /* 65-69: concurrency controls (Lambda's names) */                                      \
    X(LM_E_PROVISIONED_NOT_FOUND, 65, 404, "ProvisionedConcurrencyConfigNotFoundException",  \
      "No provisioned concurrency config for that version or alias.")
/* clang-format on */

typedef enum lm_err {
#define LM_ERR_ENUM_(name, num, status, type, msg) name = num,
    LM_ERROR_TABLE(LM_ERR_ENUM_)
#undef LM_ERR_ENUM_
} lm_err;

/* A typed error as the caller sees it: code, HTTP-like status, wire type and
 * a human message naming the problem.  Fixed-size: never allocates. */
typedef struct lm_error {
    int code; /* lm_err */
    int status; /* HTTP-like status (400, 404, 413, 429, 500, ...) */
    char type[64]; /* e.g. "ResourceNotFoundException" */
    char message[512]; /* e.g. "Function not found: hello" */
} lm_error;

#ifdef __cplusplus
}
#endif
#endif /* LAMINA_ERROR_H */
