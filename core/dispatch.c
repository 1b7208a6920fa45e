/* SPDX-License-Identifier: MIT */
/*
 * The provider pipeline. Signatures are checked before anything reads the payload; sniffing
 * other providers only ever adds a hint, it never decides which secret is used.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dispatch.h"
#include "event.h"
#include "url.h"

int cm_status_http(int status)
{
    switch (status) {
    case CM_OK: return 202;
    case CM_EIGNORE: return 200;
    case CM_EINVAL: return 400;
    case CM_EAUTH: return 401;
    case CM_EAGAIN: return 503;
    default: return 500;
    }
}

const char *cm_status_name(int status)
{
    switch (status) {
    case CM_OK: return "ok";
    case CM_ERROR: return "error";
    case CM_ENOMEM: return "enomem";
    case CM_EINVAL: return "einval";
    case CM_EAUTH: return "eauth";
    case CM_EIGNORE: return "ignore";
    case CM_EAGAIN: return "eagain";
    case CM_ENOENT: return "enoent";
    default: return "unknown";
    }
}

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

static void hint(const struct cm_gateway *gw, struct cm_request *req, const struct cm_provider *p,
                 const char *lead)
{
    char reason[sizeof(req->reason)], example[160] = "";
    const char *ep = endpoint_for(gw, p);
    if (ep)
        snprintf(example, sizeof(example), " such as /api/webhooks/%s", ep);
    snprintf(reason, sizeof(reason),
             "%s%sthis is a %s delivery (%s); point the hook at an "
             "endpoint with provider %s%s",
             lead, *lead ? "; " : "", p->name, p->description, p->name, example);
    memcpy(req->reason, reason, sizeof(reason));
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
    /* A delivery meant for another provider is refused before it could be "ignored" as an
     * unknown event of ours, so the user learns the hook points at the wrong endpoint. */
    if (p->sniff && p->sniff(&cm_host_services, req) != 1 && (other = other_claimant(gw, p, req))) {
        hint(gw, req, other, "");
        return req->status = CM_EINVAL;
    }
    rc = p->translate(ep->self, req);
    if (rc == CM_OK && req->n_events == 0)
        rc = CM_EIGNORE;
    if (rc == CM_OK) {
        for (size_t i = 0; i < req->n_events; i++)
            if (!cm_event_get(req->events[i], CM_FIELD_REPOSITORY))
                return cm_request_reject(req, CM_EINVAL, "the payload names no repository");
    }
    if (rc != CM_OK && rc != CM_EIGNORE && !req->reason[0])
        cm_request_reject(req, rc, "provider %s could not read this delivery", p->name);
    return req->status = rc;
}

/* The host of url into buf (see cm_url_host). 0 or -1. */
static int url_host(const char *url, char *buf, size_t len)
{
    int port, scp;
    return cm_url_host(url, buf, len, &port, &scp) == CM_OK ? 0 : -1;
}

int cm_url_same_host(const char *a, const char *b)
{
    char ha[256], hb[256];
    return !url_host(a, ha, sizeof(ha)) && !url_host(b, hb, sizeof(hb)) && !strcasecmp(ha, hb);
}

int cm_dispatch_check_urls(struct cm_request *req)
{
    const struct cm_endpoint_conf *ec = req->endpoint->conf;
    char want[256];

    if (ec->clone_url)
        return CM_OK;
    if (!ec->url || url_host(ec->url, want, sizeof(want)))
        return cm_request_reject(req, CM_EINVAL,
                                 "endpoint \"%s\" has no url, so the gateway cannot tell which "
                                 "host to fetch from: set url (or clone_url) in %s",
                                 ec->name, ec->file);
    for (size_t i = 0; i < req->n_events; i++) {
        const char *http = cm_event_get(req->events[i], CM_FIELD_CLONE_URL_HTTP);
        const char *ssh = cm_event_get(req->events[i], CM_FIELD_CLONE_URL_SSH);
        if ((http && cm_url_same_host(http, ec->url)) || (ssh && cm_url_same_host(ssh, ec->url)))
            continue;
        return cm_request_reject(req, CM_EINVAL,
                                 "the clone URL %s is not on %s, the url of endpoint \"%s\": "
                                 "fix url in %s or set clone_url",
                                 http  ? http
                                 : ssh ? ssh
                                       : "(none)",
                                 want, ec->name, ec->file);
    }
    return CM_OK;
}
