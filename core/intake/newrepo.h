/* SPDX-License-Identifier: MIT */
/*
 * The rate at which one endpoint may name repositories the gateway has never seen: each new
 * name costs a mirror directory, a lock file and fetches, so a sender inventing names must
 * not be able to make thousands. A token bucket per endpoint; thread-safe.
 */
#ifndef CM_NEWREPO_H
#define CM_NEWREPO_H

struct cm_newrepo;

/* *out is the caller's, freed with cm_newrepo_free. CM_OK or CM_ENOMEM. */
int cm_newrepo_new(struct cm_newrepo **out);
void cm_newrepo_free(struct cm_newrepo *nr);

/* Spend one of endpoint's tokens: per_hour a bucket holds at most and gets back per hour
 * (0: no limit), now in seconds of a monotonic clock. CM_OK; CM_EAGAIN when none is left,
 * with *retry_after the whole seconds until one is; CM_ENOMEM. */
int cm_newrepo_take(struct cm_newrepo *nr, const char *endpoint, long long per_hour, double now,
                    int *retry_after);

/* Return a token cm_newrepo_take gave for a repository that was not queued after all. */
void cm_newrepo_give_back(struct cm_newrepo *nr, const char *endpoint, long long per_hour);

#endif
