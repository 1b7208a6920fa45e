/* SPDX-License-Identifier: MIT */
/*
 * The delivery log's indexes: an open-addressing map of queue ids (linear probing, deletion
 * by shifting back, so no tombstones pile up in a log that drops its oldest for ever) and a
 * chained table of counted, interned names.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "ops/dlog_index.h"
#include "util/keyed_hash.h"

/* ---- queue id -> record id ---- */

static size_t qmap_home(const struct cm_dlog_qmap *m, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15u;
    return (size_t)(h ^ (h >> 32)) & (m->cap - 1);
}

static int qmap_grow(struct cm_dlog_qmap *m)
{
    struct cm_dlog_qmap g = {calloc(m->cap ? m->cap * 4 : 512, sizeof(uint64_t)),
                             m->cap ? m->cap * 2 : 256, 0};
    if (!g.slots)
        return CM_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[2 * i])
            cm_dlog_qmap_set(&g, m->slots[2 * i], m->slots[2 * i + 1]);
    free(m->slots);
    *m = g;
    return CM_OK;
}

int cm_dlog_qmap_set(struct cm_dlog_qmap *m, uint64_t key, uint64_t value)
{
    size_t i;
    if ((m->n + 1) * 4 > m->cap * 3 && qmap_grow(m) != CM_OK)
        return CM_ENOMEM;
    for (i = qmap_home(m, key); m->slots[2 * i] && m->slots[2 * i] != key;
         i = (i + 1) & (m->cap - 1))
        ;
    if (!m->slots[2 * i]) {
        m->slots[2 * i] = key;
        m->n++;
    }
    m->slots[2 * i + 1] = value;
    return CM_OK;
}

static size_t qmap_slot(const struct cm_dlog_qmap *m, uint64_t key)
{
    if (!m->cap || !key)
        return SIZE_MAX;
    for (size_t i = qmap_home(m, key); m->slots[2 * i]; i = (i + 1) & (m->cap - 1))
        if (m->slots[2 * i] == key)
            return i;
    return SIZE_MAX;
}

uint64_t cm_dlog_qmap_get(const struct cm_dlog_qmap *m, uint64_t key)
{
    size_t i = qmap_slot(m, key);
    return i == SIZE_MAX ? 0 : m->slots[2 * i + 1];
}

void cm_dlog_qmap_del(struct cm_dlog_qmap *m, uint64_t key, uint64_t value)
{
    size_t mask = m->cap - 1, i = qmap_slot(m, key), j;
    if (i == SIZE_MAX || m->slots[2 * i + 1] != value)
        return;
    /* Pull back every later entry of the run that the hole would cut off from its home. */
    for (j = (i + 1) & mask; m->slots[2 * j]; j = (j + 1) & mask) {
        size_t home = qmap_home(m, m->slots[2 * j]);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[2 * i] = m->slots[2 * j];
            m->slots[2 * i + 1] = m->slots[2 * j + 1];
            i = j;
        }
    }
    m->slots[2 * i] = 0;
    m->slots[2 * i + 1] = 0;
    m->n--;
}

void cm_dlog_qmap_free(struct cm_dlog_qmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

/* ---- interned names ---- */

struct dlog_name {
    struct dlog_name *next; /* owned: the bucket's chain */
    size_t refs, hash;
    char s[];
};

/* Endpoint and repository names come from senders: keyed (util/keyed_hash.h). */
static size_t name_hash(const char *s)
{
    return (size_t)cm_keyed_hash(s, strlen(s));
}

static struct dlog_name *name_lookup(const struct cm_dlog_names *t, const char *s, size_t hash)
{
    struct dlog_name *e = t->nb ? t->buckets[hash & (t->nb - 1)] : NULL;
    while (e && (e->hash != hash || strcmp(e->s, s)))
        e = e->next;
    return e;
}

static int names_grow(struct cm_dlog_names *t)
{
    size_t nb = t->nb ? t->nb * 2 : 64;
    struct dlog_name **b = calloc(nb, sizeof(*b));
    if (!b)
        return CM_ENOMEM;
    for (size_t i = 0; i < t->nb; i++) {
        for (struct dlog_name *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nb = nb;
    return CM_OK;
}

const char *cm_dlog_name_ref(struct cm_dlog_names *t, const char *s, int *oom)
{
    size_t hash, len;
    struct dlog_name *e;

    if (!s)
        return NULL;
    hash = name_hash(s);
    if ((e = name_lookup(t, s, hash))) {
        e->refs++;
        return e->s;
    }
    len = strlen(s);
    if ((t->n >= t->nb && names_grow(t) != CM_OK) || !(e = malloc(sizeof(*e) + len + 1))) {
        *oom = 1;
        return NULL;
    }
    memcpy(e->s, s, len + 1);
    e->refs = 1;
    e->hash = hash;
    e->next = t->buckets[hash & (t->nb - 1)];
    t->buckets[hash & (t->nb - 1)] = e;
    t->n++;
    return e->s;
}

void cm_dlog_name_unref(struct cm_dlog_names *t, const char *name)
{
    struct dlog_name *e, **pp;
    if (!name)
        return;
    e = (struct dlog_name *)(void *)(name - offsetof(struct dlog_name, s));
    if (--e->refs)
        return;
    for (pp = &t->buckets[e->hash & (t->nb - 1)]; *pp != e; pp = &(*pp)->next)
        ;
    *pp = e->next;
    t->n--;
    free(e);
}

const char *cm_dlog_name_find(const struct cm_dlog_names *t, const char *s)
{
    struct dlog_name *e = s ? name_lookup(t, s, name_hash(s)) : NULL;
    return e ? e->s : NULL;
}

void cm_dlog_names_free(struct cm_dlog_names *t)
{
    for (size_t i = 0; i < t->nb; i++) {
        for (struct dlog_name *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}
