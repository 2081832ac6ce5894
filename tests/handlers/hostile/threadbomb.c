/* Resource: pthread_create in a loop (R2): stops at RLIMIT_NPROC / DATA. */
#include <pthread.h>
#include "hostile.h"
static void *park(void *a)
{
    (void)a;
    for (;;) {
        pause();
    }
    return NULL;
}
HOSTILE(for (rc = 0; rc < 2000; rc++) {
    pthread_t t;
    int e2 = pthread_create(&t, NULL, park, NULL);
    if (e2 != 0) {
        errno = e2;
        break;
    }
});
