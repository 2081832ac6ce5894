/*
 * tests/fuzz/fuzz_jsonconv.c — libFuzzer target for JSON <-> msgpack
 * conversion (proto/jsonconv.c), as lm_call and the broker use it.
 *
 * Input: one selector byte, then
 *   - even: JSON text, as lm_call gets its arguments: jsonconv_parse, then
 *     jsonconv_pack into a message's "args" (depth 1, as lm_call packs);
 *   - odd: msgpack bytes, as a reply body reaches lm_call: the bounded
 *     pre-validator, msgpack-c, then jsonconv_from_msgpack.
 *
 * Aborts on a broken invariant: a packed message the pre-validator refuses
 * for anything but its total element cap (what the packer accepts the
 * broker accepts), a conversion of validated msgpack that fails, or a
 * second round trip (msgpack -> JSON -> msgpack -> JSON) that changes the
 * JSON text: after one conversion the value must be stable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonconv.h"
#include "proto.h"

/* Pack j as {"args": j}; NULL when the packer refuses it. */
static nng_msg *pack_args(const cJSON *j)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        abort();
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 1);
    pw_key(&w, "args");
    if (jsonconv_pack(&w, j, 1) != 0 || w.err != 0) {
        nng_msg_free(m);
        return NULL;
    }
    lm_error e;
    if (proto_validate(nng_msg_body(m), nng_msg_len(m), &e) != LM_OK &&
        strstr(e.message, "elements") == NULL) {
        abort();
    }
    return m;
}

/* The JSON text of args in m (malloc'd), or NULL if m does not unpack. */
static char *args_text(nng_msg *m)
{
    msgpack_unpacked up;
    size_t off = 0;
    char *s = NULL;
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, nng_msg_body(m), nng_msg_len(m), &off) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP && up.data.via.map.size == 1) {
        cJSON *j = jsonconv_from_msgpack(&up.data.via.map.ptr[0].val);
        if (j == NULL) {
            abort(); /* validated, so never too deep */
        }
        s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
    }
    msgpack_unpacked_destroy(&up);
    return s;
}

/* msgpack -> JSON -> msgpack -> JSON must reproduce the first JSON. */
static void stable(nng_msg *m)
{
    char *first = args_text(m);
    if (first == NULL) {
        return;
    }
    cJSON *j = NULL;
    lm_error e;
    if (jsonconv_parse(first, strlen(first), &j, &e) == LM_OK) {
        nng_msg *m2 = pack_args(j);
        if (m2 != NULL) {
            char *second = args_text(m2);
            if (second == NULL || strcmp(first, second) != 0) {
                abort();
            }
            free(second);
            nng_msg_free(m2);
        }
        cJSON_Delete(j);
    }
    free(first);
}

static void from_json(const uint8_t *data, size_t size)
{
    cJSON *j = NULL;
    lm_error e;
    if (jsonconv_parse((const char *)data, size, &j, &e) != LM_OK) {
        if (e.message[0] == '\0' || j != NULL) {
            abort();
        }
        return;
    }
    nng_msg *m = pack_args(j);
    if (m != NULL) {
        stable(m);
        nng_msg_free(m);
    }
    cJSON_Delete(j);
}

static void from_msgpack(const uint8_t *data, size_t size)
{
    lm_error e;
    if (proto_validate(data, size, &e) != LM_OK) {
        return;
    }
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, (const char *)data, size, &off) == MSGPACK_UNPACK_SUCCESS) {
        cJSON *j = jsonconv_from_msgpack(&up.data);
        if (j == NULL) {
            abort();
        }
        nng_msg *m = pack_args(j); /* depth 1: may be one level too deep now */
        if (m != NULL) {
            stable(m);
            nng_msg_free(m);
        }
        cJSON_Delete(j);
    }
    msgpack_unpacked_destroy(&up);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        from_json(data + 1, size - 1);
    } else {
        from_msgpack(data + 1, size - 1);
    }
    return 0;
}
