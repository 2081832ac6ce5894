/*
 * broker/esm/stream.c — mappings of streams (Kinesis's semantics, §5.3):
 * one reader per shard (per lane of it with ParallelizationFactor), in
 * order, a durable checkpoint per shard lane, retries,
 * bisection, partial failures and on-failure records.
 *
 * Reading.  A shard is read from its checkpoint (AFTER_SEQUENCE_NUMBER the
 * last record done) or, before its first checkpoint, from the mapping's
 * starting position: TRIM_HORIZON, AT_TIMESTAMP, and LATEST read as "at the
 * mapping's creation time" (AT_TIMESTAMP of CreatedMs), so the position is
 * a fact of the store and a restart before the first batch neither skips
 * records put after the creation nor re-reads older ones.  Reads are
 * stateless (no iterator kept): every look asks for a fresh iterator at the
 * checkpoint, so there is nothing to lose in a crash.
 *
 * Lanes (ParallelizationFactor N).  Each shard has N lanes; a record belongs
 * to the lane of its partition key (FNV-1a of the key, modulo N), so each
 * key's records stay in one lane, in order.  Every lane reads the shard
 * from its own checkpoint (stored as "ID#LANE"), passes over the records of
 * other lanes and runs one batch at a time: up to N batches of a shard run
 * at once, order kept per partition key.  A change of the factor (only
 * while no batch of the mapping runs: ResourceInUseException otherwise)
 * restarts every lane at the lowest checkpoint of the old lanes, in one
 * transaction with the mapping's row.
 *
 * Checkpoints commit only after a batch finished (success, partial
 * failure up to the lowest failed record, or discarded after its retries),
 * in the transaction that also sends the on-failure record, and memory
 * follows the commit (esm_stream_apply): a checkpoint never moves past a
 * record that was not processed, and a broker killed at any moment re-reads
 * from the last committed checkpoint (at least once).  Records no filter
 * matches are passed over: a read whose records all fail the filters
 * checkpoints past them at once.
 *
 * Resharding.  A child shard is read only when every lane of every parent
 * still described is finished (closed and read to its end, which is
 * checkpointed too).
 *
 * Failures.  A function error (or a refused invoke) retries the batch:
 * after 1 s of broker time, doubling to 60 s, the shard waiting meanwhile;
 * the retry reads the same records (no more: records put meanwhile wait).
 * With BisectBatchOnFunctionError a failed batch of n > 1 records is
 * retried as its first n/2 without counting a retry.  A batch whose first
 * record is already older than MaximumRecordAgeInSeconds when it is read is
 * not invoked (also when it is read again for a retry): it is reported
 * (approximateInvokeCount: the runs so far, no responseContext) and passed
 * over.  A batch is discarded
 * when its retries (MaximumRetryAttempts) are spent or its first record is
 * older than MaximumRecordAgeInSeconds; its on-failure record (KinesisBatchInfo,
 * no records) goes to DestinationConfig.OnFailure and the checkpoint moves
 * past it.  With ReportBatchItemFailures the checkpoint moves to just
 * before the lowest sequence number listed, and the retry starts there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esm/internal.h"
#include "messaging/service.h"
#include "messaging/target.h"

#define ESM_BACKOFF_FIRST_MS 1000
#define ESM_BACKOFF_MAX_MS 60000

static void iso(int64_t ms, char out[40])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char d[24];
    strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03dZ", d, (int)(ms % 1000));
}

static esm_shard *find(esm_map *mp, const char *id, int lane)
{
    for (int i = 0; i < mp->n_shards; i++) {
        if (strcmp(mp->shards[i].id, id) == 0 && mp->shards[i].lane == lane) {
            return &mp->shards[i];
        }
    }
    return NULL;
}

static esm_shard *add(esm_map *mp, const char *id, int lane)
{
    esm_shard *s = find(mp, id, lane);
    if (s != NULL) {
        return s;
    }
    esm_shard *v = realloc(mp->shards, (size_t)(mp->n_shards + 1) * sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    mp->shards = v;
    s = &v[mp->n_shards++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->lane = lane;
    if (mp->cfg.parallel > 1) {
        snprintf(s->key, sizeof(s->key), "%s#%d", id, lane);
    } else {
        snprintf(s->key, sizeof(s->key), "%s", id);
    }
    return s;
}

/* A row's shard column: "ID" (lane 0 of a factor of 1) or "ID#LANE". */
static void load_one(void *arg, const char *shard, const char *seq, bool finished)
{
    esm_map *mp = arg;
    char id[MQ_STREAM_SHARD_ID_LEN + 1];
    const char *hash = strchr(shard, '#');
    size_t n = hash != NULL ? (size_t)(hash - shard) : strlen(shard);
    int lane = hash != NULL ? atoi(hash + 1) : 0;
    if (n >= sizeof(id) || lane < 0 || lane >= mp->cfg.parallel ||
        (hash != NULL) != (mp->cfg.parallel > 1)) {
        return; /* a row of another factor: not written by a finished relane */
    }
    memcpy(id, shard, n);
    id[n] = '\0';
    esm_shard *s = add(mp, id, lane);
    if (s != NULL) {
        snprintf(s->seq, sizeof(s->seq), "%s", seq);
        s->finished = finished;
    }
}

void esm_stream_load(esm_map *mp, sqlconn *c)
{
    if (!esm_store_checkpoints(c, mp->cfg.uuid, load_one, mp)) {
        blog(LOG_WARN, "esm %s: its checkpoints could not be read", mp->cfg.uuid);
    }
}

/* A partition key's lane: FNV-1a of the key, modulo the factor. */
static int lane_of(const char *pkey, int factor)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)pkey; *p != '\0'; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return factor > 1 ? (int)(h % (uint32_t)factor) : 0;
}

static struct {
    esm_shard *v;
    int n;
} RELANE;

bool esm_stream_relane(esm_map *mp, sqlconn *c, int factor)
{
    free(RELANE.v);
    RELANE.v = NULL;
    RELANE.n = 0;
    esm_map tmp = {.cfg = mp->cfg};
    tmp.cfg.parallel = factor;
    for (int i = 0; i < mp->n_shards; i++) {
        const esm_shard *o = &mp->shards[i];
        const char *low = o->seq;
        bool done = true;
        for (int j = 0; j < mp->n_shards; j++) {
            const esm_shard *x = &mp->shards[j];
            if (strcmp(x->id, o->id) == 0) {
                low = strcmp(x->seq, low) < 0 ? x->seq : low;
                done = done && x->finished;
            }
        }
        for (int l = 0; l < factor; l++) {
            esm_shard *s = add(&tmp, o->id, l);
            if (s == NULL) {
                free(tmp.shards);
                return false;
            }
            snprintf(s->seq, sizeof(s->seq), "%s", low);
            s->finished = done;
        }
    }
    if (!esm_store_checkpoints_clear(c, mp->cfg.uuid)) {
        free(tmp.shards);
        return false;
    }
    for (int i = 0; i < tmp.n_shards; i++) {
        if (!esm_store_checkpoint_put(c, mp->cfg.uuid, tmp.shards[i].key, tmp.shards[i].seq,
                                      tmp.shards[i].finished)) {
            free(tmp.shards);
            return false;
        }
    }
    RELANE.v = tmp.shards;
    RELANE.n = tmp.n_shards;
    return true;
}

void esm_stream_relane_apply(esm_map *mp)
{
    free(mp->shards);
    mp->shards = RELANE.v;
    mp->n_shards = RELANE.n;
    RELANE.v = NULL;
    RELANE.n = 0;
}

/* The shards as described now; false when the stream cannot be read. */
static bool describe(esm_map *mp, mq *m, int64_t now)
{
    lm_error e;
    cJSON *d = mq_stream_describe(m, mp->cfg.source, now, &e);
    if (d == NULL) {
        snprintf(mp->last_error, sizeof(mp->last_error), "%s: %s", e.type, e.message);
        return false;
    }
    for (int i = 0; i < mp->n_shards; i++) {
        mp->shards[i].seen = false;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "Shards"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "ShardId");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "ParentShardId");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "AdjacentParentShardId");
        for (int l = 0; cJSON_IsString(id) && l < mp->cfg.parallel; l++) {
            esm_shard *s = add(mp, id->valuestring, l);
            if (s != NULL) {
                s->seen = true;
                snprintf(s->parent, sizeof(s->parent), "%s",
                         cJSON_IsString(p) ? p->valuestring : "");
                snprintf(s->adjacent, sizeof(s->adjacent), "%s",
                         cJSON_IsString(a) ? a->valuestring : "");
            }
        }
    }
    cJSON_Delete(d);
    return true;
}

/* A parent still described with a lane not finished holds its child back. */
static bool parents_done(esm_map *mp, const esm_shard *s)
{
    const char *ps[2] = {s->parent, s->adjacent};
    for (int i = 0; i < 2; i++) {
        for (int j = 0; ps[i][0] != '\0' && j < mp->n_shards; j++) {
            const esm_shard *p = &mp->shards[j];
            if (strcmp(p->id, ps[i]) == 0 && p->seen && !p->finished) {
                return false;
            }
        }
    }
    return true;
}

static int iterator(esm_map *mp, mq *m, const esm_shard *s, int64_t now,
                    char it[MQ_STREAM_ITERATOR_MAX], lm_error *e)
{
    if (s->seq[0] != '\0') {
        return mq_stream_iterator(m, mp->cfg.source, s->id, MQ_ITER_AFTER_SEQUENCE, s->seq, 0, now,
                                  it, e);
    }
    if (mp->cfg.start == MQ_ITER_TRIM_HORIZON) {
        return mq_stream_iterator(m, mp->cfg.source, s->id, MQ_ITER_TRIM_HORIZON, NULL, 0, now, it,
                                  e);
    }
    int64_t ts = mp->cfg.start == MQ_ITER_LATEST ? mp->cfg.created_ms : mp->cfg.start_ts_ms;
    return mq_stream_iterator(m, mp->cfg.source, s->id, MQ_ITER_AT_TIMESTAMP, NULL, ts, now, it, e);
}

/* The record as Lambda's Kinesis event holds it. */
static cJSON *kinesis_record(const esm_map *mp, const esm_shard *s, const mq_record *r)
{
    char arn[MQ_ARN_MAX], eid[MQ_STREAM_SHARD_ID_LEN + MQ_STREAM_SEQ_LEN + 2];
    esm_source_arn(&mp->cfg, arn);
    char *b64 = util_base64(r->data, r->len);
    cJSON *o = cJSON_CreateObject();
    cJSON *k = cJSON_AddObjectToObject(o, "kinesis");
    if (b64 == NULL || k == NULL) {
        free(b64);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(k, "kinesisSchemaVersion", "1.0");
    cJSON_AddStringToObject(k, "partitionKey", r->pkey);
    cJSON_AddStringToObject(k, "sequenceNumber", r->seq);
    cJSON_AddStringToObject(k, "data", b64);
    cJSON_AddNumberToObject(k, "approximateArrivalTimestamp", (double)r->arrival_ms / 1000.0);
    free(b64);
    snprintf(eid, sizeof(eid), "%s:%s", s->id, r->seq);
    cJSON_AddStringToObject(o, "eventSource", "aws:kinesis");
    cJSON_AddStringToObject(o, "eventVersion", "1.0");
    cJSON_AddStringToObject(o, "eventID", eid);
    cJSON_AddStringToObject(o, "eventName", "aws:kinesis:record");
    cJSON_AddStringToObject(o, "invokeIdentityArn",
                            "arn:" MQ_ARN_PARTITION ":iam::" MQ_ARN_ACCOUNT ":role/lamina-esm");
    cJSON_AddStringToObject(o, "awsRegion", MQ_ARN_REGION);
    cJSON_AddStringToObject(o, "eventSourceARN", arn);
    return o;
}

/* Filters see the fields of "kinesis" at the top, data decoded. */
static bool passes(const esm_map *mp, const cJSON *rec, const mq_record *r)
{
    if (mp->n_flt == 0) {
        return true;
    }
    cJSON *flat = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(rec, "kinesis"), true);
    char *text = malloc(r->len + 1);
    bool ok = true;
    if (flat != NULL && text != NULL) {
        memcpy(text, r->data, r->len);
        text[r->len] = '\0';
        ok = esm_record_passes(mp, flat, "data", text, r->len);
    }
    free(text);
    cJSON_Delete(flat);
    return ok;
}

static bool batch_push(esm_batch *b, cJSON *rec, const mq_record *r, size_t size)
{
    if (b->n == b->cap) {
        size_t nc = b->cap == 0 ? 64 : b->cap * 2;
        char(*v)[MQ_STREAM_SEQ_LEN + 1] = realloc(b->seqs, nc * sizeof(*v));
        if (v == NULL) {
            return false;
        }
        b->seqs = v;
        b->cap = nc;
    }
    snprintf(b->seqs[b->n], sizeof(b->seqs[0]), "%s", r->seq);
    if (b->n == 0) {
        snprintf(b->first_seq, sizeof(b->first_seq), "%s", r->seq);
        b->first_arrival = r->arrival_ms;
    }
    snprintf(b->last_seq, sizeof(b->last_seq), "%s", r->seq);
    b->last_arrival = r->arrival_ms;
    b->n++;
    cJSON_AddItemToArray(b->records, rec);
    b->bytes += size + (b->n > 1 ? 1 : 0);
    return true;
}

/* Build a batch from what was read: matching records up to the 6 MB cut.
 * *cut: the cut stopped it before the read's end. */
static esm_batch *gather(esm_map *mp, int si, const mq_records *rs, bool *cut)
{
    esm_batch *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->records = cJSON_CreateArray()) == NULL) {
        free(b);
        return NULL;
    }
    b->map = mp;
    b->shard = si;
    b->bytes = strlen("{\"Records\":[]}");
    *cut = false;
    int64_t dropped = 0;
    for (size_t i = 0; i < rs->n; i++) {
        if (lane_of(rs->v[i].pkey, mp->cfg.parallel) != mp->shards[si].lane) {
            snprintf(b->ckpt_seq, sizeof(b->ckpt_seq), "%s", rs->v[i].seq); /* another lane's */
            b->n_read++;
            continue;
        }
        cJSON *rec = kinesis_record(mp, &mp->shards[si], &rs->v[i]);
        if (rec == NULL) {
            break; /* out of memory: the rest is read again */
        }
        if (!passes(mp, rec, &rs->v[i])) {
            cJSON_Delete(rec);
            dropped++;
            snprintf(b->ckpt_seq, sizeof(b->ckpt_seq), "%s", rs->v[i].seq);
            b->n_read++;
            continue;
        }
        char *t = cJSON_PrintUnformatted(rec);
        size_t size = t != NULL ? strlen(t) : 0;
        free(t);
        if (t == NULL || (b->n > 0 && b->bytes + size + 1 > ESM_PAYLOAD_MAX) ||
            !batch_push(b, rec, &rs->v[i], size)) {
            cJSON_Delete(rec);
            *cut = true;
            break;
        }
        snprintf(b->ckpt_seq, sizeof(b->ckpt_seq), "%s", rs->v[i].seq);
        b->n_read++;
    }
    esm_count_filtered(dropped);
    return b;
}

static void send_failure(esm_batch *b, mq *m, const char *cond, int attempts, int64_t now);

/* Read one shard; a batch onto run, or a checkpoint past filtered records. */
static void poll_shard(esm_map *mp, int si, mq *m, sqlconn *c, int64_t now, list_head *run)
{
    esm_shard *s = &mp->shards[si];
    char it[MQ_STREAM_ITERATOR_MAX];
    lm_error e;
    mq_records rs = {0};
    int limit = s->limit > 0 ? s->limit : mp->cfg.batch_size;
    if (iterator(mp, m, s, now, it, &e) != LM_OK ||
        mq_stream_get_records(m, it, limit, now, &rs, &e) != LM_OK) {
        snprintf(mp->last_error, sizeof(mp->last_error), "%s %s: %s", s->id, e.type, e.message);
        mq_records_finish(&rs);
        return;
    }
    s->behind_ms = rs.behind_ms;
    if (rs.n == 0) {
        if (rs.next[0] == '\0' && esm_store_checkpoint_put(c, mp->cfg.uuid, s->key, s->seq, true)) {
            s->finished = true; /* closed and read: its children may start */
            mp->wake_at = now;
        }
        mq_records_finish(&rs);
        return;
    }
    bool cut = false;
    esm_batch *b = gather(mp, si, &rs, &cut);
    bool full = rs.n >= (size_t)limit || cut;
    mq_records_finish(&rs);
    if (b == NULL) {
        return;
    }
    if (b->n == 0) { /* all filtered out: pass over them */
        if (b->ckpt_seq[0] != '\0' &&
            esm_store_checkpoint_put(c, mp->cfg.uuid, s->key, b->ckpt_seq, false)) {
            snprintf(s->seq, sizeof(s->seq), "%s", b->ckpt_seq);
            mp->wake_at = now;
        }
        esm_batch_free(b);
        return;
    }
    if (mp->cfg.max_age_s >= 0 && now - b->first_arrival > (int64_t)mp->cfg.max_age_s * 1000) {
        /* too old to send at all: reported and passed over, never invoked */
        util_uuid4(b->rid);
        send_failure(b, m, "RecordAgeExceeded", s->attempts, now);
        if (esm_store_checkpoint_put(c, mp->cfg.uuid, s->key, b->ckpt_seq, false)) {
            snprintf(s->seq, sizeof(s->seq), "%s", b->ckpt_seq);
            mp->wake_at = now;
        }
        esm_batch_free(b);
        return;
    }
    if (mp->cfg.window_s > 0 && !full && s->limit == 0) {
        if (s->window_from == 0) {
            s->window_from = now;
        }
        int64_t end = s->window_from + (int64_t)mp->cfg.window_s * 1000;
        if (now < end) {
            mp->wake_at = end < mp->wake_at ? end : mp->wake_at;
            esm_batch_free(b);
            return;
        }
    }
    s->window_from = 0;
    s->busy = true;
    mp->inflight++;
    list_push_back(run, &b->node);
}

void esm_stream_poll(esm_map *mp, mq *m, sqlconn *c, int64_t now, list_head *run)
{
    if (!describe(mp, m, now)) {
        return;
    }
    int64_t lag = 0;
    for (int i = 0; i < mp->n_shards; i++) {
        esm_shard *s = &mp->shards[i];
        if (s->seen && !s->finished && !s->busy && now >= s->retry_at && parents_done(mp, s)) {
            poll_shard(mp, i, m, c, now, run);
        }
        s = &mp->shards[i];
        if (s->seen && !s->finished) {
            lag = s->behind_ms > lag ? s->behind_ms : lag;
            if (!s->busy && s->retry_at > now) {
                mp->wake_at = s->retry_at < mp->wake_at ? s->retry_at : mp->wake_at;
            }
        }
    }
    mp->lag = lag;
}

/* ---- outcomes ---- */

static cJSON *failure_record(const esm_batch *b, const char *cond, int attempts)
{
    const esm_map *mp = b->map;
    char arn[MQ_ARN_MAX], t[40];
    cJSON *r = cJSON_CreateObject();
    cJSON *rq = cJSON_AddObjectToObject(r, "requestContext");
    cJSON_AddStringToObject(rq, "requestId", b->rid);
    mq_function_arn(mp->cfg.function, mp->cfg.qual, arn);
    cJSON_AddStringToObject(rq, "functionArn", arn);
    cJSON_AddStringToObject(rq, "condition", cond);
    cJSON_AddNumberToObject(rq, "approximateInvokeCount", attempts);
    if (b->status != 0) { /* a batch found too old when read did not run: no response */
        cJSON *rs = cJSON_AddObjectToObject(r, "responseContext");
        cJSON_AddNumberToObject(rs, "statusCode", b->status);
        cJSON_AddStringToObject(rs, "executedVersion", b->version);
        if (b->ferr[0] != '\0') {
            cJSON_AddStringToObject(rs, "functionError", b->ferr);
        }
    }
    cJSON_AddStringToObject(r, "version", "1.0");
    iso(clk_now_ms(), t);
    cJSON_AddStringToObject(r, "timestamp", t);
    cJSON *k = cJSON_AddObjectToObject(r, "KinesisBatchInfo");
    cJSON_AddStringToObject(k, "shardId", mp->shards[b->shard].id);
    cJSON_AddStringToObject(k, "startSequenceNumber", b->first_seq);
    cJSON_AddStringToObject(k, "endSequenceNumber", b->last_seq);
    iso(b->first_arrival, t);
    cJSON_AddStringToObject(k, "approximateArrivalOfFirstRecord", t);
    iso(b->last_arrival, t);
    cJSON_AddStringToObject(k, "approximateArrivalOfLastRecord", t);
    cJSON_AddNumberToObject(k, "batchSize", (double)b->n);
    esm_source_arn(&mp->cfg, arn);
    cJSON_AddStringToObject(k, "streamArn", arn);
    return r;
}

/* The on-failure record into its queue or topic (this transaction). */
static void send_failure(esm_batch *b, mq *m, const char *cond, int attempts, int64_t now)
{
    esm_map *mp = b->map;
    if (mp->cfg.on_failure[0] == '\0') {
        blog(LOG_WARN, "esm %s: batch %s-%s of %s discarded (%s), no on-failure destination",
             mp->cfg.uuid, b->first_seq, b->last_seq, mp->shards[b->shard].id, cond);
        return;
    }
    cJSON *r = failure_record(b, cond, attempts);
    char *text = r != NULL ? cJSON_PrintUnformatted(r) : NULL;
    cJSON_Delete(r);
    mq_target t;
    lm_error e;
    int rc = text == NULL ? proto_error(&e, LM_E_NOMEM, NULL)
                          : mq_target_parse(mp->cfg.on_failure, strlen(mp->cfg.on_failure), &t, &e);
    if (rc == LM_OK && t.kind == MQ_TARGET_QUEUE) {
        mq_send_entry en = {.body = text, .body_len = strlen(text), .delay_s = -1};
        mq_sent sent;
        if (strlen(t.name) > 5 && strcmp(t.name + strlen(t.name) - 5, ".fifo") == 0) {
            en.group_id = mp->cfg.uuid;
            en.dedup_id = b->rid;
        }
        rc = mq_send(m, t.name, &en, now, &sent, &e);
    } else if (rc == LM_OK) {
        mq_publish_in in = {.message = text, .len = strlen(text)};
        mq_published out;
        rc = mq_publish(m, t.name, &in, now, &out, &e);
    }
    if (rc != LM_OK) {
        blog(LOG_WARN, "esm %s: the on-failure record could not go to %s: %s", mp->cfg.uuid,
             mp->cfg.on_failure, e.message);
        snprintf(mp->last_error, sizeof(mp->last_error), "OnFailure %s: %s", e.type, e.message);
    }
    free(text);
}

/* The sequence number before the lowest listed failure, or "" when it is
 * the batch's first (the checkpoint stays). */
static const char *before_lowest(const esm_batch *b, const char **failed, int k, size_t *at)
{
    const char *low = failed[0];
    for (int i = 1; i < k; i++) {
        low = strcmp(failed[i], low) < 0 ? failed[i] : low;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->seqs[i], low) == 0) {
            *at = i;
            return i > 0 ? b->seqs[i - 1] : "";
        }
    }
    *at = 0;
    return "";
}

/* -1 full failure, 0 success, else the index of the lowest failed record
 * + 1 (partial). */
static int judge(esm_batch *b, size_t *at, const char **keep_seq)
{
    if (b->code != LM_OK || b->ferr[0] != '\0') {
        return -1;
    }
    if (!b->map->cfg.rbif) {
        return 0;
    }
    const char **ids = calloc(b->n + 1, sizeof(*ids));
    const char **failed = calloc(b->n + 1, sizeof(*failed));
    int r = -1;
    cJSON *tree = NULL;
    if (ids != NULL && failed != NULL) {
        for (size_t i = 0; i < b->n; i++) {
            ids[i] = b->seqs[i];
        }
        int k = esm_batch_failures(b->payload, b->payload_len, false, ids, b->n, failed, &tree);
        r = k <= 0 ? k : 1;
        if (k > 0) {
            static char seq[MQ_STREAM_SEQ_LEN + 1];
            snprintf(seq, sizeof(seq), "%s", before_lowest(b, failed, k, at));
            *keep_seq = seq;
        }
    }
    cJSON_Delete(tree);
    free(ids);
    free(failed);
    return r;
}

bool esm_stream_done(esm_batch *b, mq *m, sqlconn *c, int64_t now)
{
    esm_map *mp = b->map;
    esm_shard *s = &mp->shards[b->shard];
    size_t at = 0;
    const char *keep = NULL;
    int r = judge(b, &at, &keep);
    b->plan_attempts = s->attempts;
    if (r == 0) {
        b->plan = ESM_PLAN_ADVANCE;
        snprintf(b->plan_seq, sizeof(b->plan_seq), "%s", b->ckpt_seq);
        esm_store_checkpoint_put(c, mp->cfg.uuid, s->key, b->plan_seq, false);
        return true;
    }
    if (r > 0) { /* partial: done up to the lowest failure */
        snprintf(b->plan_seq, sizeof(b->plan_seq), "%s", keep[0] != '\0' ? keep : s->seq);
        snprintf(b->err, sizeof(b->err), "records from %s reported failed", b->seqs[at]);
    } else {
        snprintf(b->plan_seq, sizeof(b->plan_seq), "%s", s->seq);
    }
    if (r < 0 && mp->cfg.bisect && b->n > 1) {
        b->plan = ESM_PLAN_BISECT;
        b->plan_limit = b->n_read / 2 > 0 ? b->n_read / 2 : 1;
        return false;
    }
    /* a retry of a full failure reads the same records again; one after
     * a partial failure starts at the lowest failed and reads on */
    b->plan_limit = r < 0 ? b->n_read : 0;
    int attempts = s->attempts + 1;
    b->plan_attempts = attempts;
    bool age = mp->cfg.max_age_s >= 0 && now - b->first_arrival > (int64_t)mp->cfg.max_age_s * 1000;
    bool spent = mp->cfg.max_retries >= 0 && attempts > mp->cfg.max_retries;
    if (age || spent) {
        b->plan = ESM_PLAN_ADVANCE;
        snprintf(b->plan_seq, sizeof(b->plan_seq), "%s", b->ckpt_seq);
        send_failure(b, m, age ? "RecordAgeExceeded" : "RetryAttemptsExhausted", attempts, now);
        esm_store_checkpoint_put(c, mp->cfg.uuid, s->key, b->plan_seq, false);
        return false;
    }
    b->plan = ESM_PLAN_RETRY;
    if (strcmp(b->plan_seq, s->seq) != 0) {
        esm_store_checkpoint_put(c, mp->cfg.uuid, s->key, b->plan_seq, false);
    }
    return false;
}

void esm_stream_apply(esm_batch *b, bool committed, int64_t now)
{
    esm_map *mp = b->map;
    esm_shard *s = &mp->shards[b->shard];
    s->busy = false;
    if (!committed) {
        s->retry_at = now + ESM_BACKOFF_FIRST_MS;
        return;
    }
    snprintf(s->seq, sizeof(s->seq), "%s", b->plan_seq);
    if (b->plan == ESM_PLAN_ADVANCE) {
        s->attempts = 0;
        s->limit = 0;
        s->retry_at = 0;
    } else if (b->plan == ESM_PLAN_BISECT) {
        s->limit = b->plan_limit;
        s->retry_at = 0;
    } else {
        s->attempts = b->plan_attempts;
        s->limit = b->plan_limit;
        int64_t d = ESM_BACKOFF_FIRST_MS;
        for (int i = 1; i < s->attempts && d < ESM_BACKOFF_MAX_MS; i++) {
            d *= 2;
        }
        s->retry_at = now + (d > ESM_BACKOFF_MAX_MS ? ESM_BACKOFF_MAX_MS : d);
    }
    mp->wake_at = s->retry_at > now ? s->retry_at : now;
}
