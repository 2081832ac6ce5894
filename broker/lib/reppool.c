/*
 * broker/lib/reppool.c — the rep0 context pool of reppool.h.
 *
 * State lives under P.mtx; nng_ctx_recv and nng_ctx_send are started with
 * it held (nng completes them on its own threads, never inside the call),
 * which orders every restart against reppool_stop's `closed`: once stop has
 * set it, no context starts a new receive, so nng_aio_stop on each one
 * leaves nothing running.  Replies are started outside the lock: the owner
 * has the context to itself while it is in WAIT.
 */
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>

#include "list.h"
#include "reppool.h"

typedef enum { RP_RECV, RP_WAIT, RP_SEND, RP_REST } rp_state;

struct reppool_ctx {
    reppool *pool;
    nng_ctx ctx;
    nng_aio *aio;
    rp_state state;
    list_node all; /* pool->all: every context, until stop */
    list_node free; /* pool->free while idle */
};

struct reppool {
    pthread_mutex_t mtx;
    nng_socket sock;
    reppool_config cfg;
    list_head all;
    list_head free;
    int total;
    int receiving;
    int waiting;
    bool closed;
};

static void rp_cb(void *arg);

/* mtx held. */
static void start_recv(reppool_ctx *c)
{
    c->state = RP_RECV;
    c->pool->receiving++;
    nng_ctx_recv(c->ctx, c->aio);
}

/* A new context, linked on p->all; NULL when out of memory.  mtx held. */
static reppool_ctx *ctx_new(reppool *p)
{
    reppool_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->pool = p;
    if (nng_aio_alloc(&c->aio, rp_cb, c) != 0 || nng_ctx_open(&c->ctx, p->sock) != 0) {
        nng_aio_free(c->aio);
        free(c);
        return NULL;
    }
    list_push_front(&p->all, &c->all);
    p->total++;
    return c;
}

/* Keep cfg.receivers contexts receiving.  mtx held. */
static void top_up(reppool *p)
{
    while (!p->closed && p->receiving < p->cfg.receivers) {
        reppool_ctx *c = list_pop_front_entry(&p->free, reppool_ctx, free);
        if (c == NULL && (p->cfg.max == 0 || p->total < p->cfg.max)) {
            c = ctx_new(p);
        }
        if (c == NULL) {
            return;
        }
        start_recv(c);
    }
}

/* c is done with its request: receive again if receivers are short, else
 * rest on the free list.  mtx held. */
static void recycle(reppool_ctx *c)
{
    reppool *p = c->pool;
    if (!p->closed && p->receiving < p->cfg.receivers) {
        start_recv(c);
        return;
    }
    c->state = RP_REST;
    list_push_front(&p->free, &c->free);
}

static void rp_cb(void *arg)
{
    reppool_ctx *c = arg;
    reppool *p = c->pool;
    int rv = nng_aio_result(c->aio);
    pthread_mutex_lock(&p->mtx);
    if (c->state == RP_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(c->aio));
        }
        recycle(c);
        pthread_mutex_unlock(&p->mtx);
        return;
    }
    /* RP_RECV completed */
    p->receiving--;
    if (rv != 0) {
        if (rv != NNG_ECLOSED && !p->closed) {
            start_recv(c); /* transient error: keep receiving */
        } else {
            c->state = RP_REST; /* closed: rests until stop frees it */
        }
        pthread_mutex_unlock(&p->mtx);
        return;
    }
    c->state = RP_WAIT;
    p->waiting++;
    top_up(p);
    pthread_mutex_unlock(&p->mtx);
    p->cfg.on_request(p->cfg.arg, c, nng_aio_get_msg(c->aio));
}

int reppool_create(reppool **out, nng_socket sock, const reppool_config *cfg)
{
    *out = NULL;
    if (cfg->receivers < 1 || cfg->max < 0 || (cfg->max > 0 && cfg->max < cfg->receivers) ||
        cfg->on_request == NULL) {
        return NNG_EINVAL;
    }
    reppool *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NNG_ENOMEM;
    }
    if (pthread_mutex_init(&p->mtx, NULL) != 0) {
        free(p);
        return NNG_ENOMEM;
    }
    p->sock = sock;
    p->cfg = *cfg;
    pthread_mutex_lock(&p->mtx);
    top_up(p);
    pthread_mutex_unlock(&p->mtx);
    *out = p;
    return 0;
}

void reppool_reply(reppool_ctx *c, nng_msg *msg)
{
    reppool *p = c->pool;
    pthread_mutex_lock(&p->mtx);
    c->state = RP_SEND;
    p->waiting--;
    pthread_mutex_unlock(&p->mtx);
    nng_aio_set_msg(c->aio, msg);
    nng_ctx_send(c->ctx, c->aio);
}

void reppool_release(reppool_ctx *c)
{
    reppool *p = c->pool;
    pthread_mutex_lock(&p->mtx);
    p->waiting--;
    recycle(c);
    pthread_mutex_unlock(&p->mtx);
}

void reppool_stop(reppool *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mtx);
    p->closed = true;
    pthread_mutex_unlock(&p->mtx);
    nng_close(p->sock);
    LIST_EACH(c, reppool_ctx, all, &p->all)
    {
        nng_aio_stop(c->aio);
    }
    LIST_EACH(c, reppool_ctx, all, &p->all)
    {
        nng_aio_free(c->aio);
        free(c);
    }
    pthread_mutex_destroy(&p->mtx);
    free(p);
}

void reppool_counts(reppool *p, int *receiving, int *waiting, int *total)
{
    pthread_mutex_lock(&p->mtx);
    *receiving = p->receiving;
    *waiting = p->waiting;
    *total = p->total;
    pthread_mutex_unlock(&p->mtx);
}
