/*
 * broker/core/sbxhost.c — what the broker does on the host for each
 * worker's sandbox (issues #3, #10); the worker applies the rest itself
 * (runtime/sandbox_apply.c).
 *
 * Per worker, one slot of a fixed table, guarded by its own leaf mutex:
 *   - a uid/gid when the broker runs as root, one no other live
 *     environment on the machine has and no process runs as (see "uids");
 *   - a private tmp dir, /tmp/lamina-<id>/<slot>, mode 0700 owned by the
 *     worker's uid: a tmpfs of SBX tmp size (64 MiB, 4096 inodes,
 *     nosuid,nodev,noexec) when we may mount, else a plain directory capped
 *     per file by RLIMIT_FSIZE;
 *   - a memory cgroup (v1 memory controller or v2 memory.max, whichever is
 *     writable) limited to the function's memory size, and a pids cgroup
 *     (v1 pids controller; on v2 the same directory) with pids.max
 *     SBXHOST_PIDS_MAX, the same 64 as the worker's RLIMIT_NPROC: the
 *     rlimit counts per uid, the cgroup holds every process the
 *     environment ever creates, whatever its uid.  The worker joins both
 *     itself before dropping root (LAMINA_CGROUP, LAMINA_PIDS_CGROUP);
 *   - a report pipe whose write end becomes the worker's fd 3: the
 *     runtime's SIGSYS reporter writes "SIGSYS <nr> <name>" there before it
 *     dies, and we read it after waitpid.
 *
 * Ending an environment (the reaper thread, after waitpid; never under
 * B.mtx), in this order: read the verdict (report pipe, OOM counter);
 * freeze forks (pids.max 0) and SIGKILL everything left in its cgroups
 * until cgroup.procs is empty (v2: cgroup.kill) — a pid read from
 * cgroup.procs is signalled through a pidfd, and only if it is still
 * listed after the pidfd was opened, so a reused pid is never hit; kill
 * every process left with its uid; unmount its tmp dir (every stacked
 * mount) and remove it, and verify it is gone; remove its cgroups; only
 * then hand back the uid and free the slot.  A slot whose cleanup did not
 * finish stays out of use ("stuck", with its uid) and is retried at later
 * reaps (at most once a second) and at stop.
 *
 * uids.  Every broker on the machine (tests run two at once) draws from
 * SBXHOST_UID_BASE .. +SBXHOST_UID_COUNT-1.  A uid is ours while we hold
 * an OFD write lock on its byte of /run/lamina/uids.lock (root's, 0600):
 * no other broker takes it, and the kernel drops the lock if we die.  A
 * uid freshly locked, and every uid an environment gave back, is made
 * clean before anyone gets it: a vfork'd child takes the uid with the raw
 * setresuid syscall (glibc's would change every thread of the broker) and
 * calls kill(-1, SIGKILL), which signals every process whose real or
 * saved uid it is, atomically with respect to fork (a process forking as
 * it is hit gets no child out); then a /proc scan
 * checks that no live process has it as real, effective, saved or
 * filesystem uid (zombies are dead), repeating for up to 500 ms while the
 * killed ones exit.  kill(-1) cannot be the check itself: it returns 0 as
 * long as any other process exists, signalled or not.  A uid that does not
 * come clean is quarantined — kept locked, handed to nobody — and looked
 * at again before a fresh uid is taken and on later reaps.  Clean uids
 * stay locked by us for reuse, so a warm broker's cold starts pay no check
 * (cost here: the sweep 0.06 ms, the scan 0.4 ms at ~100 processes).
 *
 * Names carry a stable id of the state dir, "sd-" + 16 hex of the sha256
 * of its realpath (not the broker's pid): a broker restarted on the same
 * state dir finds what its predecessor left (sbxhost_init): it kills the
 * processes in "lamina/<id>-*" cgroups, unmounts and removes
 * /tmp/lamina-<id>, removes the cgroups, and cleans worker uids that
 * processes still run as but no live broker holds.  Another broker's
 * resources carry another id or a held uid lock; main.c holds the state
 * dir's lock, so a predecessor with our id is dead.  /tmp/lamina-<id> is
 * used only if it is a real directory of ours, mode 0711, never a link.
 *
 * The cgroup parents are created on first use.  Nothing here runs under
 * B.mtx except sbxhost_acquire/status (memory and cached probes only).
 * Set LAMINA_SANDBOX_NO_CGROUP=1 in the broker's environment to run with
 * rlimits only (tests use it to cover both memory layers).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "core/sbxhost.h"

#define CG_V1_ROOT "/sys/fs/cgroup/memory"
#define CG_PIDS_V1_ROOT "/sys/fs/cgroup/pids"
#define CG_V2_ROOT "/sys/fs/cgroup"
#define UID_LOCK_DIR "/run/lamina"
#define UID_LOCK_FILE UID_LOCK_DIR "/uids.lock"
#define TMP_BYTES (64ULL * 1024 * 1024)
#define TMP_INODES 4096
#define KILL_BUDGET_MS 2000.0 /* emptying one cgroup */
#define UID_CLEAN_MS 500.0 /* waiting for a uid's killed processes to exit */
#define RETRY_EVERY_MS 1000.0 /* stuck slots, quarantined uids */
#define MAX_PIDS 512 /* per read of cgroup.procs (a loop reads again) */

typedef struct slot {
    bool used;
    bool mounted;
    bool stuck; /* cleanup did not finish: out of use, retried */
    pid_t pid;
    long uid; /* -1: none */
    int report_r, report_w; /* ours / the child's fd 3 */
    char tmp[128];
    char cgroup[160]; /* memory cgroup (v2: all controllers), "" when none */
    char pids[160]; /* v1 pids cgroup, "" when none or v2 */
} slot;

enum { UID_FREE = 0, UID_TAKING, UID_CLEAN, UID_USED, UID_QUARANTINED };

static struct {
    pthread_mutex_t mtx;
    slot s[SBXHOST_SLOTS];
    int in_use;
    int stuck;
    unsigned char uid[SBXHOST_UID_COUNT]; /* UID_* */
    int uids_held; /* locked by us: clean, in use or quarantined */
    int quarantined;
    int lock_fd; /* UID_LOCK_FILE, -1 until opened */
    double retry_at;
} T = {.mtx = PTHREAD_MUTEX_INITIALIZER, .lock_fd = -1};

/* ---- probes (cached) ---- */

enum { CG_NONE, CG_V1, CG_V2 };

static struct {
    pthread_once_t once;
    int landlock_abi;
    bool seccomp;
    int cgroup; /* CG_* (memory) */
    char cg_parent[96]; /* e.g. /sys/fs/cgroup/memory/lamina */
    int pids; /* CG_NONE, CG_V1 (own hierarchy) or CG_V2 (in cg_parent's children) */
    char pids_parent[96]; /* v1: /sys/fs/cgroup/pids/lamina */
    char cpu_group[64]; /* shared v1 cpu cgroup of all workers, "" if none */
    bool root;
    char id[24]; /* "sd-<16 hex>": names this broker's resources */
    char tmp_base[64]; /* /tmp/lamina-<id> */
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
    if (access(CG_PIDS_V1_ROOT "/cgroup.procs", F_OK) == 0 && access(CG_PIDS_V1_ROOT, W_OK) == 0) {
        P.pids = CG_V1;
        snprintf(P.pids_parent, sizeof(P.pids_parent), "%s/lamina", CG_PIDS_V1_ROOT);
    } else if (P.cgroup == CG_V2 && file_has(CG_V2_ROOT "/cgroup.controllers", "pids")) {
        P.pids = CG_V2;
    }
}

static void probe_once(void)
{
    pthread_once(&P.once, probe);
}

/* ---- small file helpers ---- */

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

/* The pids in dir/cgroup.procs (at most cap); -1 when it cannot be read. */
static int read_procs(const char *dir, pid_t *out, int cap)
{
    char path[256], buf[8192];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t len = 0;
    ssize_t k;
    while (len < sizeof(buf) - 1 && (k = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    int n = 0;
    for (char *p = buf, *end; n < cap && *p != '\0'; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        if (v > 0) {
            out[n++] = (pid_t)v;
        }
    }
    return n;
}

static bool listed(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; i++) {
        if (pids[i] == pid) {
            return true;
        }
    }
    return false;
}

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

/* Remove a tree without following links or entering other mounts. */
static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Is path a mount point (its own device, or the root of a stacked mount)? */
static bool is_mount_point(const char *path)
{
    struct stat a, b;
    char parent[256];
    snprintf(parent, sizeof(parent), "%s/..", path);
    return lstat(path, &a) == 0 && S_ISDIR(a.st_mode) && stat(parent, &b) == 0 &&
           a.st_dev != b.st_dev;
}

/* Unmount every mount stacked on path.  0 when none is left. */
static int unmount_all(const char *path, int *count)
{
    for (int i = 0; i < 16 && is_mount_point(path); i++) {
        if (umount2(path, UMOUNT_NOFOLLOW) != 0 &&
            umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH) != 0) {
            return -1;
        }
        if (count != NULL) {
            (*count)++;
        }
    }
    return is_mount_point(path) ? -1 : 0;
}

/* ---- ending processes ---- */

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* SIGKILL every process listed in dir/cgroup.procs.  Each pid is pinned
 * with a pidfd first and signalled only if a second read still lists it:
 * a pid that was reused after the first read belongs to a process outside
 * the cgroup (nothing can join it but root) and is left alone.  Returns how
 * many the first read listed (0: empty or gone). */
static int kill_listed(const char *dir)
{
    pid_t first[MAX_PIDS], again[MAX_PIDS];
    int fds[MAX_PIDS];
    int n = read_procs(dir, first, MAX_PIDS);
    if (n <= 0) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        fds[i] = pidfd_open_(first[i]);
    }
    int m = read_procs(dir, again, MAX_PIDS);
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0 && listed(again, m, first[i])) {
            syscall(SYS_pidfd_send_signal, fds[i], SIGKILL, NULL, 0);
        }
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    return n;
}

/* Stop forks in dir (pids.max 0; v2 also cgroup.kill) and SIGKILL what is
 * in it until cgroup.procs is empty.  *found += processes seen at first.
 * 0 when empty (or absent), -1 when still populated after the budget. */
static int empty_cgroup(const char *dir, int *found)
{
    if (dir[0] == '\0' || access(dir, F_OK) != 0) {
        return 0;
    }
    write_str(dir, "pids.max", "0"); /* absent in a v1 memory cgroup: ignored */
    write_str(dir, "cgroup.kill", "1"); /* v2 (5.14+) only */
    double end = clk_mono_ms() + KILL_BUDGET_MS;
    for (int round = 0;; round++) {
        int n = kill_listed(dir);
        if (round == 0 && found != NULL) {
            *found += n;
        }
        if (n == 0) {
            return 0;
        }
        if (clk_mono_ms() >= end) {
            return -1;
        }
        usleep(1000);
    }
}

/* 0 when dir is gone. */
static int remove_cgroup(const char *dir)
{
    if (dir[0] == '\0') {
        return 0;
    }
    for (int i = 0; i < 50; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT) {
            return 0;
        }
        if (errno != EBUSY) {
            return -1;
        }
        usleep(2000);
    }
    return -1;
}

/* ---- uids ---- */

/* SIGKILL every process whose real or saved uid is uid, in one atomic
 * step (see the head comment).  The vfork child shares the broker's
 * memory while this thread waits, so it makes raw syscalls only; vfork,
 * not a raw clone, because every sanitizer knows it.  The reaper's
 * waitpid(-1) may collect the child first: it finds no worker by that pid
 * and our waitpid gets ECHILD, which is fine. */
static void sweep_uid(long uid)
{
    pid_t c = vfork();
    if (c == 0) {
        if (syscall(SYS_setresuid, uid, uid, uid) == 0) {
            syscall(SYS_kill, -1, SIGKILL);
        }
        _exit(0);
    }
    while (c > 0 && waitpid(c, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* Live processes (not zombies) with uid as real, effective, saved or
 * filesystem uid, from /proc.  uid -1: those with any worker uid, which
 * are collected in out (at most cap, may repeat). */
static int uid_procs(long uid, long *out, int cap)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9') {
            continue;
        }
        char path[300], buf[2048];
        snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        ssize_t k = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (k <= 0) {
            continue;
        }
        buf[k] = '\0';
        const char *st = strstr(buf, "\nState:\t");
        const char *u = strstr(buf, "\nUid:\t");
        long id[4];
        if (u == NULL || (st != NULL && (st[8] == 'Z' || st[8] == 'X')) ||
            sscanf(u + 6, "%ld %ld %ld %ld", &id[0], &id[1], &id[2], &id[3]) != 4) {
            continue;
        }
        for (int i = 0; i < 4; i++) {
            bool ours = uid >= 0 ? id[i] == uid
                                 : id[i] >= SBXHOST_UID_BASE &&
                                       id[i] < SBXHOST_UID_BASE + SBXHOST_UID_COUNT;
            if (ours) {
                if (out != NULL && n < cap) {
                    out[n] = id[i];
                }
                n++;
                break;
            }
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* Kill what runs as uid, then wait (up to budget_ms) until no live
 * process has it.  true when clean. */
static bool clean_uid(long uid, double budget_ms)
{
    double end = clk_mono_ms() + budget_ms;
    for (;;) {
        sweep_uid(uid);
        if (uid_procs(uid, NULL, 0) == 0) {
            return true;
        }
        if (clk_mono_ms() >= end) {
            return false;
        }
        usleep(2000);
    }
}

/* The lock file shared by every broker: root's dir and file, no links. */
static int open_uid_locks(char *err, size_t errlen)
{
    pthread_mutex_lock(&T.mtx);
    int fd = T.lock_fd;
    pthread_mutex_unlock(&T.mtx);
    if (fd >= 0) {
        return 0;
    }
    struct stat st;
    if ((mkdir(UID_LOCK_DIR, 0700) != 0 && errno != EEXIST) || lstat(UID_LOCK_DIR, &st) != 0) {
        snprintf(err, errlen, "mkdir(%s): %s", UID_LOCK_DIR, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
        snprintf(err, errlen, "%s is not a directory of root's that only root may write",
                 UID_LOCK_DIR);
        return -1;
    }
    fd = open(UID_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "open(%s): %s", UID_LOCK_FILE, strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&T.mtx);
    if (T.lock_fd < 0) {
        T.lock_fd = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&T.mtx);
    if (fd >= 0) {
        close(fd);
    }
    return 0;
}

/* Lock (F_WRLCK) or unlock (F_UNLCK) uid index i for this broker. */
static bool uid_lock(int i, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = i, .l_len = 1};
    return fcntl(T.lock_fd, F_OFD_SETLK, &fl) == 0;
}

static void set_uid_state(int i, int state)
{
    pthread_mutex_lock(&T.mtx);
    int was = T.uid[i];
    T.uid[i] = (unsigned char)state;
    T.quarantined += (state == UID_QUARANTINED) - (was == UID_QUARANTINED);
    T.uids_held += (state >= UID_CLEAN) - (was >= UID_CLEAN);
    pthread_mutex_unlock(&T.mtx);
}

/* Look at up to max quarantined uids again; those now clean become
 * clean.  Returns how many did. */
static int recheck_quarantine(int max)
{
    int n = 0;
    for (int i = 0; i < SBXHOST_UID_COUNT && max > 0; i++) {
        pthread_mutex_lock(&T.mtx);
        bool q = T.uid[i] == UID_QUARANTINED;
        if (q) {
            T.uid[i] = UID_TAKING; /* ours alone while we look */
            T.quarantined--;
        }
        pthread_mutex_unlock(&T.mtx);
        if (!q) {
            continue;
        }
        max--;
        bool ok = clean_uid(SBXHOST_UID_BASE + i, 0);
        pthread_mutex_lock(&T.mtx);
        T.uid[i] = ok ? UID_CLEAN : UID_QUARANTINED;
        T.quarantined += !ok;
        pthread_mutex_unlock(&T.mtx);
        if (ok) {
            blog(LOG_INFO, "sandbox: uid %d is clean again, out of quarantine",
                 SBXHOST_UID_BASE + i);
            n++;
        }
    }
    return n;
}

static long take_clean_uid(void)
{
    long uid = -1;
    pthread_mutex_lock(&T.mtx);
    for (int i = 0; i < SBXHOST_UID_COUNT; i++) {
        if (T.uid[i] == UID_CLEAN) {
            T.uid[i] = UID_USED;
            uid = SBXHOST_UID_BASE + i;
            break;
        }
    }
    pthread_mutex_unlock(&T.mtx);
    return uid;
}

/* A uid for a new environment: the lowest clean one we hold, else (after
 * a look at quarantined ones) the lowest one no broker holds, made clean.
 * Spawner thread (and start-up) only.  -1 with err when there is none. */
static long take_uid(char *err, size_t errlen)
{
    if (open_uid_locks(err, errlen) != 0) {
        return -1;
    }
    long uid = take_clean_uid();
    if (uid < 0 && recheck_quarantine(8) > 0) {
        uid = take_clean_uid();
    }
    for (int i = 0; uid < 0 && i < SBXHOST_UID_COUNT; i++) {
        pthread_mutex_lock(&T.mtx);
        bool free_here = T.uid[i] == UID_FREE;
        if (free_here) {
            T.uid[i] = UID_TAKING;
        }
        pthread_mutex_unlock(&T.mtx);
        if (!free_here) {
            continue;
        }
        if (!uid_lock(i, F_WRLCK)) { /* another broker's */
            set_uid_state(i, UID_FREE);
            continue;
        }
        if (clean_uid(SBXHOST_UID_BASE + i, UID_CLEAN_MS)) {
            set_uid_state(i, UID_USED);
            uid = SBXHOST_UID_BASE + i;
        } else {
            blog(LOG_WARN, "sandbox: processes of uid %d outlive every kill; quarantined",
                 SBXHOST_UID_BASE + i);
            set_uid_state(i, UID_QUARANTINED);
        }
    }
    if (uid < 0) {
        snprintf(err, errlen, "no free worker uid in %d-%d (held by brokers or quarantined)",
                 SBXHOST_UID_BASE, SBXHOST_UID_BASE + SBXHOST_UID_COUNT - 1);
    }
    return uid;
}

/* An environment is over: clean its uid and keep it for reuse, or
 * quarantine it. */
static void give_back_uid(long uid)
{
    int i = (int)(uid - SBXHOST_UID_BASE);
    if (clean_uid(uid, UID_CLEAN_MS)) {
        set_uid_state(i, UID_CLEAN);
        return;
    }
    blog(LOG_WARN,
         "sandbox: a process of uid %ld outlives its environment and every kill; "
         "uid quarantined",
         uid);
    set_uid_state(i, UID_QUARANTINED);
}

/* ---- slot table ---- */

int sbxhost_acquire(void)
{
    probe_once();
    int found = -1;
    if (P.id[0] == '\0') {
        return -1; /* sbxhost_init did not run: no names to give */
    }
    pthread_mutex_lock(&T.mtx);
    for (int i = 0; i < SBXHOST_SLOTS; i++) {
        slot *s = &T.s[i];
        if (s->used) {
            continue;
        }
        memset(s, 0, sizeof(*s));
        s->used = true;
        s->uid = -1;
        s->report_r = s->report_w = -1;
        snprintf(s->tmp, sizeof(s->tmp), "%s/%d", P.tmp_base, i);
        if (P.cgroup != CG_NONE) {
            snprintf(s->cgroup, sizeof(s->cgroup), "%s/%s-%d", P.cg_parent, P.id, i);
        }
        if (P.pids == CG_V1) {
            snprintf(s->pids, sizeof(s->pids), "%s/%s-%d", P.pids_parent, P.id, i);
        }
        T.in_use++;
        found = i;
        break;
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
const char *sbxhost_pids_cgroup(int slot)
{
    return T.s[slot].pids[0] != '\0' ? T.s[slot].pids : NULL;
}
long sbxhost_uid(int slot)
{
    return T.s[slot].uid;
}
int sbxhost_report_fd(int slot)
{
    return slot >= 0 ? T.s[slot].report_w : -1;
}

/* /tmp/lamina-<id>: created 0711, or accepted only as a real directory of
 * ours that nobody else may write (never a planted link). */
static int tmp_base_ok(char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(P.tmp_base, 0711) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(%s): %s", P.tmp_base, strerror(errno));
        return -1;
    }
    if (lstat(P.tmp_base, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 022) != 0) {
        snprintf(err, errlen, "%s is not a directory of the broker's (owner, mode or a link)",
                 P.tmp_base);
        return -1;
    }
    return 0;
}

/* Unmount and remove the slot's tmp dir; 0 when it is verified gone. */
static int destroy_tmp(slot *s, int *mounts)
{
    if (unmount_all(s->tmp, mounts) != 0) {
        return -1;
    }
    s->mounted = false;
    rm_tree(s->tmp);
    struct stat st;
    return lstat(s->tmp, &st) != 0 && errno == ENOENT ? 0 : -1;
}

static int setup_tmp(slot *s, long uid, char *err, size_t errlen)
{
    if (tmp_base_ok(err, errlen) != 0) {
        return -1;
    }
    int rc = mkdir(s->tmp, 0700);
    if (rc != 0 && errno == EEXIST && destroy_tmp(s, NULL) == 0) {
        rc = mkdir(s->tmp, 0700); /* a cleanup that failed before; never reuse its content */
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

/* mkdir a slot's cgroup; one left by a failed cleanup is emptied first. */
static int make_cgroup(const char *parent, const char *dir, char *err, size_t errlen)
{
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(%s): %s", parent, strerror(errno));
        return -1;
    }
    if (mkdir(dir, 0755) != 0) {
        if (errno != EEXIST || empty_cgroup(dir, NULL) != 0) {
            snprintf(err, errlen, "mkdir(%s): %s", dir, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int setup_cgroups(slot *s, uint32_t memory_mb, char *err, size_t errlen)
{
    char val[32];
    if (P.cgroup == CG_V2) {
        write_str(CG_V2_ROOT, "cgroup.subtree_control", "+memory");
        write_str(CG_V2_ROOT, "cgroup.subtree_control", "+pids");
        mkdir(P.cg_parent, 0755);
        write_str(P.cg_parent, "cgroup.subtree_control", "+memory");
        write_str(P.cg_parent, "cgroup.subtree_control", "+pids");
    }
    if (s->cgroup[0] != '\0') {
        if (make_cgroup(P.cg_parent, s->cgroup, err, errlen) != 0) {
            return -1;
        }
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
    }
    const char *pdir = P.pids == CG_V1 ? s->pids : P.pids == CG_V2 ? s->cgroup : "";
    if (pdir[0] == '\0') {
        return 0;
    }
    if (P.pids == CG_V1 && make_cgroup(P.pids_parent, pdir, err, errlen) != 0) {
        return -1;
    }
    snprintf(val, sizeof(val), "%d", SBXHOST_PIDS_MAX);
    if (write_str(pdir, "pids.max", val) != 0) {
        snprintf(err, errlen, "write(%s/pids.max): %s", pdir, strerror(errno));
        return -1;
    }
    return 0;
}

int sbxhost_setup(int idx, uint32_t memory_mb, char *err, size_t errlen)
{
    slot *s = &T.s[idx];
    int p[2];
    if (P.root) {
        long uid = take_uid(err, errlen);
        if (uid < 0) {
            return -1;
        }
        pthread_mutex_lock(&T.mtx);
        s->uid = uid;
        pthread_mutex_unlock(&T.mtx);
    }
    if (setup_tmp(s, s->uid, err, errlen) != 0 || setup_cgroups(s, memory_mb, err, errlen) != 0) {
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

/* ---- ending an environment ---- */

/* Everything an environment had, in order (head comment).  true when all
 * of it is verified gone. */
static bool cleanup(slot *s, int idx)
{
    int strays = 0;
    if (s->report_r >= 0) {
        close(s->report_r);
        s->report_r = -1;
    }
    if (s->report_w >= 0) {
        close(s->report_w);
        s->report_w = -1;
    }
    bool ok = empty_cgroup(s->pids, &strays) == 0;
    ok = empty_cgroup(s->cgroup, &strays) == 0 && ok;
    if (s->uid >= 0) {
        sweep_uid(s->uid); /* outside the cgroups: nobody may keep the tmp dir busy */
    }
    ok = destroy_tmp(s, NULL) == 0 && ok;
    ok = remove_cgroup(s->pids) == 0 && ok;
    ok = remove_cgroup(s->cgroup) == 0 && ok;
    if (strays > 0) {
        blog(LOG_WARN, "sandbox: killed %d process(es) left in slot %d's cgroups", strays, idx);
    }
    return ok;
}

static void free_slot(slot *s)
{
    pthread_mutex_lock(&T.mtx);
    s->used = false;
    s->pid = 0;
    s->uid = -1;
    bool last = --T.in_use == 0;
    pthread_mutex_unlock(&T.mtx);
    if (last && P.tmp_base[0] != '\0') {
        rmdir(P.tmp_base);
    }
}

/* Clean up, then hand back the uid and free the slot; or keep both out of
 * use (stuck) until a retry succeeds. */
static void end_slot(slot *s, int idx)
{
    bool was_stuck = s->stuck;
    double t0 = clk_mono_ms();
    if (!cleanup(s, idx)) {
        if (!was_stuck) {
            blog(LOG_WARN,
                 "sandbox: slot %d could not be cleaned up (tmp dir or cgroups remain); "
                 "kept out of use with its uid and retried",
                 idx);
            pthread_mutex_lock(&T.mtx);
            s->stuck = true;
            s->pid = 0;
            T.stuck++;
            pthread_mutex_unlock(&T.mtx);
        }
        return;
    }
    if (was_stuck) {
        pthread_mutex_lock(&T.mtx);
        s->stuck = false;
        T.stuck--;
        pthread_mutex_unlock(&T.mtx);
        blog(LOG_INFO, "sandbox: slot %d cleaned up on a retry", idx);
    }
    if (s->uid >= 0) {
        give_back_uid(s->uid);
    }
    blog(LOG_DEBUG, "sandbox: slot %d (uid %ld) ended and checked clean in %.2f ms", idx, s->uid,
         clk_mono_ms() - t0);
    free_slot(s);
}

void sbxhost_release(int idx)
{
    if (idx < 0) {
        return;
    }
    end_slot(&T.s[idx], idx);
}

static void retry_stuck(void)
{
    for (int i = 0; i < SBXHOST_SLOTS; i++) {
        pthread_mutex_lock(&T.mtx);
        bool stuck = T.s[i].used && T.s[i].stuck;
        pthread_mutex_unlock(&T.mtx);
        if (stuck) {
            end_slot(&T.s[i], i);
        }
    }
}

/* Stuck slots and quarantined uids, at most once per RETRY_EVERY_MS. */
static void retry_due(void)
{
    pthread_mutex_lock(&T.mtx);
    bool due = (T.stuck > 0 || T.quarantined > 0) && clk_mono_ms() >= T.retry_at;
    if (due) {
        T.retry_at = clk_mono_ms() + RETRY_EVERY_MS;
    }
    pthread_mutex_unlock(&T.mtx);
    if (due) {
        retry_stuck();
        recheck_quarantine(SBXHOST_UID_COUNT);
    }
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
    int idx = -1;
    pthread_mutex_lock(&T.mtx);
    for (int i = 0; i < SBXHOST_SLOTS && pid > 0; i++) {
        if (T.s[i].used && !T.s[i].stuck && T.s[i].pid == pid) {
            idx = i;
            break;
        }
    }
    pthread_mutex_unlock(&T.mtx);
    if (idx >= 0) {
        slot *s = &T.s[idx];
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
            v->kind = SBX_V_VIOLATION;
            read_report(s, v);
        } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && s->cgroup[0] != '\0' &&
                   oom_kills(s) > 0) {
            v->kind = SBX_V_OOM;
        }
        end_slot(s, idx);
    }
    retry_due();
}

void sbxhost_finish(void)
{
    retry_stuck();
}

/* ---- start: what a predecessor on this state dir left ---- */

typedef struct reclaimed {
    int procs, mounts, cgroups, uids;
} reclaimed;

/* Every "<id>-<n>" cgroup under parent: kill what is in it, remove it. */
static void reclaim_cgroups(const char *parent, reclaimed *r)
{
    DIR *d = opendir(parent);
    struct dirent *de;
    size_t idlen = strlen(P.id);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, P.id, idlen) != 0 || de->d_name[idlen] != '-') {
            continue;
        }
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", parent, de->d_name);
        empty_cgroup(dir, &r->procs);
        if (remove_cgroup(dir) == 0) {
            r->cgroups++;
        } else {
            blog(LOG_WARN, "sandbox: cannot remove %s: %s", dir, strerror(errno));
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

/* Mount points at or under prefix/, from /proc/self/mountinfo, deepest
 * (longest) first; returns how many (at most cap). */
static int mounts_under(const char *prefix, char (*out)[160], int cap)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[1024], mp[512];
    size_t plen = strlen(prefix);
    int n = 0;
    while (f != NULL && n < cap && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%*s %*s %*s %*s %511s", mp) == 1 && strncmp(mp, prefix, plen) == 0 &&
            (mp[plen] == '/' || mp[plen] == '\0') && strlen(mp) < 160) {
            snprintf(out[n++], 160, "%s", mp);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    for (int i = 1; i < n; i++) { /* longest first: children before parents */
        for (int j = i; j > 0 && strlen(out[j]) > strlen(out[j - 1]); j--) {
            char t[160];
            memcpy(t, out[j], 160);
            memcpy(out[j], out[j - 1], 160);
            memcpy(out[j - 1], t, 160);
        }
    }
    return n;
}

static void reclaim_tmp(reclaimed *r)
{
    struct stat st;
    if (lstat(P.tmp_base, &st) != 0) {
        return;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        blog(LOG_WARN, "sandbox: %s is not the broker's; left alone", P.tmp_base);
        return;
    }
    char mps[64][160];
    for (int round = 0; round < 8; round++) {
        int n = mounts_under(P.tmp_base, mps, 64);
        if (n == 0) {
            break;
        }
        for (int i = 0; i < n; i++) {
            if (umount2(mps[i], UMOUNT_NOFOLLOW) == 0 ||
                umount2(mps[i], UMOUNT_NOFOLLOW | MNT_DETACH) == 0) {
                r->mounts++;
            }
        }
    }
    rm_tree(P.tmp_base);
    if (lstat(P.tmp_base, &st) == 0) {
        blog(LOG_WARN, "sandbox: cannot remove %s", P.tmp_base);
    }
}

/* Worker uids that live processes still run as and no broker holds: the
 * leftovers of a dead broker (ours or another's).  Kill them. */
static void reclaim_uids(reclaimed *r)
{
    char err[160];
    long uids[64];
    if (!P.root || open_uid_locks(err, sizeof(err)) != 0) {
        return;
    }
    int n = uid_procs(-1, uids, 64);
    for (int k = 0; k < n && k < 64; k++) {
        int i = (int)(uids[k] - SBXHOST_UID_BASE);
        pthread_mutex_lock(&T.mtx);
        bool free_here = T.uid[i] == UID_FREE;
        pthread_mutex_unlock(&T.mtx);
        if (!free_here || !uid_lock(i, F_WRLCK)) {
            continue; /* done already, or a live broker's */
        }
        if (clean_uid(uids[k], UID_CLEAN_MS)) {
            r->uids++;
            uid_lock(i, F_UNLCK);
        } else {
            blog(LOG_WARN, "sandbox: processes of uid %ld outlive every kill; quarantined",
                 uids[k]);
            set_uid_state(i, UID_QUARANTINED);
        }
    }
}

void sbxhost_init(const char *state_dir)
{
    char hex[65];
    probe_once();
    if (util_sha256_hex(state_dir, strlen(state_dir), hex) != 0) {
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)getpid());
    }
    snprintf(P.id, sizeof(P.id), "sd-%.16s", hex);
    snprintf(P.tmp_base, sizeof(P.tmp_base), "/tmp/lamina-%s", P.id);
    reclaimed r = {0};
    /* every place a predecessor may have used, whatever this broker's
     * probe says (it may run with LAMINA_SANDBOX_NO_CGROUP) */
    const char *parents[] = {CG_PIDS_V1_ROOT "/lamina", CG_V1_ROOT "/lamina", CG_V2_ROOT "/lamina"};
    for (size_t i = 0; P.root && i < sizeof(parents) / sizeof(parents[0]); i++) {
        reclaim_cgroups(parents[i], &r);
    }
    reclaim_tmp(&r);
    reclaim_uids(&r);
    if (r.procs + r.mounts + r.cgroups + r.uids > 0) {
        blog(LOG_INFO,
             "sandbox: reclaimed what a previous broker left: %d process(es) killed, "
             "%d mount(s), %d cgroup(s), %d worker uid(s) cleaned",
             r.procs, r.mounts, r.cgroups, r.uids);
    }
}

/* ---- status ---- */

void sbxhost_write_status(proto_writer *w, bool unsafe)
{
    probe_once();
    char ll[64], cg[160], pc[160], uid[200];
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
    if (P.pids != CG_NONE) {
        snprintf(pc, sizeof(pc), "active (%s pids.max %d, %s; emptied when the environment ends)",
                 P.pids == CG_V1 ? "v1" : "v2", SBXHOST_PIDS_MAX,
                 P.pids == CG_V1 ? P.pids_parent : P.cg_parent);
    } else {
        snprintf(pc, sizeof(pc), "inactive (not writable: RLIMIT_NPROC only)");
    }
    pthread_mutex_lock(&T.mtx);
    snprintf(uid, sizeof(uid),
             "active (uids %d-%d, one per environment, locked across brokers in %s; "
             "%d held, %d quarantined; no capabilities)",
             SBXHOST_UID_BASE, SBXHOST_UID_BASE + SBXHOST_UID_COUNT - 1, UID_LOCK_FILE, T.uids_held,
             T.quarantined);
    pthread_mutex_unlock(&T.mtx);
    pw_map(w, 10);
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
    pw_key(w, "PidsCgroup");
    pw_str(w, unsafe ? "off" : pc);
    pw_key(w, "UidDrop");
    pw_str(w, unsafe ? "off" : P.root ? uid : "inactive (broker not root)");
    pw_key(w, "Tmp");
    pw_str(w, unsafe   ? "off"
              : P.root ? "tmpfs 64 MiB per environment, removed before its slot is reused"
                       : "directory per environment (RLIMIT_FSIZE)");
    pw_key(w, "Rlimits");
    pw_str(w, unsafe ? "off" : "active (hard = soft)");
    pw_key(w, "NoNewPrivs");
    pw_bool(w, !unsafe);
    pw_key(w, "CpuGroup");
    pw_str(w, P.cpu_group[0] != '\0' ? "broker and workers share /sys/fs/cgroup/cpu/lamina"
                                     : "none (scheduler default)");
}
