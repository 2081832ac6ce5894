/*
 * tests/integration/storm_client.c — helper for test_connect.c: one process
 * of a connection storm.
 *
 *   storm_client STATE_DIR THREADS      (fds 3, 4, 5: see storm_client.h)
 *
 * Starts THREADS threads, says it is ready, and when fd 3 reaches end of
 * file every thread calls lm_client_open at once.  Each opened client
 * pings; once every thread has tried (so all connections are held at
 * once), thread 0 invokes the function "echo".  A separate executable
 * because nng may not be used in a child forked from a process where it
 * was started (it panics), as a Criterion test process is.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lamina/client.h>

#include "storm_client.h"

#define STORM_MAX_THREADS 512

static struct {
    const char *state;
    pthread_barrier_t tried; /* every thread has tried to open */
    pthread_mutex_t mtx;
    storm_report rep;
} S = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void note_error(const char *msg)
{
    pthread_mutex_lock(&S.mtx);
    S.rep.open_failed++;
    int i = 0;
    while (i < STORM_ERRS && S.rep.errs[i].n > 0 && strcmp(S.rep.errs[i].msg, msg) != 0) {
        i++;
    }
    if (i < STORM_ERRS) {
        snprintf(S.rep.errs[i].msg, sizeof(S.rep.errs[i].msg), "%s", msg);
        S.rep.errs[i].n++;
    }
    pthread_mutex_unlock(&S.mtx);
}

static bool invoke_echo(lm_client *cl)
{
    lm_invoke_params ip = {.function = "echo", .payload = "{\"storm\":1}", .payload_len = 11};
    lm_invoke_result r;
    lm_error e;
    if (lm_invoke(cl, &ip, &r, &e) != LM_OK) {
        return false;
    }
    bool ok = r.status == 200 && r.payload != NULL && strcmp(r.payload, "{\"storm\":1}") == 0;
    lm_invoke_result_finish(&r);
    return ok;
}

static void *storm_thread(void *arg)
{
    bool first = arg != NULL;
    struct pollfd p = {.fd = STORM_GO_FD, .events = POLLIN};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    lm_client *cl = NULL;
    lm_error e;
    bool ping_ok = false;
    if (lm_client_open(&cl, S.state, NULL, &e) != LM_OK) {
        note_error(e.message);
    } else {
        char *reply = NULL;
        ping_ok = lm_call(cl, "ping", NULL, NULL, 0, &reply, &e) == LM_OK;
        free(reply);
    }
    pthread_barrier_wait(&S.tried);
    bool invoke_ok = !first || (cl != NULL && invoke_echo(cl));
    lm_client_destroy(cl);
    pthread_mutex_lock(&S.mtx);
    S.rep.opened += cl != NULL;
    S.rep.ping_failed += cl != NULL && !ping_ok;
    S.rep.invoke_failed += !invoke_ok;
    pthread_mutex_unlock(&S.mtx);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc == 3 ? atoi(argv[2]) : 0;
    if (n < 1 || n > STORM_MAX_THREADS) {
        fprintf(stderr, "usage: storm_client STATE_DIR THREADS (1-%d)\n", STORM_MAX_THREADS);
        return 2;
    }
    S.state = argv[1];
    pthread_barrier_init(&S.tried, NULL, (unsigned)n);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    static pthread_t thr[STORM_MAX_THREADS];
    for (int i = 0; i < n; i++) {
        if (pthread_create(&thr[i], &attr, storm_thread, i == 0 ? (void *)1 : NULL) != 0) {
            fprintf(stderr, "storm_client: pthread_create failed\n");
            return 3; /* the barrier would never open */
        }
    }
    char one = 1;
    if (write(STORM_READY_FD, &one, 1) != 1) {
        return 4;
    }
    for (int i = 0; i < n; i++) {
        pthread_join(thr[i], NULL);
    }
    return write(STORM_REPORT_FD, &S.rep, sizeof(S.rep)) == (ssize_t)sizeof(S.rep) ? 0 : 5;
}
