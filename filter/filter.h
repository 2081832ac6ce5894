/*
 * filter/filter.h — the event filter engine (EventBridge pattern language).
 *
 * One compiled pattern (filter) answers "does this event match?"; a
 * filter_set holds many patterns and answers "which of them match?" with an
 * index, so its cost grows far more slowly than the number of patterns.
 * Event source mappings, bus rules and topic subscriptions all use it; the
 * CLI's `lamina test-pattern` links it without a broker.  This header is the
 * library's contract; filter/README.md describes the pattern language for
 * users.
 *
 * The grammar is written at the head of compile.c, the semantics chosen
 * where AWS documents little at the head of match.c, the index and its
 * complexity at the head of set.c, and the stages' map in
 * filter_internal.h; the limits are below.  All functions are
 * pure computation: no I/O, no logging, no global state except a per-thread
 * scratch buffer used by filter_set_match (see filter_thread_release).
 * Compiled filters and sets are immutable after building and may be matched
 * from several threads at once; building (filter_set_add) needs exclusive
 * access.
 */
#ifndef FILTER_FILTER_H
#define FILTER_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* ---- limits (each has its own error code) ---- */
#define FILTER_MAX_PATTERN_BYTES 4096u /* Lambda's Filter.Pattern length */
#define FILTER_MAX_PATTERN_DEPTH 16u /* JSON nesting levels in a pattern */
#define FILTER_MAX_PATTERN_VALUES 1024u /* JSON values in one pattern */
#define FILTER_MAX_SET_PATTERNS 100000u /* patterns in one filter_set */
#define FILTER_MAX_EVENT_BYTES 6291456u /* 6 MiB, Lambda's payload cap */
#define FILTER_MAX_EVENT_DEPTH 64u /* JSON nesting levels in an event */
#define FILTER_MAX_NUMBER_CHARS 63u /* longest JSON number literal */

/* ---- errors: explicit, never renumbered; names and messages from here ---- */
#define FILTER_ERRORS(X)                                                \
    X(FILTER_OK, 0, "ok")                                               \
    X(FILTER_E_NOMEM, 1, "out of memory")                               \
    X(FILTER_E_ARG, 2, "invalid argument")                              \
    X(FILTER_E_SYNTAX, 3, "pattern is not valid JSON")                  \
    X(FILTER_E_NOT_OBJECT, 4, "pattern must be a JSON object")          \
    X(FILTER_E_UNKNOWN_OPERATOR, 5, "unknown operator")                 \
    X(FILTER_E_LEAF_NOT_ARRAY, 6, "leaf value must be an array")        \
    X(FILTER_E_BAD_VALUE, 7, "value not allowed here")                  \
    X(FILTER_E_EMPTY, 8, "empty list or object")                        \
    X(FILTER_E_MIXED_ANYTHING_BUT, 9, "anything-but list mixes types")  \
    X(FILTER_E_BAD_NUMERIC, 10, "bad numeric condition")                \
    X(FILTER_E_WILDCARD_CONSECUTIVE, 11, "consecutive '*' in wildcard") \
    X(FILTER_E_BAD_WILDCARD, 12, "bad escape in wildcard")              \
    X(FILTER_E_BAD_CIDR, 13, "bad cidr")                                \
    X(FILTER_E_BAD_OR, 14, "bad $or")                                   \
    X(FILTER_E_TOO_DEEP, 15, "pattern nests too deeply")                \
    X(FILTER_E_TOO_LARGE, 16, "pattern too large")                      \
    X(FILTER_E_TOO_MANY_PATTERNS, 17, "too many patterns in set")       \
    X(FILTER_E_EVENT_SYNTAX, 18, "event is not valid JSON")             \
    X(FILTER_E_EVENT_TOO_LARGE, 19, "event too large")                  \
    X(FILTER_E_EVENT_TOO_DEEP, 20, "event nests too deeply")

enum filter_errc {
#define FILTER_ENUM_(name, num, msg) name = num,
    FILTER_ERRORS(FILTER_ENUM_)
#undef FILTER_ENUM_
};

/* A failure: code, byte offset into the input that failed (pattern or event
 * text; 0 when unknown) and a message naming the position (byte offset and,
 * for patterns, the JSON path such as `detail.state[0]`) and the reason. */
typedef struct filter_error {
    int code;
    size_t offset;
    char message[256];
} filter_error;

typedef struct filter filter; /* one compiled pattern */
typedef struct filter_set filter_set; /* many patterns, one matcher */
typedef struct filter_event filter_event; /* a parsed, validated event */

/* Static name ("FILTER_E_SYNTAX") and message for a code; never NULL. */
const char *filter_error_name(int code);
const char *filter_strerror(int code);

/* Compile one pattern (strict JSON object, len bytes, need not be
 * NUL-terminated).  Copies what it needs: pattern may be freed on return.
 * Returns NULL and fills err (if non-NULL) on failure.  Caller owns result. */
filter *filter_compile(const char *pattern, size_t len, filter_error *err);

/* Free a compiled pattern.  Accepts NULL. */
void filter_destroy(filter *f);

/* Match an event text (len bytes, borrowed for the call).  Returns 1 match,
 * 0 no match, -1 bad event (err filled: FILTER_E_EVENT_*). */
int filter_match(const filter *f, const char *event, size_t len, filter_error *err);

/* Parse and validate an event once so that it can be matched against many
 * filters and sets.  Copies nothing from event except into its own tree:
 * event may be freed on return.  Caller owns the result (filter_event_destroy). */
filter_event *filter_event_parse(const char *event, size_t len, filter_error *err);

/* Free a parsed event.  Accepts NULL. */
void filter_event_destroy(filter_event *ev);

/* The event's cJSON tree, borrowed: valid until filter_event_destroy.
 * Number nodes' valueint is used internally and is not the number's value. */
const cJSON *filter_event_json(const filter_event *ev);

/* Match a parsed event (borrowed).  Returns 1 or 0. */
int filter_match_event(const filter *f, const filter_event *ev);

/* Match a cJSON tree the caller parsed (borrowed).  Without the source text,
 * number matching by text (exact and anything-but) compares the shortest
 * round-trip text of the double (so 300.0 in the source is seen as 300).  Returns 1, 0, or -1 when the
 * tree nests deeper than FILTER_MAX_EVENT_DEPTH (err filled). */
int filter_match_json(const filter *f, const cJSON *event, filter_error *err);

/* An empty set.  Caller owns the result (filter_set_destroy). */
filter_set *filter_set_create(void);

/* Free a set and every pattern in it.  Accepts NULL. */
void filter_set_destroy(filter_set *s);

/* Compile pattern (copied; may be freed on return) and add it.  Returns its
 * index (0, 1, 2 … in order of adding) or -1 with err filled. */
int filter_set_add(filter_set *s, const char *pattern, size_t len, filter_error *err);

/* Number of patterns in the set. */
size_t filter_set_count(const filter_set *s);

/* Which patterns match the event (len bytes, borrowed)?  matched must have
 * room for filter_set_count(s) indices; they are written in ascending order.
 * Returns the number matched (>= 0) or -1 bad event (err filled). */
int filter_set_match(const filter_set *s, const char *event, size_t len, uint32_t *matched,
                     filter_error *err);

/* Same for a parsed event (borrowed).  Returns the number matched, or -1
 * (FILTER_E_NOMEM) when the per-thread scratch cannot grow. */
int filter_set_match_event(const filter_set *s, const filter_event *ev, uint32_t *matched,
                           filter_error *err);

/* Same for a caller-parsed cJSON tree (number caveat as filter_match_json). */
int filter_set_match_json(const filter_set *s, const cJSON *event, uint32_t *matched,
                          filter_error *err);

/* Free this thread's matching scratch (grown by filter_set_match*).  Call
 * before a thread that matched sets exits; harmless otherwise. */
void filter_thread_release(void);

/* Find the raw text of member `key` (last one wins) of the JSON object in
 * json[0..len): sets *off and *vlen to the value's span.  Used to pass a
 * sub-document to filter_compile/filter_match without losing number text.
 * Returns 0, or -1 if json is not a valid object or has no such member. */
int filter_json_member(const char *json, size_t len, const char *key, size_t *off, size_t *vlen);

#endif
