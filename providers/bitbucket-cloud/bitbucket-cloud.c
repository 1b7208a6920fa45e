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

#define BBC_DEFAULT_URL "https://bitbucket.org"
/* Bitbucket limits workspace ids and slugs to 62 characters; this leaves ample room. */
#define BBC_NAME_MAX 255
#define BBC_URL_MAX 256

struct bbc_self {
    const struct cm_host *host;
    struct cm_ctx *ctx;
    char http_base[BBC_URL_MAX]; /* e.g. "https://bitbucket.org", no trailing slash */
    char ssh_host[BBC_URL_MAX];  /* e.g. "bitbucket.org" */
};

/* One ref change, validated before any event is made. Strings are borrowed from the JSON. */
struct bbc_change {
    const char *type, *name, *old_id, *new_id;
    int forced;
};

/* Data Center event keys: such a delivery was pointed at the wrong endpoint. */
static const char *const bbc_dc_keys[] = {"repo:refs_changed", "repo:modified", "repo:forked",
                                          "project:modified", "repo:secret_detected",
                                          "diagnostics:ping", NULL};
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
    const char *auth = NULL;
    size_t len = strlen(url), alen;

    if (!strncmp(url, "https://", 8))
        auth = url + 8;
    else if (!strncmp(url, "http://", 7))
        auth = url + 7;
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

static int bbc_create(const struct cm_host *host, struct cm_ctx *ctx, void **out)
{
    struct bbc_self *self;
    const char *url = NULL;
    int rc;

    *out = NULL;
    rc = host->conf_string(ctx, "url", &url);
    if (rc == CM_ENOENT || (rc == CM_OK && (!url || !*url)))
        url = BBC_DEFAULT_URL;
    else if (rc != CM_OK) {
        host->log(ctx, CM_LOG_ERR, "url must be a string such as \"%s\"", BBC_DEFAULT_URL);
        return CM_EINVAL;
    }
    if (!(self = calloc(1, sizeof(*self))))
        return CM_ENOMEM;
    self->host = host;
    self->ctx = ctx;
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

static void bbc_destroy(void *self)
{
    free(self);
}

static int bbc_verify(void *p, struct cm_request *req)
{
    struct bbc_self *self = p;
    const struct cm_host *host = self->host;
    const char *secret = host->conf_secret(self->ctx);
    const char *sig, *eq;
    const void *body;
    size_t len;
    char algo[16];
    int rc;

    if (!secret || !*secret)
        return CM_OK;
    sig = host->header(req, "X-Hub-Signature");
    if (!sig)
        return host->reject(req, CM_EAUTH,
                            "missing X-Hub-Signature header: the endpoint has a secret; set the "
                            "same secret on the webhook in Bitbucket");
    eq = strchr(sig, '=');
    if (!eq || (size_t)(eq - sig) >= sizeof(algo))
        return host->reject(req, CM_EAUTH,
                            "X-Hub-Signature is not of the form sha256=<hex>: check that the "
                            "webhook comes from Bitbucket Cloud");
    memcpy(algo, sig, (size_t)(eq - sig));
    algo[eq - sig] = '\0';
    if (strcmp(algo, "sha256") != 0)
        return host->reject(req, CM_EAUTH,
                            "X-Hub-Signature uses unsupported algorithm \"%.15s\": Bitbucket "
                            "Cloud signs with sha256",
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
static int bbc_opt_string(const struct cm_host *host, struct cm_request *req, json_t *obj,
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

static int bbc_opt_object(const struct cm_host *host, struct cm_request *req, json_t *obj,
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

static int bbc_is_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdefABCDEF");
    return s[n] == '\0' && (n == 40 || n == 64);
}

/* workspace/slug: two non-empty segments of printable characters, neither "." nor "..". */
static int bbc_valid_full_name(const char *s)
{
    const char *slash = strchr(s, '/');
    size_t n = strlen(s);

    if (!slash || strchr(slash + 1, '/') || n > BBC_NAME_MAX || slash == s || !slash[1])
        return 0;
    if (!strncmp(s, "./", 2) || !strncmp(s, "../", 3) || !strcmp(slash, "/.") ||
        !strcmp(slash, "/.."))
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("\\:?#@%\"'`", *s))
            return 0;
    return 1;
}

/* One side (old or new) of a change: its ref type and name, and the id it points at. */
static int bbc_read_side(const struct cm_host *host, struct cm_request *req, json_t *side,
                         const char *where, const char **type, const char **name,
                         const char **id)
{
    char path[96];
    json_t *target;
    int rc;

    snprintf(path, sizeof(path), "%s.type", where);
    if ((rc = bbc_opt_string(host, req, side, "type", path, type)) != CM_OK)
        return rc;
    snprintf(path, sizeof(path), "%s.name", where);
    if ((rc = bbc_opt_string(host, req, side, "name", path, name)) != CM_OK)
        return rc;
    if (!*type || !*name || !**name)
        return host->reject(req, CM_EINVAL, "%s needs a type and a name", where);
    snprintf(path, sizeof(path), "%s.target", where);
    if ((rc = bbc_opt_object(host, req, side, "target", path, &target)) != CM_OK)
        return rc;
    snprintf(path, sizeof(path), "%s.target.hash", where);
    if ((rc = bbc_opt_string(host, req, target, "hash", path, id)) != CM_OK)
        return rc;
    if (!*id || !bbc_is_id(*id))
        return host->reject(req, CM_EINVAL, "%s is missing or not a commit id", path);
    return CM_OK;
}

static int bbc_read_change(const struct cm_host *host, struct cm_request *req, json_t *c,
                           size_t i, struct bbc_change *out)
{
    char where[64], path[80];
    const char *otype = NULL, *oname = NULL, *ntype = NULL, *nname = NULL;
    json_t *old, *new, *forced;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(c))
        return host->reject(req, CM_EINVAL, "push.changes[%zu] is not an object", i);
    snprintf(path, sizeof(path), "push.changes[%zu].old", i);
    if ((rc = bbc_opt_object(host, req, c, "old", path, &old)) != CM_OK)
        return rc;
    snprintf(path, sizeof(path), "push.changes[%zu].new", i);
    if ((rc = bbc_opt_object(host, req, c, "new", path, &new)) != CM_OK)
        return rc;
    if (!old && !new)
        return host->reject(req, CM_EINVAL, "push.changes[%zu] has neither old nor new", i);
    if (old) {
        snprintf(where, sizeof(where), "push.changes[%zu].old", i);
        rc = bbc_read_side(host, req, old, where, &otype, &oname, &out->old_id);
        if (rc != CM_OK)
            return rc;
    }
    if (new) {
        snprintf(where, sizeof(where), "push.changes[%zu].new", i);
        rc = bbc_read_side(host, req, new, where, &ntype, &nname, &out->new_id);
        if (rc != CM_OK)
            return rc;
    }
    out->type = new ? ntype : otype;
    out->name = new ? nname : oname;
    forced = json_object_get(c, "forced");
    if (!forced || json_is_null(forced))
        out->forced = -1;
    else if (json_is_boolean(forced))
        out->forced = json_is_true(forced);
    else
        return host->reject(req, CM_EINVAL, "push.changes[%zu].forced is not a boolean", i);
    return CM_OK;
}

/* Cloud names refs by short name and type; git-style full names keep kind detection in one
 * place (the core). Mercurial-era types (named_branch, bookmark) stay bare and become "other". */
static int bbc_add_change(const struct cm_host *host, struct cm_request *req,
                          struct cm_event *ev, const struct bbc_change *c, size_t i)
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
    rc = host->event_add_change(ev, ref, c->old_id, c->new_id, c->forced);
    free(ref);
    if (rc == CM_EINVAL)
        return host->reject(req, CM_EINVAL, "push.changes[%zu] is not a valid ref change", i);
    return rc;
}

struct bbc_fields {
    const char *full_name, *uuid, *html_url, *actor;
    json_t *changes;
};

static int bbc_read_repository(const struct cm_host *host, struct cm_request *req, json_t *root,
                               struct bbc_fields *f)
{
    json_t *repo, *links, *html;
    int rc;

    if ((rc = bbc_opt_object(host, req, root, "repository", "repository", &repo)) != CM_OK)
        return rc;
    if (!repo)
        return host->reject(req, CM_EINVAL, "repository is missing");
    rc = bbc_opt_string(host, req, repo, "full_name", "repository.full_name", &f->full_name);
    if (rc != CM_OK)
        return rc;
    if (!f->full_name)
        return host->reject(req, CM_EINVAL, "repository.full_name is missing");
    if (!bbc_valid_full_name(f->full_name))
        return host->reject(req, CM_EINVAL,
                            "repository.full_name \"%.100s\" is not of the form workspace/slug",
                            f->full_name);
    if ((rc = bbc_opt_string(host, req, repo, "uuid", "repository.uuid", &f->uuid)) != CM_OK)
        return rc;
    if ((rc = bbc_opt_object(host, req, repo, "links", "repository.links", &links)) != CM_OK)
        return rc;
    rc = bbc_opt_object(host, req, links, "html", "repository.links.html", &html);
    if (rc != CM_OK)
        return rc;
    return bbc_opt_string(host, req, html, "href", "repository.links.html.href", &f->html_url);
}

/* The payload fields, type-checked; nothing is recorded until all of them are valid. */
static int bbc_read(const struct cm_host *host, struct cm_request *req, json_t *root,
                    struct bbc_fields *f)
{
    const char *nickname, *username, *display;
    json_t *actor, *push;
    int rc;

    if ((rc = bbc_read_repository(host, req, root, f)) != CM_OK)
        return rc;
    if ((rc = bbc_opt_object(host, req, root, "actor", "actor", &actor)) != CM_OK)
        return rc;
    if ((rc = bbc_opt_string(host, req, actor, "nickname", "actor.nickname", &nickname)) ||
        (rc = bbc_opt_string(host, req, actor, "username", "actor.username", &username)) ||
        (rc = bbc_opt_string(host, req, actor, "display_name", "actor.display_name", &display)))
        return rc;
    /* username disappeared from Cloud payloads in 2019; older deliveries have no nickname. */
    f->actor = nickname && *nickname ? nickname : username && *username ? username : display;
    if ((rc = bbc_opt_object(host, req, root, "push", "push", &push)) != CM_OK)
        return rc;
    if (!push)
        return host->reject(req, CM_EINVAL, "push is missing: a repo:push delivery has one");
    f->changes = json_object_get(push, "changes");
    if (!json_is_array(f->changes))
        return host->reject(req, CM_EINVAL, "push.changes is missing or not an array");
    return CM_OK;
}

static int bbc_set_fields(struct bbc_self *self, struct cm_request *req, struct cm_event *ev,
                          const struct bbc_fields *f)
{
    const struct cm_host *host = self->host;
    char http[2 * BBC_URL_MAX + 8], ssh[2 * BBC_URL_MAX + 8];
    int rc;

    snprintf(http, sizeof(http), "%s/%s.git", self->http_base, f->full_name);
    snprintf(ssh, sizeof(ssh), "git@%s:%s.git", self->ssh_host, f->full_name);
    if ((rc = host->event_set(ev, CM_FIELD_DELIVERY_ID, host->header(req, "X-Request-UUID"))) ||
        (rc = host->event_set(ev, CM_FIELD_REPOSITORY, f->full_name)) ||
        (rc = host->event_set(ev, CM_FIELD_REPOSITORY_ID, f->uuid)) ||
        (rc = host->event_set(ev, CM_FIELD_CLONE_URL_HTTP, http)) ||
        (rc = host->event_set(ev, CM_FIELD_CLONE_URL_SSH, ssh)) ||
        (rc = host->event_set(ev, CM_FIELD_HTML_URL, f->html_url)) ||
        (rc = host->event_set(ev, CM_FIELD_ACTOR, f->actor)))
        return rc;
    return CM_OK;
}

static int bbc_emit(struct bbc_self *self, struct cm_request *req, json_t *root)
{
    const struct cm_host *host = self->host;
    struct bbc_fields f = {0};
    struct bbc_change *changes = NULL;
    struct cm_event *ev;
    size_t n, i;
    int rc;

    if ((rc = bbc_read(host, req, root, &f)) != CM_OK)
        return rc;
    n = json_array_size(f.changes);
    if (n && !(changes = calloc(n, sizeof(*changes))))
        return CM_ENOMEM;
    for (i = 0; i < n; i++)
        if ((rc = bbc_read_change(host, req, json_array_get(f.changes, i), i, &changes[i])))
            goto out;
    if (!(ev = host->event_new(req))) {
        rc = CM_ENOMEM;
        goto out;
    }
    if ((rc = bbc_set_fields(self, req, ev, &f)) != CM_OK)
        goto out;
    /* Bitbucket sometimes reports a push without listing its refs: the sync rescans. */
    if (n == 0)
        host->event_set_incomplete(ev);
    for (i = 0; i < n; i++)
        if ((rc = bbc_add_change(host, req, ev, &changes[i], i)) != CM_OK)
            goto out;
out:
    free(changes);
    return rc;
}

static int bbc_parse(const struct cm_host *host, struct cm_request *req, json_t **out)
{
    json_error_t err;
    const char *text;
    size_t len;

    *out = NULL;
    text = host->payload(req, &len);
    if (!text)
        return host->reject(req, CM_EINVAL, "the body has no JSON payload: set the webhook's "
                                            "content type to application/json");
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!*out)
        return host->reject(req, CM_EINVAL, "the body is not valid JSON: %.80s (line %d)",
                            err.text, err.line);
    if (!json_is_object(*out))
        return host->reject(req, CM_EINVAL, "the body is not a JSON object");
    return CM_OK;
}

static int bbc_translate(void *p, struct cm_request *req)
{
    struct bbc_self *self = p;
    const struct cm_host *host = self->host;
    const char *key = host->header(req, "X-Event-Key");
    json_t *root = NULL;
    int rc;

    if (key && bbc_is_dc_key(key))
        return host->reject(req, CM_EINVAL,
                            "X-Event-Key \"%.40s\" is a Bitbucket Data Center event: point this "
                            "webhook at a bitbucket-datacenter endpoint",
                            key);
    if (key && strcmp(key, "repo:push") != 0)
        return CM_EIGNORE;
    if ((rc = bbc_parse(host, req, &root)) != CM_OK)
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
    rc = bbc_emit(self, req, root);
out:
    json_decref(root);
    return rc;
}

/* Cloud-only headers, Cloud event keys, or a body with push.changes[] and no eventKey. */
static int bbc_sniff(const struct cm_host *host, const struct cm_request *req)
{
    const char *key = host->header(req, "X-Event-Key");
    const char *text;
    json_t *root, *push;
    size_t len;
    int mine = 0;

    if (key && (host->header(req, "X-Hook-UUID") || host->header(req, "X-Request-UUID") ||
                host->header(req, "X-Attempt-Number")))
        return 1;
    if (key && (!strcmp(key, "repo:push") || !strncmp(key, "pullrequest:", 12)))
        return 1;
    if (!(text = host->payload(req, &len)))
        return 0;
    if (!(root = json_loadb(text, len, 0, NULL)))
        return 0;
    push = json_object_get(root, "push");
    if (json_is_object(root) && !json_object_get(root, "eventKey") && json_is_object(push) &&
        json_is_array(json_object_get(push, "changes")))
        mine = 1;
    json_decref(root);
    return mine;
}

CM_EXPORT const struct cm_provider cargoman_provider = {
    .abi_version = CM_ABI_VERSION,
    .name = "bitbucket-cloud",
    .version = "1.0.0",
    .description = "Bitbucket Cloud repo:push webhooks (X-Hub-Signature sha256)",
    .create = bbc_create,
    .destroy = bbc_destroy,
    .verify = bbc_verify,
    .translate = bbc_translate,
    .sniff = bbc_sniff,
};
