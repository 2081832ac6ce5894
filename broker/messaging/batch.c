/*
 * broker/messaging/batch.c — the decoder of SendMessageBatch's Entries
 * (JSON text from an untrusted caller) into mq_send_entry values.
 *
 * It checks the shape only: an array of 1-10 objects whose members are
 * SQS's (Id, MessageBody, DelaySeconds, MessageAttributes, MessageGroupId,
 * MessageDeduplicationId) with the right JSON types.  The values (Id
 * rules, distinct Ids, body characters, sizes, attributes, FIFO fields)
 * are checked by mq_send_batch, which an api caller reaches with the same
 * entries, so there is one place for each rule.  The entries point into
 * b->root: they live until mq_batch_finish.
 *
 * DelaySeconds: absent is -1 (the queue's); a JSON integer or a string of
 * digits (SQS's wire form) is taken as is; a value outside int range or a
 * negative one becomes -2 so that the send refuses it (never -1, which
 * would silently mean "the queue's").
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#include "mq_internal.h"

static int delay_of(const cJSON *v, int *out, lm_error *e)
{
    double d;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring[0] != '\0' &&
               strspn(v->valuestring, "0123456789") == strlen(v->valuestring) &&
               strlen(v->valuestring) <= 9) {
        d = (double)atol(v->valuestring);
    } else {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "DelaySeconds must be an integer number of seconds");
    }
    if (d != floor(d) || !isfinite(d)) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "DelaySeconds must be an integer number of seconds");
    }
    *out = d < 0 || d > INT_MAX ? -2 : (int)d;
    return LM_OK;
}

static int str_member(const cJSON *v, const char *name, const char **out, lm_error *e)
{
    if (!cJSON_IsString(v)) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER, "%s must be a string", name);
    }
    *out = v->valuestring;
    return LM_OK;
}

static int entry_member(const cJSON *v, mq_send_entry *en, size_t i, lm_error *e)
{
    const char *k = v->string;
    if (strcmp(k, "Id") == 0) {
        return str_member(v, "Id", &en->id, e);
    }
    if (strcmp(k, "MessageBody") == 0) {
        int rc = str_member(v, "MessageBody", &en->body, e);
        if (rc == LM_OK) {
            en->body_len = strlen(en->body);
        }
        return rc;
    }
    if (strcmp(k, "DelaySeconds") == 0) {
        return delay_of(v, &en->delay_s, e);
    }
    if (strcmp(k, "MessageAttributes") == 0) {
        if (!cJSON_IsObject(v)) {
            return proto_error(e, LM_E_MQ_INVALID_PARAMETER, "MessageAttributes must be an object");
        }
        en->attributes = v;
        return LM_OK;
    }
    if (strcmp(k, "MessageGroupId") == 0) {
        return str_member(v, "MessageGroupId", &en->group_id, e);
    }
    if (strcmp(k, "MessageDeduplicationId") == 0) {
        return str_member(v, "MessageDeduplicationId", &en->dedup_id, e);
    }
    char qb[96];
    return proto_error(e, LM_E_MQ_INVALID_PARAMETER, "entry %zu: unknown member %s", i,
                       mq_q(qb, sizeof(qb), k));
}

static int entry_parse(const cJSON *o, mq_send_entry *en, size_t i, lm_error *e)
{
    memset(en, 0, sizeof(*en));
    en->delay_s = -1;
    if (!cJSON_IsObject(o)) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER, "entry %zu is not an object", i);
    }
    for (const cJSON *v = o->child; v != NULL; v = v->next) {
        int rc = entry_member(v, en, i, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
    if (en->id == NULL) {
        return proto_error(e, LM_E_MQ_MISSING_PARAMETER, "entry %zu has no Id", i);
    }
    if (en->body == NULL) {
        return proto_error(e, LM_E_MQ_MISSING_PARAMETER, "entry %zu has no MessageBody", i);
    }
    return LM_OK;
}

int mq_batch_parse(const char *json, size_t len, mq_batch *b, lm_error *e)
{
    memset(b, 0, sizeof(*b));
    b->root = mq_json_parse(json, len, LM_E_MQ_INVALID_PARAMETER, "the batch's Entries", e);
    if (b->root == NULL) {
        return LM_E_MQ_INVALID_PARAMETER;
    }
    if (!cJSON_IsArray(b->root)) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER, "the batch's Entries must be an array");
    }
    int n = cJSON_GetArraySize(b->root);
    if (n == 0) {
        return proto_error(e, LM_E_EMPTY_BATCH,
                           "There should be at least one entry in the request.");
    }
    if (n > MQ_BATCH_MAX) {
        return proto_error(e, LM_E_TOO_MANY_ENTRIES,
                           "Maximum number of entries per request are %d. You have sent %d.",
                           MQ_BATCH_MAX, n);
    }
    size_t i = 0;
    for (const cJSON *o = b->root->child; o != NULL; o = o->next, i++) {
        int rc = entry_parse(o, &b->en[i], i, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
    b->n = i;
    return LM_OK;
}

void mq_batch_finish(mq_batch *b)
{
    if (b != NULL) {
        cJSON_Delete(b->root);
        b->root = NULL;
        b->n = 0;
    }
}
