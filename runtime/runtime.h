/*
 * runtime/runtime.h — internal interfaces of lamina-runtime, the worker
 * process the broker spawns for one execution environment.
 *
 * Order of a worker's life (main.c): read config → capture stdout/stderr →
 * dial the broker's work socket (confirmed by hello) and logs socket →
 * open the code while still root → sandbox_enter (fds, cgroup, uid drop,
 * rlimits, no_new_privs, the seccomp load layer) → dlopen the handler and
 * check its ABI stamp (its constructors run here) → run its init →
 * sandbox_seal (Landlock, the seccomp allowlist) → serve NEXT/result until
 * the broker answers "shutdown" or kills us.  No handler code runs as
 * root or without a seccomp filter (runtime/README.md).
 */
#ifndef RUNTIME_RUNTIME_H
#define RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>

#include <lamina/handler.h>

#define RT_LOG_TAIL 4096 /* bytes of handler output kept for the tail */
#define RT_LOG_CAP_PER_INVOKE (256 * 1024) /* bytes of log per invocation sent to the broker */
#define RT_HELLO_TIMEOUT_MS 4000 /* one connection's wait for the broker's "ok" */
#define RT_DIAL_BUDGET_MS 12000 /* all attempts to connect to the work socket */
#define RT_DIAL_RETRY_MS 50 /* pause between two attempts */

typedef struct rt_config {
    const char *work_url;
    const char *logs_url;
    char token[80];
    pid_t pid; /* ours, sent with every NEXT */
    const char *code_path;
    const char *cpu_group; /* shared cpu cgroup to join, NULL if none */
    int code_fd; /* the code, opened while root (dlopened via /proc/self/fd) */
    const char *function;
    const char *version;
    uint32_t memory_mb;
    uint32_t timeout_s;
    const char *tmp_dir; /* private writable dir, NULL when none */
    bool unsafe; /* broker runs workers unsandboxed (debugging) */
    /* sandbox (issue #3), from the broker's sbxhost.c */
    long uid, gid; /* unprivileged ids to drop to, -1 = stay (broker not root) */
    const char *cgroup_dir; /* per-worker memory cgroup to join, NULL = none */
    const char *pids_cgroup; /* per-worker pids cgroup (v1) to join, NULL = none */
    long broker_pid; /* our parent; we die with it */
    int report_fd; /* pipe to the broker for violation reports, -1 = none */
} rt_config;

/* ---- loader.c ---- */
typedef struct rt_handler {
    void *dl;
    lm_handler_fn handler;
    lm_init_fn init;
} rt_handler;

/* dlopen(RTLD_NOW|RTLD_LOCAL) path, check the ABI stamp, find the entry
 * points.  On failure returns -1 and writes a message naming the problem
 * into why (the caller reports Runtime.InvalidEntrypoint). */
int loader_open(rt_handler *h, const char *path, char *why, size_t whylen);

/* ---- logcap.c ---- */
/* Redirect fds 1 and 2 into a pipe read by a capture thread.  0 or -1. */
int logcap_start(void);
/* Attach the logs push socket (lines are forwarded in chunks). */
void logcap_set_socket(nng_socket push, const char *function);
/* Start a new invocation's log. */
void logcap_begin(const char *request_id);
/* Append bytes to the current invocation's log (thread-safe). */
void logcap_append(const char *p, size_t n);
/* Flush stdio and drain the pipe into the log. */
void logcap_end(void);
/* Copy the invocation's log (at most RT_LOG_CAP_PER_INVOKE bytes: the head,
 * a truncation note, the last RT_LOG_TAIL bytes) into dst; returns its length. */
size_t logcap_copy(char *dst, size_t cap);
/* lm_log sink for lm_request. */
void logcap_sink(void *arg, const char *line, size_t len);

/* ---- serve.c ---- */
typedef struct rt_init_report {
    bool ok;
    const char *error_type;
    char message[1024];
} rt_init_report;

/* The NEXT/result loop on the connected work socket (wire.h).  Returns
 * the process exit code. */
struct wire;
int serve_loop(struct wire *work, const rt_config *cfg, const rt_handler *h,
               const rt_init_report *init);

/* ---- sandbox (sandbox_policy.c = data, sandbox_apply.c = code) ---- */
/* The sandbox, in two phases (see sandbox_apply.c), each failing closed:
 * -1 with the failing call named in err.  sandbox_enter runs after the nng
 * dial and before dlopen (fds, cgroup, drops privileges, rlimits, NNP,
 * then the seccomp load layer with TSYNC: no process creation from here
 * on); sandbox_seal after init (Landlock, the seccomp allowlist with
 * TSYNC, stacked on the load layer). */
int sandbox_enter(const rt_config *cfg, char *err, size_t errlen);
int sandbox_seal(const rt_config *cfg, char *err, size_t errlen);

#endif
