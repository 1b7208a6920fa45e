/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL queue's two threads: the keeper renews this node's leases, returns expired
 * ones of any node (as failed attempts) and prunes what has outlived its time; the listener
 * wakes this node's claims on NOTIFY.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "queue/pg_internal.h"
#include "util/deadline.h"

/* --- keeper and listener ---------------------------------------------------------------- */

/* Sleep up to ms, returning early (1) once the queue closes. */
static int pgq_nap(struct cm_pgq *g, long long ms)
{
    struct timespec until = cm_realtime_after_ms(ms);
    int closing;

    pthread_mutex_lock(&g->mu);
    while (!g->closing && pthread_cond_timedwait(&g->wake, &g->mu, &until) == 0)
        ;
    closing = g->closing;
    pthread_mutex_unlock(&g->mu);
    return closing;
}

/* Renew this node's leases; return expired ones of any node to pending; forget delivery ids
 * past the dedupe window. A returned claim counts as a failed attempt, with its reason: a
 * repository whose sync kills or hangs every node that takes it is then retried with backoff
 * (the first return is at once: one node dying is not the repository's fault), not passed
 * from node to node for ever. */
static void pgq_keep_once(struct cm_pgq *g, struct cm_pg_conn *c, int sweep_deliveries)
{
    char lease[16], err[256], age[32];
    PGresult *r;

    snprintf(lease, sizeof(lease), "%d", g->opt.lease_seconds);
    pthread_mutex_lock(&g->mu);
    size_t n = 0;
    for (struct cm_pgq_held *h = g->held; h; h = h->next)
        n++;
    char **keys = calloc(n + 1, sizeof(*keys));
    long long *fences = calloc(n + 1, sizeof(*fences));
    n = 0;
    for (struct cm_pgq_held *h = g->held; keys && fences && h; h = h->next) {
        if (!(keys[n] = strdup(h->key)))
            break;
        fences[n++] = h->fence;
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < n; i++) {
        char fence_s[32];
        const char *params[3] = {keys[i], fence_s, lease};
        snprintf(fence_s, sizeof(fence_s), "%lld", fences[i]);
        cm_pgq_exec(g, c,
                    "UPDATE cargoman_jobs SET lease_until = now() + make_interval(secs => $3::int)"
                    " WHERE repo_key = $1 AND fence = $2::bigint AND state = 'claimed'",
                    3, params, NULL, err, sizeof(err));
        free(keys[i]);
    }
    free(keys);
    free(fences);
    cm_pgq_state_renew(g, c);
    if (cm_pgq_exec(
            g, c,
            "UPDATE cargoman_jobs SET state = 'pending', lease_until = NULL, node = NULL,"
            " attempts = attempts + 1, last_error = 'the sync on ' || coalesce(node, '?') ||"
            " ' did not finish: its lease ran out (the node died, hung or lost the"
            " database)', run_at = now() + make_interval(secs => CASE WHEN attempts = 0"
            " THEN 0 ELSE least(300, power(2, least(attempts, 9))) END)"
            " WHERE state = 'claimed' AND lease_until < now()",
            0, NULL, &r, err, sizeof(err)) == CM_OK) {
        int reaped = atoi(PQcmdTuples(r));
        PQclear(r);
        if (reaped > 0) {
            cm_pgq_exec(g, c, "SELECT pg_notify('cargoman_jobs', '')", 0, NULL, NULL, err,
                        sizeof(err));
            cm_pgq_wake_all(g);
        }
    }
    if (sweep_deliveries) {
        const char *params[1] = {age};
        snprintf(age, sizeof(age), "%lld", g->opt.dedupe_max_age);
        cm_pgq_exec(g, c,
                    "DELETE FROM cargoman_deliveries WHERE received_at < now() - "
                    "make_interval(secs => $1::bigint)",
                    1, params, NULL, err, sizeof(err));
        /* What was given up is kept as long as the delivery log keeps its records; a row of
         * a repository with nothing queued for a week goes (a push makes it again; fences
         * come from a sequence, so none is ever reused). */
        snprintf(age, sizeof(age), "%lld", g->opt.failed_max_age);
        if (g->opt.failed_max_age > 0)
            cm_pgq_exec(g, c,
                        "DELETE FROM cargoman_failed WHERE failed_at < now() - "
                        "make_interval(secs => $1::bigint)",
                        1, params, NULL, err, sizeof(err));
        cm_pgq_exec(g, c,
                    "DELETE FROM cargoman_jobs WHERE state = 'idle' AND queued = 0 AND"
                    " run_at < now() - interval '7 days'",
                    0, NULL, NULL, err, sizeof(err));
    }
}

void *cm_pgq_keeper(void *arg)
{
    struct cm_pgq *g = arg;
    long long every = g->opt.lease_seconds * 1000LL / 3, last_sweep = 0;
    struct cm_pg_conn *c = NULL;
    char err[256];

    if (every < 200)
        every = 200;
    do {
        if (c && cm_pg_broken(c)) {
            cm_pg_close(c);
            c = NULL;
        }
        if (!c && cm_pg_connect(&c, g->conninfo, cm_pg_pool_timeout(g->pool), err, sizeof(err)) !=
                      CM_OK) {
            cm_pgq_warn(g, "cannot renew leases", err);
            c = NULL;
        }
        if (c) {
            long long now = cm_monotonic_ms();
            int sweep = now - last_sweep >= 60000;
            pgq_keep_once(g, c, sweep);
            if (sweep)
                last_sweep = now;
        }
    } while (!pgq_nap(g, every));
    cm_pg_close(c);
    return NULL;
}

/* LISTEN, and wake the claims on every notification; reconnect when the connection goes. */
void *cm_pgq_listener(void *arg)
{
    struct cm_pgq *g = arg;
    struct cm_pg_conn *c = NULL;
    char err[256];

    for (;;) {
        pthread_mutex_lock(&g->mu);
        int closing = g->closing;
        pthread_mutex_unlock(&g->mu);
        if (closing)
            break;
        if (!c) {
            if (cm_pg_connect(&c, g->conninfo, cm_pg_pool_timeout(g->pool), err, sizeof(err)) !=
                    CM_OK ||
                cm_pg_exec(c, "LISTEN cargoman_jobs", 0, NULL, cm_pg_pool_timeout(g->pool), NULL,
                           err, sizeof(err)) != CM_OK) {
                cm_pg_close(c);
                c = NULL;
                if (pgq_nap(g, CM_PGQ_POLL_MS))
                    break;
                continue;
            }
            cm_pgq_wake_all(g); /* notifications may have been missed meanwhile */
        }
        PGconn *pg = cm_pg_raw(c);
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        int rc = poll(&p, 1, 250); /* short: a close is noticed within it */
        if (rc > 0) {
            PGnotify *n;
            int got = 0;
            if (!PQconsumeInput(pg)) {
                cm_pg_close(c);
                c = NULL;
                continue;
            }
            while ((n = PQnotifies(pg)) != NULL) {
                got = 1;
                PQfreemem(n);
            }
            if (got)
                cm_pgq_wake_all(g);
        }
    }
    cm_pg_close(c);
    return NULL;
}
