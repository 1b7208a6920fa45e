/* SPDX-License-Identifier: MIT */
/*
 * The queue on PostgreSQL, shared by every gateway of a cluster (the schema and its
 * invariants: pg_schema.c). Accepting is one transaction committed before the 202: the
 * delivery's dedupe key, the entry, and its repository's job row made pending. A worker claims
 * a pending row with SKIP LOCKED under a lease and a new fence, and hands it back naming that
 * fence, so a node whose lease was taken over (it stalled, or was cut off) changes nothing.
 * A keeper thread renews the leases of this node's claims and returns expired ones; a
 * listener thread wakes claims on NOTIFY, sent only when a row goes idle to pending, at most
 * every CM_PGQ_NOTIFY_MS per node, with a poll each second behind it.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cargoman/plugin.h>

#include "intake/event.h"
#include "queue/pg_conn.h"
#include "queue/pg_queue.h"
#include "queue/pg_schema.h"
#include "queue/queue.h"
#include "util/deadline.h"

/* Least time between two NOTIFYs of one node: a burst of webhooks wakes the cluster once. */
#define CM_PGQ_NOTIFY_MS 100
/* Longest a claim sleeps before asking the database again (the backup of NOTIFY). */
#define CM_PGQ_POLL_MS 1000
/* How long a claim waits when the due row it found is locked (an append or another claim
 * holds it for a moment): not 1 ms, or every idle worker would ask in a loop. */
#define CM_PGQ_LOCKED_MS 100
/* Appends in flight across the cluster that a limit check is assumed not to see, and the
 * advisory lock near-limit checks take ("cargoman" + 1). */
#define CM_PGQ_LIMIT_SLACK 1000
#define CM_PGQ_LIMIT_LOCK "7017769349402337647"

/* A job this node holds: what its hand-back must name. */
struct pgq_held {
    const struct cm_job *job;
    char *key;
    long long fence;
    struct pgq_held *next;
};

struct pgq {
    struct cm_queue q; /* first: the ops see a struct cm_queue * */
    struct cm_pg_pool *pool;
    struct cm_pg_options opt;
    char *conninfo, *node;

    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t wake;
    struct pgq_held *held;
    int closing;
    unsigned long long wakes; /* bumped by every wake-up */
    long long last_notify_ms, last_warn_ms;
    int failing; /* a database failure was reported and no statement went through since */
    size_t last_depth;

    pthread_t keeper, listener;
    int keeper_up, listener_up;
};

static struct pgq *pgq_of(struct cm_queue *q)
{
    return (struct pgq *)q;
}

static long long pgq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pgq_wake_all(struct pgq *g)
{
    pthread_mutex_lock(&g->mu);
    g->wakes++;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->mu);
}

/* Tell the operator why the database failed, at most every 10 s (a database that is down
 * fails every request). */
static void pgq_warn(struct pgq *g, const char *what, const char *err)
{
    long long now = pgq_now_ms();
    char msg[640];
    int say;

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
static void pgq_answered(struct pgq *g)
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
static int pgq_exec(struct pgq *g, struct cm_pg_conn *c, const char *sql, int n,
                    const char *const *params, PGresult **res, char *err, size_t errlen)
{
    return cm_pg_exec(c, sql, n, params, cm_pg_pool_timeout(g->pool), res, err, errlen);
}

/* End the transaction on c: COMMIT when rc is CM_OK, else ROLLBACK (a broken connection is
 * dropped by the pool). Returns rc, or COMMIT's failure. */
static int pgq_end(struct pgq *g, struct cm_pg_conn *c, int rc)
{
    char err[256];

    if (cm_pg_broken(c))
        return rc == CM_OK ? CM_EAGAIN : rc;
    if (rc == CM_OK) {
        /* A COMMIT whose answer is lost may have committed: the caller answers 503 and the
         * host's retry is then a duplicate, which is the safe side. */
        int crc = pgq_exec(g, c, "COMMIT", 0, NULL, NULL, err, sizeof(err));
        return crc == CM_OK ? CM_OK : CM_EAGAIN;
    }
    pgq_exec(g, c, "ROLLBACK", 0, NULL, NULL, err, sizeof(err));
    return rc;
}

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
static int pgq_sums(struct pgq *g, struct cm_pg_conn *c, const char *endpoint,
                    unsigned long long *all, unsigned long long *mine, char *err, size_t errlen)
{
    const char *params[1] = {endpoint};
    PGresult *r;
    int rc = pgq_exec(g, c,
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
static int pgq_within(struct pgq *g, struct cm_pg_conn *c, const struct cm_queue_limits *lim,
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
        rc = pgq_exec(g, c, "SELECT pg_advisory_xact_lock(" CM_PGQ_LIMIT_LOCK ")", 0, NULL, NULL,
                      err, errlen);
        if (rc != CM_OK)
            return rc;
        locked = 1;
    }
}

/* Whether this node may NOTIFY now (at most one per CM_PGQ_NOTIFY_MS). */
static int pgq_may_notify(struct pgq *g)
{
    long long now = pgq_now_ms();
    int may;

    pthread_mutex_lock(&g->mu);
    may = now - g->last_notify_ms >= CM_PGQ_NOTIFY_MS;
    if (may)
        g->last_notify_ms = now;
    pthread_mutex_unlock(&g->mu);
    return may;
}

static int pgq_append(struct cm_queue *q, struct cm_event *const *events, const char *const *dkeys,
                      size_t n, const struct cm_queue_limits *limits, uint64_t *ids_out)
{
    struct pgq *g = pgq_of(q);
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
        rc = pgq_exec(g, c, "BEGIN", 0, NULL, NULL, err, sizeof(err));
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *dk = dkeys && dkeys[i] && *dkeys[i] ? dkeys[i] : NULL;
        const char *params[5] = {dk, keys[i], eps[i], ckeys[i], cm_event_json(events[i])};
        PGresult *r;
        if (!params[4]) {
            rc = CM_ENOMEM;
            break;
        }
        if ((rc = pgq_exec(g, c, pgq_append_sql, 5, params, &r, err, sizeof(err))) != CM_OK)
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
        rc = pgq_exec(g, c, "SELECT pg_notify('cargoman_jobs', '')", 0, NULL, NULL, err,
                      sizeof(err));
    if (c)
        rc = pgq_end(g, c, rc);
    if (c)
        cm_pg_pool_put(g->pool, c);
    if (rc == CM_ERROR || rc == CM_EAGAIN)
        pgq_warn(g, "cannot accept into the queue", err);
    if (rc == CM_ERROR)
        rc = CM_EAGAIN; /* the database refused: nothing stored, answer 503 */
    if (rc != CM_OK)
        for (size_t i = 0; i < n; i++)
            ids_out[i] = 0;
    else if (!stored && n)
        rc = CM_EIGNORE;
    if (rc == CM_OK || rc == CM_EIGNORE || rc == CM_QUEUE_EFULL || rc == CM_QUEUE_EFULL_ENDPOINT)
        pgq_answered(g);
    if (rc == CM_OK && woke)
        pgq_wake_all(g);
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

static int pgq_queued(struct cm_queue *q, const char *endpoint, const char *repository)
{
    struct pgq *g = pgq_of(q);
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
        if (pgq_exec(g, c, "SELECT 1 FROM cargoman_jobs WHERE repo_key = $1 AND queued > 0", 1,
                     params, &r, err, sizeof(err)) == CM_OK) {
            found = PQntuples(r) > 0;
            PQclear(r);
        }
        cm_pg_pool_put(g->pool, c);
    }
    free(key);
    return found;
}

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
    "SELECT id, event, extract(epoch FROM accepted_at)::bigint FROM cargoman_entries"
    " WHERE repo_key = $1 AND seq <= $2::bigint ORDER BY id";

/* Milliseconds until the next pending row is due (at most CM_PGQ_POLL_MS). */
static const char pgq_next_sql[] =
    "SELECT coalesce(ceil(extract(epoch FROM min(run_at) - now()) * 1000)::bigint, $1::bigint)"
    " FROM cargoman_jobs WHERE state = 'pending'";

static int pgq_hold(struct pgq *g, const struct cm_job *job, long long fence)
{
    struct pgq_held *h = calloc(1, sizeof(*h));

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
static int pgq_unhold(struct pgq *g, const struct cm_job *job, long long *fence)
{
    struct pgq_held **p, *h = NULL;

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
 * others wait for the next claim. CM_OK, CM_QUEUE_EUNREADABLE or CM_ENOMEM. */
static int pgq_job_event(struct pgq *g, PGresult *r, struct cm_job *job)
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
            if (!bad++)
                snprintf(why, sizeof(why),
                         "queued entry %" PRIu64 " does not read back as an event: %s", id, err);
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
    job->n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        struct cm_event *ev = NULL;
        if (cm_event_from_json(&ev, PQgetvalue(r, (int)i, 1), err, sizeof(err)) == CM_OK) {
            cm_event_free(ev);
            continue;
        }
        job->ids[job->n_ids++] = strtoull(PQgetvalue(r, (int)i, 0), NULL, 10);
    }
    free(job->last_error);
    if (!(job->last_error = strdup(why)))
        return CM_ENOMEM;
    return CM_QUEUE_EUNREADABLE;
}

/* The job of a claimed row (r: its claim's result row) with its entries. CM_OK,
 * CM_QUEUE_EUNREADABLE, CM_ENOENT (the row has no entries: it was made idle), or a failure
 * (the row is left to its lease). */
static int pgq_job(struct pgq *g, struct cm_pg_conn *c, PGresult *claim, struct cm_job **out)
{
    const char *params[2] = {PQgetvalue(claim, 0, 0), PQgetvalue(claim, 0, 1)};
    struct cm_job *job = calloc(1, sizeof(*job));
    PGresult *r = NULL;
    char err[256];
    int rc = job ? CM_OK : CM_ENOMEM;

    if (rc == CM_OK && !(job->key = strdup(params[0])))
        rc = CM_ENOMEM;
    if (rc == CM_OK)
        rc = pgq_exec(g, c, pgq_entries_sql, 2, params, &r, err, sizeof(err));
    if (rc == CM_OK && PQntuples(r) == 0)
        rc = CM_ENOENT;
    if (rc == CM_OK && !(job->ids = calloc((size_t)PQntuples(r), sizeof(*job->ids))))
        rc = CM_ENOMEM;
    if (rc == CM_OK) {
        job->attempts = atoi(PQgetvalue(claim, 0, 3));
        if (!PQgetisnull(claim, 0, 4) && !(job->last_error = strdup(PQgetvalue(claim, 0, 4))))
            rc = CM_ENOMEM;
        job->accepted_at = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
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
static void pgq_idle(struct pgq *g, struct cm_pg_conn *c, PGresult *claim)
{
    const char *params[2] = {PQgetvalue(claim, 0, 0), PQgetvalue(claim, 0, 2)};
    char err[256];

    pgq_exec(g, c,
             "WITH n AS (SELECT count(*) AS n FROM cargoman_entries WHERE repo_key = $1)"
             " UPDATE cargoman_jobs SET state = CASE WHEN dirty_seq > claimed_seq OR"
             " (SELECT n FROM n) > 0 THEN 'pending' ELSE 'idle' END, queued = (SELECT n FROM n),"
             " lease_until = NULL, node = NULL"
             " WHERE repo_key = $1 AND fence = $2::bigint AND state = 'claimed'",
             2, params, NULL, err, sizeof(err));
}

/* One attempt: CM_OK with *out, CM_EAGAIN with *wait_ms when nothing is due, or a failure. */
static int pgq_try_claim(struct pgq *g, struct cm_job **out, long long *wait_ms)
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
        pgq_warn(g, "cannot claim from the queue", err);
        return rc;
    }
    for (;;) {
        if ((rc = pgq_exec(g, c, pgq_claim_sql, 2, params, &r, err, sizeof(err))) != CM_OK) {
            pgq_warn(g, "cannot claim from the queue", err);
            break;
        }
        pgq_answered(g);
        if (PQntuples(r) == 0) {
            const char *np[1] = {poll_ms};
            PQclear(r);
            snprintf(poll_ms, sizeof(poll_ms), "%d", CM_PGQ_POLL_MS);
            if (pgq_exec(g, c, pgq_next_sql, 1, np, &r, err, sizeof(err)) == CM_OK) {
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

static int pgq_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms)
{
    struct pgq *g = pgq_of(q);
    long long deadline = pgq_now_ms() + timeout_ms, wait_ms;
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
        long long left = deadline - pgq_now_ms();
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
 * the fence held. */
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
    "  AND EXISTS (SELECT 1 FROM u) RETURNING 1)"
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
                         const char *error)
{
    struct pgq *g = pgq_of(q);
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
        rc = pgq_exec(g, c, pgq_retry_sql, 4, params, &r, err, sizeof(err));
        if (rc == CM_OK) {
            rc = atoi(PQcmdTuples(r)) == 1 ? CM_OK : CM_EAGAIN;
            PQclear(r);
        }
    } else if (rc == CM_OK) {
        const char *fp[4] = {job->key, ids, attempts, error && *error ? error : "given up"};
        const char *dp[4] = {job->key, fence_s, ids, rest};
        rc = pgq_exec(g, c, "BEGIN", 0, NULL, NULL, err, sizeof(err));
        if (rc == CM_OK && type == 'F')
            rc = pgq_exec(g, c, pgq_failed_sql, 4, fp, NULL, err, sizeof(err));
        if (rc == CM_OK)
            rc = pgq_exec(g, c, pgq_done_sql, 4, dp, &r, err, sizeof(err));
        if (rc == CM_OK) {
            rc = atoi(PQgetvalue(r, 0, 0)) == 1 ? CM_OK : CM_EAGAIN; /* the fence moved */
            PQclear(r);
        }
        rc = pgq_end(g, c, rc);
    }
    if (c)
        cm_pg_pool_put(g->pool, c);
    if (rc == CM_ERROR || (rc == CM_EAGAIN && err[0]))
        pgq_warn(g, "cannot hand a job back to the queue", err);
    if (rc == CM_OK && type != 'T')
        pgq_wake_all(g); /* the row may be pending again, or rest: let claims look */
    free(ids);
    cm_job_free(job);
    return rc == CM_ERROR ? CM_EAGAIN : rc;
}

static int pgq_complete(struct cm_queue *q, struct cm_job *job)
{
    return pgq_hand_back(q, job, 'D', 0, NULL);
}

static int pgq_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error)
{
    return pgq_hand_back(q, job, 'T', at, error);
}

static int pgq_give_up(struct cm_queue *q, struct cm_job *job, const char *error)
{
    return pgq_hand_back(q, job, 'F', 0, error);
}

/* --- status ----------------------------------------------------------------------------- */

static size_t pgq_depth(struct cm_queue *q)
{
    struct pgq *g = pgq_of(q);
    struct cm_pg_conn *c;
    char err[256];
    PGresult *r;
    size_t depth;

    if (cm_pg_pool_get(g->pool, &c, err, sizeof(err)) == CM_OK) {
        if (pgq_exec(g, c, "SELECT coalesce(sum(queued), 0) FROM cargoman_jobs WHERE queued > 0", 0,
                     NULL, &r, err, sizeof(err)) == CM_OK) {
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
    struct pgq *g = pgq_of(q);
    struct cm_pg_conn *c;
    char err[256], now_s[32];
    const char *params[1] = {now_s};
    PGresult *r;
    long long age = 0;

    snprintf(now_s, sizeof(now_s), "%lld", now);
    if (cm_pg_pool_get(g->pool, &c, err, sizeof(err)) != CM_OK)
        return 0;
    if (pgq_exec(g, c,
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

/* --- keeper and listener ---------------------------------------------------------------- */

/* Sleep up to ms, returning early (1) once the queue closes. */
static int pgq_nap(struct pgq *g, long long ms)
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
static void pgq_keep_once(struct pgq *g, struct cm_pg_conn *c, int sweep_deliveries)
{
    char lease[16], err[256], age[32];
    PGresult *r;

    snprintf(lease, sizeof(lease), "%d", g->opt.lease_seconds);
    pthread_mutex_lock(&g->mu);
    size_t n = 0;
    for (struct pgq_held *h = g->held; h; h = h->next)
        n++;
    char **keys = calloc(n + 1, sizeof(*keys));
    long long *fences = calloc(n + 1, sizeof(*fences));
    n = 0;
    for (struct pgq_held *h = g->held; keys && fences && h; h = h->next) {
        if (!(keys[n] = strdup(h->key)))
            break;
        fences[n++] = h->fence;
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < n; i++) {
        char fence_s[32];
        const char *params[3] = {keys[i], fence_s, lease};
        snprintf(fence_s, sizeof(fence_s), "%lld", fences[i]);
        pgq_exec(g, c,
                 "UPDATE cargoman_jobs SET lease_until = now() + make_interval(secs => $3::int)"
                 " WHERE repo_key = $1 AND fence = $2::bigint AND state = 'claimed'",
                 3, params, NULL, err, sizeof(err));
        free(keys[i]);
    }
    free(keys);
    free(fences);
    if (pgq_exec(g, c,
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
            pgq_exec(g, c, "SELECT pg_notify('cargoman_jobs', '')", 0, NULL, NULL, err,
                     sizeof(err));
            pgq_wake_all(g);
        }
    }
    if (sweep_deliveries) {
        const char *params[1] = {age};
        snprintf(age, sizeof(age), "%lld", g->opt.dedupe_max_age);
        pgq_exec(g, c,
                 "DELETE FROM cargoman_deliveries WHERE received_at < now() - "
                 "make_interval(secs => $1::bigint)",
                 1, params, NULL, err, sizeof(err));
        /* What was given up is kept as long as the delivery log keeps its records; a row of
         * a repository with nothing queued for a week goes (a push makes it again; fences
         * come from a sequence, so none is ever reused). */
        snprintf(age, sizeof(age), "%lld", g->opt.failed_max_age);
        if (g->opt.failed_max_age > 0)
            pgq_exec(g, c,
                     "DELETE FROM cargoman_failed WHERE failed_at < now() - "
                     "make_interval(secs => $1::bigint)",
                     1, params, NULL, err, sizeof(err));
        pgq_exec(g, c,
                 "DELETE FROM cargoman_jobs WHERE state = 'idle' AND queued = 0 AND"
                 " run_at < now() - interval '7 days'",
                 0, NULL, NULL, err, sizeof(err));
    }
}

static void *pgq_keeper(void *arg)
{
    struct pgq *g = arg;
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
            pgq_warn(g, "cannot renew leases", err);
            c = NULL;
        }
        if (c) {
            long long now = pgq_now_ms();
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
static void *pgq_listener(void *arg)
{
    struct pgq *g = arg;
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
            pgq_wake_all(g); /* notifications may have been missed meanwhile */
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
                pgq_wake_all(g);
        }
    }
    cm_pg_close(c);
    return NULL;
}

/* --- open and close --------------------------------------------------------------------- */

static void pgq_shutdown(struct cm_queue *q)
{
    struct pgq *g = pgq_of(q);

    pthread_mutex_lock(&g->mu);
    g->closing = 1;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->mu);
}

static void pgq_close(struct cm_queue *q)
{
    struct pgq *g = pgq_of(q);

    if (!g)
        return;
    pgq_shutdown(q);
    if (g->keeper_up)
        pthread_join(g->keeper, NULL);
    if (g->listener_up)
        pthread_join(g->listener, NULL);
    while (g->held) {
        struct pgq_held *h = g->held;
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
    .append = pgq_append,
    .queued = pgq_queued,
    .claim = pgq_claim,
    .complete = pgq_complete,
    .retry = pgq_retry,
    .give_up = pgq_give_up,
    .depth = pgq_depth,
    .oldest_age = pgq_oldest_age,
    .shutdown = pgq_shutdown,
    .close = pgq_close,
};

/* host:pid:random, so the rows a node holds can be told apart in the table. */
static char *pgq_node_name(void)
{
    char host[256] = "node", *s;
    unsigned r = (unsigned)pgq_now_ms() ^ (unsigned)getpid() * 2654435761u;

    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if ((s = malloc(strlen(host) + 32)) != NULL)
        sprintf(s, "%s:%d:%08x", host, (int)getpid(), r);
    return s;
}

int cm_pg_queue_open(struct cm_queue **out, const struct cm_pg_options *opt, char *err,
                     size_t errlen)
{
    struct pgq *g = calloc(1, sizeof(*g));
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
    if (rc == CM_OK && pthread_create(&g->keeper, NULL, pgq_keeper, g) == 0)
        g->keeper_up = 1;
    else if (rc == CM_OK)
        rc = CM_ENOMEM;
    if (rc == CM_OK && pthread_create(&g->listener, NULL, pgq_listener, g) == 0)
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
    return pgq_of(q)->node;
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
