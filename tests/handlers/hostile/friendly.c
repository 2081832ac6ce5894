/* Friendly handler: everything on the must-still-work list of
 * shared/reliability.md (c).  Answers {"failed":"<names>"}; "" is success.
 * Its LM_INIT does what an init may do under the load layer (issue 10):
 * start and join a thread, start a worker thread that lives on and serves
 * every invocation, read a file outside $TMPDIR (/etc/passwd) and make a
 * socket pair that the invocations then use. */
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <dirent.h>
#include <time.h>
#include "hostile.h"

static char failed[1024];
#define CHECK(name, cond)             \
    do {                              \
        if (!(cond)) {                \
            strcat(failed, name " "); \
        }                             \
    } while (0)

static void *thr(void *a)
{
    *(int *)a = 42;
    return NULL;
}

static void memory(void)
{
    size_t total = 0, sz = 4096;
    char *blocks[64];
    int n = 0;
    while (total < (100u << 20) && n < 64) {
        blocks[n] = malloc(sz);
        CHECK("malloc", blocks[n] != NULL);
        if (blocks[n] == NULL) {
            break;
        }
        memset(blocks[n], 1, sz);
        total += sz;
        n++;
        sz = sz < (16u << 20) ? sz * 2 : sz;
    }
    for (int i = 0; i < n; i++) {
        free(blocks[i]);
    }
    char *p = malloc(1 << 20);
    char *q = p != NULL ? realloc(p, 32 << 20) : NULL;
    CHECK("realloc", q != NULL);
    free(q);
}

static void clocks(void)
{
    clockid_t ids[] = {CLOCK_REALTIME,         CLOCK_MONOTONIC,        CLOCK_BOOTTIME,
                       CLOCK_REALTIME_COARSE,  CLOCK_MONOTONIC_COARSE, CLOCK_PROCESS_CPUTIME_ID,
                       CLOCK_THREAD_CPUTIME_ID};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct timespec ts;
        CHECK("clock_gettime", clock_gettime(ids[i], &ts) == 0);
        CHECK("SYS_clock_gettime", syscall(SYS_clock_gettime, ids[i], &ts) == 0);
    }
    struct timeval tv;
    CHECK("gettimeofday", gettimeofday(&tv, NULL) == 0);
    struct timespec d = {0, 10 * 1000 * 1000};
    CHECK("nanosleep", nanosleep(&d, NULL) == 0);
    CHECK("clock_nanosleep", clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL) == 0);
    CHECK("usleep", usleep(1000) == 0);
}

static void process(void)
{
    char r[32];
    CHECK("getrandom", getrandom(r, sizeof(r), 0) == (ssize_t)sizeof(r));
    CHECK("getrandom_nb", getrandom(r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r));
    CHECK("getpid", getpid() > 0 && syscall(SYS_gettid) > 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    CHECK("sigaction", sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK("raise", raise(SIGUSR1) == 0);
    sigset_t s;
    sigemptyset(&s);
    CHECK("sigprocmask", sigprocmask(SIG_BLOCK, &s, NULL) == 0);
    CHECK("sched_yield", sched_yield() == 0);
    int v = 0;
    pthread_t t;
    CHECK("pthread_create",
          pthread_create(&t, NULL, thr, &v) == 0 && pthread_join(t, NULL) == 0 && v == 42);
}

static void tmpio(void)
{
    const char *tmp = getenv("TMPDIR");
    char p[600], q[600], d[600];
    CHECK("TMPDIR", tmp != NULL);
    if (tmp == NULL) {
        return;
    }
    snprintf(p, sizeof(p), "%s/a", tmp);
    snprintf(q, sizeof(q), "%s/b", tmp);
    snprintf(d, sizeof(d), "%s/dir", tmp);
    int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0600);
    CHECK("open_tmp", fd >= 0);
    if (fd < 0) {
        return;
    }
    char buf[16] = "hello";
    CHECK("write", write(fd, buf, 5) == 5);
    CHECK("pwrite", pwrite(fd, "XY", 2, 1) == 2);
    CHECK("lseek", lseek(fd, 0, SEEK_SET) == 0);
    CHECK("read", read(fd, buf, 5) == 5 && memcmp(buf, "hXYlo", 5) == 0);
    CHECK("pread", pread(fd, buf, 2, 3) == 2);
    CHECK("ftruncate", ftruncate(fd, 2) == 0);
    CHECK("fsync", fsync(fd) == 0);
    struct stat st;
    CHECK("fstat", fstat(fd, &st) == 0 && st.st_size == 2);
    close(fd);
    CHECK("mkdir", mkdir(d, 0700) == 0);
    CHECK("rename", rename(p, q) == 0);
    DIR *dir = opendir(tmp);
    int n = 0;
    while (dir != NULL && readdir(dir) != NULL) {
        n++;
    }
    if (dir != NULL) {
        closedir(dir);
    }
    CHECK("getdents", n >= 4);
    CHECK("unlink", unlink(q) == 0);
    CHECK("rmdir", rmdir(d) == 0);
}

/* ---- what init set up ---- */
static char init_failed[256];
static int sp[2] = {-1, -1};
static pthread_t helper;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int asked, answered;
static bool helper_up;

#define INIT_CHECK(name, cond)             \
    do {                                   \
        if (!(cond)) {                     \
            strcat(init_failed, name " "); \
        }                                  \
    } while (0)

/* Started in init, alive for the environment's life: answers each ask. */
static void *helper_main(void *a)
{
    (void)a;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (asked == answered) {
            pthread_cond_wait(&cv, &mu);
        }
        answered = asked;
        pthread_cond_broadcast(&cv);
    }
    return NULL;
}

static int setup(const lm_env *env)
{
    (void)env;
    int v = 0;
    pthread_t t;
    INIT_CHECK("init_pthread_create",
               pthread_create(&t, NULL, thr, &v) == 0 && pthread_join(t, NULL) == 0 && v == 42);
    helper_up = pthread_create(&helper, NULL, helper_main, NULL) == 0;
    INIT_CHECK("init_helper_thread", helper_up);
    int fd = open("/etc/passwd", O_RDONLY);
    INIT_CHECK("init_open_etc", fd >= 0);
    if (fd >= 0) {
        close(fd);
    }
    INIT_CHECK("init_socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    return 0;
}
LM_INIT(setup);

static void from_init(void)
{
    strcat(failed, init_failed);
    if (!helper_up) {
        return; /* already named in init_failed */
    }
    pthread_mutex_lock(&mu);
    int want = ++asked;
    pthread_cond_broadcast(&cv);
    while (answered != want) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    char b = 0;
    CHECK("init_socket_use",
          sp[0] >= 0 && write(sp[0], "x", 1) == 1 && read(sp[1], &b, 1) == 1 && b == 'x');
}

static int friendly(const lm_request *req, lm_response *res)
{
    failed[0] = '\0';
    from_init();
    memory();
    clocks();
    process();
    tmpio();
    fprintf(stderr, "friendly: stderr works\n");
    printf("friendly: stdout works\n");
    lm_log(req, "friendly: lm_log works");
    return lm_response_printf(res, "{\"failed\":\"%s\"}", failed);
}
LM_HANDLER(friendly);
