/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front's guard against clients that hold connections: a limit of open connections
 * per address, and a deadline for each whole request counted from the accept. Included only
 * by the files of core/http/, the only ones that know libmicrohttpd.
 */
#ifndef CM_HTTP_GUARD_H
#define CM_HTTP_GUARD_H

#include <microhttpd.h>
#include <sys/socket.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

struct cm_http_guard;
struct cm_metrics;

/* A guard allowing per_ip connections from one address (0: any number) and request_timeout
 * seconds (> 0) from accept until a request is in; a next request on a kept-alive connection
 * gets connection_timeout (MHD's idle timeout) more. Its reaper thread runs until
 * cm_http_guard_free. Drops are counted in metrics (borrowed; it must outlive the guard).
 * CM_OK, CM_ENOMEM or CM_ERROR (no thread). */
int cm_http_guard_new(struct cm_http_guard **out, struct cm_metrics *metrics, int per_ip,
                      int request_timeout, int connection_timeout);
/* Stop the reaper and free. Call after MHD_stop_daemon, which reports every connection
 * closed. NULL is ignored. */
void cm_http_guard_free(struct cm_http_guard *g);

/* Wait until no connection has a request in flight, or timeout seconds (>= 0); call once,
 * after MHD stopped accepting (MHD_quiesce_daemon) and before MHD_stop_daemon. From then on
 * cm_http_guard_request_in answers 1. The connections still busy at the timeout. */
unsigned cm_http_guard_drain(struct cm_http_guard *g, int timeout);

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the guard. */
void cm_http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);
/* Accept policy callback (MHD_start_daemon's apc) enforcing the per-address limit; cls is
 * the guard. Install it only when the limit is on. */
MHD_RESULT cm_http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* A request on c has begun (the access handler's first call for it): a stop waits for it.
 * A connection counts as busy from its accept until its first request is done. */
void cm_http_guard_request_begun(struct MHD_Connection *c);
/* The request on c is in (its body is read, or it is answered early): the deadline no longer
 * applies to it. Call from the access handler. 1 when the front is stopping (the answer
 * should then close the connection), else 0. */
int cm_http_guard_request_in(struct MHD_Connection *c);
/* The request on c is over (MHD_OPTION_NOTIFY_COMPLETED): a next request on the same
 * connection gets a deadline of its own, counted from now. */
void cm_http_guard_request_done(struct MHD_Connection *c);

#endif
