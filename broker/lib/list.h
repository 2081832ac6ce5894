/*
 * broker/lib/list.h — the broker's one intrusive doubly-linked list, used
 * as a FIFO (push_back + pop_front), a LIFO (push_front + pop_front) or a
 * plain set with O(1) removal.
 *
 * Intrusive: the element embeds a list_node and the list links those
 * nodes, so adding and removing never allocate and cannot fail; an element
 * on several lists has one node per list.  list_entry() gets the element
 * back from its node (container_of).
 *
 * Zero is a valid state: a list_head or list_node that is all zeros (a
 * calloc'd or static struct) is an empty list or an unlinked node, so
 * structs that hold them need no init call.  The list is NULL-terminated
 * at both ends (not circular) for the same reason.
 *
 * No locking: callers hold whatever lock guards the list.  A node is on at
 * most one list per list_node; removing a node from a list it is not on is
 * a bug (list_linked() tells).
 */
#ifndef BROKER_LIB_LIST_H
#define BROKER_LIB_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct list_node {
    struct list_node *prev, *next;
} list_node;

typedef struct list_head {
    list_node *first, *last;
} list_head;

/* The element that embeds node ptr as its member `member`. */
#define list_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
/* Same, NULL for NULL (ptr is evaluated once). */
#define list_entry_or_null(ptr, type, member) \
    ((type *)list_entry_at_((ptr), offsetof(type, member)))
#define list_first_entry(h, type, member) list_entry_or_null((h)->first, type, member)
#define list_next_entry(var, type, member) list_entry_or_null((var)->member.next, type, member)
/* Unlink the first element of h and return it, NULL when h is empty. */
#define list_pop_front_entry(h, type, member) list_entry_or_null(list_pop_front(h), type, member)

/* for (each element var of h, first to last): the body may remove (even
 * free) var itself, but no other element of h.  var is scoped to the loop. */
#define LIST_EACH(var, type, member, h)                                               \
    for (type *var = list_first_entry((h), type, member),                             \
              *var##_next_ = var != NULL ? list_next_entry(var, type, member) : NULL; \
         var != NULL;                                                                 \
         var = var##_next_, var##_next_ = var != NULL ? list_next_entry(var, type, member) : NULL)

static inline void *list_entry_at_(const list_node *n, size_t offset)
{
    return n != NULL ? (void *)((char *)n - offset) : NULL;
}

static inline void list_init(list_head *h)
{
    h->first = h->last = NULL;
}

static inline bool list_empty(const list_head *h)
{
    return h->first == NULL;
}

/* Is n on h?  O(1). */
static inline bool list_linked(const list_head *h, const list_node *n)
{
    return n->prev != NULL || h->first == n;
}

static inline void list_push_back(list_head *h, list_node *n)
{
    n->next = NULL;
    n->prev = h->last;
    if (h->last != NULL) {
        h->last->next = n;
    } else {
        h->first = n;
    }
    h->last = n;
}

static inline void list_push_front(list_head *h, list_node *n)
{
    n->prev = NULL;
    n->next = h->first;
    if (h->first != NULL) {
        h->first->prev = n;
    } else {
        h->last = n;
    }
    h->first = n;
}

/* Unlink n from h (n must be on h); n is left unlinked (zeroed). */
static inline void list_remove(list_head *h, list_node *n)
{
    if (n->prev != NULL) {
        n->prev->next = n->next;
    } else {
        h->first = n->next;
    }
    if (n->next != NULL) {
        n->next->prev = n->prev;
    } else {
        h->last = n->prev;
    }
    n->prev = n->next = NULL;
}

/* Unlink and return the first node, NULL when h is empty. */
static inline list_node *list_pop_front(list_head *h)
{
    list_node *n = h->first;
    if (n != NULL) {
        list_remove(h, n);
    }
    return n;
}

/* Number of nodes on h: O(n), for counts that are not hot. */
static inline size_t list_count(const list_head *h)
{
    size_t k = 0;
    for (const list_node *n = h->first; n != NULL; n = n->next) {
        k++;
    }
    return k;
}

#endif
