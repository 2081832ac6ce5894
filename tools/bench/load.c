/*
 * tools/bench/load.c — the load generator (closed and open loop); see
 * load.h for the model.
 *
 * Threads: `concurrency` caller threads and the calling thread, which only
 * starts the clock and joins.  Start-up is two barriers: every caller opens
 * its per-thread target state, then the clock starts (t0), so connection
 * set-up never counts.  Shared state is a handful of atomics (ticket
 * counter, measured-request counter, last completion) and the stats'
 * atomic histograms; nothing on the request path takes a lock except an
 * error being counted.
 */
#include "load.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct run {
    const load_target *t;
    const load_shape *s;
    load_stats *st;
    pthread_barrier_t ready;
    pthread_barrier_t go;
    uint64_t t0;
    uint64_t warm_end;
    uint64_t t_end; /* UINT64_MAX when bounded by a request count */
    uint64_t t_limit; /* hard stop for starting requests (limit_ns) */
    double interval_ns; /* open loop */
    _Atomic uint64_t ticket;
    _Atomic uint64_t measured;
    _Atomic uint64_t last_done;
    _Atomic uint64_t requests;
    _Atomic uint64_t failed;
    _Atomic uint64_t late;
    _Atomic uint64_t items;
    _Atomic int open_failed;
} run;

uint64_t load_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000u),
                          .tv_nsec = (long)(t_ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int load_stats_init(load_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->errors.mu, NULL);
    st->rounds = 1;
    int rc = 0;
    rc |= hist_init(&st->ok);
    rc |= hist_init(&st->uncorrected);
    rc |= hist_init(&st->warm);
    rc |= hist_init(&st->cold);
    rc |= hist_init(&st->init);
    rc |= hist_init(&st->accept);
    return rc != 0 ? -1 : 0;
}

void load_stats_finish(load_stats *st)
{
    hist_finish(&st->ok);
    hist_finish(&st->uncorrected);
    hist_finish(&st->warm);
    hist_finish(&st->cold);
    hist_finish(&st->init);
    hist_finish(&st->accept);
    free(st->samples);
    st->samples = NULL;
    pthread_mutex_destroy(&st->errors.mu);
}

int load_stats_keep_samples(load_stats *st, size_t cap)
{
    free(st->samples);
    st->samples = calloc(cap, sizeof(*st->samples));
    st->samples_cap = st->samples != NULL ? cap : 0;
    atomic_store(&st->n_samples, 0);
    return st->samples != NULL ? 0 : -1;
}

/* Append src's kept samples to dst's, shifted past dst's window so far. */
static void merge_samples(load_stats *dst, const load_stats *src)
{
    uint64_t have = atomic_load(&dst->n_samples), offered = atomic_load(&src->n_samples);
    size_t n = offered < src->samples_cap ? (size_t)offered : src->samples_cap;
    for (size_t i = 0; i < n && have + i < dst->samples_cap; i++) {
        dst->samples[have + i] = (load_sample){.t_ns = src->samples[i].t_ns + dst->elapsed_ns,
                                               .lat_ns = src->samples[i].lat_ns};
    }
    atomic_store(&dst->n_samples, have + offered);
}

void load_errors_add(load_errors *e, const char *cls, uint64_t count)
{
    pthread_mutex_lock(&e->mu);
    int i = 0;
    while (i < e->n && strcmp(e->e[i].name, cls) != 0) {
        i++;
    }
    if (i == e->n && e->n < LOAD_ERR_CLASSES) {
        snprintf(e->e[i].name, sizeof(e->e[i].name), "%s", cls);
        e->e[i].count = 0;
        e->n++;
    }
    if (i < e->n) {
        e->e[i].count += count;
    } else {
        e->overflow += count;
    }
    pthread_mutex_unlock(&e->mu);
}

void load_stats_merge(load_stats *dst, const load_stats *src)
{
    if (dst->samples != NULL && src->samples != NULL) {
        merge_samples(dst, src); /* before elapsed_ns grows */
    }
    hist_merge(&dst->ok, &src->ok);
    hist_merge(&dst->uncorrected, &src->uncorrected);
    hist_merge(&dst->warm, &src->warm);
    hist_merge(&dst->cold, &src->cold);
    hist_merge(&dst->init, &src->init);
    hist_merge(&dst->accept, &src->accept);
    for (int i = 0; i < src->errors.n; i++) {
        load_errors_add(&dst->errors, src->errors.e[i].name, src->errors.e[i].count);
    }
    if (src->errors.overflow != 0) {
        load_errors_add(&dst->errors, "other", src->errors.overflow);
    }
    dst->requests += src->requests;
    dst->failed += src->failed;
    dst->elapsed_ns += src->elapsed_ns;
    dst->late += src->late;
    dst->items += src->items;
}

static void note_done(run *r, uint64_t end)
{
    uint64_t cur = atomic_load_explicit(&r->last_done, memory_order_relaxed);
    while (end > cur && !atomic_compare_exchange_weak(&r->last_done, &cur, end)) {
    }
}

static void record(run *r, const load_outcome *o, uint64_t due, uint64_t start, uint64_t end)
{
    load_stats *st = r->st;
    atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
    note_done(r, end);
    if (!o->ok) {
        atomic_fetch_add_explicit(&r->failed, 1, memory_order_relaxed);
        load_errors_add(&st->errors, o->err_class[0] != '\0' ? o->err_class : "unknown", 1);
        return;
    }
    uint64_t own = o->latency_ns;
    uint64_t lat = own != 0 ? own : end - due;
    hist_record(&st->ok, lat);
    if (st->samples != NULL) {
        uint64_t i = atomic_fetch_add_explicit(&st->n_samples, 1, memory_order_relaxed);
        if (i < st->samples_cap) {
            st->samples[i] =
                (load_sample){.t_ns = end > r->warm_end ? end - r->warm_end : 0, .lat_ns = lat};
        }
    }
    atomic_fetch_add_explicit(&r->items, o->items, memory_order_relaxed);
    if (r->s->rate > 0) {
        hist_record(&st->uncorrected, own != 0 ? own : end - start);
    }
    hist_record(o->cold ? &st->cold : &st->warm, lat);
    if (o->accept_ns != 0) {
        hist_record(&st->accept, o->accept_ns);
    }
    if (o->cold && o->init_ms > 0) {
        hist_record(&st->init, (uint64_t)(o->init_ms * 1e6));
    }
}

/* Next ticket of the open loop: its due time, or 0 when the run is over. */
static uint64_t open_next(run *r, bool *measured)
{
    uint64_t i = atomic_fetch_add(&r->ticket, 1);
    uint64_t due = r->t0 + (uint64_t)((double)i * r->interval_ns);
    *measured = due >= r->warm_end;
    if (*measured && r->s->requests != 0 && atomic_fetch_add(&r->measured, 1) >= r->s->requests) {
        return 0;
    }
    if (due >= r->t_end || due >= r->t_limit) {
        return 0;
    }
    return due;
}

/* Start of the next closed-loop request, or 0 when the run is over. */
static uint64_t closed_next(run *r, bool *measured)
{
    uint64_t now = load_now_ns();
    if (now >= r->t_limit) {
        return 0;
    }
    *measured = now >= r->warm_end;
    if (!*measured) {
        return now;
    }
    if (r->s->requests != 0) {
        return atomic_fetch_add(&r->measured, 1) < r->s->requests ? now : 0;
    }
    return now < r->t_end ? now : 0;
}

static void caller_loop(run *r, void *tls)
{
    bool open = r->s->rate > 0;
    for (;;) {
        bool measured = false;
        uint64_t due = open ? open_next(r, &measured) : closed_next(r, &measured);
        if (due == 0) {
            return;
        }
        if (open) {
            sleep_until(due);
        }
        load_outcome o;
        memset(&o, 0, sizeof(o));
        uint64_t start = load_now_ns();
        r->t->send_one(tls, &o);
        uint64_t end = load_now_ns();
        if (measured) {
            if (open && start > due + 1000000u) {
                atomic_fetch_add_explicit(&r->late, 1, memory_order_relaxed);
            }
            record(r, &o, due, start, end);
        }
    }
}

static void *caller_main(void *arg)
{
    run *r = arg;
    void *tls = NULL;
    if (r->t->thread_open != NULL && r->t->thread_open(r->t->arg, &tls) != 0) {
        atomic_store(&r->open_failed, 1);
    }
    pthread_barrier_wait(&r->ready);
    pthread_barrier_wait(&r->go);
    if (!atomic_load(&r->open_failed)) {
        caller_loop(r, tls != NULL ? tls : r->t->arg);
    }
    if (r->t->thread_close != NULL && tls != NULL) {
        r->t->thread_close(tls);
    }
    return NULL;
}

static void start_clock(run *r)
{
    const load_shape *s = r->s;
    r->t0 = load_now_ns();
    r->warm_end = r->t0 + s->warmup_ns;
    r->t_end = UINT64_MAX;
    if (s->requests == 0) {
        r->t_end = r->warm_end + s->duration_ns;
    }
    r->t_limit = s->limit_ns != 0 ? r->t0 + s->limit_ns : UINT64_MAX;
    if (s->rate > 0) {
        r->interval_ns = 1e9 / s->rate;
    }
    atomic_store(&r->last_done, r->warm_end);
}

int load_run(const load_target *t, const load_shape *s, load_stats *st, char *errbuf, size_t errlen)
{
    int rc = -1;
    int n = s->concurrency;
    pthread_t th[LOAD_MAX_CONCURRENCY];
    int started = 0;
    run r;
    memset(&r, 0, sizeof(r));
    r.t = t;
    r.s = s;
    r.st = st;
    if (n < 1 || n > LOAD_MAX_CONCURRENCY) {
        snprintf(errbuf, errlen, "concurrency must be 1..%d", LOAD_MAX_CONCURRENCY);
        return -1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* Callers only wait on the client: small stacks let -c reach the cap. */
    pthread_attr_setstacksize(&attr, 512u * 1024u);
    pthread_barrier_init(&r.ready, NULL, (unsigned)n + 1);
    pthread_barrier_init(&r.go, NULL, (unsigned)n + 1);
    for (started = 0; started < n; started++) {
        if (pthread_create(&th[started], &attr, caller_main, &r) != 0) {
            snprintf(errbuf, errlen, "cannot start caller thread %d", started);
            goto cleanup;
        }
    }
    pthread_barrier_wait(&r.ready);
    start_clock(&r);
    pthread_barrier_wait(&r.go);
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }
    if (atomic_load(&r.open_failed)) {
        snprintf(errbuf, errlen, "%s: a caller could not connect", t->label);
        goto destroy;
    }
    st->requests = atomic_load(&r.requests);
    st->failed = atomic_load(&r.failed);
    st->late = atomic_load(&r.late);
    st->items = atomic_load(&r.items);
    st->elapsed_ns = atomic_load(&r.last_done) - r.warm_end;
    rc = 0;
    goto destroy;
cleanup:
    /* Threads already started wait on the barrier forever: a thread that
     * cannot be created leaves no clean way back, so the process exits. */
    fprintf(stderr, "lamina-bench: %s\n", errbuf);
    _Exit(1);
destroy:
    pthread_attr_destroy(&attr);
    pthread_barrier_destroy(&r.ready);
    pthread_barrier_destroy(&r.go);
    return rc;
}
