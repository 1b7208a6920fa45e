/* SPDX-License-Identifier: MIT */
/*
 * Sync plugin state shared by a cluster: the node-side steps around the plugins' run (see
 * shared_state.h). One run or pull at a time per node (node_mu), and one run at a time in
 * the cluster (the queue's state lock), so the files a plugin reads are the cluster's newest
 * and what it writes is published whole or not at all.
 */
#include "sync/shared_state.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "plugin/shared_dir.h"
#include "queue/queue.h"
#include "util/deadline.h"

/* Least time between two refreshes of one directory for serve. */
#define SS_REFRESH_MS 100

struct ss_dir {
    char *instance; /* the state directory's name under data_dir */
    struct cm_shared_dir *sd;
    long long refreshed_ms; /* when serve last refreshed it; guarded by node_mu */
    int settled;            /* primed once: plugins may have run here since, so its files are
                             * no seed for the cluster any more; guarded by node_mu */
    struct ss_dir *next;
};

struct cm_shared_state {
    struct cm_queue *q;
    const struct cm_queue_state_ops *ops;
    pthread_mutex_t wait_mu; /* one waiter for the cluster's lock per node */
    pthread_mutex_t node_mu; /* held with the cluster's lock through a plugin run, or through
                              * a pull for serve */
    pthread_mutex_t mu;      /* guards dirs */
    struct ss_dir *dirs;
};

int cm_shared_state_new(struct cm_shared_state **out, struct cm_queue *q)
{
    struct cm_shared_state *ss;

    *out = NULL;
    if (!q->ops->state)
        return CM_OK;
    if (!(ss = calloc(1, sizeof(*ss))))
        return CM_ENOMEM;
    ss->q = q;
    ss->ops = q->ops->state;
    pthread_mutex_init(&ss->wait_mu, NULL);
    pthread_mutex_init(&ss->node_mu, NULL);
    pthread_mutex_init(&ss->mu, NULL);
    *out = ss;
    return CM_OK;
}

void cm_shared_state_free(struct cm_shared_state *ss)
{
    if (!ss)
        return;
    while (ss->dirs) {
        struct ss_dir *d = ss->dirs;
        ss->dirs = d->next;
        cm_shared_dir_free(d->sd);
        free(d->instance);
        free(d);
    }
    pthread_mutex_destroy(&ss->wait_mu);
    pthread_mutex_destroy(&ss->node_mu);
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

/* The name of ctx's state directory under data_dir: what the cluster's rows are keyed by, the
 * same on every node with the same configuration. */
static void ss_instance(const struct cm_ctx *ctx, char *buf, size_t len)
{
    char path[4096];
    size_t n = strlen(ctx->data_dir);

    cm_ctx_state_path(ctx, path, sizeof(path));
    snprintf(buf, len, "%s", path + n + (path[n] == '/'));
}

/* The shared directory of ctx's instance, known from attach; NULL when not attached. */
static struct ss_dir *ss_find(struct cm_shared_state *ss, const struct cm_ctx *ctx)
{
    char name[512];
    struct ss_dir *d;

    ss_instance(ctx, name, sizeof(name));
    pthread_mutex_lock(&ss->mu);
    for (d = ss->dirs; d && strcmp(d->instance, name) != 0; d = d->next)
        ;
    pthread_mutex_unlock(&ss->mu);
    return d;
}

int cm_shared_state_attach(struct cm_shared_state *ss, struct cm_gateway *gw)
{
    for (size_t i = 0; ss && i < gw->n_syncs; i++) {
        struct cm_sync *s = &gw->syncs[i];
        char name[512], dir[4096];
        struct ss_dir *d;

        if (ss_find(ss, &s->ctx))
            continue;
        ss_instance(&s->ctx, name, sizeof(name));
        cm_ctx_state_path(&s->ctx, dir, sizeof(dir));
        if (!(d = calloc(1, sizeof(*d))) || !(d->instance = strdup(name)) ||
            cm_shared_dir_new(&d->sd, dir, cm_sync_node_local(s->plugin)) != CM_OK) {
            if (d)
                free(d->instance);
            free(d);
            return CM_ENOMEM;
        }
        pthread_mutex_lock(&ss->mu);
        d->next = ss->dirs;
        ss->dirs = d;
        pthread_mutex_unlock(&ss->mu);
    }
    return CM_OK;
}

/* Who is told of a file the cluster replaced. */
struct ss_pull {
    struct cm_shared_dir *sd;
    const struct cm_sync *s; /* NULL: nobody (an instance of no running gateway) */
    size_t rows;
    int failed_path; /* a row this node cannot write: logged once per pull */
};

static void ss_changed(void *arg, const char *path)
{
    const struct ss_pull *p = arg;
    cm_state_changed_fn fn = p->s ? cm_sync_state_changed_hook(p->s->plugin) : NULL;

    if (fn)
        fn(p->s->self, path);
}

static int ss_apply(void *arg, const char *path, const void *body, size_t len, long long version)
{
    struct ss_pull *p = arg;
    int changed = 0, rc = cm_shared_dir_apply(p->sd, path, body, len, version, &changed);

    p->rows++;
    /* A row no plugin of ours wrote (outside the shared paths), or one whose path cannot be a
     * file here (a file where the cluster also has a directory, a link planted in the way):
     * skipped, loudly, and passed, so one bad row does not stop every sync of the cluster.
     * The disk refusing (full, read-only) is not the row's fault: the pull fails. */
    if (rc == CM_EINVAL ||
        (rc == CM_ERROR && (errno == ENOTDIR || errno == EISDIR || errno == ELOOP ||
                            errno == ENAMETOOLONG || errno == EEXIST))) {
        if (!p->failed_path++)
            cm_log(CM_LOG_ERR, "cluster",
                   "%s: the cluster's file \"%.200s\" cannot be written here (%s); skipped, so "
                   "this node's copy of it may differ: remove the row from cargoman_state",
                   cm_shared_dir_name(p->sd), path,
                   rc == CM_EINVAL ? "not a shared path" : strerror(errno));
        cm_shared_dir_skip(p->sd, version);
        return CM_OK;
    }
    if (rc == CM_OK && changed)
        ss_changed(p, path);
    return rc;
}

/* Bring s's directory up to date. When it was never compared with the cluster, everything is
 * read, and local files the cluster lacks are removed; but when the cluster has nothing of
 * this instance yet and no plugin ran here, this node's files are its first version (a single
 * gateway that joins a cluster keeps its index), published when fence holds the lock. Once
 * primed, a prime again (after a plugin failed, or a publish did) starts over from the
 * cluster's files: what a failed run left is no seed. */
static int ss_pull_dir(struct cm_shared_state *ss, struct ss_dir *d, const struct cm_sync *s,
                       long long fence)
{
    struct ss_pull p = {d->sd, s, 0, 0};
    int prime = !cm_shared_dir_primed(d->sd), rc;

    if (prime && cm_shared_dir_prime_begin(d->sd) != CM_OK)
        return CM_ENOMEM;
    rc = ss->ops->pull(ss->q, d->instance, cm_shared_dir_since(d->sd), ss_apply, &p);
    if (rc != CM_OK || !prime)
        return rc;
    if (p.rows || d->settled) {
        if ((rc = cm_shared_dir_prime_done(d->sd, ss_changed, &p)) == CM_OK)
            d->settled = 1;
        return rc;
    }
    if (!fence)
        return CM_OK; /* stays unprimed: the seed waits for a node that holds the lock */
    struct cm_state_doc *docs;
    size_t n;
    if ((rc = cm_shared_dir_changes(d->sd, &docs, &n)) != CM_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        docs[i].instance = d->instance;
    if (n && (rc = ss->ops->publish(ss->q, NULL, fence, docs, n)) == CM_OK) {
        cm_shared_dir_published(d->sd, docs, n);
        cm_log(CM_LOG_INFO, "cluster", "%s: this node's %zu files are the cluster's first state",
               d->instance, n);
    }
    cm_shared_dir_docs_free(docs, n);
    if (rc == CM_OK && (rc = cm_shared_dir_prime_done(d->sd, NULL, NULL)) == CM_OK)
        d->settled = 1;
    return rc;
}

int cm_shared_state_begin(struct cm_shared_state *ss, struct cm_gateway *gw, long long *fence,
                          char *err, size_t errlen)
{
    int rc;

    /* node_mu only once the cluster's lock is ours: while it is held, this node's directory
     * is the cluster's (serve's refresh relies on it), which a waiter's is not. */
    pthread_mutex_lock(&ss->wait_mu);
    rc = ss->ops->lock(ss->q, fence);
    if (rc == CM_OK)
        pthread_mutex_lock(&ss->node_mu);
    pthread_mutex_unlock(&ss->wait_mu);
    if (rc != CM_OK) {
        snprintf(err, errlen, "%s",
                 rc == CM_ERROR ? "shutting down"
                                : "cannot take the lock on the shared "
                                  "plugin state (the database is away)");
        return CM_EAGAIN;
    }
    if (cm_shared_state_attach(ss, gw) != CM_OK)
        rc = CM_ENOMEM;
    for (size_t i = 0; rc == CM_OK && i < gw->n_syncs; i++) {
        struct ss_dir *d = ss_find(ss, &gw->syncs[i].ctx);
        rc = d ? ss_pull_dir(ss, d, &gw->syncs[i], *fence) : CM_ENOMEM;
        if (rc != CM_OK)
            snprintf(err, errlen, "cannot bring %s up to date with the cluster (%d)",
                     d ? d->instance : "a plugin's state", rc);
    }
    if (rc != CM_OK) {
        cm_shared_state_abandon(ss, gw, *fence);
        *fence = 0; /* nothing held: a caller that abandons what it holds must not again */
        return CM_EAGAIN;
    }
    return CM_OK;
}

int cm_shared_state_prime(struct cm_shared_state *ss, struct cm_gateway *gw, char *err,
                          size_t errlen)
{
    long long fence;
    int rc;

    if (!ss)
        return CM_OK;
    if ((rc = cm_shared_state_begin(ss, gw, &fence, err, errlen)) != CM_OK)
        return rc;
    ss->ops->unlock(ss->q, fence);
    pthread_mutex_unlock(&ss->node_mu);
    return CM_OK;
}

/* Every directory of gw's instances is compared with the cluster's again at the next pull:
 * what a run wrote there is not (or not known to be) what the cluster has. */
static void ss_forget_all(struct cm_shared_state *ss, struct cm_gateway *gw)
{
    for (size_t i = 0; i < gw->n_syncs; i++) {
        struct ss_dir *d = ss_find(ss, &gw->syncs[i].ctx);
        if (d)
            cm_shared_dir_forget(d->sd);
    }
}

/* The directory whose instance name is instance (the pointer its documents carry). */
static struct ss_dir *ss_dir_of(struct cm_shared_state *ss, const char *instance)
{
    struct ss_dir *d;

    pthread_mutex_lock(&ss->mu);
    for (d = ss->dirs; d && d->instance != instance; d = d->next)
        ;
    pthread_mutex_unlock(&ss->mu);
    return d;
}

int cm_shared_state_complete(struct cm_shared_state *ss, struct cm_gateway *gw, struct cm_job *job,
                             long long fence)
{
    struct cm_state_doc *all = NULL;
    size_t n = 0;
    int rc = CM_OK;

    for (size_t i = 0; rc == CM_OK && i < gw->n_syncs; i++) {
        struct ss_dir *d = ss_find(ss, &gw->syncs[i].ctx);
        struct cm_state_doc *docs, *grown;
        size_t k;
        if (!d || (rc = cm_shared_dir_changes(d->sd, &docs, &k)) != CM_OK) {
            rc = d ? rc : CM_ENOMEM;
            break;
        }
        if (k && !(grown = realloc(all, (n + k) * sizeof(*all)))) {
            cm_shared_dir_docs_free(docs, k);
            rc = CM_ENOMEM;
            break;
        }
        if (k) {
            all = grown;
            for (size_t j = 0; j < k; j++) {
                docs[j].instance = d->instance;
                all[n + j] = docs[j];
            }
            n += k;
        }
        free(docs); /* its paths and bodies now belong to all */
    }
    if (rc == CM_OK) {
        rc = ss->ops->publish(ss->q, job, fence, all, n);
    } else {
        ss->q->ops->retry(ss->q, job, 0, "cannot read what the sync plugins wrote");
        /* Which files the run changed is not known (the walk stopped), or the next run would
         * start from this one's and publish it. */
        ss_forget_all(ss, gw);
    }
    for (size_t i = 0; i < n; i++) {
        struct ss_dir *d = ss_dir_of(ss, all[i].instance);
        if (d && rc == CM_OK)
            cm_shared_dir_published(d->sd, &all[i], 1);
        else if (d)
            cm_shared_dir_forget(d->sd);
    }
    cm_shared_dir_docs_free(all, n);
    ss->ops->unlock(ss->q, fence);
    pthread_mutex_unlock(&ss->node_mu);
    return rc == CM_OK ? CM_OK : CM_EAGAIN;
}

void cm_shared_state_abandon(struct cm_shared_state *ss, struct cm_gateway *gw, long long fence)
{
    /* The next begin writes the cluster's version back over what the plugins wrote. */
    ss_forget_all(ss, gw);
    ss->ops->unlock(ss->q, fence);
    pthread_mutex_unlock(&ss->node_mu);
}

/* gw's sync whose state directory is d's: the running generation's instance, which is told
 * of what a pull changes (serve may run on a replaced instance). NULL when none. */
static const struct cm_sync *ss_sync_of(struct cm_gateway *gw, const struct ss_dir *d)
{
    char name[512];

    for (size_t i = 0; gw && i < gw->n_syncs; i++) {
        ss_instance(&gw->syncs[i].ctx, name, sizeof(name));
        if (!strcmp(name, d->instance))
            return &gw->syncs[i];
    }
    return NULL;
}

/* Serve's pull of d. A plugin run on this node holds node_mu and the cluster's lock, so its
 * directory is the cluster's already; and a request that names unknown files (any client
 * can) must not queue behind that run, nor ask the database more than every SS_REFRESH_MS. */
static int ss_refresh_dir(struct cm_shared_state *ss, struct cm_gateway *gw, struct ss_dir *d)
{
    int rc = CM_OK;

    if (pthread_mutex_trylock(&ss->node_mu) != 0)
        return CM_OK;
    long long now = cm_monotonic_ms();
    if (!d->refreshed_ms || now - d->refreshed_ms >= SS_REFRESH_MS) {
        rc = ss_pull_dir(ss, d, ss_sync_of(gw, d), 0);
        d->refreshed_ms = cm_monotonic_ms();
    }
    pthread_mutex_unlock(&ss->node_mu);
    return rc == CM_OK ? CM_OK : CM_EAGAIN;
}

int cm_shared_state_refresh(struct cm_shared_state *ss, struct cm_gateway *gw, struct cm_ctx *ctx)
{
    struct ss_dir *d;

    if (!ss || !(d = ss_find(ss, ctx)))
        return CM_OK;
    return ss_refresh_dir(ss, gw, d);
}

int cm_shared_state_open(struct cm_shared_state *ss, struct cm_gateway *gw, struct cm_ctx *ctx,
                         const char *path, int *fd, void **body, size_t *len)
{
    struct ss_dir *d;
    long long have, version;
    int rc;

    *fd = -1;
    *body = NULL;
    *len = 0;
    if (!ss || !(d = ss_find(ss, ctx)) || !cm_shared_dir_shares(d->sd, path))
        return 1;
    have = cm_shared_dir_version(d->sd, path);
    rc = ss->ops->lookup(ss->q, d->instance, path, have, &version, body, len);
    if (rc == CM_EAGAIN) {
        /* The database is away: this node's copy, if it is still what the cluster had (not
         * what a run here wrote and could not publish). */
        *fd = have ? cm_shared_dir_open_current(d->sd, path, have) : -1;
        return *fd >= 0 ? CM_OK : CM_EAGAIN;
    }
    if (rc != CM_OK)
        return rc;
    if (!version)
        return CM_ENOENT;
    if (*body) {
        /* This node is behind (it ran no sync since): catch up, so the next request is
         * answered from its file. */
        if (ss_refresh_dir(ss, gw, d) == CM_OK &&
            (*fd = cm_shared_dir_open_current(d->sd, path, version)) >= 0) {
            free(*body);
            *body = NULL;
            *len = 0;
        }
        return CM_OK;
    }
    /* The cluster's version is the one this node has: its file, unless a plugin run here is
     * rewriting it right now, in which case the cluster's body is read after all. */
    if ((*fd = cm_shared_dir_open_current(d->sd, path, version)) >= 0)
        return CM_OK;
    rc = ss->ops->lookup(ss->q, d->instance, path, 0, &version, body, len);
    return rc != CM_OK ? rc : version ? CM_OK : CM_ENOENT;
}
