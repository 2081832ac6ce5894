/*
 * tools/cli/args.c — option parsing shared by the verbs: --flag VALUE
 * tables, --env KEY=VALUE, integers, --revision-id.
 *
 * Every error here is a usage error (exit 2) printed with the verb's name
 * (argv[0]), so a verb reports a bad option the same way as any other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int args_env(cJSON *vars, const char *kv, const char *cmd)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv) {
        return out_usage(cmd, "--env takes KEY=VALUE, got '%s'", kv);
    }
    char key[256];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
    cJSON_AddStringToObject(vars, key, eq + 1);
    return EXIT_OK;
}

int args_int(const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < -2147483647L || v > 2147483647L) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

int args_parse(int argc, char **argv, int from, args_opt *opts, size_t nopts, cJSON *vars)
{
    for (int i = from; i < argc; i += 2) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            return out_usage(
                argv[0], a[0] == '-' ? "option '%s' needs a value" : "unexpected argument '%s'", a);
        }
        bool known = false;
        for (size_t k = 0; k < nopts && !known; k++) {
            if (strcmp(a, opts[k].flag) == 0) {
                opts[k].value = argv[i + 1];
                known = true;
            }
        }
        if (!known && vars != NULL && strcmp(a, "--env") == 0) {
            if (args_env(vars, argv[i + 1], argv[0]) != EXIT_OK) {
                return EXIT_USAGE;
            }
            known = true;
        }
        if (!known) {
            return out_usage(argv[0], "unknown option '%s'", a);
        }
    }
    return EXIT_OK;
}

int args_add_int(cJSON *args, const char *key, const char *v, const char *cmd)
{
    int n = 0;
    if (v == NULL) {
        return EXIT_OK;
    }
    if (args_int(v, &n) != 0) {
        return out_usage(cmd, "'%s' is not an integer", v);
    }
    cJSON_AddNumberToObject(args, key, n);
    return EXIT_OK;
}

/* --revision-id ID → RevisionId (the update happens only while the
 * function or alias is still at that revision). */
void args_add_revision(cJSON *args, const char *id)
{
    if (id != NULL) {
        cJSON_AddStringToObject(args, "RevisionId", id);
    }
}
