/* SPDX-License-Identifier: MIT */
/*
 * The one parser of git remote URLs. Everything that decides where a fetch goes (the intake's
 * fetch-URL policy, the credentials callback, the SSH and TLS host names) reads a URL through
 * it, so no two places can disagree about which host a URL names.
 */
#ifndef CM_URL_H
#define CM_URL_H

#include <stddef.h>

/* A remote URL, parsed strictly. */
struct cm_url {
    char scheme[8]; /* "https", "http", "ssh" or "git"; "ssh" also for git+ssh:// and scp */
    char user[128]; /* the user of the user info, "" when none */
    char host[256]; /* lowercased; an IPv6 literal without its brackets */
    unsigned port;  /* the explicit port, else the scheme's default (443, 80, 22, 9418) */
    int explicit_port;
    int scp;          /* 1 for the scp-like form [user@]host:path */
    const char *path; /* borrowed from the parsed text: "/o/r.git" (scp: what follows ':'),
                       * "" when the URL ends after the authority */
};

/*
 * Parse url into *out. CM_OK, or CM_EINVAL when it is anything else than:
 *   scheme://[user[:password]@]host[:port][/path]  with scheme https, http, ssh, git+ssh,
 *                                                  ssh+git or git, lowercase, at position 0;
 *   [user@]host:path                               the scp form, with no "://" anywhere.
 * Also refused: file:// and local paths, control characters, spaces and backslashes, a
 * query or fragment, more than one '@' in the authority, a host that is not a DNS name or
 * an IP literal, a port outside 1..65535, "." or ".." path segments (also %2e-encoded), and
 * an scp form whose host is a scheme name ("https:/h/r", a URL with a '/' missing).
 */
int cm_url_parse(const char *url, struct cm_url *out);

/* Split url into *shown, the url without the password of its user info
 * ("https://u:p@h/x" -> "https://u@h/x"), and *password (NULL when there is none), also for a
 * URL cm_url_parse refuses. Both are the caller's, freed with free() also on failure. CM_OK or
 * CM_ENOMEM. */
int cm_url_split_password(const char *url, char **shown, char **password);

/* 1 when a and b have the same scheme, host and port, else 0. */
int cm_url_same_origin(const struct cm_url *a, const struct cm_url *b);

/* Put repository into template at its first "{repository}" (a clone_url) into out. CM_OK, or
 * CM_EINVAL when there is no placeholder or out is too small. */
int cm_url_expand(const char *template_, const char *repository, char *out, size_t outlen);

/* "host:port" of an http(s) URL (IPv6 in brackets) into out, as TLS messages name it.
 * CM_OK, or CM_EINVAL when url is not http(s) or out is too small. */
int cm_url_host_port(const char *url, char *out, size_t outlen);

#endif
