/*
 * tests/support/old_stores.c — see old_stores.h.
 */
#include "old_stores.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

void lt_store_exec(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
    sqlite3_close(db);
}

void lt_old_store(const char *sql, char *state, size_t state_len, char *db_path, size_t db_len)
{
    char tmpl[] = "/tmp/lamina-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    cr_assert_not_null(dir);
    snprintf(state, state_len, "%s/state", dir);
    cr_assert_eq(mkdir(state, 0700), 0);
    snprintf(db_path, db_len, "%s/lamina.db", state);
    lt_store_exec(db_path, sql);
}
