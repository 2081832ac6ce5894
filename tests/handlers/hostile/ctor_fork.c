/* Hostile (issue 10): a constructor tries to make a process by each route
 * (glibc fork = clone without CLONE_THREAD, the raw fork syscall, clone3)
 * and notes which seccomp mode it ran under.  Answers what it saw. */
#include "hostile.h"

static long rc[3];
static int err[3];
static int seccomp_mode = -1, filters = -1;

static void read_seccomp(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        sscanf(line, "Seccomp: %d", &seccomp_mode);
        sscanf(line, "Seccomp_filters: %d", &filters);
    }
    if (f != NULL) {
        fclose(f);
    }
}

__attribute__((constructor)) static void escape(void)
{
    read_seccomp();
    rc[0] = hostile_fork(HOSTILE_GLIBC_FORK, &err[0]);
    rc[1] = hostile_fork(HOSTILE_SYS_FORK, &err[1]);
    rc[2] = hostile_fork(HOSTILE_SYS_CLONE3, &err[2]);
}

static int report(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res,
                              "{\"pid\":%d,\"uid\":%d,\"seccomp\":%d,\"filters\":%d,"
                              "\"fork\":%ld,\"fork_errno\":%d,\"sys_fork\":%ld,"
                              "\"sys_fork_errno\":%d,\"clone3\":%ld,\"clone3_errno\":%d}",
                              (int)getpid(), (int)getuid(), seccomp_mode, filters, rc[0], err[0],
                              rc[1], err[1], rc[2], err[2]);
}
LM_HANDLER(report);
