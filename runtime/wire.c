/*
 * runtime/wire.c — the runtime's end of the work socket, without nng's
 * threads.
 *
 * A worker has exactly one request outstanding at a time (NEXT, answered
 * with an invocation), sent and received by its main thread.  nng's req0
 * serves that through its poller thread and taskq threads: every reply
 * woke three or four threads of the worker before the main thread ran, and
 * every request one or two more.  With 64 workers on 2 vCPUs those
 * wake-ups, not the handler, were most of the CPU an invoke cost (about
 * 250 µs per invoke in the runtime, 4-5 thread switches; see the
 * Performance section of the README).  Here the main thread writes the
 * request and blocks in read() for the reply: one wake-up per invoke.
 *
 * The bytes are nng's SP-over-IPC format, so the broker's rep0 socket (and
 * its peer pid and token checks) see an ordinary req0 peer:
 *   - handshake, each way: 00 'S' 'P' 00, the protocol id (16 bits, big
 *     endian: req0 0x30, rep0 0x31), 00 00;
 *   - each message: 01, the length of the rest (64 bits, big endian), then
 *     the SP header — for req/rep the 32-bit request id with its high bit
 *     set — then the body.
 * req0's rules kept: a new id per request, replies with another id are
 * dropped, replies over the receive cap are refused (the connection is
 * then useless and the caller exits).  Resend is off, as it was.
 */
#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WIRE_PROTO_REQ0 0x30
#define WIRE_PROTO_REP0 0x31
#define WIRE_RBUF 16384
#define WIRE_FRAME_HDR 13 /* type, 64-bit length, 32-bit request id */

static int sys_err(int e)
{
    switch (e) {
    case ECONNREFUSED: return NNG_ECONNREFUSED;
    case ENOENT: return NNG_ENOENT;
    case ENOMEM: return NNG_ENOMEM;
    case EPIPE:
    case ECONNRESET:
    case ENOTCONN: return NNG_ECLOSED;
    case EAGAIN: return NNG_ETIMEDOUT;
    default: return NNG_ESYSERR + e;
    }
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Wait until fd is readable or the deadline (ms, monotonic; < 0: none)
 * passes.  0 or an NNG_E* code.
 *
 * We always wait in poll(), never in a blocking read(): a reader asleep in
 * an AF_UNIX stream read() is on the socket's wait queue unfiltered, so it
 * is also woken each time the broker consumes what we sent (the kernel
 * signals "writable" on that queue), finds nothing and sleeps again — a
 * second thread switch per invoke, and a cross-CPU wake-up the broker pays
 * for.  poll()'s wake-ups are filtered by event (POLLIN only). */
static int wait_readable(int fd, double deadline)
{
    for (;;) {
        double left = deadline < 0 ? 0 : deadline - mono_ms();
        if (deadline >= 0 && left <= 0) {
            return NNG_ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, deadline < 0 ? -1 : (int)left + 1);
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return sys_err(errno);
        }
    }
}

/* Read at least once into dst (up to cap bytes).  Returns bytes read or a
 * negated NNG_E* code. */
static long read_some(wire *w, void *dst, size_t cap, double deadline)
{
    for (;;) {
        int rv = wait_readable(w->fd, deadline);
        if (rv != 0) {
            return -rv;
        }
        ssize_t n = read(w->fd, dst, cap);
        if (n > 0) {
            return (long)n;
        }
        if (n == 0) {
            return -NNG_ECLOSED;
        }
        if (errno != EINTR) {
            return -sys_err(errno);
        }
    }
}

/* Make at least `need` unread bytes available in rbuf. */
static int fill(wire *w, size_t need, double deadline)
{
    if (w->roff > 0 && w->rlen - w->roff < need) {
        memmove(w->rbuf, w->rbuf + w->roff, w->rlen - w->roff);
        w->rlen -= w->roff;
        w->roff = 0;
    }
    while (w->rlen - w->roff < need) {
        long n = read_some(w, w->rbuf + w->rlen, w->rcap - w->rlen, deadline);
        if (n < 0) {
            return (int)-n;
        }
        w->rlen += (size_t)n;
    }
    return 0;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return sys_err(errno);
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

static int handshake(wire *w, double deadline)
{
    unsigned char mine[8] = {0, 'S', 'P', 0, 0, WIRE_PROTO_REQ0, 0, 0};
    struct iovec iov = {.iov_base = mine, .iov_len = sizeof(mine)};
    int rv = write_all(w->fd, &iov, 1);
    if (rv == 0) {
        rv = fill(w, 8, deadline);
    }
    if (rv != 0) {
        return rv;
    }
    const unsigned char *p = w->rbuf + w->roff;
    if (p[0] != 0 || p[1] != 'S' || p[2] != 'P' || p[3] != 0 || p[4] != 0 ||
        p[5] != WIRE_PROTO_REP0) {
        return NNG_EPROTO;
    }
    w->roff += 8;
    return 0;
}

int wire_dial(wire *w, const char *url, size_t recvmax, int timeout_ms)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = url + 6;
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    if (strncmp(url, "ipc://", 6) != 0) {
        return NNG_EADDRINVAL;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return NNG_EADDRINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    w->recvmax = recvmax;
    w->rcap = WIRE_RBUF;
    w->rbuf = malloc(w->rcap);
    /* nng starts its request ids at a random point; any start will do */
    w->last_id = (uint32_t)getpid() * 2654435761u ^ (uint32_t)mono_ms();
    if (w->rbuf == NULL) {
        return NNG_ENOMEM;
    }
    w->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rv = w->fd < 0 ? sys_err(errno) : 0;
    if (rv == 0 && connect(w->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        rv = sys_err(errno);
    }
    if (rv == 0) {
        rv = handshake(w, timeout_ms >= 0 ? mono_ms() + timeout_ms : -1);
    }
    if (rv != 0) {
        wire_close(w);
    }
    return rv;
}

void wire_close(wire *w)
{
    if (w->fd >= 0) {
        close(w->fd);
    }
    w->fd = -1;
    free(w->rbuf);
    w->rbuf = NULL;
    w->rcap = w->roff = w->rlen = 0;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

int wire_send(wire *w, const void *body, size_t len)
{
    if (w->fd < 0) {
        return NNG_ECLOSED;
    }
    unsigned char hdr[WIRE_FRAME_HDR];
    w->last_id = (w->last_id + 1) | 0x80000000u;
    hdr[0] = 1;
    put_be(hdr + 1, (uint64_t)len + 4, 8);
    put_be(hdr + 9, w->last_id, 4);
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = sizeof(hdr)},
                           {.iov_base = (void *)body, .iov_len = len}};
    return write_all(w->fd, iov, len > 0 ? 2 : 1);
}

/* Copy a body of n bytes into m: first what is buffered, then straight
 * from the socket. */
static int read_body(wire *w, nng_msg *m, size_t n, double deadline)
{
    unsigned char *dst = nng_msg_body(m);
    size_t have = w->rlen - w->roff < n ? w->rlen - w->roff : n;
    memcpy(dst, w->rbuf + w->roff, have);
    w->roff += have;
    while (have < n) {
        long k = read_some(w, dst + have, n - have, deadline);
        if (k < 0) {
            return (int)-k;
        }
        have += (size_t)k;
    }
    return 0;
}

int wire_recv(wire *w, nng_msg **out, int timeout_ms)
{
    double deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : -1;
    *out = NULL;
    if (w->fd < 0) {
        return NNG_ECLOSED;
    }
    for (;;) {
        int rv = fill(w, WIRE_FRAME_HDR, deadline);
        if (rv != 0) {
            return rv;
        }
        const unsigned char *p = w->rbuf + w->roff;
        uint64_t len = get_be(p + 1, 8);
        uint32_t id = (uint32_t)get_be(p + 9, 4);
        if (p[0] != 1 || len < 4) {
            return NNG_EPROTO;
        }
        if (len - 4 > w->recvmax) {
            return NNG_EMSGSIZE;
        }
        w->roff += WIRE_FRAME_HDR;
        nng_msg *m = NULL;
        if (nng_msg_alloc(&m, (size_t)(len - 4)) != 0) {
            return NNG_ENOMEM;
        }
        rv = read_body(w, m, (size_t)(len - 4), deadline);
        if (rv != 0) {
            nng_msg_free(m);
            return rv;
        }
        if (id == w->last_id) {
            *out = m;
            return 0;
        }
        nng_msg_free(m); /* a reply to an earlier request */
    }
}
