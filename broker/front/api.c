/*
 * broker/front/api.c — the api socket: rep0 on ipc://<state>/api.sock (and an
 * optional tcp:// listener), served by a pool of contexts.
 *
 * The contexts are lib/reppool's (shared with the work socket): a small
 * state machine each, RECV (waiting for a request) → WAIT (the request is
 * being served: an invocation running, an admin call on the admin thread)
 * → SEND (reply in flight) → RECV.  At least API_RECEIVERS stay in RECV;
 * one that goes to WAIT is replaced from the free list or by a new one, so
 * the number of requests waiting at once is bounded by memory, not by
 * threads.  Contexts are freed only at stop (an
 * aio cannot be freed from its own callback).
 *
 * Every request is validated (bounded msgpack pre-check, version, op, and
 * every string in it UTF-8 without NUL: proto_decode_request) in the
 * callback, before any handler sees it; invalid ones get a typed error
 * reply and the broker carries on.
 * NNG_OPT_RECVMAXSZ drops oversized frames before nng allocates them.
 * Then the op is looked up in the one op table (ops.c) and run with a
 * completion (api_done) that sends its reply on the request's context.
 * Listeners go through lib/listen.c (they survive nng 1.5.2's handshake
 * bug); `ping` is answered inline, so a client can confirm its connection
 * was taken.
 * A local pipe whose peer uid is neither ours nor root's is closed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/transport/ipc/ipc.h>
#include <nng/protocol/reqrep0/rep.h>

#include "front/front.h"
#include "lib/listen.h"
#include "lib/reppool.h"

#define API_RECEIVERS 8

static reppool *A;

/* The completion of a request that arrived on context arg (a
 * reppool_ctx): send the reply, or the error as a reply.  Any thread. */
static void api_done(void *arg, nng_msg *reply, const lm_error *err)
{
    reppool_ctx *c = arg;
    nng_msg *msg = reply != NULL ? reply : proto_error_reply(err);
    if (msg == NULL) {
        lm_error e;
        proto_error(&e, LM_E_NOMEM, NULL);
        msg = proto_error_reply(&e);
        if (msg == NULL) {
            reppool_release(c); /* no reply possible: free the context */
            return;
        }
    }
    reppool_reply(c, msg);
}

/* Route one request.  B.mtx not held.  Takes ownership of msg. */
static void dispatch(reppool_ctx *c, nng_msg *msg)
{
    completion done = {.done = api_done, .arg = c};
    proto_doc doc;
    lm_error e;
    const char *op = NULL;
    size_t oplen = 0;
    const msgpack_object *args = NULL;
    int rc = proto_decode_request(nng_msg_body(msg), nng_msg_len(msg), &doc, &e);
    if (rc == LM_OK) {
        rc = proto_get_str(doc.root, "op", true, &op, &oplen, &e);
    }
    const op_def *d = rc == LM_OK ? ops_find(op, oplen) : NULL;
    if (rc == LM_OK && d == NULL) {
        /* as before the table: a malformed args map is reported first */
        rc = proto_get_map(doc.root, "args", false, &args, &e);
        if (rc == LM_OK) {
            rc = proto_error(&e, LM_E_UNKNOWN_OP, "unknown operation '%.*s'",
                             (int)(oplen > 64 ? 64 : oplen), op);
        }
    }
    if (rc != LM_OK) {
        proto_doc_finish(&doc);
        nng_msg_free(msg);
        complete_error(done, &e);
        return;
    }
    ops_run(d, msg, &doc, done); /* takes msg */
    proto_doc_finish(&doc);
}

/* reppool_request_fn: a request arrived on c. */
static void api_request(void *arg, reppool_ctx *c, nng_msg *msg)
{
    (void)arg;
    dispatch(c, msg);
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
    rv = listen_listen(B.api_sock, url, PROTO_API_RECVMAX, LISTEN_PEER_REQ, api_pipe_added);
    if (rv != 0) {
        blog(LOG_ERROR, "cannot listen on %s: %s", url, nng_strerror(rv));
        return -1;
    }
    if (B.opt.tcp_listen != NULL) {
        rv = listen_listen(B.api_sock, B.opt.tcp_listen, PROTO_API_RECVMAX, LISTEN_PEER_REQ,
                           api_pipe_added);
        if (rv != 0) {
            blog(LOG_ERROR, "cannot listen on %s: %s", B.opt.tcp_listen, nng_strerror(rv));
            return -1;
        }
    }
    /* No bound on contexts (as before the pool): what may wait is bounded
     * by the broker's own caps (max concurrency, event-wait's waiters). */
    reppool_config pc = {
        .receivers = API_RECEIVERS, .max = 0, .on_request = api_request, .arg = NULL};
    rv = reppool_create(&A, B.api_sock, &pc);
    if (rv != 0) {
        blog(LOG_ERROR, "api socket: cannot start its contexts: %s", nng_strerror(rv));
        return -1;
    }
    return 0;
}

void api_stop(void)
{
    if (A != NULL) {
        reppool_stop(A); /* closes B.api_sock */
        A = NULL;
    } else {
        nng_close(B.api_sock);
    }
}
