/* SPDX-License-Identifier: MIT */
/*
 * Accepting into the PostgreSQL queue: one transaction per request, committed before its 202
 * (the delivery id, the entries, their job rows counted and made pending), with the queue's
 * limits checked across the cluster and one NOTIFY when a row wakes up.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "intake/event.h"
#include "queue/pg_internal.h"
#include "util/deadline.h"

/* --- append ----------------------------------------------------------------------------- */

/* One event: its delivery's dedupe key recorded (a key already there, committed or being
 * committed, makes it a duplicate), skipped when an entry of its repository that no sync has
 * claimed yet asks for the same changes, else stored and its job row counted and made
 * pending. Entries in a sync do not cover: main 1->2, 2->1 (forced), both claimed, then 1->2
 * again after the fetch saw 1 must be synced again. Returns the entry's id, or no row for a
 * duplicate, and whether the row went idle -> pending. */
static const char pgq_append_sql[] =
    "WITH d AS ("
    "  INSERT INTO cargoman_deliveries (dedupe_key) SELECT $1::text WHERE $1::text IS NOT NULL"
    "  ON CONFLICT DO NOTHING RETURNING 1),"
    " go AS ("
    "  SELECT 1 WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM d)) AND NOT EXISTS ("
    "    SELECT 1 FROM cargoman_entries WHERE repo_key = $2 AND changes = md5($4) AND seq > "
    "    coalesce((SELECT claimed_seq FROM cargoman_jobs WHERE repo_key = $2"
    "              AND state = 'claimed'), 0))),"
    " j AS ("
    "  INSERT INTO cargoman_jobs AS j (repo_key, endpoint, state, dirty_seq, woke_seq, queued)"
    "  SELECT $2, $3, 'pending', 1, 1, 1 FROM go"
    "  ON CONFLICT (repo_key) DO UPDATE SET dirty_seq = j.dirty_seq + 1, queued = j.queued + 1,"
    "    state = CASE WHEN j.state = 'idle' THEN 'pending' ELSE j.state END,"
    "    woke_seq = CASE WHEN j.state = 'idle' THEN j.dirty_seq + 1 ELSE j.woke_seq END"
    "  RETURNING j.dirty_seq, j.woke_seq = j.dirty_seq AS woke),"
    " e AS ("
    "  INSERT INTO cargoman_entries (repo_key, seq, changes, event)"
    "  SELECT $2, dirty_seq, md5($4), $5 FROM j RETURNING id)"
    "SELECT e.id, j.woke FROM e, j";

/* Entries queued in all and for endpoint, as this transaction sees them (its own appends
 * and what others committed): one statement for both limits. */
static int pgq_sums(struct cm_pgq *g, struct cm_pg_conn *c, const char *endpoint,
                    unsigned long long *all, unsigned long long *mine, char *err, size_t errlen)
{
    const char *params[1] = {endpoint};
    PGresult *r;
    int rc = cm_pgq_exec(g, c,
                         "SELECT coalesce(sum(queued), 0), coalesce(sum(queued) FILTER (WHERE"
                         " endpoint = $1), 0) FROM cargoman_jobs WHERE queued > 0",
                         1, params, &r, err, errlen);
    if (rc == CM_OK) {
        *all = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        *mine = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
    }
    return rc;
}

/* After the events are in, inside the same transaction: whether the queue now holds more
 * than the limits allow, for endpoint and in all. Appends of other
 * nodes that have not committed are not seen, so a check that finds the queue within
 * CM_PGQ_LIMIT_SLACK of a limit first takes one lock of the whole cluster and looks again:
 * near a limit, appends are checked one at a time, each seeing what the one before committed
 * (the lock lasts until COMMIT), while far from it they do not wait for each other. Exact as
 * long as fewer appends than the slack are in flight at once across the cluster. CM_OK, a
 * CM_QUEUE_EFULL* status, or the connection's failure. */
static int pgq_within(struct cm_pgq *g, struct cm_pg_conn *c, const struct cm_queue_limits *lim,
                      const char *endpoint, char *err, size_t errlen)
{
    unsigned long long all, mine;
    int rc, locked = 0;

    if (!lim || (!lim->max_queued && !lim->max_queued_endpoint))
        return CM_OK;
    for (;;) {
        if ((rc = pgq_sums(g, c, endpoint, &all, &mine, err, errlen)) != CM_OK)
            return rc;
        if (lim->max_queued && all > lim->max_queued)
            return CM_QUEUE_EFULL;
        if (lim->max_queued_endpoint && mine > lim->max_queued_endpoint)
            return CM_QUEUE_EFULL_ENDPOINT;
        if (locked ||
            ((!lim->max_queued || all + CM_PGQ_LIMIT_SLACK <= lim->max_queued) &&
             (!lim->max_queued_endpoint || mine + CM_PGQ_LIMIT_SLACK <= lim->max_queued_endpoint)))
            return CM_OK;
        rc = cm_pgq_exec(g, c, "SELECT pg_advisory_xact_lock(" CM_PGQ_LIMIT_LOCK ")", 0, NULL, NULL,
                         err, errlen);
        if (rc != CM_OK)
            return rc;
        locked = 1;
    }
}

/* Whether this node may NOTIFY now (at most one per CM_PGQ_NOTIFY_MS). */
static int pgq_may_notify(struct cm_pgq *g)
{
    long long now = cm_monotonic_ms();
    int may;

    pthread_mutex_lock(&g->mu);
    may = now - g->last_notify_ms >= CM_PGQ_NOTIFY_MS;
    if (may)
        g->last_notify_ms = now;
    pthread_mutex_unlock(&g->mu);
    return may;
}

int cm_pgq_append(struct cm_queue *q, struct cm_event *const *events, const char *const *dkeys,
                  size_t n, const struct cm_queue_limits *limits, uint64_t *ids_out)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c = NULL;
    char **keys = calloc(n + 1, sizeof(*keys)), **ckeys = calloc(n + 1, sizeof(*ckeys));
    char **eps = calloc(n + 1, sizeof(*eps)), err[512] = "";
    size_t stored = 0;
    int woke = 0, rc = keys && ckeys && eps ? CM_OK : CM_ENOMEM;

    for (size_t i = 0; i < n; i++)
        ids_out[i] = 0;
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *ep = cm_event_get(events[i], CM_FIELD_ENDPOINT);
        const char *repo = cm_event_get(events[i], CM_FIELD_REPOSITORY);
        size_t len;
        if (!ep || !repo) {
            rc = CM_EINVAL; /* the dispatcher sets both on every event */
            break;
        }
        len = strlen(ep) + strlen(repo) + 2;
        if (!(keys[i] = malloc(len)) || !(eps[i] = strdup(ep)) ||
            !(ckeys[i] = cm_event_changes_key(events[i]))) {
            rc = CM_ENOMEM;
            break;
        }
        snprintf(keys[i], len, "%s/%s", ep, repo);
    }
    if (rc == CM_OK && (rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err))) != CM_OK)
        c = NULL;
    if (rc == CM_OK)
        rc = cm_pgq_exec(g, c, "BEGIN", 0, NULL, NULL, err, sizeof(err));
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *dk = dkeys && dkeys[i] && *dkeys[i] ? dkeys[i] : NULL;
        const char *params[5] = {dk, keys[i], eps[i], ckeys[i], cm_event_json(events[i])};
        PGresult *r;
        if (!params[4]) {
            rc = CM_ENOMEM;
            break;
        }
        if ((rc = cm_pgq_exec(g, c, pgq_append_sql, 5, params, &r, err, sizeof(err))) != CM_OK)
            break;
        if (PQntuples(r) == 1) {
            ids_out[i] = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
            woke |= PQgetvalue(r, 0, 1)[0] == 't';
            stored++;
        }
        PQclear(r);
    }
    if (rc == CM_OK && stored)
        for (size_t i = 0; rc == CM_OK && i < n; i++) {
            size_t k = 0;
            while (k < i && strcmp(eps[k], eps[i]) != 0)
                k++;
            if (k == i) /* each endpoint once: a request's events share theirs */
                rc = pgq_within(g, c, limits, eps[i], err, sizeof(err));
        }
    if (rc == CM_OK && woke && pgq_may_notify(g))
        rc = cm_pgq_exec(g, c, "SELECT pg_notify('cargoman_jobs', '')", 0, NULL, NULL, err,
                         sizeof(err));
    if (c)
        rc = cm_pgq_end(g, c, rc);
    if (c)
        cm_pg_pool_put(g->pool, c);
    if (rc == CM_ERROR || rc == CM_EAGAIN)
        cm_pgq_warn(g, "cannot accept into the queue", err);
    if (rc == CM_ERROR)
        rc = CM_EAGAIN; /* the database refused: nothing stored, answer 503 */
    if (rc != CM_OK)
        for (size_t i = 0; i < n; i++)
            ids_out[i] = 0;
    else if (!stored && n)
        rc = CM_EIGNORE;
    if (rc == CM_OK || rc == CM_EIGNORE || rc == CM_QUEUE_EFULL || rc == CM_QUEUE_EFULL_ENDPOINT)
        cm_pgq_answered(g);
    if (rc == CM_OK && woke)
        cm_pgq_wake_all(g);
    for (size_t i = 0; i < n; i++) {
        if (keys)
            free(keys[i]);
        if (ckeys)
            free(ckeys[i]);
        if (eps)
            free(eps[i]);
    }
    free(keys);
    free(ckeys);
    free(eps);
    return rc;
}
