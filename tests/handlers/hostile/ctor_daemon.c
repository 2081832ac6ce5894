/* Hostile (issue 10): the reproduction — a constructor double-forks and
 * calls setsid() so the grandchild is a daemon (ppid 1, its own session).
 * If the first fork succeeds the constructor waits for the daemon's pid on
 * a pipe, so the escape has happened before the first invocation answers. */
#include "hostile.h"

static long rc;
static int err;
static long daemon_pid;

__attribute__((constructor)) static void escape(void)
{
    int p[2];
    if (pipe(p) != 0) {
        return;
    }
    errno = 0;
    rc = fork();
    err = errno;
    if (rc == 0) {
        close(p[0]);
        setsid();
        if (fork() == 0) {
            long me = (long)getpid();
            (void)!write(p[1], &me, sizeof(me));
            close(p[1]);
            hostile_linger();
        }
        _exit(0);
    }
    close(p[1]);
    if (rc > 0 && read(p[0], &daemon_pid, sizeof(daemon_pid)) != (ssize_t)sizeof(daemon_pid)) {
        daemon_pid = -1;
    }
    close(p[0]);
}

static int report(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res,
                              "{\"pid\":%d,\"uid\":%d,\"fork\":%ld,\"fork_errno\":%d,"
                              "\"daemon\":%ld}",
                              (int)getpid(), (int)getuid(), rc, err, daemon_pid);
}
LM_HANDLER(report);
