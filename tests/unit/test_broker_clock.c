/*
 * Unit: broker time (broker/lib/clock.c) — off unless enabled, the offset
 * only moves forward and within its bounds, every watcher is woken by an
 * advance (and none after clk_unwatch), a thread sleeping until a broker
 * time wakes when it is reached by advancing, and concurrent advances,
 * reads and (un)registrations lose nothing.  Criterion runs each test in a
 * process of its own, so each starts with the clock's initial state.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "lib/clock.h"

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(broker_clock, without_the_test_clock_broker_time_is_real_time_and_cannot_move)
{
    cr_assert_not(clk_test_enabled());
    int64_t before = real_ms();
    int64_t now = clk_now_ms();
    int64_t after = real_ms();
    cr_assert(now >= before && now <= after, "%lld not in [%lld, %lld]", (long long)now,
              (long long)before, (long long)after);
    cr_assert_eq(clk_advance(1000), CLK_DISABLED);
    cr_assert_eq(clk_check_advance(1000), CLK_DISABLED);
    cr_assert_eq(clk_offset_ms(), 0);
}

Test(broker_clock, the_offset_only_moves_forward_and_within_its_bounds)
{
    clk_enable_test(0);
    cr_assert(clk_test_enabled());
    cr_assert_eq(clk_advance(0), CLK_RANGE);
    cr_assert_eq(clk_advance(-1), CLK_RANGE);
    cr_assert_eq(clk_advance(INT64_MIN), CLK_RANGE);
    cr_assert_eq(clk_advance(CLK_MAX_ADVANCE_MS + 1), CLK_RANGE);
    cr_assert_eq(clk_offset_ms(), 0, "a refused advance changes nothing");
    cr_assert_eq(clk_advance(60000), CLK_OK);
    cr_assert_eq(clk_offset_ms(), 60000);
    int64_t now = clk_now_ms();
    cr_assert_geq(now - real_ms(), 60000 - 5, "broker time runs 60 s ahead");
    cr_assert_eq(clk_advance(CLK_MAX_ADVANCE_MS), CLK_OK, "a whole year at once");
    cr_assert_eq(clk_offset_ms(), 60000 + CLK_MAX_ADVANCE_MS);
    cr_assert_geq(clk_now_ms(), now + CLK_MAX_ADVANCE_MS);
}

Test(broker_clock, the_total_offset_is_capped)
{
    clk_enable_test(CLK_MAX_OFFSET_MS - 10);
    cr_assert_eq(clk_advance(11), CLK_RANGE);
    cr_assert_eq(clk_advance(10), CLK_OK);
    cr_assert_eq(clk_offset_ms(), CLK_MAX_OFFSET_MS);
    cr_assert_eq(clk_advance(1), CLK_RANGE);
}

Test(broker_clock, a_restored_offset_is_kept_and_a_negative_one_counts_as_zero)
{
    clk_enable_test(86400000);
    cr_assert_eq(clk_offset_ms(), 86400000);
    clk_enable_test(-5);
    cr_assert_eq(clk_offset_ms(), 0);
}

typedef struct counter {
    atomic_int n;
    int64_t seen_offset; /* the offset when last woken */
} counter;

static void count_wake(void *arg)
{
    counter *c = arg;
    c->seen_offset = clk_offset_ms();
    atomic_fetch_add(&c->n, 1);
}

Test(broker_clock, every_watcher_is_woken_by_each_advance_and_none_after_unwatch)
{
    clk_enable_test(0);
    counter c[3] = {0};
    clk_watcher w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (clk_watcher){.wake = count_wake, .arg = &c[i]};
        clk_watch(&w[i]);
    }
    cr_assert_eq(clk_advance(5), CLK_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(atomic_load(&c[i].n), 1, "watcher %d woken once", i);
        cr_assert_eq(c[i].seen_offset, 5, "the new offset is visible to the watcher");
    }
    clk_unwatch(&w[1]);
    cr_assert_eq(clk_advance(7), CLK_OK);
    cr_assert_eq(clk_advance(0), CLK_RANGE);
    cr_assert_eq(atomic_load(&c[0].n), 2);
    cr_assert_eq(atomic_load(&c[1].n), 1, "no wake after clk_unwatch");
    cr_assert_eq(atomic_load(&c[2].n), 2, "a refused advance wakes nobody");
    clk_unwatch(&w[0]);
    clk_unwatch(&w[2]);
    clk_unwatch(&w[2]); /* twice is harmless */
}

/* A thread sleeping until a broker time, the way the asyncq thread does:
 * condition variable + its mutex, the watcher signals under the mutex. */
typedef struct sleeper {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    int64_t until; /* broker time */
    bool woke;
} sleeper;

static void sleeper_wake(void *arg)
{
    sleeper *s = arg;
    pthread_mutex_lock(&s->mtx);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mtx);
}

static void *sleep_until(void *arg)
{
    sleeper *s = arg;
    pthread_mutex_lock(&s->mtx);
    while (clk_now_ms() < s->until) {
        /* a real-time bound far past the test's timeout: only the advance can end the wait */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3600;
        pthread_cond_timedwait(&s->cv, &s->mtx, &ts);
    }
    s->woke = true;
    pthread_mutex_unlock(&s->mtx);
    return NULL;
}

Test(broker_clock, a_thread_waiting_for_a_broker_time_wakes_when_an_advance_reaches_it,
     .timeout = 20)
{
    clk_enable_test(0);
    sleeper s = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    s.until = clk_now_ms() + 24LL * 3600 * 1000;
    clk_watcher w = {.wake = sleeper_wake, .arg = &s};
    clk_watch(&w);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, sleep_until, &s), 0);
    cr_assert_eq(clk_advance(12LL * 3600 * 1000), CLK_OK);
    pthread_mutex_lock(&s.mtx);
    bool early = s.woke; /* half way: still asleep (the loop looked and slept again) */
    pthread_mutex_unlock(&s.mtx);
    cr_assert_not(early);
    cr_assert_eq(clk_advance(12LL * 3600 * 1000), CLK_OK);
    pthread_join(t, NULL); /* hangs (test timeout) if the wake were lost */
    cr_assert(s.woke);
    clk_unwatch(&w);
}

#define ADVANCERS 4
#define ADVANCES 2000

static atomic_bool readers_stop;

static void *advance_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < ADVANCES; i++) {
        cr_assert_eq(clk_advance(1), CLK_OK);
    }
    return NULL;
}

/* Reads the offset over and over: it never goes down. */
static void *read_many(void *arg)
{
    int64_t *bad = arg;
    int64_t last = 0;
    while (!atomic_load(&readers_stop)) {
        int64_t o = clk_offset_ms();
        if (o < last) {
            (*bad)++;
        }
        last = o;
    }
    return NULL;
}

/* Registers and unregisters a watcher of its own while others advance. */
static void *churn_watchers(void *arg)
{
    (void)arg;
    counter c = {0};
    for (int i = 0; i < 500; i++) {
        clk_watcher w = {.wake = count_wake, .arg = &c};
        clk_watch(&w);
        clk_unwatch(&w); /* w goes out of scope: no wake may touch it after this */
    }
    return NULL;
}

Test(broker_clock, concurrent_advances_add_up_and_readers_never_see_the_offset_go_back,
     .timeout = 60)
{
    clk_enable_test(0);
    counter steady = {0};
    clk_watcher w = {.wake = count_wake, .arg = &steady};
    clk_watch(&w);
    pthread_t adv[ADVANCERS], rd[2], ch[2];
    int64_t bad[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_create(&rd[i], NULL, read_many, &bad[i]), 0);
        cr_assert_eq(pthread_create(&ch[i], NULL, churn_watchers, NULL), 0);
    }
    for (int i = 0; i < ADVANCERS; i++) {
        cr_assert_eq(pthread_create(&adv[i], NULL, advance_many, NULL), 0);
    }
    for (int i = 0; i < ADVANCERS; i++) {
        pthread_join(adv[i], NULL);
    }
    atomic_store(&readers_stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(rd[i], NULL);
        pthread_join(ch[i], NULL);
    }
    cr_assert_eq(clk_offset_ms(), ADVANCERS * ADVANCES, "no advance lost");
    cr_assert_eq(atomic_load(&steady.n), ADVANCERS * ADVANCES, "woken by every advance");
    cr_assert_eq(bad[0] + bad[1], 0, "the offset went back %lld time(s)",
                 (long long)(bad[0] + bad[1]));
    clk_unwatch(&w);
}
