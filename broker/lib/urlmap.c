/*
 * broker/lib/urlmap.c — function URLs: HTTP request -> payload format 2.0
 * event, result -> HTTP response, Cors -> headers (urlmap.h has the
 * contract; lambda-semantics.md §7 the shapes).
 *
 * Choices where Lambda is silent or loose, made here once:
 * - Query strings: %XX is decoded, '+' is left as '+' (it means a space
 *   only in form bodies); a key or value whose decoding is not UTF-8, or
 *   that has a broken escape, is passed as sent.
 * - Header values and cookies that are not UTF-8 have each bad byte
 *   replaced with U+FFFD, so the event is always valid JSON text.
 * - A body is text when it is valid UTF-8 and its content-type is absent,
 *   text/ *, or names json, xml, javascript, yaml, csv or
 *   x-www-form-urlencoded; anything else goes base64.  No body: no "body"
 *   key.
 * - requestContext.accountId is "anonymous" for AuthType NONE (as Lambda
 *   sends it; authorizer absent), "000000000000" for AWS_IAM, whose
 *   authorizer.iam names the access key (accessKey, callerId, userId) and
 *   userArn arn:lamina:iam::000000000000:user/<key id>.
 * - The full response form needs statusCode to be an integer 100-599;
 *   header values may be strings, numbers or booleans (sent as their JSON
 *   text); a body that is not a string, or base64 that does not decode,
 *   is a malformed response (502).
 * - CORS: the configured headers are sent only to a request whose Origin
 *   is allowed (AllowOrigins lists it, or "*"); Allow-Origin echoes the
 *   origin, or is "*" for "*" without AllowCredentials.  Configured CORS
 *   replaces the function's own access-control-* headers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "urlmap.h"
#include "util.h"

/* ---- text helpers ---- */

/* s[0..n) with every byte of an invalid UTF-8 sequence replaced by U+FFFD
 * (malloc'd, NUL-terminated), or NULL on ENOMEM. */
static char *utf8_clean(const char *s, size_t n)
{
    size_t at = 0;
    const char *why = NULL;
    if (proto_utf8_ok(s, n, false, &at, &why)) {
        char *o = malloc(n + 1);
        if (o != NULL) {
            memcpy(o, s, n);
            o[n] = '\0';
        }
        return o;
    }
    char *o = malloc(3 * n + 1), *p = o;
    if (o == NULL) {
        return NULL;
    }
    size_t i = 0;
    while (i < n) {
        /* take the longest valid prefix from i */
        size_t bad = 0;
        if (proto_utf8_ok(s + i, n - i, false, &bad, &why)) {
            memcpy(p, s + i, n - i);
            p += n - i;
            break;
        }
        memcpy(p, s + i, bad);
        p += bad;
        memcpy(p, "\xef\xbf\xbd", 3);
        p += 3;
        i += bad + 1;
    }
    *p = '\0';
    return o;
}

/* %-decode s[0..n) (malloc'd), or the text as sent when an escape is broken
 * or the result is not UTF-8.  NULL on ENOMEM. */
static char *pct_decode(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (o == NULL) {
        return NULL;
    }
    ssize_t k = util_pct_decode(s, n, o, true);
    size_t at;
    const char *why;
    if (k < 0 || !proto_utf8_ok(o, (size_t)k, false, &at, &why)) {
        free(o);
        return utf8_clean(s, n);
    }
    return o;
}

/* Append ",value" to obj[key], or set it. */
static bool join_value(cJSON *obj, const char *key, const char *value)
{
    cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (old == NULL) {
        return cJSON_AddStringToObject(obj, key, value) != NULL;
    }
    size_t a = strlen(old->valuestring), b = strlen(value);
    char *j = malloc(a + b + 2);
    if (j == NULL) {
        return false;
    }
    memcpy(j, old->valuestring, a);
    j[a] = ',';
    memcpy(j + a + 1, value, b + 1);
    cJSON *nv = cJSON_CreateString(j);
    free(j);
    return nv != NULL && cJSON_ReplaceItemInObjectCaseSensitive(obj, key, nv);
}

/* Split a Cookie header at ';' into cookies[], trimming spaces. */
static bool add_cookies(cJSON *arr, const char *v)
{
    while (*v != '\0') {
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        const char *end = strchr(v, ';');
        size_t n = end != NULL ? (size_t)(end - v) : strlen(v);
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t')) {
            m--;
        }
        if (m > 0) {
            char *c = utf8_clean(v, m);
            cJSON *s = c != NULL ? cJSON_CreateString(c) : NULL;
            free(c);
            if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                return false;
            }
        }
        v += n;
        if (*v == ';') {
            v++;
        }
    }
    return true;
}

static bool textual(const char *ct)
{
    if (ct == NULL) {
        return true;
    }
    char t[128];
    size_t n = strcspn(ct, ";");
    if (n >= sizeof(t)) {
        n = sizeof(t) - 1;
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = (char)tolower((unsigned char)ct[i]);
    }
    t[n] = '\0';
    static const char *const words[] = {"json", "xml", "javascript",
                                        "yaml", "csv", "x-www-form-urlencoded"};
    if (strncmp(t, "text/", 5) == 0) {
        return true;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(t, words[i]) != NULL) {
            return true;
        }
    }
    return false;
}

static bool add_query(cJSON *ev, const char *q)
{
    if (q == NULL || q[0] == '\0') {
        return true;
    }
    cJSON *params = cJSON_AddObjectToObject(ev, "queryStringParameters");
    if (params == NULL) {
        return false;
    }
    const char *p = q;
    while (*p != '\0') {
        size_t n = strcspn(p, "&");
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t kn = eq != NULL ? (size_t)(eq - p) : n;
            char *k = pct_decode(p, kn);
            char *v = eq != NULL ? pct_decode(eq + 1, n - kn - 1) : strdup("");
            bool ok = k != NULL && v != NULL && join_value(params, k, v);
            free(k);
            free(v);
            if (!ok) {
                return false;
            }
        }
        p += n;
        if (*p == '&') {
            p++;
        }
    }
    return true;
}

char *urlmap_event(const urlmap_request *r, size_t *len, lm_error *e)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON *headers = NULL, *cookies = NULL, *rc = NULL, *http = NULL;
    const char *ctype = NULL, *agent = "";
    char *out = NULL, *raw = NULL;
    bool ok = ev != NULL;
    ok = ok && cJSON_AddStringToObject(ev, "version", "2.0") != NULL &&
         cJSON_AddStringToObject(ev, "routeKey", "$default") != NULL;
    raw = ok ? utf8_clean(r->path, strlen(r->path)) : NULL;
    ok = ok && raw != NULL && cJSON_AddStringToObject(ev, "rawPath", raw) != NULL;
    free(raw);
    raw = ok ? utf8_clean(r->query, strlen(r->query)) : NULL;
    ok = ok && raw != NULL && cJSON_AddStringToObject(ev, "rawQueryString", raw) != NULL;
    free(raw);
    headers = ok ? cJSON_CreateObject() : NULL;
    cookies = ok ? cJSON_CreateArray() : NULL;
    ok = ok && headers != NULL && cookies != NULL;
    for (size_t i = 0; ok && i < r->n_headers; i++) {
        const urlmap_header *h = &r->headers[i];
        char name[256];
        size_t n = strlen(h->name);
        if (n == 0 || n >= sizeof(name)) {
            continue; /* the server's memory limit keeps these rare; not passed on */
        }
        for (size_t k = 0; k <= n; k++) {
            name[k] = (char)tolower((unsigned char)h->name[k]);
        }
        if (strcmp(name, "cookie") == 0) {
            ok = add_cookies(cookies, h->value);
            continue;
        }
        char *v = utf8_clean(h->value, strlen(h->value));
        char *nm = utf8_clean(name, n);
        ok = v != NULL && nm != NULL && join_value(headers, nm, v);
        free(v);
        free(nm);
    }
    if (ok) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(headers, "content-type");
        const cJSON *ua = cJSON_GetObjectItemCaseSensitive(headers, "user-agent");
        ctype = cJSON_IsString(ct) ? ct->valuestring : NULL;
        agent = cJSON_IsString(ua) ? ua->valuestring : "";
    }
    if (ok && cJSON_GetArraySize(cookies) > 0) {
        ok = cJSON_AddItemToObject(ev, "cookies", cookies);
    } else {
        cJSON_Delete(cookies);
    }
    cookies = NULL;
    ok = ok && cJSON_AddItemToObject(ev, "headers", headers);
    if (!ok) {
        cJSON_Delete(headers);
    }
    headers = NULL;
    ok = ok && add_query(ev, r->query);

    rc = ok ? cJSON_AddObjectToObject(ev, "requestContext") : NULL;
    ok = ok && rc != NULL;
    char tbuf[40];
    time_t secs = (time_t)(r->time_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(tbuf, sizeof(tbuf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (ok && r->iam_key != NULL) {
        char arn[200];
        snprintf(arn, sizeof(arn), "arn:lamina:iam::000000000000:user/%s", r->iam_key);
        cJSON *az = cJSON_AddObjectToObject(rc, "authorizer");
        cJSON *iam = az != NULL ? cJSON_AddObjectToObject(az, "iam") : NULL;
        ok = iam != NULL && cJSON_AddStringToObject(iam, "accessKey", r->iam_key) != NULL &&
             cJSON_AddStringToObject(iam, "accountId", "000000000000") != NULL &&
             cJSON_AddStringToObject(iam, "callerId", r->iam_key) != NULL &&
             cJSON_AddNullToObject(iam, "cognitoIdentity") != NULL &&
             cJSON_AddNullToObject(iam, "principalOrgId") != NULL &&
             cJSON_AddStringToObject(iam, "userArn", arn) != NULL &&
             cJSON_AddStringToObject(iam, "userId", r->iam_key) != NULL;
    }
    ok = ok &&
         cJSON_AddStringToObject(rc, "accountId",
                                 r->iam_key != NULL ? "000000000000" : "anonymous") != NULL &&
         cJSON_AddStringToObject(rc, "apiId", r->url_id) != NULL &&
         cJSON_AddStringToObject(rc, "domainName", r->domain) != NULL &&
         cJSON_AddStringToObject(rc, "domainPrefix", r->url_id) != NULL;
    http = ok ? cJSON_AddObjectToObject(rc, "http") : NULL;
    raw = ok ? utf8_clean(r->path, strlen(r->path)) : NULL;
    ok = ok && http != NULL && raw != NULL &&
         cJSON_AddStringToObject(http, "method", r->method) != NULL &&
         cJSON_AddStringToObject(http, "path", raw) != NULL &&
         cJSON_AddStringToObject(http, "protocol", r->protocol) != NULL &&
         cJSON_AddStringToObject(http, "sourceIp", r->source_ip) != NULL &&
         cJSON_AddStringToObject(http, "userAgent", agent) != NULL;
    free(raw);
    ok = ok && cJSON_AddStringToObject(rc, "requestId", r->request_id) != NULL &&
         cJSON_AddStringToObject(rc, "routeKey", "$default") != NULL &&
         cJSON_AddStringToObject(rc, "stage", "$default") != NULL &&
         cJSON_AddStringToObject(rc, "time", tbuf) != NULL &&
         cJSON_AddNumberToObject(rc, "timeEpoch", (double)r->time_ms) != NULL;

    if (ok && r->body_len > 0) {
        size_t at;
        const char *why;
        bool text = textual(ctype) && proto_utf8_ok(r->body, r->body_len, false, &at, &why);
        char *b = NULL;
        if (text) {
            b = malloc(r->body_len + 1);
            if (b != NULL) {
                memcpy(b, r->body, r->body_len);
                b[r->body_len] = '\0';
            }
        } else {
            b = util_base64(r->body, r->body_len);
        }
        ok = b != NULL && cJSON_AddStringToObject(ev, "body", b) != NULL &&
             cJSON_AddBoolToObject(ev, "isBase64Encoded", !text) != NULL;
        free(b);
    } else if (ok) {
        ok = cJSON_AddBoolToObject(ev, "isBase64Encoded", false) != NULL;
    }
    if (ok) {
        out = cJSON_PrintUnformatted(ev);
    }
    cJSON_Delete(ev);
    if (out == NULL) {
        proto_error(e, LM_E_NOMEM, "function URL event: out of memory");
        return NULL;
    }
    *len = strlen(out);
    return out;
}

/* ---- responses ---- */

static int malformed(lm_error *e, const char *why)
{
    return proto_error(e, LM_E_INVALID_PARAMETER, "malformed function URL response: %s", why);
}

static int oom(lm_error *e)
{
    return proto_error(e, LM_E_NOMEM, "function URL response: out of memory");
}

static int inferred(const void *payload, size_t len, urlmap_response *out, lm_error *e)
{
    out->status = 200;
    out->body = malloc(len + 1);
    if (out->body == NULL ||
        cJSON_AddStringToObject(out->headers, "content-type", "application/json") == NULL) {
        return oom(e);
    }
    memcpy(out->body, payload, len);
    out->body[len] = '\0';
    out->body_len = len;
    return LM_OK;
}

/* A header value of the full form as text: strings as they are, numbers
 * and booleans as their JSON text. */
static char *header_text(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return strdup(v->valuestring);
    }
    if (cJSON_IsNumber(v) || cJSON_IsBool(v)) {
        return cJSON_PrintUnformatted(v);
    }
    return NULL;
}

static int full_form(const cJSON *j, urlmap_response *out, lm_error *e)
{
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "statusCode");
    if (!cJSON_IsNumber(sc) || sc->valuedouble != (double)(int)sc->valuedouble ||
        sc->valueint < 100 || sc->valueint > 599) {
        return malformed(e, "statusCode must be an integer from 100 to 599");
    }
    out->status = sc->valueint;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "headers");
    if (h != NULL && !cJSON_IsNull(h)) {
        if (!cJSON_IsObject(h)) {
            return malformed(e, "headers must be an object");
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, h)
        {
            char name[256];
            size_t n = strlen(it->string);
            if (n == 0 || n >= sizeof(name) || strpbrk(it->string, "\r\n:") != NULL) {
                return malformed(e, "a header name is empty, too long or not a token");
            }
            for (size_t k = 0; k <= n; k++) {
                name[k] = (char)tolower((unsigned char)it->string[k]);
            }
            char *v = header_text(it);
            if (v == NULL) {
                return malformed(e, "header values must be strings, numbers or booleans");
            }
            bool bad = strpbrk(v, "\r\n") != NULL;
            bool ok = bad || join_value(out->headers, name, v);
            free(v);
            if (bad) {
                return malformed(e, "a header value holds a line break");
            }
            if (!ok) {
                return oom(e);
            }
        }
    }
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(j, "cookies");
    if (ck != NULL && !cJSON_IsNull(ck)) {
        if (!cJSON_IsArray(ck)) {
            return malformed(e, "cookies must be an array of strings");
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, ck)
        {
            if (!cJSON_IsString(it) || strpbrk(it->valuestring, "\r\n") != NULL) {
                return malformed(e, "cookies must be strings without line breaks");
            }
            cJSON *s = cJSON_CreateString(it->valuestring);
            if (s == NULL || !cJSON_AddItemToArray(out->cookies, s)) {
                cJSON_Delete(s);
                return oom(e);
            }
        }
    }
    const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(j, "isBase64Encoded");
    bool is64 = cJSON_IsTrue(b64);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
    if (body == NULL || cJSON_IsNull(body)) {
        out->body = malloc(1);
        if (out->body == NULL) {
            return oom(e);
        }
        out->body[0] = '\0';
        return LM_OK;
    }
    if (!cJSON_IsString(body)) {
        return malformed(e, "body must be a string");
    }
    const char *s = body->valuestring;
    size_t n = strlen(s);
    if (!is64) {
        out->body = strdup(s);
        out->body_len = n;
        return out->body != NULL ? LM_OK : oom(e);
    }
    size_t need = 0;
    int rc = mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)s, n);
    if (rc == MBEDTLS_ERR_BASE64_INVALID_CHARACTER) {
        return malformed(e, "body is not valid base64");
    }
    out->body = malloc(need + 1);
    if (out->body == NULL) {
        return oom(e);
    }
    if (mbedtls_base64_decode((unsigned char *)out->body, need + 1, &out->body_len,
                              (const unsigned char *)s, n) != 0) {
        return malformed(e, "body is not valid base64");
    }
    return LM_OK;
}

int urlmap_response_map(const void *payload, size_t len, urlmap_response *out, lm_error *e)
{
    memset(out, 0, sizeof(*out));
    out->headers = cJSON_CreateObject();
    out->cookies = cJSON_CreateArray();
    if (out->headers == NULL || out->cookies == NULL) {
        urlmap_response_finish(out);
        return oom(e);
    }
    /* an empty result (a handler that returned nothing) is null: 200 with
     * an empty JSON body, as Lambda sends it */
    cJSON *j = len > 0 ? cJSON_ParseWithLength(payload, len) : cJSON_CreateNull();
    int rc;
    if (j == NULL) {
        rc = malformed(e, "the result is not JSON");
    } else if (cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "statusCode") != NULL) {
        rc = full_form(j, out, e);
    } else {
        rc = inferred(payload, len, out, e);
    }
    cJSON_Delete(j);
    if (rc != LM_OK) {
        urlmap_response_finish(out);
    }
    return rc;
}

void urlmap_response_finish(urlmap_response *r)
{
    cJSON_Delete(r->headers);
    cJSON_Delete(r->cookies);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* ---- CORS ---- */

static int cors_list(const cJSON *cors, const char *key, int max_n, size_t max_len, bool star,
                     lm_error *e)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cors, key);
    if (a == NULL || cJSON_IsNull(a)) {
        return LM_OK;
    }
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > max_n) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Cors.%s must be a list of at most %d strings", key, max_n);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        size_t n = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
        if (n == 0 || n > max_len || strpbrk(it->valuestring, "\r\n,") != NULL) {
            if (!(star && n == 1 && it->valuestring[0] == '*')) {
                return proto_error(e, LM_E_INVALID_PARAMETER,
                                   "Cors.%s: each entry is 1-%zu characters without commas or "
                                   "line breaks",
                                   key, max_len);
            }
        }
    }
    return LM_OK;
}

int urlmap_cors_check(const cJSON *cors, lm_error *e)
{
    if (cors == NULL || cJSON_IsNull(cors)) {
        return LM_OK;
    }
    if (!cJSON_IsObject(cors)) {
        return proto_error(e, LM_E_INVALID_PARAMETER, "Cors must be an object");
    }
    static const char *const known[] = {"AllowCredentials", "AllowHeaders",  "AllowMethods",
                                        "AllowOrigins",     "ExposeHeaders", "MaxAge"};
    const cJSON *it;
    cJSON_ArrayForEach(it, cors)
    {
        bool found = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            found = found || strcmp(it->string, known[i]) == 0;
        }
        if (!found) {
            return proto_error(e, LM_E_INVALID_PARAMETER, "Cors: unknown field %.64s", it->string);
        }
    }
    const cJSON *cred = cJSON_GetObjectItemCaseSensitive(cors, "AllowCredentials");
    if (cred != NULL && !cJSON_IsBool(cred)) {
        return proto_error(e, LM_E_INVALID_PARAMETER, "Cors.AllowCredentials must be a boolean");
    }
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(cors, "MaxAge");
    if (age != NULL && (!cJSON_IsNumber(age) || age->valuedouble < 0 || age->valuedouble > 86400 ||
                        age->valuedouble != (double)(int)age->valuedouble)) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Cors.MaxAge must be an integer from 0 to 86400");
    }
    int rc = cors_list(cors, "AllowHeaders", 100, 1024, true, e);
    if (rc == LM_OK) {
        rc = cors_list(cors, "AllowMethods", 6, 6, true, e);
    }
    if (rc == LM_OK) {
        rc = cors_list(cors, "AllowOrigins", 100, 253, true, e);
    }
    if (rc == LM_OK) {
        rc = cors_list(cors, "ExposeHeaders", 100, 1024, true, e);
    }
    return rc;
}

bool urlmap_is_preflight(const char *method, const char *origin, const char *req_method)
{
    return strcmp(method, "OPTIONS") == 0 && origin != NULL && req_method != NULL;
}

/* The list joined with ", " (malloc'd), or NULL when absent or empty. */
static char *joined(const cJSON *cors, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cors, key), *it;
    size_t n = 0;
    cJSON_ArrayForEach(it, a)
    {
        n += strlen(it->valuestring) + 2;
    }
    if (n == 0) {
        return NULL;
    }
    char *o = malloc(n + 1), *p = o;
    if (o == NULL) {
        return NULL;
    }
    cJSON_ArrayForEach(it, a)
    {
        size_t k = strlen(it->valuestring);
        if (p != o) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, it->valuestring, k);
        p += k;
    }
    *p = '\0';
    return o;
}

static bool set_header(cJSON *h, const char *name, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(h, name);
    return cJSON_AddStringToObject(h, name, value) != NULL;
}

bool urlmap_cors_headers(const cJSON *cors, const char *origin, bool preflight, cJSON *headers)
{
    if (cors == NULL || !cJSON_IsObject(cors)) {
        return true;
    }
    /* configured CORS wins: drop the function's own */
    for (cJSON *it = headers->child, *next; it != NULL; it = next) {
        next = it->next;
        if (strncasecmp(it->string, "access-control-", 15) == 0) {
            cJSON_Delete(cJSON_DetachItemViaPointer(headers, it));
        }
    }
    if (origin == NULL) {
        return true;
    }
    const cJSON *origins = cJSON_GetObjectItemCaseSensitive(cors, "AllowOrigins"), *it;
    bool star = false, listed = false;
    cJSON_ArrayForEach(it, origins)
    {
        star = star || strcmp(it->valuestring, "*") == 0;
        listed = listed || strcmp(it->valuestring, origin) == 0;
    }
    if (!star && !listed) {
        return true;
    }
    bool cred = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cors, "AllowCredentials"));
    bool ok =
        set_header(headers, "access-control-allow-origin", star && !listed && !cred ? "*" : origin);
    if (ok && cred) {
        ok = set_header(headers, "access-control-allow-credentials", "true");
    }
    if (!star || listed || cred) {
        ok = ok && join_value(headers, "vary", "Origin");
    }
    static const char *const pre[][2] = {{"AllowMethods", "access-control-allow-methods"},
                                         {"AllowHeaders", "access-control-allow-headers"}};
    static const char *const post[][2] = {{"ExposeHeaders", "access-control-expose-headers"}};
    const char *const(*list)[2] = preflight ? pre : post;
    size_t n = preflight ? 2 : 1;
    for (size_t i = 0; ok && i < n; i++) {
        char *v = joined(cors, list[i][0]);
        if (v != NULL) {
            ok = set_header(headers, list[i][1], v);
            free(v);
        }
    }
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(cors, "MaxAge");
    if (ok && preflight && cJSON_IsNumber(age) && age->valueint > 0) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", age->valueint);
        ok = set_header(headers, "access-control-max-age", buf);
    }
    return ok;
}
