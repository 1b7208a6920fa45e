/* SPDX-License-Identifier: MIT */
/*
 * Bitbucket Cloud provider: checks the X-Hub-Signature (HMAC-SHA256 over the raw body) of a
 * repo:push delivery and turns its push.changes[] into one common push event. Cloud payloads
 * carry no clone links, so they are derived from repository.full_name and the endpoint's url.
 */
#include <cargoman/plugin.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_json.h"
#include "provider_util.h"

#define BBC_DEFAULT_URL "https://bitbucket.org"
#define BBC_URL_MAX 256

struct bbc_self {
    struct cmp_self base;
    char http_base[BBC_URL_MAX]; /* e.g. "https://bitbucket.org", no trailing slash */
    char ssh_host[BBC_URL_MAX];  /* e.g. "bitbucket.org" */
};

/* One ref change, validated before any event is made. Strings are borrowed from the JSON. */
struct bbc_change {
    const char *type, *name, *old_id, *new_id;
    int forced;
};

/* Data Center event keys: such a delivery was pointed at the wrong endpoint. */
static const char *const bbc_dc_keys[] = {
    "repo:refs_changed",    "repo:modified",    "repo:forked", "project:modified",
    "repo:secret_detected", "diagnostics:ping", NULL};
static const char *const bbc_dc_prefixes[] = {"mirror:", "pr:", "repo:comment:", NULL};

static int bbc_is_dc_key(const char *key)
{
    for (size_t i = 0; bbc_dc_keys[i]; i++)
        if (!strcmp(key, bbc_dc_keys[i]))
            return 1;
    for (size_t i = 0; bbc_dc_prefixes[i]; i++)
        if (!strncmp(key, bbc_dc_prefixes[i], strlen(bbc_dc_prefixes[i])))
            return 1;
    return 0;
}

/* Split url into the HTTPS base and the host name used in git@host:path clone URLs. */
static int bbc_parse_url(struct bbc_self *self, const char *url)
{
    const char *auth = cmp_http_authority(url);
    size_t len = strlen(url), alen;

    while (len > 0 && url[len - 1] == '/')
        len--;
    if (!auth || len >= sizeof(self->http_base) || (size_t)(auth - url) >= len)
        return CM_EINVAL;
    alen = len - (size_t)(auth - url);
    if (memchr(auth, '/', alen) || memchr(auth, '@', alen) || memchr(auth, '?', alen) ||
        memchr(auth, '#', alen))
        return CM_EINVAL;
    memcpy(self->http_base, url, len);
    self->http_base[len] = '\0';

    /* Drop a :port; an IPv6 literal keeps its brackets, as git's scp-like syntax wants. */
    const char *end = auth + alen;
    const char *colon = auth[0] == '[' ? memchr(auth, ']', alen) : auth;
    if (!colon)
        return CM_EINVAL;
    colon = memchr(colon, ':', (size_t)(end - colon));
    if (colon)
        end = colon;
    if (end == auth)
        return CM_EINVAL;
    memcpy(self->ssh_host, auth, (size_t)(end - auth));
    self->ssh_host[end - auth] = '\0';
    return CM_OK;
}

/* Only the core's endpoint keys (url, secret...): none of its own. */
static const struct cm_conf_key bbc_config_keys[] = {{NULL, 0}};

static int bbc_create(const struct cm_host *host, struct cm_ctx *ctx, void **out)
{
    struct bbc_self *self;
    const char *url = NULL;
    int rc;

    *out = NULL;
    if ((rc = cmp_conf_url(host, ctx, BBC_DEFAULT_URL, &url)) != CM_OK)
        return rc;
    if (!url || !*url)
        url = BBC_DEFAULT_URL;
    if (!(self = cmp_self_new(host, ctx, sizeof(*self))))
        return CM_ENOMEM;
    if (bbc_parse_url(self, url) != CM_OK) {
        host->log(ctx, CM_LOG_ERR,
                  "url \"%s\" is not a Bitbucket Cloud address: write it as "
                  "https://<host> without a path, e.g. \"%s\"",
                  url, BBC_DEFAULT_URL);
        free(self);
        return CM_EINVAL;
    }
    *out = self;
    return CM_OK;
}

static int bbc_verify(void *p, struct cm_request *req)
{
    struct bbc_self *self = p;
    const struct cm_host *host = self->base.host;

    return cmp_bitbucket_signature(host, req, self->base.ctx, host->header(req, "X-Hub-Signature"),
                                   "Bitbucket Cloud", "Bitbucket Cloud signs with sha256");
}

/* Bitbucket Cloud's workspace ids and slugs: letters, digits, '.', '_' and '-'. */
static const struct cmp_name_rule bbc_name_rule = {
    .form = "a Bitbucket Cloud workspace/slug",
    .min_segments = 2,
    .max_segments = 2,
    .first = {.what = "workspace", .extra = "._-"},
    .rest = {.what = "slug", .extra = "._-"},
};

/* One side (old or new) of a change: its ref type and name, and the id it points at. */
static int bbc_read_side(const struct cmp_json *j, json_t *side, const char *where,
                         const char **type, const char **name, const char **id)
{
    char target_path[96];
    json_t *target;
    int rc;

    if ((rc = cmp_json_string(j, side, where, "type", CMP_OPTIONAL, type)) ||
        (rc = cmp_json_string(j, side, where, "name", CMP_OPTIONAL, name)))
        return rc;
    if (!*type || !*name || !**name)
        return j->host->reject(j->req, CM_EINVAL, "%s needs a type and a name", where);
    if ((rc = cmp_json_object(j, side, where, "target", CMP_OPTIONAL, &target)) != CM_OK)
        return rc;
    snprintf(target_path, sizeof(target_path), "%s.target", where);
    if ((rc = cmp_json_string(j, target, target_path, "hash", CMP_OPTIONAL, id)) != CM_OK)
        return rc;
    if (!*id || !cmp_is_commit_id(*id))
        return j->host->reject(j->req, CM_EINVAL, "%s.hash is missing or not a commit id",
                               target_path);
    return CM_OK;
}

static int bbc_read_change(const struct cmp_json *j, json_t *c, const char *where,
                           struct bbc_change *out)
{
    char side[80];
    const char *otype = NULL, *oname = NULL, *ntype = NULL, *nname = NULL;
    json_t *old, *new;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = cmp_json_object(j, c, where, "old", CMP_OPTIONAL, &old)) ||
        (rc = cmp_json_object(j, c, where, "new", CMP_OPTIONAL, &new)))
        return rc;
    if (!old && !new)
        return j->host->reject(j->req, CM_EINVAL, "%s has neither old nor new", where);
    if (old) {
        snprintf(side, sizeof(side), "%s.old", where);
        if ((rc = bbc_read_side(j, old, side, &otype, &oname, &out->old_id)) != CM_OK)
            return rc;
    }
    if (new) {
        snprintf(side, sizeof(side), "%s.new", where);
        if ((rc = bbc_read_side(j, new, side, &ntype, &nname, &out->new_id)) != CM_OK)
            return rc;
    }
    out->type = new ? ntype : otype;
    out->name = new ? nname : oname;
    return cmp_json_bool(j, c, where, "forced", &out->forced);
}

/* Cloud names refs by short name and type; git-style full names keep kind detection in one
 * place (the core). Mercurial-era types (named_branch, bookmark) stay bare and become "other". */
static int bbc_add_change(const struct cmp_json *j, struct cm_event *ev, const struct bbc_change *c,
                          size_t i)
{
    const char *prefix = "";
    char *ref;
    size_t n;
    int rc;

    if (!strcmp(c->type, "branch"))
        prefix = "refs/heads/";
    else if (!strcmp(c->type, "tag"))
        prefix = "refs/tags/";
    n = strlen(prefix) + strlen(c->name) + 1;
    if (!(ref = malloc(n)))
        return CM_ENOMEM;
    snprintf(ref, n, "%s%s", prefix, c->name);
    rc = j->host->event_add_change(ev, ref, c->old_id, c->new_id, c->forced);
    free(ref);
    if (rc == CM_EINVAL)
        return j->host->reject(j->req, CM_EINVAL, "push.changes[%zu] is not a valid ref change", i);
    return rc;
}

/* Change i of push.changes: only checked when ev is NULL, else also added to ev. */
static int bbc_change(const struct cmp_json *j, json_t *c, const char *where, size_t i, void *ev)
{
    struct bbc_change change;
    int rc = bbc_read_change(j, c, where, &change);

    if (rc != CM_OK || !ev)
        return rc;
    return bbc_add_change(j, ev, &change, i);
}

struct bbc_fields {
    struct cmp_fields ev; /* the clone URLs and delivery id are set by bbc_emit */
    json_t *changes;
};

static int bbc_read_repository(const struct cmp_json *j, json_t *root, struct bbc_fields *f)
{
    const char *full_name;
    json_t *repo, *links, *html;
    int rc;

    if ((rc = cmp_json_object(j, root, "", "repository", CMP_PRESENT, &repo)) ||
        (rc = cmp_json_string(j, repo, "repository", "full_name", CMP_PRESENT, &full_name)))
        return rc;
    if ((rc = cmp_check_repository(j, "repository.full_name", full_name, &bbc_name_rule)))
        return rc;
    f->ev.repository = full_name;
    if ((rc = cmp_json_string(j, repo, "repository", "uuid", CMP_OPTIONAL, &f->ev.repository_id)) ||
        (rc = cmp_json_object(j, repo, "repository", "links", CMP_OPTIONAL, &links)) ||
        (rc = cmp_json_object(j, links, "repository.links", "html", CMP_OPTIONAL, &html)))
        return rc;
    return cmp_json_string(j, html, "repository.links.html", "href", CMP_OPTIONAL, &f->ev.html_url);
}

/* The payload fields, type-checked; nothing is recorded until all of them are valid. */
static int bbc_read(const struct cmp_json *j, json_t *root, struct bbc_fields *f)
{
    const char *nickname, *username, *display;
    json_t *actor, *push;
    int rc;

    if ((rc = bbc_read_repository(j, root, f)) ||
        (rc = cmp_json_object(j, root, "", "actor", CMP_OPTIONAL, &actor)) ||
        (rc = cmp_json_string(j, actor, "actor", "nickname", CMP_OPTIONAL, &nickname)) ||
        (rc = cmp_json_string(j, actor, "actor", "username", CMP_OPTIONAL, &username)) ||
        (rc = cmp_json_string(j, actor, "actor", "display_name", CMP_OPTIONAL, &display)))
        return rc;
    /* username disappeared from Cloud payloads in 2019; older deliveries have no nickname. */
    f->ev.actor = nickname && *nickname ? nickname : username && *username ? username : display;
    if ((rc = cmp_json_object(j, root, "", "push", CMP_OPTIONAL, &push)) != CM_OK)
        return rc;
    if (!push)
        return j->host->reject(j->req, CM_EINVAL, "push is missing: a repo:push delivery has one");
    f->changes = json_object_get(push, "changes");
    if (!json_is_array(f->changes))
        return j->host->reject(j->req, CM_EINVAL, "push.changes is missing or not an array");
    return CM_OK;
}

static int bbc_emit(struct bbc_self *self, const struct cmp_json *j, json_t *root)
{
    /* "git@", the base, ':' or '/', a full name of two segments, ".git": never cut. */
    char http[BBC_URL_MAX + 2 * CMP_SEGMENT_MAX + 16], ssh[BBC_URL_MAX + 2 * CMP_SEGMENT_MAX + 16];
    struct bbc_fields f = {0};
    int rc;

    if ((rc = bbc_read(j, root, &f)) != CM_OK)
        return rc;
    /* Cloud payloads carry no clone links: they follow from full_name and the endpoint's url. */
    snprintf(http, sizeof(http), "%s/%s.git", self->http_base, f.ev.repository);
    snprintf(ssh, sizeof(ssh), "git@%s:%s.git", self->ssh_host, f.ev.repository);
    f.ev.clone_http = http;
    f.ev.clone_ssh = ssh;
    f.ev.delivery_id = self->base.host->header(j->req, "X-Request-UUID");
    /* Bitbucket sometimes reports a push without listing its refs: the sync rescans. */
    return cmp_event_from_changes(j, f.changes, "push.changes", bbc_change, &f.ev, 0);
}

static const struct cmp_load bbc_load = {
    .flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
    .no_payload = "the body has no JSON payload: set the webhook's content type to "
                  "application/json",
    .not_object = "the body is not a JSON object",
};

static int bbc_translate(void *p, struct cm_request *req)
{
    struct bbc_self *self = p;
    const struct cm_host *host = self->base.host;
    const struct cmp_json j = {host, req, ""};
    const char *key = host->header(req, "X-Event-Key");
    json_t *root = NULL;
    int rc;

    if (key && bbc_is_dc_key(key))
        return host->reject(req, CM_EINVAL,
                            "X-Event-Key \"%.40s\" is a Bitbucket Data Center event: point this "
                            "webhook at a bitbucket-datacenter endpoint",
                            key);
    if (key && strcmp(key, "repo:push") != 0)
        return host->reject(req, CM_EIGNORE, "event %.64s is not a repo:push", key);
    if ((rc = cmp_json_load(&j, &bbc_load, &root)) != CM_OK)
        goto out;
    if (json_object_get(root, "eventKey")) {
        rc = host->reject(req, CM_EINVAL,
                          "the body has an eventKey, so it is a Bitbucket Data Center payload: "
                          "point this webhook at a bitbucket-datacenter endpoint");
        goto out;
    }
    /* Without the header (e.g. `cargoman parse`), only a push body says what it is. */
    if (!key && !json_object_get(root, "push")) {
        rc = host->reject(req, CM_EINVAL,
                          "missing X-Event-Key header and the body has no push object: this "
                          "endpoint takes Bitbucket Cloud repo:push webhooks");
        goto out;
    }
    rc = bbc_emit(self, &j, root);
out:
    json_decref(root);
    return rc;
}

/* A body with push.changes[] and no eventKey. */
static int bbc_body_looks_like(const json_t *root)
{
    json_t *push = json_object_get(root, "push");

    return !json_object_get(root, "eventKey") && json_is_object(push) &&
           json_is_array(json_object_get(push, "changes"));
}

/* Cloud-only headers, Cloud event keys, or a Cloud push body. */
static int bbc_sniff(const struct cm_host *host, const struct cm_request *req)
{
    static const char *const cloud_headers[] = {"X-Hook-UUID", "X-Request-UUID", "X-Attempt-Number",
                                                NULL};
    const char *key = host->header(req, "X-Event-Key");

    if (key && cmp_has_any_header(host, req, cloud_headers))
        return 1;
    if (key && (!strcmp(key, "repo:push") || !strncmp(key, "pullrequest:", 12)))
        return 1;
    return cmp_sniff_body(host, req, bbc_body_looks_like);
}

/* What Bitbucket Cloud sends: X-Hub-Signature with an HMAC-SHA256. */
static int bbc_sign(const struct cm_host *host, struct cm_request *req, const char *secret,
                    const char *id, long long timestamp, cm_header_cb emit, void *arg)
{
    (void)id;
    (void)timestamp;
    return cmp_sign_hub(host, req, "X-Hub-Signature", "sha256", secret, emit, arg);
}

/* Bitbucket Cloud serves clones at https://bitbucket.org/<workspace>/<slug>.git. */
static const char bbc_clone_path[] = "{repository}.git";

CMP_PROVIDER(bbc, free, "bitbucket-cloud", "1.0.0",
             "Bitbucket Cloud repo:push webhooks (X-Hub-Signature sha256)", 0, BBC_DEFAULT_URL);
