/*
 * tests/fuzz/fuzz_bus.c — libFuzzer target for the event-bus engine's
 * decoders of untrusted input (broker/messaging/bus.c).
 *
 * The first byte picks the decoder, the rest is its input (JSON text):
 *   0  PutEvents Entries, through mq_put_events on a bus whose rule
 *      matches source "s" and delivers to a queue;
 *   1  PutTargets Targets, through mq_targets_put on that rule;
 *   2  an EventPattern, through mq_rule_put on a scratch rule.
 * Aborts on a broken invariant: per-entry results that do not add up (an
 * entry with neither an EventId nor an error, deliveries beyond matches),
 * a rule with more than MQ_TARGETS_MAX targets, a pattern accepted by
 * PutRule that the filter engine refuses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "mq_internal.h"

static mq_target_fail tf[MQ_TARGETS_MAX]; /* PutTargets' failed entries */
static size_t ntf;

static sqlite3 *db;
static mq *m;

static void init_once(void)
{
    if (m != NULL) {
        return;
    }
    lm_error e;
    cJSON *t = cJSON_Parse("[{\"Id\":\"q\",\"Arn\":\"arn:aws:sqs:x:1:fz\"}]");
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || mq_schema_apply(db, &e) != LM_OK ||
        (m = mq_create(db, &e)) == NULL || mq_queue_create(m, "fz", NULL, 0, NULL, &e) != LM_OK ||
        mq_rule_put(m, NULL, "r", "{\"source\":[\"s\"]}", true, 0, NULL, &e) != LM_OK ||
        mq_targets_put(m, NULL, "r", t, tf, &ntf, &e) != LM_OK) {
        abort();
    }
    cJSON_Delete(t);
}

static void put_events(const cJSON *j)
{
    mq_event_out out[MQ_PUT_EVENTS_MAX];
    size_t n = 0, failed = 0, bad = 0;
    lm_error e;
    if (mq_put_events(m, j, 0, out, &n, &failed, &e) != LM_OK) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok = out[i].err.code == LM_OK;
        if (ok != (strlen(out[i].id) == 36) || out[i].delivered + out[i].failed != out[i].matched) {
            abort();
        }
        bad += ok ? 0 : 1;
    }
    if (bad != failed || n != (size_t)cJSON_GetArraySize(j)) {
        abort();
    }
}

static void put_targets(const cJSON *j)
{
    lm_error e;
    (void)mq_targets_put(m, NULL, "r", j, tf, &ntf, &e);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM mq_targets", -1, &st, NULL);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) > MQ_TARGETS_MAX) {
        abort();
    }
    sqlite3_finalize(st);
}

static void put_rule(const char *s, size_t n)
{
    lm_error e;
    if (mq_rule_put(m, NULL, "scratch", s, true, 0, NULL, &e) == LM_OK) {
        filter_error fe;
        filter *f = filter_compile(s, n, &fe);
        if (f == NULL) {
            abort();
        }
        filter_destroy(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 1) {
        return 0;
    }
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    size_t n = strlen(s);
    if (data[0] % 3 == 2) {
        put_rule(s, n);
    } else {
        cJSON *j = cJSON_ParseWithLength(s, n);
        if (j != NULL) {
            if (data[0] % 3 == 0) {
                put_events(j);
            } else {
                put_targets(j);
            }
        }
        cJSON_Delete(j);
    }
    free(s);
    return 0;
}
