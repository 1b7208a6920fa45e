/* SPDX-License-Identifier: MIT */
/*
 * The endpoint's repositories allow-list at intake: an organisation- or instance-wide hook
 * reports every repository of its scope, and the operator mirrors only some of them.
 */
#ifndef CM_ALLOW_LIST_H
#define CM_ALLOW_LIST_H

#include "daemon.h"
#include "intake/request.h"

/* The reason the sender reads: it names no configuration. */
#define CM_ALLOW_LIST_REASON "repository not in this endpoint's allow-list"

/* 1 when the endpoint's repositories list (none: every name) accepts repository. */
int cm_allow_list_accepts(const struct cm_endpoint_conf *epc, const char *repository);

/* Drop, log and record as "ignored" the events of req whose repository the endpoint's list
 * does not accept. CM_OK when events remain (or the endpoint has no list); CM_EIGNORE with
 * req->reason set when none does, the events then left in req for the caller's record. */
int cm_allow_list_apply(struct cm_daemon *d, struct cm_request *req);

#endif
