/* SPDX-License-Identifier: MIT */
/*
 * The fetch-URL policy (fetch_url.h). Origins are compared on parsed URLs (url.c), never on
 * text, so "host.evil", "evil@host" and "evil:x://host" cannot pass for the endpoint's host.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "plugin/gateway.h"
#include "plugin/loader.h"
#include "util/url.h"

/* 1 when path lies under base's path ("" or "/" is everything), at a segment boundary. */
static int fu_under(const char *path, const char *base)
{
    size_t n = strlen(base);

    while (n > 0 && base[n - 1] == '/')
        n--;
    return n == 0 || (!strncmp(path, base, n) && (path[n] == '/' || path[n] == '\0'));
}

/* The template's own origin against what came out once the repository was put in. */
static int fu_from_template(const struct cm_endpoint_conf *ec, const char *repo, char *out,
                            size_t outlen, char *why, size_t whylen, char *detail, size_t detaillen)
{
    struct cm_url want, got;
    char probe[2048];

    if (cm_url_expand(ec->clone_url, "o/r", probe, sizeof(probe)) != CM_OK ||
        cm_url_parse(probe, &want) != CM_OK ||
        cm_url_expand(ec->clone_url, repo, out, outlen) != CM_OK ||
        cm_url_parse(out, &got) != CM_OK || !cm_url_same_origin(&want, &got)) {
        snprintf(why, whylen, "the repository name cannot be fetched through this endpoint");
        snprintf(detail, detaillen,
                 "clone_url of endpoint \"%s\" (%s) with repository \"%s\" does not give a "
                 "URL on the template's own host",
                 ec->name, ec->file, repo);
        return CM_EINVAL;
    }
    return CM_OK;
}

/* 1 when text (len bytes) is want, or want with ".git" after it, regardless of case. */
static int fu_same_name(const char *text, size_t len, const char *want)
{
    size_t n = strlen(want);

    return (len == n || (len == n + 4 && !strncasecmp(text + n, ".git", 4))) &&
           !strncasecmp(text, want, n);
}

/* Whether the path of u, below base_path, is the repository repo's own: the provider's clone
 * path with repo put in (Data Center's "scm/KEY/slug.git"), or repo itself with or without
 * ".git" (the SSH forms, which leave "scm/" out), regardless of case as hosts resolve them.
 * Without a clone path (a provider older than SDK 1.2) the path must end with "/repo" or
 * "/repo.git". The repository a delivery names picks the mirror; were the clone URL free, a
 * sender could fill one repository's mirror, and the packages published from it, with another
 * repository's history. */
static int fu_names_repo(const struct cm_url *u, const char *base_path, const char *clone_path,
                         const char *repo)
{
    const char *rest = u->path;
    char expanded[2048];
    size_t n, len;

    while (*rest == '/')
        rest++;
    for (; base_path && *base_path == '/'; base_path++)
        ;
    n = base_path ? strlen(base_path) : 0;
    while (n > 0 && base_path[n - 1] == '/')
        n--;
    if (n) { /* fu_under checked it is there */
        rest += n;
        while (*rest == '/')
            rest++;
    }
    len = strlen(rest);
    while (len > 0 && rest[len - 1] == '/')
        len--;
    if (fu_same_name(rest, len, repo))
        return 1;
    if (clone_path)
        return cm_url_expand(clone_path, repo, expanded, sizeof(expanded)) == CM_OK &&
               strlen(expanded) == len && !strncasecmp(rest, expanded, len);
    for (size_t i = len; i-- > 0;)
        if (rest[i] == '/' && fu_same_name(rest + i + 1, len - i - 1, repo))
            return 1;
    return 0;
}

/* Whether candidate (may be NULL) is on origin, under base_path when it is set, and names
 * repo (*elsewhere set to 1 when only the last fails). */
static int fu_matches(const char *candidate, const struct cm_url *origin, const char *base_path,
                      const char *clone_path, const char *repo, int *elsewhere)
{
    struct cm_url u;

    if (!candidate || cm_url_parse(candidate, &u) != CM_OK || !cm_url_same_origin(&u, origin) ||
        (base_path && !fu_under(u.path, base_path)))
        return 0;
    if (fu_names_repo(&u, base_path, clone_path, repo))
        return 1;
    *elsewhere = 1;
    return 0;
}

int cm_fetch_url(const struct cm_endpoint *ep, int prefer_ssh, const struct cm_event *ev, char *out,
                 size_t outlen, char *why, size_t whylen, char *detail, size_t detaillen)
{
    const struct cm_endpoint_conf *ec = ep->conf;
    const char *repo = cm_event_get(ev, CM_FIELD_REPOSITORY);
    const char *http = cm_event_get(ev, CM_FIELD_CLONE_URL_HTTP);
    const char *ssh = cm_event_get(ev, CM_FIELD_CLONE_URL_SSH);
    struct cm_url base, sshbase;
    int has_ssh = ec->ssh_url && cm_url_parse(ec->ssh_url, &sshbase) == CM_OK, elsewhere = 0;
    const char *clone_path = ep->provider ? cm_provider_clone_path(ep->provider) : NULL;
    const char *pick = NULL;

    if (!repo) {
        snprintf(why, whylen, "the payload names no repository");
        snprintf(detail, detaillen, "%s", why);
        return CM_EINVAL;
    }
    if (ec->clone_url)
        return fu_from_template(ec, repo, out, outlen, why, whylen, detail, detaillen);
    if (!ep->url || cm_url_parse(ep->url, &base) != CM_OK) {
        snprintf(why, whylen,
                 "this endpoint has no url, so the gateway cannot tell which host "
                 "to fetch from; its operator must set url or clone_url");
        snprintf(detail, detaillen,
                 "endpoint \"%s\" has no url: set url (or clone_url) in %s to accept pushes",
                 ec->name, ec->file);
        return CM_EINVAL;
    }
    if (prefer_ssh && has_ssh &&
        fu_matches(ssh, &sshbase, sshbase.path, clone_path, repo, &elsewhere))
        pick = ssh;
    else if (fu_matches(http, &base, base.path, clone_path, repo, &elsewhere))
        pick = http;
    else if (has_ssh && fu_matches(ssh, &sshbase, sshbase.path, clone_path, repo, &elsewhere))
        pick = ssh;
    if (!pick && elsewhere) {
        snprintf(why, whylen,
                 "the clone URL does not name the repository %.300s the payload is about: a "
                 "delivery may only fetch its own repository",
                 repo);
        snprintf(detail, detaillen,
                 "repository %.300s: clone URL %.300s%s%.300s is on the host of endpoint \"%s\" "
                 "but its path is not that repository's (under %s); if the host serves it under "
                 "a context path, put that path in url in %s, or set clone_url",
                 repo, http ? http : "(none)", ssh ? " / " : "", ssh ? ssh : "", ec->name, ep->url,
                 ec->file);
        return CM_EINVAL;
    }
    if (!pick || (size_t)snprintf(out, outlen, "%s", pick) >= outlen) {
        snprintf(why, whylen,
                 "the clone URL of %.300s is not on this endpoint's host (scheme, host and "
                 "port must be the configured ones): send the hook to the endpoint of the host "
                 "the repository lives on",
                 repo);
        snprintf(detail, detaillen,
                 "repository %.300s: clone URL %.300s%s%.300s is not on %s%s%s of endpoint "
                 "\"%s\": fix url%s in %s or set clone_url",
                 repo, http ? http : "(none)", ssh ? " / " : "", ssh ? ssh : "", ep->url,
                 has_ssh ? " / " : "", has_ssh ? ec->ssh_url : "", ec->name,
                 has_ssh ? " or ssh_url" : "", ec->file);
        return CM_EINVAL;
    }
    return CM_OK;
}

int cm_fetch_url_import(const struct cm_endpoint *ep, const char *repository, char *out,
                        size_t outlen, char *why, size_t whylen)
{
    const struct cm_endpoint_conf *ec = ep->conf;
    const char *clone_path = ep->provider ? cm_provider_clone_path(ep->provider) : NULL;
    char path[2048];
    size_t n;

    if (ec->clone_url) {
        if (cm_url_expand(ec->clone_url, repository, out, outlen) == CM_OK)
            return CM_OK;
        snprintf(why, whylen, "clone_url of endpoint \"%s\" gives no URL for repository %.300s",
                 ec->name, repository);
        return CM_EINVAL;
    }
    if (!clone_path) {
        snprintf(why, whylen,
                 "endpoint \"%s\" has no clone_url and provider %s has no default clone path: "
                 "set clone_url",
                 ec->name, ec->provider ? ec->provider : "?");
        return CM_EINVAL;
    }
    if (!ep->url) {
        snprintf(why, whylen,
                 "endpoint \"%s\" has no url, so there is no host to import from: set url (or "
                 "clone_url)",
                 ec->name);
        return CM_EINVAL;
    }
    /* The path joins the url's own path, so a context path ("/bitbucket") is kept. */
    n = strlen(ep->url);
    while (n > 0 && ep->url[n - 1] == '/')
        n--;
    if (cm_url_expand(clone_path, repository, path, sizeof(path)) != CM_OK ||
        (size_t)snprintf(out, outlen, "%.*s/%s", (int)n, ep->url, path) >= outlen) {
        snprintf(why, whylen,
                 "provider %s gives no clone URL for repository %.300s on endpoint \"%s\": set "
                 "clone_url",
                 ec->provider ? ec->provider : "?", repository, ec->name);
        return CM_EINVAL;
    }
    return CM_OK;
}

int cm_fetch_url_ssh(const struct cm_config *cfg, const struct cm_endpoint *ep)
{
    return ep->conf->ssh_key != NULL || cfg->ssh_key != NULL;
}

/* 1 when the template (with {repository}) is an ssh:// or user@host:path URL. */
static int fu_template_ssh(const char *tmpl)
{
    struct cm_url u;
    char probe[2048];

    return cm_url_expand(tmpl, "o/r", probe, sizeof(probe)) == CM_OK &&
           cm_url_parse(probe, &u) == CM_OK && (u.scp || !strcmp(u.scheme, "ssh"));
}

int cm_fetch_url_form(const struct cm_endpoint *ep, int prefer_ssh, char *out, size_t outlen,
                      int *ssh)
{
    const struct cm_endpoint_conf *ec = ep->conf;
    const char *clone_path = ep->provider ? cm_provider_clone_path(ep->provider) : NULL;
    size_t n = ep->url ? strlen(ep->url) : 0;

    *ssh = 0;
    if (ec->clone_url) {
        *ssh = fu_template_ssh(ec->clone_url);
        snprintf(out, outlen, "%s", ec->clone_url);
        return CM_OK;
    }
    if (prefer_ssh && ec->ssh_url) {
        *ssh = 1;
        snprintf(out, outlen, "%s/... (the payload's SSH clone URL)", ec->ssh_url);
        return CM_OK;
    }
    if (!ep->url) {
        snprintf(out, outlen, "nothing: set url or clone_url");
        return CM_EINVAL;
    }
    while (n > 0 && ep->url[n - 1] == '/')
        n--;
    if (clone_path)
        snprintf(out, outlen, "%.*s/%s", (int)n, ep->url, clone_path);
    else
        snprintf(out, outlen, "%.*s/... (the payload's clone URL)", (int)n, ep->url);
    return CM_OK;
}
