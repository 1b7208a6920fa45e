/* SPDX-License-Identifier: MIT */
/*
 * The sync plugins' state directories in PostgreSQL (struct cm_queue_state_ops): one row per
 * file, one lock with a lease for the node that runs the plugins, and publishing inside the
 * transaction that completes the job, so a node whose lease was taken over publishes nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cargoman/plugin.h"
#include "queue/pg_internal.h"

/* How often a node waiting for the state lock asks again: one waiter per node (the node
 * mutex holds the others), and most plugin runs take a few milliseconds, so a longer nap
 * would leave the lock idle more than held. */
#define PS_LOCK_POLL_MS 10
/* What a pull reads per statement, at most: a node that was away reads the whole index in
 * pieces, and big p2 files a few at a time (one alone may pass the byte bound). */
#define PS_PULL_ROWS "200"
#define PS_PULL_BYTES "33554432"

/* Take the lock when it is free or its lease ran out; a row back means this node has it. */
static const char ps_lock_sql[] =
    "INSERT INTO cargoman_state_lock AS l (name, node, fence, lease_until)"
    " VALUES ('plugins', $1, nextval('cargoman_fence'),"
    "         now() + make_interval(secs => $2::int))"
    " ON CONFLICT (name) DO UPDATE SET node = EXCLUDED.node, fence = EXCLUDED.fence,"
    "   lease_until = EXCLUDED.lease_until WHERE l.lease_until < now()"
    " RETURNING fence";

static void ps_nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int ps_closing(struct cm_pgq *g)
{
    pthread_mutex_lock(&g->mu);
    int closing = g->closing;
    pthread_mutex_unlock(&g->mu);
    return closing;
}

static int ps_lock(struct cm_queue *q, long long *fence)
{
    struct cm_pgq *g = cm_pgq_of(q);
    char lease[16], err[256] = "";
    const char *params[2] = {g->node, lease};
    int rc = CM_EAGAIN;

    *fence = 0;
    snprintf(lease, sizeof(lease), "%d", g->opt.lease_seconds);
    while (!ps_closing(g)) {
        struct cm_pg_conn *c;
        PGresult *r;
        if ((rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err))) != CM_OK)
            break;
        rc = cm_pgq_exec(g, c, ps_lock_sql, 2, params, &r, err, sizeof(err));
        if (rc == CM_OK && PQntuples(r) == 1)
            *fence = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        if (rc == CM_OK)
            PQclear(r);
        cm_pg_pool_put(g->pool, c);
        if (rc != CM_OK)
            break;
        cm_pgq_answered(g);
        if (*fence) {
            pthread_mutex_lock(&g->mu);
            g->state_fence = *fence;
            pthread_mutex_unlock(&g->mu);
            return CM_OK;
        }
        ps_nap(PS_LOCK_POLL_MS);
    }
    if (rc != CM_OK) {
        cm_pgq_warn(g, "cannot take the lock on the shared plugin state", err);
        return CM_EAGAIN;
    }
    return CM_ERROR;
}

static void ps_unlock(struct cm_queue *q, long long fence)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c;
    char fence_s[32], err[256];
    const char *params[1] = {fence_s};

    pthread_mutex_lock(&g->mu);
    if (g->state_fence == fence)
        g->state_fence = 0;
    pthread_mutex_unlock(&g->mu);
    snprintf(fence_s, sizeof(fence_s), "%lld", fence);
    /* Failing to release costs the others one lease; nothing is wrong with the data. */
    if (cm_pg_pool_get(g->pool, &c, err, sizeof(err)) == CM_OK) {
        cm_pgq_exec(g, c,
                    "UPDATE cargoman_state_lock SET lease_until = '-infinity'"
                    " WHERE name = 'plugins' AND fence = $1::bigint",
                    1, params, NULL, err, sizeof(err));
        cm_pg_pool_put(g->pool, c);
    }
}

void cm_pgq_state_renew(struct cm_pgq *g, struct cm_pg_conn *c)
{
    char fence_s[32], lease[16], err[256];
    const char *params[2] = {fence_s, lease};
    long long fence;

    pthread_mutex_lock(&g->mu);
    fence = g->state_fence;
    pthread_mutex_unlock(&g->mu);
    if (!fence)
        return;
    snprintf(fence_s, sizeof(fence_s), "%lld", fence);
    snprintf(lease, sizeof(lease), "%d", g->opt.lease_seconds);
    cm_pgq_exec(
        g, c,
        "UPDATE cargoman_state_lock SET lease_until = now() + make_interval(secs => $2::int)"
        " WHERE name = 'plugins' AND fence = $1::bigint",
        2, params, NULL, err, sizeof(err));
}

/* Unescape a bytea column read as text. */
static int ps_body(PGresult *r, int row, int col, void **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (PQgetisnull(r, row, col))
        return CM_OK;
    *body = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), len);
    return *body ? CM_OK : CM_ENOMEM;
}

static int ps_pull(struct cm_queue *q, const char *instance, long long since, cm_state_doc_cb cb,
                   void *arg)
{
    struct cm_pgq *g = cm_pgq_of(q);
    char since_s[32], err[256] = "";
    const char *params[2] = {instance, since_s};
    int rc = CM_OK, rows;

    do {
        struct cm_pg_conn *c;
        PGresult *r = NULL;
        snprintf(since_s, sizeof(since_s), "%lld", since);
        if ((rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err))) != CM_OK)
            break;
        rc = cm_pgq_exec(g, c,
                         "SELECT path, version, body FROM (SELECT path, version, body,"
                         "  sum(coalesce(octet_length(body), 0)) OVER (ORDER BY version) -"
                         "  coalesce(octet_length(body), 0) AS before"
                         "  FROM cargoman_state WHERE instance = $1 AND version > $2::bigint"
                         "  ORDER BY version LIMIT " PS_PULL_ROWS ") x"
                         " WHERE before < " PS_PULL_BYTES " ORDER BY version",
                         2, params, &r, err, sizeof(err));
        cm_pg_pool_put(g->pool, c);
        if (rc != CM_OK)
            break;
        rows = PQntuples(r);
        for (int i = 0; rc == CM_OK && i < rows; i++) {
            void *body;
            size_t len;
            since = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            if ((rc = ps_body(r, i, 2, &body, &len)) == CM_OK)
                rc = cb(arg, PQgetvalue(r, i, 0), body, len, since);
            PQfreemem(body);
        }
        PQclear(r);
    } while (rc == CM_OK && rows > 0);
    if (rc == CM_EAGAIN || (rc == CM_ERROR && err[0])) {
        cm_pgq_warn(g, "cannot read the shared plugin state", err);
        return CM_EAGAIN;
    }
    if (rc == CM_OK)
        cm_pgq_answered(g);
    return rc;
}

struct ps_publish {
    long long fence;
    struct cm_state_doc *docs;
    size_t n;
};

/* Inside the completing transaction: the lock still ours (its row locked, so versions are
 * taken in commit order), then each document. */
static int ps_publish_in(struct cm_pgq *g, struct cm_pg_conn *c, void *arg, char *err,
                         size_t errlen)
{
    struct ps_publish *p = arg;
    char fence_s[32];
    const char *lp[1] = {fence_s};
    PGresult *r;
    int rc, held;

    snprintf(fence_s, sizeof(fence_s), "%lld", p->fence);
    rc = cm_pgq_exec(g, c,
                     "SELECT 1 FROM cargoman_state_lock WHERE name = 'plugins' AND"
                     " fence = $1::bigint AND lease_until > now() FOR UPDATE",
                     1, lp, &r, err, errlen);
    if (rc != CM_OK)
        return rc;
    held = PQntuples(r) == 1;
    PQclear(r);
    if (!held) {
        snprintf(err, errlen, "the lease on the shared plugin state ran out before the publish");
        return CM_EAGAIN;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct cm_state_doc *d = &p->docs[i];
        const char *params[3] = {d->instance, d->path, d->body ? d->body : NULL};
        int lengths[3] = {-1, -1, d->body ? (int)d->len : 0};
        if (d->len > 0x7fffffff) {
            snprintf(err, errlen, "%s/%s is too large to share (%zu bytes)", d->instance, d->path,
                     d->len);
            return CM_ERROR;
        }
        rc = cm_pg_exec_bin(c,
                            "INSERT INTO cargoman_state (instance, path, version, body)"
                            " VALUES ($1, $2, nextval('cargoman_state_version'), $3)"
                            " ON CONFLICT (instance, path) DO UPDATE SET version ="
                            " EXCLUDED.version, body = EXCLUDED.body, updated_at = now()"
                            " RETURNING version",
                            3, params, lengths, cm_pg_pool_timeout(g->pool), &r, err, errlen);
        if (rc != CM_OK)
            return rc;
        d->version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    return p->n ? cm_pgq_exec(g, c, "SELECT pg_notify('cargoman_state', '')", 0, NULL, NULL, err,
                              errlen)
                : CM_OK;
}

static int ps_publish(struct cm_queue *q, struct cm_job *job, long long fence,
                      struct cm_state_doc *docs, size_t n)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct ps_publish p = {fence, docs, n};
    struct cm_pg_conn *c;
    char err[256] = "";
    int rc;

    if (job)
        return cm_pgq_complete_with(q, job, ps_publish_in, &p);
    if ((rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err))) == CM_OK) {
        rc = cm_pgq_exec(g, c, "BEGIN", 0, NULL, NULL, err, sizeof(err));
        if (rc == CM_OK)
            rc = ps_publish_in(g, c, &p, err, sizeof(err));
        rc = cm_pgq_end(g, c, rc);
        cm_pg_pool_put(g->pool, c);
    }
    if (rc != CM_OK)
        cm_pgq_warn(g, "cannot publish the shared plugin state", err);
    return rc == CM_OK ? CM_OK : CM_EAGAIN;
}

static int ps_lookup(struct cm_queue *q, const char *instance, const char *path, long long have,
                     long long *version, void **body, size_t *len)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c;
    char have_s[32], err[256] = "";
    const char *params[3] = {instance, path, have_s};
    PGresult *r = NULL;
    int rc;

    *version = 0;
    *body = NULL;
    *len = 0;
    snprintf(have_s, sizeof(have_s), "%lld", have);
    if ((rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err))) == CM_OK) {
        rc = cm_pgq_exec(g, c,
                         "SELECT version, CASE WHEN version = $3::bigint THEN NULL ELSE body END"
                         " FROM cargoman_state WHERE instance = $1 AND path = $2 AND"
                         " body IS NOT NULL",
                         3, params, &r, err, sizeof(err));
        cm_pg_pool_put(g->pool, c);
    }
    if (rc != CM_OK) {
        cm_pgq_warn(g, "cannot read the shared plugin state", err);
        return CM_EAGAIN;
    }
    cm_pgq_answered(g);
    if (PQntuples(r) == 1) {
        void *b;
        *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        if ((rc = ps_body(r, 0, 1, &b, len)) == CM_OK && b) {
            /* Handed over as malloc'd memory: the caller frees with free(). */
            if ((*body = malloc(*len ? *len : 1)) != NULL)
                memcpy(*body, b, *len);
            else
                rc = CM_ENOMEM;
        }
        PQfreemem(b);
    }
    PQclear(r);
    return rc;
}

const struct cm_queue_state_ops cm_pgq_state_ops = {
    .lock = ps_lock,
    .unlock = ps_unlock,
    .pull = ps_pull,
    .publish = ps_publish,
    .lookup = ps_lookup,
    .gone_mark = cm_pgq_gone_mark,
    .gone_check = cm_pgq_gone_check,
};
