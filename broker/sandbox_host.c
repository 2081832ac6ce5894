/*
 * broker/sandbox_host.c — what the broker does on the host for each
 * worker's sandbox (issue #3); the worker applies the rest itself
 * (runtime/sandbox_apply.c).
 *
 * Per worker, one slot of a fixed table, guarded by its own leaf mutex:
 *   - a uid/gid (SBXHOST_UID_BASE + slot) when the broker runs as root, so
 *     each worker has a uid of its own (RLIMIT_NPROC counts per uid, and
 *     workers cannot signal or ptrace one another);
 *   - a private tmp dir, /tmp/lamina-<broker pid>/<slot>, mode 0700 owned by
 *     the worker's uid: a tmpfs of SBX tmp size (64 MiB, 4096 inodes,
 *     nosuid,nodev,noexec) when we may mount, else a plain directory capped
 *     per file by RLIMIT_FSIZE.  Nothing survives the worker: it is
 *     unmounted and removed after the reap;
 *   - a memory cgroup (v1 memory controller or v2 memory.max, whichever is
 *     writable) limited to the function's memory size; the worker joins it
 *     itself before dropping root.  Removed after the reap, once we have
 *     read its OOM-kill counter;
 *   - a report pipe whose write end becomes the worker's fd 3: the
 *     runtime's SIGSYS reporter writes "SIGSYS <nr> <name>" there before it
 *     dies, and we read it after waitpid.
 * The base directory and cgroup parent are created on first use.  Nothing
 * here runs under B.mtx except sbxhost_acquire/status (memory and cached
 * probes only).  Set LAMINA_SANDBOX_NO_CGROUP=1 in the broker's environment
 * to run with rlimits only (tests use it to cover both memory layers).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox_host.h"

#define CG_V1_ROOT "/sys/fs/cgroup/memory"
#define CG_V2_ROOT "/sys/fs/cgroup"
#define TMP_BYTES (64ULL * 1024 * 1024)
#define TMP_INODES 4096

typedef struct slot {
    bool used;
    bool mounted;
    pid_t pid;
    int report_r, report_w; /* ours / the child's fd 3 */
    char tmp[128];
    char cgroup[160]; /* "" when none */
} slot;

static struct {
    pthread_mutex_t mtx;
    slot s[SBXHOST_SLOTS];
    int in_use;
} T = {.mtx = PTHREAD_MUTEX_INITIALIZER};

/* ---- probes (cached) ---- */

enum { CG_NONE, CG_V1, CG_V2 };

static struct {
    pthread_once_t once;
    int landlock_abi;
    bool seccomp;
    int cgroup; /* CG_* */
    char cg_parent[96]; /* e.g. /sys/fs/cgroup/memory/lamina */
    char cpu_group[64]; /* shared v1 cpu cgroup of all workers, "" if none */
    bool root;
} P = {.once = PTHREAD_ONCE_INIT};

static bool file_has(const char *path, const char *word)
{
    char buf[512];
    FILE *f = fopen(path, "re");
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    buf[n] = '\0';
    return strstr(buf, word) != NULL;
}

/* The broker and all its workers share one cpu cgroup (v1): one
 * scheduling unit, inside which threads compete fairly.  Without it, the
 * new session each worker starts (setsid) is also a scheduler autogroup of
 * its own: with 64 busy workers the broker, which serves every one of
 * them, got 1/65 of the CPU and p99 at 64 callers grew from 23 ms to
 * 200 ms. */
static void probe_once(void);
static int write_str(const char *dir, const char *file, const char *val);

static void probe_cpu_group(void)
{
    const char *dir = "/sys/fs/cgroup/cpu/lamina";
    if (!P.root || access("/sys/fs/cgroup/cpu/cpu.shares", F_OK) != 0) {
        return;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        return;
    }
    /* the broker joins too: broker and workers are one scheduling unit */
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    if (write_str(dir, "cgroup.procs", pid) == 0) {
        snprintf(P.cpu_group, sizeof(P.cpu_group), "%s", dir);
    }
}

const char *sbxhost_cpu_group(void)
{
    probe_once();
    return P.cpu_group[0] != '\0' ? P.cpu_group : NULL;
}

static void probe(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U);
    P.landlock_abi = abi > 0 ? (int)abi : 0;
    P.seccomp = file_has("/proc/sys/kernel/seccomp/actions_avail", "kill_process");
    P.root = geteuid() == 0;
    const char *no = getenv("LAMINA_SANDBOX_NO_CGROUP");
    if (no != NULL && strcmp(no, "1") == 0) {
        return;
    }
    probe_cpu_group();
    if (access(CG_V1_ROOT "/memory.limit_in_bytes", F_OK) == 0 && access(CG_V1_ROOT, W_OK) == 0) {
        P.cgroup = CG_V1;
        snprintf(P.cg_parent, sizeof(P.cg_parent), "%s/lamina", CG_V1_ROOT);
    } else if (file_has(CG_V2_ROOT "/cgroup.controllers", "memory") &&
               access(CG_V2_ROOT, W_OK) == 0) {
        P.cgroup = CG_V2;
        snprintf(P.cg_parent, sizeof(P.cg_parent), "%s/lamina", CG_V2_ROOT);
    }
}

static void probe_once(void)
{
    pthread_once(&P.once, probe);
}

/* ---- slot table ---- */

int sbxhost_acquire(void)
{
    probe_once();
    int found = -1;
    pthread_mutex_lock(&T.mtx);
    for (int i = 0; i < SBXHOST_SLOTS; i++) {
        if (!T.s[i].used) {
            memset(&T.s[i], 0, sizeof(T.s[i]));
            T.s[i].used = true;
            T.s[i].report_r = T.s[i].report_w = -1;
            snprintf(T.s[i].tmp, sizeof(T.s[i].tmp), "/tmp/lamina-%d/%d", (int)getpid(), i);
            if (P.cgroup != CG_NONE) {
                snprintf(T.s[i].cgroup, sizeof(T.s[i].cgroup), "%s/%d-%d", P.cg_parent,
                         (int)getpid(), i);
            }
            T.in_use++;
            found = i;
            break;
        }
    }
    pthread_mutex_unlock(&T.mtx);
    return found;
}

const char *sbxhost_tmp(int slot)
{
    return T.s[slot].tmp;
}
const char *sbxhost_cgroup(int slot)
{
    return T.s[slot].cgroup[0] != '\0' ? T.s[slot].cgroup : NULL;
}
long sbxhost_uid(int slot)
{
    return P.root ? SBXHOST_UID_BASE + slot : -1;
}
int sbxhost_report_fd(int slot)
{
    return slot >= 0 ? T.s[slot].report_w : -1;
}

static int write_str(const char *dir, const char *file, const char *val)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = write(fd, val, strlen(val));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(val) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);

static int setup_tmp(slot *s, long uid, char *err, size_t errlen)
{
    char base[64];
    snprintf(base, sizeof(base), "/tmp/lamina-%d", (int)getpid());
    if (mkdir(base, 0711) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(%s): %s", base, strerror(errno));
        return -1;
    }
    int rc = mkdir(s->tmp, 0700);
    if (rc != 0 && errno == EEXIST) {
        /* left behind by an earlier broker with our pid that was killed */
        umount2(s->tmp, MNT_DETACH);
        nftw(s->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        rc = mkdir(s->tmp, 0700);
    }
    if (rc != 0) {
        snprintf(err, errlen, "mkdir(%s): %s", s->tmp, strerror(errno));
        return -1;
    }
    if (uid >= 0) {
        char opts[128];
        snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%d,mode=0700,uid=%ld,gid=%ld",
                 (unsigned long long)TMP_BYTES, TMP_INODES, uid, uid);
        if (mount("lamina-tmp", s->tmp, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) != 0) {
            snprintf(err, errlen, "mount(tmpfs, %s): %s", s->tmp, strerror(errno));
            return -1;
        }
        s->mounted = true;
    }
    return 0;
}

static int setup_cgroup(slot *s, uint32_t memory_mb, char *err, size_t errlen)
{
    if (P.cgroup == CG_NONE) {
        return 0;
    }
    if (mkdir(P.cg_parent, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(%s): %s", P.cg_parent, strerror(errno));
        return -1;
    }
    if (P.cgroup == CG_V2) {
        write_str(CG_V2_ROOT, "cgroup.subtree_control", "+memory");
        write_str(P.cg_parent, "cgroup.subtree_control", "+memory");
    }
    if (mkdir(s->cgroup, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(%s): %s", s->cgroup, strerror(errno));
        s->cgroup[0] = '\0';
        return -1;
    }
    char val[32];
    snprintf(val, sizeof(val), "%llu", (unsigned long long)memory_mb << 20);
    const char *file = P.cgroup == CG_V1 ? "memory.limit_in_bytes" : "memory.max";
    if (write_str(s->cgroup, file, val) != 0) {
        snprintf(err, errlen, "write(%s/%s): %s", s->cgroup, file, strerror(errno));
        return -1;
    }
    if (P.cgroup == CG_V2) {
        write_str(s->cgroup, "memory.oom.group", "1");
        write_str(s->cgroup, "memory.swap.max", "0");
    }
    return 0;
}

int sbxhost_setup(int idx, uint32_t memory_mb, char *err, size_t errlen)
{
    slot *s = &T.s[idx];
    int p[2];
    if (setup_tmp(s, sbxhost_uid(idx), err, errlen) != 0 ||
        setup_cgroup(s, memory_mb, err, errlen) != 0) {
        return -1;
    }
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe2(report): %s", strerror(errno));
        return -1;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    s->report_r = p[0];
    s->report_w = p[1];
    return 0;
}

void sbxhost_bind(int idx, pid_t pid)
{
    pthread_mutex_lock(&T.mtx);
    T.s[idx].pid = pid;
    pthread_mutex_unlock(&T.mtx);
    if (T.s[idx].report_w >= 0) {
        close(T.s[idx].report_w);
        T.s[idx].report_w = -1;
    }
}

/* ---- cleanup and verdicts ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP) {
        rmdir(path);
    } else {
        unlink(path);
    }
    return 0;
}

static void cleanup(slot *s)
{
    if (s->report_r >= 0) {
        close(s->report_r);
    }
    if (s->report_w >= 0) {
        close(s->report_w);
    }
    if (s->mounted) {
        umount2(s->tmp, MNT_DETACH);
    }
    nftw(s->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (s->cgroup[0] != '\0') {
        for (int i = 0; i < 50 && rmdir(s->cgroup) != 0 && errno == EBUSY; i++) {
            usleep(2000);
        }
    }
}

static void free_slot(slot *s)
{
    char base[64];
    pthread_mutex_lock(&T.mtx);
    s->used = false;
    s->pid = 0;
    bool last = --T.in_use == 0;
    pthread_mutex_unlock(&T.mtx);
    if (last) {
        snprintf(base, sizeof(base), "/tmp/lamina-%d", (int)getpid());
        rmdir(base);
    }
}

void sbxhost_release(int idx)
{
    if (idx < 0) {
        return;
    }
    cleanup(&T.s[idx]);
    free_slot(&T.s[idx]);
}

static long oom_kills(const slot *s)
{
    char path[256], line[128];
    long n = 0;
    snprintf(path, sizeof(path), "%s/%s", s->cgroup,
             P.cgroup == CG_V1 ? "memory.oom_control" : "memory.events");
    FILE *f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "oom_kill %ld", &n) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

/* The last "SIGSYS <nr> <name>" line in the report pipe. */
static void read_report(const slot *s, sbx_verdict *v)
{
    char buf[4096];
    ssize_t n = s->report_r >= 0 ? read(s->report_r, buf, sizeof(buf) - 1) : -1;
    snprintf(v->syscall, sizeof(v->syscall), "unknown");
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    char *line = buf, *last = NULL;
    for (char *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        if (strncmp(line, "SIGSYS ", 7) == 0) {
            last = line;
        }
    }
    long nr;
    char name[48];
    if (last != NULL && sscanf(last, "SIGSYS %ld %47s", &nr, name) == 2) {
        if (strcmp(name, "unknown") == 0 && nr >= 0) {
            snprintf(v->syscall, sizeof(v->syscall), "syscall %ld", nr);
        } else {
            snprintf(v->syscall, sizeof(v->syscall), "%s", name);
        }
    }
}

void sbxhost_reaped(pid_t pid, int st, sbx_verdict *v)
{
    memset(v, 0, sizeof(*v));
    slot *s = NULL;
    pthread_mutex_lock(&T.mtx);
    for (int i = 0; i < SBXHOST_SLOTS && pid > 0; i++) {
        if (T.s[i].used && T.s[i].pid == pid) {
            s = &T.s[i];
            break;
        }
    }
    pthread_mutex_unlock(&T.mtx);
    if (s == NULL) {
        return;
    }
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
        v->kind = SBX_V_VIOLATION;
        read_report(s, v);
    } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && s->cgroup[0] != '\0' &&
               oom_kills(s) > 0) {
        v->kind = SBX_V_OOM;
    }
    cleanup(s);
    free_slot(s);
}

/* ---- status ---- */

void sbxhost_write_status(proto_writer *w, bool unsafe)
{
    probe_once();
    char ll[64], cg[160];
    if (P.landlock_abi > 0) {
        snprintf(ll, sizeof(ll), "active (ABI %d)", P.landlock_abi);
    } else {
        snprintf(ll, sizeof(ll), "unavailable (uid and rlimits only)");
    }
    if (P.cgroup != CG_NONE) {
        snprintf(cg, sizeof(cg), "active (%s, %s)",
                 P.cgroup == CG_V1 ? "v1 memory" : "v2 memory.max", P.cg_parent);
    } else {
        snprintf(cg, sizeof(cg), "inactive (not writable: rlimits only)");
    }
    pw_map(w, 9);
    pw_key(w, "Mode");
    pw_str(w, unsafe ? "DISABLED (unsafe: workers run unsandboxed)" : "enabled");
    pw_key(w, "Seccomp");
    pw_str(w, unsafe      ? "off"
              : P.seccomp ? "active (allowlist, TSYNC, violation = SIGSYS)"
                          : "unavailable");
    pw_key(w, "Landlock");
    pw_str(w, unsafe ? "off" : ll);
    pw_key(w, "MemoryCgroup");
    pw_str(w, unsafe ? "off" : cg);
    pw_key(w, "UidDrop");
    pw_str(w, unsafe   ? "off"
              : P.root ? "active (uid 60000 + slot, no capabilities)"
                       : "inactive (broker not root)");
    pw_key(w, "Tmp");
    pw_str(w, unsafe   ? "off"
              : P.root ? "tmpfs 64 MiB per environment"
                       : "directory per environment (RLIMIT_FSIZE)");
    pw_key(w, "Rlimits");
    pw_str(w, unsafe ? "off" : "active (hard = soft)");
    pw_key(w, "NoNewPrivs");
    pw_bool(w, !unsafe);
    pw_key(w, "CpuGroup");
    pw_str(w, P.cpu_group[0] != '\0' ? "broker and workers share /sys/fs/cgroup/cpu/lamina"
                                     : "none (scheduler default)");
}
