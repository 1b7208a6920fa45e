/* SPDX-License-Identifier: MIT */
/*
 * Which repository full names a git host allows, checked at intake before any event is made:
 * the host-specific layer above the core's floor (cm_repo_name_check). Each provider states
 * its host's rule as data; the one loop that applies a rule lives here. Compiled into each
 * provider module; the module exports none of it.
 */
#ifndef CARGOMAN_PROVIDER_NAME_H
#define CARGOMAN_PROVIDER_NAME_H

#include "provider_base.h"

/* Longest segment of any host's name, in bytes (a file name's limit). */
#define CMP_SEGMENT_MAX 255

/* What one '/'-separated segment of a name may hold. All static text. */
struct cmp_segment_rule {
    const char *what;          /* its name in reasons: "owner", "slug", "path segment" */
    const char *extra;         /* bytes allowed besides ASCII letters and digits */
    const char *no_start;      /* bytes it may not start with; NULL: any allowed one */
    const char *const *no_end; /* suffixes it may not end in, NULL-terminated; NULL: none */
};

/* A host's rule for a repository's full name. Every segment is also refused when it is
 * empty, "." or "..", or longer than CMP_SEGMENT_MAX bytes. */
struct cmp_name_rule {
    const char *form; /* what a good name is, after "is not" in reasons: "a GitHub owner/name" */
    unsigned min_segments, max_segments;
    struct cmp_segment_rule first; /* the first segment */
    struct cmp_segment_rule rest;  /* every other segment */
    /* A first segment that starts with '~' (a Data Center personal project) is checked with
     * this after its '~'. what NULL: '~' is an ordinary byte, refused unless first allows it. */
    struct cmp_segment_rule personal;
};

/*
 * Check name (the member at label, e.g. "repository.full_name") against rule. CM_OK, or
 * CM_EINVAL after j->host->reject with a reason that quotes the name (printable ASCII only)
 * and says which part breaks which rule.
 */
CMP_HIDDEN int cmp_check_repository(const struct cmp_json *j, const char *label, const char *name,
                                    const struct cmp_name_rule *rule);

#endif /* CARGOMAN_PROVIDER_NAME_H */
