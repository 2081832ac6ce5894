/*
 * broker/lib/clock.h — broker time: the one clock that tests can drive.
 *
 * The broker keeps two kinds of time apart:
 *   - Real monotonic time (clk_mono_ms() , CLOCK_MONOTONIC) for what
 *     physical processes need: invocation deadlines, init timeouts, idle
 *     reaping, listener probes, a caller's wait (event-wait's TimeoutMs).
 *     A test cannot move it, and must not: a handler really runs that long.
 *   - Broker time (clk_now_ms(), epoch milliseconds) for everything
 *     scheduled: async retry delays and event age, idempotency-key expiry,
 *     and later visibility timeouts, retention, batching windows,
 *     schedules.  Rows in the store carry broker time.
 *
 * Broker time is CLOCK_REALTIME plus an offset.  The offset is 0 and
 * fixed unless the broker runs with --test-clock (clk_enable_test()); then
 * clk_advance() adds to it, only ever forward, and wakes every watcher so
 * that a thread sleeping until some broker time looks again at once.
 *
 * Threads: clk_now_ms() takes no lock (the offset is one atomic), so any
 * thread may call it under any lock.  clk_advance(), clk_watch() and
 * clk_unwatch() take the clock's own mutex; clk_advance() calls the
 * watchers' wake callbacks with it held, so a callback may take leaf locks
 * (it typically locks the waiting thread's mutex and signals its condition
 * variable) but must not call back into the clock, and clk_watch/
 * clk_unwatch must not be called while holding a lock a callback takes.
 * No broker state here: the library is unit-tested on its own
 * (tests/unit/test_broker_clock.c).
 */
#ifndef BROKER_LIB_CLOCK_H
#define BROKER_LIB_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define CLK_MAX_ADVANCE_MS (366LL * 24 * 3600 * 1000) /* one call: at most a (leap) year */
#define CLK_MAX_OFFSET_MS (100 * CLK_MAX_ADVANCE_MS) /* all calls together: a century */

typedef enum clk_result {
    CLK_OK = 0,
    CLK_DISABLED = 1, /* the broker does not run with --test-clock */
    CLK_RANGE = 2 /* ms <= 0, or past CLK_MAX_ADVANCE_MS / CLK_MAX_OFFSET_MS */
} clk_result;

/* Someone who sleeps until a broker time: wake(arg) runs after every
 * advance.  The struct is the caller's and stays registered (do not free
 * it) until clk_unwatch returns. */
typedef struct clk_watcher {
    void (*wake)(void *arg);
    void *arg;
    struct clk_watcher *next; /* the clock's list */
} clk_watcher;

/* Turn the test clock on, with the offset a previous run reached (0 for a
 * fresh state dir; negative values count as 0).  Call once at startup,
 * before any thread reads the clock. */
void clk_enable_test(int64_t offset_ms);
bool clk_test_enabled(void);

/* Real monotonic time in ms (not movable by tests). */
double clk_mono_ms(void);
/* Real wall-clock time, epoch ms (CLOCK_REALTIME, no offset): what the
 * system says, e.g. for a record's LastModified. */
int64_t clk_wall_ms(void);

/* Broker time: epoch ms, real time plus the offset.  Never goes backwards
 * because of the offset (real time itself may be stepped by the system). */
int64_t clk_now_ms(void);
/* The offset alone (0 without --test-clock). */
int64_t clk_offset_ms(void);

/* CLK_OK when clk_advance(ms) would be accepted now, else why not. */
clk_result clk_check_advance(int64_t ms);
/* Move broker time forward by ms (1 .. CLK_MAX_ADVANCE_MS) and wake every
 * watcher.  Nothing changes unless CLK_OK. */
clk_result clk_advance(int64_t ms);

void clk_watch(clk_watcher *w);
/* After this returns, w's wake is not running and will not run again. */
void clk_unwatch(clk_watcher *w);

#endif
