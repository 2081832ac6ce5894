/*
 * sdk/src/events.c — <lamina/events.h>: reading the events Lamina sends and
 * writing the answers it understands, on cJSON and the public handler API
 * only (no runtime internals), with mbedtls's base64.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>

#include "lamina/events.h"

LM_EXPORT cJSON *lm_event_parse(const lm_request *req)
{
    size_t n = 0;
    const char *p = lm_request_payload(req, &n);
    return p != NULL ? cJSON_ParseWithLength(p, n) : NULL;
}

LM_EXPORT int lm_response_json(lm_response *res, const cJSON *j)
{
    char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    int rc = text != NULL ? lm_response_set(res, text, strlen(text)) : -1;
    free(text);
    return rc;
}

/* A string member, or NULL. */
static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* base64 of s into a malloc'd NUL-terminated buffer, or NULL. */
static char *unbase64(const char *s, size_t *len)
{
    size_t n = strlen(s), need = 0;
    int rc = mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)s, n);
    if (rc == MBEDTLS_ERR_BASE64_INVALID_CHARACTER) {
        return NULL;
    }
    unsigned char *out = malloc(need + 1);
    size_t got = 0;
    if (out == NULL ||
        mbedtls_base64_decode(out, need + 1, &got, (const unsigned char *)s, n) != 0) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    if (len != NULL) {
        *len = got;
    }
    return (char *)out;
}

static char *copy(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (out != NULL) {
        memcpy(out, s, n + 1);
        if (len != NULL) {
            *len = n;
        }
    }
    return out;
}

/* ---- batches ---- */

LM_EXPORT const cJSON *lm_event_records(const cJSON *event)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(event, "Records");
    return cJSON_IsArray(r) ? r : NULL;
}

LM_EXPORT const char *lm_record_id(const cJSON *record)
{
    const char *id = str(record, "messageId");
    return id != NULL ? id
                      : str(cJSON_GetObjectItemCaseSensitive(record, "kinesis"), "sequenceNumber");
}

LM_EXPORT char *lm_record_data(const cJSON *record, size_t *len)
{
    const char *body = str(record, "body");
    if (body != NULL) {
        return copy(body, len);
    }
    const char *data = str(cJSON_GetObjectItemCaseSensitive(record, "kinesis"), "data");
    return data != NULL ? unbase64(data, len) : NULL;
}

struct lm_batch_failures {
    cJSON *list; /* [{"itemIdentifier": ID}, ...] */
    size_t n;
    bool broken; /* an add ran out of memory: the response must not drop it */
};

LM_EXPORT lm_batch_failures *lm_batch_failures_new(void)
{
    lm_batch_failures *f = calloc(1, sizeof(*f));
    if (f != NULL && (f->list = cJSON_CreateArray()) == NULL) {
        free(f);
        f = NULL;
    }
    return f;
}

LM_EXPORT int lm_batch_failures_add(lm_batch_failures *f, const char *item_id)
{
    if (f == NULL || item_id == NULL) {
        if (f != NULL) {
            f->broken = true; /* a record that cannot be named: retry the batch */
        }
        return -1;
    }
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "itemIdentifier", item_id) == NULL ||
        !cJSON_AddItemToArray(f->list, o)) {
        cJSON_Delete(o);
        f->broken = true;
        return -1;
    }
    f->n++;
    return 0;
}

LM_EXPORT size_t lm_batch_failures_count(const lm_batch_failures *f)
{
    return f != NULL ? f->n : 0;
}

LM_EXPORT int lm_response_batch_failures(lm_response *res, lm_batch_failures *f)
{
    int rc = -1;
    if (f == NULL) {
        return lm_response_error(res, "Lamina.OutOfMemory", "no batch failure list");
    }
    if (f->broken) {
        /* a failure we could not record would be taken for a success: fail
         * the whole batch instead, so every record is tried again */
        rc = lm_response_error(res, "Lamina.BatchFailuresIncomplete",
                               "a failed record could not be listed; the batch is retried");
    } else {
        cJSON *doc = cJSON_CreateObject();
        if (doc != NULL && cJSON_AddItemToObject(doc, "batchItemFailures", f->list)) {
            f->list = NULL;
            rc = lm_response_json(res, doc);
        }
        cJSON_Delete(doc);
    }
    cJSON_Delete(f->list);
    free(f);
    return rc;
}

/* ---- function URLs ---- */

LM_EXPORT const char *lm_url_method(const cJSON *event)
{
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(event, "requestContext");
    return str(cJSON_GetObjectItemCaseSensitive(rc, "http"), "method");
}

LM_EXPORT const char *lm_url_path(const cJSON *event)
{
    return str(event, "rawPath");
}

/* A member of obj by name in any case. */
static const char *member_nocase(const cJSON *obj, const char *name)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, obj)
    {
        if (v->string != NULL && strcasecmp(v->string, name) == 0 && cJSON_IsString(v)) {
            return v->valuestring;
        }
    }
    return NULL;
}

LM_EXPORT const char *lm_url_header(const cJSON *event, const char *name)
{
    return name != NULL ? member_nocase(cJSON_GetObjectItemCaseSensitive(event, "headers"), name)
                        : NULL;
}

LM_EXPORT const char *lm_url_query(const cJSON *event, const char *name)
{
    return name != NULL
               ? str(cJSON_GetObjectItemCaseSensitive(event, "queryStringParameters"), name)
               : NULL;
}

LM_EXPORT char *lm_url_body(const cJSON *event, size_t *len)
{
    const char *body = str(event, "body");
    if (body == NULL) {
        body = "";
    }
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(event, "isBase64Encoded"))
               ? unbase64(body, len)
               : copy(body, len);
}

/* Valid UTF-8 with no NUL byte (text a JSON string can carry as is). */
static bool is_text(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (c == 0 || k == 9 || (k == 1 && c < 0xC2) || (k > 0 && i + k >= n)) {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] >> 6) != 2) {
                return false;
            }
        }
        if ((k == 2 && c == 0xE0 && s[i + 1] < 0xA0) || (k == 2 && c == 0xED && s[i + 1] > 0x9F) ||
            (k == 3 && c == 0xF0 && s[i + 1] < 0x90) || (k == 3 && c > 0xF4) ||
            (k == 3 && c == 0xF4 && s[i + 1] > 0x8F)) {
            return false; /* overlong, surrogate, or past U+10FFFF */
        }
        i += k + 1;
    }
    return true;
}

/* "Name: value" into headers[name] = value. */
static int add_header(cJSON *headers, const char *line)
{
    const char *colon = strchr(line, ':');
    if (colon == NULL || colon == line) {
        return -1;
    }
    char name[256];
    size_t nl = (size_t)(colon - line);
    if (nl >= sizeof(name)) {
        return -1;
    }
    memcpy(name, line, nl);
    name[nl] = '\0';
    const char *v = colon + 1;
    v += strspn(v, " \t");
    return cJSON_AddStringToObject(headers, name, v) != NULL ? 0 : -1;
}

LM_EXPORT int lm_url_respond(lm_response *res, int status, const char *const *headers,
                             const void *body, size_t len)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *h = cJSON_CreateObject();
    int rc = doc != NULL && h != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && headers != NULL && headers[i] != NULL; i++) {
        rc = add_header(h, headers[i]);
    }
    bool text = body == NULL || is_text(body, len);
    char *encoded = NULL;
    if (rc == 0 && !text) {
        size_t need = 0;
        mbedtls_base64_encode(NULL, 0, &need, body, len);
        encoded = malloc(need + 1);
        size_t got = 0;
        rc = encoded != NULL &&
                     mbedtls_base64_encode((unsigned char *)encoded, need + 1, &got, body, len) == 0
                 ? 0
                 : -1;
    }
    char *plain = NULL;
    if (rc == 0 && text) {
        plain = malloc(len + 1);
        if (plain == NULL) {
            rc = -1;
        } else {
            if (len > 0) {
                memcpy(plain, body, len);
            }
            plain[len] = '\0';
        }
    }
    if (rc == 0) {
        cJSON_AddNumberToObject(doc, "statusCode", status);
        cJSON_AddItemToObject(doc, "headers", h);
        h = NULL;
        cJSON_AddStringToObject(doc, "body", text ? plain : encoded);
        cJSON_AddBoolToObject(doc, "isBase64Encoded", !text);
        rc = lm_response_json(res, doc);
    }
    free(plain);
    free(encoded);
    cJSON_Delete(h);
    cJSON_Delete(doc);
    return rc;
}
