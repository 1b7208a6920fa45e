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
#include "plugin/route.h"

/* The paths sync entry s serves, for a message: "/a, /b/..."; "" when it serves none. */
static void ex_routes(const struct cm_sync *s, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (const struct cm_route *r = cm_route_list(s); r && r->path; r++) {
        int w = snprintf(buf + used, len - used, "%s%s%s", used ? ", " : "", r->path,
                         r->path[strlen(r->path) - 1] == '/' ? "..." : "");
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

/* Beyond loopback, routes a sync plugin serves must be closed by tokens or opened on purpose. */
static int ex_routes_check(const struct cm_gateway *gw, const char *listen, int exposed,
                           cm_exposure_fn fn, void *arg)
{
    char routes[512], msg[1024];
    int fatal = 0;

    for (size_t i = 0; exposed && i < gw->n_syncs; i++) {
        const struct cm_sync_conf *sc = gw->syncs[i].conf;
        ex_routes(&gw->syncs[i], routes, sizeof(routes));
        if (!*routes || sc->n_tokens || sc->public_routes)
            continue;
        snprintf(msg, sizeof(msg),
                 "sync plugin %s serves %s without tokens to anyone who reaches %s: set "
                 "tokens = [ \"user:token\" ] in its sync entry (%s:%d), or public = true there "
                 "if all it serves may be public",
                 sc->plugin, routes, listen, sc->file, sc->line);
        fn(arg, 1, msg);
        fatal++;
    }
    return fatal;
}

/* Where to set ec's secret, into out: the file that defined it, or, when a file set
 * secret = "" (a later refinement may empty the shipped one), that file and line. */
static void ex_secret_where(const struct cm_endpoint_conf *ec, char *out, size_t len)
{
    const char *key, *file;
    int line;

    snprintf(out, len, "%s", ec->file);
    for (size_t i = 0; cm_section_origin(ec->section, i, &key, &file, &line) == CM_OK; i++)
        if (!strcmp(key, "secret") && !strcmp(file, ec->file))
            snprintf(out, len, "%s:%d", file, line);
        else if (!strcmp(key, "secret"))
            snprintf(out, len, "%s (the secret set at %s:%d is empty)", file, file, line);
}

int cm_exposure_check(const struct cm_gateway *gw, const char *listen, cm_exposure_fn fn, void *arg)
{
    int exposed = !cm_config_listen_is_loopback(listen), fatal = 0;
    char msg[1024];

    for (size_t i = 0; i < gw->n_endpoints; i++) {
        const struct cm_endpoint_conf *ec = gw->endpoints[i].conf;
        char where[600];
        if (!ec->secret)
            ex_secret_where(ec, where, sizeof(where));
        if (!ec->secret && exposed && !ec->allow_unsigned) {
            snprintf(msg, sizeof(msg),
                     "endpoint \"%s\" has no secret and the gateway listens on %s, beyond "
                     "loopback: anyone who reaches it could publish packages. Set secret or "
                     "secret_file in %s, or allow_unsigned = true if a proxy in front checks "
                     "the senders",
                     ec->name, listen, where);
            fn(arg, 1, msg);
            fatal++;
        } else if (!ec->secret) {
            snprintf(msg, sizeof(msg),
                     "endpoint \"%s\" has no secret: unsigned deliveries are accepted%s; set "
                     "secret in %s",
                     ec->name, ec->allow_unsigned ? " (allow_unsigned = true)" : "", where);
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
    fatal += ex_routes_check(gw, listen, exposed, fn, arg);
    return fatal;
}
