/* SPDX-License-Identifier: MIT */
/*
 * The running configuration: endpoints with their provider instances and the sync plugins,
 * built from a cm_config by loading exactly the plugins it names. Replaced whole on SIGHUP.
 */
#ifndef CM_GATEWAY_H
#define CM_GATEWAY_H

#include <stddef.h>

#include "cargoman/plugin.h"
#include "config/config.h"
#include "plugin/host.h"

struct cm_endpoint {
    const struct cm_endpoint_conf *conf;
    const char *url; /* conf->url, else the provider's default_url (a public host); or NULL */
    const struct cm_provider *provider;
    void *self; /* the provider's */
    struct cm_ctx ctx;
    int started; /* its start hook succeeded: stop is owed before destroy */
};

struct cm_sync {
    const struct cm_sync_conf *conf;
    const struct cm_sync_plugin *plugin;
    void *self; /* the plugin's */
    struct cm_ctx ctx;
    int started; /* its start hook succeeded: stop is owed before destroy */
};

struct cm_gateway {
    struct cm_config *config; /* owned */
    struct cm_endpoint *endpoints;
    size_t n_endpoints;
    struct cm_sync *syncs;
    size_t n_syncs;
    const struct cm_provider **providers; /* distinct loaded providers, for sniffing */
    size_t n_providers;
    unsigned refs; /* users besides the daemon (cm_daemon_acquire), guarded by the daemon */
    struct cm_gateway *next_retired; /* the daemon's list of replaced gateways still in use */
};

/* Load the plugins cfg names along plugin_dir (the plugin path of -P and CARGOMAN_PLUGIN_PATH,
 * see plugin/loader.h; cfg's server.plugin_path and the built-in directory are added) and
 * create their instances. Takes cfg (freed
 * with the gateway, also on failure). On failure err names the config file and line. */
int cm_gateway_open(struct cm_gateway **out, struct cm_config *cfg, const char *plugin_dir,
                    char *err, size_t errlen);
/* Run the instances' start hooks (SDK 1.2), endpoints then sync entries, in order: only
 * under `serve`, on the main thread, before the gateway serves. On a refusal the ones
 * started are stopped again and err names the entry (its file and line). */
int cm_gateway_start(struct cm_gateway *gw, char *err, size_t errlen);
/* Stop what cm_gateway_start started, in reverse order; free does it too. Main thread. */
void cm_gateway_stop(struct cm_gateway *gw);
void cm_gateway_free(struct cm_gateway *gw);
const struct cm_endpoint *cm_gateway_endpoint(const struct cm_gateway *gw, const char *name);

#endif
