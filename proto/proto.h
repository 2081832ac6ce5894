/*
 * proto/proto.h — Lamina's wire format.
 *
 * Every message on the api and work sockets is one msgpack map with string
 * keys.  Key "v" carries the protocol version (PROTO_VERSION) and "op" the
 * operation.  Decoding is strict and bounded:
 *
 *   1. proto_validate() walks the raw bytes first and refuses anything whose
 *      element counts or lengths exceed the bytes actually present, that nests
 *      deeper than PROTO_MAX_DEPTH, that holds more than PROTO_MAX_ELEMENTS
 *      elements in total, or that has trailing bytes.  msgpack-c has no
 *      allocation limits of its own (msgpack/msgpack-c#1013): after this
 *      check its zone allocations are bounded by a small multiple of the
 *      input size.
 *   2. msgpack_unpack() then builds the object tree, zero-copy: strings and
 *      bins point into the input buffer, which must outlive the proto_doc.
 *   3. Typed getters (proto_get_*) fail with LM_E_MALFORMED and a message
 *      naming the field when a field is missing or has the wrong type.
 *
 *   4. Requests from clients (the api socket) are decoded with
 *      proto_decode_request(), which also checks that every string in the
 *      tree, keys included, is UTF-8 text without U+0000 (text.c), so no
 *      handler can meet "echo\0zzz" and no C string can cut it short.
 *      Workers' and the broker's own messages use proto_decode(): their
 *      strings may carry a handler's bytes.
 *
 * Encoding goes straight into an nng_msg body through a msgpack_packer whose
 * write callback appends to the message (no intermediate copy).
 */
#ifndef PROTO_PROTO_H
#define PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <nng/nng.h>

#include <lamina/error.h>

#define PROTO_VERSION 1
#define PROTO_MAX_DEPTH 16
#define PROTO_MAX_ELEMENTS 65536

/* Payload and message caps (bytes). */
#define PROTO_MAX_SYNC_PAYLOAD 6291456u /* Lambda's sync request cap */
#define PROTO_MAX_RESPONSE 6291556u /* Lambda's response cap (6 MiB + 100 B) */
#define PROTO_MAX_CLIENT_CONTEXT 3583u /* Lambda's ClientContext cap */
#define PROTO_MAX_CODE (50u * 1024u * 1024u) /* handler .so upload cap */
/* NNG_OPT_RECVMAXSZ for each socket: the largest legitimate message plus
 * room for the envelope.  Larger frames drop the pipe before allocation. */
#define PROTO_API_RECVMAX (PROTO_MAX_CODE + 1024u * 1024u)
#define PROTO_WORK_RECVMAX (PROTO_MAX_RESPONSE + 1024u * 1024u)
#define PROTO_LOGS_RECVMAX (256u * 1024u)
/* Streamed responses (function URLs with InvokeMode RESPONSE_STREAM): at most
 * 20 MiB in all (Lambda's cap for streamed responses), sent by the runtime
 * in "chunk" messages of at most PROTO_STREAM_CHUNK_MAX bytes each (plus a
 * prelude of at most PROTO_STREAM_PRELUDE_MAX), each answered before the
 * next is sent. */
#define PROTO_MAX_STREAM_RESPONSE (20u * 1024u * 1024u)
#define PROTO_STREAM_CHUNK_MAX (256u * 1024u)
#define PROTO_STREAM_PRELUDE_MAX (64u * 1024u)

/* ---- wire enums ----
 * Values that travel in a message field.  The public SDK names the same
 * values for its callers (lamina/client.h); wire_enums.c asserts at
 * compile time that each pair agrees, so the broker uses these names and
 * needs no public client header. */
/* The "type" field of an invoke request (Lambda's InvocationType). */
typedef enum proto_invoke_type {
    PROTO_INVOKE_REQUEST_RESPONSE = 0, /* sync: wait for the result */
    PROTO_INVOKE_EVENT = 1, /* async: 202 once stored durably; runs later */
    PROTO_INVOKE_DRY_RUN = 2 /* validate only: 204, nothing runs */
} proto_invoke_type;

/* ---- errors (lamina/error.h table) ---- */
const char *proto_err_name(int code); /* "LM_E_NOT_FOUND" */
const char *proto_err_type(int code); /* "ResourceNotFoundException" */
int proto_err_status(int code); /* 404 */
const char *proto_err_message(int code);
/* Fill *e (may be NULL) with code and a printf-style message; returns code. */
int proto_error(lm_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Error from the wire: a known type string maps back to its code. */
int proto_err_from_type(const char *type);
/* Translate an nng error into an lm_err code. */
int proto_err_from_nng(int rv);

/* ---- validation ---- */
/* 0 if buf[0..len) is exactly one msgpack object within the limits, else
 * LM_E_MALFORMED with the reason in *e. */
int proto_validate(const void *buf, size_t len, lm_error *e);

/* ---- decoding ---- */
typedef struct proto_doc {
    msgpack_unpacked up; /* owns the zone; objects point into the input */
    const msgpack_object *root; /* the top-level map */
    bool live;
} proto_doc;

/* Validate and unpack buf (which must outlive the doc; not copied).  The
 * root must be a map with "v" == PROTO_VERSION.  0 or an lm_err code. */
int proto_decode(const void *buf, size_t len, proto_doc *doc, lm_error *e);
/* proto_decode, then proto_check_strings on the whole tree: the decoder
 * for requests from clients.  A bad string is LM_E_INVALID_PARAMETER
 * naming the field ("FunctionName", "Environment.Variables.KEY"). */
int proto_decode_request(const void *buf, size_t len, proto_doc *doc, lm_error *e);
/* Release the doc's zone; accepts a doc that failed to decode. */
void proto_doc_finish(proto_doc *doc);

/* Look up key in map (NULL if absent or map is not a map). */
const msgpack_object *proto_find(const msgpack_object *map, const char *key);
/* Typed getters.  required=false: a missing key leaves the output untouched
 * and returns 0.  A present key of the wrong type is always an error. */
int proto_get_str(const msgpack_object *map, const char *key, bool required, const char **s,
                  size_t *len, lm_error *e);
int proto_get_bin(const msgpack_object *map, const char *key, bool required, const void **p,
                  size_t *len, lm_error *e);
int proto_get_int(const msgpack_object *map, const char *key, bool required, int64_t *v,
                  lm_error *e);
int proto_get_double(const msgpack_object *map, const char *key, bool required, double *v,
                     lm_error *e);
int proto_get_bool(const msgpack_object *map, const char *key, bool required, bool *v, lm_error *e);
int proto_get_map(const msgpack_object *map, const char *key, bool required,
                  const msgpack_object **m, lm_error *e);
/* Copy a str object into a fixed buffer; LM_E_MALFORMED if it does not fit
 * or contains a NUL. */
int proto_copy_str(const char *s, size_t len, char *dst, size_t cap, const char *field,
                   lm_error *e);

/* ---- text (text.c) ---- */
/* Is p[0..n) valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), with no NUL unless allow_nul?  On false, *at
 * gets the offset of the first bad byte and *why a short reason (both may
 * be NULL). */
bool proto_utf8_ok(const void *p, size_t n, bool allow_nul, size_t *at, const char **why);
/* Text as every string field must be: UTF-8 without U+0000. */
bool proto_text_ok(const char *s, size_t n, size_t *at, const char **why);
/* Could p[0..n) be JSON text as far as bytes go: UTF-8, no raw NUL, no raw
 * control character inside a string or (but whitespace) outside one?  The
 * syntax itself is cJSON's to check.  An escaped \u0000 is fine. */
bool proto_json_text_ok(const void *p, size_t n, size_t *at, const char **why);
/* Check every str under root (keys too; not the top-level "payload" and
 * "code", which are bytes): LM_OK or LM_E_INVALID_PARAMETER naming it. */
int proto_check_strings(const msgpack_object *root, lm_error *e);
/* Copy s[0..n) into dst (cap > 0 bytes, always NUL-terminated) for an
 * error message: control characters, quotes, backslashes and bytes that
 * are not UTF-8 become \xNN; cut at a character boundary.  Returns the
 * length written. */
size_t proto_quote(char *dst, size_t cap, const char *s, size_t n);

/* ---- names (names.c): Lambda's patterns ---- */
#define PROTO_NAME_MAX 64 /* function name */
#define PROTO_ALIAS_MAX 128
#define PROTO_QUALIFIER_MAX 128
#define PROTO_FUNCTION_REF_MAX 170 /* the whole FunctionName field */
bool proto_valid_function_name(const char *s, size_t n); /* [a-zA-Z0-9-_]{1,64} */
bool proto_valid_alias_name(const char *s, size_t n); /* same, 1-128, not all digits */
bool proto_valid_version(const char *s, size_t n); /* $LATEST or 1-10 digits */
bool proto_valid_qualifier(const char *s, size_t n); /* a version or an alias name */
/* Parse a FunctionName (NAME, NAME:Q, function:NAME[:Q], a partial or full
 * ARN) and an optional separate Qualifier (q may be NULL; qlen 0 means
 * absent) into name and qual ("" when unqualified).  LM_OK or
 * LM_E_INVALID_PARAMETER saying which part is wrong. */
int proto_parse_function_ref(const char *fn, size_t fnlen, const char *q, size_t qlen,
                             char name[PROTO_NAME_MAX + 1], char qual[PROTO_QUALIFIER_MAX + 1],
                             lm_error *e);
/* NULL if k[0..n) may be an Environment.Variables key, else why not
 * (pattern [a-zA-Z][a-zA-Z0-9_]+; reserved keys and prefixes refused). */
const char *proto_env_key_problem(const char *k, size_t n);
/* NULL if k[0..n) may be an async invoke's IdempotencyKey, else why not:
 * 1 to PROTO_IDEMPOTENCY_KEY_MAX visible ASCII characters (0x21-0x7e: no
 * space, no control, nothing outside ASCII). */
#define PROTO_IDEMPOTENCY_KEY_MAX 128
const char *proto_idempotency_key_problem(const char *k, size_t n);

/* ---- a worker's NEXT (workmsg.c): hostile input, read with defaults ---- */
typedef struct proto_init_report {
    bool ok; /* default true */
    const void *log; /* what init printed (into the message), or NULL */
    size_t log_len;
    char type[64]; /* errorType when !ok ("Runtime.Unknown" if absent), cut to fit */
    char message[1024]; /* errorMessage, cut to fit */
} proto_init_report;
/* Read the "init" map (NULL: absent) of a worker's first NEXT. */
void proto_read_init(const msgpack_object *init, proto_init_report *r);

typedef struct proto_result {
    const char *rid; /* the request it answers (into the message), or NULL */
    size_t rid_len;
    const char *ferr; /* NULL, "Handled" or "Unhandled" (anything else: NULL) */
    const void *payload; /* into the message, or "null" when absent */
    size_t payload_len;
    const char *log; /* handler output (into the message), "" when absent */
    size_t log_len;
    double dur_ms; /* 0 when absent */
    int64_t maxrss_mb; /* 0 when absent */
} proto_result;
/* Read the "result" map (NULL: absent) of a NEXT.  Pointers are into the
 * message: valid while its doc is. */
void proto_read_result(const msgpack_object *res, proto_result *r);

/* ---- encoding ---- */
typedef struct proto_writer {
    msgpack_packer pk;
    nng_msg *msg;
    int err; /* sticky: first nng error while appending */
} proto_writer;

/* Start writing into msg (appends to its body).  Does not take ownership. */
void proto_writer_init(proto_writer *w, nng_msg *msg);
void pw_map(proto_writer *w, uint32_t n);
void pw_array(proto_writer *w, uint32_t n);
void pw_key(proto_writer *w, const char *key);
void pw_strn(proto_writer *w, const char *s, size_t len);
void pw_str(proto_writer *w, const char *s); /* NULL packs nil */
void pw_bin(proto_writer *w, const void *p, size_t len);
void pw_int(proto_writer *w, int64_t v);
void pw_double(proto_writer *w, double v);
void pw_bool(proto_writer *w, bool v);
void pw_nil(proto_writer *w);
/* Header helper: packs "v" and "op" (the caller sized the map with them). */
void pw_header(proto_writer *w, const char *op);
/* A message with only the header: {"v":1,"op":op}.  NULL on ENOMEM. */
nng_msg *proto_op_msg(const char *op);

/* The one way the broker builds a reply.  proto_reply_begin allocates a
 * message (room for `hint` bytes), and writes the map header for
 * {"v":1, "op":op} plus `fields` more key/value pairs, which the caller
 * then writes.  proto_reply_end returns the message, or frees it and
 * returns NULL if any write failed (ENOMEM).  An "ok" reply is
 * proto_reply_begin(w, "ok", 1, 0) then pw_key(w, "body") and the body:
 * proto_ok_begin does exactly that. */
nng_msg *proto_reply_begin(proto_writer *w, const char *op, uint32_t fields, size_t hint);
nng_msg *proto_ok_begin(proto_writer *w);
nng_msg *proto_reply_end(proto_writer *w, nng_msg *m);
/* Allocate a message and write a complete error reply into it:
 * {v, op:"error", code, status, type, message}.  NULL on ENOMEM. */
nng_msg *proto_error_reply(const lm_error *e);

/* Copy a received error reply (root map with op "error") into *e.  Returns
 * the code. */
int proto_read_error(const msgpack_object *root, lm_error *e);

#endif /* PROTO_PROTO_H */
