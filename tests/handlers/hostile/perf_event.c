/*Hostile: rc = syscall(SYS_perf_event_open, a, 0, -1, -1, 0) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char a[128] = {0}; rc = syscall(SYS_perf_event_open, a, 0, -1, -1, 0));
