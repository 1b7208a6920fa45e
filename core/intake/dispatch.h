/* SPDX-License-Identifier: MIT */
/*
 * One delivery through its endpoint's provider: verify, check it was sent to the right kind
 * of endpoint, translate. Shared by intake, `cargoman parse` and the tests.
 */
#ifndef CM_DISPATCH_H
#define CM_DISPATCH_H

#include "intake/request.h"
#include "intake/status_code.h"
#include "plugin/gateway.h"

/* Run req (whose endpoint is set) through its provider. CM_OK with req->events filled,
 * CM_EIGNORE, or a failure status with req->reason saying why. */
int cm_dispatch(const struct cm_gateway *gw, struct cm_request *req);

#endif
