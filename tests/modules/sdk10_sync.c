/* SPDX-License-Identifier: MIT */
/*
 * A sync plugin built against the 1.0 SDK header in tests/sdk-1.0: it logs one line per
 * synced change with the commit the mirror now holds, so a test sees that a 1.0 plugin's
 * on_sync runs and reads the event and the mirror through today's host.
 */
#include <cargoman/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if CM_ABI_MINOR != 0
#error "build this module against tests/sdk-1.0, not the current SDK"
#endif

struct s10s {
    const struct cm_host *host;
    struct cm_ctx *ctx;
};

struct s10s_find {
    const char *ref;
    char id[64];
};

static int s10s_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct s10s *p = malloc(sizeof(*p));
    if (!p)
        return CM_ENOMEM;
    p->host = host;
    p->ctx = ctx;
    *self = p;
    return CM_OK;
}

static void s10s_destroy(void *self)
{
    free(self);
}

static int s10s_ref(void *arg, const char *ref, const char *commit_id)
{
    struct s10s_find *f = arg;
    if (strcmp(ref, f->ref) == 0) {
        snprintf(f->id, sizeof(f->id), "%s", commit_id);
    }
    return 0;
}

static int s10s_on_sync(void *self, const struct cm_event *ev, const struct cm_mirror *m)
{
    const struct s10s *p = self;
    const struct cm_host *h = p->host;
    for (size_t i = 0; i < h->event_change_count(ev); i++) {
        struct s10s_find f = {h->event_change_get(ev, i, CM_CHANGE_REF), ""};
        if (!f.ref)
            continue;
        h->mirror_refs(m, s10s_ref, &f);
        h->log(p->ctx, CM_LOG_INFO, "sdk10 synced %s %s at %s",
               h->mirror_get(m, CM_MIRROR_REPOSITORY), f.ref, f.id[0] ? f.id : "(none)");
    }
    return CM_OK;
}

CM_EXPORT const struct cm_sync_plugin cargoman_sync_plugin = {
    .abi_version = CM_ABI_VERSION,
    .name = "sdk10sync",
    .version = "1.0.0",
    .description = "a sync plugin built against SDK 1.0 (tests)",
    .create = s10s_create,
    .destroy = s10s_destroy,
    .on_sync = s10s_on_sync,
};
