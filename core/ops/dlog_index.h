/* SPDX-License-Identifier: MIT */
/*
 * The delivery log's small indexes (dlog_index.c): queue id -> record id, and the names
 * (endpoints, repositories, states) its records share, each kept once however many records
 * name it. Neither locks: the delivery log calls them under its own lock.
 */
#ifndef CM_DLOG_INDEX_H
#define CM_DLOG_INDEX_H

#include <stddef.h>
#include <stdint.h>

/* Open addressing, 16 bytes a slot, at most 3/4 full: a jansson object cost ten times that. Zero it
 * before use; cm_dlog_qmap_free after. Key 0 is never stored (no queue entry). */
struct cm_dlog_qmap {
    uint64_t *slots; /* owned: cap pairs of key, value; key 0 marks a free slot */
    size_t cap, n;
};

/* Map key to value (replacing). CM_OK or CM_ENOMEM. */
int cm_dlog_qmap_set(struct cm_dlog_qmap *m, uint64_t key, uint64_t value);
/* The value of key, or 0. */
uint64_t cm_dlog_qmap_get(const struct cm_dlog_qmap *m, uint64_t key);
/* Remove key when it maps to value (a later record may have taken it over). */
void cm_dlog_qmap_del(struct cm_dlog_qmap *m, uint64_t key, uint64_t value);
void cm_dlog_qmap_free(struct cm_dlog_qmap *m);

/* Interned strings, counted: equal names are one pointer, so filters compare pointers. */
struct cm_dlog_names {
    struct dlog_name **buckets; /* owned */
    size_t nb, n;
};

/* The shared copy of s, one more reference to it (NULL for NULL s, or out of memory: then
 * *oom is set). */
const char *cm_dlog_name_ref(struct cm_dlog_names *t, const char *s, int *oom);
/* Drop a reference cm_dlog_name_ref returned (NULL: nothing). */
void cm_dlog_name_unref(struct cm_dlog_names *t, const char *name);
/* The shared copy of s if some record holds it, else NULL. */
const char *cm_dlog_name_find(const struct cm_dlog_names *t, const char *s);
void cm_dlog_names_free(struct cm_dlog_names *t);

#endif
