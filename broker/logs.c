/*
 * broker/logs.c — function logs.  A pull0 socket listens on
 * ipc://<state>/logs.sock for the runtimes' pushes (handler output, in
 * chunks, tagged with the request id) and on an inproc address for the
 * broker's own START/END/REPORT records.  One thread owns it: it receives,
 * appends to <state>/logs/<function>.log, and copies handler output into the
 * running invocation's small buffer so that a crash's log tail still shows
 * what the handler printed.  Senders never block: the broker's own sends
 * are non-blocking and a full queue drops the record (counted).
 */
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

static pthread_t logs_thr;
static bool logs_running;
static uint64_t dropped;

void logs_write(const char *function, const char *text, size_t len)
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
    pw_str(&w, "");
    pw_key(&w, "fn");
    pw_str(&w, function);
    pw_key(&w, "data");
    pw_bin(&w, text, len);
    if (w.err != 0 || nng_sendmsg(B.logs_push, m, NNG_FLAG_NONBLOCK) != 0) {
        nng_msg_free(m);
        dropped++;
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

static void *logs_main(void *arg)
{
    (void)arg;
    for (;;) {
        nng_msg *m = NULL;
        if (nng_recvmsg(B.logs_sock, &m, 0) != 0) {
            break; /* closed */
        }
        proto_doc doc;
        const char *rid = NULL, *fn = NULL;
        size_t rl = 0, fl = 0, dl = 0;
        const void *data = NULL;
        if (proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, NULL) == LM_OK &&
            proto_get_str(doc.root, "fn", true, &fn, &fl, NULL) == LM_OK &&
            proto_get_bin(doc.root, "data", true, &data, &dl, NULL) == LM_OK) {
            proto_get_str(doc.root, "rid", false, &rid, &rl, NULL);
            if (rid != NULL && rl > 0) {
                feed_invocation(rid, rl, data, dl);
            }
            append_file(fn, fl, data, dl);
        }
        proto_doc_finish(&doc);
        nng_msg_free(m);
    }
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
