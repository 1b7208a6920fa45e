/* SPDX-License-Identifier: MIT */
/*
 * The local spool, the embedded queue backend: the queue operations over an append-only
 * journal under data_dir/spool with group commit (one fdatasync per batch of concurrent
 * writers), and per-repository claims that coalesce pending entries into one job.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* flock, O_DIRECTORY */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "intake/event.h"
#include "queue/queue.h"
#include "queue/spool_journal.h"
#include "util/fsutil.h"

#define SP_ENTRY(l) CM_SPOOL_CONTAINER(l, struct cm_spool_entry, link)

static struct cm_spool *sp_of(struct cm_queue *q)
{
    return (struct cm_spool *)q;
}

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
        struct cm_spool_entry *e = SP_ENTRY(l);
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

/* Become the writer: take the open batch, write it without the lock, then wake its callers. */
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
    for (struct cm_spool_ticket *t = b.tickets; t; t = t->next) {
        t->rc = rc;
        t->done = 1;
    }
    pthread_cond_broadcast(&sp->commit_cv);
    if (published)
        pthread_cond_broadcast(&sp->claim_cv);
    if (rc == CM_OK && sp->stats.journal_bytes >= sp->compact_at)
        cm_spool_journal_compact(sp, &err_no);
    sp->committing = 0;
    pthread_cond_broadcast(&sp->commit_cv);
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
static int sp_commit(struct cm_spool *sp, struct cm_buf *rec, struct cm_spool_link *entries)
{
    struct cm_spool_ticket t = {0};

    if (cm_buf_append(&sp->open.buf, rec->p, rec->len) != CM_OK)
        return CM_ENOMEM;
    if (entries)
        cm_spool_list_splice(&sp->open.entries, entries, 0);
    sp_ticket_add(&sp->open, &t);
    while (!t.done) {
        if (sp->committing)
            pthread_cond_wait(&sp->commit_cv, &sp->mu);
        else
            sp_lead(sp);
    }
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

/* Under the lock: an entry for event i, its record in rec, its delivery id remembered. */
static int sp_stage(struct cm_spool *sp, const char *key, const char *dkey, const char *json,
                    long long now, struct cm_buf *rec, struct cm_spool_link *mine, uint64_t *id)
{
    struct cm_spool_entry *e = calloc(1, sizeof(*e));

    if (!e || !(e->json = strdup(json)) || (dkey && !(e->dkey = strdup(dkey))) ||
        !(e->repo = cm_spool_repo_get(sp, key))) {
        cm_spool_entry_free(e);
        return CM_ENOMEM;
    }
    e->id = sp->next_id++;
    e->accepted_at = now;
    e->repo->n_inflight++;
    cm_spool_count(sp, e->repo, 1);
    cm_spool_list_add_tail(mine, &e->link);
    *id = e->id;
    if (dkey && cm_spool_dkey_add(sp, dkey, now, sp->open.no) != CM_OK)
        return CM_ENOMEM;
    return cm_spool_rec_accept(rec, e->id, now, key, dkey, json);
}

/* The changes key of entry e, made once. NULL when its JSON does not read back (it is then
 * never equal to anything) or out of memory. */
static const char *sp_entry_ckey(struct cm_spool_entry *e)
{
    struct cm_event *ev;
    char err[128];

    if (!e->ckey && cm_event_from_json(&ev, e->json, err, sizeof(err)) == CM_OK) {
        e->ckey = cm_event_changes_key(ev);
        cm_event_free(ev);
    }
    return e->ckey;
}

/* Whether an entry waiting for (or in) a sync of key's repository already asks for exactly
 * what ckey does. A delivery replayed under a fresh, unsigned delivery id is then a duplicate
 * instead of a new entry, so replays cannot fill the queue; the same push after that sync
 * is stored again, since nothing is waiting for it any more. */
static int sp_covered(struct cm_spool *sp, const char *key, const char *ckey)
{
    struct cm_spool_repo *r = cm_spool_repo_find(sp, key);
    struct cm_spool_link *lists[2];

    if (!r || !ckey)
        return 0;
    lists[0] = &r->pending;
    lists[1] = &r->claimed;
    for (size_t k = 0; k < 2; k++)
        for (struct cm_spool_link *l = lists[k]->next; l != lists[k]; l = l->next) {
            const char *c = sp_entry_ckey(CM_SPOOL_CONTAINER(l, struct cm_spool_entry, link));
            if (c && !strcmp(c, ckey))
                return 1;
        }
    return 0;
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

static int sp_append(struct cm_queue *q, struct cm_event *const *events, const char *const *dkeys,
                     size_t n, const struct cm_queue_limits *limits, uint64_t *ids_out)
{
    struct cm_spool *sp = sp_of(q);
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
        rc = sp_stage(sp, keys[i], dk, jsons[i], now, &rec, &mine, &ids_out[i]);
        stored++;
    }
    if (rc == CM_OK && !stored)
        rc = n ? CM_EIGNORE : CM_OK;
    else if (rc == CM_OK)
        rc = sp_commit(sp, &rec, &mine);
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

static int sp_queued(struct cm_queue *q, const char *endpoint, const char *repository)
{
    struct cm_spool *sp = sp_of(q);
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

/* --- claim ------------------------------------------------------------------------------ */

/* Under the lock: the job for r, whose claimed list holds its entries oldest first. */
static int sp_job_new(struct cm_spool_repo *r, struct cm_job **out)
{
    struct cm_job *job = calloc(1, sizeof(*job));
    size_t n = cm_spool_list_len(&r->claimed);

    if (!job || !(job->key = strdup(r->key)) || !(job->ids = calloc(n, sizeof(*job->ids)))) {
        cm_job_free(job);
        return CM_ENOMEM;
    }
    for (struct cm_spool_link *l = r->claimed.next; l != &r->claimed; l = l->next) {
        struct cm_spool_entry *e = SP_ENTRY(l);
        if (!job->n_ids) {
            job->attempts = e->attempts;
            job->accepted_at = e->accepted_at;
        }
        if (e->error && !job->last_error && !(job->last_error = strdup(e->error))) {
            cm_job_free(job);
            return CM_ENOMEM;
        }
        job->ids[job->n_ids++] = e->id;
    }
    *out = job;
    return CM_OK;
}

/* Without the lock (only the holder of r changes its claimed list; compaction reads it under
 * the lock, so entries are moved later, with it): the job's event, merged from every claimed
 * entry that reads back. unreadable[i] is set for each entry i that does not, and why says
 * what is wrong with the first. CM_OK or CM_ENOMEM. */
static int sp_job_event(const struct cm_spool *sp, struct cm_spool_repo *r, struct cm_job *job,
                        unsigned char *unreadable, char *why, size_t whylen)
{
    char err[128];
    size_t i = 0;
    int rc = CM_OK;

    for (struct cm_spool_link *l = r->claimed.next; rc == CM_OK && l != &r->claimed;
         l = l->next, i++) {
        struct cm_event *ev = NULL;
        if ((rc = cm_event_from_json(&ev, SP_ENTRY(l)->json, err, sizeof(err))) != CM_OK) {
            if (rc == CM_ENOMEM)
                break;
            if (!*why)
                snprintf(why, whylen, "queued entry %" PRIu64 " does not read back as an event: %s",
                         SP_ENTRY(l)->id, err);
            unreadable[i] = 1;
            rc = CM_OK;
            continue;
        }
        if (!job->event) {
            job->event = ev;
            cm_event_cap_changes(ev, sp->max_refs);
            continue;
        }
        rc = cm_event_merge(job->event, ev, sp->max_refs);
        cm_event_free(ev);
    }
    return rc;
}

/* Under the lock: leave only r's unreadable entries claimed, the others pending again ahead of
 * newer ones (they are claimed once the unreadable job is given up), and make *job cover
 * just the unreadable ones, with why as its error and no event. CM_OK or CM_ENOMEM. */
static int sp_split_unreadable(struct cm_spool_repo *r, const unsigned char *unreadable,
                               const char *why, struct cm_job **job)
{
    struct cm_spool_link good, *l, *next;
    size_t i = 0;

    cm_spool_list_init(&good);
    for (l = r->claimed.next; l != &r->claimed; l = next, i++) {
        next = l->next;
        if (!unreadable[i]) {
            cm_spool_list_del(l);
            cm_spool_list_add_tail(&good, l);
            r->n_pending++;
        }
    }
    cm_spool_list_splice(&r->pending, &good, 1);
    cm_job_free(*job);
    *job = NULL;
    if (sp_job_new(r, job) != CM_OK)
        return CM_ENOMEM;
    free((*job)->last_error);
    if (!((*job)->last_error = strdup(why)))
        return CM_ENOMEM;
    return CM_OK;
}

static struct cm_spool_repo *sp_pick(struct cm_spool *sp, long long now, long long *next_due)
{
    *next_due = LLONG_MAX;
    for (struct cm_spool_link *l = sp->ready.next; l != &sp->ready; l = l->next) {
        struct cm_spool_repo *r = CM_SPOOL_CONTAINER(l, struct cm_spool_repo, ready);
        if (r->not_before <= now)
            return r;
        if (r->not_before < *next_due)
            *next_due = r->not_before;
    }
    return NULL;
}

/* Give r's claimed entries back to its pending list, ahead of newer ones, due at not_before. */
static void sp_release(struct cm_spool *sp, struct cm_spool_repo *r, long long not_before)
{
    r->n_pending += cm_spool_list_len(&r->claimed);
    cm_spool_list_splice(&r->pending, &r->claimed, 1);
    r->held = 0;
    r->not_before = not_before;
    cm_spool_repo_settle(sp, r);
}

static int sp_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms)
{
    struct cm_spool *sp = sp_of(q);
    struct timespec deadline, now;
    struct cm_spool_repo *r = NULL;
    unsigned char *unreadable = NULL;
    char why[256] = "";
    long long next_due;
    int rc = CM_OK;

    *out = NULL;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sp->mu);
    for (;;) {
        if (sp->closing) {
            rc = CM_ERROR;
            goto out;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        if ((r = sp_pick(sp, (long long)now.tv_sec, &next_due)))
            break;
        if (timeout_ms >= 0 &&
            (now.tv_sec > deadline.tv_sec ||
             (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))) {
            rc = CM_EAGAIN;
            goto out;
        }
        struct timespec wake = deadline;
        if (timeout_ms < 0 || next_due < (long long)deadline.tv_sec)
            wake = (struct timespec){.tv_sec = (time_t)next_due, .tv_nsec = 0};
        if (timeout_ms < 0 && next_due == LLONG_MAX)
            pthread_cond_wait(&sp->claim_cv, &sp->mu);
        else
            pthread_cond_timedwait(&sp->claim_cv, &sp->mu, &wake);
    }
    r->held = 1;
    cm_spool_list_splice(&r->claimed, &r->pending, 0);
    r->n_pending = 0;
    cm_spool_repo_settle(sp, r);
    if ((rc = sp_job_new(r, out)) == CM_OK && !(unreadable = calloc((*out)->n_ids + 1, 1)))
        rc = CM_ENOMEM;
    if (rc == CM_OK) {
        pthread_mutex_unlock(&sp->mu);
        rc = sp_job_event(sp, r, *out, unreadable, why, sizeof(why));
        pthread_mutex_lock(&sp->mu);
    }
    if (rc == CM_OK && *why && (rc = sp_split_unreadable(r, unreadable, why, out)) == CM_OK)
        rc = CM_QUEUE_EUNREADABLE;
    if (rc != CM_OK && rc != CM_QUEUE_EUNREADABLE) {
        /* Out of memory: hand the entries back untouched; the worker backs off. */
        sp_release(sp, r, r->not_before);
        cm_job_free(*out);
        *out = NULL;
    }
out:
    pthread_mutex_unlock(&sp->mu);
    free(unreadable);
    return rc;
}

/* --- hand back -------------------------------------------------------------------------- */

/* The held repository of job, or NULL when the job is not one of ours. Lock held. */
static struct cm_spool_repo *sp_holder(struct cm_spool *sp, const struct cm_job *job)
{
    struct cm_spool_repo *r = job && job->key ? cm_spool_repo_find(sp, job->key) : NULL;
    return r && r->held ? r : NULL;
}

/* End a claim. type 'D' (complete) or 'F' (give up): the job's entries leave the queue.
 * 'T' (retry): they wait until at, remembering error. Memory is right at once; a record that
 * does not reach the disk only means a repeat sync after a restart. Frees job. */
static int sp_hand_back(struct cm_spool *sp, struct cm_job *job, char type, long long at,
                        const char *error)
{
    struct cm_buf rec = {0};
    struct cm_spool_repo *r;
    int rc = CM_OK;

    pthread_mutex_lock(&sp->mu);
    if (!(r = sp_holder(sp, job))) {
        rc = CM_EINVAL;
        goto out;
    }
    if (type == 'T') {
        for (struct cm_spool_link *l = r->claimed.next; l != &r->claimed; l = l->next) {
            struct cm_spool_entry *e = SP_ENTRY(l);
            char *copy = error && *error ? strdup(error) : NULL;
            free(e->error);
            e->error = copy;
            e->attempts++;
            e->not_before = at;
            if (rc == CM_OK)
                rc = cm_spool_rec_retry(&rec, e);
        }
    } else {
        while (!cm_spool_list_empty(&r->claimed)) {
            struct cm_spool_entry *e = SP_ENTRY(r->claimed.next);
            if (rc == CM_OK)
                rc = cm_spool_rec_end(&rec, type, e->id);
            cm_spool_entry_drop(sp, e, 0);
        }
        at = 0;
    }
    sp_release(sp, r, at);
    pthread_cond_broadcast(&sp->claim_cv);
    if (rc == CM_OK)
        rc = sp_commit(sp, &rec, NULL);
out:
    pthread_mutex_unlock(&sp->mu);
    free(rec.p);
    cm_job_free(job);
    return rc;
}

static int sp_complete(struct cm_queue *q, struct cm_job *job)
{
    return sp_hand_back(sp_of(q), job, 'D', 0, NULL);
}

static int sp_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error)
{
    return sp_hand_back(sp_of(q), job, 'T', at, error);
}

static int sp_give_up(struct cm_queue *q, struct cm_job *job, const char *error)
{
    struct cm_spool *sp = sp_of(q);
    struct cm_spool_repo *r;
    int rc;

    pthread_mutex_lock(&sp->mu);
    r = sp_holder(sp, job);
    rc = r ? cm_spool_log_failed(sp, r, error) : CM_EINVAL;
    pthread_mutex_unlock(&sp->mu);
    if (rc == CM_EAGAIN || rc == CM_ENOMEM) {
        /* Not recorded, so not given up: keep it and try again in a minute (freeing the job
         * without handing it back would hold its repository for good). */
        rc = sp_hand_back(sp, job, 'T', (long long)time(NULL) + 60, error);
        return rc == CM_OK ? CM_EAGAIN : rc;
    }
    if (rc != CM_OK) {
        cm_job_free(job);
        return rc;
    }
    return sp_hand_back(sp, job, 'F', 0, NULL);
}

/* --- the rest of the ops ---------------------------------------------------------------- */

static size_t sp_depth(struct cm_queue *q)
{
    struct cm_spool *sp = sp_of(q);
    pthread_mutex_lock(&sp->mu);
    size_t n = sp->depth;
    pthread_mutex_unlock(&sp->mu);
    return n;
}

/* Each repository's lists hold their entries oldest first, and its claimed entries are older
 * than its pending ones, so the first of each repository is enough. */
static long long sp_oldest_age(struct cm_queue *q, long long now)
{
    struct cm_spool *sp = sp_of(q);
    long long oldest = now;

    /* The ready list is what a worker could claim (pending, nobody syncing it), the same set
     * sp_pick walks: a /healthz poll need not visit every repository the spool knows. */
    pthread_mutex_lock(&sp->mu);
    for (struct cm_spool_link *l = sp->ready.next; l != &sp->ready; l = l->next) {
        struct cm_spool_repo *r = CM_SPOOL_CONTAINER(l, struct cm_spool_repo, ready);
        long long since = SP_ENTRY(r->pending.next)->accepted_at;
        if (r->not_before > now)
            continue;
        if (r->not_before > since)
            since = r->not_before;
        if (since < oldest)
            oldest = since;
    }
    pthread_mutex_unlock(&sp->mu);
    return now - oldest;
}

static void sp_shutdown(struct cm_queue *q)
{
    struct cm_spool *sp = sp_of(q);
    pthread_mutex_lock(&sp->mu);
    sp->closing = 1;
    pthread_cond_broadcast(&sp->claim_cv);
    pthread_mutex_unlock(&sp->mu);
}

static void sp_close(struct cm_queue *q)
{
    struct cm_spool *sp = sp_of(q);

    if (!sp)
        return;
    cm_spool_state_free(sp);
    if (sp->fd >= 0)
        close(sp->fd);
    if (sp->failed_fd >= 0)
        close(sp->failed_fd);
    if (sp->dir_fd >= 0)
        close(sp->dir_fd); /* releases the flock */
    free(sp->journal);
    free(sp->journal_new);
    free(sp->failed_log);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->commit_cv);
    pthread_cond_destroy(&sp->claim_cv);
    free(sp);
}

static const struct cm_queue_ops sp_ops = {
    .append = sp_append,
    .queued = sp_queued,
    .claim = sp_claim,
    .complete = sp_complete,
    .retry = sp_retry,
    .give_up = sp_give_up,
    .depth = sp_depth,
    .oldest_age = sp_oldest_age,
    .shutdown = sp_shutdown,
    .close = sp_close,
};

void cm_spool_stats(struct cm_queue *q, struct cm_spool_stats *out)
{
    struct cm_spool *sp = sp_of(q);
    pthread_mutex_lock(&sp->mu);
    *out = sp->stats;
    pthread_mutex_unlock(&sp->mu);
}

/* --- open ------------------------------------------------------------------------------- */

/* Make data_dir/spool exist durably and take it for this process. */
static int sp_open_dir(struct cm_spool *sp, const char *data_dir, const char *dir, char *err,
                       size_t errlen)
{
    int created;

    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data directory %s: %s; create it or set data_dir",
                 data_dir, strerror(errno));
        return CM_ERROR;
    }
    created = mkdir(dir, 0700) == 0;
    if (!created && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s; make data_dir writable", dir, strerror(errno));
        return CM_ERROR;
    }
    if ((sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s; it must be a directory", dir, strerror(errno));
        return CM_ERROR;
    }
    if (created)
        (void)cm_fs_fsync_dir(data_dir); /* so the new directory survives a crash */
    if (flock(sp->dir_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s is in use by another cargoman; stop it or use another data_dir",
                 dir);
        return CM_ERROR;
    }
    return CM_OK;
}

int cm_spool_open(struct cm_queue **out, const char *data_dir, long long dedupe_max_age,
                  size_t max_refs, char *err, size_t errlen)
{
    struct cm_spool *sp = calloc(1, sizeof(*sp));
    char *dir = NULL;
    int rc = CM_ENOMEM, err_no;

    *out = NULL;
    if (!sp)
        goto out;
    sp->q.ops = &sp_ops;
    sp->fd = sp->dir_fd = sp->failed_fd = -1;
    sp->max_age = dedupe_max_age > 0 ? dedupe_max_age : 0;
    sp->max_refs = max_refs;
    sp->next_id = 1;
    sp->open.no = 1;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->commit_cv, NULL);
    pthread_cond_init(&sp->claim_cv, NULL);
    if (cm_spool_state_init(sp) != CM_OK || !(dir = cm_spool_join(data_dir, "spool")) ||
        !(sp->journal = cm_spool_join(dir, "journal")) ||
        !(sp->journal_new = cm_spool_join(dir, "journal.new")) ||
        !(sp->failed_log = cm_spool_join(dir, "failed.log"))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((rc = sp_open_dir(sp, data_dir, dir, err, errlen)) != CM_OK ||
        (rc = cm_spool_journal_load(sp, err, errlen)) != CM_OK)
        goto out;
    /* Start from a clean journal: whatever a crash left torn at the end is gone. */
    pthread_mutex_lock(&sp->mu);
    sp->committing = 1;
    rc = cm_spool_journal_compact(sp, &err_no);
    sp->committing = 0;
    pthread_mutex_unlock(&sp->mu);
    if (rc != CM_OK) {
        snprintf(err, errlen, "cannot write %s: %s; free space in or make writable data_dir %s",
                 sp->journal, strerror(err_no), data_dir);
        goto out;
    }
    sp->failed_fd = open(sp->failed_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (sp->failed_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s; make data_dir writable", sp->failed_log,
                 strerror(errno));
        rc = CM_ERROR;
        goto out;
    }
    *out = &sp->q;
    sp = NULL;
    rc = CM_OK;
out:
    if (sp)
        sp_close(&sp->q);
    free(dir);
    return rc;
}
