/*
 * broker/store/store.h — the store: the SQLite database of the state dir,
 * its whole schema and migrations, and every statement on it (no SQL lives
 * outside store/).  It persists the core's records (fn_config, fn_alias),
 * the event invoke configs and the test clock (store.c, functions.c,
 * aliases.c, event_configs.c: the admin thread and startup, on the store's
 * own connection), and the async queue's events and idempotency keys
 * (store/async_events.h, on the connections of store/sqlconn.h that the
 * async queue's thread opens).  It calls nothing above it.
 */
#ifndef BROKER_STORE_STORE_H
#define BROKER_STORE_STORE_H

#include "core/core.h"
#include "store/async_events.h"
#include "store/sqlconn.h"

/* ---- store.c and its table files (admin thread and startup only) ---- */
int store_open(const char *path, lm_error *e);
void store_close(void);
/* Load everything at startup: fn is called for every $LATEST, then for
 * every published version (registry_put accepts both); version counters
 * and aliases go straight into the registry (single-threaded startup).
 * Then code blobs no row refers to (left by a crash) are removed. */
int store_load_all(void (*fn)(fn_config *cfg, void *arg), void *arg, lm_error *e);
/* Insert $LATEST of a new function (expect NULL: 409 if it exists), or
 * replace it only while its stored RevisionId is still `expect` (else
 * LM_E_PRECONDITION_FAILED and nothing is written). */
int store_put_function(const fn_config *cfg, const char *expect, lm_error *e);
/* Delete the function with its versions and aliases (one transaction). */
int store_delete_function(const char *name, lm_error *e);
/* Is the blob used by any $LATEST or published version? (true on error) */
bool store_code_referenced(const char *sha256);
/* Record published version v (number n) and advance the function's
 * counter to n, in one transaction, only while $LATEST's stored RevisionId
 * is `expect` (else LM_E_PRECONDITION_FAILED and nothing is written). */
int store_publish(const fn_config *v, uint32_t n, const char *expect, lm_error *e);
int store_delete_version(const char *name, uint32_t n, lm_error *e);
/* Create (expect NULL) or update alias a; an update is written only while
 * the stored alias's RevisionId is `expect` (else LM_E_PRECONDITION_FAILED). */
int store_put_alias(const char *name, const fn_alias *a, const char *expect, lm_error *e);
int store_delete_alias(const char *name, const char *alias, lm_error *e);

/* A function's event invoke config (asyncq.c reads it on its own
 * connection: store_event_config_on). */
typedef struct event_config {
    int max_retry; /* MaximumRetryAttempts 0-2 */
    int max_age_s; /* MaximumEventAgeInSeconds 60-21600 */
    char on_success[352]; /* destination, "" when none */
    char on_failure[352];
    double last_modified; /* epoch seconds */
} event_config;
#define EVENT_DEFAULT_RETRIES 2
#define EVENT_DEFAULT_MAX_AGE 21600
int store_put_event_config(const char *name, const event_config *c, lm_error *e);
/* LM_E_NOT_FOUND when the function has none. */
int store_get_event_config(const char *name, event_config *c, lm_error *e);
int store_delete_event_config(const char *name, lm_error *e);
/* The async queue's read, on its connection c (statement kept): fills
 * max_retry, max_age_s, on_success and on_failure when the function has a
 * config; false when it has none or on an SQL error (c left as it was). */
bool store_event_config_on(sqlconn *c, const char *name, event_config *cfg);
/* The test clock's offset (lib/clock.h) as the last run of --test-clock
 * left it (0 when none), and its record after a clock-advance. */
int store_get_clock_offset(int64_t *ms, lm_error *e);
int store_put_clock_offset(int64_t ms, lm_error *e);

/* A function URL's configuration (store/urls.c; admin/urls.c owns it). */
#define URL_ID_LEN 32
typedef struct url_config {
    char id[URL_ID_LEN + 1]; /* 32 lower-case letters and digits, fixed for life */
    char name[NAME_MAX_LEN + 1];
    char qual[130]; /* "$LATEST" or an alias */
    char auth[16]; /* "NONE" | "AWS_IAM" */
    char mode[24]; /* "BUFFERED" | "RESPONSE_STREAM" */
    char *cors; /* Cors as JSON text, NULL when none (borrowed in every call) */
    char created[40]; /* ISO 8601 */
    char modified[40];
} url_config;
/* Insert, or replace the row with this id. */
int store_put_url(const url_config *u, lm_error *e);
int store_delete_url(const char *id, lm_error *e);
/* The URL of name's alias, if any (alias deletion). */
int store_delete_alias_url(const char *name, const char *alias, lm_error *e);
/* Every row, in (name, qualifier) order; u (and its cors) lives for the call. */
int store_load_urls(void (*fn)(const url_config *u, void *arg), void *arg, lm_error *e);

/* The broker's access keys (store/keys.c): the secret only sealed. */
int store_put_key(const char *id, const void *sealed, size_t len, const char *description,
                  const char *created, lm_error *e);
/* *found: whether a row went. */
int store_delete_key(const char *id, bool *found, lm_error *e);
int store_load_keys(void (*fn)(const char *id, const void *sealed, size_t len,
                               const char *description, const char *created, void *arg),
                    void *arg, lm_error *e);

/* Reserved and provisioned concurrency (store/concurrency.c; loaded into
 * the registry by store_load_all).  n < 0 deletes the reservation. */
int store_put_reserved(const char *name, int n, lm_error *e);
int store_put_provisioned(const char *name, const fn_provisioned *p, lm_error *e);
int store_delete_provisioned(const char *name, const char *qualifier, lm_error *e);
/* Every stored setting into the registry (startup, after the aliases). */
int store_concurrency_load(lm_error *e);

#endif
