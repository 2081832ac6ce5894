/*
 * broker/store/sqlconn.c — a connection of the async queue's thread, with
 * its prepared statements kept (see sqlconn_int.h), and its transactions.
 *
 * The async queue (async/asyncq.c) holds two of these, both on its own
 * thread: one with synchronous=FULL for submissions, whose commits are
 * fsync'd before their 202s, and one with NORMAL for everything else
 * (outcomes, retries, records), whose commits are not: a power loss may
 * undo such a commit and the event then runs again, which at-least-once
 * delivery allows; WAL keeps the undo whole, and the next submission's
 * commit makes it durable too.  That takes two fsyncs out of every event's
 * path (its outcome, and its record's).
 *
 * Checkpoints (copying the WAL back into the database) run inside
 * whichever commit crosses SQLite's 1,000 WAL pages, with an fsync of the
 * database file added to it.  A full connection never runs one, so no 202
 * waits for it: a WAL hook only counts the WAL's pages (wal_frames).  The
 * NORMAL connection keeps SQLite's auto-checkpoint, and as nothing else
 * writes meanwhile (but the rare admin write), each checkpoint copies every
 * frame and the WAL starts over from its beginning.  Should the WAL grow
 * anyway (submissions, but no outcomes to commit), the owner calls
 * sqlconn_checkpoint_if_large.  (Checkpoints that another thread's writes
 * kept from completing let the WAL reach 123 MB: test
 * the_wal_starts_over_….)
 */
#include <stdlib.h>

#include "lib/blog.h"
#include "store/sqlconn_int.h"

#define SQLCONN_STMT_CACHE 32 /* distinct statements on one connection (21 today) */

struct sqlconn {
    sqlite3 *db;
    bool adopted; /* sqlconn_adopt: db is someone else's to close */
    int wal_frames; /* full: WAL pages after its last commit */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } sc[SQLCONN_STMT_CACHE];
};

sqlite3_stmt *sqlconn_prepare(sqlconn *c, const char *sql)
{
    int slot = -1;
    for (int i = 0; i < SQLCONN_STMT_CACHE; i++) {
        if (c->sc[i].sql == sql) {
            return c->sc[i].st;
        }
        slot = slot < 0 && c->sc[i].sql == NULL ? i : slot;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        blog(LOG_ERROR, "store: prepare: %s", sqlite3_errmsg(c->db));
        return NULL;
    }
    if (slot >= 0) {
        c->sc[slot].sql = sql;
        c->sc[slot].st = st;
    }
    return st;
}

void sqlconn_done(sqlconn *c, sqlite3_stmt *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < SQLCONN_STMT_CACHE; i++) {
        if (c->sc[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st); /* the cache was full */
}

bool sqlconn_step_done(sqlconn *c, sqlite3_stmt *st)
{
    if (st == NULL) {
        return false;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        blog(LOG_ERROR, "store: write: %s", sqlite3_errmsg(c->db));
    }
    sqlconn_done(c, st);
    return rc == SQLITE_DONE;
}

sqlite3 *sqlconn_db(sqlconn *c)
{
    return c->db;
}

/* Run one statement without parameters (transaction control, pragmas). */
static bool exec(sqlconn *c, const char *sql)
{
    sqlite3_stmt *st = sqlconn_prepare(c, sql);
    int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;
    bool ok = rc == SQLITE_DONE || rc == SQLITE_ROW;
    if (!ok) {
        blog(LOG_ERROR, "store: %s: %s", sql, sqlite3_errmsg(c->db));
    }
    sqlconn_done(c, st);
    return ok;
}

bool sqlconn_begin(sqlconn *c)
{
    return exec(c, "BEGIN IMMEDIATE");
}

bool sqlconn_commit(sqlconn *c)
{
    return exec(c, "COMMIT");
}

bool sqlconn_rollback(sqlconn *c)
{
    return exec(c, "ROLLBACK");
}

bool sqlconn_savepoint(sqlconn *c)
{
    return exec(c, "SAVEPOINT step");
}

bool sqlconn_release(sqlconn *c)
{
    return exec(c, "RELEASE step");
}

bool sqlconn_rollback_to(sqlconn *c)
{
    return exec(c, "ROLLBACK TO step");
}

/* A full connection's WAL hook: count, never checkpoint (see the head). */
static int count_wal(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((sqlconn *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

void sqlconn_checkpoint_if_large(sqlconn *via, sqlconn *watched, int max_frames)
{
    if (watched->wal_frames < max_frames) {
        return;
    }
    watched->wal_frames = 0;
    int rc = sqlite3_wal_checkpoint_v2(via->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        blog(LOG_WARN, "store: checkpoint: %s", sqlite3_errmsg(via->db));
    }
}

sqlconn *sqlconn_open(const char *db_path, bool full)
{
    sqlconn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        blog(LOG_ERROR, "store: open %s: out of memory", db_path);
        return NULL;
    }
    if (sqlite3_open_v2(db_path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        blog(LOG_ERROR, "store: open %s: %s", db_path, sqlite3_errmsg(c->db));
        goto fail;
    }
    sqlite3_busy_timeout(c->db, 5000); /* the admin thread's store writes */
    if (!exec(c, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")) {
        goto fail;
    }
    if (full) { /* no checkpoint inside a submission's commit: see the head */
        sqlite3_wal_hook(c->db, count_wal, c);
    }
    return c;
fail:
    sqlconn_close(c);
    return NULL;
}

sqlconn *sqlconn_adopt(sqlite3 *db)
{
    sqlconn *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->db = db;
        c->adopted = true;
    }
    return c;
}

sqlite3 *sqlconn_handle(sqlconn *c)
{
    return c->db;
}

void sqlconn_close(sqlconn *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < SQLCONN_STMT_CACHE; i++) {
        sqlite3_finalize(c->sc[i].st);
    }
    if (!c->adopted) {
        sqlite3_close(c->db);
    }
    free(c);
}
