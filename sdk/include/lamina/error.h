/*
 * lamina/error.h — the one error table of Lamina.
 *
 * Codes travel between processes (broker, runtime, clients), so their numbers
 * are explicit and never renumbered; a retired code keeps its slot.  Each row
 * gives: enum name, number, HTTP-like status, the wire "type" string (AWS
 * Lambda's exception names where one exists) and a default message.
 */
#ifndef LAMINA_ERROR_H
#define LAMINA_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

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
      "The idempotency key was already used with a different request")

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
