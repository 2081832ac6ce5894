/*
 * broker/store/urls.c — the table function_urls (schema 7): one row per
 * function URL, keyed by its url id, unique per (function, qualifier).
 * Written and deleted by the admin thread (admin/urls.c) on the store's
 * connection and loaded once at startup; a function's rows go with it in
 * store_delete_function's transaction, an alias's row with the alias.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int store_put_url(const url_config *u, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql =
        "INSERT OR REPLACE INTO function_urls(url_id, name, qualifier, auth_type,"
        " invoke_mode, cors, created, modified) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->qual, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->auth, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, u->mode, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, u->cors != NULL ? u->cors : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, u->created, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, u->modified, -1, SQLITE_STATIC);
    return store_step_done(st, "function url", e);
}

int store_delete_url(const char *id, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "DELETE FROM function_urls WHERE url_id=?1", -1, &st, NULL) !=
        SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return store_step_done(st, "delete function url", e);
}

int store_delete_alias_url(const char *name, const char *alias, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "DELETE FROM function_urls WHERE name=?1 AND qualifier=?2", -1,
                           &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
    return store_step_done(st, "delete function url", e);
}

int store_load_urls(void (*fn)(const url_config *u, void *arg), void *arg, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT url_id, name, qualifier, auth_type, invoke_mode, cors, created,"
                      " modified FROM function_urls ORDER BY name, qualifier";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        url_config u = {0};
        snprintf(u.id, sizeof(u.id), "%s", store_col_str(st, 0));
        snprintf(u.name, sizeof(u.name), "%s", store_col_str(st, 1));
        snprintf(u.qual, sizeof(u.qual), "%s", store_col_str(st, 2));
        snprintf(u.auth, sizeof(u.auth), "%s", store_col_str(st, 3));
        snprintf(u.mode, sizeof(u.mode), "%s", store_col_str(st, 4));
        const char *cors = store_col_str(st, 5);
        u.cors = cors[0] != '\0' ? (char *)cors : NULL;
        snprintf(u.created, sizeof(u.created), "%s", store_col_str(st, 6));
        snprintf(u.modified, sizeof(u.modified), "%s", store_col_str(st, 7));
        fn(&u, arg);
    }
    int out = rc == SQLITE_DONE ? LM_OK : store_db_error(e, "function urls");
    sqlite3_finalize(st);
    return out;
}
