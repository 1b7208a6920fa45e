/* SPDX-License-Identifier: MIT */
/*
 * Bringing a mirror up to date on disk: the per-mirror lock file, a first clone built aside
 * and renamed into place, what a killed sync left behind cleaned up, and nothing left behind
 * by a first clone that failed. The fetch itself is mirror_fetch.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "util/fsutil.h"
#include "util/url.h"

/* Lock files a killed fetch left behind would block every later ref update. */
static int mr_rm_lock(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);

    if (flag == FTW_F && n > 5 && !strcmp(path + n - 5, ".lock"))
        unlink(path);
    return 0;
}

/* Remove what a sync killed halfway left in the mirror: ref and config locks, and the temp
 * files of a pack it was receiving. Only called under the mirror's own lock, so nobody else
 * is writing them. */
static void mr_clean_stale(const char *path)
{
    static const char *const top[] = {"HEAD.lock", "packed-refs.lock", "config.lock",
                                      "FETCH_HEAD.lock", "shallow.lock"};
    char buf[4200];
    struct dirent *e;
    DIR *d;

    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        snprintf(buf, sizeof(buf), "%s/%s", path, top[i]);
        unlink(buf);
    }
    snprintf(buf, sizeof(buf), "%s/refs", path);
    nftw(buf, mr_rm_lock, 16, FTW_PHYS);
    snprintf(buf, sizeof(buf), "%s/objects/pack", path);
    if (!(d = opendir(buf)))
        return;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "pack_git2_", 10) || !strncmp(e->d_name, "tmp_", 4))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static void mr_set_state(struct cm_mirror *m, char *branch, int is_new, int fetched)
{
    int same = branch && m->default_branch ? !strcmp(branch, m->default_branch)
                                           : branch == m->default_branch;
    char **r = NULL;

    pthread_mutex_lock(&m->lock);
    m->is_new = is_new;
    m->fetched = fetched;
    /* A reader may still hold the old name: it lives on until cm_mirror_free. */
    if (same ||
        (m->default_branch && !(r = realloc(m->retired, (m->n_retired + 1) * sizeof(*r))))) {
        free(branch);
    } else {
        if (r) {
            m->retired = r;
            m->retired[m->n_retired++] = m->default_branch;
        }
        m->default_branch = branch;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Take the mirror's lock file lockname in dir (created with its parents as needed) into *fd.
 * CM_OK; CM_EAGAIN when another sync holds it, or held it and removed it after a failed first
 * clone (the file we locked is no longer the one at lockname); CM_ERROR with errno. */
static int mr_lock(const char *lockname, const char *dir, int *fd)
{
    struct stat mine, named;

    *fd = -1;
    /* A failed first clone of a sibling may remove dir between our mkdir and open: again. */
    for (int tries = 0; tries < 3; tries++) {
        if (cm_fs_mkdir_p(dir) != 0)
            return CM_ERROR;
        if ((*fd = open(lockname, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) >= 0 || errno != ENOENT)
            break;
    }
    if (*fd < 0)
        return CM_ERROR;
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(*fd);
        *fd = -1;
        errno = saved; /* for the caller's message */
        return saved == EWOULDBLOCK ? CM_EAGAIN : CM_ERROR;
    }
    /* Whoever unlinks the lock file does so while holding it: after we got it, the name must
     * still lead to the inode we locked, else a third sync may be locking a new file. */
    if (fstat(*fd, &mine) != 0 || stat(lockname, &named) != 0 || mine.st_dev != named.st_dev ||
        mine.st_ino != named.st_ino) {
        close(*fd);
        *fd = -1;
        return CM_EAGAIN;
    }
    return CM_OK;
}

int cm_mirror_lock(const char *path, int *fd)
{
    size_t len = strlen(path) + 8;
    char *lockname = malloc(len), *parent = strdup(path);
    int rc = CM_ENOMEM;

    *fd = -1;
    if (lockname && parent) {
        snprintf(lockname, len, "%s.lock", path);
        rc = mr_lock(lockname, dirname(parent), fd);
    }
    free(lockname);
    free(parent);
    return rc;
}

/* rmdir refuses a directory that holds anything, so other mirrors are safe; the first
 * refusal ends the walk. One directory per '/' in the repository, and the endpoint's own when
 * the path is mirrors/<endpoint>/<repository>.git. */
void cm_mirror_prune_dirs(const char *path, const char *endpoint, const char *repository)
{
    char *p = strdup(path), *slash;
    size_t levels = 0, plen, rlen, elen;

    if (!p || !repository)
        goto out;
    for (const char *r = repository; *r; r++)
        levels += *r == '/';
    plen = strlen(p);
    rlen = strlen(repository);
    elen = endpoint ? strlen(endpoint) : 0;
    if (elen && plen > rlen + elen + 6 && !strcmp(p + plen - 4, ".git") &&
        !strncmp(p + plen - 4 - rlen, repository, rlen) && p[plen - 5 - rlen] == '/' &&
        !strncmp(p + plen - 5 - rlen - elen, endpoint, elen) && p[plen - 6 - rlen - elen] == '/')
        levels++;
    while (levels-- > 0 && (slash = strrchr(p, '/')) && slash != p) {
        *slash = '\0';
        if (rmdir(p) != 0)
            break;
    }
out:
    free(p);
}

/* libgit2 writes every fetched ref as a loose file, so with thousands of tags each later walk
 * or lookup opens thousands of files (the fetch's own negotiation and tip updates included).
 * Packing them into packed-refs after each fetch, as git does, keeps that to one file. The
 * rewrite is libgit2's lock-and-rename, so a crash leaves the old refs or the new ones; a
 * failure only costs speed. */
static void mr_pack_refs(git_repository *repo)
{
    git_refdb *db = NULL;

    if (git_repository_refdb(&db, repo) == 0)
        git_refdb_compress(db);
    git_refdb_free(db);
}

/* What the last sync of m found: the repository missing at the host (for a first clone: created),
 * the lock taken. */
static void mr_set_outcome(struct cm_mirror *m, int not_found, int created, int busy)
{
    pthread_mutex_lock(&m->lock);
    m->not_found = not_found;
    m->missing = not_found && created;
    m->busy = busy;
    pthread_mutex_unlock(&m->lock);
}

/* Fetch into repo (s holds the mirror and credentials), then check the history guard's
 * snapshot when there is one. CM_OK; else err is set and the answer is cm_mirror_fetch_fail's,
 * CM_ERROR, or CM_EAUTH when the fetch did not continue snap (its refs are put back). */
static int mr_fetch(git_repository *repo, struct cm_mirror_fetch *s,
                    const struct cm_mirror_refsnap *snap, char *err, size_t errlen)
{
    const struct cm_mirror_auth *auth = s->auth;
    char why[256];
    int rc;

    if (cm_mirror_tls_begin(auth ? auth->ssl_ca_file : NULL, err, errlen) != CM_OK)
        return CM_ERROR;
    if (cm_mirror_fetch_remote(repo, s) != 0) {
        rc = cm_mirror_fetch_fail(s, err, errlen);
        cm_mirror_tls_end();
        return rc;
    }
    cm_mirror_tls_end();
    if (snap && cm_mirror_refsnap_check(repo, snap, why, sizeof(why)) != CM_OK) {
        int put_back = cm_mirror_refsnap_restore(repo, snap);
        snprintf(err, errlen,
                 "%s does not continue this mirror's history (%s): the host may have given the "
                 "name to another repository; %s, nothing published, and only a push signed for "
                 "the repository brings it on",
                 s->m->shown_url, why,
                 put_back == CM_OK ? "its refs were put back" : "putting its refs back failed");
        return CM_EAUTH;
    }
    mr_pack_refs(repo);
    return CM_OK;
}

/* Record m's URL and id in repo's config (cm_mirror_record). A first mirror (created) published
 * without them could be neither reconciled nor followed through a rename, and no later sync
 * would notice: its sync fails, worth retrying, and the caller removes it. An existing mirror
 * keeps what its earlier syncs recorded and its next sync records again; its fetch has been
 * done and must not be retried for this, and cm_mirror_sync has no way to warn on success (nor
 * does the mirror log), so there the failure is left to the next sync. CM_OK, or CM_EAGAIN
 * with err set. */
static int mr_record(git_repository *repo, struct cm_mirror *m, int created, char *err,
                     size_t errlen)
{
    int rc = cm_mirror_record(repo, m);

    if (rc == CM_OK || !created)
        return CM_OK;
    snprintf(err, errlen,
             "cannot record the URL and repository id of %s in the new mirror's config: %s",
             m->shown_url, rc == CM_ENOMEM ? strerror(ENOMEM) : cm_mirror_git_msg());
    return CM_EAGAIN;
}

int cm_mirror_sync(struct cm_mirror *m, const struct cm_mirror_auth *auth, char *err, size_t errlen)
{
    struct cm_mirror_fetch s = {.m = m, .auth = auth};
    git_repository *repo = NULL;
    git_repository_init_options io;
    size_t plen = strlen(m->path) + 8;
    char *tmp = malloc(plen), *lockname = malloc(plen), *parent = strdup(m->path), *dir, *branch;
    int lockfd = -1, created = 0, fetch = 1, busy = 0, rc = CM_ENOMEM;
    struct cm_mirror_refsnap *snap = NULL;
    struct stat st;

    struct cm_url u;

    if (errlen)
        err[0] = '\0';
    /* Local paths and file:// would read another mirror straight from disk. */
    if (cm_url_parse(m->url, &u) != CM_OK) {
        snprintf(err, errlen,
                 "refusing to fetch %s: not a remote git URL (https://, http://, ssh://, "
                 "git:// or user@host:path)",
                 m->shown_url);
        free(tmp);
        free(lockname);
        free(parent);
        return CM_ERROR;
    }
    s.d.timeout = auth && auth->timeout > 0 ? auth->timeout : cm_mirror_default_timeout();
    if (!tmp || !lockname || !parent)
        goto out;
    snprintf(tmp, plen, "%s.tmp", m->path);
    snprintf(lockname, plen, "%s.lock", m->path);
    dir = dirname(parent);
    /* A failure of the local disk (full, read-only, out of inodes) is the operator's to fix,
     * not the push's fault: every such failure below is CM_EAGAIN, retried until
     * server.sync_max_age, never CM_ERROR, on which the worker gives the push up at once. */
    if ((rc = mr_lock(lockname, dir, &lockfd)) != CM_OK) {
        busy = rc == CM_EAGAIN;
        snprintf(err, errlen, "cannot lock %s: %s", lockname,
                 busy ? "another sync of this mirror is running" : strerror(errno));
        rc = CM_EAGAIN;
        goto out;
    }
    rc = CM_ERROR;
    cm_fs_rm_rf(tmp);
    if (m->expect_existing && stat(m->path, &st) != 0) {
        /* Moved to the repository's new name between the caller's look and our lock: the
         * retry finds where it went. Nothing of ours may stay under this name. */
        snprintf(err, errlen, "the mirror %s moved to a new name while this sync waited", m->path);
        unlink(lockname);
        close(lockfd);
        lockfd = -1;
        cm_mirror_prune_dirs(m->path, m->endpoint, m->repository);
        rc = CM_EAGAIN;
        goto out;
    }
    if (stat(m->path, &st) != 0) {
        /* First sync: build the whole mirror aside, then rename it into place in one step. */
        created = 1;
        git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
        io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
        if (git_repository_init_ext(&repo, tmp, &io) != 0) {
            snprintf(err, errlen, "cannot create %s: %s", tmp, cm_mirror_git_msg());
            rc = CM_EAGAIN;
            goto out;
        }
    } else {
        mr_clean_stale(m->path);
        if (git_repository_open_bare(&repo, m->path) != 0) {
            snprintf(err, errlen, "%s is not a git repository (%s): remove it to clone again",
                     m->path, cm_mirror_git_msg());
            goto out;
        }
    }
    /* Nothing fetched, nothing to guard: the refs stay as the mirror has them. */
    fetch = created || !m->current || !m->current(m->current_arg, m);
    if (fetch && !created && m->guard_history &&
        (rc = cm_mirror_refsnap_take(repo, &snap)) != CM_OK)
        goto out;
    if (fetch && (rc = mr_fetch(repo, &s, snap, err, errlen)) != CM_OK)
        goto out;
    if ((rc = mr_record(repo, m, created, err, errlen)) != CM_OK)
        goto out;
    rc = CM_ERROR;
    branch = cm_mirror_head_branch(repo);
    if (created && (rename(tmp, m->path) != 0 || cm_fs_fsync_dir(dir) != 0)) {
        snprintf(err, errlen, "cannot move the new mirror to %s: %s", m->path, strerror(errno));
        free(branch);
        rc = CM_EAGAIN;
        goto out;
    }
    mr_set_state(m, branch, created, fetch);
    rc = CM_OK;
out:
    cm_mirror_refsnap_free(snap);
    git_repository_free(repo);
    if (rc != CM_OK && created)
        cm_fs_rm_rf(tmp);
    if (rc == CM_ENOMEM)
        snprintf(err, errlen, "out of memory syncing %s", m->path);
    /* A first clone that failed leaves nothing: a sender inventing names must not be able to
     * fill data_dir with lock files and empty directories. Unlinked while still locked, so a
     * sync that opened the old lock file sees (mr_lock) that it is no longer the lock. */
    if (rc != CM_OK && created && lockfd >= 0 && stat(m->path, &st) != 0 && errno == ENOENT) {
        unlink(lockname);
        close(lockfd);
        lockfd = -1;
        cm_mirror_prune_dirs(m->path, m->endpoint, m->repository);
    }
    mr_set_outcome(m, rc == CM_ENOENT, created, busy);
    if (rc == CM_ENOENT)
        rc = CM_ERROR; /* the callers' contract: worth retrying or not */
    if (lockfd >= 0)
        close(lockfd);
    free(tmp);
    free(lockname);
    free(parent);
    return rc;
}
