/*
 * filter/set.c — many patterns behind one index (filter_set): "which of
 * these patterns match this event?" at a cost that grows far more slowly
 * than the number of patterns.
 *
 * filter_set indexes every pattern by its "indexable" conditions: leaves
 * reached through plain object fields (not under $or) whose values are all
 * exact values or case-sensitive prefixes (kinds up to MK_PREFIX).  Each
 * such leaf is a condition with an id; a hash table maps (field path, kind,
 * value) to the conditions that accept it, and each path keeps the set of
 * prefix lengths in use.  Matching one event walks only the event members
 * whose paths are indexed (a trie of field names), looks each leaf value up
 * once (plus once per distinct prefix length), counts hits per pattern, and
 * fully evaluates (filter_node_match) only the patterns all of whose
 * indexed conditions were hit, plus the patterns with no indexable
 * condition.  Cost per event: O(event size + hits + candidates),
 * independent of the number of patterns that cannot match.
 *
 * Counters live in a per-thread scratch that is always left zeroed;
 * per-condition stamps (a generation counter) prevent counting one
 * condition twice when an array holds several accepted values.  A built
 * set is immutable, so any number of threads may match it at once; adding
 * needs exclusive access.
 */
#include "filter_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Sets: an index over many patterns                                        */
/* ------------------------------------------------------------------------ */

/* A trie of indexed field paths. */
struct tnode {
    char *key;
    struct tnode **kids;
    uint32_t nkids, capkids;
    bool indexed; /* some condition sits on this path */
    uint32_t *plens; /* distinct prefix lengths in use, ascending */
    uint32_t nplens;
};

/* (path, kind, value) → the conditions that accept it. */
struct hent {
    uint64_t h;
    const struct tnode *path;
    char *val;
    size_t vlen;
    uint32_t *ids;
    uint32_t n, cap;
    uint8_t kind;
};

struct filter_set {
    filter **pats;
    uint32_t *need; /* indexed conditions per pattern; UINT32_MAX: none */
    size_t npats, cappats;
    uint32_t *always; /* patterns evaluated for every event, ascending */
    size_t nalways;
    uint32_t *cond_pat;
    size_t nconds, capconds;
    bool numtext; /* some pattern has an exact number */
    struct tnode root;
    struct hent *ht;
    size_t htcap, htused;
};

/* Per-thread scratch, always left with cnt[] all zero. */
static _Thread_local struct {
    uint32_t *cnt, *touched, *cand, *stamp;
    size_t npat, ncond;
    uint32_t gen;
} tls;

static uint64_t idx_hash(const struct tnode *path, uint8_t kind, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)path;
    size_t i;

    h = (h ^ kind) * 1099511628211ull;
    for (i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static struct hent *ht_find(const filter_set *s, const struct tnode *path, uint8_t kind,
                            const char *v, size_t n, uint64_t h)
{
    size_t mask = s->htcap - 1, i;

    if (s->htcap == 0) {
        return NULL;
    }
    for (i = h & mask; s->ht[i].ids != NULL; i = (i + 1) & mask) {
        struct hent *e = &s->ht[i];
        if (e->h == h && e->path == path && e->kind == kind && e->vlen == n &&
            memcmp(e->val, v, n) == 0) {
            return e;
        }
    }
    return NULL;
}

static int ht_grow(filter_set *s)
{
    size_t cap = s->htcap ? s->htcap * 2 : 64, i, j;
    struct hent *t = calloc(cap, sizeof(*t));

    if (t == NULL) {
        return -1;
    }
    for (i = 0; i < s->htcap; i++) {
        if (s->ht[i].ids != NULL) {
            for (j = s->ht[i].h & (cap - 1); t[j].ids != NULL; j = (j + 1) & (cap - 1)) {
            }
            t[j] = s->ht[i];
        }
    }
    free(s->ht);
    s->ht = t;
    s->htcap = cap;
    return 0;
}

/* Add condition id to the posting list of (path, kind, value). */
static int ht_add(filter_set *s, const struct tnode *path, uint8_t kind, const char *v, size_t n,
                  uint32_t id)
{
    uint64_t h = idx_hash(path, kind, v, n);
    struct hent *e = ht_find(s, path, kind, v, n, h);
    size_t i;

    if (e == NULL) {
        if ((s->htused + 1) * 2 > s->htcap && ht_grow(s) < 0) {
            return -1;
        }
        for (i = h & (s->htcap - 1); s->ht[i].ids != NULL; i = (i + 1) & (s->htcap - 1)) {
        }
        e = &s->ht[i];
        e->val = malloc(n + 1);
        e->ids = malloc(4 * sizeof(*e->ids));
        if (e->val == NULL || e->ids == NULL) {
            free(e->val);
            free(e->ids);
            memset(e, 0, sizeof(*e));
            return -1;
        }
        memcpy(e->val, v, n);
        e->h = h;
        e->path = path;
        e->kind = kind;
        e->vlen = n;
        e->cap = 4;
        s->htused++;
    }
    if (e->n > 0 && e->ids[e->n - 1] == id) {
        return 0;
    }
    if (e->n == e->cap) {
        uint32_t *ids = realloc(e->ids, 2 * e->cap * sizeof(*ids));
        if (ids == NULL) {
            return -1;
        }
        e->ids = ids;
        e->cap *= 2;
    }
    e->ids[e->n++] = id;
    return 0;
}

static struct tnode *trie_find(const struct tnode *t, const char *key)
{
    uint32_t i;
    for (i = 0; i < t->nkids; i++) {
        if (t->kids[i]->key[0] == key[0] && strcmp(t->kids[i]->key, key) == 0) {
            return t->kids[i];
        }
    }
    return NULL;
}

static struct tnode *trie_child(struct tnode *t, const char *key)
{
    struct tnode *k = trie_find(t, key);

    if (k != NULL) {
        return k;
    }
    if (t->nkids == t->capkids) {
        uint32_t cap = t->capkids ? t->capkids * 2 : 4;
        struct tnode **kids = realloc(t->kids, cap * sizeof(*kids));
        if (kids == NULL) {
            return NULL;
        }
        t->kids = kids;
        t->capkids = cap;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL || (k->key = strdup(key)) == NULL) {
        free(k);
        return NULL;
    }
    t->kids[t->nkids++] = k;
    return k;
}

static void trie_free(struct tnode *t)
{
    uint32_t i;
    for (i = 0; i < t->nkids; i++) {
        trie_free(t->kids[i]);
        free(t->kids[i]);
    }
    free(t->kids);
    free(t->key);
    free(t->plens);
}

static int trie_add_plen(struct tnode *t, uint32_t len)
{
    uint32_t i, *p;

    for (i = 0; i < t->nplens && t->plens[i] < len; i++) {
    }
    if (i < t->nplens && t->plens[i] == len) {
        return 0;
    }
    p = realloc(t->plens, (t->nplens + 1) * sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    memmove(p + i + 1, p + i, (t->nplens - i) * sizeof(*p));
    p[i] = len;
    t->plens = p;
    t->nplens++;
    return 0;
}

static bool leaf_indexable(const struct leaf *l)
{
    size_t k;
    for (k = 0; k < l->n; k++) {
        if (l->m[k].kind > MK_PREFIX) {
            return false;
        }
    }
    return true;
}

static bool node_indexable(const struct node *n)
{
    size_t i;
    for (i = 0; i < n->nf; i++) {
        if (n->f[i].child != NULL ? node_indexable(n->f[i].child) : leaf_indexable(&n->f[i].leaf)) {
            return true;
        }
    }
    return false;
}

static const uint8_t kind_code[] = {
    [MK_STR] = 's',   [MK_NUM] = 'n',  [MK_TRUE] = 't',
    [MK_FALSE] = 'f', [MK_NULL] = 'z', [MK_PREFIX] = 'p',
};

static int index_leaf(filter_set *s, struct tnode *t, const struct leaf *l, uint32_t id)
{
    size_t k;
    for (k = 0; k < l->n; k++) {
        const struct matcher *m = &l->m[k];
        const char *v = m->s != NULL ? m->s : "";
        if (ht_add(s, t, kind_code[m->kind], v, m->n, id) < 0) {
            return -1;
        }
        if (m->kind == MK_PREFIX && trie_add_plen(t, (uint32_t)m->n) < 0) {
            return -1;
        }
    }
    t->indexed = true;
    return 0;
}

/* Index the indexable conditions of n (under trie node t) for pattern pat;
 * *count receives the number of conditions.  Recursion is bounded by the
 * pattern depth limit. */
static int index_node(filter_set *s, struct tnode *t, const struct node *n, uint32_t pat,
                      uint32_t *count)
{
    size_t i;

    for (i = 0; i < n->nf; i++) {
        const struct field *f = &n->f[i];
        struct tnode *kid;
        if (f->child != NULL ? !node_indexable(f->child) : !leaf_indexable(&f->leaf)) {
            continue;
        }
        kid = trie_child(t, f->key);
        if (kid == NULL) {
            return -1;
        }
        if (f->child != NULL) {
            if (index_node(s, kid, f->child, pat, count) < 0) {
                return -1;
            }
            continue;
        }
        if (s->nconds == s->capconds) {
            size_t cap = s->capconds ? s->capconds * 2 : 64;
            uint32_t *cp = realloc(s->cond_pat, cap * sizeof(*cp));
            if (cp == NULL) {
                return -1;
            }
            s->cond_pat = cp;
            s->capconds = cap;
        }
        s->cond_pat[s->nconds] = pat;
        if (index_leaf(s, kid, &f->leaf, (uint32_t)s->nconds++) < 0) {
            return -1;
        }
        (*count)++;
    }
    return 0;
}

filter_set *filter_set_create(void)
{
    return calloc(1, sizeof(filter_set));
}

void filter_set_destroy(filter_set *s)
{
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; i < s->npats; i++) {
        filter_destroy(s->pats[i]);
    }
    for (i = 0; i < s->htcap; i++) {
        free(s->ht[i].val);
        free(s->ht[i].ids);
    }
    trie_free(&s->root);
    free(s->ht);
    free(s->pats);
    free(s->need);
    free(s->always);
    free(s->cond_pat);
    free(s);
}

size_t filter_set_count(const filter_set *s)
{
    return s != NULL ? s->npats : 0;
}

static int set_reserve(filter_set *s)
{
    size_t cap;
    void *p;

    if (s->npats < s->cappats) {
        return 0;
    }
    cap = s->cappats ? s->cappats * 2 : 16;
    if ((p = realloc(s->pats, cap * sizeof(*s->pats))) == NULL) {
        return -1;
    }
    s->pats = p;
    if ((p = realloc(s->need, cap * sizeof(*s->need))) == NULL) {
        return -1;
    }
    s->need = p;
    if ((p = realloc(s->always, cap * sizeof(*s->always))) == NULL) {
        return -1;
    }
    s->always = p;
    s->cappats = cap;
    return 0;
}

int filter_set_add(filter_set *s, const char *pattern, size_t len, filter_error *err)
{
    filter *f;
    uint32_t idx, count = 0;

    filter_clear_err(err);
    if (s == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "set is NULL");
    }
    if (s->npats >= FILTER_MAX_SET_PATTERNS) {
        return filter_set_err(err, FILTER_E_TOO_MANY_PATTERNS, 0, "a set holds at most %u patterns",
                              FILTER_MAX_SET_PATTERNS);
    }
    if (set_reserve(s) < 0) {
        return filter_set_err(err, FILTER_E_NOMEM, 0, "out of memory");
    }
    f = filter_compile(pattern, len, err);
    if (f == NULL) {
        return -1;
    }
    idx = (uint32_t)s->npats;
    s->pats[s->npats++] = f;
    s->numtext |= f->numtext;
    /* If indexing fails half way the pattern is still correct: it is then
     * evaluated for every event, and need = UINT32_MAX keeps its partial
     * conditions from ever making it a (duplicate) candidate. */
    if (index_node(s, &s->root, &f->root, idx, &count) < 0 || count == 0) {
        s->need[idx] = UINT32_MAX;
        s->always[s->nalways++] = idx;
    } else {
        s->need[idx] = count;
    }
    return (int)idx;
}

void filter_thread_release(void)
{
    free(tls.cnt);
    free(tls.touched);
    free(tls.cand);
    free(tls.stamp);
    memset(&tls, 0, sizeof(tls));
}

static int grow_zeroed(uint32_t **p, size_t old, size_t n)
{
    uint32_t *q = realloc(*p, n * sizeof(*q));
    if (q == NULL) {
        return -1;
    }
    memset(q + old, 0, (n - old) * sizeof(*q));
    *p = q;
    return 0;
}

static int scratch_reserve(const filter_set *s)
{
    size_t np = s->npats + 1, nc = s->nconds + 1;

    if (np > tls.npat) {
        if (grow_zeroed(&tls.cnt, tls.npat, np) < 0 ||
            grow_zeroed(&tls.touched, tls.npat, np) < 0 ||
            grow_zeroed(&tls.cand, tls.npat, np) < 0) {
            return -1;
        }
        tls.npat = np;
    }
    if (nc > tls.ncond) {
        if (grow_zeroed(&tls.stamp, tls.ncond, nc) < 0) {
            return -1;
        }
        tls.ncond = nc;
    }
    if (++tls.gen == 0) {
        memset(tls.stamp, 0, tls.ncond * sizeof(*tls.stamp));
        tls.gen = 1;
    }
    return 0;
}

struct walk {
    const filter_set *s;
    const struct mctx *c;
    size_t ntouched;
};

static void hit(struct walk *w, const struct tnode *t, uint8_t kind, const char *v, size_t n)
{
    const struct hent *e = ht_find(w->s, t, kind, v, n, idx_hash(t, kind, v, n));
    uint32_t i;

    if (e == NULL) {
        return;
    }
    for (i = 0; i < e->n; i++) {
        uint32_t id = e->ids[i], p;
        if (tls.stamp[id] == tls.gen) {
            continue;
        }
        tls.stamp[id] = tls.gen;
        p = w->s->cond_pat[id];
        if (tls.cnt[p]++ == 0) {
            tls.touched[w->ntouched++] = p;
        }
    }
}

static void hit_values(struct walk *w, const struct tnode *t, const cJSON *v)
{
    struct val x;
    uint32_t k;

    if (cJSON_IsArray(v)) {
        for (v = v->child; v != NULL; v = v->next) {
            hit_values(w, t, v);
        }
        return;
    }
    filter_val_make(&x, v, w->c);
    switch (x.t) {
    case V_STR:
        hit(w, t, 's', x.s, x.n);
        for (k = 0; k < t->nplens && t->plens[k] <= x.n; k++) {
            hit(w, t, 'p', x.s, t->plens[k]);
        }
        break;
    case V_NUM:
        if (w->s->numtext) {
            filter_val_numtext(&x);
            hit(w, t, 'n', x.s, x.n);
        }
        break;
    case V_TRUE:
    case V_FALSE:
    case V_NULL: hit(w, t, x.t == V_TRUE ? 't' : x.t == V_FALSE ? 'f' : 'z', "", 0); break;
    case V_NONE: break;
    }
}

/* Visit only event members whose paths are in the trie; arrays flatten. */
static void walk_event(struct walk *w, const struct tnode *t, const cJSON *v)
{
    const cJSON *m;

    if (cJSON_IsArray(v)) {
        for (v = v->child; v != NULL; v = v->next) {
            walk_event(w, t, v);
        }
        return;
    }
    if (!cJSON_IsObject(v)) {
        return;
    }
    for (m = v->child; m != NULL; m = m->next) {
        const struct tnode *kid = m->string != NULL ? trie_find(t, m->string) : NULL;
        if (kid == NULL) {
            continue;
        }
        if (kid->indexed) {
            hit_values(w, kid, m);
        }
        if (kid->nkids > 0) {
            walk_event(w, kid, m);
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int set_match_tree(const filter_set *s, const cJSON *root, const struct mctx *c,
                          uint32_t *matched, filter_error *err)
{
    struct walk w = {s, c, 0};
    size_t i, ci, nc = 0, nm = 0;

    if (s == NULL || matched == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "set or result array is NULL");
    }
    if (scratch_reserve(s) < 0) {
        return filter_set_err(err, FILTER_E_NOMEM, 0, "out of memory");
    }
    if (s->htused > 0) {
        walk_event(&w, &s->root, root);
    }
    for (i = 0; i < w.ntouched; i++) {
        uint32_t p = tls.touched[i];
        if (tls.cnt[p] == s->need[p]) {
            tls.cand[nc++] = p;
        }
        tls.cnt[p] = 0;
    }
    if (nc > 1) {
        qsort(tls.cand, nc, sizeof(*tls.cand), cmp_u32);
    }
    /* Merge the sorted candidates with the sorted always-list. */
    for (i = 0, ci = 0; ci < nc || i < s->nalways;) {
        uint32_t p;
        if (ci < nc && (i == s->nalways || tls.cand[ci] < s->always[i])) {
            p = tls.cand[ci++];
        } else {
            p = s->always[i++];
        }
        if (filter_node_match(&s->pats[p]->root, root, c)) {
            matched[nm++] = p;
        }
    }
    return (int)nm;
}

int filter_set_match(const filter_set *s, const char *event, size_t len, uint32_t *matched,
                     filter_error *err)
{
    struct doc d;
    struct mctx c;
    int r;

    filter_clear_err(err);
    if (s == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "set is NULL");
    }
    if (filter_doc_open(&d, event, len, false, s->numtext, err) < 0) {
        return -1;
    }
    c = filter_doc_mctx(&d);
    r = set_match_tree(s, d.root, &c, matched, err);
    filter_doc_close(&d);
    return r;
}

int filter_set_match_event(const filter_set *s, const filter_event *ev, uint32_t *matched,
                           filter_error *err)
{
    struct mctx c;

    filter_clear_err(err);
    if (ev == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "event is NULL");
    }
    c = filter_event_mctx(ev);
    return set_match_tree(s, filter_event_json(ev), &c, matched, err);
}

int filter_set_match_json(const filter_set *s, const cJSON *event, uint32_t *matched,
                          filter_error *err)
{
    struct mctx c = {NULL, NULL, 0};

    filter_clear_err(err);
    if (filter_check_json(event, err) < 0) {
        return -1;
    }
    return set_match_tree(s, event, &c, matched, err);
}
