/* SPDX-License-Identifier: MIT */
/*
 * One webhook delivery as the providers see it, independent of where it came from: the HTTP
 * front builds it from a connection, `cargoman parse` and the tests from a saved body.
 */
#ifndef CM_REQUEST_H
#define CM_REQUEST_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "cargoman/plugin.h"

struct cm_event;
struct cm_endpoint;
struct cm_payload_doc;

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
    int is_form;                          /* Content-Type says application/x-www-form-urlencoded */
    _Atomic(struct cm_payload_doc *) doc; /* the payload parsed for the json_* host calls on
                                           * first use, owned (intake/payload_path.c) */
    struct cm_event **events;             /* owned */
    size_t n_events;
    long long received_at; /* seconds since the epoch */
    int status;            /* the status given with the last reject */
    char reason[512];      /* why it was refused, for the HTTP client */
    char detail[1024];     /* the same for the log, where it may name our files, URLs and other
                            * endpoints; "" when reason says it all */
    uint64_t replay_of;    /* an operator's replay of this delivery log record, 0 for a webhook:
                            * its events get a fresh delivery id, so the dedupe lets it through */
    uint64_t records[64];  /* set by cm_intake: the log records it made (queued or refused) */
    size_t n_records;
    /* Set by the HTTP front (empty for `parse` and tests): the sender's address as judged
     * with server.trusted_proxies (http/forwarded.h), and the proxy it came through. */
    char client[48];
    char via[48];
    int vouched; /* set by cm_dispatch: a secret of the endpoint verified the request */
};

/* A new empty request for endpoint (may be NULL in tests of the request alone). */
int cm_request_new(struct cm_request **out, const struct cm_endpoint *endpoint);
void cm_request_free(struct cm_request *req);

/* Append a header, both strings copied. */
int cm_request_add_header(struct cm_request *req, const char *name, const char *value);
/* Case-insensitive lookup, borrowed, NULL when absent. */
const char *cm_request_header(const struct cm_request *req, const char *name);

/* Take the body (copied) and note whether the Content-Type header (so add the headers first)
 * says application/x-www-form-urlencoded. Nothing is decoded: see cm_request_read_form. */
int cm_request_set_body(struct cm_request *req, const void *body, size_t len);

/* Decide how the body of a form-typed request is read, for a provider whose flags are
 * provider_flags. A request that is not a form passes unchanged. A form is refused unless
 * the provider opts in with CM_PROVIDER_FORM_PAYLOAD, and then the body must be exactly one
 * payload=<JSON> field (cm_form_payload, intake/form.h). CM_OK, CM_ENOMEM, or CM_EINVAL with
 * req->reason. */
int cm_request_read_form(struct cm_request *req, unsigned provider_flags);

/* The JSON document of the delivery (see struct cm_host.payload): the body, or for a form
 * the payload that cm_request_read_form decoded (NULL before). */
const char *cm_request_payload(const struct cm_request *req, size_t *len);

/* Record a reason for refusing; returns status. */
int cm_request_reject(struct cm_request *req, int status, const char *fmt, ...) CM_PRINTF(3, 4);

int cm_request_vreject(struct cm_request *req, int status, const char *fmt, va_list ap);

/* Append an event (owned by the request from then on). */
int cm_request_add_event(struct cm_request *req, struct cm_event *ev);

/* Room for a delivery id as the records and log lines keep it: printable ASCII, cut. */
#define CM_DELIVERY_ID_ROOM 129

/* The host's delivery id of a request, for its record and log line, as printable ASCII in
 * out (CM_DELIVERY_ID_ROOM bytes): the one its provider read (the first event's), else the
 * first header hosts carry one in (cm_delivery_id_header), so a refusal is traced too. out,
 * or NULL when there is none. */
const char *cm_request_delivery_id(const struct cm_request *req, char *out);

/* The same from headers alone, for a request refused before it was read: the first of
 * X-GitHub-Delivery, X-Gitea-Delivery, X-Request-UUID (Bitbucket Cloud), Idempotency-Key,
 * X-Gitlab-Webhook-UUID, X-Gitlab-Event-UUID, webhook-id (GitLab) and X-Request-Id (Bitbucket
 * Data Center) that header(arg, name) finds. X-Request-Id comes last: a proxy in front of
 * the gateway may add one of its own. out, or NULL. */
const char *cm_delivery_id_header(const char *(*header)(void *arg, const char *name), void *arg,
                                  char *out);

/* 1 when the Content-Type value content_type (may be NULL) is the media type type, with or
 * without parameters ("application/json; charset=utf-8"), compared case-insensitively. */
int cm_media_type_is(const char *content_type, const char *type);

#endif
