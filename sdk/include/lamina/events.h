/*
 * <lamina/events.h> — the JSON shapes Lamina sends to handlers, and the
 * answers it understands, so a handler does not hand-write them.  Built on
 * cJSON, which `pkg-config lamina` brings.
 *
 *     #include <lamina/events.h>
 *
 *     static int consume(const lm_request *req, lm_response *res) {
 *         cJSON *event = lm_event_parse(req);
 *         lm_batch_failures *failed = lm_batch_failures_new();
 *         const cJSON *rec;
 *         cJSON_ArrayForEach(rec, lm_event_records(event)) {
 *             size_t n;
 *             char *data = lm_record_data(rec, &n);   // SQS body, or Kinesis data decoded
 *             if (data == NULL || !process(data, n)) {
 *                 lm_batch_failures_add(failed, lm_record_id(rec));
 *             }
 *             free(data);
 *         }
 *         cJSON_Delete(event);
 *         return lm_response_batch_failures(res, failed);  // {"batchItemFailures":[...]}
 *     }
 *
 * Shapes: ../README.md "Event source mappings" (SQS and Kinesis records,
 * partial batch responses) and "Function URLs" (payload format 2.0).
 * Everything here only reads the event and fills the response through
 * <lamina/handler.h>; returned strings are borrowed from the cJSON tree
 * unless the comment says malloc'd.
 */
#ifndef LAMINA_EVENTS_H
#define LAMINA_EVENTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include <lamina/handler.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The request's payload parsed (the caller cJSON_Deletes it), or NULL when
 * it is not JSON. */
LM_EXPORT cJSON *lm_event_parse(const lm_request *req);

/* Set the response to j printed as JSON (j is not freed).  0 or -1. */
LM_EXPORT int lm_response_json(lm_response *res, const cJSON *j);

/* ---- batches from event source mappings (queues and streams) ---- */

/* The event's "Records" array, or NULL when it has none (cJSON_ArrayForEach
 * over NULL runs zero times). */
LM_EXPORT const cJSON *lm_event_records(const cJSON *event);
/* The record's identifier in a partial batch response: "messageId" of a
 * queue record, "kinesis.sequenceNumber" of a stream record; NULL if none. */
LM_EXPORT const char *lm_record_id(const cJSON *record);
/* The record's data, malloc'd and NUL-terminated (the caller frees; *len
 * without the NUL): a queue record's "body" as is, a stream record's
 * "kinesis.data" base64-decoded.  NULL when the record has neither or its
 * base64 is broken. */
LM_EXPORT char *lm_record_data(const cJSON *record, size_t *len);

/* A partial batch response (ReportBatchItemFailures): the records to try
 * again. */
typedef struct lm_batch_failures lm_batch_failures;
/* NULL when out of memory (the calls below accept NULL and then fail). */
LM_EXPORT lm_batch_failures *lm_batch_failures_new(void);
/* Add a record by its identifier (lm_record_id; copied).  0, or -1 for NULL
 * arguments or no memory. */
LM_EXPORT int lm_batch_failures_add(lm_batch_failures *f, const char *item_id);
/* How many were added. */
LM_EXPORT size_t lm_batch_failures_count(const lm_batch_failures *f);
/* Set the response to {"batchItemFailures":[{"itemIdentifier":ID},...]}
 * (an empty list: the whole batch succeeded) and free f.  0 or -1. */
LM_EXPORT int lm_response_batch_failures(lm_response *res, lm_batch_failures *f);

/* ---- function URLs (payload format 2.0) ---- */

/* requestContext.http.method ("GET", ...), or NULL. */
LM_EXPORT const char *lm_url_method(const cJSON *event);
/* rawPath ("/orders/7"), or NULL. */
LM_EXPORT const char *lm_url_path(const cJSON *event);
/* A request header by name, any case (headers arrive lower-cased, repeated
 * ones comma-joined), or NULL. */
LM_EXPORT const char *lm_url_header(const cJSON *event, const char *name);
/* A query string parameter (repeated ones comma-joined), or NULL. */
LM_EXPORT const char *lm_url_query(const cJSON *event, const char *name);
/* The request body, malloc'd and NUL-terminated (*len without the NUL),
 * base64-decoded when isBase64Encoded; "" when there is none; NULL when out
 * of memory or its base64 is broken. */
LM_EXPORT char *lm_url_body(const cJSON *event, size_t *len);
/* Answer with statusCode `status`, the headers (NULL, or a NULL-terminated
 * list of "Name: value" strings; content-type among them or not) and
 * body[0..len): sent as text when it is valid UTF-8 without NUL bytes, else
 * base64 with isBase64Encoded.  0 or -1. */
LM_EXPORT int lm_url_respond(lm_response *res, int status, const char *const *headers,
                             const void *body, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* LAMINA_EVENTS_H */
