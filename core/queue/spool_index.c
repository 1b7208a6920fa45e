/* SPDX-License-Identifier: MIT */
/*
 * The local spool's index in memory: entries, repositories, endpoints and remembered delivery
 * ids in their lists and hash tables, the changes keys of what waits for a sync, and the
 * counts the queue limits read. Nothing here touches the disk.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "intake/event.h"
#include "queue/spool_journal.h"

/* --- memory state ----------------------------------------------------------------------- */

void cm_spool_entry_free(struct cm_spool_entry *e)
{
    if (!e)
        return;
    free(e->error);
    free(e->json);
    free(e->dkey);
    free(e->ckey);
    free(e);
}

static int sj_repo_is(const struct cm_spool_hnode *n, const void *key)
{
    return !strcmp(CM_SPOOL_CONTAINER(n, struct cm_spool_repo, node)->key, key);
}

static int sj_dkey_is(const struct cm_spool_hnode *n, const void *key)
{
    return !strcmp(CM_SPOOL_CONTAINER(n, struct cm_spool_dkey, node)->key, key);
}

static int sj_entry_is(const struct cm_spool_hnode *n, const void *id)
{
    return CM_SPOOL_CONTAINER(n, struct cm_spool_entry, by_id)->id == *(const uint64_t *)id;
}

struct cm_spool_repo *cm_spool_repo_find(struct cm_spool *sp, const char *key)
{
    struct cm_spool_hnode *n =
        cm_spool_ht_find(&sp->repos, cm_spool_hash_str(key), sj_repo_is, key);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_repo, node) : NULL;
}

struct cm_spool_dkey *cm_spool_dkey_find(struct cm_spool *sp, const char *key)
{
    struct cm_spool_hnode *n =
        cm_spool_ht_find(&sp->dkeys, cm_spool_hash_str(key), sj_dkey_is, key);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_dkey, node) : NULL;
}

struct cm_spool_entry *cm_spool_entry_find(struct cm_spool *sp, uint64_t id)
{
    struct cm_spool_hnode *n = cm_spool_ht_find(&sp->ids, cm_spool_hash_u64(id), sj_entry_is, &id);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_entry, by_id) : NULL;
}

/* --- changes keys --------------------------------------------------------------------- */

/* One index for all repositories: the repository is part of the hash and of the match (it
 * outlives its entries, so its address names it while any is indexed). */
struct sj_ckey {
    const struct cm_spool_repo *r;
    const char *ckey;
};

static uint64_t sj_ckey_hash(const struct cm_spool_repo *r, const char *ckey)
{
    return cm_spool_hash_str(ckey) ^ cm_spool_hash_u64((uint64_t)(uintptr_t)r);
}

static int sj_ckey_is(const struct cm_spool_hnode *n, const void *arg)
{
    const struct cm_spool_entry *e = CM_SPOOL_CONTAINER(n, struct cm_spool_entry, by_ckey);
    const struct sj_ckey *want = arg;
    return e->repo == want->r && !strcmp(e->ckey, want->ckey);
}

static void sj_ckey_index(struct cm_spool *sp, struct cm_spool_entry *e)
{
    cm_spool_ht_add(&sp->ckeys, &e->by_ckey, sj_ckey_hash(e->repo, e->ckey));
    e->ckey_state = CM_SPOOL_CKEY_INDEXED;
}

/* Make the changes key of a published entry that has none yet, and index it. One whose JSON
 * does not read back is marked so and never parsed again; out of memory leaves it for the
 * next look. */
static void sj_ckey_make(struct cm_spool *sp, struct cm_spool_entry *e)
{
    struct cm_event *ev;
    char err[128];
    int rc = cm_event_from_json(&ev, e->json, err, sizeof(err));

    if (rc == CM_OK) {
        e->ckey = cm_event_changes_key(ev);
        cm_event_free(ev);
        if (!e->ckey)
            return;
        sj_ckey_index(sp, e);
    } else if (rc == CM_ENOMEM) {
        return;
    } else {
        e->ckey_state = CM_SPOOL_CKEY_UNREADABLE;
    }
    e->repo->n_unkeyed--;
}

int cm_spool_ckey_held(struct cm_spool *sp, struct cm_spool_repo *r, const char *ckey)
{
    struct sj_ckey want = {r, ckey};
    struct cm_spool_link *lists[2] = {&r->pending, &r->claimed};

    for (size_t k = 0; r->n_unkeyed && k < 2; k++)
        for (struct cm_spool_link *l = lists[k]->next; l != lists[k]; l = l->next) {
            struct cm_spool_entry *e = CM_SPOOL_ENTRY(l);
            if (e->ckey_state == CM_SPOOL_CKEY_NONE)
                sj_ckey_make(sp, e);
        }
    return cm_spool_ht_find(&sp->ckeys, sj_ckey_hash(r, ckey), sj_ckey_is, &want) != NULL;
}

/* --- repositories and endpoints --------------------------------------------------------- */

/* A zeroed object of size bytes followed by a copy of key, and the hash of key. */
static void *sj_keyed_new(size_t size, const char *key, size_t key_off, uint64_t *hash)
{
    size_t len = strlen(key);
    char *o = calloc(1, size + len + 1);

    if (o)
        memcpy(o + key_off, key, len + 1);
    *hash = cm_spool_hash_str(key);
    return o;
}

struct sj_name {
    const char *p;
    size_t len;
};

static int sj_ep_is(const struct cm_spool_hnode *n, const void *arg)
{
    const struct sj_name *want = arg;
    const char *name = CM_SPOOL_CONTAINER(n, struct cm_spool_ep, node)->name;
    return !strncmp(name, want->p, want->len) && !name[want->len];
}

struct cm_spool_ep *cm_spool_ep_find(struct cm_spool *sp, const char *name, size_t len)
{
    struct sj_name want = {name, len};
    struct cm_spool_hnode *n =
        cm_spool_ht_find(&sp->eps, cm_spool_hash_mem(name, len), sj_ep_is, &want);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_ep, node) : NULL;
}

/* The endpoint of repository key key, created when missing; NULL when out of memory. */
static struct cm_spool_ep *sj_ep_get(struct cm_spool *sp, const char *key)
{
    const char *slash = strchr(key, '/');
    size_t len = slash ? (size_t)(slash - key) : strlen(key);
    struct cm_spool_ep *ep = cm_spool_ep_find(sp, key, len);

    if (ep || !(ep = calloc(1, sizeof(*ep) + len + 1)))
        return ep;
    memcpy(ep->name, key, len);
    cm_spool_ht_add(&sp->eps, &ep->node, cm_spool_hash_mem(key, len));
    return ep;
}

void cm_spool_count(struct cm_spool *sp, struct cm_spool_repo *r, int delta)
{
    if (delta > 0) {
        sp->live++;
        r->ep->live++;
    } else {
        sp->live--;
        r->ep->live--;
    }
}

struct cm_spool_repo *cm_spool_repo_get(struct cm_spool *sp, const char *key)
{
    struct cm_spool_repo *r = cm_spool_repo_find(sp, key);
    struct cm_spool_ep *ep;
    uint64_t h;

    if (r)
        return r;
    if (!(ep = sj_ep_get(sp, key)) ||
        !(r = sj_keyed_new(sizeof(*r), key, offsetof(struct cm_spool_repo, key), &h)))
        return NULL;
    r->ep = ep;
    cm_spool_list_init(&r->pending);
    cm_spool_list_init(&r->claimed);
    cm_spool_ht_add(&sp->repos, &r->node, h);
    return r;
}

void cm_spool_repo_settle(struct cm_spool *sp, struct cm_spool_repo *r)
{
    int want = r->n_pending && !r->held;

    if (want && !r->in_ready)
        cm_spool_list_add_tail(&sp->ready, &r->ready);
    else if (!want && r->in_ready)
        cm_spool_list_del(&r->ready);
    r->in_ready = want;
    if (!r->n_pending && !r->held && !r->n_inflight) {
        assert(!r->n_unkeyed);
        cm_spool_ht_del(&sp->repos, &r->node);
        free(r);
    }
}

void cm_spool_publish(struct cm_spool *sp, struct cm_spool_entry *e)
{
    free(e->dkey);
    e->dkey = NULL;
    cm_spool_ht_add(&sp->ids, &e->by_id, cm_spool_hash_u64(e->id));
    if (e->ckey)
        sj_ckey_index(sp, e);
    else
        e->repo->n_unkeyed++;
    cm_spool_list_add_tail(&e->repo->pending, &e->link);
    e->repo->n_pending++;
    sp->depth++;
    if (e->id >= sp->next_id)
        sp->next_id = e->id + 1;
}

void cm_spool_entry_drop(struct cm_spool *sp, struct cm_spool_entry *e, int was_pending)
{
    cm_spool_count(sp, e->repo, -1);
    cm_spool_list_del(&e->link);
    cm_spool_ht_del(&sp->ids, &e->by_id);
    if (e->ckey_state == CM_SPOOL_CKEY_INDEXED)
        cm_spool_ht_del(&sp->ckeys, &e->by_ckey);
    else if (e->ckey_state == CM_SPOOL_CKEY_NONE)
        e->repo->n_unkeyed--;
    if (was_pending)
        e->repo->n_pending--;
    sp->depth--;
    cm_spool_entry_free(e);
}

void cm_spool_dkey_del(struct cm_spool *sp, struct cm_spool_dkey *d)
{
    cm_spool_ht_del(&sp->dkeys, &d->node);
    cm_spool_list_del(&d->fifo);
    free(d);
}

int cm_spool_dkey_add(struct cm_spool *sp, const char *key, long long at, uint64_t batch)
{
    uint64_t h;
    struct cm_spool_dkey *d =
        sj_keyed_new(sizeof(*d), key, offsetof(struct cm_spool_dkey, key), &h);

    if (!d)
        return CM_ENOMEM;
    d->at = at;
    d->batch = batch;
    cm_spool_ht_add(&sp->dkeys, &d->node, h);
    cm_spool_list_add_tail(&sp->fifo, &d->fifo);
    return CM_OK;
}

void cm_spool_dkey_expire(struct cm_spool *sp, long long now)
{
    while (!cm_spool_list_empty(&sp->fifo)) {
        struct cm_spool_dkey *d = CM_SPOOL_CONTAINER(sp->fifo.next, struct cm_spool_dkey, fifo);
        if (now - d->at <= sp->max_age && sp->dkeys.n <= CM_SPOOL_DEDUPE_MAX)
            break;
        cm_spool_dkey_del(sp, d);
    }
}

int cm_spool_state_init(struct cm_spool *sp)
{
    cm_spool_list_init(&sp->ready);
    cm_spool_list_init(&sp->fifo);
    cm_spool_list_init(&sp->open.entries);
    if (cm_spool_ht_init(&sp->repos) || cm_spool_ht_init(&sp->ids) ||
        cm_spool_ht_init(&sp->dkeys) || cm_spool_ht_init(&sp->eps) || cm_spool_ht_init(&sp->ckeys))
        return CM_ENOMEM;
    return CM_OK;
}

static void sj_free_list(struct cm_spool_link *h)
{
    struct cm_spool_link *l;
    while ((l = cm_spool_list_pop(h)))
        cm_spool_entry_free(CM_SPOOL_CONTAINER(l, struct cm_spool_entry, link));
}

void cm_spool_state_free(struct cm_spool *sp)
{
    for (size_t i = 0; i < sp->repos.nb; i++)
        for (struct cm_spool_hnode *n = sp->repos.b[i], *nx; n; n = nx) {
            struct cm_spool_repo *r = CM_SPOOL_CONTAINER(n, struct cm_spool_repo, node);
            nx = n->next;
            sj_free_list(&r->pending);
            sj_free_list(&r->claimed);
            free(r);
        }
    for (size_t i = 0; i < sp->eps.nb; i++)
        for (struct cm_spool_hnode *n = sp->eps.b[i], *nx; n; n = nx) {
            nx = n->next;
            free(CM_SPOOL_CONTAINER(n, struct cm_spool_ep, node));
        }
    while (!cm_spool_list_empty(&sp->fifo))
        cm_spool_dkey_del(sp, CM_SPOOL_CONTAINER(sp->fifo.next, struct cm_spool_dkey, fifo));
    sj_free_list(&sp->open.entries);
    free(sp->open.buf.p);
    free(sp->repos.b);
    free(sp->ids.b);
    free(sp->dkeys.b);
    free(sp->eps.b);
    free(sp->ckeys.b);
}
