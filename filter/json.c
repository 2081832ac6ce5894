/*
 * filter/json.c — the filter engine's first stage: strict JSON in, a
 * parsed document (struct doc) out.
 *
 * Patterns and events are strict JSON (RFC 8259).  A small non-recursive
 * scanner checks every input before cJSON sees it, because cJSON alone
 * (a) accepts non-JSON such as `01`, `-.5`, `1.` and raw control
 * characters in strings, (b) drops the text of numbers, which exact number
 * matching needs, (c) would recurse before we could apply our depth limit,
 * and (d) truncates `\u0000` inside strings.  The scanner records the
 * offset of each value (patterns, for error positions) or the text span of
 * each number (events, and only when some pattern has an exact-number
 * condition); after cJSON_ParseWithLength the tree is walked once in
 * document order and each node's `valueint` is set to its index in that
 * record.  The scanner is validation only; cJSON remains the parser.
 *
 * Limits applied here: text size, nesting depth, values per pattern,
 * number literal length (FILTER_MAX_* in filter.h), each with its own
 * error code.  Strings holding U+0000 are rejected (cJSON cannot represent
 * them).  filter_json_member reuses the scanner to find a member's raw
 * text without parsing.
 */
#include "filter_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Strict JSON scanner (validation only; cJSON parses afterwards)            */
/* ------------------------------------------------------------------------ */

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
    return filter_set_err(s->err, code, at, "%s at byte %zu: %s",
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
            return filter_set_err(s->err, FILTER_E_NOMEM, off, "out of memory");
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
        l = filter_utf8_len(p + i, n - i);
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

/* Contract in filter_internal.h.  Recursion in number_* is bounded by the
 * scanner's depth limit. */
int filter_doc_open(struct doc *d, const char *text, size_t len, bool pattern, bool numbers,
                    filter_error *err)
{
    size_t max = pattern ? FILTER_MAX_PATTERN_BYTES : FILTER_MAX_EVENT_BYTES;
    int k = 0;

    memset(d, 0, sizeof(*d));
    jscan_init(&d->scan, text, len, pattern, err);
    d->scan.numbers = numbers;
    if (text == NULL) {
        return filter_set_err(err, FILTER_E_ARG, 0, "%s text is NULL",
                              pattern ? "pattern" : "event");
    }
    if (len > max) {
        return filter_set_err(err, pattern ? FILTER_E_TOO_LARGE : FILTER_E_EVENT_TOO_LARGE, max,
                              "%s is %zu bytes; the limit is %zu", pattern ? "pattern" : "event",
                              len, max);
    }
    if (js_document(&d->scan) < 0) {
        jscan_finish(&d->scan);
        return -1;
    }
    d->root = cJSON_ParseWithLength(text, len);
    if (d->root == NULL) {
        jscan_finish(&d->scan);
        return filter_set_err(err, FILTER_E_NOMEM, 0, "out of memory parsing JSON");
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

void filter_doc_close(struct doc *d)
{
    cJSON_Delete(d->root);
    d->root = NULL;
    jscan_finish(&d->scan);
}
