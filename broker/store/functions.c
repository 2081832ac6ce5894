/*
 * broker/store/functions.c — the tables functions ($LATEST, one row per
 * function, with the version counter last_version, so numbers are never
 * reused even after versions are deleted) and versions (immutable
 * snapshots, primary key (name, version)): loading them at startup,
 * writing $LATEST, publishing and deleting versions, and deleting a
 * function with everything that hangs off it.  Admin thread and startup
 * only, on the store's connection (store_int.h).
 *
 * A published version is its versions row plus the function's advanced
 * counter, committed together; replacing $LATEST and publishing are
 * compare-and-swap statements on the RevisionId the admin thread read, so
 * a write based on a stale read is refused (412) whoever raced it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* A configuration from a row of (name, version, sha, size, timeout, memory,
 * env, description, dead_letter, last_modified, revision_id). */
static fn_config *row_config(sqlite3_stmt *st)
{
    fn_config *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->refs = 1;
    snprintf(c->name, sizeof(c->name), "%s", store_col_str(st, 0));
    snprintf(c->version, sizeof(c->version), "%s", store_col_str(st, 1));
    snprintf(c->sha256, sizeof(c->sha256), "%s", store_col_str(st, 2));
    c->code_size = (uint64_t)sqlite3_column_int64(st, 3);
    c->timeout_s = (uint32_t)sqlite3_column_int(st, 4);
    c->memory_mb = (uint32_t)sqlite3_column_int(st, 5);
    c->env_json = store_col_dup(st, 6);
    c->description = store_col_dup(st, 7);
    c->dead_letter = store_col_dup(st, 8);
    snprintf(c->last_modified, sizeof(c->last_modified), "%s", store_col_str(st, 9));
    snprintf(c->revision, sizeof(c->revision), "%s", store_col_str(st, 10));
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
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "load");
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
    return rc == SQLITE_DONE ? LM_OK : store_db_error(e, "load");
}

static int load_counters(lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "SELECT name, last_version FROM functions", -1, &st, NULL) !=
        SQLITE_OK) {
        return store_db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        function *f = registry_find(store_col_str(st, 0));
        uint32_t n = (uint32_t)sqlite3_column_int64(st, 1);
        if (f != NULL && n > f->last_version) {
            f->last_version = n;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : store_db_error(e, "load");
}

int store_functions_load(void (*fn)(fn_config *cfg, void *arg), void *arg, lm_error *e)
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
    return rc;
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
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
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
        return store_step_swap(st, "write", e);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) {
        return proto_error(e, LM_E_CONFLICT, "Function already exist: %s", c->name);
    }
    if (rc != SQLITE_DONE) {
        return store_db_error(e, "write");
    }
    return LM_OK;
}

int store_delete_function(const char *name, lm_error *e)
{
    int rc = store_exec("BEGIN IMMEDIATE", e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = store_aliases_delete_all(name, e);
    if (rc == LM_OK) {
        rc = store_delete_rows("versions", name, e);
    }
    if (rc == LM_OK) {
        rc = store_delete_event_config(name, e);
    }
    if (rc == LM_OK) {
        rc = store_delete_rows("function_urls", name, e);
    }
    if (rc == LM_OK) {
        rc = store_delete_rows("functions", name, e);
    }
    if (rc == LM_OK) {
        rc = store_exec("COMMIT", e);
    }
    if (rc != LM_OK) {
        store_exec("ROLLBACK", NULL);
    }
    return rc;
}

bool store_code_referenced(const char *sha256)
{
    sqlite3_stmt *st = NULL;
    bool used = true; /* on error, keep the blob */
    const char *sql = "SELECT 1 FROM functions WHERE code_sha256=?1"
                      " UNION ALL SELECT 1 FROM versions WHERE code_sha256=?1 LIMIT 1";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) == SQLITE_OK) {
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
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
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
    return store_step_done(st, "publish", e);
}

/* Advance the counter, only while $LATEST is still revision `expect`. */
static int set_counter(const char *name, uint32_t n, const char *expect, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db,
                           "UPDATE functions SET last_version=?2 WHERE name=?1"
                           " AND revision_id=?3",
                           -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    sqlite3_bind_text(st, 3, expect, -1, SQLITE_STATIC);
    return store_step_swap(st, "publish", e);
}

int store_publish(const fn_config *v, uint32_t n, const char *expect, lm_error *e)
{
    int rc = store_exec("BEGIN IMMEDIATE", e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = set_counter(v->name, n, expect, e);
    if (rc == LM_OK) {
        rc = insert_version(v, n, e);
    }
    if (rc == LM_OK) {
        rc = store_exec("COMMIT", e);
    }
    if (rc != LM_OK) {
        store_exec("ROLLBACK", NULL);
    }
    return rc;
}

int store_delete_version(const char *name, uint32_t n, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "DELETE FROM versions WHERE name=?1 AND version=?2", -1, &st,
                           NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    return store_step_done(st, "delete version", e);
}
