/*
 * broker/lib/urlmap.h — function URLs' mapping between HTTP and events
 * (lambda-semantics.md §7): an HTTP request becomes the payload format 2.0
 * event, a function's result becomes the HTTP response (the full form with
 * statusCode, or the inferred form), and a URL's Cors configuration becomes
 * CORS headers and preflight answers.
 *
 * Pure functions: no threads, no sockets, no broker state (so in lib/):
 * the HTTP server (front/http.c) calls them on its thread, the admin layer
 * checks a URL's Cors with urlmap_cors_check, and a fuzz target
 * (tests/fuzz/fuzz_urlmap.c) drives them alone.  Every input is untrusted.
 */
#ifndef BROKER_LIB_URLMAP_H
#define BROKER_LIB_URLMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "proto.h"

/* One request header as received (name in any case, value as sent). */
typedef struct urlmap_header {
    const char *name;
    const char *value;
} urlmap_header;

/* A request as the HTTP server read it.  Strings are NUL-terminated and
 * borrowed for the call. */
typedef struct urlmap_request {
    const char *method; /* "GET", … */
    const char *path; /* the path below the URL, starting with '/' (still %-encoded) */
    const char *query; /* the raw query string without '?', "" when none */
    const char *protocol; /* "HTTP/1.1" */
    const char *source_ip;
    const urlmap_header *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    const char *url_id; /* requestContext.apiId / domainPrefix */
    const char *domain; /* requestContext.domainName */
    const char *request_id;
    int64_t time_ms; /* wall clock, epoch ms */
    const char *iam_key; /* AWS_IAM: the access key that signed it; NULL for NONE */
} urlmap_request;

/* The event's JSON text (malloc'd, NUL-terminated) and its length in *len,
 * or NULL with *e set (LM_E_NOMEM).  Headers are lower-cased and a
 * repeated header's values comma-joined; Cookie headers become cookies[]
 * (split at ';'); the query string is split at '&' into
 * queryStringParameters (%-decoded, repeated keys comma-joined); a body
 * that is valid UTF-8 with a textual (or no) content-type is sent as text,
 * any other body base64 with isBase64Encoded true.  With iam_key,
 * requestContext.authorizer.iam names the caller. */
char *urlmap_event(const urlmap_request *r, size_t *len, lm_error *e);

/* The HTTP response a function's result maps to. */
typedef struct urlmap_response {
    int status;
    cJSON *headers; /* object: lower-cased name -> string value */
    cJSON *cookies; /* array of strings (each a set-cookie header), may be empty */
    char *body; /* malloc'd bytes (not necessarily text) */
    size_t body_len;
} urlmap_response;

/* Map a result payload (§7.3).  A JSON object with statusCode is the full
 * form (statusCode 100-599, headers of strings, numbers or booleans, body a
 * string, cookies strings, isBase64Encoded decodes body); any other valid
 * JSON is the inferred form: 200, content-type application/json, the
 * payload itself as the body.  LM_OK, or LM_E_INVALID_PARAMETER for a
 * result that is neither (the URL answers 502), or LM_E_NOMEM.
 * On LM_OK the caller frees *out with urlmap_response_finish. */
int urlmap_response_map(const void *payload, size_t len, urlmap_response *out, lm_error *e);
void urlmap_response_finish(urlmap_response *r);

/* A Cors configuration (Lambda's field names: AllowCredentials,
 * AllowHeaders, AllowMethods, AllowOrigins, ExposeHeaders, MaxAge) checked
 * against Lambda's limits: LM_OK, or LM_E_INVALID_PARAMETER naming the
 * field.  NULL (no Cors) is valid. */
int urlmap_cors_check(const cJSON *cors, lm_error *e);

/* Is this request a CORS preflight (OPTIONS with Origin and
 * Access-Control-Request-Method)? */
bool urlmap_is_preflight(const char *method, const char *origin, const char *req_method);

/* The CORS headers for a request from origin (NULL: none sent) under cors
 * (NULL: no CORS configured -> nothing added), written into headers (an
 * object; configured headers replace the function's access-control-*
 * headers).  Preflight answers carry Allow-Methods, Allow-Headers and
 * Max-Age; other answers Expose-Headers.  Returns false on out of memory. */
bool urlmap_cors_headers(const cJSON *cors, const char *origin, bool preflight, cJSON *headers);

#endif
