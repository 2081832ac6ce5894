/*
 * runtime/sandbox_apply.c — applies the sandbox policy (sandbox_policy.c)
 * to this worker, layer by layer, failing closed (issues #3 and 10).
 *
 * Two phases, so that no handler code ever runs with the broker's
 * privileges, nor without a seccomp filter:
 *   sandbox_enter() — after the nng dial (the sockets live in the broker's
 *     0700 state dir) and BEFORE dlopen, so the handler's constructors and
 *     its LM_INIT run unprivileged and under the load layer: layers 1-7b
 *     below.  The handler's code is opened beforehand and dlopened through
 *     /proc/self/fd.
 *   sandbox_seal() — after dlopen and init, before the first NEXT: layers
 *     8-9 (Landlock, the seccomp allowlist).  These come after init as the
 *     design asks (init may open files and connections the handler keeps).
 *     Until the seal, load-time code is held by the uid, capabilities,
 *     rlimits, cgroup, no_new_privs and the load layer (no process, no
 *     exec, no namespaces, no other process: sandbox_policy.c); it shares
 *     our address space, so the seal itself is only as sure as the init
 *     that ran before it was benign.
 * Every layer that cannot be applied makes the phase return -1 with the
 * failing call named ("setresuid(60003): Operation not permitted"); the
 * worker then reports Sandbox.Failure and serves nothing.
 *
 * Order, and why:
 *   1. fds: close every file/dir/device fd but the code's (an fd opened
 *      before Landlock would bypass it); stdin from /dev/null.
 *   2. setsid(): no shared process group or terminal with the broker.
 *   3. join the per-worker memory and pids cgroups (needs root, so before
 *      the drop).
 *   4. prepare, while still root: the Landlock ruleset (O_PATH fds on the
 *      code file, which lives in the broker's 0700 state dir), both seccomp
 *      filters, and the syscall-name table and SIGSYS handler used by the
 *      reporter (installed now, so a trap in the load layer is named too).
 *   5. drop to the broker-chosen uid/gid (one per worker, so RLIMIT_NPROC
 *      counts only this worker) and all capabilities; then
 *      PR_SET_PDEATHSIG(SIGKILL), which a credential change clears, and a
 *      getppid() check to close the race with a broker that just died.
 *   6. rlimits with hard = soft; SIGXFSZ ignored so a full file is EFBIG.
 *   7. no_new_privs.  It comes before Landlock (the issue lists it after):
 *      landlock_restrict_self needs NNP once the capabilities are gone,
 *      and an unprivileged seccomp load needs it too.
 *   7b. the seccomp load layer, TSYNC (log capture's and nng's threads
 *      exist already; every thread the handler starts inherits it).  Last
 *      in sandbox_enter, so the drop and rlimits above still run unfiltered.
 *   8. Landlock: read the code, read/write the tmp dir, nothing else; no
 *      TCP; no signals or abstract sockets outside the domain.
 *   9. seccomp allowlist, TSYNC, stacked on the load layer (the kernel runs
 *      both and the strictest answer wins; the policy keeps every load-layer
 *      refusal at least as strict in the allowlist).
 *
 * Reporting a forbidden syscall (a deliberate, documented deviation): the
 * issue asks for kill-process as the default action, but a process killed
 * by seccomp takes the syscall's number with it, and the caller must get
 * the name.  So the default action is SECCOMP_RET_TRAP and the runtime's
 * SIGSYS handler writes "SIGSYS <nr> <name>" to the report pipe (fd from
 * the broker) and to the log, then calls rt_sigaction(SIGSYS), which both
 * filters answer with KILL_PROCESS: the worker always dies by SIGSYS and
 * the offending thread never returns to handler code.  The handler cannot
 * replace the reporter (rt_sigaction(SIGSYS) is itself the kill rule); if
 * it blocks SIGSYS, the kernel resets it to the default and the process
 * dies by SIGSYS without a report ("unknown syscall").  A non-native
 * architecture (int $0x80, x32) is killed at once (bad-arch action).
 * Other threads of the handler may run for the microseconds the reporter
 * takes; the offending one does not.
 *
 * Limits of this design, stated plainly: both filters are built per worker
 * with libseccomp (a few ms; compiling them once in the broker is a later
 * optimisation), and every syscall now runs through both; Landlock
 * without TSYNC (ABI < 8) restricts the calling thread and every thread it
 * creates afterwards, i.e. the handler, but not the threads started before
 * the seal (nng, log capture, and any thread the handler's init started),
 * which keep only the uid, rlimits and both seccomp layers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "runtime.h"
#include "sandbox.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(RT_SANITIZER)
#define RT_SANITIZER 1
#endif

#define FAIL(...)                           \
    do {                                    \
        snprintf(err, errlen, __VA_ARGS__); \
        goto fail;                          \
    } while (0)

#define NAME_TABLE 512

/* State the SIGSYS reporter reads: filled before the filter is loaded,
 * never written afterwards. */
static struct {
    int report_fd;
    char *names[NAME_TABLE];
} rep = {.report_fd = -1};

/* ---- 1. descriptors ---- */

/* Close every fd that reaches a file, directory or device (except stdin's
 * /dev/null, reopened below, and `keep`: the handler's code, opened while
 * root so the unprivileged worker can dlopen it).  Pipes, sockets and anonymous inodes (nng,
 * log capture, the report pipe) stay. */
static int close_file_fds(int keep, char *err, size_t errlen)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        snprintf(err, errlen, "opendir(/proc/self/fd): %s", strerror(errno));
        return -1;
    }
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || fd <= 0 || fd == self || fd == keep || fstat(fd, &st) != 0) {
            continue;
        }
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode) ||
            S_ISBLK(st.st_mode)) {
            close(fd);
        }
    }
    closedir(d);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0 || dup2(nul, 0) < 0) {
        snprintf(err, errlen, "open/dup2(/dev/null → stdin): %s", strerror(errno));
        return -1;
    }
    close(nul);
    return 0;
}

/* ---- 3. memory cgroup ---- */

/* The shared cpu cgroup (broker/core/sbxhost.c says why).  Scheduling
 * only, not a security layer: a failure is not fatal. */
static void join_cpu_group(const rt_config *cfg)
{
    char path[4096];
    if (cfg->cpu_group == NULL) {
        return;
    }
    snprintf(path, sizeof(path), "%s/cgroup.procs", cfg->cpu_group);
    FILE *f = fopen(path, "we");
    if (f != NULL) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
}

/* The memory cgroup and the pids cgroup (v1; on v2 both are one dir),
 * which the broker empties when the environment ends. */
static int join_cgroup(const rt_config *cfg, char *err, size_t errlen)
{
    join_cpu_group(cfg);
    const char *dirs[] = {cfg->cgroup_dir, cfg->pids_cgroup};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (dirs[i] == NULL) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/cgroup.procs", dirs[i]);
        FILE *f = fopen(path, "we");
        if (f == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
            snprintf(err, errlen, "write(%s): %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* ---- 5. credentials ---- */

static int drop_bounding_set(char *err, size_t errlen)
{
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) {
                break; /* past the last capability this kernel knows */
            }
            snprintf(err, errlen, "prctl(PR_CAPBSET_DROP, %d): %s", cap, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int caps_all_clear(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) {
        return 0;
    }
    return (d[0].effective | d[1].effective | d[0].permitted | d[1].permitted | d[0].inheritable |
            d[1].inheritable) == 0;
}

static int drop_privileges(const rt_config *cfg, char *err, size_t errlen)
{
    if (cfg->uid >= 0) {
        uid_t u = (uid_t)cfg->uid;
        gid_t g = (gid_t)(cfg->gid >= 0 ? cfg->gid : cfg->uid);
        if (drop_bounding_set(err, errlen) != 0) {
            return -1;
        }
        if (setgroups(0, NULL) != 0) {
            FAIL("setgroups(0): %s", strerror(errno));
        }
        /* glibc applies set*id to every thread of the process */
        if (setresgid(g, g, g) != 0) {
            FAIL("setresgid(%u): %s", (unsigned)g, strerror(errno));
        }
        if (setresuid(u, u, u) != 0) {
            FAIL("setresuid(%u): %s", (unsigned)u, strerror(errno));
        }
        uid_t r, e, s;
        if (getresuid(&r, &e, &s) != 0 || r != u || e != u || s != u || !caps_all_clear()) {
            FAIL("setresuid(%u): credentials or capabilities not dropped", (unsigned)u);
        }
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        FAIL("prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
        FAIL("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
    }
    if (cfg->broker_pid > 0 && getppid() != (pid_t)cfg->broker_pid) {
        FAIL("getppid(): the broker (pid %ld) is gone", cfg->broker_pid);
    }
    return 0;
fail:
    return -1;
}

/* ---- 6. rlimits ---- */

static uint64_t vm_data_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long kb = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmData: %lu kB", &kb) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return (uint64_t)kb * 1024;
}

static int limit_value(const sbx_rlimit *l, const rt_config *cfg, rlim_t *out)
{
    struct rlimit cur;
    switch (l->kind) {
    case SBX_LIM_FIXED: *out = (rlim_t)l->value; return 0;
    case SBX_LIM_MEMORY:
        /* what the runtime already holds + the function's memory + slack */
        *out = (rlim_t)(vm_data_bytes() + (((uint64_t)cfg->memory_mb + l->value) << 20));
        return 0;
    case SBX_LIM_CPU:
        *out = (rlim_t)((uint64_t)(cfg->timeout_s > 0 ? cfg->timeout_s : 1) * l->value);
        return 0;
    case SBX_LIM_KEEP:
        if (getrlimit(l->resource, &cur) != 0) {
            return -1;
        }
        *out = cur.rlim_cur;
        return 0;
    }
    return -1;
}

static int apply_rlimits(const rt_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < sbx_n_rlimits; i++) {
        const sbx_rlimit *l = &sbx_rlimits[i];
#ifdef RT_SANITIZER
        if (l->not_sanitizer) {
            continue;
        }
#endif
        if (l->only_with_uid && cfg->uid < 0) {
            continue;
        }
        rlim_t v;
        if (limit_value(l, cfg, &v) != 0) {
            FAIL("getrlimit(%s): %s", l->name, strerror(errno));
        }
        struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
        if (setrlimit(l->resource, &rl) != 0) {
            FAIL("setrlimit(%s, %llu): %s", l->name, (unsigned long long)v, strerror(errno));
        }
    }
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
        FAIL("signal(SIGXFSZ, SIG_IGN): %s", strerror(errno));
    }
    return 0;
fail:
    return -1;
}

/* ---- 8. Landlock ---- */

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define LL_RULE_PATH_BENEATH 1
#define LL_FILE_RIGHTS                                                                     \
    (SBX_LL_FS_EXECUTE | SBX_LL_FS_WRITE_FILE | SBX_LL_FS_READ_FILE | SBX_LL_FS_TRUNCATE | \
     SBX_LL_FS_IOCTL_DEV)

static int sandbox_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* VERSION */);
    return abi > 0 ? (int)abi : 0;
}

static uint64_t ll_fs_rights(int abi)
{
    uint64_t r = (1ULL << 13) - 1; /* ABI 1: EXECUTE … MAKE_SYM */
    if (abi >= 2) {
        r |= SBX_LL_FS_REFER;
    }
    if (abi >= 3) {
        r |= SBX_LL_FS_TRUNCATE;
    }
    if (abi >= 5) {
        r |= SBX_LL_FS_IOCTL_DEV;
    }
    return r;
}

static int ll_add_path(int rs, const char *path, uint64_t access, uint64_t handled, char *err,
                       size_t errlen)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "open(%s, O_PATH): %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
        access &= LL_FILE_RIGHTS;
    }
    struct ll_path_beneath pb = {.allowed_access = access & handled, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "landlock_add_rule(%s): %s", path, strerror(e));
        return -1;
    }
    return 0;
}

/* Build the ruleset (while still root, so the code file can be reached);
 * returns its fd, -2 when the kernel has no Landlock, -1 on error. */
static int landlock_prepare(const rt_config *cfg, char *err, size_t errlen)
{
    int abi = sandbox_landlock_abi();
    if (abi <= 0) {
        return -2;
    }
    struct ll_ruleset_attr attr = {.handled_access_fs = ll_fs_rights(abi)};
    size_t size = sizeof(uint64_t);
    if (abi >= 4) {
        attr.handled_access_net = SBX_LL_NET_BIND_TCP | SBX_LL_NET_CONNECT_TCP;
        size = 2 * sizeof(uint64_t);
    }
    if (abi >= 6) {
        attr.scoped = SBX_LL_SCOPE_ABSTRACT_UNIX | SBX_LL_SCOPE_SIGNAL;
        size = sizeof(attr);
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) {
        snprintf(err, errlen, "landlock_create_ruleset(ABI %d): %s", abi, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sbx_n_landlock_paths; i++) {
        const sbx_landlock_path *p = &sbx_landlock_paths[i];
        const char *path = p->which == SBX_LL_TMP    ? cfg->tmp_dir
                           : p->which == SBX_LL_CODE ? cfg->code_path
                                                     : p->path;
        if (path == NULL || (p->optional && access(path, F_OK) != 0)) {
            continue;
        }
        if (ll_add_path(rs, path, p->access, attr.handled_access_fs, err, errlen) != 0) {
            close(rs);
            return -1;
        }
    }
    return rs;
}

static int landlock_enforce(int rs, char *err, size_t errlen)
{
    if (rs < 0) {
        return 0;
    }
    long rc = syscall(SYS_landlock_restrict_self, rs, 0);
    int e = errno;
    close(rs);
    if (rc != 0) {
        snprintf(err, errlen, "landlock_restrict_self: %s", strerror(e));
        return -1;
    }
    return 0;
}

/* ---- 7b and 9. seccomp ---- */

static uint32_t scmp_action(const sbx_rule *r)
{
    switch (r->action) {
    case SBX_ALLOW: return SCMP_ACT_ALLOW;
    case SBX_ERRNO: return SCMP_ACT_ERRNO((uint32_t)r->err);
    case SBX_KILL: return SCMP_ACT_KILL_PROCESS;
    case SBX_TRAP: return SCMP_ACT_TRAP;
    }
    return SCMP_ACT_KILL_PROCESS;
}

/* One rule into ctx.  A name libseccomp does not know is skipped where the
 * rule would allow (nothing to allow on this architecture) but is fatal in
 * a default-allow layer, where skipping would turn a refusal into an
 * allowance. */
static int add_rule(scmp_filter_ctx ctx, const sbx_rule *r, bool default_allow, char *err,
                    size_t errlen)
{
    int nr = seccomp_syscall_resolve_name(r->name);
    if (nr == __NR_SCMP_ERROR) {
        if (default_allow && r->action != SBX_ALLOW) {
            snprintf(err, errlen, "seccomp_syscall_resolve_name(%s): unknown to libseccomp",
                     r->name);
            return -1;
        }
        return 0;
    }
    struct scmp_arg_cmp cmp[2];
    uint64_t self = (uint64_t)getpid();
    for (unsigned i = 0; i < r->nargs; i++) {
        const sbx_argcmp *a = &r->args[i];
        uint64_t va = a->a == SBX_SELF_PID ? self : a->a;
        enum scmp_compare op = a->op == SBX_EQ   ? SCMP_CMP_EQ
                               : a->op == SBX_NE ? SCMP_CMP_NE
                                                 : SCMP_CMP_MASKED_EQ;
        cmp[i] = (struct scmp_arg_cmp){.arg = a->idx, .op = op, .datum_a = va, .datum_b = a->b};
    }
    int rc = seccomp_rule_add_array(ctx, scmp_action(r), nr, r->nargs, cmp);
    if (rc != 0) {
        snprintf(err, errlen, "seccomp_rule_add(%s): %s", r->name, strerror(-rc));
        return -1;
    }
    return 0;
}

static int add_rules(scmp_filter_ctx ctx, const sbx_rule *rules, size_t n, bool default_allow,
                     char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (add_rule(ctx, &rules[i], default_allow, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}

/* A filter for the native architecture (others are killed), loaded with
 * TSYNC (every thread, nng's too, or the load fails) and NNP. */
static scmp_filter_ctx seccomp_prepare(uint32_t default_action, const sbx_rule *rules, size_t n,
                                       char *err, size_t errlen)
{
    bool default_allow = default_action == SCMP_ACT_ALLOW;
    scmp_filter_ctx ctx = seccomp_init(default_action);
    if (ctx == NULL) {
        snprintf(err, errlen, "seccomp_init: out of memory");
        return NULL;
    }
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0) {
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    }
    if (rc == 0) {
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
    }
    if (rc != 0) {
        snprintf(err, errlen, "seccomp_attr_set: %s", strerror(-rc));
        goto fail;
    }
    if (add_rules(ctx, rules, n, default_allow, err, errlen) != 0) {
        goto fail;
    }
#ifdef RT_SANITIZER
    if (!default_allow &&
        add_rules(ctx, sbx_syscalls_sanitizer, sbx_n_syscalls_sanitizer, false, err, errlen) != 0) {
        goto fail;
    }
#endif
    return ctx;
fail:
    seccomp_release(ctx);
    return NULL;
}

/* Load a prepared filter (TSYNC) and release it; what names it in errors. */
static int seccomp_enforce(scmp_filter_ctx ctx, const char *what, char *err, size_t errlen)
{
    if (ctx == NULL) {
        snprintf(err, errlen, "seccomp (%s): no filter prepared (sandbox_enter did not run)", what);
        return -1;
    }
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        snprintf(err, errlen, "seccomp_load (%s, TSYNC): %s", what, strerror(-rc));
        return -1;
    }
    return 0;
}

static size_t put_str(char *p, size_t at, size_t cap, const char *s)
{
    while (*s != '\0' && at + 1 < cap) {
        p[at++] = *s++;
    }
    return at;
}

static size_t put_num(char *p, size_t at, size_t cap, long v)
{
    char tmp[24];
    int n = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0 && n < (int)sizeof(tmp));
    if (v < 0 && at + 1 < cap) {
        p[at++] = '-';
    }
    while (n > 0 && at + 1 < cap) {
        p[at++] = tmp[--n];
    }
    return at;
}

/* The SIGSYS reporter.  Async-signal-safe: only write() and raw syscalls. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    long nr = si->si_code == 1 /* SYS_SECCOMP */ ? (long)si->si_syscall : -1;
    const char *name =
        nr >= 0 && nr < NAME_TABLE && rep.names[nr] != NULL ? rep.names[nr] : "unknown";
    char line[160];
    size_t n = put_str(line, 0, sizeof(line), "SIGSYS ");
    n = put_num(line, n, sizeof(line), nr);
    n = put_str(line, n, sizeof(line), " ");
    n = put_str(line, n, sizeof(line), name);
    n = put_str(line, n, sizeof(line), "\n");
    if (rep.report_fd >= 0) {
        (void)!write(rep.report_fd, line, n);
    }
    char log[200];
    size_t m = put_str(log, 0, sizeof(log), "[lamina] sandbox violation: forbidden syscall ");
    m = put_str(log, m, sizeof(log), name);
    m = put_str(log, m, sizeof(log), "\n");
    (void)!write(2, log, m);
    /* rt_sigaction(SIGSYS) is the filter's kill-process rule: die by SIGSYS. */
    syscall(SYS_rt_sigaction, SIGSYS, NULL, NULL, 8);
    syscall(SYS_exit_group, 128 + SIGSYS);
}

static int install_reporter(const rt_config *cfg, char *err, size_t errlen)
{
    for (int nr = 0; nr < NAME_TABLE; nr++) {
        rep.names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    }
    rep.report_fd = cfg->report_fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0) {
        snprintf(err, errlen, "sigaction(SIGSYS): %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the two phases ---- */

/* Prepared in sandbox_enter() while still root, enforced by sandbox_seal(). */
static struct {
    scmp_filter_ctx ctx;
    int ruleset;
} pending = {NULL, -1};

int sandbox_enter(const rt_config *cfg, char *err, size_t errlen)
{
    scmp_filter_ctx load = NULL;
    if (close_file_fds(cfg->code_fd, err, errlen) != 0) {
        goto fail;
    }
    if (setsid() < 0 && getpgrp() != getpid()) {
        FAIL("setsid: %s", strerror(errno));
    }
    if (join_cgroup(cfg, err, errlen) != 0) {
        goto fail;
    }
    pending.ruleset = landlock_prepare(cfg, err, errlen);
    if (pending.ruleset == -1) {
        goto fail;
    }
    pending.ctx = seccomp_prepare(SCMP_ACT_TRAP, sbx_syscalls, sbx_n_syscalls, err, errlen);
    if (pending.ctx == NULL) {
        goto fail;
    }
    load = seccomp_prepare(SCMP_ACT_ALLOW, sbx_load_syscalls, sbx_n_load_syscalls, err, errlen);
    if (load == NULL || install_reporter(cfg, err, errlen) != 0) {
        goto fail;
    }
    if (drop_privileges(cfg, err, errlen) != 0 || apply_rlimits(cfg, err, errlen) != 0) {
        goto fail;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        FAIL("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
    }
    /* 7b. the load layer: from here on no process can be created */
    int rc = seccomp_enforce(load, "load layer", err, errlen);
    load = NULL;
    return rc;
fail:
    if (load != NULL) {
        seccomp_release(load);
    }
    return -1;
}

int sandbox_seal(const rt_config *cfg, char *err, size_t errlen)
{
    (void)cfg;
    int rs = pending.ruleset;
    pending.ruleset = -1;
    if (landlock_enforce(rs, err, errlen) != 0) {
        return -1;
    }
    scmp_filter_ctx ctx = pending.ctx;
    pending.ctx = NULL;
    return seccomp_enforce(ctx, "allowlist", err, errlen);
}
