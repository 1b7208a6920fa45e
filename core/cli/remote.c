/* SPDX-License-Identifier: MIT */
/*
 * The commands that ask the running daemon to act (`cargoman replay`, `cargoman resync`) and
 * the client they share with `cargoman import` (remote.h): a minimal HTTP/1.1 client over a
 * socket to server.listen (or -u URL), with the admin token as Bearer, and the daemon's answer
 * turned into one line that says what to do next.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "autoconfig.h"
#include "cargoman/plugin.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "config/config.h"

#define RESPONSE_MAX (16u << 20)

/* "http://HOST:PORT" (a trailing slash allowed; IPv6 in brackets) into t. */
static int parse_url(struct cm_remote *t, const char *url)
{
    unsigned port = 80;
    const char *h = url + 7, *end;
    size_t n;

    if (strncmp(url, "http://", 7))
        return -1;
    end = *h == '[' ? strchr(h, ']') : h + strcspn(h, ":/");
    if (!end)
        return -1;
    if (*h == '[')
        h++;
    n = (size_t)(end - h);
    if (!n || n >= sizeof(t->host))
        return -1;
    memcpy(t->host, h, n);
    t->host[n] = '\0';
    end += *end == ']';
    if (*end == ':' && sscanf(end + 1, "%5u", &port) != 1)
        return -1;
    snprintf(t->port, sizeof(t->port), "%u", port);
    snprintf(t->url, sizeof(t->url), "%.299s", url);
    return 0;
}

int cm_remote_open(struct cm_remote *t, const char *url, const char *conf_dir)
{
    char err[1024];
    unsigned port;
    const char *env = getenv("CARGOMAN_ADMIN_TOKEN");

    if (url && parse_url(t, url)) {
        fprintf(stderr, "cargoman: -u %s: give the gateway as http://HOST:PORT\n", url);
        return 1;
    }
    if (!url || conf_dir) {
        if (cm_config_load(&t->cfg, conf_dir ? conf_dir : CM_CONF_DIR, err, sizeof(err)) != CM_OK) {
            fprintf(stderr,
                    "cargoman: %s\n(name the gateway with -u http://HOST:PORT, or its "
                    "configuration with -c CONF_DIR)\n",
                    err);
            return 1;
        }
    }
    if (!url) {
        if (cm_config_split_listen(t->cfg->listen, t->host, sizeof(t->host), &port) != CM_OK) {
            fprintf(stderr, "cargoman: server.listen \"%s\" is not HOST:PORT\n", t->cfg->listen);
            return 1;
        }
        /* A wildcard listen answers on loopback too. */
        if (!strcmp(t->host, "0.0.0.0"))
            snprintf(t->host, sizeof(t->host), "127.0.0.1");
        else if (!strcmp(t->host, "::"))
            snprintf(t->host, sizeof(t->host), "::1");
        snprintf(t->port, sizeof(t->port), "%u", port);
        snprintf(t->url, sizeof(t->url), strchr(t->host, ':') ? "http://[%s]:%s" : "http://%s:%s",
                 t->host, t->port);
    }
    t->token = env && *env ? env : t->cfg ? t->cfg->admin_token : NULL;
    return 0;
}

static int connect_to(const struct cm_remote *t, char *why, size_t len)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    int fd = -1, rc = getaddrinfo(t->host, t->port, &hints, &res);

    if (rc) {
        snprintf(why, len, "%s", gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
            snprintf(why, len, "%s", strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Everything the server sends until it closes (we ask it to), NUL-terminated. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 8192;
    char *buf = malloc(cap);
    ssize_t r;

    *len = 0;
    while (buf) {
        if (*len + 1 >= cap) {
            char *p = cap < RESPONSE_MAX ? realloc(buf, cap *= 2) : NULL;
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
        }
        r = recv(fd, buf + *len, cap - *len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        *len += (size_t)r;
    }
    if (buf)
        buf[*len] = '\0';
    return buf;
}

void cm_remote_request(const struct cm_remote *t, const char *method, const char *path,
                       struct cm_remote_reply *out, char *why, size_t whylen)
{
    char head[2048];
    size_t len;
    char *raw, *body;
    int fd = connect_to(t, why, whylen), n;

    out->code = 0;
    out->body = NULL;
    if (fd < 0)
        return;
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: %s:%s\r\n%s%s%sContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n",
                 method, path, t->host, t->port, t->token ? "Authorization: Bearer " : "",
                 t->token ? t->token : "", t->token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head) || send_all(fd, head, (size_t)n)) {
        snprintf(why, whylen, "the request could not be sent");
        close(fd);
        return;
    }
    raw = read_all(fd, &len);
    close(fd);
    if (!raw || sscanf(raw, "HTTP/1.%*d %d", &out->code) != 1 ||
        !(body = strstr(raw, "\r\n\r\n"))) {
        snprintf(why, whylen, "the answer is not HTTP");
        out->code = 0;
        free(raw);
        return;
    }
    memmove(raw, body + 4, len - (size_t)(body + 4 - raw) + 1);
    out->body = raw;
}

void cm_remote_error(const struct cm_remote_reply *r, char *out, size_t len)
{
    json_t *o = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(o, "error"));

    snprintf(out, len, "%s", msg ? msg : r->body ? r->body : "no answer");
    json_decref(o);
}

int cm_remote_fail(const struct cm_remote *t, struct cm_remote_reply *r, const char *why)
{
    char msg[1024];

    if (!r->code) {
        fprintf(stderr, "cargoman: cannot reach the gateway at %s: is it running? (%s)\n", t->url,
                why);
    } else if (r->code == 401 || r->code == 403) {
        fprintf(stderr,
                "cargoman: the gateway at %s refused the operator route (%d): set "
                "server.admin_token in the configuration read with -c, or "
                "CARGOMAN_ADMIN_TOKEN, to the gateway's admin token\n",
                t->url, r->code);
    } else {
        cm_remote_error(r, msg, sizeof(msg));
        fprintf(stderr, "cargoman: %s (%d)\n", msg, r->code);
    }
    free(r->body);
    r->body = NULL;
    return 1;
}

int cm_remote_call(const struct cm_remote *t, const char *method, const char *path, int want,
                   struct cm_remote_reply *r)
{
    char why[256] = "";

    cm_remote_request(t, method, path, r, why, sizeof(why));
    return r->code == want ? 0 : cm_remote_fail(t, r, why);
}

/* POST path and report; 0 on 202, 1 else. */
static int act(const struct cm_remote *t, const char *path, const char *what)
{
    struct cm_remote_reply r;
    json_t *o;

    if (cm_remote_call(t, "POST", path, 202, &r))
        return 1;
    o = json_loads(r.body, 0, NULL);
    json_t *recs = json_object_get(o, "record_ids");
    json_int_t rec = json_integer_value(json_is_array(recs) ? json_array_get(recs, 0)
                                                            : json_object_get(o, "record_id"));
    const char *note = json_string_value(json_object_get(o, "note"));
    const char *status = json_string_value(json_object_get(o, "status"));
    if (status && !strcmp(status, "already_queued"))
        printf("%s: queued already (the same sync of every ref is waiting or running)\n", what);
    else
        printf("%s: queued as delivery record %lld%s%s\n", what, (long long)rec, note ? "; " : "",
               note ? note : "");
    json_decref(o);
    free(r.body);
    return 0;
}

int cm_remote_repo_path(char *out, size_t len, const char *endpoint, const char *repository,
                        const char *action)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
    size_t n = 0;
    const char *parts[] = {endpoint, repository};

    n = (size_t)snprintf(out, len, "/api/repositories");
    for (int k = 0; k < 2; k++) {
        out[n++] = '/';
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
            if (n + 4 >= len)
                return -1;
            if ((k && *p == '/') || (*p && strchr(safe, *p)))
                out[n++] = (char)*p;
            else
                n += (size_t)snprintf(out + n, len - n, "%%%02X", *p);
        }
    }
    if (action && n + 1 + strlen(action) >= len)
        return -1;
    snprintf(out + n, len - n, "%s%s", action ? "/" : "", action ? action : "");
    return 0;
}

static const char replay_usage[] =
    "usage: cargoman replay [-c CONF_DIR | -u URL] RECORD_ID\n"
    "  Ask the running gateway to sync a delivery again (POST /api/deliveries/<id>/replay):\n"
    "  its kept payload goes through intake again, or, once expired, its repository is resynced.\n"
    "  -c  configuration directory whose server.listen and server.admin_token are used\n"
    "      (default " CM_CONF_DIR ")\n"
    "  -u  the gateway as http://HOST:PORT instead\n"
    "  The admin token is CARGOMAN_ADMIN_TOKEN when set, else server.admin_token.\n";

static const char resync_usage[] =
    "usage: cargoman resync [-c CONF_DIR | -u URL] (ENDPOINT REPOSITORY | --all)\n"
    "  Ask the running gateway to fetch every ref of a mirror and run every sync plugin on it\n"
    "  again (POST /api/repositories/<endpoint>/<repository>/resync); --all: every mirror\n"
    "  GET /api/repositories lists. -c, -u and the token as for `cargoman replay`.\n";

int cm_remote_options(int argc, char **argv, const char *usage, const char **conf, const char **url,
                      int *all, const char **from)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"all", no_argument, NULL, 'a'},
                                             {"from", required_argument, NULL, 'f'},
                                             {0, 0, 0, 0}};
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:u:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': *conf = optarg; break;
        case 'u': *url = optarg; break;
        case 'a':
            if (!all)
                goto bad;
            *all = 1;
            break;
        case 'f':
            if (!from)
                goto bad;
            *from = optarg;
            break;
        case 'h': fputs(usage, stdout); return 3;
        default: goto bad;
        }
    }
    return 0;
bad:
    fputs(usage, stderr);
    return 2;
}

int cm_cli_replay(int argc, char **argv)
{
    const char *conf = NULL, *url = NULL;
    struct cm_remote t = {0};
    char path[128], what[64], *end;
    unsigned long long rec;
    int rc = cm_remote_options(argc, argv, replay_usage, &conf, &url, NULL, NULL);

    if (rc)
        return rc == 3 ? 0 : rc;
    if (optind + 1 != argc) {
        fputs(replay_usage, stderr);
        return 2;
    }
    rec = strtoull(argv[optind], &end, 10);
    if (*end || !rec || argv[optind][0] == '-') {
        fprintf(stderr,
                "cargoman: \"%s\" is not a record_id: give the whole number GET "
                "/api/deliveries lists as record_id\n",
                argv[optind]);
        return 2;
    }
    if (cm_remote_open(&t, url, conf))
        return 1;
    snprintf(path, sizeof(path), "/api/deliveries/%llu/replay", rec);
    snprintf(what, sizeof(what), "replay of record %llu", rec);
    rc = act(&t, path, what);
    cm_config_free(t.cfg);
    return rc;
}

static int resync_one(const struct cm_remote *t, const char *endpoint, const char *repository)
{
    char path[4096], what[1200];

    if (cm_remote_repo_path(path, sizeof(path), endpoint, repository, "resync")) {
        fprintf(stderr, "cargoman: %s/%s: the name is too long\n", endpoint, repository);
        return 1;
    }
    snprintf(what, sizeof(what), "resync of %.128s/%.1024s", endpoint, repository);
    return act(t, path, what);
}

/* Every mirror GET /api/repositories lists, one resync each; 1 when any failed. */
static int resync_all(const struct cm_remote *t)
{
    struct cm_remote_reply r;
    json_t *o, *v;
    size_t i;
    int failed = 0;

    if (cm_remote_call(t, "GET", "/api/repositories", 200, &r))
        return 1;
    o = json_loads(r.body, 0, NULL);
    free(r.body);
    json_array_foreach (json_object_get(o, "repositories"), i, v) {
        const char *ep = json_string_value(json_object_get(v, "endpoint"));
        const char *repo = json_string_value(json_object_get(v, "repository"));
        /* Never synced (a first clone that failed, or an import still fetching): no mirror. */
        if (ep && repo && !json_is_null(json_object_get(v, "last_sync")))
            failed |= resync_one(t, ep, repo);
    }
    if (!json_array_size(json_object_get(o, "repositories")))
        printf("no mirror to resync\n");
    json_decref(o);
    return failed;
}

int cm_cli_resync(int argc, char **argv)
{
    const char *conf = NULL, *url = NULL;
    struct cm_remote t = {0};
    int all = 0, rc = cm_remote_options(argc, argv, resync_usage, &conf, &url, &all, NULL);

    if (rc)
        return rc == 3 ? 0 : rc;
    if (all ? optind != argc : optind + 2 != argc) {
        fputs(resync_usage, stderr);
        return 2;
    }
    if (cm_remote_open(&t, url, conf))
        return 1;
    rc = all ? resync_all(&t) : resync_one(&t, argv[optind], argv[optind + 1]);
    cm_config_free(t.cfg);
    return rc;
}
