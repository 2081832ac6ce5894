/*
 * Integration: the `lamina` CLI as a user runs it — outputs, JSON shapes,
 * exit codes, --help on every command.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

TestSuite(cli, .init = up, .fini = down, .timeout = 60);

static const char *cli_bin(void)
{
    const char *p = getenv("LAMINA_CLI_BIN");
    return p != NULL ? p : "build/tools/lamina";
}

/* Run `lamina ARGS...` against the test broker. */
#define RUN(out, err, ...)                                    \
    ({                                                        \
        const char *argv_[] = {cli_bin(), __VA_ARGS__, NULL}; \
        lt_run(&b, argv_, out, err);                          \
    })

Test(cli, create_and_invoke_print_the_payload)
{
    char *out = NULL, *err = NULL;
    int rc = RUN(&out, &err, "create", "hello", "--handler", lt_handler("echo"), "--timeout", "5",
                 "--env", "COLOR=blue", "--description", "demo");
    cr_assert_eq(rc, 0, "create: %s", err);
    cr_assert_not_null(strstr(out, "hello"));
    cr_assert_not_null(strstr(out, "Timeout        5"));
    free(out);
    free(err);
    rc = RUN(&out, &err, "invoke", "hello", "{\"n\":1}");
    cr_assert_eq(rc, 0, "invoke: %s", err);
    cr_assert_str_eq(out, "{\"n\":1}\n");
    free(out);
    free(err);
}

Test(cli, invoke_json_output_has_lambda_fields)
{
    lt_create(&b, "echo", "echo", NULL);
    char *out = NULL, *err = NULL;
    int rc = RUN(&out, &err, "-o", "json", "invoke", "echo", "{\"k\":[true]}", "--tail");
    cr_assert_eq(rc, 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "one JSON object: %s", out);
    cr_assert_eq(cJSON_GetObjectItem(j, "StatusCode")->valueint, 200);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "ExecutedVersion")->valuestring, "$LATEST");
    cr_assert_eq(strlen(cJSON_GetObjectItem(j, "RequestId")->valuestring), 36);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "LogResult")));
    cr_assert_null(cJSON_GetObjectItem(j, "FunctionError"));
    cJSON *p = cJSON_GetObjectItem(j, "Payload");
    cr_assert(cJSON_IsTrue(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "k"), 0)));
    cJSON_Delete(j);
    free(out);
    free(err);
}

Test(cli, payload_from_a_file_and_dry_run)
{
    lt_create(&b, "echo", "echo", NULL);
    char path[1200];
    snprintf(path, sizeof(path), "%s/../event.json", b.state);
    FILE *f = fopen(path, "w");
    fputs("{\"from\":\"file\"}", f);
    fclose(f);
    char *out = NULL, *err = NULL;
    cr_assert_eq(RUN(&out, &err, "invoke", "echo", "-f", path), 0, "%s", err);
    cr_assert_str_eq(out, "{\"from\":\"file\"}\n");
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "-o", "json", "invoke", "echo", "--dry-run"), 0);
    cr_assert_not_null(strstr(out, "\"StatusCode\":204"), "%s", out);
    free(out);
    free(err);
}

Test(cli, exit_codes_tell_what_went_wrong)
{
    lt_create(&b, "err", "error", NULL);
    lt_create(&b, "slow", "sleep", "\"Timeout\":1");
    char *out = NULL, *err = NULL;
    cr_assert_eq(RUN(&out, &err, "invoke", "missing"), 3, "not found");
    cr_assert_not_null(strstr(err, "ResourceNotFoundException"));
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "create", "err", "--handler", lt_handler("echo")), 4, "conflict");
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "invoke", "err"), 6, "function error");
    cr_assert_not_null(strstr(out, "OrderRejected"));
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "invoke", "slow", "{\"ms\":3000}"), 7, "timed out");
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "invoke", "err", "{oops"), 9, "invalid request");
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "create", "x", "--timeout", "0", "--handler", lt_handler("echo")),
                 9);
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "invoke"), 2, "usage");
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "frobnicate"), 2, "unknown command");
    free(out);
    free(err);
    const char *argv[] = {cli_bin(), "--state", "/nonexistent/lamina", "status", NULL};
    cr_assert_eq(lt_run(NULL, argv, &out, &err), 5, "broker unreachable");
    cr_assert_not_null(strstr(err, "cannot reach the broker"));
    free(out);
    free(err);
}

Test(cli, errors_are_json_with_o_json)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(RUN(&out, &err, "-o", "json", "get", "nothing"), 3);
    cJSON *j = cJSON_Parse(err);
    cr_assert_not_null(j, "stderr is JSON: %s", err);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "Type")->valuestring, "ResourceNotFoundException");
    cr_assert_eq(cJSON_GetObjectItem(j, "StatusCode")->valueint, 404);
    cJSON_Delete(j);
    free(out);
    free(err);
}

Test(cli, get_list_status_and_delete)
{
    lt_create(&b, "alpha", "echo", NULL);
    char *out = NULL, *err = NULL;
    cr_assert_eq(RUN(&out, &err, "-o", "json", "get", "alpha"), 0);
    cr_assert_not_null(strstr(out, "\"CodeSha256\""));
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "list"), 0);
    cr_assert_not_null(strstr(out, "alpha"));
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "status"), 0);
    /* one value column, after the longest key (ListenersReplaced) */
    const char *fl = strstr(out, "Functions ");
    const char *ll = strstr(out, "ListenersReplaced ");
    cr_assert(fl != NULL && ll != NULL, "%s", out);
    size_t fcol = strspn(fl + 9, " ") + 9, lcol = strspn(ll + 17, " ") + 17;
    cr_assert_eq(fcol, lcol, "values start at columns %zu and %zu:\n%s", fcol, lcol, out);
    cr_assert_eq(fl[fcol], '1', "%s", out);
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "delete", "alpha"), 0);
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "get", "alpha"), 3);
    free(out);
    free(err);
}

Test(cli, every_command_has_help_with_an_example)
{
    const char *cmds[] = {"status",     "create",      "get",           "list",
                          "delete",     "update-code", "update-config", "publish",
                          "versions",   "alias",       "invoke",        "event-config",
                          "event-wait", "queue",       "topic",         "test-pattern"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *out = NULL, *err = NULL;
        int rc = RUN(&out, &err, cmds[i], "--help");
        cr_assert_eq(rc, 0, "%s --help", cmds[i]);
        const char *ex = strstr(out, "example");
        ex = ex != NULL ? ex : strstr(out, "Example");
        cr_assert_not_null(ex, "%s --help shows an example: %s", cmds[i], out);
        /* the example itself names lamina (the usage line always does) */
        cr_assert_not_null(strstr(ex, "lamina"), "%s --help: %s", cmds[i], out);
        free(out);
        free(err);
    }
}

/* The value after "RevisionId" in text output (a UUID) into rev. */
static void text_revision(const char *out, char rev[64])
{
    const char *at = out != NULL ? strstr(out, "RevisionId") : NULL;
    cr_assert_not_null(at, "no RevisionId in:\n%s", out);
    cr_assert_eq(sscanf(at, "RevisionId %63s", rev), 1);
    cr_assert_eq(strlen(rev), 36, "RevisionId '%s' is not a UUID", rev);
}

/* The RevisionId `lamina get NAME` prints. */
static void get_revision(const char *name, char rev[64])
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(RUN(&out, &err, "get", name), 0, "get: %s", err);
    text_revision(out, rev);
    free(out);
    free(err);
}

/* Run a command that must be refused as a stale precondition: exit 4 and
 * PreconditionFailedException on stderr. */
#define STALE(...)                                                                         \
    do {                                                                                   \
        char *o_ = NULL, *e_ = NULL;                                                       \
        cr_assert_eq(RUN(&o_, &e_, __VA_ARGS__), 4, "expected exit 4: %s", e_);            \
        cr_assert_not_null(strstr(e_, "PreconditionFailedException"), "stderr: %s", e_);   \
        cr_assert_not_null(strstr(e_, "does not match the latest Revision Id"), "%s", e_); \
        free(o_);                                                                          \
        free(e_);                                                                          \
    } while (0)

Test(cli, revision_id_guards_update_code_update_config_publish_and_alias_update)
{
    char r0[64], r1[64], r2[64], r3[64], now[64];
    char *out = NULL, *err = NULL;
    cr_assert_eq(RUN(NULL, NULL, "create", "rv", "--handler", lt_handler("echo")), 0);
    get_revision("rv", r0);

    STALE("update-config", "rv", "--timeout", "7", "--revision-id",
          "11111111-1111-4111-8111-111111111111");
    get_revision("rv", now);
    cr_assert_str_eq(now, r0, "a refused update-config changed the RevisionId");
    cr_assert_eq(RUN(&out, &err, "update-config", "rv", "--timeout", "7", "--revision-id", r0), 0,
                 "%s", err);
    cr_assert_not_null(strstr(out, "Timeout        7"), "%s", out);
    text_revision(out, r1);
    cr_assert_str_neq(r1, r0);
    free(out);
    free(err);

    STALE("update-code", "rv", "--handler", lt_handler("echo"), "--revision-id", r0);
    cr_assert_eq(
        RUN(&out, &err, "update-code", "rv", "--handler", lt_handler("echo"), "--revision-id", r1),
        0, "%s", err);
    text_revision(out, r2);
    cr_assert_str_neq(r2, r1);
    free(out);
    free(err);

    STALE("publish", "rv", "--revision-id", r1);
    cr_assert_eq(RUN(&out, &err, "get", "rv"), 0);
    cr_assert_null(strstr(out, "PublishedVersion"), "a refused publish made a version:\n%s", out);
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "publish", "rv", "--revision-id", r2), 0, "%s", err);
    cr_assert_not_null(strstr(out, "Version        1"), "%s", out);
    free(out);
    free(err);

    cr_assert_eq(RUN(&out, &err, "-o", "json", "alias", "create", "rv", "live", "--version", "1"),
                 0, "%s", err);
    cJSON *a = cJSON_Parse(out);
    snprintf(r3, sizeof(r3), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "RevisionId")));
    cJSON_Delete(a);
    free(out);
    free(err);
    cr_assert_eq(strlen(r3), 36, "alias RevisionId '%s'", r3);
    STALE("alias", "update", "rv", "live", "--version", "$LATEST", "--revision-id", r2);
    cr_assert_eq(RUN(&out, &err, "alias", "get", "rv", "live"), 0);
    cr_assert_not_null(strstr(out, r3), "alias get shows its RevisionId:\n%s", out);
    cr_assert_not_null(strstr(out, "live                     1 "), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(RUN(&out, &err, "alias", "update", "rv", "live", "--version", "$LATEST",
                     "--revision-id", r3),
                 0, "%s", err);
    cr_assert_not_null(strstr(out, "$LATEST"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(
        RUN(NULL, NULL, "alias", "create", "rv", "x", "--version", "1", "--revision-id", r3), 2,
        "--revision-id is for alias update only");
}
