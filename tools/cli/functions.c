/*
 * tools/cli/functions.c — the function verbs: create, get, list, delete,
 * update-code, update-config.  Each builds the op's JSON arguments from
 * argv, calls the broker through out_call and prints the reply with a
 * text printer of its own (or out_config for a configuration).
 *
 * create and update-code read the handler .so themselves (lm_read_file)
 * and send its bytes with the op; the broker stores it by SHA-256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* get's concurrency fields (broker/admin/concurrency.c), when set. */
static void text_concurrency(const cJSON *reply)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(reply, "Concurrency"), "ReservedConcurrentExecutions");
    if (cJSON_IsNumber(r)) {
        printf("%-14s %d\n", "Reserved", r->valueint);
    }
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(reply, "ProvisionedConcurrency");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(reply, "ProvisionedConcurrencyConfigs");
    const cJSON *p = one != NULL ? one : all != NULL ? all->child : NULL;
    for (; p != NULL; p = one != NULL ? NULL : p->next) {
        const cJSON *a =
            cJSON_GetObjectItemCaseSensitive(p, "AllocatedProvisionedConcurrentExecutions");
        const cJSON *q =
            cJSON_GetObjectItemCaseSensitive(p, "RequestedProvisionedConcurrentExecutions");
        const char *arn = out_str(p, "FunctionArn");
        printf("%-14s %s%s%d/%d %s\n", "Provisioned", arn, arn[0] != '\0' ? " " : "",
               cJSON_IsNumber(a) ? a->valueint : 0, cJSON_IsNumber(q) ? q->valueint : 0,
               out_str(p, "Status"));
    }
}

static void text_get(const cJSON *reply)
{
    out_config(cJSON_GetObjectItemCaseSensitive(reply, "Configuration"));
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(reply, "Versions");
    for (const cJSON *v = vs != NULL ? vs->child : NULL; v != NULL; v = v->next) {
        printf("%-14s %s (code %.12s, %s)\n", "PublishedVersion",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "Version")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "CodeSha256")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "LastModified")));
    }
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(reply, "Aliases");
    for (const cJSON *a = as != NULL ? as->child : NULL; a != NULL; a = a->next) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(a, "RoutingConfig"), "AdditionalVersionWeights");
        printf("%-14s %s -> %s", "Alias",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "Name")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "FunctionVersion")));
        if (w != NULL && w->child != NULL) {
            printf(" (+ %s at %g)", w->child->string, w->child->valuedouble);
        }
        printf("\n");
    }
    text_concurrency(reply);
}

/* "a,b,c" from an array of strings (at most cap-1 characters). */
static void join_strings(const cJSON *arr, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (const cJSON *v = arr != NULL ? arr->child : NULL; v != NULL && n + 1 < cap; v = v->next) {
        int k = snprintf(out + n, cap - n, "%s%s", n > 0 ? "," : "",
                         cJSON_IsString(v) ? v->valuestring : "");
        n += k > 0 ? (size_t)k : 0;
    }
    if (out[0] == '\0') {
        snprintf(out, cap, "-");
    }
}

static void text_list(const cJSON *reply)
{
    const cJSON *fns = cJSON_GetObjectItemCaseSensitive(reply, "Functions");
    printf("%-32s %-8s %7s %7s %10s  %-28s  %-12s  %-12s  %s\n", "NAME", "VERSION", "MEMORY",
           "TIMEOUT", "CODE SIZE", "LAST MODIFIED", "CODE SHA256", "VERSIONS", "ALIASES");
    for (const cJSON *f = fns != NULL ? fns->child : NULL; f != NULL; f = f->next) {
        char versions[256], aliases[256];
        join_strings(cJSON_GetObjectItemCaseSensitive(f, "Versions"), versions, sizeof(versions));
        join_strings(cJSON_GetObjectItemCaseSensitive(f, "Aliases"), aliases, sizeof(aliases));
        printf("%-32s %-8s %7.0f %7.0f %10.0f  %-28s  %-12.12s  %-12s  %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "FunctionName")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "Version")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f, "MemorySize")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f, "Timeout")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f, "CodeSize")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "LastModified")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "CodeSha256")), versions,
               aliases);
    }
}

/* create NAME --handler FILE.so [options]; argv[1] is NAME (the table's
 * operand: dispatch checked it). */
int cmd_create(cli *c, int argc, char **argv)
{
    cJSON *args = cJSON_CreateObject();
    cJSON *vars = cJSON_CreateObject();
    const char *handler = NULL;
    int rc = EXIT_OK;
    cJSON_AddStringToObject(args, "FunctionName", argv[1]);
    for (int i = 2; i < argc && rc == EXIT_OK; i += 2) { /* each option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int n = 0;
        if (v == NULL) {
            rc = out_usage(argv[0], "option '%s' needs a value", a);
        } else if (strcmp(a, "--handler") == 0) {
            handler = v;
        } else if (strcmp(a, "--timeout") == 0 || strcmp(a, "--memory") == 0) {
            if (args_int(v, &n) != 0) {
                rc = out_usage(argv[0], "'%s' is not an integer", v);
            } else {
                cJSON_AddNumberToObject(args, a[2] == 't' ? "Timeout" : "MemorySize", n);
            }
        } else if (strcmp(a, "--env") == 0) {
            rc = args_env(vars, v, argv[0]);
        } else if (strcmp(a, "--description") == 0) {
            cJSON_AddStringToObject(args, "Description", v);
        } else {
            rc = out_usage(argv[0], "unknown option '%s'", a);
        }
    }
    if (rc == EXIT_OK && handler == NULL) {
        rc = out_usage(argv[0], "%s", "--handler FILE.so is required");
    }
    cJSON *env = cJSON_CreateObject();
    cJSON_AddItemToObject(env, "Variables", vars);
    cJSON_AddItemToObject(args, "Environment", env);
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    if (rc == EXIT_OK && lm_read_file(handler, &code, &len, &e) != LM_OK) {
        rc = out_error(c, &e);
    }
    if (rc == EXIT_OK) {
        rc = out_call(c, "create", args, code, len, out_config);
    }
    free(code);
    cJSON_Delete(args);
    return rc;
}

int cmd_get(cli *c, int argc, char **argv)
{
    return out_call_name(c, argc, argv, "get", text_get);
}

int cmd_delete(cli *c, int argc, char **argv)
{
    return out_call_name(c, argc, argv, "delete", out_nothing);
}

int cmd_list(cli *c, int argc, char **argv)
{
    if (argc != 1) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[1]);
    }
    return out_call(c, "list", NULL, NULL, 0, text_list);
}

/* update-code NAME --handler FILE.so [--revision-id ID]; argv[1] is NAME. */
int cmd_update_code(cli *c, int argc, char **argv)
{
    args_opt o[] = {{"--handler", NULL}, {"--revision-id", NULL}};
    int rc = args_parse(argc, argv, 2, o, 2, NULL);
    if (rc == EXIT_OK && o[0].value == NULL) {
        rc = out_usage(argv[0], "%s", "--handler FILE.so is required");
    }
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    if (rc == EXIT_OK && lm_read_file(o[0].value, &code, &len, &e) != LM_OK) {
        rc = out_error(c, &e);
    }
    if (rc == EXIT_OK) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "FunctionName", argv[1]);
        args_add_revision(args, o[1].value);
        rc = out_call(c, "update-code", args, code, len, out_config);
        cJSON_Delete(args);
    }
    free(code);
    return rc;
}

/* update-config NAME [options]: only the given fields change; argv[1] is
 * NAME. */
int cmd_update_config(cli *c, int argc, char **argv)
{
    args_opt o[] = {{"--timeout", NULL},
                    {"--memory", NULL},
                    {"--description", NULL},
                    {"--dead-letter", NULL},
                    {"--revision-id", NULL}};
    cJSON *args = cJSON_CreateObject();
    cJSON *vars = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[1]);
    int rc = args_parse(argc, argv, 2, o, 5, vars);
    args_add_revision(args, o[4].value);
    if (rc == EXIT_OK) {
        rc = args_add_int(args, "Timeout", o[0].value, argv[0]);
    }
    if (rc == EXIT_OK) {
        rc = args_add_int(args, "MemorySize", o[1].value, argv[0]);
    }
    if (o[2].value != NULL) {
        cJSON_AddStringToObject(args, "Description", o[2].value);
    }
    if (o[3].value != NULL) {
        cJSON *dl = cJSON_AddObjectToObject(args, "DeadLetterConfig");
        cJSON_AddStringToObject(dl, "TargetArn", o[3].value);
    }
    if (vars->child != NULL) {
        cJSON *env = cJSON_AddObjectToObject(args, "Environment");
        cJSON_AddItemToObject(env, "Variables", vars);
        vars = NULL;
    }
    if (rc == EXIT_OK) {
        rc = out_call(c, "update-config", args, NULL, 0, out_config);
    }
    cJSON_Delete(vars);
    cJSON_Delete(args);
    return rc;
}
