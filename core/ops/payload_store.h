/* SPDX-License-Identifier: MIT */
/*
 * Raw webhook payloads kept under data_dir/payloads for a bounded time and size, so a delivery
 * can be shown and replayed as it was received. Appended to segment files dropped whole;
 * never fsync'd (the spool holds the event a 202 promised; a payload is for operators).
 */
#ifndef CM_PAYLOAD_STORE_H
#define CM_PAYLOAD_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_payloads;

/* Open (creating) dir and index the payloads already there. retention: seconds a payload is
 * kept; max_bytes: all payloads together, oldest dropped first. CM_OK, CM_ENOMEM, CM_ERROR
 * (dir cannot be made or read; errno says why). */
int cm_payloads_open(struct cm_payloads **out, const char *dir, long long retention,
                     long long max_bytes);
void cm_payloads_free(struct cm_payloads *p);

/* Whether a header may be stored: not one that carries a secret in clear (Authorization,
 * Cookie, X-Gitlab-Token, any name with "token", "secret", "password" or "auth" in it).
 * Signatures (X-Hub-Signature-256) are kept: an HMAC does not give the secret away. */
int cm_payloads_header_kept(const char *name);

/* Store body (len bytes) and the headers cm_payloads_header_kept lets through as payload id,
 * received at now. CM_OK, CM_EINVAL (larger than max_bytes alone), CM_ERROR (not written). */
int cm_payloads_put(struct cm_payloads *p, uint64_t id, long long now, const char *const *names,
                    const char *const *values, size_t n_headers, const void *body, size_t len);

/* Payload id as stored: *headers (an object, the caller's) and *body (malloc'd, NUL added,
 * *len bytes). CM_OK, CM_ENOENT (never kept, dropped or past retention at now), CM_ENOMEM. */
int cm_payloads_get(struct cm_payloads *p, uint64_t id, long long now, json_t **headers,
                    char **body, size_t *len);

/* Drop the segments whose newest payload is past retention at now. */
void cm_payloads_expire(struct cm_payloads *p, long long now);

#endif
