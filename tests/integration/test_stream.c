/*
 * Integration: the broker's streams (issue #13, Kinesis Data Streams)
 * through the real api socket: hashing to shards against an MD5 computed
 * independently (Python's hashlib), sequence order, iterators, retention on
 * the test clock, iterator expiry, split/merge, kill -9 during puts from
 * several threads, and the CLI with its exit codes.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness.h"

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsString(v), "no string %s", key);
    return v->valuestring;
}

static char *iterator(lt_broker *b, const char *s, const char *shard, const char *type_and_more)
{
    cJSON *r = lt_ok(b, "stream-iterator",
                     "{\"StreamName\":\"%s\",\"ShardId\":\"%s\",\"ShardIteratorType\":%s}", s,
                     shard, type_and_more);
    char *it = strdup(str(r, "ShardIterator"));
    cJSON_Delete(r);
    return it;
}

/* All records of a shard from TRIM_HORIZON to its tip, as a cJSON array of
 * the Records objects (caller deletes). */
static cJSON *read_all(lt_broker *b, const char *s, const char *shard)
{
    char *it = iterator(b, s, shard, "\"TRIM_HORIZON\"");
    cJSON *all = cJSON_CreateArray();
    for (;;) {
        cJSON *r = lt_ok(b, "stream-get-records", "{\"ShardIterator\":\"%s\",\"Limit\":1000}", it);
        cJSON *recs = cJSON_GetObjectItemCaseSensitive(r, "Records");
        int n = cJSON_GetArraySize(recs);
        cJSON *x;
        while ((x = cJSON_DetachItemFromArray(recs, 0)) != NULL) {
            cJSON_AddItemToArray(all, x);
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r, "NextShardIterator");
        free(it);
        it = cJSON_IsString(next) ? strdup(next->valuestring) : NULL;
        cJSON_Delete(r);
        if (it == NULL || n == 0) {
            free(it);
            return all;
        }
    }
}

static cJSON *put(lt_broker *b, const char *s, const char *key, const char *data)
{
    char d[512];
    lt_base64(data, d);
    return lt_ok(b, "stream-put", "{\"StreamName\":\"%s\",\"PartitionKey\":\"%s\",\"Data\":\"%s\"}",
                 s, key, d);
}

/* MD5 of key as a 128-bit big-endian integer, by python3's hashlib. */
static void python_md5(lt_broker *b, const char *key, char *out, size_t cap)
{
    char prog[256];
    snprintf(prog, sizeof(prog),
             "import hashlib;print(int.from_bytes(hashlib.md5(b'%s').digest(),'big'))", key);
    const char *argv[] = {"/usr/bin/python3", "-c", prog, NULL}; /* execv: a path */
    char *o = NULL, *e = NULL;
    cr_assert_eq(lt_run(b, argv, &o, &e), 0, "python3: %s", e);
    o[strcspn(o, "\n")] = '\0';
    snprintf(out, cap, "%s", o);
    free(o);
    free(e);
}

/* a <= b for decimal strings without leading zeros */
static int dec_cmp(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    return na != nb ? (na < nb ? -1 : 1) : strcmp(a, b);
}

Test(stream, puts_hash_to_the_shard_whose_range_holds_the_python_md5, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON *c = lt_ok(&b, "stream-create", "{\"StreamName\":\"clicks\",\"ShardCount\":5}");
    cr_assert_str_eq(str(c, "StreamARN"), "arn:lamina:kinesis:local:000000000000:stream/clicks");
    cJSON_Delete(c);
    cJSON *d = lt_ok(&b, "stream-get", "{\"StreamName\":\"clicks\"}");
    cJSON *shards = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(d, "StreamDescription"), "Shards");
    cr_assert_eq(cJSON_GetArraySize(shards), 5);
    const char *keys[] = {"alpha", "beta", "user-17", "order-9", "zz", "k", "42", "shop"};
    char last_seq[5][32] = {"", "", "", "", ""};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char md5[64];
        python_md5(&b, keys[i], md5, sizeof(md5));
        for (int round = 0; round < 3; round++) {
            cJSON *p = put(&b, "clicks", keys[i], keys[i]);
            const char *sid = str(p, "ShardId");
            const cJSON *sh = cJSON_GetArrayItem(shards, atoi(sid + 8));
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(sh, "HashKeyRange");
            cr_assert_str_eq(str(sh, "ShardId"), sid);
            cr_assert(dec_cmp(str(h, "StartingHashKey"), md5) <= 0 &&
                          dec_cmp(md5, str(h, "EndingHashKey")) <= 0,
                      "%s (md5 %s) went to %s [%s, %s]", keys[i], md5, sid,
                      str(h, "StartingHashKey"), str(h, "EndingHashKey"));
            int k = atoi(sid + 8);
            cr_assert_gt(strcmp(str(p, "SequenceNumber"), last_seq[k]), 0);
            snprintf(last_seq[k], sizeof(last_seq[k]), "%s", str(p, "SequenceNumber"));
            cJSON_Delete(p);
        }
    }
    cJSON_Delete(d);
    lt_broker_stop(&b, false);
}

Test(stream, iterators_retention_and_expiry_follow_the_broker_clock, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(lt_ok(&b, "stream-create", "{\"StreamName\":\"s\",\"ShardCount\":1}"));
    cJSON *p0 = put(&b, "s", "k", "first");
    char seq0[32];
    snprintf(seq0, sizeof(seq0), "%s", str(p0, "SequenceNumber"));
    cJSON_Delete(p0);
    lt_clock_advance(&b, 3600000); /* +1 h */
    cJSON_Delete(put(&b, "s", "k", "second"));
    char *latest = iterator(&b, "s", "shardId-000000000000", "\"LATEST\"");
    cJSON_Delete(put(&b, "s", "k", "third"));
    /* AFTER_SEQUENCE_NUMBER */
    char more[128];
    snprintf(more, sizeof(more), "\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"%s\"",
             seq0);
    char *after = iterator(&b, "s", "shardId-000000000000", more);
    cJSON *r = lt_ok(&b, "stream-get-records", "{\"ShardIterator\":\"%s\"}", after);
    cJSON *recs = cJSON_GetObjectItemCaseSensitive(r, "Records");
    cr_assert_eq(cJSON_GetArraySize(recs), 2);
    cr_assert_str_eq(str(cJSON_GetArrayItem(recs, 0), "Data"), "c2Vjb25k"); /* second */
    cJSON_Delete(r);
    r = lt_ok(&b, "stream-get-records", "{\"ShardIterator\":\"%s\"}", latest);
    recs = cJSON_GetObjectItemCaseSensitive(r, "Records");
    cr_assert_eq(cJSON_GetArraySize(recs), 1, "LATEST: only what came after it");
    cr_assert_str_eq(str(cJSON_GetArrayItem(recs, 0), "Data"), "dGhpcmQ="); /* third */
    cJSON_Delete(r);
    /* the iterator expires after 5 minutes of broker time */
    lt_clock_advance(&b, 300001);
    lm_error e;
    char args[512];
    snprintf(args, sizeof(args), "{\"ShardIterator\":\"%s\"}", latest);
    cr_assert_eq(lt_call(&b, "stream-get-records", args, NULL, &e), LM_E_EXPIRED_ITERATOR);
    cr_assert_str_eq(e.type, "ExpiredIteratorException");
    free(latest);
    free(after);
    /* retention: 24 h after "first", only the other two remain */
    lt_clock_advance(&b, 23 * 3600000LL - 300000);
    cJSON *all = read_all(&b, "s", "shardId-000000000000");
    cr_assert_eq(cJSON_GetArraySize(all), 2, "first expired, TRIM_HORIZON moved");
    cr_assert_str_eq(str(cJSON_GetArrayItem(all, 0), "Data"), "c2Vjb25k");
    cJSON_Delete(all);
    /* bad requests are typed */
    cr_assert_eq(
        lt_call(&b, "stream-put", "{\"StreamName\":\"s\",\"PartitionKey\":\"k\"}", NULL, &e),
        LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(lt_call(&b, "stream-put",
                         "{\"StreamName\":\"s\",\"PartitionKey\":\"k\",\"Data\":\"***\"}", NULL,
                         &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(lt_call(&b, "stream-create", "{\"StreamName\":\"s\",\"ShardCount\":1}", NULL, &e),
                 LM_E_RESOURCE_IN_USE);
    cr_assert_eq(lt_call(&b, "stream-get", "{\"StreamName\":\"nope\"}", NULL, &e), LM_E_NOT_FOUND);
    cr_assert_eq(lt_call(&b, "stream-iterator",
                         "{\"StreamName\":\"s\",\"ShardId\":\"shardId-000000000000\","
                         "\"ShardIteratorType\":\"OLDEST\"}",
                         NULL, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    lt_broker_stop(&b, false);
}

Test(stream, split_then_merge_keeps_per_key_order_across_the_lineage, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "stream-create", "{\"StreamName\":\"s\",\"ShardCount\":1}"));
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 10; k++) {
            char key[16], d[32];
            snprintf(key, sizeof(key), "key-%d", k);
            snprintf(d, sizeof(d), "%d:%d", k, round);
            cJSON_Delete(put(&b, "s", key, d));
        }
        if (round == 0) {
            cJSON_Delete(
                lt_ok(&b, "stream-split",
                      "{\"StreamName\":\"s\",\"ShardToSplit\":\"shardId-000000000000\","
                      "\"NewStartingHashKey\":\"170141183460469231731687303715884105728\"}"));
        } else if (round == 1) {
            cJSON_Delete(lt_ok(&b, "stream-merge",
                               "{\"StreamName\":\"s\",\"ShardToMerge\":\"shardId-000000000001\","
                               "\"AdjacentShardToMerge\":\"shardId-000000000002\"}"));
        }
    }
    int next[10] = {0};
    const char *lineage[] = {"shardId-000000000000", "shardId-000000000001", "shardId-000000000002",
                             "shardId-000000000003"};
    for (int s = 0; s < 4; s++) {
        cJSON *all = read_all(&b, "s", lineage[s]);
        for (const cJSON *x = all->child; x != NULL; x = x->next) {
            char *d = lt_unbase64(str(x, "Data"), NULL);
            int k = atoi(d), round = atoi(strchr(d, ':') + 1);
            cr_assert_eq(round, next[k], "key-%d: round %d after %d (shard %s)", k, round, next[k],
                         lineage[s]);
            next[k]++;
            free(d);
        }
        cJSON_Delete(all);
    }
    for (int k = 0; k < 10; k++) {
        cr_assert_eq(next[k], 3, "key-%d: %d records", k, next[k]);
    }
    lt_broker_stop(&b, false);
}

/* ---- kill -9 during puts ---- */

#define PUTTERS 4

typedef struct putter {
    const char *state;
    int id;
    atomic_int acked;
} putter;

/* Put "ID:N" with key "p<ID>-<N%8>" until a put fails (the broker died). */
static void *put_stream(void *arg)
{
    putter *p = arg;
    lm_client *c = NULL;
    lm_error e;
    cr_assert_eq(lm_client_open(&c, p->state, NULL, &e), LM_OK, "%s", e.message);
    lm_client_set_timeout(c, 3000);
    for (int i = 0;; i++) {
        char args[256], d[64], data[32];
        snprintf(data, sizeof(data), "%d:%d", p->id, i);
        lt_base64(data, d);
        snprintf(args, sizeof(args),
                 "{\"StreamName\":\"durable\",\"PartitionKey\":\"p%d-%d\",\"Data\":\"%s\"}", p->id,
                 i % 8, d);
        char *reply = NULL;
        if (lm_call(c, "stream-put", args, NULL, 0, &reply, &e) != LM_OK) {
            break;
        }
        free(reply);
        atomic_fetch_add(&p->acked, 1);
    }
    lm_client_destroy(c);
    return NULL;
}

static bool enough(void *arg)
{
    putter *p = arg;
    for (int i = 0; i < PUTTERS; i++) {
        if (atomic_load(&p[i].acked) < 30) {
            return false;
        }
    }
    return true;
}

Test(stream, kill9_during_puts_loses_no_acknowledged_record_and_keeps_shard_order, .timeout = 120)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "stream-create", "{\"StreamName\":\"durable\",\"ShardCount\":3}"));
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    putter p[PUTTERS];
    pthread_t t[PUTTERS];
    for (int i = 0; i < PUTTERS; i++) {
        p[i].state = state;
        p[i].id = i;
        atomic_init(&p[i].acked, 0);
        pthread_create(&t[i], NULL, put_stream, &p[i]);
    }
    cr_assert(lt_wait_until(enough, p, 30000));
    lt_broker_kill(&b);
    for (int i = 0; i < PUTTERS; i++) {
        pthread_join(t[i], NULL);
    }
    lt_broker_start_in(&b, state, NULL);
    /* every shard: sequence numbers increase; per putter, its numbers in
     * order with no gap up to what was acknowledged */
    int seen[PUTTERS];
    int count[PUTTERS] = {0};
    for (int i = 0; i < PUTTERS; i++) {
        seen[i] = -1;
    }
    static int last_in_key[PUTTERS][8];
    memset(last_in_key, -1, sizeof(last_in_key));
    for (int s = 0; s < 3; s++) {
        char shard[32];
        snprintf(shard, sizeof(shard), "shardId-%012d", s);
        cJSON *all = read_all(&b, "durable", shard);
        char prev[32] = "";
        for (const cJSON *x = all->child; x != NULL; x = x->next) {
            cr_assert_gt(strcmp(str(x, "SequenceNumber"), prev), 0, "shard %d out of order", s);
            snprintf(prev, sizeof(prev), "%s", str(x, "SequenceNumber"));
            char *d = lt_unbase64(str(x, "Data"), NULL);
            int id = atoi(d), n = atoi(strchr(d, ':') + 1);
            free(d);
            cr_assert_gt(n, last_in_key[id][n % 8], "putter %d key %d reordered", id, n % 8);
            last_in_key[id][n % 8] = n;
            seen[id] = n > seen[id] ? n : seen[id];
            count[id]++;
        }
        cJSON_Delete(all);
    }
    for (int i = 0; i < PUTTERS; i++) {
        int acked = atomic_load(&p[i].acked);
        cr_assert_geq(count[i], acked, "putter %d: %d acknowledged, %d found", i, acked, count[i]);
        cr_assert_leq(count[i], acked + 1, "putter %d: more records than puts", i);
        cr_assert_eq(seen[i] + 1, count[i], "putter %d: a gap (max %d, %d records)", i, seen[i],
                     count[i]);
    }
    lt_broker_stop(&b, false);
}

/* ---- the CLI ---- */

static const char *cli_bin(void)
{
    const char *p = getenv("LAMINA_CLI_BIN");
    return p != NULL ? p : "build/tools/lamina";
}

#define CLI(b, out, err, ...)                                 \
    ({                                                        \
        const char *argv_[] = {cli_bin(), __VA_ARGS__, NULL}; \
        lt_run(b, argv_, out, err);                           \
    })

Test(stream, cli_put_iterate_read_and_exit_codes, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    char *out = NULL, *err = NULL;
    cr_assert_eq(CLI(&b, &out, &err, "stream", "create", "clicks", "--shards", "2",
                     "--retention-hours", "48"),
                 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "-o", "json", "stream", "put", "clicks", "--partition-key",
                     "user-1", "hello from the cli"),
                 0, "%s", err);
    cJSON *p = cJSON_Parse(out);
    cr_assert_not_null(p, "%s", out);
    char shard[32];
    snprintf(shard, sizeof(shard), "%s", str(p, "ShardId"));
    cJSON_Delete(p);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "stream", "iterator", "clicks", shard, "TRIM_HORIZON"), 0,
                 "%s", err);
    out[strcspn(out, "\n")] = '\0';
    char *it = strdup(out);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "stream", "get-records", it, "--limit", "5"), 0, "%s", err);
    cr_assert_not_null(strstr(out, "user-1 hello from the cli"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "-o", "json", "stream", "get-records", it), 0, "%s", err);
    cr_assert_not_null(strstr(out, "aGVsbG8gZnJvbSB0aGUgY2xp"), "Data in base64: %s", out);
    free(out);
    free(err);
    free(it);
    cr_assert_eq(CLI(&b, &out, &err, "stream", "get", "nope"), 3, "not found: %s", err);
    cr_assert_not_null(strstr(err, "ResourceNotFoundException"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "stream", "create", "clicks", "--shards", "1"), 4,
                 "in use: %s", err);
    free(out);
    free(err);
    cr_assert_eq(
        CLI(&b, &out, &err, "stream", "create", "x", "--shards", "1", "--retention-hours", "9000"),
        9, "invalid: %s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "stream", "iterator", "clicks", shard, "SOMEWHERE"), 2,
                 "usage: %s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "stream", "reshard", "clicks", "split", "shardId-000000000000",
                     "12345"),
                 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "stream", "get", "clicks"), 0, "%s", err);
    cr_assert_not_null(strstr(out, "shardId-000000000003"), "%s", out);
    free(out);
    free(err);
    lt_broker_stop(&b, false);
}

/* 6 records of 1 MiB - 1 byte (349,525 x "xxx"): one get-records returns
 * the 4 that fit in its 4 MiB, and the reply reaches the client. */
Test(stream, large_records_come_back_in_replies_the_client_accepts, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "stream-create", "{\"StreamName\":\"big\",\"ShardCount\":1}"));
    size_t n64 = 349525 * 4;
    char *args = malloc(n64 + 128);
    int k = sprintf(args, "{\"StreamName\":\"big\",\"PartitionKey\":\"k\",\"Data\":\"");
    for (size_t i = 0; i < n64; i += 4) {
        memcpy(args + k + i, "eHh4", 4);
    }
    strcpy(args + k + n64, "\"}");
    for (int i = 0; i < 6; i++) {
        lm_error e;
        cr_assert_eq(lt_call(&b, "stream-put", args, NULL, &e), LM_OK, "%s", e.message);
    }
    free(args);
    char *it = iterator(&b, "big", "shardId-000000000000", "\"TRIM_HORIZON\"");
    cJSON *r = lt_ok(&b, "stream-get-records", "{\"ShardIterator\":\"%s\"}", it);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "Records")), 4);
    cr_assert_eq(
        strlen(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Records"), 0), "Data")),
        n64);
    cJSON_Delete(r);
    free(it);
    cJSON *all = read_all(&b, "big", "shardId-000000000000");
    cr_assert_eq(cJSON_GetArraySize(all), 6);
    cJSON_Delete(all);
    lt_broker_stop(&b, false);
}
