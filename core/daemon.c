/* SPDX-License-Identifier: MIT */
/*
 * The running daemon's gateway generations: one current, swapped whole on SIGHUP, and the
 * retired ones still in use until their last user hands them back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/exposure.h"
#include "daemon.h"
#include "sync/shared_state.h"

struct cm_gateway *cm_daemon_acquire(struct cm_daemon *d)
{
    struct cm_gateway *gw;
    pthread_mutex_lock(&d->lock);
    gw = d->gw;
    gw->refs++;
    pthread_mutex_unlock(&d->lock);
    return gw;
}

void cm_daemon_release(struct cm_daemon *d, struct cm_gateway *gw)
{
    pthread_mutex_lock(&d->lock);
    gw->refs--;
    pthread_mutex_unlock(&d->lock);
}

size_t cm_daemon_collect(struct cm_daemon *d)
{
    struct cm_gateway *done = NULL, **p, *gw;
    size_t busy = 0;

    pthread_mutex_lock(&d->lock);
    for (p = &d->retired; (gw = *p);) {
        if (gw->refs == 0) {
            *p = gw->next_retired;
            gw->next_retired = done;
            done = gw;
        } else {
            busy++;
            p = &gw->next_retired;
        }
    }
    pthread_mutex_unlock(&d->lock);
    while ((gw = done)) {
        done = gw->next_retired;
        cm_gateway_free(gw);
    }
    return busy;
}

struct first_fatal {
    char *err;
    size_t errlen;
    int seen;
};

static void keep_first_fatal(void *arg, int fatal, const char *msg)
{
    struct first_fatal *ff = arg;

    if (fatal && !ff->seen++)
        snprintf(ff->err, ff->errlen, "%s", msg);
}

int cm_daemon_reload(struct cm_daemon *d, char *err, size_t errlen)
{
    struct cm_config *cfg;
    struct cm_gateway *gw;
    int rc;

    if ((rc = cm_config_load(&cfg, d->conf_dir, err, errlen)) != CM_OK)
        return rc;
    /* Paths fixed at start stay: the spool and the mirrors live where they were opened. */
    if (strcmp(cfg->data_dir, d->data_dir)) {
        free(cfg->data_dir);
        if (!(cfg->data_dir = strdup(d->data_dir))) {
            cm_config_free(cfg);
            return CM_ENOMEM;
        }
    }
    if ((rc = cm_gateway_open(&gw, cfg, d->plugin_dir, err, errlen)) != CM_OK)
        return rc;
    struct first_fatal ff = {err, errlen, 0};
    if (d->listen && cm_exposure_check(gw, d->listen, keep_first_fatal, &ff) > 0) {
        cm_gateway_free(gw);
        return CM_EINVAL;
    }
    /* Started while the old generation still serves (both exist now: plugin.h, "Lifecycle");
     * from the swap on, new work goes to this one. */
    if ((rc = cm_gateway_start(gw, err, errlen)) != CM_OK) {
        cm_gateway_free(gw);
        return rc;
    }
    if (cm_shared_state_attach(d->shared, gw) != CM_OK) {
        snprintf(err, errlen, "out of memory sharing the new sync entries' state");
        cm_gateway_free(gw);
        return CM_ENOMEM;
    }
    pthread_mutex_lock(&d->lock);
    d->gw->next_retired = d->retired;
    d->retired = d->gw;
    d->gw = gw;
    pthread_mutex_unlock(&d->lock);
    cm_daemon_collect(d);
    return CM_OK;
}
