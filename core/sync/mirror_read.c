/* SPDX-License-Identifier: MIT */
/*
 * Reading a mirror for sync plugins (struct cm_host): its branches and tags, whether a push's
 * ids arrived, and one file at a commit, refused before loading when over git.max_blob_size.
 */
#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "util/hex.h"

/* The id of the commit r leads to (through annotated tags) into hex. CM_OK, or CM_ENOENT
 * when it leads to no commit. */
int cm_mirror_commit_hex(git_reference *r, char hex[GIT_OID_HEXSZ + 1])
{
    git_object *commit = NULL;

    if (git_reference_peel(&commit, r, GIT_OBJECT_COMMIT) != 0)
        return CM_ENOENT;
    git_oid_tostr(hex, GIT_OID_HEXSZ + 1, git_object_id(commit));
    git_object_free(commit);
    return CM_OK;
}

int cm_mirror_peel_oid(git_repository *repo, const git_oid *id, git_oid *commit)
{
    git_object *o = NULL, *c = NULL;
    int rc = CM_ENOENT;

    if (git_object_lookup(&o, repo, id, GIT_OBJECT_ANY) == 0 &&
        git_object_peel(&c, o, GIT_OBJECT_COMMIT) == 0) {
        git_oid_cpy(commit, git_object_id(c));
        rc = CM_OK;
    }
    git_object_free(c);
    git_object_free(o);
    return rc;
}

int cm_mirror_ref_is(const struct cm_mirror *m, const char *ref, const char *id)
{
    git_repository *repo = NULL;
    git_reference *r = NULL, *resolved = NULL;
    char hex[GIT_OID_HEXSZ + 1];
    int exists, res = 0;

    if (cm_mirror_open_repo(m, &repo) != CM_OK)
        return id == NULL;
    exists = git_reference_lookup(&r, repo, ref) == 0 && git_reference_resolve(&resolved, r) == 0;
    if (!id) {
        res = !exists;
    } else if (exists) {
        git_oid_tostr(hex, sizeof(hex), git_reference_target(resolved));
        res = !strcasecmp(hex, id);
        if (!res && cm_mirror_commit_hex(resolved, hex) == CM_OK)
            res = !strcasecmp(hex, id);
    }
    git_reference_free(resolved);
    git_reference_free(r);
    git_repository_free(repo);
    return res;
}

int cm_mirror_has_object(const struct cm_mirror *m, const char *id)
{
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    git_oid oid;
    int res = 0;

    if (!id || git_oid_fromstr(&oid, id) != 0 || cm_mirror_open_repo(m, &repo) != CM_OK)
        return 0;
    if (git_repository_odb(&odb, repo) == 0)
        res = git_odb_exists(odb, &oid);
    git_odb_free(odb);
    git_repository_free(repo);
    return res;
}

static int mr_cmp_ref(const void *a, const void *b)
{
    return strcmp(((const struct cm_mirror_ref *)a)->name, ((const struct cm_mirror_ref *)b)->name);
}

static int mr_refs_add(struct cm_mirror_ref **refs, size_t *n, size_t *cap, const char *name,
                       const char *hex)
{
    if (*n == *cap) {
        size_t want = *cap ? 2 * *cap : 64;
        struct cm_mirror_ref *grown = realloc(*refs, want * sizeof(**refs));
        if (!grown)
            return CM_ENOMEM;
        *refs = grown;
        *cap = want;
    }
    if (!((*refs)[*n].name = strdup(name)))
        return CM_ENOMEM;
    memcpy((*refs)[*n].hex, hex, sizeof((*refs)[*n].hex));
    (*n)++;
    return CM_OK;
}

/* The commit the resolved ref r leads to, as hex. A ref straight at a commit (a branch, a
 * lightweight tag: nearly all of them) costs an object header read, not a parse of the
 * commit; an annotated tag is peeled. CM_OK, or CM_ENOENT when it leads to no commit. */
static int mr_peel_hex(git_odb *odb, git_reference *r, char hex[GIT_OID_HEXSZ + 1])
{
    const git_oid *id = git_reference_target(r);
    git_object_t type;
    size_t len;

    if (id && git_odb_read_header(&len, &type, odb, id) == 0 && type == GIT_OBJECT_COMMIT) {
        git_oid_tostr(hex, GIT_OID_HEXSZ + 1, id);
        return CM_OK;
    }
    return cm_mirror_commit_hex(r, hex);
}

void cm_mirror_ref_list_free(struct cm_mirror_ref *refs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(refs[i].name);
    free(refs);
}

/* One pass over the refs (loose ones and packed-refs read once), not a lookup per name: with
 * thousands of tags, a lookup by name costs a stat or an open each. */
int cm_mirror_ref_list(git_repository *repo, int peel, struct cm_mirror_ref **out, size_t *count)
{
    git_reference_iterator *it = NULL;
    git_reference *r = NULL, *resolved = NULL;
    struct cm_mirror_ref *refs = NULL;
    git_odb *odb = NULL;
    size_t n = 0, cap = 0;
    int rc = CM_OK;

    *out = NULL;
    *count = 0;
    if (git_repository_odb(&odb, repo) != 0)
        return CM_ERROR;
    if (git_reference_iterator_new(&it, repo) != 0) {
        git_odb_free(odb);
        return CM_ERROR;
    }
    while (rc == CM_OK && git_reference_next(&r, it) == 0) {
        const char *name = git_reference_name(r);
        char hex[GIT_OID_HEXSZ + 1];
        int have = 0;
        int wanted = !strncmp(name, "refs/heads/", 11) || !strncmp(name, "refs/tags/", 10);
        git_reference *direct = NULL;
        /* git_reference_resolve looks even a direct ref up again by name (a stat of the loose
         * file and of packed-refs each): only symbolic ones, which are rare, go through it. */
        if (wanted && git_reference_type(r) == GIT_REFERENCE_DIRECT)
            direct = r;
        else if (wanted && git_reference_resolve(&resolved, r) == 0)
            direct = resolved;
        if (direct) {
            /* A tag of a tree or blob has no commit to offer: it is no version. */
            if (peel)
                have = mr_peel_hex(odb, direct, hex) == CM_OK;
            else if ((have = 1))
                git_oid_tostr(hex, sizeof(hex), git_reference_target(direct));
        }
        if (have)
            rc = mr_refs_add(&refs, &n, &cap, name, hex);
        git_reference_free(resolved);
        git_reference_free(r);
        r = resolved = NULL;
    }
    git_reference_iterator_free(it);
    git_odb_free(odb);
    if (rc != CM_OK) {
        cm_mirror_ref_list_free(refs, n);
        return rc;
    }
    if (n > 1)
        qsort(refs, n, sizeof(*refs), mr_cmp_ref);
    *out = refs;
    *count = n;
    return CM_OK;
}

int cm_mirror_refs(const struct cm_mirror *m, cm_ref_cb cb, void *arg)
{
    git_repository *repo = NULL;
    struct cm_mirror_ref *refs = NULL;
    size_t n = 0;
    int rc = cm_mirror_open_repo(m, &repo);

    if (rc == CM_OK)
        rc = cm_mirror_ref_list(repo, 1, &refs, &n);
    for (size_t i = 0; i < n && rc == CM_OK; i++)
        rc = cb(arg, refs[i].name, refs[i].hex);
    cm_mirror_ref_list_free(refs, n);
    git_repository_free(repo);
    return rc;
}

/* The tree of the commit (or annotated tag) whose id, full or abbreviated, is id; commit (may
 * be NULL) gets the commit's id, or zeros for a tag of a bare tree. */
int cm_mirror_tree(git_repository *repo, const char *id, git_tree **tree, git_oid *commit)
{
    git_oid oid;
    git_object *obj = NULL, *c = NULL;
    int rc = CM_ENOENT;

    if (!id || !cm_hex_check(id, 4, GIT_OID_HEXSZ))
        return CM_EINVAL;
    if (git_oid_fromstrn(&oid, id, strlen(id)) == 0 &&
        git_object_lookup_prefix(&obj, repo, &oid, strlen(id), GIT_OBJECT_ANY) == 0 &&
        git_object_peel((git_object **)tree, obj, GIT_OBJECT_TREE) == 0)
        rc = CM_OK;
    if (rc == CM_OK && commit) {
        memset(commit, 0, sizeof(*commit));
        if (git_object_peel(&c, obj, GIT_OBJECT_COMMIT) == 0)
            git_oid_cpy(commit, git_object_id(c));
    }
    git_object_free(c);
    git_object_free(obj);
    return rc;
}

/* libgit2 cannot stream a packed object (git_odb_open_rstream serves loose ones only), so a
 * blob it reads is read whole: one 400 MB file would cost 400 MB of memory. Its size is read
 * first from the object header (git_odb_read_header inflates no content; for a delta only the
 * delta's header), and a blob over max is refused before it is loaded: what one read holds, or
 * one zip entry a pack does not store whole (pack_stream.c streams those), stays bounded by
 * git.max_blob_size. CM_OK, CM_EINVAL when over max, CM_ENOENT when the
 * object is missing. */
int cm_mirror_blob_size(git_odb *odb, const git_oid *id, unsigned long long max,
                        unsigned long long *size)
{
    size_t len;
    git_object_t type;

    if (git_odb_read_header(&len, &type, odb, id) != 0)
        return CM_ENOENT;
    *size = len;
    return *size > max ? CM_EINVAL : CM_OK;
}

int cm_mirror_read(const struct cm_mirror *m, const char *commit_id, const char *path,
                   cm_data_cb cb, void *arg)
{
    git_repository *repo = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_blob *blob = NULL;
    git_odb *odb = NULL;
    unsigned long long size;
    int rc = cm_mirror_open_repo(m, &repo);

    if (rc != CM_OK)
        return rc;
    while (*path == '/')
        path++;
    rc = cm_mirror_tree(repo, commit_id, &tree, NULL);
    if (rc != CM_OK)
        goto out;
    rc = CM_ENOENT;
    if (git_tree_entry_bypath(&entry, tree, path) != 0 ||
        git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
        goto out;
    rc = CM_ERROR;
    if (git_repository_odb(&odb, repo) != 0)
        goto out;
    rc = cm_mirror_blob_size(odb, git_tree_entry_id(entry), m->max_blob, &size);
    if (rc != CM_OK)
        goto out;
    rc = CM_ENOENT;
    if (git_blob_lookup(&blob, repo, git_tree_entry_id(entry)) != 0)
        goto out;
    rc = cb(arg, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
out:
    git_blob_free(blob);
    git_odb_free(odb);
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_repository_free(repo);
    return rc;
}
