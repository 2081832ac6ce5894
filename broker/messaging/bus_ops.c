/*
 * broker/messaging/bus_ops.c — the event-bus api operations (bus-*,
 * rule-*, bus-put-events), run on the messaging thread (service.c) with
 * the request's args as JSON, EventBridge's field names: read them, call
 * the engine (mq.h's buses block), write the reply.  The engine checks
 * values; here only presence and JSON types (ValidationException).
 * PutEvents is answered after the turn's COMMIT (service.c), so its
 * reply comes after one commit holding every matched target's delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonconv.h"
#include "messaging/service.h"

static int field(const cJSON *args, const char *key, bool required, const char **out, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        return required ? proto_error(e, LM_E_EV_VALIDATION, "Parameter %s is required.", key)
                        : LM_OK;
    }
    if (!cJSON_IsString(v)) {
        return proto_error(e, LM_E_EV_VALIDATION, "Parameter %s must be a string.", key);
    }
    *out = v->valuestring;
    return LM_OK;
}

static nng_msg *reply_arn(const char *key, const char *arn, lm_error *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, key, arn);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_bus_create(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name;
    char arn[MQ_ARN_MAX];
    if (field(c->args, "Name", true, &name, e) != LM_OK ||
        mq_bus_create(m, name, c->now_ms, arn, e) != LM_OK) {
        return NULL;
    }
    return reply_arn("EventBusArn", arn, e);
}

nng_msg *mqops_bus_delete(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name;
    if (field(c->args, "Name", true, &name, e) != LM_OK || mq_bus_delete(m, name, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(cJSON_CreateObject(), e);
}

nng_msg *mqops_bus_list(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)c;
    cJSON *l = mq_bus_list(m, e);
    if (l == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "EventBuses", l);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_rule_put(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name, *bus, *pattern, *state;
    char arn[MQ_ARN_MAX];
    const char *schedule;
    if (field(c->args, "Name", true, &name, e) != LM_OK ||
        field(c->args, "EventBusName", false, &bus, e) != LM_OK ||
        field(c->args, "ScheduleExpression", false, &schedule, e) != LM_OK ||
        field(c->args, "EventPattern", schedule == NULL, &pattern, e) != LM_OK ||
        field(c->args, "State", false, &state, e) != LM_OK) {
        return NULL;
    }
    if (schedule != NULL && (pattern != NULL || (bus != NULL && strcmp(bus, "default") != 0))) {
        proto_error(e, LM_E_EV_VALIDATION,
                    "ScheduleExpression is supported only on the default event bus, without "
                    "an EventPattern.");
        return NULL;
    }
    if (state != NULL && strcmp(state, "ENABLED") != 0 && strcmp(state, "DISABLED") != 0) {
        proto_error(e, LM_E_EV_VALIDATION, "State must be ENABLED or DISABLED.");
        return NULL;
    }
    bool enabled = state == NULL || strcmp(state, "ENABLED") == 0;
    if ((schedule != NULL
             ? mq_rule_put_schedule(m, name, schedule, enabled, c->now_ms, arn, e)
             : mq_rule_put(m, bus, name, pattern, enabled, c->now_ms, arn, e)) != LM_OK) {
        return NULL;
    }
    return reply_arn("RuleArn", arn, e);
}

/* An optional boolean member: *out (false when absent). */
static int flag(const cJSON *args, const char *key, bool *out, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    *out = cJSON_IsTrue(v);
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsBool(v)) {
        return proto_error(e, LM_E_EV_VALIDATION, "Parameter %s must be a boolean.", key);
    }
    return LM_OK;
}

nng_msg *mqops_rule_delete(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name, *bus;
    bool force;
    if (field(c->args, "Name", true, &name, e) != LM_OK ||
        field(c->args, "EventBusName", false, &bus, e) != LM_OK ||
        flag(c->args, "Force", &force, e) != LM_OK ||
        mq_rule_delete(m, bus, name, force, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(cJSON_CreateObject(), e);
}

nng_msg *mqops_rule_targets_put(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *rule, *bus;
    mq_target_fail f[MQ_TARGETS_MAX];
    size_t nf = 0;
    if (field(c->args, "Rule", true, &rule, e) != LM_OK ||
        field(c->args, "EventBusName", false, &bus, e) != LM_OK ||
        mq_targets_put(m, bus, rule, cJSON_GetObjectItemCaseSensitive(c->args, "Targets"), f, &nf,
                       e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "FailedEntryCount", (double)nf);
    cJSON *a = cJSON_AddArrayToObject(o, "FailedEntries");
    for (size_t i = 0; i < nf; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "TargetId", f[i].id);
        cJSON_AddStringToObject(x, "ErrorCode", f[i].err.type);
        cJSON_AddStringToObject(x, "ErrorMessage", f[i].err.message);
        cJSON_AddItemToArray(a, x);
    }
    return mqops_reply_json(o, e);
}

nng_msg *mqops_bus_put_events(mq *m, mqsvc_call *c, lm_error *e)
{
    mq_event_out out[MQ_PUT_EVENTS_MAX];
    size_t n = 0, failed = 0;
    if (mq_put_events(m, cJSON_GetObjectItemCaseSensitive(c->args, "Entries"), c->now_ms, out, &n,
                      &failed, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "FailedEntryCount", (double)failed);
    cJSON *a = cJSON_AddArrayToObject(o, "Entries");
    for (size_t i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        if (out[i].err.code == LM_OK) {
            cJSON_AddStringToObject(r, "EventId", out[i].id);
        } else {
            cJSON_AddStringToObject(r, "ErrorCode", out[i].err.type);
            cJSON_AddStringToObject(r, "ErrorMessage", out[i].err.message);
        }
        cJSON_AddItemToArray(a, r);
    }
    return mqops_reply_json(o, e);
}

nng_msg *mqops_bus_get(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name;
    if (field(c->args, "Name", false, &name, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = mq_bus_get(m, name, e);
    return o != NULL ? mqops_reply_json(o, e) : NULL;
}

/* {Name, EventBusName?} of a rule op. */
static int rule_args(const cJSON *args, const char *key, const char **name, const char **bus,
                     lm_error *e)
{
    int rc = field(args, key, true, name, e);
    return rc == LM_OK ? field(args, "EventBusName", false, bus, e) : rc;
}

nng_msg *mqops_rule_get(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name, *bus;
    if (rule_args(c->args, "Name", &name, &bus, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = mq_rule_get(m, bus, name, e);
    return o != NULL ? mqops_reply_json(o, e) : NULL;
}

nng_msg *mqops_rule_list(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *bus;
    if (field(c->args, "EventBusName", false, &bus, e) != LM_OK) {
        return NULL;
    }
    cJSON *l = mq_rule_list(m, bus, e);
    if (l == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "Rules", l);
    return mqops_reply_json(o, e);
}

static nng_msg *rule_state(mq *m, mqsvc_call *c, bool enabled, lm_error *e)
{
    const char *name, *bus;
    if (rule_args(c->args, "Name", &name, &bus, e) != LM_OK ||
        mq_rule_set_state(m, bus, name, enabled, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(cJSON_CreateObject(), e);
}

nng_msg *mqops_rule_enable(mq *m, mqsvc_call *c, lm_error *e)
{
    return rule_state(m, c, true, e);
}

nng_msg *mqops_rule_disable(mq *m, mqsvc_call *c, lm_error *e)
{
    return rule_state(m, c, false, e);
}

nng_msg *mqops_rule_targets_list(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *rule, *bus;
    if (rule_args(c->args, "Rule", &rule, &bus, e) != LM_OK) {
        return NULL;
    }
    cJSON *l = mq_targets_list(m, bus, rule, e);
    if (l == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "Targets", l);
    return mqops_reply_json(o, e);
}

nng_msg *mqops_rule_targets_remove(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *rule, *bus;
    size_t removed = 0;
    if (rule_args(c->args, "Rule", &rule, &bus, e) != LM_OK ||
        mq_targets_remove(m, bus, rule, cJSON_GetObjectItemCaseSensitive(c->args, "Ids"), &removed,
                          e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "Removed", (double)removed);
    return mqops_reply_json(o, e);
}

/* An optional integer member in [lo, hi]: *out (dflt when absent). */
static int int_arg(const cJSON *args, const char *key, int lo, int hi, int dflt, int *out,
                   lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    *out = dflt;
    if (v == NULL || cJSON_IsNull(v)) {
        return LM_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valueint < lo ||
        v->valueint > hi) {
        return proto_error(e, LM_E_EV_VALIDATION, "Parameter %s must be an integer from %d to %d.",
                           key, lo, hi);
    }
    *out = v->valueint;
    return LM_OK;
}

nng_msg *mqops_bus_tail(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *bus, *cursor;
    int wait, limit;
    if (field(c->args, "EventBusName", false, &bus, e) != LM_OK ||
        field(c->args, "Cursor", false, &cursor, e) != LM_OK ||
        int_arg(c->args, "WaitTimeSeconds", 0, MQ_WAIT_MAX, 0, &wait, e) != LM_OK ||
        int_arg(c->args, "Limit", 1, MQ_TAIL_LIMIT_MAX, MQ_TAIL_LIMIT_MAX, &limit, e) != LM_OK) {
        return NULL;
    }
    mq_tail_out t;
    if (mq_bus_tail(m, bus, cursor, (size_t)limit, &t, e) != LM_OK) {
        return NULL;
    }
    if (t.n == 0 && cursor != NULL && wait > 0 && c->may_wait && !t.reset) {
        cJSON_Delete(t.events);
        char name[MQ_BUS_NAME_MAX + 1];
        if (mq_bus_name(m, bus, name, e) != LM_OK) {
            return NULL;
        }
        c->wait_s = wait;
        snprintf(c->bus, sizeof(c->bus), "%s", name);
        e->code = LM_OK; /* park me (service.h) */
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "Events", t.events);
    cJSON_AddStringToObject(o, "NextCursor", t.cursor);
    if (t.missed > 0) {
        cJSON_AddNumberToObject(o, "Missed", (double)t.missed);
    }
    if (t.reset) {
        cJSON_AddBoolToObject(o, "Reset", true);
    }
    return mqops_reply_json(o, e);
}

/* ---- archives and replays ---- */

nng_msg *mqops_archive_create(mq *m, mqsvc_call *c, lm_error *e)
{
    mq_archive_in in = {0};
    int days;
    char arn[MQ_ARN_MAX];
    if (field(c->args, "ArchiveName", true, &in.name, e) != LM_OK ||
        field(c->args, "EventSourceArn", true, &in.bus, e) != LM_OK ||
        field(c->args, "EventPattern", false, &in.pattern, e) != LM_OK ||
        field(c->args, "Description", false, &in.description, e) != LM_OK ||
        int_arg(c->args, "RetentionDays", 0, MQ_RETENTION_DAYS_MAX, 0, &days, e) != LM_OK) {
        return NULL;
    }
    in.retention_days = days;
    if (mq_archive_create(m, &in, c->now_ms, arn, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ArchiveArn", arn);
    cJSON_AddStringToObject(o, "State", "ENABLED");
    return mqops_reply_json(o, e);
}

nng_msg *mqops_archive_delete(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name;
    if (field(c->args, "ArchiveName", true, &name, e) != LM_OK ||
        mq_archive_delete(m, name, e) != LM_OK) {
        return NULL;
    }
    return mqops_reply_json(cJSON_CreateObject(), e);
}

nng_msg *mqops_archive_get(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name;
    if (field(c->args, "ArchiveName", true, &name, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = mq_archive_get(m, name, e);
    return o != NULL ? mqops_reply_json(o, e) : NULL;
}

nng_msg *mqops_archive_list(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *bus;
    if (field(c->args, "EventSourceArn", false, &bus, e) != LM_OK) {
        return NULL;
    }
    cJSON *l = mq_archive_list(m, bus, e);
    if (l == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "Archives", l);
    return mqops_reply_json(o, e);
}

/* A required time: RFC 3339 UTC text or epoch seconds. */
static int time_arg(const cJSON *args, const char *key, int64_t *out, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (v == NULL || cJSON_IsNull(v)) {
        return proto_error(e, LM_E_EV_VALIDATION, "Parameter %s is required.", key);
    }
    *out = mq_event_time(v, 0);
    return *out >= 0
               ? LM_OK
               : proto_error(e, LM_E_EV_VALIDATION,
                             "Parameter %s is not valid: RFC 3339 UTC (…Z) or epoch seconds.", key);
}

/* Destination {Arn: the archive's bus, FilterArns?}: FilterArns, or an
 * error when Arn names another bus (EventBridge replays onto the source). */
static int replay_destination(mq *m, const cJSON *args, const char *archive, const cJSON **rules,
                              lm_error *e)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(args, "Destination");
    *rules = NULL;
    if (d == NULL || cJSON_IsNull(d)) {
        return LM_OK;
    }
    const char *arn;
    if (!cJSON_IsObject(d)) {
        return proto_error(e, LM_E_EV_VALIDATION,
                           "Destination must be an object {Arn, FilterArns?}.");
    }
    if (field(d, "Arn", true, &arn, e) != LM_OK) {
        return e->code;
    }
    *rules = cJSON_GetObjectItemCaseSensitive(d, "FilterArns");
    cJSON *a = mq_archive_get(m, archive, e);
    if (a == NULL) {
        return e->code;
    }
    char want[MQ_BUS_NAME_MAX + 1], got[MQ_BUS_NAME_MAX + 1];
    int rc =
        mq_bus_name(m, cJSON_GetObjectItemCaseSensitive(a, "EventSourceArn")->valuestring, want, e);
    if (rc == LM_OK) {
        rc = mq_bus_name(m, arn, got, e);
    }
    if (rc == LM_OK && strcmp(want, got) != 0) {
        rc = proto_error(e, LM_E_EV_VALIDATION,
                         "Destination.Arn must be the archive's event bus (%s).", want);
    }
    cJSON_Delete(a);
    return rc;
}

nng_msg *mqops_replay_start(mq *m, mqsvc_call *c, lm_error *e)
{
    mq_replay_in in = {0};
    char arn[MQ_ARN_MAX];
    if (field(c->args, "ReplayName", true, &in.name, e) != LM_OK ||
        field(c->args, "EventSourceArn", true, &in.archive, e) != LM_OK ||
        time_arg(c->args, "EventStartTime", &in.from_ms, e) != LM_OK ||
        time_arg(c->args, "EventEndTime", &in.to_ms, e) != LM_OK ||
        replay_destination(m, c->args, in.archive, &in.rules, e) != LM_OK ||
        mq_replay_start(m, &in, c->now_ms, arn, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ReplayArn", arn);
    cJSON_AddStringToObject(o, "State", "STARTING");
    return mqops_reply_json(o, e);
}

nng_msg *mqops_replay_get(mq *m, mqsvc_call *c, lm_error *e)
{
    const char *name;
    if (field(c->args, "ReplayName", true, &name, e) != LM_OK) {
        return NULL;
    }
    cJSON *o = mq_replay_get(m, name, e);
    return o != NULL ? mqops_reply_json(o, e) : NULL;
}

nng_msg *mqops_replay_list(mq *m, mqsvc_call *c, lm_error *e)
{
    (void)c;
    cJSON *l = mq_replay_list(m, e);
    if (l == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "Replays", l);
    return mqops_reply_json(o, e);
}
