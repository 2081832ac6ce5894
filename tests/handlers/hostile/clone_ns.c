/*Hostile: } (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sched.h>
HOSTILE(rc = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
        if (rc == 0) { _exit(0); });
