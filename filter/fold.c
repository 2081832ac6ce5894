/*
 * filter/fold.c — UTF-8 decoding and Unicode simple case folding, for
 * equals-ignore-case and its prefix and suffix forms (and UTF-8 validity
 * for the JSON scanner).
 *
 * Folding follows CaseFolding.txt, statuses C and S (simple folding: one
 * code point folds to one, so lengths in code points are preserved), for
 * ASCII, Latin-1 Supplement (incl. µ -> μ), Latin Extended-A (incl.
 * ſ -> s), Greek and Coptic (final sigma folds to sigma), Cyrillic and
 * Cyrillic Supplement (U+0400..U+052F), plus ẞ, Kelvin, Ångström and Ohm
 * signs.  Other scripts compare exactly; nothing is normalised.  The tables
 * are code, not data, because the ranges are regular (alternating
 * upper/lower pairs, fixed offsets) and a few exceptions are listed.
 *
 * The pattern side is folded once at compile time (filter_fold_string);
 * the event side is folded while comparing, one code point at a time, so
 * nothing is allocated while matching.
 */
#include "filter_internal.h"

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
size_t filter_utf8_len(const unsigned char *s, size_t n)
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
    size_t len = filter_utf8_len(p, n - *i);
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

size_t filter_fold_string(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k = 0;

    while (i < n) {
        cp[k++] = fold_cp(utf8_next(u, n, &i));
    }
    return k;
}

bool filter_fold_equals(const uint32_t *cp, size_t ncp, const char *s, size_t n)
{
    size_t i = 0;
    return fold_eq_at(cp, ncp, (const unsigned char *)s, n, &i) && i == n;
}

bool filter_fold_prefix(const uint32_t *cp, size_t ncp, const char *s, size_t n)
{
    size_t i = 0;
    return fold_eq_at(cp, ncp, (const unsigned char *)s, n, &i);
}

/* Count the code points of s, skip all but the last ncp, compare those. */
bool filter_fold_suffix(const uint32_t *cp, size_t ncp, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, total = 0;

    while (i < n) {
        utf8_next(u, n, &i);
        total++;
    }
    if (total < ncp) {
        return false;
    }
    for (i = 0; total > ncp; total--) {
        utf8_next(u, n, &i);
    }
    return fold_eq_at(cp, ncp, u, n, &i) && i == n;
}
