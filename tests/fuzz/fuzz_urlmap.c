/*
 * tests/fuzz/fuzz_urlmap.c — libFuzzer target for function URLs' mapping
 * (broker/lib/urlmap.c), everything of which comes from outside: an HTTP
 * request, a function's result, a URL's Cors.
 *
 * Input: a mode byte, then text.
 *   'q' request: lines METHOD, PATH, QUERY, then "name: value" header lines
 *       up to an empty line, then the body (bytes, may hold NULs).  The
 *       event must be valid JSON holding the request's method.
 *   'r' result: the bytes are a function's result.  A mapped response
 *       must have a status of 100-599, no CR or LF in any header name,
 *       value or cookie, and a body of the stated length.
 *   'c' Cors: the bytes are a Cors JSON object, then after a NUL an
 *       Origin.  A Cors that checks out must give headers without CR/LF.
 * Anything else returns.  Sanitizers catch memory and UB errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/urlmap.h"

static void no_crlf(const char *s)
{
    if (s == NULL || strpbrk(s, "\r\n") != NULL) {
        abort();
    }
}

static void request(const char *t, size_t n)
{
    char *buf = malloc(n + 1);
    memcpy(buf, t, n);
    buf[n] = '\0';
    char *lines[3] = {"GET", "/", ""};
    char *p = buf;
    for (int i = 0; i < 3 && p != NULL; i++) {
        char *nl = memchr(p, '\n', (size_t)(buf + n - p));
        if (nl != NULL) {
            *nl = '\0';
        }
        lines[i] = p;
        p = nl != NULL ? nl + 1 : NULL;
    }
    urlmap_header h[32];
    size_t nh = 0;
    while (p != NULL && nh < 32) {
        char *nl = memchr(p, '\n', (size_t)(buf + n - p));
        if (nl == NULL || nl == p) {
            p = nl != NULL ? nl + 1 : NULL;
            break;
        }
        *nl = '\0';
        char *colon = strchr(p, ':');
        if (colon != NULL) {
            *colon = '\0';
            h[nh++] = (urlmap_header){.name = p, .value = colon + 1};
        }
        p = nl + 1;
    }
    size_t blen = p != NULL ? (size_t)(buf + n - p) : 0;
    urlmap_request r = {.method = lines[0],
                        .path = lines[1],
                        .query = lines[2],
                        .protocol = "HTTP/1.1",
                        .source_ip = "127.0.0.1",
                        .headers = h,
                        .n_headers = nh,
                        .body = p,
                        .body_len = blen,
                        .url_id = "0123456789abcdef0123456789abcdef",
                        .domain = "0123456789abcdef0123456789abcdef.lambda-url.localhost",
                        .request_id = "rid",
                        .time_ms = 1796630430000};
    lm_error e;
    size_t len = 0;
    char *ev = urlmap_event(&r, &len, &e);
    if (ev == NULL) {
        abort(); /* only out of memory may refuse */
    }
    cJSON *j = cJSON_ParseWithLength(ev, len);
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(j, "requestContext");
    const cJSON *m =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rc, "http"), "method");
    if (j == NULL || !cJSON_IsString(m) || strcmp(m->valuestring, lines[0]) != 0) {
        abort(); /* the event is JSON and carries the method (the server checked it) */
    }
    cJSON_Delete(j);
    free(ev);
    free(buf);
}

static void result(const char *t, size_t n)
{
    urlmap_response m;
    lm_error e;
    if (urlmap_response_map(t, n, &m, &e) != LM_OK) {
        if (e.message[0] == '\0') {
            abort();
        }
        return;
    }
    if (m.status < 100 || m.status > 599 || m.body == NULL) {
        abort();
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, m.headers)
    {
        no_crlf(it->string);
        no_crlf(it->valuestring);
    }
    cJSON_ArrayForEach(it, m.cookies)
    {
        no_crlf(it->valuestring);
    }
    urlmap_response_finish(&m);
}

static void cors(const char *t, size_t n)
{
    size_t k = strnlen(t, n);
    cJSON *c = cJSON_ParseWithLength(t, k);
    lm_error e;
    if (c != NULL && urlmap_cors_check(c, &e) == LM_OK) {
        char origin[256] = "https://a.example";
        if (k + 1 < n) {
            size_t on = n - k - 1 < sizeof(origin) - 1 ? n - k - 1 : sizeof(origin) - 1;
            memcpy(origin, t + k + 1, on);
            origin[on] = '\0';
        }
        for (int pre = 0; pre < 2; pre++) {
            cJSON *h = cJSON_CreateObject();
            cJSON_AddStringToObject(h, "Access-Control-Allow-Origin", "*");
            if (urlmap_cors_headers(c, strpbrk(origin, "\r\n") == NULL ? origin : NULL, pre, h)) {
                const cJSON *it;
                cJSON_ArrayForEach(it, h)
                {
                    no_crlf(it->string);
                    no_crlf(it->valuestring);
                }
            }
            cJSON_Delete(h);
        }
    }
    cJSON_Delete(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *t = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0]) {
    case 'q': request(t, n); break;
    case 'r': result(t, n); break;
    case 'c': cors(t, n); break;
    default: break;
    }
    return 0;
}
