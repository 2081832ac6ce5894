/*
 * tools/bench/classify.h — sort the outcome of one Lamina invoke into the
 * error classes lamina-bench reports:
 *
 *   function_handled      200, FunctionError "Handled"
 *   function_unhandled    200, FunctionError "Unhandled" (crash, bad output ...)
 *   timeout               200, Unhandled with errorType Sandbox.Timedout
 *   client_timeout        no reply within the client's timeout (LM_E_TIMEOUT)
 *   throttled             LM_E_THROTTLED (429)
 *   transport             broker unreachable, i/o, stopping
 *   invocation:<Type>     any other invocation error, by wire type
 *                         (e.g. invocation:ResourceNotFoundException)
 *
 * and, timing async invokes end to end (--end-to-end), for an event that
 * did not end in Success, by its last run: the classes above, or
 *   async:<Condition>     it never ran (e.g. async:EventAgeExceeded)
 *   destination:<Cond>    the event succeeded, its destination's run of the
 *                         record did not (destination:RetriesExhausted)
 *   async_pending         not done within the request timeout
 *
 * and, for any other api call (the queue mode), the same transport classes
 * or <prefix>:<Type> (queue:QueueDoesNotExist, queue_delete:...).
 *
 * Pure (no I/O), so it is unit-tested without a broker.
 */
#ifndef TOOLS_BENCH_CLASSIFY_H
#define TOOLS_BENCH_CLASSIFY_H

#include <lamina/client.h>

#include "load.h"

/* End-to-end async: rc is lm_call("event-wait")'s return, reply its JSON
 * (see <lamina/client.h>).  ok when the event and its destination's run of
 * the record both ended in Success; otherwise the class of what failed:
 * the event (by its last run, as for an invoke: function_handled,
 * function_unhandled, timeout, invocation:<Type>, or async:<Condition>
 * when it never ran), then destination:<Condition>, and async_pending when
 * the wait ran out first. */
void classify_event_wait(int rc, const lm_error *err, const char *reply, load_outcome *o);

/* rc is lm_invoke's return; err and r as it filled them (r only read when
 * rc == 0).  expect_status: 200 for sync, 202 for event invokes.  Sets
 * o->ok, o->err_class, o->cold and o->init_ms. */
void classify_invoke(int rc, const lm_error *err, const lm_invoke_result *r, int expect_status,
                     load_outcome *o);

/* An lm_call that returned rc != 0: client_timeout, throttled, transport,
 * or "<prefix>:<wire type>" (prefix e.g. "invocation", "queue").  Sets
 * o->ok = false and o->err_class. */
void classify_call_error(int rc, const lm_error *err, const char *prefix, load_outcome *o);

#endif
