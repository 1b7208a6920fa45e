/* SPDX-License-Identifier: MIT */
/*
 * One sync plugin instance's state directory as this node of a cluster holds it: which
 * version of each shared file it has, what on_sync changed since, and the cluster's files
 * written in. The database side is the queue's (struct cm_queue_state_ops); this side only
 * knows files. Not thread-safe: the caller holds the node's shared-state lock.
 */
#ifndef CM_SHARED_DIR_H
#define CM_SHARED_DIR_H

#include <stddef.h>

#include "queue/queue.h"

struct cm_shared_dir;

/* For dir, the instance's state directory, and node_local, the plugin's per-node paths (a
 * prefix ending in '/' or a whole path; NULL-ended, copied; may be NULL). */
int cm_shared_dir_new(struct cm_shared_dir **out, const char *dir, const char *const *node_local);
void cm_shared_dir_free(struct cm_shared_dir *sd);

/* 1 once every file was compared with the cluster's since this process started. */
int cm_shared_dir_primed(const struct cm_shared_dir *sd);
/* The highest version written in: a pull asks for what is newer. */
long long cm_shared_dir_since(const struct cm_shared_dir *sd);
/* Compare everything with the cluster again at the next pull (after a publish that failed,
 * or when local files may hold what the cluster never took). */
void cm_shared_dir_forget(struct cm_shared_dir *sd);

/* Whether path is one the cluster shares (not node-local, not a temp file, safe). */
int cm_shared_dir_shares(const struct cm_shared_dir *sd, const char *path);

/* Write in the cluster's version of path (body NULL: removed). *changed is 1 when the file
 * on disk differed. CM_OK; CM_EINVAL for a path this directory does not share; CM_ERROR when
 * the disk refuses (errno kept). */
int cm_shared_dir_apply(struct cm_shared_dir *sd, const char *path, const void *body, size_t len,
                        long long version, int *changed);
/* Before a pull from version 0 (when not primed): the manifest starts empty and what the
 * cluster sends is remembered. */
int cm_shared_dir_prime_begin(struct cm_shared_dir *sd);
/* Move past version without writing it in (a row this node cannot write). */
void cm_shared_dir_skip(struct cm_shared_dir *sd, long long version);
/* The directory, for messages. */
const char *cm_shared_dir_name(const struct cm_shared_dir *sd);
/* After that pull: the files the cluster does not have are removed (cb is told
 * each, for the plugin's state_changed) and the directory counts as primed. */
int cm_shared_dir_prime_done(struct cm_shared_dir *sd, void (*cb)(void *arg, const char *path),
                             void *arg);

/* Every shared file that differs from what was last written in or published: a document
 * each (instance NULL, body malloc'd, or NULL when the file is gone), into *docs (free with
 * cm_shared_dir_docs_free). CM_OK, CM_ENOMEM, CM_ERROR when the directory cannot be read. */
int cm_shared_dir_changes(struct cm_shared_dir *sd, struct cm_state_doc **docs, size_t *n);
void cm_shared_dir_docs_free(struct cm_state_doc *docs, size_t n);
/* docs were published with their versions: they are now what the cluster has. */
void cm_shared_dir_published(struct cm_shared_dir *sd, const struct cm_state_doc *docs, size_t n);

/* A descriptor of path when this node's file is the cluster's version (as last written in or
 * published, and untouched since), else -1. */
int cm_shared_dir_open_current(struct cm_shared_dir *sd, const char *path, long long version);
/* The version of path as last written in or published; 0 when unknown. */
long long cm_shared_dir_version(const struct cm_shared_dir *sd, const char *path);

#endif
