/* SPDX-License-Identifier: MIT */
/*
 * The Cargoman plugin SDK: the only header a provider or sync plugin includes.
 * A plugin exports one const descriptor; everything it needs from the daemon is lent
 * through struct cm_host, so a plugin links nothing but libc (and jansson, if it parses JSON).
 */
#ifndef CARGOMAN_PLUGIN_H
#define CARGOMAN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CM_ABI_MAJOR 1
#define CM_ABI_MINOR 0
#define CM_ABI_VERSION ((uint32_t)CM_ABI_MAJOR << 16 | (uint32_t)CM_ABI_MINOR)
#define CM_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define CM_ABI_VERSION_MINOR(v) ((uint32_t)(v)&0xffffu)

/* Names of the exported descriptors the loader looks up with dlsym(). */
#define CM_PROVIDER_SYMBOL "cargoman_provider"
#define CM_SYNC_PLUGIN_SYMBOL "cargoman_sync_plugin"

#if defined(__GNUC__)
#define CM_EXPORT __attribute__((visibility("default")))
#define CM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CM_EXPORT
#define CM_PRINTF(f, a)
#endif

/* Return codes of every SDK call and hook: 0 on success, negative on failure. @since 1.0 */
enum cm_status {
    CM_OK = 0,
    CM_ERROR = -1,   /* anything else: 500 / retry */
    CM_ENOMEM = -2,  /* out of memory */
    CM_EINVAL = -3,  /* malformed request or bad configuration: HTTP 400 */
    CM_EAUTH = -4,   /* missing or wrong signature or token: HTTP 401 */
    CM_EIGNORE = -5, /* valid, but not a push (ping, pull request...): HTTP 200 */
    CM_EAGAIN = -6,  /* transient failure: retry later */
    CM_ENOENT = -7   /* the thing asked for does not exist (config key, file at a ref) */
};

/* Log levels, in syslog's order. @since 1.0 */
enum cm_log_level { CM_LOG_ERR = 3, CM_LOG_WARNING = 4, CM_LOG_INFO = 6, CM_LOG_DEBUG = 7 };

/* The string fields of the common push event (DESIGN.md, "The common push event"). @since 1.0 */
enum cm_field {
    CM_FIELD_PROVIDER,      /* set by the host from the endpoint */
    CM_FIELD_ENDPOINT,      /* set by the host */
    CM_FIELD_EVENT,         /* "push" (the host's default) */
    CM_FIELD_DELIVERY_ID,   /* the host's delivery id header, for dedupe */
    CM_FIELD_RECEIVED_AT,   /* set by the host, RFC 3339 UTC */
    CM_FIELD_REPOSITORY,    /* the host's full name: workspace/slug, KEY/slug, owner/name... */
    CM_FIELD_REPOSITORY_ID, /* the host's own id, as text */
    CM_FIELD_CLONE_URL_HTTP,
    CM_FIELD_CLONE_URL_SSH,
    CM_FIELD_HTML_URL,
    CM_FIELD_ACTOR,
    CM_FIELD_COUNT_
};

/* The fields of one ref change, as text: kind is "branch"|"tag"|"other", action is
 * "create"|"update"|"delete", old/new are hex ids or NULL, forced is "true"|"false"|NULL.
 * @since 1.0 */
enum cm_change_field {
    CM_CHANGE_REF,
    CM_CHANGE_KIND,
    CM_CHANGE_ACTION,
    CM_CHANGE_OLD,
    CM_CHANGE_NEW,
    CM_CHANGE_FORCED,
    CM_CHANGE_COUNT_
};

/* What a sync plugin can ask of a mirror. @since 1.0 */
enum cm_mirror_field {
    CM_MIRROR_PATH,           /* the bare repository on disk */
    CM_MIRROR_URL,            /* the URL it is fetched from, without credentials */
    CM_MIRROR_ENDPOINT,       /* the endpoint name */
    CM_MIRROR_REPOSITORY,     /* the repository's full name */
    CM_MIRROR_DEFAULT_BRANCH, /* short name of the branch HEAD points to, or NULL */
    CM_MIRROR_IS_NEW,         /* "true" when this sync created the mirror, else "false" */
    CM_MIRROR_COUNT_
};

struct cm_ctx;     /* one plugin instance's handle: its configuration section, its log prefix */
struct cm_request; /* one HTTP delivery: headers, raw body, the events made from it */
struct cm_event;   /* one common push event */
struct cm_mirror;  /* one local bare mirror, read-only for sync plugins */

/* Called for each ref of a mirror: the full ref name and the peeled commit id.
 * A non-zero return stops the walk and is returned by mirror_refs. */
typedef int (*cm_ref_cb)(void *arg, const char *ref, const char *commit_id);

/* Called with a file's whole content; a non-zero return is passed back by mirror_read. */
typedef int (*cm_data_cb)(void *arg, const void *data, size_t len);

/*
 * Services the core lends to plugins. Append-only: a field added in minor N is documented
 * @since 1.N and a plugin checks abi_version before it uses it. Every function is safe to
 * call from any thread. Strings passed in are copied; strings returned are borrowed and stay
 * valid for as long as the object they were read from.
 */
struct cm_host {
    uint32_t abi_version; /* the host's CM_ABI_VERSION */

    /* Log one line under the plugin's name. @since 1.0 */
    void (*log)(struct cm_ctx *ctx, int level, const char *fmt, ...) CM_PRINTF(3, 4);

    /* The string at key in the plugin's config section, ${VAR} already expanded.
     * CM_OK with *out borrowed; CM_ENOENT when unset; CM_EINVAL when not a string. @since 1.0 */
    int (*conf_string)(struct cm_ctx *ctx, const char *key, const char **out);
    /* An integer setting. CM_OK, CM_ENOENT when unset, CM_EINVAL when not an integer. @since 1.0 */
    int (*conf_int)(struct cm_ctx *ctx, const char *key, long long *out);
    /* A boolean setting. CM_OK, CM_ENOENT when unset, CM_EINVAL when not a boolean. @since 1.0 */
    int (*conf_bool)(struct cm_ctx *ctx, const char *key, int *out);
    /* Element index of a list of strings. CM_OK, CM_ENOENT past the end or when unset,
     * CM_EINVAL when not a list of strings. @since 1.0 */
    int (*conf_list)(struct cm_ctx *ctx, const char *key, size_t index, const char **out);
    /* The endpoint's secret (from secret or secret_file), or NULL when none is set. @since 1.0 */
    const char *(*conf_secret)(struct cm_ctx *ctx);

    /* A request header, matched case-insensitively; borrowed, NULL when absent. @since 1.0 */
    const char *(*header)(const struct cm_request *req, const char *name);
    /* The raw body exactly as received (what signatures cover). Never NULL. @since 1.0 */
    const void *(*body)(const struct cm_request *req, size_t *len);
    /* The JSON document of the delivery: the body, or for an application/x-www-form-urlencoded
     * body the decoded value of its "payload" field. NULL when a form body has no payload.
     * NUL-terminated. @since 1.0 */
    const char *(*payload)(const struct cm_request *req, size_t *len);
    /* Record why the request is refused (one line for the HTTP client, no secrets) and
     * return status unchanged, so a hook can `return host->reject(req, CM_EINVAL, ...)`. @since 1.0
     */
    int (*reject)(struct cm_request *req, int status, const char *fmt, ...) CM_PRINTF(3, 4);

    /* Check hex (case-insensitive) against HMAC-algo(secret, msg) in constant time. algo is
     * "sha1", "sha256" or "sha512". CM_OK on match, CM_EAUTH on mismatch or malformed hex,
     * CM_EINVAL for an unknown algo. @since 1.0 */
    int (*hmac_verify)(const char *algo, const char *secret, const void *msg, size_t len,
                       const char *hex);
    /* Raw HMAC into out (at least 64 bytes); returns the digest length or a negative status.
     * For schemes that are not hex, e.g. Standard Webhooks. @since 1.0 */
    int (*hmac)(const char *algo, const void *key, size_t keylen, const void *msg, size_t len,
                unsigned char *out);
    /* Compare presented with the endpoint's secret in constant time: CM_OK or CM_EAUTH
     * (also when no secret is configured). @since 1.0 */
    int (*secret_equals)(struct cm_ctx *ctx, const char *presented);
    /* Compare two byte strings in constant time: 1 equal, 0 not. @since 1.0 */
    int (*mem_equal)(const void *a, const void *b, size_t len);
    /* Decode standard base64 (with or without padding) into out; returns the length or
     * CM_EINVAL. out must hold 3 * (inlen / 4) + 3 bytes. @since 1.0 */
    long (*base64_decode)(const char *in, size_t inlen, unsigned char *out);
    /* Encode len bytes as standard padded base64 into out (4 * ((len + 2) / 3) + 1 bytes).
     * @since 1.0 */
    void (*base64_encode)(const void *in, size_t len, char *out);
    /* Seconds since the epoch, from the host's clock (tests may fix it). @since 1.0 */
    long long (*now)(void);

    /* A new event belonging to req, with provider, endpoint, received_at and event="push"
     * filled in. Owned by the request; NULL when out of memory. @since 1.0 */
    struct cm_event *(*event_new)(struct cm_request *req);
    /* Set a string field (copied; NULL or "" clears it). CM_OK, CM_EINVAL, CM_ENOMEM. @since 1.0 */
    int (*event_set)(struct cm_event *ev, enum cm_field field, const char *value);
    /* Append a ref change. Ids that are all zeros become NULL; kind follows from refs/heads/
     * or refs/tags/, action from which id is NULL. forced: 1, 0, or -1 unknown.
     * CM_EINVAL when ref is empty or both ids are NULL or not hex. @since 1.0 */
    int (*event_add_change)(struct cm_event *ev, const char *ref, const char *old_id,
                            const char *new_id, int forced);
    /* Mark the change list as partial: the host said refs changed without listing them all,
     * so the sync looks at every ref. @since 1.0 */
    void (*event_set_incomplete)(struct cm_event *ev);
    /* A string field, borrowed; NULL when unset. @since 1.0 */
    const char *(*event_get)(const struct cm_event *ev, enum cm_field field);
    /* 1 when the change list is complete, 0 when not. @since 1.0 */
    int (*event_complete)(const struct cm_event *ev);
    /* Number of ref changes. @since 1.0 */
    size_t (*event_change_count)(const struct cm_event *ev);
    /* A field of change i as text (see enum cm_change_field), borrowed; NULL when unset or
     * i is out of range. @since 1.0 */
    const char *(*event_change_get)(const struct cm_event *ev, size_t i, enum cm_change_field f);
    /* The event's JSON form (DESIGN.md), NUL-terminated, borrowed; NULL when out of memory.
     * @since 1.0 */
    const char *(*event_json)(const struct cm_event *ev);

    /* A mirror property (see enum cm_mirror_field), borrowed. @since 1.0 */
    const char *(*mirror_get)(const struct cm_mirror *m, enum cm_mirror_field field);
    /* Call cb for every branch and tag of the mirror, in name order. @since 1.0 */
    int (*mirror_refs)(const struct cm_mirror *m, cm_ref_cb cb, void *arg);
    /* Call cb once with the content of path in the tree of commit_id.
     * CM_OK, CM_ENOENT when the commit or path does not exist, or cb's value. @since 1.0 */
    int (*mirror_read)(const struct cm_mirror *m, const char *commit_id, const char *path,
                       cm_data_cb cb, void *arg);
    /* Write a zip of the tree of commit_id to dest_path atomically (temp file, then rename);
     * prefix, when non-NULL, is put before every path in the archive. @since 1.0 */
    int (*mirror_archive)(const struct cm_mirror *m, const char *commit_id, const char *prefix,
                          const char *dest_path);
    /* Record a note about ref for GET /api/repositories (why a version was skipped...);
     * message NULL clears it. @since 1.0 */
    int (*mirror_note)(const struct cm_mirror *m, const char *ref, const char *message);

    /* A directory private to this plugin under the data directory (data_dir/<plugin name>),
     * created on first use; borrowed. NULL when it cannot be created. @since 1.0 */
    const char *(*state_dir)(struct cm_ctx *ctx);
};

/*
 * A provider plugin: verifies one host's deliveries and turns them into common events.
 * Exported as `const struct cm_provider cargoman_provider`. verify, translate and sniff run
 * concurrently on HTTP threads, so self is read-only after create.
 */
struct cm_provider {
    uint32_t abi_version;    /* CM_ABI_VERSION the plugin was built with */
    const char *name;        /* equal to the module's file name without ".so" */
    const char *version;     /* the plugin's own version */
    const char *description; /* one line for `cargoman plugins` */

    /* Read configuration through host and ctx; *self is the plugin's, passed to every hook.
     * CM_OK, or CM_EINVAL after logging what to change in the configuration. Mandatory. */
    int (*create)(const struct cm_host *host, struct cm_ctx *ctx, void **self);
    /* Free self. Mandatory. */
    void (*destroy)(void *self);
    /* Check the delivery's signature or token over the raw body, before any parsing.
     * CM_OK, CM_EAUTH (with host->reject); an unsigned ping the host never signs is CM_OK and
     * translate answers it CM_EIGNORE. Mandatory. */
    int (*verify)(void *self, struct cm_request *req);
    /* Make events with host->event_new. CM_OK when at least one was made, CM_EIGNORE for a
     * valid non-push, CM_EINVAL (with host->reject) for a malformed one. Mandatory. */
    int (*translate)(void *self, struct cm_request *req);
    /* Optional: 1 when the request looks like this provider's (headers or payload), else 0.
     * Runs without create; used to tell a user which provider a misrouted hook belongs to. */
    int (*sniff)(const struct cm_host *host, const struct cm_request *req);
};

/*
 * A sync plugin: acts on a push after the mirror is up to date (composer index, exec...).
 * Exported as `const struct cm_sync_plugin cargoman_sync_plugin`. on_sync runs on worker
 * threads, possibly concurrently for different repositories.
 */
struct cm_sync_plugin {
    uint32_t abi_version;
    const char *name;
    const char *version;
    const char *description;

    /* As for providers; ctx is the plugin's entry in the sync list. Mandatory. */
    int (*create)(const struct cm_host *host, struct cm_ctx *ctx, void **self);
    /* Free self. Mandatory. */
    void (*destroy)(void *self);
    /* Act on ev, whose refs are now in m. CM_OK; CM_EAGAIN or CM_ERROR to be retried later
     * with backoff. Mandatory. */
    int (*on_sync)(void *self, const struct cm_event *ev, const struct cm_mirror *m);
};

#ifdef __cplusplus
}
#endif
#endif /* CARGOMAN_PLUGIN_H */
