/* SPDX-License-Identifier: MIT */
/*
 * Which commits a repository's state file publishes, for zip requests this node must answer
 * from it (serve.c). A client with a read token (anyone, with public = true) may name any
 * commit of any package; reading and parsing the package's state file for each (megabytes at
 * thousands of tags) would let it spend the node's CPU at will. So the last few state files
 * asked about are kept parsed, and each request costs one stat: a state file is replaced by
 * rename, so a file with another inode, size or mtime is read again.
 */
#ifndef CMC_PUBLISHED_H
#define CMC_PUBLISHED_H

#include <stddef.h>

struct cmc_published;

/* What a state file says of one published commit (all copies, NUL-terminated). */
struct cmc_published_hit {
    char shasum[41];    /* the zip's sha1 the p2 file promises */
    char package[256];  /* the package the file publishes */
    char endpoint[256]; /* the repository it was published from */
    char repository[1024];
};

/* CM_OK or CM_ENOMEM. */
int cmc_published_new(struct cmc_published **out);
void cmc_published_free(struct cmc_published *c);

/* Whether the state file state_dir/rel publishes commit (40 hex) as pkg's: CM_OK with *hit;
 * CM_ENOENT when it does not (no such file, another package, no such commit, or a file that
 * does not parse). Any thread. */
int cmc_published_lookup(struct cmc_published *c, const char *state_dir, const char *rel,
                         const char *pkg, const char *commit, struct cmc_published_hit *hit);

#endif
