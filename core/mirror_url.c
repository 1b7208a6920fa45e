/* SPDX-License-Identifier: MIT */
/*
 * Mirror URLs and messages without libgit2: the password taken out of a URL before it is
 * shown, secrets masked in messages, the SSH host and port a URL names, and the one line that
 * tells the user why a sync failed and what to change.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "mirror_url.h"

int cm_mirror_url_split(const char *url, char **shown, char **password)
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

void cm_mirror_url_scrub(char *buf, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    char *p = buf;

    while (n && (p = strstr(p, secret)) != NULL) {
        memset(p, '*', n);
        p += n;
    }
}

int cm_mirror_url_ssh_host(const char *url, char *host, size_t hostlen, int *port)
{
    const char *p = url, *end;
    size_t n;

    *port = 22;
    if (!strncmp(p, "ssh://", 6) || !strncmp(p, "git+ssh://", 10) ||
        !strncmp(p, "ssh+git://", 10)) {
        p = strstr(p, "://") + 3;
        end = p + strcspn(p, "/");
    } else if (!strstr(p, "://") && strchr(p, ':')) {
        end = strchr(p, ':');
    } else {
        return CM_EINVAL;
    }
    if (memchr(p, '@', (size_t)(end - p)))
        p = (const char *)memchr(p, '@', (size_t)(end - p)) + 1;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));

        if (!close)
            return CM_EINVAL;
        n = (size_t)(close - p - 1);
        p++;
        if (close[1] == ':')
            *port = atoi(close + 2);
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));

        n = (size_t)((colon ? colon : end) - p);
        if (colon && colon + 1 < end)
            *port = atoi(colon + 1);
    }
    if (n == 0 || n >= hostlen)
        return CM_EINVAL;
    for (size_t i = 0; i < n; i++)
        host[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
    host[n] = '\0';
    return CM_OK;
}

/* The message for a failure libgit2 alone saw; CM_EAGAIN when it may go away by itself. */
static int mu_lib_failure(const char *url, const char *msg, int transient, char *err,
                          size_t errlen)
{
    int not_found = strstr(msg, "404") || strstr(msg, "not found") ||
                    strstr(msg, "does not appear");

    if (not_found)
        snprintf(err, errlen, "repository not found at %s (%s): check the URL and that "
                 "the credentials may read it", url, msg);
    else
        snprintf(err, errlen, "fetching %s failed: %s", url, msg);
    return transient && !strstr(msg, "404") ? CM_EAGAIN : CM_ERROR;
}

int cm_mirror_url_failure(const struct cm_mirror_diag *d, const char *shown_url,
                          const char *url_password, const struct cm_mirror_auth *auth,
                          const char *lib_msg, int transient, char *err, size_t errlen)
{
    int rc = CM_ERROR;

    switch (d->why) {
    case CM_MIRROR_WHY_AUTH_MISSING:
        snprintf(err, errlen, "authentication required for %s: set git.auth_user/auth_token "
                 "(GIT_AUTH_USER/GIT_AUTH_TOKEN)", shown_url);
        break;
    case CM_MIRROR_WHY_AUTH_FAILED:
        snprintf(err, errlen, "authentication failed for %s: check %s", shown_url,
                 d->key_tries ? "git.ssh_key, its passphrase, and that the host accepts the key"
                              : "git.auth_user/auth_token");
        break;
    case CM_MIRROR_WHY_KEY_MISSING:
        snprintf(err, errlen, "%s needs an SSH key: set git.ssh_key", shown_url);
        break;
    case CM_MIRROR_WHY_KEY_UNREADABLE:
        snprintf(err, errlen, "cannot read git.ssh_key %s: %s", auth->ssh_key,
                 strerror(d->saved_errno));
        break;
    case CM_MIRROR_WHY_HOST_UNKNOWN:
        snprintf(err, errlen, "unknown SSH host key for %s (%s): add it to git.ssh_known_hosts",
                 d->host, d->fingerprint);
        break;
    case CM_MIRROR_WHY_HOST_CHANGED:
        snprintf(err, errlen, "SSH host key for %s (%s) differs from git.ssh_known_hosts: "
                 "replace the entry only if the host's key really changed", d->host,
                 d->fingerprint);
        break;
    case CM_MIRROR_WHY_HOST_REVOKED:
        snprintf(err, errlen, "SSH host key for %s (%s) is marked @revoked in "
                 "git.ssh_known_hosts", d->host, d->fingerprint);
        break;
    case CM_MIRROR_WHY_HOST_NOFILE:
        snprintf(err, errlen, "cannot read git.ssh_known_hosts %s: %s", auth->ssh_known_hosts,
                 strerror(d->saved_errno));
        break;
    case CM_MIRROR_WHY_HOST_NOKEY:
        snprintf(err, errlen, "cannot check the SSH host key of %s: this libgit2 does not "
                 "expose raw host keys", d->host);
        break;
    case CM_MIRROR_WHY_TIMEOUT:
        snprintf(err, errlen, "fetching %s made no progress for %d s: the host may be down "
                 "or overloaded", shown_url, d->timeout);
        rc = CM_EAGAIN;
        break;
    default:
        rc = mu_lib_failure(shown_url, lib_msg, transient, err, errlen);
    }
    if (auth) {
        cm_mirror_url_scrub(err, auth->token);
        cm_mirror_url_scrub(err, auth->ssh_passphrase);
    }
    cm_mirror_url_scrub(err, url_password);
    return rc;
}
