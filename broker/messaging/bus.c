/*
 * broker/messaging/bus.c — EventBridge-style event buses: buses, rules
 * with event patterns, targets (functions and queues), and PutEvents with
 * its routing.
 *
 * Routing cost.  Each bus row carries a generation that every rule or
 * target change replaces with a random value (as policy.c does for
 * topics).  The instance caches, per bus, ONE filter_set holding the
 * pattern of every enabled rule that has targets, with the rules' targets
 * resolved; it is rebuilt only when the generation read in the
 * PutEvents' transaction differs.  So an event costs one indexed read of
 * its bus row plus one filter_set match, whatever the number of rules,
 * and is matched once, not once per rule.  mq_rollback drops the cache
 * (a rolled-back change must not leave a cache of what never was).
 *
 * Delivery.  Each PutEvents entry runs in a savepoint; each of its target
 * deliveries in a nested one, so a failing delivery (queue gone, message
 * too large, no invoke hook) rolls back only itself and is counted in
 * mq_event_out.failed; everything else commits with the caller's
 * transaction (group commit on the messaging thread): PutEvents is
 * answered after one commit holding every matched target's delivery.
 *
 * The envelope is EventBridge's: {"version":"0","id","detail-type",
 * "source","account","time" (RFC 3339 UTC, seconds),"region",
 * "resources","detail"}.  A target without Input gets the envelope; with
 * Input, that JSON text.  A function target's event is the same text.
 * A FIFO queue target carries its SqsParameters.MessageGroupId
 * (mq_targets.group_id); its messages use that group and the event id as
 * the deduplication id.
 *
 * Arrival.  Every event that arrives on a bus (PutEvents, a bus target;
 * arrive()) is noted for the tail (bus_tail.c) and stored in the bus's
 * archives (bus_archive.c, from the same cache entry) inside the put's
 * savepoint, before its rules route it.
 *
 * PutTargets checks and stores each target on its own (a savepoint each)
 * and reports the ones it left out, as EventBridge; DeleteRule refuses a
 * rule that has targets unless forced.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter.h"
#include "lib/sched.h"
#include "proto.h"

#include "mq_internal.h"

#define MQ_BUS_CACHE_MAX 16

typedef enum bus_kind { BUS_T_FUNCTION, BUS_T_QUEUE, BUS_T_TOPIC, BUS_T_BUS } bus_kind;

typedef struct bus_target {
    bus_kind kind;
    char ref[MQ_ARN_MAX]; /* queue, topic or bus name, or function NAME[:QUALIFIER] */
    char *input; /* Input text or NULL */
    char *input_path; /* InputPath or NULL */
    cJSON *paths; /* InputTransformer.InputPathsMap or NULL */
    char *tmpl; /* InputTransformer.InputTemplate or NULL */
    char arn[MQ_ARN_MAX]; /* as given (DLQ attribute TARGET_ARN) */
    int max_retries, max_age_s;
    char dlq[MQ_QUEUE_NAME_MAX + 1]; /* "" without one */
    char group[MQ_GROUP_ID_MAX + 1]; /* FIFO queue: SqsParameters.MessageGroupId, else "" */
} bus_target;

typedef struct bus_rule {
    int64_t rid;
    char name[MQ_RULE_NAME_MAX + 1];
    char arn[MQ_ARN_MAX];
    size_t nt;
    bus_target t[MQ_TARGETS_MAX];
} bus_rule;

typedef struct mq_bus_cache {
    struct mq_bus_cache *next;
    int64_t bid, gen;
    mq_bus_archives *arch; /* bus_archive.c: the bus's archives, compiled (NULL: none) */
    filter_set *set;
    bus_rule *rules; /* pattern index -> rule */
    size_t n, cap;
    uint32_t *scratch;
} mq_bus_cache;

/* ---- names and ARNs ---- */

static bool name_ok(const char *s, size_t max, bool slash)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || (slash && c == '/');
        if (!ok) {
            return false;
        }
    }
    return true;
}

void mq_bus_arn(const char *name, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:events:%s:%s:event-bus/%.256s", MQ_ARN_PARTITION,
             MQ_ARN_REGION, MQ_ARN_ACCOUNT, name);
}

void mq_rule_arn(const char *bus, const char *rule, char out[MQ_ARN_MAX])
{
    if (bus == NULL || strcmp(bus, "default") == 0) {
        snprintf(out, MQ_ARN_MAX, "arn:%s:events:%s:%s:rule/%.64s", MQ_ARN_PARTITION, MQ_ARN_REGION,
                 MQ_ARN_ACCOUNT, rule);
    } else {
        snprintf(out, MQ_ARN_MAX, "arn:%s:events:%s:%s:rule/%.256s/%.64s", MQ_ARN_PARTITION,
                 MQ_ARN_REGION, MQ_ARN_ACCOUNT, bus, rule);
    }
}

/* NULL/"" → default; an events ARN → its name.  ValidationException. */
static int bus_ref(const char *ref, char name[MQ_BUS_NAME_MAX + 1], lm_error *e)
{
    if (ref == NULL || ref[0] == '\0') {
        ref = "default";
    }
    if (strncmp(ref, "arn:", 4) == 0) {
        const char *p = strstr(ref, ":event-bus/");
        if (p == NULL || strstr(ref, ":events:") == NULL) {
            char qb[96];
            return proto_error(e, LM_E_EV_VALIDATION, "EventBusName %s is not an event bus ARN",
                               mq_q(qb, sizeof(qb), ref));
        }
        ref = p + strlen(":event-bus/");
    }
    if (!name_ok(ref, MQ_BUS_NAME_MAX, true)) {
        char qb[96];
        return proto_error(e, LM_E_EV_VALIDATION,
                           "EventBusName %s must be 1-256 characters of [A-Za-z0-9._/-]",
                           mq_q(qb, sizeof(qb), ref));
    }
    snprintf(name, MQ_BUS_NAME_MAX + 1, "%s", ref);
    return LM_OK;
}

/* 1 found (bid, gen, n_rules), 0 none (ResourceNotFoundException), <0 */
static int bus_load(mq *m, const char *name, int64_t *bid, int64_t *gen, int64_t *nrules,
                    lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT bid, gen, n_rules FROM mq_buses WHERE name=?1", e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r == 1) {
        *bid = sqlite3_column_int64(st, 0);
        *gen = sqlite3_column_int64(st, 1);
        if (nrules != NULL) {
            *nrules = sqlite3_column_int64(st, 2);
        }
        sqlite3_reset(st);
    } else if (r == 0) {
        char qb[96];
        proto_error(e, LM_E_NOT_FOUND, "Event bus %s does not exist.", mq_q(qb, sizeof(qb), name));
    }
    return r;
}

static int bus_open(mq *m, const char *ref, char name[MQ_BUS_NAME_MAX + 1], int64_t *bid,
                    int64_t *gen, int64_t *nrules, lm_error *e)
{
    int rc = bus_ref(ref, name, e);
    if (rc != LM_OK) {
        return rc;
    }
    int r = bus_load(m, name, bid, gen, nrules, e);
    return r == 1 ? LM_OK : r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
}

int mq_bus_name(mq *m, const char *ref, char name[MQ_BUS_NAME_MAX + 1], lm_error *e)
{
    int64_t bid, gen;
    return bus_open(m, ref, name, &bid, &gen, NULL, e);
}

static int exec_id(mq *m, const char *sql, int64_t id, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, sql, e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, id);
    return mq_done(m, st, e);
}

static int bus_touch(mq *m, int64_t bid, lm_error *e)
{
    return exec_id(m, "UPDATE mq_buses SET gen=random() WHERE bid=?1", bid, e);
}

static int targets_count(mq *m, int64_t rid, int64_t *n, lm_error *e);

/* ---- buses ---- */

int mq_bus_create(mq *m, const char *name, int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e)
{
    if (!name_ok(name, MQ_BUS_NAME_MAX, true)) {
        char qb[96];
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Name %s must be 1-256 characters of [A-Za-z0-9._/-]",
                           mq_q(qb, sizeof(qb), name));
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    int64_t bid, gen;
    int r = bus_load(m, name, &bid, &gen, NULL, NULL);
    sqlite3_stmt *st = NULL;
    if (r == 1) {
        rc = proto_error(e, LM_E_EV_ALREADY_EXISTS, "Event bus %s already exists.", name);
    } else if (r < 0) {
        rc = proto_error(e, LM_E_IO, "messaging: cannot read the buses");
    } else if ((st = mq_stmt(m, "SELECT count(*) FROM mq_buses", e)) == NULL ||
               mq_step(m, st, e) != 1) {
        rc = LM_E_IO;
    } else {
        int64_t n = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (n > MQ_BUSES_MAX) { /* custom buses besides "default" */
            rc = proto_error(e, LM_E_LIMIT_EXCEEDED, "At most %d event buses.", MQ_BUSES_MAX);
        }
    }
    if (rc == LM_OK) {
        st = mq_stmt(m, "INSERT INTO mq_buses(name, created_ms) VALUES(?1, ?2)", e);
        rc = st != NULL ? LM_OK : LM_E_IO;
    }
    if (rc == LM_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms);
        rc = mq_done(m, st, e);
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK && arn != NULL) {
        mq_bus_arn(name, arn);
    }
    return rc;
}

int mq_bus_delete(mq *m, const char *bus, lm_error *e)
{
    char name[MQ_BUS_NAME_MAX + 1];
    int64_t bid, gen;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = bus_open(m, bus, name, &bid, &gen, NULL, e);
    if (rc == LM_OK && strcmp(name, "default") == 0) {
        rc = proto_error(e, LM_E_EV_VALIDATION, "Cannot delete event bus default.");
    }
    if (rc == LM_OK) {
        rc = exec_id(m,
                     "DELETE FROM mq_targets WHERE rid IN (SELECT rid FROM mq_rules WHERE bid=?1)",
                     bid, e);
    }
    if (rc == LM_OK) {
        rc = exec_id(m, "DELETE FROM mq_rules WHERE bid=?1", bid, e);
    }
    if (rc == LM_OK) {
        rc = mq_archives_detach_bus(m, name, e);
    }
    if (rc == LM_OK) {
        rc = exec_id(m, "DELETE FROM mq_buses WHERE bid=?1", bid, e);
    }
    return mq_op_end(m, rc, e);
}

cJSON *mq_bus_list(mq *m, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT name FROM mq_buses ORDER BY name", e);
    cJSON *a = st != NULL ? cJSON_CreateArray() : NULL;
    if (a == NULL) {
        return NULL;
    }
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        char arn[MQ_ARN_MAX];
        mq_bus_arn(mq_col_text(st, 0), arn);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Name", mq_col_text(st, 0));
        cJSON_AddStringToObject(o, "Arn", arn);
        cJSON_AddItemToArray(a, o);
    }
    if (r < 0) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* ---- rules ---- */

static int rule_name_check(const char *rule, lm_error *e)
{
    if (!name_ok(rule, MQ_RULE_NAME_MAX, false)) {
        char qb[96];
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Rule name %s must be 1-64 characters of [A-Za-z0-9._-]",
                           mq_q(qb, sizeof(qb), rule));
    }
    return LM_OK;
}

/* 1 found (*rid), 0 none (ResourceNotFoundException), <0 */
static int rule_find(mq *m, int64_t bid, const char *rule, int64_t *rid, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT rid FROM mq_rules WHERE bid=?1 AND name=?2", e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, bid);
    sqlite3_bind_text(st, 2, rule, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r == 1) {
        *rid = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    } else if (r == 0) {
        char qb[96];
        proto_error(e, LM_E_NOT_FOUND, "Rule %s does not exist.", mq_q(qb, sizeof(qb), rule));
    }
    return r;
}

static int pattern_check(const char *pattern, lm_error *e)
{
    if (pattern == NULL) {
        return proto_error(e, LM_E_EV_VALIDATION, "EventPattern is required.");
    }
    filter_error fe;
    filter *f = filter_compile(pattern, strlen(pattern), &fe);
    if (f == NULL) {
        return proto_error(e, LM_E_EV_INVALID_PATTERN, "Event pattern is not valid. Reason: %s",
                           fe.message);
    }
    filter_destroy(f);
    return LM_OK;
}

int mq_rule_put(mq *m, const char *bus, const char *name, const char *pattern, bool enabled,
                int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e)
{
    int rc = rule_name_check(name, e);
    if (rc == LM_OK) {
        rc = pattern_check(pattern, e);
    }
    if (rc != LM_OK || (rc = mq_op_begin(m, e)) != LM_OK) {
        return rc;
    }
    char bname[MQ_BUS_NAME_MAX + 1];
    int64_t bid, gen, nrules, rid;
    rc = bus_open(m, bus, bname, &bid, &gen, &nrules, e);
    int found = rc == LM_OK ? rule_find(m, bid, name, &rid, NULL) : 0;
    sqlite3_stmt *st = NULL;
    if (rc == LM_OK && found < 0) {
        rc = proto_error(e, LM_E_IO, "messaging: cannot read the rules");
    } else if (rc == LM_OK && found == 0 && nrules >= MQ_RULES_MAX) {
        rc = proto_error(e, LM_E_LIMIT_EXCEEDED, "At most %d rules per event bus.", MQ_RULES_MAX);
    } else if (rc == LM_OK) {
        st = mq_stmt(m,
                     "INSERT INTO mq_rules(bid, name, pattern, enabled, created_ms) "
                     "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(bid, name) DO UPDATE SET "
                     "pattern=excluded.pattern, enabled=excluded.enabled",
                     e);
        rc = st != NULL ? LM_OK : LM_E_IO;
    }
    if (rc == LM_OK) {
        sqlite3_bind_int64(st, 1, bid);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, pattern, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, enabled ? 1 : 0);
        sqlite3_bind_int64(st, 5, now_ms);
        rc = mq_done(m, st, e);
    }
    if (rc == LM_OK && found == 0) {
        rc = exec_id(m, "UPDATE mq_buses SET n_rules=n_rules+1 WHERE bid=?1", bid, e);
    }
    if (rc == LM_OK) {
        rc = bus_touch(m, bid, e);
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK && arn != NULL) {
        mq_rule_arn(bname, name, arn);
    }
    return rc;
}

int mq_rule_delete(mq *m, const char *bus, const char *rule, bool force, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    char bname[MQ_BUS_NAME_MAX + 1];
    int64_t bid, gen, rid;
    rc = bus_open(m, bus, bname, &bid, &gen, NULL, e);
    if (rc == LM_OK) {
        int r = rule_find(m, bid, rule, &rid, e);
        rc = r == 1 ? LM_OK : r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
    }
    int64_t have = 0;
    if (rc == LM_OK && !force && (rc = targets_count(m, rid, &have, e)) == LM_OK && have > 0) {
        rc = proto_error(e, LM_E_EV_VALIDATION, "Rule can't be deleted since it has targets.");
    }
    if (rc == LM_OK) {
        rc = exec_id(m, "DELETE FROM mq_targets WHERE rid=?1", rid, e);
    }
    if (rc == LM_OK) {
        rc = exec_id(m, "DELETE FROM mq_rules WHERE rid=?1", rid, e);
    }
    if (rc == LM_OK) {
        rc = exec_id(m, "UPDATE mq_buses SET n_rules=n_rules-1 WHERE bid=?1", bid, e);
    }
    if (rc == LM_OK) {
        rc = bus_touch(m, bid, e);
    }
    return mq_op_end(m, rc, e);
}

/* ---- targets ---- */

/* A target ARN to what delivery needs: a queue (sqs ARN), a topic (sns
 * ARN), a bus (events ARN …:event-bus/NAME) or a function (function ARN,
 * or a bare NAME[:QUALIFIER]). */
static int target_resolve(const char *arn, bus_target *t, lm_error *e)
{
    lm_error le;
    bool is_arn = strncmp(arn, "arn:", 4) == 0;
    if (is_arn && strstr(arn, ":sns:") != NULL) {
        char name[MQ_TOPIC_NAME_MAX + 1], sub[64];
        if (mq_topic_ref(arn, name, sub, &le) != LM_OK || sub[0] != '\0') {
            return proto_error(e, LM_E_EV_VALIDATION, "Target Arn: not a topic ARN");
        }
        t->kind = BUS_T_TOPIC;
        snprintf(t->ref, sizeof(t->ref), "%s", name);
        return LM_OK;
    }
    if (is_arn && strstr(arn, ":events:") != NULL) {
        char name[MQ_BUS_NAME_MAX + 1];
        if (strstr(arn, ":event-bus/") == NULL || bus_ref(arn, name, e) != LM_OK) {
            return proto_error(e, LM_E_EV_VALIDATION, "Target Arn: not an event bus ARN");
        }
        t->kind = BUS_T_BUS;
        snprintf(t->ref, sizeof(t->ref), "%s", name);
        return LM_OK;
    }
    if (strncmp(arn, "arn:", 4) == 0 && strstr(arn, ":sqs:") != NULL) {
        char q[MQ_QUEUE_NAME_MAX + 1];
        if (mq_queue_ref(arn, q, &le) != LM_OK) {
            return proto_error(e, LM_E_EV_VALIDATION, "Target Arn: %s", le.message);
        }
        t->kind = BUS_T_QUEUE;
        snprintf(t->ref, sizeof(t->ref), "%s", q);
        return LM_OK;
    }
    char fn[65], qual[129];
    if (mq_function_ref(arn, fn, qual, &le) != LM_OK) {
        char qb[96];
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Target Arn %s is not a function or queue ARN (or a function name)",
                           mq_q(qb, sizeof(qb), arn));
    }
    t->kind = BUS_T_FUNCTION;
    snprintf(t->ref, sizeof(t->ref), "%s%s%s", fn, qual[0] != '\0' ? ":" : "", qual);
    return LM_OK;
}

typedef struct target_in {
    const char *id, *arn, *input, *input_path, *tmpl;
    const char *group; /* SqsParameters.MessageGroupId or NULL */
    int max_retries, max_age_s;
    char dlq[MQ_QUEUE_NAME_MAX + 1];
    char *paths; /* InputPathsMap as JSON text (malloc'd) or NULL */
} target_in;

/* InputPath and InputTransformer of o into t (after Input). */
static int transform_check(const cJSON *o, target_in *t, lm_error *e)
{
    const cJSON *ip = cJSON_GetObjectItemCaseSensitive(o, "InputPath");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "InputTransformer");
    ip = cJSON_IsNull(ip) ? NULL : ip;
    tr = cJSON_IsNull(tr) ? NULL : tr;
    if ((t->input != NULL) + (ip != NULL) + (tr != NULL) > 1) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Only one of Input, InputPath and InputTransformer per target.");
    }
    if (ip != NULL) {
        if (!cJSON_IsString(ip) || !mq_jsonpath_ok(ip->valuestring)) {
            return proto_error(e, LM_E_EV_VALIDATION,
                               "InputPath must be $ followed by .KEY or [N] steps.");
        }
        t->input_path = ip->valuestring;
    }
    if (tr == NULL) {
        return LM_OK;
    }
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(tr, "InputTemplate");
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(tr, "InputPathsMap");
    if (!cJSON_IsObject(tr) || !cJSON_IsString(tp) || strlen(tp->valuestring) > MQ_INPUT_MAX) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "InputTransformer needs an InputTemplate string of at most %d bytes.",
                           MQ_INPUT_MAX);
    }
    if (pm != NULL && !cJSON_IsNull(pm)) {
        int n = cJSON_IsObject(pm) ? cJSON_GetArraySize(pm) : -1;
        bool ok = n >= 0 && n <= MQ_INPUT_PATHS_MAX;
        for (const cJSON *v = ok ? pm->child : NULL; v != NULL && ok; v = v->next) {
            ok = cJSON_IsString(v) && mq_jsonpath_ok(v->valuestring) &&
                 name_ok(v->string, MQ_TARGET_ID_MAX, false) && strncmp(v->string, "aws.", 4) != 0;
        }
        if (!ok) {
            return proto_error(e, LM_E_EV_VALIDATION,
                               "InputPathsMap must map at most %d names [A-Za-z0-9._-] to paths.",
                               MQ_INPUT_PATHS_MAX);
        }
        t->paths = cJSON_PrintUnformatted(pm);
        if (t->paths == NULL) {
            return proto_error(e, LM_E_NOMEM, NULL);
        }
    }
    t->tmpl = tp->valuestring;
    return LM_OK;
}

/* One element of Targets checked: Id, Arn, Input (JSON text). */
static int target_check(const cJSON *o, const char **id, const char **arn, const char **input,
                        lm_error *e)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, "Id");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "Arn");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "Input");
    if (!cJSON_IsObject(o) || !cJSON_IsString(i) || !cJSON_IsString(a)) {
        return proto_error(e, LM_E_EV_VALIDATION, "Each target needs a string Id and Arn.");
    }
    if (!name_ok(i->valuestring, MQ_TARGET_ID_MAX, false)) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Target Id must be 1-64 characters of [A-Za-z0-9._-]");
    }
    *id = i->valuestring;
    *arn = a->valuestring;
    *input = NULL;
    if (in != NULL && !cJSON_IsNull(in)) {
        if (!cJSON_IsString(in) || strlen(in->valuestring) > MQ_INPUT_MAX) {
            return proto_error(e, LM_E_EV_VALIDATION,
                               "Target Input must be JSON text of at most %d bytes", MQ_INPUT_MAX);
        }
        cJSON *j =
            mq_json_parse(in->valuestring, strlen(in->valuestring), LM_E_EV_VALIDATION, "Input", e);
        if (j == NULL) {
            return LM_E_EV_VALIDATION;
        }
        cJSON_Delete(j);
        *input = in->valuestring;
    }
    return LM_OK;
}

/* RetryPolicy and DeadLetterConfig of o into t. */
static int retry_check(const cJSON *o, target_in *t, lm_error *e)
{
    t->max_retries = MQ_RETRY_DEFAULT;
    t->max_age_s = MQ_EVENT_AGE_MAX;
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(o, "RetryPolicy");
    if (cJSON_IsObject(rp)) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(rp, "MaximumRetryAttempts");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(rp, "MaximumEventAgeInSeconds");
        if (a != NULL && (!cJSON_IsNumber(a) || a->valuedouble != (int)a->valuedouble ||
                          a->valueint < 0 || a->valueint > MQ_RETRY_DEFAULT)) {
            return proto_error(e, LM_E_EV_VALIDATION,
                               "MaximumRetryAttempts must be an integer from 0 to %d.",
                               MQ_RETRY_DEFAULT);
        }
        if (g != NULL && (!cJSON_IsNumber(g) || g->valuedouble != (int)g->valuedouble ||
                          g->valueint < MQ_EVENT_AGE_MIN || g->valueint > MQ_EVENT_AGE_MAX)) {
            return proto_error(e, LM_E_EV_VALIDATION,
                               "MaximumEventAgeInSeconds must be an integer from %d to %d.",
                               MQ_EVENT_AGE_MIN, MQ_EVENT_AGE_MAX);
        }
        t->max_retries = a != NULL ? a->valueint : t->max_retries;
        t->max_age_s = g != NULL ? g->valueint : t->max_age_s;
    } else if (rp != NULL && !cJSON_IsNull(rp)) {
        return proto_error(e, LM_E_EV_VALIDATION, "RetryPolicy must be an object.");
    }
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(o, "DeadLetterConfig");
    if (dl != NULL && !cJSON_IsNull(dl)) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(dl, "Arn");
        lm_error le;
        if (!cJSON_IsString(a) || strstr(a->valuestring, ":sqs:") == NULL ||
            mq_queue_ref(a->valuestring, t->dlq, &le) != LM_OK) {
            return proto_error(e, LM_E_EV_VALIDATION, "DeadLetterConfig.Arn must be a queue ARN.");
        }
        size_t n = strlen(t->dlq);
        if (n > 5 && strcmp(t->dlq + n - 5, ".fifo") == 0) {
            return proto_error(e, LM_E_EV_VALIDATION,
                               "DeadLetterConfig.Arn must be a standard queue, not a FIFO queue.");
        }
    }
    return LM_OK;
}

/* SqsParameters: required of a FIFO queue target (as EventBridge), refused
 * on any other target. */
static int sqs_check(const cJSON *o, const bus_target *bt, target_in *t, lm_error *e)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "SqsParameters");
    sp = cJSON_IsNull(sp) ? NULL : sp;
    size_t n = strlen(bt->ref);
    bool fifo = bt->kind == BUS_T_QUEUE && n > 5 && strcmp(bt->ref + n - 5, ".fifo") == 0;
    if (sp == NULL) {
        return fifo ? proto_error(e, LM_E_EV_VALIDATION,
                                  "Parameter(s) SqsParameters must be specified for target: %s.",
                                  t->id)
                    : LM_OK;
    }
    if (!fifo) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "SqsParameters apply only to a FIFO queue target (target %s).", t->id);
    }
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(sp, "MessageGroupId");
    if (!cJSON_IsObject(sp) || !cJSON_IsString(g) ||
        !mq_valid_group_id(g->valuestring, strlen(g->valuestring))) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "SqsParameters.MessageGroupId must be 1-%d printable ASCII characters.",
                           MQ_GROUP_ID_MAX);
    }
    t->group = g->valuestring;
    return LM_OK;
}

static int target_in_check(const cJSON *o, target_in *t, lm_error *e)
{
    memset(t, 0, sizeof(*t));
    bus_target bt;
    int rc = target_check(o, &t->id, &t->arn, &t->input, e);
    if (rc == LM_OK) {
        rc = target_resolve(t->arn, &bt, e);
    }
    if (rc == LM_OK) {
        rc = sqs_check(o, &bt, t, e);
    }
    if (rc == LM_OK) {
        rc = transform_check(o, t, e);
    }
    if (rc == LM_OK) {
        rc = retry_check(o, t, e);
    }
    if (rc == LM_OK && bt.kind == BUS_T_BUS &&
        (t->input != NULL || t->input_path != NULL || t->tmpl != NULL)) {
        rc = proto_error(e, LM_E_EV_VALIDATION,
                         "A bus target gets the event itself: no Input, InputPath or "
                         "InputTransformer.");
    }
    return rc;
}

static int target_store(mq *m, int64_t rid, const target_in *t, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT OR REPLACE INTO mq_targets(rid, id, arn, input, input_path, "
                               "paths, template, max_retries, max_age_s, dlq, group_id) "
                               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_text(st, 2, t->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->input, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->input_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, t->paths, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, t->tmpl, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, t->max_retries);
    sqlite3_bind_int(st, 9, t->max_age_s);
    sqlite3_bind_text(st, 10, t->dlq[0] != '\0' ? t->dlq : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, t->group, -1, SQLITE_STATIC);
    return mq_done(m, st, e);
}

static int targets_count(mq *m, int64_t rid, int64_t *n, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT count(*) FROM mq_targets WHERE rid=?1", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, rid);
    if (mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return LM_OK;
}

/* One target of a PutTargets request in a savepoint of its own: stored, or
 * its failure recorded in f[*nf]. */
static int target_put_one(mq *m, int64_t rid, const cJSON *o, mq_target_fail *f, size_t *nf,
                          lm_error *e)
{
    target_in t;
    lm_error te;
    int rc = target_in_check(o, &t, &te);
    if (rc == LM_OK) {
        rc = mq_sp_begin(m, &te);
        if (rc == LM_OK) {
            rc = target_store(m, rid, &t, &te);
            mq_sp_end(m, rc == LM_OK);
        }
        if (rc != LM_OK) { /* the store failed, not the target: fail the request */
            free(t.paths);
            *e = te;
            return rc;
        }
    }
    free(t.paths);
    if (rc != LM_OK) {
        mq_target_fail *x = &f[(*nf)++];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "Id");
        snprintf(x->id, sizeof(x->id), "%s", cJSON_IsString(id) ? id->valuestring : "");
        x->err = te;
    }
    return LM_OK;
}

int mq_targets_put(mq *m, const char *bus, const char *rule, const cJSON *targets,
                   mq_target_fail *failed, size_t *nfailed, lm_error *e)
{
    int n = cJSON_IsArray(targets) ? cJSON_GetArraySize(targets) : -1;
    *nfailed = 0;
    if (n < 1 || n > MQ_TARGETS_MAX) {
        return proto_error(e, LM_E_EV_VALIDATION, "Targets must be a list of 1-%d targets.",
                           MQ_TARGETS_MAX);
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    char bname[MQ_BUS_NAME_MAX + 1];
    int64_t bid, gen, rid = 0, have = 0;
    rc = bus_open(m, bus, bname, &bid, &gen, NULL, e);
    if (rc == LM_OK) {
        int r = rule_find(m, bid, rule, &rid, e);
        rc = r == 1 ? LM_OK : r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
    }
    for (const cJSON *o = targets->child; rc == LM_OK && o != NULL; o = o->next) {
        rc = target_put_one(m, rid, o, failed, nfailed, e);
    }
    if (rc == LM_OK) {
        rc = targets_count(m, rid, &have, e);
    }
    if (rc == LM_OK && have > MQ_TARGETS_MAX) {
        rc = proto_error(e, LM_E_LIMIT_EXCEEDED, "A rule has at most %d targets.", MQ_TARGETS_MAX);
    }
    if (rc == LM_OK) {
        rc = bus_touch(m, bid, e);
    }
    return mq_op_end(m, rc, e);
}

/* ---- the per-bus cache ---- */

static void target_free(bus_target *t);

static void cache_entry_free(mq_bus_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        for (size_t k = 0; k < c->rules[i].nt; k++) {
            target_free(&c->rules[i].t[k]);
        }
    }
    free(c->rules);
    free(c->scratch);
    filter_set_destroy(c->set);
    mq_archives_free(c->arch);
    free(c);
}

void mq_bus_cache_free(mq *m)
{
    while (m->buses != NULL) {
        mq_bus_cache *n = m->buses->next;
        cache_entry_free(m->buses);
        m->buses = n;
    }
}

/* Append a rule (its pattern compiled) to c: its index in the set. */
static bus_rule *cache_rule(mq_bus_cache *c, const char *bname, const char *name,
                            const char *pattern, int64_t rid)
{
    if (c->n == c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 16;
        bus_rule *r = realloc(c->rules, cap * sizeof(*r));
        uint32_t *s = realloc(c->scratch, cap * sizeof(*s));
        if (r != NULL) {
            c->rules = r;
        }
        if (s != NULL) {
            c->scratch = s;
        }
        if (r == NULL || s == NULL) {
            return NULL;
        }
        c->cap = cap;
    }
    filter_error fe;
    if (filter_set_add(c->set, pattern, strlen(pattern), &fe) < 0) {
        return NULL; /* checked by PutRule; only ENOMEM or an engine change */
    }
    bus_rule *r = &c->rules[c->n++];
    memset(r, 0, sizeof(*r));
    r->rid = rid;
    snprintf(r->name, sizeof(r->name), "%s", name);
    mq_rule_arn(bname, name, r->arn);
    return r;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        return NULL;
    }
    const char *s = mq_col_text(st, i);
    return mq_strndup(s, strlen(s));
}

/* A target from a row whose columns from c are arn, input, input_path,
 * paths, template, max_retries, max_age_s, dlq, group_id. */
static bool target_load(sqlite3_stmt *st, int c, bus_target *t)
{
    memset(t, 0, sizeof(*t));
    if (target_resolve(mq_col_text(st, c), t, NULL) != LM_OK) {
        return false;
    }
    t->input = col_dup(st, c + 1);
    t->input_path = col_dup(st, c + 2);
    t->paths =
        sqlite3_column_type(st, c + 3) == SQLITE_NULL ? NULL : cJSON_Parse(mq_col_text(st, c + 3));
    t->tmpl = col_dup(st, c + 4);
    snprintf(t->arn, sizeof(t->arn), "%s", mq_col_text(st, c));
    t->max_retries = sqlite3_column_int(st, c + 5);
    t->max_age_s = sqlite3_column_int(st, c + 6);
    snprintf(t->dlq, sizeof(t->dlq), "%s", mq_col_text(st, c + 7));
    snprintf(t->group, sizeof(t->group), "%s", mq_col_text(st, c + 8));
    return true;
}

static void target_free(bus_target *t)
{
    free(t->input);
    free(t->input_path);
    cJSON_Delete(t->paths);
    free(t->tmpl);
}

static mq_bus_cache *cache_load(mq *m, int64_t bid, int64_t gen, const char *bname, lm_error *e)
{
    mq_bus_cache *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->set = filter_set_create()) == NULL) {
        cache_entry_free(c);
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    c->bid = bid;
    c->gen = gen;
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT r.rid, r.name, r.pattern, t.arn, t.input, t.input_path, "
                               "t.paths, t.template, t.max_retries, t.max_age_s, "
                               "coalesce(t.dlq, ''), coalesce(t.group_id, '') FROM mq_rules r "
                               "JOIN mq_targets t ON t.rid=r.rid WHERE r.bid=?1 AND r.enabled=1 "
                               "AND r.pattern IS NOT NULL ORDER BY r.rid, t.id",
                               e);
    if (st == NULL) {
        cache_entry_free(c);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, bid);
    int r;
    bus_rule *cur = NULL;
    while ((r = mq_step(m, st, e)) == 1) {
        int64_t rid = sqlite3_column_int64(st, 0);
        if (cur == NULL || cur->rid != rid) {
            cur = cache_rule(c, bname, mq_col_text(st, 1), mq_col_text(st, 2), rid);
            if (cur == NULL) {
                sqlite3_reset(st);
                cache_entry_free(c);
                proto_error(e, LM_E_NOMEM, NULL);
                return NULL;
            }
        }
        if (cur->nt < MQ_TARGETS_MAX && target_load(st, 3, &cur->t[cur->nt])) {
            cur->nt++;
        }
    }
    if (r < 0) {
        cache_entry_free(c);
        return NULL;
    }
    if (mq_archives_load(m, bname, &c->arch, e) != LM_OK) {
        cache_entry_free(c);
        return NULL;
    }
    return c;
}

static mq_bus_cache *cache_get(mq *m, int64_t bid, int64_t gen, const char *bname, lm_error *e)
{
    size_t count = 0;
    for (mq_bus_cache **p = &m->buses; *p != NULL; p = &(*p)->next, count++) {
        mq_bus_cache *c = *p;
        if (c->bid == bid) {
            *p = c->next;
            if (c->gen == gen) {
                c->next = m->buses; /* most recently used first */
                m->buses = c;
                return c;
            }
            cache_entry_free(c);
            count = 0;
            break;
        }
    }
    mq_bus_cache *c = cache_load(m, bid, gen, bname, e);
    if (c == NULL) {
        return NULL;
    }
    c->next = m->buses;
    m->buses = c;
    /* keep at most MQ_BUS_CACHE_MAX: drop the least recently used, but
     * never while a route is running (bus targets: an outer bus's cache
     * is in use) */
    size_t k = 0;
    for (mq_bus_cache *p = m->bus_depth == 0 ? m->buses : NULL; p != NULL; p = p->next, k++) {
        if (k + 1 == MQ_BUS_CACHE_MAX && p->next != NULL) {
            mq_bus_cache *rest = p->next;
            p->next = NULL;
            while (rest != NULL) {
                mq_bus_cache *n = rest->next;
                cache_entry_free(rest);
                rest = n;
            }
            break;
        }
    }
    (void)count;
    return c;
}

/* ---- PutEvents ---- */

static void rfc3339(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A string member of o, 1..max bytes: *out, or a per-entry error. */
static int entry_str(const cJSON *o, const char *key, size_t max, bool required, const char **out,
                     lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        return required ? proto_error(e, LM_E_EV_VALIDATION, "Parameter %s is required.", key)
                        : LM_OK;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max ||
        (required && v->valuestring[0] == '\0')) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Parameter %s is not valid: a string of 1-%zu characters.", key, max);
    }
    *out = v->valuestring;
    return LM_OK;
}

static cJSON *envelope(const char *id, const char *source, const char *dtype,
                       const cJSON *resources, cJSON *detail, int64_t now_ms)
{
    char t[32];
    rfc3339(now_ms, t);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", "0");
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "detail-type", dtype);
    cJSON_AddStringToObject(o, "source", source);
    cJSON_AddStringToObject(o, "account", MQ_ARN_ACCOUNT);
    cJSON_AddStringToObject(o, "time", t);
    cJSON_AddStringToObject(o, "region", MQ_ARN_REGION);
    cJSON_AddItemToObject(
        o, "resources", resources != NULL ? cJSON_Duplicate(resources, true) : cJSON_CreateArray());
    cJSON_AddItemToObject(o, "detail", detail);
    return o;
}

/* What target t receives of the event (text, parsed ev): malloc'd. */
static char *target_input(const bus_rule *r, const bus_target *t, const char *text, const cJSON *ev)
{
    if (t->input != NULL) {
        return mq_strndup(t->input, strlen(t->input));
    }
    if (t->input_path != NULL) {
        const cJSON *v = mq_jsonpath_get(ev, t->input_path);
        return v != NULL ? cJSON_PrintUnformatted(v) : mq_strndup("null", 4);
    }
    if (t->tmpl != NULL) {
        return mq_input_transform(ev, t->paths, t->tmpl, r->name, r->arn);
    }
    return mq_strndup(text, strlen(text));
}

static int deliver_body(mq *m, const bus_rule *r, const bus_target *t, const char *bus_arn,
                        const char *id, const char *body, int64_t now_ms, lm_error *e);
static int route_on(mq *m, const char *bname, const char *id, const char *text, int64_t now_ms,
                    int hops, mq_event_out *out, lm_error *e);

static int deliver(mq *m, const bus_rule *r, const bus_target *t, const char *bus_arn,
                   const char *id, const char *text, const cJSON *ev, int64_t now_ms, int hops,
                   lm_error *e)
{
    if (t->kind == BUS_T_BUS) {
        if (hops >= MQ_BUS_HOPS_MAX) {
            return proto_error(e, LM_E_LIMIT_EXCEEDED,
                               "The event crossed %d buses: dropped (a loop?)", MQ_BUS_HOPS_MAX);
        }
        mq_event_out inner;
        memset(&inner, 0, sizeof(inner));
        return route_on(m, t->ref, id, text, now_ms, hops + 1, &inner, e);
    }
    char *body = target_input(r, t, text, ev);
    if (body == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    int rc = deliver_body(m, r, t, bus_arn, id, body, now_ms, e);
    free(body);
    return rc;
}

static int deliver_body(mq *m, const bus_rule *r, const bus_target *t, const char *bus_arn,
                        const char *id, const char *body, int64_t now_ms, lm_error *e)
{
    if (t->kind == BUS_T_TOPIC) {
        mq_publish_in in = {.message = body, .len = strlen(body)};
        mq_published pub;
        return mq_publish_within(m, t->ref, &in, now_ms, &pub, e);
    }
    if (t->kind == BUS_T_QUEUE) {
        mq_queue q;
        int rc = mq_q_open(m, t->ref, now_ms, &q, e);
        if (rc != LM_OK) {
            return rc;
        }
        /* a FIFO target: the target's group, the event id as the
         * deduplication id (a retry or a replay of one event is one message) */
        mq_send_entry en = {.body = body,
                            .body_len = strlen(body),
                            .delay_s = -1,
                            .group_id = q.fifo ? t->group : NULL,
                            .dedup_id = q.fifo ? id : NULL};
        mq_sent sent;
        memset(&sent, 0, sizeof(sent));
        rc = mq_send_into(m, &q, &en, &sent, e);
        return rc == LM_OK ? mq_q_save(m, &q, e) : rc;
    }
    if (m->invoke == NULL) {
        return proto_error(e, LM_E_INTERNAL, "no invoke hook: function targets fail");
    }
    char fn[65], qual[129], fn_arn[MQ_ARN_MAX];
    int rc = mq_function_ref(t->ref, fn, qual, e);
    if (rc != LM_OK) {
        return rc;
    }
    mq_function_arn(fn, qual, fn_arn);
    mq_delivery d = {.function = fn,
                     .qualifier = qual,
                     .function_arn = fn_arn,
                     .subscription_arn = r->arn,
                     .topic_arn = bus_arn,
                     .message_id = id,
                     .event = body,
                     .event_len = strlen(body)};
    return m->invoke(m->invoke_arg, &d, e);
}

/* ---- retries ---- */

static int64_t backoff_ms(int attempts)
{
    int64_t d = MQ_BUS_BACKOFF_FIRST_MS;
    for (int i = 1; i < attempts && d < MQ_BUS_BACKOFF_MAX_MS; i++) {
        d *= 2;
    }
    return d < MQ_BUS_BACKOFF_MAX_MS ? d : MQ_BUS_BACKOFF_MAX_MS;
}

typedef struct retry_row {
    int64_t did;
    bus_target t; /* kind, ref, arn, dlq */
    char rule_arn[MQ_ARN_MAX], bus_arn[MQ_ARN_MAX], event_id[37];
    const char *body;
    int attempts;
    int64_t first_ms, max_age_ms;
} retry_row;

/* The DLQ message of a delivery out of attempts: the input as the body,
 * EventBridge's four attributes.  Dropped (false) without a DLQ or when
 * the DLQ refuses it. */
static bool dead_letter(mq *m, const retry_row *w, const lm_error *why, int64_t now_ms)
{
    if (w->t.dlq[0] == '\0') {
        return false;
    }
    cJSON *a = cJSON_CreateObject();
    const char *k[] = {"ERROR_CODE", "ERROR_MESSAGE", "RULE_ARN", "TARGET_ARN"};
    const char *v[] = {why->type[0] != '\0' ? why->type : "InternalException",
                       why->message[0] != '\0' ? why->message : "delivery failed", w->rule_arn,
                       w->t.arn};
    for (int i = 0; i < 4; i++) {
        cJSON *x = cJSON_AddObjectToObject(a, k[i]);
        cJSON_AddStringToObject(x, "DataType", "String");
        cJSON_AddStringToObject(x, "StringValue", v[i]);
    }
    lm_error e;
    mq_queue q;
    bool ok = mq_sp_begin(m, &e) == LM_OK;
    if (ok) {
        ok = mq_q_open(m, w->t.dlq, now_ms, &q, &e) == LM_OK;
        mq_send_entry en = {
            .body = w->body, .body_len = strlen(w->body), .delay_s = -1, .attributes = a};
        mq_sent sent;
        memset(&sent, 0, sizeof(sent));
        ok = ok && mq_send_into(m, &q, &en, &sent, &e) == LM_OK && mq_q_save(m, &q, &e) == LM_OK;
        mq_sp_end(m, ok);
    }
    cJSON_Delete(a);
    return ok;
}

/* A failed first delivery: wait for a retry, or (no retries) dead-letter. */
static void retry_store(mq *m, const bus_rule *r, const bus_target *t, const char *bus_arn,
                        const char *id, const char *body, int64_t now_ms, const lm_error *why)
{
    if (t->max_retries == 0) {
        retry_row w = {.t = *t, .body = body};
        snprintf(w.rule_arn, sizeof(w.rule_arn), "%s", r->arn);
        if (dead_letter(m, &w, why, now_ms)) {
            m->bs.dead_lettered++;
        } else {
            m->bs.dropped++;
        }
        return;
    }
    lm_error e;
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO mq_bus_retries(kind, ref, rule_arn, target_arn, "
                               "bus_arn, event_id, body, attempts, next_at, first_ms, "
                               "max_retries, max_age_ms, dlq, group_id) VALUES(?1, ?2, ?3, ?4, "
                               "?5, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12, ?13)",
                               &e);
    if (st == NULL) {
        return;
    }
    sqlite3_bind_int(st, 1, (int)t->kind);
    sqlite3_bind_text(st, 2, t->ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, bus_arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now_ms + backoff_ms(1));
    sqlite3_bind_int64(st, 9, now_ms);
    sqlite3_bind_int(st, 10, t->max_retries);
    sqlite3_bind_int64(st, 11, (int64_t)t->max_age_s * 1000);
    sqlite3_bind_text(st, 12, t->dlq[0] != '\0' ? t->dlq : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, t->group[0] != '\0' ? t->group : NULL, -1, SQLITE_STATIC);
    (void)mq_done(m, st, &e);
}

int64_t mq_bus_next_wake_ms(mq *m)
{
    lm_error e;
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT min(coalesce((SELECT min(next_at) FROM mq_bus_retries), "
                               "9223372036854775807), coalesce((SELECT min(next_fire_ms) FROM "
                               "mq_rules WHERE next_fire_ms IS NOT NULL AND enabled=1), "
                               "9223372036854775807))",
                               &e);
    if (st == NULL || mq_step(m, st, &e) != 1) {
        return MQ_NEVER;
    }
    int64_t at = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return at;
}

/* One due retry w: deliver, reschedule, dead-letter or drop. */
static int retry_one(mq *m, retry_row *w, int max_retries, int64_t now_ms, mq_retry_counts *c,
                     lm_error *e)
{
    bus_rule r;
    memset(&r, 0, sizeof(r));
    snprintf(r.arn, sizeof(r.arn), "%s", w->rule_arn);
    lm_error de;
    int rc = mq_sp_begin(m, &de);
    if (rc == LM_OK) {
        rc = deliver_body(m, &r, &w->t, w->bus_arn, w->event_id, w->body, now_ms, &de);
        mq_sp_end(m, rc == LM_OK);
    }
    bool done = rc == LM_OK;
    m->bs.retries++;
    if (done) {
        c->delivered++;
        m->bs.deliveries++;
    } else if (w->attempts >= max_retries || now_ms - w->first_ms >= w->max_age_ms) {
        done = true;
        if (dead_letter(m, w, &de, now_ms)) {
            c->dead_lettered++;
            m->bs.dead_lettered++;
        } else {
            c->dropped++;
            m->bs.dropped++;
        }
    }
    sqlite3_stmt *st =
        done ? mq_stmt(m, "DELETE FROM mq_bus_retries WHERE did=?1", e)
             : mq_stmt(m, "UPDATE mq_bus_retries SET attempts=attempts+1, next_at=?2 WHERE did=?1",
                       e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, w->did);
    if (!done) {
        sqlite3_bind_int64(st, 2, now_ms + backoff_ms(w->attempts + 1));
        c->rescheduled++;
    }
    return mq_done(m, st, e);
}

int mq_bus_retry(mq *m, int64_t now_ms, size_t budget, mq_retry_counts *c, lm_error *e)
{
    mq_retry_counts local;
    c = c != NULL ? c : &local;
    memset(c, 0, sizeof(*c));
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    /* one due row at a time: delivering may use other statements */
    for (size_t n = 0; rc == LM_OK && n < budget; n++) {
        sqlite3_stmt *st = mq_stmt(m,
                                   "SELECT did, kind, ref, rule_arn, target_arn, bus_arn, "
                                   "event_id, body, attempts, first_ms, max_retries, max_age_ms, "
                                   "coalesce(dlq, ''), coalesce(group_id, '') FROM "
                                   "mq_bus_retries WHERE next_at<=?1 ORDER BY next_at LIMIT 1",
                                   e);
        if (st == NULL) {
            rc = LM_E_IO;
            break;
        }
        sqlite3_bind_int64(st, 1, now_ms);
        int r = mq_step(m, st, e);
        if (r <= 0) {
            rc = r < 0 ? LM_E_IO : LM_OK;
            break;
        }
        retry_row w;
        memset(&w, 0, sizeof(w));
        w.did = sqlite3_column_int64(st, 0);
        w.t.kind = (bus_kind)sqlite3_column_int(st, 1);
        snprintf(w.t.ref, sizeof(w.t.ref), "%s", mq_col_text(st, 2));
        snprintf(w.rule_arn, sizeof(w.rule_arn), "%s", mq_col_text(st, 3));
        snprintf(w.t.arn, sizeof(w.t.arn), "%s", mq_col_text(st, 4));
        snprintf(w.bus_arn, sizeof(w.bus_arn), "%s", mq_col_text(st, 5));
        snprintf(w.event_id, sizeof(w.event_id), "%s", mq_col_text(st, 6));
        char *body = mq_strndup(mq_col_text(st, 7), strlen(mq_col_text(st, 7)));
        w.attempts = sqlite3_column_int(st, 8);
        w.first_ms = sqlite3_column_int64(st, 9);
        int max_retries = sqlite3_column_int(st, 10);
        w.max_age_ms = sqlite3_column_int64(st, 11);
        snprintf(w.t.dlq, sizeof(w.t.dlq), "%s", mq_col_text(st, 12));
        snprintf(w.t.group, sizeof(w.t.group), "%s", mq_col_text(st, 13));
        sqlite3_reset(st);
        if (body == NULL) {
            rc = proto_error(e, LM_E_NOMEM, NULL);
            break;
        }
        w.body = body;
        rc = retry_one(m, &w, max_retries, now_ms, c, e);
        free(body);
    }
    return mq_op_end(m, rc, e);
}

static void deliver_target(mq *m, const bus_rule *r, const bus_target *t, const char *bus_arn,
                           const char *id, const char *text, const cJSON *ev, int64_t now_ms,
                           int hops, mq_event_out *out);

/* Route envelope text on a cached bus: every matching rule's targets.
 * The matched indices are copied out of the cache's scratch: a bus
 * target routes again, maybe on this very bus. */
static bool rule_listed(const cJSON *only, const char *name)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, only)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, name) == 0) {
            return true;
        }
    }
    return false;
}

/* only: NULL, or the names of the rules that may deliver (a replay's). */
static int route(mq *m, mq_bus_cache *c, const char *bus_arn, const char *id, const char *text,
                 int64_t now_ms, int hops, const cJSON *only, mq_event_out *out, lm_error *e)
{
    if (filter_set_count(c->set) == 0) {
        return LM_OK;
    }
    filter_error fe;
    int k = filter_set_match(c->set, text, strlen(text), c->scratch, &fe);
    if (k < 0) {
        return proto_error(e, LM_E_EV_VALIDATION, "The event cannot be matched: %s", fe.message);
    }
    uint32_t *hit = k > 0 ? malloc((size_t)k * sizeof(*hit)) : NULL;
    if (k > 0 && hit == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    if (k > 0) {
        memcpy(hit, c->scratch, (size_t)k * sizeof(*hit));
    }
    m->bus_depth++;
    cJSON *ev = k > 0 ? cJSON_Parse(text) : NULL; /* for InputPath / InputTransformer */
    for (int i = 0; i < k; i++) {
        const bus_rule *r = &c->rules[hit[i]];
        if (only != NULL && !rule_listed(only, r->name)) {
            continue;
        }
        for (size_t j = 0; j < r->nt; j++) {
            deliver_target(m, r, &r->t[j], bus_arn, id, text, ev, now_ms, hops, out);
        }
    }
    m->bus_depth--;
    free(hit);
    cJSON_Delete(ev);
    return LM_OK;
}

/* One target's delivery in a savepoint; a failure waits for a retry. */
static void deliver_target(mq *m, const bus_rule *r, const bus_target *t, const char *bus_arn,
                           const char *id, const char *text, const cJSON *ev, int64_t now_ms,
                           int hops, mq_event_out *out)
{
    out->matched++;
    lm_error de;
    char *body = t->kind == BUS_T_BUS ? NULL : target_input(r, t, text, ev);
    int rc = mq_sp_begin(m, &de);
    if (rc == LM_OK) {
        rc = t->kind == BUS_T_BUS ? deliver(m, r, t, bus_arn, id, text, ev, now_ms, hops, &de)
             : body != NULL       ? deliver_body(m, r, t, bus_arn, id, body, now_ms, &de)
                                  : proto_error(&de, LM_E_NOMEM, NULL);
        mq_sp_end(m, rc == LM_OK);
    }
    if (rc == LM_OK) {
        out->delivered++;
        m->bs.deliveries += t->kind != BUS_T_BUS; /* a bus target counts its own targets */
    } else {
        out->failed++;
        m->bs.failed++;
        if (body != NULL) {
            retry_store(m, r, t, bus_arn, id, body, now_ms, &de);
        }
    }
    free(body);
}

/* An event arrives on bus bname (cached as c): tail and archives (not a
 * replayed one: EventBridge does not archive replays again).  t_ms is the
 * envelope's time, -1 to read it from text. */
static void arrive(mq *m, mq_bus_cache *c, const char *bname, const char *text, int64_t t_ms,
                   int64_t now_ms)
{
    mq_tail_note(m, bname, text);
    if (c->arch == NULL || m->replaying) {
        return;
    }
    if (t_ms < 0) {
        cJSON *ev = cJSON_Parse(text);
        t_ms = mq_event_time(cJSON_GetObjectItemCaseSensitive(ev, "time"), now_ms);
        cJSON_Delete(ev);
    }
    mq_archives_store(m, c->arch, text, t_ms < 0 ? now_ms : t_ms, now_ms);
}

int mq_bus_route_text(mq *m, const char *bname, const char *id, const char *text, const cJSON *only,
                      int64_t now_ms, mq_event_out *out, lm_error *e)
{
    int64_t bid, gen;
    int r = bus_load(m, bname, &bid, &gen, NULL, e);
    if (r != 1) {
        return r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
    }
    mq_bus_cache *c = cache_get(m, bid, gen, bname, e);
    if (c == NULL) {
        return LM_E_IO;
    }
    char barn[MQ_ARN_MAX];
    mq_bus_arn(bname, barn);
    mq_tail_note(m, bname, text);
    return route(m, c, barn, id, text, now_ms, 0, only, out, e);
}

/* Route on bus bname (a bus target's): its row, its cache, route. */
static int route_on(mq *m, const char *bname, const char *id, const char *text, int64_t now_ms,
                    int hops, mq_event_out *out, lm_error *e)
{
    int64_t bid, gen;
    int r = bus_load(m, bname, &bid, &gen, NULL, e);
    if (r != 1) {
        return r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
    }
    mq_bus_cache *c = cache_get(m, bid, gen, bname, e);
    if (c == NULL) {
        return LM_E_IO;
    }
    char barn[MQ_ARN_MAX];
    mq_bus_arn(bname, barn);
    arrive(m, c, bname, text, -1, now_ms);
    return route(m, c, barn, id, text, now_ms, hops, NULL, out, e);
}

/* One entry: check, envelope, route (inside the operation's frame). */
/* An entry's Time: absent (now), epoch seconds, or RFC 3339 UTC
 * "YYYY-MM-DDTHH:MM:SS[.fff]Z".  -1 when it is none of these. */
int64_t mq_event_time(const cJSON *v, int64_t now_ms)
{
    if (v == NULL || cJSON_IsNull(v)) {
        return now_ms;
    }
    if (cJSON_IsNumber(v)) {
        return v->valuedouble >= 0 && v->valuedouble < 7e12 ? (int64_t)v->valuedouble * 1000 : -1;
    }
    int y, mo, d, h, mi, sec, n = 0;
    if (!cJSON_IsString(v) ||
        sscanf(v->valuestring, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970 ||
        y > 2199) {
        return -1;
    }
    const char *p = v->valuestring + n;
    if (*p == '.') {
        p += 1 + strspn(p + 1, "0123456789");
    }
    if (strcmp(p, "Z") != 0) {
        return -1;
    }
    int64_t days = sched_days_from_civil(y, mo, d);
    return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000;
}

static int put_one(mq *m, const cJSON *o, int64_t now_ms, mq_event_out *out, lm_error *e)
{
    const char *source, *dtype, *detail, *bus;
    if (!cJSON_IsObject(o)) {
        return proto_error(e, LM_E_EV_VALIDATION, "Each entry must be an object.");
    }
    int rc = entry_str(o, "Source", 256, true, &source, e);
    if (rc == LM_OK) {
        rc = entry_str(o, "DetailType", 128, true, &dtype, e);
    }
    if (rc == LM_OK) {
        rc = entry_str(o, "Detail", MQ_PUT_EVENTS_BYTES, true, &detail, e);
    }
    if (rc == LM_OK) {
        rc = entry_str(o, "EventBusName", 1600, false, &bus, e);
    }
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "Resources");
    if (rc == LM_OK && res != NULL && !cJSON_IsNull(res)) {
        bool ok = cJSON_IsArray(res);
        for (const cJSON *x = ok ? res->child : NULL; x != NULL; x = x->next) {
            ok = ok && cJSON_IsString(x);
        }
        if (!ok) {
            rc = proto_error(e, LM_E_EV_VALIDATION, "Parameter Resources must be strings.");
        }
    } else {
        res = NULL;
    }
    if (rc != LM_OK) {
        return rc;
    }
    int64_t t_ms = mq_event_time(cJSON_GetObjectItemCaseSensitive(o, "Time"), now_ms);
    if (t_ms < 0) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Parameter Time is not valid: RFC 3339 UTC (…Z) or epoch seconds.");
    }
    cJSON *d = mq_json_parse(detail, strlen(detail), LM_E_EV_VALIDATION, "Detail", e);
    if (d == NULL) {
        return e->code; /* mq_json_parse said why, naming Detail (formatting e->message
                         * into e itself would read the buffer it writes) */
    }
    if (!cJSON_IsObject(d)) {
        cJSON_Delete(d);
        return proto_error(e, LM_E_EV_VALIDATION, "Detail is malformed: not a JSON object.");
    }
    char bname[MQ_BUS_NAME_MAX + 1], barn[MQ_ARN_MAX];
    int64_t bid, gen;
    rc = bus_open(m, bus, bname, &bid, &gen, NULL, e);
    mq_bus_cache *c = rc == LM_OK ? cache_get(m, bid, gen, bname, e) : NULL;
    if (rc == LM_OK && c == NULL) {
        rc = e->code != LM_OK ? e->code : LM_E_IO;
    }
    if (rc != LM_OK) {
        cJSON_Delete(d);
        return rc;
    }
    mq_bus_arn(bname, barn);
    char id[37];
    util_uuid4(id);
    cJSON *env = envelope(id, source, dtype, res, d, t_ms);
    char *text = env != NULL ? cJSON_PrintUnformatted(env) : NULL;
    cJSON_Delete(env);
    if (text == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    arrive(m, c, bname, text, t_ms, now_ms);
    rc = route(m, c, barn, id, text, now_ms, 0, NULL, out, e);
    free(text);
    if (rc == LM_OK) {
        snprintf(out->id, sizeof(out->id), "%s", id);
    }
    return rc;
}

/* The size EventBridge counts for an entry: its strings' bytes. */
static size_t entry_size(const cJSON *o)
{
    size_t n = 0;
    for (const cJSON *v = cJSON_IsObject(o) ? o->child : NULL; v != NULL; v = v->next) {
        if (cJSON_IsString(v)) {
            n += strlen(v->valuestring);
        } else if (cJSON_IsArray(v)) {
            for (const cJSON *x = v->child; x != NULL; x = x->next) {
                n += cJSON_IsString(x) ? strlen(x->valuestring) : 0;
            }
        }
    }
    return n;
}

int mq_put_events(mq *m, const cJSON *entries, int64_t now_ms, mq_event_out *out, size_t *n,
                  size_t *failed, lm_error *e)
{
    int k = cJSON_IsArray(entries) ? cJSON_GetArraySize(entries) : -1;
    *n = 0;
    *failed = 0;
    if (k < 1 || k > MQ_PUT_EVENTS_MAX) {
        return proto_error(e, LM_E_EV_VALIDATION, "Entries must be a list of 1-%d entries.",
                           MQ_PUT_EVENTS_MAX);
    }
    size_t total = 0;
    for (const cJSON *o = entries->child; o != NULL; o = o->next) {
        total += entry_size(o);
    }
    if (total > MQ_PUT_EVENTS_BYTES) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Total size of the entries in the request is over the limit (%zu "
                           "bytes, at most %d).",
                           total, MQ_PUT_EVENTS_BYTES);
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    for (const cJSON *o = entries->child; o != NULL; o = o->next) {
        mq_event_out *r = &out[(*n)++];
        memset(r, 0, sizeof(*r));
        size_t mark = mq_tail_mark(m);
        mq_bus_stats bs = m->bs;
        int er = mq_sp_begin(m, &r->err);
        if (er == LM_OK) {
            er = put_one(m, o, now_ms, r, &r->err);
            mq_sp_end(m, er == LM_OK);
        }
        if (er != LM_OK) {
            mq_tail_truncate(m, mark);
            m->bs = bs;
            r->id[0] = '\0';
            r->matched = r->delivered = r->failed = 0;
            (*failed)++;
        } else {
            r->err.code = LM_OK;
            m->bs.events_put++;
        }
    }
    return mq_op_end(m, LM_OK, e);
}

/* ---- reading and changing rules and targets ---- */

static int rule_open(mq *m, const char *bus, const char *rule, char bname[MQ_BUS_NAME_MAX + 1],
                     int64_t *bid, int64_t *rid, lm_error *e)
{
    int64_t gen;
    int rc = bus_open(m, bus, bname, bid, &gen, NULL, e);
    if (rc != LM_OK) {
        return rc;
    }
    int r = rule_find(m, *bid, rule, rid, e);
    return r == 1 ? LM_OK : r == 0 ? LM_E_NOT_FOUND : LM_E_IO;
}

cJSON *mq_bus_get(mq *m, const char *bus, lm_error *e)
{
    char name[MQ_BUS_NAME_MAX + 1], arn[MQ_ARN_MAX];
    int64_t bid, gen, nrules;
    if (bus_open(m, bus, name, &bid, &gen, &nrules, e) != LM_OK) {
        return NULL;
    }
    mq_bus_arn(name, arn);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Name", name);
    cJSON_AddStringToObject(o, "Arn", arn);
    cJSON_AddNumberToObject(o, "Rules", (double)nrules);
    return o;
}

static cJSON *rule_json(const char *bname, sqlite3_stmt *st)
{
    char arn[MQ_ARN_MAX];
    mq_rule_arn(bname, mq_col_text(st, 0), arn);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Name", mq_col_text(st, 0));
    cJSON_AddStringToObject(o, "Arn", arn);
    cJSON_AddStringToObject(o, "EventBusName", bname);
    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        cJSON_AddStringToObject(o, "ScheduleExpression", mq_col_text(st, 4));
    } else {
        cJSON_AddStringToObject(o, "EventPattern", mq_col_text(st, 1));
    }
    cJSON_AddStringToObject(o, "State", sqlite3_column_int(st, 2) ? "ENABLED" : "DISABLED");
    cJSON_AddNumberToObject(o, "Targets", (double)sqlite3_column_int64(st, 3));
    return o;
}

/* rule NULL: every rule of the bus as a list; else that one. */
static cJSON *rules_read(mq *m, const char *bus, const char *rule, lm_error *e)
{
    char bname[MQ_BUS_NAME_MAX + 1];
    int64_t bid, gen;
    if (bus_open(m, bus, bname, &bid, &gen, NULL, e) != LM_OK) {
        return NULL;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT name, coalesce(pattern, ''), enabled, (SELECT count(*) "
                               "FROM mq_targets t WHERE t.rid=r.rid), schedule FROM mq_rules r "
                               "WHERE bid=?1 AND (?2 IS NULL OR name=?2) ORDER BY name",
                               e);
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, bid);
    sqlite3_bind_text(st, 2, rule, -1, SQLITE_STATIC);
    cJSON *a = cJSON_CreateArray();
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        cJSON_AddItemToArray(a, rule_json(bname, st));
    }
    if (r < 0) {
        cJSON_Delete(a);
        return NULL;
    }
    if (rule == NULL) {
        return a;
    }
    cJSON *one = cJSON_DetachItemFromArray(a, 0);
    cJSON_Delete(a);
    if (one == NULL) {
        char qb[96];
        proto_error(e, LM_E_NOT_FOUND, "Rule %s does not exist.", mq_q(qb, sizeof(qb), rule));
    }
    return one;
}

cJSON *mq_rule_get(mq *m, const char *bus, const char *rule, lm_error *e)
{
    return rules_read(m, bus, rule != NULL ? rule : "", e);
}

cJSON *mq_rule_list(mq *m, const char *bus, lm_error *e)
{
    return rules_read(m, bus, NULL, e);
}

int mq_rule_set_state(mq *m, const char *bus, const char *rule, bool enabled, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    char bname[MQ_BUS_NAME_MAX + 1];
    int64_t bid, rid;
    rc = rule_open(m, bus, rule, bname, &bid, &rid, e);
    if (rc == LM_OK) {
        rc = exec_id(m,
                     enabled ? "UPDATE mq_rules SET enabled=1 WHERE rid=?1"
                             : "UPDATE mq_rules SET enabled=0 WHERE rid=?1",
                     rid, e);
    }
    if (rc == LM_OK) {
        rc = bus_touch(m, bid, e);
    }
    return mq_op_end(m, rc, e);
}

cJSON *mq_targets_list(mq *m, const char *bus, const char *rule, lm_error *e)
{
    char bname[MQ_BUS_NAME_MAX + 1];
    int64_t bid, rid;
    if (rule_open(m, bus, rule, bname, &bid, &rid, e) != LM_OK) {
        return NULL;
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT id, arn, input, input_path, paths, template, group_id "
                               "FROM mq_targets WHERE rid=?1 ORDER BY id",
                               e);
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, rid);
    cJSON *a = cJSON_CreateArray();
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Id", mq_col_text(st, 0));
        cJSON_AddStringToObject(o, "Arn", mq_col_text(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
            cJSON_AddStringToObject(o, "Input", mq_col_text(st, 2));
        }
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            cJSON_AddStringToObject(o, "InputPath", mq_col_text(st, 3));
        }
        if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
            cJSON *tr = cJSON_AddObjectToObject(o, "InputTransformer");
            if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
                cJSON_AddItemToObject(tr, "InputPathsMap", cJSON_Parse(mq_col_text(st, 4)));
            }
            cJSON_AddStringToObject(tr, "InputTemplate", mq_col_text(st, 5));
        }
        if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
            cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "SqsParameters"), "MessageGroupId",
                                    mq_col_text(st, 6));
        }
        cJSON_AddItemToArray(a, o);
    }
    if (r < 0) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

int mq_targets_remove(mq *m, const char *bus, const char *rule, const cJSON *ids, size_t *removed,
                      lm_error *e)
{
    int n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : -1;
    *removed = 0;
    if (n < 1 || n > 100) {
        return proto_error(e, LM_E_EV_VALIDATION, "Ids must be a list of 1-100 target ids.");
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    char bname[MQ_BUS_NAME_MAX + 1];
    int64_t bid, rid;
    rc = rule_open(m, bus, rule, bname, &bid, &rid, e);
    for (const cJSON *v = ids->child; rc == LM_OK && v != NULL; v = v->next) {
        if (!cJSON_IsString(v)) {
            rc = proto_error(e, LM_E_EV_VALIDATION, "Ids must be strings.");
            break;
        }
        sqlite3_stmt *st = mq_stmt(m, "DELETE FROM mq_targets WHERE rid=?1 AND id=?2", e);
        if (st == NULL) {
            rc = LM_E_IO;
            break;
        }
        sqlite3_bind_int64(st, 1, rid);
        sqlite3_bind_text(st, 2, v->valuestring, -1, SQLITE_STATIC);
        rc = mq_done(m, st, e);
        *removed += rc == LM_OK ? (size_t)sqlite3_changes(m->db) : 0;
    }
    if (rc == LM_OK) {
        rc = bus_touch(m, bid, e);
    }
    return mq_op_end(m, rc, e);
}

/* ---- scheduled rules ---- */

int mq_rule_put_schedule(mq *m, const char *name, const char *schedule, bool enabled,
                         int64_t now_ms, char arn[MQ_ARN_MAX], lm_error *e)
{
    sched_expr x;
    char why[160];
    int rc = rule_name_check(name, e);
    if (rc != LM_OK) {
        return rc;
    }
    if (schedule == NULL || !sched_parse(schedule, &x, why, sizeof(why))) {
        return proto_error(e, LM_E_EV_VALIDATION, "Parameter ScheduleExpression is not valid: %s",
                           schedule == NULL ? "missing" : why);
    }
    int64_t next = sched_next(&x, now_ms, now_ms);
    if ((rc = mq_op_begin(m, e)) != LM_OK) {
        return rc;
    }
    int64_t bid, gen, nrules, rid;
    rc = bus_load(m, "default", &bid, &gen, &nrules, e) == 1 ? LM_OK : LM_E_IO;
    int found = rc == LM_OK ? rule_find(m, bid, name, &rid, NULL) : 0;
    sqlite3_stmt *st = NULL;
    if (rc == LM_OK && found == 0 && nrules >= MQ_RULES_MAX) {
        rc = proto_error(e, LM_E_LIMIT_EXCEEDED, "At most %d rules per event bus.", MQ_RULES_MAX);
    } else if (rc == LM_OK) {
        st = mq_stmt(m,
                     "INSERT INTO mq_rules(bid, name, pattern, enabled, created_ms, schedule, "
                     "anchor_ms, next_fire_ms) VALUES(?1, ?2, NULL, ?3, ?4, ?5, ?4, ?6) "
                     "ON CONFLICT(bid, name) DO UPDATE SET pattern=NULL, "
                     "enabled=excluded.enabled, schedule=excluded.schedule, "
                     "anchor_ms=excluded.anchor_ms, next_fire_ms=excluded.next_fire_ms",
                     e);
        rc = st != NULL ? LM_OK : LM_E_IO;
    }
    if (rc == LM_OK) {
        sqlite3_bind_int64(st, 1, bid);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, enabled ? 1 : 0);
        sqlite3_bind_int64(st, 4, now_ms);
        sqlite3_bind_text(st, 5, schedule, -1, SQLITE_STATIC);
        if (next >= 0) {
            sqlite3_bind_int64(st, 6, next);
        }
        rc = mq_done(m, st, e);
    }
    if (rc == LM_OK && found == 0) {
        rc = exec_id(m, "UPDATE mq_buses SET n_rules=n_rules+1 WHERE bid=?1", bid, e);
    }
    if (rc == LM_OK) {
        rc = bus_touch(m, bid, e);
    }
    rc = mq_op_end(m, rc, e);
    if (rc == LM_OK && arn != NULL) {
        mq_rule_arn("default", name, arn);
    }
    return rc;
}

/* Fire rule rid (name) for its firing at `at`: its targets. */
static int fire_one(mq *m, int64_t rid, const char *name, int64_t at, int64_t now_ms, lm_error *e)
{
    bus_rule r;
    memset(&r, 0, sizeof(r));
    r.rid = rid;
    snprintf(r.name, sizeof(r.name), "%s", name);
    mq_rule_arn("default", name, r.arn);
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT id, arn, input, input_path, paths, template, max_retries, "
                               "max_age_s, coalesce(dlq, ''), coalesce(group_id, '') FROM "
                               "mq_targets WHERE rid=?1 ORDER BY id",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, rid);
    while (r.nt < MQ_TARGETS_MAX && mq_step(m, st, e) == 1) {
        if (target_load(st, 1, &r.t[r.nt])) {
            r.nt++;
        }
    }
    sqlite3_reset(st);
    char id[37], barn[MQ_ARN_MAX];
    util_uuid4(id);
    mq_bus_arn("default", barn);
    cJSON *res = cJSON_CreateArray();
    cJSON_AddItemToArray(res, cJSON_CreateString(r.arn));
    cJSON *ev = envelope(id, "aws.events", "Scheduled Event", res, cJSON_CreateObject(), at);
    cJSON_Delete(res);
    char *text = ev != NULL ? cJSON_PrintUnformatted(ev) : NULL;
    mq_event_out out;
    memset(&out, 0, sizeof(out));
    for (size_t i = 0; text != NULL && i < r.nt; i++) {
        deliver_target(m, &r, &r.t[i], barn, id, text, ev, now_ms, 0, &out);
    }
    for (size_t i = 0; i < r.nt; i++) {
        target_free(&r.t[i]);
    }
    int rc = text != NULL ? LM_OK : proto_error(e, LM_E_NOMEM, NULL);
    free(text);
    cJSON_Delete(ev);
    return rc;
}

int mq_bus_fire(mq *m, int64_t now_ms, size_t budget, size_t *fired, lm_error *e)
{
    size_t local = 0;
    fired = fired != NULL ? fired : &local;
    *fired = 0;
    int rc = mq_op_begin(m, e);
    while (rc == LM_OK && *fired < budget) {
        sqlite3_stmt *st = mq_stmt(m,
                                   "SELECT rid, name, schedule, anchor_ms, next_fire_ms FROM "
                                   "mq_rules WHERE next_fire_ms<=?1 AND enabled=1 ORDER BY "
                                   "next_fire_ms LIMIT 1",
                                   e);
        if (st == NULL) {
            rc = LM_E_IO;
            break;
        }
        sqlite3_bind_int64(st, 1, now_ms);
        int r = mq_step(m, st, e);
        if (r <= 0) {
            rc = r < 0 ? LM_E_IO : LM_OK;
            break;
        }
        int64_t rid = sqlite3_column_int64(st, 0), anchor = sqlite3_column_int64(st, 3);
        int64_t at = sqlite3_column_int64(st, 4);
        char name[MQ_RULE_NAME_MAX + 1], expr[SCHED_EXPR_MAX + 1];
        snprintf(name, sizeof(name), "%s", mq_col_text(st, 1));
        snprintf(expr, sizeof(expr), "%s", mq_col_text(st, 2));
        sqlite3_reset(st);
        sched_expr x;
        char why[160];
        /* from now: a firing missed while the broker was down fires once */
        int64_t next =
            sched_parse(expr, &x, why, sizeof(why)) ? sched_next(&x, anchor, now_ms) : -1;
        rc = fire_one(m, rid, name, at, now_ms, e);
        st = rc == LM_OK ? mq_stmt(m, "UPDATE mq_rules SET next_fire_ms=?2 WHERE rid=?1", e) : NULL;
        if (rc == LM_OK && st == NULL) {
            rc = LM_E_IO;
        }
        if (rc == LM_OK) {
            sqlite3_bind_int64(st, 1, rid);
            if (next >= 0) {
                sqlite3_bind_int64(st, 2, next);
            }
            rc = mq_done(m, st, e);
            (*fired)++;
        }
    }
    return rc == LM_OK || m->depth != 0 ? mq_op_end(m, rc, e) : rc;
}
