/*
 * tests/support/harness.c — see harness.h.  Starts the real lamina-broker
 * binary from the build tree on a mkdtemp() state dir and connects the real
 * client library to its api socket.  Readiness is awaited by connecting,
 * never by sleeping a fixed time.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : def;
}

const char *lt_handler(const char *name)
{
    static __thread char path[4][1024];
    static __thread int slot;
    char *p = path[slot++ % 4];
    snprintf(p, 1024, "%s/%s.so", env_or("LAMINA_HANDLER_DIR", "tests/handlers"), name);
    return p;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

bool lt_wait_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
    double end = mono_ms() + timeout_ms;
    while (!cond(arg)) {
        if (mono_ms() > end) {
            return false;
        }
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

static pid_t spawn_broker(const char *state, const char *const *extra)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = env_or("LAMINA_BROKER_BIN", "build/broker/lamina-broker");
    argv[n++] = "--state";
    argv[n++] = state;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 30; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        /* a test that fails (and exits) never leaves its broker behind */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char log[1100];
        snprintf(log, sizeof(log), "%s", state);
        char *slash = strrchr(log, '/');
        if (slash != NULL) {
            snprintf(slash, sizeof(log) - (size_t)(slash - log), "/broker-%d.log", (int)getpid());
        }
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

typedef struct conn_try {
    lt_broker *b;
} conn_try;

static bool try_connect(void *arg)
{
    lt_broker *b = arg;
    lm_error e;
    int st = 0;
    if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
        b->pid = -1;
        return true; /* died: stop waiting */
    }
    return lm_client_open(&b->client, b->state, NULL, &e) == LM_OK;
}

void lt_broker_start_in(lt_broker *b, const char *state, const char *const *extra_args)
{
    if (state != b->state) {
        snprintf(b->state, sizeof(b->state), "%s", state);
    }
    b->client = NULL;
    b->pid = spawn_broker(b->state, extra_args);
    cr_assert(b->pid > 0, "fork failed");
    cr_assert(lt_wait_until(try_connect, b, 20000), "broker did not come up on %s", b->state);
    cr_assert(b->pid > 0, "broker exited during start-up (state %s)", b->state);
    cr_assert(b->client != NULL);
}

void lt_broker_start(lt_broker *b, const char *const *extra_args)
{
    memset(b, 0, sizeof(*b));
    char tmpl[] = "/tmp/lamina-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    cr_assert(dir != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(b->state, sizeof(b->state), "%s/state", dir);
    lt_broker_start_in(b, b->state, extra_args);
}

/* Processes whose parent is ppid. */
static int count_children(pid_t ppid)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        char path[300], buf[512];
        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = '\0';
        const char *rp = strrchr(buf, ')');
        int pp = 0;
        char st;
        if (rp != NULL && sscanf(rp + 2, "%c %d", &st, &pp) == 2 && pp == ppid && st != 'Z') {
            n++;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

int lt_count_processes_named(const char *comm)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        char path[300], buf[64] = "";
        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        if (fgets(buf, sizeof(buf), f) != NULL) {
            buf[strcspn(buf, "\n")] = '\0';
            n += strcmp(buf, comm) == 0;
        }
        fclose(f);
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    int rc = system(cmd);
    (void)rc;
}

/* A broker that will not stop is a bug to diagnose, not just a failure:
 * print every thread's stack to stderr when gdb is at hand. */
static void dump_stacks(pid_t pid)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "command -v gdb >/dev/null && gdb -p %d -batch -nx -q "
             "-ex 'thread apply all bt' 1>&2 2>/dev/null",
             (int)pid);
    int rc = system(cmd);
    (void)rc;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    double end = mono_ms() + timeout_ms;
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (mono_ms() > end) {
            dump_stacks(pid);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return st;
}

void lt_broker_stop(lt_broker *b, bool keep_state)
{
    lm_client_destroy(b->client);
    b->client = NULL;
    if (b->pid > 0) {
        pid_t pid = b->pid;
        kill(pid, SIGTERM);
        /* while it stops, its workers are its children: none may survive it */
        int st = wait_exit(pid, 20000);
        b->pid = 0;
        cr_assert(st >= 0, "broker did not stop within 20 s of SIGTERM");
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exited with status 0x%x", st);
        cr_assert_eq(count_children(pid), 0, "worker processes outlived the broker");
    }
    if (!keep_state && getenv("LAMINA_TEST_KEEP") == NULL) {
        char parent[300];
        snprintf(parent, sizeof(parent), "%s", b->state);
        char *slash = strrchr(parent, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        remove_tree(parent);
    }
}

void lt_broker_kill(lt_broker *b)
{
    lm_client_destroy(b->client);
    b->client = NULL;
    if (b->pid > 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
}

const char *const lt_test_clock[] = {"--test-clock", NULL};

int64_t lt_clock_advance(lt_broker *b, int64_t ms)
{
    char args[64], *reply = NULL;
    lm_error e;
    snprintf(args, sizeof(args), "{\"Ms\":%lld}", (long long)ms);
    int rc = lm_call(b->client, "clock-advance", args, NULL, 0, &reply, &e);
    cr_assert_eq(rc, LM_OK, "clock-advance %lld: %s: %s", (long long)ms, e.type, e.message);
    cJSON *j = cJSON_Parse(reply);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "BrokerTimeMs");
    cr_assert(cJSON_IsNumber(t), "clock-advance reply: %s", reply);
    int64_t now = (int64_t)t->valuedouble;
    cJSON_Delete(j);
    free(reply);
    return now;
}

void lt_create(lt_broker *b, const char *name, const char *handler, const char *extra_json)
{
    char args[2048];
    snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\"%s%s}", name,
             extra_json != NULL ? "," : "", extra_json != NULL ? extra_json : "");
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    int rc = lm_read_file(lt_handler(handler), &code, &len, &e);
    cr_assert_eq(rc, LM_OK, "read %s: %s", lt_handler(handler), e.message);
    char *reply = NULL;
    rc = lm_call(b->client, "create", args, code, len, &reply, &e);
    free(code);
    cr_assert_eq(rc, LM_OK, "create %s: %s: %s", name, e.type, e.message);
    free(reply);
}

int lt_invoke(lt_broker *b, const char *function, const char *payload, lm_invoke_result *r,
              lm_error *err)
{
    lm_invoke_params p = {.function = function,
                          .payload = payload,
                          .payload_len = payload != NULL ? strlen(payload) : 0};
    return lm_invoke(b->client, &p, r, err);
}

static char *slurp_fd(int fd)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1024 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t k = read(fd, buf + n, cap - n - 1);
        if (k <= 0) {
            break;
        }
        n += (size_t)k;
    }
    buf[n] = '\0';
    return buf;
}

int lt_run(lt_broker *b, const char *const *argv, char **out, char **err)
{
    char tmpl_o[] = "/tmp/lt-out-XXXXXX", tmpl_e[] = "/tmp/lt-err-XXXXXX";
    int fo = mkstemp(tmpl_o), fe = mkstemp(tmpl_e);
    cr_assert(fo >= 0 && fe >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (b != NULL) {
            setenv("LAMINA_STATE", b->state, 1);
        }
        dup2(fo, 1);
        dup2(fe, 2);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    lseek(fo, 0, SEEK_SET);
    lseek(fe, 0, SEEK_SET);
    char *o = slurp_fd(fo), *e = slurp_fd(fe);
    close(fo);
    close(fe);
    unlink(tmpl_o);
    unlink(tmpl_e);
    if (out != NULL) {
        *out = o;
    } else {
        free(o);
    }
    if (err != NULL) {
        *err = e;
    } else {
        free(e);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void lt_base64(const char *s, char *out)
{
    lt_base64_n(s, strlen(s), out);
}

void lt_base64_n(const void *data, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = data;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        v |= i + 1 < n ? (unsigned)s[i + 1] << 8 : 0;
        v |= i + 2 < n ? (unsigned)s[i + 2] : 0;
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

char *lt_unbase64(const char *in, size_t *len)
{
    static const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    char *out = malloc(strlen(in) + 1);
    unsigned acc = 0;
    int bits = 0;
    cr_assert_not_null(out);
    for (const char *p = in; *p != '\0' && *p != '='; p++) {
        const char *q = strchr(tab, *p);
        cr_assert_not_null(q, "not base64: %s", in);
        acc = (acc << 6) | (unsigned)(q - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return out;
}

char *lt_function_log(lt_broker *b, const char *fn)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/logs/%s.log", b->state, fn);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return strdup("");
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

int lt_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

typedef struct log_wait {
    lt_broker *b;
    const char *fn;
    const char *needle;
    int times;
} log_wait;

static bool log_has(void *arg)
{
    log_wait *w = arg;
    char *s = lt_function_log(w->b, w->fn);
    bool ok = lt_count(s, w->needle) >= w->times;
    free(s);
    return ok;
}

void lt_await_log(lt_broker *b, const char *fn, const char *needle, int times)
{
    log_wait w = {b, fn, needle, times};
    cr_assert(lt_wait_until(log_has, &w, 30000), "%s.log never held '%s' %d time(s):\n%s", fn,
              needle, times, lt_function_log(b, fn));
}

int lt_call(lt_broker *b, const char *op, const char *args, cJSON **out, lm_error *e)
{
    char *reply = NULL;
    lm_error local;
    lm_error *err = e != NULL ? e : &local;
    int rc = lm_call(b->client, op, args, NULL, 0, &reply, err);
    if (out != NULL) {
        *out = rc == LM_OK ? cJSON_Parse(reply) : NULL;
    }
    free(reply);
    return rc;
}

cJSON *lt_ok(lt_broker *b, const char *op, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    cJSON *j = NULL;
    lm_error e;
    int rc = lt_call(b, op, args, &j, &e);
    cr_assert_eq(rc, LM_OK, "%s %s: %s %s", op, args, e.type, e.message);
    cr_assert_not_null(j);
    return j;
}
