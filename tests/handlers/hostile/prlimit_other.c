/*Hostile: rc = syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, &r, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/resource.h>
HOSTILE(struct rlimit r = {1, 1}; rc = syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, &r, NULL));
