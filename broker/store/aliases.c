/*
 * broker/store/aliases.c — the table aliases (primary key (name, alias)):
 * loading them into the registry at startup, writing one (an update is a
 * compare-and-swap on its RevisionId: 412 when stale), deleting one or all
 * of a function's.  Admin thread and startup only, on the store's
 * connection (store_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int store_aliases_load(lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT name, alias, version, extra_version, extra_weight, description,"
                      " revision_id FROM aliases ORDER BY name, alias";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "load");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        function *f = registry_find(store_col_str(st, 0));
        fn_alias *a = f != NULL ? calloc(1, sizeof(*a)) : NULL;
        if (a == NULL) {
            continue;
        }
        snprintf(a->name, sizeof(a->name), "%s", store_col_str(st, 1));
        snprintf(a->version, sizeof(a->version), "%s", store_col_str(st, 2));
        snprintf(a->extra_version, sizeof(a->extra_version), "%s", store_col_str(st, 3));
        a->extra_weight = sqlite3_column_double(st, 4);
        a->description = store_col_dup(st, 5);
        snprintf(a->revision, sizeof(a->revision), "%s", store_col_str(st, 6));
        registry_put_alias(f, a);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LM_OK : store_db_error(e, "load");
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
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
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
        return store_step_swap(st, "alias", e);
    }
    return store_step_done(st, "alias", e);
}

int store_delete_alias(const char *name, const char *alias, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "DELETE FROM aliases WHERE name=?1 AND alias=?2", -1, &st,
                           NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
    /* the alias's function URL goes in the same transaction */
    int rc = store_exec("BEGIN IMMEDIATE", e);
    if (rc != LM_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    rc = store_step_done(st, "delete alias", e);
    if (rc == LM_OK) {
        rc = store_delete_alias_url(name, alias, e);
    }
    if (rc == LM_OK) {
        rc = store_exec("COMMIT", e);
    }
    if (rc != LM_OK) {
        store_exec("ROLLBACK", NULL);
    }
    return rc;
}

int store_aliases_delete_all(const char *name, lm_error *e)
{
    return store_delete_rows("aliases", name, e);
}
