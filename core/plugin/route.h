/* SPDX-License-Identifier: MIT */
/*
 * The routes sync plugins serve (SDK 1.2, struct cm_route): checking a descriptor's list,
 * finding the instance that serves a path, and the request and answer a serve hook sees.
 * Knows no HTTP library: http/server.c lends the lookups and sends the answer.
 */
#ifndef CM_ROUTE_H
#define CM_ROUTE_H

#include <stddef.h>

#include "cargoman/plugin.h"

struct cm_gateway;
struct cm_sync;

/* One GET or HEAD handed to a serve hook. Filled by the HTTP front; everything borrowed. */
struct cm_http_request {
    const char *method; /* "GET" or "HEAD"; "POST" too on an operator route */
    const char *path;   /* without the query */
    /* A header (query 0) or a query argument (query 1) of conn; NULL when absent. */
    const char *(*lookup)(void *conn, int query, const char *name);
    void *conn;
};

/* What a serve hook answered. cm_http_response_init before, cm_http_response_clear after. */
struct cm_http_response {
    struct cm_ctx *ctx; /* the instance's: files come from its state_dir */
    int status;         /* 0 until the plugin answers */
    char *content_type; /* owned */
    char *body;         /* owned; NULL for a file answer */
    size_t len;         /* of body, or of the file */
    int fd;             /* the file answered, owned; -1 for none */
};

void cm_http_response_init(struct cm_http_response *rs, struct cm_ctx *ctx);
/* Frees what rs owns; an fd taken by the sender must be set to -1 before. */
void cm_http_response_clear(struct cm_http_response *rs);

/* The routes p declares, or NULL: a plugin built before SDK 1.2 has no such field. */
const struct cm_route *cm_route_declared(const struct cm_sync_plugin *p);
/* The routes sync entry s serves: those its plugin declares, unless the entry says
 * routes = false (NULL then). */
const struct cm_route *cm_route_list(const struct cm_sync *s);

/* Check p's routes before any plugin code runs (see struct cm_route). CM_OK, or CM_EINVAL
 * with one line in err naming file and the route. */
int cm_route_check(const struct cm_sync_plugin *p, const char *file, char *err, size_t errlen);

/* No two sync entries of gw may serve one path (an exact route or a prefix covering another
 * one). CM_OK, or CM_EINVAL with err naming both entries' file:line. */
int cm_route_check_gateway(const struct cm_gateway *gw, char *err, size_t errlen);

/* The sync instance serving path, and its route in *route; NULL when none. Borrowed from gw. */
const struct cm_sync *cm_route_find(const struct cm_gateway *gw, const char *path,
                                    const struct cm_route **route);

/* The sync instance whose operator routes (SDK 1.4, admin_routes) serve path, one of
 * /api/<instance>/...: its route in *route and the path below /api/<instance> in *rest
 * (borrowed from path); NULL when none. Borrowed from gw. */
const struct cm_sync *cm_route_find_admin(const struct cm_gateway *gw, const char *path,
                                          const struct cm_route **route, const char **rest);

/* 1 when path holds "..", "//" or a backslash: refused before any plugin or file sees it. */
int cm_route_path_unsafe(const char *path);

/* The host services behind struct cm_host's http_* members. */
const char *cm_route_method(const struct cm_http_request *rq);
const char *cm_route_path(const struct cm_http_request *rq);
const char *cm_route_query(const struct cm_http_request *rq, const char *name);
const char *cm_route_header(const struct cm_http_request *rq, const char *name);
int cm_route_respond(struct cm_http_response *rs, int status, const char *content_type,
                     const void *body, size_t len);
int cm_route_respond_file(struct cm_http_response *rs, int status, const char *content_type,
                          const char *path);

#endif
