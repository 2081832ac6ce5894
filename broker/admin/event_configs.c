/*
 * broker/admin/event_configs.c — event-config-put/get/delete: a function's event invoke
 * config (MaximumRetryAttempts, MaximumEventAgeInSeconds, destinations),
 * which async/asyncq.c reads on its own connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin/internal.h"
#include "messaging/target.h"
#include "core/sbxhost.h"
#include "store/store.h"

/* ---- event invoke config (async invokes; see asyncq.c) ---- */

/* DestinationConfig.<key>.Destination: a Lamina function (NAME, NAME:Q,
 * function:NAME[:Q] or an ARN ending so); "" when absent. */
static int get_destination(const msgpack_object *dc, const char *key, char out[352], lm_error *e)
{
    const msgpack_object *d = NULL;
    const char *s = NULL;
    size_t n = 0;
    char name[NAME_MAX_LEN + 1], qual[130];
    out[0] = '\0';
    if (dc == NULL) {
        return LM_OK;
    }
    if (proto_get_map(dc, key, false, &d, e) != LM_OK ||
        (d != NULL && proto_get_str(d, "Destination", false, &s, &n, e) != LM_OK) || n > 350) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "DestinationConfig.%s must be {\"Destination\": \"<at most 350 "
                           "characters>\"}",
                           key);
    }
    if (s == NULL || n == 0) {
        return LM_OK;
    }
    mq_target t;
    if (mq_target_parse(s, n, &t, e) != LM_OK) {
        char why[sizeof(e->message)];
        snprintf(why, sizeof(why), "%s", e->message);
        return proto_error(e, LM_E_INVALID_PARAMETER, "DestinationConfig.%s.Destination '%.*s': %s",
                           key, (int)n, s, why);
    }
    if (t.kind == MQ_TARGET_FUNCTION && invoke_parse_name(s, n, NULL, 0, name, qual, e) != LM_OK) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "DestinationConfig.%s.Destination '%.*s' is not a function, queue "
                           "or topic: give NAME[:QUALIFIER], queue:NAME, topic:NAME or an ARN",
                           key, (int)n, s);
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return LM_OK;
}

static int parse_event_config(const msgpack_object *args, event_config *c, lm_error *e)
{
    uint32_t retry = 0, age = 0;
    const msgpack_object *dc = NULL;
    memset(c, 0, sizeof(*c));
    if (adm_get_range(args, "MaximumRetryAttempts", 0, 2, EVENT_DEFAULT_RETRIES, &retry, e) !=
            LM_OK ||
        adm_get_range(args, "MaximumEventAgeInSeconds", 60, 21600, EVENT_DEFAULT_MAX_AGE, &age,
                      e) != LM_OK) {
        return e->code;
    }
    if (proto_get_map(args, "DestinationConfig", false, &dc, e) != LM_OK) {
        return adm_bad(e, "%s must be {\"OnSuccess\": {...}, \"OnFailure\": {...}}",
                       "DestinationConfig");
    }
    if (get_destination(dc, "OnSuccess", c->on_success, e) != LM_OK ||
        get_destination(dc, "OnFailure", c->on_failure, e) != LM_OK) {
        return e->code;
    }
    c->max_retry = (int)retry;
    c->max_age_s = (int)age;
    c->last_modified = (double)clk_wall_ms() / 1000.0;
    return LM_OK;
}

static void write_destination(proto_writer *w, const char *key, const char *dest)
{
    pw_key(w, key);
    if (dest[0] == '\0') {
        pw_map(w, 0);
        return;
    }
    pw_map(w, 1);
    pw_key(w, "Destination");
    pw_str(w, dest);
}

static nng_msg *reply_event_config(const char *name, const event_config *c)
{
    proto_writer w;
    char arn[NAME_MAX_LEN + 32];
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    snprintf(arn, sizeof(arn), "function:%s:$LATEST", name);
    pw_map(&w, 5);
    pw_key(&w, "FunctionArn");
    pw_str(&w, arn);
    pw_key(&w, "MaximumRetryAttempts");
    pw_int(&w, c->max_retry);
    pw_key(&w, "MaximumEventAgeInSeconds");
    pw_int(&w, c->max_age_s);
    pw_key(&w, "LastModified");
    pw_double(&w, c->last_modified);
    pw_key(&w, "DestinationConfig");
    pw_map(&w, 2);
    write_destination(&w, "OnSuccess", c->on_success);
    write_destination(&w, "OnFailure", c->on_failure);
    return proto_reply_end(&w, m);
}

/* The function must exist (an unqualified name: configs are per function). */
static int event_config_target(const msgpack_object *args, char name[NAME_MAX_LEN + 1], lm_error *e)
{
    if (adm_get_name(args, name, e) != LM_OK) {
        return e->code;
    }
    pthread_mutex_lock(&B.mtx);
    bool found = registry_find(name) != NULL;
    pthread_mutex_unlock(&B.mtx);
    return found ? LM_OK : adm_not_found(e, name, "");
}

static nng_msg *event_config_op(const msgpack_object *args, char which, lm_error *e)
{
    char name[NAME_MAX_LEN + 1];
    event_config c;
    if (event_config_target(args, name, e) != LM_OK) {
        return NULL;
    }
    if (which == 'p') {
        if (parse_event_config(args, &c, e) != LM_OK ||
            store_put_event_config(name, &c, e) != LM_OK) {
            return NULL;
        }
        blog(LOG_INFO, "event invoke config of %s: retries %d, max age %d s", name, c.max_retry,
             c.max_age_s);
        return reply_event_config(name, &c);
    }
    if (store_get_event_config(name, &c, e) != LM_OK) {
        return NULL;
    }
    if (which == 'g') {
        return reply_event_config(name, &c);
    }
    return store_delete_event_config(name, e) == LM_OK ? adm_empty_reply() : NULL;
}

nng_msg *admin_event_config_put(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return event_config_op(args, 'p', e);
}

nng_msg *admin_event_config_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return event_config_op(args, 'g', e);
}

nng_msg *admin_event_config_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    return event_config_op(args, 'd', e);
}
