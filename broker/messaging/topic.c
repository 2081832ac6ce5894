/*
 * broker/messaging/topic.c — topics (SNS standard): create, get, list,
 * delete, subscribe, unsubscribe, the subscription list, and publish with
 * its fan-out.
 *
 * Publish is one operation frame: the topic row (indexed by name) gives
 * its id and generation, the compiled cache (policy.c) says which
 * subscriptions match, and each match is delivered in a savepoint of its
 * own, so a delivery that fails (queue gone, message too long for it,
 * invoke hook refused) rolls back only itself and is counted; the rest
 * commit together, in the caller's transaction or the publish's own.
 *
 * Shapes (SNS's).  A queue subscription gets the notification envelope
 * {"Type":"Notification","MessageId","TopicArn","Subject"?,"Message",
 * "Timestamp","SignatureVersion":"1","Signature":"","SigningCertURL":"",
 * "UnsubscribeURL":"","MessageAttributes"?} as its body, or with
 * RawMessageDelivery the message itself with the attributes as SQS
 * message attributes.  A function subscription's event is
 * {"Records":[{"EventSource":"aws:sns","EventVersion":"1.0",
 * "EventSubscriptionArn","Sns":{"Type","MessageId","TopicArn","Subject"
 * (null without one),"Message","Timestamp","SignatureVersion",
 * "Signature","SigningCertUrl","UnsubscribeUrl","MessageAttributes"}}]}.
 * The broker is local and unsigned: Signature and the URLs are empty.
 *
 * Subscriptions are confirmed at once (both endpoints are the broker's
 * own).  An sqs endpoint is stored as the queue's name, a lambda one as
 * NAME or NAME:QUALIFIER, so that the same endpoint given as a name or
 * as an ARN is one subscription.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#include "mq_internal.h"

typedef struct topic_row {
    int64_t tid, created_ms, gen, n_subs;
    char name[MQ_TOPIC_NAME_MAX + 1];
} topic_row;

/* 1 found, 0 none (NotFound filled if e), <0 error */
static int topic_load(mq *m, const char *name, topic_row *t, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT tid, created_ms, gen, n_subs FROM mq_topics "
                               "WHERE name=?1",
                               e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r == 1) {
        t->tid = sqlite3_column_int64(st, 0);
        t->created_ms = sqlite3_column_int64(st, 1);
        t->gen = sqlite3_column_int64(st, 2);
        t->n_subs = sqlite3_column_int64(st, 3);
        mq_fmt(t->name, "%s", name);
        sqlite3_reset(st);
    } else if (r == 0) {
        char qb[96];
        proto_error(e, LM_E_SNS_NOT_FOUND, "Topic does not exist: %s", mq_q(qb, sizeof(qb), name));
    }
    return r;
}

static int topic_open(mq *m, const char *ref, topic_row *t, lm_error *e)
{
    char name[MQ_TOPIC_NAME_MAX + 1];
    int rc = mq_topic_ref(ref, name, NULL, e);
    if (rc != LM_OK) {
        return rc;
    }
    int r = topic_load(m, name, t, e);
    return r == 1 ? LM_OK : r == 0 ? LM_E_SNS_NOT_FOUND : LM_E_IO;
}

static int topic_count(mq *m, int64_t *n, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT count(*) FROM mq_topics", e);
    if (st == NULL || mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return LM_OK;
}

int mq_topic_create(mq *m, const char *name, int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e)
{
    char qb[96];
    if (name == NULL || !mq_valid_topic_name(name, strlen(name))) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                           "Invalid parameter: Topic Name %s: 1-256 characters of A-Z a-z 0-9 "
                           "_ -",
                           mq_q(qb, sizeof(qb), name != NULL ? name : ""));
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    topic_row t;
    int r = topic_load(m, name, &t, NULL);
    int64_t n = 0;
    if (r < 0) {
        rc = mq_db_error(m, e, "topic");
    } else if (r == 0) {
        rc = topic_count(m, &n, e);
        if (rc == LM_OK && n >= MQ_TOPICS_MAX) {
            rc =
                proto_error(e, LM_E_TOPIC_LIMIT, "Topic limit exceeded (%d topics)", MQ_TOPICS_MAX);
        }
        sqlite3_stmt *st = rc == LM_OK ? mq_stmt(m,
                                                 "INSERT INTO mq_topics(name, created_ms) "
                                                 "VALUES(?1, ?2)",
                                                 e)
                                       : NULL;
        if (rc == LM_OK && st == NULL) {
            rc = LM_E_IO;
        }
        if (rc == LM_OK) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, now_ms);
            rc = mq_done(m, st, e);
        }
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK && arn != NULL) {
        mq_topic_arn(name, arn);
    }
    return rc;
}

static int exec_tid(mq *m, const char *sql, int64_t tid, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, sql, e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, tid);
    return mq_done(m, st, e);
}

int mq_topic_delete(mq *m, const char *topic, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    topic_row t;
    rc = topic_open(m, topic, &t, e);
    if (rc == LM_OK) {
        rc = exec_tid(m, "DELETE FROM mq_subs WHERE tid=?1", t.tid, e);
    }
    if (rc == LM_OK) {
        rc = exec_tid(m, "DELETE FROM mq_topics WHERE tid=?1", t.tid, e);
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK) {
        mq_topic_cache_drop(m, t.tid);
    }
    return rc;
}

static bool add_str(cJSON *o, const char *k, const char *v)
{
    return cJSON_AddStringToObject(o, k, v) != NULL;
}

static bool add_i64(cJSON *o, const char *k, int64_t v)
{
    char b[24];
    mq_fmt(b, "%lld", (long long)v);
    return add_str(o, k, b);
}

cJSON *mq_topic_get(mq *m, const char *topic, lm_error *e)
{
    topic_row t;
    if (topic_open(m, topic, &t, e) != LM_OK) {
        return NULL;
    }
    char arn[MQ_ARN_MAX];
    mq_topic_arn(t.name, arn);
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && add_str(o, "TopicArn", arn) && add_str(o, "Owner", MQ_ARN_ACCOUNT) &&
              add_str(o, "DisplayName", "") && add_i64(o, "SubscriptionsConfirmed", t.n_subs) &&
              add_str(o, "SubscriptionsPending", "0") && add_str(o, "SubscriptionsDeleted", "0") &&
              add_i64(o, "CreatedTimestamp", t.created_ms / 1000);
    if (!ok) {
        cJSON_Delete(o);
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    return o;
}

cJSON *mq_topic_list(mq *m, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT name FROM mq_topics ORDER BY name", e);
    cJSON *a = st != NULL ? cJSON_CreateArray() : NULL;
    if (a == NULL) {
        if (st != NULL) {
            proto_error(e, LM_E_NOMEM, NULL);
        }
        return NULL;
    }
    int r;
    bool ok = true;
    while (ok && (r = mq_step(m, st, e)) == 1) {
        char arn[MQ_ARN_MAX];
        mq_topic_arn(mq_col_text(st, 0), arn);
        cJSON *o = cJSON_CreateObject();
        ok = o != NULL && cJSON_AddItemToArray(a, o) && add_str(o, "TopicArn", arn) &&
             add_str(o, "Name", mq_col_text(st, 0));
    }
    if (!ok || r < 0) {
        sqlite3_reset(st);
        if (!ok) {
            proto_error(e, LM_E_NOMEM, NULL);
        }
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* ---- subscriptions ---- */

static void sub_arn(const char *topic, const char *uuid, char out[MQ_ARN_MAX])
{
    char t[MQ_ARN_MAX];
    mq_topic_arn(topic, t);
    snprintf(out, MQ_ARN_MAX, "%.300s:%s", t, uuid);
}

/* The endpoint of s as stored (queue name / NAME[:QUALIFIER]). */
static int sub_endpoint(mq *m, const mq_sub_spec *s, char out[MQ_ARN_MAX], lm_error *e)
{
    char qb[96];
    if (s->protocol != NULL && strcmp(s->protocol, "sqs") == 0) {
        char name[MQ_QUEUE_NAME_MAX + 1];
        if (mq_queue_ref(s->endpoint, name, NULL) != LM_OK) {
            return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                               "Invalid parameter: SQS endpoint %s is not a queue name or ARN",
                               mq_q(qb, sizeof(qb), s->endpoint != NULL ? s->endpoint : ""));
        }
        mq_queue q;
        int r = mq_q_load(m, name, &q, e);
        if (r < 0) {
            return LM_E_IO;
        }
        if (r == 0 || q.fifo) {
            return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                               "Invalid parameter: SQS endpoint %s %s", mq_q(qb, sizeof(qb), name),
                               r == 0 ? "does not exist"
                                      : "is a FIFO queue (a standard topic "
                                        "delivers to standard queues)");
        }
        snprintf(out, MQ_ARN_MAX, "%s", name);
        return LM_OK;
    }
    if (s->protocol != NULL && strcmp(s->protocol, "lambda") == 0) {
        char fn[65], qual[129];
        int rc = mq_function_ref(s->endpoint, fn, qual, e);
        if (rc == LM_OK && s->raw) {
            rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                             "Invalid parameter: RawMessageDelivery is for sqs subscriptions");
        }
        if (rc == LM_OK) {
            snprintf(out, MQ_ARN_MAX, "%s%s%s", fn, qual[0] != '\0' ? ":" : "", qual);
        }
        return rc;
    }
    return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                       "Invalid parameter: Protocol %s: sqs or lambda",
                       mq_q(qb, sizeof(qb), s->protocol != NULL ? s->protocol : ""));
}

static int sub_check(mq *m, const mq_sub_spec *s, char ep[MQ_ARN_MAX], const char **scope,
                     const char **policy, lm_error *e)
{
    int rc = sub_endpoint(m, s, ep, e);
    if (rc != LM_OK) {
        return rc;
    }
    *scope = s->filter_scope != NULL ? s->filter_scope : "MessageAttributes";
    *policy = s->filter_policy != NULL && s->filter_policy[0] != '\0' ? s->filter_policy : NULL;
    if (*policy != NULL) {
        return mq_filter_policy_check(*policy, strlen(*policy), *scope, e);
    }
    if (strcmp(*scope, "MessageAttributes") != 0 && strcmp(*scope, "MessageBody") != 0) {
        return mq_filter_policy_check("{}", 2, *scope, e);
    }
    return LM_OK;
}

/* An existing subscription of (tid, protocol, ep): 1 (uuid filled; *same
 * says whether its attributes equal s's), 0 none, <0 error. */
static int sub_find(mq *m, int64_t tid, const char *protocol, const char *ep, bool raw,
                    const char *policy, const char *scope, char uuid[37], bool *same, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT uuid, raw, coalesce(policy, ''), scope FROM mq_subs "
                               "WHERE tid=?1 AND protocol=?2 AND endpoint=?3",
                               e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, tid);
    sqlite3_bind_text(st, 2, protocol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ep, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r == 1) {
        snprintf(uuid, 37, "%s", mq_col_text(st, 0));
        *same = (sqlite3_column_int(st, 1) != 0) == raw &&
                strcmp(mq_col_text(st, 2), policy != NULL ? policy : "") == 0 &&
                strcmp(mq_col_text(st, 3), scope) == 0;
        sqlite3_reset(st);
    }
    return r;
}

static int sub_insert(mq *m, const topic_row *t, const mq_sub_spec *s, const char *ep,
                      const char *policy, const char *scope, int64_t now_ms, char uuid[37],
                      lm_error *e)
{
    if (t->n_subs >= MQ_SUBSCRIPTIONS_MAX) {
        return proto_error(e, LM_E_SUBSCRIPTION_LIMIT, "Subscription limit exceeded (%d per topic)",
                           MQ_SUBSCRIPTIONS_MAX);
    }
    util_uuid4(uuid);
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO mq_subs(tid, uuid, protocol, endpoint, raw, policy, "
                               "scope, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, t->tid);
    sqlite3_bind_text(st, 2, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->protocol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ep, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, s->raw ? 1 : 0);
    sqlite3_bind_text(st, 6, policy, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, scope, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now_ms);
    int rc = mq_done(m, st, e);
    if (rc == LM_OK) {
        rc = exec_tid(m, "UPDATE mq_topics SET n_subs=n_subs+1, gen=random() WHERE tid=?1", t->tid,
                      e);
    }
    return rc;
}

int mq_subscribe(mq *m, const char *topic, const mq_sub_spec *s, int64_t now_ms,
                 char arn[MQ_ARN_MAX], lm_error *e)
{
    char ep[MQ_ARN_MAX], uuid[37] = "";
    const char *scope = NULL, *policy = NULL;
    bool same = false;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    topic_row t;
    rc = topic_open(m, topic, &t, e);
    if (rc == LM_OK) {
        rc = sub_check(m, s, ep, &scope, &policy, e);
    }
    if (rc == LM_OK) {
        int r = sub_find(m, t.tid, s->protocol, ep, s->raw, policy, scope, uuid, &same, e);
        if (r < 0) {
            rc = LM_E_IO;
        } else if (r == 1 && !same) {
            rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                             "Invalid parameter: Attributes Reason: Subscription already exists "
                             "with different attributes");
        } else if (r == 0) {
            rc = sub_insert(m, &t, s, ep, policy, scope, now_ms, uuid, e);
        }
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK && arn != NULL) {
        sub_arn(t.name, uuid, arn);
    }
    return rc;
}

int mq_unsubscribe(mq *m, const char *subscription_arn, lm_error *e)
{
    char name[MQ_TOPIC_NAME_MAX + 1], sub[64];
    int rc = mq_topic_ref(subscription_arn, name, sub, e);
    if (rc == LM_OK && sub[0] == '\0') {
        rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                         "Invalid parameter: SubscriptionArn: not a subscription ARN");
    }
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    topic_row t;
    rc = topic_open(m, name, &t, e);
    sqlite3_stmt *st = NULL;
    if (rc == LM_OK) {
        st = mq_stmt(m, "DELETE FROM mq_subs WHERE tid=?1 AND uuid=?2", e);
        rc = st != NULL ? LM_OK : LM_E_IO;
    }
    if (rc == LM_OK) {
        sqlite3_bind_int64(st, 1, t.tid);
        sqlite3_bind_text(st, 2, sub, -1, SQLITE_STATIC);
        rc = mq_done(m, st, e);
    }
    if (rc == LM_OK && sqlite3_changes(m->db) == 0) {
        rc = proto_error(e, LM_E_SNS_NOT_FOUND, "Subscription does not exist");
    }
    if (rc == LM_OK) {
        rc = exec_tid(m, "UPDATE mq_topics SET n_subs=n_subs-1, gen=random() WHERE tid=?1", t.tid,
                      e);
    }
    return mq_op_end(m, rc, e);
}

static cJSON *sub_json(const topic_row *t, sqlite3_stmt *st)
{
    char arn[MQ_ARN_MAX], tarn[MQ_ARN_MAX], ep[MQ_ARN_MAX];
    sub_arn(t->name, mq_col_text(st, 0), arn);
    mq_topic_arn(t->name, tarn);
    const char *proto = mq_col_text(st, 1);
    if (strcmp(proto, "sqs") == 0) {
        mq_queue_arn(mq_col_text(st, 2), ep);
    } else {
        char fn[65], qual[129];
        if (mq_function_ref(mq_col_text(st, 2), fn, qual, NULL) != LM_OK) {
            fn[0] = qual[0] = '\0';
        }
        mq_function_arn(fn, qual, ep);
    }
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && add_str(o, "SubscriptionArn", arn) && add_str(o, "TopicArn", tarn) &&
              add_str(o, "Protocol", proto) && add_str(o, "Endpoint", ep) &&
              add_str(o, "Owner", MQ_ARN_ACCOUNT) &&
              add_str(o, "RawMessageDelivery", sqlite3_column_int(st, 3) ? "true" : "false") &&
              add_str(o, "FilterPolicy", mq_col_text(st, 4)) &&
              add_str(o, "FilterPolicyScope", mq_col_text(st, 5));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *mq_subscriptions(mq *m, const char *topic, lm_error *e)
{
    topic_row t;
    if (topic_open(m, topic, &t, e) != LM_OK) {
        return NULL;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT uuid, protocol, endpoint, raw, coalesce(policy, ''), "
                               "scope FROM mq_subs WHERE tid=?1 ORDER BY sid",
                               e);
    cJSON *a = st != NULL ? cJSON_CreateArray() : NULL;
    if (a == NULL) {
        if (st != NULL) {
            proto_error(e, LM_E_NOMEM, NULL);
        }
        return NULL;
    }
    sqlite3_bind_int64(st, 1, t.tid);
    int r;
    bool ok = true;
    while (ok && (r = mq_step(m, st, e)) == 1) {
        cJSON *o = sub_json(&t, st);
        ok = o != NULL && cJSON_AddItemToArray(a, o);
    }
    if (!ok || r < 0) {
        sqlite3_reset(st);
        if (!ok) {
            proto_error(e, LM_E_NOMEM, NULL);
        }
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* ---- publish ---- */

typedef struct pub_ctx {
    const mq_publish_in *in;
    const topic_row *t;
    char topic_arn[MQ_ARN_MAX];
    char message_id[37];
    char timestamp[32];
    char *envelope; /* the notification body for non-raw queue subscriptions */
    cJSON *raw_attrs; /* SQS attributes for raw deliveries */
    int64_t now;
} pub_ctx;

static int publish_check(const mq_publish_in *in, size_t *bytes, lm_error *e)
{
    size_t at = 0;
    const char *why = NULL;
    if (in->message == NULL || in->len == 0) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER, "Invalid parameter: Empty message");
    }
    if (!proto_utf8_ok(in->message, in->len, false, &at, &why)) {
        return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                           "Invalid parameter: Message is not UTF-8 text (byte %zu: %s)", at,
                           why != NULL ? why : "bad");
    }
    if (in->subject != NULL) {
        size_t n = strlen(in->subject);
        bool ok = n >= 1 && n <= MQ_SNS_SUBJECT_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            ok = in->subject[i] >= 0x20 && in->subject[i] <= 0x7e;
        }
        if (!ok) {
            return proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                               "Invalid parameter: Subject must be 1-100 printable ASCII "
                               "characters");
        }
    }
    int rc = mq_attributes_check(in->attributes, true, NULL, bytes, e);
    if (rc == LM_OK && in->len + *bytes > MQ_SNS_MESSAGE_MAX) {
        rc = proto_error(e, LM_E_SNS_INVALID_PARAMETER,
                         "Invalid parameter: Message too long (%zu bytes with its attributes, "
                         "at most %d)",
                         in->len + *bytes, MQ_SNS_MESSAGE_MAX);
    }
    return rc;
}

/* SNS's message object; lambda: the Lambda event's casing and null
 * Subject.  NULL on ENOMEM. */
static cJSON *sns_object(const pub_ctx *p, bool lambda)
{
    cJSON *o = cJSON_CreateObject();
    char *msg = mq_strndup(p->in->message, p->in->len);
    bool ok = o != NULL && msg != NULL && add_str(o, "Type", "Notification") &&
              add_str(o, "MessageId", p->message_id) && add_str(o, "TopicArn", p->topic_arn);
    if (ok && p->in->subject != NULL) {
        ok = add_str(o, "Subject", p->in->subject);
    } else if (ok && lambda) {
        ok = cJSON_AddNullToObject(o, "Subject") != NULL;
    }
    ok = ok && add_str(o, "Message", msg) && add_str(o, "Timestamp", p->timestamp) &&
         add_str(o, "SignatureVersion", "1") && add_str(o, "Signature", "") &&
         add_str(o, lambda ? "SigningCertUrl" : "SigningCertURL", "") &&
         add_str(o, lambda ? "UnsubscribeUrl" : "UnsubscribeURL", "");
    free(msg);
    if (ok && (lambda || (p->in->attributes != NULL && p->in->attributes->child != NULL))) {
        cJSON *a = mq_attributes_sns_envelope(p->in->attributes);
        ok = a != NULL && cJSON_AddItemToObject(o, "MessageAttributes", a);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int deliver_queue(mq *m, pub_ctx *p, const mq_csub *s, lm_error *e)
{
    mq_queue q;
    int rc = mq_q_open(m, s->endpoint, p->now, &q, e);
    if (rc != LM_OK) {
        return rc;
    }
    mq_send_entry en = {.delay_s = -1};
    if (s->raw) {
        en.body = p->in->message;
        en.body_len = p->in->len;
        en.attributes = p->raw_attrs;
    } else {
        en.body = p->envelope;
        en.body_len = strlen(p->envelope);
    }
    mq_sent sent;
    memset(&sent, 0, sizeof(sent));
    rc = mq_send_into(m, &q, &en, &sent, e);
    if (rc == LM_OK) {
        rc = mq_q_save(m, &q, e);
    }
    return rc;
}

static int deliver_lambda(mq *m, pub_ctx *p, const mq_csub *s, lm_error *e)
{
    char fn[65], qual[129], fn_arn[MQ_ARN_MAX], sarn[MQ_ARN_MAX];
    if (m->invoke == NULL) {
        return proto_error(e, LM_E_INTERNAL, "no invoke hook: function deliveries fail");
    }
    int rc = mq_function_ref(s->endpoint, fn, qual, e);
    if (rc != LM_OK) {
        return rc;
    }
    mq_function_arn(fn, qual, fn_arn);
    sub_arn(p->t->name, s->uuid, sarn);
    cJSON *ev = cJSON_CreateObject();
    cJSON *recs = ev != NULL ? cJSON_AddArrayToObject(ev, "Records") : NULL;
    cJSON *r = recs != NULL ? cJSON_CreateObject() : NULL;
    if (r != NULL && !cJSON_AddItemToArray(recs, r)) {
        cJSON_Delete(r);
        r = NULL;
    }
    bool ok = r != NULL && add_str(r, "EventSource", "aws:sns") &&
              add_str(r, "EventVersion", "1.0") && add_str(r, "EventSubscriptionArn", sarn);
    cJSON *sns = ok ? sns_object(p, true) : NULL;
    if (sns != NULL && !cJSON_AddItemToObject(r, "Sns", sns)) {
        cJSON_Delete(sns);
        sns = NULL;
    }
    char *text = sns != NULL ? cJSON_PrintUnformatted(ev) : NULL;
    cJSON_Delete(ev);
    if (text == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    mq_delivery d = {.function = fn,
                     .qualifier = qual,
                     .function_arn = fn_arn,
                     .subscription_arn = sarn,
                     .topic_arn = p->topic_arn,
                     .message_id = p->message_id,
                     .event = text,
                     .event_len = strlen(text)};
    rc = m->invoke(m->invoke_arg, &d, e);
    free(text);
    return rc;
}

static int publish_fanout(mq *m, pub_ctx *p, mq_published *out, lm_error *e)
{
    mq_topic_cache *c = mq_topic_cache_get(m, p->t->tid, p->t->gen, e);
    if (c == NULL) {
        return LM_E_IO;
    }
    size_t n = mq_topic_cache_count(c);
    bool *match = calloc(n + 1, sizeof(*match));
    char *doc = mq_attributes_filter_doc(p->in->attributes);
    cJSON *env = sns_object(p, false);
    p->envelope = env != NULL ? cJSON_PrintUnformatted(env) : NULL;
    cJSON_Delete(env);
    p->raw_attrs = mq_attributes_sns_to_sqs(p->in->attributes);
    int rc = LM_OK;
    if (match == NULL || doc == NULL || p->envelope == NULL) {
        rc = proto_error(e, LM_E_NOMEM, NULL);
    } else {
        rc = mq_topic_cache_match(c, doc, p->in->message, p->in->len, match, e);
    }
    for (size_t i = 0; rc == LM_OK && i < n; i++) {
        if (!match[i]) {
            continue;
        }
        out->matched++;
        const mq_csub *s = mq_topic_cache_sub(c, i);
        lm_error de;
        int r = mq_sp_begin(m, &de);
        if (r == LM_OK) {
            r = s->lambda ? deliver_lambda(m, p, s, &de) : deliver_queue(m, p, s, &de);
            mq_sp_end(m, r == LM_OK);
        }
        if (r == LM_OK) {
            out->delivered++;
        } else {
            out->failed++;
        }
    }
    free(match);
    free(doc);
    free(p->envelope);
    cJSON_Delete(p->raw_attrs);
    return rc;
}

int mq_publish_within(mq *m, const char *topic, const mq_publish_in *in, int64_t now_ms,
                      mq_published *out, lm_error *e)
{
    memset(out, 0, sizeof(*out));
    size_t abytes = 0;
    int rc = publish_check(in, &abytes, e);
    if (rc != LM_OK) {
        return rc;
    }
    topic_row t;
    pub_ctx p = {.in = in, .t = &t, .now = now_ms};
    rc = topic_open(m, topic, &t, e);
    if (rc == LM_OK) {
        mq_topic_arn(t.name, p.topic_arn);
        util_uuid4(p.message_id);
        mq_iso8601(now_ms, p.timestamp);
        rc = publish_fanout(m, &p, out, e);
    }
    if (rc == LM_OK) {
        mq_fmt(out->message_id, "%s", p.message_id);
    } else {
        out->matched = out->delivered = out->failed = 0;
    }
    return rc;
}

int mq_publish(mq *m, const char *topic, const mq_publish_in *in, int64_t now_ms, mq_published *out,
               lm_error *e)
{
    memset(out, 0, sizeof(*out));
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_publish_within(m, topic, in, now_ms, out, e);
    rc = mq_op_end(m, rc, e);
    if (rc != LM_OK) {
        out->message_id[0] = '\0';
        out->matched = out->delivered = out->failed = 0;
    }
    return rc;
}
