/*
 * tools/cli/versions.c — versions and aliases: publish, versions, and
 * `alias create|update|get|list|delete`.  --revision-id makes an update
 * conditional (412, exit 4, when it is stale); --weight V=W sets an
 * alias's routing to a second version (none clears it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* publish NAME [options]: a new version from $LATEST; argv[1] is NAME. */
int cmd_publish(cli *c, int argc, char **argv)
{
    args_opt o[] = {{"--description", NULL}, {"--code-sha256", NULL}, {"--revision-id", NULL}};
    int rc = args_parse(argc, argv, 2, o, 3, NULL);
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[1]);
    if (o[0].value != NULL) {
        cJSON_AddStringToObject(args, "Description", o[0].value);
    }
    if (o[1].value != NULL) {
        cJSON_AddStringToObject(args, "CodeSha256", o[1].value);
    }
    args_add_revision(args, o[2].value);
    rc = out_call(c, "publish", args, NULL, 0, out_config);
    cJSON_Delete(args);
    return rc;
}

static void text_versions(const cJSON *reply)
{
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(reply, "Versions");
    printf("%-8s %-16s %7s %7s  %-28s  %s\n", "VERSION", "CODE SHA256", "MEMORY", "TIMEOUT",
           "LAST MODIFIED", "DESCRIPTION");
    for (const cJSON *v = vs != NULL ? vs->child : NULL; v != NULL; v = v->next) {
        printf("%-8s %-16.16s %7.0f %7.0f  %-28s  %s\n", out_str(v, "Version"),
               out_str(v, "CodeSha256"),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "MemorySize")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "Timeout")),
               out_str(v, "LastModified"), out_str(v, "Description"));
    }
}

int cmd_versions(cli *c, int argc, char **argv)
{
    return out_call_name(c, argc, argv, "versions", text_versions);
}

static void print_alias_line(const cJSON *a)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(a, "RoutingConfig"), "AdditionalVersionWeights");
    char routing[64] = "-";
    if (w != NULL && w->child != NULL) {
        snprintf(routing, sizeof(routing), "%s=%g", w->child->string, w->child->valuedouble);
    }
    printf("%-24s %-8s %-16s %-36s %s\n", out_str(a, "Name"), out_str(a, "FunctionVersion"),
           routing, out_str(a, "RevisionId"), out_str(a, "Description"));
}

static void text_alias(const cJSON *reply)
{
    printf("%-24s %-8s %-16s %-36s %s\n", "ALIAS", "VERSION", "WEIGHTED", "REVISION ID",
           "DESCRIPTION");
    print_alias_line(reply);
}

static void text_aliases(const cJSON *reply)
{
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(reply, "Aliases");
    printf("%-24s %-8s %-16s %-36s %s\n", "ALIAS", "VERSION", "WEIGHTED", "REVISION ID",
           "DESCRIPTION");
    for (const cJSON *a = as != NULL ? as->child : NULL; a != NULL; a = a->next) {
        print_alias_line(a);
    }
}

/* --weight V=W → RoutingConfig; --weight none clears it (update). */
static int add_weight(cJSON *args, const char *v, const char *cmd)
{
    cJSON *rc = cJSON_AddObjectToObject(args, "RoutingConfig");
    cJSON *w = cJSON_AddObjectToObject(rc, "AdditionalVersionWeights");
    if (strcmp(v, "none") == 0) {
        return EXIT_OK;
    }
    const char *eq = strchr(v, '=');
    char *end = NULL;
    double d = eq != NULL ? strtod(eq + 1, &end) : 0;
    if (eq == NULL || eq == v || end == eq + 1 || *end != '\0') {
        return out_usage(cmd, "--weight takes VERSION=WEIGHT (e.g. 2=0.1), got '%s'", v);
    }
    char key[32];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
    cJSON_AddNumberToObject(w, key, d);
    return EXIT_OK;
}

static int alias_put(cli *c, int argc, char **argv, const char *op)
{
    args_opt o[] = {
        {"--version", NULL}, {"--weight", NULL}, {"--description", NULL}, {"--revision-id", NULL}};
    int rc = args_parse(argc, argv, 4, o, 4, NULL);
    if (rc == EXIT_OK && o[3].value != NULL && strcmp(op, "alias-update") != 0) {
        rc = out_usage(argv[0], "%s", "--revision-id is for 'alias update' only");
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[2]);
    cJSON_AddStringToObject(args, "Name", argv[3]);
    if (o[0].value != NULL) {
        cJSON_AddStringToObject(args, "FunctionVersion", o[0].value);
    }
    if (o[2].value != NULL) {
        cJSON_AddStringToObject(args, "Description", o[2].value);
    }
    args_add_revision(args, o[3].value);
    if (o[1].value != NULL) {
        rc = add_weight(args, o[1].value, argv[0]);
    }
    if (rc == EXIT_OK && strcmp(op, "alias-create") == 0 && o[0].value == NULL) {
        rc = out_usage(argv[0], "%s", "--version V is required");
    }
    if (rc == EXIT_OK) {
        rc = out_call(c, op, args, NULL, 0, text_alias);
    }
    cJSON_Delete(args);
    return rc;
}

int cmd_alias(cli *c, int argc, char **argv)
{
    static const char *subs[] = {"create", "update", "get", "list", "delete"};
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t k = 0;
    while (k < 5 && strcmp(sub, subs[k]) != 0) {
        k++;
    }
    if (k == 5) {
        return out_usage(argv[0], "expects create|update|get|list|delete, got '%s'", sub);
    }
    char op[32];
    snprintf(op, sizeof(op), "alias-%s", sub);
    int need = k == 3 ? 3 : 4; /* alias list NAME; the others NAME ALIAS */
    if (argc < need || argv[2][0] == '-' || (need == 4 && argv[3][0] == '-')) {
        return out_usage(argv[0], "%s", need == 3 ? "missing NAME" : "missing NAME or ALIAS");
    }
    if (k < 2) {
        return alias_put(c, argc, argv, op);
    }
    if (argc > need) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[need]);
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[2]);
    if (need == 4) {
        cJSON_AddStringToObject(args, "Name", argv[3]);
    }
    int rc =
        out_call(c, op, args, NULL, 0, k == 2 ? text_alias : (k == 3 ? text_aliases : out_nothing));
    cJSON_Delete(args);
    return rc;
}
