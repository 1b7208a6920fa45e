/* SPDX-License-Identifier: MIT */
/*
 * An example sync plugin, built the way a third party builds one: only <cargoman/plugin.h>,
 * found with `pkg-config cargoman-plugin`. It appends one line per synced ref to a file.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cargoman/plugin.h>

struct pl_self {
    const struct cm_host *host;
    struct cm_ctx *ctx;
    const char *path; /* borrowed from the configuration */
};

static int pl_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct pl_self *s;
    if (CM_ABI_VERSION_MAJOR(host->abi_version) != CM_ABI_MAJOR)
        return CM_EINVAL;
    if (!(s = calloc(1, sizeof(*s))))
        return CM_ENOMEM;
    s->host = host;
    s->ctx = ctx;
    if (host->conf_string(ctx, "file", &s->path) != CM_OK) {
        host->log(ctx, CM_LOG_ERR, "set file = \"/path/to/push.log\"; in the push-log entry");
        free(s);
        return CM_EINVAL;
    }
    *self = s;
    return CM_OK;
}

static void pl_destroy(void *self)
{
    free(self);
}

static int pl_on_sync(void *self, const struct cm_event *ev, const struct cm_mirror *m)
{
    struct pl_self *s = self;
    const struct cm_host *h = s->host;
    FILE *f = fopen(s->path, "a");
    (void)m;
    if (!f) {
        h->log(s->ctx, CM_LOG_WARNING, "cannot open %s", s->path);
        return CM_EAGAIN;
    }
    for (size_t i = 0; i < h->event_change_count(ev); i++) {
        const char *id = h->event_change_get(ev, i, CM_CHANGE_NEW);
        fprintf(f, "%s %s %s %s\n", h->event_get(ev, CM_FIELD_REPOSITORY),
                h->event_change_get(ev, i, CM_CHANGE_REF),
                h->event_change_get(ev, i, CM_CHANGE_ACTION), id ? id : "-");
    }
    return fclose(f) == 0 ? CM_OK : CM_EAGAIN;
}

/* The keys its sync entry may hold besides plugin: the host refuses any other (SDK 1.2). */
static const struct cm_conf_key pl_config_keys[] = {{"file", CM_CONF_STRING}, {NULL, 0}};

CM_EXPORT const struct cm_sync_plugin cargoman_sync_plugin = {
    .abi_version = CM_ABI_VERSION,
    .name = "push-log",
    .version = "1.0",
    .description = "example: appends a line per synced ref to a file",
    .create = pl_create,
    .destroy = pl_destroy,
    .on_sync = pl_on_sync,
    .config_keys = pl_config_keys,
};
