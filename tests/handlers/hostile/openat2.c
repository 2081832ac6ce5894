/*Hostile: rc = syscall(SYS_openat2, AT_FDCWD, "/etc/passwd", how, sizeof(how)) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char how[24] = {0}; rc = syscall(SYS_openat2, AT_FDCWD, "/etc/passwd", how, sizeof(how)));
