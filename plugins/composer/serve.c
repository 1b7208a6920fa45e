/* SPDX-License-Identifier: MIT */
/*
 * The Composer repository's routes (SDK 1.2): /packages.json, /p2/... and /dist/..., sent as
 * the files publish.c writes under the state directory. The host has applied the sync entry's
 * tokens and refused paths with ".." before serve runs; files are renamed into place whole,
 * so whatever is opened is one consistent version. A dist zip this node lacks (SDK 1.3: a
 * cluster node that did not sync the repository) is made on demand for a published commit.
 */
#include "composer.h"
#include "published.h"
#include "state.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cm_route cmc_routes[] = {
    {"/packages.json", "add http-basic for this host to composer's auth.json"},
    {"/p2/", "add http-basic for this host to composer's auth.json"},
    {"/dist/", "add http-basic for this host to composer's auth.json"},
    {NULL, NULL},
};

/* What composer reads before anything is published: a valid, empty repository. */
static const char cmc_empty_index[] = "{\"packages\":[],\"metadata-url\":\"/p2/%package%.json\","
                                      "\"available-packages\":[]}";
static const char cmc_no_file[] = "{\"status\":\"error\",\"error\":\"no such package file\"}";
static const char cmc_no_fetch[] =
    "{\"status\":\"error\",\"error\":\"this archive must be fetched from the repository's git "
    "host, which cannot be reached now; retry later\"}";
static const char cmc_no_zip[] =
    "{\"status\":\"error\",\"error\":\"this archive cannot be made; the gateway's log says why\"}";

/* What a zip request names: the package and the commit. */
struct sv_dist {
    char pkg[256];
    char commit[65];
    char rel[400]; /* dist/<pkg>/<commit>.zip */
};

static int sv_hex_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return s[n] == '\0' && (n == 40 || n == 64);
}

/* Split "/dist/<vendor>/<name>/<commit>.zip" into *d; 0 when path is not one (with a valid
 * package name and a full commit id, the only names publish.c gives zips). */
static int sv_dist_parse(const char *path, struct sv_dist *d)
{
    const char *rest = path + 6, *last;
    size_t n, plen, clen;

    if (strncmp(path, "/dist/", 6) != 0 || !(last = strrchr(rest, '/')))
        return 0;
    n = strlen(rest);
    plen = (size_t)(last - rest);
    if (n < plen + 6 || strcmp(rest + n - 4, ".zip") != 0)
        return 0;
    clen = n - plen - 5;
    if (plen >= sizeof(d->pkg) || clen >= sizeof(d->commit))
        return 0;
    memcpy(d->pkg, rest, plen);
    d->pkg[plen] = '\0';
    memcpy(d->commit, last + 1, clen);
    d->commit[clen] = '\0';
    snprintf(d->rel, sizeof(d->rel), "dist/%s/%s.zip", d->pkg, d->commit);
    return cmc_valid_package_name(d->pkg) && sv_hex_id(d->commit);
}

/* The owner key of pkg (a copy), or NULL when nobody publishes it. */
static char *sv_owner(struct cmc_plugin *p, const char *pkg)
{
    const char *holder;
    char *owner = NULL;

    pthread_mutex_lock(p->lock);
    if (p->owners && (holder = json_string_value(json_object_get(p->owners, pkg))))
        owner = strdup(holder);
    pthread_mutex_unlock(p->lock);
    return owner;
}

/* As this node's files say: whether the repository that publishes d->pkg publishes
 * d->commit (its state file's "shasums" has it), into *hit. One stat per request while the
 * file is unchanged (published.h). */
static int sv_publishing(struct cmc_plugin *p, const struct sv_dist *d,
                         struct cmc_published_hit *hit)
{
    char *owner = sv_owner(p, d->pkg), *path = NULL;
    int rc = CM_ENOENT;

    if (owner && (path = cmc_owner_state_path(owner)) != NULL)
        rc = cmc_published_lookup(p->published, p->state_dir, path, d->pkg, d->commit, hit);
    free(owner);
    free(path);
    return rc;
}

/* sv_publishing, asking the cluster once when this node's files do not have it: another node
 * may have published the package, or this commit of a package this node knows, since this
 * node last heard (the p2 file a client read came from the database, the state file from this
 * node's disk). Anything else (a commit nobody published, which anyone with a read token could
 * name) costs no fetch, and at most the host's rate-limited refresh. */
static int sv_published(struct cmc_plugin *p, const struct sv_dist *d,
                        struct cmc_published_hit *hit)
{
    int rc = sv_publishing(p, d, hit);

    if (rc == CM_ENOENT && p->host->state_refresh(p->ctx) == CM_OK)
        rc = sv_publishing(p, d, hit);
    return rc;
}

static int sv_error(struct cmc_plugin *p, struct cm_http_response *rs, int status, const char *body,
                    size_t len)
{
    return p->host->http_respond(rs, status, "application/json", body, len);
}

/* Make the missing zip d names, check it against the shasum the p2 file promises, send it. */
static int sv_make_zip(struct cmc_plugin *p, const struct sv_dist *d, struct cm_http_response *rs)
{
    struct cmc_published_hit hit;
    char full[4096], sha[129] = "";
    int rc = sv_published(p, d, &hit);

    if (rc == CM_ENOMEM)
        return sv_error(p, rs, 503, cmc_no_zip, sizeof(cmc_no_zip) - 1);
    if (rc != CM_OK)
        return sv_error(p, rs, 404, cmc_no_file, sizeof(cmc_no_file) - 1);
    rc = p->host->archive(p->ctx, hit.endpoint, hit.repository, d->commit, NULL, d->rel);
    if (rc == CM_ENOENT)
        return sv_error(p, rs, 404, cmc_no_file, sizeof(cmc_no_file) - 1);
    if (rc == CM_EAGAIN) /* the host logged why (the fetch, the endpoint) */
        return sv_error(p, rs, 503, cmc_no_fetch, sizeof(cmc_no_fetch) - 1);
    if (rc != CM_OK) {
        p->host->log(p->ctx, CM_LOG_ERR, "%s: cannot make the zip of %.12s on this node (%s)",
                     d->pkg, d->commit,
                     rc == CM_EINVAL   ? "a file in it is over git.max_blob_size here"
                     : rc == CM_ENOMEM ? "out of memory"
                                       : "the mirror or the disk failed");
        return sv_error(p, rs, 500, cmc_no_zip, sizeof(cmc_no_zip) - 1);
    }
    snprintf(full, sizeof(full), "%s/%s", p->state_dir, d->rel);
    if (p->host->digest_file("sha1", full, sha) != CM_OK || strcmp(sha, hit.shasum) != 0) {
        /* Not what the p2 file promises: composer would refuse it, so nobody gets it. */
        unlink(full);
        p->host->log(p->ctx, CM_LOG_ERR,
                     "%s: the zip of %.12s made on this node has sha1 %s, not the published %s; "
                     "removed (is git.max_blob_size or the gateway version the same on every "
                     "node?)",
                     d->pkg, d->commit, sha, hit.shasum);
        return sv_error(p, rs, 500, cmc_no_zip, sizeof(cmc_no_zip) - 1);
    }
    return p->host->http_respond_file(rs, 200, "application/zip", d->rel);
}

int cmc_serve(void *self, const struct cm_http_request *rq, struct cm_http_response *rs)
{
    struct cmc_plugin *p = self;
    const char *path = p->host->http_path(rq);
    size_t n = strlen(path);
    const char *type =
        n > 4 && !strcmp(path + n - 4, ".zip") ? "application/zip" : "application/json";
    struct sv_dist d;
    int rc;

    /* The operator routes (admin.c): the host hands only those paths over as "/owners...";
     * the repository's own paths start /packages.json, /p2/ or /dist/. */
    if (!strncmp(path, "/owners", 7) && (path[7] == '\0' || path[7] == '/'))
        return cmc_admin(p, p->host->http_method(rq), path, rs);
    rc = p->host->http_respond_file(rs, 200, type, path + 1);
    if (rc != CM_ENOENT && rc != CM_EINVAL)
        return rc;
    if (!strcmp(path, "/packages.json"))
        return p->host->http_respond(rs, 200, "application/json", cmc_empty_index,
                                     sizeof(cmc_empty_index) - 1);
    if (rc == CM_ENOENT && CM_ABI_VERSION_MINOR(p->host->abi_version) >= 3 && p->host->archive &&
        p->host->state_refresh && sv_dist_parse(path, &d))
        return sv_make_zip(p, &d, rs);
    return p->host->http_respond(rs, 404, "application/json", cmc_no_file, sizeof(cmc_no_file) - 1);
}
