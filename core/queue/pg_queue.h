/* SPDX-License-Identifier: MIT */
/*
 * The queue on PostgreSQL (pg_queue.c): the backend several gateways share. Opened by the
 * daemon when the configuration's queue.backend is "postgresql"; everything else sees only
 * struct cm_queue.
 */
#ifndef CM_PG_QUEUE_H
#define CM_PG_QUEUE_H

#include <stddef.h>

struct cm_queue;
struct cm_pg_conn;

struct cm_pg_options {
    const char *conninfo;     /* libpq URI or key=value string; several hosts allowed */
    int connections;          /* pool size of this node (at least 2) */
    int timeout_ms;           /* longest wait for the database on one statement or connect */
    int lease_seconds;        /* a claim's lease, renewed every third of it while held */
    int coalesce_ms;          /* rest of a repository after its sync (cm_spool_set_coalesce) */
    long long dedupe_max_age; /* seconds a delivery id is remembered */
    long long failed_max_age; /* seconds an event given up stays in cargoman_failed (0: ever) */
    size_t max_refs;          /* cap of a claimed job's merged changes (0: none) */
    /* Told why the database failed (at most every 10 s), for the operator's log; may be NULL.
     * Called from any of the queue's threads. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
    /* Told of every failure, not just those warn says: for a counter. May be NULL. */
    void (*failed)(void *arg);
};

/* Connect, check that the database has this build's schema (else err says to run `cargoman
 * db migrate`), and start the lease keeper and the NOTIFY listener. CM_OK; CM_EAGAIN when the
 * database cannot be reached; CM_EINVAL for a schema of another version. */
int cm_pg_queue_open(struct cm_queue **out, const struct cm_pg_options *opt, char *err,
                     size_t errlen);

/* The name this node's claims carry in cargoman_jobs.node (host:pid:random). */
const char *cm_pg_queue_node(struct cm_queue *q);

/* `cargoman db migrate`: connect to conninfo and apply the migrations the database lacks.
 * *from and *to: the versions before and after. */
int cm_pg_queue_migrate(const char *conninfo, int timeout_ms, int *from, int *to, char *err,
                        size_t errlen);

#endif
