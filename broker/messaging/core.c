/*
 * broker/messaging/core.c — the engine instance: prepared statements,
 * operation frames, caller-managed transactions, ready hooks, and the small
 * helpers (MD5/SHA-256 hex, base64 decoding, time text, strict JSON) the
 * other files use; ids, random hex and base64 encoding are lib/util.c's.
 *
 * Operation frames.  Every public operation runs between mq_op_begin and
 * mq_op_end.  Outside mq_begin the frame is a transaction of its own
 * (BEGIN IMMEDIATE: the write lock is taken up front, so a busy database
 * fails at the start, never half way); inside, a SAVEPOINT, so that an
 * operation that fails rolls back only itself and the caller's group of
 * operations goes on.  Batch entries nest one more savepoint each.
 *
 * Ready hooks.  Operations note the queues they made receivable
 * (mq_note_ready); the notes are delivered after the COMMIT that made them
 * true, never before and never for a rolled-back transaction (a savepoint
 * that rolls back may leave a stale note: the hook then wakes a waiter for
 * nothing, which is harmless, where a missed wake-up would not be).
 * The same points drive the bus tail (bus_tail.c): events noted during a
 * transaction reach the rings after its COMMIT and are dropped when the
 * operation or the transaction rolls back; and the bus counters (mq->bs),
 * copied at each transaction and frame start and restored on rollback.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/md5.h>
#include <mbedtls/sha256.h>

#include "proto.h"

#include "mq_internal.h"

int mq_db_error(mq *m, lm_error *e, const char *what)
{
    return proto_error(e, LM_E_IO, "messaging store: %s: %s", what, sqlite3_errmsg(m->db));
}

mq *mq_create(sqlite3 *db, lm_error *e)
{
    if (db == NULL) {
        proto_error(e, LM_E_INTERNAL, "mq_create: no database");
        return NULL;
    }
    mq *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    m->db = db;
    return m;
}

void mq_destroy(mq *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->nsc; i++) {
        sqlite3_finalize(m->sc[i].st);
    }
    mq_topic_cache_free(m->topics);
    mq_bus_cache_free(m);
    mq_tail_free(m);
    free(m);
}

void mq_set_ready_hook(mq *m, mq_ready_fn fn, void *arg)
{
    m->ready = fn;
    m->ready_arg = arg;
}

void mq_set_invoke_hook(mq *m, mq_invoke_fn fn, void *arg)
{
    m->invoke = fn;
    m->invoke_arg = arg;
}

sqlite3_stmt *mq_stmt(mq *m, const char *sql, lm_error *e)
{
    for (size_t i = 0; i < m->nsc; i++) {
        if (m->sc[i].sql == sql) {
            sqlite3_reset(m->sc[i].st);
            sqlite3_clear_bindings(m->sc[i].st);
            return m->sc[i].st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(m->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        mq_db_error(m, e, "prepare");
        return NULL;
    }
    if (m->nsc == MQ_STMT_CACHE) {
        /* More statements than the cache was sized for: a bug, but not a
         * fatal one — drop the oldest. */
        sqlite3_finalize(m->sc[0].st);
        memmove(&m->sc[0], &m->sc[1], (MQ_STMT_CACHE - 1) * sizeof(m->sc[0]));
        m->nsc--;
    }
    m->sc[m->nsc].sql = sql;
    m->sc[m->nsc].st = st;
    m->nsc++;
    return st;
}

int mq_step(mq *m, sqlite3_stmt *st, lm_error *e)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        return 1;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        return 0;
    }
    mq_db_error(m, e, "step");
    return -1;
}

int mq_done(mq *m, sqlite3_stmt *st, lm_error *e)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return mq_db_error(m, e, "step");
    }
    return LM_OK;
}

int mq_exec(mq *m, const char *sql, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, sql, e);
    if (st == NULL) {
        return LM_E_IO;
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return mq_db_error(m, e, sql);
    }
    return LM_OK;
}

static void fire_ready(mq *m)
{
    mq_tail_commit(m);
    size_t n = m->npend;
    m->npend = 0;
    if (m->ready == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        m->ready(m->ready_arg, m->pend[i].name, m->pend[i].at);
    }
}

void mq_note_ready(mq *m, const char *queue, int64_t at)
{
    for (size_t i = 0; i < m->npend; i++) {
        if (strcmp(m->pend[i].name, queue) == 0) {
            if (at < m->pend[i].at) {
                m->pend[i].at = at;
            }
            return;
        }
    }
    if (m->npend == MQ_READY_MAX) {
        /* Full: fold it into the last note, whose queue is then woken
         * early (harmless) rather than this one missed.  Its own name is
         * lost, so wake everyone: an empty name means "any queue". */
        m->pend[MQ_READY_MAX - 1].name[0] = '\0';
        if (at < m->pend[MQ_READY_MAX - 1].at) {
            m->pend[MQ_READY_MAX - 1].at = at;
        }
        return;
    }
    mq_fmt(m->pend[m->npend].name, "%s", queue);
    m->pend[m->npend].at = at;
    m->npend++;
}

bool mq_in_transaction(const mq *m)
{
    return m->txn;
}

int mq_begin(mq *m, lm_error *e)
{
    if (m->txn) {
        return proto_error(e, LM_E_INTERNAL, "mq_begin: a transaction is already open");
    }
    if (mq_exec(m, "BEGIN IMMEDIATE", e) != LM_OK) {
        return LM_E_IO;
    }
    m->txn = true;
    m->npend = 0;
    mq_tail_truncate(m, 0);
    m->bs_tx = m->bs;
    return LM_OK;
}

int mq_commit(mq *m, lm_error *e)
{
    if (!m->txn) {
        return proto_error(e, LM_E_INTERNAL, "mq_commit: no transaction is open");
    }
    m->txn = false;
    if (mq_exec(m, "COMMIT", e) != LM_OK) {
        m->txn = true;
        mq_rollback(m);
        return LM_E_IO;
    }
    fire_ready(m);
    return LM_OK;
}

void mq_join(mq *m)
{
    m->txn = true;
    m->npend = 0;
    mq_tail_truncate(m, 0);
    m->bs_tx = m->bs;
}

void mq_leave(mq *m, bool committed)
{
    m->txn = false;
    if (committed) {
        fire_ready(m);
    } else {
        m->bs = m->bs_tx;
    }
    m->npend = 0;
    mq_tail_truncate(m, 0);
}

void mq_rollback(mq *m)
{
    if (m->txn) {
        m->txn = false;
        mq_exec(m, "ROLLBACK", NULL);
        m->bs = m->bs_tx;
    }
    m->npend = 0;
    mq_tail_truncate(m, 0);
    /* a topic cache built inside the transaction may describe
     * subscriptions that no longer exist */
    mq_topic_cache_free(m->topics);
    m->topics = NULL;
    m->ntopics = 0;
    mq_bus_cache_free(m);
}

int mq_op_begin(mq *m, lm_error *e)
{
    if (m->depth != 0) {
        return proto_error(e, LM_E_INTERNAL, "messaging: operation inside an operation");
    }
    if (m->txn) {
        if (mq_exec(m, "SAVEPOINT mq_op", e) != LM_OK) {
            return LM_E_IO;
        }
    } else {
        if (mq_exec(m, "BEGIN IMMEDIATE", e) != LM_OK) {
            return LM_E_IO;
        }
        m->npend = 0;
        mq_tail_truncate(m, 0);
    }
    m->depth = 1;
    m->tail_op_mark = mq_tail_mark(m);
    m->bs_op = m->bs;
    return LM_OK;
}

int mq_op_end(mq *m, int rc, lm_error *e)
{
    m->depth = 0;
    if (rc != LM_OK) { /* what the operation noted or counted never was */
        mq_tail_truncate(m, m->tail_op_mark);
        m->bs = m->bs_op;
    }
    if (m->txn) {
        if (rc != LM_OK) {
            mq_exec(m, "ROLLBACK TO mq_op", NULL);
        }
        if (mq_exec(m, "RELEASE mq_op", rc == LM_OK ? e : NULL) != LM_OK && rc == LM_OK) {
            return LM_E_IO;
        }
        return rc;
    }
    if (rc != LM_OK) {
        mq_exec(m, "ROLLBACK", NULL);
        m->npend = 0;
        return rc;
    }
    if (mq_exec(m, "COMMIT", e) != LM_OK) {
        mq_exec(m, "ROLLBACK", NULL);
        m->npend = 0;
        mq_tail_truncate(m, 0);
        m->bs = m->bs_op;
        return LM_E_IO;
    }
    fire_ready(m);
    return LM_OK;
}

int mq_sp_begin(mq *m, lm_error *e)
{
    return mq_exec(m, "SAVEPOINT mq_entry", e);
}

void mq_sp_end(mq *m, bool keep)
{
    if (!keep) {
        mq_exec(m, "ROLLBACK TO mq_entry", NULL);
    }
    mq_exec(m, "RELEASE mq_entry", NULL);
}

/* ---- helpers ---- */

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void mq_md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[16];
    mbedtls_md5_ret(p, n, d);
    hex(d, 16, out);
}

void mq_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    mbedtls_sha256_ret(p, n, d, 0);
    hex(d, 32, out);
}

void mq_iso8601(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[96]; /* room for any int the compiler imagines; the text is 24 */
    snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    snprintf(out, 32, "%.31s", t);
}

int mq_unbase64(const char *s, size_t len, unsigned char **out, size_t *n)
{
    size_t need = 0;
    *out = NULL;
    *n = 0;
    int rc = mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)s, len);
    if (rc != 0 && rc != MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) {
        return -1;
    }
    unsigned char *b = malloc(need + 1);
    if (b == NULL) {
        *n = SIZE_MAX;
        return -1;
    }
    if (mbedtls_base64_decode(b, need + 1, n, (const unsigned char *)s, len) != 0) {
        free(b);
        *n = 0;
        return -1;
    }
    *out = b;
    return 0;
}

char *mq_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

const char *mq_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

/* Is there a "\u0000" escape inside a string of s?  cJSON would decode it
 * to a NUL and every C string after it would be cut short. */
static bool has_nul_escape(const char *s, size_t len)
{
    bool in = false;
    for (size_t i = 0; i < len; i++) {
        if (!in) {
            in = s[i] == '"';
        } else if (s[i] == '"') {
            in = false;
        } else if (s[i] == '\\' && i + 1 < len) {
            if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0) {
                return true;
            }
            i++; /* the escaped character */
        }
    }
    return false;
}

cJSON *mq_json_parse(const char *s, size_t len, int code, const char *what, lm_error *e)
{
    size_t at = 0;
    const char *why = NULL;
    if (s == NULL || !proto_json_text_ok(s, len, &at, &why)) {
        proto_error(e, code, "%s is not JSON text (byte %zu: %s)", what, at,
                    why != NULL ? why : "missing");
        return NULL;
    }
    if (has_nul_escape(s, len)) {
        proto_error(e, code, "%s holds a \\u0000 escape", what);
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, len, &end, false);
    if (j == NULL) {
        size_t off = end != NULL && end >= s ? (size_t)(end - s) : 0;
        proto_error(e, code, "%s is not valid JSON (near byte %zu)", what, off);
        return NULL;
    }
    while (end < s + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) {
        end++;
    }
    if (end != s + len) {
        cJSON_Delete(j);
        proto_error(e, code, "%s has bytes after its JSON value (byte %zu)", what,
                    (size_t)(end - s));
        return NULL;
    }
    return j;
}

void mq_debug_steps(mq *m, int64_t *vm, int64_t *fullscan)
{
    int64_t a = 0, b = 0;
    for (size_t i = 0; i < m->nsc; i++) {
        a += sqlite3_stmt_status(m->sc[i].st, SQLITE_STMTSTATUS_VM_STEP, 0);
        b += sqlite3_stmt_status(m->sc[i].st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    }
    *vm = a;
    *fullscan = b;
}
