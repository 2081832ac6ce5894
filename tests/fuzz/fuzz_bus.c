/*
 * tests/fuzz/fuzz_bus.c — libFuzzer target for the event-bus engine's
 * decoders of untrusted input (broker/messaging/bus.c).
 *
 * The first byte picks the decoder, the rest is its input (JSON text):
 *   0  PutEvents Entries, through mq_put_events on a bus whose rule
 *      matches source "s" and delivers to a queue;
 *   1  PutTargets Targets, through mq_targets_put on that rule;
 *   2  an EventPattern, through mq_rule_put on a scratch rule;
 *   3  a bus-tail Cursor, through mq_bus_tail (the instance keeps tails);
 *   4  a replay's {"From","To","FilterArns"} (mq_replay_start on an archive
 *      of every event) and an archive's pattern (mq_archive_create).
 * Aborts on a broken invariant: per-entry results that do not add up (an
 * entry with neither an EventId nor an error, deliveries beyond matches),
 * a rule with more than MQ_TARGETS_MAX targets or a PutTargets failure
 * without an error, a pattern accepted by PutRule that the filter engine
 * refuses, a tail that returns more than its limit or no cursor, a replay
 * accepted with its range backwards.
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
        mq_targets_put(m, NULL, "r", t, tf, &ntf, &e) != LM_OK ||
        mq_set_tail_hook(m, NULL, NULL, &e) != LM_OK) {
        abort();
    }
    mq_archive_in a = {.name = "fz", .bus = "default"};
    if (mq_archive_create(m, &a, 0, NULL, &e) != LM_OK) {
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
    if (mq_targets_put(m, NULL, "r", j, tf, &ntf, &e) == LM_OK) {
        for (size_t i = 0; i < ntf; i++) {
            if (ntf > MQ_TARGETS_MAX || tf[i].err.code == LM_OK || tf[i].err.type[0] == '\0') {
                abort();
            }
        }
    }
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

static void tail(const char *s)
{
    lm_error e;
    mq_tail_out t;
    if (mq_bus_tail(m, NULL, s, 3, &t, &e) == LM_OK) {
        if (t.n > 3 || t.cursor[0] == '\0' || cJSON_GetArraySize(t.events) != (int)t.n) {
            abort();
        }
    }
    cJSON_Delete(t.events);
}

static void replay_and_archive(const cJSON *j, const char *s)
{
    lm_error e;
    static int k;
    char name[32];
    snprintf(name, sizeof(name), "r%d", k++);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "From");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "To");
    mq_replay_in in = {.name = name,
                       .archive = "fz",
                       .from_ms = f != NULL ? mq_event_time(f, 0) : -1,
                       .to_ms = t != NULL ? mq_event_time(t, 0) : -1,
                       .rules = cJSON_GetObjectItemCaseSensitive(j, "FilterArns")};
    if (mq_replay_start(m, &in, INT64_MAX / 2, NULL, &e) == LM_OK) {
        if (in.from_ms >= in.to_ms) {
            abort();
        }
        (void)mq_replay_run(m, INT64_MAX / 2, 10, NULL, &e);
    }
    mq_archive_in a = {.name = "scratch", .bus = "default", .pattern = s};
    if (mq_archive_create(m, &a, 0, NULL, &e) == LM_OK) {
        (void)mq_archive_delete(m, "scratch", &e);
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
    int mode = data[0] % 5;
    if (mode == 2) {
        put_rule(s, n);
    } else if (mode == 3) {
        tail(s);
    } else {
        cJSON *j = cJSON_ParseWithLength(s, n);
        if (j != NULL) {
            if (mode == 0) {
                put_events(j);
            } else if (mode == 1) {
                put_targets(j);
            } else {
                replay_and_archive(j, s);
            }
        }
        cJSON_Delete(j);
    }
    free(s);
    return 0;
}
