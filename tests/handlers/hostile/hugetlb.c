/*Hostile: rc = p == MAP_FAILED ? -1 : 0 (issue #3 sandbox suite).*/
#include "hostile.h"
#include <sys/mman.h>
HOSTILE(void *p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        rc = p == MAP_FAILED ? -1 : 0);
