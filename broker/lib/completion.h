/*
 * broker/lib/completion.h — how a layer answers whoever called it.
 *
 * Every entry of the core, admin and async layers that finishes later
 * takes a completion: done(arg, reply, err) with exactly one of the two
 * non-NULL.  reply is a whole msgpack reply message (proto_reply_begin),
 * which done takes over; err an error for the caller (done copies what it
 * needs).  The rule (SQLite's, libuv's): an entry that returns an error
 * never calls done; one that returns LM_OK (or returns nothing) calls done
 * exactly once, now or later, on whatever thread finished the work —
 * perhaps an nng callback, perhaps with B.mtx held — so done must not
 * block.  A way in (front/) supplies done; nothing below it knows who is
 * waiting.
 */
#ifndef BROKER_LIB_COMPLETION_H
#define BROKER_LIB_COMPLETION_H

#include <stddef.h>

#include <nng/nng.h>

#include "proto.h"

typedef void (*lm_done_fn)(void *arg, nng_msg *reply, const lm_error *err);

typedef struct completion {
    lm_done_fn done;
    void *arg;
} completion;

/* Answer with reply; NULL (a reply that could not be built) answers
 * LM_E_NOMEM instead. */
static inline void complete_reply(completion c, nng_msg *reply)
{
    if (reply == NULL) {
        lm_error e;
        proto_error(&e, LM_E_NOMEM, NULL);
        c.done(c.arg, NULL, &e);
        return;
    }
    c.done(c.arg, reply, NULL);
}

static inline void complete_error(completion c, const lm_error *e)
{
    c.done(c.arg, NULL, e);
}

#endif
