/* SPDX-License-Identifier: MIT */
/*
 * A provider built against the 1.0 SDK header kept in tests/sdk-1.0 (never against today's),
 * to prove a 1.0 module loads and works unchanged in this gateway. Its body is one signed
 * line, "REF OLD NEW OWNER/NAME"; X-Sdk10-Signature is the hex HMAC-SHA256 of the body.
 */
#include <cargoman/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if CM_ABI_MINOR != 0
#error "build this module against tests/sdk-1.0, not the current SDK"
#endif

struct s10 {
    const struct cm_host *host;
    struct cm_ctx *ctx;
};

static int s10_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct s10 *p = malloc(sizeof(*p));
    if (!p)
        return CM_ENOMEM;
    p->host = host;
    p->ctx = ctx;
    *self = p;
    return CM_OK;
}

static void s10_destroy(void *self)
{
    free(self);
}

static int s10_verify(void *self, struct cm_request *req)
{
    const struct s10 *p = self;
    const struct cm_host *h = p->host;
    const char *secret = h->conf_secret(p->ctx);
    const char *sig = h->header(req, "X-Sdk10-Signature");
    size_t len;
    const void *body = h->body(req, &len);
    if (!secret || !sig)
        return h->reject(req, CM_EAUTH, "no secret or no X-Sdk10-Signature header");
    if (h->hmac_verify("sha256", secret, body, len, sig) != CM_OK)
        return h->reject(req, CM_EAUTH, "X-Sdk10-Signature does not match");
    return CM_OK;
}

static int s10_translate(void *self, struct cm_request *req)
{
    const struct s10 *p = self;
    const struct cm_host *h = p->host;
    char ref[256], old_id[64], new_id[64], repo[256];
    size_t len;
    const char *body = h->payload(req, &len);
    struct cm_event *ev;

    if (!body || sscanf(body, "%255s %63s %63s %255s", ref, old_id, new_id, repo) != 4)
        return h->reject(req, CM_EINVAL, "want \"REF OLD NEW OWNER/NAME\"");
    if (!(ev = h->event_new(req)))
        return CM_ENOMEM;
    if (h->event_set(ev, CM_FIELD_REPOSITORY, repo) != CM_OK ||
        h->event_add_change(ev, ref, old_id, new_id, -1) != CM_OK)
        return h->reject(req, CM_EINVAL, "not a push");
    return CM_OK;
}

CM_EXPORT const struct cm_provider cargoman_provider = {
    .abi_version = CM_ABI_VERSION,
    .name = "sdk10",
    .version = "1.0.0",
    .description = "a provider built against SDK 1.0 (tests)",
    .create = s10_create,
    .destroy = s10_destroy,
    .verify = s10_verify,
    .translate = s10_translate,
};
