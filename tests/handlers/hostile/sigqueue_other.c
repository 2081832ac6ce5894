/*Hostile: rc = syscall(SYS_rt_sigqueueinfo, getppid(), SIGTERM, &si) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(siginfo_t si; memset(&si, 0, sizeof(si)); si.si_code = -1;
        rc = syscall(SYS_rt_sigqueueinfo, getppid(), SIGTERM, &si));
