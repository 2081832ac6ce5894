/*Hostile: rc = syscall(SYS_execveat, fd, "", NULL, NULL, AT_EMPTY_PATH) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/mman.h>
HOSTILE(int fd = memfd_create("x", 0);
        rc = syscall(SYS_execveat, fd, "", NULL, NULL, AT_EMPTY_PATH));
