/* SPDX-License-Identifier: MIT */
/*
 * GitHub provider: checks X-Hub-Signature-256 (or the legacy sha1 X-Hub-Signature, when the
 * endpoint allows it) over the raw body, and turns a `push` delivery, JSON or form-encoded,
 * into one common push event. Pings and every other event are valid but not pushes. It reads
 * the payload through the host's json_* services (SDK 1.2), so it links no JSON library.
 */
#include <cargoman/plugin.h>

#include <stdlib.h>
#include <string.h>

#include "provider_path.h"
#include "provider_util.h"

/* Ends every reason about a field of the payload. */
#define GH_NOT_PUSH ": not a GitHub push payload"

/* The reasons cmp_path_load refuses a payload with. */
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

/* Bitbucket signs with X-Hub-Signature too, so a Bitbucket hook sent to a GitHub endpoint would
 * be told about legacy_sha1, which cannot help: name the endpoint it belongs to instead. Both
 * Bitbucket products send X-Event-Key, GitHub never does; only Cloud sends X-Hook-UUID and
 * names a push repo:push. 0 when it does not look like Bitbucket's, else the rejection. */
static int gh_reject_bitbucket(const struct cm_host *host, struct cm_request *req)
{
    const char *key = host->header(req, "X-Event-Key");

    if (key == NULL || host->header(req, "X-GitHub-Event") != NULL)
        return 0;
    if (host->header(req, "X-Hook-UUID") != NULL || strcmp(key, "repo:push") == 0)
        return host->reject(req, CM_EINVAL,
                            "this delivery looks like Bitbucket Cloud's (X-Event-Key header, no "
                            "X-GitHub-Event), not GitHub's: point the webhook at a "
                            "bitbucket-cloud endpoint");
    return host->reject(req, CM_EINVAL,
                        "this delivery looks like Bitbucket Data Center's (X-Event-Key header, no "
                        "X-GitHub-Event), not GitHub's: point the webhook at a "
                        "bitbucket-datacenter endpoint");
}

/* Check one "algo=<hex>" signature header against HMAC-algo(s, body) for every secret s of
 * the endpoint. */
static int gh_check(const struct cm_host *host, struct cm_request *req, const char *name,
                    const char *algo, const char *value, struct cm_ctx *ctx, const void *body,
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
    rc = host->secret_hmac_verify(ctx, algo, body, len, hex, CM_MAC_HEX);
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
    const char *sig;
    const void *body;
    size_t len = 0;
    int rc;

    if (gh_lookalike(host, req))
        return gh_reject_lookalike(host, req);
    if ((rc = gh_reject_bitbucket(host, req)) != 0)
        return rc;
    if (host->conf_secret(self->base.ctx) == NULL)
        return CM_OK; /* unsigned endpoint: the core warned about it at start */
    body = host->body(req, &len);
    sig = host->header(req, "X-Hub-Signature-256");
    if (sig != NULL)
        return gh_check(host, req, "X-Hub-Signature-256", "sha256", sig, self->base.ctx, body, len);
    sig = host->header(req, "X-Hub-Signature");
    if (sig != NULL && self->legacy_sha1)
        return gh_check(host, req, "X-Hub-Signature", "sha1", sig, self->base.ctx, body, len);
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
static int gh_read_actor(const struct cmp_json *j, struct gh_push *p)
{
    int sender, pusher, rc;

    if ((rc = cmp_path_object(j, "sender", CMP_OPTIONAL, &sender)) ||
        (rc = cmp_path_object(j, "pusher", CMP_OPTIONAL, &pusher)))
        return rc;
    if (sender && (rc = cmp_path_string(j, "sender.login", CMP_OPTIONAL, &p->ev.actor)))
        return rc;
    if ((p->ev.actor == NULL || p->ev.actor[0] == '\0') && pusher)
        return cmp_path_string(j, "pusher.name", CMP_OPTIONAL, &p->ev.actor);
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
static int gh_body_is_ping(const struct cm_host *host, const struct cm_request *req)
{
    return host->json_type(req, "zen") == CM_JSON_STRING &&
           host->json_type(req, "hook_id") > CM_JSON_ABSENT;
}

static int gh_read_push(const struct cmp_json *j, struct gh_push *p)
{
    const struct cm_host *host = j->host;
    int rc;

    /* A body of another family under X-GitHub-Event: push is a misrouted or forged hook. */
    if (gh_body_is_ping(host, j->req))
        return host->reject(j->req, CM_EINVAL, "X-GitHub-Event is push but the body is a ping");
    if (cmp_path_has(j, "object_kind") || cmp_path_has(j, "eventKey"))
        return host->reject(j->req, CM_EINVAL,
                            "X-GitHub-Event is push but the body is a GitLab "
                            "or Bitbucket payload: send this hook to its own endpoint");
    if ((rc = cmp_path_string(j, "ref", CMP_NONEMPTY, &p->ref)) ||
        (rc = cmp_path_string(j, "before", CMP_NONEMPTY, &p->before)) ||
        (rc = cmp_path_string(j, "after", CMP_NONEMPTY, &p->after)) ||
        (rc = cmp_path_bool(j, "forced", &p->forced)) ||
        (rc = cmp_path_repository(j, "repository", &gh_repo_keys, &p->ev, p->id_buf,
                                  sizeof(p->id_buf))))
        return rc;
    return gh_read_actor(j, p);
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

/* Body shape of a GitHub push or ping (docs/provider-github.md). */
static int gh_body_looks_like(const struct cm_host *host, const struct cm_request *req)
{
    if (host->json_type(req, "object_kind") > CM_JSON_ABSENT ||
        host->json_type(req, "event_name") > CM_JSON_ABSENT ||
        host->json_type(req, "eventKey") > CM_JSON_ABSENT)
        return 0;
    if (gh_body_is_ping(host, req) && host->json_type(req, "hook") == CM_JSON_OBJECT)
        return 1;
    return host->json_type(req, "ref") == CM_JSON_STRING &&
           host->json_type(req, "before") == CM_JSON_STRING &&
           host->json_type(req, "after") == CM_JSON_STRING &&
           (host->json_type(req, "created") == CM_JSON_TRUE ||
            host->json_type(req, "created") == CM_JSON_FALSE) &&
           (host->json_type(req, "deleted") == CM_JSON_TRUE ||
            host->json_type(req, "deleted") == CM_JSON_FALSE) &&
           host->json_type(req, "pusher") == CM_JSON_OBJECT &&
           host->json_type(req, "repository.full_name") == CM_JSON_STRING;
}

static int gh_translate(void *self_, struct cm_request *req)
{
    struct gh_self *self = self_;
    const struct cm_host *host = self->base.host;
    const struct cmp_json j = {host, req, GH_NOT_PUSH};
    struct gh_push push;
    const char *event;
    int rc;

    if (gh_lookalike(host, req))
        return gh_reject_lookalike(host, req);
    event = host->header(req, "X-GitHub-Event");
    /* ping, create, delete, pull_request...: valid, not a push */
    if (event != NULL && strcmp(event, "push") != 0)
        return host->reject(req, CM_EIGNORE, "event type %.64s is not a push", event);
    if ((rc = cmp_path_load(&j, &gh_load)) != CM_OK)
        return rc;
    if (event == NULL && gh_body_is_ping(host, req))
        return host->reject(req, CM_EIGNORE, "the body is a ping, not a push");
    if (event == NULL && !gh_body_looks_like(host, req))
        return host->reject(req, CM_EINVAL,
                            "missing X-GitHub-Event header and the body is not a "
                            "GitHub push: send the delivery with its X-GitHub-Event header");
    memset(&push, 0, sizeof(push));
    rc = gh_read_push(&j, &push);
    if (rc == CM_OK)
        rc = gh_emit(&j, &push);
    return rc;
}

/* GitHub's own event header, unless a Gitea or Gogs header says it only looks like GitHub. */
static int gh_sniff(const struct cm_host *host, const struct cm_request *req)
{
    static const char *const others[] = {"X-Gitlab-Event", "X-Event-Key", NULL};

    return cmp_path_sniff(host, req, gh_lookalike_headers, "X-GitHub-Event", others,
                          gh_body_looks_like);
}

/* What GitHub sends: X-Hub-Signature-256, and the legacy sha1 X-Hub-Signature beside it. */
static int gh_sign(const struct cm_host *host, struct cm_request *req, const char *secret,
                   const char *id, long long timestamp, cm_header_cb emit, void *arg)
{
    int rc = cmp_sign_hub(host, req, "X-Hub-Signature-256", "sha256", secret, emit, arg);

    (void)id;
    (void)timestamp;
    return rc ? rc : cmp_sign_hub(host, req, "X-Hub-Signature", "sha1", secret, emit, arg);
}

/* GitHub (and Enterprise Server) serve clones at <url>/<owner>/<name>.git. */
static const char gh_clone_path[] = "{repository}.git";

CMP_PROVIDER(gh, free, "github", "1.0.0",
             "GitHub push webhooks (X-Hub-Signature-256, JSON or form-encoded)",
             CM_PROVIDER_FORM_PAYLOAD, "https://github.com");
