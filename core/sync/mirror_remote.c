/* SPDX-License-Identifier: MIT */
/*
 * What reconciliation asks of a mirror: the remote's refs listed without fetching (ls-remote,
 * through the fetch's own callbacks and policies) compared with the mirror's branches and
 * tags, and the URL and time a successful sync recorded in the mirror's config.
 */
#define _GNU_SOURCE
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "util/url.h"

#define MR_KEY_SYNCED "cargoman.syncedat"

struct mr_ref {
    char *name; /* borrowed from libgit2 (remote) or owned (local) */
    git_oid id;
};

int cm_mirror_record(git_repository *repo, struct cm_mirror *m)
{
    git_config *cfg = NULL;
    int url, synced, id;

    if (git_repository_config(&cfg, repo) != 0)
        return CM_ERROR;
    /* A password stays out of files an operator backs up; such a mirror's URL then comes
     * from the endpoint's clone_url alone. */
    if (!m->url_password)
        url = git_config_set_string(cfg, CM_MIRROR_KEY_URL, m->url);
    else if ((url = git_config_delete_entry(cfg, CM_MIRROR_KEY_URL)) == GIT_ENOTFOUND)
        url = 0; /* none was recorded */
    synced = git_config_set_int64(cfg, MR_KEY_SYNCED, (int64_t)time(NULL));
    /* Even after a failure: a sync without an id takes the mirror's own from here. */
    id = cm_mirror_record_id(cfg, m);
    git_config_free(cfg);
    return id != CM_OK ? id : (url || synced) ? CM_ERROR : CM_OK;
}

int cm_mirror_recorded(const char *path, char *url, size_t urllen, long long *synced_at)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL, *snap = NULL;
    const char *s = NULL;
    int64_t t = 0;

    if (urllen)
        url[0] = '\0';
    *synced_at = 0;
    if (git_repository_open_bare(&repo, path) != 0)
        return CM_ENOENT;
    if (git_repository_config(&cfg, repo) == 0 && git_config_snapshot(&snap, cfg) == 0) {
        if (git_config_get_string(&s, snap, CM_MIRROR_KEY_URL) == 0 &&
            (size_t)snprintf(url, urllen, "%s", s) >= urllen)
            url[0] = '\0';
        if (git_config_get_int64(&t, snap, MR_KEY_SYNCED) == 0)
            *synced_at = (long long)t;
    }
    git_config_free(snap);
    git_config_free(cfg);
    git_repository_free(repo);
    return CM_OK;
}

static int mr_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mr_ref *)a)->name, ((const struct mr_ref *)b)->name);
}

/* Branches and tags only: HEAD, pull requests and peeled "^{}" lines are not mirrored. */
static int mr_mirrored(const char *name)
{
    size_t n = strlen(name);

    return (!strncmp(name, "refs/heads/", 11) || !strncmp(name, "refs/tags/", 10)) &&
           (n < 3 || strcmp(name + n - 3, "^{}"));
}

/* The mirror's direct branches and tags into *out (names owned), sorted. */
static int mr_local_refs(git_repository *repo, struct mr_ref **out, size_t *n)
{
    git_reference_iterator *it = NULL;
    git_reference *r;
    struct mr_ref *v = NULL, *grown;
    size_t cap = 0;
    int rc = CM_OK;

    *n = 0;
    if (git_reference_iterator_new(&it, repo) != 0)
        return CM_ERROR;
    while (rc == CM_OK && git_reference_next(&r, it) == 0) {
        if (git_reference_type(r) == GIT_REFERENCE_DIRECT && mr_mirrored(git_reference_name(r))) {
            if (*n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                if ((grown = realloc(v, ncap * sizeof(*v))) != NULL) {
                    v = grown;
                    cap = ncap;
                } else {
                    rc = CM_ENOMEM;
                }
            }
            if (rc == CM_OK && !(v[*n].name = strdup(git_reference_name(r))))
                rc = CM_ENOMEM;
            if (rc == CM_OK)
                git_oid_cpy(&v[(*n)++].id, git_reference_target(r));
        }
        git_reference_free(r);
    }
    git_reference_iterator_free(it);
    if (*n)
        qsort(v, *n, sizeof(*v), mr_ref_cmp);
    *out = v;
    return rc;
}

static void mr_local_free(struct mr_ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* The remote's advertised branches and tags into *out (names borrowed from remote), sorted. */
static int mr_remote_refs(git_remote *remote, struct mr_ref **out, size_t *n)
{
    const git_remote_head **heads;
    size_t count;
    struct mr_ref *v;

    *n = 0;
    *out = NULL;
    if (git_remote_ls(&heads, &count, remote) != 0)
        return CM_ERROR;
    if (!(v = calloc(count ? count : 1, sizeof(*v))))
        return CM_ENOMEM;
    for (size_t i = 0; i < count; i++)
        if (mr_mirrored(heads[i]->name)) {
            v[*n].name = heads[i]->name;
            git_oid_cpy(&v[(*n)++].id, &heads[i]->oid);
        }
    if (*n)
        qsort(v, *n, sizeof(*v), mr_ref_cmp);
    *out = v;
    return CM_OK;
}

/* Walk both sorted lists at once: a name on one side only appeared or vanished. */
static int mr_diff(const struct mr_ref *l, size_t nl, const struct mr_ref *r, size_t nr,
                   cm_mirror_drift_cb cb, void *arg)
{
    char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
    size_t i = 0, j = 0;
    int rc = 0;

    while (rc == 0 && (i < nl || j < nr)) {
        int c = i == nl ? 1 : j == nr ? -1 : strcmp(l[i].name, r[j].name);
        if (c < 0) {
            rc = cb(arg, l[i].name, git_oid_tostr(a, sizeof(a), &l[i].id), NULL);
            i++;
        } else if (c > 0) {
            rc = cb(arg, r[j].name, NULL, git_oid_tostr(b, sizeof(b), &r[j].id));
            j++;
        } else {
            if (!git_oid_equal(&l[i].id, &r[j].id))
                rc = cb(arg, l[i].name, git_oid_tostr(a, sizeof(a), &l[i].id),
                        git_oid_tostr(b, sizeof(b), &r[j].id));
            i++;
            j++;
        }
    }
    return rc;
}

/* libgit2 reports a smart HTTP status it did not expect in its message, without headers. */
static int mr_throttled(void)
{
    const git_error *e = git_error_last();

    return e && e->message && strcasestr(e->message, "status code: 429") != NULL;
}

int cm_mirror_ls_remote(const struct cm_mirror *m, const struct cm_mirror_auth *auth,
                        cm_mirror_drift_cb cb, void *arg, int *throttled, char *err, size_t errlen)
{
    struct cm_mirror_fetch s = {.m = m, .auth = auth};
    git_remote_connect_options co;
    git_remote_create_options ro;
    git_remote *remote = NULL;
    git_repository *repo = NULL;
    struct mr_ref *local = NULL, *remote_refs = NULL;
    size_t nl = 0, nr = 0;
    struct cm_url u;
    int rc = CM_ERROR, tls = 0;

    *throttled = 0;
    if (errlen)
        err[0] = '\0';
    if (cm_url_parse(m->url, &u) != CM_OK) {
        snprintf(err, errlen, "refusing to list %s: not a remote git URL", m->shown_url);
        return CM_ERROR;
    }
    if (cm_mirror_open_repo(m, &repo) != CM_OK) {
        snprintf(err, errlen, "no mirror at %s yet", m->path);
        return CM_ERROR;
    }
    s.d.timeout = auth && auth->timeout > 0 ? auth->timeout : cm_mirror_default_timeout();
    if ((rc = mr_local_refs(repo, &local, &nl)) != CM_OK) {
        snprintf(err, errlen, "cannot read the refs of %s: %s", m->path, cm_mirror_git_msg());
        goto out;
    }
    if ((rc = cm_mirror_tls_begin(auth ? auth->ssl_ca_file : NULL, err, errlen)) != CM_OK)
        goto out;
    tls = 1;
    git_remote_connect_options_init(&co, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
    cm_mirror_remote_callbacks(&co.callbacks, &s);
    co.proxy_opts.type = GIT_PROXY_AUTO;
    co.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
    /* As the fetch: deaf to url.*.insteadOf, the URL is the policy's. */
    git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ro.repository = repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(&remote, m->url, &ro) != 0 ||
        git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &co) != 0 ||
        (rc = mr_remote_refs(remote, &remote_refs, &nr)) == CM_ERROR) {
        *throttled = mr_throttled();
        rc = cm_mirror_fetch_fail(&s, err, errlen);
        goto out;
    }
    if (rc == CM_OK)
        rc = mr_diff(local, nl, remote_refs, nr, cb, arg);
    if (rc == CM_ENOMEM)
        snprintf(err, errlen, "out of memory listing %s", m->shown_url);
out:
    if (remote)
        git_remote_disconnect(remote);
    git_remote_free(remote);
    if (tls)
        cm_mirror_tls_end();
    free(remote_refs);
    mr_local_free(local, nl);
    git_repository_free(repo);
    return rc;
}
