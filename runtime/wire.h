/*
 * runtime/wire.h — the runtime's end of the work socket: a blocking,
 * single-threaded req0 peer speaking nng's SP-over-IPC framing on one
 * AF_UNIX stream socket (see wire.c for why not nng's own req0).
 */
#ifndef RUNTIME_WIRE_H
#define RUNTIME_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

typedef struct wire {
    int fd; /* -1 when closed */
    uint32_t last_id; /* id of the request in flight (high bit set) */
    size_t recvmax; /* largest reply body accepted */
    unsigned char *rbuf; /* bytes read ahead of the current frame */
    size_t rcap, roff, rlen;
} wire;

/* Connect to url ("ipc://PATH") and exchange the SP header (we are req0,
 * the peer must be rep0).  timeout_ms bounds the handshake (< 0: none).
 * Replies with bodies over recvmax are refused.  Returns 0, or an NNG_E*
 * code (the socket is then closed). */
int wire_dial(wire *w, const char *url, size_t recvmax, int timeout_ms);
/* Close the connection (w may be closed already). */
void wire_close(wire *w);
/* Send body as a new request (a fresh request id).  Does not take body.
 * Blocks until the kernel took every byte.  0 or an NNG_E* code. */
int wire_send(wire *w, const void *body, size_t len);
/* Receive the reply to the last request into a new message (*out, the
 * caller frees it).  Replies to older requests are dropped, as req0 does.
 * timeout_ms < 0 waits for ever.  0 or an NNG_E* code (NNG_ECLOSED when
 * the peer closed, NNG_ETIMEDOUT, NNG_EMSGSIZE, NNG_EPROTO). */
int wire_recv(wire *w, nng_msg **out, int timeout_ms);

#endif
