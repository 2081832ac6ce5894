/*
 * broker/esm/queue.c — mappings of queues (SQS's semantics, §5.2): receive,
 * filter, gather, and after the run delete what succeeded.
 *
 * Receiving.  The esm thread receives on its own engine instance, ten
 * messages at a time (ReceiveMessage's most), inside the poll's one
 * transaction (at most ESM_RECEIVES_PER_POLL receives per mapping, so the
 * write lock is never held long; the next turn goes on at once), into the mapping's batch being gathered.  A received
 * message is invisible for the queue's visibility timeout (or window +
 * function timeout + 30 s when that is longer, Lambda's rule), so while its
 * batch gathers or runs no other receiver sees it; if the broker dies, it
 * becomes visible again and runs again (at least once).
 *
 * Batches.  One is sent when it holds BatchSize records, when the next
 * record would take the event past 6 MB (that record starts the next
 * batch), or when the window (MaximumBatchingWindowInSeconds, broker time,
 * counted from the batch's first record) ends; with no window, as soon as
 * the queue has nothing more to give.  A record no filter matches is
 * deleted at once (§6.3).
 *
 * FIFO.  The engine never gives out a message of a group that has one in
 * flight, so while a batch holding group g runs, g's later messages wait:
 * one batch in flight per group, and order kept within it; a failed batch
 * blocks its groups until its messages are visible again.
 *
 * Outcome.  Success deletes the batch; a function error, a timeout or a
 * refused invoke (throttled) deletes nothing, and the messages come back
 * after their visibility timeout, where the queue's redrive policy counts
 * them.  With ReportBatchItemFailures only the listed messages stay
 * (records.c reads the response).
 *
 * Scaling (§5.2).  A mapping runs at most `scale` batches at once:
 * ESM_SCALE_START (5) at first, growing by ESM_SCALE_PER_MIN (300) after
 * each whole minute of broker time during which messages were waiting
 * (in steps, so a test sees the start and, with
 * lt_clock_advance, the growth), up to ScalingConfig.MaximumConcurrency (or 1,250) and the
 * broker's --max-concurrency.
 */
#include <stdlib.h>
#include <string.h>

#include "esm/internal.h"

/* The most batches the mapping may run at once now. */
static int queue_limit(const esm_map *mp)
{
    int cap = mp->cfg.max_conc > 0 ? mp->cfg.max_conc : ESM_SCALE_CAP;
    int lim = mp->scale < cap ? mp->scale : cap;
    return lim < B.opt.max_concurrency ? lim : B.opt.max_concurrency;
}

/* The visibility timeout the mapping receives with (seconds). */
static int visibility(esm_map *mp, mq *m, int64_t now)
{
    int vt = 30;
    lm_error e;
    cJSON *names = cJSON_CreateStringArray((const char *const[]){"VisibilityTimeout"}, 1);
    cJSON *a = names != NULL ? mq_queue_get(m, mp->cfg.source, names, now, &e) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "VisibilityTimeout");
    if (cJSON_IsString(v)) {
        vt = atoi(v->valuestring);
    }
    cJSON_Delete(a);
    cJSON_Delete(names);
    int timeout = 3;
    pthread_mutex_lock(&B.mtx);
    function *f = registry_find(mp->cfg.function);
    fn_config *cfg = f != NULL ? registry_resolve(f, mp->cfg.qual) : NULL;
    if (cfg != NULL) {
        timeout = (int)cfg->timeout_s;
    }
    pthread_mutex_unlock(&B.mtx);
    if (mp->cfg.window_s + timeout > vt) {
        vt = mp->cfg.window_s + timeout + 30;
    }
    return vt > MQ_VISIBILITY_MAX ? MQ_VISIBILITY_MAX : vt;
}

static esm_batch *batch_new(esm_map *mp)
{
    esm_batch *b = calloc(1, sizeof(*b));
    if (b != NULL && (b->records = cJSON_CreateArray()) == NULL) {
        free(b);
        b = NULL;
    }
    if (b != NULL) {
        b->map = mp;
        b->bytes = strlen("{\"Records\":[]}");
    }
    return b;
}

/* Move the gathered batch onto run. */
static void flush(esm_map *mp, list_head *run)
{
    esm_batch *b = mp->fill;
    mp->fill = NULL;
    if (b == NULL) {
        return;
    }
    if (b->n == 0) {
        esm_batch_free(b);
        return;
    }
    mp->inflight++;
    list_push_back(run, &b->node);
}

/* Take msg (its strings move into the batch) with its record. */
static bool batch_add(esm_batch *b, mq_msg *msg, cJSON *rec, size_t size)
{
    if (b->n == b->cap) {
        size_t nc = b->cap == 0 ? 16 : b->cap * 2;
        mq_msg *v = realloc(b->msgs, nc * sizeof(*v));
        if (v == NULL) {
            return false;
        }
        b->msgs = v;
        b->cap = nc;
    }
    b->msgs[b->n++] = *msg;
    msg->body = NULL;
    msg->attributes = NULL;
    cJSON_AddItemToArray(b->records, rec);
    b->bytes += size + (b->n > 1 ? 1 : 0);
    return true;
}

/* One received message: filtered out (deleted), or into the gathered batch
 * (a full or 6 MB batch is flushed first or after). */
static void take(esm_map *mp, mq *m, mq_msg *msg, int64_t now, list_head *run)
{
    lm_error e;
    cJSON *rec = mq_msg_lambda_record(msg, mp->cfg.source);
    if (rec != NULL && !esm_record_passes(mp, rec, "body", msg->body, msg->body_len)) {
        cJSON_Delete(rec);
        if (mq_delete_message(m, mp->cfg.source, msg->receipt, now, NULL, &e) == LM_OK) {
            esm_count_filtered(1);
        }
        return;
    }
    char *t = rec != NULL ? cJSON_PrintUnformatted(rec) : NULL;
    size_t size = t != NULL ? strlen(t) : 0;
    free(t);
    if (t == NULL) { /* out of memory: it comes back after its visibility timeout */
        cJSON_Delete(rec);
        return;
    }
    if (mp->fill != NULL && mp->fill->n > 0 && mp->fill->bytes + size + 1 > ESM_PAYLOAD_MAX) {
        flush(mp, run);
    }
    if (mp->fill == NULL && (mp->fill = batch_new(mp)) != NULL) {
        mp->fill_from = now;
    }
    if (mp->fill == NULL || !batch_add(mp->fill, msg, rec, size)) {
        cJSON_Delete(rec);
        return;
    }
    if ((int)mp->fill->n >= mp->cfg.batch_size) {
        flush(mp, run);
    }
}

/* Messages still waiting after the poll (backlog): let the mapping grow,
 * one step per whole minute of broker time the backlog has lasted
 * (scale_at: when it was first seen; a clock jump over an idle time grows
 * nothing).  Only an empty backlog resets it: a poll that stopped short
 * (the per-turn receive cap, a receive error) says nothing about demand. */
static void scale_up(esm_map *mp, int64_t now, bool backlog)
{
    if (!backlog) {
        mp->scale_at = 0;
        return;
    }
    if (mp->scale_at == 0) {
        mp->scale_at = now;
        return;
    }
    int64_t minutes = (now - mp->scale_at) / 60000;
    if (minutes > 0) {
        int64_t add = minutes * ESM_SCALE_PER_MIN;
        int was = mp->scale;
        mp->scale = (int)(mp->scale + add > ESM_SCALE_CAP ? ESM_SCALE_CAP : mp->scale + add);
        mp->scale_at += minutes * 60000;
        if (mp->scale != was) {
            blog(LOG_INFO, "esm %s: %d batches at once (was %d): messages waiting for %lld min",
                 mp->cfg.uuid, mp->scale, was, (long long)minutes);
        }
    }
}

void esm_queue_poll(esm_map *mp, mq *m, int64_t now, list_head *run)
{
    int vis = -1;
    bool more = true, failed = false; /* more: no receive came back short */
    int receives = 0;
    mp->again = false;
    while (mp->inflight < queue_limit(mp)) {
        if (receives++ == ESM_RECEIVES_PER_POLL) { /* keep the transaction short: next turn */
            mp->again = true;
            break;
        }
        int want = mp->cfg.batch_size - (mp->fill != NULL ? (int)mp->fill->n : 0);
        want = want > MQ_RECEIVE_MAX ? MQ_RECEIVE_MAX : want;
        if (vis < 0) {
            vis = visibility(mp, m, now);
        }
        mq_receive_opts o = {.max = want, .visibility_s = vis};
        mq_msg *v = NULL;
        size_t n = 0;
        lm_error e;
        if (mq_receive(m, mp->cfg.source, &o, now, &v, &n, &e) != LM_OK) {
            snprintf(mp->last_error, sizeof(mp->last_error), "%s: %s", e.type, e.message);
            failed = true;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            take(mp, m, &v[i], now, run);
        }
        mq_msgs_free(v, n);
        more = n == (size_t)want;
        if (!more) {
            break;
        }
    }
    if (more && !failed) { /* the last receive was full: are messages still waiting? */
        int64_t at;
        lm_error e;
        /* against the clock read now, not `now`: the queue's own time never
         * goes back (a write of the messaging thread's may have settled it
         * a few ms past our `now`), and a message visible then is at most that */
        if (mq_next_wake_ms(m, mp->cfg.source, now, &at, &e) == LM_OK) {
            scale_up(mp, now, at != MQ_NEVER && at <= clk_now_ms());
        }
    } else if (!failed) {
        scale_up(mp, now, false);
    }
    if (mp->fill != NULL && mp->fill->n > 0 &&
        (mp->cfg.window_s == 0 || now >= mp->fill_from + (int64_t)mp->cfg.window_s * 1000)) {
        flush(mp, run);
    }
}

int64_t esm_queue_wake(esm_map *mp, mq *m, int64_t now)
{
    lm_error e;
    mq_counts cnt;
    if (mq_queue_counts(m, mp->cfg.source, now, &cnt, &e) == LM_OK) {
        mp->lag = cnt.visible;
    }
    int64_t wake = mp->again ? now : INT64_MAX;
    if (mp->fill != NULL && mp->fill->n > 0) {
        wake = mp->fill_from + (int64_t)mp->cfg.window_s * 1000;
    }
    if (mp->inflight >= queue_limit(mp)) {
        return wake; /* a batch's outcome wakes the thread */
    }
    int64_t at;
    if (mq_next_wake_ms(m, mp->cfg.source, now, &at, &e) == LM_OK && at != MQ_NEVER) {
        /* available now but not received (all slots just filled): soon */
        at = at <= now ? now + 50 : at;
        wake = at < wake ? at : wake;
    }
    return wake;
}

bool esm_queue_done(esm_batch *b, mq *m, int64_t now)
{
    esm_map *mp = b->map;
    if (b->code != LM_OK || b->ferr[0] != '\0') {
        return false; /* visible again after the timeout */
    }
    const char **ids = calloc(b->n + 1, sizeof(*ids));
    const char **failed = calloc(b->n + 1, sizeof(*failed));
    if (ids == NULL || failed == NULL) {
        free(ids);
        free(failed);
        return false;
    }
    int k = 0;
    cJSON *tree = NULL;
    if (mp->cfg.rbif) {
        for (size_t i = 0; i < b->n; i++) {
            ids[i] = b->msgs[i].message_id;
        }
        k = esm_batch_failures(b->payload, b->payload_len, true, ids, b->n, failed, &tree);
    }
    if (k >= 0) {
        for (size_t i = 0; i < b->n; i++) {
            bool keep = false;
            for (int j = 0; j < k && !keep; j++) {
                keep = strcmp(failed[j], b->msgs[i].message_id) == 0;
            }
            lm_error e;
            if (!keep &&
                mq_delete_message(m, mp->cfg.source, b->msgs[i].receipt, now, NULL, &e) != LM_OK) {
                snprintf(mp->last_error, sizeof(mp->last_error), "%s: %s", e.type, e.message);
            }
        }
    }
    cJSON_Delete(tree);
    free(ids);
    free(failed);
    if (k < 0) {
        snprintf(b->err, sizeof(b->err), "the batchItemFailures response was not valid");
    } else if (k > 0) {
        snprintf(b->err, sizeof(b->err), "%d of %zu records reported failed", k, b->n);
    }
    return k == 0;
}
