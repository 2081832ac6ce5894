/*
 * broker/store/async_events.c — the owner of the tables async_events and
 * async_idempotency: every statement on them (their schema and migrations
 * are store.c's, with the rest of the schema).  Called only from the async
 * queue's thread (async/asyncq.c), on the connection it passes: its
 * statements are prepared once per connection and kept (sqlconn_int.h).
 *
 * async_events: one row per event not yet finished, queued by a
 * submission or as a destination's record; the dispatcher reads the due
 * ones in (next_at, id) order through the index async_events_due, and
 * event-wait looks them up by request id (async_events_rid).  Payloads are
 * BLOBs read only for the rows that are started (async_events_row_payload),
 * so passing over a row (running already, or paced) does not load it.
 *
 * async_idempotency: primary key (name, key), the first RequestId, a
 * SHA-256 of what was sent and the broker time it was stored.  Claiming a
 * key is one statement on the common path (a new key: INSERT, or ON
 * CONFLICT take over a row past its time); only when a live row holds it
 * is it read back.  What a live row means (duplicate or mismatch) and how
 * long a key lives are the caller's (async/asyncq.c's head).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/blog.h"
#include "store/async_events.h"
#include "store/sqlconn_int.h"

bool async_events_insert(sqlconn *c, const char *rid, const char *name, const char *qual,
                         const void *payload, size_t len, int64_t now, int hops)
{
    sqlite3_stmt *st =
        sqlconn_prepare(c, "INSERT INTO async_events(request_id, name, qualifier, payload,"
                           " enqueued_at, next_at, hops) VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6)");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, qual, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, len > 0 ? payload : "", (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int(st, 6, hops);
    return sqlconn_step_done(c, st);
}

bool async_events_delete(sqlconn *c, int64_t id)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "DELETE FROM async_events WHERE id=?1");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
    }
    return sqlconn_step_done(c, st);
}

bool async_events_set_retry(sqlconn *c, int64_t id, int64_t next_at, int invokes, int throttles)
{
    sqlite3_stmt *st = sqlconn_prepare(
        c, "UPDATE async_events SET next_at=?2, invokes=?3, throttles=?4 WHERE id=?1");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, next_at);
        sqlite3_bind_int(st, 3, invokes);
        sqlite3_bind_int(st, 4, throttles);
    }
    return sqlconn_step_done(c, st);
}

bool async_events_count(sqlconn *c, int64_t *n)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "SELECT COUNT(*) FROM async_events");
    bool ok = st != NULL && sqlite3_step(st) == SQLITE_ROW;
    if (ok) {
        *n = sqlite3_column_int64(st, 0);
    }
    sqlconn_done(c, st);
    return ok;
}

bool async_events_oldest(sqlconn *c, int64_t *enqueued_at)
{
    /* ids grow with time and an event keeps its row across retries, so the
     * lowest id is the oldest: one probe of the primary key */
    sqlite3_stmt *st =
        sqlconn_prepare(c, "SELECT enqueued_at FROM async_events ORDER BY id LIMIT 1");
    bool ok = st != NULL;
    *enqueued_at = 0;
    if (ok) {
        int rc = sqlite3_step(st);
        ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
        if (rc == SQLITE_ROW) {
            *enqueued_at = sqlite3_column_int64(st, 0);
        }
    }
    sqlconn_done(c, st);
    return ok;
}

bool async_events_next_due(sqlconn *c, int64_t after, int64_t *at)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "SELECT MIN(next_at) FROM async_events WHERE next_at>?1");
    bool found = false;
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, after);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            *at = sqlite3_column_int64(st, 0);
            found = true;
        }
        sqlconn_done(c, st);
    }
    return found;
}

bool async_events_stored(sqlconn *c, const char *rid)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "SELECT 1 FROM async_events WHERE request_id=?1");
    bool found = false;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlconn_done(c, st);
    }
    return found;
}

cJSON *async_events_payload_json(sqlconn *c, int64_t id)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "SELECT payload FROM async_events WHERE id=?1");
    cJSON *j = NULL;
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        j = cJSON_ParseWithLength(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    }
    sqlconn_done(c, st);
    return j;
}

char *async_events_payload_text(sqlconn *c, int64_t id, size_t *len)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "SELECT payload FROM async_events WHERE id=?1");
    char *out = NULL;
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        out = malloc(n + 1);
        if (out != NULL) {
            memcpy(out, sqlite3_column_blob(st, 0), n);
            out[n] = '\0';
            *len = n;
        }
    }
    sqlconn_done(c, st);
    return out;
}

const void *async_events_row_payload(const async_event_row *r, size_t *len)
{
    sqlite3_stmt *st = r->priv;
    const void *p = sqlite3_column_blob(st, 4);
    *len = (size_t)sqlite3_column_bytes(st, 4);
    return p;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

bool async_events_each_due(sqlconn *c, int64_t now, int limit,
                           bool (*fn)(void *arg, const async_event_row *r), void *arg)
{
    sqlite3_stmt *st =
        sqlconn_prepare(c, "SELECT id, request_id, name, qualifier, payload, enqueued_at,"
                           " invokes, throttles, hops FROM async_events WHERE next_at<=?1"
                           " ORDER BY next_at, id LIMIT ?2");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    bool more = true;
    while (more && sqlite3_step(st) == SQLITE_ROW) {
        async_event_row r = {
            .id = sqlite3_column_int64(st, 0),
            .rid = col_text(st, 1),
            .name = col_text(st, 2),
            .qual = col_text(st, 3),
            .enqueued_at = sqlite3_column_int64(st, 5),
            .invokes = sqlite3_column_int(st, 6),
            .throttles = sqlite3_column_int(st, 7),
            .hops = sqlite3_column_int(st, 8),
            .priv = st,
        };
        more = fn(arg, &r);
    }
    sqlconn_done(c, st); /* the snapshot is let go */
    return true;
}

/* The live row holding (name, key): SAME or OTHER as its fingerprint is fp
 * or not, with its rid in held; ERROR when there is none or on an error. */
static async_key_claim live_key(sqlconn *c, const char *name, const char *key,
                                const unsigned char fp[32], int64_t expired, char *held)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "SELECT request_id, fingerprint FROM async_idempotency"
                                          " WHERE name=?1 AND key=?2 AND created_at>?3");
    if (st == NULL) {
        return ASYNC_KEY_ERROR;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, expired);
    async_key_claim out = ASYNC_KEY_ERROR;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *got = sqlite3_column_blob(st, 1);
        bool same = sqlite3_column_bytes(st, 1) == 32 && got != NULL && memcmp(got, fp, 32) == 0;
        out = same ? ASYNC_KEY_SAME : ASYNC_KEY_OTHER;
        snprintf(held, 40, "%s", col_text(st, 0));
    } else if (rc != SQLITE_DONE) {
        blog(LOG_ERROR, "store: key lookup: %s", sqlite3_errmsg(sqlconn_db(c)));
    } else { /* held, yet not live: cannot be, but do not store twice */
        blog(LOG_ERROR, "store: key %s of %s neither claimed nor held", key, name);
    }
    sqlconn_done(c, st);
    return out;
}

async_key_claim async_events_claim_key(sqlconn *c, const char *name, const char *key,
                                       const char *rid, const unsigned char fp[32], int64_t now,
                                       int64_t expired, char *held)
{
    sqlite3_stmt *st =
        sqlconn_prepare(c, "INSERT INTO async_idempotency(name, key, request_id, fingerprint,"
                           " created_at) VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(name, key)"
                           " DO UPDATE SET request_id=excluded.request_id,"
                           " fingerprint=excluded.fingerprint, created_at=excluded.created_at"
                           " WHERE created_at<=?6");
    if (st == NULL) {
        return ASYNC_KEY_ERROR;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rid, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, fp, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, expired);
    if (!sqlconn_step_done(c, st)) {
        return ASYNC_KEY_ERROR;
    }
    if (sqlite3_changes(sqlconn_db(c)) == 1) {
        return ASYNC_KEY_CLAIMED;
    }
    return live_key(c, name, key, fp, expired, held);
}

int async_events_sweep_keys(sqlconn *c, int64_t expired, int limit)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "DELETE FROM async_idempotency WHERE (name, key) IN"
                                          " (SELECT name, key FROM async_idempotency"
                                          " WHERE created_at<=?1 LIMIT ?2)");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, expired);
        sqlite3_bind_int(st, 2, limit);
    }
    if (!sqlconn_step_done(c, st)) {
        return -1;
    }
    return sqlite3_changes(sqlconn_db(c));
}
