/*
 * proto/text.c — what counts as text on Lamina's wire, checked once, at
 * decode.
 *
 * msgpack strings carry a length, and C code downstream treats them as
 * NUL-terminated (strndup, snprintf "%.*s", file names, environ, SQLite
 * text): a name like "echo\0zzz" became "echo".  So every str a client
 * sends, keys included, at any depth, is checked when the request is
 * decoded (proto_decode_request), before any handler sees it.  Requests
 * are JSON-shaped, so a map key that is not a str (a number, or a map whose
 * own strings would escape this walk: found by fuzz_api) is refused too.
 *
 *   - valid UTF-8 as RFC 3629 defines it: no overlong forms (C0 80 for
 *     NUL, E0 80 80 …), no UTF-16 surrogates encoded in UTF-8 (ED A0 80 …
 *     "CESU"), nothing above U+10FFFF, no stray or missing continuation
 *     bytes.  Overlong forms and surrogates are refused because they are
 *     how a NUL or a '/' sneaks past byte-wise checks, and Unicode calls
 *     them ill-formed;
 *   - no U+0000 anywhere: nothing on our side (C strings, environ, paths)
 *     can carry it.  Other control characters are allowed in free text
 *     (a Description may hold a newline); names and ids are narrower still,
 *     by their own patterns (names.c).
 *
 * The two byte fields of the protocol, the invoke "payload" and the create
 * "code" (top-level keys; bin, or str from clients that do not use bin),
 * are not text: the payload is checked as JSON by proto_json_text_ok()
 * (answer: InvalidRequestContentException, as Lambda's), the code as ELF.
 *
 * A JSON payload must be UTF-8 text too (RFC 8259 §8.1): the same UTF-8
 * rule, no raw NUL anywhere, and no raw control character (U+0000-U+001F)
 * inside a string or, outside strings, other than the four JSON whitespace
 * bytes.  cJSON, which checks the syntax, lets all of these through.  An
 * escaped "\u0000" is valid JSON and stays accepted: the payload is passed
 * to the handler as bytes, never through a C string.
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"

/* Length of the valid UTF-8 sequence at p[0..n) (n >= 1), or 0 with *why. */
static size_t utf8_seq(const unsigned char *p, size_t n, const char **why)
{
    unsigned char b = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (b < 0x80) {
        return 1;
    }
    if (b < 0xc2) {
        *why = b < 0xc0 ? "a continuation byte without a lead byte" : "an overlong encoding";
        return 0;
    }
    if (b < 0xe0) {
        len = 2;
    } else if (b < 0xf0) {
        len = 3;
        lo = b == 0xe0 ? 0xa0 : 0x80; /* E0 80..9F: overlong */
        hi = b == 0xed ? 0x9f : 0xbf; /* ED A0..BF: a surrogate (U+D800-U+DFFF) */
    } else if (b < 0xf5) {
        len = 4;
        lo = b == 0xf0 ? 0x90 : 0x80; /* F0 80..8F: overlong */
        hi = b == 0xf4 ? 0x8f : 0xbf; /* F4 90..: above U+10FFFF */
    } else {
        *why = "a byte that never appears in UTF-8";
        return 0;
    }
    if (n < len) {
        *why = "a truncated UTF-8 sequence";
        return 0;
    }
    if (p[1] < lo || p[1] > hi) {
        if (p[1] < 0x80 || p[1] > 0xbf) {
            *why = "a truncated UTF-8 sequence";
        } else if (b == 0xed) {
            *why = "a UTF-16 surrogate encoded in UTF-8";
        } else if (b == 0xf4) {
            *why = "a code point above U+10FFFF";
        } else {
            *why = "an overlong encoding";
        }
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            *why = "a truncated UTF-8 sequence";
            return 0;
        }
    }
    return len;
}

bool proto_utf8_ok(const void *buf, size_t n, bool allow_nul, size_t *at, const char **why)
{
    const unsigned char *p = buf;
    const char *scratch;
    const char **w = why != NULL ? why : &scratch;
    size_t i = 0;
    while (i < n) {
        if (p[i] == 0 && !allow_nul) {
            *w = "a NUL byte (U+0000)";
            goto bad;
        }
        size_t k = utf8_seq(p + i, n - i, w);
        if (k == 0) {
            goto bad;
        }
        i += k;
    }
    return true;
bad:
    if (at != NULL) {
        *at = i;
    }
    return false;
}

bool proto_text_ok(const char *s, size_t n, size_t *at, const char **why)
{
    return proto_utf8_ok(s, n, false, at, why);
}

bool proto_json_text_ok(const void *buf, size_t n, size_t *at, const char **why)
{
    const unsigned char *p = buf;
    const char *scratch;
    const char **w = why != NULL ? why : &scratch;
    bool in_str = false, esc = false;
    size_t i = 0;
    if (!proto_utf8_ok(buf, n, false, at, why)) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (in_str) {
            if (c < 0x20) {
                *w = "a raw control character inside a string (escape it, e.g. \\n)";
                goto bad;
            }
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            *w = "a control character outside a string";
            goto bad;
        }
    }
    return true;
bad:
    if (at != NULL) {
        *at = i;
    }
    return false;
}

/* The API's name for a top-level key of a request (the wire uses short
 * ones for invoke), for error messages. */
static const char *api_name(const char *key, size_t n)
{
    static const struct {
        const char *wire, *api;
    } names[] = {{"fn", "FunctionName"}, {"q", "Qualifier"}, {"cc", "ClientContext"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].wire) == n && memcmp(names[i].wire, key, n) == 0) {
            return names[i].api;
        }
    }
    return NULL;
}

static bool is_key(const msgpack_object *k, const char *want)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(want) &&
           memcmp(k->via.str.ptr, want, k->via.str.size) == 0;
}

/* Append ".key" or "[i]" to the path in buf (NUL-terminated, cap bytes). */
static void path_push(char *buf, size_t cap, const msgpack_object *key, uint32_t index)
{
    size_t len = strlen(buf);
    char part[96];
    if (key == NULL) {
        snprintf(part, sizeof(part), "[%u]", index);
    } else {
        /* a key that is not text itself is named by position */
        bool text = key->type == MSGPACK_OBJECT_STR &&
                    proto_text_ok(key->via.str.ptr, key->via.str.size, NULL, NULL);
        char q[80];
        if (text) {
            proto_quote(q, sizeof(q), key->via.str.ptr, key->via.str.size);
        } else {
            snprintf(q, sizeof(q), "(key %u)", index);
        }
        snprintf(part, sizeof(part), "%s%s", len > 0 ? "." : "", q);
    }
    if (len < cap) {
        snprintf(buf + len, cap - len, "%s", part);
    }
}

static int bad_string(const char *path, bool key, const msgpack_object *o, size_t at,
                      const char *why, lm_error *e)
{
    return proto_error(e, LM_E_INVALID_PARAMETER,
                       "%s%s is not valid text: byte %zu of %u is %s (every string must be "
                       "UTF-8 without U+0000)",
                       key ? "a key in " : "", path[0] != '\0' ? path : "the request", at,
                       o->via.str.size, why);
}

static int check_tree(const msgpack_object *o, char *path, size_t cap, int depth, lm_error *e);

/* Requests are JSON-shaped: every map key is a string (a key that is a
 * map or a number would also hide its own strings from this rule). */
static int bad_key_type(const char *path, uint32_t index, lm_error *e)
{
    return proto_error(e, LM_E_MALFORMED, "key %u of %s is not a string", index,
                       path[0] != '\0' ? path : "the request");
}

/* Check a map's keys and values; path names the map. */
static int check_map(const msgpack_object *o, char *path, size_t cap, int depth, lm_error *e)
{
    size_t at = 0, mark = strlen(path);
    const char *why = NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            return bad_key_type(path, i, e);
        }
        if (!proto_text_ok(kv->key.via.str.ptr, kv->key.via.str.size, &at, &why)) {
            return bad_string(path, true, &kv->key, at, why, e);
        }
        path_push(path, cap, &kv->key, i);
        int rc = check_tree(&kv->val, path, cap, depth + 1, e);
        path[mark] = '\0';
        if (rc != LM_OK) {
            return rc;
        }
    }
    return LM_OK;
}

/* Check every str under o; path names o.  Depth is bounded by the
 * pre-validator (PROTO_MAX_DEPTH), so the recursion is too; the bound here
 * keeps that true for a tree from elsewhere. */
static int check_tree(const msgpack_object *o, char *path, size_t cap, int depth, lm_error *e)
{
    size_t at = 0, mark = strlen(path);
    const char *why = NULL;
    if (depth > PROTO_MAX_DEPTH + 1) {
        return proto_error(e, LM_E_MALFORMED, "nesting deeper than %d", PROTO_MAX_DEPTH);
    }
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        if (!proto_text_ok(o->via.str.ptr, o->via.str.size, &at, &why)) {
            return bad_string(path, false, o, at, why, e);
        }
        return LM_OK;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            path_push(path, cap, NULL, i);
            int rc = check_tree(&o->via.array.ptr[i], path, cap, depth + 1, e);
            path[mark] = '\0';
            if (rc != LM_OK) {
                return rc;
            }
        }
        return LM_OK;
    case MSGPACK_OBJECT_MAP: return check_map(o, path, cap, depth, e);
    default: return LM_OK;
    }
}

int proto_check_strings(const msgpack_object *root, lm_error *e)
{
    char path[256];
    size_t at = 0;
    const char *why = NULL;
    if (root->type != MSGPACK_OBJECT_MAP) {
        path[0] = '\0';
        return check_tree(root, path, sizeof(path), 0, e);
    }
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        const msgpack_object *k = &kv->key;
        path[0] = '\0';
        if (k->type != MSGPACK_OBJECT_STR) {
            return bad_key_type(path, i, e);
        }
        if (!proto_text_ok(k->via.str.ptr, k->via.str.size, &at, &why)) {
            return bad_string(path, true, k, at, why, e);
        }
        if (is_key(k, "payload") || is_key(k, "code")) {
            continue; /* bytes, checked by their consumers */
        }
        const char *api =
            k->type == MSGPACK_OBJECT_STR ? api_name(k->via.str.ptr, k->via.str.size) : NULL;
        if (api != NULL) {
            snprintf(path, sizeof(path), "%s", api);
        } else if (!is_key(k, "args")) { /* args.X is X to the user */
            path_push(path, sizeof(path), k, i);
        }
        int rc = check_tree(&kv->val, path, sizeof(path), 1, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
    return LM_OK;
}

size_t proto_quote(char *dst, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[5];
        size_t k = 0;
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'' || c == '"') {
            esc[k++] = '\\';
            esc[k++] = 'x';
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        } else if (c >= 0x80) {
            const char *why;
            size_t len = utf8_seq((const unsigned char *)s + i, n - i, &why);
            if (len == 0) {
                esc[k++] = '\\';
                esc[k++] = 'x';
                esc[k++] = hex[c >> 4];
                esc[k++] = hex[c & 15];
            } else {
                if (o + len + 1 > cap) {
                    break;
                }
                memcpy(dst + o, s + i, len);
                o += len;
                i += len - 1;
                continue;
            }
        } else {
            esc[k++] = (char)c;
        }
        if (o + k + 1 > cap) {
            break;
        }
        memcpy(dst + o, esc, k);
        o += k;
    }
    dst[o] = '\0';
    return o;
}
