/* SPDX-License-Identifier: MIT */
/*
 * Which endpoint may publish which package name: the composer sync entry's `packages` list.
 * A pattern (a name, or a vendor, a slash and a star) restricts every endpoint; one written
 * "endpoint:pattern" applies to that endpoint only and reserves the names it matches for it.
 * Read-only after it is built.
 */
#ifndef CMC_POLICY_H
#define CMC_POLICY_H

#include <stddef.h>

struct cmc_rule {
    char *endpoint; /* owned; NULL: the rule restricts every endpoint */
    char *vendor;   /* owned */
    char *name;     /* owned; NULL when the pattern is a vendor and a star */
    char *text;     /* owned; the pattern as written, for messages */
};

struct cmc_policy {
    struct cmc_rule *rules; /* owned */
    size_t n;
};

/* Add one pattern as written in `packages`. CM_OK; CM_EINVAL with a one-line reason in why
 * (malformed, or reserving a name another endpoint's pattern already reserves); CM_ENOMEM. */
int cmc_policy_add(struct cmc_policy *pol, const char *pattern, char *why, size_t whylen);

void cmc_policy_free(struct cmc_policy *pol);

/* May endpoint publish name? CM_OK, or CM_EINVAL with the rule that refuses it and what to
 * change in why (one line, for a note and the log). */
int cmc_policy_check(const struct cmc_policy *pol, const char *endpoint, const char *name,
                     char *why, size_t whylen);

/* 1 when one of endpoint's own patterns reserves name, else 0. */
int cmc_policy_reserves(const struct cmc_policy *pol, const char *endpoint, const char *name);

/* The endpoint part of an owner key "endpoint:repository" into out ("" when it has none).
 * Endpoint names hold no ':', so the first one ends it. */
void cmc_owner_endpoint(const char *owner, char *out, size_t outlen);

#endif /* CMC_POLICY_H */
