/*
 * broker/store/esm.c — the owner of esm_mappings and esm_checkpoints: every
 * statement on them (their schema is store.c's).  Called only from the
 * esm thread (esm/esm.c) on its own connection, statements kept
 * (sqlconn_int.h).  A mapping's configuration is one JSON text: its
 * fields are the esm layer's (esm/config.c), so adding a parameter needs
 * no migration; the checkpoints are rows of their own because they change
 * after every stream batch and must commit alone, cheaply.
 */
#include <stdio.h>
#include <string.h>

#include "store/esm.h"
#include "store/sqlconn_int.h"

bool esm_store_put(sqlconn *c, const char *uuid, const char *config, int64_t created_ms)
{
    sqlite3_stmt *st = sqlconn_prepare(
        c, "INSERT OR REPLACE INTO esm_mappings(uuid, config, created_ms) VALUES(?1, ?2, ?3)");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, config, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, created_ms);
    return sqlconn_step_done(c, st);
}

bool esm_store_delete(sqlconn *c, const char *uuid)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "DELETE FROM esm_checkpoints WHERE uuid=?1");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    if (!sqlconn_step_done(c, st)) {
        return false;
    }
    st = sqlconn_prepare(c, "DELETE FROM esm_mappings WHERE uuid=?1");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    return sqlconn_step_done(c, st);
}

bool esm_store_checkpoints_clear(sqlconn *c, const char *uuid)
{
    sqlite3_stmt *st = sqlconn_prepare(c, "DELETE FROM esm_checkpoints WHERE uuid=?1");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    return sqlconn_step_done(c, st);
}

bool esm_store_each(sqlconn *c, void (*fn)(void *arg, const char *uuid, const char *config),
                    void *arg)
{
    sqlite3_stmt *st =
        sqlconn_prepare(c, "SELECT uuid, config FROM esm_mappings ORDER BY created_ms, uuid");
    if (st == NULL) {
        return false;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(st, 0);
        const unsigned char *j = sqlite3_column_text(st, 1);
        fn(arg, u != NULL ? (const char *)u : "", j != NULL ? (const char *)j : "");
    }
    sqlconn_done(c, st);
    return rc == SQLITE_DONE;
}

bool esm_store_checkpoint_put(sqlconn *c, const char *uuid, const char *shard, const char *seq,
                              bool finished)
{
    sqlite3_stmt *st =
        sqlconn_prepare(c, "INSERT OR REPLACE INTO esm_checkpoints(uuid, shard, seq, finished)"
                           " VALUES(?1, ?2, ?3, ?4)");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, shard, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, seq, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, finished ? 1 : 0);
    return sqlconn_step_done(c, st);
}

bool esm_store_checkpoints(sqlconn *c, const char *uuid,
                           void (*fn)(void *arg, const char *shard, const char *seq, bool finished),
                           void *arg)
{
    sqlite3_stmt *st =
        sqlconn_prepare(c, "SELECT shard, seq, finished FROM esm_checkpoints WHERE uuid=?1");
    if (st == NULL) {
        return false;
    }
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 0);
        const unsigned char *q = sqlite3_column_text(st, 1);
        fn(arg, s != NULL ? (const char *)s : "", q != NULL ? (const char *)q : "",
           sqlite3_column_int(st, 2) != 0);
    }
    sqlconn_done(c, st);
    return rc == SQLITE_DONE;
}
