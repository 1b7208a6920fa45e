/* SPDX-License-Identifier: MIT */
/*
 * Repositories gone from their host (gone.h). The "missing since" time lives in the mirror
 * (a file beside libgit2's, which it ignores), so it survives restarts and goes with the
 * mirror; which endpoints answered lives in memory, so after a restart an endpoint must
 * answer again before any of its repositories counts as gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "intake/event.h"
#include "sync/gone.h"
#include "sync/mirror.h"
#include "util/fsutil.h"

#define GONE_SINCE_FILE "cargoman-missing-since"

struct gone_endpoint {
    char *name;
    long long answered; /* the last time its host answered for a repository */
};

struct cm_gone {
    pthread_mutex_t lock;
    struct gone_endpoint *eps;
    size_t n;
};

int cm_gone_new(struct cm_gone **out)
{
    struct cm_gone *g = calloc(1, sizeof(*g));

    *out = NULL;
    if (!g)
        return CM_ENOMEM;
    pthread_mutex_init(&g->lock, NULL);
    *out = g;
    return CM_OK;
}

void cm_gone_free(struct cm_gone *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        free(g->eps[i].name);
    free(g->eps);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* Under the lock: endpoint's entry, added when add is set. NULL when absent or out of memory
 * (then it merely counts as never answered, which keeps every name where it is). */
static struct gone_endpoint *gone_find(struct cm_gone *g, const char *endpoint, int add)
{
    struct gone_endpoint *grown;

    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->eps[i].name, endpoint))
            return &g->eps[i];
    if (!add || !(grown = realloc(g->eps, (g->n + 1) * sizeof(*grown))))
        return NULL;
    g->eps = grown;
    if (!(grown[g->n].name = strdup(endpoint)))
        return NULL;
    grown[g->n].answered = 0;
    return &grown[g->n++];
}

void cm_gone_answered(struct cm_gone *g, const char *endpoint, const char *path, long long now)
{
    struct gone_endpoint *e;

    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    if ((e = gone_find(g, endpoint, 1)) != NULL && now > e->answered)
        e->answered = now;
    pthread_mutex_unlock(&g->lock);
    cm_fs_unlink_under(path, GONE_SINCE_FILE); /* ENOENT, the usual answer, is fine */
}

/* The time recorded in the mirror at path, or 0 when none (or unreadable: then it starts
 * again from now, which only delays a release). */
static long long gone_since_read(const char *path)
{
    char buf[32], *end;
    long long v;
    ssize_t n;
    int fd = cm_fs_open_under(path, GONE_SINCE_FILE);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    return errno == 0 && end != buf && (*end == '\n' || *end == '\0') && v > 0 ? v : 0;
}

int cm_gone_missing(struct cm_gone *g, const char *endpoint, const char *path, long long now,
                    long long max_age, char *why, size_t whylen)
{
    struct gone_endpoint *e;
    long long since, answered = 0;
    char at[40], buf[32];
    struct stat sb;

    why[0] = '\0';
    if (!g || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return CM_OK; /* never mirrored: the worker's missing_repository_max_age applies */
    if ((since = gone_since_read(path)) == 0 || since > now) {
        int n = snprintf(buf, sizeof(buf), "%lld\n", now);
        if (cm_fs_write_under(path, GONE_SINCE_FILE, buf, (size_t)n, 0644) != 0)
            snprintf(why, whylen, "cannot record since when it is missing: %s", strerror(errno));
        since = now;
    }
    cm_format_time(since, at, sizeof(at));
    if (max_age == 0) {
        snprintf(why, whylen,
                 "missing at the host since %s; server.gone_repository_max_age = 0 keeps its "
                 "mirror and package names: `cargoman composer release` frees a name",
                 at);
        return CM_OK;
    }
    if (now - since < max_age)
        return CM_OK;
    pthread_mutex_lock(&g->lock);
    if ((e = gone_find(g, endpoint, 0)) != NULL)
        answered = e->answered;
    pthread_mutex_unlock(&g->lock);
    if (answered <= since) {
        snprintf(why, whylen,
                 "missing at the host since %s, but no other repository of endpoint %s was "
                 "reached since then, so the credentials may have lost access rather than the "
                 "repository being deleted: its mirror and package names are kept "
                 "(`cargoman composer release` frees a name)",
                 at, endpoint);
        return CM_OK;
    }
    snprintf(why, whylen, "missing at the host since %s while endpoint %s answered for others", at,
             endpoint);
    return CM_ENOENT;
}

int cm_gone_remove(const char *path, const char *endpoint, const char *repository, char *err,
                   size_t errlen)
{
    char aside[4200], lockname[4200];
    int fd = -1, rc;

    if ((rc = cm_mirror_lock(path, &fd)) != CM_OK) {
        snprintf(err, errlen, "cannot remove the mirror at %s yet: %s", path,
                 rc == CM_EAGAIN ? "a sync of it is running" : strerror(errno));
        return rc == CM_EAGAIN ? CM_EAGAIN : CM_ERROR;
    }
    /* The verdict was reached without the lock (the reconciler's ls-remote does not take it):
     * a sync whose fetch worked since then dropped the record, and its answer is the newer. */
    if (gone_since_read(path) == 0) {
        snprintf(err, errlen, "kept the mirror at %s: its host answered for it since", path);
        close(fd);
        return CM_EAGAIN;
    }
    /* Renamed aside first, so a crash leaves the mirror whole or not there at all, never a
     * half-deleted repository a sync would trip over (*.tmp is skipped by every walk). */
    snprintf(aside, sizeof(aside), "%s.gone.tmp", path);
    cm_fs_rm_rf(aside);
    if (rename(path, aside) != 0 || cm_fs_fsync_parent(path) != 0) {
        snprintf(err, errlen, "cannot remove the mirror at %s: %s", path, strerror(errno));
        close(fd);
        return CM_ERROR;
    }
    cm_fs_rm_rf(aside); /* what is left after a failure here is only disk space */
    /* Unlinked while held, as a failed first clone does: a sync that opened it sees it is no
     * longer the lock. */
    snprintf(lockname, sizeof(lockname), "%s.lock", path);
    unlink(lockname);
    close(fd);
    cm_mirror_prune_dirs(path, endpoint, repository);
    return CM_OK;
}

/* Append to err as much of "; <text>" as fits. */
static void gone_append(char *err, size_t errlen, const char *a, const char *b)
{
    size_t len = strlen(err);

    if (len + 3 < errlen && snprintf(err + len, errlen - len, "; %s%s", a, b) < 0)
        err[len] = '\0';
}

int cm_gone_settle(struct cm_gone *g, const char *endpoint, const char *repository,
                   const char *path, long long now, long long max_age, cm_gone_record_fn record,
                   void *record_arg, char *err, size_t errlen)
{
    char why[512], rmerr[512];

    if (cm_gone_missing(g, endpoint, path, now, max_age, why, sizeof(why)) != CM_ENOENT) {
        if (why[0])
            gone_append(err, errlen, why, "");
        return 0;
    }
    if (record && record(record_arg, endpoint, repository) != CM_OK) {
        gone_append(err, errlen, "gone for good, but ",
                    "the other nodes could not be told (the database is away): the mirror stays "
                    "until the next check");
        return 0;
    }
    if (cm_gone_remove(path, endpoint, repository, rmerr, sizeof(rmerr)) != CM_OK) {
        gone_append(err, errlen, "gone for good, but ", rmerr);
        return 0;
    }
    snprintf(err, errlen,
             "the repository is gone from its host (%s): its mirror is removed, and the package "
             "names it published go to the next repository that publishes them",
             why);
    return 1;
}
