/* SPDX-License-Identifier: MIT */
/*
 * A delivery's headers, raw body and decoded payload. The raw body is kept untouched because
 * every signature scheme is computed over the bytes as they arrived.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "intake/event.h"
#include "intake/payload_path.h"
#include "intake/form.h"
#include "intake/request.h"
#include "ops/log.h"

int cm_request_new(struct cm_request **out, const struct cm_endpoint *endpoint)
{
    struct cm_request *req = calloc(1, sizeof(*req));
    if (!req)
        return CM_ENOMEM;
    req->endpoint = endpoint;
    req->body = calloc(1, 1);
    if (!req->body) {
        free(req);
        return CM_ENOMEM;
    }
    *out = req;
    return CM_OK;
}

void cm_request_free(struct cm_request *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    free(req->body);
    free(req->payload);
    cm_payload_forget(req);
    for (size_t i = 0; i < req->n_events; i++)
        cm_event_free(req->events[i]);
    free(req->events);
    free(req);
}

int cm_request_add_header(struct cm_request *req, const char *name, const char *value)
{
    if (req->n_headers == req->cap_headers) {
        size_t cap = req->cap_headers ? req->cap_headers * 2 : 16;
        struct cm_header *h = realloc(req->headers, cap * sizeof(*h));
        if (!h)
            return CM_ENOMEM;
        req->headers = h;
        req->cap_headers = cap;
    }
    struct cm_header h = {strdup(name), strdup(value)};
    if (!h.name || !h.value) {
        free(h.name);
        free(h.value);
        return CM_ENOMEM;
    }
    req->headers[req->n_headers++] = h;
    return CM_OK;
}

const char *cm_request_header(const struct cm_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

int cm_media_type_is(const char *content_type, const char *type)
{
    size_t n = strlen(type);
    if (!content_type || strncasecmp(content_type, type, n))
        return 0;
    return content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ';
}

int cm_request_set_body(struct cm_request *req, const void *body, size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return CM_ENOMEM;
    memcpy(copy, body, len);
    copy[len] = '\0';
    free(req->body);
    free(req->payload);
    req->payload = NULL;
    cm_payload_forget(req);
    req->body = copy;
    req->body_len = len;
    req->is_form = cm_media_type_is(cm_request_header(req, "Content-Type"),
                                    "application/x-www-form-urlencoded");
    return CM_OK;
}

int cm_request_read_form(struct cm_request *req, unsigned provider_flags)
{
    const char *why = NULL;
    int rc;

    if (!req->is_form || req->payload)
        return CM_OK;
    if (!(provider_flags & CM_PROVIDER_FORM_PAYLOAD))
        return cm_request_reject(req, CM_EINVAL,
                                 "this endpoint reads JSON bodies only, and Content-Type is "
                                 "application/x-www-form-urlencoded: set the webhook's content "
                                 "type to application/json");
    cm_payload_forget(req); /* a sniff may have read the form as "no payload" */
    rc = cm_form_payload(req->body, req->body_len, &req->payload, &req->payload_len, &why);
    if (rc == CM_EINVAL)
        return cm_request_reject(req, CM_EINVAL, "%s: send the host's own delivery unchanged", why);
    return rc;
}

const char *cm_request_payload(const struct cm_request *req, size_t *len)
{
    if (req->is_form) {
        if (len)
            *len = req->payload ? req->payload_len : 0;
        return req->payload;
    }
    if (len)
        *len = req->body_len;
    return req->body;
}

int cm_request_vreject(struct cm_request *req, int status, const char *fmt, va_list ap)
{
    char raw[sizeof(req->reason)];

    vsnprintf(raw, sizeof(raw), fmt, ap);
    /* A reason may quote what the sender sent (a repository name): keep it printable ASCII,
     * so it is valid JSON text for the answer and one line in the log. */
    cm_log_escape(req->reason, sizeof(req->reason), raw, 1);
    req->status = status;
    return status;
}

int cm_request_reject(struct cm_request *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cm_request_vreject(req, status, fmt, ap);
    va_end(ap);
    return status;
}

int cm_request_add_event(struct cm_request *req, struct cm_event *ev)
{
    struct cm_event **p = realloc(req->events, (req->n_events + 1) * sizeof(*p));
    if (!p)
        return CM_ENOMEM;
    req->events = p;
    req->events[req->n_events++] = ev;
    return CM_OK;
}

/* Header names hosts carry a delivery's id in, most specific first. */
static const char *const delivery_headers[] = {
    "X-GitHub-Delivery",     "X-Gitea-Delivery",    "X-Request-UUID", "Idempotency-Key",
    "X-Gitlab-Webhook-UUID", "X-Gitlab-Event-UUID", "webhook-id",     "X-Request-Id",
};

/* A sender chose id: kept printable ASCII, so the record is valid JSON and the line one line. */
static const char *delivery_id_copy(const char *id, char *out)
{
    if (!id || !*id)
        return NULL;
    cm_log_escape(out, CM_DELIVERY_ID_ROOM, id, 1);
    return out;
}

const char *cm_delivery_id_header(const char *(*header)(void *arg, const char *name), void *arg,
                                  char *out)
{
    for (size_t i = 0; i < sizeof(delivery_headers) / sizeof(*delivery_headers); i++) {
        const char *v = header(arg, delivery_headers[i]);
        if (v && *v)
            return delivery_id_copy(v, out);
    }
    return NULL;
}

static const char *request_header(void *arg, const char *name)
{
    return cm_request_header(arg, name);
}

const char *cm_request_delivery_id(const struct cm_request *req, char *out)
{
    if (req->n_events && cm_event_get(req->events[0], CM_FIELD_DELIVERY_ID))
        return delivery_id_copy(cm_event_get(req->events[0], CM_FIELD_DELIVERY_ID), out);
    return cm_delivery_id_header(request_header, (void *)req, out);
}
