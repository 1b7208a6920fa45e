/* SPDX-License-Identifier: MIT */
/*
 * The text side of mirrors, kept apart from libgit2: secrets masked in messages, the
 * SSH or HTTPS host a URL names, the one-line message that says why a sync failed, and the CA
 * bundle file handed to libgit2.
 */
#ifndef CM_MIRROR_URL_H
#define CM_MIRROR_URL_H

#include <stddef.h>
#include "sync/mirror.h"

/* Overwrite every occurrence of secret (NULL or "" for none) in buf with '*'. */
void cm_mirror_url_scrub(char *buf, const char *secret);

/* Host (lowercased) and port (22 unless given) of an ssh://, git+ssh:// or scp-like
 * user@host:path URL, as cm_url_parse reads it. CM_OK, or CM_EINVAL when url is not an SSH
 * URL. */
int cm_mirror_url_ssh_host(const char *url, char *host, size_t hostlen, int *port);

/* A new temp file holding the system's CA bundle (SSL_CERT_FILE, else the first of the usual
 * distributions' paths) and then the n files, its name into path. When no system bundle file
 * exists *sysdir is "/etc/ssl/certs", to load as a directory, else NULL. The caller unlinks
 * it. CM_OK, or CM_ERROR with one line in err naming the file that failed. */
int cm_mirror_ca_bundle(char *const *files, size_t n, char *path, size_t pathlen,
                        const char **sysdir, char *err, size_t errlen);

/* Why a sync failed, when a libgit2 callback found out before libgit2 gave up. */
enum cm_mirror_why {
    CM_MIRROR_WHY_NONE, /* libgit2's own message says it */
    CM_MIRROR_WHY_AUTH_MISSING,
    CM_MIRROR_WHY_AUTH_FAILED,
    CM_MIRROR_WHY_KEY_MISSING,
    CM_MIRROR_WHY_KEY_UNREADABLE,
    CM_MIRROR_WHY_HOST_UNKNOWN,
    CM_MIRROR_WHY_HOST_CHANGED,
    CM_MIRROR_WHY_HOST_REVOKED,
    CM_MIRROR_WHY_HOST_NOKEY,
    CM_MIRROR_WHY_HOST_NOFILE,
    CM_MIRROR_WHY_TIMEOUT,
    CM_MIRROR_WHY_TLS_UNTRUSTED, /* the peer's certificate failed libgit2's check */
    CM_MIRROR_WHY_CRED_ELSEWHERE /* credentials were asked for another URL than the mirror's */
};

/* What the callbacks of one sync learnt about its failure. */
struct cm_mirror_diag {
    enum cm_mirror_why why;
    int key_tries;   /* non-zero once an SSH key was offered */
    int saved_errno; /* for KEY_UNREADABLE and HOST_NOFILE */
    int timeout;     /* seconds, for TIMEOUT */
    char host[256];  /* the SSH host as known_hosts names it (host or [host]:port), or
                      * the TLS host as host:port */
    char fingerprint[64];
    char asked[256]; /* CRED_ELSEWHERE: scheme://host:port that asked */
};

/* One line into err for a failed sync of shown_url (already without its password): ours when
 * d->why says why, else built from libgit2's message lib_msg, which is worth retrying when
 * transient (a network, OS, SSH, HTTP or TLS error). auth's token and passphrase and
 * url_password are masked out of it. Returns CM_EAGAIN (worth retrying), CM_ENOENT (the host
 * says the repository does not exist) or CM_ERROR. */
int cm_mirror_url_failure(const struct cm_mirror_diag *d, const char *shown_url,
                          const char *url_password, const struct cm_mirror_auth *auth,
                          const char *lib_msg, int transient, char *err, size_t errlen);

#endif
