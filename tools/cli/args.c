/*
 * tools/cli/args.c — option parsing shared by the verbs: --flag VALUE
 * tables (with switches and repeatable flags), --env KEY=VALUE, integers,
 * --revision-id, message attributes (--attr K=TYPE:VALUE) and reading a
 * whole file or stdin.
 *
 * Every error here is a usage error (exit 2) printed with the verb's name
 * (argv[0]), so a verb reports a bad option the same way as any other.
 */
#include <ctype.h>
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

/* The row of flags for a, or NULL. */
static args_flag *find_flag(args_flag *flags, size_t n, const char *a)
{
    for (size_t k = 0; k < n; k++) {
        if (strcmp(a, flags[k].flag) == 0) {
            return &flags[k];
        }
    }
    return NULL;
}

int args_parse_flags(int argc, char **argv, int from, args_flag *flags, size_t n)
{
    int step = 2;
    for (int i = from; i < argc; i += step) {
        const char *a = argv[i];
        args_flag *f = find_flag(flags, n, a);
        step = f != NULL && f->is_switch ? 1 : 2; /* a switch takes no value */
        if (step == 1) {
            f->value = "true";
            continue;
        }
        if (f == NULL) {
            return out_usage(argv[0],
                             a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
        }
        if (i + 1 >= argc) {
            return out_usage(argv[0], "option '%s' needs a value", a);
        }
        f->value = argv[i + 1];
        if (f->all != NULL) {
            cJSON_AddItemToArray(f->all, cJSON_CreateString(argv[i + 1]));
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

char *args_read_stream(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) {
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
        }
        buf = nb;
        cap *= 2;
    }
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

char *args_read_path(const char *path, const char *cmd, int *rc)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t len = 0;
    char *s = f != NULL ? args_read_stream(f, &len) : NULL;
    if (f != NULL && f != stdin) {
        fclose(f);
    }
    *rc = s != NULL   ? EXIT_OK
          : f == NULL ? out_usage(cmd, "cannot open '%s'", path)
                      : out_usage(cmd, "cannot read '%s'", path);
    return s;
}

/* Is s standard base64 (A-Z a-z 0-9 + /, '=' padding only at the end,
 * length a multiple of 4)? */
static bool is_base64(const char *s)
{
    size_t n = strlen(s), pad = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '=') {
            pad++;
        } else if (pad > 0 || !(isalnum((unsigned char)ch) || ch == '+' || ch == '/')) {
            return false;
        }
    }
    return n % 4 == 0 && pad <= 2;
}

/* TYPE is String, Number or Binary, each optionally followed by .LABEL. */
static bool attr_type_ok(const char *t, size_t n)
{
    static const char *base[] = {"String", "Number", "Binary"};
    for (size_t i = 0; i < 3; i++) {
        size_t b = strlen(base[i]);
        if (n >= b && strncmp(t, base[i], b) == 0 && (n == b || (t[b] == '.' && n > b + 1))) {
            return true;
        }
    }
    return false;
}

int args_msg_attr(cJSON *attrs, const char *kv, const char *cmd)
{
    const char *eq = strchr(kv, '=');
    const char *colon = eq != NULL ? strchr(eq + 1, ':') : NULL;
    if (eq == NULL || eq == kv || colon == NULL) {
        return out_usage(cmd, "--attr takes NAME=TYPE:VALUE (e.g. color=String:red), got '%s'", kv);
    }
    const char *type = eq + 1, *value = colon + 1;
    size_t tlen = (size_t)(colon - type);
    if (!attr_type_ok(type, tlen)) {
        return out_usage(
            cmd, "--attr TYPE is String, Number or Binary (each may end in .LABEL): '%s'", kv);
    }
    bool binary = strncmp(type, "Binary", 6) == 0;
    if (binary && !is_base64(value)) {
        return out_usage(cmd, "--attr of type Binary takes a base64 VALUE: '%s'", kv);
    }
    char key[256], dt[256];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
    snprintf(dt, sizeof(dt), "%.*s", (int)tlen, type);
    if (cJSON_GetObjectItemCaseSensitive(attrs, key) != NULL) {
        return out_usage(cmd, "--attr '%s' given twice", key);
    }
    cJSON *a = cJSON_AddObjectToObject(attrs, key);
    cJSON_AddStringToObject(a, "DataType", dt);
    cJSON_AddStringToObject(a, binary ? "BinaryValue" : "StringValue", value);
    return EXIT_OK;
}

int args_add_msg_attrs(cJSON *args, const cJSON *all, const char *cmd)
{
    if (cJSON_GetArraySize(all) == 0) {
        return EXIT_OK;
    }
    cJSON *attrs = cJSON_AddObjectToObject(args, "MessageAttributes");
    for (const cJSON *v = all->child; v != NULL; v = v->next) {
        if (args_msg_attr(attrs, v->valuestring, cmd) != EXIT_OK) {
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

cJSON *args_jsonl(char *text, const char *path, const char *cmd, const args_jsonl_spec *spec)
{
    cJSON *all = cJSON_CreateArray();
    int line = 0;
    char msg[256];
    for (char *s = text, *next = NULL; s != NULL; s = next) {
        next = strchr(s, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        line++;
        if (strspn(s, " \t\r") == strlen(s)) {
            continue;
        }
        cJSON *e = spec->line != NULL ? spec->line(s) : cJSON_ParseWithOpts(s, NULL, true);
        if (!cJSON_IsObject(e) || cJSON_GetArraySize(all) == spec->max) {
            if (cJSON_IsObject(e)) {
                snprintf(msg, sizeof(msg), "line %d of '%%s' is %s %d: a batch holds at most %d %s",
                         line, spec->one, spec->max + 1, spec->max, spec->noun);
            } else {
                snprintf(msg, sizeof(msg), "line %d of '%%s' is not a JSON object (%s)", line,
                         spec->shape);
            }
            cJSON_Delete(e);
            cJSON_Delete(all);
            out_usage(cmd, msg, path);
            return NULL;
        }
        cJSON_AddItemToArray(all, e);
    }
    if (cJSON_GetArraySize(all) == 0) {
        cJSON_Delete(all);
        snprintf(msg, sizeof(msg), "'%%s' holds no %s (one JSON object a line, 1-%d)", spec->noun,
                 spec->max);
        out_usage(cmd, msg, path);
        return NULL;
    }
    return all;
}
