/* Resource: fill $TMPDIR (R5); answers the bytes written before the error. */
#include "hostile.h"
HOSTILE(
    char p[600]; static char buf[1 << 20]; memset(buf, 1, sizeof(buf));
    snprintf(p, sizeof(p), "%s/fill", getenv("TMPDIR"));
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600); if (fd < 0) { rc = -1; } else {
        for (int i = 0; i < 1024; i++) {
            ssize_t n = write(fd, buf, sizeof(buf));
            if (n <= 0) {
                break;
            }
            rc += n;
        }
    });
