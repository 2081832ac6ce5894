/*
 * tools/bench/bus.c — the event-bus target (see bus.h).  Replies are
 * parsed with cJSON.
 */
#include "bus.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "classify.h"

#define BUS_RECEIVES_MAX 100 /* long polls per latency sample before giving up */

static const char *const op_names[] = {"put", "latency"};

int bus_op_parse(const char *s, bus_op *op)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(s, op_names[i]) == 0) {
            *op = (bus_op)i;
            return 0;
        }
    }
    return -1;
}

const char *bus_op_name(bus_op op)
{
    return (unsigned)op < 2 ? op_names[op] : "?";
}

/* One setup call; `tolerated` is an error code that also counts as done. */
static int setup(bus_target *bt, const char *op, const char *args, int tolerated, char **reply,
                 char *err, size_t errlen)
{
    lm_error e;
    int rc = lm_call(bt->client, op, args, NULL, 0, reply, &e);
    if (rc != 0 && rc != tolerated) {
        snprintf(err, errlen, "%s: %s", op, e.message);
        return -1;
    }
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > BUS_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

int bus_target_open(bus_target *bt, const char *state_dir, const char *endpoint, const char *name,
                    bus_op op, int rules, size_t data_len, int timeout_ms, char *err, size_t errlen)
{
    lm_error e;
    memset(bt, 0, sizeof(*bt));
    if (!name_ok(name)) {
        snprintf(err, errlen, "'%s' is not a bench bus name (1-%d of A-Z a-z 0-9 _ -)", name,
                 BUS_NAME_MAX);
        return -1;
    }
    if (rules < 1 || rules > BUS_RULES_MAX) {
        snprintf(err, errlen, "--rules takes 1-%d, not %d", BUS_RULES_MAX, rules);
        return -1;
    }
    if (lm_client_open(&bt->client, state_dir, endpoint, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    lm_client_set_timeout(bt->client, timeout_ms);
    snprintf(bt->name, sizeof(bt->name), "%s", name);
    snprintf(bt->queue, sizeof(bt->queue), "%s-q", name);
    bt->op = op;
    bt->pad = malloc(data_len + 1);
    if (bt->pad == NULL) {
        snprintf(err, errlen, "out of memory");
        bus_target_close(bt);
        return -1;
    }
    memset(bt->pad, 'x', data_len);
    bt->pad[data_len] = '\0';
    char args[1024], *reply = NULL;
    snprintf(args, sizeof(args), "{\"QueueName\":\"%s\"}", bt->queue);
    if (setup(bt, "queue-create", args, LM_E_QUEUE_ALREADY_EXISTS, NULL, err, errlen) != 0) {
        bus_target_close(bt);
        return -1;
    }
    /* latency times this run's events only: an earlier put run's messages
     * would stand in front of them (a purge is allowed once a minute) */
    snprintf(args, sizeof(args), "{\"QueueName\":\"%s\"}", bt->queue);
    if (op == BUS_LATENCY &&
        setup(bt, "queue-purge", args, LM_E_PURGE_IN_PROGRESS, NULL, err, errlen) != 0) {
        bus_target_close(bt);
        return -1;
    }
    /* the queue's ARN, from queue-get (it exists now, made here or before) */
    snprintf(args, sizeof(args), "{\"QueueName\":\"%s\",\"AttributeNames\":[\"QueueArn\"]}",
             bt->queue);
    if (setup(bt, "queue-get", args, 0, &reply, err, errlen) != 0) {
        bus_target_close(bt);
        return -1;
    }
    cJSON *q = cJSON_Parse(reply);
    free(reply);
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(q, "Attributes");
    const cJSON *arn = cJSON_GetObjectItemCaseSensitive(attrs != NULL ? attrs : q, "QueueArn");
    char qarn[256];
    snprintf(qarn, sizeof(qarn), "%s", cJSON_IsString(arn) ? arn->valuestring : "");
    cJSON_Delete(q);
    if (qarn[0] == '\0') {
        snprintf(err, errlen, "queue-get %s: no QueueArn in the reply", bt->queue);
        bus_target_close(bt);
        return -1;
    }
    snprintf(args, sizeof(args), "{\"Name\":\"%s\"}", name);
    if (setup(bt, "bus-create", args, LM_E_EV_ALREADY_EXISTS, NULL, err, errlen) != 0) {
        bus_target_close(bt);
        return -1;
    }
    snprintf(args, sizeof(args),
             "{\"Name\":\"bench-match\",\"EventBusName\":\"%s\","
             "\"EventPattern\":\"{\\\"source\\\":[\\\"bench\\\"]}\"}",
             name);
    int rc = setup(bt, "rule-put", args, 0, NULL, err, errlen);
    snprintf(args, sizeof(args),
             "{\"Rule\":\"bench-match\",\"EventBusName\":\"%s\","
             "\"Targets\":[{\"Id\":\"q\",\"Arn\":\"%s\"}]}",
             name, qarn);
    rc = rc != 0 ? rc : setup(bt, "rule-targets-put", args, 0, NULL, err, errlen);
    for (int i = 1; rc == 0 && i < rules; i++) {
        snprintf(args, sizeof(args),
                 "{\"Name\":\"r%d\",\"EventBusName\":\"%s\","
                 "\"EventPattern\":\"{\\\"source\\\":[\\\"other-%d\\\"]}\"}",
                 i, name, i);
        rc = setup(bt, "rule-put", args, 0, NULL, err, errlen);
    }
    if (rc != 0) {
        bus_target_close(bt);
        return -1;
    }
    return 0;
}

void bus_target_close(bus_target *bt)
{
    lm_client_destroy(bt->client);
    bt->client = NULL;
    free(bt->pad);
    bt->pad = NULL;
}

/* ---- requests ---- */

typedef struct caller {
    bus_target *bt;
    int id;
    uint64_t n;
} caller;

static atomic_int next_id;

static int put_one(caller *c, load_outcome *o)
{
    size_t cap = strlen(c->bt->pad) + BUS_NAME_MAX + 200;
    char *args = malloc(cap);
    if (args == NULL) {
        snprintf(o->err_class, sizeof(o->err_class), "bus:nomem");
        return -1;
    }
    snprintf(args, cap,
             "{\"Entries\":[{\"Source\":\"bench\",\"DetailType\":\"b\",\"EventBusName\":\"%s\","
             "\"Detail\":\"{\\\"c\\\":%d,\\\"n\\\":%llu,\\\"pad\\\":\\\"%s\\\"}\"}]}",
             c->bt->name, c->id, (unsigned long long)c->n, c->bt->pad);
    lm_error e;
    char *reply = NULL;
    int rc = lm_call(c->bt->client, "bus-put-events", args, NULL, 0, &reply, &e);
    free(args);
    if (rc != 0) {
        classify_call_error(rc, &e, "bus", o);
        return -1;
    }
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    const cJSON *failed = cJSON_GetObjectItemCaseSensitive(j, "FailedEntryCount");
    int bad = !cJSON_IsNumber(failed) || failed->valueint != 0;
    cJSON_Delete(j);
    if (bad) {
        snprintf(o->err_class, sizeof(o->err_class), "bus:entry-failed");
        return -1;
    }
    return 0;
}

static void bus_put(void *tls, load_outcome *o)
{
    caller *c = tls;
    c->n++;
    if (put_one(c, o) == 0) {
        o->ok = true;
    }
}

/* One long poll on the queue, deleting what comes; 1 when c's event came. */
static int receive_own(caller *c, load_outcome *o)
{
    char args[256], want[64], *reply = NULL;
    snprintf(args, sizeof(args),
             "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":5}",
             c->bt->queue);
    snprintf(want, sizeof(want), "\"c\":%d,\"n\":%llu,", c->id, (unsigned long long)c->n);
    lm_error e;
    int rc = lm_call(c->bt->client, "queue-receive", args, NULL, 0, &reply, &e);
    if (rc != 0) {
        classify_call_error(rc, &e, "bus", o);
        return -1;
    }
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    int found = 0;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "Messages");
    for (const cJSON *m = msgs != NULL ? msgs->child : NULL; m != NULL; m = m->next) {
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(m, "Body");
        const cJSON *rh = cJSON_GetObjectItemCaseSensitive(m, "ReceiptHandle");
        found |= cJSON_IsString(body) && strstr(body->valuestring, want) != NULL;
        if (cJSON_IsString(rh)) {
            char del[1024];
            snprintf(del, sizeof(del), "{\"QueueName\":\"%s\",\"ReceiptHandle\":\"%s\"}",
                     c->bt->queue, rh->valuestring);
            (void)lm_call(c->bt->client, "queue-delete-message", del, NULL, 0, NULL, &e);
        }
    }
    cJSON_Delete(j);
    return found;
}

static void bus_latency(void *tls, load_outcome *o)
{
    caller *c = tls;
    c->n++;
    if (put_one(c, o) != 0) {
        return;
    }
    for (int i = 0; i < BUS_RECEIVES_MAX; i++) {
        int r = receive_own(c, o);
        if (r < 0) {
            return;
        }
        if (r == 1) {
            o->ok = true;
            return;
        }
    }
    snprintf(o->err_class, sizeof(o->err_class), "bus:event-not-received");
}

static int thread_open(void *arg, void **tls)
{
    caller *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -1;
    }
    c->bt = arg;
    c->id = atomic_fetch_add(&next_id, 1);
    *tls = c;
    return 0;
}

static void thread_close(void *tls)
{
    free(tls);
}

load_target bus_target_view(bus_target *bt)
{
    load_target t = {.label = "lamina",
                     .arg = bt,
                     .thread_open = thread_open,
                     .thread_close = thread_close,
                     .send_one = bt->op == BUS_PUT ? bus_put : bus_latency};
    return t;
}
