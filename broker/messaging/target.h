/*
 * broker/messaging/target.h — where an async destination or a dead-letter
 * queue points: a function, one of the broker's queues, or a topic.
 *
 * Accepted forms (Lambda's are ARNs; a bare name is a function, as
 * before queues existed):
 *   queue:NAME, arn:<any>:sqs:<region>:<account>:NAME        → a queue
 *   topic:NAME, arn:<any>:sns:<region>:<account>:NAME        → a topic
 *   bus:NAME, arn:<any>:events:…:event-bus/NAME             → an event bus
 *   NAME, NAME:Q, function:NAME[:Q], arn:…:function:NAME[:Q] → a function
 * A queue or topic is stored and shown as its canonical ARN (mq.h's
 * scheme), so "queue:q", "arn:aws:sqs:us-east-1:1:q" and the lamina ARN are
 * the same target.  Whether it exists is checked at delivery, as Lambda
 * does: a target deleted later must not make the config unreadable.
 */
#ifndef BROKER_MESSAGING_TARGET_H
#define BROKER_MESSAGING_TARGET_H

#include <stddef.h>

#include "messaging/mq.h"

typedef enum mq_target_kind {
    MQ_TARGET_FUNCTION,
    MQ_TARGET_QUEUE,
    MQ_TARGET_TOPIC,
    MQ_TARGET_BUS /* bus:NAME, arn:<any>:events:<region>:<account>:event-bus/NAME */
} mq_target_kind;

typedef struct mq_target {
    mq_target_kind kind;
    char name[MQ_TOPIC_NAME_MAX + 1]; /* the queue's, topic's or bus's name (not functions) */
    char arn[MQ_ARN_MAX]; /* canonical ARN of a queue or topic; "" for a function */
} mq_target;

/* Classify ref (n bytes, no NUL needed).  A queue or topic reference must be
 * well formed (else the engine's error); anything else is left to the
 * function-name parser and comes back as MQ_TARGET_FUNCTION. */
int mq_target_parse(const char *ref, size_t n, mq_target *t, lm_error *e);

#endif
