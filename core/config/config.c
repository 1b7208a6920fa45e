/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX */
#endif

/*
 * Reads conf.d/NN-name.conf (libconfig; the only file that includes it) into struct cm_config.
 * Every value is copied out and ${VAR}-expanded while a file is read, so the libconfig state
 * is destroyed right after and the result is read-only: safe for any number of readers.
 * What needs no parser (the sections' storage, defaults, freeing, files) is in config_section.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include <cargoman/plugin.h>

#include "config/config.h"
#include "config/section.h"
#include "util/url.h"

/* The settings of server, git and composer, read into struct cm_config by offset. */
enum cf_kind {
    CF_K_LISTEN,
    CF_K_PATH,
    CF_K_OPT,
    CF_K_CA,
    CF_K_INT,
    CF_K_LL,
    CF_K_TOKENS,
    CF_K_BOOL,
    CF_K_DIRS
};

struct cf_key {
    const char *group, *name;
    enum cf_kind kind;
    size_t off;
    long long min, max;
};

#define CF_OFF(f) offsetof(struct cm_config, f)
static const struct cf_key cf_keys[] = {
    {"server", "listen", CF_K_LISTEN, CF_OFF(listen), 0, 0},
    {"server", "data_dir", CF_K_PATH, CF_OFF(data_dir), 0, 0},
    {"server", "max_body", CF_K_LL, CF_OFF(max_body), 1, LLONG_MAX},
    {"server", "workers", CF_K_INT, CF_OFF(workers), 1, 64},
    {"server", "max_connections", CF_K_INT, CF_OFF(max_connections), 1, 1000000},
    {"server", "connection_timeout", CF_K_INT, CF_OFF(connection_timeout), 1, 86400},
    {"server", "sync_max_age", CF_K_LL, CF_OFF(sync_max_age), 1, LLONG_MAX},
    {"server", "dedupe_max_age", CF_K_LL, CF_OFF(dedupe_max_age), 1, LLONG_MAX},
    {"server", "admin_token", CF_K_OPT, CF_OFF(admin_token), 0, 0},
    {"server", "max_connections_per_ip", CF_K_INT, CF_OFF(max_connections_per_ip), 0, 1000000},
    {"server", "request_timeout", CF_K_INT, CF_OFF(request_timeout), 1, 86400},
    {"server", "max_queued", CF_K_LL, CF_OFF(max_queued), 1, LLONG_MAX},
    {"server", "max_queued_per_endpoint", CF_K_LL, CF_OFF(max_queued_per_endpoint), 1, LLONG_MAX},
    {"server", "new_repositories_per_hour", CF_K_LL, CF_OFF(new_repositories_per_hour), 0,
     LLONG_MAX},
    {"server", "max_refs_per_event", CF_K_LL, CF_OFF(max_refs_per_event), 1, LLONG_MAX},
    {"server", "missing_repository_max_age", CF_K_LL, CF_OFF(missing_repository_max_age), 1,
     LLONG_MAX},
    {"server", "stop_timeout", CF_K_INT, CF_OFF(stop_timeout), 0, 86400},
    {"server", "healthz_max_due_age", CF_K_LL, CF_OFF(healthz_max_due_age), 1, LLONG_MAX},
    {"git", "auth_user", CF_K_OPT, CF_OFF(auth_user), 0, 0},
    {"git", "auth_token", CF_K_OPT, CF_OFF(auth_token), 0, 0},
    {"git", "ssh_key", CF_K_OPT, CF_OFF(ssh_key), 0, 0},
    {"git", "ssh_passphrase", CF_K_OPT, CF_OFF(ssh_passphrase), 0, 0},
    {"git", "ssh_known_hosts", CF_K_OPT, CF_OFF(ssh_known_hosts), 0, 0},
    {"git", "ssl_ca_file", CF_K_CA, CF_OFF(ssl_ca_file), 0, 0},
    {"git", "max_blob_size", CF_K_LL, CF_OFF(max_blob_size), 1, LLONG_MAX},
    {"git", "timeout", CF_K_INT, CF_OFF(git_timeout), 1, 86400},
    {"composer", "tokens", CF_K_TOKENS, CF_OFF(composer_tokens), 0, 0},
    {"composer", "public", CF_K_BOOL, CF_OFF(composer_public), 0, 0},
    {"server", "plugin_path", CF_K_DIRS, CF_OFF(plugin_path), 0, 0},
};
#define CF_NKEYS (sizeof(cf_keys) / sizeof(cf_keys[0]))

struct cf_state {
    struct cm_config *cfg;
    const char *file; /* the file being read, as messages name it */
    const char *dir;  /* relative secret_file, ssl_ca_file and @include paths start here */
    char *err;
    size_t errlen;
    char *key_file[CF_NKEYS]; /* where each server/git/composer key was set */
    int key_line[CF_NKEYS];
};

static const char *cf_file(const struct cf_state *st, const config_setting_t *s)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : st->file;
}

static int cf_line(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

__attribute__((format(printf, 3, 4))) static int
cf_fail(struct cf_state *st, const config_setting_t *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(st->err, st->errlen, "%s:%d: %s", cf_file(st, s), cf_line(s), msg);
    return CM_EINVAL;
}

static int cf_oom(struct cf_state *st)
{
    snprintf(st->err, st->errlen, "%s: out of memory", st->file);
    return CM_ENOMEM;
}

/* The outcome of a helper that knows no file or line: its message msg, placed at s. */
static int cf_relay(struct cf_state *st, const config_setting_t *s, int rc, const char *what,
                    const char *msg)
{
    if (rc == CM_ENOMEM)
        return cf_oom(st);
    return rc == CM_OK ? CM_OK : cf_fail(st, s, "%s: %s", what, msg);
}

static int cf_strdup(struct cf_state *st, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? CM_OK : cf_oom(st);
}

/* The ${VAR}-expanded copy of string setting s; what names it in messages. */
static int cf_expand(struct cf_state *st, const config_setting_t *s, const char *what, char **out)
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
static int cf_ca_file(struct cf_state *st, const config_setting_t *s, const char *what, char **path)
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
static int cf_string_list(struct cf_state *st, const config_setting_t *s, const char *what,
                          char ***out, size_t *n)
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
            rc = cf_value_read(st, m, ctx, v);
    }
    /* cm_section_new and _add write no message; cf_oom's line is the same whoever ran out. */
    return rc == CM_ENOMEM ? cf_oom(st) : rc;
}

/* ---- server, git, composer ---- */

static size_t cf_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[40];

    if (la >= 40 || lb >= 40)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int cf_unknown_key(struct cf_state *st, const config_setting_t *m, const char *group)
{
    char known[512] = "", hint[96] = "";
    size_t best = 3, used = 0;

    for (size_t i = 0; i < CF_NKEYS; i++) {
        if (strcmp(cf_keys[i].group, group) != 0)
            continue;
        int w =
            snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "", cf_keys[i].name);
        if (w > 0 && (size_t)w < sizeof(known) - used)
            used += (size_t)w;
        size_t d = cf_distance(config_setting_name(m), cf_keys[i].name);
        if (d < best) {
            best = d;
            snprintf(hint, sizeof(hint), "did you mean \"%s\"? ", cf_keys[i].name);
        }
    }
    return cf_fail(st, m, "unknown setting \"%s\" in %s: %sexpected one of %s",
                   config_setting_name(m), group, hint, known);
}

/* A token sent as "Authorization: Bearer <token>": printable, no spaces, and long enough
 * that guessing it over HTTP is hopeless. */
static int cf_bearer(struct cf_state *st, const config_setting_t *m, const char *what,
                     const char *token)
{
    size_t len = strlen(token);

    for (const char *p = token; *p; p++)
        if (*p <= ' ' || *p > '~')
            return cf_fail(st, m,
                           "%s holds a space or a character that is not printable ASCII: "
                           "clients send it in a header; use e.g. `openssl rand -hex 32`",
                           what);
    if (len < 16)
        return cf_fail(st, m,
                       "%s is %zu characters long: use at least 16 random characters, e.g. "
                       "`openssl rand -hex 32`",
                       what, len);
    return CM_OK;
}

/* server.plugin_path: absolute directories that exist (the daemon's working directory is not
 * the configuration's, so a relative one would mean something else under systemd). */
static int cf_plugin_path(struct cf_state *st, const config_setting_t *m, const char *what)
{
    char **list = NULL;
    size_t n = 0;
    struct stat sb;
    int rc = cf_string_list(st, m, what, &list, &n);
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        if (list[i][0] != '/' || strchr(list[i], ':'))
            rc = cf_fail(st, m, "%s: \"%s\" must be an absolute directory without ':'", what,
                         list[i]);
        else if (stat(list[i], &sb) != 0 || !S_ISDIR(sb.st_mode))
            rc = cf_fail(st, m,
                         "%s: \"%s\" is not an existing directory: create it or remove "
                         "it from the list",
                         what, list[i]);
    }
    if (rc != CM_OK) {
        cm_config_strings_free(list, n);
        return rc;
    }
    st->cfg->plugin_path = list;
    st->cfg->n_plugin_path = n;
    return CM_OK;
}

static int cf_known_value(struct cf_state *st, const config_setting_t *m, const struct cf_key *k)
{
    void *field = (char *)st->cfg + k->off;
    char what[96], *s = NULL, **list = NULL;
    unsigned port;
    size_t n = 0;
    int rc;

    snprintf(what, sizeof(what), "%s.%s", k->group, k->name);
    if (k->kind == CF_K_BOOL) {
        if (config_setting_type(m) != CONFIG_TYPE_BOOL)
            return cf_fail(st, m, "%s must be true or false, without quotes", what);
        *(int *)field = config_setting_get_bool(m) ? 1 : 0;
        return CM_OK;
    }
    if (k->kind == CF_K_INT || k->kind == CF_K_LL) {
        int t = config_setting_type(m);
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            return cf_fail(st, m, "%s must be a whole number, without quotes", what);
        long long v = config_setting_get_int64(m);
        if (v < k->min || v > k->max)
            return k->max == LLONG_MAX
                       ? cf_fail(st, m, "%s = %lld: it must be at least %lld", what, v, k->min)
                       : cf_fail(st, m, "%s = %lld: it must be between %lld and %lld", what, v,
                                 k->min, k->max);
        if (k->kind == CF_K_INT)
            *(int *)field = (int)v;
        else
            *(long long *)field = v;
        return CM_OK;
    }
    if (k->kind == CF_K_DIRS)
        return cf_plugin_path(st, m, what);
    if (k->kind == CF_K_TOKENS) {
        rc = cf_string_list(st, m, what, &list, &n);
        for (size_t i = 0; rc == CM_OK && i < n; i++) {
            const char *colon = strchr(list[i], ':');
            if (!colon || colon == list[i] || colon[1] == '\0')
                rc = cf_fail(st, m, "%s: entry %zu must be written \"user:token\"", what, i + 1);
        }
        if (rc == CM_OK) {
            st->cfg->composer_tokens = list;
            st->cfg->n_composer_tokens = n;
            return CM_OK;
        }
        cm_config_strings_free(list, n);
        return rc;
    }
    rc = cf_expand(st, m, what, &s);
    if (rc == CM_OK && k->kind == CF_K_LISTEN) {
        char host[64];
        if (cm_config_split_listen(s, host, sizeof(host), &port) != CM_OK)
            rc = cf_fail(st, m,
                         "%s = \"%s\" is not an address and port: write e.g. "
                         "\"127.0.0.1:8080\", \"0.0.0.0:8080\" or \"[::1]:8080\"",
                         what, s);
    }
    if (rc == CM_OK && k->kind == CF_K_PATH && !*s)
        rc = cf_fail(st, m, "%s is empty: write a directory, e.g. \"var\"", what);
    if (rc == CM_OK && k->kind == CF_K_OPT && !*s) {
        free(s);
        s = NULL;
    }
    if (rc == CM_OK && k->off == CF_OFF(admin_token) && s)
        rc = cf_bearer(st, m, what, s);
    if (rc == CM_OK && k->kind == CF_K_CA)
        rc = cf_ca_file(st, m, what, &s);
    if (rc != CM_OK) {
        free(s);
        return rc;
    }
    free(*(char **)field);
    *(char **)field = s;
    return CM_OK;
}

static int cf_known_group(struct cf_state *st, const config_setting_t *grp, const char *group)
{
    int n = config_setting_length(grp);

    if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
        return cf_fail(st, grp, "%s must be a group: %s = { ... };", group, group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
        size_t k = 0;
        int rc;

        while (k < CF_NKEYS && (strcmp(cf_keys[k].group, group) != 0 ||
                                strcmp(cf_keys[k].name, config_setting_name(m)) != 0))
            k++;
        if (k == CF_NKEYS)
            return cf_unknown_key(st, m, group);
        if (st->key_file[k])
            return cf_fail(st, m,
                           "%s.%s is already set at %s:%d: a later file may not "
                           "redefine it; remove one of the two",
                           group, cf_keys[k].name, st->key_file[k], st->key_line[k]);
        rc = cf_known_value(st, m, &cf_keys[k]);
        if (rc != CM_OK)
            return rc;
        rc = cf_strdup(st, cf_file(st, m), &st->key_file[k]);
        if (rc != CM_OK)
            return rc;
        st->key_line[k] = cf_line(m);
    }
    return CM_OK;
}

/* ---- endpoints and sync entries ---- */

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
static int cf_entry_string(struct cf_state *st, const config_setting_t *grp,
                           const struct cm_section *sec, const char *ctx, const char *key,
                           char **out)
{
    const char *v;
    int rc = cm_section_string(sec, key, &v);

    *out = NULL;
    if (rc == CM_ENOENT)
        return CM_OK;
    if (rc != CM_OK)
        return cf_fail(st, config_setting_get_member(grp, key),
                       "%s: %s must be a string in double quotes", ctx, key);
    return *v ? cf_strdup(st, v, out) : CM_OK;
}

static int cf_entry_name(struct cf_state *st, const config_setting_t *grp,
                         const struct cm_section *sec, const char *ctx, const char *key,
                         const char *example, char **out)
{
    int rc = cf_entry_string(st, grp, sec, ctx, key, out);

    if (rc != CM_OK)
        return rc;
    if (!*out)
        return cf_fail(st, grp, "%s: %s is missing or empty: add %s = \"%s\";", ctx, key, key,
                       example);
    if (!cf_plain_name(*out))
        return cf_fail(st, config_setting_get_member(grp, key),
                       "%s: %s \"%s\" may hold only letters, digits, '.', '_' and '-', and "
                       "may not start with '.'",
                       ctx, key, *out);
    return CM_OK;
}

static int cf_endpoint_secret(struct cf_state *st, const config_setting_t *grp,
                              struct cm_endpoint_conf *ep, const char *ctx)
{
    const config_setting_t *sf = config_setting_get_member(grp, "secret_file");
    char *file = NULL, msg[1024];
    int rc;

    if (sf && config_setting_get_member(grp, "secret"))
        return cf_fail(st, sf, "%s: both secret and secret_file are set: keep only one", ctx);
    if (!sf)
        return cf_entry_string(st, grp, ep->section, ctx, "secret", &ep->secret);
    rc = cf_entry_string(st, grp, ep->section, ctx, "secret_file", &file);
    if (rc == CM_OK && file) {
        rc = cm_config_read_secret(st->dir, file, &ep->secret, msg, sizeof(msg));
        rc = cf_relay(st, sf, rc, ctx, msg);
    }
    free(file);
    return rc;
}

static int cf_endpoint_ca(struct cf_state *st, const config_setting_t *grp,
                          struct cm_endpoint_conf *ep, const char *ctx)
{
    char what[200];
    int rc = cf_entry_string(st, grp, ep->section, ctx, "ssl_ca_file", &ep->ssl_ca_file);

    snprintf(what, sizeof(what), "%s: ssl_ca_file", ctx);
    if (rc != CM_OK || !ep->ssl_ca_file)
        return rc;
    return cf_ca_file(st, config_setting_get_member(grp, "ssl_ca_file"), what, &ep->ssl_ca_file);
}

/* An optional whole-number key of an endpoint, at least min; *out keeps its value when absent. */
static int cf_entry_int(struct cf_state *st, const config_setting_t *grp,
                        const struct cm_section *sec, const char *ctx, const char *key,
                        long long min, const char *hint, long long *out)
{
    long long v;
    int rc = cm_section_int(sec, key, &v);

    if (rc == CM_ENOENT)
        return CM_OK;
    if (rc != CM_OK || v < min)
        return cf_fail(st, config_setting_get_member(grp, key),
                       "%s: %s must be a whole number of at least %lld, without quotes (%s)", ctx,
                       key, min, hint);
    *out = v;
    return CM_OK;
}

static int cf_endpoint_allow(struct cf_state *st, const config_setting_t *grp,
                             struct cm_endpoint_conf *ep, const char *ctx)
{
    const config_setting_t *m = config_setting_get_member(grp, "allow_from");
    const struct cm_section_value *v = cm_section_find(ep->section, "allow_from");
    size_t n;

    if (!v)
        return CM_OK;
    n = v->type == CM_SV_STRING ? 1 : v->n_list;
    if (v->type != CM_SV_STRING && v->type != CM_SV_LIST)
        return cf_fail(st, m,
                       "%s: allow_from must be a list of addresses, e.g. "
                       "[ \"10.0.0.0/8\", \"2001:db8::/32\" ]",
                       ctx);
    if (n == 0)
        return CM_OK;
    ep->allow_from = calloc(n, sizeof(*ep->allow_from));
    if (!ep->allow_from)
        return cf_oom(st);
    for (size_t i = 0; i < n; i++) {
        const char *text = v->type == CM_SV_STRING ? v->str : v->list[i];
        /* The list's own line: libconfig dates a list element by the token after it. */
        if (cm_cidr_parse(text, &ep->allow_from[i]) != CM_OK)
            return cf_fail(st, m,
                           "%s: allow_from entry \"%s\" is not an address or CIDR "
                           "range: write e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\"",
                           ctx, text);
        ep->n_allow_from++;
    }
    return CM_OK;
}

/* url, ssh_url and clone_url, each parsed as the fetch-URL policy will read it. */
static int cf_endpoint_urls(struct cf_state *st, const config_setting_t *grp,
                            struct cm_endpoint_conf *ep, const char *ctx)
{
    struct cm_url u;
    char probe[2048];
    int rc = cf_entry_string(st, grp, ep->section, ctx, "url", &ep->url);

    if (rc == CM_OK && ep->url) {
        size_t len = strlen(ep->url);
        if (cm_url_parse(ep->url, &u) != CM_OK ||
            (strcmp(u.scheme, "https") && strcmp(u.scheme, "http")))
            return cf_fail(st, config_setting_get_member(grp, "url"),
                           "%s: url \"%s\" must be the host's address starting with http:// or "
                           "https://, e.g. \"https://git.example.com\" (or \"\" for none)",
                           ctx, ep->url);
        /* One spelling of the base, so clone URLs compare with a plain prefix test. */
        while (len > 0 && ep->url[len - 1] == '/')
            ep->url[--len] = '\0';
    }
    if (rc == CM_OK)
        rc = cf_entry_string(st, grp, ep->section, ctx, "ssh_url", &ep->ssh_url);
    if (rc == CM_OK && ep->ssh_url &&
        (cm_url_parse(ep->ssh_url, &u) != CM_OK || u.scp || strcmp(u.scheme, "ssh") ||
         (*u.path && strcmp(u.path, "/"))))
        return cf_fail(st, config_setting_get_member(grp, "ssh_url"),
                       "%s: ssh_url \"%s\" must be the host's SSH address without a path, e.g. "
                       "\"ssh://git@git.example.com:7999\"",
                       ctx, ep->ssh_url);
    if (rc == CM_OK)
        rc = cf_entry_string(st, grp, ep->section, ctx, "clone_url", &ep->clone_url);
    if (rc == CM_OK && ep->clone_url && !strstr(ep->clone_url, "{repository}"))
        return cf_fail(st, config_setting_get_member(grp, "clone_url"),
                       "%s: clone_url \"%s\" has no {repository} placeholder: write e.g. "
                       "\"https://mirror.example.com/scm/{repository}.git\"",
                       ctx, ep->clone_url);
    /* The name must land in the path: a template whose host is the name lets the sender pick it. */
    if (rc == CM_OK && ep->clone_url &&
        (cm_url_expand(ep->clone_url, "o/r", probe, sizeof(probe)) != CM_OK ||
         cm_url_parse(probe, &u) != CM_OK ||
         strstr(ep->clone_url, "{repository}") - ep->clone_url < u.path - probe))
        return cf_fail(st, config_setting_get_member(grp, "clone_url"),
                       "%s: clone_url \"%s\" must be a git URL (https://, ssh://, git:// or "
                       "user@host:path) with {repository} in its path, e.g. "
                       "\"https://mirror.example.com/scm/{repository}.git\"",
                       ctx, ep->clone_url);
    return rc;
}

/* allow_unsigned: an endpoint without a secret that the operator means to keep so. */
static int cf_endpoint_unsigned(struct cf_state *st, const config_setting_t *grp,
                                struct cm_endpoint_conf *ep, const char *ctx)
{
    int rc = cm_section_bool(ep->section, "allow_unsigned", &ep->allow_unsigned);

    if (rc == CM_ENOENT) {
        ep->allow_unsigned = 0;
        return CM_OK;
    }
    if (rc != CM_OK)
        return cf_fail(st, config_setting_get_member(grp, "allow_unsigned"),
                       "%s: allow_unsigned must be true or false, without quotes", ctx);
    if (ep->allow_unsigned && ep->secret)
        return cf_fail(st, config_setting_get_member(grp, "allow_unsigned"),
                       "%s: allow_unsigned = true but a secret is set: remove one of the two", ctx);
    return CM_OK;
}

static int cf_grow(struct cf_state *st, void **arr, size_t n, size_t size)
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
static int cf_entry_start(struct cf_state *st, const config_setting_t *grp, const char *ctx,
                          char **file, int *line, struct cm_section **sec)
{
    int rc = cf_strdup(st, cf_file(st, grp), file);

    *line = cf_line(grp);
    return rc == CM_OK ? cf_section_new(st, grp, ctx, sec) : rc;
}

static int cf_endpoint(struct cf_state *st, const config_setting_t *grp)
{
    struct cm_config *cfg = st->cfg;
    struct cm_endpoint_conf *ep;
    const char *raw = NULL;
    char ctx[160];
    int rc;

    if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
        return cf_fail(st, grp,
                       "an endpoint must be a group: { name = \"...\"; provider = "
                       "\"...\"; ... }");
    rc = cf_grow(st, (void **)&cfg->endpoints, cfg->n_endpoints, sizeof(*cfg->endpoints));
    if (rc != CM_OK)
        return rc;
    ep = &cfg->endpoints[cfg->n_endpoints++];
    if (config_setting_lookup_string(grp, "name", &raw) == CONFIG_TRUE)
        snprintf(ctx, sizeof(ctx), "endpoint \"%s\"", raw);
    else
        snprintf(ctx, sizeof(ctx), "endpoint");
    rc = cf_entry_start(st, grp, ctx, &ep->file, &ep->line, &ep->section);
    if (rc == CM_OK)
        rc = cf_entry_name(st, grp, ep->section, ctx, "name", "my-endpoint", &ep->name);
    for (size_t i = 0; rc == CM_OK && i + 1 < cfg->n_endpoints; i++)
        if (strcmp(cfg->endpoints[i].name, ep->name) == 0)
            rc = cf_fail(st, config_setting_get_member(grp, "name"),
                         "%s is already defined at %s:%d: give one of them another name", ctx,
                         cfg->endpoints[i].file, cfg->endpoints[i].line);
    if (rc == CM_OK)
        rc = cf_entry_name(st, grp, ep->section, ctx, "provider", "github", &ep->provider);
    if (rc == CM_OK)
        rc = cf_endpoint_urls(st, grp, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_secret(st, grp, ep, ctx);
    if (rc == CM_OK)
        rc = cf_entry_string(st, grp, ep->section, ctx, "auth_user", &ep->auth_user);
    if (rc == CM_OK)
        rc = cf_entry_string(st, grp, ep->section, ctx, "auth_token", &ep->auth_token);
    if (rc == CM_OK)
        rc = cf_endpoint_ca(st, grp, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_allow(st, grp, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_unsigned(st, grp, ep, ctx);
    ep->max_queued = ep->new_repositories_per_hour = -1;
    if (rc == CM_OK)
        rc = cf_entry_int(st, grp, ep->section, ctx, "max_queued", 1,
                          "entries not yet synced; unset: server.max_queued_per_endpoint",
                          &ep->max_queued);
    if (rc == CM_OK)
        rc = cf_entry_int(st, grp, ep->section, ctx, "new_repositories_per_hour", 0,
                          "0: no limit; unset: server.new_repositories_per_hour",
                          &ep->new_repositories_per_hour);
    return rc;
}

static int cf_sync(struct cf_state *st, const config_setting_t *grp)
{
    struct cm_config *cfg = st->cfg;
    struct cm_sync_conf *sy;
    int rc;

    if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
        return cf_fail(st, grp, "a sync entry must be a group: { plugin = \"composer\"; ... }");
    rc = cf_grow(st, (void **)&cfg->syncs, cfg->n_syncs, sizeof(*cfg->syncs));
    if (rc != CM_OK)
        return rc;
    sy = &cfg->syncs[cfg->n_syncs++];
    rc = cf_entry_start(st, grp, "sync", &sy->file, &sy->line, &sy->section);
    if (rc == CM_OK)
        rc = cf_entry_name(st, grp, sy->section, "sync", "plugin", "composer", &sy->plugin);
    return rc;
}

/* ---- files ---- */

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

static int cf_root(struct cf_state *st, const config_setting_t *root)
{
    int rc = CM_OK;

    for (int i = 0; i < config_setting_length(root) && rc == CM_OK; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);

        if (!strcmp(name, "server") || !strcmp(name, "git") || !strcmp(name, "composer"))
            rc = cf_known_group(st, s, name);
        else if (!strcmp(name, "endpoint"))
            rc = cf_endpoint(st, s);
        else if (!strcmp(name, "endpoints"))
            rc = cf_each(st, s, name, cf_endpoint);
        else if (!strcmp(name, "sync"))
            rc = cf_each(st, s, name, cf_sync);
        else
            rc = cf_fail(st, s,
                         "unknown setting \"%s\": expected one of server, git, "
                         "composer, endpoint, endpoints, sync",
                         name);
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
    for (size_t i = 0; i < CF_NKEYS; i++)
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
