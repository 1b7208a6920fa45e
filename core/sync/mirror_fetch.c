/* SPDX-License-Identifier: MIT */
/*
 * One fetch over the network with libgit2: the remote's options (no redirects, no insteadOf,
 * every branch and tag with prune), the credentials and host key callbacks that answer only
 * the mirror's own origin, the progress timeout, and the failure message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sync/known_hosts.h"
#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "sync/mirror_refdb.h"
#include "sync/mirror_url.h"
#include "util/url.h"

static int mr_cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
    static const enum cm_mirror_why why[] = {
        [CM_KH_MATCH] = CM_MIRROR_WHY_NONE,           [CM_KH_UNKNOWN] = CM_MIRROR_WHY_HOST_UNKNOWN,
        [CM_KH_CHANGED] = CM_MIRROR_WHY_HOST_CHANGED, [CM_KH_REVOKED] = CM_MIRROR_WHY_HOST_REVOKED,
        [CM_KH_NOFILE] = CM_MIRROR_WHY_HOST_NOFILE,
    };
    struct cm_mirror_fetch *s = payload;
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

/* Credentials are answered only for the mirror's own scheme, host and port: whatever
 * libgit2 is talking to after a redirect never gets them. */
static int mr_cred_for_us(struct cm_mirror_fetch *s, const char *url)
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
    struct cm_mirror_fetch *s = payload;
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
static int mr_progress(struct cm_mirror_fetch *s, size_t bytes, unsigned objects)
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

/* Tell the mirror's progress callback, every CM_MIRROR_PROGRESS_MS (libgit2 calls back for
 * every few objects: a lock and a JSON update each time would slow a big clone), and when the
 * last object is in, so the final count is shown. */
static void mr_report(struct cm_mirror_fetch *s, const git_indexer_progress *st)
{
    struct timespec now;
    long long ms;

    if (!s->m->progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(now.tv_sec - s->last_report.tv_sec) * 1000 +
         (now.tv_nsec - s->last_report.tv_nsec) / 1000000;
    if (ms < CM_MIRROR_PROGRESS_MS &&
        (st->received_objects != st->total_objects || s->reported_objects == st->received_objects))
        return;
    s->last_report = now;
    s->reported_objects = st->received_objects;
    s->m->progress(s->m->progress_arg, st->received_objects, st->total_objects,
                   (unsigned long long)st->received_bytes);
}

static int mr_transfer_cb(const git_indexer_progress *st, void *payload)
{
    mr_report(payload, st);
    /* Indexing a big pack receives nothing for a while but is progress all the same. */
    return mr_progress(payload, st->received_bytes,
                       st->received_objects + st->indexed_objects + st->indexed_deltas);
}

static int mr_sideband_cb(const char *str, int len, void *payload)
{
    struct cm_mirror_fetch *s = payload;

    return mr_progress(s, s->last_bytes + (size_t)len, s->last_objects);
}

/* One line into err for a failed sync: ours when a callback knew why, else libgit2's. */
int cm_mirror_fetch_fail(struct cm_mirror_fetch *s, char *err, size_t errlen)
{
    const git_error *e = git_error_last();
    int transient =
        e && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_OS || e->klass == GIT_ERROR_SSH ||
              e->klass == GIT_ERROR_HTTP || e->klass == GIT_ERROR_SSL);

    return cm_mirror_url_failure(&s->d, s->m->shown_url, s->m->url_password, s->auth,
                                 cm_mirror_git_msg(), transient, err, errlen);
}

void cm_mirror_remote_callbacks(git_remote_callbacks *cb, struct cm_mirror_fetch *s)
{
    cb->credentials = mr_cred_cb;
    cb->certificate_check = mr_cert_cb;
    cb->payload = s;
}

/* Fetch every branch and tag into repo, prune what the remote no longer has, and point HEAD
 * at the remote's default branch. */
int cm_mirror_fetch_remote(git_repository *repo, struct cm_mirror_fetch *s)
{
    static char *specs[] = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
    git_strarray refspecs = {specs, 2};
    git_fetch_options fo;
    git_remote_connect_options co;
    git_remote_create_options ro;
    git_remote *remote = NULL;
    git_reference *head = NULL, *target = NULL;
    struct cm_mirror_refdb *refdb = NULL;
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
    /* Negotiation lists only the refs libgit2 can send as haves (mirror_refdb.c: its walk
     * is quadratic in the refs listed); without the backend it is only slower. */
    if (rc == 0 && cm_mirror_refdb_install(repo, &refdb) != 0)
        git_error_clear();
    if (rc == 0) {
        if (refdb)
            cm_mirror_refdb_negotiating(refdb, 1);
        rc = git_remote_download(remote, &refspecs, &fo);
        if (refdb)
            cm_mirror_refdb_negotiating(refdb, 0);
    }
    /* A mirror with no refs yet gets them all at once, durable together (mirror_refdb.c):
     * nobody sees it before this sync ends, and one fsync'd file replaces a loose file and two
     * fsyncs per ref. */
    if (rc == 0 && refdb)
        rc = cm_mirror_refdb_batch_begin(refdb);
    if (rc == 0)
        rc = git_remote_update_tips(remote, &fo.callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, NULL);
    if (rc == 0)
        rc = git_remote_prune(remote, &fo.callbacks);
    /* An empty remote has no default branch; HEAD then stays as it is. */
    if (rc == 0 && git_remote_default_branch(&branch, remote) == 0 &&
        git_reference_lookup(&target, repo, branch.ptr) == 0)
        rc = git_reference_symbolic_create(&head, repo, "HEAD", branch.ptr, 1, NULL);
    if (refdb) {
        int end = cm_mirror_refdb_batch_end(refdb, rc == 0);

        rc = rc ? rc : end;
    }
    if (remote)
        git_remote_disconnect(remote);
    git_buf_dispose(&branch);
    git_reference_free(target);
    git_reference_free(head);
    git_remote_free(remote);
    return rc;
}
