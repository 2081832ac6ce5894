/*
 * broker/lib/hmap.c — the string-keyed hash map of hmap.h: separate
 * chaining over a power-of-two bucket array that doubles when the load
 * passes one element per bucket.  See hmap.h for the contract.
 */
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

static size_t min_width(const hmap *m)
{
    size_t want = m->min_buckets > 0 ? m->min_buckets : HMAP_MIN_DEFAULT;
    size_t w = 1;
    while (w < want && w <= SIZE_MAX / 2) {
        w *= 2;
    }
    return w;
}

void hmap_init(hmap *m, size_t min_buckets)
{
    memset(m, 0, sizeof(*m));
    m->min_buckets = min_buckets;
}

void hmap_finish(hmap *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

uint32_t hmap_hash(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

hmap_node *hmap_get(const hmap *m, const char *key)
{
    if (m->count == 0) {
        return NULL;
    }
    uint32_t h = hmap_hash(key);
    for (hmap_node *n = m->buckets[h & (m->nbuckets - 1)]; n != NULL; n = n->next) {
        if (n->hash == h && strcmp(n->key, key) == 0) {
            return n;
        }
    }
    return NULL;
}

/* Move every node into a bucket array of width w (a power of two). */
static int rehash(hmap *m, size_t w)
{
    hmap_node **nb = calloc(w, sizeof(*nb));
    if (nb == NULL) {
        return -1;
    }
    for (size_t i = 0; i < m->nbuckets; i++) {
        hmap_node *n = m->buckets[i];
        while (n != NULL) {
            hmap_node *next = n->next;
            hmap_node **b = &nb[n->hash & (w - 1)];
            n->next = *b;
            *b = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->nbuckets = w;
    return 0;
}

int hmap_put(hmap *m, hmap_node *n, const char *key)
{
    if (m->buckets == NULL && rehash(m, min_width(m)) != 0) {
        return -1;
    }
    if (m->count >= m->nbuckets && m->nbuckets <= SIZE_MAX / 2 / sizeof(*m->buckets)) {
        (void)rehash(m, m->nbuckets * 2); /* on failure: longer chains, still correct */
    }
    n->key = key;
    n->hash = hmap_hash(key);
    hmap_node **b = &m->buckets[n->hash & (m->nbuckets - 1)];
    n->next = *b;
    *b = n;
    m->count++;
    return 0;
}

void hmap_remove(hmap *m, hmap_node *n)
{
    for (hmap_node **pp = &m->buckets[n->hash & (m->nbuckets - 1)]; *pp != NULL;
         pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            n->next = NULL;
            m->count--;
            return;
        }
    }
}

/* The first node in bucket i or after it. */
static hmap_node *from_bucket(const hmap *m, size_t i)
{
    for (; i < m->nbuckets; i++) {
        if (m->buckets[i] != NULL) {
            return m->buckets[i];
        }
    }
    return NULL;
}

hmap_node *hmap_first(const hmap *m)
{
    return m->count > 0 ? from_bucket(m, 0) : NULL;
}

hmap_node *hmap_next(const hmap *m, const hmap_node *n)
{
    if (n->next != NULL) {
        return n->next;
    }
    return from_bucket(m, (n->hash & (m->nbuckets - 1)) + 1);
}
