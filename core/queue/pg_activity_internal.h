/* SPDX-License-Identifier: MIT */
/*
 * What pg_activity.c (the writer) and pg_activity_read.c (the readers) share. Private to
 * core/queue/pg_activity*.c.
 */
#ifndef CM_PG_ACTIVITY_INTERNAL_H
#define CM_PG_ACTIVITY_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "ops/activity.h"
#include "queue/pg_activity.h"
#include "queue/pg_internal.h"

/* A timestamp column as the API shows times (cm_format_time). */
#define CM_PGA_TIME(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

enum cm_pga_kind { CM_PGA_DELIVERY, CM_PGA_STATE, CM_PGA_REPO, CM_PGA_FORGET, CM_PGA_KINDS };

/* One row waiting for the writer. */
struct cm_pga_item {
    enum cm_pga_kind kind;
    json_t *row; /* owned: the fields its statement reads (json_to_recordset) */
    struct cm_pga_item *next;
};

struct cm_pg_activity {
    struct cm_activity_cluster cl; /* arg is this */
    struct cm_pgq *g;              /* the queue: its pool, conninfo and timeout (borrowed) */
    struct cm_pg_activity_options opt;
    char *node; /* owned; opt.node points here */

    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    struct cm_pga_item *head, *tail;
    size_t n;
    long long seq; /* order of the rows, so a batch applies them as they came */
    int closing;
    unsigned long long dropped; /* records dropped since the failing spell began */
    int failing;                /* a spell of drops was told and has not ended */

    pthread_t writer;
    int writer_up;
};

/* The readers (pg_activity_read.c), as struct cm_activity_cluster wants them; arg is the
 * struct cm_pg_activity. */
int cm_pga_list(void *arg, uint64_t before, size_t limit, const char *endpoint,
                const char *repository, const char *state, json_t **out, int *more, char *err,
                size_t errlen);
int cm_pga_get(void *arg, uint64_t record, json_t **out, char *err, size_t errlen);
int cm_pga_find(void *arg, const char *node, uint64_t node_record, uint64_t *record, char *err,
                size_t errlen);
int cm_pga_repositories(void *arg, const char *endpoint, const char *repository, json_t **out,
                        char *err, size_t errlen);

#endif
