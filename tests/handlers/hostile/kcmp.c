/*Hostile: rc = syscall(SYS_kcmp, getpid(), getppid(), 0, 0, 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_kcmp, getpid(), getppid(), 0, 0, 0));
