/*
 * broker/store/sqlconn_int.h — for store/ files only: the statements of a
 * sqlconn.  A statement is prepared once per connection (persistent) and
 * kept, keyed by the address of its SQL text, so callers pass string
 * literals; after each use it is reset for the next.  Preparing statements
 * anew for every event cost the async queue more than running them.
 */
#ifndef BROKER_STORE_SQLCONN_INT_H
#define BROKER_STORE_SQLCONN_INT_H

#include <sqlite3.h>

#include "store/sqlconn.h"

/* The connection's statement for sql (a literal: keyed by its address),
 * prepared on first use; NULL on failure (logged).  Give it back with
 * sqlconn_done. */
sqlite3_stmt *sqlconn_prepare(sqlconn *c, const char *sql);
/* Done with a statement from sqlconn_prepare: reset it and clear its
 * bindings (finalized instead if the cache was full).  Accepts NULL. */
void sqlconn_done(sqlconn *c, sqlite3_stmt *st);
/* Step st to its end and give it back; false unless SQLITE_DONE (logged). */
bool sqlconn_step_done(sqlconn *c, sqlite3_stmt *st);
/* The connection itself (sqlite3_changes, sqlite3_errmsg). */
sqlite3 *sqlconn_db(sqlconn *c);

#endif
