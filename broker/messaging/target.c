/*
 * broker/messaging/target.c — destination references (see target.h).
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"

#include "messaging/mq_internal.h"
#include "messaging/target.h"

/* "arn:PART:SERVICE:…": is this an ARN of service? */
static bool arn_of(const char *s, const char *service)
{
    if (strncmp(s, "arn:", 4) != 0) {
        return false;
    }
    const char *p = strchr(s + 4, ':');
    size_t n = strlen(service);
    return p != NULL && strncmp(p + 1, service, n) == 0 && p[1 + n] == ':';
}

int mq_target_parse(const char *ref, size_t n, mq_target *t, lm_error *e)
{
    char buf[MQ_ARN_MAX];
    memset(t, 0, sizeof(*t));
    t->kind = MQ_TARGET_FUNCTION;
    if (n >= sizeof(buf)) {
        return LM_OK; /* too long for a queue or topic: the function parser says why */
    }
    memcpy(buf, ref, n);
    buf[n] = '\0';
    if (strncmp(buf, "queue:", 6) == 0 || arn_of(buf, "sqs")) {
        const char *r = strncmp(buf, "queue:", 6) == 0 ? buf + 6 : buf;
        char q[MQ_QUEUE_NAME_MAX + 1];
        if (mq_queue_ref(r, q, e) != LM_OK) {
            return e->code;
        }
        t->kind = MQ_TARGET_QUEUE;
        snprintf(t->name, sizeof(t->name), "%s", q);
        mq_queue_arn(q, t->arn);
        return LM_OK;
    }
    if (strncmp(buf, "bus:", 4) == 0 || (arn_of(buf, "events") && strstr(buf, ":event-bus/"))) {
        const char *r = strncmp(buf, "bus:", 4) == 0 ? buf + 4 : strstr(buf, ":event-bus/") + 11;
        size_t k = strlen(r);
        if (k == 0 || k > MQ_BUS_NAME_MAX || strpbrk(r, ": ") != NULL) {
            return proto_error(e, LM_E_INVALID_PARAMETER, "%s is not an event bus", buf);
        }
        t->kind = MQ_TARGET_BUS;
        snprintf(t->name, sizeof(t->name), "%s", r);
        mq_bus_arn(t->name, t->arn);
        return LM_OK;
    }
    if (strncmp(buf, "topic:", 6) == 0 || arn_of(buf, "sns")) {
        const char *r = strncmp(buf, "topic:", 6) == 0 ? buf + 6 : buf;
        char sub[64];
        if (mq_topic_ref(r, t->name, sub, e) != LM_OK) {
            return e->code;
        }
        if (sub[0] != '\0') {
            return proto_error(e, LM_E_INVALID_PARAMETER, "%s is a subscription, not a topic", buf);
        }
        t->kind = MQ_TARGET_TOPIC;
        mq_topic_arn(t->name, t->arn);
        return LM_OK;
    }
    return LM_OK;
}
