/*
 * broker/admin/concurrency.c — Lambda's concurrency controls:
 * concurrency-put/get/delete (a function's reserved concurrency,
 * ReservedConcurrentExecutions) and provisioned-put/get/delete/list
 * (provisioned concurrency of a published version or alias), their part
 * of `get` and `status`.
 *
 * The rules (Lambda's, §4 of the semantics): the account limit is the
 * broker's --max-concurrency; registry_unreserved_minimum() of it
 * (min(100, limit / 10): Lambda's 100 of 1,000, scaled down so a small
 * broker can still reserve) always stays unreserved, so the reservations
 * of all functions plus the provisioned concurrency of functions without
 * one may not pass registry_reservable().  A function's provisioned
 * concurrency fits inside its reservation, when it has one.  $LATEST
 * cannot be provisioned.  Each change is checked and applied to the
 * registry under B.mtx after its row is committed; the admin thread is
 * the only writer, so nothing changes between the check and the write.
 * Enforcement is the core's (core/invoke.c admits invocations,
 * core/pool.c keeps provisioned environments warm).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/internal.h"
#include "store/store.h"

#define MAX_PIDS 64

static int unreserved_refusal(lm_error *e, const char *what)
{
    return proto_error(e, LM_E_INVALID_PARAMETER,
                       "Specified %s for function decreases account's "
                       "UnreservedConcurrentExecution below its minimum value of [%d].",
                       what, registry_unreserved_minimum());
}

/* The function `name` (B.mtx held), or NULL with 404 in e. */
static function *find(const char *name, lm_error *e)
{
    function *f = registry_find(name);
    if (f == NULL) {
        adm_not_found(e, name, "");
    }
    return f;
}

/* ---- reserved concurrency ---- */

static nng_msg *reply_reserved(int n)
{
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    pw_map(&w, n >= 0 ? 1 : 0);
    if (n >= 0) {
        pw_key(&w, "ReservedConcurrentExecutions");
        pw_int(&w, n);
    }
    return proto_reply_end(&w, m);
}

/* May f reserve n (B.mtx held)? */
static int check_reserved(function *f, int n, lm_error *e)
{
    int others = B.reserved_total - (f->reserved >= 0 ? f->reserved : 0);
    int unreserved_prov =
        registry_provisioned_unreserved() - (f->reserved < 0 ? registry_provisioned_of(f) : 0);
    if (others + n + unreserved_prov > registry_reservable()) {
        return unreserved_refusal(e, "ReservedConcurrentExecutions");
    }
    if (n < registry_provisioned_of(f)) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "ReservedConcurrentExecutions %d is less than the function's "
                           "provisioned concurrency %d",
                           n, registry_provisioned_of(f));
    }
    return LM_OK;
}

nng_msg *admin_concurrency_put(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    uint32_t n = 0;
    if (adm_get_name(args, name, e) != LM_OK ||
        adm_get_range(args, "ReservedConcurrentExecutions", 0, B.opt.max_concurrency, -1, &n, e) !=
            LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = find(name, e);
    int rc = f != NULL ? check_reserved(f, (int)n, e) : e->code;
    pthread_mutex_unlock(&B.mtx);
    if (rc != LM_OK || store_put_reserved(name, (int)n, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    if ((f = registry_find(name)) != NULL) {
        registry_set_reserved(f, (int)n);
    }
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "reserved concurrency of %s: %u", name, n);
    return reply_reserved((int)n);
}

nng_msg *admin_concurrency_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (adm_get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = find(name, e);
    int n = f != NULL ? f->reserved : -1;
    pthread_mutex_unlock(&B.mtx);
    return f != NULL ? reply_reserved(n) : NULL;
}

nng_msg *admin_concurrency_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (adm_get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = find(name, e);
    int rc = LM_OK;
    if (f != NULL && f->reserved >= 0 && registry_provisioned_of(f) > 0 &&
        B.reserved_total - f->reserved + registry_provisioned_unreserved() +
                registry_provisioned_of(f) >
            registry_reservable()) { /* its provisioned would move to the unreserved pool */
        rc = unreserved_refusal(e, "ProvisionedConcurrentExecutions");
    }
    pthread_mutex_unlock(&B.mtx);
    if (f == NULL || rc != LM_OK || store_put_reserved(name, -1, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    if ((f = registry_find(name)) != NULL) {
        registry_set_reserved(f, -1);
    }
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "reserved concurrency of %s removed", name);
    return adm_empty_reply();
}

/* ---- provisioned concurrency ---- */

static const char *status_of(const fn_provisioned *p, int allocated)
{
    return p->failed ? "FAILED" : allocated >= p->requested ? "READY" : "IN_PROGRESS";
}

/* Lambda's ProvisionedConcurrencyConfig of p (B.mtx held); with the
 * FunctionArn for lists, and the environments' pids (Lamina's own field,
 * to find them). */
static void write_provisioned(proto_writer *w, function *f, const fn_provisioned *p, bool arn)
{
    int allocated, available, npids;
    pid_t pids[MAX_PIDS];
    pool_provisioned_counts(f, p, &allocated, &available, pids, MAX_PIDS, &npids);
    if (allocated > p->requested) {
        allocated = p->requested;
    }
    if (available > allocated) {
        available = allocated;
    }
    pw_map(w, 6 + (p->failed ? 1 : 0) + (arn ? 1 : 0));
    if (arn) {
        char a[NAME_MAX_LEN + ALIAS_MAX_LEN + 16];
        snprintf(a, sizeof(a), "function:%s:%s", f->name, p->qualifier);
        pw_key(w, "FunctionArn");
        pw_str(w, a);
    }
    pw_key(w, "RequestedProvisionedConcurrentExecutions");
    pw_int(w, p->requested);
    pw_key(w, "AllocatedProvisionedConcurrentExecutions");
    pw_int(w, allocated);
    pw_key(w, "AvailableProvisionedConcurrentExecutions");
    pw_int(w, available);
    pw_key(w, "Status");
    pw_str(w, status_of(p, allocated));
    if (p->failed) {
        pw_key(w, "StatusReason");
        pw_str(w, p->reason);
    }
    pw_key(w, "LastModified");
    pw_str(w, p->last_modified);
    pw_key(w, "Pids");
    pw_array(w, (uint32_t)npids);
    for (int i = 0; i < npids; i++) {
        pw_int(w, pids[i]);
    }
}

/* FunctionName and a Qualifier naming a published version or an alias. */
static int provisioned_target(const msgpack_object *args, char name[NAME_MAX_LEN + 1],
                              char qual[130], lm_error *e)
{
    if (adm_get_qualified(args, name, qual, e) != LM_OK) {
        return e->code;
    }
    if (qual[0] == '\0') {
        return adm_bad(e, "%s is required: a published version or an alias", "Qualifier");
    }
    if (strcmp(qual, "$LATEST") == 0) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Provisioned Concurrency Configs cannot be applied to unpublished "
                           "function versions.");
    }
    return LM_OK;
}

/* May f provision n on qual (B.mtx held)? */
static int check_provisioned(function *f, const char *qual, int n, lm_error *e)
{
    if (util_all_digits(qual) ? registry_version(f, qual) == NULL
                              : registry_alias(f, qual) == NULL) {
        return adm_not_found(e, f->name, qual);
    }
    if (!util_all_digits(qual) && strcmp(registry_alias(f, qual)->version, "$LATEST") == 0) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Provisioned Concurrency Configs cannot be applied to an alias of "
                           "unpublished function versions.");
    }
    fn_provisioned *old = registry_provisioned(f, qual);
    int mine = registry_provisioned_of(f) - (old != NULL ? old->requested : 0) + n;
    if (f->reserved >= 0 && mine > f->reserved) {
        return proto_error(e, LM_E_INVALID_PARAMETER,
                           "Requested Provisioned Concurrency should not be greater than the "
                           "reservedConcurrentExecution for function (%d)",
                           f->reserved);
    }
    if (f->reserved < 0 &&
        B.reserved_total + registry_provisioned_unreserved() - registry_provisioned_of(f) + mine >
            registry_reservable()) {
        return unreserved_refusal(e, "ProvisionedConcurrentExecutions");
    }
    return LM_OK;
}

static nng_msg *reply_provisioned(const char *name, const char *qual, lm_error *e)
{
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = find(name, e);
    fn_provisioned *p = f != NULL ? registry_provisioned(f, qual) : NULL;
    if (f != NULL && p == NULL) {
        proto_error(e, LM_E_PROVISIONED_NOT_FOUND,
                    "No Provisioned Concurrency Config found for "
                    "this function");
    } else if (p != NULL && (m = proto_ok_begin(&w)) != NULL) {
        write_provisioned(&w, f, p, false);
    }
    pthread_mutex_unlock(&B.mtx);
    return p != NULL ? proto_reply_end(&w, m) : NULL;
}

nng_msg *admin_provisioned_put(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], qual[130];
    uint32_t n = 0;
    if (provisioned_target(args, name, qual, e) != LM_OK ||
        adm_get_range(args, "ProvisionedConcurrentExecutions", 1, B.opt.max_concurrency, 0, &n,
                      e) != LM_OK) {
        return NULL;
    }
    fn_provisioned *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    snprintf(p->qualifier, sizeof(p->qualifier), "%s", qual);
    p->requested = (int)n;
    util_iso8601_now(p->last_modified, sizeof(p->last_modified));
    pthread_mutex_lock(&B.mtx);
    function *f = find(name, e);
    int rc = f != NULL ? check_provisioned(f, qual, (int)n, e) : e->code;
    pthread_mutex_unlock(&B.mtx);
    if (rc != LM_OK || store_put_provisioned(name, p, e) != LM_OK) {
        free(p);
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    if ((f = registry_find(name)) != NULL) {
        registry_put_provisioned(f, p); /* a new put clears FAILED */
        pool_provision();
    } else {
        free(p);
    }
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "provisioned concurrency of %s:%s: %u", name, qual, n);
    return reply_provisioned(name, qual, e);
}

nng_msg *admin_provisioned_get(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], qual[130];
    return provisioned_target(args, name, qual, e) == LM_OK ? reply_provisioned(name, qual, e)
                                                            : NULL;
}

nng_msg *admin_provisioned_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1], qual[130];
    if (provisioned_target(args, name, qual, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    function *f = find(name, e);
    bool found = f != NULL && registry_provisioned(f, qual) != NULL;
    if (f != NULL && !found) {
        proto_error(e, LM_E_PROVISIONED_NOT_FOUND,
                    "No Provisioned Concurrency Config found for "
                    "this function");
    }
    pthread_mutex_unlock(&B.mtx);
    if (!found || store_delete_provisioned(name, qual, e) != LM_OK) {
        return NULL;
    }
    pthread_mutex_lock(&B.mtx);
    if ((f = registry_find(name)) != NULL) {
        registry_remove_provisioned(f, qual);
        pool_provision(); /* its environments become on-demand ones */
    }
    pthread_mutex_unlock(&B.mtx);
    blog(LOG_INFO, "provisioned concurrency of %s:%s removed", name, qual);
    return adm_empty_reply();
}

static uint32_t provisioned_count(const function *f)
{
    uint32_t n = 0;
    for (const fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
        n++;
    }
    return n;
}

nng_msg *admin_provisioned_list(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char name[NAME_MAX_LEN + 1];
    if (adm_get_name(args, name, e) != LM_OK) {
        return NULL;
    }
    proto_writer w;
    nng_msg *m = NULL;
    pthread_mutex_lock(&B.mtx);
    function *f = find(name, e);
    if (f != NULL && (m = proto_ok_begin(&w)) != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "ProvisionedConcurrencyConfigs");
        pw_array(&w, provisioned_count(f));
        for (fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
            write_provisioned(&w, f, p, true);
        }
    }
    pthread_mutex_unlock(&B.mtx);
    return f != NULL ? proto_reply_end(&w, m) : NULL;
}

/* ---- get and status ---- */

int adm_concurrency_keys(function *f, const char *qual)
{
    if (qual[0] == '\0') {
        return (f->reserved >= 0) + (f->provisioned != NULL);
    }
    return registry_provisioned(f, qual) != NULL;
}

void adm_write_concurrency(proto_writer *w, function *f, const char *qual)
{
    if (qual[0] != '\0') {
        fn_provisioned *p = registry_provisioned(f, qual);
        if (p != NULL) {
            pw_key(w, "ProvisionedConcurrency");
            write_provisioned(w, f, p, false);
        }
        return;
    }
    if (f->reserved >= 0) {
        pw_key(w, "Concurrency");
        pw_map(w, 1);
        pw_key(w, "ReservedConcurrentExecutions");
        pw_int(w, f->reserved);
    }
    if (f->provisioned != NULL) {
        pw_key(w, "ProvisionedConcurrencyConfigs");
        pw_array(w, provisioned_count(f));
        for (fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
            write_provisioned(w, f, p, true);
        }
    }
}

static void count_configs(function *f, void *arg)
{
    *(uint32_t *)arg += provisioned_count(f);
}

static void write_configs(function *f, void *arg)
{
    proto_writer *w = arg;
    for (fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
        write_provisioned(w, f, p, true);
    }
}

void admin_write_concurrency_status(proto_writer *w)
{
    uint32_t n = 0;
    registry_each(count_configs, &n);
    pw_map(w, 6);
    pw_key(w, "AccountLimit");
    pw_int(w, B.opt.max_concurrency);
    pw_key(w, "UnreservedMinimum");
    pw_int(w, registry_unreserved_minimum());
    pw_key(w, "Reserved");
    pw_int(w, B.reserved_total);
    pw_key(w, "UnreservedConcurrentExecutions");
    pw_int(w, B.opt.max_concurrency - B.reserved_total);
    pw_key(w, "InFlight"); /* invocations queued or running, of every function */
    pw_int(w, B.inflight);
    pw_key(w, "Provisioned");
    pw_array(w, n);
    registry_each(write_configs, w);
}
