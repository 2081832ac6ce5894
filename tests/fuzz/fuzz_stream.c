/*
 * tests/fuzz/fuzz_stream.c — libFuzzer target for the stream engine's
 * decoders of untrusted input (broker/messaging/stream.c).
 *
 * The first byte picks the decoder, the rest is its input:
 *   0  PutRecords' Records JSON (mq_stream_batch_parse), then the parsed
 *      records through mq_stream_put_batch on a 3-shard stream;
 *   1  a ShardIterator (mq_stream_get_records);
 *   2  GetShardIterator's fields "SHARD\nTYPE\nSEQUENCE\nTIMESTAMP"
 *      (mq_stream_iterator), and a read with the iterator it gives;
 *   3  SplitShard's NewStartingHashKey and MergeShards' shard ids
 *      "SHARD\nKEY" (mq_stream_split, mq_stream_merge).
 * Writes run in a transaction that is rolled back, so the store stays
 * small.  Aborts on a broken invariant: a parsed batch outside 1-500
 * records, per-record results that do not add up, a sequence number or a
 * shard id of the wrong shape, an iterator the engine gave that it then
 * refuses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mq_internal.h"

static sqlite3 *db;
static mq *m;

static void init_once(void)
{
    if (m != NULL) {
        return;
    }
    lm_error e;
    mq_record_out o;
    mq_record_in r = {.pkey = "k", .data = (const unsigned char *)"x", .len = 1};
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || mq_schema_apply(db, &e) != LM_OK ||
        (m = mq_create(db, &e)) == NULL ||
        mq_stream_create(m, "fz", 3, 24, 1000, NULL, &e) != LM_OK ||
        mq_stream_put(m, "fz", &r, 1000, &o, &e) != LM_OK) {
        abort();
    }
}

static void check_out(const mq_record_out *o)
{
    if (strlen(o->seq) != MQ_STREAM_SEQ_LEN || strncmp(o->shard_id, "shardId-", 8) != 0) {
        abort();
    }
}

static void batch(const char *s, size_t n)
{
    static mq_stream_batch b;
    static mq_record_out out[MQ_STREAM_BATCH_MAX];
    lm_error e;
    if (mq_stream_batch_parse(s, n, &b, &e) == LM_OK) {
        if (b.n < 1 || b.n > MQ_STREAM_BATCH_MAX) {
            abort();
        }
        size_t failed = 0;
        if (mq_stream_put_batch(m, "fz", b.r, b.n, 2000, out, &failed, &e) == LM_OK) {
            size_t bad = 0;
            for (size_t i = 0; i < b.n; i++) {
                if (out[i].err.code != LM_OK) {
                    bad++;
                } else {
                    check_out(&out[i]);
                }
            }
            if (bad != failed) {
                abort();
            }
        }
    }
    mq_stream_batch_finish(&b);
}

static void read_it(const char *it, bool must)
{
    mq_records r;
    lm_error e;
    int rc = mq_stream_get_records(m, it, 100, 2000, &r, &e);
    if (rc == LM_OK) {
        for (size_t i = 0; i < r.n; i++) {
            if (strlen(r.v[i].seq) != MQ_STREAM_SEQ_LEN || r.v[i].pkey == NULL) {
                abort();
            }
        }
    } else if (must) {
        abort();
    }
    mq_records_finish(&r);
}

/* Split s at '\n' into up to n NUL-terminated fields (NULL when absent). */
static void fields(char *s, char **f, int n)
{
    for (int i = 0; i < n; i++) {
        f[i] = s;
        char *nl = s != NULL ? strchr(s, '\n') : NULL;
        if (nl != NULL) {
            *nl = '\0';
        }
        s = nl != NULL ? nl + 1 : NULL;
    }
}

static void iterator(char *s)
{
    char *f[4];
    fields(s, f, 4);
    char it[MQ_STREAM_ITERATOR_MAX];
    lm_error e;
    int t = mq_iter_type_parse(f[1]);
    int64_t ts = f[3] != NULL ? strtoll(f[3], NULL, 10) : -1;
    if (mq_stream_iterator(m, "fz", f[0], t < 0 ? MQ_ITER_LATEST : (mq_iter_type)t, f[2], ts, 2000,
                           it, &e) == LM_OK) {
        read_it(it, true);
    }
}

static void reshard(char *s)
{
    char *f[2];
    fields(s, f, 2);
    lm_error e;
    mq_stream_split(m, "fz", f[0], f[1], 2000, &e);
    mq_stream_merge(m, "fz", f[0], f[1], 2000, &e);
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
    lm_error e;
    if (mq_begin(m, &e) != LM_OK) {
        abort();
    }
    switch (data[0] % 4) {
    case 0: batch(s, size - 1); break;
    case 1: read_it(s, false); break;
    case 2: iterator(s); break;
    default: reshard(s); break;
    }
    mq_rollback(m);
    free(s);
    return 0;
}
