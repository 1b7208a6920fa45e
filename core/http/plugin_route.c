/* SPDX-License-Identifier: MIT */
/*
 * Serving the routes sync plugins declare: the core checks the entry's tokens (the operator
 * routes' policy, for their operator routes: server.c applied it) and the path, lends the plugin a
 * read-only view of the request, and sends what it answers (a copied body, or a file descriptor MHD
 * streams).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http/respond.h"
#include "http/server.h"
#include "ops/log.h"
#include "plugin/route.h"

/* The HTTP front's lookups lent to a serve hook (struct cm_http_request). */
static const char *route_lookup(void *conn, int query, const char *name)
{
    return MHD_lookup_connection_value(conn, query ? MHD_GET_ARGUMENT_KIND : MHD_HEADER_KIND, name);
}

/* 401 for a route whose sync entry's tokens were not sent; hint is the route's auth_hint. */
static MHD_RESULT send_credentials_needed(struct MHD_Connection *c, const char *hint)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "credentials required: %s",
             hint ? hint
                  : "send one of the sync entry's tokens as HTTP basic user:token or Bearer token");
    json_t *o = json_pack("{s:s, s:s}", "status", "error", "error", msg);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE) : NULL;
    MHD_RESULT ret;
    json_decref(o);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"cargoman\"");
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = cm_http_queue(c, 401, r);
    MHD_destroy_response(r);
    return ret;
}

/* Send what a serve hook answered; the file descriptor passes to MHD. */
static MHD_RESULT send_answer(struct MHD_Connection *c, struct cm_http_response *rs)
{
    struct MHD_Response *r;
    MHD_RESULT ret;
    if (rs->fd >= 0) {
        if ((r = MHD_create_response_from_fd((uint64_t)rs->len, rs->fd)))
            rs->fd = -1; /* MHD closes it */
    } else {
        r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_COPY);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", rs->content_type);
    ret = cm_http_queue(c, rs->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Hand rq to s's serve hook and send its answer; releases gw. */
static MHD_RESULT serve_route(struct MHD_Connection *c, struct cm_daemon *d, const char *url,
                              struct cm_http_request *rq, struct cm_gateway *gw,
                              const struct cm_sync *s)
{
    struct cm_http_response rs;
    MHD_RESULT ret;
    int rc;

    if (cm_route_path_unsafe(url)) {
        cm_daemon_release(d, gw);
        return cm_http_send_error(c, 404, "no such file");
    }
    cm_http_response_init(&rs, (struct cm_ctx *)&s->ctx);
    rc = s->plugin->serve(s->self, rq, &rs);
    if (rc == CM_OK && rs.status)
        ret = send_answer(c, &rs);
    else if (rc == CM_ENOENT && !rs.status)
        ret = cm_http_send_error(c, 404, "no such file");
    else {
        cm_log(CM_LOG_ERR, s->conf->plugin, "serve %s answered nothing (%d); see the lines above",
               url, rc);
        ret = cm_http_send_error(c, 500,
                                 "the plugin serving this route failed; see the gateway's log");
    }
    cm_http_response_clear(&rs);
    cm_daemon_release(d, gw);
    return ret;
}

MHD_RESULT cm_http_on_route(struct MHD_Connection *c, struct cm_daemon *d, const char *url,
                            const char *method, struct cm_gateway *gw, const struct cm_sync *s,
                            const struct cm_route *route)
{
    struct cm_http_request rq = {method, url, route_lookup, c};
    MHD_RESULT ret;

    if (!cm_http_token_access(s->conf->tokens, s->conf->n_tokens,
                              MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))) {
        ret = send_credentials_needed(c, route->auth_hint);
        cm_daemon_release(d, gw);
        return ret;
    }
    return serve_route(c, d, url, &rq, gw, s);
}

MHD_RESULT cm_http_on_admin_route(struct MHD_Connection *c, struct cm_daemon *d, const char *url,
                                  const char *method, struct cm_gateway *gw,
                                  const struct cm_sync *s, const char *rest)
{
    struct cm_http_request rq = {method, rest, route_lookup, c};
    return serve_route(c, d, url, &rq, gw, s);
}
