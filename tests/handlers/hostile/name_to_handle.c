/*Hostile: rc = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", h, &mid, 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char h[136] = {0}; int mid; rc = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", h, &mid, 0));
