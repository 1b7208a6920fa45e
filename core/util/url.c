/* SPDX-License-Identifier: MIT */
/*
 * Strict parsing of git remote URLs (url.h). It refuses what libgit2 might read differently
 * from us (a scheme that is not at the start, several '@', escapes in the host), because a
 * URL we misread is a fetch, and credentials, sent to a host nobody configured.
 */
#define _GNU_SOURCE /* strndup */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cargoman/plugin.h"
#include "util/url.h"

static const struct {
    const char *prefix, *scheme;
    unsigned port;
} url_schemes[] = {
    {"https://", "https", 443}, {"http://", "http", 80},   {"ssh://", "ssh", 22},
    {"git+ssh://", "ssh", 22},  {"ssh+git://", "ssh", 22}, {"git://", "git", 9418},
};

static int url_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int url_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Characters of a user name (user info or scp); what hosts use, nothing that delimits. */
static int url_user_char(int c)
{
    return url_alpha(c) || url_digit(c) || c == '.' || c == '_' || c == '-' || c == '~' ||
           c == '+' || c == '%';
}

/* A scheme name at the start of s followed by "://": its length, else 0. */
static size_t url_scheme_len(const char *s)
{
    size_t n = 0;

    if (!url_alpha((unsigned char)s[0]))
        return 0;
    while (url_alpha((unsigned char)s[n]) || url_digit((unsigned char)s[n]) || s[n] == '+' ||
           s[n] == '-' || s[n] == '.')
        n++;
    return strncmp(s + n, "://", 3) == 0 ? n : 0;
}

/* Copy the user part of user info s (n bytes, the password after ':' is dropped). */
static int url_user(const char *s, size_t n, struct cm_url *out)
{
    const char *colon = memchr(s, ':', n);
    size_t u = colon ? (size_t)(colon - s) : n;

    if (u == 0 || u >= sizeof(out->user))
        return CM_EINVAL;
    for (size_t i = 0; i < u; i++)
        if (!url_user_char((unsigned char)s[i]))
            return CM_EINVAL;
    memcpy(out->user, s, u);
    out->user[u] = '\0';
    return CM_OK;
}

/* A DNS name (letters, digits, '-', '_', '.'; no empty label) or an IPv4 literal. */
static int url_reg_name(const char *h, size_t n)
{
    if (n == 0 || h[0] == '.' || h[0] == '-' || h[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)h[i];
        if (!(url_alpha(c) || url_digit(c) || c == '-' || c == '_' || c == '.'))
            return 0;
        if (c == '.' && h[i + 1] == '.')
            return 0;
    }
    return 1;
}

/* Host (and port, unless scp) of the authority s..end into out. */
static int url_host_port(const char *s, const char *end, int scp, struct cm_url *out)
{
    const char *colon;
    size_t n;

    if (*s == '[') {
        const char *close = memchr(s, ']', (size_t)(end - s));
        unsigned char a6[16];
        if (!close || (size_t)(close - s - 1) >= sizeof(out->host))
            return CM_EINVAL;
        n = (size_t)(close - s - 1);
        memcpy(out->host, s + 1, n);
        out->host[n] = '\0';
        if (inet_pton(AF_INET6, out->host, a6) != 1)
            return CM_EINVAL;
        colon = close + 1 < end ? close + 1 : NULL;
        if (colon && *colon != ':')
            return CM_EINVAL;
    } else {
        colon = memchr(s, ':', (size_t)(end - s));
        n = (size_t)((colon ? colon : end) - s);
        if (n >= sizeof(out->host) || !url_reg_name(s, n))
            return CM_EINVAL;
        memcpy(out->host, s, n);
        out->host[n] = '\0';
    }
    for (char *c = out->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    if (!colon)
        return CM_OK;
    if (scp)
        return CM_EINVAL;
    unsigned long port = 0;
    const char *p = colon + 1;
    if (p == end || end - p > 5)
        return CM_EINVAL;
    for (; p < end; p++) {
        if (!url_digit((unsigned char)*p))
            return CM_EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535)
        return CM_EINVAL;
    out->port = (unsigned)port;
    out->explicit_port = 1;
    return CM_OK;
}

/* No "." or ".." segment, also spelt with %2e, in a path; no escaped '/', '\\' or '%', which
 * a server that decodes before it resolves dot segments would read as more segments. */
static int url_path_ok(const char *path)
{
    const char *p = path;

    for (const char *e = strchr(path, '%'); e; e = strchr(e + 1, '%'))
        if (!strncasecmp(e, "%2f", 3) || !strncasecmp(e, "%5c", 3) || !strncmp(e, "%25", 3))
            return 0;

    while (*p) {
        size_t n = strcspn(p, "/"), dots = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '.')
                dots++;
            else if (p[i] == '%' && p[i + 1] == '2' && (p[i + 2] == 'e' || p[i + 2] == 'E'))
                dots++, i += 2;
            else
                dots = 99;
        }
        if (n > 0 && dots <= 2)
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

int cm_url_parse(const char *url, struct cm_url *out)
{
    const char *auth, *end, *at;
    size_t slen;

    memset(out, 0, sizeof(*out));
    if (!url || !*url)
        return CM_EINVAL;
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '\\' || *c == '?' ||
            *c == '#')
            return CM_EINVAL;
    if ((slen = url_scheme_len(url)) > 0) {
        size_t i = 0, n = sizeof(url_schemes) / sizeof(url_schemes[0]);
        while (i < n && strncmp(url, url_schemes[i].prefix, strlen(url_schemes[i].prefix)))
            i++;
        if (i == n)
            return CM_EINVAL; /* file://, ext::, and every scheme we do not fetch */
        snprintf(out->scheme, sizeof(out->scheme), "%s", url_schemes[i].scheme);
        out->port = url_schemes[i].port;
        auth = url + strlen(url_schemes[i].prefix);
        end = auth + strcspn(auth, "/");
    } else {
        /* scp form: libgit2 reads anything with a ':' and no known scheme prefix this way,
         * so "evil:x://good/r" goes to evil. We refuse the ambiguous spelling outright. */
        if (strstr(url, "://"))
            return CM_EINVAL;
        end = strchr(url, ':');
        if (!end || memchr(url, '/', (size_t)(end - url)) || end[1] == '\0')
            return CM_EINVAL;
        snprintf(out->scheme, sizeof(out->scheme), "ssh");
        out->port = 22;
        out->scp = 1;
        auth = url;
    }
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at) {
        if (memchr(at + 1, '@', (size_t)(end - at - 1)) || url_user(auth, (size_t)(at - auth), out))
            return CM_EINVAL;
        if (out->scp && memchr(auth, ':', (size_t)(at - auth)))
            return CM_EINVAL;
        auth = at + 1;
    }
    if (auth == end || url_host_port(auth, end, out->scp, out) != CM_OK)
        return CM_EINVAL;
    /* "https:/h/r" is a URL with a '/' missing, not an SSH host named https. */
    for (size_t i = 0; out->scp && i < sizeof(url_schemes) / sizeof(url_schemes[0]); i++)
        if (!strncmp(url_schemes[i].prefix, out->host, strlen(out->host)) &&
            url_schemes[i].prefix[strlen(out->host)] == ':')
            return CM_EINVAL;
    if (out->scp && !strcmp(out->host, "file"))
        return CM_EINVAL;
    out->path = out->scp ? end + 1 : end;
    return url_path_ok(out->path) ? CM_OK : CM_EINVAL;
}

/* Lenient on purpose: it must find a password also in a URL cm_url_parse refuses, since that
 * URL still appears in messages. */
int cm_url_split_password(const char *url, char **shown, char **password)
{
    const char *auth = strstr(url, "://"), *at, *colon, *end;

    *shown = *password = NULL;
    if (auth) {
        auth += 3;
        end = auth + strcspn(auth, "/?#");
        at = memchr(auth, '@', (size_t)(end - auth));
        colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            size_t head = (size_t)(colon - url), tail = strlen(at);

            *password = strndup(colon + 1, (size_t)(at - colon - 1));
            *shown = malloc(head + tail + 1);
            if (!*password || !*shown)
                return CM_ENOMEM;
            memcpy(*shown, url, head);
            memcpy(*shown + head, at, tail + 1);
            return CM_OK;
        }
    }
    *shown = strdup(url);
    return *shown ? CM_OK : CM_ENOMEM;
}

int cm_url_same_origin(const struct cm_url *a, const struct cm_url *b)
{
    return !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) && a->port == b->port;
}

int cm_url_host_port(const char *url, char *out, size_t outlen)
{
    struct cm_url u;
    int n;

    if (cm_url_parse(url, &u) != CM_OK || (strcmp(u.scheme, "https") && strcmp(u.scheme, "http")))
        return CM_EINVAL;
    /* An IPv6 address keeps its brackets, as host:port needs them. */
    n = snprintf(out, outlen, strchr(u.host, ':') ? "[%s]:%u" : "%s:%u", u.host, u.port);
    return n > 0 && (size_t)n < outlen ? CM_OK : CM_EINVAL;
}

int cm_url_expand(const char *template_, const char *repository, char *out, size_t outlen)
{
    static const char placeholder[] = "{repository}";
    const char *at = strstr(template_, placeholder);
    int n;

    if (!at)
        return CM_EINVAL;
    n = snprintf(out, outlen, "%.*s%s%s", (int)(at - template_), template_, repository,
                 at + sizeof(placeholder) - 1);
    return n > 0 && (size_t)n < outlen ? CM_OK : CM_EINVAL;
}
