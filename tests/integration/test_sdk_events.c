/*
 * tests/integration/test_sdk_events.c — <lamina/events.h> in a real handler
 * (tests/handlers/sdkevents.c) on a real broker: the helpers read the
 * shapes the broker sends (queue and stream batches, function URL requests)
 * and write answers the broker understands (partial batch responses, URL
 * responses, binary bodies as base64), by direct invokes with events of
 * those shapes, then end to end through a queue mapping and a function URL
 * driven by curl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

static lt_broker b;

static void start(void)
{
    static const char *const args[] = {"--test-clock", "--http", "127.0.0.1:0", NULL};
    lt_broker_start(&b, args);
    lt_create(&b, "ev", "sdkevents", NULL);
}

static void stop(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(sdk_events, .init = start, .fini = stop, .timeout = 120);

/* Invoke ev with payload; the answer parsed (the caller deletes it). */
static cJSON *call(const char *payload)
{
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "ev", payload, &r, &e), LM_OK, "%s", e.message);
    cr_assert_str_empty(r.function_error, "%s", r.payload);
    cJSON *j = cJSON_Parse(r.payload);
    cr_assert_not_null(j, "not JSON: %s", r.payload);
    lm_invoke_result_finish(&r);
    return j;
}

/* The itemIdentifiers of a partial batch response, comma-joined. */
static void failures(const cJSON *j, char *out, size_t cap)
{
    const cJSON *list = cJSON_GetObjectItem(j, "batchItemFailures");
    cr_assert(cJSON_IsArray(list), "no batchItemFailures list");
    out[0] = '\0';
    const cJSON *f;
    cJSON_ArrayForEach(f, list)
    {
        const cJSON *id = cJSON_GetObjectItem(f, "itemIdentifier");
        cr_assert(cJSON_IsString(id));
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "", id->valuestring);
    }
}

static const char *hdr(const cJSON *resp, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "headers"), name);
    cr_assert(cJSON_IsString(v), "no header %s", name);
    return v->valuestring;
}

Test(sdk_events, queue_and_stream_batches_are_read_and_failures_listed)
{
    char got[256];
    cJSON *j = call("{\"Records\":[{\"messageId\":\"m1\",\"body\":\"ok\"},"
                    "{\"messageId\":\"m2\",\"body\":\"fail-x\"},"
                    "{\"messageId\":\"m3\",\"body\":\"fine\"}]}");
    failures(j, got, sizeof(got));
    cr_assert_str_eq(got, "m2");
    cJSON_Delete(j);
    /* Kinesis records: data base64-decoded; broken base64 is a failure */
    char a[64], f[64], stream[512];
    lt_base64("h\xc3\xa9llo", a);
    lt_base64("fail!", f);
    snprintf(stream, sizeof(stream),
             "{\"Records\":[{\"kinesis\":{\"data\":\"%s\",\"sequenceNumber\":\"49\"}},"
             "{\"kinesis\":{\"data\":\"%s\",\"sequenceNumber\":\"50\"}},"
             "{\"kinesis\":{\"data\":\"!!not base64\",\"sequenceNumber\":\"51\"}}]}",
             a, f);
    j = call(stream);
    failures(j, got, sizeof(got));
    cr_assert_str_eq(got, "50,51");
    cJSON_Delete(j);
    lt_await_log(&b, "ev", "REC h\xc3\xa9llo (6 bytes, id 49)", 1);
    /* an empty batch is a full success */
    j = call("{\"Records\":[]}");
    failures(j, got, sizeof(got));
    cr_assert_str_empty(got);
    cJSON_Delete(j);
}

Test(sdk_events, url_requests_are_read_and_answers_keep_binary_bodies)
{
    static const unsigned char bin[] = {0x00, 0xff, 0x10, 'a', 0xc3};
    char b64[32], ev[1024];
    lt_base64_n(bin, sizeof(bin), b64);
    snprintf(ev, sizeof(ev),
             "{\"rawPath\":\"/a/b\",\"requestContext\":{\"http\":{\"method\":\"PUT\"}},"
             "\"headers\":{\"x-test\":\"T1\"},\"queryStringParameters\":{\"q\":\"v\","
             "\"status\":\"201\"},\"body\":\"%s\",\"isBase64Encoded\":true}",
             b64);
    cJSON *j = call(ev);
    cr_assert_eq(cJSON_GetObjectItem(j, "statusCode")->valueint, 201);
    cr_assert_str_eq(hdr(j, "x-method"), "PUT");
    cr_assert_str_eq(hdr(j, "x-path"), "/a/b");
    cr_assert_str_eq(hdr(j, "x-q"), "v");
    cr_assert_str_eq(hdr(j, "x-h"), "T1", "headers are found in any case");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "isBase64Encoded")), "binary goes as base64");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "body")->valuestring, b64);
    cJSON_Delete(j);
    /* text stays text; UTF-8 is text, an overlong or cut sequence is not */
    j = call("{\"rawPath\":\"/\",\"requestContext\":{\"http\":{\"method\":\"POST\"}},"
             "\"body\":\"plain t\\u00e9xt\",\"isBase64Encoded\":false}");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "isBase64Encoded")));
    cr_assert_str_eq(cJSON_GetObjectItem(j, "body")->valuestring, "plain t\xc3\xa9xt");
    cr_assert_str_eq(hdr(j, "x-q"), "(none)");
    cJSON_Delete(j);
    static const unsigned char overlong[] = {'o', 0xc0, 0xaf};
    lt_base64_n(overlong, sizeof(overlong), b64);
    snprintf(ev, sizeof(ev),
             "{\"rawPath\":\"/\",\"requestContext\":{\"http\":{\"method\":\"POST\"}},"
             "\"body\":\"%s\",\"isBase64Encoded\":true}",
             b64);
    j = call(ev);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "isBase64Encoded")),
              "an overlong form is binary");
    cJSON_Delete(j);
    /* a broken base64 body is the handler's typed error, not a crash */
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "ev",
                           "{\"rawPath\":\"/\",\"requestContext\":{\"http\":{\"method\":\"POST\"}},"
                           "\"body\":\"@@@\",\"isBase64Encoded\":true}",
                           &r, &e),
                 LM_OK);
    cr_assert_str_eq(r.function_error, "Handled");
    cr_assert_not_null(strstr(r.payload, "BadBody"));
    lm_invoke_result_finish(&r);
    /* neither shape */
    j = call("{\"hello\":1}");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "kind")->valuestring, "other");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "json")));
    cJSON_Delete(j);
}

static int log_count(const char *needle)
{
    char *l = lt_function_log(&b, "ev");
    int n = lt_count(l, needle);
    free(l);
    return n;
}

typedef struct want {
    const char *needle;
    int n;
} want;

static bool logged(void *arg)
{
    want *w = arg;
    return log_count(w->needle) >= w->n;
}

/* Through a real mapping: only the listed message comes back. */
Test(sdk_events, a_queue_mapping_retries_only_what_the_helpers_listed)
{
    cJSON_Delete(lt_ok(&b, "queue-create",
                       "{\"QueueName\":\"q\",\"Attributes\":{\"VisibilityTimeout\":\"30\"}}"));
    cJSON_Delete(lt_ok(&b, "queue-send-batch",
                       "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"good\"},"
                       "{\"Id\":\"b\",\"MessageBody\":\"failing\"}]}"));
    cJSON_Delete(lt_ok(&b, "esm-create",
                       "{\"FunctionName\":\"ev\",\"EventSourceArn\":\"queue:q\","
                       "\"FunctionResponseTypes\":[\"ReportBatchItemFailures\"]}"));
    lt_await_log(&b, "ev", "REC failing", 1);
    lt_await_log(&b, "ev", "REC good", 1);
    lt_clock_advance(&b, 31000); /* the failed one is visible again */
    want w = {"REC failing", 2};
    cr_assert(lt_wait_until(logged, &w, 30000), "the listed message did not come back");
    cr_assert_eq(log_count("REC good"), 1, "a message the handler did not list was retried");
}

/* Through a real function URL: curl's binary body comes back byte for byte. */
Test(sdk_events, a_function_url_round_trips_a_binary_body_through_curl)
{
    cJSON *u = lt_ok(&b, "url-create", "{\"FunctionName\":\"ev\",\"AuthType\":\"NONE\"}");
    char url[512], in[600], out[600], hdrs[600];
    snprintf(url, sizeof(url), "%sp/q?q=curl", cJSON_GetObjectItem(u, "FunctionUrl")->valuestring);
    cJSON_Delete(u);
    snprintf(in, sizeof(in), "%s/in.bin", b.state);
    snprintf(out, sizeof(out), "%s/out.bin", b.state);
    snprintf(hdrs, sizeof(hdrs), "%s/headers.txt", b.state);
    unsigned char data[4096];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char)(i * 7 + 3);
    }
    FILE *f = fopen(in, "wb");
    fwrite(data, 1, sizeof(data), f);
    fclose(f);
    char at[610];
    snprintf(at, sizeof(at), "@%s", in);
    const char *argv[] = {"/usr/bin/curl",
                          "-sS",
                          "-X",
                          "POST",
                          "-H",
                          "Content-Type: application/octet-stream",
                          "-H",
                          "X-Test: from-curl",
                          "--data-binary",
                          at,
                          "-D",
                          hdrs,
                          "-o",
                          out,
                          url,
                          NULL};
    char *o = NULL, *err = NULL;
    int rc = lt_run(&b, argv, &o, &err);
    cr_assert_eq(rc, 0, "curl %s: exit %d: %s", url, rc, err);
    free(o);
    free(err);
    f = fopen(out, "rb");
    cr_assert_not_null(f);
    unsigned char back[8192];
    size_t n = fread(back, 1, sizeof(back), f);
    fclose(f);
    cr_assert_eq(n, sizeof(data));
    cr_assert_eq(memcmp(back, data, n), 0, "the body changed on its way");
    f = fopen(hdrs, "r");
    char h[4096];
    size_t hn = fread(h, 1, sizeof(h) - 1, f);
    fclose(f);
    h[hn] = '\0';
    cr_assert_not_null(strstr(h, "x-method: POST"), "%s", h);
    cr_assert_not_null(strstr(h, "x-path: /p/q"), "%s", h);
    cr_assert_not_null(strstr(h, "x-q: curl"), "%s", h);
    cr_assert_not_null(strstr(h, "x-h: from-curl"), "%s", h);
}
