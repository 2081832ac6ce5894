/*
 * filter/match.c — the filter engine's matcher: does an event satisfy a
 * compiled pattern?  Also parsed events (filter_event) and the one-pattern
 * entry points filter_match, filter_match_event, filter_match_json.
 *
 * SEMANTICS (where AWS is silent, these are our choices):
 *   - Pattern fields are ANDed; values in one array are ORed.  A named field
 *     must be present unless its leaf holds {"exists": false}.
 *   - `$or` branches are ANDed with their sibling conditions.
 *   - An event array matches if any element matches.  For arrays of
 *     objects, every condition of one pattern object must hold within one
 *     element (never combining fields of two elements); exists:false is
 *     judged per element the same way.  Nested arrays flatten.
 *   - Leaf values are strings, numbers, booleans and null.  An object or an
 *     empty array is not a leaf value: exists:true does not match it and
 *     exists:false does.  `null` is a value: exists:true matches it, and
 *     the pattern [null] matches only JSON null (not missing, not "").
 *   - A pattern object under a field that is missing, a scalar or an empty
 *     array is judged against "nothing": only exists:false conditions hold.
 *   - Exact numbers compare the JSON number text (300 != 300.0 != 3e2), as
 *     EventBridge does; so does anything-but with numbers (anything-but 35
 *     matches 35.0), so that a number is either [35] or anything-but [35].
 *     `numeric` compares IEEE-754 doubles and only matches JSON numbers.
 *   - A string never equals a number: ["5"] does not match 5, prefix and
 *     suffix and wildcard and cidr only match strings.
 *   - anything-but matches a present leaf value that none of its inner
 *     conditions matches (so anything-but "x" matches 5, true and null); it
 *     never matches a missing field or an empty array.
 *   - Matching is case-sensitive and byte-exact (after JSON unescaping)
 *     except under equals-ignore-case (fold.c).
 *   - Duplicate keys in events: the last one wins.
 *
 * Each event leaf value is looked at once (struct val) and tested against
 * every condition of its leaf; a number's text is taken from the scanner's
 * spans (struct mctx), or, for a tree the caller parsed, formatted from the
 * double only when an exact-number condition asks for it.  Nothing here
 * allocates.
 */
#include "filter_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Matching                                                                 */
/* ------------------------------------------------------------------------ */

/* Shortest "%.Ng" text that reads back as d (for caller-parsed trees). */
static void canonical_number(struct val *v)
{
    int prec;
    for (prec = 15; prec <= 17; prec++) {
        snprintf(v->buf, sizeof(v->buf), "%.*g", prec, v->d);
        if (strtod(v->buf, NULL) == v->d) {
            break;
        }
    }
    v->s = v->buf;
    v->n = strlen(v->buf);
}

/* A number's text: from the source, else formatted on first use. */
void filter_val_numtext(struct val *v)
{
    if (v->s == NULL) {
        canonical_number(v);
    }
}

void filter_val_make(struct val *v, const cJSON *j, const struct mctx *c)
{
    v->t = V_NONE;
    if (cJSON_IsString(j)) {
        v->t = V_STR;
        v->s = j->valuestring;
        v->n = strlen(j->valuestring);
    } else if (cJSON_IsNumber(j)) {
        v->t = V_NUM;
        v->d = j->valuedouble;
        v->s = NULL; /* text on demand: filter_val_numtext */
        if (c->src != NULL && j->valueint >= 0 && (size_t)j->valueint < c->nnums) {
            v->s = c->src + c->nums[j->valueint].off;
            v->n = c->nums[j->valueint].len;
        }
    } else if (cJSON_IsTrue(j)) {
        v->t = V_TRUE;
    } else if (cJSON_IsFalse(j)) {
        v->t = V_FALSE;
    } else if (cJSON_IsNull(j)) {
        v->t = V_NULL;
    }
}

static bool wild_match(const struct matcher *m, const char *s, size_t n)
{
    const struct piece *p = m->pc, *last = &m->pc[m->n - 1];
    size_t lo, hi, j;

    if (m->n == 1) {
        return n == p[0].n && memcmp(s, p[0].s, n) == 0;
    }
    if (n < p[0].n || memcmp(s, p[0].s, p[0].n) != 0) {
        return false;
    }
    lo = p[0].n;
    if (n - lo < last->n || memcmp(s + n - last->n, last->s, last->n) != 0) {
        return false;
    }
    hi = n - last->n;
    for (j = 1; j + 1 < m->n; j++) {
        const char *f = memmem(s + lo, hi - lo, p[j].s, p[j].n);
        if (f == NULL) {
            return false;
        }
        lo = (size_t)(f - s) + p[j].n;
    }
    return true;
}

static bool cidr_match(const struct matcher *m, const struct val *v)
{
    uint8_t a[16];
    unsigned k, full = m->bits / 8u, rem = m->bits % 8u;

    if (v->n > 45 || inet_pton(m->flags == 6 ? AF_INET6 : AF_INET, v->s, a) != 1) {
        return false;
    }
    for (k = 0; k < full; k++) {
        if (a[k] != m->addr[k]) {
            return false;
        }
    }
    return rem == 0 || ((a[full] ^ m->addr[full]) & (uint8_t)(0xFFu << (8 - rem))) == 0;
}

static bool numeric_match(const struct matcher *m, double d)
{
    if (m->flags & NUM_HAS_LO) {
        if ((m->flags & NUM_LO_INCL) ? !(d >= m->lo) : !(d > m->lo)) {
            return false;
        }
    }
    if (m->flags & NUM_HAS_HI) {
        if ((m->flags & NUM_HI_INCL) ? !(d <= m->hi) : !(d < m->hi)) {
            return false;
        }
    }
    return true;
}

static bool eic_match(const struct matcher *m, const struct val *v)
{
    switch (m->kind) {
    case MK_EIC: return filter_fold_equals(m->cp, m->n, v->s, v->n);
    case MK_PREFIX_EIC: return filter_fold_prefix(m->cp, m->n, v->s, v->n);
    default: return filter_fold_suffix(m->cp, m->n, v->s, v->n);
    }
}

static bool value_match(const struct matcher *m, struct val *v);

static bool abut_match(const struct matcher *m, struct val *v)
{
    size_t k;
    for (k = 0; k < m->n; k++) {
        if (value_match(&m->sub[k], v)) {
            return false;
        }
    }
    return true;
}

static bool value_match(const struct matcher *m, struct val *v)
{
    bool str = v->t == V_STR;

    switch ((enum mkind)m->kind) {
    case MK_STR: return str && v->n == m->n && memcmp(v->s, m->s, m->n) == 0;
    case MK_NUM:
        if (v->t != V_NUM) {
            return false;
        }
        filter_val_numtext(v);
        return v->n == m->n && memcmp(v->s, m->s, m->n) == 0;
    case MK_TRUE: return v->t == V_TRUE;
    case MK_FALSE: return v->t == V_FALSE;
    case MK_NULL: return v->t == V_NULL;
    case MK_PREFIX: return str && v->n >= m->n && memcmp(v->s, m->s, m->n) == 0;
    case MK_SUFFIX: return str && v->n >= m->n && memcmp(v->s + v->n - m->n, m->s, m->n) == 0;
    case MK_EIC:
    case MK_PREFIX_EIC:
    case MK_SUFFIX_EIC: return str && eic_match(m, v);
    case MK_WILDCARD: return str && wild_match(m, v->s, v->n);
    case MK_NUMERIC: return v->t == V_NUM && numeric_match(m, v->d);
    case MK_CIDR: return str && cidr_match(m, v);
    case MK_ABUT: return v->t != V_NONE && abut_match(m, v);
    case MK_EXISTS: return false; /* judged by leaf_match */
    }
    return false;
}

/* Test every leaf value under v (arrays flatten, objects are not values);
 * *has is set when there is at least one.  Depth is bounded by the event
 * depth limit. */
static bool leaf_scan(const struct leaf *l, const cJSON *v, const struct mctx *c, bool *has)
{
    struct val x;
    size_t k;

    if (cJSON_IsArray(v)) {
        for (v = v->child; v != NULL; v = v->next) {
            if (leaf_scan(l, v, c, has)) {
                return true;
            }
        }
        return false;
    }
    if (cJSON_IsObject(v)) {
        return false;
    }
    filter_val_make(&x, v, c);
    if (x.t == V_NONE) {
        return false;
    }
    *has = true;
    for (k = 0; k < l->n; k++) {
        if (value_match(&l->m[k], &x)) {
            return true;
        }
    }
    return false;
}

static bool leaf_match(const struct leaf *l, const cJSON *v, const struct mctx *c)
{
    bool has = false;
    size_t k;

    if (v != NULL && leaf_scan(l, v, c, &has)) {
        return true;
    }
    for (k = 0; k < l->n; k++) {
        if (l->m[k].kind == MK_EXISTS && (l->m[k].flags != 0) == has) {
            return true;
        }
    }
    return false;
}

/* Last member named key (duplicate keys: last wins). */
static const cJSON *member_last(const cJSON *obj, const char *key)
{
    const cJSON *it, *found = NULL;
    for (it = obj->child; it != NULL; it = it->next) {
        if (it->string != NULL && it->string[0] == key[0] && strcmp(it->string, key) == 0) {
            found = it;
        }
    }
    return found;
}

/* v: the event value at this pattern object's position, or NULL if absent. */
bool filter_node_match(const struct node *n, const cJSON *v, const struct mctx *c)
{
    const cJSON *obj, *e;
    size_t i, k;

    if (v != NULL && cJSON_IsArray(v) && v->child != NULL) {
        for (e = v->child; e != NULL; e = e->next) {
            if (filter_node_match(n, e, c)) {
                return true;
            }
        }
        return false;
    }
    obj = (v != NULL && cJSON_IsObject(v)) ? v : NULL;
    for (i = 0; i < n->nf; i++) {
        const struct field *f = &n->f[i];
        const cJSON *mv = obj != NULL ? member_last(obj, f->key) : NULL;
        if (f->child != NULL ? !filter_node_match(f->child, mv, c) : !leaf_match(&f->leaf, mv, c)) {
            return false;
        }
    }
    for (i = 0; i < n->nor; i++) {
        for (k = 0; k < n->ors[i].n; k++) {
            if (filter_node_match(&n->ors[i].alt[k], obj, c)) {
                break;
            }
        }
        if (k == n->ors[i].n) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

struct filter_event {
    cJSON *root;
    char *text; /* the number literals, concatenated */
    struct jspan *nums; /* spans into text */
    size_t nnums;
};

struct mctx filter_doc_mctx(const struct doc *d)
{
    struct mctx c = {d->src, d->v, d->nv};
    return c;
}

int filter_match(const filter *f, const char *event, size_t len, filter_error *err)
{
    struct doc d;
    struct mctx c;
    int r;

    filter_clear_err(err);
    if (f == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "filter is NULL");
    }
    if (filter_doc_open(&d, event, len, false, f->numtext, err) < 0) {
        return -1;
    }
    c = filter_doc_mctx(&d);
    r = filter_node_match(&f->root, d.root, &c) ? 1 : 0;
    filter_doc_close(&d);
    return r;
}

filter_event *filter_event_parse(const char *event, size_t len, filter_error *err)
{
    struct doc d;
    filter_event *ev;
    size_t total = 0, i, w = 0;

    filter_clear_err(err);
    if (filter_doc_open(&d, event, len, false, true, err) < 0) {
        return NULL;
    }
    for (i = 0; i < d.nv; i++) {
        total += d.v[i].len;
    }
    ev = calloc(1, sizeof(*ev));
    if (ev == NULL || (ev->text = malloc(total + 1)) == NULL ||
        (ev->nums = malloc((d.nv + 1) * sizeof(*ev->nums))) == NULL) {
        filter_event_destroy(ev);
        filter_doc_close(&d);
        filter_set_err(err, FILTER_E_NOMEM, 0, "out of memory");
        return NULL;
    }
    for (i = 0; i < d.nv; i++) {
        memcpy(ev->text + w, event + d.v[i].off, d.v[i].len);
        ev->nums[i].off = (uint32_t)w;
        ev->nums[i].len = d.v[i].len;
        w += d.v[i].len;
    }
    ev->nnums = d.nv;
    ev->root = d.root;
    d.root = NULL;
    filter_doc_close(&d);
    return ev;
}

void filter_event_destroy(filter_event *ev)
{
    if (ev != NULL) {
        cJSON_Delete(ev->root);
        free(ev->text);
        free(ev->nums);
        free(ev);
    }
}

const cJSON *filter_event_json(const filter_event *ev)
{
    return ev != NULL ? ev->root : NULL;
}

struct mctx filter_event_mctx(const filter_event *ev)
{
    struct mctx c = {ev->text, ev->nums, ev->nnums};
    return c;
}

int filter_match_event(const filter *f, const filter_event *ev)
{
    struct mctx c;
    if (f == NULL || ev == NULL) {
        return 0;
    }
    c = filter_event_mctx(ev);
    return filter_node_match(&f->root, ev->root, &c) ? 1 : 0;
}

/* Bounded depth check for caller-built trees (stops at the limit). */
static bool json_depth_ok(const cJSON *j, unsigned depth)
{
    for (; j != NULL; j = j->next) {
        if (j->child != NULL) {
            if (depth + 1 >= FILTER_MAX_EVENT_DEPTH || !json_depth_ok(j->child, depth + 1)) {
                return false;
            }
        }
    }
    return true;
}

int filter_check_json(const cJSON *event, filter_error *err)
{
    if (event == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "event is NULL");
    }
    if (!json_depth_ok(event, 0)) {
        return filter_set_err(err, FILTER_E_EVENT_TOO_DEEP, 0, "event nests deeper than %u levels",
                              FILTER_MAX_EVENT_DEPTH);
    }
    return 0;
}

int filter_match_json(const filter *f, const cJSON *event, filter_error *err)
{
    struct mctx c = {NULL, NULL, 0};

    filter_clear_err(err);
    if (f == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "filter is NULL");
    }
    if (filter_check_json(event, err) < 0) {
        return -1;
    }
    return filter_node_match(&f->root, event, &c) ? 1 : 0;
}
