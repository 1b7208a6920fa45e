/* SPDX-License-Identifier: MIT */
/*
 * Generic tools the local spool is built from: growable buffers, intrusive lists and hash
 * tables, CRC32, the %-encoding of journal fields and a few file helpers. Nothing here knows
 * about queues or journals.
 */
#ifndef CM_SPOOL_UTIL_H
#define CM_SPOOL_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "cargoman/plugin.h"
#include "util/buf.h"

/* The structure of type holding member at p. */
#define CM_SPOOL_CONTAINER(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* Circular doubly linked lists with a sentinel. */
struct cm_spool_link {
    struct cm_spool_link *prev, *next;
};

static inline void cm_spool_list_init(struct cm_spool_link *h)
{
    h->prev = h->next = h;
}

static inline int cm_spool_list_empty(const struct cm_spool_link *h)
{
    return h->next == h;
}

static inline void cm_spool_list_add_tail(struct cm_spool_link *h, struct cm_spool_link *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void cm_spool_list_del(struct cm_spool_link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* Unlink and return the first element of h, or NULL when h is empty. */
static inline struct cm_spool_link *cm_spool_list_pop(struct cm_spool_link *h)
{
    struct cm_spool_link *n = h->next;
    if (n == h)
        return NULL;
    cm_spool_list_del(n);
    return n;
}

/* Number of elements of h. */
size_t cm_spool_list_len(const struct cm_spool_link *h);
/* Move every element of src to the end (or the front) of dst; src ends empty. */
void cm_spool_list_splice(struct cm_spool_link *dst, struct cm_spool_link *src, int front);

/* Intrusive chained hash table. Never empty after init, so adding cannot fail. */
struct cm_spool_hnode {
    struct cm_spool_hnode *next;
    uint64_t h;
};

struct cm_spool_htab {
    struct cm_spool_hnode **b; /* nb buckets (a power of two), owned */
    size_t nb, n;
};

/* Tells whether node n is the one arg names. */
typedef int (*cm_spool_ht_match_fn)(const struct cm_spool_hnode *n, const void *arg);

/* Zero t and give it its first buckets. CM_OK or CM_ENOMEM. */
int cm_spool_ht_init(struct cm_spool_htab *t);
/* Add n under hash h; the table grows when it can and only gets slower when it cannot. */
void cm_spool_ht_add(struct cm_spool_htab *t, struct cm_spool_hnode *n, uint64_t h);
/* The node under hash h that match accepts, or NULL. */
struct cm_spool_hnode *cm_spool_ht_find(const struct cm_spool_htab *t, uint64_t h,
                                        cm_spool_ht_match_fn match, const void *arg);
/* Unlink n, which must be in t. */
void cm_spool_ht_del(struct cm_spool_htab *t, struct cm_spool_hnode *n);

uint64_t cm_spool_hash_str(const char *s);
/* The same hash of the first n bytes of s. */
uint64_t cm_spool_hash_mem(const char *s, size_t n);
uint64_t cm_spool_hash_u64(uint64_t v);
uint32_t cm_spool_crc32(const char *p, size_t n);

/* A journal field: NULL and "" become "-", other bytes that would split a field are %XX.
 * Returns a string the caller frees, or NULL when out of memory. */
char *cm_spool_encode(const char *s);
/* Undo cm_spool_encode in place; NULL for "-". */
char *cm_spool_decode(char *s);

/* "a/b", which the caller frees; NULL when out of memory. */
char *cm_spool_join(const char *a, const char *b);
/* Write all n bytes, then fdatasync fd when sync is set. CM_OK or CM_EAGAIN (errno says). */
int cm_spool_write(int fd, const char *p, size_t n, int sync);
/* Read the whole file at path into *out (the caller's, NULL for a missing or empty file).
 * CM_OK, CM_ENOMEM, or CM_ERROR with errno. */
int cm_spool_read_file(const char *path, char **out, size_t *len);

#endif
