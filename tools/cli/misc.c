/*
 * tools/cli/misc.c — verbs that address no resource: `status` (the
 * broker's counters and sandbox report) and `test-pattern` (offline, no
 * broker: the adapter to test_pattern.c, which the filter unit tests
 * include directly and so keeps its own FILE-based entry).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "test_pattern.h"

/* status's provisioned configs, after the numbers: ARN Status
 * Allocated/Requested and the environments' pids. */
static void print_provisioned(const cJSON *all)
{
    const cJSON *p;
    printf(" %s=%d", all->string, cJSON_GetArraySize(all));
    cJSON_ArrayForEach(p, all)
    {
        const cJSON *a =
            cJSON_GetObjectItemCaseSensitive(p, "AllocatedProvisionedConcurrentExecutions");
        const cJSON *r =
            cJSON_GetObjectItemCaseSensitive(p, "RequestedProvisionedConcurrentExecutions");
        printf("\n  %s %s %d/%d pids", out_str(p, "FunctionArn"), out_str(p, "Status"),
               cJSON_IsNumber(a) ? a->valueint : 0, cJSON_IsNumber(r) ? r->valueint : 0);
        const cJSON *pid;
        cJSON_ArrayForEach(pid, cJSON_GetObjectItemCaseSensitive(p, "Pids"))
        {
            printf(" %d", pid->valueint);
        }
    }
}

static void text_status(const cJSON *reply)
{
    int width = 14; /* the value column: after the longest key */
    for (const cJSON *v = reply->child; v != NULL; v = v->next) {
        int n = (int)strlen(v->string);
        width = n > width ? n : width;
    }
    for (const cJSON *v = reply->child; v != NULL; v = v->next) {
        if (cJSON_IsObject(v)) {
            /* numbers on one line (Workers Total=3 Idle=2 …), text one per line */
            bool text = false;
            for (const cJSON *w = v->child; w != NULL; w = w->next) {
                text = text || cJSON_IsString(w) || cJSON_IsBool(w);
            }
            printf("%-*s", width, v->string);
            for (const cJSON *w = v->child; w != NULL; w = w->next) {
                if (cJSON_IsArray(w)) { /* Concurrency.Provisioned: one line each */
                    print_provisioned(w);
                } else if (!text) {
                    printf(" %s=%g", w->string, w->valuedouble);
                } else if (cJSON_IsString(w)) {
                    printf("\n  %-12s %s", w->string, w->valuestring);
                } else if (cJSON_IsBool(w)) {
                    printf("\n  %-12s %s", w->string, cJSON_IsTrue(w) ? "yes" : "no");
                } else {
                    printf("\n  %-12s %g", w->string, w->valuedouble);
                }
            }
            printf("\n");
        } else if (cJSON_IsString(v)) {
            printf("%-*s %s\n", width, v->string, v->valuestring);
        } else if (cJSON_IsNumber(v)) {
            printf("%-*s %g\n", width, v->string, v->valuedouble);
        }
    }
}

int cmd_status(cli *c, int argc, char **argv)
{
    if (argc != 1) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[1]);
    }
    return out_call(c, "status", NULL, NULL, 0, text_status);
}

int cmd_test_pattern(cli *c, int argc, char **argv)
{
    (void)c;
    return cli_test_pattern(argc, argv, stdout, stderr);
}
