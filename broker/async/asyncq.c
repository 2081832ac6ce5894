/*
 * broker/async/asyncq.c — asynchronous invocation (InvocationType Event): the
 * durable queue, its dispatcher, retries and destinations.
 *
 * Guarantees:
 *   - An Event invoke is answered 202 only after its row in async_events
 *     is committed (WAL, synchronous=FULL): a broker killed after the 202
 *     runs the event after it restarts.  Delivery is at least once: an
 *     event whose invocation was running when the broker died runs again.
 *   - An event leaves the table only when it is finished: success, retries
 *     exhausted or too old.  A destination record is inserted as a new
 *     event in the same transaction that deletes the one it reports on.
 *     Submissions waiting at once are stored in one transaction, so a busy
 *     queue pays one fsync per batch, and the 202s are sent right after its
 *     COMMIT, before any outcome work.  Outcomes that arrived together are
 *     recorded in a second transaction, and commits without a submission
 *     (outcomes, retries, records) skip the fsync
 *     (synchronous=NORMAL): a power loss may undo one, and the event then
 *     runs again — at least once still holds (see store/sqlconn.c).
 *   - An outcome is never committed before the log record of the run it
 *     reports is written to <state>/logs/ (fnlog_flush() before each
 *     outcome transaction): a broker killed right after the commit keeps
 *     both.  Like the outcome itself, the record is not fsync'd.
 *
 * Storage: this file holds the queue's policy (what to store, when, in
 * which transaction) and no SQL.  The statements on async_events and
 * async_idempotency are store/async_events.c's, the event invoke config
 * read is store/event_configs.c's (store_event_config_on), and the two
 * connections with their kept statements, transactions, savepoints and
 * WAL checkpoint policy are store/sqlconn.c's.
 *
 * Threading: one thread, the only user of two store connections of its
 * own (AQ.acc, AQ.disp): one with synchronous=FULL for submissions, one
 * with NORMAL for everything else (store/sqlconn.c).  The api callback
 * (invoke.c) validates the request and hands it over with asyncq_submit()
 * (no I/O in the callback).  Each turn of the thread first commits every
 * submission waiting at that moment in one transaction (group commit) and
 * sends the 202s, then records the outcomes that came back, in a second transaction,
 * then starts due events through invoke.c's internal path (the same pool
 * and concurrency limit as sync invokes, no socket round trip).  An outcome
 * comes back in a callback under B.mtx, which only copies it onto this
 * thread's list.  Each turn ends with event-wait's lookups (asyncwait.c)
 * and, when the WAL has grown large, a checkpoint (sqlconn_checkpoint_if_large:
 * the submission connection never runs one).  AQ.mtx is a
 * leaf lock: taken under B.mtx, never held while taking B.mtx.
 *
 * One thread on purpose: a separate acceptor thread for the 202s (tried,
 * with a write lock shared with the dispatcher) committed sooner with
 * smaller batches, so it paid more fsyncs — the slowest thing on this
 * machine — and the outcomes waited behind them: at 16 callers, acceptance
 * p99 went from 25-37 ms to 60-75 ms and accepted/s from ~1,500 to
 * ~1,000.  Here submissions that arrive while the thread records outcomes
 * or starts events share the next commit.
 *
 * Idempotency keys (ours; Lambda has none): an Event invoke may carry an
 * IdempotencyKey, and the SDK always sends one.  In the transaction that
 * stores a submission, the thread looks (function name, key) up in
 * async_idempotency: a key stored less than ASYNCQ_KEY_TTL_MS (24 h) of
 * broker time ago answers the first RequestId with a 202 and stores
 * nothing when the qualifier and payload are the same (SHA-256 of both),
 * or 400 IdempotentParameterMismatch when not; otherwise the event and its
 * key row are inserted together (so a key is acknowledged exactly when
 * its event is durable).  Only this thread writes the table and a batch is
 * staged in order inside one transaction, so submissions of one key at
 * the same moment make exactly one event.  Keys are scoped by function
 * name: "f", "f:1" and "f:live" share them, and the qualifier is part of
 * what a key stands for.  Expired keys are skipped by lookups and deleted
 * by sweep_keys, a bounded batch every minute of broker time.
 *
 * Retries (Lambda's): a function error (handled or unhandled) is retried
 * up to MaximumRetryAttempts times (0-2, default 2), 1 min before the
 * second run and 2 min before the third.  A refused run (throttled, broker
 * stopping, no memory) goes back to the queue with a delay growing from
 * 1 s to 5 min, except for a function whose reserved concurrency is 0:
 * its events go straight to the failure destination and dead-letter
 * queue (RetriesExhausted), as Lambda's do.  An event older than MaximumEventAgeInSeconds (default 6 h)
 * is not run again.  Delays and age are counted in broker time
 * (lib/clock.h): enqueued_at and next_at are broker-time epoch ms, and
 * under --test-clock a clock-advance wakes the thread (clock_moved), so a
 * test sees Lambda's real delays pass at once.  The thread's other waits
 * (event-wait deadlines, the stop budget) are real time.  Events that end
 * without success go to the OnFailure destination, successes to
 * OnSuccess, as invocation records; a record's own chain of destinations
 * stops after ASYNCQ_MAX_HOPS (Lambda stops loops after 16).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>

#include "async/async.h"
#include "messaging/mq.h"
#include "messaging/service.h"
#include "messaging/target.h"
#include "store/store.h"

#define ASYNCQ_MAX_HOPS 16
#define ASYNCQ_MAX_WAIT_MS 1000 /* look at the table at least this often */
#define ASYNCQ_SPAWN_PACE 8 /* new environments starting at once for events */
#define ASYNCQ_PACE_WAIT_MS 20 /* look again this soon while paced */
#define ASYNCQ_IDLE_FNS 16 /* functions whose idle environments one pass tracks */
#define ASYNCQ_SCAN_EXTRA 64 /* due rows looked at past those that fit, for warm ones */
#define ASYNCQ_WAL_MAX_FRAMES 4000 /* WAL pages (16 MB) past which the thread checkpoints */

#define ASYNCQ_SWEEP_EVERY_MS 60000 /* broker time between sweeps of expired keys */
#define ASYNCQ_SWEEP_ROWS 2000 /* expired keys deleted per sweep at most */

/* What staging made of a submission. */
typedef enum aq_staged {
    AQS_STORED, /* a new event (and its key) */
    AQS_DUPLICATE, /* its key was used for the same request: the first's RequestId */
    AQS_MISMATCH /* its key was used for another request: 400 */
} aq_staged;

typedef struct aq_submit {
    completion done;
    nng_msg *req;
    char name[NAME_MAX_LEN + 1];
    char qual[130];
    const void *payload; /* points into req */
    size_t payload_len;
    char key[PROTO_IDEMPOTENCY_KEY_MAX + 1]; /* IdempotencyKey, "" when none */
    unsigned char fp[32]; /* keyed: SHA-256 of qualifier, NUL, payload */
    aq_staged staged;
    char rid[40]; /* the new event's request id, or the first's */
    list_node node; /* AQ.subs, then the thread's batch */
} aq_submit;

/* An event being run: created by the thread, finished by the callback. */
typedef struct aq_flight {
    int64_t id;
    char rid[40];
    char name[NAME_MAX_LEN + 1];
    char qual[130];
    int64_t enqueued_at;
    int invokes, throttles, hops;
    /* outcome (filled by the callback) */
    int code;
    int status;
    char version[16];
    char ferr[16];
    char *payload; /* malloc'd copy of the response, NUL-terminated */
    size_t payload_len;
    bool expired; /* never started: older than MaximumEventAgeInSeconds */
    /* what to write (planned first, written in one transaction) */
    bool finish; /* else: retry at next_at */
    const char *cond; /* finish: Success, RetriesExhausted, EventAgeExceeded */
    char *rec; /* finish: the record for a destination, or NULL */
    char rec_rid[40], rec_name[NAME_MAX_LEN + 1], rec_qual[130], rec_dest[300];
    mq_target rec_to; /* the destination: a function (rec_name), a queue or a topic */
    char dead_letter[300]; /* DeadLetterConfig.TargetArn of the version that ran, or "" */
    bool to_dlq; /* finish without success: the event goes to dlq_to as well */
    mq_target dlq_to;
    int64_t next_at; /* retry */
    nng_msg *req; /* the request, between the SELECT and the start */
    list_node fly; /* AQ.flying (thread only) */
    list_node node; /* AQ.done (AQ.mtx), then a batch of the thread's */
} aq_flight;

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    list_head subs; /* aq_submit.node, FIFO */
    int n_sub;
    list_head done; /* aq_flight.node: outcomes to record, FIFO */
    list_head flying; /* aq_flight.fly, thread only: events started and not yet done */
    int running; /* started, outcome not yet handled */
    int64_t depth; /* rows in async_events */
    int64_t oldest_ms; /* enqueued_at of the oldest row (broker time), 0: none */
    bool stop;
    bool started;
    bool wait_check; /* a new event-wait needs looking up (asyncwait.c) */
    pthread_t thr;
    bool thr_started;
    sqlconn *acc, *disp; /* thread only: FULL for submissions, NORMAL for the rest */
    mq *mq; /* thread only: the queue/topic engine on disp, for destinations and DLQs */
    int mq_events; /* thread only: async events a topic delivery stored this transaction */
    /* thread only: events finished in the open transaction, told to
     * asyncwait.c once it has committed */
    struct aq_note {
        char rid[40];
        char record[40];
        char cond[24];
        char ferr[16]; /* the last run's FunctionError, "" if none */
        char etype[64]; /* its errorType, or the invocation error's type */
    } * notes;
    int n_notes, cap_notes;
    clk_watcher clock_w; /* wakes the thread when broker time is advanced */
    int64_t next_sweep; /* thread only: broker time of the next sweep_keys */
} AQ = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Deliveries to queues and topics that could not be made (status). */
static struct {
    _Atomic int64_t dest_failures; /* DestinationDeliveryFailures */
    _Atomic int64_t dlq_errors; /* DeadLetterErrors */
} DELIVERY;

/* ---- submission (a way in's callback side) ---- */

static void reply_error(completion c, int code, const char *msg)
{
    lm_error e;
    proto_error(&e, code, "%s", msg);
    complete_error(c, &e);
}

void asyncq_submit(completion done, nng_msg *req, const char *name, const char *qual,
                   const void *payload, size_t payload_len, const char *key, size_t key_len)
{
    aq_submit *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        nng_msg_free(req);
        reply_error(done, LM_E_NOMEM, "out of memory");
        return;
    }
    s->done = done;
    s->req = req;
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->qual, sizeof(s->qual), "%s", qual);
    s->payload = payload;
    s->payload_len = payload_len;
    if (key != NULL && key_len <= PROTO_IDEMPOTENCY_KEY_MAX) {
        memcpy(s->key, key, key_len);
        s->key[key_len] = '\0';
    }
    pthread_mutex_lock(&AQ.mtx);
    int err = !AQ.started || AQ.stop                    ? LM_E_STOPPING
              : AQ.depth + AQ.n_sub >= ASYNCQ_MAX_DEPTH ? LM_E_THROTTLED
                                                        : LM_OK;
    if (err == LM_OK) {
        list_push_back(&AQ.subs, &s->node);
        AQ.n_sub++;
        pthread_cond_signal(&AQ.cv);
    }
    pthread_mutex_unlock(&AQ.mtx);
    if (err != LM_OK) {
        nng_msg_free(req);
        free(s);
        reply_error(done, err,
                    err == LM_E_STOPPING
                        ? "the broker is stopping"
                        : "Rate Exceeded. (Reason: the async queue holds its limit of events)");
    }
}

static nng_msg *accepted_reply(const char *rid)
{
    proto_writer w;
    nng_msg *m = proto_reply_begin(&w, "result", 3, 0);
    if (m == NULL) {
        return NULL;
    }
    pw_key(&w, "status");
    pw_int(&w, 202);
    pw_key(&w, "rid");
    pw_str(&w, rid);
    pw_key(&w, "payload");
    pw_bin(&w, "", 0);
    return proto_reply_end(&w, m);
}

static void add_depth(int64_t n)
{
    pthread_mutex_lock(&AQ.mtx);
    AQ.depth += n;
    pthread_mutex_unlock(&AQ.mtx);
}

/* ---- idempotency keys (table async_idempotency; see the head) ---- */

/* The request a key stands for: SHA-256 of the qualifier ("$LATEST" is
 * ""), a NUL, and the payload.  Computed before the write transaction. */
static void fingerprint(aq_submit *s)
{
    const char *q = strcmp(s->qual, "$LATEST") == 0 ? "" : s->qual;
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    if (mbedtls_sha256_starts_ret(&c, 0) != 0 ||
        mbedtls_sha256_update_ret(&c, (const unsigned char *)q, strlen(q) + 1) != 0 ||
        mbedtls_sha256_update_ret(&c, s->payload, s->payload_len) != 0 ||
        mbedtls_sha256_finish_ret(&c, s->fp) != 0) {
        memset(s->fp, 0, sizeof(s->fp)); /* cannot fail for SHA-256 in memory */
    }
    mbedtls_sha256_free(&c);
}

/* Claim s's key for the new event s->rid (store/async_events.c: one
 * statement on the common path, a new key).  When a live row holds the
 * key, nothing is written and s becomes its duplicate (s->rid: the
 * first's) or a mismatch.  False on an SQL error. */
static bool claim_key(sqlconn *c, aq_submit *s, int64_t now)
{
    char held[40];
    switch (async_events_claim_key(c, s->name, s->key, s->rid, s->fp, now, now - ASYNCQ_KEY_TTL_MS,
                                   held)) {
    case ASYNC_KEY_CLAIMED: return true; /* ours */
    case ASYNC_KEY_SAME: s->staged = AQS_DUPLICATE; break;
    case ASYNC_KEY_OTHER: s->staged = AQS_MISMATCH; break;
    default: return false;
    }
    snprintf(s->rid, sizeof(s->rid), "%s", held);
    return true;
}

/* Delete keys past their time, a bounded batch at a time, every
 * ASYNCQ_SWEEP_EVERY_MS of broker time (sooner while a batch was full).
 * Lookups ignore expired rows anyway: this only bounds the table. */
static void sweep_keys(void)
{
    int64_t now = clk_now_ms();
    if (now < AQ.next_sweep) {
        return;
    }
    int n = async_events_sweep_keys(AQ.disp, now - ASYNCQ_KEY_TTL_MS, ASYNCQ_SWEEP_ROWS);
    bool full = n >= ASYNCQ_SWEEP_ROWS;
    AQ.next_sweep = full ? now : now + ASYNCQ_SWEEP_EVERY_MS;
}

/* Stage every submission (inside the caller's transaction; one savepoint
 * for all, so they are stored together or not at all): a new event with
 * its key (claimed first), or what its key says (duplicate, mismatch).  Submissions of one
 * key in one batch see each other: the first is stored, the rest are its
 * duplicates.  *stored counts the new events.  True when all went in. */
static bool stage_submits(sqlconn *c, list_head *list, int *stored)
{
    *stored = 0;
    if (list_empty(list)) {
        return true;
    }
    if (!sqlconn_savepoint(c)) {
        return false;
    }
    int64_t now = clk_now_ms();
    bool ok = true;
    LIST_EACH(s, aq_submit, node, list)
    {
        if (!ok) {
            break;
        }
        s->staged = AQS_STORED;
        util_uuid4(s->rid);
        ok = s->key[0] == '\0' || claim_key(c, s, now);
        if (!ok || s->staged != AQS_STORED) {
            continue;
        }
        ok = async_events_insert(c, s->rid, s->name, s->qual, s->payload, s->payload_len,
                                 clk_now_ms(), 0);
        *stored += ok ? 1 : 0;
    }
    if (!ok) {
        sqlconn_rollback_to(c);
    }
    sqlconn_release(c);
    return ok;
}

/* Answer every submission once its transaction is over: 202 with its
 * request id when stored (committed) or a duplicate, else an error. */
static void answer_submits(list_head *list, bool committed)
{
    aq_submit *s;
    while ((s = list_pop_front_entry(list, aq_submit, node)) != NULL) {
        if (!committed) {
            reply_error(s->done, LM_E_IO, "the event could not be stored");
        } else if (s->staged == AQS_MISMATCH) {
            lm_error e;
            proto_error(&e, LM_E_IDEMPOTENT_MISMATCH,
                        "IdempotencyKey '%s' of function %s was used within the last 24 hours "
                        "for a different request (another payload or qualifier; RequestId %s)",
                        s->key, s->name, s->rid);
            complete_error(s->done, &e);
        } else {
            if (s->staged == AQS_DUPLICATE) {
                blog(LOG_DEBUG, "async %s of %s: repeated key, not queued again", s->rid, s->name);
            }
            complete_reply(s->done, accepted_reply(s->rid));
        }
        nng_msg_free(s->req);
        free(s);
    }
}

/* ---- configuration and records ---- */

static void load_config(const char *name, event_config *c)
{
    memset(c, 0, sizeof(*c));
    c->max_retry = EVENT_DEFAULT_RETRIES;
    c->max_age_s = EVENT_DEFAULT_MAX_AGE;
    store_event_config_on(AQ.disp, name, c); /* else the defaults */
}

/* Lambda's invocation record (malloc'd JSON text), at most the async cap:
 * payloads that do not fit are replaced by null, response first. */
static char *build_record(const aq_flight *f, const char *condition)
{
    char ts[40], arn[NAME_MAX_LEN + 40];
    util_iso8601_now(ts, sizeof(ts));
    snprintf(arn, sizeof(arn), "function:%s:%s", f->name,
             f->version[0] != '\0' ? f->version : "$LATEST");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "version", "1.0");
    cJSON_AddStringToObject(r, "timestamp", ts);
    cJSON *rc = cJSON_AddObjectToObject(r, "requestContext");
    cJSON_AddStringToObject(rc, "requestId", f->rid);
    cJSON_AddStringToObject(rc, "functionArn", arn);
    cJSON_AddStringToObject(rc, "condition", condition);
    cJSON_AddNumberToObject(rc, "approximateInvokeCount", f->invokes);
    cJSON *req = async_events_payload_json(AQ.disp, f->id); /* NULL: gone or not JSON */
    cJSON_AddItemToObject(r, "requestPayload", req != NULL ? req : cJSON_CreateNull());
    cJSON *resp = cJSON_AddObjectToObject(r, "responseContext");
    cJSON_AddNumberToObject(resp, "statusCode", f->status);
    cJSON_AddStringToObject(resp, "executedVersion", f->version);
    if (f->ferr[0] != '\0') {
        cJSON_AddStringToObject(resp, "functionError", f->ferr);
    }
    cJSON *out = NULL;
    if (f->payload != NULL && f->code == LM_OK) {
        out = cJSON_ParseWithLength(f->payload, f->payload_len);
        if (out == NULL) {
            out = cJSON_CreateString(f->payload);
        }
    } else if (f->payload != NULL) { /* never ran: the invocation error */
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "errorType", proto_err_type(f->code));
        cJSON_AddStringToObject(out, "errorMessage", f->payload);
    }
    if (out != NULL) {
        cJSON_AddItemToObject(r, "responsePayload", out);
    }
    char *s = cJSON_PrintUnformatted(r);
    if (s != NULL && strlen(s) > ASYNCQ_MAX_PAYLOAD && out != NULL) {
        free(s);
        cJSON_ReplaceItemInObject(r, "responsePayload", cJSON_CreateNull());
        s = cJSON_PrintUnformatted(r);
    }
    if (s != NULL && strlen(s) > ASYNCQ_MAX_PAYLOAD) {
        free(s);
        cJSON_ReplaceItemInObject(r, "requestPayload", cJSON_CreateNull());
        s = cJSON_PrintUnformatted(r);
    }
    cJSON_Delete(r);
    return s;
}

/* Remember a finish for asyncwait.c until its transaction has committed.
 * Without memory the note is lost: a waiter then gets Pending. */
static void note_finished(const aq_flight *f, const char *cond, const char *record)
{
    if (AQ.n_notes == AQ.cap_notes) {
        int cap = AQ.cap_notes > 0 ? AQ.cap_notes * 2 : 64;
        struct aq_note *n = realloc(AQ.notes, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            return;
        }
        AQ.notes = n;
        AQ.cap_notes = cap;
    }
    struct aq_note *n = &AQ.notes[AQ.n_notes++];
    snprintf(n->rid, sizeof(n->rid), "%s", f->rid);
    snprintf(n->cond, sizeof(n->cond), "%s", cond);
    snprintf(n->record, sizeof(n->record), "%s", record);
    snprintf(n->ferr, sizeof(n->ferr), "%s", f->ferr);
    n->etype[0] = '\0';
    if (f->code != LM_OK) { /* never ran: refused, not found, too old */
        snprintf(n->etype, sizeof(n->etype), "%s", f->code != 0 ? proto_err_type(f->code) : "");
    } else if (f->ferr[0] != '\0' && f->payload != NULL) {
        cJSON *j = cJSON_ParseWithLength(f->payload, f->payload_len);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "errorType");
        if (cJSON_IsString(t)) {
            snprintf(n->etype, sizeof(n->etype), "%s", t->valuestring);
        }
        cJSON_Delete(j);
    }
}

/* The notes' transaction committed (tell the waiters) or rolled back. */
static void notes_flush(bool committed)
{
    for (int i = 0; committed && i < AQ.n_notes; i++) {
        const struct aq_note *n = &AQ.notes[i];
        asyncwait_finished(n->rid, n->cond, n->record, n->ferr, n->etype);
    }
    AQ.n_notes = 0;
}

/* Is an event with this request id stored (queued or running)? */
static bool stored_rid(const char *rid)
{
    return async_events_stored(AQ.disp, rid);
}

/* Plan an event's end: when dest is set, the record for it (built now,
 * outside the write lock; written with the delete in write_plan). */
static void plan_finish(aq_flight *f, const char *dest, const char *condition)
{
    lm_error e;
    f->finish = true;
    f->cond = condition;
    if (dest[0] != '\0' && mq_target_parse(dest, strlen(dest), &f->rec_to, &e) != LM_OK) {
        blog(LOG_WARN, "async %s of %s: destination %s: %s; record dropped", f->rid, f->name, dest,
             e.message);
        atomic_fetch_add(&DELIVERY.dest_failures, 1);
    } else if (dest[0] != '\0' && f->hops >= ASYNCQ_MAX_HOPS) {
        blog(LOG_WARN, "async %s of %s: destination chain longer than %d, record dropped", f->rid,
             f->name, ASYNCQ_MAX_HOPS);
    } else if (dest[0] != '\0' && (f->rec_to.kind != MQ_TARGET_FUNCTION ||
                                   invoke_parse_name(dest, strlen(dest), NULL, 0, f->rec_name,
                                                     f->rec_qual, &e) == LM_OK)) {
        f->rec = build_record(f, condition);
        util_uuid4(f->rec_rid);
        snprintf(f->rec_dest, sizeof(f->rec_dest), "%s", dest);
    }
    if (strcmp(condition, "Success") == 0) {
        return;
    }
    /* the dead-letter queue of the version that ran (of the one the
     * qualifier names now, if none ran) gets the event too */
    if (f->version[0] == '\0') {
        invoke_dead_letter(f->name, f->qual, f->dead_letter, sizeof(f->dead_letter));
    }
    if (f->dead_letter[0] == '\0') {
        return;
    }
    if (mq_target_parse(f->dead_letter, strlen(f->dead_letter), &f->dlq_to, &e) != LM_OK ||
        f->dlq_to.kind == MQ_TARGET_FUNCTION) {
        blog(LOG_WARN, "async %s of %s: dead-letter target %s is not a queue or topic; dropped",
             f->rid, f->name, f->dead_letter);
        atomic_fetch_add(&DELIVERY.dlq_errors, 1);
        return;
    }
    f->to_dlq = true;
}

/* Decide what becomes of an event whose run ended (or that never started:
 * refused, or expired), without writing anything. */
static void plan(aq_flight *f)
{
    event_config c;
    load_config(f->name, &c);
    if (f->expired) {
        plan_finish(f, c.on_failure, "EventAgeExceeded");
        return;
    }
    int64_t now = clk_now_ms();
    int64_t deadline = f->enqueued_at + (int64_t)c.max_age_s * 1000;
    if (f->code == LM_OK && f->ferr[0] == '\0') {
        plan_finish(f, c.on_success, "Success");
        return;
    }
    if (f->code == LM_E_NOT_FOUND) {
        f->status = 404;
        plan_finish(f, c.on_failure, "RetriesExhausted");
        return;
    }
    if (f->code == LM_E_THROTTLED && invoke_reserved(f->name) == 0) {
        /* reserved concurrency 0: Lambda sends new events straight to the
         * failure destination / DLQ, without retries */
        f->status = 429;
        plan_finish(f, c.on_failure, "RetriesExhausted");
        return;
    }
    int64_t delay;
    if (f->code == LM_OK) { /* a function error */
        if (f->invokes > c.max_retry) {
            plan_finish(f, c.on_failure, "RetriesExhausted");
            return;
        }
        delay = f->invokes == 1 ? 60000 : 120000;
    } else { /* refused: throttled, stopping, no memory */
        f->throttles++;
        delay = (int64_t)fmin(1000.0 * pow(2.0, f->throttles - 1), 300000.0);
    }
    if (now + delay > deadline) {
        plan_finish(f, c.on_failure, "EventAgeExceeded");
        return;
    }
    f->finish = false;
    f->next_at = now + delay;
}

/* Write a plan (inside the caller's transaction).  An end
 * deletes the event and queues its record in one savepoint: both or
 * neither (then it stays queued and runs again: at least once). */
/* A destination record onto an event bus, as Lambda sends one: the record
 * is the detail, source "lambda", detail-type "Lambda Function Invocation
 * Result - Success" or "… - Failure" (from requestContext.condition),
 * resources [function ARN, destination ARN]. */
static int deliver_bus(const mq_target *t, const char *body, size_t len, lm_error *e)
{
    cJSON *rec = cJSON_ParseWithLength(body, len);
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(rec, "requestContext");
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(rc, "condition");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(rc, "functionArn");
    bool ok = cJSON_IsString(cond) && strcmp(cond->valuestring, "Success") == 0;
    cJSON *entries = cJSON_CreateArray(), *en = cJSON_CreateObject();
    cJSON_AddItemToArray(entries, en);
    cJSON_AddStringToObject(en, "Source", "lambda");
    cJSON_AddStringToObject(en, "DetailType",
                            ok ? "Lambda Function Invocation Result - Success"
                               : "Lambda Function Invocation Result - Failure");
    char *detail = malloc(len + 1);
    if (detail != NULL) {
        memcpy(detail, body, len);
        detail[len] = '\0';
    }
    cJSON_AddStringToObject(en, "Detail", detail != NULL ? detail : "{}");
    free(detail);
    cJSON *res = cJSON_AddArrayToObject(en, "Resources");
    /* the record's functionArn is "function:NAME:VERSION": the full ARN */
    char name[65] = "", fn_arn[MQ_ARN_MAX] = "";
    const char *q = "";
    if (cJSON_IsString(fn) && strncmp(fn->valuestring, "function:", 9) == 0) {
        snprintf(name, sizeof(name), "%s", fn->valuestring + 9);
        char *colon = strchr(name, ':');
        if (colon != NULL) {
            *colon = '\0';
            q = fn->valuestring + 9 + (colon - name) + 1;
        }
        mq_function_arn(name, q, fn_arn);
    }
    cJSON_AddItemToArray(res, cJSON_CreateString(fn_arn));
    cJSON_AddItemToArray(res, cJSON_CreateString(t->arn));
    cJSON_AddStringToObject(en, "EventBusName", t->name);
    mq_event_out out[MQ_PUT_EVENTS_MAX];
    size_t n = 0, failed = 0;
    int r = mq_put_events(AQ.mq, entries, clk_now_ms(), out, &n, &failed, e);
    if (r == LM_OK && failed > 0) {
        *e = out[0].err;
        r = out[0].err.code;
    }
    cJSON_Delete(entries);
    cJSON_Delete(rec);
    return r;
}

/* Send body to a queue, or publish it to a topic, in the open transaction
 * (AQ.mq joined it); attrs are SQS/SNS MessageAttributes or NULL. */
static int deliver(const mq_target *t, const char *body, size_t len, const cJSON *attrs,
                   lm_error *e)
{
    int64_t now = clk_now_ms();
    if (t->kind == MQ_TARGET_QUEUE) {
        mq_send_entry en = {.body = body, .body_len = len, .delay_s = -1, .attributes = attrs};
        mq_sent out;
        return mq_send(AQ.mq, t->name, &en, now, &out, e);
    }
    if (t->kind == MQ_TARGET_BUS) {
        return deliver_bus(t, body, len, e);
    }
    mq_publish_in in = {.message = body, .len = len, .attributes = attrs};
    mq_published out;
    return mq_publish(AQ.mq, t->name, &in, now, &out, e);
}

static void add_attr(cJSON *attrs, const char *name, const char *type, const char *value)
{
    cJSON *a = cJSON_AddObjectToObject(attrs, name);
    cJSON_AddStringToObject(a, "DataType", type);
    cJSON_AddStringToObject(a, "StringValue", value);
}

/* What went wrong, for a dead-letter message's ErrorMessage: at most
 * 1024 bytes, cut before a partial UTF-8 character. */
static void error_message(const aq_flight *f, char out[1025])
{
    cJSON *j = f->payload != NULL && f->code == LM_OK
                   ? cJSON_ParseWithLength(f->payload, f->payload_len)
                   : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "errorMessage");
    const char *text = cJSON_IsString(m)    ? m->valuestring
                       : f->payload != NULL ? f->payload
                       : strcmp(f->cond, "EventAgeExceeded") == 0
                           ? "the event is older than MaximumEventAgeInSeconds"
                           : f->cond;
    size_t full = strlen(text), n = full > 1024 ? 1024 : full;
    if (n < full) {
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    memcpy(out, text, n);
    out[n] = '\0';
    cJSON_Delete(j);
}

/* The original event to the dead-letter target, unchanged, with Lambda's
 * attributes RequestID, ErrorCode and ErrorMessage. */
static void send_to_dlq(sqlconn *c, aq_flight *f)
{
    lm_error e;
    size_t len = 0;
    char *event = async_events_payload_text(c, f->id, &len);
    cJSON *attrs = cJSON_CreateObject();
    char code[16], msg[1025];
    snprintf(code, sizeof(code), "%d", f->status > 0 ? f->status : 200);
    error_message(f, msg);
    add_attr(attrs, "RequestID", "String", f->rid);
    add_attr(attrs, "ErrorCode", "Number", code);
    add_attr(attrs, "ErrorMessage", "String", msg);
    if (event == NULL || attrs == NULL) {
        blog(LOG_WARN, "async %s of %s: the event could not be read for its dead-letter target",
             f->rid, f->name);
        atomic_fetch_add(&DELIVERY.dlq_errors, 1);
    } else if (deliver(&f->dlq_to, event, len, attrs, &e) != LM_OK) {
        blog(LOG_WARN, "async %s of %s: dead-letter target %s: %s; dropped", f->rid, f->name,
             f->dlq_to.arn, e.message);
        atomic_fetch_add(&DELIVERY.dlq_errors, 1);
    } else {
        blog(LOG_DEBUG, "async %s of %s: %s, event sent to %s", f->rid, f->name, f->cond,
             f->dlq_to.arn);
    }
    free(event);
    cJSON_Delete(attrs);
}

static void write_plan(sqlconn *c, aq_flight *f)
{
    if (!f->finish) {
        async_events_set_retry(c, f->id, f->next_at, f->invokes, f->throttles);
        return;
    }
    bool ok = sqlconn_savepoint(c);
    bool to_fn = f->rec != NULL && f->rec_to.kind == MQ_TARGET_FUNCTION;
    bool queued = ok && to_fn &&
                  async_events_insert(c, f->rec_rid, f->rec_name, f->rec_qual, f->rec,
                                      strlen(f->rec), clk_now_ms(), f->hops + 1);
    ok = ok && (!to_fn || queued);
    bool delivered = false;
    if (ok && f->rec != NULL && !to_fn) { /* a queue or topic: never retried (Lambda's) */
        lm_error e;
        delivered = deliver(&f->rec_to, f->rec, strlen(f->rec), NULL, &e) == LM_OK;
        if (!delivered) {
            blog(LOG_WARN, "async %s of %s: destination %s: %s; record dropped", f->rid, f->name,
                 f->rec_to.arn, e.message);
            atomic_fetch_add(&DELIVERY.dest_failures, 1);
        }
    }
    if (ok && f->to_dlq) {
        send_to_dlq(c, f);
    }
    ok = ok && async_events_delete(c, f->id) && sqlconn_release(c);
    if (!ok) {
        sqlconn_rollback_to(c);
        sqlconn_release(c);
        return;
    }
    add_depth(queued ? 0 : -1);
    note_finished(f, f->cond, queued ? f->rec_rid : "");
    if (queued) {
        blog(LOG_DEBUG, "async %s of %s: %s, record %s sent to %s", f->rid, f->name, f->cond,
             f->rec_rid, f->rec_dest);
    } else if (delivered) {
        blog(LOG_DEBUG, "async %s of %s: %s, record sent to %s", f->rid, f->name, f->cond,
             f->rec_to.arn);
    } else if (strcmp(f->cond, "Success") != 0 && !f->to_dlq) {
        blog(LOG_WARN, "async %s of %s: %s after %d run(s), event discarded", f->rid, f->name,
             f->cond, f->invokes);
    }
}

/* ---- dispatch ---- */

static void commit_plans(list_head *list, bool ran);

/* Outcome callback: B.mtx held; copy and hand to the thread. */
static void on_done(void *arg, const invoke_outcome *o)
{
    aq_flight *f = arg;
    f->code = o->code;
    f->status = o->status;
    snprintf(f->version, sizeof(f->version), "%s", o->version != NULL ? o->version : "");
    snprintf(f->ferr, sizeof(f->ferr), "%s", o->ferr != NULL ? o->ferr : "");
    snprintf(f->dead_letter, sizeof(f->dead_letter), "%s",
             o->dead_letter != NULL ? o->dead_letter : "");
    f->payload = malloc(o->payload_len + 1);
    if (f->payload != NULL) {
        memcpy(f->payload, o->payload, o->payload_len);
        f->payload[o->payload_len] = '\0';
        f->payload_len = o->payload_len;
    }
    if (o->code == LM_OK) {
        f->invokes++;
    }
    pthread_mutex_lock(&AQ.mtx);
    list_push_back(&AQ.done, &f->node);
    pthread_cond_signal(&AQ.cv);
    pthread_mutex_unlock(&AQ.mtx);
}

static bool is_flying(int64_t id)
{
    LIST_EACH(f, aq_flight, fly, &AQ.flying)
    {
        if (f->id == id) {
            return true;
        }
    }
    return false;
}

static void unlink_flying(aq_flight *f)
{
    list_remove(&AQ.flying, &f->fly);
}

static void flight_free(aq_flight *f)
{
    free(f->payload);
    free(f->rec);
    free(f);
}

/* A due row as a flight, with its payload copied into f->req; NULL when
 * out of memory (the row stays, and is looked at again). */
static aq_flight *flight_from_row(const async_event_row *r)
{
    aq_flight *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }
    f->id = r->id;
    snprintf(f->rid, sizeof(f->rid), "%s", r->rid);
    snprintf(f->name, sizeof(f->name), "%s", r->name);
    snprintf(f->qual, sizeof(f->qual), "%s", r->qual);
    size_t n;
    const void *p = async_events_row_payload(r, &n);
    f->enqueued_at = r->enqueued_at;
    f->invokes = r->invokes;
    f->throttles = r->throttles;
    f->hops = r->hops;
    if (nng_msg_alloc(&f->req, 0) != 0 || (n > 0 && nng_msg_append(f->req, p, n) != 0)) {
        nng_msg_free(f->req);
        free(f);
        return NULL;
    }
    return f;
}

/* Start one event (its request goes to the pool).  One that cannot start
 * (too old, refused) goes onto *later, to be recorded in a transaction
 * with the others. */
static void start_one(aq_flight *f, list_head *later)
{
    nng_msg *req = f->req;
    f->req = NULL;
    event_config c;
    load_config(f->name, &c);
    if (clk_now_ms() > f->enqueued_at + (int64_t)c.max_age_s * 1000) {
        nng_msg_free(req);
        f->expired = true;
        list_push_back(later, &f->node);
        return;
    }
    list_push_front(&AQ.flying, &f->fly);
    pthread_mutex_lock(&AQ.mtx);
    AQ.running++;
    pthread_mutex_unlock(&AQ.mtx);
    lm_error e;
    size_t n = nng_msg_len(req);
    const void *body = nng_msg_body(req);
    invoke_opts o = {.rid = f->rid};
    if (invoke_start(f->name, f->qual, req, body, n, &o, on_done, f, &e) != LM_OK) {
        unlink_flying(f);
        pthread_mutex_lock(&AQ.mtx);
        AQ.running--;
        pthread_mutex_unlock(&AQ.mtx);
        if (e.code == LM_E_STOPPING) { /* left as it is: it runs after a restart */
            flight_free(f);
            return;
        }
        f->code = e.code;
        f->status = e.status;
        f->payload = strdup(e.message);
        f->payload_len = f->payload != NULL ? strlen(f->payload) : 0;
        if (e.code == LM_E_NOT_FOUND) {
            blog(LOG_WARN, "async %s: %s", f->rid, e.message);
        }
        list_push_back(later, &f->node);
    }
}

/* Reset the depth from the table (after a failed commit). */
static void recount(void)
{
    int64_t n;
    if (async_events_count(AQ.disp, &n)) {
        pthread_mutex_lock(&AQ.mtx);
        AQ.depth = n;
        pthread_mutex_unlock(&AQ.mtx);
    }
}

/* How many new environments may start for events now.  Queued events are
 * not callers waiting: rather than a new environment per event at once (a
 * burst of 2,000 echo events started 189 workers on 2 vCPUs, and accepting
 * new events slowed to a crawl), scale out gradually, as Lambda's async
 * pollers do — an event whose function has an idle environment starts at
 * once; others start while fewer than ASYNCQ_SPAWN_PACE environments are
 * starting.  (Counting idle environments of any function as room, as this
 * first did, let events of one function start cold beside another's idle
 * ones: a run through a destination ended with 81 workers.) */
static int spawn_budget(void)
{
    int total, idle, busy, spawning;
    pthread_mutex_lock(&B.mtx);
    pool_counts(&total, &idle, &busy, &spawning);
    pthread_mutex_unlock(&B.mtx);
    return spawning < ASYNCQ_SPAWN_PACE ? ASYNCQ_SPAWN_PACE - spawning : 0;
}

/* Idle environments of one function not yet given an event in this pass
 * (events are started after the scan, so the pool's count lags). */
typedef struct idle_left {
    char name[NAME_MAX_LEN + 1];
    char qual[130];
    int left;
} idle_left;

/* Take one of name[:qual]'s idle environments for an event, if it has one
 * left.  Past ASYNCQ_IDLE_FNS functions in one pass, events start cold
 * (paced). */
static bool claim_idle(idle_left *t, int *n, const char *name, const char *qual)
{
    int i = 0;
    while (i < *n && (strcmp(t[i].name, name) != 0 || strcmp(t[i].qual, qual) != 0)) {
        i++;
    }
    if (i == *n) {
        if (*n == ASYNCQ_IDLE_FNS) {
            return false;
        }
        snprintf(t[i].name, sizeof(t[i].name), "%s", name);
        snprintf(t[i].qual, sizeof(t[i].qual), "%s", qual);
        t[i].left = invoke_idle_count(name, qual);
        (*n)++;
    }
    if (t[i].left <= 0) {
        return false;
    }
    t[i].left--;
    return true;
}

/* One pass over the due rows (dispatch_due): the flights to start, in
 * next_at order, and what the pace left. */
typedef struct due_scan {
    int room; /* events that may start now */
    int budget; /* cold starts left (spawn_budget) */
    int started;
    bool deferred; /* a due event waits for the pace */
    list_head go; /* aq_flight.node, in next_at order */
    idle_left idle[ASYNCQ_IDLE_FNS];
    int n_idle;
} due_scan;

/* async_events_each_due's callback: take the row unless it is running
 * already or must wait for the pace; false once the room is used (or out
 * of memory: the row stays, and is looked at again). */
static bool take_due(void *arg, const async_event_row *r)
{
    due_scan *d = arg;
    if (is_flying(r->id)) {
        return true;
    }
    bool warm = claim_idle(d->idle, &d->n_idle, r->name, r->qual);
    if (!warm && d->budget <= 0) {
        d->deferred = true;
        return true;
    }
    aq_flight *f = flight_from_row(r);
    if (f == NULL) {
        return false;
    }
    list_push_back(&d->go, &f->node); /* in next_at order */
    d->budget -= warm ? 0 : 1;
    d->started++;
    return d->started < d->room;
}

/* Start due events while there is room; returns when to look again (broker
 * time, epoch ms). */
static int64_t dispatch_due(void)
{
    int64_t now = clk_now_ms();
    due_scan d = {.room = B.opt.max_concurrency - AQ.running, .budget = spawn_budget()};
    if (d.room > 0) {
        /* the snapshot is let go before any event starts */
        async_events_each_due(AQ.disp, now, d.room + AQ.running + ASYNCQ_SCAN_EXTRA, take_due, &d);
    }
    list_head later = {0};
    aq_flight *f;
    while ((f = list_pop_front_entry(&d.go, aq_flight, node)) != NULL) {
        start_one(f, &later);
    }
    if (!list_empty(&later)) {
        commit_plans(&later, false); /* expired or refused: never started */
    }
    /* paced with events left over: look again soon, as workers come up */
    int64_t next = now + (d.deferred ? ASYNCQ_PACE_WAIT_MS : ASYNCQ_MAX_WAIT_MS);
    int64_t t;
    if (async_events_next_due(AQ.disp, now, &t)) {
        next = t < next ? t : next;
    }
    return next;
}

/* Store every submission waiting now in one transaction (group commit:
 * one fsync for all), then answer them: 202 only after the COMMIT. */
static void commit_submits(list_head *subs)
{
    LIST_EACH(s, aq_submit, node, subs)
    {
        if (s->key[0] != '\0') {
            fingerprint(s); /* outside the write lock */
        }
    }
    int n = 0;
    sqlconn *c = AQ.acc; /* synchronous=FULL */
    bool tx = sqlconn_begin(c);
    bool stored = tx && stage_submits(c, subs, &n);
    if (tx && !(stored && sqlconn_commit(c))) {
        sqlconn_rollback(c);
        stored = false;
    }
    if (stored) {
        add_depth(n);
    }
    answer_submits(subs, stored);
}

/* Record what became of a list of events (aq_flight.node): plan each
 * (config, decision, record), write the log records of those that ran
 * (fnlog_flush), then write the outcomes in one transaction (no fsync: see
 * store/sqlconn.c).  `ran`: they were started (in AQ.flying, counted in
 * AQ.running). */
static void commit_plans(list_head *list, bool ran)
{
    LIST_EACH(f, aq_flight, node, list)
    {
        if (ran) {
            unlink_flying(f);
        }
        plan(f);
    }
    if (ran) {
        /* their log records were appended before their outcome callbacks
         * ran: written now, they are never missing behind a committed
         * outcome (broker/core/fnlog.c) */
        fnlog_flush();
    }
    bool tx = sqlconn_begin(AQ.disp);
    mq_bus_stats bus_before;
    if (tx && AQ.mq != NULL) {
        mq_bus_stats_get(AQ.mq, &bus_before);
        mq_join(AQ.mq); /* destinations and DLQs write in this transaction */
    }
    LIST_EACH(f, aq_flight, node, list)
    {
        if (!tx) {
            break;
        }
        write_plan(AQ.disp, f);
    }
    bool committed = tx && sqlconn_commit(AQ.disp);
    if (tx && !committed) {
        sqlconn_rollback(AQ.disp); /* lost: those events run again */
    }
    if (tx && AQ.mq != NULL) {
        if (committed) { /* destinations onto a bus: counted before any hook tells */
            mq_bus_stats bus_after;
            mq_bus_stats_get(AQ.mq, &bus_after);
            mqsvc_count_bus(&bus_before, &bus_after);
        }
        mq_leave(AQ.mq, committed); /* ready hooks: mqsvc_notify_ready */
    }
    if (committed && AQ.mq_events > 0) {
        add_depth(AQ.mq_events); /* topic deliveries to functions */
    }
    AQ.mq_events = 0;
    if (!committed) {
        recount();
    }
    notes_flush(committed);
    int n = 0;
    aq_flight *f;
    while ((f = list_pop_front_entry(list, aq_flight, node)) != NULL) {
        flight_free(f);
        n++;
    }
    if (ran) {
        pthread_mutex_lock(&AQ.mtx);
        AQ.running -= n;
        pthread_mutex_unlock(&AQ.mtx);
    }
}

static bool has_work(void)
{
    return !list_empty(&AQ.subs) || !list_empty(&AQ.done) || AQ.wait_check;
}

/* Wait for work (or stop, when stop_wakes), at most until broker time
 * reaches `due` or real time reaches `until` (both epoch ms).  A
 * clock-advance wakes the wait (clock_moved), which then measures `due`
 * against the new broker time.  AQ.mtx held. */
static void wait_for_work(int64_t due, int64_t until, bool stop_wakes)
{
    for (;;) {
        int64_t to_due = due - clk_now_ms();
        int64_t to_until = until - clk_wall_ms();
        int64_t left = to_due < to_until ? to_due : to_until;
        if (has_work() || (stop_wakes && AQ.stop) || left <= 0) {
            return;
        }
        left = left > ASYNCQ_MAX_WAIT_MS ? ASYNCQ_MAX_WAIT_MS : left;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&AQ.cv, &AQ.mtx, &ts);
    }
}

/* clk_advance's watcher: broker time jumped, so whatever the thread waits
 * for may be due now.  Takes AQ.mtx, so the signal cannot fall between the
 * thread's look at the clock and its wait. */
static void clock_moved(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&AQ.mtx);
    pthread_cond_signal(&AQ.cv);
    pthread_mutex_unlock(&AQ.mtx);
}

/* The thread: submissions, outcomes, due events, event-wait, checkpoints.
 * On stop it stores what was submitted, waits (up to 10 s) for the
 * outcomes of running events, then ends; events whose outcome is still
 * missing run again after a restart. */
static void *asyncq_main(void *arg)
{
    (void)arg;
    int64_t due = 0; /* broker time: the next due event */
    int64_t until = 0; /* real time: the next event-wait deadline, or the stop's pace */
    int64_t give_up = 0; /* stopping: outcomes awaited until then (real time) */
    for (;;) {
        pthread_mutex_lock(&AQ.mtx);
        wait_for_work(due, until, give_up == 0); /* once stopping: outcomes only */
        /* take both lists whole (a zeroed head is an empty list) */
        list_head subs = AQ.subs, done = AQ.done;
        list_init(&AQ.subs);
        AQ.n_sub = 0;
        list_init(&AQ.done);
        AQ.wait_check = false;
        bool stop = AQ.stop;
        bool idle = AQ.running == 0;
        pthread_mutex_unlock(&AQ.mtx);
        bool had_subs = !list_empty(&subs), had_done = !list_empty(&done);
        if (had_subs) { /* first: their 202s wait for nothing else */
            commit_submits(&subs);
        }
        if (had_done) {
            commit_plans(&done, true);
        }
        if (had_subs || had_done) { /* /metrics' oldest event age */
            int64_t oldest = 0;
            if (async_events_oldest(AQ.disp, &oldest)) {
                pthread_mutex_lock(&AQ.mtx);
                AQ.oldest_ms = oldest;
                pthread_mutex_unlock(&AQ.mtx);
            }
        }
        if (stop && give_up == 0) {
            give_up = clk_wall_ms() + 10000;
        }
        if (stop && !had_subs && !had_done && (idle || clk_wall_ms() > give_up)) {
            return NULL;
        }
        due = stop ? INT64_MAX : dispatch_due();
        if (!stop) {
            sweep_keys();
        }
        until = stop ? clk_wall_ms() + 50 : INT64_MAX;
        /* the submission connection never checkpoints (store/sqlconn.c) */
        sqlconn_checkpoint_if_large(AQ.disp, AQ.acc, ASYNCQ_WAL_MAX_FRAMES);
        int64_t waits = asyncwait_service(clk_wall_ms(), stored_rid);
        until = waits < until ? waits : until;
    }
}

/* ---- life cycle ---- */

/* ---- topic deliveries to functions (messaging/mq.h's invoke hook) ---- */

/* Store d as an async event on c, in the publish's transaction. */
static int store_delivery(sqlconn *c, const mq_delivery *d, lm_error *e)
{
    char rid[37];
    util_uuid4(rid);
    if (!async_events_insert(c, rid, d->function, d->qualifier, d->event, d->event_len,
                             clk_now_ms(), 0)) {
        return proto_error(e, LM_E_IO, "the async event for %s could not be stored",
                           d->function_arn);
    }
    return LM_OK;
}

/* AQ.mq's: a destination or DLQ publish on this thread's connection. */
static int own_delivery(void *arg, const mq_delivery *d, lm_error *e)
{
    (void)arg;
    int rc = store_delivery(AQ.disp, d, e);
    if (rc == LM_OK) {
        AQ.mq_events++;
    }
    return rc;
}

/* A destination record put on a bus: the messaging thread's tail sees it. */
static void own_bus_event(void *arg, const char *bus, const char *text)
{
    (void)arg;
    mqsvc_notify_event(bus, text);
}

static void own_ready(void *arg, const char *queue, int64_t at_ms)
{
    (void)arg;
    (void)at_ms;
    mqsvc_notify_ready(queue); /* a long poll on it may be waiting */
}

/* The messaging thread's (mqsvc_hooks): its own connection, adopted. */
static struct {
    sqlconn *c;
    int stored; /* this transaction */
} SNS;

int asyncq_sns_invoke(sqlite3 *db, const mq_delivery *d, lm_error *e)
{
    if (SNS.c == NULL && (SNS.c = sqlconn_adopt(db)) == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    int rc = store_delivery(SNS.c, d, e);
    if (rc == LM_OK) {
        SNS.stored++;
    }
    return rc;
}

void asyncq_sns_after(bool committed)
{
    if (committed && SNS.stored > 0) {
        pthread_mutex_lock(&AQ.mtx);
        AQ.depth += SNS.stored;
        pthread_cond_signal(&AQ.cv); /* due now */
        pthread_mutex_unlock(&AQ.mtx);
    }
    SNS.stored = 0;
}

void asyncq_sns_close(void)
{
    sqlconn_close(SNS.c); /* statements only: the connection is the service's */
    SNS.c = NULL;
}

void asyncq_delivery_counts(int64_t *dest_failures, int64_t *dlq_errors)
{
    *dest_failures = atomic_load(&DELIVERY.dest_failures);
    *dlq_errors = atomic_load(&DELIVERY.dlq_errors);
}

int asyncq_start(const char *db_path)
{
    /* submissions are fsync'd, the rest not (store/sqlconn.c) */
    AQ.acc = sqlconn_open(db_path, true);
    AQ.disp = AQ.acc != NULL ? sqlconn_open(db_path, false) : NULL;
    if (AQ.disp == NULL) {
        return -1;
    }
    lm_error me;
    if (mq_schema_apply(sqlconn_handle(AQ.disp), &me) != LM_OK ||
        (AQ.mq = mq_create(sqlconn_handle(AQ.disp), &me)) == NULL) {
        blog(LOG_ERROR, "asyncq: the queue/topic engine: %s", me.message);
        return -1;
    }
    mq_set_ready_hook(AQ.mq, own_ready, NULL);
    mq_set_invoke_hook(AQ.mq, own_delivery, NULL);
    if (mq_set_event_hook(AQ.mq, own_bus_event, NULL, &me) != LM_OK) {
        blog(LOG_WARN, "asyncq: destinations onto buses are not tailed: %s", me.message);
    }
    bool counted = async_events_count(AQ.disp, &AQ.depth);
    if (!async_events_oldest(AQ.disp, &AQ.oldest_ms)) {
        AQ.oldest_ms = 0;
    }
    if (!counted) {
        AQ.depth = 0;
        return -1;
    }
    if (AQ.depth > 0) {
        blog(LOG_INFO, "asyncq: %lld stored event(s) to run", (long long)AQ.depth);
    }
    AQ.clock_w = (clk_watcher){.wake = clock_moved};
    clk_watch(&AQ.clock_w);
    AQ.thr_started = pthread_create(&AQ.thr, NULL, asyncq_main, NULL) == 0;
    if (!AQ.thr_started) {
        return -1;
    }
    pthread_mutex_lock(&AQ.mtx);
    AQ.started = true;
    pthread_mutex_unlock(&AQ.mtx);
    return 0;
}

void asyncq_stop(void)
{
    pthread_mutex_lock(&AQ.mtx);
    AQ.stop = true;
    AQ.started = false;
    pthread_cond_broadcast(&AQ.cv);
    pthread_mutex_unlock(&AQ.mtx);
    if (AQ.thr_started) {
        pthread_join(AQ.thr, NULL); /* stores what was submitted */
        AQ.thr_started = false;
    }
    clk_unwatch(&AQ.clock_w);
    asyncwait_stop();
    mq_destroy(AQ.mq);
    AQ.mq = NULL;
    sqlconn_close(AQ.acc);
    sqlconn_close(AQ.disp);
    AQ.acc = AQ.disp = NULL;
    free(AQ.notes);
    AQ.notes = NULL;
    AQ.n_notes = AQ.cap_notes = 0;
}

void asyncq_wait(completion done, const char *rid, int64_t timeout_ms)
{
    /* +1: clk_wall_ms() truncates, so "now" may be up to 1 ms in the past
     * and a deadline of now + timeout_ms could end the wait a fraction of a
     * millisecond short of what the caller asked for */
    if (asyncwait_add(done, rid, clk_wall_ms() + timeout_ms + 1)) {
        pthread_mutex_lock(&AQ.mtx);
        AQ.wait_check = true;
        pthread_cond_signal(&AQ.cv);
        pthread_mutex_unlock(&AQ.mtx);
    }
}

int64_t asyncq_oldest_ms(void)
{
    pthread_mutex_lock(&AQ.mtx);
    int64_t v = AQ.oldest_ms;
    pthread_mutex_unlock(&AQ.mtx);
    return v;
}

void asyncq_counts(int64_t *queued, int *running)
{
    pthread_mutex_lock(&AQ.mtx);
    *queued = AQ.depth;
    *running = AQ.running;
    pthread_mutex_unlock(&AQ.mtx);
}
