/*
 * runtime/logcap.c — capture a handler's stdout, stderr and lm_log lines
 * into the current invocation's log.
 *
 * fds 1 and 2 are redirected into one pipe; a capture thread reads it (so a
 * chatty handler never blocks on a full pipe) and appends to the log under a
 * mutex.  When the handler returns, logcap_end() flushes stdio and drains
 * the pipe from the calling thread, under the same mutex, with a
 * non-blocking read end: every byte the handler wrote before returning is
 * in the log before the result is sent.
 *
 * Per invocation we keep the last RT_LOG_TAIL bytes (for LogType Tail) and
 * forward at most RT_LOG_CAP_PER_INVOKE bytes to the broker's logs socket
 * as soon as they are read (so a crash loses nothing already printed),
 * the first preceded by the invocation's START line; the rest is counted
 * and dropped, so a 1 GB log costs neither process memory nor broker
 * memory.  A handler that prints nothing sends nothing: the broker writes
 * its whole record (START, END, REPORT) in one go.
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

#define CHUNK 16384

static struct {
    pthread_mutex_t mtx;
    int rfd;
    char tail[RT_LOG_TAIL * 2];
    size_t tail_len;
    char chunk[CHUNK];
    size_t chunk_len;
    size_t forwarded;
    size_t dropped;
    char rid[64];
    char version[16];
    bool streamed; /* something of this invocation went to the broker */
    nng_socket push;
    bool have_push;
    const char *function;
} lc = {.mtx = PTHREAD_MUTEX_INITIALIZER, .rfd = -1};

/* Send one message of log data to the broker (never blocks the handler:
 * dropped when the pipe is full). */
static void push_locked(const char *p, size_t n)
{
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
}

/* Forward what is buffered.  The first data of an invocation is preceded by
 * its START line, so the function's log file reads START, output, END,
 * REPORT in order; the broker writes START itself for invocations that
 * streamed nothing. */
static void forward_chunk_locked(void)
{
    if (lc.chunk_len == 0 || !lc.have_push) {
        lc.chunk_len = 0;
        return;
    }
    if (!lc.streamed && strcmp(lc.rid, "init") != 0) {
        char start[160];
        int k = snprintf(start, sizeof(start), "START RequestId: %s Version: %s\n", lc.rid,
                         lc.version);
        push_locked(start, (size_t)k);
    }
    lc.streamed = true;
    push_locked(lc.chunk, lc.chunk_len);
    lc.chunk_len = 0;
}

static void append_locked(const char *p, size_t n)
{
    /* tail: keep the last RT_LOG_TAIL bytes */
    if (n >= RT_LOG_TAIL) {
        memcpy(lc.tail, p + n - RT_LOG_TAIL, RT_LOG_TAIL);
        lc.tail_len = RT_LOG_TAIL;
    } else {
        if (lc.tail_len + n > sizeof(lc.tail)) {
            size_t keep = RT_LOG_TAIL - n;
            memmove(lc.tail, lc.tail + lc.tail_len - keep, keep);
            lc.tail_len = keep;
        }
        memcpy(lc.tail + lc.tail_len, p, n);
        lc.tail_len += n;
    }
    /* forwarding, capped per invocation */
    while (n > 0) {
        size_t room = RT_LOG_CAP_PER_INVOKE - lc.forwarded;
        if (room == 0) {
            lc.dropped += n;
            return;
        }
        size_t take = n < room ? n : room;
        if (take > CHUNK - lc.chunk_len) {
            take = CHUNK - lc.chunk_len;
        }
        memcpy(lc.chunk + lc.chunk_len, p, take);
        lc.chunk_len += take;
        lc.forwarded += take;
        p += take;
        n -= take;
        if (lc.chunk_len == CHUNK) {
            forward_chunk_locked();
        }
    }
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
static void drain_locked(void)
{
    char buf[8192];
    for (;;) {
        ssize_t n = read(lc.rfd, buf, sizeof(buf));
        if (n > 0) {
            append_locked(buf, (size_t)n);
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
        drain_locked();
        forward_chunk_locked(); /* now, so a crash loses nothing printed */
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

void logcap_begin(const char *request_id, const char *version)
{
    pthread_mutex_lock(&lc.mtx);
    drain_locked();
    forward_chunk_locked(); /* anything written between invocations */
    snprintf(lc.rid, sizeof(lc.rid), "%s", request_id);
    snprintf(lc.version, sizeof(lc.version), "%s", version != NULL ? version : "");
    lc.streamed = false;
    lc.tail_len = 0;
    lc.forwarded = 0;
    lc.dropped = 0;
    pthread_mutex_unlock(&lc.mtx);
}

void logcap_end(void)
{
    fflush(stdout);
    fflush(stderr);
    pthread_mutex_lock(&lc.mtx);
    drain_locked();
    if (lc.dropped > 0) {
        char note[128];
        int n = snprintf(note, sizeof(note), "[lamina] log truncated: %zu bytes dropped\n",
                         lc.dropped);
        lc.forwarded = 0; /* let the note through */
        append_locked(note, (size_t)n);
        lc.forwarded = RT_LOG_CAP_PER_INVOKE;
    }
    forward_chunk_locked();
    pthread_mutex_unlock(&lc.mtx);
}

bool logcap_streamed(void)
{
    pthread_mutex_lock(&lc.mtx);
    bool st = lc.streamed;
    pthread_mutex_unlock(&lc.mtx);
    return st;
}

size_t logcap_tail(char *dst, size_t cap)
{
    pthread_mutex_lock(&lc.mtx);
    size_t n = lc.tail_len < cap ? lc.tail_len : cap;
    memcpy(dst, lc.tail + lc.tail_len - n, n);
    pthread_mutex_unlock(&lc.mtx);
    return n;
}
