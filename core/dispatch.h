/* SPDX-License-Identifier: MIT */
/*
 * One delivery through its endpoint's provider: verify, check it was sent to the right kind
 * of endpoint, translate. Shared by the HTTP front, `cargoman parse` and the tests, and home
 * of the single status → HTTP code mapping.
 */
#ifndef CM_DISPATCH_H
#define CM_DISPATCH_H

#include "gateway.h"
#include "request.h"

/* Run req (whose endpoint is set) through its provider. CM_OK with req->events filled,
 * CM_EIGNORE, or a failure status with req->reason saying why. */
int cm_dispatch(const struct cm_gateway *gw, struct cm_request *req);

/* Refuse events whose clone URLs are not on the endpoint's url host (unless the endpoint has
 * a clone_url template), so the gateway never fetches from a host a payload made up. */
int cm_dispatch_check_urls(struct cm_request *req);

/* 1 when the two URLs (http(s)://, ssh://, scp-like user@host:path) name the same host. */
int cm_url_same_host(const char *a, const char *b);

/* The HTTP status for a dispatch result: 202, 200, 400, 401, 500, 503. */
int cm_status_http(int status);

/* Short word for a status, as used in logs and test cases: "ok", "ignore", "einval"... */
const char *cm_status_name(int status);

#endif
