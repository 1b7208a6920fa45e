/* SPDX-License-Identifier: MIT */
/*
 * One reconciliation check: the event a webhook would have made, as the stored mirror knows
 * it; the fetch-URL policy asked afresh; ls-remote against the mirror; and, when refs differ,
 * the sync queued through the same queue as webhooks.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "daemon.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/intake.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "queue/queue.h"
#include "sync/gone.h"
#include "sync/mirror.h"
#include "sync/reconcile_check.h"
#include "sync/resync.h"
#include "sync/worker.h"
#include "util/crypto.h"
#include "util/url.h"

/* A new event for a reconciliation of t: the fields a webhook's would have, as the stored
 * mirror knows them, and the URL the last sync recorded offered as its clone URL. The fetch-URL
 * policy decides on it afresh (url), so a changed configuration is obeyed. */
static int rc_event(const struct cm_endpoint *ep, int prefer_ssh, const struct rc_task *t,
                    struct cm_event **out, char *url, size_t urllen, long long *synced, char *err,
                    size_t errlen)
{
    char stored[2048], why[512], did[80];
    uint32_t x = 0;
    int rc;

    if ((rc = cm_mirror_recorded(t->path, stored, sizeof(stored), synced)) != CM_OK) {
        snprintf(err, errlen, "the mirror is not a git repository (yet)");
        return rc;
    }
    cm_crypto_random(&x, sizeof(x));
    snprintf(did, sizeof(did), "reconcile-%lld-%08x", cm_host_now(), (unsigned)x);
    rc = cm_sync_event_new(ep, prefer_ssh, t->repository, stored, "reconcile", did, out, url,
                           urllen, why, sizeof(why), err, errlen);
    if (rc == CM_EINVAL && !*stored)
        snprintf(err, errlen,
                 "no fetch URL recorded by a sync of this version and the endpoint has no "
                 "clone_url: it is checked after its next webhook sync");
    return rc;
}

/* The host p's URL is on under the running configuration, into p->host ("" when none). */
void cm_reconcile_host_of(struct cm_daemon *d, const char *endpoint, const char *repository,
                          const char *path, char *host, size_t hostlen)
{
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, endpoint);
    struct rc_task t = {
        .endpoint = (char *)endpoint, .repository = (char *)repository, .path = (char *)path};
    struct cm_event *ev = NULL;
    char url[2048], err[512];
    long long synced;
    struct cm_url u;

    if (ep &&
        rc_event(ep, cm_fetch_url_ssh(gw->config, ep), &t, &ev, url, sizeof(url), &synced, err,
                 sizeof(err)) == CM_OK &&
        cm_url_parse(url, &u) == CM_OK)
        snprintf(host, hostlen, "%s://%.250s:%u", u.scheme, u.host, u.port);
    cm_event_free(ev);
    cm_daemon_release(d, gw);
}

static int rc_add_change(void *arg, const char *ref, const char *old_id, const char *new_id)
{
    return cm_event_add_change(arg, ref, old_id, new_id, -1);
}

static void rc_queue(struct cm_daemon *d, const struct cm_gateway *gw, const struct cm_endpoint *ep,
                     struct cm_event *ev, double detect)
{
    const char *key = cm_event_get(ev, CM_FIELD_DELIVERY_ID);
    struct cm_queue_limits limits = cm_intake_limits(gw->config, ep->conf);
    size_t n = ev->n_changes;
    uint64_t id = 0;
    int rc;

    cm_event_cap_changes(ev, d->max_refs);
    rc = d->queue->ops->append(d->queue, &ev, NULL, 1, &limits, &id);
    if (rc != CM_OK) {
        cm_log(CM_LOG_WARNING, ep->conf->name,
               "%s: %zu ref(s) differ from the host but the sync could not be queued (%s); "
               "the next check tries again",
               cm_event_get(ev, CM_FIELD_REPOSITORY), n,
               rc == CM_QUEUE_EFULL || rc == CM_QUEUE_EFULL_ENDPOINT ? "queue full"
                                                                     : "spool not writable");
        return;
    }
    cm_metrics_reconcile(d->metrics, CM_RECONCILE_DRIFT, detect);
    cm_activity_delivery(d->activity, id, ev, ep->conf->name, key, "queued", NULL);
    cm_log(CM_LOG_INFO, ep->conf->name,
           "%s: %zu ref(s) differ from the host and no webhook brought them: sync queued (%s)",
           cm_event_get(ev, CM_FIELD_REPOSITORY), n, key);
}

/* ls-remote t's repository and queue a sync when it drifted. Updates t->host and t->clean. */
enum rc_outcome cm_reconcile_check(struct cm_daemon *d, struct rc_task *t)
{
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_config *cfg = gw->config;
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, t->endpoint);
    struct cm_event *ev = NULL;
    struct cm_mirror *m = NULL;
    char url[2048], err[1024];
    long long synced = 0, now = cm_host_now();
    enum rc_outcome out = RC_SKIPPED;
    struct cm_url u;
    int throttled = 0, rc;

    if (!ep || d->queue->ops->queued(d->queue, t->endpoint, t->repository))
        goto out; /* gone from the configuration, or a sync is coming anyway */
    if (rc_event(ep, cm_fetch_url_ssh(cfg, ep), t, &ev, url, sizeof(url), &synced, err,
                 sizeof(err)) != CM_OK) {
        if (!t->warned)
            cm_log(CM_LOG_WARNING, t->endpoint, "%s: not reconciled: %s", t->repository, err);
        t->warned = 1;
        goto out;
    }
    t->warned = 0;
    if (cm_url_parse(url, &u) == CM_OK)
        snprintf(t->host, sizeof(t->host), "%s://%.250s:%u", u.scheme, u.host, u.port);
    if (cm_mirror_open(&m, t->path, url, t->endpoint, t->repository) != CM_OK)
        goto out;
    struct cm_mirror_auth auth = cm_worker_auth(cfg, ep->conf);
    rc = cm_mirror_ls_remote(m, &auth, rc_add_change, ev, &throttled, err, sizeof(err));
    if (rc == CM_ENOENT &&
        cm_worker_settle_gone(d, cfg, t->endpoint, t->repository, t->path, err, sizeof(err))) {
        cm_metrics_reconcile(d->metrics, CM_RECONCILE_FAILED, 0);
        cm_log(CM_LOG_ERR, t->endpoint, "%s: %s", t->repository, err);
        out = RC_GONE;
        goto out;
    }
    if (rc != CM_OK) {
        cm_metrics_reconcile(d->metrics, throttled ? CM_RECONCILE_THROTTLED : CM_RECONCILE_FAILED,
                             0);
        cm_log(CM_LOG_WARNING, t->endpoint, "%s: reconciliation: %s", t->repository, err);
        out = throttled ? RC_HOST_THROTTLED : rc == CM_EAGAIN ? RC_HOST_FAILED : RC_DONE;
        goto out;
    }
    cm_gone_answered(d->gone, t->endpoint, t->path, now);
    out = RC_DONE;
    if (ev->n_changes == 0) {
        cm_metrics_reconcile(d->metrics, CM_RECONCILE_SAME, 0);
        t->clean = now;
        goto out;
    }
    long long since = t->clean > synced ? t->clean : synced;
    rc_queue(d, gw, ep, ev, since > 0 && now > since ? (double)(now - since) : 0);
out:
    cm_mirror_free(m);
    cm_event_free(ev);
    cm_daemon_release(d, gw);
    return out;
}
