/*
 * Integration: the function registry through the admin calls — create, get,
 * list, delete, validation, persistence across restarts, content-addressed
 * code that later edits of the user's file do not change.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static lt_broker b;

static void up(void)
{
    lt_broker_start(&b, NULL);
}
static void down(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(admin, .init = up, .fini = down, .timeout = 60);

static cJSON *call(const char *op, const char *args, int want)
{
    char *reply = NULL;
    lm_error e;
    int rc = lm_call(b.client, op, args, NULL, 0, &reply, &e);
    cr_assert_eq(rc, want, "%s %s: got %d (%s: %s)", op, args, rc, e.type, e.message);
    cJSON *j = reply != NULL ? cJSON_Parse(reply) : NULL;
    free(reply);
    return j;
}

static int create_with(const char *args, const void *code, size_t len, lm_error *e)
{
    char *reply = NULL;
    int rc = lm_call(b.client, "create", args, code, len, &reply, e);
    free(reply);
    return rc;
}

Test(admin, create_then_get_shows_the_configuration_with_lambda_field_names)
{
    lt_create(&b, "hello", "echo",
              "\"Timeout\":30,\"MemorySize\":512,\"Description\":\"greets\","
              "\"Environment\":{\"Variables\":{\"AA\":\"1\",\"B_2\":\"two\"}}");
    cJSON *j = call("get", "{\"FunctionName\":\"hello\"}", LM_OK);
    cJSON *c = cJSON_GetObjectItem(j, "Configuration");
    cr_assert_str_eq(cJSON_GetObjectItem(c, "FunctionName")->valuestring, "hello");
    cr_assert_str_eq(cJSON_GetObjectItem(c, "Version")->valuestring, "$LATEST");
    cr_assert_eq(cJSON_GetObjectItem(c, "Timeout")->valueint, 30);
    cr_assert_eq(cJSON_GetObjectItem(c, "MemorySize")->valueint, 512);
    cr_assert_str_eq(cJSON_GetObjectItem(c, "Description")->valuestring, "greets");
    cJSON *vars = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "Environment"), "Variables");
    cr_assert_str_eq(cJSON_GetObjectItem(vars, "B_2")->valuestring, "two");
    /* the code hash is the SHA-256 of the handler file */
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    cr_assert_eq(lm_read_file(lt_handler("echo"), &code, &len, &e), LM_OK);
    cr_assert_eq(cJSON_GetObjectItem(c, "CodeSize")->valuedouble, (double)len);
    const char *sha = cJSON_GetObjectItem(c, "CodeSha256")->valuestring;
    cr_assert_eq(strlen(sha), 64);
    char blob[1200];
    snprintf(blob, sizeof(blob), "%s/code/%s.so", b.state, sha);
    struct stat st;
    cr_assert_eq(stat(blob, &st), 0, "code blob stored at %s", blob);
    cr_assert_eq((size_t)st.st_size, len);
    free(code);
    cJSON_Delete(j);
}

Test(admin, defaults_are_3_seconds_and_128_MB)
{
    lt_create(&b, "d", "echo", NULL);
    cJSON *j = call("get", "{\"FunctionName\":\"d\"}", LM_OK);
    cJSON *c = cJSON_GetObjectItem(j, "Configuration");
    cr_assert_eq(cJSON_GetObjectItem(c, "Timeout")->valueint, 3);
    cr_assert_eq(cJSON_GetObjectItem(c, "MemorySize")->valueint, 128);
    cJSON_Delete(j);
}

Test(admin, list_shows_every_function)
{
    lt_create(&b, "one", "echo", NULL);
    lt_create(&b, "two", "echo", NULL);
    cJSON *j = call("list", NULL, LM_OK);
    cJSON *fns = cJSON_GetObjectItem(j, "Functions");
    cr_assert_eq(cJSON_GetArraySize(fns), 2);
    int seen = 0;
    cJSON *f;
    cJSON_ArrayForEach(f, fns)
    {
        const char *n = cJSON_GetObjectItem(f, "FunctionName")->valuestring;
        seen += strcmp(n, "one") == 0 || strcmp(n, "two") == 0;
    }
    cr_assert_eq(seen, 2);
    cJSON_Delete(j);
}

Test(admin, creating_an_existing_function_is_409)
{
    lt_create(&b, "dup", "echo", NULL);
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    lm_read_file(lt_handler("echo"), &code, &len, &e);
    cr_assert_eq(create_with("{\"FunctionName\":\"dup\"}", code, len, &e), LM_E_CONFLICT);
    cr_assert_eq(e.status, 409);
    cr_assert_str_eq(e.type, "ResourceConflictException");
    free(code);
}

Test(admin, invalid_settings_are_400_naming_the_field)
{
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    lm_read_file(lt_handler("echo"), &code, &len, &e);
    struct {
        const char *args;
        const char *field;
    } cases[] = {
        {"{\"FunctionName\":\"t\",\"Timeout\":0}", "Timeout"},
        {"{\"FunctionName\":\"t\",\"Timeout\":901}", "Timeout"},
        {"{\"FunctionName\":\"t\",\"MemorySize\":127}", "MemorySize"},
        {"{\"FunctionName\":\"t\",\"MemorySize\":10241}", "MemorySize"},
        {"{\"FunctionName\":\"t\",\"Timeout\":\"10\"}", "Timeout"},
        {"{\"FunctionName\":\"has space\"}", "FunctionName"},
        {"{\"FunctionName\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
         "FunctionName"},
        {"{}", "FunctionName"},
        {"{\"FunctionName\":\"t\",\"Environment\":{\"Variables\":{\"1X\":\"v\"}}}", "Environment"},
        {"{\"FunctionName\":\"t\",\"Environment\":{\"Variables\":{\"LAMINA_TOKEN\":\"v\"}}}",
         "Environment"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = create_with(cases[i].args, code, len, &e);
        cr_assert_eq(rc, LM_E_INVALID_PARAMETER, "%s: got %d", cases[i].args, rc);
        cr_assert_str_eq(e.type, "InvalidParameterValueException");
        cr_assert_not_null(strstr(e.message, cases[i].field), "'%s' names %s", e.message,
                           cases[i].field);
    }
    cr_assert_eq(create_with("{\"FunctionName\":\"t\"}", "not an elf", 10, &e),
                 LM_E_INVALID_PARAMETER);
    cr_assert_not_null(strstr(e.message, "ELF"));
    cr_assert_eq(create_with("{\"FunctionName\":\"t\"}", NULL, 0, &e), LM_E_INVALID_PARAMETER);
    cr_assert_not_null(strstr(e.message, "Code"));
    free(code);
    cJSON *j = call("list", NULL, LM_OK);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "Functions")), 0, "nothing created");
    cJSON_Delete(j);
}

Test(admin, delete_removes_the_function_and_its_unreferenced_code)
{
    lt_create(&b, "gone", "ctx", NULL);
    cJSON *j = call("get", "{\"FunctionName\":\"gone\"}", LM_OK);
    char blob[1200];
    snprintf(
        blob, sizeof(blob), "%s/code/%s.so", b.state,
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Configuration"), "CodeSha256")->valuestring);
    cJSON_Delete(j);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "gone", "{}", &r, &e), LM_OK);
    lm_invoke_result_finish(&r);
    cJSON_Delete(call("delete", "{\"FunctionName\":\"gone\"}", LM_OK));
    cr_assert_neq(access(blob, F_OK), 0, "blob removed");
    cJSON_Delete(call("get", "{\"FunctionName\":\"gone\"}", LM_E_NOT_FOUND));
    cJSON_Delete(call("delete", "{\"FunctionName\":\"gone\"}", LM_E_NOT_FOUND));
    cr_assert_eq(lt_invoke(&b, "gone", "{}", &r, &e), LM_E_NOT_FOUND);
}

Test(admin, deployed_code_does_not_change_when_the_users_file_does)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/../my-handler.so", b.state);
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    cr_assert_eq(lm_read_file(lt_handler("echo"), &code, &len, &e), LM_OK);
    FILE *f = fopen(path, "wb");
    fwrite(code, 1, len, f);
    fclose(f);
    free(code);
    cr_assert_eq(lm_read_file(path, &code, &len, &e), LM_OK);
    cr_assert_eq(create_with("{\"FunctionName\":\"mine\"}", code, len, &e), LM_OK);
    free(code);
    /* overwrite the user's file with another handler */
    cr_assert_eq(lm_read_file(lt_handler("error"), &code, &len, &e), LM_OK);
    f = fopen(path, "wb");
    fwrite(code, 1, len, f);
    fclose(f);
    free(code);
    lm_invoke_result r;
    cr_assert_eq(lt_invoke(&b, "mine", "{\"x\":1}", &r, &e), LM_OK);
    cr_assert_str_eq(r.function_error, "");
    cr_assert_str_eq(r.payload, "{\"x\":1}");
    lm_invoke_result_finish(&r);
}

Test(admin, functions_survive_a_broker_restart)
{
    lt_create(&b, "keep", "echo", "\"Timeout\":9");
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, b.state, NULL);
    cJSON *j = call("get", "{\"FunctionName\":\"keep\"}", LM_OK);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Configuration"), "Timeout")->valueint,
                 9);
    cJSON_Delete(j);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "keep", "[1]", &r, &e), LM_OK);
    cr_assert_str_eq(r.payload, "[1]");
    lm_invoke_result_finish(&r);
}

Test(admin, functions_survive_kill_9)
{
    lt_create(&b, "sturdy", "echo", NULL);
    lt_broker_kill(&b);
    lt_broker_start_in(&b, b.state, NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "sturdy", "{}", &r, &e), LM_OK);
    lm_invoke_result_finish(&r);
}

Test(admin, state_dir_is_private_and_holds_the_sockets_and_store)
{
    struct stat st;
    cr_assert_eq(stat(b.state, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    const char *names[] = {"api.sock", "work.sock", "logs.sock", "lamina.db"};
    for (size_t i = 0; i < 4; i++) {
        char p[1200];
        snprintf(p, sizeof(p), "%s/%s", b.state, names[i]);
        cr_assert_eq(stat(p, &st), 0, "%s exists", names[i]);
    }
}

Test(admin, status_reports_version_uptime_functions_and_workers)
{
    lt_create(&b, "s", "echo", NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "s", "{}", &r, &e), LM_OK);
    lm_invoke_result_finish(&r);
    cJSON *j = call("status", NULL, LM_OK);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "Version")->valuestring, "0.1.0");
    cr_assert(cJSON_GetObjectItem(j, "UptimeSeconds")->valuedouble > 0);
    cr_assert_eq(cJSON_GetObjectItem(j, "Functions")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Workers"), "Total")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(j, "Invocations")->valueint, 1);
    cJSON_Delete(j);
    cJSON_Delete(call("frobnicate", NULL, LM_E_UNKNOWN_OP));
}

static bool no_workers(void *arg)
{
    (void)arg;
    cJSON *j = call("status", NULL, LM_OK);
    int n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Workers"), "Total")->valueint;
    cJSON_Delete(j);
    return n == 0;
}

Test(admin_idle, idle_workers_are_reaped_after_the_idle_timeout, .timeout = 30)
{
    const char *args[] = {"--idle-timeout", "0.3", NULL};
    lt_broker_start(&b, args);
    lt_create(&b, "idle", "echo", NULL);
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "idle", "{}", &r, &e), LM_OK);
    lm_invoke_result_finish(&r);
    cr_assert(lt_wait_until(no_workers, NULL, 10000), "the idle worker was reaped");
    cr_assert_eq(lt_invoke(&b, "idle", "{}", &r, &e), LM_OK);
    cr_assert(r.init_duration_ms > 0, "the next invoke is a cold start");
    lm_invoke_result_finish(&r);
    lt_broker_stop(&b, false);
}
