/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup */
#endif

/*
 * One sync entry, sync = ( { plugin = "..."; ... } ): the plugin's name, and the access policy
 * of the routes it serves (tokens, public), which the core applies. Every other key is the
 * plugin's, kept in the entry's section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "config/parse.h"

/* tokens: the "user:token" pairs that may read the entry's routes (HTTP basic or Bearer). */
static int cf_sync_tokens(struct cf_state *st, const config_setting_t *grp, struct cm_sync_conf *sy,
                          const char *ctx)
{
    const config_setting_t *m = config_setting_get_member(grp, "tokens");
    char what[200];
    int rc;

    if (!m)
        return CM_OK;
    snprintf(what, sizeof(what), "%s: tokens", ctx);
    rc = cf_string_list(st, m, what, &sy->tokens, &sy->n_tokens);
    for (size_t i = 0; rc == CM_OK && i < sy->n_tokens; i++) {
        const char *colon = strchr(sy->tokens[i], ':');
        if (!colon || colon == sy->tokens[i] || colon[1] == '\0')
            rc = cf_fail(st, m, "%s: entry %zu must be written \"user:token\"", what, i + 1);
    }
    return rc;
}

static int cf_sync_public(struct cf_state *st, const config_setting_t *grp, struct cm_sync_conf *sy,
                          const char *ctx)
{
    int rc = cm_section_bool(sy->section, "public", &sy->public_routes);

    if (rc == CM_ENOENT) {
        sy->public_routes = 0;
        return CM_OK;
    }
    if (rc != CM_OK)
        return cf_fail(st, config_setting_get_member(grp, "public"),
                       "%s: public must be true or false, without quotes", ctx);
    return CM_OK;
}

int cf_sync(struct cf_state *st, const config_setting_t *grp)
{
    struct cm_config *cfg = st->cfg;
    struct cm_sync_conf *sy;
    char ctx[160];
    int rc;

    if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
        return cf_fail(st, grp, "a sync entry must be a group: { plugin = \"exec\"; ... }");
    rc = cf_grow(st, (void **)&cfg->syncs, cfg->n_syncs, sizeof(*cfg->syncs));
    if (rc != CM_OK)
        return rc;
    sy = &cfg->syncs[cfg->n_syncs++];
    rc = cf_entry_start(st, grp, "sync", &sy->file, &sy->line, &sy->section);
    if (rc == CM_OK)
        rc = cf_entry_name(st, grp, sy->section, "sync", "plugin", "exec", &sy->plugin);
    if (rc != CM_OK)
        return rc;
    snprintf(ctx, sizeof(ctx), "sync \"%s\"", sy->plugin);
    rc = cf_sync_tokens(st, grp, sy, ctx);
    if (rc == CM_OK)
        rc = cf_sync_public(st, grp, sy, ctx);
    return rc;
}
