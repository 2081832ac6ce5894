/*
 * tests/bench/bench_bus.c — the event-bus engine (broker/messaging/bus.c)
 * on a file database opened as the broker opens its store (WAL,
 * synchronous=FULL): PutEvents of one event that matches one rule (one
 * queue delivery) on a bus with 1, 100 and 10,000 rules, one event per
 * commit and 64 per commit (the messaging thread's group commit).  Prints
 * events/s and the ratio to the 1-rule bus; figures go to
 * broker/messaging/README.md.  The database lives in the build dir's
 * working directory and is removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mq_internal.h"

static mq_target_fail tf[MQ_TARGETS_MAX]; /* PutTargets' failed entries */
static size_t ntf;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const lm_error *e)
{
    fprintf(stderr, "bench_bus: %s: %s\n", what, e != NULL ? e->message : "");
    exit(1);
}

static void make_bus(mq *m, const char *bus, int rules)
{
    lm_error e;
    if (mq_bus_create(m, bus, 0, NULL, &e) != LM_OK || mq_begin(m, &e) != LM_OK) {
        die("bus", &e);
    }
    cJSON *t = cJSON_Parse("[{\"Id\":\"t\",\"Arn\":\"arn:aws:sqs:x:1:sink\"}]");
    for (int i = 0; i < rules; i++) {
        char name[32], pat[64];
        snprintf(name, sizeof(name), "r%d", i);
        snprintf(pat, sizeof(pat), "{\"detail\":{\"id\":[\"%d\"]}}", i);
        if (mq_rule_put(m, bus, name, pat, true, 0, NULL, &e) != LM_OK ||
            mq_targets_put(m, bus, name, t, tf, &ntf, &e) != LM_OK) {
            die("rule", &e);
        }
    }
    cJSON_Delete(t);
    if (mq_commit(m, &e) != LM_OK) {
        die("commit", &e);
    }
}

/* events/s of n PutEvents on bus, `group` per commit */
static double run(mq *m, const char *bus, int n, int group)
{
    char text[256];
    snprintf(text, sizeof(text),
             "[{\"Source\":\"s\",\"DetailType\":\"d\",\"EventBusName\":\"%s\","
             "\"Detail\":\"{\\\"id\\\":\\\"0\\\"}\"}]",
             bus);
    cJSON *j = cJSON_Parse(text);
    mq_event_out out[MQ_PUT_EVENTS_MAX];
    size_t k, failed;
    lm_error e;
    double t0 = now_s();
    for (int i = 0; i < n; i += group) {
        if (group > 1 && mq_begin(m, &e) != LM_OK) {
            die("begin", &e);
        }
        for (int g = 0; g < group; g++) {
            if (mq_put_events(m, j, 0, out, &k, &failed, &e) != LM_OK || out[0].delivered != 1) {
                die("put", &e);
            }
        }
        if (group > 1 && mq_commit(m, &e) != LM_OK) {
            die("commit", &e);
        }
    }
    double t = now_s() - t0;
    cJSON_Delete(j);
    return n / t;
}

int main(void)
{
    const char *path = "bench_bus.db";
    unlink(path);
    sqlite3 *db;
    lm_error e;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL) !=
            SQLITE_OK ||
        mq_schema_apply(db, &e) != LM_OK) {
        die("open", NULL);
    }
    mq *m = mq_create(db, &e);
    if (m == NULL || mq_queue_create(m, "sink", NULL, 0, NULL, &e) != LM_OK) {
        die("create", &e);
    }
    const int sizes[] = {1, 100, 10000};
    const char *names[] = {"b1", "b100", "b10000"};
    double base1 = 0, base64 = 0;
    printf("%-8s %14s %8s %14s %8s\n", "rules", "1/commit ev/s", "ratio", "64/commit ev/s",
           "ratio");
    for (int i = 0; i < 3; i++) {
        make_bus(m, names[i], sizes[i]);
        run(m, names[i], 64, 64); /* builds the bus's cache */
        double one = run(m, names[i], 2000, 1), grouped = run(m, names[i], 64 * 200, 64);
        base1 = i == 0 ? one : base1;
        base64 = i == 0 ? grouped : base64;
        printf("%-8d %14.0f %8.2f %14.0f %8.2f\n", sizes[i], one, base1 / one, grouped,
               base64 / grouped);
    }
    mq_destroy(m);
    sqlite3_close(db);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    return 0;
}
