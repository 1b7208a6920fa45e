/* SPDX-License-Identifier: MIT */
/*
 * `cargoman check | parse | sign | plugins`: the tools a user debugs a set-up with, built on
 * the same config, loader and dispatch code as the daemon.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/exposure.h"
#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/request.h"
#include "plugin/gateway.h"
#include "plugin/loader.h"
#include "util/crypto.h"

int cm_cli_read_input(const char *path, char **out, size_t *len)
{
    FILE *f = !path || !strcmp(path, "-") ? stdin : fopen(path, "rb");
    size_t cap = 65536, n = 0, got;
    char *buf = malloc(cap + 1);
    if (!f || !buf) {
        free(buf);
        return CM_ENOENT;
    }
    int rc = CM_OK;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *p = realloc(buf, cap * 2 + 1);
            if (!p) {
                rc = CM_ENOMEM;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    /* A directory opens but does not read: say so rather than hand on an empty body. */
    if (rc == CM_OK && ferror(f))
        rc = CM_ENOENT;
    if (f != stdin)
        fclose(f);
    if (rc != CM_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CM_OK;
}

static int open_from_dir(struct cm_gateway **gw, const char *conf_dir, const char *plugin_dir)
{
    struct cm_config *cfg;
    char err[1024];
    if (cm_config_load(&cfg, conf_dir, err, sizeof(err)) != CM_OK ||
        cm_gateway_open(gw, cfg, plugin_dir, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return 1;
    }
    return 0;
}

/* The settings that bound what a sender can make the gateway do, with their values. */
static void print_limits(const struct cm_config *cfg)
{
    printf("limits   max_body %lld, max_connections %d (per address %d), request_timeout %d s, "
           "max_queued %lld (per endpoint %lld), new_repositories_per_hour %lld, "
           "max_refs_per_event %lld, git.max_blob_size %lld\n",
           cfg->max_body, cfg->max_connections, cfg->max_connections_per_ip, cfg->request_timeout,
           cfg->max_queued, cfg->max_queued_per_endpoint, cfg->new_repositories_per_hour,
           cfg->max_refs_per_event, cfg->max_blob_size);
    printf("admin    /metrics and /api/: %s\n",
           cfg->admin_token ? "Bearer token required (server.admin_token)"
                            : "loopback clients only (set server.admin_token)");
}

static void print_finding(void *arg, int fatal, const char *msg)
{
    (void)arg;
    printf("%s: %s\n", fatal ? "error" : "warning", msg);
}

static const char check_usage[] =
    "usage: cargoman check [-c CONF_DIR] [-P PLUGIN_DIR]...\n"
    "  validate the configuration, load its plugins, list endpoints\n";

int cm_cli_check(int argc, char **argv)
{
    const char *conf_dir = CM_CONF_DIR;
    char plugin_dir[CM_PLUGIN_PATH_LEN] = "";
    struct cm_gateway *gw;
    int opt;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    while ((opt = getopt_long(argc, argv, "c:P:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_dir = optarg; break;
        case 'P':
            if (cm_cli_plugin_dir(plugin_dir, sizeof(plugin_dir), optarg))
                return 1;
            break;
        case 'h': fputs(check_usage, stdout); return 0;
        default: fputs(check_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(check_usage, stderr);
        return 2;
    }
    if (cm_cli_plugin_env(plugin_dir, sizeof(plugin_dir)))
        return 1;
    if (open_from_dir(&gw, conf_dir, plugin_dir))
        return 1;
    const struct cm_config *cfg = gw->config;
    printf("configuration %s is valid: listen %s, data_dir %s\n", conf_dir, cfg->listen,
           cfg->data_dir);
    print_limits(cfg);
    for (size_t i = 0; i < gw->n_endpoints; i++) {
        const struct cm_endpoint_conf *ec = gw->endpoints[i].conf;
        const char *url = gw->endpoints[i].url;
        printf("endpoint %-22s POST /api/webhooks/%s  provider=%s url=%s%s secret=%s (%s:%d)\n",
               ec->name, ec->name, ec->provider, url ? url : "-",
               url && !ec->url ? " (the provider's default)" : "",
               ec->secret           ? "set"
               : ec->allow_unsigned ? "NONE (allow_unsigned)"
                                    : "NONE",
               ec->file, ec->line);
        if (ec->clone_url || ec->ssh_url)
            printf("         fetched from %s%s%s\n", ec->clone_url ? ec->clone_url : "",
                   ec->clone_url && ec->ssh_url ? ", ssh "
                   : ec->ssh_url                ? "ssh "
                                                : "",
                   ec->ssh_url ? ec->ssh_url : "");
    }
    for (size_t i = 0; i < gw->n_syncs; i++)
        printf("sync     %s (%s:%d)\n", gw->syncs[i].conf->plugin, gw->syncs[i].conf->file,
               gw->syncs[i].conf->line);
    printf("composer repository: %s\n", cfg->n_composer_tokens ? "tokens required (composer.tokens)"
                                        : cfg->composer_public ? "public (composer.public = true)"
                                                               : "no tokens: loopback only");
    int fatal = cm_exposure_check(gw, cfg->listen, print_finding, NULL);
    if (fatal)
        printf("%d problem(s): `cargoman serve` refuses to start on %s until they are fixed\n",
               fatal, cfg->listen);
    cm_gateway_free(gw);
    return fatal ? 1 : 0;
}

static const char parse_usage[] =
    "usage: cargoman parse (-e ENDPOINT | -p PROVIDER) [-c CONF_DIR] [-P PLUGIN_DIR]...\n"
    "                      [-H 'Name: value']... [FILE|-]\n"
    "  run one provider on a saved request body (e.g. from the host's \"View requests\" page)\n"
    "  and print the common events as a JSON array; -e uses that endpoint's settings and secret,\n"
    "  -p the provider with no secret. Give the host's event header with -H, e.g.\n"
    "  -H 'X-GitHub-Event: push'.\n";

static int gateway_for_provider(struct cm_gateway **gw, const char *provider,
                                const char *plugin_dir)
{
    char text[512], err[1024];
    struct cm_config *cfg;
    snprintf(text, sizeof(text), "endpoint = { name = \"%s\"; provider = \"%s\"; };\n", provider,
             provider);
    if (cm_config_load_text(&cfg, "(command line)", text, err, sizeof(err)) != CM_OK ||
        cm_gateway_open(gw, cfg, plugin_dir, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return 1;
    }
    return 0;
}

int cm_cli_parse(int argc, char **argv)
{
    const char *conf_dir = CM_CONF_DIR, *endpoint = NULL;
    char plugin_dir[CM_PLUGIN_PATH_LEN] = "";
    const char *provider = NULL, *headers[64];
    struct cm_gateway *gw = NULL;
    struct cm_request *req = NULL;
    char *body = NULL;
    size_t len, n_headers = 0;
    int opt, status = 1;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};

    while ((opt = getopt_long(argc, argv, "e:p:c:P:H:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 'p': provider = optarg; break;
        case 'c': conf_dir = optarg; break;
        case 'P':
            if (cm_cli_plugin_dir(plugin_dir, sizeof(plugin_dir), optarg))
                return 1;
            break;
        case 'H':
            if (n_headers == 64 || !strchr(optarg, ':')) {
                fprintf(stderr, "cargoman: -H wants 'Name: value' (at most 64)\n");
                return 2;
            }
            headers[n_headers++] = optarg;
            break;
        case 'h': fputs(parse_usage, stdout); return 0;
        default: fputs(parse_usage, stderr); return 2;
        }
    }
    if (!endpoint == !provider || argc - optind > 1) {
        fputs(parse_usage, stderr);
        return 2;
    }
    if (cm_cli_plugin_env(plugin_dir, sizeof(plugin_dir)))
        return 1;
    if (endpoint ? open_from_dir(&gw, conf_dir, plugin_dir)
                 : gateway_for_provider(&gw, provider, plugin_dir))
        return 1;
    const struct cm_endpoint *ep = cm_gateway_endpoint(gw, endpoint ? endpoint : provider);
    if (!ep) {
        fprintf(stderr, "cargoman: no endpoint \"%s\" in %s\n", endpoint, conf_dir);
        goto out;
    }
    const char *file = optind < argc ? argv[optind] : "-";
    if (cm_cli_read_input(file, &body, &len) != CM_OK) {
        fprintf(stderr, "cargoman: cannot read %s\n", file);
        goto out;
    }
    if (cm_request_new(&req, ep) != CM_OK)
        goto out;
    req->received_at = cm_host_now();
    for (size_t i = 0; i < n_headers; i++) {
        char name[256];
        const char *colon = strchr(headers[i], ':'), *v = colon + 1;
        snprintf(name, sizeof(name), "%.*s", (int)(colon - headers[i]), headers[i]);
        while (*v == ' ')
            v++;
        if (cm_request_add_header(req, name, v) != CM_OK)
            goto out;
    }
    if (cm_request_set_body(req, body, len) != CM_OK) {
        fprintf(stderr, "cargoman: out of memory\n");
        goto out;
    }
    int rc = cm_dispatch(gw, req);
    if (rc != CM_OK && rc != CM_EIGNORE) {
        fprintf(stderr, "cargoman: %s (HTTP %d): %s\n", cm_status_name(rc), cm_status_http(rc),
                req->reason);
        goto out;
    }
    if (rc == CM_EIGNORE && req->reason[0])
        fprintf(stderr, "cargoman: ignored: %s\n", req->reason);
    json_t *a = json_array();
    for (size_t i = 0; rc == CM_OK && i < req->n_events; i++)
        json_array_append_new(a, json_loads(cm_event_json(req->events[i]), 0, NULL));
    char *s = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s ? s : "[]");
    free(s);
    json_decref(a);
    status = 0;
out:
    free(body);
    cm_request_free(req);
    cm_gateway_free(gw);
    return status;
}

static const char sign_usage[] =
    "usage: cargoman sign -p PROVIDER -s SECRET [-i ID] [-t TIMESTAMP] [FILE|-]\n"
    "  print the signature header(s) the host would send with this body, to replay a saved\n"
    "  delivery with curl. gitlab: a whsec_ secret gives Standard Webhooks headers (-i, -t).\n";

static int sign_gitlab(const char *secret, const char *id, long long ts, const char *body,
                       size_t len)
{
    unsigned char mac[64], *key = NULL;
    char msgsig[128], *msg = NULL;
    int status = 1;
    if (strncmp(secret, "whsec_", 6)) {
        printf("X-Gitlab-Token: %s\n", secret);
        return 0;
    }
    /* The key is as long as the user's token says: size it from the token, not a guess. */
    size_t b64len = strlen(secret + 6);
    if (!(key = malloc(3 * (b64len / 4) + 3)))
        goto out;
    long klen = cm_crypto_base64_decode(secret + 6, b64len, key);
    if (klen <= 0) {
        fprintf(stderr, "cargoman: the signing token is not whsec_ followed by base64\n");
        goto out;
    }
    size_t mlen = strlen(id) + 32 + len;
    if (!(msg = malloc(mlen)))
        goto out;
    int n = snprintf(msg, mlen, "%s.%lld.", id, ts);
    memcpy(msg + n, body, len);
    int dlen = cm_crypto_hmac("sha256", key, (size_t)klen, msg, (size_t)n + len, mac);
    if (dlen <= 0)
        goto out;
    cm_crypto_base64_encode(mac, (size_t)dlen, msgsig);
    printf("webhook-id: %s\nwebhook-timestamp: %lld\nwebhook-signature: v1,%s\n", id, ts, msgsig);
    status = 0;
out:
    free(msg);
    free(key);
    return status;
}

int cm_cli_sign(int argc, char **argv)
{
    const char *provider = NULL, *secret = NULL, *id = "msg_cargoman";
    long long ts = cm_host_now();
    char hex[160], *body = NULL;
    size_t len;
    int opt, status = 1;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};

    while ((opt = getopt_long(argc, argv, "p:s:i:t:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p': provider = optarg; break;
        case 's': secret = optarg; break;
        case 'i': id = optarg; break;
        case 't': ts = atoll(optarg); break;
        case 'h': fputs(sign_usage, stdout); return 0;
        default: fputs(sign_usage, stderr); return 2;
        }
    }
    if (!provider || !secret || argc - optind > 1) {
        fputs(sign_usage, stderr);
        return 2;
    }
    const char *file = optind < argc ? argv[optind] : "-";
    if (cm_cli_read_input(file, &body, &len) != CM_OK) {
        fprintf(stderr, "cargoman: cannot read %s\n", file);
        return 1;
    }
    if (!strcmp(provider, "bitbucket-cloud") || !strcmp(provider, "bitbucket-datacenter")) {
        cm_crypto_hmac_hex("sha256", secret, body, len, hex);
        printf("X-Hub-Signature: sha256=%s\n", hex);
        status = 0;
    } else if (!strcmp(provider, "github")) {
        cm_crypto_hmac_hex("sha256", secret, body, len, hex);
        printf("X-Hub-Signature-256: sha256=%s\n", hex);
        cm_crypto_hmac_hex("sha1", secret, body, len, hex);
        printf("X-Hub-Signature: sha1=%s\n", hex);
        status = 0;
    } else if (!strcmp(provider, "gitlab")) {
        status = sign_gitlab(secret, id, ts, body, len);
    } else {
        fprintf(stderr,
                "cargoman: sign knows bitbucket-cloud, bitbucket-datacenter, github and "
                "gitlab, not \"%s\"\n",
                provider);
    }
    free(body);
    return status;
}

static const char plugins_usage[] =
    "usage: cargoman plugins [-c CONF_DIR] [-P PLUGIN_DIR]...\n"
    "  list kind, name, ABI version and description of each plugin along the plugin path\n"
    "  (-P, CARGOMAN_PLUGIN_PATH, with -c that configuration's server.plugin_path, then the\n"
    "  built-in directory); a module refused or found twice makes the exit status 1\n";

static void list_one(const char *search, const char *dir, const char *file,
                     enum cm_plugin_kind kind, int *bad)
{
    char path[8192], first[8192], name[256], err[1024];
    const void *d;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    snprintf(name, sizeof(name), "%.*s", (int)(strlen(file) - 3), file);
    /* The same search serve uses: a name in two directories is refused here too. */
    first[0] = '\0';
    if (cm_loader_find(search, kind, name, first, sizeof(first), err, sizeof(err)) != CM_OK) {
        if (!first[0] || !strcmp(first, path)) /* a duplicate is told once, by its first file */
            fprintf(stderr, "cargoman: refused %s\n", err);
        *bad = 1;
        return;
    }
    if (cm_loader_load_file(path, kind, &d, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: refused %s\n", err);
        *bad = 1;
        return;
    }
    const struct cm_provider *p = d; /* both descriptors start alike */
    printf("%-9s %-22s ABI %u.%u  %s %s\n", kind == CM_KIND_PROVIDER ? "provider" : "sync", p->name,
           CM_ABI_VERSION_MAJOR(p->abi_version), CM_ABI_VERSION_MINOR(p->abi_version), p->version,
           p->description);
}

static void list_kind(const char *search, const char *plugin_dir, enum cm_plugin_kind kind,
                      int *bad)
{
    char dir[4096];
    struct dirent **names;
    int n;
    cm_loader_kind_dir(plugin_dir, kind, dir, sizeof(dir));
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        /* A directory may hold only providers/ or only plugins/. */
        if (errno != ENOENT) {
            fprintf(stderr, "cargoman: cannot read %s: %s\n", dir, strerror(errno));
            *bad = 1;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]->d_name);
        if (l > 3 && !strcmp(names[i]->d_name + l - 3, ".so"))
            list_one(search, dir, names[i]->d_name, kind, bad);
        free(names[i]);
    }
    free(names);
}

int cm_cli_plugins(int argc, char **argv)
{
    static char dirs[CM_PLUGIN_PATH_DIRS][PATH_MAX];
    char base[CM_PLUGIN_PATH_LEN] = "", search[CM_PLUGIN_PATH_LEN], err[1024];
    const char *conf_dir = NULL;
    struct cm_config *cfg = NULL;
    int opt, bad = 0;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    while ((opt = getopt_long(argc, argv, "c:P:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_dir = optarg; break;
        case 'P':
            if (cm_cli_plugin_dir(base, sizeof(base), optarg))
                return 1;
            break;
        case 'h': fputs(plugins_usage, stdout); return 0;
        default: fputs(plugins_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(plugins_usage, stderr);
        return 2;
    }
    if (cm_cli_plugin_env(base, sizeof(base)))
        return 1;
    if (conf_dir && cm_config_load(&cfg, conf_dir, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return 1;
    }
    int rc = cm_loader_search_path(search, sizeof(search), base, cfg ? cfg->plugin_path : NULL,
                                   cfg ? cfg->n_plugin_path : 0, err, sizeof(err));
    cm_config_free(cfg);
    if (rc != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return 1;
    }
    size_t n = cm_loader_path_dirs(search, dirs, CM_PLUGIN_PATH_DIRS);
    if (!n) {
        fprintf(stderr,
                "cargoman: the plugin path is empty and %s is not installed: give a "
                "plugin directory with -P\n",
                CM_PLUGIN_DIR);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        list_kind(search, dirs[i], CM_KIND_PROVIDER, &bad);
        list_kind(search, dirs[i], CM_KIND_SYNC, &bad);
    }
    return bad;
}
