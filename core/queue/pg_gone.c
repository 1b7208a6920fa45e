/* SPDX-License-Identifier: MIT */
/*
 * Repositories a node found gone from their host, shared (schema 5, cargoman_gone): a node
 * removes only its own mirror, and the others must not count the repository as followed
 * because their copy of the mirror, or none, says nothing about the host. A completed sync of
 * the repository drops the row (pg_claim.c), in the transaction that completes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "queue/pg_conn.h"
#include "queue/pg_internal.h"

/* endpoint/repository as cargoman_jobs.repo_key names it, into out. */
static int pg_gone_key(char *out, size_t len, const char *endpoint, const char *repository)
{
    int n = snprintf(out, len, "%s/%s", endpoint, repository);
    return n > 0 && (size_t)n < len ? CM_OK : CM_EINVAL;
}

/* One statement with $1 the key and, when n is 2, $2 this node's name: *r on CM_OK, else
 * CM_EAGAIN. */
static int pg_gone_exec(struct cm_queue *q, const char *sql, int n, const char *endpoint,
                        const char *repository, PGresult **r)
{
    struct cm_pgq *g = cm_pgq_of(q);
    struct cm_pg_conn *c;
    char key[2048], err[256] = "";
    const char *params[2] = {key, g->node};
    int rc;

    if (pg_gone_key(key, sizeof(key), endpoint, repository) != CM_OK)
        return CM_EINVAL;
    if ((rc = cm_pg_pool_get(g->pool, &c, err, sizeof(err))) == CM_OK) {
        rc = cm_pgq_exec(g, c, sql, n, params, r, err, sizeof(err));
        cm_pg_pool_put(g->pool, c);
    }
    if (rc != CM_OK) {
        cm_pgq_warn(g, "cannot read or record a repository gone from its host", err);
        return CM_EAGAIN;
    }
    cm_pgq_answered(g);
    return CM_OK;
}

int cm_pgq_gone_mark(struct cm_queue *q, const char *endpoint, const char *repository)
{
    PGresult *r = NULL;
    /* The first finding stays: another node's later one adds nothing. */
    int rc = pg_gone_exec(q,
                          "INSERT INTO cargoman_gone (repo_key, node) VALUES ($1, $2)"
                          " ON CONFLICT (repo_key) DO NOTHING",
                          2, endpoint, repository, &r);
    PQclear(r);
    return rc;
}

int cm_pgq_gone_check(struct cm_queue *q, const char *endpoint, const char *repository)
{
    PGresult *r = NULL;
    int rc = pg_gone_exec(q, "SELECT 1 FROM cargoman_gone WHERE repo_key = $1", 1, endpoint,
                          repository, &r);

    if (rc == CM_OK)
        rc = PQntuples(r) > 0 ? CM_ENOENT : CM_OK;
    PQclear(r);
    return rc;
}
