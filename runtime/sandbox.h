/*
 * runtime/sandbox.h — the sandbox policy tables (data, sandbox_policy.c) as
 * read by the code that applies them (sandbox_apply.c).
 *
 * The policy is data so that it can be reviewed in one place: which system
 * calls a handler may make (and with which arguments) while it is loaded
 * and initialised (the load layer) and afterwards (the allowlist), which
 * rlimits it runs under, and which files it may touch (Landlock).  Nothing
 * here does anything; sandbox_enter() and sandbox_seal() (sandbox_apply.c)
 * walk these tables in order and fail closed.
 */
#ifndef RUNTIME_SANDBOX_H
#define RUNTIME_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What happens when a syscall rule matches. */
typedef enum sbx_action {
    SBX_ALLOW = 1, /* run it */
    SBX_ERRNO, /* fail with rule.err, the process goes on */
    SBX_TRAP, /* a violation: report its name and die by SIGSYS */
    SBX_KILL, /* die by SIGSYS at once (no report) */
} sbx_action;

/* Argument comparisons (a subset of libseccomp's enum scmp_compare, kept
 * here so the policy file does not depend on <seccomp.h>). */
typedef enum sbx_cmp {
    SBX_EQ = 1, /* arg == a */
    SBX_NE, /* arg != a */
    SBX_MASKED, /* (arg & a) == b */
} sbx_cmp;

/* Stands for the worker's own pid (kill(getpid(), …) is allowed, another
 * pid is not); replaced by getpid() when the filter is built. */
#define SBX_SELF_PID UINT64_C(0xfffffffffffffffe)

typedef struct sbx_argcmp {
    unsigned idx; /* argument number, 0-5 */
    sbx_cmp op;
    uint64_t a, b;
} sbx_argcmp;

typedef struct sbx_rule {
    const char *name; /* syscall name as libseccomp spells it */
    sbx_action action;
    int err; /* errno for SBX_ERRNO */
    unsigned nargs; /* 0 = unconditional; several compare as AND */
    sbx_argcmp args[2];
} sbx_rule;

/* The load layer, installed by sandbox_enter() before dlopen: everything
 * not matched is allowed; the rules refuse what load-time code (a
 * constructor, LM_INIT, a thread started there) must never do — above all
 * create a process.  It stays installed under the allowlist (seccomp
 * filters stack; the strictest answer wins), so every rule here must be at
 * least as strict in the allowlist (sandbox_policy.c says why each is in). */
extern const sbx_rule sbx_load_syscalls[];
extern const size_t sbx_n_load_syscalls;

/* The syscall allowlist, installed by sandbox_seal() after init;
 * everything not matched is a violation (trap). */
extern const sbx_rule sbx_syscalls[];
extern const size_t sbx_n_syscalls;
/* Extra rules for sanitizer builds (ASan/UBSan runtime needs), may be 0. */
extern const sbx_rule sbx_syscalls_sanitizer[];
extern const size_t sbx_n_syscalls_sanitizer;

/* How an rlimit's value is derived. */
typedef enum sbx_limit_kind {
    SBX_LIM_FIXED = 1, /* value */
    SBX_LIM_MEMORY, /* function memory MiB + value MiB of runtime slack */
    SBX_LIM_CPU, /* function timeout s × value (lifetime CPU budget) */
    SBX_LIM_KEEP, /* current soft limit (hard lowered to it) */
} sbx_limit_kind;

typedef struct sbx_rlimit {
    int resource;
    const char *name; /* for error messages: "setrlimit(RLIMIT_NOFILE)" */
    sbx_limit_kind kind;
    uint64_t value;
    bool only_with_uid; /* counts per uid: only meaningful with our own uid */
    bool not_sanitizer; /* skipped in ASan builds (shadow memory) */
} sbx_rlimit;

extern const sbx_rlimit sbx_rlimits[];
extern const size_t sbx_n_rlimits;

/* Landlock: the access rights the ruleset handles (everything the kernel
 * knows, up to ABI 7) and what is granted beneath each allowed path. */
#define SBX_LL_FS_EXECUTE (1ULL << 0)
#define SBX_LL_FS_WRITE_FILE (1ULL << 1)
#define SBX_LL_FS_READ_FILE (1ULL << 2)
#define SBX_LL_FS_READ_DIR (1ULL << 3)
#define SBX_LL_FS_REMOVE_DIR (1ULL << 4)
#define SBX_LL_FS_REMOVE_FILE (1ULL << 5)
#define SBX_LL_FS_MAKE_CHAR (1ULL << 6)
#define SBX_LL_FS_MAKE_DIR (1ULL << 7)
#define SBX_LL_FS_MAKE_REG (1ULL << 8)
#define SBX_LL_FS_MAKE_SOCK (1ULL << 9)
#define SBX_LL_FS_MAKE_FIFO (1ULL << 10)
#define SBX_LL_FS_MAKE_BLOCK (1ULL << 11)
#define SBX_LL_FS_MAKE_SYM (1ULL << 12)
#define SBX_LL_FS_REFER (1ULL << 13) /* ABI 2 */
#define SBX_LL_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define SBX_LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define SBX_LL_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#define SBX_LL_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#define SBX_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define SBX_LL_SCOPE_SIGNAL (1ULL << 1) /* ABI 6 */

typedef struct sbx_landlock_path {
    const char *path; /* absolute, or NULL = the function's tmp dir / code */
    enum { SBX_LL_TMP = 1, SBX_LL_CODE, SBX_LL_FIXED } which;
    uint64_t access; /* granted beneath it (masked by what the ABI knows) */
    bool optional; /* a missing path is skipped, not fatal */
} sbx_landlock_path;

extern const sbx_landlock_path sbx_landlock_paths[];
extern const size_t sbx_n_landlock_paths;

/* Size of the tmp dir (tmpfs) and the per-file cap (RLIMIT_FSIZE). */
#define SBX_TMP_BYTES (64ULL * 1024 * 1024)

/* Exit status the broker sees for a violation: death by SIGSYS. */

#endif
