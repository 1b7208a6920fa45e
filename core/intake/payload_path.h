/* SPDX-License-Identifier: MIT */
/*
 * A delivery's payload read by dotted path ("repository.full_name", "commits.0.id"): the
 * json_* services of struct cm_host, so a provider needs no JSON library of its own.
 */
#ifndef CM_PAYLOAD_PATH_H
#define CM_PAYLOAD_PATH_H

#include <stddef.h>
#include "cargoman/plugin.h"

struct cm_request;

/* See struct cm_host: json_type, json_string, json_int_text, json_error. */
int cm_payload_type(const struct cm_request *req, const char *path);
int cm_payload_string(const struct cm_request *req, const char *path, const char **out);
int cm_payload_int_text(const struct cm_request *req, const char *path, char *buf, size_t size);
const char *cm_payload_error(const struct cm_request *req);

/* Drop the parsed payload, when the body or payload it came from changes or req is freed. */
void cm_payload_forget(struct cm_request *req);

#endif
