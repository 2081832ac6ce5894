/*
 * filter/compile.c — the filter engine's compiler: a pattern (JSON text)
 * becomes an immutable tree of conditions (struct filter, defined in
 * filter_internal.h), checked against the grammar once so that matching
 * never has to.
 *
 * OPERATORS (leaf values are always arrays; values in one array are ORed):
 *   "x", 12, true, false, null   exact (strings byte-exact; numbers by text)
 *   ""                           empty string
 *   {"prefix": "x"}              {"suffix": "x"}          strings only
 *   {"prefix": {"equals-ignore-case": "x"}}, same for suffix
 *   {"equals-ignore-case": "x"}  Unicode simple case folding (fold.c)
 *   {"wildcard": "a*b"}          `*` any run of bytes; `\*` `\\` escapes;
 *                                `**` and other escapes are errors
 *   {"anything-but": V}          V = string, number, [strings], [numbers],
 *                                {"prefix"|"suffix"|"equals-ignore-case"|
 *                                 "wildcard": string or [strings]}
 *   {"numeric": [op, n]} or [op, n, op, n]  ops = < <= > >=; "=" alone;
 *                                a range has one lower and one upper bound
 *   {"exists": true|false}
 *   {"cidr": "10.0.0.0/24"}      IPv4 or IPv6; a bare address is /32, /128
 *   "$or": [{…}, {…}, …]         at any level, at least two objects
 *
 * RULES CHECKED HERE (our choices where AWS is silent):
 *   - Duplicate keys: the last one wins.  Keys are taken literally: "a.b"
 *     is one key, not a path.
 *   - `{}` as the whole pattern matches every event.  An empty object or an
 *     empty list anywhere else is an error (it could never be meant).
 *   - An anything-but list holds only strings or only numbers; its values
 *     compile to the same conditions as exact values (numbers by text), so
 *     anything-but V matches exactly the present values that [V] does not.
 *   - Numeric ranges must be non-empty; a wildcard has no `**`.
 *   - Every error names the JSON path (`detail.state[0]`) and byte offset.
 *
 * Exact numbers keep the pattern's number text (from the scanner's spans),
 * and a filter that has one sets numtext, so that events keep theirs.
 *
 * Memory: a compiled pattern lives in one arena, freed at once.
 * Recursion follows the pattern's nesting, bounded by
 * FILTER_MAX_PATTERN_DEPTH, which the scanner checked before cJSON ran.
 */
#include "filter_internal.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Arena: every allocation of one compiled pattern, freed at once            */
/* ------------------------------------------------------------------------ */

struct achunk {
    struct achunk *next;
    size_t used, cap;
    max_align_t data[];
};

static void *arena_alloc(struct arena *a, size_t n)
{
    struct achunk *c = a->head;
    void *p;

    n = (n + 15u) & ~(size_t)15u;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > 2048u ? n : 2048u;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    p = (unsigned char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void arena_free(struct arena *a)
{
    struct achunk *c = a->head;
    while (c != NULL) {
        struct achunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------------ */
/* Compiler                                                                 */
/* ------------------------------------------------------------------------ */

struct cctx {
    struct arena *a;
    bool *numtext;
    const struct doc *d;
    filter_error *err;
    char path[160];
    size_t plen;
};

static size_t node_offset(const struct cctx *c, const cJSON *j)
{
    if (j != NULL && j->valueint >= 0 && (size_t)j->valueint < c->d->nv) {
        return c->d->v[j->valueint].off;
    }
    return 0;
}

__attribute__((format(printf, 4, 5))) static int cfail(struct cctx *c, const cJSON *at, int code,
                                                       const char *fmt, ...)
{
    char why[160];
    va_list ap;
    size_t off = node_offset(c, at);

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return filter_set_err(c->err, code, off, "pattern at %s (byte %zu): %s",
                          c->plen ? c->path : "(top level)", off, why);
}

static int cnomem(struct cctx *c)
{
    return filter_set_err(c->err, FILTER_E_NOMEM, 0, "out of memory compiling pattern");
}

/* Append ".key" (or "key" at the top) or "[i]" to the path; returns the old
 * length for path_pop.  Long paths are cut with "...". */
static size_t path_push(struct cctx *c, const char *key, int index)
{
    size_t old = c->plen, room = sizeof(c->path) - c->plen;
    int w;

    if (key != NULL) {
        w = snprintf(c->path + c->plen, room, "%s%.40s", c->plen ? "." : "", key);
    } else {
        w = snprintf(c->path + c->plen, room, "[%d]", index);
    }
    if (w < 0 || (size_t)w >= room) {
        memcpy(c->path + sizeof(c->path) - 4, "...", 4);
        c->plen = sizeof(c->path) - 1;
    } else {
        c->plen += (size_t)w;
    }
    return old;
}

static void path_pop(struct cctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

/* Is there a later sibling with the same key?  (Duplicate keys: last wins.) */
static bool later_dup(const cJSON *item)
{
    const cJSON *n;
    for (n = item->next; n != NULL; n = n->next) {
        if (strcmp(n->string, item->string) == 0) {
            return true;
        }
    }
    return false;
}

/* The single effective member of an operator object, or NULL (error set). */
static const cJSON *single_member(struct cctx *c, const cJSON *obj)
{
    const cJSON *it, *last = NULL;
    size_t n = 0;

    for (it = obj->child; it != NULL; it = it->next) {
        if (!later_dup(it)) {
            n++;
            last = it;
        }
    }
    if (n == 0) {
        cfail(c, obj, FILTER_E_EMPTY, "empty operator object");
        return NULL;
    }
    if (n > 1) {
        cfail(c, obj, FILTER_E_BAD_VALUE, "an operator object must have exactly one key");
        return NULL;
    }
    return last;
}

static const char *type_name(const cJSON *j)
{
    if (cJSON_IsString(j)) {
        return "a string";
    }
    if (cJSON_IsNumber(j)) {
        return "a number";
    }
    if (cJSON_IsBool(j)) {
        return "a boolean";
    }
    if (cJSON_IsNull(j)) {
        return "null";
    }
    if (cJSON_IsArray(j)) {
        return "an array";
    }
    return "an object";
}

static int c_string(struct cctx *c, const cJSON *j, struct matcher *m, uint8_t kind)
{
    m->kind = kind;
    m->n = strlen(j->valuestring);
    m->s = arena_strndup(c->a, j->valuestring, m->n);
    return m->s != NULL ? 0 : cnomem(c);
}

static int c_number_text(struct cctx *c, const cJSON *j, struct matcher *m)
{
    const struct jspan *sp = &c->d->v[j->valueint];
    *c->numtext = true;
    m->kind = MK_NUM;
    m->n = sp->len;
    m->s = arena_strndup(c->a, c->d->src + sp->off, sp->len);
    return m->s != NULL ? 0 : cnomem(c);
}

static int c_fold(struct cctx *c, const cJSON *j, struct matcher *m, uint8_t kind)
{
    size_t n = strlen(j->valuestring);
    uint32_t *cp = arena_alloc(c->a, (n + 1) * sizeof(*cp));

    if (cp == NULL) {
        return cnomem(c);
    }
    m->kind = kind;
    m->cp = cp;
    m->n = filter_fold_string(j->valuestring, n, cp);
    return 0;
}

static int c_wildcard(struct cctx *c, const cJSON *j, struct matcher *m)
{
    const char *s = j->valuestring;
    size_t n = strlen(s), i, np = 1, w = 0;
    struct piece *pc;
    char *buf;

    for (i = 0; i < n; i++) {
        if (s[i] == '\\') {
            if (i + 1 >= n || (s[i + 1] != '*' && s[i + 1] != '\\')) {
                return cfail(c, j, FILTER_E_BAD_WILDCARD,
                             "only \\* and \\\\ may be escaped in a wildcard (char %zu)", i);
            }
            i++;
        } else if (s[i] == '*') {
            if (i + 1 < n && s[i + 1] == '*') {
                return cfail(c, j, FILTER_E_WILDCARD_CONSECUTIVE,
                             "consecutive '*' in wildcard (char %zu)", i);
            }
            np++;
        }
    }
    pc = arena_alloc(c->a, np * sizeof(*pc));
    buf = arena_alloc(c->a, n + 1);
    if (pc == NULL || buf == NULL) {
        return cnomem(c);
    }
    np = 0;
    pc[0].s = buf;
    for (i = 0; i < n; i++) {
        if (s[i] == '*') {
            pc[np].n = (size_t)(buf + w - pc[np].s);
            np++;
            pc[np].s = buf + w;
            continue;
        }
        if (s[i] == '\\') {
            i++;
        }
        buf[w++] = s[i];
    }
    pc[np].n = (size_t)(buf + w - pc[np].s);
    m->kind = MK_WILDCARD;
    m->pc = pc;
    m->n = np + 1;
    return 0;
}

static int c_cidr(struct cctx *c, const cJSON *j, struct matcher *m)
{
    const char *s = j->valuestring, *slash = strchr(s, '/');
    size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    char buf[64];
    unsigned long bits, max, k;
    char *end;

    if (alen == 0 || alen >= sizeof(buf)) {
        return cfail(c, j, FILTER_E_BAD_CIDR, "not an IP address or CIDR block");
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    m->flags = strchr(buf, ':') != NULL ? 6 : 4;
    max = m->flags == 6 ? 128 : 32;
    if (inet_pton(m->flags == 6 ? AF_INET6 : AF_INET, buf, m->addr) != 1) {
        return cfail(c, j, FILTER_E_BAD_CIDR, "\"%.60s\" is not an IPv%u address", buf, m->flags);
    }
    bits = max;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3) {
            return cfail(c, j, FILTER_E_BAD_CIDR, "bad prefix length");
        }
        bits = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || bits > max) {
            return cfail(c, j, FILTER_E_BAD_CIDR, "prefix length must be 0..%lu", max);
        }
    }
    for (k = bits; k < max; k++) {
        m->addr[k / 8] &= (uint8_t) ~(0x80u >> (k % 8));
    }
    m->kind = MK_CIDR;
    m->bits = (uint16_t)bits;
    return 0;
}

static int numeric_op(const cJSON *op)
{
    static const char *const ops[] = {"=", "<", "<=", ">", ">="};
    int k;
    if (!cJSON_IsString(op)) {
        return -1;
    }
    for (k = 0; k < 5; k++) {
        if (strcmp(op->valuestring, ops[k]) == 0) {
            return k;
        }
    }
    return -1;
}

/* Apply one (op, operand) pair to m's bounds. */
static int c_numeric_pair(struct cctx *c, const cJSON *op, const cJSON *num, struct matcher *m,
                          bool alone)
{
    int k = numeric_op(op);
    double v;

    if (k < 0) {
        return cfail(c, op, FILTER_E_BAD_NUMERIC, "numeric operator must be =, <, <=, > or >=");
    }
    if (!cJSON_IsNumber(num)) {
        return cfail(c, num, FILTER_E_BAD_NUMERIC, "numeric operand must be a number, not %s",
                     type_name(num));
    }
    v = num->valuedouble;
    if (!isfinite(v)) {
        return cfail(c, num, FILTER_E_BAD_NUMERIC, "number out of double range");
    }
    if (k == 0 && !alone) {
        return cfail(c, op, FILTER_E_BAD_NUMERIC, "\"=\" cannot be part of a range");
    }
    if (k == 0 || k >= 3) {
        if (m->flags & NUM_HAS_LO) {
            return cfail(c, op, FILTER_E_BAD_NUMERIC, "a range has one lower and one upper bound");
        }
        m->lo = v;
        m->flags |= NUM_HAS_LO | (k == 0 || k == 4 ? NUM_LO_INCL : 0);
    }
    if (k == 0 || k == 1 || k == 2) {
        if (k != 0 && (m->flags & NUM_HAS_HI)) {
            return cfail(c, op, FILTER_E_BAD_NUMERIC, "a range has one lower and one upper bound");
        }
        m->hi = v;
        m->flags |= NUM_HAS_HI | (k == 0 || k == 2 ? NUM_HI_INCL : 0);
    }
    return 0;
}

static int c_numeric(struct cctx *c, const cJSON *j, struct matcher *m)
{
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
    const cJSON *e;

    m->kind = MK_NUMERIC;
    if (n != 2 && n != 4) {
        return cfail(c, j, FILTER_E_BAD_NUMERIC,
                     "numeric takes [op, number] or [op, number, op, number]");
    }
    e = j->child;
    if (c_numeric_pair(c, e, e->next, m, n == 2) < 0) {
        return -1;
    }
    if (n == 4 && c_numeric_pair(c, e->next->next, e->next->next->next, m, false) < 0) {
        return -1;
    }
    if ((m->flags & NUM_HAS_LO) && (m->flags & NUM_HAS_HI) &&
        (m->lo > m->hi || (m->lo == m->hi && (m->flags & (NUM_LO_INCL | NUM_HI_INCL)) !=
                                                 (NUM_LO_INCL | NUM_HI_INCL)))) {
        return cfail(c, j, FILTER_E_BAD_NUMERIC,
                     "empty range: lower bound is not below upper bound");
    }
    return 0;
}

/* anything-but {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": s | [s…]} */
static int c_abut_object(struct cctx *c, const cJSON *j, struct matcher *m)
{
    static const struct {
        const char *name;
        uint8_t kind;
    } ops[] = {{"prefix", MK_PREFIX},
               {"suffix", MK_SUFFIX},
               {"equals-ignore-case", MK_EIC},
               {"wildcard", MK_WILDCARD}};
    const cJSON *op = single_member(c, j), *v, *e;
    struct matcher *sub;
    size_t k, n, i = 0;
    int rc = 0;

    if (op == NULL) {
        return -1;
    }
    for (k = 0; k < 4 && strcmp(op->string, ops[k].name) != 0; k++) {
    }
    if (k == 4) {
        return cfail(c, op, FILTER_E_UNKNOWN_OPERATOR,
                     "unknown operator \"%.40s\" inside anything-but", op->string);
    }
    v = op;
    n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0;
    if (n == 0) {
        return cfail(c, v, cJSON_IsArray(v) ? FILTER_E_EMPTY : FILTER_E_BAD_VALUE,
                     "anything-but %s takes a string or a non-empty list of strings", ops[k].name);
    }
    sub = arena_alloc(c->a, n * sizeof(*sub));
    if (sub == NULL) {
        return cnomem(c);
    }
    for (e = cJSON_IsString(v) ? v : v->child; rc == 0 && i < n; e = e->next, i++) {
        if (!cJSON_IsString(e)) {
            return cfail(c, e, FILTER_E_BAD_VALUE, "anything-but %s list must hold strings",
                         ops[k].name);
        }
        if (ops[k].kind == MK_EIC) {
            rc = c_fold(c, e, &sub[i], MK_EIC);
        } else if (ops[k].kind == MK_WILDCARD) {
            rc = c_wildcard(c, e, &sub[i]);
        } else {
            rc = c_string(c, e, &sub[i], ops[k].kind);
        }
    }
    m->kind = MK_ABUT;
    m->sub = sub;
    m->n = n;
    return rc;
}

/* A string or number of an anything-but list excludes exactly what the same
 * value as an exact condition would match: numbers by their JSON text, so
 * that an event number is either [35] or anything-but [35], never neither
 * (35.0 is anything but 35). */
static int c_abut_scalar(struct cctx *c, const cJSON *e, struct matcher *sub)
{
    if (cJSON_IsString(e)) {
        return c_string(c, e, sub, MK_STR);
    }
    return c_number_text(c, e, sub);
}

static int c_anything_but(struct cctx *c, const cJSON *j, struct matcher *m)
{
    const cJSON *e;
    struct matcher *sub;
    size_t n = 0, i = 0, nstr = 0, nnum = 0;

    if (cJSON_IsObject(j)) {
        return c_abut_object(c, j, m);
    }
    if (cJSON_IsString(j) || cJSON_IsNumber(j)) {
        n = 1;
    } else if (cJSON_IsArray(j)) {
        for (e = j->child; e != NULL; e = e->next, n++) {
            nstr += cJSON_IsString(e);
            nnum += cJSON_IsNumber(e);
        }
        if (n == 0) {
            return cfail(c, j, FILTER_E_EMPTY, "anything-but list is empty");
        }
        if (nstr != n && nnum != n) {
            return cfail(c, j, FILTER_E_MIXED_ANYTHING_BUT,
                         "anything-but list must hold only strings or only numbers");
        }
    } else {
        return cfail(c, j, FILTER_E_BAD_VALUE,
                     "anything-but takes a string, a number, a list "
                     "or an operator object, not %s",
                     type_name(j));
    }
    sub = arena_alloc(c->a, n * sizeof(*sub));
    if (sub == NULL) {
        return cnomem(c);
    }
    for (e = cJSON_IsArray(j) ? j->child : j; i < n; e = e->next, i++) {
        if (c_abut_scalar(c, e, &sub[i]) < 0) {
            return -1;
        }
    }
    m->kind = MK_ABUT;
    m->sub = sub;
    m->n = n;
    return 0;
}

/* prefix / suffix: a string, or {"equals-ignore-case": string}. */
static int c_affix(struct cctx *c, const cJSON *v, struct matcher *m, bool prefix)
{
    const cJSON *inner;

    if (cJSON_IsString(v)) {
        return c_string(c, v, m, prefix ? MK_PREFIX : MK_SUFFIX);
    }
    if (cJSON_IsObject(v)) {
        inner = single_member(c, v);
        if (inner == NULL) {
            return -1;
        }
        if (strcmp(inner->string, "equals-ignore-case") != 0) {
            return cfail(c, inner, FILTER_E_UNKNOWN_OPERATOR,
                         "unknown operator \"%.40s\" inside %s", inner->string,
                         prefix ? "prefix" : "suffix");
        }
        if (cJSON_IsString(inner)) {
            return c_fold(c, inner, m, prefix ? MK_PREFIX_EIC : MK_SUFFIX_EIC);
        }
        v = inner;
    }
    return cfail(c, v, FILTER_E_BAD_VALUE, "%s takes a string, not %s",
                 prefix ? "prefix" : "suffix", type_name(v));
}

static int c_operator(struct cctx *c, const cJSON *obj, struct matcher *m)
{
    const cJSON *op = single_member(c, obj);
    const char *name;
    size_t old;
    int rc;

    if (op == NULL) {
        return -1;
    }
    name = op->string;
    old = path_push(c, name, 0);
    if (strcmp(name, "prefix") == 0 || strcmp(name, "suffix") == 0) {
        rc = c_affix(c, op, m, name[0] == 'p');
    } else if (strcmp(name, "anything-but") == 0) {
        rc = c_anything_but(c, op, m);
    } else if (strcmp(name, "numeric") == 0) {
        rc = c_numeric(c, op, m);
    } else if (strcmp(name, "exists") == 0) {
        m->kind = MK_EXISTS;
        m->flags = cJSON_IsTrue(op) ? 1 : 0;
        rc = cJSON_IsBool(op) ? 0 : cfail(c, op, FILTER_E_BAD_VALUE, "exists takes true or false");
    } else if (!cJSON_IsString(op) &&
               (strcmp(name, "equals-ignore-case") == 0 || strcmp(name, "wildcard") == 0 ||
                strcmp(name, "cidr") == 0)) {
        rc = cfail(c, op, FILTER_E_BAD_VALUE, "%s takes a string, not %s", name, type_name(op));
    } else if (strcmp(name, "equals-ignore-case") == 0) {
        rc = c_fold(c, op, m, MK_EIC);
    } else if (strcmp(name, "wildcard") == 0) {
        rc = c_wildcard(c, op, m);
    } else if (strcmp(name, "cidr") == 0) {
        rc = c_cidr(c, op, m);
    } else {
        path_pop(c, old);
        return cfail(c, op, FILTER_E_UNKNOWN_OPERATOR, "unknown operator \"%.40s\"", name);
    }
    path_pop(c, old);
    return rc;
}

static int c_value(struct cctx *c, const cJSON *e, struct matcher *m)
{
    if (cJSON_IsString(e)) {
        return c_string(c, e, m, MK_STR);
    }
    if (cJSON_IsNumber(e)) {
        return c_number_text(c, e, m);
    }
    if (cJSON_IsBool(e) || cJSON_IsNull(e)) {
        m->kind = cJSON_IsTrue(e) ? MK_TRUE : cJSON_IsFalse(e) ? MK_FALSE : MK_NULL;
        return 0;
    }
    if (cJSON_IsObject(e)) {
        return c_operator(c, e, m);
    }
    return cfail(c, e, FILTER_E_BAD_VALUE, "a value list cannot contain an array");
}

static int c_leaf(struct cctx *c, const cJSON *arr, struct leaf *l)
{
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0, old;
    struct matcher *m;
    const cJSON *e;

    if (n == 0) {
        return cfail(c, arr, FILTER_E_EMPTY, "empty value list matches nothing");
    }
    m = arena_alloc(c->a, n * sizeof(*m));
    if (m == NULL) {
        return cnomem(c);
    }
    for (e = arr->child; e != NULL; e = e->next, i++) {
        old = path_push(c, NULL, (int)i);
        if (c_value(c, e, &m[i]) < 0) {
            return -1;
        }
        path_pop(c, old);
    }
    l->m = m;
    l->n = n;
    return 0;
}

static int c_node(struct cctx *c, const cJSON *obj, struct node *out);

static int c_or(struct cctx *c, const cJSON *arr, struct orgroup *g)
{
    size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0, i = 0, old;
    struct node *alt;
    const cJSON *e;

    if (n < 2) {
        return cfail(c, arr, FILTER_E_BAD_OR, "$or takes a list of at least two objects");
    }
    alt = arena_alloc(c->a, n * sizeof(*alt));
    if (alt == NULL) {
        return cnomem(c);
    }
    for (e = arr->child; e != NULL; e = e->next, i++) {
        old = path_push(c, NULL, (int)i);
        if (!cJSON_IsObject(e) || e->child == NULL) {
            return cfail(c, e, FILTER_E_BAD_OR, "each $or branch must be a non-empty object");
        }
        if (c_node(c, e, &alt[i]) < 0) {
            return -1;
        }
        path_pop(c, old);
    }
    g->alt = alt;
    g->n = n;
    return 0;
}

static int c_field(struct cctx *c, const cJSON *it, struct field *f)
{
    struct node *child;

    f->key = arena_strndup(c->a, it->string, strlen(it->string));
    if (f->key == NULL) {
        return cnomem(c);
    }
    if (cJSON_IsArray(it)) {
        return c_leaf(c, it, &f->leaf);
    }
    if (!cJSON_IsObject(it)) {
        return cfail(c, it, FILTER_E_LEAF_NOT_ARRAY,
                     "a field's value must be an array of values or an object, not %s",
                     type_name(it));
    }
    if (it->child == NULL) {
        return cfail(c, it, FILTER_E_EMPTY, "empty object");
    }
    child = arena_alloc(c->a, sizeof(*child));
    if (child == NULL) {
        return cnomem(c);
    }
    f->child = child;
    return c_node(c, it, child);
}

/* Recursion depth is bounded by FILTER_MAX_PATTERN_DEPTH (checked by the
 * scanner before cJSON ever ran). */
static int c_node(struct cctx *c, const cJSON *obj, struct node *out)
{
    const cJSON *it;
    struct field *f;
    struct orgroup *g;
    size_t nf = 0, nor = 0, old;
    int rc = 0;

    for (it = obj->child; it != NULL; it = it->next) {
        if (!later_dup(it)) {
            *(strcmp(it->string, "$or") == 0 ? &nor : &nf) += 1;
        }
    }
    f = arena_alloc(c->a, (nf + 1) * sizeof(*f));
    g = arena_alloc(c->a, (nor + 1) * sizeof(*g));
    if (f == NULL || g == NULL) {
        return cnomem(c);
    }
    out->f = f;
    out->ors = g;
    for (it = obj->child; it != NULL && rc == 0; it = it->next) {
        if (later_dup(it)) {
            continue;
        }
        old = path_push(c, it->string, 0);
        if (strcmp(it->string, "$or") == 0) {
            rc = c_or(c, it, &g[out->nor++]);
        } else {
            rc = c_field(c, it, &f[out->nf++]);
        }
        if (rc == 0) {
            path_pop(c, old);
        }
    }
    return rc;
}

filter *filter_compile(const char *pattern, size_t len, filter_error *err)
{
    struct doc d;
    struct cctx c;
    filter *f = NULL;

    filter_clear_err(err);
    if (filter_doc_open(&d, pattern, len, true, true, err) < 0) {
        return NULL;
    }
    if (!cJSON_IsObject(d.root)) {
        filter_set_err(err, FILTER_E_NOT_OBJECT, d.v[0].off,
                       "pattern at byte %u: must be a JSON object", d.v[0].off);
        goto done;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        filter_set_err(err, FILTER_E_NOMEM, 0, "out of memory");
        goto done;
    }
    memset(&c, 0, sizeof(c));
    c.a = &f->arena;
    c.numtext = &f->numtext;
    c.d = &d;
    c.err = err;
    if (c_node(&c, d.root, &f->root) < 0) {
        filter_destroy(f);
        f = NULL;
    }
done:
    filter_doc_close(&d);
    return f;
}

void filter_destroy(filter *f)
{
    if (f != NULL) {
        arena_free(&f->arena);
        free(f);
    }
}
