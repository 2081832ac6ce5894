/*
 * broker/api.c — the api socket: rep0 on ipc://<state>/api.sock (and an
 * optional tcp:// listener), served by a pool of contexts.
 *
 * Each context is a small state machine: RECV (waiting for a request) →
 * WAIT (the request is being served: an invocation running, an admin call
 * on the admin thread) → SEND (reply in flight) → RECV.  We keep at least
 * API_RECEIVERS contexts in RECV; a context that goes to WAIT is replaced
 * by one from the free list (or a new one), so the number of requests
 * waiting at once is bounded by memory, not by threads.  Contexts are never
 * freed while the broker runs (an aio cannot be freed from its own
 * callback); idle ones go to the free list.
 *
 * Every request is validated (bounded msgpack pre-check, version, op, and
 * every string in it UTF-8 without NUL: proto_decode_request) in the
 * callback, before any handler sees it; invalid ones get a typed error
 * reply and the broker carries on.
 * NNG_OPT_RECVMAXSZ drops oversized frames before nng allocates them.
 * Listeners go through listen.c (they survive nng 1.5.2's handshake bug);
 * `ping` is answered here, so a client can confirm its connection was taken.
 * A local pipe whose peer uid is neither ours nor root's is closed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/transport/ipc/ipc.h>
#include <nng/protocol/reqrep0/rep.h>

#include "broker.h"
#include "listen.h"

#define API_RECEIVERS 8

typedef enum { CTX_RECV, CTX_WAIT, CTX_SEND, CTX_FREE } ctx_state;

struct api_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    ctx_state state;
    api_ctx *next_all;
    api_ctx *next_free;
};

static struct {
    api_ctx *all;
    api_ctx *free;
    int receiving;
    bool closed;
} A;

static void api_cb(void *arg);

/* B.mtx held. */
static void start_recv(api_ctx *c)
{
    c->state = CTX_RECV;
    A.receiving++;
    nng_ctx_recv(c->ctx, c->aio);
}

/* B.mtx held.  Ensure API_RECEIVERS contexts are receiving. */
static void top_up(void)
{
    while (!A.closed && A.receiving < API_RECEIVERS) {
        api_ctx *c = A.free;
        if (c != NULL) {
            A.free = c->next_free;
        } else {
            c = calloc(1, sizeof(*c));
            if (c == NULL) {
                return;
            }
            if (nng_aio_alloc(&c->aio, api_cb, c) != 0 || nng_ctx_open(&c->ctx, B.api_sock) != 0) {
                nng_aio_free(c->aio);
                free(c);
                return;
            }
            c->next_all = A.all;
            A.all = c;
        }
        start_recv(c);
    }
}

void api_reply(api_ctx *c, nng_msg *msg)
{
    if (msg == NULL) {
        lm_error e;
        proto_error(&e, LM_E_NOMEM, NULL);
        msg = proto_error_reply(&e);
        if (msg == NULL) {
            return;
        }
    }
    c->state = CTX_SEND;
    nng_aio_set_msg(c->aio, msg);
    nng_ctx_send(c->ctx, c->aio);
}

void api_reply_error(api_ctx *c, const lm_error *e)
{
    api_reply(c, proto_error_reply(e));
}

static bool op_is(const char *op, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(op, want, n) == 0;
}

/* Route one request.  B.mtx not held.  Takes ownership of msg. */
static void dispatch(api_ctx *c, nng_msg *msg)
{
    proto_doc doc;
    lm_error e;
    const char *op = NULL;
    size_t oplen = 0;
    int rc = proto_decode_request(nng_msg_body(msg), nng_msg_len(msg), &doc, &e);
    if (rc == LM_OK) {
        rc = proto_get_str(doc.root, "op", true, &op, &oplen, &e);
    }
    if (rc != LM_OK) {
        proto_doc_finish(&doc);
        nng_msg_free(msg);
        api_reply_error(c, &e);
        return;
    }
    if (op_is(op, oplen, "ping")) {
        /* clients confirm their connection was taken (sdk/src/client.c) */
        proto_doc_finish(&doc);
        nng_msg_free(msg);
        nng_msg *pong = proto_op_msg("pong");
        api_reply(c, pong);
        return;
    }
    if (op_is(op, oplen, "invoke")) {
        invoke_handle(c, msg, &doc); /* takes msg */
        proto_doc_finish(&doc);
        return;
    }
    if (op_is(op, oplen, "event-wait")) { /* waits: never on the admin thread */
        aw_handle(c, &doc);
        proto_doc_finish(&doc);
        nng_msg_free(msg);
        return;
    }
    proto_doc_finish(&doc);
    admin_submit(c, msg);
}

static void api_cb(void *arg)
{
    api_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    pthread_mutex_lock(&B.mtx);
    if (c->state == CTX_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(c->aio));
        }
        if (!A.closed && A.receiving < API_RECEIVERS) {
            start_recv(c);
        } else {
            c->state = CTX_FREE;
            c->next_free = A.free;
            A.free = c;
        }
        pthread_mutex_unlock(&B.mtx);
        return;
    }
    /* CTX_RECV completed */
    A.receiving--;
    if (rv != 0) {
        if (rv != NNG_ECLOSED && !A.closed) {
            start_recv(c); /* transient error: keep receiving */
        } else {
            c->state = CTX_FREE;
        }
        pthread_mutex_unlock(&B.mtx);
        return;
    }
    c->state = CTX_WAIT;
    top_up();
    pthread_mutex_unlock(&B.mtx);
    dispatch(c, nng_aio_get_msg(c->aio));
}

/* Only the broker's own user (and root) may use the local api socket.  The
 * 0700 state dir already keeps other users from the path; this closes a pipe
 * that got through anyway (an fd passed on, a loosened dir).  TCP pipes
 * carry no uid: --listen is an explicit opt-in. */
static void api_pipe_added(nng_pipe p)
{
    uint64_t uid = 0;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0) {
        return;
    }
    if (uid != 0 && uid != (uint64_t)geteuid()) {
        blog(LOG_WARN, "api socket: refused a connection from uid %llu", (unsigned long long)uid);
        nng_pipe_close(p);
    }
}

int api_start(void)
{
    char url[PATH_MAX + 16];
    int rv = nng_rep0_open(&B.api_sock);
    if (rv != 0) {
        blog(LOG_ERROR, "nng_rep0_open: %s", nng_strerror(rv));
        return -1;
    }
    nng_socket_set_size(B.api_sock, NNG_OPT_RECVMAXSZ, PROTO_API_RECVMAX);
    snprintf(url, sizeof(url), "ipc://%s/api.sock", B.opt.state);
    rv = lsn_listen(B.api_sock, url, PROTO_API_RECVMAX, LSN_PEER_REQ, api_pipe_added);
    if (rv != 0) {
        blog(LOG_ERROR, "cannot listen on %s: %s", url, nng_strerror(rv));
        return -1;
    }
    if (B.opt.tcp_listen != NULL) {
        rv = lsn_listen(B.api_sock, B.opt.tcp_listen, PROTO_API_RECVMAX, LSN_PEER_REQ,
                        api_pipe_added);
        if (rv != 0) {
            blog(LOG_ERROR, "cannot listen on %s: %s", B.opt.tcp_listen, nng_strerror(rv));
            return -1;
        }
    }
    pthread_mutex_lock(&B.mtx);
    top_up();
    pthread_mutex_unlock(&B.mtx);
    return 0;
}

void api_stop(void)
{
    pthread_mutex_lock(&B.mtx);
    A.closed = true;
    pthread_mutex_unlock(&B.mtx);
    nng_close(B.api_sock);
    for (api_ctx *c = A.all; c != NULL; c = c->next_all) {
        nng_aio_stop(c->aio);
    }
    api_ctx *c = A.all;
    while (c != NULL) {
        api_ctx *n = c->next_all;
        nng_aio_free(c->aio);
        free(c);
        c = n;
    }
    A.all = NULL;
    A.free = NULL;
}
