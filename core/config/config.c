/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX */
#endif

/*
 * Reads conf.d/NN-name.conf (libconfig, which only core/config/ includes) into struct
 * cm_config: the files in name order and their top level; settings.c, endpoint.c and
 * sync_entry.c read the groups (an entry's keys once every file has had its say). Every value is
 * copied out and ${VAR}-expanded while a file is read, so the libconfig state is destroyed right
 * after and the result is read-only: safe for any number of readers. What needs no parser
 * (sections, defaults, freeing) is in section.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "config/parse.h"

static int cf_each(struct cf_state *st, const config_setting_t *s, const char *key,
                   int (*fn)(struct cf_state *, const config_setting_t *))
{
    int rc = CM_OK;

    if (config_setting_type(s) == CONFIG_TYPE_GROUP)
        return fn(st, s);
    if (config_setting_type(s) != CONFIG_TYPE_LIST)
        return cf_fail(st, s, "%s must be a list of groups: %s = ( { ... }, { ... } );", key, key);
    for (int i = 0; i < config_setting_length(s) && rc == CM_OK; i++)
        rc = fn(st, config_setting_get_elem(s, (unsigned)i));
    return rc;
}

/* A plugin's group at the top level, as the read tokens of a plugin's routes once were
 * (`NAME = { tokens = [...]; public = ...; }`): say where its keys go now. */
static int cf_unknown_top(struct cf_state *st, const config_setting_t *s, const char *name)
{
    if (config_setting_type(s) == CONFIG_TYPE_GROUP &&
        (config_setting_get_member(s, "tokens") || config_setting_get_member(s, "public")))
        return cf_fail(st, s,
                       "unknown setting \"%s\": tokens and public are now keys of the sync "
                       "entry whose plugin serves the routes: move them to sync = ( { plugin = "
                       "\"%s\"; tokens = [ \"user:token\" ]; ... } ) (docs/configuration.md)",
                       name, name);
    return cf_fail(
        st, s,
        "unknown setting \"%s\": expected one of server, queue, git, endpoint, endpoints, "
        "sync (a plugin's settings go in its endpoint or sync entry)",
        name);
}

static int cf_root(struct cf_state *st, const config_setting_t *root)
{
    int rc = CM_OK;

    for (int i = 0; i < config_setting_length(root) && rc == CM_OK; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);

        if (cf_settings_known(name))
            rc = cf_settings_group(st, s, name);
        else if (!strcmp(name, "endpoint"))
            rc = cf_endpoint(st, s);
        else if (!strcmp(name, "endpoints"))
            rc = cf_each(st, s, name, cf_endpoint);
        else if (!strcmp(name, "sync"))
            rc = cf_each(st, s, name, cf_sync);
        else
            rc = cf_unknown_top(st, s, name);
    }
    return rc;
}

/* One file (text NULL) or one text (path then only names it). */
static int cf_read(struct cf_state *st, const char *path, const char *text)
{
    config_t c;
    int ok, rc;

    config_init(&c);
    config_set_auto_convert(&c, CONFIG_FALSE);
    if (st->dir)
        config_set_include_dir(&c, st->dir);
    st->file = path;
    errno = 0;
    ok = text ? config_read_string(&c, text) : config_read_file(&c, path);
    if (ok == CONFIG_TRUE) {
        rc = cf_root(st, config_root_setting(&c));
    } else if (config_error_type(&c) == CONFIG_ERR_FILE_IO) {
        snprintf(st->err, st->errlen, "%s: cannot read it: %s", path,
                 errno ? strerror(errno) : "I/O error");
        rc = CM_EINVAL;
    } else {
        const char *text_err = config_error_text(&c);
        const char *hint = strcmp(text_err, "syntax error") == 0
                               ? ": check the quotes, braces, brackets and '=' there and on the "
                                 "line before"
                           : strstr(text_err, "duplicate")
                               ? ": a name may appear only once in a group; remove or merge one"
                               : "";
        snprintf(st->err, st->errlen, "%s:%d: %s%s",
                 config_error_file(&c) ? config_error_file(&c) : path, config_error_line(&c),
                 text_err, hint);
        rc = CM_EINVAL;
    }
    config_destroy(&c);
    return rc;
}

/* The start and end every load shares: a config with the defaults, and the state's cleanup. */
static int cf_start(struct cf_state *st, const char *dir)
{
    st->cfg = cm_config_new(dir);
    if (st->cfg)
        return CM_OK;
    snprintf(st->err, st->errlen, "out of memory");
    return CM_ENOMEM;
}

static int cf_finish(struct cf_state *st, int rc, struct cm_config **out)
{
    /* Every file is read: each entry's keys hold what the last file to set them said. */
    if (rc == CM_OK)
        rc = cf_endpoints_finish(st);
    if (rc == CM_OK)
        rc = cf_syncs_finish(st);
    /* Across files: the queue's backend and where it is may be set in different ones. */
    if (rc == CM_OK && !strcmp(st->cfg->queue_backend, "postgresql") && !st->cfg->queue_conninfo) {
        snprintf(st->err, st->errlen,
                 "queue.backend = \"postgresql\" needs queue.conninfo, e.g. conninfo = "
                 "\"${CARGOMAN_DATABASE_URL}\"; (a libpq URI or key=value string)");
        rc = CM_EINVAL;
    }
    for (size_t i = 0; i < CF_MAX_KEYS; i++)
        free(st->key_file[i]);
    if (rc != CM_OK) {
        cm_config_free(st->cfg);
        return rc;
    }
    *out = st->cfg;
    return CM_OK;
}

int cm_config_load(struct cm_config **out, const char *dir, char *err, size_t errlen)
{
    struct cf_state st = {.dir = dir, .err = err, .errlen = errlen};
    char **names = NULL, path[PATH_MAX];
    size_t n = 0, dlen = strlen(dir);
    int rc;

    *out = NULL;
    rc = cm_config_list(dir, &names, &n, err, errlen);
    if (rc == CM_OK)
        rc = cf_start(&st, dir);
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        snprintf(path, sizeof(path), "%.*s/%s",
                 (int)(dlen > 1 && dir[dlen - 1] == '/' ? dlen - 1 : dlen), dir, names[i]);
        rc = cf_read(&st, path, NULL);
    }
    cm_config_strings_free(names, n);
    return cf_finish(&st, rc, out);
}

int cm_config_load_text(struct cm_config **out, const char *name, const char *text, char *err,
                        size_t errlen)
{
    struct cf_state st = {.err = err, .errlen = errlen};
    int rc;

    *out = NULL;
    rc = cf_start(&st, name);
    if (rc == CM_OK)
        rc = cf_read(&st, name, text);
    return cf_finish(&st, rc, out);
}