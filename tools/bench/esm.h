/*
 * tools/bench/esm.h — `lamina-bench esm FUNCTION`: records per second through
 * an event source mapping, and send→done latency, beside invoking the same
 * function directly with the same batches.  Not a load-generator target
 * (load.h): a mapping's throughput is what the broker's poller achieves,
 * so the bench fills a queue, lets the mapping drain it, and times that.
 *
 *   through the mapping  a fresh standard queue gets `records` messages
 *                        (send-batch, before the mapping is enabled), then
 *                        the mapping (BatchSize `batch`, a 1 s window when
 *                        the batch is over 10, as Lambda requires) is
 *                        enabled; timed until the queue is empty (every
 *                        message's batch ran and its delete was committed).
 *   directly             the same number of batches of SQS-shaped records
 *                        of the same bodies, sync invokes of the function
 *                        from 5 callers (the mapping's starting concurrency).
 *   latency              one message at a time into an idle mapping of
 *                        batch size 1, timed from the send until the queue
 *                        is empty again (polled with queue-get): the
 *                        source-to-handler time plus the delete's commit.
 */
#ifndef TOOLS_BENCH_ESM_H
#define TOOLS_BENCH_ESM_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Run the three measurements with batch size `batch` (1-10000) over
 * `records` messages of `body_len` bytes; the figures into *out (caller
 * deletes).  0, or -1 with a message in err. */
int esm_bench_run(const char *state, const char *endpoint, const char *function, int batch,
                  int records, size_t body_len, int latency_samples, cJSON **out, char *err,
                  size_t errlen);

#endif
