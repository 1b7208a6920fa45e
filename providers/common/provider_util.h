/* SPDX-License-Identifier: MIT */
/*
 * Small pieces every provider plugin needs alike: signature headers of the form
 * "<algo>=<hex>", commit ids, header families, the event's repository fields, the url setting
 * and its scheme, and the exported descriptor. Compiled into each provider module; the module
 * exports none of it.
 */
#ifndef CARGOMAN_PROVIDER_UTIL_H
#define CARGOMAN_PROVIDER_UTIL_H

#include <cargoman/plugin.h>
#include <stddef.h>

#include "provider_json.h" /* CMP_HIDDEN */
#include "provider_name.h"

/* What every provider's self starts with; both borrowed, they outlive self. */
struct cmp_self {
    const struct cm_host *host;
    struct cm_ctx *ctx; /* the endpoint's section */
};

/* A zeroed self of size bytes (a struct that starts with a struct cmp_self) with host and ctx
 * set, the caller's to free(); NULL when out of memory. */
CMP_HIDDEN void *cmp_self_new(const struct cm_host *host, struct cm_ctx *ctx, size_t size);

/* The hex after "<algo>=" in a signature header value, with *algo_len the length of algo;
 * NULL when there is no '='. Borrowed from value. */
CMP_HIDDEN const char *cmp_sig_split(const char *value, size_t *algo_len);

/*
 * Check Bitbucket's "X-Hub-Signature: sha256=<hex>" (sig, NULL when absent) against
 * HMAC-SHA256(secret, raw body) in constant time. CM_OK when it matches or when secret is NULL
 * or ""; CM_EAUTH after host->reject when it is missing, malformed or wrong; CM_ENOMEM or
 * CM_ERROR when it could not be checked. sender ("Bitbucket Cloud") ends the reason for a
 * malformed header; algo_hint follows the name of an algorithm other than sha256.
 */
CMP_HIDDEN int cmp_bitbucket_signature(const struct cm_host *host, struct cm_request *req,
                                       const char *secret, const char *sig, const char *sender,
                                       const char *algo_hint);

/* 1 when s is a whole SHA-1 or SHA-256 commit id in hex (either case), else 0. */
CMP_HIDDEN int cmp_is_commit_id(const char *s);

/* 1 when req has any of the headers in names (NULL-terminated), else 0. */
CMP_HIDDEN int cmp_has_any_header(const struct cm_host *host, const struct cm_request *req,
                                  const char *const *names);

/* A sniff hook for hosts that name their event in a header of their own: 0 when req has any
 * of vetoes (NULL: none), 1 when it has own, 0 when it has any of others, else whether its
 * payload is an object that looks_like the provider's. */
CMP_HIDDEN int cmp_sniff(const struct cm_host *host, const struct cm_request *req,
                         const char *const *vetoes, const char *own, const char *const *others,
                         int (*looks_like)(const json_t *root));

/* The repository fields of a common event; NULL leaves a field unset. All borrowed. */
struct cmp_fields {
    const char *delivery_id, *repository, *repository_id, *clone_http, *clone_ssh, *html_url,
        *actor;
};

/* The member names of a host's repository object that hold the event's fields. */
struct cmp_repo_keys {
    const char *repository; /* the full name: required and not empty */
    const char *clone_http, *clone_ssh, *html_url;
    const char *id;                   /* a number or text, printed into id_buf when a number */
    const struct cmp_name_rule *rule; /* the host's rule for the full name */
};

/* Read the object at root.key (required) into f's repository fields, borrowed from root, the
 * full name checked against keys->rule. id_buf (size bytes) holds a numeric id. CM_OK, or
 * CM_EINVAL after j->host->reject. */
CMP_HIDDEN int cmp_json_repository(const struct cmp_json *j, const json_t *root, const char *key,
                                   const struct cmp_repo_keys *keys, struct cmp_fields *f,
                                   char *id_buf, size_t size);

/* *out = a new event of req (owned by req) with f's fields set. CM_OK, CM_ENOMEM, or
 * event_set's status (CM_EINVAL: a value is not valid text) for the caller to word. */
CMP_HIDDEN int cmp_event_start(const struct cm_host *host, struct cm_request *req,
                               const struct cmp_fields *f, struct cm_event **out);

/* One event from a list of changes, checked before anything is recorded: fn(j, element, path,
 * i, NULL) must accept every element of changes (at path) before the event is made with f's
 * fields; then fn(..., ev) adds each. The event is marked incomplete when changes is empty or
 * incomplete is set. CM_OK, or the first failing status. */
CMP_HIDDEN int cmp_event_from_changes(const struct cmp_json *j, const json_t *changes,
                                      const char *path, cmp_each_fn fn, const struct cmp_fields *f,
                                      int incomplete);

/* *out = the endpoint's url setting (borrowed), NULL when unset. CM_OK, or CM_EINVAL after
 * logging that url must be a string such as example. */
CMP_HIDDEN int cmp_conf_url(const struct cm_host *host, struct cm_ctx *ctx, const char *example,
                            const char **out);

/* The providers' one URL splitter: where the authority of an http:// or https:// url starts
 * (borrowed from url), or NULL when url has another scheme or none. */
CMP_HIDDEN const char *cmp_http_authority(const char *url);

/* The exported descriptor of a provider whose hooks are pfx_create, destroy_ (free when self
 * holds nothing else), pfx_verify, pfx_translate and pfx_sniff; flags_ and default_url_ are
 * the 1.1 fields. */
#define CMP_PROVIDER(pfx, destroy_, name_, version_, description_, flags_, default_url_)           \
    CM_EXPORT const struct cm_provider cargoman_provider = {                                       \
        .abi_version = CM_ABI_VERSION,                                                             \
        .name = name_,                                                                             \
        .version = version_,                                                                       \
        .description = description_,                                                               \
        .create = pfx##_create,                                                                    \
        .destroy = destroy_,                                                                       \
        .verify = pfx##_verify,                                                                    \
        .translate = pfx##_translate,                                                              \
        .sniff = pfx##_sniff,                                                                      \
        .flags = flags_,                                                                           \
        .default_url = default_url_,                                                               \
    }

#endif /* CARGOMAN_PROVIDER_UTIL_H */
