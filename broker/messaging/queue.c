/*
 * broker/messaging/queue.c — queue rows: SQS's attributes (names, ranges,
 * defaults), the approximate counters, retention expiry, purge, delete,
 * the background sweep and the next wake-up time.
 *
 * Counters.  A queue row keeps n_msgs (all its messages), n_delayed (sent,
 * delay not over) and n_inflight (received, visibility not over) as of
 * settled_ms; ApproximateNumberOfMessages is n_msgs minus the other two.
 * Every operation first settles the row to its `now`: the messages whose
 * visible_at fell in (settled_ms, now] became visible meanwhile, and the
 * index (qid, visible_at, rc) counts them by kind (rc 0: was delayed;
 * rc > 0: was in flight) — a range as long as the transitions since the
 * last operation, never the queue.  Then each change of a message moves it
 * between the kinds (mq_q_account) relative to that same now, and the row
 * is written back with the operation.  `now` never goes back: it is
 * max(now_ms, settled_ms), so callers whose clocks differ by a little
 * cannot make a message count twice.
 *
 * Expiry.  A message whose enqueue time is at least MessageRetentionPeriod
 * ago is removed; the period is the queue's current one, so shortening it
 * also removes older messages already there (as SQS does).  Each
 * operation removes up to MQ_EXPIRE_STEP of them through the index
 * (qid, enq_ms), and receive skips any that remain, so a receive never
 * returns an expired message however many there are; mq_sweep does the
 * rest in the background.
 *
 * Purge and delete detach: the name gets a new incarnation (qid) or none,
 * and the old one goes into mq_detached, whose rows mq_sweep removes in
 * budgeted steps.  Both are therefore constant time whatever the depth.
 * Purge also forgets the FIFO deduplication history (a purged queue starts
 * afresh); a queue created again under a deleted one's name is a new
 * queue in every respect.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#include "mq_internal.h"

#define Q_COLS                                                                               \
    "qid, fifo, visibility_s, retention_s, delay_s, max_size, wait_s, content_dedup, dlq, "  \
    "max_receives, created_ms, modified_ms, purged_ms, seq, n_msgs, n_delayed, n_inflight, " \
    "settled_ms"

static void q_read(sqlite3_stmt *st, mq_queue *q)
{
    q->qid = sqlite3_column_int64(st, 0);
    q->fifo = sqlite3_column_int(st, 1) != 0;
    q->visibility_s = sqlite3_column_int(st, 2);
    q->retention_s = sqlite3_column_int(st, 3);
    q->delay_s = sqlite3_column_int(st, 4);
    q->max_size = sqlite3_column_int(st, 5);
    q->wait_s = sqlite3_column_int(st, 6);
    q->content_dedup = sqlite3_column_int(st, 7) != 0;
    mq_fmt(q->dlq, "%s", mq_col_text(st, 8));
    q->max_receives = sqlite3_column_int(st, 9);
    q->created_ms = sqlite3_column_int64(st, 10);
    q->modified_ms = sqlite3_column_int64(st, 11);
    q->purged_ms = sqlite3_column_int64(st, 12);
    q->seq = sqlite3_column_int64(st, 13);
    q->n_msgs = sqlite3_column_int64(st, 14);
    q->n_delayed = sqlite3_column_int64(st, 15);
    q->n_inflight = sqlite3_column_int64(st, 16);
    q->settled_ms = sqlite3_column_int64(st, 17);
}

int mq_q_load(mq *m, const char *name, mq_queue *q, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT " Q_COLS " FROM mq_queues WHERE name=?1", e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r == 1) {
        memset(q, 0, sizeof(*q));
        q_read(st, q);
        mq_fmt(q->name, "%s", name);
        q->now = q->settled_ms;
        sqlite3_reset(st);
    }
    return r;
}

int mq_q_save(mq *m, const mq_queue *q, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "UPDATE mq_queues SET seq=?2, n_msgs=?3, n_delayed=?4, "
                               "n_inflight=?5, settled_ms=?6 WHERE qid=?1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_int64(st, 2, q->seq);
    sqlite3_bind_int64(st, 3, q->n_msgs);
    sqlite3_bind_int64(st, 4, q->n_delayed);
    sqlite3_bind_int64(st, 5, q->n_inflight);
    sqlite3_bind_int64(st, 6, q->settled_ms);
    return mq_done(m, st, e);
}

enum { K_ABSENT, K_VISIBLE, K_DELAYED, K_INFLIGHT };

static int kind(const mq_queue *q, int64_t vis, int rc)
{
    if (vis < 0) {
        return K_ABSENT;
    }
    if (vis <= q->now) {
        return K_VISIBLE;
    }
    return rc == 0 ? K_DELAYED : K_INFLIGHT;
}

static void bump(mq_queue *q, int k, int d)
{
    if (k == K_ABSENT) {
        return;
    }
    q->n_msgs += d;
    if (k == K_DELAYED) {
        q->n_delayed += d;
    } else if (k == K_INFLIGHT) {
        q->n_inflight += d;
    }
}

void mq_q_account(mq_queue *q, int64_t old_vis, int old_rc, int64_t new_vis, int new_rc)
{
    bump(q, kind(q, old_vis, old_rc), -1);
    bump(q, kind(q, new_vis, new_rc), +1);
    /* counters are approximate by name, never negative */
    q->n_msgs = q->n_msgs < 0 ? 0 : q->n_msgs;
    q->n_delayed = q->n_delayed < 0 ? 0 : q->n_delayed;
    q->n_inflight = q->n_inflight < 0 ? 0 : q->n_inflight;
}

static int settle(mq *m, mq_queue *q, lm_error *e)
{
    if (q->now <= q->settled_ms) {
        q->now = q->settled_ms;
        return LM_OK;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT COALESCE(SUM(rc=0),0), COALESCE(SUM(rc>0),0) FROM "
                               "mq_messages WHERE qid=?1 AND visible_at>?2 AND visible_at<=?3",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_int64(st, 2, q->settled_ms);
    sqlite3_bind_int64(st, 3, q->now);
    if (mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    q->n_delayed -= sqlite3_column_int64(st, 0);
    q->n_inflight -= sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    q->n_delayed = q->n_delayed < 0 ? 0 : q->n_delayed;
    q->n_inflight = q->n_inflight < 0 ? 0 : q->n_inflight;
    q->settled_ms = q->now;
    return LM_OK;
}

int mq_group_refresh(mq *m, const mq_queue *q, const char *gid, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT visible_at FROM mq_messages WHERE qid=?1 AND gid=?2 "
                               "ORDER BY seq LIMIT 1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_text(st, 2, gid, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r < 0) {
        return LM_E_IO;
    }
    int64_t head = r == 1 ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (r == 1) {
        st = mq_stmt(m,
                     "INSERT INTO mq_groups(qid, gid, avail_at) VALUES(?1, ?2, ?3) "
                     "ON CONFLICT(qid, gid) DO UPDATE SET avail_at=excluded.avail_at",
                     e);
    } else {
        st = mq_stmt(m, "DELETE FROM mq_groups WHERE qid=?1 AND gid=?2", e);
    }
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_text(st, 2, gid, -1, SQLITE_STATIC);
    if (r == 1) {
        sqlite3_bind_int64(st, 3, head);
    }
    return mq_done(m, st, e);
}

int mq_msg_remove(mq *m, mq_queue *q, int64_t id, int64_t vis, int rc, const char *gid, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "DELETE FROM mq_messages WHERE id=?1", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, id);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    mq_q_account(q, vis, rc, -1, 0);
    return gid != NULL && *gid != '\0' ? mq_group_refresh(m, q, gid, e) : LM_OK;
}

typedef struct doomed {
    int64_t id, vis;
    int rc;
    char gid[MQ_GROUP_ID_MAX + 1];
} doomed;

/* Remove up to budget expired messages; *removed counts them. */
static int expire(mq *m, mq_queue *q, size_t budget, size_t *removed, lm_error *e)
{
    *removed = 0;
    if (budget == 0) {
        return LM_OK;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT id, visible_at, rc, gid FROM mq_messages WHERE qid=?1 "
                               "AND enq_ms<=?2 ORDER BY enq_ms LIMIT ?3",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_int64(st, 2, q->now - (int64_t)q->retention_s * 1000);
    sqlite3_bind_int64(st, 3, (int64_t)budget);
    doomed *d = NULL;
    size_t n = 0, cap = 0;
    int r, rc = LM_OK;
    while ((r = mq_step(m, st, e)) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            doomed *nd = realloc(d, cap * sizeof(*d));
            if (nd == NULL) {
                sqlite3_reset(st);
                free(d);
                return proto_error(e, LM_E_NOMEM, NULL);
            }
            d = nd;
        }
        d[n].id = sqlite3_column_int64(st, 0);
        d[n].vis = sqlite3_column_int64(st, 1);
        d[n].rc = sqlite3_column_int(st, 2);
        mq_fmt(d[n].gid, "%s", mq_col_text(st, 3));
        n++;
    }
    if (r < 0) {
        rc = LM_E_IO;
    }
    for (size_t i = 0; rc == LM_OK && i < n; i++) {
        rc = mq_msg_remove(m, q, d[i].id, d[i].vis, d[i].rc, d[i].gid, e);
    }
    free(d);
    *removed = n;
    return rc;
}

static int q_prepare(mq *m, mq_queue *q, int64_t now_ms, size_t budget, size_t *removed,
                     lm_error *e)
{
    size_t dummy;
    q->now = now_ms > q->settled_ms ? now_ms : q->settled_ms;
    if (settle(m, q, e) != LM_OK) {
        return LM_E_IO;
    }
    return expire(m, q, budget, removed != NULL ? removed : &dummy, e);
}

int mq_q_open(mq *m, const char *ref, int64_t now_ms, mq_queue *q, lm_error *e)
{
    char name[MQ_QUEUE_NAME_MAX + 1];
    char qb[96];
    int rc = mq_queue_ref(ref, name, e);
    if (rc != LM_OK) {
        return rc;
    }
    int r = mq_q_load(m, name, q, e);
    if (r < 0) {
        return LM_E_IO;
    }
    if (r == 0) {
        return proto_error(e, LM_E_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist: %s",
                           mq_q(qb, sizeof(qb), name));
    }
    return q_prepare(m, q, now_ms, MQ_EXPIRE_STEP, NULL, e);
}

/* ---- attributes ---- */

typedef struct qset {
    int visibility_s, retention_s, delay_s, max_size, wait_s;
    bool fifo, content_dedup, fifo_given;
    char dlq[MQ_QUEUE_NAME_MAX + 1];
    int max_receives;
} qset;

static const struct {
    const char *name;
    int lo, hi;
    size_t off;
} int_attrs[] = {
    {"DelaySeconds", 0, MQ_DELAY_MAX, offsetof(qset, delay_s)},
    {"MaximumMessageSize", MQ_MSG_SIZE_MIN, MQ_MSG_SIZE_MAX, offsetof(qset, max_size)},
    {"MessageRetentionPeriod", MQ_RETENTION_MIN, MQ_RETENTION_MAX, offsetof(qset, retention_s)},
    {"ReceiveMessageWaitTimeSeconds", 0, MQ_WAIT_MAX, offsetof(qset, wait_s)},
    {"VisibilityTimeout", 0, MQ_VISIBILITY_MAX, offsetof(qset, visibility_s)},
};

static void qset_defaults(qset *s)
{
    memset(s, 0, sizeof(*s));
    s->visibility_s = 30;
    s->retention_s = 345600;
    s->delay_s = 0;
    s->max_size = MQ_MSG_SIZE_DEFAULT;
    s->wait_s = 0;
}

static void qset_from(qset *s, const mq_queue *q)
{
    memset(s, 0, sizeof(*s));
    s->visibility_s = q->visibility_s;
    s->retention_s = q->retention_s;
    s->delay_s = q->delay_s;
    s->max_size = q->max_size;
    s->wait_s = q->wait_s;
    s->fifo = q->fifo;
    s->content_dedup = q->content_dedup;
    mq_fmt(s->dlq, "%s", q->dlq);
    s->max_receives = q->max_receives;
}

static bool qset_same(const qset *a, const qset *b)
{
    return a->visibility_s == b->visibility_s && a->retention_s == b->retention_s &&
           a->delay_s == b->delay_s && a->max_size == b->max_size && a->wait_s == b->wait_s &&
           a->fifo == b->fifo && a->content_dedup == b->content_dedup &&
           strcmp(a->dlq, b->dlq) == 0 && a->max_receives == b->max_receives;
}

/* An attribute's value as text: strings as they are; integers and
 * booleans for convenience.  NULL if it is none of them. */
static const char *attr_text(const cJSON *v, char buf[32])
{
    if (cJSON_IsString(v)) {
        return v->valuestring;
    }
    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v) ? "true" : "false";
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= -1e15 && v->valuedouble <= 1e15 &&
        v->valuedouble == (double)(int64_t)v->valuedouble) {
        snprintf(buf, 32, "%" PRId64, (int64_t)v->valuedouble);
        return buf;
    }
    return NULL;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    if (*s == '\0' || strlen(s) > 10) {
        return false;
    }
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        v = v * 10 + (*p - '0');
    }
    if (v < lo || v > hi) {
        return false;
    }
    *out = (int)v;
    return true;
}

static int redrive_bad(lm_error *e, const char *why)
{
    return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                       "Value for parameter RedrivePolicy is invalid. Reason: %s", why);
}

/* RedrivePolicy: JSON text {"deadLetterTargetArn":ARN,"maxReceiveCount":N}
 * or "" (none).  self: the queue's own name. */
static int parse_redrive(mq *m, const char *text, const char *self, qset *s, lm_error *e)
{
    if (*text == '\0') {
        s->dlq[0] = '\0';
        s->max_receives = 0;
        return LM_OK;
    }
    cJSON *j = mq_json_parse(text, strlen(text), LM_E_MQ_INVALID_PARAMETER, "RedrivePolicy", e);
    if (j == NULL) {
        return LM_E_MQ_INVALID_PARAMETER;
    }
    int rc = LM_OK;
    char buf[32], name[MQ_QUEUE_NAME_MAX + 1];
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "deadLetterTargetArn");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "maxReceiveCount");
    const char *nt = n != NULL ? attr_text(n, buf) : NULL;
    int count = 0;
    mq_queue dq;
    if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != 2 || !cJSON_IsString(t) || nt == NULL) {
        rc = redrive_bad(e, "it takes deadLetterTargetArn and maxReceiveCount, nothing else");
    } else if (!parse_int(nt, 1, MQ_MAX_RECEIVES_MAX, &count)) {
        rc = redrive_bad(e, "maxReceiveCount must be 1-1000");
    } else if (mq_queue_ref(t->valuestring, name, NULL) != LM_OK) {
        rc = redrive_bad(e, "deadLetterTargetArn is not a queue ARN");
    } else if (strcmp(name, self) == 0) {
        rc = redrive_bad(e, "a queue cannot be its own dead-letter queue");
    } else {
        int r = mq_q_load(m, name, &dq, e);
        if (r < 0) {
            rc = LM_E_IO;
        } else if (r == 0) {
            rc = redrive_bad(e, "Dead letter target does not exist");
        } else if (dq.fifo != s->fifo) {
            rc = redrive_bad(e, "the dead-letter queue of a FIFO queue must be FIFO, and of a "
                                "standard queue standard");
        } else {
            mq_fmt(s->dlq, "%s", name);
            s->max_receives = count;
        }
    }
    cJSON_Delete(j);
    return rc;
}

static int parse_one(mq *m, const cJSON *a, bool create, const char *self, qset *s, lm_error *e)
{
    char buf[32], qb[80];
    const char *v = attr_text(a, buf);
    char *printed = NULL;
    if (v == NULL && cJSON_IsObject(a) && strcmp(a->string, "RedrivePolicy") == 0) {
        v = printed = cJSON_PrintUnformatted(a); /* an object, for convenience */
    }
    if (v == NULL) {
        return proto_error(e, LM_E_INVALID_ATTRIBUTE_VALUE,
                           "Invalid value for the parameter %s: not a string",
                           mq_q(qb, sizeof(qb), a->string));
    }
    int rc = LM_OK;
    for (size_t i = 0; i < sizeof(int_attrs) / sizeof(int_attrs[0]); i++) {
        if (strcmp(a->string, int_attrs[i].name) == 0) {
            int *slot = (int *)((char *)s + int_attrs[i].off);
            if (!parse_int(v, int_attrs[i].lo, int_attrs[i].hi, slot)) {
                rc = proto_error(e, LM_E_INVALID_ATTRIBUTE_VALUE,
                                 "Invalid value for the parameter %s: %d-%d", int_attrs[i].name,
                                 int_attrs[i].lo, int_attrs[i].hi);
            }
            return rc;
        }
    }
    bool istrue = strcmp(v, "true") == 0, isbool = istrue || strcmp(v, "false") == 0;
    if (strcmp(a->string, "RedrivePolicy") == 0) {
        rc = parse_redrive(m, v, self, s, e);
    } else if (strcmp(a->string, "FifoQueue") == 0 && create) {
        s->fifo = istrue;
        s->fifo_given = true;
        rc = isbool ? LM_OK
                    : proto_error(e, LM_E_INVALID_ATTRIBUTE_VALUE,
                                  "Invalid value for the parameter FifoQueue: true or false");
    } else if (strcmp(a->string, "ContentBasedDeduplication") == 0 && s->fifo) {
        s->content_dedup = istrue;
        rc = isbool ? LM_OK
                    : proto_error(e, LM_E_INVALID_ATTRIBUTE_VALUE,
                                  "Invalid value for the parameter ContentBasedDeduplication: "
                                  "true or false");
    } else {
        rc = proto_error(e, LM_E_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s",
                         mq_q(qb, sizeof(qb), a->string));
    }
    free(printed);
    return rc;
}

/* Apply attributes onto s (defaults or the queue's values).  FifoQueue is
 * read first so that the FIFO-only attributes know the kind. */
static int parse_attrs(mq *m, const cJSON *attrs, bool create, const char *self, qset *s,
                       lm_error *e)
{
    if (attrs == NULL) {
        return LM_OK;
    }
    if (!cJSON_IsObject(attrs)) {
        return proto_error(e, LM_E_INVALID_ATTRIBUTE_VALUE, "Attributes must be an object");
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(attrs, "FifoQueue");
    if (create && f != NULL) {
        int rc = parse_one(m, f, create, self, s, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
    for (const cJSON *a = attrs->child; a != NULL; a = a->next) {
        if (create && strcmp(a->string, "FifoQueue") == 0) {
            continue;
        }
        int rc = parse_one(m, a, create, self, s, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
    return LM_OK;
}

static int next_qid(mq *m, int64_t *qid, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO meta(key, value) VALUES('messaging_qid', '1') "
                               "ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+1 "
                               "RETURNING CAST(value AS INTEGER)",
                               e);
    if (st == NULL || mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    *qid = sqlite3_column_int64(st, 0);
    return mq_done(m, st, e);
}

static int count_rows(mq *m, const char *sql, int64_t *n, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, sql, e);
    if (st == NULL || mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return LM_OK;
}

static int insert_queue(mq *m, const char *name, const qset *s, int64_t now, lm_error *e)
{
    int64_t qid = 0;
    if (next_qid(m, &qid, e) != LM_OK) {
        return LM_E_IO;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO mq_queues(name, qid, fifo, visibility_s, "
                               "retention_s, delay_s, max_size, wait_s, content_dedup, dlq, "
                               "max_receives, created_ms, modified_ms, purged_ms, seq, n_msgs, "
                               "n_delayed, n_inflight, settled_ms) VALUES(?1, ?2, ?3, ?4, ?5, "
                               "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, -1, 0, 0, 0, 0, ?12)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, qid);
    sqlite3_bind_int(st, 3, s->fifo);
    sqlite3_bind_int(st, 4, s->visibility_s);
    sqlite3_bind_int(st, 5, s->retention_s);
    sqlite3_bind_int(st, 6, s->delay_s);
    sqlite3_bind_int(st, 7, s->max_size);
    sqlite3_bind_int(st, 8, s->wait_s);
    sqlite3_bind_int(st, 9, s->content_dedup);
    sqlite3_bind_text(st, 10, s->dlq, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, s->max_receives);
    sqlite3_bind_int64(st, 12, now);
    return mq_done(m, st, e);
}

static int queue_create(mq *m, const char *name, const cJSON *attributes, int64_t now_ms,
                        lm_error *e)
{
    char qb[96];
    bool fifo_name = false;
    if (name == NULL || !mq_valid_queue_name(name, strlen(name), &fifo_name)) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "invalid queue name %s: 1-80 characters of A-Z a-z 0-9 _ -, a FIFO "
                           "queue's ending in .fifo",
                           mq_q(qb, sizeof(qb), name));
    }
    qset s;
    qset_defaults(&s);
    int rc = parse_attrs(m, attributes, true, name, &s, e);
    if (rc != LM_OK) {
        return rc;
    }
    if (s.fifo != fifo_name) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           s.fifo ? "The name of a FIFO queue must end with the .fifo suffix"
                                  : "A queue whose name ends in .fifo needs the attribute "
                                    "FifoQueue=true");
    }
    mq_queue q;
    int r = mq_q_load(m, name, &q, e);
    if (r < 0) {
        return LM_E_IO;
    }
    if (r == 1) {
        qset have;
        qset_from(&have, &q);
        return qset_same(&have, &s) ? LM_OK
                                    : proto_error(e, LM_E_QUEUE_ALREADY_EXISTS,
                                                  "A queue named %s already exists with "
                                                  "different attributes",
                                                  mq_q(qb, sizeof(qb), name));
    }
    int64_t n = 0;
    if (count_rows(m, "SELECT COUNT(*) FROM mq_queues", &n, e) != LM_OK) {
        return LM_E_IO;
    }
    if (n >= MQ_QUEUES_MAX) {
        return proto_error(e, LM_E_OVER_LIMIT, "there are already %d queues", MQ_QUEUES_MAX);
    }
    return insert_queue(m, name, &s, now_ms, e);
}

int mq_queue_create(mq *m, const char *name, const cJSON *attributes, int64_t now_ms,
                    char arn[MQ_ARN_MAX], lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_op_end(m, queue_create(m, name, attributes, now_ms, e), e);
    if (rc == LM_OK && arn != NULL) {
        mq_queue_arn(name, arn);
    }
    return rc;
}

static int queue_set(mq *m, const char *queue, const cJSON *attributes, int64_t now_ms, lm_error *e)
{
    mq_queue q;
    int rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc != LM_OK) {
        return rc;
    }
    qset s;
    qset_from(&s, &q);
    rc = parse_attrs(m, attributes, false, q.name, &s, e);
    if (rc != LM_OK) {
        return rc;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "UPDATE mq_queues SET visibility_s=?2, retention_s=?3, "
                               "delay_s=?4, max_size=?5, wait_s=?6, content_dedup=?7, dlq=?8, "
                               "max_receives=?9, modified_ms=?10 WHERE qid=?1",
                               e);
    if (st == NULL || mq_q_save(m, &q, e) != LM_OK) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q.qid);
    sqlite3_bind_int(st, 2, s.visibility_s);
    sqlite3_bind_int(st, 3, s.retention_s);
    sqlite3_bind_int(st, 4, s.delay_s);
    sqlite3_bind_int(st, 5, s.max_size);
    sqlite3_bind_int(st, 6, s.wait_s);
    sqlite3_bind_int(st, 7, s.content_dedup);
    sqlite3_bind_text(st, 8, s.dlq, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, s.max_receives);
    sqlite3_bind_int64(st, 10, q.now);
    return mq_done(m, st, e);
}

int mq_queue_set(mq *m, const char *queue, const cJSON *attributes, int64_t now_ms, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    return mq_op_end(m, queue_set(m, queue, attributes, now_ms, e), e);
}

int mq_queue_counts(mq *m, const char *queue, int64_t now_ms, mq_counts *c, lm_error *e)
{
    mq_queue q;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc == LM_OK) {
        rc = mq_q_save(m, &q, e);
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK) {
        c->not_visible = q.n_inflight;
        c->delayed = q.n_delayed;
        c->visible = q.n_msgs - q.n_inflight - q.n_delayed;
        c->visible = c->visible < 0 ? 0 : c->visible;
    }
    return rc;
}

static const char *const attr_names[] = {
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
};
#define N_ATTR_NAMES (sizeof(attr_names) / sizeof(attr_names[0]))

/* The value of attribute i for q, or NULL when the queue has none. */
static const char *attr_value(const mq_queue *q, size_t i, char *buf, size_t cap)
{
    int64_t visible = q->n_msgs - q->n_inflight - q->n_delayed;
    int64_t v[] = {visible < 0 ? 0 : visible, q->n_inflight, q->n_delayed, q->created_ms / 1000,
                   q->modified_ms / 1000};
    if (i < 5) {
        snprintf(buf, cap, "%" PRId64, v[i]);
    } else if (i == 5) {
        mq_queue_arn(q->name, buf);
    } else if (i < 11) {
        int w[] = {q->delay_s, q->max_size, q->retention_s, q->wait_s, q->visibility_s};
        snprintf(buf, cap, "%d", w[i - 6]);
    } else if (i == 11) {
        char arn[MQ_ARN_MAX];
        if (q->dlq[0] == '\0') {
            return NULL;
        }
        mq_queue_arn(q->dlq, arn);
        snprintf(buf, cap, "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":%d}", arn,
                 q->max_receives);
    } else if (!q->fifo) {
        return NULL;
    } else {
        snprintf(buf, cap, "%s", i == 12 || q->content_dedup ? "true" : "false");
    }
    return buf;
}

static int check_names(const cJSON *names, bool want[N_ATTR_NAMES], lm_error *e)
{
    char qb[80];
    bool all = names == NULL;
    if (names != NULL && !cJSON_IsArray(names)) {
        return proto_error(e, LM_E_INVALID_ATTRIBUTE_NAME, "AttributeNames must be an array");
    }
    for (size_t i = 0; i < N_ATTR_NAMES; i++) {
        want[i] = all;
    }
    for (const cJSON *c = names != NULL ? names->child : NULL; c != NULL; c = c->next) {
        const char *s = cJSON_GetStringValue(c);
        bool all_of = s != NULL && strcmp(s, "All") == 0, found = all_of;
        for (size_t i = 0; s != NULL && i < N_ATTR_NAMES; i++) {
            if (all_of || strcmp(s, attr_names[i]) == 0) {
                want[i] = found = true;
            }
        }
        if (!found) {
            return proto_error(e, LM_E_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s",
                               mq_q(qb, sizeof(qb), s != NULL ? s : "(not a string)"));
        }
    }
    return LM_OK;
}

cJSON *mq_queue_get(mq *m, const char *queue, const cJSON *names, int64_t now_ms, lm_error *e)
{
    bool want[N_ATTR_NAMES];
    mq_queue q;
    if (check_names(names, want, e) != LM_OK || mq_op_begin(m, e) != LM_OK) {
        return NULL;
    }
    int rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc == LM_OK) {
        rc = mq_q_save(m, &q, e);
    }
    if (mq_op_end(m, rc, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o != NULL && i < N_ATTR_NAMES; i++) {
        char buf[MQ_ARN_MAX + 64];
        const char *v = want[i] ? attr_value(&q, i, buf, sizeof(buf)) : NULL;
        if (v != NULL && cJSON_AddStringToObject(o, attr_names[i], v) == NULL) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    if (o == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
    }
    return o;
}

cJSON *mq_queue_list(mq *m, const char *prefix, lm_error *e)
{
    const char *p = prefix != NULL ? prefix : "";
    size_t pl = strlen(p);
    sqlite3_stmt *st = mq_stmt(m, "SELECT name FROM mq_queues WHERE name>=?1 ORDER BY name", e);
    cJSON *a = st != NULL ? cJSON_CreateArray() : NULL;
    if (a == NULL) {
        return NULL;
    }
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        const char *name = mq_col_text(st, 0);
        if (strncmp(name, p, pl) != 0) {
            sqlite3_reset(st);
            break; /* past the names with this prefix */
        }
        char arn[MQ_ARN_MAX];
        mq_queue_arn(name, arn);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(a, o);
        if (cJSON_AddStringToObject(o, "QueueName", name) == NULL ||
            cJSON_AddStringToObject(o, "QueueArn", arn) == NULL) {
            sqlite3_reset(st);
            cJSON_Delete(a);
            proto_error(e, LM_E_NOMEM, NULL);
            return NULL;
        }
    }
    if (r < 0) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

static int detach(mq *m, int64_t qid, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "INSERT OR IGNORE INTO mq_detached(qid) VALUES(?1)", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, qid);
    return mq_done(m, st, e);
}

static int queue_purge(mq *m, const char *queue, int64_t now_ms, lm_error *e)
{
    mq_queue q;
    int rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc != LM_OK) {
        return rc;
    }
    if (q.purged_ms >= 0 && q.now < q.purged_ms + MQ_PURGE_INTERVAL_MS) {
        return proto_error(e, LM_E_PURGE_IN_PROGRESS,
                           "Only one PurgeQueue operation on %s is allowed every 60 seconds",
                           q.name);
    }
    int64_t qid = 0;
    if (detach(m, q.qid, e) != LM_OK || next_qid(m, &qid, e) != LM_OK) {
        return LM_E_IO;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "UPDATE mq_queues SET qid=?2, n_msgs=0, n_delayed=0, "
                               "n_inflight=0, purged_ms=?3, settled_ms=?3 WHERE qid=?1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q.qid);
    sqlite3_bind_int64(st, 2, qid);
    sqlite3_bind_int64(st, 3, q.now);
    return mq_done(m, st, e);
}

int mq_queue_purge(mq *m, const char *queue, int64_t now_ms, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    return mq_op_end(m, queue_purge(m, queue, now_ms, e), e);
}

static int queue_delete(mq *m, const char *queue, int64_t now_ms, lm_error *e)
{
    mq_queue q;
    char name[MQ_QUEUE_NAME_MAX + 1];
    int rc = mq_queue_ref(queue, name, e);
    if (rc != LM_OK) {
        return rc;
    }
    int r = mq_q_load(m, name, &q, e);
    if (r <= 0) {
        return r < 0 ? LM_E_IO
                     : proto_error(e, LM_E_QUEUE_DOES_NOT_EXIST,
                                   "The specified queue does not exist: %s", name);
    }
    (void)now_ms;
    sqlite3_stmt *st = mq_stmt(m, "DELETE FROM mq_queues WHERE qid=?1", e);
    if (st == NULL || detach(m, q.qid, e) != LM_OK) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q.qid);
    return mq_done(m, st, e);
}

int mq_queue_delete(mq *m, const char *queue, int64_t now_ms, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    return mq_op_end(m, queue_delete(m, queue, now_ms, e), e);
}

/* ---- next wake ---- */

static int first_time(mq *m, const mq_queue *q, int64_t *at, lm_error *e)
{
    sqlite3_stmt *st =
        q->fifo
            ? mq_stmt(m, "SELECT avail_at FROM mq_groups WHERE qid=?1 ORDER BY avail_at LIMIT 1", e)
            : mq_stmt(m,
                      "SELECT visible_at FROM mq_messages WHERE qid=?1 "
                      "ORDER BY visible_at LIMIT 1",
                      e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    int r = mq_step(m, st, e);
    if (r < 0) {
        return LM_E_IO;
    }
    *at = r == 1 ? sqlite3_column_int64(st, 0) : MQ_NEVER;
    sqlite3_reset(st);
    if (*at < q->now) {
        *at = q->now;
    }
    return LM_OK;
}

int mq_next_wake_ms(mq *m, const char *queue, int64_t now_ms, int64_t *at_ms, lm_error *e)
{
    mq_queue q;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc == LM_OK) {
        rc = first_time(m, &q, at_ms, e);
    }
    if (rc == LM_OK) {
        rc = mq_q_save(m, &q, e);
    }
    return mq_op_end(m, rc, e);
}

/* ---- sweep ---- */

/* Delete up to *left rows of a detached incarnation; *empty when none
 * remained. */
static int sweep_detached(mq *m, int64_t qid, size_t *left, bool *empty, lm_error *e)
{
    static const char *const sql[] = {
        "DELETE FROM mq_messages WHERE id IN (SELECT id FROM mq_messages WHERE qid=?1 "
        "LIMIT ?2)",
        "DELETE FROM mq_groups WHERE qid=?1 AND gid IN (SELECT gid FROM mq_groups WHERE "
        "qid=?1 LIMIT ?2)",
        "DELETE FROM mq_dedup WHERE qid=?1 AND dedup IN (SELECT dedup FROM mq_dedup WHERE "
        "qid=?1 LIMIT ?2)",
    };
    /* A delete that removed fewer rows than its limit took the last of
     * them: when all three did, the incarnation is gone. */
    bool complete = true;
    for (size_t i = 0; i < 3; i++) {
        if (*left == 0) {
            complete = false;
            break;
        }
        sqlite3_stmt *st = mq_stmt(m, sql[i], e);
        if (st == NULL) {
            return LM_E_IO;
        }
        sqlite3_bind_int64(st, 1, qid);
        sqlite3_bind_int64(st, 2, (int64_t)*left);
        if (mq_done(m, st, e) != LM_OK) {
            return LM_E_IO;
        }
        size_t n = (size_t)sqlite3_changes(m->db);
        if (n >= *left) {
            complete = false;
        }
        *left -= n < *left ? n : *left;
    }
    *empty = complete;
    if (!complete) {
        return LM_OK;
    }
    sqlite3_stmt *st = mq_stmt(m, "DELETE FROM mq_detached WHERE qid=?1", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, qid);
    return mq_done(m, st, e);
}

static int sweep_all_detached(mq *m, size_t *left, bool *more, lm_error *e)
{
    int64_t ids[8];
    size_t n = 0;
    sqlite3_stmt *st = mq_stmt(m, "SELECT qid FROM mq_detached ORDER BY qid LIMIT 8", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    if (r < 0) {
        return LM_E_IO;
    }
    for (size_t i = 0; i < n; i++) {
        bool empty = false;
        if (sweep_detached(m, ids[i], left, &empty, e) != LM_OK) {
            return LM_E_IO;
        }
        if (!empty) {
            *more = true;
        }
    }
    if (n == 8) {
        *more = true;
    }
    return LM_OK;
}

static int sweep_dedup(mq *m, int64_t now, size_t *left, bool *more, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "DELETE FROM mq_dedup WHERE (qid, dedup) IN (SELECT qid, dedup "
                               "FROM mq_dedup WHERE expires_ms<=?1 LIMIT ?2)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (int64_t)*left);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    size_t n = (size_t)sqlite3_changes(m->db);
    if (n >= *left) {
        *more = true;
    }
    *left -= n < *left ? n : *left;
    return LM_OK;
}

static int sweep_queues(mq *m, int64_t now, size_t *left, bool *more, lm_error *e)
{
    char(*names)[MQ_QUEUE_NAME_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    int rc = LM_OK, r;
    sqlite3_stmt *st = mq_stmt(m, "SELECT name FROM mq_queues ORDER BY name", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    while ((r = mq_step(m, st, e)) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            void *nn = realloc(names, cap * sizeof(*names));
            if (nn == NULL) {
                sqlite3_reset(st);
                free(names);
                return proto_error(e, LM_E_NOMEM, NULL);
            }
            names = nn;
        }
        mq_fmt(names[n], "%s", mq_col_text(st, 0));
        n++;
    }
    rc = r < 0 ? LM_E_IO : LM_OK;
    for (size_t i = 0; rc == LM_OK && i<n && * left> 0; i++) {
        mq_queue q;
        size_t removed = 0, budget = *left < MQ_EXPIRE_STEP ? *left : MQ_EXPIRE_STEP;
        r = mq_q_load(m, names[i], &q, e);
        if (r == 1) {
            rc = q_prepare(m, &q, now, budget, &removed, e);
        }
        if (rc == LM_OK && r == 1) {
            rc = mq_q_save(m, &q, e);
        }
        rc = r < 0 ? LM_E_IO : rc;
        *left -= removed;
        *more = *more || removed == budget;
    }
    free(names);
    return rc;
}

int mq_sweep(mq *m, int64_t now_ms, size_t budget, bool *more, lm_error *e)
{
    bool mo = false;
    size_t left = budget;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = sweep_all_detached(m, &left, &mo, e);
    if (rc == LM_OK && left > 0) {
        rc = sweep_dedup(m, now_ms, &left, &mo, e);
    }
    if (rc == LM_OK && left > 0) {
        rc = sweep_queues(m, now_ms, &left, &mo, e);
    }
    mo = mo || left == 0;
    rc = mq_op_end(m, rc, e);
    if (more != NULL) {
        *more = rc == LM_OK && mo;
    }
    return rc;
}
