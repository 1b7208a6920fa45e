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
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/exposure.h"
#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/request.h"
#include "plugin/gateway.h"
#include "plugin/loader.h"
#include "plugin/route.h"
#include "sync/worker.h"
#include "util/crypto.h"

int cm_cli_read_input(const char *path, size_t max, char **out, size_t *len)
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
        if (max && n > max) {
            rc = CM_EINVAL;
            break;
        }
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
    /* Never the conninfo: it carries the database password. */
    if (!strcmp(cfg->queue_backend, "postgresql"))
        printf("queue    postgresql, shared with every gateway on the same database (lease %d s, "
               "%d connections); run `cargoman db migrate` once per upgrade\n",
               cfg->queue_lease_seconds, cfg->queue_connections);
    else
        printf("queue    spool in %s/spool (this machine alone)\n", cfg->data_dir);
}

/* Counts what check prints: [0] errors, [1] warnings. */
static void print_finding(void *arg, int fatal, const char *msg)
{
    int *count = arg;
    count[fatal ? 0 : 1]++;
    printf("%s: %s\n", fatal ? "error" : "warning", msg);
}

/* Plugins built before SDK 1.2 declare no config keys: a typo in their entries goes unseen. */
static void check_undeclared(const struct cm_gateway *gw, int *count)
{
    char msg[512];

    for (size_t i = 0; i < gw->n_endpoints; i++) {
        const struct cm_endpoint *ep = &gw->endpoints[i];
        if (cm_provider_config_keys(ep->provider))
            continue;
        snprintf(msg, sizeof(msg),
                 "endpoint \"%s\": provider %s declares no config keys (built against SDK "
                 "%u.%u), so a misspelt key in %s:%d is not caught; rebuild it against SDK 1.2",
                 ep->conf->name, ep->conf->provider,
                 CM_ABI_VERSION_MAJOR(ep->provider->abi_version),
                 CM_ABI_VERSION_MINOR(ep->provider->abi_version), ep->conf->file, ep->conf->line);
        print_finding(count, 0, msg);
    }
    for (size_t i = 0; i < gw->n_syncs; i++) {
        const struct cm_sync *s = &gw->syncs[i];
        if (cm_sync_config_keys(s->plugin))
            continue;
        snprintf(msg, sizeof(msg),
                 "sync plugin %s declares no config keys (built against SDK %u.%u), so a "
                 "misspelt key in %s:%d is not caught; rebuild it against SDK 1.2",
                 s->conf->plugin, CM_ABI_VERSION_MAJOR(s->plugin->abi_version),
                 CM_ABI_VERSION_MINOR(s->plugin->abi_version), s->conf->file, s->conf->line);
        print_finding(count, 0, msg);
    }
}

static const char check_usage[] =
    "usage: cargoman check [-c CONF_DIR] [-P PLUGIN_DIR]...\n"
    "  validate the configuration, load its plugins, list endpoints\n";

/* The routes a sync entry serves and who may read them. */
static void print_routes(const struct cm_sync *s)
{
    const struct cm_route *r = cm_route_list(s);

    if (!r || !r->path)
        return;
    printf("routes   GET");
    for (; r->path; r++)
        printf(" %s%s", r->path, r[1].path ? "," : "");
    printf("  (sync %s): %s\n", s->conf->plugin,
           s->conf->n_tokens        ? "tokens required (tokens)"
           : s->conf->public_routes ? "public (public = true)"
                                    : "no tokens: loopback only");
}

/* Where an endpoint fetches from and with which credentials: paths and the user's name,
 * never a token or passphrase. */
static void print_fetch(const struct cm_config *cfg, const struct cm_endpoint *ep)
{
    struct cm_mirror_auth a = cm_worker_auth(cfg, ep->conf);
    char form[2048], cred[1024];
    int ssh;

    if (cm_fetch_url_form(ep, cm_fetch_url_ssh(cfg, ep), form, sizeof(form), &ssh) != CM_OK)
        snprintf(cred, sizeof(cred), "pushes are refused");
    else if (ssh && !a.ssh_key)
        snprintf(cred, sizeof(cred), "SSH without a key: set ssh_key");
    else if (ssh)
        snprintf(cred, sizeof(cred), "key %s%s, known_hosts %s", a.ssh_key,
                 a.own_ssh_key ? "" : " (git.ssh_key)",
                 a.ssh_known_hosts ? a.ssh_known_hosts : "~/.ssh/known_hosts");
    else if (!strncmp(form, "git://", 6))
        snprintf(cred, sizeof(cred), "anonymous");
    else if (a.token && a.user)
        snprintf(cred, sizeof(cred), "token of user %s", a.user);
    else if (a.token)
        snprintf(cred, sizeof(cred), "token, user \"git\"");
    else
        snprintf(cred, sizeof(cred), "no credentials");
    printf("         fetch    %s (%s)\n", form, cred);
}

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
        char secrets[32];
        /* The count, never the secrets: a rotation shows as "2 secrets" until the old goes. */
        snprintf(secrets, sizeof(secrets), "yes (%zu secrets)", ec->n_secrets);
        printf("endpoint %-22s POST /api/webhooks/%s  provider=%s signed=%s url=%s%s (%s:%d)\n",
               ec->name, ec->name, ec->provider,
               ec->n_secrets > 1    ? secrets
               : ec->secret         ? "yes (secret set)"
               : ec->allow_unsigned ? "NO (allow_unsigned)"
                                    : "NO",
               url ? url : "-", url && !ec->url ? " (the provider's default)" : "", ec->file,
               ec->line);
        print_fetch(cfg, &gw->endpoints[i]);
        cm_cli_print_origins(ec->section);
    }
    for (size_t i = 0; i < gw->n_syncs; i++)
        printf("sync     %s (%s:%d)\n", gw->syncs[i].conf->plugin, gw->syncs[i].conf->file,
               gw->syncs[i].conf->line);
    cm_cli_print_disabled(cfg);
    cm_cli_print_dist(conf_dir);
    for (size_t i = 0; i < gw->n_syncs; i++)
        print_routes(&gw->syncs[i]);
    int count[2] = {0, 0};
    int fatal = cm_exposure_check(gw, cfg->listen, print_finding, count);
    check_undeclared(gw, count);
    if (fatal)
        printf("%d problem(s): `cargoman serve` refuses to start on %s until they are fixed\n",
               fatal, cfg->listen);
    if (count[1])
        printf("%d warning(s)\n", count[1]);
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
    int opt, status = 1, rc;
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
    /* No more than the gateway would read: an endless input must not take all memory. */
    long long max = gw->config->max_body;
    if ((rc = cm_cli_read_input(file, (size_t)max, &body, &len)) != CM_OK) {
        if (rc == CM_EINVAL)
            fprintf(stderr,
                    "cargoman: %s is larger than server.max_body (%lld bytes): the gateway "
                    "answers it 413\n",
                    file, max);
        else
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
    rc = cm_dispatch(gw, req);
    if (rc != CM_OK && rc != CM_EIGNORE) {
        fprintf(stderr, "cargoman: %s (HTTP %d): %s\n", cm_status_name(rc), cm_status_http(rc),
                req->reason);
        goto out;
    }
    if (rc == CM_EIGNORE)
        fprintf(stderr, "cargoman: ignored: %s\n",
                req->reason[0] ? req->reason : "the provider gave no reason (not a push)");
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
    "usage: cargoman sign -p PROVIDER -s SECRET [-P PLUGIN_DIR] [-i ID] [-t TIMESTAMP]\n"
    "                     [--curl URL [-H 'Name: value']...] [FILE|-]\n"
    "  print the signature header(s) the host would send with this body, to replay a saved\n"
    "  delivery with curl. Any provider with a sign hook (SDK 1.2) can sign; -i and -t give\n"
    "  the delivery id and time for schemes that sign them (gitlab with a whsec_ token).\n"
    "  --curl URL prints instead one curl command that posts FILE to URL (the endpoint's\n"
    "  webhook URL, e.g. http://127.0.0.1:8080/api/webhooks/github) with its Content-Type,\n"
    "  the signature headers and each -H (e.g. the host's event header).\n";

/* Write s to f in single quotes, for a POSIX shell. */
static void sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* One header: a line "Name: value", or with a curl command (arg) one -H of it. */
static int print_header(void *arg, const char *name, const char *value)
{
    FILE *curl = arg;
    char line[8192];

    if (!curl) {
        printf("%s: %s\n", name, value);
        return CM_OK;
    }
    snprintf(line, sizeof(line), "%s: %s", name, value);
    fputs(" -H ", curl);
    sh_quote(curl, line);
    return CM_OK;
}

/* Deliveries are JSON, or a form-encoded payload=... (GitHub's other content type). */
static const char *body_type(const char *body)
{
    body += strspn(body, " \t\r\n");
    return *body == '{' || *body == '[' ? "application/json" : "application/x-www-form-urlencoded";
}

/* The provider's descriptor along the plugin path, or NULL after saying why on stderr. */
static const struct cm_provider *sign_provider(const char *base, const char *name)
{
    char search[CM_PLUGIN_PATH_LEN], err[1024];
    const void *d;

    if (cm_loader_search_path(search, sizeof(search), base, NULL, 0, err, sizeof(err)) != CM_OK ||
        cm_loader_load(search, CM_KIND_PROVIDER, name, &d, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return NULL;
    }
    return d;
}

/* Options of `sign --curl`: the URL, the file, and the extra -H headers. */
struct sign_curl {
    const char *url, *file;
    const char *headers[64];
    size_t n_headers;
};

/* The curl command into out (open_memstream's), before the signature headers. */
static void curl_start(FILE *out, const struct sign_curl *c, const char *body)
{
    char type[64];

    fputs("curl -sS -X POST ", out);
    sh_quote(out, c->url);
    snprintf(type, sizeof(type), "Content-Type: %s", body_type(body));
    fputs(" -H ", out);
    sh_quote(out, type);
    for (size_t i = 0; i < c->n_headers; i++) {
        fputs(" -H ", out);
        sh_quote(out, c->headers[i]);
    }
}

/* Sign body with p's own scheme and print the headers, or with c the whole curl command; 0,
 * or 1 after saying why on stderr (nothing then on stdout). */
static int sign_body(const struct cm_provider *p, const char *secret, const char *id, long long ts,
                     const char *body, size_t len, const struct sign_curl *c)
{
    cm_sign_fn sign = cm_provider_sign(p);
    char *cmd = NULL, at[PATH_MAX + 2];
    size_t cmdlen = 0;
    FILE *curl = NULL;
    struct cm_request *req = NULL;
    int rc, status = 1;

    if (!sign) {
        fprintf(stderr,
                "cargoman: provider \"%s\" cannot sign: it has no sign hook (SDK 1.2), so "
                "sign its deliveries the way its host does\n",
                p->name);
        return 1;
    }
    if (cm_request_new(&req, NULL) != CM_OK || cm_request_set_body(req, body, len) != CM_OK) {
        fprintf(stderr, "cargoman: out of memory\n");
        goto out;
    }
    if (c && !(curl = open_memstream(&cmd, &cmdlen))) {
        fprintf(stderr, "cargoman: out of memory\n");
        goto out;
    }
    if (curl)
        curl_start(curl, c, body);
    rc = sign(&cm_host_services, req, secret, id, ts, print_header, curl);
    if (rc != CM_OK) {
        fprintf(stderr, "cargoman: %s cannot sign with this secret: %s\n", p->name,
                req->reason[0] ? req->reason : cm_status_name(rc));
        goto out;
    }
    if (curl) {
        /* An absolute path, so the command runs from any directory. */
        at[0] = '@';
        if (!realpath(c->file, at + 1))
            snprintf(at + 1, sizeof(at) - 1, "%s", c->file);
        fputs(" --data-binary ", curl);
        sh_quote(curl, at);
        if (fclose(curl) != 0) {
            curl = NULL;
            fprintf(stderr, "cargoman: out of memory\n");
            goto out;
        }
        curl = NULL;
        printf("%s\n", cmd);
    }
    status = 0;
out:
    if (curl)
        fclose(curl);
    free(cmd);
    cm_request_free(req);
    return status;
}

int cm_cli_sign(int argc, char **argv)
{
    const char *provider = NULL, *secret = NULL, *id = "msg_cargoman";
    char plugin_dir[CM_PLUGIN_PATH_LEN] = "";
    const struct cm_provider *p;
    struct sign_curl curl = {0};
    long long ts = cm_host_now();
    char *body = NULL;
    size_t len;
    int opt, status;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"curl", required_argument, NULL, 'C'}, {0, 0, 0, 0}};

    while ((opt = getopt_long(argc, argv, "p:s:P:i:t:H:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p': provider = optarg; break;
        case 's': secret = optarg; break;
        case 'P':
            if (cm_cli_plugin_dir(plugin_dir, sizeof(plugin_dir), optarg))
                return 1;
            break;
        case 'i': id = optarg; break;
        case 't': ts = atoll(optarg); break;
        case 'C': curl.url = optarg; break;
        case 'H':
            if (curl.n_headers == 64 || !strchr(optarg, ':')) {
                fprintf(stderr, "cargoman: -H wants 'Name: value' (at most 64)\n");
                return 2;
            }
            curl.headers[curl.n_headers++] = optarg;
            break;
        case 'h': fputs(sign_usage, stdout); return 0;
        default: fputs(sign_usage, stderr); return 2;
        }
    }
    if (!provider || !secret || argc - optind > 1 || (curl.n_headers && !curl.url)) {
        fputs(sign_usage, stderr);
        return 2;
    }
    const char *file = optind < argc ? argv[optind] : "-";
    if (curl.url && !strcmp(file, "-")) {
        fprintf(stderr, "cargoman: --curl needs the body as a FILE: curl sends it with "
                        "--data-binary @FILE\n");
        return 2;
    }
    curl.file = file;
    if (cm_cli_plugin_env(plugin_dir, sizeof(plugin_dir)) ||
        !(p = sign_provider(plugin_dir, provider)))
        return 1;
    if (cm_cli_read_input(file, 0, &body, &len) != CM_OK) {
        fprintf(stderr, "cargoman: cannot read %s\n", file);
        return 1;
    }
    status = sign_body(p, secret, id, ts, body, len, curl.url ? &curl : NULL);
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
