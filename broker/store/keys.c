/*
 * broker/store/keys.c — the table access_keys (schema 7): the broker's
 * access keys for SigV4 (function URLs with AuthType AWS_IAM).  A row holds
 * the key id, its secret sealed by admin/keys.c (AES-256-GCM under the
 * state dir's master key: never the secret in clear), a description and
 * when it was made.  Admin thread and startup only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int store_put_key(const char *id, const void *sealed, size_t len, const char *description,
                  const char *created, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO access_keys(key_id, sealed, description, created)"
                      " VALUES(?1, ?2, ?3, ?4)";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, sealed, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, created, -1, SQLITE_STATIC);
    return store_step_done(st, "access key", e);
}

int store_delete_key(const char *id, bool *found, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db, "DELETE FROM access_keys WHERE key_id=?1", -1, &st, NULL) !=
        SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = store_step_done(st, "delete access key", e);
    *found = rc == LM_OK && sqlite3_changes(store_db) == 1;
    return rc;
}

int store_load_keys(void (*fn)(const char *id, const void *sealed, size_t len,
                               const char *description, const char *created, void *arg),
                    void *arg, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql =
        "SELECT key_id, sealed, description, created FROM access_keys ORDER BY created";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fn(store_col_str(st, 0), sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
           store_col_str(st, 2), store_col_str(st, 3), arg);
    }
    int out = rc == SQLITE_DONE ? LM_OK : store_db_error(e, "access keys");
    sqlite3_finalize(st);
    return out;
}
