/*Hostile: } (issue #3 sandbox suite).*/
#include "hostile.h"
#include <linux/sched.h>
HOSTILE(struct clone_args a; memset(&a, 0, sizeof(a)); a.exit_signal = SIGCHLD;
        rc = syscall(SYS_clone3, &a, sizeof(a)); if (rc == 0) { _exit(0); });
