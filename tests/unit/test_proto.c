/*
 * Unit: the wire format — the bounded pre-validator against msgpack-c's
 * amplification hazards, strict typed getters, encode/decode round trips,
 * the text rule for client strings and JSON payloads (text.c), Lambda's
 * name patterns (names.c) and JSON <-> msgpack conversion (jsonconv.c).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/resource.h>

#include "jsonconv.h"
#include "proto.h"

static int validate(const char *p, size_t n)
{
    lm_error e;
    return proto_validate(p, n, &e);
}

Test(proto, validator_refuses_counts_larger_than_the_bytes_present)
{
    cr_assert_eq(validate("\xdd\xff\x00\x00\x00", 5), LM_E_MALFORMED, "array32 of 4G");
    cr_assert_eq(validate("\xdf\xff\xff\xff\xff", 5), LM_E_MALFORMED, "map32 of 4G pairs");
    cr_assert_eq(validate("\xdb\xff\xff\xff\xff\x61\x62\x63", 8), LM_E_MALFORMED, "str32");
    cr_assert_eq(validate("\xc6\x00\x00\x00\x10\x01", 6), LM_E_MALFORMED, "bin32 of 16");
    cr_assert_eq(validate("\x94\x01\x02\x03", 4), LM_E_MALFORMED, "fixarray of 4 with 3");
}

Test(proto, validator_refuses_32_nested_array32_headers_cheaply)
{
    char buf[160];
    for (int i = 0; i < 32; i++) {
        memcpy(buf + i * 5, "\xdd\x00\x10\x00\x00", 5);
    }
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    cr_assert_eq(validate(buf, sizeof(buf)), LM_E_MALFORMED);
    getrusage(RUSAGE_SELF, &after);
    cr_assert(after.ru_maxrss - before.ru_maxrss < 1024, "no allocation (maxrss +%ld KiB)",
              after.ru_maxrss - before.ru_maxrss);
}

Test(proto, validator_limits_depth_and_element_count)
{
    char deep[20];
    memset(deep, 0x91, 17);
    deep[17] = 0x01;
    cr_assert_eq(validate(deep, 18), LM_E_MALFORMED, "17 levels");
    cr_assert_eq(validate(deep + 1, 17), LM_OK, "16 levels are fine");
    /* 70,000 nils in an array: over the element cap */
    size_t n = 5 + 70000;
    char *big = malloc(n);
    memcpy(big, "\xdd\x00\x01\x11\x70", 5);
    memset(big + 5, 0xc0, 70000);
    cr_assert_eq(validate(big, n), LM_E_MALFORMED);
    free(big);
}

Test(proto, validator_refuses_truncation_trailing_bytes_and_reserved_bytes)
{
    cr_assert_eq(validate("", 0), LM_E_MALFORMED);
    cr_assert_eq(validate("\xcd\x01", 2), LM_E_MALFORMED, "uint16 missing a byte");
    cr_assert_eq(validate("\x01\x02", 2), LM_E_MALFORMED, "two objects");
    cr_assert_eq(validate("\xc1", 1), LM_E_MALFORMED, "0xc1 is never used");
    cr_assert_eq(validate("\xd9", 1), LM_E_MALFORMED, "str8 without its length");
    cr_assert_eq(validate("\xd8\x01", 2), LM_E_MALFORMED, "fixext16 truncated");
}

Test(proto, validator_accepts_every_well_formed_type)
{
    const char ok[] = "\x8c" /* map of 12 */
                      "\xa1"
                      "a\xc0" /* nil */
                      "\xa1"
                      "b\xc3" /* true */
                      "\xa1"
                      "c\xcc\xff" /* uint8 */
                      "\xa1"
                      "d\xd1\xff\x00" /* int16 */
                      "\xa1"
                      "e\xcb\x40\x09\x21\xf9\xf0\x1b\x86\x6e" /* float64 */
                      "\xa1"
                      "f\xd9\x02hi" /* str8 */
                      "\xa1"
                      "g\xc4\x01\x00" /* bin8 */
                      "\xa1"
                      "h\x92\x01\xe0" /* fixarray with negative fixint */
                      "\xa1"
                      "i\xd4\x01\x02" /* fixext1 */
                      "\xa1"
                      "j\xc7\x01\x05\xaa" /* ext8 */
                      "\xa1"
                      "k\xde\x00\x00" /* empty map16 */
                      "\xa1"
                      "l\xca\x3f\x80\x00\x00"; /* float32 */
    cr_assert_eq(validate(ok, sizeof(ok) - 1), LM_OK);
}

static nng_msg *build(void (*fill)(proto_writer *))
{
    nng_msg *m = NULL;
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer w;
    proto_writer_init(&w, m);
    fill(&w);
    cr_assert_eq(w.err, 0);
    return m;
}

static void fill_invoke(proto_writer *w)
{
    pw_map(w, 6);
    pw_header(w, "invoke");
    pw_key(w, "fn");
    pw_str(w, "hello");
    pw_key(w, "n");
    pw_int(w, -42);
    pw_key(w, "payload");
    pw_bin(w, "{\"x\":1}", 7);
    pw_key(w, "tail");
    pw_bool(w, true);
}

Test(proto, encode_then_decode_round_trips_with_typed_getters)
{
    nng_msg *m = build(fill_invoke);
    proto_doc doc;
    lm_error e;
    cr_assert_eq(proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, &e), LM_OK, "%s", e.message);
    const char *s = NULL;
    size_t n = 0;
    cr_assert_eq(proto_get_str(doc.root, "fn", true, &s, &n, &e), LM_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(s, "hello", 5), 0);
    cr_assert(s >= (const char *)nng_msg_body(m) &&
                  s < (const char *)nng_msg_body(m) + nng_msg_len(m),
              "strings point into the input");
    int64_t v = 0;
    cr_assert_eq(proto_get_int(doc.root, "n", true, &v, &e), LM_OK);
    cr_assert_eq(v, -42);
    const void *p = NULL;
    cr_assert_eq(proto_get_bin(doc.root, "payload", true, &p, &n, &e), LM_OK);
    cr_assert_eq(n, 7);
    bool t = false;
    cr_assert_eq(proto_get_bool(doc.root, "tail", true, &t, &e), LM_OK);
    cr_assert(t);
    /* wrong types and missing fields are typed errors naming the field */
    cr_assert_eq(proto_get_int(doc.root, "fn", true, &v, &e), LM_E_MALFORMED);
    cr_assert_not_null(strstr(e.message, "'fn'"));
    cr_assert_eq(proto_get_str(doc.root, "missing", true, &s, &n, &e), LM_E_MALFORMED);
    cr_assert_not_null(strstr(e.message, "missing"));
    s = "untouched";
    cr_assert_eq(proto_get_str(doc.root, "missing", false, &s, &n, &e), LM_OK);
    cr_assert_str_eq(s, "untouched");
    proto_doc_finish(&doc);
    nng_msg_free(m);
}

static void fill_v2(proto_writer *w)
{
    pw_map(w, 1);
    pw_key(w, "v");
    pw_int(w, 2);
}

Test(proto, another_protocol_version_is_refused)
{
    nng_msg *m = build(fill_v2);
    proto_doc doc;
    lm_error e;
    cr_assert_eq(proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, &e), LM_E_PROTO_VERSION);
    proto_doc_finish(&doc);
    nng_msg_free(m);
}

Test(proto, error_table_maps_codes_statuses_and_types)
{
    cr_assert_eq(proto_err_status(LM_E_NOT_FOUND), 404);
    cr_assert_str_eq(proto_err_type(LM_E_TOO_LARGE), "RequestEntityTooLargeException");
    cr_assert_eq(proto_err_status(LM_E_THROTTLED), 429);
    cr_assert_str_eq(proto_err_name(LM_E_CONFLICT), "LM_E_CONFLICT");
    cr_assert_eq(proto_err_from_type("ResourceConflictException"), LM_E_CONFLICT);
    cr_assert_eq(proto_err_status(LM_E_PRECONDITION_FAILED), 412);
    cr_assert_str_eq(proto_err_type(LM_E_PRECONDITION_FAILED), "PreconditionFailedException");
    cr_assert_eq(proto_err_from_type("PreconditionFailedException"), LM_E_PRECONDITION_FAILED);
    cr_assert_str_eq(proto_err_message(LM_E_PRECONDITION_FAILED),
                     "The Revision Id provided does not match the latest Revision Id. Call the "
                     "GetFunction/GetAlias API to retrieve the latest Revision Id");
    lm_error e;
    nng_msg *m = proto_error_reply(&(lm_error){.code = LM_E_NOT_FOUND,
                                               .status = 404,
                                               .type = "ResourceNotFoundException",
                                               .message = "Function not found: x"});
    proto_doc doc;
    cr_assert_eq(proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, &e), LM_OK);
    cr_assert_eq(proto_read_error(doc.root, &e), LM_E_NOT_FOUND);
    cr_assert_str_eq(e.message, "Function not found: x");
    proto_doc_finish(&doc);
    nng_msg_free(m);
}

Test(proto, json_converts_to_msgpack_and_back)
{
    const char *src = "{\"a\":1,\"b\":[true,null,\"s\"],\"c\":{\"d\":2.5}}";
    cJSON *j = cJSON_Parse(src);
    nng_msg *m = NULL;
    nng_msg_alloc(&m, 0);
    proto_writer w;
    proto_writer_init(&w, m);
    cr_assert_eq(jsonconv_pack(&w, j, 0), 0);
    lm_error e;
    cr_assert_eq(proto_validate(nng_msg_body(m), nng_msg_len(m), &e), LM_OK);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, nng_msg_body(m), nng_msg_len(m), &off);
    cJSON *back = jsonconv_from_msgpack(&up.data);
    char *s = cJSON_PrintUnformatted(back);
    cr_assert_str_eq(s, src);
    free(s);
    cJSON_Delete(back);
    cJSON_Delete(j);
    msgpack_unpacked_destroy(&up);
    nng_msg_free(m);
}

/* ---- text: what every client string must be (proto/text.c) ---- */

static bool text(const char *s, size_t n)
{
    return proto_text_ok(s, n, NULL, NULL);
}

Test(proto, text_accepts_well_formed_utf8_of_every_length)
{
    cr_assert(text("", 0));
    cr_assert(text("echo", 4));
    cr_assert(text("caf\xc3\xa9", 5), "U+00E9");
    cr_assert(text("\xe2\x82\xac", 3), "U+20AC");
    cr_assert(text("\xef\xbf\xbf", 3), "U+FFFF");
    cr_assert(text("\xf0\x9f\x98\x80", 4), "U+1F600");
    cr_assert(text("\xf4\x8f\xbf\xbf", 4), "U+10FFFF, the last code point");
    cr_assert(text("tab\tand\nnewline", 15), "controls other than NUL are text");
}

Test(proto, text_refuses_nul_and_every_ill_formed_sequence)
{
    struct {
        const char *s;
        size_t n, at;
        const char *why;
    } bad[] = {
        {"echo\0zzz", 8, 4, "NUL"},
        {"\xff", 1, 0, "never"},
        {"a\x80", 2, 1, "continuation"},
        {"\xc3", 1, 0, "truncated"},
        {"\xe2\x82", 2, 0, "truncated"},
        {"\xe2\x28\xa1", 3, 0, "truncated"},
        {"\xc0\x80", 2, 0, "overlong"}, /* NUL, overlong */
        {"\xc1\xbf", 2, 0, "overlong"},
        {"\xe0\x80\xaf", 3, 0, "overlong"}, /* '/', overlong */
        {"\xf0\x80\x80\x80", 4, 0, "overlong"},
        {"x\xed\xa0\x80", 4, 1, "surrogate"}, /* U+D800 */
        {"\xed\xbf\xbf", 3, 0, "surrogate"}, /* U+DFFF */
        {"\xf4\x90\x80\x80", 4, 0, "U+10FFFF"},
        {"\xf5\x80\x80\x80", 4, 0, "never"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t at = 99;
        const char *why = NULL;
        cr_assert_not(proto_text_ok(bad[i].s, bad[i].n, &at, &why), "case %zu", i);
        cr_assert_eq(at, bad[i].at, "case %zu: bad byte at %zu", i, at);
        cr_assert_not_null(strstr(why, bad[i].why), "case %zu: '%s'", i, why);
    }
    cr_assert(proto_utf8_ok("a\0b", 3, true, NULL, NULL), "NUL allowed on request");
}

static bool json_text(const char *s, size_t n)
{
    return proto_json_text_ok(s, n, NULL, NULL);
}

Test(proto, json_text_refuses_raw_nul_bad_utf8_and_raw_controls_in_strings)
{
    cr_assert(json_text("{\"a\":\"x\\u0000y\"}", 16), "an escaped NUL is valid JSON");
    cr_assert(json_text(" {\"a\" :\t[1,\r\n2]}\n", 17), "JSON whitespace");
    cr_assert(json_text("\"caf\xc3\xa9 \\\"q\\\\\"", 13), "escapes and UTF-8");
    cr_assert_not(json_text("{\"a\":\"x\0y\"}", 11), "raw NUL in a string");
    cr_assert_not(json_text("{}\0", 3), "raw NUL after the value");
    cr_assert_not(json_text("\"\xff\"", 3), "invalid UTF-8");
    cr_assert_not(json_text("\"\xc0\x80\"", 4), "overlong NUL");
    cr_assert_not(json_text("\"\xed\xa0\x80\"", 5), "a surrogate in UTF-8");
    cr_assert_not(json_text("\"a\nb\"", 5), "raw newline inside a string");
    cr_assert_not(json_text("\x01{}", 3), "a control character outside strings");
    size_t at = 0;
    cr_assert_not(proto_json_text_ok("[\"ok\",\"a\x1f\"]", 11, &at, NULL));
    cr_assert_eq(at, 8);
}

/* {"v":1,"op":"delete","args":{"FunctionName": fn[0..n)}} */
static nng_msg *request_with_name(const char *fn, size_t n)
{
    nng_msg *m = NULL;
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 4);
    pw_header(&w, "delete");
    pw_key(&w, "args");
    pw_map(&w, 2);
    pw_key(&w, "FunctionName");
    pw_strn(&w, fn, n);
    pw_key(&w, "Environment");
    pw_map(&w, 1);
    pw_key(&w, "Variables");
    pw_map(&w, 1);
    pw_key(&w, "K1");
    pw_strn(&w, "v", 1);
    pw_key(&w, "payload");
    pw_bin(&w, "\0\xff", 2);
    cr_assert_eq(w.err, 0);
    return m;
}

Test(proto, request_decoder_refuses_a_name_with_a_nul_and_names_the_field)
{
    nng_msg *m = request_with_name("echo\0zzz", 8);
    proto_doc doc;
    lm_error e;
    cr_assert_eq(proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, &e), LM_OK,
                 "structurally fine: worker messages may carry such bytes");
    proto_doc_finish(&doc);
    cr_assert_eq(proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e),
                 LM_E_INVALID_PARAMETER);
    cr_assert_str_eq(e.type, "InvalidParameterValueException");
    cr_assert_eq(e.status, 400);
    cr_assert_not_null(strstr(e.message, "FunctionName is not valid text"), "%s", e.message);
    cr_assert_not_null(strstr(e.message, "byte 4 of 8 is a NUL byte"), "%s", e.message);
    proto_doc_finish(&doc);
    nng_msg_free(m);

    m = request_with_name("echo", 4);
    cr_assert_eq(proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e), LM_OK,
                 "the payload is bytes, not text: %s", e.message);
    proto_doc_finish(&doc);
    nng_msg_free(m);
}

Test(proto, request_decoder_checks_keys_and_nested_values)
{
    nng_msg *m = NULL;
    proto_writer w;
    proto_doc doc;
    lm_error e;
    /* a nested value: args.Environment.Variables.K1 = "a\xc0\x80" */
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer_init(&w, m);
    pw_map(&w, 3);
    pw_header(&w, "create");
    pw_key(&w, "args");
    pw_map(&w, 1);
    pw_key(&w, "Environment");
    pw_map(&w, 1);
    pw_key(&w, "Variables");
    pw_map(&w, 1);
    pw_key(&w, "K1");
    pw_strn(&w, "a\xc0\x80", 3);
    cr_assert_eq(proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e),
                 LM_E_INVALID_PARAMETER);
    cr_assert_not_null(strstr(e.message, "Environment.Variables.K1 is not valid text"), "%s",
                       e.message);
    cr_assert_not_null(strstr(e.message, "overlong"), "%s", e.message);
    proto_doc_finish(&doc);
    nng_msg_free(m);
    /* a key: {"v":1,"op":"invoke","f\0n":"x"} and an invoke field by its API name */
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer_init(&w, m);
    pw_map(&w, 3);
    pw_header(&w, "invoke");
    pw_strn(&w, "f\0n", 3);
    pw_str(&w, "x");
    cr_assert_eq(proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e),
                 LM_E_INVALID_PARAMETER);
    cr_assert_not_null(strstr(e.message, "a key in the request"), "%s", e.message);
    proto_doc_finish(&doc);
    nng_msg_free(m);
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer_init(&w, m);
    pw_map(&w, 4);
    pw_header(&w, "invoke");
    pw_key(&w, "fn");
    pw_str(&w, "echo");
    pw_key(&w, "q");
    pw_array(&w, 1); /* types are the handlers' to check; text is checked at any depth */
    pw_strn(&w, "\xed\xa0\x80", 3);
    cr_assert_eq(proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e),
                 LM_E_INVALID_PARAMETER);
    cr_assert_not_null(strstr(e.message, "Qualifier[0] is not valid text"), "%s", e.message);
    cr_assert_not_null(strstr(e.message, "surrogate"), "%s", e.message);
    proto_doc_finish(&doc);
    nng_msg_free(m);
}

/* Found by fuzz_api: a map used as a key hid its own strings from the text
 * rule, and the pre-validator let it through. */
Test(proto, request_decoder_refuses_keys_that_are_not_strings)
{
    nng_msg *m = NULL;
    proto_writer w;
    proto_doc doc;
    lm_error e;
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer_init(&w, m);
    pw_map(&w, 3);
    pw_header(&w, "event-config");
    pw_map(&w, 1); /* a key that is a map ... */
    pw_key(&w, "Maximum\x9b");
    pw_int(&w, 1);
    pw_str(&w, "x");
    cr_assert_eq(proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e), LM_E_MALFORMED);
    cr_assert_not_null(strstr(e.message, "key 2 of the request is not a string"), "%s", e.message);
    proto_doc_finish(&doc);
    nng_msg_free(m);
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer_init(&w, m);
    pw_map(&w, 3);
    pw_header(&w, "create");
    pw_key(&w, "args");
    pw_map(&w, 1);
    pw_int(&w, 7); /* ... or a number, at any depth */
    pw_str(&w, "x");
    cr_assert_eq(proto_decode_request(nng_msg_body(m), nng_msg_len(m), &doc, &e), LM_E_MALFORMED);
    cr_assert_not_null(strstr(e.message, "is not a string"), "%s", e.message);
    proto_doc_finish(&doc);
    nng_msg_free(m);
}

Test(proto, error_messages_are_always_valid_text)
{
    lm_error e;
    proto_error(&e, LM_E_INVALID_PARAMETER, "bad '%.*s'", 3, "ab\xff");
    cr_assert_str_eq(e.message, "bad 'ab?'");
    char big[600];
    memset(big, 'x', sizeof(big));
    memcpy(big + 505, "\xe2\x82\xac", 3); /* cut by the 512-byte message */
    proto_error(&e, LM_E_INVALID_PARAMETER, "%.*s", (int)sizeof(big), big);
    cr_assert(proto_text_ok(e.message, strlen(e.message), NULL, NULL));
    char q[32];
    proto_quote(q, sizeof(q), "a\nb'\xff\xc3\xa9", 7);
    cr_assert_str_eq(q, "a\\x0ab\\x27\\xff\xc3\xa9");
}

/* ---- names (proto/names.c) ---- */

static int parse(const char *fn, const char *q, char name[65], char qual[129])
{
    lm_error e;
    return proto_parse_function_ref(fn, strlen(fn), q, q != NULL ? strlen(q) : 0, name, qual, &e);
}

Test(proto, function_references_follow_lambdas_pattern)
{
    struct {
        const char *fn, *q, *name, *qual;
    } ok[] = {
        {"echo", NULL, "echo", ""},
        {"my-fn_2", NULL, "my-fn_2", ""},
        {"echo:prod", NULL, "echo", "prod"},
        {"echo:7", NULL, "echo", "7"},
        {"echo:$LATEST", NULL, "echo", "$LATEST"},
        {"echo", "prod", "echo", "prod"},
        {"echo:prod", "prod", "echo", "prod"},
        {"function:echo", NULL, "echo", ""},
        {"function:echo:3", NULL, "echo", "3"},
        {"123456789012:function:echo", NULL, "echo", ""},
        {"us-east-1:123456789012:function:echo:prod", NULL, "echo", "prod"},
        {"arn:aws:lambda:us-west-2:123456789012:function:echo", NULL, "echo", ""},
        {"arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:echo:9", NULL, "echo", "9"},
        {"arn:aws:lambda:function:echo", NULL, "echo", ""},
        {"eu-west-1:prod", NULL, "eu-west-1", "prod"},
        {"arn:lamina:local:0:function:echo:live", NULL, "echo", "live"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char name[65], qual[129];
        cr_assert_eq(parse(ok[i].fn, ok[i].q, name, qual), LM_OK, "%s", ok[i].fn);
        cr_assert_str_eq(name, ok[i].name, "%s", ok[i].fn);
        cr_assert_str_eq(qual, ok[i].qual, "%s", ok[i].fn);
    }
    const char *bad[][2] = {
        {"", NULL},
        {"bad name!", NULL},
        {"a.b", NULL},
        {"junk:function:echo", NULL}, /* was read as echo */
        {"arn:aws:s3:::bucket", NULL},
        {"arn:aws:lambda:us-east-1:123456789012:echo", NULL},
        {"arn:a b:x:y:z:function:echo", NULL},
        {"arn:a:b:c:d:e:function:echo", NULL},
        {"echo:", NULL},
        {"echo:bad/qualifier", NULL},
        {"echo:a:b", NULL},
        {"echo:prod", "beta"},
        {"echo", "$latest"},
        {"echo", "12345678901"}, /* 11 digits: no such version number */
        {"x12345678901234567890123456789012345678901234567890123456789012345", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char name[65], qual[129];
        cr_assert_eq(parse(bad[i][0], bad[i][1], name, qual), LM_E_INVALID_PARAMETER, "'%s'",
                     bad[i][0]);
    }
    char name[65], qual[129];
    lm_error e;
    cr_assert_eq(proto_parse_function_ref("echo\0zzz", 8, NULL, 0, name, qual, &e),
                 LM_E_INVALID_PARAMETER, "a NUL is a non-match, never a cut");
    cr_assert_not_null(strstr(e.message, "echo\\x00zzz"), "%s", e.message);
    cr_assert_eq(proto_parse_function_ref("echo", 4, "prod\0x", 6, name, qual, &e),
                 LM_E_INVALID_PARAMETER);
    char longest[171];
    memset(longest, 'a', 170);
    longest[170] = '\0';
    cr_assert_eq(parse(longest, NULL, name, qual), LM_E_INVALID_PARAMETER, "name over 64");
}

Test(proto, alias_names_and_environment_keys_follow_lambdas_patterns)
{
    cr_assert(proto_valid_alias_name("prod", 4));
    cr_assert(proto_valid_alias_name("v1-beta_2", 9));
    cr_assert_not(proto_valid_alias_name("123", 3), "all digits is a version");
    cr_assert_not(proto_valid_alias_name("pr\0d", 4));
    cr_assert_not(proto_valid_alias_name("", 0));
    cr_assert_null(proto_env_key_problem("GREETING", 8));
    cr_assert_null(proto_env_key_problem("a1_", 3));
    const char *refused[] = {
        "A",          "1X",       "A-B",        "A\0B",           "LAMINA_TOKEN",
        "LD_PRELOAD", "LD_AUDIT", "GCONV_PATH", "GLIBC_TUNABLES", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_REGION", "PATH",     "TMPDIR"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        size_t n = i == 3 ? 3 : strlen(refused[i]);
        cr_assert_not_null(proto_env_key_problem(refused[i], n), "%s", refused[i]);
    }
}

/* ---- jsonconv ---- */

static msgpack_unpacked unpack(nng_msg *m)
{
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    cr_assert_eq(msgpack_unpack_next(&up, nng_msg_body(m), nng_msg_len(m), &off),
                 MSGPACK_UNPACK_SUCCESS);
    return up;
}

/* UBSan (build-asan, halt_on_error) fails this before the fix: msgpack-c
 * gives an empty str a NULL pointer, and jsonconv memcpy'd from it. */
Test(proto, json_from_msgpack_handles_empty_keys_and_strings)
{
    nng_msg *m = NULL;
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 3);
    pw_strn(&w, "", 0);
    pw_strn(&w, "", 0);
    pw_key(&w, "b");
    pw_bin(&w, "", 0);
    pw_key(&w, "a");
    pw_array(&w, 1);
    pw_strn(&w, "", 0);
    msgpack_unpacked up = unpack(m);
    cJSON *j = jsonconv_from_msgpack(&up.data);
    char *s = cJSON_PrintUnformatted(j);
    cr_assert_str_eq(s, "{\"\":\"\",\"b\":\"\",\"a\":[\"\"]}");
    free(s);
    cJSON_Delete(j);
    msgpack_unpacked_destroy(&up);
    nng_msg_free(m);
}

Test(proto, jsonconv_packs_exactly_what_the_validator_accepts)
{
    /* 16 nested arrays inside the message's own map: 17 levels, too deep */
    char deep[64] = "", ok[64] = "";
    for (int i = 0; i < 16; i++) {
        strcat(deep, "[");
        if (i < 15) {
            strcat(ok, "[");
        }
    }
    strcat(deep, "1");
    strcat(ok, "1");
    for (int i = 0; i < 16; i++) {
        strcat(deep, "]");
        if (i < 15) {
            strcat(ok, "]");
        }
    }
    const char *cases[] = {ok, deep};
    for (int k = 0; k < 2; k++) {
        cJSON *j = cJSON_Parse(cases[k]);
        nng_msg *m = NULL;
        nng_msg_alloc(&m, 0);
        proto_writer w;
        proto_writer_init(&w, m);
        pw_map(&w, 1);
        pw_key(&w, "args");
        int rc = jsonconv_pack(&w, j, 1);
        lm_error e;
        if (k == 0) {
            cr_assert_eq(rc, 0);
            cr_assert_eq(proto_validate(nng_msg_body(m), nng_msg_len(m), &e), LM_OK, "%s",
                         e.message);
        } else {
            cr_assert_eq(rc, -1, "refused by the packer, not later by the broker");
        }
        cJSON_Delete(j);
        nng_msg_free(m);
    }
}

Test(proto, json_args_with_an_escaped_nul_are_refused_not_cut)
{
    cJSON *j = NULL;
    lm_error e;
    const char *t = "{\"FunctionName\":\"echo\\u0000zzz\"}";
    cr_assert_eq(jsonconv_parse(t, strlen(t), &j, &e), LM_E_INVALID_PARAMETER);
    cr_assert_null(j);
    cr_assert_not_null(strstr(e.message, "\\u0000"), "%s", e.message);
    t = "{\"a\":\"\\\\u0000 is only text here\",\"b\":\"\\u00e9\"}";
    cr_assert_eq(jsonconv_parse(t, strlen(t), &j, &e), LM_OK, "an escaped backslash");
    cJSON_Delete(j);
}
