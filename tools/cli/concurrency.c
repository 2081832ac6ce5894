/*
 * tools/cli/concurrency.c — Lambda's concurrency controls:
 * `concurrency put|get|delete NAME [N]` (a function's reserved
 * concurrency) and `provisioned put|get|delete|list NAME[:QUALIFIER] [N]`
 * (initialised environments kept for a published version or alias).  The
 * broker checks every rule (broker/admin/concurrency.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* put|get|delete (|list when with_list) → 0..3, or -1. */
static int sub_of(const char *s, bool with_list)
{
    static const char *subs[] = {"put", "get", "delete", "list"};
    for (int k = 0; k < (with_list ? 4 : 3); k++) {
        if (strcmp(s, subs[k]) == 0) {
            return k;
        }
    }
    return -1;
}

static void text_reserved(const cJSON *reply)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(reply, "ReservedConcurrentExecutions");
    if (cJSON_IsNumber(n)) {
        printf("%-30s %d\n", "ReservedConcurrentExecutions", n->valueint);
    } else {
        printf("%-30s %s\n", "ReservedConcurrentExecutions", "- (unreserved)");
    }
}

/* concurrency put NAME N | get NAME | delete NAME */
int cmd_concurrency(cli *c, int argc, char **argv)
{
    int k = sub_of(argc >= 2 ? argv[1] : "", false);
    if (k < 0) {
        return out_usage(argv[0], "expects put|get|delete, got '%s'", argc >= 2 ? argv[1] : "");
    }
    if (argc < 3 || argv[2][0] == '-') {
        return out_usage(argv[0], "%s", "missing NAME");
    }
    if (argc != (k == 0 ? 4 : 3)) {
        return out_usage(argv[0], "%s",
                         k == 0 ? "put takes NAME and N (0: every invoke is throttled)"
                                : "takes only NAME");
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[2]);
    int rc = k == 0 ? args_add_int(args, "ReservedConcurrentExecutions", argv[3], argv[0]) : 0;
    static const char *ops[] = {"concurrency-put", "concurrency-get", "concurrency-delete"};
    if (rc == EXIT_OK) {
        rc = out_call(c, ops[k], args, NULL, 0, k == 2 ? out_nothing : text_reserved);
    }
    cJSON_Delete(args);
    return rc;
}

static void text_one(const cJSON *p)
{
    const char *q = out_str(p, "FunctionArn");
    if (q[0] != '\0') {
        printf("%s\n", q);
    }
    static const char *keys[] = {"RequestedProvisionedConcurrentExecutions",
                                 "AllocatedProvisionedConcurrentExecutions",
                                 "AvailableProvisionedConcurrentExecutions"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, keys[i]);
        printf("  %-42s %d\n", keys[i], cJSON_IsNumber(v) ? v->valueint : 0);
    }
    printf("  %-42s %s\n", "Status", out_str(p, "Status"));
    const char *why = out_str(p, "StatusReason");
    if (why[0] != '\0') {
        printf("  %-42s %s\n", "StatusReason", why);
    }
    printf("  %-42s %s\n", "LastModified", out_str(p, "LastModified"));
}

static void text_provisioned(const cJSON *reply)
{
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(reply, "ProvisionedConcurrencyConfigs");
    if (!cJSON_IsArray(all)) {
        text_one(reply);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, all)
    {
        text_one(p);
    }
}

/* provisioned put NAME:Q N | get NAME:Q | delete NAME:Q | list NAME */
int cmd_provisioned(cli *c, int argc, char **argv)
{
    int k = sub_of(argc >= 2 ? argv[1] : "", true);
    if (k < 0) {
        return out_usage(argv[0], "expects put|get|delete|list, got '%s'",
                         argc >= 2 ? argv[1] : "");
    }
    if (argc < 3 || argv[2][0] == '-') {
        return out_usage(argv[0], "%s", k == 3 ? "missing NAME" : "missing NAME:QUALIFIER");
    }
    if (argc != (k == 0 ? 4 : 3)) {
        return out_usage(argv[0], "%s",
                         k == 0 ? "put takes NAME:QUALIFIER and N" : "takes only its NAME");
    }
    cJSON *args = cJSON_CreateObject();
    const char *colon = strrchr(argv[2], ':');
    if (k != 3 && colon != NULL && strncmp(argv[2], "arn:", 4) != 0 &&
        strncmp(argv[2], "function:", 9) != 0) {
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - argv[2]), argv[2]);
        cJSON_AddStringToObject(args, "FunctionName", name);
        cJSON_AddStringToObject(args, "Qualifier", colon + 1);
    } else {
        cJSON_AddStringToObject(args, "FunctionName", argv[2]); /* the broker names what lacks */
    }
    int rc = k == 0 ? args_add_int(args, "ProvisionedConcurrentExecutions", argv[3], argv[0]) : 0;
    static const char *ops[] = {"provisioned-put", "provisioned-get", "provisioned-delete",
                                "provisioned-list"};
    if (rc == EXIT_OK) {
        rc = out_call(c, ops[k], args, NULL, 0, k == 2 ? out_nothing : text_provisioned);
    }
    cJSON_Delete(args);
    return rc;
}
