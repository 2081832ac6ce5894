/*
 * broker/lib/reppool.h — the broker's one pool of rep0 contexts: the api
 * socket (api.c) and the work socket (work.c) both serve requests through
 * it.
 *
 * Each context is the small state machine of nng's async demo server:
 * RECV (waiting for a request) → WAIT (the owner has the request and is
 * working on it, for as long as it takes) → SEND (reply in flight) → RECV.
 * The pool keeps `receivers` contexts in RECV: when one goes to WAIT a
 * replacement is taken from the free list, or a new one is allocated, up
 * to `max` contexts in all (0: no bound but memory).  So many requests can
 * wait at once without a thread each; past `max`, further requests stay
 * queued in nng until a context comes back.  A context whose reply was
 * sent goes back to RECV if fewer than `receivers` are receiving, else to
 * the free list.  Contexts are freed only by reppool_stop (nng: an aio
 * cannot be freed from its own callback).
 *
 * Errors: a failed receive is retried on the same context unless the
 * socket is closed (NNG_ECLOSED) or the pool is stopping, in which case the
 * context rests (neither receiving nor free) until stop; a failed send
 * frees its message.  Allocation failures during top-up leave fewer
 * receivers, and the next top-up tries again.
 *
 * Threads and locks: the pool has its own mutex, a leaf: callers may hold
 * any lock of theirs when they call reppool_reply or reppool_release (work.c
 * calls them under B.mtx), and the pool never calls out while holding it.
 * on_request runs on an nng callback thread with no pool lock held; it must
 * not block (house rule for nng callbacks), and owns the message.
 */
#ifndef BROKER_LIB_REPPOOL_H
#define BROKER_LIB_REPPOOL_H

#include <nng/nng.h>

typedef struct reppool reppool;
typedef struct reppool_ctx reppool_ctx;

/* A request arrived on c, which is now in WAIT: the callee takes ownership
 * of msg and must eventually call reppool_reply or reppool_release on c
 * (from any thread). */
typedef void (*reppool_request_fn)(void *arg, reppool_ctx *c, nng_msg *msg);

typedef struct reppool_config {
    int receivers; /* contexts kept receiving (>= 1) */
    int max; /* bound on contexts in all, >= receivers; 0: unbounded */
    reppool_request_fn on_request;
    void *arg;
} reppool_config;

/* Start serving sock (a rep0 socket): receivers are armed at once.  The
 * pool closes sock in reppool_stop.  0, or an nng error (NNG_EINVAL for a
 * bad config, NNG_ENOMEM); nothing to undo on failure. */
int reppool_create(reppool **out, nng_socket sock, const reppool_config *cfg);

/* Send msg as the reply to c's request (c in WAIT).  Takes ownership of
 * msg, which must not be NULL; it is freed if the send fails.  Thread-safe. */
void reppool_reply(reppool_ctx *c, nng_msg *msg);

/* Give up c's request without a reply (c in WAIT): rep0 forgets a request
 * whose context receives again, and the requester's own timeout or resend
 * takes over.  Thread-safe. */
void reppool_release(reppool_ctx *c);

/* Stop: no more receives, close the socket, wait for every context's aio
 * (nng_aio_stop), free them and the pool.  Contexts the owner still holds
 * in WAIT are freed too: the owner must be done with them (call it after
 * the owner has stopped, never from on_request).  NULL is fine. */
void reppool_stop(reppool *p);

/* Contexts receiving, waiting (with the owner), and in all (tests, status). */
void reppool_counts(reppool *p, int *receiving, int *waiting, int *total);

#endif
