/*
 * broker/admin/common.c — the pieces the admin operations share (admin/internal.h):
 * FunctionConfiguration and AliasConfiguration writers, an empty "ok"
 * body, and the readers and checks of request fields (Lambda's names and
 * limits; a field of the wrong type is a bad parameter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin/internal.h"
#include "messaging/target.h"
#include "core/sbxhost.h"
#include "store/store.h"

/* Lambda's FunctionConfiguration for cfg (B.mtx held or cfg otherwise
 * pinned), as a map with room for `extra` more keys the caller appends.
 * A published version's FunctionArn is qualified with its number. */
void adm_write_config(proto_writer *w, const fn_config *c, uint32_t extra)
{
    char arn[160];
    bool dlq = c->dead_letter != NULL && c->dead_letter[0] != '\0';
    if (strcmp(c->version, "$LATEST") == 0) {
        snprintf(arn, sizeof(arn), "function:%s", c->name);
    } else {
        snprintf(arn, sizeof(arn), "function:%s:%s", c->name, c->version);
    }
    pw_map(w, 13 + (dlq ? 1 : 0) + extra);
    pw_key(w, "FunctionName");
    pw_str(w, c->name);
    pw_key(w, "FunctionArn");
    pw_str(w, arn);
    pw_key(w, "Runtime");
    pw_str(w, "lamina-c");
    pw_key(w, "Version");
    pw_str(w, c->version);
    pw_key(w, "CodeSha256");
    pw_str(w, c->sha256);
    pw_key(w, "CodeSize");
    pw_int(w, (int64_t)c->code_size);
    pw_key(w, "Description");
    pw_str(w, c->description != NULL ? c->description : "");
    pw_key(w, "Timeout");
    pw_int(w, c->timeout_s);
    pw_key(w, "MemorySize");
    pw_int(w, c->memory_mb);
    pw_key(w, "LastModified");
    pw_str(w, c->last_modified);
    pw_key(w, "State");
    pw_str(w, "Active");
    pw_key(w, "RevisionId");
    pw_str(w, c->revision);
    if (dlq) {
        pw_key(w, "DeadLetterConfig");
        pw_map(w, 1);
        pw_key(w, "TargetArn");
        pw_str(w, c->dead_letter);
    }
    pw_key(w, "Environment");
    pw_map(w, 1);
    pw_key(w, "Variables");
    size_t nvars = 0;
    util_env_var *vars = util_env_from_json(c->env_json, &nvars); /* what a worker gets */
    pw_map(w, (uint32_t)nvars);
    for (size_t i = 0; i < nvars; i++) {
        pw_key(w, vars[i].key);
        pw_str(w, vars[i].value);
    }
    util_env_free(vars, nvars);
}

/* ---- validation ---- */

int adm_bad(lm_error *e, const char *fmt, const char *field)
{
    return proto_error(e, LM_E_INVALID_PARAMETER, fmt, field);
}

/* FunctionName (NAME, function:NAME or an ARN) and an optional Qualifier,
 * also accepted as NAME:QUALIFIER; qual is "" when unqualified. */
int adm_get_qualified(const msgpack_object *args, char name[NAME_MAX_LEN + 1], char qual[130],
                      lm_error *e)
{
    const char *s = NULL, *q = NULL;
    size_t n = 0, ql = 0;
    if (proto_get_str(args, "FunctionName", true, &s, &n, e) != LM_OK) {
        return adm_bad(e, "%s is required and must be a string", "FunctionName");
    }
    if (proto_get_str(args, "Qualifier", false, &q, &ql, e) != LM_OK) {
        return adm_bad(e, "%s must be a string", "Qualifier");
    }
    return invoke_parse_name(s, n, q, ql, name, qual, e);
}

/* An unqualified FunctionName (operations on the function as a whole). */
int adm_get_name(const msgpack_object *args, char name[NAME_MAX_LEN + 1], lm_error *e)
{
    char qual[130];
    int rc = adm_get_qualified(args, name, qual, e);
    if (rc == LM_OK && qual[0] != '\0') {
        rc = adm_bad(e, "%s must not carry a qualifier (:VERSION or :ALIAS) for this operation",
                     "FunctionName");
    }
    return rc;
}

/* Optional string field of at most `max` bytes; *out stays NULL if absent. */
int adm_get_text(const msgpack_object *args, const char *key, size_t max, char **out, lm_error *e)
{
    const char *s = NULL;
    size_t n = 0;
    *out = NULL;
    if (proto_get_str(args, key, false, &s, &n, e) != LM_OK || n > max) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "%s must be a string of at most %zu "
                           "characters",
                           key, max);
    }
    if (s != NULL && (*out = strndup(s, n)) == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    return LM_OK;
}

/* The optional RevisionId precondition: *want is NULL when absent, else
 * points to buf (at most 64 characters: a UUID, or anything that then
 * fails to match). */
int adm_get_revision(const msgpack_object *args, char buf[65], const char **want, lm_error *e)
{
    const char *s = NULL;
    size_t n = 0;
    *want = NULL;
    if (proto_get_str(args, "RevisionId", false, &s, &n, e) != LM_OK || n > 64 ||
        (s != NULL && memchr(s, '\0', n) != NULL)) {
        return adm_bad(e, "%s must be a string of at most 64 characters", "RevisionId");
    }
    if (s != NULL) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        *want = buf;
    }
    return LM_OK;
}

/* 412 unless no RevisionId was given or it is the current one. */
int adm_check_revision(const char *want, const char *current, lm_error *e)
{
    if (want != NULL && strcmp(want, current) != 0) {
        return proto_error(e, LM_E_PRECONDITION_FAILED, NULL);
    }
    return LM_OK;
}

/* DeadLetterConfig{TargetArn}: stored and shown; "" clears it.  *present
 * tells an update whether to touch it. */
int adm_get_dead_letter(const msgpack_object *args, char **out, bool *present, lm_error *e)
{
    const msgpack_object *dl = NULL;
    const char *t = NULL;
    size_t n = 0;
    *out = NULL;
    *present = false;
    if (proto_get_map(args, "DeadLetterConfig", false, &dl, e) != LM_OK ||
        (dl != NULL && proto_get_str(dl, "TargetArn", false, &t, &n, e) != LM_OK)) {
        return adm_bad(e, "%s must be {\"TargetArn\": \"...\"}", "DeadLetterConfig");
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr(":/._-$", c) != NULL;
        if (!ok || n > 256) {
            return adm_bad(e, "%s must be at most 256 of [A-Za-z0-9:/._-$]",
                           "DeadLetterConfig.TargetArn");
        }
    }
    *present = dl != NULL;
    mq_target tg;
    if (n > 0 && (mq_target_parse(t, n, &tg, e) != LM_OK || tg.kind == MQ_TARGET_FUNCTION)) {
        return adm_bad(e, "%s must be a queue or topic: queue:NAME, topic:NAME or an SQS/SNS ARN",
                       "DeadLetterConfig.TargetArn");
    }
    *out = strndup(t != NULL ? t : "", n); /* kept as given; resolved at delivery */
    return *out != NULL ? LM_OK : proto_error(e, LM_E_NOMEM, NULL);
}

/* A handler attachment: present, within the cap, an ELF object. */
int adm_check_code(const void *code, size_t len, lm_error *e)
{
    if (code == NULL) {
        return adm_bad(e, "%s is required: the handler .so", "Code");
    }
    if (len > PROTO_MAX_CODE) {
        return proto_error(e, LM_E_TOO_LARGE, "Code is larger than %u bytes", PROTO_MAX_CODE);
    }
    if (len < 4 || memcmp(code,
                          "\x7f"
                          "ELF",
                          4) != 0) {
        return adm_bad(
            e, "%s is not an ELF shared object (build the handler with cc -shared -fPIC)", "Code");
    }
    return LM_OK;
}

/* Environment{Variables{K:V}} → JSON text (malloc'd). */
int adm_get_env(const msgpack_object *args, char **out, lm_error *e)
{
    const msgpack_object *env = NULL, *vars = NULL;
    *out = NULL;
    if (proto_get_map(args, "Environment", false, &env, e) != LM_OK ||
        (env != NULL && proto_get_map(env, "Variables", false, &vars, e) != LM_OK)) {
        return adm_bad(e, "%s must be {\"Variables\": {\"KEY\": \"value\"}}", "Environment");
    }
    cJSON *j = cJSON_CreateObject();
    size_t total = 0;
    for (uint32_t i = 0; vars != NULL && i < vars->via.map.size; i++) {
        const msgpack_object_kv *kv = &vars->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR) {
            cJSON_Delete(j);
            return adm_bad(e, "%s: keys and values must be strings", "Environment.Variables");
        }
        /* keys: Lambda's pattern, reserved keys refused (proto/names.c);
         * values: any text (no NUL: checked at decode) */
        const char *why = proto_env_key_problem(kv->key.via.str.ptr, kv->key.via.str.size);
        if (why != NULL) {
            char q[160];
            proto_quote(q, sizeof(q), kv->key.via.str.ptr, kv->key.via.str.size);
            cJSON_Delete(j);
            return proto_error(e, LM_E_INVALID_PARAMETER, "Environment.Variables key '%s': %s", q,
                               why);
        }
        char k[256], *v = strndup(kv->val.via.str.ptr, kv->val.via.str.size);
        snprintf(k, sizeof(k), "%.*s", (int)kv->key.via.str.size, kv->key.via.str.ptr);
        total += kv->key.via.str.size + kv->val.via.str.size;
        cJSON_DeleteItemFromObjectCaseSensitive(j, k);
        cJSON_AddStringToObject(j, k, v != NULL ? v : "");
        free(v);
    }
    if (total > 4096) {
        cJSON_Delete(j);
        return adm_bad(e, "%s exceed the 4 KB limit", "Environment.Variables");
    }
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return *out != NULL ? LM_OK : proto_error(e, LM_E_NOMEM, NULL);
}

int adm_get_range(const msgpack_object *args, const char *key, int64_t lo, int64_t hi, int64_t def,
                  uint32_t *out, lm_error *e)
{
    int64_t v = def;
    if (proto_get_int(args, key, false, &v, e) != LM_OK || v < lo || v > hi) {
        return proto_error(e, LM_E_INVALID_PARAMETER, "%s must be an integer from %lld to %lld",
                           key, (long long)lo, (long long)hi);
    }
    *out = (uint32_t)v;
    return LM_OK;
}

/* Parse and validate a create request into a new configuration. */
int adm_parse_create(const proto_doc *doc, const msgpack_object *args, fn_config **out,
                     const void **code, size_t *code_len, lm_error *e)
{
    fn_config *c = calloc(1, sizeof(*c));
    const char *desc = NULL;
    size_t dl = 0;
    if (c == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    c->refs = 1;
    snprintf(c->version, sizeof(c->version), "$LATEST");
    int rc = adm_get_name(args, c->name, e);
    if (rc == LM_OK) {
        rc = adm_get_range(args, "Timeout", 1, 900, 3, &c->timeout_s, e);
    }
    if (rc == LM_OK) {
        rc = adm_get_range(args, "MemorySize", 128, 10240, 128, &c->memory_mb, e);
    }
    if (rc == LM_OK &&
        (proto_get_str(args, "Description", false, &desc, &dl, e) != LM_OK || dl > 256)) {
        rc = adm_bad(e, "%s must be a string of at most 256 characters", "Description");
    }
    if (rc == LM_OK) {
        rc = adm_get_env(args, &c->env_json, e);
    }
    bool dl_present = false;
    if (rc == LM_OK) {
        rc = adm_get_dead_letter(args, &c->dead_letter, &dl_present, e);
    }
    if (rc == LM_OK && (proto_get_bin(doc->root, "code", true, code, code_len, e) != LM_OK)) {
        rc = adm_bad(e, "%s is required: the handler .so", "Code");
    }
    if (rc == LM_OK) {
        rc = adm_check_code(*code, *code_len, e);
    }
    if (rc == LM_OK) {
        c->description = strndup(desc != NULL ? desc : "", dl);
        util_iso8601_now(c->last_modified, sizeof(c->last_modified));
        util_uuid4(c->revision);
    }
    if (rc != LM_OK) {
        fncfg_unref(c);
        return rc;
    }
    *out = c;
    return LM_OK;
}

/* Store the code blob (content-addressed, durable). */
int adm_store_code(fn_config *c, const void *code, size_t len, lm_error *e)
{
    if (util_sha256_hex(code, len, c->sha256) != 0) {
        return proto_error(e, LM_E_INTERNAL, "sha256 failed");
    }
    c->code_size = len;
    snprintf(c->code_path, sizeof(c->code_path), "%s/code/%s.so", B.opt.state, c->sha256);
    struct stat st;
    if (stat(c->code_path, &st) == 0 && (size_t)st.st_size == len) {
        return LM_OK;
    }
    if (util_write_file_atomic(c->code_path, code, len, 0644) != 0) {
        return proto_error(e, LM_E_IO, "cannot store the code blob %s", c->code_path);
    }
    return LM_OK;
}

int adm_not_found(lm_error *e, const char *name, const char *qual)
{
    return proto_error(e, LM_E_NOT_FOUND, "Function not found: function:%s%s%s", name,
                       qual[0] != '\0' ? ":" : "", qual);
}

/* Lambda's AliasConfiguration. */
void adm_write_alias(proto_writer *w, const char *fname, const fn_alias *a)
{
    char arn[256];
    bool weighted = a->extra_version[0] != '\0';
    snprintf(arn, sizeof(arn), "function:%s:%s", fname, a->name);
    pw_map(w, 5 + (weighted ? 1 : 0));
    pw_key(w, "AliasArn");
    pw_str(w, arn);
    pw_key(w, "Name");
    pw_str(w, a->name);
    pw_key(w, "FunctionVersion");
    pw_str(w, a->version);
    pw_key(w, "Description");
    pw_str(w, a->description != NULL ? a->description : "");
    pw_key(w, "RevisionId");
    pw_str(w, a->revision);
    if (weighted) {
        pw_key(w, "RoutingConfig");
        pw_map(w, 1);
        pw_key(w, "AdditionalVersionWeights");
        pw_map(w, 1);
        pw_key(w, a->extra_version);
        pw_double(w, a->extra_weight);
    }
}

nng_msg *adm_empty_reply(void)
{
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m != NULL) {
        pw_map(&w, 0);
    }
    return proto_reply_end(&w, m);
}
