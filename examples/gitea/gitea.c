/* SPDX-License-Identifier: MIT */
/*
 * Gitea and Forgejo provider, written as a third party would: against the installed SDK and
 * jansson only. Checks X-Forgejo-Signature / X-Gitea-Signature (hex HMAC-SHA256 of the raw
 * body, no prefix) and turns push, create and delete deliveries into common push events.
 */
#include <cargoman/plugin.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gt_self {
    const struct cm_host *host;
    struct cm_ctx *ctx;
};

/* Forgejo sends both families; its own names win. */
static const char *gt_header(const struct cm_host *h, const struct cm_request *req,
                             const char *forgejo, const char *gitea)
{
    const char *v = h->header(req, forgejo);
    return v ? v : h->header(req, gitea);
}

static int gt_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct gt_self *s = malloc(sizeof(*s));
    if (!s)
        return CM_ENOMEM;
    s->host = host;
    s->ctx = ctx;
    *self = s;
    return CM_OK;
}

static void gt_destroy(void *self)
{
    free(self);
}

static int gt_verify(void *self_, struct cm_request *req)
{
    const struct gt_self *self = self_;
    const struct cm_host *h = self->host;
    const char *secret = h->conf_secret(self->ctx);
    const char *sig = gt_header(h, req, "X-Forgejo-Signature", "X-Gitea-Signature");
    size_t len = 0;
    const void *body = h->body(req, &len);

    if (!secret)
        return CM_OK; /* an unsigned endpoint: the gateway warns about it at start */
    if (!sig)
        return h->reject(req, CM_EAUTH,
                         "missing X-Gitea-Signature header: the endpoint has a secret; set the "
                         "same secret on the webhook in Gitea or Forgejo");
    /* A 1.2 host checks every secret of the endpoint (rotation); an older one has only the
     * first. */
    int rc = CM_ABI_VERSION_MINOR(h->abi_version) >= 2
                 ? h->secret_hmac_verify(self->ctx, "sha256", body, len, sig, CM_MAC_HEX)
                 : h->hmac_verify("sha256", secret, body, len, sig);
    if (rc != CM_OK)
        return h->reject(req, CM_EAUTH,
                         "X-Gitea-Signature does not match the body: the webhook's secret "
                         "differs from the endpoint's");
    return CM_OK;
}

/* The string at key of obj, or NULL when absent or not a string. */
static const char *gt_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The repository fields every Gitea event carries. */
static int gt_repository(const struct cm_host *h, struct cm_request *req, struct cm_event *ev,
                         const json_t *root)
{
    const json_t *repo = json_object_get(root, "repository");
    const json_t *who = json_object_get(root, "pusher");
    const char *full = gt_str(repo, "full_name");
    char id[32] = "";
    int rc;

    if (!json_is_object(repo) || !full || !*full)
        return h->reject(req, CM_EINVAL, "repository.full_name is missing: not a Gitea payload");
    if (json_is_integer(json_object_get(repo, "id")))
        snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(repo, "id")));
    if (!json_is_object(who))
        who = json_object_get(root, "sender");
    if ((rc = h->event_set(ev, CM_FIELD_REPOSITORY, full)) != CM_OK ||
        (rc = h->event_set(ev, CM_FIELD_REPOSITORY_ID, id)) != CM_OK ||
        (rc = h->event_set(ev, CM_FIELD_CLONE_URL_HTTP, gt_str(repo, "clone_url"))) != CM_OK ||
        (rc = h->event_set(ev, CM_FIELD_CLONE_URL_SSH, gt_str(repo, "ssh_url"))) != CM_OK ||
        (rc = h->event_set(ev, CM_FIELD_HTML_URL, gt_str(repo, "html_url"))) != CM_OK ||
        (rc = h->event_set(ev, CM_FIELD_ACTOR, gt_str(who, "login"))) != CM_OK)
        return rc == CM_EINVAL ? h->reject(req, rc, "a repository field is not UTF-8") : rc;
    return CM_OK;
}

/* push: ref, before, after; all-zero ids mark a created or deleted ref (the host maps them). */
static int gt_push(const struct cm_host *h, struct cm_request *req, struct cm_event *ev,
                   const json_t *root)
{
    const char *ref = gt_str(root, "ref"), *before = gt_str(root, "before");
    const char *after = gt_str(root, "after");
    if (!ref || !before || !after)
        return h->reject(req, CM_EINVAL, "a push needs ref, before and after");
    if (h->event_add_change(ev, ref, before, after, -1) != CM_OK)
        return h->reject(req, CM_EINVAL, "ref, before or after is not a ref and commit ids");
    return CM_OK;
}

/* create and delete name the ref short ("main", "v1.0") with ref_type "branch" or "tag". */
static int gt_create_delete(const struct cm_host *h, struct cm_request *req, struct cm_event *ev,
                            const json_t *root, int create)
{
    const char *name = gt_str(root, "ref"), *type = gt_str(root, "ref_type");
    const char *sha = gt_str(root, "sha");
    char ref[1024];

    if (!name || !type || (strcmp(type, "branch") && strcmp(type, "tag")))
        return h->reject(req, CM_EINVAL, "a create or delete needs ref and ref_type branch|tag");
    snprintf(ref, sizeof(ref), "%s%s", strcmp(type, "tag") ? "refs/heads/" : "refs/tags/",
             strncmp(name, "refs/", 5) ? name : name + (strcmp(type, "tag") ? 11 : 10));
    if (create && sha) {
        if (h->event_add_change(ev, ref, NULL, sha, -1) != CM_OK)
            return h->reject(req, CM_EINVAL, "sha is not a commit id");
        return CM_OK;
    }
    /* Gitea sends no ids with a delete: say that refs changed, and the sync reads them all. */
    h->event_set_incomplete(ev);
    return CM_OK;
}

static int gt_translate(void *self_, struct cm_request *req)
{
    const struct gt_self *self = self_;
    const struct cm_host *h = self->host;
    const char *kind = gt_header(h, req, "X-Forgejo-Event", "X-Gitea-Event");
    const char *delivery = gt_header(h, req, "X-Forgejo-Delivery", "X-Gitea-Delivery");
    size_t len = 0;
    const char *payload = h->payload(req, &len);
    json_error_t jerr;
    json_t *root = NULL;
    struct cm_event *ev;
    int rc;

    if (!kind)
        return h->reject(req, CM_EINVAL, "no X-Gitea-Event or X-Forgejo-Event header");
    if (strcmp(kind, "push") && strcmp(kind, "create") && strcmp(kind, "delete"))
        return h->reject(req, CM_EIGNORE, "%.64s events are not pushes", kind);
    if (!payload || !(root = json_loadb(payload, len, 0, &jerr)) || !json_is_object(root)) {
        rc = h->reject(req, CM_EINVAL, "the body is not a JSON object: not a Gitea payload");
        goto out;
    }
    if (!(ev = h->event_new(req))) {
        rc = CM_ENOMEM;
        goto out;
    }
    if ((rc = h->event_set(ev, CM_FIELD_DELIVERY_ID, delivery)) != CM_OK) {
        rc = rc == CM_EINVAL ? h->reject(req, rc, "the delivery id is not UTF-8") : rc;
        goto out;
    }
    if ((rc = gt_repository(h, req, ev, root)) != CM_OK)
        goto out;
    rc = strcmp(kind, "push") == 0 ? gt_push(h, req, ev, root)
                                   : gt_create_delete(h, req, ev, root, !strcmp(kind, "create"));
out:
    json_decref(root);
    return rc;
}

static int gt_sniff(const struct cm_host *host, const struct cm_request *req)
{
    return gt_header(host, req, "X-Forgejo-Event", "X-Gitea-Event") != NULL;
}

CM_EXPORT const struct cm_provider cargoman_provider = {
    .abi_version = CM_ABI_VERSION,
    .name = "gitea",
    .version = "1.0.0",
    .description = "Gitea and Forgejo push webhooks (example third-party provider)",
    .create = gt_create,
    .destroy = gt_destroy,
    .verify = gt_verify,
    .translate = gt_translate,
    .sniff = gt_sniff,
    .flags = 0,
    .default_url = NULL,              /* always self-hosted: every endpoint sets url */
    .clone_path = "{repository}.git", /* where `cargoman import` fetches from (SDK 1.2) */
};
