/*
 * Unit: runtime/wire.c, the runtime's req0 end of the work socket, against
 * real nng sockets — it must be an ordinary req0 peer to nng's rep0 (ids,
 * framing, handshake) and keep req0's rules (stale replies dropped, the
 * receive cap, timeouts).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/reqrep0/rep.h>

#include "wire.h"

static char url[128];

static nng_socket listen_rep(void)
{
    nng_socket s;
    snprintf(url, sizeof(url), "ipc:///tmp/lamina-test-wire-%d.sock", (int)getpid());
    cr_assert_eq(nng_rep0_open(&s), 0);
    cr_assert_eq(nng_listen(s, url, NULL, 0), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000);
    return s;
}

static void reply(nng_socket s, const char *text)
{
    nng_msg *m = NULL;
    cr_assert_eq(nng_recvmsg(s, &m, 0), 0);
    nng_msg_clear(m);
    cr_assert_eq(nng_msg_append(m, text, strlen(text)), 0);
    cr_assert_eq(nng_sendmsg(s, m, 0), 0);
}

static void expect(wire *w, const char *text)
{
    nng_msg *m = NULL;
    cr_assert_eq(wire_recv(w, &m, 5000), 0);
    cr_assert_eq(nng_msg_len(m), strlen(text));
    cr_assert(memcmp(nng_msg_body(m), text, strlen(text)) == 0);
    nng_msg_free(m);
}

Test(wire, round_trips_with_an_nng_rep0_socket, .timeout = 20)
{
    nng_socket s = listen_rep();
    wire w;
    cr_assert_eq(wire_dial(&w, url, 1 << 20, 5000), 0);
    for (int i = 0; i < 5; i++) {
        char q[32], a[32];
        snprintf(q, sizeof(q), "request %d", i);
        snprintf(a, sizeof(a), "reply %d", i);
        cr_assert_eq(wire_send(&w, q, strlen(q)), 0);
        nng_msg *m = NULL;
        cr_assert_eq(nng_recvmsg(s, &m, 0), 0);
        cr_assert_eq(nng_msg_len(m), strlen(q), "rep0 sees the body without our header");
        cr_assert(memcmp(nng_msg_body(m), q, strlen(q)) == 0);
        nng_msg_clear(m);
        nng_msg_append(m, a, strlen(a));
        cr_assert_eq(nng_sendmsg(s, m, 0), 0);
        expect(&w, a);
    }
    wire_close(&w);
    nng_close(s);
}

Test(wire, receives_a_reply_larger_than_its_read_buffer, .timeout = 20)
{
    nng_socket s = listen_rep();
    wire w;
    size_t n = 300 * 1024;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        big[i] = (char)('a' + i % 26);
    }
    big[n] = '\0';
    cr_assert_eq(wire_dial(&w, url, 1 << 20, 5000), 0);
    cr_assert_eq(wire_send(&w, "x", 1), 0);
    reply(s, big);
    expect(&w, big);
    cr_assert_eq(wire_send(&w, big, n), 0, "and sends one");
    nng_msg *m = NULL;
    cr_assert_eq(nng_recvmsg(s, &m, 0), 0);
    cr_assert_eq(nng_msg_len(m), n);
    cr_assert(memcmp(nng_msg_body(m), big, n) == 0);
    nng_msg_free(m);
    free(big);
    wire_close(&w);
    nng_close(s);
}

Test(wire, drops_a_reply_to_an_earlier_request, .timeout = 20)
{
    nng_socket s = listen_rep();
    nng_ctx a, b;
    nng_aio *aio = NULL;
    cr_assert_eq(nng_ctx_open(&a, s), 0);
    cr_assert_eq(nng_ctx_open(&b, s), 0);
    cr_assert_eq(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, 5000);
    wire w;
    cr_assert_eq(wire_dial(&w, url, 1 << 20, 5000), 0);

    cr_assert_eq(wire_send(&w, "first", 5), 0);
    nng_ctx_recv(a, aio);
    nng_aio_wait(aio);
    cr_assert_eq(nng_aio_result(aio), 0);
    nng_msg *first = nng_aio_get_msg(aio);
    cr_assert_eq(wire_send(&w, "second", 6), 0); /* the first is abandoned */
    nng_ctx_recv(b, aio);
    nng_aio_wait(aio);
    cr_assert_eq(nng_aio_result(aio), 0);
    nng_msg *second = nng_aio_get_msg(aio);

    nng_msg_clear(first);
    nng_msg_append(first, "stale", 5);
    nng_aio_set_msg(aio, first);
    nng_ctx_send(a, aio);
    nng_aio_wait(aio);
    cr_assert_eq(nng_aio_result(aio), 0);
    nng_msg_clear(second);
    nng_msg_append(second, "fresh", 5);
    nng_aio_set_msg(aio, second);
    nng_ctx_send(b, aio);
    nng_aio_wait(aio);
    cr_assert_eq(nng_aio_result(aio), 0);

    expect(&w, "fresh");
    wire_close(&w);
    nng_aio_free(aio);
    nng_close(s);
}

Test(wire, refuses_a_reply_over_its_cap, .timeout = 20)
{
    nng_socket s = listen_rep();
    wire w;
    cr_assert_eq(wire_dial(&w, url, 16, 5000), 0);
    cr_assert_eq(wire_send(&w, "x", 1), 0);
    reply(s, "this reply is longer than sixteen bytes");
    nng_msg *m = NULL;
    cr_assert_eq(wire_recv(&w, &m, 5000), NNG_EMSGSIZE);
    cr_assert_null(m);
    wire_close(&w);
    nng_close(s);
}

Test(wire, times_out_and_sees_the_peer_close, .timeout = 20)
{
    nng_socket s = listen_rep();
    wire w;
    nng_msg *m = NULL;
    cr_assert_eq(wire_dial(&w, url, 1024, 5000), 0);
    cr_assert_eq(wire_send(&w, "x", 1), 0);
    cr_assert_eq(wire_recv(&w, &m, 100), NNG_ETIMEDOUT, "no reply yet");
    nng_close(s);
    cr_assert_eq(wire_recv(&w, &m, 5000), NNG_ECLOSED);
    cr_assert_null(m);
    wire_close(&w);
}

Test(wire, refuses_a_peer_that_is_not_rep0, .timeout = 20)
{
    nng_socket s;
    snprintf(url, sizeof(url), "ipc:///tmp/lamina-test-wire-pull-%d.sock", (int)getpid());
    cr_assert_eq(nng_pull0_open(&s), 0);
    cr_assert_eq(nng_listen(s, url, NULL, 0), 0);
    wire w;
    int rv = wire_dial(&w, url, 1024, 5000);
    cr_assert(rv == NNG_EPROTO || rv == NNG_ECLOSED, "got %s", nng_strerror(rv));
    cr_assert_eq(w.fd, -1);
    nng_close(s);
    cr_assert_eq(wire_dial(&w, "tcp://127.0.0.1:1", 1024, 100), NNG_EADDRINVAL, "ipc only");
}

typedef struct waiter {
    wire *w;
    long sleeps; /* voluntary context switches while waiting */
    int rv;
} waiter;

static void *wait_reply(void *arg)
{
    waiter *wt = arg;
    struct rusage a, b;
    nng_msg *m = NULL;
    getrusage(RUSAGE_THREAD, &a);
    wt->rv = wire_recv(wt->w, &m, -1);
    getrusage(RUSAGE_THREAD, &b);
    wt->sleeps = b.ru_nvcsw - a.ru_nvcsw;
    nng_msg_free(m);
    return NULL;
}

static void nap_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* A bare rep0 end on a plain AF_UNIX socket, so the test decides when the
 * request is consumed (nng's poller would read it at once). */
typedef struct bare_peer {
    int lfd, fd;
} bare_peer;

static void *bare_accept(void *arg)
{
    bare_peer *bp = arg;
    unsigned char hdr[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0}, theirs[8];
    bp->fd = accept(bp->lfd, NULL, NULL);
    cr_assert(bp->fd >= 0);
    cr_assert_eq(write(bp->fd, hdr, 8), 8);
    cr_assert_eq(read(bp->fd, theirs, 8), 8);
    return NULL;
}

static void bare_listen(bare_peer *bp)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(url, sizeof(url), "ipc:///tmp/lamina-test-wire-bare-%d.sock", (int)getpid());
    cr_assert(strlen(url + 6) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, url + 6, strlen(url + 6) + 1);
    unlink(sa.sun_path);
    bp->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(bp->lfd >= 0);
    cr_assert_eq(bind(bp->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(bp->lfd, 4), 0);
}

/* A worker waiting for its next invocation must sleep once, not also be
 * woken when the broker takes the request it sent (the socket turning
 * writable): that spurious wake-up was a second thread switch per invoke. */
Test(wire, a_waiting_receiver_wakes_only_for_its_reply, .timeout = 20)
{
    bare_peer bp;
    pthread_t acc, t;
    bare_listen(&bp);
    cr_assert_eq(pthread_create(&acc, NULL, bare_accept, &bp), 0);
    wire w;
    cr_assert_eq(wire_dial(&w, url, 1024, 5000), 0);
    pthread_join(acc, NULL);
    cr_assert_eq(wire_send(&w, "next", 4), 0);
    waiter wt = {.w = &w};
    cr_assert_eq(pthread_create(&t, NULL, wait_reply, &wt), 0);
    nap_ms(100); /* the waiter is asleep */
    unsigned char req[13 + 4];
    cr_assert_eq(read(bp.fd, req, sizeof(req)), (ssize_t)sizeof(req)); /* the request is taken */
    nap_ms(100);
    unsigned char rep[13 + 4];
    memcpy(rep, req, 13); /* type, length 8, the same request id */
    memcpy(rep + 13, "work", 4);
    cr_assert_eq(write(bp.fd, rep, sizeof(rep)), (ssize_t)sizeof(rep));
    pthread_join(t, NULL);
    cr_assert_eq(wt.rv, 0);
    cr_assert_eq(wt.sleeps, 1, "the waiter slept %ld times", wt.sleeps);
    wire_close(&w);
    close(bp.fd);
    close(bp.lfd);
    unlink(url + 6);
}
