/*
 * broker/esm/esm.c — the esm thread: event source mappings' api ops, the
 * pollers' turns, the batches' outcomes, and the life cycle.
 *
 * One thread owns everything: the mappings (E.maps, loaded from the store
 * at start), two store connections of its own and an mq engine instance on
 * the first.  E.cfg (synchronous=FULL) writes the mappings' rows, so a
 * create or update is on disk when answered.  E.c (synchronous=NORMAL, as
 * the async queue's outcome connection) runs the receives, deletes and
 * checkpoints: each commit survives a broker crash, and a power loss may
 * undo the last few, which only makes messages visible again and streams
 * re-read (at least once holds); an fsync per batch would halve the
 * throughput for nothing a crash could lose.  (messaging/mq.h allows
 * several engine instances; the async layer has its own too.)
 * Other threads hand over only through E.mtx, a leaf lock: api ops
 * (esm_submit), finished invocations (on_done runs under B.mtx and only
 * copies the outcome) and wake-ups (esm_notify from the messaging thread's
 * ready hook: a queue got messages, or a stream got records; and a test
 * clock advance).
 *
 * A turn: run the ops waiting; then one transaction holds the outcomes of
 * the batches that came back (queue deletes, stream checkpoints and
 * on-failure records, after fnlog_flush() so the log of a run is on disk
 * before its outcome is) and the receives of every due queue mapping
 * (mq_join: the engine's operations run in savepoints of it); only after
 * its COMMIT are the gathered batches invoked, and do the streams'
 * checkpoints move in memory.  Then the streams are read and the batches
 * started through invoke_start (the same pool and --max-concurrency as any
 * invoke).  The thread then sleeps until the earliest time something is
 * due: a window's end, a message becoming visible (mq_next_wake_ms), a
 * stream retry (all broker time, so lt_clock_advance moves them), or a
 * stream's next look, at most a second away (Kinesis pollers read each
 * shard about once a second; here a put also wakes them at once).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esm/internal.h"
#include "messaging/service.h"
#include "jsonconv.h"

#define ESM_STREAM_POLL_MS 1000 /* a stream mapping looks at least this often */
#define ESM_MAX_WAIT_MS 1000
#define ESM_WAL_MAX_FRAMES 4000

typedef struct esm_job {
    nng_msg *msg;
    cJSON *args;
    mqsvc_op_fn fn;
    completion done;
    list_node node;
} esm_job;

typedef struct esm_note {
    struct esm_note *next;
    char queue[MQ_QUEUE_NAME_MAX + 1]; /* "" any queue, NULL-note: streams */
    bool streams;
} esm_note;

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    list_head jobs; /* E.mtx */
    list_head done; /* E.mtx: batches whose outcome arrived */
    esm_note *notes; /* E.mtx */
    bool moved; /* E.mtx: the test clock moved */
    bool stop; /* E.mtx */
    bool running; /* E.mtx */
    pthread_t thr;
    bool thr_started;
    int max_filters;
    clk_watcher watcher;
    /* thread only */
    sqlconn *c; /* synchronous=NORMAL: receives, deletes, checkpoints */
    sqlconn *cfg; /* synchronous=FULL: the mappings' rows */
    mq *m;
    list_head maps;
    int running_batches;
    _Atomic int64_t n_maps, batches, failures, records, filtered;
} E = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void esm_count_filtered(int64_t n)
{
    atomic_fetch_add(&E.filtered, n);
}

void esm_counts(esm_counters *c)
{
    c->mappings = atomic_load(&E.n_maps);
    c->batches = atomic_load(&E.batches);
    c->failures = atomic_load(&E.failures);
    c->records = atomic_load(&E.records);
    c->filtered = atomic_load(&E.filtered);
}

/* ---- mappings in memory ---- */

static esm_map *map_new(esm_cfg *cfg, lm_error *e)
{
    esm_map *mp = calloc(1, sizeof(*mp));
    if (mp == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    mp->cfg = *cfg; /* takes cfg->filters */
    cfg->filters = NULL;
    if (esm_filters_compile(&mp->cfg, mp->flt, &mp->n_flt, e) != LM_OK) {
        esm_filters_free(mp->flt, mp->n_flt);
        esm_cfg_finish(&mp->cfg);
        free(mp);
        return NULL;
    }
    mp->scale = ESM_SCALE_START;
    snprintf(mp->last_result, sizeof(mp->last_result), "No records processed");
    return mp;
}

static void map_free(esm_map *mp)
{
    esm_filters_free(mp->flt, mp->n_flt);
    esm_cfg_finish(&mp->cfg);
    esm_batch_free(mp->fill);
    free(mp->shards);
    free(mp);
}

static esm_map *map_find(const char *uuid)
{
    LIST_EACH(mp, esm_map, node, &E.maps)
    {
        if (strcmp(mp->cfg.uuid, uuid) == 0) {
            return mp;
        }
    }
    return NULL;
}

/* Write the mapping's row (its own transaction, or the caller's). */
static int map_store(const esm_map *mp, lm_error *e)
{
    cJSON *j = esm_cfg_json(&mp->cfg, true);
    char *t = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (t == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    bool ok = esm_store_put(E.cfg, mp->cfg.uuid, t, mp->cfg.created_ms);
    free(t);
    return ok ? LM_OK : proto_error(e, LM_E_IO, "the mapping could not be stored");
}

/* A new ParallelizationFactor: the lanes' checkpoints and the mapping's
 * row in one transaction (on E.c, the checkpoints' connection), so a crash
 * leaves either the old factor with its rows or the new one with its. */
static int store_relaned(esm_map *mp, int old_factor, lm_error *e)
{
    cJSON *j = esm_cfg_json(&mp->cfg, true);
    char *t = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    int factor = mp->cfg.parallel;
    mp->cfg.parallel = old_factor; /* the lanes as they are */
    bool tx = t != NULL && sqlconn_begin(E.c);
    bool ok = tx && esm_stream_relane(mp, E.c, factor) &&
              esm_store_put(E.c, mp->cfg.uuid, t, mp->cfg.created_ms) && sqlconn_commit(E.c);
    mp->cfg.parallel = factor;
    if (tx && !ok) {
        sqlconn_rollback(E.c);
    }
    free(t);
    return ok ? LM_OK
              : proto_error(e, LM_E_IO, "the new ParallelizationFactor could not be stored");
}

/* The mapping as get shows it: Lambda's fields, then Lamina's. */
static cJSON *map_json(esm_map *mp, const char *state)
{
    cJSON *j = esm_cfg_json(&mp->cfg, false);
    if (j == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(j, "State",
                            state != NULL     ? state
                            : mp->cfg.enabled ? "Enabled"
                                              : "Disabled");
    cJSON_AddStringToObject(j, "StateTransitionReason", "USER_INITIATED");
    cJSON_AddStringToObject(j, "LastProcessingResult", mp->last_result);
    cJSON *lag = cJSON_AddObjectToObject(j, "Lag");
    if (mp->cfg.kind == ESM_QUEUE) {
        mq_counts cnt;
        lm_error e;
        if (mq_queue_counts(E.m, mp->cfg.source, clk_now_ms(), &cnt, &e) == LM_OK) {
            mp->lag = cnt.visible;
        }
        cJSON_AddNumberToObject(lag, "MessagesWaiting", (double)mp->lag);
    } else {
        cJSON_AddNumberToObject(lag, "MillisBehindLatest", (double)mp->lag);
    }
    cJSON_AddNumberToObject(j, "BatchesInFlight", mp->inflight);
    cJSON_AddNumberToObject(j, "Batches", (double)mp->batches);
    cJSON_AddNumberToObject(j, "FailedBatches", (double)mp->failures);
    cJSON_AddStringToObject(j, "LastError", mp->last_error);
    return j;
}

static nng_msg *reply_map(esm_map *mp, const char *state, lm_error *e)
{
    cJSON *j = map_json(mp, state);
    if (j == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    return mqops_reply_json(j, e);
}

static int not_found(lm_error *e, const char *uuid)
{
    return proto_error(e, LM_E_NOT_FOUND,
                       "The resource you requested does not exist. (Service: Lambda; event "
                       "source mapping %s)",
                       uuid);
}

static esm_map *arg_map(const cJSON *args, lm_error *e)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(args, "UUID");
    if (!cJSON_IsString(u) || u->valuestring[0] == '\0') {
        proto_error(e, LM_E_INVALID_PARAMETER, "UUID is required");
        return NULL;
    }
    esm_map *mp = map_find(u->valuestring);
    if (mp == NULL || mp->deleted) {
        not_found(e, u->valuestring);
        return NULL;
    }
    return mp;
}

/* Drop a gathering batch: its messages come back after their visibility
 * timeout. */
static void drop_fill(esm_map *mp)
{
    esm_batch_free(mp->fill);
    mp->fill = NULL;
}

/* ---- ops ---- */

nng_msg *esm_op_create(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)m;
    const cJSON *args = c->args;
    esm_cfg cfg;
    if (esm_cfg_parse(args, NULL, E.m, false, E.max_filters, &cfg, e) != LM_OK) {
        esm_cfg_finish(&cfg);
        return NULL;
    }
    LIST_EACH(o, esm_map, node, &E.maps)
    {
        if (!o->deleted && o->cfg.kind == cfg.kind && strcmp(o->cfg.source, cfg.source) == 0 &&
            strcmp(o->cfg.function, cfg.function) == 0 && strcmp(o->cfg.qual, cfg.qual) == 0) {
            char arn[MQ_ARN_MAX];
            esm_source_arn(&cfg, arn);
            proto_error(e, LM_E_CONFLICT,
                        "An event source mapping with event source (%s) and function (%s) "
                        "already exists. Please update or delete the existing mapping with UUID "
                        "%s",
                        arn, cfg.function, o->cfg.uuid);
            esm_cfg_finish(&cfg);
            return NULL;
        }
    }
    util_uuid4(cfg.uuid);
    cfg.created_ms = cfg.modified_ms = clk_now_ms();
    esm_map *mp = map_new(&cfg, e);
    if (mp == NULL) {
        esm_cfg_finish(&cfg);
        return NULL;
    }
    if (map_store(mp, e) != LM_OK) {
        map_free(mp);
        return NULL;
    }
    list_push_back(&E.maps, &mp->node);
    atomic_fetch_add(&E.n_maps, 1);
    blog(LOG_INFO, "esm %s: %s:%s -> %s%s%s", mp->cfg.uuid,
         mp->cfg.kind == ESM_QUEUE ? "queue" : "stream", mp->cfg.source, mp->cfg.function,
         mp->cfg.qual[0] != '\0' ? ":" : "", mp->cfg.qual);
    return reply_map(mp, NULL, e);
}

nng_msg *esm_op_list(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)m;
    const cJSON *args = c->args;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(args, "FunctionName");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(args, "EventSourceArn");
    char name[NAME_MAX_LEN + 1] = "", qual[130] = "";
    esm_cfg want = {0};
    if ((fn != NULL && !cJSON_IsString(fn)) || (src != NULL && !cJSON_IsString(src))) {
        proto_error(e, LM_E_INVALID_PARAMETER, "FunctionName and EventSourceArn are strings");
        return NULL;
    }
    if (fn != NULL && invoke_parse_name(fn->valuestring, strlen(fn->valuestring), "", 0, name, qual,
                                        e) != LM_OK) {
        return NULL;
    }
    if (src != NULL && esm_source_parse(src->valuestring, &want, e) != LM_OK) {
        return NULL;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "EventSourceMappings");
    LIST_EACH(mp, esm_map, node, &E.maps)
    {
        if (mp->deleted || (name[0] != '\0' && strcmp(mp->cfg.function, name) != 0) ||
            (src != NULL && (mp->cfg.kind != want.kind || strcmp(mp->cfg.source, want.source)))) {
            continue;
        }
        cJSON_AddItemToArray(arr, map_json(mp, NULL));
    }
    return mqops_reply_json(j, e);
}

nng_msg *esm_op_get(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)m;
    const cJSON *args = c->args;
    esm_map *mp = arg_map(args, e);
    return mp != NULL ? reply_map(mp, NULL, e) : NULL;
}

nng_msg *esm_op_update(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)m;
    const cJSON *args = c->args;
    esm_map *mp = arg_map(args, e);
    if (mp == NULL) {
        return NULL;
    }
    esm_cfg cfg;
    if (esm_cfg_parse(args, &mp->cfg, E.m, false, E.max_filters, &cfg, e) != LM_OK) {
        esm_cfg_finish(&cfg);
        return NULL;
    }
    esm_filter flt[ESM_FILTERS_MAX];
    int n_flt = 0;
    if (esm_filters_compile(&cfg, flt, &n_flt, e) != LM_OK) {
        esm_filters_free(flt, n_flt);
        esm_cfg_finish(&cfg);
        return NULL;
    }
    cfg.modified_ms = clk_now_ms();
    bool relane = cfg.kind == ESM_STREAM && cfg.parallel != mp->cfg.parallel;
    if (relane && mp->inflight > 0) {
        proto_error(e, LM_E_RESOURCE_IN_USE,
                    "ParallelizationFactor cannot change while %d batch(es) of the mapping run; "
                    "try again, or disable it first",
                    mp->inflight);
        esm_filters_free(flt, n_flt);
        esm_cfg_finish(&cfg);
        return NULL;
    }
    esm_cfg old = mp->cfg;
    mp->cfg = cfg;
    int rc = relane ? store_relaned(mp, old.parallel, e) : map_store(mp, e);
    if (rc != LM_OK) {
        mp->cfg = old;
        esm_filters_free(flt, n_flt);
        esm_cfg_finish(&cfg);
        return NULL;
    }
    if (relane) {
        esm_stream_relane_apply(mp);
    }
    esm_cfg_finish(&old);
    esm_filters_free(mp->flt, mp->n_flt);
    memcpy(mp->flt, flt, sizeof(flt));
    mp->n_flt = n_flt;
    if (!mp->cfg.enabled) {
        drop_fill(mp);
    }
    mp->wake_at = 0;
    return reply_map(mp, NULL, e);
}

static nng_msg *set_enabled(const cJSON *args, bool on, lm_error *e)
{
    esm_map *mp = arg_map(args, e);
    if (mp == NULL) {
        return NULL;
    }
    bool was = mp->cfg.enabled;
    int64_t mod = mp->cfg.modified_ms;
    mp->cfg.enabled = on;
    mp->cfg.modified_ms = clk_now_ms();
    if (map_store(mp, e) != LM_OK) {
        mp->cfg.enabled = was;
        mp->cfg.modified_ms = mod;
        return NULL;
    }
    if (!on) {
        drop_fill(mp);
    }
    mp->wake_at = 0;
    return reply_map(mp, NULL, e);
}

nng_msg *esm_op_enable(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)m;
    return set_enabled(c->args, true, e);
}

nng_msg *esm_op_disable(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)m;
    return set_enabled(c->args, false, e);
}

nng_msg *esm_op_delete(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)m;
    const cJSON *args = c->args;
    esm_map *mp = arg_map(args, e);
    if (mp == NULL) {
        return NULL;
    }
    /* the row and its checkpoints together: never a mapping re-read from its start */
    bool tx = sqlconn_begin(E.cfg);
    if (!tx || !esm_store_delete(E.cfg, mp->cfg.uuid) || !sqlconn_commit(E.cfg)) {
        if (tx) {
            sqlconn_rollback(E.cfg);
        }
        proto_error(e, LM_E_IO, "the mapping could not be deleted");
        return NULL;
    }
    nng_msg *r = reply_map(mp, "Deleting", e);
    drop_fill(mp);
    mp->deleted = true;
    atomic_fetch_sub(&E.n_maps, 1);
    if (mp->inflight == 0) {
        list_remove(&E.maps, &mp->node);
        map_free(mp);
    }
    return r;
}

/* ---- submission and notices (other threads) ---- */

void esm_submit(nng_msg *msg, const msgpack_object *args, mqsvc_op_fn fn, completion done)
{
    esm_job *j = calloc(1, sizeof(*j));
    cJSON *a = args != NULL ? jsonconv_from_msgpack(args) : cJSON_CreateObject();
    lm_error e;
    if (j == NULL || a == NULL) {
        free(j);
        cJSON_Delete(a);
        nng_msg_free(msg);
        proto_error(&e, LM_E_NOMEM, NULL);
        complete_error(done, &e);
        return;
    }
    j->msg = msg;
    j->args = a;
    j->fn = fn;
    j->done = done;
    pthread_mutex_lock(&E.mtx);
    if (!E.running || E.stop) {
        pthread_mutex_unlock(&E.mtx);
        cJSON_Delete(a);
        nng_msg_free(msg);
        free(j);
        proto_error(&e, LM_E_STOPPING, "the broker is stopping");
        complete_error(done, &e);
        return;
    }
    list_push_back(&E.jobs, &j->node);
    pthread_cond_signal(&E.cv);
    pthread_mutex_unlock(&E.mtx);
}

void esm_notify(const char *queue)
{
    esm_note *n = calloc(1, sizeof(*n));
    if (n == NULL) { /* the thread still looks within a second */
        return;
    }
    n->streams = queue == NULL;
    snprintf(n->queue, sizeof(n->queue), "%s", queue != NULL ? queue : "");
    pthread_mutex_lock(&E.mtx);
    n->next = E.notes;
    E.notes = n;
    pthread_cond_signal(&E.cv);
    pthread_mutex_unlock(&E.mtx);
}

static void clock_moved(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&E.mtx);
    E.moved = true;
    pthread_cond_signal(&E.cv);
    pthread_mutex_unlock(&E.mtx);
}

/* invoke_done_fn: B.mtx held; copy the outcome and hand it over. */
static void on_done(void *arg, const invoke_outcome *o)
{
    esm_batch *b = arg;
    b->code = o->code;
    b->status = o->status;
    snprintf(b->ferr, sizeof(b->ferr), "%s", o->ferr != NULL ? o->ferr : "");
    snprintf(b->version, sizeof(b->version), "%s", o->version != NULL ? o->version : "");
    snprintf(b->rid, sizeof(b->rid), "%s", o->rid != NULL ? o->rid : "");
    b->payload = malloc(o->payload_len + 1);
    if (b->payload != NULL) {
        memcpy(b->payload, o->payload, o->payload_len);
        b->payload[o->payload_len] = '\0';
        b->payload_len = o->payload_len;
    } else if (o->code == LM_OK && o->ferr == NULL) {
        b->code = LM_E_NOMEM; /* the response is lost: the batch counts as failed */
    }
    if (o->code != LM_OK || o->ferr != NULL) {
        snprintf(b->err, sizeof(b->err), "%s", b->payload != NULL ? b->payload : "");
    }
    pthread_mutex_lock(&E.mtx);
    list_push_back(&E.done, &b->node);
    pthread_cond_signal(&E.cv);
    pthread_mutex_unlock(&E.mtx);
}

/* ---- the turn ---- */

/* Invoke each batch of run; one that cannot start goes onto *now. */
static void start_batches(list_head *run, list_head *failed)
{
    esm_batch *b;
    while ((b = list_pop_front_entry(run, esm_batch, node)) != NULL) {
        size_t len = 0;
        char *text = esm_event_text(b, &len);
        nng_msg *req = NULL;
        lm_error e;
        int rc = LM_OK;
        if (text == NULL || nng_msg_alloc(&req, 0) != 0 || nng_msg_append(req, text, len) != 0) {
            nng_msg_free(req);
            rc = proto_error(&e, LM_E_NOMEM, NULL);
        }
        free(text);
        E.running_batches++;
        if (rc == LM_OK) {
            invoke_opts o = {0};
            rc = invoke_start(b->map->cfg.function, b->map->cfg.qual, req, nng_msg_body(req), len,
                              &o, on_done, b, &e);
        }
        if (rc != LM_OK) {
            b->code = e.code;
            b->status = e.status;
            snprintf(b->err, sizeof(b->err), "%s: %s", e.type, e.message);
            list_push_back(failed, &b->node);
        }
    }
}

static void account(esm_batch *b, bool committed)
{
    esm_map *mp = b->map;
    bool ok = b->ok && committed;
    mp->batches++;
    atomic_fetch_add(&E.batches, 1);
    atomic_fetch_add(&E.records, (int64_t)b->n);
    if (ok) {
        snprintf(mp->last_result, sizeof(mp->last_result), "OK");
        return;
    }
    mp->failures++;
    atomic_fetch_add(&E.failures, 1);
    snprintf(mp->last_result, sizeof(mp->last_result), "PROBLEM: Function call failed");
    if (b->err[0] != '\0') {
        snprintf(mp->last_error, sizeof(mp->last_error), "%s", b->err);
    } else if (!committed) {
        snprintf(mp->last_error, sizeof(mp->last_error), "the outcome could not be stored");
    }
}

static bool queue_due(esm_map *mp, const esm_note *notes, int64_t now)
{
    if (mp->wake_at <= now || mp->fill != NULL) {
        return true;
    }
    for (const esm_note *n = notes; n != NULL; n = n->next) {
        if (!n->streams && (n->queue[0] == '\0' || strcmp(n->queue, mp->cfg.source) == 0)) {
            return true;
        }
    }
    return false;
}

static bool streams_noted(const esm_note *notes)
{
    for (const esm_note *n = notes; n != NULL; n = n->next) {
        if (n->streams) {
            return true;
        }
    }
    return false;
}

/* The outcomes of the batches that came back, written in the turn's
 * transaction (tx: it is open); their slots are free again at once. */
static void write_outcomes(list_head *done, bool tx, int64_t now)
{
    LIST_EACH(b, esm_batch, node, done)
    {
        esm_map *mp = b->map;
        if (tx && !mp->deleted) {
            b->ok = mp->cfg.kind == ESM_QUEUE ? esm_queue_done(b, E.m, now)
                                              : esm_stream_done(b, E.m, E.c, now);
        }
        mp->inflight--;
        E.running_batches--;
    }
}

/* After the turn's COMMIT (or its failure): memory follows the store. */
static void apply_outcomes(list_head *done, bool committed, int64_t now)
{
    esm_batch *b;
    while ((b = list_pop_front_entry(done, esm_batch, node)) != NULL) {
        esm_map *mp = b->map;
        if (!mp->deleted) {
            if (mp->cfg.kind == ESM_STREAM) {
                esm_stream_apply(b, committed, now);
            }
            account(b, committed);
            mp->wake_at = 0;
        }
        esm_batch_free(b);
    }
    /* deleted mappings whose last batch is back (after the loop: several
     * batches of one may have come back together) */
    LIST_EACH(mp, esm_map, node, &E.maps)
    {
        if (mp->deleted && mp->inflight == 0) {
            list_remove(&E.maps, &mp->node);
            map_free(mp);
        }
    }
}

/* One turn's writes in one transaction: the outcomes of the batches that
 * came back (queue deletes, stream checkpoints, on-failure records, after
 * fnlog_flush() so a run's log is on disk before its outcome) and the due
 * queues' receives.  The batches gathered start only after its COMMIT (a
 * failed COMMIT undoes the receives: those batches, and the ones still
 * gathering, are dropped; their messages come back after their visibility
 * timeout).  Then the streams are read (their filtered-only checkpoints
 * commit alone) and each mapping's next wake is noted. */
static void turn(list_head *done, const esm_note *notes, bool moved, bool poll, list_head *run)
{
    if (!list_empty(done)) {
        fnlog_flush();
    }
    int64_t now = clk_now_ms();
    int due = 0;
    LIST_EACH(mp, esm_map, node, &E.maps)
    {
        mp->due = poll && !mp->deleted && mp->cfg.enabled && mp->cfg.kind == ESM_QUEUE &&
                  (moved || !list_empty(done) || queue_due(mp, notes, now));
        due += mp->due;
    }
    /* nothing to write: no transaction (the thread wakes at least once a second) */
    bool tx = (due > 0 || !list_empty(done)) && sqlconn_begin(E.c);
    if (tx) {
        mq_join(E.m);
    }
    write_outcomes(done, tx, now);
    list_head got = {0};
    LIST_EACH(mp, esm_map, node, &E.maps)
    {
        if (tx && mp->due) {
            esm_queue_poll(mp, E.m, now, &got);
        }
    }
    bool committed = tx && sqlconn_commit(E.c);
    if (tx && !committed) {
        sqlconn_rollback(E.c);
    }
    if (tx) {
        mq_leave(E.m, committed);
    }
    apply_outcomes(done, committed, now);
    esm_batch *gb;
    while ((gb = list_pop_front_entry(&got, esm_batch, node)) != NULL) {
        if (committed) {
            list_push_back(run, &gb->node);
        } else {
            gb->map->inflight--;
            esm_batch_free(gb);
        }
    }
    if (!poll) {
        return;
    }
    bool streams = streams_noted(notes);
    double mono = clk_mono_ms();
    LIST_EACH(mp, esm_map, node, &E.maps)
    {
        if (mp->deleted || !mp->cfg.enabled) {
            continue;
        }
        if (mp->cfg.kind == ESM_QUEUE) {
            if (tx && !committed) {
                drop_fill(mp);
            }
            mp->wake_at = esm_queue_wake(mp, E.m, now);
        } else if (streams || moved || mono >= mp->next_poll || mp->wake_at <= now) {
            mp->wake_at = INT64_MAX;
            mp->next_poll = mono + ESM_STREAM_POLL_MS;
            esm_stream_poll(mp, E.m, E.c, now, run);
        }
    }
}

/* How long the thread may sleep (real ms). */
static int64_t sleep_ms(void)
{
    int64_t now = clk_now_ms();
    double mono = clk_mono_ms();
    int64_t t = ESM_MAX_WAIT_MS;
    LIST_EACH(mp, esm_map, node, &E.maps)
    {
        if (mp->deleted || !mp->cfg.enabled) {
            continue;
        }
        if (mp->wake_at != INT64_MAX) {
            int64_t d = mp->wake_at - now;
            t = d < t ? d : t;
        }
        if (mp->cfg.kind == ESM_STREAM) {
            int64_t d = (int64_t)(mp->next_poll - mono);
            t = d < t ? d : t;
        }
    }
    return t < 0 ? 0 : t;
}

static void run_jobs(list_head *jobs)
{
    esm_job *j;
    while ((j = list_pop_front_entry(jobs, esm_job, node)) != NULL) {
        lm_error e;
        proto_error(&e, LM_E_INTERNAL, NULL);
        mqsvc_call call = {.args = j->args, .now_ms = clk_now_ms()};
        nng_msg *r = j->fn(E.m, &call, &e);
        if (r != NULL) {
            complete_reply(j->done, r);
        } else {
            complete_error(j->done, &e);
        }
        nng_msg_free(j->msg);
        cJSON_Delete(j->args);
        free(j);
    }
}

static void free_notes(esm_note *n)
{
    while (n != NULL) {
        esm_note *next = n->next;
        free(n);
        n = next;
    }
}

static void wait_work(int64_t ms)
{
    if (!list_empty(&E.jobs) || !list_empty(&E.done) || E.notes != NULL || E.moved || E.stop ||
        ms <= 0) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&E.cv, &E.mtx, &ts);
}

static void *esm_main(void *arg)
{
    (void)arg;
    int64_t give_up = 0;
    for (;;) {
        int64_t ms = sleep_ms();
        pthread_mutex_lock(&E.mtx);
        wait_work(ms);
        list_head jobs = E.jobs, done = E.done;
        list_init(&E.jobs);
        list_init(&E.done);
        esm_note *notes = E.notes;
        E.notes = NULL;
        bool moved = E.moved, stop = E.stop;
        E.moved = false;
        pthread_mutex_unlock(&E.mtx);
        run_jobs(&jobs);
        list_head run = {0}, failed = {0};
        turn(&done, notes, moved, !stop, &run);
        free_notes(notes);
        if (stop) {
            give_up = give_up == 0 ? clk_wall_ms() + 10000 : give_up;
            if (E.running_batches == 0 || clk_wall_ms() > give_up) {
                filter_thread_release();
                return NULL;
            }
            continue;
        }
        start_batches(&run, &failed);
        if (!list_empty(&failed)) { /* refused at once: recorded in a turn of their own */
            turn(&failed, NULL, false, false, &run);
        }
        sqlconn_checkpoint_if_large(E.c, E.cfg, ESM_WAL_MAX_FRAMES);
    }
}

/* ---- life cycle ---- */

static void load_one(void *arg, const char *uuid, const char *config)
{
    (void)arg;
    lm_error e;
    esm_cfg cfg = {0};
    cJSON *j = cJSON_Parse(config);
    esm_map *mp = NULL;
    if (j == NULL) {
        proto_error(&e, LM_E_IO, "its stored row is not JSON");
    } else if (esm_cfg_parse(j, NULL, NULL, true, ESM_FILTERS_MAX, &cfg, &e) == LM_OK) {
        mp = map_new(&cfg, &e);
    }
    esm_cfg_finish(&cfg);
    cJSON_Delete(j);
    if (mp == NULL) {
        blog(LOG_ERROR, "esm %s: skipped: %s", uuid, e.message);
        return;
    }
    if (mp->cfg.kind == ESM_STREAM) {
        esm_stream_load(mp, E.c);
    }
    list_push_back(&E.maps, &mp->node);
    atomic_fetch_add(&E.n_maps, 1);
}

static void own_ready(void *arg, const char *queue, int64_t at_ms)
{
    (void)arg;
    (void)at_ms;
    mqsvc_notify_ready(queue); /* an on-failure record: a long poll may wait for it */
}

int esm_start(const char *db_path, int max_filters)
{
    E.max_filters = max_filters;
    E.c = sqlconn_open(db_path, false);
    E.cfg = E.c != NULL ? sqlconn_open(db_path, true) : NULL;
    lm_error e;
    if (E.cfg == NULL) {
        return -1;
    }
    if (mq_schema_apply(sqlconn_handle(E.c), &e) != LM_OK ||
        (E.m = mq_create(sqlconn_handle(E.c), &e)) == NULL) {
        blog(LOG_ERROR, "esm: the queue/stream engine: %s", e.message);
        return -1;
    }
    mq_set_ready_hook(E.m, own_ready, NULL);
    if (!esm_store_each(E.c, load_one, NULL)) {
        blog(LOG_ERROR, "esm: the mappings could not be read");
        return -1;
    }
    if (atomic_load(&E.n_maps) > 0) {
        blog(LOG_INFO, "esm: %lld mapping(s)", (long long)atomic_load(&E.n_maps));
    }
    E.watcher = (clk_watcher){.wake = clock_moved};
    clk_watch(&E.watcher);
    pthread_mutex_lock(&E.mtx);
    E.running = true;
    pthread_mutex_unlock(&E.mtx);
    E.thr_started = pthread_create(&E.thr, NULL, esm_main, NULL) == 0;
    return E.thr_started ? 0 : -1;
}

void esm_stop(void)
{
    pthread_mutex_lock(&E.mtx);
    E.stop = true;
    pthread_cond_broadcast(&E.cv);
    pthread_mutex_unlock(&E.mtx);
    if (E.thr_started) {
        pthread_join(E.thr, NULL);
        E.thr_started = false;
        clk_unwatch(&E.watcher);
    }
    pthread_mutex_lock(&E.mtx);
    E.running = false;
    list_head jobs = E.jobs;
    list_init(&E.jobs);
    free_notes(E.notes);
    E.notes = NULL;
    pthread_mutex_unlock(&E.mtx);
    esm_job *j;
    while ((j = list_pop_front_entry(&jobs, esm_job, node)) != NULL) {
        lm_error e;
        proto_error(&e, LM_E_STOPPING, "the broker is stopping");
        complete_error(j->done, &e);
        nng_msg_free(j->msg);
        cJSON_Delete(j->args);
        free(j);
    }
    esm_map *mp;
    while ((mp = list_pop_front_entry(&E.maps, esm_map, node)) != NULL) {
        map_free(mp); /* batches still out (give-up) are leaked to their callbacks */
    }
    mq_destroy(E.m);
    E.m = NULL;
    sqlconn_close(E.c);
    sqlconn_close(E.cfg);
    E.c = E.cfg = NULL;
}
