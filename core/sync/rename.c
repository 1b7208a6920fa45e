/* SPDX-License-Identifier: MIT */
/*
 * Following renames (rename.h). The index data_dir/mirror-ids/<endpoint>/<id> holds the name
 * an id's mirror was last synced under; it is only a hint: the mirror's own recorded id
 * (sync/mirror_identity.c) decides, so an index entry left stale by a crash misleads nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "sync/mirror.h"
#include "sync/rename.h"
#include "util/fsutil.h"

static int rn_index_rel(char *out, size_t len, const char *endpoint, const char *id)
{
    int n = snprintf(out, len, "mirror-ids/%s/%s", endpoint, id);
    return n > 0 && (size_t)n < len ? CM_OK : CM_EINVAL;
}

/* The name the index holds for id, into name. CM_OK or CM_ENOENT. */
static int rn_index_get(const char *data_dir, const char *endpoint, const char *id, char *name,
                        size_t len)
{
    char rel[512];
    const char *why;
    ssize_t n;
    int fd;

    if (rn_index_rel(rel, sizeof(rel), endpoint, id) != CM_OK ||
        (fd = cm_fs_open_under(data_dir, rel)) < 0)
        return CM_ENOENT;
    n = read(fd, name, len - 1);
    close(fd);
    if (n <= 0)
        return CM_ENOENT;
    name[n] = '\0';
    name[strcspn(name, "\n")] = '\0';
    return cm_repo_name_check(name, &why) == CM_OK ? CM_OK : CM_ENOENT;
}

void cm_rename_remember(const char *data_dir, const char *endpoint, const char *repository,
                        const char *id)
{
    char rel[512], cur[CM_REPO_NAME_MAX + 2];

    if (!id || !cm_repo_id_usable(id) || rn_index_rel(rel, sizeof(rel), endpoint, id) != CM_OK)
        return;
    if (rn_index_get(data_dir, endpoint, id, cur, sizeof(cur)) == CM_OK && !strcmp(cur, repository))
        return;
    cm_fs_write_under(data_dir, rel, repository, strlen(repository), 0644);
}

/* Remove the mirror at path, which belongs to another repository than the one now named
 * there; the caller holds its lock. */
static int rn_drop(const char *path, const char *repository, char *err, size_t errlen)
{
    if (cm_fs_rm_rf(path) != 0 || cm_fs_fsync_parent(path) != 0) {
        snprintf(err, errlen, "cannot remove the mirror another repository left at %s: %s",
                 repository, strerror(errno));
        return CM_EAGAIN;
    }
    return CM_OK;
}

/* Move the mirror at old_path (repository old) to path (repository), dropping what another
 * repository left at path; both locks are held here. */
static int rn_move(const char *endpoint, const char *old, const char *old_path,
                   const char *repository, const char *path, int drop, long long now, char *err,
                   size_t errlen)
{
    int fd_old = -1, fd_new = -1, rc;
    char lockname[4200];

    if ((rc = cm_mirror_lock(old_path, &fd_old)) != CM_OK ||
        (rc = cm_mirror_lock(path, &fd_new)) != CM_OK) {
        snprintf(err, errlen, "cannot move the mirror of %s to %s yet: %s", old, repository,
                 rc == CM_EAGAIN ? "a sync of one of them is running" : strerror(errno));
        rc = CM_EAGAIN;
        goto out;
    }
    if (drop && (rc = rn_drop(path, repository, err, errlen)) != CM_OK)
        goto out;
    /* Recorded first: a crash before the rename leaves an alias naming the mirror's own name,
     * which the next move replaces; one after it leaves a sound mirror under the new name. */
    if (cm_mirror_identity_renamed(old_path, old, repository, now) != CM_OK ||
        rename(old_path, path) != 0 || cm_fs_fsync_parent(path) != 0 ||
        cm_fs_fsync_parent(old_path) != 0) {
        snprintf(err, errlen, "cannot move the mirror of %s to %s: %s", old, repository,
                 strerror(errno));
        rc = CM_EAGAIN;
        goto out;
    }
    /* Unlinked while held, as a failed first clone does: a sync that opened it sees it is
     * no longer the lock. */
    snprintf(lockname, sizeof(lockname), "%s.lock", old_path);
    unlink(lockname);
    close(fd_old);
    fd_old = -1;
    cm_mirror_prune_dirs(old_path, endpoint, old);
    rc = CM_OK;
out:
    if (fd_old >= 0)
        close(fd_old);
    if (fd_new >= 0)
        close(fd_new);
    return rc;
}

int cm_rename_follow(const char *data_dir, const char *endpoint, const char *repository,
                     const char *id, long long now, struct cm_rename *out, char *err, size_t errlen)
{
    struct cm_mirror_identity here, there;
    char path[4096], old_path[4096], old[CM_REPO_NAME_MAX + 1];
    int have, fd = -1, rc;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", repository);
    if (!id || !cm_repo_id_usable(id) ||
        cm_mirror_path(path, sizeof(path), data_dir, endpoint, repository) != CM_OK)
        return CM_OK;
    have = cm_mirror_identity_read(path, &here) == CM_OK;
    if (have && !strcmp(here.id, id))
        return CM_OK; /* the usual case: the name's mirror is this repository's */
    if (rn_index_get(data_dir, endpoint, id, old, sizeof(old)) == CM_OK &&
        strcmp(old, repository) != 0 &&
        cm_mirror_path(old_path, sizeof(old_path), data_dir, endpoint, old) == CM_OK &&
        cm_mirror_identity_read(old_path, &there) == CM_OK && !strcmp(there.id, id)) {
        /* An earlier name: a late or replayed delivery, a host's retry, or a rename back.
         * The host vouched for the name when it sent it, not now; the name may be another
         * repository's since, so the mirror stays and is fetched by its present name (hosts
         * redirect a renamed repository's old URL). */
        if (cm_mirror_alias_of(there.aliases, repository)) {
            snprintf(out->name, sizeof(out->name), "%s", old);
            out->alias = 1;
            return CM_OK;
        }
        rc = rn_move(endpoint, old, old_path, repository, path, have, now, err, errlen);
        if (rc == CM_OK) {
            snprintf(out->from, sizeof(out->from), "%s", old);
            if (have)
                snprintf(out->dropped_id, sizeof(out->dropped_id), "%s", here.id);
            cm_rename_remember(data_dir, endpoint, repository, id);
        }
        return rc;
    }
    /* No id recorded: a mirror from before ids were kept, or of an unsigned endpoint: this
     * repository adopts it, if its history continues the mirror's (the caller guards it). */
    if (!have)
        return CM_OK;
    if (!here.id[0]) {
        out->adopted = 1;
        return CM_OK;
    }
    /* Another repository's mirror holds the name: the host gave the name to a new repository.
     * Its mirror goes (it is a cache: the old repository's next push clones it again); what it
     * published stays that repository's. */
    if ((rc = cm_mirror_lock(path, &fd)) != CM_OK) {
        snprintf(err, errlen, "cannot replace the mirror at %s yet: %s", repository,
                 rc == CM_EAGAIN ? "a sync of it is running" : strerror(errno));
        return CM_EAGAIN;
    }
    rc = rn_drop(path, repository, err, errlen);
    close(fd);
    if (rc == CM_OK)
        snprintf(out->dropped_id, sizeof(out->dropped_id), "%s", here.id);
    return rc;
}
