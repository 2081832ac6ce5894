/*Hostile: rc = syscall(SYS_io_uring_setup, 8, p) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char p[120] = {0}; rc = syscall(SYS_io_uring_setup, 8, p));
