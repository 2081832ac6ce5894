/*
 * broker/messaging/message.c — messages: send (one and batch), receive
 * (standard and FIFO, with redrive), delete, change of visibility, and the
 * SQS and Lambda shapes of a received message.
 *
 * A message row is in one of three kinds at the operation's now (queue.c
 * keeps the counters): visible (visible_at <= now), delayed (later, never
 * received) or in flight (later, received).  Receiving sets visible_at to
 * now + the visibility timeout, counts the receive and draws a new random
 * token; the receipt handle is hex of (queue incarnation, row id, token),
 * so a handle says by itself which queue and row it is for, and only the
 * latest receive's token matches the row.
 *
 * Standard receive takes the front of the index (qid, visible_at): the
 * messages visible longest first (best-effort order, as SQS).  FIFO
 * receive takes the groups whose head is available (mq_groups, by
 * avail_at) and from each its messages in sequence order while they are
 * visible, so a group with a message in flight (its head) is skipped
 * whole, and one receive may return several messages of one group, in
 * order, as SQS does.
 *
 * Redrive.  A candidate already received maxReceiveCount times moves to
 * the dead-letter queue instead of being returned, in this operation's
 * transaction: the same MessageId, body, attributes and SentTimestamp, a
 * receive count of 0, visible at once (the DLQ's delay does not apply),
 * and for a FIFO DLQ a new sequence number in the same group.  Its
 * retention clock keeps the original enqueue time on a standard DLQ and
 * restarts on a FIFO one (as SQS documents).  At most
 * MQ_REDRIVE_MOVES_MAX moves per receive; if the DLQ no longer exists the
 * policy is inert and the message is received as usual.
 *
 * FIFO deduplication.  The deduplication id (explicit, or SHA-256 of the
 * body with ContentBasedDeduplication) is remembered with the message id
 * and sequence number for MQ_DEDUP_WINDOW_MS; a send with a remembered id
 * succeeds, returns the original's ids and stores nothing, even if the
 * original was deleted meanwhile.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#include "mq_internal.h"

size_t mq_msg_size(size_t body_len, size_t attr_bytes)
{
    return body_len + attr_bytes;
}

static void seq_text(int64_t seq, char out[24])
{
    snprintf(out, 24, "%020" PRId64, seq);
}

int mq_msg_insert(mq *m, mq_queue *q, const mq_new_msg *nm, char seq_out[24], lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO mq_messages(qid, message_id, body, attrs, md5_body, "
                               "md5_attrs, sent_ms, enq_ms, visible_at, gid, dedup, seq) "
                               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_text(st, 2, nm->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, nm->body, (int)nm->body_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, nm->attrs_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, nm->md5_body, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, nm->md5_attrs != NULL ? nm->md5_attrs : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, nm->sent_ms);
    sqlite3_bind_int64(st, 8, nm->enq_ms);
    sqlite3_bind_int64(st, 9, nm->visible_at);
    if (q->fifo) {
        q->seq++;
        sqlite3_bind_text(st, 10, nm->group_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, nm->dedup_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 12, q->seq);
        if (seq_out != NULL) {
            seq_text(q->seq, seq_out);
        }
    } else if (seq_out != NULL) {
        seq_out[0] = '\0';
    }
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    mq_q_account(q, -1, 0, nm->visible_at, 0);
    if (!q->fifo) {
        return LM_OK;
    }
    /* A new group's head is this message; an existing group's head is
     * older and stays. */
    st = mq_stmt(m, "INSERT OR IGNORE INTO mq_groups(qid, gid, avail_at) VALUES(?1, ?2, ?3)", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_text(st, 2, nm->group_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, nm->visible_at);
    return mq_done(m, st, e);
}

/* ---- send ---- */

/* The FIFO fields of en: group and deduplication id (into dedup). */
static int fifo_ids(const mq_queue *q, const mq_send_entry *en, char dedup[65], lm_error *e)
{
    if (!q->fifo) {
        if (en->group_id != NULL || en->dedup_id != NULL) {
            return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                               "MessageGroupId and MessageDeduplicationId are for FIFO queues "
                               "only");
        }
        return LM_OK;
    }
    if (en->delay_s != -1) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "DelaySeconds per message is not valid on a FIFO queue: set the "
                           "queue's DelaySeconds instead");
    }
    if (en->group_id == NULL) {
        return proto_error(e, LM_E_MQ_MISSING_PARAMETER,
                           "The request must contain the parameter MessageGroupId.");
    }
    if (!mq_valid_group_id(en->group_id, strlen(en->group_id))) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "MessageGroupId must be 1-128 printable ASCII characters");
    }
    if (en->dedup_id != NULL) {
        if (!mq_valid_group_id(en->dedup_id, strlen(en->dedup_id))) {
            return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                               "MessageDeduplicationId must be 1-128 printable ASCII characters");
        }
        snprintf(dedup, 65, "%s", en->dedup_id);
    } else if (q->content_dedup) {
        mq_sha256_hex(en->body, en->body_len, dedup);
    } else {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "The queue should either have ContentBasedDeduplication enabled or "
                           "MessageDeduplicationId provided explicitly");
    }
    return LM_OK;
}

static int check_entry(const mq_queue *q, const mq_send_entry *en, char md5_attrs[33],
                       char dedup[65], lm_error *e)
{
    size_t at = 0, abytes = 0;
    if (en->body == NULL || en->body_len == 0) {
        return proto_error(e, LM_E_MQ_MISSING_PARAMETER,
                           "The request must contain the parameter MessageBody.");
    }
    if (!mq_sqs_text_ok(en->body, en->body_len, &at)) {
        return proto_error(e, LM_E_INVALID_MESSAGE_CONTENTS,
                           "Invalid binary character in the message body at byte %zu: only "
                           "#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF are allowed",
                           at);
    }
    int rc = mq_attributes_check(en->attributes, false, md5_attrs, &abytes, e);
    if (rc != LM_OK) {
        return rc;
    }
    size_t size = mq_msg_size(en->body_len, abytes);
    if (size > (size_t)q->max_size) {
        return proto_error(e, LM_E_MESSAGE_TOO_LONG,
                           "One or more parameters are invalid. Reason: Message must be shorter "
                           "than %d bytes (it is %zu with its attributes).",
                           q->max_size, size);
    }
    if (en->delay_s < -1 || en->delay_s > MQ_DELAY_MAX) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "Value %d for parameter DelaySeconds is invalid. Reason: 0-900",
                           en->delay_s);
    }
    rc = fifo_ids(q, en, dedup, e);
    if (rc == LM_OK && q->n_msgs >= MQ_QUEUE_MESSAGES_MAX) {
        rc = proto_error(e, LM_E_OVER_LIMIT, "queue %s holds %d messages, Lamina's cap", q->name,
                         MQ_QUEUE_MESSAGES_MAX);
    }
    return rc;
}

/* A remembered deduplication id: 1 (out filled), 0 none, <0 error. */
static int dedup_find(mq *m, const mq_queue *q, const char *dedup, mq_sent *out, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT message_id, seq FROM mq_dedup WHERE qid=?1 AND dedup=?2 "
                               "AND expires_ms>?3",
                               e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_text(st, 2, dedup, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, q->now);
    int r = mq_step(m, st, e);
    if (r == 1) {
        mq_fmt(out->message_id, "%s", mq_col_text(st, 0));
        mq_fmt(out->sequence, "%s", mq_col_text(st, 1));
        out->duplicate = true;
        sqlite3_reset(st);
    }
    return r;
}

static int dedup_remember(mq *m, const mq_queue *q, const char *dedup, const mq_sent *out,
                          lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT OR REPLACE INTO mq_dedup(qid, dedup, expires_ms, "
                               "message_id, seq) VALUES(?1, ?2, ?3, ?4, ?5)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, q->qid);
    sqlite3_bind_text(st, 2, dedup, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, q->now + MQ_DEDUP_WINDOW_MS);
    sqlite3_bind_text(st, 4, out->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, out->sequence, -1, SQLITE_STATIC);
    return mq_done(m, st, e);
}

/* One checked, stored message; out's ids filled (its Id left alone). */
static int send_one(mq *m, mq_queue *q, const mq_send_entry *en, mq_sent *out, lm_error *e)
{
    char dedup[65] = "";
    out->md5_attributes[0] = out->sequence[0] = '\0';
    out->duplicate = false;
    int rc = check_entry(q, en, out->md5_attributes, dedup, e);
    if (rc != LM_OK) {
        return rc;
    }
    mq_md5_hex(en->body, en->body_len, out->md5_body);
    if (q->fifo) {
        int r = dedup_find(m, q, dedup, out, e);
        if (r != 0) {
            return r < 0 ? LM_E_IO : LM_OK;
        }
    }
    bool oom = false;
    char *stored = mq_attributes_store(en->attributes, &oom);
    if (oom) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    util_uuid4(out->message_id);
    int delay = en->delay_s >= 0 ? en->delay_s : q->delay_s;
    mq_new_msg nm = {.message_id = out->message_id,
                     .body = en->body,
                     .body_len = en->body_len,
                     .attrs_json = stored,
                     .md5_body = out->md5_body,
                     .md5_attrs = out->md5_attributes,
                     .sent_ms = q->now,
                     .enq_ms = q->now,
                     .visible_at = q->now + (int64_t)delay * 1000,
                     .group_id = q->fifo ? en->group_id : NULL,
                     .dedup_id = q->fifo ? dedup : NULL};
    rc = mq_msg_insert(m, q, &nm, out->sequence, e);
    free(stored);
    if (rc == LM_OK && q->fifo) {
        rc = dedup_remember(m, q, dedup, out, e);
    }
    if (rc == LM_OK) {
        mq_note_ready(m, q->name, nm.visible_at);
    }
    return rc;
}

int mq_send_into(mq *m, mq_queue *q, const mq_send_entry *en, mq_sent *out, lm_error *e)
{
    return send_one(m, q, en, out, e);
}

int mq_send(mq *m, const char *queue, const mq_send_entry *en, int64_t now_ms, mq_sent *out,
            lm_error *e)
{
    mq_queue q;
    memset(out, 0, sizeof(*out));
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc == LM_OK) {
        rc = send_one(m, &q, en, out, e);
    }
    if (rc == LM_OK) {
        rc = mq_q_save(m, &q, e);
    }
    return mq_op_end(m, rc, e);
}

static int batch_request_check(const mq_send_entry *en, size_t n, lm_error *e)
{
    char qb[96];
    if (n == 0) {
        return proto_error(e, LM_E_EMPTY_BATCH,
                           "There should be at least one entry in the "
                           "request.");
    }
    if (n > MQ_BATCH_MAX) {
        return proto_error(e, LM_E_TOO_MANY_ENTRIES,
                           "Maximum number of entries per request are %d. You have sent %zu.",
                           MQ_BATCH_MAX, n);
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = en[i].id != NULL ? en[i].id : "";
        if (!mq_valid_batch_id(id, strlen(id))) {
            return proto_error(e, LM_E_INVALID_BATCH_ENTRY_ID,
                               "A batch entry id can only contain alphanumeric characters, "
                               "hyphens and underscores. It can be at most 80 letters long: %s",
                               mq_q(qb, sizeof(qb), id));
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(en[k].id, id) == 0) {
                return proto_error(e, LM_E_BATCH_IDS_NOT_DISTINCT, "Id %s repeated.",
                                   mq_q(qb, sizeof(qb), id));
            }
        }
        size_t abytes = 0;
        if (mq_attributes_check(en[i].attributes, false, NULL, &abytes, NULL) != LM_OK) {
            abytes = 0; /* that entry fails on its own */
        }
        total += en[i].body_len + abytes;
    }
    if (total > MQ_BATCH_BYTES_MAX) {
        return proto_error(e, LM_E_BATCH_TOO_LONG,
                           "Batch requests cannot be longer than %d bytes. You have sent %zu "
                           "bytes.",
                           MQ_BATCH_BYTES_MAX, total);
    }
    return LM_OK;
}

static size_t batch_entries(mq *m, mq_queue *q, const mq_send_entry *en, size_t n, mq_sent *out)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        mq_queue before = *q;
        lm_error *ee = &out[i].err;
        int rc = mq_sp_begin(m, ee);
        if (rc == LM_OK) {
            rc = send_one(m, q, &en[i], &out[i], ee);
            mq_sp_end(m, rc == LM_OK);
        }
        if (rc != LM_OK) {
            *q = before;
            out[i].message_id[0] = out[i].md5_body[0] = '\0';
            out[i].md5_attributes[0] = out[i].sequence[0] = '\0';
            failed++;
        }
    }
    return failed;
}

int mq_send_batch(mq *m, const char *queue, const mq_send_entry *en, size_t n, int64_t now_ms,
                  mq_sent *out, size_t *failed, lm_error *e)
{
    mq_queue q;
    size_t nf = 0;
    int rc = batch_request_check(en, n, e);
    if (rc != LM_OK) {
        return rc;
    }
    memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        mq_fmt(out[i].id, "%s", en[i].id);
    }
    rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc == LM_OK) {
        nf = batch_entries(m, &q, en, n, out);
        rc = mq_q_save(m, &q, e);
    }
    rc = mq_op_end(m, rc, e);
    if (failed != NULL) {
        *failed = rc == LM_OK ? nf : n;
    }
    return rc;
}

/* ---- receive ---- */

typedef struct cand {
    int64_t id, vis, enq;
    int rc;
} cand;

typedef struct recv_ctx {
    mq *m;
    mq_queue *q;
    int64_t vis_ms; /* visibility timeout */
    mq_msg *out;
    size_t max, got;
    size_t moves;
    int dlq_state; /* 0 not opened, 1 open, -1 none (inert) */
    mq_queue dq;
} recv_ctx;

static void receipt_make(const mq_queue *q, int64_t id, const char *token, char out[MQ_RECEIPT_MAX])
{
    snprintf(out, MQ_RECEIPT_MAX, "%016" PRIx64 "%016" PRIx64 "%s", (uint64_t)q->qid, (uint64_t)id,
             token);
}

static void fill_msg(sqlite3_stmt *st, mq_msg *msg)
{
    mq_fmt(msg->message_id, "%s", mq_col_text(st, 0));
    size_t bl = (size_t)sqlite3_column_bytes(st, 1);
    const void *b = sqlite3_column_blob(st, 1);
    msg->body = mq_strndup(b != NULL ? b : "", bl);
    msg->body_len = bl;
    msg->attributes = sqlite3_column_type(st, 2) == SQLITE_NULL
                          ? NULL
                          : mq_strndup(mq_col_text(st, 2), strlen(mq_col_text(st, 2)));
    mq_fmt(msg->md5_body, "%s", mq_col_text(st, 3));
    mq_fmt(msg->md5_attributes, "%s", mq_col_text(st, 4));
    msg->sent_ms = sqlite3_column_int64(st, 5);
    msg->first_receive_ms = sqlite3_column_int64(st, 6);
    msg->receive_count = sqlite3_column_int(st, 7);
    mq_fmt(msg->group_id, "%s", mq_col_text(st, 8));
    mq_fmt(msg->dedup_id, "%s", mq_col_text(st, 9));
    if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
        seq_text(sqlite3_column_int64(st, 10), msg->sequence);
    }
}

/* Hand out candidate c as rx->out[rx->got]. */
static int take(recv_ctx *rx, const cand *c, lm_error *e)
{
    char token[33];
    util_random_hex(token, 16);
    int64_t vis = rx->q->now + rx->vis_ms;
    sqlite3_stmt *st =
        mq_stmt(rx->m,
                "UPDATE mq_messages SET visible_at=?2, rc=rc+1, first_recv_ms=CASE WHEN rc=0 "
                "THEN ?3 ELSE first_recv_ms END, recv_ms=?3, receipt=?4 WHERE id=?1 RETURNING "
                "message_id, body, attrs, md5_body, md5_attrs, sent_ms, first_recv_ms, rc, "
                "gid, dedup, seq",
                e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_int64(st, 2, vis);
    sqlite3_bind_int64(st, 3, rx->q->now);
    sqlite3_bind_text(st, 4, token, -1, SQLITE_TRANSIENT);
    if (mq_step(rx->m, st, e) != 1) {
        return LM_E_IO;
    }
    mq_msg *msg = &rx->out[rx->got];
    fill_msg(st, msg);
    if (mq_done(rx->m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    rx->got++; /* counted now so that mq_msgs_free releases it */
    if (msg->body == NULL || (msg->attributes == NULL && msg->md5_attributes[0] != '\0')) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    receipt_make(rx->q, c->id, token, msg->receipt);
    mq_q_account(rx->q, c->vis, c->rc, vis, c->rc + 1);
    if (vis <= rx->q->now) {
        mq_note_ready(rx->m, rx->q->name, vis); /* visibility 0: receivable again */
    }
    return LM_OK;
}

/* Is c due for the dead-letter queue, and does the queue exist? */
static int redrive_due(recv_ctx *rx, const cand *c, bool *due, lm_error *e)
{
    *due = false;
    if (rx->q->dlq[0] == '\0' || rx->q->max_receives <= 0 || c->rc < rx->q->max_receives) {
        return LM_OK;
    }
    if (rx->dlq_state == 0) {
        lm_error ee;
        int rc = mq_q_open(rx->m, rx->q->dlq, rx->q->now, &rx->dq, &ee);
        if (rc == LM_E_QUEUE_DOES_NOT_EXIST) {
            rx->dlq_state = -1;
        } else if (rc != LM_OK) {
            *e = ee;
            return rc;
        } else {
            rx->dlq_state = 1;
        }
    }
    *due = rx->dlq_state == 1;
    return LM_OK;
}

static int move_to_dlq(recv_ctx *rx, const cand *c, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(rx->m,
                               "SELECT message_id, body, attrs, md5_body, md5_attrs, sent_ms, "
                               "enq_ms, gid, dedup FROM mq_messages WHERE id=?1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, c->id);
    if (mq_step(rx->m, st, e) != 1) {
        return LM_E_IO;
    }
    mq_queue *dq = &rx->dq;
    int64_t now = dq->now > rx->q->now ? dq->now : rx->q->now;
    char gid[MQ_GROUP_ID_MAX + 1];
    mq_fmt(gid, "%s", mq_col_text(st, 7));
    mq_new_msg nm = {
        .message_id = mq_col_text(st, 0),
        .body = sqlite3_column_blob(st, 1),
        .body_len = (size_t)sqlite3_column_bytes(st, 1),
        .attrs_json = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : mq_col_text(st, 2),
        .md5_body = mq_col_text(st, 3),
        .md5_attrs = mq_col_text(st, 4),
        .sent_ms = sqlite3_column_int64(st, 5),
        .enq_ms = dq->fifo ? now : sqlite3_column_int64(st, 6),
        .visible_at = dq->now,
        .group_id = dq->fifo ? gid : NULL,
        .dedup_id = dq->fifo ? mq_col_text(st, 8) : NULL,
    };
    if (nm.body == NULL) {
        nm.body = "";
    }
    int rc = mq_msg_insert(rx->m, dq, &nm, NULL, e);
    sqlite3_reset(st);
    if (rc == LM_OK) {
        rc = mq_msg_remove(rx->m, rx->q, c->id, c->vis, c->rc, rx->q->fifo ? gid : NULL, e);
    }
    if (rc == LM_OK) {
        mq_note_ready(rx->m, dq->name, dq->now);
        rx->moves++;
    }
    return rc;
}

/* Collect up to cap candidates of st's rows (id, visible_at, rc, enq_ms). */
static int collect(recv_ctx *rx, sqlite3_stmt *st, cand *cs, size_t cap, size_t *n, lm_error *e)
{
    int r;
    *n = 0;
    while ((r = mq_step(rx->m, st, e)) == 1) {
        if (*n < cap) {
            cs[*n].id = sqlite3_column_int64(st, 0);
            cs[*n].vis = sqlite3_column_int64(st, 1);
            cs[*n].rc = sqlite3_column_int(st, 2);
            cs[*n].enq = sqlite3_column_int64(st, 3);
            (*n)++;
        }
    }
    return r < 0 ? LM_E_IO : LM_OK;
}

enum { NEXT, STOP_GROUP };

/* Decide one candidate: expire it, move it, hand it out, or (FIFO) stop. */
static int consider(recv_ctx *rx, const cand *c, const char *gid, int *next, lm_error *e)
{
    *next = NEXT;
    int64_t cutoff = rx->q->now - (int64_t)rx->q->retention_s * 1000;
    if (c->enq <= cutoff) {
        return mq_msg_remove(rx->m, rx->q, c->id, c->vis, c->rc, gid, e);
    }
    if (c->vis > rx->q->now) {
        *next = STOP_GROUP; /* FIFO: the group waits for this one */
        return LM_OK;
    }
    bool due = false;
    int rc = redrive_due(rx, c, &due, e);
    if (rc != LM_OK) {
        return rc;
    }
    if (due) {
        if (rx->moves >= MQ_REDRIVE_MOVES_MAX) {
            *next = STOP_GROUP; /* left for the next receive */
            return LM_OK;
        }
        return move_to_dlq(rx, c, e);
    }
    return take(rx, c, e);
}

#define CANDS (MQ_RECEIVE_MAX + MQ_REDRIVE_MOVES_MAX)

static int receive_standard(recv_ctx *rx, lm_error *e)
{
    cand cs[CANDS];
    size_t n = 0;
    sqlite3_stmt *st = mq_stmt(rx->m,
                               "SELECT id, visible_at, rc, enq_ms FROM mq_messages WHERE qid=?1 "
                               "AND visible_at<=?2 ORDER BY visible_at LIMIT ?3",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, rx->q->qid);
    sqlite3_bind_int64(st, 2, rx->q->now);
    sqlite3_bind_int64(st, 3, (int64_t)(rx->max + MQ_REDRIVE_MOVES_MAX));
    int rc = collect(rx, st, cs, CANDS, &n, e);
    for (size_t i = 0; rc == LM_OK && i < n && rx->got < rx->max; i++) {
        int next;
        rc = consider(rx, &cs[i], NULL, &next, e);
    }
    return rc;
}

static int receive_group(recv_ctx *rx, const char *gid, lm_error *e)
{
    cand cs[CANDS];
    size_t n = 0;
    sqlite3_stmt *st = mq_stmt(rx->m,
                               "SELECT id, visible_at, rc, enq_ms FROM mq_messages WHERE qid=?1 "
                               "AND gid=?2 ORDER BY seq LIMIT ?3",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, rx->q->qid);
    sqlite3_bind_text(st, 2, gid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)(rx->max - rx->got + MQ_REDRIVE_MOVES_MAX - rx->moves));
    int rc = collect(rx, st, cs, CANDS, &n, e);
    for (size_t i = 0; rc == LM_OK && i < n && rx->got < rx->max; i++) {
        int next = NEXT;
        rc = consider(rx, &cs[i], gid, &next, e);
        if (next == STOP_GROUP) {
            break;
        }
    }
    return rc == LM_OK ? mq_group_refresh(rx->m, rx->q, gid, e) : rc;
}

static int receive_fifo(recv_ctx *rx, lm_error *e)
{
    char(*gids)[MQ_GROUP_ID_MAX + 1] = malloc(CANDS * sizeof(*gids));
    size_t n = 0;
    if (gids == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    sqlite3_stmt *st = mq_stmt(rx->m,
                               "SELECT gid FROM mq_groups WHERE qid=?1 AND avail_at<=?2 "
                               "ORDER BY avail_at LIMIT ?3",
                               e);
    int rc = st != NULL ? LM_OK : LM_E_IO, r = 0;
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, rx->q->qid);
        sqlite3_bind_int64(st, 2, rx->q->now);
        sqlite3_bind_int64(st, 3, (int64_t)CANDS);
        while ((r = mq_step(rx->m, st, e)) == 1) {
            mq_fmt(gids[n], "%s", mq_col_text(st, 0));
            n++;
        }
        rc = r < 0 ? LM_E_IO : LM_OK;
    }
    for (size_t i = 0; rc == LM_OK && i < n && rx->got < rx->max; i++) {
        rc = receive_group(rx, gids[i], e);
    }
    free(gids);
    return rc;
}

static int receive_opts(const mq_queue *q, const mq_receive_opts *o, size_t *max, int64_t *vis_ms,
                        lm_error *e)
{
    int mx = o != NULL ? o->max : 0, vs = o != NULL ? o->visibility_s : -1;
    if (mx == 0) {
        mx = 1;
    }
    if (mx < 1 || mx > MQ_RECEIVE_MAX) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must "
                           "be between 1 and 10",
                           mx);
    }
    if (vs == -1) {
        vs = q->visibility_s;
    }
    if (vs < 0 || vs > MQ_VISIBILITY_MAX) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "Value %d for parameter VisibilityTimeout is invalid. Reason: Must "
                           "be between 0 and 43200",
                           vs);
    }
    int64_t limit = q->fifo ? MQ_INFLIGHT_MAX_FIFO : MQ_INFLIGHT_MAX;
    if (q->n_inflight >= limit) {
        return proto_error(e, LM_E_OVER_LIMIT,
                           "%" PRId64 " messages of %s are in flight: delete some first",
                           q->n_inflight, q->name);
    }
    *max = (size_t)mx;
    *vis_ms = (int64_t)vs * 1000;
    return LM_OK;
}

static int receive_in(mq *m, const char *queue, const mq_receive_opts *o, int64_t now_ms,
                      recv_ctx *rx, mq_queue *q, lm_error *e)
{
    int rc = mq_q_open(m, queue, now_ms, q, e);
    if (rc == LM_OK) {
        rc = receive_opts(q, o, &rx->max, &rx->vis_ms, e);
    }
    if (rc != LM_OK) {
        return rc;
    }
    rx->out = calloc(rx->max, sizeof(mq_msg));
    if (rx->out == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    rc = q->fifo ? receive_fifo(rx, e) : receive_standard(rx, e);
    if (rc == LM_OK) {
        rc = mq_q_save(m, q, e);
    }
    if (rc == LM_OK && rx->dlq_state == 1) {
        rc = mq_q_save(m, &rx->dq, e);
    }
    return rc;
}

int mq_receive(mq *m, const char *queue, const mq_receive_opts *o, int64_t now_ms, mq_msg **out,
               size_t *n, lm_error *e)
{
    mq_queue q;
    recv_ctx rx = {.m = m, .q = &q};
    *out = NULL;
    *n = 0;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_op_end(m, receive_in(m, queue, o, now_ms, &rx, &q, e), e);
    if (rc != LM_OK || rx.got == 0) {
        mq_msgs_free(rx.out, rx.got);
        return rc;
    }
    *out = rx.out;
    *n = rx.got;
    return LM_OK;
}

void mq_msgs_free(mq_msg *v, size_t n)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i].body);
        free(v[i].attributes);
    }
    free(v);
}

/* ---- receipt handles ---- */

static bool parse_hex64(const char *s, int64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return false;
        }
        x = (x << 4) | (uint64_t)d;
    }
    *v = (int64_t)x;
    return true;
}

/* A receipt handle this queue could have issued: its row id and token. */
static int receipt_parse(const mq_queue *q, const char *r, int64_t *id, const char **token,
                         lm_error *e)
{
    char qb[96];
    int64_t qid = 0;
    bool ok = r != NULL && strlen(r) == 64 && parse_hex64(r, &qid) && parse_hex64(r + 16, id);
    for (size_t i = 32; ok && i < 64; i++) {
        ok = (r[i] >= '0' && r[i] <= '9') || (r[i] >= 'a' && r[i] <= 'f');
    }
    if (!ok || qid != q->qid) {
        return proto_error(e, LM_E_RECEIPT_HANDLE_INVALID,
                           "The input receipt handle %s is not a valid receipt handle for queue "
                           "%s.",
                           mq_q(qb, sizeof(qb), r), q->name);
    }
    *token = r + 32;
    return LM_OK;
}

typedef struct row_state {
    int64_t vis, recv_ms;
    int rc;
    char receipt[40];
    char gid[MQ_GROUP_ID_MAX + 1];
} row_state;

/* 1 found, 0 gone, <0 error. */
static int row_load(mq *m, const mq_queue *q, int64_t id, row_state *rs, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT visible_at, rc, receipt, gid, recv_ms FROM mq_messages "
                               "WHERE id=?1 AND qid=?2",
                               e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, q->qid);
    int r = mq_step(m, st, e);
    if (r == 1) {
        rs->vis = sqlite3_column_int64(st, 0);
        rs->rc = sqlite3_column_int(st, 1);
        mq_fmt(rs->receipt, "%s", mq_col_text(st, 2));
        mq_fmt(rs->gid, "%s", mq_col_text(st, 3));
        rs->recv_ms = sqlite3_column_int64(st, 4);
        sqlite3_reset(st);
    }
    return r;
}

static int superseded(lm_error *e)
{
    return proto_error(e, LM_E_RECEIPT_HANDLE_INVALID,
                       "The receipt handle has expired: the message was received again since "
                       "this handle was issued; use the latest receive's handle.");
}

static int delete_in(mq *m, const char *queue, const char *receipt, int64_t now_ms, bool *deleted,
                     lm_error *e)
{
    mq_queue q;
    int64_t id = 0;
    const char *token = NULL;
    row_state rs;
    int rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc == LM_OK) {
        rc = receipt_parse(&q, receipt, &id, &token, e);
    }
    if (rc != LM_OK) {
        return rc;
    }
    int r = row_load(m, &q, id, &rs, e);
    if (r < 0) {
        return LM_E_IO;
    }
    /* A stale handle (received again since) or a gone message: success
     * that deletes nothing, as SQS documents. */
    if (r == 1 && strcmp(rs.receipt, token) == 0) {
        rc = mq_msg_remove(m, &q, id, rs.vis, rs.rc, rs.gid, e);
        *deleted = rc == LM_OK;
    }
    return rc == LM_OK ? mq_q_save(m, &q, e) : rc;
}

int mq_delete_message(mq *m, const char *queue, const char *receipt, int64_t now_ms, bool *deleted,
                      lm_error *e)
{
    bool d = false;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_op_end(m, delete_in(m, queue, receipt, now_ms, &d, e), e);
    if (deleted != NULL) {
        *deleted = rc == LM_OK && d;
    }
    return rc;
}

static int set_visible(mq *m, mq_queue *q, int64_t id, const row_state *rs, int64_t vis,
                       lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "UPDATE mq_messages SET visible_at=?2 WHERE id=?1", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, vis);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    mq_q_account(q, rs->vis, rs->rc, vis, rs->rc);
    if (rs->gid[0] != '\0' && mq_group_refresh(m, q, rs->gid, e) != LM_OK) {
        return LM_E_IO;
    }
    mq_note_ready(m, q->name, vis);
    return mq_q_save(m, q, e);
}

static int visibility_in(mq *m, const char *queue, const char *receipt, int timeout_s,
                         int64_t now_ms, lm_error *e)
{
    mq_queue q;
    int64_t id = 0;
    const char *token = NULL;
    row_state rs;
    if (timeout_s < 0 || timeout_s > MQ_VISIBILITY_MAX) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be "
                           "between 0 and 43200",
                           timeout_s);
    }
    int rc = mq_q_open(m, queue, now_ms, &q, e);
    if (rc == LM_OK) {
        rc = receipt_parse(&q, receipt, &id, &token, e);
    }
    if (rc != LM_OK) {
        return rc;
    }
    int r = row_load(m, &q, id, &rs, e);
    if (r < 0) {
        return LM_E_IO;
    }
    if (r == 0 || strcmp(rs.receipt, token) != 0) {
        return r == 0 ? proto_error(e, LM_E_RECEIPT_HANDLE_INVALID,
                                    "The receipt handle is for a message that is gone (deleted, "
                                    "expired or moved to the dead-letter queue).")
                      : superseded(e);
    }
    if (rs.vis <= q.now) {
        return proto_error(e, LM_E_MESSAGE_NOT_INFLIGHT,
                           "The message's visibility timeout is over: it is not in flight.");
    }
    int64_t vis = q.now + (int64_t)timeout_s * 1000;
    if (vis > rs.recv_ms + (int64_t)MQ_VISIBILITY_MAX * 1000) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "Value %d for parameter VisibilityTimeout is invalid. Reason: Total "
                           "VisibilityTimeout for the message is beyond the limit [43200 "
                           "seconds]",
                           timeout_s);
    }
    return set_visible(m, &q, id, &rs, vis, e);
}

int mq_change_visibility(mq *m, const char *queue, const char *receipt, int timeout_s,
                         int64_t now_ms, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    return mq_op_end(m, visibility_in(m, queue, receipt, timeout_s, now_ms, e), e);
}

/* ---- shapes ---- */

static bool add_attrs(cJSON *o, const mq_msg *msg, bool lambda)
{
    char buf[32];
    static const char *const k[] = {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                    "ApproximateFirstReceiveTimestamp"};
    cJSON *a = cJSON_AddObjectToObject(o, lambda ? "attributes" : "Attributes");
    bool ok = a != NULL;
    snprintf(buf, sizeof(buf), "%d", msg->receive_count);
    ok = ok && cJSON_AddStringToObject(a, k[0], buf) != NULL;
    snprintf(buf, sizeof(buf), "%" PRId64, msg->sent_ms);
    ok = ok && cJSON_AddStringToObject(a, k[1], buf) != NULL;
    ok = ok && cJSON_AddStringToObject(a, k[2], MQ_ARN_ACCOUNT) != NULL;
    snprintf(buf, sizeof(buf), "%" PRId64, msg->first_receive_ms);
    ok = ok && cJSON_AddStringToObject(a, k[3], buf) != NULL;
    if (ok && msg->sequence[0] != '\0') {
        ok = cJSON_AddStringToObject(a, "SequenceNumber", msg->sequence) != NULL &&
             cJSON_AddStringToObject(a, "MessageGroupId", msg->group_id) != NULL &&
             cJSON_AddStringToObject(a, "MessageDeduplicationId", msg->dedup_id) != NULL;
    }
    return ok;
}

cJSON *mq_msg_json(const mq_msg *msg)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddStringToObject(o, "MessageId", msg->message_id) != NULL &&
              cJSON_AddStringToObject(o, "ReceiptHandle", msg->receipt) != NULL &&
              cJSON_AddStringToObject(o, "MD5OfBody", msg->md5_body) != NULL &&
              cJSON_AddStringToObject(o, "Body", msg->body) != NULL && add_attrs(o, msg, false);
    if (ok && msg->attributes != NULL) {
        cJSON *ma = mq_attributes_sqs_json(msg->attributes);
        ok = ma != NULL &&
             cJSON_AddStringToObject(o, "MD5OfMessageAttributes", msg->md5_attributes) != NULL;
        if (ma != NULL) {
            cJSON_AddItemToObject(o, "MessageAttributes", ma);
        }
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *mq_msg_lambda_record(const mq_msg *msg, const char *queue)
{
    char arn[MQ_ARN_MAX], name[MQ_QUEUE_NAME_MAX + 1];
    if (mq_queue_ref(queue, name, NULL) != LM_OK) {
        return NULL;
    }
    mq_queue_arn(name, arn);
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddStringToObject(o, "messageId", msg->message_id) != NULL &&
              cJSON_AddStringToObject(o, "receiptHandle", msg->receipt) != NULL &&
              cJSON_AddStringToObject(o, "body", msg->body) != NULL && add_attrs(o, msg, true);
    cJSON *ma = ok ? mq_attributes_lambda_json(msg->attributes) : NULL;
    if (ma != NULL) {
        cJSON_AddItemToObject(o, "messageAttributes", ma);
    }
    ok = ok && ma != NULL && cJSON_AddStringToObject(o, "md5OfBody", msg->md5_body) != NULL;
    if (ok && msg->attributes != NULL) {
        ok = cJSON_AddStringToObject(o, "md5OfMessageAttributes", msg->md5_attributes) != NULL;
    }
    ok = ok && cJSON_AddStringToObject(o, "eventSource", "aws:sqs") != NULL &&
         cJSON_AddStringToObject(o, "eventSourceARN", arn) != NULL &&
         cJSON_AddStringToObject(o, "awsRegion", MQ_ARN_REGION) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
