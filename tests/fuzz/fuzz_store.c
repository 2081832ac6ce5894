/*
 * tests/fuzz/fuzz_store.c — libFuzzer target for what the broker decodes
 * from its store's rows (a store is read as untrusted: an old schema, a
 * crash, a hand edit).
 *
 * Input: up to three fields separated by NUL bytes, as SQLite hands back
 * text columns:
 *   1. functions.env / versions.env — util_env_from_json (broker/lib/util.c),
 *      which gives a worker its environ (pool.c) and the get reply its
 *      Environment.Variables (admin.c), packed here as admin.c packs it;
 *   2. event_invoke_configs.on_success / on_failure — a destination, read
 *      by asyncq.c through invoke_parse_name, i.e. proto_parse_function_ref;
 *   3. async_events.payload — the stored event, which asyncq.c parses with
 *      cJSON to build an invocation record; checked here against the same
 *      JSON-text rule the invoke path applied before storing it.
 *
 * Aborts on a broken invariant: an environment pair whose key admin.c
 * would refuse or that holds '=' (environ could not carry it), a packed
 * Environment.Variables the pre-validator refuses, or a parsed destination
 * whose name or qualifier its own pattern refuses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <nng/nng.h>

#include "lib/util.h"
#include "proto.h"

static void env_field(const char *json)
{
    size_t n = 0;
    util_env_var *v = util_env_from_json(json, &n);
    if (v == NULL) {
        return;
    }
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        abort();
    }
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 1);
    pw_key(&w, "Variables");
    pw_map(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(v[i].key);
        if (proto_env_key_problem(v[i].key, kl) != NULL || strchr(v[i].key, '=') != NULL) {
            abort();
        }
        pw_key(&w, v[i].key);
        pw_str(&w, v[i].value);
    }
    lm_error e;
    if (w.err == 0 && proto_validate(nng_msg_body(m), nng_msg_len(m), &e) != LM_OK &&
        strstr(e.message, "elements") == NULL) {
        abort();
    }
    nng_msg_free(m);
    util_env_free(v, n);
}

static void destination_field(const char *dest)
{
    char name[PROTO_NAME_MAX + 1], qual[130];
    lm_error e;
    if (proto_parse_function_ref(dest, strlen(dest), NULL, 0, name, qual, &e) != LM_OK) {
        if (e.code != LM_E_INVALID_PARAMETER || e.message[0] == '\0') {
            abort();
        }
        return;
    }
    if (!util_valid_function_name(name, strlen(name)) ||
        (qual[0] != '\0' && !proto_valid_qualifier(qual, strlen(qual)))) {
        abort();
    }
}

static void payload_field(const char *p, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(p, n);
    char *s = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    (void)proto_json_text_ok(p, n, NULL, NULL);
    free(s);
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *env = buf;
    const char *dest = memchr(buf, '\0', size + 1) + 1;
    const char *payload =
        dest <= buf + size ? memchr(dest, '\0', (size_t)(buf + size + 1 - dest)) : NULL;
    env_field(env);
    if (dest <= buf + size) {
        destination_field(dest);
    }
    if (payload != NULL && payload < buf + size) {
        payload++;
        payload_field(payload, (size_t)(buf + size - payload));
    }
    free(buf);
    return 0;
}
