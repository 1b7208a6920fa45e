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
/* A sync that found its mirror already holding every change and did not fetch. */
void cm_metrics_fetch_skipped(struct cm_metrics *m);
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
/* The queue's storage failed once (a database statement, in a cluster). */
void cm_metrics_queue_error(struct cm_metrics *m);
/* n records of the cluster's delivery log were dropped (its database slow or away). */
void cm_metrics_delivery_log_dropped(struct cm_metrics *m, size_t n);
/* A mirror was removed because its repository is gone from the host (sync/gone.h). */
void cm_metrics_gone(struct cm_metrics *m);
/* What one reconciliation check of a repository found (sync/reconcile.c). */
enum cm_reconcile_result {
    CM_RECONCILE_SAME,      /* the mirror holds every branch and tag the host lists */
    CM_RECONCILE_DRIFT,     /* refs differed: a sync was queued without a webhook */
    CM_RECONCILE_FAILED,    /* the ls-remote failed (host down, refused, timed out) */
    CM_RECONCILE_THROTTLED, /* the host answered HTTP 429 */
    CM_RECONCILE_N
};
/* One check; for a drift, detect is the seconds the drift may have been there (since the
 * mirror was last known to match: its last sync or last clean check), else ignored. */
void cm_metrics_reconcile(struct cm_metrics *m, enum cm_reconcile_result r, double detect);
/* What following a repository's id did to a mirror (sync/rename.c). */
enum cm_rename_result {
    CM_RENAME_MOVED,    /* the repository was renamed or transferred: its mirror moved */
    CM_RENAME_REPLACED, /* the name went to another repository: the old one's mirror removed */
    CM_RENAME_N
};
void cm_metrics_rename(struct cm_metrics *m, enum cm_rename_result r);
/* One run of sync plugin name's on_sync, and how long it took. */
void cm_metrics_plugin(struct cm_metrics *m, const char *name, double seconds);
/* One configuration reload (SIGHUP): ok, or refused (the running configuration kept). An ok
 * one, and the load at start, set the time of the last successful load to now. */
void cm_metrics_reload(struct cm_metrics *m, int ok);
/* The text exposition, malloc'd. */
char *cm_metrics_render(struct cm_metrics *m, size_t spool_depth);

#endif
