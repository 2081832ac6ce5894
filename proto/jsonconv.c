/*
 * proto/jsonconv.c — convert between cJSON values and msgpack so that admin
 * calls can be written as JSON by users (CLI, lm_call) while the wire stays
 * msgpack.  Both directions are recursive with a depth bound.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonconv.h"

int jsonconv_pack(proto_writer *w, const cJSON *j, int depth)
{
    if (depth > PROTO_MAX_DEPTH) {
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

static cJSON *from_str(const char *p, size_t n)
{
    char *tmp = malloc(n + 1);
    if (tmp == NULL) {
        return NULL;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    cJSON *s = cJSON_CreateString(tmp);
    free(tmp);
    return s;
}

cJSON *jsonconv_from_msgpack(const msgpack_object *o)
{
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
            cJSON *c = jsonconv_from_msgpack(&o->via.array.ptr[i]);
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
            memcpy(key, kv->key.via.str.ptr, kl);
            key[kl] = '\0';
            cJSON *c = jsonconv_from_msgpack(&kv->val);
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
