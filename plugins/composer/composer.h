/* SPDX-License-Identifier: MIT */
/*
 * Internal to the composer sync plugin: the instance shared by composer.c (descriptor, config,
 * reading composer.json at each ref) and publish.c (versions, ownership, dist zips, p2 files).
 */
#ifndef CMC_COMPOSER_H
#define CMC_COMPOSER_H

#include "cache.h"
#include "index.h"
#include "policy.h"

#include <cargoman/plugin.h>

#include <jansson.h>
#include <pthread.h>

/* Largest composer.json read; a bigger one is skipped with a note. */
#define CMC_COMPOSER_JSON_MAX (1024 * 1024)

struct cmc_plugin {
    const struct cm_host *host;      /* borrowed for the plugin's life */
    struct cm_ctx *ctx;              /* borrowed */
    char *base_url;                  /* owned; without trailing slash */
    char *state_dir;                 /* owned copy of host->state_dir(ctx); NULL until started */
    struct cmc_files files;          /* host, ctx and state_dir, for index.c and state.c */
    pthread_mutex_t *lock;           /* the process-wide lock: guards owners and packages.json */
    json_t *owners;                  /* package name -> owner key "endpoint:repository"; shared by
                                      * every instance on the same state_dir (see cmc_shared_owners) */
    struct cmc_policy policy;        /* the entry's packages patterns; this instance's own */
    struct cmc_cache cache;          /* repositories published last; this instance's own */
    struct cmc_published *published; /* commits of state files zip requests asked about */
};

/* Turn the refs recorded in e->st (see state.h) into published versions for the repository
 * whose owner key is owner ("endpoint:repository"): the packages patterns and ownership checks,
 * dist zips, p2 files, packages.json, notes on the mirror. Updates e->st ("package",
 * "shasums"); reuses and then replaces e's versions and p2 texts (see cache.h).
 * CM_OK (also when the name is refused or a version skipped: those are configuration or
 * content, not worth a retry), CM_EAGAIN (a zip could not be made: the rest is published,
 * retry later), CM_ENOMEM or CM_ERROR. Runs on worker threads. */
int cmc_publish(struct cmc_plugin *p, const struct cm_mirror *m, struct cmc_repo_cache *e,
                const char *owner);

/* Take pkg from the repository holding it (its key into holder), on the operator's request:
 * the next repository that publishes it (the same one included) takes it; the files stay
 * until then, but packages.json no longer lists it. CM_OK; CM_ENOENT when nobody holds it;
 * CM_ERROR or CM_ENOMEM when packages.json could not be written. Any thread. */
int cmc_release(struct cmc_plugin *p, const char *pkg, char *holder, size_t holder_len);

/* The operator routes (admin.c, SDK 1.4): GET /owners, POST /owners/<vendor>/<name>/release,
 * under /api/<instance>. */
extern const struct cm_route cmc_admin_routes[];

/* Answer one of cmc_admin_routes (admin.c); path is below /api/<instance>. */
int cmc_admin(struct cmc_plugin *p, const char *method, const char *path,
              struct cm_http_response *rs);

/* The repository's routes (serve.c): /packages.json, /p2/, /dist/. */
extern const struct cm_route cmc_routes[];

/* Answer a GET or HEAD on cmc_routes with the file under the state directory (serve.c).
 * Runs concurrently on HTTP threads; reads only p's state_dir. */
int cmc_serve(void *self, const struct cm_http_request *rq, struct cm_http_response *rs);

/* The host replaced or removed the file path (relative to the state directory) with the
 * cluster's version (SDK 1.3, cluster.c): a state file's package claim is applied to the
 * ownership map, and its cached copy forgotten. Any thread, no on_sync of p running. */
void cmc_state_changed(void *self, const char *path);

#endif /* CMC_COMPOSER_H */
