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

void classify_call_error(int rc, const lm_error *err, const char *prefix, load_outcome *o)
{
    const char *cls = NULL;
    o->ok = false;
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
        snprintf(o->err_class, sizeof(o->err_class), "%s:%s", prefix, err->type);
    } else {
        snprintf(o->err_class, sizeof(o->err_class), "%s:code%d", prefix, rc);
    }
}

void classify_invoke(int rc, const lm_error *err, const lm_invoke_result *r, int expect_status,
                     load_outcome *o)
{
    o->ok = false;
    if (rc != 0) {
        classify_call_error(rc, err, "invocation", o);
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

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

void classify_event_wait(int rc, const lm_error *err, const char *reply, load_outcome *o)
{
    o->ok = false;
    if (rc != 0) {
        classify_call_error(rc, err, "invocation", o);
        return;
    }
    cJSON *j = reply != NULL ? cJSON_Parse(reply) : NULL;
    const char *cond = jstr(j, "Condition");
    const char *ferr = jstr(j, "FunctionError");
    const char *etype = jstr(j, "ErrorType");
    const cJSON *dest = cJSON_GetObjectItemCaseSensitive(j, "Destination");
    const char *cls = NULL;
    if (j == NULL) {
        cls = "invocation:bad-reply";
    } else if (cond[0] != '\0' && strcmp(cond, "Success") != 0) {
        if (strcmp(ferr, "Handled") == 0) {
            cls = "function_handled";
        } else if (ferr[0] != '\0') {
            cls = strcmp(etype, "Sandbox.Timedout") == 0 ? "timeout" : "function_unhandled";
        } else if (etype[0] != '\0') {
            snprintf(o->err_class, sizeof(o->err_class), "invocation:%s", etype);
        } else {
            snprintf(o->err_class, sizeof(o->err_class), "async:%s", cond);
        }
    } else if (strcmp(jstr(j, "Status"), "Done") != 0) {
        cls = "async_pending";
    } else if (!cJSON_IsObject(dest)) {
        cls = "async:no-destination";
    } else if (strcmp(jstr(dest, "Condition"), "Success") != 0) {
        snprintf(o->err_class, sizeof(o->err_class), "destination:%s", jstr(dest, "Condition"));
    } else {
        o->ok = true;
    }
    if (cls != NULL) {
        snprintf(o->err_class, sizeof(o->err_class), "%s", cls);
    }
    cJSON_Delete(j);
}
