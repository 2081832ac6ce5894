/*
 * broker/store/store.c — the durable store: SQLite in WAL mode with
 * synchronous=FULL in <state>/lamina.db.  This file opens the store's
 * connection, creates the whole schema and runs its migrations, loads
 * everything at startup, removes unreferenced code blobs, and owns the
 * table meta (schema version, test clock offset).  The statements on the
 * other tables live with their owner, one file per table group:
 * store/functions.c (functions, versions), store/aliases.c (aliases),
 * store/event_configs.c (event_invoke_configs) and store/async_events.c
 * (async_events, async_idempotency, on the async queue's own connections:
 * store/sqlconn.c).  Every change is one transaction, so a broker killed
 * at any moment leaves either the old or the new rows, never half of them.
 * The store's connection is used only from the admin thread (and from main
 * at startup), so there is no locking of our own.
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
 * store/async_events.c in the transaction that stores their event:
 * primary key (name, key), the first RequestId, a SHA-256 of what was sent and the broker time it was
 * stored); 6 = + esm_mappings (event source mappings, their whole
 * configuration as JSON) and esm_checkpoints (per mapping and shard lane,
 * the last stream sequence number a batch finished), both owned by
 * store/esm.c; 7 = +
 * function_urls (store/urls.c: one row per function URL) and access_keys
 * (store/keys.c: SigV4 keys, their secrets sealed); 8 = +
 * function_concurrency (reserved concurrency, one row per function) and
 * provisioned_concurrency (one row per version or alias), owned by
 * store/concurrency.c, with triggers that delete them with what they
 * name.  Upgrading 1 → 2
 * adds the columns (checked with pragma table_info); 2 → 3, 4 → 5, 5 → 6,
 * 6 → 7 and 7 → 8 only add tables (and triggers), created with IF NOT EXISTS
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
 * thread read (UPDATE … WHERE revision_id = the old one: store_step_swap),
 * so the store itself refuses a write based on a stale read (412), whoever
 * raced it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"

sqlite3 *store_db; /* store_int.h */

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
    /* schema 6: event source mappings and their stream checkpoints
     * (store/esm.c, on the esm thread's connection) */
    "CREATE TABLE IF NOT EXISTS esm_mappings("
    "  uuid TEXT PRIMARY KEY,"
    "  config TEXT NOT NULL," /* the mapping as JSON (esm/config.c) */
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS esm_checkpoints("
    "  uuid TEXT NOT NULL,"
    "  shard TEXT NOT NULL,"
    "  seq TEXT NOT NULL," /* last sequence number processed or skipped, '' none */
    "  finished INTEGER NOT NULL DEFAULT 0," /* a closed shard read to its end */
    "  PRIMARY KEY(uuid, shard)) WITHOUT ROWID;"
    /* schema 7: function URLs (store/urls.c) */
    "CREATE TABLE IF NOT EXISTS function_urls("
    "  url_id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  qualifier TEXT NOT NULL,"
    "  auth_type TEXT NOT NULL,"
    "  invoke_mode TEXT NOT NULL,"
    "  cors TEXT NOT NULL DEFAULT ''," /* JSON, '' when none */
    "  created TEXT NOT NULL,"
    "  modified TEXT NOT NULL,"
    "  UNIQUE(name, qualifier));"
    /* schema 7 too: the broker's access keys for SigV4 (store/keys.c) */
    "CREATE TABLE IF NOT EXISTS access_keys("
    "  key_id TEXT PRIMARY KEY,"
    "  sealed BLOB NOT NULL," /* nonce, AES-256-GCM ciphertext, tag (admin/keys.c) */
    "  description TEXT NOT NULL DEFAULT '',"
    "  created TEXT NOT NULL);"
    /* schema 8: reserved and provisioned concurrency (store/concurrency.c);
     * the triggers drop a config with the function, version or alias it
     * names, in the transaction that deletes that */
    "CREATE TABLE IF NOT EXISTS function_concurrency("
    "  name TEXT PRIMARY KEY,"
    "  reserved INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS provisioned_concurrency("
    "  name TEXT NOT NULL,"
    "  qualifier TEXT NOT NULL," /* a version number or an alias */
    "  requested INTEGER NOT NULL,"
    "  last_modified TEXT NOT NULL,"
    "  PRIMARY KEY(name, qualifier)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS concurrency_of_function AFTER DELETE ON functions BEGIN"
    "  DELETE FROM function_concurrency WHERE name=OLD.name;"
    "  DELETE FROM provisioned_concurrency WHERE name=OLD.name; END;"
    "CREATE TRIGGER IF NOT EXISTS provisioned_of_version AFTER DELETE ON versions BEGIN"
    "  DELETE FROM provisioned_concurrency"
    "   WHERE name=OLD.name AND qualifier=CAST(OLD.version AS TEXT); END;"
    "CREATE TRIGGER IF NOT EXISTS provisioned_of_alias AFTER DELETE ON aliases BEGIN"
    "  DELETE FROM provisioned_concurrency WHERE name=OLD.name AND qualifier=OLD.alias; END;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '8');";

int store_db_error(lm_error *e, const char *what)
{
    return proto_error(e, LM_E_IO, "store: %s: %s", what, sqlite3_errmsg(store_db));
}

static bool has_column(const char *table, const char *column)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    bool found = false;
    snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) == SQLITE_OK) {
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
    return sqlite3_exec(store_db, sql, NULL, NULL, err);
}

/* Bring any older store to schema 8 in one transaction (see the head of
 * the file): add the columns it lacks, give rows without a RevisionId one,
 * record the version last.  Safe to run again on a store already there. */
static int migrate(char **err)
{
    int rc = sqlite3_exec(store_db, "BEGIN IMMEDIATE", NULL, NULL, err);
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
        rc = sqlite3_exec(store_db,
                          "UPDATE functions SET revision_id=lamina_uuid() WHERE revision_id='';"
                          "UPDATE versions SET revision_id=lamina_uuid() WHERE revision_id='';"
                          "UPDATE meta SET value='8' WHERE key='schema'"
                          " AND CAST(value AS INTEGER) < 8;"
                          "COMMIT;",
                          NULL, NULL, err);
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(store_db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

int store_open(const char *path, lm_error *e)
{
    if (sqlite3_open_v2(path, &store_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        int rc = store_db_error(e, "open");
        sqlite3_close(store_db);
        store_db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(store_db, 5000);
    if (sqlite3_create_function(store_db, "lamina_uuid", 0, SQLITE_UTF8, NULL, sql_uuid, NULL,
                                NULL) != SQLITE_OK) {
        return store_db_error(e, "lamina_uuid");
    }
    char *err = NULL;
    if (sqlite3_exec(store_db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     &err) != SQLITE_OK ||
        sqlite3_exec(store_db, schema, NULL, NULL, &err) != SQLITE_OK ||
        migrate(&err) != SQLITE_OK) {
        int rc = proto_error(e, LM_E_IO, "store: schema: %s", err != NULL ? err : "?");
        sqlite3_free(err);
        return rc;
    }
    return LM_OK;
}

void store_close(void)
{
    if (store_db != NULL) {
        sqlite3_close(store_db);
        store_db = NULL;
    }
}

char *store_col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t != NULL ? (const char *)t : "");
}

const char *store_col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

/* Run one prepared statement to completion. */
int store_step_done(sqlite3_stmt *st, const char *what, lm_error *e)
{
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE ? LM_OK : store_db_error(e, what);
    sqlite3_finalize(st);
    return out;
}

/* Run a compare-and-swap statement (UPDATE … WHERE revision_id = the one
 * read): it must change exactly one row, else that revision is gone (412). */
int store_step_swap(sqlite3_stmt *st, const char *what, lm_error *e)
{
    int rc = sqlite3_step(st);
    int out = LM_OK;
    if (rc != SQLITE_DONE) {
        out = store_db_error(e, what);
    } else if (sqlite3_changes(store_db) != 1) {
        out = proto_error(e, LM_E_PRECONDITION_FAILED, NULL);
    }
    sqlite3_finalize(st);
    return out;
}

int store_exec(const char *sql, lm_error *e)
{
    char *err = NULL;
    if (sqlite3_exec(store_db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = proto_error(e, LM_E_IO, "store: %s", err != NULL ? err : "?");
        sqlite3_free(err);
        return rc;
    }
    return LM_OK;
}

/* Delete from `table` every row of function `name`. */
int store_delete_rows(const char *table, const char *name, lm_error *e)
{
    char sql[96];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name=?1", table);
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return store_step_done(st, "delete", e);
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
    int rc = store_functions_load(fn, arg, e);
    if (rc == LM_OK) {
        rc = store_aliases_load(e);
    }
    if (rc == LM_OK) {
        rc = store_concurrency_load(e);
    }
    if (rc == LM_OK) {
        sweep_blobs();
    }
    return rc;
}

/* ---- the test clock (meta row test_clock_offset_ms) ---- */

int store_get_clock_offset(int64_t *ms, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    *ms = 0;
    if (sqlite3_prepare_v2(store_db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key=?1", -1,
                           &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, "test_clock_offset_ms", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ms = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LM_OK : store_db_error(e, "clock offset");
}

int store_put_clock_offset(int64_t ms, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", -1,
                           &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)ms);
    sqlite3_bind_text(st, 1, "test_clock_offset_ms", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
    return store_step_done(st, "clock offset", e);
}
