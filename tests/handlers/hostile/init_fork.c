/* Hostile (issue 10): LM_INIT forks (glibc fork) and init still succeeds
 * whatever fork answered.  Answers what fork returned. */
#include "hostile.h"

static long rc;
static int err;

static int setup(const lm_env *env)
{
    (void)env;
    rc = hostile_fork(HOSTILE_GLIBC_FORK, &err);
    return 0;
}
LM_INIT(setup);

static int report(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "{\"pid\":%d,\"uid\":%d,\"fork\":%ld,\"fork_errno\":%d}",
                              (int)getpid(), (int)getuid(), rc, err);
}
LM_HANDLER(report);
