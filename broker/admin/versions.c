/*
 * broker/admin/versions.c — publish, versions and aliases (README-versions.md):
 * published versions are immutable snapshots of $LATEST; an alias names a
 * version, optionally routing a share to a second one.
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
        adm_write_config(&w, c, 0);
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
        return adm_not_found(e, name, "");
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
    if (adm_get_name(args, name, e) != LM_OK ||
        adm_get_text(args, "Description", 256, &desc, e) != LM_OK ||
        adm_get_text(args, "CodeSha256", 64, &sha, e) != LM_OK ||
        adm_get_revision(args, rbuf, &want, e) != LM_OK ||
        publish_snapshot(name, &ps, e) != LM_OK ||
        adm_check_revision(want, ps.cur->revision, e) != LM_OK) {
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
    if (adm_get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    if (f == NULL) {
        adm_not_found(e, name, "");
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "Versions");
        pw_array(&w, (uint32_t)f->n_versions + 1);
        adm_write_config(&w, f->latest, 0);
        for (int i = 0; i < f->n_versions; i++) {
            adm_write_config(&w, f->versions[i], 0);
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
        return adm_bad(e, "%s (the alias) is required: 1-128 letters, digits, '-' or '_'", "Name");
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
        return adm_bad(e, "%s must be {\"AdditionalVersionWeights\": {\"VERSION\": WEIGHT}}",
                       "RoutingConfig");
    }
    a->routing = rc != NULL;
    if (weights == NULL || weights->via.map.size == 0) {
        return LM_OK;
    }
    const msgpack_object_kv *kv = &weights->via.map.ptr[0];
    if (weights->via.map.size > 1) {
        return adm_bad(e, "%s takes at most one additional version",
                       "RoutingConfig.AdditionalVersionWeights");
    }
    if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 ||
        kv->key.via.str.size > 10) {
        return adm_bad(e, "%s keys must be published version numbers",
                       "RoutingConfig.AdditionalVersionWeights");
    }
    snprintf(a->extra, sizeof(a->extra), "%.*s", (int)kv->key.via.str.size, kv->key.via.str.ptr);
    if (!util_all_digits(a->extra)) {
        return adm_bad(e, "%s keys must be published version numbers",
                       "RoutingConfig.AdditionalVersionWeights");
    }
    bool num = kv->val.type == MSGPACK_OBJECT_FLOAT32 || kv->val.type == MSGPACK_OBJECT_FLOAT64 ||
               kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    a->weight =
        kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)kv->val.via.u64 : kv->val.via.f64;
    if (!num || !(a->weight >= 0.0 && a->weight <= 1.0)) {
        return adm_bad(e, "%s weights must be numbers from 0.0 to 1.0",
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
        rc = adm_bad(e, "%s must be a string", "FunctionVersion");
    }
    if (rc == LM_OK && a->version != NULL) {
        char v[VERSION_MAX_LEN + 1];
        snprintf(v, sizeof(v), "%.*s", (int)(a->version_len > 15 ? 15 : a->version_len),
                 a->version);
        if (a->version_len > 10 || strlen(v) != a->version_len ||
            (strcmp(v, "$LATEST") != 0 && !util_all_digits(v))) {
            rc = adm_bad(e, "%s must be $LATEST or a published version number", "FunctionVersion");
        }
    }
    if (rc == LM_OK) {
        rc = get_routing(args, a, e);
    }
    if (rc == LM_OK) {
        rc = adm_get_text(args, "Description", 256, &a->description, e);
    }
    if (rc == LM_OK) {
        rc = adm_get_revision(args, a->revision_buf, &a->revision, e);
    }
    return rc;
}

/* Check what the new alias points to exists and is allowed (B.mtx held). */
static int check_alias_target(function *f, const fn_alias *a, lm_error *e)
{
    if (registry_version(f, a->version) == NULL) {
        return adm_not_found(e, f->name, a->version);
    }
    if (a->extra_version[0] == '\0') {
        return LM_OK;
    }
    if (strcmp(a->version, "$LATEST") == 0) {
        return adm_bad(e, "%s: weighted routing needs a published primary version, not $LATEST",
                       "FunctionVersion");
    }
    if (strcmp(a->extra_version, a->version) == 0) {
        return adm_bad(e, "%s: the additional version must differ from FunctionVersion",
                       "RoutingConfig.AdditionalVersionWeights");
    }
    if (registry_version(f, a->extra_version) == NULL) {
        return adm_not_found(e, f->name, a->extra_version);
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
    if (old != NULL && adm_check_revision(aa->revision, old->revision, e) != LM_OK) {
        return e->code;
    }
    if (old != NULL) {
        memcpy(prev, old->revision, 37);
    }
    if (create && aa->version == NULL) {
        return adm_bad(e, "%s is required", "FunctionVersion");
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
    int rc = adm_get_name(args, name, e);
    if (rc == LM_OK) {
        rc = parse_alias_args(args, &aa, e);
    }
    if (rc == LM_OK && create && aa.revision != NULL) {
        rc = adm_bad(e, "%s is accepted by alias-update only (a new alias has none yet)",
                     "RevisionId");
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
    rc = f != NULL ? merge_alias(f, &aa, create, a, prev, e) : adm_not_found(e, name, "");
    pthread_mutex_unlock(&B.mtx);
    util_uuid4(a->revision);
    if (rc != LM_OK || store_put_alias(name, a, create ? NULL : prev, e) != LM_OK) {
        goto cleanup;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    pthread_mutex_lock(&B.mtx);
    if (m != NULL) {
        adm_write_alias(&w, name, a);
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
    if (adm_get_name(args, name, e) != LM_OK || get_alias_name(args, alias, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    fn_alias *a = f != NULL ? registry_alias(f, alias) : NULL;
    if (f == NULL) {
        adm_not_found(e, name, "");
    } else if (a == NULL) {
        proto_error(e, LM_E_NOT_FOUND, "Alias not found: function:%s:%s", name, alias);
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        adm_write_alias(&w, name, a);
    }
    pthread_mutex_unlock(&B.mtx);
    return a != NULL ? proto_reply_end(&w, m) : NULL;
}

nng_msg *admin_alias_list(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (adm_get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    if (f == NULL) {
        adm_not_found(e, name, "");
    } else if ((m = proto_ok_begin(&w)) != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "Aliases");
        pw_array(&w, (uint32_t)registry_alias_count(f));
        for (const fn_alias *a = f->aliases; a != NULL; a = a->next) {
            adm_write_alias(&w, name, a);
        }
    }
    pthread_mutex_unlock(&B.mtx);
    return f != NULL ? proto_reply_end(&w, m) : NULL;
}

nng_msg *admin_alias_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], alias[ALIAS_MAX_LEN + 1];
    if (adm_get_name(args, name, e) != LM_OK || get_alias_name(args, alias, e) != LM_OK) {
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
    adm_urls_forget(name, alias);
    blog(LOG_INFO, "deleted alias %s of %s", alias, name);
    return adm_empty_reply();
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
