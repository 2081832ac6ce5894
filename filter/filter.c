/*
 * filter/filter.c — the event filter engine: EventBridge's pattern language,
 * compiled once, matched many times.
 *
 * WHAT IT OWNS.  Turning a pattern (JSON text) into an immutable tree of
 * conditions (filter_compile), deciding whether an event matches it
 * (filter_match*), and a set of many patterns behind one index
 * (filter_set_*).  No I/O, no logging, no locks.
 *
 * INPUT.  Patterns and events are strict JSON (RFC 8259).  A small
 * non-recursive scanner (json_scan) checks every input before cJSON sees it,
 * because cJSON alone (a) accepts non-JSON such as `01`, `-.5`, `1.` and raw
 * control characters in strings, (b) drops the text of numbers, which exact
 * number matching needs, (c) would recurse before we could apply our depth
 * limit, and (d) truncates `\u0000` inside strings.  The scanner records the
 * offset of each value (patterns) or the text span of each number (events,
 * and only when some pattern has an exact-number condition);
 * after cJSON_ParseWithLength the tree is walked once in document order and
 * each node's `valueint` is set to its index in that record.  The scanner is
 * validation only; cJSON remains the parser.
 *
 * OPERATORS (leaf values are always arrays; values in one array are ORed):
 *   "x", 12, true, false, null   exact (strings byte-exact; numbers by text)
 *   ""                           empty string
 *   {"prefix": "x"}              {"suffix": "x"}          strings only
 *   {"prefix": {"equals-ignore-case": "x"}}, same for suffix
 *   {"equals-ignore-case": "x"}  Unicode simple case folding (see below)
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
 *   - Exact numbers compare the JSON number text (300 != 300.0 != 3e2).
 *     `numeric` compares IEEE-754 doubles and only matches JSON numbers.
 *     anything-but with numbers excludes by numeric value (double compare).
 *   - A string never equals a number: ["5"] does not match 5, prefix and
 *     suffix and wildcard and cidr only match strings.
 *   - anything-but matches a present leaf value that none of its inner
 *     conditions matches (so anything-but "x" matches 5, true and null); it
 *     never matches a missing field or an empty array.
 *   - Matching is case-sensitive and byte-exact (after JSON unescaping)
 *     except under equals-ignore-case, which applies Unicode simple case
 *     folding (CaseFolding.txt, statuses C and S) for: ASCII, Latin-1
 *     Supplement (incl. µ -> μ), Latin Extended-A (incl. ſ -> s), Greek and
 *     Coptic (final sigma folds to sigma), Cyrillic and Cyrillic Supplement
 *     (U+0400..U+052F), plus ẞ, Kelvin, Ångström and Ohm signs.  Other
 *     scripts compare exactly.  One code point folds to one, so lengths in
 *     code points are preserved.
 *   - Strict JSON for patterns and events.  Duplicate keys: the last one
 *     wins, in patterns and in events.  Keys are matched literally: "a.b"
 *     is one key, not a path.
 *   - `{}` as the whole pattern matches every event.  An empty object or an
 *     empty list anywhere else is an error (it could never be meant).
 *   - Strings containing U+0000 and number literals longer than 63 bytes are
 *     rejected (cJSON cannot represent them faithfully).
 *
 * LIMITS: see FILTER_MAX_* in filter.h; each has its own error code.
 *
 * SETS AND COMPLEXITY.  filter_set indexes every pattern by its "indexable"
 * conditions: leaves reached through plain object fields (not under $or)
 * whose values are all exact values or case-sensitive prefixes.  Each such
 * leaf is a condition with an id; a hash table maps (field path, kind,
 * value) to the conditions that accept it, and each path keeps the set of
 * prefix lengths in use.  Matching one event walks only the event members
 * whose paths are indexed (a trie of field names), looks each leaf value up
 * once (plus once per distinct prefix length), counts hits per pattern, and
 * fully evaluates only the patterns all of whose indexed conditions were
 * hit, plus the patterns with no indexable condition.  Cost per event:
 * O(event size + hits + candidates), independent of the number of patterns
 * that cannot match.  Counters live in a per-thread scratch that is always
 * left zeroed; per-condition stamps (a generation counter) prevent counting
 * one condition twice when an array holds several accepted values.
 *
 * Memory: a compiled pattern lives in one arena freed at once.
 */
#include "filter.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

const char *filter_error_name(int code)
{
    switch (code) {
#define FILTER_NAME_(name, num, msg) \
    case num: return #name;
        FILTER_ERRORS(FILTER_NAME_)
#undef FILTER_NAME_
    default: return "FILTER_E_UNKNOWN";
    }
}

const char *filter_strerror(int code)
{
    switch (code) {
#define FILTER_MSG_(name, num, msg) \
    case num: return msg;
        FILTER_ERRORS(FILTER_MSG_)
#undef FILTER_MSG_
    default: return "unknown error";
    }
}

__attribute__((format(printf, 4, 5))) static int set_err(filter_error *err, int code, size_t off,
                                                         const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        err->offset = off;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void clear_err(filter_error *err)
{
    if (err != NULL) {
        err->code = FILTER_OK;
        err->offset = 0;
        err->message[0] = '\0';
    }
}

/* ------------------------------------------------------------------------ */
/* Arena: every allocation of one compiled pattern, freed at once            */
/* ------------------------------------------------------------------------ */

struct achunk {
    struct achunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    struct achunk *head;
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
/* UTF-8 and case folding                                                   */
/* ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t len, i;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return len;
}

/* Decode one code point at s[*i]; an invalid byte decodes to 0x110000+byte
 * (outside Unicode, so it only ever equals the same invalid byte). */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    const unsigned char *p = s + *i;
    size_t len = utf8_len(p, n - *i);
    uint32_t c;

    switch (len) {
    case 1: c = p[0]; break;
    case 2: c = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F); break;
    case 3:
        c = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        break;
    case 4:
        c = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
            ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        break;
    default: *i += 1; return 0x110000u + p[0];
    }
    *i += len;
    return c;
}

static uint32_t fold_latin_ext_a(uint32_t c)
{
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149) {
        return c; /* no simple folding */
    }
    if (c == 0x178) {
        return 0xFF;
    }
    if (c == 0x17F) {
        return 's';
    }
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) {
        return (c & 1u) ? c + 1 : c; /* odd upper, even lower */
    }
    return (c & 1u) ? c : c + 1; /* even upper, odd lower */
}

static uint32_t fold_greek(uint32_t c)
{
    static const uint32_t map[][2] = {
        {0x37F, 0x3F3}, {0x386, 0x3AC}, {0x38C, 0x3CC}, {0x3C2, 0x3C3}, {0x3CF, 0x3D7},
        {0x3D0, 0x3B2}, {0x3D1, 0x3B8}, {0x3D5, 0x3C6}, {0x3D6, 0x3C0}, {0x3F0, 0x3BA},
        {0x3F1, 0x3C1}, {0x3F4, 0x3B8}, {0x3F5, 0x3B5}, {0x3F7, 0x3F8}, {0x3F9, 0x3F2},
        {0x3FA, 0x3FB}, {0x3FD, 0x37B}, {0x3FE, 0x37C}, {0x3FF, 0x37D},
    };
    size_t i;

    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) {
        return c + 32;
    }
    if (c >= 0x388 && c <= 0x38A) {
        return c + 37;
    }
    if (c == 0x38E || c == 0x38F) {
        return c + 63;
    }
    if ((c >= 0x370 && c <= 0x373) || c == 0x376 || (c >= 0x3D8 && c <= 0x3EF)) {
        return (c & 1u) ? c : c + 1;
    }
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i][0] == c) {
            return map[i][1];
        }
    }
    return c;
}

static uint32_t fold_cyrillic(uint32_t c)
{
    if (c <= 0x40F) {
        return c + 80;
    }
    if (c <= 0x42F) {
        return c + 32;
    }
    if (c <= 0x45F) {
        return c;
    }
    if (c <= 0x481 || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F)) {
        return (c & 1u) ? c : c + 1;
    }
    if (c == 0x4C0) {
        return 0x4CF;
    }
    if (c >= 0x4C1 && c <= 0x4CE) {
        return (c & 1u) ? c + 1 : c;
    }
    return c;
}

/* Unicode simple case folding for the ranges listed in the head comment. */
static uint32_t fold_cp(uint32_t c)
{
    if (c < 0x80) {
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    if (c < 0x100) {
        if (c >= 0xC0 && c <= 0xDE && c != 0xD7) {
            return c + 32;
        }
        return c == 0xB5 ? 0x3BC : c;
    }
    if (c < 0x180) {
        return fold_latin_ext_a(c);
    }
    if (c >= 0x370 && c < 0x400) {
        return fold_greek(c);
    }
    if (c >= 0x400 && c < 0x530) {
        return fold_cyrillic(c);
    }
    switch (c) {
    case 0x345: return 0x3B9;
    case 0x1E9E: return 0xDF;
    case 0x2126: return 0x3C9;
    case 0x212A: return 'k';
    case 0x212B: return 0xE5;
    default: return c;
    }
}

/* Compare ncp folded code points against s from *i; advances *i. */
static bool fold_eq_at(const uint32_t *cp, size_t ncp, const unsigned char *s, size_t n, size_t *i)
{
    size_t k;
    for (k = 0; k < ncp; k++) {
        if (*i >= n || fold_cp(utf8_next(s, n, i)) != cp[k]) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Strict JSON scanner (validation only; cJSON parses afterwards)            */
/* ------------------------------------------------------------------------ */

struct jspan {
    uint32_t off; /* byte offset of the value */
    uint32_t len; /* number literal length (0 for other values) */
};

#define JSCAN_INLINE 64

struct jscan {
    const unsigned char *p;
    size_t n;
    unsigned max_depth;
    bool all_values; /* record every value (patterns) ... */
    bool numbers; /* ... or, for events, the number literals */
    size_t max_values; /* when all_values */
    int e_syntax, e_deep, e_large;
    filter_error *err;
    struct jspan *v;
    size_t nv, cap;
    struct jspan inline_v[JSCAN_INLINE];
};

static void jscan_init(struct jscan *s, const char *p, size_t n, bool pattern, filter_error *err)
{
    s->p = (const unsigned char *)p;
    s->n = n;
    s->all_values = pattern;
    s->numbers = true;
    s->max_depth = pattern ? FILTER_MAX_PATTERN_DEPTH : FILTER_MAX_EVENT_DEPTH;
    s->max_values = FILTER_MAX_PATTERN_VALUES;
    s->e_syntax = pattern ? FILTER_E_SYNTAX : FILTER_E_EVENT_SYNTAX;
    s->e_deep = pattern ? FILTER_E_TOO_DEEP : FILTER_E_EVENT_TOO_DEEP;
    s->e_large = pattern ? FILTER_E_TOO_LARGE : FILTER_E_EVENT_TOO_LARGE;
    s->err = err;
    s->v = s->inline_v;
    s->nv = 0;
    s->cap = JSCAN_INLINE;
}

static void jscan_finish(struct jscan *s)
{
    if (s->v != s->inline_v) {
        free(s->v);
    }
    s->v = s->inline_v;
}

static int js_fail(struct jscan *s, int code, size_t at, const char *why)
{
    return set_err(s->err, code, at, "%s at byte %zu: %s",
                   s->e_syntax == FILTER_E_SYNTAX ? "pattern" : "event", at, why);
}

static size_t js_ws(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')) {
        i++;
    }
    return i;
}

static int js_record(struct jscan *s, size_t off, size_t len)
{
    if (s->all_values && s->nv >= s->max_values) {
        return js_fail(s, s->e_large, off, "more than FILTER_MAX_PATTERN_VALUES values");
    }
    if (s->nv == s->cap) {
        size_t cap = s->cap * 2;
        struct jspan *v = malloc(cap * sizeof(*v));
        if (v == NULL) {
            return set_err(s->err, FILTER_E_NOMEM, off, "out of memory");
        }
        memcpy(v, s->v, s->nv * sizeof(*v));
        jscan_finish(s);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->nv].off = (uint32_t)off;
    s->v[s->nv].len = (uint32_t)len;
    s->nv++;
    return 0;
}

static int js_hex4(const unsigned char *p, size_t n, size_t i, unsigned *out)
{
    unsigned v = 0;
    size_t k;
    if (n < 4 || i > n - 4) {
        return -1;
    }
    for (k = 0; k < 4; k++) {
        unsigned c = p[i + k], d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            d = (c | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* Escape at p[*ip] == '\\'. */
static int js_escape(struct jscan *s, size_t *ip)
{
    const unsigned char *p = s->p;
    size_t i = *ip, n = s->n;
    unsigned u, lo;

    if (i + 1 >= n) {
        return js_fail(s, s->e_syntax, i, "unterminated string");
    }
    if (p[i + 1] != 'u') {
        if (p[i + 1] == 0 || strchr("\"\\/bfnrt", p[i + 1]) == NULL) {
            return js_fail(s, s->e_syntax, i, "invalid escape in string");
        }
        *ip = i + 2;
        return 0;
    }
    if (js_hex4(p, n, i + 2, &u) < 0) {
        return js_fail(s, s->e_syntax, i, "invalid \\u escape");
    }
    if (u == 0) {
        return js_fail(s, s->e_syntax, i, "\\u0000 in strings is not supported");
    }
    if (u >= 0xDC00 && u <= 0xDFFF) {
        return js_fail(s, s->e_syntax, i, "lone low surrogate in \\u escape");
    }
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (i + 7 >= n || p[i + 6] != '\\' || p[i + 7] != 'u' || js_hex4(p, n, i + 8, &lo) < 0 ||
            lo < 0xDC00 || lo > 0xDFFF) {
            return js_fail(s, s->e_syntax, i, "high surrogate without low surrogate");
        }
        *ip = i + 12;
        return 0;
    }
    *ip = i + 6;
    return 0;
}

/* 1 for bytes a string may hold as they are: printable ASCII but " and \. */
static const uint8_t js_plain[256] = {
#define JS_ROW16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    JS_ROW16(0), JS_ROW16(0), 1, 1, 0, 1, 1, 1, 1,
    1,           1,           1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' at 0x22 */
    JS_ROW16(1), JS_ROW16(1), 1, 1, 1, 1, 1, 1, 1,
    1,           1,           1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' at 0x5C */
    JS_ROW16(1), JS_ROW16(1),
#undef JS_ROW16
};

/* String at p[*ip] == '"'; on success *ip is just past the closing quote. */
static int js_string(struct jscan *s, size_t *ip)
{
    const unsigned char *p = s->p;
    size_t n = s->n, i = *ip + 1, l;

    for (;;) {
        while (i + 4 <= n &&
               (js_plain[p[i]] & js_plain[p[i + 1]] & js_plain[p[i + 2]] & js_plain[p[i + 3]])) {
            i += 4;
        }
        while (i < n && js_plain[p[i]]) {
            i++;
        }
        if (i >= n) {
            return js_fail(s, s->e_syntax, *ip, "unterminated string");
        }
        if (p[i] == '"') {
            *ip = i + 1;
            return 0;
        }
        if (p[i] == '\\') {
            if (js_escape(s, &i) < 0) {
                return -1;
            }
            continue;
        }
        if (p[i] < 0x20) {
            return js_fail(s, s->e_syntax, i, "control character in string");
        }
        l = utf8_len(p + i, n - i);
        if (l == 0) {
            return js_fail(s, s->e_syntax, i, "invalid UTF-8 in string");
        }
        i += l;
    }
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static size_t js_digits(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && is_digit(p[i])) {
        i++;
    }
    return i;
}

static int js_number(struct jscan *s, size_t *ip)
{
    const unsigned char *p = s->p;
    size_t n = s->n, st = *ip, i = st;

    if (p[i] == '-') {
        i++;
    }
    if (i >= n || !is_digit(p[i])) {
        return js_fail(s, s->e_syntax, st, "invalid number");
    }
    i = p[i] == '0' ? i + 1 : js_digits(p, n, i);
    if (i < n && p[i] == '.') {
        if (i + 1 >= n || !is_digit(p[i + 1])) {
            return js_fail(s, s->e_syntax, st, "invalid number: digit expected after '.'");
        }
        i = js_digits(p, n, i + 1);
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        if (i >= n || !is_digit(p[i])) {
            return js_fail(s, s->e_syntax, st, "invalid number: digit expected in exponent");
        }
        i = js_digits(p, n, i);
    }
    if (i - st > FILTER_MAX_NUMBER_CHARS) {
        return js_fail(s, s->e_syntax, st, "number literal longer than 63 characters");
    }
    *ip = i;
    return s->all_values || s->numbers ? js_record(s, st, i - st) : 0;
}

static int js_literal(struct jscan *s, size_t *ip)
{
    static const char *const lits[] = {"true", "false", "null"};
    size_t i = *ip, k;

    for (k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (s->n - i >= l && memcmp(s->p + i, lits[k], l) == 0) {
            *ip = i + l;
            return s->all_values ? js_record(s, i, 0) : 0;
        }
    }
    return js_fail(s, s->e_syntax, i, "unexpected character");
}

/* Open a container at p[i]; pushes onto stack. */
static int js_open(struct jscan *s, unsigned char *stack, unsigned *depth, size_t i)
{
    if (*depth >= s->max_depth) {
        return js_fail(s, s->e_deep, i, "nesting deeper than the limit");
    }
    stack[(*depth)++] = s->p[i];
    return s->all_values ? js_record(s, i, 0) : 0;
}

/* Scan exactly one JSON value starting at *ip (leading whitespace allowed);
 * *ip ends just past it.  Non-recursive: an explicit stack bounds depth. */
static int js_value(struct jscan *s, size_t *ip)
{
    unsigned char stack[FILTER_MAX_EVENT_DEPTH + 1];
    const unsigned char *p = s->p;
    unsigned depth = 0;
    size_t n = s->n, i = *ip;

value:
    i = js_ws(p, n, i);
    if (i >= n) {
        return js_fail(s, s->e_syntax, i, "unexpected end of input");
    }
    switch (p[i]) {
    case '{':
        if (js_open(s, stack, &depth, i) < 0) {
            return -1;
        }
        i = js_ws(p, n, i + 1);
        if (i < n && p[i] == '}') {
            i++;
            depth--;
            goto after;
        }
        goto key;
    case '[':
        if (js_open(s, stack, &depth, i) < 0) {
            return -1;
        }
        i = js_ws(p, n, i + 1);
        if (i < n && p[i] == ']') {
            i++;
            depth--;
            goto after;
        }
        goto value;
    case '"':
        if ((s->all_values && js_record(s, i, 0) < 0) || js_string(s, &i) < 0) {
            return -1;
        }
        goto after;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if (js_number(s, &i) < 0) {
            return -1;
        }
        goto after;
    default:
        if (js_literal(s, &i) < 0) {
            return -1;
        }
        goto after;
    }
key:
    if (i >= n || p[i] != '"') {
        return js_fail(s, s->e_syntax, i, "expected a string key");
    }
    if (js_string(s, &i) < 0) {
        return -1;
    }
    i = js_ws(p, n, i);
    if (i >= n || p[i] != ':') {
        return js_fail(s, s->e_syntax, i, "expected ':'");
    }
    i++;
    goto value;
after:
    if (depth == 0) {
        *ip = i;
        return 0;
    }
    i = js_ws(p, n, i);
    if (i < n && p[i] == ',') {
        i = js_ws(p, n, i + 1);
        if (stack[depth - 1] == '{') {
            goto key;
        }
        goto value;
    }
    if (i < n && p[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
        i++;
        depth--;
        goto after;
    }
    return js_fail(s, s->e_syntax, i, "expected ',' or a closing bracket");
}

/* Validate a whole document: one value and only whitespace after it. */
static int js_document(struct jscan *s)
{
    size_t i = 0;
    if (js_value(s, &i) < 0) {
        return -1;
    }
    i = js_ws(s->p, s->n, i);
    if (i != s->n) {
        return js_fail(s, s->e_syntax, i, "trailing characters after the JSON value");
    }
    return 0;
}

int filter_json_member(const char *json, size_t len, const char *key, size_t *off, size_t *vlen)
{
    struct jscan s;
    size_t i, klen = key != NULL ? strlen(key) : 0, ks, vs;
    int found = -1;

    if (json == NULL || key == NULL || len > FILTER_MAX_EVENT_BYTES) {
        return -1;
    }
    jscan_init(&s, json, len, false, NULL);
    if (js_document(&s) < 0) {
        goto out;
    }
    i = js_ws(s.p, len, 0);
    if (s.p[i] != '{') {
        goto out;
    }
    i = js_ws(s.p, len, i + 1);
    while (i < len && s.p[i] == '"') {
        ks = i + 1;
        if (js_string(&s, &i) < 0) {
            goto out;
        }
        bool match = i - 1 - ks == klen && memcmp(s.p + ks, key, klen) == 0;
        i = js_ws(s.p, len, i) + 1; /* past ':' (validated above) */
        vs = js_ws(s.p, len, i);
        i = vs;
        if (js_value(&s, &i) < 0) {
            goto out;
        }
        if (match) {
            *off = vs;
            *vlen = i - vs;
            found = 0;
        }
        i = js_ws(s.p, len, i);
        if (i < len && s.p[i] == ',') {
            i = js_ws(s.p, len, i + 1);
        }
    }
out:
    jscan_finish(&s);
    return found;
}

/* ------------------------------------------------------------------------ */
/* Documents: scan, parse with cJSON, number the nodes                      */
/* ------------------------------------------------------------------------ */

struct doc {
    cJSON *root;
    const char *src; /* text the spans point into */
    struct jspan *v; /* values (patterns) or numbers (events) */
    size_t nv;
    struct jscan scan; /* owns v */
};

static void number_all(cJSON *j, int *k)
{
    for (; j != NULL; j = j->next) {
        j->valueint = (*k)++;
        if (j->child != NULL) {
            number_all(j->child, k);
        }
    }
}

static void number_numbers(cJSON *j, int *k)
{
    for (; j != NULL; j = j->next) {
        if (cJSON_IsNumber(j)) {
            j->valueint = (*k)++;
        } else if (j->child != NULL) {
            number_numbers(j->child, k);
        }
    }
}

/* Scan and parse text.  Recursion in number_* is bounded by the scanner's
 * depth limit.  numbers: keep event number text (only needed when a pattern
 * has an exact number; src is NULL otherwise).  On success the caller must
 * doc_close(). */
static int doc_open(struct doc *d, const char *text, size_t len, bool pattern, bool numbers,
                    filter_error *err)
{
    size_t max = pattern ? FILTER_MAX_PATTERN_BYTES : FILTER_MAX_EVENT_BYTES;
    int k = 0;

    memset(d, 0, sizeof(*d));
    jscan_init(&d->scan, text, len, pattern, err);
    d->scan.numbers = numbers;
    if (text == NULL) {
        return set_err(err, FILTER_E_ARG, 0, "%s text is NULL", pattern ? "pattern" : "event");
    }
    if (len > max) {
        return set_err(err, pattern ? FILTER_E_TOO_LARGE : FILTER_E_EVENT_TOO_LARGE, max,
                       "%s is %zu bytes; the limit is %zu", pattern ? "pattern" : "event", len,
                       max);
    }
    if (js_document(&d->scan) < 0) {
        jscan_finish(&d->scan);
        return -1;
    }
    d->root = cJSON_ParseWithLength(text, len);
    if (d->root == NULL) {
        jscan_finish(&d->scan);
        return set_err(err, FILTER_E_NOMEM, 0, "out of memory parsing JSON");
    }
    if (pattern) {
        number_all(d->root, &k);
    } else if (numbers) {
        number_numbers(d->root, &k);
    }
    d->src = numbers ? text : NULL;
    d->v = d->scan.v;
    d->nv = d->scan.nv;
    return 0;
}

static void doc_close(struct doc *d)
{
    cJSON_Delete(d->root);
    d->root = NULL;
    jscan_finish(&d->scan);
}

/* ------------------------------------------------------------------------ */
/* Compiled form                                                            */
/* ------------------------------------------------------------------------ */

enum mkind {
    MK_STR,
    MK_NUM,
    MK_TRUE,
    MK_FALSE,
    MK_NULL,
    MK_PREFIX,
    MK_SUFFIX,
    MK_EIC,
    MK_PREFIX_EIC,
    MK_SUFFIX_EIC,
    MK_WILDCARD,
    MK_NUMERIC,
    MK_EXISTS,
    MK_CIDR,
    MK_ABUT,
};

enum { NUM_HAS_LO = 1, NUM_LO_INCL = 2, NUM_HAS_HI = 4, NUM_HI_INCL = 8 };

struct piece {
    const char *s;
    size_t n;
};

struct matcher {
    uint8_t kind;
    uint8_t flags; /* numeric bounds; exists value; cidr family (4, 6) */
    uint16_t bits; /* cidr prefix length */
    size_t n; /* bytes of s, code points of cp, pieces of pc, subs */
    const char *s;
    const uint32_t *cp;
    const struct piece *pc;
    const struct matcher *sub;
    double lo, hi;
    uint8_t addr[16];
};

struct leaf {
    const struct matcher *m;
    size_t n;
};

struct node;

struct field {
    const char *key;
    const struct node *child; /* NULL: leaf */
    struct leaf leaf;
};

struct orgroup {
    const struct node *alt;
    size_t n;
};

struct node {
    const struct field *f;
    size_t nf;
    const struct orgroup *ors;
    size_t nor;
};

struct filter {
    struct arena arena;
    struct node root;
    bool numtext; /* has an exact-number condition: events keep number text */
};

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
    return set_err(c->err, code, off, "pattern at %s (byte %zu): %s",
                   c->plen ? c->path : "(top level)", off, why);
}

static int cnomem(struct cctx *c)
{
    return set_err(c->err, FILTER_E_NOMEM, 0, "out of memory compiling pattern");
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
    const unsigned char *s = (const unsigned char *)j->valuestring;
    size_t n = strlen(j->valuestring), i = 0, k = 0;
    uint32_t *cp = arena_alloc(c->a, (n + 1) * sizeof(*cp));

    if (cp == NULL) {
        return cnomem(c);
    }
    while (i < n) {
        cp[k++] = fold_cp(utf8_next(s, n, &i));
    }
    m->kind = kind;
    m->cp = cp;
    m->n = k;
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
        if (!is_digit((unsigned char)slash[1]) || strlen(slash + 1) > 3) {
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

static int c_abut_scalar(struct cctx *c, const cJSON *e, struct matcher *sub)
{
    if (cJSON_IsString(e)) {
        return c_string(c, e, sub, MK_STR);
    }
    sub->kind = MK_NUMERIC;
    sub->lo = sub->hi = e->valuedouble;
    sub->flags = NUM_HAS_LO | NUM_LO_INCL | NUM_HAS_HI | NUM_HI_INCL;
    return 0;
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

    clear_err(err);
    if (doc_open(&d, pattern, len, true, true, err) < 0) {
        return NULL;
    }
    if (!cJSON_IsObject(d.root)) {
        set_err(err, FILTER_E_NOT_OBJECT, d.v[0].off, "pattern at byte %u: must be a JSON object",
                d.v[0].off);
        goto done;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        set_err(err, FILTER_E_NOMEM, 0, "out of memory");
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
    doc_close(&d);
    return f;
}

void filter_destroy(filter *f)
{
    if (f != NULL) {
        arena_free(&f->arena);
        free(f);
    }
}

/* ------------------------------------------------------------------------ */
/* Matching                                                                 */
/* ------------------------------------------------------------------------ */

/* Where number text comes from: spans into src, or (src NULL) the double. */
struct mctx {
    const char *src;
    const struct jspan *nums;
    size_t nnums;
};

enum vtype { V_NONE, V_STR, V_NUM, V_TRUE, V_FALSE, V_NULL };

/* One event leaf value, looked at once and tested against many matchers. */
struct val {
    enum vtype t;
    const char *s; /* string bytes or number text */
    size_t n;
    double d;
    char buf[32];
};

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
static void val_numtext(struct val *v)
{
    if (v->s == NULL) {
        canonical_number(v);
    }
}

static void val_make(struct val *v, const cJSON *j, const struct mctx *c)
{
    v->t = V_NONE;
    if (cJSON_IsString(j)) {
        v->t = V_STR;
        v->s = j->valuestring;
        v->n = strlen(j->valuestring);
    } else if (cJSON_IsNumber(j)) {
        v->t = V_NUM;
        v->d = j->valuedouble;
        v->s = NULL; /* text on demand: val_numtext */
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
    const unsigned char *s = (const unsigned char *)v->s;
    size_t i = 0, total = 0;

    if (m->kind == MK_EIC) {
        return fold_eq_at(m->cp, m->n, s, v->n, &i) && i == v->n;
    }
    if (m->kind == MK_PREFIX_EIC) {
        return fold_eq_at(m->cp, m->n, s, v->n, &i);
    }
    while (i < v->n) {
        utf8_next(s, v->n, &i);
        total++;
    }
    if (total < m->n) {
        return false;
    }
    for (i = 0; total > m->n; total--) {
        utf8_next(s, v->n, &i);
    }
    return fold_eq_at(m->cp, m->n, s, v->n, &i) && i == v->n;
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
        val_numtext(v);
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
    val_make(&x, v, c);
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
static bool node_match(const struct node *n, const cJSON *v, const struct mctx *c)
{
    const cJSON *obj, *e;
    size_t i, k;

    if (v != NULL && cJSON_IsArray(v) && v->child != NULL) {
        for (e = v->child; e != NULL; e = e->next) {
            if (node_match(n, e, c)) {
                return true;
            }
        }
        return false;
    }
    obj = (v != NULL && cJSON_IsObject(v)) ? v : NULL;
    for (i = 0; i < n->nf; i++) {
        const struct field *f = &n->f[i];
        const cJSON *mv = obj != NULL ? member_last(obj, f->key) : NULL;
        if (f->child != NULL ? !node_match(f->child, mv, c) : !leaf_match(&f->leaf, mv, c)) {
            return false;
        }
    }
    for (i = 0; i < n->nor; i++) {
        for (k = 0; k < n->ors[i].n; k++) {
            if (node_match(&n->ors[i].alt[k], obj, c)) {
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

static struct mctx doc_mctx(const struct doc *d)
{
    struct mctx c = {d->src, d->v, d->nv};
    return c;
}

int filter_match(const filter *f, const char *event, size_t len, filter_error *err)
{
    struct doc d;
    struct mctx c;
    int r;

    clear_err(err);
    if (f == NULL) {
        return set_err(err, FILTER_E_ARG, 0, "filter is NULL");
    }
    if (doc_open(&d, event, len, false, f->numtext, err) < 0) {
        return -1;
    }
    c = doc_mctx(&d);
    r = node_match(&f->root, d.root, &c) ? 1 : 0;
    doc_close(&d);
    return r;
}

filter_event *filter_event_parse(const char *event, size_t len, filter_error *err)
{
    struct doc d;
    filter_event *ev;
    size_t total = 0, i, w = 0;

    clear_err(err);
    if (doc_open(&d, event, len, false, true, err) < 0) {
        return NULL;
    }
    for (i = 0; i < d.nv; i++) {
        total += d.v[i].len;
    }
    ev = calloc(1, sizeof(*ev));
    if (ev == NULL || (ev->text = malloc(total + 1)) == NULL ||
        (ev->nums = malloc((d.nv + 1) * sizeof(*ev->nums))) == NULL) {
        filter_event_destroy(ev);
        doc_close(&d);
        set_err(err, FILTER_E_NOMEM, 0, "out of memory");
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
    doc_close(&d);
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

static struct mctx event_mctx(const filter_event *ev)
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
    c = event_mctx(ev);
    return node_match(&f->root, ev->root, &c) ? 1 : 0;
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

static int check_json(const cJSON *event, filter_error *err)
{
    if (event == NULL) {
        return set_err(err, FILTER_E_ARG, 0, "event is NULL");
    }
    if (!json_depth_ok(event, 0)) {
        return set_err(err, FILTER_E_EVENT_TOO_DEEP, 0, "event nests deeper than %u levels",
                       FILTER_MAX_EVENT_DEPTH);
    }
    return 0;
}

int filter_match_json(const filter *f, const cJSON *event, filter_error *err)
{
    struct mctx c = {NULL, NULL, 0};

    clear_err(err);
    if (f == NULL) {
        return set_err(err, FILTER_E_ARG, 0, "filter is NULL");
    }
    if (check_json(event, err) < 0) {
        return -1;
    }
    return node_match(&f->root, event, &c) ? 1 : 0;
}

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

    clear_err(err);
    if (s == NULL) {
        return set_err(err, FILTER_E_ARG, 0, "set is NULL");
    }
    if (s->npats >= FILTER_MAX_SET_PATTERNS) {
        return set_err(err, FILTER_E_TOO_MANY_PATTERNS, 0, "a set holds at most %u patterns",
                       FILTER_MAX_SET_PATTERNS);
    }
    if (set_reserve(s) < 0) {
        return set_err(err, FILTER_E_NOMEM, 0, "out of memory");
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
    val_make(&x, v, w->c);
    switch (x.t) {
    case V_STR:
        hit(w, t, 's', x.s, x.n);
        for (k = 0; k < t->nplens && t->plens[k] <= x.n; k++) {
            hit(w, t, 'p', x.s, t->plens[k]);
        }
        break;
    case V_NUM:
        if (w->s->numtext) {
            val_numtext(&x);
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
        return set_err(err, FILTER_E_ARG, 0, "set or result array is NULL");
    }
    if (scratch_reserve(s) < 0) {
        return set_err(err, FILTER_E_NOMEM, 0, "out of memory");
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
        if (node_match(&s->pats[p]->root, root, c)) {
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

    clear_err(err);
    if (s == NULL) {
        return set_err(err, FILTER_E_ARG, 0, "set is NULL");
    }
    if (doc_open(&d, event, len, false, s->numtext, err) < 0) {
        return -1;
    }
    c = doc_mctx(&d);
    r = set_match_tree(s, d.root, &c, matched, err);
    doc_close(&d);
    return r;
}

int filter_set_match_event(const filter_set *s, const filter_event *ev, uint32_t *matched,
                           filter_error *err)
{
    struct mctx c;

    clear_err(err);
    if (ev == NULL) {
        return set_err(err, FILTER_E_ARG, 0, "event is NULL");
    }
    c = event_mctx(ev);
    return set_match_tree(s, ev->root, &c, matched, err);
}

int filter_set_match_json(const filter_set *s, const cJSON *event, uint32_t *matched,
                          filter_error *err)
{
    struct mctx c = {NULL, NULL, 0};

    clear_err(err);
    if (check_json(event, err) < 0) {
        return -1;
    }
    return set_match_tree(s, event, &c, matched, err);
}
