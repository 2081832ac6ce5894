/*
 * tools/bench/queue.h — the queue target of the load generator: the
 * broker's SQS-style queues (queue-* api ops, see <lamina/client.h>)
 * driven through the SDK client.  One request is, by op:
 *
 *   send     one queue-send of a body of exactly `body_len` bytes; timed to
 *            the acknowledgement, which the broker sends only after the
 *            message's commit is durable (group commit).
 *   receive  one queue-receive (MaxNumberOfMessages 10, WaitTimeSeconds 0)
 *            and one queue-delete-message per message received, all timed;
 *            load_outcome.items counts the messages.  A receive that finds
 *            the queue empty is the error `queue_empty` (prefill too small).
 *   latency  one queue-send of a body carrying this run's nonce and the
 *            send time, then queue-receive (MaxNumberOfMessages 1,
 *            WaitTimeSeconds 20: a long poll) until a message arrives; the
 *            sample is the receive's reply time minus the send time written
 *            in the body of the message received (with several callers it
 *            may be another caller's message: each is still one message's
 *            send→receive time).  The delete that follows is not timed.
 *   get      one queue-get: one api round trip with no commit (the
 *            denominator of the end-to-end latency goal).
 *
 * Opening creates the standard queue unless it exists (queue-create is
 * idempotent; an existing queue with other attributes is used as it is).
 * Latency needs the queue empty at the start (a message ahead of ours
 * would be timed), so opening fails if it is not.
 *
 * One lm_client is shared by all callers (each call has its own nng
 * context in the client, so callers do not serialise on it).
 */
#ifndef TOOLS_BENCH_QUEUE_H
#define TOOLS_BENCH_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lamina/client.h>

#include "load.h"

typedef enum queue_op { QUEUE_SEND, QUEUE_RECEIVE, QUEUE_LATENCY, QUEUE_GET } queue_op;

#define QUEUE_NAME_MAX 80 /* SQS: 1-80 of [A-Za-z0-9_-] */

typedef struct queue_target {
    lm_client *client;
    queue_op op;
    char name[QUEUE_NAME_MAX + 1];
    size_t body_len;
    int timeout_ms;
    char *send_args; /* send: the constant queue-send arguments (owned) */
    char name_args[QUEUE_NAME_MAX + 32]; /* {"QueueName":"..."} */
    char recv_args[QUEUE_NAME_MAX + 96];
    char nonce[32]; /* latency: marks this run's messages */
} queue_target;

/* "send" ... "get" to the op; -1 when unknown. */
int queue_op_parse(const char *s, queue_op *op);
const char *queue_op_name(queue_op op);
/* A standard queue name SQS accepts (1-80 of [A-Za-z0-9_-]); FIFO names
 * (".fifo") are refused: the mode benchmarks standard queues. */
bool queue_name_valid(const char *name);

/* Connect, create the queue if needed, prepare the requests of `op` with
 * bodies of body_len bytes (at least 1; latency at least its header).
 * 0, or -1 with a message in err. */
int queue_target_open(queue_target *qt, const char *state_dir, const char *endpoint,
                      const char *name, queue_op op, size_t body_len, int timeout_ms, char *err,
                      size_t errlen);
void queue_target_close(queue_target *qt);
load_target queue_target_view(queue_target *qt);

/* Receive: send messages (queue-send-batch, 10 per call, 16 calls in
 * flight) until the queue holds at least `depth` visible messages.  Not
 * timed.  0, or -1 with a message in err. */
int queue_prefill(queue_target *qt, uint64_t depth, char *err, size_t errlen);

#endif
