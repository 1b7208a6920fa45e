/* SPDX-License-Identifier: MIT */
/*
 * Prometheus counters and histograms for GET /metrics.
 */
#ifndef CM_METRICS_H
#define CM_METRICS_H

#include <stddef.h>

struct cm_metrics;

int cm_metrics_new(struct cm_metrics **out);
void cm_metrics_free(struct cm_metrics *m);
/* One answered webhook request. */
void cm_metrics_request(struct cm_metrics *m, const char *endpoint, int http_status);
/* One fetch attempt and how long it took. */
void cm_metrics_fetch(struct cm_metrics *m, double seconds, int ok);
/* One push fully synced, lag seconds after it was received. */
void cm_metrics_synced(struct cm_metrics *m, double lag);
/* Why the server closed a connection without answering it. */
enum cm_drop_reason {
    CM_DROP_DEADLINE, /* the request was not in within server.request_timeout */
    CM_DROP_PER_IP,   /* server.max_connections_per_ip were already open from its address */
    CM_DROP_N
};
/* One connection closed for reason. */
void cm_metrics_dropped(struct cm_metrics *m, enum cm_drop_reason reason);
/* n queued entries that did not read back as events were recorded as failed. */
void cm_metrics_unreadable(struct cm_metrics *m, size_t n);
/* A worker could not claim a job (out of memory) and backed off. */
void cm_metrics_claim_failed(struct cm_metrics *m);
/* The text exposition, malloc'd. */
char *cm_metrics_render(struct cm_metrics *m, size_t spool_depth);

#endif
