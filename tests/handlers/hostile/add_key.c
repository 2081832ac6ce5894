/*Hostile: rc = syscall(SYS_add_key, "user", "x", "y", 1, -3) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_add_key, "user", "x", "y", 1, -3));
