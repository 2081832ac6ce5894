/*Hostile: rc = p == MAP_FAILED ? -1 : 0 (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/mman.h>
HOSTILE(void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        rc = p == MAP_FAILED ? -1 : 0);
