/*
 * broker/core/work.c — the work socket: rep0 on ipc://<state>/work.sock, where
 * runtimes long-poll with NEXT.
 *
 * Contexts come from lib/reppool, as api.c's do (RECV → WAIT → SEND, a
 * free list, at least WORK_RECEIVERS receiving).  A NEXT parks its context
 * on the worker (WAIT) until the pool has an invocation or a shutdown for
 * it.
 *
 * Who may attach: a pipe is closed in NNG_PIPE_EV_ADD_POST unless its peer
 * pid (NNG_OPT_IPC_PEER_PID) is a process the broker spawned; each
 * NEXT must then carry that worker's per-spawn token and arrive on a pipe
 * whose peer pid is that worker's.  Anything else is dropped and its pipe
 * closed: no other local process can pose as a worker or answer for one.
 * A runtime's first message is `hello` (same token and pid), answered `ok`
 * at once: it confirms the connection before the worker drops privileges
 * (see broker/listen.h for why a dial alone does not).  A hello that beats
 * the spawner to recording the worker's pid waits for the spawn to finish
 * (B.spawn_mtx) and is checked again, so a legitimate worker is never
 * turned away for being fast.
 *
 * While a RESPONSE_STREAM invocation runs, its runtime sends CHUNKs (a
 * piece of the response; same token and pid checks) between the NEXT that
 * got the invocation and the NEXT with its result.  A CHUNK's context is
 * held by the invocation until the HTTP front end has passed the piece on
 * (invoke_stream_ack) — the runtime waits for that answer, so a slow client
 * slows the handler and the broker holds one piece per invocation at most.
 * A CHUNK that does not fit (no streamed invocation, another request id, a
 * second one before the ack, a piece over the caps) is treated like a
 * forged message: pipe closed, worker killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "core/core.h"
#include "lib/reppool.h"
#include "lib/listen.h"

#define WORK_RECEIVERS 4

static reppool *W;

/* A work_ctx is a reppool_ctx under the name pool.c uses (a distinct type,
 * so pool.c cannot hand it to anything but this file); no storage of its
 * own. */
static reppool_ctx *rctx(work_ctx *c)
{
    return (reppool_ctx *)(void *)c;
}

void work_reply(work_ctx *c, nng_msg *msg)
{
    if (msg == NULL) {
        work_release(c);
        return;
    }
    reppool_reply(rctx(c), msg);
}

void work_release(work_ctx *c)
{
    /* Receiving again on a rep context abandons its pending request. */
    reppool_release(rctx(c));
}

nng_msg *work_shutdown_msg(void)
{
    return proto_op_msg("shutdown");
}

nng_msg *work_invoke_msg(const invocation *inv)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, inv->payload_len + 256) != 0) {
        return NULL;
    }
    nng_msg_clear(m);
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, inv->chunk != NULL ? 9 : 8);
    pw_header(&w, "invoke");
    pw_key(&w, "rid");
    pw_str(&w, inv->rid);
    pw_key(&w, "payload");
    pw_bin(&w, inv->payload, inv->payload_len);
    pw_key(&w, "deadline_ms");
    pw_int(&w, inv->deadline_epoch_ms);
    pw_key(&w, "arn");
    pw_str(&w, inv->arn);
    pw_key(&w, "version");
    pw_str(&w, inv->cfg->version);
    pw_key(&w, "cc");
    pw_str(&w, inv->client_context);
    if (inv->chunk != NULL) {
        pw_key(&w, "stream"); /* the runtime sends lm_response_write's pieces as CHUNKs */
        pw_bool(&w, true);
    }
    if (w.err != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

static pid_t pipe_pid_rv(nng_pipe p, int *rv)
{
    uint64_t pid = 0; /* nng 1.5.2 exposes the peer pid as a uint64 */
    *rv = nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid);
    if (*rv != 0 || pid == 0 || pid > INT32_MAX) {
        return -1;
    }
    return (pid_t)pid;
}

static pid_t pipe_pid(nng_pipe p)
{
    int rv;
    return pipe_pid_rv(p, &rv);
}

/* Does the message carry the token of a worker whose spawn is still in
 * progress (no pid recorded yet)?  B.mtx held. */
static bool spawn_in_progress(const proto_doc *doc)
{
    const char *tok = NULL;
    size_t toklen = 0;
    if (proto_get_str(doc->root, "token", true, &tok, &toklen, NULL) != LM_OK) {
        return false;
    }
    worker *w = pool_find_token(tok, toklen);
    return w != NULL && w->state == W_SPAWNING && w->pid <= 0;
}

/* Identify and check the sender of a NEXT.  B.mtx held. */
static worker *authenticate(nng_msg *msg, const proto_doc *doc)
{
    const char *tok = NULL;
    size_t toklen = 0;
    int64_t pid = 0;
    if (proto_get_str(doc->root, "token", true, &tok, &toklen, NULL) != LM_OK ||
        proto_get_int(doc->root, "pid", true, &pid, NULL) != LM_OK) {
        return NULL;
    }
    worker *w = pool_find_token(tok, toklen);
    if (w == NULL || w->pid != (pid_t)pid || pipe_pid(nng_msg_get_pipe(msg)) != w->pid) {
        return NULL;
    }
    return w;
}

/* A CHUNK of w's running invocation (B.mtx held).  false: not acceptable
 * (no streamed invocation running, another request's id, a bad or oversized
 * piece); the caller treats it as a forged message. */
static bool handle_chunk(worker *w, work_ctx *c, const proto_doc *doc)
{
    const char *rid = NULL;
    size_t rl = 0;
    const void *data = NULL, *prelude = NULL;
    size_t len = 0, plen = 0;
    if (w->state != W_BUSY || w->inv == NULL ||
        proto_get_str(doc->root, "rid", true, &rid, &rl, NULL) != LM_OK ||
        rl != strlen(w->inv->rid) || memcmp(rid, w->inv->rid, rl) != 0 ||
        proto_get_bin(doc->root, "data", true, &data, &len, NULL) != LM_OK ||
        proto_get_bin(doc->root, "prelude", false, &prelude, &plen, NULL) != LM_OK) {
        return false;
    }
    return invoke_stream_chunk(w->inv, c, prelude, plen, data != NULL ? data : "", len);
}

static void handle_next(work_ctx *c, nng_msg *msg)
{
    proto_doc doc;
    lm_error e;
    const char *op = NULL;
    size_t oplen = 0;
    int rc = proto_decode(nng_msg_body(msg), nng_msg_len(msg), &doc, &e);
    if (rc == LM_OK) {
        rc = proto_get_str(doc.root, "op", true, &op, &oplen, &e);
    }
    bool is_hello = rc == LM_OK && oplen == 5 && memcmp(op, "hello", 5) == 0;
    bool is_next = rc == LM_OK && oplen == 4 && memcmp(op, "next", 4) == 0;
    bool is_chunk = rc == LM_OK && oplen == 5 && memcmp(op, "chunk", 5) == 0;
    pthread_mutex_lock(&B.mtx);
    /* a CHUNK is authenticated exactly as a NEXT is: token and peer pid */
    worker *w = is_hello || is_next || is_chunk ? authenticate(msg, &doc) : NULL;
    if (w == NULL && (is_hello || is_next) && spawn_in_progress(&doc)) {
        /* A fast runtime's hello can come in after posix_spawn returned
         * but before the spawner, waiting for B.mtx, recorded its pid:
         * wait the spawn out as pipe_added does (spawn_mtx, then B.mtx,
         * which the spawner holds until the pid is set) and look again.
         * Rare, and bounded by one posix_spawn. */
        pthread_mutex_unlock(&B.mtx);
        pthread_mutex_lock(&B.spawn_mtx);
        pthread_mutex_lock(&B.mtx);
        pthread_mutex_unlock(&B.spawn_mtx);
        w = authenticate(msg, &doc);
    }
    if (w != NULL && is_chunk && w->parked == NULL && w->state != W_EXITING &&
        handle_chunk(w, c, &doc)) {
        /* answered, now or once the piece is passed on */
    } else if (w != NULL && is_hello && w->parked == NULL && w->state != W_EXITING) {
        /* the runtime checks that its connection was taken (see
         * runtime/main.c hello) */
        nng_msg *ok = proto_op_msg("ok");
        work_reply(c, ok);
    } else if (w == NULL || w->parked != NULL || w->state == W_EXITING || is_chunk) {
        /* Not a worker we know, a forged or garbled message, or a second
         * request while one is parked: drop it and close the pipe. */
        blog(LOG_WARN, "work socket: rejected a message (%s); closing its pipe",
             rc != LM_OK ? e.message : "unknown or misbehaving sender");
        nng_pipe_close(nng_msg_get_pipe(msg));
        if (w != NULL && w->state != W_EXITING && w->pid > 0) { /* never kill(0) or kill(-1) */
            w->killed = true;
            kill(w->pid, SIGKILL);
        }
        work_release(c);
    } else {
        pool_worker_next(w, c, doc.root);
    }
    pthread_mutex_unlock(&B.mtx);
    proto_doc_finish(&doc);
    nng_msg_free(msg);
}

/* reppool_request_fn: a runtime's request arrived on c. */
static void work_request(void *arg, reppool_ctx *c, nng_msg *msg)
{
    (void)arg;
    handle_next((work_ctx *)(void *)c, msg);
}

/* Runs after a pipe is added (listen.c's hook; its own probes excluded). */
static void pipe_added(nng_pipe p)
{
    int rv;
    pid_t pid = pipe_pid_rv(p, &rv);
    if (rv == NNG_ENOENT || rv == NNG_ECLOSED) {
        /* Gone before we looked: a runtime whose hello timed out under load
         * closes and dials again (runtime/main.c dial_work), and the old
         * pipe's hook can run after that.  Nothing to refuse. */
        blog(LOG_DEBUG, "work socket: a connection closed before it was checked");
        return;
    }
    /* The spawner registers a pid right after posix_spawn returns; taking
     * spawn_mtx waits out a spawn in progress so a fast child is not
     * refused before its pid is known. */
    pthread_mutex_lock(&B.spawn_mtx);
    pthread_mutex_lock(&B.mtx);
    bool ok = pid > 0 && pool_pid_known(pid);
    pthread_mutex_unlock(&B.mtx);
    pthread_mutex_unlock(&B.spawn_mtx);
    if (!ok) {
        blog(LOG_WARN, "work socket: refused a connection from pid %d (%s)", (int)pid,
             rv != 0 ? nng_strerror(rv) : "not a spawned worker");
        nng_pipe_close(p);
    }
}

int work_start(void)
{
    char url[PATH_MAX + 16];
    int rv = nng_rep0_open(&B.work_sock);
    if (rv != 0) {
        return -1;
    }
    nng_socket_set_size(B.work_sock, NNG_OPT_RECVMAXSZ, PROTO_WORK_RECVMAX);
    /* Checked once the pipe is added: rejecting in ADD_PRE hits a
     * use-after-free in nng 1.5.2 (fixed upstream later), which left the
     * work socket unable to take the next worker.  A message that arrives
     * before the check is still refused by token and peer pid. */
    snprintf(url, sizeof(url), "ipc://%s/work.sock", B.opt.state);
    rv = listen_listen(B.work_sock, url, PROTO_WORK_RECVMAX, LISTEN_PEER_REQ, pipe_added);
    if (rv != 0) {
        blog(LOG_ERROR, "cannot listen on %s: %s", url, nng_strerror(rv));
        return -1;
    }
    /* No bound on contexts: each one waiting holds a NEXT of a worker the
     * broker spawned (one per worker; strangers are refused), so the
     * workers bound them, and a bound below their number would leave
     * finished results unread. */
    reppool_config pc = {
        .receivers = WORK_RECEIVERS, .max = 0, .on_request = work_request, .arg = NULL};
    rv = reppool_create(&W, B.work_sock, &pc);
    if (rv != 0) {
        blog(LOG_ERROR, "work socket: cannot start its contexts: %s", nng_strerror(rv));
        return -1;
    }
    return 0;
}

void work_stop(void)
{
    if (W != NULL) {
        reppool_stop(W); /* closes B.work_sock */
        W = NULL;
    } else {
        nng_close(B.work_sock);
    }
}
