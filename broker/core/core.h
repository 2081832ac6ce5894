/*
 * broker/core/core.h — the core's contract: function configurations, the
 * registry, invocations, the worker pool, the work socket and function
 * logs, and the broker's shared state B.  The core runs functions; it never
 * calls a way in (front/), the admin or async layers, or the store.
 *
 * Threading model (one lock, small state machines):
 *   - All broker state below (registry, workers, invocations) is guarded by
 *     one mutex, B.mtx.  Nothing slow ever runs under it: no file I/O, no
 *     process creation, no waits.
 *   - nng aio callbacks (front/api.c, core/work.c, through lib/reppool's
 *     contexts: tiny state machines RECV → WAIT → SEND under the pool's
 *     own leaf mutex) decode, take B.mtx briefly, route, and start the
 *     next async operation.  The sync-invoke hot path stays inside
 *     callbacks: an invocation's completion (invoke_done_fn) runs in the
 *     worker's result callback, and front/ops.c's answers the api there.
 *   - Slow work has its own threads: admin/admin.c (SQLite, file copies),
 *     the spawner and reaper in pool.c (posix_spawn, waitpid), the clock
 *     in pool.c (deadlines, init timeouts, idle reaping), fnlog.c (log
 *     files) and async/asyncq.c (the durable async-invoke queue: its
 *     SQLite commits, retries, destinations and event-wait).  The thread
 *     map is in broker/README.md.
 *   - Lock order: B.mtx may be taken while holding nothing else; B.spawn_mtx
 *     is taken before B.mtx where both are needed.  async/asyncq.c's own
 *     mutex and each reppool's are leaves: they may be taken under B.mtx, never the
 *     other way round.
 */
#ifndef BROKER_CORE_CORE_H
#define BROKER_CORE_CORE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>

#include "lib/blog.h"
#include "lib/clock.h"
#include "lib/hmap.h"
#include "lib/list.h"
#include "lib/util.h"
#include "proto.h"

#define BROKER_VERSION "0.1.0"
#define NAME_MAX_LEN 64

typedef struct work_ctx work_ctx;
typedef struct worker worker;
typedef struct invocation invocation;

/* An immutable snapshot of one function version's code and configuration.
 * Workers and invocations hold references; the registry holds one for the
 * current $LATEST.  The pool fields at the bottom are mutable, under B.mtx. */
typedef struct fn_config {
    int refs;
    char name[NAME_MAX_LEN + 1];
    char version[16]; /* "$LATEST" or "N" */
    char sha256[65];
    uint64_t code_size;
    char code_path[PATH_MAX];
    uint32_t timeout_s;
    uint32_t memory_mb;
    char *env_json; /* {"K":"V",...} */
    char *description;
    char *dead_letter; /* DeadLetterConfig.TargetArn, "" when unset (stored only) */
    char last_modified[40];
    /* Lambda's RevisionId (uuid4): $LATEST gets a new one on every change
     * of code or configuration, a version one when published.  Clones keep
     * it (a retire-workers copy is the same revision). */
    char revision[37];
    /* pool state (B.mtx) */
    list_head queue; /* invocations waiting for a worker (FIFO, invocation.qnode) */
    int queued;
    int spawning; /* workers started but not yet ready */
    int live; /* workers not yet reaped */
    list_head idle; /* idle workers (LIFO: warmest first, worker.idle_node) */
    bool retired; /* no new work: workers shut down when idle */
} fn_config;

fn_config *fncfg_ref(fn_config *c);
void fncfg_unref(fn_config *c); /* frees at zero; caller holds B.mtx or owns the last ref */
/* A new configuration (refs 1, fresh pool state) with c's code and config
 * and the given version label; NULL on ENOMEM.  Reads only c's immutable
 * fields, so B.mtx is not needed while the caller holds a reference. */
fn_config *fncfg_clone(const fn_config *c, const char *version);

#define ALIAS_MAX_LEN 128
#define VERSION_MAX_LEN 15 /* "$LATEST" or a decimal version number */

/* An alias: a name for one version, optionally routing a share of the
 * requests to one extra version.  Immutable once in the registry (updates
 * replace the whole record). */
typedef struct fn_alias {
    char name[ALIAS_MAX_LEN + 1];
    char version[VERSION_MAX_LEN + 1]; /* "$LATEST" or "N" */
    char extra_version[VERSION_MAX_LEN + 1]; /* "" when not weighted */
    double extra_weight; /* [0, 1]: share of extra_version */
    char *description;
    char revision[37];
    struct fn_alias *next; /* sorted by name */
} fn_alias;

void fnalias_free(fn_alias *a);

/* ---- registry.c: name → $LATEST, published versions, aliases (B.mtx) ---- */
/* Per-function counters for /metrics (front/http.c), kept under B.mtx by
 * invoke.c and pool.c.  Durations are observed into fixed buckets (upper
 * bounds in seconds, FN_DURATION_BOUNDS; the last is +Inf). */
#define FN_DURATION_BUCKETS 15
extern const double fn_duration_bounds[FN_DURATION_BUCKETS - 1];
typedef struct fn_stats {
    uint64_t invocations; /* finished runs (success or function error) */
    uint64_t errors_handled; /* FunctionError Handled */
    uint64_t errors_unhandled; /* FunctionError Unhandled (crash, timeout, bad response) */
    uint64_t timeouts; /* Sandbox.Timedout among the unhandled */
    uint64_t throttles; /* refused with TooManyRequestsException */
    uint64_t cold_starts; /* runs that paid an Init Duration */
    uint64_t dur_buckets[FN_DURATION_BUCKETS]; /* not cumulative */
    double dur_sum_s;
    int running; /* invocations on a worker now */
} fn_stats;

/* Provisioned concurrency of one published version or alias (B.mtx):
 * `requested` environments of what the qualifier names (an alias: its
 * primary version) are kept initialised by pool.c.  `failed` stops the
 * pool from starting more after an environment failed its init (Lambda's
 * FAILED); a new put clears it. */
typedef struct fn_provisioned {
    char qualifier[130]; /* what adm_get_qualified reads: a version or an alias */
    int requested;
    bool failed;
    char reason[256]; /* StatusReason when failed */
    char last_modified[40];
    struct fn_provisioned *next;
} fn_provisioned;

typedef struct function {
    char name[NAME_MAX_LEN + 1];
    fn_stats stats;
    /* concurrency (B.mtx): reserved is ReservedConcurrentExecutions, -1
     * when the function shares the unreserved pool; inflight counts its
     * invocations queued or running (what reserved caps) */
    int reserved;
    int inflight;
    fn_provisioned *provisioned;
    fn_config *latest;
    fn_config **versions; /* published versions, ascending by number */
    int n_versions, cap_versions;
    uint32_t last_version; /* highest number ever published: never reused */
    fn_alias *aliases;
    hmap_node node; /* registry.c's table, keyed by name */
} function;

function *registry_find(const char *name);
/* Insert or replace $LATEST, or add a published version when cfg->version
 * is a number (takes over the caller's reference to cfg either way).  A
 * replaced $LATEST is marked retired. */
void registry_put(fn_config *cfg);
/* Remove the function and return its $LATEST reference (caller unrefs);
 * its versions are retired and released, its aliases freed. */
fn_config *registry_remove(const char *name);
/* The configuration of "$LATEST" or a published version "N", or NULL. */
fn_config *registry_version(function *f, const char *version);
/* The highest-numbered published version still present, or NULL. */
fn_config *registry_last_version(function *f);
/* Unlink a published version and return its reference (caller unrefs). */
fn_config *registry_remove_version(function *f, const char *version);
fn_alias *registry_alias(function *f, const char *alias);
/* Insert or replace an alias (takes ownership of a). */
void registry_put_alias(function *f, fn_alias *a);
/* Unlink and free an alias; false if there was none. */
bool registry_remove_alias(function *f, const char *alias);
int registry_alias_count(const function *f);
/* Resolve a qualifier ("", "$LATEST", "N" or an alias) to the configuration
 * that should run; an alias with weighted routing draws a uniform random
 * number per call.  NULL if the version or alias does not exist. */
fn_config *registry_resolve(function *f, const char *qualifier);
/* Qualifier syntax: "$LATEST", 1-10 digits, or an alias name. */
bool valid_qualifier(const char *q);
/* Alias syntax: 1-128 of [a-zA-Z0-9-_], not all digits. */
bool valid_alias_name(const char *s);
int registry_count(void);
/* Call fn for every function, in name order is not guaranteed. */
void registry_each(void (*fn)(function *f, void *arg), void *arg);
/* ---- concurrency (registry.c, B.mtx held) ----
 * The account limit is --max-concurrency.  Lambda keeps 100 of its 1,000
 * unreserved; here min(100, limit / 10) stay unreserved, so a small broker
 * can still reserve most of its limit. */
int registry_unreserved_minimum(void);
/* What may be reserved and provisioned (on unreserved functions) in all. */
int registry_reservable(void);
/* Set (n >= 0) or clear (n < 0) f's reserved concurrency. */
void registry_set_reserved(function *f, int n);
/* Sum of f's provisioned requests, and of every unreserved function's
 * (which take from the unreserved pool). */
int registry_provisioned_of(const function *f);
int registry_provisioned_unreserved(void);
fn_provisioned *registry_provisioned(function *f, const char *qualifier);
/* Insert or replace f's provisioned config for p->qualifier (takes p). */
void registry_put_provisioned(function *f, fn_provisioned *p);
bool registry_remove_provisioned(function *f, const char *qualifier);
/* How many provisioned configs exist, over all functions. */
int registry_provisioned_configs(void);
/* The configuration provisioned concurrency on `qualifier` keeps warm: a
 * version, or an alias's primary version (never drawn at random); NULL
 * when it does not resolve. */
fn_config *registry_provision_target(function *f, const char *qualifier);

/* ---- worker pool (pool.c) ---- */
typedef enum worker_state { W_SPAWNING, W_IDLE, W_BUSY, W_EXITING } worker_state;

struct worker {
    pid_t pid;
    char token[33];
    fn_config *cfg;
    worker_state state;
    work_ctx *parked; /* context holding this worker's NEXT request */
    invocation *inv; /* running invocation */
    double spawned_at; /* ms, monotonic */
    double ready_at;
    double idle_since;
    double init_ms; /* reported once, on the first invocation */
    bool init_reported;
    bool killed; /* we sent SIGKILL (timeout, violation) */
    int64_t maxrss_mb; /* peak memory last seen (results, or /proc before a kill) */
    bool init_timed_out;
    bool provisioned; /* kept warm for provisioned concurrency: never reaped idle or evicted */
    worker *next; /* B.workers */
    list_node spawn_node; /* B.spawn_q */
    list_node idle_node; /* cfg->idle */
};

/* ---- invocations (invoke.c) ---- */
typedef enum inv_state { INV_QUEUED, INV_RUNNING, INV_DONE } inv_state;

/* How an invocation ended.  Pointers are valid only during the callback. */
typedef struct invoke_outcome {
    const lm_error *err; /* NULL when the function ran; else the invocation error */
    int code; /* LM_OK when the function ran; else err->code */
    int status; /* 200, or the invocation error's status */
    const char *version; /* executed version ("" when it did not run) */
    const char *ferr; /* NULL on success, else "Handled" / "Unhandled" */
    const void *payload; /* response, or the error's message */
    size_t payload_len;
    const char *rid; /* the invocation's request id */
    double init_ms; /* Init Duration when this run was a cold start, else 0 */
    double dur_ms;
    const char *log_tail; /* base64 of the log record's last 4 KB (opts.tail), else NULL */
    const char *dead_letter; /* DeadLetterConfig.TargetArn of the version it ran on, or "" */
} invoke_outcome;

/* Called once, with B.mtx held: must not block (copy what it needs). */
typedef void (*invoke_done_fn)(void *arg, const invoke_outcome *o);

/* A piece of a streamed response (RESPONSE_STREAM function URLs): the
 * runtime's CHUNK message, version the one running it, prelude (Lambda's {"statusCode","headers",
 * "cookies"} JSON, unchecked) with the first piece only, else NULL.  Called
 * with the invocation's done arg, B.mtx held: must not block; copy what it
 * keeps.  Return 0 when the piece was taken: the owner calls
 * invoke_stream_ack(handle, …) once it has passed it on, and until then the
 * runtime waits (that wait is the backpressure; the core holds no piece).
 * Return non-zero when the reader is gone: the runtime's write fails now. */
typedef int (*invoke_chunk_fn)(void *arg, const char *version, const void *prelude,
                               size_t prelude_len, const void *data, size_t len);

/* How to run an invocation. */
typedef struct invoke_opts {
    const char *rid; /* request id (an async event keeps its own across retries); NULL: new */
    bool tail; /* LogType Tail: the outcome carries the log tail */
    const char *client_context; /* ClientContext (base64 JSON), copied; NULL when none */
    size_t cc_len;
    /* Streamed response: the handler's pieces go to chunk as they are
     * written (NULL: they are joined into the outcome's payload, as for
     * every way in but RESPONSE_STREAM URLs).  *handle is where the core
     * keeps the running invocation for invoke_stream_ack: set by
     * invoke_start, set to NULL (under B.mtx) before done is called; the
     * owner keeps *handle's memory alive until done. */
    invoke_chunk_fn chunk;
    invocation **handle;
} invoke_opts;

struct invocation {
    char rid[40];
    fn_config *cfg;
    invoke_done_fn done; /* told the outcome, exactly once */
    void *done_arg;
    nng_msg *req; /* the api request; payload points into it */
    const char *payload;
    size_t payload_len;
    char *client_context;
    char arn[256];
    bool tail;
    inv_state state;
    double enqueued_at;
    double started_at;
    double deadline; /* monotonic ms */
    int64_t deadline_epoch_ms;
    worker *w;
    char logbuf[4096]; /* handler output seen on the logs socket (crash tails) */
    size_t loglen;
    list_node qnode; /* cfg->queue while INV_QUEUED */
    /* streamed response (opts.chunk) */
    invoke_chunk_fn chunk;
    invocation **handle;
    work_ctx *chunk_ctx; /* the runtime's CHUNK request awaiting its ack */
    uint64_t streamed; /* bytes of pieces passed on so far */
    bool unreserved; /* counted in B.unreserved_inflight (its function had no reservation) */
};

/* ---- global state ---- */
typedef struct broker_opts {
    char state[3584]; /* bounded so that every path built from it fits PATH_MAX */
    char runtime_path[PATH_MAX];
    int max_concurrency;
    int idle_timeout_ms;
    int init_timeout_ms;
    bool unsafe_no_sandbox;
    const char *tcp_listen; /* optional extra api listener */
    int listener_check_ms; /* listen.c watchdog period */
    bool test_clock; /* --test-clock: clock-advance moves broker time (lib/clock.h) */
} broker_opts;

typedef struct broker {
    broker_opts opt;
    pthread_mutex_t mtx;
    pthread_cond_t clock_cv; /* wakes the clock thread */
    pthread_cond_t spawn_cv; /* wakes the spawner */
    pthread_cond_t reap_cv; /* wakes the reaper when children exist */
    pthread_mutex_t spawn_mtx; /* held across posix_spawn + pid registration */
    double started_at;
    bool stopping;
    nng_socket api_sock;
    nng_socket work_sock;
    nng_socket logs_sock;
    worker *workers;
    int n_workers;
    int inflight; /* invocations queued or running */
    int unreserved_inflight; /* those of functions without reserved concurrency */
    int reserved_total; /* sum of every function's reserved concurrency */
    uint64_t invocations; /* counters for status */
    uint64_t cold_starts;
    list_head spawn_q; /* workers waiting for posix_spawn (FIFO, worker.spawn_node) */
    double clock_next; /* when the clock thread will look next */
} broker;

extern broker B;

/* ---- core/invoke.c ---- */
#define INVOKE_MAX_EVENT_PAYLOAD 1048576u /* Event payload cap (Lambda: 1 MB since Oct 2025) */
/* Start an invocation of name[:qual].  Takes ownership of req (payload,
 * and o's strings, point into it) in every case.  LM_OK: done(arg, …) will
 * be called exactly once, later.  Otherwise (not found, throttled,
 * stopping, no memory) *e says why and done is never called.  B.mtx not
 * held by the caller. */
int invoke_start(const char *name, const char *qual, nng_msg *req, const void *payload,
                 size_t payload_len, const invoke_opts *o, invoke_done_fn done, void *arg,
                 lm_error *e);
/* The target exists and the broker is not stopping (what an Event or
 * DryRun invoke is checked for before it is accepted); version gets the
 * version it resolves to now, if not NULL.  B.mtx not held. */
int invoke_check(const char *name, const char *qual, char version[VERSION_MAX_LEN + 1],
                 lm_error *e);
/* The payload and ClientContext rules of an invoke of this type
 * (PROTO_INVOKE_*): sizes, JSON text. */
int invoke_validate(int64_t type, const void *payload, size_t payload_len, size_t cc_len,
                    lm_error *e);
/* A worker's CHUNK for its running invocation inv (B.mtx held; ctx is the
 * request, answered now or by invoke_stream_ack).  false: a protocol
 * violation (inv does not stream, a piece over PROTO_STREAM_CHUNK_MAX or
 * past PROTO_MAX_STREAM_RESPONSE in all, a second CHUNK before the ack);
 * ctx is untouched then and the caller kills the worker. */
bool invoke_stream_chunk(invocation *inv, work_ctx *ctx, const void *prelude, size_t prelude_len,
                         const void *data, size_t len);
/* The owner of a streamed invocation has passed its last piece on (more:
 * the runtime's write succeeds) or its reader is gone (!more: the write
 * fails, and so do later ones).  Takes B.mtx; a no-op once *handle is NULL
 * (the invocation finished) or when no piece is waiting.  Never call it
 * holding a lock B.mtx may not be taken under. */
void invoke_stream_ack(invocation *const *handle, bool more);
/* Finish an invocation with a worker's result (B.mtx held).  res is the
 * "result" map of the worker's NEXT. */
void invoke_complete_result(invocation *inv, const msgpack_object *res, worker *w);
/* Finish an invocation with a platform error as a function error
 * ("Unhandled") or an invocation error (B.mtx held). */
void invoke_fail_unhandled(invocation *inv, const char *type, const char *msg);
void invoke_fail_error(invocation *inv, const lm_error *e);
/* Parse NAME / NAME:Q / function:NAME[:Q] / arn:...:function:NAME[:Q]. */
int invoke_parse_name(const char *fn, size_t fnlen, const char *q, size_t qlen,
                      char name[NAME_MAX_LEN + 1], char qual[130], lm_error *e);
/* The DeadLetterConfig.TargetArn of what name[:qual] resolves to now ("" if
 * none, or if it does not exist) into out.  B.mtx not held by the caller. */
void invoke_dead_letter(const char *name, const char *qual, char *out, size_t cap);
/* How many idle workers name[:qual] has now that queued work has not
 * claimed.  B.mtx not held by the caller. */
int invoke_idle_count(const char *name, const char *qual);
/* name's reserved concurrency now, -1 when none or no such function (the
 * async queue sends an event of a function reserved at 0 straight to its
 * failure destination).  B.mtx not held by the caller. */
int invoke_reserved(const char *name);

/* ---- core/pool.c ---- */
int pool_start(void);
void pool_stop(void); /* kill and reap every worker */
/* Give a queued invocation to an idle worker or start one (B.mtx held). */
void pool_schedule(fn_config *cfg);
/* A worker's NEXT arrived on ctx (B.mtx held). */
void pool_worker_next(worker *w, work_ctx *ctx, const msgpack_object *root);
worker *pool_find_token(const char *token, size_t len);
/* Fail the invocations queued on cfg, all of them or only the oldest (B.mtx held). */
void pool_fail_queued(fn_config *cfg, bool all, const char *type, const char *msg);
/* Wake the clock thread if `deadline` is earlier than its next look. */
void pool_clock_poke(double deadline);
bool pool_pid_known(pid_t pid);
/* Retire every worker of configurations named `name` (B.mtx held). */
int pool_retire(const char *name);
/* Retire one configuration: idle workers shut down now, busy ones after
 * the work queued on cfg (B.mtx held).  Returns the number shut down. */
int pool_retire_cfg(fn_config *cfg);
void pool_counts(int *total, int *idle, int *busy, int *spawning);
/* Bring every provisioned config to its requested number of initialised
 * environments: idle ones of its configuration are taken over, missing
 * ones started, extra ones let go (reaped when idle like any other).  Also
 * run by the clock thread every second, which picks up alias changes and
 * the configs loaded at startup (B.mtx held). */
void pool_provision(void);
/* Provisioned environments of f's config p now: allocated (initialised),
 * available (of those, idle), and pids (up to cap) of them all (B.mtx held). */
void pool_provisioned_counts(function *f, const fn_provisioned *p, int *allocated, int *available,
                             pid_t *pids, int cap, int *npids);

/* ---- work.c ---- */
int work_start(void);
void work_stop(void);
/* Reply to a parked worker request (takes msg).  B.mtx held or not. */
void work_reply(work_ctx *ctx, nng_msg *msg);
/* Release a parked context whose worker is gone (re-arms it). */
void work_release(work_ctx *ctx);
nng_msg *work_invoke_msg(const invocation *inv);
nng_msg *work_shutdown_msg(void);

/* ---- core/fnlog.c: function logs ---- */
int fnlog_start(void);
void fnlog_stop(void);
/* Append text to a function's log file (asynchronous, never blocks; text
 * is copied).  Written within FNLOG_FLUSH_MS, or by the next fnlog_flush(). */
void fnlog_write(const char *function, const char *text, size_t len);
/* Write every record appended so far to its file (write(2): survives a
 * broker crash, not a power loss) before returning.  Blocks on file I/O and
 * on a flush running on another thread: never call it under B.mtx or from
 * an nng callback.  Thread-safe; asyncq.c calls it before committing
 * outcomes. */
void fnlog_flush(void);

#endif
