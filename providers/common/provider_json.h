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

#include "provider_base.h"
#include "provider_util.h"

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

/* A sniff hook for hosts that name their event in a header of their own: 0 when req has any
 * of vetoes (NULL: none), 1 when it has own, 0 when it has any of others, else whether its
 * payload is an object that looks_like the provider's. */
CMP_HIDDEN int cmp_sniff(const struct cm_host *host, const struct cm_request *req,
                         const char *const *vetoes, const char *own, const char *const *others,
                         int (*looks_like)(const json_t *root));

/* Read the object at root.key (required) into f's repository fields, borrowed from root, the
 * full name checked against keys->rule. id_buf (size bytes) holds a numeric id. CM_OK, or
 * CM_EINVAL after j->host->reject. */
CMP_HIDDEN int cmp_json_repository(const struct cmp_json *j, const json_t *root, const char *key,
                                   const struct cmp_repo_keys *keys, struct cmp_fields *f,
                                   char *id_buf, size_t size);

/* One event from a list of changes, checked before anything is recorded: fn(j, element, path,
 * i, NULL) must accept every element of changes (at path) before the event is made with f's
 * fields; then fn(..., ev) adds each. The event is marked incomplete when changes is empty or
 * incomplete is set. CM_OK, or the first failing status. */
CMP_HIDDEN int cmp_event_from_changes(const struct cmp_json *j, const json_t *changes,
                                      const char *path, cmp_each_fn fn, const struct cmp_fields *f,
                                      int incomplete);

#endif /* CARGOMAN_PROVIDER_JSON_H */
