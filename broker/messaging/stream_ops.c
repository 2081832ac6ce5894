/*
 * broker/messaging/stream_ops.c — the stream-* api operations (Kinesis
 * Data Streams' fields), run on the messaging thread (service.c) with the
 * request's args as JSON, like the queue-* ops of ops.c: read the fields,
 * call the engine (mq.h, stream.c), write the reply.  Presence and JSON
 * types are checked here, values by the engine; every problem is
 * InvalidArgumentException (Kinesis's ValidationException has no code of
 * its own here).  Data travels as base64 text, as in Kinesis's JSON api.
 *
 * A put is answered after the turn's COMMIT (service.c's group commit),
 * so an acknowledged record is on disk.  get-records is a read inside the
 * same turn's transaction; it never waits (Kinesis has no long poll).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonconv.h"
#include "messaging/mq_internal.h" /* mq_unbase64; util_base64 */
#include "messaging/service.h"

static int missing(lm_error *e, const char *field)
{
    return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, "%s is required", field);
}

static int str_arg(const cJSON *args, const char *key, bool required, const char **out, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        return required ? missing(e, key) : LM_OK;
    }
    if (!cJSON_IsString(v)) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, "%s must be a string", key);
    }
    *out = v->valuestring;
    return LM_OK;
}

/* An integer given as a JSON number or decimal text; *out keeps its
 * default when absent. */
static int int_arg(const cJSON *args, const char *key, long lo, long hi, int *out, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (v == NULL || cJSON_IsNull(v)) {
        return LM_OK;
    }
    double d = (double)lo - 1; /* out of range unless read */
    char *end = NULL;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
        d = strtod(v->valuestring, &end);
        d = *end == '\0' ? d : (double)lo - 1;
    }
    /* the range first (NaN fails it), then whole */
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long)d) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, "%s must be an integer from %ld to %ld",
                           key, lo, hi);
    }
    *out = (int)d;
    return LM_OK;
}

nng_msg *mqops_stream_create(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL;
    int shards = 0, hours = MQ_STREAM_RETENTION_MIN_H;
    char arn[MQ_ARN_MAX];
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK) {
        return NULL;
    }
    if (cJSON_GetObjectItemCaseSensitive(c->args, "ShardCount") == NULL) {
        missing(e, "ShardCount");
        return NULL;
    }
    if (int_arg(c->args, "ShardCount", 0, 1000000, &shards, e) != LM_OK ||
        int_arg(c->args, "RetentionPeriodHours", 0, 1000000, &hours, e) != LM_OK ||
        mq_stream_create(m, name, shards, hours, c->now_ms, arn, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "StreamName", name);
    cJSON_AddStringToObject(o, "StreamARN", arn);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_stream_list(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)c;
    cJSON *o = mq_stream_list(m, e);
    return o != NULL ? mqops_reply_json(o, e) : NULL;
}

nng_msg *mqops_stream_get(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL;
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK) {
        return NULL;
    }
    cJSON *d = mq_stream_describe(m, name, c->now_ms, e);
    if (d == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "StreamDescription", d);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_stream_delete(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL;
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK ||
        mq_stream_delete(m, name, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(cJSON_CreateObject(), e);
}

nng_msg *mqops_stream_put(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL, *data = NULL;
    mq_record_in r = {0};
    mq_record_out out;
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK ||
        str_arg(c->args, "PartitionKey", true, &r.pkey, e) != LM_OK ||
        str_arg(c->args, "Data", true, &data, e) != LM_OK ||
        str_arg(c->args, "ExplicitHashKey", false, &r.explicit_hash, e) != LM_OK) {
        return NULL;
    }
    unsigned char *bytes = NULL;
    size_t n = 0;
    if (mq_unbase64(data, strlen(data), &bytes, &n) != 0) {
        proto_error(e, n == SIZE_MAX ? LM_E_NOMEM : LM_E_STREAM_INVALID_ARGUMENT,
                    n == SIZE_MAX ? NULL : "Data must be base64");
        return NULL;
    }
    r.data = bytes;
    r.len = n;
    int rc = mq_stream_put(m, name, &r, c->now_ms, &out, e);
    free(bytes);
    if (rc != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ShardId", out.shard_id);
    cJSON_AddStringToObject(o, "SequenceNumber", out.seq);
    cJSON_AddStringToObject(o, "EncryptionType", "NONE");
    return mqops_reply_json(o, e);
}

static cJSON *batch_reply(const mq_record_out *out, size_t n, size_t failed)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "FailedRecordCount", (double)failed);
    cJSON *list = cJSON_AddArrayToObject(o, "Records");
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (out[i].err.code == LM_OK) {
            cJSON_AddStringToObject(x, "SequenceNumber", out[i].seq);
            cJSON_AddStringToObject(x, "ShardId", out[i].shard_id);
        } else {
            cJSON_AddStringToObject(x, "ErrorCode", out[i].err.type);
            cJSON_AddStringToObject(x, "ErrorMessage", out[i].err.message);
        }
        cJSON_AddItemToArray(list, x);
    }
    cJSON_AddStringToObject(o, "EncryptionType", "NONE");
    return o;
}

nng_msg *mqops_stream_put_batch(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL;
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK) {
        return NULL;
    }
    const cJSON *records = cJSON_GetObjectItemCaseSensitive(c->args, "Records");
    if (records == NULL || cJSON_IsNull(records)) {
        missing(e, "Records");
        return NULL;
    }
    /* the decoder reads text (the fuzzed path), as queue-send-batch does */
    char *text = cJSON_PrintUnformatted(records);
    mq_stream_batch *b = calloc(1, sizeof(*b));
    mq_record_out *out = calloc(MQ_STREAM_BATCH_MAX, sizeof(*out));
    nng_msg *rep = NULL;
    size_t failed = 0;
    if (text == NULL || b == NULL || out == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
    } else if (mq_stream_batch_parse(text, strlen(text), b, e) == LM_OK &&
               mq_stream_put_batch(m, name, b->r, b->n, c->now_ms, out, &failed, e) == LM_OK) {
        rep = mqops_reply_json(batch_reply(out, b->n, failed), e);
    }
    mq_stream_batch_finish(b);
    free(b);
    free(out);
    free(text);
    return rep;
}

/* Timestamp: epoch seconds (a JSON number, fractions allowed, or decimal
 * text) to ms; -1 when absent. */
static int ts_arg(const cJSON *args, int64_t *ms, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "Timestamp");
    *ms = -1;
    if (v == NULL || cJSON_IsNull(v)) {
        return LM_OK;
    }
    double d = -1;
    char *end = NULL;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
        d = strtod(v->valuestring, &end);
        d = *end == '\0' ? d : -1;
    }
    if (!(d >= 0 && d <= 1e11)) { /* NaN fails too */
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "Timestamp must be a time in epoch seconds");
    }
    *ms = (int64_t)(d * 1000.0 + 0.5);
    return LM_OK;
}

nng_msg *mqops_stream_iterator(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL, *shard = NULL, *type = NULL, *seq = NULL;
    int64_t ts = -1;
    char it[MQ_STREAM_ITERATOR_MAX];
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK ||
        str_arg(c->args, "ShardId", true, &shard, e) != LM_OK ||
        str_arg(c->args, "ShardIteratorType", true, &type, e) != LM_OK ||
        str_arg(c->args, "StartingSequenceNumber", false, &seq, e) != LM_OK ||
        ts_arg(c->args, &ts, e) != LM_OK) {
        return NULL;
    }
    int t = mq_iter_type_parse(type);
    if (t < 0) {
        proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                    "ShardIteratorType must be TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, "
                    "AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP");
        return NULL;
    }
    if ((t == MQ_ITER_AT_SEQUENCE || t == MQ_ITER_AFTER_SEQUENCE) && seq == NULL) {
        missing(e, "StartingSequenceNumber");
        return NULL;
    }
    if (t == MQ_ITER_AT_TIMESTAMP && ts < 0) {
        missing(e, "Timestamp");
        return NULL;
    }
    if (mq_stream_iterator(m, name, shard, (mq_iter_type)t, seq, ts, c->now_ms, it, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ShardIterator", it);
    return mqops_reply_json(o, e);
}

static cJSON *records_json(mq_records *r)
{
    cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "Records");
    for (size_t i = 0; i < r->n; i++) {
        cJSON *x = cJSON_CreateObject();
        char *b64 = util_base64(r->v[i].data, r->v[i].len);
        if (b64 == NULL) {
            cJSON_Delete(x);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddStringToObject(x, "SequenceNumber", r->v[i].seq);
        cJSON_AddNumberToObject(x, "ApproximateArrivalTimestamp",
                                (double)r->v[i].arrival_ms / 1000.0);
        cJSON_AddStringToObject(x, "Data", b64);
        cJSON_AddStringToObject(x, "PartitionKey", r->v[i].pkey);
        cJSON_AddItemToArray(list, x);
        free(b64);
        /* the record's bytes are in the reply now: free them early */
        free(r->v[i].data);
        r->v[i].data = NULL;
    }
    if (r->next[0] != '\0') {
        cJSON_AddStringToObject(o, "NextShardIterator", r->next);
    } else {
        cJSON_AddNullToObject(o, "NextShardIterator");
    }
    cJSON_AddNumberToObject(o, "MillisBehindLatest", (double)r->behind_ms);
    if (r->children != NULL) {
        cJSON_AddItemToObject(o, "ChildShards", r->children);
        r->children = NULL;
    }
    return o;
}

nng_msg *mqops_stream_get_records(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *it = NULL;
    int limit = MQ_STREAM_GET_MAX;
    if (str_arg(c->args, "ShardIterator", true, &it, e) != LM_OK ||
        int_arg(c->args, "Limit", 1, MQ_STREAM_GET_MAX, &limit, e) != LM_OK) {
        return NULL;
    }
    mq_records r;
    if (mq_stream_get_records(m, it, limit, c->now_ms, &r, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = records_json(&r);
    mq_records_finish(&r);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_stream_split(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL, *shard = NULL, *key = NULL;
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK ||
        str_arg(c->args, "ShardToSplit", true, &shard, e) != LM_OK ||
        str_arg(c->args, "NewStartingHashKey", true, &key, e) != LM_OK ||
        mq_stream_split(m, name, shard, key, c->now_ms, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(cJSON_CreateObject(), e);
}

nng_msg *mqops_stream_merge(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL, *a = NULL, *b = NULL;
    if (str_arg(c->args, "StreamName", true, &name, e) != LM_OK ||
        str_arg(c->args, "ShardToMerge", true, &a, e) != LM_OK ||
        str_arg(c->args, "AdjacentShardToMerge", true, &b, e) != LM_OK ||
        mq_stream_merge(m, name, a, b, c->now_ms, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(cJSON_CreateObject(), e);
}
