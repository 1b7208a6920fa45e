/* SPDX-License-Identifier: MIT */
/*
 * The ref index of an event (event_index.h): a keyed hash of ref names to change positions,
 * built by the first merge into an event and kept up to date by every change appended after.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intake/event.h"
#include "intake/event_index.h"
#include "util/keyed_hash.h"

/* Ref names come from payloads, so the hash is keyed (util/keyed_hash.h): a sender cannot
 * pick names that all land in one slot and make a merge quadratic. */
static uint64_t ev_hash(const char *s)
{
    return cm_keyed_hash(s, strlen(s));
}

/* Open addressing with linear probing; a slot holds a change's index + 1 (0: empty). Indexes,
 * not pointers, because the changes array moves when it grows. */
struct cm_ref_index {
    uint64_t *hash;
    size_t *slot;
    size_t cap; /* a power of two, at least twice the entries */
};

void cm_ref_index_free(struct cm_ref_index *ix)
{
    if (!ix)
        return;
    free(ix->hash);
    free(ix->slot);
    free(ix);
}

static struct cm_change *index_find(const struct cm_event *ev, const char *ref, uint64_t h)
{
    const struct cm_ref_index *ix = ev->index;

    for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        if (!ix->slot[i])
            return NULL;
        if (ix->hash[i] == h && !strcmp(ev->changes[ix->slot[i] - 1].ref, ref))
            return &ev->changes[ix->slot[i] - 1];
    }
}

/* Put change idx under h; the caller made room and knows the ref is not there yet. */
static void index_put(struct cm_ref_index *ix, size_t idx, uint64_t h)
{
    size_t i = h & (ix->cap - 1);

    while (ix->slot[i])
        i = (i + 1) & (ix->cap - 1);
    ix->hash[i] = h;
    ix->slot[i] = idx + 1;
}

int cm_ref_index_build(struct cm_event *ev, size_t want)
{
    struct cm_ref_index *ix = calloc(1, sizeof(*ix));
    size_t cap = 16;

    while (cap < want * 2)
        cap *= 2;
    if (!ix || !(ix->hash = calloc(cap, sizeof(*ix->hash))) ||
        !(ix->slot = calloc(cap, sizeof(*ix->slot)))) {
        cm_ref_index_free(ix);
        return CM_ENOMEM;
    }
    ix->cap = cap;
    cm_ref_index_free(ev->index);
    ev->index = ix;
    for (size_t k = 0; k < ev->n_changes; k++) {
        uint64_t h = ev_hash(ev->changes[k].ref);
        if (!index_find(ev, ev->changes[k].ref, h))
            index_put(ix, k, h);
    }
    return CM_OK;
}

int cm_ref_index_reserve(struct cm_event *ev)
{
    if (!ev->index || (ev->n_changes + 1) * 2 <= ev->index->cap)
        return CM_OK;
    return cm_ref_index_build(ev, (ev->n_changes + 1) * 2);
}

void cm_ref_index_note_last(struct cm_event *ev)
{
    size_t k = ev->n_changes - 1;
    uint64_t h;

    if (!ev->index)
        return;
    h = ev_hash(ev->changes[k].ref);
    if (!index_find(ev, ev->changes[k].ref, h))
        index_put(ev->index, k, h);
}

struct cm_change *cm_ref_index_find(const struct cm_event *ev, const char *ref)
{
    return index_find(ev, ref, ev_hash(ref));
}
