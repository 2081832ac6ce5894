/*Hostile: rc = syscall(SYS_pivot_root, "/", "/") (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_pivot_root, "/", "/"));
