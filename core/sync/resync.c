/* SPDX-License-Identifier: MIT */
/*
 * The resync event: what a webhook naming every ref would make for a mirror the gateway holds,
 * with the fetch URL the last sync recorded (the fetch-URL policy decides on it afresh), queued
 * through the same queue and recorded in the delivery log like any delivery.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "daemon.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/repo_name.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "queue/queue.h"
#include "sync/mirror.h"
#include "sync/resync.h"
#include "util/url.h"

/* The fields of a resync of repository; CM_EINVAL with err when no fetch URL is allowed. */
static int resync_event(const struct cm_endpoint *ep, int prefer_ssh, const char *repository,
                        const char *path, const char *why, struct cm_event **out, char *err,
                        size_t errlen)
{
    static atomic_uint seq;
    char stored[2048], url[2048], reason[512], did[160], when[32];
    struct cm_event *ev = NULL;
    long long synced = 0;
    struct cm_url u;
    int rc;

    if (cm_mirror_recorded(path, stored, sizeof(stored), &synced) != CM_OK)
        stored[0] = '\0';
    if ((rc = cm_event_new(&ev)) != CM_OK)
        return rc;
    snprintf(did, sizeof(did), "%s-%lld-%u", why, cm_host_now(), atomic_fetch_add(&seq, 1) + 1);
    cm_format_time(cm_host_now(), when, sizeof(when));
    rc = cm_event_set(ev, CM_FIELD_PROVIDER, ep->conf->provider);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_ENDPOINT, ep->conf->name);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_EVENT, "resync");
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_DELIVERY_ID, did);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_RECEIVED_AT, when);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_REPOSITORY, repository);
    if (rc == CM_OK && *stored && cm_url_parse(stored, &u) == CM_OK)
        rc = cm_event_set(
            ev, strcmp(u.scheme, "ssh") ? CM_FIELD_CLONE_URL_HTTP : CM_FIELD_CLONE_URL_SSH, stored);
    if (rc == CM_OK && cm_fetch_url(ep, prefer_ssh, ev, url, sizeof(url), reason, sizeof(reason),
                                    err, errlen) != CM_OK) {
        snprintf(err, errlen, "%s", reason);
        rc = CM_EINVAL;
    }
    if (rc != CM_OK) {
        cm_event_free(ev);
        return rc;
    }
    cm_event_drop_changes(ev); /* every ref: the worker fetches all, plugins re-read all */
    *out = ev;
    return CM_OK;
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
    rc = resync_event(ep, gw->config->ssh_key != NULL, repository, path, why, &ev, err, errlen);
    if (rc != CM_OK)
        goto out;
    struct cm_queue_limits limits = {
        .max_queued = (size_t)gw->config->max_queued,
        .max_queued_endpoint =
            (size_t)(ep->conf->max_queued > 0 ? ep->conf->max_queued
                                              : gw->config->max_queued_per_endpoint),
    };
    *queue_id = 0;
    rc = d->queue->ops->append(d->queue, &ev, NULL, 1, &limits, queue_id);
    if (rc == CM_EIGNORE) { /* the same sync of every ref is queued or running: it will do */
        *record_id = 0;
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
    *record_id = cm_activity_delivery(d->activity, *queue_id, ev, endpoint,
                                      cm_event_get(ev, CM_FIELD_DELIVERY_ID), "queued", NULL);
    cm_log(CM_LOG_INFO, endpoint, "%s: every ref queued for a sync (%s)", repository,
           cm_event_get(ev, CM_FIELD_DELIVERY_ID));
out:
    cm_event_free(ev);
    cm_daemon_release(d, gw);
    return rc;
}
