/* SPDX-License-Identifier: MIT */
/*
 * The composer plugin's operator routes (SDK 1.4): who publishes each package name, and the
 * release of a name whose holder the operator no longer wants, for `cargoman composer owners`
 * and `cargoman composer release`. The host applied the operator routes' access policy.
 */
#include "composer.h"
#include "state.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cm_route cmc_admin_routes[] = {
    {"/owners", NULL},
    {"/owners/", NULL},
    {NULL, NULL},
};

static int ad_send(struct cmc_plugin *p, struct cm_http_response *rs, int status, json_t *doc)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int rc;

    json_decref(doc);
    if (!body)
        return CM_ENOMEM;
    rc = p->host->http_respond(rs, status, "application/json", body, strlen(body));
    free(body);
    return rc;
}

static int ad_error(struct cmc_plugin *p, struct cm_http_response *rs, int status, const char *msg)
{
    return ad_send(p, rs, status, json_pack("{s:s, s:s}", "status", "error", "error", msg));
}

/* One entry of the owners list: the package, its owner as "endpoint:repository", the
 * repository's id when known, and since when (from its state file; null when unknown). */
static json_t *ad_entry(struct cmc_plugin *p, const char *pkg, const char *owner)
{
    char ep[256], repo[1100], who[1400];
    const char *id = cmc_owner_split(owner, ep, sizeof(ep), repo, sizeof(repo));
    char *path = cmc_owner_state_path(owner);
    json_t *st = path ? cmc_state_load(p->state_dir, path) : NULL, *out;
    const char *since = json_string_value(json_object_get(st, "package_since"));

    if (id)
        snprintf(who, sizeof(who), "%s:%s", ep, repo);
    out = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "package", pkg, "owner", id ? who : owner,
                    "endpoint", id ? ep : NULL, "repository", id ? repo : NULL, "repository_id",
                    id && *id ? id : NULL, "since", since);
    json_decref(st);
    free(path);
    return out;
}

static int ad_owners(struct cmc_plugin *p, struct cm_http_response *rs)
{
    json_t *copy, *list = json_array(), *val;
    const char *pkg;

    pthread_mutex_lock(p->lock);
    copy = p->owners ? json_deep_copy(p->owners) : json_object();
    pthread_mutex_unlock(p->lock);
    if (!copy || !list) {
        json_decref(copy);
        json_decref(list);
        return CM_ENOMEM;
    }
    /* The state files are read outside the lock: publishing does not wait for an operator. */
    json_object_foreach (copy, pkg, val) {
        json_t *e = json_is_string(val) ? ad_entry(p, pkg, json_string_value(val)) : NULL;
        if (e && json_array_append_new(list, e) != 0) {
            json_decref(copy);
            json_decref(list);
            return CM_ENOMEM;
        }
    }
    json_decref(copy);
    return ad_send(p, rs, 200, json_pack("{s:o}", "owners", list));
}

/* POST /owners/<vendor>/<name>/release. */
static int ad_release(struct cmc_plugin *p, const char *path, struct cm_http_response *rs)
{
    static const char tail[] = "/release";
    const char *name = path + strlen("/owners/");
    size_t n = strlen(name);
    char pkg[256], holder[1400], msg[512];
    int rc;

    if (n <= sizeof(tail) - 1 || strcmp(name + n - (sizeof(tail) - 1), tail) != 0 ||
        n - (sizeof(tail) - 1) >= sizeof(pkg))
        return ad_error(p, rs, 404,
                        "name the package: POST /api/<instance>/owners/<vendor>/<name>/release");
    snprintf(pkg, sizeof(pkg), "%.*s", (int)(n - (sizeof(tail) - 1)), name);
    if (!cmc_valid_package_name(pkg))
        return ad_error(p, rs, 400, "not a Composer package name (lowercase vendor/name)");
    rc = cmc_release(p, pkg, holder, sizeof(holder));
    if (rc == CM_ENOENT) {
        snprintf(msg, sizeof(msg), "nobody publishes %s (GET /api/<instance>/owners lists them)",
                 pkg);
        return ad_error(p, rs, 404, msg);
    }
    if (rc == CM_ENOMEM)
        return rc;
    return ad_send(p, rs, 200,
                   json_pack("{s:s, s:s, s:s, s:s}", "status", "released", "package", pkg, "owner",
                             holder, "note",
                             rc == CM_OK ? "the next repository that publishes it takes it"
                                         : "released, but packages.json could not be written; "
                                           "check the data directory"));
}

int cmc_admin(struct cmc_plugin *p, const char *method, const char *path,
              struct cm_http_response *rs)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

    if (!p->owners)
        return ad_error(p, rs, 503, "the composer plugin has not started; retry later");
    if (!strcmp(path, "/owners") || !strcmp(path, "/owners/"))
        return get ? ad_owners(p, rs) : ad_error(p, rs, 405, "use GET");
    if (get)
        return ad_error(p, rs, 405,
                        "use POST /api/<instance>/owners/<vendor>/<name>/release to release a "
                        "name; GET /api/<instance>/owners lists them");
    return ad_release(p, path, rs);
}
