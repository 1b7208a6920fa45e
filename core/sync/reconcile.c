/* SPDX-License-Identifier: MIT */
/*
 * The reconciler (reconcile.h): a few threads share a list of the mirrors on disk, each
 * taking the next repository that is due and whose host has room (server.reconcile_per_host,
 * server.reconcile_spacing_ms, backoff after failures and HTTP 429), then ls-remote, compare,
 * and queue a sync through the same queue as webhooks when the host has moved on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "daemon.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "sync/mirror.h"
#include "sync/reconcile.h"
#include "sync/reconcile_check.h"
#include "util/crypto.h"

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

static void rc_add(void *arg, const char *endpoint, const char *repository, const char *path)
{
    struct rc_list *l = arg;
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

/* Scan the mirrors on disk (without the lock) and merge them into the list: a mirror already
 * known keeps its schedule, a new one is first checked about one interval after it is seen,
 * one that is gone leaves (unless a check of it is running). */
static void rc_scan(struct cm_reconciler *r)
{
    struct rc_list l = {0};
    double now = rc_now();

    cm_mirror_each(r->d->data_dir, rc_add, &l);
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), rc_repo_cmp);
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < l.n; i++) {
        struct rc_repo *old = rc_find(r->repos, r->n_repos, l.v[i].path);
        if (!old) { /* its host, for the per-host cap: outside the lock, it reads the mirror */
            pthread_mutex_unlock(&r->lock);
            cm_reconcile_host_of(r->d, l.v[i].endpoint, l.v[i].repository, l.v[i].path, l.v[i].host,
                                 sizeof(l.v[i].host));
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

    if (p && outcome == RC_GONE) { /* its mirror is removed: no check of it is due again */
        size_t i = (size_t)(p - r->repos);
        rc_repo_clear(p);
        memmove(p, p + 1, (r->n_repos - i - 1) * sizeof(*p));
        r->n_repos--;
        p = NULL;
    }
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
    } else if (outcome == RC_DONE || outcome == RC_GONE) {
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
            enum rc_outcome o = cm_reconcile_check(r->d, &t);
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
