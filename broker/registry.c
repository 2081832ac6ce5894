/*
 * broker/registry.c — the in-memory function registry: name → the current
 * $LATEST configuration.  The store (SQLite) is the durable copy; this table
 * is what the invoke path reads, under B.mtx, without touching the disk.
 * A chained hash table of fixed width: the number of functions on one
 * broker is modest and lookups stay O(1) on average.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define BUCKETS 1024

static function *table[BUCKETS];
static int count;

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h % BUCKETS;
}

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
    free(c);
}

function *registry_find(const char *name)
{
    for (function *f = table[hash(name)]; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            return f;
        }
    }
    return NULL;
}

void registry_put(fn_config *cfg)
{
    function *f = registry_find(cfg->name);
    if (f != NULL) {
        fn_config *old = f->latest;
        f->latest = cfg;
        old->retired = true;
        fncfg_unref(old);
        return;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        fncfg_unref(cfg);
        return;
    }
    snprintf(f->name, sizeof(f->name), "%s", cfg->name);
    f->latest = cfg;
    unsigned h = hash(cfg->name);
    f->next = table[h];
    table[h] = f;
    count++;
}

fn_config *registry_remove(const char *name)
{
    function **pp = &table[hash(name)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            function *f = *pp;
            *pp = f->next;
            fn_config *cfg = f->latest;
            cfg->retired = true;
            free(f);
            count--;
            return cfg;
        }
    }
    return NULL;
}

int registry_count(void) { return count; }

void registry_each(void (*fn)(function *f, void *arg), void *arg)
{
    for (int i = 0; i < BUCKETS; i++) {
        for (function *f = table[i]; f != NULL; f = f->next) {
            fn(f, arg);
        }
    }
}
