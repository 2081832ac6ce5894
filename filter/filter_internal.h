/*
 * filter/filter_internal.h — what the filter engine's stages share.  Not
 * part of the contract (that is filter.h); only the filter/ sources include it.
 *
 * THE STAGES, in the order text flows through them:
 *
 *   json.c     strict JSON scanner, then cJSON, then the nodes numbered
 *              (struct doc): patterns keep every value's offset, events the
 *              text of their numbers.  Also filter_json_member.
 *   compile.c  a pattern's doc → an immutable tree of conditions (struct
 *              filter) in one arena: filter_compile, filter_destroy.
 *   match.c    an event value against a condition, a tree against an event
 *              (filter_node_match); parsed events; filter_match*.
 *   set.c      many patterns behind one index: filter_set_*.
 *   fold.c     UTF-8 decoding and Unicode simple case folding, used by the
 *              scanner (UTF-8 validity), the compiler and the matcher.
 *   error.c    the error table's names and messages; filling filter_error.
 *
 * Calls point one way, towards the earlier stages: set.c uses compile.c
 * (filter_compile), match.c and json.c; match.c and compile.c use json.c
 * (and fold.c); fold.c
 * and error.c call nothing.  match.c and set.c read the compiled form
 * defined here but never build it.  Everything file-local is static; every
 * name with external linkage starts with filter_ (the library is linked
 * into the broker, so bare names such as node_match could collide).  The
 * types below are internal and keep their short names.
 */
#ifndef FILTER_FILTER_INTERNAL_H
#define FILTER_FILTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "filter.h"

/* ---- error.c ---- */

/* Fill err (if non-NULL) with code, offset and a formatted message.
 * Returns -1, so that callers can `return filter_set_err(…)`. */
__attribute__((format(printf, 4, 5))) int filter_set_err(filter_error *err, int code, size_t off,
                                                         const char *fmt, ...);

/* Reset err (if non-NULL) to FILTER_OK with an empty message. */
void filter_clear_err(filter_error *err);

/* ---- fold.c ---- */

/* Length of the valid UTF-8 sequence at s (n >= 1 bytes available), 0 if
 * invalid (overlong forms, surrogates and code points above U+10FFFF are
 * invalid). */
size_t filter_utf8_len(const unsigned char *s, size_t n);

/* Decode s[0..n) and fold every code point into cp, which must have room
 * for n entries; an invalid byte becomes a value outside Unicode that only
 * equals the same invalid byte.  Returns the number of code points. */
size_t filter_fold_string(const char *s, size_t n, uint32_t *cp);

/* Compare the folded code points cp[0..ncp) (from filter_fold_string) with
 * the folded s[0..n): whole string, start of s, end of s. */
bool filter_fold_equals(const uint32_t *cp, size_t ncp, const char *s, size_t n);
bool filter_fold_prefix(const uint32_t *cp, size_t ncp, const char *s, size_t n);
bool filter_fold_suffix(const uint32_t *cp, size_t ncp, const char *s, size_t n);

/* ---- json.c ---- */

/* Where a value sits in the text it was scanned from. */
struct jspan {
    uint32_t off; /* byte offset of the value */
    uint32_t len; /* number literal length (0 for other values) */
};

#define JSCAN_INLINE 64

/* The scanner's state; part of struct doc so that a doc needs no
 * allocation for up to JSCAN_INLINE recorded values. */
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

/* A scanned and parsed document.  Each cJSON node's valueint is its index
 * into v: every node in document order (patterns), or only the number
 * nodes (events, when their text is kept). */
struct doc {
    cJSON *root;
    const char *src; /* text the spans point into */
    struct jspan *v; /* values (patterns) or numbers (events) */
    size_t nv;
    struct jscan scan; /* owns v */
};

/* Scan text (len bytes, borrowed until filter_doc_close: d->src points into
 * it) as a pattern or an event and parse it.  numbers: keep the event's
 * number text (only needed when a pattern has an exact number; d->src is
 * NULL otherwise).  Returns 0, or -1 with err filled and nothing to close. */
int filter_doc_open(struct doc *d, const char *text, size_t len, bool pattern, bool numbers,
                    filter_error *err);

/* Free what filter_doc_open allocated (the cJSON tree, unless the caller
 * took it and set d->root to NULL). */
void filter_doc_close(struct doc *d);

/* ---- compile.c: the compiled form, read by match.c and set.c ---- */

/* Condition kinds.  The order matters: the set index (set.c) indexes the
 * kinds up to and including MK_PREFIX and no others. */
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

/* One literal run of a wildcard, between two '*'. */
struct piece {
    const char *s;
    size_t n;
};

/* One condition (an element of a leaf's value list). */
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

/* A value list: matches if any of its conditions does. */
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

/* A pattern object: every field and every $or group must hold. */
struct node {
    const struct field *f;
    size_t nf;
    const struct orgroup *ors;
    size_t nor;
};

struct achunk;

/* Every allocation of one compiled pattern, freed at once. */
struct arena {
    struct achunk *head;
};

struct filter {
    struct arena arena;
    struct node root;
    bool numtext; /* has an exact-number condition: events keep number text */
};

/* ---- match.c ---- */

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

/* Look at event node j (borrowed for as long as v is used).  V_NONE for
 * objects and arrays.  A number's text is found lazily: filter_val_numtext. */
void filter_val_make(struct val *v, const cJSON *j, const struct mctx *c);

/* Make sure a V_NUM value's text is set: from the source, else the
 * shortest round-trip text of the double. */
void filter_val_numtext(struct val *v);

/* Does the event value v (NULL: absent) satisfy pattern object n?
 * Recursion is bounded by the pattern and event depth limits. */
bool filter_node_match(const struct node *n, const cJSON *v, const struct mctx *c);

/* Number text sources of a doc and of a parsed event (borrowed). */
struct mctx filter_doc_mctx(const struct doc *d);
struct mctx filter_event_mctx(const filter_event *ev);

/* Check a caller-built tree: not NULL and within FILTER_MAX_EVENT_DEPTH.
 * Returns 0, or -1 with err filled. */
int filter_check_json(const cJSON *event, filter_error *err);

#endif
