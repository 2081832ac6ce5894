/*
 * tools/cli/main.c — `lamina`, the command-line client, built on the SDK's
 * client API (lamina/client.h).
 *
 *   lamina [--state DIR | --endpoint URL] [-o text|json] COMMAND [ARGS]
 *
 * Output: results on stdout (text, or one JSON object with -o json); errors
 * on stderr as one line (JSON with -o json).  Exit codes: 0 ok, 1 internal,
 * 2 usage, 3 not found, 4 conflict (409, or 412: a --revision-id that is no
 * longer current), 5 broker unreachable, 6 function error, 7 function timed
 * out, 8 throttled, 9 invalid request.
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
    EXIT_OK = 0,
    EXIT_INTERNAL = 1,
    EXIT_USAGE = 2,
    EXIT_NOT_FOUND = 3,
    EXIT_CONFLICT = 4,
    EXIT_UNREACHABLE = 5,
    EXIT_FUNCTION_ERROR = 6,
    EXIT_FUNCTION_TIMEOUT = 7,
    EXIT_THROTTLED = 8,
    EXIT_INVALID = 9
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
    case LM_E_NOT_FOUND:
    case LM_E_QUEUE_DOES_NOT_EXIST:
    case LM_E_SNS_NOT_FOUND: return EXIT_NOT_FOUND;
    case LM_E_CONFLICT:
    case LM_E_PRECONDITION_FAILED:
    case LM_E_QUEUE_ALREADY_EXISTS:
    case LM_E_PURGE_IN_PROGRESS: return EXIT_CONFLICT;
    case LM_E_UNREACHABLE:
    case LM_E_TIMEOUT:
    case LM_E_STOPPING: return EXIT_UNREACHABLE;
    case LM_E_THROTTLED: return EXIT_THROTTLED;
    case LM_E_INVALID_PARAMETER:
    case LM_E_INVALID_CONTENT:
    case LM_E_TOO_LARGE:
    case LM_E_MALFORMED:
    case LM_E_UNKNOWN_OP:
    case LM_E_PROTO_VERSION:
    /* queues and topics: the request itself is wrong (a stale or bad receipt
     * handle included) or asks past a limit */
    case LM_E_RECEIPT_HANDLE_INVALID:
    case LM_E_MQ_INVALID_PARAMETER:
    case LM_E_MQ_MISSING_PARAMETER:
    case LM_E_INVALID_ATTRIBUTE_NAME:
    case LM_E_INVALID_ATTRIBUTE_VALUE:
    case LM_E_MESSAGE_TOO_LONG:
    case LM_E_INVALID_MESSAGE_CONTENTS:
    case LM_E_MESSAGE_NOT_INFLIGHT:
    case LM_E_BATCH_IDS_NOT_DISTINCT:
    case LM_E_TOO_MANY_ENTRIES:
    case LM_E_EMPTY_BATCH:
    case LM_E_INVALID_BATCH_ENTRY_ID:
    case LM_E_BATCH_TOO_LONG:
    case LM_E_OVER_LIMIT:
    case LM_E_SNS_INVALID_PARAMETER:
    case LM_E_SUBSCRIPTION_LIMIT:
    case LM_E_TOPIC_LIMIT: return EXIT_INVALID;
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
    const char *keys[] = {"FunctionName", "Version",     "CodeSha256",   "CodeSize", "Timeout",
                          "MemorySize",   "Description", "LastModified", "State",    "RevisionId"};
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
        printf("%-14s %s=%s\n", "Environment", v->string, cJSON_IsString(v) ? v->valuestring : "");
    }
    const char *dl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cfg, "DeadLetterConfig"), "TargetArn"));
    if (dl != NULL) {
        printf("%-14s %s\n", "DeadLetter", dl);
    }
}

static void text_config(const cJSON *reply)
{
    print_config(reply);
}

static void text_get(const cJSON *reply)
{
    print_config(cJSON_GetObjectItemCaseSensitive(reply, "Configuration"));
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
                if (!text) {
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

static void text_nothing(const cJSON *reply)
{
    (void)reply;
}

static int cmd_get(cli *c, int argc, char **argv)
{
    return name_only(c, argc, argv, "get", text_get);
}
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
    if (r->executed_version[0] != '\0') {
        cJSON_AddStringToObject(o, "ExecutedVersion", r->executed_version);
    }
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
    } else if (r->payload != NULL && r->status != 204 && r->status != 202) {
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
        } else if (strcmp(a, "--async") == 0 || strcmp(a, "--event") == 0) {
            p.type = LM_INVOKE_EVENT;
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--client-context") == 0 ||
                    strcmp(a, "--qualifier") == 0) &&
                   i + 1 >= argc) {
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
    } else if (r.status == 202) {
        printf("%s\n", r.request_id); /* accepted: the request id, for the logs */
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

/* ---- versions and aliases ---- */

/* Options of the form --flag VALUE into a table; --env may repeat (into
 * vars when vars is non-NULL).  Returns EXIT_OK or a usage error. */
typedef struct opt {
    const char *flag;
    const char *value;
} opt;

static int parse_opts(int argc, char **argv, int from, opt *opts, size_t nopts, cJSON *vars)
{
    for (int i = from; i < argc; i += 2) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            return usage_error(
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
            if (parse_env(vars, argv[i + 1], argv[0]) != EXIT_OK) {
                return EXIT_USAGE;
            }
            known = true;
        }
        if (!known) {
            return usage_error(argv[0], "unknown option '%s'", a);
        }
    }
    return EXIT_OK;
}

static int add_int_opt(cJSON *args, const char *key, const char *v, const char *cmd)
{
    int n = 0;
    if (v == NULL) {
        return EXIT_OK;
    }
    if (parse_int_arg(v, &n) != 0) {
        return usage_error(cmd, "'%s' is not an integer", v);
    }
    cJSON_AddNumberToObject(args, key, n);
    return EXIT_OK;
}

/* --revision-id ID → RevisionId (the update happens only while the
 * function or alias is still at that revision). */
static void add_revision(cJSON *args, const char *id)
{
    if (id != NULL) {
        cJSON_AddStringToObject(args, "RevisionId", id);
    }
}

static int cmd_update_code(cli *c, int argc, char **argv)
{
    opt o[] = {{"--handler", NULL}, {"--revision-id", NULL}};
    if (argc < 2 || argv[1][0] == '-') {
        return usage_error(argv[0], "%s", "missing NAME");
    }
    int rc = parse_opts(argc, argv, 2, o, 2, NULL);
    if (rc == EXIT_OK && o[0].value == NULL) {
        rc = usage_error(argv[0], "%s", "--handler FILE.so is required");
    }
    void *code = NULL;
    size_t len = 0;
    lm_error e;
    if (rc == EXIT_OK && lm_read_file(o[0].value, &code, &len, &e) != LM_OK) {
        rc = report_error(c, &e);
    }
    if (rc == EXIT_OK) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "FunctionName", argv[1]);
        add_revision(args, o[1].value);
        rc = call_and_print(c, "update-code", args, code, len, text_config);
        cJSON_Delete(args);
    }
    free(code);
    return rc;
}

static int cmd_update_config(cli *c, int argc, char **argv)
{
    opt o[] = {{"--timeout", NULL},
               {"--memory", NULL},
               {"--description", NULL},
               {"--dead-letter", NULL},
               {"--revision-id", NULL}};
    if (argc < 2 || argv[1][0] == '-') {
        return usage_error(argv[0], "%s", "missing NAME");
    }
    cJSON *args = cJSON_CreateObject();
    cJSON *vars = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[1]);
    int rc = parse_opts(argc, argv, 2, o, 5, vars);
    add_revision(args, o[4].value);
    if (rc == EXIT_OK) {
        rc = add_int_opt(args, "Timeout", o[0].value, argv[0]);
    }
    if (rc == EXIT_OK) {
        rc = add_int_opt(args, "MemorySize", o[1].value, argv[0]);
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
        rc = call_and_print(c, "update-config", args, NULL, 0, text_config);
    }
    cJSON_Delete(vars);
    cJSON_Delete(args);
    return rc;
}

static int cmd_publish(cli *c, int argc, char **argv)
{
    opt o[] = {{"--description", NULL}, {"--code-sha256", NULL}, {"--revision-id", NULL}};
    if (argc < 2 || argv[1][0] == '-') {
        return usage_error(argv[0], "%s", "missing NAME");
    }
    int rc = parse_opts(argc, argv, 2, o, 3, NULL);
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
    add_revision(args, o[2].value);
    rc = call_and_print(c, "publish", args, NULL, 0, text_config);
    cJSON_Delete(args);
    return rc;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s != NULL ? s : "";
}

static void text_versions(const cJSON *reply)
{
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(reply, "Versions");
    printf("%-8s %-16s %7s %7s  %-28s  %s\n", "VERSION", "CODE SHA256", "MEMORY", "TIMEOUT",
           "LAST MODIFIED", "DESCRIPTION");
    for (const cJSON *v = vs != NULL ? vs->child : NULL; v != NULL; v = v->next) {
        printf("%-8s %-16.16s %7.0f %7.0f  %-28s  %s\n", str_of(v, "Version"),
               str_of(v, "CodeSha256"),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "MemorySize")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "Timeout")),
               str_of(v, "LastModified"), str_of(v, "Description"));
    }
}

static int cmd_versions(cli *c, int argc, char **argv)
{
    return name_only(c, argc, argv, "versions", text_versions);
}

static void print_alias_line(const cJSON *a)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(a, "RoutingConfig"), "AdditionalVersionWeights");
    char routing[64] = "-";
    if (w != NULL && w->child != NULL) {
        snprintf(routing, sizeof(routing), "%s=%g", w->child->string, w->child->valuedouble);
    }
    printf("%-24s %-8s %-16s %-36s %s\n", str_of(a, "Name"), str_of(a, "FunctionVersion"), routing,
           str_of(a, "RevisionId"), str_of(a, "Description"));
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
        return usage_error(cmd, "--weight takes VERSION=WEIGHT (e.g. 2=0.1), got '%s'", v);
    }
    char key[32];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
    cJSON_AddNumberToObject(w, key, d);
    return EXIT_OK;
}

static int alias_put(cli *c, int argc, char **argv, const char *op)
{
    opt o[] = {
        {"--version", NULL}, {"--weight", NULL}, {"--description", NULL}, {"--revision-id", NULL}};
    int rc = parse_opts(argc, argv, 4, o, 4, NULL);
    if (rc == EXIT_OK && o[3].value != NULL && strcmp(op, "alias-update") != 0) {
        rc = usage_error(argv[0], "%s", "--revision-id is for 'alias update' only");
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
    add_revision(args, o[3].value);
    if (o[1].value != NULL) {
        rc = add_weight(args, o[1].value, argv[0]);
    }
    if (rc == EXIT_OK && strcmp(op, "alias-create") == 0 && o[0].value == NULL) {
        rc = usage_error(argv[0], "%s", "--version V is required");
    }
    if (rc == EXIT_OK) {
        rc = call_and_print(c, op, args, NULL, 0, text_alias);
    }
    cJSON_Delete(args);
    return rc;
}

static int cmd_alias(cli *c, int argc, char **argv)
{
    static const char *subs[] = {"create", "update", "get", "list", "delete"};
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t k = 0;
    while (k < 5 && strcmp(sub, subs[k]) != 0) {
        k++;
    }
    if (k == 5) {
        return usage_error(argv[0], "expects create|update|get|list|delete, got '%s'", sub);
    }
    char op[32];
    snprintf(op, sizeof(op), "alias-%s", sub);
    int need = k == 3 ? 3 : 4; /* alias list NAME; the others NAME ALIAS */
    if (argc < need || argv[2][0] == '-' || (need == 4 && argv[3][0] == '-')) {
        return usage_error(argv[0], "%s", need == 3 ? "missing NAME" : "missing NAME or ALIAS");
    }
    if (k < 2) {
        return alias_put(c, argc, argv, op);
    }
    if (argc > need) {
        return usage_error(argv[0], "unexpected argument '%s'", argv[need]);
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[2]);
    if (need == 4) {
        cJSON_AddStringToObject(args, "Name", argv[3]);
    }
    int rc = call_and_print(c, op, args, NULL, 0,
                            k == 2 ? text_alias : (k == 3 ? text_aliases : text_nothing));
    cJSON_Delete(args);
    return rc;
}

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
        const char *s = str_of(d, "Destination");
        printf("%-26s %s\n", dests[i], s[0] != '\0' ? s : "-");
    }
}

/* event-config put|get|delete NAME [--max-retries N] [--max-age S]
 * [--on-success DEST] [--on-failure DEST] */
static int cmd_event_config(cli *c, int argc, char **argv)
{
    static const char *subs[] = {"put", "get", "delete"};
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t k = 0;
    while (k < 3 && strcmp(sub, subs[k]) != 0) {
        k++;
    }
    if (k == 3) {
        return usage_error(argv[0], "expects put|get|delete, got '%s'", sub);
    }
    if (argc < 3 || argv[2][0] == '-') {
        return usage_error(argv[0], "%s", "missing NAME");
    }
    opt o[] = {{"--max-retries", NULL},
               {"--max-age", NULL},
               {"--on-success", NULL},
               {"--on-failure", NULL}};
    int rc = k == 0     ? parse_opts(argc, argv, 3, o, 4, NULL)
             : argc > 3 ? usage_error(argv[0], "unexpected argument '%s'", argv[3])
                        : EXIT_OK;
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[2]);
    if (o[0].value != NULL) {
        rc = add_int_opt(args, "MaximumRetryAttempts", o[0].value, argv[0]);
    }
    if (rc == EXIT_OK && o[1].value != NULL) {
        rc = add_int_opt(args, "MaximumEventAgeInSeconds", o[1].value, argv[0]);
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
        rc = call_and_print(c, op, args, NULL, 0, k == 2 ? text_nothing : text_event_config);
    }
    cJSON_Delete(args);
    return rc;
}

static void text_event_wait(const cJSON *reply)
{
    printf("%-12s %s\n", "RequestId", str_of(reply, "RequestId"));
    printf("%-12s %s\n", "Status", str_of(reply, "Status"));
    const char *cond = str_of(reply, "Condition");
    printf("%-12s %s\n", "Condition", cond[0] != '\0' ? cond : "-");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(reply, "Destination");
    if (cJSON_IsObject(d)) {
        const char *dc = str_of(d, "Condition");
        printf("%-12s %s %s %s\n", "Destination", str_of(d, "RequestId"), str_of(d, "Status"),
               dc[0] != '\0' ? dc : "-");
    }
}

/* event-wait REQUEST_ID [--timeout S] */
static int cmd_event_wait(cli *c, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        return usage_error(argv[0], "%s", "missing REQUEST_ID");
    }
    opt o[] = {{"--timeout", NULL}};
    int rc = parse_opts(argc, argv, 2, o, 1, NULL);
    int seconds = 30;
    if (rc == EXIT_OK && o[0].value != NULL &&
        (parse_int_arg(o[0].value, &seconds) != 0 || seconds < 0 || seconds > 900)) {
        rc = usage_error(argv[0], "--timeout takes 0-900 seconds, not '%s'", o[0].value);
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "RequestId", argv[1]);
    cJSON_AddNumberToObject(args, "TimeoutMs", seconds * 1000.0);
    rc = call_and_print(c, "event-wait", args, NULL, 0, text_event_wait);
    cJSON_Delete(args);
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
    {"get", cmd_get, "get NAME[:QUALIFIER]", "lamina -o json get hello:7"},
    {"list", cmd_list, "list", "lamina list"},
    {"delete", cmd_delete, "delete NAME[:VERSION]", "lamina delete hello:3"},
    {"update-code", cmd_update_code, "update-code NAME --handler FILE.so [--revision-id ID]",
     "lamina update-code hello --handler ./hello.so\n"
     "  --revision-id ID: only if $LATEST's RevisionId (see 'lamina get') is still ID,\n"
     "  else 412 PreconditionFailedException (exit 4) and nothing changes"},
    {"update-config", cmd_update_config,
     "update-config NAME [--timeout S] [--memory MB] [--env K=V]... [--description T] "
     "[--dead-letter TARGET] [--revision-id ID]",
     "lamina update-config hello --timeout 10 --env GREETING=hey --dead-letter queue:failed"},
    {"publish", cmd_publish, "publish NAME [--description T] [--code-sha256 H] [--revision-id ID]",
     "lamina -o json publish hello --description 'first release'\n"
     "  --revision-id ID: only if $LATEST's RevisionId is still ID (else 412, exit 4)"},
    {"versions", cmd_versions, "versions NAME", "lamina versions hello"},
    {"alias", cmd_alias,
     "alias create|update|get|list|delete NAME ALIAS --version V [--weight V2=W|none] "
     "[--description T] [--revision-id ID (update)]",
     "lamina alias create hello live --version 1 --weight 2=0.1\n"
     "  lamina alias update hello live --version 2 --revision-id ID\n"
     "    (only if the alias's RevisionId is still ID, else 412, exit 4)"},
    {"invoke", cmd_invoke,
     "invoke NAME [PAYLOAD | -f FILE | -] [--qualifier Q] [--async | --dry-run] [--tail] "
     "[--client-context JSON]",
     "lamina invoke hello '{\"name\":\"Ada\"}' --tail\n"
     "  lamina invoke hello --async '{\"name\":\"Ada\"}'\n"
     "    --async (or --event): InvocationType Event. Prints the RequestId once the\n"
     "    event is stored (202); it runs in the background, retried and sent to\n"
     "    destinations as set with 'lamina event-config'"},
    {"event-config", cmd_event_config,
     "event-config put|get|delete NAME [--max-retries 0-2] [--max-age 60-21600] "
     "[--on-success FN] [--on-failure FN]",
     "lamina event-config put hello --max-retries 1 --on-failure hello-failures\n"
     "  async retries and destinations of NAME (put replaces the whole config;\n"
     "  destinations are Lamina functions: NAME, NAME:Q or function:NAME ARNs)"},
    {"event-wait", cmd_event_wait, "event-wait REQUEST_ID [--timeout 0-900]",
     "lamina event-wait 3f0c1e9a-... --timeout 60\n"
     "  waits until the async event is done: finished (Success, RetriesExhausted or\n"
     "  EventAgeExceeded) and its destination's run of the record finished too;\n"
     "  prints Status Pending with what is known if --timeout seconds pass first"},
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
               "exit codes: 0 ok, 1 internal, 2 usage, 3 not found, 4 conflict (409, or 412\n"
               "for a stale --revision-id), 5 broker unreachable, 6 function error, 7 function\n"
               "timed out, 8 throttled, 9 invalid\n");
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
