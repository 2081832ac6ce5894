/*
 * Integration: versions, aliases and function configuration (issue #4) —
 * $LATEST updates, immutable published versions, numbering that never
 * reuses a number, idempotent publish, the CodeSha256 guard, aliases with
 * weighted routing, qualifiers, deletion rules, and durability across a
 * restart and a kill -9 in the middle of a stream of publishes.
 *
 * Handlers: version_a / version_b return {"build":"a"|"b"}, so a test can
 * tell which code ran; env returns an environment variable.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "old_stores.h"

static lt_broker b;

static void up(void)
{
    lt_broker_start(&b, NULL);
}
static void down(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(versions, .init = up, .fini = down, .timeout = 120);

/* ---- helpers ---- */

/* lm_call with printf-formatted JSON args on client c; *out (if non-NULL)
 * gets the parsed reply.  Returns the lm_err code; *e filled on error. */
static int callc(lm_client *c, cJSON **out, lm_error *e, const char *op, const char *code_handler,
                 const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    void *code = NULL;
    size_t len = 0;
    if (code_handler != NULL) {
        cr_assert_eq(lm_read_file(lt_handler(code_handler), &code, &len, e), LM_OK);
    }
    char *reply = NULL;
    int rc = lm_call(c, op, args, code, len, &reply, e);
    free(code);
    if (out != NULL) {
        *out = rc == LM_OK ? cJSON_Parse(reply) : NULL;
        cr_assert(rc != LM_OK || *out != NULL, "%s reply is not JSON", op);
    }
    free(reply);
    return rc;
}

/* The same, asserting success; returns the reply (caller deletes). */
#define OK_CALL(op, handler, ...)                                               \
    ({                                                                          \
        cJSON *r_ = NULL;                                                       \
        lm_error e_;                                                            \
        int rc_ = callc(b.client, &r_, &e_, op, handler, __VA_ARGS__);          \
        cr_assert_eq(rc_, LM_OK, "%s failed: %s: %s", op, e_.type, e_.message); \
        r_;                                                                     \
    })

static const char *sval(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    cr_assert_not_null(s, "missing string field %s", key);
    return s;
}

static double nval(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "missing number field %s", key);
    return v->valuedouble;
}

static char *publish(const char *name)
{
    cJSON *r = OK_CALL("publish", NULL, "{\"FunctionName\":\"%s\"}", name);
    char *v = strdup(sval(r, "Version"));
    cJSON_Delete(r);
    return v;
}

static void publish_expect(const char *name, const char *want)
{
    char *v = publish(name);
    cr_assert_str_eq(v, want, "publish %s gave version %s, expected %s", name, v, want);
    free(v);
}

/* Invoke fn and return the "build" the handler reports; *version gets the
 * executed version. */
static char invoke_build(lm_client *c, const char *fn, char version[32])
{
    lm_invoke_params p = {.function = fn};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(c, &p, &r, &e), LM_OK, "invoke %s: %s", fn, e.message);
    const char *at = strstr(r.payload, "\"build\":\"");
    cr_assert_not_null(at, "unexpected payload %s", r.payload);
    char build = at[9];
    if (version != NULL) {
        snprintf(version, 32, "%s", r.executed_version);
    }
    lm_invoke_result_finish(&r);
    return build;
}

static void expect_error(int want, const char *field, const char *op, const char *fmt,
                         const char *arg)
{
    lm_error e;
    int rc = callc(b.client, NULL, &e, op, NULL, fmt, arg);
    cr_assert_eq(rc, want, "%s %s: expected %d, got %d (%s)", op, arg, want, rc, e.message);
    if (field != NULL) {
        cr_assert(strstr(e.message, field) != NULL, "%s: message '%s' does not name %s", op,
                  e.message, field);
    }
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- behaviour ---- */

Test(versions, publish_snapshots_code_and_config_and_updates_leave_versions_alone)
{
    lt_create(&b, "snap", "version_a",
              "\"Timeout\":3,\"MemorySize\":256,\"Environment\":{\"Variables\":{\"MODE\":\"one\"}},"
              "\"DeadLetterConfig\":{\"TargetArn\":\"queue:dlq-1\"}");
    char ver[32];
    cr_assert_eq(invoke_build(b.client, "snap", ver), 'a');
    cr_assert_str_eq(ver, "$LATEST");
    cJSON *v1 = OK_CALL("publish", NULL, "{\"FunctionName\":\"snap\",\"Description\":\"first\"}");
    cr_assert_str_eq(sval(v1, "Version"), "1");
    cr_assert_str_eq(sval(v1, "Description"), "first");
    cr_assert_str_eq(sval(v1, "FunctionArn"), "function:snap:1");
    char sha1[65];
    snprintf(sha1, sizeof(sha1), "%s", sval(v1, "CodeSha256"));
    cJSON_Delete(v1);

    cJSON_Delete(OK_CALL("update-code", "version_b", "{\"FunctionName\":\"snap\"}"));
    cJSON *u = OK_CALL("update-config", NULL,
                       "{\"FunctionName\":\"snap\",\"Timeout\":9,\"MemorySize\":512,"
                       "\"Environment\":{\"Variables\":{\"MODE\":\"two\"}},"
                       "\"DeadLetterConfig\":{\"TargetArn\":\"queue:dlq-2\"}}");
    cr_assert_eq(nval(u, "Timeout"), 9);
    cr_assert_str_neq(sval(u, "CodeSha256"), sha1);
    cJSON_Delete(u);

    /* version 1 still runs the old code with the old configuration */
    cr_assert_eq(invoke_build(b.client, "snap:1", ver), 'a');
    cr_assert_str_eq(ver, "1");
    cr_assert_eq(invoke_build(b.client, "snap", ver), 'b');
    cr_assert_str_eq(ver, "$LATEST");
    cJSON *g = OK_CALL("get", NULL, "{\"FunctionName\":\"snap:1\"}");
    cJSON *c = cJSON_GetObjectItemCaseSensitive(g, "Configuration");
    cr_assert_str_eq(sval(c, "Version"), "1");
    cr_assert_str_eq(sval(c, "CodeSha256"), sha1);
    cr_assert_eq(nval(c, "Timeout"), 3);
    cr_assert_eq(nval(c, "MemorySize"), 256);
    cr_assert_str_eq(sval(cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(c, "Environment"), "Variables"),
                          "MODE"),
                     "one");
    cr_assert_str_eq(sval(cJSON_GetObjectItemCaseSensitive(c, "DeadLetterConfig"), "TargetArn"),
                     "queue:dlq-1");
    cJSON_Delete(g);

    /* the START line names the version that ran */
    lm_invoke_params p = {.function = "function:snap:1", .log_tail = 1};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    cr_assert_not_null(r.log_result);
    char *log = lt_unbase64(r.log_result, NULL);
    cr_assert(strstr(log, "Version: 1\n") != NULL, "log: %s", log);
    free(log);
    lm_invoke_result_finish(&r);

    /* get NAME shows $LATEST with its Versions and Aliases */
    publish_expect("snap", "2");
    cr_assert_eq(invoke_build(b.client, "snap:2", ver), 'b');
    g = OK_CALL("get", NULL, "{\"FunctionName\":\"snap\"}");
    cr_assert_str_eq(sval(cJSON_GetObjectItemCaseSensitive(g, "Configuration"), "Version"),
                     "$LATEST");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "Versions")), 2);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(g, "Aliases")));
    cJSON_Delete(g);
}

/* Invoke the env handler for MODE; returns the value (static buffer) and
 * whether the invoke started a new environment. */
static const char *invoke_mode(const char *fn, bool *cold)
{
    static char value[64];
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, fn, "{\"name\":\"MODE\"}", &r, &e), LM_OK, "%s", e.message);
    cJSON *j = cJSON_ParseWithLength(r.payload, r.payload_len);
    cr_assert_not_null(j, "%s", r.payload);
    snprintf(value, sizeof(value), "%s", sval(j, "value"));
    cJSON_Delete(j);
    *cold = r.init_duration_ms > 0;
    lm_invoke_result_finish(&r);
    return value;
}

static bool two_workers_left(void *arg)
{
    (void)arg;
    cJSON *st = OK_CALL("status", NULL, "{}");
    double total = nval(cJSON_GetObjectItemCaseSensitive(st, "Workers"), "Total");
    cJSON_Delete(st);
    return total == 2;
}

Test(versions, an_update_retires_warm_latest_workers_while_versions_stay_warm)
{
    lt_create(&b, "warm", "env", "\"Environment\":{\"Variables\":{\"MODE\":\"one\"}}");
    publish_expect("warm", "1");
    bool cold = false;
    cr_assert_str_eq(invoke_mode("warm", &cold), "one");
    cr_assert_str_eq(invoke_mode("warm", &cold), "one");
    cr_assert_not(cold, "second $LATEST invoke was not warm");
    cr_assert_str_eq(invoke_mode("warm:1", &cold), "one");
    cr_assert(cold, "version 1 shares $LATEST's environment");
    cr_assert_str_eq(invoke_mode("warm:1", &cold), "one");
    cr_assert_not(cold);
    cJSON_Delete(OK_CALL("update-config", NULL,
                         "{\"FunctionName\":\"warm\",\"Environment\":{\"Variables\":"
                         "{\"MODE\":\"two\"}}}"));
    cr_assert_str_eq(invoke_mode("warm", &cold), "two");
    cr_assert(cold, "the new configuration ran in an old environment");
    cr_assert_str_eq(invoke_mode("warm:1", &cold), "one");
    cr_assert_not(cold, "an update of $LATEST retired version 1's environment");
    /* the old $LATEST environment exits: version 1's and the new one remain */
    cr_assert(lt_wait_until(two_workers_left, NULL, 10000), "old worker did not exit");
}

Test(versions, numbers_are_never_reused_after_delete)
{
    lt_create(&b, "nums", "version_a", NULL);
    publish_expect("nums", "1");
    cJSON_Delete(OK_CALL("update-config", NULL, "{\"FunctionName\":\"nums\",\"Timeout\":4}"));
    publish_expect("nums", "2");
    cJSON_Delete(OK_CALL("delete", NULL, "{\"FunctionName\":\"nums:2\"}"));
    expect_error(LM_E_NOT_FOUND, NULL, "get", "{\"FunctionName\":\"%s\"}", "nums:2");
    cJSON_Delete(OK_CALL("update-config", NULL, "{\"FunctionName\":\"nums\",\"Timeout\":5}"));
    publish_expect("nums", "3");
    /* even after deleting the highest one and restarting */
    cJSON_Delete(OK_CALL("delete", NULL, "{\"FunctionName\":\"nums:3\"}"));
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, b.state, NULL);
    cJSON_Delete(OK_CALL("update-config", NULL, "{\"FunctionName\":\"nums\",\"Timeout\":6}"));
    publish_expect("nums", "4");
    cJSON *vs = OK_CALL("versions", NULL, "{\"FunctionName\":\"nums\"}");
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(vs, "Versions");
    const char *want[] = {"$LATEST", "1", "4"};
    cr_assert_eq(cJSON_GetArraySize(arr), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(sval(cJSON_GetArrayItem(arr, i), "Version"), want[i]);
    }
    cJSON_Delete(vs);
}

Test(versions, publish_without_change_returns_the_last_version)
{
    lt_create(&b, "idem", "version_a", NULL);
    publish_expect("idem", "1");
    publish_expect("idem", "1");
    cJSON_Delete(OK_CALL("update-code", "version_a", "{\"FunctionName\":\"idem\"}"));
    publish_expect("idem", "1"); /* same code bytes: still no change */
    cJSON_Delete(OK_CALL("update-config", NULL,
                         "{\"FunctionName\":\"idem\",\"Environment\":{\"Variables\":"
                         "{\"KEY\":\"v\"}}}"));
    publish_expect("idem", "2");
    publish_expect("idem", "2");
    cJSON *vs = OK_CALL("versions", NULL, "{\"FunctionName\":\"idem\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(vs, "Versions")), 3);
    cJSON_Delete(vs);
}

Test(versions, a_stale_code_sha256_is_refused)
{
    lt_create(&b, "guard", "version_a", NULL);
    cJSON *g = OK_CALL("get", NULL, "{\"FunctionName\":\"guard\"}");
    char sha_a[65];
    snprintf(sha_a, sizeof(sha_a), "%s",
             sval(cJSON_GetObjectItemCaseSensitive(g, "Configuration"), "CodeSha256"));
    cJSON_Delete(g);
    cJSON_Delete(OK_CALL("update-code", "version_b", "{\"FunctionName\":\"guard\"}"));
    char args[256];
    snprintf(args, sizeof(args), "{\"FunctionName\":\"guard\",\"CodeSha256\":\"%s\"}", sha_a);
    lm_error e;
    cr_assert_eq(callc(b.client, NULL, &e, "publish", NULL, "%s", args), LM_E_CONFLICT);
    cr_assert_eq(e.status, 409);
    cr_assert_str_eq(e.type, "ResourceConflictException");
    cJSON *vs = OK_CALL("versions", NULL, "{\"FunctionName\":\"guard\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(vs, "Versions")), 1,
                 "a refused publish created a version");
    cJSON_Delete(vs);
    g = OK_CALL("get", NULL, "{\"FunctionName\":\"guard\"}");
    snprintf(args, sizeof(args), "{\"FunctionName\":\"guard\",\"CodeSha256\":\"%s\"}",
             sval(cJSON_GetObjectItemCaseSensitive(g, "Configuration"), "CodeSha256"));
    cJSON_Delete(g);
    cJSON *v = OK_CALL("publish", NULL, "%s", args);
    cr_assert_str_eq(sval(v, "Version"), "1");
    cJSON_Delete(v);
}

/* f:1 runs build a, f:2 build b. */
static void two_versions(const char *name)
{
    lt_create(&b, name, "version_a", NULL);
    publish_expect(name, "1");
    char args[128];
    snprintf(args, sizeof(args), "{\"FunctionName\":\"%s\"}", name);
    cJSON_Delete(OK_CALL("update-code", "version_b", "%s", args));
    publish_expect(name, "2");
}

Test(versions, an_alias_resolves_to_its_version_everywhere_a_function_is_named)
{
    two_versions("al");
    cJSON *a = OK_CALL("alias-create", NULL,
                       "{\"FunctionName\":\"al\",\"Name\":\"live\",\"FunctionVersion\":\"1\"}");
    cr_assert_str_eq(sval(a, "AliasArn"), "function:al:live");
    cr_assert_str_eq(sval(a, "FunctionVersion"), "1");
    char rev1[40];
    snprintf(rev1, sizeof(rev1), "%s", sval(a, "RevisionId"));
    cJSON_Delete(a);
    char ver[32];
    cr_assert_eq(invoke_build(b.client, "al:live", ver), 'a');
    cr_assert_str_eq(ver, "1");
    cr_assert_eq(invoke_build(b.client, "arn:lamina:local:0:function:al:live", ver), 'a');
    cr_assert_eq(invoke_build(b.client, "al:$LATEST", ver), 'b');
    cr_assert_str_eq(ver, "$LATEST");
    cJSON *g = OK_CALL("get", NULL, "{\"FunctionName\":\"function:al:live\"}");
    cr_assert_str_eq(sval(cJSON_GetObjectItemCaseSensitive(g, "Configuration"), "Version"), "1");
    cJSON_Delete(g);

    a = OK_CALL("alias-update", NULL,
                "{\"FunctionName\":\"al\",\"Name\":\"live\",\"FunctionVersion\":\"2\"}");
    cr_assert_str_neq(sval(a, "RevisionId"), rev1);
    cJSON_Delete(a);
    cr_assert_eq(invoke_build(b.client, "al:live", ver), 'b');
    cr_assert_str_eq(ver, "2");
    /* the lm_invoke qualifier field works too */
    lm_invoke_params p = {.function = "al", .qualifier = "live"};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(r.executed_version, "2");
    lm_invoke_result_finish(&r);

    cJSON *l = OK_CALL("alias-list", NULL, "{\"FunctionName\":\"al\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "Aliases")), 1);
    cJSON_Delete(l);
    cJSON_Delete(OK_CALL("alias-delete", NULL, "{\"FunctionName\":\"al\",\"Name\":\"live\"}"));
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_E_NOT_FOUND);
}

Test(versions, a_weighted_alias_splits_10000_invokes_90_10, .timeout = 120)
{
    two_versions("wt");
    cJSON_Delete(OK_CALL("alias-create", NULL,
                         "{\"FunctionName\":\"wt\",\"Name\":\"canary\",\"FunctionVersion\":\"1\","
                         "\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"2\":0.1}}}"));
    int n1 = 0, n2 = 0;
    for (int i = 0; i < 10000; i++) {
        char ver[32];
        char build = invoke_build(b.client, "wt:canary", ver);
        if (strcmp(ver, "1") == 0) {
            cr_assert_eq(build, 'a', "version 1 ran build %c", build);
            n1++;
        } else {
            cr_assert_str_eq(ver, "2");
            cr_assert_eq(build, 'b', "version 2 ran build %c", build);
            n2++;
        }
    }
    cr_assert_eq(n1 + n2, 10000);
    cr_assert(n2 >= 800 && n2 <= 1200, "version 2 got %d of 10000 (want 10%% +- 2pp)", n2);
    cr_log_info("weighted alias: version 1 %d, version 2 %d", n1, n2);
}

Test(versions, deleting_a_version_an_alias_uses_is_refused)
{
    two_versions("del");
    lt_create(&b, "other", "echo", NULL);
    cJSON_Delete(OK_CALL("alias-create", NULL,
                         "{\"FunctionName\":\"del\",\"Name\":\"prod\",\"FunctionVersion\":\"1\","
                         "\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"2\":0.5}}}"));
    lm_error e;
    for (int v = 1; v <= 2; v++) {
        char fn[32];
        snprintf(fn, sizeof(fn), "del:%d", v);
        cr_assert_eq(callc(b.client, NULL, &e, "delete", NULL, "{\"FunctionName\":\"%s\"}", fn),
                     LM_E_CONFLICT, "deleting %s", fn);
        cr_assert_str_eq(e.type, "ResourceConflictException");
    }
    expect_error(LM_E_INVALID_PARAMETER, "Qualifier", "delete", "{\"FunctionName\":\"%s\"}",
                 "del:$LATEST");
    cJSON_Delete(OK_CALL("alias-update", NULL,
                         "{\"FunctionName\":\"del\",\"Name\":\"prod\","
                         "\"RoutingConfig\":{\"AdditionalVersionWeights\":{}}}"));
    cJSON_Delete(OK_CALL("delete", NULL, "{\"FunctionName\":\"del:2\"}"));
    cr_assert_eq(callc(b.client, NULL, &e, "delete", NULL, "{\"FunctionName\":\"del:1\"}"),
                 LM_E_CONFLICT);

    /* deleting the function removes versions, aliases and unused code */
    cJSON *g = OK_CALL("get", NULL, "{\"FunctionName\":\"del:1\"}");
    char blob[1024];
    snprintf(blob, sizeof(blob), "%s/code/%s.so", b.state,
             sval(cJSON_GetObjectItemCaseSensitive(g, "Configuration"), "CodeSha256"));
    cJSON_Delete(g);
    cr_assert(file_exists(blob));
    cJSON_Delete(OK_CALL("delete", NULL, "{\"FunctionName\":\"del\"}"));
    cr_assert_not(file_exists(blob), "code blob %s survived its function", blob);
    expect_error(LM_E_NOT_FOUND, NULL, "get", "{\"FunctionName\":\"%s\"}", "del:1");
    lt_create(&b, "del", "version_a", NULL);
    publish_expect("del", "1"); /* a new function starts afresh */
    cr_assert_eq(callc(b.client, NULL, &e, "alias-get", NULL,
                       "{\"FunctionName\":\"del\",\"Name\":\"prod\"}"),
                 LM_E_NOT_FOUND);
}

Test(versions, invalid_names_qualifiers_weights_and_ranges_name_the_field)
{
    two_versions("bad");
    struct {
        const char *op, *args, *field;
    } cases[] = {
        {"alias-create", "{\"FunctionName\":\"bad\",\"Name\":\"123\",\"FunctionVersion\":\"1\"}",
         "Name"},
        {"alias-create", "{\"FunctionName\":\"bad\",\"Name\":\"a.b\",\"FunctionVersion\":\"1\"}",
         "Name"},
        {"alias-create", "{\"FunctionName\":\"bad\",\"Name\":\"x\",\"FunctionVersion\":\"v1\"}",
         "FunctionVersion"},
        {"alias-create",
         "{\"FunctionName\":\"bad\",\"Name\":\"x\",\"FunctionVersion\":\"1\","
         "\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"2\":1.5}}}",
         "RoutingConfig"},
        {"alias-create",
         "{\"FunctionName\":\"bad\",\"Name\":\"x\",\"FunctionVersion\":\"1\","
         "\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"2\":-0.1}}}",
         "RoutingConfig"},
        {"alias-create",
         "{\"FunctionName\":\"bad\",\"Name\":\"x\",\"FunctionVersion\":\"1\","
         "\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"2\":0.1,\"3\":0.1}}}",
         "RoutingConfig"},
        {"alias-create",
         "{\"FunctionName\":\"bad\",\"Name\":\"x\",\"FunctionVersion\":\"$LATEST\","
         "\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"2\":0.1}}}",
         "FunctionVersion"},
        {"alias-create", "{\"FunctionName\":\"bad:1\",\"Name\":\"x\",\"FunctionVersion\":\"1\"}",
         "FunctionName"},
        {"update-config", "{\"FunctionName\":\"bad\",\"Timeout\":0}", "Timeout"},
        {"update-config", "{\"FunctionName\":\"bad\",\"Timeout\":901}", "Timeout"},
        {"update-config", "{\"FunctionName\":\"bad\",\"MemorySize\":64}", "MemorySize"},
        {"update-config", "{\"FunctionName\":\"bad\",\"MemorySize\":10241}", "MemorySize"},
        {"update-config", "{\"FunctionName\":\"bad\",\"DeadLetterConfig\":{\"TargetArn\":\"a b\"}}",
         "DeadLetterConfig"},
        {"get", "{\"FunctionName\":\"bad:$NOPE\"}", "Qualifier"},
        {"get", "{\"FunctionName\":\"bad:a.b\"}", "Qualifier"},
        {"delete", "{\"FunctionName\":\"bad:live\"}", "Qualifier"},
        {"publish", "{\"FunctionName\":\"bad:1\"}", "FunctionName"},
        {"publish", "{\"FunctionName\":\"b@d\"}", "FunctionName"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lm_error e;
        int rc = callc(b.client, NULL, &e, cases[i].op, NULL, "%s", cases[i].args);
        cr_assert_eq(rc, LM_E_INVALID_PARAMETER, "%s %s: got %d (%s)", cases[i].op, cases[i].args,
                     rc, e.message);
        cr_assert_eq(e.status, 400);
        cr_assert_str_eq(e.type, "InvalidParameterValueException");
        cr_assert(strstr(e.message, cases[i].field) != NULL, "%s %s: '%s' does not name %s",
                  cases[i].op, cases[i].args, e.message, cases[i].field);
    }
    /* invoke checks qualifiers the same way; unknown ones are 404 */
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lt_invoke(&b, "bad:$FOO", NULL, &r, &e), LM_E_INVALID_PARAMETER);
    cr_assert(strstr(e.message, "Qualifier") != NULL, "%s", e.message);
    cr_assert_eq(lt_invoke(&b, "bad:7", NULL, &r, &e), LM_E_NOT_FOUND);
    cr_assert_eq(lt_invoke(&b, "bad:nosuch", NULL, &r, &e), LM_E_NOT_FOUND);
    /* a refused update changed nothing */
    cJSON *g = OK_CALL("get", NULL, "{\"FunctionName\":\"bad\"}");
    cr_assert_eq(nval(cJSON_GetObjectItemCaseSensitive(g, "Configuration"), "Timeout"), 3);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "Aliases")), 0);
    cJSON_Delete(g);
}

/* get NAME of every function, as one JSON text (for comparing states). */
static char *snapshot(const char *const *names, int n)
{
    cJSON *all = cJSON_CreateObject();
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToObject(all, names[i],
                              OK_CALL("get", NULL, "{\"FunctionName\":\"%s\"}", names[i]));
    }
    cJSON_AddItemToObject(all, "_list", OK_CALL("list", NULL, "{}"));
    char *s = cJSON_PrintUnformatted(all);
    cJSON_Delete(all);
    return s;
}

Test(versions, state_is_identical_after_a_restart)
{
    two_versions("keep");
    lt_create(&b, "keep2", "echo", "\"DeadLetterConfig\":{\"TargetArn\":\"topic:errs\"}");
    cJSON_Delete(OK_CALL("update-config", NULL,
                         "{\"FunctionName\":\"keep\",\"Timeout\":12,\"Description\":\"d\"}"));
    cJSON_Delete(OK_CALL("alias-create", NULL,
                         "{\"FunctionName\":\"keep\",\"Name\":\"blue\",\"FunctionVersion\":\"1\","
                         "\"Description\":\"b\",\"RoutingConfig\":{\"AdditionalVersionWeights\":"
                         "{\"2\":0.25}}}"));
    cJSON_Delete(OK_CALL("alias-create", NULL,
                         "{\"FunctionName\":\"keep\",\"Name\":\"edge\","
                         "\"FunctionVersion\":\"$LATEST\"}"));
    const char *names[] = {"keep", "keep2"};
    char *before = snapshot(names, 2);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, b.state, NULL);
    char *after = snapshot(names, 2);
    cr_assert_str_eq(after, before, "state changed across a restart");
    lt_broker_kill(&b);
    lt_broker_start_in(&b, b.state, NULL);
    char *after_kill = snapshot(names, 2);
    cr_assert_str_eq(after_kill, before, "state changed across kill -9");
    free(before);
    free(after);
    free(after_kill);
    char ver[32];
    cr_assert_eq(invoke_build(b.client, "keep:1", ver), 'a');
    cr_assert_eq(invoke_build(b.client, "keep:2", ver), 'b');
    cr_assert_eq(invoke_build(b.client, "keep:edge", ver), 'b');
    cr_assert_str_eq(ver, "$LATEST");
}

/* ---- kill -9 during a stream of publishes ---- */

typedef struct publisher {
    const char *state;
    int acked; /* highest version whose publish was acknowledged */
    int attempts;
    volatile bool stop;
} publisher;

static void *publish_loop(void *arg)
{
    publisher *p = arg;
    lm_client *c = NULL;
    lm_error e;
    if (lm_client_open(&c, p->state, NULL, &e) != LM_OK) {
        return NULL;
    }
    lm_client_set_timeout(c, 3000);
    for (int i = 1; !p->stop; i++) {
        p->attempts++;
        /* Timeout and the variable T always agree inside one version */
        int t = i % 900 + 1;
        if (callc(c, NULL, &e, "update-config", NULL,
                  "{\"FunctionName\":\"storm\",\"Timeout\":%d,\"Environment\":{\"Variables\":"
                  "{\"TT\":\"%d\"}}}",
                  t, t) != LM_OK) {
            break;
        }
        cJSON *v = NULL;
        if (callc(c, &v, &e, "publish", NULL, "{\"FunctionName\":\"storm\"}") != LM_OK) {
            break;
        }
        p->acked = atoi(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "Version")));
        cJSON_Delete(v);
    }
    lm_client_destroy(c);
    return NULL;
}

static void check_storm_versions(int acked, int *highest)
{
    cJSON *vs = OK_CALL("versions", NULL, "{\"FunctionName\":\"storm\"}");
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(vs, "Versions");
    int prev = 0, n = 0;
    for (cJSON *v = arr->child; v != NULL; v = v->next) {
        const char *ver = sval(v, "Version");
        if (strcmp(ver, "$LATEST") == 0) {
            continue;
        }
        int num = atoi(ver);
        cr_assert_eq(num, prev + 1, "versions not contiguous: %d after %d", num, prev);
        prev = num;
        n++;
        char blob[1024], t[16];
        snprintf(blob, sizeof(blob), "%s/code/%s.so", b.state, sval(v, "CodeSha256"));
        cr_assert(file_exists(blob), "version %s lacks its code blob", ver);
        snprintf(t, sizeof(t), "%.0f", nval(v, "Timeout"));
        cr_assert_str_eq(sval(cJSON_GetObjectItemCaseSensitive(
                                  cJSON_GetObjectItemCaseSensitive(v, "Environment"), "Variables"),
                              "TT"),
                         t, "version %s has a torn configuration", ver);
    }
    cr_assert_geq(prev, acked, "acknowledged version %d was lost (highest %d)", acked, prev);
    cJSON_Delete(vs);
    *highest = prev;
    /* a sample of versions is invocable (first, last, and every 10th) */
    for (int v = 1; v <= prev; v++) {
        if (v == 1 || v == prev || v % 10 == 0) {
            char fn[32], ver[32];
            snprintf(fn, sizeof(fn), "storm:%d", v);
            cr_assert_eq(invoke_build(b.client, fn, ver), 'a');
            cr_assert_eq(atoi(ver), v);
        }
    }
    cr_log_info("kill -9 round: %d versions, %d acknowledged", n, acked);
}

Test(versions, kill_9_during_publishes_leaves_only_whole_versions, .timeout = 180)
{
    lt_create(&b, "storm", "version_a", NULL);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int highest = 0;
    for (int round = 0; round < 3; round++) {
        publisher p = {.state = b.state};
        pthread_t thr;
        cr_assert_eq(pthread_create(&thr, NULL, publish_loop, &p), 0);
        struct timespec ts = {0, (long)(100 + rand() % 300) * 1000000L};
        nanosleep(&ts, NULL);
        lt_broker_kill(&b);
        p.stop = true;
        pthread_join(thr, NULL);
        cr_assert_gt(p.attempts, 1, "the publisher never got going");
        lt_broker_start_in(&b, b.state, NULL);
        int before = highest;
        check_storm_versions(p.acked, &highest);
        cr_assert_geq(highest, before);
    }
    /* numbering continues after the highest version, never reusing one */
    cJSON_Delete(OK_CALL("update-config", NULL,
                         "{\"FunctionName\":\"storm\",\"Environment\":{\"Variables\":"
                         "{\"TT\":\"final\"}}}"));
    char want[16];
    snprintf(want, sizeof(want), "%d", highest + 1);
    publish_expect("storm", want);
}

Test(versions, cli_commands_with_json_output)
{
    lt_create(&b, "clif", "version_a", NULL);
    const char *cli = getenv("LAMINA_CLI_BIN");
    cr_assert_not_null(cli);
    char *out = NULL, *err = NULL;
    const char *pub[] = {cli, "-o", "json", "publish", "clif", "--description", "v one", NULL};
    cr_assert_eq(lt_run(&b, pub, &out, &err), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_str_eq(sval(j, "Version"), "1");
    cr_assert_str_eq(sval(j, "FunctionName"), "clif");
    cr_assert_str_eq(sval(j, "Description"), "v one");
    cJSON_Delete(j);
    free(out);
    free(err);

    const char *uc[] = {cli, "update-code", "clif", "--handler", lt_handler("version_b"), NULL};
    cr_assert_eq(lt_run(&b, uc, NULL, NULL), 0);
    const char *cfg[] = {cli,     "update-config", "clif",          "--timeout", "8",
                         "--env", "AA=1",          "--dead-letter", "queue:dl",  NULL};
    cr_assert_eq(lt_run(&b, cfg, NULL, NULL), 0);
    const char *pub2[] = {cli, "publish", "clif", NULL};
    cr_assert_eq(lt_run(&b, pub2, NULL, NULL), 0);
    const char *ac[] = {cli,    "-o",        "json", "alias",    "create", "clif",
                        "live", "--version", "1",    "--weight", "2=0.1",  NULL};
    cr_assert_eq(lt_run(&b, ac, &out, &err), 0, "%s", err);
    j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_str_eq(sval(j, "AliasArn"), "function:clif:live");
    cr_assert_str_eq(sval(j, "FunctionVersion"), "1");
    cJSON *w = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "RoutingConfig"), "AdditionalVersionWeights");
    cr_assert_float_eq(nval(w, "2"), 0.1, 1e-9);
    cJSON_Delete(j);
    free(out);
    free(err);

    const char *gv[] = {cli, "-o", "json", "get", "clif:2", NULL};
    cr_assert_eq(lt_run(&b, gv, &out, NULL), 0);
    j = cJSON_Parse(out);
    cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "Configuration");
    cr_assert_str_eq(sval(c, "Version"), "2");
    cr_assert_eq(nval(c, "Timeout"), 8);
    cr_assert_str_eq(sval(cJSON_GetObjectItemCaseSensitive(c, "DeadLetterConfig"), "TargetArn"),
                     "queue:dl");
    cJSON_Delete(j);
    free(out);

    const char *vs[] = {cli, "versions", "clif", NULL};
    cr_assert_eq(lt_run(&b, vs, &out, NULL), 0);
    cr_assert(strstr(out, "$LATEST") != NULL && strstr(out, "\n2 ") != NULL, "%s", out);
    free(out);
    const char *ls[] = {cli, "list", NULL};
    cr_assert_eq(lt_run(&b, ls, &out, NULL), 0);
    cr_assert(strstr(out, "1,2") != NULL && strstr(out, "live") != NULL, "%s", out);
    free(out);

    /* exit codes: conflict 4, invalid 9, not found 3; --help has an example */
    const char *dv[] = {cli, "delete", "clif:1", NULL};
    cr_assert_eq(lt_run(&b, dv, NULL, NULL), 4);
    const char *bw[] = {cli,         "alias", "create",   "clif", "x",
                        "--version", "1",     "--weight", "2=3",  NULL};
    cr_assert_eq(lt_run(&b, bw, NULL, NULL), 9);
    const char *nf[] = {cli, "alias", "get", "clif", "nope", NULL};
    cr_assert_eq(lt_run(&b, nf, NULL, NULL), 3);
    const char *help[] = {cli, "alias", "--help", NULL};
    cr_assert_eq(lt_run(&b, help, &out, NULL), 0);
    cr_assert(strstr(out, "example:") != NULL && strstr(out, "--weight") != NULL, "%s", out);
    free(out);
}

/* ---- RevisionId and its preconditions ---- */

static const char *precondition_msg =
    "The Revision Id provided does not match the latest Revision Id. Call the "
    "GetFunction/GetAlias API to retrieve the latest Revision Id";

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (dash ? s[i] != '-' : !hex) {
            return false;
        }
    }
    return true;
}

/* The RevisionId of a configuration or alias (malloc'd); asserts a UUID. */
static char *rev_of(const cJSON *o)
{
    const char *r = sval(o, "RevisionId");
    cr_assert(is_uuid(r), "RevisionId '%s' is not a UUID", r);
    return strdup(r);
}

/* The RevisionId `get FN` shows (FN may be qualified). */
static char *get_rev(const char *fn)
{
    cJSON *g = OK_CALL("get", NULL, "{\"FunctionName\":\"%s\"}", fn);
    char *r = rev_of(cJSON_GetObjectItemCaseSensitive(g, "Configuration"));
    cJSON_Delete(g);
    return r;
}

static char *alias_rev(const char *fn, const char *alias)
{
    cJSON *a = OK_CALL("alias-get", NULL, "{\"FunctionName\":\"%s\",\"Name\":\"%s\"}", fn, alias);
    char *r = rev_of(a);
    cJSON_Delete(a);
    return r;
}

/* The whole reply of op (as JSON text) for comparing states. */
static char *reply_text(const char *op, const char *fmt, const char *arg)
{
    cJSON *j = OK_CALL(op, NULL, fmt, arg);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* op with args must fail with 412 PreconditionFailedException and
 * Lambda's message. */
static void expect_412(const char *op, const char *handler, const char *fmt, ...)
{
    char args[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    lm_error e;
    int rc = callc(b.client, NULL, &e, op, handler, "%s", args);
    cr_assert_eq(rc, LM_E_PRECONDITION_FAILED, "%s %s: expected 412, got %d (%s)", op, args, rc,
                 e.message);
    cr_assert_eq(e.status, 412);
    cr_assert_str_eq(e.type, "PreconditionFailedException");
    cr_assert_str_eq(e.message, precondition_msg);
}

Test(versions, revision_id_is_a_uuid_in_every_reply_and_changes_only_with_latest)
{
    cJSON *cr = OK_CALL("create", "version_a", "{\"FunctionName\":\"rev\"}");
    char *r0 = rev_of(cr);
    cJSON_Delete(cr);
    char *g = get_rev("rev");
    cr_assert_str_eq(g, r0, "get shows another RevisionId than create replied");
    free(g);
    cJSON *l = OK_CALL("list", NULL, "{}");
    cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "Functions"), 0);
    cr_assert_str_eq(sval(f, "RevisionId"), r0, "list entry");
    cJSON_Delete(l);
    cJSON *vs = OK_CALL("versions", NULL, "{\"FunctionName\":\"rev\"}");
    cr_assert_str_eq(
        sval(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(vs, "Versions"), 0), "RevisionId"),
        r0, "versions list entry of $LATEST");
    cJSON_Delete(vs);

    /* reading, invoking and recycling environments change nothing */
    cr_assert_eq(invoke_build(b.client, "rev", NULL), 'a');
    cJSON_Delete(OK_CALL("retire-workers", NULL, "{\"FunctionName\":\"rev\"}"));
    g = get_rev("rev");
    cr_assert_str_eq(g, r0, "RevisionId changed without an update");
    free(g);

    cJSON *u = OK_CALL("update-code", "version_b", "{\"FunctionName\":\"rev\"}");
    char *r1 = rev_of(u);
    cJSON_Delete(u);
    cr_assert_str_neq(r1, r0, "update-code kept the RevisionId");
    g = get_rev("rev");
    cr_assert_str_eq(g, r1);
    free(g);
    u = OK_CALL("update-config", NULL, "{\"FunctionName\":\"rev\",\"Timeout\":9}");
    char *r2 = rev_of(u);
    cJSON_Delete(u);
    cr_assert_str_neq(r2, r1, "update-config kept the RevisionId");
    cr_assert_str_neq(r2, r0);
    g = get_rev("rev");
    cr_assert_str_eq(g, r2);
    free(g);
    free(r0);
    free(r1);
    free(r2);
}

Test(versions, a_published_version_has_its_own_revision_id_that_never_changes)
{
    lt_create(&b, "pv", "version_a", NULL);
    char *latest = get_rev("pv");
    cJSON *p = OK_CALL("publish", NULL, "{\"FunctionName\":\"pv\"}");
    char *v1 = rev_of(p);
    cJSON_Delete(p);
    cr_assert_str_neq(v1, latest, "version 1 shares $LATEST's RevisionId");
    char *g = get_rev("pv");
    cr_assert_str_eq(g, latest, "publish changed $LATEST's RevisionId");
    free(g);
    g = get_rev("pv:1");
    cr_assert_str_eq(g, v1);
    free(g);

    /* an idempotent publish returns version 1 as it was */
    p = OK_CALL("publish", NULL, "{\"FunctionName\":\"pv\"}");
    cr_assert_str_eq(sval(p, "Version"), "1");
    cr_assert_str_eq(sval(p, "RevisionId"), v1);
    cJSON_Delete(p);

    /* $LATEST moves on, version 1 does not */
    cJSON_Delete(OK_CALL("update-config", NULL, "{\"FunctionName\":\"pv\",\"Timeout\":7}"));
    cJSON_Delete(OK_CALL("update-code", "version_b", "{\"FunctionName\":\"pv\"}"));
    g = get_rev("pv:1");
    cr_assert_str_eq(g, v1, "an update of $LATEST changed version 1's RevisionId");
    free(g);
    p = OK_CALL("publish", NULL, "{\"FunctionName\":\"pv\"}");
    cr_assert_str_eq(sval(p, "Version"), "2");
    char *v2 = rev_of(p);
    cJSON_Delete(p);
    char *latest2 = get_rev("pv");
    cr_assert_str_neq(v2, v1);
    cr_assert_str_neq(v2, latest2);

    /* get NAME and versions show the same ids */
    cJSON *all = OK_CALL("get", NULL, "{\"FunctionName\":\"pv\"}");
    cJSON *vs = cJSON_GetObjectItemCaseSensitive(all, "Versions");
    cr_assert_str_eq(sval(cJSON_GetArrayItem(vs, 0), "RevisionId"), v1);
    cr_assert_str_eq(sval(cJSON_GetArrayItem(vs, 1), "RevisionId"), v2);
    cJSON_Delete(all);
    all = OK_CALL("versions", NULL, "{\"FunctionName\":\"pv\"}");
    vs = cJSON_GetObjectItemCaseSensitive(all, "Versions");
    cr_assert_str_eq(sval(cJSON_GetArrayItem(vs, 0), "RevisionId"), latest2);
    cr_assert_str_eq(sval(cJSON_GetArrayItem(vs, 1), "RevisionId"), v1);
    cr_assert_str_eq(sval(cJSON_GetArrayItem(vs, 2), "RevisionId"), v2);
    cJSON_Delete(all);
    free(latest);
    free(latest2);
    free(v1);
    free(v2);
}

Test(versions, a_stale_revision_id_is_412_on_every_guarded_operation_and_changes_nothing)
{
    lt_create(&b, "cas", "version_a", NULL);
    cJSON_Delete(OK_CALL("publish", NULL, "{\"FunctionName\":\"cas\"}"));
    cJSON_Delete(OK_CALL("alias-create", NULL,
                         "{\"FunctionName\":\"cas\",\"Name\":\"live\",\"FunctionVersion\":\"1\"}"));
    /* stale ids: ones that were current before the last change */
    char *old = get_rev("cas");
    cJSON_Delete(OK_CALL("update-config", NULL, "{\"FunctionName\":\"cas\",\"Timeout\":5}"));
    char *cur = get_rev("cas");
    char *old_alias = alias_rev("cas", "live");
    cJSON_Delete(OK_CALL("alias-update", NULL,
                         "{\"FunctionName\":\"cas\",\"Name\":\"live\",\"Description\":\"x\"}"));
    char *cur_alias = alias_rev("cas", "live");
    cr_assert_str_neq(old_alias, cur_alias);
    char *before = reply_text("get", "{\"FunctionName\":\"%s\"}", "cas");
    char *alias_before =
        reply_text("alias-get", "{\"FunctionName\":\"%s\",\"Name\":\"live\"}", "cas");

    expect_412("update-code", "version_b", "{\"FunctionName\":\"cas\",\"RevisionId\":\"%s\"}", old);
    expect_412("update-config", NULL,
               "{\"FunctionName\":\"cas\",\"Timeout\":30,\"Description\":\"no\","
               "\"RevisionId\":\"%s\"}",
               old);
    expect_412("publish", NULL, "{\"FunctionName\":\"cas\",\"RevisionId\":\"%s\"}", old);
    expect_412("publish", NULL, "{\"FunctionName\":\"cas\",\"RevisionId\":\"%s\"}", cur_alias);
    expect_412("alias-update", NULL,
               "{\"FunctionName\":\"cas\",\"Name\":\"live\",\"FunctionVersion\":\"$LATEST\","
               "\"RevisionId\":\"%s\"}",
               old_alias);
    expect_412("alias-update", NULL,
               "{\"FunctionName\":\"cas\",\"Name\":\"live\",\"Description\":\"no\","
               "\"RevisionId\":\"%s\"}",
               cur);

    char *after = reply_text("get", "{\"FunctionName\":\"%s\"}", "cas");
    char *alias_after =
        reply_text("alias-get", "{\"FunctionName\":\"%s\",\"Name\":\"live\"}", "cas");
    cr_assert_str_eq(after, before, "a refused operation changed the function");
    cr_assert_str_eq(alias_after, alias_before, "a refused alias-update changed the alias");
    cr_assert_eq(invoke_build(b.client, "cas", NULL), 'a', "refused update-code changed the code");

    /* the current ids go through, each giving the next one */
    cJSON *u = OK_CALL("update-code", "version_b",
                       "{\"FunctionName\":\"cas\",\"RevisionId\":\"%s\"}", cur);
    char *r1 = rev_of(u);
    cJSON_Delete(u);
    u = OK_CALL("update-config", NULL,
                "{\"FunctionName\":\"cas\",\"Timeout\":6,\"RevisionId\":\"%s\"}", r1);
    char *r2 = rev_of(u);
    cJSON_Delete(u);
    u = OK_CALL("publish", NULL, "{\"FunctionName\":\"cas\",\"RevisionId\":\"%s\"}", r2);
    cr_assert_str_eq(sval(u, "Version"), "2");
    cr_assert_eq(nval(u, "Timeout"), 6);
    cJSON_Delete(u);
    u = OK_CALL("alias-update", NULL,
                "{\"FunctionName\":\"cas\",\"Name\":\"live\",\"FunctionVersion\":\"2\","
                "\"RevisionId\":\"%s\"}",
                cur_alias);
    cr_assert_str_eq(sval(u, "FunctionVersion"), "2");
    cr_assert_str_neq(sval(u, "RevisionId"), cur_alias);
    cJSON_Delete(u);
    cr_assert_eq(invoke_build(b.client, "cas:live", NULL), 'b');

    /* malformed ids are 400, and alias-create takes none */
    expect_error(LM_E_INVALID_PARAMETER, "RevisionId", "update-config",
                 "{\"FunctionName\":\"%s\",\"RevisionId\":5}", "cas");
    expect_error(LM_E_INVALID_PARAMETER, "RevisionId", "alias-create",
                 "{\"FunctionName\":\"cas\",\"Name\":\"new\",\"FunctionVersion\":\"1\","
                 "\"RevisionId\":\"%s\"}",
                 r2);
    free(old);
    free(cur);
    free(old_alias);
    free(cur_alias);
    free(before);
    free(after);
    free(alias_before);
    free(alias_after);
    free(r1);
    free(r2);
}

typedef struct racer {
    int i;
    const char *rev;
    int rc;
} racer;

static void *race_update(void *arg)
{
    racer *r = arg;
    char args[256];
    lm_error e;
    snprintf(args, sizeof(args),
             "{\"FunctionName\":\"race\",\"Description\":\"d%d\",\"RevisionId\":\"%s\"}", r->i,
             r->rev);
    r->rc = lm_call(b.client, "update-config", args, NULL, 0, NULL, &e);
    return NULL;
}

Test(versions, concurrent_updates_with_one_revision_id_let_exactly_one_through)
{
    lt_create(&b, "race", "version_a", NULL);
    char *rev = get_rev("race");
    racer rs[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        rs[i] = (racer){.i = i, .rev = rev, .rc = -1};
        cr_assert_eq(pthread_create(&th[i], NULL, race_update, &rs[i]), 0);
    }
    int winner = -1;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert(rs[i].rc == LM_OK || rs[i].rc == LM_E_PRECONDITION_FAILED, "racer %d: %d", i,
                  rs[i].rc);
        if (rs[i].rc == LM_OK) {
            cr_assert_eq(winner, -1, "two updates went through with one RevisionId");
            winner = i;
        }
    }
    cr_assert_neq(winner, -1, "no update went through");
    cJSON *g = OK_CALL("get", NULL, "{\"FunctionName\":\"race\"}");
    char want[16];
    snprintf(want, sizeof(want), "d%d", winner);
    cr_assert_str_eq(sval(cJSON_GetObjectItemCaseSensitive(g, "Configuration"), "Description"),
                     want);
    cJSON_Delete(g);
    free(rev);
}

Test(versions, revision_ids_survive_a_restart_and_a_kill_9)
{
    lt_create(&b, "dur", "version_a", NULL);
    cJSON_Delete(OK_CALL("publish", NULL, "{\"FunctionName\":\"dur\"}"));
    cJSON_Delete(OK_CALL("update-config", NULL, "{\"FunctionName\":\"dur\",\"Timeout\":4}"));
    cJSON_Delete(OK_CALL("alias-create", NULL,
                         "{\"FunctionName\":\"dur\",\"Name\":\"a\",\"FunctionVersion\":\"1\"}"));
    char *latest = get_rev("dur"), *v1 = get_rev("dur:1"), *al = alias_rev("dur", "a");
    for (int round = 0; round < 2; round++) {
        if (round == 0) {
            lt_broker_stop(&b, true);
        } else {
            lt_broker_kill(&b);
        }
        lt_broker_start_in(&b, b.state, NULL);
        char *l2 = get_rev("dur"), *v2 = get_rev("dur:1"), *a2 = alias_rev("dur", "a");
        cr_assert_str_eq(l2, latest, "$LATEST's RevisionId changed across a restart");
        cr_assert_str_eq(v2, v1, "version 1's RevisionId changed across a restart");
        cr_assert_str_eq(a2, al, "the alias's RevisionId changed across a restart");
        free(l2);
        free(v2);
        free(a2);
    }
    /* the stored ids are the ones the preconditions check */
    cJSON_Delete(OK_CALL("update-config", NULL,
                         "{\"FunctionName\":\"dur\",\"Timeout\":8,\"RevisionId\":\"%s\"}", latest));
    cJSON_Delete(OK_CALL("alias-update", NULL,
                         "{\"FunctionName\":\"dur\",\"Name\":\"a\",\"FunctionVersion\":\"$LATEST\","
                         "\"RevisionId\":\"%s\"}",
                         al));
    free(latest);
    free(v1);
    free(al);
}

/* A store as the schema-3 broker left it: two functions, two versions. */
static const char *schema3 = LT_SCHEMA2_TABLES
    "CREATE TABLE event_invoke_configs(name TEXT PRIMARY KEY, max_retry INTEGER NOT NULL,"
    "  max_age INTEGER NOT NULL, on_success TEXT NOT NULL DEFAULT '',"
    "  on_failure TEXT NOT NULL DEFAULT '', last_modified REAL NOT NULL);"
    "INSERT INTO functions VALUES('old1', 'aa', 10, 3, 128, '{}', 'one',"
    "  '2026-01-01T00:00:00.000+0000', '', 2);"
    "INSERT INTO functions VALUES('old2', 'bb', 20, 5, 256, '{}', 'two',"
    "  '2026-01-02T00:00:00.000+0000', '', 0);"
    "INSERT INTO versions VALUES('old1', 1, 'aa', 10, 3, 128, '{}', 'v1', '',"
    "  '2026-01-01T00:00:00.000+0000');"
    "INSERT INTO versions VALUES('old1', 2, 'cc', 30, 3, 128, '{}', 'v2', '',"
    "  '2026-01-01T00:00:00.000+0000');"
    "INSERT INTO meta(key, value) VALUES('schema', '3');";

/* Every "name:version revision_id" row of the store, sorted, one per line;
 * asserts the schema and that every row has a distinct UUID. */
static char *stored_revisions(const char *db_path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = calloc(1, 4096);
    size_t n = 0;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema'", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "8");
    sqlite3_finalize(st);
    const char *sql = "SELECT name || ':$LATEST', revision_id FROM functions UNION ALL"
                      " SELECT name || ':' || version, revision_id FROM versions ORDER BY 1";
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *rev = (const char *)sqlite3_column_text(st, 1);
        cr_assert(is_uuid(rev), "%s has RevisionId '%s'", sqlite3_column_text(st, 0), rev);
        cr_assert_null(strstr(out, rev), "RevisionId %s used twice", rev);
        n += (size_t)snprintf(out + n, 4096 - n, "%s %s\n", sqlite3_column_text(st, 0), rev);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

Test(versions, a_schema_3_store_is_migrated_and_every_function_and_version_gets_a_revision_id)
{
    lt_broker_stop(&b, false);
    char state[300], db_path[400];
    lt_old_store(schema3, state, sizeof(state), db_path, sizeof(db_path));
    memset(&b, 0, sizeof(b));
    lt_broker_start_in(&b, state, NULL);
    char *first = stored_revisions(db_path);
    cr_assert_not_null(strstr(first, "old1:$LATEST "), "%s", first);
    cr_assert_not_null(strstr(first, "old1:2 "), "%s", first);
    cr_assert_not_null(strstr(first, "old2:$LATEST "), "%s", first);

    /* the api shows the stored ids */
    const char *fns[] = {"old1", "old1:1", "old1:2", "old2"};
    for (int i = 0; i < 4; i++) {
        char *r = get_rev(fns[i]);
        char line[128];
        snprintf(line, sizeof(line), "%s%s %s\n", fns[i], strchr(fns[i], ':') ? "" : ":$LATEST", r);
        cr_assert_not_null(strstr(first, line), "%s not in\n%s", line, first);
        free(r);
    }

    /* running the migration again (as after a crash, or a store an older
     * broker wrote to since) keeps every id and fills in only what lacks one */
    lt_broker_stop(&b, true);
    lt_store_exec(db_path, "UPDATE meta SET value='3' WHERE key='schema';"
                           "INSERT INTO functions(name, code_sha256, code_size, timeout, memory,"
                           " last_modified) VALUES('old3', 'dd', 1, 3, 128, 'x');");
    lt_broker_start_in(&b, state, NULL);
    char *second = stored_revisions(db_path);
    cr_assert_not_null(strstr(second, first), "ids changed on a second migration:\n%s\n%s", first,
                       second);
    cr_assert_not_null(strstr(second, "old3:$LATEST "), "%s", second);
    free(first);
    free(second);
}
