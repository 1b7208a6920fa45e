/* SPDX-License-Identifier: MIT */
/*
 * Claims on the local spool: a worker takes every pending entry of one repository as one job
 * (their events merged), and hands the job back as done, to retry at a time, or given up.
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/event.h"
#include "queue/queue.h"
#include "queue/spool_journal.h"
#include "util/deadline.h"

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
        struct cm_spool_entry *e = CM_SPOOL_ENTRY(l);
        if (!job->n_ids) {
            job->attempts = e->attempts;
            job->accepted_at = e->accepted_at;
            job->accepted_ms = e->accepted_ms;
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
        if ((rc = cm_event_from_json(&ev, CM_SPOOL_ENTRY(l)->json, err, sizeof(err))) != CM_OK) {
            if (rc == CM_ENOMEM)
                break;
            if (!*why)
                snprintf(why, whylen, "queued entry %" PRIu64 " does not read back as an event: %s",
                         CM_SPOOL_ENTRY(l)->id, err);
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
 * newer ones (they are claimed once the unreadable job is given up; until then they cover
 * appends again, as no sync of them has started), and make *job cover just the unreadable
 * ones, with why as its error and no event. CM_OK or CM_ENOMEM. */
static int sp_split_unreadable(struct cm_spool *sp, struct cm_spool_repo *r,
                               const unsigned char *unreadable, const char *why,
                               struct cm_job **job)
{
    struct cm_spool_link good, *l, *next;
    size_t i = 0;

    cm_spool_list_init(&good);
    for (l = r->claimed.next; l != &r->claimed; l = next, i++) {
        next = l->next;
        if (!unreadable[i]) {
            cm_spool_list_del(l);
            cm_spool_list_add_tail(&good, l);
            cm_spool_ckey_enter(sp, CM_SPOOL_ENTRY(l));
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

static long long sp_ms(const struct timespec *t)
{
    return (long long)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

/* A repository due at now (ms): past its retry time and its rest after the last sync; else
 * NULL, with *next_due (ms) the first moment one will be. */
static struct cm_spool_repo *sp_pick(struct cm_spool *sp, long long now, long long *next_due)
{
    *next_due = LLONG_MAX;
    for (struct cm_spool_link *l = sp->ready.next; l != &sp->ready; l = l->next) {
        struct cm_spool_repo *r = CM_SPOOL_CONTAINER(l, struct cm_spool_repo, ready);
        long long due = r->not_before < LLONG_MAX / 1000 ? r->not_before * 1000 : LLONG_MAX;
        if (r->settle_until_ms > due)
            due = r->settle_until_ms;
        if (due <= now)
            return r;
        if (due < *next_due)
            *next_due = due;
    }
    return NULL;
}

void cm_spool_set_coalesce(struct cm_queue *q, int ms)
{
    struct cm_spool *sp = cm_spool_of(q);
    pthread_mutex_lock(&sp->mu);
    sp->coalesce_ms = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&sp->mu);
}

/* Take every pending entry of r into its claimed list. Their sync starts: from now on they
 * cover no append (sp_covered), since the fetch may see the repository before that push. */
static void sp_take(struct cm_spool *sp, struct cm_spool_repo *r)
{
    for (struct cm_spool_link *l = r->pending.next; l != &r->pending; l = l->next)
        cm_spool_ckey_leave(sp, CM_SPOOL_ENTRY(l));
    cm_spool_list_splice(&r->claimed, &r->pending, 0);
    r->n_pending = 0;
}

/* Give r's claimed entries back to its pending list, ahead of newer ones, due at not_before;
 * waiting again, they cover appends again. */
static void sp_release(struct cm_spool *sp, struct cm_spool_repo *r, long long not_before)
{
    for (struct cm_spool_link *l = r->claimed.next; l != &r->claimed; l = l->next) {
        cm_spool_ckey_enter(sp, CM_SPOOL_ENTRY(l));
        r->n_pending++;
    }
    cm_spool_list_splice(&r->pending, &r->claimed, 1);
    r->held = 0;
    r->not_before = not_before;
    cm_spool_repo_settle(sp, r);
}

int cm_spool_op_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms)
{
    struct cm_spool *sp = cm_spool_of(q);
    struct timespec deadline, now;
    struct cm_spool_repo *r = NULL;
    unsigned char *unreadable = NULL;
    char why[256] = "";
    long long next_due;
    int rc = CM_OK;

    *out = NULL;
    deadline = cm_realtime_after_ms(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&sp->mu);
    for (;;) {
        if (sp->closing) {
            rc = CM_ERROR;
            goto out;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        if ((r = sp_pick(sp, sp_ms(&now), &next_due)))
            break;
        if (timeout_ms >= 0 &&
            (now.tv_sec > deadline.tv_sec ||
             (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))) {
            rc = CM_EAGAIN;
            goto out;
        }
        struct timespec wake = deadline;
        if (next_due != LLONG_MAX && (timeout_ms < 0 || next_due < sp_ms(&deadline)))
            wake = (struct timespec){.tv_sec = (time_t)(next_due / 1000),
                                     .tv_nsec = (long)(next_due % 1000) * 1000000L};
        if (timeout_ms < 0 && next_due == LLONG_MAX)
            pthread_cond_wait(&sp->claim_cv, &sp->mu);
        else
            pthread_cond_timedwait(&sp->claim_cv, &sp->mu, &wake);
    }
    r->held = 1;
    sp_take(sp, r);
    cm_spool_repo_settle(sp, r);
    if ((rc = sp_job_new(r, out)) == CM_OK && !(unreadable = calloc((*out)->n_ids + 1, 1)))
        rc = CM_ENOMEM;
    if (rc == CM_OK) {
        pthread_mutex_unlock(&sp->mu);
        rc = sp_job_event(sp, r, *out, unreadable, why, sizeof(why));
        pthread_mutex_lock(&sp->mu);
    }
    if (rc == CM_OK && *why && (rc = sp_split_unreadable(sp, r, unreadable, why, out)) == CM_OK)
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
            struct cm_spool_entry *e = CM_SPOOL_ENTRY(l);
            char *copy = error && *error ? strdup(error) : NULL;
            free(e->error);
            e->error = copy;
            e->attempts++;
            e->not_before = at;
            if (rc == CM_OK)
                rc = cm_spool_rec_retry(&rec, e);
        }
    } else {
        struct timespec now;
        while (!cm_spool_list_empty(&r->claimed)) {
            struct cm_spool_entry *e = CM_SPOOL_ENTRY(r->claimed.next);
            if (rc == CM_OK)
                rc = cm_spool_rec_end(&rec, type, e->id);
            cm_spool_entry_drop(sp, e, 0);
        }
        at = 0;
        clock_gettime(CLOCK_REALTIME, &now);
        r->settle_until_ms = sp_ms(&now) + sp->coalesce_ms;
    }
    sp_release(sp, r, at);
    pthread_cond_broadcast(&sp->claim_cv);
    if (rc == CM_OK)
        rc = cm_spool_commit(sp, &rec, NULL);
out:
    pthread_mutex_unlock(&sp->mu);
    free(rec.p);
    cm_job_free(job);
    return rc;
}

int cm_spool_op_complete(struct cm_queue *q, struct cm_job *job)
{
    return sp_hand_back(cm_spool_of(q), job, 'D', 0, NULL);
}

int cm_spool_op_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error)
{
    return sp_hand_back(cm_spool_of(q), job, 'T', at, error);
}

int cm_spool_op_give_up(struct cm_queue *q, struct cm_job *job, const char *error)
{
    struct cm_spool *sp = cm_spool_of(q);
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
