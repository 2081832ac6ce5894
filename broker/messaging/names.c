/*
 * broker/messaging/names.c — SQS's and SNS's name rules, the ARN scheme
 * (mq.h) and references to queues and topics, and SQS's allowed message
 * characters.  Pure functions over (pointer, length).
 *
 *   queue       [A-Za-z0-9_-]{1,80}, a FIFO queue's with ".fifo" (counted)
 *   topic       [A-Za-z0-9_-]{1,256}
 *   batch Id    [A-Za-z0-9_-]{1,80}
 *   group id    1-128 printable ASCII characters but space (SQS: alphanumeric
 *               and punctuation), the same for deduplication ids
 *   queue ref   NAME, arn:P:sqs:R:A:NAME, or a queue URL (its last path
 *               segment: what AWS SDKs call QueueUrl)
 *   topic ref   NAME, arn:P:sns:R:A:NAME, arn:P:sns:R:A:NAME:SUBSCRIPTION
 * An ARN's partition must be non-empty; region and account may be
 * anything of [A-Za-z0-9-] (the broker has one namespace, mq.h).
 */
#include <string.h>

#include "proto.h"

#include "mq_internal.h"

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool all_name_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i])) {
            return false;
        }
    }
    return true;
}

bool mq_valid_queue_name(const char *s, size_t n, bool *fifo)
{
    bool f = n > 5 && memcmp(s + n - 5, ".fifo", 5) == 0;
    if (fifo != NULL) {
        *fifo = f;
    }
    size_t base = f ? n - 5 : n;
    return n <= MQ_QUEUE_NAME_MAX && base >= 1 && all_name_chars(s, base);
}

bool mq_valid_topic_name(const char *s, size_t n)
{
    return n >= 1 && n <= MQ_TOPIC_NAME_MAX && all_name_chars(s, n);
}

bool mq_valid_batch_id(const char *s, size_t n)
{
    return n >= 1 && n <= MQ_BATCH_ID_MAX && all_name_chars(s, n);
}

bool mq_valid_group_id(const char *s, size_t n)
{
    if (n < 1 || n > MQ_GROUP_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* Split an ARN into at most max fields at ':'; *nf gets the count (more
 * than max: max + 1).  Checks the fixed parts: "arn", a partition and the
 * service, region and account of [A-Za-z0-9-]. */
static bool arn_split(const char *s, const char *service, const char *f[], size_t fl[], size_t max,
                      size_t *nf)
{
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *c = strchr(p, ':');
        if (n == max) {
            *nf = max + 1;
            return false;
        }
        f[n] = p;
        fl[n] = c != NULL ? (size_t)(c - p) : strlen(p);
        n++;
        if (c == NULL) {
            break;
        }
        p = c + 1;
    }
    *nf = n;
    if (n < 6 || fl[0] != 3 || memcmp(f[0], "arn", 3) != 0 || fl[1] == 0 ||
        fl[2] != strlen(service) || memcmp(f[2], service, fl[2]) != 0) {
        return false;
    }
    for (size_t i = 1; i < 5; i++) {
        for (size_t k = 0; k < fl[i]; k++) {
            if (!name_char(f[i][k]) || f[i][k] == '_') {
                return false;
            }
        }
    }
    return true;
}

int mq_queue_ref(const char *ref, char name[MQ_QUEUE_NAME_MAX + 1], lm_error *e)
{
    char qb[96];
    if (ref == NULL || *ref == '\0') {
        return proto_error(e, LM_E_MQ_MISSING_PARAMETER, "a queue name is required");
    }
    const char *s = ref;
    size_t n = strlen(ref);
    if (strncmp(ref, "arn:", 4) == 0) {
        const char *f[7];
        size_t fl[7], nf = 0;
        if (!arn_split(ref, "sqs", f, fl, 6, &nf) || nf != 6) {
            return proto_error(e, LM_E_MQ_INVALID_PARAMETER, "not a queue ARN: %s",
                               mq_q(qb, sizeof(qb), ref));
        }
        s = f[5];
        n = fl[5];
    } else if (strncmp(ref, "http://", 7) == 0 || strncmp(ref, "https://", 8) == 0) {
        const char *slash = strrchr(ref, '/');
        s = slash + 1;
        n = strlen(s);
    }
    bool fifo = false;
    if (!mq_valid_queue_name(s, n, &fifo)) {
        return proto_error(e, LM_E_MQ_INVALID_PARAMETER,
                           "invalid queue name %s: 1-80 characters of A-Z a-z 0-9 _ -, a FIFO "
                           "queue's ending in .fifo",
                           mq_q(qb, sizeof(qb), ref));
    }
    memcpy(name, s, n);
    name[n] = '\0';
    return LM_OK;
}

static bool valid_sub_id(const char *s, size_t n)
{
    if (n < 1 || n > 63) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) {
            return false;
        }
    }
    return true;
}

int mq_topic_ref(const char *ref, char name[MQ_TOPIC_NAME_MAX + 1], char sub[64], lm_error *e)
{
    char qb[96];
    if (sub != NULL) {
        sub[0] = '\0';
    }
    if (ref == NULL || *ref == '\0') {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER, "a topic name or ARN is required");
    }
    const char *s = ref;
    size_t n = strlen(ref);
    if (strncmp(ref, "arn:", 4) == 0) {
        const char *f[8];
        size_t fl[8], nf = 0;
        if (!arn_split(ref, "sns", f, fl, 7, &nf) || nf > 7 ||
            (nf == 7 && !valid_sub_id(f[6], fl[6]))) {
            return proto_error(e, LM_E_SNS_INVALID_PARAMETER, "not a topic ARN: %s",
                               mq_q(qb, sizeof(qb), ref));
        }
        s = f[5];
        n = fl[5];
        if (nf == 7 && sub != NULL) {
            memcpy(sub, f[6], fl[6]);
            sub[fl[6]] = '\0';
        }
    }
    if (!mq_valid_topic_name(s, n)) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                           "invalid topic name %s: 1-256 characters of A-Z a-z 0-9 _ -",
                           mq_q(qb, sizeof(qb), ref));
    }
    memcpy(name, s, n);
    name[n] = '\0';
    return LM_OK;
}

void mq_queue_arn(const char *name, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:sqs:%s:%s:%s", MQ_ARN_PARTITION, MQ_ARN_REGION,
             MQ_ARN_ACCOUNT, name);
}

void mq_topic_arn(const char *name, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:sns:%s:%s:%s", MQ_ARN_PARTITION, MQ_ARN_REGION,
             MQ_ARN_ACCOUNT, name);
}

void mq_function_arn(const char *name, const char *qualifier, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:lambda:%s:%s:function:%s%s%s", MQ_ARN_PARTITION,
             MQ_ARN_REGION, MQ_ARN_ACCOUNT, name,
             qualifier != NULL && *qualifier != '\0' ? ":" : "",
             qualifier != NULL ? qualifier : "");
}

bool mq_sqs_text_ok(const char *s, size_t n, size_t *at)
{
    size_t bad = 0;
    if (!proto_utf8_ok(s, n, false, &bad, NULL)) {
        if (at != NULL) {
            *at = bad;
        }
        return false;
    }
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        bool ok = !(len == 1 && c < 0x20 && c != 0x9 && c != 0xa && c != 0xd) &&
                  /* U+FFFE and U+FFFF: EF BF BE / EF BF BF */
                  !(len == 3 && c == 0xef && p[i + 1] == 0xbf && p[i + 2] >= 0xbe);
        if (!ok) {
            if (at != NULL) {
                *at = i;
            }
            return false;
        }
        i += len;
    }
    return true;
}

const char *mq_q(char *buf, size_t cap, const char *s)
{
    if (cap < 3) {
        if (cap > 0) {
            buf[0] = '\0';
        }
        return buf;
    }
    buf[0] = '"';
    size_t n = proto_quote(buf + 1, cap - 2, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
    buf[1 + n] = '"';
    buf[2 + n] = '\0';
    return buf;
}

static bool fn_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i])) {
            return false;
        }
    }
    return true;
}

static bool qualifier_ok(const char *s, size_t n)
{
    if (n < 1 || n > 128) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i]) && s[i] != '$') {
            return false;
        }
    }
    return true;
}

int mq_function_ref(const char *ref, char name[65], char qualifier[129], lm_error *e)
{
    char qb[96];
    const char *f[9];
    size_t fl[9], nf = 0;
    const char *s = ref != NULL ? ref : "";
    if (strncmp(s, "arn:", 4) == 0) {
        if (!arn_split(s, "lambda", f, fl, 8, &nf) || nf < 7 || fl[5] != 8 ||
            memcmp(f[5], "function", 8) != 0) {
            return proto_error(e, LM_E_SNS_INVALID_PARAMETER, "not a function ARN: %s",
                               mq_q(qb, sizeof(qb), s));
        }
        f[0] = f[6], fl[0] = fl[6];
        nf = nf == 8 ? 2 : 1;
        if (nf == 2) {
            f[1] = f[7], fl[1] = fl[7];
        }
    } else {
        const char *c = strchr(s, ':');
        f[0] = s, fl[0] = c != NULL ? (size_t)(c - s) : strlen(s);
        nf = 1;
        if (c != NULL) {
            f[1] = c + 1, fl[1] = strlen(c + 1), nf = 2;
        }
    }
    if (!fn_name_ok(f[0], fl[0]) || (nf == 2 && !qualifier_ok(f[1], fl[1]))) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                           "invalid function endpoint %s: NAME, NAME:QUALIFIER or a function "
                           "ARN",
                           mq_q(qb, sizeof(qb), s));
    }
    memcpy(name, f[0], fl[0]);
    name[fl[0]] = '\0';
    qualifier[0] = '\0';
    if (nf == 2) {
        memcpy(qualifier, f[1], fl[1]);
        qualifier[fl[1]] = '\0';
    }
    return LM_OK;
}
