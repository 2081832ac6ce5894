/*Hostile: rc = madvise(p, 4096, MADV_MERGEABLE) (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/mman.h>
HOSTILE(void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        rc = madvise(p, 4096, MADV_MERGEABLE));
