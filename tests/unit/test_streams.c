/*
 * tests/unit/test_streams.c — the stream engine (broker/messaging/stream.c)
 * against an in-memory SQLite database with a fake clock (T0 + offsets,
 * nothing sleeps).  Hash keys are checked against MD5 computed
 * independently in Python (hashlib, int.from_bytes(md5, 'big')); each test
 * names the Kinesis behaviour it pins down and fails if it broke.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mq_internal.h"

#define T0 1700000000000LL
#define HOUR 3600000LL

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

TestSuite(streams, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void screate(const char *name, int shards, int hours)
{
    lm_error e = {0};
    cr_assert_eq(mq_stream_create(m, name, shards, hours, T0, NULL, &e), LM_OK, "%s", e.message);
}

static mq_record_out put_at(const char *s, const char *key, const char *data, int64_t now)
{
    lm_error e = {0};
    mq_record_out o;
    mq_record_in r = {.pkey = key, .data = (const unsigned char *)data, .len = strlen(data)};
    cr_assert_eq(mq_stream_put(m, s, &r, now, &o, &e), LM_OK, "put %s: %s", key, e.message);
    return o;
}

static void iterator(const char *s, const char *shard, mq_iter_type t, const char *seq, int64_t ts,
                     int64_t now, char out[MQ_STREAM_ITERATOR_MAX])
{
    lm_error e = {0};
    cr_assert_eq(mq_stream_iterator(m, s, shard, t, seq, ts, now, out, &e), LM_OK, "%s", e.message);
}

static void get(const char *it, int limit, int64_t now, mq_records *r)
{
    lm_error e = {0};
    cr_assert_eq(mq_stream_get_records(m, it, limit, now, r, &e), LM_OK, "%s", e.message);
}

static char *data_of(const mq_record *r)
{
    char *s = malloc(r->len + 1);
    memcpy(s, r->data, r->len);
    s[r->len] = '\0';
    return s;
}

/* The records' data joined by ',' (malloc'd). */
static char *datas(const mq_records *r)
{
    char *s = calloc(1, 8192);
    for (size_t i = 0; i < r->n; i++) {
        char *d = data_of(&r->v[i]);
        strcat(s, i ? "," : "");
        strcat(s, d);
        free(d);
    }
    return s;
}

static const cJSON *shard_at(const cJSON *desc, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(desc, "Shards"), i);
}

static const char *field(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b != NULL) {
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    }
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static cJSON *describe(const char *s)
{
    lm_error e = {0};
    cJSON *d = mq_stream_describe(m, s, T0, &e);
    cr_assert_not_null(d, "%s", e.message);
    return d;
}

static int64_t nrecords(void)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM mq_records", -1, &st, NULL);
    sqlite3_step(st);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* ---- hashing ---- */

/* Computed with Python: int.from_bytes(hashlib.md5(key.encode()).digest(), 'big'),
 * and the shard index with floor(2**128 / N) wide ranges. */
static const struct {
    const char *key;
    const char *md5;
    int of3, of4;
} vectors[] = {
    {"a", "16955237001963240173058271559858726497", 0, 0},
    {"hello", "123957004363873451094272536567338222994", 1, 1},
    {"partition-key-1", "33365116028791453877729010807000998774", 0, 0},
    {"order-17", "763679404708269414593072851680915699", 0, 0},
    {"\xc3\xa9t\xc3\xa9", "295999419373203071729176520050689792210", 2, 3},
    {"user-42", "157107139746365290205026809710278036035", 1, 1},
    {"k9", "110654592121751518365852733277949491354", 0, 1},
    {"zebra", "140588452422326352697709280135789450311", 1, 1},
    {"0", "276215275525073243129443018166533317850", 2, 3},
};

Test(streams, partition_keys_hash_by_md5_to_the_shard_whose_range_holds_them)
{
    screate("three", 3, 24);
    screate("four", 4, 24);
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char dec[MQ_HASH_KEY_MAX], want[32];
        mq_stream_hash_key(vectors[i].key, strlen(vectors[i].key), dec);
        cr_assert_str_eq(dec, vectors[i].md5, "md5 of %s", vectors[i].key);
        mq_record_out o = put_at("three", vectors[i].key, "x", T0);
        snprintf(want, sizeof(want), "shardId-%012d", vectors[i].of3);
        cr_assert_str_eq(o.shard_id, want, "%s in 3 shards", vectors[i].key);
        o = put_at("four", vectors[i].key, "x", T0);
        snprintf(want, sizeof(want), "shardId-%012d", vectors[i].of4);
        cr_assert_str_eq(o.shard_id, want, "%s in 4 shards", vectors[i].key);
    }
    /* the 256 x key, and an explicit hash key overriding the partition key */
    char k256[257];
    memset(k256, 'x', 256);
    k256[256] = '\0';
    char dec[MQ_HASH_KEY_MAX];
    mq_stream_hash_key(k256, 256, dec);
    cr_assert_str_eq(dec, "265353499944959180620795534685136097465");
    lm_error e = {0};
    mq_record_out o;
    mq_record_in r = {.pkey = "a",
                      .data = (const unsigned char *)"x",
                      .len = 1,
                      .explicit_hash = "340282366920938463463374607431768211455"};
    cr_assert_eq(mq_stream_put(m, "four", &r, T0, &o, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(o.shard_id, "shardId-000000000003");
    r.explicit_hash = "85070591730234615865843651857942052863"; /* 2^126 - 1: shard 0 */
    cr_assert_eq(mq_stream_put(m, "four", &r, T0, &o, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(o.shard_id, "shardId-000000000000");
    r.explicit_hash = "85070591730234615865843651857942052864"; /* 2^126: shard 1 */
    cr_assert_eq(mq_stream_put(m, "four", &r, T0, &o, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(o.shard_id, "shardId-000000000001");
}

Test(streams, create_splits_the_hash_space_evenly_and_describes_kinesis_shapes)
{
    char arn[MQ_ARN_MAX];
    lm_error e = {0};
    cr_assert_eq(mq_stream_create(m, "two", 2, 48, T0, arn, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(arn, "arn:lamina:kinesis:local:000000000000:stream/two");
    screate("three", 3, 24);
    cJSON *d = describe("two");
    cr_assert_str_eq(field(d, "StreamName", NULL), "two");
    cr_assert_str_eq(field(d, "StreamARN", NULL), arn);
    cr_assert_str_eq(field(d, "StreamStatus", NULL), "ACTIVE");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(d, "RetentionPeriodHours")->valuedouble, 48);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(d, "StreamCreationTimestamp")->valuedouble,
                 T0 / 1000.0);
    cr_assert_str_eq(field(shard_at(d, 0), "ShardId", NULL), "shardId-000000000000");
    cr_assert_str_eq(field(shard_at(d, 0), "HashKeyRange", "StartingHashKey"), "0");
    cr_assert_str_eq(field(shard_at(d, 0), "HashKeyRange", "EndingHashKey"),
                     "170141183460469231731687303715884105727");
    cr_assert_str_eq(field(shard_at(d, 1), "HashKeyRange", "StartingHashKey"),
                     "170141183460469231731687303715884105728");
    cr_assert_str_eq(field(shard_at(d, 1), "HashKeyRange", "EndingHashKey"),
                     "340282366920938463463374607431768211455");
    cr_assert_null(field(shard_at(d, 0), "SequenceNumberRange", "EndingSequenceNumber"));
    cr_assert_not_null(field(shard_at(d, 0), "SequenceNumberRange", "StartingSequenceNumber"));
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(shard_at(d, 0), "ParentShardId"));
    cJSON_Delete(d);
    d = describe("arn:aws:kinesis:us-east-1:123456789012:stream/three"); /* any ARN */
    cr_assert_str_eq(field(shard_at(d, 1), "HashKeyRange", "StartingHashKey"),
                     "113427455640312821154458202477256070485");
    cr_assert_str_eq(field(shard_at(d, 1), "HashKeyRange", "EndingHashKey"),
                     "226854911280625642308916404954512140969");
    cr_assert_str_eq(field(shard_at(d, 2), "HashKeyRange", "EndingHashKey"),
                     "340282366920938463463374607431768211455");
    cJSON_Delete(d);
    cJSON *l = mq_stream_list(m, &e);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "StreamNames")), 2);
    cr_assert_str_eq(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "StreamNames"), 0)->valuestring,
        "three");
    cJSON_Delete(l);
}

Test(streams, sequence_numbers_increase_within_each_shard_and_sort_as_text)
{
    screate("s", 4, 24);
    char last[4][MQ_STREAM_SEQ_LEN + 1] = {"", "", "", ""};
    for (int i = 0; i < 200; i++) {
        char key[16];
        snprintf(key, sizeof(key), "key-%d", i % 37);
        mq_record_out o = put_at("s", key, "v", T0 + i);
        int sh = atoi(o.shard_id + 8);
        cr_assert_eq(strlen(o.seq), MQ_STREAM_SEQ_LEN, "%s", o.seq);
        cr_assert_gt(strcmp(o.seq, last[sh]), 0, "%s after %s", o.seq, last[sh]);
        memcpy(last[sh], o.seq, sizeof(last[sh]));
    }
}

/* ---- iterators ---- */

Test(streams, every_iterator_type_starts_where_kinesis_says)
{
    screate("s", 1, 24);
    char seq[10][MQ_STREAM_SEQ_LEN + 1], it[MQ_STREAM_ITERATOR_MAX];
    for (int i = 0; i < 10; i++) {
        char d[8];
        snprintf(d, sizeof(d), "r%d", i);
        mq_record_out o = put_at("s", "k", d, T0 + i * 1000);
        memcpy(seq[i], o.seq, sizeof(seq[i]));
    }
    const char *sh = "shardId-000000000000";
    int64_t now = T0 + 20000;
    mq_records r;
    char *s;
    iterator("s", sh, MQ_ITER_TRIM_HORIZON, NULL, 0, now, it);
    get(it, 10000, now, &r);
    cr_assert_str_eq(s = datas(&r), "r0,r1,r2,r3,r4,r5,r6,r7,r8,r9");
    free(s);
    cr_assert_str_eq(r.v[3].seq, seq[3]);
    cr_assert_eq(r.v[3].arrival_ms, T0 + 3000);
    cr_assert_str_eq(r.v[3].pkey, "k");
    cr_assert_eq(r.behind_ms, 0, "caught up");
    cr_assert_neq(r.next[0], '\0', "an open shard always has a next iterator");
    cr_assert_null(r.children);
    mq_records_finish(&r);

    iterator("s", sh, MQ_ITER_AT_SEQUENCE, seq[3], 0, now, it);
    get(it, 10000, now, &r);
    cr_assert_str_eq(s = datas(&r), "r3,r4,r5,r6,r7,r8,r9");
    free(s);
    mq_records_finish(&r);
    iterator("s", sh, MQ_ITER_AFTER_SEQUENCE, seq[3], 0, now, it);
    get(it, 10000, now, &r);
    cr_assert_str_eq(s = datas(&r), "r4,r5,r6,r7,r8,r9");
    free(s);
    mq_records_finish(&r);
    iterator("s", sh, MQ_ITER_AT_TIMESTAMP, NULL, T0 + 5000, now, it);
    get(it, 10000, now, &r);
    cr_assert_str_eq(s = datas(&r), "r5,r6,r7,r8,r9");
    free(s);
    mq_records_finish(&r);
    iterator("s", sh, MQ_ITER_AT_TIMESTAMP, NULL, T0 + 4500, now, it);
    get(it, 10000, now, &r);
    cr_assert_str_eq(s = datas(&r), "r5,r6,r7,r8,r9", "the first at or after the time");
    free(s);
    mq_records_finish(&r);

    /* LATEST: only what comes after; then the next iterator follows on */
    iterator("s", sh, MQ_ITER_LATEST, NULL, 0, now, it);
    get(it, 10000, now, &r);
    cr_assert_eq(r.n, 0);
    char next[MQ_STREAM_ITERATOR_MAX];
    memcpy(next, r.next, sizeof(next));
    mq_records_finish(&r);
    put_at("s", "k", "r10", now + 1);
    put_at("s", "k", "r11", now + 2);
    get(next, 1, now + 10, &r);
    cr_assert_str_eq(s = datas(&r), "r10");
    free(s);
    cr_assert_eq(r.behind_ms, 8, "r11 has waited 8 ms: %lld", (long long)r.behind_ms);
    memcpy(next, r.next, sizeof(next));
    mq_records_finish(&r);
    get(next, 5, now + 10, &r);
    cr_assert_str_eq(s = datas(&r), "r11");
    free(s);
    cr_assert_eq(r.behind_ms, 0);
    mq_records_finish(&r);
}

Test(streams, iterators_expire_after_five_minutes_and_cannot_be_forged)
{
    screate("s", 1, 24);
    put_at("s", "k", "x", T0);
    char it[MQ_STREAM_ITERATOR_MAX];
    iterator("s", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, T0, it);
    mq_records r;
    get(it, 1, T0 + MQ_STREAM_ITERATOR_TTL_MS, &r);
    cr_assert_eq(r.n, 1);
    mq_records_finish(&r);
    lm_error e = {0};
    cr_assert_eq(mq_stream_get_records(m, it, 1, T0 + MQ_STREAM_ITERATOR_TTL_MS + 1, &r, &e),
                 LM_E_EXPIRED_ITERATOR);
    cr_assert_str_eq(e.type, "ExpiredIteratorException");
    /* a changed iterator (here: a younger issue time) is refused */
    unsigned char *raw;
    size_t n;
    cr_assert_eq(mq_unbase64(it, strlen(it), &raw, &n), 0);
    char text[256];
    memcpy(text, raw, n);
    text[n] = '\0';
    free(raw);
    char *dot = strrchr(text, '.'); /* issued.mac: bump the last digit of issued */
    cr_assert_not_null(dot);
    dot[-1] = dot[-1] == '9' ? '8' : (char)(dot[-1] + 1);
    char *forged = util_base64(text, strlen(text));
    cr_assert_eq(mq_stream_get_records(m, forged, 1, T0, &r, &e), LM_E_STREAM_INVALID_ARGUMENT);
    free(forged);
    cr_assert_eq(mq_stream_get_records(m, "bm90IGFuIGl0ZXJhdG9y", 1, T0, &r, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_get_records(m, "***", 1, T0, &r, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_str_eq(e.type, "InvalidArgumentException");
    /* a deleted stream's iterator: not found */
    iterator("s", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, T0, it);
    cr_assert_eq(mq_stream_delete(m, "s", &e), LM_OK);
    cr_assert_eq(mq_stream_get_records(m, it, 1, T0, &r, &e), LM_E_NOT_FOUND);
}

/* ---- retention ---- */

Test(streams, records_past_retention_are_gone_and_trim_horizon_moves)
{
    screate("s", 1, 24);
    put_at("s", "k", "old", T0);
    put_at("s", "k", "new", T0 + 23 * HOUR);
    char it[MQ_STREAM_ITERATOR_MAX];
    mq_records r;
    char *s;
    int64_t now = T0 + 24 * HOUR;
    iterator("s", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, now, it);
    get(it, 100, now, &r);
    cr_assert_str_eq(s = datas(&r), "old,new", "at exactly 24 h it is still there");
    free(s);
    mq_records_finish(&r);
    now++;
    iterator("s", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, now, it);
    get(it, 100, now, &r);
    cr_assert_str_eq(s = datas(&r), "new");
    free(s);
    mq_records_finish(&r);
    cr_assert_eq(nrecords(), 2, "not swept yet, but never returned");
    lm_error e = {0};
    bool more = true;
    cr_assert_eq(mq_stream_sweep(m, now, 100, &more, &e), LM_OK, "%s", e.message);
    cr_assert_eq(nrecords(), 1);
    cr_assert(!more);
    /* a longer retention keeps them */
    screate("week", 1, 168);
    put_at("week", "k", "kept", T0);
    now = T0 + 167 * HOUR;
    iterator("week", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, now, it);
    get(it, 100, now, &r);
    cr_assert_eq(r.n, 1);
    mq_records_finish(&r);
    cr_assert_eq(mq_stream_sweep(m, now, 100, &more, &e), LM_OK);
    cr_assert_eq(nrecords(), 1, "s's \"new\" expired at T0+47h, \"kept\" stays");
}

Test(streams, put_and_get_do_not_scan_and_their_cost_does_not_grow_with_the_stream)
{
    screate("small", 2, 24);
    screate("big", 2, 24);
    lm_error e = {0};
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    for (int i = 0; i < 20000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        put_at("big", k, "payload", T0 + i);
    }
    cr_assert_eq(mq_commit(m, &e), LM_OK);
    put_at("small", "k", "payload", T0);
    int64_t cost[2];
    const char *names[2] = {"small", "big"};
    for (int w = 0; w < 2; w++) {
        int64_t vm0, fs0, vm1, fs1;
        char it[MQ_STREAM_ITERATOR_MAX];
        mq_records r;
        mq_debug_steps(m, &vm0, &fs0);
        put_at(names[w], "some-key", "data", T0 + 30000);
        iterator(names[w], "0", MQ_ITER_LATEST, NULL, 0, T0 + 30000, it);
        get(it, 10, T0 + 30000, &r);
        mq_records_finish(&r);
        iterator(names[w], "1", MQ_ITER_AT_TIMESTAMP, NULL, T0 + 29990, T0 + 30000, it);
        get(it, 5, T0 + 30000, &r);
        mq_records_finish(&r);
        mq_debug_steps(m, &vm1, &fs1);
        cr_assert_eq(fs1 - fs0, 0, "%s: full-scan steps", names[w]);
        cost[w] = vm1 - vm0;
    }
    cr_assert_lt(cost[1], cost[0] * 3, "small %lld steps, big %lld", (long long)cost[0],
                 (long long)cost[1]);
}

/* ---- resharding ---- */

/* Read a shard from TRIM_HORIZON to its end (closed) or its tip, appending
 * "key=value" lines per record to log; *children gets ChildShards. */
static void read_shard(const char *stream, const char *shard, char *log, cJSON **children)
{
    char it[MQ_STREAM_ITERATOR_MAX];
    iterator(stream, shard, MQ_ITER_TRIM_HORIZON, NULL, 0, T0, it);
    *children = NULL;
    for (;;) {
        mq_records r;
        get(it, 7, T0, &r);
        for (size_t i = 0; i < r.n; i++) {
            char *d = data_of(&r.v[i]);
            strcat(log, d);
            strcat(log, "\n");
            free(d);
        }
        if (r.next[0] == '\0') {
            *children = r.children;
            r.children = NULL;
            mq_records_finish(&r);
            return;
        }
        bool empty = r.n == 0;
        memcpy(it, r.next, sizeof(it));
        mq_records_finish(&r);
        if (empty) {
            return; /* an open shard's tip */
        }
    }
}

static void put_round(int round)
{
    for (int k = 0; k < 20; k++) {
        char key[16], d[32];
        snprintf(key, sizeof(key), "key-%d", k);
        snprintf(d, sizeof(d), "key-%d=%d", k, round);
        put_at("s", key, d, T0);
    }
}

Test(streams, split_and_merge_keep_per_key_order_for_a_reader_of_parents_then_children)
{
    screate("s", 1, 24);
    put_round(0);
    lm_error e = {0};
    cr_assert_eq(mq_stream_split(m, "s", "shardId-000000000000",
                                 "170141183460469231731687303715884105728", T0, &e),
                 LM_OK, "%s", e.message);
    put_round(1);
    cr_assert_eq(mq_stream_merge(m, "s", "shardId-000000000001", "shardId-000000000002", T0, &e),
                 LM_OK, "%s", e.message);
    put_round(2);
    cJSON *d = describe("s");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "Shards")), 4);
    cr_assert_not_null(field(shard_at(d, 0), "SequenceNumberRange", "EndingSequenceNumber"));
    cr_assert_str_eq(field(shard_at(d, 1), "ParentShardId", NULL), "shardId-000000000000");
    cr_assert_str_eq(field(shard_at(d, 2), "HashKeyRange", "StartingHashKey"),
                     "170141183460469231731687303715884105728");
    cr_assert_str_eq(field(shard_at(d, 3), "ParentShardId", NULL), "shardId-000000000001");
    cr_assert_str_eq(field(shard_at(d, 3), "AdjacentParentShardId", NULL), "shardId-000000000002");
    cr_assert_str_eq(field(shard_at(d, 3), "HashKeyRange", "EndingHashKey"),
                     "340282366920938463463374607431768211455");
    cr_assert_null(field(shard_at(d, 3), "SequenceNumberRange", "EndingSequenceNumber"));
    /* children start above their parents' end */
    cr_assert_gt(strcmp(field(shard_at(d, 1), "SequenceNumberRange", "StartingSequenceNumber"),
                        field(shard_at(d, 0), "SequenceNumberRange", "EndingSequenceNumber")),
                 0);
    cJSON_Delete(d);

    /* follow the lineage: 0, then its children 1 and 2, then 3 */
    char *log = calloc(1, 65536);
    cJSON *ch = NULL;
    read_shard("s", "shardId-000000000000", log, &ch);
    cr_assert_not_null(ch, "a closed shard read to its end names its children");
    cr_assert_eq(cJSON_GetArraySize(ch), 2);
    cr_assert_str_eq(field(cJSON_GetArrayItem(ch, 0), "ShardId", NULL), "shardId-000000000001");
    cJSON_Delete(ch);
    read_shard("s", "shardId-000000000001", log, &ch);
    cr_assert_eq(cJSON_GetArraySize(ch), 1);
    cr_assert_str_eq(field(cJSON_GetArrayItem(ch, 0), "ShardId", NULL), "shardId-000000000003");
    cr_assert_eq(cJSON_GetArraySize(
                     cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ch, 0), "ParentShards")),
                 2);
    cJSON_Delete(ch);
    read_shard("s", "shardId-000000000002", log, &ch);
    cJSON_Delete(ch);
    read_shard("s", "shardId-000000000003", log, &ch);
    cr_assert_null(ch, "the open shard has no children");
    /* every key's values in order 0, 1, 2, each once */
    for (int k = 0; k < 20; k++) {
        char want[16];
        int nexti = 0;
        for (char *line = log; *line != '\0';) {
            char *nl = strchr(line, '\n');
            *nl = '\0';
            snprintf(want, sizeof(want), "key-%d=", k);
            if (strncmp(line, want, strlen(want)) == 0) {
                cr_assert_eq(atoi(line + strlen(want)), nexti, "key-%d: %s", k, line);
                nexti++;
            }
            *nl = '\n';
            line = nl + 1;
        }
        cr_assert_eq(nexti, 3, "key-%d seen %d times", k, nexti);
    }
    free(log);
    /* closed parents are gone from the description once retention passed */
    bool more;
    cr_assert_eq(mq_stream_sweep(m, T0 + 25 * HOUR, 1000, &more, &e), LM_OK, "%s", e.message);
    d = describe("s");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "Shards")), 1);
    cr_assert_str_eq(field(shard_at(d, 0), "ShardId", NULL), "shardId-000000000003");
    cJSON_Delete(d);
}

/* ---- bad input ---- */

Test(streams, bad_inputs_get_kinesis_typed_errors_and_change_nothing)
{
    lm_error e = {0};
    cr_assert_eq(mq_stream_create(m, "bad name", 1, 24, T0, NULL, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_create(m, "", 1, 24, T0, NULL, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_create(m, "s", 0, 24, T0, NULL, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_create(m, "s", 501, 24, T0, NULL, &e), LM_E_LIMIT_EXCEEDED);
    cr_assert_str_eq(e.type, "LimitExceededException");
    cr_assert_eq(mq_stream_create(m, "s", 1, 23, T0, NULL, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_create(m, "s", 1, 8761, T0, NULL, &e), LM_E_STREAM_INVALID_ARGUMENT);
    screate("s", 2, 24);
    cr_assert_eq(mq_stream_create(m, "s", 2, 24, T0, NULL, &e), LM_E_RESOURCE_IN_USE);
    cr_assert_str_eq(e.type, "ResourceInUseException");
    cr_assert_null(mq_stream_describe(m, "nope", T0, &e));
    cr_assert_eq(e.code, LM_E_NOT_FOUND);
    cr_assert_str_eq(e.type, "ResourceNotFoundException");
    cr_assert_eq(mq_stream_delete(m, "nope", &e), LM_E_NOT_FOUND);

    mq_record_out o;
    mq_record_in r = {.pkey = "", .data = (const unsigned char *)"x", .len = 1};
    cr_assert_eq(mq_stream_put(m, "s", &r, T0, &o, &e), LM_E_STREAM_INVALID_ARGUMENT);
    char k257[258];
    memset(k257, 'k', 257);
    k257[257] = '\0';
    r.pkey = k257;
    cr_assert_eq(mq_stream_put(m, "s", &r, T0, &o, &e), LM_E_STREAM_INVALID_ARGUMENT);
    r.pkey = "\xff\xfe";
    cr_assert_eq(mq_stream_put(m, "s", &r, T0, &o, &e), LM_E_STREAM_INVALID_ARGUMENT);
    r.pkey = "k";
    unsigned char *big = calloc(1, MQ_STREAM_RECORD_MAX);
    r.data = big;
    r.len = MQ_STREAM_RECORD_MAX; /* + the key's byte: one over */
    cr_assert_eq(mq_stream_put(m, "s", &r, T0, &o, &e), LM_E_STREAM_INVALID_ARGUMENT);
    r.len = MQ_STREAM_RECORD_MAX - 1;
    cr_assert_eq(mq_stream_put(m, "s", &r, T0, &o, &e), LM_OK, "exactly 1 MiB: %s", e.message);
    r.data = (const unsigned char *)"x";
    r.len = 1;
    r.explicit_hash = "340282366920938463463374607431768211456"; /* 2^128 */
    cr_assert_eq(mq_stream_put(m, "s", &r, T0, &o, &e), LM_E_STREAM_INVALID_ARGUMENT);
    r.explicit_hash = "12a";
    cr_assert_eq(mq_stream_put(m, "s", &r, T0, &o, &e), LM_E_STREAM_INVALID_ARGUMENT);
    r.explicit_hash = NULL;
    cr_assert_eq(mq_stream_put(m, "nope", &r, T0, &o, &e), LM_E_NOT_FOUND);
    cr_assert_eq(nrecords(), 1, "only the valid 1 MiB record");

    char it[MQ_STREAM_ITERATOR_MAX];
    cr_assert_eq(
        mq_stream_iterator(m, "s", "shardId-000000000009", MQ_ITER_LATEST, NULL, 0, T0, it, &e),
        LM_E_NOT_FOUND);
    cr_assert_eq(mq_stream_iterator(m, "s", "shard-x", MQ_ITER_LATEST, NULL, 0, T0, it, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_iterator(m, "s", "0", MQ_ITER_AT_SEQUENCE, "12x", 0, T0, it, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_iterator(m, "s", "0", MQ_ITER_AT_SEQUENCE, NULL, 0, T0, it, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_iterator(m, "s", "0", MQ_ITER_AT_SEQUENCE, "99999999999999999999999", 0,
                                    T0, it, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    /* found by fuzz_stream: a 19-digit sequence number gives an iterator
     * that reads (it used to come back as not an iterator) */
    iterator("s", "0", MQ_ITER_AT_SEQUENCE, "6213023705161794535", 0, T0, it);
    mq_records r19;
    cr_assert_eq(mq_stream_get_records(m, it, 1, T0, &r19, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r19.n, 0);
    mq_records_finish(&r19);
    cr_assert_eq(mq_iter_type_parse("OLDEST"), -1);
    cr_assert_eq(mq_iter_type_parse("AT_TIMESTAMP"), MQ_ITER_AT_TIMESTAMP);
    iterator("s", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, T0, it);
    mq_records rr;
    cr_assert_eq(mq_stream_get_records(m, it, 0, T0, &rr, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_get_records(m, it, 10001, T0, &rr, &e), LM_E_STREAM_INVALID_ARGUMENT);

    /* reshard */
    cr_assert_eq(mq_stream_split(m, "s", "0", "0", T0, &e), LM_E_STREAM_INVALID_ARGUMENT,
                 "the start itself");
    cr_assert_eq(mq_stream_split(m, "s", "0", "170141183460469231731687303715884105728", T0, &e),
                 LM_E_STREAM_INVALID_ARGUMENT, "past the end");
    cr_assert_eq(mq_stream_split(m, "s", "0", "-5", T0, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_merge(m, "s", "0", "0", T0, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_split(m, "s", "0", "1000", T0, &e), LM_OK, "%s", e.message);
    cr_assert_eq(mq_stream_split(m, "s", "0", "10", T0, &e), LM_E_STREAM_INVALID_ARGUMENT,
                 "a closed shard");
    cr_assert_eq(mq_stream_merge(m, "s", "0", "1", T0, &e), LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_merge(m, "s", "2", "1", T0, &e), LM_E_STREAM_INVALID_ARGUMENT,
                 "2 is [0, 999], 1 the upper half: not adjacent");
    cr_assert_eq(mq_stream_merge(m, "s", "3", "1", T0, &e), LM_OK, "%s", e.message);

    /* batches */
    mq_stream_batch b;
    const char *bad_batches[] = {"[]",
                                 "{}",
                                 "[{\"Data\":\"eA==\"}]",
                                 "[{\"Data\":\"not base64!\",\"PartitionKey\":\"k\"}]",
                                 "[{\"Data\":1,\"PartitionKey\":\"k\"}]",
                                 "[1]",
                                 "nope"};
    for (size_t i = 0; i < sizeof(bad_batches) / sizeof(bad_batches[0]); i++) {
        cr_assert_eq(mq_stream_batch_parse(bad_batches[i], strlen(bad_batches[i]), &b, &e),
                     LM_E_STREAM_INVALID_ARGUMENT, "%s", bad_batches[i]);
        mq_stream_batch_finish(&b);
    }
    free(big);
}

Test(streams, put_batch_has_per_record_results_and_request_limits)
{
    screate("s", 2, 24);
    const char *json = "[{\"Data\":\"b25l\",\"PartitionKey\":\"a\"},"
                       "{\"Data\":\"dHdv\",\"PartitionKey\":\"\"},"
                       "{\"Data\":\"dGhyZWU=\",\"PartitionKey\":\"a\",\"ExplicitHashKey\":\"0\"}]";
    mq_stream_batch b;
    lm_error e = {0};
    cr_assert_eq(mq_stream_batch_parse(json, strlen(json), &b, &e), LM_OK, "%s", e.message);
    mq_record_out out[3];
    size_t failed = 9;
    cr_assert_eq(mq_stream_put_batch(m, "s", b.r, b.n, T0, out, &failed, &e), LM_OK, "%s",
                 e.message);
    cr_assert_eq(failed, 1);
    cr_assert_eq(out[0].err.code, LM_OK);
    cr_assert_str_eq(out[1].err.type, "InvalidArgumentException");
    cr_assert_str_eq(out[2].shard_id, "shardId-000000000000");
    cr_assert_gt(strcmp(out[2].seq, out[0].seq), 0);
    mq_stream_batch_finish(&b);
    cr_assert_eq(nrecords(), 2);
    /* 501 records, or over 5 MiB: nothing stored */
    mq_record_in *many = calloc(501, sizeof(*many));
    mq_record_out *mo = calloc(501, sizeof(*mo));
    unsigned char *chunk = calloc(1, 1048000);
    for (int i = 0; i < 501; i++) {
        many[i] = (mq_record_in){.pkey = "k", .data = chunk, .len = 1};
    }
    cr_assert_eq(mq_stream_put_batch(m, "s", many, 501, T0, mo, &failed, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    cr_assert_eq(mq_stream_put_batch(m, "s", many, 0, T0, mo, &failed, &e),
                 LM_E_STREAM_INVALID_ARGUMENT);
    for (int i = 0; i < 6; i++) {
        many[i].len = 1048000;
    }
    cr_assert_eq(mq_stream_put_batch(m, "s", many, 6, T0, mo, &failed, &e),
                 LM_E_STREAM_INVALID_ARGUMENT, "6 x 1048001 bytes > 5 MiB");
    cr_assert_eq(mq_stream_put_batch(m, "s", many, 5, T0, mo, &failed, &e), LM_OK, "%s", e.message);
    cr_assert_eq(nrecords(), 7);
    free(many);
    free(mo);
    free(chunk);
}

Test(streams, delete_is_constant_time_and_the_sweep_removes_the_records)
{
    screate("s", 2, 24);
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        put_at("s", k, "x", T0);
    }
    lm_error e = {0};
    cr_assert_eq(mq_stream_delete(m, "s", &e), LM_OK);
    cr_assert_eq(nrecords(), 300);
    screate("s", 1, 24); /* the name is free at once; its numbers go on */
    mq_record_out o = put_at("s", "k", "fresh", T0);
    cr_assert_str_eq(o.shard_id, "shardId-000000000000");
    bool more = false;
    cr_assert_eq(mq_stream_sweep(m, T0, 100, &more, &e), LM_OK);
    cr_assert(more);
    cr_assert_eq(nrecords(), 201);
    while (more) {
        cr_assert_eq(mq_stream_sweep(m, T0, 100, &more, &e), LM_OK);
    }
    cr_assert_eq(nrecords(), 1);
    char it[MQ_STREAM_ITERATOR_MAX];
    mq_records r;
    iterator("s", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, T0, it);
    get(it, 10, T0, &r);
    cr_assert_eq(r.n, 1, "only the new stream's record");
    mq_records_finish(&r);
}

/* ---- schema ---- */

static const char *meta_version(void)
{
    static char v[16];
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='messaging_schema'", -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(v, sizeof(v), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

Test(streams, a_version_1_store_is_upgraded_to_3_and_a_newer_one_refused)
{
    lm_error e = {0};
    cr_assert_str_eq(meta_version(), "3");
    /* make it a version-1 store: no stream tables, version 1 */
    mq_destroy(m);
    cr_assert_eq(sqlite3_exec(db,
                              "DROP TABLE mq_records; DROP TABLE mq_shards; DROP TABLE mq_streams;"
                              "DROP TABLE mq_stream_detached;"
                              "DELETE FROM meta WHERE key='stream_iterator_key';"
                              "UPDATE meta SET value='1' WHERE key='messaging_schema'",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(mq_schema_apply(db, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(meta_version(), "3");
    m = mq_create(db, &e);
    screate("after-upgrade", 1, 24);
    put_at("after-upgrade", "k", "v", T0);
    char it[MQ_STREAM_ITERATOR_MAX];
    mq_records r;
    iterator("after-upgrade", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, T0, it);
    get(it, 10, T0, &r);
    cr_assert_eq(r.n, 1);
    mq_records_finish(&r);
    /* a store from a newer broker is refused, not misread */
    cr_assert_eq(sqlite3_exec(db, "UPDATE meta SET value='4' WHERE key='messaging_schema'", NULL,
                              NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(mq_schema_apply(db, &e), LM_E_IO);
}

Test(streams, get_records_stops_at_the_reply_byte_cap_and_goes_on_from_there)
{
    screate("big", 1, 24);
    unsigned char *blob = calloc(1, MQ_STREAM_RECORD_MAX);
    lm_error e = {0};
    mq_record_out o;
    mq_record_in r = {.pkey = "k", .data = blob, .len = MQ_STREAM_RECORD_MAX - 1};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(mq_stream_put(m, "big", &r, T0, &o, &e), LM_OK, "%s", e.message);
    }
    free(blob);
    char it[MQ_STREAM_ITERATOR_MAX];
    mq_records rr;
    iterator("big", "0", MQ_ITER_TRIM_HORIZON, NULL, 0, T0, it);
    get(it, 10000, T0, &rr);
    cr_assert_eq(rr.n, 4, "4 x (1 MiB - 1) fit in 4 MiB, a 5th does not: %zu", rr.n);
    cr_assert_gt(rr.behind_ms, -1);
    memcpy(it, rr.next, sizeof(it));
    mq_records_finish(&rr);
    get(it, 10000, T0, &rr);
    cr_assert_eq(rr.n, 2);
    mq_records_finish(&rr);
}
