/* SPDX-License-Identifier: MIT */
/*
 * What the libgit2 files of the mirror (mirror.c, mirror_global.c, mirror_fetch.c,
 * mirror_sync.c, mirror_read.c, mirror_archive.c) share: the mirror's state and a few helpers.
 * Private to them; everything else sees sync/mirror.h only.
 */
#ifndef CM_MIRROR_GIT_H
#define CM_MIRROR_GIT_H

#include <git2.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "sync/mirror.h"
#include "sync/mirror_url.h"

struct cm_mirror {
    char *path, *url, *shown_url, *endpoint, *repository; /* owned */
    char *url_password;   /* owned, only to scrub it from libgit2's messages; or NULL */
    pthread_mutex_t lock; /* guards everything below */
    char *default_branch; /* owned short name or NULL */
    char **retired;       /* earlier default_branch values: readers may still hold them */
    size_t n_retired;
    int is_new;
    struct cm_notes *notes;      /* owned; has its own lock */
    unsigned long long max_blob; /* git.max_blob_size; set before the mirror is shared */
    int missing;   /* the last sync was a first clone of a repository the host lacks */
    int not_found; /* the last sync failed because the host lacks the repository */
    int busy;      /* the last sync found another one holding the mirror's lock */
    cm_mirror_progress_cb progress; /* set before the mirror is shared; or NULL */
    void *progress_arg;
    char *repository_id; /* owned, or NULL; set before the mirror is shared */
    int expect_existing; /* see cm_mirror_expect_existing */
    int guard_history;   /* see cm_mirror_guard_history */

    cm_mirror_current_fn current; /* see cm_mirror_set_current_check; or NULL */
    void *current_arg;
    int fetched; /* the last successful sync contacted the host (under lock) */
};

/* Where a mirror's config records the URL its last sync fetched (mirror_remote.c); a rename
 * drops it, since it names the old repository (mirror_identity.c). */
#define CM_MIRROR_KEY_URL "cargoman.url"

/* One fetch in progress, the payload of libgit2's callbacks (mirror_fetch.c). */
struct cm_mirror_fetch {
    const struct cm_mirror *m;
    const struct cm_mirror_auth *auth;
    struct cm_mirror_diag d; /* what the callbacks learnt, for the message */
    int pass_tries;
    size_t last_bytes;
    unsigned last_objects;
    time_t last_progress;
    struct timespec last_report; /* when m->progress was last called (CLOCK_MONOTONIC) */
    unsigned reported_objects;   /* the received objects it was last told */
};

/* libgit2's last error message, never NULL. */
const char *cm_mirror_git_msg(void);

/* Open m's repository into *repo (the caller's, git_repository_free). Each read opens it
 * afresh. CM_OK, or CM_ENOENT when there is none yet. */
int cm_mirror_open_repo(const struct cm_mirror *m, git_repository **repo);

/* Short name of the branch HEAD points to when that branch exists; owned, or NULL. */
char *cm_mirror_head_branch(git_repository *repo);

/* Seconds without progress before a fetch is abandoned when auth says nothing (git.timeout). */
int cm_mirror_default_timeout(void);

/* Make sure CA file (or nothing, when NULL) is trusted, then hold the TLS settings for reading
 * until the fetch is done (cm_mirror_tls_end). CM_OK, or CM_ERROR with err set and nothing
 * held. */
int cm_mirror_tls_begin(const char *file, char *err, size_t errlen);
void cm_mirror_tls_end(void);

/* Fetch every branch and tag into repo with prune and point HEAD at the remote's default
 * branch. libgit2's status (0 on success). */
int cm_mirror_fetch_remote(git_repository *repo, struct cm_mirror_fetch *s);
/* Set cb's credentials and host key callbacks (answering only m's own origin) with payload s:
 * the same for a fetch and for an ls-remote (mirror_remote.c). */
void cm_mirror_remote_callbacks(git_remote_callbacks *cb, struct cm_mirror_fetch *s);
/* Remember in repo's config what reconciliation and renames need after a successful sync of
 * m: the URL (unless it carries a password), the time and the repository id
 * (cm_mirror_record_id) (mirror_remote.c). Each is tried even when one before failed. CM_OK;
 * CM_ERROR with libgit2's message (cm_mirror_git_msg) saying why, e.g. a full disk; CM_ENOMEM.
 * A first mirror is not published unless all were written; an existing one keeps what it
 * recorded before and the next sync tries again (mirror_sync.c). */
int cm_mirror_record(git_repository *repo, struct cm_mirror *m);
/* Record m's repository id in cfg, or, when m has none, take the one the mirror recorded, if
 * any (mirror_identity.c). CM_OK; CM_ERROR with libgit2's message; CM_ENOMEM. */
int cm_mirror_record_id(git_config *cfg, struct cm_mirror *m);
/* The branches, tags and HEAD of a mirror before a fetch no host vouched for
 * (mirror_guard.c; see cm_mirror_guard_history). */
struct cm_mirror_refsnap;
/* Take repo's refs into *out (the caller's, cm_mirror_refsnap_free). CM_OK, CM_ENOMEM or
 * CM_ERROR. */
int cm_mirror_refsnap_take(git_repository *repo, struct cm_mirror_refsnap **out);
void cm_mirror_refsnap_free(struct cm_mirror_refsnap *s);
/* CM_OK when repo's refs now continue s: every tag as it was, every branch still there at or
 * after its old commit, and at least one of them still there; else CM_EAUTH with why (e.g.
 * "tag v1.0.0 points elsewhere"). */
int cm_mirror_refsnap_check(git_repository *repo, const struct cm_mirror_refsnap *s, char *why,
                            size_t whylen);
/* Put repo's branches, tags and HEAD back as s holds them (refs s lacks are removed). CM_OK
 * or CM_ERROR when one could not be written. */
int cm_mirror_refsnap_restore(git_repository *repo, const struct cm_mirror_refsnap *s);
/* The one line into err for a failed fetch; CM_EAGAIN (worth retrying), CM_ENOENT (the host
 * has no such repository) or CM_ERROR. */
int cm_mirror_fetch_fail(struct cm_mirror_fetch *s, char *err, size_t errlen);

/* A branch or tag and the commit it leads to (peeled) or its own target, as hex. */
struct cm_mirror_ref {
    char *name; /* owned */
    char hex[GIT_OID_HEXSZ + 1];
};
/* repo's branches and tags, sorted by name, in one pass over the ref store: with peel, the
 * commit each leads to (those leading to no commit are left out); without, its target. *out
 * (cm_mirror_ref_list_free) and *count. CM_OK, CM_ENOMEM or CM_ERROR. */
int cm_mirror_ref_list(git_repository *repo, int peel, struct cm_mirror_ref **out, size_t *count);
void cm_mirror_ref_list_free(struct cm_mirror_ref *refs, size_t n);

/* The commit the object id leads to (itself, or through annotated tags) into *commit. CM_OK,
 * or CM_ENOENT when there is no such object or it leads to no commit. */
int cm_mirror_peel_oid(git_repository *repo, const git_oid *id, git_oid *commit);

/* The id of the commit r leads to (through annotated tags) into hex. CM_OK, or CM_ENOENT
 * when it leads to no commit. */
int cm_mirror_commit_hex(git_reference *r, char hex[GIT_OID_HEXSZ + 1]);
/* The tree of the commit (or annotated tag) whose id, full or abbreviated, is id; commit (may
 * be NULL) gets the commit's id, or zeros for a tag of a bare tree. CM_OK, CM_EINVAL for an
 * id that is not hex, CM_ENOENT. */
int cm_mirror_tree(git_repository *repo, const char *id, git_tree **tree, git_oid *commit);
/* The size of blob id from its header into *size. CM_OK, CM_EINVAL when over max, CM_ENOENT
 * when the object is missing. */
int cm_mirror_blob_size(git_odb *odb, const git_oid *id, unsigned long long max,
                        unsigned long long *size);

#endif
