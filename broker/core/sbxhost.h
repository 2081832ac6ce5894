/*
 * broker/core/sbxhost.h — the host side of the worker sandbox (issues #3,
 * #10): per-worker slots (uid, tmp dir, memory and pids cgroups,
 * violation-report pipe), the verdict on a dead worker, what a killed
 * predecessor left behind, and which layers this machine supports.
 *
 * A slot's life: sbxhost_acquire (B.mtx held, memory only) → sbxhost_setup
 * (spawner thread, no B.mtx: a uid no process runs as, mkdir, mount,
 * cgroup files) → posix_spawn with sbxhost_report_fd as the child's fd 3 →
 * sbxhost_bind(pid) → …  → waitpid → sbxhost_reaped (reaper thread, no
 * B.mtx: reads the report, checks the cgroup for an OOM kill, kills
 * whatever is left in the environment's cgroups and under its uid,
 * unmounts and removes its tmp dir and cgroups, and only then frees the
 * slot and the uid).  sbxhost_release undoes acquire/setup when the spawn
 * failed.  The slot table has its own leaf lock: it may be taken under
 * B.mtx.
 */
#ifndef BROKER_SANDBOX_HOST_H
#define BROKER_SANDBOX_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* Worker uids/gids (broker as root): one of BASE .. BASE+COUNT-1, shared
 * by every broker on the machine through per-uid locks (sbxhost.c).
 * The range lies outside systemd's dynamic-user (61184-65519) and
 * container (524288+) ranges, below the default subuid start (100000). */
#define SBXHOST_UID_BASE 70000
#define SBXHOST_UID_COUNT 4096
#define SBXHOST_SLOTS 1024
#define SBXHOST_PIDS_MAX 64 /* pids.max per environment (= RLIMIT_NPROC) */

/* How a worker died, as far as the sandbox can tell. */
typedef struct sbx_verdict {
    enum { SBX_V_NONE = 0, SBX_V_VIOLATION, SBX_V_OOM } kind;
    char syscall[48]; /* for a violation: the syscall's name, or "unknown" */
} sbx_verdict;

/* Name this broker's resources after its state dir (realpath) and reclaim
 * what a predecessor on the same state dir left: processes in its cgroups,
 * tmpfs mounts, cgroups, its /tmp dir, and processes of worker uids no
 * live broker holds.  Call once at start, before pool_start, while holding
 * the state dir's lock (main.c), so that predecessor means dead.  Logs
 * what it reclaimed; never fails the start. */
void sbxhost_init(const char *state_dir);
/* After the pool has stopped: one more try at slots whose cleanup failed. */
void sbxhost_finish(void);

/* Reserve a slot (memory only; B.mtx may be held).  Returns the slot or -1
 * when all are in use. */
int sbxhost_acquire(void);
/* Take a uid that no process runs as, create the slot's tmp dir (a tmpfs
 * of SBX tmp size when we may mount), its memory cgroup with limit
 * memory_mb and its pids cgroup (when writable) and its report pipe.
 * Slow: call without B.mtx.  0, or -1 with the failing call named. */
int sbxhost_setup(int slot, uint32_t memory_mb, char *err, size_t errlen);
/* The child's end of the report pipe (to dup onto fd 3), -1 if none. */
int sbxhost_report_fd(int slot);
/* Values for the worker's environment (valid while the slot is held,
 * after sbxhost_setup). */
const char *sbxhost_tmp(int slot);
const char *sbxhost_cgroup(int slot); /* memory cgroup, NULL when none */
const char *sbxhost_pids_cgroup(int slot); /* NULL when none or the same dir (v2) */
long sbxhost_uid(int slot); /* -1 when the broker is not root */
/* The worker was spawned as pid: close our copy of the child's pipe end. */
void sbxhost_bind(int slot, pid_t pid);
/* Undo a slot whose spawn failed. */
void sbxhost_release(int slot);
/* pid was reaped with status st: fill *v, clean up and free its slot.
 * Without B.mtx.  A pid without a slot (unsafe mode) gets SBX_V_NONE; pid
 * <= 0 (nothing to reap) only retries earlier failed cleanups, at most
 * once a second. */
void sbxhost_reaped(pid_t pid, int st, sbx_verdict *v);

/* The cpu cgroup every worker joins (shared), or NULL when none. */
const char *sbxhost_cpu_group(void);

/* Write the "Sandbox" status map: which layers are active here. */
void sbxhost_write_status(proto_writer *w, bool unsafe);

#endif
