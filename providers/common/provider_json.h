/* SPDX-License-Identifier: MIT */
/*
 * Reading a delivery's JSON payload for the provider plugins: parse it into one object, then
 * take typed members out of it, rejecting a wrong type with the member's JSON path. Compiled
 * into each provider module; the module exports none of it.
 */
#ifndef CARGOMAN_PROVIDER_JSON_H
#define CARGOMAN_PROVIDER_JSON_H

#include <cargoman/plugin.h>
#include <jansson.h>
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

/* How cmp_json_load reads a payload and words its reasons (no tail is added to them). */
struct cmp_load {
    size_t flags;            /* json_loadb flags */
    const char *no_payload;  /* the reason when a form body has no payload field */
    const char *syntax_hint; /* NULL: "the body is not valid JSON: <why> (line N)"; else
                              * "the body is not JSON (line N: <why>)" followed by this */
    const char *not_object;  /* the reason when the document is not an object */
};

/* *out = the request's payload parsed as a JSON object, the caller's (json_decref it); NULL on
 * failure. CM_OK, or CM_EINVAL after j->host->reject. */
CMP_HIDDEN int cmp_json_load(const struct cmp_json *j, const struct cmp_load *how, json_t **out);

/*
 * Typed members of obj (which may be NULL: every member is then absent). The path in a reason
 * is parent.key, or key alone when parent is "". A member of another type is rejected as
 * "<path> is not a string" (an object, an array, a boolean...) then j->tail. CM_OK or
 * CM_EINVAL after j->host->reject. Returned values are borrowed from obj.
 */
CMP_HIDDEN int cmp_json_string(const struct cmp_json *j, const json_t *obj, const char *parent,
                               const char *key, enum cmp_need need, const char **out);
CMP_HIDDEN int cmp_json_object(const struct cmp_json *j, const json_t *obj, const char *parent,
                               const char *key, enum cmp_need need, json_t **out);
CMP_HIDDEN int cmp_json_array(const struct cmp_json *j, const json_t *obj, const char *parent,
                              const char *key, enum cmp_need need, json_t **out);
/* *out = 1 true, 0 false, -1 absent or null. */
CMP_HIDDEN int cmp_json_bool(const struct cmp_json *j, const json_t *obj, const char *parent,
                             const char *key, int *out);

/* An id as text: a JSON integer printed into buf (size bytes), NULL when absent or null.
 * cmp_json_int_text rejects anything else as "not an integer"; cmp_json_id also takes a
 * string (borrowed from obj) and rejects the rest as "not a number". */
CMP_HIDDEN int cmp_json_int_text(const struct cmp_json *j, const json_t *obj, const char *parent,
                                 const char *key, char *buf, size_t size, const char **out);
CMP_HIDDEN int cmp_json_id(const struct cmp_json *j, const json_t *obj, const char *parent,
                           const char *key, char *buf, size_t size, const char **out);

/* Called by cmp_json_each_object for element i of an array, an object; where is its path. */
typedef int (*cmp_each_fn)(const struct cmp_json *j, json_t *elem, const char *where, size_t i,
                           void *arg);

/* fn for each element of the array at path (NULL or not an array: none), in order; an element
 * that is not an object is rejected as "<path>[i] is not an object" then j->tail. Stops at and
 * returns the first status that is not CM_OK. */
CMP_HIDDEN int cmp_json_each_object(const struct cmp_json *j, const json_t *array, const char *path,
                                    cmp_each_fn fn, void *arg);

/* 1 when the request's payload parses (jansson defaults) as an object that looks_like says is
 * the provider's, else 0. For sniff hooks. */
CMP_HIDDEN int cmp_sniff_body(const struct cm_host *host, const struct cm_request *req,
                              int (*looks_like)(const json_t *root));

#endif /* CARGOMAN_PROVIDER_JSON_H */
