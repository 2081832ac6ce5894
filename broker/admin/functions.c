/*
 * broker/admin/functions.c — the function operations: create, get, list, delete,
 * retire-workers, update-code and update-config ($LATEST is replaced as a
 * whole and the old one retired; see admin/admin.c for the order of
 * durable and in-memory changes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin/internal.h"
#include "core/sbxhost.h"
#include "store/store.h"

/* ---- operations ---- */

nng_msg *admin_create(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    fn_config *c = NULL;
    const void *code = NULL;
    size_t len = 0;
    if (adm_parse_create(doc, args, &c, &code, &len, e) != LM_OK) {
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
    if (adm_store_code(c, code, len, e) != LM_OK || store_put_function(c, NULL, e) != LM_OK) {
        fncfg_unref(c);
        return NULL;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    pthread_mutex_lock(&B.mtx);
    if (m != NULL) {
        adm_write_config(&w, c, 0);
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

static void write_versions_and_aliases(proto_writer *w, function *f)
{
    pw_key(w, "Versions");
    pw_array(w, (uint32_t)f->n_versions);
    for (int i = 0; i < f->n_versions; i++) {
        adm_write_config(w, f->versions[i], 0);
    }
    pw_key(w, "Aliases");
    pw_array(w, (uint32_t)registry_alias_count(f));
    for (const fn_alias *a = f->aliases; a != NULL; a = a->next) {
        adm_write_alias(w, f->name, a);
    }
}

/* get NAME: $LATEST plus Versions and Aliases; get NAME:Q: that version
 * (an alias shows the version it points to). */
nng_msg *admin_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], qual[130];
    if (adm_get_qualified(args, name, qual, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_config *c = f != NULL ? resolve_fixed(f, qual) : NULL;
    if (c == NULL) {
        adm_not_found(e, name, qual);
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        pw_map(&w, (qual[0] == '\0' ? 4 : 2) + (uint32_t)adm_concurrency_keys(f, qual));
        pw_key(&w, "Configuration");
        adm_write_config(&w, c, 0);
        pw_key(&w, "Code");
        pw_map(&w, 2);
        pw_key(&w, "RepositoryType");
        pw_str(&w, "Lamina");
        pw_key(&w, "Location");
        pw_str(&w, c->code_path);
        if (qual[0] == '\0') {
            write_versions_and_aliases(&w, f);
        }
        adm_write_concurrency(&w, f, qual);
    }
    pthread_mutex_unlock(&B.mtx);
    return c != NULL ? proto_reply_end(&w, m) : NULL;
}

/* A list entry: $LATEST's configuration plus the version numbers and
 * alias names (strings) of the function. */
static void list_one(function *f, void *arg)
{
    proto_writer *w = arg;
    adm_write_config(w, f->latest, 2);
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
        adm_not_found(e, name, qual);
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
    return adm_empty_reply();
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
    if (adm_get_qualified(args, name, qual, e) != LM_OK) {
        return NULL;
    }
    if (strcmp(qual, "$LATEST") == 0) {
        adm_bad(e, "%s $LATEST cannot be deleted on its own: delete the function (unqualified)",
                "Qualifier");
        return NULL;
    }
    if (qual[0] != '\0' && !util_all_digits(qual)) {
        adm_bad(e, "%s must be a version number: delete an alias with alias-delete", "Qualifier");
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
        adm_not_found(e, name, "");
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
    adm_urls_forget(name, NULL);
    for (int i = 0; i < nh; i++) {
        gc_blob(hashes[i]);
    }
    free(hashes);
    blog(LOG_INFO, "deleted function %s", name);
    return adm_empty_reply();
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
    if (adm_get_name(args, name, e) != LM_OK) {
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
        adm_not_found(e, name, "");
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
        adm_not_found(e, name, "");
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
        adm_write_config(&w, c, 0);
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
    if (adm_get_name(args, name, e) != LM_OK || adm_get_revision(args, rbuf, &want, e) != LM_OK ||
        proto_get_bin(doc->root, "code", false, &code, &len, e) != LM_OK ||
        adm_check_code(code, len, e) != LM_OK) {
        return NULL;
    }
    fn_config *cur = latest_ref(name, e);
    if (cur == NULL) {
        return NULL;
    }
    nng_msg *rep = NULL;
    fn_config *c = NULL;
    if (adm_check_revision(want, cur->revision, e) != LM_OK) {
        goto cleanup;
    }
    if ((c = fncfg_clone(cur, "$LATEST")) == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        goto cleanup;
    }
    util_iso8601_now(c->last_modified, sizeof(c->last_modified));
    util_uuid4(c->revision);
    if (adm_store_code(c, code, len, e) != LM_OK ||
        store_put_function(c, cur->revision, e) != LM_OK) {
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
    int rc = adm_get_range(args, "Timeout", 1, 900, c->timeout_s, &c->timeout_s, e);
    if (rc == LM_OK) {
        rc = adm_get_range(args, "MemorySize", 128, 10240, c->memory_mb, &c->memory_mb, e);
    }
    if (rc == LM_OK && proto_find(args, "Environment") != NULL) {
        char *env = NULL;
        rc = adm_get_env(args, &env, e);
        if (rc == LM_OK) {
            free(c->env_json);
            c->env_json = env;
        }
    }
    if (rc == LM_OK && (rc = adm_get_text(args, "Description", 256, &desc, e)) == LM_OK &&
        desc != NULL) {
        free(c->description);
        c->description = desc;
    }
    if (rc == LM_OK && (rc = adm_get_dead_letter(args, &dl, &dl_present, e)) == LM_OK &&
        dl_present) {
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
    if (adm_get_name(args, name, e) != LM_OK || adm_get_revision(args, rbuf, &want, e) != LM_OK) {
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
    if (apply_config(args, c, e) != LM_OK || adm_check_revision(want, cur->revision, e) != LM_OK) {
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
