/* SPDX-License-Identifier: MIT */
/*
 * The queue on PostgreSQL, shared by every gateway of a cluster (the schema and its
 * invariants: pg_schema.c). Accepting is one transaction committed before the 202: the
 * delivery's dedupe key, the entry, and its repository's job row made pending (pg_append.c).
 * A worker claims a pending row with SKIP LOCKED under a lease and a new fence, and hands it
 * back naming that fence, so a node whose lease was taken over (it stalled, or was cut off)
 * changes nothing (pg_claim.c). A keeper thread renews the leases of this node's claims and
 * returns expired ones; a listener thread wakes claims on NOTIFY, sent only when a row goes
 * idle to pending, at most every CM_PGQ_NOTIFY_MS per node, with a poll each second behind it
 * (pg_keeper.c). This file opens and closes it, and answers what the status routes ask.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cargoman/plugin.h>

#include "queue/pg_internal.h"
#include "queue/pg_schema.h"
#include "util/deadline.h"

struct cm_pgq *cm_pgq_of(struct cm_queue *q)
{
    return (struct cm_pgq *)q;
}

void cm_pgq_wake_all(struct cm_pgq *g)
{
    pthread_mutex_lock(&g->mu);
    g->wakes++;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->mu);
}

/* Tell the operator why the database failed, at most every 10 s (a database that is down
 * fails every request). */
void cm_pgq_warn(struct cm_pgq *g, const char *what, const char *err)
{
    long long now = cm_monotonic_ms();
    char msg[640];
    int say;

    if (g->opt.failed)
        g->opt.failed(g->opt.warn_arg);
    if (!g->opt.warn)
        return;
    pthread_mutex_lock(&g->mu);
    say = !g->last_warn_ms || now - g->last_warn_ms >= 10000;
    if (say)
        g->last_warn_ms = now;
    g->failing = 1;
    pthread_mutex_unlock(&g->mu);
    if (say) {
        snprintf(msg, sizeof(msg), "%s: %s (check queue.conninfo and that the database is up)",
                 what, err);
        g->opt.warn(g->opt.warn_arg, msg);
    }
}

/* A statement went through: after failures, say so once, so the log shows the outage's end. */
void cm_pgq_answered(struct cm_pgq *g)
{
    int was;

    pthread_mutex_lock(&g->mu);
    was = g->failing;
    g->failing = 0;
    g->last_warn_ms = 0;
    pthread_mutex_unlock(&g->mu);
    if (was && g->opt.warn)
        g->opt.warn(g->opt.warn_arg, "the database answers again");
}

/* Run a statement on a pooled connection, or on c when it is given (a transaction). */
int cm_pgq_exec(struct cm_pgq *g, struct cm_pg_conn *c, const char *sql, int n,
                const char *const *params, PGresult **res, char *err, size_t errlen)
{
    return cm_pg_exec(c, sql, n, params, cm_pg_pool_timeout(g->pool), res, err, errlen);
}

/* End the transaction on c: COMMIT when rc is CM_OK, else ROLLBACK (a broken connection is
 * dropped by the pool). Returns rc, or COMMIT's failure. */
int cm_pgq_end(struct cm_pgq *g, struct cm_pg_conn *c, int rc)
{
    char err[256];

    if (cm_pg_broken(c))
        return rc == CM_OK ? CM_EAGAIN : rc;
    if (rc == CM_OK) {
        /* A COMMIT whose answer is lost may have committed: the caller answers 503 and the
         * host's retry is then a duplicate, which is the safe side. */
        int crc = cm_pgq_exec(g, c, "COMMIT", 0, NULL, NULL, err, sizeof(err));
        return crc == CM_OK ? CM_OK : CM_EAGAIN;
    }
    cm_pgq_exec(g, c, "ROLLBACK", 0, NULL, NULL, err, sizeof(err));
    return rc;
}

static int pgq_queued(struct cm_queue *q, const char *endpoint, const char *repository)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c;
    size_t len = strlen(endpoint) + strlen(repository) + 2;
    char *key = malloc(len), err[256];
    const char *params[1] = {key};
    PGresult *r;
    int found = 1; /* the cautious answer: known, so no new-repository limit is spent on it */

    if (!key)
        return 1;
    snprintf(key, len, "%s/%s", endpoint, repository);
    if (cm_pg_pool_get(g->pool, &c, err, sizeof(err)) == CM_OK) {
        if (cm_pgq_exec(g, c, "SELECT 1 FROM cargoman_jobs WHERE repo_key = $1 AND queued > 0", 1,
                        params, &r, err, sizeof(err)) == CM_OK) {
            found = PQntuples(r) > 0;
            PQclear(r);
        }
        cm_pg_pool_put(g->pool, c);
    }
    free(key);
    return found;
}

/* --- status ----------------------------------------------------------------------------- */

static size_t pgq_depth(struct cm_queue *q)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c;
    char err[256];
    PGresult *r;
    size_t depth;

    if (cm_pg_pool_get(g->pool, &c, err, sizeof(err)) == CM_OK) {
        if (cm_pgq_exec(g, c, "SELECT coalesce(sum(queued), 0) FROM cargoman_jobs WHERE queued > 0",
                        0, NULL, &r, err, sizeof(err)) == CM_OK) {
            pthread_mutex_lock(&g->mu);
            g->last_depth = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
            pthread_mutex_unlock(&g->mu);
            PQclear(r);
        }
        cm_pg_pool_put(g->pool, c);
    }
    pthread_mutex_lock(&g->mu);
    depth = g->last_depth; /* the last known figure while the database is away */
    pthread_mutex_unlock(&g->mu);
    return depth;
}

static long long pgq_oldest_age(struct cm_queue *q, long long now)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c;
    char err[256], now_s[32];
    const char *params[1] = {now_s};
    PGresult *r;
    long long age = 0;

    snprintf(now_s, sizeof(now_s), "%lld", now);
    if (cm_pg_pool_get(g->pool, &c, err, sizeof(err)) != CM_OK)
        return 0;
    if (cm_pgq_exec(g, c,
                    "SELECT coalesce(max($1::bigint - extract(epoch FROM greatest(j.run_at, "
                    "(SELECT min(accepted_at) FROM cargoman_entries e WHERE e.repo_key = "
                    "j.repo_key)))::bigint), 0) FROM cargoman_jobs j"
                    " WHERE j.state = 'pending' AND j.run_at <= now()",
                    1, params, &r, err, sizeof(err)) == CM_OK) {
        age = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    cm_pg_pool_put(g->pool, c);
    return age > 0 ? age : 0;
}

/* --- open and close --------------------------------------------------------------------- */

static void pgq_shutdown(struct cm_queue *q)
{
    struct cm_pgq *g = cm_pgq_of(q);

    pthread_mutex_lock(&g->mu);
    g->closing = 1;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->mu);
}

static void pgq_close(struct cm_queue *q)
{
    struct cm_pgq *g = cm_pgq_of(q);

    if (!g)
        return;
    pgq_shutdown(q);
    if (g->keeper_up)
        pthread_join(g->keeper, NULL);
    if (g->listener_up)
        pthread_join(g->listener, NULL);
    while (g->held) {
        struct cm_pgq_held *h = g->held;
        g->held = h->next;
        free(h->key);
        free(h);
    }
    cm_pg_pool_free(g->pool);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->wake);
    free(g->conninfo);
    free(g->node);
    free(g);
}

static const struct cm_queue_ops pgq_ops = {
    .append = cm_pgq_append,
    .queued = pgq_queued,
    .claim = cm_pgq_claim,
    .complete = cm_pgq_complete,
    .retry = cm_pgq_retry,
    .give_up = cm_pgq_give_up,
    .depth = pgq_depth,
    .oldest_age = pgq_oldest_age,
    .shutdown = pgq_shutdown,
    .close = pgq_close,
    .state = &cm_pgq_state_ops,
};

/* host:pid:random, so the rows a node holds can be told apart in the table. */
static char *pgq_node_name(void)
{
    char host[256] = "node", *s;
    unsigned r = (unsigned)cm_monotonic_ms() ^ (unsigned)getpid() * 2654435761u;

    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if ((s = malloc(strlen(host) + 32)) != NULL)
        sprintf(s, "%s:%d:%08x", host, (int)getpid(), r);
    return s;
}

int cm_pg_queue_open(struct cm_queue **out, const struct cm_pg_options *opt, char *err,
                     size_t errlen)
{
    struct cm_pgq *g = calloc(1, sizeof(*g));
    struct cm_pg_conn *c = NULL;
    int rc;

    *out = NULL;
    if (!g)
        return CM_ENOMEM;
    g->q.ops = &pgq_ops;
    g->opt = *opt;
    g->opt.conninfo = NULL;
    if (g->opt.lease_seconds < 2)
        g->opt.lease_seconds = 2;
    if (g->opt.connections < 2)
        g->opt.connections = 2;
    if (g->opt.timeout_ms < 100)
        g->opt.timeout_ms = 100;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (!(g->conninfo = strdup(opt->conninfo)) || !(g->node = pgq_node_name()) ||
        cm_pg_pool_new(&g->pool, opt->conninfo, g->opt.connections, g->opt.timeout_ms) != CM_OK) {
        pgq_close(&g->q);
        return CM_ENOMEM;
    }
    /* The database must answer and have this build's schema before anything is accepted. */
    if ((rc = cm_pg_pool_get(g->pool, &c, err, errlen)) == CM_OK) {
        rc = cm_pg_schema_check(c, g->opt.timeout_ms, err, errlen);
        cm_pg_pool_put(g->pool, c);
    }
    if (rc == CM_OK && pthread_create(&g->keeper, NULL, cm_pgq_keeper, g) == 0)
        g->keeper_up = 1;
    else if (rc == CM_OK)
        rc = CM_ENOMEM;
    if (rc == CM_OK && pthread_create(&g->listener, NULL, cm_pgq_listener, g) == 0)
        g->listener_up = 1;
    else if (rc == CM_OK)
        rc = CM_ENOMEM;
    if (rc != CM_OK) {
        pgq_close(&g->q);
        return rc;
    }
    *out = &g->q;
    return CM_OK;
}

const char *cm_pg_queue_node(struct cm_queue *q)
{
    return cm_pgq_of(q)->node;
}

int cm_pg_queue_migrate(const char *conninfo, int timeout_ms, int *from, int *to, char *err,
                        size_t errlen)
{
    struct cm_pg_conn *c;
    int rc;

    *from = *to = 0;
    if ((rc = cm_pg_connect(&c, conninfo, timeout_ms, err, errlen)) != CM_OK)
        return rc;
    rc = cm_pg_migrate(c, timeout_ms, from, to, err, errlen);
    cm_pg_close(c);
    return rc;
}
