/*
 * Integration: function errors and invocation errors, with Lambda's
 * observable shapes — handled errors, timeouts, crashes, invalid or
 * oversized payloads in and out, init and entry-point failures — and that a
 * crash in one function leaves another unaffected.  Also the text rule for
 * what clients send, over a raw api socket: a NUL or ill-formed UTF-8 in any
 * string of any operation is 400 naming the field (never a name cut short),
 * payloads that are not JSON text are 400 InvalidRequestContentException
 * (sync and async), and names follow Lambda's patterns.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "proto.h"

static lt_broker b;

static void up(void)
{
    const char *args[] = {"--init-timeout", "1", NULL};
    lt_broker_start(&b, args);
}
static void down(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(errors, .init = up, .fini = down, .timeout = 60);

/* Invoke and check a function error: FunctionError kind, errorType and a
 * substring of errorMessage. */
static void expect_function_error(const char *fn, const char *event, const char *kind,
                                  const char *type, const char *msg_part)
{
    lm_invoke_result r;
    lm_error e;
    int rc = lt_invoke(&b, fn, event, &r, &e);
    cr_assert_eq(rc, LM_OK, "%s: invoke failed: %s", fn, e.message);
    cr_assert_eq(r.status, 200, "function errors are still status 200");
    cr_assert_str_eq(r.function_error, kind, "%s: payload %s", fn, r.payload);
    cJSON *j = cJSON_ParseWithLength(r.payload, r.payload_len);
    cr_assert_not_null(j, "error payload is JSON: %s", r.payload);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "errorType")->valuestring, type, "%s", r.payload);
    const char *m = cJSON_GetObjectItem(j, "errorMessage")->valuestring;
    cr_assert_not_null(strstr(m, msg_part), "errorMessage '%s' mentions '%s'", m, msg_part);
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
}

static void expect_invocation_error(const char *fn, const char *event, int code, int status,
                                    const char *type, const char *msg_part)
{
    lm_invoke_result r;
    lm_error e;
    int rc = lt_invoke(&b, fn, event, &r, &e);
    cr_assert_eq(rc, code, "%s: expected %s, got %d (%s)", fn, type, rc, e.message);
    cr_assert_eq(e.status, status);
    cr_assert_str_eq(e.type, type);
    cr_assert_not_null(strstr(e.message, msg_part), "message '%s' mentions '%s'", e.message,
                       msg_part);
}

static void expect_echo_ok(void)
{
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "echo", "{\"still\":\"here\"}", &r, &e), LM_OK);
    cr_assert_str_eq(r.function_error, "");
    cr_assert_str_eq(r.payload, "{\"still\":\"here\"}");
    lm_invoke_result_finish(&r);
}

Test(errors, lm_response_error_is_a_handled_error_with_type_and_message)
{
    lt_create(&b, "err", "error", NULL);
    expect_function_error("err", "{}", "Handled", "OrderRejected", "cannot be filled");
}

Test(errors, a_nonzero_return_is_a_handled_error)
{
    lt_create(&b, "nz", "nonzero", NULL);
    expect_function_error("nz", "{}", "Handled", "HandlerError", "returned 7");
}

Test(errors, timeout_kills_the_worker_and_the_next_invoke_gets_a_fresh_one)
{
    lt_create(&b, "slow", "counter", "\"Timeout\":1");
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "slow", "{}", &r, &e), LM_OK);
    cJSON *j = cJSON_ParseWithLength(r.payload, r.payload_len);
    int pid = cJSON_GetObjectItem(j, "pid")->valueint;
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
    expect_function_error("slow", "{\"ms\":3000}", "Unhandled", "Sandbox.Timedout",
                          "Task timed out after 1.00 seconds");
    cr_assert_eq(lt_invoke(&b, "slow", "{}", &r, &e), LM_OK);
    j = cJSON_ParseWithLength(r.payload, r.payload_len);
    cr_assert_neq(cJSON_GetObjectItem(j, "pid")->valueint, pid,
                  "the timed-out worker was replaced");
    cr_assert_eq(cJSON_GetObjectItem(j, "count")->valueint, 1, "a fresh environment");
    cJSON_Delete(j);
    lm_invoke_result_finish(&r);
}

Test(errors, segfault_is_runtime_exit_error_naming_the_signal)
{
    lt_create(&b, "segv", "segv", NULL);
    expect_function_error("segv", "{}", "Unhandled", "Runtime.ExitError",
                          "signal: segmentation fault");
}

Test(errors, abort_is_runtime_exit_error_naming_the_signal)
{
    lt_create(&b, "abrt", "abort", NULL);
    expect_function_error("abrt", "{}", "Unhandled", "Runtime.ExitError", "signal: aborted");
}

Test(errors, exit_3_is_runtime_exit_error_naming_the_status)
{
    lt_create(&b, "ex", "exit3", NULL);
    expect_function_error("ex", "{}", "Unhandled", "Runtime.ExitError", "exit status 3");
    /* and the crash log reaches the tail */
    lm_invoke_params p = {.function = "ex", .log_tail = 1};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK);
    cr_assert_not_null(r.log_result);
    lm_invoke_result_finish(&r);
}

Test(errors, invalid_json_response_is_runtime_invalid_response)
{
    lt_create(&b, "bad", "badjson", NULL);
    expect_function_error("bad", "{}", "Unhandled", "Runtime.InvalidResponse", "not valid JSON");
}

Test(errors, oversized_response_is_function_response_size_too_large)
{
    lt_create(&b, "big", "bigout", NULL);
    expect_function_error("big", "{\"bytes\":6292556}", "Unhandled",
                          "Function.ResponseSizeTooLarge",
                          "(6292556 bytes) exceeded maximum "
                          "allowed payload size (6291556 bytes)");
}

Test(errors, a_response_just_under_the_cap_is_returned_whole)
{
    lt_create(&b, "big", "bigout", NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "big", "{\"bytes\":6291556}", &r, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(r.function_error, "");
    cr_assert_eq(r.payload_len, 6291556);
    lm_invoke_result_finish(&r);
}

Test(errors, payload_that_is_not_json_is_400_invalid_request_content)
{
    lt_create(&b, "echo", "echo", NULL);
    expect_invocation_error("echo", "{\"a\":", LM_E_INVALID_CONTENT, 400,
                            "InvalidRequestContentException", "Could not parse request body");
    expect_invocation_error("echo", "{} trailing", LM_E_INVALID_CONTENT, 400,
                            "InvalidRequestContentException", "json");
    expect_echo_ok();
}

Test(errors, payload_over_6MB_is_413_and_never_reaches_a_worker)
{
    lt_create(&b, "counter", "counter", NULL);
    size_t n = 6291456 + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '"';
    big[n - 1] = '"';
    big[n] = '\0';
    expect_invocation_error("counter", big, LM_E_TOO_LARGE, 413, "RequestEntityTooLargeException",
                            "Request must be smaller than 6291456 bytes");
    free(big);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "counter", "{}", &r, &e), LM_OK);
    cr_assert(r.init_duration_ms > 0, "no environment had been started by the rejected invoke");
    lm_invoke_result_finish(&r);
}

Test(errors, unknown_function_is_404)
{
    expect_invocation_error("nope", "{}", LM_E_NOT_FOUND, 404, "ResourceNotFoundException",
                            "Function not found: function:nope");
    expect_invocation_error("function:nope:$LATEST", "{}", LM_E_NOT_FOUND, 404,
                            "ResourceNotFoundException", "nope");
}

Test(errors, bad_parameters_are_400_invalid_parameter_value)
{
    expect_invocation_error("bad name!", "{}", LM_E_INVALID_PARAMETER, 400,
                            "InvalidParameterValueException", "FunctionName");
    expect_invocation_error("echo:bad/qualifier", "{}", LM_E_INVALID_PARAMETER, 400,
                            "InvalidParameterValueException", "Qualifier");
    lm_invoke_params p = {.function = "echo", .type = (lm_invocation_type)9};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_E_INVALID_PARAMETER);
    cr_assert_not_null(strstr(e.message, "InvocationType"));
}

Test(errors, failing_init_is_runtime_init_error)
{
    lt_create(&b, "init", "initfail", NULL);
    expect_function_error("init", "{}", "Unhandled", "Runtime.InitError", "returned 5");
}

Test(errors, slow_init_times_out)
{
    lt_create(&b, "slowinit", "slowinit", NULL);
    expect_function_error("slowinit", "{}", "Unhandled", "Sandbox.Timedout", "Init timed out");
}

Test(errors, missing_abi_stamp_is_invalid_entrypoint_naming_the_problem)
{
    lt_create(&b, "noabi", "noabi", NULL);
    expect_function_error("noabi", "{}", "Unhandled", "Runtime.InvalidEntrypoint",
                          "no Lamina ABI stamp");
}

Test(errors, wrong_abi_version_is_invalid_entrypoint_naming_both_versions)
{
    lt_create(&b, "badabi", "badabi", NULL);
    expect_function_error("badabi", "{}", "Unhandled", "Runtime.InvalidEntrypoint",
                          "ABI version 999, this runtime supports version 1");
}

Test(errors, a_crash_in_one_function_leaves_another_unaffected)
{
    lt_create(&b, "echo", "echo", NULL);
    lt_create(&b, "segv", "segv", NULL);
    expect_echo_ok();
    for (int i = 0; i < 3; i++) {
        expect_function_error("segv", "{}", "Unhandled", "Runtime.ExitError", "segmentation");
        expect_echo_ok();
    }
}

Test(errors, a_timed_out_invocation_reports_its_real_peak_memory)
{
    lt_create(&b, "slow", "sleep", "\"Timeout\":1");
    lm_invoke_params p = {
        .function = "slow", .payload = "{\"ms\":3000}", .payload_len = 11, .log_tail = 1};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(r.function_error, "Unhandled");
    char *log = lt_unbase64(r.log_result, NULL);
    const char *m = strstr(log, "Max Memory Used: ");
    cr_assert_not_null(m, "%s", log);
    cr_assert(atoi(m + strlen("Max Memory Used: ")) > 0, "peak read before the kill: %s", log);
    cr_assert_not_null(strstr(log, "Task timed out after 1.00 seconds\tSandbox.Timedout"), "%s",
                       log);
    free(log);
    lm_invoke_result_finish(&r);
}

/* ---- strings from clients (proto/text.c, proto/names.c) ---- */

/* A raw req socket on the api socket (no redial once dropped: see
 * test_robust.c). */
static nng_socket raw_api(void)
{
    nng_socket s;
    char url[1200];
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 3600000);
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 3600000);
    snprintf(url, sizeof(url), "ipc://%s/api.sock", b.state);
    cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
    return s;
}

/* Pack s with every '~' replaced by bad[0..badlen). */
static void pack_marked_str(proto_writer *w, const char *s, const char *bad, size_t badlen)
{
    char buf[512];
    size_t n = 0;
    for (; *s != '\0' && n + badlen < sizeof(buf); s++) {
        if (*s == '~') {
            memcpy(buf + n, bad, badlen);
            n += badlen;
        } else {
            buf[n++] = *s;
        }
    }
    pw_strn(w, buf, n);
}

static void pack_marked(proto_writer *w, const cJSON *j, const char *bad, size_t badlen)
{
    if (cJSON_IsString(j)) {
        pack_marked_str(w, j->valuestring, bad, badlen);
    } else if (cJSON_IsNumber(j)) {
        pw_int(w, (int64_t)j->valuedouble);
    } else if (cJSON_IsBool(j)) {
        pw_bool(w, cJSON_IsTrue(j));
    } else if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
        if (cJSON_IsObject(j)) {
            pw_map(w, (uint32_t)cJSON_GetArraySize(j));
        } else {
            pw_array(w, (uint32_t)cJSON_GetArraySize(j));
        }
        for (const cJSON *c = j->child; c != NULL; c = c->next) {
            if (cJSON_IsObject(j)) {
                pack_marked_str(w, c->string, bad, badlen);
            }
            pack_marked(w, c, bad, badlen);
        }
    } else {
        pw_nil(w);
    }
}

/* Send {"v":1,"op":op, ...fields} (fields: a JSON object whose strings
 * have '~' replaced by bad) on s; returns the reply's code (LM_OK for an
 * "ok" or "result" reply), the error in *e. */
static int send_marked(nng_socket s, const char *op, const char *fields, const char *bad,
                       size_t badlen, lm_error *e)
{
    cJSON *f = cJSON_Parse(fields);
    cr_assert_not_null(f, "%s", fields);
    nng_msg *m = NULL;
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer w;
    proto_writer_init(&w, m);
    pw_map(&w, 2 + (uint32_t)cJSON_GetArraySize(f));
    pw_key(&w, "v");
    pw_int(&w, PROTO_VERSION);
    pw_key(&w, "op");
    pack_marked_str(&w, op, bad, badlen);
    for (const cJSON *c = f->child; c != NULL; c = c->next) {
        pack_marked_str(&w, c->string, bad, badlen);
        pack_marked(&w, c, bad, badlen);
    }
    cJSON_Delete(f);
    cr_assert_eq(nng_sendmsg(s, m, 0), 0);
    nng_msg *rep = NULL;
    int rv = nng_recvmsg(s, &rep, 0);
    cr_assert_eq(rv, 0, "the broker answers (%s)", nng_strerror(rv));
    proto_doc doc;
    cr_assert_eq(proto_decode_request(nng_msg_body(rep), nng_msg_len(rep), &doc, e), LM_OK,
                 "replies are text too: %s", e->message);
    const char *rop = NULL;
    size_t rl = 0;
    proto_get_str(doc.root, "op", true, &rop, &rl, e);
    int code = rl == 5 && memcmp(rop, "error", 5) == 0 ? proto_read_error(doc.root, e) : LM_OK;
    proto_doc_finish(&doc);
    nng_msg_free(rep);
    return code;
}

static void expect_echo_exists(void)
{
    char *reply = NULL;
    lm_error e;
    cr_assert_eq(lm_call(b.client, "get", "{\"FunctionName\":\"echo\"}", NULL, 0, &reply, &e),
                 LM_OK, "echo is still there: %s", e.message);
    free(reply);
    expect_echo_ok();
}

Test(errors, a_name_with_a_nul_is_400_and_never_acts_on_the_name_before_it)
{
    lt_create(&b, "echo", "echo", NULL);
    nng_socket s = raw_api();
    lm_error e;
    const char *ops[][2] = {
        {"delete", "{\"args\":{\"FunctionName\":\"echo~zzz\"}}"},
        {"get", "{\"args\":{\"FunctionName\":\"echo~zzz\"}}"},
        {"invoke", "{\"fn\":\"echo~zzz\"}"},
        {"retire-workers", "{\"args\":{\"FunctionName\":\"echo~zzz\"}}"},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        int code = send_marked(s, ops[i][0], ops[i][1], "\0", 1, &e);
        cr_assert_eq(code, LM_E_INVALID_PARAMETER, "%s: %s", ops[i][0], e.message);
        cr_assert_eq(e.status, 400);
        cr_assert_str_eq(e.type, "InvalidParameterValueException");
        cr_assert_not_null(strstr(e.message, "FunctionName is not valid text"), "%s: %s", ops[i][0],
                           e.message);
        cr_assert_not_null(strstr(e.message, "NUL"), "%s", e.message);
        expect_echo_exists();
    }
    nng_close(s);
    /* the same through lm_call's JSON: cJSON would cut "echo\u0000zzz" to "echo" */
    char *reply = NULL;
    cr_assert_eq(
        lm_call(b.client, "delete", "{\"FunctionName\":\"echo\\u0000zzz\"}", NULL, 0, &reply, &e),
        LM_E_INVALID_PARAMETER);
    cr_assert_null(reply);
    expect_echo_exists();
}

Test(errors, every_string_field_of_every_op_refuses_nul_and_ill_formed_utf8)
{
    lt_create(&b, "echo", "echo", NULL);
    struct {
        const char *op, *fields, *field;
    } cases[] = {
        {"create~", "{\"args\":{}}", "op"},
        {"create", "{\"args\":{\"FunctionName\":\"x~\"}}", "FunctionName"},
        {"create", "{\"args\":{\"FunctionName\":\"x\",\"Description\":\"d~\"}}", "Description"},
        {"create",
         "{\"args\":{\"FunctionName\":\"x\",\"Environment\":{\"Variables\":{\"K~\":\"v\"}}}}",
         "a key in Environment.Variables"},
        {"create",
         "{\"args\":{\"FunctionName\":\"x\",\"Environment\":{\"Variables\":{\"K\":\"v~\"}}}}",
         "Environment.Variables.K"},
        {"create",
         "{\"args\":{\"FunctionName\":\"x\",\"DeadLetterConfig\":{\"TargetArn\":\"a~\"}}}",
         "DeadLetterConfig.TargetArn"},
        {"update-config", "{\"args\":{\"FunctionName\":\"echo\",\"Description\":\"~\"}}",
         "Description"},
        {"update-code", "{\"args\":{\"FunctionName\":\"echo\",\"RevisionId\":\"r~\"}}",
         "RevisionId"},
        {"publish", "{\"args\":{\"FunctionName\":\"echo\",\"CodeSha256\":\"ab~\"}}", "CodeSha256"},
        {"publish", "{\"args\":{\"FunctionName\":\"echo\",\"Description\":\"~\"}}", "Description"},
        {"versions", "{\"args\":{\"FunctionName\":\"echo\",\"Qualifier\":\"1~\"}}", "Qualifier"},
        {"alias-create", "{\"args\":{\"FunctionName\":\"echo\",\"Name\":\"live~\"}}", "Name"},
        {"alias-create",
         "{\"args\":{\"FunctionName\":\"echo\",\"Name\":\"live\",\"FunctionVersion\":\"1~\"}}",
         "FunctionVersion"},
        {"alias-update",
         "{\"args\":{\"FunctionName\":\"echo\",\"Name\":\"live\",\"RoutingConfig\":"
         "{\"AdditionalVersionWeights\":{\"1~\":0}}}}",
         "a key in RoutingConfig.AdditionalVersionWeights"},
        {"event-config-put",
         "{\"args\":{\"FunctionName\":\"echo\",\"DestinationConfig\":{\"OnSuccess\":"
         "{\"Destination\":\"echo~\"}}}}",
         "DestinationConfig.OnSuccess.Destination"},
        {"event-wait", "{\"args\":{\"RequestId\":\"0000~\"}}", "RequestId"},
        {"invoke", "{\"fn\":\"echo\",\"q\":\"$LATEST~\"}", "Qualifier"},
        {"invoke", "{\"fn\":\"echo\",\"cc\":\"{}~\"}", "ClientContext"},
        {"invoke", "{\"fn\":\"echo\",\"type\":1,\"ikey\":\"k~\"}", "IdempotencyKey"},
    };
    struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        {"\0", 1, "NUL"},
        {"\xc0\x80", 2, "overlong"},
        {"\xed\xa0\x80", 3, "surrogate"},
        {"\xff", 1, "never appears in UTF-8"},
        {"\xe2\x82", 2, "truncated"},
    };
    nng_socket s = raw_api();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            lm_error e;
            char want[128];
            int code = send_marked(s, cases[i].op, cases[i].fields, bad[k].bytes, bad[k].len, &e);
            cr_assert_eq(code, LM_E_INVALID_PARAMETER, "%s %s (%s): %d %s", cases[i].op,
                         cases[i].field, bad[k].why, code, e.message);
            cr_assert_str_eq(e.type, "InvalidParameterValueException");
            snprintf(want, sizeof(want), "%s is not valid text", cases[i].field);
            cr_assert_not_null(strstr(e.message, want), "%s: '%s' names %s", cases[i].op, e.message,
                               cases[i].field);
            cr_assert_not_null(strstr(e.message, bad[k].why), "%s", e.message);
        }
    }
    nng_close(s);
    expect_echo_exists();
}

Test(errors, a_payload_that_is_not_json_text_is_400_invalid_request_content_sync_and_async)
{
    lt_create(&b, "echo", "echo", NULL);
    struct {
        const char *p;
        size_t n;
        const char *why;
    } bad[] = {
        {"{\"a\":\"x\0y\"}", 11, "a NUL byte"},
        {"{\"a\":\"\xff\"}", 9, "never appears in UTF-8"},
        {"{\"a\":\"\xc0\xaf\"}", 10, "overlong"},
        {"{\"a\":\"\xed\xa0\x80\"}", 11, "surrogate"},
        {"{\"a\":\"x\ny\"}", 11, "raw control character"},
        {"{}\0", 3, "a NUL byte"},
    };
    lm_invocation_type types[] = {LM_INVOKE_REQUEST_RESPONSE, LM_INVOKE_EVENT};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            lm_invoke_params p = {
                .function = "echo", .type = types[t], .payload = bad[i].p, .payload_len = bad[i].n};
            lm_invoke_result r;
            lm_error e;
            int rc = lm_invoke(b.client, &p, &r, &e);
            cr_assert_eq(rc, LM_E_INVALID_CONTENT, "type %zu case %zu: %d %s", t, i, rc, e.message);
            cr_assert_eq(e.status, 400);
            cr_assert_str_eq(e.type, "InvalidRequestContentException");
            cr_assert_not_null(strstr(e.message, "Could not parse request body into json"), "%s",
                               e.message);
            cr_assert_not_null(strstr(e.message, bad[i].why), "%s", e.message);
        }
    }
    /* an escaped NUL is valid JSON: it reaches the handler byte for byte */
    const char *ok = "{\"a\":\"x\\u0000y\",\"b\":\"caf\xc3\xa9\"}";
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "echo", ok, &r, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r.payload_len, strlen(ok));
    cr_assert_eq(memcmp(r.payload, ok, strlen(ok)), 0, "%s", r.payload);
    lm_invoke_result_finish(&r);
    lm_invoke_params p = {
        .function = "echo", .type = LM_INVOKE_EVENT, .payload = ok, .payload_len = strlen(ok)};
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r.status, 202);
    lm_invoke_result_finish(&r);
}

Test(errors, function_names_and_arns_follow_lambdas_pattern)
{
    lt_create(&b, "echo", "echo", NULL);
    const char *ok[] = {"arn:aws:lambda:us-east-1:123456789012:function:echo",
                        "123456789012:function:echo:$LATEST", "function:echo"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        lm_invoke_result r;
        lm_error e;
        cr_assert_eq(lt_invoke(&b, ok[i], "{}", &r, &e), LM_OK, "%s: %s", ok[i], e.message);
        lm_invoke_result_finish(&r);
    }
    expect_invocation_error("junk:function:echo", "{}", LM_E_INVALID_PARAMETER, 400,
                            "InvalidParameterValueException", "FunctionName 'junk:function:echo'");
    expect_invocation_error("arn:aws:sqs:us-east-1:123456789012:q", "{}", LM_E_INVALID_PARAMETER,
                            400, "InvalidParameterValueException", "not a function ARN");
    expect_invocation_error("echo\tx", "{}", LM_E_INVALID_PARAMETER, 400,
                            "InvalidParameterValueException", "echo\\x09x");
}

Test(errors, reserved_environment_keys_are_400)
{
    const char *keys[] = {"LD_PRELOAD", "LD_LIBRARY_PATH", "GCONV_PATH", "AWS_LAMBDA_FUNCTION_NAME",
                          "PATH",       "LAMINA_CODE"};
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    cr_assert_eq(lm_read_file(lt_handler("env"), &code, &len, &e), LM_OK);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char args[256];
        snprintf(args, sizeof(args),
                 "{\"FunctionName\":\"envy\",\"Environment\":{\"Variables\":{\"%s\":\"/x\"}}}",
                 keys[i]);
        cr_assert_eq(lm_call(b.client, "create", args, code, len, NULL, &e), LM_E_INVALID_PARAMETER,
                     "%s", keys[i]);
        cr_assert_not_null(strstr(e.message, keys[i]), "%s", e.message);
        cr_assert_not_null(strstr(e.message, "reserved"), "%s", e.message);
    }
    free(code);
}
