/* SPDX-License-Identifier: MIT */
/*
 * GitHub provider: checks X-Hub-Signature-256 (or the legacy sha1 X-Hub-Signature, when the
 * endpoint allows it) over the raw body, and turns a `push` delivery, JSON or form-encoded,
 * into one common push event. Pings and every other event are valid but not pushes.
 */
#include <cargoman/plugin.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gh_self {
    const struct cm_host *host; /* borrowed; outlives self */
    struct cm_ctx *ctx;         /* borrowed; the endpoint's section */
    int legacy_sha1;            /* accept X-Hub-Signature (sha1) when -256 is absent */
};

/* What one push delivery says; strings are borrowed from the parsed payload. */
struct gh_push {
    const char *ref;
    const char *before;
    const char *after;
    int forced; /* 1, 0, -1 unknown */
    const char *repository;
    const char *repository_id;
    const char *clone_http;
    const char *clone_ssh;
    const char *html_url;
    const char *actor;
    char id_buf[32]; /* repository_id when the payload has it as a number */
};

static int gh_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct gh_self *s;
    const char *url = NULL;
    int legacy = 0;
    int rc;

    /* The clone URLs come from the payload; url is only checked here so a typo fails early. */
    rc = host->conf_string(ctx, "url", &url);
    if (rc != CM_OK && rc != CM_ENOENT) {
        host->log(ctx, CM_LOG_ERR, "url must be a string such as \"https://github.com\"");
        return CM_EINVAL;
    }
    rc = host->conf_bool(ctx, "legacy_sha1", &legacy);
    if (rc == CM_ENOENT) {
        legacy = 0;
    } else if (rc != CM_OK) {
        host->log(ctx, CM_LOG_ERR, "legacy_sha1 must be true or false (without quotes)");
        return CM_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return CM_ENOMEM;
    s->host = host;
    s->ctx = ctx;
    s->legacy_sha1 = legacy;
    if (legacy)
        host->log(ctx, CM_LOG_WARNING,
                  "legacy_sha1 = true: deliveries signed only with HMAC-SHA1 are accepted");
    *self = s;
    return CM_OK;
}

static void gh_destroy(void *self)
{
    free(self);
}

/* Gitea and Gogs send GitHub-style headers and bodies that differ in the details. */
static int gh_lookalike(const struct cm_host *host, const struct cm_request *req)
{
    return host->header(req, "X-Gitea-Event") != NULL || host->header(req, "X-Gogs-Event") != NULL;
}

static int gh_reject_lookalike(const struct cm_host *host, struct cm_request *req)
{
    return host->reject(req, CM_EINVAL,
                        "this is a Gitea/Gogs hook (X-Gitea-Event or X-Gogs-Event header), not "
                        "a GitHub one: the github provider does not accept it");
}

/* Check one "algo=<hex>" signature header against HMAC-algo(secret, body). */
static int gh_check(const struct cm_host *host, struct cm_request *req, const char *name,
                    const char *algo, const char *value, const char *secret, const void *body,
                    size_t len)
{
    const char *eq = strchr(value, '=');
    size_t n = strlen(algo);
    int rc;

    if (eq == NULL)
        return host->reject(
            req, CM_EAUTH, "%s is not of the form %s=<hex>: it was not made by GitHub", name, algo);
    if ((size_t)(eq - value) != n || strncmp(value, algo, n) != 0)
        return host->reject(req, CM_EAUTH, "%s uses algorithm \"%.*s\", expected %s", name,
                            (int)((eq - value) > 16 ? 16 : (eq - value)), value, algo);
    rc = host->hmac_verify(algo, secret, body, len, eq + 1);
    if (rc == CM_OK)
        return CM_OK;
    if (rc != CM_EAUTH)
        return host->reject(req, rc == CM_ENOMEM ? CM_ENOMEM : CM_ERROR, "could not check %s",
                            name);
    return host->reject(req, CM_EAUTH,
                        "%s does not match the body: set the same secret on "
                        "the webhook in GitHub as on the endpoint",
                        name);
}

static int gh_verify(void *self_, struct cm_request *req)
{
    struct gh_self *self = self_;
    const struct cm_host *host = self->host;
    const char *secret, *sig;
    const void *body;
    size_t len = 0;

    if (gh_lookalike(host, req))
        return gh_reject_lookalike(host, req);
    secret = host->conf_secret(self->ctx);
    if (secret == NULL)
        return CM_OK; /* unsigned endpoint: the core warned about it at start */
    body = host->body(req, &len);
    sig = host->header(req, "X-Hub-Signature-256");
    if (sig != NULL)
        return gh_check(host, req, "X-Hub-Signature-256", "sha256", sig, secret, body, len);
    sig = host->header(req, "X-Hub-Signature");
    if (sig != NULL && self->legacy_sha1)
        return gh_check(host, req, "X-Hub-Signature", "sha1", sig, secret, body, len);
    if (sig != NULL)
        return host->reject(req, CM_EAUTH,
                            "missing X-Hub-Signature-256 header and the legacy sha1 "
                            "X-Hub-Signature is not accepted: send X-Hub-Signature-256, or set "
                            "legacy_sha1 = true on the endpoint");
    return host->reject(req, CM_EAUTH,
                        "missing X-Hub-Signature-256 header: the endpoint has a secret; set the "
                        "same secret on the webhook in GitHub");
}

/* *out = the string at parent.key; NULL when absent or null unless required. */
static int gh_str(const struct cm_host *host, struct cm_request *req, const json_t *obj,
                  const char *parent, const char *key, int required, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    const char *dot = parent[0] != '\0' ? "." : "";

    *out = NULL;
    if (json_is_string(v)) {
        *out = json_string_value(v);
        if (required && (*out)[0] == '\0')
            return host->reject(req, CM_EINVAL, "%s%s%s is empty: not a GitHub push payload",
                                parent, dot, key);
        return CM_OK;
    }
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return CM_OK;
        return host->reject(req, CM_EINVAL, "%s%s%s is missing: not a GitHub push payload", parent,
                            dot, key);
    }
    return host->reject(req, CM_EINVAL, "%s%s%s is not a string: not a GitHub push payload", parent,
                        dot, key);
}

/* *out = the object at key of root; NULL when absent or null unless required. */
static int gh_obj(const struct cm_host *host, struct cm_request *req, const json_t *root,
                  const char *key, int required, const json_t **out)
{
    const json_t *v = json_object_get(root, key);

    *out = NULL;
    if (json_is_object(v)) {
        *out = v;
        return CM_OK;
    }
    if ((v == NULL || json_is_null(v)) && !required)
        return CM_OK;
    return host->reject(req, CM_EINVAL, "%s is %s: not a GitHub push payload", key,
                        v == NULL || json_is_null(v) ? "missing" : "not an object");
}

static int gh_read_repository(const struct cm_host *host, struct cm_request *req,
                              const json_t *root, struct gh_push *p)
{
    const json_t *repo, *id;
    int rc;

    rc = gh_obj(host, req, root, "repository", 1, &repo);
    if (rc != CM_OK)
        return rc;
    if ((rc = gh_str(host, req, repo, "repository", "full_name", 1, &p->repository)) ||
        (rc = gh_str(host, req, repo, "repository", "clone_url", 0, &p->clone_http)) ||
        (rc = gh_str(host, req, repo, "repository", "ssh_url", 0, &p->clone_ssh)) ||
        (rc = gh_str(host, req, repo, "repository", "html_url", 0, &p->html_url)))
        return rc;
    id = json_object_get(repo, "id");
    if (json_is_integer(id)) {
        snprintf(p->id_buf, sizeof(p->id_buf), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        p->repository_id = p->id_buf;
    } else if (json_is_string(id)) {
        p->repository_id = json_string_value(id);
    } else if (id != NULL && !json_is_null(id)) {
        return host->reject(req, CM_EINVAL,
                            "repository.id is not a number: not a GitHub push payload");
    }
    return CM_OK;
}

/* sender.login, else pusher.name (pusher has a name and an email, no login). */
static int gh_read_actor(const struct cm_host *host, struct cm_request *req, const json_t *root,
                         struct gh_push *p)
{
    const json_t *sender, *pusher;
    int rc;

    if ((rc = gh_obj(host, req, root, "sender", 0, &sender)) ||
        (rc = gh_obj(host, req, root, "pusher", 0, &pusher)))
        return rc;
    if (sender != NULL && (rc = gh_str(host, req, sender, "sender", "login", 0, &p->actor)))
        return rc;
    if ((p->actor == NULL || p->actor[0] == '\0') && pusher != NULL)
        return gh_str(host, req, pusher, "pusher", "name", 0, &p->actor);
    return CM_OK;
}

/* Only a ping carries zen and hook_id: how one is told without X-GitHub-Event. */
static int gh_body_is_ping(const json_t *root)
{
    return json_is_string(json_object_get(root, "zen")) && json_object_get(root, "hook_id") != NULL;
}

static int gh_read_push(const struct cm_host *host, struct cm_request *req, const json_t *root,
                        struct gh_push *p)
{
    const json_t *forced;
    int rc;

    /* A body of another family under X-GitHub-Event: push is a misrouted or forged hook. */
    if (gh_body_is_ping(root))
        return host->reject(req, CM_EINVAL, "X-GitHub-Event is push but the body is a ping");
    if (json_object_get(root, "object_kind") != NULL || json_object_get(root, "eventKey") != NULL)
        return host->reject(req, CM_EINVAL,
                            "X-GitHub-Event is push but the body is a GitLab "
                            "or Bitbucket payload: send this hook to its own endpoint");
    if ((rc = gh_str(host, req, root, "", "ref", 1, &p->ref)) ||
        (rc = gh_str(host, req, root, "", "before", 1, &p->before)) ||
        (rc = gh_str(host, req, root, "", "after", 1, &p->after)))
        return rc;
    forced = json_object_get(root, "forced");
    if (json_is_boolean(forced))
        p->forced = json_is_true(forced);
    else if (forced == NULL || json_is_null(forced))
        p->forced = -1;
    else
        return host->reject(req, CM_EINVAL, "forced is not a boolean: not a GitHub push payload");
    if ((rc = gh_read_repository(host, req, root, p)))
        return rc;
    return gh_read_actor(host, req, root, p);
}

static int gh_emit(const struct cm_host *host, struct cm_request *req, const struct gh_push *p)
{
    const struct {
        enum cm_field field;
        const char *value;
    } fields[] = {
        {CM_FIELD_DELIVERY_ID, host->header(req, "X-GitHub-Delivery")},
        {CM_FIELD_REPOSITORY, p->repository},
        {CM_FIELD_REPOSITORY_ID, p->repository_id},
        {CM_FIELD_CLONE_URL_HTTP, p->clone_http},
        {CM_FIELD_CLONE_URL_SSH, p->clone_ssh},
        {CM_FIELD_HTML_URL, p->html_url},
        {CM_FIELD_ACTOR, p->actor},
    };
    struct cm_event *ev;
    size_t i;
    int rc;

    ev = host->event_new(req);
    if (ev == NULL)
        return CM_ENOMEM;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].value == NULL)
            continue;
        rc = host->event_set(ev, fields[i].field, fields[i].value);
        if (rc != CM_OK)
            return rc == CM_EINVAL ? host->reject(req, rc,
                                                  "a repository field is not valid "
                                                  "text: not a GitHub push payload")
                                   : rc;
    }
    rc = host->event_add_change(ev, p->ref, p->before, p->after, p->forced);
    if (rc == CM_EINVAL)
        return host->reject(req, rc,
                            "before and after must be commit ids (hex, not both "
                            "zero): not a GitHub push payload");
    return rc;
}

/* Body shape of a GitHub push or ping (WEBHOOKS.md section 6, step 4). */
static int gh_body_looks_like(const json_t *root)
{
    const json_t *repo = json_object_get(root, "repository");

    if (json_object_get(root, "object_kind") != NULL ||
        json_object_get(root, "event_name") != NULL || json_object_get(root, "eventKey") != NULL)
        return 0;
    if (gh_body_is_ping(root) && json_is_object(json_object_get(root, "hook")))
        return 1;
    return json_is_string(json_object_get(root, "ref")) &&
           json_is_string(json_object_get(root, "before")) &&
           json_is_string(json_object_get(root, "after")) &&
           json_is_boolean(json_object_get(root, "created")) &&
           json_is_boolean(json_object_get(root, "deleted")) &&
           json_is_object(json_object_get(root, "pusher")) &&
           json_is_string(json_object_get(repo, "full_name"));
}

static int gh_translate(void *self_, struct cm_request *req)
{
    struct gh_self *self = self_;
    const struct cm_host *host = self->host;
    struct gh_push push;
    const char *event, *payload;
    json_error_t err;
    json_t *root = NULL;
    size_t len = 0;
    int rc;

    if (gh_lookalike(host, req))
        return gh_reject_lookalike(host, req);
    event = host->header(req, "X-GitHub-Event");
    if (event != NULL && strcmp(event, "push") != 0)
        return CM_EIGNORE; /* ping, create, delete, pull_request...: valid, not a push */
    payload = host->payload(req, &len);
    if (payload == NULL)
        return host->reject(req, CM_EINVAL,
                            "the form-encoded body has no payload field: GitHub sends the JSON "
                            "as payload=...; or set the webhook's content type to "
                            "application/json");
    root = json_loadb(payload, len, 0, &err);
    if (root == NULL)
        return host->reject(req, CM_EINVAL,
                            "the body is not JSON (line %d: %s): send the webhook's own payload",
                            err.line, err.text);
    if (!json_is_object(root)) {
        rc = host->reject(req, CM_EINVAL, "the body is not a JSON object: not a GitHub payload");
        goto out;
    }
    if (event == NULL && gh_body_is_ping(root)) {
        rc = CM_EIGNORE;
        goto out;
    }
    if (event == NULL && !gh_body_looks_like(root)) {
        rc = host->reject(req, CM_EINVAL,
                          "missing X-GitHub-Event header and the body is not a "
                          "GitHub push: send the delivery with its X-GitHub-Event header");
        goto out;
    }
    memset(&push, 0, sizeof(push));
    rc = gh_read_push(host, req, root, &push);
    if (rc == CM_OK)
        rc = gh_emit(host, req, &push);
out:
    json_decref(root);
    return rc;
}

static int gh_sniff(const struct cm_host *host, const struct cm_request *req)
{
    const char *payload;
    json_t *root;
    size_t len = 0;
    int mine;

    if (gh_lookalike(host, req))
        return 0;
    if (host->header(req, "X-GitHub-Event") != NULL)
        return 1;
    if (host->header(req, "X-Gitlab-Event") != NULL || host->header(req, "X-Event-Key") != NULL)
        return 0;
    payload = host->payload(req, &len);
    if (payload == NULL)
        return 0;
    root = json_loadb(payload, len, 0, NULL);
    mine = json_is_object(root) && gh_body_looks_like(root);
    json_decref(root);
    return mine;
}

CM_EXPORT const struct cm_provider cargoman_provider = {
    .abi_version = CM_ABI_VERSION,
    .name = "github",
    .version = "1.0.0",
    .description = "GitHub push webhooks (X-Hub-Signature-256, JSON or form-encoded)",
    .create = gh_create,
    .destroy = gh_destroy,
    .verify = gh_verify,
    .translate = gh_translate,
    .sniff = gh_sniff,
};
