/*
 * tools/cli/topics.c — `lamina topic …`: the broker's own topics, with
 * SNS's semantics and names (api ops topic-*, lamina/client.h):
 *
 *   create NAME    list    get NAME    delete NAME
 *   subscribe NAME --function FN | --queue Q [--raw] [--filter-policy JSON]
 *                  [--filter-scope attributes|body]
 *   unsubscribe SUBSCRIPTION_ARN    subscriptions NAME
 *   publish NAME MESSAGE|- [--subject S] [--attr K=TYPE:VALUE]...
 *
 * NAME is a topic's name or ARN (the broker resolves either, as TopicArn).
 * subscribe maps --function to Protocol "lambda" and --queue to "sqs" with
 * the name as given as the Endpoint, and --filter-scope to SNS's
 * FilterPolicyScope (attributes → MessageAttributes, body → MessageBody).
 * The CLI refuses locally (usage, exit 2) what it can tell is wrong
 * without the broker: both or neither of --function/--queue, --raw on a
 * function subscription (SNS delivers raw only to queues), a filter
 * policy that is not a JSON object, another scope; the rest (a policy the
 * filter engine refuses, sizes) is the broker's typed error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- text output ---- */

static void text_topic_arn(const cJSON *reply)
{
    printf("%-9s %s\n", "TopicArn", out_str(reply, "TopicArn"));
}

static void text_topic_list(const cJSON *reply)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(reply, "Topics");
    printf("%-40s %s\n", "TOPIC", "ARN");
    for (const cJSON *t = ts != NULL ? ts->child : NULL; t != NULL; t = t->next) {
        printf("%-40s %s\n", out_str(t, "Name"), out_str(t, "TopicArn"));
    }
}

static void text_topic_get(const cJSON *reply)
{
    out_fields(cJSON_GetObjectItemCaseSensitive(reply, "Attributes"), 24);
}

static void text_subscribed(const cJSON *reply)
{
    printf("%-16s %s\n", "SubscriptionArn", out_str(reply, "SubscriptionArn"));
}

static void text_subscriptions(const cJSON *reply)
{
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(reply, "Subscriptions");
    printf("%-8s %-24s %-5s %-10s %-60s %s\n", "PROTOCOL", "ENDPOINT", "RAW", "SCOPE",
           "SUBSCRIPTION ARN", "FILTER POLICY");
    for (const cJSON *s = ss != NULL ? ss->child : NULL; s != NULL; s = s->next) {
        const cJSON *raw = cJSON_GetObjectItemCaseSensitive(s, "RawMessageDelivery");
        bool is_raw =
            cJSON_IsTrue(raw) || (cJSON_IsString(raw) && strcmp(raw->valuestring, "true") == 0);
        const char *scope = out_str(s, "FilterPolicyScope");
        const char *policy = out_str(s, "FilterPolicy");
        printf("%-8s %-24s %-5s %-10s %-60s %s\n", out_str(s, "Protocol"), out_str(s, "Endpoint"),
               is_raw ? "yes" : "no", strcmp(scope, "MessageBody") == 0 ? "body" : "attributes",
               out_str(s, "SubscriptionArn"), policy[0] != '\0' ? policy : "-");
    }
}

static void text_published(const cJSON *reply)
{
    printf("%-9s %s\n", "MessageId", out_str(reply, "MessageId"));
}

/* ---- the sub-verbs: argv[0] is "topic SUB", argv[1] the operand ---- */

/* {key: argv[1]} */
static cJSON *operand_args(char **argv, const char *key)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, key, argv[1]);
    return args;
}

/* create, get, delete, subscriptions, unsubscribe: the operand only. */
static int topic_one(cli *c, int argc, char **argv, const char *op, const char *key,
                     void (*text)(const cJSON *))
{
    if (argc > 2) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[2]);
    }
    cJSON *args = operand_args(argv, key);
    int rc = out_call(c, op, args, NULL, 0, text);
    cJSON_Delete(args);
    return rc;
}

static int topic_create(cli *c, int argc, char **argv)
{
    return topic_one(c, argc, argv, "topic-create", "Name", text_topic_arn);
}

static int topic_get(cli *c, int argc, char **argv)
{
    return topic_one(c, argc, argv, "topic-get", "TopicArn", text_topic_get);
}

static int topic_delete(cli *c, int argc, char **argv)
{
    return topic_one(c, argc, argv, "topic-delete", "TopicArn", out_nothing);
}

static int topic_subscriptions(cli *c, int argc, char **argv)
{
    return topic_one(c, argc, argv, "topic-subscriptions", "TopicArn", text_subscriptions);
}

static int topic_unsubscribe(cli *c, int argc, char **argv)
{
    return topic_one(c, argc, argv, "topic-unsubscribe", "SubscriptionArn", out_nothing);
}

static int topic_list(cli *c, int argc, char **argv)
{
    if (argc > 1) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[1]);
    }
    cJSON *args = cJSON_CreateObject();
    int rc = out_call(c, "topic-list", args, NULL, 0, text_topic_list);
    cJSON_Delete(args);
    return rc;
}

/* The subscription's Attributes from --raw, --filter-policy and
 * --filter-scope (f[2..4]) into args; EXIT_OK or a usage error. */
static int subscription_attributes(cJSON *args, const args_flag *f, const char *cmd)
{
    cJSON *at = cJSON_CreateObject();
    int rc = EXIT_OK;
    if (f[2].value != NULL) {
        cJSON_AddStringToObject(at, "RawMessageDelivery", "true");
    }
    if (f[3].value != NULL) {
        cJSON *p = cJSON_ParseWithOpts(f[3].value, NULL, true);
        if (!cJSON_IsObject(p)) {
            rc = out_usage(cmd, "--filter-policy takes a JSON object, got '%s'", f[3].value);
        }
        cJSON_Delete(p);
        cJSON_AddStringToObject(at, "FilterPolicy", f[3].value);
    }
    if (rc == EXIT_OK && f[4].value != NULL) {
        const char *v = f[4].value;
        if (strcmp(v, "attributes") != 0 && strcmp(v, "body") != 0) {
            rc = out_usage(cmd, "--filter-scope takes attributes or body, not '%s'", v);
        }
        cJSON_AddStringToObject(at, "FilterPolicyScope",
                                strcmp(v, "body") == 0 ? "MessageBody" : "MessageAttributes");
    }
    if (rc == EXIT_OK && at->child != NULL) {
        cJSON_AddItemToObject(args, "Attributes", at);
        at = NULL;
    }
    cJSON_Delete(at);
    return rc;
}

/* subscribe NAME --function FN | --queue Q [--raw] [--filter-policy JSON]
 * [--filter-scope attributes|body] */
static int topic_subscribe(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "--function"},
                     {.flag = "--queue"},
                     {.flag = "--raw", .is_switch = true},
                     {.flag = "--filter-policy"},
                     {.flag = "--filter-scope"}};
    int rc = args_parse_flags(argc, argv, 2, f, 5);
    if (rc == EXIT_OK && (f[0].value == NULL) == (f[1].value == NULL)) {
        rc = out_usage(argv[0], "%s", "takes one endpoint: --function FN or --queue Q");
    } else if (rc == EXIT_OK && f[0].value != NULL && f[2].value != NULL) {
        rc = out_usage(argv[0], "%s", "--raw is for --queue subscriptions (as in SNS)");
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = operand_args(argv, "TopicArn");
    cJSON_AddStringToObject(args, "Protocol", f[0].value != NULL ? "lambda" : "sqs");
    cJSON_AddStringToObject(args, "Endpoint", f[0].value != NULL ? f[0].value : f[1].value);
    rc = subscription_attributes(args, f, argv[0]);
    if (rc == EXIT_OK) {
        rc = out_call(c, "topic-subscribe", args, NULL, 0, text_subscribed);
    }
    cJSON_Delete(args);
    return rc;
}

/* publish NAME MESSAGE|- [--subject S] [--attr K=TYPE:VALUE]... */
static int topic_publish(cli *c, int argc, char **argv)
{
    if (argc < 3 || (argv[2][0] == '-' && argv[2][1] == '-')) {
        return out_usage(argv[0], "%s", "missing MESSAGE (or - to read it from stdin)");
    }
    cJSON *attrs = cJSON_CreateArray();
    args_flag f[] = {{.flag = "--subject"}, {.flag = "--attr", .all = attrs}};
    int rc = args_parse_flags(argc, argv, 3, f, 2);
    cJSON *args = operand_args(argv, "TopicArn");
    if (rc == EXIT_OK) {
        rc = args_add_msg_attrs(args, attrs, argv[0]);
    }
    char *msg = NULL;
    if (rc == EXIT_OK && strcmp(argv[2], "-") == 0) {
        msg = args_read_path("-", argv[0], &rc);
    }
    if (rc == EXIT_OK) {
        cJSON_AddStringToObject(args, "Message", msg != NULL ? msg : argv[2]);
        if (f[0].value != NULL) {
            cJSON_AddStringToObject(args, "Subject", f[0].value);
        }
        rc = out_call(c, "topic-publish", args, NULL, 0, text_published);
    }
    free(msg);
    cJSON_Delete(args);
    cJSON_Delete(attrs);
    return rc;
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    command_fn run;
    const char *operand; /* NULL: none */
} topic_subs[] = {
    {"create", topic_create, "NAME"},
    {"list", topic_list, NULL},
    {"get", topic_get, "NAME"},
    {"delete", topic_delete, "NAME"},
    {"subscribe", topic_subscribe, "NAME"},
    {"unsubscribe", topic_unsubscribe, "SUBSCRIPTION_ARN"},
    {"subscriptions", topic_subscriptions, "NAME"},
    {"publish", topic_publish, "NAME"},
};

int cmd_topic(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t n = sizeof(topic_subs) / sizeof(topic_subs[0]), k = 0;
    while (k < n && strcmp(sub, topic_subs[k].name) != 0) {
        k++;
    }
    if (k == n) {
        return out_usage(argv[0],
                         "expects create|list|get|delete|subscribe|unsubscribe|subscriptions|"
                         "publish, got '%s'",
                         sub);
    }
    /* The sub-verb sees argv[0] = "topic SUB" and argv[1] = its operand. */
    char verb[48];
    snprintf(verb, sizeof(verb), "topic %s", sub);
    if (topic_subs[k].operand != NULL && (argc < 3 || argv[2][0] == '-')) {
        return out_usage(verb, "missing %s", topic_subs[k].operand);
    }
    argv[1] = verb;
    return topic_subs[k].run(c, argc - 1, argv + 1);
}
