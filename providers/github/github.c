/* SPDX-License-Identifier: MIT */
/*
 * GitHub provider: checks X-Hub-Signature-256 (or the legacy sha1 X-Hub-Signature, when the
 * endpoint allows it) over the raw body, and turns a `push` delivery, JSON or form-encoded,
 * into one common push event. Pings and every other event are valid but not pushes.
 */
#include <cargoman/plugin.h>
#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "provider_json.h"
#include "provider_util.h"

/* Ends every reason about a field of the payload. */
#define GH_NOT_PUSH ": not a GitHub push payload"

/* The reasons cmp_json_load refuses a payload with. */
static const struct cmp_load gh_load = {
    .no_payload = "the form-encoded body has no payload field: GitHub sends the JSON as "
                  "payload=...; or set the webhook's content type to application/json",
    .syntax_hint = ": send the webhook's own payload",
    .not_object = "the body is not a JSON object: not a GitHub payload",
};

struct gh_self {
    struct cmp_self base;
    int legacy_sha1; /* accept X-Hub-Signature (sha1) when -256 is absent */
};

/* What one push delivery says; strings are borrowed from the parsed payload. */
struct gh_push {
    const char *ref;
    const char *before;
    const char *after;
    int forced;           /* 1, 0, -1 unknown */
    struct cmp_fields ev; /* the delivery id is set by gh_emit */
    char id_buf[32];      /* repository_id when the payload has it as a number */
};

/* The endpoint keys besides the core's (SDK 1.2): a typo in one is a configuration error. */
static const struct cm_conf_key gh_config_keys[] = {{"legacy_sha1", CM_CONF_BOOL}, {NULL, 0}};

static int gh_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct gh_self *s;
    const char *url = NULL;
    int legacy = 0;
    int rc;

    /* The clone URLs come from the payload; url is only checked here so a typo fails early. */
    if ((rc = cmp_conf_url(host, ctx, "https://github.com", &url)) != CM_OK)
        return rc;
    rc = host->conf_bool(ctx, "legacy_sha1", &legacy);
    if (rc == CM_ENOENT) {
        legacy = 0;
    } else if (rc != CM_OK) {
        host->log(ctx, CM_LOG_ERR, "legacy_sha1 must be true or false (without quotes)");
        return CM_EINVAL;
    }
    s = cmp_self_new(host, ctx, sizeof(*s));
    if (s == NULL)
        return CM_ENOMEM;
    s->legacy_sha1 = legacy;
    if (legacy)
        host->log(ctx, CM_LOG_WARNING,
                  "legacy_sha1 = true: deliveries signed only with HMAC-SHA1 are accepted");
    *self = s;
    return CM_OK;
}

/* Gitea and Gogs send GitHub-style headers and bodies that differ in the details. */
static const char *const gh_lookalike_headers[] = {"X-Gitea-Event", "X-Gogs-Event", NULL};

static int gh_lookalike(const struct cm_host *host, const struct cm_request *req)
{
    return cmp_has_any_header(host, req, gh_lookalike_headers);
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
    size_t alen, n = strlen(algo);
    const char *hex = cmp_sig_split(value, &alen);
    int rc;

    if (hex == NULL)
        return host->reject(
            req, CM_EAUTH, "%s is not of the form %s=<hex>: it was not made by GitHub", name, algo);
    if (alen != n || strncmp(value, algo, n) != 0)
        return host->reject(req, CM_EAUTH, "%s uses algorithm \"%.*s\", expected %s", name,
                            (int)(alen > 16 ? 16 : alen), value, algo);
    rc = host->hmac_verify(algo, secret, body, len, hex);
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
    const struct cm_host *host = self->base.host;
    const char *secret, *sig;
    const void *body;
    size_t len = 0;

    if (gh_lookalike(host, req))
        return gh_reject_lookalike(host, req);
    secret = host->conf_secret(self->base.ctx);
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

/* sender.login, else pusher.name (pusher has a name and an email, no login). */
static int gh_read_actor(const struct cmp_json *j, const json_t *root, struct gh_push *p)
{
    json_t *sender, *pusher;
    int rc;

    if ((rc = cmp_json_object(j, root, "", "sender", CMP_OPTIONAL, &sender)) ||
        (rc = cmp_json_object(j, root, "", "pusher", CMP_OPTIONAL, &pusher)))
        return rc;
    if (sender != NULL &&
        (rc = cmp_json_string(j, sender, "sender", "login", CMP_OPTIONAL, &p->ev.actor)))
        return rc;
    if ((p->ev.actor == NULL || p->ev.actor[0] == '\0') && pusher != NULL)
        return cmp_json_string(j, pusher, "pusher", "name", CMP_OPTIONAL, &p->ev.actor);
    return CM_OK;
}

/* GitHub's own rule: owners are letters, digits and '-' (never first); names add '.' and '_'. */
static const struct cmp_name_rule gh_name_rule = {
    .form = "a GitHub owner/name",
    .min_segments = 2,
    .max_segments = 2,
    .first = {.what = "owner", .extra = "-", .no_start = "-"},
    .rest = {.what = "name", .extra = "._-"},
};

/* Where the event's repository fields are: name, clone URLs, web page, id. */
static const struct cmp_repo_keys gh_repo_keys = {"full_name", "clone_url", "ssh_url",
                                                  "html_url",  "id",        &gh_name_rule};

/* Only a ping carries zen and hook_id: how one is told without X-GitHub-Event. */
static int gh_body_is_ping(const json_t *root)
{
    return json_is_string(json_object_get(root, "zen")) && json_object_get(root, "hook_id") != NULL;
}

static int gh_read_push(const struct cmp_json *j, const json_t *root, struct gh_push *p)
{
    const struct cm_host *host = j->host;
    int rc;

    /* A body of another family under X-GitHub-Event: push is a misrouted or forged hook. */
    if (gh_body_is_ping(root))
        return host->reject(j->req, CM_EINVAL, "X-GitHub-Event is push but the body is a ping");
    if (json_object_get(root, "object_kind") != NULL || json_object_get(root, "eventKey") != NULL)
        return host->reject(j->req, CM_EINVAL,
                            "X-GitHub-Event is push but the body is a GitLab "
                            "or Bitbucket payload: send this hook to its own endpoint");
    if ((rc = cmp_json_string(j, root, "", "ref", CMP_NONEMPTY, &p->ref)) ||
        (rc = cmp_json_string(j, root, "", "before", CMP_NONEMPTY, &p->before)) ||
        (rc = cmp_json_string(j, root, "", "after", CMP_NONEMPTY, &p->after)) ||
        (rc = cmp_json_bool(j, root, "", "forced", &p->forced)) ||
        (rc = cmp_json_repository(j, root, "repository", &gh_repo_keys, &p->ev, p->id_buf,
                                  sizeof(p->id_buf))))
        return rc;
    return gh_read_actor(j, root, p);
}

static int gh_emit(const struct cmp_json *j, struct gh_push *p)
{
    const struct cm_host *host = j->host;
    struct cm_event *ev;
    int rc;

    p->ev.delivery_id = host->header(j->req, "X-GitHub-Delivery");
    rc = cmp_event_start(host, j->req, &p->ev, &ev);
    if (rc == CM_EINVAL)
        return host->reject(
            j->req, rc,
            "a repository field or the X-GitHub-Delivery header is not UTF-8 text" GH_NOT_PUSH);
    if (rc != CM_OK)
        return rc;
    rc = host->event_add_change(ev, p->ref, p->before, p->after, p->forced);
    if (rc == CM_EINVAL)
        return host->reject(j->req, rc,
                            "before and after must be commit ids (hex, not both "
                            "zero)" GH_NOT_PUSH);
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
    const struct cm_host *host = self->base.host;
    const struct cmp_json j = {host, req, GH_NOT_PUSH};
    struct gh_push push;
    const char *event;
    json_t *root = NULL;
    int rc;

    if (gh_lookalike(host, req))
        return gh_reject_lookalike(host, req);
    event = host->header(req, "X-GitHub-Event");
    if (event != NULL && strcmp(event, "push") != 0)
        return CM_EIGNORE; /* ping, create, delete, pull_request...: valid, not a push */
    if ((rc = cmp_json_load(&j, &gh_load, &root)) != CM_OK)
        goto out;
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
    rc = gh_read_push(&j, root, &push);
    if (rc == CM_OK)
        rc = gh_emit(&j, &push);
out:
    json_decref(root);
    return rc;
}

/* GitHub's own event header, unless a Gitea or Gogs header says it only looks like GitHub. */
static int gh_sniff(const struct cm_host *host, const struct cm_request *req)
{
    static const char *const others[] = {"X-Gitlab-Event", "X-Event-Key", NULL};

    return cmp_sniff(host, req, gh_lookalike_headers, "X-GitHub-Event", others, gh_body_looks_like);
}

CMP_PROVIDER(gh, free, "github", "1.0.0",
             "GitHub push webhooks (X-Hub-Signature-256, JSON or form-encoded)",
             CM_PROVIDER_FORM_PAYLOAD, "https://github.com");
