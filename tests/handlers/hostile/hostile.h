/*
 * tests/handlers/hostile/hostile.h — one hostile attempt per .so (issue #3).
 *
 * HOSTILE(body) defines a handler that runs `body` (which sets `long rc`)
 * and, if the sandbox let it return at all, answers {"rc":rc,"errno":e}.
 * The test then expects either a Runtime.SandboxViolation naming the
 * syscall (the body never returned) or a specific errno.  `arg` is the
 * payload with surrounding quotes removed (a path, a pid …).
 */
#ifndef TESTS_HANDLERS_HOSTILE_HOSTILE_H
#define TESTS_HANDLERS_HOSTILE_HOSTILE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
