/*
 * broker/messaging/bus_tail.c — the recent events of each bus, in memory,
 * for `lamina bus tail` (mq_bus_tail), and the bus counters
 * (mq_bus_stats).
 *
 * Tail is best-effort by design: it is not durable and not complete.
 * Only an instance that asked for it (mq_set_tail_hook: the messaging
 * thread's) keeps rings.  Another instance (the async thread's, which
 * puts destination records on buses) forwards each event it committed
 * (mq_set_event_hook), and the owner of the rings adds it with
 * mq_tail_push, in the order it gets them.  Each bus has a ring of
 * at most MQ_TAIL_EVENTS envelopes and MQ_TAIL_BYTES of text, and all
 * rings together hold at most MQ_TAIL_TOTAL_BYTES (the least recently
 * written rings lose their oldest first); the oldest fall out, and a
 * reader whose cursor fell behind is told how many it missed.  A restart
 * empties every ring.
 *
 * Commit order.  Routing notes each envelope it puts on a bus
 * (mq_tail_note) in a pending list of the open transaction; core.c moves
 * the list into the rings after the COMMIT (mq_tail_commit, which then
 * calls the hook once per bus that got events, so the service can wake a
 * parked tail), and truncates it when an operation or the transaction
 * rolls back (mq_tail_mark / mq_tail_truncate).  So a reader never sees an
 * event whose put was not committed, except one routed inside a nested
 * savepoint that rolled back later (a bus target's delivery): harmless for
 * a best-effort view.
 *
 * Cursors are "EPOCH-SEQ": EPOCH is 16 random hex digits drawn when the
 * instance turned tail on, SEQ the per-bus number of the next event to
 * read.  A cursor of another epoch (the broker restarted) reads from the
 * oldest event kept, with Reset set.  Sequence numbers are per bus and
 * only grow, so two calls chained by their cursors miss nothing that the
 * ring still holds.
 *
 * The counters (mq->bs) count what the instance did; core.c keeps a copy
 * at each transaction and operation start and restores it on rollback, so
 * they count only committed work.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#include "mq_internal.h"

#define MQ_TAIL_RINGS 128 /* buses with a ring (deleted ones' rings age out) */

typedef struct tail_ring {
    struct tail_ring *next;
    char bus[MQ_BUS_NAME_MAX + 1];
    char **ev; /* MQ_TAIL_EVENTS slots; event seq s is at ev[s % MQ_TAIL_EVENTS] */
    uint64_t first, next_seq; /* events first .. next_seq-1 are held */
    size_t bytes;
} tail_ring;

typedef struct tail_pend {
    char *bus, *text;
} tail_pend;

struct mq_tail {
    bool keep; /* rings kept (mq_set_tail_hook); else only forwarded */
    mq_tail_fn fn;
    void *arg;
    mq_event_fn efn; /* mq_set_event_hook: each committed event, or NULL */
    void *earg;
    char epoch[17];
    tail_pend *p;
    size_t n, cap;
    tail_ring *rings; /* most recently written first */
    size_t nrings;
    size_t bytes; /* all rings' text: at most MQ_TAIL_TOTAL_BYTES */
};

/* Drop ring r's oldest event. */
static void ring_drop(mq_tail *t, tail_ring *r)
{
    char **slot = &r->ev[r->first % MQ_TAIL_EVENTS];
    size_t len = strlen(*slot);
    r->bytes -= len;
    t->bytes -= len;
    free(*slot);
    *slot = NULL;
    r->first++;
}

static void ring_free(tail_ring *r)
{
    for (uint64_t s = r->first; s < r->next_seq; s++) {
        free(r->ev[s % MQ_TAIL_EVENTS]);
    }
    free(r->ev);
    free(r);
}

void mq_tail_free(mq *m)
{
    mq_tail *t = m->tail;
    if (t == NULL) {
        return;
    }
    mq_tail_truncate(m, 0);
    free(t->p);
    while (t->rings != NULL) {
        tail_ring *n = t->rings->next;
        ring_free(t->rings);
        t->rings = n;
    }
    free(t);
    m->tail = NULL;
}

static int tail_make(mq *m, lm_error *e)
{
    if (m->tail == NULL) {
        m->tail = calloc(1, sizeof(*m->tail));
        if (m->tail == NULL) {
            return proto_error(e, LM_E_NOMEM, NULL);
        }
        util_random_hex(m->tail->epoch, 8);
    }
    return LM_OK;
}

int mq_set_tail_hook(mq *m, mq_tail_fn fn, void *arg, lm_error *e)
{
    int rc = tail_make(m, e);
    if (rc == LM_OK) {
        m->tail->keep = true;
        m->tail->fn = fn;
        m->tail->arg = arg;
    }
    return rc;
}

int mq_set_event_hook(mq *m, mq_event_fn fn, void *arg, lm_error *e)
{
    int rc = tail_make(m, e);
    if (rc == LM_OK) {
        m->tail->efn = fn;
        m->tail->earg = arg;
    }
    return rc;
}

void mq_tail_note(mq *m, const char *bus, const char *text)
{
    mq_tail *t = m->tail;
    if (t == NULL) {
        return;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap != 0 ? t->cap * 2 : 16;
        tail_pend *p = realloc(t->p, cap * sizeof(*p));
        if (p == NULL) {
            return; /* best-effort: the event is not tailed */
        }
        t->p = p;
        t->cap = cap;
    }
    char *b = mq_strndup(bus, strlen(bus)), *x = mq_strndup(text, strlen(text));
    if (b == NULL || x == NULL) {
        free(b);
        free(x);
        return;
    }
    t->p[t->n++] = (tail_pend){.bus = b, .text = x};
}

size_t mq_tail_mark(const mq *m)
{
    return m->tail != NULL ? m->tail->n : 0;
}

void mq_tail_truncate(mq *m, size_t mark)
{
    mq_tail *t = m->tail;
    while (t != NULL && t->n > mark) {
        t->n--;
        free(t->p[t->n].bus);
        free(t->p[t->n].text);
    }
}

/* The ring of bus (created when want), moved to the front. */
static tail_ring *ring_get(mq_tail *t, const char *bus, bool want)
{
    tail_ring **pp = &t->rings;
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->bus, bus) == 0) {
            tail_ring *r = *pp;
            *pp = r->next;
            r->next = t->rings;
            t->rings = r;
            return r;
        }
    }
    if (!want) {
        return NULL;
    }
    tail_ring *r = calloc(1, sizeof(*r));
    char **ev = calloc(MQ_TAIL_EVENTS, sizeof(*ev));
    if (r == NULL || ev == NULL) {
        free(r);
        free(ev);
        return NULL;
    }
    r->ev = ev;
    snprintf(r->bus, sizeof(r->bus), "%s", bus);
    if (t->nrings == MQ_TAIL_RINGS) { /* drop the least recently written */
        tail_ring **last = &t->rings;
        while ((*last)->next != NULL) {
            last = &(*last)->next;
        }
        t->bytes -= (*last)->bytes;
        ring_free(*last);
        *last = NULL;
        t->nrings--;
    }
    r->next = t->rings;
    t->rings = r;
    t->nrings++;
    return r;
}

/* Append text to r (taken), dropping r's oldest past its own bounds, then
 * the oldest of the least recently written rings past the total bound. */
static void ring_push(mq_tail *t, tail_ring *r, char *text)
{
    size_t len = strlen(text);
    while (r->first < r->next_seq &&
           (r->next_seq - r->first >= MQ_TAIL_EVENTS || r->bytes + len > MQ_TAIL_BYTES)) {
        ring_drop(t, r);
    }
    r->ev[r->next_seq % MQ_TAIL_EVENTS] = text;
    r->next_seq++;
    r->bytes += len;
    t->bytes += len;
    while (t->bytes > MQ_TAIL_TOTAL_BYTES) {
        tail_ring *old = NULL;
        for (tail_ring *x = t->rings; x != NULL; x = x->next) {
            if (x->first < x->next_seq && (x != r || old == NULL)) {
                old = x; /* the last non-empty one, r only when alone */
            }
        }
        if (old == NULL || (old == r && r->next_seq - r->first == 1)) {
            break; /* only this event is left */
        }
        ring_drop(t, old);
    }
}

void mq_tail_commit(mq *m)
{
    mq_tail *t = m->tail;
    if (t == NULL || t->n == 0) {
        return;
    }
    size_t n = t->n;
    for (size_t i = 0; i < n; i++) {
        if (t->efn != NULL) {
            t->efn(t->earg, t->p[i].bus, t->p[i].text);
        }
        tail_ring *r = t->keep ? ring_get(t, t->p[i].bus, true) : NULL;
        if (r != NULL) {
            ring_push(t, r, t->p[i].text);
            t->p[i].text = NULL;
        }
    }
    /* one wake-up per bus: the pending list is short (a turn's events) */
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            seen = strcmp(t->p[k].bus, t->p[i].bus) == 0;
        }
        if (!seen && t->keep && t->fn != NULL) {
            t->fn(t->arg, t->p[i].bus);
        }
    }
    mq_tail_truncate(m, 0);
}

void mq_tail_push(mq *m, const char *bus, const char *text)
{
    mq_tail *t = m->tail;
    tail_ring *r = t != NULL && t->keep ? ring_get(t, bus, true) : NULL;
    char *x = r != NULL ? mq_strndup(text, strlen(text)) : NULL;
    if (x == NULL) {
        return;
    }
    ring_push(t, r, x);
    if (t->fn != NULL) {
        t->fn(t->arg, bus);
    }
}

/* "EPOCH-SEQ" to its parts; false when it is not one. */
static bool cursor_parse(const char *c, char epoch[17], uint64_t *seq)
{
    if (strlen(c) < 18 || strlen(c) > 16 + 1 + 20 || c[16] != '-') {
        return false;
    }
    memcpy(epoch, c, 16);
    epoch[16] = '\0';
    const char *p = c + 17;
    if (p[strspn(p, "0123456789")] != '\0') {
        return false;
    }
    *seq = strtoull(p, NULL, 10);
    return strspn(epoch, "0123456789abcdef") == 16;
}

int mq_bus_tail(mq *m, const char *bus, const char *cursor, size_t limit, mq_tail_out *out,
                lm_error *e)
{
    memset(out, 0, sizeof(*out));
    mq_tail *t = m->tail;
    if (t == NULL || !t->keep) {
        return proto_error(e, LM_E_INTERNAL, "messaging: tail is not kept by this instance");
    }
    char name[MQ_BUS_NAME_MAX + 1];
    int rc = mq_bus_name(m, bus, name, e);
    if (rc != LM_OK) {
        return rc;
    }
    char epoch[17];
    uint64_t seq = 0;
    if (cursor != NULL && !cursor_parse(cursor, epoch, &seq)) {
        return proto_error(e, LM_E_EV_VALIDATION, "Cursor is not valid: give a NextCursor back.");
    }
    tail_ring *r = ring_get(t, name, false);
    uint64_t first = r != NULL ? r->first : 0, next = r != NULL ? r->next_seq : 0;
    if (cursor == NULL) {
        seq = next; /* from now on */
    } else if (strcmp(epoch, t->epoch) != 0) {
        seq = first; /* the broker restarted: what is kept */
        out->reset = true;
    } else if (seq > next) {
        return proto_error(e, LM_E_EV_VALIDATION, "Cursor is not valid: it is ahead of the bus.");
    } else if (seq < first) {
        out->missed = first - seq;
        seq = first;
    }
    out->events = cJSON_CreateArray();
    if (out->events == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    size_t bytes = 0;
    for (; cursor != NULL && seq < next && out->n < limit && bytes < MQ_TAIL_REPLY_BYTES; seq++) {
        const char *text = r->ev[seq % MQ_TAIL_EVENTS];
        cJSON *ev = cJSON_Parse(text);
        if (ev == NULL) {
            break;
        }
        bytes += strlen(text);
        cJSON_AddItemToArray(out->events, ev);
        out->n++;
    }
    snprintf(out->cursor, sizeof(out->cursor), "%s-%" PRIu64, t->epoch, seq);
    return LM_OK;
}

void mq_bus_stats_get(const mq *m, mq_bus_stats *out)
{
    *out = m->bs;
}
