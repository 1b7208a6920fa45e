/* SPDX-License-Identifier: MIT */
/*
 * Appending to the local spool: duplicates and limits decided under the lock, then group
 * commit, where one caller becomes the writer of everything the others handed in meanwhile
 * (one fdatasync per batch), and no caller returns before its records are durable.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/event.h"
#include "queue/queue.h"
#include "queue/spool_journal.h"
#include "util/deadline.h"

/* --- group commit ----------------------------------------------------------------------- */

/* A batch's entries once its fate is known: published when it was written, else forgotten
 * with their delivery ids (so are entries never handed over). Returns how many were
 * published. */
static size_t sp_land(struct cm_spool *sp, struct cm_spool_link *entries, uint64_t batch,
                      int written)
{
    struct cm_spool_link *l;
    size_t n = 0;

    while ((l = cm_spool_list_pop(entries))) {
        struct cm_spool_entry *e = CM_SPOOL_ENTRY(l);
        struct cm_spool_repo *r = e->repo;
        r->n_inflight--;
        if (written) {
            cm_spool_publish(sp, e);
            n++;
        } else {
            struct cm_spool_dkey *d = e->dkey ? cm_spool_dkey_find(sp, e->dkey) : NULL;
            if (d && d->batch == batch)
                cm_spool_dkey_del(sp, d);
            cm_spool_count(sp, r, -1);
            cm_spool_entry_free(e);
        }
        cm_spool_repo_settle(sp, r);
    }
    return n;
}

/* The batch's callers: their records are settled (rc). Each is woken on its own condition; the
 * ticket stays valid while the lock is held, since its caller needs the lock to return. */
static void sp_settle_tickets(struct cm_spool_ticket *t, int rc)
{
    for (; t; t = t->next) {
        t->rc = rc;
        t->done = 1;
        pthread_cond_signal(&t->cv);
    }
}

/* Become the writer: take the open batch, write it without the lock, then wake its callers,
 * and one caller of the batch that filled meanwhile, to write that one. */
static void sp_lead(struct cm_spool *sp)
{
    struct cm_spool_batch b = sp->open;
    int rc, err_no;
    size_t published;

    cm_spool_list_init(&b.entries);
    cm_spool_list_splice(&b.entries, &sp->open.entries, 0);
    memset(&sp->open.buf, 0, sizeof(sp->open.buf));
    sp->open.tickets = NULL;
    sp->open.no = b.no + 1;
    sp->committing = 1;
    uint64_t size = sp->stats.journal_bytes;

    pthread_mutex_unlock(&sp->mu);
    rc = cm_spool_journal_write(sp, &b.buf, &size);
    pthread_mutex_lock(&sp->mu);

    if (rc == CM_OK && b.buf.len) {
        sp->stats.journal_bytes = size;
        sp->stats.syncs++;
    }
    published = sp_land(sp, &b.entries, b.no, rc == CM_OK);
    sp->stats.appended += published;
    sp->done_no = b.no;
    sp_settle_tickets(b.tickets, rc);
    pthread_cond_broadcast(&sp->commit_cv);
    if (published)
        pthread_cond_broadcast(&sp->claim_cv);
    if (rc == CM_OK && sp->stats.journal_bytes >= sp->compact_at)
        cm_spool_journal_compact(sp, &err_no);
    sp->committing = 0;
    /* Every caller waiting now has its ticket in the open batch (a caller that came while
     * nobody wrote leads itself), so waking one of them is enough to have it written. */
    if (sp->open.tickets)
        pthread_cond_signal(&sp->open.tickets->cv);
    free(b.buf.p);
}

/* The ticket lives on its caller's stack until a leader has marked it done, and the leader
 * unhooks the whole list before that; kept out of line so the compiler sees no escape. */
static __attribute__((noinline)) void sp_ticket_add(struct cm_spool_batch *b,
                                                    struct cm_spool_ticket *t)
{
    t->next = b->tickets;
    b->tickets = t;
}

/* Hand records (and the entries they accept) to the open batch and wait until written.
 * Lock held; rec is consumed. */
int cm_spool_commit(struct cm_spool *sp, struct cm_buf *rec, struct cm_spool_link *entries)
{
    struct cm_spool_ticket t = {0};

    if (cm_buf_append(&sp->open.buf, rec->p, rec->len) != CM_OK)
        return CM_ENOMEM;
    if (entries)
        cm_spool_list_splice(&sp->open.entries, entries, 0);
    pthread_cond_init(&t.cv, NULL);
    sp_ticket_add(&sp->open, &t);
    while (!t.done) {
        if (sp->committing)
            pthread_cond_wait(&t.cv, &sp->mu);
        else
            sp_lead(sp);
    }
    pthread_cond_destroy(&t.cv);
    return t.rc;
}

/* --- append ----------------------------------------------------------------------------- */

/* Wait until the batches holding any of these delivery ids are settled: a redelivery is
 * only called a duplicate once the original is on disk. */
static void sp_wait_dups(struct cm_spool *sp, const char *const *dkeys, size_t n)
{
    for (;;) {
        uint64_t wait = 0;
        for (size_t i = 0; dkeys && i < n; i++) {
            struct cm_spool_dkey *d =
                dkeys[i] && *dkeys[i] ? cm_spool_dkey_find(sp, dkeys[i]) : NULL;
            if (d && d->batch > sp->done_no && d->batch > wait)
                wait = d->batch;
        }
        if (!wait)
            return;
        while (sp->done_no < wait)
            pthread_cond_wait(&sp->commit_cv, &sp->mu);
    }
}

/* Under the lock: an entry for event i, its record in rec, its delivery id remembered. The
 * entry takes *ckey, the changes key the caller made (*ckey is then NULL). */
static int sp_stage(struct cm_spool *sp, const char *key, const char *dkey, const char *json,
                    char **ckey, long long now, struct cm_buf *rec, struct cm_spool_link *mine,
                    uint64_t *id)
{
    struct cm_spool_entry *e = calloc(1, sizeof(*e));

    if (e) {
        e->ckey = *ckey;
        *ckey = NULL;
    }
    if (!e || !(e->json = strdup(json)) || (dkey && !(e->dkey = strdup(dkey))) ||
        !(e->repo = cm_spool_repo_get(sp, key))) {
        cm_spool_entry_free(e);
        return CM_ENOMEM;
    }
    e->id = sp->next_id++;
    e->accepted_at = now;
    /* The milliseconds of this second, when now is this second (not a caller's own clock). */
    e->accepted_ms = cm_realtime_ms();
    if (e->accepted_ms / 1000 != now)
        e->accepted_ms = now * 1000;
    e->repo->n_inflight++;
    cm_spool_count(sp, e->repo, 1);
    cm_spool_list_add_tail(mine, &e->link);
    *id = e->id;
    if (dkey && cm_spool_dkey_add(sp, dkey, now, sp->open.no) != CM_OK)
        return CM_ENOMEM;
    return cm_spool_rec_accept(rec, e->id, now, key, dkey, json);
}

/* Whether an entry waiting for a sync of key's repository (pending: that sync has not started)
 * already asks for exactly what ckey does. A delivery replayed under a fresh, unsigned delivery
 * id is then a duplicate instead of a new entry, so replays cannot fill the queue: while one
 * sync runs they add at most one entry per distinct change, which covers the rest. An entry
 * whose sync has started covers nothing: its fetch may have seen the repository before this
 * push (a branch moved 1->2, back to 1, and to 2 again while it fetched), and a duplicate
 * would leave the mirror behind until the next push. The same push after that sync is stored
 * again too, since nothing is waiting for it any more. */
static int sp_covered(struct cm_spool *sp, const char *key, const char *ckey)
{
    struct cm_spool_repo *r = cm_spool_repo_find(sp, key);

    return r && ckey && cm_spool_ckey_held(sp, r, ckey);
}

/* Whether storing the events that are no duplicates (take[i]) keeps the queue within lim.
 * Under the lock, right before they are staged, so no other append slips in between. */
static int sp_within(struct cm_spool *sp, const struct cm_queue_limits *lim, char *const *keys,
                     const unsigned char *take, size_t n)
{
    size_t total = 0;

    for (size_t i = 0; i < n; i++)
        total += take[i];
    if (!lim || !total)
        return CM_OK;
    if (lim->max_queued && sp->live + total > lim->max_queued)
        return CM_QUEUE_EFULL;
    for (size_t i = 0; lim->max_queued_endpoint && i < n; i++) {
        size_t len = strcspn(keys[i], "/"), same = 0;
        struct cm_spool_ep *ep = cm_spool_ep_find(sp, keys[i], len);
        /* Earlier events of this call for the same endpoint count too. */
        for (size_t j = 0; j <= i; j++)
            same += take[j] && !strncmp(keys[j], keys[i], len + 1);
        if (take[i] && (ep ? ep->live : 0) + same > lim->max_queued_endpoint)
            return CM_QUEUE_EFULL_ENDPOINT;
    }
    return CM_OK;
}

int cm_spool_op_append(struct cm_queue *q, struct cm_event *const *events, const char *const *dkeys,
                       size_t n, const struct cm_queue_limits *limits, uint64_t *ids_out)
{
    struct cm_spool *sp = cm_spool_of(q);
    struct cm_buf rec = {0};
    struct cm_spool_link mine;
    char **keys = calloc(n + 1, sizeof(*keys)), **ckeys = calloc(n + 1, sizeof(*ckeys));
    const char **jsons = calloc(n + 1, sizeof(*jsons));
    unsigned char *take = calloc(n + 1, 1);
    long long now = (long long)time(NULL);
    size_t stored = 0;
    int rc = keys && ckeys && jsons && take ? CM_OK : CM_ENOMEM;

    cm_spool_list_init(&mine);
    for (size_t i = 0; i < n; i++)
        ids_out[i] = 0;
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *ep = cm_event_get(events[i], CM_FIELD_ENDPOINT);
        const char *repo = cm_event_get(events[i], CM_FIELD_REPOSITORY);
        if (!ep || !repo)
            rc = CM_EINVAL; /* the dispatcher sets both on every event */
        else if (!(keys[i] = cm_spool_join(ep, repo)) || !(jsons[i] = cm_event_json(events[i])) ||
                 !(ckeys[i] = cm_event_changes_key(events[i])))
            rc = CM_ENOMEM;
    }
    if (rc != CM_OK)
        goto out;

    pthread_mutex_lock(&sp->mu);
    cm_spool_dkey_expire(sp, now);
    sp_wait_dups(sp, dkeys, n);
    for (size_t i = 0; i < n; i++) {
        const char *dk = dkeys && dkeys[i] && *dkeys[i] ? dkeys[i] : NULL;
        take[i] = (!dk || !cm_spool_dkey_find(sp, dk)) && !sp_covered(sp, keys[i], ckeys[i]);
    }
    rc = sp_within(sp, limits, keys, take, n);
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *dk = dkeys && dkeys[i] && *dkeys[i] ? dkeys[i] : NULL;
        if (!take[i])
            continue;
        rc = sp_stage(sp, keys[i], dk, jsons[i], &ckeys[i], now, &rec, &mine, &ids_out[i]);
        stored++;
    }
    if (rc == CM_OK && !stored)
        rc = n ? CM_EIGNORE : CM_OK;
    else if (rc == CM_OK)
        rc = cm_spool_commit(sp, &rec, &mine);
    sp_land(sp, &mine, sp->open.no, 0);
    pthread_mutex_unlock(&sp->mu);
    if (rc != CM_OK && rc != CM_EIGNORE)
        for (size_t i = 0; i < n; i++)
            ids_out[i] = 0;
out:
    for (size_t i = 0; keys && ckeys && i < n; i++) {
        free(keys[i]);
        free(ckeys[i]);
    }
    free(keys);
    free(ckeys);
    free(jsons);
    free(take);
    free(rec.p);
    return rc;
}

int cm_spool_op_queued(struct cm_queue *q, const char *endpoint, const char *repository)
{
    struct cm_spool *sp = cm_spool_of(q);
    size_t le = strlen(endpoint), lr = strlen(repository);
    char *key = malloc(le + lr + 2);
    int found;

    if (!key)
        return 1; /* the cautious answer: known, so no new-repository limit is spent on it */
    memcpy(key, endpoint, le);
    key[le] = '/';
    memcpy(key + le + 1, repository, lr + 1);
    pthread_mutex_lock(&sp->mu);
    found = cm_spool_repo_find(sp, key) != NULL;
    pthread_mutex_unlock(&sp->mu);
    free(key);
    return found;
}
