/*
 * tests/handlers/hostile/hostile.h — one hostile attempt per .so (issue #3).
 *
 * HOSTILE(body) defines a handler that runs `body` (which sets `long rc`)
 * and, if the sandbox let it return at all, answers {"rc":rc,"errno":e}.
 * The test then expects either a Runtime.SandboxViolation naming the
 * syscall (the body never returned) or a specific errno.  `arg` is the
 * payload with surrounding quotes removed (a path, a pid …).
 *
 * Load-time escapes (issue 10) use hostile_fork(): a fork whose child, if
 * the sandbox let one be made, renames itself to $ESCAPE_TAG (so a test
 * can find it among other tests' processes) and lives 30 s, long enough to
 * outlive the worker, its environment and the broker.
 */
#ifndef TESTS_HANDLERS_HOSTILE_HOSTILE_H
#define TESTS_HANDLERS_HOSTILE_HOSTILE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <lamina/handler.h>

static inline void hostile_arg(const lm_request *req, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = lm_request_payload(req, &n);
    if (n >= 2 && p[0] == '"') {
        p++;
        n -= 2;
    }
    snprintf(out, cap, "%.*s", (int)n, p);
}

/* Name this process $ESCAPE_TAG (or "lm-escapee") and stay alive 30 s. */
static inline void hostile_linger(void)
{
    const char *tag = getenv("ESCAPE_TAG");
    prctl(PR_SET_NAME, tag != NULL ? tag : "lm-escapee", 0, 0, 0);
    for (int i = 0; i < 30; i++) {
        sleep(1);
    }
    _exit(0);
}

/* fork() by the given route; the child lingers.  Returns the parent's
 * result with *err = errno. */
typedef enum { HOSTILE_GLIBC_FORK, HOSTILE_SYS_FORK, HOSTILE_SYS_CLONE3 } hostile_route;
static inline long hostile_fork(hostile_route how, int *err)
{
    long rc;
    errno = 0;
    if (how == HOSTILE_GLIBC_FORK) {
        rc = fork(); /* glibc: clone(SIGCHLD | CLONE_CHILD_*), no CLONE_THREAD */
    } else if (how == HOSTILE_SYS_FORK) {
        rc = syscall(SYS_fork);
    } else {
        uint64_t args[11] = {0}; /* struct clone_args: flags 0, exit_signal SIGCHLD */
        args[4] = SIGCHLD;
        rc = syscall(SYS_clone3, args, sizeof(args));
    }
    *err = errno;
    if (rc == 0) {
        hostile_linger();
    }
    return rc;
}

#define HOSTILE(...)                                                        \
    static int hostile(const lm_request *req, lm_response *res)             \
    {                                                                       \
        char arg[512];                                                      \
        long rc = 0;                                                        \
        hostile_arg(req, arg, sizeof(arg));                                 \
        (void)arg;                                                          \
        errno = 0;                                                          \
        __VA_ARGS__;                                                        \
        int e = errno;                                                      \
        return lm_response_printf(res, "{\"rc\":%ld,\"errno\":%d}", rc, e); \
    }                                                                       \
    LM_HANDLER(hostile)

#endif
