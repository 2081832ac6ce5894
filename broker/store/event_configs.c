/*
 * broker/store/event_configs.c — the table event_invoke_configs (a
 * function's MaximumRetryAttempts, MaximumEventAgeInSeconds and
 * destinations; primary key name): written, read and deleted by the admin
 * thread on the store's connection, and read by the async queue's thread
 * on its own connection with a kept statement (store_event_config_on).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int store_put_event_config(const char *name, const event_config *c, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT OR REPLACE INTO event_invoke_configs(name, max_retry, max_age,"
                      " on_success, on_failure, last_modified) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, c->max_retry);
    sqlite3_bind_int(st, 3, c->max_age_s);
    sqlite3_bind_text(st, 4, c->on_success, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->on_failure, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, c->last_modified);
    return store_step_done(st, "event invoke config", e);
}

int store_get_event_config(const char *name, event_config *c, lm_error *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT max_retry, max_age, on_success, on_failure, last_modified"
                      " FROM event_invoke_configs WHERE name=?1";
    if (sqlite3_prepare_v2(store_db, sql, -1, &st, NULL) != SQLITE_OK) {
        return store_db_error(e, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int out = LM_OK;
    if (rc == SQLITE_ROW) {
        c->max_retry = sqlite3_column_int(st, 0);
        c->max_age_s = sqlite3_column_int(st, 1);
        snprintf(c->on_success, sizeof(c->on_success), "%s", store_col_str(st, 2));
        snprintf(c->on_failure, sizeof(c->on_failure), "%s", store_col_str(st, 3));
        c->last_modified = sqlite3_column_double(st, 4);
    } else if (rc == SQLITE_DONE) {
        out = proto_error(e, LM_E_NOT_FOUND, "The function %s doesn't have an EventInvokeConfig",
                          name);
    } else {
        out = store_db_error(e, "event invoke config");
    }
    sqlite3_finalize(st);
    return out;
}

int store_delete_event_config(const char *name, lm_error *e)
{
    return store_delete_rows("event_invoke_configs", name, e);
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
        snprintf(cfg->on_success, sizeof(cfg->on_success), "%s", store_col_str(st, 2));
        snprintf(cfg->on_failure, sizeof(cfg->on_failure), "%s", store_col_str(st, 3));
    }
    sqlconn_done(c, st);
    return found;
}
