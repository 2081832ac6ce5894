/*
 * tools/cli/urls.c — `lamina url create|get|update|delete|list`: function
 * URLs (the broker serves them when run with --http; broker/front/http.c).
 * NAME may carry the qualifier (NAME:ALIAS) or take --qualifier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void text_url(const cJSON *u)
{
    const char *keys[] = {"FunctionUrl", "FunctionArn",  "AuthType",
                          "InvokeMode",  "CreationTime", "LastModifiedTime"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = out_str(u, keys[i]);
        if (v[0] != '\0') {
            printf("%-17s %s\n", keys[i], v);
        }
    }
    const cJSON *cors = cJSON_GetObjectItemCaseSensitive(u, "Cors");
    if (cJSON_IsObject(cors)) {
        char *t = cJSON_PrintUnformatted(cors);
        printf("%-17s %s\n", "Cors", t != NULL ? t : "?");
        free(t);
    }
}

static void text_url_list(const cJSON *reply)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(reply, "FunctionUrlConfigs"), *it;
    cJSON_ArrayForEach(it, a)
    {
        printf("%-40s %-10s %s\n", out_str(it, "FunctionArn"), out_str(it, "AuthType"),
               out_str(it, "FunctionUrl"));
    }
}

/* --cors-allow-origins a,b → Cors.AllowOrigins ["a","b"] */
static void add_list(cJSON *cors, const char *key, const char *csv)
{
    cJSON *a = cJSON_AddArrayToObject(cors, key);
    const char *p = csv;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            char *s = strndup(p, n);
            cJSON_AddItemToArray(a, cJSON_CreateString(s != NULL ? s : ""));
            free(s);
        }
        p += n;
        if (*p == ',') {
            p++;
        }
    }
}

/* url create|get|update|delete|list NAME[:Q] [--qualifier Q] [--auth-type NONE|AWS_IAM]
 * [--invoke-mode M] [--cors-allow-origins L] [--cors-allow-methods L]
 * [--cors-allow-headers L] [--cors-expose-headers L] [--cors-max-age S]
 * [--cors-allow-credentials] [--no-cors] */
int cmd_url(cli *c, int argc, char **argv)
{
    static const char *subs[] = {"create", "get", "update", "delete", "list"};
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t k = 0;
    while (k < 5 && strcmp(sub, subs[k]) != 0) {
        k++;
    }
    if (k == 5) {
        return out_usage(argv[0], "expects create|get|update|delete|list, got '%s'", sub);
    }
    if (argc < 3 || argv[2][0] == '-') {
        return out_usage(argv[0], "%s", "missing NAME");
    }
    args_flag f[] = {{.flag = "--qualifier"},
                     {.flag = "--auth-type"},
                     {.flag = "--invoke-mode"},
                     {.flag = "--cors-allow-origins"},
                     {.flag = "--cors-allow-methods"},
                     {.flag = "--cors-allow-headers"},
                     {.flag = "--cors-expose-headers"},
                     {.flag = "--cors-max-age"},
                     {.flag = "--cors-allow-credentials", .is_switch = true},
                     {.flag = "--no-cors", .is_switch = true}};
    size_t nf = sizeof(f) / sizeof(f[0]);
    bool writes = k == 0 || k == 2;
    int rc = args_parse_flags(argc, argv, 3, f, writes ? nf : (k == 4 ? 0 : 1));
    if (rc != EXIT_OK) {
        return rc;
    }
    if (k == 0 && f[1].value == NULL) {
        return out_usage(argv[0], "%s", "create needs --auth-type NONE|AWS_IAM");
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[2]);
    if (f[0].value != NULL) {
        cJSON_AddStringToObject(args, "Qualifier", f[0].value);
    }
    if (f[1].value != NULL) {
        cJSON_AddStringToObject(args, "AuthType", f[1].value);
    }
    if (f[2].value != NULL) {
        cJSON_AddStringToObject(args, "InvokeMode", f[2].value);
    }
    bool any_cors = false;
    for (size_t i = 3; i < 9; i++) {
        any_cors = any_cors || f[i].value != NULL;
    }
    if (f[9].value != NULL) {
        cJSON_AddNullToObject(args, "Cors");
    } else if (any_cors) {
        cJSON *cors = cJSON_AddObjectToObject(args, "Cors");
        static const char *const keys[] = {"AllowOrigins", "AllowMethods", "AllowHeaders",
                                           "ExposeHeaders"};
        for (size_t i = 0; i < 4; i++) {
            if (f[3 + i].value != NULL) {
                add_list(cors, keys[i], f[3 + i].value);
            }
        }
        if (f[7].value != NULL) {
            rc = args_add_int(cors, "MaxAge", f[7].value, argv[0]);
        }
        if (f[8].value != NULL) {
            cJSON_AddTrueToObject(cors, "AllowCredentials");
        }
    }
    char op[32];
    snprintf(op, sizeof(op), "url-%s", sub);
    if (rc == EXIT_OK) {
        rc = out_call(c, op, args, NULL, 0,
                      k == 3   ? out_nothing
                      : k == 4 ? text_url_list
                               : text_url);
    }
    cJSON_Delete(args);
    return rc;
}
