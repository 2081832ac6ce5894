/*
 * runtime/logcap.c — capture a handler's stdout, stderr and lm_log lines
 * into the current invocation's log.
 *
 * fds 1 and 2 are redirected into one pipe; lm_log writes into the same
 * pipe, so the log keeps the order in which lines were produced.  A capture
 * thread reads it (a chatty handler never blocks on a full pipe) and
 * appends to the log under a mutex.  When the handler returns, logcap_end()
 * flushes stdio and drains the pipe from the calling thread, under the same
 * mutex, with a non-blocking read end: every byte the handler wrote before
 * returning is in the log before the result is sent.
 *
 * The invocation's log travels to the broker inside its result (one
 * channel, so the broker writes each invocation's record — START, output,
 * END, REPORT — in one piece and in order).  It is capped at
 * RT_LOG_CAP_PER_INVOKE: past that, the first part and the last RT_LOG_TAIL
 * bytes are kept with a note of how much was dropped, so a 1 GB log costs
 * neither this process's memory nor the broker's.  In addition, what the
 * capture thread reads is pushed at once to the broker's logs socket
 * (best effort, never blocking): it only feeds the log tail of an
 * invocation that crashes before it can send a result.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "runtime.h"

#define HEAD_CAP (RT_LOG_CAP_PER_INVOKE - RT_LOG_TAIL - 128)

static struct {
    pthread_mutex_t mtx;
    int rfd;
    char head[HEAD_CAP]; /* the first bytes of the invocation's log */
    size_t head_len;
    char tail[RT_LOG_TAIL * 2]; /* the last RT_LOG_TAIL bytes */
    size_t tail_len;
    size_t dropped; /* bytes neither in head nor (only) in tail */
    size_t pushed; /* bytes pushed for crash tails this invocation */
    char rid[64];
    nng_socket push;
    bool have_push;
    const char *function;
} lc = {.mtx = PTHREAD_MUTEX_INITIALIZER, .rfd = -1};

/* Best-effort copy to the broker for crash tails (never blocks). */
static void push_locked(const char *p, size_t n)
{
    if (!lc.have_push || n == 0 || lc.pushed >= RT_LOG_CAP_PER_INVOKE) {
        return;
    }
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return;
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 5);
    pw_header(&w, "log");
    pw_key(&w, "rid");
    pw_str(&w, lc.rid);
    pw_key(&w, "fn");
    pw_str(&w, lc.function);
    pw_key(&w, "data");
    pw_bin(&w, p, n);
    if (w.err != 0 || nng_sendmsg(lc.push, m, NNG_FLAG_NONBLOCK) != 0) {
        nng_msg_free(m);
    }
    lc.pushed += n;
}

static void append_locked(const char *p, size_t n)
{
    size_t room = HEAD_CAP - lc.head_len;
    size_t h = n < room ? n : room;
    memcpy(lc.head + lc.head_len, p, h);
    lc.head_len += h;
    if (h == n) {
        return;
    }
    /* past the head: keep a rolling tail, count what falls out of it */
    const char *q = p + h;
    size_t k = n - h;
    if (k >= RT_LOG_TAIL) {
        lc.dropped += lc.tail_len + (k - RT_LOG_TAIL);
        memcpy(lc.tail, q + k - RT_LOG_TAIL, RT_LOG_TAIL);
        lc.tail_len = RT_LOG_TAIL;
        return;
    }
    if (lc.tail_len + k > RT_LOG_TAIL) {
        size_t out = lc.tail_len + k - RT_LOG_TAIL;
        lc.dropped += out;
        memmove(lc.tail, lc.tail + out, lc.tail_len - out);
        lc.tail_len -= out;
    }
    memcpy(lc.tail + lc.tail_len, q, k);
    lc.tail_len += k;
}

void logcap_append(const char *p, size_t n)
{
    pthread_mutex_lock(&lc.mtx);
    append_locked(p, n);
    pthread_mutex_unlock(&lc.mtx);
}

/* lm_log lines go through the same pipe as stdout and stderr, so the log
 * keeps the order in which the handler produced its lines (one write of up
 * to PIPE_BUF bytes is atomic). */
void logcap_sink(void *arg, const char *line, size_t len)
{
    (void)arg;
    fflush(stdout);
    while (len > 0) {
        ssize_t w = write(2, line, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        line += w;
        len -= (size_t)w;
    }
}

/* Read what is in the pipe now (non-blocking).  Caller holds the mutex. */
static void drain_locked(bool push)
{
    char buf[8192];
    for (;;) {
        ssize_t n = read(lc.rfd, buf, sizeof(buf));
        if (n > 0) {
            append_locked(buf, (size_t)n);
            if (push) {
                push_locked(buf, (size_t)n);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return;
    }
}

static void *capture_main(void *arg)
{
    (void)arg;
    struct pollfd pfd = {.fd = lc.rfd, .events = POLLIN};
    for (;;) {
        int r = poll(&pfd, 1, -1);
        if (r < 0 && errno != EINTR) {
            return NULL;
        }
        if (r > 0 && (pfd.revents & (POLLERR | POLLNVAL))) {
            return NULL;
        }
        pthread_mutex_lock(&lc.mtx);
        drain_locked(true);
        pthread_mutex_unlock(&lc.mtx);
    }
}

int logcap_start(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        return -1;
    }
    if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0) {
        return -1;
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    lc.rfd = p[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, capture_main, NULL) != 0) {
        return -1;
    }
    pthread_detach(t);
    return 0;
}

void logcap_set_socket(nng_socket push, const char *function)
{
    pthread_mutex_lock(&lc.mtx);
    lc.push = push;
    lc.have_push = true;
    lc.function = function;
    pthread_mutex_unlock(&lc.mtx);
}

void logcap_begin(const char *request_id)
{
    pthread_mutex_lock(&lc.mtx);
    drain_locked(false); /* anything written between invocations is dropped */
    snprintf(lc.rid, sizeof(lc.rid), "%s", request_id);
    lc.head_len = 0;
    lc.tail_len = 0;
    lc.dropped = 0;
    lc.pushed = 0;
    pthread_mutex_unlock(&lc.mtx);
}

void logcap_end(void)
{
    fflush(stdout);
    fflush(stderr);
    pthread_mutex_lock(&lc.mtx);
    drain_locked(false);
    pthread_mutex_unlock(&lc.mtx);
}

size_t logcap_copy(char *dst, size_t cap)
{
    pthread_mutex_lock(&lc.mtx);
    size_t n = lc.head_len < cap ? lc.head_len : cap;
    memcpy(dst, lc.head, n);
    if (lc.tail_len > 0) {
        char note[128];
        int k = snprintf(note, sizeof(note), "\n[lamina] log truncated: %zu bytes dropped\n",
                         lc.dropped);
        if (lc.dropped > 0 && n + (size_t)k <= cap) {
            memcpy(dst + n, note, (size_t)k);
            n += (size_t)k;
        }
        size_t t = lc.tail_len < cap - n ? lc.tail_len : cap - n;
        memcpy(dst + n, lc.tail, t);
        n += t;
    }
    pthread_mutex_unlock(&lc.mtx);
    return n;
}
