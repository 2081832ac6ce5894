/*
 * Integration: opening clients against a real broker — lm_client_open rides
 * out a full accept backlog (retried with back-off, sdk/src/client.c) and
 * still fails fast and clearly when no broker is there.
 *
 * The storm: STORM_PROCS processes (storm_client.c) of STORM_THREADS
 * threads each all call lm_client_open at the same moment (released
 * together by closing one pipe), so STORM_PROCS * STORM_THREADS connects
 * hit the api socket's listen backlog at once; each opened client pings,
 * and one client per process invokes a function.  They report through a
 * pipe.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "storm_client.h"

#define STORM_PROCS 40
#define STORM_THREADS 50

static lt_broker b;

TestSuite(connect, .timeout = 240);

/* Fork and exec one storm_client with the three pipes on fds 3, 4, 5. */
static pid_t spawn_storm(const char *state, int go, int ready, int report)
{
    char threads[16];
    snprintf(threads, sizeof(threads), "%d", STORM_THREADS);
    const char *bin = getenv("LAMINA_STORM_CLIENT");
    cr_assert_not_null(bin, "LAMINA_STORM_CLIENT is not set (tests/integration/meson.build)");
    pid_t pid = fork();
    if (pid == 0) {
        /* dup2 clears close-on-exec on the copies */
        if (dup2(go, STORM_GO_FD) < 0 || dup2(ready, STORM_READY_FD) < 0 ||
            dup2(report, STORM_REPORT_FD) < 0) {
            _exit(126);
        }
        execl(bin, bin, state, threads, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Read every child's report and add them up; errs gets a few messages. */
static void gather(int fd, storm_report *all, char *errs, size_t cap)
{
    for (int i = 0; i < STORM_PROCS; i++) {
        storm_report r;
        ssize_t got = read(fd, &r, sizeof(r)); /* < PIPE_BUF: written whole */
        cr_assert_eq(got, (ssize_t)sizeof(r), "a storm client died (read %zd)", got);
        all->opened += r.opened;
        all->open_failed += r.open_failed;
        all->ping_failed += r.ping_failed;
        all->invoke_failed += r.invoke_failed;
        for (int k = 0; k < STORM_ERRS && r.errs[k].n > 0; k++) {
            size_t used = strlen(errs);
            if (used + 200 < cap && strstr(errs, r.errs[k].msg) == NULL) {
                snprintf(errs + used, cap - used, "\n  %.180s", r.errs[k].msg);
            }
        }
    }
}

Test(connect, two_thousand_simultaneous_opens_all_succeed_and_can_call)
{
    const char *const args[] = {"--max-concurrency", "50", NULL};
    lt_broker_start(&b, args);
    lt_create(&b, "echo", "echo", NULL);
    /* close-on-exec: the storm clients get their copies through dup2 */
    int go[2], ready[2], report[2];
    cr_assert(pipe2(go, O_CLOEXEC) == 0 && pipe2(ready, O_CLOEXEC) == 0 &&
              pipe2(report, O_CLOEXEC) == 0);
    pid_t kids[STORM_PROCS];
    for (int i = 0; i < STORM_PROCS; i++) {
        kids[i] = spawn_storm(b.state, go[0], ready[1], report[1]);
        cr_assert(kids[i] > 0, "fork: %s", strerror(errno));
    }
    close(go[0]);
    close(ready[1]);
    close(report[1]);
    for (int i = 0; i < STORM_PROCS; i++) { /* every thread waits on go */
        char one;
        cr_assert_eq(read(ready[0], &one, 1), 1, "a storm client died before it was ready");
    }
    close(go[1]); /* all at once */
    storm_report all = {0};
    char errs[1024] = "";
    gather(report[0], &all, errs, sizeof(errs));
    for (int i = 0; i < STORM_PROCS; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "storm client exit 0x%x", st);
    }
    close(ready[0]);
    close(report[0]);
    int total = STORM_PROCS * STORM_THREADS;
    cr_expect_eq(all.opened, total, "%d of %d simultaneous opens failed, e.g.:%s", all.open_failed,
                 total, errs);
    cr_expect_eq(all.ping_failed, 0, "%d opened clients could not ping", all.ping_failed);
    cr_expect_eq(all.invoke_failed, 0, "%d of %d invokes failed", all.invoke_failed, STORM_PROCS);
    lt_broker_stop(&b, false);
}

/* No broker: a missing socket and a dead broker's socket are both told at
 * once and apart, never retried ("attempts" only appears after retries). */
Test(connect, open_without_a_broker_fails_at_once_and_says_why)
{
    lm_client *c = NULL;
    lm_error e;
    char dir[] = "/tmp/lamina-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(lm_client_open(&c, dir, NULL, &e), LM_E_UNREACHABLE);
    cr_assert_null(c);
    cr_expect_not_null(strstr(e.message, "no socket there"), "%s", e.message);
    cr_expect_null(strstr(e.message, "attempts"), "not retried: %s", e.message);
    rmdir(dir);

    lt_broker_start(&b, NULL);
    lt_broker_kill(&b); /* its api.sock stays behind, with nobody listening */
    cr_assert_eq(lm_client_open(&c, b.state, NULL, &e), LM_E_UNREACHABLE);
    cr_expect_not_null(strstr(e.message, "nothing listens on it"), "%s", e.message);
    cr_expect_null(strstr(e.message, "attempts"), "not retried: %s", e.message);
    lt_broker_start_in(&b, b.state, NULL); /* a new broker takes the state dir over */
    lt_broker_stop(&b, false);
}

/* A listener whose accept queue never drains: open retries, then gives up
 * after its bound with an error that says so. */
Test(connect, open_gives_up_when_the_accept_queue_stays_full)
{
    char dir[] = "/tmp/lamina-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/api.sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
              listen(lfd, 0) == 0);
    int held[64], n = 0; /* connect until the queue refuses more */
    for (; n < 64; n++) {
        held[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (connect(held[n], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            cr_assert_eq(errno, EAGAIN, "connect: %s", strerror(errno));
            break;
        }
    }
    cr_assert(n < 64, "the accept queue never filled");
    lm_client *c = NULL;
    lm_error e;
    cr_assert_eq(lm_client_open(&c, dir, NULL, &e), LM_E_UNREACHABLE);
    cr_assert_null(c);
    cr_expect_not_null(strstr(e.message, "attempts"), "it was retried: %s", e.message);
    cr_expect_not_null(strstr(e.message, "accept queue stayed full"), "%s", e.message);
    for (int i = 0; i <= n; i++) {
        close(held[i]);
    }
    close(lfd);
    unlink(sa.sun_path);
    rmdir(dir);
}
