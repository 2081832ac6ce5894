/*
 * broker/messaging/schema.c — the engine's tables and indexes, all named
 * mq_*, and their version in meta('messaging_schema').
 *
 * Why each index exists (every hot path is an index range, never a scan):
 *   mq_messages_vis   (qid, visible_at, rc): a standard queue's receive
 *                     takes the oldest visible messages from its front;
 *                     settling the counters counts the entries whose
 *                     visible_at passed since the last settle (rc says
 *                     whether each was delayed or in flight); the next
 *                     wake-up is its first entry.
 *   mq_messages_enq   (qid, enq_ms): retention expiry takes the oldest.
 *   mq_messages_group (qid, gid, seq), FIFO rows only: a group's messages
 *                     in order; its first entry is the group's head.
 *   mq_groups_avail   (qid, avail_at): FIFO receive takes the groups whose
 *                     head is available; the next wake-up is the first.
 *   mq_dedup_exp      (expires_ms): the sweep drops old dedup entries.
 *   mq_subs_topic     (tid, sid): a topic's subscriptions in order, read
 *                     only when its compiled cache is stale.
 * Message ids are AUTOINCREMENT so that a receipt handle never names a
 * later message that reused a deleted one's row id.  A queue's messages
 * carry its incarnation (qid), not its name: purge and delete give the
 * name a new qid (or none) and leave the old rows for mq_sweep, which
 * finds them through mq_detached.
 *
 * Version 1 is the first; an upgrade adds a step here and bumps
 * MQ_SCHEMA_VERSION.  Version 2 adds the streams (stream.c): its tables
 * are created by schema_v2_streams on every start (IF NOT EXISTS), after
 * the version check, and the stored version is raised to 2.  Version 3
 * (bus archives, replays, FIFO targets' group ids) alters tables, so it
 * runs only on a store below 3 (schema_v3_archives).  A store whose
 * version is newer than this engine is refused rather than misread.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#include "mq_internal.h"

static const char *const schema_v1 =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS mq_queues("
    "  name TEXT PRIMARY KEY,"
    "  qid INTEGER NOT NULL UNIQUE,"
    "  fifo INTEGER NOT NULL,"
    "  visibility_s INTEGER NOT NULL,"
    "  retention_s INTEGER NOT NULL,"
    "  delay_s INTEGER NOT NULL,"
    "  max_size INTEGER NOT NULL,"
    "  wait_s INTEGER NOT NULL,"
    "  content_dedup INTEGER NOT NULL,"
    "  dlq TEXT NOT NULL,"
    "  max_receives INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  modified_ms INTEGER NOT NULL,"
    "  purged_ms INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  n_msgs INTEGER NOT NULL,"
    "  n_delayed INTEGER NOT NULL,"
    "  n_inflight INTEGER NOT NULL,"
    "  settled_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS mq_messages("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  qid INTEGER NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  body BLOB NOT NULL,"
    "  attrs TEXT,"
    "  md5_body TEXT NOT NULL,"
    "  md5_attrs TEXT NOT NULL,"
    "  sent_ms INTEGER NOT NULL,"
    "  enq_ms INTEGER NOT NULL,"
    "  visible_at INTEGER NOT NULL,"
    "  rc INTEGER NOT NULL DEFAULT 0,"
    "  first_recv_ms INTEGER NOT NULL DEFAULT 0,"
    "  recv_ms INTEGER NOT NULL DEFAULT 0,"
    "  receipt TEXT NOT NULL DEFAULT '',"
    "  gid TEXT,"
    "  dedup TEXT,"
    "  seq INTEGER);"
    "CREATE INDEX IF NOT EXISTS mq_messages_vis ON mq_messages(qid, visible_at, rc);"
    "CREATE INDEX IF NOT EXISTS mq_messages_enq ON mq_messages(qid, enq_ms);"
    "CREATE INDEX IF NOT EXISTS mq_messages_group ON mq_messages(qid, gid, seq)"
    "  WHERE gid IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS mq_groups("
    "  qid INTEGER NOT NULL,"
    "  gid TEXT NOT NULL,"
    "  avail_at INTEGER NOT NULL,"
    "  PRIMARY KEY(qid, gid)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS mq_groups_avail ON mq_groups(qid, avail_at);"
    "CREATE TABLE IF NOT EXISTS mq_dedup("
    "  qid INTEGER NOT NULL,"
    "  dedup TEXT NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  seq TEXT NOT NULL,"
    "  PRIMARY KEY(qid, dedup)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS mq_dedup_exp ON mq_dedup(expires_ms);"
    "CREATE TABLE IF NOT EXISTS mq_detached(qid INTEGER PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS mq_topics("
    "  tid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL,"
    "  gen INTEGER NOT NULL DEFAULT 0,"
    "  n_subs INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS mq_subs("
    "  sid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tid INTEGER NOT NULL,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  protocol TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL,"
    "  raw INTEGER NOT NULL,"
    "  policy TEXT,"
    "  scope TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE(tid, protocol, endpoint));"
    "CREATE INDEX IF NOT EXISTS mq_subs_topic ON mq_subs(tid, sid);"
    /* event buses (bus.c): gen changes with every rule or target change */
    "CREATE TABLE IF NOT EXISTS mq_buses("
    "  bid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL,"
    "  gen INTEGER NOT NULL DEFAULT 0,"
    "  n_rules INTEGER NOT NULL DEFAULT 0);"
    "INSERT OR IGNORE INTO mq_buses(name, created_ms) VALUES('default', 0);"
    "CREATE TABLE IF NOT EXISTS mq_rules("
    "  rid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  bid INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  pattern TEXT,"
    "  enabled INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  schedule TEXT,"
    "  anchor_ms INTEGER,"
    "  next_fire_ms INTEGER,"
    "  UNIQUE(bid, name));"
    "CREATE INDEX IF NOT EXISTS mq_rules_fire ON mq_rules(next_fire_ms)"
    "  WHERE next_fire_ms IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS mq_targets("
    "  rid INTEGER NOT NULL,"
    "  id TEXT NOT NULL,"
    "  arn TEXT NOT NULL,"
    "  input TEXT,"
    "  input_path TEXT,"
    "  paths TEXT,"
    "  template TEXT,"
    "  max_retries INTEGER NOT NULL DEFAULT 185,"
    "  max_age_s INTEGER NOT NULL DEFAULT 86400,"
    "  dlq TEXT,"
    "  PRIMARY KEY(rid, id)) WITHOUT ROWID;"
    /* failed target deliveries waiting for their next attempt (bus.c) */
    "CREATE TABLE IF NOT EXISTS mq_bus_retries("
    "  did INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind INTEGER NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  rule_arn TEXT NOT NULL,"
    "  target_arn TEXT NOT NULL,"
    "  bus_arn TEXT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  next_at INTEGER NOT NULL,"
    "  first_ms INTEGER NOT NULL,"
    "  max_retries INTEGER NOT NULL,"
    "  max_age_ms INTEGER NOT NULL,"
    "  dlq TEXT);"
    "CREATE INDEX IF NOT EXISTS mq_bus_retries_due ON mq_bus_retries(next_at);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('messaging_schema', '1');";

/* Version 2: streams (stream.c).
 *   mq_streams          one row per stream; sid never reused (AUTOINCREMENT):
 *                       records and iterators carry it.
 *   mq_shards           (sid, shard) with its hash range as 32 hex digits
 *                       (text order is numeric order), parents, sequence
 *                       range; end_seq NULL while open.
 *   mq_shards_open      (sid, start_hash) of open shards: a put finds its
 *                       shard with one probe (the greatest start <= hash).
 *   mq_records          seq is the rowid (AUTOINCREMENT: one counter for the
 *                       whole store, never reused, so a shard's and its
 *                       children's numbers only grow).
 *   mq_records_shard    (sid, shard[, seq]): GetRecords reads a range.
 *   mq_records_arrival  (sid, shard, arrival_ms[, seq]): AT_TIMESTAMP,
 *                       retention's first live record, and the sweep.
 *   mq_stream_detached  deleted streams whose records the sweep removes.
 * meta('stream_iterator_key') keys the MAC of shard iterators. */
static const char *const schema_v2_streams =
    "CREATE TABLE IF NOT EXISTS mq_streams("
    "  sid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  retention_h INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  next_shard INTEGER NOT NULL,"
    "  n_open INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS mq_shards("
    "  sid INTEGER NOT NULL,"
    "  shard INTEGER NOT NULL,"
    "  start_hash TEXT NOT NULL,"
    "  end_hash TEXT NOT NULL,"
    "  parent INTEGER NOT NULL,"
    "  adjacent INTEGER NOT NULL,"
    "  start_seq INTEGER NOT NULL,"
    "  end_seq INTEGER,"
    "  closed_ms INTEGER,"
    "  PRIMARY KEY(sid, shard)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS mq_shards_open ON mq_shards(sid, start_hash)"
    "  WHERE end_seq IS NULL;"
    "CREATE TABLE IF NOT EXISTS mq_records("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  sid INTEGER NOT NULL,"
    "  shard INTEGER NOT NULL,"
    "  arrival_ms INTEGER NOT NULL,"
    "  pkey TEXT NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS mq_records_shard ON mq_records(sid, shard);"
    "CREATE INDEX IF NOT EXISTS mq_records_arrival ON mq_records(sid, shard, arrival_ms);"
    "CREATE TABLE IF NOT EXISTS mq_stream_detached(sid INTEGER PRIMARY KEY);"
    "INSERT OR IGNORE INTO meta(key, value)"
    "  VALUES('stream_iterator_key', lower(hex(randomblob(16))));"
    "UPDATE meta SET value = '2' WHERE key = 'messaging_schema'"
    "  AND CAST(value AS INTEGER) < 2;";

/* Version 3: bus archives, replays and FIFO queue targets (bus.c,
 * bus_archive.c).  ALTER TABLE ADD COLUMN is not idempotent, so the two
 * columns are added only where table_info lacks them (schema_v3_columns);
 * the rest is IF NOT EXISTS.  All of it runs in the transaction that
 * raises the version, so a crash leaves version 2 and no half step.
 *   mq_targets.group_id      SqsParameters.MessageGroupId of a FIFO target.
 *   mq_bus_retries.group_id  the same, kept with a delivery that waits.
 *   mq_archives              one row per archive: its bus (by name: an
 *                            archive outlives nothing, bus delete removes
 *                            it), pattern (NULL: every event), retention in
 *                            days (0: forever), event count and bytes.
 *   mq_archive_events        seq is the rowid (arrival order); time_ms the
 *                            envelope's time (what a replay's range means),
 *                            arrival_ms the broker time it was archived
 *                            (what retention counts from).
 *   mq_archive_events_time   (aid, time_ms[, seq]): a replay reads its range.
 *   mq_archive_events_age    (aid, arrival_ms): retention's oldest first.
 *   mq_archive_detached      deleted archives whose events the sweep
 *                            removes (delete runs in constant time).
 *   mq_replays               one row per replay: its range, rules (JSON
 *                            array of names, NULL: all), state, the
 *                            position reached (cur_time, cur_seq), the
 *                            last event it may send (end_seq: the
 *                            archive's newest when it started) and counts.  mq_replays_active (state) finds the
 *                            ones to run with one probe. */
static const char *const schema_v3_archives =
    "CREATE TABLE IF NOT EXISTS mq_archives("
    "  aid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  bus TEXT NOT NULL,"
    "  pattern TEXT,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  retention_days INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  n_events INTEGER NOT NULL DEFAULT 0,"
    "  n_bytes INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS mq_archives_bus ON mq_archives(bus);"
    "CREATE TABLE IF NOT EXISTS mq_archive_events("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  aid INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  arrival_ms INTEGER NOT NULL,"
    "  event TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS mq_archive_events_time ON mq_archive_events(aid, time_ms);"
    "CREATE INDEX IF NOT EXISTS mq_archive_events_age ON mq_archive_events(aid, arrival_ms);"
    "CREATE TABLE IF NOT EXISTS mq_archive_detached(aid INTEGER PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS mq_replays("
    "  name TEXT PRIMARY KEY,"
    "  archive TEXT NOT NULL,"
    "  aid INTEGER NOT NULL,"
    "  bus TEXT NOT NULL,"
    "  from_ms INTEGER NOT NULL,"
    "  to_ms INTEGER NOT NULL,"
    "  rules TEXT,"
    "  state TEXT NOT NULL,"
    "  cur_time INTEGER NOT NULL,"
    "  cur_seq INTEGER NOT NULL,"
    "  end_seq INTEGER NOT NULL,"
    "  reason TEXT,"
    "  n_replayed INTEGER NOT NULL DEFAULT 0,"
    "  n_delivered INTEGER NOT NULL DEFAULT 0,"
    "  started_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS mq_replays_active ON mq_replays(state);"
    "UPDATE meta SET value = '3' WHERE key = 'messaging_schema'"
    "  AND CAST(value AS INTEGER) < 3;";

/* Add column col (TEXT) to table unless it has it.  0 or -1. */
static int add_column(sqlite3 *db, const char *table, const char *col)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pragma_table_info('%s') WHERE name='%s'",
             table, col);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    int have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (have != 0) {
        return have > 0 ? 0 : -1;
    }
    snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s TEXT", table, col);
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int schema_v3_columns(sqlite3 *db)
{
    return add_column(db, "mq_targets", "group_id") == 0 &&
                   add_column(db, "mq_bus_retries", "group_id") == 0
               ? 0
               : -1;
}

static int stored_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st = NULL;
    *v = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='messaging_schema'", -1, &st,
                           NULL) != SQLITE_OK) {
        return -1;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int mq_schema_apply(sqlite3 *db, lm_error *e)
{
    bool own = sqlite3_get_autocommit(db) != 0; /* else join the caller's */
    if (own && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return proto_error(e, LM_E_IO, "messaging schema: begin: %s", sqlite3_errmsg(db));
    }
    int rc = LM_OK, v = 0;
    if (sqlite3_exec(db, schema_v1, NULL, NULL, NULL) != SQLITE_OK) {
        rc = proto_error(e, LM_E_IO, "messaging schema: %s", sqlite3_errmsg(db));
    } else if (stored_version(db, &v) != 0) {
        rc = proto_error(e, LM_E_IO, "messaging schema: version: %s", sqlite3_errmsg(db));
    } else if (v > MQ_SCHEMA_VERSION) {
        rc = proto_error(e, LM_E_IO,
                         "messaging schema %d is newer than this broker's (%d): refusing it", v,
                         MQ_SCHEMA_VERSION);
    } else if (sqlite3_exec(db, schema_v2_streams, NULL, NULL, NULL) != SQLITE_OK) {
        rc = proto_error(e, LM_E_IO, "messaging schema (streams): %s", sqlite3_errmsg(db));
    } else if (schema_v3_columns(db) != 0 ||
               sqlite3_exec(db, schema_v3_archives, NULL, NULL, NULL) != SQLITE_OK) {
        rc = proto_error(e, LM_E_IO, "messaging schema (archives): %s", sqlite3_errmsg(db));
    }
    if (own) {
        if (rc == LM_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            rc = proto_error(e, LM_E_IO, "messaging schema: commit: %s", sqlite3_errmsg(db));
        }
        if (rc != LM_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    return rc;
}
