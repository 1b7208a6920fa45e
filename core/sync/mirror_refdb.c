/* SPDX-License-Identifier: MIT */
/*
 * A refdb that passes everything to libgit2's files backend, but lists only the first
 * CM_MIRROR_NEGOTIATE_REFS refs while a fetch negotiates (mirror_refdb.h).
 *
 * Why: libgit2 1.5 negotiates by pushing every local ref ("refs/ *") into a revwalk with
 * insert-by-date, before any commit's date is parsed, so each insert walks the whole list:
 * O(refs^2). At 20,000 tags that was 3.5 s of a 4.1 s incremental fetch (git fetch: 0.5 s);
 * perf showed the time in git_commit_list_insert_by_date under git_smart__negotiate_fetch.
 * The walk then sends at most 256 haves, taking the pushed refs in order (a ref is only
 * reached after every ref pushed before it), so refs past the 256th never reach the server:
 * cutting the list there sends the same haves when the first refs name distinct commits, and
 * only a possibly larger pack when they do not. What to fetch is decided apart from this
 * (libgit2 wants only the remote tips missing from the object database), and the tip updates
 * and the prune after the download list every ref again.
 */
#include <stdint.h>
#include <stdlib.h>

#include <git2.h>
#include <git2/sys/refdb_backend.h>
#include <git2/sys/refs.h>

#include "sync/mirror_refdb.h"

struct cm_mirror_refdb {
    git_refdb_backend parent; /* first: libgit2 hands us back this pointer */
    git_refdb_backend *fs;    /* libgit2's files backend, owned by fs_db */
    git_refdb *fs_db;         /* owned: the refdb the files backend's iterators expect */
    int negotiating;
};

struct mr_iter {
    git_reference_iterator parent; /* first, as libgit2 requires */
    git_reference_iterator *inner; /* owned: the files backend's */
    size_t left;                   /* refs still to list; SIZE_MAX when all */
};

static unsigned long mr_withheld;

unsigned long cm_mirror_refdb_withheld(void)
{
    return __atomic_load_n(&mr_withheld, __ATOMIC_RELAXED);
}

static git_refdb_backend *mr_fs(git_refdb_backend *b)
{
    return ((struct cm_mirror_refdb *)b)->fs;
}

/* The cut-off: count what is left out, for the test hook, and end the listing. */
static int mr_iter_cut(struct mr_iter *it)
{
    const char *name;
    unsigned long n = 0;

    while (it->inner->next_name(&name, it->inner) == 0)
        n++;
    if (n)
        __atomic_fetch_add(&mr_withheld, n, __ATOMIC_RELAXED);
    it->left = SIZE_MAX - 1; /* counted once; still listing nothing */
    return GIT_ITEROVER;
}

static int mr_iter_next(git_reference **out, git_reference_iterator *iter)
{
    struct mr_iter *it = (struct mr_iter *)iter;
    int rc;

    if (it->left == 0)
        return mr_iter_cut(it);
    if (it->left == SIZE_MAX - 1)
        return GIT_ITEROVER;
    rc = it->inner->next(out, it->inner);
    if (rc == 0 && it->left != SIZE_MAX)
        it->left--;
    return rc;
}

static int mr_iter_next_name(const char **out, git_reference_iterator *iter)
{
    struct mr_iter *it = (struct mr_iter *)iter;
    int rc;

    if (it->left == 0)
        return mr_iter_cut(it);
    if (it->left == SIZE_MAX - 1)
        return GIT_ITEROVER;
    rc = it->inner->next_name(out, it->inner);
    if (rc == 0 && it->left != SIZE_MAX)
        it->left--;
    return rc;
}

static void mr_iter_free(git_reference_iterator *iter)
{
    struct mr_iter *it = (struct mr_iter *)iter;

    it->inner->free(it->inner);
    free(it);
}

static int mr_iterator(git_reference_iterator **out, git_refdb_backend *b, const char *glob)
{
    struct cm_mirror_refdb *db = (struct cm_mirror_refdb *)b;
    struct mr_iter *it = calloc(1, sizeof(*it));
    int rc;

    if (!it) {
        git_error_set_oom();
        return -1;
    }
    if ((rc = db->fs->iterator(&it->inner, db->fs, glob)) < 0) {
        free(it);
        return rc;
    }
    /* The files backend's iterator finds its backend through its refdb. */
    it->inner->db = db->fs_db;
    it->left = db->negotiating ? CM_MIRROR_NEGOTIATE_REFS : SIZE_MAX;
    it->parent.next = mr_iter_next;
    it->parent.next_name = mr_iter_next_name;
    it->parent.free = mr_iter_free;
    *out = &it->parent;
    return 0;
}

static int mr_exists(int *exists, git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->exists(exists, mr_fs(b), name);
}

static int mr_lookup(git_reference **out, git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->lookup(out, mr_fs(b), name);
}

static int mr_write(git_refdb_backend *b, const git_reference *ref, int force,
                    const git_signature *who, const char *message, const git_oid *old,
                    const char *old_target)
{
    return mr_fs(b)->write(mr_fs(b), ref, force, who, message, old, old_target);
}

static int mr_rename(git_reference **out, git_refdb_backend *b, const char *old_name,
                     const char *new_name, int force, const git_signature *who, const char *message)
{
    return mr_fs(b)->rename(out, mr_fs(b), old_name, new_name, force, who, message);
}

static int mr_del(git_refdb_backend *b, const char *name, const git_oid *old_id,
                  const char *old_target)
{
    return mr_fs(b)->del(mr_fs(b), name, old_id, old_target);
}

static int mr_compress(git_refdb_backend *b)
{
    return mr_fs(b)->compress ? mr_fs(b)->compress(mr_fs(b)) : 0;
}

static int mr_has_log(git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->has_log(mr_fs(b), name);
}

static int mr_ensure_log(git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->ensure_log(mr_fs(b), name);
}

static int mr_reflog_read(git_reflog **out, git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->reflog_read(out, mr_fs(b), name);
}

static int mr_reflog_write(git_refdb_backend *b, git_reflog *reflog)
{
    return mr_fs(b)->reflog_write(mr_fs(b), reflog);
}

static int mr_reflog_rename(git_refdb_backend *b, const char *old_name, const char *new_name)
{
    return mr_fs(b)->reflog_rename(mr_fs(b), old_name, new_name);
}

static int mr_reflog_delete(git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->reflog_delete(mr_fs(b), name);
}

static int mr_lock(void **payload, git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->lock(payload, mr_fs(b), name);
}

static int mr_unlock(git_refdb_backend *b, void *payload, int success, int update_reflog,
                     const git_reference *ref, const git_signature *sig, const char *message)
{
    return mr_fs(b)->unlock(mr_fs(b), payload, success, update_reflog, ref, sig, message);
}

static void mr_free(git_refdb_backend *b)
{
    struct cm_mirror_refdb *db = (struct cm_mirror_refdb *)b;

    git_refdb_free(db->fs_db); /* and the files backend with it */
    free(db);
}

void cm_mirror_refdb_negotiating(struct cm_mirror_refdb *db, int on)
{
    db->negotiating = on;
}

/* The files backend of libgit2 1.5 has every optional call (compress, lock); one without
 * lock would make ours claim a lock it cannot take, so it is refused. */
static int mr_fs_complete(const git_refdb_backend *fs)
{
    return fs->lock && fs->unlock;
}

int cm_mirror_refdb_install(git_repository *repo, struct cm_mirror_refdb **out)
{
    struct cm_mirror_refdb *db = calloc(1, sizeof(*db));
    git_refdb *refdb = NULL;
    int rc;

    *out = NULL;
    if (!db) {
        git_error_set_oom();
        return -1;
    }
    if ((rc = git_refdb_init_backend(&db->parent, GIT_REFDB_BACKEND_VERSION)) < 0 ||
        (rc = git_refdb_new(&db->fs_db, repo)) < 0 ||
        (rc = git_refdb_backend_fs(&db->fs, repo)) < 0)
        goto fail;
    if ((rc = git_refdb_set_backend(db->fs_db, db->fs)) < 0) {
        db->fs->free(db->fs);
        goto fail;
    }
    if (!mr_fs_complete(db->fs)) {
        git_error_set_str(GIT_ERROR_REFERENCE, "the files refdb backend lacks lock/unlock");
        rc = -1;
        goto fail;
    }
    db->parent.exists = mr_exists;
    db->parent.lookup = mr_lookup;
    db->parent.iterator = mr_iterator;
    db->parent.write = mr_write;
    db->parent.rename = mr_rename;
    db->parent.del = mr_del;
    db->parent.compress = mr_compress;
    db->parent.has_log = mr_has_log;
    db->parent.ensure_log = mr_ensure_log;
    db->parent.free = mr_free;
    db->parent.reflog_read = mr_reflog_read;
    db->parent.reflog_write = mr_reflog_write;
    db->parent.reflog_rename = mr_reflog_rename;
    db->parent.reflog_delete = mr_reflog_delete;
    db->parent.lock = mr_lock;
    db->parent.unlock = mr_unlock;
    if ((rc = git_repository_refdb(&refdb, repo)) < 0)
        goto fail;
    /* From here the repository's refdb owns db (mr_free). */
    rc = git_refdb_set_backend(refdb, &db->parent);
    git_refdb_free(refdb);
    if (rc < 0)
        goto fail;
    *out = db;
    return 0;
fail:
    git_refdb_free(db->fs_db);
    free(db);
    return rc;
}
