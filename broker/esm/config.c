/*
 * broker/esm/config.c — a mapping's parameters: Lambda's names
 * (CreateEventSourceMapping's), ranges and defaults per kind of source
 * (lambda-semantics.md §5.1), checked here once for create, update and the
 * stored form alike, and the mapping written back with the same names.
 *
 * One parser for three callers: create starts from the defaults of the
 * source's kind, update from the mapping as it is (so the cross-field
 * rules, such as "BatchSize > 10 needs a window of at least 1 s", are
 * checked on the result), and the store's JSON is the create form plus
 * UUID and the times, so a stored mapping is read back through the same
 * checks (a stored row that no longer passes is skipped with a log line
 * rather than run with values nobody checked).  A parameter that does
 * not apply to the source (StartingPosition on a queue, ScalingConfig on a
 * stream) is InvalidParameterValueException, as Lambda answers; unknown
 * names are refused too, so a misspelt option is never silently ignored.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esm/internal.h"
#include "messaging/target.h"

static int bad(lm_error *e, const char *fmt, const char *arg)
{
    return proto_error(e, LM_E_INVALID_PARAMETER, fmt, arg);
}

static int range_err(lm_error *e, const char *name, double v, int lo, int hi)
{
    return proto_error(e, LM_E_INVALID_PARAMETER,
                       "1 validation error detected: Value %g at '%s' failed to satisfy "
                       "constraint: Member must have value between %d and %d",
                       v, name, lo, hi);
}

/* An integer member (absent: *out unchanged).  Integers only. */
static int get_int(const cJSON *a, const char *name, int lo, int hi, int *out, bool *given,
                   lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, name);
    if (v == NULL) {
        return LM_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        return bad(e, "%s must be an integer", name);
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        return range_err(e, name, v->valuedouble, lo, hi);
    }
    *out = (int)v->valuedouble;
    if (given != NULL) {
        *given = true;
    }
    return LM_OK;
}

static int get_bool(const cJSON *a, const char *name, bool *out, lm_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, name);
    if (v == NULL) {
        return LM_OK;
    }
    if (!cJSON_IsBool(v)) {
        return bad(e, "%s must be true or false", name);
    }
    *out = cJSON_IsTrue(v);
    return LM_OK;
}

static const char *get_str(const cJSON *a, const char *name, bool *wrong)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, name);
    *wrong = v != NULL && !cJSON_IsString(v);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *const KNOWN[] = {"FunctionName",
                                    "EventSourceArn",
                                    "Enabled",
                                    "BatchSize",
                                    "MaximumBatchingWindowInSeconds",
                                    "FilterCriteria",
                                    "StartingPosition",
                                    "StartingPositionTimestamp",
                                    "MaximumRetryAttempts",
                                    "MaximumRecordAgeInSeconds",
                                    "BisectBatchOnFunctionError",
                                    "ParallelizationFactor",
                                    "FunctionResponseTypes",
                                    "DestinationConfig",
                                    "ScalingConfig",
                                    "UUID"};
static const char *const STORED[] = {"CreatedMs", "LastModifiedMs"};

static int check_names(const cJSON *a, bool stored, lm_error *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        bool ok = false;
        for (size_t i = 0; !ok && i < sizeof(KNOWN) / sizeof(KNOWN[0]); i++) {
            ok = strcmp(it->string, KNOWN[i]) == 0;
        }
        for (size_t i = 0; stored && !ok && i < sizeof(STORED) / sizeof(STORED[0]); i++) {
            ok = strcmp(it->string, STORED[i]) == 0;
        }
        if (!ok) {
            return bad(e, "Unknown parameter %s", it->string);
        }
    }
    return LM_OK;
}

/* EventSourceArn: queue:NAME, stream:NAME, an sqs ARN or a kinesis
 * stream ARN. */
int esm_source_parse(const char *s, esm_cfg *c, lm_error *e)
{
    const char *ks = strstr(s, ":kinesis:");
    if (strncmp(s, "stream:", 7) == 0 || (strncmp(s, "arn:", 4) == 0 && ks != NULL)) {
        const char *name = s + 7;
        if (ks != NULL) {
            const char *p = strstr(ks, ":stream/");
            if (p == NULL) {
                return bad(e, "EventSourceArn %s is not a stream ARN", s);
            }
            name = p + 8;
        }
        size_t n = strlen(name);
        if (n == 0 || n > MQ_STREAM_NAME_MAX ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                         "QRSTUVWXYZ0123456789_.-") != n) {
            return bad(e, "EventSourceArn %s: not a valid stream name", s);
        }
        c->kind = ESM_STREAM;
        snprintf(c->source, sizeof(c->source), "%s", name);
        c->fifo = false;
        return LM_OK;
    }
    const char *ref = strncmp(s, "queue:", 6) == 0 ? s + 6 : s;
    if (ref == s && strncmp(s, "arn:", 4) != 0) {
        return bad(e, "EventSourceArn %s must be queue:NAME, stream:NAME or an sqs or kinesis ARN",
                   s);
    }
    char name[MQ_QUEUE_NAME_MAX + 1];
    lm_error qe;
    if (mq_queue_ref(ref, name, &qe) != LM_OK) {
        return bad(e, "EventSourceArn %s: not a valid queue", s);
    }
    c->kind = ESM_QUEUE;
    snprintf(c->source, sizeof(c->source), "%s", name);
    size_t n = strlen(name);
    c->fifo = n > 5 && strcmp(name + n - 5, ".fifo") == 0;
    return LM_OK;
}

/* The source exists (m's view, now). */
static int source_exists(const esm_cfg *c, mq *m, lm_error *e)
{
    lm_error me;
    cJSON *j = c->kind == ESM_QUEUE ? mq_queue_get(m, c->source, NULL, clk_now_ms(), &me)
                                    : mq_stream_describe(m, c->source, clk_now_ms(), &me);
    if (j == NULL) {
        return proto_error(e, LM_E_INVALID_PARAMETER, "The event source %s:%s does not exist (%s)",
                           c->kind == ESM_QUEUE ? "queue" : "stream", c->source, me.message);
    }
    cJSON_Delete(j);
    return LM_OK;
}

/* FilterCriteria: {} or {"Filters":[{"Pattern":"…"}, …]}; each pattern
 * compiles, and a stream's data pattern is an object (§6.2). */
static int parse_filters(const cJSON *fc, esm_cfg *c, int max_filters, lm_error *e)
{
    cJSON_Delete(c->filters);
    c->filters = NULL;
    if (cJSON_IsNull(fc)) {
        return LM_OK;
    }
    if (!cJSON_IsObject(fc)) {
        return bad(e, "%s must be an object {\"Filters\":[{\"Pattern\":\"…\"}]}", "FilterCriteria");
    }
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(fc, "Filters");
    if (fs == NULL || (cJSON_IsArray(fs) && cJSON_GetArraySize(fs) == 0)) {
        return LM_OK; /* {} removes filtering */
    }
    if (!cJSON_IsArray(fs)) {
        return bad(e, "%s must be an array", "FilterCriteria.Filters");
    }
    if (cJSON_GetArraySize(fs) > max_filters) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "FilterCriteria: %d filters, more than the %d allowed per mapping",
                           cJSON_GetArraySize(fs), max_filters);
    }
    c->filters = cJSON_Duplicate(fc, true);
    if (c->filters == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    esm_filter flt[ESM_FILTERS_MAX];
    int n = 0;
    int rc = esm_filters_compile(c, flt, &n, e);
    esm_filters_free(flt, n);
    return rc;
}

static int parse_destination(const cJSON *d, esm_cfg *c, lm_error *e)
{
    c->on_failure[0] = '\0';
    if (cJSON_IsNull(d)) {
        return LM_OK;
    }
    if (!cJSON_IsObject(d)) {
        return bad(e, "%s must be an object {\"OnFailure\":{\"Destination\":…}}",
                   "DestinationConfig");
    }
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(d, "OnFailure");
    const cJSON *dest = cJSON_GetObjectItemCaseSensitive(of, "Destination");
    if (of == NULL || cJSON_IsNull(dest) || (cJSON_IsString(dest) && dest->valuestring[0] == 0)) {
        return LM_OK; /* removes it */
    }
    if (!cJSON_IsString(dest)) {
        return bad(e, "%s must be a string", "DestinationConfig.OnFailure.Destination");
    }
    mq_target t;
    lm_error te;
    if (mq_target_parse(dest->valuestring, strlen(dest->valuestring), &t, &te) != LM_OK ||
        (t.kind != MQ_TARGET_QUEUE && t.kind != MQ_TARGET_TOPIC)) {
        return bad(e,
                   "The destination %s is not a queue or a topic (queue:NAME, topic:NAME or "
                   "an sqs or sns ARN)",
                   dest->valuestring);
    }
    snprintf(c->on_failure, sizeof(c->on_failure), "%s", t.arn);
    return LM_OK;
}

static int parse_response_types(const cJSON *v, esm_cfg *c, lm_error *e)
{
    if (!cJSON_IsArray(v)) {
        return bad(e, "%s must be an array", "FunctionResponseTypes");
    }
    c->rbif = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || strcmp(it->valuestring, "ReportBatchItemFailures") != 0) {
            return bad(e, "%s: the only response type is ReportBatchItemFailures",
                       "FunctionResponseTypes");
        }
        c->rbif = true;
    }
    return LM_OK;
}

/* Stream-only and queue-only parameters on the other kind. */
static int check_applies(const cJSON *a, const esm_cfg *c, lm_error *e)
{
    static const char *const stream_only[] = {
        "StartingPosition",          "StartingPositionTimestamp",  "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "ParallelizationFactor",
        "DestinationConfig"};
    const char *const *names =
        c->kind == ESM_QUEUE ? stream_only : (const char *const[]){"ScalingConfig"};
    size_t n = c->kind == ESM_QUEUE ? sizeof(stream_only) / sizeof(stream_only[0]) : 1;
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, names[i]);
        if (v != NULL && !cJSON_IsNull(v)) {
            return proto_error(e, LM_E_INVALID_PARAMETER,
                               "Unsupported parameter %s for an event source mapping of a %s",
                               names[i], c->kind == ESM_QUEUE ? "queue" : "stream");
        }
    }
    return LM_OK;
}

static void defaults(esm_cfg *c)
{
    c->batch_size = c->kind == ESM_QUEUE ? 10 : 100;
    c->window_s = 0;
    c->start = -1;
    c->max_retries = -1;
    c->max_age_s = -1;
    c->parallel = 1;
    c->enabled = true;
}

static int parse_start(const cJSON *a, esm_cfg *c, bool update, lm_error *e)
{
    bool wrong;
    const char *sp = get_str(a, "StartingPosition", &wrong);
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(a, "StartingPositionTimestamp");
    if (update && (sp != NULL || ts != NULL)) {
        return bad(e, "%s cannot be changed by an update", "StartingPosition");
    }
    if (update) {
        return LM_OK;
    }
    if (wrong) {
        return bad(e, "%s must be a string", "StartingPosition");
    }
    if (c->kind == ESM_QUEUE) {
        return LM_OK;
    }
    if (sp == NULL) {
        return bad(e, "%s is required for a stream (TRIM_HORIZON, LATEST or AT_TIMESTAMP)",
                   "StartingPosition");
    }
    int t = mq_iter_type_parse(sp);
    if (t != MQ_ITER_TRIM_HORIZON && t != MQ_ITER_LATEST && t != MQ_ITER_AT_TIMESTAMP) {
        return bad(e, "StartingPosition %s must be TRIM_HORIZON, LATEST or AT_TIMESTAMP", sp);
    }
    c->start = t;
    if ((t == MQ_ITER_AT_TIMESTAMP) != (ts != NULL)) {
        return bad(e, "%s is required with AT_TIMESTAMP, and only with it",
                   "StartingPositionTimestamp");
    }
    if (ts != NULL) {
        if (!cJSON_IsNumber(ts) || ts->valuedouble < 0 || ts->valuedouble > 1e11) {
            return bad(e, "%s must be epoch seconds", "StartingPositionTimestamp");
        }
        c->start_ts_ms = (int64_t)llround(ts->valuedouble * 1000.0);
    }
    return LM_OK;
}

static int parse_function(const cJSON *a, esm_cfg *c, bool check, lm_error *e)
{
    bool wrong;
    const char *fn = get_str(a, "FunctionName", &wrong);
    if (wrong || (fn != NULL && fn[0] == '\0')) {
        return bad(e, "%s must be a function name or ARN", "FunctionName");
    }
    if (fn == NULL) {
        return c->function[0] != '\0' ? LM_OK : bad(e, "%s is required", "FunctionName");
    }
    int rc = invoke_parse_name(fn, strlen(fn), "", 0, c->function, c->qual, e);
    if (rc == LM_OK && check) {
        rc = invoke_check(c->function, c->qual, NULL, e);
    }
    return rc;
}

static int parse_kind_params(const cJSON *a, esm_cfg *c, int max_filters, lm_error *e)
{
    int rc = check_applies(a, c, e);
    int max_batch = c->kind == ESM_QUEUE && c->fifo ? 10 : ESM_BATCH_MAX;
    if (rc == LM_OK) {
        rc = get_int(a, "BatchSize", 1, max_batch, &c->batch_size, NULL, e);
    }
    if (rc == LM_OK) {
        rc = get_int(a, "MaximumBatchingWindowInSeconds", 0, ESM_WINDOW_MAX, &c->window_s, NULL, e);
    }
    if (rc == LM_OK) {
        rc = get_bool(a, "Enabled", &c->enabled, e);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "FilterCriteria");
    if (rc == LM_OK && v != NULL) {
        rc = parse_filters(v, c, max_filters, e);
    }
    v = cJSON_GetObjectItemCaseSensitive(a, "FunctionResponseTypes");
    if (rc == LM_OK && v != NULL) {
        rc = parse_response_types(v, c, e);
    }
    if (rc == LM_OK && c->kind == ESM_STREAM) {
        rc = get_int(a, "MaximumRetryAttempts", -1, ESM_RETRIES_MAX, &c->max_retries, NULL, e);
        bool given = false;
        int age = c->max_age_s;
        if (rc == LM_OK) {
            rc = get_int(a, "MaximumRecordAgeInSeconds", -1, ESM_AGE_MAX, &age, &given, e);
        }
        if (rc == LM_OK && given && age != -1 && age < ESM_AGE_MIN) {
            rc = bad(e, "%s must be -1 or between 60 and 604800", "MaximumRecordAgeInSeconds");
        }
        c->max_age_s = age;
        if (rc == LM_OK) {
            rc = get_bool(a, "BisectBatchOnFunctionError", &c->bisect, e);
        }
        if (rc == LM_OK) {
            rc = get_int(a, "ParallelizationFactor", 1, ESM_PARALLEL_MAX, &c->parallel, NULL, e);
        }
        v = cJSON_GetObjectItemCaseSensitive(a, "DestinationConfig");
        if (rc == LM_OK && v != NULL) {
            rc = parse_destination(v, c, e);
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(a, "ScalingConfig");
    if (rc == LM_OK && c->kind == ESM_QUEUE && v != NULL) {
        c->max_conc = 0;
        if (!cJSON_IsObject(v) && !cJSON_IsNull(v)) {
            rc = bad(e, "%s must be an object {\"MaximumConcurrency\":N}", "ScalingConfig");
        } else if (cJSON_IsObject(v)) {
            rc = get_int(v, "MaximumConcurrency", ESM_CONCURRENCY_MIN, ESM_CONCURRENCY_MAX,
                         &c->max_conc, NULL, e);
        }
    }
    return rc;
}

/* The rules between fields, on the result. */
static int check_combined(const esm_cfg *c, lm_error *e)
{
    /* queues only: a stream's own defaults (100 records, no window) would
     * break the rule (README.md) */
    if (c->kind == ESM_QUEUE && c->batch_size > 10 && c->window_s < 1) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "BatchSize %d needs MaximumBatchingWindowInSeconds of at least 1 "
                           "(batches larger than 10)",
                           c->batch_size);
    }
    if (c->kind == ESM_QUEUE && c->fifo && c->window_s > 0) {
        return bad(e, "%s is not supported for FIFO queues", "MaximumBatchingWindowInSeconds");
    }
    return LM_OK;
}

int esm_cfg_parse(const cJSON *a, const esm_cfg *old, mq *m, bool stored, int max_filters,
                  esm_cfg *c, lm_error *e)
{
    memset(c, 0, sizeof(*c));
    if (!cJSON_IsObject(a)) {
        return bad(e, "%s must be an object", "args");
    }
    int rc = check_names(a, stored, e);
    if (rc != LM_OK) {
        return rc;
    }
    bool wrong;
    const char *src = get_str(a, "EventSourceArn", &wrong);
    if (old != NULL) {
        *c = *old;
        c->filters = old->filters != NULL ? cJSON_Duplicate(old->filters, true) : NULL;
        if (src != NULL || wrong) {
            return bad(e, "%s cannot be changed by an update", "EventSourceArn");
        }
    } else {
        if (src == NULL || wrong) {
            return bad(e, "%s is required (queue:NAME or stream:NAME or an ARN)", "EventSourceArn");
        }
        rc = esm_source_parse(src, c, e);
        if (rc != LM_OK) {
            return rc;
        }
        defaults(c);
        if (m != NULL && (rc = source_exists(c, m, e)) != LM_OK) {
            return rc;
        }
    }
    rc = parse_function(a, c, m != NULL, e);
    if (rc == LM_OK) {
        rc = parse_start(a, c, old != NULL, e);
    }
    if (rc == LM_OK) {
        rc = parse_kind_params(a, c, max_filters, e);
    }
    if (rc == LM_OK) {
        rc = check_combined(c, e);
    }
    if (rc == LM_OK && stored) {
        const char *u = get_str(a, "UUID", &wrong);
        const cJSON *cr = cJSON_GetObjectItemCaseSensitive(a, "CreatedMs");
        const cJSON *lm = cJSON_GetObjectItemCaseSensitive(a, "LastModifiedMs");
        if (u == NULL || strlen(u) != 36 || !cJSON_IsNumber(cr) || !cJSON_IsNumber(lm)) {
            return bad(e, "%s: a stored mapping lacks its UUID or times", "esm");
        }
        snprintf(c->uuid, sizeof(c->uuid), "%s", u);
        c->created_ms = (int64_t)cr->valuedouble;
        c->modified_ms = (int64_t)lm->valuedouble;
    }
    return rc;
}

void esm_cfg_finish(esm_cfg *c)
{
    cJSON_Delete(c->filters);
    c->filters = NULL;
}

void esm_source_arn(const esm_cfg *c, char out[MQ_ARN_MAX])
{
    if (c->kind == ESM_QUEUE) {
        mq_queue_arn(c->source, out);
    } else {
        snprintf(out, MQ_ARN_MAX, "arn:%s:kinesis:%s:%s:stream/%s", MQ_ARN_PARTITION, MQ_ARN_REGION,
                 MQ_ARN_ACCOUNT, c->source);
    }
}

void esm_mapping_arn(const esm_cfg *c, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:lambda:%s:%s:event-source-mapping:%s", MQ_ARN_PARTITION,
             MQ_ARN_REGION, MQ_ARN_ACCOUNT, c->uuid);
}

static const char *start_name(int t)
{
    return t == MQ_ITER_TRIM_HORIZON ? "TRIM_HORIZON"
           : t == MQ_ITER_LATEST     ? "LATEST"
                                     : "AT_TIMESTAMP";
}

static void add_stream_fields(cJSON *j, const esm_cfg *c, bool stored)
{
    cJSON_AddStringToObject(j, "StartingPosition", start_name(c->start));
    if (c->start == MQ_ITER_AT_TIMESTAMP) {
        cJSON_AddNumberToObject(j, "StartingPositionTimestamp", (double)c->start_ts_ms / 1000.0);
    }
    cJSON_AddNumberToObject(j, "MaximumRetryAttempts", c->max_retries);
    cJSON_AddNumberToObject(j, "MaximumRecordAgeInSeconds", c->max_age_s);
    cJSON_AddBoolToObject(j, "BisectBatchOnFunctionError", c->bisect);
    cJSON_AddNumberToObject(j, "ParallelizationFactor", c->parallel);
    cJSON *d = cJSON_AddObjectToObject(j, "DestinationConfig");
    if (c->on_failure[0] != '\0' || !stored) {
        cJSON *of = cJSON_AddObjectToObject(d, "OnFailure");
        if (c->on_failure[0] != '\0') {
            cJSON_AddStringToObject(of, "Destination", c->on_failure);
        }
    }
}

cJSON *esm_cfg_json(const esm_cfg *c, bool stored)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL) {
        return NULL;
    }
    char arn[MQ_ARN_MAX];
    cJSON_AddStringToObject(j, "UUID", c->uuid);
    if (stored) {
        char fn[NAME_MAX_LEN + 132];
        snprintf(fn, sizeof(fn), "%s%s%s", c->function, c->qual[0] != '\0' ? ":" : "", c->qual);
        cJSON_AddStringToObject(j, "FunctionName", fn);
        cJSON_AddBoolToObject(j, "Enabled", c->enabled);
        cJSON_AddNumberToObject(j, "CreatedMs", (double)c->created_ms);
        cJSON_AddNumberToObject(j, "LastModifiedMs", (double)c->modified_ms);
    } else {
        esm_mapping_arn(c, arn);
        cJSON_AddStringToObject(j, "EventSourceMappingArn", arn);
        mq_function_arn(c->function, c->qual, arn);
        cJSON_AddStringToObject(j, "FunctionArn", arn);
        cJSON_AddNumberToObject(j, "LastModified", (double)c->modified_ms / 1000.0);
    }
    esm_source_arn(c, arn);
    cJSON_AddStringToObject(j, "EventSourceArn", arn);
    cJSON_AddNumberToObject(j, "BatchSize", c->batch_size);
    cJSON_AddNumberToObject(j, "MaximumBatchingWindowInSeconds", c->window_s);
    if (c->filters != NULL) {
        cJSON_AddItemToObject(j, "FilterCriteria", cJSON_Duplicate(c->filters, true));
    } else if (!stored) {
        cJSON_AddObjectToObject(j, "FilterCriteria");
    }
    cJSON *rt = cJSON_AddArrayToObject(j, "FunctionResponseTypes");
    if (c->rbif) {
        cJSON_AddItemToArray(rt, cJSON_CreateString("ReportBatchItemFailures"));
    }
    if (c->kind == ESM_STREAM) {
        add_stream_fields(j, c, stored);
    } else if (c->max_conc > 0) {
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(j, "ScalingConfig"), "MaximumConcurrency",
                                c->max_conc);
    }
    return j;
}

/* ---- filters ---- */

/* What the pattern asks of the data key (§6.2). */
static int key_rule(const esm_cfg *c, const char *pattern, esm_key_rule *rule, lm_error *e)
{
    const char *key = c->kind == ESM_QUEUE ? "body" : "data";
    cJSON *p = cJSON_Parse(pattern);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    *rule = v == NULL ? ESM_KEY_ANY : cJSON_IsObject(v) ? ESM_KEY_JSON : ESM_KEY_PLAIN;
    cJSON_Delete(p);
    if (*rule == ESM_KEY_PLAIN && c->kind == ESM_STREAM) {
        return bad(e,
                   "FilterCriteria: a stream's %s pattern must be a JSON object (records are "
                   "filtered on their decoded JSON data)",
                   key);
    }
    return LM_OK;
}

int esm_filters_compile(const esm_cfg *c, esm_filter *flt, int *n_flt, lm_error *e)
{
    *n_flt = 0;
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(c->filters, "Filters");
    const cJSON *it;
    cJSON_ArrayForEach(it, fs)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "Pattern");
        if (!cJSON_IsObject(it) || !cJSON_IsString(p)) {
            return bad(e, "%s: each filter is {\"Pattern\":\"<JSON text>\"}", "FilterCriteria");
        }
        if (*n_flt >= ESM_FILTERS_MAX) {
            return bad(e, "%s: too many filters", "FilterCriteria");
        }
        filter_error fe;
        filter *f = filter_compile(p->valuestring, strlen(p->valuestring), &fe);
        if (f == NULL) {
            return proto_error(e, LM_E_INVALID_PARAMETER, "FilterCriteria: invalid pattern: %s",
                               fe.message);
        }
        flt[*n_flt].f = f;
        (*n_flt)++;
        int rc = key_rule(c, p->valuestring, &flt[*n_flt - 1].rule, e);
        if (rc != LM_OK) {
            return rc;
        }
    }
    return LM_OK;
}

void esm_filters_free(esm_filter *flt, int n)
{
    for (int i = 0; i < n; i++) {
        filter_destroy(flt[i].f);
        flt[i].f = NULL;
    }
}
