/* SPDX-License-Identifier: MIT */
/*
 * The local spool, the embedded queue backend: opening and closing it under data_dir/spool,
 * and the queue operations that only look (depth, oldest age, stats). Appending with group
 * commit is spool_append.c, claims spool_claim.c, the index spool_index.c and the journal
 * spool_journal.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* flock, O_DIRECTORY */
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/spool_journal.h"
#include "util/fsutil.h"

/* --- the rest of the ops ---------------------------------------------------------------- */

static size_t sp_depth(struct cm_queue *q)
{
    struct cm_spool *sp = cm_spool_of(q);
    pthread_mutex_lock(&sp->mu);
    size_t n = sp->depth;
    pthread_mutex_unlock(&sp->mu);
    return n;
}

/* Each repository's lists hold their entries oldest first, and its claimed entries are older
 * than its pending ones, so the first of each repository is enough. */
static long long sp_oldest_age(struct cm_queue *q, long long now)
{
    struct cm_spool *sp = cm_spool_of(q);
    long long oldest = now;

    /* The ready list is what a worker could claim (pending, nobody syncing it), the same set
     * sp_pick walks: a /healthz poll need not visit every repository the spool knows. */
    pthread_mutex_lock(&sp->mu);
    for (struct cm_spool_link *l = sp->ready.next; l != &sp->ready; l = l->next) {
        struct cm_spool_repo *r = CM_SPOOL_CONTAINER(l, struct cm_spool_repo, ready);
        long long since = CM_SPOOL_ENTRY(r->pending.next)->accepted_at;
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
    struct cm_spool *sp = cm_spool_of(q);
    pthread_mutex_lock(&sp->mu);
    sp->closing = 1;
    pthread_cond_broadcast(&sp->claim_cv);
    pthread_mutex_unlock(&sp->mu);
}

static void sp_close(struct cm_queue *q)
{
    struct cm_spool *sp = cm_spool_of(q);

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
    .append = cm_spool_op_append,
    .queued = cm_spool_op_queued,
    .claim = cm_spool_op_claim,
    .complete = cm_spool_op_complete,
    .retry = cm_spool_op_retry,
    .give_up = cm_spool_op_give_up,
    .depth = sp_depth,
    .oldest_age = sp_oldest_age,
    .shutdown = sp_shutdown,
    .close = sp_close,
};

void cm_spool_stats(struct cm_queue *q, struct cm_spool_stats *out)
{
    struct cm_spool *sp = cm_spool_of(q);
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
