/* SPDX-License-Identifier: MIT */
/*
 * The mirror object: where a mirror lives, opening and freeing it, what sync plugins may ask
 * of it (struct cm_host's mirror fields and notes), and the few libgit2 helpers the other
 * mirror_*.c files share. Fetching is in mirror_sync.c and mirror_fetch.c, reading in
 * mirror_read.c and mirror_archive.c, process-wide libgit2 state in mirror_global.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "sync/notes.h"
#include "util/fsutil.h"
#include "util/url.h"

#define MR_NOTES_FILE "cargoman-notes"

int cm_mirror_path(char *out, size_t len, const char *data_dir, const char *endpoint,
                   const char *repository)
{
    int n = snprintf(out, len, "%s/mirrors/%s/%s.git", data_dir, endpoint, repository);

    return n > 0 && (size_t)n < len ? CM_OK : CM_EINVAL;
}

const char *cm_mirror_git_msg(void)
{
    const git_error *e = git_error_last();

    return e && e->message ? e->message : "unknown libgit2 error";
}

/* Each read opens the repository afresh: a git_repository may not be shared between threads,
 * and a fresh one sees what the last sync wrote. */
int cm_mirror_open_repo(const struct cm_mirror *m, git_repository **repo)
{
    return git_repository_open_bare(repo, m->path) == 0 ? CM_OK : CM_ENOENT;
}

static char *mr_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Short name of the branch HEAD points to when that branch exists; owned, or NULL. */
char *cm_mirror_head_branch(git_repository *repo)
{
    git_reference *head = NULL, *target = NULL;
    char *out = NULL;

    if (git_reference_lookup(&head, repo, "HEAD") == 0 &&
        git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
        git_reference_lookup(&target, repo, git_reference_symbolic_target(head)) == 0 &&
        !strncmp(git_reference_name(target), "refs/heads/", 11))
        out = strdup(git_reference_name(target) + 11);
    git_reference_free(target);
    git_reference_free(head);
    return out;
}

int cm_mirror_open(struct cm_mirror **out, const char *path, const char *url, const char *endpoint,
                   const char *repository)
{
    struct cm_mirror *m = calloc(1, sizeof(*m));
    git_repository *repo = NULL;
    char notes[4096];
    int rc = CM_ENOMEM;

    *out = NULL;
    if (!m)
        return CM_ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    m->max_blob = CM_MIRROR_MAX_BLOB_DEFAULT;
    m->path = strdup(path);
    m->url = strdup(url);
    m->endpoint = mr_strdup(endpoint);
    m->repository = mr_strdup(repository);
    if (!m->path || !m->url || (endpoint && !m->endpoint) || (repository && !m->repository) ||
        cm_url_split_password(url, &m->shown_url, &m->url_password) != CM_OK)
        goto out;
    if (cm_mirror_open_repo(m, &repo) == CM_OK) {
        m->default_branch = cm_mirror_head_branch(repo);
        git_repository_free(repo);
    }
    rc = CM_ENOMEM;
    if ((size_t)snprintf(notes, sizeof(notes), "%s/" MR_NOTES_FILE, path) < sizeof(notes))
        rc = cm_notes_open(&m->notes, notes);
out:
    if (rc == CM_OK)
        *out = m;
    else
        cm_mirror_free(m);
    return rc;
}

void cm_mirror_free(struct cm_mirror *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_retired; i++)
        free(m->retired[i]);
    cm_notes_free(m->notes);
    free(m->retired);
    free(m->default_branch);
    free(m->path);
    free(m->url);
    free(m->shown_url);
    free(m->url_password);
    free(m->endpoint);
    free(m->repository);
    free(m->repository_id);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* One of m's flags a sync sets (flag points into m), read under its lock. */
static int mr_read_flag(const struct cm_mirror *m, const int *flag)
{
    struct cm_mirror *mm = (struct cm_mirror *)m; /* the lock is not part of the value */
    int v;

    pthread_mutex_lock(&mm->lock);
    v = *flag;
    pthread_mutex_unlock(&mm->lock);
    return v;
}

const char *cm_mirror_get(const struct cm_mirror *m, enum cm_mirror_field field)
{
    struct cm_mirror *mm = (struct cm_mirror *)m; /* the lock is not part of the value */
    const char *v = NULL;

    switch (field) {
    case CM_MIRROR_PATH: return m->path;
    case CM_MIRROR_URL: return m->shown_url;
    case CM_MIRROR_ENDPOINT: return m->endpoint;
    case CM_MIRROR_REPOSITORY: return m->repository;
    case CM_MIRROR_DEFAULT_BRANCH:
        pthread_mutex_lock(&mm->lock);
        v = m->default_branch;
        pthread_mutex_unlock(&mm->lock);
        return v;
    case CM_MIRROR_IS_NEW: return mr_read_flag(m, &m->is_new) ? "true" : "false";
    case CM_MIRROR_REPOSITORY_ID: return m->repository_id;
    default: return NULL;
    }
}

int cm_mirror_missing(const struct cm_mirror *m)
{
    return mr_read_flag(m, &m->missing);
}

int cm_mirror_not_found(const struct cm_mirror *m)
{
    return mr_read_flag(m, &m->not_found);
}

int cm_mirror_busy(const struct cm_mirror *m)
{
    return mr_read_flag(m, &m->busy);
}

int cm_mirror_fetched(const struct cm_mirror *m)
{
    return mr_read_flag(m, &m->fetched);
}

void cm_mirror_set_max_blob(struct cm_mirror *m, unsigned long long max)
{
    m->max_blob = max ? max : CM_MIRROR_MAX_BLOB_DEFAULT;
}

int cm_mirror_set_id(struct cm_mirror *m, const char *id)
{
    char *copy = id ? strdup(id) : NULL;

    if (id && !copy)
        return CM_ENOMEM;
    free(m->repository_id);
    m->repository_id = copy;
    return CM_OK;
}

void cm_mirror_expect_existing(struct cm_mirror *m)
{
    m->expect_existing = 1;
}

void cm_mirror_guard_history(struct cm_mirror *m)
{
    m->guard_history = 1;
}

void cm_mirror_set_progress(struct cm_mirror *m, cm_mirror_progress_cb cb, void *arg)
{
    m->progress = cb;
    m->progress_arg = arg;
}

int cm_mirror_note(const struct cm_mirror *m, const char *ref, const char *message)
{
    return cm_notes_set(m->notes, ref, message);
}

int cm_mirror_notes(const struct cm_mirror *m,
                    int (*cb)(void *arg, const char *ref, const char *message), void *arg)
{
    return cm_notes_each(m->notes, cb, arg);
}

/* dir (the repository name so far: rel, under endpoint) for *.git mirrors; depth bounds the
 * walk, since names nest (GitLab groups) but not without end. */
static void mirror_walk(const char *endpoint, const char *dir, const char *rel, int depth,
                        cm_mirror_each_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[4096], name[1024];
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || !cm_fs_entry_is_dir(dirfd(d), e->d_name, e->d_type))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".git")) {
            name[strlen(name) - 4] = '\0';
            fn(arg, endpoint, name, path);
        } else if (depth > 0 && (n < 4 || strcmp(e->d_name + n - 4, ".tmp"))) {
            mirror_walk(endpoint, path, name, depth - 1, fn, arg);
        }
    }
    closedir(d);
}

void cm_mirror_each(const char *data_dir, cm_mirror_each_fn fn, void *arg)
{
    char root[4096];
    DIR *d;
    struct dirent *e;

    snprintf(root, sizeof(root), "%s/mirrors", data_dir);
    if (!(d = opendir(root)))
        return;
    while ((e = readdir(d))) {
        char path[4200];
        if (e->d_name[0] == '.' || !cm_fs_entry_is_dir(dirfd(d), e->d_name, e->d_type))
            continue;
        snprintf(path, sizeof(path), "%.3800s/%s", root, e->d_name);
        mirror_walk(e->d_name, path, "", 8, fn, arg);
    }
    closedir(d);
}
