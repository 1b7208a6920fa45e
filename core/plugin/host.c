/* SPDX-License-Identifier: MIT */
/*
 * The services table plugins get (struct cm_host): thin adapters from the SDK's opaque types
 * onto the core's modules, so a plugin never links against the daemon.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/event.h"
#include "intake/payload_path.h"
#include "intake/request.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "plugin/route.h"
#include "sync/mirror.h"
#include "util/crypto.h"
#include "util/fsutil.h"
#include "util/hex.h"

static _Atomic long long fixed_clock;

void cm_host_set_clock(long long fixed)
{
    fixed_clock = fixed;
}

long long cm_host_now(void)
{
    long long f = fixed_clock;
    return f ? f : (long long)time(NULL);
}

void cm_ctx_init(struct cm_ctx *ctx, const char *plugin, const char *instance,
                 const struct cm_section *section, char *const *secrets, size_t n_secrets,
                 const char *data_dir)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->plugin = plugin;
    ctx->instance = instance;
    ctx->section = section;
    ctx->secrets = secrets;
    ctx->n_secrets = secrets ? n_secrets : 0;
    ctx->data_dir = data_dir;
    pthread_mutex_init(&ctx->lock, NULL);
}

void cm_ctx_clear(struct cm_ctx *ctx)
{
    free(ctx->state_dir);
    ctx->state_dir = NULL;
    pthread_mutex_destroy(&ctx->lock);
}

static void h_log(struct cm_ctx *ctx, int level, const char *fmt, ...)
{
    char source[160];
    va_list ap;
    if (ctx && ctx->instance && strcmp(ctx->instance, ctx->plugin))
        snprintf(source, sizeof(source), "%s/%s", ctx->plugin, ctx->instance);
    else
        snprintf(source, sizeof(source), "%s", ctx && ctx->plugin ? ctx->plugin : "plugin");
    va_start(ap, fmt);
    cm_logv(level, source, fmt, ap);
    va_end(ap);
}

static int h_conf_string(struct cm_ctx *ctx, const char *key, const char **out)
{
    return ctx->section ? cm_section_string(ctx->section, key, out) : CM_ENOENT;
}

static int h_conf_int(struct cm_ctx *ctx, const char *key, long long *out)
{
    return ctx->section ? cm_section_int(ctx->section, key, out) : CM_ENOENT;
}

static int h_conf_bool(struct cm_ctx *ctx, const char *key, int *out)
{
    return ctx->section ? cm_section_bool(ctx->section, key, out) : CM_ENOENT;
}

static int h_conf_list(struct cm_ctx *ctx, const char *key, size_t index, const char **out)
{
    return ctx->section ? cm_section_list(ctx->section, key, index, out) : CM_ENOENT;
}

static const char *h_conf_secret(struct cm_ctx *ctx)
{
    return ctx->n_secrets ? ctx->secrets[0] : NULL;
}

static const char *h_secret_at(struct cm_ctx *ctx, size_t index)
{
    return index < ctx->n_secrets ? ctx->secrets[index] : NULL;
}

static const void *h_body(const struct cm_request *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body;
}

/* Each secret is compared, not up to the first match, so the time does not tell which one
 * matched: secret_equals and secret_hmac_verify alike. */
static int h_secret_equals(struct cm_ctx *ctx, const char *presented)
{
    int match = 0;

    for (size_t i = 0; i < ctx->n_secrets; i++)
        match |= cm_crypto_str_equal(ctx->secrets[i], presented);
    return match ? CM_OK : CM_EAUTH;
}

/* mac as encoded (CM_MAC_HEX or CM_MAC_BASE64) into out (H_MAC_BUF bytes): its length, or
 * CM_EAUTH when it is not the encoding of at most H_MAC_MAX bytes. */
#define H_MAC_MAX 64                          /* the longest digest, SHA-512's */
#define H_MAC_B64 (4 * ((H_MAC_MAX + 2) / 3)) /* its base64 length with padding */
#define H_MAC_BUF (3 * (H_MAC_B64 / 4) + 3)
static int h_mac_decode(const char *mac, int encoding, unsigned char *out)
{
    size_t n = mac ? strlen(mac) : 0;
    long got;

    if (encoding == CM_MAC_HEX) {
        if (n == 0 || n % 2 || n / 2 > H_MAC_MAX || cm_hex_decode(mac, n / 2, out) != CM_OK)
            return CM_EAUTH;
        return (int)(n / 2);
    }
    if (n == 0 || n > H_MAC_B64)
        return CM_EAUTH;
    got = cm_crypto_base64_decode(mac, n, out);
    return got > 0 && got <= H_MAC_MAX ? (int)got : CM_EAUTH;
}

static int h_secret_hmac_verify(struct cm_ctx *ctx, const char *algo, const void *msg, size_t len,
                                const char *mac, int encoding)
{
    unsigned char want[H_MAC_MAX], got[H_MAC_BUF];
    int glen, n, match = 0;

    if (encoding != CM_MAC_HEX && encoding != CM_MAC_BASE64)
        return CM_EINVAL;
    /* Without a secret the algo is still checked, so a typo in a provider shows at once. */
    n = cm_crypto_hmac(algo, "", 0, "", 0, want);
    if (n < 0)
        return n;
    glen = h_mac_decode(mac, encoding, got);
    for (size_t i = 0; i < ctx->n_secrets; i++) {
        n = cm_crypto_hmac(algo, ctx->secrets[i], strlen(ctx->secrets[i]), msg, len, want);
        if (n < 0)
            return n;
        /* The presented length is the sender's, no secret: a mismatch may end early. */
        match |= glen == n && cm_crypto_mem_equal(want, got, (size_t)n);
    }
    return match ? CM_OK : CM_EAUTH;
}

static int h_hmac_verify(const char *algo, const char *secret, const void *msg, size_t len,
                         const char *hex)
{
    return cm_crypto_hmac_verify(algo, secret, msg, len, hex);
}

static struct cm_event *h_event_new(struct cm_request *req)
{
    struct cm_event *ev;
    char when[32];
    if (cm_event_new(&ev) != CM_OK)
        return NULL;
    cm_format_time(req->received_at, when, sizeof(when));
    if (cm_event_set(ev, CM_FIELD_RECEIVED_AT, when) != CM_OK)
        goto fail;
    if (req->endpoint) {
        const struct cm_endpoint *ep = req->endpoint;
        if (cm_event_set(ev, CM_FIELD_PROVIDER, ep->conf->provider) != CM_OK ||
            cm_event_set(ev, CM_FIELD_ENDPOINT, ep->conf->name) != CM_OK)
            goto fail;
    }
    if (cm_request_add_event(req, ev) != CM_OK)
        goto fail;
    return ev;
fail:
    cm_event_free(ev);
    return NULL;
}

static void h_event_set_incomplete(struct cm_event *ev)
{
    ev->complete = 0;
    free(atomic_exchange(&ev->json, NULL));
}

static int h_event_complete(const struct cm_event *ev)
{
    return ev->complete;
}

static size_t h_event_change_count(const struct cm_event *ev)
{
    return ev->n_changes;
}

static int h_mirror_note(const struct cm_mirror *m, const char *ref, const char *message)
{
    return cm_mirror_note(m, ref, message);
}

void cm_ctx_state_path(const struct cm_ctx *ctx, char *buf, size_t len)
{
    /* The instance named like its plugin keeps the 1.0 path, data_dir/<plugin>: a gateway
     * upgraded from the per-name layout finds its data (the Composer index) where it was. */
    if (!ctx->instance || !strcmp(ctx->instance, ctx->plugin))
        snprintf(buf, len, "%s/%s", ctx->data_dir, ctx->plugin);
    else
        snprintf(buf, len, "%s/%s@%s", ctx->data_dir, ctx->plugin, ctx->instance);
}

static const char *h_state_dir(struct cm_ctx *ctx)
{
    char path[4096];
    const char *out = NULL;
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->state_dir && ctx->data_dir) {
        cm_ctx_state_path(ctx, path, sizeof(path));
        if (cm_fs_mkdir_p(path) == 0)
            ctx->state_dir = strdup(path);
    }
    out = ctx->state_dir;
    pthread_mutex_unlock(&ctx->lock);
    return out;
}

static int h_write_file(struct cm_ctx *ctx, const char *path, const void *data, size_t len)
{
    const char *dir;

    if (!cm_fs_path_is_inside(path))
        return CM_EINVAL;
    if (!(dir = h_state_dir(ctx)))
        return CM_ERROR;
    return cm_fs_write_under(dir, path, data, len, 0644) == 0 ? CM_OK : CM_ERROR;
}

static const struct cm_host_daemon *_Atomic host_daemon;

void cm_host_set_daemon(const struct cm_host_daemon *d)
{
    host_daemon = d;
}

int cm_host_shared_open(struct cm_ctx *ctx, const char *path, int *fd, void **body, size_t *len)
{
    const struct cm_host_daemon *d = host_daemon;
    return d && d->shared_open ? d->shared_open(d->arg, ctx, path, fd, body, len) : 1;
}

static int h_state_refresh(struct cm_ctx *ctx)
{
    const struct cm_host_daemon *d = host_daemon;
    return d && d->state_refresh ? d->state_refresh(d->arg, ctx) : CM_OK;
}

static int h_archive(struct cm_ctx *ctx, const char *endpoint, const char *repository,
                     const char *commit_id, const char *prefix, const char *dest)
{
    const struct cm_host_daemon *d = host_daemon;
    char path[4096];
    const char *dir;

    if (!endpoint || !*endpoint || !repository || !*repository || !commit_id ||
        !cm_hex_check(commit_id, 40, 64) || !dest || !cm_fs_path_is_inside(dest))
        return CM_EINVAL;
    if (!d || !d->archive)
        return CM_EAGAIN;
    if (!(dir = h_state_dir(ctx)) ||
        snprintf(path, sizeof(path), "%s/%s", dir, dest) >= (int)sizeof(path))
        return CM_EINVAL;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int made = cm_fs_mkdir_p(path);
    *slash = '/';
    if (made != 0)
        return CM_ERROR;
    return d->archive(d->arg, ctx, endpoint, repository, commit_id, prefix, path);
}

static int h_repository_followed(struct cm_ctx *ctx, const char *endpoint, const char *repository)
{
    const struct cm_host_daemon *d = host_daemon;

    (void)ctx;
    if (!endpoint || !*endpoint || !repository || !*repository)
        return CM_EINVAL;
    return d && d->repository_followed ? d->repository_followed(d->arg, endpoint, repository)
                                       : CM_EAGAIN;
}

const struct cm_host cm_host_services = {
    .abi_version = CM_ABI_VERSION,
    .log = h_log,
    .conf_string = h_conf_string,
    .conf_int = h_conf_int,
    .conf_bool = h_conf_bool,
    .conf_list = h_conf_list,
    .conf_secret = h_conf_secret,
    .header = cm_request_header,
    .body = h_body,
    .payload = cm_request_payload,
    .reject = cm_request_reject,
    .hmac_verify = h_hmac_verify,
    .hmac = cm_crypto_hmac,
    .secret_equals = h_secret_equals,
    .mem_equal = cm_crypto_mem_equal,
    .base64_decode = cm_crypto_base64_decode,
    .base64_encode = cm_crypto_base64_encode,
    .now = cm_host_now,
    .event_new = h_event_new,
    .event_set = cm_event_set,
    .event_add_change = cm_event_add_change,
    .event_set_incomplete = h_event_set_incomplete,
    .event_get = cm_event_get,
    .event_complete = h_event_complete,
    .event_change_count = h_event_change_count,
    .event_change_get = cm_event_change_get,
    .event_json = cm_event_json,
    .mirror_get = cm_mirror_get,
    .mirror_refs = cm_mirror_refs,
    .mirror_read = cm_mirror_read,
    .mirror_archive = cm_mirror_archive,
    .mirror_note = h_mirror_note,
    .state_dir = h_state_dir,
    .digest = cm_crypto_digest_hex,
    .digest_file = cm_crypto_digest_file_hex,
    .write_file = h_write_file,
    .http_method = cm_route_method,
    .http_path = cm_route_path,
    .http_query = cm_route_query,
    .http_header = cm_route_header,
    .http_respond = cm_route_respond,
    .http_respond_file = cm_route_respond_file,
    /* 1.2: the payload by path, for providers */
    .json_type = cm_payload_type,
    .json_string = cm_payload_string,
    .json_int_text = cm_payload_int_text,
    .json_error = cm_payload_error,
    /* 1.2: secret rotation */
    .secret_at = h_secret_at,
    .secret_hmac_verify = h_secret_hmac_verify,
    /* 1.3: state shared by a cluster, zips from any thread */
    .state_refresh = h_state_refresh,
    .archive = h_archive,
    /* 1.4: whether an owner is still followed */
    .repository_followed = h_repository_followed,
};
