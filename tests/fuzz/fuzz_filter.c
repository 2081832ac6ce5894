/*
 * tests/fuzz/fuzz_filter.c — libFuzzer target for the filter engine.
 *
 * Input: PATTERN NUL EVENT (no NUL: the whole input is tried as both).
 * Compiles the pattern, matches the event through every entry point and
 * aborts if they disagree: filter_match on text, filter_match_event on a
 * parsed event, a one-pattern set, and a set where the pattern sits among
 * fixed patterns that share its index paths (which exercises the index's
 * counting).  Also runs filter_json_member on the whole input.  Sanitizers
 * (ASan, UBSan) catch memory and undefined-behaviour errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

static const char *const fixed[] = {
    "{\"a\":[\"x\"]}",
    "{\"a\":[{\"prefix\":\"x\"}],\"b\":[1]}",
    "{\"b\":{\"c\":[true,null]}}",
    "{\"$or\":[{\"a\":[\"y\"]},{\"b\":[{\"numeric\":[\">\",0]}]}]}",
};

static int in_result(const uint32_t *out, int n, uint32_t idx)
{
    int i;
    for (i = 0; i < n; i++) {
        if (out[i] == idx) {
            return 1;
        }
    }
    return 0;
}

static void check_sets(const char *p, size_t plen, const char *e, size_t elen, int expect)
{
    filter_set *one = filter_set_create(), *many = filter_set_create();
    filter_error err;
    uint32_t out[8];
    size_t k;
    int idx, n;

    if (one == NULL || many == NULL) {
        abort();
    }
    for (k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++) {
        if (filter_set_add(many, fixed[k], strlen(fixed[k]), &err) < 0) {
            abort();
        }
    }
    if (filter_set_add(one, p, plen, &err) != 0) {
        abort();
    }
    idx = filter_set_add(many, p, plen, &err);
    n = filter_set_match(one, e, elen, out, &err);
    if (n != expect) {
        abort();
    }
    n = filter_set_match(many, e, elen, out, &err);
    if (n < 0 || in_result(out, n, (uint32_t)idx) != expect) {
        abort();
    }
    filter_set_destroy(one);
    filter_set_destroy(many);
}

static void one_case(const char *p, size_t plen, const char *e, size_t elen)
{
    filter_error err;
    filter *f = filter_compile(p, plen, &err);
    filter_event *ev;
    int r;

    if (f == NULL) {
        if (err.code == FILTER_OK || err.message[0] == '\0') {
            abort(); /* a failure always says why */
        }
        return;
    }
    r = filter_match(f, e, elen, &err);
    ev = filter_event_parse(e, elen, &err);
    if ((r < 0) != (ev == NULL)) {
        abort();
    }
    if (ev != NULL) {
        if (filter_match_event(f, ev) != r) {
            abort();
        }
        (void)filter_match_json(f, filter_event_json(ev), &err);
        filter_event_destroy(ev);
        check_sets(p, plen, e, elen, r);
    }
    filter_destroy(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, '\0', size);
    size_t off, len;

    if (nul != NULL) {
        size_t plen = (size_t)(nul - s);
        one_case(s, plen, nul + 1, size - plen - 1);
    } else {
        one_case(s, size, s, size);
    }
    (void)filter_json_member(s, size, "a", &off, &len);
    return 0;
}
