/*
 * broker/core/fnlog.c — function logs, in <state>/logs/<function>.log.
 *
 * Each invocation's record (START, the handler's output as sent with the
 * result, END, REPORT) is appended by fnlog_write() to an in-memory batch
 * under a small lock — no message and no thread wake-up per invoke (waking
 * a log thread twice per invoke cost ~120 µs of sync-invoke p50 on a 2-vCPU
 * VM).  fnlog_flush() takes the batch and writes it to the files; whoever
 * calls it holds write_mtx from taking the batch to the last write, so
 * records reach their files whole and in the order they were appended, and
 * a flush that returns has written every record appended before it was
 * called (a flush running meanwhile on another thread is waited for).
 * Records are whole, so a function's log reads in order.  Past
 * FNLOG_PENDING_MAX bytes records are dropped and counted: nothing here ever
 * blocks a sender.
 *
 * Who flushes, and what that promises ("written" = write(2) returned: the
 * record is in the page cache and survives any death of the broker,
 * kill -9 included, but not a power loss or a kernel crash — no fsync):
 *   - asyncq.c flushes before every commit of async outcomes, so an async
 *     invocation's outcome is never committed before its log record is
 *     written (records are appended before the outcome callback runs).  The
 *     flush is one per outcome transaction, not per event, and costs the
 *     write(2)s the writer thread would have made anyway.
 *   - Everything else (sync invokes, init output, reaping notes) is written
 *     by the writer thread every FNLOG_FLUSH_MS, or sooner when the batch
 *     grows past FNLOG_KICK_BYTES or an async flush comes first (a condition
 *     variable, not an nng timeout: nng 1.5.2 has races between receive
 *     timeouts and socket close).  A sync caller gets its reply (and its
 *     log tail) before the record is written: a broker killed within
 *     FNLOG_FLUSH_MS of a sync invoke may lose that record.  A clean stop
 *     (SIGTERM) writes everything.
 *
 * A second thread receives the runtimes' pushes on
 * ipc://<state>/logs.sock: handler output as soon as it is printed, tagged
 * with the request id.  It is not written to the file (the result carries
 * it); it is copied into the running invocation's small buffer, so that an
 * invocation whose worker crashes still shows what the handler printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "core/core.h"
#include "lib/listen.h"

#define FNLOG_FLUSH_MS 50
#define FNLOG_KICK_BYTES (256 * 1024)
#define FNLOG_PENDING_MAX (8 * 1024 * 1024)

static pthread_t writer_thr, pushes_thr;
static bool fnlog_running;

/* Held by a flush from taking the batch to its last write (and guards the
 * fd cache below).  Taken before batch.mtx, never under it. */
static pthread_mutex_t write_mtx = PTHREAD_MUTEX_INITIALIZER;
static uint64_t write_errors; /* write_mtx */

/* The batch: records [u8 name length][name][u32 length][text], in order. */
static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    char *buf;
    size_t len, cap;
    uint64_t dropped;
    bool stop;
} batch = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void fnlog_write(const char *function, const char *text, size_t len)
{
    size_t fl = strlen(function);
    size_t need = 1 + fl + 4 + len;
    if (fl > NAME_MAX_LEN || len > UINT32_MAX) {
        return;
    }
    pthread_mutex_lock(&batch.mtx);
    if (batch.len + need > FNLOG_PENDING_MAX) {
        batch.dropped++;
        pthread_mutex_unlock(&batch.mtx);
        return;
    }
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
    size_t before = batch.len;
    batch.len += need;
    if (before <= FNLOG_KICK_BYTES && batch.len > FNLOG_KICK_BYTES) {
        pthread_cond_signal(&batch.cv);
    }
    pthread_mutex_unlock(&batch.mtx);
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
 * record.  Used under write_mtx only. */
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

/* One failed write is reported, then every 1,000th (a full disk would
 * otherwise fill the broker's own log).  write_mtx held. */
static void write_failed(const char *fn, size_t fl, int err)
{
    if (write_errors++ % 1000 == 0) {
        blog(LOG_WARN, "logs: cannot write %s/logs/%.*s.log: %s (%llu failed writes)", B.opt.state,
             (int)fl, fn, strerror(err), (unsigned long long)write_errors);
    }
}

/* Write one record whole (a short write is continued).  write_mtx held. */
static void append_file(const char *fn, size_t fl, const char *data, size_t n)
{
    if (!util_valid_function_name(fn, fl)) {
        return; /* a runtime cannot steer us into another path */
    }
    int fd = log_fd(fn, fl);
    if (fd < 0) {
        write_failed(fn, fl, errno);
        return;
    }
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            write_failed(fn, fl, w < 0 ? errno : EIO);
            return;
        }
        data += w;
        n -= (size_t)w;
    }
}

/* Write a taken batch and free it.  write_mtx held. */
static void write_batch(char *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        size_t fl = (unsigned char)buf[off];
        uint32_t l32;
        memcpy(&l32, buf + off + 1 + fl, 4);
        append_file(buf + off + 1, fl, buf + off + 5 + fl, l32);
        off += 5 + fl + l32;
    }
    free(buf);
}

void fnlog_flush(void)
{
    pthread_mutex_lock(&write_mtx);
    pthread_mutex_lock(&batch.mtx);
    char *buf = batch.buf;
    size_t len = batch.len;
    batch.buf = NULL;
    batch.len = batch.cap = 0;
    pthread_mutex_unlock(&batch.mtx);
    write_batch(buf, len);
    pthread_mutex_unlock(&write_mtx);
}

static void *writer_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&batch.mtx);
        if (batch.len <= FNLOG_KICK_BYTES && !batch.stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += FNLOG_FLUSH_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&batch.cv, &batch.mtx, &ts);
        }
        bool stop = batch.stop;
        pthread_mutex_unlock(&batch.mtx);
        fnlog_flush();
        if (stop) {
            break;
        }
    }
    pthread_mutex_lock(&write_mtx);
    close_fds();
    pthread_mutex_unlock(&write_mtx);
    return NULL;
}

static void *pushes_main(void *arg)
{
    (void)arg;
    for (;;) {
        nng_msg *m = NULL;
        if (nng_recvmsg(B.logs_sock, &m, 0) != 0) {
            break; /* closed */
        }
        proto_doc doc;
        const char *rid = NULL;
        size_t rl = 0, dl = 0;
        const void *data = NULL;
        if (proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, NULL) == LM_OK &&
            proto_get_str(doc.root, "rid", true, &rid, &rl, NULL) == LM_OK &&
            proto_get_bin(doc.root, "data", true, &data, &dl, NULL) == LM_OK && rl > 0) {
            feed_invocation(rid, rl, data, dl);
        }
        proto_doc_finish(&doc);
        nng_msg_free(m);
    }
    return NULL;
}

int fnlog_start(void)
{
    char url[PATH_MAX + 16], dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/logs", B.opt.state);
    if (util_mkdir_p(dir, 0700) != 0 || nng_pull0_open(&B.logs_sock) != 0) {
        return -1;
    }
    nng_socket_set_size(B.logs_sock, NNG_OPT_RECVMAXSZ, PROTO_LOGS_RECVMAX);
    snprintf(url, sizeof(url), "ipc://%s/logs.sock", B.opt.state);
    int rv = listen_listen(B.logs_sock, url, PROTO_LOGS_RECVMAX, LISTEN_PEER_PUSH, NULL);
    if (rv != 0) {
        blog(LOG_ERROR, "cannot listen on %s: %s", url,
             rv == NNG_EADDRINUSE ? "another broker is serving this state dir" : nng_strerror(rv));
        return -1;
    }
    if (pthread_create(&writer_thr, NULL, writer_main, NULL) != 0) {
        return -1;
    }
    if (pthread_create(&pushes_thr, NULL, pushes_main, NULL) != 0) {
        return -1;
    }
    fnlog_running = true;
    return 0;
}

void fnlog_stop(void)
{
    nng_close(B.logs_sock);
    if (!fnlog_running) {
        return;
    }
    pthread_join(pushes_thr, NULL);
    pthread_mutex_lock(&batch.mtx);
    batch.stop = true;
    pthread_cond_signal(&batch.cv);
    pthread_mutex_unlock(&batch.mtx);
    pthread_join(writer_thr, NULL);
    fnlog_running = false;
}
