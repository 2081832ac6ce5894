/*
 * Unit: the wire format — the bounded pre-validator against msgpack-c's
 * amplification hazards, strict typed getters, and encode/decode round trips.
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
