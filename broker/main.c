/*
 * broker/main.c — lamina-broker: parse options, prepare the state dir, load
 * the store, start the subsystems, wait for SIGTERM/SIGINT, stop cleanly.
 *
 * Start order: state dir (0700) and its lock (one broker per state dir) →
 * sandbox reclaim (what a killed predecessor's workers left, see
 * sbxhost.c) → store → registry → test clock (--test-clock: its
 * stored offset, lib/clock.h) → logs → pool → admin →
 * work socket → async queue (stored events start running) → messaging
 * (queues and topics: messaging/service.h) → event source mappings
 * (esm/esm.h: stored mappings start polling) → api socket
 * (last: clients only connect once everything can serve them).  Stop
 * order: mark stopping → pool (running invocations finish for up to 5 s,
 * queued ones get 503, every worker exits and is reaped: no orphans) →
 * event source mappings (the outcomes of their batches recorded) →
 * async queue (outcomes recorded, accepted events committed) → admin
 * (pending calls answered) → messaging (waiting receives answered) → store
 * → api → work → logs.  Signals are blocked in every thread and taken with
 * sigwait() in main, so no handler runs in an arbitrary thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "async/async.h"
#include "core/core.h"
#include "esm/esm.h"
#include "front/front.h"
#include "messaging/service.h"
#include "store/store.h"
#include "lib/listen.h"
#include "core/sbxhost.h"

broker B;
static int esm_max_filters = ESM_FILTERS_DEFAULT;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: lamina-broker [--state DIR] [--max-concurrency N] [--idle-timeout SECONDS]\n"
        "                     [--init-timeout SECONDS] [--listen tcp://HOST:PORT]\n"
        "                     [--listener-check-ms MS] [--esm-max-filters N] [--test-clock]\n"
        "                     [--http HOST:PORT [--http-timeouts H,B] [--http-auth sigv4|none]]\n"
        "                     [--unsafe-no-sandbox] [--verbose]\n"
        "\n"
        "Runs the Lamina broker on a state directory (default $LAMINA_STATE, else ./.lamina):\n"
        "api.sock, work.sock, logs.sock, lamina.db, code/ and logs/ live there.\n"
        "\n"
        "  --max-concurrency N    execution environments at once (default 1000): the account\n"
        "                         concurrency limit; min(100, N / 10) stay unreserved\n"
        "  --idle-timeout S       reap environments idle this long (default 300)\n"
        "  --init-timeout S       limit for a handler's init (default 10)\n"
        "  --listener-check-ms MS probe a listener quiet this long; replace it if it\n"
        "                         stopped accepting (nng 1.5.2 bug; default 500)\n"
        "  --esm-max-filters N    filters per event source mapping, 5-10 (default 5:\n"
        "                         Lambda's quota, which AWS raises to 10 on request)\n"
        "  --test-clock           for tests: the api op clock-advance moves broker time\n"
        "                         (async retry delays, event age, idempotency keys)\n"
        "                         forward\n"
        "  --unsafe-no-sandbox    run workers without the sandbox, for debugging only\n"
        "  --http HOST:PORT       serve function URLs and /healthz over HTTP (off unless\n"
        "                         given; port 0 picks one, written to STATE/http.url)\n"
        "  --http-timeouts H,B    seconds a request's headers and its body may take\n"
        "                         (default 10,30)\n"
        "  --http-auth sigv4|none whether Lambda's REST API needs SigV4 by the broker's\n"
        "                         keys (default sigv4; none only for development)\n"
        "\n"
        "example: lamina-broker --state /tmp/lamina --max-concurrency 64\n");
}

static int find_runtime(char *out, size_t cap)
{
    const char *env = getenv("LAMINA_RUNTIME");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return access(out, X_OK);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        return -1;
    }
    self[n] = '\0';
    char *dir = dirname(self);
    /* build tree: build/broker/ → build/runtime/; installed: bin/ or libexec/lamina/ */
    const char *cands[] = {"%s/../runtime/lamina-runtime", "%s/lamina-runtime",
                           "%s/../libexec/lamina/lamina-runtime"};
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), cands[i], dir);
        if (access(p, X_OK) == 0 && realpath(p, out) != NULL) {
            return 0;
        }
    }
    return -1;
}

/* --http HOST:PORT and its request deadlines (front/http.c) */
static const char *http_addr;
static double http_header_s = 10, http_body_s = 30;
static bool http_api_auth = true; /* --http-auth sigv4|none: the REST API's */

static int parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"max-concurrency", required_argument, NULL, 'c'},
        {"idle-timeout", required_argument, NULL, 'i'},
        {"init-timeout", required_argument, NULL, 't'},
        {"listen", required_argument, NULL, 'l'},
        {"unsafe-no-sandbox", no_argument, NULL, 'u'},
        {"listener-check-ms", required_argument, NULL, 'k'},
        {"test-clock", no_argument, NULL, 'T'},
        {"esm-max-filters", required_argument, NULL, 'F'},
        {"http", required_argument, NULL, 'H'},
        {"http-timeouts", required_argument, NULL, 'O'},
        {"http-auth", required_argument, NULL, 'A'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *state = getenv("LAMINA_STATE");
    B.opt.max_concurrency = 1000;
    B.opt.idle_timeout_ms = 300000;
    B.opt.init_timeout_ms = 10000;
    B.opt.listener_check_ms = 500;
    int c;
    while ((c = getopt_long(argc, argv, "s:hv", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'c': B.opt.max_concurrency = atoi(optarg); break;
        case 'i': B.opt.idle_timeout_ms = (int)(atof(optarg) * 1000); break;
        case 't': B.opt.init_timeout_ms = (int)(atof(optarg) * 1000); break;
        case 'l': B.opt.tcp_listen = optarg; break;
        case 'u': B.opt.unsafe_no_sandbox = true; break;
        case 'k': B.opt.listener_check_ms = atoi(optarg); break;
        case 'T': B.opt.test_clock = true; break;
        case 'F': esm_max_filters = atoi(optarg); break;
        case 'H': http_addr = optarg; break;
        case 'A':
            if (strcmp(optarg, "none") != 0 && strcmp(optarg, "sigv4") != 0) {
                usage(stderr);
                return 2;
            }
            http_api_auth = strcmp(optarg, "sigv4") == 0;
            break;
        case 'O':
            if (sscanf(optarg, "%lf,%lf", &http_header_s, &http_body_s) != 2 ||
                http_header_s <= 0 || http_body_s <= 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'v': blog_level = LOG_DEBUG; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || B.opt.max_concurrency < 1 || B.opt.idle_timeout_ms < 1 ||
        B.opt.init_timeout_ms < 1 || B.opt.listener_check_ms < 1 ||
        esm_max_filters < ESM_FILTERS_DEFAULT || esm_max_filters > ESM_FILTERS_MAX) {
        usage(stderr);
        return 2;
    }
    if (state == NULL || state[0] == '\0') {
        state = ".lamina";
    }
    char real[PATH_MAX];
    if (util_mkdir_p(state, 0700) != 0 || chmod(state, 0700) != 0 ||
        realpath(state, real) == NULL) {
        fprintf(stderr, "lamina-broker: cannot use state dir %s: %s\n", state, strerror(errno));
        return 1;
    }
    if (strlen(real) >= sizeof(B.opt.state) - 128) {
        fprintf(stderr, "lamina-broker: state dir path is too long: %s\n", real);
        return 1;
    }
    snprintf(B.opt.state, sizeof(B.opt.state), "%s", real);
    if (find_runtime(B.opt.runtime_path, sizeof(B.opt.runtime_path)) != 0) {
        fprintf(stderr, "lamina-broker: cannot find lamina-runtime (set LAMINA_RUNTIME)\n");
        return 1;
    }
    return 0;
}

static void load_one(fn_config *cfg, void *arg)
{
    (void)arg;
    registry_put(cfg);
}

/* One broker per state dir: an OFD write lock on <state>/broker.lock,
 * held for the broker's life (the fd stays open) and dropped by the kernel
 * when it dies, however it dies.  Taken before anything in the state dir
 * is touched, so a second broker changes nothing — not the store, not the
 * code blobs, and not the sandbox's reclaim, which must only ever find a
 * dead predecessor's resources.  (Before, the only guard was the logs
 * socket's in-use probe, after the store had been opened and swept, and
 * two brokers starting at once could both pass it.) */
static int lock_state_dir(void)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/broker.lock", B.opt.state);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        blog(LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        blog(LOG_ERROR, "cannot lock %s: %s", path,
             errno == EAGAIN || errno == EACCES ? "another broker is serving this state dir"
                                                : strerror(errno));
        close(fd);
        return -1;
    }
    return 0; /* fd kept open: the lock lasts as long as this process */
}

/* --test-clock: broker time carries on from the offset a previous run
 * stored (before any thread reads the clock). */
static int start_test_clock(lm_error *e)
{
    int64_t offset = 0;
    if (!B.opt.test_clock) {
        return LM_OK;
    }
    if (store_get_clock_offset(&offset, e) != LM_OK) {
        return e->code;
    }
    clk_enable_test(offset);
    blog(LOG_WARN, "test clock on: clock-advance may move broker time (offset %lld ms)",
         (long long)offset);
    return LM_OK;
}

/* Topic deliveries to functions become async events (async/asyncq.c). */
static const mqsvc_hooks MQ_HOOKS = {.invoke = asyncq_sns_invoke,
                                     .after = asyncq_sns_after,
                                     .close = asyncq_sns_close,
                                     .ready = esm_notify}; /* event source mappings look again */

static int start(void)
{
    char path[PATH_MAX + 16];
    lm_error e;
    if (lock_state_dir() != 0) {
        return -1;
    }
    /* a killed predecessor's workers' leftovers (mounts, cgroups, processes) */
    sbxhost_init(B.opt.state);
    snprintf(path, sizeof(path), "%s/code", B.opt.state);
    if (util_mkdir_p(path, 0700) != 0) {
        blog(LOG_ERROR, "cannot create %s", path);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/lamina.db", B.opt.state);
    if (store_open(path, &e) != LM_OK || store_load_all(load_one, NULL, &e) != LM_OK ||
        start_test_clock(&e) != LM_OK) {
        blog(LOG_ERROR, "%s", e.message);
        return -1;
    }
    if (fnlog_start() != 0 || pool_start() != 0 || admin_start() != 0 || work_start() != 0 ||
        asyncq_start(path) != 0 || mqsvc_start(path, &MQ_HOOKS) != 0 ||
        esm_start(path, esm_max_filters) != 0) {
        return -1;
    }
    /* function URLs, then HTTP before the api socket: once a client can
     * connect, <state>/http.url is there */
    if (admin_urls_load(&e) != LM_OK || admin_keys_load(&e) != LM_OK) {
        blog(LOG_ERROR, "%s", e.message);
        return -1;
    }
    if ((http_addr != NULL &&
         http_start(http_addr, http_header_s, http_body_s, http_api_auth) != 0) ||
        api_start() != 0 || listen_watch_start(B.opt.listener_check_ms) != 0) {
        return -1;
    }
    return 0;
}

/* Closing an nng socket waits for its listeners, and under nng 1.5.2 a
 * listener that stopped accepting (broker/listen.h) may never finish
 * closing while connections it negotiated are still open.  By the time the
 * sockets are closed nothing durable is left to do, so a close that hangs
 * only delays the exit: give it 10 s, then leave. */
static void *stop_deadline(void *arg)
{
    (void)arg;
    struct timespec ts = {10, 0};
    while (nanosleep(&ts, &ts) != 0) {
    }
    blog(LOG_WARN, "sockets did not close within 10 s (nng 1.5.2 keeps a stopped listener's "
                   "connections); exiting without waiting");
    _exit(0);
    return NULL;
}

static void stop(void)
{
    listen_watch_stop();
    pool_stop();
    http_stop();
    esm_stop();
    asyncq_stop();
    admin_stop();
    mqsvc_stop();
    store_close();
    pthread_t t;
    if (pthread_create(&t, NULL, stop_deadline, NULL) == 0) {
        pthread_detach(t);
    }
    api_stop();
    work_stop();
    fnlog_stop();
    listen_cleanup();
}

static void init_sync(void)
{
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&B.mtx, &ma);
    pthread_mutex_init(&B.spawn_mtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&B.clock_cv, &ca);
    pthread_cond_init(&B.spawn_cv, NULL);
    pthread_cond_init(&B.reap_cv, NULL);
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc != 0) {
        return rc;
    }
    init_sync();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    B.started_at = clk_mono_ms();
    if (start() != 0) {
        blog(LOG_ERROR, "startup failed");
        stop();
        return 1;
    }
    blog(LOG_INFO, "lamina-broker %s ready on %s (runtime %s%s)", BROKER_VERSION, B.opt.state,
         B.opt.runtime_path, B.opt.unsafe_no_sandbox ? ", UNSAFE: sandbox disabled" : "");
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        /* reserved: reopen logs */
    }
    blog(LOG_INFO, "signal %d: stopping", sig);
    stop();
    blog(LOG_INFO, "stopped");
    return 0;
}
