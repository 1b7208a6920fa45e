/* SPDX-License-Identifier: MIT */
/*
 * host->archive for the daemon: a zip any node can serve. A sync plugin asks only for commits
 * it published, which the repository's host has; this node may have no mirror of it, or an
 * older one. The fetch is by the repository's name (as a resync or an import makes it), under
 * the mirror's lock like a worker's, and runs no plugin.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config/config.h"
#include "daemon.h"
#include "intake/fetch_url.h"
#include "intake/repo_name.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "plugin/gateway.h"
#include "sync/archive_ondemand.h"
#include "sync/mirror.h"
#include "sync/resync.h"
#include "sync/worker.h"
#include "util/deadline.h"

/* A worker's sync of the same mirror may bring the commit: wait this long for it to end
 * (checking this often) rather than answer "try later" to a client at once. */
#define OD_WAIT_MS 30000
#define OD_POLL_MS 100

/* One request: what messages name, and the commit the current check looks for. */
struct od_req {
    const char *endpoint, *repository, *commit;
    const char *path; /* the mirror's */
};

/* Asked under the mirror's lock, before any fetch: a sync that held the lock before this one
 * may have brought the commit. */
static int od_has_commit(void *arg, const struct cm_mirror *m)
{
    const struct od_req *r = arg;

    return cm_mirror_has_object(m, r->commit);
}

/* Open r's mirror to be fetched from url ("": only read). No delivery vouches for the name
 * here, so a mirror that knows its repository's id accepts only a fetch that continues its
 * history (as a reconciliation's). */
static int od_open(struct cm_mirror **out, const struct cm_config *cfg, struct od_req *r,
                   const char *url)
{
    struct cm_mirror_identity who;
    struct stat st;
    int rc = cm_mirror_open(out, r->path, url, r->endpoint, r->repository);

    if (rc != CM_OK)
        return rc;
    cm_mirror_set_max_blob(*out, (unsigned long long)cfg->max_blob_size);
    cm_mirror_set_current_check(*out, od_has_commit, r);
    if (stat(r->path, &st) == 0) {
        cm_mirror_expect_existing(*out);
        if (cm_mirror_identity_read(r->path, &who) == CM_OK && who.id[0])
            cm_mirror_guard_history(*out);
    }
    return CM_OK;
}

/* Fetch r's repository into *m (replaced: opened afresh for each try, since a first clone by
 * another sync may have made the mirror meanwhile). While another sync holds the mirror, wait
 * up to OD_WAIT_MS for it. cm_mirror_sync's answer, with err. */
static int od_fetch(struct cm_daemon *d, const struct cm_gateway *gw, const struct cm_endpoint *ep,
                    struct od_req *r, struct cm_mirror **m, char *err, size_t errlen)
{
    const struct cm_config *cfg = gw->config;
    struct cm_mirror_auth auth = cm_worker_auth(cfg, ep->conf);
    long long until = cm_monotonic_ms() + OD_WAIT_MS, t0;
    char url[2048];
    int rc;

    if (cm_sync_url_by_name(ep, cm_fetch_url_ssh(cfg, ep), r->repository, r->path, url, sizeof(url),
                            err, errlen) != CM_OK)
        return CM_EAGAIN;
    for (;;) {
        cm_mirror_free(*m);
        *m = NULL;
        if ((rc = od_open(m, cfg, r, url)) != CM_OK) {
            snprintf(err, errlen, "out of memory opening the mirror");
            return rc;
        }
        t0 = cm_monotonic_ms();
        rc = cm_mirror_sync(*m, &auth, err, errlen);
        if (rc != CM_EAGAIN || !cm_mirror_busy(*m) || cm_monotonic_ms() >= until)
            break;
        struct timespec pause = {0, OD_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (!cm_mirror_busy(*m) && (rc != CM_OK || cm_mirror_fetched(*m)))
        cm_metrics_fetch(d->metrics, (double)(cm_monotonic_ms() - t0) / 1000.0, rc == CM_OK);
    return rc;
}

/* The one line a fetch made for a request leaves, and the status the caller gets for it. */
static int od_fetched(const struct od_req *r, const struct cm_mirror *m, int had, int rc,
                      const char *err)
{
    const char *why = had ? "this node's mirror lacks it" : "this node has no mirror of it";

    if (rc == CM_OK) {
        if (cm_mirror_fetched(m))
            cm_log(CM_LOG_INFO, r->endpoint, "%s: fetched for the dist zip of %.12s (%s)",
                   r->repository, r->commit, why);
        return CM_OK;
    }
    cm_log(CM_LOG_WARNING, r->endpoint,
           "%s: no dist zip of %.12s: the fetch it needs (%s) failed: %s", r->repository, r->commit,
           why, err);
    if (m && cm_mirror_missing(m))
        return CM_ENOENT;
    return rc == CM_EAGAIN || rc == CM_ENOMEM ? rc : CM_ERROR;
}

int cm_archive_ondemand(void *arg, struct cm_ctx *ctx, const char *endpoint, const char *repository,
                        const char *commit_id, const char *prefix, const char *dest)
{
    struct cm_daemon *d = arg;
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, endpoint);
    struct od_req r = {endpoint, repository, commit_id, NULL};
    struct cm_mirror *m = NULL;
    char path[4096], err[1024] = "";
    const char *why;
    struct stat st;
    int rc = CM_EINVAL, had;

    (void)ctx;
    if (cm_repo_name_check(repository, &why) != CM_OK ||
        cm_mirror_path(path, sizeof(path), gw->config->data_dir, endpoint, repository) != CM_OK)
        goto out;
    if (!ep) {
        cm_log(CM_LOG_WARNING, endpoint,
               "%s: no dist zip of %.12s: endpoint \"%s\" is not configured on this node; add it "
               "to conf.d as on the others",
               repository, commit_id, endpoint);
        rc = CM_EAGAIN;
        goto out;
    }
    r.path = path;
    had = stat(path, &st) == 0;
    /* The usual case, the node that synced it: no network at all. */
    if (had && (rc = od_open(&m, gw->config, &r, "")) == CM_OK &&
        cm_mirror_has_object(m, commit_id))
        goto archive;
    if (rc == CM_ENOMEM)
        goto out;
    rc = od_fetched(&r, m, had, od_fetch(d, gw, ep, &r, &m, err, sizeof(err)), err);
    if (rc != CM_OK)
        goto out;
    if (!cm_mirror_has_object(m, commit_id)) {
        cm_log(CM_LOG_WARNING, endpoint, "%s: no dist zip of %.12s: the host has no such commit",
               repository, commit_id);
        rc = CM_ENOENT;
        goto out;
    }
archive:
    rc = cm_mirror_archive(m, commit_id, prefix, dest);
out:
    cm_mirror_free(m);
    cm_daemon_release(d, gw);
    return rc;
}
