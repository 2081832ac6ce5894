/*
 * broker/admin/admin.c — the admin thread and the operations it runs
 * (create, get, list, delete, retire-workers; update-code, update-config,
 * publish, versions and alias-* for the version lifecycle, see
 * README-versions.md; event-config-put/get/delete for async invokes;
 * clock-advance for tests, with --test-clock: lib/clock.h).  Which api op
 * runs which function is front/ops.c's table; front/ops.c's status also
 * runs on this thread.
 *
 * Admin calls touch the disk (SQLite commits, handler blobs), so they run
 * here, one at a time, never in an nng callback.  A way in queues
 * (message, op, completion); this thread decodes, validates, does the durable part
 * first (blob written and fsynced, row committed) and only then changes the
 * in-memory registry under B.mtx, so the registry never shows something the
 * store does not have.  Handler code is stored content-addressed at
 * <state>/code/<sha256>.so: a deployed function never changes when the
 * user's file does.
 *
 * Versions: $LATEST is replaced as a whole (a new fn_config) on every
 * update and the old one retired, so no invocation mixes old and new; a
 * published version is a separate immutable fn_config (its own warm
 * workers).  Because admin requests run one at a time on this thread, a
 * read of the registry, the store commit and the registry change that
 * follows cannot interleave with another admin change.
 *
 * RevisionId preconditions (update-code, update-config, publish,
 * alias-update): the RevisionId given is compared with the snapshot this
 * thread read (412 PreconditionFailedException on a mismatch, before
 * anything is written), and the store write is itself a compare-and-swap
 * on that snapshot's revision, so the check and the write stay one step
 * even if another writer ever appeared: the registry only changes after
 * the swap committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin/internal.h"
#include "core/sbxhost.h"
#include "store/store.h"

typedef struct admin_job {
    completion done;
    admin_op_fn fn;
    nng_msg *msg;
    list_node node; /* Q.jobs */
} admin_job;

static struct {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    list_head jobs; /* FIFO */
    bool stop;
    pthread_t thr;
    bool running;
} Q = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void admin_submit(nng_msg *msg, admin_op_fn fn, completion done)
{
    admin_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        lm_error e;
        proto_error(&e, LM_E_NOMEM, NULL);
        nng_msg_free(msg);
        complete_error(done, &e);
        return;
    }
    j->done = done;
    j->fn = fn;
    j->msg = msg;
    pthread_mutex_lock(&Q.mtx);
    if (Q.stop) {
        pthread_mutex_unlock(&Q.mtx);
        lm_error e;
        proto_error(&e, LM_E_STOPPING, "the broker is stopping");
        nng_msg_free(msg);
        free(j);
        complete_error(done, &e);
        return;
    }
    list_push_back(&Q.jobs, &j->node);
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mtx);
}

/* ---- clock-advance (lib/clock.h; only with --test-clock) ---- */

/* {Ms}: move broker time forward by Ms (1 .. a year); the new offset is
 * stored first, so a restarted test broker carries on from it. */
nng_msg *admin_clock_advance(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    int64_t ms = 0;
    if (!clk_test_enabled()) {
        proto_error(e, LM_E_UNKNOWN_OP,
                    "clock-advance needs a broker started with --test-clock (this broker's "
                    "time is real time)");
        return NULL;
    }
    if (proto_get_int(args, "Ms", true, &ms, e) != LM_OK || clk_check_advance(ms) != CLK_OK) {
        proto_error(e, LM_E_INVALID_PARAMETER,
                    "Ms must be an integer from 1 to %lld (a year), and broker time at most "
                    "%lld ms ahead of real time",
                    (long long)CLK_MAX_ADVANCE_MS, (long long)CLK_MAX_OFFSET_MS);
        return NULL;
    }
    /* only this thread advances: the check above still holds */
    if (store_put_clock_offset(clk_offset_ms() + ms, e) != LM_OK) {
        return NULL;
    }
    if (clk_advance(ms) != CLK_OK) {
        proto_error(e, LM_E_INTERNAL, "the clock refused an advance it had accepted");
        return NULL;
    }
    blog(LOG_INFO, "test clock advanced %lld ms (offset %lld ms)", (long long)ms,
         (long long)clk_offset_ms());
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    pw_map(&w, 2);
    pw_key(&w, "BrokerTimeMs");
    pw_int(&w, clk_now_ms());
    pw_key(&w, "OffsetMs");
    pw_int(&w, clk_offset_ms());
    return proto_reply_end(&w, m);
}

/* ---- the admin thread ---- */

/* Decode the request again (the front end's parse is gone with its
 * callback) and run the job's op on it. */
static nng_msg *run_job(const admin_job *j, lm_error *e)
{
    proto_doc doc;
    const msgpack_object *args = NULL;
    nng_msg *rep = NULL;
    if (proto_decode_request(nng_msg_body(j->msg), nng_msg_len(j->msg), &doc, e) == LM_OK &&
        proto_get_map(doc.root, "args", false, &args, e) == LM_OK) {
        rep = j->fn(&doc, args, e);
    }
    proto_doc_finish(&doc);
    return rep;
}

static void *admin_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&Q.mtx);
        while (list_empty(&Q.jobs) && !Q.stop) {
            pthread_cond_wait(&Q.cv, &Q.mtx);
        }
        admin_job *j = list_pop_front_entry(&Q.jobs, admin_job, node);
        if (j == NULL) {
            pthread_mutex_unlock(&Q.mtx);
            return NULL;
        }
        pthread_mutex_unlock(&Q.mtx);
        lm_error e;
        proto_error(&e, LM_E_INTERNAL, NULL);
        nng_msg *rep = run_job(j, &e);
        nng_msg_free(j->msg);
        if (rep != NULL) {
            complete_reply(j->done, rep);
        } else {
            complete_error(j->done, &e);
        }
        free(j);
    }
}

int admin_start(void)
{
    if (pthread_create(&Q.thr, NULL, admin_main, NULL) != 0) {
        return -1;
    }
    Q.running = true;
    return 0;
}

void admin_stop(void)
{
    pthread_mutex_lock(&Q.mtx);
    Q.stop = true;
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mtx);
    if (Q.running) {
        pthread_join(Q.thr, NULL);
        Q.running = false;
    }
}
