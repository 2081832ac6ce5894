/*
 * tests/unit/test_bus.c — the event-bus engine (broker/messaging/bus.c)
 * on an in-memory SQLite database: routing cost independent of the number
 * of rules (one cached filter_set per bus), and the cache following rule
 * changes.  Meson test name: bus_engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mq_internal.h"

static mq_target_fail tf[MQ_TARGETS_MAX]; /* PutTargets' failed entries */
static size_t ntf;

#define T0 1700000000000LL

static sqlite3 *db;
static mq *m;

static void setup(void)
{
    lm_error e = {0};
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    cr_assert_eq(mq_schema_apply(db, &e), LM_OK, "%s", e.message);
    m = mq_create(db, &e);
    cr_assert_not_null(m);
}

static void teardown(void)
{
    mq_destroy(m);
    sqlite3_close(db);
}

TestSuite(bus, .init = setup, .fini = teardown);

static int64_t steps(void)
{
    int64_t vm = 0, scan = 0;
    mq_debug_steps(m, &vm, &scan);
    return vm;
}

static void rule(const char *bus, const char *name, const char *pattern, const char *queue)
{
    lm_error e = {0};
    cr_assert_eq(mq_rule_put(m, bus, name, pattern, true, T0, NULL, &e), LM_OK, "%s", e.message);
    char t[256];
    snprintf(t, sizeof(t), "[{\"Id\":\"t\",\"Arn\":\"arn:aws:sqs:x:1:%s\"}]", queue);
    cJSON *j = cJSON_Parse(t);
    cr_assert_eq(mq_targets_put(m, bus, name, j, tf, &ntf, &e), LM_OK, "%s", e.message);
    cr_assert_eq(ntf, 0, "%s", tf[0].err.message);
    cJSON_Delete(j);
}

/* PutEvents of one event {detail:{id:ID}} on bus; the deliveries made. */
static size_t put(const char *bus, const char *id)
{
    char t[512];
    snprintf(t, sizeof(t),
             "[{\"Source\":\"s\",\"DetailType\":\"d\",\"EventBusName\":\"%s\","
             "\"Detail\":\"{\\\"id\\\":\\\"%s\\\"}\"}]",
             bus, id);
    cJSON *j = cJSON_Parse(t);
    mq_event_out out[MQ_PUT_EVENTS_MAX];
    size_t n = 0, failed = 0;
    lm_error e = {0};
    cr_assert_eq(mq_put_events(m, j, T0, out, &n, &failed, &e), LM_OK, "%s", e.message);
    cJSON_Delete(j);
    cr_assert_eq(failed, 0, "%s", out[0].err.message);
    return out[0].delivered;
}

static int64_t depth(const char *q)
{
    mq_counts c;
    lm_error e = {0};
    cr_assert_eq(mq_queue_counts(m, q, T0, &c, &e), LM_OK);
    return c.visible;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(bus, route_cost_does_not_grow_with_ten_thousand_rules, .timeout = 300)
{
    lm_error e = {0};
    cr_assert_eq(mq_queue_create(m, "sink", NULL, T0, NULL, &e), LM_OK);
    cr_assert_eq(mq_bus_create(m, "wide", T0, NULL, &e), LM_OK);
    cr_assert_eq(mq_bus_create(m, "narrow", T0, NULL, &e), LM_OK);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    for (int i = 0; i < MQ_RULES_MAX; i++) {
        char name[32], pat[64];
        snprintf(name, sizeof(name), "r%d", i);
        snprintf(pat, sizeof(pat), "{\"detail\":{\"id\":[\"%d\"]}}", i);
        rule("wide", name, pat, "sink");
        if (i == 7) {
            rule("narrow", name, pat, "sink");
        }
    }
    cr_assert_eq(mq_commit(m, &e), LM_OK, "%s", e.message);
    cr_assert_eq(mq_rule_put(m, "wide", "r10000", "{}", true, T0, NULL, &e), LM_E_LIMIT_EXCEEDED,
                 "the 10,001st rule");
    put("wide", "7"); /* compiles the caches */
    put("narrow", "7");
    int64_t b = steps();
    size_t dw = put("wide", "7");
    int64_t cw = steps() - b;
    b = steps();
    size_t dn = put("narrow", "7");
    int64_t cn = steps() - b;
    cr_expect_eq(dw, 1);
    cr_expect_eq(dn, 1);
    cr_expect_lt(cw, cn * 2 + 50, "route with 10,000 rules: %lld VM steps, with 1: %lld",
                 (long long)cw, (long long)cn);
    /* wall time too, grouped in one transaction (the bench's figure) */
    const int N = 2000;
    double tw = 0, tn = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *bus = pass == 0 ? "wide" : "narrow";
        cr_assert_eq(mq_begin(m, &e), LM_OK);
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
            put(bus, "7");
        }
        double t = now_s() - t0;
        cr_assert_eq(mq_commit(m, &e), LM_OK);
        *(pass == 0 ? &tw : &tn) = t;
    }
    cr_log_info("route: 10,000 rules %.1f us/event, 1 rule %.1f us/event (%.2fx); steps %lld vs "
                "%lld",
                tw / N * 1e6, tn / N * 1e6, tw / tn, (long long)cw, (long long)cn);
    fprintf(stderr, "bus route: 10,000 rules %.1f us/event, 1 rule %.1f us/event (%.2fx)\n",
            tw / N * 1e6, tn / N * 1e6, tw / tn);
    cr_expect_lt(tw, tn * 3, "10,000 rules cost %.2fx one rule", tw / tn);
    cr_expect_eq(depth("sink"), 4 + 2 * N);
}

Test(bus, the_cache_follows_rule_and_target_changes)
{
    lm_error e = {0};
    cr_assert_eq(mq_queue_create(m, "a", NULL, T0, NULL, &e), LM_OK);
    cr_assert_eq(mq_queue_create(m, "b", NULL, T0, NULL, &e), LM_OK);
    rule(NULL, "r", "{\"detail\":{\"id\":[\"1\"]}}", "a");
    cr_expect_eq(put("default", "1"), 1);
    cr_expect_eq(put("default", "2"), 0);
    /* replacing the pattern keeps the target and takes effect at once */
    cr_assert_eq(mq_rule_put(m, NULL, "r", "{\"detail\":{\"id\":[\"2\"]}}", true, T0, NULL, &e),
                 LM_OK);
    cr_expect_eq(put("default", "1"), 0);
    cr_expect_eq(put("default", "2"), 1);
    /* replacing the target by Id moves deliveries */
    cJSON *j = cJSON_Parse("[{\"Id\":\"t\",\"Arn\":\"arn:aws:sqs:x:1:b\"}]");
    cr_assert_eq(mq_targets_put(m, NULL, "r", j, tf, &ntf, &e), LM_OK);
    cJSON_Delete(j);
    cr_expect_eq(put("default", "2"), 1);
    cr_expect_eq(depth("a"), 2);
    cr_expect_eq(depth("b"), 1);
    /* a rolled-back change leaves no trace in the cache */
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    cr_assert_eq(mq_rule_delete(m, NULL, "r", true, &e), LM_OK);
    cr_expect_eq(put("default", "2"), 0);
    mq_rollback(m);
    cr_expect_eq(put("default", "2"), 1);
    /* a target whose queue is gone fails alone and is counted */
    cr_assert_eq(mq_queue_delete(m, "b", T0, &e), LM_OK);
    cr_expect_eq(put("default", "2"), 0);
}

static const char *schema_version(void)
{
    static char v[16];
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='messaging_schema'", -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(v, sizeof(v), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* A store that a version-2 broker left (no archive tables, no group
 * columns) is upgraded in place: its rules and targets stay and work, and
 * the new parts are there. */
Test(bus, a_version_2_store_is_upgraded_to_3_keeping_rules_and_targets)
{
    lm_error e = {0};
    cr_assert_str_eq(schema_version(), "3");
    cr_assert_eq(mq_queue_create(m, "q", NULL, T0, NULL, &e), LM_OK);
    rule(NULL, "r", "{\"source\":[\"s\"]}", "q");
    mq_destroy(m);
    cr_assert_eq(sqlite3_exec(db,
                              "DROP TABLE mq_archives; DROP TABLE mq_archive_events;"
                              "DROP TABLE mq_archive_detached; DROP TABLE mq_replays;"
                              "ALTER TABLE mq_targets DROP COLUMN group_id;"
                              "ALTER TABLE mq_bus_retries DROP COLUMN group_id;"
                              "UPDATE meta SET value='2' WHERE key='messaging_schema'",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(mq_schema_apply(db, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(schema_version(), "3");
    cr_assert_eq(mq_schema_apply(db, &e), LM_OK, "applying it again changes nothing");
    m = mq_create(db, &e);
    cr_assert_eq(put("default", "1"), 1, "the old target still delivers");
    mq_archive_in a = {.name = "all", .bus = "default"};
    cr_assert_eq(mq_archive_create(m, &a, T0, NULL, &e), LM_OK, "%s", e.message);
    cr_assert_eq(put("default", "2"), 1);
    cJSON *g = mq_archive_get(m, "all", &e);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g, "EventCount")->valueint, 1);
    cJSON_Delete(g);
    cJSON *fifo = cJSON_Parse("{\"FifoQueue\":\"true\"}");
    cr_assert_eq(mq_queue_create(m, "f.fifo", fifo, T0, NULL, &e), LM_OK, "%s", e.message);
    cJSON_Delete(fifo);
    cJSON *t = cJSON_Parse("[{\"Id\":\"f\",\"Arn\":\"arn:aws:sqs:x:1:f.fifo\",\"SqsParameters\":"
                           "{\"MessageGroupId\":\"g\"}}]");
    cr_assert_eq(mq_targets_put(m, NULL, "r", t, tf, &ntf, &e), LM_OK);
    cr_assert_eq(ntf, 0, "%s", tf[0].err.message);
    cJSON_Delete(t);
    cr_assert_eq(put("default", "3"), 2);
    cr_assert_eq(depth("f.fifo"), 1);
}

static int tail_woken;

static void on_tail(void *arg, const char *bus)
{
    (void)arg;
    (void)bus;
    tail_woken++;
}

/* The tail and the counters see only committed work: a rolled-back
 * transaction's events are neither tailed nor counted. */
Test(bus, tail_and_counters_follow_commits_not_rollbacks)
{
    lm_error e = {0};
    cr_assert_eq(mq_set_tail_hook(m, on_tail, NULL, &e), LM_OK);
    cr_assert_eq(mq_queue_create(m, "q", NULL, T0, NULL, &e), LM_OK);
    rule(NULL, "r", "{\"source\":[\"s\"]}", "q");
    mq_tail_out t;
    cr_assert_eq(mq_bus_tail(m, NULL, NULL, 10, &t, &e), LM_OK);
    char cur[MQ_TAIL_CURSOR_MAX];
    snprintf(cur, sizeof(cur), "%s", t.cursor);
    cJSON_Delete(t.events);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    put("default", "lost");
    mq_rollback(m);
    mq_bus_stats s;
    mq_bus_stats_get(m, &s);
    cr_assert_eq(s.events_put, 0);
    cr_assert_eq(s.deliveries, 0);
    cr_assert_eq(tail_woken, 0);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    put("default", "kept");
    cr_assert_eq(mq_commit(m, &e), LM_OK);
    cr_assert_eq(tail_woken, 1);
    mq_bus_stats_get(m, &s);
    cr_assert_eq(s.events_put, 1);
    cr_assert_eq(s.deliveries, 1);
    cr_assert_eq(mq_bus_tail(m, NULL, cur, 10, &t, &e), LM_OK);
    cr_assert_eq(t.n, 1);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(t.events, 0), "detail");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(d, "id")->valuestring, "kept");
    cJSON_Delete(t.events);
    /* a cursor of another run reads from the oldest kept, flagged */
    cr_assert_eq(mq_bus_tail(m, NULL, "0000000000000000-0", 10, &t, &e), LM_OK);
    cr_assert(t.reset || strncmp(cur, "0000000000000000", 16) == 0);
    cJSON_Delete(t.events);
    cr_assert_eq(mq_bus_tail(m, NULL, "nope", 10, &t, &e), LM_E_EV_VALIDATION);
}

/* One event of about 250 KB on bus. */
static void put_big(const char *bus)
{
    static char *detail;
    if (detail == NULL) {
        detail = malloc(250000);
        memset(detail, 'x', 249990);
        memcpy(detail, "{\"b\":\"", 6);
        strcpy(detail + 249990 - 2, "\"}");
    }
    cJSON *j = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Source", "s");
    cJSON_AddStringToObject(o, "DetailType", "d");
    cJSON_AddStringToObject(o, "Detail", detail);
    cJSON_AddStringToObject(o, "EventBusName", bus);
    cJSON_AddItemToArray(j, o);
    mq_event_out out[MQ_PUT_EVENTS_MAX];
    size_t n = 0, failed = 0;
    lm_error e = {0};
    cr_assert_eq(mq_put_events(m, j, T0, out, &n, &failed, &e), LM_OK, "%s", e.message);
    cr_assert_eq(failed, 0, "%s", out[0].err.message);
    cJSON_Delete(j);
}

static char *cursor_now(const char *bus)
{
    mq_tail_out t;
    lm_error e = {0};
    cr_assert_eq(mq_bus_tail(m, bus, NULL, 1, &t, &e), LM_OK, "%s", e.message);
    cJSON_Delete(t.events);
    return strdup(t.cursor);
}

/* The rings are bounded per bus (4 MiB) and together (32 MiB): the least
 * recently written bus loses its oldest events first, and its reader is
 * told how many it missed. */
Test(bus, tail_rings_are_bounded_per_bus_and_in_total, .timeout = 120)
{
    lm_error e = {0};
    cr_assert_eq(mq_set_tail_hook(m, NULL, NULL, &e), LM_OK);
    char name[16];
    for (int i = 0; i < 11; i++) {
        snprintf(name, sizeof(name), "b%d", i);
        cr_assert_eq(mq_bus_create(m, name, T0, NULL, &e), LM_OK);
    }
    char *first = cursor_now("b0"), *last = cursor_now("b10");
    for (int i = 0; i < 4; i++) {
        put_big("b0");
    }
    /* 10 more buses of ~4 MiB each: 41 MB in all, over the total */
    for (int b = 1; b < 11; b++) {
        snprintf(name, sizeof(name), "b%d", b);
        for (int i = 0; i < 17; i++) {
            put_big(name);
        }
    }
    mq_tail_out t;
    cr_assert_eq(mq_bus_tail(m, "b0", first, 100, &t, &e), LM_OK);
    cr_assert_gt(t.missed, 0, "the least recently written bus kept everything");
    cJSON_Delete(t.events);
    /* b10, written last, lost only what its own 4 MiB bound drops */
    cr_assert_eq(mq_bus_tail(m, "b10", last, 100, &t, &e), LM_OK);
    cr_assert_eq(t.missed, 17 - (4 << 20) / 250200, "%llu", (unsigned long long)t.missed);
    cr_assert_leq(t.n, (MQ_TAIL_REPLY_BYTES / 250000) + 1, "one reply holds about 1 MiB");
    cJSON_Delete(t.events);
    free(last);
    free(first);
}

static cJSON *replay_state(const char *name)
{
    lm_error e = {0};
    cJSON *r = mq_replay_get(m, name, &e);
    cr_assert_not_null(r, "%s", e.message);
    return r;
}

/* A replay runs in batches, each committed with its position: a new
 * instance (a restart) goes on where the last batch ended, so every event
 * is sent once; a replay whose archive goes away fails with a reason. */
Test(bus, a_replay_goes_on_after_a_restart_without_loss_or_repeats)
{
    lm_error e = {0};
    cr_assert_eq(mq_queue_create(m, "q", NULL, T0, NULL, &e), LM_OK);
    rule(NULL, "r", "{\"source\":[\"s\"]}", "q");
    mq_archive_in a = {.name = "all", .bus = "default"};
    cr_assert_eq(mq_archive_create(m, &a, T0, NULL, &e), LM_OK, "%s", e.message);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    for (int i = 0; i < 300; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        put("default", id);
    }
    cr_assert_eq(mq_commit(m, &e), LM_OK);
    cr_assert_eq(depth("q"), 300);
    mq_replay_in in = {.name = "rp", .archive = "all", .from_ms = T0 - 1000, .to_ms = T0 + 1000};
    cr_assert_eq(mq_replay_start(m, &in, T0 + 5000, NULL, &e), LM_OK, "%s", e.message);
    cr_assert(mq_replay_active(m));
    size_t sent = 0;
    cr_assert_eq(mq_replay_run(m, T0 + 5000, 256, &sent, &e), LM_OK, "%s", e.message);
    cr_assert_eq(sent, 256);
    cJSON *r = replay_state("rp");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r, "State")->valuestring, "RUNNING");
    cJSON_Delete(r);
    mq_destroy(m); /* the restart */
    m = mq_create(db, &e);
    cr_assert(mq_replay_active(m));
    cr_assert_eq(mq_replay_run(m, T0 + 6000, 256, &sent, &e), LM_OK);
    cr_assert_eq(sent, 44);
    r = replay_state("rp");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r, "State")->valuestring, "COMPLETED");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "EventsReplayed")->valueint, 300);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "Deliveries")->valueint, 300);
    cJSON_Delete(r);
    cr_assert(!mq_replay_active(m));
    cr_assert_eq(depth("q"), 600, "each archived event sent once more");
    /* the archive deleted under a running replay: FAILED, with a reason */
    in.name = "gone";
    cr_assert_eq(mq_replay_start(m, &in, T0 + 7000, NULL, &e), LM_OK);
    cr_assert_eq(mq_archive_delete(m, "all", &e), LM_OK);
    cr_assert_eq(mq_replay_run(m, T0 + 7000, 256, &sent, &e), LM_OK);
    r = replay_state("gone");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r, "State")->valuestring, "FAILED");
    cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(r, "StateReason"));
    cJSON_Delete(r);
    /* the deleted archive's events go with the sweep */
    bool more = true;
    while (more) {
        cr_assert_eq(mq_archive_sweep(m, T0 + 8000, 100, &more, &e), LM_OK, "%s", e.message);
    }
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM mq_archive_events", -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
}
