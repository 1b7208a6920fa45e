/* SPDX-License-Identifier: MIT */
/*
 * A zip of the tree at one commit (Composer's dist archives): sizes checked first so an
 * oversize file is refused before a byte is written, and noted on the refs that point there.
 * Big files a pack stores whole are streamed from it, so memory does not grow with them.
 */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "sync/notes.h"
#include "sync/pack_stream.h"
#include "sync/zip.h"

/* Files from this size on are streamed from their pack when it stores them whole. Smaller ones
 * are read whole: a lookup through libgit2's open packs costs less than a search of the .idx
 * files, and their memory does not matter. */
#define MR_STREAM_MIN (1024 * 1024)

struct mr_big {
    git_oid id;
    unsigned long long size; /* as libgit2 read it from the header, checked against the limit */
};

struct mr_walk {
    git_repository *repo;
    git_odb *odb;
    struct cm_zip *zip; /* NULL during the first pass, which only reads sizes */
    const char *prefix;
    unsigned long long max;
    char path[4096];         /* the entry's path in the zip; after a refusal, the culprit's */
    unsigned long long size; /* the culprit's size */
    int rc;
    char objects[4096]; /* the mirror's objects directory */
    struct mr_big *big; /* regular files of MR_STREAM_MIN bytes or more, in walk order; owned */
    size_t n_big, next_big, cap_big;
};

/* Remember a big file of the first pass for the second, which meets it in the same order. */
static int mr_note_big(struct mr_walk *w, const git_oid *id, unsigned long long size)
{
    if (w->n_big == w->cap_big) {
        size_t cap = w->cap_big ? 2 * w->cap_big : 8;
        struct mr_big *big = realloc(w->big, cap * sizeof(*big));

        if (!big)
            return CM_ENOMEM;
        w->big = big;
        w->cap_big = cap;
    }
    git_oid_cpy(&w->big[w->n_big].id, id);
    w->big[w->n_big++].size = size;
    return CM_OK;
}

/* Whether the walk puts e into the zip (1, with its path in w->path) or passes it by (0, with
 * *ret the walk callback's answer). */
static int mr_walk_takes(struct mr_walk *w, const char *root, const git_tree_entry *e, int *ret)
{
    const char *name = git_tree_entry_name(e);
    git_filemode_t mode = git_tree_entry_filemode(e);

    *ret = 0;
    /* Names no checkout would write: keep them out of the zip so it cannot escape its dir. */
    if (!strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') ||
        !strcasecmp(name, ".git")) {
        *ret = mode == GIT_FILEMODE_TREE ? 1 : 0;
        return 0;
    }
    if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE &&
        mode != GIT_FILEMODE_LINK)
        return 0; /* trees are walked into; submodules have no content here */
    if ((size_t)snprintf(w->path, sizeof(w->path), "%s%s%s", w->prefix, root, name) >=
        sizeof(w->path)) {
        w->rc = CM_ERROR;
        *ret = -1;
        return 0;
    }
    return 1;
}

/* First pass: every size from its header, so an oversize blob is refused before anything is
 * loaded or a byte of the zip written. */
static int mr_size_cb(const char *root, const git_tree_entry *e, void *payload)
{
    struct mr_walk *w = payload;
    int ret;

    if (!mr_walk_takes(w, root, e, &ret))
        return ret;
    w->rc = cm_mirror_blob_size(w->odb, git_tree_entry_id(e), w->max, &w->size);
    if (w->rc == CM_ENOENT)
        w->rc = CM_ERROR;
    if (w->rc == CM_OK && w->size >= MR_STREAM_MIN &&
        git_tree_entry_filemode(e) != GIT_FILEMODE_LINK)
        w->rc = mr_note_big(w, git_tree_entry_id(e), w->size);
    return w->rc == CM_OK ? 0 : -1;
}

static int mr_zip_sink(void *arg, const void *buf, size_t len)
{
    return cm_zip_write(arg, buf, len);
}

/* Stream big straight from its pack into the zip. CM_EIGNORE when no pack stores it whole
 * (loose, a delta): nothing was written, read it whole. */
static int mr_stream(struct mr_walk *w, const struct mr_big *big, unsigned mode)
{
    struct cm_pack_blob *b = NULL;
    int rc = cm_pack_blob_open(&b, w->objects, big->id.id), end;

    if (rc != CM_OK)
        return rc;
    /* Two readers of one header disagreeing means a pack not to be trusted. */
    if (cm_pack_blob_size(b) != big->size) {
        rc = CM_ERROR;
        goto out;
    }
    rc = cm_zip_begin_file(w->zip, w->path, mode, big->size);
    if (rc != CM_OK)
        goto out;
    rc = cm_pack_blob_read(b, mr_zip_sink, w->zip);
    end = cm_zip_end_file(w->zip);
    if (rc == CM_OK)
        rc = end;
out:
    cm_pack_blob_free(b);
    return rc;
}

static int mr_zip_cb(const char *root, const git_tree_entry *e, void *payload)
{
    struct mr_walk *w = payload;
    git_filemode_t mode = git_tree_entry_filemode(e);
    git_blob *blob = NULL;
    int ret;

    if (!mr_walk_takes(w, root, e, &ret))
        return ret;
    if (mode != GIT_FILEMODE_LINK && w->next_big < w->n_big &&
        git_oid_equal(&w->big[w->next_big].id, git_tree_entry_id(e))) {
        w->rc = mr_stream(w, &w->big[w->next_big++],
                          mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
        if (w->rc != CM_EIGNORE)
            return w->rc == CM_OK ? 0 : -1;
    }
    if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(e)) != 0) {
        w->rc = CM_ERROR;
        return -1;
    }
    if (mode == GIT_FILEMODE_LINK)
        w->rc = cm_zip_add_symlink(w->zip, w->path, git_blob_rawcontent(blob),
                                   (size_t)git_blob_rawsize(blob));
    else
        w->rc = cm_zip_add_file(w->zip, w->path, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644,
                                git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
    git_blob_free(blob);
    return w->rc == CM_OK ? 0 : -1;
}

/* An oversize file is the ref's business, not a failure to retry: say so on every branch and
 * tag at commit, where GET /api/repositories shows it (a plugin may replace the note). */
static void mr_note_refs_at(const struct cm_mirror *m, git_repository *repo, const git_oid *commit,
                            const char *msg)
{
    git_strarray names = {0};
    char want[GIT_OID_HEXSZ + 1], hex[GIT_OID_HEXSZ + 1];

    if (git_oid_is_zero(commit) || git_reference_list(&names, repo) != 0)
        return;
    git_oid_tostr(want, sizeof(want), commit);
    for (size_t i = 0; i < names.count; i++) {
        const char *name = names.strings[i];
        git_reference *r = NULL;

        if (strncmp(name, "refs/heads/", 11) && strncmp(name, "refs/tags/", 10))
            continue;
        if (git_reference_lookup(&r, repo, name) == 0 && cm_mirror_commit_hex(r, hex) == CM_OK &&
            !strcmp(hex, want))
            cm_notes_set(m->notes, name, msg);
        git_reference_free(r);
    }
    git_strarray_dispose(&names);
}

int cm_mirror_archive(const struct cm_mirror *m, const char *commit_id, const char *prefix,
                      const char *dest_path)
{
    struct mr_walk w = {.prefix = "", .max = m->max_blob, .rc = CM_OK};
    git_tree *tree = NULL;
    git_oid commit;
    char *pfx = NULL, msg[4400];
    int rc = cm_mirror_open_repo(m, &w.repo);

    if (rc != CM_OK)
        return rc;
    rc = cm_mirror_tree(w.repo, commit_id, &tree, &commit);
    if (rc != CM_OK)
        goto out;
    /* "pkg" and "pkg/" both mean a top directory named pkg. */
    if (prefix && *prefix) {
        size_t n = strlen(prefix);

        rc = CM_ENOMEM;
        if (!(pfx = malloc(n + 2)))
            goto out;
        snprintf(pfx, n + 2, "%s%s", prefix, prefix[n - 1] == '/' ? "" : "/");
        w.prefix = pfx;
    }
    rc = CM_ERROR;
    if (git_repository_odb(&w.odb, w.repo) != 0 ||
        (size_t)snprintf(w.objects, sizeof(w.objects), "%sobjects", git_repository_path(w.repo)) >=
            sizeof(w.objects))
        goto out;
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, mr_size_cb, &w) != 0 || w.rc != CM_OK) {
        rc = w.rc != CM_OK ? w.rc : CM_ERROR;
        if (rc == CM_EINVAL) {
            snprintf(msg, sizeof(msg),
                     "dist archive skipped: %s is %llu bytes, over "
                     "git.max_blob_size (%llu): remove the file or raise the limit",
                     w.path + strlen(w.prefix), w.size, w.max);
            mr_note_refs_at(m, w.repo, &commit, msg);
        }
        goto out;
    }
    rc = cm_zip_open(&w.zip, dest_path);
    if (rc != CM_OK)
        goto out;
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, mr_zip_cb, &w) != 0 || w.rc != CM_OK) {
        rc = w.rc != CM_OK ? w.rc : CM_ERROR;
        cm_zip_abort(w.zip);
        goto out;
    }
    rc = cm_zip_close(w.zip);
out:
    free(w.big);
    free(pfx);
    git_odb_free(w.odb);
    git_tree_free(tree);
    git_repository_free(w.repo);
    return rc;
}
