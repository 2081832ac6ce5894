/*
 * broker/store/concurrency.c — the tables function_concurrency (a
 * function's reserved concurrency: one row, primary key name) and
 * provisioned_concurrency (one row per version or alias, primary key
 * (name, qualifier)): written by the admin thread on the store's
 * connection, loaded into the registry at startup.  Rows go with the
 * function, version or alias they name through the schema's triggers
 * (store.c), in the transaction that deletes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int store_put_reserved(const char *name, int n, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = n >= 0 ? "INSERT OR REPLACE INTO function_concurrency(name, reserved)"
                               " VALUES(?1, ?2)"
                             : "DELETE FROM function_concurrency WHERE name=?1";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (n >= 0) {
        sqlite3_bind_int(st, 2, n);
    }
    return store_step_done(st, "reserved concurrency", e);
}

int store_put_provisioned(const char *name, const fn_provisioned *p, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT OR REPLACE INTO provisioned_concurrency(name, qualifier, requested,"
                      " last_modified) VALUES(?1, ?2, ?3, ?4)";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->qualifier, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, p->requested);
    sqlite3_bind_text(st, 4, p->last_modified, -1, SQLITE_STATIC);
    return store_step_done(st, "provisioned concurrency", e);
}

int store_delete_provisioned(const char *name, const char *qualifier, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db,
                           "DELETE FROM provisioned_concurrency WHERE name=?1 AND qualifier=?2", -1,
                           &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, qualifier, -1, SQLITE_STATIC);
    return store_step_done(st, "provisioned concurrency", e);
}

static int load_reserved(lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "SELECT name, reserved FROM function_concurrency", -1, &st,
                           NULL) != SQLITE_OK) {
        return store_db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        function *f = registry_find(store_col_str(st, 0));
        if (f != NULL) {
            registry_set_reserved(f, sqlite3_column_int(st, 1));
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : store_db_error(e, "load");
}

static int load_provisioned(lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT name, qualifier, requested, last_modified"
                      " FROM provisioned_concurrency ORDER BY name, qualifier";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        function *f = registry_find(store_col_str(st, 0));
        fn_provisioned *p = f != NULL ? calloc(1, sizeof(*p)) : NULL;
        if (p == NULL) {
            continue;
        }
        snprintf(p->qualifier, sizeof(p->qualifier), "%s", store_col_str(st, 1));
        p->requested = sqlite3_column_int(st, 2);
        snprintf(p->last_modified, sizeof(p->last_modified), "%s", store_col_str(st, 3));
        registry_put_provisioned(f, p);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : store_db_error(e, "load");
}

int store_concurrency_load(lm_error *e)
{
    int rc = load_reserved(e);
    return rc == LM_OK ? load_provisioned(e) : rc;
}
