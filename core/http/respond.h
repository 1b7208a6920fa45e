/* SPDX-License-Identifier: MIT */
/*
 * Private to core/http/: how every route queues its answer, and the route a sync plugin
 * serves. Includes microhttpd.h, so only the HTTP front includes it.
 */
#ifndef CM_HTTP_RESPOND_H
#define CM_HTTP_RESPOND_H

#include "http/guard.h" /* microhttpd.h and MHD_RESULT */

struct cm_daemon;
struct cm_gateway;
struct cm_route;
struct cm_sync;

/* Queue r as the answer with status code, closing the connection when the guard says so. */
MHD_RESULT cm_http_queue(struct MHD_Connection *c, int code, struct MHD_Response *r);
/* Answer body (copied) as type; Retry-After when retry_after > 0, Allow when allow is set. */
MHD_RESULT cm_http_send_text(struct MHD_Connection *c, int code, const char *type, const char *body,
                             int retry_after, const char *allow);
/* Answer {"status":"error","error":msg}; 503 carries Retry-After: 5, 405 Allow: POST. */
MHD_RESULT cm_http_send_error(struct MHD_Connection *c, int code, const char *msg);
/* Answer body (freed here) as type, or 500 when body is NULL (it could not be made). */
MHD_RESULT cm_http_send_owned(struct MHD_Connection *c, int code, const char *type, char *body);

/* GET /api/deliveries (url exactly) or /api/deliveries/<record id> (api_deliveries.c), for a
 * client the operator policy let through. */
MHD_RESULT cm_http_on_deliveries(struct MHD_Connection *c, struct cm_daemon *d, const char *url);
/* 1 when url is one of the operator's POST routes (api_actions.c): .../replay, .../resync,
 * .../import. */
int cm_http_action_route(const char *url);
/* Answer POST url, a route cm_http_action_route accepts, for an operator already let in. */
MHD_RESULT cm_http_on_action(struct MHD_Connection *c, struct cm_daemon *d, const char *url);
/* GET /api/repositories (every mirror) or /api/repositories/<endpoint>/<repository> (url: that
 * repository's entry of the list, with its running fetch), for an operator already let in. */
MHD_RESULT cm_http_on_repository(struct MHD_Connection *c, struct cm_daemon *d, const char *url);

/* A GET or HEAD on route, served by sync entry s of gw: its tokens, then its plugin's answer.
 * gw, acquired by the caller, is released here, after the answer is queued, so a SIGHUP
 * meanwhile does not free the instance. */
MHD_RESULT cm_http_on_route(struct MHD_Connection *c, struct cm_daemon *d, const char *url,
                            const char *method, struct cm_gateway *gw, const struct cm_sync *s,
                            const struct cm_route *route);
/* A GET, HEAD or POST on one of sync entry s's operator routes (SDK 1.4), for an operator
 * already let in: rest is the path below /api/<instance>. gw is released here, as above. */
MHD_RESULT cm_http_on_admin_route(struct MHD_Connection *c, struct cm_daemon *d, const char *url,
                                  const char *method, struct cm_gateway *gw,
                                  const struct cm_sync *s, const char *rest);

#endif
