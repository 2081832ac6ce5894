/*
 * broker/core/pool.c — the worker pool: one lamina-runtime process per execution
 * environment, reused while warm, replaced when it dies, reaped when idle.
 *
 * A worker's life: SPAWNING (queued for the spawner thread, then started
 * with posix_spawn; ends with its first NEXT, which carries the init
 * report) → IDLE (its NEXT is parked, it sits on its configuration's idle
 * list) ⇄ BUSY (running one invocation) → EXITING (told to shut down, or
 * killed) → reaped by the reaper thread (waitpid), which frees it.
 *
 * Scheduling is the Lambda Runtime API's long poll: an invocation goes to
 * an idle worker of its exact configuration, or waits on that
 * configuration's queue while a new worker is started for it (one per
 * waiting invocation, up to --max-concurrency live environments; idle
 * environments of other functions are evicted to make room).  Workers of a
 * retired configuration (code or config changed, function deleted) finish
 * what is queued for them and then shut down, so no invocation ever runs a
 * mix of old and new.
 *
 * Threads: the spawner (sandbox setup and posix_spawn outside B.mtx, the
 * spawn under B.spawn_mtx so the work socket's pipe check and a fast
 * worker's hello can wait for the pid), the reaper (waitpid, then the
 * sandbox's cleanup of the environment, see sbxhost.c), and
 * the clock (invocation deadlines → SIGKILL + Sandbox.Timedout, init
 * timeouts, idle reaping).  All state changes happen under B.mtx.
 *
 * Provisioned concurrency (pool_provision): a provisioned config asks for N
 * initialised environments of one configuration.  They are ordinary
 * workers flagged `provisioned`: started ahead with nothing queued (their
 * LM_INIT runs then), served like any idle worker, but never reaped for
 * idleness nor evicted, and their first invoke reports no Init Duration.
 * One that dies is replaced (worker_exited runs pool_provision); one that
 * fails its init marks its config FAILED instead, so a broken handler is
 * not restarted in a loop.  The clock thread runs pool_provision every
 * tick, which picks up configs loaded at startup and aliases pointed
 * elsewhere; the admin ops run it at once.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/core.h"
#include "core/sbxhost.h"

extern char **environ;

static pthread_t spawner_thr, reaper_thr, clock_thr;
static bool threads_started;

/* ---- lookups (B.mtx held) ---- */

worker *pool_find_token(const char *token, size_t len)
{
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (strlen(w->token) == len && memcmp(w->token, token, len) == 0) {
            return w;
        }
    }
    return NULL;
}

bool pool_pid_known(pid_t pid)
{
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (w->pid == pid && w->state != W_EXITING) {
            return true;
        }
    }
    return false;
}

static worker *find_pid(pid_t pid)
{
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (w->pid == pid) {
            return w;
        }
    }
    return NULL;
}

void pool_counts(int *total, int *idle, int *busy, int *spawning)
{
    *total = *idle = *busy = *spawning = 0;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        (*total)++;
        *idle += w->state == W_IDLE;
        *busy += w->state == W_BUSY;
        *spawning += w->state == W_SPAWNING;
    }
}

void pool_clock_poke(double deadline)
{
    if (deadline < B.clock_next) {
        B.clock_next = deadline;
        pthread_cond_signal(&B.clock_cv);
    }
}

/* Tell a worker to exit (its parked NEXT gets "shutdown"). */
static void shutdown_worker(worker *w)
{
    /* an IDLE worker whose dispatch failed is parked but off the list */
    if (w->state == W_IDLE && list_linked(&w->cfg->idle, &w->idle_node)) {
        list_remove(&w->cfg->idle, &w->idle_node);
    }
    w->state = W_EXITING;
    if (w->parked != NULL) {
        work_ctx *c = w->parked;
        w->parked = NULL;
        work_reply(c, work_shutdown_msg());
    }
}

/* Peak resident memory of a live worker (VmHWM), in MB, rounded up; -1 if
 * unknown.  Read just before a kill so the REPORT of a timed-out
 * invocation shows the real peak. */
static int64_t peak_mb(pid_t pid)
{
    char path[64], line[256];
    int64_t kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb < 0 ? -1 : (kb + 1023) / 1024;
}

static void kill_worker(worker *w)
{
    if (w->pid > 0 && !w->killed) {
        int64_t mb = peak_mb(w->pid);
        if (mb > w->maxrss_mb) {
            w->maxrss_mb = mb;
        }
    }
    if (w->pid > 0 && !w->killed) {
        kill(w->pid, SIGKILL);
    }
    w->killed = true;
}

/* ---- dispatch ---- */

static invocation *queue_pop(fn_config *cfg)
{
    invocation *inv = list_pop_front_entry(&cfg->queue, invocation, qnode);
    if (inv != NULL) {
        cfg->queued--;
    }
    return inv;
}

static void dispatch(worker *w, invocation *inv)
{
    double now = clk_mono_ms();
    function *f = registry_find(w->cfg->name);
    if (f != NULL) {
        f->stats.running++; /* /metrics' concurrent executions */
    }
    inv->state = INV_RUNNING;
    inv->w = w;
    inv->started_at = now;
    inv->deadline = now + (double)w->cfg->timeout_s * 1000.0;
    inv->deadline_epoch_ms = clk_wall_ms() + (int64_t)w->cfg->timeout_s * 1000;
    w->state = W_BUSY;
    w->inv = inv;
    work_ctx *c = w->parked;
    w->parked = NULL;
    nng_msg *m = work_invoke_msg(inv);
    if (m == NULL) {
        /* cannot build the message: fail it, keep the worker parked */
        w->parked = c;
        w->state = W_IDLE;
        w->inv = NULL;
        invoke_fail_unhandled(inv, "Runtime.Unknown", "out of memory dispatching the invocation");
        return;
    }
    work_reply(c, m);
    pool_clock_poke(inv->deadline);
}

static int ready_workers(const fn_config *cfg)
{
    int n = 0;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        n += w->cfg == cfg && (w->state == W_IDLE || w->state == W_BUSY);
    }
    return n;
}

void pool_fail_queued(fn_config *cfg, bool all, const char *type, const char *msg)
{
    invocation *inv;
    while ((inv = queue_pop(cfg)) != NULL) {
        invoke_fail_unhandled(inv, type, msg);
        if (!all) {
            break;
        }
    }
}

/* ---- spawning ---- */

static void evict_one_idle(void)
{
    worker *oldest = NULL;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (w->state == W_IDLE && !w->provisioned &&
            (oldest == NULL || w->idle_since < oldest->idle_since)) {
            oldest = w;
        }
    }
    if (oldest != NULL) {
        blog(LOG_DEBUG, "evicting idle worker %d of %s", (int)oldest->pid, oldest->cfg->name);
        shutdown_worker(oldest);
    }
}

static int active_workers(void)
{
    int n = 0;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        n += w->state != W_EXITING;
    }
    return n;
}

static worker *request_spawn(fn_config *cfg)
{
    if (active_workers() >= B.opt.max_concurrency) {
        evict_one_idle();
    }
    worker *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        pool_fail_queued(cfg, false, "Runtime.Unknown", "out of memory starting a worker");
        return NULL;
    }
    util_random_hex(w->token, 16);
    w->cfg = fncfg_ref(cfg);
    w->state = W_SPAWNING;
    w->spawned_at = clk_mono_ms();
    w->next = B.workers;
    B.workers = w;
    B.n_workers++;
    cfg->spawning++;
    cfg->live++;
    list_push_back(&B.spawn_q, &w->spawn_node);
    pthread_cond_signal(&B.spawn_cv);
    return w;
}

void pool_schedule(fn_config *cfg)
{
    while (!list_empty(&cfg->queue) && !list_empty(&cfg->idle)) {
        worker *w = list_pop_front_entry(&cfg->idle, worker, idle_node);
        dispatch(w, queue_pop(cfg));
    }
    while (!B.stopping && cfg->queued > cfg->spawning) {
        request_spawn(cfg); /* a failure fails one queued invocation: the loop ends */
    }
}

/* ---- worker messages ---- */

static void became_idle(worker *w)
{
    fn_config *cfg = w->cfg;
    if (!list_empty(&cfg->queue)) {
        dispatch(w, queue_pop(cfg));
        return;
    }
    if (B.stopping || cfg->retired) {
        shutdown_worker(w);
        return;
    }
    w->state = W_IDLE;
    w->idle_since = clk_mono_ms();
    list_push_front(&cfg->idle, &w->idle_node);
    pool_clock_poke(w->idle_since + B.opt.idle_timeout_ms);
}

static void provision_failed(worker *w, const char *type, const char *msg);

static void init_failed(worker *w, const char *type, const char *msg)
{
    fn_config *cfg = w->cfg;
    if (w->provisioned) {
        provision_failed(w, type, msg);
    }
    blog(LOG_INFO, "worker %d of %s failed init: %s: %s", (int)w->pid, cfg->name, type, msg);
    /* The invoke that caused this cold start fails; if no other environment
     * of this configuration can serve the rest, they fail too. */
    bool none_left = cfg->spawning == 0 && ready_workers(cfg) == 0;
    pool_fail_queued(cfg, none_left, type, msg);
}

void pool_worker_next(worker *w, work_ctx *ctx, const msgpack_object *root)
{
    w->parked = ctx;
    if (w->state == W_SPAWNING) {
        w->cfg->spawning--;
        w->ready_at = clk_mono_ms();
        w->init_ms = w->ready_at - w->spawned_at;
        B.cold_starts++;
        proto_init_report ir; /* proto/workmsg.c */
        proto_read_init(proto_find(root, "init"), &ir);
        if (ir.log_len > 0) {
            fnlog_write(w->cfg->name, ir.log, ir.log_len); /* what the handler's init printed */
        }
        if (!ir.ok) {
            shutdown_worker(w);
            init_failed(w, ir.type, ir.message);
            return;
        }
        if (w->provisioned) { /* initialised ahead: no invoke pays for it */
            w->init_reported = true;
        }
    } else if (w->state == W_BUSY && w->inv != NULL) {
        invocation *inv = w->inv;
        const msgpack_object *res = proto_find(root, "result");
        const char *rid = NULL;
        size_t rl = 0;
        proto_get_str(res, "rid", false, &rid, &rl, NULL);
        if (res == NULL || rid == NULL || rl != strlen(inv->rid) ||
            memcmp(rid, inv->rid, rl) != 0) {
            /* A result for some other request: protocol violation. */
            blog(LOG_WARN, "worker %d sent a result for the wrong request; killing it",
                 (int)w->pid);
            w->parked = NULL;
            work_release(ctx);
            kill_worker(w);
            return; /* the reaper reports Runtime.ExitError for inv */
        }
        w->inv = NULL;
        invoke_complete_result(inv, res, w);
    } else if (w->state != W_IDLE) {
        return;
    }
    became_idle(w);
}

int pool_retire(const char *name)
{
    int n = 0;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (strcmp(w->cfg->name, name) != 0) {
            continue;
        }
        w->cfg->retired = true;
        if (w->state == W_IDLE) {
            shutdown_worker(w);
            n++;
        }
    }
    return n;
}

int pool_retire_cfg(fn_config *cfg)
{
    int n = 0;
    cfg->retired = true;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (w->cfg == cfg && w->state == W_IDLE) {
            shutdown_worker(w);
            n++;
        }
    }
    return n;
}

static void worker_exited(worker *w, int st, const sbx_verdict *v);

/* ---- provisioned concurrency ---- */

/* How many environments f's provisioned configs ask for cfg to have. */
static int provision_want(function *f, const fn_config *cfg)
{
    int n = 0;
    for (const fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
        if (!p->failed && registry_provision_target(f, p->qualifier) == cfg) {
            n += p->requested;
        }
    }
    return cfg->retired ? 0 : n;
}

/* A provisioned environment of w's configuration failed its init: the
 * configs that asked for it are FAILED and start no more (a put retries). */
static void provision_failed(worker *w, const char *type, const char *msg)
{
    function *f = registry_find(w->cfg->name);
    for (fn_provisioned *p = f != NULL ? f->provisioned : NULL; p != NULL; p = p->next) {
        if (registry_provision_target(f, p->qualifier) == w->cfg) {
            p->failed = true;
            snprintf(p->reason, sizeof(p->reason), "FUNCTION_ERROR_INIT_FAILURE: %s: %s", type,
                     msg);
        }
    }
    blog(LOG_WARN, "provisioned environment of %s:%s failed its init: %s", w->cfg->name,
         w->cfg->version, msg);
}

/* Let a provisioned environment go: an on-demand one from now on. */
static void unprovision(worker *w)
{
    w->provisioned = false;
    if (w->state == W_IDLE) {
        w->idle_since = clk_mono_ms();
        pool_clock_poke(w->idle_since + B.opt.idle_timeout_ms);
    }
}

static void provision_cfg(function *f, fn_config *cfg)
{
    int want = provision_want(f, cfg), have = 0;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        have += w->cfg == cfg && w->provisioned && w->state != W_EXITING;
    }
    for (worker *w = B.workers; w != NULL && have < want; w = w->next) {
        if (w->cfg == cfg && !w->provisioned && w->state == W_IDLE) {
            w->provisioned = true; /* already initialised */
            w->init_reported = true;
            have++;
        }
    }
    while (have < want) {
        worker *w = request_spawn(cfg);
        if (w == NULL) {
            break;
        }
        w->provisioned = true;
        have++;
    }
    for (worker *w = B.workers; w != NULL && have > want; w = w->next) {
        if (w->cfg == cfg && w->provisioned && w->state != W_EXITING) {
            unprovision(w);
            have--;
        }
    }
}

static void provision_function(function *f, void *arg)
{
    (void)arg;
    for (fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
        fn_config *cfg = p->failed ? NULL : registry_provision_target(f, p->qualifier);
        if (cfg != NULL) {
            provision_cfg(f, cfg);
        }
    }
}

void pool_provision(void)
{
    if (B.stopping) {
        return;
    }
    if (registry_provisioned_configs() > 0) { /* the clock's tick costs nothing without */
        registry_each(provision_function, NULL);
    }
    /* environments no config asks for any more (deleted, alias moved on) */
    for (worker *w = B.workers; w != NULL; w = w->next) {
        function *f = w->provisioned ? registry_find(w->cfg->name) : NULL;
        if (w->provisioned && w->state != W_EXITING &&
            (f == NULL || provision_want(f, w->cfg) == 0)) {
            unprovision(w);
        }
    }
}

void pool_provisioned_counts(function *f, const fn_provisioned *p, int *allocated, int *available,
                             pid_t *pids, int cap, int *npids)
{
    const fn_config *cfg = registry_provision_target(f, p->qualifier);
    *allocated = *available = *npids = 0;
    for (worker *w = B.workers; cfg != NULL && w != NULL; w = w->next) {
        if (w->cfg != cfg || !w->provisioned || (w->state != W_IDLE && w->state != W_BUSY)) {
            continue;
        }
        (*allocated)++;
        *available += w->state == W_IDLE;
        if (*npids < cap) {
            pids[(*npids)++] = w->pid;
        }
    }
}

/* ---- spawner thread ---- */

static int build_env(const worker *w, int slot, char ***envp_out)
{
    const fn_config *cfg = w->cfg;
    size_t cap = 64, n = 0, nvars = 0;
    util_env_var *vars = NULL;
    char **envp = calloc(cap, sizeof(char *));
    if (envp == NULL) {
        return -1;
    }
#define PUT(...)                                                    \
    do {                                                            \
        if (n + 2 >= cap) {                                         \
            char **ne = realloc(envp, (cap *= 2) * sizeof(char *)); \
            if (ne == NULL) {                                       \
                goto fail;                                          \
            }                                                       \
            envp = ne;                                              \
        }                                                           \
        if (asprintf(&envp[n], __VA_ARGS__) < 0) {                  \
            goto fail;                                              \
        }                                                           \
        envp[++n] = NULL;                                           \
    } while (0)
    vars = util_env_from_json(cfg->env_json, &nvars); /* lib/util.c: keys checked again */
    if (vars == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < nvars; i++) {
        PUT("%s=%s", vars[i].key, vars[i].value);
    }
    util_env_free(vars, nvars);
    vars = NULL;
    PUT("PATH=/usr/local/bin:/usr/bin:/bin");
    PUT("AWS_LAMBDA_FUNCTION_NAME=%s", cfg->name);
    PUT("AWS_LAMBDA_FUNCTION_VERSION=%s", cfg->version);
    PUT("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%u", cfg->memory_mb);
    PUT("LAMINA_WORK_URL=ipc://%s/work.sock", B.opt.state);
    PUT("LAMINA_LOGS_URL=ipc://%s/logs.sock", B.opt.state);
    PUT("LAMINA_TOKEN=%s", w->token);
    PUT("LAMINA_CODE=%s", cfg->code_path);
    PUT("LAMINA_FUNCTION=%s", cfg->name);
    PUT("LAMINA_VERSION=%s", cfg->version);
    PUT("LAMINA_MEMORY_MB=%u", cfg->memory_mb);
    PUT("LAMINA_TIMEOUT_S=%u", cfg->timeout_s);
    PUT("LAMINA_BROKER_PID=%d", (int)getpid());
    if (B.opt.unsafe_no_sandbox) {
        PUT("LAMINA_UNSAFE=1");
    }
    if (slot >= 0) { /* sbxhost.c: tmp dir, uid, cgroup, report pipe on fd 3 */
        PUT("TMPDIR=%s", sbxhost_tmp(slot));
        PUT("LAMINA_TMP=%s", sbxhost_tmp(slot));
        PUT("LAMINA_REPORT_FD=3");
        if (sbxhost_uid(slot) >= 0) {
            PUT("LAMINA_UID=%ld", sbxhost_uid(slot));
            PUT("LAMINA_GID=%ld", sbxhost_uid(slot));
        }
        if (sbxhost_cgroup(slot) != NULL) {
            PUT("LAMINA_CGROUP=%s", sbxhost_cgroup(slot));
        }
        if (sbxhost_pids_cgroup(slot) != NULL) {
            PUT("LAMINA_PIDS_CGROUP=%s", sbxhost_pids_cgroup(slot));
        }
        if (sbxhost_cpu_group() != NULL) {
            PUT("LAMINA_CPU_CGROUP=%s", sbxhost_cpu_group());
        }
    }
    const char *pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LD_LIBRARY_PATH"};
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
        const char *v = getenv(pass[i]);
        if (v != NULL) {
            PUT("%s=%s", pass[i], v);
        }
    }
#undef PUT
    *envp_out = envp;
    return 0;
fail:
    util_env_free(vars, nvars);
    for (size_t i = 0; i < n; i++) {
        free(envp[i]);
    }
    free(envp);
    return -1;
}

static void free_env(char **envp)
{
    for (char **p = envp; p != NULL && *p != NULL; p++) {
        free(*p);
    }
    free(envp);
}

static pid_t spawn_runtime(char **envp, int report_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none;
    pid_t pid = -1;
    char *argv[] = {"lamina-runtime", NULL};
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (report_fd >= 0) { /* the sandbox's violation report pipe becomes fd 3 */
        posix_spawn_file_actions_adddup2(&fa, report_fd, 3);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, report_fd >= 0 ? 4 : 3);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    posix_spawnattr_setsigdefault(&at, &def);
    int rc = posix_spawn(&pid, B.opt.runtime_path, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

static void *spawner_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&B.mtx);
    for (;;) {
        while (list_empty(&B.spawn_q) && !B.stopping) {
            pthread_cond_wait(&B.spawn_cv, &B.mtx);
        }
        if (list_empty(&B.spawn_q) && B.stopping) {
            break;
        }
        worker *w = list_pop_front_entry(&B.spawn_q, worker, spawn_node);
        char **envp = NULL;
        int slot = B.opt.unsafe_no_sandbox ? -1 : sbxhost_acquire();
        int erc = (B.opt.unsafe_no_sandbox || slot >= 0) ? 0 : -1;
        uint32_t memory_mb = w->cfg->memory_mb;
        pthread_mutex_unlock(&B.mtx);

        /* Without B.mtx: the sandbox setup is slow (a uid no process runs
         * as, mount, cgroups), and the environment needs its results.  w
         * is ours while it is off the spawn queue with no pid, and
         * build_env reads only fields fixed at request_spawn. */
        char sbx_err[256] = "";
        if (erc == 0 && slot >= 0 &&
            sbxhost_setup(slot, memory_mb, sbx_err, sizeof(sbx_err)) != 0) {
            erc = -1;
        }
        if (erc == 0) {
            erc = build_env(w, slot, &envp);
        }
        pthread_mutex_lock(&B.spawn_mtx);
        pid_t pid = erc == 0 ? spawn_runtime(envp, sbxhost_report_fd(slot)) : -1;
        int err = errno;
        if (pid > 0 && slot >= 0) {
            sbxhost_bind(slot, pid);
        }
        pthread_mutex_lock(&B.mtx);
        pthread_mutex_unlock(&B.spawn_mtx);
        free_env(envp);
        if (pid < 0) {
            char msg[PATH_MAX + 384];
            if (sbx_err[0] != '\0') {
                snprintf(msg, sizeof(msg), "sandbox setup failed: %s", sbx_err);
            } else {
                snprintf(msg, sizeof(msg), "cannot start %s: %s", B.opt.runtime_path,
                         slot < 0 && !B.opt.unsafe_no_sandbox ? "no free sandbox slot"
                                                              : strerror(err));
            }
            blog(LOG_ERROR, "%s", msg);
            pthread_mutex_unlock(&B.mtx);
            sbxhost_release(slot);
            pthread_mutex_lock(&B.mtx);
            w->state = W_EXITING;
            w->cfg->spawning--;
            w->pid = -1;
            init_failed(w, sbx_err[0] != '\0' ? "Sandbox.Failure" : "Runtime.Unknown", msg);
            worker_exited(w, 0, NULL);
            continue;
        }
        w->pid = pid;
        w->spawned_at = clk_mono_ms();
        pool_clock_poke(w->spawned_at + B.opt.init_timeout_ms);
        pthread_cond_signal(&B.reap_cv);
    }
    pthread_mutex_unlock(&B.mtx);
    return NULL;
}

/* ---- reaper thread ---- */

static const char *signal_text(int sig)
{
    switch (sig) {
    case SIGSEGV: return "segmentation fault";
    case SIGABRT: return "aborted";
    case SIGKILL: return "killed";
    case SIGBUS: return "bus error";
    case SIGFPE: return "floating point exception";
    case SIGILL: return "illegal instruction";
    case SIGSYS: return "bad system call";
    case SIGTERM: return "terminated";
    case SIGXCPU: return "CPU time limit exceeded";
    case SIGXFSZ: return "file size limit exceeded";
    default: return "signal";
    }
}

static void describe_status(int st, char *out, size_t cap)
{
    if (WIFEXITED(st)) {
        if (WEXITSTATUS(st) == 0) {
            snprintf(out, cap, "Runtime exited without providing a reason");
        } else {
            snprintf(out, cap, "Runtime exited with error: exit status %d", WEXITSTATUS(st));
        }
    } else if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        if (signal_text(sig)[0] == 's' && sig != SIGSEGV && sig != SIGSYS) {
            snprintf(out, cap, "Runtime exited with error: signal: %d", sig);
        } else {
            snprintf(out, cap, "Runtime exited with error: signal: %s", signal_text(sig));
        }
    } else {
        snprintf(out, cap, "Runtime exited with error: status 0x%x", st);
    }
}

static void unlink_worker(worker *w)
{
    for (worker **pp = &B.workers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    B.n_workers--;
}

/* A sandbox verdict (sbxhost.c) turns a death into its own error type:
 * SIGSYS from the filter → Runtime.SandboxViolation naming the syscall; a
 * memory-cgroup OOM kill → Runtime.OutOfMemory.  Also written to the log. */
static const char *verdict_type(const worker *w, const sbx_verdict *v, char *why, size_t cap)
{
    if (v == NULL || v->kind == SBX_V_NONE) {
        return "Runtime.ExitError";
    }
    char line[320];
    size_t n = strlen(why);
    if (v->kind == SBX_V_VIOLATION) {
        snprintf(why + n, cap - n, " (sandbox violation: forbidden syscall %s)", v->syscall);
    } else {
        snprintf(why + n, cap - n, " (out of memory: limit %u MB)", w->cfg->memory_mb);
    }
    int ln = snprintf(line, sizeof(line), "[lamina] worker %d: %s\n", (int)w->pid, why);
    fnlog_write(w->cfg->name, line, (size_t)ln < sizeof(line) ? (size_t)ln : sizeof(line) - 1);
    return v->kind == SBX_V_VIOLATION ? "Runtime.SandboxViolation" : "Runtime.OutOfMemory";
}

static void worker_exited(worker *w, int st, const sbx_verdict *v)
{
    fn_config *cfg = w->cfg;
    char why[256];
    describe_status(st, why, sizeof(why));
    const char *type = verdict_type(w, v, why, sizeof(why));
    unlink_worker(w);
    cfg->live--;
    /* an IDLE worker whose dispatch failed is parked but off the list */
    if (w->state == W_IDLE && list_linked(&w->cfg->idle, &w->idle_node)) {
        list_remove(&w->cfg->idle, &w->idle_node);
    }
    if (w->parked != NULL) {
        work_release(w->parked);
        w->parked = NULL;
    }
    if (w->state == W_SPAWNING) {
        cfg->spawning--;
        char msg[400];
        if (w->init_timed_out) {
            init_failed(w, "Sandbox.Timedout", "Init timed out");
        } else {
            snprintf(msg, sizeof(msg), "%s (during init)", why);
            init_failed(w, type, msg);
        }
    } else if (w->inv != NULL) {
        invocation *inv = w->inv;
        char msg[400];
        snprintf(msg, sizeof(msg), "RequestId: %s Error: %s", inv->rid, why);
        w->inv = NULL;
        invoke_fail_unhandled(inv, type, msg);
    }
    blog(LOG_DEBUG, "worker %d of %s exited: %s", (int)w->pid, cfg->name, why);
    pool_schedule(cfg); /* replace it if invocations still wait */
    if (w->provisioned) {
        w->provisioned = false;
        pool_provision(); /* and if it was provisioned */
    }
    fncfg_unref(cfg);
    free(w);
}

static void *reaper_main(void *arg)
{
    (void)arg;
    for (;;) {
        int st = 0;
        sbx_verdict v;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid > 0) { /* the spawner binds pid to its slot under spawn_mtx */
            pthread_mutex_lock(&B.spawn_mtx);
            pthread_mutex_unlock(&B.spawn_mtx);
        }
        sbxhost_reaped(pid, st, &v); /* slow (umount, cgroup): before B.mtx */
        pthread_mutex_lock(&B.mtx);
        if (pid > 0) {
            worker *w = find_pid(pid);
            if (w != NULL) {
                worker_exited(w, st, &v);
            }
        } else {
            if (B.stopping && B.n_workers == 0) {
                pthread_mutex_unlock(&B.mtx);
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&B.reap_cv, &B.mtx, &ts);
        }
        pthread_mutex_unlock(&B.mtx);
    }
    return NULL;
}

/* ---- clock thread ---- */

static double clock_tick(double now)
{
    double next = now + 1000.0;
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (w->state == W_BUSY && w->inv != NULL) {
            invocation *inv = w->inv;
            if (now >= inv->deadline) {
                char msg[96];
                snprintf(msg, sizeof(msg), "Task timed out after %.2f seconds",
                         (double)w->cfg->timeout_s);
                kill_worker(w);
                w->inv = NULL;
                w->state = W_EXITING;
                invoke_fail_unhandled(inv, "Sandbox.Timedout", msg);
            } else if (inv->deadline < next) {
                next = inv->deadline;
            }
        } else if (w->state == W_SPAWNING && w->pid > 0) {
            double limit = w->spawned_at + B.opt.init_timeout_ms;
            if (now >= limit) {
                w->init_timed_out = true;
                kill_worker(w);
            } else if (limit < next) {
                next = limit;
            }
        } else if (w->state == W_IDLE && !w->provisioned) {
            double limit = w->idle_since + B.opt.idle_timeout_ms;
            if (now >= limit) {
                shutdown_worker(w);
            } else if (limit < next) {
                next = limit;
            }
        }
    }
    return next;
}

static void *clock_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&B.mtx);
    while (!B.stopping || B.n_workers > 0) {
        double now = clk_mono_ms();
        B.clock_next = clock_tick(now);
        pool_provision();
        double wait = B.clock_next - now;
        if (wait < 1) {
            wait = 1;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long ns = (long long)ts.tv_nsec + (long long)(wait * 1e6);
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&B.clock_cv, &B.mtx, &ts);
    }
    pthread_mutex_unlock(&B.mtx);
    return NULL;
}

/* ---- start / stop ---- */

int pool_start(void)
{
    B.clock_next = clk_mono_ms() + 1000.0;
    if (pthread_create(&spawner_thr, NULL, spawner_main, NULL) != 0 ||
        pthread_create(&reaper_thr, NULL, reaper_main, NULL) != 0 ||
        pthread_create(&clock_thr, NULL, clock_main, NULL) != 0) {
        return -1;
    }
    threads_started = true;
    return 0;
}

static bool wait_until(bool (*cond)(void), double ms)
{
    double end = clk_mono_ms() + ms;
    while (!cond()) {
        if (clk_mono_ms() >= end) {
            return false;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&B.reap_cv, &B.mtx, &ts);
    }
    return true;
}

static bool none_busy(void)
{
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (w->state == W_BUSY || w->state == W_SPAWNING) {
            return false;
        }
    }
    return true;
}

static bool none_left(void)
{
    return B.n_workers == 0;
}

/* Stopping: nothing new starts; queued invocations get 503. */
static void stop_pending_work(void)
{
    lm_error e;
    proto_error(&e, LM_E_STOPPING, "the broker is stopping");
    for (worker *w = B.workers; w != NULL; w = w->next) {
        invocation *inv;
        while ((inv = queue_pop(w->cfg)) != NULL) {
            invoke_fail_error(inv, &e);
        }
    }
    worker *w;
    while ((w = list_pop_front_entry(&B.spawn_q, worker, spawn_node)) != NULL) {
        w->state = W_EXITING;
        w->cfg->spawning--;
        w->pid = -1;
        worker_exited(w, 0, NULL);
    }
}

void pool_stop(void)
{
    if (!threads_started) {
        return;
    }
    pthread_mutex_lock(&B.mtx);
    B.stopping = true;
    stop_pending_work();
    pthread_cond_broadcast(&B.spawn_cv);
    pthread_cond_broadcast(&B.clock_cv);
    /* let running invocations finish (bounded), then ask every worker to go */
    wait_until(none_busy, 5000);
    for (worker *w = B.workers; w != NULL; w = w->next) {
        if (w->state == W_IDLE || w->parked != NULL) {
            shutdown_worker(w);
        } else {
            kill_worker(w);
        }
    }
    if (!wait_until(none_left, 2000)) {
        for (worker *w = B.workers; w != NULL; w = w->next) {
            kill_worker(w);
        }
        wait_until(none_left, 5000);
    }
    pthread_cond_broadcast(&B.reap_cv);
    pthread_cond_broadcast(&B.clock_cv);
    pthread_mutex_unlock(&B.mtx);
    pthread_join(spawner_thr, NULL);
    pthread_join(reaper_thr, NULL);
    pthread_join(clock_thr, NULL);
    threads_started = false;
    sbxhost_finish();
}
