/*
 * tools/bench/classify.c — error classes of an invoke (see classify.h).
 */
#include "classify.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* True when an Unhandled error payload says the function timed out. */
static bool is_timeout_payload(const char *payload, size_t len)
{
    bool yes = false;
    if (payload == NULL) {
        return false;
    }
    cJSON *j = cJSON_ParseWithLength(payload, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "errorType");
    if (cJSON_IsString(t) && strcmp(t->valuestring, "Sandbox.Timedout") == 0) {
        yes = true;
    }
    cJSON_Delete(j);
    return yes;
}

static void classify_error(int rc, const lm_error *err, load_outcome *o)
{
    const char *cls = NULL;
    switch (rc) {
    case LM_E_THROTTLED: cls = "throttled"; break;
    case LM_E_TIMEOUT: cls = "client_timeout"; break;
    case LM_E_UNREACHABLE:
    case LM_E_IO:
    case LM_E_STOPPING: cls = "transport"; break;
    default: break;
    }
    if (cls != NULL) {
        snprintf(o->err_class, sizeof(o->err_class), "%s", cls);
    } else if (err != NULL && err->type[0] != '\0') {
        snprintf(o->err_class, sizeof(o->err_class), "invocation:%s", err->type);
    } else {
        snprintf(o->err_class, sizeof(o->err_class), "invocation:code%d", rc);
    }
}

void classify_invoke(int rc, const lm_error *err, const lm_invoke_result *r, int expect_status,
                     load_outcome *o)
{
    o->ok = false;
    if (rc != 0) {
        classify_error(rc, err, o);
        return;
    }
    o->cold = r->init_duration_ms > 0;
    o->init_ms = r->init_duration_ms;
    if (strcmp(r->function_error, "Handled") == 0) {
        snprintf(o->err_class, sizeof(o->err_class), "function_handled");
    } else if (r->function_error[0] != '\0') {
        bool t = is_timeout_payload(r->payload, r->payload_len);
        snprintf(o->err_class, sizeof(o->err_class), "%s", t ? "timeout" : "function_unhandled");
    } else if (r->status != expect_status) {
        snprintf(o->err_class, sizeof(o->err_class), "invocation:status%d", r->status);
    } else {
        o->ok = true;
    }
}
