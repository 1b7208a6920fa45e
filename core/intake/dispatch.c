/* SPDX-License-Identifier: MIT */
/*
 * The provider pipeline. Signatures are checked before anything reads the payload; sniffing
 * other providers only ever adds a hint, it never decides which secret is used.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/repo_name.h"
#include "plugin/loader.h"

/* The loaded provider, other than mine, that claims the request; NULL when none does. */
static const struct cm_provider *other_claimant(const struct cm_gateway *gw,
                                                const struct cm_provider *mine,
                                                const struct cm_request *req)
{
    for (size_t i = 0; i < gw->n_providers; i++) {
        const struct cm_provider *p = gw->providers[i];
        if (p != mine && p->sniff && p->sniff(&cm_host_services, req) == 1)
            return p;
    }
    return NULL;
}

static const char *endpoint_for(const struct cm_gateway *gw, const struct cm_provider *p)
{
    for (size_t i = 0; i < gw->n_endpoints; i++)
        if (gw->endpoints[i].provider == p)
            return gw->endpoints[i].conf->name;
    return NULL;
}

/* The sender learns which provider the delivery is for; the log also names our endpoint. */
static void hint(const struct cm_gateway *gw, struct cm_request *req, const struct cm_provider *p,
                 const char *lead)
{
    char reason[sizeof(req->reason)];
    const char *ep = endpoint_for(gw, p);

    snprintf(reason, sizeof(reason),
             "%s%sthis is a %s delivery (%s); point the hook at an "
             "endpoint with provider %s",
             lead, *lead ? "; " : "", p->name, p->description, p->name);
    memcpy(req->reason, reason, sizeof(reason));
    if (ep)
        snprintf(req->detail, sizeof(req->detail), "%s, such as /api/webhooks/%s", req->reason, ep);
}

int cm_dispatch(const struct cm_gateway *gw, struct cm_request *req)
{
    const struct cm_endpoint *ep = req->endpoint;
    const struct cm_provider *p = ep->provider, *other;
    int rc;

    rc = p->verify(ep->self, req);
    if (rc == CM_EAUTH || rc == CM_EINVAL) {
        if ((!p->sniff || p->sniff(&cm_host_services, req) != 1) &&
            (other = other_claimant(gw, p, req)))
            hint(gw, req, other, req->reason);
        return req->status = rc;
    }
    if (rc != CM_OK && rc != CM_EIGNORE)
        return req->status = rc;
    req->vouched = ep->conf->secret != NULL;
    /* Only after the signature: the form rule is about how signed bytes are read. */
    if ((rc = cm_request_read_form(req, cm_provider_flags(p))) != CM_OK)
        return req->status = rc;
    /* A delivery meant for another provider is refused before it could be "ignored" as an
     * unknown event of ours, so the user learns the hook points at the wrong endpoint. */
    if (p->sniff && p->sniff(&cm_host_services, req) != 1 && (other = other_claimant(gw, p, req))) {
        hint(gw, req, other, "");
        return req->status = CM_EINVAL;
    }
    rc = p->translate(ep->self, req);
    if (rc == CM_OK && req->n_events == 0)
        rc = CM_EIGNORE;
    for (size_t i = 0; rc == CM_OK && i < req->n_events; i++) {
        const char *repo = cm_event_get(req->events[i], CM_FIELD_REPOSITORY), *why;
        if (!repo)
            return cm_request_reject(req, CM_EINVAL, "the payload names no repository");
        if (cm_repo_name_check(repo, &why) != CM_OK)
            return cm_request_reject(req, CM_EINVAL, "repository name \"%.300s\" is refused: %s",
                                     repo, why);
    }
    if (rc != CM_OK && rc != CM_EIGNORE && !req->reason[0])
        cm_request_reject(req, rc, "provider %s could not read this delivery", p->name);
    return req->status = rc;
}
