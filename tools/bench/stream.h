/*
 * tools/bench/stream.h — the stream target of the load generator: the
 * broker's Kinesis-style streams (stream-* api ops, <lamina/client.h>)
 * driven through the SDK client.  One request is, by op:
 *
 *   put      one stream-put of a record of `data_len` bytes with a partition
 *            key of 16 values per caller (spread over the shards); timed to
 *            the acknowledgement, sent only after the record's commit is
 *            durable (group commit).
 *   latency  one stream-put to shard 0 (ExplicitHashKey 0), then
 *            stream-get-records from this caller's iterator until its
 *            record comes back (Kinesis has no long poll: normally the first
 *            read); the sample is put sent → record read.
 *
 * Opening creates the stream (4 shards) unless it exists.  One lm_client is
 * shared by all callers, as in queue mode.
 */
#ifndef TOOLS_BENCH_STREAM_H
#define TOOLS_BENCH_STREAM_H

#include <stddef.h>

#include <lamina/client.h>

#include "load.h"

typedef enum stream_op { STREAM_PUT, STREAM_LATENCY } stream_op;

#define STREAM_NAME_MAX 128

typedef struct stream_target {
    lm_client *client;
    stream_op op;
    char name[STREAM_NAME_MAX + 1];
    char *data_b64; /* the record's data, base64 (owned) */
} stream_target;

/* "put" or "latency" to the op; -1 when unknown. */
int stream_op_parse(const char *s, stream_op *op);
const char *stream_op_name(stream_op op);

/* Connect, create the stream if needed.  0, or -1 with a message in err. */
int stream_target_open(stream_target *st, const char *state_dir, const char *endpoint,
                       const char *name, stream_op op, size_t data_len, int timeout_ms, char *err,
                       size_t errlen);
void stream_target_close(stream_target *st);
load_target stream_target_view(stream_target *st);

#endif
