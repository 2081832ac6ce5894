/*
 * Integration: the broker's own queues (issue #12) through the real api
 * socket: attributes, send / receive / delete, visibility and redelivery,
 * receipt handles, delay, retention, redrive to a dead-letter queue, FIFO
 * order, in-flight blocking and deduplication, batches with partial
 * failure, long poll woken by a send, and kill -9 during a stream of sends;
 * topics (issue #12): fan-out to queues as SNS's envelope or raw, filter
 * policies on attributes and on the body.
 * Scheduled time moves with the test clock (--test-clock), never by sleeping.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "harness.h"

static void subscribe_queue(lt_broker *b, const char *topic, const char *queue, const char *attrs);

static int fails(lt_broker *b, const char *op, const char *args, lm_error *e)
{
    int rc = lt_call(b, op, args, NULL, e);
    cr_assert_neq(rc, LM_OK, "%s %s should fail", op, args);
    return rc;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsString(v), "no string %s", key);
    return v->valuestring;
}

static const char *attr(const cJSON *msg, const char *key)
{
    return str(cJSON_GetObjectItemCaseSensitive(msg, "Attributes"), key);
}

/* Receive up to max messages from q with no wait; the Messages array. */
static cJSON *receive(lt_broker *b, const char *q, int max, cJSON **reply)
{
    *reply = lt_ok(b, "queue-receive",
                   "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":%d,"
                   "\"WaitTimeSeconds\":0}",
                   q, max);
    cJSON *m = cJSON_GetObjectItemCaseSensitive(*reply, "Messages");
    cr_assert(cJSON_IsArray(m));
    return m;
}

static int receive_count(lt_broker *b, const char *q, int max)
{
    cJSON *r;
    int n = cJSON_GetArraySize(receive(b, q, max, &r));
    cJSON_Delete(r);
    return n;
}

static void send(lt_broker *b, const char *q, const char *body)
{
    cJSON_Delete(lt_ok(b, "queue-send", "{\"QueueName\":\"%s\",\"MessageBody\":\"%s\"}", q, body));
}

static const char *queue_attr(lt_broker *b, const char *q, const char *key, char *buf, size_t cap)
{
    cJSON *g = lt_ok(b, "queue-get", "{\"QueueName\":\"%s\"}", q);
    snprintf(buf, cap, "%s", str(cJSON_GetObjectItemCaseSensitive(g, "Attributes"), key));
    cJSON_Delete(g);
    return buf;
}

Test(queue, attributes_defaults_and_counts)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON *c = lt_ok(&b, "queue-create", "{\"QueueName\":\"orders\"}");
    cr_assert_str_eq(str(c, "QueueArn"), "arn:lamina:sqs:local:000000000000:orders");
    cJSON_Delete(c);
    char buf[64];
    cr_assert_str_eq(queue_attr(&b, "orders", "VisibilityTimeout", buf, sizeof(buf)), "30");
    cr_assert_str_eq(queue_attr(&b, "orders", "MessageRetentionPeriod", buf, sizeof(buf)),
                     "345600");
    cr_assert_str_eq(queue_attr(&b, "orders", "MaximumMessageSize", buf, sizeof(buf)), "262144");
    cr_assert_str_eq(queue_attr(&b, "orders", "DelaySeconds", buf, sizeof(buf)), "0");
    send(&b, "orders", "one");
    send(&b, "orders", "two");
    cr_assert_str_eq(queue_attr(&b, "orders", "ApproximateNumberOfMessages", buf, sizeof(buf)),
                     "2");
    cr_assert_eq(receive_count(&b, "orders", 1), 1);
    cr_assert_str_eq(queue_attr(&b, "orders", "ApproximateNumberOfMessages", buf, sizeof(buf)),
                     "1");
    cr_assert_str_eq(
        queue_attr(&b, "orders", "ApproximateNumberOfMessagesNotVisible", buf, sizeof(buf)), "1");
    /* out of range, and an unknown queue, are typed errors */
    lm_error e;
    fails(&b, "queue-create",
          "{\"QueueName\":\"bad\",\"Attributes\":{\"VisibilityTimeout\":\"43201\"}}", &e);
    cr_assert_eq(e.code, LM_E_INVALID_ATTRIBUTE_VALUE, "%s: %s", e.type, e.message);
    fails(&b, "queue-send", "{\"QueueName\":\"nope\",\"MessageBody\":\"x\"}", &e);
    cr_assert_eq(e.code, LM_E_QUEUE_DOES_NOT_EXIST, "%s", e.type);
    cr_assert_str_eq(e.type, "QueueDoesNotExist");
    cJSON *l = lt_ok(&b, "queue-list", "{}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "Queues")), 1);
    cJSON_Delete(l);
    lt_broker_stop(&b, false);
}

Test(queue, visibility_receipts_and_redelivery)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(lt_ok(&b, "queue-create",
                       "{\"QueueName\":\"jobs\",\"Attributes\":{\"VisibilityTimeout\":\"30\"}}"));
    send(&b, "jobs", "work");
    cJSON *r1;
    cJSON *m1 = cJSON_GetArrayItem(receive(&b, "jobs", 1, &r1), 0);
    cr_assert_not_null(m1);
    cr_assert_str_eq(str(m1, "Body"), "work");
    cr_assert_str_eq(str(m1, "MD5OfBody"), "67e92c8765a9bc7fb2d335c459de9eb5"); /* md5("work") */
    cr_assert_str_eq(attr(m1, "ApproximateReceiveCount"), "1");
    char receipt1[256];
    snprintf(receipt1, sizeof(receipt1), "%s", str(m1, "ReceiptHandle"));
    /* invisible until the timeout ends */
    cr_assert_eq(receive_count(&b, "jobs", 10), 0);
    lt_clock_advance(&b, 29000);
    cr_assert_eq(receive_count(&b, "jobs", 10), 0, "visible again before 30 s");
    lt_clock_advance(&b, 2000);
    cJSON *r2;
    cJSON *m2 = cJSON_GetArrayItem(receive(&b, "jobs", 1, &r2), 0);
    cr_assert_not_null(m2, "redelivered after the visibility timeout");
    cr_assert_str_eq(attr(m2, "ApproximateReceiveCount"), "2");
    cr_assert_str_eq(str(m2, "MessageId"), str(m1, "MessageId"));
    /* the first receipt is stale: deleting with it leaves the message (SQS
     * answers success or ReceiptHandleIsInvalid; either way nothing goes) */
    char args[512];
    snprintf(args, sizeof(args), "{\"QueueName\":\"jobs\",\"ReceiptHandle\":\"%s\"}", receipt1);
    lm_error se;
    int src = lt_call(&b, "queue-delete-message", args, NULL, &se);
    cr_assert(src == LM_OK || src == LM_E_RECEIPT_HANDLE_INVALID, "%s", se.message);
    lt_clock_advance(&b, 31000);
    cJSON *r3;
    cJSON *m3 = cJSON_GetArrayItem(receive(&b, "jobs", 1, &r3), 0);
    cr_assert_not_null(m3, "a stale receipt deleted the message");
    cJSON_Delete(lt_ok(&b, "queue-delete-message",
                       "{\"QueueName\":\"jobs\",\"ReceiptHandle\":\"%s\"}",
                       str(m3, "ReceiptHandle")));
    lt_clock_advance(&b, 31000);
    cr_assert_eq(receive_count(&b, "jobs", 10), 0, "deleted with its latest receipt");
    lm_error e;
    fails(&b, "queue-delete-message", "{\"QueueName\":\"jobs\",\"ReceiptHandle\":\"garbage\"}", &e);
    cr_assert_eq(e.code, LM_E_RECEIPT_HANDLE_INVALID, "%s", e.type);
    /* change-visibility makes a received message visible at once */
    send(&b, "jobs", "again");
    cJSON *r4;
    cJSON *m4 = cJSON_GetArrayItem(receive(&b, "jobs", 1, &r4), 0);
    cr_assert_not_null(m4);
    cJSON_Delete(lt_ok(&b, "queue-change-visibility",
                       "{\"QueueName\":\"jobs\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":0}",
                       str(m4, "ReceiptHandle")));
    cr_assert_eq(receive_count(&b, "jobs", 1), 1);
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(r3);
    cJSON_Delete(r4);
    lt_broker_stop(&b, false);
}

Test(queue, delay_and_retention)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(
        lt_ok(&b, "queue-create",
              "{\"QueueName\":\"later\",\"Attributes\":{\"MessageRetentionPeriod\":\"120\"}}"));
    cJSON_Delete(lt_ok(&b, "queue-send",
                       "{\"QueueName\":\"later\",\"MessageBody\":\"d\",\"DelaySeconds\":60}"));
    char buf[64];
    cr_assert_str_eq(
        queue_attr(&b, "later", "ApproximateNumberOfMessagesDelayed", buf, sizeof(buf)), "1");
    cr_assert_eq(receive_count(&b, "later", 1), 0, "a delayed message was received early");
    lt_clock_advance(&b, 61000);
    cr_assert_eq(receive_count(&b, "later", 1), 1, "not received after its delay");
    /* retention: a message older than the period is gone */
    send(&b, "later", "old");
    lt_clock_advance(&b, 121000);
    cr_assert_eq(receive_count(&b, "later", 10), 0, "kept past the retention period");
    lt_broker_stop(&b, false);
}

Test(queue, redrive_after_max_receives)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"dead\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create",
                       "{\"QueueName\":\"live\",\"Attributes\":{\"VisibilityTimeout\":\"10\","
                       "\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"arn:lamina:sqs:local:"
                       "000000000000:dead\\\",\\\"maxReceiveCount\\\":2}\"}}"));
    send(&b, "live", "poison");
    cr_assert_eq(receive_count(&b, "live", 1), 1);
    lt_clock_advance(&b, 11000);
    cr_assert_eq(receive_count(&b, "live", 1), 1);
    lt_clock_advance(&b, 11000);
    cr_assert_eq(receive_count(&b, "live", 1), 0, "received a third time past maxReceiveCount 2");
    cJSON *r;
    cJSON *m = cJSON_GetArrayItem(receive(&b, "dead", 1, &r), 0);
    cr_assert_not_null(m, "not moved to the dead-letter queue");
    cr_assert_str_eq(str(m, "Body"), "poison");
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

Test(queue, fifo_order_inflight_and_dedup)
{
    lt_broker b;
    lt_broker_start(&b, lt_test_clock);
    cJSON_Delete(lt_ok(&b, "queue-create",
                       "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":"
                       "\"true\",\"ContentBasedDeduplication\":\"true\"}}"));
    for (int i = 0; i < 3; i++) {
        cJSON_Delete(lt_ok(
            &b, "queue-send",
            "{\"QueueName\":\"f.fifo\",\"MessageBody\":\"a%d\",\"MessageGroupId\":\"A\"}", i));
    }
    cJSON_Delete(
        lt_ok(&b, "queue-send",
              "{\"QueueName\":\"f.fifo\",\"MessageBody\":\"b0\",\"MessageGroupId\":\"B\"}"));
    /* the same body again within 5 minutes: deduplicated */
    cJSON *dup =
        lt_ok(&b, "queue-send",
              "{\"QueueName\":\"f.fifo\",\"MessageBody\":\"a0\",\"MessageGroupId\":\"A\"}");
    cJSON_Delete(dup);
    char buf[64];
    cr_assert_str_eq(queue_attr(&b, "f.fifo", "ApproximateNumberOfMessages", buf, sizeof(buf)), "4",
                     "content-based dedup stored a duplicate");
    cJSON *r;
    cJSON *ms = receive(&b, "f.fifo", 10, &r);
    /* group A hands out its messages in order; B's comes too */
    int n = cJSON_GetArraySize(ms);
    cr_assert_geq(n, 2);
    cr_assert_str_eq(str(cJSON_GetArrayItem(ms, 0), "Body"), "a0");
    int seen_a = 0;
    for (int i = 0; i < n; i++) {
        const char *body = str(cJSON_GetArrayItem(ms, i), "Body");
        if (body[0] == 'a') {
            char want[16];
            snprintf(want, sizeof(want), "a%d", seen_a++);
            cr_assert_str_eq(body, want, "group A out of order");
        }
        cr_assert_str_eq(attr(cJSON_GetArrayItem(ms, i), "MessageGroupId"),
                         body[0] == 'a' ? "A" : "B");
    }
    /* while A's are in flight, no more of A are handed out */
    cr_assert_eq(receive_count(&b, "f.fifo", 10), 0, "a group with messages in flight gave more");
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

Test(queue, batch_partial_failure)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"batch\"}"));
    cJSON *r = lt_ok(&b, "queue-send-batch",
                     "{\"QueueName\":\"batch\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"1\"},"
                     "{\"Id\":\"b\",\"MessageBody\":\"2\",\"DelaySeconds\":901},"
                     "{\"Id\":\"c\",\"MessageBody\":\"3\"}]}");
    cJSON *good = cJSON_GetObjectItemCaseSensitive(r, "Successful");
    cJSON *bad = cJSON_GetObjectItemCaseSensitive(r, "Failed");
    cr_assert_eq(cJSON_GetArraySize(good), 2);
    cr_assert_eq(cJSON_GetArraySize(bad), 1);
    cr_assert_str_eq(str(cJSON_GetArrayItem(bad, 0), "Id"), "b");
    cr_assert(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(bad, 0), "SenderFault")));
    cJSON_Delete(r);
    cr_assert_eq(receive_count(&b, "batch", 10), 2,
                 "the failed entry was sent, or a good one lost");
    lm_error e;
    fails(&b, "queue-send-batch",
          "{\"QueueName\":\"batch\",\"Entries\":[{\"Id\":\"x\",\"MessageBody\":\"1\"},"
          "{\"Id\":\"x\",\"MessageBody\":\"2\"}]}",
          &e);
    cr_assert_eq(e.code, LM_E_BATCH_IDS_NOT_DISTINCT, "%s", e.type);
    lt_broker_stop(&b, false);
}

typedef struct waiter {
    lt_broker *b;
    int n;
    struct timespec t0, t1;
} waiter;

static void *long_poll(void *arg)
{
    waiter *w = arg;
    lm_client *c = NULL;
    lm_error e;
    cr_assert_eq(lm_client_open(&c, w->b->state, NULL, &e), LM_OK, "%s", e.message);
    char *reply = NULL;
    clock_gettime(CLOCK_MONOTONIC, &w->t0);
    int rc = lm_call(c, "queue-receive", "{\"QueueName\":\"poll\",\"WaitTimeSeconds\":20}", NULL, 0,
                     &reply, &e);
    clock_gettime(CLOCK_MONOTONIC, &w->t1);
    cr_assert_eq(rc, LM_OK, "%s", e.message);
    cJSON *j = cJSON_Parse(reply);
    w->n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "Messages"));
    cJSON_Delete(j);
    free(reply);
    lm_client_destroy(c);
    return NULL;
}

static lt_broker *status_of;

/* status shows the receive parked on the messaging thread */
static bool one_parked(void *arg)
{
    (void)arg;
    cJSON *s = lt_ok(status_of, "status", "{}");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "Messaging");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "WaitingReceives");
    bool yes = cJSON_IsNumber(p) && p->valueint == 1;
    cJSON_Delete(s);
    return yes;
}

Test(queue, long_poll_wakes_on_send)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    status_of = &b;
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"poll\"}"));
    waiter w = {.b = &b};
    pthread_t t;
    pthread_create(&t, NULL, long_poll, &w);
    cr_assert(lt_wait_until(one_parked, NULL, 10000), "the receive never waited");
    send(&b, "poll", "wake");
    pthread_join(t, NULL);
    cr_assert_eq(w.n, 1, "the long poll did not return the message");
    double s = (double)(w.t1.tv_sec - w.t0.tv_sec) + (double)(w.t1.tv_nsec - w.t0.tv_nsec) / 1e9;
    cr_assert_lt(s, 15.0, "the receive waited out its 20 s instead of waking on the send");
    cr_assert(!one_parked(NULL));
    lt_broker_stop(&b, false);
}

typedef struct sender {
    const char *state;
    atomic_int acked;
    bool publish; /* topic-publish to "stream" instead of queue-send to "durable" */
} sender;

/* Send m0, m1, … until a send fails (the broker was killed). */
static void *send_stream(void *arg)
{
    sender *s = arg;
    lm_client *c = NULL;
    lm_error e;
    cr_assert_eq(lm_client_open(&c, s->state, NULL, &e), LM_OK, "%s", e.message);
    lm_client_set_timeout(c, 3000);
    for (int i = 0;; i++) {
        char args[128];
        if (s->publish) {
            snprintf(args, sizeof(args), "{\"TopicArn\":\"stream\",\"Message\":\"p%d\"}", i);
        } else {
            snprintf(args, sizeof(args), "{\"QueueName\":\"durable\",\"MessageBody\":\"m%d\"}", i);
        }
        char *reply = NULL;
        if (lm_call(c, s->publish ? "topic-publish" : "queue-send", args, NULL, 0, &reply, &e) !=
            LM_OK) {
            break;
        }
        free(reply);
        atomic_fetch_add(&s->acked, 1);
    }
    lm_client_destroy(c);
    return NULL;
}

static bool fifty_acked(void *arg)
{
    return atomic_load(&((sender *)arg)->acked) >= 50;
}

static int drain(lt_broker *b, const char *q)
{
    int got = 0;
    for (;;) {
        int n = receive_count(b, q, 10);
        if (n == 0) {
            return got;
        }
        got += n;
    }
}

Test(queue, kill9_during_sends_and_publishes_loses_no_acknowledged_message)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"durable\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"fanned\"}"));
    cJSON_Delete(lt_ok(&b, "topic-create", "{\"Name\":\"stream\"}"));
    subscribe_queue(&b, "stream", "fanned", NULL);
    char state[256];
    snprintf(state, sizeof(state), "%s", b.state);
    sender s = {.state = state}, p = {.state = state, .publish = true};
    pthread_t t, tp;
    pthread_create(&t, NULL, send_stream, &s);
    pthread_create(&tp, NULL, send_stream, &p);
    cr_assert(lt_wait_until(fifty_acked, &s, 20000));
    cr_assert(lt_wait_until(fifty_acked, &p, 20000));
    lt_broker_kill(&b); /* mid-stream, both */
    pthread_join(t, NULL);
    pthread_join(tp, NULL);
    int acked = atomic_load(&s.acked), published = atomic_load(&p.acked);
    lt_broker_start_in(&b, state, NULL);
    int got = drain(&b, "durable"), fanned = drain(&b, "fanned");
    cr_assert_geq(got, acked, "acknowledged %d sends, found %d after kill -9", acked, got);
    cr_assert_leq(got, acked + 1, "more messages than sends: %d of %d", got, acked);
    cr_assert_geq(fanned, published, "acknowledged %d publishes, %d delivered after kill -9",
                  published, fanned);
    cr_assert_leq(fanned, published + 1, "more deliveries than publishes: %d of %d", fanned,
                  published);
    lt_broker_stop(&b, false);
}

/* ---- topics ---- */

static void subscribe_queue(lt_broker *b, const char *topic, const char *queue, const char *attrs)
{
    cJSON_Delete(lt_ok(b, "topic-subscribe",
                       "{\"TopicArn\":\"%s\",\"Protocol\":\"sqs\",\"Endpoint\":\"%s\"%s%s}", topic,
                       queue, attrs != NULL ? ",\"Attributes\":" : "", attrs != NULL ? attrs : ""));
}

Test(topic, fan_out_to_queues_envelope_and_raw)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON *t = lt_ok(&b, "topic-create", "{\"Name\":\"news\"}");
    cr_assert_str_eq(str(t, "TopicArn"), "arn:lamina:sns:local:000000000000:news");
    cJSON_Delete(t);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"env\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"raw\"}"));
    subscribe_queue(&b, "news", "env", NULL);
    subscribe_queue(&b, "arn:lamina:sns:local:000000000000:news", "raw",
                    "{\"RawMessageDelivery\":\"true\"}");
    cJSON *subs = lt_ok(&b, "topic-subscriptions", "{\"TopicArn\":\"news\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(subs, "Subscriptions")), 2);
    cJSON_Delete(subs);
    cJSON *p = lt_ok(&b, "topic-publish",
                     "{\"TopicArn\":\"news\",\"Message\":\"hello\",\"Subject\":\"greeting\","
                     "\"MessageAttributes\":{\"kind\":{\"DataType\":\"String\","
                     "\"StringValue\":\"hi\"}}}");
    char mid[64];
    snprintf(mid, sizeof(mid), "%s", str(p, "MessageId"));
    cJSON_Delete(p);
    cJSON *r1;
    cJSON *m1 = cJSON_GetArrayItem(receive(&b, "env", 1, &r1), 0);
    cr_assert_not_null(m1, "the envelope queue got nothing");
    cJSON *env = cJSON_Parse(str(m1, "Body"));
    cr_assert_not_null(env, "the body is not SNS's JSON envelope");
    cr_assert_str_eq(str(env, "Type"), "Notification");
    cr_assert_str_eq(str(env, "MessageId"), mid);
    cr_assert_str_eq(str(env, "TopicArn"), "arn:lamina:sns:local:000000000000:news");
    cr_assert_str_eq(str(env, "Message"), "hello");
    cr_assert_str_eq(str(env, "Subject"), "greeting");
    const cJSON *ea = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(env, "MessageAttributes"), "kind");
    cr_assert_str_eq(str(ea, "Type"), "String");
    cr_assert_str_eq(str(ea, "Value"), "hi");
    cJSON_Delete(env);
    cJSON *r2;
    cJSON *m2 = cJSON_GetArrayItem(receive(&b, "raw", 1, &r2), 0);
    cr_assert_not_null(m2, "the raw queue got nothing");
    cr_assert_str_eq(str(m2, "Body"), "hello", "raw delivery is the message itself");
    const cJSON *ma = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(m2, "MessageAttributes"), "kind");
    cr_assert_str_eq(str(ma, "StringValue"), "hi", "raw delivery keeps the attributes");
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    lm_error e;
    fails(&b, "topic-publish", "{\"TopicArn\":\"nope\",\"Message\":\"x\"}", &e);
    cr_assert_eq(e.code, LM_E_SNS_NOT_FOUND, "%s", e.type);
    lt_broker_stop(&b, false);
}

Test(topic, filter_policies_on_attributes_and_body)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "topic-create", "{\"Name\":\"orders\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"big\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"eu\"}"));
    subscribe_queue(&b, "orders", "big",
                    "{\"FilterPolicy\":\"{\\\"size\\\":[{\\\"numeric\\\":[\\\">\\\",100]}]}\"}");
    subscribe_queue(&b, "orders", "eu",
                    "{\"FilterPolicyScope\":\"MessageBody\",\"FilterPolicy\":"
                    "\"{\\\"region\\\":[\\\"eu\\\"]}\"}");
    cJSON_Delete(lt_ok(&b, "topic-publish",
                       "{\"TopicArn\":\"orders\",\"Message\":\"{\\\"region\\\":\\\"us\\\"}\","
                       "\"MessageAttributes\":{\"size\":{\"DataType\":\"Number\","
                       "\"StringValue\":\"500\"}}}"));
    cJSON_Delete(lt_ok(&b, "topic-publish",
                       "{\"TopicArn\":\"orders\",\"Message\":\"{\\\"region\\\":\\\"eu\\\"}\","
                       "\"MessageAttributes\":{\"size\":{\"DataType\":\"Number\","
                       "\"StringValue\":\"5\"}}}"));
    cr_assert_eq(receive_count(&b, "big", 10), 1, "the attribute filter let the wrong one through");
    cJSON *r;
    cJSON *m = cJSON_GetArrayItem(receive(&b, "eu", 10, &r), 0);
    cr_assert_not_null(m, "the body filter matched nothing");
    cJSON *env = cJSON_Parse(str(m, "Body"));
    cr_assert_str_eq(str(env, "Message"), "{\"region\":\"eu\"}");
    cJSON_Delete(env);
    cJSON_Delete(r);
    cr_assert_eq(receive_count(&b, "eu", 10), 0);
    lm_error e;
    fails(&b, "topic-subscribe",
          "{\"TopicArn\":\"orders\",\"Protocol\":\"sqs\",\"Endpoint\":\"big\","
          "\"Attributes\":{\"FilterPolicy\":\"not json\"}}",
          &e);
    cr_assert_eq(e.code, LM_E_SNS_INVALID_PARAMETER, "%s", e.type);
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

Test(queue, cli_send_receive_delete_and_exit_codes)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    char *out = NULL, *err = NULL;
    cr_assert_eq(CLI(&b, &out, &err, "queue", "create", "work", "--visibility-timeout", "60"), 0,
                 "%s", err);
    free(out);
    free(err);
    cr_assert_eq(
        CLI(&b, &out, &err, "queue", "send", "work", "payload-1", "--attr", "color=String:blue"), 0,
        "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "-o", "json", "queue", "receive", "work"), 0, "%s", err);
    cJSON *r = cJSON_Parse(out);
    cr_assert_not_null(r, "not JSON: %s", out);
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Messages"), 0);
    cr_assert_not_null(m, "%s", out);
    cr_assert_str_eq(str(m, "Body"), "payload-1");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(
                             cJSON_GetObjectItemCaseSensitive(m, "MessageAttributes"), "color"),
                         "StringValue"),
                     "blue");
    char receipt[256];
    snprintf(receipt, sizeof(receipt), "%s", str(m, "ReceiptHandle"));
    cJSON_Delete(r);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "queue", "delete-message", "work", receipt), 0, "%s", err);
    free(out);
    free(err);
    char buf[32];
    cr_assert_str_eq(
        queue_attr(&b, "work", "ApproximateNumberOfMessagesNotVisible", buf, sizeof(buf)), "0",
        "the CLI's delete-message left the message in flight");
    /* typed errors become the documented exit codes */
    cr_assert_eq(CLI(&b, &out, &err, "queue", "send", "missing", "x"), 3, "not found: %s", err);
    cr_assert_not_null(strstr(err, "QueueDoesNotExist"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "queue", "create", "work", "--visibility-timeout", "61"), 4,
                 "conflict: %s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "queue", "delete-message", "work", "bogus"), 9, "invalid: %s",
                 err);
    free(out);
    free(err);
    lt_broker_stop(&b, false);
}

Test(topic, cli_publish_reaches_a_subscribed_queue)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    char *out = NULL, *err = NULL;
    cr_assert_eq(CLI(&b, &out, &err, "queue", "create", "inbox"), 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "topic", "create", "alerts"), 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "topic", "subscribe", "alerts", "--queue", "inbox", "--raw"),
                 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(CLI(&b, &out, &err, "topic", "publish", "alerts", "disk full"), 0, "%s", err);
    free(out);
    free(err);
    cJSON *r;
    cJSON *m = cJSON_GetArrayItem(receive(&b, "inbox", 1, &r), 0);
    cr_assert_not_null(m, "published through the CLI, nothing arrived");
    cr_assert_str_eq(str(m, "Body"), "disk full");
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

/* ---- async destinations and dead-letter queues onto queues and topics ---- */

/* Long-poll q (up to 20 s) for one message; the reply holding it.  The
 * delivery, made by the async thread's own engine instance, must wake the
 * waiting receive (mqsvc_notify_ready): it returns well before its 20 s. */
static cJSON *await_one(lt_broker *b, const char *q, cJSON **msg)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cJSON *r = lt_ok(b, "queue-receive", "{\"QueueName\":\"%s\",\"WaitTimeSeconds\":20}", q);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Messages"), 0);
    cr_assert_not_null(*msg, "nothing arrived in %s within 20 s", q);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 15, "the receive was not woken by the delivery");
    return r;
}

static void event(lt_broker *b, const char *fn, const char *payload, char rid[40])
{
    lm_invoke_params p = {.function = fn,
                          .type = LM_INVOKE_EVENT,
                          .payload = payload,
                          .payload_len = strlen(payload)};
    lm_invoke_result r;
    lm_error e;
    cr_assert_eq(lm_invoke(b->client, &p, &r, &e), LM_OK, "%s", e.message);
    cr_assert_eq(r.status, 202);
    snprintf(rid, 40, "%s", r.request_id);
    lm_invoke_result_finish(&r);
}

static int64_t async_stat(lt_broker *b, const char *key)
{
    cJSON *s = lt_ok(b, "status", "{}");
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "AsyncQueue"), key);
    cr_assert(cJSON_IsNumber(v), "status has no AsyncQueue.%s", key);
    int64_t n = (int64_t)v->valuedouble;
    cJSON_Delete(s);
    return n;
}

Test(destinations, on_success_to_a_queue_carries_the_invocation_record)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "hello", "echo", NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"done\"}"));
    cJSON_Delete(lt_ok(&b, "event-config-put",
                       "{\"FunctionName\":\"hello\",\"DestinationConfig\":{\"OnSuccess\":"
                       "{\"Destination\":\"arn:aws:sqs:us-east-1:123456789012:done\"}}}"));
    char rid[40];
    event(&b, "hello", "{\"n\":7}", rid);
    cJSON *m;
    cJSON *r = await_one(&b, "done", &m);
    cJSON *rec = cJSON_Parse(str(m, "Body"));
    cr_assert_not_null(rec, "the body is not the record: %s", str(m, "Body"));
    cr_assert_str_eq(str(rec, "version"), "1.0");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(rec, "requestContext");
    cr_assert_str_eq(str(rc, "requestId"), rid);
    cr_assert_str_eq(str(rc, "condition"), "Success");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(rc, "approximateInvokeCount")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(rec, "requestPayload"), "n")
                     ->valueint,
                 7);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(rec, "responseContext");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(resp, "statusCode")->valueint, 200);
    cr_assert_str_eq(str(resp, "executedVersion"), "$LATEST");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(rec, "responsePayload"), "n")
                     ->valueint,
                 7, "echo's response");
    cJSON_Delete(rec);
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

Test(destinations, on_failure_to_a_topic_fans_out_the_record)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "bad", "error", NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"failures\"}"));
    cJSON_Delete(lt_ok(&b, "topic-create", "{\"Name\":\"oops\"}"));
    subscribe_queue(&b, "oops", "failures", NULL);
    cJSON_Delete(lt_ok(&b, "event-config-put",
                       "{\"FunctionName\":\"bad\",\"MaximumRetryAttempts\":0,\"DestinationConfig\":"
                       "{\"OnFailure\":{\"Destination\":\"topic:oops\"}}}"));
    char rid[40];
    event(&b, "bad", "{\"order\":1}", rid);
    cJSON *m;
    cJSON *r = await_one(&b, "failures", &m);
    cJSON *env = cJSON_Parse(str(m, "Body"));
    cr_assert_str_eq(str(env, "Type"), "Notification");
    cJSON *rec = cJSON_Parse(str(env, "Message"));
    cr_assert_not_null(rec, "the notification's Message is not the record");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(rec, "requestContext");
    cr_assert_str_eq(str(rc, "requestId"), rid);
    cr_assert_str_eq(str(rc, "condition"), "RetriesExhausted");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(rec, "responseContext"), "functionError"),
                     "Handled");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(rec, "responsePayload"), "errorType"),
                     "OrderRejected");
    cJSON_Delete(rec);
    cJSON_Delete(env);
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

Test(destinations, dead_letter_queue_gets_the_event_unchanged_with_its_attributes)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"dlq\"}"));
    lt_create(&b, "bad", "error", "\"DeadLetterConfig\":{\"TargetArn\":\"queue:dlq\"}");
    cJSON_Delete(
        lt_ok(&b, "event-config-put", "{\"FunctionName\":\"bad\",\"MaximumRetryAttempts\":0}"));
    const char *payload = "{ \"order\" : 42 }"; /* spacing kept: the event goes unchanged */
    char rid[40];
    event(&b, "bad", payload, rid);
    cJSON *m;
    cJSON *r = await_one(&b, "dlq", &m);
    cr_assert_str_eq(str(m, "Body"), payload);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, "MessageAttributes");
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(a, "RequestID"), "StringValue"), rid);
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(a, "ErrorCode"), "DataType"), "Number");
    const char *msg = str(cJSON_GetObjectItemCaseSensitive(a, "ErrorMessage"), "StringValue");
    cr_assert_not_null(strstr(msg, "cannot be filled"), "ErrorMessage: %s", msg);
    cJSON_Delete(r);
    lt_broker_stop(&b, false);
}

static lt_broker *stat_of;

static bool counted(void *arg)
{
    return async_stat(stat_of, arg) >= 1;
}

Test(destinations, a_missing_target_is_dropped_and_counted)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    stat_of = &b;
    lt_create(&b, "bad", "error", "\"DeadLetterConfig\":{\"TargetArn\":\"topic:nowhere\"}");
    cJSON_Delete(lt_ok(&b, "event-config-put",
                       "{\"FunctionName\":\"bad\",\"MaximumRetryAttempts\":0,\"DestinationConfig\":"
                       "{\"OnFailure\":{\"Destination\":\"queue:ghost\"}}}"));
    cr_assert_eq(async_stat(&b, "DestinationDeliveryFailures"), 0);
    cr_assert_eq(async_stat(&b, "DeadLetterErrors"), 0);
    char rid[40];
    event(&b, "bad", "{}", rid);
    cr_assert(lt_wait_until(counted, "DestinationDeliveryFailures", 20000),
              "a record to a missing queue was not counted");
    cr_assert(lt_wait_until(counted, "DeadLetterErrors", 20000),
              "a dead letter to a missing topic was not counted");
    /* and the event is finished, not retried forever */
    cr_assert(lt_wait_until(counted, "DeadLetterErrors", 1000));
    cJSON *s = lt_ok(&b, "status", "{}");
    cr_assert_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "AsyncQueue"), "Depth")
            ->valueint,
        0, "the event is still queued");
    cJSON_Delete(s);
    lt_broker_stop(&b, false);
}

Test(topic, a_function_subscription_runs_the_function_with_the_sns_event)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    lt_create(&b, "rec", "record", NULL);
    cJSON_Delete(lt_ok(&b, "topic-create", "{\"Name\":\"jobs\"}"));
    cJSON_Delete(lt_ok(&b, "topic-subscribe",
                       "{\"TopicArn\":\"jobs\",\"Protocol\":\"lambda\",\"Endpoint\":\"rec\"}"));
    cJSON *p = lt_ok(&b, "topic-publish", "{\"TopicArn\":\"jobs\",\"Message\":\"job-17\"}");
    char mid[64];
    snprintf(mid, sizeof(mid), "%s", str(p, "MessageId"));
    cJSON_Delete(p);
    lt_await_log(&b, "rec", "\"EventSource\":\"aws:sns\"", 1);
    char *log = lt_function_log(&b, "rec");
    const char *ev = strstr(log, "EVENT ");
    cr_assert_not_null(ev);
    ev += 6;
    const char *end = strchr(ev, '\n');
    cJSON *j = cJSON_ParseWithLength(ev, (size_t)(end - ev));
    cr_assert_not_null(j, "%.300s", ev);
    const cJSON *sns = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "Records"), 0), "Sns");
    cr_assert_str_eq(str(sns, "Message"), "job-17");
    cr_assert_str_eq(str(sns, "MessageId"), mid);
    cr_assert_str_eq(str(sns, "TopicArn"), "arn:lamina:sns:local:000000000000:jobs");
    cJSON_Delete(j);
    free(log);
    lt_broker_stop(&b, false);
}

Test(destinations, the_dead_letter_target_is_the_versions_and_works_with_on_failure)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"dlq-v1\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"dlq-latest\"}"));
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"failed\"}"));
    lt_create(&b, "bad", "error", "\"DeadLetterConfig\":{\"TargetArn\":\"queue:dlq-v1\"}");
    cJSON_Delete(lt_ok(&b, "publish", "{\"FunctionName\":\"bad\"}"));
    cJSON_Delete(lt_ok(&b, "update-config",
                       "{\"FunctionName\":\"bad\",\"DeadLetterConfig\":{\"TargetArn\":"
                       "\"arn:aws:sqs:us-east-1:123456789012:dlq-latest\"}}"));
    cJSON_Delete(lt_ok(&b, "event-config-put",
                       "{\"FunctionName\":\"bad\",\"MaximumRetryAttempts\":0,\"DestinationConfig\":"
                       "{\"OnFailure\":{\"Destination\":\"queue:failed\"}}}"));
    char rid[40];
    event(&b, "bad:1", "{\"v\":1}", rid);
    cJSON *m;
    cJSON *r = await_one(&b, "dlq-v1", &m);
    cr_assert_str_eq(str(m, "Body"), "{\"v\":1}", "version 1's DLQ gets version 1's event");
    cJSON_Delete(r);
    r = await_one(&b, "failed", &m); /* the OnFailure record as well */
    cJSON *rec = cJSON_Parse(str(m, "Body"));
    cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(rec, "requestContext"), "requestId"),
                     rid);
    cr_assert_str_eq(
        str(cJSON_GetObjectItemCaseSensitive(rec, "responseContext"), "executedVersion"), "1");
    cJSON_Delete(rec);
    cJSON_Delete(r);
    event(&b, "bad", "{\"v\":\"latest\"}", rid);
    r = await_one(&b, "dlq-latest", &m);
    cr_assert_str_eq(str(m, "Body"), "{\"v\":\"latest\"}");
    cJSON_Delete(r);
    cr_assert_eq(receive_count(&b, "dlq-v1", 10), 0, "$LATEST's event went to version 1's DLQ");
    lt_broker_stop(&b, false);
}

Test(queue, bad_requests_get_typed_errors_and_change_nothing)
{
    lt_broker b;
    lt_broker_start(&b, NULL);
    cJSON_Delete(lt_ok(&b, "queue-create", "{\"QueueName\":\"strict\"}"));
    cJSON_Delete(lt_ok(&b, "topic-create", "{\"Name\":\"t\"}"));
    struct {
        const char *op, *args;
        int code;
    } bad[] = {
        {"queue-send", "{\"QueueName\":\"strict\",\"MessageBody\":7}", LM_E_MQ_INVALID_PARAMETER},
        {"queue-send", "{\"QueueName\":\"strict\"}", LM_E_MQ_MISSING_PARAMETER},
        {"queue-send", "{\"MessageBody\":\"x\"}", LM_E_MQ_MISSING_PARAMETER},
        {"queue-send", "{\"QueueName\":\"strict\",\"MessageBody\":\"x\",\"DelaySeconds\":901}",
         LM_E_MQ_INVALID_PARAMETER},
        {"queue-receive", "{\"QueueName\":\"strict\",\"WaitTimeSeconds\":21}",
         LM_E_MQ_INVALID_PARAMETER},
        {"queue-receive", "{\"QueueName\":\"strict\",\"MaxNumberOfMessages\":11}",
         LM_E_MQ_INVALID_PARAMETER},
        {"queue-receive", "{\"QueueName\":\"strict\",\"MaxNumberOfMessages\":\"ten\"}",
         LM_E_MQ_INVALID_PARAMETER},
        {"queue-create", "{\"QueueName\":\"has space\"}", LM_E_MQ_INVALID_PARAMETER},
        {"queue-get", "{\"QueueName\":\"strict\",\"AttributeNames\":\"All\"}",
         LM_E_MQ_INVALID_PARAMETER},
        {"queue-send-batch", "{\"QueueName\":\"strict\",\"Entries\":[]}", LM_E_EMPTY_BATCH},
        {"queue-send-batch", "{\"QueueName\":\"strict\",\"Entries\":{}}",
         LM_E_MQ_INVALID_PARAMETER},
        {"queue-change-visibility", "{\"QueueName\":\"strict\",\"ReceiptHandle\":\"x\"}",
         LM_E_MQ_MISSING_PARAMETER},
        {"topic-publish", "{\"TopicArn\":\"t\"}", LM_E_SNS_INVALID_PARAMETER},
        {"topic-publish", "{\"TopicArn\":\"t\",\"Message\":\"x\",\"MessageAttributes\":[]}",
         LM_E_SNS_INVALID_PARAMETER},
        {"topic-subscribe", "{\"TopicArn\":\"t\",\"Protocol\":\"http\",\"Endpoint\":\"x\"}",
         LM_E_SNS_INVALID_PARAMETER},
        {"topic-subscribe", "{\"TopicArn\":\"t\",\"Protocol\":\"sqs\",\"Endpoint\":\"nope\"}",
         0 /* any typed error */},
        {"topic-unsubscribe", "{\"SubscriptionArn\":\"arn:lamina:sns:local:000000000000:t:x\"}", 0},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lm_error e;
        int rc = fails(&b, bad[i].op, bad[i].args, &e);
        if (bad[i].code != 0) {
            cr_assert_eq(rc, bad[i].code, "%s %s: got %s (%s)", bad[i].op, bad[i].args, e.type,
                         e.message);
        }
        cr_assert(e.status >= 400 && e.status < 500, "%s %s: status %d", bad[i].op, bad[i].args,
                  e.status);
    }
    /* a body over the queue's MaximumMessageSize (256 KiB) */
    size_t big = 262145;
    char *body = malloc(big + 64);
    memset(body, 'x', big);
    body[big] = '\0';
    char *args = malloc(big + 128);
    snprintf(args, big + 128, "{\"QueueName\":\"strict\",\"MessageBody\":\"%s\"}", body);
    lm_error e;
    cr_assert_eq(fails(&b, "queue-send", args, &e), LM_E_MESSAGE_TOO_LONG, "%s", e.message);
    free(body);
    free(args);
    /* nothing was stored by any of them, and the broker still serves */
    char buf[32];
    cr_assert_str_eq(queue_attr(&b, "strict", "ApproximateNumberOfMessages", buf, sizeof(buf)),
                     "0");
    cJSON *subs = lt_ok(&b, "topic-subscriptions", "{\"TopicArn\":\"t\"}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(subs, "Subscriptions")), 0);
    cJSON_Delete(subs);
    lt_broker_stop(&b, false);
}
