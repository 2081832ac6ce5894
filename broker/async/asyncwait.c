/*
 * broker/async/asyncwait.c — "event-wait": a caller waits until an async event
 * it submitted is done, destination included.  lamina-bench times async
 * invokes end to end with it; a user can use it to see what became of an
 * event.
 *
 * What "done" means: the event finished (Success, RetriesExhausted or
 * EventAgeExceeded) and, when that sent an invocation record to a
 * destination function, the destination's run of the record finished too.
 * The reply names both outcomes.  A wait that runs out first is answered
 * with Status "Pending" and what is known so far, never an error.
 *
 * State (memory only; a restart forgets it, and the waiters' connections
 * are gone with it anyway):
 *   - An entry per recently finished event, keyed by request id: its
 *     condition and, when a record was queued, the record's request id.
 *     The record gets an entry of its own whose `origin` points back, so
 *     the record's finish completes the event it reports on.  At most
 *     AW_MAX_ENTRIES are kept, oldest dropped first, except entries a
 *     waiter needs.
 *   - Waiters: at most AW_MAX_WAITERS at once (429 beyond).  A waiter for
 *     an id that has no entry yet is "unchecked" until the asyncq thread
 *     has looked for the id in its table (asyncwait_service): a stored event keeps
 *     the waiter, an unknown id is answered ResourceNotFound.
 *
 * Threading: AW.mtx is a leaf lock; replies are sent after it is released.
 * asyncwait_finished and asyncwait_service run on the asyncq thread (after the COMMIT
 * that finished the events), asyncwait_add on a way in's threads (nng callbacks).
 */
#include <stdlib.h>
#include <string.h>

#include "async/async.h"

#define AW_MAX_ENTRIES 16384
#define AW_MAX_WAITERS 4096
#define AW_BUCKETS 4096 /* the entry table's starting width (lib/hmap grows it) */
#define AW_COND_LEN 24

typedef struct asyncwait_entry {
    char rid[40];
    char origin[40]; /* a record: the event it reports on ("" otherwise) */
    char cond[AW_COND_LEN]; /* "" until finished */
    char dest_rid[40]; /* the record sent to a destination, "" if none */
    char dest_cond[AW_COND_LEN]; /* the record's condition, "" until it finished */
    char ferr[16]; /* the last run's FunctionError ("" if none) */
    char etype[64]; /* its errorType, or the invocation error's type */
    bool known; /* finished, or a record known to be queued */
    int nwait;
    hmap_node hnode; /* AW.entries, keyed by rid */
    list_node age; /* AW.by_age (oldest first) */
} asyncwait_entry;

/* A caller waiting, and then (off the waiter list) its reply to send once
 * AW.mtx is released: msg, or err when msg is NULL and err.code is set. */
typedef struct asyncwait_waiter {
    completion done;
    asyncwait_entry *e;
    int64_t deadline; /* epoch ms */
    bool checked;
    nng_msg *msg;
    lm_error err;
    list_node node; /* AW.waiters (newest first), then a reply list */
} asyncwait_waiter;

static struct {
    pthread_mutex_t mtx;
    hmap entries;
    list_head by_age;
    int n_entries;
    list_head waiters;
    int n_waiters;
    bool stopped;
} AW = {.mtx = PTHREAD_MUTEX_INITIALIZER, .entries = {.min_buckets = AW_BUCKETS}};

/* ---- entries (AW.mtx held) ---- */

static asyncwait_entry *find(const char *rid)
{
    return hmap_entry(hmap_get(&AW.entries, rid), asyncwait_entry, hnode);
}

static void drop(asyncwait_entry *e)
{
    hmap_remove(&AW.entries, &e->hnode);
    list_remove(&AW.by_age, &e->age);
    AW.n_entries--;
    free(e);
}

/* Needed by a waiter: its own, or the record that completes a waited one. */
static bool pinned(const asyncwait_entry *e)
{
    if (e->nwait > 0) {
        return true;
    }
    const asyncwait_entry *o = e->origin[0] != '\0' ? find(e->origin) : NULL;
    return o != NULL && o->nwait > 0;
}

/* Make room for one more entry: drop the oldest that no waiter needs.
 * Pinned entries are at most 2 per waiter, so the walk is bounded. */
static void make_room(void)
{
    int tries = AW.n_entries;
    while (AW.n_entries >= AW_MAX_ENTRIES && !list_empty(&AW.by_age) && tries-- > 0) {
        asyncwait_entry *e = list_first_entry(&AW.by_age, asyncwait_entry, age);
        if (pinned(e)) {
            list_remove(&AW.by_age, &e->age);
            list_push_back(&AW.by_age, &e->age);
        } else {
            drop(e);
        }
    }
}

static asyncwait_entry *get(const char *rid)
{
    asyncwait_entry *e = find(rid);
    if (e != NULL) {
        return e;
    }
    make_room();
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    snprintf(e->rid, sizeof(e->rid), "%s", rid);
    if (hmap_put(&AW.entries, &e->hnode, e->rid) != 0) {
        free(e);
        return NULL;
    }
    list_push_back(&AW.by_age, &e->age);
    AW.n_entries++;
    return e;
}

static bool is_done(const asyncwait_entry *e)
{
    return e->cond[0] != '\0' && (e->dest_rid[0] == '\0' || e->dest_cond[0] != '\0');
}

/* ---- replies ---- */

static nng_msg *status_reply(const asyncwait_entry *e)
{
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    bool finished = e->cond[0] != '\0';
    bool dest = e->dest_rid[0] != '\0';
    bool ferr = finished && e->ferr[0] != '\0';
    bool etype = finished && e->etype[0] != '\0';
    pw_map(&w, 2 + (finished ? 1 : 0) + (dest ? 1 : 0) + (ferr ? 1 : 0) + (etype ? 1 : 0));
    pw_key(&w, "RequestId");
    pw_str(&w, e->rid);
    pw_key(&w, "Status");
    pw_str(&w, is_done(e) ? "Done" : "Pending");
    if (finished) {
        pw_key(&w, "Condition");
        pw_str(&w, e->cond);
    }
    if (ferr) {
        pw_key(&w, "FunctionError");
        pw_str(&w, e->ferr);
    }
    if (etype) {
        pw_key(&w, "ErrorType");
        pw_str(&w, e->etype);
    }
    if (dest) {
        bool dest_done = e->dest_cond[0] != '\0';
        pw_key(&w, "Destination");
        pw_map(&w, dest_done ? 3 : 2);
        pw_key(&w, "RequestId");
        pw_str(&w, e->dest_rid);
        pw_key(&w, "Status");
        pw_str(&w, dest_done ? "Done" : "Pending");
        if (dest_done) {
            pw_key(&w, "Condition");
            pw_str(&w, e->dest_cond);
        }
    }
    return proto_reply_end(&w, m);
}

/* Move w (already off AW.waiters) to the front of the reply list: its
 * status (msg), or an error when code is set. */
static void reply_later(list_head *outs, asyncwait_waiter *w, int code, const char *text)
{
    if (code != LM_OK) {
        proto_error(&w->err, code, "%s", text);
    } else {
        w->msg = status_reply(w->e); /* NULL: complete_reply answers out of memory */
    }
    list_push_front(outs, &w->node);
}

static void send_replies(list_head *outs)
{
    asyncwait_waiter *w;
    while ((w = list_pop_front_entry(outs, asyncwait_waiter, node)) != NULL) {
        if (w->err.code != LM_OK) {
            complete_error(w->done, &w->err);
        } else {
            complete_reply(w->done, w->msg);
        }
        free(w);
    }
}

/* Remove waiters for e (all when `all`, else only those past `now`) and
 * queue their status replies.  AW.mtx held. */
static void release_waiters(asyncwait_entry *e, bool all, int64_t now, list_head *outs)
{
    LIST_EACH(w, asyncwait_waiter, node, &AW.waiters)
    {
        if ((e == NULL || w->e == e) && (all || w->deadline <= now)) {
            list_remove(&AW.waiters, &w->node);
            w->e->nwait--;
            AW.n_waiters--;
            reply_later(outs, w, LM_OK, NULL);
        }
    }
}

/* ---- the caller's side ---- */

bool asyncwait_add(completion done, const char *rid, int64_t deadline)
{
    lm_error err;
    nng_msg *now = NULL;
    bool check = false;
    memset(&err, 0, sizeof(err));
    pthread_mutex_lock(&AW.mtx);
    asyncwait_entry *e = NULL;
    asyncwait_waiter *w = NULL;
    if (AW.stopped) {
        proto_error(&err, LM_E_STOPPING, "the broker is stopping");
    } else if (AW.n_waiters >= AW_MAX_WAITERS) {
        proto_error(&err, LM_E_THROTTLED,
                    "Rate Exceeded. (Reason: %d callers are waiting for events already)",
                    AW_MAX_WAITERS);
    } else if ((e = get(rid)) != NULL && is_done(e)) {
        now = status_reply(e);
        if (now == NULL) {
            proto_error(&err, LM_E_NOMEM, NULL);
        }
    } else if (e == NULL || (w = calloc(1, sizeof(*w))) == NULL) {
        proto_error(&err, LM_E_NOMEM, NULL);
    } else {
        w->done = done;
        w->e = e;
        w->deadline = deadline;
        w->checked = e->known;
        check = !w->checked;
        list_push_front(&AW.waiters, &w->node);
        AW.n_waiters++;
        e->nwait++;
    }
    pthread_mutex_unlock(&AW.mtx);
    if (now != NULL) {
        complete_reply(done, now);
    } else if (err.code != LM_OK) {
        complete_error(done, &err);
    }
    return check;
}

/* ---- the asyncq thread ---- */

void asyncwait_finished(const char *rid, const char *cond, const char *record_rid, const char *ferr,
                        const char *etype)
{
    list_head outs = {0};
    pthread_mutex_lock(&AW.mtx);
    asyncwait_entry *e = get(rid);
    if (e != NULL) {
        e->known = true;
        snprintf(e->cond, sizeof(e->cond), "%s", cond);
        snprintf(e->ferr, sizeof(e->ferr), "%s", ferr);
        snprintf(e->etype, sizeof(e->etype), "%s", etype);
        if (record_rid != NULL && record_rid[0] != '\0') {
            snprintf(e->dest_rid, sizeof(e->dest_rid), "%s", record_rid);
            asyncwait_entry *r = get(record_rid);
            if (r != NULL) {
                r->known = true;
                snprintf(r->origin, sizeof(r->origin), "%s", rid);
            }
        }
        if (e->origin[0] != '\0') {
            asyncwait_entry *o = find(e->origin);
            if (o != NULL) {
                snprintf(o->dest_cond, sizeof(o->dest_cond), "%s", cond);
                if (o->nwait > 0 && is_done(o)) {
                    release_waiters(o, true, 0, &outs);
                }
            }
        }
        if (e->nwait > 0 && is_done(e)) {
            release_waiters(e, true, 0, &outs);
        }
    }
    pthread_mutex_unlock(&AW.mtx);
    send_replies(&outs);
}

int64_t asyncwait_service(int64_t now, bool (*stored)(const char *rid))
{
    list_head outs = {0};
    char(*ids)[40] = NULL;
    int n = 0;
    /* ids to look up, copied so the lookups run without the lock */
    pthread_mutex_lock(&AW.mtx);
    LIST_EACH(w, asyncwait_waiter, node, &AW.waiters)
    {
        n += !w->checked;
    }
    ids = n > 0 ? calloc((size_t)n, sizeof(*ids)) : NULL;
    n = 0;
    LIST_EACH(w, asyncwait_waiter, node, &AW.waiters)
    {
        if (ids != NULL && !w->checked) {
            snprintf(ids[n++], sizeof(ids[0]), "%s", w->e->rid);
        }
    }
    pthread_mutex_unlock(&AW.mtx);
    bool *found = n > 0 ? calloc((size_t)n, sizeof(*found)) : NULL;
    for (int i = 0; found != NULL && i < n; i++) {
        found[i] = stored(ids[i]);
    }
    pthread_mutex_lock(&AW.mtx);
    for (int i = 0; found != NULL && i < n; i++) {
        asyncwait_entry *e = find(ids[i]);
        if (e == NULL) {
            continue;
        }
        e->known = e->known || found[i];
        LIST_EACH(w, asyncwait_waiter, node, &AW.waiters)
        {
            if (w->e != e || w->checked) {
                continue;
            }
            if (e->known) {
                w->checked = true;
            } else {
                list_remove(&AW.waiters, &w->node);
                e->nwait--;
                AW.n_waiters--;
                reply_later(&outs, w, LM_E_NOT_FOUND,
                            "no such async event (never accepted, or finished too long ago)");
            }
        }
        if (!e->known && e->nwait == 0) {
            drop(e);
        }
    }
    release_waiters(NULL, false, now, &outs);
    int64_t next = INT64_MAX;
    LIST_EACH(w, asyncwait_waiter, node, &AW.waiters)
    {
        next = w->deadline < next ? w->deadline : next;
    }
    pthread_mutex_unlock(&AW.mtx);
    free(found);
    free(ids);
    send_replies(&outs);
    return next;
}

void asyncwait_stop(void)
{
    list_head outs = {0};
    pthread_mutex_lock(&AW.mtx);
    asyncwait_waiter *w;
    while ((w = list_pop_front_entry(&AW.waiters, asyncwait_waiter, node)) != NULL) {
        reply_later(&outs, w, LM_E_STOPPING, "the broker is stopping");
    }
    AW.n_waiters = 0;
    AW.stopped = true;
    asyncwait_entry *e;
    while ((e = list_first_entry(&AW.by_age, asyncwait_entry, age)) != NULL) {
        drop(e);
    }
    hmap_finish(&AW.entries);
    pthread_mutex_unlock(&AW.mtx);
    send_replies(&outs);
}
