/*Hostile: rc = syscall(SYS_seccomp, 1, 8, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_seccomp, 1, 8, NULL));
