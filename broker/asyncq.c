/*
 * broker/asyncq.c — asynchronous invocation (InvocationType Event): the
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
 *     runs again — at least once still holds (see conn_open()).
 *
 * Threading: one thread, the only user of two SQLite connections of its
 * own: one with synchronous=FULL for submissions, one with NORMAL for
 * everything else (see conn_open).  The api callback (invoke.c) validates
 * the request and hands it over with asyncq_submit() (no I/O in the
 * callback).  Each turn of the thread first commits every submission
 * waiting at that moment in one transaction (group commit) and sends the
 * 202s, then records the outcomes that came back, in a second transaction,
 * then starts due events through invoke.c's internal path (the same pool
 * and concurrency limit as sync invokes, no socket round trip).  An outcome
 * comes back in a callback under B.mtx, which only copies it onto this
 * thread's list.  Each turn ends with event-wait's lookups (asyncwait.c)
 * and, when the WAL has grown large, a checkpoint (acc_wal).  AQ.mtx is a
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
 * Retries (Lambda's): a function error (handled or unhandled) is retried
 * up to MaximumRetryAttempts times (0-2, default 2), 1 min before the
 * second run and 2 min before the third.  A refused run (throttled, broker
 * stopping, no memory) goes back to the queue with a delay growing from
 * 1 s to 5 min.  An event older than MaximumEventAgeInSeconds (default 6 h)
 * is not run again.  --async-retry-scale multiplies every delay (not the
 * event age), so tests can see retries in milliseconds.  Events that end
 * without success go to the OnFailure destination, successes to
 * OnSuccess, as invocation records; a record's own chain of destinations
 * stops after ASYNCQ_MAX_HOPS (Lambda stops loops after 16).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "broker.h"

#define ASYNCQ_MAX_HOPS 16
#define ASYNCQ_MAX_WAIT_MS 1000 /* look at the table at least this often */
#define ASYNCQ_SPAWN_PACE 8 /* new environments starting at once for events */
#define ASYNCQ_PACE_WAIT_MS 20 /* look again this soon while paced */
#define ASYNCQ_IDLE_FNS 16 /* functions whose idle environments one pass tracks */
#define ASYNCQ_SCAN_EXTRA 64 /* due rows looked at past those that fit, for warm ones */
#define ASYNCQ_WAL_MAX_FRAMES 4000 /* WAL pages (16 MB) past which the thread checkpoints */
#define AQ_STMT_CACHE 24 /* distinct statements this file prepares */

typedef struct aq_submit {
    api_ctx *actx;
    nng_msg *req;
    char name[NAME_MAX_LEN + 1];
    char qual[130];
    const void *payload; /* points into req */
    size_t payload_len;
    struct aq_submit *next;
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
    int64_t next_at; /* retry */
    nng_msg *req; /* the request, between the SELECT and the start */
    struct aq_flight *next; /* AQ.flying (thread only) */
    struct aq_flight *done_next; /* AQ.done_head (AQ.mtx) */
} aq_flight;

/* One SQLite connection and its prepared statements (one per thread). */
typedef struct aq_conn {
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } sc[AQ_STMT_CACHE];
} aq_conn;

/* The connection in use: AQ.acc while storing submissions, else AQ.disp. */
static _Thread_local aq_conn *CUR;

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    aq_submit *sub_head, *sub_tail;
    int n_sub;
    aq_flight *done_head, *done_tail;
    aq_flight *flying; /* thread only: events started and not yet done */
    int running; /* started, outcome not yet handled */
    int64_t depth; /* rows in async_events */
    bool stop;
    bool started;
    bool wait_check; /* a new event-wait needs looking up (asyncwait.c) */
    pthread_t thr;
    bool thr_started;
    aq_conn acc, disp; /* FULL for submissions, NORMAL for the rest */
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
    int acc_wal_frames; /* thread only: WAL pages after the last submission commit */
} AQ = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- submission (api callback side) ---- */

static void reply_error(api_ctx *actx, int code, const char *msg)
{
    lm_error e;
    proto_error(&e, code, "%s", msg);
    api_reply_error(actx, &e);
}

void asyncq_submit(api_ctx *actx, nng_msg *req, const char *name, const char *qual,
                   const void *payload, size_t payload_len)
{
    aq_submit *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        nng_msg_free(req);
        reply_error(actx, LM_E_NOMEM, "out of memory");
        return;
    }
    s->actx = actx;
    s->req = req;
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->qual, sizeof(s->qual), "%s", qual);
    s->payload = payload;
    s->payload_len = payload_len;
    pthread_mutex_lock(&AQ.mtx);
    int err = !AQ.started || AQ.stop                    ? LM_E_STOPPING
              : AQ.depth + AQ.n_sub >= ASYNCQ_MAX_DEPTH ? LM_E_THROTTLED
                                                        : LM_OK;
    if (err == LM_OK) {
        if (AQ.sub_tail != NULL) {
            AQ.sub_tail->next = s;
        } else {
            AQ.sub_head = s;
        }
        AQ.sub_tail = s;
        AQ.n_sub++;
        pthread_cond_signal(&AQ.cv);
    }
    pthread_mutex_unlock(&AQ.mtx);
    if (err != LM_OK) {
        nng_msg_free(req);
        free(s);
        reply_error(actx, err,
                    err == LM_E_STOPPING
                        ? "the broker is stopping"
                        : "Rate Exceeded. (Reason: the async queue holds its limit of events)");
    }
}

static nng_msg *accepted_reply(const char *rid)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return NULL;
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 5);
    pw_header(&w, "result");
    pw_key(&w, "status");
    pw_int(&w, 202);
    pw_key(&w, "rid");
    pw_str(&w, rid);
    pw_key(&w, "payload");
    pw_bin(&w, "", 0);
    if (w.err != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

/* ---- SQL helpers (thread only) ---- */

/* Statements are prepared once per connection and kept (persistent, reset
 * after each use): preparing them anew for every event cost more than
 * running them.  Keyed by the SQL text's address (callers pass literals). */
static sqlite3_stmt *prepare(const char *sql)
{
    int slot = -1;
    for (int i = 0; i < AQ_STMT_CACHE; i++) {
        if (CUR->sc[i].sql == sql) {
            return CUR->sc[i].st;
        }
        slot = slot < 0 && CUR->sc[i].sql == NULL ? i : slot;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(CUR->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        blog(LOG_ERROR, "asyncq: prepare: %s", sqlite3_errmsg(CUR->db));
        return NULL;
    }
    if (slot >= 0) {
        CUR->sc[slot].sql = sql;
        CUR->sc[slot].st = st;
    }
    return st;
}

/* Done with a statement from prepare(): reset it for its next use. */
static void release(sqlite3_stmt *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < AQ_STMT_CACHE; i++) {
        if (CUR->sc[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st); /* the cache was full */
}

static void conn_close(aq_conn *c)
{
    for (int i = 0; i < AQ_STMT_CACHE; i++) {
        sqlite3_finalize(c->sc[i].st);
        c->sc[i].sql = NULL;
        c->sc[i].st = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

static bool exec(const char *sql)
{
    sqlite3_stmt *st = prepare(sql);
    int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;
    bool ok = rc == SQLITE_DONE || rc == SQLITE_ROW;
    if (!ok) {
        blog(LOG_ERROR, "asyncq: %s: %s", sql, sqlite3_errmsg(CUR->db));
    }
    release(st);
    return ok;
}

static bool step_done(sqlite3_stmt *st)
{
    if (st == NULL) {
        return false;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        blog(LOG_ERROR, "asyncq: write: %s", sqlite3_errmsg(CUR->db));
    }
    release(st);
    return rc == SQLITE_DONE;
}

static bool insert_event(const char *rid, const char *name, const char *qual, const void *payload,
                         size_t len, int hops)
{
    sqlite3_stmt *st = prepare("INSERT INTO async_events(request_id, name, qualifier, payload,"
                               " enqueued_at, next_at, hops) VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6)");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, qual, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, len > 0 ? payload : "", (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, epoch_ms());
    sqlite3_bind_int(st, 6, hops);
    return step_done(st);
}

static bool delete_event(int64_t id)
{
    sqlite3_stmt *st = prepare("DELETE FROM async_events WHERE id=?1");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
    }
    return step_done(st);
}

static void add_depth(int64_t n)
{
    pthread_mutex_lock(&AQ.mtx);
    AQ.depth += n;
    pthread_mutex_unlock(&AQ.mtx);
}

/* Insert every submission (inside the caller's transaction; one savepoint
 * for all, so they are stored together or not at all).  rids gets their
 * request ids.  True when all were inserted. */
static bool stage_submits(aq_submit *list, int n, char (*rids)[40])
{
    if (n == 0) {
        return true;
    }
    if (rids == NULL || !exec("SAVEPOINT submit")) {
        return false;
    }
    bool ok = true;
    int i = 0;
    for (aq_submit *s = list; ok && s != NULL; s = s->next, i++) {
        uuid4(rids[i]);
        ok = insert_event(rids[i], s->name, s->qual, s->payload, s->payload_len, 0);
    }
    if (!ok) {
        exec("ROLLBACK TO submit");
    }
    exec("RELEASE submit");
    return ok;
}

/* Answer every submission: 202 when stored (committed), else an error. */
static void answer_submits(aq_submit *list, char (*rids)[40], bool stored)
{
    int i = 0;
    while (list != NULL) {
        aq_submit *s = list;
        list = s->next;
        if (stored) {
            api_reply(s->actx, accepted_reply(rids[i]));
        } else {
            reply_error(s->actx, LM_E_IO, "the event could not be stored");
        }
        nng_msg_free(s->req);
        free(s);
        i++;
    }
}

/* ---- configuration and records ---- */

static void load_config(const char *name, event_config *c)
{
    memset(c, 0, sizeof(*c));
    c->max_retry = EVENT_DEFAULT_RETRIES;
    c->max_age_s = EVENT_DEFAULT_MAX_AGE;
    sqlite3_stmt *st = prepare("SELECT max_retry, max_age, on_success, on_failure"
                               " FROM event_invoke_configs WHERE name=?1");
    if (st == NULL) {
        return;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *s;
        c->max_retry = sqlite3_column_int(st, 0);
        c->max_age_s = sqlite3_column_int(st, 1);
        s = sqlite3_column_text(st, 2);
        snprintf(c->on_success, sizeof(c->on_success), "%s", s != NULL ? (const char *)s : "");
        s = sqlite3_column_text(st, 3);
        snprintf(c->on_failure, sizeof(c->on_failure), "%s", s != NULL ? (const char *)s : "");
    }
    release(st);
}

/* The event's stored payload as JSON (NULL when gone or not JSON). */
static cJSON *load_payload(int64_t id)
{
    sqlite3_stmt *st = prepare("SELECT payload FROM async_events WHERE id=?1");
    cJSON *j = NULL;
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        j = cJSON_ParseWithLength(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    }
    release(st);
    return j;
}

/* Lambda's invocation record (malloc'd JSON text), at most the async cap:
 * payloads that do not fit are replaced by null, response first. */
static char *build_record(const aq_flight *f, const char *condition)
{
    char ts[40], arn[NAME_MAX_LEN + 40];
    iso8601_now(ts, sizeof(ts));
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
    cJSON *req = load_payload(f->id);
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
        aw_finished(n->rid, n->cond, n->record, n->ferr, n->etype);
    }
    AQ.n_notes = 0;
}

/* Is an event with this request id stored (queued or running)? */
static bool stored_rid(const char *rid)
{
    sqlite3_stmt *st = prepare("SELECT 1 FROM async_events WHERE request_id=?1");
    bool found = false;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        release(st);
    }
    return found;
}

/* Plan an event's end: when dest is set, the record for it (built now,
 * outside the write lock; written with the delete in write_plan). */
static void plan_finish(aq_flight *f, const char *dest, const char *condition)
{
    lm_error e;
    f->finish = true;
    f->cond = condition;
    if (dest[0] != '\0' && f->hops >= ASYNCQ_MAX_HOPS) {
        blog(LOG_WARN, "async %s of %s: destination chain longer than %d, record dropped", f->rid,
             f->name, ASYNCQ_MAX_HOPS);
    } else if (dest[0] != '\0' && invoke_parse_name(dest, strlen(dest), NULL, 0, f->rec_name,
                                                    f->rec_qual, &e) == LM_OK) {
        f->rec = build_record(f, condition);
        uuid4(f->rec_rid);
        snprintf(f->rec_dest, sizeof(f->rec_dest), "%s", dest);
    }
}

static int64_t scaled(double ms)
{
    return (int64_t)ceil(ms * B.opt.async_retry_scale);
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
    int64_t now = epoch_ms();
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
    int64_t delay;
    if (f->code == LM_OK) { /* a function error */
        if (f->invokes > c.max_retry) {
            plan_finish(f, c.on_failure, "RetriesExhausted");
            return;
        }
        delay = scaled(f->invokes == 1 ? 60000.0 : 120000.0);
    } else { /* refused: throttled, stopping, no memory */
        f->throttles++;
        delay = scaled(fmin(1000.0 * pow(2.0, f->throttles - 1), 300000.0));
    }
    if (now + delay > deadline) {
        plan_finish(f, c.on_failure, "EventAgeExceeded");
        return;
    }
    f->finish = false;
    f->next_at = now + delay;
}

static bool set_retry(int64_t id, int64_t next_at, int invokes, int throttles)
{
    sqlite3_stmt *st =
        prepare("UPDATE async_events SET next_at=?2, invokes=?3, throttles=?4 WHERE id=?1");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, next_at);
        sqlite3_bind_int(st, 3, invokes);
        sqlite3_bind_int(st, 4, throttles);
    }
    return step_done(st);
}

/* Write a plan (inside the caller's transaction).  An end
 * deletes the event and queues its record in one savepoint: both or
 * neither (then it stays queued and runs again: at least once). */
static void write_plan(aq_flight *f)
{
    if (!f->finish) {
        set_retry(f->id, f->next_at, f->invokes, f->throttles);
        return;
    }
    bool ok = exec("SAVEPOINT finish");
    bool queued =
        ok && f->rec != NULL &&
        insert_event(f->rec_rid, f->rec_name, f->rec_qual, f->rec, strlen(f->rec), f->hops + 1);
    ok = ok && (f->rec == NULL || queued) && delete_event(f->id) && exec("RELEASE finish");
    if (!ok) {
        exec("ROLLBACK TO finish");
        exec("RELEASE finish");
        return;
    }
    add_depth(queued ? 0 : -1);
    note_finished(f, f->cond, queued ? f->rec_rid : "");
    if (queued) {
        blog(LOG_DEBUG, "async %s of %s: %s, record %s sent to %s", f->rid, f->name, f->cond,
             f->rec_rid, f->rec_dest);
    } else if (strcmp(f->cond, "Success") != 0) {
        blog(LOG_WARN, "async %s of %s: %s after %d run(s), event discarded", f->rid, f->name,
             f->cond, f->invokes);
    }
}

/* ---- dispatch ---- */

static void commit_plans(aq_flight *list, bool ran);

/* Outcome callback: B.mtx held; copy and hand to the thread. */
static void on_done(void *arg, const invoke_outcome *o)
{
    aq_flight *f = arg;
    f->code = o->code;
    f->status = o->status;
    snprintf(f->version, sizeof(f->version), "%s", o->version != NULL ? o->version : "");
    snprintf(f->ferr, sizeof(f->ferr), "%s", o->ferr != NULL ? o->ferr : "");
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
    f->done_next = NULL;
    if (AQ.done_tail != NULL) {
        AQ.done_tail->done_next = f;
    } else {
        AQ.done_head = f;
    }
    AQ.done_tail = f;
    pthread_cond_signal(&AQ.cv);
    pthread_mutex_unlock(&AQ.mtx);
}

static bool is_flying(int64_t id)
{
    for (aq_flight *f = AQ.flying; f != NULL; f = f->next) {
        if (f->id == id) {
            return true;
        }
    }
    return false;
}

static void unlink_flying(aq_flight *f)
{
    for (aq_flight **pp = &AQ.flying; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            return;
        }
    }
}

static void flight_free(aq_flight *f)
{
    free(f->payload);
    free(f->rec);
    free(f);
}

/* A due row as a flight, with its payload copied into f->req; NULL when
 * out of memory (the row stays, and is looked at again). */
static aq_flight *flight_from_row(sqlite3_stmt *st)
{
    aq_flight *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }
    f->id = sqlite3_column_int64(st, 0);
    snprintf(f->rid, sizeof(f->rid), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(f->name, sizeof(f->name), "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(f->qual, sizeof(f->qual), "%s", (const char *)sqlite3_column_text(st, 3));
    const void *p = sqlite3_column_blob(st, 4);
    size_t n = (size_t)sqlite3_column_bytes(st, 4);
    f->enqueued_at = sqlite3_column_int64(st, 5);
    f->invokes = sqlite3_column_int(st, 6);
    f->throttles = sqlite3_column_int(st, 7);
    f->hops = sqlite3_column_int(st, 8);
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
static void start_one(aq_flight *f, aq_flight **later)
{
    nng_msg *req = f->req;
    f->req = NULL;
    f->done_next = NULL;
    event_config c;
    load_config(f->name, &c);
    if (epoch_ms() > f->enqueued_at + (int64_t)c.max_age_s * 1000) {
        nng_msg_free(req);
        f->expired = true;
        f->done_next = *later;
        *later = f;
        return;
    }
    f->next = AQ.flying;
    AQ.flying = f;
    pthread_mutex_lock(&AQ.mtx);
    AQ.running++;
    pthread_mutex_unlock(&AQ.mtx);
    lm_error e;
    size_t n = nng_msg_len(req);
    const void *body = nng_msg_body(req);
    if (invoke_start_internal(f->name, f->qual, f->rid, req, body, n, on_done, f, &e) != LM_OK) {
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
        f->done_next = *later;
        *later = f;
    }
}

/* Reset the depth from the table (after a failed commit). */
static void recount(void)
{
    sqlite3_stmt *st = prepare("SELECT COUNT(*) FROM async_events");
    if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        pthread_mutex_lock(&AQ.mtx);
        AQ.depth = sqlite3_column_int64(st, 0);
        pthread_mutex_unlock(&AQ.mtx);
    }
    release(st);
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

/* Start due events while there is room; returns when to look again (epoch ms). */
static int64_t dispatch_due(void)
{
    int64_t now = epoch_ms();
    int room = B.opt.max_concurrency - AQ.running;
    int budget = spawn_budget();
    bool deferred = false; /* a due event waits for the pace */
    aq_flight *go = NULL, *later = NULL, **go_tail = &go;
    idle_left idle[ASYNCQ_IDLE_FNS];
    int n_idle = 0;
    if (room > 0) {
        sqlite3_stmt *st = prepare("SELECT id, request_id, name, qualifier, payload, enqueued_at,"
                                   " invokes, throttles, hops FROM async_events WHERE next_at<=?1"
                                   " ORDER BY next_at, id LIMIT ?2");
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, now);
            sqlite3_bind_int(st, 2, room + AQ.running + ASYNCQ_SCAN_EXTRA);
            int started = 0;
            while (started < room && sqlite3_step(st) == SQLITE_ROW) {
                if (is_flying(sqlite3_column_int64(st, 0))) {
                    continue;
                }
                bool warm = claim_idle(idle, &n_idle, (const char *)sqlite3_column_text(st, 2),
                                       (const char *)sqlite3_column_text(st, 3));
                if (!warm && budget <= 0) {
                    deferred = true;
                    continue;
                }
                aq_flight *f = flight_from_row(st);
                if (f == NULL) {
                    break;
                }
                *go_tail = f; /* in next_at order */
                go_tail = &f->done_next;
                budget -= warm ? 0 : 1;
                started++;
            }
            release(st); /* the snapshot is let go before any event starts */
        }
    }
    while (go != NULL) {
        aq_flight *f = go;
        go = f->done_next;
        start_one(f, &later);
    }
    if (later != NULL) {
        commit_plans(later, false); /* expired or refused: never started */
    }
    /* paced with events left over: look again soon, as workers come up */
    int64_t next = now + (deferred ? ASYNCQ_PACE_WAIT_MS : ASYNCQ_MAX_WAIT_MS);
    sqlite3_stmt *st = prepare("SELECT MIN(next_at) FROM async_events WHERE next_at>?1");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, now);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            int64_t t = sqlite3_column_int64(st, 0);
            next = t < next ? t : next;
        }
        release(st);
    }
    return next;
}

/* Store every submission waiting now in one transaction (group commit:
 * one fsync for all), then answer them: 202 only after the COMMIT. */
static void commit_submits(aq_submit *subs)
{
    int n = 0;
    for (aq_submit *s = subs; s != NULL; s = s->next) {
        n++;
    }
    char(*rids)[40] = calloc((size_t)n, sizeof(*rids));
    CUR = &AQ.acc; /* synchronous=FULL */
    bool tx = exec("BEGIN IMMEDIATE");
    bool stored = tx && stage_submits(subs, n, rids);
    if (tx && !(stored && exec("COMMIT"))) {
        exec("ROLLBACK");
        stored = false;
    }
    CUR = &AQ.disp;
    if (stored) {
        add_depth(n);
    }
    answer_submits(subs, rids, stored);
    free(rids);
}

/* Record what became of a list of events (done_next-linked): plan each
 * (config, decision, record), then write them all in one transaction (no
 * fsync: see conn_open).  `ran`: they were started (in AQ.flying, counted
 * in AQ.running). */
static void commit_plans(aq_flight *list, bool ran)
{
    for (aq_flight *f = list; f != NULL; f = f->done_next) {
        if (ran) {
            unlink_flying(f);
        }
        plan(f);
    }
    bool tx = exec("BEGIN IMMEDIATE");
    for (aq_flight *f = list; tx && f != NULL; f = f->done_next) {
        write_plan(f);
    }
    bool committed = tx && exec("COMMIT");
    if (tx && !committed) {
        exec("ROLLBACK"); /* lost: those events run again */
    }
    if (!committed) {
        recount();
    }
    notes_flush(committed);
    int n = 0;
    while (list != NULL) {
        aq_flight *f = list;
        list = f->done_next;
        flight_free(f);
        n++;
    }
    if (ran) {
        pthread_mutex_lock(&AQ.mtx);
        AQ.running -= n;
        pthread_mutex_unlock(&AQ.mtx);
    }
}

/* Checkpoints (copying the WAL back into the database) run inside
 * whichever commit crosses SQLite's 1,000 WAL pages, with an fsync of the
 * database file added to it.  The submission connection never runs one, so
 * no 202 waits for it: its commits only count the WAL's pages (acc_wal).
 * The outcome connection keeps SQLite's auto-checkpoint, and as nothing
 * else writes meanwhile (but the rare admin write), each checkpoint copies
 * every frame and the WAL starts over from its beginning.  Should the WAL
 * grow anyway (submissions, but no outcomes to commit), the thread
 * checkpoints once it passes ASYNCQ_WAL_MAX_FRAMES.  (Checkpoints that
 * another thread's writes kept from completing let the WAL reach 123 MB:
 * test the_wal_starts_over_….) */
static int acc_wal(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)arg;
    (void)db;
    (void)name;
    AQ.acc_wal_frames = frames;
    return SQLITE_OK;
}

static void checkpoint_if_large(void)
{
    if (AQ.acc_wal_frames < ASYNCQ_WAL_MAX_FRAMES) {
        return;
    }
    AQ.acc_wal_frames = 0;
    int rc = sqlite3_wal_checkpoint_v2(AQ.disp.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        blog(LOG_WARN, "asyncq: checkpoint: %s", sqlite3_errmsg(AQ.disp.db));
    }
}

static bool has_work(void)
{
    return AQ.sub_head != NULL || AQ.done_head != NULL || AQ.wait_check;
}

/* Wait for work (or stop, when stop_wakes), at most until `until` (epoch
 * ms).  AQ.mtx held. */
static void wait_for_work(int64_t until, bool stop_wakes)
{
    while (!has_work() && !(stop_wakes && AQ.stop) && epoch_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t left = until - epoch_ms();
        left = left < 1 ? 1 : left;
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&AQ.cv, &AQ.mtx, &ts);
    }
}

/* The thread: submissions, outcomes, due events, event-wait, checkpoints.
 * On stop it stores what was submitted, waits (up to 10 s) for the
 * outcomes of running events, then ends; events whose outcome is still
 * missing run again after a restart. */
static void *asyncq_main(void *arg)
{
    (void)arg;
    CUR = &AQ.disp;
    int64_t wake = 0;
    int64_t give_up = 0; /* stopping: outcomes awaited until then */
    for (;;) {
        pthread_mutex_lock(&AQ.mtx);
        wait_for_work(wake, give_up == 0); /* once stopping: outcomes only */
        aq_submit *subs = AQ.sub_head;
        aq_flight *done = AQ.done_head;
        AQ.sub_head = AQ.sub_tail = NULL;
        AQ.n_sub = 0;
        AQ.done_head = AQ.done_tail = NULL;
        AQ.wait_check = false;
        bool stop = AQ.stop;
        bool idle = AQ.running == 0;
        pthread_mutex_unlock(&AQ.mtx);
        if (subs != NULL) { /* first: their 202s wait for nothing else */
            commit_submits(subs);
        }
        if (done != NULL) {
            commit_plans(done, true);
        }
        if (stop && give_up == 0) {
            give_up = epoch_ms() + 10000;
        }
        if (stop && subs == NULL && done == NULL && (idle || epoch_ms() > give_up)) {
            return NULL;
        }
        wake = stop ? epoch_ms() + 50 : dispatch_due();
        checkpoint_if_large();
        int64_t waits = aw_service(epoch_ms(), stored_rid);
        wake = waits < wake ? waits : wake;
    }
}

/* ---- life cycle ---- */

/* Open one of the thread's two connections.  Submissions are committed on
 * AQ.acc and fsync'd (synchronous=FULL) before their 202s.  Everything else
 * (outcomes, retries, records) goes through AQ.disp without an fsync
 * (NORMAL): a power loss may undo such a commit, and the event then runs
 * again, which at-least-once delivery allows; WAL keeps the undo whole, and
 * the next submission's commit makes it durable too.  This takes two
 * fsyncs out of every event's path (its outcome, and its record's). */
static int conn_open(aq_conn *c, const char *db_path, bool full)
{
    if (sqlite3_open_v2(db_path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        blog(LOG_ERROR, "asyncq: open %s: %s", db_path, sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        c->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(c->db, 5000); /* the admin thread's store writes */
    aq_conn *was = CUR;
    CUR = c;
    bool ok = exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (full) { /* no checkpoint inside a submission's commit: see acc_wal */
        sqlite3_wal_hook(c->db, acc_wal, NULL);
    }
    CUR = was;
    return ok ? 0 : -1;
}

int asyncq_start(const char *db_path)
{
    if (conn_open(&AQ.acc, db_path, true) != 0 || conn_open(&AQ.disp, db_path, false) != 0) {
        return -1;
    }
    CUR = &AQ.disp;
    sqlite3_stmt *st = prepare("SELECT COUNT(*) FROM async_events");
    bool counted = st != NULL && sqlite3_step(st) == SQLITE_ROW;
    AQ.depth = counted ? sqlite3_column_int64(st, 0) : 0;
    release(st);
    CUR = NULL;
    if (!counted) {
        return -1;
    }
    if (AQ.depth > 0) {
        blog(LOG_INFO, "asyncq: %lld stored event(s) to run", (long long)AQ.depth);
    }
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
    aw_stop();
    conn_close(&AQ.acc);
    conn_close(&AQ.disp);
    free(AQ.notes);
    AQ.notes = NULL;
    AQ.n_notes = AQ.cap_notes = 0;
}

void asyncq_wait(api_ctx *actx, const char *rid, int64_t timeout_ms)
{
    if (aw_add(actx, rid, epoch_ms() + timeout_ms)) {
        pthread_mutex_lock(&AQ.mtx);
        AQ.wait_check = true;
        pthread_cond_signal(&AQ.cv);
        pthread_mutex_unlock(&AQ.mtx);
    }
}

void asyncq_counts(int64_t *queued, int *running)
{
    pthread_mutex_lock(&AQ.mtx);
    *queued = AQ.depth;
    *running = AQ.running;
    pthread_mutex_unlock(&AQ.mtx);
}
