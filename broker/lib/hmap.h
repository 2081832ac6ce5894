/*
 * broker/lib/hmap.h — the broker's one hash map: NUL-terminated string
 * keys, intrusive nodes, separate chaining, growing.
 *
 * Intrusive: the element embeds an hmap_node, and the key is a string the
 * element owns (node->key points at it: it must stay unchanged while the
 * node is in a map).  Lookups never allocate; an insert allocates only
 * when the bucket array grows.
 *
 * Buckets are a power of two, at least the minimum given to hmap_init
 * (allocated on the first insert), doubled whenever the map holds more
 * elements than buckets, and never shrunk (no work on removal, and a
 * removal during iteration stays safe).  If growing fails for lack of
 * memory the map keeps its buckets and the insert still succeeds: chains
 * just get longer.  Only the very first bucket array can fail an insert.
 *
 * Each node keeps its key's full 32-bit FNV-1a hash, so growth never
 * rehashes strings and a chain walk compares strings only on equal hashes.
 * Within a chain the newest element comes first.  Iteration runs bucket by
 * bucket, so its order is arbitrary but a pure function of the bucket
 * count, the keys and their insertion order.
 *
 * No locking inside: the caller holds the lock that guards the map (the
 * registry under B.mtx, asyncwait's entries under AW.mtx).  A zeroed
 * hmap is a valid empty map with the default minimum width.
 */
#ifndef BROKER_LIB_HMAP_H
#define BROKER_LIB_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmap_node {
    struct hmap_node *next; /* chain */
    const char *key; /* the element's own key string */
    uint32_t hash;
} hmap_node;

typedef struct hmap {
    hmap_node **buckets; /* NULL until the first insert */
    size_t nbuckets; /* a power of two, or 0 */
    size_t count;
    size_t min_buckets; /* 0: HMAP_MIN_DEFAULT */
} hmap;

#define HMAP_MIN_DEFAULT 16

/* The element that embeds node ptr as its member `member`, NULL for NULL. */
#define hmap_entry(ptr, type, member) ((type *)hmap_entry_at_((ptr), offsetof(type, member)))

/* for (each element var of m): the body may remove (even free) var itself,
 * but must not insert, nor remove any other element.  var is scoped to the
 * loop. */
#define HMAP_EACH(var, type, member, m)                                                           \
    for (type *var = hmap_entry(hmap_first(m), type, member),                                     \
              *var##_next_ = var != NULL ? hmap_entry(hmap_next((m), &var->member), type, member) \
                                         : NULL;                                                  \
         var != NULL; var = var##_next_,                                                          \
              var##_next_ = var != NULL ? hmap_entry(hmap_next((m), &var->member), type, member)  \
                                        : NULL)

/* An empty map whose bucket array will start at min_buckets (rounded up to
 * a power of two; 0 for the default).  Allocates nothing. */
void hmap_init(hmap *m, size_t min_buckets);
/* Free the bucket array (the elements are the caller's).  The map is left
 * empty and usable, with the same minimum. */
void hmap_finish(hmap *m);

/* FNV-1a, 32 bits, of a NUL-terminated string. */
uint32_t hmap_hash(const char *key);

/* The node whose key equals key, or NULL. */
hmap_node *hmap_get(const hmap *m, const char *key);
/* Insert n under key (stored in n->key: the string must outlive the
 * insertion).  The caller makes sure key is not in m (hmap_get first).
 * 0, or -1 when the first bucket array cannot be allocated (n untouched,
 * not inserted). */
int hmap_put(hmap *m, hmap_node *n, const char *key);
/* Unlink n, which must be in m.  Never allocates or frees. */
void hmap_remove(hmap *m, hmap_node *n);

static inline size_t hmap_count(const hmap *m)
{
    return m->count;
}

/* Iteration: the first node, and the one after n (NULL at the end). */
hmap_node *hmap_first(const hmap *m);
hmap_node *hmap_next(const hmap *m, const hmap_node *n);

static inline void *hmap_entry_at_(const hmap_node *n, size_t offset)
{
    return n != NULL ? (void *)((char *)n - offset) : NULL;
}

#endif
