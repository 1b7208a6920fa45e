/* SPDX-License-Identifier: MIT */
/*
 * The running daemon's shared state: the current gateway (swapped whole on SIGHUP and
 * reference-counted so in-flight work keeps the one it started with), the queue, the
 * activity record and metrics. Every part of the data path holds it.
 */
#ifndef CM_DAEMON_H
#define CM_DAEMON_H

#include <pthread.h>

#include "plugin/gateway.h"
#include "queue/queue.h"

struct cm_activity;
struct cm_metrics;
struct cm_newrepo;
struct cm_workers;

struct cm_daemon {
    pthread_mutex_t lock;           /* guards gw and refs */
    struct cm_gateway *gw;          /* current, owned */
    const char *conf_dir;           /* borrowed from argv */
    const char *plugin_dir;         /* borrowed: the plugin path of -P and the environment */
    char *data_dir;                 /* owned; fixed at start */
    const char *listen;             /* borrowed; fixed at start (server.listen or -l) */
    long long max_body;             /* fixed at start */
    struct cm_queue *queue;         /* owned */
    struct cm_shared_state *shared; /* owned: sync plugin state a cluster shares; NULL alone */
    struct cm_activity *activity;   /* owned: recent deliveries and repositories, for /api */
    struct cm_metrics *metrics;     /* owned */
    struct cm_newrepo *newrepo;     /* owned: new repository names per endpoint and hour */
    struct cm_gone *gone;           /* owned: repositories gone from their host; NULL in a
                                     * cluster, whose nodes share state, not mirrors */
    struct cm_workers *workers;     /* owned by cm_cli_serve; NULL before they start */
    size_t max_refs;                /* server.max_refs_per_event, fixed at start */
    struct cm_gateway *retired;     /* replaced by a reload, still in use; guarded by lock,
                                     * freed by cm_daemon_collect on the main thread */
};

/* The gateway to use for one request or one sync; hand it back with cm_daemon_release. Any
 * thread. Release never frees: plugin destroy hooks run on the main thread only (a plugin
 * may keep thread-bound state, and a worker must not pay for a reload), see collect. */
struct cm_gateway *cm_daemon_acquire(struct cm_daemon *d);
void cm_daemon_release(struct cm_daemon *d, struct cm_gateway *gw);

/* Replace the gateway with one built from conf_dir and started (cm_gateway_start); on failure
 * (also a configuration that cm_exposure_check finds fatal on d->listen, or a plugin whose
 * start refuses) keep the old one and put why into err. The old one is retired: acquire
 * hands out only the new one from then on, and the old one's plugins are stopped and
 * destroyed by cm_daemon_collect once its last user released it (at once if unused). Main
 * thread only. */
int cm_daemon_reload(struct cm_daemon *d, char *err, size_t errlen);

/* Free the retired gateways nobody uses any more (their plugins' stop and destroy run here). Main
 * thread only; returns how many retired gateways are still in use. */
size_t cm_daemon_collect(struct cm_daemon *d);

#endif
