/* SPDX-License-Identifier: MIT */
/*
 * Sync workers: claim a repository's pending pushes from the queue, bring its mirror up to
 * date, check every pushed id arrived, run the sync plugins, and retry with backoff.
 */
#ifndef CM_WORKER_H
#define CM_WORKER_H

#include "sync/mirror.h"

struct cm_config;
struct cm_daemon;
struct cm_endpoint_conf;
struct cm_workers;

/* Start n worker threads serving d. */
int cm_workers_start(struct cm_workers **out, struct cm_daemon *d, int n);
/* Wait for the workers to finish their current job and stop them (after queue shutdown). */
void cm_workers_stop(struct cm_workers *w);
/* How many of w's threads are serving; they only stop when the queue closes. Thread-safe. */
int cm_workers_alive(struct cm_workers *w);

/* The delay before retry number attempt (1-based): 1 s doubling to 300 s, with up to 25 %
 * jitter so retries of many repositories spread out. */
long long cm_worker_backoff(int attempt);

/* The credentials a fetch or an ls-remote of an endpoint's mirror uses: the endpoint's own
 * (auth_user, auth_token, ssl_ca_file, ssh_key with its ssh_passphrase, ssh_known_hosts) over
 * the git = { } defaults; borrowed from both. */
struct cm_mirror_auth cm_worker_auth(const struct cm_config *cfg,
                                     const struct cm_endpoint_conf *ec);

/* A sync or a reconciliation of endpoint/repository (mirror at path) found the host saying it
 * does not exist, err holding that failure: remove the mirror when it is gone for good
 * (sync/gone.h), telling the other nodes of a cluster first, and drop it from /api and count
 * it. 1 when removed (err says so), else 0 (err says what holds it back). */
int cm_worker_settle_gone(struct cm_daemon *d, const struct cm_config *cfg, const char *endpoint,
                          const char *repository, const char *path, char *err, size_t errlen);

#endif
