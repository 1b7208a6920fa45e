/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front (libmicrohttpd): routes, body limits, and the translation between MHD
 * connections and cm_request. The only file that includes microhttpd.h.
 */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stddef.h>

struct cm_daemon;
struct cm_http;
struct sockaddr;

/* The server settings the front applies, fixed at start (struct cm_config's meanings). */
struct cm_http_limits {
    int max_connections;        /* > 0 */
    int connection_timeout;     /* seconds idle, > 0 */
    int max_connections_per_ip; /* 0: no limit */
    int request_timeout;        /* seconds from accept to a whole request, > 0 */
    int stop_timeout;           /* seconds a stop waits for requests in flight, >= 0 */
    int threads;                /* HTTP threads, > 0 */
};

/* Listen on listen ("127.0.0.1:8080", "[::1]:8080") and serve d until cm_http_stop. */
int cm_http_start(struct cm_http **out, struct cm_daemon *d, const char *listen,
                  const struct cm_http_limits *limits, char *err, size_t errlen);
/* Stop accepting, let requests in flight finish for up to limits->stop_timeout seconds, cut
 * what is left, free. The number of connections cut (0 for NULL). */
unsigned cm_http_stop(struct cm_http *h);

/* The /healthz verdict: 0 when healthy, else 503 with one line (no names or paths) in reason:
 * no worker alive (workers_alive 0; -1 when workers are not started yet, which is healthy),
 * or due work waiting age seconds, past max_age. */
int cm_http_health(int workers_alive, long long age, long long max_age, char *reason, size_t len);

/* Who may use the operator routes (/metrics, and /api/ but the webhooks). With a token
 * (server.admin_token, NULL when unset), whoever sends "Authorization: Bearer <token>"
 * (authorization: that header's value, or NULL), compared in constant time; without one,
 * loopback clients only. 0 when allowed, else the status to answer: 401 (no or a wrong
 * token), 403 (no token configured and client, which may be NULL, not on loopback). */
int cm_http_admin_access(const char *token, const char *authorization,
                         const struct sockaddr *client);

/* Who may use a route a sync plugin serves: with the entry's n tokens ("user:token"), whoever
 * sends one as "Authorization: Basic base64(user:token)" or "Bearer token" (authorization:
 * that header's value, or NULL), compared in constant time; without tokens, everyone (the
 * exposure check keeps that to loopback unless the entry says public = true). 1 or 0. */
int cm_http_token_access(char *const *tokens, size_t n, const char *authorization);

/* Split "host:port" / "[v6]:port" into a socket address. CM_OK or CM_EINVAL. */
struct sockaddr_storage;
int cm_http_parse_listen(const char *listen, struct sockaddr_storage *out, char *err,
                         size_t errlen);

#endif
