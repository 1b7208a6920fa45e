/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX, inet_pton */
#endif

/*
 * Address parsing for the configuration: allow_from CIDR entries (IPv4 and IPv6, with
 * v4-mapped IPv6 peers matched against IPv4 entries) and the server's listen address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "config/config.h"

/* Digits only, no sign or spaces, at most max. -1 when it is not such a number. */
static int cidr_small_uint(const char *s, unsigned max, unsigned *out)
{
    unsigned v = 0;

    if (!*s || strlen(s) > 5)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* A bounded copy of a non-empty src into dst; -1 when it is empty or does not fit. */
static int cidr_copy(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);

    if (len == 0 || len >= size)
        return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

int cm_cidr_parse(const char *text, struct cm_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned max, prefix;

    memset(out, 0, sizeof(*out));
    if (cidr_copy(buf, sizeof(buf), text) < 0)
        return CM_EINVAL;
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    out->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    max = out->family == AF_INET6 ? 128 : 32;
    if (inet_pton(out->family, buf, out->addr) != 1)
        return CM_EINVAL;
    prefix = max;
    if (slash && cidr_small_uint(slash + 1, max, &prefix) < 0)
        return CM_EINVAL;
    out->prefix = prefix;
    /* Keep only the network part so "10.1.2.3/8" means what "10.0.0.0/8" means. */
    for (unsigned bit = prefix; bit < max; bit++)
        out->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return CM_OK;
}

static int cidr_contains(const struct cm_cidr *c, const unsigned char *addr)
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;

    if (memcmp(c->addr, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

int cm_cidr_match(const struct cm_cidr *list, size_t n, const struct sockaddr *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned char v4[4], v6[16];
    int has_v4 = 0, has_v6 = 0;

    if (!addr)
        return 0;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)addr;
        memcpy(v4, &sin->sin_addr, 4);
        memcpy(v6, mapped, 12);
        memcpy(v6 + 12, v4, 4);
        has_v4 = has_v6 = 1;
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)addr;
        memcpy(v6, &sin6->sin6_addr, 16);
        has_v6 = 1;
        if (memcmp(v6, mapped, 12) == 0) {
            memcpy(v4, v6 + 12, 4);
            has_v4 = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].family == AF_INET && has_v4 && cidr_contains(&list[i], v4))
            return 1;
        if (list[i].family == AF_INET6 && has_v6 && cidr_contains(&list[i], v6))
            return 1;
    }
    return 0;
}

int cm_cidr_is_loopback(const struct sockaddr *addr)
{
    /* cm_cidr_match reads a v4-mapped peer (::ffff:127.0.0.1) as its IPv4 address. */
    static const struct cm_cidr loopback[] = {
        {AF_INET, {127}, 8},
        {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},
    };
    return cm_cidr_match(loopback, sizeof(loopback) / sizeof(*loopback), addr);
}

int cm_config_split_listen(const char *listen, char *host, size_t hostlen, unsigned *port)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char bin[16];
    const char *portstr;
    int family;

    if (cidr_copy(buf, sizeof(buf), listen) < 0)
        return CM_EINVAL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != ':')
            return CM_EINVAL;
        *close = '\0';
        memmove(buf, buf + 1, strlen(buf + 1) + 1);
        portstr = close + 2; /* past "]:"; the memmove shifts only what precedes it */
        family = AF_INET6;
    } else {
        char *colon = strrchr(buf, ':');
        if (!colon || colon != strchr(buf, ':'))
            return CM_EINVAL;
        *colon = '\0';
        portstr = colon + 1;
        family = AF_INET;
    }
    if (inet_pton(family, buf, bin) != 1 || cidr_small_uint(portstr, 65535, port) < 0 ||
        *port == 0 || cidr_copy(host, hostlen, buf) < 0)
        return CM_EINVAL;
    return CM_OK;
}

int cm_config_listen_is_loopback(const char *listen)
{
    /* A union, so the family written through one member is read through another legally. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } a;
    struct cm_cidr lo[2];
    char host[64];
    unsigned port;

    memset(&a, 0, sizeof(a));
    if (cm_config_split_listen(listen, host, sizeof(host), &port) != CM_OK ||
        cm_cidr_parse("127.0.0.0/8", &lo[0]) != CM_OK || cm_cidr_parse("::1", &lo[1]) != CM_OK)
        return 0;
    if (inet_pton(AF_INET, host, &a.in.sin_addr) == 1)
        a.in.sin_family = AF_INET;
    else if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) == 1)
        a.in6.sin6_family = AF_INET6;
    else
        return 0;
    return cm_cidr_match(lo, 2, &a.sa);
}
