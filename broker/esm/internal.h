/*
 * broker/esm/internal.h — for esm/ files only: a mapping's configuration
 * (config.c parses, checks and writes it), its run-time state, a batch, and
 * the pollers (queue.c, stream.c) that esm.c's thread calls.
 *
 * Files: esm.c the thread, the ops and the life cycle; config.c the
 * parameters (Lambda's names, ranges and defaults per source) and the
 * stored form; records.c the events' records, filtering and batch
 * responses; queue.c and stream.c the two kinds of source.  Every
 * function here runs on the esm thread.
 */
#ifndef BROKER_ESM_INTERNAL_H
#define BROKER_ESM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/core.h"
#include "esm/esm.h"
#include "filter.h"
#include "lib/list.h"
#include "messaging/mq.h"
#include "store/esm.h"
#include "store/store.h"

#define ESM_PAYLOAD_MAX PROTO_MAX_SYNC_PAYLOAD /* a batch's event: Lambda's 6 MB */
#define ESM_BATCH_MAX 10000
#define ESM_WINDOW_MAX 300
#define ESM_RETRIES_MAX 10000
#define ESM_AGE_MIN 60
#define ESM_AGE_MAX 604800
#define ESM_PARALLEL_MAX 10
#define ESM_CONCURRENCY_MIN 2
#define ESM_CONCURRENCY_MAX 1000
#define ESM_SCALE_START 5 /* concurrent batches a queue mapping starts with */
#define ESM_SCALE_PER_MIN 300 /* added per minute of broker time while busy */
#define ESM_SCALE_CAP 1250 /* per standard-queue mapping (Lambda's) */
#define ESM_RECEIVES_PER_POLL 32 /* receives of one mapping in one poll's transaction */

typedef enum esm_kind { ESM_QUEUE, ESM_STREAM } esm_kind;

/* What a filter's pattern asks of the record's data key (body / data). */
typedef enum esm_key_rule {
    ESM_KEY_ANY, /* the pattern does not name it: metadata only */
    ESM_KEY_JSON, /* an object pattern: the data must be JSON */
    ESM_KEY_PLAIN /* a leaf pattern: the data must not be JSON */
} esm_key_rule;

typedef struct esm_cfg {
    char uuid[37];
    char function[NAME_MAX_LEN + 1];
    char qual[130];
    esm_kind kind;
    char source[MQ_STREAM_NAME_MAX + 1]; /* the queue's or stream's name */
    bool fifo;
    int batch_size;
    int window_s;
    cJSON *filters; /* FilterCriteria ({"Filters":[…]}), NULL when none */
    int start; /* streams: MQ_ITER_TRIM_HORIZON, _LATEST or _AT_TIMESTAMP */
    int64_t start_ts_ms; /* AT_TIMESTAMP */
    int max_retries; /* -1: until the record expires */
    int max_age_s; /* -1: unlimited */
    bool bisect;
    int parallel;
    bool rbif; /* FunctionResponseTypes ["ReportBatchItemFailures"] */
    char on_failure[MQ_ARN_MAX]; /* the destination's canonical ARN, "" */
    int max_conc; /* ScalingConfig.MaximumConcurrency, 0 when unset */
    bool enabled;
    int64_t created_ms, modified_ms; /* broker time */
} esm_cfg;

typedef struct esm_filter {
    filter *f;
    esm_key_rule rule;
} esm_filter;

/* A stream shard's lane as a mapping reads it: with ParallelizationFactor
 * N each shard has N lanes, a record going to the lane of its partition
 * key's hash, each lane with its own checkpoint (stored as "ID#LANE"; a
 * factor of 1 stores just "ID"). */
typedef struct esm_shard {
    char id[MQ_STREAM_SHARD_ID_LEN + 1];
    int lane;
    char key[MQ_STREAM_SHARD_ID_LEN + 8]; /* its checkpoint row's shard column */
    char parent[MQ_STREAM_SHARD_ID_LEN + 1]; /* "" when none */
    char adjacent[MQ_STREAM_SHARD_ID_LEN + 1];
    char seq[MQ_STREAM_SEQ_LEN + 1]; /* checkpoint: the last record done, "" none */
    bool finished; /* closed and read to its end */
    bool busy; /* a batch of it is running */
    bool seen; /* in the last description */
    int attempts; /* failed runs of the batch at the checkpoint */
    int limit; /* bisect: the next batch takes at most this many, 0: batch size */
    int64_t retry_at; /* broker ms: not read again before */
    int64_t window_from; /* broker ms the window started, 0: none */
    int64_t behind_ms; /* MillisBehindLatest of the last read */
} esm_shard;

typedef struct esm_batch esm_batch;

typedef struct esm_map {
    esm_cfg cfg;
    esm_filter flt[ESM_FILTERS_MAX];
    int n_flt;
    int inflight; /* batches running */
    int scale; /* queues: batches allowed at once now */
    int64_t scale_at; /* broker ms since when it has been busy (0: it is not) */
    bool again; /* the last poll stopped at ESM_RECEIVES_PER_POLL */
    esm_batch *fill; /* queues: the batch being gathered (window) */
    int64_t fill_from; /* broker ms its first record arrived */
    int64_t wake_at; /* broker ms: look again then (INT64_MAX: on a notice) */
    double next_poll; /* streams: real ms of the next look */
    bool due; /* queues: polled in this turn */
    esm_shard *shards;
    int n_shards;
    int64_t lag; /* queues: messages waiting; streams: MillisBehindLatest */
    char last_result[64];
    char last_error[600];
    int64_t batches, failures;
    bool deleted; /* freed when its last batch is back */
    list_node node;
} esm_map;

struct esm_batch {
    esm_map *map;
    /* queues */
    mq_msg *msgs;
    size_t n, cap;
    /* streams */
    int shard;
    char first_seq[MQ_STREAM_SEQ_LEN + 1], last_seq[MQ_STREAM_SEQ_LEN + 1];
    char ckpt_seq[MQ_STREAM_SEQ_LEN + 1]; /* the checkpoint after success (filtered included) */
    int n_read; /* records of the shard it covers, filtered ones included */
    char (*seqs)[MQ_STREAM_SEQ_LEN + 1]; /* each record's, in order */
    int64_t first_arrival, last_arrival;
    /* the event */
    cJSON *records;
    size_t bytes; /* the event's size so far */
    /* the outcome (copied under B.mtx) */
    int code; /* LM_OK when the function ran */
    int status;
    char ferr[16]; /* FunctionError: "Handled", "Unhandled", "" on success */
    char version[16]; /* executed version */
    char rid[40];
    char *payload;
    size_t payload_len;
    char err[600];
    /* streams: what the outcome decided (esm_stream_done → _apply) */
    int plan; /* ESM_PLAN_* */
    char plan_seq[MQ_STREAM_SEQ_LEN + 1];
    int plan_limit;
    int plan_attempts;
    bool ok; /* the whole batch succeeded */
    list_node node;
};

enum { ESM_PLAN_ADVANCE, ESM_PLAN_RETRY, ESM_PLAN_BISECT };

/* ---- config.c ---- */
/* Parse and check args into c: create (old NULL: defaults by source) or
 * update (old: the current config, changed by what args holds).  m checks
 * that the source exists (NULL: not checked, for stored configs; stored
 * also accepts UUID, CreatedMs and LastModifiedMs).  c->filters is new. */
int esm_cfg_parse(const cJSON *args, const esm_cfg *old, mq *m, bool stored, int max_filters,
                  esm_cfg *c, lm_error *e);
/* The mapping with Lambda's names: stored adds what only the store needs
 * (CreatedMs…), else the get form.  NULL on ENOMEM. */
cJSON *esm_cfg_json(const esm_cfg *c, bool stored);
void esm_cfg_finish(esm_cfg *c);
/* EventSourceArn (queue:NAME, stream:NAME, an sqs or kinesis ARN) into
 * c->kind, c->source and c->fifo. */
int esm_source_parse(const char *s, esm_cfg *c, lm_error *e);
/* Compile c's filters into flt (n_flt); LM_OK or InvalidParameterValue. */
int esm_filters_compile(const esm_cfg *c, esm_filter *flt, int *n_flt, lm_error *e);
void esm_filters_free(esm_filter *flt, int n);
/* ARNs of the source and function. */
void esm_source_arn(const esm_cfg *c, char out[MQ_ARN_MAX]);
void esm_mapping_arn(const esm_cfg *c, char out[MQ_ARN_MAX]);

/* ---- records.c ---- */
/* Does record (the event record; data: the data key's text) pass the
 * mapping's filters (true when it has none)? */
bool esm_record_passes(const esm_map *mp, const cJSON *record, const char *key, const char *data,
                       size_t len);
/* The batch's event text {"Records":[…]} (malloc'd), *len its length. */
char *esm_event_text(const esm_batch *b, size_t *len);
/* The response of a run with ReportBatchItemFailures: -1 full failure,
 * else the number of failed items written into failed (at most n, the
 * identifiers pointing into the parsed tree *tree, which the caller
 * deletes).  ids/n: the batch's identifiers, for the "not in the batch"
 * rule (queues: every id must be in it). */
int esm_batch_failures(const char *payload, size_t len, bool queue, const char *const *ids,
                       size_t n, const char **failed, cJSON **tree);
void esm_batch_free(esm_batch *b);

/* ---- queue.c and stream.c: the pollers (esm thread) ---- */
/* Gather records into batches while the mapping may run more; batches
 * ready to run go onto *run.  m is in a transaction (mq_begin). */
void esm_queue_poll(esm_map *mp, mq *m, int64_t now, list_head *run);
/* A finished queue batch: delete what succeeded (in the caller's
 * transaction).  True when the whole batch succeeded. */
bool esm_queue_done(esm_batch *b, mq *m, int64_t now);
/* The earliest broker time a queue mapping needs a look (INT64_MAX). */
int64_t esm_queue_wake(esm_map *mp, mq *m, int64_t now);
/* Streams: read each shard that may run; batches onto *run.  c and m are
 * outside a transaction (filtered-only reads checkpoint at once). */
void esm_stream_poll(esm_map *mp, mq *m, sqlconn *c, int64_t now, list_head *run);
/* A finished stream batch, in the caller's transaction (c, m joined):
 * the checkpoint and any on-failure record are written; after the commit
 * esm_stream_apply moves the shard in memory (committed false: the batch
 * runs again). */
bool esm_stream_done(esm_batch *b, mq *m, sqlconn *c, int64_t now);
void esm_stream_apply(esm_batch *b, bool committed, int64_t now);
/* Load the mapping's checkpoints from the store. */
void esm_stream_load(esm_map *mp, sqlconn *c);
/* The factor changes from the mapping's current one to `factor` (no batch
 * of it running): every shard's lanes restart at the lowest checkpoint of
 * its old lanes (records after it may run again: at least once), stored
 * in c's open transaction; memory follows with esm_stream_relane_apply
 * once committed. */
bool esm_stream_relane(esm_map *mp, sqlconn *c, int factor);
void esm_stream_relane_apply(esm_map *mp);

/* ---- esm.c: counters ---- */
void esm_count_filtered(int64_t n);

#endif
