/*
 * tools/cli/queues.c — `lamina queue …`: the broker's own queues, with
 * SQS's semantics and names (api ops queue-*, lamina/client.h):
 *
 *   create NAME [attribute flags] [--fifo]     list [--prefix P]
 *   get NAME    set NAME [attribute flags]     purge NAME    delete NAME
 *   send NAME BODY|- [--delay S] [--attr K=TYPE:VALUE]... [--group G] [--dedup-id D]
 *   send-batch NAME -f FILE.jsonl|-            receive NAME [--max N] [--wait S] [--visibility S]
 *   delete-message NAME RECEIPT                change-visibility NAME RECEIPT S
 *
 * The CLI checks what it can without the broker (the shape of every flag,
 * the ranges of receive's and send's own parameters, the batch file: at
 * most 10 JSON objects) and answers those with a usage error (exit 2)
 * before connecting; the queue's attribute ranges (visibility 0-43200,
 * retention 60-1209600, …) are the broker's to check, so one table of
 * limits decides and its typed error (InvalidAttributeValue, exit 9)
 * reaches the user.  Attribute values travel as strings, as in SQS.
 *
 * A name ending in .fifo makes a FIFO queue even without --fifo (SQS would
 * refuse the name without FifoQueue "true"; the CLI adds it); --fifo with
 * another name is a usage error.  send-batch prints one line per entry and
 * exits with the class of the first failed entry's Code (exit 9 for
 * MessageTooLong, …) when any failed, after printing all results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define QUEUE_ARN_PREFIX "arn:lamina:sqs:local:000000000000:"
#define BATCH_MAX 10

/* The attribute flags of create and set; the index names the SQS
 * attribute (attr_names) of the integer ones. */
enum {
    QA_VISIBILITY,
    QA_RETENTION,
    QA_DELAY,
    QA_MAX_SIZE,
    QA_WAIT,
    QA_NINT, /* the integer attributes end here */
    QA_REDRIVE = QA_NINT,
    QA_DEDUP,
    QA_NO_DEDUP,
    QA_FIFO,
    QA_N
};

static const char *const attr_names[QA_NINT] = {"VisibilityTimeout", "MessageRetentionPeriod",
                                                "DelaySeconds", "MaximumMessageSize",
                                                "ReceiveMessageWaitTimeSeconds"};

/* ---- building arguments ---- */

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* v as an integer in [lo, hi] into *out, or a usage error naming flag. */
static int int_in(const char *v, int lo, int hi, int *out, const char *flag, const char *cmd)
{
    char msg[160];
    if (args_int(v, out) == 0 && *out >= lo && *out <= hi) {
        return EXIT_OK;
    }
    snprintf(msg, sizeof(msg), "%s takes an integer %d-%d, not '%%s'", flag, lo, hi);
    return out_usage(cmd, msg, v);
}

/* --redrive DLQ:MAXRECEIVES → SQS's RedrivePolicy JSON text; "none" (set
 * only) → "" (removes the policy).  DLQ is a queue name or ARN; the count
 * follows the last ':'.  *out is malloc'd. */
static int redrive_policy(const char *v, bool allow_none, const char *cmd, char **out)
{
    *out = NULL;
    if (strcmp(v, "none") == 0) {
        if (!allow_none) {
            return out_usage(cmd, "%s",
                             "--redrive none is for 'queue set' (it removes the policy)");
        }
        *out = strdup("");
        return EXIT_OK;
    }
    const char *colon = strrchr(v, ':');
    int n = 0;
    if (colon == NULL || colon == v || args_int(colon + 1, &n) != 0 || n < 1) {
        return out_usage(cmd, "--redrive takes DLQ:MAXRECEIVES (e.g. orders-dlq:5), got '%s'", v);
    }
    char arn[600];
    bool is_arn = strncmp(v, "arn:", 4) == 0;
    snprintf(arn, sizeof(arn), "%s%.*s", is_arn ? "" : QUEUE_ARN_PREFIX, (int)(colon - v), v);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "deadLetterTargetArn", arn);
    cJSON_AddNumberToObject(p, "maxReceiveCount", n);
    *out = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return EXIT_OK;
}

/* The given attribute flags into args.Attributes (left out when none). */
static int add_attributes(cJSON *args, const args_flag *f, bool set, const char *cmd)
{
    cJSON *at = cJSON_CreateObject();
    int rc = EXIT_OK;
    for (int i = 0; i < QA_NINT && rc == EXIT_OK; i++) {
        int n = 0;
        if (f[i].value == NULL) {
            continue;
        }
        if (args_int(f[i].value, &n) != 0 || n < 0) {
            rc = out_usage(cmd, "attribute values are whole numbers, not '%s'", f[i].value);
        } else {
            char num[16];
            snprintf(num, sizeof(num), "%d", n);
            cJSON_AddStringToObject(at, attr_names[i], num);
        }
    }
    char *redrive = NULL;
    if (rc == EXIT_OK && f[QA_REDRIVE].value != NULL) {
        rc = redrive_policy(f[QA_REDRIVE].value, set, cmd, &redrive);
    }
    if (redrive != NULL) {
        cJSON_AddStringToObject(at, "RedrivePolicy", redrive);
        free(redrive);
    }
    if (f[QA_DEDUP].value != NULL || f[QA_NO_DEDUP].value != NULL) {
        cJSON_AddStringToObject(at, "ContentBasedDeduplication",
                                f[QA_DEDUP].value != NULL ? "true" : "false");
    }
    if (f[QA_FIFO].value != NULL) {
        cJSON_AddStringToObject(at, "FifoQueue", "true");
    }
    if (rc == EXIT_OK && at->child != NULL) {
        cJSON_AddItemToObject(args, "Attributes", at);
        at = NULL;
    }
    cJSON_Delete(at);
    return rc;
}

/* ---- text output ---- */

static void text_queue_created(const cJSON *reply)
{
    printf("%-10s %s\n%-10s %s\n", "QueueName", out_str(reply, "QueueName"), "QueueArn",
           out_str(reply, "QueueArn"));
}

static void text_queue_list(const cJSON *reply)
{
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(reply, "Queues");
    printf("%-40s %s\n", "QUEUE", "ARN");
    for (const cJSON *q = qs != NULL ? qs->child : NULL; q != NULL; q = q->next) {
        printf("%-40s %s\n", out_str(q, "QueueName"), out_str(q, "QueueArn"));
    }
}

static void text_queue_get(const cJSON *reply)
{
    printf("%-38s %s\n", "QueueName", out_str(reply, "QueueName"));
    out_fields(cJSON_GetObjectItemCaseSensitive(reply, "Attributes"), 38);
}

static void text_fields(const cJSON *reply)
{
    out_fields(reply, 24);
}

static void text_batch(const cJSON *reply)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "Successful");
    const cJSON *bad = cJSON_GetObjectItemCaseSensitive(reply, "Failed");
    for (const cJSON *e = ok != NULL ? ok->child : NULL; e != NULL; e = e->next) {
        printf("ok      %-20s %s\n", out_str(e, "Id"), out_str(e, "MessageId"));
    }
    for (const cJSON *e = bad != NULL ? bad->child : NULL; e != NULL; e = e->next) {
        printf("failed  %-20s %s: %s\n", out_str(e, "Id"), out_str(e, "Code"),
               out_str(e, "Message"));
    }
}

static void text_messages(const cJSON *reply)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(reply, "Messages");
    for (const cJSON *m = ms != NULL ? ms->child : NULL; m != NULL; m = m->next) {
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(m, "Attributes");
        printf("%-15s %s\n%-15s %s\n", "MessageId", out_str(m, "MessageId"), "ReceiptHandle",
               out_str(m, "ReceiptHandle"));
        const char *keys[] = {"ApproximateReceiveCount", "MessageGroupId", "SequenceNumber"};
        const char *shown[] = {"ReceiveCount", "MessageGroupId", "SequenceNumber"};
        for (size_t i = 0; i < 3; i++) {
            const char *v = out_str(at, keys[i]);
            if (v[0] != '\0') {
                printf("%-15s %s\n", shown[i], v);
            }
        }
        const cJSON *ma = cJSON_GetObjectItemCaseSensitive(m, "MessageAttributes");
        for (const cJSON *a = ma != NULL ? ma->child : NULL; a != NULL; a = a->next) {
            const char *sv = out_str(a, "StringValue");
            printf("%-15s %s=%s:%s\n", "Attribute", a->string, out_str(a, "DataType"),
                   sv[0] != '\0' ? sv : out_str(a, "BinaryValue"));
        }
        printf("%-15s %s\n", "Body", out_str(m, "Body"));
        if (m->next != NULL) {
            printf("\n");
        }
    }
}

/* ---- the sub-verbs: argv[0] is "queue SUB", argv[1] the queue's name ---- */

/* {QueueName: argv[1]} */
static cJSON *name_args(char **argv)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "QueueName", argv[1]);
    return args;
}

/* create and set: the attribute flags (set: --redrive none and
 * --no-content-based-dedup; create: --fifo). */
static int queue_put(cli *c, int argc, char **argv, bool set)
{
    args_flag f[QA_N] = {[QA_VISIBILITY] = {.flag = "--visibility-timeout"},
                         [QA_RETENTION] = {.flag = "--retention"},
                         [QA_DELAY] = {.flag = "--delay"},
                         [QA_MAX_SIZE] = {.flag = "--max-message-size"},
                         [QA_WAIT] = {.flag = "--receive-wait"},
                         [QA_REDRIVE] = {.flag = "--redrive"},
                         [QA_DEDUP] = {.flag = "--content-based-dedup", .is_switch = true},
                         [QA_NO_DEDUP] = {.flag = "--no-content-based-dedup", .is_switch = true},
                         [QA_FIFO] = {.flag = "--fifo", .is_switch = true}};
    int rc = args_parse_flags(argc, argv, 2, f, QA_N);
    if (rc == EXIT_OK && set && f[QA_FIFO].value != NULL) {
        rc =
            out_usage(argv[0], "%s", "--fifo is for 'queue create' (a queue's type never changes)");
    } else if (rc == EXIT_OK && !set && f[QA_NO_DEDUP].value != NULL) {
        rc = out_usage(argv[0], "%s", "--no-content-based-dedup is for 'queue set'");
    } else if (rc == EXIT_OK && f[QA_DEDUP].value != NULL && f[QA_NO_DEDUP].value != NULL) {
        rc =
            out_usage(argv[0], "%s", "--content-based-dedup or --no-content-based-dedup, not both");
    } else if (rc == EXIT_OK && f[QA_FIFO].value != NULL && !ends_with(argv[1], ".fifo")) {
        rc = out_usage(argv[0], "--fifo: a FIFO queue's name ends in .fifo, not '%s'", argv[1]);
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    if (!set && ends_with(argv[1], ".fifo")) {
        f[QA_FIFO].value = "true";
    }
    cJSON *args = name_args(argv);
    rc = add_attributes(args, f, set, argv[0]);
    if (rc == EXIT_OK) {
        rc = out_call(c, set ? "queue-set" : "queue-create", args, NULL, 0,
                      set ? out_nothing : text_queue_created);
    }
    cJSON_Delete(args);
    return rc;
}

static int queue_create(cli *c, int argc, char **argv)
{
    return queue_put(c, argc, argv, false);
}

static int queue_set(cli *c, int argc, char **argv)
{
    return queue_put(c, argc, argv, true);
}

static int queue_list(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "--prefix"}};
    int rc = args_parse_flags(argc, argv, 1, f, 1);
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    if (f[0].value != NULL) {
        cJSON_AddStringToObject(args, "QueueNamePrefix", f[0].value);
    }
    rc = out_call(c, "queue-list", args, NULL, 0, text_queue_list);
    cJSON_Delete(args);
    return rc;
}

/* get, purge, delete: NAME and nothing else. */
static int queue_name_only(cli *c, int argc, char **argv, const char *op,
                           void (*text)(const cJSON *))
{
    if (argc > 2) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[2]);
    }
    cJSON *args = name_args(argv);
    if (strcmp(op, "queue-get") == 0) {
        cJSON_AddItemToObject(args, "AttributeNames",
                              cJSON_CreateStringArray((const char *[]){"All"}, 1));
    }
    int rc = out_call(c, op, args, NULL, 0, text);
    cJSON_Delete(args);
    return rc;
}

static int queue_get(cli *c, int argc, char **argv)
{
    return queue_name_only(c, argc, argv, "queue-get", text_queue_get);
}

static int queue_purge(cli *c, int argc, char **argv)
{
    return queue_name_only(c, argc, argv, "queue-purge", out_nothing);
}

static int queue_delete(cli *c, int argc, char **argv)
{
    return queue_name_only(c, argc, argv, "queue-delete", out_nothing);
}

/* send NAME BODY|- [--delay S] [--attr K=TYPE:VALUE]... [--group G] [--dedup-id D] */
static int queue_send(cli *c, int argc, char **argv)
{
    if (argc < 3 || (argv[2][0] == '-' && argv[2][1] == '-')) {
        return out_usage(argv[0], "%s", "missing BODY (or - to read it from stdin)");
    }
    cJSON *attrs = cJSON_CreateArray();
    args_flag f[] = {{.flag = "--delay"},
                     {.flag = "--attr", .all = attrs},
                     {.flag = "--group"},
                     {.flag = "--dedup-id"}};
    int rc = args_parse_flags(argc, argv, 3, f, 4);
    int delay = 0;
    if (rc == EXIT_OK && f[0].value != NULL) {
        rc = int_in(f[0].value, 0, 900, &delay, "--delay", argv[0]);
    }
    cJSON *args = name_args(argv);
    if (rc == EXIT_OK) {
        rc = args_add_msg_attrs(args, attrs, argv[0]);
    }
    char *body = NULL;
    if (rc == EXIT_OK && strcmp(argv[2], "-") == 0) {
        body = args_read_path("-", argv[0], &rc);
    }
    if (rc == EXIT_OK) {
        cJSON_AddStringToObject(args, "MessageBody", body != NULL ? body : argv[2]);
        if (f[0].value != NULL) {
            cJSON_AddNumberToObject(args, "DelaySeconds", delay);
        }
        if (f[2].value != NULL) {
            cJSON_AddStringToObject(args, "MessageGroupId", f[2].value);
        }
        if (f[3].value != NULL) {
            cJSON_AddStringToObject(args, "MessageDeduplicationId", f[3].value);
        }
        rc = out_call(c, "queue-send", args, NULL, 0, text_fields);
    }
    free(body);
    cJSON_Delete(args);
    cJSON_Delete(attrs);
    return rc;
}

/* The exit code of a batch reply: the class of the first failed entry,
 * after one line on stderr saying how many failed. */
static int batch_exit(const cli *c, const cJSON *reply)
{
    const cJSON *bad = cJSON_GetObjectItemCaseSensitive(reply, "Failed");
    int nbad = cJSON_GetArraySize(bad);
    if (nbad == 0) {
        return EXIT_OK;
    }
    const cJSON *first = bad->child;
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(first, "SenderFault");
    bool sender = cJSON_IsTrue(sf) || (cJSON_IsString(sf) && strcmp(sf->valuestring, "true") == 0);
    int total = nbad + cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reply, "Successful"));
    if (c->json) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%d of %d entries failed", nbad, total);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Type", out_str(first, "Code"));
        cJSON_AddStringToObject(o, "Message", msg);
        cJSON_AddNumberToObject(o, "Failed", nbad);
        char *line = cJSON_PrintUnformatted(o);
        fprintf(stderr, "%s\n", line != NULL ? line : "{}");
        free(line);
        cJSON_Delete(o);
    } else {
        fprintf(stderr, "lamina: %d of %d entries failed (first: %s %s)\n", nbad, total,
                out_str(first, "Id"), out_str(first, "Code"));
    }
    return out_exit_for_type(out_str(first, "Code"), sender);
}

/* send-batch NAME -f FILE.jsonl|- */
static int queue_send_batch(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "-f"}};
    int rc = args_parse_flags(argc, argv, 2, f, 1);
    if (rc == EXIT_OK && f[0].value == NULL) {
        rc = out_usage(argv[0], "%s", "missing -f FILE.jsonl (one entry a line, - for stdin)");
    }
    char *text = rc == EXIT_OK ? args_read_path(f[0].value, argv[0], &rc) : NULL;
    cJSON *entries = text != NULL ? args_jsonl(text, f[0].value, argv[0],
                                               &(args_jsonl_spec){
                                                   .max = BATCH_MAX,
                                                   .noun = "entries",
                                                   .one = "entry",
                                                   .shape = "{\"Id\":…,\"MessageBody\":…}",
                                               })
                                  : NULL;
    free(text);
    if (rc != EXIT_OK || entries == NULL) {
        return rc != EXIT_OK ? rc : EXIT_USAGE;
    }
    cJSON *args = name_args(argv);
    cJSON_AddItemToObject(args, "Entries", entries);
    cJSON *reply = NULL;
    rc = out_request(c, "queue-send-batch", args, &reply);
    if (rc == EXIT_OK) {
        out_print(c, reply, text_batch);
        rc = batch_exit(c, reply);
    }
    cJSON_Delete(reply);
    cJSON_Delete(args);
    return rc;
}

/* receive NAME [--max 1-10] [--wait 0-20] [--visibility 0-43200] */
static int queue_receive(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "--max"}, {.flag = "--wait"}, {.flag = "--visibility"}};
    static const char *const keys[] = {"MaxNumberOfMessages", "WaitTimeSeconds",
                                       "VisibilityTimeout"};
    static const int hi[] = {10, 20, 43200};
    int rc = args_parse_flags(argc, argv, 2, f, 3);
    cJSON *args = name_args(argv);
    for (int i = 0; i < 3 && rc == EXIT_OK; i++) {
        int n = 0;
        if (f[i].value != NULL) {
            rc = int_in(f[i].value, i == 0 ? 1 : 0, hi[i], &n, f[i].flag, argv[0]);
            cJSON_AddNumberToObject(args, keys[i], n);
        }
    }
    if (rc == EXIT_OK) {
        rc = out_call(c, "queue-receive", args, NULL, 0, text_messages);
    }
    cJSON_Delete(args);
    return rc;
}

/* delete-message NAME RECEIPT; change-visibility NAME RECEIPT S */
static int queue_receipt(cli *c, int argc, char **argv, bool change)
{
    int need = change ? 4 : 3, seconds = 0;
    if (argc < need) {
        return out_usage(argv[0], "%s", change ? "missing RECEIPT or SECONDS" : "missing RECEIPT");
    }
    if (argc > need) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[need]);
    }
    if (change && int_in(argv[3], 0, 43200, &seconds, "SECONDS", argv[0]) != EXIT_OK) {
        return EXIT_USAGE;
    }
    cJSON *args = name_args(argv);
    cJSON_AddStringToObject(args, "ReceiptHandle", argv[2]);
    if (change) {
        cJSON_AddNumberToObject(args, "VisibilityTimeout", seconds);
    }
    int rc = out_call(c, change ? "queue-change-visibility" : "queue-delete-message", args, NULL, 0,
                      out_nothing);
    cJSON_Delete(args);
    return rc;
}

static int queue_delete_message(cli *c, int argc, char **argv)
{
    return queue_receipt(c, argc, argv, false);
}

static int queue_change_visibility(cli *c, int argc, char **argv)
{
    return queue_receipt(c, argc, argv, true);
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    command_fn run;
    bool needs_name;
} queue_subs[] = {
    {"create", queue_create, true},
    {"list", queue_list, false},
    {"get", queue_get, true},
    {"set", queue_set, true},
    {"purge", queue_purge, true},
    {"delete", queue_delete, true},
    {"send", queue_send, true},
    {"send-batch", queue_send_batch, true},
    {"receive", queue_receive, true},
    {"delete-message", queue_delete_message, true},
    {"change-visibility", queue_change_visibility, true},
};

int cmd_queue(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t n = sizeof(queue_subs) / sizeof(queue_subs[0]), k = 0;
    while (k < n && strcmp(sub, queue_subs[k].name) != 0) {
        k++;
    }
    if (k == n) {
        return out_usage(argv[0],
                         "expects create|list|get|set|purge|delete|send|send-batch|receive|"
                         "delete-message|change-visibility, got '%s'",
                         sub);
    }
    /* The sub-verb sees argv[0] = "queue SUB" (its messages name it) and
     * argv[1] = NAME. */
    char verb[48];
    snprintf(verb, sizeof(verb), "queue %s", sub);
    if (queue_subs[k].needs_name && (argc < 3 || argv[2][0] == '-')) {
        return out_usage(verb, "%s", "missing NAME");
    }
    argv[1] = verb;
    return queue_subs[k].run(c, argc - 1, argv + 1);
}
