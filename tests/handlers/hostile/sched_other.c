/*Hostile: rc = sched_setaffinity(getppid(), sizeof(s), &s) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sched.h>
HOSTILE(cpu_set_t s; CPU_ZERO(&s); CPU_SET(0, &s);
        rc = sched_setaffinity(getppid(), sizeof(s), &s));
