/*
 * tests/fuzz/fuzz_messaging.c — libFuzzer target for the messaging
 * engine's decoders of untrusted input (broker/messaging).
 *
 * The first byte picks the decoder, the rest is its input:
 *   0  SendMessageBatch Entries (mq_batch_parse), then the parsed entries
 *      through mq_send_batch on a queue of an in-memory database;
 *   1  SQS MessageAttributes (mq_attributes_check), 2 the SNS ones;
 *   3  an attribute-scope filter policy (mq_filter_policy_check), 4 a
 *      body-scope one;
 *   5  a queue's Attributes map (mq_queue_create, then mq_queue_set on it).
 * Aborts on a broken invariant: a parsed batch outside 1-10 entries or
 * with an entry lacking Id or body, per-entry results that do not add up,
 * checked attributes without a 32-hex-digit MD5 or whose stored form no
 * longer checks, a policy the check accepts that the filter engine
 * refuses, an attribute map accepted on create that get cannot show.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "mq_internal.h"

static sqlite3 *db;
static mq *m;

static void init_once(void)
{
    if (m != NULL) {
        return;
    }
    lm_error e;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || mq_schema_apply(db, &e) != LM_OK ||
        (m = mq_create(db, &e)) == NULL || mq_queue_create(m, "fz", NULL, 0, NULL, &e) != LM_OK) {
        abort();
    }
}

static void batch(const char *s, size_t n)
{
    mq_batch b;
    lm_error e;
    int rc = mq_batch_parse(s, n, &b, &e);
    if (rc == LM_OK) {
        if (b.n < 1 || b.n > MQ_BATCH_MAX) {
            abort();
        }
        for (size_t i = 0; i < b.n; i++) {
            if (b.en[i].id == NULL || b.en[i].body == NULL) {
                abort();
            }
        }
        mq_sent out[MQ_BATCH_MAX];
        size_t failed = 0;
        if (mq_send_batch(m, "fz", b.en, b.n, 0, out, &failed, &e) == LM_OK) {
            size_t bad = 0;
            for (size_t i = 0; i < b.n; i++) {
                bad += out[i].err.code != LM_OK;
            }
            if (bad != failed) {
                abort();
            }
            mq_queue_purge(m, "fz", 0, &e); /* keep the database small */
            mq_sweep(m, 0, 1000, NULL, &e);
            mq_queue_delete(m, "fz", 0, &e);
            mq_queue_create(m, "fz", NULL, 0, NULL, &e);
        }
    }
    mq_batch_finish(&b);
}

static void attributes(const char *s, size_t n, bool sns)
{
    lm_error e;
    cJSON *j = mq_json_parse(s, n, LM_E_MQ_INVALID_PARAMETER, "fuzz", &e);
    if (j == NULL) {
        return;
    }
    char md5[33];
    size_t bytes = 0;
    if (mq_attributes_check(j, sns, md5, &bytes, &e) == LM_OK) {
        size_t l = strlen(md5);
        if (l != 0 && l != 32) {
            abort();
        }
        bool oom = false;
        char *st = mq_attributes_store(j, &oom);
        if (st != NULL) {
            cJSON *back = cJSON_Parse(st);
            char md5b[33];
            if (back == NULL || mq_attributes_check(back, sns, md5b, NULL, &e) != LM_OK ||
                strcmp(md5, md5b) != 0) {
                abort();
            }
            cJSON_Delete(back);
            free(st);
        }
        if (sns) {
            free(mq_attributes_filter_doc(j));
            cJSON_Delete(mq_attributes_sns_envelope(j));
        }
    }
    cJSON_Delete(j);
}

static void policy(const char *s, size_t n, const char *scope)
{
    lm_error e;
    if (mq_filter_policy_check(s, n, scope, &e) == LM_OK) {
        filter_error fe;
        filter *f = filter_compile(s, n, &fe);
        if (f == NULL) {
            abort();
        }
        filter_destroy(f);
    }
}

static void queue_attrs(const char *s, size_t n)
{
    lm_error e;
    cJSON *j = mq_json_parse(s, n, LM_E_INVALID_ATTRIBUTE_VALUE, "fuzz", &e);
    if (j == NULL) {
        return;
    }
    const char *name = "fq";
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "FifoQueue");
    if (f != NULL) {
        name = "fq.fifo";
    }
    if (mq_queue_create(m, name, j, 0, NULL, &e) == LM_OK) {
        cJSON *g = mq_queue_get(m, name, NULL, 0, &e);
        if (g == NULL) {
            abort();
        }
        cJSON_Delete(g);
        mq_queue_set(m, name, j, 0, &e);
        if (mq_queue_delete(m, name, 0, &e) != LM_OK) {
            abort();
        }
        mq_sweep(m, 0, 1000, NULL, &e);
    }
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    init_once();
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0: batch(s, n); break;
    case 1: attributes(s, n, false); break;
    case 2: attributes(s, n, true); break;
    case 3: policy(s, n, NULL); break;
    case 4: policy(s, n, "MessageBody"); break;
    default: queue_attrs(s, n); break;
    }
    return 0;
}
