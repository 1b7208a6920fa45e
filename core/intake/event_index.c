/* SPDX-License-Identifier: MIT */
/*
 * The ref index of an event (event_index.h): a keyed hash of ref names to change positions,
 * built by the first merge into an event and kept up to date by every change appended after.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getrandom */
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "intake/event.h"
#include "intake/event_index.h"

/* Ref names come from payloads, so the hash is keyed (SipHash-1-3 with a per-process random
 * key): a sender cannot pick names that all land in one slot and make a merge quadratic. */
static uint64_t ev_key[2];
static pthread_once_t ev_key_once = PTHREAD_ONCE_INIT;

static void ev_key_init(void)
{
    if (getrandom(ev_key, sizeof(ev_key), 0) != (ssize_t)sizeof(ev_key)) {
        /* No entropy yet: still correct, only predictable. */
        ev_key[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
        ev_key[1] = (uint64_t)getpid() * 0xc2b2ae3d27d4eb4fULL;
    }
}

#define EV_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define EV_SIPROUND                                                                                \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = EV_ROTL(v1, 13);                                                                      \
        v1 ^= v0;                                                                                  \
        v0 = EV_ROTL(v0, 32);                                                                      \
        v2 += v3;                                                                                  \
        v3 = EV_ROTL(v3, 16);                                                                      \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = EV_ROTL(v3, 21);                                                                      \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = EV_ROTL(v1, 17);                                                                      \
        v1 ^= v2;                                                                                  \
        v2 = EV_ROTL(v2, 32);                                                                      \
    } while (0)

static uint64_t ev_hash(const char *s)
{
    size_t len = strlen(s), i;
    uint64_t v0 = ev_key[0] ^ 0x736f6d6570736575ULL, v1 = ev_key[1] ^ 0x646f72616e646f6dULL;
    uint64_t v2 = ev_key[0] ^ 0x6c7967656e657261ULL, v3 = ev_key[1] ^ 0x7465646279746573ULL;
    uint64_t m, b = (uint64_t)len << 56;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&m, s + i, 8);
        v3 ^= m;
        EV_SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; i + k < len; k++)
        b |= (uint64_t)(unsigned char)s[i + k] << (8 * k);
    v3 ^= b;
    EV_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    EV_SIPROUND;
    EV_SIPROUND;
    EV_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
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
    pthread_once(&ev_key_once, ev_key_init);
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
