/*
 * broker/messaging/bus_archive.c — EventBridge-style archives and replays.
 *
 * Archives.  An archive belongs to one bus and has an optional event
 * pattern.  Every event that arrives on the bus (PutEvents, or a rule's bus
 * target) and matches is stored in mq_archive_events in the savepoint of
 * its put, so it is on disk in the same COMMIT that answers the put, or
 * not at all.  The bus cache (bus.c) holds the bus's archives with their
 * patterns compiled (mq_archives_load), so archiving costs one filter
 * match and one insert per archive, and no read; archive create and delete
 * change the bus's generation.  A failed store (ENOMEM, a full disk) is
 * dropped from the archive and never fails the put: the archive is a copy,
 * the put is what the caller asked for.
 *
 * Retention counts from when an event was archived (arrival_ms, broker
 * time).  An expired event is never replayed (the read skips it), and
 * mq_archive_sweep removes expired rows and the rows of deleted archives
 * (mq_archive_detached: delete runs in constant time, like streams'),
 * bounded per call; the messaging thread sweeps every 5 s and after a
 * test-clock advance.
 *
 * Replays.  mq_replay_start records a replay in state STARTING with its
 * range of event times [from, to], the rules it may deliver through
 * (FilterArns; all the bus's rules when absent) and end_seq, the archive's
 * newest event then: events archived later are not replayed.
 * mq_replay_run, called by the messaging thread while any replay is
 * active (mq_replay_active), sends up to `budget` events of the oldest
 * active replay in event-time order, each with "replay-name" added to its
 * envelope (as EventBridge does), through mq_bus_route_text, in one
 * transaction with the replay's position, so a crash neither loses nor
 * repeats a batch.  The replay is RUNNING from its first batch and
 * COMPLETED after its last; FAILED (StateReason) when its archive or bus
 * was deleted under it.  Replayed events are not archived again.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter.h"
#include "proto.h"

#include "mq_internal.h"

#define MQ_DAY_MS 86400000LL
#define MQ_REPLAY_KEEP_MS (90 * MQ_DAY_MS) /* finished replays are listed for 90 days */

struct mq_bus_archives {
    size_t n;
    struct {
        int64_t aid;
        filter *f; /* NULL: every event */
    } a[MQ_ARCHIVES_MAX];
};

/* ---- names, ARNs, times ---- */

static bool name_ok(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

static void archive_arn(const char *name, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:events:%s:%s:archive/%.48s", MQ_ARN_PARTITION, MQ_ARN_REGION,
             MQ_ARN_ACCOUNT, name);
}

static void replay_arn(const char *name, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:events:%s:%s:replay/%.64s", MQ_ARN_PARTITION, MQ_ARN_REGION,
             MQ_ARN_ACCOUNT, name);
}

/* A name or an ARN ending in /NAME (kind: "archive"): the name. */
static const char *ref_name(const char *ref, const char *kind)
{
    if (ref != NULL && strncmp(ref, "arn:", 4) == 0) {
        char k[24];
        snprintf(k, sizeof(k), ":%s/", kind);
        const char *p = strstr(ref, k);
        return p != NULL ? p + strlen(k) : ref;
    }
    return ref;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char t[32];
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, key, t);
}

static int64_t retention_cutoff(int days, int64_t now_ms)
{
    return days == 0 ? INT64_MIN : now_ms - (int64_t)days * MQ_DAY_MS;
}

static int touch_bus(mq *m, const char *bus, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "UPDATE mq_buses SET gen=random() WHERE name=?1", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_text(st, 1, bus, -1, SQLITE_STATIC);
    return mq_done(m, st, e);
}

/* 1 found (aid, bus, retention), 0 none (ResourceNotFoundException), <0 */
static int archive_find(mq *m, const char *name, int64_t *aid, char bus[MQ_BUS_NAME_MAX + 1],
                        int *days, lm_error *e)
{
    sqlite3_stmt *st =
        mq_stmt(m, "SELECT aid, bus, retention_days FROM mq_archives WHERE name=?1", e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r == 1) {
        *aid = sqlite3_column_int64(st, 0);
        snprintf(bus, MQ_BUS_NAME_MAX + 1, "%s", mq_col_text(st, 1));
        *days = sqlite3_column_int(st, 2);
        sqlite3_reset(st);
    } else if (r == 0) {
        char qb[96];
        proto_error(e, LM_E_NOT_FOUND, "Archive %s does not exist.", mq_q(qb, sizeof(qb), name));
    }
    return r;
}

/* ---- archives ---- */

/* CreateArchive's values, before the store is touched. */
static int archive_in_check(const mq_archive_in *in, lm_error *e)
{
    char qb[96];
    if (!name_ok(in->name, MQ_ARCHIVE_NAME_MAX)) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "ArchiveName %s must be 1-%d characters of [A-Za-z0-9._-]",
                           mq_q(qb, sizeof(qb), in->name), MQ_ARCHIVE_NAME_MAX);
    }
    if (in->retention_days < 0 || in->retention_days > MQ_RETENTION_DAYS_MAX) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "RetentionDays must be an integer from 0 (forever) to %d.",
                           MQ_RETENTION_DAYS_MAX);
    }
    if (in->description != NULL && strlen(in->description) > 512) {
        return proto_error(e, LM_E_EV_VALIDATION, "Description is at most 512 characters.");
    }
    if (in->pattern != NULL) {
        filter_error fe;
        filter *f = filter_compile(in->pattern, strlen(in->pattern), &fe);
        if (f == NULL) {
            return proto_error(e, LM_E_EV_INVALID_PATTERN, "Event pattern is not valid. Reason: %s",
                               fe.message);
        }
        filter_destroy(f);
    }
    return LM_OK;
}

/* The name is free and the store has room: LM_OK, or why not. */
static int archive_room(mq *m, const char *name, lm_error *e)
{
    char bus[MQ_BUS_NAME_MAX + 1];
    int64_t aid;
    int days;
    int r = archive_find(m, name, &aid, bus, &days, NULL);
    if (r != 0) {
        return r > 0 ? proto_error(e, LM_E_EV_ALREADY_EXISTS, "Archive %s already exists.", name)
                     : proto_error(e, LM_E_IO, "messaging: cannot read the archives");
    }
    sqlite3_stmt *st = mq_stmt(m, "SELECT count(*) FROM mq_archives", e);
    if (st == NULL || mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n < MQ_ARCHIVES_MAX
               ? LM_OK
               : proto_error(e, LM_E_LIMIT_EXCEEDED, "At most %d archives.", MQ_ARCHIVES_MAX);
}

int mq_archive_create(mq *m, const mq_archive_in *in, int64_t now_ms, char arn[MQ_ARN_MAX],
                      lm_error *e)
{
    int rc = archive_in_check(in, e);
    if (rc != LM_OK || (rc = mq_op_begin(m, e)) != LM_OK) {
        return rc;
    }
    char bus[MQ_BUS_NAME_MAX + 1];
    rc = mq_bus_name(m, in->bus, bus, e);
    if (rc == LM_OK) {
        rc = archive_room(m, in->name, e);
    }
    sqlite3_stmt *st = NULL;
    if (rc == LM_OK) {
        st = mq_stmt(m,
                     "INSERT INTO mq_archives(name, bus, pattern, description, retention_days, "
                     "created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                     e);
        rc = st != NULL ? LM_OK : LM_E_IO;
    }
    if (rc == LM_OK) {
        sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, bus, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, in->pattern, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, in->description != NULL ? in->description : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, in->retention_days);
        sqlite3_bind_int64(st, 6, now_ms);
        rc = mq_done(m, st, e);
    }
    if (rc == LM_OK) {
        rc = touch_bus(m, bus, e); /* the bus cache holds its archives */
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK && arn != NULL) {
        archive_arn(in->name, arn);
    }
    return rc;
}

/* Detach archive aid: its row goes now, its events with the sweep. */
static int archive_detach(mq *m, int64_t aid, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "INSERT OR IGNORE INTO mq_archive_detached(aid) VALUES(?1)", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, aid);
    int rc = mq_done(m, st, e);
    if (rc == LM_OK && (st = mq_stmt(m, "DELETE FROM mq_archives WHERE aid=?1", e)) == NULL) {
        rc = LM_E_IO;
    }
    if (rc == LM_OK) {
        sqlite3_bind_int64(st, 1, aid);
        rc = mq_done(m, st, e);
    }
    return rc;
}

int mq_archive_delete(mq *m, const char *ref, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    char bus[MQ_BUS_NAME_MAX + 1];
    int64_t aid;
    int days;
    int r = archive_find(m, ref_name(ref, "archive"), &aid, bus, &days, e);
    rc = r == 1 ? LM_OK : r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
    if (rc == LM_OK) {
        rc = archive_detach(m, aid, e);
    }
    if (rc == LM_OK) {
        rc = touch_bus(m, bus, e);
    }
    return mq_op_end(m, rc, e);
}

int mq_archives_detach_bus(mq *m, const char *bname, lm_error *e)
{
    for (;;) { /* one at a time: detaching uses other statements */
        sqlite3_stmt *st = mq_stmt(m, "SELECT aid FROM mq_archives WHERE bus=?1 LIMIT 1", e);
        if (st == NULL) {
            return LM_E_IO;
        }
        sqlite3_bind_text(st, 1, bname, -1, SQLITE_STATIC);
        int r = mq_step(m, st, e);
        if (r <= 0) {
            return r == 0 ? LM_OK : LM_E_IO;
        }
        int64_t aid = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        int rc = archive_detach(m, aid, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
}

static cJSON *archive_json(sqlite3_stmt *st)
{
    char arn[MQ_ARN_MAX], barn[MQ_ARN_MAX];
    archive_arn(mq_col_text(st, 0), arn);
    mq_bus_arn(mq_col_text(st, 1), barn);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ArchiveName", mq_col_text(st, 0));
    cJSON_AddStringToObject(o, "ArchiveArn", arn);
    cJSON_AddStringToObject(o, "EventSourceArn", barn);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        cJSON_AddStringToObject(o, "EventPattern", mq_col_text(st, 2));
    }
    cJSON_AddStringToObject(o, "Description", mq_col_text(st, 3));
    cJSON_AddStringToObject(o, "State", "ENABLED");
    cJSON_AddNumberToObject(o, "RetentionDays", sqlite3_column_int(st, 4));
    add_time(o, "CreationTime", sqlite3_column_int64(st, 5));
    cJSON_AddNumberToObject(o, "EventCount", (double)sqlite3_column_int64(st, 6));
    cJSON_AddNumberToObject(o, "SizeBytes", (double)sqlite3_column_int64(st, 7));
    return o;
}

/* name NULL: the archives of bus (NULL: all) as a list; else that one. */
static cJSON *archives_read(mq *m, const char *name, const char *bus, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT name, bus, pattern, description, retention_days, "
                               "created_ms, n_events, n_bytes FROM mq_archives WHERE (?1 IS "
                               "NULL OR name=?1) AND (?2 IS NULL OR bus=?2) ORDER BY name",
                               e);
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, bus, -1, SQLITE_STATIC);
    cJSON *a = cJSON_CreateArray();
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        cJSON_AddItemToArray(a, archive_json(st));
    }
    if (r < 0 || name == NULL) {
        if (r < 0) {
            cJSON_Delete(a);
            return NULL;
        }
        return a;
    }
    cJSON *one = cJSON_DetachItemFromArray(a, 0);
    cJSON_Delete(a);
    if (one == NULL) {
        char qb[96];
        proto_error(e, LM_E_NOT_FOUND, "Archive %s does not exist.", mq_q(qb, sizeof(qb), name));
    }
    return one;
}

cJSON *mq_archive_get(mq *m, const char *ref, lm_error *e)
{
    const char *name = ref_name(ref, "archive");
    return archives_read(m, name != NULL ? name : "", NULL, e);
}

cJSON *mq_archive_list(mq *m, const char *bus, lm_error *e)
{
    char name[MQ_BUS_NAME_MAX + 1];
    if (bus != NULL && mq_bus_name(m, bus, name, e) != LM_OK) {
        return NULL;
    }
    return archives_read(m, NULL, bus != NULL ? name : NULL, e);
}

/* ---- archiving (the put's savepoint) ---- */

void mq_archives_free(mq_bus_archives *a)
{
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        filter_destroy(a->a[i].f);
    }
    free(a);
}

int mq_archives_load(mq *m, const char *bname, mq_bus_archives **out, lm_error *e)
{
    *out = NULL;
    sqlite3_stmt *st = mq_stmt(m, "SELECT aid, pattern FROM mq_archives WHERE bus=?1", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_text(st, 1, bname, -1, SQLITE_STATIC);
    mq_bus_archives *a = NULL;
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        if (a == NULL && (a = calloc(1, sizeof(*a))) == NULL) {
            sqlite3_reset(st);
            return proto_error(e, LM_E_NOMEM, NULL);
        }
        if (a->n == MQ_ARCHIVES_MAX) {
            continue;
        }
        filter_error fe;
        const char *p = mq_col_text(st, 1);
        a->a[a->n].aid = sqlite3_column_int64(st, 0);
        a->a[a->n].f =
            sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : filter_compile(p, strlen(p), &fe);
        if (sqlite3_column_type(st, 1) != SQLITE_NULL && a->a[a->n].f == NULL) {
            continue; /* checked at create: only ENOMEM or an engine change */
        }
        a->n++;
    }
    if (r < 0) {
        mq_archives_free(a);
        return LM_E_IO;
    }
    *out = a;
    return LM_OK;
}

void mq_archives_store(mq *m, const mq_bus_archives *a, const char *text, int64_t t_ms,
                       int64_t now_ms)
{
    size_t len = strlen(text);
    for (size_t i = 0; i < a->n; i++) {
        filter_error fe;
        if (a->a[i].f != NULL && filter_match(a->a[i].f, text, len, &fe) != 1) {
            continue;
        }
        lm_error e;
        if (mq_sp_begin(m, &e) != LM_OK) {
            return;
        }
        sqlite3_stmt *st = mq_stmt(m,
                                   "INSERT INTO mq_archive_events(aid, time_ms, arrival_ms, "
                                   "event) VALUES(?1, ?2, ?3, ?4)",
                                   &e);
        int rc = st != NULL ? LM_OK : LM_E_IO;
        if (rc == LM_OK) {
            sqlite3_bind_int64(st, 1, a->a[i].aid);
            sqlite3_bind_int64(st, 2, t_ms);
            sqlite3_bind_int64(st, 3, now_ms);
            sqlite3_bind_text(st, 4, text, (int)len, SQLITE_STATIC);
            rc = mq_done(m, st, &e);
        }
        st = rc == LM_OK ? mq_stmt(m,
                                   "UPDATE mq_archives SET n_events=n_events+1, "
                                   "n_bytes=n_bytes+?2 WHERE aid=?1",
                                   &e)
                         : NULL;
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, a->a[i].aid);
            sqlite3_bind_int64(st, 2, (int64_t)len);
            rc = mq_done(m, st, &e);
        }
        rc = rc == LM_OK && st != NULL ? LM_OK : LM_E_IO;
        mq_sp_end(m, rc == LM_OK);
        m->bs.archived += rc == LM_OK;
    }
}

/* ---- the sweep ---- */

/* Bind aid, cut, limit to ?1, ?2, ?3 of st and run it: LM_OK or LM_E_IO.
 * A parameter st does not have is left out (SQLITE_RANGE, harmless). */
static int run_aid(mq *m, sqlite3_stmt *st, int64_t aid, int64_t cut, size_t limit, lm_error *e)
{
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, aid);
    sqlite3_bind_int64(st, 2, cut);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    return mq_done(m, st, e);
}

/* Up to *left expired events of archive aid: counters first, from the rows
 * about to go, then the rows. */
static int sweep_expired(mq *m, int64_t aid, int64_t cut, size_t *left, lm_error *e)
{
    int rc = run_aid(m,
                     mq_stmt(m,
                             "UPDATE mq_archives SET (n_events, n_bytes) = (SELECT n_events - "
                             "count(*), n_bytes - coalesce(sum(length(event)), 0) FROM (SELECT "
                             "event FROM mq_archive_events WHERE aid=?1 AND arrival_ms<?2 ORDER "
                             "BY arrival_ms LIMIT ?3)) WHERE aid=?1",
                             e),
                     aid, cut, *left, e);
    if (rc == LM_OK) {
        rc = run_aid(m,
                     mq_stmt(m,
                             "DELETE FROM mq_archive_events WHERE seq IN (SELECT seq FROM "
                             "mq_archive_events WHERE aid=?1 AND arrival_ms<?2 ORDER BY "
                             "arrival_ms LIMIT ?3)",
                             e),
                     aid, cut, *left, e);
    }
    if (rc == LM_OK) {
        size_t k = (size_t)sqlite3_changes(m->db);
        *left -= k < *left ? k : *left;
    }
    return rc;
}

/* Events of detached archives, up to *left; an archive whose rows are all
 * gone leaves mq_archive_detached. */
static int sweep_detached(mq *m, size_t *left, lm_error *e)
{
    int rc = LM_OK;
    while (rc == LM_OK && *left > 0) { /* one archive at a time */
        sqlite3_stmt *st = mq_stmt(m, "SELECT aid FROM mq_archive_detached LIMIT 1", e);
        int r = st != NULL ? mq_step(m, st, e) : -1;
        if (r <= 0) {
            return r < 0 ? LM_E_IO : LM_OK;
        }
        int64_t aid = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        rc = run_aid(m,
                     mq_stmt(m,
                             "DELETE FROM mq_archive_events WHERE seq IN (SELECT seq FROM "
                             "mq_archive_events WHERE aid=?1 LIMIT ?3)",
                             e),
                     aid, 0, *left, e);
        size_t k = rc == LM_OK ? (size_t)sqlite3_changes(m->db) : 0;
        if (rc == LM_OK && k < *left) { /* all gone */
            rc = run_aid(m, mq_stmt(m, "DELETE FROM mq_archive_detached WHERE aid=?1", e), aid, 0,
                         0, e);
        }
        *left -= k < *left ? k : *left;
    }
    return rc;
}

/* Remove up to budget rows: expired events of archives with a retention,
 * then the events of detached archives; and replays finished 90 days ago.
 * *more: rows may remain. */
int mq_archive_sweep(mq *m, int64_t now_ms, size_t budget, bool *more, lm_error *e)
{
    *more = false;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    sqlite3_stmt *st =
        mq_stmt(m, "SELECT aid, retention_days FROM mq_archives WHERE retention_days > 0", e);
    rc = st != NULL ? LM_OK : LM_E_IO;
    int64_t aids[MQ_ARCHIVES_MAX];
    int days[MQ_ARCHIVES_MAX];
    size_t n = 0;
    while (rc == LM_OK && n < MQ_ARCHIVES_MAX && mq_step(m, st, e) == 1) {
        aids[n] = sqlite3_column_int64(st, 0);
        days[n++] = sqlite3_column_int(st, 1);
    }
    if (st != NULL) {
        sqlite3_reset(st);
    }
    size_t left = budget;
    for (size_t i = 0; rc == LM_OK && i < n && left > 0; i++) {
        rc = sweep_expired(m, aids[i], retention_cutoff(days[i], now_ms), &left, e);
    }
    if (rc == LM_OK) {
        rc = sweep_detached(m, &left, e);
    }
    if (rc == LM_OK) { /* finished replays are kept 90 days */
        rc = run_aid(m, mq_stmt(m, "DELETE FROM mq_replays WHERE ended_ms < ?2", e), 0,
                     now_ms - MQ_REPLAY_KEEP_MS, 0, e);
    }
    *more = rc == LM_OK && left == 0;
    return mq_op_end(m, rc, e);
}

/* ---- replays ---- */

/* A FilterArns entry (a rule name, or a rule ARN: …:rule/NAME on the
 * default bus, …:rule/BUS/NAME on another) to the name of a rule of bus. */
static int rule_ref(const char *ref, const char *bus, char name[MQ_RULE_NAME_MAX + 1], lm_error *e)
{
    char qb[96];
    const char *p = ref;
    if (strncmp(ref, "arn:", 4) == 0) {
        p = strstr(ref, ":rule/");
        if (p == NULL) {
            return proto_error(e, LM_E_EV_VALIDATION, "FilterArns: %s is not a rule ARN.",
                               mq_q(qb, sizeof(qb), ref));
        }
        p += strlen(":rule/");
        const char *slash = strrchr(p, '/');
        size_t blen = slash != NULL ? (size_t)(slash - p) : strlen("default");
        const char *b = slash != NULL ? p : "default";
        if (blen != strlen(bus) || strncmp(b, bus, blen) != 0) {
            return proto_error(e, LM_E_EV_VALIDATION,
                               "FilterArns: %s is not a rule of the archive's event bus.",
                               mq_q(qb, sizeof(qb), ref));
        }
        p = slash != NULL ? slash + 1 : p;
    }
    if (strlen(p) == 0 || strlen(p) > MQ_RULE_NAME_MAX) {
        return proto_error(e, LM_E_EV_VALIDATION, "FilterArns: %s is not a rule name.",
                           mq_q(qb, sizeof(qb), ref));
    }
    snprintf(name, MQ_RULE_NAME_MAX + 1, "%s", p);
    return LM_OK;
}

/* The rule names of FilterArns (rule ARNs of bus, or names) as a JSON
 * array text in *out (NULL when rules is NULL); each must exist on bus. */
static int replay_rules(mq *m, const char *bus, const cJSON *rules, char **out, lm_error *e)
{
    *out = NULL;
    if (rules == NULL || cJSON_IsNull(rules)) {
        return LM_OK;
    }
    int n = cJSON_IsArray(rules) ? cJSON_GetArraySize(rules) : -1;
    if (n < 1 || n > 100) {
        return proto_error(e, LM_E_EV_VALIDATION, "FilterArns must be a list of 1-100 rules.");
    }
    cJSON *names = cJSON_CreateArray();
    const cJSON *v;
    cJSON_ArrayForEach(v, rules)
    {
        if (!cJSON_IsString(v)) {
            cJSON_Delete(names);
            return proto_error(e, LM_E_EV_VALIDATION, "FilterArns must be rule ARNs or names.");
        }
        char name[MQ_RULE_NAME_MAX + 1];
        if (rule_ref(v->valuestring, bus, name, e) != LM_OK) {
            cJSON_Delete(names);
            return e->code;
        }
        cJSON *g = mq_rule_get(m, bus, name, e);
        if (g == NULL) {
            cJSON_Delete(names);
            return e->code;
        }
        cJSON_Delete(g);
        cJSON_AddItemToArray(names, cJSON_CreateString(name));
    }
    *out = cJSON_PrintUnformatted(names);
    cJSON_Delete(names);
    return *out != NULL ? LM_OK : proto_error(e, LM_E_NOMEM, NULL);
}

static int replay_insert(mq *m, const mq_replay_in *in, int64_t aid, const char *bus,
                         const char *rules, int64_t now_ms, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO mq_replays(name, archive, aid, bus, from_ms, to_ms, "
                               "rules, state, cur_time, cur_seq, end_seq, started_ms) "
                               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'STARTING', ?5, -1, "
                               "(SELECT coalesce(max(seq), 0) FROM mq_archive_events), ?8)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ref_name(in->archive, "archive"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, aid);
    sqlite3_bind_text(st, 4, bus, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, in->from_ms);
    sqlite3_bind_int64(st, 6, in->to_ms);
    sqlite3_bind_text(st, 7, rules, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now_ms);
    return mq_done(m, st, e);
}

/* The one integer sql returns (?1 bound to arg when not NULL), or -1. */
static int64_t count_of(mq *m, const char *sql, const char *arg, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, sql, e);
    if (st == NULL) {
        return -1;
    }
    if (arg != NULL) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    }
    if (mq_step(m, st, e) != 1) {
        return -1;
    }
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

int mq_replay_start(mq *m, const mq_replay_in *in, int64_t now_ms, char arn[MQ_ARN_MAX],
                    lm_error *e)
{
    char qb[96];
    if (!name_ok(in->name, MQ_REPLAY_NAME_MAX)) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "ReplayName %s must be 1-%d characters of [A-Za-z0-9._-]",
                           mq_q(qb, sizeof(qb), in->name), MQ_REPLAY_NAME_MAX);
    }
    if (in->from_ms < 0 || in->to_ms < 0 || in->from_ms >= in->to_ms) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "EventStartTime must be before EventEndTime (RFC 3339 UTC or epoch "
                           "seconds).");
    }
    if (in->to_ms > now_ms) {
        return proto_error(e, LM_E_EV_VALIDATION, "EventEndTime must not be in the future.");
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    char bus[MQ_BUS_NAME_MAX + 1], *rules = NULL;
    int64_t aid;
    int days;
    int r = archive_find(m, ref_name(in->archive, "archive"), &aid, bus, &days, e);
    rc = r == 1 ? LM_OK : r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
    int64_t have =
        rc == LM_OK ? count_of(m, "SELECT count(*) FROM mq_replays WHERE name=?1", in->name, e) : 0;
    int64_t active = rc == LM_OK ? count_of(m,
                                            "SELECT count(*) FROM mq_replays WHERE state IN "
                                            "('STARTING', 'RUNNING')",
                                            NULL, e)
                                 : 0;
    if (rc == LM_OK && (have < 0 || active < 0)) {
        rc = LM_E_IO;
    } else if (rc == LM_OK && have > 0) {
        rc = proto_error(e, LM_E_EV_ALREADY_EXISTS, "Replay %s already exists.", in->name);
    } else if (rc == LM_OK && active >= MQ_REPLAYS_ACTIVE_MAX) {
        rc = proto_error(e, LM_E_LIMIT_EXCEEDED, "At most %d replays run at once.",
                         MQ_REPLAYS_ACTIVE_MAX);
    }
    if (rc == LM_OK) {
        rc = replay_rules(m, bus, in->rules, &rules, e);
    }
    if (rc == LM_OK) {
        rc = replay_insert(m, in, aid, bus, rules, now_ms, e);
    }
    free(rules);
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK && arn != NULL) {
        replay_arn(in->name, arn);
    }
    return rc;
}

static cJSON *replay_json(sqlite3_stmt *st)
{
    char arn[MQ_ARN_MAX], src[MQ_ARN_MAX], dst[MQ_ARN_MAX];
    replay_arn(mq_col_text(st, 0), arn);
    archive_arn(mq_col_text(st, 1), src);
    mq_bus_arn(mq_col_text(st, 2), dst);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ReplayName", mq_col_text(st, 0));
    cJSON_AddStringToObject(o, "ReplayArn", arn);
    cJSON_AddStringToObject(o, "EventSourceArn", src);
    cJSON *d = cJSON_AddObjectToObject(o, "Destination");
    cJSON_AddStringToObject(d, "Arn", dst);
    if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
        cJSON *names = cJSON_Parse(mq_col_text(st, 5)),
              *arns = cJSON_AddArrayToObject(d, "FilterArns");
        const cJSON *v;
        cJSON_ArrayForEach(v, names)
        {
            char ra[MQ_ARN_MAX];
            mq_rule_arn(mq_col_text(st, 2), v->valuestring, ra);
            cJSON_AddItemToArray(arns, cJSON_CreateString(ra));
        }
        cJSON_Delete(names);
    }
    cJSON_AddStringToObject(o, "State", mq_col_text(st, 6));
    if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
        cJSON_AddStringToObject(o, "StateReason", mq_col_text(st, 12));
    }
    add_time(o, "EventStartTime", sqlite3_column_int64(st, 3));
    add_time(o, "EventEndTime", sqlite3_column_int64(st, 4));
    if (sqlite3_column_int64(st, 9) > 0) {
        add_time(o, "EventLastReplayedTime", sqlite3_column_int64(st, 7));
    }
    add_time(o, "ReplayStartTime", sqlite3_column_int64(st, 10));
    if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
        add_time(o, "ReplayEndTime", sqlite3_column_int64(st, 11));
    }
    cJSON_AddNumberToObject(o, "EventsReplayed", (double)sqlite3_column_int64(st, 9));
    cJSON_AddNumberToObject(o, "Deliveries", (double)sqlite3_column_int64(st, 8));
    return o;
}

static cJSON *replays_read(mq *m, const char *name, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT name, archive, bus, from_ms, to_ms, rules, state, "
                               "cur_time, n_delivered, n_replayed, started_ms, ended_ms, reason "
                               "FROM mq_replays WHERE ?1 IS NULL OR name=?1 ORDER BY started_ms, "
                               "name",
                               e);
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    cJSON *a = cJSON_CreateArray();
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        cJSON_AddItemToArray(a, replay_json(st));
    }
    if (r < 0) {
        cJSON_Delete(a);
        return NULL;
    }
    if (name == NULL) {
        return a;
    }
    cJSON *one = cJSON_DetachItemFromArray(a, 0);
    cJSON_Delete(a);
    if (one == NULL) {
        char qb[96];
        proto_error(e, LM_E_NOT_FOUND, "Replay %s does not exist.", mq_q(qb, sizeof(qb), name));
    }
    return one;
}

cJSON *mq_replay_get(mq *m, const char *ref, lm_error *e)
{
    const char *name = ref_name(ref, "replay");
    return replays_read(m, name != NULL ? name : "", e);
}

cJSON *mq_replay_list(mq *m, lm_error *e)
{
    return replays_read(m, NULL, e);
}

bool mq_replay_active(mq *m)
{
    lm_error e;
    return count_of(m,
                    "SELECT count(*) FROM (SELECT 1 FROM mq_replays WHERE state IN ('STARTING', "
                    "'RUNNING') LIMIT 1)",
                    NULL, &e) > 0;
}

typedef struct replay_row {
    char name[MQ_REPLAY_NAME_MAX + 1];
    char bus[MQ_BUS_NAME_MAX + 1];
    int64_t aid, to_ms, cur_time, cur_seq, end_seq, cutoff;
    cJSON *rules;
} replay_row;

/* Send the next event of w (advancing its position): 1 sent, 0 none left. */
static int replay_next(mq *m, replay_row *w, int64_t now_ms, size_t *delivered, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT seq, time_ms, event FROM mq_archive_events WHERE aid=?1 "
                               "AND (time_ms, seq) > (?2, ?3) AND time_ms <= ?4 AND seq <= ?5 "
                               "AND arrival_ms >= ?6 ORDER BY time_ms, seq LIMIT 1",
                               e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, w->aid);
    sqlite3_bind_int64(st, 2, w->cur_time);
    sqlite3_bind_int64(st, 3, w->cur_seq);
    sqlite3_bind_int64(st, 4, w->to_ms);
    sqlite3_bind_int64(st, 5, w->end_seq);
    sqlite3_bind_int64(st, 6, w->cutoff);
    int r = mq_step(m, st, e);
    if (r <= 0) {
        return r;
    }
    w->cur_seq = sqlite3_column_int64(st, 0);
    w->cur_time = sqlite3_column_int64(st, 1);
    cJSON *ev = cJSON_Parse(mq_col_text(st, 2));
    sqlite3_reset(st);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    if (!cJSON_IsString(id)) { /* never stored so: skip it */
        cJSON_Delete(ev);
        return 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "replay-name");
    cJSON_AddStringToObject(ev, "replay-name", w->name);
    char *text = cJSON_PrintUnformatted(ev);
    mq_event_out out;
    memset(&out, 0, sizeof(out));
    int rc = text != NULL ? LM_OK : proto_error(e, LM_E_NOMEM, NULL);
    if (rc == LM_OK) {
        m->replaying = true;
        rc = mq_bus_route_text(m, w->bus, id->valuestring, text, w->rules, now_ms, &out, e);
        m->replaying = false;
    }
    free(text);
    cJSON_Delete(ev);
    *delivered += out.delivered;
    m->bs.replayed += rc == LM_OK;
    return rc == LM_OK ? 1 : rc == LM_E_NOT_FOUND ? -2 : -1;
}

static int replay_save(mq *m, const replay_row *w, const char *state, const char *reason,
                       size_t sent, size_t delivered, int64_t now_ms, lm_error *e)
{
    bool done = strcmp(state, "RUNNING") != 0;
    sqlite3_stmt *st = mq_stmt(m,
                               "UPDATE mq_replays SET state=?2, cur_time=?3, cur_seq=?4, "
                               "n_replayed=n_replayed+?5, n_delivered=n_delivered+?6, "
                               "ended_ms=?7, reason=?8 WHERE name=?1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_text(st, 1, w->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, w->cur_time);
    sqlite3_bind_int64(st, 4, w->cur_seq);
    sqlite3_bind_int64(st, 5, (int64_t)sent);
    sqlite3_bind_int64(st, 6, (int64_t)delivered);
    if (done) {
        sqlite3_bind_int64(st, 7, now_ms);
    }
    sqlite3_bind_text(st, 8, reason, -1, SQLITE_STATIC);
    return mq_done(m, st, e);
}

/* The oldest active replay into w: 1, 0 none, <0. */
static int replay_load(mq *m, replay_row *w, int64_t now_ms, bool *archive_gone, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT r.name, r.bus, r.aid, r.to_ms, r.cur_time, r.cur_seq, "
                               "r.end_seq, r.rules, a.retention_days, a.aid IS NULL FROM "
                               "mq_replays r LEFT JOIN mq_archives a ON a.aid=r.aid WHERE "
                               "r.state IN ('STARTING', 'RUNNING') ORDER BY r.started_ms, "
                               "r.name LIMIT 1",
                               e);
    int r = st != NULL ? mq_step(m, st, e) : -1;
    if (r <= 0) {
        return r;
    }
    memset(w, 0, sizeof(*w));
    snprintf(w->name, sizeof(w->name), "%s", mq_col_text(st, 0));
    snprintf(w->bus, sizeof(w->bus), "%s", mq_col_text(st, 1));
    w->aid = sqlite3_column_int64(st, 2);
    w->to_ms = sqlite3_column_int64(st, 3);
    w->cur_time = sqlite3_column_int64(st, 4);
    w->cur_seq = sqlite3_column_int64(st, 5);
    w->end_seq = sqlite3_column_int64(st, 6);
    w->rules = sqlite3_column_type(st, 7) != SQLITE_NULL ? cJSON_Parse(mq_col_text(st, 7)) : NULL;
    w->cutoff = retention_cutoff(sqlite3_column_int(st, 8), now_ms);
    *archive_gone = sqlite3_column_int(st, 9) != 0;
    sqlite3_reset(st);
    return 1;
}

int mq_replay_run(mq *m, int64_t now_ms, size_t budget, size_t *sent, lm_error *e)
{
    size_t local = 0;
    sent = sent != NULL ? sent : &local;
    *sent = 0;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    replay_row w;
    bool gone = false;
    int r = replay_load(m, &w, now_ms, &gone, e);
    if (r <= 0) {
        return mq_op_end(m, r < 0 ? LM_E_IO : LM_OK, e);
    }
    size_t delivered = 0;
    const char *state = "RUNNING", *reason = NULL;
    if (gone) {
        state = "FAILED";
        reason = "The archive was deleted.";
    }
    while (!gone && *sent < budget) {
        int k = replay_next(m, &w, now_ms, &delivered, e);
        if (k == 0) {
            state = "COMPLETED";
            break;
        }
        if (k == -2) {
            state = "FAILED";
            reason = "The destination event bus was deleted.";
            break;
        }
        if (k < 0) {
            rc = LM_E_IO;
            break;
        }
        (*sent)++;
    }
    if (rc == LM_OK) {
        rc = replay_save(m, &w, state, reason, *sent, delivered, now_ms, e);
    }
    cJSON_Delete(w.rules);
    return mq_op_end(m, rc, e);
}
