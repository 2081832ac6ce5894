/*
 * tools/bench/lamina.h — the Lamina target: one invoke through the SDK
 * client per request (sync or event), or, in cold mode, "retire the
 * function's warm workers, then invoke" with only the invoke timed.
 *
 * End to end (async only): each request is an Event invoke followed by an
 * "event-wait" on its RequestId, so the time measured runs from the send
 * until the broker reports the event and its OnSuccess destination's run of
 * the invocation record both finished; the time to the 202 is kept beside
 * it (load_outcome.accept_ns).  The function must have an OnSuccess
 * destination: opening checks its event-config.
 *
 * One lm_client is shared by all callers: the client runs each call on its
 * own nng context, so callers do not serialise on it.
 */
#ifndef TOOLS_BENCH_LAMINA_H
#define TOOLS_BENCH_LAMINA_H

#include <stdbool.h>
#include <stddef.h>

#include <lamina/client.h>

#include "load.h"

typedef struct lamina_target {
    lm_client *client;
    lm_invoke_params params;
    int expect_status; /* 200 sync, 202 event */
    bool cold; /* retire-workers before each invoke */
    bool end_to_end; /* async: wait for the event and its destination */
    int timeout_ms;
    char retire_args[320];
} lamina_target;

/* Connect (state_dir or endpoint may be NULL) and prepare invokes of
 * `function` with the given payload (kept by the caller).  0 or -1 with
 * a message in err. */
int lamina_target_open(lamina_target *lt, const char *state_dir, const char *endpoint,
                       const char *function, const void *payload, size_t len, bool async, bool cold,
                       bool end_to_end, int timeout_ms, char *err, size_t errlen);
void lamina_target_close(lamina_target *lt);
load_target lamina_target_view(lamina_target *lt);

/* Create `name` from a handler .so unless it exists; 0 or -1 with err. */
int lamina_ensure_function(lm_client *c, const char *name, const char *so_path,
                           const char *extra_json, char *err, size_t errlen);

#endif
