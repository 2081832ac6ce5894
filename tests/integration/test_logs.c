/*
 * Integration: function logs are as durable as the outcomes they belong to.
 *
 * An async event's outcome is committed only once its log record is in
 * <state>/logs/<function>.log (broker/core/fnlog.c, fnlog_flush(); asyncq.c calls
 * it before every outcome commit).  The test proves it the way it broke:
 * run an event, wait until event-wait says it is done (answered right after
 * the commit that finished it), kill -9 the broker at once, and look for the
 * record.  Before the rule, records waited up to 50 ms in memory and most
 * of them were lost this way.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define KILL_RUNS 20

static lt_broker b;

TestSuite(logs, .timeout = 240);

/* Submit an Event invoke; returns its request id in rid. */
static void submit(const char *fn, const char *payload, char rid[40])
{
    lm_invoke_params p = {.function = fn,
                          .type = LM_INVOKE_EVENT,
                          .payload = payload,
                          .payload_len = strlen(payload)};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s: %s", e.type, e.message);
    cr_assert_eq(r.status, 202);
    snprintf(rid, 40, "%s", r.request_id);
    lm_invoke_result_finish(&r);
}

/* Block until event-wait reports the event done (its outcome committed). */
static void await_done(const char *rid)
{
    char args[128], *reply = NULL;
    lm_error e;
    snprintf(args, sizeof(args), "{\"RequestId\":\"%s\",\"TimeoutMs\":30000}", rid);
    cr_assert_eq(lm_call(b.client, "event-wait", args, NULL, 0, &reply, &e), LM_OK,
                 "event-wait %s: %s: %s", rid, e.type, e.message);
    cr_assert_not_null(strstr(reply, "\"Status\":\"Done\""), "event %s not done: %s", rid, reply);
    cr_assert_not_null(strstr(reply, "\"Condition\":\"Success\""), "%s", reply);
    free(reply);
}

Test(logs, a_finished_events_log_record_survives_kill_9_right_after_its_outcome)
{
    lt_broker_start(&b, NULL);
    lt_create(&b, "rec", "record", NULL);
    int missing = 0;
    char first_missing[64] = "";
    for (int i = 0; i < KILL_RUNS; i++) {
        char token[48], payload[96], rid[40];
        snprintf(token, sizeof(token), "\"run\":%d,\"t\":\"kill9-%d-%d\"", i, (int)getpid(), i);
        snprintf(payload, sizeof(payload), "{%s}", token);
        submit("rec", payload, rid);
        await_done(rid);
        lt_broker_kill(&b); /* no grace: whatever is only in memory is gone */
        /* Read while no broker runs: the event is done, so nothing may write
         * its record later (a run again would hide the loss). */
        char *log = lt_function_log(&b, "rec");
        char report[80];
        snprintf(report, sizeof(report), "REPORT RequestId: %s", rid);
        if (lt_count(log, token) != 1 || lt_count(log, report) != 1) {
            missing++;
            if (first_missing[0] == '\0') {
                snprintf(first_missing, sizeof(first_missing), "run %d (%s)", i, rid);
            }
        }
        free(log);
        lt_broker_start_in(&b, b.state, NULL);
    }
    cr_expect_eq(missing, 0, "log records missing after kill -9: %d of %d runs, first %s", missing,
                 KILL_RUNS, first_missing);
    lt_broker_stop(&b, false);
}
