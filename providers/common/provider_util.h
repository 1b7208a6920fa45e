/* SPDX-License-Identifier: MIT */
/*
 * Small pieces every provider plugin needs alike: signature headers of the form
 * "<algo>=<hex>" (checked and made), commit ids, header families, the event's repository
 * fields, the url setting and its scheme, and the exported descriptor. No JSON library:
 * provider_json.h has the jansson helpers, provider_path.h those on the host's payload paths.
 * Compiled into each provider module; the module exports none of it.
 */
#ifndef CARGOMAN_PROVIDER_UTIL_H
#define CARGOMAN_PROVIDER_UTIL_H

#include <cargoman/plugin.h>
#include <stddef.h>

#include "provider_base.h"
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
 * HMAC-SHA256(s, raw body) for every secret s of ctx's endpoint, in constant time. CM_OK when
 * one matches or when the endpoint has no secret; CM_EAUTH after host->reject when it is missing,
 * malformed or wrong; CM_ENOMEM or CM_ERROR when it could not be checked. sender ("Bitbucket
 * Cloud") ends the reason for a malformed header; algo_hint follows the name of an algorithm other
 * than sha256.
 */
CMP_HIDDEN int cmp_bitbucket_signature(const struct cm_host *host, struct cm_request *req,
                                       struct cm_ctx *ctx, const char *sig, const char *sender,
                                       const char *algo_hint);

/* emit(arg, name, "<algo>=<hex of HMAC-algo(secret, raw body)>"), the header GitHub and
 * Bitbucket send; for sign hooks. CM_OK, CM_ENOMEM, CM_ERROR, or emit's return. */
CMP_HIDDEN int cmp_sign_hub(const struct cm_host *host, struct cm_request *req, const char *name,
                            const char *algo, const char *secret, cm_header_cb emit, void *arg);

/* 1 when s is a whole SHA-1 or SHA-256 commit id in hex (either case), else 0. */
CMP_HIDDEN int cmp_is_commit_id(const char *s);

/* 1 when req has any of the headers in names (NULL-terminated), else 0. */
CMP_HIDDEN int cmp_has_any_header(const struct cm_host *host, const struct cm_request *req,
                                  const char *const *names);

/* What the headers alone say of sniffing: 0 when a veto or another family's header is there,
 * 1 when the provider's own header is, -1 when only the body can tell. */
CMP_HIDDEN int cmp_sniff_headers(const struct cm_host *host, const struct cm_request *req,
                                 const char *const *vetoes, const char *own,
                                 const char *const *others);

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

/* *out = a new event of req (owned by req) with f's fields set. CM_OK, CM_ENOMEM, or
 * event_set's status (CM_EINVAL: a value is not valid text) for the caller to word. */
CMP_HIDDEN int cmp_event_start(const struct cm_host *host, struct cm_request *req,
                               const struct cmp_fields *f, struct cm_event **out);

/* *out = the endpoint's url setting (borrowed), NULL when unset. CM_OK, or CM_EINVAL after
 * logging that url must be a string such as example. */
CMP_HIDDEN int cmp_conf_url(const struct cm_host *host, struct cm_ctx *ctx, const char *example,
                            const char **out);

/* The providers' one URL splitter: where the authority of an http:// or https:// url starts
 * (borrowed from url), or NULL when url has another scheme or none. */
CMP_HIDDEN const char *cmp_http_authority(const char *url);

/* The exported descriptor of a provider whose hooks are pfx_create, destroy_ (free when self
 * holds nothing else), pfx_verify, pfx_translate, pfx_sniff and pfx_sign; flags_ and
 * default_url_ are the 1.1 fields; pfx_config_keys (1.2) lists the endpoint keys the provider
 * reads, and sign and pfx_clone_path (where the host serves clones, or NULL) the other 1.2
 * ones. */
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
        .config_keys = pfx##_config_keys,                                                          \
        .sign = pfx##_sign,                                                                        \
        .clone_path = pfx##_clone_path,                                                            \
    }

#endif /* CARGOMAN_PROVIDER_UTIL_H */
