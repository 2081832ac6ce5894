/*Hostile: rc = syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char h[136] = {0}; rc = syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY));
