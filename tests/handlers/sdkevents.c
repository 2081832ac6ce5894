/* Reads every shape through <lamina/events.h> and answers with its helpers:
 *   a batch ("Records"): logs "REC <data>" per record, and lists as failed
 *     each record whose data starts with "fail";
 *   a function URL request: echoes the body (binary stays binary) with
 *     x-method, x-path, x-q (query "q") and x-h (header "X-Test") headers,
 *     status from query "status" (default 200);
 *   anything else: {"kind":"other","json":true|false}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lamina/events.h>

static int batch(const lm_request *req, const cJSON *event, lm_response *res)
{
    lm_batch_failures *failed = lm_batch_failures_new();
    const cJSON *rec;
    cJSON_ArrayForEach(rec, lm_event_records(event))
    {
        size_t n = 0;
        char *data = lm_record_data(rec, &n);
        lm_log(req, "REC %s (%zu bytes, id %s)", data != NULL ? data : "(none)", n,
               lm_record_id(rec) != NULL ? lm_record_id(rec) : "(none)");
        if (data == NULL || strncmp(data, "fail", 4) == 0) {
            lm_batch_failures_add(failed, lm_record_id(rec));
        }
        free(data);
    }
    return lm_response_batch_failures(res, failed);
}

static int url(const cJSON *event, lm_response *res)
{
    char h[4][300];
    const char *q = lm_url_query(event, "q"), *th = lm_url_header(event, "X-Test");
    const char *st = lm_url_query(event, "status");
    snprintf(h[0], sizeof(h[0]), "x-method: %s", lm_url_method(event));
    snprintf(h[1], sizeof(h[1]), "x-path: %s", lm_url_path(event));
    snprintf(h[2], sizeof(h[2]), "x-q: %s", q != NULL ? q : "(none)");
    snprintf(h[3], sizeof(h[3]), "x-h: %s", th != NULL ? th : "(none)");
    const char *headers[] = {h[0], h[1], h[2], h[3], "content-type: application/octet-stream",
                             NULL};
    size_t n = 0;
    char *body = lm_url_body(event, &n);
    if (body == NULL) {
        return lm_response_error(res, "BadBody", "the body's base64 is broken");
    }
    int rc = lm_url_respond(res, st != NULL ? atoi(st) : 200, headers, body, n);
    free(body);
    return rc;
}

static int sdkevents(const lm_request *req, lm_response *res)
{
    cJSON *event = lm_event_parse(req);
    int rc;
    if (lm_event_records(event) != NULL) {
        rc = batch(req, event, res);
    } else if (lm_url_method(event) != NULL) {
        rc = url(event, res);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "other");
        cJSON_AddBoolToObject(o, "json", event != NULL);
        rc = lm_response_json(res, o);
        cJSON_Delete(o);
    }
    cJSON_Delete(event);
    return rc;
}
LM_HANDLER(sdkevents);
