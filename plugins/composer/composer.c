/* SPDX-License-Identifier: MIT */
/*
 * The composer sync plugin: keeps a private Composer v2 repository (packages.json, p2/,
 * dist/ under its state_dir) in step with the mirrors. This file holds the descriptor, the
 * configuration and the reading of composer.json at each changed ref; publish.c the rest.
 */
#include "composer.h"
#include "index.h"
#include "published.h"
#include "state.h"
#include "version.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* composer.json as read from the mirror: at most CMC_COMPOSER_JSON_MAX bytes. */
struct cmc_blob {
    char *data;
    size_t len;
    int too_big;
};

static int cmc_blob_cb(void *arg, const void *data, size_t len)
{
    struct cmc_blob *b = arg;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    if (len > CMC_COMPOSER_JSON_MAX) {
        b->too_big = 1;
        return CM_OK;
    }
    if (!(b->data = malloc(len + 1)))
        return CM_ENOMEM;
    memcpy(b->data, data, len);
    b->data[len] = '\0';
    b->len = len;
    return CM_OK;
}

/* One walk of the mirror's refs against the state: what moved, and how many stayed. */
struct cmc_walk {
    json_t *refs;    /* borrowed: the state's refs */
    json_t *changed; /* owned: ref -> commit, new or moved (every ref when full) */
    size_t known;    /* refs of the state still in the mirror */
    int full;
};

static int cmc_ref_cb(void *arg, const char *ref, const char *commit)
{
    struct cmc_walk *w = arg;
    json_t *old;
    const char *was;

    if (strncmp(ref, "refs/heads/", 11) != 0 && strncmp(ref, "refs/tags/", 10) != 0)
        return CM_OK;
    old = json_object_get(w->refs, ref);
    was = json_string_value(json_object_get(old, "commit"));
    w->known += old != NULL;
    if (!w->full && was && strcmp(was, commit) == 0)
        return CM_OK;
    return json_object_set_new(w->changed, ref, json_string(commit)) ? CM_ENOMEM : CM_OK;
}

/* Names only, for the rare walk that looks for deleted refs. */
static int cmc_name_cb(void *arg, const char *ref, const char *commit)
{
    (void)commit;
    if (strncmp(ref, "refs/heads/", 11) != 0 && strncmp(ref, "refs/tags/", 10) != 0)
        return CM_OK;
    return json_object_set_new(arg, ref, json_true()) ? CM_ENOMEM : CM_OK;
}

/* A state entry that says why the ref publishes nothing. */
static json_t *cmc_skip(const char *commit, int silent, const char *fmt, ...) CM_PRINTF(3, 4);
static json_t *cmc_skip(const char *commit, int silent, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return json_pack("{s:s, s:s, s:b}", "commit", commit, "skip", why, "silent", silent);
}

/* Read composer.json at commit into a state entry: {"commit", "composer"} when it is usable,
 * {"commit", "skip"} when not. *rc is CM_OK unless the mirror itself failed. */
static json_t *cmc_read_ref(struct cmc_plugin *p, const struct cm_mirror *m, const char *commit,
                            int *rc)
{
    struct cmc_blob blob = {NULL, 0, 0};
    json_error_t err;
    json_t *doc = NULL, *entry = NULL;
    const char *name;

    *rc = p->host->mirror_read(m, commit, "composer.json", cmc_blob_cb, &blob);
    if (*rc == CM_ENOENT) {
        *rc = CM_OK;
        entry = cmc_skip(commit, 1, "no composer.json at %.12s; nothing to publish", commit);
        goto out;
    }
    if (*rc == CM_EINVAL) { /* the host refused it unread: over git.max_blob_size */
        *rc = CM_OK;
        entry = cmc_skip(commit, 0, "composer.json is larger than git.max_blob_size; shrink it");
        goto out;
    }
    if (*rc != CM_OK)
        goto out;
    if (blob.too_big) {
        entry = cmc_skip(commit, 0, "composer.json is larger than %d bytes", CMC_COMPOSER_JSON_MAX);
        goto out;
    }
    doc = json_loadb(blob.data, blob.len, 0, &err);
    if (!doc) {
        entry = cmc_skip(commit, 0, "composer.json is not valid JSON (line %d: %s); fix it",
                         err.line, err.text);
    } else if (!json_is_object(doc)) {
        entry = cmc_skip(commit, 0, "composer.json is not a JSON object; fix it");
    } else if (!(name = json_string_value(json_object_get(doc, "name")))) {
        entry =
            cmc_skip(commit, 0, "composer.json has no \"name\"; add \"name\": \"vendor/package\"");
    } else if (!cmc_valid_package_name(name)) {
        entry = cmc_skip(commit, 0,
                         "composer.json name \"%.100s\" is invalid; use lowercase "
                         "\"vendor/package\" (letters, digits and - . _ between them)",
                         name);
    } else {
        entry = json_pack("{s:s, s:O}", "commit", commit, "composer", doc);
    }
    if (!entry)
        *rc = CM_ENOMEM;
out:
    json_decref(doc);
    free(blob.data);
    return entry;
}

/* Drop from refs those the mirror no longer has. CM_OK or the mirror's error. */
static int cmc_drop_deleted(struct cmc_plugin *p, const struct cm_mirror *m, json_t *refs)
{
    json_t *cur = json_object(), *val;
    const char *ref;
    void *tmp;
    int rc;

    if (!cur)
        return CM_ENOMEM;
    rc = p->host->mirror_refs(m, cmc_name_cb, cur);
    if (rc == CM_OK) {
        json_object_foreach_safe (refs, tmp, ref, val) {
            if (!json_object_get(cur, ref))
                json_object_del(refs, ref);
        }
    }
    json_decref(cur);
    return rc;
}

/* Bring st's refs in line with the mirror: read the new and moved ones (all of them when full
 * is set), drop those that are gone. One walk of the refs, and only the changed ones kept
 * aside: with thousands of tags and one new, the rest costs a lookup each. CM_OK or the
 * mirror's error. */
static int cmc_refresh(struct cmc_plugin *p, const struct cm_mirror *m, json_t *st, int full)
{
    struct cmc_walk w = {json_object_get(st, "refs"), json_object(), 0, full};
    const char *ref;
    json_t *val;
    int rc;

    if (!w.changed)
        return CM_ENOMEM;
    rc = p->host->mirror_refs(m, cmc_ref_cb, &w);
    /* Every ref of the state was seen again, so none is gone; else look for those that are. */
    if (rc == CM_OK && w.known != json_object_size(w.refs))
        rc = cmc_drop_deleted(p, m, w.refs);
    if (rc != CM_OK)
        goto out;
    json_object_foreach (w.changed, ref, val) {
        json_t *entry = cmc_read_ref(p, m, json_string_value(val), &rc);
        if (rc != CM_OK)
            goto out;
        if (json_object_set_new(w.refs, ref, entry) != 0) {
            rc = CM_ENOMEM;
            goto out;
        }
    }
out:
    json_decref(w.changed);
    return rc;
}

static int cmc_on_sync(void *self, const struct cm_event *ev, const struct cm_mirror *m)
{
    struct cmc_plugin *p = self;
    const char *endpoint = p->host->mirror_get(m, CM_MIRROR_ENDPOINT);
    const char *repository = p->host->mirror_get(m, CM_MIRROR_REPOSITORY);
    const char *is_new = p->host->mirror_get(m, CM_MIRROR_IS_NEW);
    const char *id = p->host->mirror_get(m, CM_MIRROR_REPOSITORY_ID);
    int full = !p->host->event_complete(ev) || (is_new && strcmp(is_new, "true") == 0);
    char *path = NULL, *owner = NULL;
    struct cmc_repo_cache *e = NULL;
    json_t *st;
    int rc = CM_ENOMEM, prc, src;

    if (!endpoint || !repository) {
        p->host->log(p->ctx, CM_LOG_ERR, "mirror has no endpoint or repository name; skipped");
        return CM_ERROR;
    }
    if (!p->owners) { /* the host calls start first; a host that did not is a bug */
        p->host->log(p->ctx, CM_LOG_ERR, "on_sync before start; retried later");
        return CM_EAGAIN;
    }
    if (!(path = cmc_state_path(endpoint, repository, id)) ||
        !(owner = cmc_owner_key(endpoint, repository, id)))
        goto out;
    if (!(e = cmc_cache_take(&p->cache, p->state_dir, path)) &&
        (!(st = cmc_state_load(p->state_dir, path)) || !(e = cmc_repo_cache_new(path, st))))
        goto out;
    if (id && cmc_state_follow(p, endpoint, repository, id, owner,
                               is_new && strcmp(is_new, "true") == 0, &e->st, &full) != CM_OK)
        goto out;
    if (full)
        cmc_repo_cache_forget(e);
    if (json_object_set_new(e->st, "endpoint", json_string(endpoint)) != 0 ||
        json_object_set_new(e->st, "repository", json_string(repository)) != 0)
        goto out;
    rc = cmc_refresh(p, m, e->st, full);
    if (rc != CM_OK) {
        p->host->log(p->ctx, CM_LOG_WARNING, "%s: reading the mirror failed (%d); will retry",
                     owner, rc);
        rc = rc == CM_ENOMEM ? rc : CM_EAGAIN;
        goto out;
    }
    prc = cmc_publish(p, m, e, owner);
    /* Save even after a partial publish: the refs read stay read and the ownership recorded. */
    src = cmc_state_save(&p->files, path, e->st, &e->state_text);
    if (src != CM_OK)
        p->host->log(p->ctx, CM_LOG_ERR, "cannot write %s/%s; check the data directory",
                     p->state_dir, path);
    rc = prc != CM_OK ? prc : src;
out:
    /* Only a whole success is remembered: anything else starts again from the state file. */
    if (e && rc == CM_OK)
        cmc_cache_put(&p->cache, p->state_dir, e);
    else
        cmc_repo_cache_free(e);
    free(path);
    free(owner);
    return rc;
}

static char *cmc_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int cmc_valid_base_url(const char *url)
{
    const char *host = NULL;
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    return host && *host && *host != '/' && !strpbrk(url, " \t\r\n\"");
}

/* A SIGHUP builds new instances while the old ones may still be publishing, so the ownership
 * map and the lock around packages.json belong to the state directory, not to an instance:
 * every instance on one directory shares them. Plugins are never unloaded, so they live until
 * exit. */
static pthread_mutex_t cmc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *dir;      /* NULL: free slot */
    json_t *owners; /* one reference held by the slot */
    int users;      /* instances using it; the slot is freed with the last */
} cmc_shared[16];

/* The shared ownership map of dir (a new reference), scanned from disk the first time (pol
 * settles names two state files claim). */
static json_t *cmc_shared_owners(const char *dir, const struct cmc_policy *pol)
{
    json_t *owners = NULL;
    size_t i;
    pthread_mutex_lock(&cmc_lock);
    for (i = 0; i < sizeof(cmc_shared) / sizeof(*cmc_shared) && cmc_shared[i].dir; i++)
        if (!strcmp(cmc_shared[i].dir, dir))
            break;
    if (i < sizeof(cmc_shared) / sizeof(*cmc_shared)) {
        if (!cmc_shared[i].dir) {
            json_t *fresh = json_object();
            char *copy = cmc_strdup(dir);
            if (fresh && copy && cmc_owners_scan(dir, fresh, pol) == CM_OK) {
                cmc_shared[i].dir = copy;
                cmc_shared[i].owners = fresh;
            } else {
                json_decref(fresh);
                free(copy);
            }
        }
        if (cmc_shared[i].owners) {
            owners = json_incref(cmc_shared[i].owners);
            cmc_shared[i].users++;
        }
    }
    pthread_mutex_unlock(&cmc_lock);
    return owners;
}

/* An instance on dir is going away; the last one frees the shared map, so a real restart
 * scans the disk again. */
static void cmc_shared_release(const char *dir)
{
    pthread_mutex_lock(&cmc_lock);
    for (size_t i = 0; i < sizeof(cmc_shared) / sizeof(*cmc_shared); i++) {
        if (cmc_shared[i].dir && !strcmp(cmc_shared[i].dir, dir) && --cmc_shared[i].users == 0) {
            json_decref(cmc_shared[i].owners);
            free(cmc_shared[i].dir);
            cmc_shared[i].dir = NULL;
            cmc_shared[i].owners = NULL;
        }
    }
    pthread_mutex_unlock(&cmc_lock);
}

/* Hand back what start took; the host calls it before destroy, on the main thread. */
static void cmc_stop(void *self)
{
    struct cmc_plugin *p = self;
    if (p->owners)
        cmc_shared_release(p->state_dir);
    json_decref(p->owners);
    p->owners = NULL;
    free(p->state_dir);
    p->state_dir = NULL;
    p->files.dir = NULL;
}

static void cmc_destroy(void *self)
{
    struct cmc_plugin *p = self;
    if (!p)
        return;
    cmc_stop(p);
    cmc_policy_free(&p->policy);
    cmc_cache_free(&p->cache);
    cmc_published_free(p->published);
    free(p->base_url);
    free(p);
}

/* packages: a list of patterns (a single string is a list of one); absent or empty, every
 * endpoint may publish any name. A malformed pattern stops the gateway at start. */
static int cmc_read_packages(struct cmc_plugin *p)
{
    const char *pat;
    char why[512];
    int rc = p->host->conf_list(p->ctx, "packages", 0, &pat), single = 0;

    if (rc == CM_EINVAL && p->host->conf_string(p->ctx, "packages", &pat) == CM_OK) {
        single = 1;
        rc = CM_OK;
    }
    for (size_t i = 1; rc == CM_OK; i++) {
        rc = cmc_policy_add(&p->policy, pat, why, sizeof(why));
        if (rc != CM_OK) {
            p->host->log(p->ctx, CM_LOG_ERR, "packages: %s; fix it in the composer sync entry",
                         why);
            return rc;
        }
        rc = single ? CM_ENOENT : p->host->conf_list(p->ctx, "packages", i, &pat);
    }
    if (rc == CM_ENOENT)
        return CM_OK;
    p->host->log(p->ctx, CM_LOG_ERR,
                 "packages must be a list of patterns, e.g. packages = [ \"acme/*\", "
                 "\"github:acme/*\" ], in the composer sync entry");
    return CM_EINVAL;
}

/* Names published before the patterns changed stay until their repository syncs again (it is
 * then refused and the name released) or the endpoint that now reserves them publishes them.
 * Say which, so an operator knows what is still served and why. */
static void cmc_warn_stale(struct cmc_plugin *p)
{
    const char *name;
    json_t *val;
    char ep[256], why[512];

    pthread_mutex_lock(p->lock);
    json_object_foreach (p->owners, name, val) {
        const char *owner = json_string_value(val), *repo = owner ? strchr(owner, ':') : NULL;
        if (!repo)
            continue;
        cmc_owner_endpoint(owner, ep, sizeof(ep));
        if (cmc_policy_check(&p->policy, ep, name, why, sizeof(why)) == CM_OK)
            continue;
        p->host->log(p->ctx, CM_LOG_WARNING,
                     "%s is still published from %s, which packages no longer allows (%s); it "
                     "is taken down at that repository's next push",
                     name, owner, why);
    }
    pthread_mutex_unlock(p->lock);
}

static int cmc_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct cmc_plugin *p = calloc(1, sizeof(*p));
    const char *url = NULL;
    int rc;

    if (!p)
        return CM_ENOMEM;
    p->host = host;
    p->ctx = ctx;
    p->lock = &cmc_lock;
    cmc_cache_init(&p->cache);
    if (cmc_published_new(&p->published) != CM_OK) {
        free(p);
        return CM_ENOMEM;
    }
    p->files.host = host;
    p->files.ctx = ctx;
    rc = host->conf_string(ctx, "base_url", &url);
    if (rc != CM_OK || !cmc_valid_base_url(url)) {
        host->log(ctx, CM_LOG_ERR,
                  "base_url %s: set base_url = \"https://packages.example.com\" (the http(s) URL "
                  "composer reaches this gateway at) in the composer sync entry",
                  rc == CM_ENOENT ? "is missing"
                  : rc != CM_OK   ? "is not a string"
                                  : "is not an "
                                    "http(s) URL");
        rc = CM_EINVAL;
        goto out;
    }
    rc = CM_ENOMEM;
    if (!(p->base_url = cmc_strdup(url)))
        goto out;
    for (size_t n = strlen(p->base_url); n > 0 && p->base_url[n - 1] == '/'; n--)
        p->base_url[n - 1] = '\0';
    rc = cmc_read_packages(p);
out:
    if (rc != CM_OK) {
        cmc_destroy(p);
        p = NULL;
    }
    *self = p;
    return rc;
}

/* The sync entry keys besides plugin (SDK 1.2): a typo in one is a configuration error. */
static const struct cm_conf_key cmc_config_keys[] = {
    {"base_url", CM_CONF_STRING}, {"packages", CM_CONF_LIST}, {NULL, 0}};
/* Only under serve (create must write nothing: it runs for check and parse): the state
 * directory, the ownership map read from it, and packages.json. A SIGHUP twin on the same
 * directory shares the map (cmc_shared_owners), so its start finds it already read. */
static int cmc_start(void *self)
{
    struct cmc_plugin *p = self;
    const char *dir = p->host->state_dir(p->ctx);
    int rc;

    if (!dir) {
        p->host->log(p->ctx, CM_LOG_ERR,
                     "cannot create the composer state directory under data_dir; make it "
                     "writable for the user the gateway runs as");
        return CM_ERROR;
    }
    if (!(p->state_dir = cmc_strdup(dir)) || !(p->owners = cmc_shared_owners(dir, &p->policy))) {
        cmc_stop(p);
        return CM_ENOMEM;
    }
    p->files.dir = p->state_dir;
    cmc_warn_stale(p);
    /* An empty repository is still a valid one: composer gets packages.json, not a 404. */
    pthread_mutex_lock(p->lock);
    rc = cmc_write_packages_json(&p->files, p->owners);
    pthread_mutex_unlock(p->lock);
    if (rc != CM_OK)
        p->host->log(p->ctx, CM_LOG_WARNING, "cannot write %s/packages.json; check data_dir", dir);
    return CM_OK;
}

/* The dist zips are each node's own cache: serve makes a missing one again (host->archive). */
static const char *const cmc_node_local[] = {"dist/", NULL};

CM_EXPORT const struct cm_sync_plugin cargoman_sync_plugin = {
    .abi_version = CM_ABI_VERSION,
    .name = "composer",
    .version = "0.1.0",
    .description = "private Composer v2 repository (packages.json, p2/, dist/) kept in step "
                   "with the mirrors",
    .create = cmc_create,
    .destroy = cmc_destroy,
    .on_sync = cmc_on_sync,
    .config_keys = cmc_config_keys,
    .start = cmc_start,
    .stop = cmc_stop,
    .routes = cmc_routes,
    .serve = cmc_serve,
    .node_local = cmc_node_local,
    .state_changed = cmc_state_changed,
    .admin_routes = cmc_admin_routes,
    .flags = CM_SYNC_FROM_MIRRORS,
};
