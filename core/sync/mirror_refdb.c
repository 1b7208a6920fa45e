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
 *
 * While a mirror that has no refs yet fetches (a first clone, built aside and renamed into
 * place), the refs under refs/ are held in memory (mirror_refbatch.c) and written at the end as
 * one packed-refs file, fsync'd once: the files backend would write each as a loose file with
 * two fsyncs, 35 s of 36 for a first mirror of 20,000 tags.
 */
#define _GNU_SOURCE
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <git2/sys/refdb_backend.h>
#include <git2/sys/refs.h>

#include "sync/mirror_refbatch.h"
#include "sync/mirror_refdb.h"

struct cm_mirror_refdb {
    git_refdb_backend parent; /* first: libgit2 hands us back this pointer */
    git_refdb_backend *fs;    /* libgit2's files backend, owned by fs_db */
    git_refdb *fs_db;         /* owned: the refdb the files backend's iterators expect */
    git_repository *repo;     /* borrowed: the backend lives as long as it */
    int negotiating;
    /* Owned, or NULL: while set, every ref under refs/ is here and none in the files
     * backend; a write it cannot hold (a symbolic ref, a rename, a transaction's lock) first
     * writes it out and ends it (mr_batch_spill). */
    struct cm_refbatch *batch;
    int packed; /* every ref is in packed-refs, as the batch wrote it: nothing to compress */
};

struct mr_iter {
    git_reference_iterator parent; /* first, as libgit2 requires */
    git_reference_iterator *inner; /* owned: the files backend's */
    size_t left;                   /* refs still to list; SIZE_MAX when all */
};

struct mr_batch_iter {
    git_reference_iterator parent; /* first, as libgit2 requires */
    struct cm_refbatch_ref *refs;  /* owned: a copy, so writes during the listing are safe */
    size_t n, pos;
};

static unsigned long mr_withheld, mr_loose;

unsigned long cm_mirror_refdb_withheld(void)
{
    return __atomic_load_n(&mr_withheld, __ATOMIC_RELAXED);
}

unsigned long cm_mirror_refdb_loose_writes(void)
{
    return __atomic_load_n(&mr_loose, __ATOMIC_RELAXED);
}

static int mr_in_batch(const struct cm_mirror_refdb *db, const char *name)
{
    return db->batch && !strncmp(name, "refs/", 5);
}

/* Write the batch out and pass everything to the files backend from now on. */
static int mr_batch_spill(struct cm_mirror_refdb *db)
{
    int rc;

    if (!db->batch)
        return 0;
    rc = cm_refbatch_write(db->batch, db->repo);
    cm_refbatch_free(db->batch);
    db->batch = NULL;
    db->packed = rc == 0;
    return rc;
}

static int mr_not_found(const char *name)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "reference '%.400s' not found", name);
    git_error_set_str(GIT_ERROR_REFERENCE, msg);
    return GIT_ENOTFOUND;
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

/* Before listing one more ref: 0 to go on, else the listing's end (cut here or before). */
static int mr_iter_gate(struct mr_iter *it)
{
    if (it->left == 0)
        return mr_iter_cut(it);
    return it->left == SIZE_MAX - 1 ? GIT_ITEROVER : 0;
}

/* After the inner iterator answered rc: one ref fewer left to list. */
static int mr_iter_took(struct mr_iter *it, int rc)
{
    if (rc == 0 && it->left != SIZE_MAX)
        it->left--;
    return rc;
}

static int mr_iter_next(git_reference **out, git_reference_iterator *iter)
{
    struct mr_iter *it = (struct mr_iter *)iter;
    int rc = mr_iter_gate(it);

    return rc ? rc : mr_iter_took(it, it->inner->next(out, it->inner));
}

static int mr_iter_next_name(const char **out, git_reference_iterator *iter)
{
    struct mr_iter *it = (struct mr_iter *)iter;
    int rc = mr_iter_gate(it);

    return rc ? rc : mr_iter_took(it, it->inner->next_name(out, it->inner));
}

static void mr_iter_free(git_reference_iterator *iter)
{
    struct mr_iter *it = (struct mr_iter *)iter;

    it->inner->free(it->inner);
    free(it);
}

static int mr_batch_next(git_reference **out, git_reference_iterator *iter)
{
    struct mr_batch_iter *it = (struct mr_batch_iter *)iter;

    if (it->pos == it->n)
        return GIT_ITEROVER;
    if (!(*out = git_reference__alloc(it->refs[it->pos].name, &it->refs[it->pos].id, NULL))) {
        git_error_set_oom();
        return -1;
    }
    it->pos++;
    return 0;
}

static int mr_batch_next_name(const char **out, git_reference_iterator *iter)
{
    struct mr_batch_iter *it = (struct mr_batch_iter *)iter;

    if (it->pos == it->n)
        return GIT_ITEROVER;
    *out = it->refs[it->pos++].name;
    return 0;
}

static void mr_batch_iter_free(git_reference_iterator *iter)
{
    struct mr_batch_iter *it = (struct mr_batch_iter *)iter;

    cm_refbatch_list_free(it->refs, it->n);
    free(it);
}

/* The files backend holds no ref under refs/ while there is a batch, and lists nothing else. */
static int mr_batch_iterator(git_reference_iterator **out, struct cm_mirror_refdb *db,
                             const char *glob)
{
    struct mr_batch_iter *it = calloc(1, sizeof(*it));

    if (!it) {
        git_error_set_oom();
        return -1;
    }
    if (cm_refbatch_list(db->batch, glob, &it->refs, &it->n) < 0) {
        free(it);
        return -1;
    }
    it->parent.next = mr_batch_next;
    it->parent.next_name = mr_batch_next_name;
    it->parent.free = mr_batch_iter_free;
    *out = &it->parent;
    return 0;
}

static int mr_iterator(git_reference_iterator **out, git_refdb_backend *b, const char *glob)
{
    struct cm_mirror_refdb *db = (struct cm_mirror_refdb *)b;
    struct mr_iter *it;
    int rc;

    if (db->batch)
        return mr_batch_iterator(out, db, glob);
    if (!(it = calloc(1, sizeof(*it)))) {
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
    struct cm_mirror_refdb *db = (struct cm_mirror_refdb *)b;

    if (mr_in_batch(db, name)) {
        *exists = cm_refbatch_get(db->batch, name) != NULL;
        return 0;
    }
    return mr_fs(b)->exists(exists, mr_fs(b), name);
}

static int mr_lookup(git_reference **out, git_refdb_backend *b, const char *name)
{
    struct cm_mirror_refdb *db = (struct cm_mirror_refdb *)b;
    const git_oid *id;

    if (!mr_in_batch(db, name))
        return mr_fs(b)->lookup(out, mr_fs(b), name);
    if (!(id = cm_refbatch_get(db->batch, name)))
        return mr_not_found(name);
    if (!(*out = git_reference__alloc(name, id, NULL))) {
        git_error_set_oom();
        return -1;
    }
    return 0;
}

/* The files backend's checks, for a ref in the batch: a bare mirror keeps no reflog. */
static int mr_batch_write(struct cm_mirror_refdb *db, const git_reference *ref, int force,
                          const git_oid *old, const char *old_target)
{
    const char *name = git_reference_name(ref);
    const git_oid *cur = cm_refbatch_get(db->batch, name);
    char msg[512];

    if (!force && cur) {
        snprintf(msg, sizeof(msg), "failed to write reference '%.400s': it already exists", name);
        git_error_set_str(GIT_ERROR_REFERENCE, msg);
        return GIT_EEXISTS;
    }
    if ((old && (!cur || !git_oid_equal(old, cur))) || old_target) {
        snprintf(msg, sizeof(msg), "old reference value does not match for '%.400s'", name);
        git_error_set_str(GIT_ERROR_REFERENCE, msg);
        return GIT_EMODIFIED;
    }
    return cm_refbatch_set(db->batch, name, git_reference_target(ref));
}

static int mr_write(git_refdb_backend *b, const git_reference *ref, int force,
                    const git_signature *who, const char *message, const git_oid *old,
                    const char *old_target)
{
    struct cm_mirror_refdb *db = (struct cm_mirror_refdb *)b;
    const char *name = git_reference_name(ref);
    int rc;

    if (mr_in_batch(db, name)) {
        if (git_reference_type(ref) == GIT_REFERENCE_DIRECT)
            return mr_batch_write(db, ref, force, old, old_target);
        if ((rc = mr_batch_spill(db)) < 0)
            return rc;
    }
    if (!strncmp(name, "refs/", 5)) {
        __atomic_fetch_add(&mr_loose, 1, __ATOMIC_RELAXED);
        db->packed = 0;
    }
    return mr_fs(b)->write(mr_fs(b), ref, force, who, message, old, old_target);
}

static int mr_rename(git_reference **out, git_refdb_backend *b, const char *old_name,
                     const char *new_name, int force, const git_signature *who, const char *message)
{
    int rc = mr_batch_spill((struct cm_mirror_refdb *)b);

    ((struct cm_mirror_refdb *)b)->packed = 0;
    if (rc < 0)
        return rc;
    return mr_fs(b)->rename(out, mr_fs(b), old_name, new_name, force, who, message);
}

static int mr_del(git_refdb_backend *b, const char *name, const git_oid *old_id,
                  const char *old_target)
{
    struct cm_mirror_refdb *db = (struct cm_mirror_refdb *)b;
    const git_oid *cur;

    if (!mr_in_batch(db, name))
        return mr_fs(b)->del(mr_fs(b), name, old_id, old_target);
    if (!(cur = cm_refbatch_get(db->batch, name)))
        return mr_not_found(name);
    if ((old_id && !git_oid_equal(old_id, cur)) || old_target) {
        git_error_set_str(GIT_ERROR_REFERENCE, "old reference value does not match");
        return GIT_EMODIFIED;
    }
    return cm_refbatch_del(db->batch, name);
}

/* After a batch, packed-refs already holds every ref, peeled: the files backend would only
 * write it again, with its own fsync. */
static int mr_compress(git_refdb_backend *b)
{
    int rc = mr_batch_spill((struct cm_mirror_refdb *)b);

    if (rc < 0 || ((struct cm_mirror_refdb *)b)->packed)
        return rc;
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
    int rc = mr_batch_spill((struct cm_mirror_refdb *)b);

    if (rc < 0)
        return rc;
    return mr_fs(b)->reflog_write(mr_fs(b), reflog);
}

static int mr_reflog_rename(git_refdb_backend *b, const char *old_name, const char *new_name)
{
    int rc = mr_batch_spill((struct cm_mirror_refdb *)b);

    if (rc < 0)
        return rc;
    return mr_fs(b)->reflog_rename(mr_fs(b), old_name, new_name);
}

static int mr_reflog_delete(git_refdb_backend *b, const char *name)
{
    return mr_fs(b)->reflog_delete(mr_fs(b), name);
}

/* A transaction locks refs to write them past us (unlock): the batch goes out first. */
static int mr_lock(void **payload, git_refdb_backend *b, const char *name)
{
    int rc = mr_batch_spill((struct cm_mirror_refdb *)b);

    ((struct cm_mirror_refdb *)b)->packed = 0; /* unlock may write name as a loose file */
    if (rc < 0)
        return rc;
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

    cm_refbatch_free(db->batch); /* a sync that did not end its batch failed: dropped */
    git_refdb_free(db->fs_db);   /* and the files backend with it */
    free(db);
}

void cm_mirror_refdb_negotiating(struct cm_mirror_refdb *db, int on)
{
    db->negotiating = on;
}

/* A reflog for refs we hold would be lost: a bare repository keeps none unless its config (or
 * the user's) sets core.logAllRefUpdates. */
static int mr_may_batch(git_repository *repo)
{
    git_config *cfg = NULL;
    git_config_entry *e = NULL;
    int logs = 0, ok;

    if (!git_repository_is_bare(repo) || git_repository_config_snapshot(&cfg, repo) < 0)
        return 0;
    ok = git_config_get_entry(&e, cfg, "core.logallrefupdates") == GIT_ENOTFOUND ||
         (e && git_config_parse_bool(&logs, e->value) == 0 && !logs);
    git_config_entry_free(e);
    git_config_free(cfg);
    git_error_clear();
    return ok;
}

/* True when the files backend lists no ref at all (a loose one, or one in packed-refs). */
static int mr_fs_empty(struct cm_mirror_refdb *db)
{
    git_reference_iterator *it = NULL;
    const char *name;
    int empty;

    if (db->fs->iterator(&it, db->fs, NULL) < 0) {
        git_error_clear();
        return 0;
    }
    it->db = db->fs_db;
    empty = it->next_name(&name, it) == GIT_ITEROVER;
    it->free(it);
    git_error_clear();
    return empty;
}

int cm_mirror_refdb_batch_begin(struct cm_mirror_refdb *db)
{
    if (db->batch || !mr_may_batch(db->repo) || !mr_fs_empty(db))
        return 0;
    return cm_refbatch_new(&db->batch);
}

int cm_mirror_refdb_batch_end(struct cm_mirror_refdb *db, int keep)
{
    if (keep)
        return mr_batch_spill(db);
    cm_refbatch_free(db->batch);
    db->batch = NULL;
    return 0;
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
    db->repo = repo;
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
