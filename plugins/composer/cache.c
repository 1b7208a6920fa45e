/* SPDX-License-Identifier: MIT */
/*
 * The plugin's memory of recently published repositories (cache.h): taken whole by the sync
 * of a repository (one at a time per repository, which the core guarantees), given back once
 * the sync succeeded, checked against the state file before each use.
 */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmc_cache_init(struct cmc_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void cmc_cache_free(struct cmc_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        cmc_repo_cache_free(c->entry[i]);
    c->n = 0;
    pthread_mutex_destroy(&c->lock);
}

struct cmc_repo_cache *cmc_repo_cache_new(const char *path, json_t *st)
{
    struct cmc_repo_cache *e = calloc(1, sizeof(*e));
    size_t len = strlen(path) + 1;

    if (!e || !(e->path = malloc(len))) {
        free(e);
        json_decref(st);
        return NULL;
    }
    memcpy(e->path, path, len);
    e->st = st;
    return e;
}

void cmc_pub_free(struct cmc_pub *pub, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pub[i].ref);
        free(pub[i].commit);
        json_decref(pub[i].version);
    }
    free(pub);
}

void cmc_repo_cache_forget(struct cmc_repo_cache *e)
{
    cmc_pub_free(e->pub, e->npub);
    e->pub = NULL;
    e->npub = 0;
    free(e->made_for);
    e->made_for = NULL;
    cmc_p2_text_clear(&e->tags);
    cmc_p2_text_clear(&e->devs);
}

void cmc_repo_cache_free(struct cmc_repo_cache *e)
{
    if (!e)
        return;
    cmc_repo_cache_forget(e);
    cmc_state_text_clear(&e->state_text);
    json_decref(e->st);
    free(e->path);
    free(e);
}

/* The state file as it is now; zeroed when it cannot be read (which no saved one matches). */
static void ch_stat(const char *state_dir, const char *path, struct stat *out)
{
    char full[4096];

    memset(out, 0, sizeof(*out));
    if (snprintf(full, sizeof(full), "%s/%s", state_dir, path) >= (int)sizeof(full) ||
        stat(full, out) != 0)
        memset(out, 0, sizeof(*out));
}

/* Every save replaces the file (a new inode), so another writer shows in one of these. */
int cmc_same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_ino != 0 && a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static size_t ch_refs(const struct cmc_repo_cache *e)
{
    return json_object_size(json_object_get(e->st, "refs"));
}

/* Take the entry for path out of c (NULL when there is none). */
static struct cmc_repo_cache *ch_remove(struct cmc_cache *c, const char *path)
{
    struct cmc_repo_cache *e = NULL;

    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->entry[i]->path, path) != 0)
            continue;
        e = c->entry[i];
        memmove(&c->entry[i], &c->entry[i + 1], (c->n - i - 1) * sizeof(*c->entry));
        c->n--;
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

struct cmc_repo_cache *cmc_cache_take(struct cmc_cache *c, const char *state_dir, const char *path)
{
    struct cmc_repo_cache *e = ch_remove(c, path);
    struct stat now;

    if (!e)
        return NULL;
    ch_stat(state_dir, path, &now);
    if (!cmc_same_stat(&e->saved, &now)) {
        cmc_repo_cache_free(e);
        return NULL;
    }
    return e;
}

void cmc_cache_drop(struct cmc_cache *c, const char *path)
{
    cmc_repo_cache_free(ch_remove(c, path));
}

void cmc_cache_put(struct cmc_cache *c, const char *state_dir, struct cmc_repo_cache *e)
{
    struct cmc_repo_cache *evicted[CMC_CACHE_REPOS + 1];
    size_t nevicted = 0, refs;

    ch_stat(state_dir, e->path, &e->saved);
    if (e->saved.st_ino == 0 || (refs = ch_refs(e)) > CMC_CACHE_REFS) {
        cmc_repo_cache_free(e);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (c->n == CMC_CACHE_REPOS)
        evicted[nevicted++] = c->entry[--c->n];
    memmove(&c->entry[1], &c->entry[0], c->n * sizeof(*c->entry));
    c->entry[0] = e;
    c->n++;
    for (size_t i = 0; i < c->n; i++) {
        refs = i == 0 ? ch_refs(c->entry[0]) : refs + ch_refs(c->entry[i]);
        if (refs > CMC_CACHE_REFS) {
            while (c->n > i)
                evicted[nevicted++] = c->entry[--c->n];
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    /* Freeing thousands of versions is kept out of the lock the other worker may want. */
    for (size_t i = 0; i < nevicted; i++)
        cmc_repo_cache_free(evicted[i]);
}
