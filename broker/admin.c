/*
 * broker/admin.c — the admin thread: every api operation other than invoke
 * (create, get, list, delete, status, retire-workers).
 *
 * Admin calls touch the disk (SQLite commits, handler blobs), so they run
 * here, one at a time, never in an nng callback.  The api callback queues
 * (context, message); this thread decodes, validates, does the durable part
 * first (blob written and fsynced, row committed) and only then changes the
 * in-memory registry under B.mtx, so the registry never shows something the
 * store does not have.  Handler code is stored content-addressed at
 * <state>/code/<sha256>.so: a deployed function never changes when the
 * user's file does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "broker.h"
#include "jsonconv.h"

typedef struct admin_job {
    api_ctx *actx;
    nng_msg *msg;
    struct admin_job *next;
} admin_job;

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    admin_job *head, *tail;
    bool stop;
    pthread_t thr;
    bool running;
} Q = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void admin_submit(api_ctx *actx, nng_msg *msg)
{
    admin_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        lm_error e;
        proto_error(&e, LM_E_NOMEM, NULL);
        nng_msg_free(msg);
        api_reply_error(actx, &e);
        return;
    }
    j->actx = actx;
    j->msg = msg;
    pthread_mutex_lock(&Q.mtx);
    if (Q.stop) {
        pthread_mutex_unlock(&Q.mtx);
        lm_error e;
        proto_error(&e, LM_E_STOPPING, "the broker is stopping");
        nng_msg_free(msg);
        free(j);
        api_reply_error(actx, &e);
        return;
    }
    if (Q.tail != NULL) {
        Q.tail->next = j;
    } else {
        Q.head = j;
    }
    Q.tail = j;
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mtx);
}

/* ---- replies ---- */

static nng_msg *ok_begin(proto_writer *w)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0) {
        return NULL;
    }
    proto_writer_init(w, m);
    pw_map(w, 3);
    pw_header(w, "ok");
    pw_key(w, "body");
    return m;
}

static nng_msg *ok_end(proto_writer *w, nng_msg *m)
{
    if (m != NULL && w->err != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

/* Lambda's FunctionConfiguration for cfg (B.mtx held or cfg otherwise pinned). */
static void write_config(proto_writer *w, const fn_config *c)
{
    char arn[128];
    snprintf(arn, sizeof(arn), "function:%s", c->name);
    pw_map(w, 12);
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
    pw_key(w, "Environment");
    pw_map(w, 1);
    pw_key(w, "Variables");
    cJSON *vars = cJSON_Parse(c->env_json != NULL ? c->env_json : "{}");
    if (vars == NULL || jsonconv_pack(w, vars, 2) != 0) {
        pw_map(w, 0);
    }
    cJSON_Delete(vars);
}

/* ---- validation ---- */

static int bad(lm_error *e, const char *fmt, const char *field)
{
    return proto_error(e, LM_E_INVALID_PARAMETER, fmt, field);
}

static int get_name(const msgpack_object *args, char name[NAME_MAX_LEN + 1], lm_error *e)
{
    const char *s = NULL;
    size_t n = 0;
    if (proto_get_str(args, "FunctionName", true, &s, &n, e) != LM_OK) {
        return bad(e, "%s is required and must be a string", "FunctionName");
    }
    char qual[130];
    return invoke_parse_name(s, n, NULL, 0, name, qual, e);
}

static bool valid_env_key(const char *k, size_t n)
{
    if (n < 2 || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z'))) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return !(n >= 7 && memcmp(k, "LAMINA_", 7) == 0);
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
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR ||
            !valid_env_key(kv->key.via.str.ptr, kv->key.via.str.size)) {
            cJSON_Delete(j);
            return bad(e, "%s: keys must match [a-zA-Z][a-zA-Z0-9_]+ (not LAMINA_*) and "
                          "values must be strings",
                       "Environment.Variables");
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
    if (rc == LM_OK && (proto_get_str(args, "Description", false, &desc, &dl, e) != LM_OK ||
                        dl > 256)) {
        rc = bad(e, "%s must be a string of at most 256 characters", "Description");
    }
    if (rc == LM_OK) {
        rc = get_env(args, &c->env_json, e);
    }
    if (rc == LM_OK && (proto_get_bin(doc->root, "code", true, code, code_len, e) != LM_OK)) {
        rc = bad(e, "%s is required: the handler .so", "Code");
    }
    if (rc == LM_OK && *code_len > PROTO_MAX_CODE) {
        rc = proto_error(e, LM_E_TOO_LARGE, "Code is larger than %u bytes", PROTO_MAX_CODE);
    }
    if (rc == LM_OK && (*code_len < 4 || memcmp(*code, "\x7f" "ELF", 4) != 0)) {
        rc = bad(e, "%s is not an ELF shared object (build the handler with cc -shared -fPIC)",
                 "Code");
    }
    if (rc == LM_OK) {
        c->description = strndup(desc != NULL ? desc : "", dl);
        iso8601_now(c->last_modified, sizeof(c->last_modified));
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
    if (sha256_hex(code, len, c->sha256) != 0) {
        return proto_error(e, LM_E_INTERNAL, "sha256 failed");
    }
    c->code_size = len;
    snprintf(c->code_path, sizeof(c->code_path), "%s/code/%s.so", B.opt.state, c->sha256);
    struct stat st;
    if (stat(c->code_path, &st) == 0 && (size_t)st.st_size == len) {
        return LM_OK;
    }
    if (write_file_atomic(c->code_path, code, len, 0644) != 0) {
        return proto_error(e, LM_E_IO, "cannot store the code blob %s", c->code_path);
    }
    return LM_OK;
}

/* ---- operations ---- */

static nng_msg *op_create(const proto_doc *doc, const msgpack_object *args, lm_error *e)
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
    if (store_code(c, code, len, e) != LM_OK || store_put_function(c, true, e) != LM_OK) {
        fncfg_unref(c);
        return NULL;
    }
    proto_writer w;
    nng_msg *m = ok_begin(&w);
    pthread_mutex_lock(&B.mtx);
    if (m != NULL) {
        write_config(&w, c);
    }
    registry_put(c);
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "created function %s (code %s, %zu bytes)", c->name, c->sha256, len);
    return ok_end(&w, m);
}

static nng_msg *op_get(const msgpack_object *args, lm_error *e)
{
    char name[NAME_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    if (f == NULL) {
        proto_error(e, LM_E_NOT_FOUND, "Function not found: function:%s", name);
    } else if ((m = ok_begin(&w)) != NULL) {
        pw_map(&w, 2);
        pw_key(&w, "Configuration");
        write_config(&w, f->latest);
        pw_key(&w, "Code");
        pw_map(&w, 2);
        pw_key(&w, "RepositoryType");
        pw_str(&w, "Lamina");
        pw_key(&w, "Location");
        pw_str(&w, f->latest->code_path);
    }
    pthread_mutex_unlock(&B.mtx);
    return f != NULL ? ok_end(&w, m) : NULL;
}

static void list_one(function *f, void *arg)
{
    write_config(arg, f->latest);
}

static nng_msg *op_list(lm_error *e)
{
    (void)e;
    proto_writer w;
    nng_msg *m = ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    pw_map(&w, 1);
    pw_key(&w, "Functions");
    pw_array(&w, (uint32_t)registry_count());
    registry_each(list_one, &w);
    pthread_mutex_unlock(&B.mtx);
    return ok_end(&w, m);
}

static nng_msg *op_delete(const msgpack_object *args, lm_error *e)
{
    char name[NAME_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    bool exists = registry_find(name) != NULL;
    pthread_mutex_unlock(&B.mtx);
    if (!exists) {
        proto_error(e, LM_E_NOT_FOUND, "Function not found: function:%s", name);
        return NULL;
    }
    if (store_delete_function(name, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    fn_config *c = registry_remove(name);
    pool_retire(name);
    char sha[65] = "", path[PATH_MAX] = "";
    if (c != NULL) {
        snprintf(sha, sizeof(sha), "%s", c->sha256);
        snprintf(path, sizeof(path), "%s", c->code_path);
        fncfg_unref(c);
    }
    pthread_mutex_unlock(&B.mtx);
    if (sha[0] != '\0' && !store_code_referenced(sha)) {
        unlink(path);
    }
    blog(LOG_INFO, "deleted function %s", name);
    proto_writer w;
    nng_msg *m = ok_begin(&w);
    if (m != NULL) {
        pw_map(&w, 0);
    }
    return ok_end(&w, m);
}

static nng_msg *op_retire(const msgpack_object *args, lm_error *e)
{
    char name[NAME_MAX_LEN + 1];
    if (get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    int n = 0;
    if (f != NULL) {
        /* Retire the current environments but keep the configuration: the
         * next invoke starts a fresh one. */
        for (worker *w = B.workers; w != NULL; w = w->next) {
            if (w->cfg == f->latest && w->state == W_IDLE) {
                n++;
            }
        }
        fn_config *fresh = calloc(1, sizeof(*fresh));
        if (fresh != NULL) {
            *fresh = *f->latest;
            fresh->refs = 1;
            fresh->env_json = strdup(f->latest->env_json);
            fresh->description = strdup(f->latest->description);
            fresh->q_head = fresh->q_tail = NULL;
            fresh->queued = fresh->spawning = fresh->live = 0;
            fresh->idle = NULL;
            fresh->retired = false;
            pool_retire(name);
            registry_put(fresh);
        }
    }
    pthread_mutex_unlock(&B.mtx);
    if (f == NULL) {
        proto_error(e, LM_E_NOT_FOUND, "Function not found: function:%s", name);
        return NULL;
    }
    proto_writer w;
    nng_msg *m = ok_begin(&w);
    if (m != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "Retired");
        pw_int(&w, n);
    }
    return ok_end(&w, m);
}

static nng_msg *op_status(lm_error *e)
{
    (void)e;
    proto_writer w;
    nng_msg *m = ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    int total, idle, busy, spawning;
    pthread_mutex_lock(&B.mtx);
    pool_counts(&total, &idle, &busy, &spawning);
    pw_map(&w, 9);
    pw_key(&w, "Version");
    pw_str(&w, BROKER_VERSION);
    pw_key(&w, "UptimeSeconds");
    pw_double(&w, (now_ms() - B.started_at) / 1000.0);
    pw_key(&w, "StateDir");
    pw_str(&w, B.opt.state);
    pw_key(&w, "Functions");
    pw_int(&w, registry_count());
    pw_key(&w, "Workers");
    pw_map(&w, 4);
    pw_key(&w, "Total");
    pw_int(&w, total);
    pw_key(&w, "Idle");
    pw_int(&w, idle);
    pw_key(&w, "Busy");
    pw_int(&w, busy);
    pw_key(&w, "Starting");
    pw_int(&w, spawning);
    pw_key(&w, "MaxConcurrency");
    pw_int(&w, B.opt.max_concurrency);
    pw_key(&w, "Invocations");
    pw_int(&w, (int64_t)B.invocations);
    pw_key(&w, "ColdStarts");
    pw_int(&w, (int64_t)B.cold_starts);
    pw_key(&w, "Sandbox");
    pw_str(&w, B.opt.unsafe_no_sandbox ? "DISABLED (unsafe: workers run unsandboxed)"
                                       : "enabled");
    pthread_mutex_unlock(&B.mtx);
    return ok_end(&w, m);
}

static bool is(const char *op, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(op, want, n) == 0;
}

static nng_msg *run_job(nng_msg *msg, lm_error *e)
{
    proto_doc doc;
    const char *op = NULL;
    size_t n = 0;
    const msgpack_object *args = NULL;
    nng_msg *rep = NULL;
    if (proto_decode(nng_msg_body(msg), nng_msg_len(msg), &doc, e) != LM_OK ||
        proto_get_str(doc.root, "op", true, &op, &n, e) != LM_OK ||
        proto_get_map(doc.root, "args", false, &args, e) != LM_OK) {
        proto_doc_finish(&doc);
        return NULL;
    }
    if (is(op, n, "create")) {
        rep = op_create(&doc, args, e);
    } else if (is(op, n, "get")) {
        rep = op_get(args, e);
    } else if (is(op, n, "list")) {
        rep = op_list(e);
    } else if (is(op, n, "delete")) {
        rep = op_delete(args, e);
    } else if (is(op, n, "status")) {
        rep = op_status(e);
    } else if (is(op, n, "retire-workers")) {
        rep = op_retire(args, e);
    } else {
        proto_error(e, LM_E_UNKNOWN_OP, "unknown operation '%.*s'", (int)(n > 64 ? 64 : n), op);
    }
    proto_doc_finish(&doc);
    return rep;
}

static void *admin_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&Q.mtx);
        while (Q.head == NULL && !Q.stop) {
            pthread_cond_wait(&Q.cv, &Q.mtx);
        }
        admin_job *j = Q.head;
        if (j == NULL) {
            pthread_mutex_unlock(&Q.mtx);
            return NULL;
        }
        Q.head = j->next;
        if (Q.head == NULL) {
            Q.tail = NULL;
        }
        pthread_mutex_unlock(&Q.mtx);
        lm_error e;
        proto_error(&e, LM_E_INTERNAL, NULL);
        nng_msg *rep = run_job(j->msg, &e);
        nng_msg_free(j->msg);
        if (rep != NULL) {
            api_reply(j->actx, rep);
        } else {
            api_reply_error(j->actx, &e);
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
