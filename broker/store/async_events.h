/*
 * broker/store/async_events.h — the async queue's tables: async_events
 * (the durable queue of Event invokes) and async_idempotency (their
 * idempotency keys), as typed statements on a sqlconn (store/sqlconn.h).
 * Only the async queue's thread calls these, each on the connection it
 * chooses (submissions on its full one).  Writes go into the caller's
 * transaction (sqlconn_begin … sqlconn_commit).  Times are broker-time
 * epoch ms (lib/clock.h), passed in by the caller: the policy (TTLs,
 * delays, limits) is the caller's, the SQL is ours.
 */
#ifndef BROKER_STORE_ASYNC_EVENTS_H
#define BROKER_STORE_ASYNC_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "store/sqlconn.h"

/* ---- async_events ---- */

/* Queue an event: enqueued_at and next_at are `now`; hops is its place in
 * a chain of destination records (0 for a submission).  payload is read
 * during the call only. */
bool async_events_insert(sqlconn *c, const char *rid, const char *name, const char *qual,
                         const void *payload, size_t len, int64_t now, int hops);
bool async_events_delete(sqlconn *c, int64_t id);
/* Put an event back to run at next_at with its new counters. */
bool async_events_set_retry(sqlconn *c, int64_t id, int64_t next_at, int invokes, int throttles);
/* Rows in async_events; false on an SQL error. */
bool async_events_count(sqlconn *c, int64_t *n);
/* The enqueued_at (broker time, ms) of the oldest stored event, 0 if none. */
bool async_events_oldest(sqlconn *c, int64_t *enqueued_at);
/* The earliest next_at later than `after`; false when there is none. */
bool async_events_next_due(sqlconn *c, int64_t after, int64_t *at);
/* Is an event with this request id stored (queued or running)? */
bool async_events_stored(sqlconn *c, const char *rid);
/* The event's stored payload parsed as JSON (NULL when gone or not JSON);
 * the caller owns it. */
cJSON *async_events_payload_json(sqlconn *c, int64_t id);
/* The event's stored payload as it was sent (malloc'd, NUL-terminated,
 * *len bytes), or NULL when gone. */
char *async_events_payload_text(sqlconn *c, int64_t id, size_t *len);

/* A due row, valid only during the callback that gets it. */
typedef struct async_event_row {
    int64_t id;
    const char *rid, *name, *qual;
    int64_t enqueued_at;
    int invokes, throttles, hops;
    void *priv; /* for async_events_row_payload */
} async_event_row;
/* The row's payload (read only when asked for: rows passed over never load
 * it), valid during the callback. */
const void *async_events_row_payload(const async_event_row *r, size_t *len);
/* Call fn on up to `limit` events with next_at <= now, in (next_at, id)
 * order, until it returns false.  One read snapshot, let go before this
 * returns.  False on an SQL error before the first row. */
bool async_events_each_due(sqlconn *c, int64_t now, int limit,
                           bool (*fn)(void *arg, const async_event_row *r), void *arg);

/* ---- async_idempotency ---- */

typedef enum async_key_claim {
    ASYNC_KEY_CLAIMED, /* the key is now the new event's (inserted, or taken over) */
    ASYNC_KEY_SAME, /* a live row holds it for the same request: *held is its rid */
    ASYNC_KEY_OTHER, /* a live row holds it for another request: *held is its rid */
    ASYNC_KEY_ERROR /* an SQL error (logged): nothing to store */
} async_key_claim;
/* Claim (name, key) for event rid with fingerprint fp (SHA-256 of what
 * was sent), stored at `now`.  A row created at or before `expired` is past
 * its time and is taken over in the same statement; a live one is left
 * alone and compared with fp.  held: 40 bytes. */
async_key_claim async_events_claim_key(sqlconn *c, const char *name, const char *key,
                                       const char *rid, const unsigned char fp[32], int64_t now,
                                       int64_t expired, char *held);
/* Delete at most `limit` keys created at or before `expired`; the number
 * deleted, or -1 on an SQL error. */
int async_events_sweep_keys(sqlconn *c, int64_t expired, int limit);

#endif
