/*Hostile: rc = shmget(IPC_PRIVATE, 4096, 0600) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/shm.h>
HOSTILE(rc = shmget(IPC_PRIVATE, 4096, 0600));
