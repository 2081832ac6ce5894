/*Hostile: rc = syscall(0x40000000 | 59, "/bin/sh", NULL, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(0x40000000 | 59, "/bin/sh", NULL, NULL));
