/* Resource: allocate and touch up to 1 GiB in 1 MiB steps (R1). */
#include "hostile.h"
HOSTILE(for (rc = 0; rc < 1024; rc++) {
    char *p = malloc(1 << 20);
    if (p == NULL) {
        errno = ENOMEM;
        break;
    }
    memset(p, 0x5a, 1 << 20);
});
