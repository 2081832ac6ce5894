/*
 * broker/store.c — the durable store: SQLite in WAL mode with
 * synchronous=FULL in <state>/lamina.db.  Every change is one transaction,
 * so a broker killed at any moment leaves either the old or the new row,
 * never half of one.  Used only from the admin thread (and from main at
 * startup), so one connection and no locking of our own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "broker.h"

static sqlite3 *db;

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
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');";

static int db_error(lm_error *e, const char *what)
{
    return proto_error(e, LM_E_IO, "store: %s: %s", what, sqlite3_errmsg(db));
}

int store_open(const char *path, lm_error *e)
{
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        int rc = db_error(e, "open");
        sqlite3_close(db);
        db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     &err) != SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK) {
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

int store_load_all(void (*fn)(fn_config *cfg, void *arg), void *arg, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT name, code_sha256, code_size, timeout, memory, env, description,"
                      " last_modified FROM functions";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fn_config *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            break;
        }
        c->refs = 1;
        snprintf(c->name, sizeof(c->name), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(c->version, sizeof(c->version), "$LATEST");
        snprintf(c->sha256, sizeof(c->sha256), "%s", (const char *)sqlite3_column_text(st, 1));
        c->code_size = (uint64_t)sqlite3_column_int64(st, 2);
        c->timeout_s = (uint32_t)sqlite3_column_int(st, 3);
        c->memory_mb = (uint32_t)sqlite3_column_int(st, 4);
        c->env_json = col_dup(st, 5);
        c->description = col_dup(st, 6);
        snprintf(c->last_modified, sizeof(c->last_modified), "%s",
                 (const char *)sqlite3_column_text(st, 7));
        snprintf(c->code_path, sizeof(c->code_path), "%s/code/%s.so", B.opt.state, c->sha256);
        fn(c, arg);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : db_error(e, "load");
}

int store_put_function(const fn_config *c, bool create, lm_error *e)
{
    const char *sql = create ? "INSERT INTO functions(name, code_sha256, code_size, timeout,"
                               " memory, env, description, last_modified)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                             : "UPDATE functions SET code_sha256=?2, code_size=?3, timeout=?4,"
                               " memory=?5, env=?6, description=?7, last_modified=?8"
                               " WHERE name=?1";
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

int store_delete_function(const char *name, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM functions WHERE name=?1", -1, &st, NULL) !=
        SQLITE_OK) {
        return db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : db_error(e, "delete");
}

bool store_code_referenced(const char *sha256)
{
    sqlite3_stmt *st = NULL;
    bool used = true; /* on error, keep the blob */
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM functions WHERE code_sha256=?1 LIMIT 1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
        used = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return used;
}
