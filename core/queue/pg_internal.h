/* SPDX-License-Identifier: MIT */
/*
 * What the files of the PostgreSQL queue share (pg_queue.c opens it and answers its status,
 * pg_append.c accepts, pg_claim.c claims and hands back, pg_keeper.c renews leases and
 * listens): the queue's state and the helpers they all use. Private to core/queue/pg_*.c.
 */
#ifndef CM_PG_INTERNAL_H
#define CM_PG_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/pg_conn.h"
#include "queue/pg_queue.h"
#include "queue/queue.h"

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
struct cm_pgq_held {
    const struct cm_job *job;
    char *key;
    long long fence;
    struct cm_pgq_held *next;
};

struct cm_pgq {
    struct cm_queue q; /* first: the ops see a struct cm_queue * */
    struct cm_pg_pool *pool;
    struct cm_pg_options opt;
    char *conninfo, *node;

    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t wake;
    struct cm_pgq_held *held;
    int closing;
    unsigned long long wakes; /* bumped by every wake-up */
    long long last_notify_ms, last_warn_ms;
    int failing; /* a database failure was reported and no statement went through since */
    size_t last_depth;
    long long state_fence; /* the plugin-state lock this node holds, 0 when none */

    pthread_t keeper, listener;
    int keeper_up, listener_up;
};

struct cm_pgq *cm_pgq_of(struct cm_queue *q);
/* Wake every claim waiting on this node (and the keeper's nap, which sleeps on). */
void cm_pgq_wake_all(struct cm_pgq *g);
/* Tell the operator why the database failed (opt.warn), at most every 10 s. */
void cm_pgq_warn(struct cm_pgq *g, const char *what, const char *err);
/* A statement went through: after reported failures, say once that the database is back. */
void cm_pgq_answered(struct cm_pgq *g);
/* cm_pg_exec with the pool's timeout. */
int cm_pgq_exec(struct cm_pgq *g, struct cm_pg_conn *c, const char *sql, int n,
                const char *const *params, PGresult **res, char *err, size_t errlen);
/* COMMIT when rc is CM_OK, else ROLLBACK; rc, or COMMIT's failure (CM_EAGAIN). */
int cm_pgq_end(struct cm_pgq *g, struct cm_pg_conn *c, int rc);

/* The queue ops (queue.h) of pg_append.c and pg_claim.c. */
int cm_pgq_append(struct cm_queue *q, struct cm_event *const *events, const char *const *dkeys,
                  size_t n, const struct cm_queue_limits *limits, uint64_t *ids_out);
int cm_pgq_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms);
int cm_pgq_complete(struct cm_queue *q, struct cm_job *job);
int cm_pgq_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error);
int cm_pgq_give_up(struct cm_queue *q, struct cm_job *job, const char *error);
/* complete, with inside run in its transaction first: a non-CM_OK answer rolls it all back
 * (err says why) and complete answers it. */
typedef int (*cm_pgq_inside_fn)(struct cm_pgq *g, struct cm_pg_conn *c, void *arg, char *err,
                                size_t errlen);
int cm_pgq_complete_with(struct cm_queue *q, struct cm_job *job, cm_pgq_inside_fn inside,
                         void *arg);

/* The shared plugin state (pg_state.c), and the keeper's renewal of its lock. */
extern const struct cm_queue_state_ops cm_pgq_state_ops;
void cm_pgq_state_renew(struct cm_pgq *g, struct cm_pg_conn *c);

/* Repositories gone from their host, for every node (pg_gone.c; queue.h's state ops). */
int cm_pgq_gone_mark(struct cm_queue *q, const char *endpoint, const char *repository);
int cm_pgq_gone_check(struct cm_queue *q, const char *endpoint, const char *repository);

/* The keeper and listener threads (pg_keeper.c); arg is the struct cm_pgq. */
void *cm_pgq_keeper(void *arg);
void *cm_pgq_listener(void *arg);

#endif
