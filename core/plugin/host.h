/* SPDX-License-Identifier: MIT */
/*
 * The host side of the SDK: the services table every plugin gets, the context (struct cm_ctx,
 * opaque to plugins) each plugin instance is handed, and the clock behind host->now().
 */
#ifndef CM_HOST_H
#define CM_HOST_H

#include <pthread.h>

#include "cargoman/plugin.h"
#include "config/section.h"

/* The handle a plugin instance gets (opaque in the SDK). */
struct cm_ctx {
    const char *plugin;               /* plugin name, borrowed from the config */
    const char *instance;             /* endpoint name, or the sync entry's name */
    const struct cm_section *section; /* its settings */
    char *const *secrets;             /* the endpoint's secrets, borrowed; NULL for a sync entry */
    size_t n_secrets;                 /* 0 when none is set */
    const char *data_dir;             /* server.data_dir */
    char *state_dir;                  /* owned, made on first use */
    pthread_mutex_t lock;             /* guards state_dir */
};

/* The host services table handed to every plugin. */
extern const struct cm_host cm_host_services;

/* What the 1.3 and 1.4 host calls need from the daemon (its configuration, mirrors and queue), lent
 * once before plugins start. Unset (tools, tests): state_refresh answers CM_OK and archive
 * CM_EAGAIN. dest is an absolute path whose directory exists. */
struct cm_host_daemon {
    void *arg;
    int (*state_refresh)(void *arg, struct cm_ctx *ctx);
    int (*archive)(void *arg, struct cm_ctx *ctx, const char *endpoint, const char *repository,
                   const char *commit_id, const char *prefix, const char *dest);
    /* The cluster's version of path under ctx's state_dir, for http_respond_file (as
     * cm_shared_state_open); NULL or 1: the local file. */
    int (*shared_open)(void *arg, struct cm_ctx *ctx, const char *path, int *fd, void **body,
                       size_t *len);
    /* host->repository_followed (1.4); unset: CM_EAGAIN. */
    int (*repository_followed)(void *arg, const char *endpoint, const char *repository);
};
void cm_host_set_daemon(const struct cm_host_daemon *d);
/* shared_open of the daemon lent, or 1 when none was. */
int cm_host_shared_open(struct cm_ctx *ctx, const char *path, int *fd, void **body, size_t *len);

/* Tests and `cargoman parse` fix the clock host->now() returns; 0 restores the real one. */
void cm_host_set_clock(long long fixed);
long long cm_host_now(void);

/* Initialise a context (state_dir made lazily); secrets (n of them, none empty) are an
 * endpoint's, NULL and 0 for a sync entry. */
void cm_ctx_init(struct cm_ctx *ctx, const char *plugin, const char *instance,
                 const struct cm_section *section, char *const *secrets, size_t n_secrets,
                 const char *data_dir);
void cm_ctx_clear(struct cm_ctx *ctx);
/* The instance's state directory (host->state_dir), into buf, without creating it. */
void cm_ctx_state_path(const struct cm_ctx *ctx, char *buf, size_t len);

#endif
