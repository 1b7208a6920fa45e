/* SPDX-License-Identifier: MIT */
/*
 * Bitbucket Data Center (Server) provider: checks the X-Hub-Signature (HMAC-SHA256 over the
 * raw body), answers the unsigned "Test connection" ping, and turns repo:refs_changed and
 * mirror:repo_synchronized deliveries into one common push event.
 */
#include <cargoman/plugin.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_json.h"
#include "provider_util.h"

#define BBDC_PING_KEY "diagnostics:ping"

/* One ref change, validated before any event is made. Strings are borrowed from the JSON. */
struct bbdc_change {
    const char *ref, *old_id, *new_id;
};

struct bbdc_fields {
    struct cmp_fields ev;                     /* the delivery id is set by bbdc_emit */
    char repository[2 * CMP_SEGMENT_MAX + 2]; /* PROJECTKEY/slug */
    char id_buf[32];                          /* repository.id as text */
    json_t *changes;                          /* NULL when the host left them out */
    int ref_limit_exceeded;
};

static int bbdc_is_push_key(const char *key)
{
    return !strcmp(key, "repo:refs_changed") || !strcmp(key, "mirror:repo_synchronized");
}

/* Only the core's endpoint keys (url, secret...): none of its own. */
static const struct cm_conf_key bbdc_config_keys[] = {{NULL, 0}};

static int bbdc_create(const struct cm_host *host, struct cm_ctx *ctx, void **out)
{
    struct cmp_self *self;
    const char *url = NULL;
    int rc;

    *out = NULL;
    if ((rc = cmp_conf_url(host, ctx, "https://git.example.com", &url)) != CM_OK)
        return rc;
    if (url && *url && !cmp_http_authority(url)) {
        host->log(ctx, CM_LOG_ERR,
                  "url \"%s\" must start with https:// or http://, e.g. "
                  "\"https://git.example.com\" (the Bitbucket base URL)",
                  url);
        return CM_EINVAL;
    }
    if (!(self = cmp_self_new(host, ctx, sizeof(*self))))
        return CM_ENOMEM;
    *out = self;
    return CM_OK;
}

static int bbdc_verify(void *p, struct cm_request *req)
{
    struct cmp_self *self = p;
    const struct cm_host *host = self->host;
    const char *sig = host->header(req, "X-Hub-Signature");
    const char *key = host->header(req, "X-Event-Key");

    /* Bitbucket never signs "Test connection"; translate answers it without an event. */
    if (!sig && key && !strcmp(key, BBDC_PING_KEY))
        return CM_OK;
    return cmp_bitbucket_signature(host, req, self->ctx, sig, "Bitbucket Data Center",
                                   "configure the webhook secret so that Bitbucket signs with "
                                   "sha256");
}

/* Data Center's project keys are letters, digits and '_'; a personal project's key is '~' and
 * the user's name (real payloads carry "~gopher"; user names add '.' and '-', and '@', which
 * the core refuses anyway). Slugs are letters, digits, '.', '_' and '-'. */
static const struct cmp_name_rule bbdc_name_rule = {
    .form = "a Bitbucket Data Center PROJECTKEY/slug",
    .min_segments = 2,
    .max_segments = 2,
    .first = {.what = "project key", .extra = "_"},
    .rest = {.what = "slug", .extra = "._-"},
    .personal = {.what = "personal project key", .extra = "_.-"},
};

/* links.clone[] lists http and ssh in no fixed order: pick the first of each by its name. */
static int bbdc_clone_link(const struct cmp_json *j, json_t *link, const char *where, size_t i,
                           void *arg)
{
    struct bbdc_fields *f = arg;
    const char *name, *href;
    int rc;

    if ((rc = cmp_json_string(j, link, where, "name", CMP_OPTIONAL, &name)) ||
        (rc = cmp_json_string(j, link, where, "href", CMP_OPTIONAL, &href)))
        return rc;
    if (name && !strcmp(name, "http") && !f->ev.clone_http)
        f->ev.clone_http = href;
    else if (name && !strcmp(name, "ssh") && !f->ev.clone_ssh)
        f->ev.clone_ssh = href;
    return CM_OK;
}

static int bbdc_read_links(const struct cmp_json *j, json_t *repo, struct bbdc_fields *f)
{
    json_t *links, *clone, *self, *first;
    int rc;

    if ((rc = cmp_json_object(j, repo, "repository", "links", CMP_OPTIONAL, &links)) ||
        (rc = cmp_json_array(j, links, "repository.links", "clone", CMP_OPTIONAL, &clone)) ||
        (rc = cmp_json_array(j, links, "repository.links", "self", CMP_OPTIONAL, &self)))
        return rc;
    if ((rc = cmp_json_each_object(j, clone, "repository.links.clone", bbdc_clone_link, f)))
        return rc;
    first = json_array_get(self, 0);
    if (first && !json_is_object(first))
        return j->host->reject(j->req, CM_EINVAL, "repository.links.self[0] is not an object");
    return cmp_json_string(j, first, "repository.links.self[0]", "href", CMP_OPTIONAL,
                           &f->ev.html_url);
}

static int bbdc_read_repository(const struct cmp_json *j, json_t *root, struct bbdc_fields *f)
{
    const char *key, *slug;
    json_t *repo, *project;
    int rc;

    if ((rc = cmp_json_object(j, root, "", "repository", CMP_PRESENT, &repo)) ||
        (rc = cmp_json_object(j, repo, "repository", "project", CMP_OPTIONAL, &project)) ||
        (rc = cmp_json_string(j, project, "repository.project", "key", CMP_OPTIONAL, &key)) ||
        (rc = cmp_json_string(j, repo, "repository", "slug", CMP_OPTIONAL, &slug)))
        return rc;
    if (!key || !slug)
        return j->host->reject(j->req, CM_EINVAL,
                               "repository.project.key or repository.slug is missing");
    /* Cut short, the name could pass where the whole would not. */
    if (strlen(key) > CMP_SEGMENT_MAX || strlen(slug) > CMP_SEGMENT_MAX)
        return j->host->reject(j->req, CM_EINVAL,
                               "repository.%s is longer than %d bytes: not a Bitbucket Data "
                               "Center PROJECTKEY/slug",
                               strlen(key) > CMP_SEGMENT_MAX ? "project.key" : "slug",
                               CMP_SEGMENT_MAX);
    snprintf(f->repository, sizeof(f->repository), "%s/%s", key, slug);
    if ((rc = cmp_check_repository(j, "repository (project.key/slug)", f->repository,
                                   &bbdc_name_rule)))
        return rc;
    f->ev.repository = f->repository;
    if ((rc = cmp_json_int_text(j, repo, "repository", "id", f->id_buf, sizeof(f->id_buf),
                                &f->ev.repository_id)) != CM_OK)
        return rc;
    return bbdc_read_links(j, repo, f);
}

/* The payload fields, type-checked; nothing is recorded until all of them are valid. */
static int bbdc_read(const struct cmp_json *j, json_t *root, struct bbdc_fields *f)
{
    json_t *actor;
    int limit, rc;

    if ((rc = bbdc_read_repository(j, root, f)) ||
        (rc = cmp_json_object(j, root, "", "actor", CMP_OPTIONAL, &actor)) ||
        (rc = cmp_json_string(j, actor, "actor", "name", CMP_OPTIONAL, &f->ev.actor)) ||
        (rc = cmp_json_bool(j, root, "", "refLimitExceeded", &limit)))
        return rc;
    f->ref_limit_exceeded = limit == 1;
    if ((rc = cmp_json_array(j, root, "", "changes", CMP_OPTIONAL, &f->changes)) != CM_OK)
        return rc;
    /* A mirror that hit its ref limit may leave changes out altogether. */
    if (!f->changes && !f->ref_limit_exceeded)
        return j->host->reject(j->req, CM_EINVAL, "changes is missing");
    return CM_OK;
}

/* One of the change's ids: the string at where.key, a whole commit id. */
static int bbdc_read_id(const struct cmp_json *j, json_t *c, const char *where, const char *key,
                        const char **out)
{
    int rc = cmp_json_string(j, c, where, key, CMP_OPTIONAL, out);

    if (rc == CM_OK && (!*out || !cmp_is_commit_id(*out)))
        rc = j->host->reject(j->req, CM_EINVAL, "%s.%s is missing or not a commit id", where, key);
    return rc;
}

static int bbdc_read_change(const struct cmp_json *j, json_t *c, const char *where,
                            struct bbdc_change *out)
{
    char ref_path[140];
    const char *type;
    json_t *ref;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(ref_path, sizeof(ref_path), "%s.ref", where);
    if ((rc = cmp_json_object(j, c, where, "ref", CMP_OPTIONAL, &ref)) ||
        (rc = cmp_json_string(j, ref, ref_path, "id", CMP_OPTIONAL, &out->ref)))
        return rc;
    if (!out->ref && (rc = cmp_json_string(j, c, where, "refId", CMP_OPTIONAL, &out->ref)))
        return rc;
    if (!out->ref || !*out->ref)
        return j->host->reject(j->req, CM_EINVAL, "%s has no ref.id", where);
    if ((rc = cmp_json_string(j, c, where, "type", CMP_OPTIONAL, &type)) != CM_OK)
        return rc;
    /* A DELETE may come without its ids: the ref is gone whatever it pointed at. */
    if (type && !strcmp(type, "DELETE") && !json_object_get(c, "fromHash") &&
        !json_object_get(c, "toHash")) {
        out->old_id = CM_ID_UNKNOWN;
        return CM_OK;
    }
    if ((rc = bbdc_read_id(j, c, where, "fromHash", &out->old_id)) != CM_OK)
        return rc;
    return bbdc_read_id(j, c, where, "toHash", &out->new_id);
}

/* Change i of changes: only checked when ev is NULL, else also added to ev. */
static int bbdc_change(const struct cmp_json *j, json_t *c, const char *where, size_t i, void *ev)
{
    struct bbdc_change change;
    int rc = bbdc_read_change(j, c, where, &change);

    if (rc != CM_OK || !ev)
        return rc;
    /* Data Center does not say whether an update was forced. */
    rc = j->host->event_add_change(ev, change.ref, change.old_id, change.new_id, -1);
    if (rc == CM_EINVAL)
        return j->host->reject(j->req, CM_EINVAL, "changes[%zu] is not a valid ref change", i);
    return rc;
}

static int bbdc_emit(const struct cmp_json *j, json_t *root)
{
    struct bbdc_fields f = {0};
    int rc;

    if ((rc = bbdc_read(j, root, &f)) != CM_OK)
        return rc;
    f.ev.delivery_id = j->host->header(j->req, "X-Request-Id");
    /* Merged pull requests, fork syncs and mirror ref limits arrive without their refs. */
    return cmp_event_from_changes(j, f.changes, "changes", bbdc_change, &f.ev,
                                  f.ref_limit_exceeded);
}

static int bbdc_is_ping_body(const json_t *root)
{
    return json_object_size(root) == 1 && json_is_true(json_object_get(root, "test"));
}

/* The event key from header and body, which must agree; CM_EIGNORE for a ping. */
static int bbdc_event_key(const struct cm_host *host, struct cm_request *req, json_t *root,
                          const char **out)
{
    const char *header = host->header(req, "X-Event-Key");
    json_t *body = json_object_get(root, "eventKey");

    *out = NULL;
    if (!header && bbdc_is_ping_body(root))
        return host->reject(req, CM_EIGNORE, "the body is a test connection (ping), not a push");
    if (!body && (json_object_get(root, "push") || (header && !strcmp(header, "repo:push"))))
        return host->reject(req, CM_EINVAL,
                            "this is a Bitbucket Cloud payload (no eventKey in the body): point "
                            "this webhook at a bitbucket-cloud endpoint");
    if (!body)
        return host->reject(req, CM_EINVAL,
                            "eventKey is missing from the body: this endpoint "
                            "takes Bitbucket Data Center webhooks");
    if (!json_is_string(body))
        return host->reject(req, CM_EINVAL, "eventKey is not a string");
    if (header && strcmp(header, json_string_value(body)) != 0)
        return host->reject(req, CM_EINVAL,
                            "eventKey \"%.40s\" in the body differs from X-Event-Key \"%.40s\"",
                            json_string_value(body), header);
    *out = json_string_value(body);
    return CM_OK;
}

static const struct cmp_load bbdc_load = {
    .flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
    .no_payload = "the body has no JSON payload: Bitbucket Data Center sends application/json",
    .not_object = "the body is not a JSON object",
};

static int bbdc_translate(void *p, struct cm_request *req)
{
    struct cmp_self *self = p;
    const struct cm_host *host = self->host;
    const struct cmp_json j = {host, req, ""};
    const char *header = host->header(req, "X-Event-Key");
    const char *key;
    json_t *root = NULL;
    int rc;

    /* The ping was let through unsigned, so its body is not looked at. */
    if (header && !strcmp(header, BBDC_PING_KEY))
        return host->reject(req, CM_EIGNORE, "%s is a test connection (ping), not a push",
                            BBDC_PING_KEY);
    if ((rc = cmp_json_load(&j, &bbdc_load, &root)) != CM_OK)
        goto out;
    if ((rc = bbdc_event_key(host, req, root, &key)) != CM_OK)
        goto out;
    if (!bbdc_is_push_key(key)) {
        rc = host->reject(
            req, CM_EIGNORE,
            "event %.64s is not a push (repo:refs_changed or mirror:repo_synchronized)", key);
        goto out;
    }
    rc = bbdc_emit(&j, root);
out:
    json_decref(root);
    return rc;
}

/* A body with a string eventKey, or the exact ping body. */
static int bbdc_body_looks_like(const json_t *root)
{
    return json_is_string(json_object_get(root, "eventKey")) || bbdc_is_ping_body(root);
}

/* Data Center event keys, its X-Request-Id with no Cloud header, or a Data Center body. */
static int bbdc_sniff(const struct cm_host *host, const struct cm_request *req)
{
    static const char *const cloud_headers[] = {"X-Hook-UUID", "X-Request-UUID", NULL};
    const char *key = host->header(req, "X-Event-Key");

    if (key && (bbdc_is_push_key(key) || !strcmp(key, BBDC_PING_KEY) || !strncmp(key, "pr:", 3)))
        return 1;
    if (key && host->header(req, "X-Request-Id") && !cmp_has_any_header(host, req, cloud_headers))
        return 1;
    return cmp_sniff_body(host, req, bbdc_body_looks_like);
}

/* What Data Center sends: X-Hub-Signature with an HMAC-SHA256. */
static int bbdc_sign(const struct cm_host *host, struct cm_request *req, const char *secret,
                     const char *id, long long timestamp, cm_header_cb emit, void *arg)
{
    (void)id;
    (void)timestamp;
    return cmp_sign_hub(host, req, "X-Hub-Signature", "sha256", secret, emit, arg);
}

/* Data Center serves clones under <url>/scm/<PROJECT>/<slug>.git (its links.clone "http"
 * entry; the project key is not case-sensitive there). */
static const char bbdc_clone_path[] = "scm/{repository}.git";

CMP_PROVIDER(bbdc, free, "bitbucket-datacenter", "1.0.0",
             "Bitbucket Data Center / Server push webhooks (X-Hub-Signature sha256)", 0, NULL);
