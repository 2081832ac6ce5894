/*
 * tools/bench/lamina.c — the Lamina target of the load generator (see
 * lamina.h).  Error classes come from classify.c.
 */
#include "lamina.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "classify.h"

/* End to end needs somewhere for the record to go. */
static int check_destination(lamina_target *lt, const char *function, char *err, size_t errlen)
{
    char *reply = NULL;
    lm_error e;
    int rc = lm_call(lt->client, "event-config-get", lt->retire_args, NULL, 0, &reply, &e);
    cJSON *j = rc == 0 ? cJSON_Parse(reply) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "DestinationConfig"),
                                         "OnSuccess"),
        "Destination");
    bool has = cJSON_IsString(d) && d->valuestring[0] != '\0';
    cJSON_Delete(j);
    free(reply);
    if (rc != 0 && rc != LM_E_NOT_FOUND) {
        snprintf(err, errlen, "event-config of %s: %s", function, e.message);
        return -1;
    }
    if (!has) {
        snprintf(err, errlen,
                 "%s has no OnSuccess destination, which --end-to-end times; set one with "
                 "'lamina event-config put %s --on-success DEST'",
                 function, function);
        return -1;
    }
    return 0;
}

int lamina_target_open(lamina_target *lt, const char *state_dir, const char *endpoint,
                       const char *function, const void *payload, size_t len, bool async, bool cold,
                       bool end_to_end, int timeout_ms, char *err, size_t errlen)
{
    lm_error e;
    memset(lt, 0, sizeof(*lt));
    if (lm_client_open(&lt->client, state_dir, endpoint, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    /* End to end, --timeout bounds the broker-side wait; the reply gets 2 s
     * more, so a wait that runs out is reported (async_pending), not lost. */
    lm_client_set_timeout(lt->client, async && end_to_end ? timeout_ms + 2000 : timeout_ms);
    lt->params.function = function;
    lt->params.type = async ? LM_INVOKE_EVENT : LM_INVOKE_REQUEST_RESPONSE;
    lt->params.payload = payload;
    lt->params.payload_len = len;
    lt->expect_status = async ? 202 : 200;
    lt->cold = cold;
    lt->end_to_end = async && end_to_end;
    lt->timeout_ms = timeout_ms;
    snprintf(lt->retire_args, sizeof(lt->retire_args), "{\"FunctionName\":\"%s\"}", function);
    if (lt->end_to_end && check_destination(lt, function, err, errlen) != 0) {
        lamina_target_close(lt);
        return -1;
    }
    return 0;
}

void lamina_target_close(lamina_target *lt)
{
    lm_client_destroy(lt->client);
    lt->client = NULL;
}

static void invoke_once(lamina_target *lt, load_outcome *o)
{
    lm_invoke_result r;
    lm_error e;
    memset(&r, 0, sizeof(r));
    memset(&e, 0, sizeof(e));
    int rc = lm_invoke(lt->client, &lt->params, &r, &e);
    classify_invoke(rc, &e, &r, lt->expect_status, o);
    lm_invoke_result_finish(&r);
}

/* Event invoke, then wait for it and its destination (both timed). */
static void invoke_end_to_end(lamina_target *lt, load_outcome *o)
{
    lm_invoke_result r;
    lm_error e;
    char args[128];
    char *reply = NULL;
    memset(&r, 0, sizeof(r));
    memset(&e, 0, sizeof(e));
    uint64_t t0 = load_now_ns();
    int rc = lm_invoke(lt->client, &lt->params, &r, &e);
    classify_invoke(rc, &e, &r, lt->expect_status, o);
    if (o->ok) {
        o->accept_ns = load_now_ns() - t0;
        o->accept_ns += o->accept_ns == 0;
        snprintf(args, sizeof(args), "{\"RequestId\":\"%s\",\"TimeoutMs\":%d}", r.request_id,
                 lt->timeout_ms);
        rc = lm_call(lt->client, "event-wait", args, NULL, 0, &reply, &e);
        classify_event_wait(rc, &e, reply, o);
        free(reply);
    }
    lm_invoke_result_finish(&r);
}

static void lamina_send(void *arg, load_outcome *o)
{
    lamina_target *lt = arg;
    if (lt->end_to_end) {
        invoke_end_to_end(lt, o);
    } else {
        invoke_once(lt, o);
    }
}

/* Cold mode: end the warm environments (not timed), then time the invoke. */
static void lamina_send_cold(void *arg, load_outcome *o)
{
    lamina_target *lt = arg;
    lm_error e;
    memset(&e, 0, sizeof(e));
    if (lm_call(lt->client, "retire-workers", lt->retire_args, NULL, 0, NULL, &e) != 0) {
        snprintf(o->err_class, sizeof(o->err_class), "retire:%s",
                 e.type[0] != '\0' ? e.type : "error");
        return;
    }
    uint64_t t0 = load_now_ns();
    invoke_once(lt, o);
    o->latency_ns = load_now_ns() - t0;
    if (o->latency_ns == 0) {
        o->latency_ns = 1;
    }
}

load_target lamina_target_view(lamina_target *lt)
{
    load_target t = {.label = "lamina", .arg = lt};
    t.send_one = lt->cold ? lamina_send_cold : lamina_send;
    return t;
}

int lamina_ensure_function(lm_client *c, const char *name, const char *so_path,
                           const char *extra_json, char *err, size_t errlen)
{
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    char args[512];
    int rc = -1;
    if (lm_read_file(so_path, &code, &len, &e) != 0) {
        snprintf(err, errlen, "%s: %s", so_path, e.message);
        return -1;
    }
    snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\"%s%s}", name,
             extra_json != NULL ? "," : "", extra_json != NULL ? extra_json : "");
    int cr = lm_call(c, "create", args, code, len, NULL, &e);
    if (cr != 0 && cr != LM_E_CONFLICT) {
        snprintf(err, errlen, "create %s: %s", name, e.message);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(code);
    return rc;
}
