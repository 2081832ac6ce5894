/*
 * proto/names.c — Lambda's name rules, in one place: function names and
 * the ways to refer to a function (NAME, NAME:QUALIFIER, function:NAME,
 * partial and full ARNs), qualifiers, alias names, environment variable
 * keys and async invokes' idempotency keys (ours: Lambda has none).  Pure
 * functions over (pointer, length): nothing here assumes a NUL terminator,
 * so a NUL or any byte outside a pattern is simply a non-match, never a
 * cut.
 *
 * The grammar (Lambda's FunctionName pattern, anchored):
 *
 *   [arn:PARTITION:lambda:][REGION:][ACCOUNT:]function:NAME[:QUALIFIER]
 *   arn:F[:F[:F[:F]]]:function:NAME[:QUALIFIER]    (each F [a-zA-Z0-9-]*)
 *   NAME[:QUALIFIER]
 *
 *   PARTITION  "aws" [a-zA-Z-]*, or empty
 *   REGION     [a-z]{2}(-gov)?-[a-z]+-[0-9]      (us-east-1, us-gov-west-1)
 *   ACCOUNT    [0-9]{12}
 *   NAME       [a-zA-Z0-9-_]{1,64}
 *   QUALIFIER  $LATEST | a version number (1-10 digits) | an alias name
 *   ALIAS      [a-zA-Z0-9-_]{1,128}, not all digits
 *
 * The second line keeps README-versions' promise of any "arn:…:function:"
 * (arn:lamina:local:0:function:NAME) with one to four plain fields.
 * Lambda's regex makes every prefix optional on its own; we read a region
 * or account only in front of "function:", so "eu-west-1:prod" stays the
 * function eu-west-1 at its alias prod rather than the function prod.  The
 * whole reference is 1-170 characters (Invoke's limit; we use it for
 * every operation).  Lambda's Invoke pattern also lets a '.' into NAME,
 * which no created function can have; we refuse it with the same 400.
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

/* [a-zA-Z0-9-_]{1,max} */
static bool name_chars(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_') {
            return false;
        }
    }
    return true;
}

bool proto_valid_function_name(const char *s, size_t n)
{
    return name_chars(s, n, PROTO_NAME_MAX);
}

bool proto_valid_alias_name(const char *s, size_t n)
{
    return name_chars(s, n, PROTO_ALIAS_MAX) && !all_digits(s, n);
}

bool proto_valid_version(const char *s, size_t n)
{
    return (n == 7 && memcmp(s, "$LATEST", 7) == 0) || (n <= 10 && all_digits(s, n));
}

bool proto_valid_qualifier(const char *s, size_t n)
{
    return proto_valid_version(s, n) || proto_valid_alias_name(s, n);
}

static bool has_prefix(const char *p, const char *end, const char *want)
{
    size_t n = strlen(want);
    return (size_t)(end - p) >= n && memcmp(p, want, n) == 0;
}

/* REGION ":" at p: its length with the colon, or 0. */
static size_t region_len(const char *p, const char *end)
{
    const char *s = p;
    if (end - s < 2 || !(s[0] >= 'a' && s[0] <= 'z') || !(s[1] >= 'a' && s[1] <= 'z')) {
        return 0;
    }
    s += 2;
    if (has_prefix(s, end, "-gov")) {
        s += 4;
    }
    if (s >= end || *s != '-') {
        return 0;
    }
    const char *word = ++s;
    while (s < end && *s >= 'a' && *s <= 'z') {
        s++;
    }
    if (s == word || end - s < 3 || s[0] != '-' || s[1] < '0' || s[1] > '9' || s[2] != ':') {
        return 0;
    }
    return (size_t)(s + 3 - p);
}

/* ACCOUNT ":" at p: 13, or 0. */
static size_t account_len(const char *p, const char *end)
{
    return end - p >= 13 && all_digits(p, 12) && p[12] == ':' ? 13 : 0;
}

/* "arn:" PARTITION ":lambda:" at p: its length, or 0. */
static size_t arn_head_len(const char *p, const char *end)
{
    if (!has_prefix(p, end, "arn:")) {
        return 0;
    }
    const char *s = p + 4;
    if (has_prefix(s, end, "aws")) {
        s += 3;
        while (s < end && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-')) {
            s++;
        }
    }
    return has_prefix(s, end, ":lambda:") ? (size_t)(s + 8 - p) : 0;
}

/* A generic ARN head, "arn:" and one to four fields of [a-zA-Z0-9-]*
 * each ended by ':' (arn:lamina:local:0:), in front of "function:": its
 * length, or 0. */
static size_t arn_generic_len(const char *p, const char *end)
{
    const char *s = p + 4;
    if (!has_prefix(p, end, "arn:")) {
        return 0;
    }
    for (int field = 0; field < 4; field++) {
        while (s < end && (is_alnum(*s) || *s == '-')) {
            s++;
        }
        if (s >= end || *s != ':') {
            return 0;
        }
        s++;
        if (has_prefix(s, end, "function:")) {
            return (size_t)(s - p);
        }
    }
    return 0;
}

/* Skip [REGION:][ACCOUNT:]function: at p; p itself when it is not there. */
static const char *skip_function_prefix(const char *p, const char *end)
{
    const char *s = p + region_len(p, end);
    s += account_len(s, end);
    return has_prefix(s, end, "function:") ? s + 9 : p;
}

static int bad_ref(const char *fn, size_t fnlen, const char *why, lm_error *e)
{
    char q[200];
    proto_quote(q, sizeof(q), fn, fnlen);
    return proto_error(e, LM_E_INVALID_PARAMETER,
                       "FunctionName '%s' is invalid: %s (use NAME, NAME:QUALIFIER, "
                       "function:NAME[:QUALIFIER] or an ARN ending so; NAME is 1-64 letters, "
                       "digits, '-' or '_')",
                       q, why);
}

static int bad_qualifier(const char *q, size_t n, lm_error *e)
{
    char b[160];
    proto_quote(b, sizeof(b), q, n);
    return proto_error(e, LM_E_INVALID_PARAMETER,
                       "Qualifier '%s' is invalid: use $LATEST, a version number or an alias name "
                       "(1-128 letters, digits, '-' or '_', not all digits)",
                       b);
}

int proto_parse_function_ref(const char *fn, size_t fnlen, const char *q, size_t qlen,
                             char name[PROTO_NAME_MAX + 1], char qual[PROTO_QUALIFIER_MAX + 1],
                             lm_error *e)
{
    const char *end = fn + fnlen, *p = fn;
    if (fn == NULL || fnlen == 0 || fnlen > PROTO_FUNCTION_REF_MAX) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "FunctionName must be 1 to %d characters long", PROTO_FUNCTION_REF_MAX);
    }
    size_t head = arn_head_len(p, end);
    const char *s = head > 0 ? skip_function_prefix(p + head, end) : p;
    if (head > 0 && s != p + head) {
        p = s; /* Lambda's ARN */
    } else if ((head = arn_generic_len(p, end)) > 0) {
        p += head + 9; /* arn:F:…:function: */
    } else if (has_prefix(p, end, "arn:")) {
        return bad_ref(fn, fnlen, "not a function ARN (arn:...:function:NAME)", e);
    } else {
        p = skip_function_prefix(p, end);
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    size_t nlen = (size_t)((colon != NULL ? colon : end) - p);
    if (!proto_valid_function_name(p, nlen)) {
        return bad_ref(fn, fnlen, "the name does not match [a-zA-Z0-9-_]{1,64}", e);
    }
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    qual[0] = '\0';
    if (colon != NULL) {
        size_t ql = (size_t)(end - colon - 1);
        if (memchr(colon + 1, ':', ql) != NULL) {
            return bad_ref(fn, fnlen, "more than NAME:QUALIFIER after the prefix", e);
        }
        if (!proto_valid_qualifier(colon + 1, ql)) {
            return bad_qualifier(colon + 1, ql, e);
        }
        memcpy(qual, colon + 1, ql);
        qual[ql] = '\0';
    }
    if (q == NULL || qlen == 0) {
        return LM_OK;
    }
    if (!proto_valid_qualifier(q, qlen)) {
        return bad_qualifier(q, qlen, e);
    }
    if (qual[0] != '\0' && (strlen(qual) != qlen || memcmp(qual, q, qlen) != 0)) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Qualifier conflicts with the one in FunctionName");
    }
    memcpy(qual, q, qlen);
    qual[qlen] = '\0';
    return LM_OK;
}

/* Keys the broker sets in every environment (a user's copy would shadow
 * ours: getenv finds the first), Lambda's reserved keys, and keys the
 * dynamic loader or libc act on when the runtime starts, before any
 * sandbox layer is in place (LD_PRELOAD would run code as the broker's
 * user). */
static const char *const reserved_prefixes[] = {"LAMINA_", "AWS_LAMBDA_", "LAMBDA_", "LD_"};
static const char *const reserved_keys[] = {
    "PATH",
    "TMPDIR",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "ASAN_OPTIONS",
    "UBSAN_OPTIONS",
    "LSAN_OPTIONS",
    "TSAN_OPTIONS",
};

const char *proto_env_key_problem(const char *k, size_t n)
{
    if (n < 2 || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z'))) {
        return "keys must match [a-zA-Z][a-zA-Z0-9_]+";
    }
    for (size_t i = 1; i < n; i++) {
        if (!is_alnum(k[i]) && k[i] != '_') {
            return "keys must match [a-zA-Z][a-zA-Z0-9_]+";
        }
    }
    for (size_t i = 0; i < sizeof(reserved_prefixes) / sizeof(reserved_prefixes[0]); i++) {
        if (has_prefix(k, k + n, reserved_prefixes[i])) {
            return "the key is reserved (LAMINA_*, AWS_LAMBDA_*, LAMBDA_* and LD_* are)";
        }
    }
    for (size_t i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]); i++) {
        if (strlen(reserved_keys[i]) == n && memcmp(reserved_keys[i], k, n) == 0) {
            return "the key is reserved: the broker sets it, Lambda reserves it, or libc reads "
                   "it before the sandbox is in place";
        }
    }
    return NULL;
}

const char *proto_idempotency_key_problem(const char *k, size_t n)
{
    if (n == 0 || n > PROTO_IDEMPOTENCY_KEY_MAX) {
        return "an idempotency key is 1 to 128 characters";
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e) {
            return "an idempotency key is visible ASCII only (0x21-0x7e: no spaces or control "
                   "characters)";
        }
    }
    return NULL;
}
