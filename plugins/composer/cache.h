/* SPDX-License-Identifier: MIT */
/*
 * What the plugin remembers, in memory, of the repositories it published last: the state as
 * saved, each published version and the text of the p2 documents. With it one new tag on a
 * repository of thousands costs that tag's work; without it (a restart, a miss) the same is
 * rebuilt from the state file, so the cache changes the cost, never the output.
 */
#ifndef CMC_CACHE_H
#define CMC_CACHE_H

#include "p2.h"
#include "state.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>

/* At most this many repositories, and this many refs among them, are remembered; the least
 * recently published go first. A repository with more refs than the budget is not kept. */
#define CMC_CACHE_REPOS 16
#define CMC_CACHE_REFS 25000

/* A published version: the ref it was made from at commit, and the complete version (with
 * "dist"), which nothing changes any more. */
struct cmc_pub {
    char *ref;       /* owned */
    char *commit;    /* owned */
    json_t *version; /* one reference */
};

/* Free n versions of pub and pub itself. */
void cmc_pub_free(struct cmc_pub *pub, size_t n);

/* One repository, as its last successful sync left it. */
struct cmc_repo_cache {
    char *path;           /* owned: the state file, relative to the state directory; the key */
    json_t *st;           /* one reference: the state as saved to path */
    struct stat saved;    /* path as written: a different file means another writer, so a miss */
    char *made_for;       /* owned: package, source URL and default branch the versions name */
    struct stat dist_dir; /* dist/<package> after the publish: a zip removed since shows */
    struct cmc_pub *pub;  /* owned, sorted by ref */
    size_t npub;
    struct cmc_p2_text tags, devs;    /* the two p2 documents as written */
    struct cmc_state_text state_text; /* the state file's lines as written */
};

struct cmc_cache {
    pthread_mutex_t lock;
    struct cmc_repo_cache *entry[CMC_CACHE_REPOS]; /* owned; most recently put first */
    size_t n;
};

void cmc_cache_init(struct cmc_cache *c);

/* Free every entry and the lock. */
void cmc_cache_free(struct cmc_cache *c);

/* The entry for path, handed over to the caller (who gives it back with cmc_cache_put or
 * frees it), when the file under state_dir is still the one it saved; else NULL (a stale
 * entry is dropped). Thread-safe. */
struct cmc_repo_cache *cmc_cache_take(struct cmc_cache *c, const char *state_dir, const char *path);

/* A new empty entry for path owning st (its reference is taken), NULL on ENOMEM (st is then
 * released). */
struct cmc_repo_cache *cmc_repo_cache_new(const char *path, json_t *st);

/* Forget the versions and p2 texts (they were made for other inputs), keep the state. */
void cmc_repo_cache_forget(struct cmc_repo_cache *e);

void cmc_repo_cache_free(struct cmc_repo_cache *e);

/* Whether two stats are of one file not changed in between (a replaced file, a directory
 * entry added or removed: another inode or mtime). Never for a zeroed (unread) stat. */
int cmc_same_stat(const struct stat *a, const struct stat *b);

/* Forget the entry for path, if any: its state file was replaced by someone else (a cluster
 * node), which the stat check alone would miss for a file rewritten in place. Thread-safe. */
void cmc_cache_drop(struct cmc_cache *c, const char *path);

/* Give e back after its state was saved under state_dir (stat'ed now, so the next take can
 * tell whether anyone else wrote it). e is the cache's or freed; never fails. */
void cmc_cache_put(struct cmc_cache *c, const char *state_dir, struct cmc_repo_cache *e);

#endif /* CMC_CACHE_H */
