/*Hostile: rc = syscall(SYS_bpf, 5  BPF_PROG_LOAD , a, sizeof(a)) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(char a[128] = {0}; rc = syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, a, sizeof(a)));
