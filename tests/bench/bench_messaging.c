/*
 * tests/bench/bench_messaging.c — throughput of the messaging engine on a
 * file database as the broker opens its store (WAL, synchronous=FULL):
 *   - sends, one per commit (one fsync each);
 *   - sends in groups of 64 per commit (mq_begin … mq_commit: group
 *     commit, one fsync per 64);
 *   - receive + delete, 10 received and their 10 deletes per commit;
 *   - publish to a topic with one queue subscription, one per commit and
 *     64 per commit;
 *   - at scale: queue get, counts, next wake and a receive+delete on a
 *     queue of 1,000,000 messages, and publish to a topic of 1,000
 *     filtered subscriptions (one matches), in microseconds per call.
 * Each figure is the rate over a fixed count of operations after a warm
 * up.  Prints one line per figure; never pass/fail on timings (meson
 * benchmark()).  The database lives in a fresh directory under TMPDIR (or
 * /tmp) and is removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const lm_error *e)
{
    fprintf(stderr, "bench_messaging: %s: %s\n", what, e != NULL ? e->message : "");
    exit(1);
}

static void send_n(mq *m, int n, int group)
{
    lm_error e;
    mq_send_entry en = {.body = "a benchmark message of sixty-four bytes, more or less, in total.",
                        .delay_s = -1};
    en.body_len = strlen(en.body);
    for (int i = 0; i < n; i += group) {
        if (group > 1 && mq_begin(m, &e) != LM_OK) {
            die("begin", &e);
        }
        for (int k = 0; k < group && i + k < n; k++) {
            mq_sent s;
            if (mq_send(m, "bench", &en, clock_ms(), &s, &e) != LM_OK) {
                die("send", &e);
            }
        }
        if (group > 1 && mq_commit(m, &e) != LM_OK) {
            die("commit", &e);
        }
    }
}

static int recv_delete_all(mq *m)
{
    lm_error e;
    int total = 0;
    for (;;) {
        mq_receive_opts o = {.max = 10, .visibility_s = 30};
        mq_msg *v = NULL;
        size_t n = 0;
        int64_t t = clock_ms();
        if (mq_begin(m, &e) != LM_OK || mq_receive(m, "bench", &o, t, &v, &n, &e) != LM_OK) {
            die("receive", &e);
        }
        for (size_t i = 0; i < n; i++) {
            if (mq_delete_message(m, "bench", v[i].receipt, t, NULL, &e) != LM_OK) {
                die("delete", &e);
            }
        }
        if (mq_commit(m, &e) != LM_OK) {
            die("commit", &e);
        }
        mq_msgs_free(v, n);
        total += (int)n;
        if (n == 0) {
            return total;
        }
    }
}

static void publish_n(mq *m, int n, int group)
{
    lm_error e;
    mq_publish_in in = {.message = "{\"event\":\"benchmark\",\"n\":1}"};
    in.len = strlen(in.message);
    for (int i = 0; i < n; i += group) {
        if (group > 1 && mq_begin(m, &e) != LM_OK) {
            die("begin", &e);
        }
        for (int k = 0; k < group && i + k < n; k++) {
            mq_published p;
            if (mq_publish(m, "bench-topic", &in, clock_ms(), &p, &e) != LM_OK ||
                p.delivered != 1) {
                die("publish", &e);
            }
        }
        if (group > 1 && mq_commit(m, &e) != LM_OK) {
            die("commit", &e);
        }
    }
}

static double per_call_us(double t0, int n)
{
    return (now_s() - t0) * 1e6 / n;
}

/* Operations on a queue of 1,000,000 messages and a topic of 1,000
 * subscriptions: the cost must not be that of a scan. */
static void at_scale(mq *m)
{
    lm_error e;
    const int big = 1000000, calls = 200;
    if (mq_queue_create(m, "million", NULL, clock_ms(), NULL, &e) != LM_OK) {
        die("create", &e);
    }
    mq_send_entry en = {.body = "m", .body_len = 1, .delay_s = -1};
    double t = now_s();
    for (int i = 0; i < big; i += 1000) {
        if (mq_begin(m, &e) != LM_OK) {
            die("begin", &e);
        }
        for (int k = 0; k < 1000; k++) {
            mq_sent s;
            if (mq_send(m, "million", &en, clock_ms(), &s, &e) != LM_OK) {
                die("send", &e);
            }
        }
        if (mq_commit(m, &e) != LM_OK) {
            die("commit", &e);
        }
    }
    double fill = now_s() - t;
    t = now_s();
    for (int i = 0; i < calls; i++) {
        cJSON *g = mq_queue_get(m, "million", NULL, clock_ms(), &e);
        if (g == NULL) {
            die("get", &e);
        }
        cJSON_Delete(g);
    }
    double get_us = per_call_us(t, calls);
    t = now_s();
    for (int i = 0; i < calls; i++) {
        int64_t at;
        if (mq_next_wake_ms(m, "million", clock_ms(), &at, &e) != LM_OK) {
            die("next wake", &e);
        }
    }
    double wake_us = per_call_us(t, calls);
    t = now_s();
    for (int i = 0; i < calls; i++) {
        mq_receive_opts o = {.max = 10, .visibility_s = 30};
        mq_msg *v = NULL;
        size_t n = 0;
        int64_t now = clock_ms();
        if (mq_begin(m, &e) != LM_OK || mq_receive(m, "million", &o, now, &v, &n, &e) != LM_OK) {
            die("receive", &e);
        }
        for (size_t k = 0; k < n; k++) {
            mq_delete_message(m, "million", v[k].receipt, now, NULL, &e);
        }
        if (mq_commit(m, &e) != LM_OK) {
            die("commit", &e);
        }
        mq_msgs_free(v, n);
    }
    double rd_us = per_call_us(t, calls);
    if (mq_topic_create(m, "wide", clock_ms(), NULL, &e) != LM_OK || mq_begin(m, &e) != LM_OK) {
        die("topic", &e);
    }
    for (int i = 0; i < 1000; i++) {
        char q[32], pol[64];
        snprintf(q, sizeof(q), "sub%d", i);
        snprintf(pol, sizeof(pol), "{\"id\":[\"%d\"]}", i);
        mq_sub_spec s = {.protocol = "sqs", .endpoint = q, .filter_policy = pol};
        if (mq_queue_create(m, q, NULL, clock_ms(), NULL, &e) != LM_OK ||
            mq_subscribe(m, "wide", &s, clock_ms(), NULL, &e) != LM_OK) {
            die("subscribe", &e);
        }
    }
    if (mq_commit(m, &e) != LM_OK) {
        die("commit", &e);
    }
    cJSON *attrs = cJSON_Parse("{\"id\":{\"DataType\":\"String\",\"StringValue\":\"7\"}}");
    mq_publish_in in = {.message = "x", .len = 1, .attributes = attrs};
    mq_published p;
    mq_publish(m, "wide", &in, clock_ms(), &p, &e); /* compiles the cache */
    t = now_s();
    if (mq_begin(m, &e) != LM_OK) {
        die("begin", &e);
    }
    for (int i = 0; i < calls; i++) {
        if (mq_publish(m, "wide", &in, clock_ms(), &p, &e) != LM_OK || p.delivered != 1) {
            die("publish", &e);
        }
    }
    if (mq_commit(m, &e) != LM_OK) {
        die("commit", &e);
    }
    double pub_us = per_call_us(t, calls);
    cJSON_Delete(attrs);
    printf("  at scale: filled 1,000,000 messages in %.1f s (1000 per commit)\n", fill);
    printf("  queue get on 1,000,000 messages     %8.1f us/call\n", get_us);
    printf("  next wake on 1,000,000 messages     %8.1f us/call\n", wake_us);
    printf("  receive 10 + delete 10 on 1,000,000 %8.1f us/commit\n", rd_us);
    printf("  publish to 1,000 filtered subscriptions (1 match) %8.1f us/call\n", pub_us);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    char dir[512], path[600], wal[620], shm[620];
    snprintf(dir, sizeof(dir), "%s/bench-messaging-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        die("mkdtemp", NULL);
    }
    snprintf(path, sizeof(path), "%s/state.db", dir);
    sqlite3 *db = NULL;
    lm_error e;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
            SQLITE_OK ||
        mq_schema_apply(db, &e) != LM_OK) {
        die("open", &e);
    }
    mq *m = mq_create(db, &e);
    char arn[MQ_ARN_MAX];
    if (m == NULL || mq_queue_create(m, "bench", NULL, clock_ms(), arn, &e) != LM_OK ||
        mq_queue_create(m, "bench-sub", NULL, clock_ms(), NULL, &e) != LM_OK ||
        mq_topic_create(m, "bench-topic", clock_ms(), NULL, &e) != LM_OK) {
        die("setup", &e);
    }
    mq_sub_spec s = {.protocol = "sqs", .endpoint = "bench-sub"};
    if (mq_subscribe(m, "bench-topic", &s, clock_ms(), NULL, &e) != LM_OK) {
        die("subscribe", &e);
    }
    send_n(m, 64, 1); /* warm up */
    recv_delete_all(m);

    const int n1 = 500, n64 = 64 * 100;
    double t = now_s();
    send_n(m, n1, 1);
    double r1 = n1 / (now_s() - t);
    t = now_s();
    send_n(m, n64, 64);
    double r64 = n64 / (now_s() - t);
    t = now_s();
    int got = recv_delete_all(m);
    double rd = got / (now_s() - t);
    t = now_s();
    publish_n(m, n1, 1);
    double p1 = n1 / (now_s() - t);
    t = now_s();
    publish_n(m, n64, 64);
    double p64 = n64 / (now_s() - t);

    printf("messaging (file db, WAL, synchronous=FULL)\n");
    printf("  send, 1 per commit      %9.0f msg/s  (%d sends)\n", r1, n1);
    printf("  send, 64 per commit     %9.0f msg/s  (%d sends)  %.1fx\n", r64, n64, r64 / r1);
    printf("  receive+delete, 10/commit %7.0f msg/s  (%d messages)\n", rd, got);
    printf("  publish, 1 per commit   %9.0f msg/s  (1 queue subscription)\n", p1);
    printf("  publish, 64 per commit  %9.0f msg/s  %.1fx\n", p64, p64 / p1);
    fflush(stdout);
    at_scale(m);
    mq_destroy(m);
    sqlite3_close(db);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    rmdir(dir);
    return 0;
}
