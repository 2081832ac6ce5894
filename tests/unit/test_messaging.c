/*
 * tests/unit/test_messaging.c — the messaging engine (broker/messaging)
 * against an in-memory SQLite database with a fake clock: every
 * time-dependent call takes T0 + an offset, nothing sleeps.  Each test
 * names the SQS/SNS behaviour it pins down and fails if it broke.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mq_internal.h"

#define T0 1700000000000LL /* the fake clock's start */

static sqlite3 *db;
static mq *m;

static void setup(void)
{
    lm_error e = {0};
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    cr_assert_eq(mq_schema_apply(db, &e), LM_OK, "%s", e.message);
    m = mq_create(db, &e);
    cr_assert_not_null(m);
}

static void teardown(void)
{
    mq_destroy(m);
    sqlite3_close(db);
}

TestSuite(messaging, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void qcreate(const char *name, const char *attrs_json)
{
    lm_error e = {0};
    cJSON *a = attrs_json != NULL ? cJSON_Parse(attrs_json) : NULL;
    int rc = mq_queue_create(m, name, a, T0, NULL, &e);
    cJSON_Delete(a);
    cr_assert_eq(rc, LM_OK, "create %s: %s", name, e.message);
}

static mq_sent send_at(const char *q, const char *body, int delay, const char *group,
                       const char *dedup, int64_t now)
{
    lm_error e = {0};
    mq_sent s;
    mq_send_entry en = {.body = body,
                        .body_len = strlen(body),
                        .delay_s = delay,
                        .group_id = group,
                        .dedup_id = dedup};
    cr_assert_eq(mq_send(m, q, &en, now, &s, &e), LM_OK, "send: %s", e.message);
    return s;
}

static mq_sent send1(const char *q, const char *body)
{
    return send_at(q, body, -1, NULL, NULL, T0);
}

static mq_msg *recv_at(const char *q, int max, int vis, int64_t now, size_t *n)
{
    lm_error e = {0};
    mq_msg *v = NULL;
    mq_receive_opts o = {.max = max, .visibility_s = vis};
    cr_assert_eq(mq_receive(m, q, &o, now, &v, n, &e), LM_OK, "receive: %s", e.message);
    return v;
}

static mq_counts counts_at(const char *q, int64_t now)
{
    lm_error e = {0};
    mq_counts c;
    cr_assert_eq(mq_queue_counts(m, q, now, &c, &e), LM_OK, "%s", e.message);
    return c;
}

/* ---- queues ---- */

Test(messaging, queue_create_is_idempotent_and_refuses_other_attributes)
{
    lm_error e = {0};
    char arn[MQ_ARN_MAX];
    cJSON *a = cJSON_Parse("{\"VisibilityTimeout\":\"10\"}");
    cr_assert_eq(mq_queue_create(m, "q1", a, T0, arn, &e), LM_OK);
    cr_assert_str_eq(arn, "arn:lamina:sqs:local:000000000000:q1");
    cr_assert_eq(mq_queue_create(m, "q1", a, T0, NULL, &e), LM_OK);
    cJSON_Delete(a);
    a = cJSON_Parse("{\"VisibilityTimeout\":\"11\"}");
    cr_assert_eq(mq_queue_create(m, "q1", a, T0, NULL, &e), LM_E_QUEUE_ALREADY_EXISTS);
    cJSON_Delete(a);
}

Test(messaging, queue_attributes_have_sqs_ranges_and_defaults)
{
    lm_error e = {0};
    const char *bad[] = {
        "{\"VisibilityTimeout\":\"43201\"}",          "{\"MessageRetentionPeriod\":\"59\"}",
        "{\"MessageRetentionPeriod\":\"1209601\"}",   "{\"DelaySeconds\":\"901\"}",
        "{\"MaximumMessageSize\":\"1023\"}",          "{\"MaximumMessageSize\":\"1048577\"}",
        "{\"ReceiveMessageWaitTimeSeconds\":\"21\"}", "{\"VisibilityTimeout\":\"ten\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *a = cJSON_Parse(bad[i]);
        cr_expect_eq(mq_queue_create(m, "q", a, T0, NULL, &e), LM_E_INVALID_ATTRIBUTE_VALUE, "%s",
                     bad[i]);
        cJSON_Delete(a);
    }
    cJSON *a = cJSON_Parse("{\"NoSuchThing\":\"1\"}");
    cr_expect_eq(mq_queue_create(m, "q", a, T0, NULL, &e), LM_E_INVALID_ATTRIBUTE_NAME);
    cJSON_Delete(a);
    qcreate("q", NULL);
    cJSON *g = mq_queue_get(m, "q", NULL, T0, &e);
    cr_assert_not_null(g, "%s", e.message);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "VisibilityTimeout")), "30");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "MessageRetentionPeriod")),
                     "345600");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "MaximumMessageSize")), "262144");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "DelaySeconds")), "0");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "QueueArn")),
                     "arn:lamina:sqs:local:000000000000:q");
    cJSON_Delete(g);
}

Test(messaging, fifo_names_end_in_dot_fifo)
{
    lm_error e = {0};
    cJSON *a = cJSON_Parse("{\"FifoQueue\":\"true\"}");
    cr_expect_neq(mq_queue_create(m, "plain", a, T0, NULL, &e), LM_OK);
    cr_expect_neq(mq_queue_create(m, "x.fifo", NULL, T0, NULL, &e), LM_OK);
    cr_expect_eq(mq_queue_create(m, "x.fifo", a, T0, NULL, &e), LM_OK, "%s", e.message);
    cJSON_Delete(a);
}

Test(messaging, send_returns_md5_of_body_and_attributes_as_sqs_computes_them)
{
    lm_error e = {0};
    qcreate("q", NULL);
    cJSON *attrs = cJSON_Parse("{\"city\":{\"DataType\":\"String\",\"StringValue\":\"Any City\"},"
                               "\"count\":{\"DataType\":\"Number\",\"StringValue\":\"7\"},"
                               "\"blob\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAEC\"}}");
    mq_send_entry en = {.body = "hello", .body_len = 5, .delay_s = -1, .attributes = attrs};
    mq_sent s;
    cr_assert_eq(mq_send(m, "q", &en, T0, &s, &e), LM_OK, "%s", e.message);
    cr_expect_str_eq(s.md5_body, "5d41402abc4b2a76b9719d911017c592");
    /* independently computed (Python: the documented big-endian encoding) */
    cr_expect_str_eq(s.md5_attributes, "dc4f54c40dc46326f77a045e516e1eb5");
    cJSON_Delete(attrs);
    size_t n = 0;
    mq_msg *v = recv_at("q", 1, -1, T0, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].md5_attributes, "dc4f54c40dc46326f77a045e516e1eb5");
    cr_expect_str_eq(v[0].message_id, s.message_id);
    cJSON *j = mq_msg_json(&v[0]);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "Body")), "hello");
    cr_expect_not_null(cJSON_GetObjectItem(j, "MessageAttributes"));
    cJSON_Delete(j);
    mq_msgs_free(v, n);
}

Test(messaging, bad_bodies_and_attributes_are_refused)
{
    lm_error e = {0};
    qcreate("q", "{\"MaximumMessageSize\":\"1024\"}");
    mq_sent s;
    mq_send_entry en = {.body = "a\x01", .body_len = 2, .delay_s = -1};
    cr_expect_eq(mq_send(m, "q", &en, T0, &s, &e), LM_E_INVALID_MESSAGE_CONTENTS);
    char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    en.body = big;
    en.body_len = strlen(big);
    cr_expect_eq(mq_send(m, "q", &en, T0, &s, &e), LM_E_MESSAGE_TOO_LONG);
    en.body = "ok";
    en.body_len = 2;
    en.delay_s = 901;
    cr_expect_eq(mq_send(m, "q", &en, T0, &s, &e), LM_E_MQ_INVALID_PARAMETER);
    en.delay_s = -1;
    cJSON *a = cJSON_Parse("{\"AWS.x\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}");
    en.attributes = a;
    cr_expect_eq(mq_send(m, "q", &en, T0, &s, &e), LM_E_MQ_INVALID_PARAMETER);
    cJSON_Delete(a);
    cr_expect_eq(mq_send(m, "nope", &en, T0, &s, &e), LM_E_QUEUE_DOES_NOT_EXIST);
    cr_expect_eq(counts_at("q", T0).visible, 0);
}

Test(messaging, a_received_message_is_invisible_until_its_visibility_timeout_ends)
{
    qcreate("q", "{\"VisibilityTimeout\":\"30\"}");
    send1("q", "m1");
    size_t n = 0;
    mq_msg *v = recv_at("q", 10, -1, T0, &n);
    cr_assert_eq(n, 1);
    cr_expect_eq(v[0].receive_count, 1);
    cr_expect_eq(v[0].first_receive_ms, T0);
    mq_msgs_free(v, n);
    mq_counts c = counts_at("q", T0 + 1000);
    cr_expect_eq(c.visible, 0);
    cr_expect_eq(c.not_visible, 1);
    v = recv_at("q", 10, -1, T0 + 29999, &n);
    cr_expect_eq(n, 0);
    int64_t at = 0;
    lm_error e = {0};
    cr_assert_eq(mq_next_wake_ms(m, "q", T0 + 1000, &at, &e), LM_OK);
    cr_expect_eq(at, T0 + 30000);
    v = recv_at("q", 10, -1, T0 + 30000, &n);
    cr_assert_eq(n, 1);
    cr_expect_eq(v[0].receive_count, 2);
    cr_expect_eq(v[0].first_receive_ms, T0);
    mq_msgs_free(v, n);
}

Test(messaging, receive_visibility_override_applies)
{
    qcreate("q", NULL);
    send1("q", "m1");
    size_t n = 0;
    mq_msgs_free(recv_at("q", 1, 5, T0, &n), n);
    cr_assert_eq(n, 1);
    mq_msgs_free(recv_at("q", 1, -1, T0 + 5000, &n), n);
    cr_expect_eq(n, 1);
}

Test(messaging, only_the_latest_receipt_handle_deletes)
{
    lm_error e = {0};
    qcreate("q", "{\"VisibilityTimeout\":\"10\"}");
    send1("q", "m1");
    size_t n = 0;
    mq_msg *v1 = recv_at("q", 1, -1, T0, &n);
    cr_assert_eq(n, 1);
    mq_msg *v2 = recv_at("q", 1, -1, T0 + 10000, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_neq(v1[0].receipt, v2[0].receipt);
    bool deleted = true;
    cr_expect_eq(mq_delete_message(m, "q", v1[0].receipt, T0 + 10001, &deleted, &e), LM_OK);
    cr_expect_not(deleted, "a stale handle must not delete");
    cr_expect_eq(counts_at("q", T0 + 10001).not_visible, 1);
    cr_expect_eq(mq_delete_message(m, "q", v2[0].receipt, T0 + 10001, &deleted, &e), LM_OK);
    cr_expect(deleted);
    mq_counts c = counts_at("q", T0 + 100000);
    cr_expect_eq(c.visible + c.not_visible + c.delayed, 0);
    cr_expect_eq(mq_delete_message(m, "q", "garbage", T0, &deleted, &e),
                 LM_E_RECEIPT_HANDLE_INVALID);
    mq_msgs_free(v1, 1);
    mq_msgs_free(v2, 1);
}

Test(messaging, change_visibility_needs_the_latest_handle_of_a_message_in_flight)
{
    lm_error e = {0};
    qcreate("q", "{\"VisibilityTimeout\":\"30\"}");
    send1("q", "m1");
    size_t n = 0;
    mq_msg *v = recv_at("q", 1, -1, T0, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(mq_change_visibility(m, "q", v[0].receipt, 0, T0 + 1000, &e), LM_OK, "%s",
                 e.message);
    mq_msg *v2 = recv_at("q", 1, -1, T0 + 1000, &n);
    cr_assert_eq(n, 1, "visibility 0 makes it visible at once");
    cr_expect_neq(mq_change_visibility(m, "q", v[0].receipt, 10, T0 + 1000, &e), LM_OK);
    cr_expect_eq(mq_change_visibility(m, "q", v2[0].receipt, 43201, T0 + 1000, &e),
                 LM_E_MQ_INVALID_PARAMETER);
    mq_msgs_free(v, 1);
    mq_msgs_free(v2, 1);
}

Test(messaging, delay_of_the_queue_and_of_a_message_hides_it)
{
    qcreate("dq", "{\"DelaySeconds\":\"5\"}");
    qcreate("q", NULL);
    send1("dq", "queue-delay");
    send_at("q", "msg-delay", 20, NULL, NULL, T0);
    cr_expect_eq(counts_at("dq", T0).delayed, 1);
    cr_expect_eq(counts_at("q", T0).delayed, 1);
    size_t n = 0;
    recv_at("dq", 1, -1, T0 + 4999, &n);
    cr_expect_eq(n, 0);
    recv_at("q", 1, -1, T0 + 19999, &n);
    cr_expect_eq(n, 0);
    int64_t at = 0;
    lm_error e = {0};
    cr_assert_eq(mq_next_wake_ms(m, "q", T0, &at, &e), LM_OK);
    cr_expect_eq(at, T0 + 20000);
    mq_msgs_free(recv_at("dq", 1, -1, T0 + 5000, &n), n);
    cr_expect_eq(n, 1);
    mq_msgs_free(recv_at("q", 1, -1, T0 + 20000, &n), n);
    cr_expect_eq(n, 1);
}

Test(messaging, expired_retention_removes_messages)
{
    qcreate("q", "{\"MessageRetentionPeriod\":\"60\"}");
    send1("q", "old");
    send_at("q", "newer", -1, NULL, NULL, T0 + 30000);
    cr_expect_eq(counts_at("q", T0 + 59999).visible, 2);
    cr_expect_eq(counts_at("q", T0 + 60000).visible, 1);
    size_t n = 0;
    mq_msg *v = recv_at("q", 10, -1, T0 + 60000, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].body, "newer");
    mq_msgs_free(v, n);
    lm_error e = {0};
    bool more = true;
    cr_expect_eq(mq_sweep(m, T0 + 200000, 100, &more, &e), LM_OK);
    cr_expect_eq(counts_at("q", T0 + 200000).not_visible, 0);
}

Test(messaging, redrive_moves_a_message_to_the_dlq_after_max_receives)
{
    lm_error e = {0};
    qcreate("dlq", NULL);
    qcreate("src", "{\"VisibilityTimeout\":\"1\",\"RedrivePolicy\":"
                   "\"{\\\"deadLetterTargetArn\\\":\\\"arn:lamina:sqs:local:000000000000:dlq\\\","
                   "\\\"maxReceiveCount\\\":2}\"}");
    mq_sent s = send1("src", "poison");
    size_t n = 0;
    mq_msgs_free(recv_at("src", 1, -1, T0, &n), n);
    cr_assert_eq(n, 1);
    mq_msgs_free(recv_at("src", 1, -1, T0 + 1000, &n), n);
    cr_assert_eq(n, 1);
    int fired = 0;
    mq_msg *v = recv_at("src", 1, -1, T0 + 2000, &n);
    cr_expect_eq(n, 0, "the third receive moves it instead");
    (void)v;
    (void)fired;
    mq_counts c = counts_at("src", T0 + 2000);
    cr_expect_eq(c.visible + c.not_visible + c.delayed, 0);
    v = recv_at("dlq", 1, -1, T0 + 2000, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].message_id, s.message_id);
    cr_expect_str_eq(v[0].body, "poison");
    cr_expect_eq(v[0].sent_ms, T0);
    cr_expect_eq(v[0].receive_count, 1);
    mq_msgs_free(v, n);
    cJSON *g = mq_queue_get(m, "src", NULL, T0 + 2000, &e);
    cr_assert_not_null(g);
    cr_expect_not_null(cJSON_GetObjectItem(g, "RedrivePolicy"));
    cJSON_Delete(g);
}

static void ready_count(void *arg, const char *queue, int64_t at)
{
    (void)queue;
    (void)at;
    (*(int *)arg)++;
}

Test(messaging, redrive_into_the_dlq_fires_its_ready_hook)
{
    qcreate("dlq", NULL);
    qcreate("src", "{\"VisibilityTimeout\":\"1\",\"RedrivePolicy\":"
                   "{\"deadLetterTargetArn\":\"dlq\",\"maxReceiveCount\":1}}");
    send1("src", "p");
    size_t n = 0;
    mq_msgs_free(recv_at("src", 1, -1, T0, &n), n);
    int fired = 0;
    mq_set_ready_hook(m, ready_count, &fired);
    recv_at("src", 1, -1, T0 + 1000, &n);
    cr_expect_eq(n, 0);
    cr_expect_geq(fired, 1);
    cr_expect_eq(counts_at("dlq", T0 + 1000).visible, 1);
}

/* ---- FIFO ---- */

#define FIFO_ATTRS "{\"FifoQueue\":\"true\"}"

Test(messaging, fifo_keeps_order_per_group_and_blocks_a_group_in_flight)
{
    lm_error e = {0};
    qcreate("f.fifo", FIFO_ATTRS);
    send_at("f.fifo", "a1", -1, "A", "d1", T0);
    send_at("f.fifo", "a2", -1, "A", "d2", T0);
    send_at("f.fifo", "b1", -1, "B", "d3", T0);
    size_t n = 0;
    mq_msg *v = recv_at("f.fifo", 1, -1, T0, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].body, "a1");
    cr_expect_str_eq(v[0].group_id, "A");
    mq_msg *w = recv_at("f.fifo", 10, -1, T0, &n);
    cr_assert_eq(n, 1, "group A is blocked while a1 is in flight");
    cr_expect_str_eq(w[0].body, "b1");
    mq_msgs_free(w, n);
    recv_at("f.fifo", 10, -1, T0 + 1, &n);
    cr_expect_eq(n, 0);
    bool deleted = false;
    cr_assert_eq(mq_delete_message(m, "f.fifo", v[0].receipt, T0 + 2, &deleted, &e), LM_OK);
    cr_assert(deleted);
    mq_msgs_free(v, 1);
    v = recv_at("f.fifo", 10, -1, T0 + 3, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].body, "a2");
    mq_msgs_free(v, n);
}

Test(messaging, fifo_one_receive_returns_a_groups_messages_in_order)
{
    qcreate("f.fifo", FIFO_ATTRS);
    const char *b[] = {"1", "2", "3", "4"};
    for (int i = 0; i < 4; i++) {
        send_at("f.fifo", b[i], -1, "G", b[i], T0);
    }
    size_t n = 0;
    mq_msg *v = recv_at("f.fifo", 10, -1, T0, &n);
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(v[i].body, b[i]);
        if (i > 0) {
            cr_expect_gt(strcmp(v[i].sequence, v[i - 1].sequence), 0);
        }
    }
    mq_msgs_free(v, n);
}

Test(messaging, fifo_a_redelivered_head_comes_before_later_messages)
{
    qcreate("f.fifo", "{\"FifoQueue\":\"true\",\"VisibilityTimeout\":\"5\"}");
    send_at("f.fifo", "first", -1, "G", "1", T0);
    size_t n = 0;
    mq_msgs_free(recv_at("f.fifo", 1, -1, T0, &n), n);
    send_at("f.fifo", "second", -1, "G", "2", T0 + 1);
    mq_msg *v = recv_at("f.fifo", 10, -1, T0 + 5000, &n);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(v[0].body, "first");
    cr_expect_eq(v[0].receive_count, 2);
    cr_expect_str_eq(v[1].body, "second");
    mq_msgs_free(v, n);
}

Test(messaging, fifo_deduplicates_by_id_within_five_minutes)
{
    qcreate("f.fifo", FIFO_ATTRS);
    mq_sent a = send_at("f.fifo", "x", -1, "G", "same", T0);
    mq_sent b = send_at("f.fifo", "y", -1, "G", "same", T0 + MQ_DEDUP_WINDOW_MS - 1);
    cr_expect(b.duplicate);
    cr_expect_str_eq(b.message_id, a.message_id);
    cr_expect_str_eq(b.sequence, a.sequence);
    cr_expect_eq(counts_at("f.fifo", T0 + 1).visible, 1);
    mq_sent c = send_at("f.fifo", "z", -1, "G", "same", T0 + MQ_DEDUP_WINDOW_MS);
    cr_expect_not(c.duplicate);
    cr_expect_str_neq(c.message_id, a.message_id);
    cr_expect_eq(counts_at("f.fifo", T0 + MQ_DEDUP_WINDOW_MS).visible, 2);
}

Test(messaging, fifo_content_based_dedup_uses_sha256_of_the_body)
{
    lm_error e = {0};
    qcreate("c.fifo", "{\"FifoQueue\":\"true\",\"ContentBasedDeduplication\":\"true\"}");
    mq_sent a = send_at("c.fifo", "body", -1, "G", NULL, T0);
    mq_sent b = send_at("c.fifo", "body", -1, "H", NULL, T0 + 10);
    cr_expect(b.duplicate);
    cr_expect_str_eq(a.message_id, b.message_id);
    send_at("c.fifo", "other", -1, "G", NULL, T0 + 20);
    cr_expect_eq(counts_at("c.fifo", T0 + 20).visible, 2);
    size_t n = 0;
    mq_msg *v = recv_at("c.fifo", 1, -1, T0 + 30, &n);
    cr_assert_eq(n, 1);
    char sha[65];
    mq_sha256_hex("body", 4, sha);
    cr_expect_str_eq(v[0].dedup_id, sha);
    mq_msgs_free(v, n);
    /* without content dedup and without an id: refused */
    qcreate("n.fifo", FIFO_ATTRS);
    mq_send_entry en = {.body = "b", .body_len = 1, .delay_s = -1, .group_id = "G"};
    mq_sent s;
    cr_expect_eq(mq_send(m, "n.fifo", &en, T0, &s, &e), LM_E_MQ_INVALID_PARAMETER);
    en.group_id = NULL;
    en.dedup_id = "d";
    cr_expect_eq(mq_send(m, "n.fifo", &en, T0, &s, &e), LM_E_MQ_MISSING_PARAMETER);
}

/* ---- batches ---- */

Test(messaging, batch_reports_each_entry_and_sends_the_good_ones)
{
    lm_error e = {0};
    qcreate("q", "{\"MaximumMessageSize\":\"1024\"}");
    char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mq_send_entry en[3] = {{.id = "a", .body = "one", .body_len = 3, .delay_s = -1},
                           {.id = "b", .body = big, .body_len = strlen(big), .delay_s = -1},
                           {.id = "c", .body = "three", .body_len = 5, .delay_s = 0}};
    mq_sent out[3];
    size_t failed = 0;
    cr_assert_eq(mq_send_batch(m, "q", en, 3, T0, out, &failed, &e), LM_OK, "%s", e.message);
    cr_expect_eq(failed, 1);
    cr_expect_eq(out[0].err.code, LM_OK);
    cr_expect_eq(out[1].err.code, LM_E_MESSAGE_TOO_LONG);
    cr_expect_str_eq(out[1].id, "b");
    cr_expect_eq(out[1].message_id[0], '\0');
    cr_expect_eq(out[2].err.code, LM_OK);
    cr_expect_eq(counts_at("q", T0).visible, 2);
}

Test(messaging, batch_request_errors_send_nothing)
{
    lm_error e = {0};
    qcreate("q", NULL);
    mq_sent out[11];
    mq_send_entry en[11];
    memset(en, 0, sizeof(en));
    char ids[11][4];
    for (int i = 0; i < 11; i++) {
        snprintf(ids[i], sizeof(ids[i]), "i%d", i);
        en[i] = (mq_send_entry){.id = ids[i], .body = "b", .body_len = 1, .delay_s = -1};
    }
    cr_expect_eq(mq_send_batch(m, "q", en, 0, T0, out, NULL, &e), LM_E_EMPTY_BATCH);
    cr_expect_eq(mq_send_batch(m, "q", en, 11, T0, out, NULL, &e), LM_E_TOO_MANY_ENTRIES);
    en[1].id = "i0";
    cr_expect_eq(mq_send_batch(m, "q", en, 2, T0, out, NULL, &e), LM_E_BATCH_IDS_NOT_DISTINCT);
    en[1].id = "bad id!";
    cr_expect_eq(mq_send_batch(m, "q", en, 2, T0, out, NULL, &e), LM_E_INVALID_BATCH_ENTRY_ID);
    en[1].id = "i1";
    cr_expect_eq(mq_send_batch(m, "nope", en, 2, T0, out, NULL, &e), LM_E_QUEUE_DOES_NOT_EXIST);
    cr_expect_eq(counts_at("q", T0).visible, 0);
}

Test(messaging, batch_parse_decodes_entries_and_refuses_bad_shapes)
{
    lm_error e = {0};
    mq_batch b;
    const char *ok = "[{\"Id\":\"a\",\"MessageBody\":\"x\",\"DelaySeconds\":3},"
                     "{\"Id\":\"b\",\"MessageBody\":\"y\",\"MessageGroupId\":\"g\","
                     "\"MessageDeduplicationId\":\"d\",\"MessageAttributes\":{}}]";
    cr_assert_eq(mq_batch_parse(ok, strlen(ok), &b, &e), LM_OK, "%s", e.message);
    cr_expect_eq(b.n, 2);
    cr_expect_str_eq(b.en[0].id, "a");
    cr_expect_eq(b.en[0].delay_s, 3);
    cr_expect_eq(b.en[1].delay_s, -1);
    cr_expect_str_eq(b.en[1].group_id, "g");
    mq_batch_finish(&b);
    struct {
        const char *j;
        int code;
    } bad[] = {
        {"[]", LM_E_EMPTY_BATCH},
        {"{}", LM_E_MQ_INVALID_PARAMETER},
        {"[{\"Id\":\"a\"}]", LM_E_MQ_MISSING_PARAMETER},
        {"[{\"MessageBody\":\"a\"}]", LM_E_MQ_MISSING_PARAMETER},
        {"[{\"Id\":\"a\",\"MessageBody\":\"x\",\"Bogus\":1}]", LM_E_MQ_INVALID_PARAMETER},
        {"[{\"Id\":\"a\",\"MessageBody\":\"x\",\"DelaySeconds\":1.5}]", LM_E_MQ_INVALID_PARAMETER},
        {"[1,2,3,4,5,6,7,8,9,10,11]", LM_E_TOO_MANY_ENTRIES},
        {"[{\"Id\":\"a\",\"MessageBody\":\"x\"}] x", LM_E_MQ_INVALID_PARAMETER}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(mq_batch_parse(bad[i].j, strlen(bad[i].j), &b, &e), bad[i].code, "%s",
                     bad[i].j);
        mq_batch_finish(&b);
    }
    /* an explicit negative delay is refused by the send, never "the queue's" */
    const char *neg = "[{\"Id\":\"a\",\"MessageBody\":\"x\",\"DelaySeconds\":-1}]";
    cr_assert_eq(mq_batch_parse(neg, strlen(neg), &b, &e), LM_OK);
    cr_expect_lt(b.en[0].delay_s, -1);
    mq_batch_finish(&b);
}

/* ---- transactions ---- */

typedef struct ready_log {
    int n;
    char last[MQ_QUEUE_NAME_MAX + 1];
    int64_t at;
    bool in_txn;
} ready_log;

static void ready_rec(void *arg, const char *queue, int64_t at)
{
    ready_log *l = arg;
    l->n++;
    snprintf(l->last, sizeof(l->last), "%s", queue);
    l->at = at;
    l->in_txn = sqlite3_get_autocommit(db) == 0;
}

Test(messaging, group_commit_holds_many_sends_in_one_transaction)
{
    lm_error e = {0};
    qcreate("q", NULL);
    ready_log l = {0};
    mq_set_ready_hook(m, ready_rec, &l);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    cr_expect(mq_in_transaction(m));
    for (int i = 0; i < 64; i++) {
        send1("q", "m");
    }
    mq_sent s;
    mq_send_entry bad = {.body = "", .body_len = 0, .delay_s = -1};
    cr_expect_neq(mq_send(m, "q", &bad, T0, &s, &e), LM_OK, "a failing op leaves the others");
    cr_expect_eq(l.n, 0, "no ready hook before the commit");
    cr_assert_eq(mq_commit(m, &e), LM_OK, "%s", e.message);
    cr_expect_eq(l.n, 1, "one note per queue");
    cr_expect_str_eq(l.last, "q");
    cr_expect_eq(l.at, T0);
    cr_expect_not(l.in_txn, "the hook runs after COMMIT");
    cr_expect_eq(counts_at("q", T0).visible, 64);

    cr_assert_eq(mq_begin(m, &e), LM_OK);
    send1("q", "lost");
    mq_rollback(m);
    cr_expect_eq(l.n, 1, "no hook for a rolled-back transaction");
    cr_expect_eq(counts_at("q", T0).visible, 64);
    cr_expect_eq(mq_begin(m, &e), LM_OK);
    cr_expect_neq(mq_begin(m, &e), LM_OK, "not nested");
    mq_rollback(m);
}

Test(messaging, purge_empties_a_queue_once_per_minute)
{
    lm_error e = {0};
    qcreate("q", NULL);
    send1("q", "a");
    send1("q", "b");
    cr_assert_eq(mq_queue_purge(m, "q", T0, &e), LM_OK);
    cr_expect_eq(counts_at("q", T0).visible, 0);
    cr_expect_eq(mq_queue_purge(m, "q", T0 + 59999, &e), LM_E_PURGE_IN_PROGRESS);
    cr_expect_eq(mq_queue_purge(m, "q", T0 + 60000, &e), LM_OK);
    send_at("q", "after", -1, NULL, NULL, T0 + 60001);
    size_t n = 0;
    mq_msg *v = recv_at("q", 10, -1, T0 + 60001, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].body, "after");
    mq_msgs_free(v, n);
    bool more = true;
    cr_expect_eq(mq_sweep(m, T0 + 60002, 1000, &more, &e), LM_OK);
    cr_expect_not(more);
    cr_expect_eq(mq_queue_delete(m, "q", T0 + 60003, &e), LM_OK);
    cr_expect_eq(mq_queue_delete(m, "q", T0 + 60003, &e), LM_E_QUEUE_DOES_NOT_EXIST);
}

/* ---- scale: cost independent of the data ---- */

static int64_t steps(void)
{
    int64_t vm = 0, fs = 0;
    mq_debug_steps(m, &vm, &fs);
    return vm;
}

static void fill(const char *q, int n, int64_t now)
{
    lm_error e = {0};
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    for (int i = 0; i < n; i++) {
        send_at(q, "payload", -1, NULL, NULL, now);
    }
    cr_assert_eq(mq_commit(m, &e), LM_OK);
}

/* VM steps of get + counts + next wake on q at now. */
static int64_t cost_of_get(const char *q, int64_t now)
{
    lm_error e = {0};
    int64_t before = steps(), at = 0;
    cJSON *g = mq_queue_get(m, q, NULL, now, &e);
    cr_assert_not_null(g);
    cJSON_Delete(g);
    counts_at(q, now);
    cr_assert_eq(mq_next_wake_ms(m, q, now, &at, &e), LM_OK);
    return steps() - before;
}

Test(messaging, get_and_receive_cost_does_not_grow_with_the_queue, .timeout = 120)
{
    qcreate("small", NULL);
    qcreate("big", NULL);
    fill("small", 10, T0);
    fill("big", 50000, T0);
    cost_of_get("small", T0 + 1);
    cost_of_get("big", T0 + 1); /* statements prepared */
    int64_t cs = cost_of_get("small", T0 + 2), cb = cost_of_get("big", T0 + 2);
    cr_expect_lt(cb, cs * 2 + 100, "get on 50,000 messages: %lld steps, on 10: %lld", (long long)cb,
                 (long long)cs);
    size_t n = 0;
    int64_t b0 = steps();
    mq_msgs_free(recv_at("small", 10, -1, T0 + 3, &n), n);
    int64_t rs = steps() - b0;
    b0 = steps();
    mq_msgs_free(recv_at("big", 10, -1, T0 + 3, &n), n);
    int64_t rb = steps() - b0;
    cr_expect_lt(rb, rs * 2 + 200, "receive on 50,000: %lld steps, on 10: %lld", (long long)rb,
                 (long long)rs);
}

/* ---- topics ---- */

static void tcreate(const char *name)
{
    lm_error e = {0};
    cr_assert_eq(mq_topic_create(m, name, T0, NULL, &e), LM_OK, "%s", e.message);
}

static void subscribe_q(const char *topic, const char *queue, bool raw, const char *policy,
                        const char *scope, char arn[MQ_ARN_MAX])
{
    lm_error e = {0};
    mq_sub_spec s = {.protocol = "sqs",
                     .endpoint = queue,
                     .raw = raw,
                     .filter_policy = policy,
                     .filter_scope = scope};
    cr_assert_eq(mq_subscribe(m, topic, &s, T0, arn, &e), LM_OK, "%s", e.message);
}

static mq_published publish(const char *topic, const char *msg, const char *subject,
                            const char *attrs_json)
{
    lm_error e = {0};
    cJSON *a = attrs_json != NULL ? cJSON_Parse(attrs_json) : NULL;
    mq_publish_in in = {.message = msg, .len = strlen(msg), .subject = subject, .attributes = a};
    mq_published out;
    int rc = mq_publish(m, topic, &in, T0, &out, &e);
    cJSON_Delete(a);
    cr_assert_eq(rc, LM_OK, "publish: %s", e.message);
    return out;
}

static mq_msg *take_one(const char *q)
{
    size_t n = 0;
    mq_msg *v = recv_at(q, 10, -1, T0, &n);
    cr_assert_eq(n, 1, "queue %s holds %zu messages, want 1", q, n);
    return v;
}

Test(messaging, topic_create_get_list_delete)
{
    lm_error e = {0};
    char arn[MQ_ARN_MAX];
    cr_assert_eq(mq_topic_create(m, "t", T0, arn, &e), LM_OK);
    cr_expect_str_eq(arn, "arn:lamina:sns:local:000000000000:t");
    cr_assert_eq(mq_topic_create(m, "t", T0, NULL, &e), LM_OK, "existing topic returned");
    cr_expect_eq(mq_topic_create(m, "bad name", T0, NULL, &e), LM_E_SNS_INVALID_PARAMETER);
    qcreate("q", NULL);
    subscribe_q("t", "q", false, NULL, NULL, NULL);
    cJSON *g = mq_topic_get(m, arn, &e);
    cr_assert_not_null(g, "%s", e.message);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "SubscriptionsConfirmed")), "1");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "TopicArn")), arn);
    cJSON_Delete(g);
    tcreate("a");
    cJSON *l = mq_topic_list(m, &e);
    cr_assert_eq(cJSON_GetArraySize(l), 2);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "Name")),
                     "a");
    cJSON_Delete(l);
    cr_expect_eq(mq_topic_delete(m, "t", &e), LM_OK);
    cr_expect_eq(mq_topic_delete(m, "t", &e), LM_E_SNS_NOT_FOUND);
    cr_expect_null(mq_topic_get(m, "t", &e));
    cr_expect_eq(e.code, LM_E_SNS_NOT_FOUND);
}

Test(messaging, subscribe_is_idempotent_and_unsubscribe_removes)
{
    lm_error e = {0};
    tcreate("t");
    qcreate("q", NULL);
    char a1[MQ_ARN_MAX], a2[MQ_ARN_MAX];
    subscribe_q("t", "q", false, NULL, NULL, a1);
    subscribe_q("t", "arn:aws:sqs:us-east-1:123456789012:q", false, NULL, NULL, a2);
    cr_expect_str_eq(a1, a2, "the same endpoint by name or ARN is one subscription");
    mq_sub_spec s = {.protocol = "sqs", .endpoint = "q", .raw = true};
    cr_expect_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_E_SNS_INVALID_PARAMETER);
    s = (mq_sub_spec){.protocol = "sqs", .endpoint = "nope"};
    cr_expect_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_E_SNS_INVALID_PARAMETER);
    qcreate("f.fifo", FIFO_ATTRS);
    s.endpoint = "f.fifo";
    cr_expect_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_E_SNS_INVALID_PARAMETER);
    s = (mq_sub_spec){.protocol = "email", .endpoint = "x"};
    cr_expect_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_E_SNS_INVALID_PARAMETER);
    s = (mq_sub_spec){.protocol = "sqs", .endpoint = "q"};
    cr_expect_eq(mq_subscribe(m, "missing", &s, T0, NULL, &e), LM_E_SNS_NOT_FOUND);
    cJSON *l = mq_subscriptions(m, "t", &e);
    cr_assert_eq(cJSON_GetArraySize(l), 1);
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "Endpoint")),
        "arn:lamina:sqs:local:000000000000:q");
    cJSON_Delete(l);
    cr_expect_eq(mq_unsubscribe(m, a1, &e), LM_OK, "%s", e.message);
    cr_expect_eq(mq_unsubscribe(m, a1, &e), LM_E_SNS_NOT_FOUND);
    cr_expect_eq(mq_unsubscribe(m, "arn:lamina:sns:local:000000000000:t", &e),
                 LM_E_SNS_INVALID_PARAMETER);
    cr_expect_eq(publish("t", "hi", NULL, NULL).matched, 0);
}

Test(messaging, publish_to_a_queue_stores_the_sns_envelope)
{
    tcreate("t");
    qcreate("q", NULL);
    subscribe_q("t", "q", false, NULL, NULL, NULL);
    mq_published p = publish("t", "hello \"world\"", "Subj",
                             "{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}");
    cr_expect_eq(p.matched, 1);
    cr_expect_eq(p.delivered, 1);
    cr_expect_eq(p.failed, 0);
    mq_msg *v = take_one("q");
    cJSON *env = cJSON_Parse(v[0].body);
    cr_assert_not_null(env, "body is JSON: %s", v[0].body);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(env, "Type")), "Notification");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(env, "Message")), "hello \"world\"");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(env, "MessageId")), p.message_id);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(env, "Subject")), "Subj");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(env, "TopicArn")),
                     "arn:lamina:sns:local:000000000000:t");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(env, "Timestamp")),
                     "2023-11-14T22:13:20.000Z");
    cJSON *ma = cJSON_GetObjectItem(cJSON_GetObjectItem(env, "MessageAttributes"), "k");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(ma, "Type")), "String");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(ma, "Value")), "v");
    cr_expect_null(v[0].attributes, "envelope delivery carries no SQS attributes");
    cJSON_Delete(env);
    mq_msgs_free(v, 1);
}

Test(messaging, raw_delivery_stores_the_message_and_its_attributes)
{
    tcreate("t");
    qcreate("q", NULL);
    subscribe_q("t", "q", true, NULL, NULL, NULL);
    publish("t", "raw body", NULL, "{\"k\":{\"DataType\":\"Number\",\"StringValue\":\"5\"}}");
    mq_msg *v = take_one("q");
    cr_expect_str_eq(v[0].body, "raw body");
    cr_assert_not_null(v[0].attributes);
    cJSON *a = cJSON_Parse(v[0].attributes);
    cJSON *k = cJSON_GetObjectItem(a, "k");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(k, "DataType")), "Number");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(k, "StringValue")), "5");
    cr_expect_neq(v[0].md5_attributes[0], '\0');
    cJSON_Delete(a);
    mq_msgs_free(v, 1);
}

typedef struct invoke_log {
    int n;
    char fn[65], qual[129];
    char *event;
    bool in_txn;
    int fail;
} invoke_log;

static int invoke_rec(void *arg, const mq_delivery *d, lm_error *e)
{
    invoke_log *l = arg;
    l->n++;
    snprintf(l->fn, sizeof(l->fn), "%s", d->function);
    snprintf(l->qual, sizeof(l->qual), "%s", d->qualifier);
    free(l->event);
    l->event = strndup(d->event, d->event_len);
    l->in_txn = sqlite3_get_autocommit(db) == 0;
    if (l->fail) {
        e->code = LM_E_INTERNAL;
        return LM_E_INTERNAL;
    }
    return LM_OK;
}

Test(messaging, function_subscription_gets_the_sns_lambda_event_through_the_hook)
{
    lm_error e = {0};
    tcreate("t");
    invoke_log l = {0};
    mq_sub_spec s = {.protocol = "lambda",
                     .endpoint = "arn:lamina:lambda:local:000000000000:function:fn:live"};
    char sarn[MQ_ARN_MAX];
    cr_assert_eq(mq_subscribe(m, "t", &s, T0, sarn, &e), LM_OK, "%s", e.message);
    mq_published p = publish("t", "{\"x\":1}", NULL, NULL);
    cr_expect_eq(p.failed, 1, "without a hook, function deliveries fail");
    mq_set_invoke_hook(m, invoke_rec, &l);
    p = publish("t", "{\"x\":1}", NULL, "{\"a\":{\"DataType\":\"String\",\"StringValue\":\"b\"}}");
    cr_expect_eq(p.delivered, 1);
    cr_assert_eq(l.n, 1);
    cr_expect(l.in_txn, "the hook stores its invoke in the publish's transaction");
    cr_expect_str_eq(l.fn, "fn");
    cr_expect_str_eq(l.qual, "live");
    cJSON *ev = cJSON_Parse(l.event);
    cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "Records"), 0);
    cr_assert_not_null(r, "%s", l.event);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "EventSource")), "aws:sns");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "EventVersion")), "1.0");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "EventSubscriptionArn")), sarn);
    cJSON *sns = cJSON_GetObjectItem(r, "Sns");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(sns, "Message")), "{\"x\":1}");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(sns, "MessageId")), p.message_id);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(sns, "Subject")));
    cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(sns, "MessageAttributes"), "a");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(a, "Value")), "b");
    cJSON_Delete(ev);
    free(l.event);
}

Test(messaging, a_failed_delivery_is_counted_and_the_others_commit)
{
    lm_error e = {0};
    tcreate("t");
    qcreate("q1", NULL);
    qcreate("q2", NULL);
    subscribe_q("t", "q1", false, NULL, NULL, NULL);
    subscribe_q("t", "q2", false, NULL, NULL, NULL);
    invoke_log l = {.fail = 1};
    mq_set_invoke_hook(m, invoke_rec, &l);
    mq_sub_spec s = {.protocol = "lambda", .endpoint = "fn"};
    cr_assert_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_OK);
    cr_assert_eq(mq_queue_delete(m, "q2", T0, &e), LM_OK);
    mq_published p = publish("t", "m", NULL, NULL);
    cr_expect_eq(p.matched, 3);
    cr_expect_eq(p.delivered, 1);
    cr_expect_eq(p.failed, 2);
    cr_expect_eq(counts_at("q1", T0).visible, 1);
    free(l.event);
}

Test(messaging, publish_in_a_caller_transaction_is_undone_by_rollback)
{
    lm_error e = {0};
    tcreate("t");
    qcreate("q", NULL);
    subscribe_q("t", "q", false, NULL, NULL, NULL);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    publish("t", "one", NULL, NULL);
    publish("t", "two", NULL, NULL);
    mq_rollback(m);
    cr_expect_eq(counts_at("q", T0).visible, 0);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    publish("t", "one", NULL, NULL);
    publish("t", "two", NULL, NULL);
    cr_assert_eq(mq_commit(m, &e), LM_OK);
    cr_expect_eq(counts_at("q", T0).visible, 2);
}

Test(messaging, attribute_filter_policies_select_subscriptions)
{
    tcreate("t");
    qcreate("red", NULL);
    qcreate("big", NULL);
    qcreate("all", NULL);
    subscribe_q("t", "red", false, "{\"color\":[\"red\"]}", NULL, NULL);
    subscribe_q("t", "big", false, "{\"size\":[{\"numeric\":[\">\",10]}]}", "MessageAttributes",
                NULL);
    subscribe_q("t", "all", false, NULL, NULL, NULL);
    mq_published p = publish("t", "m1", NULL,
                             "{\"color\":{\"DataType\":\"String\",\"StringValue\":\"red\"},"
                             "\"size\":{\"DataType\":\"Number\",\"StringValue\":\"3\"}}");
    cr_expect_eq(p.matched, 2);
    p = publish("t", "m2", NULL, "{\"size\":{\"DataType\":\"Number\",\"StringValue\":\"11\"}}");
    cr_expect_eq(p.matched, 2);
    p = publish("t", "m3", NULL, NULL);
    cr_expect_eq(p.matched, 1);
    cr_expect_eq(counts_at("red", T0).visible, 1);
    cr_expect_eq(counts_at("big", T0).visible, 1);
    cr_expect_eq(counts_at("all", T0).visible, 3);
}

Test(messaging, body_filter_policies_match_json_bodies_only)
{
    tcreate("t");
    qcreate("q", NULL);
    subscribe_q("t", "q", true, "{\"order\":{\"kind\":[\"book\"]}}", "MessageBody", NULL);
    cr_expect_eq(publish("t", "{\"order\":{\"kind\":\"book\"}}", NULL, NULL).matched, 1);
    cr_expect_eq(publish("t", "{\"order\":{\"kind\":\"pen\"}}", NULL, NULL).matched, 0);
    cr_expect_eq(publish("t", "not json", NULL, NULL).matched, 0);
    mq_msg *v = take_one("q");
    cr_expect_str_eq(v[0].body, "{\"order\":{\"kind\":\"book\"}}");
    mq_msgs_free(v, 1);
}

Test(messaging, a_changed_subscription_set_is_seen_by_the_next_publish)
{
    tcreate("t");
    qcreate("q", NULL);
    cr_expect_eq(publish("t", "m", NULL, NULL).matched, 0);
    char arn[MQ_ARN_MAX];
    subscribe_q("t", "q", false, NULL, NULL, arn);
    cr_expect_eq(publish("t", "m", NULL, NULL).matched, 1);
    lm_error e = {0};
    cr_assert_eq(mq_unsubscribe(m, arn, &e), LM_OK);
    cr_expect_eq(publish("t", "m", NULL, NULL).matched, 0);
}

Test(messaging, filter_policy_check_enforces_sns_limits)
{
    lm_error e = {0};
    struct {
        const char *p, *scope;
        int code;
    } c[] = {
        {"{\"a\":[\"x\"]}", NULL, LM_OK},
        {"{\"a\":{\"b\":[\"x\"]}}", "MessageBody", LM_OK},
        {"{\"a\":{\"b\":[\"x\"]}}", NULL, LM_E_SNS_INVALID_PARAMETER}, /* attributes: flat */
        {"{\"a\":[1],\"b\":[1],\"c\":[1],\"d\":[1],\"e\":[1],\"f\":[1]}", NULL,
         LM_E_SNS_INVALID_PARAMETER}, /* 6 keys */
        {"{\"a\":[1,2,3,4,5,6,7,8,9,10],\"b\":[1,2,3,4,5,6,7,8,9,10],\"c\":[1,2]}", NULL,
         LM_E_SNS_INVALID_PARAMETER}, /* 200 combinations */
        {"{\"a\":[1,2,3,4,5,6,7,8,9,10],\"b\":[1,2,3,4,5,6,7,8,9,10]}", NULL, LM_OK},
        {"{}", NULL, LM_E_SNS_INVALID_PARAMETER},
        {"[1]", NULL, LM_E_SNS_INVALID_PARAMETER},
        {"{\"a\":[{\"nope\":1}]}", NULL, LM_E_SNS_INVALID_PARAMETER},
        {"{\"a\":[\"x\"]}", "Elsewhere", LM_E_SNS_INVALID_PARAMETER},
        {"{\"a\":[\"x\"", NULL, LM_E_SNS_INVALID_PARAMETER},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        cr_expect_eq(mq_filter_policy_check(c[i].p, strlen(c[i].p), c[i].scope, &e), c[i].code,
                     "%s: %s", c[i].p, e.message);
    }
}

Test(messaging, publish_checks_its_input)
{
    lm_error e = {0};
    tcreate("t");
    mq_published out;
    mq_publish_in in = {.message = "", .len = 0};
    cr_expect_eq(mq_publish(m, "t", &in, T0, &out, &e), LM_E_SNS_INVALID_PARAMETER);
    in = (mq_publish_in){.message = "\xff", .len = 1};
    cr_expect_eq(mq_publish(m, "t", &in, T0, &out, &e), LM_E_SNS_INVALID_PARAMETER);
    in = (mq_publish_in){.message = "ok", .len = 2, .subject = "line\nbreak"};
    cr_expect_eq(mq_publish(m, "t", &in, T0, &out, &e), LM_E_SNS_INVALID_PARAMETER);
    char *big = malloc(MQ_SNS_MESSAGE_MAX + 2);
    memset(big, 'x', MQ_SNS_MESSAGE_MAX + 1);
    big[MQ_SNS_MESSAGE_MAX + 1] = '\0';
    in = (mq_publish_in){.message = big, .len = MQ_SNS_MESSAGE_MAX + 1};
    cr_expect_eq(mq_publish(m, "t", &in, T0, &out, &e), LM_E_SNS_INVALID_PARAMETER);
    free(big);
    in = (mq_publish_in){.message = "ok", .len = 2};
    cr_expect_eq(mq_publish(m, "nope", &in, T0, &out, &e), LM_E_SNS_NOT_FOUND);
}

Test(messaging, publish_cost_does_not_grow_with_a_thousand_subscriptions, .timeout = 120)
{
    lm_error e = {0};
    tcreate("wide");
    tcreate("narrow");
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    for (int i = 0; i < 1000; i++) {
        char q[32], pol[64];
        snprintf(q, sizeof(q), "q%d", i);
        snprintf(pol, sizeof(pol), "{\"id\":[\"%d\"]}", i);
        qcreate(q, NULL);
        subscribe_q("wide", q, false, pol, NULL, NULL);
        if (i < 10) {
            subscribe_q("narrow", q, false, pol, NULL, NULL);
        }
    }
    cr_assert_eq(mq_commit(m, &e), LM_OK);
    const char *attrs = "{\"id\":{\"DataType\":\"String\",\"StringValue\":\"7\"}}";
    publish("wide", "warm", NULL, attrs); /* compiles the cache */
    publish("narrow", "warm", NULL, attrs);
    int64_t b = steps();
    mq_published p = publish("wide", "m", NULL, attrs);
    int64_t cw = steps() - b;
    b = steps();
    publish("narrow", "m", NULL, attrs);
    int64_t cn = steps() - b;
    cr_expect_eq(p.matched, 1);
    cr_expect_lt(cw, cn * 2 + 100, "publish to 1,000 subscriptions: %lld steps, to 10: %lld",
                 (long long)cw, (long long)cn);
    cr_expect_eq(counts_at("q7", T0).visible, 4);
}

/* ---- more queue behaviour ---- */

Test(messaging, queue_set_changes_attributes_and_refuses_invalid_ones_whole)
{
    lm_error e = {0};
    qcreate("q", NULL);
    cJSON *a = cJSON_Parse("{\"VisibilityTimeout\":\"5\",\"DelaySeconds\":\"2\"}");
    cr_assert_eq(mq_queue_set(m, "q", a, T0 + 1000, &e), LM_OK, "%s", e.message);
    cJSON_Delete(a);
    a = cJSON_Parse("{\"VisibilityTimeout\":\"7\",\"DelaySeconds\":\"9999\"}");
    cr_expect_eq(mq_queue_set(m, "q", a, T0 + 2000, &e), LM_E_INVALID_ATTRIBUTE_VALUE);
    cJSON_Delete(a);
    cJSON *g = mq_queue_get(m, "q", NULL, T0 + 2000, &e);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "VisibilityTimeout")), "5");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "DelaySeconds")), "2");
    cJSON_Delete(g);
    send_at("q", "m", -1, NULL, NULL, T0 + 3000);
    cr_expect_eq(counts_at("q", T0 + 3000).delayed, 1, "the new delay applies");
}

Test(messaging, queue_get_selects_names_and_list_filters_by_prefix)
{
    lm_error e = {0};
    qcreate("alpha", NULL);
    qcreate("alpine", NULL);
    qcreate("beta", NULL);
    cJSON *names = cJSON_Parse("[\"ApproximateNumberOfMessages\",\"QueueArn\"]");
    cJSON *g = mq_queue_get(m, "alpha", names, T0, &e);
    cr_assert_not_null(g);
    cr_expect_eq(cJSON_GetArraySize(g), 2);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "ApproximateNumberOfMessages")),
                     "0");
    cJSON_Delete(g);
    cJSON_Delete(names);
    names = cJSON_Parse("[\"Bogus\"]");
    cr_expect_null(mq_queue_get(m, "alpha", names, T0, &e));
    cr_expect_eq(e.code, LM_E_INVALID_ATTRIBUTE_NAME);
    cJSON_Delete(names);
    cJSON *l = mq_queue_list(m, "alp", &e);
    cr_assert_eq(cJSON_GetArraySize(l), 2);
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 1), "QueueName")), "alpine");
    cJSON_Delete(l);
    char name[MQ_QUEUE_NAME_MAX + 1];
    cr_expect_eq(mq_queue_ref("arn:aws:sqs:us-east-1:123456789012:beta", name, &e), LM_OK);
    cr_expect_str_eq(name, "beta");
    cr_expect_eq(mq_queue_ref("arn:aws:sns:us-east-1:123456789012:beta", name, &e),
                 LM_E_MQ_INVALID_PARAMETER);
}

Test(messaging, lambda_record_has_the_sqs_event_shape)
{
    qcreate("q", NULL);
    send1("q", "body");
    size_t n = 0;
    mq_msg *v = recv_at("q", 1, -1, T0 + 5, &n);
    cr_assert_eq(n, 1);
    cJSON *r = mq_msg_lambda_record(&v[0], "q");
    cr_assert_not_null(r);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "messageId")), v[0].message_id);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "receiptHandle")), v[0].receipt);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "body")), "body");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "eventSource")), "aws:sqs");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "eventSourceARN")),
                     "arn:lamina:sqs:local:000000000000:q");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "md5OfBody")),
                     "841a2d689ad86bd1611447453c22c6fc");
    cJSON *at = cJSON_GetObjectItem(r, "attributes");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(at, "ApproximateReceiveCount")), "1");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(at, "SentTimestamp")),
                     "1700000000000");
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(at, "ApproximateFirstReceiveTimestamp")),
        "1700000000005");
    cr_expect(cJSON_IsObject(cJSON_GetObjectItem(r, "messageAttributes")));
    cJSON_Delete(r);
    mq_msgs_free(v, n);
}

Test(messaging, fifo_messages_carry_group_dedup_and_sequence)
{
    qcreate("f.fifo", FIFO_ATTRS);
    mq_sent s = send_at("f.fifo", "x", -1, "G1", "D1", T0);
    cr_expect_eq(strlen(s.sequence), 20);
    size_t n = 0;
    mq_msg *v = recv_at("f.fifo", 1, -1, T0, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].sequence, s.sequence);
    cr_expect_str_eq(v[0].dedup_id, "D1");
    cJSON *r = mq_msg_lambda_record(&v[0], "f.fifo");
    cJSON *at = cJSON_GetObjectItem(r, "attributes");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(at, "MessageGroupId")), "G1");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(at, "MessageDeduplicationId")), "D1");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(at, "SequenceNumber")), s.sequence);
    cJSON_Delete(r);
    mq_msgs_free(v, n);
    lm_error e = {0};
    mq_send_entry en = {.body = "y", .body_len = 1, .delay_s = 5, .group_id = "G", .dedup_id = "D"};
    cr_expect_eq(mq_send(m, "f.fifo", &en, T0, &s, &e), LM_E_MQ_INVALID_PARAMETER,
                 "FIFO: no per-message delay");
}

Test(messaging, fifo_redrive_keeps_the_group_in_the_dlq)
{
    qcreate("d.fifo", FIFO_ATTRS);
    qcreate("s.fifo", "{\"FifoQueue\":\"true\",\"VisibilityTimeout\":\"1\",\"RedrivePolicy\":"
                      "{\"deadLetterTargetArn\":\"d.fifo\",\"maxReceiveCount\":1}}");
    send_at("s.fifo", "p", -1, "G", "d", T0);
    send_at("s.fifo", "next", -1, "G", "d2", T0);
    size_t n = 0;
    mq_msgs_free(recv_at("s.fifo", 1, -1, T0, &n), n);
    cr_assert_eq(n, 1);
    mq_msg *v = recv_at("s.fifo", 1, -1, T0 + 1000, &n);
    cr_assert_eq(n, 1, "the head moved, the next of the group is handed out");
    cr_expect_str_eq(v[0].body, "next");
    mq_msgs_free(v, n);
    v = recv_at("d.fifo", 1, -1, T0 + 1000, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(v[0].body, "p");
    cr_expect_str_eq(v[0].group_id, "G");
    mq_msgs_free(v, n);
}

Test(messaging, change_visibility_fires_the_ready_hook)
{
    lm_error e = {0};
    qcreate("q", NULL);
    send1("q", "m");
    size_t n = 0;
    mq_msg *v = recv_at("q", 1, -1, T0, &n);
    cr_assert_eq(n, 1);
    ready_log l = {0};
    mq_set_ready_hook(m, ready_rec, &l);
    cr_assert_eq(mq_change_visibility(m, "q", v[0].receipt, 3, T0 + 10, &e), LM_OK);
    cr_expect_eq(l.n, 1);
    cr_expect_eq(l.at, T0 + 3010);
    int64_t at = 0;
    cr_assert_eq(mq_next_wake_ms(m, "q", T0 + 20, &at, &e), LM_OK);
    cr_expect_eq(at, T0 + 3010);
    mq_msgs_free(v, n);
    cr_assert_eq(mq_queue_purge(m, "q", T0 + 30, &e), LM_OK);
    cr_assert_eq(mq_next_wake_ms(m, "q", T0 + 40, &at, &e), LM_OK);
    cr_expect_eq(at, MQ_NEVER, "an empty queue never wakes");
}

Test(messaging, fifo_dedup_history_is_swept_after_the_window)
{
    lm_error e = {0};
    qcreate("f.fifo", FIFO_ATTRS);
    send_at("f.fifo", "x", -1, "G", "same", T0);
    int64_t count = -1;
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM mq_dedup", -1, &st, NULL);
    sqlite3_step(st);
    cr_expect_eq(sqlite3_column_int64(st, 0), 1);
    sqlite3_reset(st);
    cr_assert_eq(mq_sweep(m, T0 + MQ_DEDUP_WINDOW_MS, 100, NULL, &e), LM_OK);
    sqlite3_step(st);
    count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    cr_expect_eq(count, 0);
}

Test(messaging, a_committed_group_survives_closing_and_reopening_the_file)
{
    lm_error e = {0};
    char dir[] = "/tmp/test-messaging-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.db", dir);
    sqlite3 *fdb = NULL;
    cr_assert_eq(sqlite3_open(path, &fdb), SQLITE_OK);
    sqlite3_exec(fdb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
    cr_assert_eq(mq_schema_apply(fdb, &e), LM_OK);
    mq *fm = mq_create(fdb, &e);
    cr_assert_eq(mq_queue_create(fm, "q", NULL, T0, NULL, &e), LM_OK);
    mq_send_entry en = {.body = "durable", .body_len = 7, .delay_s = -1};
    mq_sent s;
    cr_assert_eq(mq_begin(fm, &e), LM_OK);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(mq_send(fm, "q", &en, T0, &s, &e), LM_OK);
    }
    cr_assert_eq(mq_commit(fm, &e), LM_OK);
    cr_assert_eq(mq_begin(fm, &e), LM_OK);
    cr_assert_eq(mq_send(fm, "q", &en, T0, &s, &e), LM_OK);
    /* closed with the transaction open, as a crash before the commit:
     * close_v2 defers the close until mq_destroy finalizes its statements,
     * and the open transaction is rolled back */
    sqlite3_close_v2(fdb);
    mq_destroy(fm);
    cr_assert_eq(sqlite3_open(path, &fdb), SQLITE_OK);
    cr_assert_eq(mq_schema_apply(fdb, &e), LM_OK, "idempotent");
    fm = mq_create(fdb, &e);
    mq_counts c;
    cr_assert_eq(mq_queue_counts(fm, "q", T0, &c, &e), LM_OK);
    cr_expect_eq(c.visible, 10);
    mq_destroy(fm);
    sqlite3_close(fdb);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(messaging, a_rolled_back_subscription_never_receives)
{
    lm_error e = {0};
    tcreate("t");
    qcreate("ghost", NULL);
    qcreate("real", NULL);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    subscribe_q("t", "ghost", false, NULL, NULL, NULL);
    cr_expect_eq(publish("t", "in txn", NULL, NULL).matched, 1);
    mq_rollback(m);
    subscribe_q("t", "real", false, NULL, NULL, NULL);
    mq_published p = publish("t", "after", NULL, NULL);
    cr_expect_eq(p.matched, 1);
    cr_expect_eq(counts_at("ghost", T0).visible, 0, "the cache must not outlive the rollback");
    cr_expect_eq(counts_at("real", T0).visible, 1);
}

Test(messaging, a_long_poll_waiter_learns_when_to_look_again)
{
    lm_error e = {0};
    qcreate("q", NULL);
    int64_t at = 0;
    cr_assert_eq(mq_next_wake_ms(m, "q", T0, &at, &e), LM_OK);
    cr_expect_eq(at, MQ_NEVER, "empty: wait for the ready hook");
    ready_log l = {0};
    mq_set_ready_hook(m, ready_rec, &l);
    send_at("q", "later", 5, NULL, NULL, T0 + 100);
    cr_expect_eq(l.n, 1);
    cr_expect_str_eq(l.last, "q");
    cr_expect_eq(l.at, T0 + 5100, "the hook says when the message becomes receivable");
    cr_assert_eq(mq_next_wake_ms(m, "q", T0 + 200, &at, &e), LM_OK);
    cr_expect_eq(at, T0 + 5100);
    size_t n = 0;
    recv_at("q", 1, -1, T0 + 5099, &n);
    cr_expect_eq(n, 0);
    mq_msgs_free(recv_at("q", 1, -1, at, &n), n);
    cr_expect_eq(n, 1);
    send_at("q", "now", -1, NULL, NULL, T0 + 6000);
    cr_assert_eq(mq_next_wake_ms(m, "q", T0 + 6000, &at, &e), LM_OK);
    cr_expect_eq(at, T0 + 6000, "available now");
}

Test(messaging, a_redrive_is_part_of_the_receives_transaction)
{
    lm_error e = {0};
    qcreate("dlq", NULL);
    qcreate("src", "{\"VisibilityTimeout\":\"1\",\"RedrivePolicy\":"
                   "{\"deadLetterTargetArn\":\"dlq\",\"maxReceiveCount\":1}}");
    send1("src", "p");
    size_t n = 0;
    mq_msgs_free(recv_at("src", 1, -1, T0, &n), n);
    cr_assert_eq(mq_begin(m, &e), LM_OK);
    recv_at("src", 1, -1, T0 + 1000, &n);
    cr_expect_eq(n, 0);
    cr_expect_eq(counts_at("dlq", T0 + 1000).visible, 1, "moved inside the transaction");
    mq_rollback(m);
    cr_expect_eq(counts_at("dlq", T0 + 1000).visible, 0, "and undone with it");
    cr_expect_eq(counts_at("src", T0 + 1000).visible, 1);
}

Test(messaging, queue_get_reports_the_three_counts)
{
    lm_error e = {0};
    qcreate("q", NULL);
    send1("q", "visible");
    send1("q", "in flight");
    send_at("q", "delayed", 60, NULL, NULL, T0);
    size_t n = 0;
    mq_msgs_free(recv_at("q", 1, -1, T0, &n), n);
    cJSON *g = mq_queue_get(m, "q", NULL, T0 + 1, &e);
    cr_assert_not_null(g);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "ApproximateNumberOfMessages")),
                     "1");
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(g, "ApproximateNumberOfMessagesNotVisible")), "1");
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(g, "ApproximateNumberOfMessagesDelayed")), "1");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "CreatedTimestamp")),
                     "1700000000");
    cJSON_Delete(g);
    g = mq_queue_get(m, "q", NULL, T0 + 60000, &e);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "ApproximateNumberOfMessages")),
                     "3", "the in-flight and the delayed one became visible");
    cJSON_Delete(g);
}

Test(messaging, function_endpoints_are_checked)
{
    lm_error e = {0};
    tcreate("t");
    const char *bad[] = {"", "bad name", "fn:", "arn:lamina:lambda:local:000000000000:layer:x",
                         "arn:lamina:sqs:local:000000000000:q"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mq_sub_spec s = {.protocol = "lambda", .endpoint = bad[i]};
        cr_expect_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_E_SNS_INVALID_PARAMETER, "%s",
                     bad[i]);
    }
    mq_sub_spec s = {.protocol = "lambda", .endpoint = "fn", .raw = true};
    cr_expect_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_E_SNS_INVALID_PARAMETER,
                 "raw delivery is for sqs");
    s = (mq_sub_spec){.protocol = "lambda", .endpoint = "fn:$LATEST"};
    cr_expect_eq(mq_subscribe(m, "t", &s, T0, NULL, &e), LM_OK, "%s", e.message);
    cJSON *l = mq_subscriptions(m, "t", &e);
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "Endpoint")),
        "arn:lamina:lambda:local:000000000000:function:fn:$LATEST");
    cJSON_Delete(l);
}

Test(messaging, two_instances_on_one_file_see_each_others_subscriptions)
{
    lm_error e = {0};
    char dir[] = "/tmp/test-messaging-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.db", dir);
    sqlite3 *d1 = NULL, *d2 = NULL;
    cr_assert_eq(sqlite3_open(path, &d1), SQLITE_OK);
    sqlite3_exec(d1, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL);
    cr_assert_eq(mq_schema_apply(d1, &e), LM_OK);
    cr_assert_eq(sqlite3_open(path, &d2), SQLITE_OK);
    mq *a = mq_create(d1, &e), *b = mq_create(d2, &e);
    cr_assert_eq(mq_topic_create(a, "t", T0, NULL, &e), LM_OK);
    cr_assert_eq(mq_queue_create(a, "q", NULL, T0, NULL, &e), LM_OK);
    mq_publish_in in = {.message = "m", .len = 1};
    mq_published p;
    cr_assert_eq(mq_publish(a, "t", &in, T0, &p, &e), LM_OK);
    cr_expect_eq(p.matched, 0);
    mq_sub_spec s = {.protocol = "sqs", .endpoint = "q"};
    cr_assert_eq(mq_subscribe(b, "t", &s, T0, NULL, &e), LM_OK, "%s", e.message);
    cr_assert_eq(mq_publish(a, "t", &in, T0, &p, &e), LM_OK);
    cr_expect_eq(p.matched, 1, "a's cached topic is stale once b subscribed");
    mq_counts c;
    cr_assert_eq(mq_queue_counts(b, "q", T0, &c, &e), LM_OK);
    cr_expect_eq(c.visible, 1);
    mq_destroy(a);
    mq_destroy(b);
    sqlite3_close(d1);
    sqlite3_close(d2);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* SQS's in-flight cap (MQ_INFLIGHT_MAX_FIFO for FIFO queues; the standard
 * queue's 120,000 goes through the same check): a receive past it is
 * OverLimit, and a delete makes room again. */
Test(messaging, receives_past_the_in_flight_limit_are_over_limit, .timeout = 120)
{
    qcreate("cap.fifo", "{\"FifoQueue\":\"true\",\"VisibilityTimeout\":\"600\"}");
    lm_error e = {0};
    cr_assert_eq(mq_begin(m, &e), LM_OK, "%s", e.message);
    char g[32];
    for (int i = 0; i < MQ_INFLIGHT_MAX_FIFO + 1; i++) {
        snprintf(g, sizeof(g), "g%d", i); /* a group each: nothing waits behind another */
        send_at("cap.fifo", "x", -1, g, g, T0);
    }
    char receipt[MQ_RECEIPT_MAX] = "";
    size_t got = 0;
    while (got < MQ_INFLIGHT_MAX_FIFO) {
        size_t n = 0;
        mq_msg *v = recv_at("cap.fifo", 10, -1, T0 + 1, &n);
        cr_assert_gt(n, 0, "only %zu received before the cap", got);
        if (receipt[0] == '\0') {
            snprintf(receipt, sizeof(receipt), "%s", v[0].receipt);
        }
        got += n;
        mq_msgs_free(v, n);
    }
    cr_assert_eq(got, (size_t)MQ_INFLIGHT_MAX_FIFO);
    mq_msg *v = NULL;
    size_t n = 0;
    mq_receive_opts o = {.max = 1, .visibility_s = -1};
    cr_assert_eq(mq_receive(m, "cap.fifo", &o, T0 + 2, &v, &n, &e), LM_E_OVER_LIMIT);
    cr_assert(strstr(e.message, "in flight") != NULL, "%s", e.message);
    bool deleted = false;
    cr_assert_eq(mq_delete_message(m, "cap.fifo", receipt, T0 + 3, &deleted, &e), LM_OK, "%s",
                 e.message);
    cr_assert(deleted);
    v = recv_at("cap.fifo", 1, -1, T0 + 4, &n);
    cr_assert_eq(n, 1, "a delete makes room for the last one");
    mq_msgs_free(v, n);
    cr_assert_eq(mq_commit(m, &e), LM_OK, "%s", e.message);
}
