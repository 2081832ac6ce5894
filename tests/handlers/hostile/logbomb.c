/* Resource: 200 MB to stderr (R6); the log is capped per invocation. */
#include "hostile.h"
HOSTILE(static char buf[1 << 20]; memset(buf, 'x', sizeof(buf)); buf[sizeof(buf) - 1] = '\n';
        for (int i = 0; i < 200; i++) {
            ssize_t n = write(2, buf, sizeof(buf));
            if (n > 0) {
                rc += n;
            }
        } errno = 0);
