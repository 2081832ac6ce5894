/*
 * Integration: function errors and invocation errors, with Lambda's
 * observable shapes — handled errors, timeouts, crashes, invalid or
 * oversized payloads in and out, init and entry-point failures — and that a
 * crash in one function leaves another unaffected.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

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
