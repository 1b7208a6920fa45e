/* SPDX-License-Identifier: MIT */
/*
 * Claims on the PostgreSQL queue: a pending row taken with SKIP LOCKED under a lease and a new
 * fence, its entries merged into one job; and the hand-backs (done, retry, given up), each
 * changing nothing unless it names the fence the row still has.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cargoman/plugin.h>

#include "intake/event.h"
#include "queue/pg_internal.h"
#include "util/deadline.h"

/* --- claim ------------------------------------------------------------------------------ */

static const char pgq_claim_sql[] =
    "UPDATE cargoman_jobs j SET state = 'claimed', claimed_seq = j.dirty_seq,"
    "  fence = nextval('cargoman_fence'), node = $1,"
    "  lease_until = now() + make_interval(secs => $2::int)"
    " FROM (SELECT repo_key FROM cargoman_jobs WHERE state = 'pending' AND run_at <= now()"
    "       ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED) c"
    " WHERE j.repo_key = c.repo_key"
    " RETURNING j.repo_key, j.claimed_seq, j.fence, j.attempts, j.last_error";

static const char pgq_entries_sql[] =
    "SELECT id, event, extract(epoch FROM accepted_at)::bigint,"
    " floor(extract(epoch FROM accepted_at) * 1000)::bigint FROM cargoman_entries"
    " WHERE repo_key = $1 AND seq <= $2::bigint ORDER BY id";

/* Milliseconds until the next pending row is due (at most CM_PGQ_POLL_MS). */
static const char pgq_next_sql[] =
    "SELECT coalesce(ceil(extract(epoch FROM min(run_at) - now()) * 1000)::bigint, $1::bigint)"
    " FROM cargoman_jobs WHERE state = 'pending'";

static int pgq_hold(struct cm_pgq *g, const struct cm_job *job, long long fence)
{
    struct cm_pgq_held *h = calloc(1, sizeof(*h));

    if (!h || !(h->key = strdup(job->key))) {
        free(h);
        return CM_ENOMEM;
    }
    h->job = job;
    h->fence = fence;
    pthread_mutex_lock(&g->mu);
    h->next = g->held;
    g->held = h;
    pthread_mutex_unlock(&g->mu);
    return CM_OK;
}

/* Forget job; its fence into *fence. CM_OK, or CM_EINVAL when it is not one of ours. */
static int pgq_unhold(struct cm_pgq *g, const struct cm_job *job, long long *fence)
{
    struct cm_pgq_held **p, *h = NULL;

    pthread_mutex_lock(&g->mu);
    for (p = &g->held; *p; p = &(*p)->next) {
        if ((*p)->job == job) {
            h = *p;
            *p = h->next;
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (!h)
        return CM_EINVAL;
    *fence = h->fence;
    free(h->key);
    free(h);
    return CM_OK;
}

/* The job's entries read back and merged, as the spool does: an entry that does not read back
 * as an event leaves the job covering only such entries (event NULL, last_error why), and the
 * others wait for the next claim. job->ids holds the ids of r's rows, in order; the ids of the
 * unreadable ones are gathered at its front as they are met (never past the row being read).
 * CM_OK, CM_QUEUE_EUNREADABLE or CM_ENOMEM. */
static int pgq_job_event(struct cm_pgq *g, PGresult *r, struct cm_job *job)
{
    size_t n = (size_t)PQntuples(r), bad = 0;
    char why[256] = "", err[128];

    for (size_t i = 0; i < n; i++) {
        struct cm_event *ev = NULL;
        uint64_t id = strtoull(PQgetvalue(r, (int)i, 0), NULL, 10);
        int rc = cm_event_from_json(&ev, PQgetvalue(r, (int)i, 1), err, sizeof(err));
        if (rc == CM_ENOMEM)
            return CM_ENOMEM;
        if (rc != CM_OK) {
            if (!bad)
                snprintf(why, sizeof(why),
                         "queued entry %" PRIu64 " does not read back as an event: %s", id, err);
            job->ids[bad++] = id;
            continue;
        }
        if (!job->event) {
            job->event = ev;
            cm_event_cap_changes(ev, g->opt.max_refs);
        } else {
            rc = cm_event_merge(job->event, ev, g->opt.max_refs);
            cm_event_free(ev);
            if (rc != CM_OK)
                return rc;
        }
    }
    if (!bad)
        return CM_OK;
    /* Keep only the unreadable entries in the job. */
    cm_event_free(job->event);
    job->event = NULL;
    job->n_ids = bad;
    free(job->last_error);
    if (!(job->last_error = strdup(why)))
        return CM_ENOMEM;
    return CM_QUEUE_EUNREADABLE;
}

/* The job of a claimed row (r: its claim's result row) with its entries. CM_OK,
 * CM_QUEUE_EUNREADABLE, CM_ENOENT (the row has no entries: it was made idle), or a failure
 * (the row is left to its lease). */
static int pgq_job(struct cm_pgq *g, struct cm_pg_conn *c, PGresult *claim, struct cm_job **out)
{
    const char *params[2] = {PQgetvalue(claim, 0, 0), PQgetvalue(claim, 0, 1)};
    struct cm_job *job = calloc(1, sizeof(*job));
    PGresult *r = NULL;
    char err[256];
    int rc = job ? CM_OK : CM_ENOMEM;

    if (rc == CM_OK && !(job->key = strdup(params[0])))
        rc = CM_ENOMEM;
    if (rc == CM_OK)
        rc = cm_pgq_exec(g, c, pgq_entries_sql, 2, params, &r, err, sizeof(err));
    if (rc == CM_OK && PQntuples(r) == 0)
        rc = CM_ENOENT;
    if (rc == CM_OK && !(job->ids = calloc((size_t)PQntuples(r), sizeof(*job->ids))))
        rc = CM_ENOMEM;
    if (rc == CM_OK) {
        job->attempts = atoi(PQgetvalue(claim, 0, 3));
        if (!PQgetisnull(claim, 0, 4) && !(job->last_error = strdup(PQgetvalue(claim, 0, 4))))
            rc = CM_ENOMEM;
        job->accepted_at = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        job->accepted_ms = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        for (int i = 0; i < PQntuples(r); i++)
            job->ids[job->n_ids++] = strtoull(PQgetvalue(r, i, 0), NULL, 10);
    }
    if (rc == CM_OK)
        rc = pgq_job_event(g, r, job);
    PQclear(r);
    if (rc == CM_OK || rc == CM_QUEUE_EUNREADABLE) {
        int hrc = pgq_hold(g, job, strtoll(PQgetvalue(claim, 0, 2), NULL, 10));
        if (hrc != CM_OK)
            rc = hrc;
    }
    if (rc != CM_OK && rc != CM_QUEUE_EUNREADABLE) {
        cm_job_free(job);
        job = NULL;
    }
    *out = job;
    return rc;
}

/* A claimed row without entries (none were left, e.g. removed by hand) goes idle, or pending
 * when an append came meanwhile: queued is counted again, not assumed 0, so it never drifts
 * from the entries there are. */
static void pgq_idle(struct cm_pgq *g, struct cm_pg_conn *c, PGresult *claim)
{
    const char *params[2] = {PQgetvalue(claim, 0, 0), PQgetvalue(claim, 0, 2)};
    char err[256];

    cm_pgq_exec(g, c,
                "WITH n AS (SELECT count(*) AS n FROM cargoman_entries WHERE repo_key = $1)"
                " UPDATE cargoman_jobs SET state = CASE WHEN dirty_seq > claimed_seq OR"
                " (SELECT n FROM n) > 0 THEN 'pending' ELSE 'idle' END, queued = (SELECT n FROM n),"
                " lease_until = NULL, node = NULL"
                " WHERE repo_key = $1 AND fence = $2::bigint AND state = 'claimed'",
                2, params, NULL, err, sizeof(err));
}

/* One attempt: CM_OK with *out, CM_EAGAIN with *wait_ms when nothing is due, or a failure. */
static int pgq_try_claim(struct cm_pgq *g, struct cm_job **out, long long *wait_ms)
{
    struct cm_pg_conn *c;
    char lease[16], poll_ms[16], err[256];
    const char *params[2] = {g->node, lease};
    PGresult *r;
    int rc;

    *out = NULL;
    *wait_ms = CM_PGQ_POLL_MS;
    snprintf(lease, sizeof(lease), "%d", g->opt.lease_seconds);
    if ((rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err))) != CM_OK) {
        cm_pgq_warn(g, "cannot claim from the queue", err);
        return rc;
    }
    for (;;) {
        if ((rc = cm_pgq_exec(g, c, pgq_claim_sql, 2, params, &r, err, sizeof(err))) != CM_OK) {
            cm_pgq_warn(g, "cannot claim from the queue", err);
            break;
        }
        cm_pgq_answered(g);
        if (PQntuples(r) == 0) {
            const char *np[1] = {poll_ms};
            PQclear(r);
            snprintf(poll_ms, sizeof(poll_ms), "%d", CM_PGQ_POLL_MS);
            if (cm_pgq_exec(g, c, pgq_next_sql, 1, np, &r, err, sizeof(err)) == CM_OK) {
                *wait_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
                PQclear(r);
            }
            rc = CM_EAGAIN;
            break;
        }
        rc = pgq_job(g, c, r, out);
        if (rc == CM_ENOENT) {
            pgq_idle(g, c, r);
            PQclear(r);
            continue;
        }
        PQclear(r);
        break;
    }
    cm_pg_pool_put(g->pool, c);
    if (*wait_ms > CM_PGQ_POLL_MS)
        *wait_ms = CM_PGQ_POLL_MS;
    if (*wait_ms < 1) /* a due row the claim skipped: someone holds it for now */
        *wait_ms = CM_PGQ_LOCKED_MS;
    return rc;
}

int cm_pgq_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms)
{
    struct cm_pgq *g = cm_pgq_of(q);
    long long deadline = cm_monotonic_ms() + timeout_ms, wait_ms;
    int rc;

    *out = NULL;
    for (;;) {
        unsigned long long seen;
        pthread_mutex_lock(&g->mu);
        seen = g->wakes;
        if (g->closing) {
            pthread_mutex_unlock(&g->mu);
            return CM_ERROR;
        }
        pthread_mutex_unlock(&g->mu);
        rc = pgq_try_claim(g, out, &wait_ms);
        if (rc == CM_OK || rc == CM_QUEUE_EUNREADABLE || rc == CM_ENOMEM)
            return rc;
        /* Nothing due, or the database is away: wait for a wake-up or the next poll. */
        long long left = deadline - cm_monotonic_ms();
        if (timeout_ms >= 0 && left <= 0)
            return CM_EAGAIN;
        if (timeout_ms >= 0 && left < wait_ms)
            wait_ms = left;
        struct timespec until = cm_realtime_after_ms(wait_ms);
        pthread_mutex_lock(&g->mu);
        while (!g->closing && g->wakes == seen &&
               pthread_cond_timedwait(&g->wake, &g->mu, &until) == 0)
            ;
        pthread_mutex_unlock(&g->mu);
    }
}

/* --- hand back -------------------------------------------------------------------------- */

/* The job's ids as a PostgreSQL array literal. NULL on ENOMEM. */
static char *pgq_ids(const struct cm_job *job)
{
    size_t cap = 3 + job->n_ids * 21;
    char *s = malloc(cap), *p = s;

    if (!s)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < job->n_ids; i++)
        p += snprintf(p, cap - (size_t)(p - s), "%s%" PRIu64, i ? "," : "", job->ids[i]);
    *p++ = '}';
    *p = '\0';
    return s;
}

/* The entries leave the queue and the row goes idle, or pending when entries came meanwhile
 * or remain; the next claim waits $4 ms (the rest that lets a burst coalesce). One row when
 * the fence held. A completed sync ($5) shows the repository exists again: a record that a
 * node found it gone from its host (pg_gone.c) is dropped with it. */
static const char pgq_done_sql[] =
    "WITH gone AS ("
    "  SELECT count(*) AS n FROM cargoman_entries WHERE repo_key = $1 AND id = ANY ($3::bigint[])),"
    " u AS ("
    "  UPDATE cargoman_jobs SET"
    "    state = CASE WHEN dirty_seq > claimed_seq OR queued > (SELECT n FROM gone)"
    "                 THEN 'pending' ELSE 'idle' END,"
    "    queued = queued - (SELECT n FROM gone),"
    "    run_at = now() + make_interval(secs => $4::double precision / 1000),"
    "    attempts = 0, last_error = NULL, lease_until = NULL, node = NULL"
    "  WHERE repo_key = $1 AND fence = $2::bigint AND state = 'claimed' RETURNING 1),"
    " del AS ("
    "  DELETE FROM cargoman_entries WHERE repo_key = $1 AND id = ANY ($3::bigint[])"
    "  AND EXISTS (SELECT 1 FROM u) RETURNING 1),"
    " revived AS ("
    "  DELETE FROM cargoman_gone WHERE repo_key = $1 AND $5::boolean AND EXISTS (SELECT 1 FROM u))"
    "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM del)";

static const char pgq_failed_sql[] =
    "INSERT INTO cargoman_failed (id, repo_key, accepted_at, attempts, error, event)"
    " SELECT id, repo_key, accepted_at, $3::int, $4, event FROM cargoman_entries"
    " WHERE repo_key = $1 AND id = ANY ($2::bigint[])";

static const char pgq_retry_sql[] =
    "UPDATE cargoman_jobs SET state = 'pending',"
    "  run_at = now() + make_interval(secs => greatest($3::bigint, 0)),"
    "  attempts = attempts + 1, last_error = $4, lease_until = NULL, node = NULL"
    " WHERE repo_key = $1 AND fence = $2::bigint AND state = 'claimed'";

/* Hand job back: 'D' done, 'F' given up with error, 'T' retry at at with error. CM_OK;
 * CM_EAGAIN when the lease was lost (another node has the repository now: nothing changed)
 * or the database is away (the lease runs out and another claim takes the work again).
 * Frees job. */
static int pgq_hand_back(struct cm_queue *q, struct cm_job *job, char type, long long at,
                         const char *error, cm_pgq_inside_fn inside, void *arg)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c = NULL;
    char fence_s[32], at_s[32], rest[16], attempts[16], err[256] = "", *ids = NULL;
    long long fence;
    PGresult *r;
    int rc;

    if (!job || pgq_unhold(g, job, &fence) != CM_OK) {
        cm_job_free(job);
        return CM_EINVAL;
    }
    snprintf(fence_s, sizeof(fence_s), "%lld", fence);
    /* The wait, not the moment: run_at is on the database's clock, like the leases, so a node
     * whose clock runs ahead does not delay its retries. */
    snprintf(at_s, sizeof(at_s), "%lld", at - (long long)time(NULL));
    snprintf(rest, sizeof(rest), "%d", g->opt.coalesce_ms);
    snprintf(attempts, sizeof(attempts), "%d", job->attempts + 1);
    rc = (ids = pgq_ids(job)) ? CM_OK : CM_ENOMEM;
    if (rc == CM_OK)
        rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err));
    if (rc == CM_OK && type == 'T') {
        const char *params[4] = {job->key, fence_s, at_s, error && *error ? error : NULL};
        rc = cm_pgq_exec(g, c, pgq_retry_sql, 4, params, &r, err, sizeof(err));
        if (rc == CM_OK) {
            rc = atoi(PQcmdTuples(r)) == 1 ? CM_OK : CM_EAGAIN;
            PQclear(r);
        }
    } else if (rc == CM_OK) {
        const char *fp[4] = {job->key, ids, attempts, error && *error ? error : "given up"};
        const char *dp[5] = {job->key, fence_s, ids, rest, type == 'D' ? "true" : "false"};
        rc = cm_pgq_exec(g, c, "BEGIN", 0, NULL, NULL, err, sizeof(err));
        if (rc == CM_OK && inside)
            rc = inside(g, c, arg, err, sizeof(err));
        if (rc == CM_OK && type == 'F')
            rc = cm_pgq_exec(g, c, pgq_failed_sql, 4, fp, NULL, err, sizeof(err));
        if (rc == CM_OK)
            rc = cm_pgq_exec(g, c, pgq_done_sql, 5, dp, &r, err, sizeof(err));
        if (rc == CM_OK) {
            rc = atoi(PQgetvalue(r, 0, 0)) == 1 ? CM_OK : CM_EAGAIN; /* the fence moved */
            PQclear(r);
        }
        rc = cm_pgq_end(g, c, rc);
    }
    if (c)
        cm_pg_pool_put(g->pool, c);
    if (rc == CM_ERROR || (rc == CM_EAGAIN && err[0]))
        cm_pgq_warn(g, "cannot hand a job back to the queue", err);
    if (rc == CM_OK && type != 'T')
        cm_pgq_wake_all(g); /* the row may be pending again, or rest: let claims look */
    free(ids);
    cm_job_free(job);
    return rc == CM_ERROR ? CM_EAGAIN : rc;
}

int cm_pgq_complete(struct cm_queue *q, struct cm_job *job)
{
    return pgq_hand_back(q, job, 'D', 0, NULL, NULL, NULL);
}

int cm_pgq_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error)
{
    return pgq_hand_back(q, job, 'T', at, error, NULL, NULL);
}

int cm_pgq_give_up(struct cm_queue *q, struct cm_job *job, const char *error)
{
    return pgq_hand_back(q, job, 'F', 0, error, NULL, NULL);
}

int cm_pgq_complete_with(struct cm_queue *q, struct cm_job *job, cm_pgq_inside_fn inside, void *arg)
{
    return pgq_hand_back(q, job, 'D', 0, NULL, inside, arg);
}
