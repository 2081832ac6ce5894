/*
 * broker/core/registry.c — the in-memory function registry: name → $LATEST, the
 * published versions and the aliases.  The store (SQLite) is the durable
 * copy; this table is what the invoke path reads, under B.mtx, without
 * touching the disk.  The table is lib/hmap, keyed by name, starting at
 * REGISTRY_BUCKETS wide (what it was when fixed: up to that many functions
 * list in the same order as before) and growing past it, so lookups stay
 * O(1) on average however many functions there are.
 *
 * Every configuration (fn_config) is an immutable, refcounted snapshot: a
 * published version's snapshot never changes, and $LATEST is replaced as a
 * whole on update, so an invocation always runs one consistent version.
 * Versions are kept in an array sorted by number (binary search); aliases
 * in a short list sorted by name.  Weighted alias routing draws from a
 * xorshift64* generator seeded from getrandom(), guarded by B.mtx like the
 * rest of this file.
 *
 * Concurrency settings live here too, beside what they limit: a
 * function's reserved concurrency (and B.reserved_total, their sum) and
 * its provisioned configs, one per version or alias, dropped with the
 * version, alias or function they name (as Lambda does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/core.h"

#define REGISTRY_BUCKETS 1024

static hmap table = {.min_buckets = REGISTRY_BUCKETS};
static int n_provisioned; /* provisioned configs of every function */
static uint64_t rng_state;

fn_config *fncfg_ref(fn_config *c)
{
    c->refs++;
    return c;
}

void fncfg_unref(fn_config *c)
{
    if (c == NULL || --c->refs > 0) {
        return;
    }
    free(c->env_json);
    free(c->description);
    free(c->dead_letter);
    free(c);
}

fn_config *fncfg_clone(const fn_config *c, const char *version)
{
    fn_config *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->refs = 1;
    snprintf(n->name, sizeof(n->name), "%s", c->name);
    snprintf(n->version, sizeof(n->version), "%s", version);
    memcpy(n->sha256, c->sha256, sizeof(n->sha256));
    n->code_size = c->code_size;
    memcpy(n->code_path, c->code_path, sizeof(n->code_path));
    n->timeout_s = c->timeout_s;
    n->memory_mb = c->memory_mb;
    memcpy(n->last_modified, c->last_modified, sizeof(n->last_modified));
    memcpy(n->revision, c->revision, sizeof(n->revision));
    n->env_json = strdup(c->env_json != NULL ? c->env_json : "{}");
    n->description = strdup(c->description != NULL ? c->description : "");
    n->dead_letter = strdup(c->dead_letter != NULL ? c->dead_letter : "");
    if (n->env_json == NULL || n->description == NULL || n->dead_letter == NULL) {
        fncfg_unref(n);
        return NULL;
    }
    return n;
}

void fnalias_free(fn_alias *a)
{
    if (a != NULL) {
        free(a->description);
        free(a);
    }
}

bool valid_alias_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ALIAS_MAX_LEN || util_all_digits(s)) {
        return false;
    }
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

bool valid_qualifier(const char *q)
{
    if (strcmp(q, "$LATEST") == 0) {
        return true;
    }
    if (util_all_digits(q)) {
        return strlen(q) <= 10;
    }
    return valid_alias_name(q);
}

/* Version "N" → N, 0 when not a version number. */
static uint32_t version_number(const char *v)
{
    if (!util_all_digits(v) || strlen(v) > 10) {
        return 0;
    }
    unsigned long long n = strtoull(v, NULL, 10);
    return n > UINT32_MAX ? 0 : (uint32_t)n;
}

function *registry_find(const char *name)
{
    return hmap_entry(hmap_get(&table, name), function, node);
}

/* Index of version n in f->versions, or where it would be inserted. */
static int version_slot(const function *f, uint32_t n, bool *found)
{
    int lo = 0, hi = f->n_versions;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        uint32_t m = version_number(f->versions[mid]->version);
        if (m == n) {
            *found = true;
            return mid;
        }
        if (m < n) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

static void add_version(function *f, fn_config *cfg)
{
    uint32_t n = version_number(cfg->version);
    bool found = false;
    int at = version_slot(f, n, &found);
    if (found) {
        fn_config *old = f->versions[at];
        f->versions[at] = cfg;
        fncfg_unref(old);
        return;
    }
    if (f->n_versions == f->cap_versions) {
        int cap = f->cap_versions > 0 ? f->cap_versions * 2 : 8;
        fn_config **nv = realloc(f->versions, (size_t)cap * sizeof(*nv));
        if (nv == NULL) {
            fncfg_unref(cfg);
            return;
        }
        f->versions = nv;
        f->cap_versions = cap;
    }
    memmove(&f->versions[at + 1], &f->versions[at],
            (size_t)(f->n_versions - at) * sizeof(*f->versions));
    f->versions[at] = cfg;
    f->n_versions++;
    if (n > f->last_version) {
        f->last_version = n;
    }
}

void registry_put(fn_config *cfg)
{
    function *f = registry_find(cfg->name);
    bool is_version = strcmp(cfg->version, "$LATEST") != 0;
    if (f != NULL && is_version) {
        add_version(f, cfg);
        return;
    }
    if (f != NULL) {
        fn_config *old = f->latest;
        f->latest = cfg;
        old->retired = true;
        fncfg_unref(old);
        return;
    }
    f = is_version ? NULL : calloc(1, sizeof(*f));
    if (f == NULL) {
        fncfg_unref(cfg);
        return;
    }
    snprintf(f->name, sizeof(f->name), "%s", cfg->name);
    f->reserved = -1;
    if (hmap_put(&table, &f->node, f->name) != 0) {
        free(f);
        fncfg_unref(cfg);
        return;
    }
    f->latest = cfg;
}

fn_config *registry_remove(const char *name)
{
    function *f = registry_find(name);
    if (f == NULL) {
        return NULL;
    }
    hmap_remove(&table, &f->node);
    fn_config *cfg = f->latest;
    cfg->retired = true;
    for (int i = 0; i < f->n_versions; i++) {
        f->versions[i]->retired = true;
        fncfg_unref(f->versions[i]);
    }
    free(f->versions);
    while (f->aliases != NULL) {
        fn_alias *a = f->aliases;
        f->aliases = a->next;
        fnalias_free(a);
    }
    registry_set_reserved(f, -1);
    while (f->provisioned != NULL) {
        registry_remove_provisioned(f, f->provisioned->qualifier);
    }
    free(f);
    return cfg;
}

fn_config *registry_version(function *f, const char *version)
{
    if (strcmp(version, "$LATEST") == 0) {
        return f->latest;
    }
    uint32_t n = version_number(version);
    bool found = false;
    int at = n > 0 ? version_slot(f, n, &found) : 0;
    return found ? f->versions[at] : NULL;
}

fn_config *registry_last_version(function *f)
{
    return f->n_versions > 0 ? f->versions[f->n_versions - 1] : NULL;
}

fn_config *registry_remove_version(function *f, const char *version)
{
    uint32_t n = version_number(version);
    bool found = false;
    int at = n > 0 ? version_slot(f, n, &found) : 0;
    if (!found) {
        return NULL;
    }
    fn_config *cfg = f->versions[at];
    registry_remove_provisioned(f, version);
    memmove(&f->versions[at], &f->versions[at + 1],
            (size_t)(f->n_versions - at - 1) * sizeof(*f->versions));
    f->n_versions--;
    return cfg;
}

fn_alias *registry_alias(function *f, const char *alias)
{
    for (fn_alias *a = f->aliases; a != NULL; a = a->next) {
        if (strcmp(a->name, alias) == 0) {
            return a;
        }
    }
    return NULL;
}

/* Unlink and free alias; its provisioned config goes too when `drop`. */
static bool unlink_alias(function *f, const char *alias, bool drop)
{
    for (fn_alias **pp = &f->aliases; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, alias) == 0) {
            fn_alias *a = *pp;
            *pp = a->next;
            if (drop) {
                registry_remove_provisioned(f, a->name); /* Lambda drops it with the alias */
            }
            fnalias_free(a);
            return true;
        }
    }
    return false;
}

void registry_put_alias(function *f, fn_alias *a)
{
    unlink_alias(f, a->name, false); /* an update keeps the alias's provisioned config */
    fn_alias **pp = &f->aliases;
    while (*pp != NULL && strcmp((*pp)->name, a->name) < 0) {
        pp = &(*pp)->next;
    }
    a->next = *pp;
    *pp = a;
}

bool registry_remove_alias(function *f, const char *alias)
{
    return unlink_alias(f, alias, true);
}

int registry_alias_count(const function *f)
{
    int n = 0;
    for (const fn_alias *a = f->aliases; a != NULL; a = a->next) {
        n++;
    }
    return n;
}

/* Uniform double in [0, 1) from xorshift64* (B.mtx held). */
static double draw(void)
{
    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state) ||
            rng_state == 0) {
            rng_state = (uint64_t)clk_wall_ms() * 0x9E3779B97F4A7C15ull | 1;
        }
    }
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

fn_config *registry_resolve(function *f, const char *qualifier)
{
    if (qualifier[0] == '\0') {
        return f->latest;
    }
    if (strcmp(qualifier, "$LATEST") == 0 || util_all_digits(qualifier)) {
        return registry_version(f, qualifier);
    }
    fn_alias *a = registry_alias(f, qualifier);
    if (a == NULL) {
        return NULL;
    }
    if (a->extra_version[0] != '\0' && a->extra_weight > 0 && draw() < a->extra_weight) {
        return registry_version(f, a->extra_version);
    }
    return registry_version(f, a->version);
}

int registry_count(void)
{
    return (int)hmap_count(&table);
}

void registry_each(void (*fn)(function *f, void *arg), void *arg)
{
    HMAP_EACH(f, function, node, &table)
    {
        fn(f, arg);
    }
}

/* ---- concurrency ---- */

int registry_unreserved_minimum(void)
{
    int keep = B.opt.max_concurrency / 10;
    return keep < 100 ? keep : 100;
}

int registry_reservable(void)
{
    return B.opt.max_concurrency - registry_unreserved_minimum();
}

void registry_set_reserved(function *f, int n)
{
    if (f->reserved >= 0) {
        B.reserved_total -= f->reserved;
    }
    f->reserved = n >= 0 ? n : -1;
    if (f->reserved >= 0) {
        B.reserved_total += f->reserved;
    }
}

int registry_provisioned_of(const function *f)
{
    int n = 0;
    for (const fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
        n += p->requested;
    }
    return n;
}

static void add_unreserved(function *f, void *arg)
{
    if (f->reserved < 0) {
        *(int *)arg += registry_provisioned_of(f);
    }
}

int registry_provisioned_unreserved(void)
{
    int n = 0;
    registry_each(add_unreserved, &n);
    return n;
}

fn_provisioned *registry_provisioned(function *f, const char *qualifier)
{
    for (fn_provisioned *p = f->provisioned; p != NULL; p = p->next) {
        if (strcmp(p->qualifier, qualifier) == 0) {
            return p;
        }
    }
    return NULL;
}

void registry_put_provisioned(function *f, fn_provisioned *p)
{
    registry_remove_provisioned(f, p->qualifier);
    fn_provisioned **pp = &f->provisioned;
    while (*pp != NULL && strcmp((*pp)->qualifier, p->qualifier) < 0) {
        pp = &(*pp)->next;
    }
    p->next = *pp;
    *pp = p;
    n_provisioned++;
}

bool registry_remove_provisioned(function *f, const char *qualifier)
{
    for (fn_provisioned **pp = &f->provisioned; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->qualifier, qualifier) == 0) {
            fn_provisioned *p = *pp;
            *pp = p->next;
            free(p);
            n_provisioned--;
            return true;
        }
    }
    return false;
}

int registry_provisioned_configs(void)
{
    return n_provisioned;
}

fn_config *registry_provision_target(function *f, const char *qualifier)
{
    if (util_all_digits(qualifier)) {
        return registry_version(f, qualifier);
    }
    fn_alias *a = registry_alias(f, qualifier);
    return a != NULL && strcmp(a->version, "$LATEST") != 0 ? registry_version(f, a->version) : NULL;
}
