/* SPDX-License-Identifier: MIT */
/*
 * Refs held in memory while a mirror that has none gets its first ones (mirror_refdb.c), then
 * written as one packed-refs file in git's format, fsync'd once (mirror_refbatch.c). Private to
 * the libgit2 files of the mirror and their tests. Not thread-safe: one sync owns a batch.
 */
#ifndef CM_MIRROR_REFBATCH_H
#define CM_MIRROR_REFBATCH_H

#include <git2.h>
#include <stddef.h>

struct cm_refbatch;

/* One ref of a listing: name owned by the listing. */
struct cm_refbatch_ref {
    char *name;
    git_oid id;
};

/* An empty batch into *out (the caller's, cm_refbatch_free). 0, or -1 with libgit2's error
 * set (out of memory). */
int cm_refbatch_new(struct cm_refbatch **out);
void cm_refbatch_free(struct cm_refbatch *b);

/* The id name has in b, or NULL when b has no such ref. Borrowed: valid until b changes. */
const git_oid *cm_refbatch_get(const struct cm_refbatch *b, const char *name);
/* Give name (copied) the id. 0, or -1 with libgit2's error set (out of memory). */
int cm_refbatch_set(struct cm_refbatch *b, const char *name, const git_oid *id);
/* Remove name from b. 0, or GIT_ENOTFOUND when b has no such ref. */
int cm_refbatch_del(struct cm_refbatch *b, const char *name);

/* b's refs matching glob (fnmatch, '*' crossing '/'; NULL: all), sorted by name, copied into
 * *out (cm_refbatch_list_free) and *n, so the listing outlives changes to b. 0 or -1 (out of
 * memory, libgit2's error set). */
int cm_refbatch_list(const struct cm_refbatch *b, const char *glob, struct cm_refbatch_ref **out,
                     size_t *n);
void cm_refbatch_list_free(struct cm_refbatch_ref *refs, size_t n);

/* Write b's refs as repo's packed-refs, replacing it, in git's format (sorted, fully peeled):
 * written beside as packed-refs.lock, fsync'd, renamed over, the directory fsync'd. Meant for a
 * repository whose refs are all in b: whatever the old packed-refs held is gone. 0, or a
 * negative libgit2 status with its error set (GIT_ELOCKED when packed-refs.lock exists). */
int cm_refbatch_write(const struct cm_refbatch *b, git_repository *repo);

#endif
