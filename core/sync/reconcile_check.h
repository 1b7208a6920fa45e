/* SPDX-License-Identifier: MIT */
/*
 * One reconciliation check (reconcile_check.c), as the scheduler (reconcile.c) runs it: private
 * to those two files.
 */
#ifndef CM_RECONCILE_CHECK_H
#define CM_RECONCILE_CHECK_H

#include <stddef.h>

struct cm_daemon;

/* What one check needs, copied out of the list so the lock is not held during it. */
struct rc_task {
    char *endpoint, *repository, *path;
    char host[300];
    long long clean;
    int warned;
};

/* RC_GONE: the host answered that the repository does not exist and it was gone long enough
 * for its mirror to be removed (sync/gone.h); it leaves the list. */
enum rc_outcome { RC_DONE, RC_HOST_FAILED, RC_HOST_THROTTLED, RC_SKIPPED, RC_GONE };

/* ls-remote t's repository with the running configuration and queue a sync when it drifted;
 * updates t->host, t->clean and t->warned. Any thread, without the scheduler's lock. */
enum rc_outcome cm_reconcile_check(struct cm_daemon *d, struct rc_task *t);

/* The host ("scheme://host:port") the mirror at path is fetched from under the running
 * configuration, into host ("" when it has no usable URL). */
void cm_reconcile_host_of(struct cm_daemon *d, const char *endpoint, const char *repository,
                          const char *path, char *host, size_t hostlen);

#endif
