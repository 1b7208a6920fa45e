/* SPDX-License-Identifier: MIT */
/*
 * What activity.c (deliveries) and activity_repos.c (repositories) share: the store behind
 * struct cm_activity, and the two helpers that shape every answer. Private to core/ops.
 */
#ifndef CM_ACTIVITY_INTERNAL_H
#define CM_ACTIVITY_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

struct cm_activity {
    pthread_mutex_t lock;
    pthread_mutex_t early_lock;   /* guards early, and orders each record's add and updates */
    json_t *early;                /* queue id (decimal) -> {since, state, error, attempts} */
    struct cm_dlog *dlog;         /* owned */
    struct cm_payloads *payloads; /* owned; NULL until the log is opened */
    json_t *repos;                /* key -> object */
    char *data_dir;               /* as configured (owned) */
    char *data_real;              /* its real path (owned), or NULL */
    /* The cluster's store (borrowed), or NULL: set before other threads start (serve.c). */
    const struct cm_activity_cluster *cluster;
};

/* text as the API may show it: a path under the data directory relative to it
 * ("mirrors/gh/o/r.git"), any other absolute path as ".../<its last part>". A new reference,
 * json null for NULL, or NULL when out of memory. */
json_t *cm_activity_relative(const struct cm_activity *st, const char *text);

/* o (stolen) as indented JSON text, malloc'd; NULL for NULL or out of memory. */
char *cm_activity_dump(json_t *o);

#endif
