/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX */
#endif

/*
 * The server = { ... }, queue = { ... } and git = { ... } groups: one table of keys read into
 * struct cm_config by offset, each key set once across all files, a typo answered with the nearest
 * known key.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cargoman/plugin.h>

#include "config/parse.h"

/* The settings of server and git, read into struct cm_config by offset. */
enum cf_kind {
    CF_K_LISTEN,
    CF_K_PATH,
    CF_K_OPT,
    CF_K_CA,
    CF_K_INT,
    CF_K_LL,
    CF_K_DIRS,
    CF_K_CIDRS
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
    {"server", "gone_repository_max_age", CF_K_LL, CF_OFF(gone_repository_max_age), 0, LLONG_MAX},
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
    {"server", "plugin_path", CF_K_DIRS, CF_OFF(plugin_path), 0, 0},
    {"server", "reconcile_interval", CF_K_LL, CF_OFF(reconcile_interval), 0, LLONG_MAX},
    {"server", "reconcile_per_host", CF_K_INT, CF_OFF(reconcile_per_host), 1, 64},
    {"server", "reconcile_spacing_ms", CF_K_INT, CF_OFF(reconcile_spacing_ms), 0, 3600000},
    {"server", "http_threads", CF_K_INT, CF_OFF(http_threads), 1, 1024},
    {"server", "sync_coalesce_ms", CF_K_INT, CF_OFF(sync_coalesce_ms), 0, 60000},
    {"server", "delivery_log_max_age", CF_K_LL, CF_OFF(delivery_log_max_age), 1, LLONG_MAX / 4},
    {"server", "delivery_log_max_entries", CF_K_LL, CF_OFF(delivery_log_max_entries), 1, 10000000},
    {"server", "payload_retention", CF_K_LL, CF_OFF(payload_retention), 0, LLONG_MAX / 4},
    {"server", "payload_max_bytes", CF_K_LL, CF_OFF(payload_max_bytes), 0, LLONG_MAX / 4},
    {"server", "trusted_proxies", CF_K_CIDRS, CF_OFF(trusted_proxies), 0, 0},
    {"queue", "backend", CF_K_OPT, CF_OFF(queue_backend), 0, 0},
    {"queue", "conninfo", CF_K_OPT, CF_OFF(queue_conninfo), 0, 0},
    {"queue", "connections", CF_K_INT, CF_OFF(queue_connections), 2, 1000},
    {"queue", "lease_seconds", CF_K_INT, CF_OFF(queue_lease_seconds), 2, 86400},
    {"queue", "timeout_ms", CF_K_INT, CF_OFF(queue_timeout_ms), 100, 3600000},
};
#define CF_NKEYS (sizeof(cf_keys) / sizeof(cf_keys[0]))
_Static_assert(CF_NKEYS <= CF_MAX_KEYS, "raise CF_MAX_KEYS in parse.h");

static int cf_unknown_key(struct cf_state *st, const config_setting_t *m, const char *group)
{
    char known[1024] = "", hint[96] = "";
    size_t best = 3, used = 0;

    for (size_t i = 0; i < CF_NKEYS; i++) {
        if (strcmp(cf_keys[i].group, group) != 0)
            continue;
        int w =
            snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "", cf_keys[i].name);
        if (w > 0 && (size_t)w < sizeof(known) - used)
            used += (size_t)w;
        size_t d = cm_config_key_distance(config_setting_name(m), cf_keys[i].name);
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

/* server.trusted_proxies: addresses or CIDR ranges, as allow_from takes them. */
static int cf_trusted_proxies(struct cf_state *st, const config_setting_t *m, const char *what)
{
    char **list = NULL;
    size_t n = 0;
    int rc = cf_string_list(st, m, what, &list, &n);

    if (rc == CM_OK && n && !(st->cfg->trusted_proxies = calloc(n, sizeof(struct cm_cidr))))
        rc = cf_oom(st);
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        if (cm_cidr_parse(list[i], &st->cfg->trusted_proxies[i]) != CM_OK)
            rc = cf_fail(st, m,
                         "%s: \"%s\" is not an address or CIDR range: write the reverse "
                         "proxy's address as the gateway sees it, e.g. \"127.0.0.1\" or "
                         "\"10.0.0.0/8\"",
                         what, list[i]);
        else
            st->cfg->n_trusted_proxies++;
    }
    cm_config_strings_free(list, n);
    return rc;
}

static int cf_known_value(struct cf_state *st, const config_setting_t *m, const struct cf_key *k)
{
    void *field = (char *)st->cfg + k->off;
    char what[96], *s = NULL;
    unsigned port;
    int rc;

    snprintf(what, sizeof(what), "%s.%s", k->group, k->name);
    if (k->kind == CF_K_DIRS)
        return cf_plugin_path(st, m, what);
    if (k->kind == CF_K_CIDRS)
        return cf_trusted_proxies(st, m, what);
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
    if (rc == CM_OK && k->off == CF_OFF(queue_backend) &&
        (!s || (strcmp(s, "spool") != 0 && strcmp(s, "postgresql") != 0)))
        rc = cf_fail(st, m,
                     "%s = \"%s\": write \"spool\" (the default, one machine) or "
                     "\"postgresql\" (several gateways sharing one database)",
                     what, s ? s : "");
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

int cf_settings_group(struct cf_state *st, const config_setting_t *grp, const char *group)
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

int cf_settings_known(const char *group)
{
    for (size_t k = 0; k < CF_NKEYS; k++)
        if (!strcmp(cf_keys[k].group, group))
            return 1;
    return 0;
}
