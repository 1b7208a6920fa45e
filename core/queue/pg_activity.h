/* SPDX-License-Identifier: MIT */
/*
 * The delivery log and the repositories' status in PostgreSQL (pg_activity.c writes,
 * pg_activity_read.c reads), so every gateway of a cluster answers /api/deliveries and
 * /api/repositories for all of them: the cluster interface of ops/activity.h, which serve.c
 * gives the activity store when the queue is on PostgreSQL.
 */
#ifndef CM_PG_ACTIVITY_H
#define CM_PG_ACTIVITY_H

#include <stddef.h>

struct cm_activity_cluster;
struct cm_pg_activity;
struct cm_queue;

struct cm_pg_activity_options {
    const char *node;      /* this gateway's name in the records (copied) */
    long long max_age;     /* seconds a record is kept (server.delivery_log_max_age) */
    long long max_entries; /* records kept at most across the cluster */
    size_t queue_max;      /* records waiting for the writer at most (0: a default) */
    /* Told when writing starts failing (once) and when it works again; may be NULL. Called
     * from the writer thread, or from the thread whose record found the queue full. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
    /* Told of every n records dropped, for a counter; may be NULL. Same threads as warn. */
    void (*dropped)(void *arg, size_t n);
};

/* Start the writer for q, a queue cm_pg_queue_open made (borrowed: close this first). Its
 * readers use q's connection pool; the writer has one connection of its own. CM_OK,
 * CM_ENOMEM. */
int cm_pg_activity_open(struct cm_pg_activity **out, struct cm_queue *q,
                        const struct cm_pg_activity_options *opt);
/* The interface to give cm_activity_set_cluster (borrowed from a). */
const struct cm_activity_cluster *cm_pg_activity_cluster(struct cm_pg_activity *a);
/* Write what is queued (one try: a database that is down drops it), stop the writer, free.
 * Call once nothing records any more (cm_activity_set_cluster(st, NULL) first). */
void cm_pg_activity_close(struct cm_pg_activity *a);

#endif
