/*
 * broker/front/lambda_api.c — Lambda's REST API over the HTTP front end,
 * for the tools people already use (the AWS CLI, boto3 and other SDKs
 * with an endpoint override).  front/http.c reads a request whole, checks
 * its SigV4 signature (unless --http-auth none) and hands it here; each
 * route becomes a request of the one op table (ops.c) — the same ops, the
 * same checks and the same threads as the api socket — and the op's reply
 * becomes Lambda's HTTP answer.
 *
 * Routes (Lambda's paths and success codes):
 *   POST   /2015-03-31/functions                        create        201
 *   GET    /2015-03-31/functions                        list          200
 *   GET    /2015-03-31/functions/F                      get           200
 *   DELETE /2015-03-31/functions/F                      delete        204
 *   GET    /2015-03-31/functions/F/configuration        get (.Configuration)
 *   PUT    /2015-03-31/functions/F/configuration        update-config
 *   PUT    /2015-03-31/functions/F/code                 update-code
 *   POST   /2015-03-31/functions/F/invocations          invoke        200/202/204
 *   POST   /2015-03-31/functions/F/versions             publish       201
 *   GET    /2015-03-31/functions/F/versions             versions
 *   POST   /2015-03-31/functions/F/aliases              alias-create  201
 *   GET    /2015-03-31/functions/F/aliases              alias-list
 *   GET|PUT|DELETE /2015-03-31/functions/F/aliases/A    alias-get|-update|-delete (204)
 *   PUT|POST|GET|DELETE /2019-09-25/functions/F/event-invoke-config
 *                                                       event-config-put|get|delete (204)
 *   POST|GET|PUT|DELETE /2021-10-31/functions/F/url     url-create (201)|get|update|delete (204)
 *   GET    /2021-10-31/functions/F/urls                 url-list
 *   PUT|DELETE /2017-10-31/functions/F/concurrency     concurrency-put|-delete (204)
 *   GET    /2019-09-30/functions/F/concurrency          concurrency-get
 *   PUT|GET|DELETE /2019-09-30/functions/F/provisioned-concurrency?Qualifier=
 *                                                       provisioned-put (202)|-get|-delete (204)
 *   GET    /2019-09-30/functions/F/provisioned-concurrency?List=ALL  provisioned-list
 *   POST   /2015-03-31/event-source-mappings            esm-create    202
 *   GET    /2015-03-31/event-source-mappings            esm-list (?FunctionName, ?EventSourceArn)
 *   GET|PUT|DELETE /2015-03-31/event-source-mappings/U  esm-get|-update (202)|-delete (202)
 * F and A are %-decoded (F may be an ARN); ?Qualifier= becomes the op's
 * Qualifier.  Bodies are JSON objects with Lambda's field names, which
 * the ops already use; fields Lamina has no use for (Runtime, Role,
 * Handler, Architectures, Tags, …) are dropped rather than refused, so
 * tools that always send them work.  Code comes as Code.ZipFile (create)
 * or ZipFile (update-code): base64 of a zip holding the handler .so, the
 * entry named by Handler ("hello.so", or "hello.handler" for hello.so), or
 * the zip's only .so.  Zips are read with libzip, and no entry larger
 * than PROTO_MAX_CODE is read.
 *
 * Invoke: X-Amz-Invocation-Type RequestResponse | Event | DryRun,
 * X-Amz-Log-Type Tail, X-Amz-Client-Context; the answer carries the
 * payload and X-Amz-Function-Error, X-Amz-Log-Result,
 * X-Amz-Executed-Version, x-amzn-RequestId.
 *
 * Errors are Lambda's: the op's status, x-amzn-ErrorType naming the type,
 * and a body {"Type":"User","message":…} ("Service" for 5xx); a throttle
 * (429) adds Lambda's "Reason" (ReservedFunctionConcurrentInvocationLimitExceeded
 * or ConcurrentInvocationLimitExceeded).  An unknown
 * path or method is 400 UnknownOperationException.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <zip.h>

#include "front/front.h"
#include "jsonconv.h"
#include "lib/util.h"

typedef enum lapi_op_kind {
    K_PLAIN, /* body (+ name, qualifier) as the op's args */
    K_CONFIG, /* get, then answer its Configuration */
    K_INVOKE,
    K_CODE /* a zip in the body */
} lapi_op_kind;

typedef struct route {
    const char *method;
    const char *prefix; /* "/2015-03-31/functions" */
    const char *
        tail; /* after /F: "", "/configuration", "/aliases/<A>" (written "/aliases/" "*") …; NULL: no F */
    const char *op;
    int ok_status;
    lapi_op_kind kind;
    const char *id_key; /* the op's name for the path's id: NULL is "FunctionName" */
} route;

static const route ROUTES[] = {
    {"POST", "/2015-03-31/functions", NULL, "create", 201, K_CODE, NULL},
    {"GET", "/2015-03-31/functions", NULL, "list", 200, K_PLAIN, NULL},
    {"GET", "/2015-03-31/functions", "", "get", 200, K_PLAIN, NULL},
    {"DELETE", "/2015-03-31/functions", "", "delete", 204, K_PLAIN, NULL},
    {"GET", "/2015-03-31/functions", "/configuration", "get", 200, K_CONFIG, NULL},
    {"PUT", "/2015-03-31/functions", "/configuration", "update-config", 200, K_PLAIN, NULL},
    {"PUT", "/2015-03-31/functions", "/code", "update-code", 200, K_CODE, NULL},
    {"POST", "/2015-03-31/functions", "/invocations", "invoke", 200, K_INVOKE, NULL},
    {"POST", "/2015-03-31/functions", "/versions", "publish", 201, K_PLAIN, NULL},
    {"GET", "/2015-03-31/functions", "/versions", "versions", 200, K_PLAIN, NULL},
    {"POST", "/2015-03-31/functions", "/aliases", "alias-create", 201, K_PLAIN, NULL},
    {"GET", "/2015-03-31/functions", "/aliases", "alias-list", 200, K_PLAIN, NULL},
    {"GET", "/2015-03-31/functions", "/aliases/*", "alias-get", 200, K_PLAIN, NULL},
    {"PUT", "/2015-03-31/functions", "/aliases/*", "alias-update", 200, K_PLAIN, NULL},
    {"DELETE", "/2015-03-31/functions", "/aliases/*", "alias-delete", 204, K_PLAIN, NULL},
    {"PUT", "/2019-09-25/functions", "/event-invoke-config", "event-config-put", 200, K_PLAIN,
     NULL},
    {"POST", "/2019-09-25/functions", "/event-invoke-config", "event-config-put", 200, K_PLAIN,
     NULL},
    {"GET", "/2019-09-25/functions", "/event-invoke-config", "event-config-get", 200, K_PLAIN,
     NULL},
    {"DELETE", "/2019-09-25/functions", "/event-invoke-config", "event-config-delete", 204, K_PLAIN,
     NULL},
    {"POST", "/2021-10-31/functions", "/url", "url-create", 201, K_PLAIN, NULL},
    {"GET", "/2021-10-31/functions", "/url", "url-get", 200, K_PLAIN, NULL},
    {"PUT", "/2021-10-31/functions", "/url", "url-update", 200, K_PLAIN, NULL},
    {"DELETE", "/2021-10-31/functions", "/url", "url-delete", 204, K_PLAIN, NULL},
    {"GET", "/2021-10-31/functions", "/urls", "url-list", 200, K_PLAIN, NULL},
    {"PUT", "/2017-10-31/functions", "/concurrency", "concurrency-put", 200, K_PLAIN, NULL},
    {"GET", "/2019-09-30/functions", "/concurrency", "concurrency-get", 200, K_PLAIN, NULL},
    {"DELETE", "/2017-10-31/functions", "/concurrency", "concurrency-delete", 204, K_PLAIN, NULL},
    {"PUT", "/2019-09-30/functions", "/provisioned-concurrency", "provisioned-put", 202, K_PLAIN,
     NULL},
    {"GET", "/2019-09-30/functions", "/provisioned-concurrency", "provisioned-get", 200, K_PLAIN,
     NULL},
    {"DELETE", "/2019-09-30/functions", "/provisioned-concurrency", "provisioned-delete", 204,
     K_PLAIN, NULL},
    {"POST", "/2015-03-31/event-source-mappings", NULL, "esm-create", 202, K_PLAIN, NULL},
    {"GET", "/2015-03-31/event-source-mappings", NULL, "esm-list", 200, K_PLAIN, NULL},
    {"GET", "/2015-03-31/event-source-mappings", "", "esm-get", 200, K_PLAIN, "UUID"},
    {"PUT", "/2015-03-31/event-source-mappings", "", "esm-update", 202, K_PLAIN, "UUID"},
    {"DELETE", "/2015-03-31/event-source-mappings", "", "esm-delete", 202, K_PLAIN, "UUID"},
};

/* Fields of Lambda's requests that Lamina has no use for. */
static const char *const IGNORED[] = {"Runtime",
                                      "Role",
                                      "Handler",
                                      "Publish",
                                      "PackageType",
                                      "Architectures",
                                      "Tags",
                                      "TracingConfig",
                                      "VpcConfig",
                                      "Layers",
                                      "KMSKeyArn",
                                      "EphemeralStorage",
                                      "LoggingConfig",
                                      "SnapStart",
                                      "FileSystemConfigs",
                                      "ImageConfig",
                                      "CodeSigningConfigArn",
                                      "DryRun",
                                      "ZipFile",
                                      "Code",
                                      "S3Bucket",
                                      "S3Key",
                                      "S3ObjectVersion",
                                      "ImageUri",
                                      "SourceKMSKeyArn"};

bool lapi_match(const char *path)
{
    return strncmp(path, "/2015-03-31/", 12) == 0 || strncmp(path, "/2019-09-25/", 12) == 0 ||
           strncmp(path, "/2021-10-31/", 12) == 0 || strncmp(path, "/2017-10-31/", 12) == 0 ||
           strncmp(path, "/2019-09-30/", 12) == 0;
}

/* One call in flight. */
typedef struct lapi_call {
    const route *rt;
    lapi_done_fn done;
    void *arg;
    char *publish; /* CreateFunction's Publish: the function to publish once created */
} lapi_call;

static void answer_error(lapi_done_fn done, void *arg, const lm_error *e)
{
    lapi_answer a = {.status = e->status > 0 ? e->status : 500};
    snprintf(a.error_type, sizeof(a.error_type), "%s", e->type[0] ? e->type : "ServiceException");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "Type", a.status >= 500 ? "Service" : "User");
    cJSON_AddStringToObject(j, "message", e->message);
    const char *why = e->code == LM_E_THROTTLED ? strstr(e->message, "(Reason: ") : NULL;
    if (why != NULL) { /* core/invoke.c names Lambda's Reason in its message */
        char reason[80];
        why += 9;
        snprintf(reason, sizeof(reason), "%.*s", (int)strcspn(why, ",)"), why);
        cJSON_AddStringToObject(j, "Reason", reason);
    }
    a.body = cJSON_PrintUnformatted(j);
    a.len = a.body != NULL ? strlen(a.body) : 0;
    cJSON_Delete(j);
    done(arg, &a);
}

static int bad(lm_error *e, const char *fmt, const char *what)
{
    return proto_error(e, LM_E_INVALID_PARAMETER, fmt, what);
}

/* The handler .so inside a base64 zip (malloc'd into *code). */
static int unzip_code(const char *b64, const char *handler, void **code, size_t *len, lm_error *e)
{
    size_t n = strlen(b64), need = 0;
    *code = NULL;
    if (mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)b64, n) ==
            MBEDTLS_ERR_BASE64_INVALID_CHARACTER ||
        need == 0) {
        return bad(e, "%s is not base64", "ZipFile");
    }
    unsigned char *zipbuf = malloc(need);
    size_t zlen = 0;
    if (zipbuf == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    if (mbedtls_base64_decode(zipbuf, need, &zlen, (const unsigned char *)b64, n) != 0) {
        free(zipbuf);
        return bad(e, "%s is not base64", "ZipFile");
    }
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(zipbuf, zlen, 0, &ze);
    zip_t *z = src != NULL ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    int rc = LM_OK;
    if (z == NULL) {
        if (src != NULL) {
            zip_source_free(src);
        }
        rc = proto_error(e, LM_E_INVALID_PARAMETER, "Could not unzip uploaded file: %s",
                         zip_error_strerror(&ze));
        zip_error_fini(&ze);
        free(zipbuf);
        return rc;
    }
    zip_int64_t idx = -1;
    if (handler != NULL && handler[0] != '\0') {
        idx = zip_name_locate(z, handler, 0);
        if (idx < 0 && strchr(handler, '.') != NULL) { /* "hello.handler" -> hello.so */
            char so[300];
            snprintf(so, sizeof(so), "%.*s.so", (int)(strrchr(handler, '.') - handler), handler);
            idx = zip_name_locate(z, so, 0);
        }
    }
    if (idx < 0) { /* the only .so */
        zip_int64_t entries = zip_get_num_entries(z, 0);
        for (zip_int64_t i = 0; i < entries; i++) {
            const char *nm = zip_get_name(z, (zip_uint64_t)i, 0);
            size_t nl = nm != NULL ? strlen(nm) : 0;
            if (nl > 3 && strcmp(nm + nl - 3, ".so") == 0) {
                if (idx >= 0) {
                    idx = -2;
                    break;
                }
                idx = i;
            }
        }
    }
    zip_stat_t st;
    if (idx < 0) {
        rc = bad(e, "%s: the zip holds no handler .so (name it with Handler)", "ZipFile");
    } else if (zip_stat_index(z, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
               st.size == 0 || st.size > PROTO_MAX_CODE) {
        rc = proto_error(e, LM_E_TOO_LARGE,
                         "the handler in the zip is empty or larger than %u "
                         "bytes unzipped",
                         PROTO_MAX_CODE);
    } else {
        zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)idx, 0);
        char *buf = zf != NULL ? malloc(st.size) : NULL;
        zip_int64_t got = buf != NULL ? zip_fread(zf, buf, st.size) : -1;
        if (got != (zip_int64_t)st.size) {
            free(buf);
            rc = proto_error(e, LM_E_INVALID_PARAMETER, "Could not unzip uploaded file");
        } else {
            *code = buf;
            *len = st.size;
        }
        if (zf != NULL) {
            zip_fclose(zf);
        }
    }
    zip_discard(z); /* frees the source and, with it, zipbuf (freep 0: ours) */
    free(zipbuf);
    zip_error_fini(&ze);
    return rc;
}

static void run_op(const route *rt, nng_msg *req, char *publish, lapi_done_fn done, void *arg);
static nng_msg *op_request(const route *rt, cJSON *args, const void *code, size_t code_len,
                           lm_error *e);

/* CreateFunction with Publish: publish version 1 of fn, and answer with
 * that version's configuration (as Lambda does). */
static void publish_created(char *fn, lapi_done_fn done, void *arg)
{
    static const route PUBLISH = {"POST", "", "", "publish", 201, K_PLAIN, NULL};
    lm_error e;
    cJSON *args = cJSON_CreateObject();
    nng_msg *req = NULL;
    if (args != NULL && cJSON_AddStringToObject(args, "FunctionName", fn) != NULL) {
        req = op_request(&PUBLISH, args, NULL, 0, &e);
    } else {
        proto_error(&e, LM_E_NOMEM, NULL);
    }
    cJSON_Delete(args);
    free(fn);
    if (req == NULL) {
        answer_error(done, arg, &e);
        return;
    }
    run_op(&PUBLISH, req, NULL, done, arg);
}

/* The op's reply as Lambda's answer. */
static void on_reply(void *arg, nng_msg *reply, const lm_error *err)
{
    lapi_call *c = arg;
    if (reply == NULL) {
        answer_error(c->done, c->arg, err);
        free(c);
        return;
    }
    proto_doc doc;
    lm_error e;
    int rc = proto_decode(nng_msg_body(reply), nng_msg_len(reply), &doc, &e);
    const char *op = NULL;
    size_t oplen = 0;
    if (rc == LM_OK) {
        rc = proto_get_str(doc.root, "op", true, &op, &oplen, &e);
    }
    if (rc == LM_OK && oplen == 5 && memcmp(op, "error", 5) == 0) {
        proto_read_error(doc.root, &e);
        rc = e.code != LM_OK ? e.code : LM_E_INTERNAL;
    }
    lapi_answer a = {.status = c->rt->ok_status, .ctype = "application/json"};
    if (rc == LM_OK && c->rt->kind == K_INVOKE) {
        int64_t status = 200;
        const void *payload = NULL;
        size_t plen = 0;
        const char *s = NULL;
        size_t sl = 0;
        proto_get_int(doc.root, "status", false, &status, NULL);
        proto_get_bin(doc.root, "payload", false, &payload, &plen, NULL);
        a.status = (int)status;
        if (proto_get_str(doc.root, "ferr", false, &s, &sl, NULL) == LM_OK && s != NULL) {
            snprintf(a.function_error, sizeof(a.function_error), "%.*s", (int)sl, s);
        }
        s = NULL;
        if (proto_get_str(doc.root, "version", false, &s, &sl, NULL) == LM_OK && s != NULL) {
            snprintf(a.executed_version, sizeof(a.executed_version), "%.*s", (int)sl, s);
        }
        s = NULL;
        if (proto_get_str(doc.root, "rid", false, &s, &sl, NULL) == LM_OK && s != NULL) {
            snprintf(a.request_id, sizeof(a.request_id), "%.*s", (int)sl, s);
        }
        s = NULL;
        if (proto_get_str(doc.root, "log", false, &s, &sl, NULL) == LM_OK && s != NULL) {
            a.log_result = strndup(s, sl);
        }
        if (status != 202 && status != 204 && plen > 0 && (a.body = malloc(plen)) != NULL) {
            memcpy(a.body, payload, plen);
            a.len = plen;
        }
    } else if (rc == LM_OK) {
        const msgpack_object *body = proto_find(doc.root, "body");
        cJSON *j = body != NULL ? jsonconv_from_msgpack(body) : cJSON_CreateObject();
        if (c->rt->kind == K_CONFIG) {
            cJSON *cfg = cJSON_DetachItemFromObjectCaseSensitive(j, "Configuration");
            cJSON_Delete(j);
            j = cfg;
        }
        if (a.status != 204 && j != NULL) {
            a.body = cJSON_PrintUnformatted(j);
            a.len = a.body != NULL ? strlen(a.body) : 0;
        }
        cJSON_Delete(j);
    }
    if (rc == LM_OK) {
        proto_doc_finish(&doc);
    }
    nng_msg_free(reply);
    if (rc != LM_OK) {
        answer_error(c->done, c->arg, &e);
        free(c->publish);
    } else if (c->publish != NULL) {
        free(a.body);
        publish_created(c->publish, c->done, c->arg);
    } else {
        c->done(c->arg, &a);
    }
    free(c);
}

static const char *header(const urlmap_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(h[i].name, name) == 0) {
            return h[i].value;
        }
    }
    return NULL;
}

/* %-decode s[0..n) into out (cap bytes); false for a broken escape, a
 * NUL, or too long a result. */
static bool decode_segment(const char *s, size_t n, char *out, size_t cap)
{
    char *tmp = malloc(n + 1);
    ssize_t k = tmp != NULL ? util_pct_decode(s, n, tmp, true) : -1;
    bool ok = k >= 0 && (size_t)k < cap;
    if (ok) {
        memcpy(out, tmp, (size_t)k + 1);
    }
    free(tmp);
    return ok;
}

/* Query parameter name of a raw query string (%-decoded into out), "" if
 * absent or not decodable. */
static void query_param(const char *q, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = q; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, "&");
        if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=' &&
            !decode_segment(p + nl + 1, n - nl - 1, out, cap)) {
            out[0] = '\0';
        }
        p += n;
        p += *p == '&';
    }
}

/* Match path against the routes: the route, the function name and the
 * alias ("" when none). */
static const route *find_route(const char *method, const char *path, char fn[300], char alias[200])
{
    fn[0] = alias[0] = '\0';
    for (size_t i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++) {
        const route *rt = &ROUTES[i];
        size_t pl = strlen(rt->prefix);
        if (strcmp(method, rt->method) != 0 || strncmp(path, rt->prefix, pl) != 0) {
            continue;
        }
        const char *rest = path + pl;
        if (rt->tail == NULL) {
            if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
                return rt;
            }
            continue;
        }
        if (rest[0] != '/' || rest[1] == '\0') {
            continue;
        }
        rest++;
        size_t fl = strcspn(rest, "/");
        const char *after = rest + fl;
        const char *tail = rt->tail;
        size_t tl = strlen(tail);
        bool star = tl >= 2 && strcmp(tail + tl - 2, "/*") == 0;
        if (star) {
            tl -= 1; /* "/aliases/" */
            if (strncmp(after, tail, tl) != 0 || after[tl] == '\0' || strchr(after + tl, '/')) {
                continue;
            }
            if (!decode_segment(after + tl, strlen(after + tl), alias, 200)) {
                continue;
            }
        } else if (strcmp(after, tail) != 0 && !(tail[0] == '\0' && strcmp(after, "/") == 0)) {
            continue;
        }
        if (!decode_segment(rest, fl, fn, 300)) {
            continue;
        }
        return rt;
    }
    return NULL;
}

/* The op request: {op, v, args: body + FunctionName/Qualifier/Name} and
 * the code, if any. */
static nng_msg *op_request(const route *rt, cJSON *args, const void *code, size_t code_len,
                           lm_error *e)
{
    nng_msg *req = NULL;
    if (nng_msg_alloc(&req, 0) != 0) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    proto_writer w;
    proto_writer_init(&w, req);
    pw_map(&w, code != NULL ? 4 : 3);
    pw_header(&w, rt->op);
    pw_key(&w, "args");
    int deep = jsonconv_pack(&w, args, 1);
    if (code != NULL) {
        pw_key(&w, "code");
        pw_bin(&w, code, code_len);
    }
    if (deep != 0 || w.err != 0) {
        nng_msg_free(req);
        proto_error(e, deep != 0 ? LM_E_INVALID_PARAMETER : LM_E_NOMEM,
                    deep != 0 ? "the request nests too deeply" : NULL);
        return NULL;
    }
    return req;
}

static nng_msg *invoke_request(const char *fn, const char *qual, const urlmap_header *h, size_t nh,
                               const void *body, size_t len, lm_error *e)
{
    const char *type = header(h, nh, "X-Amz-Invocation-Type");
    const char *logt = header(h, nh, "X-Amz-Log-Type");
    const char *cc = header(h, nh, "X-Amz-Client-Context");
    int64_t t = PROTO_INVOKE_REQUEST_RESPONSE;
    if (type != NULL && strcmp(type, "Event") == 0) {
        t = PROTO_INVOKE_EVENT;
    } else if (type != NULL && strcmp(type, "DryRun") == 0) {
        t = PROTO_INVOKE_DRY_RUN;
    } else if (type != NULL && strcmp(type, "RequestResponse") != 0) {
        bad(e, "X-Amz-Invocation-Type %s: give RequestResponse, Event or DryRun", "");
        return NULL;
    }
    nng_msg *req = NULL;
    if (nng_msg_alloc(&req, 0) != 0) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    proto_writer w;
    proto_writer_init(&w, req);
    pw_map(&w, 8);
    pw_header(&w, "invoke");
    pw_key(&w, "fn");
    pw_str(&w, fn);
    pw_key(&w, "q");
    pw_str(&w, qual[0] != '\0' ? qual : NULL);
    pw_key(&w, "type");
    pw_int(&w, t);
    pw_key(&w, "tail");
    pw_bool(&w, logt != NULL && strcmp(logt, "Tail") == 0);
    pw_key(&w, "cc");
    pw_str(&w, cc);
    pw_key(&w, "payload");
    pw_bin(&w, len > 0 ? body : "{}", len > 0 ? len : 2);
    if (w.err != 0) {
        nng_msg_free(req);
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    return req;
}

/* Decode a built request and run it through the op table (takes req). */
static void run_op(const route *rt, nng_msg *req, char *publish, lapi_done_fn done, void *arg)
{
    lm_error e;
    proto_doc doc;
    if (proto_decode_request(nng_msg_body(req), nng_msg_len(req), &doc, &e) != LM_OK) {
        nng_msg_free(req);
        answer_error(done, arg, &e);
        return;
    }
    const op_def *d = ops_find(rt->op, strlen(rt->op));
    lapi_call *c = d != NULL ? malloc(sizeof(*c)) : NULL;
    if (c == NULL) {
        proto_doc_finish(&doc);
        nng_msg_free(req);
        free(publish);
        proto_error(&e, LM_E_NOMEM, NULL);
        answer_error(done, arg, &e);
        return;
    }
    *c = (lapi_call){.rt = rt, .done = done, .arg = arg, .publish = publish};
    ops_run(d, req, &doc, (completion){.done = on_reply, .arg = c});
    proto_doc_finish(&doc);
}

void lapi_start(const char *method, const char *path, const char *query, const urlmap_header *h,
                size_t nh, const void *body, size_t len, lapi_done_fn done, void *arg)
{
    char fn[300], alias[200], qual[130];
    lm_error e;
    const route *rt = find_route(method, path, fn, alias);
    char list[8];
    query_param(query, "List", list, sizeof(list));
    if (rt != NULL && strcmp(rt->op, "provisioned-get") == 0 && strcmp(list, "ALL") == 0) {
        static const route list_rt = {"GET",
                                      "/2019-09-30/functions",
                                      "/provisioned-concurrency",
                                      "provisioned-list",
                                      200,
                                      K_PLAIN,
                                      NULL};
        rt = &list_rt; /* ListProvisionedConcurrencyConfigs: the same path, ?List=ALL */
    }
    if (rt == NULL) {
        proto_error(&e, LM_E_UNKNOWN_OP, "no Lambda API operation for %s %.200s", method, path);
        answer_error(done, arg, &e);
        return;
    }
    query_param(query, "Qualifier", qual, sizeof(qual));
    if (rt->kind == K_INVOKE) {
        nng_msg *req = invoke_request(fn, qual, h, nh, body, len, &e);
        if (req == NULL) {
            answer_error(done, arg, &e);
            return;
        }
        run_op(rt, req, NULL, done, arg);
        return;
    }
    cJSON *args = len > 0 ? cJSON_ParseWithLength(body, len) : cJSON_CreateObject();
    if (args == NULL || !cJSON_IsObject(args)) {
        cJSON_Delete(args);
        proto_error(&e, LM_E_INVALID_CONTENT, "the request body is not a JSON object");
        answer_error(done, arg, &e);
        return;
    }
    void *code = NULL;
    size_t code_len = 0;
    int rc = LM_OK;
    if (rt->kind == K_CODE) {
        const cJSON *zf = rt->tail == NULL
                              ? cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetObjectItemCaseSensitive(args, "Code"), "ZipFile")
                              : cJSON_GetObjectItemCaseSensitive(args, "ZipFile");
        const cJSON *hd = cJSON_GetObjectItemCaseSensitive(args, "Handler");
        if (!cJSON_IsString(zf)) {
            rc = bad(&e, "%s is required (base64 of a zip holding the handler .so)",
                     rt->tail == NULL ? "Code.ZipFile" : "ZipFile");
        } else {
            rc = unzip_code(zf->valuestring, cJSON_IsString(hd) ? hd->valuestring : NULL, &code,
                            &code_len, &e);
        }
    }
    char *publish = NULL;
    const cJSON *fname = cJSON_GetObjectItemCaseSensitive(args, "FunctionName");
    if (rt->tail == NULL && strcmp(rt->op, "create") == 0 &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, "Publish")) && cJSON_IsString(fname) &&
        (publish = strdup(fname->valuestring)) == NULL) {
        rc = proto_error(&e, LM_E_NOMEM, NULL);
    }
    for (size_t i = 0; i < sizeof(IGNORED) / sizeof(IGNORED[0]); i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(args, IGNORED[i]);
    }
    if (rt->tail != NULL) {
        const char *key = rt->id_key != NULL ? rt->id_key : "FunctionName";
        cJSON_DeleteItemFromObjectCaseSensitive(args, key);
        cJSON_AddStringToObject(args, key, fn);
    }
    if (strcmp(rt->op, "esm-list") == 0) { /* ListEventSourceMappings' filters */
        static const char *const keys[] = {"FunctionName", "EventSourceArn"};
        for (size_t i = 0; i < 2; i++) {
            char v[400];
            query_param(query, keys[i], v, sizeof(v));
            if (v[0] != '\0') {
                cJSON_DeleteItemFromObjectCaseSensitive(args, keys[i]);
                cJSON_AddStringToObject(args, keys[i], v);
            }
        }
    }
    if (qual[0] != '\0') {
        cJSON_DeleteItemFromObjectCaseSensitive(args, "Qualifier");
        cJSON_AddStringToObject(args, "Qualifier", qual);
    }
    if (alias[0] != '\0') {
        cJSON_DeleteItemFromObjectCaseSensitive(args, "Name");
        cJSON_AddStringToObject(args, "Name", alias);
    }
    nng_msg *req = rc == LM_OK ? op_request(rt, args, code, code_len, &e) : NULL;
    cJSON_Delete(args);
    free(code);
    if (req == NULL) {
        free(publish);
        answer_error(done, arg, &e);
        return;
    }
    run_op(rt, req, publish, done, arg);
}
