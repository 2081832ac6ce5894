/*
 * tools/bench/bus.h — the event-bus target of the load generator: the
 * broker's EventBridge-style buses (bus-* and rule-* api ops) driven
 * through the SDK client.  Opening makes the bus NAME, the queue NAME-q,
 * the rule bench-match ({"source":["bench"]}) with that queue as its one
 * target, and `rules - 1` rules that never match ({"source":["other-I"]}),
 * so the bus has `rules` rules in all (1-10,000; created only if missing).
 * One request is, by op:
 *
 *   put      one bus-put-events of one entry (Source "bench", a Detail of
 *            `data_len` bytes), timed to the answer: sent after the commit
 *            that stored the event's delivery to the queue (the target "ran":
 *            the message is durable and receivable).
 *   latency  one bus-put-events with a Detail naming this caller and
 *            request, then queue-receive (long poll) on NAME-q, deleting
 *            what it gets, until its own message arrives; the sample is put
 *            sent -> message received.  Meant for one caller (several would
 *            take each other's messages and wait them out).
 *
 * One lm_client is shared by all callers, as in queue and stream mode.
 */
#ifndef TOOLS_BENCH_BUS_H
#define TOOLS_BENCH_BUS_H

#include <stddef.h>

#include <lamina/client.h>

#include "load.h"

typedef enum bus_op { BUS_PUT, BUS_LATENCY } bus_op;

#define BUS_NAME_MAX 64 /* the bench's own cap, so NAME-q is a queue name */
#define BUS_RULES_MAX 10000

typedef struct bus_target {
    lm_client *client;
    bus_op op;
    char name[BUS_NAME_MAX + 1];
    char queue[BUS_NAME_MAX + 3];
    char *pad; /* Detail padding (owned) */
} bus_target;

/* "put" or "latency" to the op; -1 when unknown. */
int bus_op_parse(const char *s, bus_op *op);
const char *bus_op_name(bus_op op);

/* Connect; make the bus, queue and rules if missing.  0, or -1 with a
 * message in err. */
int bus_target_open(bus_target *bt, const char *state_dir, const char *endpoint, const char *name,
                    bus_op op, int rules, size_t data_len, int timeout_ms, char *err,
                    size_t errlen);
void bus_target_close(bus_target *bt);
load_target bus_target_view(bus_target *bt);

#endif
