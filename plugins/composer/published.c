/* SPDX-License-Identifier: MIT */
/*
 * The published commits of the last few state files zip requests asked about (published.h).
 * A file read while it was being replaced is recorded with the identity stat saw before the
 * read, so its content is at least that new, and the next request reads it again. A file
 * modified within a second of its reading is read again too (as git treats a "racily clean"
 * index entry): a second file renamed over it in the same timestamp tick (whole seconds on some
 * filesystems) may reuse its inode number and have its size, and stat could not tell them apart.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cargoman/plugin.h"
#include "published.h"
#include "state.h"

#define PUB_FILES 4 /* packages whose zips are asked for at once, typically one per install */

struct pub_file {
    char *rel; /* NULL: a free slot */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    json_t *shasums; /* commit -> sha1 of its zip */
    char *package, *endpoint, *repository;
    unsigned long long used; /* when it last answered, for eviction */
    int racy;                /* modified too close to its reading to be told from a successor */
};

struct cmc_published {
    pthread_mutex_t lock; /* guards everything below, the JSON included */
    struct pub_file files[PUB_FILES];
    unsigned long long tick;
};

int cmc_published_new(struct cmc_published **out)
{
    struct cmc_published *c = calloc(1, sizeof(*c));

    *out = c;
    if (!c)
        return CM_ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    return CM_OK;
}

static void pub_clear(struct pub_file *f)
{
    free(f->rel);
    free(f->package);
    free(f->endpoint);
    free(f->repository);
    json_decref(f->shasums);
    memset(f, 0, sizeof(*f));
}

void cmc_published_free(struct cmc_published *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < PUB_FILES; i++)
        pub_clear(&c->files[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int pub_same(const struct pub_file *f, const char *rel, const struct stat *sb)
{
    return f->rel && !f->racy && !strcmp(f->rel, rel) && f->dev == sb->st_dev &&
           f->ino == sb->st_ino && f->size == sb->st_size &&
           f->mtime.tv_sec == sb->st_mtim.tv_sec && f->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/* Under the lock: what f says of commit as pkg's. */
static int pub_answer(struct cmc_published *c, struct pub_file *f, const char *pkg,
                      const char *commit, struct cmc_published_hit *hit)
{
    const char *sha = json_string_value(json_object_get(f->shasums, commit));

    f->used = ++c->tick;
    if (!sha || strlen(sha) != 40 || !f->package || strcmp(f->package, pkg) != 0 || !f->endpoint ||
        !f->repository || strlen(f->endpoint) >= sizeof(hit->endpoint) ||
        strlen(f->repository) >= sizeof(hit->repository))
        return CM_ENOENT;
    memcpy(hit->shasum, sha, 41);
    snprintf(hit->package, sizeof(hit->package), "%s", f->package);
    snprintf(hit->endpoint, sizeof(hit->endpoint), "%s", f->endpoint);
    snprintf(hit->repository, sizeof(hit->repository), "%s", f->repository);
    return CM_OK;
}

static char *pub_strdup(json_t *st, const char *key)
{
    const char *s = json_string_value(json_object_get(st, key));
    return s ? strdup(s) : NULL;
}

/* Read state_dir/rel into f (identity sb). CM_OK or CM_ENOMEM. */
static int pub_read(struct pub_file *f, const char *state_dir, const char *rel,
                    const struct stat *sb)
{
    struct timespec now;
    json_t *st;

    /* The clock before the read: one second of margin for timestamps taken from a coarser
     * clock than this one. */
    clock_gettime(CLOCK_REALTIME, &now);
    st = cmc_state_load(state_dir, rel);
    memset(f, 0, sizeof(*f));
    f->racy = sb->st_mtim.tv_sec >= now.tv_sec - 1;
    if (!st)
        return CM_ENOMEM;
    f->rel = strdup(rel);
    f->dev = sb->st_dev;
    f->ino = sb->st_ino;
    f->size = sb->st_size;
    f->mtime = sb->st_mtim;
    f->shasums = json_incref(json_object_get(st, "shasums"));
    f->package = pub_strdup(st, "package");
    f->endpoint = pub_strdup(st, "endpoint");
    f->repository = pub_strdup(st, "repository");
    json_decref(st);
    if (!f->rel) {
        pub_clear(f);
        return CM_ENOMEM;
    }
    return CM_OK;
}

int cmc_published_lookup(struct cmc_published *c, const char *state_dir, const char *rel,
                         const char *pkg, const char *commit, struct cmc_published_hit *hit)
{
    char path[4096];
    struct stat sb;
    struct pub_file fresh, *slot = NULL;
    int rc = CM_ENOENT;

    if (snprintf(path, sizeof(path), "%s/%s", state_dir, rel) >= (int)sizeof(path) ||
        stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return CM_ENOENT;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < PUB_FILES; i++) {
        if (pub_same(&c->files[i], rel, &sb)) {
            rc = pub_answer(c, &c->files[i], pkg, commit, hit);
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
    }
    pthread_mutex_unlock(&c->lock);
    /* Parsed without the lock: other packages' requests need not wait for this one. */
    if (pub_read(&fresh, state_dir, rel, &sb) != CM_OK)
        return CM_ENOMEM;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < PUB_FILES; i++) {
        struct pub_file *f = &c->files[i];
        if (f->rel && !strcmp(f->rel, rel)) { /* an older reading, or another thread's */
            slot = f;
            break;
        }
        if (!slot || !f->rel || (slot->rel && f->used < slot->used))
            slot = f;
    }
    pub_clear(slot);
    *slot = fresh;
    rc = pub_answer(c, slot, pkg, commit, hit);
    pthread_mutex_unlock(&c->lock);
    return rc;
}
