/* SPDX-License-Identifier: MIT */
/*
 * Token buckets of new repository names, one per endpoint (newrepo.h). A bucket starts full,
 * so a site's first pushes pass at once, and refills at per_hour tokens an hour.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "intake/newrepo.h"

struct nr_bucket {
    char *endpoint; /* owned */
    double tokens, at;
};

struct cm_newrepo {
    pthread_mutex_t lock; /* guards everything below */
    struct nr_bucket *b;  /* owned; one per endpoint seen, as many as are configured */
    size_t n;
};

int cm_newrepo_new(struct cm_newrepo **out)
{
    struct cm_newrepo *nr = calloc(1, sizeof(*nr));

    *out = NULL;
    if (!nr)
        return CM_ENOMEM;
    pthread_mutex_init(&nr->lock, NULL);
    *out = nr;
    return CM_OK;
}

void cm_newrepo_free(struct cm_newrepo *nr)
{
    if (!nr)
        return;
    for (size_t i = 0; i < nr->n; i++)
        free(nr->b[i].endpoint);
    free(nr->b);
    pthread_mutex_destroy(&nr->lock);
    free(nr);
}

/* endpoint's bucket, full when new; NULL when out of memory. Under the lock. */
static struct nr_bucket *nr_find(struct cm_newrepo *nr, const char *endpoint, long long per_hour,
                                 double now)
{
    struct nr_bucket *grown;

    for (size_t i = 0; i < nr->n; i++)
        if (!strcmp(nr->b[i].endpoint, endpoint))
            return &nr->b[i];
    if (!(grown = realloc(nr->b, (nr->n + 1) * sizeof(*grown))))
        return NULL;
    nr->b = grown;
    if (!(grown[nr->n].endpoint = strdup(endpoint)))
        return NULL;
    grown[nr->n].tokens = (double)per_hour;
    grown[nr->n].at = now;
    return &nr->b[nr->n++];
}

int cm_newrepo_take(struct cm_newrepo *nr, const char *endpoint, long long per_hour, double now,
                    int *retry_after)
{
    struct nr_bucket *b;
    double rate = (double)per_hour / 3600.0; /* tokens a second */
    int rc = CM_OK;

    *retry_after = 0;
    if (per_hour <= 0)
        return CM_OK;
    pthread_mutex_lock(&nr->lock);
    if (!(b = nr_find(nr, endpoint, per_hour, now))) {
        rc = CM_ENOMEM;
        goto out;
    }
    if (now > b->at)
        b->tokens += (now - b->at) * rate;
    b->at = now > b->at ? now : b->at;
    /* A reload may have lowered the limit: never more than an hour's worth in hand. */
    if (b->tokens > (double)per_hour)
        b->tokens = (double)per_hour;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double wait = (1.0 - b->tokens) / rate;
        int whole = wait > 86400.0 ? 86400 : (int)wait;
        *retry_after = whole < wait ? whole + 1 : whole < 1 ? 1 : whole;
        rc = CM_EAGAIN;
    }
out:
    pthread_mutex_unlock(&nr->lock);
    return rc;
}

void cm_newrepo_give_back(struct cm_newrepo *nr, const char *endpoint, long long per_hour)
{
    if (per_hour <= 0)
        return;
    pthread_mutex_lock(&nr->lock);
    for (size_t i = 0; i < nr->n; i++)
        if (!strcmp(nr->b[i].endpoint, endpoint) && nr->b[i].tokens + 1.0 <= (double)per_hour)
            nr->b[i].tokens += 1.0;
    pthread_mutex_unlock(&nr->lock);
}
