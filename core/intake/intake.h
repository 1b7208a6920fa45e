/* SPDX-License-Identifier: MIT */
/*
 * Intake: from a verified, translated delivery to its HTTP answer (dispatch, limits, dedupe,
 * durable append).
 */
#ifndef CM_INTAKE_H
#define CM_INTAKE_H

#include "daemon.h"
#include "intake/request.h"
#include "queue/queue.h"

struct cm_config;
struct cm_endpoint_conf;

/* The answer to one webhook delivery whose request is built and whose endpoint is set:
 * dispatch, URL check, the limits (mirror path length, refs per event, new repositories per
 * hour, queue depth), dedupe and durable append. *http_status and a JSON *body (malloc'd, the
 * caller's) are always set; *retry_after is seconds for 429 and 503, else 0. */
void cm_intake(struct cm_daemon *d, const struct cm_gateway *gw, struct cm_request *req,
               int *http_status, char **body, int *retry_after);

/* The queue depth an endpoint's events are held to: server.max_queued, and the endpoint's
 * max_queued or else server.max_queued_per_endpoint. The same for webhooks and for the syncs
 * the gateway queues itself (reconciliation, resync). */
struct cm_queue_limits cm_intake_limits(const struct cm_config *cfg,
                                        const struct cm_endpoint_conf *ec);

#endif
