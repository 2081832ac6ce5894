/* Test handler for function URLs: answers with the request's body as its
 * result, so a test sends the exact result it wants mapped (the full form
 * with statusCode, a bare string, broken JSON …).  A body "sleep:N" sleeps
 * N ms first and answers {"slept":N}; "fail" reports a handled error. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <lamina/handler.h>

static int answer(const lm_request *req, lm_response *res)
{
    size_t n = 0;
    const char *p = lm_request_payload(req, &n);
    cJSON *ev = cJSON_ParseWithLength(p, n);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(ev, "body");
    int rc;
    if (!cJSON_IsString(body)) {
        rc = lm_response_set(res, "null", 4);
    } else if (strncmp(body->valuestring, "sleep:", 6) == 0) {
        long ms = strtol(body->valuestring + 6, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
        rc = lm_response_printf(res, "{\"slept\":%ld}", ms);
    } else if (strcmp(body->valuestring, "fail") == 0) {
        rc = lm_response_error(res, "UrlFailure", "failed on purpose");
    } else {
        rc = lm_response_set(res, body->valuestring, strlen(body->valuestring));
    }
    cJSON_Delete(ev);
    return rc;
}
LM_HANDLER(answer);
