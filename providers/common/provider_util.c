/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the provider plugins (provider_util.h): the plugin's self, signature
 * headers, commit ids, header families and sniffing, the event's repository fields and its
 * ref changes, and the url setting.
 */
#include "provider_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest algorithm name cmp_bitbucket_signature takes for one, plus its NUL. */
#define CMP_ALGO_MAX 16

void *cmp_self_new(const struct cm_host *host, struct cm_ctx *ctx, size_t size)
{
    struct cmp_self *self = calloc(1, size);

    if (self) {
        self->host = host;
        self->ctx = ctx;
    }
    return self;
}

const char *cmp_sig_split(const char *value, size_t *algo_len)
{
    const char *eq = strchr(value, '=');

    *algo_len = eq ? (size_t)(eq - value) : 0;
    return eq ? eq + 1 : NULL;
}

int cmp_bitbucket_signature(const struct cm_host *host, struct cm_request *req, struct cm_ctx *ctx,
                            const char *sig, const char *sender, const char *algo_hint)
{
    const char *hex;
    const void *body;
    size_t alen, len;
    int rc;

    if (!host->conf_secret(ctx))
        return CM_OK;
    if (!sig)
        return host->reject(req, CM_EAUTH,
                            "missing X-Hub-Signature header: the endpoint has a secret; set the "
                            "same secret on the webhook in Bitbucket");
    hex = cmp_sig_split(sig, &alen);
    if (!hex || alen >= CMP_ALGO_MAX)
        return host->reject(req, CM_EAUTH,
                            "X-Hub-Signature is not of the form sha256=<hex>: check that the "
                            "webhook comes from %s",
                            sender);
    if (alen != strlen("sha256") || strncmp(sig, "sha256", alen) != 0)
        return host->reject(req, CM_EAUTH,
                            "X-Hub-Signature uses unsupported algorithm \"%.*s\": %s", (int)alen,
                            sig, algo_hint);
    body = host->body(req, &len);
    rc = host->secret_hmac_verify(ctx, "sha256", body, len, hex, CM_MAC_HEX);
    if (rc == CM_OK || rc == CM_ENOMEM || rc == CM_ERROR)
        return rc;
    return host->reject(req, CM_EAUTH,
                        "X-Hub-Signature does not match the body: set the same secret on the "
                        "webhook in Bitbucket as on this endpoint");
}

int cmp_sign_hub(const struct cm_host *host, struct cm_request *req, const char *name,
                 const char *algo, const char *secret, cm_header_cb emit, void *arg)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[64];
    char value[CMP_ALGO_MAX + 1 + 2 * sizeof(mac) + 1];
    size_t len = 0, n;
    const void *body = host->body(req, &len);
    int dlen = host->hmac(algo, secret, strlen(secret), body, len, mac);

    if (dlen < 0)
        return dlen;
    n = (size_t)snprintf(value, sizeof(value), "%.*s=", CMP_ALGO_MAX - 1, algo);
    for (int i = 0; i < dlen && n + 2 < sizeof(value); i++) {
        value[n++] = digits[mac[i] >> 4];
        value[n++] = digits[mac[i] & 15];
    }
    value[n] = '\0';
    return emit(arg, name, value);
}

int cmp_is_commit_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdefABCDEF");

    return s[n] == '\0' && (n == 40 || n == 64);
}

int cmp_has_any_header(const struct cm_host *host, const struct cm_request *req,
                       const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (host->header(req, names[i]))
            return 1;
    return 0;
}

int cmp_sniff_headers(const struct cm_host *host, const struct cm_request *req,
                      const char *const *vetoes, const char *own, const char *const *others)
{
    if (vetoes && cmp_has_any_header(host, req, vetoes))
        return 0;
    if (host->header(req, own))
        return 1;
    return cmp_has_any_header(host, req, others) ? 0 : -1;
}

int cmp_event_start(const struct cm_host *host, struct cm_request *req, const struct cmp_fields *f,
                    struct cm_event **out)
{
    const struct {
        enum cm_field field;
        const char *value;
    } fields[] = {
        {CM_FIELD_DELIVERY_ID, f->delivery_id},
        {CM_FIELD_REPOSITORY, f->repository},
        {CM_FIELD_REPOSITORY_ID, f->repository_id},
        {CM_FIELD_CLONE_URL_HTTP, f->clone_http},
        {CM_FIELD_CLONE_URL_SSH, f->clone_ssh},
        {CM_FIELD_HTML_URL, f->html_url},
        {CM_FIELD_ACTOR, f->actor},
    };
    int rc;

    if (!(*out = host->event_new(req)))
        return CM_ENOMEM;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (fields[i].value && (rc = host->event_set(*out, fields[i].field, fields[i].value)))
            return rc;
    return CM_OK;
}

int cmp_conf_url(const struct cm_host *host, struct cm_ctx *ctx, const char *example,
                 const char **out)
{
    int rc = host->conf_string(ctx, "url", out);

    if (rc == CM_OK)
        return CM_OK;
    *out = NULL;
    if (rc == CM_ENOENT)
        return CM_OK;
    host->log(ctx, CM_LOG_ERR, "url must be a string such as \"%s\"", example);
    return CM_EINVAL;
}

const char *cmp_http_authority(const char *url)
{
    if (!strncmp(url, "https://", 8))
        return url + 8;
    if (!strncmp(url, "http://", 7))
        return url + 7;
    return NULL;
}
