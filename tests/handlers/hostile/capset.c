/*Hostile: rc = syscall(SYS_capset, h, d) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(int h[2] = {0x20080522, 0}; int d[6] = {-1, -1, -1, -1, -1, -1};
        rc = syscall(SYS_capset, h, d));
