/*
 * tools/bench/stream.c — the stream target (see stream.h).  Record data is
 * 'x' padding sent as base64; latency records carry the caller's number and
 * a counter so a reader knows its own.  Replies are parsed with cJSON.
 */
#include "stream.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "classify.h"

#define STREAM_SHARDS 4
#define STREAM_READS_MAX 100 /* get-records per latency sample before giving up */

static const char *const op_names[] = {"put", "latency"};

int stream_op_parse(const char *s, stream_op *op)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(s, op_names[i]) == 0) {
            *op = (stream_op)i;
            return 0;
        }
    }
    return -1;
}

const char *stream_op_name(stream_op op)
{
    return (unsigned)op < 2 ? op_names[op] : "?";
}

static char *b64(const unsigned char *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    for (size_t i = 0; out != NULL && i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        v |= i + 1 < n ? (unsigned)p[i + 1] << 8 : 0;
        v |= i + 2 < n ? p[i + 2] : 0;
        *o++ = t[(v >> 18) & 63];
        *o++ = t[(v >> 12) & 63];
        *o++ = i + 1 < n ? t[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? t[v & 63] : '=';
    }
    if (out != NULL) {
        *o = '\0';
    }
    return out;
}

int stream_target_open(stream_target *st, const char *state_dir, const char *endpoint,
                       const char *name, stream_op op, size_t data_len, int timeout_ms, char *err,
                       size_t errlen)
{
    lm_error e;
    memset(st, 0, sizeof(*st));
    if (strlen(name) < 1 || strlen(name) > STREAM_NAME_MAX) {
        snprintf(err, errlen, "'%s' is not a stream name (1-128 of A-Z a-z 0-9 _ . -)", name);
        return -1;
    }
    if (lm_client_open(&st->client, state_dir, endpoint, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    lm_client_set_timeout(st->client, timeout_ms);
    snprintf(st->name, sizeof(st->name), "%s", name);
    st->op = op;
    unsigned char *pad = malloc(data_len + 1);
    if (pad != NULL) {
        memset(pad, 'x', data_len);
        st->data_b64 = b64(pad, data_len);
    }
    free(pad);
    char args[STREAM_NAME_MAX + 64];
    snprintf(args, sizeof(args), "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name, STREAM_SHARDS);
    int rc = lm_call(st->client, "stream-create", args, NULL, 0, NULL, &e);
    if (st->data_b64 == NULL || (rc != 0 && rc != LM_E_RESOURCE_IN_USE)) {
        snprintf(err, errlen, "stream-create %s: %s", name,
                 st->data_b64 == NULL ? "out of memory" : e.message);
        stream_target_close(st);
        return -1;
    }
    return 0;
}

void stream_target_close(stream_target *st)
{
    lm_client_destroy(st->client);
    st->client = NULL;
    free(st->data_b64);
    st->data_b64 = NULL;
}

/* ---- requests ---- */

typedef struct caller {
    stream_target *st;
    int id;
    uint64_t n;
    char iterator[512]; /* latency: where this caller reads next */
} caller;

static atomic_int next_id;

static int put_one(caller *c, bool shard0, load_outcome *o)
{
    size_t cap = strlen(c->st->data_b64) + STREAM_NAME_MAX + 160;
    char *args = malloc(cap);
    if (args == NULL) {
        snprintf(o->err_class, sizeof(o->err_class), "stream:nomem");
        return -1;
    }
    if (shard0) {
        char data[64], *d;
        snprintf(data, sizeof(data), "%d:%llu", c->id, (unsigned long long)c->n);
        d = b64((const unsigned char *)data, strlen(data));
        snprintf(args, cap,
                 "{\"StreamName\":\"%s\",\"PartitionKey\":\"c%d\",\"ExplicitHashKey\":\"0\","
                 "\"Data\":\"%s\"}",
                 c->st->name, c->id, d != NULL ? d : "");
        free(d);
    } else {
        snprintf(args, cap, "{\"StreamName\":\"%s\",\"PartitionKey\":\"c%d-%llu\",\"Data\":\"%s\"}",
                 c->st->name, c->id, (unsigned long long)(c->n % 16), c->st->data_b64);
    }
    lm_error e;
    int rc = lm_call(c->st->client, "stream-put", args, NULL, 0, NULL, &e);
    free(args);
    if (rc != 0) {
        classify_call_error(rc, &e, "stream", o);
        return -1;
    }
    return 0;
}

static void stream_put(void *tls, load_outcome *o)
{
    caller *c = tls;
    c->n++;
    if (put_one(c, false, o) == 0) {
        o->ok = true;
    }
}

/* Read from c's iterator; 1 when its record (id:n) came back. */
static int read_own(caller *c, load_outcome *o)
{
    char args[600], want[64];
    snprintf(args, sizeof(args), "{\"ShardIterator\":\"%s\"}", c->iterator);
    snprintf(want, sizeof(want), "%d:%llu", c->id, (unsigned long long)c->n);
    char *want64 = b64((const unsigned char *)want, strlen(want)), *reply = NULL;
    lm_error e;
    int rc = lm_call(c->st->client, "stream-get-records", args, NULL, 0, &reply, &e);
    if (rc != 0) {
        free(want64);
        classify_call_error(rc, &e, "stream", o);
        return -1;
    }
    cJSON *j = cJSON_Parse(reply);
    free(reply);
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(j, "NextShardIterator");
    int found = 0;
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(j, "Records");
    for (const cJSON *r = recs != NULL ? recs->child : NULL; r != NULL; r = r->next) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "Data");
        found |= cJSON_IsString(d) && want64 != NULL && strcmp(d->valuestring, want64) == 0;
    }
    if (!cJSON_IsString(next)) {
        snprintf(o->err_class, sizeof(o->err_class), "stream:bad-reply");
        found = -1;
    } else {
        snprintf(c->iterator, sizeof(c->iterator), "%s", next->valuestring);
    }
    cJSON_Delete(j);
    free(want64);
    return found;
}

static void stream_latency(void *tls, load_outcome *o)
{
    caller *c = tls;
    c->n++;
    if (put_one(c, true, o) != 0) {
        return;
    }
    for (int i = 0; i < STREAM_READS_MAX; i++) {
        int r = read_own(c, o);
        if (r < 0) {
            return;
        }
        if (r == 1) {
            o->ok = true;
            return;
        }
    }
    snprintf(o->err_class, sizeof(o->err_class), "stream:record-not-read");
}

static int thread_open(void *arg, void **tls)
{
    stream_target *st = arg;
    caller *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -1;
    }
    c->st = st;
    c->id = atomic_fetch_add(&next_id, 1);
    if (st->op == STREAM_LATENCY) {
        char args[STREAM_NAME_MAX + 128], *reply = NULL;
        lm_error e;
        snprintf(args, sizeof(args),
                 "{\"StreamName\":\"%s\",\"ShardId\":\"shardId-000000000000\","
                 "\"ShardIteratorType\":\"LATEST\"}",
                 st->name);
        if (lm_call(st->client, "stream-iterator", args, NULL, 0, &reply, &e) != 0) {
            free(c);
            return -1;
        }
        cJSON *j = cJSON_Parse(reply);
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "ShardIterator");
        snprintf(c->iterator, sizeof(c->iterator), "%s", cJSON_IsString(it) ? it->valuestring : "");
        cJSON_Delete(j);
        free(reply);
    }
    *tls = c;
    return 0;
}

static void thread_close(void *tls)
{
    free(tls);
}

load_target stream_target_view(stream_target *st)
{
    load_target t = {.label = "lamina",
                     .arg = st,
                     .thread_open = thread_open,
                     .thread_close = thread_close,
                     .send_one = st->op == STREAM_PUT ? stream_put : stream_latency};
    return t;
}
