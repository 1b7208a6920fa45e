/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX */
#endif

/*
 * One endpoint = { ... }: its name and provider, the host's URLs as the fetch-URL policy
 * reads them, the secret, CA file, SSH identity, allow_from and limits. A later file's group
 * naming the endpoint refines it key by key; enabled = false leaves it out. Every key stays in
 * its section for the provider too.
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
static int cf_secret_add(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx,
                         const char *key, char *value)
{
    if (!value || !*value) {
        free(value);
        return CM_OK;
    }
    if (ep->n_secrets == CF_SECRETS_MAX) {
        free(value);
        return cf_fail_key(st, ep->section, key,
                           "%s: %s holds more than %d secrets: keep the new and the old one", ctx,
                           key, CF_SECRETS_MAX);
    }
    ep->secrets[ep->n_secrets++] = value;
    ep->secret = ep->secrets[0];
    return CM_OK;
}

/* secret = "s", secrets = [ "new", "old" ] or secret_file = "f" / [ "f.new", "f.old" ]: one
 * of the three, each value or file a secret that verifies a delivery. */
static int cf_endpoint_secret(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx)
{
    const struct cm_section *sec = ep->section;
    const struct cm_section_value *one = cm_section_find(sec, "secret");
    /* secret = "" is no secret: so a site file's secret_file may stand beside the shipped
     * secret = "${VAR:-}", which a refinement cannot remove. */
    if (one && one->type == CM_SV_STRING && !*one->str)
        one = NULL;
    const struct cm_section_value *many = cm_section_find(sec, "secrets");
    const struct cm_section_value *sf = cm_section_find(sec, "secret_file");
    const char *key = sf ? "secret_file" : many ? "secrets" : "secret";
    const struct cm_section_value *v = sf ? sf : many ? many : one;
    char *value = NULL, msg[1024];
    size_t n;
    int rc = CM_OK;

    if (one && many)
        return cf_fail_key(st, sec, "secrets",
                           "%s: both secret and secrets are set: keep only secrets = [ \"new\", "
                           "\"old\" ]",
                           ctx);
    if (sf && one)
        return cf_fail_key(st, sec, key, "%s: both secret and secret_file are set: keep only one",
                           ctx);
    if (sf && many)
        return cf_fail_key(st, sec, key, "%s: both secrets and secret_file are set: keep only one",
                           ctx);
    if (!v)
        return CM_OK;
    if (v->type != CM_SV_STRING && (v->type != CM_SV_LIST || one))
        return cf_fail_key(st, sec, key,
                           one ? "%s: %s must be a string in double quotes (for several, write "
                                 "secrets = [ \"new\", \"old\" ])"
                               : "%s: %s must be a list of strings, e.g. [ \"new\", \"old\" ]",
                           ctx, key);
    n = v->type == CM_SV_STRING ? 1 : v->n_list;
    if (n == 0)
        return cf_fail_key(st, sec, key,
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
            rc = cf_relay_key(st, sec, key,
                              cm_config_read_secret(st->dir, text, &value, msg, sizeof(msg)), ctx,
                              msg);
        if (rc == CM_OK)
            rc = cf_secret_add(st, ep, ctx, key, value);
        value = NULL;
    }
    return rc;
}

static int cf_endpoint_ca(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx)
{
    char msg[1024], what[200], *abs = NULL;
    int rc = cf_entry_string(st, ep->section, ctx, "ssl_ca_file", &ep->ssl_ca_file);

    snprintf(what, sizeof(what), "%s: ssl_ca_file", ctx);
    if (rc != CM_OK || !ep->ssl_ca_file)
        return rc;
    rc = cf_relay_key(st, ep->section, "ssl_ca_file",
                      cm_config_ca_file(st->dir, ep->ssl_ca_file, &abs, msg, sizeof(msg)), what,
                      msg);
    free(ep->ssl_ca_file);
    ep->ssl_ca_file = abs;
    return rc;
}

/* ssh_key, ssh_passphrase, ssh_known_hosts: the endpoint's own SSH identity. A passphrase
 * without a key of its own would silently unlock git.ssh_key instead. */
static int cf_endpoint_ssh(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx)
{
    int rc = cf_entry_string(st, ep->section, ctx, "ssh_key", &ep->ssh_key);

    if (rc == CM_OK)
        rc = cf_entry_string(st, ep->section, ctx, "ssh_passphrase", &ep->ssh_passphrase);
    if (rc == CM_OK)
        rc = cf_entry_string(st, ep->section, ctx, "ssh_known_hosts", &ep->ssh_known_hosts);
    if (rc == CM_OK && ep->ssh_passphrase && !ep->ssh_key)
        return cf_fail_key(st, ep->section, "ssh_passphrase",
                           "%s: ssh_passphrase is set but ssh_key is not: the passphrase goes "
                           "with the endpoint's own ssh_key (git.ssh_passphrase goes with "
                           "git.ssh_key)",
                           ctx);
    return rc;
}

static int cf_endpoint_allow(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx)
{
    const struct cm_section_value *v = cm_section_find(ep->section, "allow_from");
    size_t n;

    if (!v)
        return CM_OK;
    n = v->type == CM_SV_STRING ? 1 : v->n_list;
    if (v->type != CM_SV_STRING && v->type != CM_SV_LIST)
        return cf_fail_key(st, ep->section, "allow_from",
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
            return cf_fail_key(st, ep->section, "allow_from",
                               "%s: allow_from entry \"%s\" is not an address or CIDR "
                               "range: write e.g. \"10.0.0.0/8\", \"192.0.2.7\" or "
                               "\"2001:db8::/32\"",
                               ctx, text);
        ep->n_allow_from++;
    }
    return CM_OK;
}

/* url, ssh_url and clone_url, each parsed as the fetch-URL policy will read it. */
static int cf_endpoint_urls(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx)
{
    struct cm_url u;
    char probe[2048];
    int rc = cf_entry_string(st, ep->section, ctx, "url", &ep->url);

    if (rc == CM_OK && ep->url) {
        size_t len = strlen(ep->url);
        if (cm_url_parse(ep->url, &u) != CM_OK ||
            (strcmp(u.scheme, "https") && strcmp(u.scheme, "http")))
            return cf_fail_key(st, ep->section, "url",
                               "%s: url \"%s\" must be the host's address starting with http:// or "
                               "https://, e.g. \"https://git.example.com\" (or \"\" for none)",
                               ctx, ep->url);
        /* One spelling of the base, so clone URLs compare with a plain prefix test. */
        while (len > 0 && ep->url[len - 1] == '/')
            ep->url[--len] = '\0';
    }
    if (rc == CM_OK)
        rc = cf_entry_string(st, ep->section, ctx, "ssh_url", &ep->ssh_url);
    if (rc == CM_OK && ep->ssh_url &&
        (cm_url_parse(ep->ssh_url, &u) != CM_OK || u.scp || strcmp(u.scheme, "ssh")))
        return cf_fail_key(st, ep->section, "ssh_url",
                           "%s: ssh_url \"%s\" must be the host's SSH address, e.g. "
                           "\"ssh://git@git.example.com:7999\" (a path only where the host "
                           "serves repositories under one)",
                           ctx, ep->ssh_url);
    if (rc == CM_OK && ep->ssh_url) { /* one spelling, as for url */
        size_t n = strlen(ep->ssh_url);
        while (n > 0 && ep->ssh_url[n - 1] == '/')
            ep->ssh_url[--n] = '\0';
    }
    if (rc == CM_OK)
        rc = cf_entry_string(st, ep->section, ctx, "clone_url", &ep->clone_url);
    if (rc == CM_OK && ep->clone_url && !strstr(ep->clone_url, "{repository}"))
        return cf_fail_key(st, ep->section, "clone_url",
                           "%s: clone_url \"%s\" has no {repository} placeholder: write e.g. "
                           "\"https://mirror.example.com/scm/{repository}.git\"",
                           ctx, ep->clone_url);
    /* The name must land in the path: a template whose host is the name lets the sender pick it. */
    if (rc == CM_OK && ep->clone_url &&
        (cm_url_expand(ep->clone_url, "o/r", probe, sizeof(probe)) != CM_OK ||
         cm_url_parse(probe, &u) != CM_OK ||
         strstr(ep->clone_url, "{repository}") - ep->clone_url < u.path - probe))
        return cf_fail_key(st, ep->section, "clone_url",
                           "%s: clone_url \"%s\" must be a git URL (https://, ssh://, git:// or "
                           "user@host:path) with {repository} in its path, e.g. "
                           "\"https://mirror.example.com/scm/{repository}.git\"",
                           ctx, ep->clone_url);
    return rc;
}

/* repositories = [ "tools/cli", ... ]: the allow-list of an organisation-wide hook. An
 * empty list would silently ignore every push, so it is refused like a malformed pattern. */
static int cf_endpoint_repositories(struct cf_state *st, struct cm_endpoint_conf *ep,
                                    const char *ctx)
{
    const struct cm_section_value *v = cm_section_find(ep->section, "repositories");
    char why[200];
    size_t n;

    if (!v)
        return CM_OK;
    if (v->type != CM_SV_STRING && v->type != CM_SV_LIST)
        return cf_fail_key(st, ep->section, "repositories",
                           "%s: repositories must be a list of repository names or patterns, e.g. "
                           "[ \"acme/*\", \"tools/cli\" ]",
                           ctx);
    n = v->type == CM_SV_STRING ? 1 : v->n_list;
    if (n == 0)
        return cf_fail_key(st, ep->section, "repositories",
                           "%s: repositories is empty, so every push would be ignored: list the "
                           "repositories to accept, e.g. [ \"acme/*\" ], or remove the key to "
                           "accept all",
                           ctx);
    if (!(ep->repositories = calloc(n, sizeof(*ep->repositories))))
        return cf_oom(st);
    for (size_t i = 0; i < n; i++) {
        const char *text = v->type == CM_SV_STRING ? v->str : v->list[i];
        if (cm_path_glob_check(text, why, sizeof(why)) != CM_OK)
            return cf_fail_key(st, ep->section, "repositories",
                               "%s: repositories entry \"%.200s\" %s", ctx, text, why);
        if (cf_strdup(st, text, &ep->repositories[i]) != CM_OK)
            return CM_ENOMEM;
        ep->n_repositories++;
    }
    return CM_OK;
}

/* allow_unsigned: an endpoint without a secret that the operator means to keep so. */
static int cf_endpoint_unsigned(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx)
{
    int rc = cf_entry_bool(st, ep->section, ctx, "allow_unsigned", &ep->allow_unsigned);

    if (rc == CM_OK && ep->allow_unsigned && ep->secret)
        return cf_fail_key(st, ep->section, "allow_unsigned",
                           "%s: allow_unsigned = true but a secret is set: remove one of the two",
                           ctx);
    return rc;
}

/* Every key the core reads, from the endpoint's section once all files are merged into it. */
static int cf_endpoint_keys(struct cf_state *st, struct cm_endpoint_conf *ep, const char *ctx)
{
    int rc = cf_entry_name(st, ep->section, ctx, "provider", "github", &ep->provider);

    if (rc == CM_OK)
        rc = cf_endpoint_urls(st, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_secret(st, ep, ctx);
    if (rc == CM_OK)
        rc = cf_entry_string(st, ep->section, ctx, "auth_user", &ep->auth_user);
    if (rc == CM_OK)
        rc = cf_entry_string(st, ep->section, ctx, "auth_token", &ep->auth_token);
    if (rc == CM_OK)
        rc = cf_endpoint_ca(st, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_ssh(st, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_allow(st, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_unsigned(st, ep, ctx);
    if (rc == CM_OK)
        rc = cf_endpoint_repositories(st, ep, ctx);
    ep->max_queued = ep->new_repositories_per_hour = ep->reconcile_interval = -1;
    if (rc == CM_OK)
        rc = cf_entry_int(st, ep->section, ctx, "max_queued", 1,
                          "entries not yet synced; unset: server.max_queued_per_endpoint",
                          &ep->max_queued);
    if (rc == CM_OK)
        rc = cf_entry_int(st, ep->section, ctx, "new_repositories_per_hour", 0,
                          "0: no limit; unset: server.new_repositories_per_hour",
                          &ep->new_repositories_per_hour);
    if (rc == CM_OK)
        rc = cf_entry_int(st, ep->section, ctx, "reconcile_interval", 0,
                          "seconds, 0: off; unset: server.reconcile_interval",
                          &ep->reconcile_interval);
    return rc;
}

/* The names that say which endpoint a group is: a refinement keeps the first group's. */
static const char *const cf_endpoint_ids[] = {"name", NULL};

/* A group naming an endpoint no earlier group named: it needs its provider. */
static int cf_endpoint_new(struct cf_state *st, char *name, char *file, int line,
                           struct cm_section *sec, const char *ctx)
{
    struct cm_config *cfg = st->cfg;
    struct cm_endpoint_conf *ep;
    int rc = cf_grow(st, (void **)&cfg->endpoints, cfg->n_endpoints, sizeof(*cfg->endpoints));

    if (rc == CM_OK && !cm_section_find(sec, "provider"))
        rc = cf_fail_key(st, NULL, "provider",
                         "%s: provider is missing or empty: add provider = \"github\"; (a file "
                         "that changes an endpoint defined in another file must sort after it, "
                         "e.g. 50-site.conf)",
                         ctx);
    if (rc != CM_OK) {
        free(name);
        free(file);
        cm_section_free(sec);
        return rc;
    }
    ep = &cfg->endpoints[cfg->n_endpoints++];
    ep->name = name;
    ep->file = file;
    ep->line = line;
    ep->section = sec;
    return CM_OK;
}

int cf_endpoint(struct cf_state *st, const config_setting_t *grp)
{
    struct cm_endpoint_conf *ep = NULL;
    struct cm_section *sec = NULL;
    const char *raw = NULL;
    char ctx[160], *file = NULL, *name = NULL;
    int rc, line;

    if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
        return cf_fail(st, grp,
                       "an endpoint must be a group: { name = \"...\"; provider = "
                       "\"...\"; ... }");
    if (config_setting_lookup_string(grp, "name", &raw) == CONFIG_TRUE)
        snprintf(ctx, sizeof(ctx), "endpoint \"%s\"", raw);
    else
        snprintf(ctx, sizeof(ctx), "endpoint");
    rc = cf_entry_start(st, grp, ctx, &file, &line, &sec);
    st->at_file = file;
    st->at_line = line;
    if (rc == CM_OK)
        rc = cf_entry_name(st, sec, ctx, "name", "my-endpoint", &name);
    for (size_t i = 0; rc == CM_OK && i < st->cfg->n_endpoints; i++)
        if (!strcmp(st->cfg->endpoints[i].name, name))
            ep = &st->cfg->endpoints[i];
    if (rc == CM_OK && !ep)
        return cf_endpoint_new(st, name, file, line, sec, ctx);
    if (rc == CM_OK)
        rc = cf_refine(st, ep->section, sec, ctx, cf_endpoint_ids, "provider");
    free(name);
    free(file);
    cm_section_free(sec);
    return rc;
}

/* enabled = false: the endpoint is left out; its keys are not read, so switching off an
 * endpoint whose secret file is gone still works. */
static int cf_endpoint_enabled(struct cf_state *st, const struct cm_endpoint_conf *ep,
                               const char *ctx, int *on)
{
    const struct cm_section_value *v = cm_section_find(ep->section, "enabled");
    int rc = cf_entry_bool(st, ep->section, ctx, "enabled", on);

    if (rc == CM_OK && !*on)
        rc = cf_disabled_add(st, ctx, v->file, v->line);
    return rc;
}

/* One endpoint once every file is read (cf_entries_finish): off, or its keys read. */
static int cf_endpoint_finish(struct cf_state *st, void *entry, int *on)
{
    struct cm_endpoint_conf *ep = entry;
    char ctx[160];
    int rc;

    snprintf(ctx, sizeof(ctx), "endpoint \"%s\"", ep->name);
    st->at_file = ep->file;
    st->at_line = ep->line;
    rc = cf_endpoint_enabled(st, ep, ctx, on);
    return rc == CM_OK && *on ? cf_endpoint_keys(st, ep, ctx) : rc;
}

/* A switched-off endpoint holds only what cf_endpoint set: its keys were never read. */
static void cf_endpoint_drop(void *entry)
{
    struct cm_endpoint_conf *ep = entry;

    free(ep->name);
    free(ep->file);
    cm_section_free(ep->section);
}

int cf_endpoints_finish(struct cf_state *st)
{
    return cf_entries_finish(st, st->cfg->endpoints, &st->cfg->n_endpoints,
                             sizeof(*st->cfg->endpoints), cf_endpoint_finish, cf_endpoint_drop);
}
