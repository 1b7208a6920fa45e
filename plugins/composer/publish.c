/* SPDX-License-Identifier: MIT */
/*
 * From the refs recorded for one repository to what composer downloads: tag and branch
 * versions as Composer's VcsRepository names them, the one-repository-one-package ownership
 * rule, dist zips cached by commit, the package's p2 files and packages.json.
 */
#include "cache.h"
#include "composer.h"
#include "index.h"
#include "p2.h"
#include "state.h"
#include "version.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One ref of the repository and what becomes of it. */
struct pb_item {
    const char *ref;    /* borrowed from the state */
    const char *commit; /* borrowed from the state */
    json_t *version;    /* owned; NULL when the ref publishes nothing */
    int is_tag;
    int reused;     /* version is the one published last time, "dist" and all */
    int host_noted; /* the host noted why (a file over git.max_blob_size): leave its note */
    char note[512]; /* why nothing is published; "" when published */
};

static int pb_by_ref(const void *a, const void *b)
{
    return strcmp(((const struct pb_item *)a)->ref, ((const struct pb_item *)b)->ref);
}

static int pb_hex(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return s[n] == '\0' && n >= 4 && n <= 64;
}

/* Composer keeps the default branch's name for every version (VcsRepository::preProcess);
 * without one there, the first usable ref in name order names the package. */
static const char *pb_package_name(json_t *refs, const char *default_branch, struct pb_item *items,
                                   size_t n)
{
    if (default_branch) {
        char ref[512];
        snprintf(ref, sizeof(ref), "refs/heads/%s", default_branch);
        json_t *composer = json_object_get(json_object_get(refs, ref), "composer");
        if (composer)
            return json_string_value(json_object_get(composer, "name"));
    }
    for (size_t i = 0; i < n; i++) {
        json_t *composer = json_object_get(json_object_get(refs, items[i].ref), "composer");
        if (composer)
            return json_string_value(json_object_get(composer, "name"));
    }
    return NULL;
}

/* A complete version: name, version, version_normalized, composer.json's other fields, source. */
static json_t *pb_version(const char *pkg, const struct cmc_version *v, json_t *composer,
                          const char *url, const char *commit, int default_branch)
{
    static const char *const ours[] = {"name",           "version", "version_normalized",
                                       "default-branch", "source",  "dist"};
    json_t *out = json_pack("{s:s, s:s, s:s}", "name", pkg, "version", v->version,
                            "version_normalized", v->normalized);
    const char *key;
    json_t *val;

    if (!out)
        return NULL;
    json_object_foreach (composer, key, val) {
        size_t k = 0;
        while (k < sizeof(ours) / sizeof(ours[0]) && strcmp(key, ours[k]) != 0)
            k++;
        if (k == sizeof(ours) / sizeof(ours[0]) && json_object_set(out, key, val) != 0)
            goto fail;
    }
    if (url && json_object_set_new(
                   out, "source",
                   json_pack("{s:s, s:s, s:s}", "type", "git", "url", url, "reference", commit)))
        goto fail;
    if (default_branch && json_object_set_new(out, "default-branch", json_true()) != 0)
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* What a repository's versions are made from besides its refs: the cached ones serve only
 * while these stay. NULL on ENOMEM. */
static char *pb_made_for(const char *pkg, const char *url, const char *def)
{
    size_t len = strlen(pkg) + (url ? strlen(url) : 0) + (def ? strlen(def) : 0) + 3;
    char *s = malloc(len);

    if (s)
        snprintf(s, len, "%s\n%s\n%s", pkg, url ? url : "", def ? def : "");
    return s;
}

/* The version published last time for it, when its ref still points at the same commit:
 * pub is sorted by ref like the items, so *k only moves forward. */
static json_t *pb_cached(const struct cmc_repo_cache *e, size_t *k, const struct pb_item *it)
{
    int c = 1;

    while (*k < e->npub && (c = strcmp(e->pub[*k].ref, it->ref)) < 0)
        (*k)++;
    if (c != 0 || *k >= e->npub || strcmp(e->pub[*k].commit, it->commit) != 0)
        return NULL;
    return e->pub[*k].version;
}

/* The directory of pkg's zips as it is now (zeroed when unreadable). */
static void pb_dist_dir(const char *state_dir, const char *pkg, struct stat *out)
{
    char dir[4096];

    if (snprintf(dir, sizeof(dir), "%s/dist/%s", state_dir, pkg) >= (int)sizeof(dir) ||
        stat(dir, out) != 0)
        memset(out, 0, sizeof(*out));
}

/* Fill items[i].version or items[i].note for every ref, taking the versions e published last
 * time where their inputs are unchanged and their zips still there. CM_OK or CM_ENOMEM. */
static int pb_versions(struct cmc_plugin *p, const struct cm_mirror *m, struct cmc_repo_cache *e,
                       const char *pkg, struct pb_item *items, size_t n)
{
    const struct cm_host *host = p->host;
    const char *url = host->mirror_get(m, CM_MIRROR_URL);
    const char *def = host->mirror_get(m, CM_MIRROR_DEFAULT_BRANCH);
    struct stat dist;
    json_t *refs = json_object_get(e->st, "refs");
    json_t *seen = json_object();
    char *made_for = pb_made_for(pkg, url, def);
    size_t k = 0;
    int rc = CM_ENOMEM;

    if (!seen || !made_for)
        goto out;
    /* A zip removed from dist/ (by hand) changes the directory: every version is checked
     * again, so the missing zip is made again rather than served as a 404. */
    pb_dist_dir(p->state_dir, pkg, &dist);
    if (!e->made_for || strcmp(e->made_for, made_for) != 0 || !cmc_same_stat(&e->dist_dir, &dist)) {
        cmc_repo_cache_forget(e);
        e->made_for = made_for;
        made_for = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct pb_item *it = &items[i];
        json_t *entry = json_object_get(refs, it->ref);
        json_t *composer = json_object_get(entry, "composer");
        json_t *jv = json_object_get(composer, "version");
        json_t *cached = pb_cached(e, &k, it);
        const char *short_name = it->ref + (it->is_tag ? 10 : 11), *prior;
        struct cmc_version v;
        int is_default = !it->is_tag && def && strcmp(short_name, def) == 0;

        if (cached) {
            const char *normalized =
                json_string_value(json_object_get(cached, "version_normalized"));
            if ((prior = json_string_value(json_object_get(seen, normalized))) != NULL) {
                snprintf(it->note, sizeof(it->note), "%s resolves to %s like %s; skipped",
                         short_name, normalized, prior);
                continue;
            }
            if (json_object_set_new(seen, normalized, json_string(short_name)) != 0)
                goto out;
            it->version = json_incref(cached);
            it->reused = 1;
            it->note[0] = '\0';
            continue;
        }
        if (!composer) {
            snprintf(it->note, sizeof(it->note), "%s",
                     json_string_value(json_object_get(entry, "skip")));
            continue;
        }
        if (it->is_tag && jv && !json_is_string(jv)) {
            snprintf(it->note, sizeof(it->note), "composer.json \"version\" must be a string");
            continue;
        }
        if (it->is_tag
                ? cmc_tag_version(&v, short_name, json_string_value(jv), it->note, sizeof(it->note))
                : cmc_branch_version(&v, short_name, it->note, sizeof(it->note)))
            continue;
        /* Two tags naming one version (v1.0 and 1.0.0): the first, as Composer keeps it. */
        if ((prior = json_string_value(json_object_get(seen, v.normalized))) != NULL) {
            snprintf(it->note, sizeof(it->note), "%s resolves to %s like %s; skipped", short_name,
                     v.normalized, prior);
            continue;
        }
        if (json_object_set_new(seen, v.normalized, json_string(short_name)) != 0 ||
            !(it->version = pb_version(pkg, &v, composer, url, it->commit, is_default)))
            goto out;
        it->note[0] = '\0';
    }
    rc = CM_OK;
out:
    json_decref(seen);
    free(made_for);
    return rc;
}

/* Whether the gateway no longer follows holder's repository (SDK 1.4): its endpoint is gone
 * from the configuration (removed, or renamed as a Data Center becomes dc-eu) or its mirror
 * from the disk. Then nobody can publish from it again, and a name it holds would be stuck. */
static int pb_holder_gone(struct cmc_plugin *p, const char *holder)
{
    char ep[256], repo[1100];

    if (CM_ABI_VERSION_MINOR(p->host->abi_version) < 4 || !p->host->repository_followed ||
        !cmc_owner_split(holder, ep, sizeof(ep), repo, sizeof(repo)))
        return 0;
    return p->host->repository_followed(p->ctx, ep, repo) == CM_ENOENT;
}

/* Record in st when it took pkg (RFC 3339 UTC), for `cargoman composer owners`. */
static int pb_since(struct cmc_plugin *p, json_t *st)
{
    time_t t = (time_t)p->host->now();
    struct tm tm;
    char when[32];

    if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
        return CM_OK;
    return json_object_set_new(st, "package_since", json_string(when)) ? CM_ENOMEM : CM_OK;
}

/* Claim pkg for owner, or refuse it when another repository has it: the first repository to
 * publish a name owns it, except that a name the packages patterns reserve for endpoint goes
 * to it from a holder whose endpoint they do not (it was published before the pattern was
 * written), and that a holder the gateway no longer follows gives it up (*gone set).
 * holder_out gets the other repository's key, refused or displaced. Releases the name the
 * repository owned before when that changes; *released gets a copy of it (caller frees).
 * 1 claimed, 0 refused, or a negative status. */
static int pb_claim(struct cmc_plugin *p, json_t *st, const char *pkg, const char *owner,
                    const char *endpoint, char *holder_out, size_t holder_len, char **released,
                    int *gone)
{
    const char *old = json_string_value(json_object_get(st, "package"));
    const char *holder;
    char holder_ep[256];
    int claimed = 0, rc = CM_ENOMEM;

    *released = NULL;
    *gone = 0;
    holder_out[0] = '\0';
    pthread_mutex_lock(p->lock);
    holder = pkg ? json_string_value(json_object_get(p->owners, pkg)) : NULL;
    if (pkg && holder && strcmp(holder, owner) != 0) {
        snprintf(holder_out, holder_len, "%s", holder);
        cmc_owner_endpoint(holder, holder_ep, sizeof(holder_ep));
        claimed = cmc_policy_reserves(&p->policy, endpoint, pkg) &&
                  !cmc_policy_reserves(&p->policy, holder_ep, pkg);
        if (!claimed && !cmc_policy_reserves(&p->policy, holder_ep, pkg))
            claimed = *gone = pb_holder_gone(p, holder);
    } else if (pkg) {
        claimed = 1;
    }
    if (claimed && json_object_set_new(p->owners, pkg, json_string(owner)) != 0)
        goto out;
    if (claimed && (!old || strcmp(old, pkg) != 0 || holder_out[0]) && pb_since(p, st) != CM_OK)
        goto out;
    if (old && (!claimed || strcmp(old, pkg) != 0)) {
        const char *h = json_string_value(json_object_get(p->owners, old));
        if (h && strcmp(h, owner) == 0) {
            if (!(*released = strdup(old)))
                goto out;
            json_object_del(p->owners, old);
        }
    }
    rc = json_object_set_new(st, "package", claimed ? json_string(pkg) : json_null()) ? CM_ENOMEM
                                                                                      : CM_OK;
out:
    pthread_mutex_unlock(p->lock);
    return rc == CM_OK ? (claimed ? 1 : 0) : rc;
}

/* The displaced holder's state file still claims pkg: drop that claim, or a restart without
 * the pattern would find two claims and hand the name back to the first in name order. */
static void pb_disown(struct cmc_plugin *p, const char *holder, const char *pkg)
{
    char *path = cmc_owner_state_path(holder);
    json_t *st;

    if (!path)
        return;
    st = cmc_state_load(p->state_dir, path);
    if (json_is_string(json_object_get(st, "package")) &&
        strcmp(json_string_value(json_object_get(st, "package")), pkg) == 0 &&
        (json_object_set_new(st, "package", json_null()) != 0 ||
         cmc_state_save(&p->files, path, st, NULL) != CM_OK))
        p->host->log(p->ctx, CM_LOG_ERR, "cannot write %s/%s; check the data directory",
                     p->state_dir, path);
    json_decref(st);
    free(path);
}

/* Note on every ref that had a version why none is published. */
static void pb_refuse(struct pb_item *items, size_t n, const char *fmt, ...) CM_PRINTF(3, 4);
static void pb_refuse(struct pb_item *items, size_t n, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < n; i++) {
        if (items[i].version)
            snprintf(items[i].note, sizeof(items[i].note), "%s", why);
    }
}

/* Make sure the zip of it->commit exists, and add "dist" to its version. */
static int pb_dist(struct cmc_plugin *p, const struct cm_mirror *m, json_t *shasums,
                   const char *pkg, struct pb_item *it)
{
    char path[4096], url[4096], sha[129] = "";
    struct stat sb;
    const char *cached = json_string_value(json_object_get(shasums, it->commit));
    int fresh = 0;

    if (!pb_hex(it->commit))
        return CM_ERROR;
    snprintf(path, sizeof(path), "%s/dist/%s/%s.zip", p->state_dir, pkg, it->commit);
    snprintf(url, sizeof(url), "%s/dist/%s/%s.zip", p->base_url, pkg, it->commit);
    if (stat(path, &sb) != 0) {
        int arc = cmc_mkdirs(path);
        if (arc == CM_OK)
            arc = p->host->mirror_archive(m, it->commit, NULL, path);
        if (arc == CM_EINVAL) /* a file over git.max_blob_size: content, not a failure */
            return CM_EINVAL;
        if (arc != CM_OK) {
            p->host->log(p->ctx, CM_LOG_WARNING,
                         "%s: cannot make the zip of %s (%.12s); "
                         "published without dist, will retry",
                         pkg, it->ref, it->commit);
            return CM_EAGAIN;
        }
        fresh = 1;
    }
    if (!fresh && cached && strlen(cached) == 40) {
        memcpy(sha, cached, 41);
    } else if (p->host->digest_file("sha1", path, sha) != CM_OK) {
        return CM_EAGAIN;
    }
    if (json_object_set_new(shasums, it->commit, json_string(sha)) != 0 ||
        json_object_set_new(it->version, "dist",
                            json_pack("{s:s, s:s, s:s, s:s}", "type", "zip", "url", url,
                                      "reference", it->commit, "shasum", sha)) != 0)
        return CM_ENOMEM;
    return CM_OK;
}

/* Remove zips of pkg that no published version points at any more. */
static void pb_prune(const char *state_dir, const char *pkg, json_t *keep)
{
    char dir[4096];
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "%s/dist/%s", state_dir, pkg);
    if (!(d = opendir(dir)))
        return;
    while ((e = readdir(d)) != NULL) {
        char commit[256], file[4096 + 256];
        size_t len = strlen(e->d_name);
        if (len < 5 || len - 4 >= sizeof(commit) || strcmp(e->d_name + len - 4, ".zip") != 0)
            continue;
        memcpy(commit, e->d_name, len - 4);
        commit[len - 4] = '\0';
        if (json_object_get(keep, commit))
            continue;
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        unlink(file);
    }
    closedir(d);
}

/* Whether a zip may have lost its last version since the last publish of e, which pruned: a
 * commit published then that no version keeps now. Without that memory, always. With
 * thousands of versions the listing of dist/ is what pruning costs. */
static int pb_may_prune(const struct cmc_repo_cache *e, json_t *keep)
{
    if (!e->npub)
        return 1;
    for (size_t i = 0; i < e->npub; i++) {
        if (!json_object_get(keep, e->pub[i].commit))
            return 1;
    }
    return 0;
}

/* Dist zips, then the two p2 files of pkg. CM_OK, CM_EAGAIN (some zip missing), CM_EIGNORE
 * (owner lost pkg meanwhile: nothing written) or an error. A version whose zip would hold a
 * file over git.max_blob_size is left out, for good: the host noted why on its ref. */
static int pb_write(struct cmc_plugin *p, const struct cm_mirror *m, struct cmc_repo_cache *e,
                    const char *pkg, const char *owner, struct pb_item *items, size_t n)
{
    json_t *tags = json_array(), *devs = json_array(), *keep = json_object();
    json_t *shasums = json_object_get(e->st, "shasums");
    const char *holder;
    int rc = CM_ENOMEM, again = 0, changed = 0;

    if (!tags || !devs || !keep)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!items[i].version)
            continue;
        /* A reused version's zip was made and its shasum kept when it was first published. */
        int drc = items[i].reused ? CM_OK : pb_dist(p, m, shasums, pkg, &items[i]);
        if (drc == CM_EINVAL) {
            p->host->log(p->ctx, CM_LOG_WARNING,
                         "%s: %s (%.12s) is not published: a file in it is larger than "
                         "git.max_blob_size (its note on GET /api/repositories says which)",
                         pkg, items[i].ref, items[i].commit);
            json_decref(items[i].version);
            items[i].version = NULL;
            items[i].host_noted = 1;
            continue;
        }
        if (drc == CM_EAGAIN)
            again = 1;
        else if (drc != CM_OK)
            goto out;
        if ((drc == CM_OK && json_object_set_new(keep, items[i].commit, json_true()) != 0) ||
            json_array_append(items[i].is_tag ? tags : devs, items[i].version) != 0)
            goto out;
    }
    /* The name may have gone to the endpoint packages reserve it for while the zips were
     * made: the p2 files and the pruning are the owner's alone, so both happen under the lock
     * that guards ownership. */
    pthread_mutex_lock(p->lock);
    holder = json_string_value(json_object_get(p->owners, pkg));
    if (!holder || strcmp(holder, owner) != 0) {
        pthread_mutex_unlock(p->lock);
        rc = CM_EIGNORE;
        goto out;
    }
    rc = cmc_write_p2(&p->files, pkg, tags, devs, &e->tags, &e->devs, &changed);
    if (rc == CM_OK && pb_may_prune(e, keep))
        pb_prune(p->state_dir, pkg, keep);
    pthread_mutex_unlock(p->lock);
    if (rc != CM_OK) {
        p->host->log(p->ctx, CM_LOG_ERR, "cannot write %s/p2/%s.json; check the data directory",
                     p->state_dir, pkg);
        goto out;
    }
    /* Forget shasums of commits no version uses, so the state does not grow forever. */
    json_object_update_existing(keep, shasums);
    json_object_set(e->st, "shasums", keep);
    p->host->log(p->ctx, CM_LOG_INFO, "%s: %zu tagged and %zu dev versions, %d file(s) rewritten",
                 pkg, json_array_size(tags), json_array_size(devs), changed);
    rc = again ? CM_EAGAIN : CM_OK;
out:
    json_decref(tags);
    json_decref(devs);
    json_decref(keep);
    return rc;
}

/* packages.json after the p2 files, then the files of a name given up, if nobody took it. */
static int pb_finish(struct cmc_plugin *p, const char *released)
{
    int rc;
    pthread_mutex_lock(p->lock);
    rc = cmc_write_packages_json(&p->files, p->owners);
    if (rc == CM_OK && released && !json_object_get(p->owners, released))
        cmc_remove_package(p->state_dir, released);
    pthread_mutex_unlock(p->lock);
    if (rc != CM_OK)
        p->host->log(p->ctx, CM_LOG_ERR, "cannot write %s/packages.json; check the data directory",
                     p->state_dir);
    return rc;
}

/* What the next sync may reuse: the versions of pkg just published, or nothing when none
 * was. */
static int pb_remember(struct cmc_plugin *p, struct cmc_repo_cache *e, const char *pkg,
                       const struct pb_item *items, size_t n, int published)
{
    struct cmc_pub *pub;
    size_t k = 0;

    cmc_pub_free(e->pub, e->npub);
    e->pub = NULL;
    e->npub = 0;
    if (!published) {
        cmc_repo_cache_forget(e);
        return CM_OK;
    }
    if (!(pub = calloc(n ? n : 1, sizeof(*pub))))
        return CM_ENOMEM;
    e->pub = pub;
    pb_dist_dir(p->state_dir, pkg, &e->dist_dir);
    for (size_t i = 0; i < n; i++) {
        if (!items[i].version)
            continue;
        pub[k].ref = strdup(items[i].ref);
        pub[k].commit = strdup(items[i].commit);
        pub[k].version = json_incref(items[i].version);
        e->npub = ++k;
        if (!pub[k - 1].ref || !pub[k - 1].commit)
            return CM_ENOMEM;
    }
    return CM_OK;
}

int cmc_publish(struct cmc_plugin *p, const struct cm_mirror *m, struct cmc_repo_cache *e,
                const char *owner)
{
    json_t *st = e->st;
    const char *endpoint = p->host->mirror_get(m, CM_MIRROR_ENDPOINT);
    json_t *refs = json_object_get(st, "refs"), *val;
    size_t n = json_object_size(refs), i = 0;
    struct pb_item *items = calloc(n ? n : 1, sizeof(*items));
    const char *ref, *pkg, *allowed;
    char holder[512] = "", why[512];
    char *released = NULL;
    int rc = CM_ENOMEM, claimed, written = 0, gone = 0;

    if (!items)
        return CM_ENOMEM;
    json_object_foreach (refs, ref, val) {
        items[i].ref = ref;
        items[i].commit = json_string_value(json_object_get(val, "commit"));
        items[i].is_tag = strncmp(ref, "refs/tags/", 10) == 0;
        if (items[i].commit)
            i++;
    }
    n = i;
    qsort(items, n, sizeof(*items), pb_by_ref);
    pkg = allowed =
        pb_package_name(refs, p->host->mirror_get(m, CM_MIRROR_DEFAULT_BRANCH), items, n);
    if (pkg && (rc = pb_versions(p, m, e, pkg, items, n)) != CM_OK)
        goto out;
    /* A name the patterns refuse is a configuration decision: noted, logged, not retried, and
     * a name the repository held before is given up like after a rename. */
    if (pkg && cmc_policy_check(&p->policy, endpoint ? endpoint : "", pkg, why, sizeof(why))) {
        p->host->log(p->ctx, CM_LOG_WARNING, "%s: %s", owner, why);
        pb_refuse(items, n, "%s", why);
        allowed = NULL;
    }
    claimed = pb_claim(p, st, allowed, owner, endpoint ? endpoint : "", holder, sizeof(holder),
                       &released, &gone);
    if (claimed < 0) {
        rc = claimed;
        goto out;
    }
    if (allowed && !claimed) {
        p->host->log(p->ctx, CM_LOG_WARNING,
                     "package %s is already published from %s; %s is refused: give it another "
                     "name in composer.json or stop publishing it from %s",
                     pkg, holder, owner, holder);
        pb_refuse(items, n, "package %.200s is already published from %.200s; refused", pkg,
                  holder);
    } else if (claimed && gone) {
        p->host->log(p->ctx, CM_LOG_WARNING,
                     "package %s is released by %s, which the gateway no longer follows (its "
                     "endpoint is not configured any more, or its mirror was removed), and now "
                     "published from %s",
                     pkg, holder, owner);
        pb_disown(p, holder, pkg);
    } else if (claimed && holder[0]) {
        p->host->log(p->ctx, CM_LOG_WARNING,
                     "package %s is taken from %s, whose endpoint packages does not reserve it, "
                     "for %s, whose endpoint it does",
                     pkg, holder, owner);
        pb_disown(p, holder, pkg);
    }
    rc = claimed ? pb_write(p, m, e, pkg, owner, items, n) : CM_OK;
    written = claimed && rc == CM_OK;
    if (rc == CM_EIGNORE) {
        p->host->log(p->ctx, CM_LOG_WARNING,
                     "package %s went to the endpoint packages reserve it for while %s was "
                     "publishing it; %s is refused",
                     pkg, owner, owner);
        pb_refuse(items, n, "package %.200s went to the endpoint packages reserve it for; refused",
                  pkg);
        rc = json_object_set_new(st, "package", json_null()) ? CM_ENOMEM : CM_OK;
    }
    if (rc == CM_OK || rc == CM_EAGAIN) {
        int frc = pb_finish(p, released);
        rc = frc != CM_OK ? frc : rc;
    }
    for (i = 0; i < n; i++) {
        if (!items[i].host_noted)
            p->host->mirror_note(m, items[i].ref, items[i].note[0] ? items[i].note : NULL);
    }
    if (rc == CM_OK)
        rc = pb_remember(p, e, pkg, items, n, written);
out:
    for (i = 0; i < n; i++)
        json_decref(items[i].version);
    free(items);
    free(released);
    return rc;
}

int cmc_release(struct cmc_plugin *p, const char *pkg, char *holder, size_t holder_len)
{
    const char *h;
    int rc = CM_ENOENT;

    holder[0] = '\0';
    pthread_mutex_lock(p->lock);
    if (p->owners && (h = json_string_value(json_object_get(p->owners, pkg))) != NULL) {
        snprintf(holder, holder_len, "%s", h);
        json_object_del(p->owners, pkg);
        /* Its files stay: clients with a lock file still download the zips until the next
         * publisher replaces them. */
        rc = cmc_write_packages_json(&p->files, p->owners);
        /* Under the lock, so the holder's next claim (made under it too) comes after and
         * its state file is not left saying "nothing" while the map says the holder. */
        pb_disown(p, holder, pkg);
    }
    pthread_mutex_unlock(p->lock);
    if (!holder[0])
        return rc;
    p->host->log(p->ctx, CM_LOG_WARNING,
                 "package %s is released by %s on the operator's request; the next repository "
                 "that publishes it takes it",
                 pkg, holder);
    return rc;
}
