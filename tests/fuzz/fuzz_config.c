/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the configuration loader (cm_config_load_text, with its ${VAR} expansion of
 * every string) and cm_expand_env on the input itself. What a load accepts must be what the
 * rest of the daemon relies on: plain, unique endpoint names and URLs that parse.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "config/config.h"
#include "fuzz.h"
#include "util/url.h"

static int fc_plain(const char *s)
{
    return s && *s && *s != '.' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               strlen(s);
}

static void fc_check_endpoint(const struct cm_config *cfg, const struct cm_endpoint_conf *ep)
{
    struct cm_url u;
    const char *s;

    FUZZ_CHECK(fc_plain(ep->name) && fc_plain(ep->provider), "names %s, %s", ep->name,
               ep->provider);
    FUZZ_CHECK(cm_config_endpoint(cfg, ep->name) == ep, "endpoint %s twice", ep->name);
    FUZZ_CHECK(ep->file && ep->line > 0, "where");
    if (ep->url) {
        size_t n = strlen(ep->url);
        FUZZ_CHECK(cm_url_parse(ep->url, &u) == CM_OK &&
                       (!strcmp(u.scheme, "https") || !strcmp(u.scheme, "http")),
                   "url %s", ep->url);
        FUZZ_CHECK(n > 0 && ep->url[n - 1] != '/', "url %s keeps a trailing /", ep->url);
    }
    if (ep->ssh_url)
        FUZZ_CHECK(cm_url_parse(ep->ssh_url, &u) == CM_OK && !strcmp(u.scheme, "ssh"), "ssh_url %s",
                   ep->ssh_url);
    if (ep->clone_url)
        FUZZ_CHECK(strstr(ep->clone_url, "{repository}"), "clone_url %s", ep->clone_url);
    FUZZ_CHECK(!ep->secret || ep->secret[0], "an empty secret is not NULL");
    for (size_t i = 0; i < ep->n_allow_from; i++) {
        const struct cm_cidr *c = &ep->allow_from[i];
        FUZZ_CHECK((c->family == AF_INET && c->prefix <= 32) ||
                       (c->family == AF_INET6 && c->prefix <= 128),
                   "allow_from entry %zu", i);
    }
    /* What the provider will read through the host services. */
    FUZZ_CHECK(cm_section_string(ep->section, "name", &s) == CM_OK && !strcmp(s, ep->name),
               "section name");
    for (size_t i = 0; cm_section_list(ep->section, "allow_from", i, &s) == CM_OK; i++)
        FUZZ_CHECK(s, "list entry");
}

static void fc_check_config(const struct cm_config *cfg)
{
    char host[256];
    unsigned port = 0;

    FUZZ_CHECK(cfg->listen &&
                   cm_config_split_listen(cfg->listen, host, sizeof(host), &port) == CM_OK &&
                   port >= 1 && port <= 65535,
               "listen %s", cfg->listen ? cfg->listen : "(none)");
    FUZZ_CHECK(cfg->data_dir && cfg->data_dir[0], "data_dir");
    FUZZ_CHECK(cfg->max_body > 0 && cfg->workers >= 1 && cfg->workers <= 64, "limits");
    for (size_t i = 0; i < cfg->n_endpoints; i++)
        fc_check_endpoint(cfg, &cfg->endpoints[i]);
    for (size_t i = 0; i < cfg->n_syncs; i++)
        FUZZ_CHECK(fc_plain(cfg->syncs[i].plugin), "sync plugin %s", cfg->syncs[i].plugin);
}

static void fc_check_expand(const char *text)
{
    char err[512] = "", *out = NULL;
    int rc = cm_expand_env(text, &out, err, sizeof(err));

    FUZZ_CHECK(rc == CM_OK || rc == CM_EINVAL, "status %d", rc);
    if (rc != CM_OK) {
        FUZZ_CHECK(!out && err[0], "refused without a reason");
        return;
    }
    FUZZ_CHECK(out, "no output");
    if (!strchr(text, '$'))
        FUZZ_CHECK(!strcmp(out, text), "text without $ changed");
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int env_ready;
    struct cm_config *cfg = NULL;
    char err[1024] = "", *text;
    int rc;

    if (!env_ready) {
        /* Variables the seeds and the fuzzer can refer to, set, empty and unset. */
        setenv("FUZZ_SET", "value", 1);
        setenv("FUZZ_EMPTY", "", 1);
        setenv("FUZZ_URL", "https://git.example.com", 1);
        unsetenv("FUZZ_UNSET");
        env_ready = 1;
    }
    /* libconfig reads @include'd files itself; a fuzzer naming /dev/zero only hangs it. */
    if (memmem(data, size, "@include", 8) || memmem(data, size, "/dev/", 5) ||
        memmem(data, size, "/proc/", 6))
        return 0;
    text = malloc(size + 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';

    rc = cm_config_load_text(&cfg, "fuzz.conf", text, err, sizeof(err));
    FUZZ_CHECK(rc == CM_OK || rc == CM_EINVAL, "status %d", rc);
    if (rc == CM_OK) {
        FUZZ_CHECK(cfg, "no config");
        fc_check_config(cfg);
    } else {
        FUZZ_CHECK(!cfg && err[0], "refused without a reason");
    }
    cm_config_free(cfg);
    fc_check_expand(text);
    free(text);
    return 0;
}
