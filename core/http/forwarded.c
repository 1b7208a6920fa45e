/* SPDX-License-Identifier: MIT */
/*
 * X-Forwarded-For, honoured only from server.trusted_proxies: anyone else could write any
 * address into it, and allow_from would then believe them. Read right to left, as each proxy
 * appends the address it saw; the left part is what the client itself claimed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "http/forwarded.h"

/* The address in s[0..len) (spaces around it, brackets around an IPv6 literal allowed) into
 * *out; 0, or -1 when it is not one. */
static int fw_parse(const char *s, size_t len, struct cm_http_client *out)
{
    char buf[CM_ADDR_TEXT];

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
        s++, len -= 2;
    if (!len || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(&out->addr, 0, sizeof(out->addr));
    if (inet_pton(AF_INET, buf, &out->addr.in.sin_addr) == 1)
        out->addr.in.sin_family = AF_INET;
    else if (inet_pton(AF_INET6, buf, &out->addr.in6.sin6_addr) == 1)
        out->addr.in6.sin6_family = AF_INET6;
    else
        return -1;
    return 0;
}

/* out->addr as text into text (CM_ADDR_TEXT bytes). */
static void fw_text(const struct cm_http_client *c, char *text)
{
    const void *bin = c->addr.sa.sa_family == AF_INET ? (const void *)&c->addr.in.sin_addr
                                                      : (const void *)&c->addr.in6.sin6_addr;
    if (!inet_ntop(c->addr.sa.sa_family, bin, text, CM_ADDR_TEXT))
        snprintf(text, CM_ADDR_TEXT, "unknown");
}

/* The peer as the client: what every request without a trusted proxy gets. */
static void fw_peer(struct cm_http_client *out, const struct sockaddr *peer)
{
    memset(out, 0, sizeof(*out));
    if (peer && peer->sa_family == AF_INET)
        memcpy(&out->addr.in, peer, sizeof(out->addr.in));
    else if (peer && peer->sa_family == AF_INET6)
        memcpy(&out->addr.in6, peer, sizeof(out->addr.in6));
    out->known = out->addr.sa.sa_family != 0;
    if (out->known)
        fw_text(out, out->text);
    else
        snprintf(out->text, sizeof(out->text), "unknown");
}

void cm_http_client_judge(struct cm_http_client *out, const struct sockaddr *peer, const char *xff,
                          const struct cm_cidr *trusted, size_t n)
{
    const char *end;

    fw_peer(out, peer);
    /* An empty header names nobody: the proxy is the client then, as without one. */
    if (!out->known || !xff || !*xff || !n || !cm_cidr_match(trusted, n, &out->addr.sa))
        return;
    memcpy(out->via, out->text, sizeof(out->via));
    end = xff + strlen(xff);
    for (;;) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        struct cm_http_client hop = *out;
        if (fw_parse(start, (size_t)(end - start), &hop) != 0) {
            memset(&out->addr, 0, sizeof(out->addr));
            out->known = 0;
            snprintf(out->text, sizeof(out->text), "unknown");
            return;
        }
        *out = hop;
        fw_text(out, out->text);
        if (!cm_cidr_match(trusted, n, &out->addr.sa) || start == xff)
            return;
        end = start - 1; /* past the comma */
    }
}
