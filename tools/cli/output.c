/*
 * tools/cli/output.c — talking to the broker and printing its answers:
 * connect, call an op, print the reply as text or (-o json) as the
 * broker's JSON, print errors on stderr and map them to exit codes.
 *
 * Every verb prints through these, so the output rule of cli.h holds in
 * one place: results on stdout, one error line on stderr, and an exit code
 * from exit_for's table (the error code of lamina/client.h → EXIT_*; the
 * queue and topic codes 32-52 fall into the same classes: not found,
 * conflict, invalid).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int exit_for(int code)
{
    switch (code) {
    case LM_OK: return EXIT_OK;
    case LM_E_NOT_FOUND:
    case LM_E_QUEUE_DOES_NOT_EXIST:
    case LM_E_SNS_NOT_FOUND:
    case LM_E_PROVISIONED_NOT_FOUND: return EXIT_NOT_FOUND;
    case LM_E_CONFLICT:
    case LM_E_PRECONDITION_FAILED:
    case LM_E_IDEMPOTENT_MISMATCH:
    case LM_E_QUEUE_ALREADY_EXISTS:
    case LM_E_PURGE_IN_PROGRESS:
    case LM_E_RESOURCE_IN_USE:
    case LM_E_EV_ALREADY_EXISTS:
    case LM_E_EV_CONCURRENT: return EXIT_CONFLICT;
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
    case LM_E_TOPIC_LIMIT:
    /* streams: a bad argument, an iterator past its 5 minutes, a limit */
    case LM_E_STREAM_INVALID_ARGUMENT:
    case LM_E_EXPIRED_ITERATOR:
    case LM_E_LIMIT_EXCEEDED:
    case LM_E_EV_INVALID_PATTERN:
    case LM_E_EV_VALIDATION: return EXIT_INVALID;
    default: return EXIT_INTERNAL;
    }
}

int out_exit_for_type(const char *type, bool sender_fault)
{
    static const struct {
        int code;
        const char *type;
    } rows[] = {
#define ROW_(name, num, status, wire_type, msg) {num, wire_type},
        LM_ERROR_TABLE(ROW_)
#undef ROW_
    };
    for (size_t i = 1; i < sizeof(rows) / sizeof(rows[0]); i++) { /* 0 is Success */
        if (type != NULL && strcmp(rows[i].type, type) == 0) {
            return exit_for(rows[i].code);
        }
    }
    return sender_fault ? EXIT_INVALID : EXIT_INTERNAL;
}

int out_error(const cli *c, const lm_error *e)
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

int out_usage(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "lamina %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'lamina %s --help')\n", cmd);
    return EXIT_USAGE;
}

int out_connect(cli *c)
{
    lm_error e;
    if (lm_client_open(&c->client, c->state, c->endpoint, &e) != LM_OK) {
        return out_error(c, &e);
    }
    return EXIT_OK;
}

int out_request(cli *c, const char *op, const cJSON *args, cJSON **reply)
{
    *reply = NULL;
    int rc = out_connect(c);
    if (rc != EXIT_OK) {
        return rc;
    }
    char *a = args != NULL ? cJSON_PrintUnformatted(args) : NULL;
    char *r = NULL;
    lm_error e;
    int code_rc = lm_call(c->client, op, a, NULL, 0, &r, &e);
    free(a);
    if (code_rc != LM_OK) {
        return out_error(c, &e);
    }
    *reply = cJSON_Parse(r);
    if (*reply == NULL) {
        fprintf(stderr, "lamina: the broker's reply to %s is not JSON: %.200s\n", op, r);
        rc = EXIT_INTERNAL;
    }
    free(r);
    return rc;
}

void out_print(const cli *c, const cJSON *reply, void (*text)(const cJSON *reply))
{
    if (c->json || text == NULL) {
        char *pretty = cJSON_Print(reply);
        printf("%s\n", pretty != NULL ? pretty : "{}");
        free(pretty);
    } else {
        text(reply);
    }
}

/* Call op and print the reply: JSON as is, or through text(). */
int out_call(cli *c, const char *op, cJSON *args, const void *code, size_t len,
             void (*text)(const cJSON *reply))
{
    int rc = out_connect(c);
    if (rc != EXIT_OK) {
        return rc;
    }
    char *a = args != NULL ? cJSON_PrintUnformatted(args) : NULL;
    char *reply = NULL;
    lm_error e;
    int code_rc = lm_call(c->client, op, a, code, len, &reply, &e);
    free(a);
    if (code_rc != LM_OK) {
        return out_error(c, &e);
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

int out_call_name(cli *c, int argc, char **argv, const char *op, void (*text)(const cJSON *reply))
{
    if (argc != 2 || argv[1][0] == '-') {
        return out_usage(argv[0], "%s", "expects exactly one NAME");
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "FunctionName", argv[1]);
    int rc = out_call(c, op, args, NULL, 0, text);
    cJSON_Delete(args);
    return rc;
}

void out_nothing(const cJSON *reply)
{
    (void)reply;
}

const char *out_str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s != NULL ? s : "";
}

void out_config(const cJSON *cfg)
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

void out_fields(const cJSON *o, int width)
{
    for (const cJSON *v = o != NULL ? o->child : NULL; v != NULL; v = v->next) {
        if (cJSON_IsString(v)) {
            printf("%-*s %s\n", width, v->string, v->valuestring);
        } else if (cJSON_IsNumber(v)) {
            printf("%-*s %.15g\n", width, v->string, v->valuedouble);
        } else if (cJSON_IsBool(v)) {
            printf("%-*s %s\n", width, v->string, cJSON_IsTrue(v) ? "true" : "false");
        } else if (!cJSON_IsNull(v)) {
            char *s = cJSON_PrintUnformatted(v);
            printf("%-*s %s\n", width, v->string, s != NULL ? s : "");
            free(s);
        }
    }
}
