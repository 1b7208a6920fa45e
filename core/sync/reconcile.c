/* SPDX-License-Identifier: MIT */
/*
 * The reconciler (reconcile.h): a few threads share a list of the mirrors on disk, each
 * taking the next repository that is due and whose host has room (server.reconcile_per_host,
 * server.reconcile_spacing_ms, backoff after failures and HTTP 429), then ls-remote, compare,
 * and queue a sync through the same queue as webhooks when the host has moved on.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "daemon.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "queue/queue.h"
#include "sync/mirror.h"
#include "sync/reconcile.h"
#include "util/crypto.h"
#include "util/fsutil.h"
#include "util/url.h"

#define RC_THREADS 4         /* checks in flight at once, over all hosts */
#define RC_RESCAN_MAX 60.0   /* seconds between two scans of data_dir/mirrors, at most */
#define RC_BACKOFF_MAX 600.0 /* a host that keeps failing is tried this often, at least */
#define RC_THROTTLE_MIN 60.0 /* after an HTTP 429: libgit2 does not show us Retry-After */
#define RC_THROTTLE_MAX 3600.0

struct rc_repo {
    char *endpoint, *repository, *path; /* owned */
    char host[300];  /* "scheme://host:port" its URL had at the last look; "" unknown */
    double last;     /* monotonic time of its last check, or of its discovery */
    double jit;      /* this round's factor of the interval: 0.9 .. 1.1 */
    long long clean; /* wall time it was last seen matching its host; 0 unknown */
    int busy, warned;
};

struct rc_host {
    char name[300];
    int in_flight, failures;
    double next_start; /* monotonic: no ls-remote to it starts before */
};

struct cm_reconciler {
    struct cm_daemon *d;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* CLOCK_MONOTONIC */
    int stop, scanning;
    pthread_t threads[RC_THREADS];
    int n_threads;
    struct rc_repo *repos; /* sorted by path */
    size_t n_repos;
    struct rc_host *hosts;
    size_t n_hosts;
    double scanned; /* monotonic time of the last scan; < 0 never */
};

/* What one check needs, copied out of the list so the lock is not held during it. */
struct rc_task {
    char *endpoint, *repository, *path;
    char host[300];
    long long clean;
    int warned;
};

enum rc_outcome { RC_DONE, RC_HOST_FAILED, RC_HOST_THROTTLED, RC_SKIPPED };

static double rc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rc_jitter(void)
{
    uint32_t x = 0;
    cm_crypto_random(&x, sizeof(x));
    return 0.9 + 0.2 * ((double)x / 4294967295.0);
}

/* The interval of endpoint's mirrors in the configuration gw holds: 0 when off or gone. */
static long long rc_interval(const struct cm_gateway *gw, const char *endpoint)
{
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, endpoint);

    if (!ep)
        return 0;
    return ep->conf->reconcile_interval >= 0 ? ep->conf->reconcile_interval
                                             : gw->config->reconcile_interval;
}

/* The shortest interval any endpoint has, 0 when reconciliation is off everywhere. */
static long long rc_min_interval(const struct cm_gateway *gw)
{
    long long best = 0;

    for (size_t i = 0; i < gw->n_endpoints; i++) {
        long long iv = rc_interval(gw, gw->endpoints[i].conf->name);
        if (iv > 0 && (!best || iv < best))
            best = iv;
    }
    return best;
}

/* ---- the list of mirrors ---- */

static void rc_repo_clear(struct rc_repo *p)
{
    free(p->endpoint);
    free(p->repository);
    free(p->path);
}

static int rc_repo_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rc_repo *)a)->path, ((const struct rc_repo *)b)->path);
}

static struct rc_repo *rc_find(struct rc_repo *v, size_t n, const char *path)
{
    struct rc_repo key = {.path = (char *)path};
    return n ? bsearch(&key, v, n, sizeof(*v), rc_repo_cmp) : NULL;
}

struct rc_list {
    struct rc_repo *v;
    size_t n, cap;
};

static void rc_add(struct rc_list *l, const char *endpoint, const char *repository,
                   const char *path)
{
    struct rc_repo *grown;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        if (!(grown = realloc(l->v, cap * sizeof(*grown))))
            return; /* the next scan finds it */
        l->v = grown;
        l->cap = cap;
    }
    struct rc_repo *p = &l->v[l->n];
    memset(p, 0, sizeof(*p));
    p->endpoint = strdup(endpoint);
    p->repository = strdup(repository);
    p->path = strdup(path);
    if (!p->endpoint || !p->repository || !p->path)
        rc_repo_clear(p);
    else
        l->n++;
}

/* data_dir/mirrors/<endpoint>/<repository>.git, as ops/activity.c walks it. */
static void rc_walk(struct rc_list *l, const char *endpoint, const char *dir, const char *rel,
                    int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[4096], name[1024];
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || !cm_fs_entry_is_dir(dirfd(d), e->d_name, e->d_type))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".git")) {
            name[strlen(name) - 4] = '\0';
            rc_add(l, endpoint, name, path);
        } else if (depth > 0 && (n < 4 || strcmp(e->d_name + n - 4, ".tmp"))) {
            rc_walk(l, endpoint, path, name, depth - 1);
        }
    }
    closedir(d);
}

static void rc_host_of(struct cm_daemon *d, struct rc_repo *p);

/* Scan the mirrors on disk (without the lock) and merge them into the list: a mirror already
 * known keeps its schedule, a new one is first checked about one interval after it is seen,
 * one that is gone leaves (unless a check of it is running). */
static void rc_scan(struct cm_reconciler *r)
{
    struct rc_list l = {0};
    char root[4096];
    DIR *d;
    struct dirent *e;
    double now = rc_now();

    snprintf(root, sizeof(root), "%s/mirrors", r->d->data_dir);
    if ((d = opendir(root)) != NULL) {
        while ((e = readdir(d))) {
            char path[4200];
            if (e->d_name[0] == '.' || !cm_fs_entry_is_dir(dirfd(d), e->d_name, e->d_type))
                continue;
            snprintf(path, sizeof(path), "%.3800s/%s", root, e->d_name);
            rc_walk(&l, e->d_name, path, "", 8);
        }
        closedir(d);
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), rc_repo_cmp);
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < l.n; i++) {
        struct rc_repo *old = rc_find(r->repos, r->n_repos, l.v[i].path);
        if (!old) { /* its host, for the per-host cap: outside the lock, it reads the mirror */
            pthread_mutex_unlock(&r->lock);
            rc_host_of(r->d, &l.v[i]);
            pthread_mutex_lock(&r->lock);
            old = rc_find(r->repos, r->n_repos, l.v[i].path);
        }
        if (old) {
            memcpy(l.v[i].host, old->host, sizeof(old->host));
            l.v[i].last = old->last;
            l.v[i].jit = old->jit;
            l.v[i].clean = old->clean;
            l.v[i].busy = old->busy;
            l.v[i].warned = old->warned;
            old->busy = 0; /* moved: it is the new entry's now */
        } else {
            l.v[i].last = now;
            l.v[i].jit = rc_jitter();
        }
    }
    for (size_t i = 0; i < r->n_repos; i++)
        rc_repo_clear(&r->repos[i]);
    free(r->repos);
    r->repos = l.v;
    r->n_repos = l.n;
    r->scanned = now;
    r->scanning = 0;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static struct rc_host *rc_host(struct cm_reconciler *r, const char *name)
{
    struct rc_host *grown;

    for (size_t i = 0; i < r->n_hosts; i++)
        if (!strcmp(r->hosts[i].name, name))
            return &r->hosts[i];
    if (!(grown = realloc(r->hosts, (r->n_hosts + 1) * sizeof(*grown))))
        return NULL;
    r->hosts = grown;
    memset(&grown[r->n_hosts], 0, sizeof(*grown));
    snprintf(grown[r->n_hosts].name, sizeof(grown->name), "%s", name);
    return &grown[r->n_hosts++];
}

/* ---- one check ---- */

/* A new event for a reconciliation of t: the fields a webhook's would have, as the stored
 * mirror knows them, and the URL the last sync recorded offered as its clone URL. The fetch-URL
 * policy decides on it afresh (url), so a changed configuration is obeyed. */
static int rc_event(const struct cm_endpoint *ep, int prefer_ssh, const struct rc_task *t,
                    struct cm_event **out, char *url, size_t urllen, long long *synced, char *err,
                    size_t errlen)
{
    char stored[2048], why[512], did[80], when[32];
    struct cm_url u;
    struct cm_event *ev = NULL;
    uint32_t x = 0;
    int rc;

    if ((rc = cm_mirror_recorded(t->path, stored, sizeof(stored), synced)) != CM_OK) {
        snprintf(err, errlen, "the mirror is not a git repository (yet)");
        return rc;
    }
    if ((rc = cm_event_new(&ev)) != CM_OK)
        return rc;
    cm_crypto_random(&x, sizeof(x));
    snprintf(did, sizeof(did), "reconcile-%lld-%08x", cm_host_now(), (unsigned)x);
    cm_format_time(cm_host_now(), when, sizeof(when));
    rc = cm_event_set(ev, CM_FIELD_PROVIDER, ep->conf->provider);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_ENDPOINT, ep->conf->name);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_EVENT, "reconcile");
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_DELIVERY_ID, did);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_RECEIVED_AT, when);
    if (rc == CM_OK)
        rc = cm_event_set(ev, CM_FIELD_REPOSITORY, t->repository);
    if (rc == CM_OK && *stored && cm_url_parse(stored, &u) == CM_OK)
        rc = cm_event_set(
            ev, strcmp(u.scheme, "ssh") ? CM_FIELD_CLONE_URL_HTTP : CM_FIELD_CLONE_URL_SSH, stored);
    if (rc == CM_OK &&
        cm_fetch_url(ep, prefer_ssh, ev, url, urllen, why, sizeof(why), err, errlen) != CM_OK)
        rc = CM_EINVAL;
    if (rc != CM_OK) {
        if (rc == CM_EINVAL && !*stored)
            snprintf(err, errlen,
                     "no fetch URL recorded by a sync of this version and the endpoint has no "
                     "clone_url: it is checked after its next webhook sync");
        cm_event_free(ev);
        return rc;
    }
    *out = ev;
    return CM_OK;
}

/* The host p's URL is on under the running configuration, into p->host ("" when none). */
static void rc_host_of(struct cm_daemon *d, struct rc_repo *p)
{
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, p->endpoint);
    struct rc_task t = {.endpoint = p->endpoint, .repository = p->repository, .path = p->path};
    struct cm_event *ev = NULL;
    char url[2048], err[512];
    long long synced;
    struct cm_url u;

    if (ep &&
        rc_event(ep, gw->config->ssh_key != NULL, &t, &ev, url, sizeof(url), &synced, err,
                 sizeof(err)) == CM_OK &&
        cm_url_parse(url, &u) == CM_OK)
        snprintf(p->host, sizeof(p->host), "%s://%.250s:%u", u.scheme, u.host, u.port);
    cm_event_free(ev);
    cm_daemon_release(d, gw);
}

static int rc_add_change(void *arg, const char *ref, const char *old_id, const char *new_id)
{
    return cm_event_add_change(arg, ref, old_id, new_id, -1);
}

static void rc_queue(struct cm_daemon *d, const struct cm_gateway *gw, const struct cm_endpoint *ep,
                     struct cm_event *ev, double detect)
{
    const char *key = cm_event_get(ev, CM_FIELD_DELIVERY_ID);
    struct cm_queue_limits limits = {
        .max_queued = (size_t)gw->config->max_queued,
        .max_queued_endpoint =
            (size_t)(ep->conf->max_queued > 0 ? ep->conf->max_queued
                                              : gw->config->max_queued_per_endpoint),
    };
    size_t n = ev->n_changes;
    uint64_t id = 0;
    int rc;

    cm_event_cap_changes(ev, d->max_refs);
    rc = d->queue->ops->append(d->queue, &ev, NULL, 1, &limits, &id);
    if (rc != CM_OK) {
        cm_log(CM_LOG_WARNING, ep->conf->name,
               "%s: %zu ref(s) differ from the host but the sync could not be queued (%s); "
               "the next check tries again",
               cm_event_get(ev, CM_FIELD_REPOSITORY), n,
               rc == CM_QUEUE_EFULL || rc == CM_QUEUE_EFULL_ENDPOINT ? "queue full"
                                                                     : "spool not writable");
        return;
    }
    cm_metrics_reconcile(d->metrics, CM_RECONCILE_DRIFT, detect);
    cm_activity_delivery(d->activity, id, ev, ep->conf->name, key, "queued", NULL);
    cm_log(CM_LOG_INFO, ep->conf->name,
           "%s: %zu ref(s) differ from the host and no webhook brought them: sync queued (%s)",
           cm_event_get(ev, CM_FIELD_REPOSITORY), n, key);
}

/* ls-remote t's repository and queue a sync when it drifted. Updates t->host and t->clean. */
static enum rc_outcome rc_check(struct cm_reconciler *r, struct rc_task *t)
{
    struct cm_daemon *d = r->d;
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_config *cfg = gw->config;
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, t->endpoint);
    struct cm_event *ev = NULL;
    struct cm_mirror *m = NULL;
    char url[2048], err[1024];
    long long synced = 0, now = cm_host_now();
    enum rc_outcome out = RC_SKIPPED;
    struct cm_url u;
    int throttled = 0, rc;

    if (!ep || d->queue->ops->queued(d->queue, t->endpoint, t->repository))
        goto out; /* gone from the configuration, or a sync is coming anyway */
    if (rc_event(ep, cfg->ssh_key != NULL, t, &ev, url, sizeof(url), &synced, err, sizeof(err)) !=
        CM_OK) {
        if (!t->warned)
            cm_log(CM_LOG_WARNING, t->endpoint, "%s: not reconciled: %s", t->repository, err);
        t->warned = 1;
        goto out;
    }
    t->warned = 0;
    if (cm_url_parse(url, &u) == CM_OK)
        snprintf(t->host, sizeof(t->host), "%s://%.250s:%u", u.scheme, u.host, u.port);
    if (cm_mirror_open(&m, t->path, url, t->endpoint, t->repository) != CM_OK)
        goto out;
    struct cm_mirror_auth auth = {
        .user = ep->conf->auth_user ? ep->conf->auth_user : cfg->auth_user,
        .token = ep->conf->auth_token ? ep->conf->auth_token : cfg->auth_token,
        .ssh_key = cfg->ssh_key,
        .ssh_passphrase = cfg->ssh_passphrase,
        .ssh_known_hosts = cfg->ssh_known_hosts,
        .ssl_ca_file = ep->conf->ssl_ca_file ? ep->conf->ssl_ca_file : cfg->ssl_ca_file,
    };
    rc = cm_mirror_ls_remote(m, &auth, rc_add_change, ev, &throttled, err, sizeof(err));
    if (rc != CM_OK) {
        cm_metrics_reconcile(d->metrics, throttled ? CM_RECONCILE_THROTTLED : CM_RECONCILE_FAILED,
                             0);
        cm_log(CM_LOG_WARNING, t->endpoint, "%s: reconciliation: %s", t->repository, err);
        out = throttled ? RC_HOST_THROTTLED : rc == CM_EAGAIN ? RC_HOST_FAILED : RC_DONE;
        goto out;
    }
    out = RC_DONE;
    if (ev->n_changes == 0) {
        cm_metrics_reconcile(d->metrics, CM_RECONCILE_SAME, 0);
        t->clean = now;
        goto out;
    }
    long long since = t->clean > synced ? t->clean : synced;
    rc_queue(d, gw, ep, ev, since > 0 && now > since ? (double)(now - since) : 0);
out:
    cm_mirror_free(m);
    cm_event_free(ev);
    cm_daemon_release(d, gw);
    return out;
}

/* ---- the schedule ---- */

/* Under the lock: the next repository to check now into *t (copied), or 0 with *wake the
 * monotonic time worth looking again. */
static int rc_pick(struct cm_reconciler *r, const struct cm_gateway *gw, double now,
                   struct rc_task *t, double *wake)
{
    int per_host = gw->config->reconcile_per_host;
    double spacing = gw->config->reconcile_spacing_ms / 1000.0;

    for (size_t i = 0; i < r->n_repos; i++) {
        struct rc_repo *p = &r->repos[i];
        long long iv = p->busy ? 0 : rc_interval(gw, p->endpoint);
        struct rc_host *h;
        if (iv <= 0)
            continue;
        double due = p->last + (double)iv * p->jit;
        if (due > now) {
            *wake = due < *wake ? due : *wake;
            continue;
        }
        if (!(h = rc_host(r, p->host)) || h->in_flight >= per_host)
            continue; /* a check ending broadcasts */
        if (h->next_start > now) {
            *wake = h->next_start < *wake ? h->next_start : *wake;
            continue;
        }
        t->endpoint = strdup(p->endpoint);
        t->repository = strdup(p->repository);
        t->path = strdup(p->path);
        if (!t->endpoint || !t->repository || !t->path) {
            free(t->endpoint);
            free(t->repository);
            free(t->path);
            return 0;
        }
        memcpy(t->host, p->host, sizeof(t->host));
        t->clean = p->clean;
        t->warned = p->warned;
        p->busy = 1;
        h->in_flight++;
        h->next_start = now + spacing;
        return 1;
    }
    return 0;
}

/* Under the lock: the check of t ended with outcome; schedule its repository and its host. */
static void rc_done(struct cm_reconciler *r, const struct cm_gateway *gw, struct rc_task *t,
                    const char *picked_host, enum rc_outcome outcome)
{
    double now = rc_now(), spacing = gw->config->reconcile_spacing_ms / 1000.0, wait;
    struct rc_repo *p = rc_find(r->repos, r->n_repos, t->path);
    struct rc_host *h = rc_host(r, picked_host);

    if (p) {
        p->busy = 0;
        p->last = now;
        p->jit = rc_jitter();
        p->clean = t->clean;
        p->warned = t->warned;
        memcpy(p->host, t->host, sizeof(p->host));
    }
    if (!h)
        return;
    h->in_flight--;
    if (outcome == RC_HOST_FAILED || outcome == RC_HOST_THROTTLED) {
        /* Each failure in a row doubles the wait before the host's next ls-remote. */
        double base = outcome == RC_HOST_THROTTLED ? RC_THROTTLE_MIN : spacing < 1 ? 1 : spacing;
        double max = outcome == RC_HOST_THROTTLED ? RC_THROTTLE_MAX : RC_BACKOFF_MAX;
        int shift = h->failures < 20 ? h->failures : 20;
        wait = base * (double)(1u << shift);
        wait = wait > max ? max : wait;
        h->failures++;
        h->next_start = now + wait;
        cm_log(CM_LOG_INFO, "reconcile", "%s: %s; next ls-remote to it in %.0f s",
               *picked_host ? picked_host : "host",
               outcome == RC_HOST_THROTTLED ? "rate limited (HTTP 429)" : "unreachable", wait);
    } else if (outcome == RC_DONE) {
        h->failures = 0;
    }
}

static void rc_wait(struct cm_reconciler *r, double until)
{
    struct timespec ts;
    double now = rc_now(), at = until < now + 1 ? until : now + 1;

    /* At most a second: a SIGHUP may have switched reconciliation on. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double dt = at - now > 0 ? at - now : 0.001;
    ts.tv_sec += (time_t)dt;
    ts.tv_nsec += (long)((dt - (double)(time_t)dt) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}

static void *rc_main(void *arg)
{
    struct cm_reconciler *r = arg;

    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        struct cm_gateway *gw = cm_daemon_acquire(r->d);
        long long min_iv = rc_min_interval(gw);
        double now = rc_now(), wake = now + 1;
        double rescan = min_iv < RC_RESCAN_MAX ? (double)min_iv : RC_RESCAN_MAX;
        struct rc_task t = {0};

        if (min_iv > 0 && !r->scanning && (r->scanned < 0 || now - r->scanned >= rescan)) {
            r->scanning = 1;
            pthread_mutex_unlock(&r->lock);
            cm_daemon_release(r->d, gw);
            rc_scan(r); /* takes the lock to merge, clears scanning */
            pthread_mutex_lock(&r->lock);
            continue;
        }
        if (min_iv > 0 && rc_pick(r, gw, now, &t, &wake)) {
            char host[300];
            memcpy(host, t.host, sizeof(host));
            pthread_mutex_unlock(&r->lock);
            enum rc_outcome o = rc_check(r, &t);
            pthread_mutex_lock(&r->lock);
            rc_done(r, gw, &t, host, o);
            pthread_cond_broadcast(&r->cond);
            free(t.endpoint);
            free(t.repository);
            free(t.path);
        } else {
            rc_wait(r, wake);
        }
        pthread_mutex_unlock(&r->lock);
        cm_daemon_release(r->d, gw);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int cm_reconcile_start(struct cm_reconciler **out, struct cm_daemon *d)
{
    struct cm_reconciler *r = calloc(1, sizeof(*r));
    pthread_condattr_t ca;

    *out = NULL;
    if (!r)
        return CM_ENOMEM;
    r->d = d;
    r->scanned = -1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < RC_THREADS; i++) {
        if (pthread_create(&r->threads[i], NULL, rc_main, r) != 0) {
            cm_reconcile_stop(r);
            return CM_ERROR;
        }
        r->n_threads++;
    }
    *out = r;
    return CM_OK;
}

void cm_reconcile_wake(struct cm_reconciler *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void cm_reconcile_stop(struct cm_reconciler *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
    for (size_t i = 0; i < r->n_repos; i++)
        rc_repo_clear(&r->repos[i]);
    free(r->repos);
    free(r->hosts);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
