/*
 * tools/cli/esm.c — `lamina esm …`: event source mappings (api ops esm-*,
 * Lambda's CreateEventSourceMapping names):
 *
 *   create --function FN --source queue:NAME|stream:NAME|ARN [options]
 *   update UUID [options]    list [--function FN] [--source S]
 *   get UUID    delete UUID    enable UUID    disable UUID
 *
 * Options: --batch-size N, --window S (MaximumBatchingWindowInSeconds),
 * --filter JSON (repeatable: one Filters[] pattern each; update --filter
 * replaces them, --no-filters removes them), --starting-position
 * TRIM_HORIZON|LATEST|AT_TIMESTAMP, --starting-timestamp EPOCH_S,
 * --max-retries N, --max-record-age S, --bisect, --parallelization N,
 * --report-batch-item-failures, --on-failure queue:Q|topic:T,
 * --max-concurrency N, --disabled (update: --enabled too).  The CLI checks
 * only that numbers are integers (a usage error, exit 2); the ranges per
 * source are the broker's (InvalidParameterValueException, exit 9).
 * get prints the mapping's fields one per line; with -o json the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    F_FUNCTION,
    F_SOURCE,
    F_BATCH,
    F_WINDOW,
    F_FILTER,
    F_NO_FILTERS,
    F_START,
    F_START_TS,
    F_RETRIES,
    F_AGE,
    F_BISECT,
    F_PARALLEL,
    F_RBIF,
    F_ON_FAILURE,
    F_CONCURRENCY,
    F_DISABLED,
    F_ENABLED,
    F_N
};

static void text_mapping(const cJSON *reply)
{
    out_fields(reply, 32);
}

static void text_list(const cJSON *reply)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(reply, "EventSourceMappings");
    printf("%-36s  %-8s  %-24s  %-40s  %s\n", "UUID", "STATE", "FUNCTION", "SOURCE", "LAST RESULT");
    for (const cJSON *m = l != NULL ? l->child : NULL; m != NULL; m = m->next) {
        const char *fn = strrchr(out_str(m, "FunctionArn"), ':');
        const char *arn = out_str(m, "FunctionArn");
        const char *p = strstr(arn, ":function:");
        printf("%-36s  %-8s  %-24s  %-40s  %s\n", out_str(m, "UUID"), out_str(m, "State"),
               p != NULL ? p + 10 : (fn != NULL ? fn + 1 : ""), out_str(m, "EventSourceArn"),
               out_str(m, "LastProcessingResult"));
    }
}

/* --flag N as an integer member. */
static int add_int(cJSON *args, const char *key, const char *v, const char *cmd)
{
    return v != NULL ? args_add_int(args, key, v, cmd) : EXIT_OK;
}

static int add_number(cJSON *args, const char *key, const char *v, const char *cmd)
{
    char *end = NULL;
    double d = v != NULL ? strtod(v, &end) : 0;
    if (v == NULL) {
        return EXIT_OK;
    }
    if (end == v || *end != '\0') {
        return out_usage(cmd, "--starting-timestamp takes epoch seconds, not '%s'", v);
    }
    cJSON_AddNumberToObject(args, key, d);
    return EXIT_OK;
}

/* The flags into Lambda's parameters. */
static int build(args_flag *f, cJSON *args, bool create, const char *cmd)
{
    int rc = EXIT_OK;
    if (f[F_FUNCTION].value != NULL) {
        cJSON_AddStringToObject(args, "FunctionName", f[F_FUNCTION].value);
    }
    if (f[F_SOURCE].value != NULL) {
        cJSON_AddStringToObject(args, "EventSourceArn", f[F_SOURCE].value);
    }
    if (create && (f[F_FUNCTION].value == NULL || f[F_SOURCE].value == NULL)) {
        return out_usage(cmd, "%s", "needs --function FN and --source queue:NAME|stream:NAME");
    }
    rc = rc == EXIT_OK ? add_int(args, "BatchSize", f[F_BATCH].value, cmd) : rc;
    rc = rc == EXIT_OK ? add_int(args, "MaximumBatchingWindowInSeconds", f[F_WINDOW].value, cmd)
                       : rc;
    rc = rc == EXIT_OK ? add_int(args, "MaximumRetryAttempts", f[F_RETRIES].value, cmd) : rc;
    rc = rc == EXIT_OK ? add_int(args, "MaximumRecordAgeInSeconds", f[F_AGE].value, cmd) : rc;
    rc = rc == EXIT_OK ? add_int(args, "ParallelizationFactor", f[F_PARALLEL].value, cmd) : rc;
    rc = rc == EXIT_OK ? add_number(args, "StartingPositionTimestamp", f[F_START_TS].value, cmd)
                       : rc;
    if (rc == EXIT_OK && f[F_CONCURRENCY].value != NULL) {
        cJSON *sc = cJSON_AddObjectToObject(args, "ScalingConfig");
        rc = args_add_int(sc, "MaximumConcurrency", f[F_CONCURRENCY].value, cmd);
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    if (f[F_START].value != NULL) {
        cJSON_AddStringToObject(args, "StartingPosition", f[F_START].value);
    }
    if (f[F_BISECT].value != NULL) {
        cJSON_AddBoolToObject(args, "BisectBatchOnFunctionError", true);
    }
    if (f[F_RBIF].value != NULL) {
        cJSON_AddItemToObject(
            args, "FunctionResponseTypes",
            cJSON_CreateStringArray((const char *const[]){"ReportBatchItemFailures"}, 1));
    }
    if (f[F_ON_FAILURE].value != NULL) {
        cJSON *of = cJSON_AddObjectToObject(cJSON_AddObjectToObject(args, "DestinationConfig"),
                                            "OnFailure");
        cJSON_AddStringToObject(of, "Destination", f[F_ON_FAILURE].value);
    }
    if (f[F_DISABLED].value != NULL && f[F_ENABLED].value != NULL) {
        return out_usage(cmd, "%s", "--enabled and --disabled together");
    }
    if (f[F_DISABLED].value != NULL || f[F_ENABLED].value != NULL) {
        cJSON_AddBoolToObject(args, "Enabled", f[F_ENABLED].value != NULL);
    }
    const cJSON *all = f[F_FILTER].all;
    if (cJSON_GetArraySize(all) > 0 || f[F_NO_FILTERS].value != NULL) {
        cJSON *fl =
            cJSON_AddArrayToObject(cJSON_AddObjectToObject(args, "FilterCriteria"), "Filters");
        const cJSON *p;
        cJSON_ArrayForEach(p, all)
        {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "Pattern", p->valuestring);
            cJSON_AddItemToArray(fl, o);
        }
    }
    return EXIT_OK;
}

/* create [flags] (from argv[1]) or update UUID [flags] (from argv[2]). */
static int create_or_update(cli *c, int argc, char **argv, bool create)
{
    cJSON *filters = cJSON_CreateArray();
    args_flag f[F_N] = {
        [F_FUNCTION] = {.flag = "--function"},
        [F_SOURCE] = {.flag = "--source"},
        [F_BATCH] = {.flag = "--batch-size"},
        [F_WINDOW] = {.flag = "--window"},
        [F_FILTER] = {.flag = "--filter", .all = filters},
        [F_NO_FILTERS] = {.flag = "--no-filters", .is_switch = true},
        [F_START] = {.flag = "--starting-position"},
        [F_START_TS] = {.flag = "--starting-timestamp"},
        [F_RETRIES] = {.flag = "--max-retries"},
        [F_AGE] = {.flag = "--max-record-age"},
        [F_BISECT] = {.flag = "--bisect", .is_switch = true},
        [F_PARALLEL] = {.flag = "--parallelization"},
        [F_RBIF] = {.flag = "--report-batch-item-failures", .is_switch = true},
        [F_ON_FAILURE] = {.flag = "--on-failure"},
        [F_CONCURRENCY] = {.flag = "--max-concurrency"},
        [F_DISABLED] = {.flag = "--disabled", .is_switch = true},
        [F_ENABLED] = {.flag = "--enabled", .is_switch = true},
    };
    int rc = args_parse_flags(argc, argv, create ? 1 : 2, f, F_N);
    cJSON *args = cJSON_CreateObject();
    if (!create) {
        cJSON_AddStringToObject(args, "UUID", argv[1]);
    }
    if (rc == EXIT_OK && create && f[F_ENABLED].value != NULL) {
        rc = out_usage(argv[0], "%s", "--enabled is for update (a new mapping is enabled)");
    }
    if (rc == EXIT_OK) {
        rc = build(f, args, create, argv[0]);
    }
    if (rc == EXIT_OK) {
        rc = out_call(c, create ? "esm-create" : "esm-update", args, NULL, 0, text_mapping);
    }
    cJSON_Delete(args);
    cJSON_Delete(filters);
    return rc;
}

static int esm_create(cli *c, int argc, char **argv)
{
    return create_or_update(c, argc, argv, true);
}

static int esm_update(cli *c, int argc, char **argv)
{
    return create_or_update(c, argc, argv, false);
}

static int esm_list(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "--function"}, {.flag = "--source"}};
    int rc = args_parse_flags(argc, argv, 1, f, 2);
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    if (f[0].value != NULL) {
        cJSON_AddStringToObject(args, "FunctionName", f[0].value);
    }
    if (f[1].value != NULL) {
        cJSON_AddStringToObject(args, "EventSourceArn", f[1].value);
    }
    rc = out_call(c, "esm-list", args, NULL, 0, text_list);
    cJSON_Delete(args);
    return rc;
}

static int uuid_op(cli *c, int argc, char **argv, const char *op)
{
    if (argc > 2) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[2]);
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "UUID", argv[1]);
    int rc = out_call(c, op, args, NULL, 0, text_mapping);
    cJSON_Delete(args);
    return rc;
}

static int esm_get(cli *c, int argc, char **argv)
{
    return uuid_op(c, argc, argv, "esm-get");
}

static int esm_delete(cli *c, int argc, char **argv)
{
    return uuid_op(c, argc, argv, "esm-delete");
}

static int esm_enable(cli *c, int argc, char **argv)
{
    return uuid_op(c, argc, argv, "esm-enable");
}

static int esm_disable(cli *c, int argc, char **argv)
{
    return uuid_op(c, argc, argv, "esm-disable");
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    command_fn run;
    const char *operand; /* NULL: none */
} esm_subs[] = {
    {"create", esm_create, NULL},     {"list", esm_list, NULL},
    {"get", esm_get, "UUID"},         {"update", esm_update, "UUID"},
    {"delete", esm_delete, "UUID"},   {"enable", esm_enable, "UUID"},
    {"disable", esm_disable, "UUID"},
};

int cmd_esm(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t n = sizeof(esm_subs) / sizeof(esm_subs[0]), k = 0;
    while (k < n && strcmp(sub, esm_subs[k].name) != 0) {
        k++;
    }
    if (k == n) {
        return out_usage(argv[0], "expects create|list|get|update|delete|enable|disable, got '%s'",
                         sub);
    }
    char verb[48];
    snprintf(verb, sizeof(verb), "esm %s", sub);
    if (esm_subs[k].operand != NULL && (argc < 3 || argv[2][0] == '-')) {
        return out_usage(verb, "missing %s", esm_subs[k].operand);
    }
    argv[1] = verb;
    return esm_subs[k].run(c, argc - 1, argv + 1);
}
