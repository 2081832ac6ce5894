/* Hostile (issue 10): LM_INIT starts two threads.  The first forks during
 * init (init waits for it); the second outlives init, waits for the first
 * invocation and forks while it runs (the invocation waits for it).  The
 * threads themselves must keep working: pthread_create is allowed. */
#include <pthread.h>
#include "hostile.h"

static long rc_init = 1, rc_late = 1;
static int err_init, err_late, created;
static pthread_t late;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;

static void *fork_now(void *a)
{
    (void)a;
    rc_init = hostile_fork(HOSTILE_GLIBC_FORK, &err_init);
    return NULL;
}

static void *fork_later(void *a)
{
    (void)a;
    pthread_mutex_lock(&mu);
    while (!go) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    rc_late = hostile_fork(HOSTILE_GLIBC_FORK, &err_late);
    return NULL;
}

static int setup(const lm_env *env)
{
    (void)env;
    pthread_t now;
    if (pthread_create(&now, NULL, fork_now, NULL) == 0 && pthread_join(now, NULL) == 0) {
        created++;
    }
    if (pthread_create(&late, NULL, fork_later, NULL) == 0) {
        created++;
    }
    return 0;
}
LM_INIT(setup);

static int report(const lm_request *req, lm_response *res)
{
    (void)req;
    if (created == 2) { /* first invocation: let the late thread fork, now */
        pthread_mutex_lock(&mu);
        go = 1;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
        pthread_join(late, NULL);
        created = 3;
    }
    return lm_response_printf(res,
                              "{\"pid\":%d,\"uid\":%d,\"threads\":%d,\"init_fork\":%ld,"
                              "\"init_errno\":%d,\"late_fork\":%ld,\"late_errno\":%d}",
                              (int)getpid(), (int)getuid(), created, rc_init, err_init, rc_late,
                              err_late);
}
LM_HANDLER(report);
