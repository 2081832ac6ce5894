/*
 * runtime/main.c — lamina-runtime: one execution environment.
 *
 * Started by the broker only (posix_spawn, with only fds 0-2 inherited and
 * its configuration in LAMINA_* environment variables, which we remove
 * before any handler code runs).  The order is fixed: capture stdio →
 * dial work/logs sockets → open the code (still root) → sandbox_enter
 * (privileges dropped and the seccomp load layer on: no handler code ever
 * runs as the broker's user, and none can create a process) → dlopen +
 * ABI check → the handler's init → sandbox_seal (Landlock, the seccomp
 * allowlist) → serve.  Problems
 * before serving are reported to the broker in the first NEXT ("init"
 * report) so the invoke that caused the cold start fails with a typed
 * error: Runtime.InvalidEntrypoint (load/ABI), Runtime.InitError (init
 * returned non-zero), Sandbox.Failure (a sandbox layer could not be
 * applied — fail closed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "../sdk/src/sdk_internal.h"
#include "proto.h"
#include "runtime.h"
#include "wire.h"

static const char *env_take(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? strdup(v) : NULL;
}

static int read_config(rt_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->code_fd = -1;
    cfg->work_url = env_take("LAMINA_WORK_URL");
    cfg->logs_url = env_take("LAMINA_LOGS_URL");
    cfg->code_path = env_take("LAMINA_CODE");
    cfg->function = env_take("LAMINA_FUNCTION");
    cfg->version = env_take("LAMINA_VERSION");
    cfg->tmp_dir = env_take("LAMINA_TMP");
    cfg->cgroup_dir = env_take("LAMINA_CGROUP");
    cfg->pids_cgroup = env_take("LAMINA_PIDS_CGROUP");
    cfg->cpu_group = env_take("LAMINA_CPU_CGROUP");
    cfg->uid = getenv("LAMINA_UID") != NULL ? strtol(getenv("LAMINA_UID"), NULL, 10) : -1;
    cfg->gid = getenv("LAMINA_GID") != NULL ? strtol(getenv("LAMINA_GID"), NULL, 10) : -1;
    cfg->broker_pid =
        getenv("LAMINA_BROKER_PID") != NULL ? strtol(getenv("LAMINA_BROKER_PID"), NULL, 10) : -1;
    cfg->report_fd =
        getenv("LAMINA_REPORT_FD") != NULL ? (int)strtol(getenv("LAMINA_REPORT_FD"), NULL, 10) : -1;
    const char *tok = getenv("LAMINA_TOKEN");
    const char *mem = getenv("LAMINA_MEMORY_MB");
    const char *to = getenv("LAMINA_TIMEOUT_S");
    const char *unsafe = getenv("LAMINA_UNSAFE");
    if (cfg->work_url == NULL || cfg->code_path == NULL || cfg->function == NULL || tok == NULL) {
        return -1;
    }
    snprintf(cfg->token, sizeof(cfg->token), "%s", tok);
    cfg->pid = getpid();
    cfg->memory_mb = mem != NULL ? (uint32_t)strtoul(mem, NULL, 10) : 128;
    cfg->timeout_s = to != NULL ? (uint32_t)strtoul(to, NULL, 10) : 3;
    cfg->unsafe = unsafe != NULL && strcmp(unsafe, "1") == 0;
    if (cfg->version == NULL) {
        cfg->version = "$LATEST";
    }
    /* The handler must not see the broker's plumbing (least of all the token). */
    const char *internal[] = {"LAMINA_WORK_URL",   "LAMINA_LOGS_URL",   "LAMINA_CODE",
                              "LAMINA_TOKEN",      "LAMINA_MEMORY_MB",  "LAMINA_TIMEOUT_S",
                              "LAMINA_UNSAFE",     "LAMINA_FUNCTION",   "LAMINA_VERSION",
                              "LAMINA_TMP",        "LAMINA_CGROUP",     "LAMINA_UID",
                              "LAMINA_GID",        "LAMINA_BROKER_PID", "LAMINA_REPORT_FD",
                              "LAMINA_CPU_CGROUP", "LAMINA_PIDS_CGROUP"};
    for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
        unsetenv(internal[i]);
    }
    return 0;
}

/* Ask the broker to confirm it took the connection.  Under nng 1.5.2 a
 * listener can stop handing over connections it has already negotiated
 * (broker/listen.h); the broker replaces such a listener within a few
 * seconds and closes the stuck connection, and we then dial again through
 * the symlink to the new one.  It has to happen now: once unprivileged, the
 * worker can no longer reach the broker's 0700 state dir to connect again. */
static int hello(wire *work, const rt_config *cfg)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return NNG_ENOMEM;
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 4);
    pw_header(&w, "hello");
    pw_key(&w, "token");
    pw_str(&w, cfg->token);
    pw_key(&w, "pid");
    pw_int(&w, (int64_t)cfg->pid);
    int rv = w.err != 0 ? NNG_ENOMEM : wire_send(work, nng_msg_body(m), nng_msg_len(m));
    nng_msg_free(m);
    nng_msg *reply = NULL;
    if (rv == 0) {
        rv = wire_recv(work, &reply, RT_HELLO_TIMEOUT_MS);
    }
    nng_msg_free(reply);
    return rv;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Connect the work socket and have the connection confirmed, retrying
 * (a stuck or replaced listener, see hello) for up to RT_DIAL_BUDGET_MS. */
static int dial_work(const rt_config *cfg, wire *work)
{
    double until = mono_ms() + RT_DIAL_BUDGET_MS;
    int rv;
    for (;;) {
        rv = wire_dial(work, cfg->work_url, PROTO_WORK_RECVMAX, RT_HELLO_TIMEOUT_MS);
        if (rv == 0) {
            rv = hello(work, cfg);
            if (rv == 0) {
                return 0;
            }
            wire_close(work);
        }
        /* give up when out of time, or when the broker that started us is gone */
        if (mono_ms() + RT_DIAL_RETRY_MS >= until ||
            (cfg->broker_pid > 0 && getppid() != (pid_t)cfg->broker_pid)) {
            return rv;
        }
        struct timespec pause = {.tv_nsec = RT_DIAL_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static int dial_sockets(const rt_config *cfg, wire *work, nng_socket *logs)
{
    int rv = dial_work(cfg, work);
    if (rv != 0) {
        fprintf(stderr, "lamina-runtime: cannot dial %s: %s\n", cfg->work_url, nng_strerror(rv));
        return -1;
    }
    if (cfg->logs_url != NULL && nng_push0_open(logs) == 0) {
        nng_socket_set_size(*logs, NNG_OPT_RECVMAXSZ, 1024);
        nng_socket_set_int(*logs, NNG_OPT_SENDBUF, 64);
        if (nng_dial(*logs, cfg->logs_url, NULL, NNG_FLAG_NONBLOCK) == 0) {
            logcap_set_socket(*logs, cfg->function);
        }
    }
    return 0;
}

static void run_init(const rt_config *cfg, const rt_handler *h, rt_init_report *rep)
{
    if (h->init == NULL) {
        return;
    }
    lm_env env = {.function_name = cfg->function,
                  .function_version = cfg->version,
                  .memory_mb = cfg->memory_mb};
    logcap_begin("init");
    int rc = h->init(&env);
    logcap_end();
    if (rc != 0) {
        rep->ok = false;
        rep->error_type = "Runtime.InitError";
        snprintf(rep->message, sizeof(rep->message), "the handler's init function returned %d", rc);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    rt_config cfg;
    if (read_config(&cfg) != 0) {
        fprintf(stderr, "lamina-runtime: started without a broker's configuration; "
                        "workers are started by lamina-broker only\n");
        return 64;
    }
    if (logcap_start() != 0) {
        return 70;
    }
    wire work;
    nng_socket logs;
    if (dial_sockets(&cfg, &work, &logs) != 0) {
        return 69;
    }
    rt_init_report init = {.ok = true, .error_type = "", .message = ""};
    rt_handler h = {0};
    char err[512], load_path[64];
    /* Open the code while still root (it lives in the broker's 0700 state
     * dir); the unprivileged worker dlopens it through the open fd. */
    cfg.code_fd = open(cfg.code_path, O_RDONLY | O_CLOEXEC);
    snprintf(load_path, sizeof(load_path), "/proc/self/fd/%d", cfg.code_fd);
    if (cfg.code_fd < 0) {
        init.ok = false;
        init.error_type = "Runtime.InvalidEntrypoint";
        snprintf(init.message, sizeof(init.message), "cannot open the handler's code: %s",
                 strerror(errno));
    } else if (!cfg.unsafe && sandbox_enter(&cfg, err, sizeof(err)) != 0) {
        init.ok = false;
        init.error_type = "Sandbox.Failure";
        snprintf(init.message, sizeof(init.message), "sandbox setup failed: %s", err);
    } else if (loader_open(&h, load_path, init.message, sizeof(init.message)) != 0) {
        init.ok = false;
        init.error_type = "Runtime.InvalidEntrypoint";
    } else {
        run_init(&cfg, &h, &init);
    }
    if (cfg.code_fd >= 0) {
        close(cfg.code_fd); /* dlopen keeps its own mapping */
        cfg.code_fd = -1;
    }
    if (init.ok && !cfg.unsafe && sandbox_seal(&cfg, err, sizeof(err)) != 0) {
        init.ok = false;
        init.error_type = "Sandbox.Failure";
        snprintf(init.message, sizeof(init.message), "sandbox setup failed: %s", err);
    }
    return serve_loop(&work, &cfg, &h, &init);
}
