/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup */
#endif

/*
 * One sync entry, sync = ( { plugin = "..."; ... } ): the plugin's name, and the access policy
 * of the routes it serves (tokens, public), which the core applies. Every other key is the
 * plugin's, kept in the entry's section. A later entry naming an earlier one (same plugin and
 * name) refines it key by key; enabled = false leaves it out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "config/parse.h"

/* tokens: the "user:token" pairs that may read the entry's routes (HTTP basic or Bearer). */
static int cf_sync_tokens(struct cf_state *st, struct cm_sync_conf *sy, const char *ctx)
{
    const struct cm_section_value *v = cm_section_find(sy->section, "tokens");
    size_t n;

    if (!v)
        return CM_OK;
    if (v->type != CM_SV_STRING && v->type != CM_SV_LIST)
        return cf_fail_key(st, sy->section, "tokens",
                           "%s: tokens must be a list of strings, e.g. [ \"a\", \"b\" ]", ctx);
    n = v->type == CM_SV_STRING ? 1 : v->n_list;
    if (!(sy->tokens = calloc(n + 1, sizeof(*sy->tokens))))
        return cf_oom(st);
    for (size_t i = 0; i < n; i++) {
        const char *text = v->type == CM_SV_STRING ? v->str : v->list[i];
        const char *colon = strchr(text, ':');
        if (!colon || colon == text || colon[1] == '\0')
            return cf_fail_key(st, sy->section, "tokens",
                               "%s: tokens: entry %zu must be written \"user:token\"", ctx, i + 1);
        if (cf_strdup(st, text, &sy->tokens[i]) != CM_OK)
            return CM_ENOMEM;
        sy->n_tokens++;
    }
    return CM_OK;
}

/* The instance name that keeps two entries of one plugin apart (their state_dir, their log
 * lines): `name`, or one made from the entry's place among the plugin's unnamed entries. *ref
 * is the earlier entry a named one refines, or NULL. */
static int cf_sync_name(struct cf_state *st, const char *plugin, const struct cm_section *sec,
                        char **name, struct cm_sync_conf **ref)
{
    struct cm_config *cfg = st->cfg;
    char ctx[160], ordinal[32];
    size_t unnamed = 1;
    int rc;

    *ref = NULL;
    snprintf(ctx, sizeof(ctx), "sync entry %s", plugin);
    if (cm_section_find(sec, "name")) {
        if ((rc = cf_entry_name(st, sec, ctx, "name", "second", name)) != CM_OK)
            return rc;
        for (size_t i = 0; i < cfg->n_syncs; i++)
            if (!strcmp(cfg->syncs[i].plugin, plugin) && !strcmp(cfg->syncs[i].name, *name))
                *ref = &cfg->syncs[i];
        return CM_OK;
    }
    for (size_t i = 0; i < cfg->n_syncs; i++)
        unnamed += !strcmp(cfg->syncs[i].plugin, plugin) &&
                   !cm_section_find(cfg->syncs[i].section, "name");
    snprintf(ordinal, sizeof(ordinal), "%zu", unnamed);
    if ((rc = cf_strdup(st, unnamed == 1 ? plugin : ordinal, name)) != CM_OK)
        return rc;
    /* An unnamed entry is always a new one: its made-up name may not be taken already. */
    for (size_t i = 0; i < cfg->n_syncs; i++)
        if (!strcmp(cfg->syncs[i].plugin, plugin) && !strcmp(cfg->syncs[i].name, *name))
            return cf_fail_key(st, NULL, "name",
                               "%s named \"%s\" is already defined at %s:%d: give one of them "
                               "another name = \"...\";",
                               ctx, *name, cfg->syncs[i].file, cfg->syncs[i].line);
    return CM_OK;
}

/* The names that say which entry a group is: a refinement keeps the first group's. */
static const char *const cf_sync_ids[] = {"plugin", "name", NULL};

int cf_sync(struct cf_state *st, const config_setting_t *grp)
{
    struct cm_config *cfg = st->cfg;
    struct cm_sync_conf *sy, *ref = NULL;
    struct cm_section *sec = NULL;
    char *file = NULL, *plugin = NULL, *name = NULL, ctx[200];
    int rc, line;

    if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
        return cf_fail(st, grp, "a sync entry must be a group: { plugin = \"exec\"; ... }");
    rc = cf_entry_start(st, grp, "sync", &file, &line, &sec);
    st->at_file = file;
    st->at_line = line;
    if (rc == CM_OK)
        rc = cf_entry_name(st, sec, "sync", "plugin", "exec", &plugin);
    if (rc == CM_OK)
        rc = cf_sync_name(st, plugin, sec, &name, &ref);
    if (rc == CM_OK && ref) {
        snprintf(ctx, sizeof(ctx), "sync entry %s \"%s\"", plugin, name);
        rc = cf_refine(st, ref->section, sec, ctx, cf_sync_ids, NULL);
    } else if (rc == CM_OK) {
        rc = cf_grow(st, (void **)&cfg->syncs, cfg->n_syncs, sizeof(*cfg->syncs));
    }
    if (rc != CM_OK || ref) {
        free(file);
        free(plugin);
        free(name);
        cm_section_free(sec);
        return rc;
    }
    sy = &cfg->syncs[cfg->n_syncs++];
    sy->file = file;
    sy->line = line;
    sy->section = sec;
    sy->plugin = plugin;
    sy->name = name;
    return CM_OK;
}

/* The core's keys of one entry, from its section once every file is merged into it. */
static int cf_sync_keys(struct cf_state *st, struct cm_sync_conf *sy)
{
    char ctx[160];
    int on = 1, rc;

    snprintf(ctx, sizeof(ctx), "sync \"%s\"", sy->plugin);
    rc = cf_sync_tokens(st, sy, ctx);
    if (rc == CM_OK)
        rc = cf_entry_bool(st, sy->section, ctx, "public", &sy->public_routes);
    /* routes = false: the entry serves none of its plugin's routes here (a second Composer
     * index published for another server, say); they could not share one path. */
    if (rc == CM_OK)
        rc = cf_entry_bool(st, sy->section, ctx, "routes", &on);
    sy->no_routes = !on;
    return rc;
}

/* One entry once every file is read (cf_entries_finish): off, or its keys read. */
static int cf_sync_finish(struct cf_state *st, void *entry, int *on)
{
    struct cm_sync_conf *sy = entry;
    const struct cm_section_value *v = cm_section_find(sy->section, "enabled");
    char what[200];
    int rc;

    snprintf(what, sizeof(what), "sync entry %s \"%s\"", sy->plugin, sy->name);
    st->at_file = sy->file;
    st->at_line = sy->line;
    rc = cf_entry_bool(st, sy->section, what, "enabled", on);
    if (rc == CM_OK)
        rc = *on ? cf_sync_keys(st, sy) : cf_disabled_add(st, what, v->file, v->line);
    return rc;
}

/* A switched-off entry holds only what cf_sync set: its keys were never read. */
static void cf_sync_drop(void *entry)
{
    struct cm_sync_conf *sy = entry;

    free(sy->plugin);
    free(sy->name);
    free(sy->file);
    cm_section_free(sy->section);
}

int cf_syncs_finish(struct cf_state *st)
{
    return cf_entries_finish(st, st->cfg->syncs, &st->cfg->n_syncs, sizeof(*st->cfg->syncs),
                             cf_sync_finish, cf_sync_drop);
}
