/*
 * runtime/sandbox_policy.c — the sandbox policy as data (seccomp allowlist,
 * rlimits).  Filled in by the sandbox work (issue #3).
 */
#include "runtime.h"
