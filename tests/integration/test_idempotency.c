/*
 * Integration: async invokes' idempotency keys (IdempotencyKey), against a
 * real broker with --test-clock and real runtimes — a repeat answers the
 * first 202 and runs nothing more, another payload or qualifier is a typed
 * mismatch, 50 submissions of one key at once make one event, a key
 * survives kill -9, and 24 h of broker time forget it.  Plus the SDK's side
 * against a fake broker (a rep0 socket in this process): a fresh key per
 * call, the same key when it resends after a connection reset, and no
 * resend of a sync invoke.
 *
 * That an event was queued only once is read from the store (async_events
 * and async_idempotency rows, WAL: readable while the broker runs); runs
 * are seen in the record handler's log.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <sqlite3.h>

#include "harness.h"
#include "proto.h"

static lt_broker b;

static void up(void)
{
    lt_broker_start(&b, lt_test_clock);
}
static void down(void)
{
    lt_broker_stop(&b, false);
}

TestSuite(idempotency, .init = up, .fini = down, .timeout = 120);

/* ---- helpers ---- */

/* An Event invoke of fn[:qual] with key (NULL: the SDK's own); the code,
 * and the request id in rid on 202. */
static int submit_on(lm_client *c, const char *fn, const char *qual, const char *payload,
                     const char *key, char rid[40], lm_error *e)
{
    lm_invoke_params p = {.function = fn,
                          .qualifier = qual,
                          .type = LM_INVOKE_EVENT,
                          .payload = payload,
                          .payload_len = strlen(payload)};
    lm_invoke_options o = {.size = sizeof(o), .idempotency_key = key};
    lm_invoke_result r;
    int rc = lm_invoke_with(c, &p, &o, &r, e);
    if (rc == LM_OK) {
        cr_assert_eq(r.status, 202);
        snprintf(rid, 40, "%s", r.request_id);
        lm_invoke_result_finish(&r);
    }
    return rc;
}

/* Submit, assert the 202, return the request id in rid. */
static void accept_ev(const char *fn, const char *qual, const char *payload, const char *key,
                      char rid[40])
{
    lm_error e;
    int rc = submit_on(b.client, fn, qual, payload, key, rid, &e);
    cr_assert_eq(rc, LM_OK, "%s %s: %s: %s", fn, key != NULL ? key : "(sdk key)", e.type,
                 e.message);
    cr_assert_eq(strlen(rid), 36, "a RequestId: %s", rid);
}

/* One integer from the store: the first column of the first row of sql
 * with ?1 = a1 (NULL: unbound). */
static int64_t store_int(const char *sql, const char *a1)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/lamina.db", b.state);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    if (a1 != NULL) {
        sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC);
    }
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Events of fn stored now (queued or running). */
static int64_t events_of(const char *fn)
{
    return store_int("SELECT COUNT(*) FROM async_events WHERE name=?1", fn);
}

/* Stored keys named key (any function). */
static int64_t keys_named(const char *key)
{
    return store_int("SELECT COUNT(*) FROM async_idempotency WHERE key=?1", key);
}

static cJSON *wait_done(const char *rid)
{
    char args[160], *reply = NULL;
    lm_error e;
    snprintf(args, sizeof(args), "{\"RequestId\":\"%s\",\"TimeoutMs\":30000}", rid);
    cr_assert_eq(lm_call(b.client, "event-wait", args, NULL, 0, &reply, &e), LM_OK, "%s",
                 e.message);
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "Status")), "Done");
    return j;
}

static int64_t status_count(const char *section, const char *key)
{
    lm_error e;
    char *reply = NULL;
    cr_assert_eq(lm_call(b.client, "status", NULL, NULL, 0, &reply, &e), LM_OK);
    cJSON *j = cJSON_Parse(reply);
    const cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(j, section), key);
    cr_assert(cJSON_IsNumber(d), "%s", reply);
    int64_t n = (int64_t)d->valuedouble;
    cJSON_Delete(j);
    free(reply);
    return n;
}

static bool queue_empty(void *arg)
{
    (void)arg;
    return status_count("AsyncQueue", "Depth") == 0;
}

/* START lines of request id rid in fn's log. */
static int starts_of(const char *fn, const char *rid)
{
    char needle[80];
    snprintf(needle, sizeof(needle), "START RequestId: %s", rid);
    char *log = lt_function_log(&b, fn);
    int n = lt_count(log, needle);
    free(log);
    return n;
}

/* ---- the broker ---- */

Test(idempotency, a_repeated_key_answers_the_first_request_id_and_runs_once)
{
    lt_create(&b, "rec", "record", NULL);
    char first[40], again[40], other[40];
    accept_ev("rec", NULL, "{\"order\":17}", "order-17", first);
    accept_ev("rec", NULL, "{\"order\":17}", "order-17", again);
    cr_assert_str_eq(again, first, "the repeat gets the first RequestId");
    cr_assert_leq(events_of("rec"), 1, "the repeat queued nothing");
    cr_assert_eq(keys_named("order-17"), 1);
    cJSON_Delete(wait_done(first));
    /* after the event ran: still the same answer, still nothing queued */
    accept_ev("rec", NULL, "{\"order\":17}", "order-17", again);
    cr_assert_str_eq(again, first);
    cr_assert_eq(events_of("rec"), 0, "nothing queued by the repeat after the run");
    /* another key is another event; it runs after anything queued before it */
    accept_ev("rec", NULL, "{\"order\":18}", "order-18", other);
    cr_assert_str_neq(other, first);
    cJSON_Delete(wait_done(other));
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
    lt_await_log(&b, "rec", "EVENT {\"order\":18}", 1);
    lt_await_log(&b, "rec", "EVENT {\"order\":17}", 1);
    char *log = lt_function_log(&b, "rec");
    cr_assert_eq(lt_count(log, "EVENT {\"order\":17}"), 1, "order 17 ran once:\n%s", log);
    free(log);
    cr_assert_eq(starts_of("rec", first), 1);
}

Test(idempotency, a_key_reused_for_another_payload_or_qualifier_is_a_typed_mismatch)
{
    lt_create(&b, "rec", "record", NULL);
    lt_create(&b, "rec2", "record", NULL);
    char rid[40], got[40] = "";
    lm_error e;
    accept_ev("rec", NULL, "{\"n\":1}", "k-1", rid);
    cr_assert_eq(submit_on(b.client, "rec", NULL, "{\"n\":2}", "k-1", got, &e),
                 LM_E_IDEMPOTENT_MISMATCH);
    cr_assert_eq(e.status, 400);
    cr_assert_str_eq(e.type, "IdempotentParameterMismatchException");
    cr_assert_not_null(strstr(e.message, "k-1"), "%s", e.message);
    cr_assert_not_null(strstr(e.message, rid), "names the first RequestId: %s", e.message);
    /* bytes count: the same JSON spelt differently is another payload */
    cr_assert_eq(submit_on(b.client, "rec", NULL, "{ \"n\":1}", "k-1", got, &e),
                 LM_E_IDEMPOTENT_MISMATCH);
    /* the qualifier is part of the request; "" and $LATEST are the same */
    accept_ev("rec", "$LATEST", "{\"n\":1}", "k-1", got);
    cr_assert_str_eq(got, rid);
    char *reply = NULL;
    cr_assert_eq(lm_call(b.client, "publish", "{\"FunctionName\":\"rec\"}", NULL, 0, &reply, &e),
                 LM_OK, "%s", e.message);
    free(reply);
    cr_assert_eq(submit_on(b.client, "rec", "1", "{\"n\":1}", "k-1", got, &e),
                 LM_E_IDEMPOTENT_MISMATCH, "rec:1 is another target than rec");
    /* keys are per function name */
    accept_ev("rec2", NULL, "{\"n\":1}", "k-1", got);
    cr_assert_str_neq(got, rid);
    cr_assert_eq(keys_named("k-1"), 2);
    /* the mismatches queued nothing */
    cJSON_Delete(wait_done(rid));
    cJSON_Delete(wait_done(got));
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
    lt_await_log(&b, "rec2", "EVENT {\"n\":1}", 1);
    lt_await_log(&b, "rec", "EVENT {\"n\":1}", 1);
    char *log = lt_function_log(&b, "rec");
    cr_assert_eq(lt_count(log, "EVENT {\"n\":1}"), 1, "%s", log);
    cr_assert_eq(lt_count(log, "\"n\":2"), 0, "%s", log);
    free(log);
}

Test(idempotency, bad_keys_and_keys_on_other_invocation_types_are_refused)
{
    lt_create(&b, "rec", "record", NULL);
    char long_key[130], rid[40];
    memset(long_key, 'k', 129);
    long_key[129] = '\0';
    const char *bad[] = {"", long_key, "two words", "tab\there", "caf\xc3\xa9"};
    lm_error e;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(submit_on(b.client, "rec", NULL, "{}", bad[i], rid, &e),
                     LM_E_INVALID_PARAMETER, "key %zu", i);
        cr_assert_not_null(strstr(e.message, "IdempotencyKey"), "%s", e.message);
    }
    long_key[128] = '\0';
    accept_ev("rec", NULL, "{}", long_key, rid); /* 128 is the most */
    /* the broker checks too: a raw request past the SDK */
    nng_socket s;
    char url[400];
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
    snprintf(url, sizeof(url), "ipc://%s/api.sock", b.state);
    cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
    struct {
        int type;
        const char *key; /* NULL: an integer instead of a string */
        const char *want;
    } raw[] = {{1, "two words", "visible ASCII"},
               {1, "", "1 to 128"},
               {0, "sync-key", "only for the Event invocation type"},
               {2, "dry-key", "only for the Event invocation type"},
               {1, NULL, "'ikey' must be a string"}};
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        nng_msg *m = NULL;
        cr_assert_eq(nng_msg_alloc(&m, 0), 0);
        proto_writer w;
        proto_writer_init(&w, m);
        pw_map(&w, 5);
        pw_header(&w, "invoke");
        pw_key(&w, "fn");
        pw_str(&w, "rec");
        pw_key(&w, "type");
        pw_int(&w, raw[i].type);
        pw_key(&w, "ikey");
        if (raw[i].key != NULL) {
            pw_str(&w, raw[i].key);
        } else {
            pw_int(&w, 7);
        }
        cr_assert_eq(w.err, 0);
        cr_assert_eq(nng_sendmsg(s, m, 0), 0);
        nng_msg *rep = NULL;
        cr_assert_eq(nng_recvmsg(s, &rep, 0), 0);
        proto_doc doc;
        cr_assert_eq(proto_decode(nng_msg_body(rep), nng_msg_len(rep), &doc, &e), LM_OK);
        cr_assert_eq(proto_read_error(doc.root, &e), LM_E_INVALID_PARAMETER, "case %zu", i);
        cr_assert_not_null(strstr(e.message, raw[i].want), "case %zu: %s", i, e.message);
        proto_doc_finish(&doc);
        nng_msg_free(rep);
    }
    nng_close(s);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
    cr_assert_eq(keys_named("two words") + keys_named("sync-key") + keys_named("dry-key"), 0);
    /* a key with a sync invoke, through the SDK */
    lm_invoke_params p = {.function = "rec", .payload = "{}", .payload_len = 2};
    lm_invoke_options o = {.size = sizeof(o), .idempotency_key = "k"};
    lm_invoke_result r;
    cr_assert_eq(lm_invoke_with(b.client, &p, &o, &r, &e), LM_E_INVALID_PARAMETER);
    /* an options struct too short to hold a key holds none */
    lm_invoke_options tiny = {.size = sizeof(size_t), .idempotency_key = "two words"};
    cr_assert_eq(lm_invoke_with(b.client, &p, &tiny, &r, &e), LM_OK, "%s", e.message);
    lm_invoke_result_finish(&r);
}

/* ---- 50 at once ---- */

#define BURST 50

typedef struct burst {
    pthread_barrier_t go;
    char rid[BURST][40];
    int rc[BURST];
    int next;
    pthread_mutex_t mtx;
} burst;

static void *submit_burst(void *arg)
{
    burst *u = arg;
    pthread_mutex_lock(&u->mtx);
    int i = u->next++;
    pthread_mutex_unlock(&u->mtx);
    lm_error e;
    pthread_barrier_wait(&u->go);
    u->rc[i] = submit_on(b.client, "rec", NULL, "{\"burst\":1}", "burst-key", u->rid[i], &e);
    return NULL;
}

typedef struct blocker {
    const char *state;
} blocker;

/* Holds the only execution slot (a 20 s sync invoke) until the broker dies. */
static void *block_slot(void *arg)
{
    blocker *bl = arg;
    lm_client *c = NULL;
    lm_error e;
    if (lm_client_open(&c, bl->state, NULL, &e) != LM_OK) {
        return NULL;
    }
    lm_client_set_timeout(c, 30000);
    lm_invoke_params p = {.function = "sleepy", .payload = "{\"ms\":20000}", .payload_len = 12};
    lm_invoke_result r;
    if (lm_invoke(c, &p, &r, &e) == LM_OK) {
        lm_invoke_result_finish(&r);
    }
    lm_client_destroy(c);
    return NULL;
}

static bool one_busy(void *arg)
{
    (void)arg;
    return status_count("Workers", "Busy") == 1;
}

Test(idempotency, fifty_submissions_of_one_key_at_once_make_one_event)
{
    /* one slot, held: no event can run (and leave the table) while we count */
    lt_broker_stop(&b, false);
    const char *const one_slot[] = {"--max-concurrency", "1", "--test-clock", NULL};
    lt_broker_start(&b, one_slot);
    lt_create(&b, "sleepy", "sleep", "\"Timeout\":60");
    lt_create(&b, "rec", "record", NULL);
    blocker bl = {b.state};
    pthread_t hold;
    cr_assert_eq(pthread_create(&hold, NULL, block_slot, &bl), 0);
    cr_assert(lt_wait_until(one_busy, NULL, 15000), "the sync invoke holds the slot");
    burst u = {.mtx = PTHREAD_MUTEX_INITIALIZER};
    pthread_barrier_init(&u.go, NULL, BURST);
    pthread_t th[BURST];
    for (int i = 0; i < BURST; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, submit_burst, &u), 0);
    }
    for (int i = 0; i < BURST; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&u.go);
    for (int i = 0; i < BURST; i++) {
        cr_assert_eq(u.rc[i], LM_OK, "submission %d: %d", i, u.rc[i]);
        cr_assert_str_eq(u.rid[i], u.rid[0], "all get the same RequestId");
    }
    cr_assert_eq(events_of("rec"), 1, "one event stored");
    cr_assert_eq(keys_named("burst-key"), 1);
    cr_assert_eq(status_count("AsyncQueue", "Depth"), 1);
    /* and it runs once (after a restart frees the slot) */
    lt_broker_kill(&b);
    pthread_join(hold, NULL);
    lt_broker_start_in(&b, b.state, lt_test_clock);
    lt_clock_advance(&b, 300000); /* past any throttle delay it was given */
    cJSON_Delete(wait_done(u.rid[0]));
    lt_await_log(&b, "rec", "EVENT {\"burst\":1}", 1);
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
    char *log = lt_function_log(&b, "rec");
    cr_assert_eq(lt_count(log, "EVENT {\"burst\":1}"), 1, "%s", log);
    free(log);
}

Test(idempotency, a_key_acknowledged_before_kill_9_still_deduplicates_after_restart)
{
    lt_create(&b, "rec", "record", NULL);
    char first[40], again[40];
    accept_ev("rec", NULL, "{\"crash\":1}", "before-crash", first);
    lt_broker_kill(&b);
    lt_broker_start_in(&b, b.state, lt_test_clock);
    accept_ev("rec", NULL, "{\"crash\":1}", "before-crash", again);
    cr_assert_str_eq(again, first);
    cr_assert_eq(keys_named("before-crash"), 1);
    cr_assert_eq(
        store_int("SELECT COUNT(*) FROM async_events WHERE name='rec' AND request_id<>?1", first),
        0, "the repeat queued nothing");
    cr_assert(lt_wait_until(queue_empty, NULL, 20000));
    lt_await_log(&b, "rec", "EVENT {\"crash\":1}", 1);
    char *log = lt_function_log(&b, "rec");
    cr_assert_eq(lt_count(log, "EVENT {\"crash\":1}"), 1, "%s", log);
    free(log);
}

typedef struct key_gone {
    const char *key;
} key_gone;

static bool no_key(void *arg)
{
    return keys_named(((key_gone *)arg)->key) == 0;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Advance broker time to t (epoch ms); `offset` is what was advanced so far. */
static void advance_to(int64_t *offset, int64_t t)
{
    int64_t d = t - (real_ms() + *offset);
    if (d > 0) {
        lt_clock_advance(&b, d);
        *offset += d;
    }
}

#define DAY_MS (24LL * 3600 * 1000)

Test(idempotency, a_key_is_forgotten_after_24_hours_of_broker_time)
{
    lt_create(&b, "rec", "record", NULL);
    char first[40], again[40];
    int64_t offset = 0;
    accept_ev("rec", NULL, "{\"day\":1}", "daily", first);
    int64_t stored = store_int("SELECT created_at FROM async_idempotency WHERE key=?1", "daily");
    cJSON_Delete(wait_done(first));
    advance_to(&offset, stored + DAY_MS - 10000);
    accept_ev("rec", NULL, "{\"day\":1}", "daily", again);
    cr_assert_str_eq(again, first, "10 s short of 24 h: still the first");
    advance_to(&offset, stored + DAY_MS + 1000);
    accept_ev("rec", NULL, "{\"day\":1}", "daily", again);
    cr_assert_str_neq(again, first, "24 h + 1 s: a new event");
    cJSON_Delete(wait_done(again));
    lt_await_log(&b, "rec", "EVENT {\"day\":1}", 2);
    cr_assert_eq(starts_of("rec", first), 1);
    /* the new event's key counts from now: a repeat is its duplicate */
    char third[40];
    accept_ev("rec", NULL, "{\"day\":1}", "daily", third);
    cr_assert_str_eq(third, again);
    /* expired keys leave the table without being looked up (the sweep) */
    accept_ev("rec", NULL, "{\"day\":2}", "swept", third);
    cr_assert_eq(keys_named("swept"), 1);
    lt_clock_advance(&b, DAY_MS + 1000);
    key_gone g = {"swept"};
    cr_assert(lt_wait_until(no_key, &g, 10000), "the expired key was swept");
}

Test(idempotency, cli_invoke_async_takes_an_idempotency_key)
{
    lt_create(&b, "rec", "record", NULL);
    const char *cli = getenv("LAMINA_CLI_BIN");
    const char *inv[] = {
        cli, "invoke", "rec", "--async", "--idempotency-key", "cli-1", "{\"via\":\"cli\"}", NULL};
    char *out1 = NULL, *out2 = NULL, *err = NULL;
    cr_assert_eq(lt_run(&b, inv, &out1, &err), 0, "%s", err);
    free(err);
    cr_assert_eq(strlen(out1), 37, "one request id line: %s", out1);
    cr_assert_eq(lt_run(&b, inv, &out2, &err), 0, "%s", err);
    free(err);
    cr_assert_str_eq(out2, out1, "the repeat prints the first RequestId");
    free(out2);
    /* another payload with the key: the mismatch, exit 4 (conflict) */
    const char *other[] = {
        cli, "invoke", "rec", "--async", "--idempotency-key", "cli-1", "{\"via\":\"other\"}", NULL};
    cr_assert_eq(lt_run(&b, other, NULL, &err), 4, "%s", err);
    cr_assert_not_null(strstr(err, "IdempotentParameterMismatchException"), "%s", err);
    free(err);
    /* usage: the key needs --async and a value; a bad key is invalid (9) */
    const char *sync[] = {cli, "invoke", "rec", "--idempotency-key", "k", "{}", NULL};
    cr_assert_eq(lt_run(&b, sync, NULL, &err), 2, "%s", err);
    cr_assert_not_null(strstr(err, "--idempotency-key needs --async"), "%s", err);
    free(err);
    const char *novalue[] = {cli, "invoke", "rec", "--async", "--idempotency-key", NULL};
    cr_assert_eq(lt_run(&b, novalue, NULL, &err), 2, "%s", err);
    free(err);
    const char *badkey[] = {cli, "invoke", "rec", "--async", "--idempotency-key", "a b", NULL};
    cr_assert_eq(lt_run(&b, badkey, NULL, &err), 9, "%s", err);
    cr_assert_not_null(strstr(err, "IdempotencyKey"), "%s", err);
    free(err);
    char rid[40];
    snprintf(rid, sizeof(rid), "%.36s", out1);
    free(out1);
    cJSON_Delete(wait_done(rid));
    cr_assert(lt_wait_until(queue_empty, NULL, 10000));
    lt_await_log(&b, "rec", "EVENT {\"via\":\"cli\"}", 1);
    char *log = lt_function_log(&b, "rec");
    cr_assert_eq(lt_count(log, "EVENT {\"via\":\"cli\"}"), 1, "%s", log);
    free(log);
}

/* ---- the SDK, against a fake broker ---- */

/* A rep0 socket on <dir>/api.sock that answers pings, records every
 * invoke's type and ikey, and either answers 202 (RequestId "fake-<n>")
 * or, for the invokes whose number is in reset_at, closes the connection
 * the invoke came on without answering. */
typedef struct fake {
    char dir[64];
    nng_socket sock;
    pthread_t thr;
    pthread_mutex_t mtx;
    int n_invokes;
    int types[16];
    char keys[16][140]; /* "" when the invoke had none */
    bool reset_at[16];
} fake;

static nng_msg *fake_accepted(int n)
{
    nng_msg *m = NULL;
    cr_assert_eq(nng_msg_alloc(&m, 0), 0);
    proto_writer w;
    char rid[40];
    snprintf(rid, sizeof(rid), "fake-%d", n);
    proto_writer_init(&w, m);
    pw_map(&w, 5);
    pw_header(&w, "result");
    pw_key(&w, "status");
    pw_int(&w, 202);
    pw_key(&w, "rid");
    pw_str(&w, rid);
    pw_key(&w, "payload");
    pw_bin(&w, "", 0);
    return m;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    for (;;) {
        nng_msg *m = NULL;
        if (nng_recvmsg(f->sock, &m, 0) != 0) {
            return NULL; /* closed */
        }
        proto_doc doc;
        lm_error e;
        const char *op = "", *key = NULL;
        size_t oplen = 0, klen = 0;
        int64_t type = 0;
        bool ok = proto_decode(nng_msg_body(m), nng_msg_len(m), &doc, &e) == LM_OK &&
                  proto_get_str(doc.root, "op", true, &op, &oplen, &e) == LM_OK;
        if (ok && oplen == 6 && memcmp(op, "invoke", 6) == 0) {
            proto_get_int(doc.root, "type", false, &type, &e);
            proto_get_str(doc.root, "ikey", false, &key, &klen, &e);
            pthread_mutex_lock(&f->mtx);
            int n = f->n_invokes < 16 ? f->n_invokes++ : 15;
            f->types[n] = (int)type;
            snprintf(f->keys[n], sizeof(f->keys[n]), "%.*s", key != NULL ? (int)klen : 0,
                     key != NULL ? key : "");
            bool reset = f->reset_at[n];
            pthread_mutex_unlock(&f->mtx);
            proto_doc_finish(&doc);
            if (reset) {
                nng_pipe_close(nng_msg_get_pipe(m));
                nng_msg_free(m);
                continue;
            }
            nng_msg_free(m);
            nng_sendmsg(f->sock, fake_accepted(n), 0);
            continue;
        }
        proto_doc_finish(&doc);
        nng_msg_free(m);
        nng_sendmsg(f->sock, proto_op_msg("pong"), 0); /* ping, or anything else */
    }
}

static void fake_start(fake *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mtx, NULL);
    snprintf(f->dir, sizeof(f->dir), "/tmp/lamina-fake-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    char url[128];
    snprintf(url, sizeof(url), "ipc://%s/api.sock", f->dir);
    cr_assert_eq(nng_rep0_open(&f->sock), 0);
    cr_assert_eq(nng_listen(f->sock, url, NULL, 0), 0);
    cr_assert_eq(pthread_create(&f->thr, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f)
{
    nng_close(f->sock);
    pthread_join(f->thr, NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/api.sock", f->dir);
    unlink(path);
    rmdir(f->dir);
}

static bool is_hex32(const char *s)
{
    return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

Test(idempotency, the_sdk_sends_a_fresh_key_per_call_and_the_same_one_when_it_resends_after_a_reset)
{
    fake f;
    fake_start(&f);
    f.reset_at[0] = true; /* the first invoke's connection is reset before its reply */
    f.reset_at[4] = true; /* and the sync invoke's */
    lm_client *c = NULL;
    lm_error e;
    cr_assert_eq(lm_client_open(&c, f.dir, NULL, &e), LM_OK, "%s", e.message);
    char rid[40];
    cr_assert_eq(submit_on(c, "fn", NULL, "{}", NULL, rid, &e), LM_OK, "%s", e.message);
    cr_assert_str_eq(rid, "fake-1", "the resend got the 202");
    cr_assert_eq(submit_on(c, "fn", NULL, "{}", NULL, rid, &e), LM_OK, "%s", e.message);
    cr_assert_eq(submit_on(c, "fn", NULL, "{}", "callers-own", rid, &e), LM_OK, "%s", e.message);
    pthread_mutex_lock(&f.mtx);
    cr_assert_eq(f.n_invokes, 4);
    cr_assert(is_hex32(f.keys[0]), "a random 128-bit key: '%s'", f.keys[0]);
    cr_assert_str_eq(f.keys[1], f.keys[0], "the resend carries the same key");
    cr_assert(is_hex32(f.keys[2]));
    cr_assert_str_neq(f.keys[2], f.keys[0], "a new call, a new key");
    cr_assert_str_eq(f.keys[3], "callers-own");
    pthread_mutex_unlock(&f.mtx);
    /* a sync invoke carries no key and is never sent twice */
    lm_invoke_params p = {.function = "fn", .payload = "{}", .payload_len = 2};
    lm_invoke_result r;
    cr_assert_eq(lm_invoke(c, &p, &r, &e), LM_E_UNREACHABLE, "%d %s", e.code, e.message);
    pthread_mutex_lock(&f.mtx);
    cr_assert_eq(f.n_invokes, 5, "sent once");
    cr_assert_eq(f.types[4], LM_INVOKE_REQUEST_RESPONSE);
    cr_assert_str_eq(f.keys[4], "");
    pthread_mutex_unlock(&f.mtx);
    lm_client_destroy(c);
    fake_stop(&f);
}

Test(idempotency, lm_idempotency_key_new_makes_distinct_32_hex_digit_keys)
{
    char a[LM_IDEMPOTENCY_KEY_NEW_LEN], k[LM_IDEMPOTENCY_KEY_NEW_LEN];
    cr_assert_eq(lm_idempotency_key_new(a), LM_OK);
    cr_assert_eq(lm_idempotency_key_new(k), LM_OK);
    cr_assert(is_hex32(a) && is_hex32(k), "%s %s", a, k);
    cr_assert_str_neq(a, k);
}
