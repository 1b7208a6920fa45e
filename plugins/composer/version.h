/* SPDX-License-Identifier: MIT */
/*
 * Composer's version rules, in C: how composer/semver normalizes a version or a branch name
 * and how Composer's VcsRepository turns git tags and branches into package versions.
 * Pure functions, no I/O, safe from any thread.
 */
#ifndef CMC_VERSION_H
#define CMC_VERSION_H

#include <stddef.h>

/* Longest version string handled; longer names are refused (git allows them, nobody uses them). */
#define CMC_VERSION_MAX 256

/* A package version as Composer publishes it: the pretty "version" and "version_normalized". */
/* A string with a fixed capacity, built piece by piece; any overflow sets overflow and makes
 * the whole result invalid, so callers check once at the end. */
struct cmc_buf {
    char *s; /* the caller's storage of cap bytes, NUL-terminated as it grows */
    size_t cap, len;
    int overflow;
};

/* Append n bytes of s (or mark overflow). */
void cmc_buf_put(struct cmc_buf *b, const char *s, size_t n);
void cmc_buf_puts(struct cmc_buf *b, const char *s);

struct cmc_version {
    char version[CMC_VERSION_MAX];
    char normalized[CMC_VERSION_MAX];
};

/* VersionParser::normalize(). CM_OK with out filled; CM_EINVAL when Composer would throw
 * ("Invalid version string") or the result does not fit in outlen. */
int cmc_normalize(char *out, size_t outlen, const char *version);

/* VersionParser::normalizeBranch(): never refuses a name, only CM_EINVAL when too long. */
int cmc_normalize_branch(char *out, size_t outlen, const char *name);

/* 1 when Composer's VcsRepository accepts the branch name (its normalized form parses as a
 * constraint), else 0. */
int cmc_branch_valid(const char *branch);

/* The version of tag (short name, without refs/tags/), given composer.json's "version" field or
 * NULL when it has none. CM_OK, or CM_EINVAL with a one-line reason in why. */
int cmc_tag_version(struct cmc_version *out, const char *tag, const char *json_version, char *why,
                    size_t whylen);

/* The dev version of branch (short name). CM_OK, or CM_EINVAL with a reason in why. */
int cmc_branch_version(struct cmc_version *out, const char *branch, char *why, size_t whylen);

/* Order of two normalized versions: <0 when a is older than b, 0 same, >0 newer.
 * "dev-*" branches are older than any numbered version and ordered by name among themselves. */
int cmc_version_compare(const char *a, const char *b);

/* 1 when name matches Composer's package name rule (lowercase "vendor/name"), else 0. */
int cmc_valid_package_name(const char *name);

#endif /* CMC_VERSION_H */
