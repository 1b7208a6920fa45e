/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition: request counts by endpoint and status, fetches, and
 * histograms of fetch duration and of push-to-synced lag.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cargoman/plugin.h"
#include "ops/metrics.h"
#include "util/buf.h"

#define MAX_SERIES 128
static const double buckets[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800};
#define N_BUCKETS (sizeof(buckets) / sizeof(*buckets))

struct histogram {
    unsigned long long counts[N_BUCKETS + 1];
    double sum;
    unsigned long long n;
};

struct series {
    char endpoint[64];
    int code;
    unsigned long long n;
};

/* Sync plugin entries timed apart: a configuration has a handful. */
#define MAX_PLUGINS 16

struct plugin_series {
    char name[64];
    struct histogram h;
};

struct cm_metrics {
    pthread_mutex_t lock;
    struct series requests[MAX_SERIES];
    size_t n_requests;
    unsigned long long fetches_ok, fetches_failed;
    unsigned long long fetches_skipped;
    struct histogram fetch, lag;
    unsigned long long dropped[CM_DROP_N];
    unsigned long long unreadable, claim_failed, queue_errors, dlog_dropped, gone;
    unsigned long long reconcile[CM_RECONCILE_N];
    struct histogram detect;
    unsigned long long renames[CM_RENAME_N];
    struct plugin_series plugins[MAX_PLUGINS];
    size_t n_plugins;
    unsigned long long reloads_ok, reloads_refused;
    time_t last_reload_ok; /* the last configuration loaded: at start, then each good reload */
};

int cm_metrics_new(struct cm_metrics **out)
{
    struct cm_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return CM_ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    m->last_reload_ok = time(NULL);
    *out = m;
    return CM_OK;
}

void cm_metrics_free(struct cm_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void cm_metrics_request(struct cm_metrics *m, const char *endpoint, int code)
{
    pthread_mutex_lock(&m->lock);
    size_t i;
    for (i = 0; i < m->n_requests; i++)
        if (m->requests[i].code == code && !strcmp(m->requests[i].endpoint, endpoint))
            break;
    if (i == m->n_requests && i < MAX_SERIES) {
        snprintf(m->requests[i].endpoint, sizeof(m->requests[i].endpoint), "%s", endpoint);
        m->requests[i].code = code;
        m->n_requests++;
    }
    if (i < MAX_SERIES)
        m->requests[i].n++;
    pthread_mutex_unlock(&m->lock);
}

static void observe(struct histogram *h, double v)
{
    size_t b = 0;
    while (b < N_BUCKETS && v > buckets[b])
        b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
}

void cm_metrics_fetch(struct cm_metrics *m, double seconds, int ok)
{
    pthread_mutex_lock(&m->lock);
    if (ok)
        m->fetches_ok++;
    else
        m->fetches_failed++;
    observe(&m->fetch, seconds);
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_fetch_skipped(struct cm_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->fetches_skipped++;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_synced(struct cm_metrics *m, double lag)
{
    pthread_mutex_lock(&m->lock);
    observe(&m->lag, lag);
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_dropped(struct cm_metrics *m, enum cm_drop_reason reason)
{
    pthread_mutex_lock(&m->lock);
    m->dropped[reason]++;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_unreadable(struct cm_metrics *m, size_t n)
{
    pthread_mutex_lock(&m->lock);
    m->unreadable += n;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_claim_failed(struct cm_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->claim_failed++;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_queue_error(struct cm_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->queue_errors++;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_delivery_log_dropped(struct cm_metrics *m, size_t n)
{
    pthread_mutex_lock(&m->lock);
    m->dlog_dropped += n;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_gone(struct cm_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->gone++;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_reconcile(struct cm_metrics *m, enum cm_reconcile_result r, double detect)
{
    pthread_mutex_lock(&m->lock);
    m->reconcile[r]++;
    if (r == CM_RECONCILE_DRIFT)
        observe(&m->detect, detect);
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_plugin(struct cm_metrics *m, const char *name, double seconds)
{
    size_t i;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->n_plugins && strcmp(m->plugins[i].name, name); i++)
        ;
    if (i == m->n_plugins && i < MAX_PLUGINS) {
        snprintf(m->plugins[i].name, sizeof(m->plugins[i].name), "%s", name);
        m->n_plugins++;
    }
    if (i < MAX_PLUGINS)
        observe(&m->plugins[i].h, seconds);
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_rename(struct cm_metrics *m, enum cm_rename_result r)
{
    pthread_mutex_lock(&m->lock);
    m->renames[r]++;
    pthread_mutex_unlock(&m->lock);
}

void cm_metrics_reload(struct cm_metrics *m, int ok)
{
    pthread_mutex_lock(&m->lock);
    if (ok) {
        m->reloads_ok++;
        m->last_reload_ok = time(NULL);
    } else {
        m->reloads_refused++;
    }
    pthread_mutex_unlock(&m->lock);
}

static void put_reloads(struct cm_buf *o, const struct cm_metrics *m)
{
    cm_buf_printf(o,
                  "# HELP cargoman_config_reloads_total Configuration reloads (SIGHUP) by result: "
                  "a refused one keeps the running configuration, and the log says why.\n"
                  "# TYPE cargoman_config_reloads_total counter\n"
                  "cargoman_config_reloads_total{result=\"ok\"} %llu\n"
                  "cargoman_config_reloads_total{result=\"refused\"} %llu\n"
                  "# HELP cargoman_config_last_reload_success_timestamp_seconds When the running "
                  "configuration was loaded (at start or by the last good reload), Unix time.\n"
                  "# TYPE cargoman_config_last_reload_success_timestamp_seconds gauge\n"
                  "cargoman_config_last_reload_success_timestamp_seconds %lld\n",
                  m->reloads_ok, m->reloads_refused, (long long)m->last_reload_ok);
}

static void put_reconcile(struct cm_buf *o, const struct cm_metrics *m)
{
    const unsigned long long *r = m->reconcile;

    cm_buf_printf(o,
                  "# HELP cargoman_reconcile_checks_total Repositories checked against their "
                  "host's refs (ls-remote), by result.\n"
                  "# TYPE cargoman_reconcile_checks_total counter\n"
                  "cargoman_reconcile_checks_total{result=\"same\"} %llu\n"
                  "cargoman_reconcile_checks_total{result=\"drift\"} %llu\n"
                  "cargoman_reconcile_checks_total{result=\"error\"} %llu\n"
                  "cargoman_reconcile_checks_total{result=\"rate_limited\"} %llu\n"
                  "# HELP cargoman_reconcile_drifts_total Pushes caught without a webhook: "
                  "checks that queued a sync.\n"
                  "# TYPE cargoman_reconcile_drifts_total counter\n"
                  "cargoman_reconcile_drifts_total %llu\n"
                  "# HELP cargoman_reconcile_failures_total ls-remote calls that failed, "
                  "HTTP 429 included.\n"
                  "# TYPE cargoman_reconcile_failures_total counter\n"
                  "cargoman_reconcile_failures_total %llu\n",
                  r[CM_RECONCILE_SAME], r[CM_RECONCILE_DRIFT], r[CM_RECONCILE_FAILED],
                  r[CM_RECONCILE_THROTTLED], r[CM_RECONCILE_DRIFT],
                  r[CM_RECONCILE_FAILED] + r[CM_RECONCILE_THROTTLED]);
}

/* The series of one histogram; label is "" or `name="value",` to put before le. */
static void put_series(struct cm_buf *o, const char *name, const char *label,
                       const struct histogram *h)
{
    unsigned long long cum = 0;
    size_t ll = strlen(label);

    for (size_t b = 0; b < N_BUCKETS; b++) {
        cum += h->counts[b];
        cm_buf_printf(o, "%s_bucket{%sle=\"%g\"} %llu\n", name, label, buckets[b], cum);
    }
    cm_buf_printf(o, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, label, h->n);
    /* The label list without its trailing comma, or none. The sum to the microsecond: %g
     * kept six digits, so a sum past 100000 seconds lost its fractions. */
    if (ll)
        cm_buf_printf(o, "%s_sum{%.*s} %.6f\n%s_count{%.*s} %llu\n", name, (int)ll - 1, label,
                      h->sum, name, (int)ll - 1, label, h->n);
    else
        cm_buf_printf(o, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, h->n);
}

static void put_histogram(struct cm_buf *o, const char *name, const char *help,
                          const struct histogram *h)
{
    cm_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    put_series(o, name, "", h);
}

char *cm_metrics_render(struct cm_metrics *m, size_t depth)
{
    struct cm_buf o = {0};
    pthread_mutex_lock(&m->lock);
    cm_buf_printf(
        &o, "# HELP cargoman_webhook_requests_total Webhook requests by endpoint and HTTP status.\n"
            "# TYPE cargoman_webhook_requests_total counter\n");
    for (size_t i = 0; i < m->n_requests; i++)
        cm_buf_printf(&o, "cargoman_webhook_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
                      m->requests[i].endpoint, m->requests[i].code, m->requests[i].n);
    cm_buf_printf(&o,
                  "# HELP cargoman_spool_depth Accepted events not yet synced or given up.\n"
                  "# TYPE cargoman_spool_depth gauge\ncargoman_spool_depth %zu\n",
                  depth);
    cm_buf_printf(&o,
                  "# HELP cargoman_fetches_total Mirror fetches by result.\n"
                  "# TYPE cargoman_fetches_total counter\n"
                  "cargoman_fetches_total{result=\"ok\"} %llu\n"
                  "cargoman_fetches_total{result=\"error\"} %llu\n",
                  m->fetches_ok, m->fetches_failed);
    cm_buf_printf(&o,
                  "# HELP cargoman_fetches_skipped_total Syncs that found every change already in "
                  "the mirror and did not fetch.\n"
                  "# TYPE cargoman_fetches_skipped_total counter\n"
                  "cargoman_fetches_skipped_total %llu\n",
                  m->fetches_skipped);
    cm_buf_printf(&o,
                  "# HELP cargoman_connections_dropped_total Connections closed unanswered: "
                  "request not in within server.request_timeout, or server.max_connections_per_ip "
                  "reached.\n"
                  "# TYPE cargoman_connections_dropped_total counter\n"
                  "cargoman_connections_dropped_total{reason=\"deadline\"} %llu\n"
                  "cargoman_connections_dropped_total{reason=\"per_ip\"} %llu\n",
                  m->dropped[CM_DROP_DEADLINE], m->dropped[CM_DROP_PER_IP]);
    cm_buf_printf(&o,
                  "# HELP cargoman_queue_unreadable_total Queued entries that did not read back "
                  "as events, recorded as failed.\n"
                  "# TYPE cargoman_queue_unreadable_total counter\n"
                  "cargoman_queue_unreadable_total %llu\n"
                  "# HELP cargoman_queue_claim_errors_total Claims that failed (out of memory); "
                  "the worker backed off.\n"
                  "# TYPE cargoman_queue_claim_errors_total counter\n"
                  "cargoman_queue_claim_errors_total %llu\n"
                  "# HELP cargoman_queue_errors_total Statements the shared queue's database "
                  "failed or did not answer in time (queue.backend = \"postgresql\"; the log "
                  "says why, at most every 10 s).\n"
                  "# TYPE cargoman_queue_errors_total counter\n"
                  "cargoman_queue_errors_total %llu\n"
                  "# HELP cargoman_delivery_log_dropped_total Records the cluster's delivery "
                  "log dropped while its database was slow or away (/api/deliveries lacks "
                  "them).\n"
                  "# TYPE cargoman_delivery_log_dropped_total counter\n"
                  "cargoman_delivery_log_dropped_total %llu\n"
                  "# HELP cargoman_repositories_gone_total Mirrors removed because the host "
                  "said for server.gone_repository_max_age that their repository does not "
                  "exist; the package names they published were released.\n"
                  "# TYPE cargoman_repositories_gone_total counter\n"
                  "cargoman_repositories_gone_total %llu\n",
                  m->unreadable, m->claim_failed, m->queue_errors, m->dlog_dropped, m->gone);
    put_reconcile(&o, m);
    put_reloads(&o, m);
    cm_buf_printf(&o,
                  "# HELP cargoman_mirror_renames_total Mirrors that followed their repository's "
                  "id: moved to its new name, or removed when a new repository took the name.\n"
                  "# TYPE cargoman_mirror_renames_total counter\n"
                  "cargoman_mirror_renames_total{result=\"moved\"} %llu\n"
                  "cargoman_mirror_renames_total{result=\"replaced\"} %llu\n",
                  m->renames[CM_RENAME_MOVED], m->renames[CM_RENAME_REPLACED]);
    put_histogram(&o, "cargoman_reconcile_detect_seconds",
                  "Time to detect a drift: seconds since the mirror last matched its host (last "
                  "sync or clean check), an upper bound.",
                  &m->detect);
    put_histogram(&o, "cargoman_fetch_duration_seconds", "Duration of mirror fetches.", &m->fetch);
    put_histogram(&o, "cargoman_sync_lag_seconds", "From webhook received to mirror synced.",
                  &m->lag);
    cm_buf_printf(&o, "# HELP cargoman_plugin_duration_seconds Duration of each sync plugin's "
                      "run (on_sync), by plugin.\n"
                      "# TYPE cargoman_plugin_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_plugins; i++) {
        char label[96];
        snprintf(label, sizeof(label), "plugin=\"%s\",", m->plugins[i].name);
        put_series(&o, "cargoman_plugin_duration_seconds", label, &m->plugins[i].h);
    }
    pthread_mutex_unlock(&m->lock);
    return o.p;
}
