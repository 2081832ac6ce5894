/*Hostile: rc = syscall(SYS_finit_module, 0, "", 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_finit_module, 0, "", 0));
