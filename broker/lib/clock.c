/*
 * broker/lib/clock.c — broker time (see clock.h).
 *
 * The offset is one atomic, read without a lock on every clk_now_ms();
 * advances are serialised by C.mtx, which also guards the watcher list, so
 * a watcher never misses an advance: it is either registered before the
 * advance takes the mutex (and woken) or registers after it (and reads the
 * new offset).  The offset is stored before the watchers run, so a woken
 * thread that reads the clock sees the new time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "clock.h"

static struct {
    _Atomic int64_t offset;
    _Atomic bool test;
    pthread_mutex_t mtx;
    clk_watcher *watchers;
} C = {.mtx = PTHREAD_MUTEX_INITIALIZER};

void clk_enable_test(int64_t offset_ms)
{
    atomic_store(&C.offset, offset_ms > 0 ? offset_ms : 0);
    atomic_store(&C.test, true);
}

bool clk_test_enabled(void)
{
    return atomic_load(&C.test);
}

int64_t clk_offset_ms(void)
{
    return atomic_load(&C.offset);
}

double clk_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int64_t clk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&C.offset);
}

clk_result clk_check_advance(int64_t ms)
{
    if (!atomic_load(&C.test)) {
        return CLK_DISABLED;
    }
    if (ms <= 0 || ms > CLK_MAX_ADVANCE_MS || atomic_load(&C.offset) > CLK_MAX_OFFSET_MS - ms) {
        return CLK_RANGE;
    }
    return CLK_OK;
}

clk_result clk_advance(int64_t ms)
{
    pthread_mutex_lock(&C.mtx);
    clk_result r = clk_check_advance(ms); /* under C.mtx: no other advance between */
    if (r == CLK_OK) {
        atomic_fetch_add(&C.offset, ms);
        for (clk_watcher *w = C.watchers; w != NULL; w = w->next) {
            w->wake(w->arg);
        }
    }
    pthread_mutex_unlock(&C.mtx);
    return r;
}

void clk_watch(clk_watcher *w)
{
    pthread_mutex_lock(&C.mtx);
    w->next = C.watchers;
    C.watchers = w;
    pthread_mutex_unlock(&C.mtx);
}

void clk_unwatch(clk_watcher *w)
{
    pthread_mutex_lock(&C.mtx);
    for (clk_watcher **pp = &C.watchers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&C.mtx);
}
