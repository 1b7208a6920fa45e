/* SPDX-License-Identifier: MIT */
/*
 * Shared daemon state and intake. A 202 is a promise, so intake answers it only after the
 * queue says the event is on disk; everything before that is a 4xx that says what to fix.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dispatch.h"
#include "event.h"
#include "exposure.h"
#include "log.h"
#include "status.h"

struct cm_gateway *cm_daemon_acquire(struct cm_daemon *d)
{
    struct cm_gateway *gw;
    pthread_mutex_lock(&d->lock);
    gw = d->gw;
    gw->refs++;
    pthread_mutex_unlock(&d->lock);
    return gw;
}

void cm_daemon_release(struct cm_daemon *d, struct cm_gateway *gw)
{
    int retire;
    pthread_mutex_lock(&d->lock);
    retire = --gw->refs == 0 && gw != d->gw;
    pthread_mutex_unlock(&d->lock);
    if (retire)
        cm_gateway_free(gw);
}

struct first_fatal {
    char *err;
    size_t errlen;
    int seen;
};

static void keep_first_fatal(void *arg, int fatal, const char *msg)
{
    struct first_fatal *ff = arg;

    if (fatal && !ff->seen++)
        snprintf(ff->err, ff->errlen, "%s", msg);
}

int cm_daemon_reload(struct cm_daemon *d, char *err, size_t errlen)
{
    struct cm_config *cfg;
    struct cm_gateway *gw, *old;
    int rc, retire;

    if ((rc = cm_config_load(&cfg, d->conf_dir, err, errlen)) != CM_OK)
        return rc;
    /* Paths fixed at start stay: the spool and the mirrors live where they were opened. */
    if (strcmp(cfg->data_dir, d->data_dir)) {
        free(cfg->data_dir);
        if (!(cfg->data_dir = strdup(d->data_dir))) {
            cm_config_free(cfg);
            return CM_ENOMEM;
        }
    }
    if ((rc = cm_gateway_open(&gw, cfg, d->plugin_dir, err, errlen)) != CM_OK)
        return rc;
    struct first_fatal ff = {err, errlen, 0};
    if (d->listen && cm_exposure_check(gw, d->listen, keep_first_fatal, &ff) > 0) {
        cm_gateway_free(gw);
        return CM_EINVAL;
    }
    pthread_mutex_lock(&d->lock);
    old = d->gw;
    d->gw = gw;
    retire = old->refs == 0;
    pthread_mutex_unlock(&d->lock);
    if (retire)
        cm_gateway_free(old);
    return CM_OK;
}

static char *answer(const char *status, const char *key, const char *value)
{
    json_t *o = json_pack("{s:s}", "status", status);
    char *s;
    if (o && key && value)
        json_object_set_new(o, key, json_string(value));
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static char *queued_answer(const struct cm_request *req, const uint64_t *ids)
{
    json_t *o = json_object(), *events = json_array();
    const char *delivery =
        req->n_events ? cm_event_get(req->events[0], CM_FIELD_DELIVERY_ID) : NULL;
    char *s;
    json_object_set_new(o, "status", json_string("queued"));
    json_object_set_new(o, "delivery", delivery ? json_string(delivery) : json_null());
    for (size_t i = 0; i < req->n_events; i++) {
        const struct cm_event *ev = req->events[i];
        json_t *refs = json_array();
        for (size_t k = 0; k < ev->n_changes; k++)
            json_array_append_new(refs, json_string(ev->changes[k].ref));
        json_array_append_new(events, json_pack("{s:s, s:I, s:o, s:b}", "repository",
                                                cm_event_get(ev, CM_FIELD_REPOSITORY), "id",
                                                (json_int_t)ids[i], "refs", refs, "complete",
                                                ev->complete));
    }
    json_object_set_new(o, "events", events);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void record_all(struct cm_daemon *d, const struct cm_request *req, const char *state,
                       const char *error)
{
    const char *ep = req->endpoint->conf->name;
    if (!req->n_events) {
        cm_status_delivery(d->status, 0, NULL, ep, NULL, state, error);
        return;
    }
    for (size_t i = 0; i < req->n_events; i++)
        cm_status_delivery(d->status, 0, req->events[i], ep,
                           cm_event_get(req->events[i], CM_FIELD_DELIVERY_ID), state, error);
}

void cm_intake(struct cm_daemon *d, const struct cm_gateway *gw, struct cm_request *req,
               int *http_status, char **body, int *retry_after)
{
    const char *ep = req->endpoint->conf->name;
    int rc;

    *retry_after = 0;
    req->received_at = cm_host_now();
    rc = cm_dispatch(gw, req);
    if (rc == CM_OK)
        rc = cm_dispatch_check_urls(req, gw->config->ssh_key != NULL);
    if (rc == CM_EIGNORE) {
        record_all(d, req, "ignored", req->reason[0] ? req->reason : NULL);
        *http_status = 200;
        *body = answer("ignored", "reason", req->reason[0] ? req->reason : "not a push");
        return;
    }
    if (rc != CM_OK) {
        cm_log(CM_LOG_INFO, ep, "refused (%d): %s", cm_status_http(rc),
               req->detail[0] ? req->detail : req->reason);
        record_all(d, req, "rejected", req->reason);
        *http_status = cm_status_http(rc);
        *body = answer("error", "error", req->reason[0] ? req->reason : "refused");
        return;
    }

    uint64_t ids[64];
    char keybuf[64][320];
    const char *keys[64];
    size_t n = req->n_events;
    if (n > 64) {
        cm_request_reject(req, CM_EINVAL,
                          "one delivery names %zu repositories; at most 64 are "
                          "accepted",
                          n);
        record_all(d, req, "rejected", req->reason);
        *http_status = 400;
        *body = answer("error", "error", req->reason);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *did = cm_event_get(req->events[i], CM_FIELD_DELIVERY_ID);
        keys[i] = NULL;
        if (did) {
            /* One delivery may carry several repositories' events; each is its own key. */
            snprintf(keybuf[i], sizeof(keybuf[i]), "%s/%s#%zu", ep, did, i);
            keys[i] = keybuf[i];
        }
    }
    rc = d->queue->ops->append(d->queue, req->events, keys, n, ids);
    if (rc == CM_EIGNORE) {
        record_all(d, req, "duplicate", NULL);
        *http_status = 200;
        *body = answer("duplicate", NULL, NULL);
        return;
    }
    if (rc != CM_OK) {
        cm_log(CM_LOG_ERR, ep, "cannot store the event durably; answering 503");
        record_all(d, req, "rejected", "spool not writable");
        *http_status = 503;
        *retry_after = 30;
        *body = answer("error", "error", "the gateway cannot store events right now; retry later");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i])
            cm_status_delivery(d->status, ids[i], req->events[i], ep,
                               cm_event_get(req->events[i], CM_FIELD_DELIVERY_ID), "queued", NULL);
    *http_status = 202;
    *body = queued_answer(req, ids);
}
