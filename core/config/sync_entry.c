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

/* The instance name that keeps two entries of one plugin apart (their state_dir, their log
 * lines): `name`, or one made from the entry's place among the plugin's unnamed entries. */
static int cf_sync_name(struct cf_state *st, const config_setting_t *grp, struct cm_sync_conf *sy,
                        size_t index)
{
    const struct cm_config *cfg = st->cfg;
    char ctx[160], ordinal[32];
    size_t unnamed = 1;
    int rc;

    snprintf(ctx, sizeof(ctx), "sync entry %s", sy->plugin);
    if (config_setting_get_member(grp, "name")) {
        if ((rc = cf_entry_name(st, grp, sy->section, ctx, "name", "second", &sy->name)) != CM_OK)
            return rc;
    } else {
        for (size_t i = 0; i < index; i++)
            unnamed += !strcmp(cfg->syncs[i].plugin, sy->plugin) &&
                       !cm_section_find(cfg->syncs[i].section, "name");
        snprintf(ordinal, sizeof(ordinal), "%zu", unnamed);
        if ((rc = cf_strdup(st, unnamed == 1 ? sy->plugin : ordinal, &sy->name)) != CM_OK)
            return rc;
    }
    for (size_t i = 0; i < index; i++)
        if (!strcmp(cfg->syncs[i].plugin, sy->plugin) && !strcmp(cfg->syncs[i].name, sy->name))
            return cf_fail(st, grp,
                           "%s named \"%s\" is already defined at %s:%d: give one of them "
                           "another name = \"...\";",
                           ctx, sy->name, cfg->syncs[i].file, cfg->syncs[i].line);
    return CM_OK;
}

/* routes = false: the entry serves none of its plugin's routes here (a second Composer index
 * published for another server, say); they could not share one path. */
static int cf_sync_routes(struct cf_state *st, const config_setting_t *grp, struct cm_sync_conf *sy,
                          const char *ctx)
{
    int on = 1, rc = cm_section_bool(sy->section, "routes", &on);

    if (rc == CM_ENOENT)
        rc = CM_OK;
    else if (rc != CM_OK)
        return cf_fail(st, config_setting_get_member(grp, "routes"),
                       "%s: routes must be true or false, without quotes", ctx);
    sy->no_routes = !on;
    return rc;
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
    if (rc == CM_OK)
        rc = cf_sync_name(st, grp, sy, cfg->n_syncs - 1);
    if (rc != CM_OK)
        return rc;
    snprintf(ctx, sizeof(ctx), "sync \"%s\"", sy->plugin);
    rc = cf_sync_tokens(st, grp, sy, ctx);
    if (rc == CM_OK)
        rc = cf_sync_public(st, grp, sy, ctx);
    if (rc == CM_OK)
        rc = cf_sync_routes(st, grp, sy, ctx);
    return rc;
}
