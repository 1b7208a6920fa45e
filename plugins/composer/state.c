/* SPDX-License-Identifier: MIT */
/*
 * Per-repository state files of the composer plugin, and the scan that rebuilds the package
 * ownership map from them at start. Repository names carry slashes (owner/name, nested GitLab
 * groups), so they are %-encoded into one file name rather than mapped onto directories.
 */
#include "state.h"
#include "composer.h"
#include "index.h"

#include <cargoman/plugin.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* %-encode s so it is one safe path component: no '/', no leading '.', nothing odd. */
static char *st_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || (c == '.' && i > 0);
        if (plain) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

char *cmc_state_path(const char *endpoint, const char *repository, const char *id)
{
    char *ep = st_encode(endpoint ? endpoint : ""), *key = st_encode(id           ? id
                                                                     : repository ? repository
                                                                                  : "");
    char *path = NULL;
    size_t len;

    if (!ep || !key)
        goto out;
    len = strlen(ep) + strlen(key) + 20;
    /* '=' is always %-encoded in a name, so "id=..." is no repository's file. */
    if ((path = malloc(len)) != NULL)
        snprintf(path, len, "repos/%s/%s%s.json", ep, id ? "id=" : "", key);
out:
    free(ep);
    free(key);
    return path;
}

json_t *cmc_state_load(const char *state_dir, const char *rel)
{
    char path[4096];
    json_t *st = NULL;

    if (snprintf(path, sizeof(path), "%s/%s", state_dir, rel) < (int)sizeof(path))
        st = json_load_file(path, 0, NULL);
    if (!json_is_object(st)) {
        json_decref(st);
        st = json_object();
    }
    if (!st)
        return NULL;
    if (!json_is_object(json_object_get(st, "refs")))
        json_object_set_new(st, "refs", json_object());
    if (!json_is_object(json_object_get(st, "shasums")))
        json_object_set_new(st, "shasums", json_object());
    if (!json_object_get(st, "refs") || !json_object_get(st, "shasums")) {
        json_decref(st);
        return NULL;
    }
    return st;
}

char *cmc_owner_key(const char *endpoint, const char *repository, const char *id)
{
    size_t len = strlen(endpoint ? endpoint : "") + strlen(repository ? repository : "") +
                 strlen(id ? id : "") + 3;
    char *key = malloc(len);

    if (key)
        snprintf(key, len, "%s:%s%s%s", endpoint ? endpoint : "", repository ? repository : "",
                 id ? "#" : "", id ? id : "");
    return key;
}

const char *cmc_owner_split(const char *owner, char *ep, size_t eplen, char *repo, size_t repolen)
{
    const char *colon = strchr(owner, ':'), *hash = colon ? strrchr(colon, '#') : NULL;
    int n = colon ? (int)(hash ? hash - colon - 1 : (long)strlen(colon + 1)) : 0;

    if (!colon || colon == owner || (size_t)(colon - owner) >= eplen || n <= 0 ||
        (size_t)n >= repolen)
        return NULL;
    snprintf(ep, eplen, "%.*s", (int)(colon - owner), owner);
    snprintf(repo, repolen, "%.*s", n, colon + 1);
    return hash ? hash + 1 : "";
}

char *cmc_owner_state_path(const char *owner)
{
    char ep[256], repo[1100];
    const char *id = cmc_owner_split(owner, ep, sizeof(ep), repo, sizeof(repo));

    return id ? cmc_state_path(ep, repo, *id ? id : NULL) : NULL;
}

static int st_by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* When owner took its name, as its state file under state_dir says ("" when unknown), into out. */
static void st_since_of(const char *state_dir, const char *owner, char *out, size_t len)
{
    char *rel = cmc_owner_state_path(owner), path[4096];
    json_t *st = NULL;

    out[0] = '\0';
    if (rel && snprintf(path, sizeof(path), "%s/%s", state_dir, rel) < (int)sizeof(path))
        st = json_load_file(path, 0, NULL);
    const char *since = json_string_value(json_object_get(st, "package_since"));
    snprintf(out, len, "%s", since ? since : "");
    json_decref(st);
    free(rel);
}

/* Whether the claim of ep on pkg, made at since (RFC 3339, may be NULL), replaces the owner
 * already found: a pattern reserving pkg for ep and not for the owner's endpoint decides;
 * else the later claim. Two files claim one name only when a release or takeover raced the
 * old holder's own save, and a name is claimed only while it is free, so the later claim is
 * the live one. Without times, the first in name order stays. */
static int st_prefer(const char *state_dir, json_t *owners, const char *pkg, const char *ep,
                     const char *since, const struct cmc_policy *pol)
{
    const char *cur = json_string_value(json_object_get(owners, pkg));
    char cur_ep[256], cur_since[64];
    int mine, theirs;

    if (!cur)
        return 1;
    cmc_owner_endpoint(cur, cur_ep, sizeof(cur_ep));
    mine = cmc_policy_reserves(pol, ep, pkg);
    theirs = cmc_policy_reserves(pol, cur_ep, pkg);
    if (mine != theirs)
        return mine;
    if (!since || !*since)
        return 0;
    st_since_of(state_dir, cur, cur_since, sizeof(cur_since));
    return strcmp(since, cur_since) > 0;
}

/* Apply the "package" claim of the state file at path (absolute) to owners. CM_OK (also for
 * a file that is missing, unreadable or claims nothing) or CM_ENOMEM. */
static int st_apply(const char *state_dir, const char *path, json_t *owners,
                    const struct cmc_policy *pol)
{
    json_t *st = json_load_file(path, 0, NULL);
    const char *pkg = json_string_value(json_object_get(st, "package"));
    const char *ep = json_string_value(json_object_get(st, "endpoint"));
    const char *repo = json_string_value(json_object_get(st, "repository"));
    int rc = CM_OK;

    if (pkg && ep && repo &&
        st_prefer(state_dir, owners, pkg, ep,
                  json_string_value(json_object_get(st, "package_since")), pol)) {
        char *key =
            cmc_owner_key(ep, repo, json_string_value(json_object_get(st, "repository_id")));
        if (!key || json_object_set_new(owners, pkg, json_string(key)) != 0)
            rc = CM_ENOMEM;
        free(key);
    }
    json_decref(st);
    return rc;
}

/* Read the "package" of every state file in one endpoint's directory. */
static int st_scan_dir(const char *state_dir, const char *dir, json_t *owners,
                       const struct cmc_policy *pol)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, st_by_name), rc = CM_OK;

    for (int i = 0; i < n; i++) {
        char path[4096];
        size_t len = strlen(names[i]->d_name);

        if (rc == CM_OK && len >= 6 && strcmp(names[i]->d_name + len - 5, ".json") == 0 &&
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < (int)sizeof(path))
            rc = st_apply(state_dir, path, owners, pol);
        free(names[i]);
    }
    free(names);
    return rc;
}

int cmc_is_state_path(const char *rel)
{
    const char *file = strncmp(rel, "repos/", 6) == 0 ? strchr(rel + 6, '/') : NULL;
    size_t len = file ? strlen(file) : 0;

    /* st_encode makes both parts single components that never start with '.'. */
    return file && file > rel + 6 && rel[6] != '.' && file[1] != '.' && len > 6 &&
           !strchr(file + 1, '/') && strcmp(file + len - 5, ".json") == 0;
}

int cmc_owners_apply(const char *state_dir, const char *rel, json_t *owners,
                     const struct cmc_policy *pol)
{
    char path[4096];

    if (snprintf(path, sizeof(path), "%s/%s", state_dir, rel) >= (int)sizeof(path))
        return CM_OK;
    return st_apply(state_dir, path, owners, pol);
}

int cmc_owners_scan(const char *state_dir, json_t *owners, const struct cmc_policy *pol)
{
    char dir[4096];
    struct dirent **names = NULL;
    int n, rc = CM_OK;

    snprintf(dir, sizeof(dir), "%s/repos", state_dir);
    n = scandir(dir, &names, NULL, st_by_name);
    for (int i = 0; i < n; i++) {
        char sub[4096 + 256];
        if (names[i]->d_name[0] != '.' && rc == CM_OK) {
            snprintf(sub, sizeof(sub), "%s/%s", dir, names[i]->d_name);
            rc = st_scan_dir(state_dir, sub, owners, pol);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Every package old_key holds goes to owner (the same repository under its new key). */
static void st_transfer(struct cmc_plugin *p, const char *old_key, const char *owner)
{
    const char *pkg;
    json_t *holder;

    pthread_mutex_lock(p->lock);
    json_object_foreach (p->owners, pkg, holder) {
        if (json_is_string(holder) && !strcmp(json_string_value(holder), old_key))
            json_string_set(holder, owner);
    }
    pthread_mutex_unlock(p->lock);
}

/* Take over the state kept by name for endpoint/repository before its id was known, if there
 * is one: renamed to the id's file in one step, so a crash leaves it under one name or the
 * other, never both. The adopted state (a new reference) or NULL. */
static json_t *st_adopt(struct cmc_plugin *p, const char *endpoint, const char *repository,
                        const char *id)
{
    char *lpath = cmc_state_path(endpoint, repository, NULL);
    char *ipath = cmc_state_path(endpoint, repository, id);
    char from[4096], to[4096];
    json_t *old = lpath ? cmc_state_load(p->state_dir, lpath) : NULL;

    if (!ipath || !json_object_get(old, "repository") || json_object_get(old, "repository_id") ||
        snprintf(from, sizeof(from), "%s/%s", p->state_dir, lpath) >= (int)sizeof(from) ||
        snprintf(to, sizeof(to), "%s/%s", p->state_dir, ipath) >= (int)sizeof(to) ||
        rename(from, to) != 0) {
        json_decref(old);
        old = NULL;
    }
    free(lpath);
    free(ipath);
    return old;
}

int cmc_state_follow(struct cmc_plugin *p, const char *endpoint, const char *repository,
                     const char *id, const char *owner, int mirror_is_new, json_t **st, int *full)
{
    const char *was = json_string_value(json_object_get(*st, "repository"));
    int known = json_object_get(*st, "repository_id") != NULL;
    char *old_key = NULL;
    json_t *adopted;

    /* Only with the mirror it was made from: the core let that mirror pass to this id only
     * when the fetch continued its history. A new mirror proves nothing about the name. */
    if (!was && !mirror_is_new && (adopted = st_adopt(p, endpoint, repository, id))) {
        json_decref(*st);
        *st = adopted;
        was = json_string_value(json_object_get(*st, "repository"));
        known = 0;
    }
    /* Claims made under the name alone (adopted, or adopted just before a crash), or under the
     * id and an older name (renamed or transferred), are this repository's. */
    if (was && (!known || strcmp(was, repository) != 0)) {
        if (!(old_key = cmc_owner_key(endpoint, was, known ? id : NULL)))
            return CM_ENOMEM;
        st_transfer(p, old_key, owner);
        free(old_key);
    }
    /* A rename changes every version's source URL: all are made again. */
    if (was && strcmp(was, repository) != 0)
        *full = 1;
    return json_object_set_new(*st, "repository_id", json_string(id)) == 0 ? CM_OK : CM_ENOMEM;
}
