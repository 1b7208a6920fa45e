/* SPDX-License-Identifier: MIT */
/*
 * libgit2's process-wide state: its initialisation and options (no user git config, fsync,
 * timeouts), and the CA files TLS trusts, which libgit2 holds for the whole process.
 */
#define _GNU_SOURCE
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "sync/mirror_url.h"

/* libgit2's TLS trust is process-wide, and with the mbedTLS backend of Debian's libgit2 1.5,
 * GIT_OPT_SET_SSL_CERT_LOCATIONS frees and reparses it in place: no handshake may run
 * meanwhile. So every fetch holds mr_tls for reading, and a CA file not loaded before is added
 * under the write lock (once per file: writers first, so a stream of fetches cannot starve it).
 * What is loaded is one merged bundle, the system's CAs and every file so far, so each
 * endpoint's CA stays trusted whichever was added last. */
static pthread_rwlock_t mr_tls = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static char **mr_ca_files; /* owned; guarded by mr_tls */
static size_t mr_n_ca_files;

/* Seconds without progress before a fetch is abandoned, unless auth->timeout says otherwise:
 * set by cm_mirror_global_init before any thread fetches, read-only after. */
static int mr_timeout = 120;

int cm_mirror_global_init(int timeout)
{
    if (git_libgit2_init() < 0)
        return CM_ERROR;
    mr_timeout = timeout > 0 ? timeout : 120;
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 7)
    /* Process-wide in libgit2: set here, once, not by each sync while others fetch. */
    git_libgit2_opts(GIT_OPT_SET_SERVER_TIMEOUT, mr_timeout * 1000);
#endif
    /* No user's or system's git config (url.*.insteadOf, http.proxy, credential helpers...)
     * decides how a mirror is fetched, and a service user whose $HOME is unreadable still
     * fetches: libgit2 otherwise fails on stat'ing ~/.gitconfig. */
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_PROGRAMDATA, "");
    /* A mirror must survive a power cut as well as a kill: fsync objects, packs and refs. */
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    git_libgit2_opts(GIT_OPT_SET_USER_AGENT, "cargoman");
    return CM_OK;
}

void cm_mirror_global_shutdown(void)
{
    /* The last shutdown drops libgit2's CA list; after the next init the files load again. */
    pthread_rwlock_wrlock(&mr_tls);
    if (git_libgit2_shutdown() == 0) {
        for (size_t i = 0; i < mr_n_ca_files; i++)
            free(mr_ca_files[i]);
        free(mr_ca_files);
        mr_ca_files = NULL;
        mr_n_ca_files = 0;
    }
    pthread_rwlock_unlock(&mr_tls);
}

int cm_mirror_default_timeout(void)
{
    return mr_timeout;
}

/* Load one bundle of the system's CAs and the first n files into libgit2; added names the
 * newest for messages. Under mr_tls's write lock. */
static int mr_tls_load(size_t n, const char *added, char *err, size_t errlen)
{
    const char *sysdir;
    char path[4096];
    int rc = cm_mirror_ca_bundle(mr_ca_files, n, path, sizeof(path), &sysdir, err, errlen);

    if (rc != CM_OK)
        return rc;
    if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, path, sysdir) != 0) {
        snprintf(err, errlen,
                 "cannot load ssl_ca_file %s with the system's CAs (%s): check "
                 "that it is a PEM file",
                 added, cm_mirror_git_msg());
        rc = CM_ERROR;
    }
    unlink(path); /* libgit2 has parsed it */
    return rc;
}

/* Make sure file (or nothing, when NULL) is trusted, then hold mr_tls for reading until the
 * fetch is done (cm_mirror_tls_end). CM_OK, or CM_ERROR with err set and no lock held. */
int cm_mirror_tls_begin(const char *file, char *err, size_t errlen)
{
    char **grown;
    int rc = CM_OK, known = !file;

    pthread_rwlock_rdlock(&mr_tls);
    for (size_t i = 0; !known && i < mr_n_ca_files; i++)
        known = !strcmp(mr_ca_files[i], file);
    if (known)
        return CM_OK;
    pthread_rwlock_unlock(&mr_tls);

    pthread_rwlock_wrlock(&mr_tls);
    for (size_t i = 0; !known && i < mr_n_ca_files; i++)
        known = !strcmp(mr_ca_files[i], file);
    if (!known) {
        grown = realloc(mr_ca_files, (mr_n_ca_files + 1) * sizeof(*grown));
        if (grown)
            mr_ca_files = grown;
        if (!grown || !(mr_ca_files[mr_n_ca_files] = strdup(file))) {
            snprintf(err, errlen, "out of memory loading ssl_ca_file %s", file);
            rc = CM_ERROR;
        } else if ((rc = mr_tls_load(++mr_n_ca_files, file, err, errlen)) != CM_OK) {
            /* Leave libgit2 with what worked before rather than with no CAs at all. */
            char ignored[256];

            free(mr_ca_files[--mr_n_ca_files]);
            mr_tls_load(mr_n_ca_files, file, ignored, sizeof(ignored));
        }
    }
    pthread_rwlock_unlock(&mr_tls);
    /* The set only grows, so what was just loaded is still there under the read lock. */
    if (rc == CM_OK)
        pthread_rwlock_rdlock(&mr_tls);
    return rc;
}

void cm_mirror_tls_end(void)
{
    pthread_rwlock_unlock(&mr_tls);
}
