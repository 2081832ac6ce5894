/* Hostile (issue 10): LM_INIT signals its parent, the broker (signal 0:
 * a probe).  The load layer traps kill() aimed at any pid but our own. */
#include "hostile.h"

static int setup(const lm_env *env)
{
    (void)env;
    return kill(getppid(), 0) == 0 ? 0 : 1;
}
LM_INIT(setup);

HOSTILE(rc = 0);
