/* SPDX-License-Identifier: MIT */
/*
 * The repositories allow-list at intake (allow_list.h). It runs after the provider made its
 * events and before anything is spent on them (URL policy, new-repository tokens, the
 * queue), so a push outside the list costs one log line and a 200.
 */
#include <stdlib.h>

#include "config/config.h"
#include "intake/allow_list.h"
#include "intake/event.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "util/path_glob.h"

int cm_allow_list_accepts(const struct cm_endpoint_conf *epc, const char *repository)
{
    if (!epc->n_repositories)
        return 1;
    for (size_t i = 0; i < epc->n_repositories; i++)
        if (cm_path_glob_match(epc->repositories[i], repository))
            return 1;
    return 0;
}

static void al_log(const char *ep, const struct cm_event *ev)
{
    /* The operator's line may say which key decided; the sender's answer does not. */
    cm_log(CM_LOG_INFO, ep, "ignored: repository %s is not in the endpoint's repositories list",
           cm_event_get(ev, CM_FIELD_REPOSITORY));
}

int cm_allow_list_apply(struct cm_daemon *d, struct cm_request *req)
{
    const struct cm_endpoint_conf *epc = req->endpoint->conf;
    size_t kept = 0, outside = 0;

    if (!epc->n_repositories)
        return CM_OK;
    for (size_t i = 0; i < req->n_events; i++)
        outside += !cm_allow_list_accepts(epc, cm_event_get(req->events[i], CM_FIELD_REPOSITORY));
    if (outside == 0)
        return CM_OK;
    if (outside == req->n_events) {
        for (size_t i = 0; i < req->n_events; i++)
            al_log(epc->name, req->events[i]);
        return cm_request_reject(req, CM_EIGNORE, CM_ALLOW_LIST_REASON);
    }
    /* A delivery naming several repositories keeps those inside the list. */
    for (size_t i = 0; i < req->n_events; i++) {
        struct cm_event *ev = req->events[i];
        if (cm_allow_list_accepts(epc, cm_event_get(ev, CM_FIELD_REPOSITORY))) {
            req->events[kept++] = ev;
            continue;
        }
        al_log(epc->name, ev);
        cm_activity_delivery(d->activity, 0, ev, epc->name, cm_event_get(ev, CM_FIELD_DELIVERY_ID),
                             "ignored", CM_ALLOW_LIST_REASON);
        cm_event_free(ev);
    }
    req->n_events = kept;
    return CM_OK;
}
