/*
 * tests/unit/test_filter.c — the event filter engine (filter/) and
 * `lamina test-pattern` (tools/cli/test_pattern.c).
 *
 * Every match assertion goes through four paths and checks they agree:
 * filter_match on text, filter_match_event on a parsed event, a one-pattern
 * filter_set (so the index is exercised on every case), and a set where the
 * pattern sits among unrelated ones.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter.h"

/* The CLI command has no library of its own; compile it in to test it. */
#include "../../tools/cli/test_pattern.c"

static filter *compile_ok(const char *pat)
{
    filter_error e;
    filter *f = filter_compile(pat, strlen(pat), &e);
    cr_assert_not_null(f, "pattern %s failed: %s", pat, e.message);
    cr_assert_eq(e.code, FILTER_OK);
    return f;
}

static int set_one(const char *pat, const char *ev, int with_noise)
{
    static const char *noise[] = {"{\"source\":[\"zzz\"]}", "{\"nope\":[{\"prefix\":\"q\"}]}",
                                  "{\"detail\":{\"x\":[{\"exists\":true}]}}"};
    filter_set *s = filter_set_create();
    filter_error e;
    uint32_t out[8];
    int idx, n, i, found = 0;

    cr_assert_not_null(s);
    if (with_noise) {
        for (i = 0; i < 3; i++) {
            cr_assert_geq(filter_set_add(s, noise[i], strlen(noise[i]), &e), 0);
        }
    }
    idx = filter_set_add(s, pat, strlen(pat), &e);
    cr_assert_geq(idx, 0, "%s", e.message);
    n = filter_set_match(s, ev, strlen(ev), out, &e);
    cr_assert_geq(n, 0, "%s", e.message);
    for (i = 0; i < n; i++) {
        if (out[i] == (uint32_t)idx) {
            found = 1;
        }
        if (i > 0) {
            cr_assert_lt(out[i - 1], out[i], "set results must ascend");
        }
    }
    filter_set_destroy(s);
    return found;
}

/* Match through every path; all must agree. */
static int m(const char *pat, const char *ev)
{
    filter *f = compile_ok(pat);
    filter_error e;
    filter_event *pe;
    int r = filter_match(f, ev, strlen(ev), &e), r2;

    cr_assert_geq(r, 0, "event %s rejected: %s", ev, e.message);
    pe = filter_event_parse(ev, strlen(ev), &e);
    cr_assert_not_null(pe, "%s", e.message);
    r2 = filter_match_event(f, pe);
    cr_assert_eq(r, r2, "filter_match_event disagrees on %s / %s", pat, ev);
    filter_event_destroy(pe);
    cr_assert_eq(r, set_one(pat, ev, 0), "set disagrees on %s / %s", pat, ev);
    cr_assert_eq(r, set_one(pat, ev, 1), "noisy set disagrees on %s / %s", pat, ev);
    filter_destroy(f);
    return r;
}

#define MATCH(p, ev) cr_expect_eq(m(p, ev), 1, "expected %s to match %s", p, ev)
#define NOMATCH(p, ev) cr_expect_eq(m(p, ev), 0, "expected %s not to match %s", p, ev)

static int cerr_full(const char *pat, size_t len, filter_error *e)
{
    filter *f = filter_compile(pat, len, e);
    if (f != NULL) {
        filter_destroy(f);
        return FILTER_OK;
    }
    cr_assert_neq(e->code, FILTER_OK);
    cr_assert_neq(e->message[0], '\0', "an error has a message");
    return e->code;
}

static int cerr(const char *pat)
{
    filter_error e;
    return cerr_full(pat, strlen(pat), &e);
}

#define CERR(p, code)                                                                          \
    cr_expect_eq(cerr(p), code, "pattern %s: expected %s, got %s", p, filter_error_name(code), \
                 filter_error_name(cerr(p)))

static int eerr(const char *pat, const char *ev, size_t len)
{
    filter *f = compile_ok(pat);
    filter_error e;
    int r = filter_match(f, ev, len, &e);
    filter_destroy(f);
    return r < 0 ? e.code : FILTER_OK;
}

/* ---- exact values ---- */

Test(filter, exact_string_is_case_sensitive_and_byte_exact)
{
    MATCH("{\"a\":[\"Alice\"]}", "{\"a\":\"Alice\"}");
    NOMATCH("{\"a\":[\"Alice\"]}", "{\"a\":\"alice\"}");
    NOMATCH("{\"a\":[\"Alice\"]}", "{\"a\":\"Alice \"}");
    /* NFC é vs NFD e + combining acute: no normalisation */
    NOMATCH("{\"a\":[\"caf\xc3\xa9\"]}", "{\"a\":\"cafe\xcc\x81\"}");
    /* JSON escapes decode before comparing */
    MATCH("{\"a\":[\"\\u00e9\"]}", "{\"a\":\"\xc3\xa9\"}");
}

Test(filter, exact_numbers_compare_the_json_text)
{
    MATCH("{\"a\":[300]}", "{\"a\":300}");
    NOMATCH("{\"a\":[300]}", "{\"a\":300.0}");
    NOMATCH("{\"a\":[300]}", "{\"a\":3e2}");
    MATCH("{\"a\":[3e2]}", "{\"a\":3e2}");
    NOMATCH("{\"a\":[0]}", "{\"a\":-0}");
    MATCH("{\"a\":[1,2]}", "{\"a\":2}");
}

Test(filter, a_string_never_equals_a_number)
{
    NOMATCH("{\"a\":[\"5\"]}", "{\"a\":5}");
    NOMATCH("{\"a\":[5]}", "{\"a\":\"5\"}");
    NOMATCH("{\"a\":[\"true\"]}", "{\"a\":true}");
}

Test(filter, booleans_and_null_match_only_themselves)
{
    MATCH("{\"a\":[true]}", "{\"a\":true}");
    NOMATCH("{\"a\":[true]}", "{\"a\":false}");
    MATCH("{\"a\":[false]}", "{\"a\":false}");
    MATCH("{\"a\":[null]}", "{\"a\":null}");
    NOMATCH("{\"a\":[null]}", "{}");
    NOMATCH("{\"a\":[null]}", "{\"a\":\"\"}");
    NOMATCH("{\"a\":[null]}", "{\"a\":\"null\"}");
    NOMATCH("{\"a\":[\"\"]}", "{\"a\":null}");
}

Test(filter, empty_string_matches_only_the_empty_string)
{
    MATCH("{\"a\":[\"\"]}", "{\"a\":\"\"}");
    NOMATCH("{\"a\":[\"\"]}", "{\"a\":\" \"}");
    NOMATCH("{\"a\":[\"\"]}", "{}");
}

Test(filter, fields_are_anded_and_values_ored)
{
    const char *p = "{\"a\":[\"x\",\"y\"],\"b\":[1]}";
    MATCH(p, "{\"a\":\"y\",\"b\":1}");
    NOMATCH(p, "{\"a\":\"y\",\"b\":2}");
    NOMATCH(p, "{\"a\":\"z\",\"b\":1}");
    NOMATCH(p, "{\"a\":\"x\"}");
    MATCH(p, "{\"a\":\"x\",\"b\":1,\"c\":\"ignored\"}");
}

Test(filter, nested_objects_follow_the_event_shape)
{
    const char *p = "{\"detail\":{\"state\":[\"running\"],\"x\":{\"y\":[1]}}}";
    MATCH(p, "{\"detail\":{\"state\":\"running\",\"x\":{\"y\":1}}}");
    NOMATCH(p, "{\"detail\":{\"state\":\"running\",\"x\":{\"y\":2}}}");
    NOMATCH(p, "{\"detail\":{\"state\":\"running\"}}");
    NOMATCH(p, "{\"detail\":\"running\"}");
    /* keys are literal: "detail.state" is not a path */
    NOMATCH("{\"detail.state\":[\"running\"]}", "{\"detail\":{\"state\":\"running\"}}");
    MATCH("{\"detail.state\":[\"running\"]}", "{\"detail.state\":\"running\"}");
}

Test(filter, empty_pattern_matches_every_event)
{
    MATCH("{}", "{}");
    MATCH("{}", "{\"a\":1}");
    MATCH(" { } ", "[1,2]");
}

/* ---- prefix / suffix ---- */

Test(filter, prefix_matches_strings_only)
{
    MATCH("{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"us-east-1\"}");
    NOMATCH("{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"eu-west-1\"}");
    NOMATCH("{\"r\":[{\"prefix\":\"us-\"}]}", "{\"r\":\"us\"}");
    NOMATCH("{\"r\":[{\"prefix\":\"Us-\"}]}", "{\"r\":\"us-east-1\"}");
    NOMATCH("{\"n\":[{\"prefix\":\"1\"}]}", "{\"n\":10}");
    MATCH("{\"n\":[{\"prefix\":\"\"}]}", "{\"n\":\"anything\"}");
    NOMATCH("{\"n\":[{\"prefix\":\"\"}]}", "{\"n\":1}");
    CERR("{\"n\":[{\"prefix\":1}]}", FILTER_E_BAD_VALUE);
}

Test(filter, suffix_matches_strings_only)
{
    MATCH("{\"k\":[{\"suffix\":\".png\"}]}", "{\"k\":\"a/b.png\"}");
    NOMATCH("{\"k\":[{\"suffix\":\".png\"}]}", "{\"k\":\"a/b.PNG\"}");
    NOMATCH("{\"k\":[{\"suffix\":\"0\"}]}", "{\"k\":100}");
    MATCH("{\"k\":[{\"suffix\":\"\xc3\xa9\"}]}", "{\"k\":\"caf\xc3\xa9\"}");
}

/* ---- equals-ignore-case ---- */

Test(filter, equals_ignore_case_folds_ascii)
{
    MATCH("{\"a\":[{\"equals-ignore-case\":\"EC2\"}]}", "{\"a\":\"ec2\"}");
    MATCH("{\"a\":[{\"equals-ignore-case\":\"EC2\"}]}", "{\"a\":\"Ec2\"}");
    NOMATCH("{\"a\":[{\"equals-ignore-case\":\"EC2\"}]}", "{\"a\":\"ec22\"}");
    NOMATCH("{\"a\":[{\"equals-ignore-case\":\"1\"}]}", "{\"a\":1}");
}

Test(filter, equals_ignore_case_folds_non_ascii)
{
    /* Latin-1: ÉCOLE / école */
    MATCH("{\"a\":[{\"equals-ignore-case\":\"\xc3\x89"
          "COLE\"}]}",
          "{\"a\":\"\xc3\xa9"
          "cole\"}");
    /* Latin Extended-A: ŁÓDŹ / łódź */
    MATCH("{\"a\":[{\"equals-ignore-case\":\"\xc5\x81\xc3\x93"
          "D\xc5\xb9\"}]}",
          "{\"a\":\"\xc5\x82\xc3\xb3"
          "d\xc5\xba\"}");
    /* Greek: ΟΔΟΣ / οδος and final sigma ς folds like σ */
    MATCH("{\"a\":[{\"equals-ignore-case\":\"\xce\x9f\xce\x94\xce\x9f\xce\xa3\"}]}",
          "{\"a\":\"\xce\xbf\xce\xb4\xce\xbf\xcf\x82\"}");
    /* Cyrillic: ПРИВЕТ / привет, and Ё / ё */
    MATCH("{\"a\":[{\"equals-ignore-case\":\"\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2\"}]}",
          "{\"a\":\"\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"}");
    MATCH("{\"a\":[{\"equals-ignore-case\":\"\xd0\x81\"}]}", "{\"a\":\"\xd1\x91\"}");
    /* Kelvin sign K folds to k */
    MATCH("{\"a\":[{\"equals-ignore-case\":\"\xe2\x84\xaa\"}]}", "{\"a\":\"K\"}");
    /* different letters stay different */
    NOMATCH("{\"a\":[{\"equals-ignore-case\":\"\xc3\xa9\"}]}", "{\"a\":\"e\"}");
    /* without ignore-case, non-ASCII case matters */
    NOMATCH("{\"a\":[\"\xc3\x89\"]}", "{\"a\":\"\xc3\xa9\"}");
}

Test(filter, prefix_and_suffix_accept_equals_ignore_case)
{
    MATCH("{\"a\":[{\"prefix\":{\"equals-ignore-case\":\"US-\"}}]}", "{\"a\":\"us-east\"}");
    NOMATCH("{\"a\":[{\"prefix\":{\"equals-ignore-case\":\"US-\"}}]}", "{\"a\":\"eu-us-\"}");
    MATCH("{\"a\":[{\"suffix\":{\"equals-ignore-case\":\".PNG\"}}]}", "{\"a\":\"x.png\"}");
    MATCH("{\"a\":[{\"suffix\":{\"equals-ignore-case\":\"\xd0\x9f\"}}]}",
          "{\"a\":\"\xd1\x8f\xd0\xbf\"}");
    NOMATCH("{\"a\":[{\"suffix\":{\"equals-ignore-case\":\"LONGER\"}}]}", "{\"a\":\"er\"}");
    CERR("{\"a\":[{\"prefix\":{\"wildcard\":\"x\"}}]}", FILTER_E_UNKNOWN_OPERATOR);
    CERR("{\"a\":[{\"prefix\":{\"equals-ignore-case\":1}}]}", FILTER_E_BAD_VALUE);
}

/* ---- wildcard ---- */

Test(filter, wildcard_star_matches_any_run)
{
    const char *p = "{\"a\":[{\"wildcard\":\"Simple*Service\"}]}";
    MATCH(p, "{\"a\":\"SimpleQueueService\"}");
    MATCH(p, "{\"a\":\"SimpleService\"}");
    NOMATCH(p, "{\"a\":\"SimpleQueueServices\"}");
    MATCH("{\"a\":[{\"wildcard\":\"*.png\"}]}", "{\"a\":\"x.png\"}");
    MATCH("{\"a\":[{\"wildcard\":\"a*b*c\"}]}", "{\"a\":\"aXbYc\"}");
    NOMATCH("{\"a\":[{\"wildcard\":\"a*b*c\"}]}", "{\"a\":\"aXcYb\"}");
    NOMATCH("{\"a\":[{\"wildcard\":\"ab*ba\"}]}", "{\"a\":\"aba\"}");
    MATCH("{\"a\":[{\"wildcard\":\"*\"}]}", "{\"a\":\"\"}");
    NOMATCH("{\"a\":[{\"wildcard\":\"*\"}]}", "{\"a\":5}");
    MATCH("{\"a\":[{\"wildcard\":\"exact\"}]}", "{\"a\":\"exact\"}");
    NOMATCH("{\"a\":[{\"wildcard\":\"exact\"}]}", "{\"a\":\"exactly\"}");
}

Test(filter, wildcard_escapes_star_and_backslash)
{
    /* JSON "a\\*b" is the wildcard a\*b: a literal star */
    MATCH("{\"a\":[{\"wildcard\":\"a\\\\*b\"}]}", "{\"a\":\"a*b\"}");
    NOMATCH("{\"a\":[{\"wildcard\":\"a\\\\*b\"}]}", "{\"a\":\"axb\"}");
    /* a\\\\* = literal backslash then star */
    MATCH("{\"a\":[{\"wildcard\":\"a\\\\\\\\*\"}]}", "{\"a\":\"a\\\\zz\"}");
    NOMATCH("{\"a\":[{\"wildcard\":\"a\\\\\\\\*\"}]}", "{\"a\":\"azz\"}");
    CERR("{\"a\":[{\"wildcard\":\"a\\\\x\"}]}", FILTER_E_BAD_WILDCARD);
    CERR("{\"a\":[{\"wildcard\":\"a\\\\\"}]}", FILTER_E_BAD_WILDCARD);
}

Test(filter, wildcard_rejects_consecutive_stars)
{
    CERR("{\"a\":[{\"wildcard\":\"a**b\"}]}", FILTER_E_WILDCARD_CONSECUTIVE);
    CERR("{\"a\":[{\"wildcard\":\"**\"}]}", FILTER_E_WILDCARD_CONSECUTIVE);
    cr_expect_eq(cerr("{\"a\":[{\"wildcard\":\"a\\\\**\"}]}"), FILTER_OK);
}

Test(filter, wildcard_handles_multibyte_utf8)
{
    /* 日本*語 */
    const char *p = "{\"a\":[{\"wildcard\":\"\xe6\x97\xa5\xe6\x9c\xac*\xe8\xaa\x9e\"}]}";
    MATCH(p, "{\"a\":\"\xe6\x97\xa5\xe6\x9c\xac\xe3\x81\xae\xe8\xaa\x9e\"}");
    MATCH(p, "{\"a\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"}");
    NOMATCH(p, "{\"a\":\"\xe6\x97\xa5\xe8\xaa\x9e\"}");
    MATCH("{\"a\":[{\"wildcard\":\"*\xc3\xa9*\"}]}", "{\"a\":\"caf\xc3\xa9s\"}");
    NOMATCH("{\"a\":[{\"wildcard\":\"*\xc3\xa9*\"}]}", "{\"a\":\"cafe\"}");
}

/* ---- anything-but ---- */

Test(filter, anything_but_single_values)
{
    MATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{\"a\":\"y\"}");
    NOMATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{\"a\":\"x\"}");
    MATCH("{\"a\":[{\"anything-but\":100}]}", "{\"a\":101}");
    NOMATCH("{\"a\":[{\"anything-but\":100}]}", "{\"a\":100}");
    /* numbers are excluded by their text, as exact matching compares them */
    MATCH("{\"a\":[{\"anything-but\":100}]}", "{\"a\":100.0}");
}

Test(filter, anything_but_lists)
{
    const char *s = "{\"a\":[{\"anything-but\":[\"x\",\"y\"]}]}";
    const char *n = "{\"a\":[{\"anything-but\":[100,200]}]}";
    MATCH(s, "{\"a\":\"z\"}");
    NOMATCH(s, "{\"a\":\"y\"}");
    MATCH(n, "{\"a\":150}");
    NOMATCH(n, "{\"a\":200}");
}

/* Exact and anything-but agree on every number: an event number is either
 * one of the listed numbers (same JSON text) or anything but them, never
 * neither and never both.  35.0 is neither 35 nor 3.5e1. */
Test(filter, anything_but_numbers_compare_the_json_text_like_exact)
{
    static const char *const pats[] = {"35", "35.0", "3.5e1", "0", "-0", "1e400"};
    static const char *const evs[] = {"35", "35.0", "35.00", "3.5e1", "350e-1",
                                      "36", "0",    "-0",    "0.0",   "1e400"};
    char exact[96], abut[96], list[96], ev[64];
    size_t i, k;
    int want;

    for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        snprintf(exact, sizeof(exact), "{\"a\":[%s]}", pats[i]);
        snprintf(abut, sizeof(abut), "{\"a\":[{\"anything-but\":%s}]}", pats[i]);
        snprintf(list, sizeof(list), "{\"a\":[{\"anything-but\":[%s,7]}]}", pats[i]);
        for (k = 0; k < sizeof(evs) / sizeof(evs[0]); k++) {
            snprintf(ev, sizeof(ev), "{\"a\":%s}", evs[k]);
            want = strcmp(pats[i], evs[k]) != 0;
            cr_expect_eq(m(exact, ev), !want, "%s on %s", exact, ev);
            cr_expect_eq(m(abut, ev), want, "%s on %s", abut, ev);
            cr_expect_eq(m(list, ev), want, "%s on %s", list, ev);
        }
    }
    /* the case of the issue, spelled out */
    NOMATCH("{\"a\":[35]}", "{\"a\":35.0}");
    MATCH("{\"a\":[{\"anything-but\":[35]}]}", "{\"a\":35.0}");
    /* in an array of numbers, one element that is not 35 is enough */
    MATCH("{\"a\":[{\"anything-but\":[35]}]}", "{\"a\":[35,35.0]}");
    NOMATCH("{\"a\":[{\"anything-but\":[35]}]}", "{\"a\":[35,35]}");
}

/* Without source text (a tree the caller parsed), both compare the
 * shortest round-trip text of the double, so they still agree. */
Test(filter, anything_but_numbers_agree_with_exact_on_caller_parsed_json)
{
    filter *exact = compile_ok("{\"a\":[35]}");
    filter *abut = compile_ok("{\"a\":[{\"anything-but\":[35]}]}");
    static const char *const evs[] = {"{\"a\":35.0}", "{\"a\":3.5e1}", "{\"a\":35.5}"};
    filter_error e;
    size_t k;

    for (k = 0; k < sizeof(evs) / sizeof(evs[0]); k++) {
        cJSON *j = cJSON_Parse(evs[k]);
        int x = filter_match_json(exact, j, &e), y = filter_match_json(abut, j, &e);
        cr_expect_eq(x, k < 2 ? 1 : 0, "exact on %s", evs[k]);
        cr_expect_eq(y, !x, "anything-but disagrees with exact on %s", evs[k]);
        cJSON_Delete(j);
    }
    filter_destroy(exact);
    filter_destroy(abut);
}

Test(filter, anything_but_never_matches_a_missing_field)
{
    NOMATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{}");
    NOMATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{\"a\":[]}");
    NOMATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{\"a\":{\"b\":1}}");
    NOMATCH("{\"a\":{\"b\":[{\"anything-but\":\"x\"}]}}", "{}");
}

Test(filter, anything_but_crosses_types)
{
    /* a string never equals a number: so the number passes anything-but "5" */
    MATCH("{\"a\":[{\"anything-but\":\"5\"}]}", "{\"a\":5}");
    MATCH("{\"a\":[{\"anything-but\":5}]}", "{\"a\":\"5\"}");
    MATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{\"a\":null}");
    MATCH("{\"a\":[{\"anything-but\":{\"prefix\":\"x\"}}]}", "{\"a\":7}");
}

Test(filter, anything_but_operator_forms)
{
    MATCH("{\"a\":[{\"anything-but\":{\"prefix\":\"init\"}}]}", "{\"a\":\"running\"}");
    NOMATCH("{\"a\":[{\"anything-but\":{\"prefix\":\"init\"}}]}", "{\"a\":\"initial\"}");
    NOMATCH("{\"a\":[{\"anything-but\":{\"suffix\":\".tmp\"}}]}", "{\"a\":\"x.tmp\"}");
    MATCH("{\"a\":[{\"anything-but\":{\"suffix\":\".tmp\"}}]}", "{\"a\":\"x.txt\"}");
    NOMATCH("{\"a\":[{\"anything-but\":{\"equals-ignore-case\":\"OK\"}}]}", "{\"a\":\"ok\"}");
    MATCH("{\"a\":[{\"anything-but\":{\"equals-ignore-case\":[\"A\",\"B\"]}}]}", "{\"a\":\"c\"}");
    NOMATCH("{\"a\":[{\"anything-but\":{\"equals-ignore-case\":[\"A\",\"B\"]}}]}", "{\"a\":\"b\"}");
    NOMATCH("{\"a\":[{\"anything-but\":{\"wildcard\":\"*.tmp\"}}]}", "{\"a\":\"x.tmp\"}");
    MATCH("{\"a\":[{\"anything-but\":{\"wildcard\":[\"*.tmp\",\"*.bak\"]}}]}", "{\"a\":\"x.c\"}");
    NOMATCH("{\"a\":[{\"anything-but\":{\"prefix\":[\"a\",\"b\"]}}]}", "{\"a\":\"bx\"}");
}

Test(filter, anything_but_rejects_bad_forms)
{
    CERR("{\"a\":[{\"anything-but\":[\"x\",1]}]}", FILTER_E_MIXED_ANYTHING_BUT);
    CERR("{\"a\":[{\"anything-but\":[true]}]}", FILTER_E_MIXED_ANYTHING_BUT);
    CERR("{\"a\":[{\"anything-but\":[]}]}", FILTER_E_EMPTY);
    CERR("{\"a\":[{\"anything-but\":true}]}", FILTER_E_BAD_VALUE);
    CERR("{\"a\":[{\"anything-but\":{\"numeric\":[\">\",1]}}]}", FILTER_E_UNKNOWN_OPERATOR);
    CERR("{\"a\":[{\"anything-but\":{\"prefix\":5}}]}", FILTER_E_BAD_VALUE);
    CERR("{\"a\":[{\"anything-but\":{\"wildcard\":\"a**\"}}]}", FILTER_E_WILDCARD_CONSECUTIVE);
}

/* ---- numeric ---- */

Test(filter, numeric_single_operators)
{
    MATCH("{\"n\":[{\"numeric\":[\"=\",100]}]}", "{\"n\":100.0}");
    MATCH("{\"n\":[{\"numeric\":[\"=\",100]}]}", "{\"n\":1e2}");
    NOMATCH("{\"n\":[{\"numeric\":[\"=\",100]}]}", "{\"n\":100.5}");
    MATCH("{\"n\":[{\"numeric\":[\"<\",0]}]}", "{\"n\":-1}");
    NOMATCH("{\"n\":[{\"numeric\":[\"<\",0]}]}", "{\"n\":0}");
    MATCH("{\"n\":[{\"numeric\":[\"<=\",0]}]}", "{\"n\":0}");
    MATCH("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":0.001}");
    NOMATCH("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":-0}");
    MATCH("{\"n\":[{\"numeric\":[\">=\",1.5e3]}]}", "{\"n\":1500}");
    MATCH("{\"n\":[{\"numeric\":[\">=\",-2E-2]}]}", "{\"n\":-0.02}");
}

Test(filter, numeric_ranges)
{
    const char *p = "{\"n\":[{\"numeric\":[\">\",0,\"<=\",5]}]}";
    MATCH(p, "{\"n\":5}");
    MATCH(p, "{\"n\":0.1}");
    NOMATCH(p, "{\"n\":0}");
    NOMATCH(p, "{\"n\":5.000001}");
    /* bounds may come in either order */
    MATCH("{\"n\":[{\"numeric\":[\"<\",10,\">=\",10e-1]}]}", "{\"n\":1}");
    MATCH("{\"n\":[{\"numeric\":[\">=\",3,\"<=\",3]}]}", "{\"n\":3}");
}

Test(filter, numeric_matches_only_json_numbers)
{
    NOMATCH("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":\"5\"}");
    NOMATCH("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":true}");
    NOMATCH("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":null}");
    NOMATCH("{\"n\":[{\"numeric\":[\">\",0]}]}", "{}");
}

Test(filter, numeric_at_the_double_limits)
{
    const char *all = "{\"n\":[{\"numeric\":[\">=\",-1.7976931348623157e308,\"<=\","
                      "1.7976931348623157e308]}]}";
    MATCH(all, "{\"n\":1.7976931348623157e308}");
    MATCH(all, "{\"n\":-1.7976931348623157e308}");
    MATCH(all, "{\"n\":0}");
    /* beyond the double range an event number is infinite */
    NOMATCH(all, "{\"n\":1e309}");
    MATCH("{\"n\":[{\"numeric\":[\">\",1.7976931348623157e308]}]}", "{\"n\":1e309}");
    /* the smallest subnormal is above zero */
    MATCH("{\"n\":[{\"numeric\":[\">\",0]}]}", "{\"n\":4.9e-324}");
    MATCH("{\"n\":[{\"numeric\":[\"<\",4.9e-324]}]}", "{\"n\":0}");
    /* integers beyond 2^53 compare as doubles */
    MATCH("{\"n\":[{\"numeric\":[\"=\",9007199254740993]}]}", "{\"n\":9007199254740992}");
    CERR("{\"n\":[{\"numeric\":[\">\",1e309]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\"<\",-1e400]}]}", FILTER_E_BAD_NUMERIC);
}

Test(filter, numeric_rejects_bad_conditions)
{
    CERR("{\"n\":[{\"numeric\":[\">\",5,\"<\",1]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\">\",5,\"<\",5]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\">\",1,\">\",2]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\"<\",1,\"<=\",2]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\"=\",1,\"<\",2]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\"<\"]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\"<\",1,\">\"]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\"~\",1]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":[\"<\",\"1\"]}]}", FILTER_E_BAD_NUMERIC);
    CERR("{\"n\":[{\"numeric\":\">\"}]}", FILTER_E_BAD_NUMERIC);
}

/* ---- exists ---- */

Test(filter, exists_true_needs_a_leaf_value)
{
    const char *p = "{\"a\":[{\"exists\":true}]}";
    MATCH(p, "{\"a\":1}");
    MATCH(p, "{\"a\":\"\"}");
    MATCH(p, "{\"a\":null}");
    MATCH(p, "{\"a\":[null]}");
    NOMATCH(p, "{}");
    NOMATCH(p, "{\"a\":[]}");
    NOMATCH(p, "{\"a\":{}}");
    NOMATCH(p, "{\"a\":{\"b\":1}}");
    NOMATCH(p, "{\"b\":1}");
}

Test(filter, exists_false_holds_without_a_leaf_value)
{
    const char *p = "{\"a\":[{\"exists\":false}]}";
    MATCH(p, "{}");
    MATCH(p, "{\"a\":[]}");
    MATCH(p, "{\"a\":{}}");
    MATCH(p, "{\"a\":{\"b\":1}}");
    NOMATCH(p, "{\"a\":null}");
    NOMATCH(p, "{\"a\":0}");
    /* under a missing parent the field is missing too */
    MATCH("{\"x\":{\"a\":[{\"exists\":false}]}}", "{}");
    MATCH("{\"x\":{\"a\":[{\"exists\":false}]}}", "{\"x\":5}");
    NOMATCH("{\"x\":{\"a\":[{\"exists\":false}]}}", "{\"x\":{\"a\":\"v\"}}");
    CERR("{\"a\":[{\"exists\":\"yes\"}]}", FILTER_E_BAD_VALUE);
}

Test(filter, exists_is_ored_with_other_values)
{
    const char *p = "{\"a\":[\"x\",{\"exists\":false}]}";
    MATCH(p, "{}");
    MATCH(p, "{\"a\":\"x\"}");
    NOMATCH(p, "{\"a\":\"y\"}");
}

/* ---- cidr ---- */

Test(filter, cidr_ipv4)
{
    const char *p = "{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}";
    MATCH(p, "{\"ip\":\"10.0.0.255\"}");
    MATCH(p, "{\"ip\":\"10.0.0.0\"}");
    NOMATCH(p, "{\"ip\":\"10.0.1.0\"}");
    NOMATCH(p, "{\"ip\":\"10.0.0\"}");
    NOMATCH(p, "{\"ip\":\"not an ip\"}");
    NOMATCH(p, "{\"ip\":10}");
    NOMATCH(p, "{\"ip\":\"::ffff:10.0.0.1\"}");
    MATCH("{\"ip\":[{\"cidr\":\"192.168.1.7\"}]}", "{\"ip\":\"192.168.1.7\"}");
    NOMATCH("{\"ip\":[{\"cidr\":\"192.168.1.7\"}]}", "{\"ip\":\"192.168.1.8\"}");
    MATCH("{\"ip\":[{\"cidr\":\"10.0.0.1/20\"}]}", "{\"ip\":\"10.0.15.1\"}");
    NOMATCH("{\"ip\":[{\"cidr\":\"10.0.0.1/20\"}]}", "{\"ip\":\"10.0.16.1\"}");
    MATCH("{\"ip\":[{\"cidr\":\"0.0.0.0/0\"}]}", "{\"ip\":\"8.8.8.8\"}");
}

Test(filter, cidr_ipv6)
{
    const char *p = "{\"ip\":[{\"cidr\":\"2001:db8::/32\"}]}";
    MATCH(p, "{\"ip\":\"2001:db8:1::5\"}");
    MATCH(p, "{\"ip\":\"2001:0DB8::\"}");
    NOMATCH(p, "{\"ip\":\"2001:db9::1\"}");
    NOMATCH(p, "{\"ip\":\"10.0.0.1\"}");
    MATCH("{\"ip\":[{\"cidr\":\"fe80::/10\"}]}", "{\"ip\":\"febf::1\"}");
    NOMATCH("{\"ip\":[{\"cidr\":\"fe80::/10\"}]}", "{\"ip\":\"fec0::1\"}");
}

Test(filter, cidr_rejects_bad_blocks)
{
    CERR("{\"ip\":[{\"cidr\":\"10.0.0.0/33\"}]}", FILTER_E_BAD_CIDR);
    CERR("{\"ip\":[{\"cidr\":\"2001:db8::/129\"}]}", FILTER_E_BAD_CIDR);
    CERR("{\"ip\":[{\"cidr\":\"10.0.0/8\"}]}", FILTER_E_BAD_CIDR);
    CERR("{\"ip\":[{\"cidr\":\"10.0.0.0/\"}]}", FILTER_E_BAD_CIDR);
    CERR("{\"ip\":[{\"cidr\":\"10.0.0.0/8x\"}]}", FILTER_E_BAD_CIDR);
    CERR("{\"ip\":[{\"cidr\":\"\"}]}", FILTER_E_BAD_CIDR);
    CERR("{\"ip\":[{\"cidr\":10}]}", FILTER_E_BAD_VALUE);
}

/* ---- $or ---- */

Test(filter, or_at_the_top_level)
{
    const char *p = "{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}";
    MATCH(p, "{\"a\":1}");
    MATCH(p, "{\"b\":2}");
    NOMATCH(p, "{\"a\":2,\"b\":1}");
}

Test(filter, or_is_anded_with_siblings)
{
    const char *p = "{\"s\":[\"x\"],\"$or\":[{\"a\":[1]},{\"b\":[{\"exists\":false}]}]}";
    MATCH(p, "{\"s\":\"x\",\"a\":1,\"b\":0}");
    MATCH(p, "{\"s\":\"x\"}");
    NOMATCH(p, "{\"s\":\"y\"}");
    NOMATCH(p, "{\"s\":\"x\",\"a\":2,\"b\":0}");
}

Test(filter, or_nested_at_any_level)
{
    const char *p = "{\"d\":{\"$or\":[{\"c\":[{\"numeric\":[\">\",10]}]},"
                    "{\"$or\":[{\"e\":[\"x\"]},{\"f\":[\"y\"]}]}]}}";
    MATCH(p, "{\"d\":{\"c\":11}}");
    MATCH(p, "{\"d\":{\"f\":\"y\"}}");
    NOMATCH(p, "{\"d\":{\"c\":1,\"e\":\"z\"}}");
    NOMATCH(p, "{\"c\":11}");
}

Test(filter, or_rejects_bad_forms)
{
    CERR("{\"$or\":[{\"a\":[1]}]}", FILTER_E_BAD_OR);
    CERR("{\"$or\":{\"a\":[1]}}", FILTER_E_BAD_OR);
    CERR("{\"$or\":[{\"a\":[1]},[1]]}", FILTER_E_BAD_OR);
    CERR("{\"$or\":[{\"a\":[1]},{}]}", FILTER_E_BAD_OR);
    CERR("{\"$or\":[{\"a\":[1]},{\"b\":2}]}", FILTER_E_LEAF_NOT_ARRAY);
}

/* ---- arrays in events ---- */

Test(filter, event_arrays_match_if_any_element_matches)
{
    MATCH("{\"a\":[\"x\"]}", "{\"a\":[\"w\",\"x\"]}");
    NOMATCH("{\"a\":[\"x\"]}", "{\"a\":[\"w\",\"y\"]}");
    MATCH("{\"a\":[{\"prefix\":\"x\"}]}", "{\"a\":[[\"q\",[\"xy\"]]]}");
    MATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{\"a\":[\"x\",\"y\"]}");
    NOMATCH("{\"a\":[{\"anything-but\":\"x\"}]}", "{\"a\":[\"x\",\"x\"]}");
    MATCH("{\"a\":{\"b\":[1]}}", "{\"a\":[{\"b\":2},{\"b\":1}]}");
}

Test(filter, array_of_objects_conditions_hold_within_one_element)
{
    const char *p = "{\"r\":{\"type\":[\"bucket\"],\"name\":[\"logs\"]}}";
    MATCH(p, "{\"r\":[{\"type\":\"bucket\",\"name\":\"logs\"}]}");
    NOMATCH(
        p,
        "{\"r\":[{\"type\":\"bucket\",\"name\":\"data\"},{\"type\":\"queue\",\"name\":\"logs\"}]}");
    MATCH(
        p,
        "{\"r\":[{\"type\":\"queue\",\"name\":\"logs\"},{\"type\":\"bucket\",\"name\":\"logs\"}]}");
    /* $or branches are also judged inside one element */
    NOMATCH("{\"r\":{\"t\":[1],\"$or\":[{\"n\":[1]},{\"m\":[1]}]}}",
            "{\"r\":[{\"t\":1},{\"n\":1}]}");
}

Test(filter, exists_false_is_judged_per_element)
{
    const char *p = "{\"r\":{\"tag\":[{\"exists\":false}],\"type\":[\"bucket\"]}}";
    MATCH(p, "{\"r\":[{\"type\":\"bucket\",\"tag\":\"x\"},{\"type\":\"bucket\"}]}");
    NOMATCH(p, "{\"r\":[{\"type\":\"bucket\",\"tag\":\"x\"},{\"type\":\"queue\"}]}");
    MATCH("{\"r\":{\"tag\":[{\"exists\":false}]}}", "{\"r\":[]}");
}

/* ---- duplicates, strict JSON ---- */

Test(filter, duplicate_keys_last_one_wins)
{
    MATCH("{\"a\":[\"x\"],\"a\":[\"y\"]}", "{\"a\":\"y\"}");
    NOMATCH("{\"a\":[\"x\"],\"a\":[\"y\"]}", "{\"a\":\"x\"}");
    /* a bad earlier duplicate is ignored */
    MATCH("{\"a\":5,\"a\":[\"y\"]}", "{\"a\":\"y\"}");
    MATCH("{\"a\":[{\"prefix\":\"q\",\"prefix\":\"x\"}]}", "{\"a\":\"xy\"}");
    /* in events too */
    MATCH("{\"a\":[\"y\"]}", "{\"a\":\"x\",\"a\":\"y\"}");
    NOMATCH("{\"a\":[\"x\"]}", "{\"a\":\"x\",\"a\":\"y\"}");
}

Test(filter, patterns_must_be_strict_json)
{
    CERR("{\"a\":[1]} x", FILTER_E_SYNTAX);
    CERR("{\"a\":[01]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[1.]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[-.5]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[1,]}", FILTER_E_SYNTAX);
    CERR("{'a':[1]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[\"x\ty\"]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[\"\\u0000\"]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[\"\\ud800\"]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[\"\xff\"]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[\"\xc0\xaf\"]}", FILTER_E_SYNTAX);
    CERR("{\"a\":[NaN]}", FILTER_E_SYNTAX);
    CERR("", FILTER_E_SYNTAX);
    CERR("{\"a\":[1]", FILTER_E_SYNTAX);
    CERR("{\"a\":[1234567890123456789012345678901234567890123456789012345678901234]}",
         FILTER_E_SYNTAX);
    cr_expect_eq(cerr("{\"a\":[\"\\ud83d\\ude00\"]}"), FILTER_OK);
}

Test(filter, syntax_errors_report_the_byte_offset)
{
    filter_error e;
    const char *p = "{\"a\": [1, 2,, 3]}";
    cr_assert_eq(cerr_full(p, strlen(p), &e), FILTER_E_SYNTAX);
    cr_expect_eq(e.offset, 12);
    cr_expect(strstr(e.message, "byte 12") != NULL, "%s", e.message);
}

Test(filter, events_must_be_strict_json)
{
    const char *p = "{\"a\":[1]}";
    cr_expect_eq(eerr(p, "{\"a\":1", 6), FILTER_E_EVENT_SYNTAX);
    cr_expect_eq(eerr(p, "{\"a\":01}", 8), FILTER_E_EVENT_SYNTAX);
    cr_expect_eq(eerr(p, "{\"a\":1}}", 8), FILTER_E_EVENT_SYNTAX);
    cr_expect_eq(eerr(p, "", 0), FILTER_E_EVENT_SYNTAX);
    cr_expect_eq(eerr(p, "{\"a\":1}\0", 8), FILTER_E_EVENT_SYNTAX);
    cr_expect_eq(eerr(p, " {\"a\":1}\n", 9), FILTER_OK);
}

/* ---- compile errors name their position ---- */

Test(filter, errors_name_the_json_path_and_reason)
{
    filter_error e;
    const char *p = "{\"detail\":{\"state\":[\"ok\",{\"prefx\":\"a\"}]}}";
    cr_assert_eq(cerr_full(p, strlen(p), &e), FILTER_E_UNKNOWN_OPERATOR);
    cr_expect(strstr(e.message, "detail.state[1]") != NULL, "%s", e.message);
    cr_expect(strstr(e.message, "prefx") != NULL, "%s", e.message);
    cr_expect_gt(e.offset, 20);
    cr_expect_lt(e.offset, strlen(p));
    p = "{\"detail\":{\"n\":[{\"numeric\":[\">\",5,\"<\",1]}]}}";
    cr_assert_eq(cerr_full(p, strlen(p), &e), FILTER_E_BAD_NUMERIC);
    cr_expect(strstr(e.message, "detail.n[0].numeric") != NULL, "%s", e.message);
}

Test(filter, structural_errors)
{
    CERR("[1]", FILTER_E_NOT_OBJECT);
    CERR("\"x\"", FILTER_E_NOT_OBJECT);
    CERR("{\"a\":\"x\"}", FILTER_E_LEAF_NOT_ARRAY);
    CERR("{\"a\":5}", FILTER_E_LEAF_NOT_ARRAY);
    CERR("{\"a\":null}", FILTER_E_LEAF_NOT_ARRAY);
    CERR("{\"a\":{\"b\":true}}", FILTER_E_LEAF_NOT_ARRAY);
    CERR("{\"a\":[]}", FILTER_E_EMPTY);
    CERR("{\"a\":{}}", FILTER_E_EMPTY);
    CERR("{\"a\":[{}]}", FILTER_E_EMPTY);
    CERR("{\"a\":[[1]]}", FILTER_E_BAD_VALUE);
    CERR("{\"a\":[{\"prefix\":\"a\",\"suffix\":\"b\"}]}", FILTER_E_BAD_VALUE);
    CERR("{\"a\":[{\"regex\":\"a\"}]}", FILTER_E_UNKNOWN_OPERATOR);
    CERR("{\"a\":[{\"equals-ignore-case\":5}]}", FILTER_E_BAD_VALUE);
    CERR("{\"a\":[{\"wildcard\":[\"a\"]}]}", FILTER_E_BAD_VALUE);
}

/* ---- limits ---- */

/* `levels` nested objects around a one-value list. */
static void nest(char *b, unsigned levels)
{
    size_t n = 0;
    unsigned i;
    for (i = 0; i < levels; i++) {
        n += (size_t)sprintf(b + n, "{\"a\":");
    }
    n += (size_t)sprintf(b + n, "[1]");
    for (i = 0; i < levels; i++) {
        b[n++] = '}';
    }
    b[n] = '\0';
}

Test(filter, pattern_size_and_depth_limits)
{
    char *big = malloc(FILTER_MAX_PATTERN_BYTES + 2);
    char deep[256];
    size_t n = 0;

    memset(big, ' ', FILTER_MAX_PATTERN_BYTES + 1);
    memcpy(big, "{\"a\":[1]}", 9);
    big[FILTER_MAX_PATTERN_BYTES + 1] = '\0';
    cr_expect_eq(cerr(big), FILTER_E_TOO_LARGE);
    big[FILTER_MAX_PATTERN_BYTES] = '\0';
    cr_expect_eq(cerr(big), FILTER_OK, "exactly the limit is allowed");
    free(big);

    nest(deep, FILTER_MAX_PATTERN_DEPTH);
    cr_expect_eq(cerr(deep), FILTER_E_TOO_DEEP, "%u objects and a list", FILTER_MAX_PATTERN_DEPTH);
    nest(deep, FILTER_MAX_PATTERN_DEPTH - 1);
    cr_expect_eq(cerr(deep), FILTER_OK, "exactly the depth limit is allowed");
    (void)n;
}

Test(filter, pattern_value_count_limit)
{
    size_t cap = FILTER_MAX_PATTERN_VALUES * 2 + 16, n = 0, i;
    char *p = malloc(cap);
    n += (size_t)sprintf(p, "{\"a\":[");
    for (i = 0; i < FILTER_MAX_PATTERN_VALUES; i++) {
        n += (size_t)sprintf(p + n, "%s1", i ? "," : "");
    }
    sprintf(p + n, "]}");
    cr_expect_eq(cerr(p), FILTER_E_TOO_LARGE);
    free(p);
}

Test(filter, event_size_and_depth_limits)
{
    const char *p = "{\"a\":[1]}";
    size_t n = FILTER_MAX_EVENT_BYTES + 1, i;
    char *ev = malloc(n + 1);

    memset(ev, ' ', n);
    memcpy(ev, "{\"a\":1}", 7);
    cr_expect_eq(eerr(p, ev, n), FILTER_E_EVENT_TOO_LARGE);
    cr_expect_eq(eerr(p, ev, n - 1), FILTER_OK, "exactly 6 MiB is allowed");
    for (i = 0; i < 100000; i++) {
        ev[i] = '[';
    }
    cr_expect_eq(eerr(p, ev, 100000), FILTER_E_EVENT_TOO_DEEP);
    for (i = 0; i < FILTER_MAX_EVENT_DEPTH; i++) {
        ev[i] = '[';
        ev[FILTER_MAX_EVENT_DEPTH + i] = ']';
    }
    cr_expect_eq(eerr(p, ev, 2 * FILTER_MAX_EVENT_DEPTH), FILTER_OK);
    free(ev);
}

Test(filter, set_pattern_count_limit)
{
    filter_set *s = filter_set_create();
    filter_error e;
    size_t i;
    for (i = 0; i < FILTER_MAX_SET_PATTERNS; i++) {
        cr_assert_eq(filter_set_add(s, "{\"a\":[1]}", 9, &e), (int)i);
    }
    cr_expect_eq(filter_set_add(s, "{\"a\":[1]}", 9, &e), -1);
    cr_expect_eq(e.code, FILTER_E_TOO_MANY_PATTERNS);
    cr_expect_eq(filter_set_count(s), FILTER_MAX_SET_PATTERNS);
    filter_set_destroy(s);
}

/* ---- sets ---- */

Test(filter, set_reports_which_patterns_matched_in_order)
{
    static const char *pats[] = {
        "{\"source\":[\"a\"]}",
        "{\"source\":[{\"prefix\":\"a\"}]}",
        "{\"n\":[{\"numeric\":[\">\",1]}]}",
        "{\"source\":[\"b\"]}",
        "{}",
        "{\"source\":[\"a\"],\"n\":[5]}",
    };
    filter_set *s = filter_set_create();
    filter_error e;
    uint32_t out[6];
    size_t i;
    int n;

    for (i = 0; i < 6; i++) {
        cr_assert_eq(filter_set_add(s, pats[i], strlen(pats[i]), &e), (int)i);
    }
    cr_assert_eq(filter_set_add(s, "{\"x\":[}", 7, &e), -1, "bad pattern is refused");
    cr_expect_eq(e.code, FILTER_E_SYNTAX);
    cr_assert_eq(filter_set_count(s), 6);
    n = filter_set_match(s, "{\"source\":\"a\",\"n\":5}", 20, out, &e);
    cr_assert_eq(n, 5);
    cr_expect_eq(out[0], 0);
    cr_expect_eq(out[1], 1);
    cr_expect_eq(out[2], 2);
    cr_expect_eq(out[3], 4);
    cr_expect_eq(out[4], 5);
    n = filter_set_match(s, "{\"source\":\"b\"}", 14, out, &e);
    cr_assert_eq(n, 2);
    cr_expect_eq(out[0], 3);
    cr_expect_eq(out[1], 4);
    cr_expect_eq(filter_set_match(s, "{", 1, out, &e), -1);
    cr_expect_eq(e.code, FILTER_E_EVENT_SYNTAX);
    filter_set_destroy(s);
}

/* Random patterns and events from a small vocabulary: the indexed set must
 * report exactly what matching each pattern alone reports. */
static unsigned rnd(unsigned *st)
{
    *st = *st * 1103515245u + 12345u;
    return (*st >> 16) & 0x7fff;
}

static void rand_leaf(char *b, unsigned *st)
{
    static const char *vals[] = {"\"x\"",
                                 "\"y\"",
                                 "1",
                                 "1.0",
                                 "null",
                                 "true",
                                 "{\"prefix\":\"x\"}",
                                 "{\"prefix\":\"\"}",
                                 "{\"anything-but\":\"x\"}",
                                 "{\"exists\":false}",
                                 "{\"exists\":true}",
                                 "{\"numeric\":[\">\",0]}",
                                 "{\"suffix\":\"y\"}",
                                 "\"xy\""};
    unsigned k = 1 + rnd(st) % 2, i;
    strcat(b, "[");
    for (i = 0; i < k; i++) {
        strcat(b, i ? "," : "");
        strcat(b, vals[rnd(st) % 14]);
    }
    strcat(b, "]");
}

static void rand_pattern(char *b, unsigned *st, int depth)
{
    static const char *keys[] = {"a", "b", "c"};
    unsigned k = 1 + rnd(st) % 2, i;
    strcat(b, "{");
    for (i = 0; i < k; i++) {
        strcat(b, i ? ",\"" : "\"");
        strcat(b, keys[rnd(st) % 3]);
        strcat(b, "\":");
        if (depth < 2 && rnd(st) % 3 == 0) {
            rand_pattern(b, st, depth + 1);
        } else {
            rand_leaf(b, st);
        }
    }
    if (depth == 0 && rnd(st) % 5 == 0) {
        strcat(b, ",\"$or\":[{\"a\":[\"x\"]},{\"b\":[1]}]");
    }
    strcat(b, "}");
}

static void rand_value(char *b, unsigned *st, int depth)
{
    static const char *vals[] = {"\"x\"", "\"y\"",  "1",  "1.0", "null",
                                 "true",  "\"xy\"", "[]", "-1"};
    static const char *keys[] = {"a", "b", "c"};
    unsigned r = rnd(st) % 10, k, i;
    if (depth < 3 && r < 3) {
        k = rnd(st) % 3;
        strcat(b, "{");
        for (i = 0; i < k; i++) {
            strcat(b, i ? ",\"" : "\"");
            strcat(b, keys[rnd(st) % 3]);
            strcat(b, "\":");
            rand_value(b, st, depth + 1);
        }
        strcat(b, "}");
    } else if (depth < 3 && r < 5) {
        k = rnd(st) % 3;
        strcat(b, "[");
        for (i = 0; i < k; i++) {
            strcat(b, i ? "," : "");
            rand_value(b, st, depth + 1);
        }
        strcat(b, "]");
    } else {
        strcat(b, vals[rnd(st) % 9]);
    }
}

Test(filter, indexed_set_agrees_with_matching_each_pattern)
{
    enum { NP = 300, NE = 300 };
    filter *fs[NP];
    filter_set *s = filter_set_create();
    filter_error e;
    uint32_t out[NP];
    unsigned st = 12345, i, j, k;
    char b[4096];
    size_t hits = 0;

    for (i = 0; i < NP; i++) {
        b[0] = '\0';
        rand_pattern(b, &st, 0);
        fs[i] = compile_ok(b);
        cr_assert_eq(filter_set_add(s, b, strlen(b), &e), (int)i, "%s: %s", b, e.message);
    }
    for (j = 0; j < NE; j++) {
        int n;
        b[0] = '\0';
        rand_value(b, &st, 0);
        n = filter_set_match(s, b, strlen(b), out, &e);
        cr_assert_geq(n, 0, "%s: %s", b, e.message);
        for (i = 0, k = 0; i < NP; i++) {
            int r = filter_match(fs[i], b, strlen(b), &e);
            int in = (size_t)k < (size_t)n && out[k] == i;
            cr_assert_eq(r, in, "pattern %u vs event %s", i, b);
            k += (unsigned)in;
        }
        hits += (size_t)n;
    }
    cr_expect_gt(hits, 100, "the random cases must include matches");
    for (i = 0; i < NP; i++) {
        filter_destroy(fs[i]);
    }
    filter_set_destroy(s);
    filter_thread_release();
}

/* ---- other entry points ---- */

Test(filter, match_json_uses_canonical_number_text)
{
    filter *f = compile_ok("{\"a\":[300],\"b\":[{\"numeric\":[\">\",1]}]}");
    filter_error e;
    cJSON *j = cJSON_Parse("{\"a\":300.0,\"b\":2}");
    cJSON *deep = cJSON_CreateArray(), *cur = deep;
    int i;

    cr_expect_eq(filter_match_json(f, j, &e), 1, "300.0 is seen as 300 without source text");
    cJSON_Delete(j);
    for (i = 0; i < 100; i++) {
        cJSON *n = cJSON_CreateArray();
        cJSON_AddItemToArray(cur, n);
        cur = n;
    }
    cr_expect_eq(filter_match_json(f, deep, &e), -1);
    cr_expect_eq(e.code, FILTER_E_EVENT_TOO_DEEP);
    cJSON_Delete(deep);
    filter_destroy(f);
}

Test(filter, set_matches_caller_parsed_json_and_survives_scratch_release)
{
    filter_set *s = filter_set_create();
    filter_error e;
    cJSON *j = cJSON_Parse("{\"a\":300.0,\"b\":\"xy\"}");
    uint32_t out[3];

    cr_assert_eq(filter_set_add(s, "{\"a\":[300]}", 11, &e), 0);
    cr_assert_eq(filter_set_add(s, "{\"b\":[{\"prefix\":\"x\"}]}", 22, &e), 1);
    cr_assert_eq(filter_set_add(s, "{\"a\":[301]}", 11, &e), 2);
    cr_expect_eq(filter_set_match_json(s, j, out, &e), 2);
    cr_expect_eq(out[0], 0, "300.0 is seen as 300 without source text");
    cr_expect_eq(out[1], 1);
    filter_thread_release();
    cr_expect_eq(filter_set_match(s, "{\"a\":300.0}", 11, out, &e), 0, "with text, 300.0 != 300");
    cr_expect_eq(filter_set_match(s, "{\"a\":301}", 9, out, &e), 1);
    cr_expect_eq(out[0], 2);
    cJSON_Delete(j);
    filter_set_destroy(s);
    filter_thread_release();
}

Test(filter, parsed_event_matches_many_sets)
{
    filter_set *a = filter_set_create(), *b = filter_set_create();
    filter_error e;
    filter_event *ev = filter_event_parse("{\"k\":1.50}", 10, &e);
    uint32_t out[2];

    cr_assert_not_null(ev);
    cr_assert_eq(filter_set_add(a, "{\"k\":[1.50]}", 12, &e), 0);
    cr_assert_eq(filter_set_add(b, "{\"k\":[1.5]}", 11, &e), 0);
    cr_expect_eq(filter_set_match_event(a, ev, out, &e), 1);
    cr_expect_eq(filter_set_match_event(b, ev, out, &e), 0);
    cr_expect(cJSON_IsObject(filter_event_json(ev)));
    cr_expect_null(filter_event_parse("{", 1, &e));
    cr_expect_eq(e.code, FILTER_E_EVENT_SYNTAX);
    filter_event_destroy(ev);
    filter_set_destroy(a);
    filter_set_destroy(b);
}

Test(filter, destroy_functions_accept_null)
{
    filter_destroy(NULL);
    filter_set_destroy(NULL);
    filter_event_destroy(NULL);
    cr_expect_eq(filter_set_count(NULL), 0);
}

Test(filter, json_member_returns_raw_text)
{
    const char *j = "{\"pattern\": {\"a\":[1.0]}, \"event\" : 7, \"event\":[1,2]}";
    size_t off, len;
    cr_assert_eq(filter_json_member(j, strlen(j), "pattern", &off, &len), 0);
    cr_expect_eq(len, 11);
    cr_expect(strncmp(j + off, "{\"a\":[1.0]}", len) == 0);
    cr_assert_eq(filter_json_member(j, strlen(j), "event", &off, &len), 0);
    cr_expect(strncmp(j + off, "[1,2]", len) == 0, "last duplicate wins");
    cr_expect_eq(filter_json_member(j, strlen(j), "nope", &off, &len), -1);
    cr_expect_eq(filter_json_member("[1]", 3, "a", &off, &len), -1);
    cr_expect_eq(filter_json_member("{\"a\":", 5, "a", &off, &len), -1);
}

Test(filter, error_table_names_every_code)
{
    cr_expect_str_eq(filter_error_name(FILTER_E_BAD_NUMERIC), "FILTER_E_BAD_NUMERIC");
    cr_expect_str_eq(filter_strerror(FILTER_E_EVENT_TOO_LARGE), "event too large");
    cr_expect_eq(FILTER_E_EVENT_TOO_DEEP, 20, "codes are never renumbered");
    cr_expect_str_eq(filter_error_name(999), "FILTER_E_UNKNOWN");
}

/* ---- lamina test-pattern ---- */

static int cli(int argc, char **argv, char *out, size_t outsz, char *err, size_t errsz)
{
    FILE *o, *e;
    int rc;

    memset(out, 0, outsz);
    memset(err, 0, errsz);
    o = fmemopen(out, outsz - 1, "w");
    e = fmemopen(err, errsz - 1, "w");
    cr_assert(o && e);
    rc = cli_test_pattern(argc, argv, o, e);
    fclose(o);
    fclose(e);
    return rc;
}

Test(filter, cli_prints_true_or_false)
{
    char out[256], err[512];
    char *t[] = {"test-pattern", "{\"a\":[{\"numeric\":[\">\",1]}]}", "{\"a\":2}"};
    char *f[] = {"test-pattern", "{\"a\":[300]}", "{\"a\":300.0}"};
    cr_expect_eq(cli(3, t, out, sizeof(out), err, sizeof(err)), 0);
    cr_expect_str_eq(out, "true\n");
    cr_expect_eq(cli(3, f, out, sizeof(out), err, sizeof(err)), 0);
    cr_expect_str_eq(out, "false\n");
}

Test(filter, cli_reports_pattern_errors_with_exit_9)
{
    char out[2048], err[2048];
    char *bad[] = {"test-pattern", "{\"a\":[{\"wildcard\":\"a**\"}]}", "{}"};
    char *ev[] = {"test-pattern", "{\"a\":[1]}", "{nope"};
    char *use[] = {"test-pattern", "{}"};
    char *help[] = {"test-pattern", "--help"};
    cr_expect_eq(cli(3, bad, out, sizeof(out), err, sizeof(err)), 9);
    cr_expect(strstr(err, "FILTER_E_WILDCARD_CONSECUTIVE") != NULL, "%s", err);
    cr_expect_str_eq(out, "");
    cr_expect_eq(cli(3, ev, out, sizeof(out), err, sizeof(err)), 2);
    cr_expect_eq(cli(2, use, out, sizeof(out), err, sizeof(err)), 2);
    cr_expect_eq(cli(2, help, out, sizeof(out), err, sizeof(err)), 0);
    cr_expect(strstr(out, "Example") != NULL);
}

Test(filter, cli_jsonl_prints_one_result_per_line)
{
    char path[] = "/tmp/test_filter_jsonl_XXXXXX", out[512], err[256];
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    char *argv[] = {"test-pattern", "--jsonl", path};

    cr_assert_not_null(f);
    fputs("{\"pattern\":{\"a\":[1]},\"event\":{\"a\":1}}\n"
          "{\"pattern\":\"{\\\"a\\\":[2]}\",\"event\":{\"a\":1}}\n"
          "\n"
          "{\"pattern\":{\"a\":[{\"nope\":1}]},\"event\":{}}\n"
          "{\"pattern\":{\"a\":[1.0]},\"event\":{\"a\":1.0}}\n"
          "not json\n",
          f);
    fclose(f);
    cr_expect_eq(cli(3, argv, out, sizeof(out), err, sizeof(err)), 9);
    unlink(path);
    cr_expect(strncmp(out, "true\nfalse\nerror: ", 18) == 0, "%s", out);
    cr_expect(strstr(out, "nope") != NULL, "%s", out);
    cr_expect(strstr(out, "\ntrue\nerror: ") != NULL, "%s", out);
}
