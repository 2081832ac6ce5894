/*
 * broker/lib/listen.c — listeners that stay up (see listen.h for why).
 *
 * Records, all under L.mtx:
 *   sock_rec  one per guarded nng socket: its pipe-event hook and guards;
 *   guard     one per url: the current listener, the retired ones still
 *             draining, a probe socket of the peer protocol;
 *   listen_rec   one per nng listener: pipes added (ever) and live now.
 *
 * Pipe events (nng threads) only count, under L.mtx, and wake the watchdog.
 * The watchdog (one thread) makes every nng call outside L.mtx: nng may run
 * pipe callbacks, which take L.mtx, while it closes a listener.
 *
 * A listener is alive if it added a pipe since the last check; one that has
 * been quiet is probed: dial its url and wait for the pipe to be added.  A
 * probe that is not taken within the probe timeout marks it dead.  A false
 * alarm (a broker too loaded to accept within the timeout) costs only a
 * spare listener: the old one keeps its pipes and drains like a dead one.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/transport/ipc/ipc.h>

#include "blog.h"
#include "listen.h"

#define PROBE_TIMEOUT_MS 2000

typedef struct listen_rec {
    nng_listener l;
    int id;
    uint64_t adds;
    int live;
    char path[PATH_MAX + 16]; /* ipc: the numbered socket this listener bound */
    struct listen_rec *next;
} listen_rec;

typedef struct sock_rec sock_rec;

typedef struct guard {
    sock_rec *sr;
    char url[PATH_MAX + 16]; /* as given: what clients dial */
    bool ipc;
    char path[PATH_MAX]; /* ipc: DIR/NAME, the symlink */
    unsigned gen; /* ipc: number of the newest socket */
    listen_rec *cur;
    listen_rec *retired;
    uint64_t seen_adds; /* cur->adds at the last check */
    nng_socket probe;
    bool probe_open;
    bool probing; /* a probe is out (watchdog thread only) */
    bool probe_dialed; /* its pipe reached the probe socket (L.mtx) */
    nng_dialer dialer; /* its dialer */
    listen_rec *probe_rec; /* the listener it tests */
    struct guard *next;
} guard;

struct sock_rec {
    nng_socket s;
    size_t recvmax;
    listen_peer peer;
    listen_add_fn on_add;
    guard *guards;
    sock_rec *next;
};

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    pthread_t thr;
    bool running;
    bool stop;
    int check_ms;
    unsigned replaced;
    unsigned long probes;
    sock_rec *socks;
} L = {.mtx = PTHREAD_MUTEX_INITIALIZER};

/* L.mtx held */
static listen_rec *find_rec(sock_rec *sr, int id, guard **gout)
{
    for (guard *g = sr->guards; g != NULL; g = g->next) {
        if (g->cur != NULL && g->cur->id == id) {
            *gout = g;
            return g->cur;
        }
        for (listen_rec *r = g->retired; r != NULL; r = r->next) {
            if (r->id == id) {
                *gout = g;
                return r;
            }
        }
    }
    return NULL;
}

static bool own_probe(nng_pipe p)
{
    uint64_t pid = 0;
    return nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0 && pid == (uint64_t)getpid();
}

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    sock_rec *sr = arg;
    int id = nng_listener_id(nng_pipe_listener(p));
    pthread_mutex_lock(&L.mtx);
    guard *g = NULL;
    listen_rec *r = id > 0 ? find_rec(sr, id, &g) : NULL;
    if (r != NULL) {
        if (ev == NNG_PIPE_EV_ADD_POST) {
            r->adds++;
            r->live++;
        } else if (ev == NNG_PIPE_EV_REM_POST && r->live > 0) {
            r->live--;
        }
        pthread_cond_broadcast(&L.cv);
    }
    listen_add_fn hook = sr->on_add;
    pthread_mutex_unlock(&L.mtx);
    if (ev == NNG_PIPE_EV_ADD_POST && hook != NULL && !own_probe(p)) {
        hook(p);
    }
}

/* The probe's own end is up.  The dialer is closed only after this: nng
 * 1.5.2 leaks the socket of a dialer closed while its pipe is still in the
 * handshake. */
static void probe_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    (void)ev;
    guard *g = arg;
    pthread_mutex_lock(&L.mtx);
    g->probe_dialed = true;
    pthread_cond_broadcast(&L.cv);
    pthread_mutex_unlock(&L.mtx);
}

/* Split ipc://DIR/NAME; 0 on success. */
static int ipc_path(const char *url, char *path, size_t cap)
{
    if (strncmp(url, "ipc://", 6) != 0) {
        return -1;
    }
    return snprintf(path, cap, "%s", url + 6) < (int)cap ? 0 : -1;
}

/* Does a live process serve this unix socket path (through the symlink)? */
static bool ipc_in_use(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return false;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    bool used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return used;
}

/* Remove what an earlier broker left: the symlink (or a plain socket from a
 * version before the guard) and numbered sockets NAME.N. */
static void ipc_clear(const char *path)
{
    unlink(path);
    char numbered[PATH_MAX + 16];
    for (unsigned n = 1; n <= 64; n++) {
        snprintf(numbered, sizeof(numbered), "%s.%u", path, n);
        if (unlink(numbered) != 0 && errno == ENOENT && n > 8) {
            break;
        }
    }
}

/* Point the symlink DIR/NAME at NAME.gen, atomically. */
static int ipc_publish(const guard *g)
{
    char tmp[PATH_MAX + 16], target[PATH_MAX + 16];
    const char *base = strrchr(g->path, '/');
    base = base != NULL ? base + 1 : g->path;
    snprintf(target, sizeof(target), "%s.%u", base, g->gen);
    snprintf(tmp, sizeof(tmp), "%s.link", g->path);
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, g->path) != 0) {
        int e = errno;
        unlink(tmp);
        return e;
    }
    return 0;
}

/* Create and start a listener for g (its next numbered socket for ipc) and
 * make it current.  Called without L.mtx. */
static int open_listener(guard *g)
{
    char url[PATH_MAX + 32];
    listen_rec *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NNG_ENOMEM;
    }
    unsigned gen = g->gen + 1;
    if (g->ipc) {
        snprintf(r->path, sizeof(r->path), "%s.%u", g->path, gen);
        unlink(r->path);
        snprintf(url, sizeof(url), "ipc://%s", r->path);
    } else {
        snprintf(url, sizeof(url), "%s", g->url);
    }
    int rv = nng_listener_create(&r->l, g->sr->s, url);
    if (rv != 0) {
        free(r);
        return rv;
    }
    nng_listener_set_size(r->l, NNG_OPT_RECVMAXSZ, g->sr->recvmax);
    if (g->ipc) {
        /* owner only; the 0700 state dir already keeps others from the path */
        nng_listener_set_int(r->l, NNG_OPT_IPC_PERMISSIONS, 0600);
    }
    r->id = nng_listener_id(r->l);
    /* Known before it can add a pipe, so the first pipe is counted. */
    pthread_mutex_lock(&L.mtx);
    listen_rec *old = g->cur;
    r->next = NULL;
    g->cur = r;
    if (old != NULL) {
        old->next = g->retired;
        g->retired = old;
    }
    pthread_mutex_unlock(&L.mtx);
    rv = nng_listener_start(r->l, 0);
    if (rv == 0 && g->ipc) {
        g->gen = gen;
        int e = ipc_publish(g);
        if (e != 0) {
            blog(LOG_ERROR, "cannot link %s: %s", g->path, strerror(e));
            rv = NNG_EINTERNAL;
        }
    }
    if (rv != 0) {
        /* put the old one back as current; retry on the next check */
        pthread_mutex_lock(&L.mtx);
        g->cur = old;
        if (old != NULL) {
            g->retired = old->next;
            old->next = NULL;
        }
        pthread_mutex_unlock(&L.mtx);
        nng_listener_close(r->l);
        free(r);
        return rv;
    }
    pthread_mutex_lock(&L.mtx);
    g->seen_adds = 0;
    pthread_mutex_unlock(&L.mtx);
    return 0;
}

/* L.cv waits on CLOCK_MONOTONIC; set up once, before any pipe callback can
 * signal it (found by ThreadSanitizer when it was re-initialised later). */
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static void cv_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&L.cv, &ca);
    pthread_condattr_destroy(&ca);
}

int listen_listen(nng_socket s, const char *url, size_t recvmax, listen_peer peer,
                  listen_add_fn on_add)
{
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&L.mtx);
    sock_rec *sr = L.socks;
    while (sr != NULL && nng_socket_id(sr->s) != nng_socket_id(s)) {
        sr = sr->next;
    }
    pthread_mutex_unlock(&L.mtx);
    if (sr == NULL) {
        sr = calloc(1, sizeof(*sr));
        if (sr == NULL) {
            return NNG_ENOMEM;
        }
        sr->s = s;
        sr->recvmax = recvmax;
        sr->peer = peer;
        sr->on_add = on_add;
        nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, pipe_cb, sr);
        nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_cb, sr);
        pthread_mutex_lock(&L.mtx);
        sr->next = L.socks;
        L.socks = sr;
        pthread_mutex_unlock(&L.mtx);
    }
    guard *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return NNG_ENOMEM;
    }
    g->sr = sr;
    snprintf(g->url, sizeof(g->url), "%s", url);
    g->ipc = ipc_path(url, g->path, sizeof(g->path)) == 0;
    if (g->ipc) {
        if (ipc_in_use(g->path)) {
            free(g);
            return NNG_EADDRINUSE;
        }
        ipc_clear(g->path);
    }
    int rv = open_listener(g);
    if (rv == 0) {
        rv = peer == LISTEN_PEER_REQ ? nng_req0_open(&g->probe) : nng_push0_open(&g->probe);
        g->probe_open = rv == 0;
        if (g->probe_open) {
            nng_pipe_notify(g->probe, NNG_PIPE_EV_ADD_POST, probe_pipe_cb, g);
        }
        rv = 0; /* a missing probe only disables the watchdog for this url */
    }
    if (rv != 0) {
        free(g);
        return rv;
    }
    pthread_mutex_lock(&L.mtx);
    g->next = sr->guards;
    sr->guards = g;
    pthread_mutex_unlock(&L.mtx);
    return 0;
}

/* The url a probe dials: the public ipc name, or the tcp address the
 * listener is bound to, with a wildcard host made loopback. */
static int probe_url(guard *g, nng_listener l, char *out, size_t cap)
{
    if (g->ipc) {
        return snprintf(out, cap, "%s", g->url) < (int)cap ? 0 : -1;
    }
    nng_sockaddr sa;
    if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0) {
        return -1;
    }
    if (sa.s_family == NNG_AF_INET) {
        static const uint8_t loopback[4] = {127, 0, 0, 1};
        uint32_t a = sa.s_in.sa_addr;
        const uint8_t *b = a == 0 ? loopback : (const uint8_t *)&a;
        const uint8_t *pt = (const uint8_t *)&sa.s_in.sa_port;
        snprintf(out, cap, "tcp://%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3],
                 (unsigned)pt[0] << 8 | pt[1]);
        return 0;
    }
    if (sa.s_family == NNG_AF_INET6) {
        const uint8_t *pt = (const uint8_t *)&sa.s_in6.sa_port;
        snprintf(out, cap, "tcp://[::1]:%u", (unsigned)pt[0] << 8 | pt[1]);
        return 0;
    }
    return -1;
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    long long ns = (long long)ts->tv_nsec + (long long)ms * 1000000LL;
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

/* Close retired listeners whose pipes have all gone. */
static void drain(guard *g)
{
    for (;;) {
        listen_rec *done = NULL;
        pthread_mutex_lock(&L.mtx);
        for (listen_rec **pp = &g->retired; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->live == 0) {
                done = *pp;
                *pp = done->next;
                break;
            }
        }
        pthread_mutex_unlock(&L.mtx);
        if (done == NULL) {
            return;
        }
        /* nng unlinks the numbered socket it bound; the symlink is not
         * touched. */
        nng_listener_close(done->l);
        free(done);
    }
}

/* Start a probe of g's current listener if it has been quiet since the last
 * check; sets g->probing.  Called without L.mtx. */
static void probe_start(guard *g)
{
    g->probing = false;
    pthread_mutex_lock(&L.mtx);
    listen_rec *r = g->cur;
    bool quiet = r != NULL && r->adds == g->seen_adds;
    if (r != NULL) {
        g->seen_adds = r->adds;
    }
    nng_listener l = {0};
    if (r != NULL) {
        l = r->l;
    }
    pthread_mutex_unlock(&L.mtx);
    char url[PATH_MAX + 32];
    if (!quiet || !g->probe_open || probe_url(g, l, url, sizeof(url)) != 0 ||
        nng_dialer_create(&g->dialer, g->probe, url) != 0) {
        return; /* busy, gone, or cannot be probed: nothing to test */
    }
    nng_dialer_set_ms(g->dialer, NNG_OPT_RECONNMINT, 60000);
    nng_dialer_set_ms(g->dialer, NNG_OPT_RECONNMAXT, 60000);
    g->probe_rec = r;
    g->probing = true;
    pthread_mutex_lock(&L.mtx);
    g->probe_dialed = false;
    L.probes++;
    pthread_mutex_unlock(&L.mtx);
    nng_dialer_start(g->dialer, NNG_FLAG_NONBLOCK);
}

/* L.mtx held: has every started probe been answered? */
static bool probes_answered(void)
{
    for (sock_rec *sr = L.socks; sr != NULL; sr = sr->next) {
        for (guard *g = sr->guards; g != NULL; g = g->next) {
            bool taken = g->cur != g->probe_rec || g->probe_rec->adds != g->seen_adds;
            if (g->probing && (!g->probe_dialed || !taken)) {
                return false;
            }
        }
    }
    return true;
}

/* Replace g's current listener, which did not take its probe. */
static void replace(guard *g)
{
    if (g->cur != NULL && !g->ipc) {
        /* a tcp port cannot be bound twice: close the dead one first */
        nng_listener_close(g->cur->l);
        pthread_mutex_lock(&L.mtx);
        listen_rec *dead = g->cur;
        g->cur = NULL;
        pthread_mutex_unlock(&L.mtx);
        free(dead);
    }
    int rv = open_listener(g);
    if (rv == 0) {
        pthread_mutex_lock(&L.mtx);
        L.replaced++;
        pthread_mutex_unlock(&L.mtx);
        blog(LOG_WARN,
             "listener on %s stopped accepting (nng 1.5.2 bug #1518: a peer left during the "
             "handshake); replaced it",
             g->url);
    } else {
        blog(LOG_ERROR, "listener on %s stopped accepting and cannot be replaced: %s", g->url,
             nng_strerror(rv));
    }
}

/* One round: probe every quiet listener at once, wait for the probes to
 * be taken (or the timeout), replace the listeners that did not take
 * theirs, close drained retired ones.  Called without L.mtx. */
static void check_all(void)
{
    for (sock_rec *sr = L.socks; sr != NULL; sr = sr->next) {
        for (guard *g = sr->guards; g != NULL; g = g->next) {
            probe_start(g);
        }
    }
    struct timespec ts;
    deadline_in(&ts, PROBE_TIMEOUT_MS);
    pthread_mutex_lock(&L.mtx);
    int rc = 0;
    while (!L.stop && !probes_answered() && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&L.cv, &L.mtx, &ts);
    }
    bool stopping = L.stop;
    pthread_mutex_unlock(&L.mtx);
    for (sock_rec *sr = L.socks; sr != NULL; sr = sr->next) {
        for (guard *g = sr->guards; g != NULL; g = g->next) {
            if (!g->probing) {
                if (g->cur == NULL && !stopping) {
                    replace(g); /* an earlier replacement failed: retry */
                }
                drain(g);
                continue;
            }
            nng_dialer_close(g->dialer);
            g->probing = false;
            pthread_mutex_lock(&L.mtx);
            bool alive = g->cur != g->probe_rec || g->probe_rec->adds != g->seen_adds;
            g->seen_adds = g->cur != NULL ? g->cur->adds : 0;
            pthread_mutex_unlock(&L.mtx);
            if (!alive && !stopping) {
                replace(g);
            }
            drain(g);
        }
    }
}

static void *watch_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&L.mtx);
    while (!L.stop) {
        struct timespec ts;
        deadline_in(&ts, L.check_ms);
        int rc = 0;
        while (!L.stop && rc != ETIMEDOUT) {
            rc = pthread_cond_timedwait(&L.cv, &L.mtx, &ts);
        }
        if (L.stop) {
            break;
        }
        pthread_mutex_unlock(&L.mtx);
        check_all();
        pthread_mutex_lock(&L.mtx);
    }
    pthread_mutex_unlock(&L.mtx);
    return NULL;
}

int listen_watch_start(int check_ms)
{
    pthread_once(&cv_once, cv_init);
    L.check_ms = check_ms > 0 ? check_ms : 500;
    L.stop = false;
    if (pthread_create(&L.thr, NULL, watch_main, NULL) != 0) {
        return -1;
    }
    L.running = true;
    return 0;
}

void listen_watch_stop(void)
{
    if (!L.running) {
        return;
    }
    pthread_mutex_lock(&L.mtx);
    L.stop = true;
    pthread_cond_broadcast(&L.cv);
    pthread_mutex_unlock(&L.mtx);
    pthread_join(L.thr, NULL);
    L.running = false;
}

void listen_cleanup(void)
{
    pthread_mutex_lock(&L.mtx);
    sock_rec *sr = L.socks;
    L.socks = NULL;
    pthread_mutex_unlock(&L.mtx);
    while (sr != NULL) {
        sock_rec *nsr = sr->next;
        guard *g = sr->guards;
        while (g != NULL) {
            guard *ng = g->next;
            if (g->probe_open) {
                nng_close(g->probe);
            }
            if (g->ipc) {
                struct stat st;
                if (lstat(g->path, &st) == 0 && S_ISLNK(st.st_mode)) {
                    unlink(g->path);
                }
            }
            listen_rec *r = g->retired;
            while (r != NULL) {
                listen_rec *nr = r->next;
                free(r);
                r = nr;
            }
            free(g->cur);
            free(g);
            g = ng;
        }
        free(sr);
        sr = nsr;
    }
}

unsigned listen_replacements(void)
{
    pthread_mutex_lock(&L.mtx);
    unsigned n = L.replaced;
    pthread_mutex_unlock(&L.mtx);
    return n;
}

unsigned long listen_probes(void)
{
    pthread_mutex_lock(&L.mtx);
    unsigned long n = L.probes;
    pthread_mutex_unlock(&L.mtx);
    return n;
}
