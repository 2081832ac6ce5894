/*
 * runtime/sandbox_policy.c — the sandbox policy as data: the two seccomp
 * layers (the load layer and the allowlist) with their argument rules, the
 * rlimit table and the Landlock rule set.  sandbox_apply.c applies it;
 * nothing in this file runs.
 *
 * Two seccomp layers, because handler code runs in two phases:
 *
 *   The load layer (sbx_load_syscalls) is installed by sandbox_enter()
 *   after the uid drop and no_new_privs and BEFORE dlopen, with TSYNC (the
 *   log-capture and nng threads exist already).  It covers the handler's
 *   constructors, its LM_INIT and every thread either starts.  It is a
 *   denylist (anything not matched is allowed) because init is arbitrary
 *   code that Lambda lets open files and connections; what it refuses is
 *   what no load-time code may ever do:
 *     - create a process: fork, vfork and clone without CLONE_THREAD fail
 *       with EPERM (what an invocation gets too, so a library that tries
 *       one copes the same way in init); clone3 fails with ENOSYS because
 *       its flags live in a struct seccomp cannot read, so glibc falls back
 *       to the filtered clone (pthread_create keeps working).  A process
 *       made at load time would outlive its worker with none of the later
 *       layers: the escape of issue 10.
 *     - run another program (execve, execveat): it would replace the
 *       runtime and its reporter.
 *     - leave its namespaces (unshare, setns, clone with a namespace flag):
 *       a new user namespace grants the capabilities the drop took away.
 *     - reach into another process: ptrace, process_vm_readv/writev,
 *       process_madvise, kcmp, pidfd_open/getfd/send_signal, and kill,
 *       tgkill, tkill and rt_(tg)sigqueueinfo aimed at any pid but our
 *       own.  With the broker root these only reach processes of the
 *       slot's uid, of which the worker is the only one; with the broker
 *       unprivileged the broker itself shares the uid.  Not prlimit64 on
 *       another pid: allowing pid 0 and our own while refusing the rest
 *       takes two comparisons on one argument, which libseccomp refuses,
 *       and it needs the target's uid just as kill does.
 *     - outlive the broker: prctl(PR_SET_PDEATHSIG), which would clear the
 *       SIGKILL the worker gets when the broker dies.
 *     - work around the later filter or widen the kernel's attack surface:
 *       io_uring_* (runs calls the allowlist would refuse, from kernel
 *       threads), bpf, perf_event_open, userfaultfd, the key retention
 *       calls (keyctl, add_key, request_key).
 *     - change the system: the mount family (mount, umount2, pivot_root,
 *       chroot, fsopen, fsconfig, fsmount, fspick, move_mount, open_tree,
 *       mount_setattr), modules, kexec and reboot.  The uid drop already
 *       took the capabilities these need; the rule makes the attempt a
 *       named violation.
 *     - replace the violation reporter: rt_sigaction(SIGSYS) kills the
 *       process, as in the allowlist; it is also how the reporter dies.
 *   Everything refused with a trap is a violation: the worker reports the
 *   syscall's name and dies by SIGSYS, so the invoke that started it fails
 *   with Runtime.SandboxViolation "… (during init)".  Deliberately allowed
 *   at load time: files and sockets of every kind (Landlock and the socket
 *   ban come with the seal), executable mappings (dlopen needs them),
 *   threads, and seccomp and landlock_* themselves (the seal is installed
 *   through them; a filter can only take rights away).  A name libseccomp
 *   does not know is fatal in this layer (a refusal must not silently
 *   become an allowance); syscalls newer than libseccomp are allowed until
 *   the seal, the price of a denylist.
 *
 *   The allowlist (sbx_syscalls) is installed by sandbox_seal() after init,
 *   on top of the load layer (filters stack and the strictest answer wins),
 *   and is what invocations run under.  Every load-layer rule is refused at
 *   least as strictly here, so the stack answers invocations exactly as the
 *   allowlist alone would.
 *
 * Reading the allowlist: the default for any syscall not listed here is
 * a violation (SBX_TRAP: the runtime reports the syscall's name to the
 * broker and the process dies by SIGSYS).  A listed syscall is allowed
 * unconditionally, or only when its arguments match, or fails with an errno
 * where callers are known to cope (clone3 → ENOSYS makes glibc fall back to
 * the filtered clone; fork → EPERM so a fork bomb just gets errors).  When
 * several rules name one syscall, their argument conditions are disjoint
 * (in the load layer, rules with the same action may overlap).
 *
 * What seccomp cannot see (paths, sockaddrs, clone3's struct) is left to
 * the other layers: Landlock confines paths (open/openat/openat2 are
 * allowed here and fail with EACCES outside the code and tmp dir), and
 * sockets cannot be created at all, so sendmsg/recvmsg only reach the fds
 * nng opened before the filter.
 *
 * Sanitizer builds (ASan/UBSan) need a few more calls; they are listed
 * separately and only added when the runtime itself is built with ASan.
 * The load layer needs none: it refuses nothing their runtimes use.
 */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "sandbox.h"

/* The tables below are laid out by hand, one rule a line. */
/* clang-format off */

#define ALLOW(n) {n, SBX_ALLOW, 0, 0, {{0, 0, 0, 0}}}
#define ERRNO(n, e) {n, SBX_ERRNO, e, 0, {{0, 0, 0, 0}}}
#define ALLOW_IF(n, i, op, a, b) {n, SBX_ALLOW, 0, 1, {{i, op, a, b}}}
#define ERRNO_IF(n, e, i, op, a, b) {n, SBX_ERRNO, e, 1, {{i, op, a, b}}}
#define KILL_IF(n, i, op, a, b) {n, SBX_KILL, 0, 1, {{i, op, a, b}}}
#define TRAP(n) {n, SBX_TRAP, 0, 0, {{0, 0, 0, 0}}}
#define TRAP_IF(n, i, op, a, b) {n, SBX_TRAP, 0, 1, {{i, op, a, b}}}
/* a signal or rlimit call aimed at a pid that is not ours */
#define TRAP_OTHER_PID(n) TRAP_IF(n, 0, SBX_NE, SBX_SELF_PID, 0)

/* Namespace-creating clone flags: never allowed (a violation). */
#define NS_FLAGS                                                                   \
    ((uint64_t)(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |      \
                CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET))
#define THREAD_FLAGS ((uint64_t)(CLONE_THREAD | CLONE_VM))
/* W^X: no executable mappings are created after the sandbox is on. */
#define PROT_X ((uint64_t)PROT_EXEC)
#define HUGE ((uint64_t)MAP_HUGETLB)
#define MMAP_IF2(act, e, p, f) {"mmap", act, e, 2, {{2, SBX_MASKED, PROT_X, p}, {3, SBX_MASKED, HUGE, f}}}

/* The load layer: default allow; see the head comment for why each rule. */
const sbx_rule sbx_load_syscalls[] = {
    /* ---- no new process ---- */
    ERRNO("fork", EPERM),
    ERRNO("vfork", EPERM),
    ERRNO_IF("clone", EPERM, 0, SBX_MASKED, CLONE_THREAD | NS_FLAGS, 0),
    TRAP_IF("clone", 0, SBX_MASKED, CLONE_NEWNS, CLONE_NEWNS),
    TRAP_IF("clone", 0, SBX_MASKED, CLONE_NEWCGROUP, CLONE_NEWCGROUP),
    TRAP_IF("clone", 0, SBX_MASKED, CLONE_NEWUTS, CLONE_NEWUTS),
    TRAP_IF("clone", 0, SBX_MASKED, CLONE_NEWIPC, CLONE_NEWIPC),
    TRAP_IF("clone", 0, SBX_MASKED, CLONE_NEWUSER, CLONE_NEWUSER),
    TRAP_IF("clone", 0, SBX_MASKED, CLONE_NEWPID, CLONE_NEWPID),
    TRAP_IF("clone", 0, SBX_MASKED, CLONE_NEWNET, CLONE_NEWNET),
    ERRNO("clone3", ENOSYS),
    /* ---- no other program, no other namespace ---- */
    TRAP("execve"),
    TRAP("execveat"),
    TRAP("unshare"),
    TRAP("setns"),
    /* ---- no other process ---- */
    TRAP("ptrace"),
    TRAP("process_vm_readv"),
    TRAP("process_vm_writev"),
    TRAP("process_madvise"),
    TRAP("kcmp"),
    TRAP("pidfd_open"),
    TRAP("pidfd_getfd"),
    TRAP("pidfd_send_signal"),
    TRAP_OTHER_PID("kill"),
    TRAP_OTHER_PID("tgkill"),
    TRAP("tkill"),
    TRAP_OTHER_PID("rt_sigqueueinfo"),
    TRAP_OTHER_PID("rt_tgsigqueueinfo"),
    /* ---- die with the broker; keep the reporter ---- */
    TRAP_IF("prctl", 0, SBX_EQ, PR_SET_PDEATHSIG, 0),
    KILL_IF("rt_sigaction", 0, SBX_EQ, SIGSYS, 0),
    /* ---- around the later filter, kernel attack surface ---- */
    TRAP("io_uring_setup"),
    TRAP("io_uring_enter"),
    TRAP("io_uring_register"),
    TRAP("bpf"),
    TRAP("perf_event_open"),
    TRAP("userfaultfd"),
    TRAP("keyctl"),
    TRAP("add_key"),
    TRAP("request_key"),
    /* ---- system state (the capabilities are gone already) ---- */
    TRAP("mount"),
    TRAP("umount2"),
    TRAP("pivot_root"),
    TRAP("chroot"),
    TRAP("fsopen"),
    TRAP("fsconfig"),
    TRAP("fsmount"),
    TRAP("fspick"),
    TRAP("move_mount"),
    TRAP("open_tree"),
    TRAP("mount_setattr"),
    TRAP("init_module"),
    TRAP("finit_module"),
    TRAP("delete_module"),
    TRAP("kexec_load"),
    TRAP("kexec_file_load"),
    TRAP("reboot"),
};
const size_t sbx_n_load_syscalls = sizeof(sbx_load_syscalls) / sizeof(sbx_load_syscalls[0]);

const sbx_rule sbx_syscalls[] = {
    /* ---- memory ---- */
    ALLOW("brk"),
    MMAP_IF2(SBX_ALLOW, 0, 0, 0),          /* no PROT_EXEC, no MAP_HUGETLB … */
    ERRNO_IF("mmap", EPERM, 2, SBX_MASKED, PROT_X, PROT_X), /* … else EPERM, not death */
    MMAP_IF2(SBX_ERRNO, EPERM, 0, HUGE),
    ALLOW_IF("mprotect", 2, SBX_MASKED, PROT_X, 0),
    ERRNO_IF("mprotect", EPERM, 2, SBX_MASKED, PROT_X, PROT_X),
    ALLOW("munmap"),
    ALLOW("mremap"),
    ALLOW("mincore"),
    ALLOW("msync"),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_NORMAL, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_RANDOM, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_SEQUENTIAL, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_WILLNEED, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_DONTNEED, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_FREE, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_HUGEPAGE, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_NOHUGEPAGE, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_DONTDUMP, 0),
    ALLOW_IF("madvise", 2, SBX_EQ, MADV_DODUMP, 0),

    /* ---- threads and processes ---- */
    /* pthread_create: glibc's flags include CLONE_THREAD|CLONE_VM and no
     * namespace flag.  fork/vfork/system: EPERM.  Anything with a namespace
     * flag: not matched → violation. */
    ALLOW_IF("clone", 0, SBX_MASKED, THREAD_FLAGS | NS_FLAGS, THREAD_FLAGS),
    ERRNO_IF("clone", EPERM, 0, SBX_MASKED, CLONE_THREAD | NS_FLAGS, 0),
    ERRNO("clone3", ENOSYS), /* its flags live in a struct we cannot read */
    ERRNO("fork", EPERM),
    ERRNO("vfork", EPERM),
    ALLOW("futex"),
    ALLOW("set_robust_list"),
    ALLOW("rseq"),
    ALLOW("set_tid_address"),
    ALLOW("exit"),
    ALLOW("exit_group"),
    ALLOW("restart_syscall"),
    ALLOW("sched_yield"),
    ALLOW("pause"),
    ALLOW("sched_getaffinity"),
    ALLOW_IF("sched_setaffinity", 0, SBX_EQ, 0, 0),
    ERRNO_IF("sched_setaffinity", EPERM, 0, SBX_NE, 0, 0),
    ERRNO("sched_setscheduler", EPERM),
    ERRNO("sched_setparam", EPERM),
    ALLOW("sched_getscheduler"),
    ALLOW("sched_getparam"),
    ALLOW("getpriority"),
    ERRNO("setpriority", EPERM),
    ALLOW("getcpu"),
    ALLOW("getpid"),
    ALLOW("gettid"),
    ALLOW("getppid"),
    ALLOW("getuid"),
    ALLOW("geteuid"),
    ALLOW("getgid"),
    ALLOW("getegid"),
    ALLOW("getresuid"),
    ALLOW("getresgid"),
    ALLOW("getgroups"),
    ALLOW("getpgrp"),
    ALLOW("getpgid"),
    ALLOW("getsid"),
    ALLOW("uname"),
    ALLOW("sysinfo"),
    ALLOW("getrusage"),
    ALLOW("times"),
    ALLOW("getrlimit"),
    ALLOW("setrlimit"),                           /* hard = soft: raising is EPERM */
    ALLOW_IF("prlimit64", 0, SBX_EQ, 0, 0),       /* own process only */
    ALLOW_IF("prlimit64", 0, SBX_EQ, SBX_SELF_PID, 0),
    ALLOW_IF("personality", 0, SBX_EQ, 0xffffffffu, 0), /* query only */
    ALLOW_IF("arch_prctl", 0, SBX_EQ, 0x1003, 0), /* ARCH_GET_FS */
    ALLOW_IF("arch_prctl", 0, SBX_EQ, 0x1004, 0), /* ARCH_GET_GS */
    ALLOW_IF("prctl", 0, SBX_EQ, PR_SET_NAME, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_NAME, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_DUMPABLE, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_PDEATHSIG, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_KEEPCAPS, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_SECCOMP, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_TIMERSLACK, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_NO_NEW_PRIVS, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_GET_THP_DISABLE, 0),

    /* ---- signals: only to ourselves ---- */
    ALLOW_IF("rt_sigaction", 0, SBX_NE, SIGSYS, 0),
    KILL_IF("rt_sigaction", 0, SBX_EQ, SIGSYS, 0), /* the violation reporter stays ours */
    ALLOW("rt_sigprocmask"),
    ALLOW("rt_sigreturn"),
    ALLOW("rt_sigpending"),
    ALLOW("rt_sigsuspend"),
    ALLOW("rt_sigtimedwait"),
    ALLOW("sigaltstack"),
    ALLOW_IF("kill", 0, SBX_EQ, SBX_SELF_PID, 0),
    ALLOW_IF("tgkill", 0, SBX_EQ, SBX_SELF_PID, 0),
    ALLOW_IF("rt_sigqueueinfo", 0, SBX_EQ, SBX_SELF_PID, 0),
    ALLOW_IF("rt_tgsigqueueinfo", 0, SBX_EQ, SBX_SELF_PID, 0),

    /* ---- time ---- */
    ALLOW("clock_gettime"),
    ALLOW("clock_getres"),
    ALLOW("clock_nanosleep"),
    ALLOW("nanosleep"),
    ALLOW("gettimeofday"),
    ALLOW("time"),
    ALLOW("getitimer"),
    ALLOW("setitimer"),
    ALLOW("alarm"),
    ALLOW("timerfd_create"),
    ALLOW("timerfd_settime"),
    ALLOW("timerfd_gettime"),
    ALLOW("getrandom"),

    /* ---- files (paths confined by Landlock and the uid) ---- */
    ALLOW("read"),
    ALLOW("write"),
    ALLOW("readv"),
    ALLOW("writev"),
    ALLOW("pread64"),
    ALLOW("pwrite64"),
    ALLOW("preadv"),
    ALLOW("pwritev"),
    ALLOW("preadv2"),
    ALLOW("pwritev2"),
    ALLOW("open"),
    ALLOW("openat"),
    ERRNO("openat2", ENOSYS),
    ALLOW("close"),
    ALLOW("close_range"),
    ALLOW("lseek"),
    ALLOW("fstat"),
    ALLOW("stat"),
    ALLOW("lstat"),
    ALLOW("newfstatat"),
    ALLOW("statx"),
    ALLOW("statfs"),
    ALLOW("fstatfs"),
    ALLOW("access"),
    ALLOW("faccessat"),
    ALLOW("faccessat2"),
    ALLOW("getdents64"),
    ALLOW("getcwd"),
    ALLOW("chdir"),
    ALLOW("fchdir"),
    ALLOW("mkdir"),
    ALLOW("mkdirat"),
    ALLOW("rmdir"),
    ALLOW("unlink"),
    ALLOW("unlinkat"),
    ALLOW("rename"),
    ALLOW("renameat"),
    ALLOW("renameat2"),
    ALLOW("link"),
    ALLOW("linkat"),
    ALLOW("symlink"),
    ALLOW("symlinkat"),
    ALLOW("readlink"),
    ALLOW("readlinkat"),
    ALLOW("truncate"),
    ALLOW("ftruncate"),
    ALLOW("fallocate"),
    ALLOW("fsync"),
    ALLOW("fdatasync"),
    ALLOW("fadvise64"),
    ALLOW("flock"),
    ALLOW("fchmod"),
    ALLOW("fchmodat"),
    ALLOW("chmod"),
    ALLOW("umask"),
    ALLOW("utimensat"),
    ALLOW("fcntl"),
    ALLOW("dup"),
    ALLOW("dup2"),
    ALLOW("dup3"),
    ALLOW("pipe"),
    ALLOW("pipe2"),
    ALLOW("sendfile"),
    ALLOW("copy_file_range"),
    ALLOW("splice"),
    ALLOW("tee"),
    ALLOW_IF("ioctl", 1, SBX_EQ, FIONREAD, 0),
    ALLOW_IF("ioctl", 1, SBX_EQ, TCGETS, 0),

    /* ---- I/O on the sockets nng opened before the filter (none new) ---- */
    ALLOW("sendmsg"),
    ALLOW("recvmsg"),
    ALLOW("sendto"),
    ALLOW("recvfrom"),
    ALLOW("getsockopt"),
    ALLOW("setsockopt"),
    ALLOW("getsockname"),
    ALLOW("getpeername"),
    ALLOW("shutdown"),
    ALLOW("poll"),
    ALLOW("ppoll"),
    ALLOW("select"),
    ALLOW("pselect6"),
    ALLOW("epoll_create1"),
    ALLOW("epoll_ctl"),
    ALLOW("epoll_wait"),
    ALLOW("epoll_pwait"),
    ALLOW("epoll_pwait2"),
    ALLOW("eventfd2"),
};
const size_t sbx_n_syscalls = sizeof(sbx_syscalls) / sizeof(sbx_syscalls[0]);

/* ASan's and UBSan's runtimes: their allocator and reporting paths.  Only
 * added when the runtime itself is built with a sanitizer (test builds). */
const sbx_rule sbx_syscalls_sanitizer[] = {
    ALLOW_IF("prctl", 0, SBX_EQ, PR_SET_VMA, 0),
    ALLOW_IF("prctl", 0, SBX_EQ, PR_SET_DUMPABLE, 0),
};
const size_t sbx_n_syscalls_sanitizer =
    sizeof(sbx_syscalls_sanitizer) / sizeof(sbx_syscalls_sanitizer[0]);

/* hard = soft for every one of them, so a handler can lower but never
 * raise.  RLIMIT_DATA (private writable memory) rather than RLIMIT_AS:
 * glibc's 64 MiB per-thread arenas and nng's thread stacks make address
 * space a poor measure; the memory cgroup, where writable, is the real cap
 * and sits below this one so a bomb is an OOM kill, not a NULL malloc.
 * RLIMIT_CPU is per process, not per invocation: a warm environment runs
 * many invocations, so it is a lifetime budget (timeout × 60); the
 * per-invocation limit is the broker's wall clock (Sandbox.Timedout). */
const sbx_rlimit sbx_rlimits[] = {
    {RLIMIT_DATA, "RLIMIT_DATA", SBX_LIM_MEMORY, 96, false, true},
    {RLIMIT_CPU, "RLIMIT_CPU", SBX_LIM_CPU, 60, false, false},
    {RLIMIT_NOFILE, "RLIMIT_NOFILE", SBX_LIM_FIXED, 64, false, false},
    {RLIMIT_FSIZE, "RLIMIT_FSIZE", SBX_LIM_FIXED, SBX_TMP_BYTES, false, false},
    {RLIMIT_CORE, "RLIMIT_CORE", SBX_LIM_FIXED, 0, false, false},
    {RLIMIT_NPROC, "RLIMIT_NPROC", SBX_LIM_FIXED, 64, true, false},
    {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", SBX_LIM_FIXED, 0, false, false},
    {RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", SBX_LIM_FIXED, 0, false, false},
    {RLIMIT_NICE, "RLIMIT_NICE", SBX_LIM_FIXED, 0, false, false},
    {RLIMIT_RTPRIO, "RLIMIT_RTPRIO", SBX_LIM_FIXED, 0, false, false},
    {RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING", SBX_LIM_FIXED, 256, false, false},
    {RLIMIT_STACK, "RLIMIT_STACK", SBX_LIM_KEEP, 0, false, false},
};
const size_t sbx_n_rlimits = sizeof(sbx_rlimits) / sizeof(sbx_rlimits[0]);

#define LL_READ (SBX_LL_FS_READ_FILE | SBX_LL_FS_READ_DIR)
#define LL_TMP                                                                     \
    (SBX_LL_FS_WRITE_FILE | SBX_LL_FS_READ_FILE | SBX_LL_FS_READ_DIR |             \
     SBX_LL_FS_REMOVE_DIR | SBX_LL_FS_REMOVE_FILE | SBX_LL_FS_MAKE_DIR |           \
     SBX_LL_FS_MAKE_REG | SBX_LL_FS_MAKE_SYM | SBX_LL_FS_REFER | SBX_LL_FS_TRUNCATE)

/* Everything else in the filesystem is neither readable nor writable. */
const sbx_landlock_path sbx_landlock_paths[] = {
    {NULL, SBX_LL_TMP, LL_TMP, false},           /* $TMPDIR: read, write, no exec */
    {NULL, SBX_LL_CODE, SBX_LL_FS_READ_FILE, false}, /* the handler's own .so */
    {"/dev/null", SBX_LL_FIXED, SBX_LL_FS_READ_FILE | SBX_LL_FS_WRITE_FILE, true},
    {"/dev/zero", SBX_LL_FIXED, SBX_LL_FS_READ_FILE, true},
    {"/dev/urandom", SBX_LL_FIXED, SBX_LL_FS_READ_FILE, true},
};
const size_t sbx_n_landlock_paths = sizeof(sbx_landlock_paths) / sizeof(sbx_landlock_paths[0]);
/* clang-format on */
