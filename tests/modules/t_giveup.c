/* SPDX-License-Identifier: MIT */
/*
 * A sync plugin (SDK 1.2) that can never act on any event: on_sync answers CM_EINVAL, the
 * SDK's "give up, do not retry". tests/integration/sync_giveup.sh runs it in the daemon.
 */
#include <stdlib.h>

#include <cargoman/plugin.h>

struct tg_self {
    const struct cm_host *host;
    struct cm_ctx *ctx;
};

static int tg_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct tg_self *s = calloc(1, sizeof(*s));
    if (!s)
        return CM_ENOMEM;
    s->host = host;
    s->ctx = ctx;
    *self = s;
    return CM_OK;
}

static void tg_destroy(void *self)
{
    free(self);
}

static int tg_on_sync(void *self, const struct cm_event *ev, const struct cm_mirror *m)
{
    struct tg_self *s = self;
    (void)m;
    s->host->log(s->ctx, CM_LOG_ERR, "t_giveup: never for %s",
                 s->host->event_get(ev, CM_FIELD_REPOSITORY));
    return CM_EINVAL;
}

static const struct cm_conf_key tg_keys[] = {{NULL, 0}};

CM_EXPORT const struct cm_sync_plugin cargoman_sync_plugin = {
    .abi_version = CM_ABI_VERSION,
    .name = "t_giveup",
    .version = "0",
    .description = "test: gives up every event",
    .create = tg_create,
    .destroy = tg_destroy,
    .on_sync = tg_on_sync,
    .config_keys = tg_keys,
};
