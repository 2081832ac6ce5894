/*Hostile: rc = syscall(SYS_userfaultfd, 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_userfaultfd, 0));
