/*
 * tools/cli/invoke.c — `lamina invoke`: RequestResponse (the default),
 * Event (--async: prints the RequestId of the stored event, 202) or
 * DryRun, with the payload from the command line, a file (-f) or stdin
 * (-).  Text output: the log tail (--tail, decoded) on stderr, the payload
 * on stdout; -o json: Lambda's Invoke response as one JSON line.
 *
 * The exit code tells a function error (6) from a timeout (7) so scripts
 * need not parse the payload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

int cmd_invoke(cli *c, int argc, char **argv)
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
            rc = out_usage(argv[0], "option '%s' needs a value", a);
        } else if (strcmp(a, "--client-context") == 0) {
            p.client_context = argv[++i];
        } else if (strcmp(a, "--qualifier") == 0) {
            p.qualifier = argv[++i];
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "-") == 0) {
            FILE *f = a[1] == 'f' ? fopen(argv[++i], "rb") : stdin;
            if (f == NULL) {
                rc = out_usage(argv[0], "cannot open '%s'", argv[i]);
                break;
            }
            free(payload);
            payload = read_stream(f, &p.payload_len);
            if (f != stdin) {
                fclose(f);
            }
            p.payload = payload;
        } else if (a[0] == '-' && a[1] != '\0') {
            rc = out_usage(argv[0], "unknown option '%s'", a);
        } else if (p.function == NULL) {
            p.function = a;
        } else if (p.payload == NULL) {
            p.payload = a;
            p.payload_len = strlen(a);
        } else {
            rc = out_usage(argv[0], "unexpected argument '%s'", a);
        }
    }
    if (rc == EXIT_OK && p.function == NULL) {
        rc = out_usage(argv[0], "%s", "missing NAME");
    }
    if (rc == EXIT_OK) {
        rc = out_connect(c);
    }
    if (rc != EXIT_OK) {
        free(payload);
        return rc;
    }
    lm_invoke_result r;
    lm_error e;
    if (lm_invoke(c->client, &p, &r, &e) != LM_OK) {
        free(payload);
        return out_error(c, &e);
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
