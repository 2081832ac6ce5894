/*Hostile: rc = ptrace(PTRACE_TRACEME, 0, 0, 0) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/ptrace.h>
HOSTILE(rc = ptrace(PTRACE_TRACEME, 0, 0, 0));
