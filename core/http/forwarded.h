/* SPDX-License-Identifier: MIT */
/*
 * Who sent a request: the peer, or behind a reverse proxy listed in server.trusted_proxies,
 * the client its X-Forwarded-For names. No libmicrohttpd here, so tests drive it alone.
 */
#ifndef CM_HTTP_FORWARDED_H
#define CM_HTTP_FORWARDED_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"

/* Room for an address as text: an IPv6 literal and its NUL. */
#define CM_ADDR_TEXT 48

struct cm_http_client {
    /* The client's address: what allow_from checks and the records show. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } addr;
    int known;               /* addr holds an address (not for an unreadable X-Forwarded-For) */
    char text[CM_ADDR_TEXT]; /* addr as text, or "unknown" */
    char via[CM_ADDR_TEXT];  /* the trusted proxy the request came through, "" when direct */
};

/* Judge who sent a request that came from peer (may be NULL: unknown) with the
 * X-Forwarded-For value xff (several headers joined with ", "; NULL when none). The header
 * counts only when the peer is in trusted (n entries): then its entries are read right to
 * left, each trusted one a proxy on the way, and the first that is not trusted is the client
 * (the left-most when all are). An entry that is not an address makes the client unknown: a
 * trusted proxy forwarded what it could not vouch for. Every value is written into *out. */
void cm_http_client_judge(struct cm_http_client *out, const struct sockaddr *peer, const char *xff,
                          const struct cm_cidr *trusted, size_t n);

#endif
