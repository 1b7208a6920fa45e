/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX */
#endif

/*
 * The helpers every part of a configuration load shares (parse.h): messages that name file
 * and line, ${VAR} expansion, string lists, CA files, and the entries' sections and keys.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "config/parse.h"

const char *cf_file(const struct cf_state *st, const config_setting_t *s)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : st->file;
}

int cf_line(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

static int cf_vfail(struct cf_state *st, const char *file, int line, const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    snprintf(st->err, st->errlen, "%s:%d: %s", file, line, msg);
    return CM_EINVAL;
}

int cf_fail(struct cf_state *st, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = cf_vfail(st, cf_file(st, s), cf_line(s), fmt, ap);
    va_end(ap);
    return rc;
}

int cf_fail_key(struct cf_state *st, const struct cm_section *sec, const char *key, const char *fmt,
                ...)
{
    const struct cm_section_value *v = cm_section_find(sec, key);
    va_list ap;
    int rc;

    va_start(ap, fmt);
    if (v && v->file)
        rc = cf_vfail(st, v->file, v->line, fmt, ap);
    else
        rc = cf_vfail(st, st->at_file ? st->at_file : st->file, st->at_line, fmt, ap);
    va_end(ap);
    return rc;
}

int cf_oom(struct cf_state *st)
{
    snprintf(st->err, st->errlen, "%s: out of memory", st->file);
    return CM_ENOMEM;
}

/* The outcome of a helper that knows no file or line: its message msg, placed at s. */
int cf_relay(struct cf_state *st, const config_setting_t *s, int rc, const char *what,
             const char *msg)
{
    if (rc == CM_ENOMEM)
        return cf_oom(st);
    return rc == CM_OK ? CM_OK : cf_fail(st, s, "%s: %s", what, msg);
}

int cf_relay_key(struct cf_state *st, const struct cm_section *sec, const char *key, int rc,
                 const char *what, const char *msg)
{
    if (rc == CM_ENOMEM)
        return cf_oom(st);
    return rc == CM_OK ? CM_OK : cf_fail_key(st, sec, key, "%s: %s", what, msg);
}

int cf_strdup(struct cf_state *st, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? CM_OK : cf_oom(st);
}

/* The ${VAR}-expanded copy of string setting s; what names it in messages. */
int cf_expand(struct cf_state *st, const config_setting_t *s, const char *what, char **out)
{
    char msg[512];
    int rc;

    *out = NULL;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cf_fail(st, s, "%s must be a string in double quotes", what);
    rc = cm_expand_env(config_setting_get_string(s), out, msg, sizeof(msg));
    return cf_relay(st, s, rc, what, msg);
}

/* *path (expanded, may be "") replaced by the CA bundle it names, resolved and checked, or by
 * NULL when empty; what names the key in messages. */
int cf_ca_file(struct cf_state *st, const config_setting_t *s, const char *what, char **path)
{
    char msg[1024], *abs = NULL;
    int rc = CM_OK;

    if (**path)
        rc = cf_relay(st, s, cm_config_ca_file(st->dir, *path, &abs, msg, sizeof(msg)), what, msg);
    free(*path);
    *path = abs;
    return rc;
}

/* A list or array of strings, each expanded; a single string is taken as a list of one. */
int cf_string_list(struct cf_state *st, const config_setting_t *s, const char *what, char ***out,
                   size_t *n)
{
    int type = config_setting_type(s);
    int len = type == CONFIG_TYPE_STRING ? 1 : config_setting_length(s);
    int rc = CM_OK;

    *n = 0;
    if (type != CONFIG_TYPE_STRING && type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return cf_fail(st, s, "%s must be a list of strings, e.g. [ \"a\", \"b\" ]", what);
    *out = calloc((size_t)len + 1, sizeof(**out));
    if (!*out)
        return cf_oom(st);
    for (int i = 0; i < len && rc == CM_OK; i++) {
        const config_setting_t *e =
            type == CONFIG_TYPE_STRING ? s : config_setting_get_elem(s, (unsigned)i);
        rc = cf_expand(st, e, what, &(*out)[i]);
        if (rc == CM_OK)
            (*n)++;
    }
    return rc;
}

/* ---- sections: a plugin's group, copied out of libconfig ---- */

static int cf_value_read(struct cf_state *st, const config_setting_t *m, const char *ctx,
                         struct cm_section_value *v)
{
    char what[256];

    snprintf(what, sizeof(what), "%s: %s", ctx, config_setting_name(m));
    switch (config_setting_type(m)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        v->type = CM_SV_INT;
        v->num = config_setting_get_int64(m);
        return CM_OK;
    case CONFIG_TYPE_FLOAT:
        v->type = CM_SV_FLOAT;
        v->real = config_setting_get_float(m);
        return CM_OK;
    case CONFIG_TYPE_BOOL:
        v->type = CM_SV_BOOL;
        v->num = config_setting_get_bool(m) ? 1 : 0;
        return CM_OK;
    case CONFIG_TYPE_STRING: v->type = CM_SV_STRING; return cf_expand(st, m, what, &v->str);
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        v->type = CM_SV_LIST;
        return cf_string_list(st, m, what, &v->list, &v->n_list);
    default:
        return cf_fail(st, m,
                       "%s is a group: only values and lists of strings are allowed "
                       "here",
                       what);
    }
}

static int cf_section_new(struct cf_state *st, const config_setting_t *grp, const char *ctx,
                          struct cm_section **out)
{
    int n = config_setting_length(grp);
    int rc = cm_section_new(out, n > 0 ? (size_t)n : 0);

    for (int i = 0; i < n && rc == CM_OK; i++) {
        const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
        struct cm_section_value *v;
        rc = cm_section_add(*out, config_setting_name(m), &v);
        if (rc == CM_OK)
            rc = cm_section_set_origin(v, cf_file(st, m), cf_line(m));
        if (rc == CM_OK)
            rc = cf_value_read(st, m, ctx, v);
    }
    /* cm_section_new and _add write no message; cf_oom's line is the same whoever ran out. */
    return rc == CM_ENOMEM ? cf_oom(st) : rc;
}

/* ---- entries ---- */

/* Endpoint names are URL segments and plugin names are file names: keep both plain. */
static int cf_plain_name(const char *s)
{
    if (!*s || *s == '.')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* A string key of an entry's section: NULL when absent or empty; an error when not a string. */
int cf_entry_string(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                    const char *key, char **out)
{
    const char *v;
    int rc = cm_section_string(sec, key, &v);

    *out = NULL;
    if (rc == CM_ENOENT)
        return CM_OK;
    if (rc != CM_OK)
        return cf_fail_key(st, sec, key, "%s: %s must be a string in double quotes", ctx, key);
    return *v ? cf_strdup(st, v, out) : CM_OK;
}

int cf_entry_name(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                  const char *key, const char *example, char **out)
{
    int rc = cf_entry_string(st, sec, ctx, key, out);

    if (rc != CM_OK)
        return rc;
    if (!*out)
        return cf_fail_key(st, NULL, key, "%s: %s is missing or empty: add %s = \"%s\";", ctx, key,
                           key, example);
    if (!cf_plain_name(*out))
        return cf_fail_key(st, sec, key,
                           "%s: %s \"%s\" may hold only letters, digits, '.', '_' and '-', and "
                           "may not start with '.'",
                           ctx, key, *out);
    return CM_OK;
}

int cf_entry_int(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                 const char *key, long long min, const char *hint, long long *out)
{
    long long v;
    int rc = cm_section_int(sec, key, &v);

    if (rc == CM_ENOENT)
        return CM_OK;
    if (rc != CM_OK || v < min)
        return cf_fail_key(st, sec, key,
                           "%s: %s must be a whole number of at least %lld, without quotes (%s)",
                           ctx, key, min, hint);
    *out = v;
    return CM_OK;
}

int cf_entry_bool(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                  const char *key, int *out)
{
    int rc = cm_section_bool(sec, key, out);

    if (rc == CM_ENOENT)
        return CM_OK;
    if (rc != CM_OK)
        return cf_fail_key(st, sec, key, "%s: %s must be true or false, without quotes", ctx, key);
    return CM_OK;
}

static int cf_listed(const char *const *list, const char *key)
{
    for (size_t i = 0; list && list[i]; i++)
        if (!strcmp(list[i], key))
            return 1;
    return 0;
}

int cf_refine(struct cf_state *st, struct cm_section *base, struct cm_section *over,
              const char *ctx, const char *const *ids, const char *fixed)
{
    for (size_t i = 0; i < over->n; i++) {
        const struct cm_section_value *v = &over->v[i];
        const struct cm_section_value *old = cm_section_find(base, v->key);

        if (!old || cf_listed(ids, v->key))
            continue;
        /* Which of two values in one file wins would depend on their order there: refuse. */
        if (old->file && v->file && !strcmp(old->file, v->file))
            return cf_fail_key(st, over, v->key,
                               "%s: %s is already set at %s:%d, in the same file: a file sets "
                               "each key of an entry once; remove one of the two (a later file "
                               "may change it)",
                               ctx, v->key, old->file, old->line);
        if (fixed && !strcmp(v->key, fixed) &&
            (v->type != CM_SV_STRING || old->type != CM_SV_STRING || strcmp(v->str, old->str)))
            return cf_fail_key(st, over, v->key,
                               "%s: %s \"%s\" differs from \"%s\" set at %s:%d: a later file may "
                               "change an entry's keys but not its %s; give a new entry "
                               "another name",
                               ctx, fixed, v->type == CM_SV_STRING ? v->str : "?",
                               old->type == CM_SV_STRING ? old->str : "?", old->file, old->line,
                               fixed);
    }
    return cm_section_override(base, over, ids) == CM_OK ? CM_OK : cf_oom(st);
}

int cf_entries_finish(struct cf_state *st, void *arr, size_t *n, size_t size,
                      int (*one)(struct cf_state *, void *, int *), void (*drop)(void *))
{
    char *base = arr;
    size_t kept = 0;

    for (size_t i = 0; i < *n; i++) {
        char *e = base + i * size;
        int on = 1, rc = one(st, e, &on);

        if (rc != CM_OK)
            return rc;
        if (!on)
            drop(e);
        else if (kept++ == i)
            continue;
        else
            memcpy(base + (kept - 1) * size, e, size);
        memset(e, 0, size); /* moved or freed: cm_config_free finds nothing there */
    }
    st->at_file = NULL;
    *n = kept;
    return CM_OK;
}

int cf_disabled_add(struct cf_state *st, const char *what, const char *file, int line)
{
    struct cm_config *cfg = st->cfg;
    struct cm_disabled_conf *d;
    int rc = cf_grow(st, (void **)&cfg->disabled, cfg->n_disabled, sizeof(*cfg->disabled));

    if (rc != CM_OK)
        return rc;
    d = &cfg->disabled[cfg->n_disabled++];
    d->line = line;
    if ((rc = cf_strdup(st, what, &d->what)) == CM_OK)
        rc = cf_strdup(st, file, &d->file);
    return rc;
}

int cf_grow(struct cf_state *st, void **arr, size_t n, size_t size)
{
    /* Grown one at a time: configurations hold a handful of entries. */
    void *p = realloc(*arr, (n + 1) * size);

    if (!p)
        return cf_oom(st);
    memset((char *)p + n * size, 0, size);
    *arr = p;
    return CM_OK;
}

/* Where an endpoint or sync entry is written, and every key it holds, for its plugin. */
int cf_entry_start(struct cf_state *st, const config_setting_t *grp, const char *ctx, char **file,
                   int *line, struct cm_section **sec)
{
    int rc = cf_strdup(st, cf_file(st, grp), file);

    *line = cf_line(grp);
    return rc == CM_OK ? cf_section_new(st, grp, ctx, sec) : rc;
}
