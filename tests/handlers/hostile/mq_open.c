/*Hostile: rc = syscall(SYS_mq_open, "x", O_CREAT | O_RDWR, 0600, NULL) (issue #3 sandbox suite).*/
#include "hostile.h"

HOSTILE(rc = syscall(SYS_mq_open, "x", O_CREAT | O_RDWR, 0600, NULL));
