/*
 * sdk/src/client.c — the client half of liblamina: connect to a broker's api
 * socket and make calls (see lamina/client.h for the contract).
 *
 * One req0 socket per client; every call runs on a context of its own, so
 * calls from several threads run concurrently on one connection.  Resend is
 * disabled: the broker never sees a request twice because a reply was slow.
 *
 * Contexts (with their aio) are kept for the next call rather than closed:
 * opening and closing a context and an aio on every call took the socket's
 * lock four more times and was about a tenth of a caller's CPU at 64
 * callers.  A context goes back to the pool only after a call that got its
 * reply, so the next request never meets a leftover one; one that failed
 * (timeout, closed) is closed.  The pool never holds more contexts than the
 * calls that were ever in flight at once.
 *
 * Opening retries what load makes fail for a moment, and nothing else.
 * When the broker's accept backlog is full, an ipc connect gets EAGAIN at
 * once (2,000 opens at the same moment: 700-1,500 failed that way); a
 * connection reset or aborted during the handshake is the same kind of
 * moment.  Those are dialled again after a back-off that doubles from
 * CLIENT_BACKOFF_MIN_MS to CLIENT_BACKOFF_MAX_MS, each wait drawn between
 * half and all of it (jitter, so a crowd of clients does not come back in
 * step), and no new attempt starts once CLIENT_OPEN_RETRY_MS have passed.
 * "Connection refused" is not retried: nng 1.5.2 reports a missing socket
 * file that way too, and both mean no broker is listening — the caller
 * hears so at once, in words that say which (open_error()).  A failed ping
 * after a good dial (a listener that stopped handing over connections,
 * broker/listen.h) is retried too, CLIENT_CONNECT_ATTEMPTS times even past
 * the bound, as before.
 *
 * Event invokes always carry an idempotency key (the caller's, or a
 * time-ordered random one), so this file may send one again when its connection was
 * reset before the reply (the broker may have stored it): the broker
 * answers the repeat with the first 202.  Nothing else is ever resent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <lamina/client.h>

#include "jsonconv.h"
#include "proto.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 960000
#define CLIENT_PING_TIMEOUT_MS 5000
#define CLIENT_CONNECT_ATTEMPTS 3 /* pings that fail after a good dial */
#define CLIENT_OPEN_RETRY_MS 5000 /* no new dial starts later than this */
#define CLIENT_BACKOFF_MIN_MS 1
#define CLIENT_BACKOFF_MAX_MS 100
#define CLIENT_EVENT_ATTEMPTS 3 /* an Event invoke's sends when the connection resets */

typedef struct call_slot {
    nng_ctx ctx;
    nng_aio *aio;
    struct call_slot *next;
} call_slot;

struct lm_client {
    nng_socket sock;
    int timeout_ms;
    char url[512];
    pthread_mutex_t mtx; /* guards idle */
    call_slot *idle; /* contexts kept for the next call */
};

LM_EXPORT const char *lm_err_name(int code)
{
    return proto_err_name(code);
}

static int endpoint_url(char *url, size_t cap, const char *state_dir, const char *endpoint)
{
    if (endpoint != NULL && endpoint[0] != '\0') {
        return snprintf(url, cap, "%s", endpoint) < (int)cap ? 0 : -1;
    }
    if (state_dir == NULL || state_dir[0] == '\0') {
        state_dir = getenv("LAMINA_STATE");
    }
    if (state_dir == NULL || state_dir[0] == '\0') {
        state_dir = ".lamina";
    }
    return snprintf(url, cap, "ipc://%s/api.sock", state_dir) < (int)cap ? 0 : -1;
}

static int roundtrip(lm_client *c, nng_msg *req, nng_msg **rep, lm_error *err);
static int roundtrip_rv(lm_client *c, nng_msg *req, nng_msg **rep, lm_error *err, int *nng_rv);
static void slots_free(lm_client *c);

/* Confirm the broker took the connection.  Under nng 1.5.2 a broker
 * listener can stop handing over connections it has negotiated (see
 * broker/listen.h); the broker replaces it within seconds and closes what it
 * held, which fails this ping with a reset: the caller dials again.  A ping
 * is never an invocation, so nothing runs twice.  Any reply will do. */
static int ping(lm_client *c)
{
    nng_msg *m = proto_op_msg("ping");
    if (m == NULL) {
        return NNG_ENOMEM;
    }
    int saved = c->timeout_ms;
    c->timeout_ms = CLIENT_PING_TIMEOUT_MS;
    nng_msg *rep = NULL;
    lm_error e;
    int rc = roundtrip(c, m, &rep, &e);
    c->timeout_ms = saved;
    if (rc != LM_OK) {
        return rc == LM_E_TIMEOUT ? NNG_ETIMEDOUT : NNG_ECONNRESET;
    }
    nng_msg_free(rep);
    return 0;
}

/* Errors a broker under load gives for a moment (see the head comment). */
static bool dial_transient(int rv)
{
    return rv == NNG_EAGAIN || rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT ||
           rv == NNG_ECONNABORTED;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Sleep between half and all of *delay_ms (xorshift64 on *seed), then
 * double *delay_ms up to the cap. */
static void back_off(int *delay_ms, uint64_t *seed)
{
    uint64_t x = *seed;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *seed = x;
    int64_t us = (int64_t)*delay_ms * 1000;
    us = us / 2 + (int64_t)(x % (uint64_t)(us / 2 + 1));
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    *delay_ms = *delay_ms * 2 > CLIENT_BACKOFF_MAX_MS ? CLIENT_BACKOFF_MAX_MS : *delay_ms * 2;
}

static uint64_t jitter_seed(const void *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() << 32 ^
                 (uint64_t)(uintptr_t)p;
    return s != 0 ? s : 1;
}

/* Where an open attempt failed. */
typedef enum open_stage { STAGE_SOCKET, STAGE_DIAL, STAGE_PING } open_stage;

/* One dial of c->url on a fresh socket, confirmed by a ping.  0, or the nng
 * error with *stage saying where it failed; on failure the socket is
 * closed. */
static int dial_once(lm_client *c, open_stage *stage)
{
    *stage = STAGE_SOCKET;
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        return rv;
    }
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, PROTO_WORK_RECVMAX + 64 * 1024);
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    *stage = STAGE_DIAL;
    rv = nng_dial(c->sock, c->url, NULL, 0);
    if (rv == 0) {
        *stage = STAGE_PING;
        rv = ping(c);
    }
    if (rv != 0) {
        slots_free(c);
        nng_close(c->sock);
    }
    return rv;
}

/* The caller's error for a dial that failed for good: which of "no broker
 * there" and "a broker too busy for too long" it was, and how long it was
 * tried. */
static int open_error(const lm_client *c, int rv, int attempts, double ms, lm_error *err)
{
    char why[160], tried[96] = "";
    snprintf(why, sizeof(why), "%s", nng_strerror(rv));
    if (rv == NNG_ECONNREFUSED && strncmp(c->url, "ipc://", 6) == 0) {
        struct stat st; /* stat follows the api.sock symlink */
        snprintf(why, sizeof(why), "%s",
                 stat(c->url + 6, &st) != 0
                     ? "no socket there (is a broker running on that state dir?)"
                     : "nothing listens on it (a broker that was killed leaves its socket "
                       "behind)");
    }
    if (attempts > 1) {
        snprintf(tried, sizeof(tried), " (still, after %d attempts in %.1f s%s)", attempts,
                 ms / 1000.0, rv == NNG_EAGAIN ? ": its accept queue stayed full" : "");
    }
    return proto_error(err, LM_E_UNREACHABLE, "cannot reach the broker at %s: %s%s", c->url, why,
                       tried);
}

LM_EXPORT int lm_client_open(lm_client **out, const char *state_dir, const char *endpoint,
                             lm_error *err)
{
    *out = NULL;
    lm_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return proto_error(err, LM_E_NOMEM, NULL);
    }
    c->timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
    pthread_mutex_init(&c->mtx, NULL);
    if (endpoint_url(c->url, sizeof(c->url), state_dir, endpoint) != 0) {
        pthread_mutex_destroy(&c->mtx);
        free(c);
        return proto_error(err, LM_E_INVALID_PARAMETER, "broker address is too long");
    }
    double start = mono_ms();
    uint64_t seed = jitter_seed(c);
    int delay = CLIENT_BACKOFF_MIN_MS, attempts = 0, ping_failures = 0, rv;
    open_stage stage;
    for (;;) {
        attempts++;
        rv = dial_once(c, &stage);
        if (rv == 0 || stage == STAGE_SOCKET) {
            break;
        }
        if (stage == STAGE_PING
                ? ++ping_failures >= CLIENT_CONNECT_ATTEMPTS
                : !dial_transient(rv) || mono_ms() + delay / 2.0 - start > CLIENT_OPEN_RETRY_MS) {
            break;
        }
        back_off(&delay, &seed);
    }
    if (rv != 0) {
        int code = stage == STAGE_SOCKET ? proto_error(err, proto_err_from_nng(rv),
                                                       "nng_req0_open: %s", nng_strerror(rv))
                                         : open_error(c, rv, attempts, mono_ms() - start, err);
        pthread_mutex_destroy(&c->mtx);
        free(c);
        return code;
    }
    *out = c;
    return LM_OK;
}

LM_EXPORT void lm_client_destroy(lm_client *c)
{
    if (c == NULL) {
        return;
    }
    slots_free(c);
    nng_close(c->sock);
    pthread_mutex_destroy(&c->mtx);
    free(c);
}

LM_EXPORT void lm_client_set_timeout(lm_client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms;
}

static void slot_close(call_slot *sl)
{
    nng_aio_free(sl->aio);
    nng_ctx_close(sl->ctx);
    free(sl);
}

/* Close every kept context (the socket is closed or about to be). */
static void slots_free(lm_client *c)
{
    pthread_mutex_lock(&c->mtx);
    call_slot *sl = c->idle;
    c->idle = NULL;
    pthread_mutex_unlock(&c->mtx);
    while (sl != NULL) {
        call_slot *n = sl->next;
        slot_close(sl);
        sl = n;
    }
}

/* A context for one call: a kept one, or a new one.  0 or an nng error. */
static int slot_take(lm_client *c, call_slot **out)
{
    pthread_mutex_lock(&c->mtx);
    call_slot *sl = c->idle;
    if (sl != NULL) {
        c->idle = sl->next;
    }
    pthread_mutex_unlock(&c->mtx);
    if (sl == NULL) {
        sl = calloc(1, sizeof(*sl));
        if (sl == NULL) {
            return NNG_ENOMEM;
        }
        int rv = nng_ctx_open(&sl->ctx, c->sock);
        if (rv == 0 && (rv = nng_aio_alloc(&sl->aio, NULL, NULL)) != 0) {
            nng_ctx_close(sl->ctx);
        }
        if (rv != 0) {
            free(sl);
            return rv;
        }
    }
    *out = sl;
    return 0;
}

static void slot_put(lm_client *c, call_slot *sl)
{
    pthread_mutex_lock(&c->mtx);
    sl->next = c->idle;
    c->idle = sl;
    pthread_mutex_unlock(&c->mtx);
}

/* Send req (ownership taken in all cases) and receive the reply into *rep. */
static int roundtrip(lm_client *c, nng_msg *req, nng_msg **rep, lm_error *err)
{
    int rv = 0;
    return roundtrip_rv(c, req, rep, err, &rv);
}

/* roundtrip, and *nng_rv gets the nng error behind a failure (0 on success). */
static int roundtrip_rv(lm_client *c, nng_msg *req, nng_msg **rep, lm_error *err, int *nng_rv)
{
    call_slot *sl = NULL;
    int rv = slot_take(c, &sl);
    *nng_rv = rv;
    if (rv != 0) {
        nng_msg_free(req);
        return proto_error(err, proto_err_from_nng(rv), "cannot start a call: %s",
                           nng_strerror(rv));
    }
    nng_aio_set_timeout(sl->aio, c->timeout_ms);
    nng_aio_set_msg(sl->aio, req);
    nng_ctx_send(sl->ctx, sl->aio);
    nng_aio_wait(sl->aio);
    rv = nng_aio_result(sl->aio);
    if (rv != 0) {
        nng_msg_free(nng_aio_get_msg(sl->aio));
        goto fail;
    }
    nng_ctx_recv(sl->ctx, sl->aio);
    nng_aio_wait(sl->aio);
    rv = nng_aio_result(sl->aio);
    if (rv != 0) {
        goto fail;
    }
    *rep = nng_aio_get_msg(sl->aio);
    nng_aio_set_msg(sl->aio, NULL);
    slot_put(c, sl);
    return LM_OK;
fail:
    slot_close(sl);
    *nng_rv = rv;
    if (rv == NNG_ETIMEDOUT) {
        return proto_error(err, LM_E_TIMEOUT, "no reply from the broker at %s within %d ms", c->url,
                           c->timeout_ms);
    }
    return proto_error(err, proto_err_from_nng(rv), "broker at %s: %s", c->url, nng_strerror(rv));
}

static char *dup_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        if (n > 0) {
            memcpy(s, p, n);
        }
        s[n] = '\0';
    }
    return s;
}

static void copy_field(const msgpack_object *root, const char *key, char *dst, size_t cap)
{
    const char *s = NULL;
    size_t n = 0;
    dst[0] = '\0';
    if (proto_get_str(root, key, false, &s, &n, NULL) == LM_OK && s != NULL) {
        snprintf(dst, cap, "%.*s", (int)n, s);
    }
}

static int read_invoke_reply(const proto_doc *doc, lm_invoke_result *out, lm_error *err)
{
    const msgpack_object *root = doc->root;
    int64_t status = 0;
    const void *payload = NULL;
    size_t plen = 0;
    const char *log = NULL;
    size_t loglen = 0;
    int rc = proto_get_int(root, "status", true, &status, err);
    if (rc == LM_OK) {
        rc = proto_get_bin(root, "payload", false, &payload, &plen, err);
    }
    if (rc == LM_OK) {
        rc = proto_get_str(root, "log", false, &log, &loglen, err);
    }
    if (rc != LM_OK) {
        return rc;
    }
    out->status = (int)status;
    copy_field(root, "version", out->executed_version, sizeof(out->executed_version));
    copy_field(root, "ferr", out->function_error, sizeof(out->function_error));
    copy_field(root, "rid", out->request_id, sizeof(out->request_id));
    proto_get_double(root, "init_ms", false, &out->init_duration_ms, NULL);
    proto_get_double(root, "dur_ms", false, &out->duration_ms, NULL);
    out->payload = dup_bytes(payload, payload != NULL ? plen : 0);
    out->payload_len = payload != NULL ? plen : 0;
    if (log != NULL) {
        out->log_result = dup_bytes(log, loglen);
    }
    if (out->payload == NULL || (log != NULL && out->log_result == NULL)) {
        lm_invoke_result_finish(out);
        return proto_error(err, LM_E_NOMEM, NULL);
    }
    return LM_OK;
}

/* Decode a reply; an "error" reply becomes its code. */
static int decode_reply(nng_msg *rep, proto_doc *doc, lm_error *err)
{
    int rc = proto_decode(nng_msg_body(rep), nng_msg_len(rep), doc, err);
    if (rc != LM_OK) {
        return rc;
    }
    const char *op = NULL;
    size_t oplen = 0;
    rc = proto_get_str(doc->root, "op", true, &op, &oplen, err);
    if (rc != LM_OK) {
        return rc;
    }
    if (oplen == 5 && memcmp(op, "error", 5) == 0) {
        return proto_read_error(doc->root, err);
    }
    return LM_OK;
}

/* A key made here starts with the time (48 bits of CLOCK_REALTIME ms, the
 * layout of a UUIDv7) and ends with 80 random bits: the broker's key index
 * is ordered by (function, key), so time-ordered keys land at its right
 * edge, a page or two per commit, where 128 random bits would touch a page
 * per key (measured: see README.md, "Idempotency keys"). */
LM_EXPORT int lm_idempotency_key_new(char out[LM_IDEMPOTENCY_KEY_NEW_LEN])
{
    unsigned char b[16];
    size_t got = 6;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (errno != EINTR) {
            out[0] = '\0';
            return LM_E_INTERNAL;
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; i < 6; i++) {
        b[i] = (unsigned char)(ms >> (8 * (5 - i)));
    }
    for (size_t i = 0; i < sizeof(b); i++) {
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    }
    return LM_OK;
}

/* The caller's key (NULL when it gave none), reading only what o->size
 * says the caller's struct holds. */
static const char *option_key(const lm_invoke_options *o)
{
    size_t need = offsetof(lm_invoke_options, idempotency_key) + sizeof(o->idempotency_key);
    return o != NULL && o->size >= need ? o->idempotency_key : NULL;
}

/* The invoke request; ikey is sent when non-NULL.  NULL on ENOMEM. */
static nng_msg *invoke_msg(const lm_invoke_params *p, const char *ikey)
{
    nng_msg *req = NULL;
    if (nng_msg_alloc(&req, 0) != 0) {
        return NULL;
    }
    const void *payload = p->payload != NULL ? p->payload : "{}";
    size_t plen = p->payload != NULL ? p->payload_len : 2;
    proto_writer w;
    proto_writer_init(&w, req);
    pw_map(&w, ikey != NULL ? 9 : 8);
    pw_header(&w, "invoke");
    pw_key(&w, "fn");
    pw_str(&w, p->function);
    pw_key(&w, "q");
    pw_str(&w, p->qualifier);
    pw_key(&w, "type");
    pw_int(&w, (int64_t)p->type);
    pw_key(&w, "tail");
    pw_bool(&w, p->log_tail != 0);
    pw_key(&w, "cc");
    pw_str(&w, p->client_context);
    pw_key(&w, "payload");
    pw_bin(&w, payload, plen);
    if (ikey != NULL) {
        pw_key(&w, "ikey");
        pw_str(&w, ikey);
    }
    if (w.err != 0) {
        nng_msg_free(req);
        return NULL;
    }
    return req;
}

/* Send an invoke; an Event invoke (idempotent: it carries its key) is sent
 * again when the connection was reset before the reply came.  Takes req. */
static int invoke_roundtrip(lm_client *c, nng_msg *req, bool resend, nng_msg **rep, lm_error *err)
{
    static const long backoff_ms[CLIENT_EVENT_ATTEMPTS - 1] = {50, 250};
    for (int attempt = 0;; attempt++) {
        nng_msg *again = NULL;
        if (resend && attempt + 1 < CLIENT_EVENT_ATTEMPTS && nng_msg_dup(&again, req) != 0) {
            again = NULL; /* no copy: this attempt is the last */
        }
        int rv = 0;
        int rc = roundtrip_rv(c, req, rep, err, &rv);
        if (rc == LM_OK || again == NULL || (rv != NNG_ECONNRESET && rv != NNG_ECONNSHUT)) {
            nng_msg_free(again);
            return rc;
        }
        struct timespec ts = {0, backoff_ms[attempt] * 1000000L};
        nanosleep(&ts, NULL);
        req = again;
    }
}

LM_EXPORT int lm_invoke(lm_client *c, const lm_invoke_params *p, lm_invoke_result *out,
                        lm_error *err)
{
    return lm_invoke_with(c, p, NULL, out, err);
}

LM_EXPORT int lm_invoke_with(lm_client *c, const lm_invoke_params *p, const lm_invoke_options *o,
                             lm_invoke_result *out, lm_error *err)
{
    memset(out, 0, sizeof(*out));
    if (p == NULL || p->function == NULL) {
        return proto_error(err, LM_E_INVALID_PARAMETER, "FunctionName is required");
    }
    const char *key = option_key(o);
    char fresh[LM_IDEMPOTENCY_KEY_NEW_LEN];
    const char *why = key != NULL ? proto_idempotency_key_problem(key, strlen(key)) : NULL;
    if (key != NULL && p->type != LM_INVOKE_EVENT) {
        return proto_error(err, LM_E_INVALID_PARAMETER,
                           "IdempotencyKey is only for the Event invocation type");
    }
    if (why != NULL) {
        return proto_error(err, LM_E_INVALID_PARAMETER, "IdempotencyKey: %s", why);
    }
    if (key == NULL && p->type == LM_INVOKE_EVENT) {
        if (lm_idempotency_key_new(fresh) != LM_OK) {
            return proto_error(err, LM_E_INTERNAL, "no randomness for an idempotency key");
        }
        key = fresh;
    }
    nng_msg *req = invoke_msg(p, key);
    if (req == NULL) {
        return proto_error(err, LM_E_NOMEM, NULL);
    }
    nng_msg *rep = NULL;
    int rc = invoke_roundtrip(c, req, p->type == LM_INVOKE_EVENT, &rep, err);
    if (rc != LM_OK) {
        return rc;
    }
    proto_doc doc;
    rc = decode_reply(rep, &doc, err);
    if (rc == LM_OK) {
        rc = read_invoke_reply(&doc, out, err);
    }
    proto_doc_finish(&doc);
    nng_msg_free(rep);
    return rc;
}

LM_EXPORT void lm_invoke_result_finish(lm_invoke_result *r)
{
    if (r == NULL) {
        return;
    }
    free(r->payload);
    free(r->log_result);
    r->payload = NULL;
    r->log_result = NULL;
    r->payload_len = 0;
}

LM_EXPORT int lm_call(lm_client *c, const char *op, const char *args_json, const void *code,
                      size_t code_len, char **reply_json, lm_error *err)
{
    if (reply_json != NULL) {
        *reply_json = NULL;
    }
    cJSON *args = NULL;
    if (args_json != NULL) {
        int prc = jsonconv_parse(args_json, strlen(args_json), &args, err);
        if (prc != LM_OK) {
            return prc; /* e.g. a \u0000, which cJSON would cut a name at */
        }
        if (!cJSON_IsObject(args)) {
            cJSON_Delete(args);
            return proto_error(err, LM_E_INVALID_PARAMETER, "arguments are not a JSON object");
        }
    }
    nng_msg *req = NULL;
    if (nng_msg_alloc(&req, 0) != 0) {
        cJSON_Delete(args);
        return proto_error(err, LM_E_NOMEM, NULL);
    }
    proto_writer w;
    proto_writer_init(&w, req);
    pw_map(&w, code != NULL ? 4 : 3);
    pw_header(&w, op);
    pw_key(&w, "args");
    int deep = args != NULL ? jsonconv_pack(&w, args, 1) : (pw_map(&w, 0), 0);
    if (code != NULL) {
        pw_key(&w, "code");
        pw_bin(&w, code, code_len);
    }
    cJSON_Delete(args);
    if (deep != 0 || w.err != 0) {
        nng_msg_free(req);
        return proto_error(err, deep != 0 ? LM_E_INVALID_PARAMETER : LM_E_NOMEM,
                           deep != 0 ? "arguments nest too deeply" : NULL);
    }
    nng_msg *rep = NULL;
    int rc = roundtrip(c, req, &rep, err);
    if (rc != LM_OK) {
        return rc;
    }
    proto_doc doc;
    rc = decode_reply(rep, &doc, err);
    if (rc == LM_OK && reply_json != NULL) {
        const msgpack_object *body = proto_find(doc.root, "body");
        cJSON *j = body != NULL ? jsonconv_from_msgpack(body) : cJSON_CreateObject();
        *reply_json = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (*reply_json == NULL) {
            rc = proto_error(err, LM_E_NOMEM, NULL);
        }
    }
    proto_doc_finish(&doc);
    nng_msg_free(rep);
    return rc;
}

LM_EXPORT int lm_read_file(const char *path, void **data, size_t *len, lm_error *err)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return proto_error(err, LM_E_INVALID_PARAMETER, "cannot open %s: %s", path,
                           strerror(errno));
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            break;
        }
        if (cap > PROTO_MAX_CODE) {
            free(buf);
            fclose(f);
            return proto_error(err, LM_E_TOO_LARGE, "%s is larger than %u bytes", path,
                               PROTO_MAX_CODE);
        }
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
        }
        buf = nb;
        cap *= 2;
    }
    int ferr = ferror(f);
    fclose(f);
    if (buf == NULL || ferr) {
        free(buf);
        return proto_error(err, buf == NULL ? LM_E_NOMEM : LM_E_IO, "cannot read %s", path);
    }
    *data = buf;
    *len = n;
    return LM_OK;
}
