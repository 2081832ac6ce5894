/*
 * tools/bench/url.c — the function-URL target and the libmicrohttpd
 * responder baseline (see url.h).
 *
 * The client is a few lines of HTTP/1.1 of its own (connect once, send the
 * prebuilt request, read the status line, headers and Content-Length
 * bytes): the same code drives the broker and the responder, so the ratio
 * compares the servers, not two clients.  A connection that fails is
 * closed and opened again for the next request.
 */
#include "url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <lamina/client.h>
#include <microhttpd.h>

typedef struct url_tls {
    const url_target *t;
    int fd;
    char buf[65536];
} url_tls;

static int build_request(url_target *t, const char *path, const void *payload, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, t->host, t->port, len);
    if (n < 0 || (size_t)n >= sizeof(head) || (t->request = malloc((size_t)n + len)) == NULL) {
        return -1;
    }
    memcpy(t->request, head, (size_t)n);
    memcpy(t->request + n, payload, len);
    t->request_len = (size_t)n + len;
    return 0;
}

int url_target_open_addr(url_target *t, const char *label, const char *host, int port,
                         const char *path, const void *payload, size_t len, int timeout_ms,
                         char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->label = label;
    snprintf(t->host, sizeof(t->host), "%s", host);
    t->port = port;
    t->timeout_ms = timeout_ms > 0 ? timeout_ms : 60000;
    if (build_request(t, path, payload, len) != 0) {
        snprintf(err, errlen, "url: out of memory");
        return -1;
    }
    return 0;
}

int url_target_open_function(url_target *t, const char *state_dir, const char *endpoint,
                             const char *fn, const void *payload, size_t len, int timeout_ms,
                             char *err, size_t errlen)
{
    lm_client *c = NULL;
    lm_error e;
    if (lm_client_open(&c, state_dir, endpoint, &e) != 0) {
        snprintf(err, errlen, "url: %s", e.message);
        return -1;
    }
    char args[200], *reply = NULL;
    snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\"}", fn);
    if (lm_call(c, "url-get", args, NULL, 0, &reply, &e) != 0) {
        snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\",\"AuthType\":\"NONE\"}", fn);
        if (lm_call(c, "url-create", args, NULL, 0, &reply, &e) != 0) {
            snprintf(err, errlen, "url: url-create %s: %s", fn, e.message);
            lm_client_destroy(c);
            return -1;
        }
    }
    lm_client_destroy(c);
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "FunctionUrl");
    char host[64] = "", path[160] = "";
    int port = 0;
    if (!cJSON_IsString(u) ||
        sscanf(u->valuestring, "http://%63[^:/]:%d%159s", host, &port, path) != 3) {
        snprintf(err, errlen,
                 "url: %s's FunctionUrl is %s: the broker does not serve HTTP (start it with "
                 "--http HOST:PORT)",
                 fn, cJSON_IsString(u) ? u->valuestring : "missing");
        cJSON_Delete(j);
        return -1;
    }
    cJSON_Delete(j);
    return url_target_open_addr(t, "lamina-url", host, port, path, payload, len, timeout_ms, err,
                                errlen);
}

static int dial(const url_target *t)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    int one = 1;
    if (fd < 0 || inet_pton(AF_INET, t->host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int thread_open(void *arg, void **tls)
{
    url_tls *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return -1;
    }
    u->t = arg;
    u->fd = -1;
    *tls = u;
    return 0;
}

static void thread_close(void *tls)
{
    url_tls *u = tls;
    if (u != NULL && u->fd >= 0) {
        close(u->fd);
    }
    free(u);
}

static void fail(url_tls *u, load_outcome *out, const char *cls)
{
    snprintf(out->err_class, sizeof(out->err_class), "%s", cls);
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
}

static void send_one(void *tls, load_outcome *out)
{
    url_tls *u = tls;
    const url_target *t = u->t;
    if (u->fd < 0 && (u->fd = dial(t)) < 0) {
        fail(u, out, "connect");
        return;
    }
    size_t off = 0;
    while (off < t->request_len) {
        ssize_t k = send(u->fd, t->request + off, t->request_len - off, MSG_NOSIGNAL);
        if (k <= 0) {
            fail(u, out, "send");
            return;
        }
        off += (size_t)k;
    }
    size_t len = 0, need = 0;
    int status = 0;
    for (;;) {
        struct pollfd p = {.fd = u->fd, .events = POLLIN};
        if (poll(&p, 1, t->timeout_ms) <= 0) {
            fail(u, out, "timeout");
            return;
        }
        ssize_t k = recv(u->fd, u->buf + len, sizeof(u->buf) - 1 - len, 0);
        if (k <= 0) {
            fail(u, out, "closed");
            return;
        }
        len += (size_t)k;
        u->buf[len] = '\0';
        if (need == 0) {
            char *end = strstr(u->buf, "\r\n\r\n");
            if (end == NULL) {
                if (len >= sizeof(u->buf) - 1) {
                    fail(u, out, "headers too large");
                    return;
                }
                continue;
            }
            *end = '\0';
            const char *cl = strcasestr(u->buf, "\r\ncontent-length:");
            sscanf(u->buf, "HTTP/1.1 %d", &status);
            need = (size_t)(end + 4 - u->buf) + (cl != NULL ? strtoul(cl + 17, NULL, 10) : 0);
            if (need >= sizeof(u->buf)) {
                fail(u, out, "body too large");
                return;
            }
        }
        if (len >= need) {
            break;
        }
    }
    if (len > need) { /* pipelining is not used: more than one answer is a broken server */
        fail(u, out, "extra bytes");
        return;
    }
    if (status != 200) {
        char cls[32];
        snprintf(cls, sizeof(cls), "http-%d", status);
        snprintf(out->err_class, sizeof(out->err_class), "%s", cls);
        return;
    }
    out->ok = true;
}

load_target url_target_view(url_target *t)
{
    return (load_target){.label = t->label,
                         .arg = t,
                         .thread_open = thread_open,
                         .thread_close = thread_close,
                         .send_one = send_one};
}

void url_target_close(url_target *t)
{
    free(t->request);
    t->request = NULL;
}

/* ---- the responder ---- */

struct url_responder {
    struct MHD_Daemon *d;
};

typedef struct body_buf {
    char *p;
    size_t n;
} body_buf;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    body_buf *b = *con_cls;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *con_cls = b;
        return b != NULL ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        char *p = realloc(b->p, b->n + *size);
        if (p == NULL) {
            return MHD_NO;
        }
        memcpy(p + b->n, data, *size);
        b->p = p;
        b->n += *size;
        *size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(b->n, b->p != NULL ? b->p : (void *)"",
                                                             MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    body_buf *b = *con_cls;
    if (b != NULL) {
        free(b->p);
        free(b);
        *con_cls = NULL;
    }
}

url_responder *url_responder_start(int *port, char *err, size_t errlen)
{
    url_responder *r = calloc(1, sizeof(*r));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (r != NULL) {
        r->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, 0, NULL, NULL, answer, NULL,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
                                done, NULL, MHD_OPTION_END);
    }
    const union MHD_DaemonInfo *di =
        r != NULL && r->d != NULL ? MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (di == NULL) {
        snprintf(err, errlen, "url: cannot start the libmicrohttpd responder: %s", strerror(errno));
        url_responder_stop(r);
        return NULL;
    }
    *port = di->port;
    return r;
}

void url_responder_stop(url_responder *r)
{
    if (r != NULL && r->d != NULL) {
        MHD_stop_daemon(r->d);
    }
    free(r);
}
