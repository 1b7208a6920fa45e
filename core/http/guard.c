/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */
#endif

/*
 * Connections that hold the front without finishing a request: at most server.
 * max_connections_per_ip open from one address, and every request in within
 * server.request_timeout of its connection's accept. libmicrohttpd 0.9.75 has only an idle
 * timeout (restarted by every byte), so a reaper thread shuts such sockets down itself.
 * At stop, the same list tells which connections still carry a request, so the front can
 * let them finish (cm_http_guard_drain) before MHD cuts what is left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cargoman/plugin.h>

#include "http/guard.h"
#include "util/deadline.h"
#include "ops/log.h"
#include "ops/metrics.h"

#define TICK_MS 250
#define LOG_EVERY_MS 10000LL
#define BUCKETS 256

/* Open connections from one address (IPv6: one /64, what one host usually holds). */
struct ip_count {
    struct ip_count *next;
    unsigned char key[9]; /* 4 or 6, then 4 or 8 address bytes */
    unsigned n;
};

/* One open connection, from MHD's STARTED notice to its CLOSED notice. */
struct conn {
    struct conn *prev, *next;
    struct cm_http_guard *g;
    int fd;              /* MHD's socket; MHD closes it only after the CLOSED notice */
    long long deadline;  /* ms (monotonic): the current request must be in by then */
    int in;              /* the request is in: no deadline */
    int shut;            /* the reaper shut it down */
    int idle;            /* kept alive between requests: nothing of a request is in flight */
    struct ip_count *ip; /* the count it holds, or NULL */
};

struct cm_http_guard {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    pthread_t reaper;
    int stopping;
    int draining;               /* the front is stopping: answers close their connection */
    pthread_cond_t change;      /* a request finished or a connection closed, while draining */
    struct cm_metrics *metrics; /* borrowed */
    unsigned per_ip;
    long long timeout_ms, idle_ms;
    struct conn *head, *tail;
    struct ip_count *buckets[BUCKETS];
    unsigned unlogged[CM_DROP_N]; /* drops since the last log line of their reason */
    long long logged_at[CM_DROP_N];
    char last_refused[INET6_ADDRSTRLEN];
};

/* MHD runs accept, the accept policy and the STARTED notice of one connection in one call
 * on one of its threads, so the count reserved by the policy waits here for that notice. A
 * connection MHD drops in between (out of memory) gets no notice; the next accept on the
 * thread finds its reservation still here and gives it back. */
static _Thread_local struct ip_count *reserved;

/* ---- per-address counts (callers hold the lock) ---- */

/* 0 and the key of addr, or -1 for an address family that is not counted. */
static int ip_key(const struct sockaddr *addr, unsigned char key[9])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(key, 0, 9);
    if (addr->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
        return 0;
    }
    if (addr->sa_family == AF_INET6) {
        const unsigned char *a =
            ((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr.s6_addr;
        if (!memcmp(a, mapped, 12)) { /* an IPv4 client of a dual-stack socket */
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 8);
        }
        return 0;
    }
    return -1;
}

static unsigned ip_hash(const unsigned char key[9])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 9; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % BUCKETS;
}

static struct ip_count *ip_get(struct cm_http_guard *g, const unsigned char key[9])
{
    struct ip_count **b = &g->buckets[ip_hash(key)], *e;
    for (e = *b; e; e = e->next)
        if (!memcmp(e->key, key, 9))
            return e;
    if (!(e = calloc(1, sizeof(*e))))
        return NULL;
    memcpy(e->key, key, 9);
    e->next = *b;
    *b = e;
    return e;
}

static void ip_put(struct cm_http_guard *g, struct ip_count *ip)
{
    struct ip_count **p = &g->buckets[ip_hash(ip->key)];
    if (--ip->n)
        return;
    while (*p != ip)
        p = &(*p)->next;
    *p = ip->next;
    free(ip);
}

MHD_RESULT cm_http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct cm_http_guard *g = cls;
    unsigned char key[9];
    struct ip_count *ip;
    (void)addrlen;

    if (ip_key(addr, key))
        return MHD_YES;
    pthread_mutex_lock(&g->lock);
    if (reserved) {
        ip_put(g, reserved);
        reserved = NULL;
    }
    if (!(ip = ip_get(g, key))) {
        pthread_mutex_unlock(&g->lock);
        return MHD_NO;
    }
    if (ip->n >= g->per_ip) { /* never for a new entry: per_ip >= 1 when this is installed */
        g->unlogged[CM_DROP_PER_IP]++;
        if (addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr)->sin_addr,
                      g->last_refused, sizeof(g->last_refused));
        else
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr,
                      g->last_refused, sizeof(g->last_refused));
        pthread_mutex_unlock(&g->lock);
        cm_metrics_dropped(g->metrics, CM_DROP_PER_IP);
        return MHD_NO;
    }
    ip->n++;
    reserved = ip;
    pthread_mutex_unlock(&g->lock);
    return MHD_YES;
}

/* ---- connections ---- */

static void conn_unlink(struct cm_http_guard *g, struct conn *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        g->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        g->tail = e->prev;
    e->prev = e->next = NULL;
}

static void conn_append(struct cm_http_guard *g, struct conn *e)
{
    e->prev = g->tail;
    if (g->tail)
        g->tail->next = e;
    else
        g->head = e;
    g->tail = e;
}

static void conn_started(struct cm_http_guard *g, struct MHD_Connection *c, void **socket_context)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct conn *e = calloc(1, sizeof(*e));

    pthread_mutex_lock(&g->lock);
    if (!e || !fd) {
        /* Unguarded it could be held open for ever: end it now (MHD has not closed fd). */
        if (reserved)
            ip_put(g, reserved);
        reserved = NULL;
        pthread_mutex_unlock(&g->lock);
        if (fd)
            shutdown(fd->connect_fd, SHUT_RDWR);
        free(e);
        *socket_context = NULL;
        return;
    }
    e->g = g;
    e->fd = fd->connect_fd;
    e->deadline = cm_monotonic_ms() + g->timeout_ms;
    e->ip = reserved;
    reserved = NULL;
    conn_append(g, e);
    pthread_mutex_unlock(&g->lock);
    *socket_context = e;
}

void cm_http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct cm_http_guard *g = cls;
    struct conn *e = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_started(g, c, socket_context);
        return;
    }
    if (code != MHD_CONNECTION_NOTIFY_CLOSED || !e)
        return;
    /* MHD closes the socket right after this notice returns: once e is out of the list
     * (under the lock the reaper holds while it shuts sockets down), fd is never touched
     * again, so a number the kernel hands to a new socket cannot be shut down by mistake. */
    pthread_mutex_lock(&g->lock);
    conn_unlink(g, e);
    if (e->ip)
        ip_put(g, e->ip);
    if (g->draining)
        pthread_cond_broadcast(&g->change);
    pthread_mutex_unlock(&g->lock);
    free(e);
    *socket_context = NULL;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void cm_http_guard_request_begun(struct MHD_Connection *c)
{
    struct conn *e = conn_of(c);
    if (!e)
        return;
    pthread_mutex_lock(&e->g->lock);
    e->idle = 0;
    pthread_mutex_unlock(&e->g->lock);
}

int cm_http_guard_request_in(struct MHD_Connection *c)
{
    struct conn *e = conn_of(c);
    int draining;
    if (!e)
        return 0;
    pthread_mutex_lock(&e->g->lock);
    e->in = 1;
    draining = e->g->draining;
    pthread_mutex_unlock(&e->g->lock);
    return draining;
}

void cm_http_guard_request_done(struct MHD_Connection *c)
{
    struct conn *e = conn_of(c);
    if (!e)
        return;
    pthread_mutex_lock(&e->g->lock);
    e->in = 0;
    e->idle = 1;
    if (e->g->draining)
        pthread_cond_broadcast(&e->g->change);
    /* A kept-alive connection may sit idle first: MHD closes it after connection_timeout
     * without a byte, before this deadline, so only a next request that started and
     * dragged is cut here, and no idle client is reported as slow. */
    e->deadline = cm_monotonic_ms() + e->g->idle_ms + e->g->timeout_ms;
    pthread_mutex_unlock(&e->g->lock);
}

/* ---- the reaper ---- */

/* Shut down every connection whose request is late; the caller holds the lock. MHD then
 * reads end-of-file on it, closes it and sends the CLOSED notice. */
static unsigned reap(struct cm_http_guard *g, long long now)
{
    unsigned n = 0;
    for (struct conn *e = g->head; e; e = e->next) {
        if (e->in || e->shut || now < e->deadline)
            continue;
        shutdown(e->fd, SHUT_RDWR);
        e->shut = 1;
        n++;
    }
    return n;
}

/* One line per reason at most every LOG_EVERY_MS, with the count since the last one. */
static void log_drops(struct cm_http_guard *g, long long now)
{
    unsigned n[CM_DROP_N] = {0};
    char who[INET6_ADDRSTRLEN];

    pthread_mutex_lock(&g->lock);
    for (int r = 0; r < CM_DROP_N; r++) {
        if (g->unlogged[r] && now - g->logged_at[r] >= LOG_EVERY_MS) {
            n[r] = g->unlogged[r];
            g->unlogged[r] = 0;
            g->logged_at[r] = now;
        }
    }
    memcpy(who, g->last_refused, sizeof(who));
    pthread_mutex_unlock(&g->lock);
    if (n[CM_DROP_DEADLINE])
        cm_log(CM_LOG_WARNING, "http",
               "closed %u connection(s) whose request was not complete %lld s after connecting "
               "(server.request_timeout); raise it if real clients are that slow",
               n[CM_DROP_DEADLINE], g->timeout_ms / 1000);
    if (n[CM_DROP_PER_IP])
        cm_log(CM_LOG_WARNING, "http",
               "refused %u connection(s) from addresses that already had %u open, the last "
               "from %s (server.max_connections_per_ip; set it to 0 behind a proxy)",
               n[CM_DROP_PER_IP], g->per_ip, who);
}

/* Connections with a request in flight: from the accept (a client connects to send one) or
 * the start of a next request until its answer is sent. The caller holds the lock. */
static unsigned busy(const struct cm_http_guard *g)
{
    unsigned n = 0;
    for (const struct conn *e = g->head; e; e = e->next)
        n += !e->idle;
    return n;
}

unsigned cm_http_guard_drain(struct cm_http_guard *g, int timeout)
{
    struct timespec until;
    unsigned n;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout;
    pthread_mutex_lock(&g->lock);
    g->draining = 1;
    while ((n = busy(g)) && pthread_cond_timedwait(&g->change, &g->lock, &until) != ETIMEDOUT)
        ;
    n = busy(g);
    pthread_mutex_unlock(&g->lock);
    return n;
}

static void *reaper_main(void *arg)
{
    struct cm_http_guard *g = arg;
    struct timespec until;

    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
        unsigned n = reap(g, cm_monotonic_ms());
        g->unlogged[CM_DROP_DEADLINE] += n;
        pthread_mutex_unlock(&g->lock);
        for (unsigned i = 0; i < n; i++)
            cm_metrics_dropped(g->metrics, CM_DROP_DEADLINE);
        log_drops(g, cm_monotonic_ms());
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int cm_http_guard_new(struct cm_http_guard **out, struct cm_metrics *metrics, int per_ip,
                      int request_timeout, int connection_timeout)
{
    struct cm_http_guard *g = calloc(1, sizeof(*g));
    pthread_condattr_t ca;
    int e;

    if (!g)
        return CM_ENOMEM;
    g->metrics = metrics;
    g->per_ip = per_ip > 0 ? (unsigned)per_ip : 0;
    g->timeout_ms = (long long)request_timeout * 1000;
    g->idle_ms = (long long)connection_timeout * 1000;
    for (int r = 0; r < CM_DROP_N; r++)
        g->logged_at[r] = -LOG_EVERY_MS;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_cond_init(&g->change, &ca);
    pthread_condattr_destroy(&ca);
    if ((e = pthread_create(&g->reaper, NULL, reaper_main, g))) {
        errno = e; /* for the caller's message */
        pthread_cond_destroy(&g->change);
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return CM_ERROR;
    }
    *out = g;
    return CM_OK;
}

void cm_http_guard_free(struct cm_http_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = 1;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->reaper, NULL);
    log_drops(g, cm_monotonic_ms() + LOG_EVERY_MS); /* what was not said yet */
    /* MHD_stop_daemon sent every CLOSED notice: the lists are empty but for a reservation
     * some thread never got to give back. */
    for (int b = 0; b < BUCKETS; b++) {
        while (g->buckets[b]) {
            struct ip_count *ip = g->buckets[b];
            g->buckets[b] = ip->next;
            free(ip);
        }
    }
    while (g->head) {
        struct conn *e = g->head;
        conn_unlink(g, e);
        free(e);
    }
    pthread_cond_destroy(&g->change);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
