/* SPDX-License-Identifier: MIT */
/*
 * Mirror URLs and messages without libgit2: secrets masked in messages, the SSH host and port
 * a URL names (util/url.c reads it, and takes the password out of a URL before it is shown),
 * the one line that tells the user why a sync failed and what to change, and the merged CA
 * bundle for libgit2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "sync/mirror_url.h"
#include "util/url.h"

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
    struct cm_url u;

    if (cm_url_parse(url, &u) != CM_OK || strcmp(u.scheme, "ssh") ||
        (size_t)snprintf(host, hostlen, "%s", u.host) >= hostlen)
        return CM_EINVAL;
    *port = (int)u.port;
    return CM_OK;
}

/* Append the file at from to f, ending it with a newline. 0, or -1 with errno set. */
static int mu_append(FILE *f, const char *from)
{
    char buf[65536];
    FILE *in = fopen(from, "rb");
    size_t n;
    int rc = 0;

    if (!in)
        return -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, f) != n)
            rc = -1;
    if (rc == 0 && (ferror(in) || fputc('\n', f) == EOF))
        rc = -1;
    fclose(in);
    return rc;
}

int cm_mirror_ca_bundle(char *const *files, size_t n, char *path, size_t pathlen,
                        const char **sysdir, char *err, size_t errlen)
{
    static const char *const sys[] = {
        "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine */
        "/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
        "/etc/ssl/ca-bundle.pem",             /* openSUSE */
        "/etc/ssl/cert.pem",                  /* BSDs, macOS */
    };
    const char *tmp = getenv("TMPDIR"), *env = getenv("SSL_CERT_FILE"), *base = NULL;
    FILE *f = NULL;
    int fd, rc = CM_ERROR;
    struct stat st;

    *sysdir = NULL;
    if (env && *env && stat(env, &st) == 0 && S_ISREG(st.st_mode))
        base = env;
    for (size_t i = 0; !base && i < sizeof(sys) / sizeof(sys[0]); i++)
        if (stat(sys[i], &st) == 0 && S_ISREG(st.st_mode))
            base = sys[i];
    if (!base)
        *sysdir = "/etc/ssl/certs";
    snprintf(path, pathlen, "%s/cargoman-ca-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if ((fd = mkstemp(path)) < 0 || !(f = fdopen(fd, "wb"))) {
        snprintf(err, errlen, "cannot create a CA bundle in %s: %s", tmp && *tmp ? tmp : "/tmp",
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return CM_ERROR;
    }
    if (base && mu_append(f, base) != 0) {
        snprintf(err, errlen, "cannot read the system CA bundle %s: %s", base, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (mu_append(f, files[i]) != 0) {
            snprintf(err, errlen, "cannot read ssl_ca_file %s: %s", files[i], strerror(errno));
            goto out;
        }
    }
    rc = CM_OK;
out:
    if (fclose(f) != 0 && rc == CM_OK) {
        snprintf(err, errlen, "cannot write the CA bundle %s: %s", path, strerror(errno));
        rc = CM_ERROR;
    }
    if (rc != CM_OK)
        unlink(path);
    return rc;
}

/* The setting an SSH message sends the user to: git.KEY, or KEY of the endpoint that set it. */
static const char *mu_setting(char *buf, size_t len, const struct cm_mirror_auth *auth, int own,
                              const char *key)
{
    if (auth && own && auth->endpoint)
        snprintf(buf, len, "%s of endpoint \"%s\"", key, auth->endpoint);
    else
        snprintf(buf, len, "git.%s", key);
    return buf;
}

/* The message for a failure libgit2 alone saw; CM_EAGAIN when it may go away by itself. */
static int mu_lib_failure(const char *url, const char *msg, int transient, char *err, size_t errlen)
{
    /* What hosts say of a repository that does not exist (or that we may not see). */
    int missing = strstr(msg, "404") || strstr(msg, "does not appear") ||
                  strstr(msg, "repository not exported") || strcasestr(msg, "repository not found");
    int not_found =
        strstr(msg, "404") || strstr(msg, "not found") || strstr(msg, "does not appear");

    if (not_found)
        snprintf(err, errlen,
                 "repository not found at %s (%s): check the URL and that "
                 "the credentials may read it",
                 url, msg);
    else
        snprintf(err, errlen, "fetching %s failed: %s", url, msg);
    if (missing)
        return CM_ENOENT;
    return transient ? CM_EAGAIN : CM_ERROR;
}

int cm_mirror_url_failure(const struct cm_mirror_diag *d, const char *shown_url,
                          const char *url_password, const struct cm_mirror_auth *auth,
                          const char *lib_msg, int transient, char *err, size_t errlen)
{
    char key[300], kh[300];
    int rc = CM_ERROR;

    mu_setting(key, sizeof(key), auth, auth && auth->own_ssh_key, "ssh_key");
    mu_setting(kh, sizeof(kh), auth, auth && auth->own_known_hosts, "ssh_known_hosts");
    switch (d->why) {
    case CM_MIRROR_WHY_AUTH_MISSING:
        snprintf(err, errlen,
                 "authentication required for %s: set git.auth_user/auth_token "
                 "(GIT_AUTH_USER/GIT_AUTH_TOKEN)",
                 shown_url);
        break;
    case CM_MIRROR_WHY_AUTH_FAILED:
        snprintf(err, errlen, "authentication failed for %s: check %s%s", shown_url,
                 d->key_tries ? key : "git.auth_user/auth_token",
                 d->key_tries ? ", its passphrase, and that the host accepts the key" : "");
        break;
    case CM_MIRROR_WHY_KEY_MISSING:
        snprintf(err, errlen, "%s needs an SSH key: set %s", shown_url, key);
        break;
    case CM_MIRROR_WHY_KEY_UNREADABLE:
        snprintf(err, errlen, "cannot read %s %s: %s", key, auth->ssh_key,
                 strerror(d->saved_errno));
        break;
    case CM_MIRROR_WHY_HOST_UNKNOWN:
        snprintf(err, errlen, "unknown SSH host key for %s (%s): add it to %s", d->host,
                 d->fingerprint, kh);
        break;
    case CM_MIRROR_WHY_HOST_CHANGED:
        snprintf(err, errlen,
                 "SSH host key for %s (%s) differs from %s: "
                 "replace the entry only if the host's key really changed",
                 d->host, d->fingerprint, kh);
        break;
    case CM_MIRROR_WHY_HOST_REVOKED:
        snprintf(err, errlen, "SSH host key for %s (%s) is marked @revoked in %s", d->host,
                 d->fingerprint, kh);
        break;
    case CM_MIRROR_WHY_HOST_NOFILE:
        snprintf(err, errlen, "cannot read %s %s: %s", kh, auth->ssh_known_hosts,
                 strerror(d->saved_errno));
        break;
    case CM_MIRROR_WHY_HOST_NOKEY:
        snprintf(err, errlen,
                 "cannot check the SSH host key of %s: this libgit2 does not "
                 "expose raw host keys",
                 d->host);
        break;
    case CM_MIRROR_WHY_TIMEOUT:
        snprintf(err, errlen,
                 "fetching %s made no progress for %d s: the host may be down "
                 "or overloaded",
                 shown_url, d->timeout);
        rc = CM_EAGAIN;
        break;
    case CM_MIRROR_WHY_TLS_UNTRUSTED:
        if (auth && auth->ssl_ca_file)
            snprintf(err, errlen,
                     "TLS certificate of %s is not trusted by ssl_ca_file %s nor "
                     "the system's CAs (%s): check that the file holds the CA that signed it and "
                     "that the certificate names the host",
                     d->host, auth->ssl_ca_file, lib_msg);
        else
            snprintf(err, errlen,
                     "TLS certificate of %s is not trusted: set git.ssl_ca_file to "
                     "your CA's PEM bundle (%s)",
                     d->host, lib_msg);
        break;
    case CM_MIRROR_WHY_CRED_ELSEWHERE:
        snprintf(err, errlen,
                 "%s asked for credentials on behalf of %s: refused, as credentials go only "
                 "to the configured host (a redirect? set url or clone_url to the final "
                 "location)",
                 d->asked, shown_url);
        break;
    default: rc = mu_lib_failure(shown_url, lib_msg, transient, err, errlen);
    }
    if (auth) {
        cm_mirror_url_scrub(err, auth->token);
        cm_mirror_url_scrub(err, auth->ssh_passphrase);
    }
    cm_mirror_url_scrub(err, url_password);
    return rc;
}
