/*
 * tools/bench/baseline.c — raw-nng baselines: the helper processes (echo,
 * forwarder, cold child) and the bench-side targets that drive them.  See
 * baseline.h for the topology and what is timed.
 *
 * The helpers follow nng's async server: N slots, each a tiny state machine
 * driven only by its aio's completion callback (the forwarder: RECV on the
 * REP context → SEND on the REQ context → WAIT for the REQ reply → SEND on
 * the REP context → RECV ...).  No callback blocks; N bounds outstanding
 * work.  Messages are passed along untouched: an aio owns its message from
 * a successful receive until the send that hands it on succeeds; on a
 * failed send the slot frees it.
 */
#include "baseline.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#define BASELINE_RECVMAX (8u * 1024u * 1024u) /* payload cap 6 MiB + slack */
#define BASELINE_MAX_SLOTS 4096
#define BASELINE_CONNECT_MS 5000

struct baseline {
    char dir[64];
    char url_in[128];
    pid_t echo_pid;
    pid_t fwd_pid;
    nng_socket sock; /* warm: REQ dialed to the forwarder */
    bool sock_open;
    bool cold;
    /* cold, template kind: the template process, its command pipe (we
     * write a URL a line) and its answer pipe (a child's pid a line) */
    pid_t tpl_pid;
    int tpl_cmd, tpl_ans;
    FILE *tpl_ans_f;
    const void *payload;
    size_t len;
    int timeout_ms;
    _Atomic unsigned seq; /* cold: unique socket names */
};

/* ---- shared helpers ---------------------------------------------------- */

static int sock_limits(nng_socket s)
{
    int rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, BASELINE_RECVMAX);
    return rv;
}

static int req_no_resend(nng_socket s)
{
    /* A request is sent once; a lost one shows up as a timeout, never as
     * a silent retry (the SDK client does the same). */
    return nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
}

static int parse_slots(const char *s)
{
    int n = atoi(s);
    return n < 1 ? 1 : (n > BASELINE_MAX_SLOTS ? BASELINE_MAX_SLOTS : n);
}

/* Block SIGTERM/SIGINT before nng starts its threads, then wait for one. */
static void block_term(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

static void wait_term(const sigset_t *set)
{
    int sig = 0;
    sigwait(set, &sig);
}

/* ---- echo helper ------------------------------------------------------- */

typedef struct echo_slot {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
} echo_slot;

static void echo_cb(void *arg)
{
    echo_slot *s = arg;
    int rv = nng_aio_result(s->aio);
    if (rv == NNG_ECLOSED) {
        return;
    }
    if (s->sending) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(s->aio));
        }
        s->sending = false;
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    if (rv != 0) {
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    s->sending = true;
    nng_ctx_send(s->ctx, s->aio);
}

int baseline_echo_main(int argc, char **argv)
{
    nng_socket s;
    sigset_t set;
    if (argc < 4) {
        fprintf(stderr, "usage: lamina-bench __baseline-echo URL SLOTS\n");
        return 2;
    }
    int n = parse_slots(argv[3]);
    echo_slot *slots = calloc((size_t)n, sizeof(*slots));
    block_term(&set);
    if (slots == NULL || nng_rep0_open(&s) != 0 || sock_limits(s) != 0 ||
        nng_listen(s, argv[2], NULL, 0) != 0) {
        fprintf(stderr, "lamina-bench echo: cannot listen on %s\n", argv[2]);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (nng_ctx_open(&slots[i].ctx, s) != 0 ||
            nng_aio_alloc(&slots[i].aio, echo_cb, &slots[i]) != 0) {
            return 1;
        }
        nng_ctx_recv(slots[i].ctx, slots[i].aio);
    }
    wait_term(&set);
    nng_close(s);
    return 0;
}

/* ---- forwarding helper ------------------------------------------------- */

typedef enum fwd_state { FWD_RECV, FWD_SEND_OUT, FWD_WAIT_OUT, FWD_SEND_BACK } fwd_state;

typedef struct fwd_slot {
    nng_ctx in; /* REP context: the client's request */
    nng_ctx out; /* REQ context: towards the echo */
    nng_aio *aio;
    fwd_state state;
} fwd_slot;

static void fwd_restart(fwd_slot *s)
{
    s->state = FWD_RECV;
    nng_ctx_recv(s->in, s->aio);
}

static void fwd_cb(void *arg)
{
    fwd_slot *s = arg;
    int rv = nng_aio_result(s->aio);
    if (rv == NNG_ECLOSED) {
        return;
    }
    if (rv != 0) {
        if (s->state == FWD_SEND_OUT || s->state == FWD_SEND_BACK) {
            nng_msg_free(nng_aio_get_msg(s->aio));
        }
        fwd_restart(s);
        return;
    }
    switch (s->state) {
    case FWD_RECV:
        s->state = FWD_SEND_OUT;
        nng_ctx_send(s->out, s->aio);
        break;
    case FWD_SEND_OUT:
        s->state = FWD_WAIT_OUT;
        nng_ctx_recv(s->out, s->aio);
        break;
    case FWD_WAIT_OUT:
        s->state = FWD_SEND_BACK;
        nng_ctx_send(s->in, s->aio);
        break;
    case FWD_SEND_BACK: fwd_restart(s); break;
    }
}

static int fwd_sockets(nng_socket *in, nng_socket *out, const char *url_in, const char *url_out)
{
    if (nng_rep0_open(in) != 0 || sock_limits(*in) != 0) {
        return -1;
    }
    if (nng_req0_open(out) != 0 || sock_limits(*out) != 0 || req_no_resend(*out) != 0) {
        return -1;
    }
    /* Dial first (in the background), so the path is whole by the time the
     * client connects to our listener. */
    if (nng_dial(*out, url_out, NULL, NNG_FLAG_NONBLOCK) != 0) {
        return -1;
    }
    return nng_listen(*in, url_in, NULL, 0) != 0 ? -1 : 0;
}

int baseline_forward_main(int argc, char **argv)
{
    nng_socket in, out;
    sigset_t set;
    if (argc < 5) {
        fprintf(stderr, "usage: lamina-bench __baseline-forward URL_IN URL_OUT SLOTS\n");
        return 2;
    }
    int n = parse_slots(argv[4]);
    fwd_slot *slots = calloc((size_t)n, sizeof(*slots));
    block_term(&set);
    if (slots == NULL || fwd_sockets(&in, &out, argv[2], argv[3]) != 0) {
        fprintf(stderr, "lamina-bench forward: cannot set up %s -> %s\n", argv[2], argv[3]);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        fwd_slot *s = &slots[i];
        if (nng_ctx_open(&s->in, in) != 0 || nng_ctx_open(&s->out, out) != 0 ||
            nng_aio_alloc(&s->aio, fwd_cb, s) != 0) {
            return 1;
        }
        fwd_restart(s);
    }
    wait_term(&set);
    nng_close(in);
    nng_close(out);
    return 0;
}

/* ---- cold child -------------------------------------------------------- */

int baseline_cold_main(int argc, char **argv)
{
    nng_socket s;
    nng_msg *m = NULL;
    sigset_t set;
    if (argc < 3) {
        fprintf(stderr, "usage: lamina-bench __baseline-cold URL\n");
        return 2;
    }
    block_term(&set);
    if (nng_rep0_open(&s) != 0 || sock_limits(s) != 0 || nng_dial(s, argv[2], NULL, 0) != 0) {
        return 1;
    }
    if (nng_recvmsg(s, &m, 0) != 0) {
        return 1;
    }
    if (nng_sendmsg(s, m, 0) != 0) {
        nng_msg_free(m);
        return 1;
    }
    /* Closing now could drop the queued reply: stay until the bench, which
     * has its answer, ends us. */
    wait_term(&set);
    nng_close(s);
    return 0;
}

/* ---- template (zygote) helper ----------------------------------------- */

/* The template's seccomp program: an allow-by-default filter with as many
 * rules as the runtime's policy (~60), compiled once in the template and
 * installed by each child, as a Lamina template would do.  The rules deny
 * calls the child never makes, so it cannot change what the child does. */
static const int TPL_DENIED[] = {
    SCMP_SYS(ptrace),
    SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev),
    SCMP_SYS(kexec_load),
    SCMP_SYS(init_module),
    SCMP_SYS(finit_module),
    SCMP_SYS(delete_module),
    SCMP_SYS(mount),
    SCMP_SYS(umount2),
    SCMP_SYS(pivot_root),
    SCMP_SYS(swapon),
    SCMP_SYS(swapoff),
    SCMP_SYS(reboot),
    SCMP_SYS(sethostname),
    SCMP_SYS(setdomainname),
    SCMP_SYS(iopl),
    SCMP_SYS(ioperm),
    SCMP_SYS(acct),
    SCMP_SYS(settimeofday),
    SCMP_SYS(clock_settime),
    SCMP_SYS(adjtimex),
    SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open),
    SCMP_SYS(userfaultfd),
    SCMP_SYS(keyctl),
    SCMP_SYS(add_key),
    SCMP_SYS(request_key),
    SCMP_SYS(unshare),
    SCMP_SYS(setns),
    SCMP_SYS(open_by_handle_at),
    SCMP_SYS(name_to_handle_at),
    SCMP_SYS(lookup_dcookie),
    SCMP_SYS(quotactl),
    SCMP_SYS(syslog),
    SCMP_SYS(vhangup),
    SCMP_SYS(personality),
    SCMP_SYS(fanotify_init),
    SCMP_SYS(kcmp),
    SCMP_SYS(mbind),
    SCMP_SYS(migrate_pages),
    SCMP_SYS(move_pages),
    SCMP_SYS(set_mempolicy),
    SCMP_SYS(nfsservctl),
    SCMP_SYS(uselib),
    SCMP_SYS(ustat),
    SCMP_SYS(sysfs),
    SCMP_SYS(_sysctl),
    SCMP_SYS(vm86),
    SCMP_SYS(vm86old),
    SCMP_SYS(create_module),
    SCMP_SYS(get_kernel_syms),
    SCMP_SYS(query_module),
    SCMP_SYS(afs_syscall),
    SCMP_SYS(tuxcall),
    SCMP_SYS(security),
    SCMP_SYS(io_uring_setup),
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register),
    SCMP_SYS(fsopen),
    SCMP_SYS(fsmount),
};

/* Compile the filter to raw BPF (malloc'd into prog), or -1. */
static int tpl_compile(struct sock_fprog *prog)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = ctx != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < sizeof(TPL_DENIED) / sizeof(TPL_DENIED[0]); i++) {
        if (TPL_DENIED[i] >= 0) { /* libseccomp's negative pseudo-numbers: absent here */
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), TPL_DENIED[i], 0);
        }
    }
    int fd = rc == 0 ? memfd_create("lamina-bench-bpf", MFD_CLOEXEC) : -1;
    if (fd < 0 || seccomp_export_bpf(ctx, fd) != 0) {
        rc = -1;
    }
    seccomp_release(ctx);
    off_t end = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
    size_t len = end > 0 ? (size_t)end : 0;
    char *buf = len > 0 ? malloc(len) : NULL;
    if (buf == NULL || pread(fd, buf, len, 0) != (ssize_t)len ||
        len % sizeof(struct sock_filter) != 0) {
        rc = -1;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0) {
        free(buf);
        return -1;
    }
    prog->len = (unsigned short)(len / sizeof(struct sock_filter));
    prog->filter = (struct sock_filter *)(void *)buf;
    return 0;
}

/* A child of the template: the per-environment part of a cold start. */
static void tpl_child(const char *url, const char *so, const struct sock_fprog *prog)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (so != NULL && dlopen(so, RTLD_NOW | RTLD_LOCAL) == NULL) {
        _exit(3);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog) != 0) {
        _exit(4);
    }
    char *argv[] = {"lamina-bench", "__baseline-cold", (char *)url, NULL};
    _exit(baseline_cold_main(3, argv)); /* nng starts here, after the fork */
}

/* __baseline-template [HANDLER.so]: exec'd once, libraries loaded, nng never
 * touched; for each URL line on stdin fork a child (no exec) and write its
 * pid on stdout. */
int baseline_template_main(int argc, char **argv)
{
    const char *so = argc > 2 ? argv[2] : NULL;
    struct sock_fprog prog;
    if (tpl_compile(&prog) != 0) {
        fprintf(stderr, "lamina-bench template: cannot compile the seccomp filter\n");
        return 1;
    }
    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    printf("ready\n");
    fflush(stdout);
    char url[256];
    while (fgets(url, sizeof(url), stdin) != NULL) {
        url[strcspn(url, "\n")] = '\0';
        pid_t pid = fork();
        if (pid == 0) {
            tpl_child(url, so, &prog);
        }
        printf("%d\n", (int)pid);
        fflush(stdout);
    }
    free(prog.filter);
    return 0;
}

/* ---- bench side: processes --------------------------------------------- */

/* fork + exec this binary with argv; the child dies with us. */
static pid_t spawn_self(char *const argv[])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(1);
        }
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

static void stop_child(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR) {
        }
        *pid = 0;
    }
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static baseline *baseline_alloc(const void *payload, size_t len, int timeout_ms, char *err,
                                size_t errlen)
{
    baseline *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(b->dir, sizeof(b->dir), "/tmp/lamina-bench.XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        free(b);
        return NULL;
    }
    b->payload = payload;
    b->len = len;
    b->timeout_ms = timeout_ms;
    return b;
}

/* Dial the forwarder, retrying until it listens (bounded by a deadline). */
static int dial_until_up(nng_socket s, const char *url)
{
    uint64_t deadline = load_now_ns() + (uint64_t)BASELINE_CONNECT_MS * 1000000u;
    int rv;
    while ((rv = nng_dial(s, url, NULL, 0)) != 0 && load_now_ns() < deadline) {
        nng_msleep(2);
    }
    return rv;
}

/* One request through the whole path, to know both hops are connected. */
static int probe(baseline *b)
{
    nng_msg *m = NULL;
    nng_socket_set_ms(b->sock, NNG_OPT_RECVTIMEO, BASELINE_CONNECT_MS);
    int rv = nng_send(b->sock, "{}", 2, 0);
    if (rv == 0) {
        rv = nng_recvmsg(b->sock, &m, 0);
    }
    nng_msg_free(m);
    return rv;
}

/* Two hops: echo and forwarder, the bench dials the forwarder; one hop:
 * the echo alone, dialed directly. */
static int start_helpers(baseline *b, int slots, int hops)
{
    char url_out[128], nslots[16];
    snprintf(b->url_in, sizeof(b->url_in), "ipc://%s/fwd.sock", b->dir);
    snprintf(url_out, sizeof(url_out), "ipc://%s/echo.sock", b->dir);
    snprintf(nslots, sizeof(nslots), "%d", slots);
    char *echo_argv[] = {"lamina-bench", "__baseline-echo", url_out, nslots, NULL};
    char *fwd_argv[] = {"lamina-bench", "__baseline-forward", b->url_in, url_out, nslots, NULL};
    b->echo_pid = spawn_self(echo_argv);
    if (hops == 1) {
        snprintf(b->url_in, sizeof(b->url_in), "%s", url_out);
        return b->echo_pid > 0 ? 0 : -1;
    }
    b->fwd_pid = spawn_self(fwd_argv);
    return (b->echo_pid > 0 && b->fwd_pid > 0) ? 0 : -1;
}

baseline *baseline_start_warm(int slots, int hops, const void *payload, size_t len, int timeout_ms,
                              char *err, size_t errlen)
{
    baseline *b = baseline_alloc(payload, len, timeout_ms, err, errlen);
    if (b == NULL) {
        return NULL;
    }
    if (start_helpers(b, slots, hops) != 0) {
        snprintf(err, errlen, "baseline: cannot fork helpers: %s", strerror(errno));
        goto fail;
    }
    int rv = nng_req0_open(&b->sock);
    b->sock_open = rv == 0;
    if (rv == 0) {
        rv = sock_limits(b->sock);
    }
    if (rv == 0) {
        rv = req_no_resend(b->sock);
    }
    if (rv == 0) {
        rv = dial_until_up(b->sock, b->url_in);
    }
    if (rv == 0) {
        rv = probe(b);
    }
    if (rv != 0) {
        snprintf(err, errlen, "baseline: helpers did not answer on %s: %s", b->url_in,
                 nng_strerror(rv));
        goto fail;
    }
    /* Both hops are connected: the socket files are no longer needed, and
     * removing them now leaves nothing behind if we are killed. */
    remove_dir(b->dir);
    return b;
fail:
    baseline_stop(b);
    return NULL;
}

baseline *baseline_start_cold(const void *payload, size_t len, int timeout_ms, char *err,
                              size_t errlen)
{
    baseline *b = baseline_alloc(payload, len, timeout_ms, err, errlen);
    if (b != NULL) {
        b->cold = true;
    }
    return b;
}

baseline *baseline_start_template(const char *handler_so, const void *payload, size_t len,
                                  int timeout_ms, char *err, size_t errlen)
{
    baseline *b = baseline_start_cold(payload, len, timeout_ms, err, errlen);
    int cmd[2], ans[2];
    if (b == NULL) {
        return NULL;
    }
    if (pipe2(cmd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "template: pipe: %s", strerror(errno));
        baseline_stop(b);
        return NULL;
    }
    if (pipe2(ans, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "template: pipe: %s", strerror(errno));
        close(cmd[0]);
        close(cmd[1]);
        baseline_stop(b);
        return NULL;
    }
    pid_t parent = getpid();
    b->tpl_pid = fork();
    if (b->tpl_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent || dup2(cmd[0], 0) < 0 || dup2(ans[1], 1) < 0) {
            _exit(1);
        }
        char *argv[] = {"lamina-bench", "__baseline-template", (char *)handler_so, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(cmd[0]);
    close(ans[1]);
    b->tpl_cmd = cmd[1];
    b->tpl_ans = ans[0];
    b->tpl_ans_f = fdopen(ans[0], "r");
    char ready[16] = "";
    if (b->tpl_pid < 0 || b->tpl_ans_f == NULL ||
        fgets(ready, sizeof(ready), b->tpl_ans_f) == NULL || strcmp(ready, "ready\n") != 0) {
        snprintf(err, errlen, "template: cannot start: %s", strerror(errno));
        baseline_stop(b);
        return NULL;
    }
    return b;
}

void baseline_stop(baseline *b)
{
    if (b == NULL) {
        return;
    }
    if (b->tpl_cmd > 0) {
        close(b->tpl_cmd); /* the template reads EOF and ends */
    }
    if (b->tpl_ans_f != NULL) {
        fclose(b->tpl_ans_f);
    } else if (b->tpl_ans > 0) {
        close(b->tpl_ans);
    }
    stop_child(&b->tpl_pid);
    if (b->sock_open) {
        nng_close(b->sock);
    }
    stop_child(&b->fwd_pid);
    stop_child(&b->echo_pid);
    remove_dir(b->dir);
    free(b);
}

/* ---- bench side: warm target ------------------------------------------- */

typedef struct warm_tls {
    baseline *b;
    nng_ctx ctx;
    nng_aio *aio;
} warm_tls;

static int warm_open(void *arg, void **out)
{
    warm_tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -1;
    }
    t->b = arg;
    if (nng_ctx_open(&t->ctx, t->b->sock) != 0 || nng_aio_alloc(&t->aio, NULL, NULL) != 0) {
        free(t);
        return -1;
    }
    nng_aio_set_timeout(t->aio, t->b->timeout_ms);
    *out = t;
    return 0;
}

static void warm_close(void *tls)
{
    warm_tls *t = tls;
    nng_aio_free(t->aio);
    nng_ctx_close(t->ctx);
    free(t);
}

static void fail_with(load_outcome *o, int rv)
{
    o->ok = false;
    snprintf(o->err_class, sizeof(o->err_class), "%s",
             rv == NNG_ETIMEDOUT ? "client_timeout" : "transport");
}

/* One request on this caller's context, waiting on its aio (as the SDK
 * client's calls do). */
static void warm_send(void *tls, load_outcome *o)
{
    warm_tls *t = tls;
    nng_msg *m = NULL;
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0 && (rv = nng_msg_append(m, t->b->payload, t->b->len)) != 0) {
        nng_msg_free(m);
    }
    if (rv != 0) {
        fail_with(o, rv);
        return;
    }
    nng_aio_set_msg(t->aio, m);
    nng_ctx_send(t->ctx, t->aio);
    nng_aio_wait(t->aio);
    if ((rv = nng_aio_result(t->aio)) != 0) {
        nng_msg_free(m);
        fail_with(o, rv);
        return;
    }
    nng_ctx_recv(t->ctx, t->aio);
    nng_aio_wait(t->aio);
    if ((rv = nng_aio_result(t->aio)) != 0) {
        fail_with(o, rv);
        return;
    }
    m = nng_aio_get_msg(t->aio);
    o->ok = nng_msg_len(m) == t->b->len;
    if (!o->ok) {
        snprintf(o->err_class, sizeof(o->err_class), "transport");
    }
    nng_msg_free(m);
}

/* ---- bench side: cold target ------------------------------------------- */

static int cold_listen(baseline *b, nng_socket *s, char *url, size_t urllen)
{
    unsigned k = atomic_fetch_add(&b->seq, 1);
    snprintf(url, urllen, "ipc://%s/cold%u.sock", b->dir, k);
    int rv = nng_req0_open(s);
    if (rv != 0) {
        return rv;
    }
    if ((rv = sock_limits(*s)) == 0 && (rv = req_no_resend(*s)) == 0 &&
        (rv = nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, b->timeout_ms)) == 0) {
        /* a child that never dials (it failed to start) must not hang the send */
        rv = nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, b->timeout_ms);
    }
    if (rv == 0) {
        rv = nng_listen(*s, url, NULL, 0);
    }
    if (rv != 0) {
        nng_close(*s);
    }
    return rv;
}

/* Time fork+exec of a process that dials back and answers one request. */
static void cold_send(void *arg, load_outcome *o)
{
    baseline *b = arg;
    nng_socket s;
    nng_msg *m = NULL;
    char url[160];
    int rv = cold_listen(b, &s, url, sizeof(url));
    if (rv != 0) {
        fail_with(o, rv);
        return;
    }
    uint64_t t0 = load_now_ns();
    pid_t pid = 0;
    if (b->tpl_pid > 0) { /* ask the template for a child */
        char line[200];
        int n = snprintf(line, sizeof(line), "%s\n", url);
        pid = write(b->tpl_cmd, line, (size_t)n) == n ? 1 : -1;
    } else {
        char *argv[] = {"lamina-bench", "__baseline-cold", url, NULL};
        pid = spawn_self(argv);
    }
    rv = pid > 0 ? nng_send(s, (void *)b->payload, b->len, 0) : NNG_ENOMEM;
    if (rv == 0) {
        rv = nng_recvmsg(s, &m, 0);
    }
    uint64_t t1 = load_now_ns();
    nng_msg_free(m);
    nng_close(s);
    if (b->tpl_pid > 0) { /* the template's child: its pid, then end it */
        int child = 0;
        if (pid > 0 && fscanf(b->tpl_ans_f, "%d", &child) == 1 && child > 0) {
            kill(child, SIGKILL);
        } else if (rv == 0) {
            rv = NNG_EINTERNAL;
        }
    } else {
        stop_child(&pid);
    }
    if (rv != 0) {
        fail_with(o, rv);
        return;
    }
    o->ok = true;
    o->cold = true;
    o->latency_ns = t1 - t0;
}

load_target baseline_target(baseline *b)
{
    load_target t = {.label = "baseline", .arg = b};
    if (b->cold) {
        t.send_one = cold_send;
    } else {
        t.thread_open = warm_open;
        t.thread_close = warm_close;
        t.send_one = warm_send;
    }
    return t;
}
