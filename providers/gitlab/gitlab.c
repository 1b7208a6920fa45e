/* SPDX-License-Identifier: MIT */
/*
 * GitLab provider: checks the Standard Webhooks signature when the endpoint has a
 * signing_token (or a list of them, while one is rotated), else the plain X-Gitlab-Token
 * against the endpoint's secrets, and turns Push Hook, Tag Push Hook and the
 * push-like System Hook deliveries into one common push event each.
 */
#include <cargoman/plugin.h>
#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_json.h"
#include "provider_util.h"

/* Ends every reason about a field of the payload. */
#define GL_NOT_PUSH ": not a GitLab push payload"

/* The reasons cmp_json_load refuses a payload with. */
static const struct cmp_load gl_load = {
    .no_payload = "the body has no JSON payload: GitLab sends application/json",
    .syntax_hint = ": send the webhook's own payload",
    .not_object = "the body is not a JSON object: not a GitLab payload",
};

#define GL_TOLERANCE 300 /* seconds a signed timestamp may be away from our clock */
#define GL_KEY_MAX 64    /* longest signing key, in bytes */
#define GL_B64_MAX 88    /* base64 length of GL_KEY_MAX bytes, also of a SHA-256 MAC */
#define GL_B64_BUF (3 * (GL_B64_MAX / 4) + 3)
#define GL_TOKENS_MAX 16 /* signing tokens at once: a rotation needs two */

/* One HMAC key decoded from a signing token. */
struct gl_key {
    unsigned char key[GL_B64_BUF];
    size_t len;
};

struct gl_self {
    struct cmp_self base;
    struct gl_key keys[GL_TOKENS_MAX]; /* from signing_token, in its order */
    size_t n_keys;                     /* 0: no signing_token, check X-Gitlab-Token instead */
};

/* What one push-like delivery says; strings are borrowed from the parsed payload. */
struct gl_push {
    struct cmp_fields ev; /* the delivery id is set by gl_event */
    char id_buf[32];      /* repository_id when the payload has it as a number */
};

/* A signing token as GitLab shows it: "whsec_" then the base64 of the key. */
static int gl_read_token(const struct cm_host *host, struct gl_key *k, const char *token)
{
    const char *b64;
    size_t n;
    long keylen;

    if (strncmp(token, "whsec_", 6) != 0)
        return CM_EINVAL;
    b64 = token + 6;
    n = strlen(b64);
    if (n == 0 || n > GL_B64_MAX)
        return CM_EINVAL;
    keylen = host->base64_decode(b64, n, k->key);
    if (keylen <= 0 || keylen > GL_KEY_MAX)
        return CM_EINVAL;
    k->len = (size_t)keylen;
    return CM_OK;
}

static void gl_destroy(void *self)
{
    volatile unsigned char *key;
    size_t i;

    if (self == NULL)
        return;
    key = (volatile unsigned char *)((struct gl_self *)self)->keys;
    /* The keys are credentials: do not leave them in freed memory. */
    for (i = 0; i < sizeof(((struct gl_self *)self)->keys); i++)
        key[i] = 0;
    free(self);
}

/* The endpoint keys besides the core's (SDK 1.2): a typo in one is a configuration error. */
static const struct cm_conf_key gl_config_keys[] = {{"signing_token", CM_CONF_LIST}, {NULL, 0}};

/* signing_token = "whsec_..." or [ "whsec_new", "whsec_old" ] into s->keys; an empty value
 * (signing_token = "${GITLAB_SIGNING_TOKEN:-}") is none. CM_OK, or CM_EINVAL after logging. */
static int gl_read_tokens(const struct cm_host *host, struct cm_ctx *ctx, struct gl_self *s)
{
    const char *token = NULL;
    int rc = host->conf_string(ctx, "signing_token", &token), list = rc == CM_EINVAL;
    size_t n = 0;

    if (list && (rc = host->conf_list(ctx, "signing_token", 0, &token)) == CM_ENOENT) {
        host->log(ctx, CM_LOG_ERR,
                  "signing_token is an empty list: give at least one "
                  "\"whsec_...\", or remove it");
        return CM_EINVAL;
    }
    for (; rc == CM_OK;
         rc = list ? host->conf_list(ctx, "signing_token", ++n, &token) : CM_ENOENT) {
        if (token[0] == '\0')
            continue;
        if (s->n_keys == GL_TOKENS_MAX) {
            host->log(ctx, CM_LOG_ERR,
                      "signing_token lists more than %d tokens: keep the new and the old one",
                      GL_TOKENS_MAX);
            return CM_EINVAL;
        }
        if (gl_read_token(host, &s->keys[s->n_keys], token) != CM_OK) {
            host->log(ctx, CM_LOG_ERR,
                      "signing_token is not of the form whsec_<base64 key>: copy "
                      "the signing token exactly as GitLab shows it on the webhook's page");
            return CM_EINVAL;
        }
        s->n_keys++;
    }
    if (rc == CM_ENOENT)
        return CM_OK;
    host->log(ctx, CM_LOG_ERR, "signing_token must be a string \"whsec_...\" or a list of them");
    return CM_EINVAL;
}

static int gl_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct gl_self *s = NULL;
    const char *url = NULL;
    int rc;

    /* The clone URLs come from the payload; url is only checked here so a typo fails early. */
    if ((rc = cmp_conf_url(host, ctx, "https://gitlab.com", &url)) != CM_OK)
        return rc;
    s = cmp_self_new(host, ctx, sizeof(*s));
    if (s == NULL)
        return CM_ENOMEM;
    if (gl_read_tokens(host, ctx, s) != CM_OK) {
        gl_destroy(s);
        return CM_EINVAL;
    }
    if (s->n_keys != 0 && host->conf_secret(ctx) != NULL)
        host->log(ctx, CM_LOG_INFO, "signing_token is set: X-Gitlab-Token is not checked");
    *self = s;
    return CM_OK;
}

/* Seconds since the epoch in text, digits only. */
static int gl_parse_time(const char *text, long long *out)
{
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return CM_EINVAL;
    errno = 0;
    *out = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return CM_EINVAL;
    return CM_OK;
}

/* Any space-separated "v1,<base64>" entry of sig equal to mac. */
static int gl_match(const struct cm_host *host, const char *sig, const unsigned char *mac,
                    size_t maclen)
{
    unsigned char got[GL_B64_BUF];
    const char *p = sig;
    int found = 0;

    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        long glen;

        /* Every entry is decoded and compared, so timing does not tell which one matched. */
        if (n > 3 && n - 3 <= GL_B64_MAX && strncmp(p, "v1,", 3) == 0) {
            glen = host->base64_decode(p + 3, n - 3, got);
            if (glen == (long)maclen && host->mem_equal(got, mac, maclen))
                found = 1;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    return found;
}

/* HMAC-SHA256(key, id "." ts "." raw body) into mac: the Standard Webhooks message, the same
 * for checking a delivery and for signing one. Its length, or a negative status. */
static int gl_mac(const struct cm_host *host, const struct cm_request *req,
                  const unsigned char *key, size_t keylen, const char *id, const char *ts,
                  unsigned char *mac)
{
    size_t len = 0, idlen = strlen(id), tslen = strlen(ts);
    const void *body = host->body(req, &len);
    char *msg = malloc(idlen + tslen + len + 2);
    int n;

    if (!msg)
        return CM_ENOMEM;
    memcpy(msg, id, idlen);
    msg[idlen] = '.';
    memcpy(msg + idlen + 1, ts, tslen);
    msg[idlen + 1 + tslen] = '.';
    if (len > 0)
        memcpy(msg + idlen + tslen + 2, body, len);
    n = host->hmac("sha256", key, keylen, msg, idlen + tslen + len + 2, mac);
    free(msg);
    return n;
}

/* Standard Webhooks: HMAC-SHA256(key, id "." timestamp "." raw body), base64. */
static int gl_verify_signed(struct gl_self *self, struct cm_request *req)
{
    const struct cm_host *host = self->base.host;
    const char *id, *ts, *sig;
    unsigned char mac[64];
    long long when, now;
    int n, found = 0;

    id = host->header(req, "webhook-id");
    ts = host->header(req, "webhook-timestamp");
    sig = host->header(req, "webhook-signature");
    /* An empty id would be signed, but would name no delivery to dedupe on. */
    if (id != NULL && id[0] == '\0')
        id = NULL;
    if (id == NULL || ts == NULL || sig == NULL)
        return host->reject(req, CM_EAUTH,
                            "missing %s header: the endpoint has a "
                            "signing_token; set the same signing token on the webhook in GitLab, "
                            "or remove signing_token from the endpoint",
                            id == NULL   ? "webhook-id"
                            : ts == NULL ? "webhook-timestamp"
                                         : "webhook-signature");
    if (gl_parse_time(ts, &when) != CM_OK)
        return host->reject(req, CM_EAUTH, "webhook-timestamp is not a number of seconds");
    now = host->now();
    if (when > now + GL_TOLERANCE || when < now - GL_TOLERANCE)
        return host->reject(req, CM_EAUTH,
                            "webhook-timestamp is more than %d seconds away "
                            "from the gateway's clock: check both clocks (NTP), or this is a "
                            "replayed delivery",
                            GL_TOLERANCE);
    /* Every key is tried, not up to the first match: timing does not tell which one matched. */
    for (size_t i = 0; i < self->n_keys; i++) {
        n = gl_mac(host, req, self->keys[i].key, self->keys[i].len, id, ts, mac);
        if (n < 0)
            return host->reject(req, n == CM_ENOMEM ? CM_ENOMEM : CM_ERROR,
                                "could not check webhook-signature");
        found |= gl_match(host, sig, mac, (size_t)n);
    }
    if (found)
        return CM_OK;
    return host->reject(req, CM_EAUTH,
                        "webhook-signature does not match: set the same signing token on the "
                        "webhook in GitLab as signing_token on the endpoint");
}

static int gl_verify(void *self_, struct cm_request *req)
{
    struct gl_self *self = self_;
    const struct cm_host *host = self->base.host;
    const char *token;

    if (self->n_keys != 0)
        return gl_verify_signed(self, req);
    if (host->conf_secret(self->base.ctx) == NULL)
        return CM_OK; /* unsigned endpoint: the core warned about it at start */
    token = host->header(req, "X-Gitlab-Token");
    if (token == NULL)
        return host->reject(req, CM_EAUTH,
                            "missing X-Gitlab-Token header: the endpoint has a "
                            "secret; set the same value as Secret token on the webhook in GitLab");
    if (host->secret_equals(self->base.ctx, token) != CM_OK)
        return host->reject(req, CM_EAUTH,
                            "X-Gitlab-Token does not match the endpoint's "
                            "secret: set the webhook's Secret token in GitLab to the same value");
    return CM_OK;
}

/* GitLab's project and group paths: no segment starts with '-' or '.' or ends in ".git" or
 * ".atom". A top-level group holds subgroups nested up to 20 levels (a group may have 20
 * ancestors), and the project is one more segment: 22 in all. */
#define GL_SEGMENTS_MAX 22
static const char *const gl_no_end[] = {".git", ".atom", NULL};
static const struct cmp_name_rule gl_name_rule = {
    .form = "a GitLab path_with_namespace",
    .min_segments = 2,
    .max_segments = GL_SEGMENTS_MAX,
    .first = {.what = "path segment", .extra = "._-", .no_start = "-.", .no_end = gl_no_end},
    .rest = {.what = "path segment", .extra = "._-", .no_start = "-.", .no_end = gl_no_end},
};

/* Where the event's repository fields are: name, clone URLs, web page, id. */
static const struct cmp_repo_keys gl_repo_keys = {
    "path_with_namespace", "git_http_url", "git_ssh_url", "web_url", "id", &gl_name_rule};

static int gl_read_common(const struct cmp_json *j, const json_t *root, struct gl_push *p)
{
    int rc;

    if ((rc = cmp_json_repository(j, root, "project", &gl_repo_keys, &p->ev, p->id_buf,
                                  sizeof(p->id_buf))))
        return rc;
    if (p->ev.repository_id == NULL && (rc = cmp_json_id(j, root, "", "project_id", p->id_buf,
                                                         sizeof(p->id_buf), &p->ev.repository_id)))
        return rc;
    /* Some tag pushes carry only the display name. */
    if ((rc = cmp_json_string(j, root, "", "user_username", CMP_OPTIONAL, &p->ev.actor)))
        return rc;
    if (p->ev.actor == NULL || p->ev.actor[0] == '\0')
        return cmp_json_string(j, root, "", "user_name", CMP_OPTIONAL, &p->ev.actor);
    return CM_OK;
}

static int gl_add_change(const struct cmp_json *j, struct cm_event *ev, const json_t *obj,
                         const char *parent)
{
    const char *ref, *before, *after;
    int rc;

    if ((rc = cmp_json_string(j, obj, parent, "ref", CMP_NONEMPTY, &ref)) ||
        (rc = cmp_json_string(j, obj, parent, "before", CMP_NONEMPTY, &before)) ||
        (rc = cmp_json_string(j, obj, parent, "after", CMP_NONEMPTY, &after)))
        return rc;
    /* GitLab never says whether a push was forced. */
    rc = j->host->event_add_change(ev, ref, before, after, -1);
    if (rc == CM_EINVAL)
        return j->host->reject(j->req, rc,
                               "%s%sbefore and after must be commit ids (hex, not both "
                               "zero)" GL_NOT_PUSH,
                               parent, parent[0] ? "." : "");
    return rc;
}

/*
 * The id the core dedupes on. A delivery verified by the signing token gives its webhook-id:
 * the signature covers it, while Idempotency-Key (the same value when GitLab sends it) is
 * outside the signature, so a replay with a new key would pass as a new delivery. Without a
 * signing token, Idempotency-Key is stable across retries; the others are fallbacks for older
 * GitLabs.
 */
static const char *gl_delivery(const struct gl_self *self, const struct cm_request *req)
{
    static const char *const names[] = {"Idempotency-Key", "X-Gitlab-Webhook-UUID",
                                        "X-Gitlab-Event-UUID", "webhook-id"};
    const struct cm_host *host = self->base.host;
    const char *v;
    size_t i;

    if (self->n_keys != 0)
        return host->header(req, "webhook-id"); /* gl_verify_signed required it */
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        v = host->header(req, names[i]);
        if (v != NULL && v[0] != '\0')
            return v;
    }
    return NULL;
}

/* A new event with the repository fields of p and delivery (NULL: none) set. */
static int gl_event(const struct cmp_json *j, struct gl_push *p, const char *delivery,
                    struct cm_event **out)
{
    int rc;

    p->ev.delivery_id = delivery;
    rc = cmp_event_start(j->host, j->req, &p->ev, out);
    if (rc == CM_EINVAL)
        return j->host->reject(
            j->req, rc, "a project field or the delivery id header is not UTF-8 text" GL_NOT_PUSH);
    return rc;
}

/* One event: the single ref of a push or tag push, or every entry of a repository_update. */
static int gl_emit(const struct cmp_json *j, const json_t *root, int multi, const char *delivery)
{
    const json_t *changes = NULL;
    struct cm_event *ev;
    struct gl_push p;
    char where[48];
    size_t i;
    int rc;

    memset(&p, 0, sizeof(p));
    if ((rc = gl_read_common(j, root, &p)))
        return rc;
    if (multi) {
        changes = json_object_get(root, "changes");
        if (!json_is_array(changes))
            return j->host->reject(j->req, CM_EINVAL,
                                   "changes is missing or not an array: not a "
                                   "GitLab repository_update payload");
    }
    if ((rc = gl_event(j, &p, delivery, &ev)))
        return rc;
    if (!multi)
        return gl_add_change(j, ev, root, "");
    /* The host said the repository changed; with no list, the sync looks at every ref. */
    if (json_array_size(changes) == 0)
        j->host->event_set_incomplete(ev);
    for (i = 0; i < json_array_size(changes); i++) {
        const json_t *c = json_array_get(changes, i);

        snprintf(where, sizeof(where), "changes[%zu]", i);
        if (!json_is_object(c))
            return j->host->reject(j->req, CM_EINVAL,
                                   "%s is not an object: not a GitLab repository_update payload",
                                   where);
        if ((rc = gl_add_change(j, ev, c, where)))
            return rc;
    }
    return CM_OK;
}

/* object_kind, else event_name: system-hook examples in GitLab's docs have no object_kind. */
static int gl_kind(const struct cmp_json *j, const json_t *root, const char **out)
{
    int rc = cmp_json_string(j, root, "", "object_kind", CMP_OPTIONAL, out);

    if (rc == CM_OK && *out == NULL)
        rc = cmp_json_string(j, root, "", "event_name", CMP_OPTIONAL, out);
    return rc;
}

/* What the header X-Gitlab-Event allows: a push body kind, or any for System Hook. */
static int gl_route(const struct cm_host *host, struct cm_request *req, const char *hook,
                    const char *kind)
{
    const char *want = NULL;

    if (hook != NULL && strcmp(hook, "Push Hook") == 0)
        want = "push";
    else if (hook != NULL && strcmp(hook, "Tag Push Hook") == 0)
        want = "tag_push";
    if (kind == NULL)
        return host->reject(req, CM_EINVAL,
                            "object_kind and event_name are missing: not a GitLab push payload");
    if (want != NULL && strcmp(kind, want) != 0)
        return host->reject(req, CM_EINVAL,
                            "X-Gitlab-Event is \"%s\" but object_kind is "
                            "\"%.32s\": the header and the body disagree",
                            hook, kind);
    if (strcmp(kind, "push") == 0 || strcmp(kind, "tag_push") == 0)
        return 0;
    if (strcmp(kind, "repository_update") == 0)
        return 1;
    /* project_create, user_create...: valid, not a push */
    return host->reject(req, CM_EIGNORE, "object_kind %.64s is not a push", kind);
}

static int gl_translate(void *self_, struct cm_request *req)
{
    struct gl_self *self = self_;
    const struct cm_host *host = self->base.host;
    const struct cmp_json j = {host, req, GL_NOT_PUSH};
    const char *hook, *kind = NULL;
    json_t *root = NULL;
    int rc;

    hook = host->header(req, "X-Gitlab-Event");
    if (hook != NULL && strcmp(hook, "Push Hook") != 0 && strcmp(hook, "Tag Push Hook") != 0 &&
        strcmp(hook, "System Hook") != 0)
        /* Merge Request Hook, Pipeline Hook...: valid, not a push */
        return host->reject(req, CM_EIGNORE, "event type %.64s is not a push", hook);
    if ((rc = cmp_json_load(&j, &gl_load, &root)) != CM_OK)
        goto out;
    if ((rc = gl_kind(&j, root, &kind)))
        goto out;
    rc = gl_route(host, req, hook, kind);
    if (rc < 0)
        goto out;
    rc = gl_emit(&j, root, rc, gl_delivery(self, req));
out:
    json_decref(root);
    return rc;
}

static int gl_is(const json_t *v, const char *a, const char *b, const char *c)
{
    const char *s = json_string_value(v);

    return s != NULL && (strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c && strcmp(s, c) == 0));
}

/* Body shape of a GitLab push (docs/provider-gitlab.md). */
static int gl_body_looks_like(const json_t *root)
{
    const json_t *project = json_object_get(root, "project");

    if (!gl_is(json_object_get(root, "object_kind"), "push", "tag_push", NULL) &&
        !gl_is(json_object_get(root, "event_name"), "push", "tag_push", "repository_update"))
        return 0;
    if (json_object_get(root, "created") != NULL || json_object_get(root, "deleted") != NULL ||
        json_object_get(root, "forced") != NULL || json_object_get(root, "pusher") != NULL)
        return 0;
    return json_is_string(json_object_get(project, "path_with_namespace")) ||
           json_object_get(root, "checkout_sha") != NULL ||
           json_object_get(root, "total_commits_count") != NULL ||
           json_object_get(root, "user_username") != NULL ||
           json_object_get(root, "user_name") != NULL;
}

/* GitLab's own event header, or a GitLab body when no other family's header is there. */
static int gl_sniff(const struct cm_host *host, const struct cm_request *req)
{
    static const char *const others[] = {"X-GitHub-Event", "X-Event-Key", "X-Gitea-Event",
                                         "X-Gogs-Event", NULL};

    return cmp_sniff(host, req, NULL, "X-Gitlab-Event", others, gl_body_looks_like);
}

/* Standard Webhooks headers for a whsec_ signing token: HMAC-SHA256(key, id.timestamp.body). */
static int gl_sign_signed(const struct cm_host *host, struct cm_request *req, const char *token,
                          const char *id, long long timestamp, cm_header_cb emit, void *arg)
{
    unsigned char mac[64], *key = NULL;
    char ts[32], sig[4 * (sizeof(mac) + 2) / 3 + 4];
    size_t b64len = strlen(token + 6);
    long klen;
    int n, rc = CM_ENOMEM;

    /* The key is as long as the user's token says: size it from the token, not a guess. */
    if (!(key = malloc(3 * (b64len / 4) + 3)))
        goto out;
    klen = host->base64_decode(token + 6, b64len, key);
    if (klen <= 0) {
        rc = host->reject(req, CM_EINVAL, "the signing token is not whsec_ followed by base64");
        goto out;
    }
    snprintf(ts, sizeof(ts), "%lld", timestamp);
    n = gl_mac(host, req, key, (size_t)klen, id, ts, mac);
    if (n < 0) {
        rc = n;
        goto out;
    }
    memcpy(sig, "v1,", 3);
    host->base64_encode(mac, (size_t)n, sig + 3);
    if (!(rc = emit(arg, "webhook-id", id)) && !(rc = emit(arg, "webhook-timestamp", ts)))
        rc = emit(arg, "webhook-signature", sig);
out:
    free(key);
    return rc;
}

/* What GitLab sends: the secret token as X-Gitlab-Token, or for a whsec_ signing token the
 * Standard Webhooks headers over id and timestamp. */
static int gl_sign(const struct cm_host *host, struct cm_request *req, const char *secret,
                   const char *id, long long timestamp, cm_header_cb emit, void *arg)
{
    if (strncmp(secret, "whsec_", 6) != 0)
        return emit(arg, "X-Gitlab-Token", secret);
    return gl_sign_signed(host, req, secret, id, timestamp, emit, arg);
}

/* GitLab serves clones at <url>/<path_with_namespace>.git. */
static const char gl_clone_path[] = "{repository}.git";

CMP_PROVIDER(gl, gl_destroy, "gitlab", "1.0.0",
             "GitLab push, tag push and system hooks (X-Gitlab-Token or signing token)", 0,
             "https://gitlab.com");
