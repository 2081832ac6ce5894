/*
 * broker/store/store_int.h — for store/ files only: the store's own
 * connection (opened by store_open in store.c; admin thread and startup)
 * and the helpers its table files share.  Statements on it are prepared
 * and finalized per call (these writes are rare); the async queue's
 * connections keep theirs (store/sqlconn_int.h).
 */
#ifndef BROKER_STORE_STORE_INT_H
#define BROKER_STORE_STORE_INT_H

#include <sqlite3.h>

#include "store/sqlconn_int.h"
#include "store/store.h"

extern sqlite3 *store_db;

/* LM_E_IO "store: <what>: <SQLite's message>" into e. */
int store_db_error(lm_error *e, const char *what);
/* Column i as text ("" for NULL): borrowed until the next step, or a
 * malloc'd copy (NULL when out of memory). */
const char *store_col_str(sqlite3_stmt *st, int i);
char *store_col_dup(sqlite3_stmt *st, int i);
/* Run st to its end and finalize it; LM_OK or an LM_E_IO error. */
int store_step_done(sqlite3_stmt *st, const char *what, lm_error *e);
/* Run a compare-and-swap statement (UPDATE … WHERE revision_id = the one
 * read) and finalize it: it must change exactly one row, else that
 * revision is gone (LM_E_PRECONDITION_FAILED). */
int store_step_swap(sqlite3_stmt *st, const char *what, lm_error *e);
/* sqlite3_exec one statement; e may be NULL. */
int store_exec(const char *sql, lm_error *e);
/* Delete from `table` every row of function `name`. */
int store_delete_rows(const char *table, const char *name, lm_error *e);

/* functions.c: every $LATEST, then every version, to fn; then the version
 * counters into the registry. */
int store_functions_load(void (*fn)(fn_config *cfg, void *arg), void *arg, lm_error *e);
/* aliases.c: every alias into the registry; delete all of name's. */
int store_aliases_load(lm_error *e);
int store_aliases_delete_all(const char *name, lm_error *e);

#endif
