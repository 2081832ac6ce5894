/*
 * broker/front/ops.c — the one op table: every api operation, where it
 * runs, and the handler that calls the layers below.  front/api.c (the
 * api socket) decodes a request, looks its op up here and hands it over
 * with a completion; the coming HTTP front end and pollers call the same
 * layers with their own completions.
 *
 * Where an op runs:
 *   - OP_INLINE: in the api socket's nng callback, at once.  Only what
 *     never blocks: ping, invoke (routing; the run itself is the pool's),
 *     event-wait (registering a waiter).
 *   - OP_ADMIN: queued to the admin thread (admin/admin.c), one at a time,
 *     because it touches the disk.
 *   - OP_MESSAGING: queued to the messaging thread (messaging/service.c):
 *     the queue-*, topic-* and stream-* ops, which it groups into one commit.
 *   - OP_ESM: queued to the esm thread (esm/esm.c), which owns the event
 *     source mappings and their pollers: the esm-* ops.
 * `args` says whether the request's "args" map is required (checked
 * here, with the same error the handler would give), optional, or not
 * read at all (invoke's fields are at the top level).
 *
 * Invoke: the request's fields are read here (the wire format is the api
 * socket's), the rules of an invoke are the core's (invoke_validate), and
 * the outcome is encoded here into the "result" reply: status, executed
 * version, FunctionError, request id, payload, init/duration ms and the
 * log tail for LogType Tail.  Event invokes go to the async layer, which
 * answers 202 once the event is durable; DryRun only resolves the target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "async/async.h"
#include "core/core.h"
#include "core/sbxhost.h"
#include "front/front.h"
#include "lib/listen.h"

/* ---- ping ---- */

static void op_ping(nng_msg *msg, const proto_doc *doc, const msgpack_object *args, completion done)
{
    (void)doc;
    (void)args;
    nng_msg_free(msg);
    complete_reply(done, proto_op_msg("pong")); /* clients confirm their connection (sdk) */
}

/* ---- invoke ---- */

typedef struct invoke_req {
    const char *fn, *q, *cc, *ikey;
    size_t fnlen, qlen, cclen, ikeylen;
    int64_t type;
    bool tail;
    const void *payload;
    size_t payload_len;
} invoke_req;

static int parse_request(const proto_doc *doc, invoke_req *r, lm_error *e)
{
    memset(r, 0, sizeof(*r));
    const msgpack_object *m = doc->root;
    int rc = proto_get_str(m, "fn", true, &r->fn, &r->fnlen, e);
    if (rc == LM_OK) {
        rc = proto_get_str(m, "q", false, &r->q, &r->qlen, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_int(m, "type", false, &r->type, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_bool(m, "tail", false, &r->tail, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_str(m, "cc", false, &r->cc, &r->cclen, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_bin(m, "payload", false, &r->payload, &r->payload_len, e);
    }
    if (rc == LM_OK) {
        rc = proto_get_str(m, "ikey", false, &r->ikey, &r->ikeylen, e);
        const msgpack_object *k = proto_find(m, "ikey");
        if (rc == LM_OK && r->ikey == NULL && k != NULL && k->type == MSGPACK_OBJECT_STR) {
            r->ikey = ""; /* present but empty: refused below, not taken for absent */
        }
    }
    if (rc != LM_OK) {
        /* a field of the wrong type is a bad parameter, as Lambda reports it */
        e->code = LM_E_INVALID_PARAMETER;
        e->status = proto_err_status(LM_E_INVALID_PARAMETER);
        snprintf(e->type, sizeof(e->type), "%s", proto_err_type(LM_E_INVALID_PARAMETER));
        return LM_E_INVALID_PARAMETER;
    }
    if (r->type < PROTO_INVOKE_REQUEST_RESPONSE || r->type > PROTO_INVOKE_DRY_RUN) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "InvocationType must be RequestResponse, Event or DryRun");
    }
    const char *why = r->ikey != NULL ? proto_idempotency_key_problem(r->ikey, r->ikeylen) : NULL;
    if (r->ikey != NULL && r->type != PROTO_INVOKE_EVENT) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "IdempotencyKey is only for the Event invocation type");
    }
    if (why != NULL) {
        return proto_error(e, LM_E_INVALID_PARAMETER, "IdempotencyKey: %s", why);
    }
    if (r->payload == NULL || r->payload_len == 0) {
        r->payload = "{}";
        r->payload_len = 2;
    }
    return LM_OK;
}

/* A RequestResponse invoke's owner: the caller's completion. */
typedef struct invoke_call {
    completion done;
} invoke_call;

/* invoke_done_fn (B.mtx held): encode the outcome as the api's reply. */
static void invoke_finished(void *arg, const invoke_outcome *o)
{
    invoke_call *call = arg;
    completion done = call->done;
    free(call);
    if (o->err != NULL) {
        complete_error(done, o->err);
        return;
    }
    const char *tail = o->log_tail;
    proto_writer w;
    nng_msg *m = proto_reply_begin(&w, "result", 7 + (tail != NULL),
                                   o->payload_len + 512 + (tail != NULL ? strlen(tail) : 0));
    if (m != NULL) {
        pw_key(&w, "status");
        pw_int(&w, o->status);
        pw_key(&w, "version");
        pw_str(&w, o->version);
        pw_key(&w, "ferr");
        pw_str(&w, o->ferr);
        pw_key(&w, "rid");
        pw_str(&w, o->rid);
        pw_key(&w, "payload");
        pw_bin(&w, o->payload, o->payload_len);
        pw_key(&w, "init_ms");
        pw_double(&w, o->init_ms);
        pw_key(&w, "dur_ms");
        pw_double(&w, o->dur_ms);
        if (tail != NULL) {
            pw_key(&w, "log");
            pw_str(&w, tail);
        }
    }
    complete_reply(done, proto_reply_end(&w, m));
}

static nng_msg *dry_run_reply(const char *version)
{
    proto_writer w;
    nng_msg *m = proto_reply_begin(&w, "result", 2, 0);
    if (m == NULL) {
        return NULL;
    }
    pw_key(&w, "status");
    pw_int(&w, 204);
    pw_key(&w, "version");
    pw_str(&w, version);
    return proto_reply_end(&w, m);
}

static void op_invoke(nng_msg *msg, const proto_doc *doc, const msgpack_object *args,
                      completion done)
{
    (void)args;
    invoke_req r;
    lm_error e;
    char name[NAME_MAX_LEN + 1], qual[130], version[VERSION_MAX_LEN + 1];
    int rc = parse_request(doc, &r, &e);
    if (rc == LM_OK) {
        rc = invoke_parse_name(r.fn, r.fnlen, r.q, r.qlen, name, qual, &e);
    }
    if (rc == LM_OK && r.type != PROTO_INVOKE_DRY_RUN) {
        rc = invoke_validate(r.type, r.payload, r.payload_len, r.cclen, &e);
    }
    if (rc == LM_OK && r.type == PROTO_INVOKE_DRY_RUN) {
        rc = invoke_check(name, qual, version, &e);
        if (rc == LM_OK) {
            nng_msg_free(msg);
            complete_reply(done, dry_run_reply(version));
            return;
        }
    } else if (rc == LM_OK && r.type == PROTO_INVOKE_EVENT) {
        rc = invoke_check(name, qual, NULL, &e);
        if (rc == LM_OK) { /* durable enqueue and the 202 happen on the asyncq thread */
            asyncq_submit(done, msg, name, qual, r.payload, r.payload_len, r.ikey, r.ikeylen);
            return;
        }
    } else if (rc == LM_OK) {
        invoke_call *call = malloc(sizeof(*call));
        if (call == NULL) {
            rc = proto_error(&e, LM_E_NOMEM, NULL);
        } else {
            call->done = done;
            invoke_opts o = {.tail = r.tail, .client_context = r.cc, .cc_len = r.cclen};
            rc = invoke_start(name, qual, msg, r.payload, r.payload_len, &o, invoke_finished, call,
                              &e); /* takes msg */
            if (rc == LM_OK) {
                return;
            }
            free(call);
            complete_error(done, &e);
            return;
        }
    }
    nng_msg_free(msg);
    complete_error(done, &e);
}

/* ---- event-wait ---- */

/* event-wait {RequestId, TimeoutMs?}: validate, then wait in the async
 * layer (async/asyncwait.c). */
static void op_event_wait(nng_msg *msg, const proto_doc *doc, const msgpack_object *args,
                          completion done)
{
    lm_error e;
    const char *rid = NULL;
    size_t len = 0;
    int64_t timeout = ASYNCWAIT_DEFAULT_TIMEOUT_MS;
    char id[40];
    (void)doc;
    int rc = proto_get_str(args, "RequestId", true, &rid, &len, &e);
    if (rc == LM_OK) {
        rc = proto_copy_str(rid, len, id, sizeof(id), "RequestId", &e);
    }
    if (rc == LM_OK) {
        rc = proto_get_int(args, "TimeoutMs", false, &timeout, &e);
    }
    if (rc == LM_OK && (timeout < 0 || timeout > ASYNCWAIT_MAX_TIMEOUT_MS)) {
        rc = proto_error(&e, LM_E_INVALID_PARAMETER,
                         "1 validation error detected: Value %lld at 'timeoutMs' failed to satisfy "
                         "constraint: Member must have value between 0 and %d",
                         (long long)timeout, ASYNCWAIT_MAX_TIMEOUT_MS);
    }
    if (rc == LM_OK && len == 0) {
        rc = proto_error(&e, LM_E_INVALID_PARAMETER, "RequestId must not be empty");
    }
    nng_msg_free(msg);
    if (rc != LM_OK) {
        complete_error(done, &e);
        return;
    }
    asyncq_wait(done, id, timeout);
}

/* ---- status ---- */

/* status: the broker at a glance, from every layer.  Runs on the admin
 * thread (the sandbox probe may read files the first time). */
static nng_msg *op_status(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    (void)args;
    (void)e;
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    int total, idle, busy, spawning;
    pthread_mutex_lock(&B.mtx);
    pool_counts(&total, &idle, &busy, &spawning);
    int64_t aq_queued = 0;
    int aq_running = 0;
    asyncq_counts(&aq_queued, &aq_running);
    pw_map(&w, 15);
    pw_key(&w, "Version");
    pw_str(&w, BROKER_VERSION);
    pw_key(&w, "UptimeSeconds");
    pw_double(&w, (clk_mono_ms() - B.started_at) / 1000.0);
    pw_key(&w, "StateDir");
    pw_str(&w, B.opt.state);
    pw_key(&w, "Functions");
    pw_int(&w, registry_count());
    pw_key(&w, "Workers");
    pw_map(&w, 4);
    pw_key(&w, "Total");
    pw_int(&w, total);
    pw_key(&w, "Idle");
    pw_int(&w, idle);
    pw_key(&w, "Busy");
    pw_int(&w, busy);
    pw_key(&w, "Starting");
    pw_int(&w, spawning);
    pw_key(&w, "MaxConcurrency");
    pw_int(&w, B.opt.max_concurrency);
    pw_key(&w, "Concurrency");
    admin_write_concurrency_status(&w);
    pw_key(&w, "Invocations");
    pw_int(&w, (int64_t)B.invocations);
    pw_key(&w, "ColdStarts");
    pw_int(&w, (int64_t)B.cold_starts);
    int64_t dest_failures = 0, dlq_errors = 0;
    asyncq_delivery_counts(&dest_failures, &dlq_errors);
    pw_key(&w, "AsyncQueue");
    pw_map(&w, 4);
    pw_key(&w, "Depth");
    pw_int(&w, aq_queued);
    pw_key(&w, "Running");
    pw_int(&w, aq_running);
    pw_key(&w, "DestinationDeliveryFailures");
    pw_int(&w, dest_failures);
    pw_key(&w, "DeadLetterErrors");
    pw_int(&w, dlq_errors);
    pw_key(&w, "Messaging");
    mqsvc_write_status(&w);
    esm_counters ec;
    esm_counts(&ec);
    pw_key(&w, "EventSourceMappings");
    pw_map(&w, 5);
    pw_key(&w, "Mappings");
    pw_int(&w, ec.mappings);
    pw_key(&w, "Batches");
    pw_int(&w, ec.batches);
    pw_key(&w, "FailedBatches");
    pw_int(&w, ec.failures);
    pw_key(&w, "Records");
    pw_int(&w, ec.records);
    pw_key(&w, "FilteredOut");
    pw_int(&w, ec.filtered);
    pw_key(&w, "ListenersReplaced");
    pw_int(&w, (int64_t)listen_replacements());
    pw_key(&w, "ListenerProbes");
    pw_int(&w, (int64_t)listen_probes());
    pw_key(&w, "Sandbox");
    sbxhost_write_status(&w, B.opt.unsafe_no_sandbox);
    pthread_mutex_unlock(&B.mtx);
    return proto_reply_end(&w, m);
}

/* ---- the table ---- */

static const op_def OPS[] = {
    /* the hot path first: the lookup is a linear scan */
    {"invoke", OP_INLINE, OP_ARGS_NONE, op_invoke, NULL, NULL},
    {"ping", OP_INLINE, OP_ARGS_NONE, op_ping, NULL, NULL},
    {"event-wait", OP_INLINE, OP_ARGS_REQUIRED, op_event_wait, NULL, NULL},
    {"create", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_create, NULL},
    {"get", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_get, NULL},
    {"list", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_list, NULL},
    {"delete", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_delete, NULL},
    {"status", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, op_status, NULL},
    {"retire-workers", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_retire, NULL},
    {"update-code", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_update_code, NULL},
    {"update-config", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_update_config, NULL},
    {"publish", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_publish, NULL},
    {"versions", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_versions, NULL},
    {"alias-create", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_alias_create, NULL},
    {"alias-update", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_alias_update, NULL},
    {"alias-get", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_alias_get, NULL},
    {"alias-list", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_alias_list, NULL},
    {"alias-delete", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_alias_delete, NULL},
    {"event-config-put", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_event_config_put, NULL},
    {"event-config-get", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_event_config_get, NULL},
    {"event-config-delete", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_event_config_delete, NULL},
    /* function URLs (admin/urls.c; served by front/http.c) */
    {"url-create", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_url_create, NULL},
    {"url-get", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_url_get, NULL},
    {"url-update", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_url_update, NULL},
    {"url-delete", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_url_delete, NULL},
    {"url-list", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_url_list, NULL},
    /* access keys for SigV4 (admin/keys.c) */
    {"keys-create", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_keys_create, NULL},
    {"keys-list", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_keys_list, NULL},
    {"keys-delete", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_keys_delete, NULL},
    {"concurrency-put", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_concurrency_put, NULL},
    {"concurrency-get", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_concurrency_get, NULL},
    {"concurrency-delete", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_concurrency_delete, NULL},
    {"provisioned-put", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_provisioned_put, NULL},
    {"provisioned-get", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_provisioned_get, NULL},
    {"provisioned-delete", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_provisioned_delete, NULL},
    {"provisioned-list", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_provisioned_list, NULL},
    {"clock-advance", OP_ADMIN, OP_ARGS_OPTIONAL, NULL, admin_clock_advance, NULL},
    {"queue-create", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_create},
    {"queue-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_list},
    {"queue-get", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_get},
    {"queue-set", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_set},
    {"queue-purge", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_purge},
    {"queue-delete", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_delete},
    {"queue-send", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_send},
    {"queue-send-batch", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_send_batch},
    {"queue-receive", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_queue_receive},
    {"queue-delete-message", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL,
     mqops_queue_delete_message},
    {"queue-change-visibility", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL,
     mqops_queue_change_visibility},
    {"topic-create", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_create},
    {"topic-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_list},
    {"topic-get", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_get},
    {"topic-delete", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_delete},
    {"topic-subscribe", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_subscribe},
    {"topic-unsubscribe", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_unsubscribe},
    {"topic-subscriptions", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_subscriptions},
    {"topic-publish", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_topic_publish},
    /* streams (Kinesis Data Streams; messaging/stream_ops.c) */
    {"stream-create", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_create},
    {"stream-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_list},
    {"stream-get", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_get},
    {"stream-delete", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_delete},
    {"stream-put", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_put},
    {"stream-put-batch", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_put_batch},
    {"stream-iterator", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_iterator},
    {"stream-get-records", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_get_records},
    {"stream-split", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_split},
    {"stream-merge", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_stream_merge},
    /* buses (messaging/bus_ops.c) */
    {"bus-create", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_bus_create},
    {"bus-delete", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_bus_delete},
    {"bus-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_bus_list},
    {"bus-put-events", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_bus_put_events},
    {"rule-put", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_put},
    {"rule-delete", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_delete},
    {"rule-targets-put", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_targets_put},
    {"bus-get", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_bus_get},
    {"rule-get", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_get},
    {"rule-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_list},
    {"rule-enable", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_enable},
    {"rule-disable", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_disable},
    {"rule-targets-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_targets_list},
    {"rule-targets-remove", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_rule_targets_remove},
    {"bus-tail", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_bus_tail},
    {"archive-create", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_archive_create},
    {"archive-delete", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_archive_delete},
    {"archive-get", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_archive_get},
    {"archive-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_archive_list},
    {"replay-start", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_replay_start},
    {"replay-get", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_replay_get},
    {"replay-list", OP_MESSAGING, OP_ARGS_OPTIONAL, NULL, NULL, mqops_replay_list},
    /* event source mappings (esm/esm.c; Lambda's field names) */
    {"esm-create", OP_ESM, OP_ARGS_REQUIRED, NULL, NULL, esm_op_create},
    {"esm-list", OP_ESM, OP_ARGS_OPTIONAL, NULL, NULL, esm_op_list},
    {"esm-get", OP_ESM, OP_ARGS_REQUIRED, NULL, NULL, esm_op_get},
    {"esm-update", OP_ESM, OP_ARGS_REQUIRED, NULL, NULL, esm_op_update},
    {"esm-delete", OP_ESM, OP_ARGS_REQUIRED, NULL, NULL, esm_op_delete},
    {"esm-enable", OP_ESM, OP_ARGS_REQUIRED, NULL, NULL, esm_op_enable},
    {"esm-disable", OP_ESM, OP_ARGS_REQUIRED, NULL, NULL, esm_op_disable},
};

const op_def *ops_find(const char *op, size_t n)
{
    for (size_t i = 0; i < sizeof(OPS) / sizeof(OPS[0]); i++) {
        if (strlen(OPS[i].name) == n && memcmp(OPS[i].name, op, n) == 0) {
            return &OPS[i];
        }
    }
    return NULL;
}

const op_def *ops_table(size_t *n)
{
    *n = sizeof(OPS) / sizeof(OPS[0]);
    return OPS;
}

void ops_run(const op_def *d, nng_msg *msg, const proto_doc *doc, completion done)
{
    lm_error e;
    const msgpack_object *args = NULL;
    if (d->args != OP_ARGS_NONE &&
        proto_get_map(doc->root, "args", d->args == OP_ARGS_REQUIRED, &args, &e) != LM_OK) {
        nng_msg_free(msg);
        complete_error(done, &e);
        return;
    }
    if (d->where == OP_INLINE) {
        d->run(msg, doc, args, done);
    } else if (d->where == OP_MESSAGING) {
        mqsvc_submit(msg, args, d->mq, done); /* args read before it returns */
    } else if (d->where == OP_ESM) {
        esm_submit(msg, args, d->mq, done); /* args read before it returns */
    } else {
        admin_submit(msg, d->admin, done); /* decoded again on the admin thread */
    }
}
