/*
 * runtime/sandbox_apply.c — applies the sandbox layers (issue #3).
 *
 * Today: only a new session (so a handler cannot signal the broker's
 * process group or take its terminal).  The full layer set (rlimits,
 * filesystem confinement, no_new_privs, seccomp) is issue #3.
 */
#include <stdio.h>
#include <unistd.h>

#include "runtime.h"

int sandbox_apply(const rt_config *cfg, char *err, size_t errlen)
{
    (void)cfg;
    if (setsid() < 0 && getpgrp() != getpid()) {
        snprintf(err, errlen, "setsid failed");
        return -1;
    }
    return 0;
}
