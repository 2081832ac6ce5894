/*
 * broker/store/store.c — the durable store: SQLite in WAL mode with
 * synchronous=FULL in <state>/lamina.db, its whole schema and migrations,
 * and the statements on the tables of functions, versions, aliases, event
 * invoke configs and meta.  The async queue's tables (async_events,
 * async_idempotency) are created here with the rest of the schema, but
 * every statement on them is store/async_events.c's, run on the async
 * queue's own connections (store/sqlconn.c); that queue's read of an event
 * invoke config is here too (store_event_config_on, on its connection),
 * so each table has one owner of its statements.  Every change is one transaction,
 * so a broker killed at any moment leaves either the old or the new rows,
 * never half of them: a published version is its `versions` row plus the
 * function's advanced `last_version` counter, committed together.  Used
 * only from the admin thread (and from main at startup), so one connection
 * and no locking of our own (store_event_config_on excepted: it runs on
 * the connection its caller passes).
 *
 * Tables: functions ($LATEST, one row per function, with the version
 * counter so numbers are never reused even after versions are deleted),
 * versions (immutable snapshots, (name, version) primary key), aliases.
 * Code blobs live outside (content-addressed files); a row is committed
 * only after its blob is on disk, so a committed row never lacks its code.
 * The reverse can happen (a crash between blob and row, or a blob kept
 * because an old worker still needed it): at startup, blobs no row refers
 * to and half-written temporaries are removed.
 *
 * Schema history: 1 = functions only; 2 = + functions.dead_letter,
 * functions.last_version, versions, aliases; 3 = + async_events (the
 * durable async-invoke queue: store/async_events.c)
 * and event_invoke_configs; 4 = + functions.revision_id and
 * versions.revision_id (Lambda's RevisionId: a UUID that $LATEST gets anew
 * on every change and a version once, when published); 5 = +
 * async_idempotency (async invokes' idempotency keys, written by
 * store/async_events.c in the transaction that stores their event: primary key (name, key), the
 * first RequestId, a SHA-256 of what was sent and the broker time it was
 * stored).  Upgrading 1 → 2 adds the columns (checked with pragma
 * table_info); 2 → 3 and 4 → 5 only add tables, created with IF NOT EXISTS
 * on every open; 3 → 4 adds the two revision_id columns (again checked
 * with pragma table_info) and gives every row that has none a fresh UUID
 * (lamina_uuid(), our uuid4 as an SQL function).  All of it is one
 * transaction that records the schema version last, so a crash leaves the
 * old schema whole and the next open simply does it again;
 * columns already there are not added twice and rows that have a revision
 * keep it.  The index async_events_rid (event-wait looks events up by
 * request id) is likewise created on every open, so a store made before it
 * gains it without a version bump.
 *
 * meta holds the schema version and, for a broker run with --test-clock,
 * test_clock_offset_ms: how far clock-advance has moved broker time
 * (lib/clock.h), so that a test broker restarted on the same state dir
 * carries on from the broker time its rows were written in.
 *
 * Revision preconditions: the writes that replace $LATEST, publish or
 * update an alias are compare-and-swap statements on the revision the admin
 * thread read (UPDATE … WHERE revision_id = the old one), so the store
 * itself refuses a write based on a stale read (412), whoever raced it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/sqlconn_int.h"
#include "store/store.h"

static sqlite3 *db;

/* The tables as schema 1 (functions) and 2 (the rest) made them; columns
 * added later come from migrate(), on new and old stores alike. */
static const char *schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS functions("
    "  name TEXT PRIMARY KEY,"
    "  code_sha256 TEXT NOT NULL,"
    "  code_size INTEGER NOT NULL,"
    "  timeout INTEGER NOT NULL,"
    "  memory INTEGER NOT NULL,"
    "  env TEXT NOT NULL DEFAULT '{}',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  last_modified TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS versions("
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  code_sha256 TEXT NOT NULL,"
    "  code_size INTEGER NOT NULL,"
    "  timeout INTEGER NOT NULL,"
    "  memory INTEGER NOT NULL,"
    "  env TEXT NOT NULL DEFAULT '{}',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  dead_letter TEXT NOT NULL DEFAULT '',"
    "  last_modified TEXT NOT NULL,"
    "  PRIMARY KEY(name, version));"
    "CREATE TABLE IF NOT EXISTS aliases("
    "  name TEXT NOT NULL,"
    "  alias TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  extra_version TEXT NOT NULL DEFAULT '',"
    "  extra_weight REAL NOT NULL DEFAULT 0,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  revision_id TEXT NOT NULL,"
    "  PRIMARY KEY(name, alias));"
    "CREATE TABLE IF NOT EXISTS async_events("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  request_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  qualifier TEXT NOT NULL DEFAULT '',"
    "  payload BLOB NOT NULL,"
    "  enqueued_at INTEGER NOT NULL," /* epoch ms */
    "  next_at INTEGER NOT NULL," /* epoch ms: not dispatched before */
    "  invokes INTEGER NOT NULL DEFAULT 0," /* runs that ended in a function error */
    "  throttles INTEGER NOT NULL DEFAULT 0," /* runs refused (throttle, system error) */
    "  hops INTEGER NOT NULL DEFAULT 0);" /* destination chain length */
    "CREATE INDEX IF NOT EXISTS async_events_due ON async_events(next_at);"
    "CREATE INDEX IF NOT EXISTS async_events_rid ON async_events(request_id);"
    "CREATE TABLE IF NOT EXISTS event_invoke_configs("
    "  name TEXT PRIMARY KEY,"
    "  max_retry INTEGER NOT NULL,"
    "  max_age INTEGER NOT NULL,"
    "  on_success TEXT NOT NULL DEFAULT '',"
    "  on_failure TEXT NOT NULL DEFAULT '',"
    "  last_modified REAL NOT NULL);"
    /* schema 5: async invokes' idempotency keys (store/async_events.c) */
    "CREATE TABLE IF NOT EXISTS async_idempotency("
    "  name TEXT NOT NULL," /* function name: the key's scope */
    "  key TEXT NOT NULL,"
    "  request_id TEXT NOT NULL," /* the first 202's */
    "  fingerprint BLOB NOT NULL," /* SHA-256 of qualifier, NUL, payload */
    "  created_at INTEGER NOT NULL," /* broker time, epoch ms */
    "  PRIMARY KEY(name, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS async_idempotency_age ON async_idempotency(created_at);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '5');";

static int db_error(lm_error *e, const char *what)
{
    return proto_error(e, LM_E_IO, "store: %s: %s", what, sqlite3_errmsg(db));
}

static bool has_column(const char *table, const char *column)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    bool found = false;
    snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (!found && sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *n = sqlite3_column_text(st, 1);
            found = n != NULL && strcmp((const char *)n, column) == 0;
        }
    }
    sqlite3_finalize(st);
    return found;
}

/* lamina_uuid(): a fresh uuid4 per call (not deterministic, so an UPDATE
 * evaluates it once per row). */
static void sql_uuid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    char u[37];
    util_uuid4(u);
    sqlite3_result_text(ctx, u, -1, SQLITE_TRANSIENT);
}

/* ALTER TABLE table ADD COLUMN, unless the column is there already. */
static int add_column(const char *table, const char *column, const char *decl, char **err)
{
    char sql[160];
    if (has_column(table, column)) {
        return SQLITE_OK;
    }
    snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", table, column, decl);
    return sqlite3_exec(db, sql, NULL, NULL, err);
}

/* Bring any older store to schema 5 in one transaction (see the head of
 * the file): add the columns it lacks, give rows without a RevisionId one,
 * record the version last.  Safe to run again on a store already there. */
static int migrate(char **err)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, err);
    if (rc == SQLITE_OK) {
        rc = add_column("functions", "dead_letter", "TEXT NOT NULL DEFAULT ''", err);
    }
    if (rc == SQLITE_OK) {
        rc = add_column("functions", "last_version", "INTEGER NOT NULL DEFAULT 0", err);
    }
    if (rc == SQLITE_OK) {
        rc = add_column("functions", "revision_id", "TEXT NOT NULL DEFAULT ''", err);
    }
    if (rc == SQLITE_OK) {
        rc = add_column("versions", "revision_id", "TEXT NOT NULL DEFAULT ''", err);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db,
                          "UPDATE functions SET revision_id=lamina_uuid() WHERE revision_id='';"
                          "UPDATE versions SET revision_id=lamina_uuid() WHERE revision_id='';"
                          "UPDATE meta SET value='5' WHERE key='schema'"
                          " AND CAST(value AS INTEGER) < 5;"
                          "COMMIT;",
                          NULL, NULL, err);
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

int store_open(const char *path, lm_error *e)
{
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        int rc = db_error(e, "open");
        sqlite3_close(db);
        db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_create_function(db, "lamina_uuid", 0, SQLITE_UTF8, NULL, sql_uuid, NULL, NULL) !=
        SQLITE_OK) {
        return db_error(e, "lamina_uuid");
    }
    char *err = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &err) !=
            SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK || migrate(&err) != SQLITE_OK) {
        int rc = proto_error(e, LM_E_IO, "store: schema: %s", err != NULL ? err : "?");
        sqlite3_free(err);
        return rc;
    }
    return LM_OK;
}

void store_close(void)
{
    if (db != NULL) {
        sqlite3_close(db);
        db = NULL;
    }
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t != NULL ? (const char *)t : "");
}

static const char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

/* A configuration from a row of (name, version, sha, size, timeout, memory,
 * env, description, dead_letter, last_modified, revision_id). */
static fn_config *row_config(sqlite3_stmt *st)
{
    fn_config *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->refs = 1;
    snprintf(c->name, sizeof(c->name), "%s", col_str(st, 0));
    snprintf(c->version, sizeof(c->version), "%s", col_str(st, 1));
    snprintf(c->sha256, sizeof(c->sha256), "%s", col_str(st, 2));
    c->code_size = (uint64_t)sqlite3_column_int64(st, 3);
    c->timeout_s = (uint32_t)sqlite3_column_int(st, 4);
    c->memory_mb = (uint32_t)sqlite3_column_int(st, 5);
    c->env_json = col_dup(st, 6);
    c->description = col_dup(st, 7);
    c->dead_letter = col_dup(st, 8);
    snprintf(c->last_modified, sizeof(c->last_modified), "%s", col_str(st, 9));
    snprintf(c->revision, sizeof(c->revision), "%s", col_str(st, 10));
    snprintf(c->code_path, sizeof(c->code_path), "%s/code/%s.so", B.opt.state, c->sha256);
    if (c->env_json == NULL || c->description == NULL || c->dead_letter == NULL) {
        fncfg_unref(c);
        return NULL;
    }
    return c;
}

static int load_configs(const char *sql, void (*fn)(fn_config *cfg, void *arg), void *arg,
                        lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fn_config *c = row_config(st);
        if (c == NULL) {
            sqlite3_finalize(st);
            return proto_error(e, LM_E_NOMEM, NULL);
        }
        fn(c, arg);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : db_error(e, "load");
}

static int load_counters(lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name, last_version FROM functions", -1, &st, NULL) !=
        SQLITE_OK) {
        return db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        function *f = registry_find(col_str(st, 0));
        uint32_t n = (uint32_t)sqlite3_column_int64(st, 1);
        if (f != NULL && n > f->last_version) {
            f->last_version = n;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : db_error(e, "load");
}

static int load_aliases(lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT name, alias, version, extra_version, extra_weight, description,"
                      " revision_id FROM aliases ORDER BY name, alias";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        function *f = registry_find(col_str(st, 0));
        fn_alias *a = f != NULL ? calloc(1, sizeof(*a)) : NULL;
        if (a == NULL) {
            continue;
        }
        snprintf(a->name, sizeof(a->name), "%s", col_str(st, 1));
        snprintf(a->version, sizeof(a->version), "%s", col_str(st, 2));
        snprintf(a->extra_version, sizeof(a->extra_version), "%s", col_str(st, 3));
        a->extra_weight = sqlite3_column_double(st, 4);
        a->description = col_dup(st, 5);
        snprintf(a->revision, sizeof(a->revision), "%s", col_str(st, 6));
        registry_put_alias(f, a);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : db_error(e, "load");
}

/* Is name "<64 hex>.so" (a blob) or "<64 hex>.so.tmp.<pid>" (*tmp)? */
static bool blob_name(const char *name, char sha[65], bool *tmp)
{
    size_t n = strlen(name);
    if (n < 67 || strspn(name, "0123456789abcdef") != 64 || strncmp(name + 64, ".so", 3) != 0) {
        return false;
    }
    *tmp = n > 67;
    if (*tmp && strncmp(name + 67, ".tmp.", 5) != 0) {
        return false;
    }
    memcpy(sha, name, 64);
    sha[64] = '\0';
    return true;
}

/* Remove unreferenced blobs and temporaries (startup: no writer runs). */
static void sweep_blobs(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 300], sha[65];
    snprintf(dir, sizeof(dir), "%s/code", B.opt.state);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        bool tmp = false;
        if (!blob_name(de->d_name, sha, &tmp) || (!tmp && store_code_referenced(sha))) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (unlink(path) == 0) {
            blog(LOG_INFO, "removed unreferenced code file %s", de->d_name);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

int store_load_all(void (*fn)(fn_config *cfg, void *arg), void *arg, lm_error *e)
{
    int rc = load_configs("SELECT name, '$LATEST', code_sha256, code_size, timeout, memory, env,"
                          " description, dead_letter, last_modified, revision_id FROM functions",
                          fn, arg, e);
    if (rc == LM_OK) {
        rc = load_configs("SELECT name, CAST(version AS TEXT), code_sha256, code_size, timeout,"
                          " memory, env, description, dead_letter, last_modified, revision_id"
                          " FROM versions ORDER BY name, version",
                          fn, arg, e);
    }
    if (rc == LM_OK) {
        rc = load_counters(e);
    }
    if (rc == LM_OK) {
        rc = load_aliases(e);
    }
    if (rc == LM_OK) {
        sweep_blobs();
    }
    return rc;
}

/* Run one prepared statement to completion. */
static int step_done(sqlite3_stmt *st, const char *what, lm_error *e)
{
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE ? LM_OK : db_error(e, what);
    sqlite3_finalize(st);
    return out;
}

/* Run a compare-and-swap statement (UPDATE … WHERE revision_id = the one
 * read): it must change exactly one row, else that revision is gone (412). */
static int step_swap(sqlite3_stmt *st, const char *what, lm_error *e)
{
    int rc = sqlite3_step(st);
    int out = LM_OK;
    if (rc != SQLITE_DONE) {
        out = db_error(e, what);
    } else if (sqlite3_changes(db) != 1) {
        out = proto_error(e, LM_E_PRECONDITION_FAILED, NULL);
    }
    sqlite3_finalize(st);
    return out;
}

int store_put_function(const fn_config *c, const char *expect, lm_error *e)
{
    bool create = expect == NULL;
    const char *sql = create ? "INSERT INTO functions(name, code_sha256, code_size, timeout,"
                               " memory, env, description, last_modified, dead_letter,"
                               " revision_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                             : "UPDATE functions SET code_sha256=?2, code_size=?3, timeout=?4,"
                               " memory=?5, env=?6, description=?7, last_modified=?8,"
                               " dead_letter=?9, revision_id=?10 WHERE name=?1"
                               " AND revision_id=?11";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)c->code_size);
    sqlite3_bind_int(st, 4, (int)c->timeout_s);
    sqlite3_bind_int(st, 5, (int)c->memory_mb);
    sqlite3_bind_text(st, 6, c->env_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, c->last_modified, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, c->dead_letter != NULL ? c->dead_letter : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, c->revision, -1, SQLITE_STATIC);
    if (!create) {
        sqlite3_bind_text(st, 11, expect, -1, SQLITE_STATIC);
        return step_swap(st, "write", e);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) {
        return proto_error(e, LM_E_CONFLICT, "Function already exist: %s", c->name);
    }
    if (rc != SQLITE_DONE) {
        return db_error(e, "write");
    }
    return LM_OK;
}

static int exec_sql(const char *sql, lm_error *e)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = proto_error(e, LM_E_IO, "store: %s", err != NULL ? err : "?");
        sqlite3_free(err);
        return rc;
    }
    return LM_OK;
}

/* Delete from `table` every row of function `name`. */
static int delete_rows(const char *table, const char *name, lm_error *e)
{
    char sql[96];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name=?1", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return step_done(st, "delete", e);
}

int store_delete_function(const char *name, lm_error *e)
{
    int rc = exec_sql("BEGIN IMMEDIATE", e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = delete_rows("aliases", name, e);
    if (rc == LM_OK) {
        rc = delete_rows("versions", name, e);
    }
    if (rc == LM_OK) {
        rc = delete_rows("event_invoke_configs", name, e);
    }
    if (rc == LM_OK) {
        rc = delete_rows("functions", name, e);
    }
    if (rc == LM_OK) {
        rc = exec_sql("COMMIT", e);
    }
    if (rc != LM_OK) {
        exec_sql("ROLLBACK", NULL);
    }
    return rc;
}

bool store_code_referenced(const char *sha256)
{
    sqlite3_stmt *st = NULL;
    bool used = true; /* on error, keep the blob */
    const char *sql = "SELECT 1 FROM functions WHERE code_sha256=?1"
                      " UNION ALL SELECT 1 FROM versions WHERE code_sha256=?1 LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        used = rc != SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return used;
}

static int insert_version(const fn_config *v, uint32_t n, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO versions(name, version, code_sha256, code_size, timeout,"
                      " memory, env, description, dead_letter, last_modified, revision_id)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, v->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    sqlite3_bind_text(st, 3, v->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)v->code_size);
    sqlite3_bind_int(st, 5, (int)v->timeout_s);
    sqlite3_bind_int(st, 6, (int)v->memory_mb);
    sqlite3_bind_text(st, 7, v->env_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, v->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, v->dead_letter != NULL ? v->dead_letter : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, v->last_modified, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, v->revision, -1, SQLITE_STATIC);
    return step_done(st, "publish", e);
}

/* Advance the counter, only while $LATEST is still revision `expect`. */
static int set_counter(const char *name, uint32_t n, const char *expect, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "UPDATE functions SET last_version=?2 WHERE name=?1"
                           " AND revision_id=?3",
                           -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    sqlite3_bind_text(st, 3, expect, -1, SQLITE_STATIC);
    return step_swap(st, "publish", e);
}

int store_publish(const fn_config *v, uint32_t n, const char *expect, lm_error *e)
{
    int rc = exec_sql("BEGIN IMMEDIATE", e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = set_counter(v->name, n, expect, e);
    if (rc == LM_OK) {
        rc = insert_version(v, n, e);
    }
    if (rc == LM_OK) {
        rc = exec_sql("COMMIT", e);
    }
    if (rc != LM_OK) {
        exec_sql("ROLLBACK", NULL);
    }
    return rc;
}

int store_delete_version(const char *name, uint32_t n, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM versions WHERE name=?1 AND version=?2", -1, &st,
                           NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    return step_done(st, "delete version", e);
}

int store_put_alias(const char *name, const fn_alias *a, const char *expect, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = expect == NULL
                          ? "INSERT OR REPLACE INTO aliases(name, alias, version, extra_version,"
                            " extra_weight, description, revision_id)"
                            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                          : "UPDATE aliases SET version=?3, extra_version=?4, extra_weight=?5,"
                            " description=?6, revision_id=?7 WHERE name=?1 AND alias=?2"
                            " AND revision_id=?8";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->extra_version, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 5, a->extra_weight);
    sqlite3_bind_text(st, 6, a->description != NULL ? a->description : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, a->revision, -1, SQLITE_STATIC);
    if (expect != NULL) {
        sqlite3_bind_text(st, 8, expect, -1, SQLITE_STATIC);
        return step_swap(st, "alias", e);
    }
    return step_done(st, "alias", e);
}

int store_delete_alias(const char *name, const char *alias, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM aliases WHERE name=?1 AND alias=?2", -1, &st, NULL) !=
        SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
    return step_done(st, "delete alias", e);
}

int store_put_event_config(const char *name, const event_config *c, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT OR REPLACE INTO event_invoke_configs(name, max_retry, max_age,"
                      " on_success, on_failure, last_modified) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, c->max_retry);
    sqlite3_bind_int(st, 3, c->max_age_s);
    sqlite3_bind_text(st, 4, c->on_success, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->on_failure, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, c->last_modified);
    return step_done(st, "event invoke config", e);
}

int store_get_event_config(const char *name, event_config *c, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT max_retry, max_age, on_success, on_failure, last_modified"
                      " FROM event_invoke_configs WHERE name=?1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int out = LM_OK;
    if (rc == SQLITE_ROW) {
        c->max_retry = sqlite3_column_int(st, 0);
        c->max_age_s = sqlite3_column_int(st, 1);
        snprintf(c->on_success, sizeof(c->on_success), "%s", col_str(st, 2));
        snprintf(c->on_failure, sizeof(c->on_failure), "%s", col_str(st, 3));
        c->last_modified = sqlite3_column_double(st, 4);
    } else if (rc == SQLITE_DONE) {
        out = proto_error(e, LM_E_NOT_FOUND, "The function %s doesn't have an EventInvokeConfig",
                          name);
    } else {
        out = db_error(e, "event invoke config");
    }
    sqlite3_finalize(st);
    return out;
}

int store_delete_event_config(const char *name, lm_error *e)
{
    return delete_rows("event_invoke_configs", name, e);
}

bool store_event_config_on(sqlconn *c, const char *name, event_config *cfg)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "SELECT max_retry, max_age, on_success, on_failure"
                                          " FROM event_invoke_configs WHERE name=?1");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        cfg->max_retry = sqlite3_column_int(st, 0);
        cfg->max_age_s = sqlite3_column_int(st, 1);
        snprintf(cfg->on_success, sizeof(cfg->on_success), "%s", col_str(st, 2));
        snprintf(cfg->on_failure, sizeof(cfg->on_failure), "%s", col_str(st, 3));
    }
    sqlconn_done(c, st);
    return found;
}

/* ---- the test clock (meta row test_clock_offset_ms) ---- */

int store_get_clock_offset(int64_t *ms, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    *ms = 0;
    if (sqlite3_prepare_v2(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key=?1", -1, &st,
                           NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, "test_clock_offset_ms", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ms = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LM_OK : db_error(e, "clock offset");
}

int store_put_clock_offset(int64_t ms, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK) {
        return db_error(e, "prepare");
    }
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)ms);
    sqlite3_bind_text(st, 1, "test_clock_offset_ms", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
    return step_done(st, "clock offset", e);
}
