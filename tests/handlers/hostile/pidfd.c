/*Hostile: rc = syscall(SYS_pidfd_open, getppid(), 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_pidfd_open, getppid(), 0));
