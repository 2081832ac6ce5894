/*
 * tools/bench/baseline.h — the raw-nng baselines that Lamina is measured
 * against, with no Lamina code on their path.
 *
 * Warm baseline (two hops, as perf-limits.md §2.3): the bench process (REQ,
 * one context per caller) → a forwarding process (REP and REQ, one context
 * pair per slot, forwarding purely in aio callbacks, no parsing) → an echo
 * process (REP, one context per slot, answering in aio callbacks), over ipc
 * sockets in a private temporary directory.  Both helpers are modes of the
 * lamina-bench binary itself (fork + exec of /proc/self/exe), so the
 * comparison needs nothing else installed.
 *
 * One hop (the A2 denominator of perf-limits.md §4: raw req/rep): the bench
 * process dials the echo process directly, no forwarder.
 *
 * Cold baseline: for each request, fork + exec a tiny process (again a mode
 * of this binary) that dials back over nng ipc and answers one request; the
 * latency is from just before fork to the reply.  Set-up of the listening
 * socket and reaping of the child are outside the timed span.
 *
 * Template cold baseline (the bare path a Lamina template would take,
 * perf-limits.md §2.4 "zygote + dlopen + seccomp"): a template process is
 * exec'd once (libraries loaded, a seccomp program compiled, nng never
 * touched); for each request it forks a child without exec, which dlopens
 * the handler .so (if given), installs the precompiled filter, starts nng,
 * dials back and answers.  Timed from the request to the template to the
 * reply.
 *
 * Helpers die with the bench process (PR_SET_PDEATHSIG) and are stopped with
 * SIGTERM at the end.
 */
#ifndef TOOLS_BENCH_BASELINE_H
#define TOOLS_BENCH_BASELINE_H

#include <stddef.h>
#include <sys/types.h>

#include "load.h"

typedef struct baseline baseline;

/* Start the echo and (hops == 2) forwarding helpers with `slots`
 * concurrent contexts each, and connect; hops is 1 or 2.  payload/len: the bytes each request carries (the
 * caller keeps them alive).  timeout_ms: per-request reply timeout.  NULL
 * with a message in err on failure. */
baseline *baseline_start_warm(int slots, int hops, const void *payload, size_t len, int timeout_ms,
                              char *err, size_t errlen);
/* Prepare the fork+exec+connect cold baseline (a temp dir only). */
baseline *baseline_start_cold(const void *payload, size_t len, int timeout_ms, char *err,
                              size_t errlen);
/* Start the template cold baseline; handler_so may be NULL (no dlopen). */
baseline *baseline_start_template(const char *handler_so, const void *payload, size_t len,
                                  int timeout_ms, char *err, size_t errlen);
/* Stop helpers, remove the temp dir, free; accepts NULL. */
void baseline_stop(baseline *b);
/* The load-generator view of a started baseline. */
load_target baseline_target(baseline *b);

/* Child modes, dispatched from main() on argv[1]; each returns an exit code. */
int baseline_echo_main(int argc, char **argv); /* __baseline-echo URL SLOTS */
int baseline_forward_main(int argc, char **argv); /* __baseline-forward IN OUT SLOTS */
int baseline_cold_main(int argc, char **argv); /* __baseline-cold URL */
int baseline_template_main(int argc, char **argv); /* __baseline-template [SO] */

#endif
