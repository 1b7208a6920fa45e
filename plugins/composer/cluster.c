/* SPDX-License-Identifier: MIT */
/*
 * The composer plugin in a cluster (SDK 1.3): the host replaced a file of the state directory
 * with what on_sync wrote on another node. packages.json and p2/ are read from disk on every
 * request; what the plugin keeps in memory from a state file (the ownership map, the cache)
 * follows here, one file at a time.
 */
#include "composer.h"
#include "state.h"

#include <stdlib.h>
#include <string.h>

/* Move from owners into lost (name -> true) every name held by the repository whose state
 * file is rel. CM_OK or CM_ENOMEM. */
static int cl_drop(json_t *owners, const char *rel, json_t *lost)
{
    const char *name;
    json_t *holder;
    void *tmp;
    int rc = CM_OK;

    json_object_foreach_safe (owners, tmp, name, holder) {
        char *path =
            json_is_string(holder) ? cmc_owner_state_path(json_string_value(holder)) : NULL;
        if (path && strcmp(path, rel) == 0) {
            if (json_object_set_new(lost, name, json_true()) != 0)
                rc = CM_ENOMEM;
            json_object_del(owners, name);
        }
        free(path);
    }
    return rc;
}

/* Names rel gave up may be claimed by another state file: a rename whose new file arrived
 * first, a takeover by the endpoint packages reserve them for. The start's scan of every
 * state file settles those (only when a name was given up, which is rare). */
static int cl_reclaim(struct cmc_plugin *p, json_t *lost)
{
    json_t *found = json_object(), *holder;
    const char *name;
    int rc = found ? cmc_owners_scan(p->state_dir, found, &p->policy) : CM_ENOMEM;

    pthread_mutex_lock(p->lock);
    json_object_foreach (lost, name, holder) {
        json_t *claim = json_object_get(found, name);
        if (rc == CM_OK && claim && !json_object_get(p->owners, name) &&
            json_object_set(p->owners, name, claim) != 0)
            rc = CM_ENOMEM;
    }
    pthread_mutex_unlock(p->lock);
    json_decref(found);
    return rc;
}

void cmc_state_changed(void *self, const char *path)
{
    struct cmc_plugin *p = self;
    json_t *lost, *val;
    const char *name;
    void *tmp;
    int rc;

    if (!p->owners || !path || !cmc_is_state_path(path))
        return;
    /* on_sync reads the new file, whatever stat says of it. */
    cmc_cache_drop(&p->cache, path);
    if (!(lost = json_object())) {
        rc = CM_ENOMEM;
        goto out;
    }
    pthread_mutex_lock(p->lock);
    rc = cl_drop(p->owners, path, lost);
    if (rc == CM_OK)
        rc = cmc_owners_apply(p->state_dir, path, p->owners, &p->policy);
    json_object_foreach_safe (lost, tmp, name, val) {
        if (json_object_get(p->owners, name))
            json_object_del(lost, name);
    }
    pthread_mutex_unlock(p->lock);
    if (rc == CM_OK && json_object_size(lost))
        rc = cl_reclaim(p, lost);
out:
    if (rc != CM_OK)
        p->host->log(p->ctx, CM_LOG_ERR,
                     "out of memory following %s from the cluster; package ownership may be "
                     "stale until a restart",
                     path);
    json_decref(lost);
}
