/* SPDX-License-Identifier: MIT */
/*
 * The events the gateway makes itself for a mirror it holds (a resync here, a reconciliation in
 * reconcile_check.c): what a webhook would have made, with the fetch URL the last sync recorded
 * (the fetch-URL policy decides on it afresh), queued through the same queue and recorded in
 * the delivery log like any delivery. An import (cm_import_queue) is the same event for a
 * repository that may have no mirror yet.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "daemon.h"
#include "intake/allow_list.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/intake.h"
#include "intake/repo_name.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "queue/queue.h"
#include "sync/mirror.h"
#include "sync/resync.h"
#include "util/url.h"

int cm_sync_event_new(const struct cm_endpoint *ep, int prefer_ssh, const char *repository,
                      const char *stored_url, const char *type, const char *delivery_id,
                      struct cm_event **out, char *url, size_t urllen, char *why, size_t whylen,
                      char *detail, size_t detaillen)
{
    struct cm_event *ev = NULL;
    char when[32];
    struct cm_url u;
    int rc;

    why[0] = '\0';
    if ((rc = cm_event_new(&ev)) != CM_OK)
        return rc;
    cm_format_time(cm_host_now(), when, sizeof(when));
    rc = cm_event_set(ev, CM_FIELD_PROVIDER, ep->conf->provider);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_ENDPOINT, ep->conf->name);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_EVENT, type);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_DELIVERY_ID, delivery_id);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_RECEIVED_AT, when);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_REPOSITORY, repository);
    if (rc == CM_OK && *stored_url && cm_url_parse(stored_url, &u) == CM_OK)
        rc = cm_event_set(
            ev, strcmp(u.scheme, "ssh") ? CM_FIELD_CLONE_URL_HTTP : CM_FIELD_CLONE_URL_SSH,
            stored_url);
    if (rc == CM_OK &&
        cm_fetch_url(ep, prefer_ssh, ev, url, urllen, why, whylen, detail, detaillen) != CM_OK)
        rc = CM_EINVAL;
    if (rc != CM_OK) {
        cm_event_free(ev);
        return rc;
    }
    *out = ev;
    return CM_OK;
}

int cm_sync_url_by_name(const struct cm_endpoint *ep, int prefer_ssh, const char *repository,
                        const char *path, char *url, size_t urllen, char *err, size_t errlen)
{
    char stored[2048], reason[512];
    struct cm_event *ev = NULL;
    long long synced = 0;
    int rc;

    if ((cm_mirror_recorded(path, stored, sizeof(stored), &synced) != CM_OK || !*stored) &&
        cm_fetch_url_import(ep, repository, stored, sizeof(stored), err, errlen) != CM_OK)
        return CM_EINVAL;
    rc = cm_sync_event_new(ep, prefer_ssh, repository, stored, "push", "by-name", &ev, url, urllen,
                           reason, sizeof(reason), err, errlen);
    cm_event_free(ev);
    return rc;
}

/* An event of this type for repository with no change list (every ref: the worker fetches
 * all, plugins re-read all), fetched from the URL the mirror at path recorded, else from
 * fallback (may be ""); why starts its delivery id. CM_EINVAL with err, fit for the operator's
 * caller, when no fetch URL is allowed. */
static int every_ref_event(const struct cm_endpoint *ep, int prefer_ssh, const char *repository,
                           const char *path, const char *type, const char *why,
                           const char *fallback, struct cm_event **out, char *err, size_t errlen)
{
    static atomic_uint seq;
    char stored[2048], url[2048], reason[512], did[160];
    long long synced = 0;
    int rc;

    if (cm_mirror_recorded(path, stored, sizeof(stored), &synced) != CM_OK || !*stored)
        snprintf(stored, sizeof(stored), "%s", fallback);
    snprintf(did, sizeof(did), "%s-%lld-%u", why, cm_host_now(), atomic_fetch_add(&seq, 1) + 1);
    rc = cm_sync_event_new(ep, prefer_ssh, repository, stored, type, did, out, url, sizeof(url),
                           reason, sizeof(reason), err, errlen);
    if (rc == CM_EINVAL && *reason)
        snprintf(err, errlen, "%s", reason);
    if (rc == CM_OK)
        cm_event_drop_changes(*out);
    return rc;
}

/* Append ev (taken) for ep and record it in the delivery log: CM_OK with *queue_id and
 * *record_id (both 0 when the same sync of every ref is already queued or running), or
 * cm_resync_queue's errors. */
static int queue_every_ref(struct cm_daemon *d, const struct cm_gateway *gw,
                           const struct cm_endpoint *ep, struct cm_event *ev, uint64_t *queue_id,
                           uint64_t *record_id, char *err, size_t errlen)
{
    struct cm_queue_limits limits = cm_intake_limits(gw->config, ep->conf);
    const char *name = ep->conf->name;
    int rc;

    *queue_id = *record_id = 0;
    rc = d->queue->ops->append(d->queue, &ev, NULL, 1, &limits, queue_id);
    if (rc == CM_EIGNORE) { /* the same sync of every ref is queued or running: it will do */
        rc = CM_OK;
        goto out;
    }
    if (rc == CM_QUEUE_EFULL || rc == CM_QUEUE_EFULL_ENDPOINT) {
        snprintf(err, errlen, "the queue is full; retry later");
        rc = CM_EAGAIN;
    } else if (rc != CM_OK) {
        snprintf(err, errlen, "the gateway cannot store events right now; retry later");
        rc = CM_ERROR;
    }
    if (rc != CM_OK)
        goto out;
    *record_id = cm_activity_delivery(d->activity, *queue_id, ev, name,
                                      cm_event_get(ev, CM_FIELD_DELIVERY_ID), "queued", NULL);
    cm_log(CM_LOG_INFO, name, "%s: every ref queued for a sync (%s)",
           cm_event_get(ev, CM_FIELD_REPOSITORY), cm_event_get(ev, CM_FIELD_DELIVERY_ID));
out:
    cm_event_free(ev);
    return rc;
}

int cm_resync_queue(struct cm_daemon *d, const char *endpoint, const char *repository,
                    const char *why, uint64_t *queue_id, uint64_t *record_id, char *err,
                    size_t errlen)
{
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, endpoint);
    struct cm_event *ev = NULL;
    char path[4096];
    const char *bad;
    struct stat st;
    int rc = CM_ENOENT;

    err[0] = '\0';
    if (!ep || cm_repo_name_check(repository, &bad) != CM_OK ||
        cm_mirror_path(path, sizeof(path), gw->config->data_dir, endpoint, repository) != CM_OK ||
        stat(path, &st) != 0)
        goto out;
    rc = every_ref_event(ep, cm_fetch_url_ssh(gw->config, ep), repository, path, "resync", why, "",
                         &ev, err, errlen);
    if (rc == CM_OK)
        rc = queue_every_ref(d, gw, ep, ev, queue_id, record_id, err, errlen);
out:
    cm_daemon_release(d, gw);
    return rc;
}

int cm_import_queue(struct cm_daemon *d, const char *endpoint, const char *repository,
                    uint64_t *queue_id, uint64_t *record_id, char *err, size_t errlen)
{
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, endpoint);
    struct cm_event *ev = NULL;
    char path[4096], url[2048], no_url[512];
    const char *bad;
    int rc = CM_ENOENT;

    err[0] = '\0';
    if (!ep)
        goto out;
    rc = CM_EINVAL;
    if (cm_repo_name_check(repository, &bad) != CM_OK) {
        snprintf(err, errlen, "repository name %.300s is refused: %s", repository, bad);
        goto out;
    }
    if (!cm_allow_list_accepts(ep->conf, repository)) {
        snprintf(err, errlen,
                 "repository %.300s is outside the repositories list of endpoint \"%s\": add it "
                 "(or a pattern that matches it) to that endpoint's repositories",
                 repository, endpoint);
        goto out;
    }
    if (cm_mirror_path(path, sizeof(path), gw->config->data_dir, endpoint, repository) != CM_OK) {
        snprintf(err, errlen, "repository name %.300s is too long for a mirror", repository);
        goto out;
    }
    /* A mirror's recorded URL wins (the import is then a resync); without one, the URL an
     * import may build. */
    if (cm_fetch_url_import(ep, repository, url, sizeof(url), no_url, sizeof(no_url)) != CM_OK)
        url[0] = '\0';
    rc = every_ref_event(ep, cm_fetch_url_ssh(gw->config, ep), repository, path, "import", "import",
                         url, &ev, err, errlen);
    if (rc == CM_EINVAL && !*url)
        snprintf(err, errlen, "%s", no_url);
    if (rc == CM_OK)
        rc = queue_every_ref(d, gw, ep, ev, queue_id, record_id, err, errlen);
    if (rc == CM_OK && !*record_id)
        *record_id = cm_activity_pending(d->activity, endpoint, repository);
out:
    cm_daemon_release(d, gw);
    return rc;
}
