/* Resource: fork() in a loop (R2): every attempt must fail. */
#include "hostile.h"
HOSTILE(for (int i = 0; i < 200; i++) {
    pid_t p = fork();
    if (p == 0) {
        pause();
        _exit(0);
    }
    if (p > 0) {
        rc++;
    }
});
