/*
 * broker/messaging/ops.c — the queue and topic api operations, run on the
 * messaging thread (service.c) with the request's args as JSON: read the
 * SQS/SNS-named fields, call the engine (mq.h), and write the reply body.
 * The engine checks every value (names, ranges, sizes, attribute
 * formats); here only presence and JSON types are checked, each with the
 * engine's error names: a missing field is MissingParameter (SNS:
 * InvalidParameter), a field of the wrong type InvalidParameterValue.
 *
 * A receive that finds nothing and whose wait (WaitTimeSeconds, else the
 * queue's ReceiveMessageWaitTimeSeconds) is above 0 asks the service to
 * park it (service.h); its last run, at the deadline, answers the empty
 * list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonconv.h"
#include "messaging/service.h"

/* ---- reading args ---- */

static int missing(lm_error *e, bool sns, const char *field)
{
    if (sns) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER, "Invalid parameter: %s is required",
                           field);
    }
    return proto_error(e, LM_E_MQ_MISSING_PARAMETER, "The request must contain the parameter %s.",
                       field);
}

static int wrong_type(lm_error *e, bool sns, const char *field, const char *want)
{
    return proto_error(e, sns ? LM_E_SNS_INVALID_PARAMETER : LM_E_MQ_INVALID_PARAMETER,
                       "Invalid parameter: %s must be %s", field, want);
}

/* A string field: *out NULL when absent and not required. */
static int str_field(const cJSON *args, const char *key, bool required, bool sns, const char **out,
                     lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        return required ? missing(e, sns, key) : LM_OK;
    }
    if (!cJSON_IsString(v)) {
        return wrong_type(e, sns, key, "a string");
    }
    *out = v->valuestring;
    return LM_OK;
}

/* An integer field given as a number or a decimal string; *out keeps its
 * default when absent. */
static int int_field(const cJSON *args, const char *key, int64_t lo, int64_t hi, int *out,
                     lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (v == NULL || cJSON_IsNull(v)) {
        return LM_OK;
    }
    double d = 0;
    char *end = NULL;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
        d = strtod(v->valuestring, &end);
        if (*end != '\0') {
            return wrong_type(e, false, key, "an integer");
        }
    } else {
        return wrong_type(e, false, key, "an integer");
    }
    if (d != (double)(int64_t)d || d < (double)lo || d > (double)hi) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "Value %g for parameter %s is invalid. Reason: must be an integer "
                           "from %lld to %lld.",
                           d, key, (long long)lo, (long long)hi);
    }
    *out = (int)d;
    return LM_OK;
}

/* An object field (or absent: NULL). */
static int obj_field(const cJSON *args, const char *key, bool sns, const cJSON **out, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        return LM_OK;
    }
    if (!cJSON_IsObject(v)) {
        return wrong_type(e, sns, key, "an object");
    }
    *out = v;
    return LM_OK;
}

static int queue_arg(const cJSON *args, char name[MQ_QUEUE_NAME_MAX + 1], lm_error *e)
{
    const char *ref = NULL;
    int rc = str_field(args, "QueueName", false, false, &ref, e);
    if (rc == LM_OK && ref == NULL) {
        rc = str_field(args, "QueueUrl", false, false, &ref, e);
        if (rc == LM_OK && ref != NULL) { /* a URL's last path segment is the name */
            const char *slash = strrchr(ref, '/');
            ref = slash != NULL ? slash + 1 : ref;
        }
    }
    if (rc == LM_OK && ref == NULL) {
        rc = missing(e, false, "QueueName");
    }
    return rc == LM_OK ? mq_queue_ref(ref, name, e) : rc;
}

static int topic_arg(const cJSON *args, const char **topic, lm_error *e)
{
    int rc = str_field(args, "TopicArn", false, true, topic, e);
    if (rc == LM_OK && *topic == NULL) {
        rc = str_field(args, "Name", false, true, topic, e);
    }
    if (rc == LM_OK && *topic == NULL) {
        rc = missing(e, true, "TopicArn");
    }
    return rc;
}

/* ---- writing replies ---- */

/* An "ok" reply whose body is j (taken; NULL: out of memory). */
nng_msg *mqops_reply_json(cJSON *j, lm_error *e)
{
    if (j == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m != NULL && jsonconv_pack(&w, j, 1) != 0) {
        nng_msg_free(m);
        m = NULL;
    }
    cJSON_Delete(j);
    m = proto_reply_end(&w, m);
    if (m == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
    }
    return m;
}

static nng_msg *reply_empty(lm_error *e)
{
    return mqops_reply_json(cJSON_CreateObject(), e);
}

/* {key: value-of-j} with j taken. */
static nng_msg *reply_wrapped(const char *key, cJSON *j, lm_error *e)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || j == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(j);
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    cJSON_AddItemToObject(o, key, j);
    return mqops_reply_json(o, e);
}

/* ---- queues ---- */

nng_msg *mqops_queue_create(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL;
    const cJSON *attrs = NULL;
    char arn[MQ_ARN_MAX];
    if (str_field(c->args, "QueueName", true, false, &name, e) != LM_OK ||
        obj_field(c->args, "Attributes", false, &attrs, e) != LM_OK ||
        mq_queue_create(m, name, attrs, c->now_ms, arn, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "QueueName", name);
    cJSON_AddStringToObject(o, "QueueArn", arn);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_queue_list(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *prefix = NULL;
    if (str_field(c->args, "QueueNamePrefix", false, false, &prefix, e) != LM_OK) {
        return NULL;
    }
    cJSON *list = mq_queue_list(m, prefix, e);
    return list != NULL ? reply_wrapped("Queues", list, e) : NULL;
}

nng_msg *mqops_queue_get(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(c->args, "AttributeNames");
    if (queue_arg(c->args, q, e) != LM_OK) {
        return NULL;
    }
    if (names != NULL && !cJSON_IsNull(names) && !cJSON_IsArray(names)) {
        wrong_type(e, false, "AttributeNames", "a list of names");
        return NULL;
    }
    cJSON *attrs = mq_queue_get(m, q, cJSON_IsArray(names) ? names : NULL, c->now_ms, e);
    if (attrs == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "QueueName", q);
    cJSON_AddItemToObject(o, "Attributes", attrs);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_queue_set(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    const cJSON *attrs = NULL;
    if (queue_arg(c->args, q, e) != LM_OK ||
        obj_field(c->args, "Attributes", false, &attrs, e) != LM_OK) {
        return NULL;
    }
    if (attrs == NULL) {
        missing(e, false, "Attributes");
        return NULL;
    }
    return mq_queue_set(m, q, attrs, c->now_ms, e) == LM_OK ? reply_empty(e) : NULL;
}

nng_msg *mqops_queue_purge(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    if (queue_arg(c->args, q, e) != LM_OK || mq_queue_purge(m, q, c->now_ms, e) != LM_OK) {
        return NULL;
    }
    return reply_empty(e);
}

nng_msg *mqops_queue_delete(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    if (queue_arg(c->args, q, e) != LM_OK || mq_queue_delete(m, q, c->now_ms, e) != LM_OK) {
        return NULL;
    }
    return reply_empty(e);
}

/* One send entry from a JSON object (SendMessage's or a batch entry's). */
static int read_entry(const cJSON *o, mq_send_entry *en, lm_error *e)
{
    const char *body = NULL;
    memset(en, 0, sizeof(*en));
    en->delay_s = -1;
    int rc = str_field(o, "MessageBody", true, false, &body, e);
    if (rc == LM_OK) {
        rc = int_field(o, "DelaySeconds", 0, MQ_DELAY_MAX, &en->delay_s, e);
    }
    if (rc == LM_OK) {
        rc = obj_field(o, "MessageAttributes", false, &en->attributes, e);
    }
    if (rc == LM_OK) {
        rc = str_field(o, "MessageGroupId", false, false, &en->group_id, e);
    }
    if (rc == LM_OK) {
        rc = str_field(o, "MessageDeduplicationId", false, false, &en->dedup_id, e);
    }
    en->body = body;
    en->body_len = body != NULL ? strlen(body) : 0;
    return rc;
}

static cJSON *sent_json(const mq_sent *s, bool with_id)
{
    cJSON *o = cJSON_CreateObject();
    if (with_id) {
        cJSON_AddStringToObject(o, "Id", s->id);
    }
    cJSON_AddStringToObject(o, "MessageId", s->message_id);
    cJSON_AddStringToObject(o, "MD5OfMessageBody", s->md5_body);
    if (s->md5_attributes[0] != '\0') {
        cJSON_AddStringToObject(o, "MD5OfMessageAttributes", s->md5_attributes);
    }
    if (s->sequence[0] != '\0') {
        cJSON_AddStringToObject(o, "SequenceNumber", s->sequence);
    }
    return o;
}

nng_msg *mqops_queue_send(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    mq_send_entry en;
    mq_sent out;
    if (queue_arg(c->args, q, e) != LM_OK || read_entry(c->args, &en, e) != LM_OK ||
        mq_send(m, q, &en, c->now_ms, &out, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(sent_json(&out, false), e);
}

nng_msg *mqops_queue_send_batch(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    if (queue_arg(c->args, q, e) != LM_OK) {
        return NULL;
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(c->args, "Entries");
    if (entries == NULL || cJSON_IsNull(entries)) {
        missing(e, false, "Entries");
        return NULL;
    }
    if (!cJSON_IsArray(entries)) {
        wrong_type(e, false, "Entries", "a list");
        return NULL;
    }
    /* the engine checks the request (count, ids, total size) on text it
     * parses itself: the same path as a file given to the CLI */
    char *text = cJSON_PrintUnformatted(entries);
    if (text == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    mq_batch b;
    mq_sent out[MQ_BATCH_MAX];
    size_t failed = 0;
    int rc = mq_batch_parse(text, strlen(text), &b, e);
    free(text);
    if (rc == LM_OK) {
        rc = mq_send_batch(m, q, b.en, b.n, c->now_ms, out, &failed, e);
    }
    nng_msg *rep = NULL;
    if (rc == LM_OK) {
        cJSON *o = cJSON_CreateObject(), *ok = cJSON_AddArrayToObject(o, "Successful"),
              *bad = cJSON_AddArrayToObject(o, "Failed");
        for (size_t i = 0; i < b.n; i++) {
            if (out[i].err.code == LM_OK) {
                cJSON_AddItemToArray(ok, sent_json(&out[i], true));
                continue;
            }
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "Id", out[i].id);
            cJSON_AddStringToObject(f, "Code", out[i].err.type);
            cJSON_AddStringToObject(f, "Message", out[i].err.message);
            cJSON_AddBoolToObject(f, "SenderFault", out[i].err.status < 500);
            cJSON_AddItemToArray(bad, f);
        }
        rep = mqops_reply_json(o, e);
    }
    mq_batch_finish(&b);
    return rep;
}

nng_msg *mqops_queue_receive(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    mq_receive_opts o = {.max = 1, .visibility_s = -1};
    int wait = -1;
    if (queue_arg(c->args, q, e) != LM_OK ||
        int_field(c->args, "MaxNumberOfMessages", 1, MQ_RECEIVE_MAX, &o.max, e) != LM_OK ||
        int_field(c->args, "VisibilityTimeout", 0, MQ_VISIBILITY_MAX, &o.visibility_s, e) !=
            LM_OK ||
        int_field(c->args, "WaitTimeSeconds", 0, MQ_WAIT_MAX, &wait, e) != LM_OK) {
        return NULL;
    }
    mq_msg *msgs = NULL;
    size_t n = 0;
    if (mq_receive(m, q, &o, c->now_ms, &msgs, &n, e) != LM_OK) {
        return NULL;
    }
    if (n == 0 && c->may_wait) {
        if (wait < 0) { /* the queue's ReceiveMessageWaitTimeSeconds */
            const char *want[] = {"ReceiveMessageWaitTimeSeconds"};
            cJSON *names = cJSON_CreateStringArray(want, 1);
            cJSON *attrs = names != NULL ? mq_queue_get(m, q, names, c->now_ms, e) : NULL;
            const cJSON *w =
                cJSON_GetObjectItemCaseSensitive(attrs, "ReceiveMessageWaitTimeSeconds");
            wait = cJSON_IsString(w) ? atoi(w->valuestring) : 0;
            cJSON_Delete(names);
            cJSON_Delete(attrs);
        }
        if (wait > 0) {
            c->wait_s = wait;
            snprintf(c->queue, sizeof(c->queue), "%s", q);
            e->code = LM_OK; /* park me (service.h) */
            return NULL;
        }
    }
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < n && list != NULL; i++) {
        cJSON_AddItemToArray(list, mq_msg_json(&msgs[i]));
    }
    mq_msgs_free(msgs, n);
    return reply_wrapped("Messages", list, e);
}

nng_msg *mqops_queue_delete_message(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    const char *receipt = NULL;
    if (queue_arg(c->args, q, e) != LM_OK ||
        str_field(c->args, "ReceiptHandle", true, false, &receipt, e) != LM_OK ||
        mq_delete_message(m, q, receipt, c->now_ms, NULL, e) != LM_OK) {
        return NULL;
    }
    return reply_empty(e);
}

nng_msg *mqops_queue_change_visibility(mq *m, mqsvc_call *c, lm_error *e)
{
    char q[MQ_QUEUE_NAME_MAX + 1];
    const char *receipt = NULL;
    int timeout = -1;
    if (queue_arg(c->args, q, e) != LM_OK ||
        str_field(c->args, "ReceiptHandle", true, false, &receipt, e) != LM_OK ||
        int_field(c->args, "VisibilityTimeout", 0, MQ_VISIBILITY_MAX, &timeout, e) != LM_OK) {
        return NULL;
    }
    if (timeout < 0) {
        missing(e, false, "VisibilityTimeout");
        return NULL;
    }
    if (mq_change_visibility(m, q, receipt, timeout, c->now_ms, e) != LM_OK) {
        return NULL;
    }
    return reply_empty(e);
}

/* ---- topics ---- */

nng_msg *mqops_topic_create(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name = NULL;
    char arn[MQ_ARN_MAX];
    if (str_field(c->args, "Name", true, true, &name, e) != LM_OK ||
        mq_topic_create(m, name, c->now_ms, arn, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "TopicArn", arn);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_topic_list(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)c;
    cJSON *list = mq_topic_list(m, e);
    return list != NULL ? reply_wrapped("Topics", list, e) : NULL;
}

nng_msg *mqops_topic_get(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *topic = NULL;
    if (topic_arg(c->args, &topic, e) != LM_OK) {
        return NULL;
    }
    cJSON *attrs = mq_topic_get(m, topic, e);
    return attrs != NULL ? reply_wrapped("Attributes", attrs, e) : NULL;
}

nng_msg *mqops_topic_delete(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *topic = NULL;
    if (topic_arg(c->args, &topic, e) != LM_OK || mq_topic_delete(m, topic, e) != LM_OK) {
        return NULL;
    }
    return reply_empty(e);
}

nng_msg *mqops_topic_subscribe(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *topic = NULL, *raw = NULL;
    const cJSON *attrs = NULL;
    mq_sub_spec s = {0};
    char arn[MQ_ARN_MAX];
    if (topic_arg(c->args, &topic, e) != LM_OK ||
        str_field(c->args, "Protocol", true, true, &s.protocol, e) != LM_OK ||
        str_field(c->args, "Endpoint", true, true, &s.endpoint, e) != LM_OK ||
        obj_field(c->args, "Attributes", true, &attrs, e) != LM_OK ||
        str_field(attrs, "RawMessageDelivery", false, true, &raw, e) != LM_OK ||
        str_field(attrs, "FilterPolicy", false, true, &s.filter_policy, e) != LM_OK ||
        str_field(attrs, "FilterPolicyScope", false, true, &s.filter_scope, e) != LM_OK) {
        return NULL;
    }
    if (raw != NULL && strcmp(raw, "true") != 0 && strcmp(raw, "false") != 0) {
        proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                    "Invalid parameter: RawMessageDelivery must be true or false");
        return NULL;
    }
    s.raw = raw != NULL && strcmp(raw, "true") == 0;
    if (mq_subscribe(m, topic, &s, c->now_ms, arn, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "SubscriptionArn", arn);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_topic_unsubscribe(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *arn = NULL;
    if (str_field(c->args, "SubscriptionArn", true, true, &arn, e) != LM_OK ||
        mq_unsubscribe(m, arn, e) != LM_OK) {
        return NULL;
    }
    return reply_empty(e);
}

nng_msg *mqops_topic_subscriptions(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *topic = NULL;
    if (topic_arg(c->args, &topic, e) != LM_OK) {
        return NULL;
    }
    cJSON *list = mq_subscriptions(m, topic, e);
    return list != NULL ? reply_wrapped("Subscriptions", list, e) : NULL;
}

nng_msg *mqops_topic_publish(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *topic = NULL;
    mq_publish_in in = {0};
    mq_published out;
    if (topic_arg(c->args, &topic, e) != LM_OK ||
        str_field(c->args, "Message", true, true, &in.message, e) != LM_OK ||
        str_field(c->args, "Subject", false, true, &in.subject, e) != LM_OK ||
        obj_field(c->args, "MessageAttributes", true, &in.attributes, e) != LM_OK) {
        return NULL;
    }
    in.len = strlen(in.message);
    if (mq_publish(m, topic, &in, c->now_ms, &out, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "MessageId", out.message_id);
    return mqops_reply_json(o, e);
}
