/* SPDX-License-Identifier: MIT */
/*
 * Repositories gone from their host. A mirror whose host has answered "no such repository"
 * for server.gone_repository_max_age is removed, so the names it published are released to
 * the next repository that publishes them (SDK 1.4 repository_followed). "Not found" alone
 * proves nothing: a private repository answers 404 to a credential that lost access, and
 * releasing its name then would hand an internal package to whoever publishes it next. So a
 * repository counts as gone only when the same endpoint answered for another repository
 * after the first "not found": the credentials and the host work, this one repository is
 * missing. In a cluster each node judges its own mirrors, and records its finding for the
 * others before it removes one (the record callback of cm_gone_settle).
 */
#ifndef CM_GONE_H
#define CM_GONE_H

#include <stddef.h>

struct cm_gone;

/* A tracker of which endpoints answered, and when. CM_OK or CM_ENOMEM. */
int cm_gone_new(struct cm_gone **out);
void cm_gone_free(struct cm_gone *g);

/* The host of endpoint answered for the repository whose mirror is at path (a fetch or an
 * ls-remote worked) at now (epoch seconds): the endpoint's credentials work, and the mirror's
 * "missing since" record, if any, is dropped. Any thread; g may be NULL (nothing recorded). */
void cm_gone_answered(struct cm_gone *g, const char *endpoint, const char *path, long long now);

/* The host of endpoint said, at now, that the repository whose mirror is at path does not
 * exist. Records since when (in the mirror, so a restart keeps it). CM_ENOENT when the
 * repository is gone for good: missing for max_age seconds (0: never gone) while endpoint
 * answered for another repository since; the caller removes the mirror (cm_gone_remove).
 * CM_OK otherwise, with why set to one line saying what holds it back ("" when nothing is to
 * be said: no mirror at path, or still within max_age). Any thread; g may be NULL (CM_OK). */
int cm_gone_missing(struct cm_gone *g, const char *endpoint, const char *path, long long now,
                    long long max_age, char *why, size_t whylen);

/* Remove the mirror at path (endpoint/repository's) that cm_gone_missing found gone, under
 * the lock a sync takes. CM_OK; CM_EAGAIN when a sync holds the lock, or when the mirror's
 * "missing since" record is gone by then (a sync's fetch worked meanwhile: it stays), with one
 * line in err (try at the next check); CM_ERROR with one line in err when the disk refused. */
int cm_gone_remove(const char *path, const char *endpoint, const char *repository, char *err,
                   size_t errlen);

/* Told, before a mirror is removed, that endpoint/repository is gone for good; anything but
 * CM_OK keeps the mirror, so the finding is made again at the next check. */
typedef int (*cm_gone_record_fn)(void *arg, const char *endpoint, const char *repository);

/* A sync or a check of endpoint/repository (mirror at path) failed with the host saying the
 * repository does not exist, and err holds that failure: cm_gone_missing, then, when it is
 * gone for good, record (may be NULL) and cm_gone_remove. 1 when the mirror was removed, err
 * then replaced by one line saying so and that its package names are released; else 0, with
 * what holds it back appended to err. g may be NULL (0, err unchanged). */
int cm_gone_settle(struct cm_gone *g, const char *endpoint, const char *repository,
                   const char *path, long long now, long long max_age, cm_gone_record_fn record,
                   void *record_arg, char *err, size_t errlen);

#endif
