/* SPDX-License-Identifier: MIT */
/*
 * Typed members of a delivery's payload through the host's json_* services (SDK 1.2), for a
 * provider that links no JSON library: each getter takes the member's dotted path and rejects
 * a wrong type with that path, worded like provider_json.h's. Compiled into each provider
 * module that uses it; the module exports none of it.
 */
#ifndef CARGOMAN_PROVIDER_PATH_H
#define CARGOMAN_PROVIDER_PATH_H

#include <cargoman/plugin.h>
#include <stddef.h>

#include "provider_base.h"
#include "provider_util.h"

/* CM_OK when the request's payload is a JSON object; else CM_EINVAL after j->host->reject
 * with how's reasons (how->flags is not used: the host's parse is fixed). */
CMP_HIDDEN int cmp_path_load(const struct cmp_json *j, const struct cmp_load *how);

/* 1 when the payload has something (null included) at path, else 0. */
CMP_HIDDEN int cmp_path_has(const struct cmp_json *j, const char *path);

/*
 * The member at path, which is named in reasons: "<path> is missing" (need), "is empty"
 * (CMP_NONEMPTY), "is not a string" / "not an object" / "not a boolean", then j->tail. CM_OK or
 * CM_EINVAL after j->host->reject. Strings are borrowed from the request.
 */
CMP_HIDDEN int cmp_path_string(const struct cmp_json *j, const char *path, enum cmp_need need,
                               const char **out);
/* *present = 1 when path is an object, 0 when absent or null (allowed by need). */
CMP_HIDDEN int cmp_path_object(const struct cmp_json *j, const char *path, enum cmp_need need,
                               int *present);
/* *out = 1 true, 0 false, -1 absent or null. */
CMP_HIDDEN int cmp_path_bool(const struct cmp_json *j, const char *path, int *out);
/* An id as text: an integer printed into buf (size bytes), or a string (borrowed); NULL when
 * absent or null; anything else is rejected as "not a number". */
CMP_HIDDEN int cmp_path_id(const struct cmp_json *j, const char *path, char *buf, size_t size,
                           const char **out);

/* cmp_json_repository on paths: the object at key (required) into f's repository fields. */
CMP_HIDDEN int cmp_path_repository(const struct cmp_json *j, const char *key,
                                   const struct cmp_repo_keys *keys, struct cmp_fields *f,
                                   char *id_buf, size_t size);

/* cmp_sniff with a body test on the host's paths: looks_like(host, req) is asked only when the
 * payload is a JSON object. */
CMP_HIDDEN int cmp_path_sniff(const struct cm_host *host, const struct cm_request *req,
                              const char *const *vetoes, const char *own, const char *const *others,
                              int (*looks_like)(const struct cm_host *host,
                                                const struct cm_request *req));

#endif /* CARGOMAN_PROVIDER_PATH_H */
