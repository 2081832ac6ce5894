/*
 * proto/jsonconv.c — convert between cJSON values and msgpack so that admin
 * calls can be written as JSON by users (CLI, lm_call) while the wire stays
 * msgpack.  Both directions are recursive with a depth bound, the one the
 * pre-validator enforces (PROTO_MAX_DEPTH containers deep, counting the
 * ones the caller's value sits in), so what jsonconv_pack accepts the
 * broker accepts too.
 *
 * cJSON keeps strings NUL-terminated, so a "\u0000" in JSON text would
 * silently cut a string ("echo\u0000zzz" became "echo" and deleted the
 * function echo); jsonconv_parse refuses such text before cJSON sees it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonconv.h"

int jsonconv_pack(proto_writer *w, const cJSON *j, int depth)
{
    bool container = j != NULL && (cJSON_IsArray(j) || cJSON_IsObject(j));
    if (depth > PROTO_MAX_DEPTH || (container && depth >= PROTO_MAX_DEPTH)) {
        return -1;
    }
    if (j == NULL || cJSON_IsNull(j)) {
        pw_nil(w);
    } else if (cJSON_IsBool(j)) {
        pw_bool(w, cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9.0e15) {
            pw_int(w, (int64_t)d);
        } else {
            pw_double(w, d);
        }
    } else if (cJSON_IsString(j)) {
        pw_str(w, j->valuestring);
    } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
        int n = cJSON_GetArraySize(j);
        if (cJSON_IsArray(j)) {
            pw_array(w, (uint32_t)n);
        } else {
            pw_map(w, (uint32_t)n);
        }
        for (const cJSON *c = j->child; c != NULL; c = c->next) {
            if (cJSON_IsObject(j)) {
                pw_str(w, c->string);
            }
            if (jsonconv_pack(w, c, depth + 1) != 0) {
                return -1;
            }
        }
    } else {
        pw_nil(w);
    }
    return 0;
}

/* Copy p[0..n) into a new NUL-terminated string; msgpack-c gives an
 * empty str or bin a NULL pointer, which memcpy must not see. */
static char *dup_bytes(const char *p, size_t n)
{
    char *tmp = malloc(n + 1);
    if (tmp == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(tmp, p, n);
    }
    tmp[n] = '\0';
    return tmp;
}

static cJSON *from_str(const char *p, size_t n)
{
    char *tmp = dup_bytes(p, n);
    if (tmp == NULL) {
        return NULL;
    }
    cJSON *s = cJSON_CreateString(tmp);
    free(tmp);
    return s;
}

static cJSON *from_msgpack(const msgpack_object *o, int depth)
{
    if (depth > PROTO_MAX_DEPTH) {
        return NULL;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return cJSON_CreateNull();
    case MSGPACK_OBJECT_BOOLEAN: return cJSON_CreateBool(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return cJSON_CreateNumber((double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return cJSON_CreateNumber((double)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return cJSON_CreateNumber(o->via.f64);
    case MSGPACK_OBJECT_STR: return from_str(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: return from_str(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
        cJSON *a = cJSON_CreateArray();
        for (uint32_t i = 0; a != NULL && i < o->via.array.size; i++) {
            cJSON *c = from_msgpack(&o->via.array.ptr[i], depth + 1);
            if (c == NULL) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, c);
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        cJSON *m = cJSON_CreateObject();
        for (uint32_t i = 0; m != NULL && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                continue;
            }
            char key[256];
            size_t kl = kv->key.via.str.size < 255 ? kv->key.via.str.size : 255;
            if (kl > 0) { /* an empty key's pointer is NULL */
                memcpy(key, kv->key.via.str.ptr, kl);
            }
            key[kl] = '\0';
            cJSON *c = from_msgpack(&kv->val, depth + 1);
            if (c == NULL) {
                cJSON_Delete(m);
                return NULL;
            }
            cJSON_AddItemToObject(m, key, c);
        }
        return m;
    }
    default: return cJSON_CreateNull();
    }
}

cJSON *jsonconv_from_msgpack(const msgpack_object *o)
{
    return from_msgpack(o, 0);
}

/* Offset of the first "\u0000" escape inside a string of JSON text
 * s[0..n), or n. */
static size_t escaped_nul(const char *s, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            in_str = s[i] == '"';
        } else if (s[i] == '"') {
            in_str = false;
        } else if (s[i] == '\\' && i + 1 < n) {
            if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0) {
                return i;
            }
            i++; /* skip the escaped character */
        }
    }
    return n;
}

int jsonconv_parse(const char *text, size_t len, cJSON **out, lm_error *e)
{
    size_t at = escaped_nul(text, len);
    *out = NULL;
    if (at < len) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "arguments: \\u0000 at byte %zu: a NUL is not allowed in any string",
                           at);
    }
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (*out == NULL) {
        return proto_error(e, LM_E_INVALID_PARAMETER, "arguments are not valid JSON");
    }
    return LM_OK;
}
