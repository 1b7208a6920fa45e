/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX */
#endif

/*
 * The configuration once it is out of libconfig: the sections plugins read their own keys
 * from, with their typed lookups and the check of their keys against what the core and the
 * plugin declare, struct cm_config's defaults and freeing, and the files
 * config.c reads around the parser (the conf.d listing, secret files, CA bundles).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cargoman/plugin.h>

#include "config/config.h"
#include "config/section.h"

#define CS_SECRET_MAX 65536

/* ---- sections ---- */

int cm_section_new(struct cm_section **out, size_t cap)
{
    struct cm_section *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s)
        return CM_ENOMEM;
    s->v = calloc(cap ? cap : 1, sizeof(*s->v));
    if (!s->v) {
        free(s);
        return CM_ENOMEM;
    }
    *out = s;
    return CM_OK;
}

int cm_section_add(struct cm_section *s, const char *key, struct cm_section_value **out)
{
    struct cm_section_value *v = &s->v[s->n];

    v->key = strdup(key);
    if (!v->key)
        return CM_ENOMEM;
    s->n++;
    *out = v;
    return CM_OK;
}

int cm_section_set_origin(struct cm_section_value *v, const char *file, int line)
{
    free(v->file);
    v->file = strdup(file);
    v->line = line;
    return v->file ? CM_OK : CM_ENOMEM;
}

const struct cm_section_value *cm_section_find(const struct cm_section *s, const char *key)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->v[i].key, key) == 0)
            return &s->v[i];
    return NULL;
}

/* The value called key when it has the given type: the check every typed lookup shares. */
static int cs_typed(const struct cm_section *s, const char *key, enum cm_section_type type,
                    const struct cm_section_value **out)
{
    const struct cm_section_value *v = cm_section_find(s, key);

    if (!v)
        return CM_ENOENT;
    if (v->type != type)
        return CM_EINVAL;
    *out = v;
    return CM_OK;
}

int cm_section_string(const struct cm_section *s, const char *key, const char **out)
{
    const struct cm_section_value *v;
    int rc = cs_typed(s, key, CM_SV_STRING, &v);

    if (rc == CM_OK)
        *out = v->str;
    return rc;
}

int cm_section_int(const struct cm_section *s, const char *key, long long *out)
{
    const struct cm_section_value *v;
    int rc = cs_typed(s, key, CM_SV_INT, &v);

    if (rc == CM_OK)
        *out = v->num;
    return rc;
}

int cm_section_bool(const struct cm_section *s, const char *key, int *out)
{
    const struct cm_section_value *v;
    int rc = cs_typed(s, key, CM_SV_BOOL, &v);

    if (rc == CM_OK)
        *out = (int)v->num;
    return rc;
}

int cm_section_list(const struct cm_section *s, const char *key, size_t index, const char **out)
{
    const struct cm_section_value *v;
    int rc = cs_typed(s, key, CM_SV_LIST, &v);

    if (rc == CM_OK && index >= v->n_list)
        rc = CM_ENOENT;
    if (rc == CM_OK)
        *out = v->list[index];
    return rc;
}

void cm_config_strings_free(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

void cm_section_free(struct cm_section *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].str);
        cm_config_strings_free(s->v[i].list, s->v[i].n_list);
        free(s->v[i].file);
    }
    free(s->v);
    free(s);
}

static int cs_listed(const char *const *list, const char *key)
{
    for (size_t i = 0; list && list[i]; i++)
        if (!strcmp(list[i], key))
            return 1;
    return 0;
}

int cm_section_override(struct cm_section *s, struct cm_section *from, const char *const *keep)
{
    /* Room for every value of from: a refinement adds a handful of keys, and growing once
     * means nothing is left half-moved but on out of memory. */
    struct cm_section_value *grown = realloc(s->v, (s->n + from->n + 1) * sizeof(*s->v));

    if (!grown)
        return CM_ENOMEM;
    s->v = grown;
    for (size_t i = 0; i < from->n; i++) {
        struct cm_section_value *v = &from->v[i];
        struct cm_section_value *old = (struct cm_section_value *)cm_section_find(s, v->key);
        if (cs_listed(keep, v->key))
            continue;
        if (!old)
            old = &s->v[s->n++];
        else {
            free(old->key);
            free(old->str);
            cm_config_strings_free(old->list, old->n_list);
            free(old->file);
        }
        *old = *v;
        memset(v, 0, sizeof(*v));
    }
    /* The kept keys' values stay in from, which frees them; the moved ones are zeroed. */
    return CM_OK;
}

int cm_section_origin(const struct cm_section *s, size_t i, const char **key, const char **file,
                      int *line)
{
    if (!s || i >= s->n)
        return CM_ENOENT;
    *key = s->v[i].key;
    *file = s->v[i].file ? s->v[i].file : "?";
    *line = s->v[i].line;
    return CM_OK;
}

/* ---- declared keys ---- */

const char *const cm_config_endpoint_keys[] = {"name",
                                               "provider",
                                               "url",
                                               "secret",
                                               "secret_file",
                                               "clone_url",
                                               "ssh_url",
                                               "auth_user",
                                               "auth_token",
                                               "ssl_ca_file",
                                               "ssh_key",
                                               "ssh_passphrase",
                                               "ssh_known_hosts",
                                               "allow_from",
                                               "allow_unsigned",
                                               "max_queued",
                                               "new_repositories_per_hour",
                                               "secrets",
                                               "repositories",
                                               "reconcile_interval",
                                               "enabled",
                                               NULL};

const char *const cm_config_sync_keys[] = {"plugin", "name",    "tokens", "public",
                                           "routes", "enabled", NULL};

size_t cm_config_key_distance(const char *a, const char *b)
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
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
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

/* Appends one known key to the list in known and keeps the nearest to key in *near. */
static void cs_known(const char *name, const char *key, char *known, size_t room, size_t *used,
                     const char **near, size_t *best)
{
    size_t d = cm_config_key_distance(key, name);
    int w = snprintf(known + *used, room - *used, "%s%s", *used ? ", " : "", name);

    if (w > 0 && (size_t)w < room - *used)
        *used += (size_t)w;
    if (d < *best && d < strlen(key)) {
        *best = d;
        *near = name;
    }
}

static int cs_unknown(const struct cm_section_value *v, const char *const *core,
                      const struct cm_conf_key *declared, const char *what, char *err,
                      size_t errlen)
{
    char known[768] = "", hint[96] = "";
    const char *near = NULL;
    size_t used = 0, best = 3;

    for (size_t i = 0; core[i]; i++)
        cs_known(core[i], v->key, known, sizeof(known), &used, &near, &best);
    for (size_t i = 0; declared[i].name; i++)
        cs_known(declared[i].name, v->key, known, sizeof(known), &used, &near, &best);
    if (near)
        snprintf(hint, sizeof(hint), "did you mean \"%s\"? ", near);
    snprintf(err, errlen, "%s:%d: %s: unknown key \"%s\": %sthe keys known here are %s",
             v->file ? v->file : "?", v->line, what, v->key, hint, known);
    return CM_EINVAL;
}

/* Whether v's type is the declared one (a single string counts as a list of one). */
static int cs_type_ok(const struct cm_section_value *v, int type)
{
    switch (type) {
    case CM_CONF_STRING: return v->type == CM_SV_STRING;
    case CM_CONF_INT: return v->type == CM_SV_INT;
    case CM_CONF_BOOL: return v->type == CM_SV_BOOL;
    case CM_CONF_LIST: return v->type == CM_SV_LIST || v->type == CM_SV_STRING;
    default: return 1;
    }
}

static const char *cs_type_hint(int type)
{
    switch (type) {
    case CM_CONF_STRING: return "a string in double quotes";
    case CM_CONF_INT: return "a whole number, without quotes";
    case CM_CONF_BOOL: return "true or false, without quotes";
    default: return "a list of strings, e.g. [ \"a\", \"b\" ]";
    }
}

int cm_section_check_keys(const struct cm_section *s, const char *const *core,
                          const struct cm_conf_key *declared, const char *what, char *err,
                          size_t errlen)
{
    for (size_t i = 0; declared && s && i < s->n; i++) {
        const struct cm_section_value *v = &s->v[i];
        const struct cm_conf_key *k = declared;
        size_t c = 0;

        while (core[c] && strcmp(core[c], v->key) != 0)
            c++;
        if (core[c])
            continue; /* the core checks its own keys as it reads them */
        while (k->name && strcmp(k->name, v->key) != 0)
            k++;
        if (!k->name)
            return cs_unknown(v, core, declared, what, err, errlen);
        if (!cs_type_ok(v, k->type)) {
            snprintf(err, errlen, "%s:%d: %s: %s must be %s", v->file ? v->file : "?", v->line,
                     what, v->key, cs_type_hint(k->type));
            return CM_EINVAL;
        }
    }
    return CM_OK;
}

/* ---- struct cm_config ---- */

struct cm_config *cm_config_new(const char *dir)
{
    struct cm_config *cfg = calloc(1, sizeof(*cfg));

    if (!cfg)
        return NULL;
    cfg->dir = strdup(dir);
    cfg->listen = strdup("127.0.0.1:8080");
    cfg->data_dir = strdup("var");
    cfg->max_body = 1048576;
    cfg->workers = 4;
    cfg->max_connections = 256;
    cfg->connection_timeout = 30;
    cfg->sync_max_age = 86400;
    cfg->dedupe_max_age = 259200;
    cfg->max_connections_per_ip = 32;
    cfg->request_timeout = 30;
    cfg->max_blob_size = 104857600;
    cfg->git_timeout = 120;
    cfg->max_queued = 100000;
    cfg->max_queued_per_endpoint = 10000;
    cfg->new_repositories_per_hour = 100;
    cfg->max_refs_per_event = 1000;
    cfg->missing_repository_max_age = 600;
    cfg->gone_repository_max_age = 86400;
    cfg->stop_timeout = 10;
    cfg->healthz_max_due_age = 3600;
    cfg->reconcile_interval = 600;
    cfg->reconcile_per_host = 2;
    cfg->reconcile_spacing_ms = 500;
    cfg->http_threads = 16;
    cfg->sync_coalesce_ms = 200;
    cfg->delivery_log_max_age = 2592000;
    cfg->delivery_log_max_entries = 20000;
    cfg->payload_retention = 604800;
    cfg->payload_max_bytes = 268435456;
    cfg->queue_backend = strdup("spool");
    cfg->queue_connections = 8;
    cfg->queue_lease_seconds = 30;
    cfg->queue_timeout_ms = 5000;
    if (!cfg->dir || !cfg->listen || !cfg->data_dir || !cfg->queue_backend) {
        cm_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void cm_config_free(struct cm_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->dir);
    free(cfg->listen);
    free(cfg->data_dir);
    free(cfg->admin_token);
    free(cfg->queue_backend);
    free(cfg->queue_conninfo);
    free(cfg->auth_user);
    free(cfg->auth_token);
    free(cfg->ssh_key);
    free(cfg->ssh_passphrase);
    free(cfg->ssh_known_hosts);
    free(cfg->ssl_ca_file);
    cm_config_strings_free(cfg->plugin_path, cfg->n_plugin_path);
    free(cfg->trusted_proxies);
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        struct cm_endpoint_conf *ep = &cfg->endpoints[i];
        free(ep->name);
        free(ep->provider);
        free(ep->url);
        cm_config_strings_free(ep->secrets, ep->n_secrets);
        free(ep->clone_url);
        free(ep->ssh_url);
        free(ep->auth_user);
        free(ep->auth_token);
        free(ep->ssl_ca_file);
        free(ep->ssh_key);
        free(ep->ssh_passphrase);
        free(ep->ssh_known_hosts);
        free(ep->allow_from);
        cm_config_strings_free(ep->repositories, ep->n_repositories);
        cm_section_free(ep->section);
        free(ep->file);
    }
    free(cfg->endpoints);
    for (size_t i = 0; i < cfg->n_syncs; i++) {
        free(cfg->syncs[i].plugin);
        cm_section_free(cfg->syncs[i].section);
        cm_config_strings_free(cfg->syncs[i].tokens, cfg->syncs[i].n_tokens);
        free(cfg->syncs[i].file);
        free(cfg->syncs[i].name);
    }
    free(cfg->syncs);
    for (size_t i = 0; i < cfg->n_disabled; i++) {
        free(cfg->disabled[i].what);
        free(cfg->disabled[i].file);
    }
    free(cfg->disabled);
    free(cfg);
}

const struct cm_endpoint_conf *cm_config_endpoint(const struct cm_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_endpoints; i++)
        if (cfg->endpoints[i].name && strcmp(cfg->endpoints[i].name, name) == 0)
            return &cfg->endpoints[i];
    return NULL;
}

/* ---- files around the parser ---- */

static int cs_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular, not hidden files of dir whose names end in suffix (and are longer), sorted. */
static int cs_list(const char *dir, const char *suffix, char ***out, size_t *n, char *err,
                   size_t errlen)
{
    DIR *d = opendir(dir);
    size_t slen = strlen(suffix);
    struct dirent *de;
    int rc = CM_OK;

    *out = NULL;
    *n = 0;
    if (!d) {
        snprintf(err, errlen,
                 "%s: cannot open the configuration directory: %s (give the "
                 "directory holding the *.conf files with -c)",
                 dir, strerror(errno));
        return CM_EINVAL;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char path[PATH_MAX];
        struct stat sb;
        char **p;

        if (de->d_name[0] == '.' || len <= slen || strcmp(de->d_name + len - slen, suffix) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        p = realloc(*out, (*n + 1) * sizeof(**out));
        if (!p || !(p[*n] = strdup(de->d_name))) {
            if (p)
                *out = p;
            snprintf(err, errlen, "out of memory");
            rc = CM_ENOMEM;
            break;
        }
        *out = p;
        (*n)++;
    }
    closedir(d);
    if (rc == CM_OK && *n > 1)
        qsort(*out, *n, sizeof(**out), cs_cmp);
    return rc;
}

int cm_config_list(const char *dir, char ***out, size_t *n, char *err, size_t errlen)
{
    int rc = cs_list(dir, ".conf", out, n, err, errlen);

    if (rc == CM_OK && *n == 0) {
        snprintf(err, errlen,
                 "%s: no *.conf file in the configuration directory: give the "
                 "directory holding them with -c",
                 dir);
        rc = CM_EINVAL;
    }
    return rc;
}

int cm_config_list_dist(const char *dir, char ***out, size_t *n)
{
    char err[PATH_MAX + 128];

    return cs_list(dir, ".dist", out, n, err, sizeof(err));
}

__attribute__((format(printf, 3, 4))) static int cs_fail(char *msg, size_t msglen, const char *fmt,
                                                         ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return CM_EINVAL;
}

int cm_config_read_secret(const char *dir, const char *file, char **out, char *msg, size_t msglen)
{
    char path[PATH_MAX], *buf = NULL;
    size_t len = 0;
    int rc = CM_OK;
    FILE *f;

    *out = NULL;
    if (file[0] != '/' && dir)
        snprintf(path, sizeof(path), "%s/%s", dir, file);
    else
        snprintf(path, sizeof(path), "%s", file);
    f = fopen(path, "rb");
    if (f && !(buf = malloc(CS_SECRET_MAX + 1))) {
        rc = CM_ENOMEM;
        goto out;
    }
    if (f)
        len = fread(buf, 1, CS_SECRET_MAX + 1, f);
    if (!f || ferror(f)) {
        rc = cs_fail(msg, msglen, "cannot read secret_file %s: %s", path, strerror(errno));
        goto out;
    }
    if (len > CS_SECRET_MAX) {
        rc = cs_fail(msg, msglen,
                     "secret_file %s is larger than %d bytes: it should hold only "
                     "the secret",
                     path, CS_SECRET_MAX);
        goto out;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    if (len == 0)
        rc = cs_fail(msg, msglen,
                     "secret_file %s is empty: write the secret into it, or remove "
                     "secret_file to accept unsigned hooks",
                     path);
    else if (strlen(buf) != len)
        rc = cs_fail(msg, msglen,
                     "secret_file %s contains a NUL byte: it should hold only the "
                     "secret as text",
                     path);
out:
    if (rc == CM_OK)
        *out = buf;
    else
        free(buf);
    if (f)
        fclose(f);
    return rc;
}

int cm_config_ca_file(const char *dir, const char *file, char **out, char *msg, size_t msglen)
{
    char path[PATH_MAX], line[256];
    int rc = CM_OK, pem = 0;
    FILE *f = NULL;

    *out = NULL;
    if (file[0] != '/' && dir)
        snprintf(path, sizeof(path), "%s/%s", dir, file);
    else
        snprintf(path, sizeof(path), "%s", file);
    errno = 0;
    if (!(*out = realpath(path, NULL)) || !(f = fopen(*out, "r"))) {
        rc = errno == ENOMEM ? CM_ENOMEM
                             : cs_fail(msg, msglen,
                                       "cannot read %s: %s: give the PEM file "
                                       "holding your CA's certificate",
                                       path, strerror(errno));
        goto out;
    }
    while (!pem && fgets(line, sizeof(line), f))
        pem = strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0;
    if (ferror(f))
        rc = cs_fail(msg, msglen,
                     "cannot read %s: %s: give the PEM file holding your CA's "
                     "certificate",
                     path, strerror(errno));
    else if (!pem)
        rc = cs_fail(msg, msglen,
                     "%s holds no \"-----BEGIN CERTIFICATE-----\" line: give the "
                     "CA certificate in PEM form (convert DER with `openssl x509 -inform der`)",
                     path);
out:
    if (f)
        fclose(f);
    if (rc != CM_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}
