/*
 * tools/bench/url.h — the function-URL target: POST the payload to a
 * function URL over HTTP/1.1 keep-alive, one connection per caller, timed
 * to the whole answer; and the trivial libmicrohttpd responder it is
 * compared with (it answers each POST with its body, from one epoll
 * thread, as the broker's HTTP front end is set up).
 */
#ifndef TOOLS_BENCH_URL_H
#define TOOLS_BENCH_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "load.h"

typedef struct url_target {
    const char *label;
    char host[64];
    int port;
    char *request; /* the whole POST, built once */
    size_t request_len;
    int timeout_ms;
} url_target;

/* The URL of function fn (made with AuthType NONE if it has none) on the
 * broker at state_dir/endpoint, which must serve HTTP (--http).  0, or -1
 * with a message in err. */
int url_target_open_function(url_target *t, const char *state_dir, const char *endpoint,
                             const char *fn, const void *payload, size_t len, int timeout_ms,
                             char *err, size_t errlen);
/* POST path on host:port. */
int url_target_open_addr(url_target *t, const char *label, const char *host, int port,
                         const char *path, const void *payload, size_t len, int timeout_ms,
                         char *err, size_t errlen);
load_target url_target_view(url_target *t);
void url_target_close(url_target *t);

/* The responder baseline: 0 and its port, or -1. */
typedef struct url_responder url_responder;
url_responder *url_responder_start(int *port, char *err, size_t errlen);
void url_responder_stop(url_responder *r);

#endif
