/*
 * broker/store/sqlconn.h — a store connection of a thread of its own (the
 * async queue's), with its prepared statements kept: open, close,
 * transactions and savepoints, and the WAL checkpoint policy of a
 * connection that must not checkpoint inside its commits.  The statements
 * on it are typed functions of the file that owns their table
 * (store/async_events.c; the event invoke config read in
 * store/event_configs.c).
 * A connection is used by one thread at a time; nothing here locks.
 */
#ifndef BROKER_STORE_SQLCONN_H
#define BROKER_STORE_SQLCONN_H

#include <stdbool.h>

typedef struct sqlconn sqlconn;

/* Open the database at db_path (it exists: store_open made its schema).
 * full: synchronous=FULL and no checkpoint inside its own commits (a WAL
 * hook only counts the WAL's pages, see sqlconn_checkpoint_if_large);
 * else synchronous=NORMAL with SQLite's auto-checkpoint.  A busy timeout
 * of 5 s waits out the admin thread's writes.  NULL on failure (logged). */
sqlconn *sqlconn_open(const char *db_path, bool full);
/* A sqlconn over a connection someone else owns and keeps open (the
 * messaging thread's, for the async rows a topic delivery stores in the
 * publish's own transaction); sqlconn_close then finalizes the statements
 * and leaves db open.  NULL on ENOMEM. */
struct sqlite3;
sqlconn *sqlconn_adopt(struct sqlite3 *db);
/* The SQLite connection, for an engine that owns tables of its own on it
 * (messaging/mq.h: queues and topics). */
struct sqlite3 *sqlconn_handle(sqlconn *c);
/* Finalize its statements and close it; accepts NULL. */
void sqlconn_close(sqlconn *c);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK; false on failure (logged). */
bool sqlconn_begin(sqlconn *c);
bool sqlconn_commit(sqlconn *c);
bool sqlconn_rollback(sqlconn *c);
/* One savepoint inside the open transaction (they do not nest here):
 * SAVEPOINT, RELEASE (keeps its writes), ROLLBACK TO (undoes them; RELEASE
 * it afterwards). */
bool sqlconn_savepoint(sqlconn *c);
bool sqlconn_release(sqlconn *c);
bool sqlconn_rollback_to(sqlconn *c);

/* When `watched` (a full connection) has left at least max_frames pages in
 * the WAL since the last look, run a passive checkpoint on `via` and start
 * counting again.  A busy database is not an error (logged otherwise). */
void sqlconn_checkpoint_if_large(sqlconn *via, sqlconn *watched, int max_frames);

#endif
