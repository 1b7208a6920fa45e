/* SPDX-License-Identifier: MIT */
/*
 * Turning a configuration into running plugin instances: load what it names, create each
 * instance with its own context, and undo everything if one of them refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/log.h"
#include "plugin/gateway.h"
#include "plugin/loader.h"
#include "plugin/route.h"

static int add_provider(struct cm_gateway *gw, const struct cm_provider *p)
{
    for (size_t i = 0; i < gw->n_providers; i++)
        if (gw->providers[i] == p)
            return CM_OK;
    const struct cm_provider **n = realloc(gw->providers, (gw->n_providers + 1) * sizeof(*n));
    if (!n)
        return CM_ENOMEM;
    gw->providers = n;
    gw->providers[gw->n_providers++] = p;
    return CM_OK;
}

static int open_endpoints(struct cm_gateway *gw, const char *plugin_dir, char *err, size_t errlen)
{
    const struct cm_config *cfg = gw->config;
    char why[512];
    int rc;

    gw->endpoints = calloc(cfg->n_endpoints ? cfg->n_endpoints : 1, sizeof(*gw->endpoints));
    if (!gw->endpoints)
        return CM_ENOMEM;
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        const struct cm_endpoint_conf *ec = &cfg->endpoints[i];
        struct cm_endpoint *ep = &gw->endpoints[i];
        const void *d;
        if ((rc = cm_loader_load(plugin_dir, CM_KIND_PROVIDER, ec->provider, &d, why,
                                 sizeof(why))) != CM_OK) {
            snprintf(err, errlen,
                     "%s:%d: endpoint \"%s\": unknown or unusable provider \"%s\" (%s)", ec->file,
                     ec->line, ec->name, ec->provider, why);
            return rc;
        }
        snprintf(why, sizeof(why), "endpoint \"%s\" (provider %s)", ec->name, ec->provider);
        if ((rc = cm_section_check_keys(ec->section, cm_config_endpoint_keys,
                                        cm_provider_config_keys(d), why, err, errlen)) != CM_OK)
            return rc;
        ep->conf = ec;
        ep->provider = d;
        ep->url = ec->url ? ec->url : cm_provider_default_url(ep->provider);
        cm_ctx_init(&ep->ctx, ec->provider, ec->name, ec->section, ec->secrets, ec->n_secrets,
                    cfg->data_dir);
        gw->n_endpoints = i + 1;
        if ((rc = ep->provider->create(&cm_host_services, &ep->ctx, &ep->self)) != CM_OK) {
            snprintf(err, errlen,
                     "%s:%d: endpoint \"%s\": provider %s refused its settings "
                     "(see the line above)",
                     ec->file, ec->line, ec->name, ec->provider);
            return rc < 0 ? rc : CM_EINVAL;
        }
        if ((rc = add_provider(gw, ep->provider)) != CM_OK)
            return rc;
    }
    return CM_OK;
}

static int open_syncs(struct cm_gateway *gw, const char *plugin_dir, char *err, size_t errlen)
{
    const struct cm_config *cfg = gw->config;
    char why[512];
    int rc;

    gw->syncs = calloc(cfg->n_syncs ? cfg->n_syncs : 1, sizeof(*gw->syncs));
    if (!gw->syncs)
        return CM_ENOMEM;
    for (size_t i = 0; i < cfg->n_syncs; i++) {
        const struct cm_sync_conf *sc = &cfg->syncs[i];
        struct cm_sync *s = &gw->syncs[i];
        const void *d;
        if ((rc = cm_loader_load(plugin_dir, CM_KIND_SYNC, sc->plugin, &d, why, sizeof(why))) !=
            CM_OK) {
            snprintf(err, errlen, "%s:%d: sync: unknown or unusable plugin \"%s\" (%s)", sc->file,
                     sc->line, sc->plugin, why);
            return rc;
        }
        snprintf(why, sizeof(why), "sync plugin %s", sc->plugin);
        if ((rc = cm_section_check_keys(sc->section, cm_config_sync_keys, cm_sync_config_keys(d),
                                        why, err, errlen)) != CM_OK)
            return rc;
        s->conf = sc;
        s->plugin = d;
        cm_ctx_init(&s->ctx, sc->plugin, sc->name, sc->section, NULL, 0, cfg->data_dir);
        gw->n_syncs = i + 1;
        if ((rc = s->plugin->create(&cm_host_services, &s->ctx, &s->self)) != CM_OK) {
            snprintf(err, errlen,
                     "%s:%d: sync plugin %s refused its settings (see the line "
                     "above)",
                     sc->file, sc->line, sc->plugin);
            return rc < 0 ? rc : CM_EINVAL;
        }
    }
    return CM_OK;
}

int cm_gateway_open(struct cm_gateway **out, struct cm_config *cfg, const char *plugin_dir,
                    char *err, size_t errlen)
{
    struct cm_gateway *gw = calloc(1, sizeof(*gw));
    int rc;
    if (!gw) {
        cm_config_free(cfg);
        return CM_ENOMEM;
    }
    gw->config = cfg;
    /* The configuration's server.plugin_path joins the command line's on every (re)load. */
    char path[CM_PLUGIN_PATH_LEN];
    if ((rc = cm_loader_search_path(path, sizeof(path), plugin_dir, cfg->plugin_path,
                                    cfg->n_plugin_path, err, errlen)) != CM_OK ||
        (rc = open_endpoints(gw, path, err, errlen)) != CM_OK ||
        (rc = open_syncs(gw, path, err, errlen)) != CM_OK ||
        (rc = cm_route_check_gateway(gw, err, errlen)) != CM_OK) {
        cm_gateway_free(gw);
        return rc;
    }
    *out = gw;
    return CM_OK;
}

int cm_gateway_start(struct cm_gateway *gw, char *err, size_t errlen)
{
    int rc = CM_OK;

    for (size_t i = 0; i < gw->n_endpoints && rc == CM_OK; i++) {
        struct cm_endpoint *ep = &gw->endpoints[i];
        cm_start_fn start = cm_provider_start_hook(ep->provider);
        if (start && (rc = start(ep->self)) == CM_OK)
            ep->started = 1;
        else if (start)
            snprintf(err, errlen,
                     "%s:%d: endpoint \"%s\": provider %s could not start (see the "
                     "line above)",
                     ep->conf->file, ep->conf->line, ep->conf->name, ep->conf->provider);
    }
    for (size_t i = 0; i < gw->n_syncs && rc == CM_OK; i++) {
        struct cm_sync *s = &gw->syncs[i];
        cm_start_fn start = cm_sync_start_hook(s->plugin);
        if (start && (rc = start(s->self)) == CM_OK)
            s->started = 1;
        else if (start)
            snprintf(err, errlen, "%s:%d: sync plugin %s could not start (see the line above)",
                     s->conf->file, s->conf->line, s->conf->plugin);
    }
    if (rc != CM_OK)
        cm_gateway_stop(gw);
    return rc == CM_OK ? CM_OK : rc < 0 ? rc : CM_ERROR;
}

void cm_gateway_stop(struct cm_gateway *gw)
{
    for (size_t i = gw->n_syncs; i-- > 0;) {
        struct cm_sync *s = &gw->syncs[i];
        cm_stop_fn stop = cm_sync_stop_hook(s->plugin);
        if (s->started && stop)
            stop(s->self);
        s->started = 0;
    }
    for (size_t i = gw->n_endpoints; i-- > 0;) {
        struct cm_endpoint *ep = &gw->endpoints[i];
        cm_stop_fn stop = cm_provider_stop_hook(ep->provider);
        if (ep->started && stop)
            stop(ep->self);
        ep->started = 0;
    }
}

void cm_gateway_free(struct cm_gateway *gw)
{
    if (!gw)
        return;
    cm_gateway_stop(gw);
    for (size_t i = 0; i < gw->n_endpoints; i++) {
        struct cm_endpoint *ep = &gw->endpoints[i];
        if (ep->self)
            ep->provider->destroy(ep->self);
        cm_ctx_clear(&ep->ctx);
    }
    for (size_t i = 0; i < gw->n_syncs; i++) {
        struct cm_sync *s = &gw->syncs[i];
        if (s->self)
            s->plugin->destroy(s->self);
        cm_ctx_clear(&s->ctx);
    }
    free(gw->endpoints);
    free(gw->syncs);
    free(gw->providers);
    cm_config_free(gw->config);
    free(gw);
}

const struct cm_endpoint *cm_gateway_endpoint(const struct cm_gateway *gw, const char *name)
{
    for (size_t i = 0; i < gw->n_endpoints; i++)
        if (!strcmp(gw->endpoints[i].conf->name, name))
            return &gw->endpoints[i];
    return NULL;
}
