/*
 * broker/messaging/policy.c — SNS filter policies: the check of a policy
 * given to Subscribe, and the per-topic cache of compiled subscriptions
 * that mq_publish matches against.
 *
 * Policies are the filter engine's patterns (filter/filter.h): an
 * attribute-scope policy is matched against the document
 * {"NAME": value, …} built from the message attributes
 * (mq_attributes_filter_doc), a body-scope policy against the message
 * itself when it is a JSON object (a body that is not JSON matches no
 * body-scope policy, as SNS).  SNS's limits on top of the engine's: at
 * most MQ_POLICY_KEYS_MAX leaf keys (a key counted once per place it
 * appears, $or alternatives included) and MQ_POLICY_COMBINATIONS_MAX
 * combinations (the product of the value counts of the leaves of an
 * object, $or adding its alternatives); an attribute-scope policy is flat
 * (each member is a value list or a $or of flat objects).  A policy is at
 * most FILTER_MAX_PATTERN_BYTES (4 KiB; SNS allows 256 KiB).
 *
 * The cache.  Each topic row carries a generation that Subscribe and
 * Unsubscribe replace with a random 64-bit value (not an increment: a
 * rolled-back subscribe followed by another one must not reuse the
 * generation a cache was built at), and mq_rollback drops every cached
 * topic.  A topic's cache entry holds its subscriptions in
 * order and two filter_sets (one per scope) built once per generation,
 * so a publish costs one indexed read of the topic row and the filter
 * sets' match, never a parse of a policy or a read of mq_subs.  Several
 * instances on one file stay right: the generation is read in the
 * publish's transaction.  At most MQ_TOPIC_CACHE_MAX topics are cached;
 * the least recently used goes first.
 */
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "proto.h"

#include "mq_internal.h"

#define MQ_TOPIC_CACHE_MAX 64

struct mq_topic_cache {
    mq_topic_cache *next;
    int64_t tid, gen;
    mq_csub *subs;
    size_t n;
    bool *always; /* no policy: matches every message */
    filter_set *attr, *body; /* compiled policies per scope */
    size_t *attr_sub, *body_sub; /* pattern index -> subscription index */
    uint32_t *scratch; /* room for n matched indices */
};

/* ---- the check ---- */

typedef struct pol_count {
    size_t keys;
    double combos;
} pol_count;

static int count_obj(const cJSON *o, bool flat, int depth, pol_count *c, lm_error *e);

static int count_member(const cJSON *v, bool flat, int depth, double *combos, pol_count *c,
                        lm_error *e)
{
    if (strcmp(v->string, "$or") == 0 && cJSON_IsArray(v)) {
        double sum = 0;
        for (const cJSON *alt = v->child; alt != NULL; alt = alt->next) {
            if (!cJSON_IsObject(alt)) {
                return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                                   "Invalid parameter: FilterPolicy: $or takes objects");
            }
            pol_count sub = {0, 1};
            int rc = count_obj(alt, flat, depth + 1, &sub, e);
            if (rc != LM_OK) {
                return rc;
            }
            c->keys += sub.keys;
            sum += sub.combos;
        }
        *combos *= sum > 0 ? sum : 1;
        return LM_OK;
    }
    if (cJSON_IsArray(v)) {
        c->keys++;
        int k = cJSON_GetArraySize(v);
        *combos *= k > 0 ? k : 1;
        return LM_OK;
    }
    if (cJSON_IsObject(v) && !flat) {
        pol_count sub = {0, 1};
        int rc = count_obj(v, flat, depth + 1, &sub, e);
        c->keys += sub.keys;
        *combos *= sub.combos;
        return rc;
    }
    char qb[96];
    return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                       "Invalid parameter: FilterPolicy: %s must be a list of values%s",
                       mq_q(qb, sizeof(qb), v->string),
                       flat ? " (attribute policies are flat)" : "");
}

static int count_obj(const cJSON *o, bool flat, int depth, pol_count *c, lm_error *e)
{
    if (depth > (int)FILTER_MAX_PATTERN_DEPTH) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                           "Invalid parameter: FilterPolicy: nests too deeply");
    }
    double combos = 1;
    for (const cJSON *v = o->child; v != NULL; v = v->next) {
        int rc = count_member(v, flat, depth, &combos, c, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
    c->combos = combos;
    return LM_OK;
}

static bool scope_of(const char *scope, bool *body)
{
    if (scope == NULL || strcmp(scope, "MessageAttributes") == 0) {
        *body = false;
        return true;
    }
    *body = strcmp(scope, "MessageBody") == 0;
    return *body;
}

int mq_filter_policy_check(const char *policy, size_t len, const char *scope, lm_error *e)
{
    bool body = false;
    if (!scope_of(scope, &body)) {
        char qb[96];
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                           "Invalid parameter: FilterPolicyScope: %s is not MessageAttributes "
                           "or MessageBody",
                           mq_q(qb, sizeof(qb), scope));
    }
    if (policy == NULL || len > FILTER_MAX_PATTERN_BYTES) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER, "Invalid parameter: FilterPolicy: %s",
                           policy == NULL ? "missing" : "longer than 4096 bytes");
    }
    cJSON *j = mq_json_parse(policy, len, LM_E_SNS_INVALID_PARAMETER, "FilterPolicy", e);
    if (j == NULL) {
        return LM_E_SNS_INVALID_PARAMETER;
    }
    int rc = LM_OK;
    pol_count c = {0, 1};
    if (!cJSON_IsObject(j) || j->child == NULL) {
        rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                         "Invalid parameter: FilterPolicy: must be a non-empty JSON object");
    } else {
        rc = count_obj(j, !body, 0, &c, e);
    }
    cJSON_Delete(j);
    if (rc == LM_OK && c.keys > MQ_POLICY_KEYS_MAX) {
        rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                         "Invalid parameter: FilterPolicy: Filter policy can not have more "
                         "than %d keys",
                         MQ_POLICY_KEYS_MAX);
    }
    if (rc == LM_OK && c.combos > MQ_POLICY_COMBINATIONS_MAX) {
        rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                         "Invalid parameter: FilterPolicy: Filter policy is too complex (%.0f "
                         "combinations, at most %d)",
                         c.combos, MQ_POLICY_COMBINATIONS_MAX);
    }
    if (rc == LM_OK) {
        filter_error fe;
        filter *f = filter_compile(policy, len, &fe);
        if (f == NULL) {
            rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER, "Invalid parameter: FilterPolicy: %s",
                             fe.message);
        }
        filter_destroy(f);
    }
    return rc;
}

/* ---- the cache ---- */

static void cache_entry_free(mq_topic_cache *c)
{
    if (c == NULL) {
        return;
    }
    free(c->subs);
    free(c->always);
    filter_set_destroy(c->attr);
    filter_set_destroy(c->body);
    free(c->attr_sub);
    free(c->body_sub);
    free(c->scratch);
    free(c);
}

void mq_topic_cache_free(mq_topic_cache *c)
{
    while (c != NULL) {
        mq_topic_cache *next = c->next;
        cache_entry_free(c);
        c = next;
    }
}

void mq_topic_cache_drop(mq *m, int64_t tid)
{
    for (mq_topic_cache **p = &m->topics; *p != NULL; p = &(*p)->next) {
        if ((*p)->tid == tid) {
            mq_topic_cache *c = *p;
            *p = c->next;
            cache_entry_free(c);
            m->ntopics--;
            return;
        }
    }
}

static int cache_grow(mq_topic_cache *c, size_t cap)
{
    mq_csub *s = realloc(c->subs, cap * sizeof(*s));
    if (s != NULL) {
        c->subs = s;
    }
    bool *a = realloc(c->always, cap * sizeof(*a));
    if (a != NULL) {
        c->always = a;
    }
    size_t *x = realloc(c->attr_sub, cap * sizeof(*x));
    if (x != NULL) {
        c->attr_sub = x;
    }
    size_t *y = realloc(c->body_sub, cap * sizeof(*y));
    if (y != NULL) {
        c->body_sub = y;
    }
    uint32_t *z = realloc(c->scratch, cap * sizeof(*z));
    if (z != NULL) {
        c->scratch = z;
    }
    return s != NULL && a != NULL && x != NULL && y != NULL && z != NULL ? 0 : -1;
}

/* Add the subscription of row st to c (compiling its policy). */
static int cache_add(mq_topic_cache *c, sqlite3_stmt *st, size_t *cap, lm_error *e)
{
    if (c->n == *cap) {
        *cap = *cap != 0 ? *cap * 2 : 8;
        if (cache_grow(c, *cap) != 0) {
            return proto_error(e, LM_E_NOMEM, NULL);
        }
    }
    mq_csub *s = &c->subs[c->n];
    s->sid = sqlite3_column_int64(st, 0);
    mq_fmt(s->uuid, "%s", mq_col_text(st, 1));
    s->lambda = strcmp(mq_col_text(st, 2), "lambda") == 0;
    mq_fmt(s->endpoint, "%s", mq_col_text(st, 3));
    s->raw = sqlite3_column_int(st, 4) != 0;
    c->always[c->n] = sqlite3_column_type(st, 5) == SQLITE_NULL;
    if (!c->always[c->n]) {
        bool body = strcmp(mq_col_text(st, 6), "MessageBody") == 0;
        const char *p = mq_col_text(st, 5);
        filter_error fe;
        int k = filter_set_add(body ? c->body : c->attr, p, strlen(p), &fe);
        if (k < 0) {
            /* checked on Subscribe; a policy that no longer compiles
             * (engine changed) matches nothing rather than everything */
            c->always[c->n] = false;
        } else {
            (body ? c->body_sub : c->attr_sub)[k] = c->n;
        }
    }
    c->n++;
    return LM_OK;
}

static mq_topic_cache *cache_load(mq *m, int64_t tid, int64_t gen, lm_error *e)
{
    mq_topic_cache *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->attr = filter_set_create()) == NULL ||
        (c->body = filter_set_create()) == NULL) {
        cache_entry_free(c);
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    c->tid = tid;
    c->gen = gen;
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT sid, uuid, protocol, endpoint, raw, policy, scope "
                               "FROM mq_subs WHERE tid=?1 ORDER BY sid",
                               e);
    if (st == NULL) {
        cache_entry_free(c);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, tid);
    size_t cap = 0;
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        if (cache_add(c, st, &cap, e) != LM_OK) {
            sqlite3_reset(st);
            cache_entry_free(c);
            return NULL;
        }
    }
    if (r < 0) {
        cache_entry_free(c);
        return NULL;
    }
    return c;
}

mq_topic_cache *mq_topic_cache_get(mq *m, int64_t tid, int64_t gen, lm_error *e)
{
    for (mq_topic_cache **p = &m->topics; *p != NULL; p = &(*p)->next) {
        mq_topic_cache *c = *p;
        if (c->tid == tid) {
            if (c->gen == gen) {
                *p = c->next; /* move to the front: most recently used */
                c->next = m->topics;
                m->topics = c;
                return c;
            }
            mq_topic_cache_drop(m, tid);
            break;
        }
    }
    mq_topic_cache *c = cache_load(m, tid, gen, e);
    if (c == NULL) {
        return NULL;
    }
    if (m->ntopics >= MQ_TOPIC_CACHE_MAX) {
        mq_topic_cache **p = &m->topics;
        while ((*p)->next != NULL) {
            p = &(*p)->next;
        }
        cache_entry_free(*p);
        *p = NULL;
        m->ntopics--;
    }
    c->next = m->topics;
    m->topics = c;
    m->ntopics++;
    return c;
}

size_t mq_topic_cache_count(const mq_topic_cache *c)
{
    return c->n;
}

const mq_csub *mq_topic_cache_sub(const mq_topic_cache *c, size_t i)
{
    return &c->subs[i];
}

static void set_match(filter_set *s, const size_t *map, const char *doc, size_t len,
                      uint32_t *scratch, bool *match)
{
    if (doc == NULL || filter_set_count(s) == 0) {
        return;
    }
    filter_error fe;
    int k = filter_set_match(s, doc, len, scratch, &fe);
    for (int i = 0; i < k; i++) {
        match[map[scratch[i]]] = true; /* k < 0: not JSON, nothing matches */
    }
}

int mq_topic_cache_match(mq_topic_cache *c, const char *attr_doc, const char *body, size_t body_len,
                         bool *match, lm_error *e)
{
    (void)e;
    for (size_t i = 0; i < c->n; i++) {
        match[i] = c->always[i];
    }
    set_match(c->attr, c->attr_sub, attr_doc, attr_doc != NULL ? strlen(attr_doc) : 0, c->scratch,
              match);
    set_match(c->body, c->body_sub, body, body_len, c->scratch, match);
    return LM_OK;
}
