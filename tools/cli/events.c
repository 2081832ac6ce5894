/*
 * tools/cli/events.c — the async-event verbs: `event-config
 * put|get|delete` (retries, maximum age and destinations of a function's
 * async invokes) and `event-wait` (block until an async event and its
 * destination's run of it are done, or a timeout passes).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void text_event_config(const cJSON *reply)
{
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(reply, "DestinationConfig");
    const char *keys[] = {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(reply, keys[i]);
        printf("%-26s %g\n", keys[i], cJSON_IsNumber(v) ? v->valuedouble : 0);
    }
    const char *dests[] = {"OnSuccess", "OnFailure"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(dc, dests[i]);
        const char *s = out_str(d, "Destination");
        printf("%-26s %s\n", dests[i], s[0] != '\0' ? s : "-");
    }
}

/* event-config put|get|delete NAME [--max-retries N] [--max-age S]
 * [--on-success DEST] [--on-failure DEST] */
int cmd_event_config(cli *c, int argc, char **argv)
{
    static const char *subs[] = {"put", "get", "delete"};
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t k = 0;
    while (k < 3 && strcmp(sub, subs[k]) != 0) {
        k++;
    }
    if (k == 3) {
        return out_usage(argv[0], "expects put|get|delete, got '%s'", sub);
    }
    if (argc < 3 || argv[2][0] == '-') {
        return out_usage(argv[0], "%s", "missing NAME");
    }
    args_opt o[] = {{"--max-retries", NULL},
                    {"--max-age", NULL},
                    {"--on-success", NULL},
                    {"--on-failure", NULL}};
    int rc = k == 0     ? args_parse(argc, argv, 3, o, 4, NULL)
             : argc > 3 ? out_usage(argv[0], "unexpected argument '%s'", argv[3])
                        : EXIT_OK;
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[2]);
    if (o[0].value != NULL) {
        rc = args_add_int(args, "MaximumRetryAttempts", o[0].value, argv[0]);
    }
    if (rc == EXIT_OK && o[1].value != NULL) {
        rc = args_add_int(args, "MaximumEventAgeInSeconds", o[1].value, argv[0]);
    }
    if (o[2].value != NULL || o[3].value != NULL) {
        cJSON *dc = cJSON_AddObjectToObject(args, "DestinationConfig");
        for (int i = 2; i < 4; i++) {
            if (o[i].value != NULL) {
                cJSON *d = cJSON_AddObjectToObject(dc, i == 2 ? "OnSuccess" : "OnFailure");
                cJSON_AddStringToObject(d, "Destination", o[i].value);
            }
        }
    }
    char op[32];
    snprintf(op, sizeof(op), "event-config-%s", sub);
    if (rc == EXIT_OK) {
        rc = out_call(c, op, args, NULL, 0, k == 2 ? out_nothing : text_event_config);
    }
    cJSON_Delete(args);
    return rc;
}

static void text_event_wait(const cJSON *reply)
{
    printf("%-12s %s\n", "RequestId", out_str(reply, "RequestId"));
    printf("%-12s %s\n", "Status", out_str(reply, "Status"));
    const char *cond = out_str(reply, "Condition");
    printf("%-12s %s\n", "Condition", cond[0] != '\0' ? cond : "-");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(reply, "Destination");
    if (cJSON_IsObject(d)) {
        const char *dc = out_str(d, "Condition");
        printf("%-12s %s %s %s\n", "Destination", out_str(d, "RequestId"), out_str(d, "Status"),
               dc[0] != '\0' ? dc : "-");
    }
}

/* event-wait REQUEST_ID [--timeout S]; argv[1] is REQUEST_ID (the table's
 * operand: dispatch checked it). */
int cmd_event_wait(cli *c, int argc, char **argv)
{
    args_opt o[] = {{"--timeout", NULL}};
    int rc = args_parse(argc, argv, 2, o, 1, NULL);
    int seconds = 30;
    if (rc == EXIT_OK && o[0].value != NULL &&
        (args_int(o[0].value, &seconds) != 0 || seconds < 0 || seconds > 900)) {
        rc = out_usage(argv[0], "--timeout takes 0-900 seconds, not '%s'", o[0].value);
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "RequestId", argv[1]);
    cJSON_AddNumberToObject(args, "TimeoutMs", seconds * 1000.0);
    rc = out_call(c, "event-wait", args, NULL, 0, text_event_wait);
    cJSON_Delete(args);
    return rc;
}
