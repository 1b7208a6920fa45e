/* SPDX-License-Identifier: MIT */
/*
 * What every provider helper shares, with no JSON library: symbol visibility, where a reason
 * about a payload member goes, and what a getter asks of an absent member. Compiled into each
 * provider module; the module exports none of it.
 */
#ifndef CARGOMAN_PROVIDER_BASE_H
#define CARGOMAN_PROVIDER_BASE_H

#include <cargoman/plugin.h>
#include <stddef.h>

#if defined(__GNUC__)
#define CMP_HIDDEN __attribute__((visibility("hidden")))
#else
#define CMP_HIDDEN
#endif

/* Where a typed getter reports a bad member: the request it rejects, and the words that end
 * every reason (": not a GitHub push payload", or "" for none). All borrowed. */
struct cmp_json {
    const struct cm_host *host;
    struct cm_request *req;
    const char *tail;
};

/* What a getter asks of a member that is absent or null, or an empty string. */
enum cmp_need {
    CMP_OPTIONAL, /* absent or null gives NULL */
    CMP_PRESENT,  /* absent or null is rejected as "<path> is missing" */
    CMP_NONEMPTY  /* as CMP_PRESENT, and "" is rejected as "<path> is empty" (strings only) */
};

/* How cmp_json_load or cmp_path_load reads a payload and words its reasons (no tail is added
 * to them). */
struct cmp_load {
    size_t flags;            /* json_loadb flags (cmp_path_load: the host parses, no flags) */
    const char *no_payload;  /* the reason when a form body has no payload field */
    const char *syntax_hint; /* NULL: "the body is not valid JSON: <why> (line N)"; else
                              * "the body is not JSON (line N: <why>)" followed by this */
    const char *not_object;  /* the reason when the document is not an object */
};

#endif /* CARGOMAN_PROVIDER_BASE_H */
