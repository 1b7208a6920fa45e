/* SPDX-License-Identifier: MIT */
/*
 * Bare mirrors with libgit2, the only file that includes it: clone/fetch with prune under a
 * per-mirror lock, credentials and SSH host keys checked in callbacks, the CA files TLS trusts,
 * and the read services (refs, files, zip archives, notes) that sync plugins get through
 * struct cm_host. What needs no libgit2 (URLs, hosts, failure messages, the merged CA bundle
 * file) is in mirror_url.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sync/known_hosts.h"
#include "sync/mirror.h"
#include "sync/mirror_url.h"
#include "sync/notes.h"
#include "sync/zip.h"
#include "util/fsutil.h"
#include "util/url.h"

#define MR_NOTES_FILE "cargoman-notes"

struct cm_mirror {
    char *path, *url, *shown_url, *endpoint, *repository; /* owned */
    char *url_password;   /* owned, only to scrub it from libgit2's messages; or NULL */
    pthread_mutex_t lock; /* guards everything below */
    char *default_branch; /* owned short name or NULL */
    char **retired;       /* earlier default_branch values: readers may still hold them */
    size_t n_retired;
    int is_new;
    struct cm_notes *notes;      /* owned; has its own lock */
    unsigned long long max_blob; /* git.max_blob_size; set before the mirror is shared */
    int missing; /* the last sync was a first clone of a repository the host lacks */
};

struct mr_sync {
    const struct cm_mirror *m;
    const struct cm_mirror_auth *auth;
    struct cm_mirror_diag d; /* what the callbacks learnt, for the message */
    int pass_tries;
    size_t last_bytes;
    unsigned last_objects;
    time_t last_progress;
};

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

/* ---- small helpers ---- */

int cm_mirror_path(char *out, size_t len, const char *data_dir, const char *endpoint,
                   const char *repository)
{
    int n = snprintf(out, len, "%s/mirrors/%s/%s.git", data_dir, endpoint, repository);

    return n > 0 && (size_t)n < len ? CM_OK : CM_EINVAL;
}

static const char *mr_git_msg(void)
{
    const git_error *e = git_error_last();

    return e && e->message ? e->message : "unknown libgit2 error";
}

/* Each read opens the repository afresh: a git_repository may not be shared between threads,
 * and a fresh one sees what the last sync wrote. */
static int mr_open_repo(const struct cm_mirror *m, git_repository **repo)
{
    return git_repository_open_bare(repo, m->path) == 0 ? CM_OK : CM_ENOENT;
}

static char *mr_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int mr_hex(const char *s, size_t min, size_t max)
{
    size_t n = strspn(s, "0123456789abcdefABCDEF");

    return s[n] == '\0' && n >= min && n <= max;
}

/* Lock files a killed fetch left behind would block every later ref update. */
static int mr_rm_lock(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);

    if (flag == FTW_F && n > 5 && !strcmp(path + n - 5, ".lock"))
        unlink(path);
    return 0;
}

/* Remove what a sync killed halfway left in the mirror: ref and config locks, and the temp
 * files of a pack it was receiving. Only called under the mirror's own lock, so nobody else
 * is writing them. */
static void mr_clean_stale(const char *path)
{
    static const char *const top[] = {"HEAD.lock", "packed-refs.lock", "config.lock",
                                      "FETCH_HEAD.lock", "shallow.lock"};
    char buf[4200];
    struct dirent *e;
    DIR *d;

    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        snprintf(buf, sizeof(buf), "%s/%s", path, top[i]);
        unlink(buf);
    }
    snprintf(buf, sizeof(buf), "%s/refs", path);
    nftw(buf, mr_rm_lock, 16, FTW_PHYS);
    snprintf(buf, sizeof(buf), "%s/objects/pack", path);
    if (!(d = opendir(buf)))
        return;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "pack_git2_", 10) || !strncmp(e->d_name, "tmp_", 4))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static int mr_cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
    static const enum cm_mirror_why why[] = {
        [CM_KH_MATCH] = CM_MIRROR_WHY_NONE,           [CM_KH_UNKNOWN] = CM_MIRROR_WHY_HOST_UNKNOWN,
        [CM_KH_CHANGED] = CM_MIRROR_WHY_HOST_CHANGED, [CM_KH_REVOKED] = CM_MIRROR_WHY_HOST_REVOKED,
        [CM_KH_NOFILE] = CM_MIRROR_WHY_HOST_NOFILE,
    };
    struct mr_sync *s = payload;
    const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
    const char *kh = s->auth ? s->auth->ssh_known_hosts : NULL;
    char h[200];
    int port;

    if (cert->cert_type == GIT_CERT_X509) {
        /* libgit2 checked it against the system's CAs and ssl_ca_file; its own message (kept
         * by passing through) says why it failed, ours where to add the CA. */
        if (!valid) {
            s->d.why = CM_MIRROR_WHY_TLS_UNTRUSTED;
            if (cm_url_host_port(s->m->url, s->d.host, sizeof(s->d.host)) != CM_OK ||
                strncasecmp(s->d.host, host, strlen(host)) || s->d.host[strlen(host)] != ':')
                snprintf(s->d.host, sizeof(s->d.host), "%s", host); /* redirected elsewhere */
        }
        return GIT_PASSTHROUGH;
    }
    if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
        return GIT_PASSTHROUGH;
    /* libgit2 does not pass the port, and known_hosts names other ports [host]:port. */
    if (cm_mirror_url_ssh_host(s->m->url, h, sizeof(h), &port) != CM_OK)
        snprintf(h, sizeof(h), "%s", host);
    cm_known_hosts_name(h, port, s->d.host, sizeof(s->d.host));
    if (hk->type & GIT_CERT_SSH_SHA256)
        cm_known_hosts_fingerprint(hk->hash_sha256, s->d.fingerprint, sizeof(s->d.fingerprint));
    /* Without a file of our own, trust what libgit2 found in ~/.ssh/known_hosts. */
    if (!kh || !*kh) {
        s->d.why = valid ? CM_MIRROR_WHY_NONE : CM_MIRROR_WHY_HOST_UNKNOWN;
        return valid ? 0 : GIT_ECERTIFICATE;
    }
    if (!(hk->type & GIT_CERT_SSH_RAW)) {
        s->d.why = CM_MIRROR_WHY_HOST_NOKEY;
        return GIT_ECERTIFICATE;
    }
    s->d.why = why[cm_known_hosts_check(kh, s->d.host, (const unsigned char *)hk->hostkey,
                                        hk->hostkey_len)];
    s->d.saved_errno = errno;
    return s->d.why == CM_MIRROR_WHY_NONE ? 0 : GIT_ECERTIFICATE;
}

/* ---- fetching ---- */

/* Credentials are answered only for the mirror's own scheme, host and port: whatever
 * libgit2 is talking to after a redirect never gets them. */
static int mr_cred_for_us(struct mr_sync *s, const char *url)
{
    struct cm_url mine, asked;

    if (url && cm_url_parse(url, &asked) == CM_OK && cm_url_parse(s->m->url, &mine) == CM_OK &&
        cm_url_same_origin(&mine, &asked))
        return 1;
    s->d.why = CM_MIRROR_WHY_CRED_ELSEWHERE;
    if (url && cm_url_parse(url, &asked) == CM_OK)
        snprintf(s->d.asked, sizeof(s->d.asked), "%s://%.200s:%u", asked.scheme, asked.host,
                 asked.port);
    else
        snprintf(s->d.asked, sizeof(s->d.asked), "an unreadable URL");
    return 0;
}

static int mr_cred_cb(git_credential **out, const char *url, const char *url_user,
                      unsigned int allowed, void *payload)
{
    struct mr_sync *s = payload;
    const struct cm_mirror_auth *a = s->auth;
    const char *user = url_user && *url_user ? url_user : "git";

    if (!mr_cred_for_us(s, url))
        return GIT_EUSER;
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        char pub[4096];

        if (!a || !a->ssh_key || !*a->ssh_key) {
            s->d.why = CM_MIRROR_WHY_KEY_MISSING;
            return GIT_EUSER;
        }
        if (access(a->ssh_key, R_OK) != 0) {
            s->d.saved_errno = errno;
            s->d.why = CM_MIRROR_WHY_KEY_UNREADABLE;
            return GIT_EUSER;
        }
        if (s->d.key_tries++) {
            s->d.why = CM_MIRROR_WHY_AUTH_FAILED;
            return GIT_EUSER;
        }
        /* libssh2 derives the public key itself, but some key formats need the .pub file. */
        snprintf(pub, sizeof(pub), "%s.pub", a->ssh_key);
        return git_credential_ssh_key_new(out, user, access(pub, R_OK) == 0 ? pub : NULL,
                                          a->ssh_key, a->ssh_passphrase);
    }
    if (allowed & GIT_CREDENTIAL_USERNAME)
        return git_credential_username_new(out, user);
    if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
        if (!a || !a->token || !*a->token) {
            s->d.why = CM_MIRROR_WHY_AUTH_MISSING;
            return GIT_EUSER;
        }
        if (s->pass_tries++) { /* the server refused what we sent first */
            s->d.why = CM_MIRROR_WHY_AUTH_FAILED;
            return GIT_EUSER;
        }
        if (a->user && *a->user)
            user = a->user;
        return git_credential_userpass_plaintext_new(out, user, a->token);
    }
    s->d.why = CM_MIRROR_WHY_AUTH_MISSING;
    return GIT_EUSER;
}

/* Abandon the fetch when nothing moved for the timeout. libgit2 only calls back while
 * something happens, so a server that goes silent is caught by the socket timeout of libgit2
 * 1.7+ (set in cm_mirror_global_init); 1.5 has none and relies on TCP. */
static int mr_progress(struct mr_sync *s, size_t bytes, unsigned objects)
{
    time_t now = time(NULL);

    if (bytes != s->last_bytes || objects != s->last_objects) {
        s->last_bytes = bytes;
        s->last_objects = objects;
        s->last_progress = now;
    } else if (now - s->last_progress > s->d.timeout) {
        s->d.why = CM_MIRROR_WHY_TIMEOUT;
        return GIT_EUSER;
    }
    return 0;
}

static int mr_transfer_cb(const git_indexer_progress *st, void *payload)
{
    /* Indexing a big pack receives nothing for a while but is progress all the same. */
    return mr_progress(payload, st->received_bytes,
                       st->received_objects + st->indexed_objects + st->indexed_deltas);
}

static int mr_sideband_cb(const char *str, int len, void *payload)
{
    struct mr_sync *s = payload;

    return mr_progress(s, s->last_bytes + (size_t)len, s->last_objects);
}

/* One line into err for a failed sync: ours when a callback knew why, else libgit2's. */
static int mr_fail(struct mr_sync *s, char *err, size_t errlen)
{
    const git_error *e = git_error_last();
    int transient =
        e && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_OS || e->klass == GIT_ERROR_SSH ||
              e->klass == GIT_ERROR_HTTP || e->klass == GIT_ERROR_SSL);

    return cm_mirror_url_failure(&s->d, s->m->shown_url, s->m->url_password, s->auth, mr_git_msg(),
                                 transient, err, errlen);
}

/* Fetch every branch and tag into repo, prune what the remote no longer has, and point HEAD
 * at the remote's default branch. */
static int mr_fetch(git_repository *repo, struct mr_sync *s)
{
    static char *specs[] = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
    git_strarray refspecs = {specs, 2};
    git_fetch_options fo;
    git_remote_connect_options co;
    git_remote_create_options ro;
    git_remote *remote = NULL;
    git_reference *head = NULL, *target = NULL;
    git_buf branch = {0};
    int rc;

    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.callbacks.credentials = mr_cred_cb;
    fo.callbacks.certificate_check = mr_cert_cb;
    fo.callbacks.transfer_progress = mr_transfer_cb;
    fo.callbacks.sideband_progress = mr_sideband_cb;
    fo.callbacks.payload = s;
    fo.proxy_opts.type = GIT_PROXY_AUTO;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* the refspec takes every tag */
    fo.update_fetchhead = 0;
    /* A redirect would fetch, and publish, another host's code: follow none. */
    fo.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
    git_remote_connect_options_init(&co, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
    co.callbacks = fo.callbacks;
    co.proxy_opts = fo.proxy_opts;
    co.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
    s->last_progress = time(NULL);

    /* Anonymous, and deaf to url.*.insteadOf: the URL comes from our configuration on every
     * sync, never from the mirror's or the user's git config. */
    git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ro.repository = repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    rc = git_remote_create_with_opts(&remote, s->m->url, &ro);
    if (rc == 0)
        rc = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &co);
    if (rc == 0)
        rc = git_remote_download(remote, &refspecs, &fo);
    if (rc == 0)
        rc = git_remote_update_tips(remote, &fo.callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, NULL);
    if (rc == 0)
        rc = git_remote_prune(remote, &fo.callbacks);
    /* An empty remote has no default branch; HEAD then stays as it is. */
    if (rc == 0 && git_remote_default_branch(&branch, remote) == 0 &&
        git_reference_lookup(&target, repo, branch.ptr) == 0)
        rc = git_reference_symbolic_create(&head, repo, "HEAD", branch.ptr, 1, NULL);
    if (remote)
        git_remote_disconnect(remote);
    git_buf_dispose(&branch);
    git_reference_free(target);
    git_reference_free(head);
    git_remote_free(remote);
    return rc;
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
                 added, mr_git_msg());
        rc = CM_ERROR;
    }
    unlink(path); /* libgit2 has parsed it */
    return rc;
}

/* Make sure file (or nothing, when NULL) is trusted, then hold mr_tls for reading until the
 * fetch is done (mr_tls_end). CM_OK, or CM_ERROR with err set and no lock held. */
static int mr_tls_begin(const char *file, char *err, size_t errlen)
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

static void mr_tls_end(void)
{
    pthread_rwlock_unlock(&mr_tls);
}

/* Short name of the branch HEAD points to when that branch exists; owned, or NULL. */
static char *mr_head_branch(git_repository *repo)
{
    git_reference *head = NULL, *target = NULL;
    char *out = NULL;

    if (git_reference_lookup(&head, repo, "HEAD") == 0 &&
        git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
        git_reference_lookup(&target, repo, git_reference_symbolic_target(head)) == 0 &&
        !strncmp(git_reference_name(target), "refs/heads/", 11))
        out = strdup(git_reference_name(target) + 11);
    git_reference_free(target);
    git_reference_free(head);
    return out;
}

static void mr_set_state(struct cm_mirror *m, char *branch, int is_new)
{
    int same = branch && m->default_branch ? !strcmp(branch, m->default_branch)
                                           : branch == m->default_branch;
    char **r = NULL;

    pthread_mutex_lock(&m->lock);
    m->is_new = is_new;
    /* A reader may still hold the old name: it lives on until cm_mirror_free. */
    if (same ||
        (m->default_branch && !(r = realloc(m->retired, (m->n_retired + 1) * sizeof(*r))))) {
        free(branch);
    } else {
        if (r) {
            m->retired = r;
            m->retired[m->n_retired++] = m->default_branch;
        }
        m->default_branch = branch;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Take the mirror's lock file lockname in dir (created with its parents as needed) into *fd.
 * CM_OK; CM_EAGAIN when another sync holds it, or held it and removed it after a failed first
 * clone (the file we locked is no longer the one at lockname); CM_ERROR with errno. */
static int mr_lock(const char *lockname, const char *dir, int *fd)
{
    struct stat mine, named;

    *fd = -1;
    /* A failed first clone of a sibling may remove dir between our mkdir and open: again. */
    for (int tries = 0; tries < 3; tries++) {
        if (cm_fs_mkdir_p(dir) != 0)
            return CM_ERROR;
        if ((*fd = open(lockname, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) >= 0 || errno != ENOENT)
            break;
    }
    if (*fd < 0)
        return CM_ERROR;
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(*fd);
        *fd = -1;
        errno = saved; /* for the caller's message */
        return saved == EWOULDBLOCK ? CM_EAGAIN : CM_ERROR;
    }
    /* Whoever unlinks the lock file does so while holding it: after we got it, the name must
     * still lead to the inode we locked, else a third sync may be locking a new file. */
    if (fstat(*fd, &mine) != 0 || stat(lockname, &named) != 0 || mine.st_dev != named.st_dev ||
        mine.st_ino != named.st_ino) {
        close(*fd);
        *fd = -1;
        return CM_EAGAIN;
    }
    return CM_OK;
}

/* Remove, when empty, the directories made for m's name: one per '/' in the repository, and
 * the endpoint's own when the path is mirrors/<endpoint>/<repository>.git. rmdir refuses a
 * directory that holds anything, so other mirrors are safe; the first refusal ends the walk. */
static void mr_prune_dirs(const struct cm_mirror *m)
{
    char *p = strdup(m->path), *slash;
    size_t levels = 0, plen, rlen, elen;

    if (!p || !m->repository)
        goto out;
    for (const char *r = m->repository; *r; r++)
        levels += *r == '/';
    plen = strlen(p);
    rlen = strlen(m->repository);
    elen = m->endpoint ? strlen(m->endpoint) : 0;
    if (elen && plen > rlen + elen + 6 && !strcmp(p + plen - 4, ".git") &&
        !strncmp(p + plen - 4 - rlen, m->repository, rlen) && p[plen - 5 - rlen] == '/' &&
        !strncmp(p + plen - 5 - rlen - elen, m->endpoint, elen) && p[plen - 6 - rlen - elen] == '/')
        levels++;
    while (levels-- > 0 && (slash = strrchr(p, '/')) && slash != p) {
        *slash = '\0';
        if (rmdir(p) != 0)
            break;
    }
out:
    free(p);
}

static void mr_set_missing(struct cm_mirror *m, int missing)
{
    pthread_mutex_lock(&m->lock);
    m->missing = missing;
    pthread_mutex_unlock(&m->lock);
}

int cm_mirror_missing(const struct cm_mirror *m)
{
    struct cm_mirror *mm = (struct cm_mirror *)m; /* the lock is not part of the value */
    int missing;

    pthread_mutex_lock(&mm->lock);
    missing = mm->missing;
    pthread_mutex_unlock(&mm->lock);
    return missing;
}

int cm_mirror_sync(struct cm_mirror *m, const struct cm_mirror_auth *auth, char *err, size_t errlen)
{
    struct mr_sync s = {.m = m, .auth = auth};
    git_repository *repo = NULL;
    git_repository_init_options io;
    size_t plen = strlen(m->path) + 8;
    char *tmp = malloc(plen), *lockname = malloc(plen), *parent = strdup(m->path), *dir, *branch;
    int lockfd = -1, created = 0, rc = CM_ENOMEM;
    struct stat st;

    struct cm_url u;

    if (errlen)
        err[0] = '\0';
    /* Local paths and file:// would read another mirror straight from disk. */
    if (cm_url_parse(m->url, &u) != CM_OK) {
        snprintf(err, errlen,
                 "refusing to fetch %s: not a remote git URL (https://, http://, ssh://, "
                 "git:// or user@host:path)",
                 m->shown_url);
        free(tmp);
        free(lockname);
        free(parent);
        return CM_ERROR;
    }
    s.d.timeout = auth && auth->timeout > 0 ? auth->timeout : mr_timeout;
    if (!tmp || !lockname || !parent)
        goto out;
    snprintf(tmp, plen, "%s.tmp", m->path);
    snprintf(lockname, plen, "%s.lock", m->path);
    dir = dirname(parent);
    if ((rc = mr_lock(lockname, dir, &lockfd)) != CM_OK) {
        snprintf(err, errlen, "cannot lock %s: %s", lockname,
                 rc == CM_EAGAIN ? "another sync of this mirror is running" : strerror(errno));
        goto out;
    }
    rc = CM_ERROR;
    cm_fs_rm_rf(tmp);
    if (stat(m->path, &st) != 0) {
        /* First sync: build the whole mirror aside, then rename it into place in one step. */
        created = 1;
        git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
        io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
        if (git_repository_init_ext(&repo, tmp, &io) != 0) {
            snprintf(err, errlen, "cannot create %s: %s", tmp, mr_git_msg());
            goto out;
        }
    } else {
        mr_clean_stale(m->path);
        if (git_repository_open_bare(&repo, m->path) != 0) {
            snprintf(err, errlen, "%s is not a git repository (%s): remove it to clone again",
                     m->path, mr_git_msg());
            goto out;
        }
    }
    if (mr_tls_begin(auth ? auth->ssl_ca_file : NULL, err, errlen) != CM_OK)
        goto out;
    if (mr_fetch(repo, &s) != 0) {
        rc = mr_fail(&s, err, errlen);
        mr_tls_end();
        goto out;
    }
    mr_tls_end();
    branch = mr_head_branch(repo);
    if (created && (rename(tmp, m->path) != 0 || cm_fs_fsync_dir(dir) != 0)) {
        snprintf(err, errlen, "cannot move the new mirror to %s: %s", m->path, strerror(errno));
        free(branch);
        goto out;
    }
    mr_set_state(m, branch, created);
    rc = CM_OK;
out:
    git_repository_free(repo);
    if (rc != CM_OK && created)
        cm_fs_rm_rf(tmp);
    if (rc == CM_ENOMEM)
        snprintf(err, errlen, "out of memory syncing %s", m->path);
    /* A first clone that failed leaves nothing: a sender inventing names must not be able to
     * fill data_dir with lock files and empty directories. Unlinked while still locked, so a
     * sync that opened the old lock file sees (mr_lock) that it is no longer the lock. */
    if (rc != CM_OK && created && lockfd >= 0 && stat(m->path, &st) != 0 && errno == ENOENT) {
        unlink(lockname);
        close(lockfd);
        lockfd = -1;
        mr_prune_dirs(m);
    }
    mr_set_missing(m, rc != CM_OK && created && rc == CM_ENOENT);
    if (rc == CM_ENOENT)
        rc = CM_ERROR; /* the callers' contract: worth retrying or not */
    if (lockfd >= 0)
        close(lockfd);
    free(tmp);
    free(lockname);
    free(parent);
    return rc;
}

/* ---- opening ---- */

int cm_mirror_open(struct cm_mirror **out, const char *path, const char *url, const char *endpoint,
                   const char *repository)
{
    struct cm_mirror *m = calloc(1, sizeof(*m));
    git_repository *repo = NULL;
    char notes[4096];
    int rc = CM_ENOMEM;

    *out = NULL;
    if (!m)
        return CM_ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    m->max_blob = CM_MIRROR_MAX_BLOB_DEFAULT;
    m->path = strdup(path);
    m->url = strdup(url);
    m->endpoint = mr_strdup(endpoint);
    m->repository = mr_strdup(repository);
    if (!m->path || !m->url || (endpoint && !m->endpoint) || (repository && !m->repository) ||
        cm_mirror_url_split(url, &m->shown_url, &m->url_password) != CM_OK)
        goto out;
    if (mr_open_repo(m, &repo) == CM_OK) {
        m->default_branch = mr_head_branch(repo);
        git_repository_free(repo);
    }
    rc = CM_ENOMEM;
    if ((size_t)snprintf(notes, sizeof(notes), "%s/" MR_NOTES_FILE, path) < sizeof(notes))
        rc = cm_notes_open(&m->notes, notes);
out:
    if (rc == CM_OK)
        *out = m;
    else
        cm_mirror_free(m);
    return rc;
}

void cm_mirror_free(struct cm_mirror *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_retired; i++)
        free(m->retired[i]);
    cm_notes_free(m->notes);
    free(m->retired);
    free(m->default_branch);
    free(m->path);
    free(m->url);
    free(m->shown_url);
    free(m->url_password);
    free(m->endpoint);
    free(m->repository);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const char *cm_mirror_get(const struct cm_mirror *m, enum cm_mirror_field field)
{
    struct cm_mirror *mm = (struct cm_mirror *)m; /* the lock is not part of the value */
    const char *v = NULL;

    switch (field) {
    case CM_MIRROR_PATH: return m->path;
    case CM_MIRROR_URL: return m->shown_url;
    case CM_MIRROR_ENDPOINT: return m->endpoint;
    case CM_MIRROR_REPOSITORY: return m->repository;
    case CM_MIRROR_DEFAULT_BRANCH:
        pthread_mutex_lock(&mm->lock);
        v = m->default_branch;
        pthread_mutex_unlock(&mm->lock);
        return v;
    case CM_MIRROR_IS_NEW:
        pthread_mutex_lock(&mm->lock);
        v = m->is_new ? "true" : "false";
        pthread_mutex_unlock(&mm->lock);
        return v;
    default: return NULL;
    }
}

/* ---- reading ---- */

/* The id of the commit r leads to (through annotated tags) into hex. CM_OK, or CM_ENOENT
 * when it leads to no commit. */
static int mr_commit_hex(git_reference *r, char hex[GIT_OID_HEXSZ + 1])
{
    git_object *commit = NULL;

    if (git_reference_peel(&commit, r, GIT_OBJECT_COMMIT) != 0)
        return CM_ENOENT;
    git_oid_tostr(hex, GIT_OID_HEXSZ + 1, git_object_id(commit));
    git_object_free(commit);
    return CM_OK;
}

int cm_mirror_ref_is(const struct cm_mirror *m, const char *ref, const char *id)
{
    git_repository *repo = NULL;
    git_reference *r = NULL, *resolved = NULL;
    char hex[GIT_OID_HEXSZ + 1];
    int exists, res = 0;

    if (mr_open_repo(m, &repo) != CM_OK)
        return id == NULL;
    exists = git_reference_lookup(&r, repo, ref) == 0 && git_reference_resolve(&resolved, r) == 0;
    if (!id) {
        res = !exists;
    } else if (exists) {
        git_oid_tostr(hex, sizeof(hex), git_reference_target(resolved));
        res = !strcasecmp(hex, id);
        if (!res && mr_commit_hex(resolved, hex) == CM_OK)
            res = !strcasecmp(hex, id);
    }
    git_reference_free(resolved);
    git_reference_free(r);
    git_repository_free(repo);
    return res;
}

int cm_mirror_has_object(const struct cm_mirror *m, const char *id)
{
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    git_oid oid;
    int res = 0;

    if (!id || git_oid_fromstr(&oid, id) != 0 || mr_open_repo(m, &repo) != CM_OK)
        return 0;
    if (git_repository_odb(&odb, repo) == 0)
        res = git_odb_exists(odb, &oid);
    git_odb_free(odb);
    git_repository_free(repo);
    return res;
}

static int mr_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cm_mirror_refs(const struct cm_mirror *m, cm_ref_cb cb, void *arg)
{
    git_repository *repo = NULL;
    git_strarray names = {0};
    int rc = mr_open_repo(m, &repo);

    if (rc != CM_OK)
        return rc;
    if (git_reference_list(&names, repo) != 0) {
        rc = CM_ERROR;
        goto out;
    }
    qsort(names.strings, names.count, sizeof(char *), mr_cmp_str);
    for (size_t i = 0; i < names.count && rc == CM_OK; i++) {
        const char *name = names.strings[i];
        git_reference *r = NULL;
        char hex[GIT_OID_HEXSZ + 1];

        if (strncmp(name, "refs/heads/", 11) && strncmp(name, "refs/tags/", 10))
            continue;
        /* A tag of a tree or blob has no commit to offer: it is no version. */
        if (git_reference_lookup(&r, repo, name) == 0 && mr_commit_hex(r, hex) == CM_OK)
            rc = cb(arg, name, hex);
        git_reference_free(r);
    }
out:
    git_strarray_dispose(&names);
    git_repository_free(repo);
    return rc;
}

/* The tree of the commit (or annotated tag) whose id, full or abbreviated, is id; commit (may
 * be NULL) gets the commit's id, or zeros for a tag of a bare tree. */
static int mr_tree(git_repository *repo, const char *id, git_tree **tree, git_oid *commit)
{
    git_oid oid;
    git_object *obj = NULL, *c = NULL;
    int rc = CM_ENOENT;

    if (!id || !mr_hex(id, 4, GIT_OID_HEXSZ))
        return CM_EINVAL;
    if (git_oid_fromstrn(&oid, id, strlen(id)) == 0 &&
        git_object_lookup_prefix(&obj, repo, &oid, strlen(id), GIT_OBJECT_ANY) == 0 &&
        git_object_peel((git_object **)tree, obj, GIT_OBJECT_TREE) == 0)
        rc = CM_OK;
    if (rc == CM_OK && commit) {
        memset(commit, 0, sizeof(*commit));
        if (git_object_peel(&c, obj, GIT_OBJECT_COMMIT) == 0)
            git_oid_cpy(commit, git_object_id(c));
    }
    git_object_free(c);
    git_object_free(obj);
    return rc;
}

/* libgit2 cannot stream a packed object (git_odb_open_rstream serves loose ones only), so a
 * blob is read whole: one 400 MB file would cost 400 MB of memory. Its size is read first
 * from the object header (git_odb_read_header inflates no content; for a delta only the delta's
 * header), and a blob over max is refused before it is loaded: what one read or one zip entry
 * holds stays bounded by git.max_blob_size. CM_OK, CM_EINVAL when over max, CM_ENOENT when the
 * object is missing. */
static int mr_blob_size(git_odb *odb, const git_oid *id, unsigned long long max,
                        unsigned long long *size)
{
    size_t len;
    git_object_t type;

    if (git_odb_read_header(&len, &type, odb, id) != 0)
        return CM_ENOENT;
    *size = len;
    return *size > max ? CM_EINVAL : CM_OK;
}

void cm_mirror_set_max_blob(struct cm_mirror *m, unsigned long long max)
{
    m->max_blob = max ? max : CM_MIRROR_MAX_BLOB_DEFAULT;
}

int cm_mirror_read(const struct cm_mirror *m, const char *commit_id, const char *path,
                   cm_data_cb cb, void *arg)
{
    git_repository *repo = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_blob *blob = NULL;
    git_odb *odb = NULL;
    unsigned long long size;
    int rc = mr_open_repo(m, &repo);

    if (rc != CM_OK)
        return rc;
    while (*path == '/')
        path++;
    rc = mr_tree(repo, commit_id, &tree, NULL);
    if (rc != CM_OK)
        goto out;
    rc = CM_ENOENT;
    if (git_tree_entry_bypath(&entry, tree, path) != 0 ||
        git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
        goto out;
    rc = CM_ERROR;
    if (git_repository_odb(&odb, repo) != 0)
        goto out;
    rc = mr_blob_size(odb, git_tree_entry_id(entry), m->max_blob, &size);
    if (rc != CM_OK)
        goto out;
    rc = CM_ENOENT;
    if (git_blob_lookup(&blob, repo, git_tree_entry_id(entry)) != 0)
        goto out;
    rc = cb(arg, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
out:
    git_blob_free(blob);
    git_odb_free(odb);
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_repository_free(repo);
    return rc;
}

struct mr_walk {
    git_repository *repo;
    git_odb *odb;
    struct cm_zip *zip; /* NULL during the first pass, which only reads sizes */
    const char *prefix;
    unsigned long long max;
    char path[4096];         /* the entry's path in the zip; after a refusal, the culprit's */
    unsigned long long size; /* the culprit's size */
    int rc;
};

/* Whether the walk puts e into the zip (1, with its path in w->path) or passes it by (0, with
 * *ret the walk callback's answer). */
static int mr_walk_takes(struct mr_walk *w, const char *root, const git_tree_entry *e, int *ret)
{
    const char *name = git_tree_entry_name(e);
    git_filemode_t mode = git_tree_entry_filemode(e);

    *ret = 0;
    /* Names no checkout would write: keep them out of the zip so it cannot escape its dir. */
    if (!strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') ||
        !strcasecmp(name, ".git")) {
        *ret = mode == GIT_FILEMODE_TREE ? 1 : 0;
        return 0;
    }
    if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE &&
        mode != GIT_FILEMODE_LINK)
        return 0; /* trees are walked into; submodules have no content here */
    if ((size_t)snprintf(w->path, sizeof(w->path), "%s%s%s", w->prefix, root, name) >=
        sizeof(w->path)) {
        w->rc = CM_ERROR;
        *ret = -1;
        return 0;
    }
    return 1;
}

/* First pass: every size from its header, so an oversize blob is refused before anything is
 * loaded or a byte of the zip written. */
static int mr_size_cb(const char *root, const git_tree_entry *e, void *payload)
{
    struct mr_walk *w = payload;
    int ret;

    if (!mr_walk_takes(w, root, e, &ret))
        return ret;
    w->rc = mr_blob_size(w->odb, git_tree_entry_id(e), w->max, &w->size);
    if (w->rc == CM_ENOENT)
        w->rc = CM_ERROR;
    return w->rc == CM_OK ? 0 : -1;
}

static int mr_zip_cb(const char *root, const git_tree_entry *e, void *payload)
{
    struct mr_walk *w = payload;
    git_filemode_t mode = git_tree_entry_filemode(e);
    git_blob *blob = NULL;
    int ret;

    if (!mr_walk_takes(w, root, e, &ret))
        return ret;
    if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(e)) != 0) {
        w->rc = CM_ERROR;
        return -1;
    }
    if (mode == GIT_FILEMODE_LINK)
        w->rc = cm_zip_add_symlink(w->zip, w->path, git_blob_rawcontent(blob),
                                   (size_t)git_blob_rawsize(blob));
    else
        w->rc = cm_zip_add_file(w->zip, w->path, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644,
                                git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
    git_blob_free(blob);
    return w->rc == CM_OK ? 0 : -1;
}

/* An oversize file is the ref's business, not a failure to retry: say so on every branch and
 * tag at commit, where GET /api/repositories shows it (a plugin may replace the note). */
static void mr_note_refs_at(const struct cm_mirror *m, git_repository *repo, const git_oid *commit,
                            const char *msg)
{
    git_strarray names = {0};
    char want[GIT_OID_HEXSZ + 1], hex[GIT_OID_HEXSZ + 1];

    if (git_oid_is_zero(commit) || git_reference_list(&names, repo) != 0)
        return;
    git_oid_tostr(want, sizeof(want), commit);
    for (size_t i = 0; i < names.count; i++) {
        const char *name = names.strings[i];
        git_reference *r = NULL;

        if (strncmp(name, "refs/heads/", 11) && strncmp(name, "refs/tags/", 10))
            continue;
        if (git_reference_lookup(&r, repo, name) == 0 && mr_commit_hex(r, hex) == CM_OK &&
            !strcmp(hex, want))
            cm_notes_set(m->notes, name, msg);
        git_reference_free(r);
    }
    git_strarray_dispose(&names);
}

int cm_mirror_archive(const struct cm_mirror *m, const char *commit_id, const char *prefix,
                      const char *dest_path)
{
    struct mr_walk w = {.prefix = "", .max = m->max_blob, .rc = CM_OK};
    git_tree *tree = NULL;
    git_oid commit;
    char *pfx = NULL, msg[4400];
    int rc = mr_open_repo(m, &w.repo);

    if (rc != CM_OK)
        return rc;
    rc = mr_tree(w.repo, commit_id, &tree, &commit);
    if (rc != CM_OK)
        goto out;
    /* "pkg" and "pkg/" both mean a top directory named pkg. */
    if (prefix && *prefix) {
        size_t n = strlen(prefix);

        rc = CM_ENOMEM;
        if (!(pfx = malloc(n + 2)))
            goto out;
        snprintf(pfx, n + 2, "%s%s", prefix, prefix[n - 1] == '/' ? "" : "/");
        w.prefix = pfx;
    }
    rc = CM_ERROR;
    if (git_repository_odb(&w.odb, w.repo) != 0)
        goto out;
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, mr_size_cb, &w) != 0 || w.rc != CM_OK) {
        rc = w.rc != CM_OK ? w.rc : CM_ERROR;
        if (rc == CM_EINVAL) {
            snprintf(msg, sizeof(msg),
                     "dist archive skipped: %s is %llu bytes, over "
                     "git.max_blob_size (%llu): remove the file or raise the limit",
                     w.path + strlen(w.prefix), w.size, w.max);
            mr_note_refs_at(m, w.repo, &commit, msg);
        }
        goto out;
    }
    rc = cm_zip_open(&w.zip, dest_path);
    if (rc != CM_OK)
        goto out;
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, mr_zip_cb, &w) != 0 || w.rc != CM_OK) {
        rc = w.rc != CM_OK ? w.rc : CM_ERROR;
        cm_zip_abort(w.zip);
        goto out;
    }
    rc = cm_zip_close(w.zip);
out:
    free(pfx);
    git_odb_free(w.odb);
    git_tree_free(tree);
    git_repository_free(w.repo);
    return rc;
}

int cm_mirror_note(const struct cm_mirror *m, const char *ref, const char *message)
{
    return cm_notes_set(m->notes, ref, message);
}

int cm_mirror_notes(const struct cm_mirror *m,
                    int (*cb)(void *arg, const char *ref, const char *message), void *arg)
{
    return cm_notes_each(m->notes, cb, arg);
}
