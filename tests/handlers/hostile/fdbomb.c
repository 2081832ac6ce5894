/* Resource: open fds until the limit (R4). */
#include "hostile.h"
HOSTILE(for (rc = 0; rc < 100000; rc++) {
    if (dup(1) < 0) {
        break;
    }
});
