/* SPDX-License-Identifier: MIT */
/*
 * A state directory shared by a cluster, seen from one node: a manifest of what each shared
 * file was when the node last wrote in the cluster's version or published its own (version,
 * inode, size, mtime), so a walk after on_sync finds what the plugin changed by stat alone.
 * Files are replaced by rename, so an inode that is not the recorded one is a new file.
 */
#define _GNU_SOURCE
#include "plugin/shared_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "util/fsutil.h"

struct cm_shared_dir {
    char *dir;
    char **node_local;
    pthread_mutex_t mu; /* guards manifest and since: serve reads them on HTTP threads */
    json_t *manifest;   /* path -> [version, inode, size, mtime seconds, mtime nanoseconds] */
    long long since;
    int primed;
    json_t *seen; /* paths the cluster sent during a prime; NULL otherwise */
};

/* How deep a walk goes: the Composer plugin's deepest is dist/<vendor>/<package>/. */
#define SD_MAX_DEPTH 16

int cm_shared_dir_new(struct cm_shared_dir **out, const char *dir, const char *const *node_local)
{
    struct cm_shared_dir *sd = calloc(1, sizeof(*sd));
    size_t n = 0;

    *out = NULL;
    while (node_local && node_local[n])
        n++;
    if (!sd || !(sd->dir = strdup(dir)) || !(sd->node_local = calloc(n + 1, sizeof(char *))) ||
        !(sd->manifest = json_object())) {
        cm_shared_dir_free(sd);
        return CM_ENOMEM;
    }
    pthread_mutex_init(&sd->mu, NULL);
    for (size_t i = 0; i < n; i++) {
        if (!(sd->node_local[i] = strdup(node_local[i]))) {
            cm_shared_dir_free(sd);
            return CM_ENOMEM;
        }
    }
    *out = sd;
    return CM_OK;
}

void cm_shared_dir_free(struct cm_shared_dir *sd)
{
    if (!sd)
        return;
    for (size_t i = 0; sd->node_local && sd->node_local[i]; i++)
        free(sd->node_local[i]);
    free(sd->node_local);
    json_decref(sd->manifest);
    json_decref(sd->seen);
    if (sd->manifest)
        pthread_mutex_destroy(&sd->mu);
    free(sd->dir);
    free(sd);
}

int cm_shared_dir_primed(const struct cm_shared_dir *sd)
{
    return sd->primed;
}

long long cm_shared_dir_since(const struct cm_shared_dir *sd)
{
    return sd->primed ? sd->since : 0;
}

void cm_shared_dir_forget(struct cm_shared_dir *sd)
{
    sd->primed = 0;
}

/* Whether path (a directory when dir is set) lies under none of the node-local paths. */
static int sd_not_local(const struct cm_shared_dir *sd, const char *path, int dir)
{
    size_t len = strlen(path);

    for (size_t i = 0; sd->node_local[i]; i++) {
        const char *p = sd->node_local[i];
        size_t n = strlen(p);
        if (n && p[n - 1] == '/') {
            /* "dist/" holds "dist/x" and is the directory "dist" itself; a file of that name
             * (a row the cluster should never hold) would stand where the node's own go. */
            if (!strncmp(path, p, n) || (len == n - 1 && !strncmp(path, p, len)))
                return 0;
        } else if (!dir && !strcmp(path, p)) {
            return 0;
        }
    }
    return 1;
}

int cm_shared_dir_shares(const struct cm_shared_dir *sd, const char *path)
{
    return path && cm_fs_path_is_inside(path) && !strstr(path, ".tmp-") &&
           sd_not_local(sd, path, 0);
}

/* A manifest entry: version and what tells this file from a later one at the same path. */
static json_t *sd_entry(const struct stat *st, long long version)
{
    return json_pack("[I,I,I,I,I]", (json_int_t)version, (json_int_t)st->st_ino,
                     (json_int_t)st->st_size, (json_int_t)st->st_mtim.tv_sec,
                     (json_int_t)st->st_mtim.tv_nsec);
}

/* The manifest entry of what is on disk at path now (NULL when there is no regular file). */
static json_t *sd_stat_entry(const struct cm_shared_dir *sd, const char *path, long long version)
{
    char full[8192];
    struct stat st;

    if (snprintf(full, sizeof(full), "%s/%s", sd->dir, path) >= (int)sizeof(full) ||
        lstat(full, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    return sd_entry(&st, version);
}

/* Whether two manifest entries describe the same file (the version aside). */
static int sd_same_file(json_t *a, json_t *b)
{
    for (size_t i = 1; i < 5; i++)
        if (json_integer_value(json_array_get(a, i)) != json_integer_value(json_array_get(b, i)))
            return 0;
    return a && b;
}

/* path is now the cluster's version (present: the file on disk; else removed). */
static void sd_record(struct cm_shared_dir *sd, const char *path, long long version, int present)
{
    json_t *e = present ? sd_stat_entry(sd, path, version) : NULL;

    pthread_mutex_lock(&sd->mu);
    if (e)
        json_object_set_new(sd->manifest, path, e);
    else
        json_object_del(sd->manifest, path);
    if (version > sd->since)
        sd->since = version;
    pthread_mutex_unlock(&sd->mu);
}

/* Whether the file at path holds exactly len bytes equal to body. Not through a symlink
 * below the directory: a file elsewhere is not this directory's copy. */
static int sd_same_content(const struct cm_shared_dir *sd, const char *path, const void *body,
                           size_t len)
{
    struct stat st;
    int fd = cm_fs_open_under(sd->dir, path), same = 0;

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len) {
        char *buf = malloc(len ? len : 1);
        same = buf && (size_t)read(fd, buf, len) == len && !memcmp(buf, body, len);
        free(buf);
    }
    close(fd);
    return same;
}

int cm_shared_dir_apply(struct cm_shared_dir *sd, const char *path, const void *body, size_t len,
                        long long version, int *changed)
{
    char full[8192];

    *changed = 0;
    if (!cm_shared_dir_shares(sd, path) ||
        snprintf(full, sizeof(full), "%s/%s", sd->dir, path) >= (int)sizeof(full))
        return CM_EINVAL;
    if (sd->seen && json_object_set_new(sd->seen, path, json_true()) != 0)
        return CM_ENOMEM;
    if (!body) {
        /* Never through a link planted below the directory (errno ELOOP): a removal row
         * must not remove a file outside it. */
        if (cm_fs_unlink_under(sd->dir, path) == 0)
            *changed = 1;
        else if (errno != ENOENT && errno != ENOTDIR)
            return CM_ERROR;
    } else if (!sd_same_content(sd, path, body, len)) {
        if (cm_fs_write_under(sd->dir, path, body, len, 0644) != 0)
            return CM_ERROR;
        *changed = 1;
    }
    sd_record(sd, path, version, body != NULL);
    return CM_OK;
}

void cm_shared_dir_skip(struct cm_shared_dir *sd, long long version)
{
    pthread_mutex_lock(&sd->mu);
    if (version > sd->since)
        sd->since = version;
    pthread_mutex_unlock(&sd->mu);
}

const char *cm_shared_dir_name(const struct cm_shared_dir *sd)
{
    return sd->dir;
}

/* Walk dir/rel (depth levels down) and call fn for every shared regular file. */
static int sd_walk(struct cm_shared_dir *sd, const char *rel, int depth,
                   int (*fn)(struct cm_shared_dir *sd, const char *path, void *arg), void *arg)
{
    char full[8192];
    DIR *d;
    struct dirent *e;
    int rc = CM_OK;

    if (depth > SD_MAX_DEPTH)
        return CM_OK;
    snprintf(full, sizeof(full), "%s%s%s", sd->dir, *rel ? "/" : "", rel);
    if (!(d = opendir(full)))
        return errno == ENOENT && *rel ? CM_OK : CM_ERROR;
    while (rc == CM_OK && (e = readdir(d)) != NULL) {
        char path[4096];
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
            (int)sizeof(path))
            continue;
        int is_dir = cm_fs_entry_is_dir(dirfd(d), e->d_name, e->d_type);
        if (is_dir) {
            if (sd_not_local(sd, path, 1))
                rc = sd_walk(sd, path, depth + 1, fn, arg);
        } else if (cm_shared_dir_shares(sd, path)) {
            rc = fn(sd, path, arg);
        }
    }
    closedir(d);
    return rc;
}

/* Collect, for the prime: local files the cluster did not send. */
static int sd_unseen(struct cm_shared_dir *sd, const char *path, void *arg)
{
    if (!json_object_get(sd->seen, path) && json_array_append_new(arg, json_string(path)) != 0)
        return CM_ENOMEM;
    return CM_OK;
}

int cm_shared_dir_prime_done(struct cm_shared_dir *sd, void (*cb)(void *arg, const char *path),
                             void *arg)
{
    json_t *gone = json_array();
    size_t i;
    json_t *v;
    int rc = gone && sd->seen ? sd_walk(sd, "", 0, sd_unseen, gone) : CM_ENOMEM;

    json_array_foreach (gone, i, v) {
        if (rc != CM_OK)
            break;
        if (cm_fs_unlink_under(sd->dir, json_string_value(v)) != 0 && errno != ENOENT) {
            rc = CM_ERROR;
            break;
        }
        sd_record(sd, json_string_value(v), 0, 0);
        if (cb)
            cb(arg, json_string_value(v));
    }
    json_decref(gone);
    json_decref(sd->seen);
    sd->seen = NULL;
    if (rc == CM_OK)
        sd->primed = 1;
    return rc;
}

int cm_shared_dir_prime_begin(struct cm_shared_dir *sd)
{
    json_decref(sd->seen);
    pthread_mutex_lock(&sd->mu);
    json_object_clear(sd->manifest);
    sd->since = 0;
    pthread_mutex_unlock(&sd->mu);
    return (sd->seen = json_object()) ? CM_OK : CM_ENOMEM;
}

/* Read the whole regular file at path into *body; CM_ENOENT when it is not there. A link
 * swapped in below the directory after the walk is not read through (its target would be
 * published to the cluster). */
static int sd_read(const struct cm_shared_dir *sd, const char *path, void **body, size_t *len)
{
    struct stat st;
    int fd = cm_fs_open_under(sd->dir, path), rc = CM_ERROR;
    size_t got = 0;

    *body = NULL;
    if (fd < 0)
        return errno == ENOENT ? CM_ENOENT : CM_ERROR;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (*body = malloc((size_t)st.st_size + 1))) {
        ssize_t r = 1;
        while (got < (size_t)st.st_size &&
               (r = read(fd, (char *)*body + got, (size_t)st.st_size - got)) > 0)
            got += (size_t)r;
        rc = r >= 0 ? CM_OK : CM_ERROR;
    }
    close(fd);
    if (rc != CM_OK) {
        free(*body);
        *body = NULL;
    }
    *len = got;
    return rc;
}

struct sd_changes {
    struct cm_state_doc *docs;
    size_t n, cap;
    json_t *present; /* shared paths found on disk */
};

static int sd_add(struct sd_changes *c, const char *path, void *body, size_t len)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct cm_state_doc *d = realloc(c->docs, cap * sizeof(*d));
        if (!d)
            return CM_ENOMEM;
        c->docs = d;
        c->cap = cap;
    }
    c->docs[c->n] = (struct cm_state_doc){.path = strdup(path), .body = body, .len = len};
    if (!c->docs[c->n].path)
        return CM_ENOMEM;
    c->n++;
    return CM_OK;
}

static int sd_changed(struct cm_shared_dir *sd, const char *path, void *arg)
{
    struct sd_changes *c = arg;
    json_t *now = sd_stat_entry(sd, path, 0), *was;
    void *body;
    size_t len;
    int same, rc;

    if (json_object_set_new(c->present, path, json_true()) != 0) {
        json_decref(now);
        return CM_ENOMEM;
    }
    pthread_mutex_lock(&sd->mu);
    was = json_object_get(sd->manifest, path);
    same = now && was && sd_same_file(now, was);
    pthread_mutex_unlock(&sd->mu);
    json_decref(now);
    if (same)
        return CM_OK;
    if ((rc = sd_read(sd, path, &body, &len)) == CM_ENOENT)
        return CM_OK; /* gone since the walk saw it: counted as removed below */
    if (rc != CM_OK)
        return rc;
    if ((rc = sd_add(c, path, body, len)) != CM_OK)
        free(body);
    return rc;
}

int cm_shared_dir_changes(struct cm_shared_dir *sd, struct cm_state_doc **docs, size_t *n)
{
    struct sd_changes c = {.present = json_object()};
    const char *path;
    json_t *v;
    int rc = c.present ? sd_walk(sd, "", 0, sd_changed, &c) : CM_ENOMEM;

    /* What the manifest has and the disk no longer does was removed by the plugin. */
    pthread_mutex_lock(&sd->mu);
    json_object_foreach (sd->manifest, path, v) {
        if (rc == CM_OK && !json_object_get(c.present, path))
            rc = sd_add(&c, path, NULL, 0);
    }
    pthread_mutex_unlock(&sd->mu);
    json_decref(c.present);
    if (rc != CM_OK) {
        cm_shared_dir_docs_free(c.docs, c.n);
        c.docs = NULL;
        c.n = 0;
    }
    *docs = c.docs;
    *n = c.n;
    return rc;
}

void cm_shared_dir_docs_free(struct cm_state_doc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(docs[i].path);
        free(docs[i].body);
    }
    free(docs);
}

void cm_shared_dir_published(struct cm_shared_dir *sd, const struct cm_state_doc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sd_record(sd, docs[i].path, docs[i].version, docs[i].body != NULL);
        /* Published during a prime (a seed): the cluster has it, so the prime keeps it. */
        if (sd->seen)
            json_object_set_new(sd->seen, docs[i].path, json_true());
    }
}

int cm_shared_dir_open_current(struct cm_shared_dir *sd, const char *path, long long version)
{
    json_t *was, *now;
    struct stat st;
    int fd, same;

    if ((fd = cm_fs_open_under(sd->dir, path)) < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    now = sd_entry(&st, version);
    pthread_mutex_lock(&sd->mu);
    was = json_object_get(sd->manifest, path);
    same = was && json_integer_value(json_array_get(was, 0)) == version && sd_same_file(now, was);
    pthread_mutex_unlock(&sd->mu);
    json_decref(now);
    if (!same) {
        close(fd);
        return -1;
    }
    return fd;
}

long long cm_shared_dir_version(const struct cm_shared_dir *sd, const char *path)
{
    struct cm_shared_dir *w = (struct cm_shared_dir *)sd;
    long long v;

    pthread_mutex_lock(&w->mu);
    v = json_integer_value(json_array_get(json_object_get(w->manifest, path), 0));
    pthread_mutex_unlock(&w->mu);
    return v;
}
