/* SPDX-License-Identifier: MIT */
/*
 * The readers of the cluster's delivery log and repository status (pg_activity.c writes
 * them): pages of records with the API's filters, one record, the repositories. On the
 * queue's pool, each one statement; a database that does not answer is CM_EAGAIN, so the API
 * answers 503 instead of this node's part of the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "queue/pg_activity_internal.h"

/* The columns a record is shown from, in the order pga_record reads them. */
#define PGA_RECORD_COLUMNS                                                                         \
    "id, node, node_record, state, error, attempts, " CM_PGA_TIME("updated_at") ", doc"

/* sql with params on a pooled connection; its result into *res. A failure is told to the
 * operator (the queue's rate-limited warning) and, for the client, one line in err. */
static int pga_query(struct cm_pg_activity *a, const char *sql, int n, const char *const *params,
                     PGresult **res, char *err, size_t errlen)
{
    struct cm_pg_conn *c;
    char why[512];
    int rc;

    if ((rc = cm_pg_pool_get(a->g->pool, &c, why, sizeof(why))) == CM_OK) {
        rc = cm_pgq_exec(a->g, c, sql, n, params, res, why, sizeof(why));
        cm_pg_pool_put(a->g->pool, c);
    }
    if (rc == CM_OK) {
        cm_pgq_answered(a->g);
        return CM_OK;
    }
    cm_pgq_warn(a->g, "cannot read the cluster's delivery log", why);
    /* Not libpq's text: it names the database's hosts and sockets. */
    snprintf(err, errlen,
             "the cluster's delivery log is in the database, which cannot be read now: retry "
             "later (the gateway's log says why)");
    return CM_EAGAIN;
}

static const char *val(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Row of r as the API shows a record: the document its node recorded, with what the cluster
 * knows since (state, error, attempts, updated_at), the cluster's record id and the node. */
static json_t *pga_record(PGresult *r, int row)
{
    const char *text = val(r, row, 7);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;

    if (!doc && !(doc = json_object()))
        return NULL;
    json_object_set_new(doc, "state", str_or_null(val(r, row, 3)));
    json_object_set_new(doc, "error", str_or_null(val(r, row, 4)));
    json_object_set_new(doc, "attempts", json_integer(strtoll(val(r, row, 5), NULL, 10)));
    json_object_set_new(doc, "updated_at", str_or_null(val(r, row, 6)));
    json_object_set_new(doc, "record_id", json_integer(strtoll(val(r, row, 0), NULL, 10)));
    json_object_set_new(doc, "node", str_or_null(val(r, row, 1)));
    json_object_set_new(doc, "node_record_id",
                        val(r, row, 2) ? json_integer(strtoll(val(r, row, 2), NULL, 10))
                                       : json_null());
    return doc;
}

int cm_pga_list(void *arg, uint64_t before, size_t limit, const char *endpoint,
                const char *repository, const char *state, json_t **out, int *more, char *err,
                size_t errlen)
{
    char before_s[24], limit_s[24];
    const char *params[5] = {before_s, endpoint, repository, state, limit_s};
    PGresult *r;
    json_t *a;
    int rc, rows;

    *out = NULL;
    *more = 0;
    snprintf(before_s, sizeof(before_s), "%llu", (unsigned long long)before);
    snprintf(limit_s, sizeof(limit_s), "%zu", limit + 1); /* one more: are there older? */
    rc = pga_query(arg,
                   "SELECT " PGA_RECORD_COLUMNS " FROM cargoman_activity"
                   " WHERE endpoint IS NOT NULL AND ($1::bigint = 0 OR id < $1::bigint)"
                   " AND ($2::text IS NULL OR endpoint = $2::text)"
                   " AND ($3::text IS NULL OR repository = $3::text)"
                   " AND ($4::text IS NULL OR state = $4::text)"
                   " ORDER BY id DESC LIMIT $5::bigint",
                   5, params, &r, err, errlen);
    if (rc != CM_OK)
        return rc;
    rows = PQntuples(r);
    a = json_array();
    for (int i = 0; a && i < rows && (size_t)i < limit; i++)
        if (json_array_append_new(a, pga_record(r, i)) != 0) {
            json_decref(a);
            a = NULL;
        }
    *more = (size_t)rows > limit;
    PQclear(r);
    *out = a;
    return a ? CM_OK : CM_ENOMEM;
}

int cm_pga_get(void *arg, uint64_t record, json_t **out, char *err, size_t errlen)
{
    char id[24];
    const char *params[1] = {id};
    PGresult *r;
    int rc;

    *out = NULL;
    snprintf(id, sizeof(id), "%llu", (unsigned long long)record);
    rc = pga_query(arg,
                   "SELECT " PGA_RECORD_COLUMNS " FROM cargoman_activity"
                   " WHERE id = $1::bigint AND endpoint IS NOT NULL",
                   1, params, &r, err, errlen);
    if (rc != CM_OK)
        return rc;
    if (PQntuples(r) == 1 && !(*out = pga_record(r, 0)))
        rc = CM_ENOMEM;
    else if (PQntuples(r) != 1)
        rc = CM_ENOENT;
    PQclear(r);
    return rc;
}

int cm_pga_find(void *arg, const char *node, uint64_t node_record, uint64_t *record, char *err,
                size_t errlen)
{
    char id[24];
    const char *params[2] = {node, id};
    PGresult *r;
    int rc;

    *record = 0;
    snprintf(id, sizeof(id), "%llu", (unsigned long long)node_record);
    /* No index: an operator's lookup, over a table the sweep bounds. */
    rc = pga_query(arg,
                   "SELECT id FROM cargoman_activity WHERE node = $1 AND node_record = $2::bigint"
                   " AND endpoint IS NOT NULL",
                   2, params, &r, err, errlen);
    if (rc != CM_OK)
        return rc;
    if (PQntuples(r) == 1)
        *record = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    else
        rc = CM_ENOENT;
    PQclear(r);
    return rc;
}

/* Row of r as /api/repositories shows a repository: its node's document, with the times and
 * error of the last sync on any node, and that node. */
static json_t *pga_repository_doc(PGresult *r, int row)
{
    const char *text = val(r, row, 6);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;

    if (!doc && !(doc = json_object()))
        return NULL;
    json_object_set_new(doc, "endpoint", str_or_null(val(r, row, 0)));
    json_object_set_new(doc, "repository", str_or_null(val(r, row, 1)));
    json_object_set_new(doc, "last_attempt", str_or_null(val(r, row, 3)));
    json_object_set_new(doc, "last_sync", str_or_null(val(r, row, 4)));
    json_object_set_new(doc, "last_error", str_or_null(val(r, row, 5)));
    json_object_set_new(doc, "node", str_or_null(val(r, row, 2)));
    return doc;
}

int cm_pga_repositories(void *arg, const char *endpoint, const char *repository, json_t **out,
                        char *err, size_t errlen)
{
    const char *params[2] = {endpoint, repository};
    PGresult *r;
    json_t *a;
    int rc, rows;

    *out = NULL;
    rc = pga_query(
        arg,
        "SELECT endpoint, repository, node, " CM_PGA_TIME("last_attempt") ", " CM_PGA_TIME(
            "last_sync") ", last_error, doc FROM cargoman_repositories"
                         " WHERE $1::text IS NULL OR (endpoint = $1::text AND"
                         " repository = $2::text) ORDER BY endpoint, repository",
        2, params, &r, err, errlen);
    if (rc != CM_OK)
        return rc;
    rows = PQntuples(r);
    if (endpoint) {
        rc = rows != 1 ? CM_ENOENT : (*out = pga_repository_doc(r, 0)) ? CM_OK : CM_ENOMEM;
        PQclear(r);
        return rc;
    }
    a = json_array();
    for (int i = 0; a && i < rows; i++)
        if (json_array_append_new(a, pga_repository_doc(r, i)) != 0) {
            json_decref(a);
            a = NULL;
        }
    PQclear(r);
    *out = a;
    return a ? CM_OK : CM_ENOMEM;
}
