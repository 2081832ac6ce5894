/*
 * tests/fuzz/fuzz_api.c — libFuzzer target for the api request decoder.
 *
 * Input: the body of one api request, as a client would send it.  Runs
 * what the broker runs on it before any handler: the bounded
 * pre-validator, msgpack-c, the version check and the text rule
 * (proto_decode_request), then the readers the handlers use: op and args,
 * FunctionName/Qualifier through Lambda's grammar (both the invoke fields
 * and the admin ones), alias names, environment keys, the JSON-text check
 * and cJSON on the payload, and jsonconv on args (what lm_call shows).
 *
 * Aborts on a broken invariant: an error without a message or of a
 * non-4xx status, an error reply the request decoder itself would refuse
 * (replies must be text too), a string the text rule let through that is
 * not text, a parsed name or qualifier that its own pattern refuses, or a
 * decode that succeeds where the plain pre-validator fails.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonconv.h"
#include "proto.h"

static void check_error(const lm_error *e, int rc)
{
    proto_doc doc;
    lm_error e2;
    if (e->code != rc || e->message[0] == '\0' || e->status < 400 || e->status > 499 ||
        !proto_text_ok(e->message, strlen(e->message), NULL, NULL)) {
        abort();
    }
    nng_msg *m = proto_error_reply(e);
    if (m == NULL) {
        return;
    }
    if (proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e2) != LM_OK) {
        abort(); /* the client reads error replies with the same rule */
    }
    proto_doc_finish(&doc);
    nng_msg_free(m);
}

/* Every str under o is text (the top-level payload and code excepted). */
static void check_text(const msgpack_object *o, int depth)
{
    if (o->type == MSGPACK_OBJECT_STR &&
        !proto_text_ok(o->via.str.ptr, o->via.str.size, NULL, NULL)) {
        abort();
    }
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            check_text(&o->via.array.ptr[i], depth + 1);
        }
    }
    if (o->type != MSGPACK_OBJECT_MAP) {
        return;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        check_text(&kv->key, depth + 1);
        bool bytes =
            depth == 0 && kv->key.type == MSGPACK_OBJECT_STR &&
            ((kv->key.via.str.size == 7 && memcmp(kv->key.via.str.ptr, "payload", 7) == 0) ||
             (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "code", 4) == 0));
        if (!bytes) {
            check_text(&kv->val, depth + 1);
        }
    }
}

static void check_ref(const msgpack_object *map, const char *fkey, const char *qkey)
{
    const char *fn = NULL, *q = NULL;
    size_t fl = 0, ql = 0;
    char name[PROTO_NAME_MAX + 1], qual[PROTO_QUALIFIER_MAX + 1];
    lm_error e;
    if (proto_get_str(map, fkey, false, &fn, &fl, &e) != LM_OK || fn == NULL) {
        return;
    }
    proto_get_str(map, qkey, false, &q, &ql, &e);
    int rc = proto_parse_function_ref(fn, fl, q, ql, name, qual, &e);
    if (rc != LM_OK) {
        check_error(&e, rc);
        return;
    }
    if (!proto_valid_function_name(name, strlen(name)) ||
        (qual[0] != '\0' && !proto_valid_qualifier(qual, strlen(qual)))) {
        abort();
    }
}

static void check_env(const msgpack_object *args)
{
    const msgpack_object *env = proto_find(args, "Environment");
    const msgpack_object *vars = proto_find(env, "Variables");
    if (vars == NULL || vars->type != MSGPACK_OBJECT_MAP) {
        return;
    }
    for (uint32_t i = 0; i < vars->via.map.size; i++) {
        const msgpack_object *k = &vars->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR &&
            proto_env_key_problem(k->via.str.ptr, k->via.str.size) == NULL &&
            (k->via.str.size < 2 || memchr(k->via.str.ptr, '=', k->via.str.size) != NULL)) {
            abort(); /* an accepted key must be usable in environ */
        }
    }
}

static void check_payload(const msgpack_object *root)
{
    const void *p = NULL;
    size_t n = 0;
    lm_error e;
    if (proto_get_bin(root, "payload", false, &p, &n, &e) != LM_OK || p == NULL) {
        return;
    }
    if (!proto_json_text_ok(p, n, NULL, NULL)) {
        return;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_doc doc;
    lm_error e;
    int rc = proto_decode_request(data, size, &doc, &e);
    if (rc != LM_OK) {
        /* a version mismatch is 400 too; everything here is the client's fault */
        check_error(&e, rc);
        proto_doc_finish(&doc);
        return 0;
    }
    if (proto_validate(data, size, &e) != LM_OK) {
        abort();
    }
    check_text(doc.root, 0);
    const char *op = NULL;
    size_t oplen = 0;
    const msgpack_object *args = NULL;
    proto_get_str(doc.root, "op", true, &op, &oplen, &e);
    if (proto_get_map(doc.root, "args", false, &args, &e) == LM_OK && args != NULL) {
        check_ref(args, "FunctionName", "Qualifier");
        check_env(args);
        const char *alias = NULL;
        size_t al = 0;
        if (proto_get_str(args, "Name", false, &alias, &al, &e) == LM_OK && alias != NULL) {
            (void)proto_valid_alias_name(alias, al);
        }
        cJSON *j = jsonconv_from_msgpack(args);
        char *s = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
        free(s);
        cJSON_Delete(j);
    }
    check_ref(doc.root, "fn", "q");
    check_payload(doc.root);
    proto_doc_finish(&doc);
    return 0;
}
