/* SPDX-License-Identifier: MIT */
/*
 * One delivery through its endpoint's provider: verify, check it was sent to the right kind
 * of endpoint, translate. Shared by the HTTP front, `cargoman parse` and the tests, and home
 * of the single status → HTTP code mapping.
 */
#ifndef CM_DISPATCH_H
#define CM_DISPATCH_H

#include "plugin/gateway.h"
#include "intake/request.h"

/* Run req (whose endpoint is set) through its provider. CM_OK with req->events filled,
 * CM_EIGNORE, or a failure status with req->reason saying why. */
int cm_dispatch(const struct cm_gateway *gw, struct cm_request *req);

/* Refuse, before anything is queued, events the fetch-URL policy (fetch_url.h) gives no URL
 * for; prefer_ssh as there. CM_OK, or CM_EINVAL with req->reason and req->detail. */
int cm_dispatch_check_urls(struct cm_request *req, int prefer_ssh);

/* The HTTP status for a dispatch result: 202, 200, 400, 401, 500, 503. */
int cm_status_http(int status);

/* Short word for a status, as used in logs and test cases: "ok", "ignore", "einval"... */
const char *cm_status_name(int status);

#endif
