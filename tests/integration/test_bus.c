/*
 * Integration: EventBridge-style event buses (issue 13) through the real
 * api socket: the default bus and custom buses, rules with event patterns,
 * targets (queue and function), PutEvents with per-entry results, the
 * envelope field by field, Input, and the typed errors.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "harness.h"

static int fails(lt_broker *b, const char *op, const char *args)
{
    lm_error e;
    int rc = lt_call(b, op, args, NULL, &e);
    cr_assert_neq(rc, LM_OK, "%s %s should fail", op, args);
    return rc;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsString(v), "no string %s", key);
    return v->valuestring;
}

/* The bodies of every message in q (no wait), as a JSON array. */
static cJSON *drain(lt_broker *b, const char *q)
{
    cJSON *r = lt_ok(b, "queue-receive",
                     "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":0}", q);
    cJSON *bodies = cJSON_CreateArray();
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(r, "Messages"))
    {
        cJSON_AddItemToArray(bodies, cJSON_CreateString(str(m, "Body")));
    }
    cJSON_Delete(r);
    return bodies;
}

static int64_t bus_stat(lt_broker *b, const char *key);
static char *tail_cursor(lt_broker *b, const char *bus);

/* PutTargets answers OK and leaves out just target id, with code. */
static void target_refused(lt_broker *b, const char *id, const char *code, const char *args)
{
    cJSON *r = lt_ok(b, "rule-targets-put", "%s", args);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 1, "%s", args);
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "FailedEntries"), 0);
    cr_assert_str_eq(str(f, "TargetId"), id);
    cr_assert_str_eq(str(f, "ErrorCode"), code);
    cr_assert(str(f, "ErrorMessage")[0] != '\0');
    cJSON_Delete(r);
}

static void rule_to_queue(lt_broker *b, const char *bus, const char *rule, const char *pattern,
                          const char *queue, const char *extra)
{
    cJSON_Delete(lt_ok(b, "rule-put",
                       "{\"Name\":\"%s\",\"EventBusName\":\"%s\",\"EventPattern\":%s}", rule, bus,
                       pattern));
    cJSON_Delete(lt_ok(b, "rule-targets-put",
                       "{\"Rule\":\"%s\",\"EventBusName\":\"%s\",\"Targets\":[{\"Id\":\"t1\","
                       "\"Arn\":\"arn:aws:sqs:us-east-1:123456789012:%s\"%s}]}",
                       rule, bus, queue, extra));
}

Test(bus, default_bus_exists_and_custom_buses_come_and_go, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON *l = lt_ok(&b, "bus-list", "{}");
    cJSON *buses = cJSON_GetObjectItemCaseSensitive(l, "EventBuses");
    cr_assert_eq(cJSON_GetArraySize(buses), 1);
    cr_assert_str_eq(str(cJSON_GetArrayItem(buses, 0), "Name"), "default");
    cr_assert_str_eq(str(cJSON_GetArrayItem(buses, 0), "Arn"),
                     "arn:lamina:events:local:000000000000:event-bus/default");
    cJSON_Delete(l);
    cJSON *c = lt_ok(&b, "bus-create", "{\"Name\":\"orders\"}");
    cr_assert_str_eq(str(c, "EventBusArn"),
                     "arn:lamina:events:local:000000000000:event-bus/orders");
    cJSON_Delete(c);
    cr_assert_eq(fails(&b, "bus-create", "{\"Name\":\"orders\"}"), LM_E_EV_ALREADY_EXISTS);
    cr_assert_eq(fails(&b, "bus-create", "{\"Name\":\"bad name\"}"), LM_E_EV_VALIDATION);
    cr_assert_eq(fails(&b, "bus-delete", "{\"Name\":\"default\"}"), LM_E_EV_VALIDATION);
    cJSON_Delete(lt_ok(&b, "bus-delete", "{\"Name\":\"orders\"}"));
    cr_assert_eq(fails(&b, "bus-delete", "{\"Name\":\"orders\"}"), LM_E_NOT_FOUND);
    l = lt_ok(&b, "bus-list", "{}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "EventBuses")), 1);
    cJSON_Delete(l);
    lt_broker_stop(&b, false);
}

Test(bus, a_matching_rule_delivers_the_envelope_to_a_queue, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"shop\"}"));
    rule_to_queue(&b, "default", "shop-orders",
                  "\"{\\\"source\\\":[\\\"shop\\\"],\\\"detail\\\":{\\\"n\\\":[{\\\"numeric\\\":"
                  "[\\\">\\\",5]}]}}\"",
                  "shop", "");
    cJSON *r =
        lt_ok(&b, "bus-put-events",
              "{\"Entries\":["
              "{\"Source\":\"shop\",\"DetailType\":\"Order Placed\","
              "\"Detail\":\"{\\\"n\\\":7,\\\"who\\\":\\\"ann\\\"}\",\"Resources\":[\"r:1\"]},"
              "{\"Source\":\"shop\",\"DetailType\":\"Order Placed\",\"Detail\":\"{\\\"n\\\":3}\"},"
              "{\"Source\":\"other\",\"DetailType\":\"X\",\"Detail\":\"{\\\"n\\\":9}\"},"
              "{\"Source\":\"shop\",\"DetailType\":\"X\",\"Detail\":\"[1]\"},"
              "{\"Source\":\"shop\",\"DetailType\":\"X\",\"Detail\":\"{}\","
              "\"EventBusName\":\"nowhere\"},"
              "{\"Source\":\"shop\",\"DetailType\":\"X\",\"Detail\":\"{\\\"n\\\":\"}]}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 3);
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(r, "Entries");
    cr_assert_eq(cJSON_GetArraySize(en), 6);
    /* the parser's own reason, said once (it was once formatted into itself) */
    const char *why = str(cJSON_GetArrayItem(en, 5), "ErrorMessage");
    cr_assert(strncmp(why, "Detail is not valid JSON", 24) == 0 &&
                  strstr(why + 1, "Detail") == NULL,
              "%s", why);
    const char *id = str(cJSON_GetArrayItem(en, 0), "EventId");
    cr_assert_eq(strlen(id), 36);
    cr_assert_str_eq(str(cJSON_GetArrayItem(en, 3), "ErrorCode"), "ValidationException");
    cr_assert_str_eq(str(cJSON_GetArrayItem(en, 4), "ErrorCode"), "ResourceNotFoundException");
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(en, 3), "EventId"));
    cJSON *bodies = drain(&b, "shop");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1, "only the matching event is delivered");
    cJSON *ev = cJSON_Parse(cJSON_GetArrayItem(bodies, 0)->valuestring);
    cr_assert_not_null(ev);
    cr_assert_str_eq(str(ev, "version"), "0");
    cr_assert_str_eq(str(ev, "id"), id);
    cr_assert_str_eq(str(ev, "detail-type"), "Order Placed");
    cr_assert_str_eq(str(ev, "source"), "shop");
    cr_assert_str_eq(str(ev, "account"), "000000000000");
    cr_assert_str_eq(str(ev, "region"), "local");
    const char *t = str(ev, "time");
    cr_assert_eq(strlen(t), 20, "RFC 3339 without ms: %s", t);
    cr_assert(t[4] == '-' && t[10] == 'T' && t[19] == 'Z', "time %s", t);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(ev, "resources");
    cr_assert_eq(cJSON_GetArraySize(res), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(res, 0)->valuestring, "r:1");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "detail");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(d, "n")->valueint, 7);
    cr_assert_str_eq(str(d, "who"), "ann");
    cJSON_Delete(ev);
    cJSON_Delete(bodies);
    cJSON_Delete(r);
    /* a deleted rule delivers nothing more (the bus's cache is rebuilt) */
    /* EventBridge refuses to delete a rule that has targets, unless forced */
    lm_error de;
    cr_assert_eq(lt_call(&b, "rule-delete", "{\"Name\":\"shop-orders\"}", NULL, &de),
                 LM_E_EV_VALIDATION);
    cr_assert_str_eq(de.message, "Rule can't be deleted since it has targets.");
    cr_assert_eq(fails(&b, "rule-delete", "{\"Name\":\"shop-orders\",\"Force\":\"yes\"}"),
                 LM_E_EV_VALIDATION);
    cJSON_Delete(lt_ok(&b, "rule-delete", "{\"Name\":\"shop-orders\",\"Force\":true}"));
    cJSON_Delete(lt_ok(&b, "bus-put-events",
                       "{\"Entries\":[{\"Source\":\"shop\",\"DetailType\":\"X\","
                       "\"Detail\":\"{\\\"n\\\":70}\"}]}"));
    bodies = drain(&b, "shop");
    cr_assert_eq(cJSON_GetArraySize(bodies), 0, "a deleted rule still matched");
    cJSON_Delete(bodies);
    lt_broker_stop(&b, false);
}

Test(bus, custom_bus_input_and_disabled_rules, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"q\"}"));
    cJSON_Delete(lt_ok(&b, "bus-create", "{\"Name\":\"app\"}"));
    rule_to_queue(&b, "app", "all", "\"{\\\"source\\\":[{\\\"prefix\\\":\\\"a\\\"}]}\"", "q",
                  ",\"Input\":\"{\\\"fixed\\\":true}\"");
    const char *put = "{\"Entries\":[{\"Source\":\"abc\",\"DetailType\":\"X\",\"Detail\":\"{}\","
                      "\"EventBusName\":\"arn:aws:events:us-east-1:1:event-bus/app\"}]}";
    cJSON_Delete(lt_ok(&b, "bus-put-events", "%s", put));
    /* the same event on the default bus matches no rule there */
    cJSON_Delete(
        lt_ok(&b, "bus-put-events",
              "{\"Entries\":[{\"Source\":\"abc\",\"DetailType\":\"X\",\"Detail\":\"{}\"}]}"));
    cJSON *bodies = drain(&b, "q");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(bodies, 0)->valuestring, "{\"fixed\":true}");
    cJSON_Delete(bodies);
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"all\",\"EventBusName\":\"app\",\"State\":\"DISABLED\","
                       "\"EventPattern\":\"{\\\"source\\\":[{\\\"prefix\\\":\\\"a\\\"}]}\"}"));
    cJSON_Delete(lt_ok(&b, "bus-put-events", "%s", put));
    bodies = drain(&b, "q");
    cr_assert_eq(cJSON_GetArraySize(bodies), 0, "a disabled rule matched");
    cJSON_Delete(bodies);
    lt_broker_stop(&b, false);
}

Test(bus, typed_errors_for_patterns_targets_and_requests, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cr_assert_eq(fails(&b, "rule-put", "{\"Name\":\"r\",\"EventPattern\":\"{\\\"a\\\":1}\"}"),
                 LM_E_EV_INVALID_PATTERN);
    cr_assert_eq(fails(&b, "rule-put", "{\"Name\":\"r\",\"EventPattern\":\"nope\"}"),
                 LM_E_EV_INVALID_PATTERN);
    cr_assert_eq(fails(&b, "rule-put", "{\"Name\":\"r r\",\"EventPattern\":\"{}\"}"),
                 LM_E_EV_VALIDATION);
    cr_assert_eq(fails(&b, "rule-put",
                       "{\"Name\":\"r\",\"EventBusName\":\"ghost\",\"EventPattern\":"
                       "\"{\\\"a\\\":[1]}\"}"),
                 LM_E_NOT_FOUND);
    cJSON_Delete(lt_ok(&b, "rule-put", "{\"Name\":\"r\",\"EventPattern\":\"{\\\"a\\\":[1]}\"}"));
    cr_assert_eq(fails(&b, "rule-targets-put",
                       "{\"Rule\":\"ghost\",\"Targets\":[{\"Id\":\"a\",\"Arn\":\"fn\"}]}"),
                 LM_E_NOT_FOUND);
    char six[1024] = "{\"Rule\":\"r\",\"Targets\":[";
    for (int i = 0; i < 6; i++) {
        char one[64];
        snprintf(one, sizeof(one), "%s{\"Id\":\"t%d\",\"Arn\":\"fn\"}", i ? "," : "", i);
        strcat(six, one);
    }
    strcat(six, "]}");
    cr_assert_eq(fails(&b, "rule-targets-put", six), LM_E_EV_VALIDATION);
    for (int i = 0; i < 5; i++) {
        cJSON_Delete(lt_ok(&b, "rule-targets-put",
                           "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"t%d\",\"Arn\":\"fn\"}]}", i));
    }
    cr_assert_eq(fails(&b, "rule-targets-put",
                       "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"t9\",\"Arn\":\"fn\"}]}"),
                 LM_E_LIMIT_EXCEEDED);
    target_refused(&b, "t0", "ValidationException",
                   "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"t0\",\"Arn\":\"fn\","
                   "\"Input\":\"not json\"}]}");
    cr_assert_eq(fails(&b, "bus-put-events", "{\"Entries\":[]}"), LM_E_EV_VALIDATION);
    char eleven[2048] = "{\"Entries\":[";
    for (int i = 0; i < 11; i++) {
        strcat(eleven, i ? ",{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"}"
                         : "{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"}");
    }
    strcat(eleven, "]}");
    cr_assert_eq(fails(&b, "bus-put-events", eleven), LM_E_EV_VALIDATION);
    lt_broker_stop(&b, false);
}

/* A function target gets the envelope as its async event: the function's
 * on-success destination (a queue) shows the request payload it ran. */
Test(bus, a_function_target_is_invoked_async_with_the_envelope, .timeout = 120)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "hello", "echo", NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"done\"}"));
    cJSON_Delete(lt_ok(&b, "event-config-put",
                       "{\"FunctionName\":\"hello\",\"DestinationConfig\":{\"OnSuccess\":"
                       "{\"Destination\":\"queue:done\"}}}"));
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"fn\",\"EventPattern\":"
                       "\"{\\\"detail-type\\\":[\\\"Ping\\\"]}\"}"));
    cJSON_Delete(lt_ok(&b, "rule-targets-put",
                       "{\"Rule\":\"fn\",\"Targets\":[{\"Id\":\"f\",\"Arn\":"
                       "\"arn:aws:lambda:us-east-1:123456789012:function:hello\"}]}"));
    cJSON *r = lt_ok(&b, "bus-put-events",
                     "{\"Entries\":[{\"Source\":\"t\",\"DetailType\":\"Ping\","
                     "\"Detail\":\"{\\\"k\\\":42}\"}]}");
    const char *id =
        str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Entries"), 0), "EventId");
    cJSON *m = lt_ok(&b, "queue-receive", "{\"QueueName\":\"done\",\"WaitTimeSeconds\":20}");
    cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "Messages"), 0);
    cr_assert_not_null(msg, "the function never ran");
    cJSON *rec = cJSON_Parse(str(msg, "Body"));
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(rec, "requestPayload");
    cr_assert_str_eq(str(payload, "id"), id);
    cr_assert_str_eq(str(payload, "detail-type"), "Ping");
    cr_assert_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(payload, "detail"), "k")
            ->valueint,
        42);
    cJSON_Delete(rec);
    cJSON_Delete(m);
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

/* ---- the CLI against a real broker ---- */

static const char *cli_bin(void)
{
    const char *p = getenv("LAMINA_CLI_BIN");
    return p != NULL ? p : "build/tools/lamina";
}

#define CLI(b, out, err, ...)                                 \
    ({                                                        \
        const char *argv_[] = {cli_bin(), __VA_ARGS__, NULL}; \
        lt_run(b, argv_, out, err);                           \
    })

/* rc of a CLI run whose output went to *out and *err (read after the run:
 * pointers, since argument evaluation order is unspecified). */
static void cli_ok(lt_broker *b, int rc, char **out, char **err)
{
    (void)b;
    cr_assert_eq(rc, 0, "exit %d: %s %s", rc, *out, *err);
    free(*out);
    free(*err);
    *out = *err = NULL;
}

Test(bus, cli_tour_bus_rule_target_put_events_and_exit_codes, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    char *out = NULL, *err = NULL;
    cli_ok(&b, CLI(&b, &out, &err, "queue", "create", "orders"), &out, &err);
    cli_ok(&b, CLI(&b, &out, &err, "bus", "create", "app"), &out, &err);
    cli_ok(&b,
           CLI(&b, &out, &err, "rule", "put", "o", "--bus", "app", "--pattern",
               "{\"source\":[\"shop\"]}"),
           &out, &err);
    cli_ok(&b,
           CLI(&b, &out, &err, "rule", "targets", "put", "o", "--bus", "app", "--target",
               "q=arn:aws:sqs:x:1:orders"),
           &out, &err);
    int rc = CLI(&b, &out, &err, "bus", "put-events", "--bus", "app", "--entry",
                 "{\"Source\":\"shop\",\"DetailType\":\"Order\",\"Detail\":{\"n\":1}}");
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(strlen(out), 37, "one EventId line: %s", out);
    free(out);
    free(err);
    cJSON *bodies = drain(&b, "orders");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1);
    cJSON_Delete(bodies);
    /* exit classes: a failed entry is invalid (9), an existing bus a conflict (4),
     * a missing rule not found (3) */
    rc = CLI(&b, &out, &err, "bus", "put-events", "--entry",
             "{\"Source\":\"shop\",\"DetailType\":\"Order\",\"Detail\":\"[1]\"}");
    cr_assert_eq(rc, 9, "%s %s", out, err);
    cr_assert_not_null(strstr(err, "ValidationException"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "create", "app"), 4, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "rule", "delete", "ghost"), 3, "%s", err);
    free(out);
    free(err);
    cli_ok(&b,
           CLI(&b, &out, &err, "rule", "targets", "put", "o", "--bus", "app", "--target",
               "q=arn:aws:sqs:x:1:orders", "--input-transformer", "{\"n\":\"$.detail.n\"}",
               "{\"count\":<n>}"),
           &out, &err);
    cli_ok(&b,
           CLI(&b, &out, &err, "bus", "put-events", "--bus", "app", "--entry",
               "{\"Source\":\"shop\",\"DetailType\":\"Order\",\"Detail\":{\"n\":5}}"),
           &out, &err);
    bodies = drain(&b, "orders");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(bodies, 0)->valuestring, "{\"count\":5}");
    cJSON_Delete(bodies);
    cli_ok(&b,
           CLI(&b, &out, &err, "rule", "targets", "put", "o", "--bus", "app", "--target",
               "d=arn:aws:sqs:x:1:orders", "--max-retries", "0", "--max-age", "60", "--dlq",
               "arn:aws:sqs:x:1:orders"),
           &out, &err);
    cr_assert_eq(CLI(&b, &out, &err, "-o", "json", "rule", "targets", "list", "o", "--bus", "app"),
                 0, "%s", err);
    cr_assert_not_null(strstr(out, "\"d\""), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "rule", "targets", "put", "o", "--bus", "app", "--target",
                     "e=arn:aws:sqs:x:1:orders", "--max-retries", "999"),
                 9, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "rule", "put", "x"), 2, "%s", err);
    free(out);
    free(err);
    lt_broker_stop(&b, false);
}

Test(bus, input_path_and_input_transformer_shape_what_a_queue_gets, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"p\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"t\"}"));
    rule_to_queue(&b, "default", "path", "\"{\\\"source\\\":[\\\"shop\\\"]}\"", "p",
                  ",\"InputPath\":\"$.detail.items[1]\"");
    rule_to_queue(&b, "default", "tr", "\"{\\\"source\\\":[\\\"shop\\\"]}\"", "t",
                  ",\"InputTransformer\":{\"InputPathsMap\":{\"who\":\"$.detail.who\","
                  "\"n\":\"$.detail.n\",\"dt\":\"$.detail-type\",\"gone\":\"$.detail.nope\"},"
                  "\"InputTemplate\":\"{\\\"msg\\\":\\\"<who> ordered <n> (<dt>)\\\","
                  "\\\"who\\\":<who>,\\\"n\\\":<n>,\\\"gone\\\":<gone>,"
                  "\\\"rule\\\":\\\"<aws.events.rule-name>\\\"}\"}");
    cJSON_Delete(lt_ok(&b, "bus-put-events",
                       "{\"Entries\":[{\"Source\":\"shop\",\"DetailType\":\"Order\","
                       "\"Detail\":\"{\\\"who\\\":\\\"a \\\\\\\"b\\\\\\\"\\\",\\\"n\\\":3,"
                       "\\\"items\\\":[{\\\"x\\\":1},{\\\"x\\\":2}]}\"}]}"));
    cJSON *bodies = drain(&b, "p");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(bodies, 0)->valuestring, "{\"x\":2}");
    cJSON_Delete(bodies);
    bodies = drain(&b, "t");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1);
    const char *body = cJSON_GetArrayItem(bodies, 0)->valuestring;
    cJSON *o = cJSON_Parse(body);
    cr_assert_not_null(o, "the transformed input is not JSON: %s", body);
    cr_assert_str_eq(str(o, "msg"), "a \"b\" ordered 3 (Order)", "%s", body);
    cr_assert_str_eq(str(o, "who"), "a \"b\"");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(o, "n")->valueint, 3);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "gone")), "%s", body);
    cr_assert_str_eq(str(o, "rule"), "tr");
    cJSON_Delete(o);
    cJSON_Delete(bodies);
    target_refused(&b, "x", "ValidationException",
                   "{\"Rule\":\"tr\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"fn\","
                   "\"InputPath\":\"detail\"}]}");
    target_refused(&b, "x", "ValidationException",
                   "{\"Rule\":\"tr\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"fn\","
                   "\"Input\":\"{}\",\"InputPath\":\"$\"}]}");
    lt_broker_stop(&b, false);
}

static int receive_n(lt_broker *b, const char *q)
{
    cJSON *bodies = drain(b, q);
    int n = cJSON_GetArraySize(bodies);
    cJSON_Delete(bodies);
    return n;
}

Test(bus, topic_and_bus_targets_and_the_hop_limit_on_a_loop, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"viatopic\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"viabus\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"looped\"}"));
    cJSON_Delete(lt_ok(&b, "topic-create", "{\"Name\":\"news\"}"));
    cJSON_Delete(lt_ok(&b, "topic-subscribe",
                       "{\"TopicArn\":\"news\",\"Protocol\":\"sqs\",\"Endpoint\":\"viatopic\"}"));
    cJSON_Delete(lt_ok(&b, "bus-create", "{\"Name\":\"app\"}"));
    cJSON_Delete(lt_ok(&b, "bus-create", "{\"Name\":\"loop\"}"));
    /* default: to the topic and to bus app; app: to a queue */
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"fan\",\"EventPattern\":"
                       "\"{\\\"source\\\":[\\\"x\\\"]}\"}"));
    cJSON_Delete(lt_ok(&b, "rule-targets-put",
                       "{\"Rule\":\"fan\",\"Targets\":["
                       "{\"Id\":\"t\",\"Arn\":\"arn:aws:sns:us-east-1:1:news\"},"
                       "{\"Id\":\"b\",\"Arn\":\"arn:aws:events:us-east-1:1:event-bus/app\"}]}"));
    rule_to_queue(&b, "app", "in", "\"{\\\"source\\\":[\\\"x\\\"]}\"", "viabus", "");
    cJSON *r = lt_ok(&b, "bus-put-events",
                     "{\"Entries\":[{\"Source\":\"x\",\"DetailType\":\"d\",\"Detail\":\"{}\"}]}");
    const char *id =
        str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Entries"), 0), "EventId");
    cJSON *bodies = drain(&b, "viatopic");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1);
    cJSON *note = cJSON_Parse(cJSON_GetArrayItem(bodies, 0)->valuestring);
    cr_assert_str_eq(str(note, "Type"), "Notification");
    cJSON *ev = cJSON_Parse(str(note, "Message"));
    cr_assert_str_eq(str(ev, "id"), id, "the topic got the envelope");
    cJSON_Delete(ev);
    cJSON_Delete(note);
    cJSON_Delete(bodies);
    bodies = drain(&b, "viabus");
    cr_assert_eq(cJSON_GetArraySize(bodies), 1, "the event did not reach bus app's rule");
    ev = cJSON_Parse(cJSON_GetArrayItem(bodies, 0)->valuestring);
    cr_assert_str_eq(str(ev, "id"), id, "the bus target keeps the event's id");
    cJSON_Delete(ev);
    cJSON_Delete(bodies);
    cJSON_Delete(r);
    /* a bus that targets itself: delivered once per hop, then stopped */
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"self\",\"EventBusName\":\"loop\","
                       "\"EventPattern\":\"{\\\"source\\\":[\\\"x\\\"]}\"}"));
    cJSON_Delete(lt_ok(&b, "rule-targets-put",
                       "{\"Rule\":\"self\",\"EventBusName\":\"loop\",\"Targets\":["
                       "{\"Id\":\"again\",\"Arn\":\"arn:lamina:events:local:000000000000:event-bus/"
                       "loop\"},{\"Id\":\"q\",\"Arn\":\"arn:aws:sqs:x:1:looped\"}]}"));
    r = lt_ok(&b, "bus-put-events",
              "{\"Entries\":[{\"Source\":\"x\",\"DetailType\":\"d\",\"Detail\":\"{}\","
              "\"EventBusName\":\"loop\"}]}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 0);
    cJSON_Delete(r);
    cr_assert_eq(receive_n(&b, "looped"), 5, "hops 0-4 deliver, the 5th bus hop is refused");
    target_refused(&b, "b", "ValidationException",
                   "{\"Rule\":\"fan\",\"Targets\":[{\"Id\":\"b\",\"Arn\":"
                   "\"arn:aws:events:x:1:event-bus/app\",\"Input\":\"{}\"}]}");
    lt_broker_stop(&b, false);
}

Test(bus, rules_and_targets_are_listed_toggled_and_removed, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    char *out = NULL, *err = NULL;
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"q\"}"));
    rule_to_queue(&b, "default", "r1", "\"{\\\"source\\\":[\\\"s\\\"]}\"", "q",
                  ",\"InputPath\":\"$.detail\"");
    cJSON *g = lt_ok(&b, "rule-get", "{\"Name\":\"r1\"}");
    cr_assert_str_eq(str(g, "Arn"), "arn:lamina:events:local:000000000000:rule/r1");
    cr_assert_str_eq(str(g, "State"), "ENABLED");
    cr_assert_str_eq(str(g, "EventPattern"), "{\"source\":[\"s\"]}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g, "Targets")->valueint, 1);
    cJSON_Delete(g);
    cJSON *l = lt_ok(&b, "rule-targets-list", "{\"Rule\":\"r1\"}");
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "Targets"), 0);
    cr_assert_str_eq(str(t, "Id"), "t1");
    cr_assert_str_eq(str(t, "InputPath"), "$.detail");
    cJSON_Delete(l);
    const char *put = "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"}]}";
    cli_ok(&b, CLI(&b, &out, &err, "rule", "disable", "r1"), &out, &err);
    cJSON_Delete(lt_ok(&b, "bus-put-events", "%s", put));
    cr_assert_eq(receive_n(&b, "q"), 0, "a disabled rule delivered");
    cli_ok(&b, CLI(&b, &out, &err, "rule", "enable", "r1"), &out, &err);
    cJSON_Delete(lt_ok(&b, "bus-put-events", "%s", put));
    cr_assert_eq(receive_n(&b, "q"), 1, "an enabled rule did not deliver");
    cr_assert_eq(CLI(&b, &out, &err, "-o", "json", "rule", "list"), 0, "%s", err);
    cJSON *rl = cJSON_Parse(out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rl, "Rules")), 1, "%s", out);
    cJSON_Delete(rl);
    free(out);
    free(err);
    cli_ok(&b, CLI(&b, &out, &err, "rule", "targets", "remove", "r1", "--id", "t1"), &out, &err);
    cJSON_Delete(lt_ok(&b, "bus-put-events", "%s", put));
    cr_assert_eq(receive_n(&b, "q"), 0, "a removed target delivered");
    cJSON *bg = lt_ok(&b, "bus-get", "{\"Name\":\"default\"}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(bg, "Rules")->valueint, 1);
    cJSON_Delete(bg);
    cr_assert_eq(fails(&b, "rule-get", "{\"Name\":\"ghost\"}"), LM_E_NOT_FOUND);
    lt_broker_stop(&b, false);
}

/* Retries on the broker's test clock: back-off 1 s, 2 s, …; then the DLQ
 * with EventBridge's attributes. */
Test(bus, a_failing_target_is_retried_with_back_off_then_dead_lettered, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"dlq\"}"));
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"r\",\"EventPattern\":"
                       "\"{\\\"source\\\":[\\\"s\\\"]}\"}"));
    /* "late" does not exist yet: its delivery fails and waits */
    cJSON_Delete(
        lt_ok(&b, "rule-targets-put",
              "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"late\",\"Arn\":\"arn:aws:sqs:x:1:late\","
              "\"RetryPolicy\":{\"MaximumRetryAttempts\":5}},"
              "{\"Id\":\"gone\",\"Arn\":\"arn:aws:sqs:x:1:gone\",\"RetryPolicy\":"
              "{\"MaximumRetryAttempts\":2},\"DeadLetterConfig\":{\"Arn\":"
              "\"arn:aws:sqs:x:1:dlq\"}}]}"));
    const char *put = "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"}]}";
    cJSON *r = lt_ok(&b, "bus-put-events", "%s", put);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 0,
                 "a failing target does not fail the entry");
    cJSON_Delete(r);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"late\"}"));
    cr_assert_eq(receive_n(&b, "late"), 0);
    lt_clock_advance(&b, 1000); /* the first retry is due */
    cJSON *m = lt_ok(&b, "queue-receive", "{\"QueueName\":\"late\",\"WaitTimeSeconds\":10}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "Messages")), 1,
                 "the retry did not deliver once the queue existed");
    cJSON_Delete(m);
    cr_assert_eq(receive_n(&b, "dlq"), 0, "dead-lettered after one retry of two");
    lt_clock_advance(&b, 2000); /* the second retry (back-off doubled): out of attempts */
    m = lt_ok(&b, "queue-receive", "{\"QueueName\":\"dlq\",\"WaitTimeSeconds\":10}");
    cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "Messages"), 0);
    cr_assert_not_null(msg, "nothing in the DLQ");
    cJSON *ev = cJSON_Parse(str(msg, "Body"));
    cr_assert_str_eq(str(ev, "source"), "s", "the DLQ holds the event");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(msg, "MessageAttributes");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(a, "ERROR_CODE"), "StringValue"),
                     "QueueDoesNotExist");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(a, "RULE_ARN"), "StringValue"),
                     "arn:lamina:events:local:000000000000:rule/r");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(a, "TARGET_ARN"), "StringValue"),
                     "arn:aws:sqs:x:1:gone");
    cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(a, "ERROR_MESSAGE"));
    cJSON_Delete(ev);
    cJSON_Delete(m);
    target_refused(&b, "x", "ValidationException",
                   "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"fn\",\"RetryPolicy\":"
                   "{\"MaximumRetryAttempts\":186}}]}");
    target_refused(&b, "x", "ValidationException",
                   "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"fn\",\"RetryPolicy\":"
                   "{\"MaximumEventAgeInSeconds\":59}}]}");
    lt_broker_stop(&b, false);
}

/* One message from q within 10 s (the firing runs after the advance). */
static cJSON *await_body(lt_broker *b, const char *q)
{
    cJSON *m = lt_ok(b, "queue-receive", "{\"QueueName\":\"%s\",\"WaitTimeSeconds\":10}", q);
    cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "Messages"), 0);
    cr_assert_not_null(msg, "nothing arrived in %s", q);
    cJSON *ev = cJSON_Parse(str(msg, "Body"));
    cJSON_Delete(m);
    cr_assert_not_null(ev);
    return ev;
}

Test(bus, a_scheduled_rule_fires_on_the_broker_clock_and_once_after_a_restart, .timeout = 120)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    /* received messages stay hidden while the clock moves minutes ahead */
    cJSON_Delete(
        lt_ok(&b, "queue-create",
              "{\"QueueName\":\"tick\",\"Attributes\":{\"VisibilityTimeout\":\"43200\"}}"));
    lm_error e;
    cr_assert_eq(lt_call(&b, "rule-put",
                         "{\"Name\":\"x\",\"EventBusName\":\"other\",\"ScheduleExpression\":"
                         "\"rate(1 minute)\"}",
                         NULL, &e),
                 LM_E_EV_VALIDATION, "schedules are for the default bus");
    cr_assert_eq(lt_call(&b, "rule-put",
                         "{\"Name\":\"x\",\"ScheduleExpression\":\"rate(0 minutes)\"}", NULL, &e),
                 LM_E_EV_VALIDATION);
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"every-minute\",\"ScheduleExpression\":\"rate(1 minute)\"}"));
    cJSON_Delete(lt_ok(&b, "rule-targets-put",
                       "{\"Rule\":\"every-minute\",\"Targets\":[{\"Id\":\"q\","
                       "\"Arn\":\"arn:aws:sqs:x:1:tick\"}]}"));
    cr_assert_eq(receive_n(&b, "tick"), 0, "fired before its time");
    cJSON *g = lt_ok(&b, "rule-get", "{\"Name\":\"every-minute\"}");
    cr_assert_str_eq(str(g, "ScheduleExpression"), "rate(1 minute)");
    cJSON_Delete(g);
    lt_clock_advance(&b, 60000);
    cJSON *ev = await_body(&b, "tick");
    cr_assert_str_eq(str(ev, "detail-type"), "Scheduled Event");
    cr_assert_str_eq(str(ev, "source"), "aws.events");
    cr_assert_str_eq(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ev, "resources"), 0)->valuestring,
        "arn:lamina:events:local:000000000000:rule/every-minute");
    cr_assert(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ev, "detail")));
    cJSON_Delete(ev);
    cr_assert_eq(receive_n(&b, "tick"), 0);
    /* restart: the schedule is in the store; five missed periods fire once */
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, lt_test_clock);
    lt_clock_advance(&b, 5 * 60000);
    cJSON_Delete(await_body(&b, "tick"));
    cr_assert_eq(receive_n(&b, "tick"), 0, "missed firings fired more than once");
    lt_clock_advance(&b, 60000);
    cJSON_Delete(await_body(&b, "tick"));
    cr_assert_eq(receive_n(&b, "tick"), 0);
    lt_broker_stop(&b, false);
}

/* An async invoke's on-success destination onto a bus: the record is the
 * detail of a "Lambda Function Invocation Result - Success" event. */
Test(bus, an_async_destination_onto_a_bus_is_routed_as_lambda_result_event, .timeout = 120)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "hello", "echo", NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"results\"}"));
    cJSON_Delete(lt_ok(&b, "bus-create", "{\"Name\":\"ops\"}"));
    rule_to_queue(&b, "ops", "res", "\"{\\\"source\\\":[\\\"lambda\\\"]}\"", "results", "");
    cJSON_Delete(
        lt_ok(&b, "event-config-put",
              "{\"FunctionName\":\"hello\",\"DestinationConfig\":{\"OnSuccess\":"
              "{\"Destination\":\"arn:aws:events:us-east-1:123456789012:event-bus/ops\"}}}"));
    char *cur = tail_cursor(&b, "ops");
    lm_invoke_params p = {
        .function = "hello", .type = LM_INVOKE_EVENT, .payload = "{\"n\":7}", .payload_len = 7};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b.client, &p, &r, &e), LM_OK, "%s", e.message);
    lm_invoke_result_finish(&r);
    /* the async thread put it on the bus: the tail and the counters see it */
    cJSON *t = lt_ok(&b, "bus-tail",
                     "{\"EventBusName\":\"ops\",\"Cursor\":\"%s\",\"WaitTimeSeconds\":20}", cur);
    const cJSON *tev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "Events"), 0);
    cr_assert_not_null(tev, "the tail never saw the destination's event");
    cr_assert_str_eq(str(tev, "detail-type"), "Lambda Function Invocation Result - Success");
    cJSON_Delete(t);
    free(cur);
    cr_assert_eq(bus_stat(&b, "EventsPut"), 1);
    cr_assert_eq(bus_stat(&b, "Deliveries"), 1);
    cJSON *m = lt_ok(&b, "queue-receive", "{\"QueueName\":\"results\",\"WaitTimeSeconds\":20}");
    cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "Messages"), 0);
    cr_assert_not_null(msg, "no result event reached the bus's rule");
    cJSON *ev = cJSON_Parse(str(msg, "Body"));
    cr_assert_str_eq(str(ev, "source"), "lambda");
    cr_assert_str_eq(str(ev, "detail-type"), "Lambda Function Invocation Result - Success");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(ev, "resources");
    cr_assert_eq(cJSON_GetArraySize(res), 2);
    cr_assert_not_null(strstr(cJSON_GetArrayItem(res, 0)->valuestring, ":function:hello"));
    cr_assert_str_eq(cJSON_GetArrayItem(res, 1)->valuestring,
                     "arn:lamina:events:local:000000000000:event-bus/ops");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "detail");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(d, "requestContext"), "condition"),
                     "Success");
    cr_assert_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "requestPayload"), "n")
            ->valueint,
        7);
    cJSON_Delete(ev);
    cJSON_Delete(m);
    lt_broker_stop(&b, false);
}

Test(bus, an_entrys_time_becomes_the_envelopes_time, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"q\"}"));
    rule_to_queue(&b, "default", "r", "\"{\\\"source\\\":[\\\"s\\\"]}\"", "q", "");
    cJSON *r =
        lt_ok(&b, "bus-put-events",
              "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\","
              "\"Time\":\"2024-02-29T13:14:15.250Z\"},"
              "{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\",\"Time\":1700000000},"
              "{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\",\"Time\":\"yesterday\"}]}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 1);
    cJSON_Delete(r);
    cJSON *bodies = drain(&b, "q");
    cr_assert_eq(cJSON_GetArraySize(bodies), 2);
    bool seen_a = false, seen_b = false;
    const cJSON *x;
    cJSON_ArrayForEach(x, bodies)
    {
        cJSON *ev = cJSON_Parse(x->valuestring);
        const char *t = str(ev, "time");
        seen_a = seen_a || strcmp(t, "2024-02-29T13:14:15Z") == 0;
        seen_b = seen_b || strcmp(t, "2023-11-14T22:13:20Z") == 0;
        cJSON_Delete(ev);
    }
    cr_assert(seen_a && seen_b, "the entries' Time values are not the envelopes' time");
    cJSON_Delete(bodies);
    lt_broker_stop(&b, false);
}

/* PutTargets is per target, as EventBridge: the valid ones are stored,
 * each invalid one comes back in FailedEntries; request-level errors and
 * the 5-target limit still refuse the whole request. */
Test(bus, put_targets_stores_the_valid_ones_and_reports_each_failure, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"q\"}"));
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"r\",\"EventPattern\":\"{\\\"source\\\":[\\\"s\\\"]}\"}"));
    cJSON *r = lt_ok(&b, "rule-targets-put",
                     "{\"Rule\":\"r\",\"Targets\":["
                     "{\"Id\":\"good\",\"Arn\":\"arn:aws:sqs:x:1:q\"},"
                     "{\"Id\":\"badarn\",\"Arn\":\"arn:aws:s3:::bucket\"},"
                     "{\"Id\":\"badinput\",\"Arn\":\"arn:aws:sqs:x:1:q\",\"Input\":\"{\"},"
                     "{\"Id\":\"bad id\",\"Arn\":\"arn:aws:sqs:x:1:q\"}]}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 3);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(r, "FailedEntries");
    cr_assert_eq(cJSON_GetArraySize(f), 3);
    const char *ids[] = {"badarn", "badinput", "bad id"};
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetArrayItem(f, i);
        cr_assert_str_eq(str(x, "TargetId"), ids[i]);
        cr_assert_str_eq(str(x, "ErrorCode"), "ValidationException");
        cr_assert(str(x, "ErrorMessage")[0] != '\0');
    }
    cJSON_Delete(r);
    cJSON *l = lt_ok(&b, "rule-targets-list", "{\"Rule\":\"r\"}");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(l, "Targets");
    cr_assert_eq(cJSON_GetArraySize(ts), 1, "only the valid target is stored");
    cr_assert_str_eq(str(cJSON_GetArrayItem(ts, 0), "Id"), "good");
    cJSON_Delete(l);
    cJSON_Delete(
        lt_ok(&b, "bus-put-events",
              "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"}]}"));
    cr_assert_eq(receive_n(&b, "q"), 1);
    /* going over 5 on the rule stores nothing of the request */
    cJSON_Delete(
        lt_ok(&b, "rule-targets-put",
              "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"a\",\"Arn\":\"fn\"},{\"Id\":\"b\","
              "\"Arn\":\"fn\"},{\"Id\":\"c\",\"Arn\":\"fn\"},{\"Id\":\"d\",\"Arn\":\"fn\"}]}"));
    cr_assert_eq(fails(&b, "rule-targets-put",
                       "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"e\",\"Arn\":\"fn\"},{\"Id\":\"x\","
                       "\"Arn\":\"nope nope\"}]}"),
                 LM_E_LIMIT_EXCEEDED);
    cr_assert_eq(fails(&b, "rule-targets-put", "{\"Rule\":\"r\",\"Targets\":{}}"),
                 LM_E_EV_VALIDATION);
    l = lt_ok(&b, "rule-targets-list", "{\"Rule\":\"r\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "Targets")), 5);
    cJSON_Delete(l);
    /* the CLI prints the left-out target and exits with its class (9) */
    char *out = NULL, *err = NULL;
    int rc = CLI(&b, &out, &err, "rule", "targets", "put", "r", "--target", "a=arn:aws:sqs:x:1:q",
                 "--input", "{bad");
    cr_assert_eq(rc, 9, "%s %s", out, err);
    cr_assert_not_null(strstr(err, "a: ValidationException"), "%s", err);
    free(out);
    free(err);
    /* rule delete: refused while targets remain, --force takes them along */
    rc = CLI(&b, &out, &err, "rule", "delete", "r");
    cr_assert_eq(rc, 9, "%s %s", out, err);
    cr_assert_not_null(strstr(err, "Rule can't be deleted since it has targets."), "%s", err);
    free(out);
    free(err);
    cli_ok(&b, CLI(&b, &out, &err, "rule", "delete", "r", "--force"), &out, &err);
    cr_assert_eq(fails(&b, "rule-get", "{\"Name\":\"r\"}"), LM_E_NOT_FOUND);
    /* without targets, a plain delete works */
    cJSON_Delete(lt_ok(&b, "rule-put", "{\"Name\":\"bare\",\"EventPattern\":\"{\\\"a\\\":[1]}\"}"));
    cli_ok(&b, CLI(&b, &out, &err, "rule", "delete", "bare"), &out, &err);
    lt_broker_stop(&b, false);
}

/* A FIFO queue target needs SqsParameters.MessageGroupId (EventBridge
 * refuses it without); deliveries carry that group and the event id as
 * the deduplication id. */
Test(bus, a_fifo_queue_target_uses_its_group_and_the_event_id_for_dedup, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create",
                       "{\"QueueName\":\"o.fifo\",\"Attributes\":{\"FifoQueue\":\"true\"}}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"std\"}"));
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"f\",\"EventPattern\":\"{\\\"source\\\":[\\\"s\\\"]}\"}"));
    target_refused(
        &b, "x", "ValidationException",
        "{\"Rule\":\"f\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"arn:aws:sqs:x:1:o.fifo\"}]}");
    target_refused(&b, "x", "ValidationException",
                   "{\"Rule\":\"f\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"arn:aws:sqs:x:1:std\","
                   "\"SqsParameters\":{\"MessageGroupId\":\"g\"}}]}");
    target_refused(&b, "x", "ValidationException",
                   "{\"Rule\":\"f\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"arn:aws:sqs:x:1:o.fifo\","
                   "\"SqsParameters\":{\"MessageGroupId\":\"\"}}]}");
    target_refused(&b, "x", "ValidationException",
                   "{\"Rule\":\"f\",\"Targets\":[{\"Id\":\"x\",\"Arn\":\"fn\",\"DeadLetterConfig\":"
                   "{\"Arn\":\"arn:aws:sqs:x:1:o.fifo\"}}]}");
    char *out = NULL, *err = NULL;
    cli_ok(&b,
           CLI(&b, &out, &err, "rule", "targets", "put", "f", "--target",
               "o=arn:aws:sqs:x:1:o.fifo", "--message-group-id", "orders"),
           &out, &err);
    cJSON *l = lt_ok(&b, "rule-targets-list", "{\"Rule\":\"f\"}");
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "Targets"), 0);
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(t, "SqsParameters"), "MessageGroupId"),
                     "orders");
    cJSON_Delete(l);
    cJSON *r =
        lt_ok(&b, "bus-put-events",
              "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{\\\"n\\\":1}\"},"
              "{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{\\\"n\\\":2}\"}]}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 0);
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(r, "Entries");
    cJSON *m = lt_ok(&b, "queue-receive",
                     "{\"QueueName\":\"o.fifo\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":0,"
                     "\"AttributeNames\":[\"All\"]}");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(m, "Messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 2, "both events in the group, in order");
    for (int i = 0; i < 2; i++) {
        const cJSON *msg = cJSON_GetArrayItem(msgs, i);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(msg, "Attributes");
        cr_assert_str_eq(str(a, "MessageGroupId"), "orders");
        const char *id = str(cJSON_GetArrayItem(en, i), "EventId");
        cr_assert_str_eq(str(a, "MessageDeduplicationId"), id);
        cJSON *ev = cJSON_Parse(str(msg, "Body"));
        cr_assert_str_eq(str(ev, "id"), id);
        cr_assert_eq(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "detail"), "n")
                ->valueint,
            i + 1);
        cJSON_Delete(ev);
    }
    cJSON_Delete(m);
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

/* status's Messaging.Buses counters, read through the api. */
static int64_t bus_stat(lt_broker *b, const char *key)
{
    cJSON *s = lt_ok(b, "status", "{}");
    const cJSON *bs =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "Messaging"), "Buses");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(bs, key);
    cr_assert(cJSON_IsNumber(v), "no Messaging.Buses.%s in status", key);
    int64_t n = (int64_t)v->valuedouble;
    cJSON_Delete(s);
    return n;
}

typedef struct stat_wait {
    lt_broker *b;
    const char *key;
    int64_t want;
} stat_wait;

static bool stat_reached(void *arg)
{
    stat_wait *w = arg;
    return bus_stat(w->b, w->key) >= w->want;
}

Test(bus, status_counts_events_deliveries_retries_and_dead_letters, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"ok\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"dlq\"}"));
    cJSON_Delete(lt_ok(&b, "rule-put",
                       "{\"Name\":\"r\",\"EventPattern\":\"{\\\"source\\\":[\\\"s\\\"]}\"}"));
    cJSON_Delete(
        lt_ok(&b, "rule-targets-put",
              "{\"Rule\":\"r\",\"Targets\":[{\"Id\":\"ok\",\"Arn\":\"arn:aws:sqs:x:1:ok\"},"
              "{\"Id\":\"gone\",\"Arn\":\"arn:aws:sqs:x:1:gone\",\"RetryPolicy\":"
              "{\"MaximumRetryAttempts\":1}},"
              "{\"Id\":\"dl\",\"Arn\":\"arn:aws:sqs:x:1:gone2\",\"RetryPolicy\":{"
              "\"MaximumRetryAttempts\":"
              "0},\"DeadLetterConfig\":{\"Arn\":\"arn:aws:sqs:x:1:dlq\"}}]}"));
    const char *keys[] = {"EventsPut", "Deliveries",   "FailedDeliveries",
                          "Retries",   "DeadLettered", "Dropped"};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(bus_stat(&b, keys[i]), 0, "%s", keys[i]);
    }
    cJSON_Delete(lt_ok(&b, "bus-put-events",
                       "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"},"
                       "{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"nope\"}]}"));
    cr_assert_eq(bus_stat(&b, "EventsPut"), 1, "a failed entry is not counted");
    cr_assert_eq(bus_stat(&b, "Deliveries"), 1);
    cr_assert_eq(bus_stat(&b, "FailedDeliveries"), 2);
    cr_assert_eq(bus_stat(&b, "DeadLettered"), 1, "no retries: to the DLQ at once");
    cr_assert_eq(bus_stat(&b, "Retries"), 0);
    cr_assert_eq(receive_n(&b, "dlq"), 1);
    lt_clock_advance(&b, 1000); /* the one retry of "gone": out of attempts, no DLQ */
    stat_wait w = {&b, "Dropped", 1};
    cr_assert(lt_wait_until(stat_reached, &w, 10000), "the retry never dropped the delivery");
    cr_assert_eq(bus_stat(&b, "Retries"), 1);
    cr_assert_eq(bus_stat(&b, "Deliveries"), 1);
    lt_broker_stop(&b, false);
}

typedef struct tail_call {
    lt_broker *b;
    char args[256];
    cJSON *reply;
    int rc;
    double ms; /* how long it took */
} tail_call;

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void *tail_thread(void *arg)
{
    tail_call *t = arg;
    lm_error e;
    double t0 = mono_ms();
    t->rc = lt_call(t->b, "bus-tail", t->args, &t->reply, &e);
    t->ms = mono_ms() - t0;
    return NULL;
}

static bool tail_parked(void *arg)
{
    cJSON *s = lt_ok(arg, "status", "{}");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(s, "Messaging"), "WaitingTails");
    bool parked = cJSON_IsNumber(v) && v->valueint >= 1;
    cJSON_Delete(s);
    return parked;
}

static char *tail_cursor(lt_broker *b, const char *bus)
{
    cJSON *r = lt_ok(b, "bus-tail", "{\"EventBusName\":\"%s\"}", bus);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "Events")), 0);
    char *c = strdup(str(r, "NextCursor"));
    cJSON_Delete(r);
    return c;
}

/* bus-tail long-polls: a tail parked before the put gets the event as soon
 * as the put commits (no polling, well inside its 15 s wait); cursors chain
 * without loss; bad cursors and buses are typed errors. */
Test(bus, a_tail_started_before_a_put_sees_the_event, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "bus-create", "{\"Name\":\"app\"}"));
    char *cur = tail_cursor(&b, "app");
    tail_call t = {.b = &b};
    snprintf(t.args, sizeof(t.args),
             "{\"EventBusName\":\"app\",\"Cursor\":\"%s\",\"WaitTimeSeconds\":15}", cur);
    pthread_t th;
    pthread_create(&th, NULL, tail_thread, &t);
    cr_assert(lt_wait_until(tail_parked, &b, 10000), "the tail never parked");
    /* an event on another bus does not answer it */
    cJSON_Delete(
        lt_ok(&b, "bus-put-events",
              "{\"Entries\":[{\"Source\":\"other\",\"DetailType\":\"d\",\"Detail\":\"{}\"}]}"));
    cJSON *r = lt_ok(&b, "bus-put-events",
                     "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":"
                     "\"{\\\"n\\\":1}\",\"EventBusName\":\"app\"}]}");
    char *id = strdup(
        str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Entries"), 0), "EventId"));
    cJSON_Delete(r);
    pthread_join(th, NULL);
    cr_assert_eq(t.rc, LM_OK);
    cr_assert_lt(t.ms, 10000.0, "the tail answered only at its deadline (%.0f ms)", t.ms);
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(t.reply, "Events");
    cr_assert_eq(cJSON_GetArraySize(evs), 1);
    const cJSON *ev = cJSON_GetArrayItem(evs, 0);
    cr_assert_str_eq(str(ev, "id"), id);
    cr_assert_str_eq(str(ev, "source"), "s");
    cr_assert_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "detail"), "n")
            ->valueint,
        1);
    char *next = strdup(str(t.reply, "NextCursor"));
    cJSON_Delete(t.reply);
    /* two puts between calls: the next call gets both, in order, once */
    for (int i = 2; i <= 3; i++) {
        cJSON_Delete(lt_ok(&b, "bus-put-events",
                           "{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":"
                           "\"{\\\"n\\\":%d}\",\"EventBusName\":\"app\"}]}",
                           i));
    }
    r = lt_ok(&b, "bus-tail", "{\"EventBusName\":\"app\",\"Cursor\":\"%s\"}", next);
    evs = cJSON_GetObjectItemCaseSensitive(r, "Events");
    cr_assert_eq(cJSON_GetArraySize(evs), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(evs, i), "detail");
        cr_assert_eq(cJSON_GetObjectItemCaseSensitive(d, "n")->valueint, i + 2);
    }
    cJSON *again =
        lt_ok(&b, "bus-tail", "{\"EventBusName\":\"app\",\"Cursor\":\"%s\"}", str(r, "NextCursor"));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(again, "Events")), 0);
    cJSON_Delete(again);
    cJSON_Delete(r);
    cr_assert_eq(fails(&b, "bus-tail", "{\"EventBusName\":\"app\",\"Cursor\":\"zz\"}"),
                 LM_E_EV_VALIDATION);
    cr_assert_eq(fails(&b, "bus-tail", "{\"EventBusName\":\"ghost\"}"), LM_E_NOT_FOUND);
    cr_assert_eq(fails(&b, "bus-tail", "{\"EventBusName\":\"app\",\"WaitTimeSeconds\":21}"),
                 LM_E_EV_VALIDATION);
    free(next);
    free(id);
    free(cur);
    lt_broker_stop(&b, false);
}

/* A ring holds 1,024 events per bus: a reader that fell further behind is
 * told how many it missed and goes on from the oldest kept. */
Test(bus, a_tail_that_fell_behind_the_ring_is_told_what_it_missed, .timeout = 120)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    char *cur = tail_cursor(&b, "default");
    char put[1024] = "{\"Entries\":[";
    for (int i = 0; i < 10; i++) {
        strcat(put, i ? ",{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"}"
                      : "{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":\"{}\"}");
    }
    strcat(put, "]}");
    for (int i = 0; i < 103; i++) {
        cJSON_Delete(lt_ok(&b, "bus-put-events", "%s", put));
    }
    cJSON *r = lt_ok(&b, "bus-tail", "{\"Cursor\":\"%s\",\"Limit\":5}", cur);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "Missed")->valueint, 1030 - 1024);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "Events")), 5);
    cJSON_Delete(r);
    free(cur);
    lt_broker_stop(&b, false);
}

typedef struct cli_run {
    lt_broker *b;
    int rc;
    char *out, *err;
} cli_run;

static void *tail_cli_thread(void *arg)
{
    cli_run *c = arg;
    c->rc = CLI(c->b, &c->out, &c->err, "bus", "tail", "app", "--count", "2");
    return NULL;
}

Test(bus, cli_bus_tail_prints_one_envelope_a_line, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "bus-create", "{\"Name\":\"app\"}"));
    cli_run c = {.b = &b};
    pthread_t th;
    pthread_create(&th, NULL, tail_cli_thread, &c);
    cr_assert(lt_wait_until(tail_parked, &b, 10000), "lamina bus tail never parked");
    cJSON_Delete(lt_ok(&b, "bus-put-events",
                       "{\"Entries\":[{\"Source\":\"a\",\"DetailType\":\"d\",\"Detail\":\"{}\","
                       "\"EventBusName\":\"app\"},{\"Source\":\"b\",\"DetailType\":\"d\","
                       "\"Detail\":\"{}\",\"EventBusName\":\"app\"}]}"));
    pthread_join(th, NULL);
    cr_assert_eq(c.rc, 0, "%s %s", c.out, c.err);
    char *save = NULL, *l1 = strtok_r(c.out, "\n", &save), *l2 = strtok_r(NULL, "\n", &save);
    cr_assert_not_null(l2, "%s", c.out);
    cJSON *e1 = cJSON_Parse(l1), *e2 = cJSON_Parse(l2);
    cr_assert_str_eq(str(e1, "source"), "a");
    cr_assert_str_eq(str(e2, "source"), "b");
    cr_assert_str_eq(str(e1, "version"), "0");
    cJSON_Delete(e1);
    cJSON_Delete(e2);
    free(c.out);
    free(c.err);
    lt_broker_stop(&b, false);
}

typedef struct replay_wait {
    lt_broker *b;
    const char *name;
} replay_wait;

static bool replay_done(void *arg)
{
    replay_wait *w = arg;
    cJSON *r = lt_ok(w->b, "replay-get", "{\"ReplayName\":\"%s\"}", w->name);
    bool done = strcmp(str(r, "State"), "COMPLETED") == 0;
    cJSON_Delete(r);
    return done;
}

static cJSON *replay_finished(lt_broker *b, const char *name)
{
    replay_wait w = {b, name};
    cr_assert(lt_wait_until(replay_done, &w, 10000), "replay %s never completed", name);
    return lt_ok(b, "replay-get", "{\"ReplayName\":\"%s\"}", name);
}

static int64_t archive_count(lt_broker *b, const char *name)
{
    cJSON *a = lt_ok(b, "archive-get", "{\"ArchiveName\":\"%s\"}", name);
    int64_t n = (int64_t)cJSON_GetObjectItemCaseSensitive(a, "EventCount")->valuedouble;
    cJSON_Delete(a);
    return n;
}

typedef struct count_wait {
    lt_broker *b;
    const char *archive;
    int64_t want;
} count_wait;

static bool archive_count_is(void *arg)
{
    count_wait *w = arg;
    return archive_count(w->b, w->archive) == w->want;
}

/* An archive keeps, in the put's commit, the events of its bus that match
 * its pattern; a replay sends those in its time range again through the
 * bus's rules (or only FilterArns), each with replay-name, and shows its
 * state and count; retention runs on the broker clock. */
Test(bus, an_archive_keeps_matching_events_and_a_replay_resends_them, .timeout = 120)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(lt_ok(&b, "bus-create", "{\"Name\":\"app\"}"));
    const char *qs[] = {"all", "live", "only"};
    for (int i = 0; i < 3; i++) {
        cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"%s\"}", qs[i]));
    }
    rule_to_queue(&b, "app", "all", "\"{\\\"source\\\":[\\\"s\\\"]}\"", "all", "");
    /* EventBridge's advice: a rule that must not see replays says so */
    rule_to_queue(&b, "app", "live",
                  "\"{\\\"source\\\":[\\\"s\\\"],\\\"replay-name\\\":[{\\\"exists\\\":false}]}\"",
                  "live", "");
    rule_to_queue(&b, "app", "only", "\"{\\\"source\\\":[\\\"s\\\"]}\"", "only", "");
    cJSON *c = lt_ok(&b, "archive-create",
                     "{\"ArchiveName\":\"keep\",\"EventSourceArn\":"
                     "\"arn:aws:events:x:1:event-bus/app\",\"EventPattern\":"
                     "\"{\\\"detail-type\\\":[\\\"keep\\\"]}\",\"RetentionDays\":1}");
    cr_assert_str_eq(str(c, "ArchiveArn"), "arn:lamina:events:local:000000000000:archive/keep");
    cJSON_Delete(c);
    cr_assert_eq(
        fails(&b, "archive-create", "{\"ArchiveName\":\"keep\",\"EventSourceArn\":\"app\"}"),
        LM_E_EV_ALREADY_EXISTS);
    cr_assert_eq(
        fails(&b, "archive-create", "{\"ArchiveName\":\"x\",\"EventSourceArn\":\"ghost\"}"),
        LM_E_NOT_FOUND);
    cr_assert_eq(fails(&b, "archive-create",
                       "{\"ArchiveName\":\"x\",\"EventSourceArn\":\"app\",\"EventPattern\":\"{"
                       "\\\"a\\\":1}\"}"),
                 LM_E_EV_INVALID_PATTERN);
    cr_assert_eq(fails(&b, "archive-create",
                       "{\"ArchiveName\":\"x\",\"EventSourceArn\":\"app\",\"RetentionDays\":-1}"),
                 LM_E_EV_VALIDATION);
    cr_assert_eq(
        fails(&b, "archive-create", "{\"ArchiveName\":\"bad name\",\"EventSourceArn\":\"app\"}"),
        LM_E_EV_VALIDATION);
    /* two kept events, one of another type, one kept but too old for the range */
    cJSON *r = lt_ok(&b, "bus-put-events",
                     "{\"Entries\":["
                     "{\"Source\":\"s\",\"DetailType\":\"keep\",\"Detail\":\"{\\\"n\\\":1}\","
                     "\"EventBusName\":\"app\"},"
                     "{\"Source\":\"s\",\"DetailType\":\"skip\",\"Detail\":\"{\\\"n\\\":2}\","
                     "\"EventBusName\":\"app\"},"
                     "{\"Source\":\"s\",\"DetailType\":\"keep\",\"Detail\":\"{\\\"n\\\":3}\","
                     "\"EventBusName\":\"app\"},"
                     "{\"Source\":\"s\",\"DetailType\":\"keep\",\"Detail\":\"{\\\"n\\\":0}\","
                     "\"EventBusName\":\"app\",\"Time\":1000000000}]}");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "FailedEntryCount")->valueint, 0);
    const char *id1 =
        str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Entries"), 0), "EventId");
    char first_id[40];
    snprintf(first_id, sizeof(first_id), "%s", id1);
    cJSON_Delete(r);
    cr_assert_eq(archive_count(&b, "keep"), 3, "stored with the put's commit");
    cr_assert_eq(bus_stat(&b, "Archived"), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(receive_n(&b, qs[i]), 4);
    }
    int64_t now = lt_clock_advance(&b, 2000);
    char range[160];
    snprintf(range, sizeof(range), "\"EventStartTime\":1500000000,\"EventEndTime\":%lld",
             (long long)(now / 1000));
    cJSON *s =
        lt_ok(&b, "replay-start", "{\"ReplayName\":\"rp\",\"EventSourceArn\":\"keep\",%s}", range);
    cr_assert_str_eq(str(s, "State"), "STARTING");
    cr_assert_str_eq(str(s, "ReplayArn"), "arn:lamina:events:local:000000000000:replay/rp");
    cJSON_Delete(s);
    cJSON *g = replay_finished(&b, "rp");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g, "EventsReplayed")->valueint, 2,
                 "the two kept events in the range");
    cr_assert_str_eq(str(g, "EventSourceArn"), "arn:lamina:events:local:000000000000:archive/keep");
    cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(g, "ReplayEndTime"));
    cJSON_Delete(g);
    cJSON *bodies = drain(&b, "all");
    cr_assert_eq(cJSON_GetArraySize(bodies), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *ev = cJSON_Parse(cJSON_GetArrayItem(bodies, i)->valuestring);
        cr_assert_str_eq(str(ev, "replay-name"), "rp");
        cr_assert_str_eq(str(ev, "detail-type"), "keep");
        int n =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "detail"), "n")
                ->valueint;
        cr_assert_eq(n, 2 * i + 1, "in event-time order");
        if (i == 0) {
            cr_assert_str_eq(str(ev, "id"), first_id, "a replayed event keeps its id");
        }
        cJSON_Delete(ev);
    }
    cJSON_Delete(bodies);
    cr_assert_eq(receive_n(&b, "live"), 0, "replay-name exists:false excludes replays");
    cr_assert_eq(receive_n(&b, "only"), 2);
    cr_assert_eq(archive_count(&b, "keep"), 3, "replays are not archived again");
    cr_assert_eq(bus_stat(&b, "Replayed"), 2);
    /* only the rules of FilterArns */
    cJSON_Delete(lt_ok(&b, "replay-start",
                       "{\"ReplayName\":\"rp2\",\"EventSourceArn\":"
                       "\"arn:lamina:events:local:000000000000:archive/keep\",%s,\"Destination\":"
                       "{\"Arn\":\"arn:aws:events:x:1:event-bus/app\",\"FilterArns\":"
                       "[\"arn:lamina:events:local:000000000000:rule/app/only\"]}}",
                       range));
    cJSON_Delete(replay_finished(&b, "rp2"));
    cr_assert_eq(receive_n(&b, "only"), 2);
    cr_assert_eq(receive_n(&b, "all"), 0, "a rule not in FilterArns got a replay");
    /* typed errors */
    cr_assert_eq(fails(&b, "replay-start",
                       "{\"ReplayName\":\"rp\",\"EventSourceArn\":\"keep\",\"EventStartTime\":1,"
                       "\"EventEndTime\":2}"),
                 LM_E_EV_ALREADY_EXISTS);
    cr_assert_eq(fails(&b, "replay-start",
                       "{\"ReplayName\":\"x\",\"EventSourceArn\":\"keep\",\"EventStartTime\":2,"
                       "\"EventEndTime\":1}"),
                 LM_E_EV_VALIDATION);
    cr_assert_eq(fails(&b, "replay-start",
                       "{\"ReplayName\":\"x\",\"EventSourceArn\":\"keep\",\"EventStartTime\":"
                       "\"yesterday\",\"EventEndTime\":1}"),
                 LM_E_EV_VALIDATION);
    cr_assert_eq(fails(&b, "replay-start",
                       "{\"ReplayName\":\"x\",\"EventSourceArn\":\"ghost\",\"EventStartTime\":1,"
                       "\"EventEndTime\":2}"),
                 LM_E_NOT_FOUND);
    cr_assert_eq(fails(&b, "replay-start",
                       "{\"ReplayName\":\"x\",\"EventSourceArn\":\"keep\",\"EventStartTime\":1,"
                       "\"EventEndTime\":2,\"Destination\":{\"Arn\":\"default\"}}"),
                 LM_E_EV_VALIDATION);
    cr_assert_eq(fails(&b, "replay-start",
                       "{\"ReplayName\":\"x\",\"EventSourceArn\":\"keep\",\"EventStartTime\":1,"
                       "\"EventEndTime\":2,\"Destination\":{\"Arn\":\"app\",\"FilterArns\":"
                       "[\"ghost\"]}}"),
                 LM_E_NOT_FOUND);
    cr_assert_eq(fails(&b, "replay-start",
                       "{\"ReplayName\":\"x\",\"EventSourceArn\":\"keep\",\"EventStartTime\":1,"
                       "\"EventEndTime\":2,\"Destination\":{\"Arn\":\"app\",\"FilterArns\":"
                       "[\"arn:lamina:events:local:000000000000:rule/only\"]}}"),
                 LM_E_EV_VALIDATION); /* a rule ARN of the default bus */
    cr_assert_eq(fails(&b, "replay-get", "{\"ReplayName\":\"ghost\"}"), LM_E_NOT_FOUND);
    cJSON *l = lt_ok(&b, "replay-list", "{}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "Replays")), 2);
    cJSON_Delete(l);
    /* retention: a day and a bit later (broker clock), the archive is empty */
    lt_clock_advance(&b, 86400000 + 5000);
    count_wait w = {&b, "keep", 0};
    cr_assert(lt_wait_until(archive_count_is, &w, 10000), "retention never swept the archive");
    cJSON_Delete(lt_ok(&b, "replay-start",
                       "{\"ReplayName\":\"rp3\",\"EventSourceArn\":\"keep\",\"EventStartTime\":1,"
                       "\"EventEndTime\":%lld}",
                       (long long)(now / 1000)));
    g = replay_finished(&b, "rp3");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g, "EventsReplayed")->valueint, 0);
    cJSON_Delete(g);
    /* delete: the archive goes; deleting its bus takes the others along */
    cJSON_Delete(lt_ok(&b, "archive-delete", "{\"ArchiveName\":\"keep\"}"));
    cr_assert_eq(fails(&b, "archive-get", "{\"ArchiveName\":\"keep\"}"), LM_E_NOT_FOUND);
    cJSON_Delete(
        lt_ok(&b, "archive-create", "{\"ArchiveName\":\"k2\",\"EventSourceArn\":\"app\"}"));
    for (int i = 0; i < 3; i++) {
        char rn[8];
        snprintf(rn, sizeof(rn), "%s", qs[i]);
        cJSON_Delete(lt_ok(&b, "rule-delete",
                           "{\"Name\":\"%s\",\"EventBusName\":\"app\",\"Force\":true}", rn));
    }
    cJSON_Delete(lt_ok(&b, "bus-delete", "{\"Name\":\"app\"}"));
    l = lt_ok(&b, "archive-list", "{}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "Archives")), 0);
    cJSON_Delete(l);
    lt_broker_stop(&b, false);
}

/* Archives and replays are in the store: they survive a restart, and so
 * does an archive's content; the CLI drives them. */
Test(bus, cli_archive_and_replay_survive_a_restart, .timeout = 120)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    char *out = NULL, *err = NULL;
    cli_ok(&b, CLI(&b, &out, &err, "queue", "create", "q"), &out, &err);
    cli_ok(&b, CLI(&b, &out, &err, "rule", "put", "r", "--pattern", "{\"source\":[\"s\"]}"), &out,
           &err);
    cli_ok(&b,
           CLI(&b, &out, &err, "rule", "targets", "put", "r", "--target", "q=arn:aws:sqs:x:1:q"),
           &out, &err);
    cli_ok(&b,
           CLI(&b, &out, &err, "bus", "archive", "create", "all", "--bus", "default",
               "--retention-days", "0"),
           &out, &err);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "archive", "create", "neg", "--bus", "default",
                     "--retention-days", "-3"),
                 9, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "archive", "create", "nobus"), 2, "%s", err);
    free(out);
    free(err);
    cli_ok(&b,
           CLI(&b, &out, &err, "bus", "put-events", "--entry",
               "{\"Source\":\"s\",\"DetailType\":\"d\",\"Detail\":{\"n\":1}}"),
           &out, &err);
    cr_assert_eq(receive_n(&b, "q"), 1);
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    lt_broker_stop(&b, true);
    lt_broker_start_in(&b, state, lt_test_clock);
    int64_t now = lt_clock_advance(&b, 2000);
    char to[32];
    snprintf(to, sizeof(to), "%lld", (long long)(now / 1000));
    cr_assert_eq(CLI(&b, &out, &err, "-o", "json", "bus", "archive", "list"), 0, "%s", err);
    cJSON *l = cJSON_Parse(out);
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "Archives"), 0);
    cr_assert_not_null(a, "%s", out);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(a, "EventCount")->valueint, 1);
    cJSON_Delete(l);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "replay", "all", "--from", "2020-01-01T00:00:00Z",
                     "--to", to, "--name", "again", "--rules", "r"),
                 0, "%s", err);
    cr_assert_str_eq(out, "again\n");
    free(out);
    free(err);
    cJSON_Delete(replay_finished(&b, "again"));
    cJSON *m = lt_ok(&b, "queue-receive", "{\"QueueName\":\"q\",\"WaitTimeSeconds\":10}");
    const cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "Messages"), 0);
    cr_assert_not_null(msg);
    cJSON *ev = cJSON_Parse(str(msg, "Body"));
    cr_assert_str_eq(str(ev, "replay-name"), "again");
    cJSON_Delete(ev);
    cJSON_Delete(m);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "replay", "get", "again"), 0, "%s", err);
    cr_assert_not_null(strstr(out, "COMPLETED"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "replay", "list"), 0, "%s", err);
    cr_assert_not_null(strstr(out, "again"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "replay", "all", "--from", "x", "--to", to), 9, "%s",
                 err);
    free(out);
    free(err);
    cli_ok(&b, CLI(&b, &out, &err, "bus", "archive", "delete", "all"), &out, &err);
    cr_assert_eq(CLI(&b, &out, &err, "bus", "archive", "get", "all"), 3, "%s", err);
    free(out);
    free(err);
    lt_broker_stop(&b, false);
}

/* The new ops answer bad input with typed errors and keep serving. */
Test(bus, tail_archive_and_replay_ops_refuse_bad_input_with_typed_errors, .timeout = 60)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(
        lt_ok(&b, "archive-create", "{\"ArchiveName\":\"a\",\"EventSourceArn\":\"default\"}"));
    static const struct {
        const char *op, *args;
        int code;
    } bad[] = {
        {"bus-tail", "{\"Cursor\":5}", LM_E_EV_VALIDATION},
        {"bus-tail", "{\"Limit\":0}", LM_E_EV_VALIDATION},
        {"bus-tail", "{\"Limit\":1.5}", LM_E_EV_VALIDATION},
        {"bus-tail", "{\"WaitTimeSeconds\":\"5\"}", LM_E_EV_VALIDATION},
        {"bus-tail", "{\"EventBusName\":\"bad name\"}", LM_E_EV_VALIDATION},
        {"archive-create", "{\"ArchiveName\":\"b\"}", LM_E_EV_VALIDATION},
        {"archive-create",
         "{\"ArchiveName\":\"b\",\"EventSourceArn\":\"default\",\"RetentionDays\":\"x\"}",
         LM_E_EV_VALIDATION},
        {"archive-create",
         "{\"ArchiveName\":\"b\",\"EventSourceArn\":\"default\",\"RetentionDays\":36501}",
         LM_E_EV_VALIDATION},
        {"archive-create", "{\"ArchiveName\":\"b\",\"EventSourceArn\":7}", LM_E_EV_VALIDATION},
        {"archive-create",
         "{\"ArchiveName\":\"0123456789012345678901234567890123456789012345678\","
         "\"EventSourceArn\":\"default\"}",
         LM_E_EV_VALIDATION},
        {"archive-get", "{}", LM_E_EV_VALIDATION},
        {"archive-get", "{\"ArchiveName\":\"ghost\"}", LM_E_NOT_FOUND},
        {"archive-delete", "{\"ArchiveName\":\"ghost\"}", LM_E_NOT_FOUND},
        {"archive-list", "{\"EventSourceArn\":\"ghost\"}", LM_E_NOT_FOUND},
        {"replay-start", "{\"ReplayName\":\"r\",\"EventSourceArn\":\"a\"}", LM_E_EV_VALIDATION},
        {"replay-start",
         "{\"ReplayName\":\"r\",\"EventSourceArn\":\"a\",\"EventStartTime\":1,\"EventEndTime\":2,"
         "\"Destination\":\"default\"}",
         LM_E_EV_VALIDATION},
        {"replay-start",
         "{\"ReplayName\":\"r\",\"EventSourceArn\":\"a\",\"EventStartTime\":1,\"EventEndTime\":2,"
         "\"Destination\":{\"Arn\":\"default\",\"FilterArns\":\"x\"}}",
         LM_E_EV_VALIDATION},
        {"replay-start",
         "{\"ReplayName\":\"r\",\"EventSourceArn\":\"a\",\"EventStartTime\":1,\"EventEndTime\":2,"
         "\"Destination\":{\"Arn\":\"default\",\"FilterArns\":[3]}}",
         LM_E_EV_VALIDATION},
        {"replay-start",
         "{\"ReplayName\":\"r\",\"EventSourceArn\":\"a\",\"EventStartTime\":1,"
         "\"EventEndTime\":99999999999}",
         LM_E_EV_VALIDATION},
        {"replay-start",
         "{\"ReplayName\":\"r "
         "r\",\"EventSourceArn\":\"a\",\"EventStartTime\":1,\"EventEndTime\":2}",
         LM_E_EV_VALIDATION},
        {"replay-get", "{\"ReplayName\":5}", LM_E_EV_VALIDATION},
        {"rule-targets-put", "{\"Rule\":\"ghost\",\"Targets\":[]}", LM_E_EV_VALIDATION},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lm_error e;
        int rc = lt_call(&b, bad[i].op, bad[i].args, NULL, &e);
        cr_assert_eq(rc, bad[i].code, "%s %s: %d %s", bad[i].op, bad[i].args, rc, e.message);
    }
    cJSON_Delete(lt_ok(&b, "archive-get", "{\"ArchiveName\":\"a\"}"));
    lt_broker_stop(&b, false);
}
