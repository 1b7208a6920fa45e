/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the git URL parser and the pieces of the fetch policy built on it. The input is
 * up to three lines: a URL (or clone_url template), a second URL, a repository name. What a
 * parse accepts must be a plain host that re-parses to the same origin, and no name that
 * passes the repository-name floor may move a template's fetch to another host.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "fuzz.h"
#include "intake/repo_name.h"
#include "util/url.h"

/* Templates as operators write them; the name must stay in their path. */
static const char *const fu_templates[] = {
    "https://git.example.com/scm/{repository}.git",
    "ssh://git@git.example.com:7999/{repository}.git",
    "git@github.com:{repository}.git",
    "http://[::1]:8080/{repository}",
    "git://mirror.example.com/{repository}",
};

static unsigned fu_default_port(const char *scheme)
{
    return !strcmp(scheme, "https")  ? 443
           : !strcmp(scheme, "http") ? 80
           : !strcmp(scheme, "ssh")  ? 22
                                     : 9418;
}

static void fu_check_host(const struct cm_url *u, const char *text)
{
    size_t n = strlen(u->host);
    unsigned char a6[16];

    FUZZ_CHECK(n > 0 && n < sizeof(u->host), "host length %zu in %s", n, text);
    FUZZ_CHECK(!strpbrk(u->host, "@/?#[]\\ %"), "host \"%s\" of %s", u->host, text);
    if (strchr(u->host, ':')) {
        FUZZ_CHECK(!u->scp && inet_pton(AF_INET6, u->host, a6) == 1,
                   "host \"%s\" has ':' but is no IPv6 literal (%s)", u->host, text);
        return;
    }
    for (const char *c = u->host; *c; c++)
        FUZZ_CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' ||
                       *c == '.',
                   "host \"%s\" of %s", u->host, text);
}

/* The URL written back from its parts parses to the same parts. */
static void fu_check_reparse(const struct cm_url *u, const char *text)
{
    char again[2048];
    struct cm_url v;
    int v6 = strchr(u->host, ':') != NULL, n;

    if (u->scp)
        n = snprintf(again, sizeof(again), "%s%s%s:%s", u->user, *u->user ? "@" : "", u->host,
                     u->path);
    else
        n = snprintf(again, sizeof(again), "%s://%s%s%s%s%s:%u%s", u->scheme, u->user,
                     *u->user ? "@" : "", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->path);
    if (n < 0 || (size_t)n >= sizeof(again))
        return;
    FUZZ_CHECK(cm_url_parse(again, &v) == CM_OK, "%s, written back as %s, does not parse", text,
               again);
    FUZZ_CHECK(cm_url_same_origin(u, &v) && !strcmp(u->user, v.user) && u->scp == v.scp &&
                   !strcmp(u->path, v.path),
               "%s, written back as %s, parses differently", text, again);
}

static void fu_check_parsed(const struct cm_url *u, const char *text)
{
    size_t tl = strlen(text), pl;

    FUZZ_CHECK(!strcmp(u->scheme, "https") || !strcmp(u->scheme, "http") ||
                   !strcmp(u->scheme, "ssh") || !strcmp(u->scheme, "git"),
               "scheme %s", u->scheme);
    FUZZ_CHECK(!u->scp || !strcmp(u->scheme, "ssh"), "scp form with scheme %s", u->scheme);
    fu_check_host(u, text);
    FUZZ_CHECK(u->port >= 1 && u->port <= 65535, "port %u", u->port);
    FUZZ_CHECK(u->explicit_port || u->port == fu_default_port(u->scheme), "port %u", u->port);
    FUZZ_CHECK(!strpbrk(u->user, "@:/[] "), "user \"%s\"", u->user);
    FUZZ_CHECK(u->path, "no path");
    pl = strlen(u->path);
    FUZZ_CHECK(pl <= tl && u->path == text + tl - pl, "path is not the end of %s", text);
    FUZZ_CHECK(u->scp || !*u->path || *u->path == '/', "path \"%s\"", u->path);
    FUZZ_CHECK(cm_url_same_origin(u, u), "not its own origin");
    fu_check_reparse(u, text);
}

/* The config's rule for clone_url (config.c): the placeholder lies in the path. */
static int fu_template_ok(const char *t, struct cm_url *probe_url, char *probe, size_t len)
{
    const char *at = strstr(t, "{repository}");
    return at && cm_url_expand(t, "o/r", probe, len) == CM_OK &&
           cm_url_parse(probe, probe_url) == CM_OK && at - t >= probe_url->path - probe;
}

static void fu_check_template(const char *t, const char *repo)
{
    char probe[2048], out[2048];
    struct cm_url want, got;

    if (!fu_template_ok(t, &want, probe, sizeof(probe)) ||
        cm_url_expand(t, repo, out, sizeof(out)) != CM_OK)
        return;
    FUZZ_CHECK(strstr(out, repo), "expanded %s lacks %s", out, repo);
    if (cm_url_parse(out, &got) == CM_OK)
        FUZZ_CHECK(cm_url_same_origin(&want, &got),
                   "repository \"%s\" moves template %s to %s (%s)", repo, t, got.host, out);
}

/* repo against the floor; a name it passes must not move template (or our templates). */
static void fu_check_repo(const char *repo, const char *template_)
{
    const char *why = NULL;
    size_t n = strlen(repo);

    if (cm_repo_name_check(repo, &why) != CM_OK) {
        FUZZ_CHECK(why && why[0], "refused without a reason");
        return;
    }
    FUZZ_CHECK(n > 0 && n <= CM_REPO_NAME_MAX, "length %zu", n);
    FUZZ_CHECK(repo[0] != '/' && repo[n - 1] != '/' && !strstr(repo, "//"), "%s", repo);
    FUZZ_CHECK(
        strspn(repo, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-~+/") == n,
        "%s", repo);
    for (const char *s = repo; *s;) {
        size_t seg = strcspn(s, "/");
        FUZZ_CHECK(!(seg == 1 && s[0] == '.') && !(seg == 2 && s[0] == '.' && s[1] == '.'),
                   "dot segment in %s", repo);
        FUZZ_CHECK(seg <= CM_REPO_SEGMENT_MAX, "segment of %zu bytes", seg);
        s += seg + (s[seg] == '/');
    }
    for (size_t i = 0; i < sizeof(fu_templates) / sizeof(fu_templates[0]); i++) {
        char out[2048];
        struct cm_url u;
        FUZZ_CHECK(cm_url_expand(fu_templates[i], repo, out, sizeof(out)) == CM_OK, "expand");
        FUZZ_CHECK(cm_url_parse(out, &u) == CM_OK, "%s, a valid name, gives %s", repo, out);
        fu_check_template(fu_templates[i], repo);
    }
    fu_check_template(template_, repo);
}

/* The input split at its first two newlines; missing parts are NULL. */
static void fu_split(char *s, char **a, char **b, char **c)
{
    char *nl;

    *a = s;
    *b = *c = NULL;
    if ((nl = strchr(s, '\n'))) {
        *nl = '\0';
        *b = nl + 1;
        if ((nl = strchr(*b, '\n'))) {
            *nl = '\0';
            *c = nl + 1;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *a, *b, *repo, hp[512];
    struct cm_url ua, ub;
    int oka, okb;

    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    fu_split(text, &a, &b, &repo);
    if (!b)
        b = a;
    if (!repo)
        repo = "o/r";

    if ((oka = cm_url_parse(a, &ua) == CM_OK))
        fu_check_parsed(&ua, a);
    if ((okb = cm_url_parse(b, &ub) == CM_OK))
        fu_check_parsed(&ub, b);
    if (oka && okb)
        FUZZ_CHECK(cm_url_same_origin(&ua, &ub) == cm_url_same_origin(&ub, &ua), "not symmetric");
    if (cm_url_host_port(a, hp, sizeof(hp)) == CM_OK)
        FUZZ_CHECK(oka && strstr(hp, ua.host) &&
                       (!strcmp(ua.scheme, "https") || !strcmp(ua.scheme, "http")),
                   "host_port %s of %s", hp, a);
    fu_check_repo(repo, a);
    free(text);
    return 0;
}
