/*
 * proto/validate.c — bounded pre-validation of msgpack input.
 *
 * msgpack-c trusts the counts in its input: `dd ff 00 00 00` asks for ~96 GB
 * and 32 nested array32 headers reserve 768 MB from 160 bytes.  This walker
 * runs first, without allocating, and accepts only input where every
 * container's element count and every str/bin/ext length fits in the bytes
 * that remain, nesting stays within PROTO_MAX_DEPTH and the total element
 * count within PROTO_MAX_ELEMENTS.  It is iterative (an explicit stack of
 * remaining counts), so hostile nesting cannot exhaust the C stack.
 */
#include <stdint.h>
#include <string.h>

#include "proto.h"

static uint64_t be_read(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Classify one header byte: fixed payload size, or a length/count that
 * follows in `lenbytes` bytes.  kind: 0 scalar, 1 array, 2 map, -1 invalid. */
typedef struct hdr {
    int kind;
    size_t fixed; /* payload bytes after the header (scalars) */
    int lenbytes; /* bytes of length/count after the header byte */
    size_t extra; /* extra bytes after the length (ext type byte) */
    uint32_t count; /* immediate count (fix types) */
} hdr;

static hdr classify(uint8_t b)
{
    hdr h = {0, 0, 0, 0, 0};
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return h;
    }
    if (b >= 0x80 && b <= 0x8f) {
        h.kind = 2;
        h.count = b & 0x0f;
        return h;
    }
    if (b >= 0x90 && b <= 0x9f) {
        h.kind = 1;
        h.count = b & 0x0f;
        return h;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        h.fixed = b & 0x1f;
        return h;
    }
    switch (b) {
    case 0xc4:
    case 0xd9: h.lenbytes = 1; return h;
    case 0xc5:
    case 0xda: h.lenbytes = 2; return h;
    case 0xc6:
    case 0xdb: h.lenbytes = 4; return h;
    case 0xc7:
        h.lenbytes = 1;
        h.extra = 1;
        return h;
    case 0xc8:
        h.lenbytes = 2;
        h.extra = 1;
        return h;
    case 0xc9:
        h.lenbytes = 4;
        h.extra = 1;
        return h;
    case 0xca: h.fixed = 4; return h;
    case 0xcb: h.fixed = 8; return h;
    case 0xcc:
    case 0xd0: h.fixed = 1; return h;
    case 0xcd:
    case 0xd1: h.fixed = 2; return h;
    case 0xce:
    case 0xd2: h.fixed = 4; return h;
    case 0xcf:
    case 0xd3: h.fixed = 8; return h;
    case 0xd4: h.fixed = 2; return h;
    case 0xd5: h.fixed = 3; return h;
    case 0xd6: h.fixed = 5; return h;
    case 0xd7: h.fixed = 9; return h;
    case 0xd8: h.fixed = 17; return h;
    case 0xdc:
        h.kind = 1;
        h.lenbytes = 2;
        return h;
    case 0xdd:
        h.kind = 1;
        h.lenbytes = 4;
        return h;
    case 0xde:
        h.kind = 2;
        h.lenbytes = 2;
        return h;
    case 0xdf:
        h.kind = 2;
        h.lenbytes = 4;
        return h;
    default: h.kind = -1; return h; /* 0xc1 is never used */
    }
}

int proto_validate(const void *buf, size_t len, lm_error *e)
{
    const uint8_t *start = buf;
    const uint8_t *p = buf;
    const uint8_t *end = p + len;
    uint64_t stack[PROTO_MAX_DEPTH + 1];
    int depth = 0;
    size_t total = 0;

    if (buf == NULL || len == 0) {
        return proto_error(e, LM_E_MALFORMED, "empty message");
    }
    stack[0] = 1;
    for (;;) {
        while (depth >= 0 && stack[depth] == 0) {
            depth--;
        }
        if (depth < 0) {
            break;
        }
        stack[depth]--;
        if (p >= end) {
            return proto_error(e, LM_E_MALFORMED, "truncated message at byte %zu",
                               (size_t)(p - start));
        }
        if (++total > PROTO_MAX_ELEMENTS) {
            return proto_error(e, LM_E_MALFORMED, "more than %d elements", PROTO_MAX_ELEMENTS);
        }
        size_t at = (size_t)(p - start);
        hdr h = classify(*p++);
        if (h.kind < 0) {
            return proto_error(e, LM_E_MALFORMED, "invalid msgpack byte 0x%02x at byte %zu", p[-1],
                               at);
        }
        uint64_t n = h.count;
        if (h.lenbytes > 0) {
            if ((size_t)(end - p) < (size_t)h.lenbytes) {
                return proto_error(e, LM_E_MALFORMED, "truncated length at byte %zu", at);
            }
            n = be_read(p, h.lenbytes);
            p += h.lenbytes;
        }
        size_t left = (size_t)(end - p);
        if (h.kind == 0) {
            uint64_t need = h.lenbytes > 0 ? n + h.extra : h.fixed;
            if (need > left) {
                return proto_error(e, LM_E_MALFORMED,
                                   "length %llu at byte %zu exceeds the %zu bytes present",
                                   (unsigned long long)need, at, left);
            }
            p += need;
            continue;
        }
        uint64_t elems = h.kind == 2 ? n * 2 : n;
        if (elems > left) {
            return proto_error(e, LM_E_MALFORMED,
                               "count %llu at byte %zu exceeds the %zu bytes present",
                               (unsigned long long)n, at, left);
        }
        if (elems == 0) {
            continue;
        }
        if (depth + 1 > PROTO_MAX_DEPTH) {
            return proto_error(e, LM_E_MALFORMED, "nesting deeper than %d at byte %zu",
                               PROTO_MAX_DEPTH, at);
        }
        stack[++depth] = elems;
    }
    if (p != end) {
        return proto_error(e, LM_E_MALFORMED, "%zu trailing bytes after the message",
                           (size_t)(end - p));
    }
    return LM_OK;
}
