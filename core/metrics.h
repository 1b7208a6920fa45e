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
/* The text exposition, malloc'd. */
char *cm_metrics_render(struct cm_metrics *m, size_t spool_depth);

#endif
