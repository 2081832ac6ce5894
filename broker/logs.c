/*
 * broker/logs.c — function logs, in <state>/logs/<function>.log.
 *
 * Two sources:
 *   - runtimes push handler output over ipc://<state>/logs.sock (pull0), as
 *     soon as they read it, tagged with the request id and preceded by the
 *     invocation's START line;
 *   - the broker's own records (START for silent invocations, platform
 *     errors, END, REPORT) are appended by logs_write() to an in-memory
 *     batch under a small lock — no message, no thread wake-up per invoke
 *     (waking this thread twice per invoke cost ~120 µs of sync-invoke p50
 *     on a 2-vCPU VM).
 * One thread owns the files.  It writes the batch every LOGS_FLUSH_MS, when
 * it grows past LOGS_KICK_BYTES (then a wake-up message is sent), and
 * always before writing a runtime's push — so a function's records stay in
 * order: an invocation's END/REPORT is batched before the next invocation
 * is dispatched, hence before any of that invocation's output arrives.  It
 * also copies handler output into the running invocation's small buffer so
 * that a crash's log tail still shows what the handler printed.  Nothing
 * here ever blocks a sender: past LOGS_PENDING_MAX bytes records are
 * dropped and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "broker.h"

#define LOGS_INPROC "inproc://lamina-logs"
#define LOGS_FLUSH_MS 50
#define LOGS_KICK_BYTES (256 * 1024)
#define LOGS_PENDING_MAX (8 * 1024 * 1024)

static pthread_t logs_thr;
static bool logs_running;

/* The batch: records [u8 name length][name][u32 length][text], in order. */
static struct {
    pthread_mutex_t mtx;
    char *buf;
    size_t len, cap;
    uint64_t dropped;
    bool kicked;
} batch = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void kick(void)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) == 0 && nng_sendmsg(B.logs_push, m, NNG_FLAG_NONBLOCK) != 0) {
        nng_msg_free(m);
    }
}

void logs_write(const char *function, const char *text, size_t len)
{
    size_t fl = strlen(function);
    size_t need = 1 + fl + 4 + len;
    bool wake = false;
    if (fl > NAME_MAX_LEN || len > UINT32_MAX) {
        return;
    }
    pthread_mutex_lock(&batch.mtx);
    if (batch.len + need > LOGS_PENDING_MAX) {
        batch.dropped++;
    } else {
        if (batch.len + need > batch.cap) {
            size_t nc = (batch.len + need) * 2;
            char *nb = realloc(batch.buf, nc);
            if (nb == NULL) {
                batch.dropped++;
                pthread_mutex_unlock(&batch.mtx);
                return;
            }
            batch.buf = nb;
            batch.cap = nc;
        }
        char *p = batch.buf + batch.len;
        uint32_t l32 = (uint32_t)len;
        p[0] = (char)fl;
        memcpy(p + 1, function, fl);
        memcpy(p + 1 + fl, &l32, 4);
        memcpy(p + 5 + fl, text, len);
        batch.len += need;
        wake = batch.len > LOGS_KICK_BYTES && !batch.kicked;
        batch.kicked = batch.kicked || wake;
    }
    pthread_mutex_unlock(&batch.mtx);
    if (wake) {
        kick();
    }
}

/* Copy handler output into the running invocation with that id. */
static void feed_invocation(const char *rid, size_t rl, const char *data, size_t n)
{
    pthread_mutex_lock(&B.mtx);
    for (worker *w = B.workers; w != NULL; w = w->next) {
        invocation *inv = w->inv;
        if (inv == NULL || strlen(inv->rid) != rl || memcmp(inv->rid, rid, rl) != 0) {
            continue;
        }
        size_t cap = sizeof(inv->logbuf);
        if (n >= cap) {
            memcpy(inv->logbuf, data + n - cap, cap);
            inv->loglen = cap;
        } else {
            if (inv->loglen + n > cap) {
                size_t keep = cap - n;
                memmove(inv->logbuf, inv->logbuf + inv->loglen - keep, keep);
                inv->loglen = keep;
            }
            memcpy(inv->logbuf + inv->loglen, data, n);
            inv->loglen += n;
        }
        break;
    }
    pthread_mutex_unlock(&B.mtx);
}

/* Open log files, kept across records: one open(2) per function, not per
 * record.  Owned by the logs thread only. */
#define FD_CACHE 64
static struct {
    char name[NAME_MAX_LEN + 1];
    int fd;
    uint64_t used;
} fds[FD_CACHE];
static uint64_t fd_clock;

static int log_fd(const char *fn, size_t fl)
{
    int victim = 0;
    for (int i = 0; i < FD_CACHE; i++) {
        if (fds[i].fd > 0 && strlen(fds[i].name) == fl && memcmp(fds[i].name, fn, fl) == 0) {
            fds[i].used = ++fd_clock;
            return fds[i].fd;
        }
        if (fds[i].used < fds[victim].used) {
            victim = i;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/logs/%.*s.log", B.opt.state, (int)fl, fn);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    if (fds[victim].fd > 0) {
        close(fds[victim].fd);
    }
    snprintf(fds[victim].name, sizeof(fds[victim].name), "%.*s", (int)fl, fn);
    fds[victim].fd = fd;
    fds[victim].used = ++fd_clock;
    return fd;
}

static void close_fds(void)
{
    for (int i = 0; i < FD_CACHE; i++) {
        if (fds[i].fd > 0) {
            close(fds[i].fd);
            fds[i].fd = 0;
        }
    }
}

static void append_file(const char *fn, size_t fl, const char *data, size_t n)
{
    if (!valid_function_name(fn, fl)) {
        return; /* a runtime cannot steer us into another path */
    }
    int fd = log_fd(fn, fl);
    if (fd >= 0) {
        ssize_t w = write(fd, data, n);
        (void)w;
    }
}

/* Write the broker's batched records (logs thread only). */
static void flush_batch(void)
{
    pthread_mutex_lock(&batch.mtx);
    char *buf = batch.buf;
    size_t len = batch.len;
    batch.buf = NULL;
    batch.len = batch.cap = 0;
    batch.kicked = false;
    pthread_mutex_unlock(&batch.mtx);
    for (size_t off = 0; off < len;) {
        size_t fl = (unsigned char)buf[off];
        uint32_t l32;
        memcpy(&l32, buf + off + 1 + fl, 4);
        append_file(buf + off + 1, fl, buf + off + 5 + fl, l32);
        off += 5 + fl + l32;
    }
    free(buf);
}

static void *logs_main(void *arg)
{
    (void)arg;
    for (;;) {
        nng_msg *m = NULL;
        int rv = nng_recvmsg(B.logs_sock, &m, 0);
        flush_batch(); /* first, so a function's records stay in order */
        if (rv == NNG_ETIMEDOUT) {
            continue;
        }
        if (rv != 0) {
            break; /* closed */
        }
        proto_doc doc;
        const char *rid = NULL, *fn = NULL;
        size_t rl = 0, fl = 0, dl = 0;
        const void *data = NULL;
        if (nng_msg_len(m) > 0 &&
            proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, NULL) == LM_OK &&
            proto_get_str(doc.root, "fn", true, &fn, &fl, NULL) == LM_OK &&
            proto_get_bin(doc.root, "data", true, &data, &dl, NULL) == LM_OK) {
            proto_get_str(doc.root, "rid", false, &rid, &rl, NULL);
            if (rid != NULL && rl > 0) {
                feed_invocation(rid, rl, data, dl);
            }
            append_file(fn, fl, data, dl);
        }
        if (nng_msg_len(m) > 0) {
            proto_doc_finish(&doc);
        }
        nng_msg_free(m);
    }
    flush_batch();
    close_fds();
    return NULL;
}

int logs_start(void)
{
    char url[PATH_MAX + 16], dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/logs", B.opt.state);
    if (mkdir_p(dir, 0700) != 0) {
        return -1;
    }
    if (nng_pull0_open(&B.logs_sock) != 0 || nng_push0_open(&B.logs_push) != 0) {
        return -1;
    }
    nng_socket_set_size(B.logs_sock, NNG_OPT_RECVMAXSZ, PROTO_LOGS_RECVMAX);
    nng_socket_set_ms(B.logs_sock, NNG_OPT_RECVTIMEO, LOGS_FLUSH_MS);
    nng_socket_set_int(B.logs_push, NNG_OPT_SENDBUF, 1024);
    snprintf(url, sizeof(url), "ipc://%s/logs.sock", B.opt.state);
    if (nng_listen(B.logs_sock, url, NULL, 0) != 0 ||
        nng_listen(B.logs_sock, LOGS_INPROC, NULL, 0) != 0 ||
        nng_dial(B.logs_push, LOGS_INPROC, NULL, 0) != 0) {
        blog(LOG_ERROR, "cannot set up the logs sockets");
        return -1;
    }
    if (pthread_create(&logs_thr, NULL, logs_main, NULL) != 0) {
        return -1;
    }
    logs_running = true;
    return 0;
}

void logs_stop(void)
{
    nng_close(B.logs_push);
    nng_close(B.logs_sock);
    if (logs_running) {
        pthread_join(logs_thr, NULL);
        logs_running = false;
    }
}
