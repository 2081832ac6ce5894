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
 * Pure (no I/O), so it is unit-tested without a broker.
 */
#ifndef TOOLS_BENCH_CLASSIFY_H
#define TOOLS_BENCH_CLASSIFY_H

#include <lamina/client.h>

#include "load.h"

/* rc is lm_invoke's return; err and r as it filled them (r only read when
 * rc == 0).  expect_status: 200 for sync, 202 for event invokes.  Sets
 * o->ok, o->err_class, o->cold and o->init_ms. */
void classify_invoke(int rc, const lm_error *err, const lm_invoke_result *r, int expect_status,
                     load_outcome *o);

#endif
