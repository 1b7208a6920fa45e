/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL schema of the queue, as numbered migrations: `cargoman db migrate` applies
 * the ones a database lacks, in one transaction under an advisory lock, so two nodes
 * migrating at once cannot both apply one; a gateway refuses a database whose version is not
 * the one it was built for.
 *
 * Invariants (docs/scale-out.md explains them):
 * - one cargoman_jobs row per repository: a claim locks it, so one sync per repository at a
 *   time across the cluster;
 * - an entry's seq is its job's dirty_seq once it was appended; a claim covers the entries up
 *   to claimed_seq, and completion leaves the row pending when dirty_seq moved on meanwhile;
 * - queued is the number of the row's entries, kept with them in the same transactions, so
 *   limits sum a few rows instead of counting entries;
 * - every claim takes a new fence from one sequence, and a hand-back names the fence it
 *   claimed with: a node whose lease was taken over changes nothing, even after its row was
 *   deleted and made again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "queue/pg_conn.h"
#include "queue/pg_schema.h"

static const char *const migrations[] = {
    /* 1: the queue. */
    "CREATE TABLE cargoman_jobs ("
    "  repo_key text PRIMARY KEY,"
    "  endpoint text NOT NULL,"
    "  state text NOT NULL CHECK (state IN ('idle', 'pending', 'claimed')),"
    "  dirty_seq bigint NOT NULL DEFAULT 0,"
    "  claimed_seq bigint NOT NULL DEFAULT 0,"
    "  woke_seq bigint NOT NULL DEFAULT 0,"
    "  queued bigint NOT NULL DEFAULT 0 CHECK (queued >= 0),"
    "  run_at timestamptz NOT NULL DEFAULT now(),"
    "  lease_until timestamptz,"
    "  fence bigint NOT NULL DEFAULT 0,"
    "  node text,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  last_error text"
    ") WITH (fillfactor = 70);"
    "CREATE INDEX cargoman_jobs_due ON cargoman_jobs (run_at) WHERE state = 'pending';"
    "CREATE INDEX cargoman_jobs_leased ON cargoman_jobs (lease_until) WHERE state = 'claimed';"
    "CREATE INDEX cargoman_jobs_queued ON cargoman_jobs (endpoint) WHERE queued > 0;"
    "CREATE TABLE cargoman_entries ("
    "  id bigserial PRIMARY KEY,"
    "  repo_key text NOT NULL,"
    "  seq bigint NOT NULL,"
    "  changes text NOT NULL,"
    "  event text NOT NULL,"
    "  accepted_at timestamptz NOT NULL DEFAULT now()"
    ");"
    "CREATE INDEX cargoman_entries_repo ON cargoman_entries (repo_key, changes);"
    "CREATE TABLE cargoman_deliveries ("
    "  dedupe_key text PRIMARY KEY,"
    "  received_at timestamptz NOT NULL DEFAULT now()"
    ");"
    "CREATE INDEX cargoman_deliveries_age ON cargoman_deliveries (received_at);"
    "CREATE TABLE cargoman_failed ("
    "  id bigint NOT NULL,"
    "  repo_key text NOT NULL,"
    "  accepted_at timestamptz NOT NULL,"
    "  failed_at timestamptz NOT NULL DEFAULT now(),"
    "  attempts integer NOT NULL,"
    "  error text NOT NULL,"
    "  event text NOT NULL"
    ");",
    /* 2: fences from one sequence, unique across rows and time, so an idle row may be
     * deleted (and made again) without a stalled node's old fence ever matching again. */
    "CREATE SEQUENCE cargoman_fence;"
    "SELECT setval('cargoman_fence', greatest(1, (SELECT coalesce(max(fence), 0) + 1 FROM"
    " cargoman_jobs)));"
    "CREATE INDEX cargoman_failed_age ON cargoman_failed (failed_at);",
    /* 3: the sync plugins' state directories, shared by the cluster (pg_state.c). A version
     * is taken from the sequence under the state lock's row lock, so versions commit in
     * order and a pull from "above v" misses nothing. A removed file stays as a row without
     * a body, so a node that had it learns it is gone. */
    "CREATE SEQUENCE cargoman_state_version;"
    "CREATE TABLE cargoman_state ("
    "  instance text NOT NULL,"
    "  path text NOT NULL,"
    "  version bigint NOT NULL,"
    "  body bytea,"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (instance, path)"
    ");"
    "CREATE INDEX cargoman_state_since ON cargoman_state (instance, version);"
    "CREATE TABLE cargoman_state_lock ("
    "  name text PRIMARY KEY,"
    "  node text NOT NULL,"
    "  fence bigint NOT NULL,"
    "  lease_until timestamptz NOT NULL"
    ");",
    /* 4: the delivery log and the repositories' status, shared (pg_activity.c): any node answers
     * /api/deliveries and /api/repositories for the whole cluster. A row of cargoman_activity
     * is one delivery record (id: the record id the API shows); entry_id, the queue entry's,
     * is how the node that syncs it updates its state, and may make the row first (its
     * record comes later from the node that received it: endpoint is NULL until then). */
    "CREATE TABLE cargoman_activity ("
    "  id bigserial PRIMARY KEY,"
    "  entry_id bigint,"
    "  node text,"
    "  node_record bigint,"
    "  received_at timestamptz NOT NULL DEFAULT now(),"
    "  endpoint text,"
    "  repository text,"
    "  delivery_id text,"
    "  state text NOT NULL,"
    "  error text,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  doc json"
    ");"
    "CREATE UNIQUE INDEX cargoman_activity_entry ON cargoman_activity (entry_id)"
    " WHERE entry_id IS NOT NULL;"
    "CREATE INDEX cargoman_activity_endpoint ON cargoman_activity (endpoint, id);"
    "CREATE INDEX cargoman_activity_repository ON cargoman_activity (repository, id);"
    /* No index names state or received_at: a state change is then a HOT update, and the
     * paging by state walks the primary key; the age sweep finds its bound by id. */
    "CREATE TABLE cargoman_repositories ("
    "  endpoint text NOT NULL,"
    "  repository text NOT NULL,"
    "  node text NOT NULL,"
    "  last_attempt timestamptz NOT NULL,"
    "  last_sync timestamptz,"
    "  last_error text,"
    "  doc json NOT NULL,"
    "  PRIMARY KEY (endpoint, repository)"
    ");",
    /* 5: repositories a node found gone from their host (pg_gone.c, sync/gone.h), so that on
     * every node the names they published may go to the next publisher; a completed sync of
     * the repository (pg_claim.c) drops its row. repo_key as in cargoman_jobs. */
    "CREATE TABLE cargoman_gone ("
    "  repo_key text PRIMARY KEY,"
    "  gone_at timestamptz NOT NULL DEFAULT now(),"
    "  node text NOT NULL"
    ");",
};

#define PS_LATEST ((int)(sizeof(migrations) / sizeof(migrations[0])))
/* pg_advisory_xact_lock key of migrations: "cargoman" in ASCII. */
#define PS_LOCK "7017769349402337646"

int cm_pg_schema_latest(void)
{
    return PS_LATEST;
}

/* The version recorded in the database (0: none), or a negative status. */
static int ps_version(struct cm_pg_conn *c, int timeout_ms, char *err, size_t errlen)
{
    PGresult *r;
    int rc, v = 0;

    /* Two statements: one naming a table that does not exist fails as a whole. */
    rc = cm_pg_exec(c, "SELECT to_regclass('cargoman_schema') IS NOT NULL", 0, NULL, timeout_ms, &r,
                    err, errlen);
    if (rc != CM_OK)
        return rc;
    v = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!v)
        return 0;
    rc = cm_pg_exec(c, "SELECT coalesce(max(version), 0) FROM cargoman_schema", 0, NULL, timeout_ms,
                    &r, err, errlen);
    if (rc != CM_OK)
        return rc;
    v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int cm_pg_schema_check(struct cm_pg_conn *c, int timeout_ms, char *err, size_t errlen)
{
    int v = ps_version(c, timeout_ms, err, errlen);

    if (v < 0)
        return v;
    if (v == PS_LATEST)
        return CM_OK;
    if (v < PS_LATEST)
        snprintf(err, errlen,
                 "the database has queue schema version %d and this gateway needs %d: run "
                 "`cargoman db migrate` (with the same configuration) first",
                 v, PS_LATEST);
    else
        snprintf(err, errlen,
                 "the database has queue schema version %d, newer than this gateway's %d: "
                 "upgrade this gateway",
                 v, PS_LATEST);
    return CM_EINVAL;
}

int cm_pg_migrate(struct cm_pg_conn *c, int timeout_ms, int *from, int *to, char *err,
                  size_t errlen)
{
    int rc, v;
    char num[16];
    const char *params[1] = {num};

    *from = *to = 0;
    if ((rc = cm_pg_exec(c, "BEGIN", 0, NULL, timeout_ms, NULL, err, errlen)) != CM_OK)
        return rc;
    rc = cm_pg_exec(c,
                    "SELECT pg_advisory_xact_lock(" PS_LOCK ");"
                    "CREATE TABLE IF NOT EXISTS cargoman_schema (version integer NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    0, NULL, timeout_ms, NULL, err, errlen);
    if (rc == CM_OK && (v = ps_version(c, timeout_ms, err, errlen)) < 0)
        rc = v;
    if (rc == CM_OK) {
        *from = *to = v;
        if (v > PS_LATEST) {
            snprintf(err, errlen,
                     "the database has queue schema version %d, newer than this gateway's %d: "
                     "upgrade this gateway",
                     v, PS_LATEST);
            rc = CM_EINVAL;
        }
    }
    for (int i = *from; rc == CM_OK && i < PS_LATEST; i++) {
        snprintf(num, sizeof(num), "%d", i + 1);
        rc = cm_pg_exec(c, migrations[i], 0, NULL, timeout_ms, NULL, err, errlen);
        if (rc == CM_OK)
            rc = cm_pg_exec(c, "INSERT INTO cargoman_schema (version) VALUES ($1::integer)", 1,
                            params, timeout_ms, NULL, err, errlen);
        if (rc == CM_OK)
            *to = i + 1;
    }
    if (rc == CM_OK)
        rc = cm_pg_exec(c, "COMMIT", 0, NULL, timeout_ms, NULL, err, errlen);
    if (rc != CM_OK) {
        char ignored[64];
        if (!cm_pg_broken(c))
            cm_pg_exec(c, "ROLLBACK", 0, NULL, timeout_ms, NULL, ignored, sizeof(ignored));
        *to = *from;
    }
    return rc;
}
