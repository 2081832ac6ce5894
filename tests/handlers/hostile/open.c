/*Hostile: rc = syscall(SYS_open, arg, O_RDONLY) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_open, arg, O_RDONLY));
