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

/*
 * Versioning: one rule.
 *  - A descriptor's abi_version is the CM_ABI_VERSION it was built with. The host loads a
 *    plugin of the same major whose minor is at most its own, and refuses any other with one
 *    log line naming the file (a newer minor: "upgrade the gateway"; another major: "rebuild").
 *  - A minor release only appends: new members at the END of struct cm_host, cm_provider and
 *    cm_sync_plugin, new values at the end of the enums, new bits in flags. Nothing is
 *    removed, reordered or retyped within a major; each member says @since 1.N.
 *  - The host reads a descriptor member of minor N only when the plugin's minor is >= N (an
 *    older plugin's descriptor ends before it), and gives a newer meaning to a return code
 *    only to plugins of that minor. A plugin calls a host member of minor N only when
 *    CM_ABI_VERSION_MINOR(host->abi_version) >= N.
 *  - The enums have no count member: they grow, so a count compiled into a plugin would be
 *    wrong on the next host. Host calls answer NULL or CM_EINVAL for a value they do not know.
 *
 * Threads and lifetimes (the host owns every object below; a plugin frees only its self):
 *  - struct cm_host: static, valid for the whole process; every function is thread-safe.
 *  - struct cm_ctx: one per plugin instance (an endpoint, a sync entry); valid from create
 *    until destroy returns, usable from any thread. A SIGHUP reload creates the new
 *    instances before it destroys the old ones, so two instances of one plugin may coexist.
 *  - self: the plugin's, from create until destroy; destroy runs once, on the main thread,
 *    after every hook call on that instance has returned.
 *  - struct cm_request: lent to one verify/translate/sniff call, on that call's thread only;
 *    invalid once the hook returns.
 *  - struct cm_event: made in translate (owned by the request, dies with it) or lent to one
 *    on_sync call, read-only there; invalid once the hook returns.
 *  - struct cm_mirror: lent to one on_sync call, read-only; invalid once it returns.
 *  - Strings the host returns are borrowed: conf_* results, conf_secret and state_dir live
 *    as long as the ctx; header/body/payload as long as the request; event_get,
 *    event_change_get and event_json as long as the event (a later event_set on it may
 *    free the string it replaces); mirror_get as long as the mirror. Copy what you keep.
 *  - Strings a plugin passes in are copied by the host before the call returns.
 *
 * Documentation installed with this header: cargoman-plugin(3), and in the gateway's doc
 * directory (pkg-config --variable=docdir cargoman-plugin) plugins.md (writing a plugin),
 * events.md (the common push event) and configuration.md.
 */
#define CM_ABI_MAJOR 1
#define CM_ABI_MINOR 4
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

/* Bits of struct cm_provider.flags. @since 1.1 */
/* The host sends application/x-www-form-urlencoded bodies whose only field is payload=<JSON>
 * (GitHub's "Content type" setting). Without it the core refuses every form body, since the
 * unsigned Content-Type header must not change how signed bytes are read. */
#define CM_PROVIDER_FORM_PAYLOAD (1u << 0)

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

/* The string fields of the common push event (events.md). @since 1.0 */
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
};

/* The id to give event_add_change for a side of a change the host did not send (a delete
 * reported without the old commit id): the change keeps its action, the id is null in the
 * event's JSON form and the sync looks at the ref itself. Compared as text. @since 1.2 */
#define CM_ID_UNKNOWN "unknown"

/* What json_type finds at a path of the payload. @since 1.2 */
enum cm_json_type {
    CM_JSON_ABSENT = 0, /* no such member or element, or a step through a non-container */
    CM_JSON_NULL,
    CM_JSON_STRING,
    CM_JSON_INTEGER,
    CM_JSON_REAL,
    CM_JSON_TRUE,
    CM_JSON_FALSE,
    CM_JSON_OBJECT,
    CM_JSON_ARRAY
};

/* Bytes json_int_text needs for any integer: a sign, 19 digits and the NUL. @since 1.2 */
#define CM_JSON_INT_TEXT_SIZE 21

/* How a delivery writes its MAC, for secret_hmac_verify. @since 1.2 */
enum cm_mac_encoding {
    CM_MAC_HEX = 0,   /* hex digits, either case ("sha256=" and the like already cut off) */
    CM_MAC_BASE64 = 1 /* standard base64, with or without padding */
};

/* What a sync plugin can ask of a mirror. @since 1.0 */
enum cm_mirror_field {
    CM_MIRROR_PATH,           /* the bare repository on disk */
    CM_MIRROR_URL,            /* the URL it is fetched from, without credentials */
    CM_MIRROR_ENDPOINT,       /* the endpoint name */
    CM_MIRROR_REPOSITORY,     /* the repository's full name */
    CM_MIRROR_DEFAULT_BRANCH, /* short name of the branch HEAD points to, or NULL */
    CM_MIRROR_IS_NEW,         /* "true" when this sync created the mirror, else "false" */
    /* The host's immutable id of the repository (GitHub repository.id, GitLab project.id,
     * Bitbucket repository uuid or id), as recorded from a delivery the endpoint authenticated;
     * NULL when unknown. It stays the same across renames and transfers, so state kept per
     * repository is best keyed on it when set. @since 1.2 */
    CM_MIRROR_REPOSITORY_ID,
};

/* The type of a config key a plugin declares (struct cm_conf_key). @since 1.2 */
enum cm_conf_type {
    CM_CONF_ANY = 0, /* any value: the plugin checks it itself */
    CM_CONF_STRING,  /* "text" (conf_string) */
    CM_CONF_INT,     /* a whole number without quotes (conf_int) */
    CM_CONF_BOOL,    /* true or false without quotes (conf_bool) */
    CM_CONF_LIST     /* [ "a", "b" ], or one "a" taken as a list of one (conf_list) */
};

/* One key a plugin reads from its endpoint or sync entry, besides the core's own (name,
 * provider, url, secret, ... for an endpoint; plugin for a sync entry). A plugin lists them
 * in a const array ended by an entry whose name is NULL. @since 1.2 */
struct cm_conf_key {
    const char *name; /* as written in the configuration; NULL ends the array */
    int type;         /* enum cm_conf_type: a value of another type is refused at load */
};

struct cm_ctx;     /* one plugin instance's handle: its configuration section, its log prefix */
struct cm_request; /* one HTTP delivery: headers, raw body, the events made from it */
struct cm_event;   /* one common push event */
struct cm_mirror;  /* one local bare mirror, read-only for sync plugins */

/* Routes a sync plugin serves over the host's HTTP front (struct cm_sync_plugin.routes).
 * @since 1.2 */
struct cm_http_request;  /* one GET or HEAD on a route: read-only, valid during serve */
struct cm_http_response; /* the answer serve gives through host->http_respond* */

/* One GET route. The list ends with an entry whose path is NULL. @since 1.2 */
struct cm_route {
    /* "/packages.json" serves that path only; a path ending in '/' ("/p2/") serves everything
     * under it. Must start with '/', may not hold "..", "//" or '\\', and may not be or lie
     * under the core's own routes (/api, /healthz, /metrics). */
    const char *path;
    /* The line a 401 carries when the entry's tokens are missing or wrong, telling the client
     * how to send them (e.g. "add http-basic for this host to composer's auth.json"); NULL
     * for a generic one. */
    const char *auth_hint;
};

/* Called for each ref of a mirror: the full ref name and the peeled commit id.
 * A non-zero return stops the walk and is returned by mirror_refs. */
typedef int (*cm_ref_cb)(void *arg, const char *ref, const char *commit_id);

/* Called with a file's whole content; a non-zero return is passed back by mirror_read. */
typedef int (*cm_data_cb)(void *arg, const void *data, size_t len);

/* Called by a provider's sign hook for each header a host would send, in order; a non-zero
 * return stops the hook, which passes it back. Both strings are borrowed for the call.
 * @since 1.2 */
typedef int (*cm_header_cb)(void *arg, const char *name, const char *value);

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
    /* The endpoint's secret (from secret or secret_file), or NULL when none is set. When the
     * endpoint lists several (secrets = [ ... ], rotation), the first of them: a plugin that
     * checks only this one refuses deliveries signed with the others (see secret_at).
     * @since 1.0 */
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
     * (also when no secret is configured). A 1.2 host compares it with every one of the
     * endpoint's secrets, whichever minor the plugin has: CM_OK when any one is equal.
     * @since 1.0 */
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
    /* Set a string field (copied; NULL or "" clears it). CM_OK, CM_ENOMEM, or CM_EINVAL when
     * value is not UTF-8 (the event's JSON form could not hold it). @since 1.0 */
    int (*event_set)(struct cm_event *ev, enum cm_field field, const char *value);
    /* Append a ref change. Ids that are all zeros become NULL; kind follows from refs/heads/
     * or refs/tags/, action from which id is NULL. forced: 1, 0, or -1 unknown.
     * CM_EINVAL when ref is empty or not UTF-8, or both ids are NULL or not hex. @since 1.0
     * From 1.2 an id may be CM_ID_UNKNOWN: the ref had (old) or has (new) a value the host did
     * not send; NULL still means none. So (CM_ID_UNKNOWN, NULL) is a delete without ids. */
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
    /* The event's JSON form (events.md), NUL-terminated, borrowed; NULL when out of memory.
     * @since 1.0 */
    const char *(*event_json)(const struct cm_event *ev);

    /* A mirror property (see enum cm_mirror_field), borrowed. @since 1.0 */
    const char *(*mirror_get)(const struct cm_mirror *m, enum cm_mirror_field field);
    /* Call cb for every branch and tag of the mirror, in name order. @since 1.0 */
    int (*mirror_refs)(const struct cm_mirror *m, cm_ref_cb cb, void *arg);
    /* Call cb once with the content of path in the tree of commit_id.
     * CM_OK, CM_ENOENT when the commit or path does not exist, CM_EINVAL when commit_id is not
     * hex or the file is larger than git.max_blob_size (refused before it is loaded, cb not
     * called), or cb's value. @since 1.0 */
    int (*mirror_read)(const struct cm_mirror *m, const char *commit_id, const char *path,
                       cm_data_cb cb, void *arg);
    /* Write a zip of the tree of commit_id to dest_path atomically (temp file, then rename);
     * prefix, when non-NULL, is put before every path in the archive. CM_OK; CM_ENOENT when
     * the commit does not exist; CM_EINVAL when commit_id is not hex or a file is larger than
     * git.max_blob_size: nothing is written, and every branch and tag at commit_id gets a
     * note naming the file and its size (a later mirror_note on the ref replaces it), so a
     * plugin skips that version rather than retrying; CM_ERROR or CM_ENOMEM otherwise.
     * @since 1.0 */
    int (*mirror_archive)(const struct cm_mirror *m, const char *commit_id, const char *prefix,
                          const char *dest_path);
    /* Record a note about ref for GET /api/repositories (why a version was skipped...);
     * message NULL clears it. @since 1.0 */
    int (*mirror_note)(const struct cm_mirror *m, const char *ref, const char *message);

    /* A directory private to this plugin instance under the data directory, created on first
     * use; borrowed. NULL when it cannot be created. Since 1.2 one per instance, not per
     * plugin: data_dir/<plugin> for the instance named like its plugin (an endpoint named
     * after its provider, the first unnamed sync entry of a plugin: the 1.0 path, so their
     * data stays where it was), data_dir/<plugin>@<instance> for every other one. Calling it
     * creates the directory: do not call it from create (see struct cm_sync_plugin).
     * @since 1.0 */
    const char *(*state_dir)(struct cm_ctx *ctx);

    /* The members below exist when CM_ABI_VERSION_MINOR(host->abi_version) >= 2. */

    /* Digest of len bytes at data, as lowercase hex and a NUL into out (at least 129 bytes):
     * algo "sha1" or "sha256". CM_OK, or CM_EINVAL for an unknown algo. @since 1.2 */
    int (*digest)(const char *algo, const void *data, size_t len, char *out);
    /* The same over the whole content of the file at path, read in pieces (a dist archive
     * need not fit in memory). CM_OK, CM_EINVAL for an unknown algo, CM_ENOENT when path
     * does not exist, CM_ERROR when it cannot be read. @since 1.2 */
    int (*digest_file)(const char *algo, const char *path, char *out);
    /* Replace the file at path, relative to state_dir(ctx) (which, and any missing directory
     * above the file, is created), with len bytes at data, mode 0644: a temp file beside it,
     * fsync, rename, fsync of the directory, so a reader or a crash sees the old or the new
     * file whole, never a mix. CM_OK; CM_EINVAL when path is empty, absolute or has a "." or
     * ".." component; CM_ERROR (errno kept) when the disk refuses; no temp file is left behind.
     * @since 1.2 */
    int (*write_file)(struct cm_ctx *ctx, const char *path, const void *data, size_t len);
    /* Routes (struct cm_sync_plugin.routes, serve). Called only inside serve, on its thread. */
    /* "GET" or "HEAD" (the host sends a HEAD answer's headers without its body). @since 1.2 */
    const char *(*http_method)(const struct cm_http_request *rq);
    /* The path as decoded by the HTTP front, without the query; it matched one of the plugin's
     * routes and holds no "..", "//" or '\\'. Borrowed. @since 1.2 */
    const char *(*http_path)(const struct cm_http_request *rq);
    /* A query argument, decoded; borrowed, NULL when absent. @since 1.2 */
    const char *(*http_query)(const struct cm_http_request *rq, const char *name);
    /* A request header, matched case-insensitively; borrowed, NULL when absent. @since 1.2 */
    const char *(*http_header)(const struct cm_http_request *rq, const char *name);
    /* Answer with status (100..599), content_type (printable ASCII, no CR or LF) and len bytes
     * of body (copied). A later respond replaces an earlier one. CM_OK, CM_EINVAL, CM_ENOMEM.
     * @since 1.2 */
    int (*http_respond)(struct cm_http_response *rs, int status, const char *content_type,
                        const void *body, size_t len);
    /* Answer with the regular file at path, relative to the plugin's state_dir; the host opens
     * it now and sends it with sendfile, so a file replaced by rename later is still sent
     * whole. CM_OK; CM_EINVAL when path is empty, absolute or holds "..", "//" or '\\', or
     * status or content_type is bad (as http_respond); CM_ENOENT when there is no such regular
     * file (nothing answered: the plugin may answer otherwise); CM_ENOMEM. @since 1.2 */
    int (*http_respond_file)(struct cm_http_response *rs, int status, const char *content_type,
                             const char *path);
    /*
     * Reading the payload (see payload) without a JSON library of one's own. @since 1.2
     * A path names a value by the member names from the root joined by '.', an array element
     * by its decimal index: "repository.full_name", "commits.0.id"; "" is the root. A member
     * whose name holds '.' cannot be named. The payload is parsed once per request, on first
     * use, as RFC 8259 JSON of any type with duplicate member names refused (two readers of
     * signed bytes must not disagree); an integer outside the signed 64-bit range, or a string
     * holding U+0000, makes the whole payload unreadable rather than rounded or cut short.
     * These calls never reject the request: the provider words its own reason.
     */
    /* The type at path, or CM_EINVAL when the payload is not readable JSON (json_error says
     * why). @since 1.2 */
    int (*json_type)(const struct cm_request *req, const char *path);
    /* The string at path into *out (borrowed, valid as long as req, NUL-terminated). CM_OK;
     * CM_ENOENT when path is absent or null (*out NULL); CM_EINVAL when the value is not a
     * string or the payload is not readable. @since 1.2 */
    int (*json_string)(const struct cm_request *req, const char *path, const char **out);
    /* The integer at path as decimal text into buf of size bytes (CM_JSON_INT_TEXT_SIZE is
     * always enough). CM_OK; CM_ENOENT when absent or null (buf ""); CM_EINVAL when the value
     * is not an integer (a string "42", a real 42.0...), size is too small, or the payload is
     * not readable. @since 1.2 */
    int (*json_int_text)(const struct cm_request *req, const char *path, char *buf, size_t size);
    /* Why the payload is not readable JSON, one line ("line 1: too big integer"), borrowed;
     * NULL when it is. @since 1.2 */
    const char *(*json_error)(const struct cm_request *req);
    /*
     * Secret rotation: an endpoint may hold several secrets (secrets = [ "new", "old" ] or a
     * list of secret_file), any one of which verifies a delivery. conf_secret is the first;
     * secret_equals compares with them all. A provider checks an HMAC with secret_hmac_verify
     * instead of hmac_verify(conf_secret(ctx)) and gets rotation with nothing else. @since 1.2
     */
    /* The endpoint's secret number index, in the configuration's order (0 is conf_secret's),
     * borrowed as conf_secret; NULL past the last, and when none is set. For a scheme that
     * secret_equals and secret_hmac_verify do not cover: check every one, not up to the
     * first match, so the time does not tell which one matched. @since 1.2 */
    const char *(*secret_at)(struct cm_ctx *ctx, size_t index);
    /* Check mac, the MAC a delivery carries in encoding (enum cm_mac_encoding), against
     * HMAC-algo(s, msg) for every secret s of the endpoint; all are computed and compared in
     * constant time, whichever matches. algo as for hmac_verify. CM_OK when one matches;
     * CM_EAUTH when none does, mac is malformed or NULL, or no secret is set; CM_EINVAL for
     * an unknown algo or encoding; CM_ENOMEM. @since 1.2 */
    int (*secret_hmac_verify)(struct cm_ctx *ctx, const char *algo, const void *msg, size_t len,
                              const char *mac, int encoding);

    /* The members below exist when CM_ABI_VERSION_MINOR(host->abi_version) >= 3. */

    /*
     * A cluster (queue.backend = "postgresql") shares each sync plugin instance's state_dir:
     * before on_sync the host brings it up to date with what on_sync wrote on other nodes,
     * and after on_sync it publishes what this one wrote, in the transaction that completes
     * the job. Only one node runs on_sync of an instance at a time. Paths the plugin names in
     * node_local (struct cm_sync_plugin) are not shared. On a single node nothing changes.
     */
    /* Bring state_dir up to date with the cluster now, calling the plugin's state_changed for
     * each file that changed. Never waits for on_sync: while this node runs it, state_dir is
     * the cluster's already, and the call returns at once; it asks the database at most every
     * 100 ms. CM_OK (at once on a single node); CM_EAGAIN when the database cannot be
     * reached. @since 1.3 */
    int (*state_refresh)(struct cm_ctx *ctx);
    /* Write the zip of commit_id of the repository endpoint/repository (named as in its
     * events) to dest, relative to state_dir as for write_file, from any thread, serve
     * included; prefix as for mirror_archive. When this node's mirror lacks the commit (a
     * cluster node that did not sync it), it is fetched first with the endpoint's URL and
     * credentials, so the zip is byte for byte the one any other node makes. CM_OK; CM_ENOENT
     * when the repository or commit does not exist at the host either; CM_EINVAL as for
     * mirror_archive or when an argument is malformed; CM_EAGAIN when the fetch failed (the
     * host is down, the endpoint is not configured); CM_ERROR, CM_ENOMEM. @since 1.3 */
    int (*archive)(struct cm_ctx *ctx, const char *endpoint, const char *repository,
                   const char *commit_id, const char *prefix, const char *dest);

    /* The members below exist when CM_ABI_VERSION_MINOR(host->abi_version) >= 4. */

    /* Whether the gateway still follows the repository endpoint/repository (named as in its
     * events), so that what it published may stay its own: CM_OK when the endpoint is
     * configured and, on a single node, its mirror is on disk; CM_ENOENT when the endpoint
     * is not configured (any more: removed or renamed) or, on a single node, the mirror is
     * gone (removed by the operator, by the core when the host gave the name to another
     * repository, or by the core when the host said the repository does not exist for
     * server.gone_repository_max_age while the endpoint answered for others). In a cluster a node
     * may lack a mirror another node made, so there the endpoint counts, and whether a node
     * found the repository gone from its host since its last completed sync. CM_EAGAIN when it
     * cannot be told (outside `serve`, or the cluster's database is away); CM_EINVAL for an
     * empty argument. Any thread. @since 1.4 */
    int (*repository_followed)(struct cm_ctx *ctx, const char *endpoint, const char *repository);
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
     * No side effects (see "Lifecycle" below). CM_OK, or CM_EINVAL after logging what to
     * change in the configuration. Mandatory. */
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

    /* The fields below are read only from plugins built with ABI minor 1 or later. */

    /* CM_PROVIDER_* bits. @since 1.1 */
    uint32_t flags;
    /* The public host's base URL ("https://github.com"), used as the url of an endpoint that
     * sets none; NULL for hosts that are always self-hosted. @since 1.1 */
    const char *default_url;

    /* The fields below are read only from plugins built with ABI minor 2 or later. */

    /* The keys this provider reads from its endpoint (conf_*), ended by a NULL name; any
     * other key in the endpoint, unless it is one of the core's, is a configuration error
     * naming its file and line, so a typo stops `check`, `serve` and a reload. NULL: not
     * declared, nothing is checked (as for a plugin built against 1.0 or 1.1). @since 1.2 */
    const struct cm_conf_key *config_keys;
    /* Optional: begin serving (see "Lifecycle" above struct cm_sync_plugin). @since 1.2 */
    int (*start)(void *self);
    /* Optional: stop serving, just before destroy. @since 1.2 */
    void (*stop)(void *self);
    /* Optional: the headers this provider's host would send with body (host->body(req)),
     * signed with secret, each passed to emit in order; `cargoman sign` prints them. id and
     * timestamp (seconds) are the delivery id and time for schemes that sign them, ignored by
     * the others. Runs without create, on any thread. CM_OK; CM_EINVAL with host->reject when
     * secret cannot sign for this host (the reason says what to change); emit's non-zero
     * return, passed back. @since 1.2 */
    int (*sign)(const struct cm_host *host, struct cm_request *req, const char *secret,
                const char *id, long long timestamp, cm_header_cb emit, void *arg);
    /* Where the host serves clones over HTTP(S): a template under the endpoint's url with
     * "{repository}" for the full name ("{repository}.git", "scm/{repository}.git"), used by
     * `cargoman import` for a repository no push has named yet; NULL: the host has no fixed
     * place, imports need the endpoint's clone_url. @since 1.2 */
    const char *clone_path;
};

/*
 * Lifecycle of a plugin instance (providers and sync plugins alike). @since 1.2
 * - create reads and checks the configuration, nothing else: it runs for `cargoman check` and
 *   `cargoman parse` too, so it creates no file or directory (state_dir included), no thread,
 *   no socket. Any thread; instances are created one after the other.
 * - start, optional, runs only under `cargoman serve`, on the main thread, after every
 *   instance of the configuration was created and before any request or sync reaches this
 *   one; instances start in configuration order (endpoints, then sync entries). Create state
 *   here (directories, files, threads). CM_OK; any other status refuses the configuration:
 *   at startup the daemon exits, on SIGHUP it keeps running the old one; the instances
 *   already started are stopped, and all are destroyed.
 * - verify, translate and on_sync run from then on, on HTTP and worker threads.
 * - stop, optional, runs on the main thread once nothing uses the instance any more, just
 *   before destroy; in reverse order. It is called only when start succeeded.
 * - destroy frees self. It runs on the main thread (or the thread of check/parse).
 * SIGHUP builds a whole new generation of instances beside the running one: the new ones are
 * created and started while the old ones still serve, so two instances of one entry (with
 * the same state_dir) exist at once. Then the new generation takes all new work (requests
 * and syncs that start after the swap); the old one only finishes the calls already in
 * flight, and its stop and destroy run on the main thread when the last of them returns. A
 * plugin whose instances share state on disk must therefore tolerate a started twin.
 * At shutdown the HTTP front and the workers stop first; then every instance is stopped and
 * destroyed. Plugins built against 1.0 or 1.1 have no start or stop.
 */

/*
 * A sync plugin: acts on a push after the mirror is up to date (composer index, exec...).
 * Exported as `const struct cm_sync_plugin cargoman_sync_plugin`. on_sync runs on worker
 * threads, possibly concurrently for different repositories.
 */
struct cm_sync_plugin {
    uint32_t abi_version;    /* CM_ABI_VERSION the plugin was built with */
    const char *name;        /* equal to the module's file name without ".so" */
    const char *version;     /* the plugin's own version */
    const char *description; /* one line for `cargoman plugins` */

    /* As for providers; ctx is the plugin's entry in the sync list. Mandatory. */
    int (*create)(const struct cm_host *host, struct cm_ctx *ctx, void **self);
    /* Free self. Mandatory. */
    void (*destroy)(void *self);
    /* Act on ev, whose refs are now in m. Never runs twice at once for one repository.
     * Idempotent: the same event may come again (a retry, a replay, a crash before the sync
     * was recorded done, a later plugin's retry), so act on the mirror's state, not on a
     * delta. CM_OK done; CM_EAGAIN (transient), CM_ERROR or CM_ENOMEM: the whole sync is
     * retried with backoff until server.sync_max_age; CM_EINVAL from a plugin of minor >= 2:
     * this event can never succeed here (log why), it is recorded failed and not retried for
     * this plugin's sake, and the plugins after it still run (before 1.2 it is retried).
     * Not called for a push that leaves the mirror's refs as at the last sync where every
     * plugin succeeded (resync, import, replay always call it). Mandatory. */
    int (*on_sync)(void *self, const struct cm_event *ev, const struct cm_mirror *m);

    /* The fields below are read only from plugins built with ABI minor 2 or later. */

    /* The keys this plugin reads from its sync entry besides plugin, ended by a NULL name;
     * as for struct cm_provider.config_keys. NULL: nothing is checked. @since 1.2 */
    const struct cm_conf_key *config_keys;
    /* Optional: begin serving (see "Lifecycle" above). @since 1.2 */
    int (*start)(void *self);
    /* Optional: stop serving, just before destroy. @since 1.2 */
    void (*stop)(void *self);
    /* GET routes this plugin serves, ended by a NULL path; NULL for none. The core applies
     * the access policy before serve runs: the sync entry's tokens (HTTP basic "user:token",
     * or Bearer "token"); without tokens every client, which `serve` allows beyond loopback
     * only when the entry says public = true. Two sync entries may not serve one path.
     * @since 1.2 */
    const struct cm_route *routes;
    /* Answer rq, a GET or HEAD on one of routes, with host->http_respond or
     * http_respond_file. Runs concurrently on HTTP threads, so self is read-only after start;
     * after a SIGHUP the replaced instance still answers the requests it began. CM_OK with an
     * answer; CM_ENOENT without one is answered 404, anything else 500. Mandatory when routes
     * is set. @since 1.2 */
    int (*serve)(void *self, const struct cm_http_request *rq, struct cm_http_response *rs);

    /* The fields below are read only from plugins built with ABI minor 3 or later. */

    /* Paths under state_dir that are this node's cache, which the plugin makes again when
     * they are missing (dist archives, with host->archive): in a cluster they are not shared
     * (see "A cluster" in struct cm_host). "dist/" names a directory and everything under it,
     * "x.tmp" one file. Ended by NULL; NULL: everything is shared. @since 1.3 */
    const char *const *node_local;
    /* Optional: the host replaced (or removed) the file at path, relative to state_dir, with
     * the cluster's version, which on_sync wrote on another node. Called on any thread while
     * no on_sync of this instance runs on this node; drop or update what self keeps from that
     * file. @since 1.3 */
    void (*state_changed)(void *self, const char *path);

    /* The fields below are read only from plugins built with ABI minor 4 or later. */

    /* Operator routes, ended by a NULL path; NULL for none. Each path is relative to
     * /api/<instance>, where <instance> is the last part of the instance's state_dir
     * ("composer" for the plugin's first unnamed entry, "composer@eu" for the entry named
     * eu): "/owners" is served at /api/composer/owners, "/owners/" everything under it. They
     * get the operator routes' access policy (server.admin_token, else loopback clients
     * only), not the entry's tokens; serve answers them, and http_method may then be "POST"
     * too (its body is not read: a POST names what it acts on in its path), http_path gives
     * the path below /api/<instance>. @since 1.4 */
    const struct cm_route *admin_routes;
    /* CM_SYNC_* bits. @since 1.4 */
    uint32_t flags;
};

/* Bits of struct cm_sync_plugin.flags. @since 1.4 */
/* What the plugin keeps in state_dir is made from the mirrors alone, so it can be made again:
 * when the instance's state_dir, made by an earlier start, is missing at start (lost), or a
 * rebuild was interrupted by a crash, `serve` runs on_sync over every mirror of a configured
 * endpoint, one after the other and without contacting any host, before a worker or a
 * delivery can; the event is of type "rebuild", without a change list (every ref). A
 * cluster (queue.backend = "postgresql") never does: there the state is the database's, and
 * a node that lost its directory pulls it again. */
#define CM_SYNC_FROM_MIRRORS (1u << 0)

#ifdef __cplusplus
}
#endif
#endif /* CARGOMAN_PLUGIN_H */
