/*
 * broker/admin/urls.c — function URLs' configurations: the ops url-create,
 * url-get, url-update, url-delete and url-list (Lambda's
 * CreateFunctionUrlConfig & co., with its field names), their rows
 * (store/urls.c), and the table the HTTP front end looks URLs up in.
 *
 * The table: every URL by its id, in a hash map under U.mtx (a leaf lock:
 * nothing else is taken while it is held).  Entries are immutable and
 * reference-counted: an update replaces the entry, and a request that
 * holds the old one (admin_url_ref … admin_url_release) finishes with
 * it.  The admin thread is the only writer: it changes the store first and
 * the table after the commit, so the table never shows what is not stored.
 *
 * Choices where Lambda is silent:
 * - An absent Qualifier is $LATEST (one URL for the unqualified function).
 * - The URL id is 32 lower-case hex digits, fixed for the URL's life;
 *   FunctionUrl is http://HOST:PORT/url/<id>/ when the broker serves
 *   HTTP (--http), else http://<id>.lambda-url.localhost/ (the Host form
 *   the server also answers).
 * - AuthType AWS_IAM: requests must be SigV4-signed (service lambda) by
 *   one of the broker's access keys (admin/keys.c); any key may invoke any
 *   AWS_IAM URL (there are no policies).
 * - InvokeMode BUFFERED (the default) or RESPONSE_STREAM (the handler's
 *   lm_response_write pieces go out as a chunked response; front/http.c).
 * - Deleting a function deletes its URLs; deleting an alias deletes the
 *   alias's URL (in the same transaction as the alias row).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admin/internal.h"
#include "jsonconv.h"
#include "lib/hmap.h"
#include "lib/urlmap.h"
#include "lib/util.h"
#include "store/store.h"

static struct {
    pthread_mutex_t mtx;
    hmap by_id;
    char base[160]; /* "http://127.0.0.1:9001", "" when not serving HTTP */
} U = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void entry_unref(admin_url *u)
{
    if (u != NULL && --u->refs == 0) {
        cJSON_Delete(u->cors);
        free(u->cors_text);
        free(u);
    }
}

/* A new entry from c (its cors text copied and parsed), refs 1. */
static admin_url *entry_new(const url_config *c)
{
    admin_url *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return NULL;
    }
    u->c = *c;
    u->c.cors = NULL;
    u->refs = 1;
    if (c->cors != NULL) {
        u->cors_text = strdup(c->cors);
        u->cors = u->cors_text != NULL ? cJSON_Parse(u->cors_text) : NULL;
        if (u->cors == NULL) {
            entry_unref(u);
            return NULL;
        }
        u->c.cors = u->cors_text;
    }
    return u;
}

/* Put u in the table in place of the entry with its id (U.mtx held). */
static void table_put(admin_url *u)
{
    hmap_node *old = hmap_get(&U.by_id, u->c.id);
    if (old != NULL) {
        hmap_remove(&U.by_id, old);
        entry_unref(hmap_entry(old, admin_url, node));
    }
    if (hmap_put(&U.by_id, &u->node, u->c.id) != 0) {
        entry_unref(u); /* out of memory: the URL is stored and comes back at restart */
    }
}

static void table_drop(const char *id)
{
    hmap_node *old = hmap_get(&U.by_id, id);
    if (old != NULL) {
        hmap_remove(&U.by_id, old);
        entry_unref(hmap_entry(old, admin_url, node));
    }
}

/* The entry of name:qual (U.mtx held), or NULL. */
static admin_url *table_find(const char *name, const char *qual)
{
    HMAP_EACH(u, admin_url, node, &U.by_id)
    {
        if (strcmp(u->c.name, name) == 0 && (qual == NULL || strcmp(u->c.qual, qual) == 0)) {
            return u;
        }
    }
    return NULL;
}

const admin_url *admin_url_ref(const char *id)
{
    pthread_mutex_lock(&U.mtx);
    hmap_node *n = hmap_get(&U.by_id, id);
    admin_url *u = n != NULL ? hmap_entry(n, admin_url, node) : NULL;
    if (u != NULL) {
        u->refs++;
    }
    pthread_mutex_unlock(&U.mtx);
    return u;
}

void admin_url_release(const admin_url *u)
{
    pthread_mutex_lock(&U.mtx);
    entry_unref((admin_url *)u);
    pthread_mutex_unlock(&U.mtx);
}

void admin_urls_set_base(const char *base)
{
    pthread_mutex_lock(&U.mtx);
    snprintf(U.base, sizeof(U.base), "%s", base != NULL ? base : "");
    pthread_mutex_unlock(&U.mtx);
}

static void load_one(const url_config *c, void *arg)
{
    (void)arg;
    admin_url *u = entry_new(c);
    if (u == NULL) {
        blog(LOG_ERROR, "function url %s of %s: cannot load it (bad Cors or no memory)", c->id,
             c->name);
        return;
    }
    table_put(u);
}

int admin_urls_load(lm_error *e)
{
    pthread_mutex_lock(&U.mtx);
    hmap_init(&U.by_id, 64);
    int rc = store_load_urls(load_one, NULL, e);
    pthread_mutex_unlock(&U.mtx);
    return rc;
}

void adm_urls_forget(const char *name, const char *qual)
{
    pthread_mutex_lock(&U.mtx);
    admin_url *u;
    while ((u = table_find(name, qual)) != NULL) {
        table_drop(u->c.id);
    }
    pthread_mutex_unlock(&U.mtx);
}

/* ---- requests ---- */

/* FunctionName (NAME, NAME:Q or an ARN) and Qualifier: the function must
 * exist, the qualifier be $LATEST or an existing alias. */
static int url_target(const msgpack_object *args, char name[NAME_MAX_LEN + 1], char qual[130],
                      lm_error *e)
{
    if (adm_get_qualified(args, name, qual, e) != LM_OK) {
        return e->code;
    }
    if (qual[0] == '\0') {
        snprintf(qual, 130, "$LATEST");
    }
    if (strcmp(qual, "$LATEST") != 0 && util_all_digits(qual)) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Qualifier %s: a function URL points at $LATEST or an alias, not a "
                           "published version",
                           qual);
    }
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(name);
    bool alias_ok = f != NULL && (strcmp(qual, "$LATEST") == 0 || registry_alias(f, qual) != NULL);
    pthread_mutex_unlock(&B.mtx);
    if (f == NULL) {
        return adm_not_found(e, name, "");
    }
    if (!alias_ok) {
        return proto_error(e, LM_E_NOT_FOUND, "Alias not found: function:%s:%s", name, qual);
    }
    return LM_OK;
}

/* AuthType, InvokeMode and Cors into c (Cors as JSON text in *cors_text,
 * malloc'd or NULL; *has_cors says whether Cors was given at all). */
static int url_fields(const msgpack_object *args, bool create, url_config *c, char **cors_text,
                      bool *has_cors, lm_error *e)
{
    const char *s = NULL;
    size_t n = 0;
    *cors_text = NULL;
    *has_cors = false;
    if (proto_get_str(args, "AuthType", create, &s, &n, e) != LM_OK) {
        return adm_bad(e, "%s is required: NONE or AWS_IAM", "AuthType");
    }
    if (s != NULL) {
        if (n == 4 && memcmp(s, "NONE", 4) == 0) {
            snprintf(c->auth, sizeof(c->auth), "NONE");
        } else if (n == 7 && memcmp(s, "AWS_IAM", 7) == 0) {
            snprintf(c->auth, sizeof(c->auth), "AWS_IAM");
        } else {
            return adm_bad(e, "%s must be NONE or AWS_IAM", "AuthType");
        }
    }
    s = NULL;
    n = 0;
    if (proto_get_str(args, "InvokeMode", false, &s, &n, e) != LM_OK) {
        return adm_bad(e, "%s must be BUFFERED or RESPONSE_STREAM", "InvokeMode");
    }
    if (s != NULL) {
        if (n == 8 && memcmp(s, "BUFFERED", 8) == 0) {
            snprintf(c->mode, sizeof(c->mode), "BUFFERED");
        } else if (n == 15 && memcmp(s, "RESPONSE_STREAM", 15) == 0) {
            snprintf(c->mode, sizeof(c->mode), "RESPONSE_STREAM");
        } else {
            return adm_bad(e, "%s must be BUFFERED or RESPONSE_STREAM", "InvokeMode");
        }
    } else if (create) {
        snprintf(c->mode, sizeof(c->mode), "BUFFERED");
    }
    const msgpack_object *cors = proto_find(args, "Cors");
    if (cors != NULL) {
        *has_cors = true;
        if (cors->type == MSGPACK_OBJECT_NIL) {
            return LM_OK;
        }
        if (cors->type != MSGPACK_OBJECT_MAP) {
            return adm_bad(e, "%s must be an object", "Cors");
        }
        cJSON *j = jsonconv_from_msgpack(cors);
        if (j == NULL) {
            return adm_bad(e, "%s must be an object of lists, a number and a boolean", "Cors");
        }
        int rc = urlmap_cors_check(j, e);
        if (rc == LM_OK && cJSON_GetArraySize(j) > 0 &&
            (*cors_text = cJSON_PrintUnformatted(j)) == NULL) {
            rc = proto_error(e, LM_E_NOMEM, NULL);
        }
        cJSON_Delete(j);
        return rc;
    }
    return LM_OK;
}

/* FunctionUrl of id under base (U.base, copied while U.mtx was held). */
static void url_of(const char *base, const char *id, char *out, size_t cap)
{
    if (base[0] != '\0') {
        snprintf(out, cap, "%s/url/%s/", base, id);
    } else {
        snprintf(out, cap, "http://%s.lambda-url.localhost/", id);
    }
}

/* One FunctionUrlConfig map (with LastModifiedTime unless create). */
static void write_url(proto_writer *w, const url_config *c, const cJSON *cors, bool create,
                      const char *base)
{
    char url[256], arn[NAME_MAX_LEN + 160];
    url_of(base, c->id, url, sizeof(url));
    if (strcmp(c->qual, "$LATEST") == 0) {
        snprintf(arn, sizeof(arn), "function:%s", c->name);
    } else {
        snprintf(arn, sizeof(arn), "function:%s:%s", c->name, c->qual);
    }
    pw_map(w, (create ? 5 : 6) + (cors != NULL ? 1 : 0));
    pw_key(w, "FunctionUrl");
    pw_str(w, url);
    pw_key(w, "FunctionArn");
    pw_str(w, arn);
    pw_key(w, "AuthType");
    pw_str(w, c->auth);
    pw_key(w, "InvokeMode");
    pw_str(w, c->mode);
    pw_key(w, "CreationTime");
    pw_str(w, c->created);
    if (!create) {
        pw_key(w, "LastModifiedTime");
        pw_str(w, c->modified);
    }
    if (cors != NULL) {
        pw_key(w, "Cors");
        jsonconv_pack(w, cors, 0);
    }
}

static nng_msg *reply_url(const admin_url *u, bool create)
{
    proto_writer w;
    char base[sizeof(U.base)];
    pthread_mutex_lock(&U.mtx);
    memcpy(base, U.base, sizeof(base));
    pthread_mutex_unlock(&U.mtx);
    nng_msg *m = proto_ok_begin(&w);
    if (m != NULL) {
        write_url(&w, &u->c, u->cors, create, base);
    }
    return proto_reply_end(&w, m);
}

nng_msg *admin_url_create(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    url_config c = {0};
    char *cors = NULL;
    bool has_cors;
    if (url_target(args, c.name, c.qual, e) != LM_OK ||
        url_fields(args, true, &c, &cors, &has_cors, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&U.mtx);
    bool exists = table_find(c.name, c.qual) != NULL;
    pthread_mutex_unlock(&U.mtx);
    if (exists) {
        free(cors);
        proto_error(e, LM_E_CONFLICT,
                    "Failed to create function url config for "
                    "[functionArn = function:%s:%s]. Error message:  FunctionUrlConfig exists "
                    "for this Lambda function",
                    c.name, c.qual);
        return NULL;
    }
    util_random_hex(c.id, URL_ID_LEN / 2);
    util_iso8601_now(c.created, sizeof(c.created));
    memcpy(c.modified, c.created, sizeof(c.modified));
    c.cors = cors;
    admin_url *u = store_put_url(&c, e) == LM_OK ? entry_new(&c) : NULL;
    free(cors);
    if (u == NULL) {
        if (e->code == LM_OK) {
            proto_error(e, LM_E_NOMEM, NULL);
        }
        return NULL;
    }
    pthread_mutex_lock(&U.mtx);
    u->refs++;
    table_put(u);
    pthread_mutex_unlock(&U.mtx);
    blog(LOG_INFO, "function url %s for %s:%s", c.id, c.name, c.qual);
    nng_msg *m = reply_url(u, true);
    admin_url_release(u);
    return m;
}

/* The entry for the request's function and qualifier, ref taken, or NULL
 * with *e set. */
static admin_url *url_lookup(const msgpack_object *args, lm_error *e)
{
    char name[NAME_MAX_LEN + 1], qual[130];
    if (url_target(args, name, qual, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&U.mtx);
    admin_url *u = table_find(name, qual);
    if (u != NULL) {
        u->refs++;
    }
    pthread_mutex_unlock(&U.mtx);
    if (u == NULL) {
        proto_error(e, LM_E_NOT_FOUND, "The resource you requested does not exist.");
    }
    return u;
}

nng_msg *admin_url_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    admin_url *u = url_lookup(args, e);
    nng_msg *m = u != NULL ? reply_url(u, false) : NULL;
    if (u != NULL) {
        admin_url_release(u);
    }
    return m;
}

nng_msg *admin_url_update(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    admin_url *old = url_lookup(args, e);
    if (old == NULL) {
        return NULL;
    }
    url_config c = old->c;
    char *cors = NULL;
    bool has_cors;
    admin_url *u = NULL;
    if (url_fields(args, false, &c, &cors, &has_cors, e) == LM_OK) {
        c.cors = has_cors ? cors : old->c.cors;
        util_iso8601_now(c.modified, sizeof(c.modified));
        if (store_put_url(&c, e) == LM_OK && (u = entry_new(&c)) == NULL) {
            proto_error(e, LM_E_NOMEM, NULL);
        }
    }
    free(cors);
    admin_url_release(old);
    if (u == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&U.mtx);
    u->refs++;
    table_put(u);
    pthread_mutex_unlock(&U.mtx);
    nng_msg *m = reply_url(u, false);
    admin_url_release(u);
    return m;
}

nng_msg *admin_url_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    admin_url *u = url_lookup(args, e);
    if (u == NULL) {
        return NULL;
    }
    int rc = store_delete_url(u->c.id, e);
    if (rc == LM_OK) {
        pthread_mutex_lock(&U.mtx);
        table_drop(u->c.id);
        pthread_mutex_unlock(&U.mtx);
        blog(LOG_INFO, "deleted function url %s of %s:%s", u->c.id, u->c.name, u->c.qual);
    }
    admin_url_release(u);
    return rc == LM_OK ? adm_empty_reply() : NULL;
}

nng_msg *admin_url_list(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (adm_get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    bool found = registry_find(name) != NULL;
    pthread_mutex_unlock(&B.mtx);
    if (!found) {
        adm_not_found(e, name, "");
        return NULL;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&U.mtx);
    uint32_t n = 0;
    HMAP_EACH(u, admin_url, node, &U.by_id)
    {
        n += strcmp(u->c.name, name) == 0;
    }
    pw_map(&w, 1);
    pw_key(&w, "FunctionUrlConfigs");
    pw_array(&w, n);
    HMAP_EACH(u, admin_url, node, &U.by_id)
    {
        if (strcmp(u->c.name, name) == 0) {
            write_url(&w, &u->c, u->cors, false, U.base);
        }
    }
    pthread_mutex_unlock(&U.mtx);
    return proto_reply_end(&w, m);
}
