/* SPDX-License-Identifier: MIT */
/*
 * GET /api/deliveries (a page of the delivery log, newest first, filtered by endpoint,
 * repository and state) and GET /api/deliveries/<record id> (one record with its payload).
 * The caller has applied the operator routes' access policy.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http/respond.h"
#include "ops/activity.h"
#include "util/buf.h"

#define PAGE_DEFAULT 256 /* what the list held when it was a ring in memory */
#define PAGE_MAX 1000

static const char *const states[] = {"queued", "syncing", "done",     "retrying",
                                     "failed", "ignored", "rejected", "duplicate"};

struct query {
    uint64_t before;
    size_t limit;
    const char *endpoint, *repository, *state; /* borrowed from the connection */
    char error[256];                           /* set: answer 400 with it */
};

static int parse_id(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || !isdigit((unsigned char)*s) || strlen(s) > 19)
        return 0;
    v = strtoull(s, &end, 10);
    if (*end || !v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

/* A filter value: printable ASCII without spaces, 1 to max bytes. */
static int plain(const char *v, size_t max)
{
    size_t n = strlen(v);
    for (const char *p = v; *p; p++)
        if (*p <= ' ' || *p > '~')
            return 0;
    return n && n <= max;
}

static int known_state(const char *v)
{
    for (size_t i = 0; i < sizeof(states) / sizeof(*states); i++)
        if (!strcmp(v, states[i]))
            return 1;
    return 0;
}

static MHD_RESULT take_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query *q = cls;
    uint64_t n;
    (void)kind;
    if (q->error[0])
        return MHD_NO;
    if (!value)
        value = "";
    if (!strcmp(key, "limit")) {
        if (!parse_id(value, &n) || n > PAGE_MAX)
            snprintf(q->error, sizeof(q->error), "limit must be a whole number from 1 to %d",
                     PAGE_MAX);
        else
            q->limit = (size_t)n;
    } else if (!strcmp(key, "before") || !strcmp(key, "cursor")) {
        if (!parse_id(value, &q->before))
            snprintf(q->error, sizeof(q->error),
                     "%s must be a record_id (a whole number above 0), such as the "
                     "next_cursor of the previous page",
                     key);
    } else if (!strcmp(key, "endpoint")) {
        if (!plain(value, 128))
            snprintf(q->error, sizeof(q->error),
                     "endpoint must be an endpoint's name (1 to 128 printable characters)");
        q->endpoint = value;
    } else if (!strcmp(key, "repository")) {
        if (!plain(value, 1024))
            snprintf(q->error, sizeof(q->error),
                     "repository must be a repository's full name, such as acme/app");
        q->repository = value;
    } else if (!strcmp(key, "state")) {
        if (!known_state(value))
            snprintf(q->error, sizeof(q->error),
                     "state must be one of queued, syncing, done, retrying, failed, ignored, "
                     "rejected, duplicate");
        q->state = value;
    } else {
        snprintf(q->error, sizeof(q->error),
                 "unknown parameter \"%.40s\": use limit, before (or cursor), endpoint, "
                 "repository, state",
                 key);
    }
    return q->error[0] ? MHD_NO : MHD_YES;
}

static int add_param(struct cm_buf *b, const char *key, const char *value)
{
    int rc = cm_buf_printf(b, "&%s=", key);
    for (const unsigned char *p = (const unsigned char *)value; rc == CM_OK && *p; p++)
        rc = isalnum(*p) || strchr("-._~", *p) ? cm_buf_append(b, (const char *)p, 1)
                                               : cm_buf_printf(b, "%%%02X", *p);
    return rc;
}

/* The URL of the page after this one, with the same filters. */
static char *next_link(const struct query *q, uint64_t cursor)
{
    struct cm_buf b = {0};
    int rc = cm_buf_printf(&b, "/api/deliveries?limit=%zu&before=%llu", q->limit,
                           (unsigned long long)cursor);
    if (rc == CM_OK && q->endpoint)
        rc = add_param(&b, "endpoint", q->endpoint);
    if (rc == CM_OK && q->repository)
        rc = add_param(&b, "repository", q->repository);
    if (rc == CM_OK && q->state)
        rc = add_param(&b, "state", q->state);
    if (rc != CM_OK) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Put "next" and "next_cursor" before the closing brace of page (owned, replaced). */
static char *with_next(char *page, const struct query *q, uint64_t cursor)
{
    struct cm_buf b = {0};
    char *link = cursor ? next_link(q, cursor) : NULL, *close = page ? strrchr(page, '}') : NULL;
    int rc = close && (!cursor || link) ? CM_OK : CM_ENOMEM;

    if (rc == CM_OK)
        rc = cm_buf_append(&b, page, (size_t)(close - page));
    if (rc == CM_OK && cursor)
        rc = cm_buf_printf(&b, ",\n  \"next\": \"%s\",\n  \"next_cursor\": \"%llu\"\n}", link,
                           (unsigned long long)cursor);
    else if (rc == CM_OK)
        rc = cm_buf_printf(&b, ",\n  \"next\": null,\n  \"next_cursor\": null\n}");
    free(link);
    free(page);
    if (rc != CM_OK) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static MHD_RESULT on_list(struct MHD_Connection *c, struct cm_daemon *d)
{
    struct query q = {.limit = PAGE_DEFAULT};
    uint64_t cursor = 0;
    char *page = NULL, err[512];
    int rc;

    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, take_arg, &q);
    if (q.error[0])
        return cm_http_send_error(c, 400, q.error);
    rc = cm_activity_deliveries_page(d->activity, q.before, q.limit, q.endpoint, q.repository,
                                     q.state, &page, &cursor, err, sizeof(err));
    if (rc == CM_EAGAIN)
        return cm_http_send_error(c, 503, err);
    return cm_http_send_owned(c, 200, "application/json", with_next(page, &q, cursor));
}

static MHD_RESULT on_one(struct MHD_Connection *c, struct cm_daemon *d, const char *id)
{
    uint64_t record;
    char *doc = NULL, err[512];
    int rc;

    if (!parse_id(id, &record))
        return cm_http_send_error(c, 400,
                                  "name a delivery by its record_id (a whole number), as "
                                  "GET /api/deliveries lists them");
    /* ?node=NAME: record is that gateway's own id, as its 202 answers give it. */
    const char *node = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "node");
    if (node && (rc = cm_activity_record_of(d->activity, node, record, &record, err,
                                            sizeof(err))) != CM_OK) {
        if (rc == CM_EAGAIN)
            return cm_http_send_error(c, 503, err);
        return cm_http_send_error(c, 404,
                                  "the cluster's log has no record of that number from that "
                                  "node (yet: it is written within a second; or it is past "
                                  "server.delivery_log_max_age)");
    }
    rc = cm_activity_delivery_json(d->activity, record, &doc, err, sizeof(err));
    if (rc == CM_EAGAIN)
        return cm_http_send_error(c, 503, err);
    if (rc == CM_ENOENT)
        return cm_http_send_error(c, 404,
                                  "no delivery with this record_id: it was never recorded or "
                                  "is past server.delivery_log_max_age");
    return cm_http_send_owned(c, 200, "application/json", doc);
}

MHD_RESULT cm_http_on_deliveries(struct MHD_Connection *c, struct cm_daemon *d, const char *url)
{
    if (!strcmp(url, "/api/deliveries"))
        return on_list(c, d);
    return on_one(c, d, url + strlen("/api/deliveries/"));
}
