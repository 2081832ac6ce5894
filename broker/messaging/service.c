/*
 * broker/messaging/service.c — the messaging thread (see service.h).
 *
 * Jobs: a submitted request becomes a job on S.in.  Each turn the thread
 * takes every job waiting, runs them all between mq_begin and mq_commit
 * (each operation is atomic on its own inside: the engine's savepoints),
 * and answers them after the COMMIT; if the COMMIT fails, every job of the
 * turn is answered LM_E_IO and nothing of it stays.  The connection has
 * synchronous=FULL, so a send is durable when it is answered.
 *
 * Long poll: a receive that finds nothing and may wait is parked on
 * S.parked with its deadline (real monotonic time: the caller really
 * waits) and a recheck time: when broker time reaches the queue's next
 * wake (mq_next_wake_ms), converted to real time at parking.  It runs
 * again (1) when a commit's ready hook names its queue (ours, or another
 * instance's through mqsvc_notify_ready), (2) at its recheck time, (3) after
 * a test-clock advance (every parked job rechecks), and (4) at its
 * deadline, with may_wait false, which answers an empty Messages list.
 * A bus-tail with a wait parks the same way on its bus (job.bus): the
 * engine's tail hook, run after the COMMIT that put events on a bus,
 * names the bus and its parked tails run next turn; no recheck time.
 *
 * Bus retries and schedules: S.bus_wake is the broker time the next
 * scheduled rule fires or failed bus-target delivery is due (mq_bus_next_wake_ms, read after every turn); the
 * thread's timer includes it (converted to real time), a test-clock
 * advance wakes the thread too, and due retries run in a transaction of
 * their own (bus_retries).  No loop polls the store.
 *
 * Replays: while a bus replay is active (mq_replay_active, checked after
 * every turn and at start, so a replay a restart interrupted goes on) the
 * thread runs one batch of MQSVC_REPLAY_BATCH events per loop, in its own
 * transaction, between turns, and does not sleep until none is left.
 *
 * Housekeeping: every MQSVC_SWEEP_MS the thread calls mq_sweep (expired
 * messages and dedup entries, purged queues' rows; then mq_stream_sweep:
 * expired stream records, deleted streams' rows; then mq_archive_sweep:
 * archived events past retention, deleted archives' events, old replays)
 * in a transaction of its own, bounded by MQSVC_SWEEP_BUDGET rows, and
 * again at once while rows remain; also after a test-clock advance, so
 * retention follows the broker's clock.
 *
 * Counters: after every transaction the engine's bus counters are copied
 * under S.mtx for status (mqsvc_write_status).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "jsonconv.h"
#include "lib/blog.h"
#include "lib/clock.h"
#include "lib/list.h"
#include "messaging/service.h"

#define MQSVC_SWEEP_MS 5000
#define MQSVC_SWEEP_BUDGET 2000
#define MQSVC_MAX_PARKED 4096 /* receives waiting at once; past it: answered at once */
#define MQSVC_REPLAY_BATCH 256 /* replayed events per transaction */
#define MQSVC_MAX_EVENT_NOTES 4096 /* other instances' events waiting for the tail */

typedef struct job {
    nng_msg *msg;
    cJSON *args;
    mqsvc_op_fn fn;
    completion done;
    double deadline; /* parked: real ms when the wait ends; 0 before the first run */
    double recheck; /* parked: real ms to run again (broker time's next wake), 0: none */
    char queue[MQ_QUEUE_NAME_MAX + 1]; /* a parked receive's queue, or "" */
    char bus[MQ_BUS_NAME_MAX + 1]; /* a parked bus-tail's bus, or "" */
    nng_msg *reply;
    lm_error err;
    list_node node;
} job;

/* A queue that can deliver, or (bus) a bus that got events. */
typedef struct ready_note {
    struct ready_note *next;
    bool bus;
    char name[MQ_BUS_NAME_MAX + 1];
} ready_note;

/* An event another instance committed on a bus, for our tail rings. */
typedef struct event_note {
    struct event_note *next;
    char *bus, *text;
} event_note;

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    list_head in; /* submitted (S.mtx) */
    ready_note *notes; /* from other instances (S.mtx) */
    bool clock_moved; /* S.mtx */
    bool stop; /* S.mtx */
    bool running;
    pthread_t thr;
    /* thread only */
    sqlite3 *db;
    mq *m;
    list_head parked;
    int n_parked;
    _Atomic int waiting; /* n_parked, for other threads */
    list_head ready; /* names our own commits made ready, as ready_note-less jobs */
    ready_note *own; /* names from our ready hook, this turn */
    mqsvc_hooks hooks;
    double next_sweep;
    int64_t bus_wake; /* broker ms of the next due bus retry, MQ_NEVER: none */
    clk_watcher watcher;
    mq_bus_stats stats; /* S.mtx: the engine's bus counters after the last transaction */
    mq_bus_stats others; /* S.mtx: what other instances counted (mqsvc_count_bus) */
    event_note *events, **events_end; /* S.mtx: mqsvc_notify_event's, oldest first */
    int n_events; /* S.mtx */
    bool replaying; /* a replay is active: run a batch each loop */
    _Atomic int tails; /* parked bus-tails, for other threads */
} S = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void after_tx(bool committed);

static void job_answer(job *j)
{
    if (j->reply != NULL) {
        complete_reply(j->done, j->reply);
    } else {
        complete_error(j->done, &j->err);
    }
    nng_msg_free(j->msg);
    cJSON_Delete(j->args);
    free(j);
}

static void job_fail(job *j, int code, const char *msg)
{
    nng_msg_free(j->reply);
    j->reply = NULL;
    proto_error(&j->err, code, "%s", msg);
    job_answer(j);
}

/* ---- submission (a way in's thread) ---- */

void mqsvc_submit(nng_msg *msg, const msgpack_object *args, mqsvc_op_fn fn, completion done)
{
    job *j = calloc(1, sizeof(*j));
    cJSON *a = args != NULL ? jsonconv_from_msgpack(args) : cJSON_CreateObject();
    if (j == NULL || a == NULL) {
        lm_error e;
        proto_error(&e, LM_E_NOMEM, NULL);
        free(j);
        cJSON_Delete(a);
        nng_msg_free(msg);
        complete_error(done, &e);
        return;
    }
    j->msg = msg;
    j->args = a;
    j->fn = fn;
    j->done = done;
    pthread_mutex_lock(&S.mtx);
    if (!S.running || S.stop) {
        pthread_mutex_unlock(&S.mtx);
        job_fail(j, LM_E_STOPPING, "the broker is stopping");
        return;
    }
    list_push_back(&S.in, &j->node);
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mtx);
}

void mqsvc_notify_ready(const char *queue)
{
    ready_note *n = calloc(1, sizeof(*n));
    if (n == NULL) { /* the parked receive still rechecks at its deadline */
        return;
    }
    snprintf(n->name, sizeof(n->name), "%s", queue);
    pthread_mutex_lock(&S.mtx);
    n->next = S.notes;
    S.notes = n;
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mtx);
}

void mqsvc_notify_event(const char *bus, const char *text)
{
    event_note *n = calloc(1, sizeof(*n));
    char *b = strdup(bus), *x = strdup(text);
    if (n == NULL || b == NULL || x == NULL) { /* best-effort: not tailed */
        free(n);
        free(b);
        free(x);
        return;
    }
    n->bus = b;
    n->text = x;
    pthread_mutex_lock(&S.mtx);
    if (!S.running || S.stop || S.n_events >= MQSVC_MAX_EVENT_NOTES) {
        pthread_mutex_unlock(&S.mtx);
        free(b);
        free(x);
        free(n);
        return;
    }
    *(S.events_end != NULL ? S.events_end : &S.events) = n;
    S.events_end = &n->next;
    S.n_events++;
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mtx);
}

void mqsvc_count_bus(const mq_bus_stats *before, const mq_bus_stats *after)
{
    pthread_mutex_lock(&S.mtx);
    S.others.events_put += after->events_put - before->events_put;
    S.others.deliveries += after->deliveries - before->deliveries;
    S.others.failed += after->failed - before->failed;
    S.others.retries += after->retries - before->retries;
    S.others.dead_lettered += after->dead_lettered - before->dead_lettered;
    S.others.dropped += after->dropped - before->dropped;
    S.others.archived += after->archived - before->archived;
    S.others.replayed += after->replayed - before->replayed;
    pthread_mutex_unlock(&S.mtx);
}

static void notes_unpark(ready_note *n, list_head *run);

/* Into our rings, in order; their parked tails run next (thread only). */
static void events_push(event_note *n, list_head *run)
{
    while (n != NULL) {
        event_note *next = n->next;
        mq_tail_push(S.m, n->bus, n->text);
        free(n->bus);
        free(n->text);
        free(n);
        n = next;
    }
    ready_note *own = S.own;
    S.own = NULL;
    notes_unpark(own, run);
}

static void clock_moved(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&S.mtx);
    S.clock_moved = true;
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mtx);
}

/* mq_ready_fn for our own instance: runs on this thread after a COMMIT. */
static void own_ready(void *arg, const char *queue, int64_t at_ms)
{
    (void)arg;
    (void)at_ms; /* a parked receive asks the engine again when it runs */
    ready_note *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return;
    }
    snprintf(n->name, sizeof(n->name), "%s", queue);
    n->next = S.own;
    S.own = n;
}

/* mq_tail_fn: a COMMIT put events on bus; its parked tails run next turn. */
static void own_tail(void *arg, const char *bus)
{
    (void)arg;
    ready_note *n = calloc(1, sizeof(*n));
    if (n == NULL) { /* the parked tail still answers at its deadline */
        return;
    }
    n->bus = true;
    snprintf(n->name, sizeof(n->name), "%s", bus);
    n->next = S.own;
    S.own = n;
}

static void count_parked(void)
{
    int tails = 0;
    LIST_EACH(j, job, node, &S.parked)
    {
        tails += j->bus[0] != '\0';
    }
    atomic_store(&S.waiting, S.n_parked - tails);
    atomic_store(&S.tails, tails);
}

/* ---- the thread ---- */

/* Move the parked jobs of queue (or of bus, when bus; all when name is
 * NULL) to run.  A parked job waits on exactly one of the two. */
static void unpark(const char *name, bool bus, list_head *run)
{
    LIST_EACH(j, job, node, &S.parked)
    {
        const char *on = bus ? j->bus : j->queue;
        if (name == NULL || (on[0] != '\0' && strcmp(on, name) == 0) ||
            (!bus && name[0] == '\0' && j->queue[0] != '\0')) { /* "": any queue */
            list_remove(&S.parked, &j->node);
            S.n_parked--;
            list_push_back(run, &j->node);
        }
    }
    count_parked();
}

static void notes_unpark(ready_note *n, list_head *run)
{
    while (n != NULL) {
        ready_note *next = n->next;
        unpark(n->name, n->bus, run);
        if (!n->bus && S.hooks.ready != NULL) { /* the pollers (esm/) look again too */
            S.hooks.ready(n->name);
        }
        free(n);
        n = next;
    }
}

/* Park j after a run that asked to wait c->wait_s on c->queue (or, for a
 * bus-tail, on c->bus: no recheck, only its events or its deadline). */
static void park(job *j, const mqsvc_call *c, double now)
{
    if (j->deadline == 0) {
        j->deadline = now + (double)c->wait_s * 1000.0;
    }
    snprintf(j->queue, sizeof(j->queue), "%s", c->bus[0] != '\0' ? "" : c->queue);
    snprintf(j->bus, sizeof(j->bus), "%s", c->bus);
    j->recheck = 0;
    int64_t at = MQ_NEVER;
    lm_error e;
    if (c->bus[0] == '\0' && mq_next_wake_ms(S.m, c->queue, c->now_ms, &at, &e) == LM_OK &&
        at != MQ_NEVER) {
        int64_t in = at - clk_now_ms();
        j->recheck = now + (double)(in > 0 ? in : 0);
    }
    list_push_back(&S.parked, &j->node);
    S.n_parked++;
    count_parked();
}

/* Publish the engine's bus counters for status (after every transaction:
 * the engine restored them itself if it rolled back). */
static void stats_publish(void)
{
    mq_bus_stats s;
    mq_bus_stats_get(S.m, &s);
    pthread_mutex_lock(&S.mtx);
    S.stats = s;
    pthread_mutex_unlock(&S.mtx);
}

/* Run the jobs of run in one transaction and answer or park each. */
static void run_turn(list_head *run)
{
    lm_error e;
    list_head done = {0};
    bool tx = mq_begin(S.m, &e) == LM_OK;
    if (!tx) {
        blog(LOG_ERROR, "messaging: BEGIN failed: %s", e.message);
    }
    double now = clk_mono_ms();
    bool streams = false; /* records were put: stream pollers look again */
    job *j;
    while ((j = list_pop_front_entry(run, job, node)) != NULL) {
        streams = streams || j->fn == mqops_stream_put || j->fn == mqops_stream_put_batch;
        if (!tx) {
            proto_error(&j->err, LM_E_IO, "the store is not available: %s", e.message);
            list_push_back(&done, &j->node);
            continue;
        }
        mqsvc_call c = {.args = j->args,
                        .now_ms = clk_now_ms(),
                        .may_wait = (j->deadline == 0 || now < j->deadline) &&
                                    S.n_parked < MQSVC_MAX_PARKED};
        proto_error(&j->err, LM_E_INTERNAL, NULL);
        j->reply = j->fn(S.m, &c, &j->err);
        if (j->reply == NULL && j->err.code == LM_OK && c.wait_s > 0 && c.may_wait) {
            park(j, &c, now);
            continue;
        }
        if (j->reply == NULL && j->err.code == LM_OK) {
            proto_error(&j->err, LM_E_INTERNAL, "an operation returned neither reply nor error");
        }
        list_push_back(&done, &j->node);
    }
    bool committed = tx && mq_commit(S.m, &e) == LM_OK;
    after_tx(committed);
    if (committed && streams && S.hooks.ready != NULL) {
        S.hooks.ready(NULL);
    }
    stats_publish(); /* before the answers: a caller's next status sees its work */
    if (tx && !committed) {
        blog(LOG_ERROR, "messaging: COMMIT failed: %s", e.message);
    }
    while ((j = list_pop_front_entry(&done, job, node)) != NULL) {
        if (tx && !committed) {
            job_fail(j, LM_E_IO, "the operation could not be stored");
        } else {
            job_answer(j);
        }
    }
    /* parked receives whose queue the commit made ready run next turn */
    ready_note *own = S.own;
    S.own = NULL;
    notes_unpark(own, &S.ready);
}

static void sweep(void)
{
    lm_error e;
    bool more = false;
    if (mq_sweep(S.m, clk_now_ms(), MQSVC_SWEEP_BUDGET, &more, &e) != LM_OK) {
        blog(LOG_WARN, "messaging: sweep: %s", e.message);
        more = false;
    }
    bool smore = false; /* streams: expired records, deleted streams */
    if (mq_stream_sweep(S.m, clk_now_ms(), MQSVC_SWEEP_BUDGET, &smore, &e) != LM_OK) {
        blog(LOG_WARN, "messaging: stream sweep: %s", e.message);
        smore = false;
    }
    bool amore = false; /* bus archives: retention, deleted archives, old replays */
    if (mq_archive_sweep(S.m, clk_now_ms(), MQSVC_SWEEP_BUDGET, &amore, &e) != LM_OK) {
        blog(LOG_WARN, "messaging: archive sweep: %s", e.message);
        amore = false;
    }
    more = more || smore || amore;
    S.next_sweep = clk_mono_ms() + (more ? 0 : MQSVC_SWEEP_MS);
}

/* The earliest real time something parked or the sweep needs the thread. */
static double next_timer(void)
{
    double t = S.replaying ? clk_mono_ms() : S.next_sweep;
    if (S.bus_wake != MQ_NEVER) {
        double b = clk_mono_ms() + (double)(S.bus_wake - clk_now_ms());
        t = b < t ? b : t;
    }
    LIST_EACH(j, job, node, &S.parked)
    {
        if (j->deadline < t) {
            t = j->deadline;
        }
        if (j->recheck > 0 && j->recheck < t) {
            t = j->recheck;
        }
    }
    return t;
}

static void due_unpark(double now, list_head *run)
{
    LIST_EACH(j, job, node, &S.parked)
    {
        if (j->deadline <= now || (j->recheck > 0 && j->recheck <= now)) {
            list_remove(&S.parked, &j->node);
            S.n_parked--;
            list_push_back(run, &j->node);
        }
    }
    count_parked();
}

/* Run the bus retries due now (broker time), then note the next one. */
static void bus_retries(void)
{
    lm_error e;
    for (int round = 0; round < 16 && S.bus_wake != MQ_NEVER && S.bus_wake <= clk_now_ms();
         round++) {
        mq_retry_counts c;
        size_t fired = 0;
        int rc = mq_bus_fire(S.m, clk_now_ms(), 256, &fired, &e);
        if (rc == LM_OK) {
            rc = mq_bus_retry(S.m, clk_now_ms(), 256, &c, &e);
        }
        after_tx(rc == LM_OK);
        if (rc != LM_OK) {
            blog(LOG_WARN, "messaging: bus retries: %s", e.message);
        } else if (c.dropped > 0) {
            blog(LOG_WARN, "messaging: %zu bus deliveries dropped (out of retries, no DLQ)",
                 c.dropped);
        }
        ready_note *own = S.own;
        S.own = NULL;
        notes_unpark(own, &S.ready);
        stats_publish();
        S.bus_wake = mq_bus_next_wake_ms(S.m);
        if (rc != LM_OK) { /* the store failed: try again in a second, not in a loop */
            S.bus_wake = clk_now_ms() + 1000;
            break;
        }
    }
}

/* One batch of the oldest active replay (its own transaction), then note
 * whether more remain: the loop runs it again before sleeping, between
 * turns, so a long replay never holds up the api ops. */
static void replays(void)
{
    if (!S.replaying) {
        return;
    }
    lm_error e;
    int rc = mq_replay_run(S.m, clk_now_ms(), MQSVC_REPLAY_BATCH, NULL, &e);
    after_tx(rc == LM_OK);
    if (rc != LM_OK) {
        blog(LOG_WARN, "messaging: replay: %s", e.message);
    }
    ready_note *own = S.own;
    S.own = NULL;
    notes_unpark(own, &S.ready);
    stats_publish();
    S.bus_wake = mq_bus_next_wake_ms(S.m);
    S.replaying = rc == LM_OK && mq_replay_active(S.m);
    if (rc != LM_OK) { /* the store failed: the next sweep's turn tries again */
        S.next_sweep = clk_mono_ms() + 1000;
    }
}

static void *mqsvc_main(void *arg)
{
    (void)arg;
    for (;;) {
        list_head run = {0};
        pthread_mutex_lock(&S.mtx);
        for (;;) {
            if (S.stop || !list_empty(&S.in) || S.notes != NULL || S.clock_moved ||
                !list_empty(&S.ready) || S.events != NULL) {
                break;
            }
            double wake = next_timer(), now = clk_mono_ms();
            if (wake <= now) {
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double ms = wake - now + 1;
            ts.tv_sec += (time_t)(ms / 1000);
            ts.tv_nsec += (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&S.cv, &S.mtx, &ts);
        }
        bool stop = S.stop, moved = S.clock_moved;
        ready_note *notes = S.notes;
        S.notes = NULL;
        S.clock_moved = false;
        event_note *events = S.events;
        S.events = NULL;
        S.events_end = NULL;
        S.n_events = 0;
        job *j;
        while ((j = list_pop_front_entry(&S.in, job, node)) != NULL) {
            list_push_back(&run, &j->node);
        }
        pthread_mutex_unlock(&S.mtx);
        while ((j = list_pop_front_entry(&S.ready, job, node)) != NULL) {
            list_push_back(&run, &j->node);
        }
        notes_unpark(notes, &run);
        events_push(events, &run);
        if (moved) {
            unpark(NULL, false, &run);
        }
        if (stop) {
            unpark(NULL, false, &run);
            while ((j = list_pop_front_entry(&run, job, node)) != NULL) {
                job_fail(j, LM_E_STOPPING, "the broker is stopping");
            }
            return NULL;
        }
        double now = clk_mono_ms();
        due_unpark(now, &run);
        if (!list_empty(&run)) {
            run_turn(&run);
            S.bus_wake = mq_bus_next_wake_ms(S.m);
            S.replaying = mq_replay_active(S.m); /* a replay-start of this turn */
        }
        bus_retries();
        replays();
        if (moved || clk_mono_ms() >= S.next_sweep) { /* retention on the broker's clock */
            sweep();
        }
    }
}

/* mq_invoke_fn: the layer above stores the delivery on our connection. */
static int svc_invoke(void *arg, const mq_delivery *d, lm_error *e)
{
    (void)arg;
    return S.hooks.invoke(S.db, d, e);
}

static void after_tx(bool committed)
{
    if (S.hooks.after != NULL) {
        S.hooks.after(committed);
    }
}

int mqsvc_start(const char *db_path, const mqsvc_hooks *hooks)
{
    lm_error e;
    if (sqlite3_open_v2(db_path, &S.db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        blog(LOG_ERROR, "messaging: open %s: %s", db_path, sqlite3_errmsg(S.db));
        sqlite3_close(S.db);
        S.db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(S.db, 5000); /* the other connections' writes */
    if (sqlite3_exec(S.db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK ||
        mq_schema_apply(S.db, &e) != LM_OK || (S.m = mq_create(S.db, &e)) == NULL) {
        blog(LOG_ERROR, "messaging: cannot start the engine on %s", db_path);
        sqlite3_close(S.db);
        S.db = NULL;
        return -1;
    }
    mq_set_ready_hook(S.m, own_ready, NULL);
    if (mq_set_tail_hook(S.m, own_tail, NULL, &e) != LM_OK) {
        blog(LOG_WARN, "messaging: no bus tail: %s", e.message);
    }
    if (hooks != NULL) {
        S.hooks = *hooks;
    }
    if (S.hooks.invoke != NULL) {
        mq_set_invoke_hook(S.m, svc_invoke, NULL);
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&S.cv, &ca);
    pthread_condattr_destroy(&ca);
    S.next_sweep = clk_mono_ms() + MQSVC_SWEEP_MS;
    S.bus_wake = mq_bus_next_wake_ms(S.m); /* retries left by the last run */
    S.replaying = mq_replay_active(S.m); /* replays a restart interrupted go on */
    S.watcher.wake = clock_moved;
    clk_watch(&S.watcher);
    S.running = true;
    if (pthread_create(&S.thr, NULL, mqsvc_main, NULL) != 0) {
        S.running = false;
        clk_unwatch(&S.watcher);
        mq_destroy(S.m);
        sqlite3_close(S.db);
        return -1;
    }
    return 0;
}

int mqsvc_waiting(void)
{
    return atomic_load(&S.waiting);
}

void mqsvc_write_status(proto_writer *w)
{
    mq_bus_stats s, o;
    pthread_mutex_lock(&S.mtx);
    s = S.stats;
    o = S.others;
    pthread_mutex_unlock(&S.mtx);
    pw_map(w, 3);
    pw_key(w, "WaitingReceives");
    pw_int(w, mqsvc_waiting());
    pw_key(w, "WaitingTails");
    pw_int(w, atomic_load(&S.tails));
    pw_key(w, "Buses");
    pw_map(w, 8);
    const char *k[] = {"EventsPut",    "Deliveries", "FailedDeliveries", "Retries",
                       "DeadLettered", "Dropped",    "Archived",         "Replayed"};
    const uint64_t v[] = {s.events_put + o.events_put,
                          s.deliveries + o.deliveries,
                          s.failed + o.failed,
                          s.retries + o.retries,
                          s.dead_lettered + o.dead_lettered,
                          s.dropped + o.dropped,
                          s.archived + o.archived,
                          s.replayed + o.replayed};
    for (int i = 0; i < 8; i++) {
        pw_key(w, k[i]);
        pw_int(w, (int64_t)v[i]);
    }
}

void mqsvc_stop(void)
{
    if (!S.running) {
        return;
    }
    pthread_mutex_lock(&S.mtx);
    S.stop = true;
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mtx);
    pthread_join(S.thr, NULL);
    clk_unwatch(&S.watcher);
    pthread_mutex_lock(&S.mtx);
    S.running = false;
    job *j;
    while ((j = list_pop_front_entry(&S.in, job, node)) != NULL) {
        job_fail(j, LM_E_STOPPING, "the broker is stopping");
    }
    ready_note *n = S.notes;
    S.notes = NULL;
    event_note *ev = S.events;
    S.events = NULL;
    S.events_end = NULL;
    S.n_events = 0;
    pthread_mutex_unlock(&S.mtx);
    while (n != NULL) {
        ready_note *next = n->next;
        free(n);
        n = next;
    }
    while (ev != NULL) {
        event_note *next = ev->next;
        free(ev->bus);
        free(ev->text);
        free(ev);
        ev = next;
    }
    if (S.hooks.close != NULL) {
        S.hooks.close();
    }
    mq_destroy(S.m);
    S.m = NULL;
    sqlite3_close(S.db);
    S.db = NULL;
}
