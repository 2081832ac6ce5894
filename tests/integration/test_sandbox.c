/*
 * tests/integration/test_sandbox.c — the sandbox suite (issue #3;
 * shared/reliability.md (b) S and R, (c) checklist).
 *
 * Every hostile handler (tests/handlers/hostile/, one .so per attempt) runs
 * in a fresh broker next to a sibling function.  Each test asserts the
 * specific outcome — Runtime.SandboxViolation naming the syscall, or the
 * errno the kernel gave the handler — then that the sibling still answers,
 * the broker is alive and the state dir is unchanged (files hashed before
 * and after, logs/ and SQLite -wal/-shm excluded).
 *
 * The sandbox_load tests (issue 10, at the end) attack from load time — a
 * constructor, LM_INIT, a thread started there — and also look in /proc
 * for any process the worker made, after the invoke, after its environment
 * is retired and after the broker stops.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <sqlite3.h>

#include "harness.h"

/* ASan builds: shadow memory and quarantine need a larger memory size, ASan's
 * own SEGV handler turns a crash into exit 1, and RLIMIT_DATA is not set
 * (runtime/sandbox_policy.c), so the rlimit-only bomb is skipped. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif
#ifndef ASAN_BUILD
#define ASAN_BUILD 0
#endif

/* ---- state-dir hash ---- */

static uint64_t g_hash;
static size_t g_root_len;

/* The store is hashed by what it holds, not by its bytes: the broker copies
 * its WAL into lamina.db whenever it likes (a checkpoint changes the file,
 * not the data), and reading through SQLite counts what is still in the WAL
 * too. */
static uint64_t hash_db(const char *path, uint64_t h)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *tables = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name",
                           -1, &tables, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return h ^ 0xdeadu; /* unreadable: differs from a readable store */
    }
    while (sqlite3_step(tables) == SQLITE_ROW) {
        char sql[256];
        sqlite3_stmt *rows = NULL;
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY rowid",
                 (const char *)sqlite3_column_text(tables, 0));
        if (sqlite3_prepare_v2(db, sql, -1, &rows, NULL) != SQLITE_OK) {
            continue;
        }
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(rows); i++) {
                const unsigned char *v = sqlite3_column_blob(rows, i);
                int n = sqlite3_column_bytes(rows, i);
                for (int k = 0; k < n; k++) {
                    h = (h ^ v[k]) * 1099511628211ULL;
                }
                h = (h ^ 0xffu) * 1099511628211ULL; /* column separator */
            }
        }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(tables);
    sqlite3_close(db);
    return h;
}

static int hash_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    const char *rel = path + g_root_len;
    if (flag != FTW_F || !S_ISREG(st->st_mode) || strstr(rel, "/logs/") == rel ||
        strstr(rel, "-wal") != NULL || strstr(rel, "-shm") != NULL) {
        return 0;
    }
    if (strcmp(rel, "/lamina.db") == 0) {
        uint64_t h = g_hash ^ 1469598103934665603ULL;
        g_hash += hash_db(path, h);
        return 0;
    }
    uint64_t h = g_hash ^ 1469598103934665603ULL;
    for (const char *p = rel; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    FILE *f = fopen(path, "rb");
    int c;
    while (f != NULL && (c = fgetc(f)) != EOF) {
        h = (h ^ (unsigned char)c) * 1099511628211ULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    g_hash += h; /* order-independent */
    return 0;
}

static uint64_t state_hash(const lt_broker *b)
{
    g_hash = 0;
    g_root_len = strlen(b->state);
    nftw(b->state, hash_entry, 16, FTW_PHYS);
    return g_hash;
}

/* ---- helpers ---- */

typedef struct run {
    lt_broker b;
    uint64_t before;
    lm_invoke_result r;
    cJSON *json;
} run;

static void start(run *t, const char *handler, const char *extra)
{
    memset(t, 0, sizeof(*t));
    lt_broker_start(&t->b, NULL);
    lt_create(&t->b, "sibling", "echo", NULL);
    lt_create(&t->b, "hostile", handler, extra);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&t->b, "sibling", "{\"warm\":1}", &r, &e), 0, "%s", e.message);
    lm_invoke_result_finish(&r);
    t->before = state_hash(&t->b);
}

static void invoke_hostile(run *t, const char *payload)
{
    lm_error e;
    memset(&t->r, 0, sizeof(t->r));
    cr_assert_eq(lt_invoke(&t->b, "hostile", payload, &t->r, &e), 0, "%s: %s", e.type, e.message);
    t->json = cJSON_Parse(t->r.payload);
    cr_assert_not_null(t->json, "payload not JSON: %s", t->r.payload);
}

/* Checks first, then always stops the broker (a failed assert must not
 * leave one running), then reports. */
static void finish(run *t)
{
    lm_invoke_result r;
    lm_error e;
    memset(&r, 0, sizeof(r));
    int rc = lt_invoke(&t->b, "sibling", "{\"after\":1}", &r, &e);
    bool sib_ok = rc == 0 && r.function_error[0] == '\0';
    lm_invoke_result_finish(&r);
    bool alive = kill(t->b.pid, 0) == 0;
    bool same = state_hash(&t->b) == t->before;
    cJSON_Delete(t->json);
    lm_invoke_result_finish(&t->r);
    lt_broker_stop(&t->b, false);
    cr_expect(sib_ok, "the sibling function failed");
    cr_expect(alive, "broker died");
    cr_expect(same, "the state dir changed");
}

static const char *str_field(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static long num_field(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -999;
}

/* The attempt killed the worker: Runtime.SandboxViolation naming `sys`. */
static void expect_violation(const char *handler, const char *payload, const char *sys)
{
    run t;
    start(&t, handler, NULL);
    invoke_hostile(&t, payload);
    cr_expect_str_eq(t.r.function_error, "Unhandled", "%s: %s", handler, t.r.payload);
    cr_expect_str_eq(str_field(t.json, "errorType"), "Runtime.SandboxViolation", "%s: %s", handler,
                     t.r.payload);
    if (sys != NULL) {
        char want[96];
        snprintf(want, sizeof(want), "forbidden syscall %s)", sys);
        cr_expect(strstr(str_field(t.json, "errorMessage"), want) != NULL,
                  "%s: message does not name %s: %s", handler, sys, t.r.payload);
    }
    finish(&t);
}

/* The attempt returned with errno `err` (and a failing rc). */
static void expect_errno(const char *handler, const char *payload, int err)
{
    run t;
    start(&t, handler, NULL);
    invoke_hostile(&t, payload);
    cr_expect_str_eq(t.r.function_error, "", "%s: %s", handler, t.r.payload);
    cr_expect_eq(num_field(t.json, "rc"), -1, "%s: %s", handler, t.r.payload);
    cr_expect_eq(num_field(t.json, "errno"), err, "%s: want errno %d: %s", handler, err,
                 t.r.payload);
    finish(&t);
}

TestSuite(sandbox, .timeout = 60);

/* ---- N1-N25: must fail ---- */

Test(sandbox, n01_execve_is_a_violation)
{
    expect_violation("hostile/execve", NULL, "execve");
}
Test(sandbox, n01_memfd_exec_is_a_violation)
{
    expect_violation("hostile/memfd_exec", NULL, "memfd_create");
}
Test(sandbox, n02_fork_gets_eperm)
{
    expect_errno("hostile/fork", NULL, EPERM);
}
Test(sandbox, n02_vfork_gets_eperm)
{
    expect_errno("hostile/vfork", NULL, EPERM);
}
Test(sandbox, n02_system_fails)
{
    /* glibc's system() reports a failed spawn as exit status 127 */
    run t;
    start(&t, "hostile/system", NULL);
    invoke_hostile(&t, NULL);
    cr_expect_eq(num_field(t.json, "rc"), 127 << 8, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "errno"), EPERM, "%s", t.r.payload);
    finish(&t);
}
Test(sandbox, n03_clone_newuser_is_a_violation)
{
    expect_violation("hostile/clone_ns", NULL, "clone");
}
Test(sandbox, n03_unshare_is_a_violation)
{
    expect_violation("hostile/unshare", NULL, "unshare");
}
Test(sandbox, n03_setns_is_a_violation)
{
    expect_violation("hostile/setns", NULL, "setns");
}
Test(sandbox, n04_clone3_gets_enosys)
{
    expect_errno("hostile/clone3", NULL, ENOSYS);
}
Test(sandbox, n05_socket_inet)
{
    expect_violation("hostile/socket", "\"2\"", "socket");
}
Test(sandbox, n05_socket_inet6)
{
    expect_violation("hostile/socket", "\"10\"", "socket");
}
Test(sandbox, n05_socket_netlink)
{
    expect_violation("hostile/socket", "\"16\"", "socket");
}
Test(sandbox, n05_socket_packet)
{
    expect_violation("hostile/socket", "\"17\"", "socket");
}
Test(sandbox, n05_socket_vsock)
{
    expect_violation("hostile/socket", "\"40\"", "socket");
}
Test(sandbox, n05_socket_alg)
{
    expect_violation("hostile/socket", "\"38\"", "socket");
}
Test(sandbox, n05_socket_unix)
{
    expect_violation("hostile/socket", "\"1\"", "socket");
}
Test(sandbox, n05_socketpair)
{
    expect_violation("hostile/socketpair", NULL, "socketpair");
}
Test(sandbox, n05_connect)
{
    expect_violation("hostile/connect", "\"/tmp/x.sock\"", "connect");
}
Test(sandbox, n05_bind)
{
    expect_violation("hostile/bind", NULL, "bind");
}
Test(sandbox, n05_listen)
{
    expect_violation("hostile/listen", NULL, "listen");
}
Test(sandbox, n06_open_etc_passwd)
{
    expect_errno("hostile/open", "\"/etc/passwd\"", EACCES);
}
Test(sandbox, n06_openat_etc_shadow)
{
    expect_errno("hostile/openat", "\"/etc/shadow\"", EACCES);
}
Test(sandbox, n06_open_proc_1_environ)
{
    expect_errno("hostile/open", "\"/proc/1/environ\"", EACCES);
}
Test(sandbox, n06_open_broker_state)
{
    run t;
    start(&t, "hostile/openat", NULL);
    char p[400];
    snprintf(p, sizeof(p), "\"%s/lamina.db\"", t.b.state);
    invoke_hostile(&t, p);
    cr_expect_eq(num_field(t.json, "errno"), EACCES, "%s", t.r.payload);
    finish(&t);
}
Test(sandbox, n07_tmp_dotdot_escape)
{
    expect_errno("hostile/tmp_dotdot", NULL, EACCES);
}
Test(sandbox, n07_tmp_symlink_escape)
{
    expect_errno("hostile/tmp_symlink", NULL, EACCES);
}
Test(sandbox, n07_openat2_gets_enosys)
{
    expect_errno("hostile/openat2", NULL, ENOSYS);
}
Test(sandbox, n07_open_by_handle_at)
{
    expect_violation("hostile/open_by_handle", NULL, "open_by_handle_at");
}
Test(sandbox, n07_name_to_handle_at)
{
    expect_violation("hostile/name_to_handle", NULL, "name_to_handle_at");
}
Test(sandbox, n08_ptrace_attach_broker)
{
    expect_violation("hostile/ptrace_attach", NULL, "ptrace");
}
Test(sandbox, n08_ptrace_traceme)
{
    expect_violation("hostile/ptrace_traceme", NULL, "ptrace");
}
Test(sandbox, n08_process_vm_readv)
{
    expect_violation("hostile/process_vm", NULL, "process_vm_readv");
}
Test(sandbox, n08_pidfd_open)
{
    expect_violation("hostile/pidfd", NULL, "pidfd_open");
}
Test(sandbox, n08_kcmp)
{
    expect_violation("hostile/kcmp", NULL, "kcmp");
}
Test(sandbox, n09_kill_broker)
{
    expect_violation("hostile/kill_broker", NULL, "kill");
}
Test(sandbox, n09_kill_minus_one)
{
    expect_violation("hostile/kill_all", NULL, "kill");
}
Test(sandbox, n09_kill_own_group)
{
    expect_violation("hostile/kill_group", NULL, "kill");
}
Test(sandbox, n09_rt_sigqueueinfo_broker)
{
    expect_violation("hostile/sigqueue_other", NULL, "rt_sigqueueinfo");
}
Test(sandbox, n09_kill_sibling_worker)
{
    run t;
    start(&t, "hostile/kill_pid", NULL);
    lt_create(&t.b, "who", "hostile/whoami", NULL);
    t.before = state_hash(&t.b);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&t.b, "who", NULL, &r, &e), 0);
    cJSON *j = cJSON_Parse(r.payload);
    long sib = num_field(j, "rc");
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
    char p[32];
    snprintf(p, sizeof(p), "\"%ld\"", sib);
    invoke_hostile(&t, p);
    cr_expect_str_eq(str_field(t.json, "errorType"), "Runtime.SandboxViolation", "%s", t.r.payload);
    cr_expect_eq(kill((pid_t)sib, 0), 0, "the sibling worker was killed");
    cr_assert_eq(lt_invoke(&t.b, "who", NULL, &r, &e), 0);
    j = cJSON_Parse(r.payload);
    cr_expect_eq(num_field(j, "rc"), sib, "the sibling environment was replaced");
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
    finish(&t);
}
Test(sandbox, n09_tgkill_sibling)
{
    run t;
    start(&t, "hostile/tgkill_other", NULL);
    char p[32];
    snprintf(p, sizeof(p), "\"%d\"", (int)t.b.pid);
    invoke_hostile(&t, p);
    cr_expect_str_eq(str_field(t.json, "errorType"), "Runtime.SandboxViolation", "%s", t.r.payload);
    finish(&t);
}
Test(sandbox, n10_mount)
{
    expect_violation("hostile/mount", NULL, "mount");
}
Test(sandbox, n10_umount2)
{
    expect_violation("hostile/umount", NULL, "umount2");
}
Test(sandbox, n10_chroot)
{
    expect_violation("hostile/chroot", NULL, "chroot");
}
Test(sandbox, n10_pivot_root)
{
    expect_violation("hostile/pivot_root", NULL, "pivot_root");
}
Test(sandbox, n10_fsopen)
{
    expect_violation("hostile/fsopen", NULL, "fsopen");
}
Test(sandbox, n11_io_uring_setup)
{
    expect_violation("hostile/io_uring", NULL, "io_uring_setup");
}
Test(sandbox, n12_bpf)
{
    expect_violation("hostile/bpf", NULL, "bpf");
}
Test(sandbox, n12_perf_event_open)
{
    expect_violation("hostile/perf_event", NULL, "perf_event_open");
}
Test(sandbox, n12_userfaultfd)
{
    expect_violation("hostile/userfaultfd", NULL, "userfaultfd");
}
Test(sandbox, n13_keyctl)
{
    expect_violation("hostile/keyctl", NULL, "keyctl");
}
Test(sandbox, n13_add_key)
{
    expect_violation("hostile/add_key", NULL, "add_key");
}
Test(sandbox, n14_personality)
{
    expect_violation("hostile/personality", NULL, "personality");
}
Test(sandbox, n15_init_module)
{
    expect_violation("hostile/init_module", NULL, "init_module");
}
Test(sandbox, n15_finit_module)
{
    expect_violation("hostile/finit_module", NULL, "finit_module");
}
Test(sandbox, n15_reboot)
{
    expect_violation("hostile/reboot", NULL, "reboot");
}
Test(sandbox, n15_settimeofday)
{
    expect_violation("hostile/settimeofday", NULL, "clock_settime");
}
Test(sandbox, n16_tiocsti)
{
    expect_violation("hostile/tiocsti", NULL, "ioctl");
}
Test(sandbox, n17_prctl_set_mm)
{
    expect_violation("hostile/prctl_mm", NULL, "prctl");
}
Test(sandbox, n17_prctl_set_ptracer)
{
    expect_violation("hostile/prctl_ptracer", NULL, "prctl");
}
Test(sandbox, n17_seccomp_listener)
{
    expect_violation("hostile/seccomp_listener", NULL, "seccomp");
}
Test(sandbox, n18_setuid)
{
    expect_violation("hostile/setuid", NULL, "setuid");
}
Test(sandbox, n18_setresuid)
{
    expect_violation("hostile/setresuid", NULL, "setresuid");
}
Test(sandbox, n18_capset)
{
    expect_violation("hostile/capset", NULL, "capset");
}
Test(sandbox, n19_raise_rlimit_gets_eperm)
{
    expect_errno("hostile/rlimit_raise", NULL, EPERM);
}
Test(sandbox, n19_prlimit_broker)
{
    expect_violation("hostile/prlimit_other", NULL, "prlimit64");
}
Test(sandbox, n20_int80_is_killed)
{
    /* killed before the call runs: SIGSYS (bad arch) where IA32 emulation is
     * on, SIGSEGV where the kernel has it off */
    run t;
    start(&t, "hostile/int80", NULL);
    invoke_hostile(&t, NULL);
    cr_expect_str_eq(t.r.function_error, "Unhandled", "%s", t.r.payload);
    const char *type = str_field(t.json, "errorType");
    cr_expect(strcmp(type, "Runtime.SandboxViolation") == 0 ||
                  (strcmp(type, "Runtime.ExitError") == 0 &&
                   (strstr(t.r.payload, "segmentation fault") != NULL ||
                    (ASAN_BUILD && strstr(t.r.payload, "exit status 1") != NULL))),
              "%s", t.r.payload);
    finish(&t);
}
Test(sandbox, n21_x32_is_killed)
{
    expect_violation("hostile/x32", NULL, NULL);
}
Test(sandbox, n22_mmap_wx_gets_eperm)
{
    expect_errno("hostile/mmap_wx", NULL, EPERM);
}
Test(sandbox, n22_mprotect_exec_gets_eperm)
{
    expect_errno("hostile/mprotect_x", NULL, EPERM);
}
Test(sandbox, n22_hugetlb_gets_eperm)
{
    expect_errno("hostile/hugetlb", NULL, EPERM);
}
Test(sandbox, n23_madvise_mergeable)
{
    expect_violation("hostile/madvise", NULL, "madvise");
}
Test(sandbox, n24_sched_setaffinity_broker)
{
    expect_errno("hostile/sched_other", NULL, EPERM);
}
Test(sandbox, n24_setpriority_broker)
{
    expect_errno("hostile/setpriority", NULL, EPERM);
}
Test(sandbox, n24_sched_fifo)
{
    expect_errno("hostile/sched_fifo", NULL, EPERM);
}
Test(sandbox, n25_shmget)
{
    expect_violation("hostile/shmget", NULL, "shmget");
}
Test(sandbox, n25_mq_open)
{
    expect_violation("hostile/mq_open", NULL, "mq_open");
}
Test(sandbox, n25_inotify)
{
    expect_violation("hostile/inotify", NULL, "inotify_init1");
}

/* ---- must still work ---- */

Test(sandbox, friendly_handler_keeps_working)
{
    run t;
    start(&t, "hostile/friendly", ASAN_BUILD ? "\"MemorySize\":1024" : NULL);
    for (int i = 0; i < 2; i++) { /* cold, then warm */
        invoke_hostile(&t, NULL);
        cr_expect_str_eq(t.r.function_error, "", "%s", t.r.payload);
        cr_expect_str_eq(str_field(t.json, "failed"), "", "failed: %s", t.r.payload);
        cJSON_Delete(t.json);
        t.json = NULL;
        lm_invoke_result_finish(&t.r);
    }
    finish(&t);
}

/* S2: every thread of a running worker is filtered (by both seccomp
 * layers) and has NoNewPrivs. */
Test(sandbox, s2_every_thread_filtered)
{
    run t;
    start(&t, "hostile/whoami", NULL);
    invoke_hostile(&t, NULL);
    long pid = num_field(t.json, "rc");
    cr_expect_neq(num_field(t.json, "errno"), 0, "the worker still runs as root");
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%ld/task", pid);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "no %s", dir);
    struct dirent *e;
    int threads = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char p[512], line[256];
        snprintf(p, sizeof(p), "%s/%s/status", dir, e->d_name);
        FILE *f = fopen(p, "r");
        int seccomp = -1, nnp = -1, filters = -1;
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            sscanf(line, "Seccomp: %d", &seccomp);
            sscanf(line, "NoNewPrivs: %d", &nnp);
            sscanf(line, "Seccomp_filters: %d", &filters);
        }
        if (f != NULL) {
            fclose(f);
        }
        cr_expect_eq(seccomp, 2, "thread %s: Seccomp %d", e->d_name, seccomp);
        cr_expect_eq(nnp, 1, "thread %s: NoNewPrivs %d", e->d_name, nnp);
        /* both layers, the load layer and the allowlist (issue 10), on every
         * thread; -1: a kernel older than 5.9 does not show the count */
        cr_expect(filters == 2 || filters == -1, "thread %s: %d seccomp filters", e->d_name,
                  filters);
        threads++;
    }
    closedir(d);
    cr_expect_gt(threads, 1, "expected nng's threads too");
    /* S6: only pipes, sockets and anonymous inodes (and /dev/null) are open */
    snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
    d = opendir(dir);
    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL) {
        char p[512], target[512];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        if (n <= 0) {
            continue;
        }
        target[n] = '\0';
        cr_expect(target[0] != '/' || strcmp(target, "/dev/null") == 0, "fd %s leads to %s",
                  e->d_name, target);
    }
    closedir(d);
    finish(&t);
}

/* ---- resources ---- */

Test(sandbox, r1_memory_bomb_is_out_of_memory)
{
    run t;
    start(&t, "hostile/membomb", "\"MemorySize\":128,\"Timeout\":15");
    invoke_hostile(&t, NULL);
    cr_expect_str_eq(t.r.function_error, "Unhandled", "%s", t.r.payload);
    cr_expect_str_eq(str_field(t.json, "errorType"), "Runtime.OutOfMemory", "%s", t.r.payload);
    finish(&t);
}

Test(sandbox, r1_memory_bomb_rlimit_only_gets_enomem)
{
    if (ASAN_BUILD) {
        cr_skip_test("RLIMIT_DATA is not applied in sanitizer builds");
    }
    setenv("LAMINA_SANDBOX_NO_CGROUP", "1", 1);
    run t;
    start(&t, "hostile/membomb", "\"MemorySize\":128,\"Timeout\":15");
    unsetenv("LAMINA_SANDBOX_NO_CGROUP");
    invoke_hostile(&t, NULL);
    cr_expect_str_eq(t.r.function_error, "", "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "errno"), ENOMEM, "%s", t.r.payload);
    cr_expect_lt(num_field(t.json, "rc"), 400, "allocated far beyond the limit: %s", t.r.payload);
    finish(&t);
}

Test(sandbox, r2_fork_bomb_gets_no_children)
{
    run t;
    start(&t, "hostile/forkbomb", NULL);
    invoke_hostile(&t, NULL);
    cr_expect_eq(num_field(t.json, "rc"), 0, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "errno"), EPERM, "%s", t.r.payload);
    finish(&t);
}

Test(sandbox, r2_thread_bomb_is_capped)
{
    run t;
    start(&t, "hostile/threadbomb", NULL);
    invoke_hostile(&t, NULL);
    cr_expect_str_eq(t.r.function_error, "", "%s", t.r.payload);
    cr_expect_lt(num_field(t.json, "rc"), 64, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "errno"), EAGAIN, "%s", t.r.payload);
    finish(&t);
}

Test(sandbox, r3_cpu_spin_times_out)
{
    run t;
    start(&t, "hostile/spin", "\"Timeout\":1");
    invoke_hostile(&t, NULL);
    cr_expect_str_eq(str_field(t.json, "errorType"), "Sandbox.Timedout", "%s", t.r.payload);
    cr_expect_lt(t.r.duration_ms, 2500.0);
    finish(&t);
}

Test(sandbox, r4_fd_exhaustion_gets_emfile)
{
    run t;
    start(&t, "hostile/fdbomb", NULL);
    invoke_hostile(&t, NULL);
    cr_expect_lt(num_field(t.json, "rc"), 64, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "errno"), EMFILE, "%s", t.r.payload);
    finish(&t);
}

Test(sandbox, r5_tmp_fill_stops_at_64_mib)
{
    run t;
    start(&t, "hostile/tmpfill", "\"MemorySize\":256");
    invoke_hostile(&t, NULL);
    long got = num_field(t.json, "rc");
    cr_expect(got >= 63L << 20 && got <= 65L << 20, "wrote %ld bytes: %s", got, t.r.payload);
    int e = (int)num_field(t.json, "errno");
    cr_expect(e == ENOSPC || e == EFBIG, "errno %d", e);
    finish(&t);
}

static long vm_rss_kb(pid_t pid)
{
    char p[64], line[256];
    long kb = -1;
    snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        sscanf(line, "VmRSS: %ld kB", &kb);
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

Test(sandbox, r6_log_bomb_is_capped_and_broker_flat)
{
    run t;
    start(&t, "hostile/logbomb", NULL);
    long before = vm_rss_kb(t.b.pid);
    invoke_hostile(&t, NULL);
    long after = vm_rss_kb(t.b.pid);
    cr_expect_eq(num_field(t.json, "rc"), 200L << 20, "%s", t.r.payload);
    cr_expect_lt(after - before, 8 * 1024, "broker RSS grew %ld kB", after - before);
    finish(&t);
}

/* S5: forged protocol messages change no other invocation's result. */
Test(sandbox, s5_forged_protocol_harms_nobody)
{
    run t;
    start(&t, "hostile/forge", NULL);
    long before = vm_rss_kb(t.b.pid);
    for (int i = 0; i < 3; i++) {
        lm_invoke_result r;
        lm_error e;
        memset(&t.r, 0, sizeof(t.r));
        lt_invoke(&t.b, "hostile", NULL, &t.r, &e);
        lm_invoke_result_finish(&t.r);
        cr_assert_eq(lt_invoke(&t.b, "sibling", "{\"n\":7}", &r, &e), 0);
        cr_expect(strstr(r.payload, "7") != NULL, "sibling got %s", r.payload);
        lm_invoke_result_finish(&r);
    }
    cr_expect_lt(vm_rss_kb(t.b.pid) - before, 8 * 1024);
    memset(&t.r, 0, sizeof(t.r));
    finish(&t);
}

/* --unsafe-no-sandbox: loudly marked, and really unsandboxed. */
Test(sandbox, unsafe_mode_is_marked_and_unfiltered)
{
    lt_broker b;
    const char *args[] = {"--unsafe-no-sandbox", NULL};
    lt_broker_start(&b, args);
    lt_create(&b, "who", "hostile/whoami", NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "who", NULL, &r, &e), 0);
    cr_expect(strstr(r.payload, "\"errno\":0") != NULL, "unsafe worker should run as root: %s",
              r.payload);
    lm_invoke_result_finish(&r);
    char *out = NULL;
    lm_call(b.client, "status", "{}", NULL, 0, &out, &e);
    bool marked = out != NULL && strstr(out, "DISABLED") != NULL;
    lt_broker_stop(&b, false);
    cr_expect(marked, "status: %s", out);
    free(out);
}

Test(sandbox, status_reports_layers)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    const char *cli[] = {getenv("LAMINA_CLI_BIN"), "status", NULL};
    char *out = NULL, *err = NULL;
    lt_run(&b, cli, &out, &err);
    cr_expect(out != NULL && strstr(out, "Landlock") != NULL && strstr(out, "Seccomp") != NULL,
              "status: %s", out);
    free(out);
    free(err);
    lt_broker_stop(&b, false);
}

/* No handler code runs with the broker's privileges: constructors and
 * LM_INIT run after the uid drop (sandbox_enter), before the seal. */
Test(sandbox_enter, constructors_and_init_run_unprivileged, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    char env[1400];
    snprintf(env, sizeof(env), "\"Environment\":{\"Variables\":{\"PROBE\":\"%s/lamina.db\"}}",
             b.state);
    lt_create(&b, "priv", "initpriv", env);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "priv", "{}", &r, &e), LM_OK, "%s", e.message);
    cJSON *j = cJSON_Parse(r.payload);
    cr_assert_not_null(j, "%s", r.payload);
    if (geteuid() == 0) {
        cr_expect_neq(num_field(j, "ctor_uid"), 0, "a constructor ran as root: %s", r.payload);
        cr_expect_neq(num_field(j, "init_uid"), 0, "init ran as root: %s", r.payload);
    }
    cr_expect_eq(num_field(j, "open_errno"), EACCES, "init could read the broker's store: %s",
                 r.payload);
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
    lt_broker_stop(&b, false);
}

/* ---- load-time escapes (issue 10) ----
 *
 * A constructor, LM_INIT or a thread started there runs under the load
 * layer (runtime/sandbox_policy.c): a fork by any route fails (EPERM, or
 * ENOSYS for clone3) and init goes on; a trapped call kills the worker
 * during init (Runtime.SandboxViolation naming it).  Each test then looks
 * in /proc for anything the worker made — a child (ppid = the worker), a
 * process named with the handler's ESCAPE_TAG, one of the slot's uid whose
 * parent is not a broker (another broker's worker may share the uid), or
 * one in the worker's own cgroups — right after the invoke, after the
 * environment is retired and after the broker stops. */

typedef struct origin {
    pid_t pid; /* the worker */
    long uid; /* its slot's uid */
    char cgroups[2048]; /* /proc/<worker>/cgroup; "" when the same as ours */
    char tag[16]; /* comm of the hostile handler's children */
} origin;

static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, cap - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    buf[n] = '\0';
    return n;
}

static void proc_read(long pid, const char *what, char *buf, size_t cap)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%ld/%s", pid, what);
    slurp(p, buf, cap);
}

static long proc_ppid(long pid)
{
    char buf[512];
    proc_read(pid, "stat", buf, sizeof(buf));
    const char *rp = strrchr(buf, ')');
    char st;
    int pp = -1;
    if (rp == NULL || sscanf(rp + 2, "%c %d", &st, &pp) != 2) {
        return -1;
    }
    return pp;
}

static long proc_uid(long pid)
{
    char buf[2048];
    proc_read(pid, "status", buf, sizeof(buf));
    const char *u = strstr(buf, "\nUid:");
    long uid = -1;
    if (u != NULL) {
        sscanf(u + 5, "%ld", &uid);
    }
    return uid;
}

static void proc_comm(long pid, char *buf, size_t cap)
{
    proc_read(pid, "comm", buf, cap);
    buf[strcspn(buf, "\n")] = '\0';
}

/* Does pid belong to what o's worker made?  (The worker itself does not.) */
static bool made_by(const origin *o, long pid)
{
    char comm[64], cg[2048], pcomm[64];
    long ppid = proc_ppid(pid);
    if (pid == o->pid || ppid < 0) {
        return false; /* the worker, or gone while we looked */
    }
    proc_comm(pid, comm, sizeof(comm));
    if (ppid == o->pid || strcmp(comm, o->tag) == 0) {
        return true;
    }
    if (o->uid != (long)getuid() && proc_uid(pid) == o->uid) {
        proc_comm(ppid, pcomm, sizeof(pcomm));
        if (strcmp(pcomm, "lamina-broker") != 0) {
            return true; /* the slot's uid, and not a broker's worker */
        }
    }
    proc_read(pid, "cgroup", cg, sizeof(cg));
    return o->cgroups[0] != '\0' && strcmp(cg, o->cgroups) == 0;
}

/* How many processes o's worker made are alive; `list` names them. */
static int escapees(const origin *o, char *list, size_t cap)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;
    list[0] = '\0';
    while (d != NULL && (de = readdir(d)) != NULL) {
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0 || !made_by(o, pid)) {
            continue;
        }
        char comm[64];
        proc_comm(pid, comm, sizeof(comm));
        size_t at = strlen(list);
        snprintf(list + at, cap - at, "%ld (%s, ppid %ld, uid %ld) ", pid, comm, proc_ppid(pid),
                 proc_uid(pid));
        n++;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void expect_no_escapee(const origin *o, const char *when)
{
    char list[2048];
    int n = escapees(o, list, sizeof(list));
    cr_expect_eq(n, 0, "%s: %d process(es) made by worker %d alive: %s", when, n, (int)o->pid,
                 list);
}

/* Start the suite's pair of functions, the hostile one with ESCAPE_TAG. */
static void escape_start(run *t, const char *handler, origin *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->tag, sizeof(o->tag), "esc%d", (int)(getpid() % 10000000));
    char env[160];
    snprintf(env, sizeof(env), "\"Environment\":{\"Variables\":{\"ESCAPE_TAG\":\"%s\"}}", o->tag);
    start(t, handler, env);
}

/* The worker that answered (its pid and uid are in the payload). */
static void escape_origin(run *t, origin *o)
{
    o->pid = (pid_t)num_field(t->json, "pid");
    o->uid = num_field(t->json, "uid");
    cr_assert_gt(o->pid, 0, "no pid in %s", t->r.payload);
    char mine[2048];
    slurp("/proc/self/cgroup", mine, sizeof(mine));
    proc_read(o->pid, "cgroup", o->cgroups, sizeof(o->cgroups));
    if (strcmp(mine, o->cgroups) == 0) {
        o->cgroups[0] = '\0'; /* no cgroup of its own: not a marker */
    }
}

static bool pid_gone(void *arg)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d", (int)*(pid_t *)arg);
    return access(p, F_OK) != 0;
}

/* Retire the hostile function's environment (a config update, or deleting
 * the function), wait for its worker to be reaped, stop the broker, and
 * look for escapees after each step. */
static void escape_finish(run *t, const origin *o, bool by_delete)
{
    expect_no_escapee(o, "after the invoke");
    const char *cli = getenv("LAMINA_CLI_BIN");
    const char *update[] = {cli, "update-config", "hostile", "--env", "RETIRED=1", NULL};
    const char *del[] = {cli, "delete", "hostile", NULL};
    char *out = NULL, *err = NULL;
    int rc = lt_run(&t->b, by_delete ? del : update, &out, &err);
    cr_expect_eq(rc, 0, "%s: %s %s", by_delete ? "delete" : "update-config", out, err);
    free(out);
    free(err);
    pid_t w = o->pid;
    cr_expect(lt_wait_until(pid_gone, &w, 10000), "worker %d outlived its environment", (int)w);
    expect_no_escapee(o, "after the environment was retired");
    t->before = state_hash(&t->b); /* the update/delete changed the store, on purpose */
    finish(t);
    expect_no_escapee(o, "after the broker stopped");
}

Test(sandbox_load, constructor_fork_fails_by_every_route)
{
    run t;
    origin o;
    escape_start(&t, "hostile/ctor_fork", &o);
    invoke_hostile(&t, NULL);
    escape_origin(&t, &o);
    cr_expect_str_eq(t.r.function_error, "", "%s", t.r.payload);
    /* the constructor already ran under the load layer, and it alone */
    cr_expect_eq(num_field(t.json, "seccomp"), 2, "constructor not filtered: %s", t.r.payload);
    long filters = num_field(t.json, "filters");
    cr_expect(filters == 1 || filters == -1, "constructor saw %ld filters: %s", filters,
              t.r.payload);
    cr_expect_eq(num_field(t.json, "fork"), -1, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "fork_errno"), EPERM, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "sys_fork"), -1, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "sys_fork_errno"), EPERM, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "clone3"), -1, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "clone3_errno"), ENOSYS, "%s", t.r.payload);
    escape_finish(&t, &o, false);
}

Test(sandbox_load, init_fork_fails_and_init_goes_on)
{
    run t;
    origin o;
    escape_start(&t, "hostile/init_fork", &o);
    invoke_hostile(&t, NULL);
    escape_origin(&t, &o);
    cr_expect_str_eq(t.r.function_error, "", "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "fork"), -1, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "fork_errno"), EPERM, "%s", t.r.payload);
    escape_finish(&t, &o, false);
}

Test(sandbox_load, threads_from_init_cannot_fork_during_init_or_later)
{
    run t;
    origin o;
    escape_start(&t, "hostile/init_thread_fork", &o);
    invoke_hostile(&t, NULL);
    escape_origin(&t, &o);
    cr_expect_str_eq(t.r.function_error, "", "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "threads"), 3, "threads not started: %s", t.r.payload);
    cr_expect_eq(num_field(t.json, "init_fork"), -1, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "init_errno"), EPERM, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "late_fork"), -1, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "late_errno"), EPERM, "%s", t.r.payload);
    escape_finish(&t, &o, false);
}

Test(sandbox_load, constructor_daemon_is_never_made)
{
    run t;
    origin o;
    escape_start(&t, "hostile/ctor_daemon", &o);
    invoke_hostile(&t, NULL);
    escape_origin(&t, &o);
    cr_expect_str_eq(t.r.function_error, "", "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "fork"), -1, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "fork_errno"), EPERM, "%s", t.r.payload);
    cr_expect_eq(num_field(t.json, "daemon"), 0, "a daemon was made: %s", t.r.payload);
    escape_finish(&t, &o, true);
}

/* A call the load layer traps kills the worker during init; the reporter
 * (installed before the load layer) names it and the invoke that started
 * the environment fails with it. */
static void expect_init_violation(const char *handler, const char *sys)
{
    run t;
    start(&t, handler, NULL);
    invoke_hostile(&t, NULL);
    char want[96];
    snprintf(want, sizeof(want), "forbidden syscall %s) (during init)", sys);
    cr_expect_str_eq(t.r.function_error, "Unhandled", "%s", t.r.payload);
    cr_expect_str_eq(str_field(t.json, "errorType"), "Runtime.SandboxViolation", "%s", t.r.payload);
    cr_expect(strstr(str_field(t.json, "errorMessage"), want) != NULL, "want \"%s\": %s", want,
              t.r.payload);
    finish(&t);
}

Test(sandbox_load, constructor_execve_is_a_violation_during_init)
{
    expect_init_violation("hostile/ctor_execve", "execve");
}

Test(sandbox_load, init_signalling_the_broker_is_a_violation_during_init)
{
    expect_init_violation("hostile/init_kill", "kill");
}
