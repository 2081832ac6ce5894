/*
 * broker/listen.h — listeners that stay up.
 *
 * nng 1.5.2 (Debian 12) has a bug (nanomsg/nng#1518, fixed in 1.6.0): when a
 * peer disconnects while the SP header is being exchanged, the error reaches
 * the listener as NNG_ECLOSED and the listener stops accepting for good.
 * Any local process that connects and closes at once — a client killed with
 * Ctrl-C, a port scanner, a test — could leave the broker deaf.
 *
 * listen_listen() listens through a guard that notices and repairs this: a
 * watchdog thread checks every listener that has taken no connection since
 * its last check by dialing it, and replaces a listener that does not take
 * the probe.  IPC listeners bind a numbered socket (api.sock.1, .2, ...)
 * behind a symlink with the public name (api.sock), so a replacement is
 * swapped in atomically and the old listener keeps its established pipes
 * (workers, long-lived clients) until they end; then it is closed, which
 * also frees the connections it negotiated but never handed over (their
 * req sockets reconnect through the symlink and resend).
 */
#ifndef BROKER_LISTEN_H
#define BROKER_LISTEN_H

#include <stddef.h>

#include <nng/nng.h>

typedef enum { LISTEN_PEER_REQ, LISTEN_PEER_PUSH } listen_peer;

/* Called from nng's pipe-event thread after a pipe is added (ADD_POST), for
 * every pipe except the guard's own probes. */
typedef void (*listen_add_fn)(nng_pipe p);

/* Listen on url (ipc://DIR/NAME or tcp://HOST:PORT) with a guard.  peer is
 * the protocol that dials s (req for rep0, push for pull0).  One on_add per
 * socket; NULL for none.  Returns 0 or an nng error; EADDRINUSE when another
 * process already serves an ipc url. */
int listen_listen(nng_socket s, const char *url, size_t recvmax, listen_peer peer,
                  listen_add_fn on_add);

/* Start / stop the watchdog.  check_ms: how long a listener may go without
 * a connection before it is probed (0: 500 ms). */
int listen_watch_start(int check_ms);
void listen_watch_stop(void);

/* After the sockets are closed: free the guards and remove the symlinks. */
void listen_cleanup(void);

/* How many listeners the watchdog has replaced, and how many probes it has
 * sent (for status and tests). */
unsigned listen_replacements(void);
unsigned long listen_probes(void);

#endif
