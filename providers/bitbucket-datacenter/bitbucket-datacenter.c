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

#define BBDC_PING_KEY "diagnostics:ping"
/* Project keys and slugs are far shorter in Bitbucket; this only bounds our buffers. */
#define BBDC_NAME_MAX 255

struct bbdc_self {
    const struct cm_host *host;
    struct cm_ctx *ctx;
};

/* One ref change, validated before any event is made. Strings are borrowed from the JSON. */
struct bbdc_change {
    const char *ref, *old_id, *new_id;
};

struct bbdc_fields {
    char repository[2 * BBDC_NAME_MAX + 2];
    char repository_id[32];
    const char *clone_http, *clone_ssh, *html_url, *actor;
    json_t *changes; /* NULL when the host left them out */
    int ref_limit_exceeded;
};

static int bbdc_is_push_key(const char *key)
{
    return !strcmp(key, "repo:refs_changed") || !strcmp(key, "mirror:repo_synchronized");
}

static int bbdc_create(const struct cm_host *host, struct cm_ctx *ctx, void **out)
{
    struct bbdc_self *self;
    const char *url = NULL;
    int rc;

    *out = NULL;
    rc = host->conf_string(ctx, "url", &url);
    if (rc != CM_OK && rc != CM_ENOENT) {
        host->log(ctx, CM_LOG_ERR, "url must be a string such as \"https://git.example.com\"");
        return CM_EINVAL;
    }
    if (rc == CM_OK && url && *url && strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) {
        host->log(ctx, CM_LOG_ERR,
                  "url \"%s\" must start with https:// or http://, e.g. "
                  "\"https://git.example.com\" (the Bitbucket base URL)",
                  url);
        return CM_EINVAL;
    }
    if (!(self = calloc(1, sizeof(*self))))
        return CM_ENOMEM;
    self->host = host;
    self->ctx = ctx;
    *out = self;
    return CM_OK;
}

static void bbdc_destroy(void *self)
{
    free(self);
}

static int bbdc_verify(void *p, struct cm_request *req)
{
    struct bbdc_self *self = p;
    const struct cm_host *host = self->host;
    const char *secret = host->conf_secret(self->ctx);
    const char *sig, *eq, *key;
    const void *body;
    size_t len;
    char algo[16];
    int rc;

    if (!secret || !*secret)
        return CM_OK;
    sig = host->header(req, "X-Hub-Signature");
    key = host->header(req, "X-Event-Key");
    /* Bitbucket never signs "Test connection"; translate answers it without an event. */
    if (!sig && key && !strcmp(key, BBDC_PING_KEY))
        return CM_OK;
    if (!sig)
        return host->reject(req, CM_EAUTH,
                            "missing X-Hub-Signature header: the endpoint has a secret; set the "
                            "same secret on the webhook in Bitbucket");
    eq = strchr(sig, '=');
    if (!eq || (size_t)(eq - sig) >= sizeof(algo))
        return host->reject(req, CM_EAUTH,
                            "X-Hub-Signature is not of the form sha256=<hex>: check that the "
                            "webhook comes from Bitbucket Data Center");
    memcpy(algo, sig, (size_t)(eq - sig));
    algo[eq - sig] = '\0';
    if (strcmp(algo, "sha256") != 0)
        return host->reject(req, CM_EAUTH,
                            "X-Hub-Signature uses unsupported algorithm \"%.15s\": configure "
                            "the webhook secret so that Bitbucket signs with sha256",
                            algo);
    body = host->body(req, &len);
    rc = host->hmac_verify("sha256", secret, body, len, eq + 1);
    if (rc == CM_OK)
        return CM_OK;
    if (rc == CM_ENOMEM || rc == CM_ERROR)
        return rc;
    return host->reject(req, CM_EAUTH,
                        "X-Hub-Signature does not match the body: set the same secret on the "
                        "webhook in Bitbucket as on this endpoint");
}

/* *out is the string at obj.key, NULL when absent or null; a value of another type is
 * rejected, naming path. */
static int bbdc_opt_string(const struct cm_host *host, struct cm_request *req, json_t *obj,
                           const char *key, const char *path, const char **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    *out = NULL;
    if (!v || json_is_null(v))
        return CM_OK;
    if (!json_is_string(v))
        return host->reject(req, CM_EINVAL, "%s is not a string", path);
    *out = json_string_value(v);
    return CM_OK;
}

static int bbdc_opt_object(const struct cm_host *host, struct cm_request *req, json_t *obj,
                           const char *key, const char *path, json_t **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    *out = NULL;
    if (!v || json_is_null(v))
        return CM_OK;
    if (!json_is_object(v))
        return host->reject(req, CM_EINVAL, "%s is not an object", path);
    *out = v;
    return CM_OK;
}

static int bbdc_opt_array(const struct cm_host *host, struct cm_request *req, json_t *obj,
                          const char *key, const char *path, json_t **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    *out = NULL;
    if (!v || json_is_null(v))
        return CM_OK;
    if (!json_is_array(v))
        return host->reject(req, CM_EINVAL, "%s is not an array", path);
    *out = v;
    return CM_OK;
}

static int bbdc_is_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdefABCDEF");
    return s[n] == '\0' && (n == 40 || n == 64);
}

/* A project key or slug: non-empty printable text without '/', and not "." or "..". */
static int bbdc_valid_segment(const char *s)
{
    if (!*s || strlen(s) > BBDC_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("/\\:?#@%\"'`", *s))
            return 0;
    return 1;
}

/* links.clone[] lists http and ssh in no fixed order: pick each by its name. */
static int bbdc_read_links(const struct cm_host *host, struct cm_request *req, json_t *repo,
                           struct bbdc_fields *f)
{
    json_t *links, *clone, *self, *first;
    char path[64];
    int rc;

    if ((rc = bbdc_opt_object(host, req, repo, "links", "repository.links", &links)) ||
        (rc = bbdc_opt_array(host, req, links, "clone", "repository.links.clone", &clone)) ||
        (rc = bbdc_opt_array(host, req, links, "self", "repository.links.self", &self)))
        return rc;
    for (size_t i = 0; i < json_array_size(clone); i++) {
        json_t *link = json_array_get(clone, i);
        const char *name, *href;

        if (!json_is_object(link))
            return host->reject(req, CM_EINVAL, "repository.links.clone[%zu] is not an object",
                                i);
        snprintf(path, sizeof(path), "repository.links.clone[%zu].name", i);
        if ((rc = bbdc_opt_string(host, req, link, "name", path, &name)) != CM_OK)
            return rc;
        snprintf(path, sizeof(path), "repository.links.clone[%zu].href", i);
        if ((rc = bbdc_opt_string(host, req, link, "href", path, &href)) != CM_OK)
            return rc;
        if (name && !strcmp(name, "http") && !f->clone_http)
            f->clone_http = href;
        else if (name && !strcmp(name, "ssh") && !f->clone_ssh)
            f->clone_ssh = href;
    }
    first = json_array_get(self, 0);
    if (first && !json_is_object(first))
        return host->reject(req, CM_EINVAL, "repository.links.self[0] is not an object");
    return bbdc_opt_string(host, req, first, "href", "repository.links.self[0].href",
                           &f->html_url);
}

static int bbdc_read_repository(const struct cm_host *host, struct cm_request *req,
                                json_t *root, struct bbdc_fields *f)
{
    const char *key, *slug;
    json_t *repo, *project, *id;
    int rc;

    if ((rc = bbdc_opt_object(host, req, root, "repository", "repository", &repo)) != CM_OK)
        return rc;
    if (!repo)
        return host->reject(req, CM_EINVAL, "repository is missing");
    if ((rc = bbdc_opt_object(host, req, repo, "project", "repository.project", &project)) ||
        (rc = bbdc_opt_string(host, req, project, "key", "repository.project.key", &key)) ||
        (rc = bbdc_opt_string(host, req, repo, "slug", "repository.slug", &slug)))
        return rc;
    if (!key || !slug)
        return host->reject(req, CM_EINVAL, "repository.project.key or repository.slug is "
                                            "missing");
    if (!bbdc_valid_segment(key) || !bbdc_valid_segment(slug))
        return host->reject(req, CM_EINVAL,
                            "repository \"%.100s/%.100s\" is not of the form PROJECTKEY/slug",
                            key, slug);
    snprintf(f->repository, sizeof(f->repository), "%s/%s", key, slug);

    id = json_object_get(repo, "id");
    if (json_is_integer(id))
        snprintf(f->repository_id, sizeof(f->repository_id), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(id));
    else if (id && !json_is_null(id))
        return host->reject(req, CM_EINVAL, "repository.id is not an integer");
    return bbdc_read_links(host, req, repo, f);
}

/* The payload fields, type-checked; nothing is recorded until all of them are valid. */
static int bbdc_read(const struct cm_host *host, struct cm_request *req, json_t *root,
                     struct bbdc_fields *f)
{
    json_t *actor, *limit;
    int rc;

    if ((rc = bbdc_read_repository(host, req, root, f)) != CM_OK)
        return rc;
    if ((rc = bbdc_opt_object(host, req, root, "actor", "actor", &actor)) ||
        (rc = bbdc_opt_string(host, req, actor, "name", "actor.name", &f->actor)))
        return rc;
    limit = json_object_get(root, "refLimitExceeded");
    if (limit && !json_is_null(limit) && !json_is_boolean(limit))
        return host->reject(req, CM_EINVAL, "refLimitExceeded is not a boolean");
    f->ref_limit_exceeded = json_is_true(limit);
    if ((rc = bbdc_opt_array(host, req, root, "changes", "changes", &f->changes)) != CM_OK)
        return rc;
    /* A mirror that hit its ref limit may leave changes out altogether. */
    if (!f->changes && !f->ref_limit_exceeded)
        return host->reject(req, CM_EINVAL, "changes is missing");
    return CM_OK;
}

static int bbdc_read_change(const struct cm_host *host, struct cm_request *req, json_t *c,
                            size_t i, struct bbdc_change *out)
{
    char path[64];
    json_t *ref;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(c))
        return host->reject(req, CM_EINVAL, "changes[%zu] is not an object", i);
    snprintf(path, sizeof(path), "changes[%zu].ref", i);
    if ((rc = bbdc_opt_object(host, req, c, "ref", path, &ref)) != CM_OK)
        return rc;
    snprintf(path, sizeof(path), "changes[%zu].ref.id", i);
    if ((rc = bbdc_opt_string(host, req, ref, "id", path, &out->ref)) != CM_OK)
        return rc;
    if (!out->ref) {
        snprintf(path, sizeof(path), "changes[%zu].refId", i);
        if ((rc = bbdc_opt_string(host, req, c, "refId", path, &out->ref)) != CM_OK)
            return rc;
    }
    if (!out->ref || !*out->ref)
        return host->reject(req, CM_EINVAL, "changes[%zu] has no ref.id", i);
    snprintf(path, sizeof(path), "changes[%zu].fromHash", i);
    if ((rc = bbdc_opt_string(host, req, c, "fromHash", path, &out->old_id)) != CM_OK)
        return rc;
    if (!out->old_id || !bbdc_is_id(out->old_id))
        return host->reject(req, CM_EINVAL, "%s is missing or not a commit id", path);
    snprintf(path, sizeof(path), "changes[%zu].toHash", i);
    if ((rc = bbdc_opt_string(host, req, c, "toHash", path, &out->new_id)) != CM_OK)
        return rc;
    if (!out->new_id || !bbdc_is_id(out->new_id))
        return host->reject(req, CM_EINVAL, "%s is missing or not a commit id", path);
    return CM_OK;
}

static int bbdc_set_fields(const struct cm_host *host, struct cm_request *req,
                           struct cm_event *ev, const struct bbdc_fields *f)
{
    int rc;

    if ((rc = host->event_set(ev, CM_FIELD_DELIVERY_ID, host->header(req, "X-Request-Id"))) ||
        (rc = host->event_set(ev, CM_FIELD_REPOSITORY, f->repository)) ||
        (rc = host->event_set(ev, CM_FIELD_REPOSITORY_ID, f->repository_id)) ||
        (rc = host->event_set(ev, CM_FIELD_CLONE_URL_HTTP, f->clone_http)) ||
        (rc = host->event_set(ev, CM_FIELD_CLONE_URL_SSH, f->clone_ssh)) ||
        (rc = host->event_set(ev, CM_FIELD_HTML_URL, f->html_url)) ||
        (rc = host->event_set(ev, CM_FIELD_ACTOR, f->actor)))
        return rc;
    return CM_OK;
}

static int bbdc_emit(const struct cm_host *host, struct cm_request *req, json_t *root)
{
    struct bbdc_fields f = {0};
    struct bbdc_change *changes = NULL;
    struct cm_event *ev;
    size_t n, i;
    int rc;

    if ((rc = bbdc_read(host, req, root, &f)) != CM_OK)
        return rc;
    n = json_array_size(f.changes);
    if (n && !(changes = calloc(n, sizeof(*changes))))
        return CM_ENOMEM;
    for (i = 0; i < n; i++)
        if ((rc = bbdc_read_change(host, req, json_array_get(f.changes, i), i, &changes[i])))
            goto out;
    if (!(ev = host->event_new(req))) {
        rc = CM_ENOMEM;
        goto out;
    }
    if ((rc = bbdc_set_fields(host, req, ev, &f)) != CM_OK)
        goto out;
    /* Merged pull requests, fork syncs and mirror ref limits arrive without their refs. */
    if (n == 0 || f.ref_limit_exceeded)
        host->event_set_incomplete(ev);
    for (i = 0; i < n; i++) {
        /* Data Center does not say whether an update was forced. */
        rc = host->event_add_change(ev, changes[i].ref, changes[i].old_id, changes[i].new_id, -1);
        if (rc == CM_EINVAL)
            rc = host->reject(req, CM_EINVAL, "changes[%zu] is not a valid ref change", i);
        if (rc != CM_OK)
            goto out;
    }
out:
    free(changes);
    return rc;
}

static int bbdc_is_ping_body(json_t *root)
{
    return json_object_size(root) == 1 && json_is_true(json_object_get(root, "test"));
}

static int bbdc_parse(const struct cm_host *host, struct cm_request *req, json_t **out)
{
    json_error_t err;
    const char *text;
    size_t len;

    *out = NULL;
    text = host->payload(req, &len);
    if (!text)
        return host->reject(req, CM_EINVAL, "the body has no JSON payload: Bitbucket Data "
                                            "Center sends application/json");
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!*out)
        return host->reject(req, CM_EINVAL, "the body is not valid JSON: %.80s (line %d)",
                            err.text, err.line);
    if (!json_is_object(*out))
        return host->reject(req, CM_EINVAL, "the body is not a JSON object");
    return CM_OK;
}

/* The event key from header and body, which must agree; CM_EIGNORE for a ping. */
static int bbdc_event_key(const struct cm_host *host, struct cm_request *req, json_t *root,
                          const char **out)
{
    const char *header = host->header(req, "X-Event-Key");
    json_t *body = json_object_get(root, "eventKey");

    *out = NULL;
    if (!header && bbdc_is_ping_body(root))
        return CM_EIGNORE;
    if (!body && (json_object_get(root, "push") || (header && !strcmp(header, "repo:push"))))
        return host->reject(req, CM_EINVAL,
                            "this is a Bitbucket Cloud payload (no eventKey in the body): point "
                            "this webhook at a bitbucket-cloud endpoint");
    if (!body)
        return host->reject(req, CM_EINVAL, "eventKey is missing from the body: this endpoint "
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

static int bbdc_translate(void *p, struct cm_request *req)
{
    struct bbdc_self *self = p;
    const struct cm_host *host = self->host;
    const char *header = host->header(req, "X-Event-Key");
    const char *key;
    json_t *root = NULL;
    int rc;

    /* The ping was let through unsigned, so its body is not looked at. */
    if (header && !strcmp(header, BBDC_PING_KEY))
        return CM_EIGNORE;
    if ((rc = bbdc_parse(host, req, &root)) != CM_OK)
        goto out;
    if ((rc = bbdc_event_key(host, req, root, &key)) != CM_OK)
        goto out;
    if (!bbdc_is_push_key(key)) {
        rc = CM_EIGNORE;
        goto out;
    }
    rc = bbdc_emit(host, req, root);
out:
    json_decref(root);
    return rc;
}

/* Data Center event keys, its X-Request-Id with no Cloud header, a body with eventKey, or
 * the exact ping body. */
static int bbdc_sniff(const struct cm_host *host, const struct cm_request *req)
{
    const char *key = host->header(req, "X-Event-Key");
    const char *text;
    json_t *root;
    size_t len;
    int mine;

    if (key && (bbdc_is_push_key(key) || !strcmp(key, BBDC_PING_KEY) || !strncmp(key, "pr:", 3)))
        return 1;
    if (key && host->header(req, "X-Request-Id") && !host->header(req, "X-Hook-UUID") &&
        !host->header(req, "X-Request-UUID"))
        return 1;
    if (!(text = host->payload(req, &len)))
        return 0;
    if (!(root = json_loadb(text, len, 0, NULL)))
        return 0;
    mine = json_is_object(root) &&
           (json_is_string(json_object_get(root, "eventKey")) || bbdc_is_ping_body(root));
    json_decref(root);
    return mine;
}

CM_EXPORT const struct cm_provider cargoman_provider = {
    .abi_version = CM_ABI_VERSION,
    .name = "bitbucket-datacenter",
    .version = "1.0.0",
    .description = "Bitbucket Data Center / Server push webhooks (X-Hub-Signature sha256)",
    .create = bbdc_create,
    .destroy = bbdc_destroy,
    .verify = bbdc_verify,
    .translate = bbdc_translate,
    .sniff = bbdc_sniff,
};
