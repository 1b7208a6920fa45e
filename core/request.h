/* SPDX-License-Identifier: MIT */
/*
 * One webhook delivery as the providers see it, independent of where it came from: the HTTP
 * front builds it from a connection, `cargoman parse` and the tests from a saved body.
 */
#ifndef CM_REQUEST_H
#define CM_REQUEST_H

#include <stdarg.h>
#include <stddef.h>
#include "cargoman/plugin.h"

struct cm_event;
struct cm_endpoint;

struct cm_header {
    char *name;  /* owned */
    char *value; /* owned */
};

struct cm_request {
    const struct cm_endpoint *endpoint; /* borrowed; the endpoint it was sent to */
    struct cm_header *headers;          /* owned */
    size_t n_headers, cap_headers;
    char *body; /* owned, NUL-terminated for convenience */
    size_t body_len;
    char *payload; /* owned: decoded form payload, or NULL (use body) */
    size_t payload_len;
    int is_form;              /* body is application/x-www-form-urlencoded */
    struct cm_event **events; /* owned */
    size_t n_events;
    long long received_at; /* seconds since the epoch */
    int status;            /* the status given with the last reject */
    char reason[512];      /* why it was refused, for the HTTP client */
};

/* A new empty request for endpoint (may be NULL in tests of the request alone). */
int cm_request_new(struct cm_request **out, const struct cm_endpoint *endpoint);
void cm_request_free(struct cm_request *req);

/* Append a header, both strings copied. */
int cm_request_add_header(struct cm_request *req, const char *name, const char *value);
/* Case-insensitive lookup, borrowed, NULL when absent. */
const char *cm_request_header(const struct cm_request *req, const char *name);

/* Take the body (copied). Decodes a form body's payload field when the Content-Type header
 * says application/x-www-form-urlencoded, so call it after the headers are added. */
int cm_request_set_body(struct cm_request *req, const void *body, size_t len);

/* The JSON document of the delivery (see struct cm_host.payload). */
const char *cm_request_payload(const struct cm_request *req, size_t *len);

/* Record a reason for refusing; returns status. */
int cm_request_reject(struct cm_request *req, int status, const char *fmt, ...) CM_PRINTF(3, 4);

int cm_request_vreject(struct cm_request *req, int status, const char *fmt, va_list ap);

/* Append an event (owned by the request from then on). */
int cm_request_add_event(struct cm_request *req, struct cm_event *ev);

/* 1 when the Content-Type value content_type (may be NULL) is the media type type, with or
 * without parameters ("application/json; charset=utf-8"), compared case-insensitively. */
int cm_media_type_is(const char *content_type, const char *type);

/* Decode application/x-www-form-urlencoded key's value from form into *out (malloc'd,
 * NUL-terminated). CM_ENOENT when the key is absent, CM_EINVAL on a bad %XX escape. */
int cm_form_value(const char *form, size_t len, const char *key, char **out, size_t *outlen);

#endif
