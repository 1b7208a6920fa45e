/* SPDX-License-Identifier: MIT */
/*
 * The writer of the cluster's delivery log and repository status (tables in pg_schema.c):
 * records are queued in memory by the thread that made them, which never waits for the
 * database, and one thread writes them in batches, a statement per kind of row and one
 * transaction per batch. A full queue or a database that is down drops records, counted and
 * told once per spell; the queue itself never waits for this. The same thread deletes what is
 * past server.delivery_log_max_age and _max_entries, once a minute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cargoman/plugin.h>

#include "queue/pg_activity_internal.h"
#include "util/deadline.h"

#define PGA_QUEUE_MAX 10000 /* rows waiting at most, by default */
#define PGA_BATCH 500       /* rows per transaction at most */
#define PGA_PRUNE_MS 60000

/* One statement per kind of row, each reading its rows from $1, a JSON array. An entry's rows
 * are upserts on its id, so a state the syncing node sends before the receiving node's record
 * arrives makes the row, and the record then fills it in without moving the state back. */
static const char *const pga_sql[CM_PGA_KINDS] = {
    [CM_PGA_DELIVERY] =
        "INSERT INTO cargoman_activity (entry_id, node, node_record, received_at, endpoint,"
        " repository, delivery_id, state, error, attempts, doc)"
        " SELECT x.entry_id, x.node, x.node_record, to_timestamp(x.at), x.endpoint,"
        " x.repository, x.delivery_id, x.state, x.error, coalesce(x.attempts, 0), x.doc"
        " FROM json_to_recordset($1::json) AS x(n bigint, entry_id bigint, node text,"
        " node_record bigint, at bigint, endpoint text, repository text, delivery_id text,"
        " state text, error text, attempts integer, doc json)"
        " ORDER BY x.n"
        " ON CONFLICT (entry_id) WHERE entry_id IS NOT NULL DO UPDATE SET node = EXCLUDED.node,"
        " node_record = EXCLUDED.node_record, received_at = EXCLUDED.received_at,"
        " endpoint = EXCLUDED.endpoint, repository = EXCLUDED.repository,"
        " delivery_id = EXCLUDED.delivery_id, doc = EXCLUDED.doc",
    /* Several changes of one entry in a batch: the last state, every attempt. */
    [CM_PGA_STATE] =
        "INSERT INTO cargoman_activity (entry_id, state, error, attempts, updated_at)"
        " SELECT DISTINCT ON (y.entry_id) y.entry_id, y.state, y.error, y.attempts, now()"
        " FROM (SELECT x.n, x.entry_id, x.state, x.error,"
        " sum(x.attempt) OVER (PARTITION BY x.entry_id) AS attempts"
        " FROM json_to_recordset($1::json) AS x(n bigint, entry_id bigint, state text,"
        " error text, attempt integer)) y"
        " ORDER BY y.entry_id, y.n DESC"
        " ON CONFLICT (entry_id) WHERE entry_id IS NOT NULL DO UPDATE SET state = EXCLUDED.state,"
        " error = EXCLUDED.error, attempts = cargoman_activity.attempts + EXCLUDED.attempts,"
        " updated_at = now()",
    /* A node that scans its mirrors at start has older news than the table: it loses. */
    [CM_PGA_REPO] =
        "INSERT INTO cargoman_repositories (endpoint, repository, node, last_attempt, last_sync,"
        " last_error, doc)"
        " SELECT DISTINCT ON (x.endpoint, x.repository) x.endpoint, x.repository, x.node,"
        " to_timestamp(x.at), CASE WHEN x.error IS NULL THEN to_timestamp(x.at) END, x.error,"
        " x.doc"
        " FROM json_to_recordset($1::json) AS x(n bigint, endpoint text, repository text,"
        " node text, at bigint, error text, doc json)"
        " ORDER BY x.endpoint, x.repository, x.n DESC"
        " ON CONFLICT (endpoint, repository) DO UPDATE SET node = EXCLUDED.node,"
        " last_attempt = EXCLUDED.last_attempt,"
        " last_sync = coalesce(EXCLUDED.last_sync, cargoman_repositories.last_sync),"
        " last_error = EXCLUDED.last_error, doc = EXCLUDED.doc"
        " WHERE cargoman_repositories.last_attempt <= EXCLUDED.last_attempt",
    [CM_PGA_FORGET] = "DELETE FROM cargoman_repositories r USING json_to_recordset($1::json) AS"
                      " x(endpoint text, repository text)"
                      " WHERE r.endpoint = x.endpoint AND r.repository = x.repository",
};

/* --- the spell of drops ----------------------------------------------------------------- */

static void pga_say(struct cm_pg_activity *a, const char *msg)
{
    if (a->opt.warn)
        a->opt.warn(a->opt.warn_arg, msg);
}

/* n records were dropped because of why: told at the first drop of a spell only. */
static void pga_dropped(struct cm_pg_activity *a, size_t n, const char *why)
{
    char msg[768];
    int first;

    pthread_mutex_lock(&a->mu);
    first = !a->failing;
    a->failing = 1;
    a->dropped += n;
    pthread_mutex_unlock(&a->mu);
    if (a->opt.dropped)
        a->opt.dropped(a->opt.warn_arg, n);
    if (first) {
        snprintf(msg, sizeof(msg),
                 "the cluster's delivery log: %s; records are dropped (counted) until it works "
                 "again, and /api/deliveries lacks them",
                 why);
        pga_say(a, msg);
    }
}

/* A batch was written: end the spell, saying how many records it cost. */
static void pga_written(struct cm_pg_activity *a)
{
    unsigned long long n;
    char msg[256];
    int was;

    pthread_mutex_lock(&a->mu);
    was = a->failing;
    n = a->dropped;
    a->failing = 0;
    a->dropped = 0;
    pthread_mutex_unlock(&a->mu);
    if (was) {
        snprintf(msg, sizeof(msg),
                 "the cluster's delivery log: writing to the database works again (%llu "
                 "record(s) dropped meanwhile)",
                 n);
        pga_say(a, msg);
    }
}

/* --- the queue in memory ---------------------------------------------------------------- */

/* Queue row (stolen) of kind for the writer, or drop it; never waits for the database. */
static void pga_push(struct cm_pg_activity *a, enum cm_pga_kind kind, json_t *row)
{
    struct cm_pga_item *it = row ? malloc(sizeof(*it)) : NULL;
    int queued = 0;

    pthread_mutex_lock(&a->mu);
    if (it && !a->closing && a->n < a->opt.queue_max &&
        json_object_set_new(row, "n", json_integer(++a->seq)) == 0) {
        it->kind = kind;
        it->row = row;
        it->next = NULL;
        if (a->tail)
            a->tail->next = it;
        else
            a->head = it;
        a->tail = it;
        a->n++;
        queued = 1;
        pthread_cond_signal(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    if (queued)
        return;
    free(it);
    json_decref(row);
    pga_dropped(a, 1, "the write queue is full (the database is slow or away)");
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void pga_delivery(void *arg, uint64_t queue_id, json_t *doc)
{
    struct cm_pg_activity *a = arg;
    json_t *row = json_pack(
        "{s:o, s:s, s:O?, s:I, s:O?, s:O?, s:O?, s:O?, s:O?, s:o}", "entry_id",
        queue_id ? json_integer((json_int_t)queue_id) : json_null(), "node", a->node, "node_record",
        json_object_get(doc, "record_id"), "at", (json_int_t)time(NULL), "endpoint",
        json_object_get(doc, "endpoint"), "repository", json_object_get(doc, "repository"),
        "delivery_id", json_object_get(doc, "delivery_id"), "state", json_object_get(doc, "state"),
        "error", json_object_get(doc, "error"), "doc", doc);
    pga_push(a, CM_PGA_DELIVERY, row);
}

static void pga_state(void *arg, uint64_t queue_id, const char *state, const char *error,
                      int attempt)
{
    pga_push(arg, CM_PGA_STATE,
             json_pack("{s:I, s:s, s:o, s:i}", "entry_id", (json_int_t)queue_id, "state", state,
                       "error", str_or_null(error), "attempt", attempt));
}

static void pga_repository(void *arg, const char *endpoint, const char *repository, long long when,
                           json_t *doc)
{
    struct cm_pg_activity *a = arg;
    json_t *err = json_object_get(doc, "last_error");

    pga_push(a, CM_PGA_REPO,
             json_pack("{s:s, s:s, s:s, s:I, s:O, s:o}", "endpoint", endpoint, "repository",
                       repository, "node", a->node, "at", (json_int_t)when, "error",
                       err ? err : json_null(), "doc", doc));
}

static void pga_forget(void *arg, const char *endpoint, const char *repository)
{
    pga_push(arg, CM_PGA_FORGET,
             json_pack("{s:s, s:s}", "endpoint", endpoint, "repository", repository));
}

/* --- the writer ------------------------------------------------------------------------- */

/* A state change of an entry whose record is in the same batch goes into that record's row
 * (the latest state, every attempt counted): under a stream of webhooks a node records,
 * syncs and completes an entry within one batch, and one row written beats an insert and an
 * update. 1 when folded. */
static int pga_fold(json_t *records, const char *key, json_t *state)
{
    json_t *rec = json_object_get(records, key);
    json_int_t attempts;

    if (!rec)
        return 0;
    attempts = json_integer_value(json_object_get(rec, "attempts")) +
               json_integer_value(json_object_get(state, "attempt"));
    json_object_set(rec, "state", json_object_get(state, "state"));
    json_object_set(rec, "error", json_object_get(state, "error"));
    json_object_set_new(rec, "attempts", json_integer(attempts));
    return 1;
}

/* One transaction: each kind's rows of items (n of them) in one statement. */
static int pga_write(struct cm_pg_activity *a, struct cm_pg_conn *c, struct cm_pga_item *items,
                     char *err, size_t errlen)
{
    json_t *rows[CM_PGA_KINDS], *records = json_object();
    int rc = records ? CM_OK : CM_ENOMEM, timeout = cm_pg_pool_timeout(a->g->pool);
    char key[32];

    for (int k = 0; k < CM_PGA_KINDS; k++)
        rows[k] = json_array();
    for (struct cm_pga_item *it = items; rc == CM_OK && it; it = it->next) {
        json_t *entry = json_object_get(it->row, "entry_id");
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(entry));
        if (it->kind == CM_PGA_STATE && pga_fold(records, key, it->row))
            continue;
        if (it->kind == CM_PGA_DELIVERY && json_is_integer(entry) &&
            json_object_set(records, key, it->row) != 0)
            rc = CM_ENOMEM;
        if (!rows[it->kind] || json_array_append(rows[it->kind], it->row) != 0)
            rc = CM_ENOMEM;
    }
    json_decref(records);
    if (rc == CM_OK)
        rc = cm_pg_exec(c, "BEGIN", 0, NULL, timeout, NULL, err, errlen);
    for (int k = 0; k < CM_PGA_KINDS && rc == CM_OK; k++) {
        if (!json_array_size(rows[k]))
            continue;
        char *text = json_dumps(rows[k], JSON_COMPACT);
        const char *params[1] = {text};
        rc = text ? cm_pg_exec(c, pga_sql[k], 1, params, timeout, NULL, err, errlen) : CM_ENOMEM;
        free(text);
    }
    if (rc == CM_OK)
        rc = cm_pg_exec(c, "COMMIT", 0, NULL, timeout, NULL, err, errlen);
    else if (!cm_pg_broken(c)) {
        char ignored[64];
        cm_pg_exec(c, "ROLLBACK", 0, NULL, timeout, NULL, ignored, sizeof(ignored));
    }
    if (rc == CM_ENOMEM)
        snprintf(err, errlen, "out of memory");
    for (int k = 0; k < CM_PGA_KINDS; k++)
        json_decref(rows[k]);
    return rc;
}

/* Records past their age or beyond the newest max_entries go (every node does it: the
 * statements are idempotent and cheap on the indexes). */
static void pga_prune(struct cm_pg_activity *a, struct cm_pg_conn *c)
{
    char age[32], max[32], err[256];
    const char *p_age[1] = {age}, *p_max[1] = {max};
    int timeout = cm_pg_pool_timeout(a->g->pool);

    snprintf(age, sizeof(age), "%lld", a->opt.max_age);
    snprintf(max, sizeof(max), "%lld", a->opt.max_entries);
    if (a->opt.max_age > 0)
        /* Ids follow arrival, and the oldest rows went a minute ago: the walk up the primary
         * key to the first young row is short, where an index on received_at would cost every
         * insert. */
        cm_pg_exec(
            c,
            "DELETE FROM cargoman_activity WHERE id < coalesce((SELECT id FROM"
            " cargoman_activity WHERE received_at >= now() - make_interval(secs =>"
            " $1::bigint) ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM cargoman_activity))",
            1, p_age, timeout, NULL, err, sizeof(err));
    if (a->opt.max_entries > 0)
        cm_pg_exec(c,
                   "DELETE FROM cargoman_activity WHERE id <= (SELECT id FROM cargoman_activity"
                   " ORDER BY id DESC OFFSET $1::bigint LIMIT 1)",
                   1, p_max, timeout, NULL, err, sizeof(err));
}

static void pga_free_items(struct cm_pga_item *it)
{
    while (it) {
        struct cm_pga_item *next = it->next;
        json_decref(it->row);
        free(it);
        it = next;
    }
}

/* Up to PGA_BATCH rows off the queue, waiting up to a second for the first; *closing says
 * whether the queue closes. *n: how many. */
static struct cm_pga_item *pga_take(struct cm_pg_activity *a, size_t *n, int *closing)
{
    struct timespec until = cm_realtime_after_ms(1000);
    struct cm_pga_item *batch, *last;

    pthread_mutex_lock(&a->mu);
    while (!a->head && !a->closing && pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0)
        ;
    batch = a->head;
    *n = 0;
    for (last = batch; last && *n < PGA_BATCH - 1 && last->next; last = last->next)
        (*n)++;
    if (last) {
        (*n)++;
        a->head = last->next;
        last->next = NULL;
        if (!a->head)
            a->tail = NULL;
        a->n -= *n;
    }
    *closing = a->closing;
    pthread_mutex_unlock(&a->mu);
    return batch;
}

/* Wait up to a second unless the queue closes: no loop against a database that is away. */
static void pga_pause(struct cm_pg_activity *a)
{
    struct timespec until = cm_realtime_after_ms(1000);

    pthread_mutex_lock(&a->mu);
    if (!a->closing)
        pthread_cond_timedwait(&a->cv, &a->mu, &until);
    pthread_mutex_unlock(&a->mu);
}

static void *pga_writer(void *arg)
{
    struct cm_pg_activity *a = arg;
    struct cm_pg_conn *c = NULL;
    long long last_prune = 0;
    int closing = 0, gave_up = 0;
    char err[512];

    for (;;) {
        size_t n;
        struct cm_pga_item *batch = pga_take(a, &n, &closing);
        long long now = cm_monotonic_ms();
        int prune = !closing && (!last_prune || now - last_prune >= PGA_PRUNE_MS);
        int rc = CM_OK;

        if (!batch && closing)
            break;
        if (!batch && !prune)
            continue;
        if (c && cm_pg_broken(c)) {
            cm_pg_close(c);
            c = NULL;
        }
        /* Stopping: one try, so a database that is down does not hold the exit. */
        if (gave_up) {
            snprintf(err, sizeof(err), "it failed as the gateway stops");
            rc = CM_EAGAIN;
        } else if (!c && (rc = cm_pg_connect(&c, a->g->conninfo, cm_pg_pool_timeout(a->g->pool),
                                             err, sizeof(err))) != CM_OK) {
            c = NULL;
        }
        if (rc == CM_OK && batch)
            rc = pga_write(a, c, batch, err, sizeof(err));
        if (batch && rc != CM_OK) {
            char why[600];
            snprintf(why, sizeof(why), "cannot write to the database: %.500s", err);
            pga_dropped(a, n, why);
            gave_up = closing;
        } else if (batch) {
            pga_written(a);
        }
        pga_free_items(batch);
        if (rc == CM_OK && prune) {
            pga_prune(a, c);
            last_prune = now;
        }
        if (rc != CM_OK && !closing)
            pga_pause(a);
    }
    cm_pg_close(c);
    return NULL;
}

/* --- open and close --------------------------------------------------------------------- */

int cm_pg_activity_open(struct cm_pg_activity **out, struct cm_queue *q,
                        const struct cm_pg_activity_options *opt)
{
    struct cm_pg_activity *a = calloc(1, sizeof(*a));

    *out = NULL;
    if (!a || !(a->node = strdup(opt->node))) {
        free(a);
        return CM_ENOMEM;
    }
    a->g = cm_pgq_of(q);
    a->opt = *opt;
    a->opt.node = a->node;
    if (!a->opt.queue_max)
        a->opt.queue_max = PGA_QUEUE_MAX;
    a->cl = (struct cm_activity_cluster){
        .arg = a,
        .node = a->node,
        .delivery = pga_delivery,
        .state = pga_state,
        .repository = pga_repository,
        .forget = pga_forget,
        .list = cm_pga_list,
        .get = cm_pga_get,
        .find = cm_pga_find,
        .repositories = cm_pga_repositories,
    };
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->writer, NULL, pga_writer, a) != 0) {
        cm_pg_activity_close(a);
        return CM_ENOMEM;
    }
    a->writer_up = 1;
    *out = a;
    return CM_OK;
}

const struct cm_activity_cluster *cm_pg_activity_cluster(struct cm_pg_activity *a)
{
    return &a->cl;
}

void cm_pg_activity_close(struct cm_pg_activity *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->closing = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->writer_up)
        pthread_join(a->writer, NULL);
    pga_free_items(a->head);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->node);
    free(a);
}
