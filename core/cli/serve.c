/* SPDX-License-Identifier: MIT */
/*
 * `cargoman serve`: the daemon. Signals are taken synchronously by the main thread, so
 * SIGHUP reloads and SIGTERM shuts down outside any signal handler.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/exposure.h"
#include "daemon.h"
#include "http/server.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "intake/newrepo.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "plugin/route.h"
#include "queue/pg_activity.h"
#include "queue/pg_queue.h"
#include "plugin/host.h"
#include "sync/archive_ondemand.h"
#include "sync/gone.h"
#include "sync/shared_state.h"
#include "sync/mirror.h"
#include "sync/rebuild.h"
#include "sync/reconcile.h"
#include "sync/worker.h"
#include "util/fsutil.h"
#include "util/memtune.h"

static const char serve_usage[] =
    "usage: cargoman serve [-c CONF_DIR] [-l ADDR:PORT] [-d DATA_DIR] [-P PLUGIN_DIR]... [-v]\n"
    "                      [--log-format=text|json]\n"
    "  -c  configuration directory (default " CM_CONF_DIR ")\n"
    "  -l  listen address, overrides server.listen\n"
    "  -d  data directory (spool, mirrors, plugin state), overrides server.data_dir\n"
    "  -P  add a plugin directory (providers/, plugins/); repeatable, searched before\n"
    "      CARGOMAN_PLUGIN_PATH, server.plugin_path and " CM_PLUGIN_DIR "\n"
    "  -v  log debug lines too\n"
    "  --log-format=text|json  log lines as text (default) or one JSON object each\n";

/* A reason serve stops: "cargoman: ..." on stderr, or an error line under --log-format=json. */
CM_PRINTF(1, 2) static void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (cm_log_json()) {
        cm_logv(CM_LOG_ERR, "core", fmt, ap);
    } else {
        fputs("cargoman: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

/* host->state_refresh: the cluster's state of ctx's instance, now. */
static int serve_state_refresh(void *arg, struct cm_ctx *ctx)
{
    struct cm_daemon *d = arg;
    struct cm_gateway *gw = cm_daemon_acquire(d);
    int rc = cm_shared_state_refresh(d->shared, gw, ctx);

    cm_daemon_release(d, gw);
    return rc;
}

static int serve_shared_open(void *arg, struct cm_ctx *ctx, const char *path, int *fd, void **body,
                             size_t *len)
{
    struct cm_daemon *d = arg;
    struct cm_gateway *gw = cm_daemon_acquire(d);
    int rc = cm_shared_state_open(d->shared, gw, ctx, path, fd, body, len);

    cm_daemon_release(d, gw);
    return rc;
}

/* host->repository_followed: the endpoint is configured and, alone, the mirror is on disk. A
 * cluster node may lack a mirror another one made, so there the endpoint counts, and whether
 * a node recorded the repository gone from its host since its last completed sync. */
static int serve_repository_followed(void *arg, const char *endpoint, const char *repository)
{
    struct cm_daemon *d = arg;
    struct cm_gateway *gw = cm_daemon_acquire(d);
    char path[4096];
    struct stat sb;
    int rc = CM_OK;

    if (!cm_gateway_endpoint(gw, endpoint))
        rc = CM_ENOENT;
    else if (d->shared && d->queue->ops->state && d->queue->ops->state->gone_check)
        rc = d->queue->ops->state->gone_check(d->queue, endpoint, repository);
    else if (!d->shared &&
             (cm_mirror_path(path, sizeof(path), d->data_dir, endpoint, repository) != CM_OK ||
              stat(path, &sb) != 0))
        rc = errno == ENOENT || errno == ENOTDIR ? CM_ENOENT : CM_EAGAIN;
    cm_daemon_release(d, gw);
    return rc;
}

/* Every failure of the PostgreSQL queue, counted for /metrics. */
static void queue_failed(void *arg)
{
    struct cm_daemon *d = arg;
    if (d->metrics)
        cm_metrics_queue_error(d->metrics);
}

/* Why the PostgreSQL queue failed (queue/pg_queue.h), rate-limited there. */
static void queue_warn(void *arg, const char *msg)
{
    (void)arg;
    cm_log(CM_LOG_ERR, "queue", "%s", msg);
}

/* The cluster's delivery log: when its writing fails and works again (pg_activity.h). */
static void activity_warn(void *arg, const char *msg)
{
    (void)arg;
    cm_log(CM_LOG_WARNING, "deliveries", "%s", msg);
}

/* ... and how many records it dropped meanwhile, for /metrics. */
static void activity_dropped(void *arg, size_t n)
{
    struct cm_daemon *d = arg;
    if (d->metrics)
        cm_metrics_delivery_log_dropped(d->metrics, n);
}

/* This gateway's name in the cluster's records: stable across restarts (a record's payload
 * stays in this data directory), told apart from the other nodes by host and address. */
static void node_name(char *out, size_t len, const char *listen)
{
    char host[256] = "";

    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        snprintf(host, sizeof(host), "gateway");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, len, "%s/%s", host, listen);
}

/* Share the delivery log and the repositories' status through the PostgreSQL queue's
 * database. CM_OK, or CM_ENOMEM. */
static int share_activity(struct cm_daemon *d, struct cm_pg_activity **out, const char *listen)
{
    const struct cm_config *c = d->gw->config;
    char node[512];
    struct cm_pg_activity_options opt = {.node = node,
                                         .max_age = c->delivery_log_max_age,
                                         .max_entries = c->delivery_log_max_entries,
                                         .warn = activity_warn,
                                         .warn_arg = d,
                                         .dropped = activity_dropped};
    int rc;

    node_name(node, sizeof(node), listen);
    if ((rc = cm_pg_activity_open(out, d->queue, &opt)) == CM_OK)
        cm_activity_set_cluster(d->activity, cm_pg_activity_cluster(*out));
    return rc;
}

static void log_finding(void *arg, int fatal, const char *msg)
{
    (void)arg;
    cm_log(fatal ? CM_LOG_ERR : CM_LOG_WARNING, "core", "%s", msg);
}

/* Log what the configuration exposes and the routes it serves; the number of fatal findings. */
static int announce(const struct cm_gateway *gw, const char *listen)
{
    int fatal = cm_exposure_check(gw, listen, log_finding, NULL);

    for (size_t i = 0; i < gw->n_endpoints; i++)
        cm_log(CM_LOG_INFO, gw->endpoints[i].conf->name, "POST /api/webhooks/%s (provider %s)",
               gw->endpoints[i].conf->name, gw->endpoints[i].conf->provider);
    for (size_t i = 0; i < gw->n_syncs; i++)
        for (const struct cm_route *r = cm_route_list(&gw->syncs[i]); r && r->path; r++)
            cm_log(CM_LOG_INFO, gw->syncs[i].conf->plugin, "GET %s%s (%s)", r->path,
                   r->path[strlen(r->path) - 1] == '/' ? "..." : "",
                   gw->syncs[i].conf->n_tokens ? "tokens" : "no tokens");
    return fatal;
}

static int wait_for_signals(struct cm_daemon *d, struct cm_reconciler *rec)
{
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        /* This thread frees gateways a reload retired, so plugins are destroyed on it; while
         * one is still in use, look again every second. */
        if (cm_daemon_collect(d) > 0) {
            struct timespec again = {1, 0};
            if ((sig = sigtimedwait(&set, NULL, &again)) < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                return 1;
            }
        } else if (sigwait(&set, &sig)) {
            return 1;
        }
        if (sig != SIGHUP)
            return 0;
        char err[1024];
        int reloaded = cm_daemon_reload(d, err, sizeof(err)) == CM_OK;
        cm_metrics_reload(d->metrics, reloaded);
        if (reloaded) {
            cm_log(CM_LOG_INFO, "core", "SIGHUP: configuration reloaded from %s", d->conf_dir);
            cm_reconcile_wake(rec); /* new intervals apply at once */
            struct cm_gateway *gw = cm_daemon_acquire(d);
            announce(gw, d->listen);
            cm_daemon_release(d, gw);
        } else {
            cm_log(CM_LOG_ERR, "core", "SIGHUP: keeping the running configuration: %s", err);
        }
    }
}

int cm_cli_serve(int argc, char **argv)
{
    const char *conf_dir = CM_CONF_DIR, *listen = NULL, *data_dir = NULL;
    char plugin_dir[CM_PLUGIN_PATH_LEN] = "";
    struct cm_daemon d = {.lock = PTHREAD_MUTEX_INITIALIZER};
    /* What the 1.3 host calls need of the daemon, lent to plugins while d lives: an automatic
     * variable like d, since a static one cannot be initialised with d's address. */
    struct cm_host_daemon lent = {
        .arg = &d,
        .archive = cm_archive_ondemand,
        .state_refresh = serve_state_refresh,
        .shared_open = serve_shared_open,
        .repository_followed = serve_repository_followed,
    };
    unsigned char *rebuild = NULL; /* per sync entry: its state is made again from mirrors */
    struct cm_config *cfg = NULL;
    struct cm_http *http = NULL;
    struct cm_workers *workers = NULL;
    struct cm_reconciler *rec = NULL;
    struct cm_pg_activity *cluster_log = NULL;
    char err[1024], *listen_addr = NULL;
    int opt, status = 1, stop_timeout = 0;
    unsigned cut;
    sigset_t set;

    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"log-format", required_argument, NULL, 'F'},
                                             {0, 0, 0, 0}};
    while ((opt = getopt_long(argc, argv, "c:l:d:P:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'F':
            if (cm_log_set_format(optarg) != CM_OK) {
                fprintf(stderr, "cargoman: --log-format is text or json, not \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'c': conf_dir = optarg; break;
        case 'l': listen = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'P':
            if (cm_cli_plugin_dir(plugin_dir, sizeof(plugin_dir), optarg))
                return 1;
            break;
        case 'v': cm_log_set_level(CM_LOG_DEBUG); break;
        case 'h': fputs(serve_usage, stdout); return 0;
        default: fputs(serve_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(serve_usage, stderr);
        return 2;
    }
    if (cm_cli_plugin_env(plugin_dir, sizeof(plugin_dir)))
        return 1;
    /* Block the signals before any thread starts, so only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit must surface as EFBIG (the spool answers 503), not kill the daemon. */
    signal(SIGXFSZ, SIG_IGN);

    if (cm_config_load(&cfg, conf_dir, err, sizeof(err)) != CM_OK) {
        fail("%s", err);
        return 1;
    }
    if (listen) {
        free(cfg->listen);
        cfg->listen = strdup(listen);
    }
    if (data_dir) {
        free(cfg->data_dir);
        cfg->data_dir = strdup(data_dir);
    }
    if (!cfg->listen || !cfg->data_dir || !(d.data_dir = strdup(cfg->data_dir))) {
        cm_config_free(cfg);
        return 1;
    }
    if (cm_fs_mkdir_p(d.data_dir)) {
        fail("cannot create data directory %s: %s", d.data_dir, strerror(errno));
        cm_config_free(cfg);
        goto out;
    }
    d.conf_dir = conf_dir;
    d.plugin_dir = plugin_dir;
    d.max_body = cfg->max_body;
    if (!(listen_addr = strdup(cfg->listen))) {
        cm_config_free(cfg);
        goto out;
    }
    struct cm_http_limits limits = {cfg->max_connections,        cfg->connection_timeout,
                                    cfg->max_connections_per_ip, cfg->request_timeout,
                                    cfg->stop_timeout,           cfg->http_threads};
    int coalesce_ms = cfg->sync_coalesce_ms;
    stop_timeout = cfg->stop_timeout;
    int n_workers = cfg->workers;
    long long dedupe_age = cfg->dedupe_max_age;
    struct cm_pg_options pg = {.connections = cfg->queue_connections,
                               .timeout_ms = cfg->queue_timeout_ms,
                               .lease_seconds = cfg->queue_lease_seconds,
                               .coalesce_ms = coalesce_ms,
                               .dedupe_max_age = dedupe_age,
                               .failed_max_age = cfg->delivery_log_max_age,
                               .max_refs = (size_t)cfg->max_refs_per_event,
                               .warn = queue_warn,
                               .warn_arg = &d,
                               .failed = queue_failed};

    d.max_refs = (size_t)cfg->max_refs_per_event;
    cm_memory_tune(); /* before the first thread */
    if (cm_mirror_global_init(cfg->git_timeout) != CM_OK) {
        fail("cannot initialise libgit2");
        cm_config_free(cfg);
        goto out;
    }
    if (cm_gateway_open(&d.gw, cfg, plugin_dir, err, sizeof(err)) != CM_OK) {
        fail("%s", err);
        goto out;
    }
    d.listen = listen_addr;
    if (announce(d.gw, listen_addr) > 0) {
        fail("refusing to serve beyond loopback with the problems above; "
             "`cargoman check` lists them");
        goto out;
    }
    /* Each step says what failed: err is only the spool's to fill. */
    if (cm_activity_new(&d.activity, d.data_dir) != CM_OK) {
        fail("out of memory setting up the repository status");
        goto out;
    }
    const struct cm_config *c = d.gw->config;
    struct cm_activity_retention keep = {c->delivery_log_max_age, c->delivery_log_max_entries,
                                         c->payload_retention, c->payload_max_bytes};
    char note[512];
    if (cm_activity_open_log(d.activity, d.data_dir, &keep, note, sizeof(note), err, sizeof(err)) !=
        CM_OK) {
        fail("delivery log: %s (check that the data directory is writable)", err);
        goto out;
    }
    if (note[0])
        cm_log(CM_LOG_WARNING, "deliveries", "%s", note);
    if (cm_metrics_new(&d.metrics) != CM_OK) {
        fail("out of memory setting up the metrics");
        goto out;
    }
    if (cm_newrepo_new(&d.newrepo) != CM_OK) {
        fail("out of memory setting up the new-repository limit");
        goto out;
    }
    err[0] = '\0'; /* a failed allocation leaves it unset */
    /* The queue's place is fixed at start: a reload does not move it. */
    if (!strcmp(d.gw->config->queue_backend, "postgresql")) {
        pg.conninfo = d.gw->config->queue_conninfo;
        if (cm_pg_queue_open(&d.queue, &pg, err, sizeof(err)) != CM_OK) {
            fail("queue on PostgreSQL: %s", err[0] ? err : "out of memory");
            goto out;
        }
        if (share_activity(&d, &cluster_log, listen_addr) != CM_OK) {
            fail("out of memory setting up the cluster's delivery log");
            goto out;
        }
    } else {
        if (cm_spool_open(&d.queue, d.data_dir, dedupe_age, d.max_refs, err, sizeof(err)) !=
            CM_OK) {
            fail("spool: %s", err[0] ? err : "out of memory");
            goto out;
        }
        cm_spool_set_coalesce(d.queue, coalesce_ms);
    }
    if (cm_shared_state_new(&d.shared, d.queue) != CM_OK) {
        fail("out of memory setting up the shared plugin state");
        goto out;
    }
    if (cm_gone_new(&d.gone) != CM_OK) {
        fail("out of memory setting up the gone-repository tracker");
        goto out;
    }
    cm_host_set_daemon(&lent);
    /* Which states are lost, before start makes their directories again. A cluster's is the
     * database's: a node that lost its directory pulls it, and must not publish over it. */
    if (!(rebuild = calloc(d.gw->n_syncs + 1, 1))) {
        fail("out of memory");
        goto out;
    }
    if (!d.shared)
        cm_rebuild_plan(d.gw, d.data_dir, rebuild);
    /* Plugins create their state now, after every instance was created and before a worker
     * or the front can call them; `check` and `parse` never get here. */
    if (cm_gateway_start(d.gw, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        goto out;
    }
    /* Before workers and the front: the plugin sees no sync or request until it is whole. */
    if (!d.shared)
        cm_rebuild_run(&d, d.gw, rebuild);
    if (cm_shared_state_attach(d.shared, d.gw) != CM_OK) {
        fail("out of memory setting up the shared plugin state");
        goto out;
    }
    if (cm_shared_state_prime(d.shared, d.gw, err, sizeof(err)) != CM_OK)
        cm_log(CM_LOG_WARNING, "cluster", "%s; trying again at the first sync", err);
    if (cm_workers_start(&workers, &d, n_workers) != CM_OK) {
        fail("cannot start workers");
        goto out;
    }
    d.workers = workers;
    if (cm_http_start(&http, &d, listen_addr, &limits, err, sizeof(err)) != CM_OK) {
        fail("%s", err);
        goto out;
    }
    cm_log(CM_LOG_INFO, "core", "listening on http://%s (data in %s, %zu queued %s)", listen_addr,
           d.data_dir, d.queue->ops->depth(d.queue),
           strcmp(d.gw->config->queue_backend, "postgresql") ? "in the spool"
                                                             : "in PostgreSQL, for the cluster");
    /* After the front is up: with many mirrors this walk takes a while, and webhooks must not
     * wait for an operator's view to be rebuilt. */
    cm_activity_scan_mirrors(d.activity, d.data_dir);
    /* Pushes whose webhook never came (the gateway was down, the host dropped it) are found
     * by listing each mirror's remote refs every server.reconcile_interval. */
    if (cm_reconcile_start(&rec, &d) != CM_OK) {
        fail("cannot start the reconciler");
        goto out;
    }
    status = wait_for_signals(&d, rec);
    cm_log(CM_LOG_INFO, "core", "stopping: finishing requests in flight; the queue keeps the rest");
out:
    /* The front first: a request finishing now still appends to the spool, and workers
     * stopped later leave nothing it needs half done. */
    cut = cm_http_stop(http);
    if (cut)
        cm_log(CM_LOG_WARNING, "core",
               "stopping: cut %u connection(s) still sending or receiving after "
               "server.stop_timeout (%d s); raise it if they were real deliveries",
               cut, stop_timeout);
    cm_reconcile_stop(rec); /* it appends to the queue: before the queue shuts down */
    if (d.queue)
        d.queue->ops->shutdown(d.queue);
    cm_workers_stop(workers);
    cm_host_set_daemon(NULL); /* nothing calls a plugin now that needs d, which goes away */
    /* Nothing records now; what is queued for the database is written (one try). */
    if (cluster_log) {
        cm_activity_set_cluster(d.activity, NULL);
        cm_pg_activity_close(cluster_log);
    }
    if (d.queue)
        d.queue->ops->close(d.queue);
    cm_shared_state_free(d.shared);
    free(rebuild);
    cm_daemon_collect(&d); /* nothing uses them now: workers and the front are stopped */
    cm_gateway_free(d.gw); /* stops the plugins, then destroys them */
    cm_activity_free(d.activity);
    cm_metrics_free(d.metrics);
    cm_newrepo_free(d.newrepo);
    cm_gone_free(d.gone);
    free(d.data_dir);
    free(listen_addr); /* d.listen until here */
    cm_mirror_global_shutdown();
    return status;
}
