/* SPDX-License-Identifier: MIT */
/*
 * The secure-by-default findings (exposure.h). An unsigned endpoint on loopback is a developer
 * set-up and only warned about; reachable from a network it lets anyone publish what
 * companies install, so it must be asked for by name.
 */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/exposure.h"
#include "plugin/gateway.h"

static int ex_serves_composer(const struct cm_gateway *gw)
{
    /* The core still owns composer.tokens and the repository's routes (DESIGN: until the
     * plugin registers them itself), so it knows the plugin by this one name. */
    for (size_t i = 0; i < gw->n_syncs; i++)
        if (!strcmp(gw->syncs[i].conf->plugin, "composer"))
            return 1;
    return 0;
}

int cm_exposure_check(const struct cm_gateway *gw, const char *listen, cm_exposure_fn fn, void *arg)
{
    const struct cm_config *cfg = gw->config;
    int exposed = !cm_config_listen_is_loopback(listen), fatal = 0;
    char msg[1024];

    for (size_t i = 0; i < gw->n_endpoints; i++) {
        const struct cm_endpoint_conf *ec = gw->endpoints[i].conf;
        if (!ec->secret && exposed && !ec->allow_unsigned) {
            snprintf(msg, sizeof(msg),
                     "endpoint \"%s\" has no secret and the gateway listens on %s, beyond "
                     "loopback: anyone who reaches it could publish packages. Set secret or "
                     "secret_file in %s, or allow_unsigned = true if a proxy in front checks "
                     "the senders",
                     ec->name, listen, ec->file);
            fn(arg, 1, msg);
            fatal++;
        } else if (!ec->secret) {
            snprintf(msg, sizeof(msg),
                     "endpoint \"%s\" has no secret: unsigned deliveries are accepted%s; set "
                     "secret in %s",
                     ec->name, ec->allow_unsigned ? " (allow_unsigned = true)" : "", ec->file);
            fn(arg, 0, msg);
        }
        if (!gw->endpoints[i].url && !ec->clone_url) {
            snprintf(msg, sizeof(msg),
                     "endpoint \"%s\" has no url: pushes are refused (400) until url or "
                     "clone_url is set in %s",
                     ec->name, ec->file);
            fn(arg, 0, msg);
        }
    }
    if (exposed && ex_serves_composer(gw) && !cfg->n_composer_tokens && !cfg->composer_public) {
        snprintf(msg, sizeof(msg),
                 "the Composer repository would be readable by anyone who reaches %s: set "
                 "composer.tokens = [ \"user:token\" ], or composer.public = true if every "
                 "package may be public",
                 listen);
        fn(arg, 1, msg);
        fatal++;
    }
    return fatal;
}
