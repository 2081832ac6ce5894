/*Hostile: rc = setpriority(PRIO_PROCESS, getppid(), 19) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/resource.h>
HOSTILE(rc = setpriority(PRIO_PROCESS, getppid(), 19));
