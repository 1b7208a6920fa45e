/* SPDX-License-Identifier: MIT */
/*
 * The one parser of the host part of a git URL, shared by the intake's "is this clone URL on
 * the endpoint's host" check and the mirrors' SSH and TLS host names.
 */
#ifndef CM_URL_H
#define CM_URL_H

#include <stddef.h>

/* Host and port of a scheme://[user[:pw]@]host[:port][/...] URL or an scp-like
 * [user@]host:path. host gets the name as written, without the brackets of an IPv6
 * address; *port the explicit port or 0; *scp 1 for the scp-like form. CM_OK, or CM_EINVAL
 * when url has no host (or it does not fit). */
int cm_url_host(const char *url, char *host, size_t hostlen, int *port, int *scp);

#endif
