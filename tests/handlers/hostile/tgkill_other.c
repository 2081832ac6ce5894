/*Hostile: rc = syscall(SYS_tgkill, atoi(arg), atoi(arg), SIGKILL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_tgkill, atoi(arg), atoi(arg), SIGKILL));
