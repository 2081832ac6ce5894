/*
 * broker/store/esm.h — the event source mappings' tables: esm_mappings
 * (one row per mapping, its configuration as JSON text that esm/config.c
 * writes and reads) and esm_checkpoints (per mapping and stream shard, the
 * last sequence number whose batch finished), as typed statements on a
 * sqlconn (store/sqlconn.h).  Only the esm thread calls these, on its own
 * connection; writes go into the caller's transaction when one is open
 * (sqlconn_begin … sqlconn_commit), so a checkpoint commits with the
 * on-failure record it reports.  The schema is store.c's (version 6).
 */
#ifndef BROKER_STORE_ESM_H
#define BROKER_STORE_ESM_H

#include <stdbool.h>
#include <stdint.h>

#include "store/sqlconn.h"

/* Insert or replace a mapping's row. */
bool esm_store_put(sqlconn *c, const char *uuid, const char *config, int64_t created_ms);
/* Delete a mapping and its checkpoints. */
bool esm_store_delete(sqlconn *c, const char *uuid);
/* Call fn for every mapping (in creation order); false on an SQL error. */
bool esm_store_each(sqlconn *c, void (*fn)(void *arg, const char *uuid, const char *config),
                    void *arg);
/* Record shard's checkpoint: seq (the last sequence number done, "" for
 * none) and whether the closed shard was read to its end. */
bool esm_store_checkpoint_put(sqlconn *c, const char *uuid, const char *shard, const char *seq,
                              bool finished);
/* Delete every checkpoint of a mapping (its ParallelizationFactor changed). */
bool esm_store_checkpoints_clear(sqlconn *c, const char *uuid);
/* Call fn for every checkpoint of a mapping; false on an SQL error. */
bool esm_store_checkpoints(sqlconn *c, const char *uuid,
                           void (*fn)(void *arg, const char *shard, const char *seq, bool finished),
                           void *arg);

#endif
