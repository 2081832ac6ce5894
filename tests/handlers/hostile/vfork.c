/*Hostile: } (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_vfork); if (rc == 0) { _exit(0); });
