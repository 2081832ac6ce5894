/*
 * tools/cli/main.c — `lamina`, the command-line client, built on the SDK's
 * client API (lamina/client.h).
 *
 *   lamina [--state DIR | --endpoint URL] [-o text|json] COMMAND [ARGS]
 *
 * Output: results on stdout (text, or one JSON object with -o json); errors
 * on stderr as one line (JSON with -o json).  Exit codes: 0 ok, 1 internal,
 * 2 usage, 3 not found, 4 conflict, 5 broker unreachable, 6 function error,
 * 7 function timed out, 8 throttled, 9 invalid request.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lamina/client.h>

#include "test_pattern.h"

enum {
    EXIT_OK = 0, EXIT_INTERNAL = 1, EXIT_USAGE = 2, EXIT_NOT_FOUND = 3, EXIT_CONFLICT = 4,
    EXIT_UNREACHABLE = 5, EXIT_FUNCTION_ERROR = 6, EXIT_FUNCTION_TIMEOUT = 7,
    EXIT_THROTTLED = 8, EXIT_INVALID = 9
};

typedef struct cli {
    const char *state;
    const char *endpoint;
    bool json;
    lm_client *client;
} cli;

typedef struct command {
    const char *name;
    int (*run)(cli *c, int argc, char **argv);
    const char *usage;
    const char *example;
} command;

static const command *find_command(const char *name);

/* ---- output helpers ---- */

static int exit_for(int code)
{
    switch (code) {
    case LM_OK: return EXIT_OK;
    case LM_E_NOT_FOUND: return EXIT_NOT_FOUND;
    case LM_E_CONFLICT: return EXIT_CONFLICT;
    case LM_E_UNREACHABLE: case LM_E_TIMEOUT: case LM_E_STOPPING: return EXIT_UNREACHABLE;
    case LM_E_THROTTLED: return EXIT_THROTTLED;
    case LM_E_INVALID_PARAMETER: case LM_E_INVALID_CONTENT: case LM_E_TOO_LARGE:
    case LM_E_MALFORMED: case LM_E_UNKNOWN_OP: case LM_E_PROTO_VERSION: return EXIT_INVALID;
    default: return EXIT_INTERNAL;
    }
}

static int report_error(const cli *c, const lm_error *e)
{
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Type", e->type);
        cJSON_AddStringToObject(o, "Message", e->message);
        cJSON_AddNumberToObject(o, "StatusCode", e->status);
        char *s = cJSON_PrintUnformatted(o);
        fprintf(stderr, "%s\n", s != NULL ? s : "{}");
        free(s);
        cJSON_Delete(o);
    } else {
        fprintf(stderr, "lamina: %s: %s\n", e->type, e->message);
    }
    return exit_for(e->code);
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "lamina %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'lamina %s --help')\n", cmd);
    return EXIT_USAGE;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

static int print_help(const command *cmd)
{
    printf("usage: lamina [--state DIR | --endpoint URL] [-o text|json] %s\n\nexample:\n  %s\n",
           cmd->usage, cmd->example);
    return EXIT_OK;
}

static int connect_broker(cli *c)
{
    lm_error e;
    if (lm_client_open(&c->client, c->state, c->endpoint, &e) != LM_OK) {
        return report_error(c, &e);
    }
    return EXIT_OK;
}

/* Call op and print the reply: JSON as is, or through text(). */
static int call_and_print(cli *c, const char *op, cJSON *args, const void *code, size_t len,
                          void (*text)(const cJSON *reply))
{
    int rc = connect_broker(c);
    if (rc != EXIT_OK) {
        return rc;
    }
    char *a = args != NULL ? cJSON_PrintUnformatted(args) : NULL;
    char *reply = NULL;
    lm_error e;
    int code_rc = lm_call(c->client, op, a, code, len, &reply, &e);
    free(a);
    if (code_rc != LM_OK) {
        return report_error(c, &e);
    }
    cJSON *j = cJSON_Parse(reply);
    if (c->json || text == NULL || j == NULL) {
        char *pretty = j != NULL ? cJSON_Print(j) : NULL;
        printf("%s\n", pretty != NULL ? pretty : reply);
        free(pretty);
    } else {
        text(j);
    }
    cJSON_Delete(j);
    free(reply);
    return EXIT_OK;
}

static void print_config(const cJSON *cfg)
{
    const char *keys[] = {"FunctionName", "Version", "CodeSha256", "CodeSize", "Timeout",
                          "MemorySize", "Description", "LastModified", "State"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[i]);
        if (cJSON_IsString(v)) {
            printf("%-14s %s\n", keys[i], v->valuestring);
        } else if (cJSON_IsNumber(v)) {
            printf("%-14s %.0f\n", keys[i], v->valuedouble);
        }
    }
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cfg, "Environment"), "Variables");
    for (const cJSON *v = vars != NULL ? vars->child : NULL; v != NULL; v = v->next) {
        printf("%-14s %s=%s\n", "Environment", v->string,
               cJSON_IsString(v) ? v->valuestring : "");
    }
}

static void text_config(const cJSON *reply) { print_config(reply); }

static void text_get(const cJSON *reply)
{
    print_config(cJSON_GetObjectItemCaseSensitive(reply, "Configuration"));
}

static void text_list(const cJSON *reply)
{
    const cJSON *fns = cJSON_GetObjectItemCaseSensitive(reply, "Functions");
    printf("%-32s %-8s %7s %7s %10s  %s\n", "NAME", "VERSION", "MEMORY", "TIMEOUT", "CODE SIZE",
           "LAST MODIFIED");
    for (const cJSON *f = fns != NULL ? fns->child : NULL; f != NULL; f = f->next) {
        printf("%-32s %-8s %7.0f %7.0f %10.0f  %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "FunctionName")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "Version")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f, "MemorySize")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f, "Timeout")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f, "CodeSize")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "LastModified")));
    }
}

static void text_status(const cJSON *reply)
{
    for (const cJSON *v = reply->child; v != NULL; v = v->next) {
        if (cJSON_IsObject(v)) {
            printf("%-14s", v->string);
            for (const cJSON *w = v->child; w != NULL; w = w->next) {
                printf(" %s=%.0f", w->string, w->valuedouble);
            }
            printf("\n");
        } else if (cJSON_IsString(v)) {
            printf("%-14s %s\n", v->string, v->valuestring);
        } else if (cJSON_IsNumber(v)) {
            printf("%-14s %g\n", v->string, v->valuedouble);
        }
    }
}

/* ---- commands ---- */

static int cmd_status(cli *c, int argc, char **argv)
{
    if (argc != 1) {
        return usage_error(argv[0], "unexpected argument '%s'", argv[1]);
    }
    return call_and_print(c, "status", NULL, NULL, 0, text_status);
}

static int parse_env(cJSON *vars, const char *kv, const char *cmd)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv) {
        return usage_error(cmd, "--env takes KEY=VALUE, got '%s'", kv);
    }
    char key[256];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
    cJSON_AddStringToObject(vars, key, eq + 1);
    return EXIT_OK;
}

static int parse_int_arg(const char *s, int *out)
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

static int cmd_create(cli *c, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        return usage_error(argv[0], "%s", "missing NAME");
    }
    cJSON *args = cJSON_CreateObject();
    cJSON *vars = cJSON_CreateObject();
    const char *handler = NULL;
    int rc = EXIT_OK;
    cJSON_AddStringToObject(args, "FunctionName", argv[1]);
    for (int i = 2; i < argc && rc == EXIT_OK; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int n = 0;
        if (v == NULL) {
            rc = usage_error(argv[0], "option '%s' needs a value", a);
        } else if (strcmp(a, "--handler") == 0) {
            handler = v;
        } else if (strcmp(a, "--timeout") == 0 || strcmp(a, "--memory") == 0) {
            if (parse_int_arg(v, &n) != 0) {
                rc = usage_error(argv[0], "'%s' is not an integer", v);
            } else {
                cJSON_AddNumberToObject(args, a[2] == 't' ? "Timeout" : "MemorySize", n);
            }
        } else if (strcmp(a, "--env") == 0) {
            rc = parse_env(vars, v, argv[0]);
        } else if (strcmp(a, "--description") == 0) {
            cJSON_AddStringToObject(args, "Description", v);
        } else {
            rc = usage_error(argv[0], "unknown option '%s'", a);
        }
        i++;
    }
    if (rc == EXIT_OK && handler == NULL) {
        rc = usage_error(argv[0], "%s", "--handler FILE.so is required");
    }
    cJSON *env = cJSON_CreateObject();
    cJSON_AddItemToObject(env, "Variables", vars);
    cJSON_AddItemToObject(args, "Environment", env);
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    if (rc == EXIT_OK && lm_read_file(handler, &code, &len, &e) != LM_OK) {
        rc = report_error(c, &e);
    }
    if (rc == EXIT_OK) {
        rc = call_and_print(c, "create", args, code, len, text_config);
    }
    free(code);
    cJSON_Delete(args);
    return rc;
}

static int name_only(cli *c, int argc, char **argv, const char *op,
                     void (*text)(const cJSON *reply))
{
    if (argc != 2 || argv[1][0] == '-') {
        return usage_error(argv[0], "%s", "expects exactly one NAME");
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[1]);
    int rc = call_and_print(c, op, args, NULL, 0, text);
    cJSON_Delete(args);
    return rc;
}

static void text_nothing(const cJSON *reply) { (void)reply; }

static int cmd_get(cli *c, int argc, char **argv) { return name_only(c, argc, argv, "get", text_get); }
static int cmd_delete(cli *c, int argc, char **argv)
{
    return name_only(c, argc, argv, "delete", text_nothing);
}

static int cmd_list(cli *c, int argc, char **argv)
{
    if (argc != 1) {
        return usage_error(argv[0], "unexpected argument '%s'", argv[1]);
    }
    return call_and_print(c, "list", NULL, NULL, 0, text_list);
}

static char *read_stream(FILE *f, size_t *len)
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

static void print_invoke_json(const lm_invoke_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "StatusCode", r->status);
    cJSON_AddStringToObject(o, "ExecutedVersion", r->executed_version);
    if (r->function_error[0] != '\0') {
        cJSON_AddStringToObject(o, "FunctionError", r->function_error);
    }
    if (r->log_result != NULL) {
        cJSON_AddStringToObject(o, "LogResult", r->log_result);
    }
    cJSON_AddStringToObject(o, "RequestId", r->request_id);
    cJSON *p = r->payload != NULL ? cJSON_ParseWithLength(r->payload, r->payload_len) : NULL;
    if (p != NULL) {
        cJSON_AddItemToObject(o, "Payload", p);
    } else if (r->payload != NULL && r->status != 204) {
        cJSON_AddStringToObject(o, "Payload", r->payload);
    }
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s != NULL ? s : "{}");
    free(s);
    cJSON_Delete(o);
}

/* Decode base64 (the log tail) for text output. */
static void print_b64(FILE *f, const char *in)
{
    static const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p != '\0' && *p != '='; p++) {
        const char *q = strchr(tab, *p);
        if (q == NULL) {
            continue;
        }
        acc = (acc << 6) | (unsigned)(q - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            fputc((int)((acc >> bits) & 0xff), f);
        }
    }
}

static int invoke_exit(const lm_invoke_result *r)
{
    if (r->function_error[0] == '\0') {
        return EXIT_OK;
    }
    if (r->payload != NULL && strstr(r->payload, "\"Sandbox.Timedout\"") != NULL) {
        return EXIT_FUNCTION_TIMEOUT;
    }
    return EXIT_FUNCTION_ERROR;
}

static int cmd_invoke(cli *c, int argc, char **argv)
{
    lm_invoke_params p = {0};
    char *payload = NULL;
    int rc = EXIT_OK;
    for (int i = 1; i < argc && rc == EXIT_OK; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--dry-run") == 0) {
            p.type = LM_INVOKE_DRY_RUN;
        } else if (strcmp(a, "--tail") == 0) {
            p.log_tail = 1;
        } else if (strcmp(a, "--event") == 0) {
            p.type = LM_INVOKE_EVENT;
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--client-context") == 0 ||
                    strcmp(a, "--qualifier") == 0) && i + 1 >= argc) {
            rc = usage_error(argv[0], "option '%s' needs a value", a);
        } else if (strcmp(a, "--client-context") == 0) {
            p.client_context = argv[++i];
        } else if (strcmp(a, "--qualifier") == 0) {
            p.qualifier = argv[++i];
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "-") == 0) {
            FILE *f = a[1] == 'f' ? fopen(argv[++i], "rb") : stdin;
            if (f == NULL) {
                rc = usage_error(argv[0], "cannot open '%s'", argv[i]);
                break;
            }
            free(payload);
            payload = read_stream(f, &p.payload_len);
            if (f != stdin) {
                fclose(f);
            }
            p.payload = payload;
        } else if (a[0] == '-' && a[1] != '\0') {
            rc = usage_error(argv[0], "unknown option '%s'", a);
        } else if (p.function == NULL) {
            p.function = a;
        } else if (p.payload == NULL) {
            p.payload = a;
            p.payload_len = strlen(a);
        } else {
            rc = usage_error(argv[0], "unexpected argument '%s'", a);
        }
    }
    if (rc == EXIT_OK && p.function == NULL) {
        rc = usage_error(argv[0], "%s", "missing NAME");
    }
    if (rc == EXIT_OK) {
        rc = connect_broker(c);
    }
    if (rc != EXIT_OK) {
        free(payload);
        return rc;
    }
    lm_invoke_result r;
    lm_error e;
    if (lm_invoke(c->client, &p, &r, &e) != LM_OK) {
        free(payload);
        return report_error(c, &e);
    }
    if (c->json) {
        print_invoke_json(&r);
    } else {
        if (r.log_result != NULL) {
            print_b64(stderr, r.log_result);
        }
        if (r.status != 204 && r.payload != NULL) {
            fwrite(r.payload, 1, r.payload_len, stdout);
            printf("\n");
        }
        if (r.function_error[0] != '\0') {
            fprintf(stderr, "lamina: function error (%s)\n", r.function_error);
        }
    }
    rc = invoke_exit(&r);
    lm_invoke_result_finish(&r);
    free(payload);
    return rc;
}

static int cmd_test_pattern(cli *c, int argc, char **argv)
{
    (void)c;
    return cli_test_pattern(argc, argv, stdout, stderr);
}

static const command commands[] = {
    {"status", cmd_status, "status", "lamina status"},
    {"create", cmd_create,
     "create NAME --handler FILE.so [--timeout S] [--memory MB] [--env K=V]... "
     "[--description T]",
     "lamina create hello --handler ./hello.so --timeout 5 --env GREETING=hi"},
    {"get", cmd_get, "get NAME", "lamina -o json get hello"},
    {"list", cmd_list, "list", "lamina list"},
    {"delete", cmd_delete, "delete NAME", "lamina delete hello"},
    {"invoke", cmd_invoke,
     "invoke NAME [PAYLOAD | -f FILE | -] [--qualifier Q] [--dry-run] [--tail] "
     "[--client-context JSON]",
     "lamina invoke hello '{\"name\":\"Ada\"}' --tail"},
    {"test-pattern", cmd_test_pattern, "test-pattern PATTERN EVENT | test-pattern --jsonl FILE",
     "lamina test-pattern '{\"source\":[\"shop\"]}' '{\"source\":\"shop\"}'"},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static int top_usage(FILE *f, int rc)
{
    fprintf(f, "usage: lamina [--state DIR | --endpoint URL] [-o text|json] COMMAND [ARGS]\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  %s\n", commands[i].usage);
    }
    fprintf(f, "\n'lamina COMMAND --help' shows an example.  The broker is found at\n"
               "ipc://<state>/api.sock (state: --state, $LAMINA_STATE, else ./.lamina).\n"
               "exit codes: 0 ok, 1 internal, 2 usage, 3 not found, 4 conflict, 5 broker\n"
               "unreachable, 6 function error, 7 function timed out, 8 throttled, 9 invalid\n");
    return rc;
}

int main(int argc, char **argv)
{
    cli c = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return top_usage(stdout, EXIT_OK);
        }
        if (i + 1 >= argc) {
            return top_usage(stderr, EXIT_USAGE);
        }
        if (strcmp(a, "--state") == 0) {
            c.state = argv[++i];
        } else if (strcmp(a, "--endpoint") == 0) {
            c.endpoint = argv[++i];
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            const char *o = argv[++i];
            if (strcmp(o, "json") != 0 && strcmp(o, "text") != 0) {
                return top_usage(stderr, EXIT_USAGE);
            }
            c.json = strcmp(o, "json") == 0;
        } else {
            return top_usage(stderr, EXIT_USAGE);
        }
    }
    if (i >= argc) {
        return top_usage(stderr, EXIT_USAGE);
    }
    const command *cmd = find_command(argv[i]);
    if (cmd == NULL) {
        fprintf(stderr, "lamina: unknown command '%s'\n", argv[i]);
        return top_usage(stderr, EXIT_USAGE);
    }
    if (wants_help(argc - i, argv + i) && strcmp(cmd->name, "test-pattern") != 0) {
        return print_help(cmd);
    }
    int rc = cmd->run(&c, argc - i, argv + i);
    lm_client_destroy(c.client);
    return rc;
}
