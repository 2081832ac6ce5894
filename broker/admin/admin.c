/*
 * broker/admin/admin.c — the admin thread and the operations it runs
 * (create, get, list, delete, retire-workers; update-code, update-config,
 * publish, versions and alias-* for the version lifecycle, see
 * README-versions.md; event-config-put/get/delete for async invokes;
 * clock-advance for tests, with --test-clock: lib/clock.h).  Which api op
 * runs which function is front/ops.c's table; front/ops.c's status also
 * runs on this thread.
 *
 * Admin calls touch the disk (SQLite commits, handler blobs), so they run
 * here, one at a time, never in an nng callback.  A way in queues
 * (message, op, completion); this thread decodes, validates, does the durable part
 * first (blob written and fsynced, row committed) and only then changes the
 * in-memory registry under B.mtx, so the registry never shows something the
 * store does not have.  Handler code is stored content-addressed at
 * <state>/code/<sha256>.so: a deployed function never changes when the
 * user's file does.
 *
 * Versions: $LATEST is replaced as a whole (a new fn_config) on every
 * update and the old one retired, so no invocation mixes old and new; a
 * published version is a separate immutable fn_config (its own warm
 * workers).  Because admin requests run one at a time on this thread, a
 * read of the registry, the store commit and the registry change that
 * follows cannot interleave with another admin change.
 *
 * RevisionId preconditions (update-code, update-config, publish,
 * alias-update): the RevisionId given is compared with the snapshot this
 * thread read (412 PreconditionFailedException on a mismatch, before
 * anything is written), and the store write is itself a compare-and-swap
 * on that snapshot's revision, so the check and the write stay one step
 * even if another writer ever appeared: the registry only changes after
 * the swap committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin/admin.h"
#include "store/store.h"
#include "lib/listen.h"
#include "core/sbxhost.h"

typedef struct admin_job {
    completion done;
    admin_op_fn fn;
    nng_msg *msg;
    list_node node; /* Q.jobs */
} admin_job;

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    list_head jobs; /* FIFO */
    bool stop;
    pthread_t thr;
    bool running;
} Q = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void admin_submit(nng_msg *msg, admin_op_fn fn, completion done)
{
    admin_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        lm_error e;
        proto_error(&e, LM_E_NOMEM, NULL);
        nng_msg_free(msg);
        complete_error(done, &e);
        return;
    }
    j->done = done;
    j->fn = fn;
    j->msg = msg;
    pthread_mutex_lock(&Q.mtx);
    if (Q.stop) {
        pthread_mutex_unlock(&Q.mtx);
        lm_error e;
        proto_error(&e, LM_E_STOPPING, "the broker is stopping");
        nng_msg_free(msg);
        free(j);
        complete_error(done, &e);
        return;
    }
    list_push_back(&Q.jobs, &j->node);
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mtx);
}

/* Lambda's FunctionConfiguration for cfg (B.mtx held or cfg otherwise
 * pinned), as a map with room for `extra` more keys the caller appends.
 * A published version's FunctionArn is qualified with its number. */
static void write_config(proto_writer *w, const fn_config *c, uint32_t extra)
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

static int bad(lm_error *e, const char *fmt, const char *field)
{
    return proto_error(e, LM_E_INVALID_PARAMETER, fmt, field);
}

/* FunctionName (NAME, function:NAME or an ARN) and an optional Qualifier,
 * also accepted as NAME:QUALIFIER; qual is "" when unqualified. */
static int get_qualified(const msgpack_object *args, char name[NAME_MAX_LEN + 1], char qual[130],
                         lm_error *e)
{
    const char *s = NULL, *q = NULL;
    size_t n = 0, ql = 0;
    if (proto_get_str(args, "FunctionName", true, &s, &n, e) != LM_OK) {
        return bad(e, "%s is required and must be a string", "FunctionName");
    }
    if (proto_get_str(args, "Qualifier", false, &q, &ql, e) != LM_OK) {
        return bad(e, "%s must be a string", "Qualifier");
    }
    return invoke_parse_name(s, n, q, ql, name, qual, e);
}

/* An unqualified FunctionName (operations on the function as a whole). */
static int get_name(const msgpack_object *args, char name[NAME_MAX_LEN + 1], lm_error *e)
{
    char qual[130];
    int rc = get_qualified(args, name, qual, e);
    if (rc == LM_OK && qual[0] != '\0') {
        rc = bad(e, "%s must not carry a qualifier (:VERSION or :ALIAS) for this operation",
                 "FunctionName");
    }
    return rc;
}

/* Optional string field of at most `max` bytes; *out stays NULL if absent. */
static int get_text(const msgpack_object *args, const char *key, size_t max, char **out,
                    lm_error *e)
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
static int get_revision(const msgpack_object *args, char buf[65], const char **want, lm_error *e)
{
    const char *s = NULL;
    size_t n = 0;
    *want = NULL;
    if (proto_get_str(args, "RevisionId", false, &s, &n, e) != LM_OK || n > 64 ||
        (s != NULL && memchr(s, '\0', n) != NULL)) {
        return bad(e, "%s must be a string of at most 64 characters", "RevisionId");
    }
    if (s != NULL) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        *want = buf;
    }
    return LM_OK;
}

/* 412 unless no RevisionId was given or it is the current one. */
static int check_revision(const char *want, const char *current, lm_error *e)
{
    if (want != NULL && strcmp(want, current) != 0) {
        return proto_error(e, LM_E_PRECONDITION_FAILED, NULL);
    }
    return LM_OK;
}

/* DeadLetterConfig{TargetArn}: stored and shown; "" clears it.  *present
 * tells an update whether to touch it. */
static int get_dead_letter(const msgpack_object *args, char **out, bool *present, lm_error *e)
{
    const msgpack_object *dl = NULL;
    const char *t = NULL;
    size_t n = 0;
    *out = NULL;
    *present = false;
    if (proto_get_map(args, "DeadLetterConfig", false, &dl, e) != LM_OK ||
        (dl != NULL && proto_get_str(dl, "TargetArn", false, &t, &n, e) != LM_OK)) {
        return bad(e, "%s must be {\"TargetArn\": \"...\"}", "DeadLetterConfig");
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr(":/._-$", c) != NULL;
        if (!ok || n > 256) {
            return bad(e, "%s must be at most 256 of [A-Za-z0-9:/._-$]",
                       "DeadLetterConfig.TargetArn");
        }
    }
    *present = dl != NULL;
    *out = strndup(t != NULL ? t : "", n);
    return *out != NULL ? LM_OK : proto_error(e, LM_E_NOMEM, NULL);
}

/* A handler attachment: present, within the cap, an ELF object. */
static int check_code(const void *code, size_t len, lm_error *e)
{
    if (code == NULL) {
        return bad(e, "%s is required: the handler .so", "Code");
    }
    if (len > PROTO_MAX_CODE) {
        return proto_error(e, LM_E_TOO_LARGE, "Code is larger than %u bytes", PROTO_MAX_CODE);
    }
    if (len < 4 || memcmp(code,
                          "\x7f"
                          "ELF",
                          4) != 0) {
        return bad(e, "%s is not an ELF shared object (build the handler with cc -shared -fPIC)",
                   "Code");
    }
    return LM_OK;
}

/* Environment{Variables{K:V}} → JSON text (malloc'd). */
static int get_env(const msgpack_object *args, char **out, lm_error *e)
{
    const msgpack_object *env = NULL, *vars = NULL;
    *out = NULL;
    if (proto_get_map(args, "Environment", false, &env, e) != LM_OK ||
        (env != NULL && proto_get_map(env, "Variables", false, &vars, e) != LM_OK)) {
        return bad(e, "%s must be {\"Variables\": {\"KEY\": \"value\"}}", "Environment");
    }
    cJSON *j = cJSON_CreateObject();
    size_t total = 0;
    for (uint32_t i = 0; vars != NULL && i < vars->via.map.size; i++) {
        const msgpack_object_kv *kv = &vars->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR) {
            cJSON_Delete(j);
            return bad(e, "%s: keys and values must be strings", "Environment.Variables");
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
        return bad(e, "%s exceed the 4 KB limit", "Environment.Variables");
    }
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return *out != NULL ? LM_OK : proto_error(e, LM_E_NOMEM, NULL);
}

static int get_range(const msgpack_object *args, const char *key, int64_t lo, int64_t hi,
                     int64_t def, uint32_t *out, lm_error *e)
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
static int parse_create(const proto_doc *doc, const msgpack_object *args, fn_config **out,
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
    int rc = get_name(args, c->name, e);
    if (rc == LM_OK) {
        rc = get_range(args, "Timeout", 1, 900, 3, &c->timeout_s, e);
    }
    if (rc == LM_OK) {
        rc = get_range(args, "MemorySize", 128, 10240, 128, &c->memory_mb, e);
    }
    if (rc == LM_OK &&
        (proto_get_str(args, "Description", false, &desc, &dl, e) != LM_OK || dl > 256)) {
        rc = bad(e, "%s must be a string of at most 256 characters", "Description");
    }
    if (rc == LM_OK) {
        rc = get_env(args, &c->env_json, e);
    }
    bool dl_present = false;
    if (rc == LM_OK) {
        rc = get_dead_letter(args, &c->dead_letter, &dl_present, e);
    }
    if (rc == LM_OK && (proto_get_bin(doc->root, "code", true, code, code_len, e) != LM_OK)) {
        rc = bad(e, "%s is required: the handler .so", "Code");
    }
    if (rc == LM_OK) {
        rc = check_code(*code, *code_len, e);
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
static int store_code(fn_config *c, const void *code, size_t len, lm_error *e)
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

/* ---- operations ---- */

nng_msg *admin_create(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    fn_config *c = NULL;
    const void *code = NULL;
    size_t len = 0;
    if (parse_create(doc, args, &c, &code, &len, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    bool exists = registry_find(c->name) != NULL;
    pthread_mutex_unlock(&B.mtx);
    if (exists) {
        proto_error(e, LM_E_CONFLICT, "Function already exist: %s", c->name);
        fncfg_unref(c);
        return NULL;
    }
    if (store_code(c, code, len, e) != LM_OK || store_put_function(c, NULL, e) != LM_OK) {
        fncfg_unref(c);
        return NULL;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    pthread_mutex_lock(&B.mtx);
    if (m != NULL) {
        write_config(&w, c, 0);
    }
    registry_put(c);
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "created function %s (code %s, %zu bytes)", c->name, c->sha256, len);
    return proto_reply_end(&w, m);
}

/* Will a retired configuration still start a worker (which loads its code
 * file)?  Only for invocations queued or workers spawning now: a retired
 * configuration gets no new work.  Running workers have the code mapped
 * already.  B.mtx held. */
static bool code_needed(const fn_config *c)
{
    return c->queued > 0 || c->spawning > 0;
}

/* Remove a code blob nothing refers to any more (after the rows are gone). */
static void gc_blob(const char *sha256)
{
    char path[PATH_MAX];
    if (sha256[0] == '\0' || store_code_referenced(sha256)) {
        return;
    }
    snprintf(path, sizeof(path), "%s/code/%s.so", B.opt.state, sha256);
    if (unlink(path) == 0) {
        blog(LOG_DEBUG, "removed unreferenced code blob %s", sha256);
    }
}

/* The configuration a qualifier names for get: an alias shows its primary
 * version (no random draw).  B.mtx held. */
static fn_config *resolve_fixed(function *f, const char *qual)
{
    if (qual[0] == '\0' || strcmp(qual, "$LATEST") == 0 || util_all_digits(qual)) {
        return qual[0] == '\0' ? f->latest : registry_version(f, qual);
    }
    fn_alias *a = registry_alias(f, qual);
    return a != NULL ? registry_version(f, a->version) : NULL;
}

static int not_found(lm_error *e, const char *name, const char *qual)
{
    return proto_error(e, LM_E_NOT_FOUND, "Function not found: function:%s%s%s", name,
                       qual[0] != '\0' ? ":" : "", qual);
}

/* Lambda's AliasConfiguration. */
static void write_alias(proto_writer *w, const char *fname, const fn_alias *a)
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

static void write_versions_and_aliases(proto_writer *w, function *f)
{
    pw_key(w, "Versions");
    pw_array(w, (uint32_t)f->n_versions);
    for (int i = 0; i < f->n_versions; i++) {
        write_config(w, f->versions[i], 0);
    }
    pw_key(w, "Aliases");
    pw_array(w, (uint32_t)registry_alias_count(f));
    for (const fn_alias *a = f->aliases; a != NULL; a = a->next) {
        write_alias(w, f->name, a);
    }
}

/* get NAME: $LATEST plus Versions and Aliases; get NAME:Q: that version
 * (an alias shows the version it points to). */
nng_msg *admin_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], qual[130];
    if (get_qualified(args, name, qual, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *c = f != NULL ? resolve_fixed(f, qual) : NULL;
    if (c == NULL) {
        not_found(e, name, qual);
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        pw_map(&w, qual[0] == '\0' ? 4 : 2);
        pw_key(&w, "Configuration");
        write_config(&w, c, 0);
        pw_key(&w, "Code");
        pw_map(&w, 2);
        pw_key(&w, "RepositoryType");
        pw_str(&w, "Lamina");
        pw_key(&w, "Location");
        pw_str(&w, c->code_path);
        if (qual[0] == '\0') {
            write_versions_and_aliases(&w, f);
        }
    }
    pthread_mutex_unlock(&B.mtx);
    return c != NULL ? proto_reply_end(&w, m) : NULL;
}

/* A list entry: $LATEST's configuration plus the version numbers and
 * alias names (strings) of the function. */
static void list_one(function *f, void *arg)
{
    proto_writer *w = arg;
    write_config(w, f->latest, 2);
    pw_key(w, "Versions");
    pw_array(w, (uint32_t)f->n_versions);
    for (int i = 0; i < f->n_versions; i++) {
        pw_str(w, f->versions[i]->version);
    }
    pw_key(w, "Aliases");
    pw_array(w, (uint32_t)registry_alias_count(f));
    for (const fn_alias *a = f->aliases; a != NULL; a = a->next) {
        pw_str(w, a->name);
    }
}

nng_msg *admin_list(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    (void)args;
    (void)e;
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    pw_map(&w, 1);
    pw_key(&w, "Functions");
    pw_array(&w, (uint32_t)registry_count());
    registry_each(list_one, &w);
    pthread_mutex_unlock(&B.mtx);
    return proto_reply_end(&w, m);
}

static nng_msg *empty_reply(void)
{
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m != NULL) {
        pw_map(&w, 0);
    }
    return proto_reply_end(&w, m);
}

/* The alias that routes to `version`, or NULL (B.mtx held). */
static const fn_alias *alias_using(function *f, const char *version)
{
    for (const fn_alias *a = f->aliases; a != NULL; a = a->next) {
        if (strcmp(a->version, version) == 0 || strcmp(a->extra_version, version) == 0) {
            return a;
        }
    }
    return NULL;
}

/* delete NAME:N — one published version, refused while an alias uses it. */
static nng_msg *delete_version(const char *name, const char *qual, lm_error *e)
{
    char alias[ALIAS_MAX_LEN + 1] = "";
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    bool exists = f != NULL && registry_version(f, qual) != NULL;
    const fn_alias *a = exists ? alias_using(f, qual) : NULL;
    if (a != NULL) {
        snprintf(alias, sizeof(alias), "%s", a->name);
    }
    pthread_mutex_unlock(&B.mtx);
    if (!exists) {
        not_found(e, name, qual);
        return NULL;
    }
    if (alias[0] != '\0') {
        proto_error(e, LM_E_CONFLICT,
                    "Version %s of %s is used by alias %s: update or delete "
                    "the alias first",
                    qual, name, alias);
        return NULL;
    }
    if (store_delete_version(name, (uint32_t)strtoul(qual, NULL, 10), e) != LM_OK) {
        return NULL;
    }
    char sha[65] = "";
    pthread_mutex_lock(&B.mtx);
    fn_config *c = registry_remove_version(f, qual);
    if (c != NULL) {
        pool_retire_cfg(c);
        if (!code_needed(c)) {
            snprintf(sha, sizeof(sha), "%s", c->sha256);
        }
        fncfg_unref(c);
    }
    pthread_mutex_unlock(&B.mtx);
    gc_blob(sha); /* else the startup sweep removes it if unused */
    blog(LOG_INFO, "deleted version %s of %s", qual, name);
    return empty_reply();
}

/* The code hashes of every version of f, malloc'd (B.mtx held). */
static char (*all_hashes(function *f, int *n))[65]
{
    char(*h)[65] = calloc((size_t)f->n_versions + 1, sizeof(*h));
    *n = 0;
    if (h != NULL) {
        snprintf(h[(*n)++], 65, "%s", f->latest->sha256);
        for (int i = 0; i < f->n_versions; i++) {
            snprintf(h[(*n)++], 65, "%s", f->versions[i]->sha256);
        }
    }
    return h;
}

nng_msg *admin_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], qual[130];
    if (get_qualified(args, name, qual, e) != LM_OK) {
        return NULL;
    }
    if (strcmp(qual, "$LATEST") == 0) {
        bad(e, "%s $LATEST cannot be deleted on its own: delete the function (unqualified)",
            "Qualifier");
        return NULL;
    }
    if (qual[0] != '\0' && !util_all_digits(qual)) {
        bad(e, "%s must be a version number: delete an alias with alias-delete", "Qualifier");
        return NULL;
    }
    if (qual[0] != '\0') {
        return delete_version(name, qual, e);
    }
    int nh = 0;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    char(*hashes)[65] = f != NULL ? all_hashes(f, &nh) : NULL;
    pthread_mutex_unlock(&B.mtx);
    if (f == NULL) {
        not_found(e, name, "");
        return NULL;
    }
    if (store_delete_function(name, e) != LM_OK) {
        free(hashes);
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    fn_config *c = registry_remove(name);
    pool_retire(name);
    fncfg_unref(c);
    pthread_mutex_unlock(&B.mtx);
    for (int i = 0; i < nh; i++) {
        gc_blob(hashes[i]);
    }
    free(hashes);
    blog(LOG_INFO, "deleted function %s", name);
    return empty_reply();
}

/* Replace cfg (registered in f) with a fresh copy and retire the old one:
 * its warm environments end, the next invoke is a cold start (B.mtx). */
static int renew_config(fn_config *cfg)
{
    fn_config *fresh = fncfg_clone(cfg, cfg->version);
    if (fresh == NULL) {
        return 0;
    }
    int n = pool_retire_cfg(cfg);
    registry_put(fresh); /* replaces cfg, dropping the registry's reference */
    return n;
}

nng_msg *admin_retire(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    int n = 0;
    if (f != NULL) {
        n += renew_config(f->latest);
        for (int i = 0; i < f->n_versions; i++) {
            n += renew_config(f->versions[i]);
        }
    }
    pthread_mutex_unlock(&B.mtx);
    if (f == NULL) {
        not_found(e, name, "");
        return NULL;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "Retired");
        pw_int(&w, n);
    }
    return proto_reply_end(&w, m);
}

/* ---- $LATEST updates and publishing ---- */

/* A reference to the current $LATEST of `name`, or NULL (404 in *e). */
static fn_config *latest_ref(const char *name, lm_error *e)
{
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *c = f != NULL ? fncfg_ref(f->latest) : NULL;
    pthread_mutex_unlock(&B.mtx);
    if (c == NULL) {
        not_found(e, name, "");
    }
    return c;
}

static void unref_locked(fn_config *c)
{
    pthread_mutex_lock(&B.mtx);
    fncfg_unref(c);
    pthread_mutex_unlock(&B.mtx);
}

/* Make committed configuration c the new $LATEST (takes the caller's
 * reference): the old one is retired, so its warm workers finish what they
 * have and exit and no invocation mixes old and new.  Replies with c. */
static nng_msg *install_latest(fn_config *c)
{
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(c->name);
    if (f != NULL) {
        pool_retire_cfg(f->latest);
    }
    if (m != NULL) {
        write_config(&w, c, 0);
    }
    registry_put(c);
    pthread_mutex_unlock(&B.mtx);
    return proto_reply_end(&w, m);
}

nng_msg *admin_update_code(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    char name[NAME_MAX_LEN + 1], rbuf[65];
    const char *want = NULL;
    const void *code = NULL;
    size_t len = 0;
    if (get_name(args, name, e) != LM_OK || get_revision(args, rbuf, &want, e) != LM_OK ||
        proto_get_bin(doc->root, "code", false, &code, &len, e) != LM_OK ||
        check_code(code, len, e) != LM_OK) {
        return NULL;
    }
    fn_config *cur = latest_ref(name, e);
    if (cur == NULL) {
        return NULL;
    }
    nng_msg *rep = NULL;
    fn_config *c = NULL;
    if (check_revision(want, cur->revision, e) != LM_OK) {
        goto cleanup;
    }
    if ((c = fncfg_clone(cur, "$LATEST")) == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        goto cleanup;
    }
    util_iso8601_now(c->last_modified, sizeof(c->last_modified));
    util_uuid4(c->revision);
    if (store_code(c, code, len, e) != LM_OK || store_put_function(c, cur->revision, e) != LM_OK) {
        goto cleanup;
    }
    blog(LOG_INFO, "updated code of %s: %s (%zu bytes)", name, c->sha256, len);
    bool changed = strcmp(cur->sha256, c->sha256) != 0;
    rep = install_latest(c);
    c = NULL;
    pthread_mutex_lock(&B.mtx);
    bool unused = !code_needed(cur);
    pthread_mutex_unlock(&B.mtx);
    if (changed && unused) {
        gc_blob(cur->sha256);
    }
cleanup:
    if (c != NULL) {
        unref_locked(c);
    }
    unref_locked(cur);
    return rep;
}

/* Apply the fields present in args to c (a fresh copy of $LATEST). */
static int apply_config(const msgpack_object *args, fn_config *c, lm_error *e)
{
    char *desc = NULL, *dl = NULL;
    bool dl_present = false;
    int rc = get_range(args, "Timeout", 1, 900, c->timeout_s, &c->timeout_s, e);
    if (rc == LM_OK) {
        rc = get_range(args, "MemorySize", 128, 10240, c->memory_mb, &c->memory_mb, e);
    }
    if (rc == LM_OK && proto_find(args, "Environment") != NULL) {
        char *env = NULL;
        rc = get_env(args, &env, e);
        if (rc == LM_OK) {
            free(c->env_json);
            c->env_json = env;
        }
    }
    if (rc == LM_OK && (rc = get_text(args, "Description", 256, &desc, e)) == LM_OK &&
        desc != NULL) {
        free(c->description);
        c->description = desc;
    }
    if (rc == LM_OK && (rc = get_dead_letter(args, &dl, &dl_present, e)) == LM_OK && dl_present) {
        free(c->dead_letter);
        c->dead_letter = dl;
        dl = NULL;
    }
    free(dl);
    return rc;
}

nng_msg *admin_update_config(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], rbuf[65];
    const char *want = NULL;
    if (get_name(args, name, e) != LM_OK || get_revision(args, rbuf, &want, e) != LM_OK) {
        return NULL;
    }
    fn_config *cur = latest_ref(name, e);
    if (cur == NULL) {
        return NULL;
    }
    nng_msg *rep = NULL;
    fn_config *c = fncfg_clone(cur, "$LATEST");
    if (c == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        goto cleanup;
    }
    if (apply_config(args, c, e) != LM_OK || check_revision(want, cur->revision, e) != LM_OK) {
        goto cleanup;
    }
    util_iso8601_now(c->last_modified, sizeof(c->last_modified));
    util_uuid4(c->revision);
    if (store_put_function(c, cur->revision, e) != LM_OK) {
        goto cleanup;
    }
    blog(LOG_INFO, "updated configuration of %s", name);
    rep = install_latest(c);
    c = NULL;
cleanup:
    if (c != NULL) {
        unref_locked(c);
    }
    unref_locked(cur);
    return rep;
}

/* Does version v run exactly what $LATEST c would? (code and every
 * setting that changes behaviour; descriptions do not count) */
static bool same_content(const fn_config *v, const fn_config *c)
{
    return strcmp(v->sha256, c->sha256) == 0 && v->timeout_s == c->timeout_s &&
           v->memory_mb == c->memory_mb && strcmp(v->env_json, c->env_json) == 0 &&
           strcmp(v->dead_letter, c->dead_letter) == 0;
}

static nng_msg *reply_config(const fn_config *c)
{
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m != NULL) {
        write_config(&w, c, 0);
    }
    return proto_reply_end(&w, m);
}

typedef struct publish_state {
    fn_config *cur; /* $LATEST */
    fn_config *last; /* highest published version, or NULL */
    uint32_t next; /* the number a new version gets */
} publish_state;

static int publish_snapshot(const char *name, publish_state *ps, lm_error *e)
{
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    if (f != NULL) {
        ps->cur = fncfg_ref(f->latest);
        fn_config *last = registry_last_version(f);
        ps->last = last != NULL ? fncfg_ref(last) : NULL;
        ps->next = f->last_version + 1;
    }
    pthread_mutex_unlock(&B.mtx);
    if (f == NULL) {
        return not_found(e, name, "");
    }
    if (ps->next == 0 || ps->next > 999999999u) {
        return proto_error(e, LM_E_CONFLICT, "Function %s has used up its version numbers", name);
    }
    return LM_OK;
}

/* publish: snapshot $LATEST as the next version, or return the last
 * version when nothing changed since.  A RevisionId is $LATEST's. */
nng_msg *admin_publish(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], *desc = NULL, *sha = NULL, rbuf[65];
    const char *want = NULL;
    publish_state ps = {0};
    fn_config *v = NULL;
    nng_msg *rep = NULL;
    if (get_name(args, name, e) != LM_OK || get_text(args, "Description", 256, &desc, e) != LM_OK ||
        get_text(args, "CodeSha256", 64, &sha, e) != LM_OK ||
        get_revision(args, rbuf, &want, e) != LM_OK || publish_snapshot(name, &ps, e) != LM_OK ||
        check_revision(want, ps.cur->revision, e) != LM_OK) {
        goto cleanup;
    }
    if (sha != NULL && strcmp(sha, ps.cur->sha256) != 0) {
        proto_error(e, LM_E_CONFLICT, "CodeSha256 %s does not match the code of %s:$LATEST (%s)",
                    sha, name, ps.cur->sha256);
        goto cleanup;
    }
    if (ps.last != NULL && same_content(ps.last, ps.cur)) {
        rep = reply_config(ps.last);
        goto cleanup;
    }
    char num[16];
    snprintf(num, sizeof(num), "%u", ps.next);
    if ((v = fncfg_clone(ps.cur, num)) == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        goto cleanup;
    }
    if (desc != NULL) {
        free(v->description);
        v->description = desc;
        desc = NULL;
    }
    util_iso8601_now(v->last_modified, sizeof(v->last_modified));
    util_uuid4(v->revision);
    if (store_publish(v, ps.next, ps.cur->revision, e) != LM_OK) {
        goto cleanup;
    }
    rep = reply_config(v);
    pthread_mutex_lock(&B.mtx);
    registry_put(fncfg_ref(v));
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "published %s version %s (code %s)", name, num, v->sha256);
cleanup:
    pthread_mutex_lock(&B.mtx);
    fncfg_unref(ps.cur);
    fncfg_unref(ps.last);
    fncfg_unref(v);
    pthread_mutex_unlock(&B.mtx);
    free(desc);
    free(sha);
    return rep;
}

/* versions: $LATEST then every published version (ListVersionsByFunction). */
nng_msg *admin_versions(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    if (f == NULL) {
        not_found(e, name, "");
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "Versions");
        pw_array(&w, (uint32_t)f->n_versions + 1);
        write_config(&w, f->latest, 0);
        for (int i = 0; i < f->n_versions; i++) {
            write_config(&w, f->versions[i], 0);
        }
    }
    pthread_mutex_unlock(&B.mtx);
    return f != NULL ? proto_reply_end(&w, m) : NULL;
}

/* ---- aliases ---- */

typedef struct alias_args {
    char name[ALIAS_MAX_LEN + 1];
    const char *version; /* FunctionVersion or NULL */
    size_t version_len;
    bool routing; /* RoutingConfig present */
    char extra[VERSION_MAX_LEN + 1];
    double weight;
    char *description; /* NULL when absent */
    const char *revision; /* RevisionId precondition (alias-update), or NULL */
    char revision_buf[65];
} alias_args;

static int get_alias_name(const msgpack_object *args, char out[ALIAS_MAX_LEN + 1], lm_error *e)
{
    const char *s = NULL;
    size_t n = 0;
    if (proto_get_str(args, "Name", true, &s, &n, e) != LM_OK || n == 0 || n > ALIAS_MAX_LEN) {
        return bad(e, "%s (the alias) is required: 1-128 letters, digits, '-' or '_'", "Name");
    }
    snprintf(out, ALIAS_MAX_LEN + 1, "%.*s", (int)n, s);
    if (strlen(out) != n || !valid_alias_name(out)) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Name '%s' is invalid: use 1-128 letters, "
                           "digits, '-' or '_', not all digits",
                           out);
    }
    return LM_OK;
}

/* RoutingConfig{AdditionalVersionWeights{"N": w}}: at most one version. */
static int get_routing(const msgpack_object *args, alias_args *a, lm_error *e)
{
    const msgpack_object *rc = NULL, *weights = NULL;
    if (proto_get_map(args, "RoutingConfig", false, &rc, e) != LM_OK ||
        (rc != NULL &&
         proto_get_map(rc, "AdditionalVersionWeights", false, &weights, e) != LM_OK)) {
        return bad(e, "%s must be {\"AdditionalVersionWeights\": {\"VERSION\": WEIGHT}}",
                   "RoutingConfig");
    }
    a->routing = rc != NULL;
    if (weights == NULL || weights->via.map.size == 0) {
        return LM_OK;
    }
    const msgpack_object_kv *kv = &weights->via.map.ptr[0];
    if (weights->via.map.size > 1) {
        return bad(e, "%s takes at most one additional version",
                   "RoutingConfig.AdditionalVersionWeights");
    }
    if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 ||
        kv->key.via.str.size > 10) {
        return bad(e, "%s keys must be published version numbers",
                   "RoutingConfig.AdditionalVersionWeights");
    }
    snprintf(a->extra, sizeof(a->extra), "%.*s", (int)kv->key.via.str.size, kv->key.via.str.ptr);
    if (!util_all_digits(a->extra)) {
        return bad(e, "%s keys must be published version numbers",
                   "RoutingConfig.AdditionalVersionWeights");
    }
    bool num = kv->val.type == MSGPACK_OBJECT_FLOAT32 || kv->val.type == MSGPACK_OBJECT_FLOAT64 ||
               kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    a->weight =
        kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)kv->val.via.u64 : kv->val.via.f64;
    if (!num || !(a->weight >= 0.0 && a->weight <= 1.0)) {
        return bad(e, "%s weights must be numbers from 0.0 to 1.0",
                   "RoutingConfig.AdditionalVersionWeights");
    }
    return LM_OK;
}

static int parse_alias_args(const msgpack_object *args, alias_args *a, lm_error *e)
{
    memset(a, 0, sizeof(*a));
    int rc = get_alias_name(args, a->name, e);
    if (rc == LM_OK &&
        proto_get_str(args, "FunctionVersion", false, &a->version, &a->version_len, e) != LM_OK) {
        rc = bad(e, "%s must be a string", "FunctionVersion");
    }
    if (rc == LM_OK && a->version != NULL) {
        char v[VERSION_MAX_LEN + 1];
        snprintf(v, sizeof(v), "%.*s", (int)(a->version_len > 15 ? 15 : a->version_len),
                 a->version);
        if (a->version_len > 10 || strlen(v) != a->version_len ||
            (strcmp(v, "$LATEST") != 0 && !util_all_digits(v))) {
            rc = bad(e, "%s must be $LATEST or a published version number", "FunctionVersion");
        }
    }
    if (rc == LM_OK) {
        rc = get_routing(args, a, e);
    }
    if (rc == LM_OK) {
        rc = get_text(args, "Description", 256, &a->description, e);
    }
    if (rc == LM_OK) {
        rc = get_revision(args, a->revision_buf, &a->revision, e);
    }
    return rc;
}

/* Check what the new alias points to exists and is allowed (B.mtx held). */
static int check_alias_target(function *f, const fn_alias *a, lm_error *e)
{
    if (registry_version(f, a->version) == NULL) {
        return not_found(e, f->name, a->version);
    }
    if (a->extra_version[0] == '\0') {
        return LM_OK;
    }
    if (strcmp(a->version, "$LATEST") == 0) {
        return bad(e, "%s: weighted routing needs a published primary version, not $LATEST",
                   "FunctionVersion");
    }
    if (strcmp(a->extra_version, a->version) == 0) {
        return bad(e, "%s: the additional version must differ from FunctionVersion",
                   "RoutingConfig.AdditionalVersionWeights");
    }
    if (registry_version(f, a->extra_version) == NULL) {
        return not_found(e, f->name, a->extra_version);
    }
    return LM_OK;
}

/* Build the new alias record from the request and (on update) the old one,
 * whose RevisionId goes to prev (B.mtx held). */
static int merge_alias(function *f, const alias_args *aa, bool create, fn_alias *a, char prev[37],
                       lm_error *e)
{
    const fn_alias *old = registry_alias(f, aa->name);
    if (create && old != NULL) {
        return proto_error(e, LM_E_CONFLICT, "Alias already exists: function:%s:%s", f->name,
                           aa->name);
    }
    if (!create && old == NULL) {
        return proto_error(e, LM_E_NOT_FOUND, "Alias not found: function:%s:%s", f->name, aa->name);
    }
    if (old != NULL && check_revision(aa->revision, old->revision, e) != LM_OK) {
        return e->code;
    }
    if (old != NULL) {
        memcpy(prev, old->revision, 37);
    }
    if (create && aa->version == NULL) {
        return bad(e, "%s is required", "FunctionVersion");
    }
    snprintf(a->name, sizeof(a->name), "%s", aa->name);
    if (old != NULL) {
        memcpy(a->version, old->version, sizeof(a->version));
        memcpy(a->extra_version, old->extra_version, sizeof(a->extra_version));
        a->extra_weight = old->extra_weight;
    }
    if (aa->version != NULL) {
        snprintf(a->version, sizeof(a->version), "%.*s", (int)aa->version_len, aa->version);
    }
    if (aa->routing) {
        memcpy(a->extra_version, aa->extra, sizeof(a->extra_version));
        a->extra_weight = aa->extra[0] != '\0' ? aa->weight : 0.0;
    }
    const char *desc =
        aa->description != NULL ? aa->description : (old != NULL ? old->description : "");
    a->description = strdup(desc != NULL ? desc : "");
    if (a->description == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    return check_alias_target(f, a, e);
}

static nng_msg *alias_put(const msgpack_object *args, bool create, lm_error *e)
{
    char name[NAME_MAX_LEN + 1];
    alias_args aa = {0};
    fn_alias *a = NULL;
    nng_msg *rep = NULL;
    char prev[37] = "";
    int rc = get_name(args, name, e);
    if (rc == LM_OK) {
        rc = parse_alias_args(args, &aa, e);
    }
    if (rc == LM_OK && create && aa.revision != NULL) {
        rc = bad(e, "%s is accepted by alias-update only (a new alias has none yet)", "RevisionId");
    }
    if (rc != LM_OK) {
        free(aa.description);
        return NULL;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        goto cleanup;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    rc = f != NULL ? merge_alias(f, &aa, create, a, prev, e) : not_found(e, name, "");
    pthread_mutex_unlock(&B.mtx);
    util_uuid4(a->revision);
    if (rc != LM_OK || store_put_alias(name, a, create ? NULL : prev, e) != LM_OK) {
        goto cleanup;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    pthread_mutex_lock(&B.mtx);
    if (m != NULL) {
        write_alias(&w, name, a);
    }
    registry_put_alias(registry_find(name), a);
    a = NULL;
    pthread_mutex_unlock(&B.mtx);
    rep = proto_reply_end(&w, m);
    blog(LOG_INFO, "%s alias %s of %s", create ? "created" : "updated", aa.name, name);
cleanup:
    fnalias_free(a);
    free(aa.description);
    return rep;
}

nng_msg *admin_alias_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], alias[ALIAS_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK || get_alias_name(args, alias, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_alias *a = f != NULL ? registry_alias(f, alias) : NULL;
    if (f == NULL) {
        not_found(e, name, "");
    } else if (a == NULL) {
        proto_error(e, LM_E_NOT_FOUND, "Alias not found: function:%s:%s", name, alias);
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        write_alias(&w, name, a);
    }
    pthread_mutex_unlock(&B.mtx);
    return a != NULL ? proto_reply_end(&w, m) : NULL;
}

nng_msg *admin_alias_list(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    if (f == NULL) {
        not_found(e, name, "");
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "Aliases");
        pw_array(&w, (uint32_t)registry_alias_count(f));
        for (const fn_alias *a = f->aliases; a != NULL; a = a->next) {
            write_alias(&w, name, a);
        }
    }
    pthread_mutex_unlock(&B.mtx);
    return f != NULL ? proto_reply_end(&w, m) : NULL;
}

nng_msg *admin_alias_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], alias[ALIAS_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK || get_alias_name(args, alias, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    bool exists = f != NULL && registry_alias(f, alias) != NULL;
    pthread_mutex_unlock(&B.mtx);
    if (!exists) {
        proto_error(e, LM_E_NOT_FOUND, "Alias not found: function:%s:%s", name, alias);
        return NULL;
    }
    if (store_delete_alias(name, alias, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    registry_remove_alias(f, alias);
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "deleted alias %s of %s", alias, name);
    return empty_reply();
}

/* ---- event invoke config (async invokes; see asyncq.c) ---- */

/* DestinationConfig.<key>.Destination: a Lamina function (NAME, NAME:Q,
 * function:NAME[:Q] or an ARN ending so); "" when absent. */
static int get_destination(const msgpack_object *dc, const char *key, char out[352], lm_error *e)
{
    const msgpack_object *d = NULL;
    const char *s = NULL;
    size_t n = 0;
    char name[NAME_MAX_LEN + 1], qual[130];
    out[0] = '\0';
    if (dc == NULL) {
        return LM_OK;
    }
    if (proto_get_map(dc, key, false, &d, e) != LM_OK ||
        (d != NULL && proto_get_str(d, "Destination", false, &s, &n, e) != LM_OK) || n > 350) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "DestinationConfig.%s must be {\"Destination\": \"<at most 350 "
                           "characters>\"}",
                           key);
    }
    if (s == NULL || n == 0) {
        return LM_OK;
    }
    if (invoke_parse_name(s, n, NULL, 0, name, qual, e) != LM_OK) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "DestinationConfig.%s.Destination '%.*s' is not a Lamina function: "
                           "only functions are supported as destinations (no queues or topics "
                           "yet)",
                           key, (int)n, s);
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return LM_OK;
}

static int parse_event_config(const msgpack_object *args, event_config *c, lm_error *e)
{
    uint32_t retry = 0, age = 0;
    const msgpack_object *dc = NULL;
    memset(c, 0, sizeof(*c));
    if (get_range(args, "MaximumRetryAttempts", 0, 2, EVENT_DEFAULT_RETRIES, &retry, e) != LM_OK ||
        get_range(args, "MaximumEventAgeInSeconds", 60, 21600, EVENT_DEFAULT_MAX_AGE, &age, e) !=
            LM_OK) {
        return e->code;
    }
    if (proto_get_map(args, "DestinationConfig", false, &dc, e) != LM_OK) {
        return bad(e, "%s must be {\"OnSuccess\": {...}, \"OnFailure\": {...}}",
                   "DestinationConfig");
    }
    if (get_destination(dc, "OnSuccess", c->on_success, e) != LM_OK ||
        get_destination(dc, "OnFailure", c->on_failure, e) != LM_OK) {
        return e->code;
    }
    c->max_retry = (int)retry;
    c->max_age_s = (int)age;
    c->last_modified = (double)clk_wall_ms() / 1000.0;
    return LM_OK;
}

static void write_destination(proto_writer *w, const char *key, const char *dest)
{
    pw_key(w, key);
    if (dest[0] == '\0') {
        pw_map(w, 0);
        return;
    }
    pw_map(w, 1);
    pw_key(w, "Destination");
    pw_str(w, dest);
}

static nng_msg *reply_event_config(const char *name, const event_config *c)
{
    proto_writer w;
    char arn[NAME_MAX_LEN + 32];
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    snprintf(arn, sizeof(arn), "function:%s:$LATEST", name);
    pw_map(&w, 5);
    pw_key(&w, "FunctionArn");
    pw_str(&w, arn);
    pw_key(&w, "MaximumRetryAttempts");
    pw_int(&w, c->max_retry);
    pw_key(&w, "MaximumEventAgeInSeconds");
    pw_int(&w, c->max_age_s);
    pw_key(&w, "LastModified");
    pw_double(&w, c->last_modified);
    pw_key(&w, "DestinationConfig");
    pw_map(&w, 2);
    write_destination(&w, "OnSuccess", c->on_success);
    write_destination(&w, "OnFailure", c->on_failure);
    return proto_reply_end(&w, m);
}

/* The function must exist (an unqualified name: configs are per function). */
static int event_config_target(const msgpack_object *args, char name[NAME_MAX_LEN + 1], lm_error *e)
{
    if (get_name(args, name, e) != LM_OK) {
        return e->code;
    }
    pthread_mutex_lock(&B.mtx);
    bool found = registry_find(name) != NULL;
    pthread_mutex_unlock(&B.mtx);
    return found ? LM_OK : not_found(e, name, "");
}

static nng_msg *event_config_op(const msgpack_object *args, char which, lm_error *e)
{
    char name[NAME_MAX_LEN + 1];
    event_config c;
    if (event_config_target(args, name, e) != LM_OK) {
        return NULL;
    }
    if (which == 'p') {
        if (parse_event_config(args, &c, e) != LM_OK ||
            store_put_event_config(name, &c, e) != LM_OK) {
            return NULL;
        }
        blog(LOG_INFO, "event invoke config of %s: retries %d, max age %d s", name, c.max_retry,
             c.max_age_s);
        return reply_event_config(name, &c);
    }
    if (store_get_event_config(name, &c, e) != LM_OK) {
        return NULL;
    }
    if (which == 'g') {
        return reply_event_config(name, &c);
    }
    return store_delete_event_config(name, e) == LM_OK ? empty_reply() : NULL;
}

/* ---- clock-advance (lib/clock.h; only with --test-clock) ---- */

/* {Ms}: move broker time forward by Ms (1 .. a year); the new offset is
 * stored first, so a restarted test broker carries on from it. */
nng_msg *admin_clock_advance(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    int64_t ms = 0;
    if (!clk_test_enabled()) {
        proto_error(e, LM_E_UNKNOWN_OP,
                    "clock-advance needs a broker started with --test-clock (this broker's "
                    "time is real time)");
        return NULL;
    }
    if (proto_get_int(args, "Ms", true, &ms, e) != LM_OK || clk_check_advance(ms) != CLK_OK) {
        proto_error(e, LM_E_INVALID_PARAMETER,
                    "Ms must be an integer from 1 to %lld (a year), and broker time at most "
                    "%lld ms ahead of real time",
                    (long long)CLK_MAX_ADVANCE_MS, (long long)CLK_MAX_OFFSET_MS);
        return NULL;
    }
    /* only this thread advances: the check above still holds */
    if (store_put_clock_offset(clk_offset_ms() + ms, e) != LM_OK) {
        return NULL;
    }
    if (clk_advance(ms) != CLK_OK) {
        proto_error(e, LM_E_INTERNAL, "the clock refused an advance it had accepted");
        return NULL;
    }
    blog(LOG_INFO, "test clock advanced %lld ms (offset %lld ms)", (long long)ms,
         (long long)clk_offset_ms());
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    pw_map(&w, 2);
    pw_key(&w, "BrokerTimeMs");
    pw_int(&w, clk_now_ms());
    pw_key(&w, "OffsetMs");
    pw_int(&w, clk_offset_ms());
    return proto_reply_end(&w, m);
}

nng_msg *admin_alias_create(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return alias_put(args, true, e);
}

nng_msg *admin_alias_update(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return alias_put(args, false, e);
}

nng_msg *admin_event_config_put(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return event_config_op(args, 'p', e);
}

nng_msg *admin_event_config_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return event_config_op(args, 'g', e);
}

nng_msg *admin_event_config_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return event_config_op(args, 'd', e);
}

/* ---- the admin thread ---- */

/* Decode the request again (the front end's parse is gone with its
 * callback) and run the job's op on it. */
static nng_msg *run_job(const admin_job *j, lm_error *e)
{
    proto_doc doc;
    const msgpack_object *args = NULL;
    nng_msg *rep = NULL;
    if (proto_decode_request(nng_msg_body(j->msg), nng_msg_len(j->msg), &doc, e) == LM_OK &&
        proto_get_map(doc.root, "args", false, &args, e) == LM_OK) {
        rep = j->fn(&doc, args, e);
    }
    proto_doc_finish(&doc);
    return rep;
}

static void *admin_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&Q.mtx);
        while (list_empty(&Q.jobs) && !Q.stop) {
            pthread_cond_wait(&Q.cv, &Q.mtx);
        }
        admin_job *j = list_pop_front_entry(&Q.jobs, admin_job, node);
        if (j == NULL) {
            pthread_mutex_unlock(&Q.mtx);
            return NULL;
        }
        pthread_mutex_unlock(&Q.mtx);
        lm_error e;
        proto_error(&e, LM_E_INTERNAL, NULL);
        nng_msg *rep = run_job(j, &e);
        nng_msg_free(j->msg);
        if (rep != NULL) {
            complete_reply(j->done, rep);
        } else {
            complete_error(j->done, &e);
        }
        free(j);
    }
}

int admin_start(void)
{
    if (pthread_create(&Q.thr, NULL, admin_main, NULL) != 0) {
        return -1;
    }
    Q.running = true;
    return 0;
}

void admin_stop(void)
{
    pthread_mutex_lock(&Q.mtx);
    Q.stop = true;
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mtx);
    if (Q.running) {
        pthread_join(Q.thr, NULL);
        Q.running = false;
    }
}
