/*
 * proto/codec.c — strict decoding and direct-to-nng_msg encoding of Lamina's
 * msgpack maps (see proto.h for the contract; the text rules for client
 * requests are in text.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

int proto_decode(const void *buf, size_t len, proto_doc *doc, lm_error *e)
{
    memset(doc, 0, sizeof(*doc));
    int rc = proto_validate(buf, len, e);
    if (rc != LM_OK) {
        return rc;
    }
    msgpack_unpacked_init(&doc->up);
    doc->live = true;
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&doc->up, buf, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        return proto_error(e, LM_E_MALFORMED, "msgpack decode failed (%d)", (int)ur);
    }
    doc->root = &doc->up.data;
    if (doc->root->type != MSGPACK_OBJECT_MAP) {
        return proto_error(e, LM_E_MALFORMED, "message is not a map");
    }
    int64_t v = 0;
    rc = proto_get_int(doc->root, "v", true, &v, e);
    if (rc != LM_OK) {
        return rc;
    }
    if (v != PROTO_VERSION) {
        return proto_error(e, LM_E_PROTO_VERSION, "protocol version %lld, expected %d",
                           (long long)v, PROTO_VERSION);
    }
    return LM_OK;
}

int proto_decode_request(const void *buf, size_t len, proto_doc *doc, lm_error *e)
{
    int rc = proto_decode(buf, len, doc, e);
    return rc == LM_OK ? proto_check_strings(doc->root, e) : rc;
}

void proto_doc_finish(proto_doc *doc)
{
    if (doc != NULL && doc->live) {
        msgpack_unpacked_destroy(&doc->up);
        doc->live = false;
        doc->root = NULL;
    }
}

const msgpack_object *proto_find(const msgpack_object *map, const char *key)
{
    if (map == NULL || map->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    size_t klen = strlen(key);
    const msgpack_object *found = NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
            memcmp(kv->key.via.str.ptr, key, klen) == 0) {
            found = &kv->val; /* last one wins on duplicate keys */
        }
    }
    return found;
}

static int missing(const char *key, lm_error *e)
{
    return proto_error(e, LM_E_MALFORMED, "missing field '%s'", key);
}

static int wrong(const char *key, const char *want, lm_error *e)
{
    return proto_error(e, LM_E_MALFORMED, "field '%s' must be %s", key, want);
}

int proto_get_str(const msgpack_object *map, const char *key, bool required, const char **s,
                  size_t *len, lm_error *e)
{
    const msgpack_object *o = proto_find(map, key);
    if (o == NULL || (o->type == MSGPACK_OBJECT_NIL && !required)) {
        return required ? missing(key, e) : LM_OK;
    }
    if (o->type != MSGPACK_OBJECT_STR) {
        return wrong(key, "a string", e);
    }
    *s = o->via.str.ptr;
    if (len != NULL) {
        *len = o->via.str.size;
    }
    return LM_OK;
}

int proto_get_bin(const msgpack_object *map, const char *key, bool required, const void **p,
                  size_t *len, lm_error *e)
{
    const msgpack_object *o = proto_find(map, key);
    if (o == NULL || (o->type == MSGPACK_OBJECT_NIL && !required)) {
        return required ? missing(key, e) : LM_OK;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *len = o->via.bin.size;
        return LM_OK;
    }
    if (o->type == MSGPACK_OBJECT_STR) {
        *p = o->via.str.ptr;
        *len = o->via.str.size;
        return LM_OK;
    }
    return wrong(key, "binary", e);
}

int proto_get_int(const msgpack_object *map, const char *key, bool required, int64_t *v,
                  lm_error *e)
{
    const msgpack_object *o = proto_find(map, key);
    if (o == NULL || (o->type == MSGPACK_OBJECT_NIL && !required)) {
        return required ? missing(key, e) : LM_OK;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX) {
            return wrong(key, "an integer in range", e);
        }
        *v = (int64_t)o->via.u64;
        return LM_OK;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return LM_OK;
    }
    return wrong(key, "an integer", e);
}

int proto_get_double(const msgpack_object *map, const char *key, bool required, double *v,
                     lm_error *e)
{
    const msgpack_object *o = proto_find(map, key);
    if (o == NULL || (o->type == MSGPACK_OBJECT_NIL && !required)) {
        return required ? missing(key, e) : LM_OK;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *v = o->via.f64; return LM_OK;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (double)o->via.u64; return LM_OK;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *v = (double)o->via.i64; return LM_OK;
    default: return wrong(key, "a number", e);
    }
}

int proto_get_bool(const msgpack_object *map, const char *key, bool required, bool *v, lm_error *e)
{
    const msgpack_object *o = proto_find(map, key);
    if (o == NULL || (o->type == MSGPACK_OBJECT_NIL && !required)) {
        return required ? missing(key, e) : LM_OK;
    }
    if (o->type != MSGPACK_OBJECT_BOOLEAN) {
        return wrong(key, "a boolean", e);
    }
    *v = o->via.boolean;
    return LM_OK;
}

int proto_get_map(const msgpack_object *map, const char *key, bool required,
                  const msgpack_object **m, lm_error *e)
{
    const msgpack_object *o = proto_find(map, key);
    if (o == NULL || (o->type == MSGPACK_OBJECT_NIL && !required)) {
        return required ? missing(key, e) : LM_OK;
    }
    if (o->type != MSGPACK_OBJECT_MAP) {
        return wrong(key, "a map", e);
    }
    *m = o;
    return LM_OK;
}

int proto_copy_str(const char *s, size_t len, char *dst, size_t cap, const char *field, lm_error *e)
{
    if (len >= cap) {
        return proto_error(e, LM_E_MALFORMED, "field '%s' is longer than %zu bytes", field,
                           cap - 1);
    }
    if (len > 0 && memchr(s, '\0', len) != NULL) {
        return proto_error(e, LM_E_MALFORMED, "field '%s' contains a NUL byte", field);
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return LM_OK;
}

/* ---- encoding ---- */

static int msg_write(void *data, const char *buf, size_t len)
{
    proto_writer *w = data;
    if (w->err == 0) {
        w->err = nng_msg_append(w->msg, buf, len);
    }
    return w->err == 0 ? 0 : -1;
}

void proto_writer_init(proto_writer *w, nng_msg *msg)
{
    w->msg = msg;
    w->err = 0;
    msgpack_packer_init(&w->pk, w, msg_write);
}

void pw_map(proto_writer *w, uint32_t n)
{
    msgpack_pack_map(&w->pk, n);
}
void pw_array(proto_writer *w, uint32_t n)
{
    msgpack_pack_array(&w->pk, n);
}

void pw_strn(proto_writer *w, const char *s, size_t len)
{
    msgpack_pack_str(&w->pk, len);
    msgpack_pack_str_body(&w->pk, s, len);
}

void pw_key(proto_writer *w, const char *key)
{
    pw_strn(w, key, strlen(key));
}

void pw_str(proto_writer *w, const char *s)
{
    if (s == NULL) {
        msgpack_pack_nil(&w->pk);
        return;
    }
    pw_strn(w, s, strlen(s));
}

void pw_bin(proto_writer *w, const void *p, size_t len)
{
    msgpack_pack_bin(&w->pk, len);
    msgpack_pack_bin_body(&w->pk, p, len);
}

void pw_int(proto_writer *w, int64_t v)
{
    msgpack_pack_int64(&w->pk, v);
}
void pw_double(proto_writer *w, double v)
{
    msgpack_pack_double(&w->pk, v);
}

void pw_bool(proto_writer *w, bool v)
{
    if (v) {
        msgpack_pack_true(&w->pk);
    } else {
        msgpack_pack_false(&w->pk);
    }
}

void pw_nil(proto_writer *w)
{
    msgpack_pack_nil(&w->pk);
}

void pw_header(proto_writer *w, const char *op)
{
    pw_key(w, "v");
    pw_int(w, PROTO_VERSION);
    pw_key(w, "op");
    pw_str(w, op);
}

nng_msg *proto_op_msg(const char *op)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return NULL;
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 2);
    pw_header(&w, op);
    if (w.err != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

nng_msg *proto_reply_begin(proto_writer *w, const char *op, uint32_t fields, size_t hint)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, hint) != 0) {
        return NULL;
    }
    nng_msg_clear(m);
    proto_writer_init(w, m);
    pw_map(w, 2 + fields);
    pw_header(w, op);
    return m;
}

nng_msg *proto_ok_begin(proto_writer *w)
{
    nng_msg *m = proto_reply_begin(w, "ok", 1, 0);
    if (m != NULL) {
        pw_key(w, "body");
    }
    return m;
}

nng_msg *proto_reply_end(proto_writer *w, nng_msg *m)
{
    if (m != NULL && w->err != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

nng_msg *proto_error_reply(const lm_error *e)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return NULL;
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 6);
    pw_header(&w, "error");
    pw_key(&w, "code");
    pw_int(&w, e->code);
    pw_key(&w, "status");
    pw_int(&w, e->status);
    pw_key(&w, "type");
    pw_str(&w, e->type);
    pw_key(&w, "message");
    pw_str(&w, e->message);
    if (w.err != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

int proto_read_error(const msgpack_object *root, lm_error *e)
{
    int64_t code = LM_E_INTERNAL, status = 500;
    const char *type = NULL, *msg = NULL;
    size_t tl = 0, ml = 0;
    lm_error scratch;
    proto_get_int(root, "code", false, &code, &scratch);
    proto_get_int(root, "status", false, &status, &scratch);
    proto_get_str(root, "type", false, &type, &tl, &scratch);
    proto_get_str(root, "message", false, &msg, &ml, &scratch);
    if (e != NULL) {
        e->code = (int)code;
        e->status = (int)status;
        snprintf(e->type, sizeof(e->type), "%.*s", (int)(type ? tl : 0), type ? type : "");
        snprintf(e->message, sizeof(e->message), "%.*s", (int)(msg ? ml : 0), msg ? msg : "");
    }
    return (int)code;
}
