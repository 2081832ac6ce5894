/*Hostile: rc = syscall(SYS_inotify_init1, 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_inotify_init1, 0));
