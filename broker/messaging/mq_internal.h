/*
 * broker/messaging/mq_internal.h — what the engine's files share: the
 * instance, the statement cache, the operation frame (own transaction or
 * savepoint), a loaded queue and the helpers every file uses.  Not for
 * callers outside broker/messaging/ (the unit tests include it for
 * mq_debug_steps).
 *
 * Map of the files:
 *   core.c    instance, statements, transactions and savepoints, ready
 *             hooks, ids, hashes, base64, time text, strict JSON parsing
 *   schema.c  the tables and indexes, mq_schema_apply
 *   names.c   queue/topic/batch-id/group-id rules, ARNs, references, SQS text
 *   attrs.c   message attributes: checks, MD5OfMessageAttributes, stored
 *             form, the SNS/SQS/Lambda shapes of them
 *   queue.c   queue rows: attributes, counters (settle), expiry, purge,
 *             delete, sweep, next wake
 *   message.c send, receive (FIFO groups, redrive), delete, visibility,
 *             the message's JSON shapes
 *   batch.c   the batch JSON decoder
 *   policy.c  filter policies: the check and the compiled per-topic cache
 *   topic.c   topics, subscriptions, publish, SNS's shapes
 *   stream.c  streams (Kinesis): shards, records, iterators, reshard, sweep
 *   bus.c     event buses, rules, targets, PutEvents routing, retries,
 *             schedules
 *   bus_input.c  InputPath and InputTransformer
 *   bus_tail.c   the in-memory tail rings, the bus counters
 *   bus_archive.c  archives, their sweep, replays
 */
#ifndef BROKER_MESSAGING_MQ_INTERNAL_H
#define BROKER_MESSAGING_MQ_INTERNAL_H

#include <stdio.h>

#include "lib/util.h" /* ids (util_uuid4, util_random_hex) and util_base64 */
#include "mq.h"

#define MQ_STMT_CACHE 224 /* distinct statements the engine prepares */
#define MQ_READY_MAX 64 /* queues remembered for the ready hook per transaction */
#define MQ_EXPIRE_STEP 256 /* expired messages one operation removes */
#define MQ_SCHEMA_VERSION 3 /* 2: streams; 3: bus archives, replays, FIFO targets (schema.c) */

typedef struct mq_topic_cache mq_topic_cache; /* policy.c */
typedef struct mq_tail mq_tail; /* bus_tail.c */
typedef struct mq_bus_archives mq_bus_archives; /* bus_archive.c */

struct mq {
    sqlite3 *db;
    struct {
        const char *sql; /* the static text is the key */
        sqlite3_stmt *st;
    } sc[MQ_STMT_CACHE];
    size_t nsc;
    bool txn; /* inside mq_begin … mq_commit */
    int depth; /* operation frames open (0 or 1) */
    mq_ready_fn ready;
    void *ready_arg;
    mq_invoke_fn invoke;
    void *invoke_arg;
    struct {
        char name[MQ_QUEUE_NAME_MAX + 1];
        int64_t at;
    } pend[MQ_READY_MAX]; /* ready notes of the open transaction */
    size_t npend;
    mq_topic_cache *topics; /* compiled filter sets, by topic */
    size_t ntopics;
    struct mq_bus_cache *buses; /* bus.c: compiled rules, by bus */
    int bus_depth; /* bus.c: routing frames open (no cache eviction inside) */
    mq_tail *tail; /* bus_tail.c: rings and this transaction's events, or NULL */
    size_t tail_op_mark; /* pending tail events when the operation frame opened */
    mq_bus_stats bs, bs_tx, bs_op; /* counters; copies at transaction / frame start */
    bool replaying; /* bus_archive.c: routing a replayed event (not archived again) */
};
/* topic.c: mq_publish inside an operation frame the caller opened (bus
 * targets); same checks and fan-out, no frame of its own. */
int mq_publish_within(mq *m, const char *topic, const mq_publish_in *in, int64_t now_ms,
                      mq_published *out, lm_error *e);
/* bus.c: drop every cached bus (rollback, destroy). */
void mq_bus_cache_free(mq *m);
/* bus_tail.c: note an event routed on bus (pending until the COMMIT);
 * the pending count, drop back to a count, deliver after COMMIT, free. */
void mq_tail_note(mq *m, const char *bus, const char *text);
size_t mq_tail_mark(const mq *m);
void mq_tail_truncate(mq *m, size_t mark);
void mq_tail_commit(mq *m);
void mq_tail_free(mq *m);
/* bus.c: route envelope text on bus bname (by name) as PutEvents does,
 * only through the rules named in only (NULL: all); the tail sees it. */
int mq_bus_route_text(mq *m, const char *bname, const char *id, const char *text, const cJSON *only,
                      int64_t now_ms, mq_event_out *out, lm_error *e);
/* bus_archive.c: the archives of bus bname, compiled (*out NULL when it
 * has none); free; store an event in each whose pattern matches (in the
 * caller's savepoint: a failure is counted away, never fails the put);
 * detach every archive of a bus that is being deleted. */
int mq_archives_load(mq *m, const char *bname, mq_bus_archives **out, lm_error *e);
void mq_archives_free(mq_bus_archives *a);
void mq_archives_store(mq *m, const mq_bus_archives *a, const char *text, int64_t t_ms,
                       int64_t now_ms);
int mq_archives_detach_bus(mq *m, const char *bname, lm_error *e);

/* A queue row, loaded by mq_q_open and written back by mq_q_save. */
typedef struct mq_queue {
    int64_t qid; /* incarnation: messages, groups and dedup rows carry it */
    char name[MQ_QUEUE_NAME_MAX + 1];
    bool fifo;
    int visibility_s, retention_s, delay_s, max_size, wait_s;
    bool content_dedup;
    char dlq[MQ_QUEUE_NAME_MAX + 1]; /* RedrivePolicy target's name, "" if none */
    int max_receives;
    int64_t created_ms, modified_ms, purged_ms; /* purged_ms -1: never */
    int64_t seq; /* FIFO sequence counter */
    int64_t n_msgs, n_delayed, n_inflight; /* counters (see queue.c) */
    int64_t settled_ms;
    int64_t now; /* effective now for this operation: max(now_ms, settled_ms) */
} mq_queue;

/* ---- core.c ---- */
/* The prepared statement for sql (a string literal: its address is the
 * key), reset and unbound.  NULL and *e filled (LM_E_IO) on failure. */
sqlite3_stmt *mq_stmt(mq *m, const char *sql, lm_error *e);
int mq_db_error(mq *m, lm_error *e, const char *what);
/* Run sql (no rows) with the cached statement; LM_OK or LM_E_IO. */
int mq_exec(mq *m, const char *sql, lm_error *e);
/* Step st once: 1 a row, 0 done (and reset), <0 error (*e filled). */
int mq_step(mq *m, sqlite3_stmt *st, lm_error *e);
/* Step a statement that returns no rows to completion: LM_OK or LM_E_IO. */
int mq_done(mq *m, sqlite3_stmt *st, lm_error *e);
/* An operation frame: its own transaction outside mq_begin, a savepoint
 * inside.  op_end commits/releases on rc == LM_OK, else rolls back; it
 * returns rc, or the commit's error. */
int mq_op_begin(mq *m, lm_error *e);
int mq_op_end(mq *m, int rc, lm_error *e);
/* A nested savepoint (batch entries, publish deliveries). */
int mq_sp_begin(mq *m, lm_error *e);
void mq_sp_end(mq *m, bool keep);
/* Note that queue may have a message available at `at` (ready hook). */
void mq_note_ready(mq *m, const char *queue, int64_t at);

/* Ids, random hex and base64 are lib/util.h's (util_uuid4, util_random_hex,
 * util_base64). */
void mq_md5_hex(const void *p, size_t n, char out[33]);
void mq_sha256_hex(const void *p, size_t n, char out[65]);
/* ISO 8601 UTC with milliseconds, "2019-01-02T12:45:07.000Z". */
void mq_iso8601(int64_t ms, char out[32]);
/* Decode base64 text; malloc'd bytes into *out, length *n.  -1 if s is
 * not valid base64 (or ENOMEM: *out NULL with *n == SIZE_MAX). */
int mq_unbase64(const char *s, size_t len, unsigned char **out, size_t *n);
char *mq_strndup(const char *s, size_t n);
const char *mq_col_text(sqlite3_stmt *st, int i); /* never NULL */
/* Strict JSON text (UTF-8, no raw controls, no \u0000 escape, one value
 * and nothing after it) to a cJSON tree the caller owns; NULL with *e
 * filled (code `code`, "what" names the field). */
cJSON *mq_json_parse(const char *s, size_t len, int code, const char *what, lm_error *e);
/* Sum of SQLite VM steps of every statement this instance prepared, and
 * of the steps spent in full scans (tests: cost does not grow with data). */
void mq_debug_steps(mq *m, int64_t *vm, int64_t *fullscan);
/* printf into a fixed buffer (always NUL-terminated). */
#define mq_fmt(buf, ...) snprintf((buf), sizeof(buf), __VA_ARGS__)

/* ---- names.c ---- */
bool mq_valid_queue_name(const char *s, size_t n, bool *fifo);
bool mq_valid_topic_name(const char *s, size_t n);
bool mq_valid_batch_id(const char *s, size_t n);
bool mq_valid_group_id(const char *s, size_t n); /* also dedup ids */
/* A topic reference (NAME or sns ARN) to its name; sub (may be NULL)
 * receives the subscription id when the ARN names one ("" otherwise).
 * LM_E_SNS_INVALID_PARAMETER when it is neither. */
int mq_topic_ref(const char *ref, char name[MQ_TOPIC_NAME_MAX + 1], char sub[64], lm_error *e);
/* A function endpoint (NAME, NAME:QUALIFIER or a function ARN) to its
 * name and qualifier ("" if none).  LM_E_SNS_INVALID_PARAMETER. */
int mq_function_ref(const char *ref, char name[65], char qualifier[129], lm_error *e);
/* SQS's allowed characters: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
 * #x10000-#x10FFFF, as UTF-8.  *at gets the first bad byte. */
bool mq_sqs_text_ok(const char *s, size_t n, size_t *at);
/* Quote s for an error message (cut, control bytes escaped); returns buf. */
const char *mq_q(char *buf, size_t cap, const char *s);

/* ---- attrs.c ---- */
/* The stored form of checked attributes: canonical JSON text (sorted by
 * name; binary as base64), malloc'd; NULL when attrs is NULL or {} (and
 * *oom false), or on ENOMEM (*oom set). */
char *mq_attributes_store(const cJSON *attrs, bool *oom);
/* Checked SNS attributes to SQS ones for raw delivery (String.Array
 * becomes the SQS type String.Array, a String with a label): a new tree,
 * NULL when there are none / ENOMEM. */
cJSON *mq_attributes_sns_to_sqs(const cJSON *sns);
/* Checked SNS attributes in the notification's form {"K":{"Type":…,
 * "Value":…}} (always an object; NULL on ENOMEM). */
cJSON *mq_attributes_sns_envelope(const cJSON *sns);
/* Checked SNS attributes as the document an attribute-scope filter
 * policy matches: {"K": "s" | number | [array]} (Binary left out), as
 * JSON text (malloc'd; NULL on ENOMEM). */
char *mq_attributes_filter_doc(const cJSON *sns);
/* A stored form (JSON text) to SQS's MessageAttributes object, or to
 * Lambda's messageAttributes record shape; NULL on bad text / ENOMEM. */
cJSON *mq_attributes_sqs_json(const char *stored);
cJSON *mq_attributes_lambda_json(const char *stored);

/* ---- queue.c ---- */
/* Load queue `ref` (name or ARN), settle its counters to now and remove
 * up to MQ_EXPIRE_STEP expired messages: QueueDoesNotExist if there is
 * none. */
int mq_q_open(mq *m, const char *ref, int64_t now_ms, mq_queue *q, lm_error *e);
/* Load by name without settling (1 found, 0 none, <0 error). */
int mq_q_load(mq *m, const char *name, mq_queue *q, lm_error *e);
/* Write counters, seq and settled time back. */
int mq_q_save(mq *m, const mq_queue *q, lm_error *e);
/* Adjust the counters for a message whose (visible_at, receive count)
 * goes from the first pair to the second (-1 visible_at: absent). */
void mq_q_account(mq_queue *q, int64_t old_vis, int old_rc, int64_t new_vis, int new_rc);
/* Refresh a FIFO group's row (head availability); deletes an empty one. */
int mq_group_refresh(mq *m, const mq_queue *q, const char *gid, lm_error *e);
/* Remove one message row (accounting, FIFO group refresh). */
int mq_msg_remove(mq *m, mq_queue *q, int64_t id, int64_t vis, int rc, const char *gid,
                  lm_error *e);

/* ---- message.c ---- */
/* Insert one message that passed every check (used by send, publish and
 * redrive).  group/dedup NULL for standard queues; sent_ms/enq_ms the
 * SentTimestamp and the retention clock's start; visible_at when it may be
 * received.  Fills seq_out (FIFO; may be NULL) and counts it. */
typedef struct mq_new_msg {
    const char *message_id;
    const char *body;
    size_t body_len;
    const char *attrs_json; /* stored form or NULL */
    const char *md5_body, *md5_attrs;
    int64_t sent_ms, enq_ms, visible_at;
    const char *group_id, *dedup_id;
} mq_new_msg;
int mq_msg_insert(mq *m, mq_queue *q, const mq_new_msg *nm, char seq_out[24], lm_error *e);
/* Check and store one message in the open queue q, as mq_send does
 * (publish's queue deliveries use it); the caller saves q. */
int mq_send_into(mq *m, mq_queue *q, const mq_send_entry *en, mq_sent *out, lm_error *e);
/* The bytes a message counts against MaximumMessageSize. */
size_t mq_msg_size(size_t body_len, size_t attr_bytes);

/* ---- policy.c ---- */
/* A topic's subscriptions as publish needs them, compiled. */
typedef struct mq_csub {
    int64_t sid;
    char uuid[37];
    bool lambda; /* else sqs */
    bool raw;
    char endpoint[MQ_ARN_MAX]; /* queue name, or function NAME[:QUALIFIER] */
} mq_csub;
/* The cached compiled subscriptions of topic tid at generation gen
 * (loaded and compiled when missing or stale).  Borrowed until the next
 * call. */
mq_topic_cache *mq_topic_cache_get(mq *m, int64_t tid, int64_t gen, lm_error *e);
/* Which subscriptions match: match[i] for i < *n (the cache's subs, in
 * subscription order); attr_doc / body NULL-able.  LM_OK or LM_E_NOMEM. */
int mq_topic_cache_match(mq_topic_cache *c, const char *attr_doc, const char *body, size_t body_len,
                         bool *match, lm_error *e);
size_t mq_topic_cache_count(const mq_topic_cache *c);
const mq_csub *mq_topic_cache_sub(const mq_topic_cache *c, size_t i);
void mq_topic_cache_drop(mq *m, int64_t tid);
void mq_topic_cache_free(mq_topic_cache *c);

#endif
