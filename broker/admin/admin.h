/*
 * broker/admin/admin.h — the admin layer: every operation on functions,
 * versions, aliases and event invoke configs, run one at a time on the
 * admin thread (they touch the disk).  Calls the core and the store;
 * never a way in, never async/.
 */
#ifndef BROKER_ADMIN_ADMIN_H
#define BROKER_ADMIN_ADMIN_H

#include <cjson/cJSON.h>

#include "core/core.h"

#include "lib/completion.h"
#include "lib/hmap.h"
#include "lib/sigv4.h"
#include "store/store.h"

/* An admin operation: runs on the admin thread with the request decoded
 * (doc; args is its "args" map, or NULL when absent).  Returns the whole
 * reply, or NULL with *e set.  Each is one api op (front/ops.c's table). */
typedef nng_msg *(*admin_op_fn)(const proto_doc *doc, const msgpack_object *args, lm_error *e);

int admin_start(void);
void admin_stop(void);
/* Run fn on the admin thread, in arrival order, one at a time (takes msg:
 * the request, decoded again there).  done is called exactly once: with
 * fn's reply or error, or at once with LM_E_NOMEM / LM_E_STOPPING. */
void admin_submit(nng_msg *msg, admin_op_fn fn, completion done);

/* The operations (README.md's api table; README-versions.md for the
 * version lifecycle). */
nng_msg *admin_create(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_get(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_list(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_retire(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_update_code(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_update_config(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_publish(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_versions(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_alias_create(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_alias_update(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_alias_get(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_alias_list(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_alias_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_event_config_put(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_event_config_get(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_event_config_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e);
/* ---- concurrency controls (concurrency.c) ----
 * concurrency-put {FunctionName, ReservedConcurrentExecutions} -> the same
 *   field;  concurrency-get {FunctionName} -> it, or {} when unset;
 *   concurrency-delete -> {}.
 * provisioned-put {FunctionName, Qualifier (version or alias),
 *   ProvisionedConcurrentExecutions} -> Requested-/Allocated-/Available-
 *   ProvisionedConcurrentExecutions, Status (IN_PROGRESS|READY|FAILED),
 *   StatusReason?, LastModified, Pids;  provisioned-get {FunctionName,
 *   Qualifier} -> the same;  provisioned-delete -> {};  provisioned-list
 *   {FunctionName} -> {ProvisionedConcurrencyConfigs: [… + FunctionArn]}. */
nng_msg *admin_concurrency_put(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_concurrency_get(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_concurrency_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_provisioned_put(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_provisioned_get(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_provisioned_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_provisioned_list(const proto_doc *doc, const msgpack_object *args, lm_error *e);
/* status's Concurrency map: limits, what is reserved and running, every
 * provisioned config with its environments' pids (B.mtx held). */
void admin_write_concurrency_status(proto_writer *w);
/* clock-advance {Ms} (lib/clock.h; only with --test-clock). */
nng_msg *admin_clock_advance(const proto_doc *doc, const msgpack_object *args, lm_error *e);

/* ---- function URLs (urls.c) ----
 * url-create {FunctionName, Qualifier?, AuthType, Cors?, InvokeMode?}
 *   -> {FunctionUrl, FunctionArn, AuthType, InvokeMode, CreationTime, Cors?}
 * url-get / url-update (same fields, all optional but the name) -> the same
 *   plus LastModifiedTime;  url-delete -> {};  url-list {FunctionName} ->
 *   {FunctionUrlConfigs: […]}. */
nng_msg *admin_url_create(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_url_get(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_url_update(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_url_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_url_list(const proto_doc *doc, const msgpack_object *args, lm_error *e);

/* A URL as the HTTP front end reads it: immutable while a reference is
 * held (admin_url_ref, any thread; admin_url_release when done). */
typedef struct admin_url {
    hmap_node node;
    int refs; /* under the table's lock */
    url_config c; /* c.cors points at cors_text */
    char *cors_text;
    cJSON *cors; /* parsed Cors, NULL when none */
} admin_url;
const admin_url *admin_url_ref(const char *id); /* NULL: no such URL */
void admin_url_release(const admin_url *u);
/* Load every stored URL (startup, before the HTTP server starts). */
int admin_urls_load(lm_error *e);
/* The HTTP server's base ("http://127.0.0.1:9001") for FunctionUrl. */
void admin_urls_set_base(const char *base);

/* ---- access keys (keys.c): SigV4 for AWS_IAM function URLs ----
 * keys-create {Description?} -> {AccessKey:{AccessKeyId, SecretAccessKey,
 *   Description, CreateDate}} (the only time the secret is shown);
 * keys-list -> {AccessKeys:[{AccessKeyId, Description, CreateDate}]};
 * keys-delete {AccessKeyId} -> {}. */
nng_msg *admin_keys_create(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_keys_list(const proto_doc *doc, const msgpack_object *args, lm_error *e);
nng_msg *admin_keys_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e);
/* Open <state>/master.key (made on first start) and load every key. */
int admin_keys_load(lm_error *e);
/* A key's secret (a sigv4_secret_fn; any thread): false when unknown. */
bool admin_key_secret(void *arg, const char *id, char secret[SIGV4_SECRET_MAX + 1]);

#endif
