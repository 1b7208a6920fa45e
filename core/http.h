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

/* Listen on listen ("127.0.0.1:8080", "[::1]:8080") and serve d until cm_http_stop. */
int cm_http_start(struct cm_http **out, struct cm_daemon *d, const char *listen,
                  int max_connections, int timeout, char *err, size_t errlen);
/* Stop accepting, let in-flight requests finish, free. */
void cm_http_stop(struct cm_http *h);

/* Split "host:port" / "[v6]:port" into a socket address. CM_OK or CM_EINVAL. */
struct sockaddr_storage;
int cm_http_parse_listen(const char *listen, struct sockaddr_storage *out, char *err,
                         size_t errlen);

#endif
