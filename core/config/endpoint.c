/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX */
#endif

/*
 * One endpoint = { ... }: its name and provider, the host's URLs as the fetch-URL policy
 * reads them, the secret, CA file, SSH identity, allow_from and limits. Every key stays in its
 * section for the provider too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "config/parse.h"
#include "util/path_glob.h"
#include "util/url.h"

/* Secrets one endpoint may hold at once: a rotation needs two; each costs an HMAC per delivery. */
#define CF_SECRETS_MAX 16

/* value (the caller's, "" for none) appended to ep->secrets; ep->secret is the first. */
static int cf_secret_add(struct cf_state *st, const config_setting_t *at,
                         struct cm_endpoint_conf *ep, const char *ctx, const char *key, char *value)
{
    if (!value || !*value) {
        free(value);
        return CM_OK;
    }
    if (ep->n_secrets == CF_SECRETS_MAX) {
        free(value);
        return cf_fail(st, at, "%s: %s holds more than %d secrets: keep the new and the old one",
                       ctx, key, CF_SECRETS_MAX);
    }
    ep->secrets[ep->n_secrets++] = value;
    ep->secret = ep->secrets[0];
    return CM_OK;
}

/* secret = "s", secrets = [ "new", "old" ] or secret_file = "f" / [ "f.new", "f.old" ]: one
 * of the three, each value or file a secret that verifies a delivery. */
static int cf_endpoint_secret(struct cf_state *st, const config_setting_t *grp,
                              struct cm_endpoint_conf *ep, const char *ctx)
{
    const config_setting_t *one = config_setting_get_member(grp, "secret");
    const config_setting_t *many = config_setting_get_member(grp, "secrets");
    const config_setting_t *sf = config_setting_get_member(grp, "secret_file");
    const config_setting_t *at = sf ? sf : many ? many : one;
    const char *key = sf ? "secret_file" : many ? "secrets" : "secret";
    const struct cm_section_value *v = cm_section_find(ep->section, key);
    char *value = NULL, msg[1024];
    size_t n;
    int rc = CM_OK;

    if (one && many)
        return cf_fail(st, many,
                       "%s: both secret and secrets are set: keep only secrets = [ \"new\", "
                       "\"old\" ]",
                       ctx);
    if (sf && one)
        return cf_fail(st, sf, "%s: both secret and secret_file are set: keep only one", ctx);
    if (sf && many)
        return cf_fail(st, sf, "%s: both secrets and secret_file are set: keep only one", ctx);
    if (!v)
        return CM_OK;
    if (v->type != CM_SV_STRING && (v->type != CM_SV_LIST || one))
        return cf_fail(st, at,
                       one ? "%s: %s must be a string in double quotes (for several, write "
                             "secrets = [ \"new\", \"old\" ])"
                           : "%s: %s must be a list of strings, e.g. [ \"new\", \"old\" ]",
                       ctx, key);
    n = v->type == CM_SV_STRING ? 1 : v->n_list;
    if (n == 0)
        return cf_fail(st, at,
                       "%s: %s is an empty list: give at least one, e.g. %s = [ \"%s\" ], "
                       "or remove it",
                       ctx, key, key, sf ? "/etc/cargoman/gh.secret" : "new");
    ep->secrets = calloc(n, sizeof(*ep->secrets));
    if (!ep->secrets)
        return cf_oom(st);
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *text = v->type == CM_SV_STRING ? v->str : v->list[i];
        if (!sf)
            rc = *text ? cf_strdup(st, text, &value) : CM_OK;
        else if (*text)
            rc = cf_relay(st, at, cm_config_read_secret(st->dir, text, &value, msg, sizeof(msg)),
                          ctx, msg);
        if (rc == CM_OK)
            rc = cf_secret_add(st, at, ep, ctx, key, value);
        value = NULL;
    }
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

/* ssh_key, ssh_passphrase, ssh_known_hosts: the endpoint's own SSH identity. A passphrase
 * without a key of its own would silently unlock git.ssh_key instead. */
static int cf_endpoint_ssh(struct cf_state *st, const config_setting_t *grp,
                           struct cm_endpoint_conf *ep, const char *ctx)
{
    int rc = cf_entry_string(st, grp, ep->section, ctx, "ssh_key", &ep->ssh_key);

    if (rc == CM_OK)
        rc = cf_entry_string(st, grp, ep->section, ctx, "ssh_passphrase", &ep->ssh_passphrase);
    if (rc == CM_OK)
        rc = cf_entry_string(st, grp, ep->section, ctx, "ssh_known_hosts", &ep->ssh_known_hosts);
    if (rc == CM_OK && ep->ssh_passphrase && !ep->ssh_key)
        return cf_fail(st, config_setting_get_member(grp, "ssh_passphrase"),
                       "%s: ssh_passphrase is set but ssh_key is not: the passphrase goes with "
                       "the endpoint's own ssh_key (git.ssh_passphrase goes with git.ssh_key)",
                       ctx);
    return rc;
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

/* repositories = [ "tools/cli", ... ]: the allow-list of an organisation-wide hook. An
 * empty list would silently ignore every push, so it is refused like a malformed pattern. */
static int cf_endpoint_repositories(struct cf_state *st, const config_setting_t *grp,
                                    struct cm_endpoint_conf *ep, const char *ctx)
{
    const config_setting_t *m = config_setting_get_member(grp, "repositories");
    const struct cm_section_value *v = cm_section_find(ep->section, "repositories");
    char why[200];
    size_t n;

    if (!v)
        return CM_OK;
    if (v->type != CM_SV_STRING && v->type != CM_SV_LIST)
        return cf_fail(st, m,
                       "%s: repositories must be a list of repository names or patterns, e.g. "
                       "[ \"acme/*\", \"tools/cli\" ]",
                       ctx);
    n = v->type == CM_SV_STRING ? 1 : v->n_list;
    if (n == 0)
        return cf_fail(st, m,
                       "%s: repositories is empty, so every push would be ignored: list the "
                       "repositories to accept, e.g. [ \"acme/*\" ], or remove the key to "
                       "accept all",
                       ctx);
    if (!(ep->repositories = calloc(n, sizeof(*ep->repositories))))
        return cf_oom(st);
    for (size_t i = 0; i < n; i++) {
        const char *text = v->type == CM_SV_STRING ? v->str : v->list[i];
        if (cm_path_glob_check(text, why, sizeof(why)) != CM_OK)
            return cf_fail(st, m, "%s: repositories entry \"%.200s\" %s", ctx, text, why);
        if (cf_strdup(st, text, &ep->repositories[i]) != CM_OK)
            return CM_ENOMEM;
        ep->n_repositories++;
    }
    return CM_OK;
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

int cf_endpoint(struct cf_state *st, const config_setting_t *grp)
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
        rc = cf_endpoint_ssh(st, grp, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_allow(st, grp, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_unsigned(st, grp, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_repositories(st, grp, ep, ctx);
    ep->max_queued = ep->new_repositories_per_hour = ep->reconcile_interval = -1;
    if (rc == CM_OK)
        rc = cf_entry_int(st, grp, ep->section, ctx, "max_queued", 1,
                          "entries not yet synced; unset: server.max_queued_per_endpoint",
                          &ep->max_queued);
    if (rc == CM_OK)
        rc = cf_entry_int(st, grp, ep->section, ctx, "new_repositories_per_hour", 0,
                          "0: no limit; unset: server.new_repositories_per_hour",
                          &ep->new_repositories_per_hour);
    if (rc == CM_OK)
        rc = cf_entry_int(st, grp, ep->section, ctx, "reconcile_interval", 0,
                          "seconds, 0: off; unset: server.reconcile_interval",
                          &ep->reconcile_interval);
    return rc;
}
